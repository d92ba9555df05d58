//! Per-rule counts carried over: what the counters a batch deletes held,
//! given to the counters it makes in their place.
//!
//! A rule's count (`stats`) is the sum of its counted kernel objects: the
//! first anonymous `counter` of each nft rule it lowered to, and the
//! counters of the dispatch-map elements it owns; a balanced translation
//! also counts connections per NAT slot, and backends' traffic per element
//! of a backend-counting set. An object that stays keeps its counter and
//! is left alone. One that the batch deletes (a rule replaced or moved, a
//! set made again as another kind, every rule of a table rebuilt or made
//! again) gives its value to a new object of the same source rule, made
//! with it as its starting value (`encode/seed.rs`).
//!
//! Old objects are attributed to source rules by the policy lowered the
//! way the live table was made: the desired ruleset itself, or, when the
//! strategy changes, the same policy lowered with the one the table
//! records (`previous`). Each counted object, old or new, is said as the
//! one nft rule that would count what it counts in its chain ([`Said`]):
//! a rule is itself, a map element the lookup made a match of its key; an
//! old object belongs to the source rule of a new object that says the
//! same. What matches nothing belongs to no rule of the policy any more (a
//! rule changed or removed) and is not carried.
//! For each source rule, a deleted element goes to the new element of the
//! same set and key where there is one, and the rest of what it held
//! goes to the first new counted object of the rule that the batch
//! writes: `stats`, which sums them, shows the rule's count unchanged.
//!
//! The values are those read for the plan, at the generation the batch is
//! guarded by; what the old objects count between that reading and the
//! commit is not carried (docs/json.md, "Counters across applies").

use std::collections::{HashMap, HashSet};

use shriek_compiler::diff::structural::{Action, TableDelta};
use shriek_compiler::identity::{canonical, identity, Identity};
use shriek_compiler::ir::RuleId;
use shriek_compiler::lower::Strategy;
use shriek_compiler::nft::{self, CmpOp, Expr, NatTargetExpr, Rhs, Verdict};

use crate::counters::Count;
use crate::decode::{LiveTable, Owner};
use crate::desired::Desired;
use crate::encode::{key_bytes, Seeds};
use crate::plan::Plan;

/// How the batch changes a table: which of its old objects it deletes.
#[derive(Clone, Copy)]
enum Path<'a> {
    /// Rule by rule: the rules the delta removes, replaces or moves.
    InPlace(&'a TableDelta),
    /// Every rule; the sets the delta makes again or removes, and the
    /// elements it removes or replaces in the sets that stay.
    Rebuilt(Option<&'a TableDelta>),
    /// Everything.
    Remade,
}

/// What the batch for `plan` carries over, for the batch to take as it
/// writes the new objects. `previous` is the policy lowered with the
/// strategy the live tables record, when that is not the desired one.
pub(crate) fn seeds(desired: &Desired, previous: Option<&nft::Ruleset>, plan: &Plan) -> Seeds {
    let mut seeds = Seeds::default();
    for (ni, t) in desired.ruleset.tables.iter().enumerate() {
        let Some(oi) = plan.meta.iter().position(|m| m.table.name == t.name) else { continue };
        let td = plan.delta.tables.iter().find(|d| d.new == Some(ni));
        let path = match plan.whole.iter().find(|w| w.table == t.name) {
            Some(w) if w.remade => Path::Remade,
            Some(_) => Path::Rebuilt(td),
            None => match td {
                Some(td) => Path::InPlace(td),
                None => continue,
            },
        };
        let meta = &plan.meta[oi];
        let recorded = match &meta.owner {
            Owner::Shriek { strategy, .. } => Strategy::from_keyword(strategy),
            Owner::Unmarked => None,
        };
        let reference = match (previous, recorded) {
            (Some(p), Some(s)) if s != desired.strategy => {
                p.tables.iter().find(|r| r.name == t.name).unwrap_or(t)
            }
            _ => t,
        };
        let old = Old { model: &plan.live.tables[oi], meta };
        table(&mut seeds, &old, reference, t, path);
    }
    seeds
}

/// A live table as the plan holds it: its model, and what only the kernel
/// knows (the counters' values).
struct Old<'a> {
    model: &'a nft::Table,
    meta: &'a LiveTable,
}

