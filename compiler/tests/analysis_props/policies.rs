//! Random policies for the analysis laws: a filter base chain, a nat base
//! chain and up to three regular chains, their rules drawn from a small
//! vocabulary of matches whose values the oracle's packet domain covers,
//! and any rule may hold only for some packets (a `limit`, a per-source
//! rate, a per-source connection count).

use proptest::prelude::*;
use shriek_compiler::ir::{
    self, Action, BaseChain, ChainId, ChainKind, ChainPolicy, Hook, Limit, Meter, MeterKey,
    MeterTest, RateUnit, RuleId, Verdict,
};
use shriek_compiler::space::flags::FlagsTest;
use shriek_compiler::space::{
    self, CtState, CtStates, Cube, Families, Family, Intervals, NamePattern, Names, Protos,
    PORT_MAX, PROTO_ICMP, PROTO_ICMPV6, PROTO_TCP, PROTO_UDP,
};
use shriek_grammar::{FileId, Loc, Span};

pub const V4_BASE: u128 = 0x0a00_0000;
pub const V6_BASE: u128 = 0xfd00 << 112;
/// Prefixes as offsets from the family's base: /30, /31, /31, /32.
pub const PREFIXES: [(u128, u128); 4] = [(0, 3), (0, 1), (2, 3), (1, 1)];
/// 0 (hop-by-hop options) and 44 (fragment) are IPv6 extension headers: a
/// rule may name them, and no IPv6 packet has them as its protocol.
pub const PROTOS: [u8; 6] = [PROTO_TCP, PROTO_UDP, PROTO_ICMP, PROTO_ICMPV6, 0, 44];
/// Port matches name ports from here on (so `tcp dport 22` is reachable).
pub const PORT_BASE: u16 = 20;
pub const PORTS: u16 = 8;
/// Exact names and a wildcard over one of them.
pub const NAMES: [&str; 3] = ["a", "b", "a*"];
pub const STATES: [CtState; 2] = [CtState::New, CtState::Established];
/// ICMP types matches name, as (icmp, icmpv6): echo-request, echo-reply.
pub const ICMP_TYPES: [(u8, u8); 2] = [(8, 128), (0, 129)];
/// `tcp flags` matches name: any of syn; syn / syn,ack; == ack; ! syn,ack;
/// != syn / syn,ack,rst,fin; any of ack.
pub const FLAG_TESTS: [FlagsTest; 6] = [
    FlagsTest { mask: 0x02, value: 0, negated: true },
    FlagsTest { mask: 0x12, value: 0x02, negated: false },
    FlagsTest { mask: 0xff, value: 0x10, negated: false },
    FlagsTest { mask: 0x12, value: 0, negated: false },
    FlagsTest { mask: 0x17, value: 0x02, negated: true },
    FlagsTest { mask: 0x10, value: 0, negated: true },
];
/// The marks rules match and set; packets enter with these or 0.
pub const MARKS: [u32; 2] = [1, 2];
/// Regular chains follow the two base chains.
pub const BASES: usize = 2;

/// What a rule matches; the default matches every packet.
#[derive(Clone, Debug, Default)]
pub struct Matches {
    pub family: Option<Family>,
    pub proto: Option<(Vec<u8>, bool)>,
    pub saddr: Option<(Family, usize, bool)>,
    pub dport: Option<(u8, u16, u16, bool)>,
    pub iif: Option<(usize, bool)>,
    /// `oif NAMES[i]`, negated or not: no packet of `input`, `prerouting`
    /// or a chain only they reach has one.
    pub oif: Option<(usize, bool)>,
    pub ct: Option<Vec<bool>>,
    /// `icmp type` (IPv4) or `icmpv6 type` (IPv6) of `ICMP_TYPES[i]`, negated or not.
    pub icmp: Option<(Family, usize, bool)>,
    /// `tcp flags` of `FLAG_TESTS[i]`.
    pub flags: Option<usize>,
    /// `mark MARKS[i]`, negated or not.
    pub mark: Option<(usize, bool)>,
}

/// A translation, by target: two dnats differ only in their address.
#[derive(Clone, Copy, Debug)]
pub enum Nat {
    DnatA,
    DnatB,
    Snat,
    Masquerade,
    Redirect,
}

#[derive(Clone, Copy, Debug)]
pub enum Act {
    Accept,
    Drop,
    Reject,
    Counter,
    Return,
    /// To the n-th regular chain this chain may jump to.
    Jump(usize),
    Goto(usize),
    Nat(Nat),
}

