//! Live re-applies under traffic, against the real kernel: a long chain
//! (laid out in parts of at most 1,024 rules) is re-applied through a
//! sequence of changes that move rules across part boundaries, grow and
//! shrink it, switch strategy, and add a rule that leaves its chain early,
//! while a client streams counted datagrams and TCP connections at it.
//!
//! After each apply every probe's verdict is the reference evaluator's,
//! every counted datagram the receiver got is counted once, `plan` says
//! `no changes`, and a table of someone else's is untouched. During each
//! apply no datagram sees a verdict of neither policy: ports every policy
//! accepts lose nothing and ports every policy drops receive nothing.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use shriek_compiler::eval::{evaluate, LimitMode};
use shriek_compiler::ir::{Hook, Outcome};
use shriek_compiler::packet::parse_packet;
use shriek_compiler::resolve;
use shriek_testkit::{python, text, Probe, Wire};

const BIN: &str = env!("CARGO_BIN_EXE_shriekc");

/// Ports every policy of the sequence accepts, each with a named counter.
const KEPT: [u16; 4] = [6001, 6002, 6003, 6004];
/// A port every policy drops, with a named counter.
const BANNED: u16 = 6009;

/// Runs on the host: counts datagrams per port until two seconds of
/// silence after the first, then prints `PORT COUNT` lines. Its sockets'
/// buffers are forced past `rmem_max`; should one overflow anyway, the
/// namespace's UDP `RcvbufErrors` says so (see `Netns::udp_rcvbuf_errors`).
const RECEIVER: &str = r#"
import select, socket, sys
socks = {}
for p in sys.argv[1:]:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    # SO_RCVBUFFORCE (root): past rmem_max, so the socket never overflows.
    s.setsockopt(socket.SOL_SOCKET, 33, 8 << 20)
    s.bind(("10.9.0.1", int(p))); s.setblocking(False); socks[s.fileno()] = (p, s)
got = {p: 0 for p in sys.argv[1:]}
poll = select.poll()
for fd in socks: poll.register(fd, select.POLLIN)
print("ready", flush=True)
started = False
while True:
    ev = poll.poll(2000 if started else 60000)
    if not ev: break
    started = True
    for fd, _ in ev:
        p, s = socks[fd]
        while True:
            try: s.recv(64)
            except BlockingIOError: break
            got[p] += 1
for p, n in got.items(): print(p, n, flush=True)
"#;

/// Runs on the client: sends ROUNDS rounds of one datagram to each port,
/// a millisecond apart, and a TCP connection to port 22 every tenth
/// round; prints `sent ROUNDS` and `tcp OK FAILED`.
const SENDER: &str = r#"
import socket, sys, time
rounds = int(sys.argv[1]); ports = [int(p) for p in sys.argv[2:]]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
ok = failed = 0
for i in range(rounds):
    for p in ports: s.sendto(b"x", ("10.9.0.1", p))
    if i % 10 == 0:
        c = socket.socket(); c.settimeout(2)
        try: c.connect(("10.9.0.1", 22)); ok += 1
        except OSError: failed += 1
        c.close()
    time.sleep(0.001)
print("sent", rounds, flush=True)
print("tcp", ok, failed, flush=True)
"#;

/// The ports probed after each apply, whose verdicts change along the way.
const PROBED: [(bool, u16); 5] =
    [(false, 80), (false, 8080), (false, 9999), (true, 53), (true, 5353)];

/// One policy of the sequence: `fill` rules no test packet matches, with
/// the rules that decide inserted at given places.
struct Step {
    strategy: &'static str,
    fill: usize,
    /// Filler rules left out, to open a hole near a boundary.
    hole: std::ops::Range<usize>,
    /// (index among the filler rules, rule text): placed before filler `index`.
    at: Vec<(usize, String)>,
}

fn text_of(step: &Step) -> String {
    let mut out = String::from("table audit {\n  chain input hook input policy drop {\n");
    out += "    proto icmpv6 accept\n    tcp dport 22 accept\n";
    for i in 0..=step.fill {
        for (_, rule) in step.at.iter().filter(|(at, _)| *at == i) {
            out += &format!("    {rule}\n");
        }
        if i < step.fill && !step.hole.contains(&i) {
            out += &format!("    tcp dport {} drop\n", 20000 + i);
        }
    }
    out += "  }\n}\n";
    out
}

