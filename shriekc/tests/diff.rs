//! `shriekc diff` as a user runs it: exit codes, diagnostics for either
//! side, `REV:PATH` read from a real git repository (includes too), and
//! output that does not depend on the run or on the order of files on disk.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use shriek_testkit::text;

const BIN: &str = env!("CARGO_BIN_EXE_shriekc");

/// `shriekc ARGS` run in `dir`.
fn shriekc_in(dir: &Path, args: &[&str]) -> Output {
    shriek_testkit::command(BIN).current_dir(dir).args(args).output().expect("shriekc runs")
}

fn snapshot(name: &str, value: String) {
    shriek_testkit::snapshot!("cli", name, value);
}

/// A fresh folder of this test's own, with `files` written into it in order.
fn folder(tag: &str, files: &[(&str, &str)]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("shriek-diff-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    for (name, body) in files {
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().expect("a file has a folder")).expect("mkdir");
        std::fs::write(path, body).expect("write");
    }
    dir
}

const OLD: &str = "include \"services.shr\"

table filter {
  chain input hook input policy drop {
    ct state established,related accept
    tcp dport $web accept
    tcp dport 22 counter ssh accept
  }
}
";

const SERVICES: &str = "define web = { 80, 443 }\n";

#[test]
fn exit_codes() {
    let counted = OLD.replace("counter ssh accept", "counter ssh_in accept");
    let opened = OLD.replace("tcp dport 22 counter", "tcp dport { 22, 2222 } counter");
    let broken = OLD.replace("policy drop", "policy dorp");
    let dir = folder(
        "exit",
        &[
            ("old.shr", OLD),
            ("services.shr", SERVICES),
            ("counted.shr", &counted),
            ("opened.shr", &opened),
            ("broken.shr", &broken),
        ],
    );
    let code = |args: &[&str]| shriekc_in(&dir, args).status.code();
    assert_eq!(code(&["diff", "old.shr", "old.shr"]), Some(0));
    assert_eq!(code(&["diff", "--exit-code", "old.shr", "old.shr"]), Some(0));
    assert_eq!(code(&["diff", "old.shr", "opened.shr"]), Some(0), "a change alone exits 0");
    assert_eq!(code(&["diff", "--exit-code", "old.shr", "opened.shr"]), Some(1));
    assert_eq!(
        code(&["diff", "--exit-code", "old.shr", "counted.shr"]),
        Some(0),
        "counting is not traffic"
    );
    for (old, new) in [("broken.shr", "old.shr"), ("old.shr", "broken.shr")] {
        let out = shriekc_in(&dir, &["diff", "--exit-code", old, new]);
        assert_eq!(out.status.code(), Some(2), "{old} -> {new}");
        let err = text(&out.stderr);
        assert!(err.contains("broken.shr:4:"), "the diagnostic names its place: {err}");
        assert!(out.stdout.is_empty(), "no diff for invalid input");
    }
    assert_eq!(code(&["diff", "old.shr", "missing.shr"]), Some(2));
    let dispatch = shriekc_in(&dir, &["diff", "--strategy", "dispatch", "old.shr", "opened.shr"]);
    assert_eq!(dispatch.status.code(), Some(0), "{}", text(&dispatch.stderr));
    assert!(text(&dispatch.stdout).contains("nftables: "), "{}", text(&dispatch.stdout));
    let out = shriekc_in(&dir, &["diff", "--format", "json", "old.shr", "opened.shr"]);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(doc["summary"]["traffic_changes"], true);
    assert_eq!(
        doc["semantic"]["hooks"][0]["traffic"][0]["packets"][0],
        "tcp dport 2222 ct state != established,related"
    );
}