#[derive(Clone, Debug)]
pub struct RuleSpec {
    pub matches: Matches,
    /// Use the matches of the rule this many places further up (modulo
    /// their number) instead: rules that repeat a match are where coverage
    /// lives.
    pub same_as: Option<usize>,
    /// With `same_as`, also do what that rule does: a duplicate.
    pub duplicate: bool,
    pub act: Act,
    /// Whether, and how, the rule holds for only some packets.
    pub limit: Option<Fork>,
    /// `mark set MARKS[i]`, before the rule's verdict.
    pub set_mark: Option<usize>,
}

/// A statement that holds for some packets of a rule's space and not
/// others, by state outside the packet: the analysis must treat each alike.
#[derive(Clone, Copy, Debug)]
pub enum Fork {
    /// `limit 3/minute`
    Limit,
    /// `limit 3/minute per saddr`
    PerSaddr,
    /// `ct count over 2 per saddr`
    CountPerSaddr,
}

impl Fork {
    fn action(self) -> Action {
        let rate = Limit { rate: 3, per: RateUnit::Minute, burst: None };
        let meter = |test| Action::Meter(Meter { key: MeterKey::Saddr, test });
        match self {
            Fork::Limit => Action::Limit(rate),
            Fork::PerSaddr => meter(MeterTest::Rate(rate)),
            Fork::CountPerSaddr => meter(MeterTest::CountOver(2)),
        }
    }
}

/// The chains' rules: `input` (filter), `pre` (nat), then regular chains.
#[derive(Clone, Debug)]
pub struct Spec {
    pub chains: Vec<Vec<RuleSpec>>,
    /// Whether jumps may go to any regular chain (loops included), not only
    /// to later ones.
    pub loops: bool,
    /// The filter base chain's hook: its packets lack `oif` (`input`),
    /// `iif` (`output`) or neither (`forward`); the nat chain's are on
    /// `prerouting` and lack `oif`.
    pub hook: Hook,
}

pub fn matches_strategy() -> impl Strategy<Value = Matches> {
    let family = prop::option::weighted(0.15, prop_oneof![Just(Family::V4), Just(Family::V6)]);
    let proto = prop::option::weighted(
        0.2,
        (prop::collection::vec(prop::sample::select(PROTOS.to_vec()), 1..3), any::<bool>()),
    );
    let saddr = prop::option::weighted(
        0.5,
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
            0..PORTS,
            0..PORTS,
            prop::bool::weighted(0.2),
        )
            .prop_map(|(p, a, b, n)| (p, a.min(b), a.max(b), n)),
    );
    let iif = prop::option::weighted(0.25, (0..NAMES.len(), any::<bool>()));
    let oif = prop::option::weighted(0.2, (0..NAMES.len(), any::<bool>()));
    let ct = prop::option::weighted(0.2, prop::collection::vec(any::<bool>(), STATES.len()));
    let icmp = prop::option::weighted(
        0.15,
        (prop_oneof![Just(Family::V4), Just(Family::V6)], 0..2usize, prop::bool::weighted(0.3)),
    );
    let flags = prop::option::weighted(0.2, 0..FLAG_TESTS.len());
    let mark = prop::option::weighted(0.3, (0..MARKS.len(), prop::bool::weighted(0.35)));
    (family, proto, saddr, dport, (iif, oif), ct, icmp, flags, mark).prop_map(
        |(family, proto, saddr, dport, (iif, oif), ct, icmp, flags, mark)| Matches {
            family,
            proto,
            saddr,
            dport,
            iif,
            oif,
            ct,
            icmp,
            flags,
            mark,
        },
    )
}

pub fn nat() -> impl Strategy<Value = Nat> {
    prop_oneof![
        5 => Just(Nat::DnatA),
        2 => Just(Nat::DnatB),
        1 => Just(Nat::Snat),
        1 => Just(Nat::Masquerade),
        1 => Just(Nat::Redirect),
    ]
}

/// What a rule does: in a base chain (`regular` false) or a regular one,
/// which returns more often; `nat_ok` says whether it may translate.
pub fn act(regular: bool, nat_ok: bool) -> impl Strategy<Value = Act> {
    // Regular chains return (and go to chains that may run off their end)
    // more often: that is where a `limit` lets packets come back.
    let (verdicts, ret, goto) = if regular { (2, 5, 3) } else { (3, 1, 1) };
    let nat_weight = if nat_ok { 3 } else { 0 };
    prop_oneof![
        verdicts => Just(Act::Accept),
        verdicts => Just(Act::Drop),
        1 => Just(Act::Reject),
        1 => Just(Act::Counter),
        ret => Just(Act::Return),
        3 => (0usize..3).prop_map(Act::Jump),
        goto => (0usize..3).prop_map(Act::Goto),
        nat_weight => nat().prop_map(Act::Nat),
    ]
}

