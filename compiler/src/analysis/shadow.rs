//! Rules that never decide a packet: `shadowed-rule`, `redundant-rule`, and
//! `unmatchable-rule` for rules that match nothing at all.
//!
//! For each rule, in chain order, the earlier rules that end the chain for a
//! packet (the *blockers*) are subtracted from the rule's match space with
//! [`Cube::subtract`], which yields disjoint pieces. When nothing is left, the
//! rule never sees a packet. Coverage does not depend on the order of the
//! cuts, so they go biggest blocker first, which empties a covered rule in a
//! few steps. Which verdict a packet gets does depend on order: blocker `j`
//! is the first to decide some of the rule's packets exactly when the
//! blockers before it do not cover its part of the rule. That is checked for
//! the blockers that decide differently (shadowed or redundant) and for the
//! few the finding names, so every label is a true first decider.
//!
//! A blocker is a rule without `limit` that ends the chain: `accept`, `drop`,
//! `reject`, address translation (which accepts), `return` and `goto`. A
//! `jump C` rule blocks only the packets chain `C` gives a final verdict
//! under every `limit` outcome; those are computed exactly, once per chain,
//! as [`Decided`] spaces, each part with how the first rule of `C` that
//! surely decides it ends it. That rule is a packet's *sure decider*, and
//! shadowed versus redundant compares the rule with the sure deciders of its
//! packets: the same verdict statement and translation, or the same end.
//!
//! Three guards keep this fast. Candidate blockers come from a bucket index
//! on destination port and source address (`analysis/index.rs`) and are
//! filtered by cheap bounding boxes before exact cube tests. A rule is first
//! probed at two corner packets ([`Cube::corner`]): if either is matched by
//! no candidate, the rule is certainly reached and no subtraction runs (the
//! same probe runs on leftover pieces while they pile up). And the pieces
//! stop at [`FRAGMENT_CAP`]: a rule that hits the cap, or that a rule before
//! it may decide through a chain whose decided packets hit it, is not
//! analysed and gets `analysis-budget` ([`Coverage::Unknown`]), never a
//! guessed finding.

use rayon::prelude::*;
use shriek_grammar::Diagnostic;

use super::index::{Entries, Entry, Hull};
use super::{apply_allows, describe};
use crate::ir::{self, Action, ChainId, Verdict};
use crate::space::{self, Cube, Space};

/// The most cube fragments one rule's remaining space may split into.
pub const FRAGMENT_CAP: usize = 10_000;

/// How a blocker ends the chain for the packets it takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Class {
    Accept,
    Drop,
    /// Rejects, with this answer ([`ir::RejectWith::canonical`]): two
    /// rejects differ when their answers do.
    Reject(ir::RejectWith),
    /// Accepts with the address translation of this rule. Two of these are
    /// the same end when their translations are ([`same_translation`]).
    Translate(ir::RuleId),
    /// Ends this chain without a final verdict: `return`.
    Return,
    /// Ends this chain in another one that may fall through: `goto C`.
    Goto(ChainId),
    /// Only for the rule being checked: `jump C`.
    Jump(ChainId),
}

/// The packets a chain gives a final verdict when entered, under every
/// `limit` outcome, each with how the first rule that surely decides it
/// does (always a final class: accept, drop, reject or translate).
///
/// With a `gap` the parts are still sound for coverage (they never hold a
/// packet the chain may return) but may miss packets, and a part's class
/// may not be the sure decider's.
#[derive(Clone, Debug, Default)]
pub struct Decided {
    pub parts: Vec<Piece>,
    pub gap: Option<Gap>,
}

/// Why what a chain decides is not known exactly.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Gap {
    /// The chain is in a jump cycle (reported on its own), or jumps to one.
    Loop,
    /// The exact computation grew past [`FRAGMENT_CAP`] at this rule.
    Budget(ir::RuleId),
    /// A rule before may have changed the packet's mark (`mark set`, or a
    /// jump to a chain that sets it), and this rule's packets meet a rule
    /// after it that matches the mark: which of the packets that entered
    /// the chain that rule takes is not known. No finding either way.
    Mark,
}

