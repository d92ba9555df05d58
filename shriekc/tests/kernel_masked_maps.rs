//! Maps keyed on a masked address (`ip saddr & 255.255.255.0 . th dport`)
//! in the real kernel: a policy whose runs of prefix rules share one length
//! (sources and destinations, IPv4 and IPv6, one protocol and two, with
//! ports and without), beside a run whose lengths mix, applied with every
//! strategy into a namespace of this test's own; real packets in, at the
//! edges of and beside each network are sent from a raw socket on the
//! output hook (a packet the firewall drops fails with EPERM), each
//! verdict held to the language's evaluator. `plan` then reads the tables
//! back as the policy.
//!
//! Under `CI=true` this test must run; elsewhere it skips with a message
//! when not root or when namespaces cannot be made.

use shriek_compiler::eval::{evaluate, LimitMode};
use shriek_compiler::ir::{Hook, Outcome};
use shriek_compiler::space::{CtState, Family, Packet, PROTO_TCP, PROTO_UDP};
use shriek_testkit::raw::{self, Raw, Sent};
use shriek_testkit::{has_tool, temp_file, text, Netns};

/// Runs of five rules each (`auto` folds runs of four): /24 sources with
/// udp ports, /24 destinations, /120 IPv6 sources, /24 sources alone; in
/// a table of their own (rules of one kind in a chain join one run), /24
/// sources with tcp and udp ports, and a run whose lengths mix (/24 and
/// /28), which keeps its interval map.
const POLICY: &str = "table masked {
  chain output hook output policy accept {
    saddr 10.0.0.0/24 udp dport 1 drop
    saddr 10.0.1.0/24 udp dport 2 drop
    saddr 10.0.2.0/24 udp dport 1 accept
    saddr 10.0.3.0/24 udp dport 3 drop
    saddr 10.0.4.0/24 udp dport 2 drop
    daddr 10.1.0.0/24 tcp dport 1 drop
    daddr 10.1.1.0/24 tcp dport 2 drop
    daddr 10.1.2.0/24 tcp dport 3 drop
    daddr 10.1.3.0/24 tcp dport 1 drop
    daddr 10.1.4.0/24 tcp dport 2 drop
    saddr fd00::/120 udp dport 1 drop
    saddr fd00::100/120 udp dport 2 drop
    saddr fd00::200/120 udp dport 3 drop
    saddr fd00::300/120 udp dport 1 drop
    saddr fd00::400/120 udp dport 2 drop
    saddr 10.3.0.0/24 drop
    saddr 10.3.1.0/24 drop
    saddr 10.3.2.0/24 drop
    saddr 10.3.3.0/24 drop
    saddr 10.3.4.0/24 drop
  }
}
table protos {
  chain output hook output policy accept {
    saddr 10.2.0.0/24 tcp dport 1 drop
    saddr 10.2.1.0/24 udp dport 1 drop
    saddr 10.2.2.0/24 tcp dport 2 drop
    saddr 10.2.3.0/24 udp dport 3 drop
    saddr 10.2.4.0/24 tcp dport 3 drop
  }
}
table mixed {
  chain output hook output policy accept {
    saddr 10.4.0.0/24 udp dport 1 drop
    saddr 10.4.1.16/28 udp dport 1 drop
    saddr 10.4.2.0/24 udp dport 2 drop
    saddr 10.4.3.32/28 udp dport 3 drop
    saddr 10.4.4.0/24 udp dport 1 drop
  }
}
";

/// Packets from and to the first, second and last address of each /24
/// (and each IPv6 /120) of the policy's ranges and their neighbours, to
/// ports 1 to 4, by udp and tcp.
fn packets() -> Vec<Packet> {
    let mut out = Vec::new();
    let v4 = |b: u128, c: u128, d: u128| (10 << 24) | (b << 16) | (c << 8) | d;
    for proto in [PROTO_UDP, PROTO_TCP] {
        for dport in 1..=4u16 {
            for b in 0..=4u128 {
                for c in 0..=5u128 {
                    for d in [0, 1, 17, 33, 255] {
                        // Sources in the ranges to a plain destination,
                        // and the other way round.
                        out.push(packet(Family::V4, proto, v4(b, c, d), v4(9, 0, 1), dport));
                        if b == 1 {
                            out.push(packet(Family::V4, proto, v4(9, 0, 1), v4(b, c, d), dport));
                        }
                    }
                }
            }
            for c in 0..=5u128 {
                for d in [0, 1, 255] {
                    let s = (0xfd00u128 << 112) | (c << 8) | d;
                    out.push(packet(Family::V6, proto, s, (0xfd01u128 << 112) | 1, dport));
                }
            }
        }
    }
    out
}

