//! Random small policies and packets for the property tests: overlapping
//! ranges and prefixes, mixed families, negations, counters, limits, jumps,
//! NAT, and sometimes a second table on the same hook. Values stay small so
//! that random rules and packets meet often.
//!
//! Test files take it with `#[path = "common/policies.rs"] mod policies;`.

#![allow(dead_code)] // each test file uses its own part

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use proptest::prelude::*;
use shriek_compiler::emit::packet_text;
use shriek_compiler::ir::{
    Action, BaseChain, Chain, ChainId, ChainKind, ChainPolicy, CounterDecl, Hook, Limit, Meter,
    MeterKey, MeterTest, Nat, NatBackend, Policy, RateUnit, RejectWith, Rule, RuleId, Table,
    Verdict,
};
use shriek_compiler::space::flags::FlagsTest;
use shriek_compiler::space::{
    CtState, CtStates, Cube, Families, Family, Intervals, NamePattern, Names, Packet, Protos,
    PROTO_ICMP, PROTO_ICMPV6, PROTO_TCP, PROTO_UDP,
};
use shriek_grammar::Loc;

/// Values stay below this, so that random rules and packets meet often.
pub const SMALL: u128 = 12;

#[derive(Clone)]
pub struct RuleSpec {
    pub space: Vec<Cube>,
    pub actions: Vec<Action>,
    pub verdict: Option<Verdict>,
}

#[derive(Clone)]
pub struct PolicySpec {
    pub policy: ChainPolicy,
    /// Chain 0 is the input base chain; the others are regular chains.
    pub chains: Vec<Vec<RuleSpec>>,
    /// A second table with one input base chain of this priority, which
    /// runs before (negative) or after the first one.
    pub other: Option<(i32, Box<PolicySpec>)>,
}

pub fn ivs(i: &Intervals) -> String {
    let parts: Vec<String> = i
        .ranges()
        .iter()
        .map(|(a, b)| if a == b { format!("{a}") } else { format!("{a}-{b}") })
        .collect();
    format!("{{{}}}", parts.join(","))
}

pub fn cube_text(c: &Cube) -> String {
    let mut parts = Vec::new();
    if let Some(f) = c.family.single() {
        parts.push(format!("family {f:?}"));
    } else if c.family.is_empty() {
        parts.push("family none".into());
    }
    if !c.proto.is_full() {
        parts.push(format!("proto {:?}", c.proto));
    }
    for (name, f) in
        [("saddr", &c.saddr), ("daddr", &c.daddr), ("sport", &c.sport), ("dport", &c.dport)]
    {
        if let Some(i) = f {
            parts.push(format!("{name} {}", ivs(i)));
        }
    }
    for (name, f) in [
        ("icmp-type", &c.icmp_type),
        ("icmp-code", &c.icmp_code),
        ("tcp-flags", &c.tcp_flags),
        ("mark", &c.mark),
    ] {
        if let Some(i) = f {
            parts.push(format!("{name} {}", ivs(i)));
        }
    }
    if !c.iif.is_any() {
        parts.push(format!("iif {:?}", c.iif));
    }
    if !c.ct.is_full() {
        parts.push(format!("ct {:?}", c.ct));
    }
    if parts.is_empty() {
        "any".into()
    } else {
        parts.join(" ")
    }
}

impl fmt::Debug for RuleSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let space: Vec<String> = self.space.iter().map(|c| format!("[{}]", cube_text(c))).collect();
        let space = if space.is_empty() { "[nothing]".to_string() } else { space.join(" | ") };
        write!(f, "{space}")?;
        for a in &self.actions {
            write!(f, " {a:?}")?;
        }
        match self.verdict {
            Some(Verdict::Jump(c)) => write!(f, " jump c{}", c.0),
            Some(Verdict::Goto(c)) => write!(f, " goto c{}", c.0),
            Some(v) => write!(f, " {v:?}"),
            None => Ok(()),
        }
    }
}

impl fmt::Debug for PolicySpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f)?;
        for (i, rules) in self.chains.iter().enumerate() {
            if i == 0 {
                writeln!(f, "chain c0 hook input policy {:?} {{", self.policy)?;
            } else {
                writeln!(f, "chain c{i} {{")?;
            }
            for r in rules {
                writeln!(f, "  {r:?}")?;
            }
            writeln!(f, "}}")?;
        }
        if let Some((priority, other)) = &self.other {
            write!(f, "table u, input priority {priority}:{other:?}")?;
        }
        Ok(())
    }
}

