//! The analysis held to the reference evaluator on random policies.
//!
//! A policy here has a filter base chain, a nat base chain and up to three
//! regular chains reached by `jump` and `goto` (nested, and now and then in a
//! loop). Rules may `limit` any verdict, including `jump`, `goto` and
//! `return`, may have no verdict, and may translate addresses with identical
//! or different targets.
//!
//! Every packet of a tiny domain is run through every chain, entered at its
//! top, under every sequence of `limit` outcomes: each evaluation of a rule
//! with a `limit` may be under or over its rate, independently, as in the
//! kernel. The domain holds every value the generated rules can tell apart,
//! plus one "other" value per field, so a claim about all packets is checked
//! on all packets. The laws, for every rule of every chain:
//!
//! - a rule reported shadowed or redundant never runs (never decides) for any
//!   packet under any limit outcome, and removing it changes no packet's fate
//!   (verdict and translation) under any limit outcome;
//! - a rule with matches that is not reported runs for some packet under some
//!   limit outcome;
//! - a covered rule is `redundant-rule` exactly when every earlier rule that
//!   can decide one of its packets first does what the rule would do (the
//!   same verdict statement, or the same final verdict and translation);
//!   otherwise `shadowed-rule`;
//! - every rule a finding names is the first to end the chain for some of the
//!   rule's packets under some limit outcome, in the way the label says.

use std::collections::BTreeSet;

use proptest::prelude::*;
use shriek_compiler::analysis::{self, shadow};
use shriek_compiler::eval::{self, ChainEnd, Step};
use shriek_compiler::ir::{
    self, Action, BaseChain, ChainId, ChainKind, ChainPolicy, Hook, Limit, Outcome, RateUnit,
    RuleId, Verdict,
};
use shriek_compiler::space::{
    self, CtState, CtStates, Cube, Families, Family, Intervals, NamePattern, Names, Packet, Protos,
    PORT_MAX, PROTO_ICMP, PROTO_ICMPV6, PROTO_TCP, PROTO_UDP,
};
use shriek_grammar::{Diagnostic, FileId, Loc, Span};

const V4_BASE: u128 = 0x0a00_0000;
const V6_BASE: u128 = 0xfd00 << 112;
/// Prefixes as offsets from the family's base: /30, /31, /31, /32.
const PREFIXES: [(u128, u128); 4] = [(0, 3), (0, 1), (2, 3), (1, 1)];
const PROTOS: [u8; 4] = [PROTO_TCP, PROTO_UDP, PROTO_ICMP, PROTO_ICMPV6];
/// Port matches name ports from here on (so `tcp dport 22` is reachable).
const PORT_BASE: u16 = 20;
const PORTS: u16 = 8;
/// Exact names and a wildcard over one of them.
const NAMES: [&str; 3] = ["a", "b", "a*"];
const STATES: [CtState; 2] = [CtState::New, CtState::Established];
/// ICMP types matches name, as (icmp, icmpv6): echo-request, echo-reply.
const ICMP_TYPES: [(u8, u8); 2] = [(8, 128), (0, 129)];
/// Regular chains follow the two base chains.
const BASES: usize = 2;

#[derive(Clone, Debug)]
struct Matches {
    family: Option<Family>,
    proto: Option<(Vec<u8>, bool)>,
    saddr: Option<(Family, usize, bool)>,
    dport: Option<(u8, u16, u16, bool)>,
    iif: Option<(usize, bool)>,
    ct: Option<Vec<bool>>,
    /// `icmp type` (IPv4) or `icmpv6 type` (IPv6) of `ICMP_TYPES[i]`, negated or not.
    icmp: Option<(Family, usize, bool)>,
}

/// A translation, by target: two dnats differ only in their address.
#[derive(Clone, Copy, Debug)]
enum Nat {
    DnatA,
    DnatB,
    Snat,
    Masquerade,
    Redirect,
}

