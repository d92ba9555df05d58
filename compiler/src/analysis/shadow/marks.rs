//! Marks set on the way: `mark set` is the one statement that changes what
//! later matches read. A rule's cubes describe the packet as it entered the
//! chain, so after the first rule that may change the mark, a rule that reads
//! the mark is not checked and its pieces are not sure blockers.

use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::Direction;

use super::decided::{Ctx, Piece};
use crate::ir::{self, Action, Verdict};
use crate::space::{self, Cube};

impl Ctx<'_> {
    /// Whether a rule before `rule` in its chain may have changed the mark.
    pub(super) fn after_mark_set(&self, rule: &ir::Rule) -> bool {
        self.marked
            .get(rule.id.chain.0 as usize)
            .copied()
            .flatten()
            .is_some_and(|first| rule.id.index > first)
    }

    /// Whether the packets `rule` ends the chain for, as `decided::ends` computes
    /// them, may be read with a changed mark: after a mark change, or for
    /// the chain a rule that sets the mark jumps or goes to.
    pub(super) fn pieces_after_mark_set(&self, rule: &ir::Rule) -> bool {
        let sets = rule.actions.iter().any(|a| matches!(a, Action::MarkSet(_)));
        let leaves = matches!(rule.verdict, Some(Verdict::Jump(_) | Verdict::Goto(_)));
        self.after_mark_set(rule) || (sets && leaves)
    }
}

/// The jump graph, as `analysis/graph.rs` makes it.
type Jumps<'a> = DiGraph<usize, (&'a ir::Rule, bool)>;

/// Per chain of `table`, the first rule that may change the packet's mark:
/// one with `mark set`, or a jump or goto to a chain that may.
pub(super) fn mark_setters(table: &ir::Table, graph: &Jumps) -> Vec<Option<u32>> {
    let sets = |r: &ir::Rule| r.actions.iter().any(|a| matches!(a, Action::MarkSet(_)));
    let mut dirty: Vec<bool> = table.chains.iter().map(|c| c.rules.iter().any(sets)).collect();
    let target = |r: &ir::Rule| match r.verdict {
        Some(Verdict::Jump(c) | Verdict::Goto(c)) => Some(c.0 as usize),
        _ => None,
    };
    // Chains that reach a setter through jumps: a walk back along the edges
    // from the setters, each chain once.
    let mut todo: Vec<NodeIndex> = graph.node_indices().filter(|&n| dirty[graph[n]]).collect();
    while let Some(n) = todo.pop() {
        for from in graph.neighbors_directed(n, Direction::Incoming) {
            if !dirty[graph[from]] {
                dirty[graph[from]] = true;
                todo.push(from);
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
pub(super) fn reads_mark(c: &Cube) -> bool {
    c.mark.as_ref().is_some_and(|m| !m.is_full(space::MARK_MAX))
}

/// Takes the cubes that read the mark out of `pieces`, and returns them
/// with the mark left open: what they may take, as far as is known.
pub(super) fn unsure_mark(pieces: &mut [Piece]) -> Vec<Cube> {
    let mut out = Vec::new();
    for piece in pieces.iter_mut() {
        let (unsure, sure): (Vec<Cube>, Vec<Cube>) =
            std::mem::take(&mut piece.space).into_iter().partition(reads_mark);
        piece.space = sure;
        out.extend(unsure.into_iter().map(|c| Cube { mark: None, ..c }));
    }
    out
}
