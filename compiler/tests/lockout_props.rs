//! The lockout guard's port 22 question against brute force: on random
//! small policies (source ranges, source ports, interfaces, jumps, limits,
//! accept and drop, before a default drop), "every new SSH connection is
//! dropped" holds exactly when no packet of a box that covers every cell
//! the rules can tell apart gets in.

use proptest::prelude::*;
use shriek_compiler::eval::{evaluate, LimitMode};
use shriek_compiler::ir::{Hook, Outcome, Policy};
use shriek_compiler::lockout::{check, Lockout};
use shriek_compiler::nft;
use shriek_compiler::packet::default_tcp_flags;
use shriek_compiler::resolve::resolve_str;
use shriek_compiler::space::{CtState, Family, Packet, PROTO_TCP};

/// Rules name 10.0.0.0-10.0.0.15, source ports 1000-1015 and these interfaces.
const IFACES: [&str; 3] = ["eth0", "wan0", "lo"];

#[derive(Clone, Debug)]
struct RuleSpec {
    saddr: Option<(u8, u8)>,
    sport: Option<(u16, u16)>,
    iif: Option<usize>,
    dport22: bool,
    limited: bool,
    verdict: usize,
}

fn rule() -> impl Strategy<Value = RuleSpec> {
    (
        proptest::option::of((0u8..16, 0u8..16)),
        proptest::option::of((0u16..16, 0u16..16)),
        proptest::option::of(0..IFACES.len()),
        any::<bool>(),
        prop::bool::weighted(0.2),
        0usize..3,
    )
        .prop_map(|(saddr, sport, iif, dport22, limited, verdict)| RuleSpec {
            saddr: saddr.map(|(a, b)| (a.min(b), a.max(b))),
            sport: sport.map(|(a, b)| (1000 + a.min(b), 1000 + a.max(b))),
            iif,
            dport22,
            limited,
            verdict,
        })
}

fn text(r: &RuleSpec) -> String {
    let mut words = Vec::new();
    if let Some((a, b)) = r.saddr {
        words.push(format!("saddr 10.0.0.{a}-10.0.0.{b}"));
    }
    if let Some(i) = r.iif {
        words.push(format!("iif {}", IFACES[i]));
    }
    match (r.sport, r.dport22) {
        (Some((a, b)), true) => words.push(format!("tcp sport {a}-{b} tcp dport 22")),
        (Some((a, b)), false) => words.push(format!("tcp sport {a}-{b}")),
        (None, true) => words.push("tcp dport 22".into()),
        (None, false) => {}
    }
    if r.limited {
        words.push("limit 5/second".into());
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
    let mut iifs: Vec<&str> = IFACES.iter().copied().filter(|i| *i != "lo").collect();
    iifs.push("other0");
    for iif in iifs {
        for sport in 999..=1016u16 {
            let mut packets = Vec::new();
            for a in 0..=16u128 {
                packets.push((Family::V4, 0x0a00_0000 + a));
            }
            packets.push((Family::V4, 0x09ff_ffff));
            packets.push((Family::V6, 1));
            for (family, saddr) in packets {
                let packet = Packet {
                    family,
                    proto: PROTO_TCP,
                    saddr,
                    daddr: 1,
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
