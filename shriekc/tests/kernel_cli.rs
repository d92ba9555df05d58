//! `apply`, `plan` and `counters` as a user runs them, against the real
//! kernel inside a network namespace of the test's own.
//!
//! Under `CI=true` these tests must run; elsewhere they skip with a message
//! when not root or when namespaces cannot be made.

use std::process::Output;

use shriek_testkit::{has_tool, text, Netns};

fn shriekc(args: &[&str]) -> Output {
    shriek_testkit::run(env!("CARGO_BIN_EXE_shriekc"), args)
}

fn has_nft() -> bool {
    has_tool("nft")
}

#[test]
fn apply_plan_and_counters_in_a_netns() {
    let Some(ns) = Netns::new("apply") else { return };
    if !has_nft() {
        return;
    }
    let file = "examples/redis-counters.shr";

    let plan = shriekc(&["plan", "--detailed-exitcode", "--netns", &ns.name, file]);
    assert_eq!(
        plan.status.code(),
        Some(2),
        "a fresh namespace needs changes: {}",
        text(&plan.stderr)
    );

    let dry = shriekc(&["apply", "--dry-run", "--netns", &ns.name, file]);
    assert_eq!(dry.status.code(), Some(0), "{}", text(&dry.stderr));
    assert_eq!(ns.nft(&["list", "ruleset"]), "", "dry run changes nothing");

    let applied = shriekc(&["apply", "--netns", &ns.name, file]);
    assert_eq!(applied.status.code(), Some(0), "{}", text(&applied.stderr));
    assert!(text(&applied.stdout).starts_with("applied in netns"), "{}", text(&applied.stdout));
    assert!(ns.nft(&["list", "table", "inet", "filter"]).contains("redis_in"));

    let plan = shriekc(&["plan", "--detailed-exitcode", "--netns", &ns.name, file]);
    assert_eq!(plan.status.code(), Some(0), "applied policy plans clean: {}", text(&plan.stdout));

    let counters = shriekc(&["counters", "--format", "json", "--netns", &ns.name, file]);
    assert_eq!(counters.status.code(), Some(0), "{}", text(&counters.stderr));
    let doc: serde_json::Value = serde_json::from_slice(&counters.stdout).expect("counters JSON");
    let names: Vec<_> =
        doc["counters"].as_array().expect("list").iter().map(|c| c["name"].clone()).collect();
    assert_eq!(names, [serde_json::json!("redis_in"), serde_json::json!("redis_out")]);
}

/// A policy whose path is too long for a table's user data is named there by
/// a hash of it; `plan` and `apply` compared that hash with the path itself,
/// so the policy's own tables read as another policy's and it could not be
/// applied twice.
#[test]
fn a_policy_at_a_long_path_owns_its_tables() {
    let Some(ns) = Netns::new("longpath") else { return };
    let dir = std::env::temp_dir()
        .join(format!("shriek-longpath-{}", std::process::id()))
        .join("d".repeat(200));
    std::fs::create_dir_all(&dir).expect("a deep folder");
    let path = dir.join("p.shr");
    std::fs::write(
        &path,
        "table lp {\n  chain input hook input policy accept {\n    tcp dport 22 accept\n  }\n}\n",
    )
    .expect("write the policy");
    let file = path.display().to_string();
    for _ in 0..2 {
        let applied = shriekc(&["apply", "--netns", &ns.name, &file]);
        assert_eq!(applied.status.code(), Some(0), "{}", text(&applied.stderr));
    }
    let plan = shriekc(&["plan", "--netns", &ns.name, &file]);
    assert_eq!(text(&plan.stdout), "no changes\n", "{}", text(&plan.stderr));
    let destroyed = shriekc(&["destroy", "--netns", &ns.name, &file]);
    assert_eq!(destroyed.status.code(), Some(0), "{}", text(&destroyed.stderr));
    assert_eq!(ns.nft(&["list", "ruleset"]), "");
    let _ = std::fs::remove_dir_all(dir.parent().expect("the test's folder"));
}

#[test]
fn unconfirmed_apply_rolls_back() {
    let Some(ns) = Netns::new("confirm") else { return };
    if !has_nft() {
        return;
    }
    let first = shriekc(&["apply", "--netns", &ns.name, "examples/core.shr"]);
    assert_eq!(first.status.code(), Some(0), "{}", text(&first.stderr));
    let before = ns.nft(&["list", "ruleset"]);

    let second =
        shriekc(&["apply", "--confirm", "1", "--netns", &ns.name, "examples/host-firewall.shr"]);
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
    let path = shriek_testkit::temp_file("deep.shr", &policy);

    let before = ns.nft(&["list", "ruleset"]);
    // `check` reports the path as `chain-too-deep`; `--force` takes it to
    // the kernel, whose refusal is what this test reads.
    let out = shriekc(&[
        "apply",
        "--force",
        "--strategy",
        "sequential",
        "--netns",
        &ns.name,
        path.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("deep.shr"), "the error names the file: {stderr}");
    assert!(stderr.contains("16"), "the error says the kernel's limit: {stderr}");
    assert_eq!(ns.nft(&["list", "ruleset"]), before, "nothing was applied");
}