fn table(seeds: &mut Seeds, old: &Old, reference: &nft::Table, new: &nft::Table, path: Path) {
    let mut owners: Option<HashMap<Said, RuleId>> = None;
    // In place, the reference is the desired table: only what the batch
    // makes of it can take a value.
    let owners_of_reference = || {
        let made = match path {
            Path::InPlace(td) => Some(Made::of(new, td)),
            Path::Rebuilt(_) | Path::Remade => None,
        };
        owners_of(reference, made.as_ref())
    };
    // Rules: the first anonymous counter, and a balanced map's slots.
    for (ci, ri) in deleted_rules(old.model, path) {
        let lr = &old.meta.rules[ci][ri];
        let count = lr.counts.first().copied().unwrap_or_default();
        if count == Count::default() && lr.slots.iter().all(|(_, c)| *c == Count::default()) {
            continue;
        }
        let chain = &old.model.chains[ci];
        let owners = owners.get_or_insert_with(owners_of_reference);
        let said = (chain.name.clone(), identity(&chain.rules[ri]));
        let Some(&rule) = owners.get(&said) else { continue };
        if count != Count::default() {
            *seeds.rules.entry(rule).or_default() += count;
        }
        // The slots, by the backends the same rule of the reference gives them.
        if lr.slots.is_empty() {
            continue;
        }
        let Some(r) = reference
            .chains
            .iter()
            .find(|c| c.name == chain.name)
            .and_then(|c| c.rules.iter().find(|r| identity(r) == said.1))
        else {
            continue;
        };
        for (lo, hi, addr, port) in balanced_slots(r) {
            let mut given = Count::default();
            for (_, c) in lr.slots.iter().filter(|(slot, _)| (lo..=hi).contains(slot)) {
                given += *c;
            }
            if given != Count::default() {
                *seeds.backends.entry((rule, addr, port)).or_default() += given;
            }
        }
    }

    // Elements of counting sets, each as the one rule it stands for.
    let mut exact: Vec<(RuleId, &str, Vec<u8>, Count)> = Vec::new();
    let mut old_lookups = None;
    for (si, elements) in deleted_elements(old.model, path) {
        let set = &old.model.sets[si];
        if !set.counters {
            continue;
        }
        let Some(counts) = old.meta.element_counts.get(&set.name) else { continue };
        let counted: Vec<(&nft::Element, Vec<u8>, Count)> = elements
            .filter_map(|e| {
                let key = key_bytes(&set.key, &e.key, false);
                let c = *counts.get(&key)?;
                (c != Count::default()).then_some((e, key, c))
            })
            .collect();
        if counted.is_empty() {
            continue;
        }
        if set.counts_backends() {
            for (_, key, c) in counted {
                let at = (new.name.clone(), set.name.clone(), key);
                *seeds.traffic.entry(at).or_default() += c;
            }
            continue;
        }
        let owners = owners.get_or_insert_with(owners_of_reference);
        let old_lookups = old_lookups.get_or_insert_with(|| lookups(old.model));
        let old_chains: HashMap<&str, &nft::Chain> =
            old.model.chains.iter().map(|c| (c.name.as_str(), c)).collect();
        let Some((_, chain, lookup)) = old_lookups.iter().find(|(m, ..)| *m == set.name) else {
            continue;
        };
        for (e, key, c) in counted {
            let Some(exprs) = as_rule(&old_chains, lookup, &set.key, &[e]) else { continue };
            if let Some(&rule) = owners.get(&(chain.to_string(), identity_of(&exprs))) {
                exact.push((rule, set.name.as_str(), key, c));
            }
        }
    }
    // An element goes to the new element of its rule, set and key when
    // the desired table has one, else to the rule's first new object.
    let mut wanted: HashMap<&str, HashMap<Vec<u8>, RuleId>> = HashMap::new();
    for (rule, set, key, c) in exact {
        let owners = wanted.entry(set).or_insert_with(|| {
            let s = new.sets.iter().find(|s| s.name == set && s.counters);
            s.map(|s| {
                s.elements
                    .iter()
                    .filter_map(|e| match e.origin.as_slice() {
                        [o] => Some((key_bytes(&s.key, &e.key, false), o.rule)),
                        _ => None,
                    })
                    .collect()
            })
            .unwrap_or_default()
        });
        if owners.get(&key) == Some(&rule) {
            *seeds.elements.entry((rule, set.to_string(), key)).or_default() += c;
        } else {
            *seeds.rules.entry(rule).or_default() += c;
        }
    }
}

