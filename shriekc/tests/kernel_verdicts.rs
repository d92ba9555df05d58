//! The kernel against the language: random sources (testkit's `sources`,
//! their kernel domain) applied with `shriekc apply` in a namespace of this
//! test's own, then real packets sent from a raw socket on the output hook,
//! each verdict read from `sendto` (a packet the firewall drops or rejects
//! there fails with EPERM) and held to the verdict the test's evaluator,
//! written from docs/language.md, gives it.
//!
//! The packets carry what the model tests draw: both families, the
//! protocols with ports (SCTP included) and without (udplite, GRE, 0, 255),
//! ports 0 and 65535, every tcp flags byte, ICMP types and codes to 255,
//! marks to 0xffffffff (`SO_MARK`), and two interfaces to leave by. IPv6
//! packets carry extension headers in front of their protocol, in turn:
//! none, hop-by-hop options, destination options, routing, fragment, or
//! all four, which the kernel reads past to find the protocol.
//! `SHRIEK_VERDICT_ROUNDS` (default 40) sources are tried, from the seed
//! `SHRIEK_VERDICT_SEED` (default 1).
//!
//! Under `CI=true` this test must run; elsewhere it skips with a message
//! when not root or when namespaces cannot be made.

use std::process::Command;

use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use shriek_compiler::emit::packet_text;
use shriek_compiler::eval::LimitMode;
use shriek_compiler::ir::Outcome;
use shriek_compiler::space::{Family, Packet};
use shriek_testkit::sources::{source_and_packets, Domain};
use shriek_testkit::{has_tool, output_with_stdin, python, temp_file, text, Netns};

/// Reads one packet a line (`family proto saddr daddr sport dport flags
/// type code mark ext`, addresses as integers, `ext` the IPv6 extension
/// headers in front of the protocol, comma-separated, or `-`), sends it from a raw socket
/// that writes its own IP header, and prints `accept`, or the error name
/// (`EPERM`: the output hook dropped it).
const SENDER: &str = r#"
import errno, ipaddress, socket, struct, sys
SO_MARK = 36
v4 = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
v4.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
v6 = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_RAW)
for line in sys.stdin:
    *fields, ext = line.split()
    fam, proto, s, d, sport, dport, flags, typ, code, mark = (int(x) for x in fields)
    if proto == 6:
        l4 = struct.pack("!HHIIBBHHH", sport, dport, 1, 0, 5 << 4, flags, 65535, 0, 0)
    elif proto in (17, 136):
        l4 = struct.pack("!HHHH", sport, dport, 8, 0)
    elif proto == 132:
        l4 = struct.pack("!HHII", sport, dport, 0, 0)
    elif proto in (1, 58):
        l4 = struct.pack("!BBHI", typ, code, 0, 0)
    else:
        l4 = bytes(8)
    if fam == 4:
        sock, dst = v4, str(ipaddress.IPv4Address(d))
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(l4), 0, 0, 64, proto, 0,
                         s.to_bytes(4, "big"), d.to_bytes(4, "big"))
    else:
        sock, dst = v6, str(ipaddress.IPv6Address(d))
        headers = [] if ext == "-" else [int(h) for h in ext.split(",")]
        for h in reversed(headers):
            if h == 44:  # fragment: offset 0, no more fragments
                l4 = struct.pack("!BBHI", proto, 0, 0, 7) + l4
            elif h == 43:  # routing: type 0, no segments left
                l4 = struct.pack("!BBBB4x", proto, 0, 0, 0) + l4
            else:  # hop-by-hop or destination options: one PadN option
                l4 = struct.pack("!BBBB4x", proto, 0, 1, 4) + l4
            proto = h
        ip = struct.pack("!IHBB16s16s", 6 << 28, len(l4), proto, 64,
                         s.to_bytes(16, "big"), d.to_bytes(16, "big"))
    sock.setsockopt(socket.SOL_SOCKET, SO_MARK, struct.pack("I", mark))
    try:
        sock.sendto(ip + l4, (dst, 0))
        print("accept")
    except OSError as e:
        print(errno.errorcode.get(e.errno, str(e.errno)))
"#;

