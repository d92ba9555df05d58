//! The semantic diff: which packets a change treats differently, computed
//! exactly with the match-space algebra.
//!
//! For each hook that either version hooks into, both versions partition
//! the whole packet space by fate ([`fate::hook_fates`]); where a piece of
//! the old partition meets a piece of the new one and their fates differ,
//! those packets change fate. A fate is the verdict and the translations
//! applied on the way (a dropped packet's translations do not matter), with
//! a `limit` kept as a fork: "accept while under 3/minute, else drop". What
//! is counted or logged is compared on its own and is not a traffic change.
//!
//! Pure: it reads two [`Policy`]s and returns data; `diff::report` words it.

use std::collections::{BTreeMap, HashSet};

use crate::ir::{Action, BaseChain, ChainId, Hook, Nat, Policy, Verdict};
use crate::space::{Cube, Family, Intervals, PORT_MAX};

pub mod fate;
mod words;

pub use fate::{Decider, End, GaveUp, Rate, Tree};
pub use words::cube_lines;

use fate::{Path, Pieces};

/// What a change does to traffic and to what is counted or logged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SemanticDiff {
    /// The two versions say the same rules in the same order: only
    /// comments, layout or places differ, and there is no semantic part.
    pub same_rules: bool,
    /// Chains (`table/chain`) that hold the same rules in another order.
    pub reordered: Vec<String>,
    /// One entry per hook either version has a base chain on, in hook order.
    pub hooks: Vec<HookDiff>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HookDiff {
    pub hook: Hook,
    /// The base chains on the hook in each version, `table/chain`, in the
    /// order packets meet them.
    pub old_chains: Vec<String>,
    pub new_chains: Vec<String>,
    /// `Err` when the evaluation ran out of budget: nothing is claimed.
    pub changes: Result<Changes, GaveUp>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Changes {
    /// Packets whose fate changes.
    pub traffic: Vec<Class<Fate>>,
    /// Packets counted or logged differently.
    pub observed: Vec<Class<Vec<String>>>,
}

/// Packets that all go from one fate to another, for the same reasons.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Class<T> {
    /// Disjoint, merged as far as they go; see [`cube_lines`].
    pub cubes: Vec<Cube>,
    pub old: Side<T>,
    pub new: Side<T>,
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Side<T> {
    pub fate: Tree<T>,
    /// The rules (or chain policies) responsible, in the order met.
    pub by: Vec<Decider>,
}

/// A verdict and the translations that came with it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Fate {
    pub end: End,
    /// `dnat to 10.0.0.1:80`; empty unless accepted.
    pub nats: Vec<String>,
}

impl SemanticDiff {
    /// Whether any packet's fate changes, or the diff could not tell.
    pub fn changes_traffic(&self) -> bool {
        self.hooks.iter().any(|h| h.changes.as_ref().map_or(true, |c| !c.traffic.is_empty()))
    }

    pub fn traffic_classes(&self) -> usize {
        self.hooks.iter().filter_map(|h| h.changes.as_ref().ok()).map(|c| c.traffic.len()).sum()
    }

    pub fn observed_classes(&self) -> usize {
        self.hooks.iter().filter_map(|h| h.changes.as_ref().ok()).map(|c| c.observed.len()).sum()
    }
}

/// Compare what `old` and `new` do to every packet.
pub fn semantic_diff(old: &Policy, new: &Policy) -> SemanticDiff {
    let (old_rules, new_rules) = (rule_keys(old), rule_keys(new));
    if old_rules == new_rules {
        return SemanticDiff { same_rules: true, reordered: Vec::new(), hooks: Vec::new() };
    }
    let mut reordered = Vec::new();
    for (name, rules) in &old_rules {
        let Some(theirs) = new_rules.get(name) else { continue };
        if rules.1 != theirs.1 && sorted(&rules.1) == sorted(&theirs.1) {
            reordered.push(name.clone());
        }
    }
    let hooks = Hook::ALL
        .into_iter()
        .filter_map(|hook| {
            let (old_chains, new_chains) = (base_chains(old, hook), base_chains(new, hook));
            if old_chains.is_empty() && new_chains.is_empty() {
                return None;
            }
            let changes = compare(old, new, hook);
            Some(HookDiff { hook, old_chains, new_chains, changes })
        })
        .collect();
    SemanticDiff { same_rules: false, reordered, hooks }
}

fn compare(old: &Policy, new: &Policy, hook: Hook) -> Result<Changes, GaveUp> {
    compare_pieces(&fate::hook_fates(old, hook)?, &fate::hook_fates(new, hook)?)
}

