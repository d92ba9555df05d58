//! `shriekc stats` against the real kernel: known numbers of datagrams sent
//! across a veth pair show up as exactly those counts on exactly those
//! source lines, whichever strategy lowered the policy; `--reset` zeroes
//! them and counting starts again from zero; the Prometheus output parses
//! with the reference parser (`prometheus_client`, Python).
//!
//! Under `CI=true` these tests must run; elsewhere they skip with a message
//! when not root or when namespaces cannot be made.

use std::process::Output;
use std::sync::atomic::{AtomicU16, Ordering};

use serde_json::Value;
use shriek_testkit::{python, skip_unless, text, Wire};

fn shriekc(args: &[&str]) -> Output {
    shriek_testkit::run(env!("CARGO_BIN_EXE_shriekc"), args)
}

/// Six rules on one key (one map under `dispatch` and `auto`), one of them
/// with statements of its own (its map element jumps to its chain), and
/// one rule on another key that `auto` keeps sequential.
const POLICY: &str = "\
table filter {
  chain input hook input policy accept {
    udp dport 7001 accept
    udp dport 7002 accept
    udp dport 7003 accept
    udp dport 7004 accept
    udp dport 7100-7199 drop
    udp dport 7300 counter seen accept
    saddr 10.9.0.2 udp dport 7400 accept
  }
}
";

/// (destination port, datagrams, line of the rule that counts them).
const SENT: &[(u16, u64, usize)] =
    &[(7001, 3, 3), (7002, 1, 4), (7004, 2, 6), (7150, 4, 7), (7300, 5, 8), (7400, 6, 9)];

/// Every datagram carries 10 bytes: 20 (IPv4) + 8 (UDP) + 10 on the wire.
const DATAGRAM: u64 = 38;

fn send(wire: &Wire, sent: &[(u16, u64, usize)]) {
    let mut script =
        String::from("import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n");
    for (port, n, _) in sent {
        script.push_str(&format!(
            "for _ in range({n}): s.sendto(b'0123456789', ('10.9.0.1', {port}))\n"
        ));
    }
    wire.client.sh(&format!("{} -c \"{script}\"", python()));
}

fn apply(ns: &str, file: &str, strategy: &str) {
    let applied = shriekc(&["apply", "--strategy", strategy, "--netns", ns, file]);
    assert_eq!(applied.status.code(), Some(0), "{strategy}: {}", text(&applied.stderr));
}

/// Each rule's line and its (packets, bytes), `None` when uncounted.
type Counts = Vec<(usize, Option<(u64, u64)>)>;

/// `stats --format json`: the document, and the rules' counts by line.
fn stats(ns: &str, file: &str, extra: &[&str]) -> (Value, Counts) {
    let mut args = vec!["stats", "--format", "json", "--netns", ns];
    args.extend_from_slice(extra);
    args.push(file);
    let out = shriekc(&args);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let doc: Value = serde_json::from_slice(&out.stdout).expect("stats JSON");
    let rules = doc["rules"]
        .as_array()
        .expect("rules")
        .iter()
        .map(|r| {
            let line = r["line"].as_u64().expect("line") as usize;
            let count = r["packets"].as_u64().map(|p| (p, r["bytes"].as_u64().expect("bytes")));
            (line, count)
        })
        .collect();
    (doc, rules)
}

fn expected(sent: &[(u16, u64, usize)]) -> Counts {
    (3..=9)
        .map(|line| {
            let n: u64 = sent.iter().filter(|s| s.2 == line).map(|s| s.1).sum();
            (line, Some((n, n * DATAGRAM)))
        })
        .collect()
}

