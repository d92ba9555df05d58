//! The shadow analysis against brute force: random small policies over a
//! tiny packet domain, every packet of which is enumerated.
//!
//! The domain holds every value the generated rules can tell apart, plus one
//! "other" value per field (a port, address, interface and ct state no rule
//! names), so a coverage claim is checked on all packets, not just on the
//! values rules mention.

use std::collections::BTreeSet;

use proptest::prelude::*;
use shriek_compiler::analysis::{self, shadow};
use shriek_compiler::eval::{self, LimitMode, Step};
use shriek_compiler::ir::{
    self, Action, BaseChain, ChainId, ChainKind, ChainPolicy, Hook, Limit, RateUnit, RuleId,
    Verdict,
};
use shriek_compiler::space::{
    CtState, CtStates, Cube, Families, Family, Intervals, Names, Packet, Protos, PORT_MAX,
    PROTO_ICMP, PROTO_TCP, PROTO_UDP,
};
use shriek_grammar::{FileId, Loc, Span};

const V4_BASE: u128 = 0x0a00_0000;
const V6_BASE: u128 = 0xfd00 << 112;
/// Prefixes as offsets from the family's base: /30, /31, /31, /32.
const PREFIXES: [(u128, u128); 4] = [(0, 3), (0, 1), (2, 3), (1, 1)];
const PROTOS: [u8; 3] = [PROTO_TCP, PROTO_UDP, PROTO_ICMP];
const NAMES: [&str; 2] = ["a", "b"];
const STATES: [CtState; 2] = [CtState::New, CtState::Established];

#[derive(Clone, Debug)]
struct Matches {
    family: Option<Family>,
    proto: Option<(Vec<u8>, bool)>,
    saddr: Option<(Family, usize, bool)>,
    dport: Option<(u8, u16, u16, bool)>,
    iif: Option<(usize, bool)>,
    ct: Option<Vec<bool>>,
}

#[derive(Clone, Copy, Debug)]
enum Act {
    Accept,
    Drop,
    Reject,
    Counter,
    LimitAccept,
    LimitDrop,
    Return,
    Jump,
    Goto,
    Nat,
}

fn matches_strategy() -> impl Strategy<Value = Matches> {
    let family = prop::option::weighted(0.2, prop_oneof![Just(Family::V4), Just(Family::V6)]);
    let proto = prop::option::weighted(
        0.2,
        (prop::collection::vec(prop::sample::select(PROTOS.to_vec()), 1..3), any::<bool>()),
    );
    let saddr = prop::option::weighted(
        0.6,
        (
            prop_oneof![Just(Family::V4), Just(Family::V6)],
            0..PREFIXES.len(),
            prop::bool::weighted(0.2),
        ),
    );
    let dport = prop::option::weighted(
        0.7,
        (
            prop::sample::select(vec![PROTO_TCP, PROTO_UDP]),
            0u16..8,
            0u16..8,
            prop::bool::weighted(0.2),
        )
            .prop_map(|(p, a, b, n)| (p, a.min(b), a.max(b), n)),
    );
    let iif = prop::option::weighted(0.3, (0..NAMES.len(), any::<bool>()));
    let ct = prop::option::weighted(0.2, prop::collection::vec(any::<bool>(), STATES.len()));
    (family, proto, saddr, dport, iif, ct).prop_map(|(family, proto, saddr, dport, iif, ct)| {
        Matches { family, proto, saddr, dport, iif, ct }
    })
}

fn base_act() -> impl Strategy<Value = Act> {
    prop_oneof![
        4 => Just(Act::Accept),
        4 => Just(Act::Drop),
        1 => Just(Act::Reject),
        1 => Just(Act::Counter),
        1 => Just(Act::LimitAccept),
        1 => Just(Act::LimitDrop),
        1 => Just(Act::Return),
        2 => Just(Act::Jump),
        1 => Just(Act::Goto),
        1 => Just(Act::Nat),
    ]
}

fn regular_act() -> impl Strategy<Value = Act> {
    prop_oneof![
        3 => Just(Act::Accept),
        3 => Just(Act::Drop),
        1 => Just(Act::Reject),
        1 => Just(Act::Counter),
        2 => Just(Act::Return),
    ]
}