fn compare_pieces(old_pieces: &Pieces, new_pieces: &Pieces) -> Result<Changes, GaveUp> {
    let (old_views, new_views) = (views(old_pieces), views(new_pieces));
    // A cube that is a piece of both partitions, with the same fates, holds
    // packets that keep theirs; the partitions being disjoint, no other
    // piece meets it. Most pieces are such when a change is small.
    let same: HashSet<(&Cube, &View)> = old_pieces.iter().map(|(c, _)| c).zip(&old_views).collect();
    let kept: HashSet<(&Cube, &View)> = new_pieces
        .iter()
        .map(|(c, _)| c)
        .zip(&new_views)
        .filter(|piece| same.contains(piece))
        .collect();
    let old_left: Vec<(&Cube, &View)> =
        old_pieces.iter().map(|(c, _)| c).zip(&old_views).filter(|p| !kept.contains(p)).collect();
    let new_left: Vec<(&Cube, &View)> =
        new_pieces.iter().map(|(c, _)| c).zip(&new_views).filter(|p| !kept.contains(p)).collect();
    let mut traffic = Classes::default();
    let mut observed = Classes::default();
    let a_cubes: Vec<&Cube> = old_left.iter().map(|p| p.0).collect();
    let b_cubes: Vec<&Cube> = new_left.iter().map(|p| p.0).collect();
    for (i, j) in candidates(&a_cubes, &b_cubes)? {
        let ((a, (ta, oa)), (b, (tb, ob))) = (old_left[i], new_left[j]);
        if (ta.fate == tb.fate && oa.fate == ob.fate) || !a.intersects(b) {
            continue;
        }
        let meet = a.intersect(b);
        if ta.fate != tb.fate {
            traffic.add((ta.clone(), tb.clone()), meet.clone());
        }
        if oa.fate != ob.fate {
            observed.add((oa.clone(), ob.clone()), meet);
        }
    }
    Ok(Changes { traffic: traffic.finish(), observed: observed.finish() })
}

/// Past this many pairs of pieces for one hook, the comparison stops.
const PAIR_BUDGET: usize = 50_000_000;

/// The pairs `(i, j)` of cubes from `a` and `b` whose bounds meet in one
/// field (an address or port, whichever holds the most narrow bounds), in
/// the order of `a`, then `b`: a sweep over that field instead of every
/// pair, so a large partition with a small change stays near linear. Pairs
/// that meet only in bounds are left for the caller's exact test.
fn candidates(a: &[&Cube], b: &[&Cube]) -> Result<Vec<(usize, usize)>, GaveUp> {
    type Field = fn(&Cube) -> (&Option<Intervals>, u128);
    let fields: [Field; 4] = [
        |c| (&c.saddr, c.family.single().map_or(u128::MAX, Family::max_addr)),
        |c| (&c.daddr, c.family.single().map_or(u128::MAX, Family::max_addr)),
        |c| (&c.sport, PORT_MAX),
        |c| (&c.dport, PORT_MAX),
    ];
    let bounds_in = |field: &Field, c: &Cube| match field(c).0.as_ref().map(|s| s.ranges()) {
        Some([first, .., last]) => (first.0, last.1),
        Some([only]) => *only,
        _ => (0, u128::MAX),
    };
    // A bound is narrow within a sixteenth of its field's whole range.
    let narrow = |field: &Field| {
        let narrow_in = |c: &Cube| {
            let (lo, hi) = bounds_in(field, c);
            hi - lo <= field(c).1 / 16
        };
        a.iter().chain(b).filter(|c| narrow_in(c)).count()
    };
    let field = fields.iter().max_by_key(|f| narrow(f)).expect("four fields");
    let bounds = |c: &Cube| bounds_in(field, c);
    // Events by lower bound; each meets the other side's cubes still open.
    let mut events: Vec<(u128, u128, bool, usize)> = Vec::with_capacity(a.len() + b.len());
    events.extend(a.iter().enumerate().map(|(i, c)| (bounds(c).0, bounds(c).1, false, i)));
    events.extend(b.iter().enumerate().map(|(j, c)| (bounds(c).0, bounds(c).1, true, j)));
    events.sort_unstable();
    // The cubes still open on each side, by upper bound and index.
    let mut open_a: Vec<(u128, usize)> = Vec::new();
    let mut open_b: Vec<(u128, usize)> = Vec::new();
    let mut pairs = Vec::new();
    for (lo, hi, in_b, k) in events {
        open_a.retain(|o| o.0 >= lo);
        open_b.retain(|o| o.0 >= lo);
        if in_b {
            pairs.extend(open_a.iter().map(|&(_, i)| (i, k)));
            open_b.push((hi, k));
        } else {
            pairs.extend(open_b.iter().map(|&(_, j)| (k, j)));
            open_a.push((hi, k));
        }
        if pairs.len() > PAIR_BUDGET {
            return Err(GaveUp::TooLarge);
        }
    }
    pairs.sort_unstable();
    Ok(pairs)
}