#[test]
fn counts_by_source_line_in_every_strategy_and_reset() {
    let Some(wire) = Wire::new() else { return };
    let path = shriek_testkit::temp_file("stats.shr", POLICY);
    let file = path.to_str().expect("utf-8 path");
    let ns = wire.host.name.clone();
    for strategy in ["sequential", "dispatch", "auto"] {
        apply(&ns, file, strategy);
        // Applying again keeps the counts of what stays: start from zero.
        stats(&ns, file, &["--reset"]);
        let listing = wire.host.nft(&["list", "ruleset"]);
        if strategy != "sequential" {
            // A map made in a table that stays is staged, under a name
            // that ends with the policy's (ARCHITECTURE.md, "Day 2").
            let map = listing.contains("vmap @input_dport_udp")
                || listing.contains("/input_dport_udp comment");
            assert!(map, "{strategy}: one map\n{listing}");
        }

        send(&wire, SENT);
        let (doc, rules) = stats(&ns, file, &[]);
        assert_eq!(rules, expected(SENT), "{strategy}: counts by line\n{listing}");
        // The text, from the policy's own folder so that its place reads
        // `stats.shr:3`: one snapshot, the same for every strategy.
        let dir = path.parent().expect("temp dir");
        let out = shriek_testkit::command(env!("CARGO_BIN_EXE_shriekc"))
            .current_dir(dir)
            .args(["stats", "--netns", &ns, "stats.shr"])
            .output()
            .expect("shriekc runs");
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        shriek_testkit::snapshot!("stats", "text", text(&out.stdout));
        assert_eq!(doc["rules"][0]["table"], "filter");
        assert_eq!(doc["rules"][0]["chain"], "input");
        assert_eq!(doc["counters"][0]["name"], "seen");
        assert_eq!(doc["counters"][0]["packets"], 5);

        // --reset prints what it zeroed; then everything reads zero.
        let (doc, zeroed) = stats(&ns, file, &["--reset"]);
        assert_eq!(zeroed, expected(SENT), "{strategy}: reset prints the values it zeroed");
        assert_eq!(doc["reset"], true);
        let (_, after) = stats(&ns, file, &[]);
        assert_eq!(after, expected(&[]), "{strategy}: all zero after reset");

        // Counting resumes from zero.
        let again = [(7002, 2, 4), (7400, 1, 9)];
        send(&wire, &again);
        let (doc, rules) = stats(&ns, file, &[]);
        assert_eq!(rules, expected(&again), "{strategy}: counting resumes from zero");
        assert_eq!(doc["counters"][0]["packets"], 0, "the named counter was reset too");
    }
}

/// A port map that jumps to the address maps' lookups (two-level
/// dispatch): four port rules of two protocols, four source.port rules on
/// other ports, the client's (10.9.0.2) on udp 7400.
const TREE: &str = "\
table filter {
  chain input hook input policy accept {
    udp dport 7001 accept
    udp dport 7002 accept
    tcp dport 7003 accept
    tcp dport 7004 accept
    saddr 10.9.0.2 udp dport 7400 accept
    saddr 10.9.0.3 udp dport 7401 drop
    saddr 10.9.0.4 udp dport 7402 accept
    saddr 10.9.0.5 udp dport 7403 accept
  }
}
";

