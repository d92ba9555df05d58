//! What a chain decides: the packets it gives a final verdict under every
//! `limit` outcome ([`Decided`]), computed once per chain and read by the
//! `jump` and `goto` rules that enter it, and the pieces each rule takes out
//! of its own chain ([`pieces`]). Coverage itself is `cover`'s job.

use std::rc::Rc;

use super::class::{is_final, Class};
use super::marks::{mark_setters, unsure_mark};
use super::FRAGMENT_CAP;
use crate::analysis::budget::{cost_all, Meter};
use crate::analysis::index::{Entries, Entry, Hull};
use crate::analysis::interfaces::{seen_lacking, Lacks};
use crate::ir::{self, Action, ChainId, Verdict};
use crate::space::{self, Cube, Space};

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
    /// The policy's work budget (`analysis/budget.rs`) ran out at this rule.
    Work(ir::RuleId),
    /// A rule before may have changed the packet's mark (`mark set`, or a
    /// jump to a chain that sets it), and this rule's packets meet a rule
    /// after it that matches the mark: which of the packets that entered
    /// the chain that rule takes is not known. No finding either way.
    Mark,
    /// The rule is in a chain no base chain reaches, which any packet may
    /// enter, and jumps or goes to a chain read only for the packets of the
    /// hooks that reach it (`analysis/interfaces.rs`): what that chain does
    /// to other packets is not known. No finding either way.
    Unused,
}

/// The packets of one rule that end the chain, and how.
#[derive(Clone, Debug)]
pub struct Piece {
    pub space: Space,
    pub class: Class,
}

/// The most cubes the decided spaces of one table may hold in all: as
/// many as a policy may have rules, which a policy whose rules are all in
/// chains reached by `jump` about holds.
const MAX_HELD: usize = crate::resolve::limits::MAX_RULES;

/// Per-table context: the policy and the memoized decided spaces.
pub(super) struct Ctx<'a> {
    pub table: &'a ir::Table,
    /// The work left for the whole policy.
    pub work: &'a Meter<'static>,
    /// How many cubes the decided spaces computed so far hold.
    held: usize,
    decided: Vec<Memo>,
    /// Per chain, the first rule that may change the packet's mark.
    pub marked: Vec<Option<u32>>,
    /// Per chain, what its packets lack (`analysis/interfaces.rs`), and
    /// whether a base chain reaches it.
    lacks: Vec<Option<Lacks>>,
    reached: Vec<bool>,
}

#[derive(Clone)]
enum Memo {
    Todo,
    InProgress,
    Done(Rc<Decided>),
}

/// The packets for which `rule` ends its chain under every `limit` outcome,
/// by how it ends it. A rule with a `limit` ends it for none. With a gap,
/// the pieces are sound for coverage but their classes may be wrong.
pub(super) fn pieces(ctx: &mut Ctx, rule: &ir::Rule) -> (Vec<Piece>, Option<Gap>) {
    if limited(rule) {
        return (Vec::new(), None);
    }
    ends(ctx, rule)
}
impl<'a> Ctx<'a> {
    /// The context of `table`, with what every chain that a `jump` or
    /// `goto` enters decides computed, each before the chains that enter it:
    /// so computing one never recurses through a path of chains, which can
    /// be as long as the policy (a path of unreachable chains, or a loop,
    /// the kernel's depth limit does not bound).
    pub(super) fn new(
        table: &'a ir::Table,
        work: &'a Meter<'static>,
        lacks: Vec<Option<Lacks>>,
        reached: Vec<bool>,
    ) -> Self {
        let graph = crate::analysis::graph::jumps(table);
        let sccs = petgraph::algo::kosaraju_scc(&graph);
        let mut ctx = Ctx {
            table,
            work,
            held: 0,
            decided: vec![Memo::Todo; table.chains.len()],
            marked: mark_setters(table, &graph),
            lacks,
            reached,
        };
        // Kosaraju's order puts a chain's targets before it.
        for scc in &sccs {
            let looped = scc.len() > 1 || scc.iter().any(|&n| graph.contains_edge(n, n));
            for &n in scc {
                let chain = graph[n];
                if looped {
                    // What a chain in a loop (`jump-cycle`, which the kernel
                    // refuses) decides is not computed: as before, the rules
                    // its jumps may decide get no finding.
                    let d = Decided { parts: vec![], gap: Some(Gap::Loop) };
                    ctx.decided[chain] = Memo::Done(Rc::new(d));
                } else if graph
                    .neighbors_directed(n, petgraph::Direction::Incoming)
                    .next()
                    .is_some()
                {
                    decided(&mut ctx, ChainId(chain as u32));
                }
            }
        }
        ctx
    }
}