/// A counted object as the one nft rule that would count the same
/// packets in its place: its chain, and that rule's identity. A chain
/// rule is itself; a map element is the rule that looks the map up with
/// the lookup made a match of the element's key, then the per-rule
/// counter and the element's verdict, or the statements of the rule's
/// own chain it jumps to. That is how `sequential` lowers a rule of one
/// value or range, so a rule keeps its count across strategies, and when
/// the lowering moves it from a map to a rule of its own and back.
type Said = (String, Identity);

/// The source rule of each counted object of `t` (its policy lowered one
/// way), by what it says; where two say the same, the first's (a packet
/// meets it first). A rule folded into a map as several elements is also
/// said as one rule matching the set of their keys, as `sequential`
/// lowers it.
///
/// With `only`, of those objects alone (the ones a batch makes: only they
/// can take a value, and a one-rule change in a long chain says only what
/// it makes).
fn owners_of(t: &nft::Table, only: Option<&Made>) -> HashMap<Said, RuleId> {
    let mut out = HashMap::new();
    let chains: HashMap<&str, &nft::Chain> =
        t.chains.iter().map(|c| (c.name.as_str(), c)).collect();
    for (ci, c) in t.chains.iter().enumerate() {
        for (ri, r) in c.rules.iter().enumerate() {
            if only.is_some_and(|m| !m.rules.contains(&(ci, ri))) {
                continue;
            }
            if let [o] = r.origin.as_slice() {
                out.entry((c.name.clone(), identity(r))).or_insert(o.rule);
                for exprs in one_by_one(r) {
                    out.entry((c.name.clone(), identity_of(&exprs))).or_insert(o.rule);
                }
            }
        }
    }
    let sets: HashMap<&str, (usize, &nft::Set)> =
        t.sets.iter().enumerate().map(|(si, s)| (s.name.as_str(), (si, s))).collect();
    for (map, chain, lookup) in lookups(t) {
        let Some(&(si, s)) = sets.get(map) else { continue };
        if !s.counters || s.counts_backends() {
            continue;
        }
        // Each rule's elements, by their data, in the order they come.
        let mut order: Vec<RuleId> = Vec::new();
        let mut by_rule: HashMap<RuleId, Vec<Group>> = HashMap::new();
        for (ei, e) in s.elements.iter().enumerate() {
            let [o] = e.origin.as_slice() else { continue };
            if only.is_some_and(|m| !m.elements.contains(&(si, ei))) {
                continue;
            }
            if let Some(exprs) = as_rule(&chains, lookup, &s.key, &[e]) {
                out.entry((chain.to_string(), identity_of(&exprs))).or_insert(o.rule);
            }
            let groups = by_rule.entry(o.rule).or_insert_with(|| {
                order.push(o.rule);
                Vec::new()
            });
            match groups.iter_mut().find(|(d, _)| *d == e.data.as_ref()) {
                Some((_, es)) => es.push(e),
                None => groups.push((e.data.as_ref(), vec![e])),
            }
        }
        for rule in order {
            for (_, es) in by_rule[&rule].iter().filter(|(_, es)| es.len() > 1) {
                if let Some(exprs) = as_rule(&chains, lookup, &s.key, es) {
                    out.entry((chain.to_string(), identity_of(&exprs))).or_insert(rule);
                }
            }
        }
    }
    out
}

/// A rule's elements of one map with the same data.
type Group<'a> = (Option<&'a nft::Data>, Vec<&'a nft::Element>);

/// What a batch makes in a table changed in place, as indices into the
/// desired table: rules (chain, rule) and elements (set, element).
#[derive(Default)]
struct Made {
    rules: HashSet<(usize, usize)>,
    elements: HashSet<(usize, usize)>,
}

impl Made {
    fn of(new: &nft::Table, td: &TableDelta) -> Made {
        let mut made = Made::default();
        for cd in &td.chains {
            let Some(cj) = cd.new else { continue };
            for e in &cd.rules {
                if let (Some(j), Action::Add | Action::Change | Action::Move) = (e.new, e.action) {
                    made.rules.insert((cj, j));
                }
            }
        }
        for sd in &td.sets {
            let Some(sj) = sd.new else { continue };
            match sd.action {
                Some(Action::Add | Action::Change) => {
                    made.elements.extend((0..new.sets[sj].elements.len()).map(|ei| (sj, ei)))
                }
                None => made.elements.extend(sd.elements.iter().filter_map(|e| {
                    matches!(e.action, Action::Add | Action::Change).then_some((sj, e.new?))
                })),
                _ => {}
            }
        }
        made
    }
}