/// A rule; `broad` is the chance that it has no match at all, as the
/// catch-all rules that end regular chains.
pub fn rule_spec(regular: bool, nat_ok: bool, broad: f64) -> impl Strategy<Value = RuleSpec> {
    let matches = (prop::bool::weighted(broad), matches_strategy()).prop_map(move |(broad, m)| {
        if broad {
            Matches::default()
        } else {
            m
        }
    });
    let same_as = prop::option::weighted(0.4, 0usize..8);
    let fork = prop_oneof![Just(Fork::Limit), Just(Fork::PerSaddr), Just(Fork::CountPerSaddr)];
    let limit = prop::option::weighted(if regular { 0.5 } else { 0.25 }, fork);
    let set_mark = prop::option::weighted(0.2, 0..MARKS.len());
    (matches, same_as, any::<bool>(), act(regular, nat_ok), limit, set_mark).prop_map(
        |(matches, same_as, duplicate, act, limit, set_mark)| RuleSpec {
            matches,
            same_as,
            duplicate,
            act,
            limit,
            set_mark,
        },
    )
}

pub fn spec() -> impl Strategy<Value = Spec> {
    let input = prop::collection::vec(rule_spec(false, false, 0.05), 1..7);
    let pre = prop::collection::vec(rule_spec(false, true, 0.05), 0..5);
    // A regular chain often ends with a catch-all verdict, as `ssh_rate`
    // does in issue 8.
    let catch_all = prop::option::weighted(
        0.5,
        prop_oneof![Just(Act::Accept), Just(Act::Drop), Just(Act::Reject)],
    );
    let chain = (prop::collection::vec(rule_spec(true, true, 0.3), 1..4), catch_all).prop_map(
        move |(mut rules, last)| {
            if let Some(act) = last {
                let matches = Matches::default();
                rules.push(RuleSpec {
                    matches,
                    same_as: None,
                    duplicate: false,
                    act,
                    limit: None,
                    set_mark: None,
                });
            }
            rules
        },
    );
    let regular = prop::collection::vec(chain, 1..4);
    let hook = prop::sample::select(vec![Hook::Input, Hook::Forward, Hook::Output]);
    (input, pre, regular, prop::bool::weighted(0.05), hook).prop_map(
        |(input, pre, regular, loops, hook)| {
            let mut chains = vec![input, pre];
            chains.extend(regular);
            Spec { chains, loops, hook }
        },
    )
}

pub fn addr_range(f: Family, idx: usize) -> (u128, u128) {
    let base = if f == Family::V4 { V4_BASE } else { V6_BASE };
    (base + PREFIXES[idx].0, base + PREFIXES[idx].1)
}

