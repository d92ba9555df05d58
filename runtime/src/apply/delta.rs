//! A plan as one batch: tables rebuilt where the plan says so
//! ([`rebuild`]), new tables whole, and elsewhere only the delta, in an
//! order the kernel accepts within one transaction.
//!
//! In a table changed in place: new counters and chains first (rules and
//! map elements may name them), a base chain's new policy, then every rule
//! that goes (by handle; the rules of a chain that goes too, so nothing
//! jumps into it any more) and every element that goes, sets made again
//! deleted (unless staged under a new name), new sets made, new elements
//! added, new rules placed (each just before the first untouched rule
//! that follows it in the new chain, or at the end), and last the sets,
//! chains and counters that go (a map, the old version of a map made
//! again under a staged name, and the chains only their elements jump
//! to, in the transaction after the batch: `settle.rs`). Untouched rules, elements, chains, sets and
//! counters get no message at all, so they keep their handles and their
//! counts.

use std::collections::{HashMap, HashSet};

use shriek_compiler::diff::structural::{Action, SetDelta, TableDelta};
use shriek_compiler::nft;

use super::rebuild;
use crate::decode::LiveTable;
use crate::desired::Desired;
use crate::encode::{self, At, Batch, Place, SetRefs};
use crate::layout;
use crate::plan::Plan;

/// The ruleset [`write_model`] writes: kept whole, or spent as its new and
/// remade tables are written whole (`encode::whole_table_spending`),
/// `spent` giving back the memory freed.
pub(super) enum Model<'a> {
    Kept(&'a nft::Ruleset),
    Spent { ruleset: &'a mut nft::Ruleset, spent: &'a dyn Fn(), any: bool },
}

impl Model<'_> {
    pub fn ruleset(&self) -> &nft::Ruleset {
        match self {
            Model::Kept(r) => r,
            Model::Spent { ruleset, .. } => ruleset,
        }
    }

    /// Whether a rule was spent: the ruleset is no longer whole.
    pub fn is_spent(&self) -> bool {
        matches!(self, Model::Spent { any: true, .. })
    }
}

/// Writes the batch for `plan`; the sets in `staged` were made already,
/// in a transaction of their own, under their staged names. `meta` says
/// what is desired besides `model` (its ruleset is not read).
pub(super) fn write_model(
    b: &mut Batch,
    model: &mut Model,
    meta: &Desired,
    plan: &Plan,
    staged: &Staging,
) {
    let desired = &Desired { ruleset: model.ruleset(), ..*meta };
    // What an interrupted apply staged and never used goes first, before
    // the chains its elements may jump to (`plan` leaves out the tables
    // made again, which take their sets with them).
    for (table, set) in &plan.leftovers {
        encode::delete_set(b, table, set);
    }
    for r in &plan.records {
        let recorded = plan.meta.iter().any(|m| m.table.name == r.table && m.record);
        if recorded {
            encode::delete_counter(b, &r.table, crate::decode::RECORD_OBJECT);
        }
        encode::record(b, desired, &r.table);
    }
    for ni in 0..model.ruleset().tables.len() {
        let desired = &Desired { ruleset: model.ruleset(), ..*meta };
        let t = &desired.ruleset.tables[ni];
        let td = plan.delta.tables.iter().find(|d| d.new == Some(ni));
        let live = plan.meta.iter().position(|m| m.table.name == t.name);
        if let Some(w) = plan.whole.iter().find(|w| w.table == t.name) {
            match live {
                Some(oi) if !w.remade => rebuild::write(b, desired, plan, td, oi, ni, staged),
                _ => {
                    // Taken over: the table goes, because its user data,
                    // which names its policy, cannot change. Its named
                    // counters start from the values read before the batch.
                    let seeds: HashMap<String, (u64, u64)> = live
                        .map(|i| {
                            plan.meta[i]
                                .counter_values
                                .iter()
                                .map(|(n, p, by)| (n.clone(), (*p, *by)))
                                .collect()
                        })
                        .unwrap_or_default();
                    whole(b, model, meta, ni, &seeds);
                }
            }
            continue;
        }
        match (td, live) {
            (Some(td), Some(oi)) => in_place(b, desired, plan, td, oi, ni, staged),
            (Some(_), None) => whole(b, model, meta, ni, &HashMap::new()),
            (None, _) => {}
        }
    }
    for td in plan.delta.tables.iter().filter(|d| d.new.is_none()) {
        encode::delete_table(b, &td.name);
    }
}

