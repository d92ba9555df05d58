//! The structural diff: what to add, remove, change or move to turn one
//! nft ruleset (the live tables, or an old compile) into another.
//!
//! Tables, counters, sets and chains are matched by name. Set elements are
//! matched by their canonical key and data. Rules are matched within a
//! chain by their canonical encoding ([`crate::identity`]), never by kernel
//! handle or by position: the longest common subsequence of the two chains
//! stays untouched, so inserting one rule is one addition, not a change to
//! every rule after it. Of what is left, a rule found on both sides has
//! *moved*; a removed and an added rule in the same gap between unchanged
//! rules are one *change* (shown with its before and after); the rest are
//! additions and removals.
//!
//! The common subsequence is found in O(n log n): the common prefix and
//! suffix are set aside, the k-th occurrence of a rule on one side is paired
//! with its k-th occurrence on the other, and the longest run of pairs in
//! order on both sides is kept. With duplicate rules in a chain this may
//! keep fewer rules than the longest possible, never a wrong one.
//!
//! [`render`] prints a [`Delta`] as text (terraform-like) and as JSON.

use std::collections::HashMap;

use crate::identity::{canonical, set_shape};
use crate::nft::{self, Expr, Rhs};

mod elements;
pub mod render;

use elements::elements;

/// What happens to one object.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    Add,
    Remove,
    /// Present on both sides, different: a rule or element replaced, a
    /// chain's header, or a set made again with another type.
    Change,
    /// A rule present on both sides at another place among the others.
    Move,
}

impl Action {
    pub fn keyword(self) -> &'static str {
        match self {
            Action::Add => "add",
            Action::Remove => "remove",
            Action::Change => "change",
            Action::Move => "move",
        }
    }
}