pub fn space_of(m: &Matches) -> Vec<Cube> {
    let mut parts: Vec<Vec<Cube>> = Vec::new();
    if let Some(f) = m.family {
        parts.push(vec![Cube { family: Families::only(f), ..Cube::full() }]);
    }
    if let Some((ps, neg)) = &m.proto {
        let mut set = Protos::NONE;
        for &p in ps {
            set.insert(p);
        }
        parts.push(space::proto_space(set, *neg));
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
        let mut iv = Intervals::range((PORT_BASE + lo).into(), (PORT_BASE + hi).into());
        if neg {
            iv = iv.complement(PORT_MAX);
        }
        parts.push(vec![Cube { proto: Protos::only(p), dport: Some(iv), ..Cube::full() }]);
    }
    if let Some((i, neg)) = m.iif {
        let names = Names::of(&[NamePattern::parse(NAMES[i])], neg);
        parts.push(vec![Cube { iif: names, ..Cube::full() }]);
    }
    if let Some((i, neg)) = m.oif {
        let names = Names::of(&[NamePattern::parse(NAMES[i])], neg);
        parts.push(vec![Cube { oif: names, ..Cube::full() }]);
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
    if let Some((f, i, neg)) = m.icmp {
        let (proto, t) = match f {
            Family::V4 => (PROTO_ICMP, ICMP_TYPES[i].0),
            Family::V6 => (PROTO_ICMPV6, ICMP_TYPES[i].1),
        };
        let mut iv = Intervals::range(t.into(), t.into());
        if neg {
            iv = iv.complement(255);
        }
        parts.push(vec![Cube {
            family: Families::only(f),
            proto: Protos::only(proto),
            icmp_type: Some(iv),
            ..Cube::full()
        }]);
    }
    if let Some(i) = m.flags {
        parts.push(vec![Cube {
            proto: Protos::only(PROTO_TCP),
            tcp_flags: Some(FLAG_TESTS[i].bytes()),
            ..Cube::full()
        }]);
    }
    if let Some((i, neg)) = m.mark {
        let v = u128::from(MARKS[i]);
        let mut iv = Intervals::range(v, v);
        if neg {
            iv = iv.complement(space::MARK_MAX);
        }
        parts.push(vec![Cube { mark: Some(iv), ..Cube::full() }]);
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

pub fn loc(chain: usize, index: usize) -> Loc {
    let start = chain * 1000 + index * 10;
    Loc::new(FileId(0), Span::new(start, start + 5))
}

pub fn translation(n: Nat, at: Loc) -> ir::Nat {
    let backend = |last: u8, port| ir::NatBackend {
        addr: std::net::IpAddr::from([10, 0, 0, last]),
        port,
        weight: 1,
        loc: at,
    };
    match n {
        Nat::DnatA => ir::Nat::Dnat { backends: vec![backend(1, Some(80))], balance: None },
        Nat::DnatB => ir::Nat::Dnat { backends: vec![backend(2, Some(80))], balance: None },
        Nat::Snat => ir::Nat::Snat { addr: backend(9, None).addr, port: None },
        Nat::Masquerade => ir::Nat::Masquerade,
        Nat::Redirect => ir::Nat::Redirect { port: 8080 },
    }
}

impl Spec {
    /// The regular chain the `n`-th choice of chain `from` names: a later
    /// one, or any one when loops are allowed. `None` when there is none.
    pub fn target(&self, from: usize, n: usize) -> Option<ChainId> {
        let regular = BASES..self.chains.len();
        let targets: Vec<usize> =
            regular.filter(|&c| self.loops || c > from.max(BASES - 1)).collect();
        targets.get(n % targets.len().max(1)).map(|&c| ChainId(c as u32))
    }

    pub fn rule(&self, chain: usize, index: usize, r: &RuleSpec) -> ir::Rule {
        let at = loc(chain, index);
        let model = match r.same_as {
            Some(k) if index > 0 => &self.chains[chain][index - 1 - k % index],
            _ => r,
        };
        let act = if r.duplicate { model.act } else { r.act };
        let mut actions = Vec::new();
        if let Some(fork) = r.limit {
            actions.push(fork.action());
        }
        if let Some(m) = r.set_mark {
            actions.push(Action::MarkSet(MARKS[m]));
        }
        let verdict = match act {
            Act::Accept => Some(Verdict::Accept),
            Act::Drop => Some(Verdict::Drop),
            Act::Reject => Some(Verdict::Reject(ir::RejectWith::PortUnreachable)),
            Act::Counter => {
                actions.push(Action::Counter(None));
                None
            }
            Act::Return => Some(Verdict::Return),
            // A jump with nowhere to go drops instead.
            Act::Jump(n) => Some(self.target(chain, n).map_or(Verdict::Drop, Verdict::Jump)),
            Act::Goto(n) => Some(self.target(chain, n).map_or(Verdict::Drop, Verdict::Goto)),
            Act::Nat(n) => {
                actions.push(Action::Nat(translation(n, at)));
                None
            }
        };
        ir::Rule {
            id: RuleId { table: 0, chain: ChainId(chain as u32), index: index as u32 },
            loc: at,
            space: space_of(&model.matches),
            actions,
            verdict,
            verdict_loc: None,
            allows: vec![],
        }
    }

    pub fn build(&self) -> ir::Policy {
        let chains = self
            .chains
            .iter()
            .enumerate()
            .map(|(c, rules)| ir::Chain {
                name: ["input", "pre", "c2", "c3", "c4"][c].into(),
                loc: loc(9, c),
                base: match c {
                    0 => Some(BaseChain {
                        hook: self.hook,
                        kind: ChainKind::Filter,
                        priority: 0,
                        policy: ChainPolicy::Accept,
                    }),
                    1 => Some(BaseChain {
                        hook: Hook::Prerouting,
                        kind: ChainKind::Nat,
                        priority: -100,
                        policy: ChainPolicy::Accept,
                    }),
                    _ => None,
                },
                rules: rules.iter().enumerate().map(|(i, r)| self.rule(c, i, r)).collect(),
            })
            .collect();
        ir::Policy {
            tables: vec![ir::Table {
                name: "t".into(),
                loc: loc(9, 9),
                chains,
                counters: vec![],
                rule_counters: true,
            }],
        }
    }
}
