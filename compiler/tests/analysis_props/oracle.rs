//! The oracle the analysis laws are held to: every packet of a tiny domain
//! through every chain under every sequence of fork outcomes (each
//! evaluation of a rule with a `limit`, a per-source rate or a connection
//! count may hold or not, independently, as in the kernel), and, by brute
//! force, the first rule that surely ends a chain for a packet.

use std::collections::BTreeSet;

use shriek_compiler::analysis::shadow;
use shriek_compiler::eval::{self, ChainEnd, Step};
use shriek_compiler::ir::{self, ChainId, Hook, Outcome, RuleId, Verdict};
use shriek_compiler::space::{
    CtState, Family, Packet, PROTO_ICMP, PROTO_ICMPV6, PROTO_TCP, PROTO_UDP,
};

use super::policies::{FLAG_TESTS, MARKS, PORTS, PORT_BASE, V4_BASE, V6_BASE};

/// Every packet of the domain: each value rules can name, plus one other.
/// An interface is the empty name, which no rule can name, and which the
/// packets of some hooks have (`enters`); when some rule of `p` names the
/// interface, also each class of names the rules tell apart.
pub fn packets(p: &ir::Policy) -> Vec<Packet> {
    let names = |restricted: bool| if restricted { vec!["", "a", "ab", "b"] } else { vec![""] };
    let cubes = || p.rules().flat_map(|r| r.space.iter());
    let iifs = names(cubes().any(|c| !c.iif.is_any()));
    let oifs = names(cubes().any(|c| !c.oif.is_any()));
    let ifaces: Vec<(&str, &str)> =
        iifs.iter().flat_map(|&i| oifs.iter().map(move |&o| (i, o))).collect();
    let mut out = Vec::new();
    for family in Family::ALL {
        let base = if family == Family::V4 { V4_BASE } else { V6_BASE };
        let addrs = [base, base + 1, base + 2, base + 3, base + 100];
        // 0 and 44 are IPv6 extension headers, which no IPv6 packet has as
        // its protocol (the kernel reads past them); IPv4 packets may.
        let protos: &[u8] = match family {
            Family::V4 => &[PROTO_TCP, PROTO_UDP, PROTO_ICMP, PROTO_ICMPV6, 0, 44, 47],
            Family::V6 => &[PROTO_TCP, PROTO_UDP, PROTO_ICMP, PROTO_ICMPV6, 47],
        };
        for &proto in protos {
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
            let flags: Vec<Option<u8>> = if proto == PROTO_TCP {
                flag_classes().into_iter().map(Some).collect()
            } else {
                vec![None]
            };
            for &saddr in &addrs {
                for (&icmp_type, &tcp_flags) in
                    types.iter().flat_map(|t| flags.iter().map(move |f| (t, f)))
                {
                    for &dport in &ports {
                        for &(iif, oif) in &ifaces {
                            for (ct, mark) in [CtState::New, CtState::Established, CtState::Invalid]
                                .into_iter()
                                .flat_map(|ct| [0, MARKS[0], MARKS[1]].map(|m| (ct, m)))
                            {
                                out.push(Packet {
                                    family,
                                    proto,
                                    saddr,
                                    daddr: 0,
                                    sport: dport.map(|_| 1),
                                    dport,
                                    iif: iif.into(),
                                    oif: oif.into(),
                                    ct,
                                    icmp_type,
                                    icmp_code: icmp_type.map(|_| 0),
                                    tcp_flags,
                                    mark,
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

/// Per chain, the hooks whose base chains reach it by `jump` or `goto`,
/// read from the policy's rules as written.
pub fn reaching_hooks(p: &ir::Policy) -> Vec<Vec<Hook>> {
    let chains = &p.tables[0].chains;
    let mut out = vec![Vec::new(); chains.len()];
    for (c, chain) in chains.iter().enumerate() {
        let Some(base) = chain.base else { continue };
        let mut todo = vec![c];
        let mut seen = vec![c];
        while let Some(at) = todo.pop() {
            if !out[at].contains(&base.hook) {
                out[at].push(base.hook);
            }
            for r in &chains[at].rules {
                if let Some(Verdict::Jump(t) | Verdict::Goto(t)) = r.verdict {
                    if !seen.contains(&(t.0 as usize)) {
                        seen.push(t.0 as usize);
                        todo.push(t.0 as usize);
                    }
                }
            }
        }
    }
    out
}

/// Whether `packet` may enter a chain that the base chains of `hooks`
/// reach (any packet, when none does): the kernel reads an empty `oif`
/// before routing and an empty `iif` for the host's own packets.
pub fn enters(hooks: &[Hook], packet: &Packet) -> bool {
    hooks.is_empty()
        || hooks.iter().any(|h| match h {
            Hook::Prerouting | Hook::Input => packet.oif.is_empty(),
            Hook::Output => packet.iif.is_empty(),
            Hook::Forward | Hook::Postrouting => true,
        })
}

/// One flags byte for each class of bytes the generator's `tcp flags` tests
/// tell apart: two bytes in one class pass exactly the same tests. (A fixed
/// handful of bytes missed, for one, SYN with RST, which passes both
/// `syn / syn,ack` and `!= syn / syn,ack,rst,fin`.)
pub fn flag_classes() -> Vec<u8> {
    let mut seen = BTreeSet::new();
    (0..=u8::MAX).filter(|&b| seen.insert(FLAG_TESTS.map(|t| t.holds(b)))).collect()
}

/// One packet for each way the policy's rules can match: two packets that
/// the same rules match, with their own mark and with each mark a rule may
/// set, go the same way through every chain.
pub fn representatives(p: &ir::Policy, all: Vec<Packet>) -> Vec<Packet> {
    let mut seen = BTreeSet::new();
    all.into_iter()
        .filter(|pk| {
            // Which hooks' chains it may enter tells packets apart too.
            let hooks = [pk.iif.is_empty(), pk.oif.is_empty()];
            let key: Vec<bool> = [pk.mark, MARKS[0], MARKS[1]]
                .into_iter()
                .flat_map(|mark| {
                    let pk = Packet { mark, ..pk.clone() };
                    p.rules().map(|r| ir::matches(r, &pk)).collect::<Vec<_>>()
                })
                .chain(hooks)
                .collect();
            seen.insert(key)
        })
        .collect()
}

/// One way a chain's evaluation can go, for one sequence of limit outcomes.
pub struct Path {
    pub end: ChainEnd,
    /// Every rule that ran, in any chain.
    pub ran: Vec<RuleId>,
}

/// The most limit outcome sequences tried for one packet and chain; a loop
/// of limited jumps can have very many.
pub const MAX_PATHS: usize = 64;

/// Every way chain `chain` can go for `packet`: one evaluation per distinct
/// sequence of limit outcomes. `None` past [`MAX_PATHS`].
pub fn paths(p: &ir::Policy, chain: ChainId, packet: &Packet) -> Option<Vec<Path>> {
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
pub enum End {
    Final(Outcome, Option<ir::Nat>),
    Return,
    /// Went to this chain with `goto`, which may run off its end.
    Goto(ChainId),
}

/// Whether chain `c` gives `packet` a final verdict under every sequence of
/// limit outcomes. `None` when there are too many to try.
pub fn never_returns(p: &ir::Policy, c: ChainId, packet: &Packet) -> Option<bool> {
    Some(paths(p, c, packet)?.iter().all(|path| matches!(path.end, ChainEnd::Decided { .. })))
}

/// The first rule of chain `c` before `upto` that ends the chain for
/// `packet` under every limit outcome, and how: its *sure decider*. A rule
/// with a `limit` is never one; a `jump` is one when its target never
/// returns the packet, and then ends the chain as the target's own sure
/// decider does; a `goto` ends it as its target's sure decider when the
/// target never returns the packet. `Err` when there are too many limit
/// outcomes to try.
///
/// The packet's mark is followed as the rules set it. Where it forks (a
/// rule with a `limit` sets it, or a chain jumped to that may return the
/// packet sets it), both sides must agree on the sure decider, else `Err`.
pub fn sure_decider(
    p: &ir::Policy,
    c: ChainId,
    packet: &Packet,
    upto: usize,
) -> Result<Option<(usize, End)>, ()> {
    sure_decider_from(p, c, packet, 0, upto)
}

fn sets_mark(r: &ir::Rule) -> Option<u32> {
    r.actions.iter().rev().find_map(|a| match a {
        ir::Action::MarkSet(m) => Some(*m),
        _ => None,
    })
}

/// Whether chain `c`, or a chain it reaches, may set the mark.
fn chain_sets_mark(p: &ir::Policy, c: ChainId, seen: &mut Vec<ChainId>) -> bool {
    if seen.contains(&c) {
        return false;
    }
    seen.push(c);
    p.tables[0].chains[c.0 as usize].rules.iter().any(|r| {
        sets_mark(r).is_some()
            || matches!(r.verdict, Some(Verdict::Jump(t) | Verdict::Goto(t)) if chain_sets_mark(p, t, seen))
    })
}

fn sure_decider_from(
    p: &ir::Policy,
    c: ChainId,
    packet: &Packet,
    from: usize,
    upto: usize,
) -> Result<Option<(usize, End)>, ()> {
    let mut packet = packet.clone();
    let rules = &p.tables[0].chains[c.0 as usize].rules;
    for (j, b) in rules.iter().enumerate().take(upto).skip(from) {
        if !ir::matches(b, &packet) {
            continue;
        }
        let set = sets_mark(b);
        if b.conditional() {
            if let Some(m) = set {
                // Either the rule holds and sets the mark, or not.
                let with =
                    sure_decider_from(p, c, &Packet { mark: m, ..packet.clone() }, j + 1, upto)?;
                let without = sure_decider_from(p, c, &packet, j + 1, upto)?;
                return if with == without { Ok(with) } else { Err(()) };
            }
            // Under its rate it may jump to a chain that sets the mark and
            // comes back: not followed here.
            if let Some(Verdict::Jump(to)) = b.verdict {
                if chain_sets_mark(p, to, &mut Vec::new()) {
                    return Err(());
                }
            }
            continue;
        }
        if let Some(m) = set {
            packet.mark = m;
        }
        let target_end = |to: ChainId| -> Result<Option<End>, ()> {
            if !never_returns(p, to, &packet).ok_or(())? {
                // It may come back with a mark it set: not followed here.
                if chain_sets_mark(p, to, &mut Vec::new()) {
                    return Err(());
                }
                return Ok(None);
            }
            let (_, end) = sure_decider(p, to, &packet, usize::MAX)?
                .expect("a chain that never returns a packet has a sure decider for it");
            Ok(Some(end))
        };

        if let Some(n) = eval::translation(b) {
            return Ok(Some((j, End::Final(Outcome::Accept, Some(n.clone())))));
        }
        let end = match b.verdict {
            None => continue,
            Some(Verdict::Accept) => End::Final(Outcome::Accept, None),
            Some(Verdict::Drop) => End::Final(Outcome::Drop, None),
            Some(Verdict::Reject(_)) => End::Final(Outcome::Reject, None),
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
pub fn same_nat(a: &ir::Nat, b: &ir::Nat) -> bool {
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

pub fn same_end(a: &End, b: &End) -> bool {
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
pub fn own_end(r: &ir::Rule) -> Option<End> {
    if let Some(n) = eval::translation(r) {
        return Some(End::Final(Outcome::Accept, Some(n.clone())));
    }
    Some(match r.verdict? {
        Verdict::Accept => End::Final(Outcome::Accept, None),
        Verdict::Drop => End::Final(Outcome::Drop, None),
        Verdict::Reject(_) => End::Final(Outcome::Reject, None),
        Verdict::Return => End::Return,
        Verdict::Goto(c) => End::Goto(c),
        // What a jump does depends on its target: only the same jump is the same.
        Verdict::Jump(_) => return None,
    })
}

/// Whether earlier rule `b`, ending the chain with `e`, does what `r` would:
/// the same verdict statement and translation, or the same end.
pub fn same(b: &ir::Rule, e: &End, r: &ir::Rule) -> bool {
    let statement = b.verdict == r.verdict
        && match (eval::translation(b), eval::translation(r)) {
            (None, None) => true,
            (Some(x), Some(y)) => same_nat(x, y),
            _ => false,
        };
    statement || own_end(r).is_some_and(|o| same_end(&o, e))
}

pub fn class_end(p: &ir::Policy, class: shadow::Class) -> End {
    match class {
        shadow::Class::Accept => End::Final(Outcome::Accept, None),
        shadow::Class::Drop => End::Final(Outcome::Drop, None),
        shadow::Class::Reject(_) => End::Final(Outcome::Reject, None),
        shadow::Class::Translate(r) => {
            End::Final(Outcome::Accept, eval::translation(p.rule(r)).cloned())
        }
        shadow::Class::Return => End::Return,
        shadow::Class::Goto(c) => End::Goto(c),
        shadow::Class::Jump(c) => panic!("a blocker never ends the chain with `jump {c:?}`"),
    }
}