impl PolicySpec {
    pub fn build(&self) -> Policy {
        let loc = Loc::default();
        let mut counters: Vec<CounterDecl> = Vec::new();
        let chains = self
            .chains
            .iter()
            .enumerate()
            .map(|(ci, rules)| Chain {
                name: format!("c{ci}"),
                loc,
                base: (ci == 0).then_some(BaseChain {
                    hook: Hook::Input,
                    kind: ChainKind::Filter,
                    priority: 0,
                    policy: self.policy,
                }),
                rules: rules
                    .iter()
                    .enumerate()
                    .map(|(ri, r)| {
                        for a in &r.actions {
                            if let Action::Counter(Some(n)) = a {
                                if !counters.iter().any(|c| c.name == *n) {
                                    counters.push(CounterDecl { name: n.clone(), loc });
                                }
                            }
                        }
                        Rule {
                            id: RuleId { table: 0, chain: ChainId(ci as u32), index: ri as u32 },
                            loc,
                            space: r.space.clone(),
                            actions: r.actions.clone(),
                            verdict: r.verdict,
                            verdict_loc: None,
                            allows: Vec::new(),
                        }
                    })
                    .collect(),
            })
            .collect();
        let mut tables =
            vec![Table { name: "t".into(), loc, chains, counters, rule_counters: true }];
        if let Some((priority, spec)) = &self.other {
            let mut u = spec.build().tables.remove(0);
            u.name = "u".into();
            for chain in &mut u.chains {
                if let Some(b) = &mut chain.base {
                    b.priority = *priority;
                }
                for rule in &mut chain.rules {
                    rule.id.table = 1;
                }
            }
            tables.push(u);
        }
        Policy { tables }
    }
}

pub fn intervals(max: u128) -> impl Strategy<Value = Intervals> {
    prop_oneof![
        (0..=max).prop_map(|v| Intervals::range(v, v)),
        (0..=max, 0..=4u128).prop_map(move |(a, w)| Intervals::range(a, (a + w).min(max))),
        prop::collection::vec((0..=max, 0..=3u128), 1..4).prop_map(move |rs| {
            Intervals::from_ranges(rs.into_iter().map(|(a, w)| (a, (a + w).min(max))))
        }),
        // A negation: everything but a small range.
        (0..=max, 0..=3u128).prop_map(
            move |(a, w)| Intervals::range(a, (a + w).min(max)).complement(u16::MAX as u128)
        ),
    ]
}

pub fn cube() -> impl Strategy<Value = Cube> {
    let family = prop_oneof![
        3 => Just(Families::ALL),
        2 => Just(Families::only(Family::V4)),
        1 => Just(Families::only(Family::V6)),
    ];
    let proto = prop_oneof![
        Just(Protos::ALL),
        Just(Protos::only(PROTO_TCP)),
        Just(Protos::only(PROTO_UDP)),
        Just(Protos::only(PROTO_TCP).union(Protos::only(PROTO_UDP))),
        Just(Protos::only(PROTO_ICMP)),
        Just(Protos::only(PROTO_ICMP).complement()),
    ];
    let iif = prop_oneof![
        6 => Just(Names::any()),
        1 => Just(Names::exact("a")),
        1 => Just(Names::exact("a").complement()),
        1 => Just(Names::of(&[NamePattern::parse("a*")], false)),
        1 => Just(Names::of(&[NamePattern::parse("a*")], true)),
    ];
    let ct = prop_oneof![
        6 => Just(CtStates::ALL),
        1 => Just(CtStates::only(CtState::New)),
        1 => Just(CtStates::only(CtState::Established).union(CtStates::only(CtState::Related))),
        1 => Just(CtStates::only(CtState::New).complement()),
    ];
    let opt = |w: u32| prop_oneof![w => Just(None), 2 => intervals(SMALL).prop_map(Some)];
    (family, proto, opt(3), opt(5), opt(6), opt(2), iif, ct, opt(4)).prop_map(
        |(family, proto, saddr, daddr, sport, dport, iif, ct, mark)| {
            let single = family.single().is_some();
            let ports = sport.is_some() || dport.is_some();
            let proto = if ports {
                let p = proto.intersect(Protos::with_ports());
                if p.is_empty() {
                    Protos::only(PROTO_TCP)
                } else {
                    p
                }
            } else {
                proto
            };
            Cube {
                family,
                proto,
                saddr: saddr.filter(|_| single),
                daddr: daddr.filter(|_| single),
                sport,
                dport,
                iif,
                oif: Names::any(),
                ct,
                icmp_type: None,
                icmp_code: None,
                tcp_flags: None,
                mark,
            }
        },
    )
}

/// A `tcp flags` test on the low five flags (fin, syn, rst, psh, ack),
/// which the random packets' flags hit often.
pub fn flags_test() -> impl Strategy<Value = FlagsTest> {
    (0..=0x1fu8, 0..=0x1fu8, any::<bool>()).prop_map(|(mask, value, negated)| FlagsTest {
        mask,
        value: value & mask,
        negated,
    })
}

