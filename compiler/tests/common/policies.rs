//! Random small policies and packets for the property tests: overlapping
//! ranges and prefixes, mixed families, negations, counters, limits, jumps,
//! NAT and balancing, marks, every hook (so `oif` means something), and
//! sometimes a second table on the same hook. Values stay small so that
//! random rules and packets meet often, but every field also reaches its
//! two top values (port 65535, mark 0xffffffff, the last address of each
//! family) and its whole range (a /0), and protocols include SCTP,
//! UDP-Lite, GRE and the numbers 0 and 255.
//!
//! Test files take it with `#[path = "common/policies.rs"] mod policies;`.

#![allow(dead_code)] // each test file uses its own part

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use proptest::prelude::*;
use shriek_compiler::emit::packet_text;
use shriek_compiler::ir::{
    Action, Balance, BaseChain, Chain, ChainId, ChainKind, ChainPolicy, CounterDecl, Hook, Limit,
    Meter, MeterKey, MeterTest, Nat, NatBackend, Policy, RateUnit, RejectWith, Rule, RuleId, Table,
    Verdict,
};
use shriek_compiler::nft::vocab::{IPV6_SKIPPED_HEADERS, PROTOS_WITH_PORTS};
use shriek_compiler::space::flags::FlagsTest;
use shriek_compiler::space::{
    CtState, CtStates, Cube, Families, Family, Intervals, NamePattern, Names, Packet, Protos,
    MARK_MAX, PORT_MAX, PROTO_ICMP, PROTO_ICMPV6, PROTO_SCTP, PROTO_TCP, PROTO_UDP,
};
use shriek_grammar::Loc;

/// Values stay below this, so that random rules and packets meet often.
pub const SMALL: u128 = 12;

/// Values are drawn in `0..=TOP` and placed in their field by [`at`]: the
/// small ones are themselves, the two above `SMALL` the field's two top
/// values, so ranges keep their order and reach the field's end.
pub const TOP: u128 = SMALL + 2;

/// Where an abstract value lands in a field whose largest value is `max`.
pub fn at(v: u128, max: u128) -> u128 {
    match v {
        v if v <= SMALL => v,
        v if v == SMALL + 1 => max - 1,
        _ => max,
    }
}

/// Intervals in the abstract domain `0..=TOP`, placed in a field by
/// [`Abstract::at`] once its width is known (an address's family).
#[derive(Clone, Debug)]
pub enum Abstract {
    Ranges(Vec<(u128, u128)>),
    /// The whole field: `0.0.0.0/0`, `0-65535`.
    Whole,
    /// Everything but these: a negated match.
    Not(Vec<(u128, u128)>),
}

impl Abstract {
    pub fn at(&self, max: u128) -> Intervals {
        let place = |rs: &[(u128, u128)]| {
            Intervals::from_ranges(rs.iter().map(|&(a, b)| (at(a, max), at(b, max))))
        };
        match self {
            Abstract::Ranges(rs) => place(rs),
            Abstract::Whole => Intervals::range(0, max),
            Abstract::Not(rs) => place(rs).complement(max),
        }
    }
}

/// The protocols of the random rules and packets: those with ports, both
/// ICMPs, and some without ports that nft still names (UDP-Lite, GRE) or
/// only numbers (0, 255).
/// 0, 43, 44 and 60 are IPv6 extension headers, which no IPv6 packet has as
/// its protocol: an IPv6 packet drawn with one has 59 (no next header).
pub const PROTOS: [u8; 12] =
    [PROTO_TCP, PROTO_UDP, PROTO_SCTP, PROTO_ICMP, PROTO_ICMPV6, 136, 47, 0, 43, 44, 60, 255];

/// Interface names of the random packets; `""` is no interface (`oif` on
/// input).
pub const IFACES: [&str; 4] = ["a", "ab", "b", ""];

/// The hooks of the random policies' base chains.
pub const HOOKS: [Hook; 5] =
    [Hook::Prerouting, Hook::Input, Hook::Forward, Hook::Output, Hook::Postrouting];

