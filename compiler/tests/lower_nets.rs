//! Maps keyed on a masked address (`ip saddr & 255.255.255.0 . th dport`):
//! runs of rules whose networks share one prefix length become hash maps
//! of network addresses instead of interval maps, and every packet keeps
//! the verdict the reference evaluator gives it. The random policies mix
//! one length with others (nested networks), exact and ranged ports,
//! sources and destinations, both families, so that the masked shape is
//! made where it applies and the interval map stays where it does not.

use proptest::prelude::*;
use shriek_compiler::emit::{emit_nft, packet_text};
use shriek_compiler::eval::{evaluate, LimitMode};
use shriek_compiler::ir::{
    Action, BaseChain, Chain, ChainId, ChainKind, ChainPolicy, Hook, Policy, Rule, RuleId, Table,
    Verdict,
};
use shriek_compiler::lower::{lower, Strategy as Lowering};
use shriek_compiler::nft::{self, AddrField, Selector};
use shriek_compiler::nft_eval::trace_model;
use shriek_compiler::packet::default_tcp_flags;
use shriek_compiler::space::{
    CtState, Cube, Families, Family, Intervals, Packet, Protos, PROTO_TCP, PROTO_UDP,
};
use shriek_grammar::{Loc, SourceMap};

/// The networks' common base: 10.0.0.0, or 2001:db8:: for IPv6.
fn base(family: Family) -> u128 {
    match family {
        Family::V4 => 0x0a00_0000,
        Family::V6 => 0x2001_0db8 << 96,
    }
}

fn bits(family: Family) -> u32 {
    match family {
        Family::V4 => 32,
        Family::V6 => 128,
    }
}

/// The `n`-th network of prefix length `len` from the base: networks of
/// one length are equal or apart, a longer one may sit inside a shorter.
fn net(family: Family, len: u32, n: u128) -> (u128, u128) {
    let size = 1u128 << (bits(family) - len);
    let lo = base(family) + n * size;
    (lo, lo + size - 1)
}

/// Prefix lengths: mostly the first, so that runs of one length form.
const LENGTHS: [(u32, u32); 3] = [(24, 120), (24, 120), (28, 124)];

#[derive(Clone, Debug)]
struct Spec {
    family: Family,
    /// 0: `saddr NET proto dport P`, 1: `daddr NET proto dport P`, 2:
    /// `saddr NET` alone.
    shape: u8,
    length: usize,
    n: u128,
    proto: u8,
    /// Low port and width (0 for one port).
    port: (u16, u16),
    drop: bool,
    counter: bool,
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        prop_oneof![3 => Just(Family::V4), 1 => Just(Family::V6)],
        prop_oneof![3 => Just(0u8), 1 => Just(1u8), 1 => Just(2u8)],
        0..LENGTHS.len(),
        0..4u128,
        prop_oneof![Just(PROTO_TCP), Just(PROTO_UDP)],
        (1..4u16, prop_oneof![4 => Just(0u16), 1 => Just(1u16)]),
        any::<bool>(),
        prop::bool::weighted(0.2),
    )
        .prop_map(|(family, shape, length, n, proto, port, drop, counter)| Spec {
            family,
            shape,
            length,
            n,
            proto,
            port,
            drop,
            counter,
        })
}

fn length(family: Family, i: usize) -> u32 {
    match family {
        Family::V4 => LENGTHS[i].0,
        Family::V6 => LENGTHS[i].1,
    }
}

fn build(specs: &[Spec], rule_counters: bool) -> Policy {
    let rules = specs
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let (lo, hi) = net(s.family, length(s.family, s.length), s.n);
            let addr = Some(Intervals::range(lo, hi));
            let port = Some(Intervals::range(s.port.0.into(), (s.port.0 + s.port.1).into()));
            let fam = Families::only(s.family);
            let proto = Protos::only(s.proto);
            let cube = match s.shape {
                0 => Cube { family: fam, proto, saddr: addr, dport: port, ..Cube::full() },
                1 => Cube { family: fam, proto, daddr: addr, dport: port, ..Cube::full() },
                _ => Cube { family: fam, saddr: addr, ..Cube::full() },
            };
            Rule {
                id: RuleId { table: 0, chain: ChainId(0), index: i as u32 },
                loc: Loc::default(),
                space: vec![cube],
                actions: if s.counter { vec![Action::Counter(None)] } else { Vec::new() },
                verdict: Some(if s.drop { Verdict::Drop } else { Verdict::Accept }),
                verdict_loc: None,
                allows: Vec::new(),
            }
        })
        .collect();
    let chain = Chain {
        name: "input".into(),
        loc: Loc::default(),
        base: Some(BaseChain {
            hook: Hook::Input,
            kind: ChainKind::Filter,
            priority: 0,
            policy: ChainPolicy::Accept,
        }),
        rules,
    };
    Policy {
        tables: vec![Table {
            name: "t".into(),
            loc: Loc::default(),
            chains: vec![chain],
            counters: Vec::new(),
            rule_counters,
        }],
    }
}

