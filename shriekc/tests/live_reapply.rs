//! Live re-applies under traffic, against the real kernel, in a random
//! sequence drawn from a printed seed: while datagrams stream to counted
//! ports, to a balanced `dnat` service (each from a fresh socket, so a new
//! connection the NAT chain must translate) and to a port that must stay
//! dropped, and a TCP connection lets only `ct state established` carry
//! it, the policy is re-applied: unchanged, with rules changed, added or
//! removed before the flows' rules, maps grown from one kind to another,
//! named counters and sets and chains changed (the chain a flow is
//! accepted in renamed, reached by `jump` or `goto`), the strategy
//! switched, with `--replace`, with `--prune` of a renamed table, and
//! through `apply --confirm` and `--confirm-pending`.
//!
//! After each apply, with the traffic paused: a flow whose verdict is the
//! same in the old and the new policy lost nothing (or got nothing, when
//! dropped), the named counters equal the datagrams received (or sent, for
//! the dropped port), exactly, and so do the per-rule counters of rules
//! that stay where they are; those of rules whose lowering moved to other
//! kernel objects miss at most what was sent while the apply ran (issue
//! 9: their counts are carried over, as read before the batch). The live
//! table holds the policy's named
//! counters and no others, the TCP connection echoed every byte, and
//! `plan` says `no changes`.
//!
//! `SHRIEK_LIVE_SEED` replays a sequence, `SHRIEK_LIVE_STEPS` lengthens it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use proptest::test_runner::{RngAlgorithm, TestRng};
use shriek_testkit::traffic::{Tally, Traffic};
use shriek_testkit::{text, Wire};

#[path = "live_reapply/steps.rs"]
mod steps;

use steps::*;

const BIN: &str = env!("CARGO_BIN_EXE_shriekc");

fn shriekc(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let out = shriek_testkit::command(BIN).current_dir(dir).args(args).output().expect("shriekc");
    (out.status.code().unwrap_or(-1), text(&out.stdout), text(&out.stderr))
}

/// Applies `step` as it says; the apply's output.
fn apply(dir: &Path, ns: &str, step: &Step) -> String {
    let mut args = vec!["apply", "--force", "--netns", ns, "--strategy", step.strategy];
    if step.mode == Mode::Replace {
        args.push("--replace");
    }
    if step.prune {
        args.push("--prune");
    }
    args.push("live.shr");
    if step.mode != Mode::Confirm {
        let (code, out, err) = shriekc(dir, &args);
        assert_eq!(code, 0, "{out}{err}");
        return out;
    }
    args.splice(1..1, ["--confirm", "60"]);
    let mut cmd = shriek_testkit::command(BIN);
    cmd.current_dir(dir).args(&args);
    let (child, line) = shriek_testkit::spawn_first_line(&mut cmd);
    let (code, out, err) = shriekc(dir, &["apply", "--confirm-pending", "--netns", ns]);
    assert_eq!(code, 0, "{line}{out}{err}");
    let done = child.wait_with_output().expect("the confirming apply ends");
    assert_eq!(done.status.code(), Some(0), "{line}{}", text(&done.stderr));
    line + &text(&done.stdout)
}

/// The packets `stats --format json` (`doc`, printed as `out`) counts for
/// the rule on `line`.
fn packets_on_line(doc: &serde_json::Value, line: usize, out: &str) -> u64 {
    doc["rules"]
        .as_array()
        .expect("a list of rules")
        .iter()
        .find(|r| r["line"].as_u64() == Some(line as u64))
        .and_then(|r| r["packets"].as_u64())
        .unwrap_or_else(|| panic!("no packet count for line {line}: {out}"))
}

/// What the kernel counted: the named counters, and the packets of the
/// rules on the given lines.
fn counted(dir: &Path, ns: &str, lines: &Lines) -> (BTreeMap<String, u64>, u64, u64) {
    let (code, out, err) = shriekc(dir, &["stats", "--netns", ns, "--format", "json", "live.shr"]);
    assert_eq!(code, 0, "{out}{err}");
    let doc: serde_json::Value = serde_json::from_str(&out).expect("stats JSON");
    let named = doc["counters"]
        .as_array()
        .expect("a list of counters")
        .iter()
        .map(|c| {
            (
                c["name"].as_str().expect("a name").to_string(),
                c["packets"].as_u64().expect("packets"),
            )
        })
        .collect();
    let rule = |line: usize| packets_on_line(&doc, line, &out);
    (named, rule(lines.kept_named), rule(lines.kept_plain))
}