fn shriekc(args: &[&str]) -> std::process::Output {
    shriek_testkit::run(env!("CARGO_BIN_EXE_shriekc"), args)
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// The IPv6 extension headers the `n`th packet carries in front of its
/// protocol.
const EXTENSION_HEADERS: [&str; 6] = ["-", "0", "60", "43", "44", "0,43,44,60"];

fn line(p: &Packet, n: usize) -> String {
    let fam = if p.family == Family::V4 { 4 } else { 6 };
    format!(
        "{fam} {} {} {} {} {} {} {} {} {} {}\n",
        p.proto,
        p.saddr,
        p.daddr,
        p.sport.unwrap_or(0),
        p.dport.unwrap_or(0),
        p.tcp_flags.unwrap_or(0),
        p.icmp_type.unwrap_or(0),
        p.icmp_code.unwrap_or(0),
        p.mark,
        EXTENSION_HEADERS[n % EXTENSION_HEADERS.len()]
    )
}

#[test]
fn the_kernel_gives_random_sources_the_languages_verdicts() {
    let Some(ns) = Netns::new("verdicts") else { return };
    if !has_tool("nft") {
        return;
    }
    // Two interfaces to leave by, `ab` (the default routes) and `b`
    // (10.0.1.0/24, fd00::1:0/112), as the kernel domain's packets expect:
    // veths whose peers stay in the namespace, with no chain on their way
    // in, and no neighbour to resolve (`arp off`), so that no send waits
    // on one or fails for want of it.
    ns.sh(
        "ip link add name ab type veth peer name abpeer && ip link add name b type veth peer name bpeer \
         && ip link set abpeer up && ip link set bpeer up \
         && ip link set dev ab up arp off && ip link set dev b up arp off \
         && ip addr add 192.0.2.1/32 dev ab && ip -6 addr add fd01::1/128 dev ab nodad \
         && ip route add default dev ab && ip route add 10.0.1.0/24 dev b \
         && ip -6 route add default dev ab && ip -6 route add fd00::1:0/112 dev b",
    );
    let seed = env_number("SHRIEK_VERDICT_SEED", 1);
    let rounds = env_number("SHRIEK_VERDICT_ROUNDS", 40);
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &bytes);
    let mut runner = TestRunner::new_with_rng(Config::default(), rng);
    let (mut accepted, mut refused) = (0, 0);
    for round in 0..rounds {
        let (source, packets) = source_and_packets(Domain::Kernel, 48)
            .new_tree(&mut runner)
            .expect("a source")
            .current();
        let policy = source.text();
        // The tables of the last round go: this round may have fewer.
        ns.sh("nft flush ruleset");
        let file = temp_file(&format!("verdicts-{}-{round}.shr", std::process::id()), &policy);
        let path = file.to_str().expect("utf-8 path");
        let applied = shriekc(&["apply", "--force", "--netns", &ns.name, path]);
        assert_eq!(applied.status.code(), Some(0), "{policy}\n{}", text(&applied.stderr));
        let input: String = packets.iter().enumerate().map(|(n, p)| line(p, n)).collect();
        let sent = output_with_stdin(
            Command::new("ip").args(["netns", "exec", &ns.name, python(), "-c", SENDER]),
            input.as_bytes(),
        );
        assert!(sent.status.success(), "the sender failed: {}", text(&sent.stderr));
        let answers = text(&sent.stdout);
        let answers: Vec<&str> = answers.lines().collect();
        assert_eq!(answers.len(), packets.len(), "{}", text(&sent.stderr));
        let mut wrong = Vec::new();
        for (n, (p, answer)) in packets.iter().zip(&answers).enumerate() {
            let want = source.evaluate(p, LimitMode::UnderRate);
            let got = match *answer {
                "accept" => Outcome::Accept,
                "EPERM" => Outcome::Drop,
                other => panic!("sending {} failed with {other}\n{policy}", packet_text(p)),
            };
            if got == Outcome::Accept {
                accepted += 1;
            } else {
                refused += 1;
            }
            if (want == Outcome::Accept) != (got == Outcome::Accept) {
                wrong.push(format!(
                    "{} mark {:#x}, extension headers {}: want {want:?}, the kernel {got:?}",
                    packet_text(p),
                    p.mark,
                    EXTENSION_HEADERS[n % EXTENSION_HEADERS.len()]
                ));
            }
        }
        assert!(
            wrong.is_empty(),
            "round {round} (seed {seed}):\n{}\n--- source ---\n{policy}\n--- kernel ---\n{}",
            wrong.join("\n"),
            ns.nft(&["list", "ruleset"])
        );
    }
    // Both fates are common, or the comparison above says little.
    assert!(accepted > 50 && refused > 50, "{accepted} accepted, {refused} refused");
}