/// Cubes of `tcp flags` matches: one test, or two in one rule, sometimes
/// with a port.
pub fn flags_cube() -> impl Strategy<Value = Cube> {
    (flags_test(), prop::option::of(flags_test()), prop::option::weighted(0.3, intervals(SMALL)))
        .prop_map(|(a, b, dport)| {
            let bytes = b.map_or_else(|| a.bytes(), |b| a.bytes().intersect(&b.bytes()));
            Cube { proto: Protos::only(PROTO_TCP), dport, tcp_flags: Some(bytes), ..Cube::full() }
        })
}

/// Cubes of `icmp type`/`icmpv6 code` matches: one ICMP protocol and its
/// family, a type and a code set, sometimes a source address.
pub fn icmp_cube() -> impl Strategy<Value = Cube> {
    let byte = |w: u32| {
        prop_oneof![
            w => Just(None),
            2 => intervals(SMALL).prop_map(|i| Some(i.intersect(&Intervals::range(0, 255)))),
        ]
    };
    (
        prop_oneof![Just(Family::V4), Just(Family::V6)],
        byte(1),
        byte(3),
        prop::option::of(intervals(SMALL)),
    )
        .prop_map(|(family, icmp_type, icmp_code, saddr)| {
            let proto = if family == Family::V4 { PROTO_ICMP } else { PROTO_ICMPV6 };
            Cube {
                family: Families::only(family),
                proto: Protos::only(proto),
                saddr,
                icmp_type,
                icmp_code,
                ..Cube::full()
            }
        })
}

/// Cubes shaped like map keys (port only, address only, address and
/// port), so that runs form often.
pub fn keyed_cube() -> impl Strategy<Value = Cube> {
    let proto = prop_oneof![
        2 => Just(Protos::only(PROTO_TCP)),
        1 => Just(Protos::only(PROTO_UDP)),
        1 => Just(Protos::only(PROTO_TCP).union(Protos::only(PROTO_UDP))),
    ];
    let family = prop_oneof![Just(Family::V4), Just(Family::V6)];
    (0..4u8, proto, family, intervals(SMALL), intervals(SMALL)).prop_map(
        |(shape, proto, family, addr, port)| {
            let fam = Families::only(family);
            match shape {
                0 => Cube { proto, dport: Some(port), ..Cube::full() },
                1 => Cube { family: fam, saddr: Some(addr), ..Cube::full() },
                2 => Cube {
                    family: fam,
                    proto,
                    saddr: Some(addr),
                    dport: Some(port),
                    ..Cube::full()
                },
                _ => Cube {
                    family: fam,
                    proto,
                    daddr: Some(addr),
                    dport: Some(port),
                    ..Cube::full()
                },
            }
        },
    )
}

pub fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        3 => Just(Action::Counter(None)),
        2 => prop_oneof![Just("x"), Just("y")].prop_map(|n| Action::Counter(Some(n.to_string()))),
        1 => Just(Action::Log { prefix: Some("p: ".into()), level: None }),
        1 => Just(Action::Log { prefix: None, level: Some(6) }),
        2 => Just(Action::Limit(Limit { rate: 10, per: RateUnit::Second, burst: None })),
        1 => Just(Action::Meter(Meter {
            key: MeterKey::Saddr,
            test: MeterTest::Rate(Limit { rate: 3, per: RateUnit::Minute, burst: Some(5) }),
        })),
        1 => Just(Action::Meter(Meter { key: MeterKey::Daddr, test: MeterTest::CountOver(20) })),
        // Marks the random cubes' `mark` intervals and packets can meet.
        2 => (0..=SMALL as u32 + 1).prop_map(Action::MarkSet),
        1 => Just(Action::Nat(Nat::Masquerade)),
        1 => Just(Action::Nat(Nat::Dnat {
            backends: vec![NatBackend {
                addr: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
                port: Some(80),
                weight: 1,
                loc: Loc::default(),
            }],
            balance: None,
        })),
        1 => Just(Action::Nat(Nat::Snat { addr: IpAddr::V6(Ipv6Addr::LOCALHOST), port: None })),
    ]
}