/// A piece's fate seen two ways: traffic, and what is counted or logged.
type View = (Side<Fate>, Side<Vec<String>>);

fn views(pieces: &Pieces) -> Vec<View> {
    pieces
        .iter()
        .map(|(_, tree)| {
            let traffic = tree.map(&|p: &Path| Fate {
                end: p.end,
                nats: if p.end == End::Accept {
                    p.nats.iter().map(|n| n.text.clone()).collect()
                } else {
                    Vec::new()
                },
            });
            let observed = tree.map(&|p: &Path| p.events.iter().map(|e| e.text.clone()).collect());
            let leaves = tree.leaves();
            let mut by_traffic = Vec::new();
            let mut by_observed = Vec::new();
            for p in &leaves {
                let accepted = p.end == End::Accept;
                let nat_rules = p.nats.iter().filter(|_| accepted).map(|n| Decider::Rule(n.rule));
                push_new(&mut by_traffic, nat_rules.chain(p.by));
                push_new(&mut by_observed, p.events.iter().map(|e| Decider::Rule(e.rule)));
            }
            (Side { fate: traffic, by: by_traffic }, Side { fate: observed, by: by_observed })
        })
        .collect()
}

fn push_new(into: &mut Vec<Decider>, items: impl Iterator<Item = Decider>) {
    for d in items {
        if !into.contains(&d) {
            into.push(d);
        }
    }
}

/// Classes in the order their first packets were met.
struct Classes<T> {
    index: BTreeMap<(Side<T>, Side<T>), usize>,
    list: Vec<(Side<T>, Side<T>, Vec<Cube>)>,
}

impl<T> Default for Classes<T> {
    fn default() -> Self {
        Classes { index: BTreeMap::new(), list: Vec::new() }
    }
}

impl<T: Clone + Ord> Classes<T> {
    fn add(&mut self, key: (Side<T>, Side<T>), cube: Cube) {
        match self.index.get(&key) {
            Some(&i) => self.list[i].2.push(cube),
            None => {
                self.index.insert(key.clone(), self.list.len());
                self.list.push((key.0, key.1, vec![cube]));
            }
        }
    }

    fn finish(self) -> Vec<Class<T>> {
        self.list
            .into_iter()
            .map(|(old, new, cubes)| Class { cubes: words::merge(cubes), old, new })
            .collect()
    }
}

/// `table/chain` of each base chain on `hook`, in the order packets meet them.
pub fn base_chains(policy: &Policy, hook: Hook) -> Vec<String> {
    policy
        .bases(hook)
        .into_iter()
        .map(|(t, c)| format!("{}/{}", policy.tables[t as usize].name, policy.chain(t, c).name))
        .collect()
}

/// A chain's header and rules, without places: what it means.
type ChainKey = (Option<BaseChainKey>, Vec<RuleKey>);
type BaseChainKey = (&'static str, &'static str, i32, bool);
type RuleKey = (Vec<Cube>, Vec<String>, Option<String>);

fn sorted(rules: &[RuleKey]) -> Vec<RuleKey> {
    let mut v = rules.to_vec();
    v.sort();
    v
}

/// Every chain of the policy by `table/chain`, as [`ChainKey`]s.
fn rule_keys(policy: &Policy) -> BTreeMap<String, ChainKey> {
    let mut out = BTreeMap::new();
    for table in &policy.tables {
        let chain_name = |c: ChainId| table.chains[c.0 as usize].name.clone();
        for chain in &table.chains {
            let rules = chain
                .rules
                .iter()
                .map(|r| {
                    let actions = r.actions.iter().map(action_key).collect();
                    let verdict = r.verdict.map(|v| match v {
                        Verdict::Jump(c) => format!("jump {}", chain_name(c)),
                        Verdict::Goto(c) => format!("goto {}", chain_name(c)),
                        v => format!("{v:?}"),
                    });
                    (r.space.clone(), actions, verdict)
                })
                .collect();
            let base = chain.base.map(|b: BaseChain| {
                (
                    b.hook.keyword(),
                    b.kind.keyword(),
                    b.priority,
                    b.policy == crate::ir::ChainPolicy::Drop,
                )
            });
            out.insert(format!("{}/{}", table.name, chain.name), (base, rules));
        }
    }
    out
}

/// A statement without its place.
fn action_key(a: &Action) -> String {
    match a {
        Action::Nat(Nat::Dnat { backends, balance }) => {
            let b: Vec<String> =
                backends.iter().map(|b| format!("{}:{:?}*{}", b.addr, b.port, b.weight)).collect();
            format!("dnat {} {balance:?}", b.join(","))
        }
        a => format!("{a:?}"),
    }
}
