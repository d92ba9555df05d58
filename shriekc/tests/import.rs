//! `shriekc import` as a user runs it: the policy on stdout, the warnings
//! and summary on stderr, and the exit codes (0 all translated, 1 some rules
//! left out, 2 unreadable input).

use std::process::Output;
use std::sync::atomic::{AtomicU32, Ordering};

use shriek_testkit::text;

fn shriekc(args: &[&str]) -> Output {
    shriek_testkit::run(env!("CARGO_BIN_EXE_shriekc"), args)
}

fn shriekc_stdin(args: &[&str], input: &[u8]) -> Output {
    let mut cmd = shriek_testkit::command(env!("CARGO_BIN_EXE_shriekc"));
    shriek_testkit::output_with_stdin(cmd.args(args), input)
}

/// What a user sees: exit code, standard output, standard error.
fn seen(out: &Output) -> String {
    format!(
        "--- EXIT {} ---\n--- STDOUT ---\n{}--- STDERR ---\n{}",
        out.status.code().unwrap_or(-1),
        text(&out.stdout),
        text(&out.stderr)
    )
}

fn snapshot(name: &str, value: String) {
    shriek_testkit::snapshot!("import", name, value);
}

/// The imported policy resolves: `check` finds at most findings, never
/// invalid input.
fn assert_resolves(policy: &[u8]) {
    // A name of its own per call: the tests of this file run at once.
    static N: AtomicU32 = AtomicU32::new(0);
    let name = format!("imported-{}.shr", N.fetch_add(1, Ordering::Relaxed));
    let path = shriek_testkit::temp_file(&name, &text(policy));
    let out = shriekc(&["check", path.to_str().expect("utf-8 path")]);
    assert_ne!(
        out.status.code(),
        Some(2),
        "the imported policy is invalid:\n{}",
        text(&out.stderr)
    );
}

#[test]
fn realistic_iptables_ruleset() {
    let out = shriekc(&["import", "shriekc/tests/import/server.rules"]);
    assert_eq!(out.status.code(), Some(1), "rules were left out: {}", text(&out.stderr));
    assert_resolves(&out.stdout);
    snapshot("iptables_server", seen(&out));
}

/// The same router's nftables ruleset, as `nft list ruleset` and as `nft -j
/// list ruleset` print it: the two imports say the same.
#[test]
fn realistic_nft_ruleset() {
    let listed = shriekc(&["import", "shriekc/tests/import/router.nft"]);
    assert_eq!(listed.status.code(), Some(1), "rules were left out: {}", text(&listed.stderr));
    assert_resolves(&listed.stdout);
    snapshot("nft_router", seen(&listed));
    let json = shriekc(&["import", "shriekc/tests/import/router.json"]);
    assert_eq!(json.status.code(), Some(1), "rules were left out: {}", text(&json.stderr));
    assert_resolves(&json.stdout);
    snapshot("nft_json_router", seen(&json));
    let rules = |out: &Output| -> Vec<String> {
        text(&out.stdout)
            .lines()
            .filter(|l| !l.trim_start().starts_with('#'))
            .map(str::to_string)
            .collect()
    };
    assert_eq!(rules(&listed), rules(&json), "text and JSON import to the same rules");
}

#[test]
fn a_clean_import_exits_0_and_reads_standard_input() {
    let rules = "*filter\n:INPUT DROP [0:0]\n-A INPUT -i lo -j ACCEPT\n-A INPUT -p tcp --dport 22 -j ACCEPT\nCOMMIT\n";
    let out = shriekc_stdin(&["import", "-"], rules.as_bytes());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_resolves(&out.stdout);
    snapshot("clean_stdin", seen(&out));
}

#[test]
fn from_names_the_format() {
    let rules = "*filter\n:INPUT ACCEPT [0:0]\nCOMMIT\n";
    let out = shriekc_stdin(&["import", "--from", "iptables-save", "-"], rules.as_bytes());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}

#[test]
fn unreadable_input_exits_2() {
    let missing = shriekc(&["import", "no/such/rules.v4"]);
    assert_eq!(missing.status.code(), Some(2));
    let binary = shriekc_stdin(&["import", "-"], b"*filter\n\xff\xfe\n");
    assert_eq!(binary.status.code(), Some(2));
    let unknown = shriekc_stdin(&["import", "-"], b"hello world\n");
    assert_eq!(unknown.status.code(), Some(2));
    let broken = shriekc_stdin(
        &["import", "-"],
        b"*filter\n:INPUT ACCEPT [0:0]\n-A OTHER -j DROP\nCOMMIT\n",
    );
    assert_eq!(broken.status.code(), Some(2));
    snapshot(
        "unreadable",
        [missing, binary, unknown, broken].iter().map(seen).collect::<Vec<_>>().join("\n"),
    );
}

#[test]
fn file_and_live_exclude_each_other() {
    let out = shriekc(&["import", "--live", "rules.v4"]);
    assert_eq!(out.status.code(), Some(2), "a usage error: {}", text(&out.stderr));
}

/// `--netns` names the namespace `--live` reads; one that does not exist is
/// an error naming it, and `--netns` without `--live` is a usage error.
#[test]
fn live_netns_must_exist() {
    let out = shriekc(&["import", "--live", "--netns", "shriek-import-no-such-ns"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stderr),
        "error: network namespace `shriek-import-no-such-ns` does not exist\n  help: check the name with `ip netns list`\n"
    );
    assert!(out.stdout.is_empty(), "nothing printed: {}", text(&out.stdout));
    let out = shriekc(&["import", "--netns", "x", "rules.v4"]);
    assert_eq!(out.status.code(), Some(2), "a usage error: {}", text(&out.stderr));
}