/// The port map's `jump` elements count for no rule: `stats` lists the
/// policy's eight rules with exactly their packets (what went through a
/// jump counted once, on its address rule), re-applying changes nothing,
/// and a one-rule change carries every count over.
#[test]
fn two_level_jumps_count_for_no_rule() {
    let Some(wire) = Wire::new() else { return };
    let path = shriek_testkit::temp_file("stats-tree.shr", TREE);
    let file = path.to_str().expect("utf-8 path");
    let ns = wire.host.name.clone();
    let line = |sent: &[(u16, u64, usize)], lines: std::ops::RangeInclusive<usize>| -> Counts {
        lines
            .map(|l| {
                let n: u64 = sent.iter().filter(|s| s.2 == l).map(|s| s.1).sum();
                (l, Some((n, n * DATAGRAM)))
            })
            .collect()
    };
    for strategy in ["dispatch", "auto"] {
        apply(&ns, file, strategy);
        stats(&ns, file, &["--reset"]);
        let listing = wire.host.nft(&["list", "ruleset"]);
        let tree =
            listing.lines().any(|l| l.contains("udp . 7400 ") && l.contains("jump input_port"));
        assert!(tree, "{strategy}: a tree\n{listing}");
        // 7401 from the client matches no rule: it passes the jump and
        // the lookup, and counts nowhere.
        let sent = [(7001, 3, 3), (7400, 4, 7), (7401, 2, 0)];
        send(&wire, &sent);
        let (_, rules) = stats(&ns, file, &[]);
        assert_eq!(rules, line(&sent, 3..=10), "{strategy}: counts by line\n{listing}");
        let again = shriekc(&["apply", "--strategy", strategy, "--netns", &ns, file]);
        assert_eq!(again.status.code(), Some(0), "{}", text(&again.stderr));
        assert!(text(&again.stdout).contains("no changes"), "{strategy}: {}", text(&again.stdout));
        // One rule more, on a port of its own: every count carried.
        let more = TREE.replace(
            "udp dport 7403 accept\n",
            "udp dport 7403 accept\n    saddr 10.9.0.6 udp dport 7404 accept\n",
        );
        // The same file, changed, as a user edits it.
        std::fs::write(&path, &more).expect("write the policy");
        apply(&ns, file, strategy);
        let (_, rules) = stats(&ns, file, &[]);
        assert_eq!(rules, line(&sent, 3..=11), "{strategy}: counts carried over");
        std::fs::write(&path, TREE).expect("write the policy");
        apply(&ns, file, strategy);
        stats(&ns, file, &["--reset"]);
    }
}

/// Whether python's `prometheus_client` is installed (it must be under
/// `CI=true`; elsewhere its tests skip with a message).
fn has_prometheus_parser() -> bool {
    let has_parser = std::process::Command::new(python())
        .args(["-c", "import prometheus_client.parser"])
        .status()
        .is_ok_and(|s| s.success());
    skip_unless(has_parser, "prometheus", "python's prometheus_client is not installed")
}

/// Parses exposition text with prometheus_client and prints each sample
/// back as `NAME LABEL=VALUE,... VALUE`, one a line, sorted.
fn parse_prometheus(exposition: &[u8]) -> String {
    const PARSE: &str = "\
import sys
from prometheus_client.parser import text_string_to_metric_families
out = []
for f in text_string_to_metric_families(sys.stdin.read()):
    assert f.type == 'counter', f.type
    for s in f.samples:
        labels = ','.join(k + '=' + v for k, v in sorted(s.labels.items()))
        out.append(f'{s.name} {labels} {int(s.value)}')
print('\\n'.join(sorted(out)))
";
    let mut cmd = std::process::Command::new(python());
    cmd.args(["-c", PARSE]);
    let parsed = shriek_testkit::output_with_stdin(&mut cmd, exposition);
    assert!(parsed.status.success(), "the parser refused it: {}", text(&parsed.stderr));
    text(&parsed.stdout)
}

#[test]
fn prometheus_output_parses_with_the_reference_parser() {
    let Some(wire) = Wire::new() else { return };
    if !has_prometheus_parser() {
        return;
    }
    let path = shriek_testkit::temp_file("stats-prom.shr", POLICY);
    let file = path.to_str().expect("utf-8 path");
    let ns = wire.host.name.clone();
    let applied = shriekc(&["apply", "--netns", &ns, file]);
    assert_eq!(applied.status.code(), Some(0), "{}", text(&applied.stderr));
    send(&wire, SENT);
    let out = shriekc(&["stats", "--format", "prometheus", "--netns", &ns, file]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));

    let samples = parse_prometheus(&out.stdout);
    for (port, n, line) in SENT {
        let labels = format!("chain=input,file={},line={line},table=filter", file);
        assert!(
            samples.contains(&format!("shriek_rule_packets_total {labels} {n}\n")),
            "port {port}: {samples}"
        );
        assert!(
            samples.contains(&format!("shriek_rule_bytes_total {labels} {}\n", n * DATAGRAM)),
            "port {port}: {samples}"
        );
    }
    assert!(samples.contains("shriek_counter_packets_total name=seen,table=filter 5"), "{samples}");
}

