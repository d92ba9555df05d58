//! One rule at a time: each cube of a rule's space becomes one nft rule with
//! the rule's statements.
//!
//! The cubes of one space are disjoint, so a packet runs the statements of
//! at most one of them: a counter-only rule split into several nft rules
//! still counts each packet once. A rule with a `limit` and several cubes
//! jumps to one chain of its own instead, so that its cubes share one rate.
//!
//! That holds while the packet stays what it was, and the mark is the one
//! field a rule changes without ending the chain (`mark set`, or a `jump`
//! to a chain that sets it). A rule whose cubes tell marks apart and that
//! may change the mark and go on therefore jumps to a chain of its own
//! holding its cubes, each ending that chain ([`once`]): the first cube
//! that holds is the only one that runs.
//!
//! With per-rule counters on (the default), each rule's statements start
//! with an anonymous `counter`: the packets and bytes `shriekc stats` shows
//! for the rule, the sum over its nft rules.

use std::borrow::Cow;

use crate::ir::{self, Action, Nat};
use crate::nft::{self, Expr, Origin, Selector};
use crate::space::flags;
use crate::space::{Cube, Families, Family, Intervals, Protos, MARK_MAX};

use super::TableCx;

pub(super) mod by_proto;
mod matches;

pub use matches::cube_matches;
use matches::{interval_match, split_names};

/// What lowering a rule needs that depends on the rule alone: its
/// [`pieces`] and each piece's matches. Made for every rule of a chain in
/// parallel; what needs the table's names comes after, in order.
pub(super) struct Cut<'a> {
    pieces: Cow<'a, [Cube]>,
    matches: Vec<Vec<Expr>>,
}

/// A rule's usual statements after its matches: its counter and verdict.
const USUAL_STATEMENTS: usize = 2;

