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
//!
//! This file holds the per-chain walk and the per-rule check; how a rule
//! ends its chain is in `class`, what a jumped-to chain decides in `decided`,
//! what a mark set on the way leaves unsure in `marks`, and the cover test in
//! `cover`.

mod class;
mod cover;
mod decided;
mod marks;

use rayon::prelude::*;
use shriek_grammar::Diagnostic;

pub use class::{is_final, own_class, same, same_translation, translation, Class};
pub use decided::{Decided, Gap, Piece};

use super::budget::{Budget, Meter, Pool, BATCH, GROUP};
use super::index::{Entries, Entry};
use super::{apply_allows, describe};
use crate::ir::{self, ChainId};
use crate::space::{Cube, Space};
use decided::{limited, pieces, Ctx};
use marks::{reads_mark, unsure_mark};

/// The most cube fragments one rule's remaining space may split into.
pub const FRAGMENT_CAP: usize = 10_000;

/// All findings of this kind for one table, spending work from `work`,
/// checking up to `group` batches of rules at once (`analysis/budget.rs`).
pub(super) fn check_table(
    table: &ir::Table,
    work: &Meter<'static>,
    group: usize,
) -> Vec<Diagnostic> {
    let known = super::interfaces::known(table);
    let table = &*known.table;
    let mut ctx = Ctx::new(
        table,
        work,
        known.lacks.clone(),
        known.hooks.iter().map(|h| !h.is_empty()).collect(),
    );
    let mut out = Vec::new();
    for (chain, hooks) in table.chains.iter().zip(&known.hooks) {
        check_chain(&mut ctx, chain, hooks, group, &mut out);
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
    let rules = table.chains.iter().map(|c| c.rules.len()).sum();
    let work = Meter::new(Budget::DEFAULT.units(rules));
    let known = super::interfaces::known(table);
    let table = &*known.table;
    let mut ctx =
        Ctx::new(table, &work, known.lacks, known.hooks.iter().map(|h| !h.is_empty()).collect());
    chain_coverage(&mut ctx, &table.chains[chain.0 as usize], GROUP)
}

fn check_chain<'a>(
    ctx: &mut Ctx<'a>,
    chain: &'a ir::Chain,
    hooks: &[ir::Hook],
    group: usize,
    out: &mut Vec<Diagnostic>,
) {
    let table = ctx.table;
    let coverage = chain_coverage(ctx, chain, group);
    let found = chain.rules.par_iter().zip(coverage.into_par_iter()).filter_map(|(rule, c)| {
        let diag = match c {
            Coverage::Empty => describe::unmatchable(rule, chain.base.is_some(), hooks),
            Coverage::Covered(c) => describe::covered(table, chain, rule, &c),
            Coverage::Unknown { gap: Gap::Budget(at), after } => {
                let after = after.and_then(|i| chain.rules.get(i as usize));
                describe::not_analysed(table, rule, at, false, after)
            }
            Coverage::Unknown { gap: Gap::Work(at), after } => {
                let after = after.and_then(|i| chain.rules.get(i as usize));
                describe::not_analysed(table, rule, at, true, after)
            }
            // A loop is reported as `jump-cycle`, and the kernel refuses it;
            // docs/language.md says what a changed mark leaves unchecked.
            Coverage::Unknown { gap: Gap::Loop | Gap::Mark | Gap::Unused, .. }
            | Coverage::Reached => return None,
        };
        Some(apply_allows(diag, &rule.allows))
    });
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
/// of a batch of rules go in first, in order (a `jump` rule's need the
/// memoized [`Decided`] space of its target, which `ctx` holds), and then
/// the batch's rules are checked side by side on every core: the checks,
/// with their cube subtractions, are where the time goes, and each reads
/// only the index. Each gets an equal share of the work left
/// (`analysis/budget.rs`), so the batch cannot spend more than there is.
///
/// While the batches go by cleanly, up to `group` of them are checked at
/// once, when adding the later ones' blockers takes no work; then settled
/// batch by batch, as `analysis/budget.rs` says, so that the findings are
/// those of one batch at a time.
fn chain_coverage<'a>(ctx: &mut Ctx<'a>, chain: &'a ir::Chain, group: usize) -> Vec<Coverage> {
    let mut seen = Seen { entries: Entries::new(chain), gaps: Vec::new() };
    let table = ctx.table;
    let rules = &chain.rules;
    let mut out = Vec::with_capacity(rules.len());
    let mut span = 1;
    let mut next = 0;
    while next < rules.len() {
        // The first batch's blockers, which may take work; then those of
        // the batches after it that take none, while the group has room.
        let mut end = (next + BATCH).min(rules.len());
        let mut before: Vec<Option<Before>> =
            rules[next..end].iter().map(|r| add(ctx, r, &mut seen)).collect();
        while end < rules.len() && end - next < span.min(group) * BATCH {
            let more = &rules[end..(end + BATCH).min(rules.len())];
            if !more.iter().all(|r| adds_freely(ctx, r)) {
                break;
            }
            before.extend(more.iter().map(|r| add(ctx, r, &mut seen)));
            end += more.len();
        }
        let top = ctx.work.share();
        let alone = end - next <= BATCH;
        let pool = Pool::new(ctx.work.left());
        let mut checked: Vec<Checked> = rules[next..end]
            .par_iter()
            .zip(before.par_iter())
            .map(|(rule, &before)| match alone {
                true => run(table, rule, &seen, before, &Meter::new(top)),
                false => run(table, rule, &seen, before, &Meter::drawing(top, &pool)),
            })
            .collect();
        // Settled batch by batch, each with its real share.
        let mut clean = true;
        for (at, batch) in checked.chunks_mut(BATCH).enumerate() {
            let share = ctx.work.share();
            let first = next + at * BATCH;
            let again: Vec<usize> = (0..batch.len())
                .filter(|&k| !alone && (batch[k].refused || batch[k].spent > share))
                .collect();
            clean &= again.is_empty();
            let redone: Vec<Checked> = again
                .par_iter()
                .map(|&k| {
                    run(table, &rules[first + k], &seen, before[at * BATCH + k], &Meter::new(share))
                })
                .collect();
            for (k, c) in again.into_iter().zip(redone) {
                batch[k] = c;
            }
            for c in batch.iter() {
                ctx.work.charge(c.spent);
            }
        }
        out.extend(checked.into_iter().map(|c| c.coverage));
        span = if clean { (span * 2).min(GROUP) } else { 1 };
        next = end;
    }
    out
}