#[derive(Clone)]
pub struct RuleSpec {
    pub space: Vec<Cube>,
    pub actions: Vec<Action>,
    pub verdict: Option<Verdict>,
}

#[derive(Clone)]
pub struct PolicySpec {
    /// The hook of every base chain (both tables').
    pub hook: Hook,
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
    if !c.oif.is_any() {
        parts.push(format!("oif {:?}", c.oif));
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
                writeln!(f, "chain c0 hook {:?} policy {:?} {{", self.hook, self.policy)?;
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
                    hook: self.hook,
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
            let spec = PolicySpec { hook: self.hook, ..(**spec).clone() };
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

/// Intervals of the abstract domain (see [`TOP`]): one value, a short
/// range, a few, the whole field, or a negation.
pub fn abstract_intervals() -> impl Strategy<Value = Abstract> {
    let range = || (0..=TOP, 0..=4u128).prop_map(|(a, w)| (a, (a + w).min(TOP)));
    prop_oneof![
        4 => (0..=TOP).prop_map(|v| Abstract::Ranges(vec![(v, v)])),
        4 => range().prop_map(|r| Abstract::Ranges(vec![r])),
        3 => prop::collection::vec(range(), 1..4).prop_map(Abstract::Ranges),
        1 => Just(Abstract::Whole),
        3 => prop::collection::vec(range(), 1..3).prop_map(Abstract::Not),
    ]
}

/// [`abstract_intervals`] in a field whose largest value is `max`.
pub fn intervals(max: u128) -> impl Strategy<Value = Intervals> {
    abstract_intervals().prop_map(move |a| a.at(max))
}

/// Interface names: exact, wildcards (`a*`, `*`), sets of both, negated.
pub fn names() -> impl Strategy<Value = Names> {
    let pattern = prop::sample::select(vec!["a", "ab", "b", "a*", "*"]);
    prop_oneof![
        8 => Just(Names::any()),
        4 => (pattern.clone(), any::<bool>()).prop_map(|(p, negated)| {
            Names::of(&[NamePattern::parse(p)], negated)
        }),
        2 => (prop::collection::vec(pattern, 1..3), any::<bool>()).prop_map(|(ps, negated)| {
            let ps: Vec<NamePattern> = ps.into_iter().map(NamePattern::parse).collect();
            Names::of(&ps, negated)
        }),
    ]
}

pub fn cube() -> impl Strategy<Value = Cube> {
    let family = prop_oneof![
        3 => Just(Families::ALL),
        2 => Just(Families::only(Family::V4)),
        1 => Just(Families::only(Family::V6)),
    ];
    let one = prop::sample::select(PROTOS.to_vec()).prop_map(Protos::only);
    let proto = prop_oneof![
        4 => Just(Protos::ALL),
        6 => one.clone(),
        2 => Just(Protos::only(PROTO_TCP).union(Protos::only(PROTO_UDP))),
        2 => prop::collection::vec(one.clone(), 2..4)
            .prop_map(|ps| ps.into_iter().fold(Protos::NONE, Protos::union)),
        2 => one.prop_map(Protos::complement),
        1 => Just(Protos::with_ports().complement()),
    ];
    let ct = prop_oneof![
        4 => Just(CtStates::ALL),
        3 => (1..0b11111u8).prop_map(|bits| {
            CtState::ALL
                .iter()
                .enumerate()
                .filter(|(i, _)| bits & (1 << i) != 0)
                .fold(CtStates::NONE, |a, (_, s)| a.union(CtStates::only(*s)))
        }),
    ];
    let opt = |w: u32| prop_oneof![w => Just(None), 2 => abstract_intervals().prop_map(Some)];
    let mark = prop_oneof![4 => Just(None), 2 => intervals(MARK_MAX).prop_map(Some)];
    (family, proto, opt(3), opt(5), opt(6), opt(2), (names(), names()), ct, mark).prop_map(
        |(family, proto, saddr, daddr, sport, dport, (iif, oif), ct, mark)| {
            let single = family.single();
            let ports = sport.is_some() || dport.is_some();
            let proto = if ports {
                let p = proto.intersect(Protos::with_ports());
                if p.is_empty() {
                    Protos::only(PROTO_SCTP)
                } else {
                    p
                }
            } else {
                proto
            };
            let addr = |a: Option<Abstract>| Some(a?.at(single?.max_addr()));
            Cube {
                family,
                proto,
                saddr: addr(saddr),
                daddr: addr(daddr),
                sport: sport.map(|a| a.at(PORT_MAX)),
                dport: dport.map(|a| a.at(PORT_MAX)),
                iif,
                oif,
                ct,
                icmp_type: None,
                icmp_code: None,
                tcp_flags: None,
                mark,
            }
        },
    )
}

/// A `tcp flags` test, mostly on the low five flags (fin, syn, rst, psh,
/// ack), which the random packets' flags hit often, sometimes on all eight.
pub fn flags_test() -> impl Strategy<Value = FlagsTest> {
    let byte = || prop_oneof![3 => 0..=0x1fu8, 1 => any::<u8>()];
    (byte(), byte(), any::<bool>()).prop_map(|(mask, value, negated)| FlagsTest {
        mask,
        value: value & mask,
        negated,
    })
}

/// Cubes of `tcp flags` matches: one test, or two in one rule, sometimes
/// with a port.
pub fn flags_cube() -> impl Strategy<Value = Cube> {
    (flags_test(), prop::option::of(flags_test()), prop::option::weighted(0.3, intervals(PORT_MAX)))
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
            2 => intervals(255).prop_map(Some),
        ]
    };
    (
        prop_oneof![Just(Family::V4), Just(Family::V6)],
        byte(1),
        byte(3),
        prop::option::of(abstract_intervals()),
    )
        .prop_map(|(family, icmp_type, icmp_code, saddr)| {
            let proto = if family == Family::V4 { PROTO_ICMP } else { PROTO_ICMPV6 };
            let saddr = saddr.map(|a| a.at(family.max_addr()));
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
        1 => Just(Protos::only(PROTO_SCTP)),
        1 => Just(Protos::only(PROTO_TCP).union(Protos::only(PROTO_UDP))),
        1 => Just(Protos::with_ports()),
    ];
    let family = prop_oneof![Just(Family::V4), Just(Family::V6)];
    (0..4u8, proto, family, abstract_intervals(), intervals(PORT_MAX)).prop_map(
        |(shape, proto, family, addr, port)| {
            let fam = Families::only(family);
            let addr = addr.at(family.max_addr());
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
        2 => (0..=TOP).prop_map(|v| Action::MarkSet(at(v, MARK_MAX) as u32)),
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
        1 => Just(Action::Nat(Nat::Snat { addr: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)), port: Some(65535) })),
        1 => Just(Action::Nat(Nat::Redirect { port: 0 })),
        1 => prop_oneof![Just(Balance::RoundRobin), Just(Balance::Random), Just(Balance::SourceHash)]
            .prop_map(|balance| Action::Nat(Nat::Dnat {
                backends: vec![
                    NatBackend { addr: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), port: Some(8080), weight: 2, loc: Loc::default() },
                    NatBackend { addr: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 3)), port: Some(8080), weight: 1, loc: Loc::default() },
                ],
                balance: Some(balance),
            })),
    ]
}