pub fn rule(chain: usize, chains: usize) -> impl Strategy<Value = RuleSpec> {
    let later: Vec<u32> = ((chain + 1)..chains).map(|c| c as u32).collect();
    let verdict = {
        let mut options: Vec<(u32, BoxedStrategy<Option<Verdict>>)> = vec![
            (3, Just(None).boxed()),
            (4, Just(Some(Verdict::Accept)).boxed()),
            (4, Just(Some(Verdict::Drop)).boxed()),
            (1, Just(Some(Verdict::Reject(RejectWith::PortUnreachable))).boxed()),
            (1, Just(Some(Verdict::Reject(RejectWith::Icmpx(3)))).boxed()),
            (1, Just(Some(Verdict::Return)).boxed()),
        ];
        if !later.is_empty() {
            let l = later.clone();
            options.push((
                2,
                prop::sample::select(l).prop_map(|c| Some(Verdict::Jump(ChainId(c)))).boxed(),
            ));
            options.push((
                1,
                prop::sample::select(later).prop_map(|c| Some(Verdict::Goto(ChainId(c)))).boxed(),
            ));
        }
        prop::strategy::Union::new_weighted(options)
    };
    let space = prop_oneof![
        1 => Just(Vec::new()),
        6 => prop::collection::vec(cube(), 1..=1),
        2 => prop::collection::vec(icmp_cube(), 1..=1),
        2 => prop::collection::vec(flags_cube(), 1..=2),
        8 => prop::collection::vec(keyed_cube(), 1..=1),
        2 => prop::collection::vec(keyed_cube(), 2..=3),
        2 => prop::collection::vec(cube(), 2..=3),
    ];
    let actions = prop_oneof![3 => Just(Vec::new()), 2 => prop::collection::vec(action(), 1..=2)];
    (space, actions, verdict).prop_map(|(space, actions, verdict)| {
        // Spaces are disjoint unions of cubes, as resolve makes them.
        let mut disjoint: Vec<Cube> = Vec::new();
        for c in space {
            let mut parts = vec![c];
            for d in &disjoint {
                parts = parts.iter().flat_map(|p| p.subtract(d)).collect();
            }
            disjoint.extend(parts.into_iter().filter(|p| !p.is_empty()));
        }
        RuleSpec { space: disjoint, actions, verdict }
    })
}

pub fn policy() -> impl Strategy<Value = PolicySpec> {
    (1..=3usize, prop_oneof![Just(ChainPolicy::Accept), Just(ChainPolicy::Drop)]).prop_flat_map(
        |(n, policy)| {
            let chains: Vec<_> = (0..n)
                .map(|c| prop::collection::vec(rule(c, n), if c == 0 { 1..14 } else { 0..5 }))
                .collect();
            chains.prop_map(move |chains| PolicySpec { policy, chains, other: None })
        },
    )
}

/// Mostly one table; sometimes a second one on the same hook.
pub fn policies() -> impl Strategy<Value = PolicySpec> {
    let policy_kind = prop_oneof![Just(ChainPolicy::Accept), Just(ChainPolicy::Drop)];
    let second =
        (prop_oneof![Just(-10), Just(10)], policy_kind, prop::collection::vec(rule(0, 1), 1..6))
            .prop_map(|(priority, policy, rules)| {
                (priority, Box::new(PolicySpec { policy, chains: vec![rules], other: None }))
            });
    (policy(), prop::option::weighted(0.2, second))
        .prop_map(|(spec, other)| PolicySpec { other, ..spec })
}

/// A packet that prints as `trace` reads it.
#[derive(Clone)]
pub struct P(pub Packet);

impl fmt::Debug for P {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&packet_text(&self.0))
    }
}

/// A TCP packet's flags: the usual ones, or any byte.
pub fn flags_byte() -> impl Strategy<Value = u8> {
    prop_oneof![
        3 => prop::sample::select(vec![0x02u8, 0x12, 0x10, 0x18, 0x11, 0x04, 0x14, 0x00, 0x03, 0x29]),
        1 => any::<u8>(),
    ]
}

pub fn packet() -> impl Strategy<Value = P> {
    (
        prop_oneof![Just(Family::V4), Just(Family::V6)],
        prop_oneof![Just(PROTO_TCP), Just(PROTO_UDP), Just(PROTO_ICMP), Just(PROTO_ICMPV6)],
        0..=SMALL + 1,
        0..=SMALL + 1,
        0..=(SMALL as u16 + 1),
        0..=(SMALL as u16 + 1),
        prop_oneof![Just("a"), Just("ab"), Just("b")],
        prop::sample::select(CtState::ALL.to_vec()),
        (0..=SMALL as u8 + 1, 0..=3u8, flags_byte(), 0..=SMALL as u8 + 1),
    )
        .prop_map(
            |(
                family,
                proto,
                saddr,
                daddr,
                sport,
                dport,
                iif,
                ct,
                (icmp_type, icmp_code, flags, mark),
            )| {
                let ports = proto != PROTO_ICMP && proto != PROTO_ICMPV6;
                P(Packet {
                    family,
                    proto,
                    saddr,
                    daddr,
                    sport: ports.then_some(sport),
                    dport: ports.then_some(dport),
                    iif: iif.to_string(),
                    oif: String::new(),
                    ct,
                    icmp_type: (!ports).then_some(icmp_type),
                    icmp_code: (!ports).then_some(icmp_code),
                    tcp_flags: (proto == PROTO_TCP).then_some(flags),
                    mark: u32::from(mark),
                })
            },
        )
}