/// A rule matching a set of values or ranges of one field, once per
/// value, and once per run of values that touch: what its map elements
/// say, one by one (see [`Said`]), when a lowering folds it into a map.
fn one_by_one(r: &nft::Rule) -> Vec<Vec<Expr>> {
    let Some((at, key, elems)) = r.exprs.iter().enumerate().find_map(|(i, e)| match e {
        Expr::Match { key, op: CmpOp::Eq, rhs: Rhs::Set(elems) } if key.len() == 1 => {
            Some((i, key, elems))
        }
        _ => None,
    }) else {
        return Vec::new();
    };
    let mut ranges: Vec<(u128, u128)> = Vec::new();
    for e in elems {
        match e.0.as_slice() {
            [nft::Part::Int(lo, hi)] => ranges.push((*lo, *hi)),
            _ => return Vec::new(),
        }
    }
    ranges.sort_unstable();
    let mut runs: Vec<(u128, u128)> = Vec::new();
    for &(lo, hi) in &ranges {
        match runs.last_mut() {
            Some(last) if last.1.checked_add(1).is_some_and(|next| next >= lo) => {
                last.1 = last.1.max(hi)
            }
            _ => runs.push((lo, hi)),
        }
    }
    ranges.extend(runs);
    ranges.dedup();
    ranges
        .into_iter()
        .map(|(lo, hi)| {
            let mut exprs = r.exprs.clone();
            let rhs = Rhs::Value(nft::Elem(vec![nft::Part::Int(lo, hi)]));
            exprs[at] = Expr::Match { key: key.clone(), op: CmpOp::Eq, rhs };
            exprs
        })
        .collect()
}

fn identity_of(exprs: &[Expr]) -> Identity {
    Identity(shriek_compiler::identity::fnv1a64(&canonical(exprs)))
}

/// The rule that would count what `elements` of a map with key `key`,
/// looked up by `lookup`, count (see [`Said`]); `None` for data that is
/// not a verdict.
fn as_rule(
    chains: &HashMap<&str, &nft::Chain>,
    lookup: &nft::Rule,
    key: &[nft::Selector],
    elements: &[&nft::Element],
) -> Option<Vec<Expr>> {
    let first = elements.first()?;
    let nft::Data::Verdict(verdict) = first.data.as_ref()? else { return None };
    let rhs = match elements {
        [e] => Rhs::Value(e.key.clone()),
        es => Rhs::Set(es.iter().map(|e| e.key.clone()).collect()),
    };
    let mut exprs = Vec::with_capacity(lookup.exprs.len() + 3);
    for e in &lookup.exprs {
        match e {
            Expr::Vmap { .. } => {
                exprs.extend(field_by_field(key, &rhs));
                exprs.push(Expr::Counter(None));
            }
            e => exprs.push(e.clone()),
        }
    }
    // A rule with statements jumps to a chain of its own holding them.
    let own = match verdict {
        Verdict::Jump(c) => chains.get(c.as_str()).copied().filter(|x| {
            x.rules.len() == 1
                && x.comment.as_deref().is_some_and(|m| m.starts_with("statements of a rule"))
        }),
        _ => None,
    };
    match own {
        Some(c) => exprs.extend(c.rules[0].exprs.iter().cloned()),
        None => exprs.push(Expr::Verdict(verdict.clone())),
    }
    Some(exprs)
}

