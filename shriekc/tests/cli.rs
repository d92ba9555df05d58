//! The verbs as a user runs them: exit codes, what lands on stdout and
//! stderr, and the JSON shapes scripts rely on.

use std::path::PathBuf;
use std::process::Output;

use shriek_testkit::{examples, text};

fn shriekc(args: &[&str]) -> Output {
    shriek_testkit::run(env!("CARGO_BIN_EXE_shriekc"), args)
}

/// A policy file in a fresh temporary folder.
fn temp_policy(name: &str, body: &str) -> PathBuf {
    shriek_testkit::temp_file(&format!("{name}.shr"), body)
}

fn snapshot(name: &str, value: String) {
    shriek_testkit::snapshot!("cli", name, value);
}

#[test]
fn every_example_checks_clean() {
    for file in examples() {
        let out = shriekc(&["check", &file]);
        assert_eq!(out.status.code(), Some(0), "{file}: {}", text(&out.stderr));
    }
}

#[test]
fn every_example_is_formatted() {
    // core.shr stays byte-identical to the contract's text, aligned comments and all.
    for file in examples().into_iter().filter(|f| f != "examples/core.shr") {
        let out = shriekc(&["fmt", "--check", &file]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{file} is not in canonical layout: {}",
            text(&out.stderr)
        );
    }
}

const SHADOWED: &str = "table filter {
  chain input hook input policy drop {
    tcp dport 1-1000 drop
    tcp dport 1001-2000 drop
    tcp dport 500-1500 accept
    udp dport 53 accept
    udp dport 53 accept
  }
}
";