/// Everything that differs, table by table, in the order of the new
/// ruleset (tables only on the old side last).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Delta {
    pub tables: Vec<TableDelta>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableDelta {
    pub name: String,
    /// The table's index in the old and the new ruleset, where it is.
    pub old: Option<usize>,
    pub new: Option<usize>,
    pub counters: Vec<CounterEdit>,
    pub sets: Vec<SetDelta>,
    pub chains: Vec<ChainDelta>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CounterEdit {
    pub name: String,
    /// [`Action::Add`] or [`Action::Remove`].
    pub action: Action,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SetDelta {
    pub name: String,
    pub old: Option<usize>,
    pub new: Option<usize>,
    /// `Some(Add)`, `Some(Remove)`, `Some(Change)` when its type changed
    /// and it is made again, `None` when only elements differ.
    pub action: Option<Action>,
    /// Element edits of a set kept as it is.
    pub elements: Vec<Edit>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainDelta {
    pub name: String,
    pub old: Option<usize>,
    pub new: Option<usize>,
    /// `Some(Add)`, `Some(Remove)`, `Some(Change)` when its hook, type,
    /// priority or policy changed, `None` when only rules differ.
    pub action: Option<Action>,
    /// Rule edits, in chain order. For an added or removed chain, each of
    /// its rules.
    pub rules: Vec<Edit>,
    /// Rules untouched: (old index, new index), in order.
    pub kept: Vec<(usize, usize)>,
}

impl ChainDelta {
    /// Whether only the base chain's policy differs, which the kernel can
    /// change in place.
    pub fn policy_only(&self, old: &nft::Chain, new: &nft::Chain) -> bool {
        match (old.base, new.base) {
            (Some(a), Some(b)) => a.hook == b.hook && a.kind == b.kind && a.priority == b.priority,
            _ => false,
        }
    }
}

/// One rule or element edit: indices into the old and new chain or set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Edit {
    pub action: Action,
    pub old: Option<usize>,
    pub new: Option<usize>,
}

impl Delta {
    pub fn is_empty(&self) -> bool {
        self.tables.iter().all(TableDelta::is_empty)
    }
}

impl TableDelta {
    pub fn is_empty(&self) -> bool {
        self.old.is_some() == self.new.is_some()
            && self.counters.is_empty()
            && self.sets.is_empty()
            && self.chains.is_empty()
    }

    /// The sets named in `names`, which stay with only their elements
    /// changed, made again instead (every element new), and every rule of
    /// `new` that uses one of them replaced with it, as [`diff`] has it for
    /// a set whose type changed. `old` and `new` are the two sides of this
    /// delta's table.
    pub fn remake_sets(&mut self, old: &nft::Table, new: &nft::Table, names: &[&str]) {
        for sd in self.sets.iter_mut().filter(|s| names.contains(&s.name.as_str())) {
            if sd.action.is_none() {
                sd.action = Some(Action::Change);
                sd.elements.clear();
            }
        }
        for (nj, c) in new.chains.iter().enumerate() {
            match self.chains.iter_mut().find(|cd| cd.new == Some(nj)) {
                Some(cd) if cd.old.is_some() => replace_uses(cd, c, names),
                Some(_) => {}
                None => {
                    if !c.rules.iter().any(|r| uses_any(r, names)) {
                        continue;
                    }
                    // No delta: the chain is the same on both sides.
                    let Some(oi) = old.chains.iter().position(|o| o.name == c.name) else {
                        continue;
                    };
                    let mut cd = ChainDelta {
                        name: c.name.clone(),
                        old: Some(oi),
                        new: Some(nj),
                        action: None,
                        rules: Vec::new(),
                        kept: (0..c.rules.len()).map(|i| (i, i)).collect(),
                    };
                    replace_uses(&mut cd, c, names);
                    // In the order of the new chains, as `diff` has them.
                    let at = self.chains.iter().position(|d| d.new.is_none_or(|j| j > nj));
                    self.chains.insert(at.unwrap_or(self.chains.len()), cd);
                }
            }
        }
    }
}

/// The kept rules of `cd` that use one of `sets` replaced: the kernel will
/// not delete a set a rule still uses. `new` is its chain on the new side.
fn replace_uses(cd: &mut ChainDelta, new: &nft::Chain, sets: &[&str]) {
    let rules = &mut cd.rules;
    cd.kept.retain(|&(a, b)| {
        let uses = uses_any(&new.rules[b], sets);
        if uses {
            rules.push(Edit { action: Action::Change, old: Some(a), new: Some(b) });
        }
        !uses
    });
    sort_edits(rules, &cd.kept);
}

/// The delta that turns `old` into `new`.
pub fn diff(old: &nft::Ruleset, new: &nft::Ruleset) -> Delta {
    let mut tables = Vec::new();
    for (ni, t) in new.tables.iter().enumerate() {
        let oi = old.tables.iter().position(|o| o.name == t.name);
        tables.push(table(oi.map(|i| &old.tables[i]), Some(t), &t.name, oi, Some(ni)));
    }
    for (oi, t) in old.tables.iter().enumerate() {
        if !new.tables.iter().any(|n| n.name == t.name) {
            tables.push(table(Some(t), None, &t.name, Some(oi), None));
        }
    }
    tables.retain(|t| !t.is_empty());
    Delta { tables }
}

fn table(
    old: Option<&nft::Table>,
    new: Option<&nft::Table>,
    name: &str,
    oi: Option<usize>,
    ni: Option<usize>,
) -> TableDelta {
    let empty = nft::Table { name: name.into(), sets: vec![], counters: vec![], chains: vec![] };
    let (o, n) = (old.unwrap_or(&empty), new.unwrap_or(&empty));
    let mut counters = Vec::new();
    for c in &n.counters {
        if !o.counters.contains(c) {
            counters.push(CounterEdit { name: c.clone(), action: Action::Add });
        }
    }
    for c in &o.counters {
        if !n.counters.contains(c) {
            counters.push(CounterEdit { name: c.clone(), action: Action::Remove });
        }
    }
    let sets = sets(o, n);
    let remade: Vec<&str> =
        sets.iter().filter(|s| s.action == Some(Action::Change)).map(|s| s.name.as_str()).collect();
    let mut chains = Vec::new();
    for (ni, c) in n.chains.iter().enumerate() {
        let oi = o.chains.iter().position(|x| x.name == c.name);
        if let Some(d) = chain(oi.map(|i| (i, &o.chains[i])), Some((ni, c)), &remade) {
            chains.push(d);
        }
    }
    for (oi, c) in o.chains.iter().enumerate() {
        if !n.chains.iter().any(|x| x.name == c.name) {
            chains.extend(chain(Some((oi, c)), None, &remade));
        }
    }
    TableDelta { name: name.into(), old: oi, new: ni, counters, sets, chains }
}

fn sets(o: &nft::Table, n: &nft::Table) -> Vec<SetDelta> {
    let mut out = Vec::new();
    for (ni, s) in n.sets.iter().enumerate() {
        let Some(oi) = o.sets.iter().position(|x| x.name == s.name) else {
            out.push(SetDelta {
                name: s.name.clone(),
                old: None,
                new: Some(ni),
                action: Some(Action::Add),
                elements: vec![],
            });
            continue;
        };
        let os = &o.sets[oi];
        if set_shape(os) != set_shape(s) {
            out.push(SetDelta {
                name: s.name.clone(),
                old: Some(oi),
                new: Some(ni),
                action: Some(Action::Change),
                elements: vec![],
            });
            continue;
        }
        let elements = elements(os, s);
        if !elements.is_empty() {
            out.push(SetDelta {
                name: s.name.clone(),
                old: Some(oi),
                new: Some(ni),
                action: None,
                elements,
            });
        }
    }
    for (oi, s) in o.sets.iter().enumerate() {
        if !n.sets.iter().any(|x| x.name == s.name) {
            out.push(SetDelta {
                name: s.name.clone(),
                old: Some(oi),
                new: None,
                action: Some(Action::Remove),
                elements: vec![],
            });
        }
    }
    out
}

fn chain(
    old: Option<(usize, &nft::Chain)>,
    new: Option<(usize, &nft::Chain)>,
    remade_sets: &[&str],
) -> Option<ChainDelta> {
    match (old, new) {
        (None, Some((ni, n))) => Some(ChainDelta {
            name: n.name.clone(),
            old: None,
            new: Some(ni),
            action: Some(Action::Add),
            rules: (0..n.rules.len())
                .map(|i| Edit { action: Action::Add, old: None, new: Some(i) })
                .collect(),
            kept: vec![],
        }),
        (Some((oi, o)), None) => Some(ChainDelta {
            name: o.name.clone(),
            old: Some(oi),
            new: None,
            action: Some(Action::Remove),
            rules: (0..o.rules.len())
                .map(|i| Edit { action: Action::Remove, old: Some(i), new: None })
                .collect(),
            kept: vec![],
        }),
        (Some((oi, o)), Some((ni, n))) => {
            let (rules, kept) = rules(&o.rules, &n.rules);
            let action = (o.base != n.base).then_some(Action::Change);
            let mut cd = ChainDelta {
                name: n.name.clone(),
                old: Some(oi),
                new: Some(ni),
                action,
                rules,
                kept,
            };
            // A rule that uses a set made again goes with it.
            replace_uses(&mut cd, n, remade_sets);
            (cd.action.is_some() || !cd.rules.is_empty()).then_some(cd)
        }
        (None, None) => None,
    }
}

/// Chain order: each edit at its place in the new chain, a removal just
/// after the kept rule it followed, before what was added there.
fn sort_edits(edits: &mut [Edit], kept: &[(usize, usize)]) {
    let slot = |e: &Edit| match (e.old, e.new) {
        (_, Some(j)) => (j, 1),
        (Some(i), None) => {
            let before = kept.partition_point(|&(a, _)| a < i);
            (before.checked_sub(1).map_or(0, |k| kept[k].1 + 1), 0)
        }
        (None, None) => (usize::MAX, 0),
    };
    edits.sort_by_key(|e| (slot(e), e.old));
}

fn uses_any(rule: &nft::Rule, sets: &[&str]) -> bool {
    !sets.is_empty()
        && rule.exprs.iter().any(|e| match e {
            Expr::Match { rhs: Rhs::Named(name), .. } | Expr::Vmap { map: name, .. } => {
                sets.contains(&name.as_str())
            }
            _ => false,
        })
}

/// Rule edits and kept pairs between two chains.
fn rules(old: &[nft::Rule], new: &[nft::Rule]) -> (Vec<Edit>, Vec<(usize, usize)>) {
    let (ok, nk) = rayon::join(|| keys(old), || keys(new));
    let kept = common_subsequence(&ok, &nk);

    let mut old_kept = vec![false; old.len()];
    let mut new_kept = vec![false; new.len()];
    for &(a, b) in &kept {
        old_kept[a] = true;
        new_kept[b] = true;
    }
    // Moves: a rule left over on both sides.
    let mut left_old: HashMap<&[u8], Vec<usize>> = HashMap::new();
    for (i, k) in ok.iter().enumerate().rev() {
        if !old_kept[i] {
            left_old.entry(k).or_default().push(i);
        }
    }
    let mut edits = Vec::new();
    let mut old_used = old_kept.clone();
    let mut new_used = new_kept.clone();
    for (j, k) in nk.iter().enumerate() {
        if new_kept[j] {
            continue;
        }
        if let Some(i) = left_old.get_mut(k.as_slice()).and_then(Vec::pop) {
            old_used[i] = true;
            new_used[j] = true;
            edits.push(Edit { action: Action::Move, old: Some(i), new: Some(j) });
        }
    }
    // Within each gap between kept rules, pair removals with additions.
    let mut anchors: Vec<(usize, usize)> = vec![(0, 0)];
    anchors.extend(kept.iter().map(|&(a, b)| (a + 1, b + 1)));
    let mut bounds: Vec<((usize, usize), (usize, usize))> = Vec::new();
    for (k, &start) in anchors.iter().enumerate() {
        let end = kept.get(k).copied().unwrap_or((old.len(), new.len()));
        bounds.push((start, end));
    }
    for ((os, ns), (oe, ne)) in bounds {
        let gone: Vec<usize> = (os..oe).filter(|&i| !old_used[i]).collect();
        let came: Vec<usize> = (ns..ne).filter(|&j| !new_used[j]).collect();
        let both = gone.len().min(came.len());
        for k in 0..both {
            edits.push(Edit { action: Action::Change, old: Some(gone[k]), new: Some(came[k]) });
        }
        for &i in &gone[both..] {
            edits.push(Edit { action: Action::Remove, old: Some(i), new: None });
        }
        for &j in &came[both..] {
            edits.push(Edit { action: Action::Add, old: None, new: Some(j) });
        }
    }
    (edits, kept)
}

/// Each rule's canonical encoding, in order: on every core for a long
/// chain (a one-rule change to a chain of 100,000 rules encodes 200,000
/// rules, most of its plan's time).
fn keys(rules: &[nft::Rule]) -> Vec<Vec<u8>> {
    use rayon::prelude::*;
    // A task per 4,096 rules: a short chain stays on the calling thread.
    rules.par_iter().with_min_len(4096).map(|r| canonical(&r.exprs)).collect()
}

/// A long common subsequence of `a` and `b` as index pairs, in order (see
/// the module docs for how long).
fn common_subsequence<T: Eq + std::hash::Hash>(a: &[T], b: &[T]) -> Vec<(usize, usize)> {
    let prefix = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    let suffix =
        a[prefix..].iter().rev().zip(b[prefix..].iter().rev()).take_while(|(x, y)| x == y).count();
    let (am, bm) = (&a[prefix..a.len() - suffix], &b[prefix..b.len() - suffix]);
    let mut pairs: Vec<(usize, usize)> = (0..prefix).map(|i| (i, i)).collect();

    // The k-th occurrence in `am` pairs with the k-th in `bm`.
    let mut seen: HashMap<&T, Vec<usize>> = HashMap::new();
    for (i, x) in am.iter().enumerate().rev() {
        seen.entry(x).or_default().push(i);
    }
    let candidates: Vec<(usize, usize)> = bm
        .iter()
        .enumerate()
        .filter_map(|(j, y)| seen.get_mut(y).and_then(Vec::pop).map(|i| (i, j)))
        .collect();
    // Longest run increasing in `i` (candidates already increase in `j`),
    // by patience sorting with back links.
    let mut tails: Vec<usize> = Vec::new();
    let mut back: Vec<Option<usize>> = vec![None; candidates.len()];
    for (c, &(i, _)) in candidates.iter().enumerate() {
        let at = tails.partition_point(|&t| candidates[t].0 < i);
        back[c] = at.checked_sub(1).map(|p| tails[p]);
        if at == tails.len() {
            tails.push(c);
        } else {
            tails[at] = c;
        }
    }
    let mut middle = Vec::new();
    let mut at = tails.last().copied();
    while let Some(c) = at {
        middle.push(candidates[c]);
        at = back[c];
    }
    middle.reverse();
    pairs.extend(middle.into_iter().map(|(i, j)| (i + prefix, j + prefix)));
    let (an, bn) = (a.len(), b.len());
    pairs.extend((0..suffix).rev().map(|k| (an - 1 - k, bn - 1 - k)));
    pairs
}

#[cfg(test)]
mod tests {
    use super::{common_subsequence, rules, Action, Edit};
    use crate::nft::{self, Expr, Verdict};

    fn logged(prefix: &str) -> nft::Rule {
        let log = Expr::Log { prefix: Some(prefix.to_owned()), level: None };
        nft::Rule { exprs: vec![log, Expr::Verdict(Verdict::Accept)], origin: Vec::new() }
    }

    #[test]
    fn a_long_chain_with_one_rule_changed_and_one_moved() {
        // Longer than one task of `keys`: both sides encoded on every core.
        let old: Vec<nft::Rule> = (0..20_000).map(|i| logged(&format!("r{i}"))).collect();
        let mut new = old.clone();
        new[10_000] = logged("changed");
        let moved = new.remove(15_000);
        new.insert(3, moved);
        let (edits, kept) = rules(&old, &new);
        assert_eq!(kept.len(), 19_998);
        assert_eq!(
            edits,
            [
                Edit { action: Action::Move, old: Some(15_000), new: Some(3) },
                Edit { action: Action::Change, old: Some(10_000), new: Some(10_001) },
            ]
        );
    }

    fn map(elements: &[u16]) -> nft::Set {
        let element = |p: &u16| nft::Element {
            key: nft::Elem(vec![nft::Part::Int(u128::from(*p), u128::from(*p))]),
            data: Some(nft::Data::Verdict(Verdict::Accept)),
            origin: Vec::new(),
        };
        nft::Set {
            name: "m".into(),
            key: vec![nft::Selector::ThDport],
            interval: false,
            data: Some(nft::DataType::Verdict),
            elements: elements.iter().map(element).collect(),
            counters: true,
            comment: None,
            dynamic: None,
        }
    }

    fn table(set: nft::Set, chains: Vec<(&str, Vec<nft::Rule>)>) -> nft::Table {
        let chains = chains
            .into_iter()
            .map(|(name, rules)| nft::Chain { name: name.into(), base: None, rules, comment: None })
            .collect();
        nft::Table { name: "t".into(), sets: vec![set], counters: Vec::new(), chains }
    }

    #[test]
    fn a_set_made_again_takes_the_rules_that_use_it_along() {
        let vmap = || nft::Rule {
            exprs: vec![Expr::Vmap { key: vec![nft::Selector::ThDport], map: "m".into() }],
            origin: Vec::new(),
        };
        // Chain `a` gains a rule before the lookup; chain `b` is the same
        // on both sides, and looks the map up too; chain `c` does not.
        let old = table(
            map(&[80, 443]),
            vec![
                ("a", vec![logged("x"), vmap()]),
                ("b", vec![logged("y"), vmap(), logged("z")]),
                ("c", vec![logged("w")]),
            ],
        );
        let new = table(
            map(&[80, 443, 8080]),
            vec![
                ("a", vec![logged("x"), logged("new"), vmap()]),
                ("b", vec![logged("y"), vmap(), logged("z")]),
                ("c", vec![logged("w")]),
            ],
        );
        let delta = super::diff(
            &nft::Ruleset { tables: vec![old.clone()] },
            &nft::Ruleset { tables: vec![new.clone()] },
        );
        let mut td = delta.tables[0].clone();
        assert_eq!(td.sets[0].action, None);
        assert_eq!(td.sets[0].elements.len(), 1);
        assert_eq!(td.chains.len(), 1);
        td.remake_sets(&old, &new, &["m"]);
        assert_eq!(td.sets[0].action, Some(Action::Change));
        assert!(td.sets[0].elements.is_empty());
        let names: Vec<&str> = td.chains.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["a", "b"]);
        let change = |o, n| Edit { action: Action::Change, old: Some(o), new: Some(n) };
        let add = Edit { action: Action::Add, old: None, new: Some(1) };
        assert_eq!(td.chains[0].rules, [add, change(1, 2)]);
        assert_eq!(td.chains[0].kept, [(0, 0)]);
        assert_eq!(td.chains[1].rules, [change(1, 1)]);
        assert_eq!(td.chains[1].kept, [(0, 0), (2, 2)]);
        // Made again by `diff` itself (another type), the same edits.
        let mut typed = new.clone();
        typed.sets[0].interval = true;
        let delta =
            super::diff(&nft::Ruleset { tables: vec![old] }, &nft::Ruleset { tables: vec![typed] });
        assert_eq!(delta.tables[0].sets, td.sets);
        assert_eq!(delta.tables[0].chains, td.chains);
    }

    fn lcs(a: &str, b: &str) -> usize {
        let a: Vec<char> = a.chars().collect();
        let b: Vec<char> = b.chars().collect();
        let pairs = common_subsequence(&a, &b);
        for w in pairs.windows(2) {
            assert!(w[0].0 < w[1].0 && w[0].1 < w[1].1, "{pairs:?}");
        }
        for &(i, j) in &pairs {
            assert_eq!(a[i], b[j]);
        }
        pairs.len()
    }

    #[test]
    fn common_subsequences() {
        assert_eq!(lcs("abcdef", "abcdef"), 6);
        assert_eq!(lcs("abcdef", "abXcdef"), 6);
        assert_eq!(lcs("abcdef", "abdef"), 5);
        assert_eq!(lcs("abcdef", "fedcba"), 1);
        assert_eq!(lcs("abcdef", "bcdefa"), 5);
        assert_eq!(lcs("", "abc"), 0);
        assert_eq!(lcs("aaa", "aaaa"), 3);
        // Duplicates pair by occurrence: the longest here is 3 (`bab`), the
        // pairing finds 2. Fewer kept rules, never a wrong one.
        assert_eq!(lcs("abab", "baba"), 2);
    }
}