pub fn rule(chain: usize, chains: usize) -> impl Strategy<Value = RuleSpec> {
    let space = prop_oneof![
        1 => Just(Vec::new()),
        6 => prop::collection::vec(cube(), 1..=1),
        2 => prop::collection::vec(icmp_cube(), 1..=1),
        2 => prop::collection::vec(flags_cube(), 1..=2),
        8 => prop::collection::vec(keyed_cube(), 1..=1),
        2 => prop::collection::vec(keyed_cube(), 2..=3),
        2 => prop::collection::vec(cube(), 2..=3),
    ];
    rule_of(chain, chains, space.boxed())
}

/// Cubes of a two-level dispatch (`lower/dispatch/tree.rs`): a port
/// alone, or a source or destination address and a port, each port one
/// of a few values over tcp and udp, so that port rules and address rules
/// share ports often, in either order.
pub fn tree_cube() -> impl Strategy<Value = Cube> {
    let proto = prop_oneof![
        3 => Just(Protos::only(PROTO_TCP)),
        2 => Just(Protos::only(PROTO_UDP)),
        1 => Just(Protos::only(PROTO_TCP).union(Protos::only(PROTO_UDP))),
    ];
    let port = prop_oneof![
        4 => (0..8u128).prop_map(|v| Intervals::range(v, v)),
        1 => (0..8u128, 0..8u128).prop_map(|(a, b)| Intervals::from_ranges([(a, a), (b, b)])),
    ];
    let family = prop_oneof![3 => Just(Family::V4), 1 => Just(Family::V6)];
    let addr = prop_oneof![
        3 => (0..=TOP).prop_map(|v| Abstract::Ranges(vec![(v, v)])),
        1 => abstract_intervals(),
    ];
    (0..5u8, proto, family, addr, port).prop_map(|(shape, proto, family, addr, port)| {
        let fam = Families::only(family);
        let addr = addr.at(family.max_addr());
        match shape {
            0 | 1 => Cube { proto, dport: Some(port), ..Cube::full() },
            2 | 3 => {
                Cube { family: fam, proto, saddr: Some(addr), dport: Some(port), ..Cube::full() }
            }
            _ => Cube { family: fam, proto, daddr: Some(addr), dport: Some(port), ..Cube::full() },
        }
    })
}

