//! What a user sees when the machine, not the policy, is the problem: a
//! namespace that does not exist, no root, root without CAP_NET_ADMIN, a
//! window of zero seconds. Each is one sentence and exit 2.
//!
//! The privilege tests need root to drop it (`setpriv` in a namespace of
//! their own); under `CI=true` they must run.

use std::process::{Command, Output};

use shriek_testkit::{has_tool, root, text, Netns};

const BIN: &str = env!("CARGO_BIN_EXE_shriekc");

fn shriekc(args: &[&str]) -> Output {
    shriek_testkit::run(BIN, args)
}

/// Exit code and standard error of one run, as a transcript line.
fn transcript(args: &[&str], out: &Output) -> String {
    format!(
        "$ shriekc {}\nexit {}\n{}\n",
        args.join(" "),
        out.status.code().unwrap_or(-1),
        text(&out.stderr)
    )
}

fn netns_exists(name: &str) -> bool {
    std::path::Path::new("/run/netns").join(name).exists()
}

#[test]
fn a_missing_namespace_is_named_and_never_created() {
    let name = format!("shriek-test-typo-{}", std::process::id());
    let file = "examples/redis-counters.shr";
    let mut all = String::new();
    for verb in [
        &["apply", "--netns", &name, file][..],
        &["apply", "--dry-run", "--netns", &name, file],
        &["plan", "--netns", &name, file],
        &["counters", "--netns", &name, file],
    ] {
        let out = shriekc(verb);
        assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
        assert!(!netns_exists(&name), "{verb:?} made the namespace");
        all += &transcript(verb, &out).replace(&name, "$NS");
    }
    // Under --detailed-exitcode 2 means "changes", so an error is 1.
    let out = shriekc(&["plan", "--detailed-exitcode", "--netns", &name, file]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    shriek_testkit::snapshot!("cli", "environment_missing_netns", all);
}

#[test]
fn create_netns_makes_the_namespace_for_every_verb() {
    if !shriek_testkit::skip_unless(shriek_testkit::is_root(), "create-netns", "needs root") {
        return;
    }
    let file = "examples/redis-counters.shr";
    for verb in ["plan", "counters", "apply"] {
        let name = format!("shriek-test-create-{verb}-{}", std::process::id());
        // Deleted on drop, even when an assertion below fails.
        let ns = Netns { name: name.clone() };
        assert!(!netns_exists(&name));
        let out = shriekc(&[verb, "--create-netns", "--netns", &name, file]);
        assert!(netns_exists(&name), "{verb} --create-netns made no namespace");
        let expected = if verb == "counters" { 1 } else { 0 };
        assert_eq!(out.status.code(), Some(expected), "{verb}: {}", text(&out.stderr));
        if verb == "apply" {
            assert!(ns.nft(&["list", "tables"]).contains("inet filter"));
        }
    }
}

#[test]
fn a_zero_second_window_is_refused() {
    let out = shriekc(&["apply", "--confirm", "0", "examples/core.shr"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr)
            .contains("a confirm window of 0 seconds would roll back at once; give at least 1"),
        "{}",
        text(&out.stderr)
    );
}

/// A window past any clock (`u64::MAX` seconds) made the guard's deadline
/// overflow: it panicked once armed, and the policy it guarded stayed in
/// without a confirmation. Refused before anything runs (a namespace that
/// does not exist is named, so nothing could change anyway).
#[test]
fn a_window_longer_than_a_day_is_refused() {
    for seconds in ["86401", "18446744073709551615"] {
        let out = shriekc(&[
            "apply",
            "--confirm",
            seconds,
            "--netns",
            "shriek-test-no-such-netns",
            "examples/core.shr",
        ]);
        assert_eq!(out.status.code(), Some(2));
        assert!(
            text(&out.stderr).contains("a confirm window is at most 86400 seconds (a day)"),
            "{seconds}: {}",
            text(&out.stderr)
        );
    }
}

/// Runs shriekc inside `ns` under `setpriv` with `drop` (its arguments).
fn without(ns: &Netns, drop: &[&str], args: &[&str]) -> Output {
    Command::new("ip")
        .args(["netns", "exec", &ns.name, "setpriv"])
        .args(drop)
        .arg(BIN)
        .args(args)
        .current_dir(root())
        .env("NO_COLOR", "1")
        .env("SHRIEKC_RUN_DIR", shriek_testkit::run_dir())
        .output()
        .expect("setpriv runs")
}

#[test]
fn without_privileges_each_verb_says_what_needs_root() {
    let Some(ns) = Netns::new("priv") else { return };
    if !has_tool("setpriv") {
        return;
    }
    let nobody = [
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        "--inh-caps=-all",
        "--bounding-set=-all",
    ];
    let root_without = ["--inh-caps=-net_admin", "--bounding-set=-net_admin"];
    let file = "examples/redis-counters.shr";
    let verbs: [&[&str]; 5] = [
        &["apply", file],
        &["apply", "--dry-run", file],
        &["plan", file],
        &["counters", file],
        &["counters", "--reset", file],
    ];
    let mut all = String::new();
    for (who, drop) in [("nobody", &nobody[..]), ("root without CAP_NET_ADMIN", &root_without)] {
        all += &format!("# as {who}\n");
        for args in verbs {
            let out = without(&ns, drop, args);
            assert_eq!(out.status.code(), Some(2), "{who} {args:?}: {}", text(&out.stderr));
            assert_eq!(text(&out.stderr).lines().count(), 1, "one sentence: {}", text(&out.stderr));
            all += &transcript(args, &out);
        }
    }
    assert_eq!(ns.nft(&["list", "ruleset"]), "", "nothing was applied");
    shriek_testkit::snapshot!("cli", "environment_privileges", all);
}