/// The packets of one rule that end the chain, and how.
#[derive(Clone, Debug)]
pub struct Piece {
    pub space: Space,
    pub class: Class,
}

/// Per-table context: the policy and the memoized decided spaces.
struct Ctx<'a> {
    table: &'a ir::Table,
    decided: Vec<Memo>,
    /// Per chain, the first rule that may change the packet's mark.
    marked: Vec<Option<u32>>,
}

#[derive(Clone)]
enum Memo {
    Todo,
    InProgress,
    Done(std::rc::Rc<Decided>),
}

/// All findings of this kind for one table.
pub(super) fn check_table(table: &ir::Table) -> Vec<Diagnostic> {
    let mut ctx = Ctx::new(table);
    let mut out = Vec::new();
    for chain in &table.chains {
        check_chain(&mut ctx, chain, &mut out);
    }
    out
}

/// What checking one rule found.
#[derive(Debug, PartialEq, Eq)]
pub enum Coverage {
    /// Its matches contradict.
    Empty,
    /// Some packet reaches it.
    Reached,
    /// Earlier rules end the chain for every packet it matches.
    Covered(Cover),
    /// Not known: the exact computation for this rule, or for a chain an
    /// earlier rule of this one jumps or goes to, did not finish. `after` is
    /// that earlier rule, when there is one.
    Unknown { gap: Gap, after: Option<u32> },
}

/// How a covered rule is covered.
#[derive(Debug, PartialEq, Eq)]
pub struct Cover {
    /// A few covering rules to name, in rule order, each with how it ends
    /// the chain: each is the first to end it for some of the rule's packets.
    pub shown: Vec<(u32, Class)>,
    /// The size of a small set of earlier rules that covers the rule.
    pub count: usize,
    /// Whether some packet is first decided otherwise than the rule would.
    pub differs: bool,
}

/// The coverage of every rule of `chain` in table `table`, for tests and
/// benchmarks that want the raw result without diagnostics.
pub fn coverage(table: &ir::Table, chain: ChainId) -> Vec<Coverage> {
    let mut ctx = Ctx::new(table);
    chain_coverage(&mut ctx, &table.chains[chain.0 as usize])
}

fn check_chain<'a>(ctx: &mut Ctx<'a>, chain: &'a ir::Chain, out: &mut Vec<Diagnostic>) {
    let table = ctx.table;
    let found = chain.rules.par_iter().zip(chain_coverage(ctx, chain).into_par_iter()).filter_map(
        |(rule, c)| {
            let diag = match c {
                Coverage::Empty => describe::unmatchable(rule),
                Coverage::Covered(c) => describe::covered(table, chain, rule, &c),
                Coverage::Unknown { gap: Gap::Budget(at), after } => {
                    let after = after.and_then(|i| chain.rules.get(i as usize));
                    describe::not_analysed(table, rule, at, after)
                }
                // A loop is reported as `jump-cycle`, and the kernel refuses it;
                // docs/language.md says what a changed mark leaves unchecked.
                Coverage::Unknown { gap: Gap::Loop | Gap::Mark, .. } | Coverage::Reached => {
                    return None
                }
            };
            Some(apply_allows(diag, &rule.allows))
        },
    );
    out.par_extend(found);
}

/// What a chain's rules leave for the ones after them: the blockers, and
/// the rules that may block more than they say.
struct Seen<'a> {
    entries: Entries<'a>,
    /// The rules whose blockers are not exact, with why and their space.
    gaps: Vec<(u32, Gap, Space)>,
}

/// How much of [`Seen`] comes before one rule: its first `entries` and
/// `gaps`.
#[derive(Clone, Copy)]
struct Before {
    entries: usize,
    gaps: usize,
    /// Whether a rule before may have changed the packet's mark.
    marked: bool,
}