/// Policies whose base chain is mostly [`tree_cube`] rules, runs long
/// enough for `auto`, sometimes with another rule among them.
pub fn tree_policy() -> impl Strategy<Value = PolicySpec> {
    let hook = prop_oneof![3 => Just(Hook::Input), 1 => prop::sample::select(HOOKS.to_vec())];
    (1..=2usize, prop_oneof![Just(ChainPolicy::Accept), Just(ChainPolicy::Drop)], hook)
        .prop_flat_map(|(n, policy, hook)| {
            let chains: Vec<_> = (0..n)
                .map(|c| {
                    let space = prop_oneof![
                        12 => prop::collection::vec(tree_cube(), 1..=1),
                        1 => prop::collection::vec(keyed_cube(), 1..=1),
                        1 => prop::collection::vec(cube(), 1..=1),
                    ];
                    // Mostly tame, as a hand-written service list: a
                    // counter or log at most, and a verdict; the rest any
                    // rule of [`rule_of`], which may end a run.
                    let tame = (rule_of(c, n, space.boxed()), 0..8u8).prop_map(|(mut r, t)| {
                        if t < 6 {
                            r.actions
                                .retain(|a| matches!(a, Action::Counter(_) | Action::Log { .. }));
                            if matches!(r.verdict, None | Some(Verdict::Return)) {
                                r.verdict =
                                    Some(if t % 2 == 0 { Verdict::Accept } else { Verdict::Drop });
                            }
                        }
                        r
                    });
                    prop::collection::vec(tame, if c == 0 { 10..40 } else { 0..4 })
                })
                .collect();
            // Sometimes the port rules first or last, as written by hand,
            // so that `auto`'s runs of four form around shared ports.
            (chains, 0..4u8).prop_map(move |(mut chains, order)| {
                let port_only =
                    |r: &RuleSpec| r.space.iter().all(|c| c.saddr.is_none() && c.daddr.is_none());
                match order {
                    0 => chains[0].sort_by_key(|r| !port_only(r)),
                    1 => chains[0].sort_by_key(port_only),
                    _ => {}
                }
                PolicySpec { hook, policy, chains, other: None }
            })
        })
}

