//! `apply`, `plan` and `counters` as a user runs them, against the real
//! kernel inside a network namespace of the test's own.
//!
//! Under `CI=true` these tests must run; elsewhere they skip with a message
//! when not root or when namespaces cannot be made.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn shriekc(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_shriekc"))
        .args(args)
        .current_dir(root())
        .env("NO_COLOR", "1")
        .env(
            "SHRIEKC_RUN_DIR",
            std::env::temp_dir().join(format!("shriekc-run-{}", std::process::id())),
        )
        .output()
        .expect("the shriekc binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A network namespace deleted when dropped, or `None` (skip) outside CI.
struct Netns(String);

impl Netns {
    fn new(tag: &str) -> Option<Netns> {
        let name = format!("shriekc-cli-{tag}-{}", std::process::id());
        let made = Command::new("ip").args(["netns", "add", &name]).output();
        match made {
            Ok(out) if out.status.success() => Some(Netns(name)),
            other => {
                let why = match other {
                    Ok(out) => text(&out.stderr),
                    Err(e) => e.to_string(),
                };
                assert!(
                    std::env::var("CI").as_deref() != Ok("true"),
                    "CI must run kernel tests, but `ip netns add` failed: {why}"
                );
                eprintln!("skipping kernel test: cannot create a network namespace (need root and iproute2): {why}");
                None
            }
        }
    }

    fn nft(&self, args: &[&str]) -> String {
        let out = Command::new("ip")
            .args(["netns", "exec", &self.0, "nft"])
            .args(args)
            .output()
            .expect("nft runs");
        text(&out.stdout)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).output();
    }
}

fn has_nft() -> bool {
    let found = Command::new("nft").arg("--version").output().is_ok_and(|o| o.status.success());
    assert!(found || std::env::var("CI").as_deref() != Ok("true"), "CI must have nft installed");
    found
}

#[test]
fn apply_plan_and_counters_in_a_netns() {
    let Some(ns) = Netns::new("apply") else { return };
    if !has_nft() {
        return;
    }
    let file = "examples/redis-counters.shr";

    let plan = shriekc(&["plan", "--detailed-exitcode", "--netns", &ns.0, file]);
    assert_eq!(
        plan.status.code(),
        Some(2),
        "a fresh namespace needs changes: {}",
        text(&plan.stderr)
    );

    let dry = shriekc(&["apply", "--dry-run", "--netns", &ns.0, file]);
    assert_eq!(dry.status.code(), Some(0), "{}", text(&dry.stderr));
    assert_eq!(ns.nft(&["list", "ruleset"]), "", "dry run changes nothing");

    let applied = shriekc(&["apply", "--netns", &ns.0, file]);
    assert_eq!(applied.status.code(), Some(0), "{}", text(&applied.stderr));
    assert!(text(&applied.stdout).starts_with("applied in netns"), "{}", text(&applied.stdout));
    assert!(ns.nft(&["list", "table", "inet", "filter"]).contains("redis_in"));

    let plan = shriekc(&["plan", "--detailed-exitcode", "--netns", &ns.0, file]);
    assert_eq!(plan.status.code(), Some(0), "applied policy plans clean: {}", text(&plan.stdout));

    let counters = shriekc(&["counters", "--format", "json", "--netns", &ns.0, file]);
    assert_eq!(counters.status.code(), Some(0), "{}", text(&counters.stderr));
    let doc: serde_json::Value = serde_json::from_slice(&counters.stdout).expect("counters JSON");
    let names: Vec<_> =
        doc["counters"].as_array().expect("list").iter().map(|c| c["name"].clone()).collect();
    assert_eq!(names, [serde_json::json!("redis_in"), serde_json::json!("redis_out")]);
}

#[test]
fn unconfirmed_apply_rolls_back() {
    let Some(ns) = Netns::new("confirm") else { return };
    if !has_nft() {
        return;
    }
    let first = shriekc(&["apply", "--netns", &ns.0, "examples/core.shr"]);
    assert_eq!(first.status.code(), Some(0), "{}", text(&first.stderr));
    let before = ns.nft(&["list", "ruleset"]);

    let second =
        shriekc(&["apply", "--confirm", "1", "--netns", &ns.0, "examples/host-firewall.shr"]);
    assert_eq!(second.status.code(), Some(1), "an unconfirmed apply reports it rolled back");
    assert!(text(&second.stderr).contains("rolled back"), "{}", text(&second.stderr));
    assert_eq!(ns.nft(&["list", "ruleset"]), before, "the previous tables are back, byte for byte");
}

#[test]
fn kernel_refusal_names_the_rule() {
    let Some(ns) = Netns::new("refuse") else { return };
    if !has_nft() {
        return;
    }
    let mut policy = String::from("table deep {\n  chain input hook input {\n    jump c1\n  }\n");
    for i in 1..20 {
        policy.push_str(&format!("  chain c{i} {{\n    jump c{}\n  }}\n", i + 1));
    }
    policy.push_str("  chain c20 {\n    accept\n  }\n}\n");
    let dir = std::env::temp_dir().join(format!("shriekc-deep-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("deep.shr");
    std::fs::write(&path, policy).expect("write");

    let before = ns.nft(&["list", "ruleset"]);
    let out =
        shriekc(&["apply", "--strategy", "sequential", "--netns", &ns.0, path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("deep.shr"), "the error names the file: {stderr}");
    assert!(stderr.contains("16"), "the error says the kernel's limit: {stderr}");
    assert_eq!(ns.nft(&["list", "ruleset"]), before, "nothing was applied");
}