#[test]
fn counters_off_leaves_rules_uncounted_but_named_counters_count() {
    let Some(wire) = Wire::new() else { return };
    let policy = format!("counters off\n{POLICY}");
    let path = shriek_testkit::temp_file("stats-off.shr", &policy);
    let file = path.to_str().expect("utf-8 path");
    let ns = wire.host.name.clone();
    for strategy in ["sequential", "dispatch"] {
        apply(&ns, file, strategy);
        stats(&ns, file, &["--reset"]);
        let listing = wire.host.nft(&["list", "ruleset"]);
        assert!(!listing.contains("counter packets"), "{strategy}: nothing counts\n{listing}");
        send(&wire, SENT);
        // Lines shift by one: `counters off` is line 1.
        let uncounted: Vec<_> = (4..=10).map(|line| (line, None)).collect();
        let (doc, rules) = stats(&ns, file, &[]);
        assert_eq!(rules, uncounted, "{strategy}: no rule has a count\n{listing}");
        assert_eq!(doc["rules"][0]["packets"], Value::Null);
        assert_eq!(doc["counters"][0]["packets"], 5, "{strategy}: `counter seen` still counts");
        let (doc, _) = stats(&ns, file, &["--reset"]);
        assert_eq!(doc["counters"][0]["packets"], 5);
        let (doc, _) = stats(&ns, file, &[]);
        assert_eq!(doc["counters"][0]["packets"], 0);
    }
}

/// Three backends on the host's own ports, taken in turn.
const BALANCED: &str = "\
table lb {
  chain prerouting hook prerouting type nat priority -100 policy accept {
    daddr 10.9.0.1 tcp dport 9000 dnat to { 10.9.0.1:9001, 10.9.0.1:9002, 10.9.0.1:9003 } balance round-robin
  }
}
";

/// Listens on the three backends' ports, and once told how many
/// connections to expect, accepts them and prints how many each port took.
const BACKENDS: &str = r#"
import json, select, socket, sys, time
ls = {}
for p in (9001, 9002, 9003):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("10.9.0.1", p)); s.listen(128); ls[s] = p
print("ready", flush=True)
want = int(sys.stdin.readline())
got = {str(p): 0 for p in ls.values()}
deadline = time.time() + 20
while sum(got.values()) < want and time.time() < deadline:
    for s in select.select(list(ls), [], [], 0.2)[0]:
        c, _ = s.accept(); c.close(); got[str(ls[s])] += 1
print(json.dumps(got), flush=True)
"#;