/// Every rule's coverage in `chain`, in rule order.
///
/// A rule is checked against the blockers before it only, so the blockers
/// of every rule go in first, in order (a `jump` rule's need the memoized
/// [`decided`] space of its target, which `ctx` holds), and then the rules
/// are checked side by side on every core: the checks, with their cube
/// subtractions, are where the time goes, and each reads only the index.
fn chain_coverage<'a>(ctx: &mut Ctx<'a>, chain: &'a ir::Chain) -> Vec<Coverage> {
    let mut seen = Seen { entries: Entries::new(chain), gaps: Vec::new() };
    let before: Vec<Option<Before>> = chain.rules.iter().map(|r| add(ctx, r, &mut seen)).collect();
    let table = ctx.table;
    chain
        .rules
        .par_iter()
        .zip(before.into_par_iter())
        .map(|(rule, before)| match before {
            None => Coverage::Empty,
            Some(before) => check(table, rule, &seen, before),
        })
        .collect()
}

/// The rule's match space without its empty cubes.
fn live_cubes(rule: &ir::Rule) -> Vec<Cube> {
    rule.space.iter().filter(|c| !c.is_empty()).cloned().collect()
}

/// Adds the rule's own pieces to `seen`, and says what came before them;
/// `None` for a rule that matches nothing, which blocks nothing.
fn add<'a>(ctx: &mut Ctx<'a>, rule: &'a ir::Rule, seen: &mut Seen<'a>) -> Option<Before> {
    if rule.space.iter().all(|c| c.is_empty()) {
        return None;
    }
    let before = Before {
        entries: seen.entries.all.len(),
        gaps: seen.gaps.len(),
        marked: ctx.after_mark_set(rule),
    };
    // A rule that ends the chain for all of its packets, as most do, blocks
    // with its own cubes: the index borrows them instead of a copy.
    let whole = own_class(rule).filter(|c| !matches!(c, Class::Jump(_) | Class::Goto(_)));
    if let Some(class) = whole.filter(|_| !limited(rule) && !ctx.pieces_after_mark_set(rule)) {
        for cube in rule.space.iter().filter(|c| !c.is_empty()) {
            seen.entries.push(Entry::new(rule.id.index, class, cube));
        }
        return Some(before);
    }
    let (mut pieces, gap) = pieces(ctx, rule);
    if let Some(gap) = gap {
        seen.gaps.push((rule.id.index, gap, live_cubes(rule)));
    }
    if ctx.pieces_after_mark_set(rule) {
        let unsure = unsure_mark(&mut pieces);
        if !unsure.is_empty() {
            seen.gaps.push((rule.id.index, Gap::Mark, unsure));
        }
    }
    for piece in pieces {
        for cube in piece.space {
            if !cube.is_empty() {
                seen.entries.push(Entry::new(rule.id.index, piece.class, cube));
            }
        }
    }
    Some(before)
}

/// Checks one rule against the blockers before it.
fn check(table: &ir::Table, rule: &ir::Rule, seen: &Seen, before: Before) -> Coverage {
    let cubes = live_cubes(rule);
    let rules = table.chains.get(rule.id.chain.0 as usize).map_or(&[][..], |c| &c.rules[..]);
    let mut coverage = cover(table, &cubes, rule, rules, &seen.entries, before.entries);
    // An earlier rule whose blockers are not exact may decide some of this
    // rule's packets, first or at all: neither a cover nor a packet that
    // gets through is then certain.
    let unsure = seen.gaps[..before.gaps]
        .iter()
        .find(|(_, _, space)| space.iter().any(|g| cubes.iter().any(|c| c.intersects(g))));
    if let (Some(&(after, gap, _)), Coverage::Covered(_) | Coverage::Reached) = (unsure, &coverage)
    {
        coverage = Coverage::Unknown { gap, after: Some(after) };
    }
    // Its matches read a mark an earlier rule may have set: its space is
    // not the packets that entered the chain.
    if before.marked && cubes.iter().any(reads_mark) {
        coverage = Coverage::Unknown { gap: Gap::Mark, after: None };
    }
    coverage
}