fn addr_range(f: Family, idx: usize) -> (u128, u128) {
    let base = if f == Family::V4 { V4_BASE } else { V6_BASE };
    (base + PREFIXES[idx].0, base + PREFIXES[idx].1)
}

fn space_of(m: &Matches) -> Vec<Cube> {
    let mut parts: Vec<Vec<Cube>> = Vec::new();
    if let Some(f) = m.family {
        parts.push(vec![Cube { family: Families::only(f), ..Cube::full() }]);
    }
    if let Some((ps, neg)) = &m.proto {
        let mut set = Protos::NONE;
        for &p in ps {
            set.insert(p);
        }
        let set = if *neg { set.complement() } else { set };
        parts.push(vec![Cube { proto: set, ..Cube::full() }]);
    }
    if let Some((f, idx, neg)) = m.saddr {
        let (lo, hi) = addr_range(f, idx);
        let mut iv = Intervals::range(lo, hi);
        if neg {
            iv = iv.complement(f.max_addr());
        }
        parts.push(vec![Cube { family: Families::only(f), saddr: Some(iv), ..Cube::full() }]);
    }
    if let Some((p, lo, hi, neg)) = m.dport {
        let mut iv = Intervals::range(lo.into(), hi.into());
        if neg {
            iv = iv.complement(PORT_MAX);
        }
        parts.push(vec![Cube { proto: Protos::only(p), dport: Some(iv), ..Cube::full() }]);
    }
    if let Some((i, neg)) = m.iif {
        let set: BTreeSet<String> = [NAMES[i].to_string()].into();
        let names = if neg { Names::AllBut(set) } else { Names::Only(set) };
        parts.push(vec![Cube { iif: names, ..Cube::full() }]);
    }
    if let Some(bits) = &m.ct {
        let mut set = CtStates::NONE;
        for (b, s) in bits.iter().zip(STATES) {
            if *b {
                set = set.union(CtStates::only(s));
            }
        }
        parts.push(vec![Cube { ct: set, ..Cube::full() }]);
    }
    let mut space = vec![Cube::full()];
    for part in parts {
        space = space
            .iter()
            .flat_map(|a| part.iter().map(move |b| a.intersect(b)))
            .filter(|c| !c.is_empty())
            .collect();
    }
    space
}

fn loc(chain: u32, index: u32) -> Loc {
    let start = chain * 1000 + index * 10;
    Loc::new(FileId(0), Span::new(start as usize, start as usize + 5))
}

fn rule(chain: u32, index: u32, m: &Matches, act: Act) -> ir::Rule {
    let limit = Action::Limit(Limit { rate: 1, per: RateUnit::Second, burst: None });
    let (actions, verdict) = match act {
        Act::Accept => (vec![], Some(Verdict::Accept)),
        Act::Drop => (vec![], Some(Verdict::Drop)),
        Act::Reject => (vec![], Some(Verdict::Reject)),
        Act::Counter => (vec![Action::Counter(None)], None),
        Act::LimitAccept => (vec![limit], Some(Verdict::Accept)),
        Act::LimitDrop => (vec![limit], Some(Verdict::Drop)),
        Act::Return => (vec![], Some(Verdict::Return)),
        Act::Jump => (vec![], Some(Verdict::Jump(ChainId(1)))),
        Act::Goto => (vec![], Some(Verdict::Goto(ChainId(1)))),
        Act::Nat => (vec![Action::Nat(ir::Nat::Masquerade)], None),
    };
    ir::Rule {
        id: RuleId { table: 0, chain: ChainId(chain), index },
        loc: loc(chain, index),
        space: space_of(m),
        actions,
        verdict,
        verdict_loc: None,
        allows: vec![],
    }
}

