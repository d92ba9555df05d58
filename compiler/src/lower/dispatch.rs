//! Dispatch: runs of rules that test the same key become one lookup in a
//! verdict map.
//!
//! First-match semantics hold exactly:
//! - the map's elements are disjoint intervals, each given to the earliest
//!   rule of the run whose space holds it;
//! - a rule whose map data may let evaluation go on (a `limit`, no verdict,
//!   a `jump`) must be disjoint from every later rule of its run, since after
//!   the lookup evaluation goes on *after* the run;
//! - rules may move past rules they are disjoint from (no packet matches
//!   both, so their order cannot matter), which lets a run grow past rules
//!   that test something else. A rule never moves past one it intersects.
//!
//! A rule with statements (counter, log, limit, translation) or `reject`
//! gets a chain of its own that the map jumps to, so its counter stays its
//! own.
//!
//! With per-rule counters on, the map counts per element (`counter` in its
//! declaration) and each element belongs to one rule: a rule's count is
//! the sum of its elements', whether the map decides or jumps to the
//! rule's chain, whose statements then carry no second per-rule counter.
//! A rule that opens with its own anonymous `counter` loses that one to
//! the element's, which counts the same packets.
//!
//! Here: which rules may join a map and why not ([`classify`]), and the
//! chain lowered block by block. [`runs`] decides which rules join which
//! run, [`maps`] makes a run's maps and the rule that looks each up, and
//! [`boxes`] makes a map's elements disjoint, and [`tree`] lets the port
//! map send the ports that address maps name to chains of their lookups.

mod boxes;
mod maps;
mod runs;
mod tree;

use std::borrow::Cow;

use rayon::prelude::*;

use crate::ir::{self, Action, Nat, RuleId};
use crate::nft::{self, Expr};
use crate::space::{Cube, Families};

use super::sequential::{self, pieces, rule_family, Cut};
use super::{count, rule_list, TableCx};
use maps::emit_run;
use runs::{plan, Block};

/// The fields a rule tests, when they make a map key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum KeyKind {
    /// `th dport` alone, one map per protocol behind `meta l4proto`.
    Dport,
    /// `ip saddr` or `ip6 saddr`
    Saddr,
    /// `ip saddr . meta l4proto . th dport`
    SaddrDport,
    /// `ip daddr . meta l4proto . th dport`, as kube-proxy's service map.
    DaddrDport,
}

impl KeyKind {
    fn keyword(self) -> &'static str {
        match self {
            KeyKind::Dport => "dport",
            KeyKind::Saddr => "saddr",
            KeyKind::SaddrDport => "saddr_dport",
            KeyKind::DaddrDport => "daddr_dport",
        }
    }
}

/// A rule that can join a run.
struct Cand {
    kind: KeyKind,
    /// What the map gives for this rule; `None` means a chain of its own
    /// holding `body`.
    direct: Option<nft::Verdict>,
    /// Empty when `direct` is given.
    body: Vec<Expr>,
    /// Evaluation may go on after the lookup picks this rule.
    may_continue: bool,
}

fn cube_kind(c: &Cube) -> Option<KeyKind> {
    if c.sport.is_some()
        || !c.iif.is_any()
        || !c.oif.is_any()
        || !c.ct.is_full()
        || c.icmp_type.is_some()
        || c.icmp_code.is_some()
        || c.tcp_flags.is_some()
        || c.mark.is_some()
    {
        return None;
    }
    let single = c.family.single().is_some();
    match (c.saddr.is_some(), c.daddr.is_some(), c.dport.is_some()) {
        (false, false, true) if c.family == Families::ALL => Some(KeyKind::Dport),
        (true, false, false) if single && c.proto.is_full() => Some(KeyKind::Saddr),
        (true, false, true) if single => Some(KeyKind::SaddrDport),
        (false, true, true) if single => Some(KeyKind::DaddrDport),
        _ => None,
    }
}

