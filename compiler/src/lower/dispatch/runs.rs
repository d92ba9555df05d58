//! Which rules join which run: each rule, in policy order, goes into the
//! latest run of its key it may move up to, past blocks it is disjoint
//! from, or into a block of its own. A run's [`Hull`] answers "may this
//! rule meet a member" in logarithmic time, never with a false "no".

use std::borrow::Cow;
use std::collections::BTreeMap;

use crate::space::{Cube, Families, Intervals};

use super::{disjoint, Cand, KeyKind};

/// A stretch of the lowered chain: one rule, or a run of rules with one key.
pub(super) enum Block {
    Seq(usize),
    Run {
        kind: KeyKind,
        members: Vec<usize>,
        /// Holds every member's space, for the disjointness checks.
        hull: Box<Hull>,
        /// Holds the spaces of members after which evaluation may go on.
        continuing: Box<Hull>,
    },
}

/// How many blocks back a rule may move to join a run.
const WALK: usize = 32;

/// Put each rule, in policy order, into the latest run of its kind that it
/// may move up to (past blocks it is disjoint from), or into a block of its
/// own at the end.
pub(super) fn plan(cands: &[Result<Cand, String>], spaces: &[Cow<[Cube]>]) -> Vec<Block> {
    let mut blocks: Vec<Block> = Vec::new();
    for (i, cand) in cands.iter().enumerate() {
        let Ok(cand) = cand else {
            blocks.push(Block::Seq(i));
            continue;
        };
        let mut target = None;
        for (back, b) in blocks.iter().enumerate().rev().take(WALK) {
            match b {
                Block::Run { kind, hull, continuing, .. } if *kind == cand.kind => {
                    if !spaces[i].iter().any(|c| continuing.meets(c)) {
                        target = Some(back);
                        break;
                    }
                    if spaces[i].iter().any(|c| hull.meets(c)) {
                        break;
                    }
                }
                Block::Run { hull, .. } => {
                    if spaces[i].iter().any(|c| hull.meets(c)) {
                        break;
                    }
                }
                Block::Seq(j) => {
                    if !disjoint(&spaces[*j], &spaces[i]) {
                        break;
                    }
                }
            }
        }
        match target.map(|t| &mut blocks[t]) {
            Some(Block::Run { members, hull, continuing, .. }) => {
                members.push(i);
                hull.add(&spaces[i]);
                if cand.may_continue {
                    continuing.add(&spaces[i]);
                }
            }
            _ => {
                let mut hull = Box::<Hull>::default();
                hull.add(&spaces[i]);
                let mut continuing = Box::<Hull>::default();
                if cand.may_continue {
                    continuing.add(&spaces[i]);
                }
                blocks.push(Block::Run { kind: cand.kind, members: vec![i], hull, continuing });
            }
        }
    }
    blocks
}

/// A box holding a union of run members' cubes (fields other than these
/// are unrestricted in run members), with interval indexes so that adding
/// and testing stay logarithmic in the run's size.
#[derive(Default)]
pub(super) struct Hull {
    family: Option<Families>,
    proto: Option<crate::space::Protos>,
    saddr: HullDim,
    daddr: HullDim,
    dport: HullDim,
}

#[derive(Default)]
enum HullDim {
    /// No member restricts it: any value.
    #[default]
    Any,
    Within(IntervalIndex),
}

impl Hull {
    fn add(&mut self, space: &[Cube]) {
        for c in space {
            let first = self.family.is_none();
            self.family = Some(self.family.map_or(c.family, |f| f.union(c.family)));
            self.proto = Some(self.proto.map_or(c.proto, |p| p.union(c.proto)));
            for (dim, v) in [
                (&mut self.saddr, &c.saddr),
                (&mut self.daddr, &c.daddr),
                (&mut self.dport, &c.dport),
            ] {
                match v {
                    None => *dim = HullDim::Any,
                    Some(iv) => {
                        if first {
                            *dim = HullDim::Within(IntervalIndex::default());
                        }
                        if let HullDim::Within(index) = dim {
                            for &(lo, hi) in iv.ranges() {
                                index.insert(lo, hi);
                            }
                        }
                    }
                }
            }
        }
    }

    /// Whether some packet of `c` may be in the hull (never a false "no").
    fn meets(&self, c: &Cube) -> bool {
        let (Some(family), Some(proto)) = (self.family, self.proto) else { return false };
        let dim = |d: &HullDim, v: &Option<Intervals>| match (d, v) {
            (HullDim::Any, _) | (_, None) => true,
            (HullDim::Within(index), Some(iv)) => {
                iv.ranges().iter().any(|&(lo, hi)| index.meets(lo, hi))
            }
        };
        !family.intersect(c.family).is_empty()
            && !proto.intersect(c.proto).is_empty()
            && dim(&self.saddr, &c.saddr)
            && dim(&self.daddr, &c.daddr)
            && dim(&self.dport, &c.dport)
    }
}

/// Disjoint closed intervals in a B-tree, keyed by their start.
#[derive(Default)]
struct IntervalIndex(BTreeMap<u128, u128>);

impl IntervalIndex {
    fn insert(&mut self, mut lo: u128, mut hi: u128) {
        // Swallow every interval that overlaps or touches `lo..=hi`.
        if let Some((&s, &e)) = self.0.range(..=lo).next_back() {
            if e.saturating_add(1) >= lo {
                lo = s;
                hi = hi.max(e);
                self.0.remove(&s);
            }
        }
        while let Some((&s, &e)) = self.0.range(lo..).next() {
            if s > hi.saturating_add(1) {
                break;
            }
            hi = hi.max(e);
            self.0.remove(&s);
        }
        self.0.insert(lo, hi);
    }

    fn meets(&self, lo: u128, hi: u128) -> bool {
        self.0.range(..=hi).next_back().is_some_and(|(_, &e)| e >= lo)
    }
}