fn policy(base: &[(Matches, Act)], regular: &Option<Vec<(Matches, Act)>>) -> ir::Policy {
    let mut chains = vec![ir::Chain {
        name: "input".into(),
        loc: loc(9, 0),
        base: Some(BaseChain {
            hook: Hook::Input,
            kind: ChainKind::Filter,
            priority: 0,
            policy: ChainPolicy::Accept,
        }),
        rules: base
            .iter()
            .filter(|(_, a)| regular.is_some() || !matches!(a, Act::Jump | Act::Goto))
            .enumerate()
            .map(|(i, (m, a))| rule(0, i as u32, m, *a))
            .collect(),
    }];
    if let Some(rules) = regular {
        chains.push(ir::Chain {
            name: "sub".into(),
            loc: loc(9, 1),
            base: None,
            rules: rules.iter().enumerate().map(|(i, (m, a))| rule(1, i as u32, m, *a)).collect(),
        });
    }
    ir::Policy {
        tables: vec![ir::Table { name: "t".into(), loc: loc(9, 2), chains, counters: vec![] }],
    }
}

/// Every packet of the domain: each value rules can name, plus one other.
fn packets() -> Vec<Packet> {
    let mut out = Vec::new();
    for family in Family::ALL {
        let base = if family == Family::V4 { V4_BASE } else { V6_BASE };
        let addrs = [base, base + 1, base + 2, base + 3, base + 100];
        for proto in [PROTO_TCP, PROTO_UDP, PROTO_ICMP, 47] {
            let ports: Vec<Option<u16>> = if proto == PROTO_TCP || proto == PROTO_UDP {
                (0..8).chain([1000]).map(Some).collect()
            } else {
                vec![None]
            };
            for &saddr in &addrs {
                for &dport in &ports {
                    for iif in ["a", "b", "other"] {
                        for ct in [CtState::New, CtState::Established, CtState::Invalid] {
                            out.push(Packet {
                                family,
                                proto,
                                saddr,
                                daddr: 0,
                                sport: dport.map(|_| 1),
                                dport,
                                iif: iif.into(),
                                oif: String::new(),
                                ct,
                            });
                        }
                    }
                }
            }
        }
    }
    out
}

/// How a rule ends its chain for a packet, by brute force. `limit` rules
/// never end it for sure; the regular chain has none, so running it is exact.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum End {
    Accept,
    Drop,
    Reject,
    Return,
    Goto,
}

fn run_regular(p: &ir::Policy, packet: &Packet) -> Option<End> {
    let chain = p.tables[0].chains.get(1)?;
    for r in &chain.rules {
        if ir::matches(r, packet) {
            match ends(p, r, packet) {
                Some(End::Return) => return None,
                Some(e) => return Some(e),
                None => {}
            }
        }
    }
    None
}

/// How rule `r`, which matches `packet`, ends its chain for it, if it does.
fn ends(p: &ir::Policy, r: &ir::Rule, packet: &Packet) -> Option<End> {
    if r.actions.iter().any(|a| matches!(a, Action::Limit(_))) {
        return None;
    }
    if r.actions.iter().any(|a| matches!(a, Action::Nat(_))) {
        return Some(End::Accept);
    }
    match r.verdict? {
        Verdict::Accept => Some(End::Accept),
        Verdict::Drop => Some(End::Drop),
        Verdict::Reject => Some(End::Reject),
        Verdict::Return => Some(End::Return),
        Verdict::Jump(_) => run_regular(p, packet),
        Verdict::Goto(_) => Some(run_regular(p, packet).unwrap_or(End::Goto)),
    }
}

fn class_of(e: End) -> shadow::Class {
    match e {
        End::Accept => shadow::Class::Accept,
        End::Drop => shadow::Class::Drop,
        End::Reject => shadow::Class::Reject,
        End::Return => shadow::Class::Return,
        End::Goto => shadow::Class::Goto(ChainId(1)),
    }
}