/// Table `ni` of `model` written whole, spent if `model` is.
fn whole(
    b: &mut Batch,
    model: &mut Model,
    meta: &Desired,
    ni: usize,
    seeds: &HashMap<String, (u64, u64)>,
) {
    match model {
        Model::Kept(ruleset) => {
            let desired = Desired { ruleset, ..*meta };
            encode::whole_table(b, &desired, &ruleset.tables[ni], seeds);
        }
        Model::Spent { ruleset, spent, any } => {
            let t = &mut ruleset.tables[ni];
            let how = (meta.policy, meta.strategy);
            *any |= encode::whole_table_spending(b, meta.sources, how, t, seeds, *spent);
        }
    }
}

/// What was made already, in a transaction of its own (`apply/stage.rs`):
/// the batch uses it and does not make it again.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Staging {
    pub sets: Vec<Staged>,
    /// New chains the staged maps jump to, made empty: (table, chain).
    pub chains: Vec<(String, String)>,
}

impl Staging {
    pub fn is_empty(&self) -> bool {
        self.sets.is_empty()
    }

    /// Whether chain `chain` of table `table` was made already.
    pub fn has_chain(&self, table: &str, chain: &str) -> bool {
        self.chains.iter().any(|(t, c)| t == table && c == chain)
    }
}

/// A set made already under `kernel`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Staged {
    pub table: String,
    /// The policy's name.
    pub set: String,
    pub kernel: String,
}

fn in_place(
    b: &mut Batch,
    desired: &Desired,
    plan: &Plan,
    td: &TableDelta,
    oi: usize,
    ni: usize,
    staged: &Staging,
) {
    let old = &plan.live.tables[oi];
    let new = &desired.ruleset.tables[ni];
    let meta = &plan.meta[oi];
    let name = new.name.as_str();
    let handle = |ci: usize, ri: usize| meta.rules[ci][ri].handle;
    // A new chain long enough is made in parts, rules and all; the rules
    // of a chain already there go where its parts are.
    let mut split: HashMap<usize, Vec<nft::Chain>> = HashMap::new();

    for c in td.counters.iter().filter(|c| c.action == Action::Add) {
        encode::counter(b, name, &c.name, (0, 0));
    }
    for cd in &td.chains {
        match (cd.action, cd.new) {
            (Some(Action::Add), Some(j)) if layout::split_when_made(new, &new.chains[j]) => {
                let parts = layout::split(&new.chains[j]);
                for c in &parts {
                    encode::chain(b, name, c);
                }
                split.insert(j, parts);
            }
            (Some(Action::Add), Some(_)) if staged.has_chain(name, &cd.name) => {}
            (Some(Action::Add), Some(j)) => encode::chain(b, name, &new.chains[j]),
            (Some(Action::Change), Some(j)) => {
                // The plan replaces the table whole for any other change
                // of a chain's header.
                if let Some(base) = new.chains[j].base {
                    encode::chain_policy(b, name, &cd.name, base.policy);
                }
            }
            _ => {}
        }
    }

    // What goes, before what replaces it.
    for cd in &td.chains {
        let Some(ci) = cd.old else { continue };
        for e in &cd.rules {
            if let (Some(ri), Action::Remove | Action::Change | Action::Move) = (e.old, e.action) {
                let chain = meta.rules[ci][ri].kernel_chain(&cd.name);
                encode::delete_rule(b, name, chain, ri, handle(ci, ri));
            }
        }
    }
    let nat_gone = super::nat_maps::delete_going(b, name, meta, Some(td), false);
    super::nat_maps::delete_own_sets(b, name, meta, Some(td), false);
    sets_going(b, name, old, meta, td, staged, &HashSet::new());

    // What comes.
    let refs = sets_coming(b, name, new, meta, td, staged);
    super::nat_maps::reserve(&refs, (old, meta), new, &nat_gone);
    for cd in &td.chains {
        let Some(cj) = cd.new else { continue };
        let chain = &new.chains[cj];
        if let Some(parts) = split.get(&cj) {
            // Each part's rules, then the links to them.
            let keys = layout::part_keys(parts);
            for c in parts.iter().skip(1).chain(parts.first()) {
                let keyed = keys.contains_key(&c.name);
                for (i, r) in c.rules.iter().enumerate() {
                    let at = At { table: name, chain: &c.name, index: i, place: Place::End, keyed };
                    encode::rule(b, desired.sources, &refs, at, r);
                }
            }
            continue;
        }
        // Each new rule just before its next untouched neighbour, in the
        // part that holds it, or at the end (`placement`); `plan` lays out
        // again a table where one would not fit.
        let placement = crate::placement::place(cd, chain, meta)
            .expect("plan rebuilds a table whose new rules do not fit its keyed parts");
        let taken = cd.old.map_or(&[][..], |ci| meta.parts[ci].as_slice());
        super::sub_parts::place(b, desired, &refs, new, chain, taken, &placement.placed);
        for part in &placement.new_parts {
            let comment = format!("part of chain {}, laid out by shriekc", chain.name);
            let c = nft::Chain {
                name: part.name.clone(),
                base: None,
                rules: Vec::new(),
                comment: Some(comment),
            };
            encode::chain(b, name, &c);
            let keyed = part.key.is_some();
            for j in part.rules.clone() {
                let at = At { table: name, chain: &part.name, index: j, place: Place::End, keyed };
                encode::rule(b, desired.sources, &refs, at, &chain.rules[j]);
            }
            let link = layout::keyed_link(&part.name, part.key);
            let at = At {
                table: name,
                chain: &chain.name,
                index: part.rules.start,
                place: Place::End,
                keyed: false,
            };
            encode::rule(b, desired.sources, &refs, at, &link);
        }
    }

    // What is no longer used: sets first, since a map's elements may jump
    // to a chain that goes too.
    let held = sets_gone(b, name, old, meta, td, staged, &HashSet::new());
    for cd in td.chains.iter().filter(|c| c.action == Some(Action::Remove)) {
        // The chain first: its links to its parts go with it.
        let parts = cd.old.map(|ci| meta.parts[ci].as_slice()).unwrap_or(&[]);
        delete_chain_held(b, name, &cd.name, parts, &held);
    }
    for c in td.counters.iter().filter(|c| c.action == Action::Remove) {
        encode::delete_counter(b, name, &c.name);
    }
}