fn rule_of(
    chain: usize,
    chains: usize,
    space: BoxedStrategy<Vec<Cube>>,
) -> impl Strategy<Value = RuleSpec> {
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
    let hook = prop_oneof![3 => Just(Hook::Input), 1 => prop::sample::select(HOOKS.to_vec())];
    (1..=3usize, prop_oneof![Just(ChainPolicy::Accept), Just(ChainPolicy::Drop)], hook)
        .prop_flat_map(|(n, policy, hook)| {
            let chains: Vec<_> = (0..n)
                .map(|c| prop::collection::vec(rule(c, n), if c == 0 { 1..14 } else { 0..5 }))
                .collect();
            chains.prop_map(move |chains| PolicySpec { hook, policy, chains, other: None })
        })
}

/// Mostly one table; sometimes a second one on the same hook.
pub fn policies() -> impl Strategy<Value = PolicySpec> {
    let policy_kind = prop_oneof![Just(ChainPolicy::Accept), Just(ChainPolicy::Drop)];
    let second =
        (prop_oneof![Just(-10), Just(10)], policy_kind, prop::collection::vec(rule(0, 1), 1..6))
            .prop_map(|(priority, policy, rules)| {
                let hook = Hook::Input; // [`PolicySpec::build`] takes the first table's
                (priority, Box::new(PolicySpec { hook, policy, chains: vec![rules], other: None }))
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

/// The packet as `hook` sees it: no `oif` before routing, no `iif` on
/// output.
pub fn on(hook: Hook, p: &Packet) -> Packet {
    let mut p = p.clone();
    if matches!(hook, Hook::Prerouting | Hook::Input) {
        p.oif = String::new();
    }
    if hook == Hook::Output {
        p.iif = String::new();
    }
    p
}

/// A packet of any protocol of [`PROTOS`], its values in the abstract
/// domain placed in their fields, with any interfaces.
pub fn packet() -> impl Strategy<Value = P> {
    let iface = || prop::sample::select(IFACES.to_vec());
    (
        prop_oneof![Just(Family::V4), Just(Family::V6)],
        prop::sample::select(PROTOS.to_vec()),
        (0..=TOP, 0..=TOP),
        (0..=TOP, 0..=TOP),
        (iface(), iface()),
        prop::sample::select(CtState::ALL.to_vec()),
        (0..=TOP, 0..=3u8, flags_byte(), 0..=TOP),
    )
        .prop_map(
            |(
                family,
                proto,
                (saddr, daddr),
                (sport, dport),
                (iif, oif),
                ct,
                (icmp_type, icmp_code, flags, mark),
            )| {
                let skipped = IPV6_SKIPPED_HEADERS.iter().any(|(h, _)| *h == proto);
                let proto = if family == Family::V6 && skipped { 59 } else { proto };
                let ports = PROTOS_WITH_PORTS.contains(&proto);
                let icmp = proto == PROTO_ICMP || proto == PROTO_ICMPV6;
                let max = family.max_addr();
                P(Packet {
                    family,
                    proto,
                    saddr: at(saddr, max),
                    daddr: at(daddr, max),
                    sport: ports.then_some(at(sport, PORT_MAX) as u16),
                    dport: ports.then_some(at(dport, PORT_MAX) as u16),
                    iif: iif.to_string(),
                    oif: oif.to_string(),
                    ct,
                    icmp_type: icmp.then_some(at(icmp_type, 255) as u8),
                    icmp_code: icmp.then_some(icmp_code),
                    tcp_flags: (proto == PROTO_TCP).then_some(flags),
                    mark: at(mark, MARK_MAX) as u32,
                })
            },
        )
}

/// A packet of [`packet`], but to the protocols and ports [`tree_cube`]
/// names (tcp or udp, ports 0 to 7), so that it meets the maps of a
/// two-level dispatch and the rules behind its jumps.
pub fn tree_packet() -> impl Strategy<Value = P> {
    (packet(), any::<bool>(), 0..8u16).prop_map(|(P(mut p), tcp, port)| {
        p.proto = if tcp { PROTO_TCP } else { PROTO_UDP };
        p.sport = Some(p.sport.unwrap_or(0));
        p.dport = Some(port);
        p.icmp_type = None;
        p.icmp_code = None;
        p.tcp_flags = tcp.then_some(p.tcp_flags.unwrap_or(0x02));
        P(p)
    })
}