/// The same policy written to disk in two different orders, in two
/// folders, diffs to the same bytes, run after run.
#[test]
fn output_is_byte_identical_across_runs_and_file_order() {
    let new = OLD
        .replace("{ 80, 443 }", "{ 80, 443, 8443 }")
        .replace("tcp dport 22", "saddr 10.0.0.0/8 tcp dport 22");
    let files = [
        ("a/policy.shr", OLD),
        ("a/services.shr", SERVICES),
        ("b/policy.shr", new.as_str()),
        ("b/services.shr", "define web = { 80, 443, 8443 }\n"),
    ];
    let mut reversed = files;
    reversed.reverse();
    let one = folder("order1", &files);
    let two = folder("order2", &reversed);
    for format in ["text", "json", "markdown"] {
        let run = |dir: &Path| {
            let out =
                shriekc_in(dir, &["diff", "--format", format, "a/policy.shr", "b/policy.shr"]);
            assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
            out.stdout
        };
        let first = run(&one);
        assert_eq!(first, run(&one), "{format}: two runs differ");
        assert_eq!(first, run(&two), "{format}: file order on disk changes the output");
    }
}

fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .current_dir(dir)
        .args(["-c", "user.name=shriek", "-c", "user.email=shriek@example.org"])
        .args(["-c", "commit.gpgsign=false", "-c", "init.defaultBranch=main"])
        .args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", dir)
        .output()
        .expect("git runs");
    assert!(out.status.success(), "git {args:?}: {}", text(&out.stderr));
}

/// `REV:PATH` reads the policy and its includes as committed, from the
/// repository's root or a folder inside it.
#[test]
fn rev_path_reads_a_git_repository_with_includes() {
    if !shriek_testkit::has_tool("git") {
        return;
    }
    let repo = folder("git", &[("fw/policy.shr", OLD), ("fw/services.shr", SERVICES)]);
    git(&repo, &["init", "-q"]);
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "-q", "-m", "first"]);
    // The second commit changes only the include.
    std::fs::write(repo.join("fw/services.shr"), "define web = { 443 }\n").expect("write");
    git(&repo, &["commit", "-q", "-am", "no more plain http"]);
    // The working tree goes on: ssh from one network only.
    let tree = OLD.replace("tcp dport 22", "saddr 192.0.2.0/24 tcp dport 22");
    std::fs::write(repo.join("fw/policy.shr"), &tree).expect("write");

    let out = shriekc_in(&repo, &["diff", "HEAD~1:fw/policy.shr", "HEAD:fw/policy.shr"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let committed = text(&out.stdout);
    let out =
        shriekc_in(&repo, &["diff", "--format", "markdown", "HEAD:fw/policy.shr", "fw/policy.shr"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    snapshot(
        "diff_git",
        format!(
            "{committed}--- HEAD:fw/policy.shr against the working tree ---\n{}",
            text(&out.stdout)
        ),
    );

    // From inside `fw/`, `./` is the current folder, as git reads it.
    let inside =
        shriekc_in(&repo.join("fw"), &["diff", "HEAD~1:./policy.shr", "HEAD:./policy.shr"]);
    assert_eq!(inside.status.code(), Some(0), "{}", text(&inside.stderr));
    assert!(text(&inside.stdout).contains("tcp dport 80"), "{}", text(&inside.stdout));

    // A missing file, a missing include and an unknown revision are
    // invalid input, each said plainly.
    let missing = shriekc_in(&repo, &["diff", "HEAD:fw/nope.shr", "fw/policy.shr"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(
        text(&missing.stderr).contains("cannot find `fw/nope.shr` at git revision `HEAD`"),
        "{}",
        text(&missing.stderr)
    );
    std::fs::write(repo.join("fw/policy.shr"), OLD.replace("services.shr", "gone.shr"))
        .expect("write");
    git(&repo, &["commit", "-q", "-am", "lose the include"]);
    let gone = shriekc_in(&repo, &["diff", "HEAD~1:fw/policy.shr", "HEAD:fw/policy.shr"]);
    assert_eq!(gone.status.code(), Some(2));
    let err = text(&gone.stderr);
    assert!(
        err.contains("cannot find `fw/gone.shr` at git revision `HEAD`")
            && err.contains("HEAD:fw/policy.shr:1:"),
        "{err}"
    );
    let unknown = shriekc_in(&repo, &["diff", "nosuchrev:fw/policy.shr", "fw/policy.shr"]);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(
        text(&unknown.stderr).contains("`nosuchrev` is not a git revision here"),
        "{}",
        text(&unknown.stderr)
    );
}