#[test]
fn balanced_nat_counts_connections_per_backend() {
    use std::io::{BufRead, Write};
    let Some(wire) = Wire::new() else { return };
    let path = shriek_testkit::temp_file("lb.shr", BALANCED);
    let file = path.to_str().expect("utf-8 path");
    let ns = wire.host.name.clone();
    let applied = shriekc(&["apply", "--netns", &ns, file]);
    assert_eq!(applied.status.code(), Some(0), "{}", text(&applied.stderr));
    // An independent count of each backend's packets, each way, by a
    // table of the test's own: to the backend's port on input, from it
    // on output (before the reply's source is translated back).
    let mut check = String::from("add table inet check\n");
    check.push_str("add chain inet check in { type filter hook input priority 0; }\n");
    check.push_str("add chain inet check out { type filter hook output priority 0; }\n");
    for port in 9001..=9003 {
        check.push_str(&format!(
            "add counter inet check in{port}\nadd counter inet check out{port}\n\
             add rule inet check in tcp dport {port} counter name in{port}\n\
             add rule inet check out tcp sport {port} counter name out{port}\n"
        ));
    }
    wire.host.sh(&format!("printf '{check}' | nft -f -"));

    let mut backends = std::process::Command::new("ip")
        .args(["netns", "exec", &ns, python(), "-c", BACKENDS])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3 runs");
    let mut from = std::io::BufReader::new(backends.stdout.take().expect("stdout is piped"));
    let mut line = String::new();
    from.read_line(&mut line).expect("backends start");
    assert_eq!(line.trim(), "ready");
    wire.client.sh(&format!(
        "{} -c \"import socket\nfor _ in range(60): socket.create_connection(('10.9.0.1', 9000), timeout=5).close()\"",
        python()
    ));
    let mut to = backends.stdin.take().expect("stdin is piped");
    to.write_all(b"60\n").expect("backends listen");
    drop(to);
    line.clear();
    from.read_line(&mut line).expect("backends report");
    backends.wait().expect("backends end");
    let accepted: Value = serde_json::from_str(&line).expect("backend counts");

    // Let the last segments of the closes arrive.
    std::thread::sleep(std::time::Duration::from_millis(500));
    let (doc, rules) = stats(&ns, file, &[]);
    let listing = wire.host.nft(&["list", "ruleset"]);
    assert_eq!(rules[0].1.map(|c| c.0), Some(60), "the rule saw 60 new connections\n{listing}");
    for (b, port) in doc["backends"].as_array().expect("backends").iter().zip(9001..) {
        let counted = |dir: &str| -> (u64, u64) {
            let out = wire.host.nft(&["list", "counter", "inet", "check", &format!("{dir}{port}")]);
            let words: Vec<&str> = out.split_whitespace().collect();
            let after = |w: &str| -> u64 {
                let at = words.iter().position(|x| *x == w).expect("a counter line");
                words[at + 1].parse().expect("a number")
            };
            (after("packets"), after("bytes"))
        };
        let (in_packets, in_bytes) = counted("in");
        let (out_packets, out_bytes) = counted("out");
        // Each connection is at least a SYN and an ACK in, a SYN-ACK out.
        assert!(in_packets >= 40 && out_packets >= 20, "backend {port}: {b}\n{listing}");
        assert_eq!(
            (&b["in_packets"], &b["in_bytes"], &b["out_packets"], &b["out_bytes"]),
            (&in_packets.into(), &in_bytes.into(), &out_packets.into(), &out_bytes.into()),
            "backend {port}: each way, what the independent counters saw\n{listing}"
        );
        assert_eq!(b["shared"], false);
    }
    let mut sum = 0;
    for (b, port) in doc["backends"].as_array().expect("backends").iter().zip(9001..) {
        assert_eq!(b["backend"], format!("10.9.0.1:{port}"));
        assert_eq!(
            (&b["table"], &b["chain"], &b["line"]),
            (&"lb".into(), &"prerouting".into(), &3.into())
        );
        let n = b["connections"].as_u64().expect("counted");
        assert_eq!(n, accepted[port.to_string()], "backend {port} accepted as many\n{listing}");
        // Round-robin: exactly one in three.
        assert_eq!(n, 20, "backend {port}\n{listing}");
        sum += n;
    }
    assert_eq!(sum, 60, "{doc}");

    // The text, from the policy's own folder so that its place is `lb.shr:3`.
    let dir = path.parent().expect("temp dir");
    let out = shriek_testkit::command(env!("CARGO_BIN_EXE_shriekc"))
        .current_dir(dir)
        .args(["stats", "--netns", &ns, "lb.shr"])
        .output()
        .expect("shriekc runs");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    // A TCP close takes three or four segments each way, as timing has
    // it (an ACK may ride on a FIN): the exact figures are asserted
    // against the independent counters above, and the snapshot shows the
    // layout with them redacted.
    let redacted: String = text(&out.stdout)
        .lines()
        .map(|l| match l.split_whitespace().collect::<Vec<_>>().as_slice() {
            [conns, _, _, _, _, rest @ ..] if l.contains("10.9.0.1:900") => {
                format!(
                    "{conns:>5} [in pkts] [out pkts] [in bytes] [out bytes]  {}\n",
                    rest.join("  ")
                )
            }
            _ => format!("{l}\n"),
        })
        .collect();
    shriek_testkit::snapshot!("stats", "balanced", redacted);
    let prom = shriekc(&["stats", "--format", "prometheus", "--netns", &ns, file]);
    let prom = text(&prom.stdout);
    assert!(
        prom.contains(&format!(
            "shriek_backend_connections_total{{table=\"lb\",chain=\"prerouting\",file=\"{file}\",line=\"3\",backend=\"10.9.0.1:9002\"}} 20\n"
        )),
        "{prom}"
    );

    // --reset zeroes the backends too.
    let (doc, _) = stats(&ns, file, &["--reset"]);
    assert_eq!(doc["backends"][0]["connections"], 20);
    assert!(doc["backends"][0]["out_packets"].as_u64().expect("counted") >= 20);
    let (doc, _) = stats(&ns, file, &[]);
    assert_eq!(doc["backends"][0]["connections"], 0);
    assert_eq!(doc["backends"][0]["in_packets"], 0);
    assert_eq!(doc["backends"][0]["out_bytes"], 0);
}

