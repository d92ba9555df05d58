//! The staging transaction: the interval sets a plan makes anew, and the
//! maps it makes anew beside the old ones (`beside.rs`), made before the
//! batch that starts using them, in a transaction of their own.
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

use shriek_compiler::diff::structural::Action;
use shriek_compiler::nft;

use crate::decode::staged::staged_name;
use crate::desired::Desired;
use crate::encode::{self, Batch, OwnSet};
use crate::layout;
use crate::plan::Plan;
use crate::socket::Socket;

use super::delta::{Staged, Staging};

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
        for sd in &td.sets {
            let (Some(action @ (Action::Add | Action::Change)), Some(j)) = (sd.action, sd.new)
            else {
                continue;
            };
            let set = &new.sets[j];
            // A hashed map made again goes under a new name too, so that
            // the old one can stay until the packets that walk the old
            // rules are through (`delta::sets_gone`).
            let remade_map = action == Action::Change && set.data == Some(nft::DataType::Verdict);
            if !(set.interval || remade_map) || set.dynamic.is_some() {
                continue;
            }
            let Some(chains) = stageable(set, old, new) else { continue };
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

/// The new chains that set `set` of table `new` jumps or goes to, which
/// the staging transaction makes empty; `None` when it cannot be made
/// before the batch: one of its chains is a base chain, or one the batch
/// lays out in parts. `old` is the live table.
pub(super) fn stageable<'a>(
    set: &nft::Set,
    old: &nft::Table,
    new: &'a nft::Table,
) -> Option<Vec<&'a nft::Chain>> {
    let mut chains = Vec::new();
    for target in targets(set) {
        if let Some(c) = old.chains.iter().find(|c| c.name == target) {
            // A regular chain stays in either path.
            if c.base.is_some() {
                return None;
            }
            continue;
        }
        match new.chains.iter().find(|c| c.name == target) {
            Some(c) if c.base.is_none() && !layout::splittable(new, c) => chains.push(c),
            _ => return None,
        }
    }
    Some(chains)
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
    delete_each(sock, sets.chain(chains));
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
    use super::next_genid;

    #[test]
    fn the_generation_after_a_commit_skips_zero() {
        assert_eq!(next_genid(41), 42);
        assert_eq!(next_genid(u32::MAX), 1);
    }
}
