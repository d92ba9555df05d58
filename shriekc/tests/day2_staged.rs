//! New interval maps are staged in a transaction of their own, against
//! the real kernel: under a dense stream of datagrams through a rule
//! decided by an interval map, the policy is switched back and forth
//! between `sequential` (no map) and `auto` (the map made anew each
//! time), and not one datagram falls through to the chain's last rule,
//! which counts what the firewall drops; likewise a rule's own set of
//! ports with a range in it, made anew with the rule. A staged set an
//! interrupted apply left unused is named by `plan` and removed by
//! `apply`.

use std::io::Write;
use std::process::{Command, Stdio};

use shriek_testkit::{python, text, Netns, Wire};

const BIN: &str = env!("CARGO_BIN_EXE_shriekc");

/// The streamed port falls in `7001-7003`, which `auto` puts in the
/// interval map of the chain's UDP rules; the last rule counts every
/// datagram the firewall drops.
const POLICY: &str = "table stage {
  chain input hook input policy drop {
    proto icmpv6 accept
    udp dport 7001-7003 counter streamed accept
    tcp dport 20000-20010 drop
    tcp dport 20020-20030 drop
    udp dport 21000-21010 drop
    udp dport 21020-21030 drop
    counter fallthrough drop
  }
}
";

/// Counts datagrams to the port in argv[1] until two seconds of silence
/// after the first, then prints the count.
const RECEIVER: &str = r#"
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, 33, 8 << 20)
s.bind(("10.9.0.1", int(sys.argv[1])))
s.settimeout(60); s.recv(64); n = 1; s.settimeout(2)
try:
    while True:
        s.recv(64); n += 1
except socket.timeout:
    pass
print(n, flush=True)
"#;

/// Streams datagrams to the port in argv[1], 50 at a time, until its
/// standard input closes; prints how many it sent.
const SENDER: &str = r#"
import select, socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
n = 0
while True:
    for _ in range(50):
        s.sendto(b"x", ("10.9.0.1", int(sys.argv[1]))); n += 1
    time.sleep(0.0005)
    if select.select([sys.stdin], [], [], 0)[0]:
        break
print(n, flush=True)
"#;

fn shriekc(dir: &std::path::Path, args: &[&str]) -> (i32, String) {
    let out = shriek_testkit::command(BIN).current_dir(dir).args(args).output().expect("shriekc");
    (out.status.code().unwrap_or(-1), format!("{}{}", text(&out.stdout), text(&out.stderr)))
}

/// `apply --strategy STRATEGY stage.shr` into namespace `ns`, which must
/// succeed: what it printed.
fn applied(dir: &std::path::Path, ns: &str, strategy: &str) -> String {
    let args = ["apply", "--force", "--netns", ns, "--strategy", strategy, "stage.shr"];
    let (code, out) = shriekc(dir, &args);
    assert_eq!(code, 0, "{strategy}: {out}");
    out
}

fn counter(ns: &Netns, name: &str) -> u64 {
    let listed = ns.nft(&["list", "counter", "inet", "stage", name]);
    let words: Vec<&str> = listed.split_whitespace().collect();
    let at = words.iter().position(|w| *w == "packets").expect("a packet count");
    words[at + 1].parse().expect("a number")
}