/// Three backends that never answer (nothing listens on their ports), on
/// a UDP service: each flow's datagrams all go to the backend its first
/// one was given, so each backend's packets and bytes are known exactly.
const BALANCED_UDP: &str = "\
table lb {
  chain prerouting hook prerouting type nat priority -100 policy accept {
    daddr 10.9.0.1 udp dport 9100 dnat to { 10.9.0.1:9101, 10.9.0.1:9102, 10.9.0.1:9103 } balance round-robin
  }
}
";

/// Datagrams per flow, in the order the flows start: round-robin gives
/// flow i to backend i mod 3.
const FLOWS: [u64; 6] = [1, 2, 3, 4, 5, 6];

/// Each flow from a socket of its own (a new connection), ten bytes a
/// datagram. Each socket takes a source port no flow of this test used
/// before: a port the kernel picked could be one a closed socket just had,
/// and its datagrams would join that flow's connection, still in
/// conntrack, so the round-robin would not move on.
fn send_flows(wire: &Wire) {
    static NEXT_PORT: AtomicU16 = AtomicU16::new(41000);
    let base = NEXT_PORT.fetch_add(FLOWS.len() as u16, Ordering::Relaxed);
    let mut script = String::from("import socket\n");
    for (i, n) in FLOWS.iter().enumerate() {
        script.push_str(&format!(
            "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n\
             s.bind(('0.0.0.0', {}))\n\
             for _ in range({n}): s.sendto(b'0123456789', ('10.9.0.1', 9100))\n\
             s.close()\n",
            base + i as u16
        ));
    }
    wire.client.sh(&format!("{} -c \"{script}\"", python()));
}

/// (backend, connections, in packets, in bytes) as `stats --format json`
/// shows them, with every out count asserted zero.
fn backend_counts(doc: &Value) -> Vec<(String, u64, u64, u64)> {
    doc["backends"]
        .as_array()
        .expect("backends")
        .iter()
        .map(|b| {
            assert_eq!((&b["out_packets"], &b["out_bytes"]), (&0.into(), &0.into()), "{b}");
            let n = |k: &str| b[k].as_u64().unwrap_or_else(|| panic!("{k} counted: {b}"));
            (
                b["backend"].as_str().expect("backend").to_string(),
                n("connections"),
                n("in_packets"),
                n("in_bytes"),
            )
        })
        .collect()
}

fn expected_backends(rounds: u64) -> Vec<(String, u64, u64, u64)> {
    (0..3)
        .map(|i| {
            let packets: u64 = FLOWS.iter().skip(i).step_by(3).sum::<u64>() * rounds;
            let flows = (FLOWS.len() / 3) as u64 * rounds;
            (format!("10.9.0.1:{}", 9101 + i), flows, packets, packets * DATAGRAM)
        })
        .collect()
}