/// A packet in, at the edge of or beside one of the networks.
fn packet() -> impl Strategy<Value = Packet> {
    (
        prop_oneof![3 => Just(Family::V4), 1 => Just(Family::V6)],
        (0..LENGTHS.len(), 0..5u128, 0..3u8),
        (0..LENGTHS.len(), 0..5u128, 0..3u8),
        prop_oneof![Just(PROTO_TCP), Just(PROTO_UDP)],
        0..5u16,
    )
        .prop_map(|(family, s, d, proto, dport)| {
            let addr = |(len, n, at): (usize, u128, u8)| {
                let (lo, hi) = net(family, length(family, len), n);
                match at {
                    0 => lo,
                    1 => lo + 1,
                    _ => hi,
                }
            };
            Packet {
                family,
                proto,
                saddr: addr(s),
                daddr: addr(d),
                sport: Some(40000),
                dport: Some(dport),
                iif: "eth0".into(),
                oif: String::new(),
                ct: CtState::New,
                icmp_type: None,
                icmp_code: None,
                tcp_flags: (proto == PROTO_TCP).then(|| default_tcp_flags(CtState::New)),
                mark: 0,
            }
        })
}

fn masked_maps(rs: &nft::Ruleset) -> Vec<&nft::Set> {
    rs.tables
        .iter()
        .flat_map(|t| &t.sets)
        .filter(|s| s.key.iter().any(|k| matches!(k, Selector::Net { .. })))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: shriek_testkit::prop_cases(1500),
        max_shrink_iters: 20000,
        ..ProptestConfig::default()
    })]

    #[test]
    fn masked_maps_keep_every_verdict(
        specs in prop::collection::vec(spec(), 1..16),
        packets in prop::collection::vec(packet(), 24),
        rule_counters in any::<bool>(),
    ) {
        let policy = build(&specs, rule_counters);
        for strategy in Lowering::ALL {
            let lowered = lower(&policy, strategy);
            for s in masked_maps(&lowered.ruleset) {
                // A masked map holds network addresses, one value each.
                prop_assert!(!s.interval, "{} holds ranges", s.name);
                let at = s.key.iter().position(|k| matches!(k, Selector::Net { .. })).unwrap();
                let mask = s.key[at].net_mask().unwrap();
                for e in &s.elements {
                    let nft::Part::Int(lo, hi) = e.key.0[at] else { panic!("not a number") };
                    prop_assert!(lo == hi && lo & !mask == 0, "{:?} in {}", e.key, s.name);
                }
            }
            for p in &packets {
                let want = evaluate(&policy, Hook::Input, p, LimitMode::UnderRate).outcome;
                let got = trace_model(&lowered.ruleset, Hook::Input, p, LimitMode::UnderRate);
                prop_assert_eq!(
                    want,
                    got.outcome,
                    "strategy {:?}, packet {}\nmodel path: {:#?}\nruleset:\n{}",
                    strategy,
                    packet_text(p),
                    got.steps.iter().map(|s| &s.text).collect::<Vec<_>>(),
                    emit_nft(&lowered.ruleset, &SourceMap::new())
                );
            }
        }
    }
}

/// The random policies do build masked maps, of both families and both
/// address fields, and leave interval maps where lengths mix.
#[test]
fn random_policies_build_masked_maps() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let (mut masked, mut interval) = (0, 0);
    let mut fields = std::collections::BTreeSet::new();
    for _ in 0..300 {
        let specs = prop::collection::vec(spec(), 4..16).new_tree(&mut runner).unwrap().current();
        let lowered = lower(&build(&specs, true), Lowering::Dispatch);
        for s in &lowered.ruleset.tables[0].sets {
            for k in &s.key {
                if let Selector::Net { field, .. } = k {
                    fields.insert(*field);
                    masked += 1;
                }
            }
            interval += usize::from(s.interval);
        }
    }
    assert!(masked > 100, "only {masked} masked maps in 300 policies");
    assert!(interval > 50, "only {interval} interval maps in 300 policies");
    assert_eq!(fields.len(), 4, "masked fields: {fields:?}");
}

/// The bench's prefix rules (`saddr NET/24 udp dport P`): one hash map
/// keyed on the masked source and the port, printed as nft reads it.
#[test]
fn prefixes_of_one_length_make_a_hash_map() {
    let specs: Vec<Spec> = (0..8)
        .map(|i| Spec {
            family: Family::V4,
            shape: 0,
            length: 0,
            n: i,
            proto: PROTO_UDP,
            port: (1 + (i % 3) as u16, 0),
            drop: i % 2 == 1,
            counter: false,
        })
        .collect();
    let lowered = lower(&build(&specs, true), Lowering::Auto);
    let sets = &lowered.ruleset.tables[0].sets;
    assert_eq!(sets.len(), 1, "{:?}", lowered.explain);
    let m = &sets[0];
    assert_eq!(
        m.key,
        vec![Selector::Net { field: AddrField::Ip4Saddr, len: 24 }, Selector::ThDport]
    );
    assert!(!m.interval);
    assert_eq!(m.elements.len(), 8);
    let text = emit_nft(&lowered.ruleset, &SourceMap::new());
    assert!(
        text.contains(
            "meta l4proto udp ip saddr & 255.255.255.0 . th dport vmap @input_saddr_dport4"
        ),
        "{text}"
    );
    assert!(text.contains("type ipv4_addr . inet_service"), "{text}");
    assert!(text.contains("10.0.3.0 . 1 : drop"), "{text}");
}