fn policy_dir(tag: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("shriek-day2-staged-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    std::fs::write(dir.join("stage.shr"), POLICY).expect("write stage.shr");
    dir
}

/// Streams datagrams at `port` through the firewall of `wire` while
/// `switch` re-applies the policy in `dir` `rounds` times; then checks
/// that not one fell through to the chain's `fallthrough` counter, that
/// the receiver got every one and `streamed` counted each once, and that
/// `plan` says `no changes` for `strategy`.
fn stream_through(
    wire: &Wire,
    dir: &std::path::Path,
    port: &str,
    strategy: &str,
    switch: impl Fn(usize),
) {
    let ns = &wire.host.name;
    let receiver = Command::new("ip")
        .args(["netns", "exec", ns, python(), "-c", RECEIVER, port])
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    // Streaming starts once the receiver's socket is bound.
    let bound = (0..200).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(25));
        !wire.host.sh(&format!("ss -Hlun sport = :{port}")).trim().is_empty()
    });
    assert!(bound, "the receiver never bound its socket");
    let overflowed = wire.host.udp_rcvbuf_errors();
    let mut sender = Command::new("ip")
        .args(["netns", "exec", &wire.client.name, python(), "-c", SENDER, port])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    std::thread::sleep(std::time::Duration::from_millis(200));
    for round in 0..30 {
        switch(round);
    }
    std::thread::sleep(std::time::Duration::from_millis(200));
    sender.stdin.take().expect("piped").write_all(b"stop\n").expect("stop the sender");
    let sender = sender.wait_with_output().expect("the sender ends");
    let sent: u64 = text(&sender.stdout).trim().parse().expect("the sender's count");
    let receiver = receiver.wait_with_output().expect("the receiver ends");
    assert!(receiver.status.success());
    let received: u64 = text(&receiver.stdout).trim().parse().expect("the receiver's count");
    let overflowed = wire.host.udp_rcvbuf_errors() - overflowed;
    assert_eq!(
        overflowed, 0,
        "the receiver's socket dropped {overflowed} datagrams, not the firewall"
    );

    // Not one datagram fell through the set at the firewall, and every
    // one was counted once.
    assert_eq!(counter(&wire.host, "fallthrough"), 0, "sent {sent}, received {received}");
    assert_eq!((received, counter(&wire.host, "streamed")), (sent, sent));
    let (code, plan) = shriekc(dir, &["plan", "--netns", ns, "--strategy", strategy, "stage.shr"]);
    assert_eq!((code, plan.trim()), (0, "no changes"), "{plan}");
}

#[test]
fn interval_maps_made_anew_under_traffic_drop_nothing() {
    let Some(wire) = Wire::new() else { return };
    let ns = wire.host.name.clone();
    let dir = policy_dir("traffic");
    let apply = |strategy: &str| applied(&dir, &ns, strategy);
    apply("sequential");
    stream_through(&wire, &dir, "7002", "sequential", |round| {
        // Each switch to `auto` makes both interval maps anew; they go in
        // first, on their own, and the rules switch to them after.
        let out = apply("auto");
        assert!(
            out.contains("2 new interval sets made first in a transaction of its own"),
            "round {round}: {out}"
        );
        apply("sequential");
    });
    let _ = std::fs::remove_dir_all(&dir);
}