/// One rule's check, with what it spent and whether some work was refused.
struct Checked {
    coverage: Coverage,
    spent: u64,
    refused: bool,
}

fn run(
    table: &ir::Table,
    rule: &ir::Rule,
    seen: &Seen<'_>,
    before: Option<Before>,
    meter: &Meter<'_>,
) -> Checked {
    let coverage = match before {
        None => Coverage::Empty,
        Some(before) => check(table, rule, seen, before, meter),
    };
    Checked { coverage, spent: meter.spent(), refused: meter.ran_out() }
}

/// Whether adding the rule's blockers takes no work: it matches nothing, or
/// ends the chain with its own cubes (see [`add`]).
fn adds_freely(ctx: &Ctx<'_>, rule: &ir::Rule) -> bool {
    rule.space.iter().all(|c| c.is_empty())
        || own_class(rule).is_some_and(|c| !matches!(c, Class::Jump(_) | Class::Goto(_)))
            && !limited(rule)
            && !ctx.pieces_after_mark_set(rule)
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
fn check(
    table: &ir::Table,
    rule: &ir::Rule,
    seen: &Seen<'_>,
    before: Before,
    work: &Meter<'_>,
) -> Coverage {
    let cubes = live_cubes(rule);
    let rules = table.chains.get(rule.id.chain.0 as usize).map_or(&[][..], |c| &c.rules[..]);
    let mut coverage =
        cover::cover(table, &cubes, rule, rules, &seen.entries, before.entries, work);
    // Whatever was found after some work was refused is not known.
    if work.ran_out() {
        coverage = Coverage::Unknown { gap: Gap::Work(rule.id), after: None };
    }
    // An earlier rule whose blockers are not exact may decide some of this
    // rule's packets, first or at all: neither a cover nor a packet that
    // gets through is then certain. Few rules have gaps; their count is
    // bounded by the rules, so this scan is not counted.
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
