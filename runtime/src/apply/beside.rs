//! Maps made anew beside the old ones: in a batch that changes more than
//! the elements of one map, a verdict map whose elements change is made
//! again under a new name, and the rules that use it are replaced with
//! rules that use the new one; the old map stays until the packets that
//! walk the old rules are through (`settle.rs`).
//!
//! A packet keeps the generation it started its walk in for the rules,
//! but looks a set up with the generation current at the lookup, and an
//! interval set publishes a commit's elements only at the commit's end.
//! So a map edited in place, in a batch that also changes rules, decides
//! some packets by the old rules and the new elements (or the other way
//! round): a run of port rules that grows by a port as a rule before it
//! comes (`saddr 10.9.0.2 drop`, then `udp dport 5000 accept` joining the
//! run's map) let datagrams from 10.9.0.2 to port 5000 through, which
//! both the old policy and the new one drop (54 in 20 such applies when
//! the new elements went in a transaction ahead of the rules). Made anew
//! beside the old, the map is whole on either side of the switch: the old
//! rules find the old map as it was, the new rules the new one, its
//! elements published before the batch (`stage.rs`).
//!
//! A batch that changes only one map's elements edits it in place, so
//! the counters of its elements that stay count on exactly: each lookup
//! finds the elements of one generation or of the other. A map made anew
//! starts its elements' counters from the values read before the batch
//! (`carry.rs`). The plan shown (and `apply`'s summary) keeps the edits;
//! only the batch makes the map anew.

use shriek_compiler::diff::structural::{Action, Delta, TableDelta};
use shriek_compiler::nft;

use super::delta::Staging;
use crate::desired::Desired;
use crate::plan::Plan;

/// How many of the sets `staged` made are maps made anew (beside the old
/// ones, or as another kind), rather than new interval sets.
pub(super) fn made_anew(plan: &Plan, staged: &Staging) -> usize {
    let remade = |table: &str, set: &str| {
        let td = plan.delta.tables.iter().find(|t| t.name == table);
        td.is_some_and(|t| t.sets.iter().any(|d| d.name == set && d.action == Some(Action::Change)))
    };
    staged.sets.iter().filter(|s| remade(&s.table, &s.set)).count()
}

/// Marks the maps of `plan` to make anew beside the old ones, as above:
/// the delta as planned, when it changed it, for the summary to show.
pub(crate) fn mark(plan: &mut Plan, desired: &Desired) -> Option<Delta> {
    let mut planned: Option<Delta> = None;
    for ti in 0..plan.delta.tables.len() {
        let td = &plan.delta.tables[ti];
        let (Some(oi), Some(ni)) = (td.old, td.new) else { continue };
        let whole = plan.whole.iter().find(|w| w.table == td.name);
        if whole.is_some_and(|w| w.remade) {
            continue;
        }
        let (old, new) = (&plan.live.tables[oi], &desired.ruleset.tables[ni]);
        let names = maps(td, old, new);
        if names.is_empty() {
            continue;
        }
        // Only the elements of one map change: edited in place.
        let more = whole.is_some()
            || names.len() > 1
            || td.chains.iter().any(|c| c.action.is_some() || !c.rules.is_empty())
            || td.sets.iter().any(|s| s.action.is_some() || s.name != names[0]);
        if !more {
            continue;
        }
        let mut remade = td.clone();
        remade.remake_sets(old, new, &names);
        // Each replaced rule goes where the one it replaces was; a table
        // whose layout would not take it (`placement`) keeps the edits.
        let fits = whole.is_some()
            || remade.chains.iter().all(|cd| match (cd.old, cd.new) {
                (Some(_), Some(cj)) => {
                    crate::placement::place(cd, &new.chains[cj], &plan.meta[oi]).is_ok()
                }
                _ => true,
            });
        if fits {
            planned.get_or_insert_with(|| plan.delta.clone());
            plan.delta.tables[ti] = remade;
        }
    }
    planned
}

/// The verdict maps of table delta `td` that stay with their elements
/// changed, and that the staging transaction can make beforehand
/// (`stage::stageable`).
fn maps<'a>(td: &'a TableDelta, old: &nft::Table, new: &nft::Table) -> Vec<&'a str> {
    td.sets
        .iter()
        .filter(|sd| sd.action.is_none() && !sd.elements.is_empty())
        .filter(|sd| {
            let Some(set) = sd.new.map(|j| &new.sets[j]) else { return false };
            set.data == Some(nft::DataType::Verdict)
                && set.dynamic.is_none()
                && super::stage::stageable(set, old, new).is_some()
        })
        .map(|sd| sd.name.as_str())
        .collect()
}
