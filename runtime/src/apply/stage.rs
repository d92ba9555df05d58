//! The staging transaction: the interval sets a plan makes anew, made
//! before the batch that starts using them, in a transaction of their own.
//!
//! Linux publishes the elements of an interval set (rbtree, pipapo) in
//! the last step of the commit that adds them (`nft_set_commit_update`
//! in `nf_tables_api.c`), after the generation switch has made the
//! batch's rules live; a packet in between finds the set empty and falls
//! through the rule that uses it (measured: ARCHITECTURE.md, "Day 2").
//! Made one commit earlier, no rule uses the set yet, so staging changes
//! no verdict, and by the time the second batch's rules go live its
//! elements are long published.
//!
//! Both transactions are guarded by the generation: the first by the one
//! the plan was made at, the second by the one the first made (one more).
//! Whatever goes wrong after the first, the staged sets are deleted again
//! ([`unstage`]); should the process die in between, they are left unused
//! under names that say what they are (`decode::staged`), and the next
//! `plan` names them and the next `apply` deletes them.

use std::collections::HashSet;

use shriek_compiler::diff::structural::{Action, TableDelta};
use shriek_compiler::nft;

use crate::decode::staged::staged_name;
use crate::desired::Desired;
use crate::encode::{self, Batch, OwnSet};
use crate::layout;
use crate::plan::Plan;
use crate::socket::Socket;

use super::delta::{Staged, StagedEdit, Staging};

/// The interval sets `plan` makes anew in tables that stay (a table made
/// whole is new to the packet path in any case), each under its staged
/// name, and the new chains their elements jump to, made empty (their
/// rules come with the second transaction, when the map starts being
/// used). A map that jumps to a chain the second transaction deletes or
/// lays out in parts is not staged: it cannot be referred to beforehand.
pub(super) fn sets(desired: &Desired, plan: &Plan) -> Staging {
    let mut staging = Staging::default();
    for td in &plan.delta.tables {
        let (Some(oi), Some(ni)) = (td.old, td.new) else { continue };
        let new = &desired.ruleset.tables[ni];
        let whole = plan.whole.iter().find(|w| w.table == new.name);
        if whole.is_some_and(|w| w.remade) {
            continue;
        }
        let old = &plan.live.tables[oi];
        // New elements of interval sets that stay, when rules change too.
        if whole.is_some() || td.chains.iter().any(|cd| !cd.rules.is_empty()) {
            edits(&mut staging, plan, td, oi, new);
        }
        for sd in &td.sets {
            let (Some(Action::Add | Action::Change), Some(j)) = (sd.action, sd.new) else {
                continue;
            };
            let set = &new.sets[j];
            if !set.interval || set.dynamic.is_some() {
                continue;
            }
            let mut chains = Vec::new();
            let stageable = targets(set).all(|target| {
                if let Some(c) = old.chains.iter().find(|c| c.name == target) {
                    // A regular chain stays in either path.
                    return c.base.is_none();
                }
                match new.chains.iter().find(|c| c.name == target) {
                    Some(c) if c.base.is_none() && !layout::splittable(new, c) => {
                        chains.push(c);
                        true
                    }
                    _ => false,
                }
            });
            if !stageable {
                continue;
            }
            for c in chains {
                if !staging.chains.iter().any(|(t, n)| *t == new.name && *n == c.name) {
                    staging.chains.push((new.name.clone(), c.name.clone()));
                }
            }
            staging.sets.push(Staged {
                table: new.name.clone(),
                set: set.name.clone(),
                kernel: staged_name(&set.name, plan.genid),
            });
        }
    }
    staging
}