/// A rule's own set of ports with a range in it is an interval set too.
/// Made in the batch that makes the rule, it would be found empty from
/// the generation switch to the end of the commit, which takes longer the
/// larger the batch: a strategy switch that lays out 2,000 other rules
/// again dropped about 240 datagrams of 40,000 a second each time. Made
/// first, in a transaction of its own, it drops none, and the set is
/// still the rule's own as far as `plan`, `compile` and `stats` go.
#[test]
fn a_rules_own_interval_set_made_anew_under_traffic_drops_nothing() {
    let Some(wire) = Wire::new() else { return };
    let ns = wire.host.name.clone();
    let dir = policy_dir("own-set");
    let mut policy = String::from(
        "table stage {\n  chain input hook input policy drop {\n    proto icmpv6 accept\n    udp dport { 7001-7003, 7010 } counter streamed accept\n",
    );
    for i in 0..2000 {
        policy +=
            &format!("    saddr 10.{}.{}.1 tcp dport {} drop\n", 100 + i / 250, i % 250, 20000 + i);
    }
    policy += "    counter fallthrough drop\n  }\n}\n";
    std::fs::write(dir.join("stage.shr"), &policy).expect("write stage.shr");
    let apply = |strategy: &str| applied(&dir, &ns, strategy);
    apply("sequential");
    let listed = wire.host.nft(&["list", "table", "inet", "stage"]);
    assert!(listed.contains("udp dport { 7001-7003, 7010 } counter"), "{listed}");
    stream_through(&wire, &dir, "7002", "sequential", |round| {
        // Each switch lays the 2,000 rules out again, and the rule with
        // its set of ports is made anew with them.
        for strategy in ["auto", "sequential"] {
            let out = apply(strategy);
            assert!(out.contains("rebuilt in place"), "round {round}, {strategy}: {out}");
        }
    });
    // The rule's set is made under a name of shriekc's, the rule's own;
    // `stats` counts the rule as any other.
    let listed = wire.host.nft(&["list", "table", "inet", "stage"]);
    assert!(listed.contains("udp dport @shriekc/own/"), "{listed}");
    let (code, out) = shriekc(&dir, &["stats", "--netns", &ns, "--format", "json", "stage.shr"]);
    assert_eq!(code, 0, "{out}");
    let doc: serde_json::Value = serde_json::from_str(&out).expect("stats JSON");
    let rule = doc["rules"].as_array().expect("rules").iter().find(|r| r["line"] == 4);
    assert!(rule.and_then(|r| r["packets"].as_u64()).is_some_and(|p| p > 0), "{out}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The policy of [`a_run_merged_into_the_map_before_it_drops_nothing`]:
/// two runs of UDP rules (an interval map each in `auto`), split by an
/// address rule or, `merged`, one run and one map, where a rule's set of
/// ports gains one too; the streamed port is in the second run; before them 1,500 rules no datagram matches, whose
/// ports move with `shift`, so that the batch is large.
fn runs(merged: bool, shift: u32) -> String {
    let mut out = String::from(
        "table stage {\n  chain input hook input policy drop {\n    proto icmpv6 accept\n",
    );
    for i in 0..1500 {
        let port = 20000 + 2 * i + shift % 2;
        out += &format!("    saddr 10.{}.{}.1 tcp dport {port} drop\n", 100 + i / 250, i % 250);
    }
    out += "    udp dport 7001 accept\n    udp dport 7002 accept\n";
    // Merged, the set widens: its element `7003-7004` is replaced by
    // `7003-7005`, which overlaps it.
    if merged {
        out += "    udp dport { 7003, 7004, 7005 } accept\n    udp dport 7008 accept\n";
    } else {
        out += "    udp dport { 7003, 7004 } accept\n    udp dport 7008 accept\n";
        out += "    saddr 10.66.0.1 drop\n";
    }
    out += "    udp dport 7101 accept\n    udp dport 7102-7103 counter streamed accept\n    udp dport 7104 accept\n    udp dport 7105 accept\n";
    out + "    counter fallthrough drop\n  }\n}\n"
}

/// When a rule between two runs of rules goes, the second run's map
/// merges into the first's: the first map, which stays, gains the second's
/// elements while the rule that used the second map goes. An interval
/// set publishes what a commit adds only at the commit's end, after the
/// rules are switched, so a datagram in between found its port in neither
/// map (24 of 30 merges lost some at 400,000 datagrams a second; this
/// test, with a batch of 3,000 element changes, lost some in most runs).
/// The first map is made anew beside the old one, in a transaction
/// earlier (`runtime/src/apply/beside.rs`).
#[test]
fn a_run_merged_into_the_map_before_it_drops_nothing() {
    let Some(wire) = Wire::new() else { return };
    let ns = wire.host.name.clone();
    let dir = policy_dir("merged");
    let apply = |merged: bool, shift: u32| {
        std::fs::write(dir.join("stage.shr"), runs(merged, shift)).expect("write stage.shr");
        let args = ["apply", "--force", "--netns", &ns, "--strategy", "auto", "stage.shr"];
        let (code, out) = shriekc(&dir, &args);
        assert_eq!(code, 0, "{out}");
        out
    };
    apply(false, 0);
    stream_through(&wire, &dir, "7102", "auto", |round| {
        let shift = 2 * round as u32;
        let out = apply(true, shift + 1);
        assert!(out.contains("made anew beside the old"), "round {round}: {out}");
        apply(false, shift + 2);
    });
    let _ = std::fs::remove_dir_all(&dir);
}

/// Streams datagrams to the port in argv[1] as fast as it can until its
/// standard input closes.
const FLOOD: &str = r#"
import select, socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
while not select.select([sys.stdin], [], [], 0)[0]:
    for _ in range(200):
        s.sendto(b"x", ("10.9.0.1", int(sys.argv[1])))
"#;

/// Floods `port` from the client while `switch` runs, counting what the
/// firewall's input hook sees before the policy (priority -300) and what
/// passes it (300): (seen, passed), the flood fast enough to matter.
fn flood_counted(wire: &Wire, port: u16, switch: impl FnOnce()) -> (u64, u64) {
    wire.host.sh(&format!("nft add table inet count && nft add chain inet count pre '{{ type filter hook input priority -300; }}' && nft add rule inet count pre udp dport {port} counter && nft add chain inet count post '{{ type filter hook input priority 300; }}' && nft add rule inet count post udp dport {port} counter"));
    let mut flood = Command::new("ip")
        .args(["netns", "exec", &wire.client.name, python(), "-c", FLOOD, &port.to_string()])
        .stdin(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    std::thread::sleep(std::time::Duration::from_millis(200));
    switch();
    flood.stdin.take().expect("piped").write_all(b"stop\n").expect("stop the flood");
    assert!(flood.wait().expect("the flood ends").success());
    std::thread::sleep(std::time::Duration::from_millis(200));
    let listing = wire.host.nft(&["list", "table", "inet", "count"]);
    let counts: Vec<u64> = listing
        .lines()
        .filter_map(|l| l.split("packets ").nth(1)?.split_whitespace().next()?.parse().ok())
        .collect();
    let [seen, passed] = counts[..] else { panic!("two counts: {listing}") };
    assert!(seen > 100_000, "the flood sent only {seen} datagrams");
    (seen, passed)
}

/// A map the new rules no longer use goes in a transaction after the
/// batch, once the packets walking the old rules are through: deleting it
/// in the batch deactivated its elements at the generation switch, and a
/// packet that had started on the old rules just before looked them up
/// with the new generation's mask, found nothing and fell through (6 and
/// 7 of about 3,000,000 datagrams in 100 switches from `auto` to
/// `sequential`). Counted at the firewall itself, before and after the
/// policy, with a flood faster than a socket would take.
#[test]
fn a_map_that_goes_is_deleted_after_the_packets_in_flight() {
    let Some(wire) = Wire::new() else { return };
    let ns = wire.host.name.clone();
    let dir = policy_dir("settle");
    // Single ports only: `auto` makes a hashed map, `sequential` none.
    let policy = "table stage {\n  chain input hook input policy drop {\n    proto icmpv6 accept\n    udp dport { 7002, 41000, 41002 } accept\n    udp dport 7010 accept\n    udp dport 7011 accept\n    udp dport 7012 accept\n    udp dport 7013 accept\n    counter fallthrough drop\n  }\n}\n";
    std::fs::write(dir.join("stage.shr"), policy).expect("write stage.shr");
    applied(&dir, &ns, "auto");
    let (seen, passed) = flood_counted(&wire, 7002, || {
        for round in 0..100 {
            let out = applied(&dir, &ns, "sequential");
            assert!(
                out.contains("1 map no rule uses any more deleted in a transaction after it"),
                "round {round}: {out}"
            );
            applied(&dir, &ns, "auto");
        }
        applied(&dir, &ns, "sequential");
    });
    assert_eq!(seen - passed, 0, "dropped at the firewall, of {seen}");
    assert_eq!(counter(&wire.host, "fallthrough"), 0);
    // Nothing is left behind: no map, and `plan` has nothing to do.
    assert!(!wire.host.nft(&["list", "table", "inet", "stage"]).contains("map "));
    let (code, plan) =
        shriekc(&dir, &["plan", "--netns", &ns, "--strategy", "sequential", "stage.shr"]);
    assert_eq!((code, plan.trim()), (0, "no changes"), "{plan}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A run of interval port rules, and with `more`, a rule before it that
/// drops the client and one more port in the run: the map gains an
/// element while a rule comes before it.
fn grown(more: bool) -> String {
    let mut out = String::from("table stage {\n  chain input hook input policy drop {\n");
    if more {
        out += "    saddr 10.9.0.2 drop\n";
    }
    for p in [7100, 7200, 7300, 7400] {
        out += &format!("    udp dport {p}-{} accept\n", p + 10);
    }
    if more {
        out += "    udp dport 5000-5001 accept\n";
    }
    out + "  }\n}\n"
}

/// A map whose elements change in a batch that changes rules too is made
/// anew beside the old one (`runtime/src/apply/beside.rs`). Its new
/// elements once went in a transaction ahead of the rules: between the
/// two, the old rules (no `saddr 10.9.0.2 drop`) met port 5000 in the
/// map, and datagrams from 10.9.0.2 to it went through, which the old
/// policy and the new one both drop (54 in 20 applies with the release
/// binary, 1,626 with the debug one). Counted past the firewall, with a
/// flood faster than a socket would take.
#[test]
fn a_map_that_grows_as_a_rule_comes_before_it_lets_nothing_through() {
    let Some(wire) = Wire::new() else { return };
    let ns = wire.host.name.clone();
    let dir = policy_dir("grown");
    let apply = |more: bool| {
        std::fs::write(dir.join("stage.shr"), grown(more)).expect("write stage.shr");
        applied(&dir, &ns, "auto")
    };
    apply(false);
    let (seen, passed) = flood_counted(&wire, 5000, || {
        for round in 0..30 {
            let out = apply(true);
            assert!(out.contains("1 map made anew beside the old"), "round {round}: {out}");
            let out = apply(false);
            assert!(out.contains("1 map made anew beside the old"), "round {round}: {out}");
        }
    });
    assert_eq!(passed, 0, "let through by the firewall, of {seen}");
    // The map goes by the policy's name to `plan`, and nothing is left.
    let (code, plan) = shriekc(&dir, &["plan", "--netns", &ns, "--strategy", "auto", "stage.shr"]);
    assert_eq!((code, plan.trim()), (0, "no changes"), "{plan}");
    let listed = wire.host.nft(&["list", "table", "inet", "stage"]);
    assert_eq!(listed.matches("\tmap ").count(), 1, "{listed}");

    // An apply killed between its batch and the transaction after it
    // leaves the old map under the policy's name, unused beside the new
    // one: `plan` names it, and the next `apply` deletes it.
    wire.host.sh("nft add map inet stage input_dport_udp '{ type inet_service : verdict; flags interval; counter; elements = { 7100-7110 : accept } }'");
    let (code, plan) = shriekc(&dir, &["plan", "--netns", &ns, "--strategy", "auto", "stage.shr"]);
    assert_eq!(code, 0, "{plan}");
    assert!(plan.contains("- set input_dport_udp in table inet stage: staged by an apply that did not finish, and unused"), "{plan}");
    applied(&dir, &ns, "auto");
    let (code, plan) = shriekc(&dir, &["plan", "--netns", &ns, "--strategy", "auto", "stage.shr"]);
    assert_eq!((code, plan.trim()), (0, "no changes"), "{plan}");
    let listed = wire.host.nft(&["list", "table", "inet", "stage"]);
    assert_eq!(listed.matches("\tmap ").count(), 1, "{listed}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// `policy` with a chain of jumps 18 deep hung before its last rule,
/// which the kernel refuses at the commit.
fn too_deep(policy: &str) -> String {
    let mut deep = policy.replace(
        "    counter fallthrough drop\n",
        "    tcp dport 9000 jump c1\n    counter fallthrough drop\n",
    );
    deep.truncate(deep.trim_end().len() - 1);
    for i in 1..=18 {
        let rule = if i < 18 {
            format!("tcp dport {} jump c{}", 9000 + i, i + 1)
        } else {
            "tcp dport 9999 accept".into()
        };
        deep += &format!("  chain c{i} {{\n    {rule}\n  }}\n");
    }
    deep + "}\n"
}

#[test]
fn a_refused_switch_removes_what_it_staged() {
    let Some(ns) = Netns::new("day2-staged-refused") else { return };
    let dir = policy_dir("refused");
    let apply = |strategy: &str| {
        let args = ["apply", "--force", "--netns", &ns.name, "--strategy", strategy, "stage.shr"];
        shriekc(&dir, &args)
    };
    let (code, out) = apply("sequential");
    assert_eq!(code, 0, "{out}");
    let before = ns.nft(&["list", "table", "inet", "stage"]);
    // The switch to `auto` stages its interval maps, then the kernel
    // refuses the second transaction at its commit: the jumps go 18 deep.
    std::fs::write(dir.join("stage.shr"), too_deep(POLICY)).expect("write stage.shr");
    let (code, out) = apply("auto");
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("E0506(jump-too-deep)"), "{out}");
    // Nothing staged is left behind, nor anything else.
    assert_eq!(ns.nft(&["list", "table", "inet", "stage"]), before);

    // The same for a map made anew beside the old one (a run merged into
    // the map before it), and a rule's own interval set.
    std::fs::write(dir.join("stage.shr"), runs(false, 0)).expect("write stage.shr");
    let (code, out) = apply("auto");
    assert_eq!(code, 0, "{out}");
    let before = ns.nft(&["list", "table", "inet", "stage"]);
    let merged = runs(true, 0).replace(
        "    proto icmpv6 accept\n",
        "    proto icmpv6 accept\n    saddr 10.66.0.2 tcp dport { 22, 8000-8080 } accept\n",
    );
    std::fs::write(dir.join("stage.shr"), too_deep(&merged)).expect("write stage.shr");
    let (code, out) = apply("auto");
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("E0506(jump-too-deep)"), "{out}");
    assert_eq!(ns.nft(&["list", "table", "inet", "stage"]), before);
    // Without the jumps, both go in first.
    std::fs::write(dir.join("stage.shr"), merged).expect("write stage.shr");
    let (code, out) = apply("auto");
    assert_eq!(code, 0, "{out}");
    // The saddr map, made again as an interval one, and the UDP map that
    // gains the merged run, both beside the old ones.
    assert!(out.contains("2 maps made anew beside the old"), "{out}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_staged_set_left_unused_is_named_by_plan_and_removed_by_apply() {
    let Some(ns) = Netns::new("day2-staged-leftover") else { return };
    let dir = policy_dir("leftover");
    let args = ["apply", "--force", "--netns", &ns.name, "--strategy", "auto", "stage.shr"];
    // A table made whole is new to the packet path: only a table that
    // stays has its new maps staged.
    for strategy in ["sequential", "auto"] {
        let (code, out) = shriekc(&dir, &[&args[..5], &[strategy, "stage.shr"]].concat());
        assert_eq!(code, 0, "{out}");
    }
    // The maps in use carry their staged names in the kernel; the model,
    // and so `plan`, knows them by the policy's.
    let listed = ns.nft(&["list", "table", "inet", "stage"]);
    assert!(listed.contains("vmap @shriekc/staged/"), "{listed}");
    // What a process killed between the two transactions leaves: a
    // staged map no rule uses.
    ns.sh("nft add map inet stage shriekc/staged/7/input_dport_udp '{ type inet_service : verdict; flags interval; elements = { 7001-7003 : accept } }'");
    // And a rule's own interval set, made first for a rule that never came.
    ns.sh("nft add set inet stage shriekc/own/7/0 '{ type inet_service; flags interval,constant; elements = { 7001-7003 } }'");

    let plan =
        ["plan", "--netns", &ns.name, "--strategy", "auto", "--detailed-exitcode", "stage.shr"];
    let (code, out) = shriekc(&dir, &plan);
    assert_eq!(
        (code, out.as_str()),
        (2, "- set shriekc/own/7/0 in table inet stage: staged by an apply that did not finish, and unused\n- set shriekc/staged/7/input_dport_udp in table inet stage: staged by an apply that did not finish, and unused\n"),
    );
    let (code, json) = shriekc(&dir, &[&plan[..6], &["--format", "json", "stage.shr"]].concat());
    assert_eq!(code, 2, "{json}");
    let doc: serde_json::Value = serde_json::from_str(&json).expect("plan JSON");
    assert_eq!(
        doc["leftover_sets"],
        serde_json::json!([
            {"table": "stage", "set": "shriekc/own/7/0"},
            {"table": "stage", "set": "shriekc/staged/7/input_dport_udp"}
        ])
    );

    let (code, out) = shriekc(&dir, &args);
    assert_eq!(code, 0, "{out}");
    let listed = ns.nft(&["list", "table", "inet", "stage"]);
    assert!(!listed.contains("staged/7/") && !listed.contains("own/7/"), "{listed}");
    let (code, out) = shriekc(&dir, &plan);
    assert_eq!((code, out.trim()), (0, "no changes"), "{out}");
    let _ = std::fs::remove_dir_all(&dir);
}