/// The elements that go from the sets that stay, and the sets made again:
/// after the rules that use them have gone, before anything new comes.
pub(super) fn sets_going(
    b: &mut Batch,
    name: &str,
    old: &nft::Table,
    meta: &LiveTable,
    td: &TableDelta,
    staged: &Staging,
    remade: &HashSet<&str>,
) {
    for sd in td.sets.iter().filter(|s| s.action.is_none()) {
        let (Some(si), Some(_)) = (sd.old, sd.new) else { continue };
        let set = &old.sets[si];
        let gone: Vec<&nft::Element> = sd
            .elements
            .iter()
            .filter(|e| matches!(e.action, Action::Remove | Action::Change))
            .filter_map(|e| e.old.map(|i| &set.elements[i]))
            .collect();
        if !gone.is_empty() {
            encode::edit_elements(b, name, set, meta.kernel_set(&set.name), &gone, false);
        }
    }
    for sd in td.sets.iter().filter(|s| s.action == Some(Action::Change)) {
        if !outlives(b, name, old, sd, staged, remade) {
            encode::delete_set(b, name, meta.kernel_set(&sd.name));
        }
    }
}

/// Whether the old version of set `sd`, made again, stays until the
/// transaction after the batch ([`sets_gone`]): a map made again under a
/// new name (`staged`), in a batch that defers, whose elements jump to no
/// chain in `remade`. A packet that started walking the old rules just
/// before the commit looks their map up with the new generation's mask;
/// had the batch deleted it, the packet would find nothing there.
fn outlives(
    b: &Batch,
    name: &str,
    old: &nft::Table,
    sd: &SetDelta,
    staged: &Staging,
    remade: &HashSet<&str>,
) -> bool {
    sd.action == Some(Action::Change)
        && b.deferred.is_some()
        && staged.sets.iter().any(|s| s.table == name && s.set == sd.name)
        && sd.old.is_some_and(|i| deferrable(&old.sets[i], remade))
}