/// The new elements of table `new`'s interval sets that stay, in a batch
/// that changes rules: they go in with the staging transaction. An
/// interval set publishes the elements a commit adds only at the end of
/// the commit, after the rules it makes are live; when those rules stop
/// deciding a packet that one of the new elements now decides (a run of
/// rules whose map merges into the one before it), the packet would find
/// neither for a moment. Added a commit earlier, an element decides its
/// packets only as the rules after it in the new policy would, a moment
/// sooner. Not when an element jumps to a chain the live table lacks
/// (made in the batch). An element that goes stays in the batch (it stays
/// found until the commit's end, as the rules that no longer use it would
/// have it), unless a new element's range overlaps it.
fn edits(staging: &mut Staging, plan: &Plan, td: &TableDelta, oi: usize, new: &nft::Table) {
    let old = &plan.live.tables[oi];
    let meta = &plan.meta[oi];
    let regular = |t: &nft::Table| -> HashSet<String> {
        t.chains.iter().filter(|c| c.base.is_none()).map(|c| c.name.clone()).collect()
    };
    let both = &regular(old) & &regular(new);
    for sd in td.sets.iter().filter(|s| s.action.is_none()) {
        let (Some(si), Some(sj)) = (sd.old, sd.new) else { continue };
        let set = &new.sets[sj];
        if !set.interval || set.dynamic.is_some() {
            continue;
        }
        let came: Vec<nft::Element> = sd
            .elements
            .iter()
            .filter(|e| matches!(e.action, Action::Add | Action::Change))
            .filter_map(|e| e.new.map(|j| set.elements[j].clone()))
            .collect();
        let kept = |e: &nft::Element| match &e.data {
            Some(nft::Data::Verdict(nft::Verdict::Jump(c) | nft::Verdict::Goto(c))) => {
                both.contains(c)
            }
            _ => true,
        };
        if came.is_empty() || !came.iter().all(kept) {
            continue;
        }
        let live = &old.sets[si];
        // Replaced: an element of the same key, or one that goes whose
        // range overlaps one that comes (`7003-7004` widened to
        // `7003-7006`), which the kernel would refuse beside it.
        let gone = sd
            .elements
            .iter()
            .filter_map(|e| Some((e.action, &live.elements[e.old?])))
            .filter(|(action, el)| match action {
                Action::Change => true,
                Action::Remove => came.iter().any(|c| overlap(&c.key, &el.key)),
                _ => false,
            })
            .map(|(_, el)| el.clone())
            .collect();
        staging.edits.push(StagedEdit {
            table: new.name.clone(),
            set: set.clone(),
            kernel: meta.kernel_set(&set.name).to_string(),
            gone,
            came,
        });
    }
}

/// Whether two keys share a value: every field's ranges (or names) meet.
fn overlap(a: &nft::Elem, b: &nft::Elem) -> bool {
    a.0.len() == b.0.len()
        && a.0.iter().zip(&b.0).all(|pair| match pair {
            (nft::Part::Int(l1, h1), nft::Part::Int(l2, h2)) => l1 <= h2 && l2 <= h1,
            (x, y) => x == y,
        })
}

/// The chains set `s`'s elements jump or go to.
pub(super) fn targets(s: &nft::Set) -> impl Iterator<Item = &str> {
    s.elements.iter().filter_map(|e| match &e.data {
        Some(nft::Data::Verdict(nft::Verdict::Jump(c) | nft::Verdict::Goto(c))) => Some(c.as_str()),
        _ => None,
    })
}

/// The tables whose new rules' own interval sets are made first
/// (`encode::OwnSets`): those that stay on the packet path, changed in
/// place or rebuilt; a table made whole is new to it.
pub(super) fn own_set_tables(plan: &Plan) -> HashSet<String> {
    let remade = |name: &str| plan.whole.iter().any(|w| w.table == name && w.remade);
    plan.meta.iter().map(|m| &m.table.name).filter(|t| !remade(t)).cloned().collect()
}

/// The staging batch, guarded by the plan's generation: the new chains
/// the staged maps jump to, empty, then the sets with their elements,
/// then the new rules' own interval sets (`own`).
pub(super) fn batch(b: &mut Batch, desired: &Desired, staging: &Staging, own: &[OwnSet]) {
    let table = |name: &str| {
        let t = desired.ruleset.tables.iter().find(|t| t.name == name);
        t.expect("a staged set or chain is in one of the desired ruleset's tables")
    };
    for (t, c) in &staging.chains {
        let chain = table(t).chains.iter().find(|x| x.name == *c);
        let chain = chain.expect("a staged chain is one of its table's");
        let empty = nft::Chain { rules: Vec::new(), ..chain.clone() };
        encode::chain(b, t, &empty);
    }
    for s in &staging.sets {
        let set = table(&s.table).sets.iter().find(|x| x.name == s.set);
        let set = set.expect("a staged set is one of its table's");
        let id = b.set_id();
        encode::named_set(b, &s.table, set, &s.kernel, id);
    }
    for e in &staging.edits {
        write_edit(b, e, false);
    }
    for o in own {
        encode::own_set(b, o);
    }
    b.end();
}