/// The rules that decide, placed around `base`: the kept and banned ports
/// spread over the chain, and the probed ports with verdicts `v`.
fn deciding(base: usize, v: [&str; 5]) -> Vec<(usize, String)> {
    let mut at = vec![
        (base, format!("udp dport {} counter kept1 accept", KEPT[0])),
        (base / 2, format!("udp dport {} counter kept2 accept", KEPT[1])),
        (base + 1, format!("udp dport {} counter kept3 accept", KEPT[2])),
        (0, format!("udp dport {} counter kept4 accept", KEPT[3])),
        (base, format!("udp dport {BANNED} counter banned drop")),
    ];
    for (k, ((udp, port), verdict)) in PROBED.iter().zip(v).enumerate() {
        let proto = if *udp { "udp" } else { "tcp" };
        at.push((base.saturating_sub(2) + k, format!("{proto} dport {port} {verdict}")));
    }
    at
}

fn steps() -> Vec<Step> {
    let s = |strategy, fill, hole, at| Step { strategy, fill, hole, at };
    let v1 = ["accept", "drop", "reject", "accept", "drop"];
    let v2 = ["reject", "accept", "drop", "drop", "accept"];
    vec![
        // Made long: three parts.
        s("sequential", 3000, 0..0, deciding(1024, v1)),
        // The deciding rules move across the first boundary, verdicts flip.
        s("sequential", 3000, 0..0, deciding(1020, v2)),
        s("sequential", 3000, 1018..1030, deciding(1026, v1)),
        // Into the third part, then the chain shrinks to one part's worth.
        s("sequential", 3000, 0..0, deciding(2050, v2)),
        s("sequential", 1000, 0..0, deciding(990, v1)),
        // Grown again: new rules go to the last part.
        s("sequential", 3000, 0..0, deciding(2999, v2)),
        s("auto", 3000, 0..0, deciding(1024, v2)),
        s("dispatch", 3000, 0..0, deciding(1030, v1)),
        s("auto", 1000, 0..0, deciding(500, v2)),
        // Laid out afresh in three parts.
        s("sequential", 3000, 1020..1028, deciding(1023, v1)),
        // A `return` in the second part (the base chain's policy drops),
        // with a reject of the same port in the third.
        s("sequential", 3000, 1020..1028, {
            let mut at = deciding(2500, v1);
            at.push((1500, "tcp dport 9999 return".to_string()));
            at
        }),
    ]
}

/// What the reference evaluator says of each probed port.
fn expected(policy: &str) -> Vec<&'static str> {
    let fe = resolve::resolve_str("audit.shr", policy);
    let policy = fe.policy.expect("the step's policy resolves");
    PROBED
        .iter()
        .map(|(udp, port)| {
            let proto = if *udp { "udp" } else { "tcp" };
            let spec = format!("{proto} 10.9.0.2:40000 -> 10.9.0.1:{port} iif v0");
            let packet = parse_packet(&spec).expect("a packet").0;
            match evaluate(&policy, Hook::Input, &packet, LimitMode::UnderRate).outcome {
                Outcome::Accept => "open",
                Outcome::Drop => "dropped",
                Outcome::Reject => "refused",
            }
        })
        .collect()
}

fn shriekc(dir: &std::path::Path, args: &[&str]) -> (i32, String) {
    let out = shriek_testkit::command(BIN).current_dir(dir).args(args).output().expect("shriekc");
    (out.status.code().unwrap_or(-1), format!("{}{}", text(&out.stdout), text(&out.stderr)))
}

fn named_counters(dir: &std::path::Path, ns: &str) -> HashMap<String, u64> {
    let (code, out) = shriekc(dir, &["counters", "--netns", ns, "--format", "json", "audit.shr"]);
    assert_eq!(code, 0, "{out}");
    let doc: serde_json::Value = serde_json::from_str(&out).expect("counters JSON");
    doc["counters"]
        .as_array()
        .expect("a list of counters")
        .iter()
        .map(|c| {
            let name = c["name"].as_str().expect("a name").to_string();
            (name, c["packets"].as_u64().expect("packets"))
        })
        .collect()
}