/// Whether the first `below` of `entries` (in rule order) cover `cubes`,
/// the packets of `rule`.
///
/// Coverage itself does not depend on order, so it is decided with the
/// biggest blockers first, which empties a covered rule after few cuts. Who
/// decides which packet does depend on order: blocker `j` is the first to
/// decide some packet exactly when the blockers before it do not already
/// cover its part of the rule. That is checked only for the few blockers the
/// finding names.
fn cover(
    table: &ir::Table,
    cubes: &[Cube],
    rule: &ir::Rule,
    rules: &[ir::Rule],
    entries: &Entries<'_>,
    below: usize,
) -> Coverage {
    let hulls: Vec<Hull> = cubes.iter().map(Hull::of).collect();
    let ids = entries.query(&hulls, below);
    // Hulls only: a candidate that does not really meet the rule costs a
    // little time below, never a wrong answer.
    let ids: Vec<usize> = ids
        .iter()
        .map(|&i| i as usize)
        .filter(|&i| hulls.iter().any(|h| h.meets(&entries.hulls[i])))
        .collect();
    let candidates: Vec<&Entry> = ids.iter().map(|&i| &entries.all[i]).collect();
    // The candidates' hulls side by side: the scans below read little else.
    let ch: Vec<Hull> = ids.iter().map(|&i| entries.hulls[i]).collect();
    // The first candidate that alone covers the rule, if any: the common case.
    let whole = candidates
        .iter()
        .position(|e| cubes.iter().all(|c| c.intersects(&e.cube) && e.cube.covers(c)));
    // No blocker after the first one that covers the rule alone is the first
    // to decide any of its packets.
    let end = match whole {
        Some(p) => p,
        None => match covered_by(cubes, &candidates, &ch) {
            None => return budget(rule),
            Some(false) => return Coverage::Reached,
            Some(true) => candidates.len() - 1,
        },
    };
    let prefix = &candidates[..=end];
    let first = |j: usize| -> Option<bool> {
        let e = prefix[j];
        let part: Vec<Cube> =
            cubes.iter().filter(|c| c.intersects(&e.cube)).map(|c| c.intersect(&e.cube)).collect();
        covered_by(&part, &prefix[..j], &ch[..j]).map(|covered| !covered)
    };
    let differs_from_rule =
        |e: &Entry| rules.get(e.rule as usize).is_some_and(|b| !same(table, b, e.class, rule));

    // The first blocker, in rule order, that decides some packet differently.
    let mut differing = None;
    if own_class(rule).is_some() {
        let found = sweep(cubes, prefix, &differs_from_rule)
            .or_else(|| first_differing(prefix, &differs_from_rule, &first));
        match found {
            Some(found) => differing = found,
            None => return budget(rule),
        }
    }

    // A small covering set, biggest first, and the first deciders in it.
    let mut by_volume: Vec<usize> = (0..prefix.len()).collect();
    by_volume.sort_by(|&a, &b| prefix[b].volume.total_cmp(&prefix[a].volume));
    let mut set: Vec<usize> = Vec::new();
    let mut left: Vec<Cube> = cubes.to_vec();
    for j in by_volume {
        let e = prefix[j];
        if !left.iter().any(|f| f.intersects(&e.cube)) {
            continue;
        }
        let Some(next) = space::subtract(&left, std::slice::from_ref(&*e.cube), FRAGMENT_CAP)
        else {
            break;
        };
        set.push(j);
        left = next;
        if left.is_empty() {
            break;
        }
    }
    let mut count: Vec<u32> = set.iter().map(|&j| prefix[j].rule).collect();
    count.sort_unstable();
    count.dedup();
    set.sort_unstable();
    let mut shown: Vec<usize> = differing.into_iter().collect();
    for j in set {
        if shown.len() >= MAX_SHOWN {
            break;
        }
        if !shown.iter().any(|&s| prefix[s].rule == prefix[j].rule) && first(j) == Some(true) {
            shown.push(j);
        }
    }
    if shown.is_empty() {
        // Nothing before the first candidate that really meets the rule
        // does (the others only had a bounding box in common): it decides
        // some of the rule's packets first.
        let meets = |e: &&Entry| cubes.iter().any(|c| c.intersects(&e.cube));
        shown.extend(prefix.iter().position(meets));
    }
    shown.sort_unstable();
    Coverage::Covered(Cover {
        shown: shown.iter().map(|&j| (prefix[j].rule, prefix[j].class)).collect(),
        count: count.len().max(shown.len()),
        differs: differing.is_some(),
    })
}

