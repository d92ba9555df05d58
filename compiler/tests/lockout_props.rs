//! The lockout guard's port 22 question against brute force: on random
//! small policies (source and destination ranges of both families, negated
//! sources, source ports, interfaces with wildcards and sets, tcp and sctp
//! port 22 matches, protocols, ct state, tcp flags, marks and `mark set`,
//! jumps, limits, accept and drop, before a default drop), "every new SSH
//! connection is dropped" holds exactly when no packet of a box that
//! covers every cell the rules can tell apart gets in.

use proptest::prelude::*;
use shriek_compiler::eval::{evaluate, LimitMode};
use shriek_compiler::ir::{Hook, Outcome, Policy};
use shriek_compiler::lockout::{check, Lockout};
use shriek_compiler::nft;
use shriek_compiler::packet::default_tcp_flags;
use shriek_compiler::resolve::resolve_str;
use shriek_compiler::space::{CtState, Family, Packet, PROTO_TCP};

/// Rules name sources 10.0.0.0-10.0.0.7 (or fd00::0-fd00::7), destinations
/// 10.0.1.0-10.0.1.3 (or fd00:1::0-fd00:1::3), source ports 1000-1007
/// and these interfaces (`eth*` a wildcard).
const IFACES: [&str; 5] = ["eth0", "wan0", "lo", "eth*", "{ eth0, lo }"];
/// Matches on what a new SSH connection's first packet carries (tcp, syn,
/// ct new, mark 0) or does not, that the grid does not split on: each
/// holds for all of them or for none.
const OTHERS: [&str; 14] = [
    "proto tcp",
    "proto udp",
    "proto != tcp",
    "proto { 6, 132 }",
    "ct state new",
    "ct state established,related",
    "ct state != new",
    "tcp flags syn / syn,ack",
    "tcp flags ack",
    "tcp flags ! syn",
    "mark 0",
    "mark != 0",
    "mark 0x1-0xffffffff",
    "family ipv6",
];
/// How a rule names the destination port: 22, not 22, a range with it, a
/// range ending below it, and SCTP's port 22.
const PORT22: [&str; 5] =
    ["tcp dport 22", "tcp dport != 22", "tcp dport 0-22", "tcp dport 0-21", "sctp dport 22"];

#[derive(Clone, Debug)]
struct RuleSpec {
    /// Source range, negated, IPv6.
    saddr: Option<(u8, u8, bool, bool)>,
    daddr: Option<(u8, u8, bool)>,
    sport: Option<(u16, u16)>,
    iif: Option<(usize, bool)>,
    dport22: Option<usize>,
    other: Option<usize>,
    mark_set: bool,
    limited: bool,
    verdict: usize,
}

fn rule() -> impl Strategy<Value = RuleSpec> {
    let pair = |n: u8| (0..n, 0..n).prop_map(|(a, b)| (a.min(b), a.max(b)));
    (
        proptest::option::of((pair(8), prop::bool::weighted(0.2), prop::bool::weighted(0.3))),
        proptest::option::weighted(0.3, (pair(4), prop::bool::weighted(0.3))),
        proptest::option::of((0u16..8, 0u16..8)),
        proptest::option::of((0..IFACES.len(), prop::bool::weighted(0.2))),
        proptest::option::of(prop_oneof![4 => Just(0), 1 => 1..PORT22.len()]),
        proptest::option::weighted(0.3, 0..OTHERS.len()),
        prop::bool::weighted(0.1),
        prop::bool::weighted(0.2),
        0usize..3,
    )
        .prop_map(|(saddr, daddr, sport, iif, dport22, other, mark_set, limited, verdict)| {
            RuleSpec {
                saddr: saddr.map(|((a, b), neg, v6)| (a, b, neg, v6)),
                daddr: daddr.map(|((a, b), v6)| (a, b, v6)),
                sport: sport.map(|(a, b)| (1000 + a.min(b), 1000 + a.max(b))),
                iif,
                dport22,
                other,
                mark_set,
                limited,
                verdict,
            }
        })
}

