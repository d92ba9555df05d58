//! The named maps of balanced translations (`shriek_compiler::emit::
//! nat_map`) in a batch that changes a table: each goes with the last
//! rule that uses it, and a new one takes a name that no set the table
//! keeps or gains holds. Likewise a rule's own interval sets made first
//! (`decode::staged::own_name`), which go with their rule.

use std::collections::HashSet;

use shriek_compiler::diff::structural::{Action, TableDelta};
use shriek_compiler::nft;

use crate::decode::LiveTable;
use crate::encode::{self, Batch, SetRefs};

/// The live rules the batch deletes, as (chain, rule) indices of `meta`.
pub(super) fn deleted_rules(td: Option<&TableDelta>) -> HashSet<(usize, usize)> {
    let mut deleted: HashSet<(usize, usize)> = HashSet::new();
    for cd in td.map_or(&[][..], |td| td.chains.as_slice()) {
        let Some(ci) = cd.old else { continue };
        for e in &cd.rules {
            if let (Some(ri), Action::Remove | Action::Change | Action::Move) = (e.old, e.action) {
                deleted.insert((ci, ri));
            }
        }
    }
    deleted
}

/// The maps whose rules all go: those the batch deletes, or every rule
/// when `all` (a table rebuilt in place flushes its chains).
fn going(meta: &LiveTable, td: Option<&TableDelta>, all: bool) -> Vec<String> {
    let deleted = deleted_rules(td);
    let mut gone = Vec::new();
    let mut stay = HashSet::new();
    for (ci, rules) in meta.rules.iter().enumerate() {
        for (ri, r) in rules.iter().enumerate() {
            let Some(m) = &r.nat_map else { continue };
            if all || deleted.contains(&(ci, ri)) {
                gone.push(m.clone());
            } else {
                stay.insert(m.as_str());
            }
        }
    }
    gone.retain(|m| !stay.contains(m.as_str()));
    gone.sort();
    gone.dedup();
    gone
}

/// Deletes the maps whose rules the batch has just deleted (or flushed,
/// when `all`); returns their names.
pub(super) fn delete_going(
    b: &mut Batch,
    table: &str,
    meta: &LiveTable,
    td: Option<&TableDelta>,
    all: bool,
) -> Vec<String> {
    let gone = going(meta, td, all);
    for m in &gone {
        encode::delete_set(b, table, m);
    }
    gone
}

/// Deletes the rules' own interval sets (`decode::staged::own_name`) of
/// the rules the batch has just deleted (or flushed, when `all`). Each is
/// one rule's, and not a map: deleting it leaves its elements to a packet
/// still walking the rules of the generation before.
pub(super) fn delete_own_sets(
    b: &mut Batch,
    table: &str,
    meta: &LiveTable,
    td: Option<&TableDelta>,
    all: bool,
) {
    let deleted = if all { HashSet::new() } else { deleted_rules(td) };
    for (ci, rules) in meta.rules.iter().enumerate() {
        for (ri, r) in rules.iter().enumerate() {
            if all || deleted.contains(&(ci, ri)) {
                for set in &r.own {
                    encode::delete_set(b, table, set);
                }
            }
        }
    }
}

/// Gives `refs` the names a new map cannot take: every live set (`old`
/// is the live table's model, `meta` what only the kernel knows of it), the maps
/// that stay, and the desired table's sets. A map deleted in the batch
/// may be made again under its name (the kernel looks a name up among
/// what the transaction leaves).
pub(super) fn reserve(
    refs: &SetRefs,
    (old, meta): (&nft::Table, &LiveTable),
    new: &nft::Table,
    gone: &[String],
) {
    let mut taken = refs.nat_taken.borrow_mut();
    taken.extend(old.sets.iter().map(|s| meta.kernel_set(&s.name).to_string()));
    taken.extend(meta.staged.iter().cloned());
    taken.extend(new.sets.iter().map(|s| s.name.clone()));
    let stay = meta.rules.iter().flatten().filter_map(|r| r.nat_map.as_ref());
    taken.extend(stay.filter(|m| !gone.contains(m)).cloned());
}