fn packet(family: Family, proto: u8, saddr: u128, daddr: u128, dport: u16) -> Packet {
    Packet {
        family,
        proto,
        saddr,
        daddr,
        sport: Some(40000),
        dport: Some(dport),
        iif: String::new(),
        oif: "ab".into(),
        ct: CtState::New,
        icmp_type: None,
        icmp_code: None,
        tcp_flags: (proto == PROTO_TCP).then_some(0x02),
        mark: 0,
    }
}

/// A packet in a failure's message: `family proto saddr daddr dport`.
fn line(p: &Packet) -> String {
    let fam = if p.family == Family::V4 { 4 } else { 6 };
    format!("{fam} {} {} {} {}", p.proto, p.saddr, p.daddr, p.dport.unwrap_or(0))
}

#[test]
fn the_kernel_gives_masked_maps_the_languages_verdicts() {
    let Some(ns) = Netns::new("masked") else { return };
    if !has_tool("nft") {
        return;
    }
    // One interface to leave by, with no neighbour to resolve.
    ns.sh("ip link add name ab type veth peer name abpeer && ip link set abpeer up \
         && ip link set dev ab up arp off \
         && ip addr add 192.0.2.1/32 dev ab && ip -6 addr add fd01::1/128 dev ab nodad \
         && ip route add default dev ab && ip -6 route add default dev ab");
    let fe = shriek_compiler::resolve::resolve_str("masked.shr", POLICY);
    let policy = fe.policy.expect("the policy resolves");
    let packets = packets();
    let file = temp_file(&format!("masked-{}.shr", std::process::id()), POLICY);
    let path = file.to_str().expect("utf-8 path");
    for strategy in ["auto", "dispatch", "sequential"] {
        ns.sh("nft flush ruleset");
        let run = |args: &[&str]| shriek_testkit::run(env!("CARGO_BIN_EXE_shriekc"), args);
        let applied = run(&["apply", "--force", "--strategy", strategy, "--netns", &ns.name, path]);
        assert_eq!(applied.status.code(), Some(0), "{}", text(&applied.stderr));
        let listing = ns.nft(&["list", "ruleset"]);
        if strategy != "sequential" {
            for key in [
                "ip saddr & 255.255.255.0 . ",
                "ip saddr & 255.255.255.0 . meta l4proto . ",
                "ip daddr & 255.255.255.0 . ",
                "ip6 saddr & ffff:ffff:ffff:ffff:ffff:ffff:ffff:ff00 . ",
                "ip saddr & 255.255.255.0 vmap",
            ] {
                assert!(listing.contains(key), "{strategy}: no `{key}` in\n{listing}");
            }
            assert!(listing.contains("flags interval"), "{strategy}: the mixed run\n{listing}");
        }
        let raws: Vec<Raw<'_>> = packets.iter().map(|packet| Raw { packet, ext: &[] }).collect();
        let answers = raw::send(&ns, &raws);
        let (mut accepted, mut refused) = (0, 0);
        let mut wrong = Vec::new();
        for (p, answer) in packets.iter().zip(&answers) {
            let want = evaluate(&policy, Hook::Output, p, LimitMode::UnderRate).outcome;
            let got = match answer {
                Sent::Accepted => Outcome::Accept,
                Sent::Refused => Outcome::Drop,
                Sent::Failed(e) => panic!("sending {} failed with {e}", line(p)),
            };
            if got == Outcome::Accept {
                accepted += 1;
            } else {
                refused += 1;
            }
            if want != got {
                wrong.push(format!("{}: want {want:?}, the kernel {got:?}", line(p)));
            }
        }
        assert!(wrong.is_empty(), "{strategy}:\n{}\n--- kernel ---\n{listing}", wrong.join("\n"));
        assert!(
            accepted > 100 && refused > 100,
            "{strategy}: {accepted} accepted, {refused} refused"
        );
        // The masked keys read back as what the policy lowers to.
        let plan = run(&[
            "plan",
            "--detailed-exitcode",
            "--strategy",
            strategy,
            "--netns",
            &ns.name,
            path,
        ]);
        assert_eq!(plan.status.code(), Some(0), "{}{}", text(&plan.stdout), text(&plan.stderr));
    }
}