fn text(r: &RuleSpec) -> String {
    let mut words = Vec::new();
    if let Some((a, b, neg, v6)) = r.saddr {
        let neg = if neg { "!= " } else { "" };
        if v6 {
            words.push(format!("saddr {neg}fd00::{a}-fd00::{b}"));
        } else {
            words.push(format!("saddr {neg}10.0.0.{a}-10.0.0.{b}"));
        }
    }
    if let Some((a, b, v6)) = r.daddr {
        if v6 {
            words.push(format!("daddr fd00:1::{a}-fd00:1::{b}"));
        } else {
            words.push(format!("daddr 10.0.1.{a}-10.0.1.{b}"));
        }
    }
    if let Some((i, neg)) = r.iif {
        words.push(format!("iif {}{}", if neg { "!= " } else { "" }, IFACES[i]));
    }
    match (r.sport, r.dport22) {
        (Some((a, b)), Some(d)) => words.push(format!("tcp sport {a}-{b} {}", PORT22[d])),
        (Some((a, b)), None) => words.push(format!("tcp sport {a}-{b}")),
        (None, Some(d)) => words.push(PORT22[d].into()),
        (None, None) => {}
    }
    if let Some(o) = r.other {
        words.push(OTHERS[o].into());
    }
    if r.limited {
        words.push("limit 5/second".into());
    }
    if r.mark_set {
        words.push("mark set 0x1".into());
    }
    words.push(["accept", "drop", "jump side"][r.verdict].into());
    words.join(" ")
}

fn policy(main: &[RuleSpec], side: &[RuleSpec]) -> Policy {
    let body = |rules: &[RuleSpec]| -> String {
        // `jump side` inside `side` would loop: there it returns.
        rules.iter().map(|r| format!("    {}\n", text(r))).collect()
    };
    let side_rules: Vec<RuleSpec> = side
        .iter()
        .cloned()
        .map(|mut r| {
            if r.verdict == 2 {
                r.verdict = 1
            }
            r
        })
        .collect();
    let src = format!(
        "table t {{\n  chain input hook input policy drop {{\n{}  }}\n  chain side {{\n{}  }}\n}}\n",
        body(main),
        body(&side_rules)
    );
    let fe = resolve_str("p.shr", &src);
    fe.policy.unwrap_or_else(|| panic!("{src}\n{:?}", fe.diagnostics))
}

/// Every packet of a box around everything the rules name: each cell of
/// their grid has a point in it.
fn brute_force_accepts(p: &Policy) -> bool {
    let iifs = ["eth0", "wan0", "eth1", "other0"];
    for iif in iifs {
        for sport in 999..=1008u16 {
            let mut packets = Vec::new();
            for a in 0..=8u128 {
                for d in [0, 1, 2, 3, 4] {
                    packets.push((Family::V4, 0x0a00_0000 + a, 0x0a00_0100 + d));
                    packets.push((Family::V6, (0xfd00 << 112) + a, (0xfd00_0001 << 96) + d));
                }
            }
            packets.push((Family::V4, 0x09ff_ffff, 1));
            packets.push((Family::V6, 1, 1));
            for (family, saddr, daddr) in packets {
                let packet = Packet {
                    family,
                    proto: PROTO_TCP,
                    saddr,
                    daddr,
                    sport: Some(sport),
                    dport: Some(22),
                    iif: iif.into(),
                    oif: String::new(),
                    ct: CtState::New,
                    icmp_type: None,
                    icmp_code: None,
                    tcp_flags: Some(default_tcp_flags(CtState::New)),
                    mark: 0,
                };
                let passes = [Hook::Prerouting, Hook::Input].into_iter().all(|h| {
                    evaluate(p, h, &packet, LimitMode::UnderRate).outcome == Outcome::Accept
                });
                if passes {
                    return true;
                }
            }
        }
    }
    false
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(shriek_testkit::prop_cases(300)))]

    #[test]
    fn the_port_22_lockout_is_exact(
        main in proptest::collection::vec(rule(), 0..7),
        side in proptest::collection::vec(rule(), 0..4),
    ) {
        let p = policy(&main, &side);
        let v = check(&p, &nft::Ruleset::default(), None);
        prop_assert!(v.gave_up.is_none());
        let locked = v.lockouts.iter().any(|l| matches!(l, Lockout::Ssh { .. }));
        prop_assert_eq!(locked, !brute_force_accepts(&p), "{:?}", v.lockouts);
    }
}