/// The coverage of a rule whose own exact computation ran out of budget.
fn budget(rule: &ir::Rule) -> Coverage {
    Coverage::Unknown { gap: Gap::Budget(rule.id), after: None }
}

/// How many covering rules a finding labels.
const MAX_SHOWN: usize = 4;

/// Whether the union of `cands` covers `target`; `None` past the cap.
/// The first blocker, in rule order, that decides some of `cubes` and
/// differs from the rule: subtract the blockers in rule order until one that
/// differs still meets what is left. `None` when the pieces pile up.
fn sweep(
    cubes: &[Cube],
    prefix: &[&Entry],
    differs: &dyn Fn(&Entry) -> bool,
) -> Option<Option<usize>> {
    const SWEEP_CAP: usize = 256;
    let mut left: Vec<Cube> = cubes.to_vec();
    for (j, e) in prefix.iter().enumerate() {
        if !left.iter().any(|f| f.intersects(&e.cube)) {
            continue;
        }
        if differs(e) {
            return Some(Some(j));
        }
        left = space::subtract(&left, std::slice::from_ref(&*e.cube), FRAGMENT_CAP)?;
        if left.len() > SWEEP_CAP {
            return None;
        }
        if left.is_empty() {
            return Some(None);
        }
    }
    Some(None)
}

/// [`sweep`] by one coverage check per differing blocker, for when the
/// sweep's pieces pile up. The outer `None` means the cap was hit.
fn first_differing(
    prefix: &[&Entry],
    differs: &dyn Fn(&Entry) -> bool,
    first: &dyn Fn(usize) -> Option<bool>,
) -> Option<Option<usize>> {
    for (j, e) in prefix.iter().enumerate() {
        if differs(e) && first(j)? {
            return Some(Some(j));
        }
    }
    Some(None)
}

/// `hulls` are the hulls of `cands`.
fn covered_by(target: &[Cube], cands: &[&Entry], hulls_of: &[Hull]) -> Option<bool> {
    let hulls: Vec<Hull> = target.iter().map(Hull::of).collect();
    let mut cs: Vec<&Entry> = cands
        .iter()
        .zip(hulls_of)
        .filter(|(e, eh)| {
            hulls.iter().zip(target).any(|(h, t)| h.meets(eh) && t.intersects(&e.cube))
        })
        .map(|(e, _)| *e)
        .collect();
    if cs.is_empty() {
        return Some(target.is_empty());
    }
    if target.iter().all(|t| cs.iter().any(|e| e.cube.covers(t))) {
        return Some(true);
    }
    // A corner that no candidate matches proves the target is not covered.
    for c in target {
        for probe in [c.corner(false), c.corner(true)] {
            if !cs.iter().any(|e| e.cube.contains(&probe)) {
                return Some(false);
            }
        }
    }
    cs.sort_by(|a, b| b.volume.total_cmp(&a.volume));
    let mut left: Vec<Cube> = target.to_vec();
    for (k, e) in cs.iter().enumerate() {
        let mut next = Vec::with_capacity(left.len());
        for f in left {
            if f.intersects(&e.cube) {
                next.extend(f.subtract(&e.cube));
            } else {
                next.push(f);
            }
        }
        if next.len() > FRAGMENT_CAP {
            return None;
        }
        left = next;
        let Some(first) = left.first() else { return Some(true) };
        // Fragments piling up: probe one against the blockers still to come.
        if left.len() > 64 && k % 16 == 0 {
            let rest = &cs[k + 1..];
            for probe in [first.corner(false), first.corner(true)] {
                if !rest.iter().any(|e| e.cube.contains(&probe)) {
                    return Some(false);
                }
            }
        }
    }
    Some(false)
}

