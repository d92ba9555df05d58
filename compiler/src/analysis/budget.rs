//! The analysis's work budget over a whole policy, so that `check` stays
//! bounded on any input: a count of work units, never a clock, so the same
//! policy gets the same findings on any machine, under any load and with any
//! number of threads.
//!
//! A work unit is one interval of one cube read in a comparison with another
//! (an intersection test, one piece of a subtraction; see [`cost`]), or one
//! candidate blocker read from the index: comparing two cubes costs about
//! the intervals both hold, so a set of a thousand ports costs a thousand
//! times one port. The
//! budget is [`Budget::base`] plus [`Budget::per_rule`] for each rule of the
//! policy, so it grows with the policy, but the work it allows grows no faster
//! than the rule count. Realistic policies use a small fraction of it; what
//! uses it up is rules that overlap each other in many ways at once (several
//! negated matches each, say), where the exact check of one rule may compare
//! it with every rule above it, piece by piece.
//!
//! Rules are checked in batches of [`BATCH`], side by side, each with an
//! equal share of what is left ([`Meter`]): a rule's result depends only on
//! its share, and its share only on the batches before it, so the findings
//! are the same whatever the threads do. A rule whose share runs out, and a
//! rule after a `jump` into a chain whose decided packets could not be
//! computed within what was left, gets `analysis-budget`, never a guess. The
//! findings that do not need the budget (unmatchable rules, jump cycles,
//! chain depth, unreachable chains) are exact for every rule.
//!
//! Waiting for each batch before the next leaves cores idle at every batch's
//! end, so several batches are checked at once when the rules of the later
//! ones take no work to add as blockers (most rules): each rule with the
//! first batch's share, which is at least its own, drawing from a [`Pool`] of
//! what is left so that the group cannot spend more than there is. The
//! batches are then settled in order, each with its real share; a rule that
//! spent more than that, or was refused by the pool, is checked again with
//! its real share alone. A check that was never refused found what it would
//! have found with any share at least what it spent, so the findings are
//! those of checking batch by batch.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::space::Cube;

/// How much exact work the analysis may do for one policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Budget {
    /// Work units any policy may use, however few its rules.
    pub base: u64,
    /// Work units more for each rule of the policy.
    pub per_rule: u64,
}

impl Budget {
    /// The budget `check`, `compile` and `apply` use.
    pub const DEFAULT: Budget = Budget { base: 50_000_000, per_rule: 20_000 };

    /// The units for a policy of `rules` rules.
    pub fn units(self, rules: usize) -> u64 {
        self.base.saturating_add(self.per_rule.saturating_mul(rules as u64))
    }
}

/// How many rules are checked side by side, each with this fraction of the
/// work left: a constant, never the number of threads, so that shares (and
/// findings) do not depend on the machine.
pub(super) const BATCH: usize = 64;

/// How many batches at most are checked at once (see the module's doc):
/// enough that a core seldom waits, few enough that a group whose rules
/// must be checked again wastes little.
pub(super) const GROUP: usize = 16;

/// Work units left to spend. A `Cell`, because one rule's check hands it
/// down by shared reference; each rule checked in parallel has its own.
#[derive(Debug)]
pub(super) struct Meter<'p> {
    left: Cell<u64>,
    spent: Cell<u64>,
    /// Whether some work was refused.
    out: Cell<bool>,
    /// Where the units also come from, for a rule of a group of batches.
    pool: Option<&'p Pool>,
    /// Units drawn from `pool` and not yet taken.
    held: Cell<u64>,
}

/// The units a group of batches shares, drawn by its rules' meters a slice
/// at a time, so that they seldom touch the same cache line.
#[derive(Debug)]
pub(super) struct Pool {
    left: AtomicU64,
    slice: u64,
}

impl Pool {
    pub fn new(units: u64) -> Pool {
        Pool { left: AtomicU64::new(units), slice: (units / 65_536).max(1) }
    }
}

impl Meter<'static> {
    pub fn new(units: u64) -> Meter<'static> {
        Meter {
            left: Cell::new(units),
            spent: Cell::new(0),
            out: Cell::new(false),
            pool: None,
            held: Cell::new(0),
        }
    }
}

impl<'p> Meter<'p> {
    /// A meter of `units` that also draws each unit from `pool`.
    pub fn drawing(units: u64, pool: &'p Pool) -> Meter<'p> {
        Meter { pool: Some(pool), ..Meter::new(units) }
    }

    /// Draws `n` units from the pool, if there is one; `false` when the pool
    /// has fewer left.
    fn draw(&self, n: u64) -> bool {
        let Some(pool) = self.pool else { return true };
        let held = self.held.get();
        if n <= held {
            self.held.set(held - n);
            return true;
        }
        let need = n - held;
        let want = need.max(pool.slice);
        let got = pool.left.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| {
            (left >= need).then(|| left - want.min(left))
        });
        match got {
            Ok(left) => {
                self.held.set(want.min(left) - need);
                true
            }
            Err(_) => false,
        }
    }

    /// Takes `n` units for work about to be done. When fewer are left, takes
    /// nothing, leaves none for later, and says `None`: the work is not to
    /// be done.
    pub fn take(&self, n: usize) -> Option<()> {
        let n = n as u64;
        let left = self.left.get();
        if n > left || !self.draw(n) {
            self.left.set(0);
            self.out.set(true);
            return None;
        }
        self.left.set(left - n);
        self.spent.set(self.spent.get() + n);
        Some(())
    }

    /// Whether comparing each of `pieces` with `cube` can be afforded,
    /// taking its [`cost`]: for [`crate::space::subtract_within`].
    pub fn afford(&self, pieces: &[Cube], cube: &Cube) -> bool {
        self.take(cost(pieces, cube)).is_some()
    }

    /// Takes `n` units another meter spent (a rule's share, once checked).
    pub fn charge(&self, n: u64) {
        self.left.set(self.left.get().saturating_sub(n));
        self.spent.set(self.spent.get().saturating_add(n));
    }

    pub fn spent(&self) -> u64 {
        self.spent.get()
    }

    pub fn left(&self) -> u64 {
        self.left.get()
    }

    /// One rule's share of what is left, for a batch of [`BATCH`] rules.
    pub fn share(&self) -> u64 {
        self.left.get() / BATCH as u64
    }

    /// Whether some work was refused: what was asked for is not known.
    pub fn ran_out(&self) -> bool {
        self.out.get()
    }
}

/// The work of comparing each of `pieces` with `cube`.
pub(super) fn cost(pieces: &[Cube], cube: &Cube) -> usize {
    cost_counted(Counted::of(pieces), cube.intervals())
}

/// The work of comparing each of some pieces, counted once, with a cube of
/// `intervals` intervals: [`cost`] without reading the cubes again.
pub(super) fn cost_counted(pieces: Counted, intervals: usize) -> usize {
    pieces.intervals + pieces.len * intervals
}

/// How many pieces, and how many intervals they hold together.
#[derive(Clone, Copy, Debug)]
pub(super) struct Counted {
    pub len: usize,
    pub intervals: usize,
}

impl Counted {
    pub fn of(pieces: &[Cube]) -> Counted {
        Counted { len: pieces.len(), intervals: pieces.iter().map(Cube::intervals).sum() }
    }
}

/// The work of comparing each of `a` with each of `b`.
pub(super) fn cost_all(a: &[Cube], b: &[Cube]) -> usize {
    b.iter().map(|c| cost(a, c)).sum()
}