/// The named counters of the live table, as the kernel lists them.
fn live_counters(wire: &Wire) -> BTreeSet<String> {
    let listed = wire.host.nft(&["list", "counters", "table", "inet", "live"]);
    listed
        .lines()
        .filter_map(|l| l.trim().strip_prefix("counter ")?.strip_suffix(" {").map(str::to_string))
        // The table's record of how it was made, not a counter of the policy.
        .filter(|name| !name.starts_with("shriekc/"))
        .collect()
}

fn seed() -> u64 {
    match std::env::var("SHRIEK_LIVE_SEED") {
        Ok(s) => s.parse().expect("SHRIEK_LIVE_SEED is a number"),
        Err(_) => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1),
    }
}

fn rng_of(seed: u64) -> TestRng {
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    TestRng::from_seed(RngAlgorithm::ChaCha, &bytes)
}

/// The totals of the port's datagrams, or of the service's backends.
fn received(tally: &Tally, port: u16) -> u64 {
    if port == SERVICE {
        BACKENDS.iter().map(|b| tally.received[b]).sum()
    } else {
        tally.received[&port]
    }
}

#[test]
fn re_applies_under_traffic_lose_no_packet_and_no_count() {
    let Some(wire) = Wire::new() else { return };
    let seed = seed();
    eprintln!("live_reapply: seed {seed} (SHRIEK_LIVE_SEED={seed} replays it)");
    let mut rng = rng_of(seed);
    let steps: usize =
        std::env::var("SHRIEK_LIVE_STEPS").ok().and_then(|s| s.parse().ok()).unwrap_or(40);
    let ns = wire.host.name.clone();
    let dir = std::env::temp_dir().join(format!("shriek-live-reapply-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");

    // The first policy goes in before the traffic starts, and lets the TCP
    // connection's first packet in; no later policy does.
    let mut last = Step {
        policy: Policy::first(),
        strategy: "auto",
        mode: Mode::Plain,
        prune: false,
        what: "first".into(),
    };
    let (first, lines) = last.policy.text();
    let opening = first.replace(
        "    proto tcp ct state established accept\n",
        &format!("    proto tcp ct state established accept\n    tcp dport {TCP} accept\n"),
    );
    std::fs::write(dir.join("live.shr"), opening).expect("write live.shr");
    apply(&dir, &ns, &last);

    let udp: Vec<u16> =
        [KEPT_NAMED, KEPT_PLAIN, IN_SET, ROUTED, OPTIONAL, FLIPPED[0], FLIPPED[1], BANNED].into();
    let listen: Vec<u16> = udp.iter().chain(&BACKENDS).copied().collect();
    let mut traffic = Traffic::start(&wire, &udp, SERVICE, &listen, TCP);
    // The counts at the last pause, and the optional counter's value then.
    let mut then = traffic.pause(|_| vec![]);
    // The opening policy has one line more before the kept rules.
    let opening_lines =
        Lines { kept_named: lines.kept_named + 1, kept_plain: lines.kept_plain + 1 };
    let (named, kept_named_rule, kept_plain_rule) = counted(&dir, &ns, &opening_lines);
    let mut opt5_then = named.get("opt5").copied();
    // Each kept rule's counter, and its port's datagrams, at the last pause.
    let mut rule_base = [
        (kept_named_rule, received(&then, KEPT_NAMED)),
        (kept_plain_rule, received(&then, KEPT_PLAIN)),
    ];
    let mut overflowed = wire.host.udp_rcvbuf_errors();
    traffic.resume();
    let mut applies = 1;
    // Carried per-rule counts: how many, and each miss in milliseconds of
    // the flow.
    let mut moved = 0;
    let mut windows: Vec<f64> = Vec::new();

    for n in 0..steps {
        let step = next_step(&mut rng, &last);
        let (policy, lines) = step.policy.text();
        std::fs::write(dir.join("live.shr"), &policy).expect("write live.shr");
        // Kept (the folder is removed only after a pass) to replay by hand.
        std::fs::write(dir.join(format!("step-{n}.shr")), &policy).expect("write step-N.shr");
        let what = format!(
            "seed {seed}, step {n} in {} ({}, {:?}{}: {})",
            dir.display(),
            step.strategy,
            step.mode,
            if step.prune { ", --prune" } else { "" },
            step.what
        );
        // Some traffic before the apply, so that it lands mid-stream.
        std::thread::sleep(std::time::Duration::from_millis(100));
        // The rounds sent while the apply ran bound what a carried count
        // may miss (below).
        let (from, started) = (traffic.rounds(), std::time::Instant::now());
        let said = apply(&dir, &ns, &step);
        let (during, took) = (traffic.rounds() - from, started.elapsed());
        applies += 1;
        // Step 0 is not unchanged: the opening policy had one rule more.
        if n > 0
            && step.what == "unchanged"
            && step.mode == Mode::Plain
            && step.strategy == last.strategy
            && !step.prune
        {
            assert_eq!(said.lines().next(), Some("no changes"), "{what}: {said}");
        }
        std::thread::sleep(std::time::Duration::from_millis(100));

        // The ports whose verdict both policies share: accepted ones must
        // have every datagram of the step, dropped ones none.
        let same: Vec<(u16, bool)> = udp
            .iter()
            .chain([&SERVICE])
            .filter(|p| last.policy.accepts(**p) == step.policy.accepts(**p))
            .map(|p| (*p, step.policy.accepts(*p)))
            .collect();
        let base = then.rounds;
        let complete: Vec<(u16, u64)> = same
            .iter()
            .filter(|(_, accepted)| *accepted)
            .flat_map(|(p, _)| if *p == SERVICE { BACKENDS.to_vec() } else { vec![*p] })
            .map(|p| (p, then.received[&p]))
            .collect();
        let now = traffic.pause(|rounds| {
            // A backend's share is not known in advance; its sum is checked below.
            complete
                .iter()
                .filter(|(p, _)| !BACKENDS.contains(p))
                .map(|(p, had)| (*p, had + rounds - base))
                .collect()
        });
        let sent = now.rounds - base;
        let dropped_by_sockets = wire.host.udp_rcvbuf_errors() - overflowed;
        assert_eq!(
            dropped_by_sockets, 0,
            "{what}: the receiver's sockets dropped {dropped_by_sockets} datagrams (UDP RcvbufErrors in its namespace), not the firewall"
        );
        for (p, accepted) in &same {
            let got = received(&now, *p) - received(&then, *p);
            let want = if *accepted { sent } else { 0 };
            assert_eq!(
                got, want,
                "{what}: port {p} got {got} of the step's {sent} datagrams\n{policy}\n{said}"
            );
        }
        assert_eq!(now.tcp_echoed, now.tcp_sent, "{what}: the TCP connection stalled");

        // Named counters: exactly what was received (or sent, for the
        // dropped port), since the traffic started; per-rule counters of
        // the rules that never change, likewise.
        let (named, kept_named_rule, kept_plain_rule) = counted(&dir, &ns, &lines);
        let exact = [
            ("kept1", received(&now, KEPT_NAMED)),
            ("lb", received(&now, SERVICE)),
            ("banned", now.rounds),
        ];
        for (name, want) in exact {
            assert_eq!(named.get(name), Some(&want), "{what}: counter {name}\n{said}");
        }
        // Per-rule counters: a rule that stays where it is (sequential
        // into sequential, in place) counts on exactly. One whose lowering
        // moves to another kernel object (a strategy switch, `--replace`,
        // a map made anew as another kind or split) starts from the value
        // read before the batch: it misses what the old object counted
        // between that reading and the commit, never more than the
        // datagrams sent while the apply ran, and never counts one twice.
        let in_place = last.strategy == "sequential"
            && step.strategy == "sequential"
            && step.mode != Mode::Replace;
        for (n, (rule, port)) in
            [(kept_named_rule, KEPT_NAMED), (kept_plain_rule, KEPT_PLAIN)].into_iter().enumerate()
        {
            let line = [lines.kept_named, lines.kept_plain][n];
            let (was, had) = rule_base[n];
            let got = received(&now, port);
            assert!(
                rule - was <= got - had,
                "{what}: the rule counter of line {line} went from {was} to {rule}, for {} datagrams",
                got - had
            );
            let missed = (got - had) - (rule - was);
            if in_place {
                assert_eq!(missed, 0, "{what}: the rule counter of line {line} missed {missed}");
            } else {
                assert!(
                    missed <= during,
                    "{what}: the rule counter of line {line} went from {was} to {rule} and missed {missed} of {} datagrams, {during} of them sent while the apply ran",
                    got - had
                );
                if missed > 0 {
                    // The window, in time: the flow's rate during the apply.
                    let rate = during as f64 / took.as_secs_f64();
                    windows.push(missed as f64 / rate * 1000.0);
                }
                moved += 1;
            }
            rule_base[n] = (rule, got);
        }
        // A counter that stays counts on from where it was.
        let got_optional = received(&now, OPTIONAL) - received(&then, OPTIONAL);
        match (opt5_then, named.get("opt5")) {
            (Some(was), Some(is)) => {
                assert_eq!(is - was, got_optional, "{what}: counter opt5 went from {was} to {is}")
            }
            (None, Some(is)) => assert!(*is <= got_optional, "{what}: a new opt5 at {is}"),
            (_, None) => assert!(!step.policy.optional_counter, "{what}: opt5 is missing"),
        }
        opt5_then = named.get("opt5").copied();
        let names: BTreeSet<String> =
            step.policy.counters().iter().map(|s| s.to_string()).collect();
        assert_eq!(live_counters(&wire), names, "{what}: the live table's named counters");

        let (code, plan, err) =
            shriekc(&dir, &["plan", "--netns", &ns, "--strategy", step.strategy, "live.shr"]);
        assert_eq!(
            (code, plan.lines().next()),
            (0, Some("no changes")),
            "{what}: {plan}{err}\n{policy}"
        );

        then = now;
        overflowed = wire.host.udp_rcvbuf_errors();
        traffic.resume();
        last = step;
    }
    let datagrams = then.rounds * (udp.len() as u64 + 1);
    eprintln!("live_reapply: seed {seed}: {applies} applies, {} rounds, {datagrams} datagrams, {} TCP bytes", then.rounds, then.tcp_sent);
    windows.sort_by(f64::total_cmp);
    eprintln!(
        "live_reapply: {moved} per-rule counts carried over, {} of them short of what was received, by at most {:.1} ms of the flow (median {:.1} ms)",
        windows.len(),
        windows.last().copied().unwrap_or(0.0),
        windows.get(windows.len() / 2).copied().unwrap_or(0.0)
    );
    drop(traffic);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The per-rule counts of the rules on the lines of policy `file` that hold
/// each of `rules`, and the connections and inbound packets `stats` gives
/// the balanced translation's backends, summed.
fn carried(dir: &Path, ns: &str, file: &str, rules: &[&str]) -> Vec<u64> {
    let policy = std::fs::read_to_string(dir.join(file)).expect("read the policy");
    let (code, out, err) = shriekc(dir, &["stats", "--netns", ns, "--format", "json", file]);
    assert_eq!(code, 0, "{out}{err}");
    let doc: serde_json::Value = serde_json::from_str(&out).expect("stats JSON");
    let mut counts: Vec<u64> = rules
        .iter()
        .map(|rule| {
            let line = policy.lines().position(|l| l.contains(rule)).expect("the counted rule") + 1;
            packets_on_line(&doc, line, &out)
        })
        .collect();
    let backends = doc["backends"].as_array().expect("a list of backends");
    let sum = |field: &str| backends.iter().map(|b| b[field].as_u64().unwrap_or(0)).sum::<u64>();
    counts.push(sum("connections"));
    counts.push(sum("in_packets"));
    counts
}

/// Issue 9: per-rule counters are never reset by `apply`. Each step sends
/// datagrams to rules lowered as one map element, as several (a set of
/// ports), as an element jumping to a chain of the rule's statements, and
/// to a balanced translation (each from a fresh socket: a new connection),
/// then re-applies so that their lowering moves to other kernel objects:
/// a map made again as another kind, split into rules of their own, a
/// strategy switch either way, `--replace`, a table taken over by another
/// policy and back (made again from scratch). Every count goes on from
/// where it was (`A then A`); `plan` then says `no changes`. Named
/// counters are kept in all of these (the sequence test checks them under
/// traffic).
#[test]
fn per_rule_counts_carry_over_where_the_lowering_moves() {
    let Some(wire) = Wire::new() else { return };
    let ns = wire.host.name.clone();
    let dir = std::env::temp_dir().join(format!("shriek-live-moves-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let policy = |before: &str, middle: &str, after: &str| {
        format!(
            "table moves {{\n  chain input hook input policy drop {{\n    tcp dport 22 accept\n{before}    udp dport 6001 accept\n    udp dport {{ 6004, 6012 }} accept\n    udp dport 6006 counter c6 accept\n{middle}    udp dport 6002 drop\n{after}  }}\n  chain pre hook prerouting type nat policy accept {{\n    udp dport 6100 dnat to {{ 10.9.0.1:6101, 10.9.0.1:6102 }} balance round-robin\n  }}\n}}\n"
        )
    };
    let rules = ["udp dport 6001 accept", "udp dport { 6004, 6012 } accept", "udp dport 6006"];
    let ports = policy("", "", "    udp dport 6003 drop\n");
    let ranged = policy("", "", "    udp dport 6003-6009 drop\n");
    let split = policy(
        "    udp dport 6010 drop\n    saddr 10.66.0.1 drop\n",
        "",
        "    udp dport 6003 drop\n",
    );
    // Runs of three: too short for a map in `auto`.
    let cut = policy("", "    saddr 10.66.0.1 drop\n", "    udp dport 6003 drop\n");
    let added = policy("    udp dport 6011 drop\n", "", "    udp dport 6003 drop\n");
    // (what, policy, strategy, extra flag, file)
    let steps = [
        ("auto, a hashed map made an interval one", &ranged, "auto", None, "live.shr"),
        ("auto, back to a hashed map", &ports, "auto", None, "live.shr"),
        ("auto, the map split by a rule before it", &split, "auto", None, "live.shr"),
        ("auto, the map's rules made rules of their own", &cut, "auto", None, "live.shr"),
        ("auto, back in a map", &ports, "auto", None, "live.shr"),
        ("sequential, from auto", &ports, "sequential", None, "live.shr"),
        ("sequential, a rule added before it", &added, "sequential", None, "live.shr"),
        ("sequential, unchanged, --replace", &added, "sequential", Some("--replace"), "live.shr"),
        ("auto, from sequential", &ports, "auto", None, "live.shr"),
        ("auto, unchanged, --replace", &ports, "auto", Some("--replace"), "live.shr"),
        ("dispatch, from auto", &split, "dispatch", None, "live.shr"),
        ("auto, from dispatch", &ports, "auto", None, "live.shr"),
        // Made again: the table goes to another policy and comes back.
        (
            "sequential, taken over by another policy, --replace",
            &ports,
            "sequential",
            Some("--replace"),
            "other.shr",
        ),
        ("auto, taken back, --replace", &ports, "auto", Some("--replace"), "live.shr"),
    ];
    std::fs::write(dir.join("live.shr"), &ports).expect("write live.shr");
    let (code, out, err) =
        shriekc(&dir, &["apply", "--netns", &ns, "--strategy", "auto", "live.shr"]);
    assert_eq!(code, 0, "{out}{err}");
    let mut report = String::new();
    let mut sent = 0;
    let mut last = "live.shr";
    for (what, policy, strategy, flag, file) in steps {
        // Some datagrams to each, so that every counter has counted some.
        wire.client.sh(&format!(
            "{} -c 'import socket\nU = socket.AF_INET, socket.SOCK_DGRAM\ns = socket.socket(*U)\nfor p in [6001, 6006] * 4 + [6004, 6012] * 2: s.sendto(b\"x\", (\"10.9.0.1\", p))\nfor _ in range(4): socket.socket(*U).sendto(b\"x\", (\"10.9.0.1\", 6100))'",
            shriek_testkit::python()
        ));
        sent += 4;
        let before = carried(&dir, &ns, last, &rules);
        std::fs::write(dir.join(file), policy).expect("write the policy");
        let mut args = vec!["apply", "--netns", &ns, "--strategy", strategy];
        args.extend(flag);
        args.push(file);
        let (code, out, err) = shriekc(&dir, &args);
        assert_eq!(code, 0, "{what}: {out}{err}");
        let after = carried(&dir, &ns, file, &rules);
        last = file;
        let names = ["6001", "{6004, 6012}", "6006", "connections", "backend packets"];
        let line: Vec<String> = names
            .iter()
            .zip(before.iter().zip(&after))
            .map(|(n, (b, a))| format!("{n} {b} then {a}"))
            .collect();
        report += &format!("{what}: {}\n", line.join(", "));
        // What each counted is what was sent to it since the start.
        assert_eq!(before, vec![sent; 5], "{what}");
        let (code, plan, err) =
            shriekc(&dir, &["plan", "--netns", &ns, "--strategy", strategy, file]);
        assert_eq!((code, plan.lines().next()), (0, Some("no changes")), "{what}: {plan}{err}");
    }
    shriek_testkit::snapshot!(
        "live",
        "per_rule_counts_carry_over_where_the_lowering_moves",
        report
    );
    let _ = std::fs::remove_dir_all(&dir);
}