/// The match of a map's key against `rhs`, one field at a time where all
/// elements but one field agree: a `meta l4proto . th dport` element
/// (tcp . 22) says `meta l4proto tcp th dport 22`, as a per-protocol map's
/// element and a rule of its own say it, so a count follows the rule when
/// a lowering merges the protocols' maps or parts them.
fn field_by_field(key: &[nft::Selector], rhs: &Rhs) -> Vec<Expr> {
    let whole = || vec![Expr::Match { key: key.to_vec(), op: CmpOp::Eq, rhs: rhs.clone() }];
    let elems: Vec<&nft::Elem> = match rhs {
        Rhs::Value(e) => vec![e],
        Rhs::Set(es) => es.iter().collect(),
        _ => return whole(),
    };
    let Some(first) = elems.first() else { return whole() };
    if key.len() < 2 || elems.iter().any(|e| e.0.len() != key.len()) {
        return whole();
    }
    let varies = |i: usize| elems.iter().any(|e| e.0[i] != first.0[i]);
    if (0..key.len()).filter(|&i| varies(i)).count() > 1 {
        return whole();
    }
    (0..key.len())
        .map(|i| {
            let one = |e: &nft::Elem| nft::Elem(vec![e.0[i].clone()]);
            let rhs = match rhs {
                Rhs::Set(_) if varies(i) => Rhs::Set(elems.iter().map(|e| one(e)).collect()),
                Rhs::Set(_) if elems.len() > 1 => Rhs::Value(one(first)),
                Rhs::Set(_) => Rhs::Set(vec![one(first)]),
                _ => Rhs::Value(one(first)),
            };
            Expr::Match { key: vec![key[i]], op: CmpOp::Eq, rhs }
        })
        .collect()
}

/// How each counting map of `t` is looked up: (map, chain, the rule that
/// looks it up), in the order of the chains and rules; a map looked up
/// from several rules, by the first.
fn lookups(t: &nft::Table) -> Vec<(&str, &str, &nft::Rule)> {
    let mut out: Vec<(&str, &str, &nft::Rule)> = Vec::new();
    for c in &t.chains {
        for r in &c.rules {
            for e in &r.exprs {
                if let Expr::Vmap { map, .. } = e {
                    if !out.iter().any(|(m, ..)| *m == map) {
                        out.push((map, &c.name, r));
                    }
                }
            }
        }
    }
    out
}

/// The live rules `path` deletes, as (chain, rule) indices of `old`.
fn deleted_rules(old: &nft::Table, path: Path) -> Vec<(usize, usize)> {
    match path {
        Path::InPlace(td) => td
            .chains
            .iter()
            .filter_map(|cd| cd.old.map(|ci| (ci, cd)))
            .flat_map(|(ci, cd)| {
                cd.rules.iter().filter_map(move |e| match (e.old, e.action) {
                    (Some(ri), Action::Remove | Action::Change | Action::Move) => Some((ci, ri)),
                    _ => None,
                })
            })
            .collect(),
        Path::Rebuilt(_) | Path::Remade => old
            .chains
            .iter()
            .enumerate()
            .flat_map(|(ci, c)| (0..c.rules.len()).map(move |ri| (ci, ri)))
            .collect(),
    }
}

/// The elements `path` deletes, per set of `old`.
fn deleted_elements<'a>(
    old: &'a nft::Table,
    path: Path<'a>,
) -> Vec<(usize, Box<dyn Iterator<Item = &'a nft::Element> + 'a>)> {
    let td = match path {
        Path::Remade => {
            return old
                .sets
                .iter()
                .enumerate()
                .map(|(si, s)| (si, Box::new(s.elements.iter()) as Box<dyn Iterator<Item = _>>))
                .collect()
        }
        Path::Rebuilt(None) => return Vec::new(),
        Path::Rebuilt(Some(td)) | Path::InPlace(td) => td,
    };
    let mut out: Vec<(usize, Box<dyn Iterator<Item = &'a nft::Element> + 'a>)> = Vec::new();
    for sd in &td.sets {
        let Some(si) = sd.old else { continue };
        let set = &old.sets[si];
        match sd.action {
            Some(Action::Change | Action::Remove) => out.push((si, Box::new(set.elements.iter()))),
            None => out.push((
                si,
                Box::new(
                    sd.elements
                        .iter()
                        .filter(|e| matches!(e.action, Action::Remove | Action::Change))
                        .filter_map(|e| e.old.map(|i| &set.elements[i])),
                ),
            )),
            _ => {}
        }
    }
    out
}

/// The backends of `r`'s balanced translation: (first slot, last slot,
/// address, port).
fn balanced_slots(
    r: &nft::Rule,
) -> impl Iterator<Item = (u32, u32, std::net::IpAddr, Option<u16>)> + '_ {
    r.exprs
        .iter()
        .filter_map(|e| match e {
            Expr::Nat(nft::NatStmt { target: NatTargetExpr::Balanced { slots, .. }, .. }) => {
                Some(slots.iter().copied())
            }
            _ => None,
        })
        .flatten()
}

#[cfg(test)]
mod tests;