fn check(p: &ir::Policy) -> Result<(), TestCaseError> {
    let diags = analysis::analyze(p);
    let all = packets();
    let table = &p.tables[0];
    for (c, chain) in table.chains.iter().enumerate() {
        let coverage = shadow::coverage(table, ChainId(c as u32));
        for (i, r) in chain.rules.iter().enumerate() {
            let mine: Vec<&Packet> = all.iter().filter(|pk| ir::matches(r, pk)).collect();
            let diag = diags.iter().find(|d| d.primary.loc == r.loc);
            let name = diag.map(|d| d.name);
            if r.space.iter().all(Cube::is_empty) {
                prop_assert_eq!(name, Some("unmatchable-rule"));
                prop_assert!(mine.is_empty());
                continue;
            }
            // The first earlier rule that ends the chain, per packet.
            let firsts: Vec<Option<(usize, End)>> = mine
                .iter()
                .map(|pk| {
                    chain.rules[..i].iter().enumerate().find_map(|(j, b)| {
                        if !ir::matches(b, pk) {
                            return None;
                        }
                        ends(p, b, pk).map(|e| (j, e))
                    })
                })
                .collect();
            let covered = !mine.is_empty() && firsts.iter().all(Option::is_some);
            // The domain's packets are a sample of the rule's space: a rule
            // they show reached is reached, and since they hold every value
            // rules can tell apart, one they show covered is covered.
            prop_assert_eq!(
                matches!(coverage[i], shadow::Coverage::Covered(_)),
                covered,
                "rule {}/{}: {:?} firsts {:?}",
                c,
                i,
                coverage[i],
                firsts
            );
            if !covered {
                prop_assert_eq!(name, None);
                continue;
            }
            let differs = firsts
                .iter()
                .flatten()
                .any(|&(j, e)| !shadow::same(&chain.rules[j], class_of(e), r));
            let own = r.verdict.is_some() || r.actions.iter().any(|a| matches!(a, Action::Nat(_)));
            let expect = if differs || !own { "shadowed-rule" } else { "redundant-rule" };
            prop_assert_eq!(name, Some(expect), "rule {}/{}", c, i);
            let shadow::Coverage::Covered(cover) = &coverage[i] else { unreachable!() };
            prop_assert_eq!(cover.differs, differs && own);
            // Every labelled blocker is the first to end the chain for some packet.
            let firsts_set: BTreeSet<usize> = firsts.iter().flatten().map(|f| f.0).collect();
            prop_assert!(!cover.shown.is_empty());
            for &(j, class) in &cover.shown {
                prop_assert!(firsts_set.contains(&(j as usize)), "label {} not a first ender", j);
                let agrees =
                    firsts.iter().flatten().any(|&(k, e)| k == j as usize && class_of(e) == class);
                prop_assert!(agrees, "label {} with {:?} disagrees with {:?}", j, class, firsts);
            }
            let labels = &diag.expect("checked above").related;
            prop_assert!(labels.iter().all(|l| chain.rules.iter().any(|b| b.loc == l.loc)));
            // And the real evaluator never lets a packet reach it.
            if c == 0 {
                for mode in [LimitMode::UnderRate, LimitMode::OverRate] {
                    for pk in &mine {
                        let trace = eval::evaluate(p, Hook::Input, pk, mode);
                        let reached = trace.steps.contains(&Step::Matched { rule: r.id });
                        prop_assert!(!reached, "rule {} reached by {:?}", i, pk);
                    }
                }
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4000, ..ProptestConfig::default() })]

    #[test]
    fn coverage_matches_brute_force(
        base in prop::collection::vec((matches_strategy(), base_act()), 1..8),
        regular in prop::option::of(prop::collection::vec((matches_strategy(), regular_act()), 1..4)),
    ) {
        check(&policy(&base, &regular))?;
    }
}

/// The generator must produce every kind of finding often, or the property
/// above would pass vacuously.
#[test]
fn generator_produces_every_rule_finding() {
    use proptest::strategy::ValueTree;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let strategy = (
        prop::collection::vec((matches_strategy(), base_act()), 1..8),
        prop::option::of(prop::collection::vec((matches_strategy(), regular_act()), 1..4)),
    );
    let mut seen = std::collections::BTreeMap::<&str, usize>::new();
    for _ in 0..1500 {
        let (base, regular) = strategy.new_tree(&mut runner).expect("a value").current();
        for d in analysis::analyze(&policy(&base, &regular)) {
            *seen.entry(d.name).or_default() += 1;
        }
    }
    for name in ["shadowed-rule", "redundant-rule", "unmatchable-rule"] {
        assert!(seen.get(name).copied().unwrap_or(0) >= 50, "{seen:?}");
    }
}