#[test]
fn re_applies_under_traffic_keep_every_verdict_and_every_count() {
    let Some(wire) = Wire::new() else { return };
    let ns = wire.host.name.clone();
    let dir = std::env::temp_dir().join(format!("shriek-audit-reapply-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    // Someone else's table, which no apply may touch.
    wire.host.sh(
        "nft add table inet other && nft add chain inet other c && nft add rule inet other c tcp dport 1 counter accept",
    );
    let other = wire.host.nft(&["list", "table", "inet", "other"]);

    let ports: Vec<String> = KEPT.iter().chain([&BANNED]).map(u16::to_string).collect();
    let mut received: HashMap<String, u64> = HashMap::new();
    let mut sent = 0u64;
    // The first policy goes in before the traffic starts; under traffic it
    // is applied again unchanged, then each of the others.
    let first = text_of(&steps()[0]);
    std::fs::write(dir.join("audit.shr"), first).expect("write audit.shr");
    let (code, out) = shriekc(
        &dir,
        &["apply", "--force", "--netns", &ns, "--strategy", "sequential", "audit.shr"],
    );
    assert_eq!(code, 0, "{out}");
    for (n, step) in steps().iter().enumerate() {
        let policy = text_of(step);
        std::fs::write(dir.join("audit.shr"), &policy).expect("write audit.shr");
        let what = format!("step {n} ({}, {} rules)", step.strategy, step.fill);

        let mut receiver = Command::new("ip")
            .args(["netns", "exec", &ns, python(), "-c", RECEIVER])
            .args(&ports)
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 runs");
        let mut got = BufReader::new(receiver.stdout.take().expect("piped")).lines();
        assert_eq!(got.next().and_then(Result::ok).as_deref(), Some("ready"));
        let overflowed = wire.host.udp_rcvbuf_errors();
        let rounds: u64 = 600;
        let sender = Command::new("ip")
            .args(["netns", "exec", &wire.client.name, python(), "-c", SENDER])
            .arg(rounds.to_string())
            .args(&ports)
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 runs");
        // The apply lands while the datagrams stream.
        std::thread::sleep(std::time::Duration::from_millis(150));
        let args = ["apply", "--force", "--netns", &ns, "--strategy", step.strategy, "audit.shr"];
        let (code, out) = shriekc(&dir, &args);
        assert_eq!(code, 0, "{what}: {out}");
        let sender = sender.wait_with_output().expect("the sender ends");
        let report = text(&sender.stdout);
        assert!(report.contains(&format!("tcp {} 0", rounds.div_ceil(10))), "{what}: {report}");
        sent += rounds;
        // The sender is done; after its silence the receiver reports.
        for line in got.by_ref().map_while(Result::ok) {
            let (port, count) = line.split_once(' ').expect("PORT COUNT");
            *received.entry(port.to_string()).or_default() += count.parse::<u64>().expect("count");
        }
        assert!(receiver.wait().expect("receiver ends").success());
        // A datagram the receiver's socket dropped is no fault of the
        // firewall's: say so rather than blame the apply.
        let overflowed = wire.host.udp_rcvbuf_errors() - overflowed;
        assert_eq!(
            overflowed, 0,
            "{what}: the receiver's sockets dropped {overflowed} datagrams (UDP RcvbufErrors in its namespace), not the firewall"
        );

        // Atomicity: the kept ports lost nothing, the banned one let nothing through.
        for port in KEPT {
            assert_eq!(received[&port.to_string()], sent, "{what}: port {port} lost datagrams");
        }
        assert_eq!(received[&BANNED.to_string()], 0, "{what}: the banned port got datagrams");

        // Every counted datagram is counted exactly once, across every
        // kind of apply: a table rebuilt (a strategy switch, a `return` in
        // a chain laid out in parts) keeps its named counters counting.
        let counters = named_counters(&dir, &ns);
        let mut names: Vec<(String, u64)> = KEPT
            .iter()
            .enumerate()
            .map(|(i, port)| (format!("kept{}", i + 1), received[&port.to_string()]))
            .collect();
        names.push(("banned".into(), sent));
        for (name, want) in names {
            assert_eq!(counters[&name], want, "{what}: {name}\n{out}");
        }

        let (code, plan) =
            shriekc(&dir, &["plan", "--netns", &ns, "--strategy", step.strategy, "audit.shr"]);
        // A note on rules that now come from other lines may follow.
        assert_eq!((code, plan.lines().next()), (0, Some("no changes")), "{what}: {plan}");
        assert_eq!(wire.host.nft(&["list", "table", "inet", "other"]), other, "{what}");

        let probes: Vec<Probe> = PROBED
            .iter()
            .enumerate()
            .map(|(i, (udp, port))| Probe {
                udp: *udp,
                src: "10.9.0.2".into(),
                // Below the ephemeral range (32768-60999): the sender's
                // TCP connections take ports there, and a probe bound to
                // one of theirs failed with EADDRINUSE now and then.
                sport: 11000 + (n * 10 + i) as u16,
                dst: "10.9.0.1".into(),
                dport: *port,
            })
            .collect();
        assert_eq!(wire.probe_batch(&probes), expected(&policy), "{what}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
