//! A table with a balanced translation, saved the way people save their
//! ruleset (`nft list ruleset > /etc/nftables.conf`) and loaded at boot
//! (`nft -f`): it loads, `plan` reads it as the policy, each backend's
//! count of connections survives the save and the re-applies that make
//! its map anew, and `import` reads the saving back.
//!
//! nft 1.0.6 lists an anonymous map's element counters inside the rule
//! and cannot read that back, so the backend's map is a named one of the
//! table (`shriek_compiler::emit::nat_map`).
//!
//! Under `CI=true` this test must run; elsewhere it skips with a message
//! when not root or when namespaces cannot be made.

use std::process::Output;

use serde_json::Value;
use shriek_testkit::{python, text, Wire};

fn shriekc(args: &[&str]) -> Output {
    shriek_testkit::run(env!("CARGO_BIN_EXE_shriekc"), args)
}

/// Three backends on the host's own ports, taken in turn; a source-hash
/// translation beside it, unused, so the table holds two maps.
const POLICY: &str = "\
table lb {
  chain prerouting hook prerouting type nat priority -100 policy accept {
    daddr 10.9.0.1 tcp dport 9000 dnat to { 10.9.0.1:9001, 10.9.0.1:9002, 10.9.0.1:9003 } balance round-robin
    daddr 10.9.0.1 tcp dport 9500 dnat to { 10.9.0.1:9501, 10.9.0.1:9502 } balance source-hash
  }
}
";

/// Each backend's connections, by its `ADDR:PORT`, as `stats` counts
/// them, in order of backend.
fn connections(ns: &str, file: &str) -> Vec<(String, u64)> {
    let out = shriekc(&["stats", "--format", "json", "--netns", ns, file]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let doc: Value = serde_json::from_slice(&out.stdout).expect("stats JSON");
    doc["backends"]
        .as_array()
        .expect("backends")
        .iter()
        .map(|b| {
            let name = b["backend"].as_str().expect("backend").to_string();
            (name, b["connections"].as_u64().expect("counted"))
        })
        .collect::<std::collections::BTreeMap<_, _>>()
        .into_iter()
        .collect()
}

fn plan_says_no_changes(ns: &str, file: &str, context: &str, listing: &str) {
    let plan = shriekc(&["plan", "--detailed-exitcode", "--netns", ns, file]);
    assert_eq!(
        plan.status.code(),
        Some(0),
        "{context}: {}{}\n{listing}",
        text(&plan.stdout),
        text(&plan.stderr)
    );
}

#[test]
fn a_saved_balanced_table_loads_with_nft_and_keeps_its_counts() {
    let Some(wire) = Wire::new() else { return };
    let ns = wire.host.name.clone();
    let path = shriek_testkit::temp_file("nat_saved.shr", POLICY);
    let file = path.to_str().expect("utf-8 path");
    let applied = shriekc(&["apply", "--netns", &ns, file]);
    assert_eq!(applied.status.code(), Some(0), "{}", text(&applied.stderr));

    // Thirty new connections: nothing listens, so each is refused, but
    // the translation has picked its backend for each first.
    wire.client.sh(&format!(
        "{} -c \"import socket\nfor _ in range(30):\n  try: socket.create_connection(('10.9.0.1', 9000), timeout=2).close()\n  except OSError: pass\"",
        python()
    ));
    let each = |n: u64| -> Vec<(String, u64)> {
        let mut v: Vec<(String, u64)> =
            (9001..=9003).map(|p| (format!("10.9.0.1:{p}"), n)).collect();
        v.extend((9501..=9502).map(|p| (format!("10.9.0.1:{p}"), 0)));
        v
    };
    assert_eq!(connections(&ns, file), each(10), "{}", wire.host.nft(&["list", "ruleset"]));

    // The backup habit: saved, flushed, loaded again at "boot".
    let listing = wire.host.nft(&["list", "ruleset"]);
    assert!(listing.contains("map @nat_"), "the translations use named maps:\n{listing}");
    let saved = shriek_testkit::temp_file("nat_saved.nft", &listing);
    wire.host.sh("nft flush ruleset");
    if let Err(e) = wire.host.try_sh(&format!("nft -f {}", saved.display())) {
        panic!("nft -f refused what nft list ruleset said: {e}\n{listing}");
    }
    plan_says_no_changes(&ns, file, "after nft -f of the saving", &listing);
    assert_eq!(connections(&ns, file), each(10), "the counts are in the saving");

    // Applied unchanged, then with the two rules swapped (each rule and
    // its map made anew), then made again whole (`--replace`): each
    // backend's count is carried to the new map every time.
    let swapped = {
        let lines: Vec<&str> = POLICY.lines().collect();
        let mut v = lines.clone();
        v.swap(2, 3);
        v.join("\n") + "\n"
    };
    for (what, policy, extra) in [
        ("unchanged", POLICY.to_string(), None),
        ("rules swapped", swapped, None),
        ("--replace", POLICY.to_string(), Some("--replace")),
    ] {
        std::fs::write(&path, &policy).expect("policy written");
        let mut args = vec!["apply", "--netns", &ns];
        args.extend(extra);
        args.push(file);
        let applied = shriekc(&args);
        assert_eq!(applied.status.code(), Some(0), "{what}: {}", text(&applied.stderr));
        let now = wire.host.nft(&["list", "ruleset"]);
        assert_eq!(now.matches("\tmap nat_").count(), 2, "{what}: one map per rule:\n{now}");
        assert_eq!(connections(&ns, file), each(10), "{what}: carried over\n{now}");
        plan_says_no_changes(&ns, file, what, &now);
    }
    // A changed translation is another rule, counted from zero (docs/
    // json.md, "Counters across applies"); its old map goes with it.
    std::fs::write(&path, POLICY.replace("10.9.0.1:9002,", "10.9.0.1:9002 weight 2,"))
        .expect("policy written");
    let applied = shriekc(&["apply", "--netns", &ns, file]);
    assert_eq!(applied.status.code(), Some(0), "{}", text(&applied.stderr));
    let now = wire.host.nft(&["list", "ruleset"]);
    assert!(now.contains("typeof numgen inc mod 4"), "{now}");
    assert_eq!(now.matches("\tmap nat_").count(), 2, "the old map went with its rule:\n{now}");
    plan_says_no_changes(&ns, file, "after the change", &now);

    // The saving imports back to the policy's translations.
    let imported = shriekc(&["import", saved.to_str().expect("utf-8 path")]);
    let policy = text(&imported.stdout);
    assert!(
        policy.contains(
            "dnat to { 10.9.0.1:9001, 10.9.0.1:9002, 10.9.0.1:9003 } balance round-robin"
        ) && policy.contains("dnat to { 10.9.0.1:9501, 10.9.0.1:9502 } balance source-hash"),
        "{policy}\n{}",
        text(&imported.stderr)
    );
}