/// The generation the kernel is at once the staging transaction made at
/// `genid` has committed: each commit moves it on by one, past zero.
pub(super) fn next_genid(genid: u32) -> u32 {
    match genid.wrapping_add(1) {
        0 => 1,
        g => g,
    }
}

/// Deletes what was staged again (the sets, then the chains they jumped
/// to), each in a transaction of its own so that one already gone (an
/// `apply` running at the same time deletes unused staged sets) leaves
/// the others to go. What cannot be deleted now, the next `apply` deletes.
pub(super) fn unstage(sock: &mut Socket, staging: &Staging, own: &[OwnSet]) {
    let sets = staging.sets.iter().map(|s| (s.table.as_str(), s.kernel.as_str(), true));
    let sets = sets.chain(own.iter().map(|o| (o.table.as_str(), o.name.as_str(), true)));
    let chains = staging.chains.iter().map(|(t, c)| (t.as_str(), c.as_str(), false));
    // The staged edits undone, each set's in a transaction of its own: the
    // elements that came go, and those they replaced come back.
    for e in &staging.edits {
        let mut b = Batch::begin(sock.next_seq(), None);
        write_edit(&mut b, e, true);
        b.end();
        let _ = super::send_batch(sock, &b);
    }
    delete_each(sock, sets.chain(chains));
}

/// Staged edit `e`: the replaced elements go and the new ones come, or,
/// to `undo` it, the other way round.
fn write_edit(b: &mut Batch, e: &StagedEdit, undo: bool) {
    let (first, then) = if undo { (&e.came, &e.gone) } else { (&e.gone, &e.came) };
    let first: Vec<&nft::Element> = first.iter().collect();
    if !first.is_empty() {
        encode::edit_elements(b, &e.table, &e.set, &e.kernel, &first, false);
    }
    let then: Vec<&nft::Element> = then.iter().collect();
    if !then.is_empty() {
        encode::edit_elements(b, &e.table, &e.set, &e.kernel, &then, true);
    }
}

/// Deletes each (table, name, whether a set, else a chain) in a
/// transaction of its own, so that one already gone leaves the others to
/// go; what cannot go now, the next `apply` removes.
pub(super) fn delete_each<'a>(
    sock: &mut Socket,
    what: impl Iterator<Item = (&'a str, &'a str, bool)>,
) {
    for (table, name, set) in what {
        let mut b = Batch::begin(sock.next_seq(), None);
        if set {
            encode::delete_set(&mut b, table, name);
        } else {
            encode::delete_chain(&mut b, table, name);
        }
        b.end();
        let _ = super::send_batch(sock, &b);
    }
}

#[cfg(test)]
mod tests {
    use super::{next_genid, overlap};
    use shriek_compiler::nft::{Elem, Part};

    #[test]
    fn keys_overlap_where_every_field_meets() {
        let key =
            |parts: &[(u128, u128)]| Elem(parts.iter().map(|&(l, h)| Part::Int(l, h)).collect());
        assert!(overlap(&key(&[(7003, 7004)]), &key(&[(7003, 7006)])));
        assert!(overlap(&key(&[(7004, 7004)]), &key(&[(7001, 7004)])));
        assert!(!overlap(&key(&[(7003, 7004)]), &key(&[(7005, 7006)])));
        assert!(overlap(&key(&[(1, 5), (80, 80)]), &key(&[(5, 9), (70, 90)])));
        assert!(!overlap(&key(&[(1, 5), (80, 80)]), &key(&[(5, 9), (81, 90)])));
        let named = |n: &str| Elem(vec![Part::Str(n.into())]);
        assert!(overlap(&named("eth0"), &named("eth0")));
        assert!(!overlap(&named("eth0"), &named("eth1")));
    }

    #[test]
    fn the_generation_after_a_commit_skips_zero() {
        assert_eq!(next_genid(41), 42);
        assert_eq!(next_genid(u32::MAX), 1);
    }
}