#[test]
fn balanced_nat_counts_packets_and_bytes_per_backend_in_every_strategy() {
    let Some(wire) = Wire::new() else { return };
    let path = shriek_testkit::temp_file("lb-udp.shr", BALANCED_UDP);
    let file = path.to_str().expect("utf-8 path");
    let ns = wire.host.name.clone();
    for strategy in ["sequential", "dispatch", "auto"] {
        // Every round so far sent a multiple of three flows, so the
        // round-robin starts again at the first backend.
        apply(&ns, file, strategy);
        stats(&ns, file, &["--reset"]);

        send_flows(&wire);
        let listing = wire.host.nft(&["list", "ruleset"]);
        let (doc, rules) = stats(&ns, file, &[]);
        assert_eq!(rules[0].1, Some((6, 6 * DATAGRAM)), "{strategy}: six new flows\n{listing}");
        // The host answers each datagram with an ICMP port unreachable:
        // conntrack files it under the flow, but it is not the flow's
        // traffic, and the backends' out counts stay zero.
        assert_eq!(backend_counts(&doc), expected_backends(1), "{strategy}\n{listing}");

        // Day 2: the counting chains and sets are what the policy
        // compiles to, and applying again keeps every count.
        let plan = shriekc(&["plan", "--netns", &ns, file]);
        assert_eq!(text(&plan.stdout).trim(), "no changes", "{strategy}: {}", text(&plan.stderr));
        wire.host.nft(&["add", "table", "inet", "other"]);
        let plan = shriekc(&["plan", "--netns", &ns, file]);
        assert_eq!(
            text(&plan.stdout).trim(),
            "no changes",
            "{strategy}: read back from the kernel"
        );
        wire.host.nft(&["delete", "table", "inet", "other"]);
        apply(&ns, file, strategy);
        let (doc, _) = stats(&ns, file, &[]);
        assert_eq!(backend_counts(&doc), expected_backends(1), "{strategy}: kept through apply");

        if strategy == "auto" {
            let dir = path.parent().expect("temp dir");
            let out = shriek_testkit::command(env!("CARGO_BIN_EXE_shriekc"))
                .current_dir(dir)
                .args(["stats", "--netns", &ns, "lb-udp.shr"])
                .output()
                .expect("shriekc runs");
            assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
            shriek_testkit::snapshot!("stats", "balanced-udp", text(&out.stdout));
            if has_prometheus_parser() {
                let prom = shriekc(&["stats", "--format", "prometheus", "--netns", &ns, file]);
                let samples = parse_prometheus(&prom.stdout);
                for (backend, conns, packets, bytes) in expected_backends(1) {
                    // The parser's labels, sorted by name.
                    let labels = |direction: &str| {
                        format!(
                            "backend={backend},chain=prerouting,{direction}file={file},line=3,table=lb"
                        )
                    };
                    let (all, inbound, out) =
                        (labels(""), labels("direction=in,"), labels("direction=out,"));
                    for sample in [
                        format!("shriek_backend_connections_total {all} {conns}"),
                        format!("shriek_backend_packets_total {inbound} {packets}"),
                        format!("shriek_backend_packets_total {out} 0"),
                        format!("shriek_backend_bytes_total {inbound} {bytes}"),
                        format!("shriek_backend_bytes_total {out} 0"),
                    ] {
                        assert!(samples.contains(&format!("{sample}\n")), "{sample}: {samples}");
                    }
                }
            }
        }

        // --reset prints what it zeroed, then counting resumes from zero.
        let (doc, _) = stats(&ns, file, &["--reset"]);
        assert_eq!(backend_counts(&doc), expected_backends(1), "{strategy}: the values zeroed");
        let (doc, _) = stats(&ns, file, &[]);
        assert_eq!(backend_counts(&doc), expected_backends(0), "{strategy}: zero after reset");
        send_flows(&wire);
        let (doc, _) = stats(&ns, file, &[]);
        assert_eq!(backend_counts(&doc), expected_backends(1), "{strategy}: counting again");
    }
}