impl<'a> Cut<'a> {
    pub fn of(rule: &'a ir::Rule) -> Cut<'a> {
        Cut::from_pieces(pieces(rule))
    }

    pub fn from_pieces(pieces: Cow<'a, [Cube]>) -> Cut<'a> {
        // Each piece's matches with room for the usual statements after
        // them (the rule's counter and verdict): [`lower_rule`] then adds
        // them in place. Grown there instead, from another thread than the
        // one that made them, the old room (224 bytes a rule) stayed
        // resident in that thread's pages until it allocates again.
        let matches = pieces
            .iter()
            .map(|p| {
                let m = cube_matches(p);
                let mut room = Vec::with_capacity(m.len() + USUAL_STATEMENTS);
                room.extend(m);
                room
            })
            .collect();
        Cut { pieces, matches }
    }
}

pub(super) fn lower_rule(
    cx: &mut TableCx,
    chain: &ir::Chain,
    rule: &ir::Rule,
    cut: Cut,
    out: &mut Vec<nft::Rule>,
) {
    let origin = vec![origin(rule)];
    let Cut { pieces, matches } = cut;
    if pieces.is_empty() {
        cx.note(
            chain,
            vec![rule.id],
            format!("rule {} matches no packet: nothing emitted", rule.id.index + 1),
        );
        return;
    }
    declare_meters(cx, chain, rule, &pieces);
    let bodies: Vec<Vec<Expr>> = pieces
        .iter()
        .map(|p| {
            let mut b = body(cx, rule, p.family.single(), has_ports(p));
            // The rule's own count: every packet its matches select,
            // before any statement (as a map element counts it). A rule
            // that opens with its own anonymous `counter` already counts
            // exactly that, so it gets no second one.
            if cx.table.rule_counters && b.first() != Some(&Expr::Counter(None)) {
                b.insert(0, Expr::Counter(None));
            }
            b
        })
        .collect();
    let limited = rule.actions.iter().any(|a| matches!(a, Action::Limit(_)));
    let shared =
        pieces.len() > 1 && limited && shareable(rule) && bodies.iter().all(|b| *b == bodies[0]);
    if pieces.len() > 1 && may_match_again(rule, &pieces) {
        // The cubes share one limit through the rule's own chain, or each
        // runs its own statements; either way each ends the pieces' chain.
        let tails: Vec<Vec<Expr>> = if shared {
            let target = limit_chain(cx, chain, rule, &pieces, &bodies[0]);
            vec![vec![Expr::Verdict(nft::Verdict::Goto(target))]; pieces.len()]
        } else {
            bodies.into_iter().map(once).collect()
        };
        let rules = matches
            .into_iter()
            .zip(tails)
            .map(|(mut exprs, tail)| {
                exprs.extend(tail);
                nft::Rule { exprs, origin: origin.clone() }
            })
            .collect();
        let target = pieces_chain(cx, chain, rules);
        out.push(nft::Rule {
            exprs: vec![Expr::Verdict(nft::Verdict::Jump(target.clone()))],
            origin: origin.clone(),
        });
        cx.note(
            chain,
            vec![rule.id],
            format!(
                "rule {} needs {} nft rules that tell marks apart; they sit in chain `{target}`, which the first that holds ends, so that a mark the rule changes cannot make a second one hold",
                rule.id.index + 1,
                pieces.len()
            ),
        );
        return;
    }
    if pieces.len() > 1 && limited {
        if shared {
            let target = limit_chain(cx, chain, rule, &pieces, &bodies[0]);
            for mut exprs in matches {
                exprs.push(Expr::Verdict(nft::Verdict::Jump(target.clone())));
                out.push(nft::Rule { exprs, origin: origin.clone() });
            }
            cx.note(
                chain,
                vec![rule.id],
                format!(
                    "rule {} needs {} nft rules; they jump to chain `{target}` so that they share one limit",
                    rule.id.index + 1,
                    pieces.len()
                ),
            );
            return;
        }
        cx.note(
            chain,
            vec![rule.id],
            format!(
                "rule {} needs {} nft rules, each with its own limit: its verdict cannot move to a chain of its own",
                rule.id.index + 1,
                pieces.len()
            ),
        );
    }
    for (mut exprs, b) in matches.into_iter().zip(bodies) {
        // Kept for the whole apply: room for exactly the rule's
        // expressions, not the slack of growing (three more of the usual
        // five, 16 MiB of 100k rules).
        exprs.reserve_exact(b.len());
        exprs.extend(b);
        out.push(nft::Rule { exprs, origin: origin.clone() });
    }
}

pub(super) fn origin(rule: &ir::Rule) -> Origin {
    Origin { rule: rule.id, loc: rule.loc }
}

/// Whether the rule's statements and verdict may run in a chain of their
/// own, reached by `jump`: `goto` and `return` would then leave that chain
/// instead of the rule's.
pub(super) fn shareable(rule: &ir::Rule) -> bool {
    !matches!(rule.verdict, Some(ir::Verdict::Goto(_) | ir::Verdict::Return))
}

/// A chain holding `body`, for a rule that reaches it by `jump`.
///
/// Its name comes from what the rule does, not from where it stands
/// (`input_r1f02a9c4`): a rule inserted above it leaves its chain, and the
/// counter in it, as they are when the policy is applied again. Only an
/// identical rule earlier in the chain takes the plain name first.
pub(super) fn rule_chain(
    cx: &mut TableCx,
    chain: &ir::Chain,
    rule: &ir::Rule,
    body: Vec<Expr>,
) -> String {
    let mut what: Vec<Expr> = pieces(rule).iter().flat_map(cube_matches).collect();
    what.extend(body.iter().cloned());
    let id = crate::identity::fnv1a64(&crate::identity::canonical(&what));
    let name = cx.fresh(&format!("{}_r{:08x}", chain.name, id >> 32));
    cx.extra_chains.push(nft::Chain {
        name: name.clone(),
        base: None,
        rules: vec![nft::Rule { exprs: body, origin: vec![origin(rule)] }],
        comment: Some(format!("statements of a rule of chain {}", chain.name)),
    });
    name
}

/// The chain of a rule's statements that its `pieces` share, so that they
/// share one limit: `body`, after a protocol guard where it translates ports.
fn limit_chain(
    cx: &mut TableCx,
    chain: &ir::Chain,
    rule: &ir::Rule,
    pieces: &[Cube],
    body: &[Expr],
) -> String {
    let mut b: Vec<Expr> = port_guard(rule, pieces).into_iter().collect();
    b.extend(body.iter().cloned());
    rule_chain(cx, chain, rule, b)
}

/// Whether a packet that one of the rule's `pieces` took may then be taken
/// by a later one: the rule goes on to the next rule (no verdict, or
/// `jump`; a translation accepts), it may change the mark (`mark set`, or
/// what it jumps to may), and its pieces read the mark.
fn may_match_again(rule: &ir::Rule, pieces: &[Cube]) -> bool {
    let goes_on = matches!(rule.verdict, None | Some(ir::Verdict::Jump(_)))
        && !rule.actions.iter().any(|a| matches!(a, Action::Nat(_)));
    let sets = rule.actions.iter().any(|a| matches!(a, Action::MarkSet(_)))
        || matches!(rule.verdict, Some(ir::Verdict::Jump(_)));
    let reads = pieces.iter().any(|p| p.mark.as_ref().is_some_and(|m| !m.is_full(MARK_MAX)));
    goes_on && sets && reads
}

/// A piece's statements made to end the chain of pieces they sit in, and
/// go on in the rule's chain as the rule would: with no verdict, `return`;
/// `jump C` becomes `goto C`, whose end returns to the rule's chain too.
fn once(mut body: Vec<Expr>) -> Vec<Expr> {
    match body.last_mut() {
        Some(Expr::Verdict(v)) => {
            if let nft::Verdict::Jump(c) = v {
                *v = nft::Verdict::Goto(std::mem::take(c));
            }
        }
        _ => body.push(Expr::Verdict(nft::Verdict::Return)),
    }
    body
}

/// A chain holding a rule's pieces, each ending the chain ([`once`]), for
/// the rule to reach by `jump`. Named as [`rule_chain`] names its chain,
/// from what it holds (`input_p1f02a9c4`).
fn pieces_chain(cx: &mut TableCx, chain: &ir::Chain, rules: Vec<nft::Rule>) -> String {
    let what: Vec<Expr> = rules.iter().flat_map(|r| r.exprs.iter().cloned()).collect();
    let id = crate::identity::fnv1a64(&crate::identity::canonical(&what));
    let name = cx.fresh(&format!("{}_p{:08x}", chain.name, id >> 32));
    cx.extra_chains.push(nft::Chain {
        name: name.clone(),
        base: None,
        rules,
        // Not the rule's number: a rule inserted above leaves this chain
        // as it is.
        comment: Some(format!("pieces of a rule of chain {}", chain.name)),
    });
    name
}

/// The rule's space as well-formed cubes, split by family where an address
/// match or an address translation needs one family: the rule's own cubes,
/// borrowed, when they need no split or change (the usual case; a chain's
/// pieces are all held while it is lowered, and 100k rules' copies took
/// about 33 MiB).
pub(super) fn pieces(rule: &ir::Rule) -> Cow<'_, [Cube]> {
    if whole(rule) {
        Cow::Borrowed(&rule.space)
    } else {
        Cow::Owned(split_pieces(rule))
    }
}

/// Whether [`split_pieces`] would give the rule's cubes as they are: each
/// keeps its names whole, has one TCP flags test at most, already pins
/// protocols with ports when it restricts ports, holds a packet, and needs
/// neither a split by protocol for a port translation nor one by family.
fn whole(rule: &ir::Rule) -> bool {
    let nat_family =
        rule.actions.iter().any(|a| matches!(a, Action::Nat(Nat::Dnat { .. } | Nat::Snat { .. })));
    let metered = rule.actions.iter().any(|a| matches!(a, Action::Meter(_)));
    let port_nat = translates_port(rule);
    rule.space.iter().all(|c| {
        let ports = c.sport.is_some() || c.dport.is_some();
        let with_ports = c.proto.intersect(Protos::with_ports());
        let mixed = !with_ports.is_empty() && !c.proto.subtract(Protos::with_ports()).is_empty();
        c.iif.is_any()
            && c.oif.is_any()
            && c.tcp_flags.is_none()
            && (!ports || with_ports == c.proto)
            && !c.is_empty()
            && !(port_nat && mixed)
            && (c.family.single().is_some()
                || !(nat_family || metered || c.saddr.is_some() || c.daddr.is_some()))
    })
}

/// [`pieces`], made.
fn split_pieces(rule: &ir::Rule) -> Vec<Cube> {
    let nat_family = rule.actions.iter().any(|a| match a {
        Action::Nat(Nat::Dnat { .. } | Nat::Snat { .. }) => true,
        Action::Nat(Nat::Masquerade | Nat::Redirect { .. }) => false,
        _ => false,
    });
    let port_nat = translates_port(rule);
    // A per-address set holds addresses of one family.
    let metered = rule.actions.iter().any(|a| matches!(a, Action::Meter(_)));
    let mut out = Vec::new();
    let by_names = rule.space.iter().flat_map(|c| {
        // Names that need no split (any name, the usual case) leave the
        // cube whole: one clone of it, not one with names cloned twice.
        if c.iif.is_any() && c.oif.is_any() {
            return vec![c.clone()];
        }
        let (iifs, oifs) = (split_names(&c.iif), split_names(&c.oif));
        if iifs.len() == 1 && oifs.len() == 1 {
            return vec![c.clone()];
        }
        let mut out = Vec::with_capacity(iifs.len() * oifs.len());
        for iif in &iifs {
            for oif in &oifs {
                out.push(Cube { iif: iif.clone(), oif: oif.clone(), ..c.clone() });
            }
        }
        out
    });
    // One masked compare per nft rule: a flags set that is none splits.
    let by_names = by_names.flat_map(|c| {
        let tests = c.tcp_flags.as_ref().map(flags::split).unwrap_or_default();
        if tests.len() > 1 {
            tests.into_iter().map(|t| Cube { tcp_flags: Some(t.bytes()), ..c.clone() }).collect()
        } else {
            vec![c]
        }
    });
    for mut cube in by_names {
        if cube.sport.is_some() || cube.dport.is_some() {
            cube.proto = cube.proto.intersect(Protos::with_ports());
        }
        if cube.is_empty() {
            continue;
        }
        // nft translates ports only after a match on protocols with ports;
        // packets of other protocols get the address alone.
        let mixed = !cube.proto.intersect(Protos::with_ports()).is_empty()
            && !cube.proto.subtract(Protos::with_ports()).is_empty();
        if port_nat && mixed {
            let with = Cube { proto: cube.proto.intersect(Protos::with_ports()), ..cube.clone() };
            let without = Cube { proto: cube.proto.subtract(Protos::with_ports()), ..cube.clone() };
            for part in [with, without] {
                if !part.is_empty() {
                    out.extend(
                        pieces(&ir::Rule { space: vec![part], ..rule.clone() }).into_owned(),
                    );
                }
            }
            continue;
        }
        let split = cube.family.single().is_none()
            && (nat_family || metered || cube.saddr.is_some() || cube.daddr.is_some());
        if !split {
            out.push(cube);
            continue;
        }
        for fam in cube.family.iter() {
            let within = Intervals::range(0, fam.max_addr());
            let piece = Cube {
                family: Families::only(fam),
                saddr: cube.saddr.as_ref().map(|s| s.intersect(&within)),
                daddr: cube.daddr.as_ref().map(|s| s.intersect(&within)),
                ..cube.clone()
            };
            if !piece.is_empty() {
                out.push(piece);
            }
        }
    }
    // Every rule's pieces are held while its chain is lowered: without the
    // slack of growing (room for four 288-byte cubes where one is usual).
    out.shrink_to_fit();
    out
}

/// Whether the rule translates to a port (`dnat to A:P`, `redirect to P`).
pub(super) fn translates_port(rule: &ir::Rule) -> bool {
    rule.actions.iter().any(|a| match a {
        Action::Nat(Nat::Dnat { backends, .. }) => backends.iter().any(|b| b.port.is_some()),
        Action::Nat(Nat::Snat { port, .. }) => port.is_some(),
        Action::Nat(Nat::Redirect { .. }) => true,
        _ => false,
    })
}

/// For the chain of a rule that translates ports: the protocol match nft
/// wants in front of the translation, from the protocols of its pieces.
pub(super) fn port_guard(rule: &ir::Rule, pieces: &[Cube]) -> Option<Expr> {
    if !translates_port(rule) {
        return None;
    }
    let protos = pieces.iter().fold(Protos::NONE, |a, p| a.union(p.proto));
    let set = Intervals::from_ranges(protos.iter().map(|p| (p as u128, p as u128)));
    interval_match(Selector::L4proto, &set, 255)
}

/// The family a rule's packets all have, when they all have the same one.
pub(super) fn rule_family(pieces: &[Cube]) -> Option<Family> {
    let first = pieces.first()?.family.single()?;
    pieces.iter().all(|p| p.family.single() == Some(first)).then_some(first)
}

/// Whether every packet of the piece has ports.
pub(super) fn has_ports(p: &Cube) -> bool {
    p.proto.subtract(Protos::with_ports()).is_empty()
}

/// The rule's statements then its verdict, for packets of family `fam`
/// (`None`: either). Address translation comes last and accepts.
pub(super) fn body(cx: &TableCx, rule: &ir::Rule, fam: Option<Family>, ports: bool) -> Vec<Expr> {
    let mut out = Vec::new();
    let mut translate = None;
    // A mark is set only once every limit of the rule holds, wherever the
    // rule writes it: so the rules after see what `eval.rs` says they do.
    let last_limit = rule.actions.iter().rposition(Action::conditional);
    let mut marks = Vec::new();
    for (i, action) in rule.actions.iter().enumerate() {
        if last_limit.is_some_and(|l| i == l + 1) {
            out.append(&mut marks);
        }
        match action {
            Action::Counter(name) => out.push(Expr::Counter(name.clone())),
            Action::Log { prefix, level } => {
                out.push(Expr::Log { prefix: prefix.clone(), level: *level })
            }
            Action::Limit(l) => out.push(Expr::Limit(*l)),
            Action::MarkSet(v) if last_limit.is_some_and(|l| i < l) => {
                marks.push(Expr::MarkSet(*v))
            }
            Action::MarkSet(v) => out.push(Expr::MarkSet(*v)),
            Action::Meter(m) => {
                let fam = fam.expect("pieces split a rule with a per-address statement by family");
                let set = cx.meters[&(rule.id, i, fam)].clone();
                out.push(Expr::Meter(nft::Meter { set, key: meter_key(m.key, fam), test: m.test }));
            }
            // Translation ends the rule in nft; the rule's limits must all
            // hold first, and its other statements run, wherever written.
            Action::Nat(nat) => translate = translate.or(Some(nat)),
        }
    }
    out.extend(marks);
    if let Some(nat) = translate {
        out.push(nat_stmt(nat, fam, ports));
        return out;
    }
    if let Some(v) = rule.verdict {
        out.push(Expr::Verdict(verdict(cx, v)));
    }
    out
}

/// The selector a per-address statement keys on, for packets of `fam`.
fn meter_key(key: ir::MeterKey, fam: Family) -> Selector {
    match (key, fam) {
        (ir::MeterKey::Saddr, Family::V4) => Selector::Ip4Saddr,
        (ir::MeterKey::Saddr, Family::V6) => Selector::Ip6Saddr,
        (ir::MeterKey::Daddr, Family::V4) => Selector::Ip4Daddr,
        (ir::MeterKey::Daddr, Family::V6) => Selector::Ip6Daddr,
    }
}

/// One dynamic set for each per-address statement of `rule` and each
/// family its pieces hold (`input_4_saddr4`): the rule's nft rules of one
/// family share it, so an address has one rate or count however many nft
/// rules its packets meet.
fn declare_meters(cx: &mut TableCx, chain: &ir::Chain, rule: &ir::Rule, pieces: &[Cube]) {
    for (i, action) in rule.actions.iter().enumerate() {
        let Action::Meter(m) = action else { continue };
        for fam in pieces.iter().filter_map(|p| p.family.single()) {
            if cx.meters.contains_key(&(rule.id, i, fam)) {
                continue;
            }
            let v = if fam == Family::V4 { 4 } else { 6 };
            let name =
                cx.fresh(&format!("{}_{}_{}{v}", chain.name, rule.id.index + 1, m.key.keyword()));
            let timeout_ms = match m.test {
                ir::MeterTest::Rate(l) => Some(refill_ms(l)),
                ir::MeterTest::CountOver(_) => None,
            };
            cx.sets.push(nft::Set {
                name: name.clone(),
                key: vec![meter_key(m.key, fam)],
                interval: false,
                data: None,
                elements: Vec::new(),
                counters: false,
                comment: Some(format!("{m}: rule {} of chain {}", rule.id.index + 1, chain.name)),
                dynamic: Some(nft::Dynamic { timeout_ms }),
            });
            cx.meters.insert((rule.id, i, fam), name);
        }
    }
}

/// How long a rate's bucket takes to fill from empty, in whole seconds and
/// at least one:
/// an address idle that long is under its rate again, so its element may
/// be forgotten without changing what the rule does.
fn refill_ms(l: ir::Limit) -> u64 {
    let burst = u128::from(l.burst.unwrap_or(crate::identity::DEFAULT_LIMIT_BURST).max(1));
    let unit_ms = u128::from(l.per.seconds()) * 1_000;
    // Whole seconds: the kernel keeps a timeout in jiffies, and a second
    // reads back as the same milliseconds at any tick rate.
    let secs = (burst * unit_ms).div_ceil(u128::from(l.rate.max(1))).div_ceil(1_000);
    u64::try_from(secs.saturating_mul(1_000)).unwrap_or(u64::MAX).max(1_000)
}

pub(super) fn verdict(cx: &TableCx, v: ir::Verdict) -> nft::Verdict {
    match v {
        ir::Verdict::Accept => nft::Verdict::Accept,
        ir::Verdict::Drop => nft::Verdict::Drop,
        ir::Verdict::Reject(with) => nft::Verdict::Reject(with),
        ir::Verdict::Jump(c) => nft::Verdict::Jump(cx.chain_name(c).to_string()),
        ir::Verdict::Goto(c) => nft::Verdict::Goto(cx.chain_name(c).to_string()),
        ir::Verdict::Return => nft::Verdict::Return,
    }
}

fn addr_family(a: &std::net::IpAddr) -> Family {
    if a.is_ipv4() {
        Family::V4
    } else {
        Family::V6
    }
}

fn nat_family(f: Family) -> nft::NatFamily {
    match f {
        Family::V4 => nft::NatFamily::Ip,
        Family::V6 => nft::NatFamily::Ip6,
    }
}

/// Address translation for packets of family `fam`. Where the policy gives
/// no address of that family, the packet is accepted untranslated, as the
/// language says translation statements accept.
fn nat_stmt(nat: &Nat, fam: Option<Family>, ports: bool) -> Expr {
    let keep = |p: Option<u16>| p.filter(|_| ports);
    let accept = Expr::Verdict(nft::Verdict::Accept);
    match nat {
        Nat::Masquerade => Expr::Nat(nft::NatStmt {
            kind: nft::NatKind::Masquerade,
            family: None,
            target: nft::NatTargetExpr::None { port: None },
        }),
        Nat::Redirect { port } => Expr::Nat(nft::NatStmt {
            kind: nft::NatKind::Redirect,
            family: None,
            target: nft::NatTargetExpr::None { port: keep(Some(*port)) },
        }),
        Nat::Snat { addr, port } => {
            let Some(f) = fam.filter(|f| *f == addr_family(addr)) else { return accept };
            Expr::Nat(nft::NatStmt {
                kind: nft::NatKind::Snat,
                family: Some(nat_family(f)),
                target: nft::NatTargetExpr::Fixed { addr: *addr, port: keep(*port) },
            })
        }
        Nat::Dnat { backends, balance } => {
            let Some(f) = fam else { return accept };
            let mine: Vec<&ir::NatBackend> =
                backends.iter().filter(|b| addr_family(&b.addr) == f).collect();
            let target = match (mine.as_slice(), balance) {
                ([], _) => return accept,
                ([b], _) | ([b, ..], None) => {
                    nft::NatTargetExpr::Fixed { addr: b.addr, port: keep(b.port) }
                }
                (_, Some(balance)) => {
                    let mut slots = Vec::new();
                    let mut next = 0u32;
                    for b in &mine {
                        let w = b.weight.max(1);
                        slots.push((next, next + w - 1, b.addr, keep(b.port)));
                        next += w;
                    }
                    let pick = match balance {
                        ir::Balance::RoundRobin => nft::Pick::RoundRobin,
                        ir::Balance::Random => nft::Pick::Random,
                        ir::Balance::SourceHash => nft::Pick::SourceHash { seed: 0 },
                    };
                    nft::NatTargetExpr::Balanced { pick, modulus: next, slots }
                }
            };
            Expr::Nat(nft::NatStmt {
                kind: nft::NatKind::Dnat,
                family: Some(nat_family(f)),
                target,
            })
        }
    }
}