#[derive(Clone, Copy, Debug)]
enum Act {
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
struct RuleSpec {
    matches: Matches,
    /// Use the matches of the rule this many places further up (modulo
    /// their number) instead: rules that repeat a match are where coverage
    /// lives.
    same_as: Option<usize>,
    /// With `same_as`, also do what that rule does: a duplicate.
    duplicate: bool,
    act: Act,
    limit: bool,
}

/// The chains' rules: `input` (filter), `pre` (nat), then regular chains.
#[derive(Clone, Debug)]
struct Spec {
    chains: Vec<Vec<RuleSpec>>,
    /// Whether jumps may go to any regular chain (loops included), not only
    /// to later ones.
    loops: bool,
}

fn matches_strategy() -> impl Strategy<Value = Matches> {
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
    let ct = prop::option::weighted(0.2, prop::collection::vec(any::<bool>(), STATES.len()));
    let icmp = prop::option::weighted(
        0.15,
        (prop_oneof![Just(Family::V4), Just(Family::V6)], 0..2usize, prop::bool::weighted(0.3)),
    );
    (family, proto, saddr, dport, iif, ct, icmp).prop_map(
        |(family, proto, saddr, dport, iif, ct, icmp)| Matches {
            family,
            proto,
            saddr,
            dport,
            iif,
            ct,
            icmp,
        },
    )
}

fn nat() -> impl Strategy<Value = Nat> {
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
fn act(regular: bool, nat_ok: bool) -> impl Strategy<Value = Act> {
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
fn rule_spec(regular: bool, nat_ok: bool, broad: f64) -> impl Strategy<Value = RuleSpec> {
    let none = Matches {
        family: None,
        proto: None,
        saddr: None,
        dport: None,
        iif: None,
        ct: None,
        icmp: None,
    };
    let matches = (prop::bool::weighted(broad), matches_strategy()).prop_map(move |(broad, m)| {
        if broad {
            none.clone()
        } else {
            m
        }
    });
    let same_as = prop::option::weighted(0.4, 0usize..8);
    let limit = prop::bool::weighted(if regular { 0.5 } else { 0.25 });
    (matches, same_as, any::<bool>(), act(regular, nat_ok), limit).prop_map(
        |(matches, same_as, duplicate, act, limit)| RuleSpec {
            matches,
            same_as,
            duplicate,
            act,
            limit,
        },
    )
}

fn spec() -> impl Strategy<Value = Spec> {
    let input = prop::collection::vec(rule_spec(false, false, 0.05), 1..7);
    let pre = prop::collection::vec(rule_spec(false, true, 0.05), 0..5);
    // A regular chain often ends with a catch-all verdict, as `ssh_rate`
    // does in issue 8.
    let catch_all = prop::option::weighted(
        0.5,
        prop_oneof![Just(Act::Accept), Just(Act::Drop), Just(Act::Reject)],
    );
    let none = Matches {
        family: None,
        proto: None,
        saddr: None,
        dport: None,
        iif: None,
        ct: None,
        icmp: None,
    };
    let chain = (prop::collection::vec(rule_spec(true, true, 0.3), 1..4), catch_all).prop_map(
        move |(mut rules, last)| {
            if let Some(act) = last {
                let matches = none.clone();
                rules.push(RuleSpec {
                    matches,
                    same_as: None,
                    duplicate: false,
                    act,
                    limit: false,
                });
            }
            rules
        },
    );
    let regular = prop::collection::vec(chain, 1..4);
    (input, pre, regular, prop::bool::weighted(0.05)).prop_map(|(input, pre, regular, loops)| {
        let mut chains = vec![input, pre];
        chains.extend(regular);
        Spec { chains, loops }
    })
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

fn loc(chain: usize, index: usize) -> Loc {
    let start = chain * 1000 + index * 10;
    Loc::new(FileId(0), Span::new(start, start + 5))
}

fn translation(n: Nat, at: Loc) -> ir::Nat {
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
    fn target(&self, from: usize, n: usize) -> Option<ChainId> {
        let regular = BASES..self.chains.len();
        let targets: Vec<usize> =
            regular.filter(|&c| self.loops || c > from.max(BASES - 1)).collect();
        targets.get(n % targets.len().max(1)).map(|&c| ChainId(c as u32))
    }

    fn rule(&self, chain: usize, index: usize, r: &RuleSpec) -> ir::Rule {
        let at = loc(chain, index);
        let model = match r.same_as {
            Some(k) if index > 0 => &self.chains[chain][index - 1 - k % index],
            _ => r,
        };
        let act = if r.duplicate { model.act } else { r.act };
        let mut actions = Vec::new();
        if r.limit {
            actions.push(Action::Limit(Limit { rate: 3, per: RateUnit::Minute, burst: None }));
        }
        let verdict = match act {
            Act::Accept => Some(Verdict::Accept),
            Act::Drop => Some(Verdict::Drop),
            Act::Reject => Some(Verdict::Reject),
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

    fn build(&self) -> ir::Policy {
        let chains = self
            .chains
            .iter()
            .enumerate()
            .map(|(c, rules)| ir::Chain {
                name: ["input", "pre", "c2", "c3", "c4"][c].into(),
                loc: loc(9, c),
                base: match c {
                    0 => Some(BaseChain {
                        hook: Hook::Input,
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

/// Every packet of the domain: each value rules can name, plus one other.
fn packets() -> Vec<Packet> {
    let mut out = Vec::new();
    for family in Family::ALL {
        let base = if family == Family::V4 { V4_BASE } else { V6_BASE };
        let addrs = [base, base + 1, base + 2, base + 3, base + 100];
        for proto in [PROTO_TCP, PROTO_UDP, PROTO_ICMP, PROTO_ICMPV6, 47] {
            let ports: Vec<Option<u16>> = if proto == PROTO_TCP || proto == PROTO_UDP {
                (PORT_BASE..PORT_BASE + PORTS).chain([1000]).map(Some).collect()
            } else {
                vec![None]
            };
            let icmp = proto == PROTO_ICMP || proto == PROTO_ICMPV6;
            // Each type a match names, in either numbering, and one other.
            let types: Vec<Option<u8>> = if icmp {
                vec![Some(8), Some(0), Some(128), Some(129), Some(3)]
            } else {
                vec![None]
            };
            for &saddr in &addrs {
                for &icmp_type in &types {
                    for &dport in &ports {
                        for iif in ["a", "ab", "b", "other"] {
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
                                    icmp_type,
                                    icmp_code: icmp_type.map(|_| 0),
                                });
                            }
                        }
                    }
                }
            }
        }
    }
    out
}

/// One packet for each way the policy's rules can match: two packets that
/// the same rules match go the same way through every chain.
fn representatives(p: &ir::Policy, all: Vec<Packet>) -> Vec<Packet> {
    let mut seen = BTreeSet::new();
    all.into_iter()
        .filter(|pk| seen.insert(p.rules().map(|r| ir::matches(r, pk)).collect::<Vec<bool>>()))
        .collect()
}

/// One way a chain's evaluation can go, for one sequence of limit outcomes.
struct Path {
    end: ChainEnd,
    /// Every rule that ran, in any chain.
    ran: Vec<RuleId>,
}

/// The most limit outcome sequences tried for one packet and chain; a loop
/// of limited jumps can have very many.
const MAX_PATHS: usize = 64;

/// Every way chain `chain` can go for `packet`: one evaluation per distinct
/// sequence of limit outcomes. `None` past [`MAX_PATHS`].
fn paths(p: &ir::Policy, chain: ChainId, packet: &Packet) -> Option<Vec<Path>> {
    let mut out = Vec::new();
    // Prefixes of outcome sequences still to run; past a prefix, every
    // limit holds.
    let mut todo: Vec<Vec<bool>> = vec![Vec::new()];
    while let Some(prefix) = todo.pop() {
        if out.len() >= MAX_PATHS {
            return None;
        }
        let mut asked = 0;
        let mut steps = Vec::new();
        let choose = |_: RuleId| {
            let under = prefix.get(asked).copied().unwrap_or(true);
            asked += 1;
            under
        };
        let end = eval::run_chain(p, 0, chain, packet, choose, &mut steps);
        // Each limit that took the default could have failed instead.
        for k in prefix.len()..asked {
            let mut next = prefix.clone();
            next.resize(k, true);
            next.push(false);
            todo.push(next);
        }
        let ran = steps
            .iter()
            .filter_map(|s| match s {
                Step::Matched { rule } => Some(*rule),
                _ => None,
            })
            .collect();
        out.push(Path { end, ran });
    }
    Some(out)
}

/// How a packet's evaluation of a chain ends, as findings compare it.
#[derive(Clone, Debug, PartialEq)]
enum End {
    Final(Outcome, Option<ir::Nat>),
    Return,
    /// Went to this chain with `goto`, which may run off its end.
    Goto(ChainId),
}

/// Whether chain `c` gives `packet` a final verdict under every sequence of
/// limit outcomes. `None` when there are too many to try.
fn never_returns(p: &ir::Policy, c: ChainId, packet: &Packet) -> Option<bool> {
    Some(paths(p, c, packet)?.iter().all(|path| matches!(path.end, ChainEnd::Decided { .. })))
}

/// The first rule of chain `c` before `upto` that ends the chain for
/// `packet` under every limit outcome, and how: its *sure decider*. A rule
/// with a `limit` is never one; a `jump` is one when its target never
/// returns the packet, and then ends the chain as the target's own sure
/// decider does; a `goto` ends it as its target's sure decider when the
/// target never returns the packet. `Err` when there are too many limit
/// outcomes to try.
fn sure_decider(
    p: &ir::Policy,
    c: ChainId,
    packet: &Packet,
    upto: usize,
) -> Result<Option<(usize, End)>, ()> {
    let target_end = |to: ChainId| -> Result<Option<End>, ()> {
        if !never_returns(p, to, packet).ok_or(())? {
            return Ok(None);
        }
        let (_, end) = sure_decider(p, to, packet, usize::MAX)?
            .expect("a chain that never returns a packet has a sure decider for it");
        Ok(Some(end))
    };
    let rules = &p.tables[0].chains[c.0 as usize].rules;
    for (j, b) in rules.iter().enumerate().take(upto) {
        let limited = b.actions.iter().any(|a| matches!(a, Action::Limit(_)));
        if !ir::matches(b, packet) || limited {
            continue;
        }
        if let Some(n) = eval::translation(b) {
            return Ok(Some((j, End::Final(Outcome::Accept, Some(n.clone())))));
        }
        let end = match b.verdict {
            None => continue,
            Some(Verdict::Accept) => End::Final(Outcome::Accept, None),
            Some(Verdict::Drop) => End::Final(Outcome::Drop, None),
            Some(Verdict::Reject) => End::Final(Outcome::Reject, None),
            Some(Verdict::Return) => End::Return,
            Some(Verdict::Goto(to)) => target_end(to)?.unwrap_or(End::Goto(to)),
            Some(Verdict::Jump(to)) => match target_end(to)? {
                Some(end) => end,
                None => continue,
            },
        };
        return Ok(Some((j, end)));
    }
    Ok(None)
}

/// Two translations are the same when their targets are, wherever written.
fn same_nat(a: &ir::Nat, b: &ir::Nat) -> bool {
    match (a, b) {
        (
            ir::Nat::Dnat { backends: x, balance: bx },
            ir::Nat::Dnat { backends: y, balance: by },
        ) => {
            bx == by
                && x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .all(|(m, n)| (m.addr, m.port, m.weight) == (n.addr, n.port, n.weight))
        }
        _ => a == b,
    }
}

fn same_end(a: &End, b: &End) -> bool {
    match (a, b) {
        (End::Final(x, n), End::Final(y, m)) => {
            x == y
                && match (n, m) {
                    (None, None) => true,
                    (Some(n), Some(m)) => same_nat(n, m),
                    _ => false,
                }
        }
        _ => a == b,
    }
}

/// What rule `r` does to a packet when it decides, when that is one end.
fn own_end(r: &ir::Rule) -> Option<End> {
    if let Some(n) = eval::translation(r) {
        return Some(End::Final(Outcome::Accept, Some(n.clone())));
    }
    Some(match r.verdict? {
        Verdict::Accept => End::Final(Outcome::Accept, None),
        Verdict::Drop => End::Final(Outcome::Drop, None),
        Verdict::Reject => End::Final(Outcome::Reject, None),
        Verdict::Return => End::Return,
        Verdict::Goto(c) => End::Goto(c),
        // What a jump does depends on its target: only the same jump is the same.
        Verdict::Jump(_) => return None,
    })
}

/// Whether earlier rule `b`, ending the chain with `e`, does what `r` would:
/// the same verdict statement and translation, or the same end.
fn same(b: &ir::Rule, e: &End, r: &ir::Rule) -> bool {
    let statement = b.verdict == r.verdict
        && match (eval::translation(b), eval::translation(r)) {
            (None, None) => true,
            (Some(x), Some(y)) => same_nat(x, y),
            _ => false,
        };
    statement || own_end(r).is_some_and(|o| same_end(&o, e))
}

fn class_end(p: &ir::Policy, class: shadow::Class) -> End {
    match class {
        shadow::Class::Accept => End::Final(Outcome::Accept, None),
        shadow::Class::Drop => End::Final(Outcome::Drop, None),
        shadow::Class::Reject => End::Final(Outcome::Reject, None),
        shadow::Class::Translate(r) => {
            End::Final(Outcome::Accept, eval::translation(p.rule(r)).cloned())
        }
        shadow::Class::Return => End::Return,
        shadow::Class::Goto(c) => End::Goto(c),
        shadow::Class::Jump(c) => panic!("a blocker never ends the chain with `jump {c:?}`"),
    }
}

const RULE_FINDINGS: [&str; 3] = ["shadowed-rule", "redundant-rule", "unmatchable-rule"];

/// What [`check`] looked at.
#[derive(Default)]
struct Looked {
    /// Evaluations of a chain for one packet under one limit sequence.
    paths: usize,
    /// Findings held to the laws.
    findings: usize,
}

/// Runs every law on one policy.
fn check(p: &ir::Policy, looked: &mut Looked) -> Result<(), TestCaseError> {
    let diags = analysis::analyze(p);
    // The kernel refuses a ruleset whose jumps loop; with loops, only the
    // soundness of coverage is held to the evaluator (which cuts a loop at
    // the kernel's jump depth and drops).
    let loops = diags.iter().any(|d| d.name == "jump-cycle");
    let too_many = || TestCaseError::reject("too many limit outcomes");
    let all = representatives(p, packets());
    let table = &p.tables[0];
    for (c, chain) in table.chains.iter().enumerate() {
        let id = ChainId(c as u32);
        let coverage = shadow::coverage(table, id);
        // Per packet, every rule that runs under some limit outcome.
        let mut ran: Vec<BTreeSet<RuleId>> = Vec::with_capacity(all.len());
        for pk in &all {
            let ps = paths(p, id, pk).ok_or_else(too_many)?;
            looked.paths += ps.len();
            ran.push(ps.into_iter().flat_map(|path| path.ran).collect());
        }
        for (i, r) in chain.rules.iter().enumerate() {
            let mine: Vec<usize> = (0..all.len()).filter(|&k| ir::matches(r, &all[k])).collect();
            let diag =
                diags.iter().find(|d| d.primary.loc == r.loc && RULE_FINDINGS.contains(&d.name));
            let name = diag.map(|d| d.name);
            if r.space.iter().all(Cube::is_empty) {
                prop_assert_eq!(name, Some("unmatchable-rule"));
                prop_assert!(mine.is_empty());
                continue;
            }
            let runs = mine.iter().any(|&k| ran[k].contains(&r.id));
            let covered = matches!(coverage[i], shadow::Coverage::Covered(_));
            if loops {
                prop_assert!(!(covered && runs), "rule {}/{} runs\n{}", c, i, show(p));
                continue;
            }
            prop_assert_eq!(covered, !runs, "rule {}/{}: {:?}\n{}", c, i, coverage[i], show(p));
            if !covered {
                prop_assert_eq!(name, None, "rule {}/{}", c, i);
                continue;
            }
            looked.findings += 1;
            // Each packet's sure decider, by brute force.
            let mut firsts: Vec<(usize, End)> = Vec::new();
            for &k in &mine {
                let first = sure_decider(p, id, &all[k], i).map_err(|()| too_many())?;
                let first = first.expect("a rule that never runs has a sure decider");
                if !firsts.contains(&first) {
                    firsts.push(first);
                }
            }
            let differs = firsts.iter().any(|(j, e)| !same(&chain.rules[*j], e, r));
            let own = r.verdict.is_some() || eval::translation(r).is_some();
            let expect = if differs || !own { "shadowed-rule" } else { "redundant-rule" };
            prop_assert_eq!(
                name,
                Some(expect),
                "rule {}/{}: firsts {:?}\n{}",
                c,
                i,
                firsts,
                show(p)
            );
            let shadow::Coverage::Covered(cover) = &coverage[i] else { unreachable!() };
            prop_assert_eq!(cover.differs, differs && own);
            // Every labelled rule is the sure decider of some packet, as labelled.
            prop_assert!(!cover.shown.is_empty());
            for &(j, class) in &cover.shown {
                let e = class_end(p, class);
                let agrees = firsts.iter().any(|(k, f)| *k == j as usize && same_end(f, &e));
                prop_assert!(
                    agrees,
                    "label {} {:?} is no first end of {:?}\n{}",
                    j,
                    class,
                    firsts,
                    show(p)
                );
            }
            let labels = &diag.expect("checked above").related;
            prop_assert!(labels.iter().all(|l| chain.rules.iter().any(|b| b.loc == l.loc)));
            // Removing the rule changes no packet's fate.
            let mut without = p.clone();
            without.tables[0].chains[c].rules.remove(i);
            let fates = |pol: &ir::Policy, k: usize| -> Option<Vec<String>> {
                let mut v: Vec<String> = paths(pol, id, &all[k])?
                    .iter()
                    .map(|path| match path.end {
                        ChainEnd::Decided { outcome, by, .. } => {
                            format!("{outcome:?} {:?}", eval::translation(pol.rule(by)))
                        }
                        ChainEnd::Returned { .. } => "returned".to_string(),
                    })
                    .collect();
                v.sort();
                Some(v)
            };
            for &k in &mine {
                prop_assert_eq!(fates(p, k), fates(&without, k));
            }
        }
    }
    Ok(())
}

/// The policy as text, for failure messages.
fn show(p: &ir::Policy) -> String {
    let mut out = String::new();
    for chain in &p.tables[0].chains {
        out.push_str(&format!("chain {}:\n", chain.name));
        for r in &chain.rules {
            out.push_str(&format!("  {:?} {:?} {:?}\n", r.space, r.actions, r.verdict));
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn findings_agree_with_the_evaluator(spec in spec()) {
        check(&spec.build(), &mut Looked::default())?;
    }
}

fn findings(d: &[Diagnostic]) -> Vec<&str> {
    d.iter().map(|d| d.name).collect()
}

/// The SSH rate-limit pattern of issue 8 is one of the generator's
/// policies, and it gets no finding: the jump lets some packets come back.
#[test]
fn limit_inside_a_jump_target_does_not_shadow() {
    let ssh = |act, limit| RuleSpec {
        matches: Matches {
            family: None,
            proto: None,
            saddr: None,
            dport: Some((PROTO_TCP, 2, 2, false)),
            iif: None,
            ct: None,
            icmp: None,
        },
        same_as: None,
        duplicate: false,
        act,
        limit,
    };
    let any = |act, limit| RuleSpec {
        matches: Matches { dport: None, ..ssh(act, limit).matches },
        same_as: None,
        duplicate: false,
        act,
        limit,
    };
    let spec = Spec {
        chains: vec![
            vec![ssh(Act::Jump(0), false), ssh(Act::Accept, false)],
            vec![],
            vec![any(Act::Return, true), any(Act::Drop, false)],
        ],
        loops: false,
    };
    let policy = spec.build();
    assert_eq!(findings(&analysis::analyze(&policy)), Vec::<&str>::new());
    check(&policy, &mut Looked::default()).expect("the laws hold");
}

/// The generator must produce every kind of finding often, in jumped-to
/// chains and behind limits too, or the property above would pass vacuously;
/// and the laws must run on most policies, not be skipped.
#[test]
fn generator_produces_every_rule_finding() {
    use proptest::strategy::ValueTree;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let mut seen = std::collections::BTreeMap::<String, usize>::new();
    let mut count = |what: String| *seen.entry(what).or_default() += 1;
    let (mut looked, mut skipped) = (Looked::default(), 0);
    for case in 0..1500 {
        let spec = spec().new_tree(&mut runner).expect("a value").current();
        let policy = spec.build();
        let diags = analysis::analyze(&policy);
        let table = &policy.tables[0];
        for d in &diags {
            count(d.name.to_string());
            let Some(r) = policy.rules().find(|r| r.loc == d.primary.loc) else { continue };
            if r.id.chain.0 as usize >= BASES {
                count(format!("{} in a regular chain", d.name));
            }
            if eval::translation(r).is_some() {
                count(format!("{} translating", d.name));
            }
            let before = &table.chains[r.id.chain.0 as usize].rules[..r.id.index as usize];
            if before.iter().any(limited) {
                count(format!("{} behind a limit", d.name));
            }
        }
        // Issue 8's shape: a rule with the matches of an earlier jump or goto
        // into a chain with a `limit` rule, found covered or not.
        for (c, rules) in spec.chains.iter().enumerate() {
            for (i, r) in rules.iter().enumerate() {
                let Some(k) = r.same_as.filter(|_| i > 0) else { continue };
                let model = &table.chains[c].rules[i - 1 - k % i];
                let target = match model.verdict {
                    Some(Verdict::Jump(t) | Verdict::Goto(t)) if !limited(model) => t,
                    _ => continue,
                };
                if !table.chains[target.0 as usize].rules.iter().any(limited) {
                    continue;
                }
                let rule = &table.chains[c].rules[i];
                let found = diags.iter().any(|d| d.primary.loc == rule.loc);
                count(format!("after a jump into a limited chain: finding {found}"));
            }
        }
        if case < 300 {
            match check(&policy, &mut looked) {
                Ok(()) => {}
                Err(TestCaseError::Reject(_)) => skipped += 1,
                Err(e) => panic!("{e}"),
            }
        }
    }
    eprintln!(
        "{seen:?}\nlaws checked on {} findings and {} chain evaluations; {skipped} of 300 policies skipped",
        looked.findings, looked.paths
    );
    for name in [
        "shadowed-rule",
        "redundant-rule",
        "unmatchable-rule",
        "shadowed-rule in a regular chain",
        "redundant-rule in a regular chain",
        "shadowed-rule translating",
        "redundant-rule translating",
        "shadowed-rule behind a limit",
        "redundant-rule behind a limit",
        "jump-cycle",
        "after a jump into a limited chain: finding true",
        "after a jump into a limited chain: finding false",
    ] {
        assert!(seen.get(name).copied().unwrap_or(0) >= 20, "{name}: {seen:?}");
    }
    assert!(
        looked.findings >= 300 && skipped <= 6,
        "{} findings, {skipped} skipped",
        looked.findings
    );
}

fn limited(r: &ir::Rule) -> bool {
    r.actions.iter().any(|a| matches!(a, Action::Limit(_)))
}