/// The packets for which `rule` ends its chain under every `limit` outcome,
/// by how it ends it. A rule with a `limit` ends it for none. With a gap,
/// the pieces are sound for coverage but their classes may be wrong.
fn pieces(ctx: &mut Ctx, rule: &ir::Rule) -> (Vec<Piece>, Option<Gap>) {
    if limited(rule) {
        return (Vec::new(), None);
    }
    ends(ctx, rule)
}

/// Whether the rule holds only for some of its packets: under a rate (per
/// address or not), or with more connections than a count.
impl<'a> Ctx<'a> {
    fn new(table: &'a ir::Table) -> Self {
        Ctx { table, decided: vec![Memo::Todo; table.chains.len()], marked: mark_setters(table) }
    }

    /// Whether a rule before `rule` in its chain may have changed the mark.
    fn after_mark_set(&self, rule: &ir::Rule) -> bool {
        self.marked
            .get(rule.id.chain.0 as usize)
            .copied()
            .flatten()
            .is_some_and(|first| rule.id.index > first)
    }

    /// Whether the packets `rule` ends the chain for, as [`ends`] computes
    /// them, may be read with a changed mark: after a mark change, or for
    /// the chain a rule that sets the mark jumps or goes to.
    fn pieces_after_mark_set(&self, rule: &ir::Rule) -> bool {
        let sets = rule.actions.iter().any(|a| matches!(a, Action::MarkSet(_)));
        let leaves = matches!(rule.verdict, Some(Verdict::Jump(_) | Verdict::Goto(_)));
        self.after_mark_set(rule) || (sets && leaves)
    }
}

/// Per chain of `table`, the first rule that may change the packet's mark:
/// one with `mark set`, or a jump or goto to a chain that may.
fn mark_setters(table: &ir::Table) -> Vec<Option<u32>> {
    let sets = |r: &ir::Rule| r.actions.iter().any(|a| matches!(a, Action::MarkSet(_)));
    let mut dirty: Vec<bool> = table.chains.iter().map(|c| c.rules.iter().any(sets)).collect();
    let target = |r: &ir::Rule| match r.verdict {
        Some(Verdict::Jump(c) | Verdict::Goto(c)) => Some(c.0 as usize),
        _ => None,
    };
    // Chains that reach a setter through jumps: a fixpoint over the graph.
    let mut changed = true;
    while changed {
        changed = false;
        for (i, chain) in table.chains.iter().enumerate() {
            if !dirty[i] && chain.rules.iter().any(|r| target(r).is_some_and(|t| dirty[t])) {
                dirty[i] = true;
                changed = true;
            }
        }
    }
    table
        .chains
        .iter()
        .map(|chain| {
            chain
                .rules
                .iter()
                .position(|r| sets(r) || target(r).is_some_and(|t| dirty[t]))
                .map(|i| i as u32)
        })
        .collect()
}

/// Whether a cube restricts the mark.
fn reads_mark(c: &Cube) -> bool {
    c.mark.as_ref().is_some_and(|m| !m.is_full(space::MARK_MAX))
}

/// Takes the cubes that read the mark out of `pieces`, and returns them
/// with the mark left open: what they may take, as far as is known.
fn unsure_mark(pieces: &mut [Piece]) -> Vec<Cube> {
    let mut out = Vec::new();
    for piece in pieces.iter_mut() {
        let (unsure, sure): (Vec<Cube>, Vec<Cube>) =
            std::mem::take(&mut piece.space).into_iter().partition(reads_mark);
        piece.space = sure;
        out.extend(unsure.into_iter().map(|c| Cube { mark: None, ..c }));
    }
    out
}

fn limited(rule: &ir::Rule) -> bool {
    rule.conditional()
}

