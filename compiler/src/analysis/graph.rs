//! The jump graph of a table: `unreachable-chain`, `jump-cycle` and
//! `chain-too-deep`.
//!
//! Nodes are chains, edges are `jump` and `goto` rules. Every such rule
//! counts as an edge, even one that can never match: an unreachable chain
//! behind a dead jump is reported through the dead rule, once, and the
//! kernel counts a dead jump's depth as it counts any other.

use petgraph::algo::kosaraju_scc;
use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::visit::{Dfs, EdgeRef};
use shriek_grammar::Diagnostic;

use super::{apply_allows, codes};
use crate::ir::{self, Verdict};
use crate::nft::vocab::JUMP_STACK_DEPTH;

/// The jump graph of `table`: node `i` is chain `i`, and each `jump` or
/// `goto` rule is an edge.
pub(super) fn jumps(table: &ir::Table) -> DiGraph<usize, (&ir::Rule, bool)> {
    // Edge weights: the rule, and whether it is a `goto`.
    let mut graph: DiGraph<usize, (&ir::Rule, bool)> = DiGraph::new();
    let nodes: Vec<NodeIndex> = (0..table.chains.len()).map(|c| graph.add_node(c)).collect();
    for (c, chain) in table.chains.iter().enumerate() {
        for rule in &chain.rules {
            let (to, goto) = match rule.verdict {
                Some(Verdict::Jump(to)) => (to, false),
                Some(Verdict::Goto(to)) => (to, true),
                _ => continue,
            };
            if let Some(&target) = nodes.get(to.0 as usize) {
                graph.add_edge(nodes[c], target, (rule, goto));
            }
        }
    }
    graph
}

/// Per chain of `graph`, the index of its strongly connected component in
/// `sccs`.
pub(super) fn scc_of(
    graph: &DiGraph<usize, (&ir::Rule, bool)>,
    sccs: &[Vec<NodeIndex>],
) -> Vec<usize> {
    let mut of = vec![0; graph.node_count()];
    for (i, scc) in sccs.iter().enumerate() {
        for &n in scc {
            of[graph[n]] = i;
        }
    }
    of
}

pub(super) fn check(table: &ir::Table) -> Vec<Diagnostic> {
    let graph = jumps(table);
    let nodes: Vec<NodeIndex> = graph.node_indices().collect();
    let mut out = Vec::new();
    let mut reached = vec![false; table.chains.len()];
    for (c, chain) in table.chains.iter().enumerate() {
        if chain.base.is_some() {
            let mut dfs = Dfs::new(&graph, nodes[c]);
            while let Some(n) = dfs.next(&graph) {
                reached[graph[n]] = true;
            }
        }
    }
    for (c, chain) in table.chains.iter().enumerate() {
        if !reached[c] {
            out.push(
                Diagnostic::new(
                    codes::UNREACHABLE_CHAIN,
                    format!("chain `{}` is never used", chain.name),
                    chain.loc,
                    "no base chain jumps or goes to this chain",
                )
                .with_help(format!(
                    "add `jump {}` to a base chain's rule, or remove the chain",
                    chain.name
                )),
            );
        }
    }

    // Kosaraju's walk keeps its own stack (Tarjan's in petgraph recurses, and
    // overflowed on a row of 20,000 chains); its order too is targets first.
    let sccs = kosaraju_scc(&graph);
    let of = scc_of(&graph, &sccs);
    out.extend(too_deep(table, &graph, &sccs, &of));
    for (i, scc) in sccs.iter().enumerate() {
        // A lookup, not a search of the component: a loop through 100,000
        // chains would otherwise take 10^10 steps.
        let in_cycle = |n: NodeIndex| of[graph[n]] == i;
        let mut jumps: Vec<(&ir::Rule, bool, usize)> = scc
            .iter()
            .flat_map(|&n| graph.edges(n))
            .filter(|e| in_cycle(petgraph::visit::EdgeRef::target(e)))
            .map(|e| (e.weight().0, e.weight().1, graph[petgraph::visit::EdgeRef::target(&e)]))
            .collect();
        if jumps.is_empty() {
            continue;
        }
        jumps.sort_by_key(|j| j.0.loc);
        let mut names: Vec<&str> =
            scc.iter().map(|&n| table.chains[graph[n]].name.as_str()).collect();
        names.sort_unstable();
        let list = names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ");
        let message = if names.len() == 1 {
            format!("chain {list} jumps into itself")
        } else {
            format!("chains {list} jump into each other in a loop")
        };
        let label = |&(r, goto, to): &(&ir::Rule, bool, usize)| {
            let kind = if goto { "goes" } else { "jumps" };
            let from = table.chains.get(r.id.chain.0 as usize).map_or("?", |c| c.name.as_str());
            format!("`{from}` {kind} to `{}` here", table.chains[to].name)
        };
        let first = jumps[0].0;
        let mut diag = Diagnostic::new(
            codes::JUMP_CYCLE,
            message,
            first.verdict_loc.unwrap_or(first.loc),
            label(&jumps[0]),
        )
        .with_help("break the loop: remove one of these jumps or move its rules into the chain");
        for j in &jumps[1..] {
            diag = diag.with_related(j.0.verdict_loc.unwrap_or(j.0.loc), label(j));
        }
        let allows: Vec<ir::Allow> =
            jumps.iter().flat_map(|j| j.0.allows.iter().cloned()).collect();
        out.push(apply_allows(diag, &allows));
    }
    out
}