/// `pieces` are the rule's, as `sequential::pieces` makes them (made once
/// per rule: they are a good part of lowering's cost).
fn classify(cx: &TableCx, rule: &ir::Rule, pieces: &[Cube]) -> Result<Cand, String> {
    if rule.actions.iter().any(|a| matches!(a, Action::Meter(_))) {
        return Err("keeps a rate or count per address".into());
    }
    let Some(first) = pieces.first() else { return Err("matches no packet".into()) };
    let kind = cube_kind(first).ok_or("matches make no map key")?;
    if pieces.iter().any(|p| cube_kind(p) != Some(kind)) {
        return Err("matches make no single map key".into());
    }
    let fam = rule_family(pieces);
    let translates_address =
        rule.actions.iter().any(|a| matches!(a, Action::Nat(Nat::Dnat { .. } | Nat::Snat { .. })));
    if translates_address && fam.is_none() {
        return Err("translates addresses for both families".into());
    }
    let ports = pieces.iter().all(sequential::has_ports);
    let mut statements = sequential::body(cx, rule, fam, ports);
    // With per-rule counters on, the map's element counts exactly what a
    // leading anonymous `counter` of the rule would (translation goes last,
    // whatever its place in the source): that one is dropped, and a rule
    // with no other statement needs no chain of its own.
    let mut plain = rule.actions.is_empty();
    if cx.table.rule_counters && statements.first() == Some(&Expr::Counter(None)) {
        statements.remove(0);
        plain = rule.actions.len() == 1;
    }
    let direct = match (plain, rule.verdict) {
        (true, None) => Some(nft::Verdict::Continue),
        (true, Some(ir::Verdict::Reject(_))) => None,
        (true, Some(v)) => Some(sequential::verdict(cx, v)),
        (false, _) if !sequential::shareable(rule) => {
            return Err("has statements and ends with goto or return".into())
        }
        (false, _) => None,
    };
    // The body of the rule's own chain, which only a rule the map jumps to
    // needs: every candidate is held until its chain's runs are made (100k
    // rules' bodies took about 24 MiB).
    let body = match direct {
        Some(_) => Vec::new(),
        None => {
            let mut body: Vec<Expr> = sequential::port_guard(rule, pieces).into_iter().collect();
            body.extend(statements);
            body
        }
    };
    let may_continue = !rule.always_decides() || matches!(rule.verdict, Some(ir::Verdict::Jump(_)));
    Ok(Cand { kind, direct, body, may_continue })
}

fn disjoint(a: &[Cube], b: &[Cube]) -> bool {
    a.iter().all(|x| b.iter().all(|y| !x.intersects(y)))
}

pub(super) fn lower_rules(cx: &mut TableCx, chain: &ir::Chain, min_run: usize) -> Vec<nft::Rule> {
    let rules = &chain.rules;
    // Each rule's pieces: its map elements, and its space for the
    // disjointness checks.
    // They depend on the rule alone, so they are made on every core.
    let spaces: Vec<Cow<[Cube]>> = rules.par_iter().map(pieces).collect();
    let mut cands: Vec<Result<Cand, String>> =
        rules.iter().zip(&spaces).map(|(r, s)| classify(cx, r, s)).collect();
    // Plan, then dissolve the runs too short to pay and plan again without
    // them, so that no rule moves for a run that is not made.
    let blocks = loop {
        let blocks = plan(&cands, &spaces);
        let mut dissolved = false;
        for b in &blocks {
            if let Block::Run { kind, members, .. } = b {
                if members.len() < min_run {
                    for &m in members {
                        cands[m] = Err(format!(
                            "only {} with key `{}` in reach, fewer than {min_run}",
                            count(members.len(), "rule"),
                            kind.keyword()
                        ));
                    }
                    dissolved = true;
                }
            }
        }
        if !dissolved {
            break blocks;
        }
    };
    let mut out = Vec::new();
    // Rules kept sequential, with why, noted together when consecutive.
    let mut pending: Vec<(u32, String)> = Vec::new();
    // The stretches of `out` that consecutive runs' lookups fill.
    let mut stretches: Vec<std::ops::Range<usize>> = Vec::new();
    let mut after_run = false;
    for block in blocks {
        match block {
            Block::Seq(i) => {
                let why = cands[i].as_ref().err().cloned().unwrap_or_default();
                sequential_rule(cx, chain, &rules[i], &mut out, &mut pending, why, &spaces[i]);
                after_run = false;
            }
            Block::Run { members, .. } => {
                flush(cx, chain, &mut pending);
                let start = out.len();
                emit_run(cx, chain, &members, &cands, &spaces, min_run, &mut out);
                match stretches.last_mut() {
                    Some(s) if after_run => s.end = out.len(),
                    _ => stretches.push(start..out.len()),
                }
                after_run = true;
            }
        }
    }
    flush(cx, chain, &mut pending);
    for s in stretches.into_iter().rev() {
        tree::fold(cx, chain, &mut out, s);
    }
    out
}

fn sequential_rule(
    cx: &mut TableCx,
    chain: &ir::Chain,
    rule: &ir::Rule,
    out: &mut Vec<nft::Rule>,
    pending: &mut Vec<(u32, String)>,
    why: String,
    pieces: &[Cube],
) {
    if pending.last().is_some_and(|(_, w)| *w != why) {
        flush(cx, chain, pending);
    }
    pending.push((rule.id.index, why));
    sequential::lower_rule(cx, chain, rule, Cut::from_pieces(Cow::Borrowed(pieces)), out);
}

fn flush(cx: &mut TableCx, chain: &ir::Chain, pending: &mut Vec<(u32, String)>) {
    let Some((_, why)) = pending.last().cloned() else { return };
    let indices: Vec<u32> = pending.iter().map(|(i, _)| *i).collect();
    let ids: Vec<RuleId> = indices.iter().map(|&i| chain.rules[i as usize].id).collect();
    cx.note(chain, ids, format!("{} kept sequential: {why}", rule_list(&indices)));
    pending.clear();
}
