//! Drift by hand of every kind, in a namespace of the test's own: after
//! `apply`, rules of every expression kind nft 1.0.6 makes (payload, meta,
//! ct, lookups in anonymous and named sets, vmaps, counter, limit, quota,
//! log, reject, NAT, fib, rt, socket, numgen, hash, dynset, objref,
//! connlimit, exthdr, osf, synproxy, notrack, ...), sets, maps and stateful
//! objects go into the table shriekc owns (`drift/every_kind.nft`).
//! `plan` shows each, as nft text or as a placeholder naming its kind, in
//! text and JSON; `apply` puts the policy back with its named counter's
//! count; `plan` then says `no changes`.
//!
//! Under `CI=true` this test must run; elsewhere it skips with a message
//! when not root or when namespaces cannot be made.

use shriek_testkit::{has_tool, root, temp_file, text, Netns};

fn shriekc(args: &[&str]) -> std::process::Output {
    shriek_testkit::run(env!("CARGO_BIN_EXE_shriekc"), args)
}

const POLICY: &str = "table filter {
  chain input hook input policy accept {
    tcp dport 22 counter ssh accept
    udp dport 53 accept
  }
}
";

/// The packets the named counter `ssh` has counted.
fn ssh_packets(ns: &Netns) -> u64 {
    let listed = ns.nft(&["list", "counter", "inet", "filter", "ssh"]);
    let after = listed.split("packets ").nth(1).expect("a counter lists its packets");
    after.split_whitespace().next().and_then(|n| n.parse().ok()).expect("a packet count")
}

#[test]
fn plan_shows_drift_of_every_kind_and_apply_puts_the_policy_back() {
    let Some(ns) = Netns::new("drift-kinds") else { return };
    if !has_tool("nft") {
        return;
    }
    let file = temp_file("drift-kinds.shr", POLICY);
    let path = file.to_str().expect("utf-8 path");
    let first = shriekc(&["apply", "--force", "--netns", &ns.name, path]);
    assert_eq!(first.status.code(), Some(0), "{}", text(&first.stderr));
    // Two connection attempts to port 22 (refused: nothing listens) count.
    for _ in 0..2 {
        let _ = ns.try_sh("timeout 2 bash -c 'echo > /dev/tcp/127.0.0.1/22'");
    }
    let counted = ssh_packets(&ns);
    assert!(counted >= 2, "the counter counted {counted} packets");
    let drift = root().join("shriekc/tests/drift/every_kind.nft");
    ns.sh(&format!("nft -f {}", drift.display()));

    let args = |verb: &'static str, json: bool| {
        let mut a = vec![verb, "--netns", &ns.name];
        if json {
            a.extend(["--format", "json"]);
        }
        a.push(path);
        a
    };
    let plan = shriekc(&args("plan", false));
    assert_eq!(plan.status.code(), Some(0), "{}", text(&plan.stderr));
    let json = shriekc(&args("plan", true));
    assert_eq!(json.status.code(), Some(0), "{}", text(&json.stderr));
    let shown = text(&plan.stdout);
    // Every hand-made rule is shown, as one line each.
    let hand_rules = std::fs::read_to_string(&drift)
        .expect("the drift file")
        .lines()
        .filter(|l| l.starts_with("add rule"))
        .count();
    let removed = shown.lines().filter(|l| l.starts_with("  - ") && l.contains(": ")).count();
    assert!(removed >= hand_rules, "{removed} rules shown of {hand_rules}:\n{shown}");
    shriek_testkit::snapshot!("drift", "every_kind_plan", shown);
    shriek_testkit::snapshot!("drift", "every_kind_plan_json", text(&json.stdout));

    let applied = shriekc(&["apply", "--netns", &ns.name, path]);
    assert_eq!(applied.status.code(), Some(0), "{}", text(&applied.stderr));
    assert!(ssh_packets(&ns) >= counted, "the named counter lost its count");
    let listed = ns.nft(&["list", "table", "inet", "filter"]);
    assert!(!listed.contains("hand") && !listed.contains("natc"), "{listed}");
    let again = shriekc(&args("plan", false));
    assert_eq!(text(&again.stdout), "no changes\n", "{}", text(&again.stderr));
}