/// The packets for which `rule` ends its chain when it holds, by how it
/// ends it: [`pieces`] for a rule whose `limit` lets it hold.
fn ends(ctx: &mut Ctx, rule: &ir::Rule) -> (Vec<Piece>, Option<Gap>) {
    let whole = |class| (vec![Piece { space: rule.space.clone(), class }], None);
    if rule.actions.iter().any(|a| matches!(a, Action::Nat(_))) {
        return whole(Class::Translate(rule.id));
    }
    let (to, goto) = match rule.verdict {
        None => return (Vec::new(), None),
        Some(Verdict::Accept) => return whole(Class::Accept),
        Some(Verdict::Drop) => return whole(Class::Drop),
        Some(Verdict::Reject(w)) => return whole(Class::Reject(w.canonical())),
        Some(Verdict::Return) => return whole(Class::Return),
        Some(Verdict::Jump(to)) => (to, false),
        Some(Verdict::Goto(to)) => (to, true),
    };
    let decided = decided(ctx, to);
    let mut gap = decided.gap;
    let mut out = Vec::new();
    for piece in &decided.parts {
        let part = space::intersect(&rule.space, &piece.space);
        if !part.is_empty() {
            out.push(Piece { space: part, class: piece.class });
        }
    }
    if goto {
        // The rest may run off the end of `to` and leaves this chain anyway.
        let all: Space = out.iter().flat_map(|p| p.space.iter().cloned()).collect();
        let rest = space::subtract(&rule.space, &all, FRAGMENT_CAP).unwrap_or_else(|| {
            // All of it leaves the chain, that much is sure; how is not.
            gap = gap.or(Some(Gap::Budget(rule.id)));
            rule.space.clone()
        });
        out.push(Piece { space: rest, class: Class::Goto(to) });
    }
    (out, gap)
}

/// Whether a class is a final verdict, rather than leaving the chain for
/// its caller to go on.
pub(super) fn is_final(class: Class) -> bool {
    !matches!(class, Class::Return | Class::Goto(_) | Class::Jump(_))
}

/// The packets chain `id` gives a final verdict under every `limit`
/// outcome, computed once.
///
/// The chain's rules are read in order, keeping `ended`: the packets some
/// earlier rule may already have taken out of the chain. A rule without
/// `limit` ends the chain for its [`pieces`]; a packet it ends with a final
/// verdict, and that no earlier rule may have taken, is decided. A rule with
/// `limit` decides nothing for sure, but under its rate a `return`, or a
/// `goto` to a chain that may run off its end, takes packets out of the chain
/// without a verdict: those are never decided here, whatever comes after
/// (the `ssh_rate { limit 3/minute return; drop }` of issue 8).
///
/// A chain still being computed (a jump cycle, reported on its own) counts as
/// deciding nothing, and so does a chain whose spaces hit the fragment cap:
/// both only make blockers smaller, never a cover wrong. Either is a [`Gap`],
/// and so is a gap of a chain this one jumps or goes to: the rules after a
/// jump into a chain with a gap get no finding but `analysis-budget` (or,
/// for a loop, none), never a guessed one.
fn decided(ctx: &mut Ctx, id: ChainId) -> std::rc::Rc<Decided> {
    let Some(memo) = ctx.decided.get(id.0 as usize) else { return Default::default() };
    match memo {
        Memo::Done(d) => return d.clone(),
        Memo::InProgress => {
            return std::rc::Rc::new(Decided { parts: vec![], gap: Some(Gap::Loop) })
        }
        Memo::Todo => {}
    }
    ctx.decided[id.0 as usize] = Memo::InProgress;
    let table = ctx.table;
    let chain = &table.chains[id.0 as usize];
    let mut d = Decided::default();
    // What earlier rules may have taken, as their own pieces: their union is
    // all that matters, and unfragmented it stays as small as the rules.
    let mut ended = Entries::new(chain);
    for rule in &chain.rules {
        let (mut pieces, gap) = ends(ctx, rule);
        d.gap = d.gap.or(gap);
        if limited(rule) {
            pieces.retain(|p| !is_final(p.class));
        }
        // Packets a rule after a mark change may take, which are not known
        // exactly: never decided here, but taken out of what comes after.
        // Callers are told: the parts may then miss packets, and a part's
        // first decider may be another rule.
        if ctx.pieces_after_mark_set(rule) {
            for cube in unsure_mark(&mut pieces) {
                d.gap = d.gap.or(Some(Gap::Mark));
                ended.push(Entry::new(rule.id.index, Class::Return, cube));
            }
        }
        if pieces.is_empty() {
            continue;
        }
        let hulls: Vec<Hull> = rule.space.iter().map(Hull::of).collect();
        let near: Space = ended
            .query(&hulls, usize::MAX)
            .into_iter()
            .map(|i| i as usize)
            .filter(|&i| hulls.iter().any(|h| h.meets(&ended.hulls[i])))
            .map(|i| Cube::clone(&ended.all[i].cube))
            .collect();
        let Some(fresh) = space::subtract(&rule.space, &near, FRAGMENT_CAP) else {
            d = Decided { parts: vec![], gap: Some(Gap::Budget(rule.id)) };
            break;
        };
        for piece in pieces {
            if is_final(piece.class) && !limited(rule) {
                let part = space::intersect(&piece.space, &fresh);
                d.parts.push(Piece { space: part, class: piece.class });
            }
            for cube in piece.space {
                ended.push(Entry::new(rule.id.index, piece.class, cube));
            }
        }
    }
    d.parts.retain(|p| !p.space.is_empty());
    let d = std::rc::Rc::new(d);
    ctx.decided[id.0 as usize] = Memo::Done(d.clone());
    d
}