/// `chain-too-deep`: each jump or goto that reaches a chain as deep below a
/// base chain as the kernel's jump stack goes ([`JUMP_STACK_DEPTH`]), along
/// the longest path of jumps and gotos. Loops are left out: `jump-cycle`
/// reports them.
fn too_deep(
    table: &ir::Table,
    graph: &DiGraph<usize, (&ir::Rule, bool)>,
    sccs: &[Vec<NodeIndex>],
    scc_of: &[usize],
) -> Vec<Diagnostic> {
    // Per chain, its deepest level below a base chain and that base chain.
    let mut level: Vec<Option<(usize, usize)>> =
        table.chains.iter().enumerate().map(|(c, ch)| ch.base.as_ref().map(|_| (0, c))).collect();
    let mut out = Vec::new();
    // Kosaraju's order puts a chain's targets before it: walked backwards,
    // every chain's level is final before it passes it on.
    for scc in sccs.iter().rev() {
        for &n in scc {
            let from = graph[n];
            let Some((depth, base)) = level[from] else { continue };
            for e in graph.edges(n) {
                let to = graph[e.target()];
                if scc_of[to] == scc_of[from] {
                    continue;
                }
                if level[to].is_none_or(|(d, _)| d < depth + 1) {
                    level[to] = Some((depth + 1, base));
                }
                if depth + 1 != JUMP_STACK_DEPTH {
                    continue;
                }
                let (rule, goto) = *e.weight();
                let kind = if goto { "goes" } else { "jumps" };
                let (from_name, to_name) = (&table.chains[from].name, &table.chains[to].name);
                let diag = Diagnostic::new(
                    codes::CHAIN_TOO_DEEP,
                    format!(
                        "chain `{to_name}` is {} jumps below base chain `{}`, past the kernel's limit of {}",
                        depth + 1,
                        table.chains[base].name,
                        JUMP_STACK_DEPTH - 1
                    ),
                    rule.verdict_loc.unwrap_or(rule.loc),
                    format!("`{from_name}` {kind} to `{to_name}` here"),
                )
                .with_help(
                    "the kernel refuses the whole policy: move the rules of a chain on this path into the chain that jumps to it",
                );
                out.push(apply_allows(diag, &rule.allows));
            }
        }
    }
    out
}