/// Whether map `set` may go in the transaction after the batch: a map
/// whose elements jump to no chain in `remade` (deleted and made again in
/// the batch, which cannot be while the map still jumps to it).
fn deferrable(set: &nft::Set, remade: &HashSet<&str>) -> bool {
    set.data.is_some()
        && set.dynamic.is_none()
        && !super::stage::targets(set).any(|t| remade.contains(t))
}

/// New sets (and sets made again), then the new elements of the sets that
/// stay. A set that stays keeps its kernel object, so a packet that meets
/// one of its unchanged elements during the commit finds it; an interval
/// set made in the batch would be found empty for a moment after the rules
/// that use it start, which is why `apply` makes those beforehand
/// (`staged`; ARCHITECTURE.md, "Day 2"). Returns how the rules name the
/// sets: by the kernel's names, and by id those made here.
pub(super) fn sets_coming(
    b: &mut Batch,
    name: &str,
    new: &nft::Table,
    meta: &LiveTable,
    td: &TableDelta,
    staged: &Staging,
) -> SetRefs {
    let mut refs = SetRefs { kernel: meta.set_names.clone(), ..SetRefs::default() };
    for sd in &td.sets {
        if let (Some(Action::Add | Action::Change), Some(j)) = (sd.action, sd.new) {
            refs.kernel.remove(&sd.name);
            if let Some(s) = staged.sets.iter().find(|s| s.table == name && s.set == sd.name) {
                refs.kernel.insert(sd.name.clone(), s.kernel.clone());
                continue;
            }
            let id = b.set_id();
            refs.ids.insert(sd.name.clone(), id);
            encode::named_set(b, name, &new.sets[j], &sd.name, id);
        }
    }
    for sd in td.sets.iter().filter(|s| s.action.is_none()) {
        let Some(sj) = sd.new else { continue };
        let set = &new.sets[sj];
        let came: Vec<&nft::Element> = sd
            .elements
            .iter()
            .filter(|e| matches!(e.action, Action::Add | Action::Change))
            .filter_map(|e| e.new.map(|j| &set.elements[j]))
            .collect();
        if !came.is_empty() {
            encode::edit_elements(b, name, set, meta.kernel_set(&set.name), &came, true);
        }
    }
    refs
}

/// The sets no longer used: before the chains their elements may jump to.
/// A map goes in the transaction after the batch where the batch defers
/// (`Batch::deferred`), unless it jumps to a chain in `remade` (deleted
/// and made again in the batch); so does the old version of a map made
/// again under a new name ([`outlives`]). Returns the chains the deferred
/// maps jump to: should the batch delete them, they go after those maps.
pub(super) fn sets_gone(
    b: &mut Batch,
    name: &str,
    old: &nft::Table,
    meta: &LiveTable,
    td: &TableDelta,
    staged: &Staging,
    remade: &HashSet<&str>,
) -> HashSet<String> {
    let mut held = HashSet::new();
    let outlived: Vec<&SetDelta> =
        td.sets.iter().filter(|sd| outlives(b, name, old, sd, staged, remade)).collect();
    for sd in td.sets.iter().filter(|s| s.action == Some(Action::Remove)).chain(outlived) {
        let kernel = meta.kernel_set(&sd.name);
        let set = sd.old.map(|i| &old.sets[i]);
        let targets: Vec<&str> =
            set.map(|s| super::stage::targets(s).collect()).unwrap_or_default();
        let deferrable = set.is_some_and(|s| deferrable(s, remade));
        match b.deferred.as_mut() {
            Some(d) if deferrable => {
                d.sets.push((name.to_string(), kernel.to_string()));
                held.extend(targets.iter().map(|t| t.to_string()));
            }
            _ => encode::delete_set(b, name, kernel),
        }
    }
    held
}

/// Deletes chain `chain` of table `name`, then `parts`; in the transaction
/// after the batch when a deferred map jumps to it (`held`).
pub(super) fn delete_chain_held(
    b: &mut Batch,
    name: &str,
    chain: &str,
    parts: &[String],
    held: &HashSet<String>,
) {
    match b.deferred.as_mut() {
        Some(d) if held.contains(chain) => {
            d.chains.push((name.to_string(), chain.to_string()));
            d.chains.extend(parts.iter().map(|p| (name.to_string(), p.clone())));
        }
        _ => {
            encode::delete_chain(b, name, chain);
            for part in parts {
                encode::delete_chain(b, name, part);
            }
        }
    }
}