/// The class the rule being checked would give its packets, when it decides.
pub(super) fn own_class(rule: &ir::Rule) -> Option<Class> {
    if rule.actions.iter().any(|a| matches!(a, Action::Nat(_))) {
        return Some(Class::Translate(rule.id));
    }
    Some(match rule.verdict? {
        Verdict::Accept => Class::Accept,
        Verdict::Drop => Class::Drop,
        Verdict::Reject(w) => Class::Reject(w.canonical()),
        Verdict::Return => Class::Return,
        Verdict::Jump(c) => Class::Jump(c),
        Verdict::Goto(c) => Class::Goto(c),
    })
}

/// Whether a blocker's piece does to a packet what `rule` would have done:
/// the same verdict statement and translation, or the same end.
pub fn same(table: &ir::Table, blocker: &ir::Rule, class: Class, rule: &ir::Rule) -> bool {
    let statement = blocker.verdict == rule.verdict
        && match (translation(blocker), translation(rule)) {
            (None, None) => true,
            (Some(a), Some(b)) => same_translation(a, b),
            _ => false,
        };
    statement || own_class(rule).is_some_and(|own| same_class(table, own, class))
}

/// Whether two classes end a packet the same way.
fn same_class(table: &ir::Table, a: Class, b: Class) -> bool {
    let nat = |r: ir::RuleId| {
        let rule = table.chains.get(r.chain.0 as usize)?.rules.get(r.index as usize)?;
        translation(rule)
    };
    match (a, b) {
        (Class::Translate(x), Class::Translate(y)) => match (nat(x), nat(y)) {
            (Some(x), Some(y)) => same_translation(x, y),
            _ => x == y,
        },
        _ => a == b,
    }
}

pub(super) fn translation(rule: &ir::Rule) -> Option<&ir::Nat> {
    crate::eval::translation(rule)
}

/// Whether two translations send packets to the same place, wherever each
/// is written.
pub fn same_translation(a: &ir::Nat, b: &ir::Nat) -> bool {
    use ir::Nat::Dnat;
    match (a, b) {
        (Dnat { backends: x, balance: bx }, Dnat { backends: y, balance: by }) => {
            let target = |b: &ir::NatBackend| (b.addr, b.port, b.weight);
            bx == by && x.len() == y.len() && x.iter().map(target).eq(y.iter().map(target))
        }
        _ => a == b,
    }
}