#[test]
fn check_exit_codes() {
    let shadowed = temp_policy("shadowed", SHADOWED);
    let out = shriekc(&["check", shadowed.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "error-level findings exit 1");

    let redundant_only =
        temp_policy("redundant", "table t {\n  chain c hook input {\n    udp dport 53 accept\n    udp dport 53 accept\n  }\n}\n");
    let path = redundant_only.to_str().unwrap();
    assert_eq!(shriekc(&["check", path]).status.code(), Some(0), "warnings alone pass");
    assert_eq!(shriekc(&["check", "--deny", "warnings", path]).status.code(), Some(1));

    let broken = temp_policy(
        "broken",
        "table t {\n  chain c hook inptu {\n    tcp dport 22 acept\n  }\n}\n",
    );
    assert_eq!(shriekc(&["check", broken.to_str().unwrap()]).status.code(), Some(2));
    assert_eq!(shriekc(&["check", "no/such/file.shr"]).status.code(), Some(2));
    assert_eq!(
        shriekc(&["check", "--format", "yaml", "x.shr"]).status.code(),
        Some(2),
        "usage error"
    );
}

#[test]
fn check_json_contract() {
    let shadowed = temp_policy("json", SHADOWED);
    let out = shriekc(&["check", "--format", "json", shadowed.to_str().unwrap()]);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("stdout is JSON");
    let first = &doc["findings"][0];
    for key in [
        "code",
        "name",
        "severity",
        "message",
        "file",
        "line",
        "column",
        "end_line",
        "end_column",
        "related",
    ] {
        assert!(first.get(key).is_some(), "finding lacks `{key}`: {first}");
    }
    assert_eq!(first["name"], "shadowed-rule");
    assert_eq!((first["line"].as_u64(), first["column"].as_u64()), (Some(5), Some(5)));
    assert_eq!(first["related"].as_array().map(Vec::len), Some(2));
    assert_eq!(doc["summary"], serde_json::json!({"errors": 1, "warnings": 1}));
}

#[test]
fn check_text_and_github() {
    let shadowed = temp_policy("text", SHADOWED);
    let path = shadowed.to_str().unwrap();
    let out = shriekc(&["check", path]);
    let dir = shadowed.parent().unwrap().to_string_lossy().into_owned();
    snapshot("check_text", text(&out.stderr).replace(&dir, "$TMP") + &text(&out.stdout));
    let out = shriekc(&["check", "--format", "github", path]);
    snapshot("check_github", text(&out.stdout).replace(&dir, "$TMP"));
}

/// An `analysis-budget` finding is information: it is printed, and the exit
/// code stays 0, even with `--deny warnings`.
#[test]
fn analysis_budget_never_changes_the_exit_code() {
    let policy = temp_policy("budget", &shriek_testkit::budget::covered_past_budget());
    let path = policy.to_str().unwrap();
    for args in [&["check", path][..], &["check", "--deny", "warnings", path]] {
        let out = shriekc(args);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        assert!(text(&out.stderr).contains("E0306"), "{}", text(&out.stderr));
    }
}

#[test]
fn explain_knows_every_finding() {
    for name in shriek_compiler::analysis::codes::CATALOGUE.codes.iter().map(|c| c.name) {
        let out = shriekc(&["explain", name]);
        assert_eq!(out.status.code(), Some(0), "{name}");
        assert!(text(&out.stdout).contains(name), "explain {name} names it");
    }
    let out = shriekc(&["explain", "shadowed-rul"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("did you mean `shadowed-rule`?"), "{}", text(&out.stderr));
}

#[test]
fn fmt_rewrites_and_diffs() {
    let messy = temp_policy(
        "messy",
        "table t{\nchain c hook input policy drop{\ntcp dport {80,443} accept # web\n}\n}\n",
    );
    let path = messy.to_str().unwrap();
    assert_eq!(shriekc(&["fmt", "--check", path]).status.code(), Some(1));
    let diff = shriekc(&["fmt", "--diff", path]);
    let dir = messy.parent().unwrap().to_string_lossy().into_owned();
    // Headers are git's `a/PATH`, the path without its leading `/`.
    snapshot("fmt_diff", text(&diff.stdout).replace(dir.trim_start_matches('/'), "$TMP"));
    assert_eq!(shriekc(&["fmt", path]).status.code(), Some(0));
    assert_eq!(
        shriekc(&["fmt", "--check", path]).status.code(),
        Some(0),
        "fmt then fmt --check passes"
    );
}

/// `fmt -` formats standard input to standard output; `--check` and
/// `--diff` report on it as on a file; `-` twice is refused.
#[test]
fn fmt_reads_standard_input() {
    let fmt = |args: &[&str], input: &str| {
        let mut cmd = shriek_testkit::command(env!("CARGO_BIN_EXE_shriekc"));
        shriek_testkit::output_with_stdin(cmd.arg("fmt").args(args), input.as_bytes())
    };
    let messy =
        "table t{\nchain c hook input policy drop{\ntcp dport {80,443} accept # web\n}\n}\n";
    let out = fmt(&["-"], messy);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let tidy = text(&out.stdout);
    assert_eq!(
        tidy,
        "table t {\n  chain c hook input policy drop {\n    tcp dport { 80, 443 } accept  # web\n  }\n}\n"
    );
    let again = fmt(&["-"], &tidy);
    assert_eq!(text(&again.stdout), tidy, "formatted input comes back the same");
    let check = fmt(&["--check", "-"], messy);
    assert_eq!(check.status.code(), Some(1));
    assert_eq!(text(&check.stdout), "");
    assert_eq!(text(&check.stderr), "would reformat <stdin>\n");
    assert_eq!(fmt(&["--check", "-"], &tidy).status.code(), Some(0));
    let diff = fmt(&["--diff", "-"], messy);
    assert!(
        text(&diff.stdout).starts_with("--- a/<stdin>\n+++ b/<stdin>\n"),
        "{}",
        text(&diff.stdout)
    );
    let broken = fmt(&["-"], "table t {\n  chain c {\n    tcp flag syn accept\n  }\n}\n");
    assert_eq!(broken.status.code(), Some(2));
    assert_eq!(text(&broken.stdout), "", "nothing is printed for input that does not parse");
    let twice = fmt(&["-", "-"], messy);
    assert_eq!(twice.status.code(), Some(2));
    assert!(text(&twice.stderr).contains("given more than once"), "{}", text(&twice.stderr));
}

/// `check -` reads standard input once: `-` twice is refused, as by
/// `fmt`, not read again as an empty second policy ("checked 2 files").
#[test]
fn check_refuses_standard_input_twice() {
    let mut cmd = shriek_testkit::command(env!("CARGO_BIN_EXE_shriekc"));
    let policy =
        b"table t {\n  chain c hook input policy drop {\n    tcp dport 22 accept\n  }\n}\n";
    let twice = shriek_testkit::output_with_stdin(cmd.args(["check", "-", "-"]), policy);
    assert_eq!(twice.status.code(), Some(2));
    assert_eq!(
        text(&twice.stderr),
        "error: `-` (standard input) is given more than once; it can be read only once\n"
    );
    assert_eq!(text(&twice.stdout), "");
}

#[test]
fn compile_and_trace() {
    let out = shriekc(&["compile", "--strategy", "sequential", "examples/redis-counters.shr"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("counter name \"redis_in\""));
    let out = shriekc(&["compile", "--emit", "json", "examples/core.shr"]);
    let doc: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("compile --emit json is JSON");
    assert!(doc["nftables"].is_array());

    let packet = "tcp 203.0.113.9:40000 -> 10.0.0.2:6379 iif eth0 ct new";
    let ir = shriekc(&["trace", "examples/redis-counters.shr", packet]);
    assert_eq!(ir.status.code(), Some(0), "{}", text(&ir.stderr));
    snapshot("trace_redis", text(&ir.stdout));
    let bad =
        shriekc(&["trace", "examples/redis-counters.shr", "tcp 10.0.0.1:99999 -> 10.0.0.2:22"]);
    assert_eq!(bad.status.code(), Some(2));
}