/// Whether the rule holds only for some of its packets: under a rate (per
/// address or not), or with more connections than a count.
pub(super) fn limited(rule: &ir::Rule) -> bool {
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
    let from = rule.id.chain.0 as usize;
    let unused = !ctx.reached.get(from).copied().unwrap_or(true);
    if unused && ctx.lacks.get(to.0 as usize).copied().flatten().is_some() {
        return (Vec::new(), Some(Gap::Unused));
    }
    let decided = decided(ctx, to);
    let mut gap = decided.gap;
    let mut out = Vec::new();
    for piece in &decided.parts {
        if ctx.work.take(cost_all(&rule.space, &piece.space)).is_none() {
            // What is taken so far is sure; the rest is not known.
            gap = gap.or(Some(Gap::Work(rule.id)));
            break;
        }
        let mut part = space::intersect(&rule.space, &piece.space);
        // The target may decide packets this chain never sees.
        if let Some(Lacks::One(m)) = ctx.lacks.get(rule.id.chain.0 as usize).copied().flatten() {
            if let Some(seen) = seen_lacking(&part, m) {
                part = seen;
            }
        }
        if !part.is_empty() {
            out.push(Piece { space: part, class: piece.class });
        }
    }
    if goto {
        // The rest may run off the end of `to` and leaves this chain anyway.
        let all: Space = out.iter().flat_map(|p| p.space.iter().cloned()).collect();
        let afford = &mut |l: &[Cube], o: &Cube| ctx.work.afford(l, o);
        let rest = space::subtract_within(&rule.space, &all, FRAGMENT_CAP, afford);
        let rest = rest.unwrap_or_else(|| {
            // All of it leaves the chain, that much is sure; how is not.
            let why = if ctx.work.ran_out() { Gap::Work(rule.id) } else { Gap::Budget(rule.id) };
            gap = gap.or(Some(why));
            rule.space.clone()
        });
        out.push(Piece { space: rest, class: Class::Goto(to) });
    }
    (out, gap)
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
fn decided(ctx: &mut Ctx, id: ChainId) -> Rc<Decided> {
    let Some(memo) = ctx.decided.get(id.0 as usize) else { return Default::default() };
    match memo {
        Memo::Done(d) => return d.clone(),
        Memo::InProgress => return Rc::new(Decided { parts: vec![], gap: Some(Gap::Loop) }),
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
        let out_of_work = || Decided { parts: vec![], gap: Some(Gap::Work(rule.id)) };
        let hulls: Vec<Hull> = rule.space.iter().map(Hull::of).collect();
        let ids = ended.query(&hulls, usize::MAX);
        if ctx.work.take(ids.len() * hulls.len()).is_none() {
            d = out_of_work();
            break;
        }
        let near: Space = ids
            .into_iter()
            .map(|i| i as usize)
            .filter(|&i| hulls.iter().any(|h| h.meets(&ended.hulls[i])))
            .map(|i| Cube::clone(&ended.all[i].cube))
            .collect();
        let afford = &mut |l: &[Cube], o: &Cube| ctx.work.afford(l, o);
        let Some(fresh) = space::subtract_within(&rule.space, &near, FRAGMENT_CAP, afford) else {
            d = if ctx.work.ran_out() {
                out_of_work()
            } else {
                Decided { parts: vec![], gap: Some(Gap::Budget(rule.id)) }
            };
            break;
        };
        let cost: usize = pieces.iter().map(|p| cost_all(&p.space, &fresh)).sum();
        if ctx.work.take(cost).is_none() {
            d = out_of_work();
            break;
        }
        for piece in pieces {
            if is_final(piece.class) && !limited(rule) {
                let part = space::intersect(&piece.space, &fresh);
                ctx.held += part.len();
                d.parts.push(Piece { space: part, class: piece.class });
            }
            for cube in piece.space {
                ended.push(Entry::new(rule.id.index, piece.class, cube));
            }
        }
    }
    d.parts.retain(|p| !p.space.is_empty());
    if let Some(last) = chain.rules.last().filter(|_| ctx.held > MAX_HELD) {
        // Kept for the whole table, these would grow with the square of a
        // row of chains that each jump to the next (their decided packets
        // hold those of every chain below): past the cap, this chain's are
        // not kept, and it counts as deciding nothing.
        d = Decided { parts: vec![], gap: Some(Gap::Work(last.id)) };
    }
    let d = Rc::new(d);
    ctx.decided[id.0 as usize] = Memo::Done(d.clone());
    d
}
