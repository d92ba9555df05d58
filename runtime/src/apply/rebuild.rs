//! A table rebuilt in place: what `apply` does where it cannot change a
//! table rule by rule (a change of strategy or of a base chain's hook,
//! `--replace`, a chain in parts that gains a `return`, a chain laid out
//! whole that would now be made in parts). A table holding
//! something shriekc cannot read back, or one taken over, is made again
//! instead (`plan::Whole::remade`).
//!
//! The table itself stays, and so does every kernel object whose kind
//! stays, so that as little as can be of what the kernel counts is
//! carried over by hand (the rules' own counters are, `carry.rs`):
//! a named counter that stays keeps counting through the commit (one
//! seeded with a value read before the batch would lose the packets
//! counted in between), a base chain whose type, hook and priority stay
//! keeps its hook, a regular chain whose name stays is kept (map elements
//! may jump to it), and a set whose type stays keeps its elements that
//! stay. What the table records about how it was made (the strategy)
//! goes into its record object, made again in the batch.
//!
//! In one batch: the new counters and the new record; every rule of every
//! live chain and part flushed (so nothing refers any more to what goes);
//! the elements that go from the sets that stay, and the sets made again;
//! a kept base chain's new policy; the chains that cannot stay deleted;
//! new chains, new sets and elements; every rule of the new layout; last
//! the sets, chains and counters that leave the policy.
//!
//! No packet sees a half-made chain: a kept base chain's new rules replace
//! its old ones at the commit, when the kernel switches generation, and a
//! new base chain is hooked with policy accept until the commit sets the
//! policy it was made with (`nft_chain_commit_drop_policy` in Linux's
//! `nf_tables_api.c`), so until then the old chains decide.

use std::collections::{HashMap, HashSet};

use shriek_compiler::diff::structural::TableDelta;
use shriek_compiler::nft;

use super::delta::{sets_coming, sets_going, sets_gone, Staging};
use crate::desired::Desired;
use crate::encode::{self, At, Batch, Place};
use crate::layout;
use crate::plan::Plan;

pub(super) fn write(
    b: &mut Batch,
    desired: &Desired,
    plan: &Plan,
    td: Option<&TableDelta>,
    oi: usize,
    ni: usize,
    staged: &Staging,
) {
    let old = &plan.live.tables[oi];
    let meta = &plan.meta[oi];
    let new = &desired.ruleset.tables[ni];
    let name = new.name.as_str();
    let layout = layout::physical(new);

    // The chains the kernel holds now: each chain, then its parts.
    let mut live: Vec<(&str, Option<&shriek_compiler::ir::BaseChain>)> = Vec::new();
    for (ci, c) in old.chains.iter().enumerate() {
        live.push((c.name.as_str(), c.base.as_ref()));
        live.extend(meta.parts[ci].iter().map(|p| (p.as_str(), None)));
    }
    let wanted: HashMap<&str, &nft::Chain> =
        layout.chains.iter().map(|c| (c.name.as_str(), c)).collect();
    // A chain stays when it keeps its name and its kind; a base chain only
    // with its type, hook and priority (its policy changes in place).
    let stays = |chain: &str, base: Option<&shriek_compiler::ir::BaseChain>| {
        wanted.get(chain).is_some_and(|c| match (base, &c.base) {
            (None, None) => true,
            (Some(a), Some(n)) => a.hook == n.hook && a.kind == n.kind && a.priority == n.priority,
            _ => false,
        })
    };
    let kept: HashSet<&str> =
        live.iter().filter(|(c, base)| stays(c, *base)).map(|(c, _)| *c).collect();

    // Counters: new ones first, for the rules that name them.
    let had: HashSet<&str> = old.counters.iter().map(String::as_str).collect();
    for c in new.counters.iter().filter(|c| !had.contains(c.as_str())) {
        encode::counter(b, name, c, (0, 0));
    }
    if meta.record {
        encode::delete_counter(b, name, crate::decode::RECORD_OBJECT);
    }
    encode::record(b, desired, name);

    // What goes: every rule, so nothing points at what goes.
    for (chain, _) in &live {
        encode::flush_chain(b, name, chain);
    }
    let no_delta;
    let td = match td {
        Some(td) => td,
        None => {
            // Nothing differs (`--replace` of an equal table): every set stays.
            no_delta = TableDelta {
                name: name.to_string(),
                old: Some(oi),
                new: Some(ni),
                counters: Vec::new(),
                sets: Vec::new(),
                chains: Vec::new(),
            };
            &no_delta
        }
    };
    // Chains deleted and made again under the same name (a kind changed).
    let remade: HashSet<&str> = live
        .iter()
        .map(|(c, _)| *c)
        .filter(|c| !kept.contains(c) && wanted.contains_key(c))
        .collect();
    let nat_gone = super::nat_maps::delete_going(b, name, meta, Some(td), true);
    super::nat_maps::delete_own_sets(b, name, meta, Some(td), true);
    sets_going(b, name, old, meta, td, staged, &remade);
    for (chain, base) in &live {
        match (kept.contains(chain), wanted.get(chain).and_then(|c| c.base)) {
            (true, Some(n)) if base.is_some_and(|o| o.policy != n.policy) => {
                encode::chain_policy(b, name, chain, n.policy)
            }
            (true, _) => {}
            // Made again under the same name below: the old one goes first.
            (false, _) if wanted.contains_key(chain) => encode::delete_chain(b, name, chain),
            (false, _) => {}
        }
    }

    // What comes.
    for c in layout.chains.iter().filter(|c| !kept.contains(c.name.as_str())) {
        if !staged.has_chain(name, &c.name) {
            encode::chain(b, name, c);
        }
    }
    let refs = sets_coming(b, name, new, meta, td, staged);
    super::nat_maps::reserve(&refs, (old, meta), new, &nat_gone);
    let keys = layout::part_keys(&layout.chains);
    for c in &layout.chains {
        let keyed = keys.contains_key(&c.name);
        for (i, r) in c.rules.iter().enumerate() {
            let at = At { table: name, chain: &c.name, index: i, place: Place::End, keyed };
            encode::rule(b, desired.sources, &refs, at, r);
        }
    }

    // What leaves the policy: sets first, since a map's elements may jump
    // to a chain that goes too.
    let held = sets_gone(b, name, old, meta, td, staged, &remade);
    for (chain, _) in live.iter().filter(|(c, _)| !wanted.contains_key(c)) {
        super::delta::delete_chain_held(b, name, chain, &[], &held);
    }
    let keep: HashSet<&str> = new.counters.iter().map(String::as_str).collect();
    for c in old.counters.iter().filter(|c| !keep.contains(c.as_str())) {
        encode::delete_counter(b, name, c);
    }
}
