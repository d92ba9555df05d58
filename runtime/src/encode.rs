//! The nft model as nf_tables netlink messages.
//!
//! This is libnftnl's and libnftables' job done for shriek's smaller model,
//! in four parts: the batch and what each message stands for
//! ([`batch`]), what a rule carries besides its expressions ([`identity`]),
//! sets and maps ([`set`]), and expressions ([`expr`]). This file puts them
//! together per table: counters, chains, sets, then rules.

use std::borrow::Cow;
use std::collections::HashMap;

use shriek_compiler::ir::{BaseChain, ChainKind, ChainPolicy, Hook};
use shriek_compiler::lower::Strategy;
use shriek_compiler::nft;
use shriek_grammar::SourceMap;

use crate::abi::*;
use crate::desired::Desired;
use crate::layout::{self, Laid};
use crate::msg::Attrs;

mod batch;
mod edit;
mod expr;
mod identity;
mod nat_map;
mod seed;
mod set;

pub(crate) use batch::{Batch, Deferred, OwnSet, OwnSets, Subject};
pub(crate) use edit::{
    chain_policy, delete_chain, delete_counter, delete_rule, delete_set, delete_table, flush_chain,
};
pub use identity::policy_key;
pub(crate) use seed::Seeds;
pub(crate) use set::{edit_elements, element_attrs, key_bytes, named_set, own_set};

use expr::{expr, RuleCx};
use identity::{record_udata, rule_udata, table_udata, udata};

/// Writes table `t` of `desired` whole, its long chains in parts
/// ([`layout::laid_out`]): emptied if it exists, then made with its marker
/// and everything in it. `seeds` are named counters' values to carry
/// over, by name.
pub(crate) fn whole_table(
    b: &mut Batch,
    desired: &Desired,
    t: &nft::Table,
    seeds: &HashMap<String, (u64, u64)>,
) {
    write_whole(b, desired, t, &layout::laid_out(t), seeds);
}

/// [`whole_table`] with table `t`'s chains laid out as `chains`.
fn write_whole(
    b: &mut Batch,
    desired: &Desired,
    t: &nft::Table,
    chains: &[Laid],
    seeds: &HashMap<String, (u64, u64)>,
) {
    let name = t.name.as_str();
    let refs = whole_head(b, (desired.policy, desired.strategy), t, chains, seeds);
    // A rule's user data (its comment and its identity, two fifths of
    // encoding it) depends on the rule alone: a second thread makes it, a
    // slice of rules ahead, while this one writes the rules in order.
    let sources = desired.sources;
    std::thread::scope(|scope| {
        let (ahead, made) = std::sync::mpsc::sync_channel::<Vec<Vec<u8>>>(2);
        scope.spawn(move || {
            for slice in chains.iter().flat_map(|c| c.rules.chunks(UDATA_SLICE)) {
                let udata = slice.iter().map(|r| rule_udata(r, sources)).collect();
                if ahead.send(udata).is_err() {
                    return;
                }
            }
        });
        for c in chains {
            for (k, slice) in c.rules.chunks(UDATA_SLICE).enumerate() {
                let udata = made.recv().expect("the user data thread makes every slice");
                for (j, (r, udata)) in slice.iter().zip(&udata).enumerate() {
                    let index = k * UDATA_SLICE + j;
                    let keyed = c.key.is_some();
                    let at = At { table: name, chain: &c.name, index, place: Place::End, keyed };
                    rule_with_udata(b, &refs, at, r, udata);
                }
            }
        }
    });
}

/// What [`write_whole`] writes before the rules: the table emptied and
/// made, its counters, chains and sets; how the rules name the sets.
fn whole_head(
    b: &mut Batch,
    (policy, strategy): (&str, Strategy),
    t: &nft::Table,
    chains: &[Laid],
    seeds: &HashMap<String, (u64, u64)>,
) -> SetRefs {
    let name = t.name.as_str();
    b.w.reserve(whole_bound(t));
    b.clear_table(name);
    new_table(b, policy, strategy, name);
    for c in &t.counters {
        counter(b, name, c, seeds.get(c).copied().unwrap_or((0, 0)));
    }
    // Chains before sets and rules: verdict maps and jumps name them.
    for c in chains {
        laid_chain(b, name, c);
    }
    let mut refs = SetRefs::default();
    refs.nat_taken.get_mut().extend(t.sets.iter().map(|s| s.name.clone()));
    for s in &t.sets {
        let id = b.set_id();
        refs.ids.insert(s.name.clone(), id);
        named_set(b, name, s, &s.name, id);
    }
    refs
}

/// [`whole_table`] spending the model as it goes: each rule's expressions
/// and origin are freed right after the rule is written, and `spent` runs
/// every [`SPEND_SLICES`] slices of rules (to give the freed memory back),
/// so that the ruleset and its batch are never both whole. The batch is
/// the same, byte for byte; the table keeps its chains, sets and counters,
/// and its rules, emptied. Returns whether any rule was spent: a table
/// whose layout this does not follow is written as [`whole_table`] does.
pub(crate) fn whole_table_spending(
    b: &mut Batch,
    sources: &SourceMap,
    (policy, strategy): (&str, Strategy),
    t: &mut nft::Table,
    seeds: &HashMap<String, (u64, u64)>,
    spent: &dyn Fn(),
) -> bool {
    // Where each laid-out chain's rules are: a part or a whole chain
    // borrows a run of its chain's rules, a split chain's head holds its
    // own (the jumps to its parts).
    enum Run {
        Own(Vec<nft::Rule>),
        Of { chain: usize, start: usize, len: usize },
    }
    let (refs, (names, keyed), runs) = {
        let chains = layout::laid_out(t);
        let mut runs = Vec::with_capacity(chains.len());
        let mut next = vec![0; t.chains.len()];
        for c in &chains {
            let run = match &c.rules {
                Cow::Owned(rules) => Run::Own(rules.clone()),
                Cow::Borrowed(rules) => {
                    let at = rules.as_ptr() as usize;
                    let size = std::mem::size_of::<nft::Rule>().max(1);
                    let of = t.chains.iter().position(|o| {
                        let start = o.rules.as_ptr() as usize;
                        at >= start && at + rules.len() * size <= start + o.rules.len() * size
                    });
                    match of {
                        Some(ci)
                            if (at - t.chains[ci].rules.as_ptr() as usize).is_multiple_of(size) =>
                        {
                            let start = (at - t.chains[ci].rules.as_ptr() as usize) / size;
                            if start < next[ci] {
                                drop(chains);
                                return whole_unspent(b, sources, (policy, strategy), t, seeds);
                            }
                            next[ci] = start + rules.len();
                            Run::Of { chain: ci, start, len: rules.len() }
                        }
                        _ => {
                            drop(chains);
                            return whole_unspent(b, sources, (policy, strategy), t, seeds);
                        }
                    }
                }
            };
            runs.push(run);
        }
        let refs = whole_head(b, (policy, strategy), t, &chains, seeds);
        let names: Vec<String> = chains.iter().map(|c| c.name.to_string()).collect();
        let keyed: Vec<bool> = chains.iter().map(|c| c.key.is_some()).collect();
        (refs, (names, keyed), runs)
    };
    let name = t.name.as_str();
    let mut owned: Vec<Vec<nft::Rule>> = Vec::new();
    let mut order = Vec::with_capacity(runs.len());
    for run in runs {
        match run {
            Run::Own(rules) => {
                order.push(None);
                owned.push(rules);
            }
            Run::Of { chain, start, len } => order.push(Some((chain, start, len))),
        }
    }
    // The runs as disjoint mutable slices, in the laid-out order.
    let mut rest: Vec<(usize, &mut [nft::Rule])> =
        t.chains.iter_mut().map(|c| (0, c.rules.as_mut_slice())).collect();
    let mut own = owned.iter_mut();
    let mut pieces: Vec<&mut [nft::Rule]> = Vec::with_capacity(order.len());
    for o in order {
        match o {
            None => pieces.push(own.next().expect("one owned run each").as_mut_slice()),
            Some((chain, start, len)) => {
                let (at, slice) = std::mem::take(&mut rest[chain]);
                let (_, from) = slice.split_at_mut(start - at);
                let (piece, after) = from.split_at_mut(len);
                rest[chain] = (start + len, after);
                pieces.push(piece);
            }
        }
    }
    let mut any = false;
    std::thread::scope(|scope| {
        let (ahead, made) = std::sync::mpsc::sync_channel::<Slice>(2);
        scope.spawn(move || {
            for (i, piece) in pieces.into_iter().enumerate() {
                for (k, slice) in piece.chunks_mut(UDATA_SLICE).enumerate() {
                    let udata = slice.iter().map(|r| rule_udata(r, sources)).collect();
                    if ahead.send((i, k, slice, udata)).is_err() {
                        return;
                    }
                }
            }
        });
        for (n, (i, k, slice, udata)) in made.into_iter().enumerate() {
            for (j, (r, udata)) in slice.iter_mut().zip(&udata).enumerate() {
                let index = k * UDATA_SLICE + j;
                let (chain, keyed) = (names[i].as_str(), keyed[i]);
                let at = At { table: name, chain, index, place: Place::End, keyed };
                rule_with_udata(b, &refs, at, r, udata);
                r.exprs = Vec::new();
                r.origin = Vec::new();
                any = true;
            }
            if (n + 1).is_multiple_of(SPEND_SLICES) {
                spent();
            }
        }
    });
    any
}

/// One slice of rules for [`whole_table_spending`] and their user data:
/// which laid-out chain, which slice of it.
type Slice<'r> = (usize, usize, &'r mut [nft::Rule], Vec<Vec<u8>>);

/// How many slices of rules [`whole_table_spending`] writes between two
/// calls of its `spent`.
const SPEND_SLICES: usize = 8;

/// [`whole_table`] from [`whole_table_spending`]'s arguments.
fn whole_unspent(
    b: &mut Batch,
    sources: &SourceMap,
    (policy, strategy): (&str, Strategy),
    t: &nft::Table,
    seeds: &HashMap<String, (u64, u64)>,
) -> bool {
    let ruleset = nft::Ruleset::default();
    let desired = Desired { ruleset: &ruleset, sources, policy, strategy };
    whole_table(b, &desired, t, seeds);
    false
}

/// More bytes than table `t` written whole takes: a rule of the 100k
/// blended bench takes about 500 bytes (header, user data, nine
/// expressions) against the 1,408 counted here, a map element well under
/// 128. Only the pages written become resident.
fn whole_bound(t: &nft::Table) -> usize {
    let rules: usize =
        t.chains.iter().flat_map(|c| &c.rules).map(|r| 256 + 128 * r.exprs.len()).sum();
    let elements: usize = t.sets.iter().map(|s| 256 + 128 * s.elements.len()).sum();
    rules + elements
}

/// How many rules' user data [`whole_table`] makes at a time.
const UDATA_SLICE: usize = 1024;

/// How a batch's rules name the named sets they use: by the kernel's name
/// of each (a staged set's differs from the policy's, see
/// `decode::staged`) and, for a set made in the same batch, by its id too.
#[derive(Clone, Debug, Default)]
pub(crate) struct SetRefs {
    /// The ids of the sets made in this batch, by the policy's names.
    pub ids: HashMap<String, u32>,
    /// The kernel's names that are not the policy's, by the policy's.
    pub kernel: HashMap<String, String>,
    /// The names a new balanced translation's map cannot take: the
    /// table's sets, and the maps that stay or are made in this batch
    /// (`shriek_compiler::emit::nat_map`).
    pub nat_taken: std::cell::RefCell<std::collections::HashSet<String>>,
}

impl SetRefs {
    /// The name of a new map for balanced translation `n`.
    pub fn nat_map_name(&self, n: &nft::NatStmt) -> String {
        use shriek_compiler::emit::nat_map::{base_name, fresh};
        fresh(&base_name(n), &mut self.nat_taken.borrow_mut())
    }

    pub fn id(&self, model: &str) -> Option<u32> {
        self.ids.get(model).copied()
    }

    pub fn name<'a>(&'a self, model: &'a str) -> &'a str {
        self.kernel.get(model).map_or(model, String::as_str)
    }
}

/// Where a new rule goes: its table and chain, its index in the new chain
/// (for errors), and its place among the rules already there.
#[derive(Clone, Copy, Debug)]
pub(crate) struct At<'a> {
    pub table: &'a str,
    pub chain: &'a str,
    pub index: usize,
    pub place: Place,
    /// Whether `chain` is a part keyed by the rule's protocol
    /// (`layout`): the rule goes without its first expression, `meta
    /// l4proto P`, which the link to the part says for it.
    pub keyed: bool,
}

/// Where a new rule goes in its chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Place {
    End,
    /// Just before the rule with this handle.
    Before(u64),
}

/// NEWTABLE with the marker: a table `policy` made, lowered with `strategy`.
fn new_table(b: &mut Batch, policy: &str, strategy: Strategy, name: &str) {
    let seq = b.seq(Subject::Table { table: name.into() });
    b.w.nft(NFT_MSG_NEWTABLE, NLM_F_CREATE, seq, |a| {
        a.str(NFTA_TABLE_NAME, name);
        a.u32(NFTA_TABLE_FLAGS, 0);
        a.bytes(NFTA_TABLE_USERDATA, &table_udata(policy, strategy));
    });
    b.tables += 1;
}

/// The table's record object ([`crate::decode::RECORD_OBJECT`]): the
/// policy and the strategy, in user data of the shape a table's has.
pub(crate) fn record(b: &mut Batch, desired: &Desired, table: &str) {
    let ud = record_udata(desired.policy, desired.strategy);
    counter_object(b, table, crate::decode::RECORD_OBJECT, (0, 0), Some(&ud));
}

/// A named counter object starting from `(packets, bytes)`.
pub(crate) fn counter(b: &mut Batch, table: &str, name: &str, value: (u64, u64)) {
    counter_object(b, table, name, value, None);
}

fn counter_object(
    b: &mut Batch,
    table: &str,
    name: &str,
    (packets, bytes): (u64, u64),
    userdata: Option<&[u8]>,
) {
    let seq = b.seq(Subject::Counter { table: table.into(), name: name.into() });
    b.w.nft(NFT_MSG_NEWOBJ, NLM_F_CREATE, seq, |a| {
        a.str(NFTA_OBJ_TABLE, table);
        a.str(NFTA_OBJ_NAME, name);
        a.u32(NFTA_OBJ_TYPE, NFT_OBJECT_COUNTER);
        a.nest(NFTA_OBJ_DATA, |d| {
            d.u64(NFTA_COUNTER_BYTES, bytes);
            d.u64(NFTA_COUNTER_PACKETS, packets);
        });
        if let Some(ud) = userdata {
            a.bytes(NFTA_OBJ_USERDATA, ud);
        }
    });
}

pub(crate) fn chain(b: &mut Batch, table: &str, c: &nft::Chain) {
    laid_chain(b, table, &Laid::whole(c));
}

fn laid_chain(b: &mut Batch, table: &str, c: &Laid) {
    let seq = b.seq(Subject::Chain { table: table.into(), chain: c.name.to_string() });
    b.w.nft(NFT_MSG_NEWCHAIN, NLM_F_CREATE, seq, |a| {
        a.str(NFTA_CHAIN_TABLE, table);
        a.str(NFTA_CHAIN_NAME, &c.name);
        if let Some(base) = c.base {
            base_chain(a, base);
        }
        if let Some(comment) = &c.comment {
            a.bytes(NFTA_CHAIN_USERDATA, &udata(NFTNL_UDATA_CHAIN_COMMENT, comment));
        }
    });
    b.chains += 1;
}

fn base_chain(a: &mut Attrs, base: &BaseChain) {
    let hook = match base.hook {
        Hook::Prerouting => NF_INET_PRE_ROUTING,
        Hook::Input => NF_INET_LOCAL_IN,
        Hook::Forward => NF_INET_FORWARD,
        Hook::Output => NF_INET_LOCAL_OUT,
        Hook::Postrouting => NF_INET_POST_ROUTING,
    };
    a.nest(NFTA_CHAIN_HOOK, |h| {
        h.u32(NFTA_HOOK_HOOKNUM, hook);
        h.u32(NFTA_HOOK_PRIORITY, base.priority as u32);
    });
    a.u32(
        NFTA_CHAIN_POLICY,
        match base.policy {
            ChainPolicy::Accept => NF_ACCEPT as u32,
            ChainPolicy::Drop => NF_DROP as u32,
        },
    );
    a.str(
        NFTA_CHAIN_TYPE,
        match base.kind {
            ChainKind::Filter => "filter",
            ChainKind::Nat => "nat",
            ChainKind::Route => "route",
        },
    );
}

/// Writes rule `index` of `chain`: its anonymous sets first, as its
/// matches make them, then the rule that binds them by id.
pub(crate) fn rule(b: &mut Batch, sources: &SourceMap, refs: &SetRefs, at: At, r: &nft::Rule) {
    rule_with_udata(b, refs, at, r, &rule_udata(r, sources));
}

/// [`rule`], with its user data ([`rule_udata`]) already made.
fn rule_with_udata(b: &mut Batch, refs: &SetRefs, at: At, r: &nft::Rule, udata: &[u8]) {
    let At { table, chain, index, place, keyed } = at;
    // In a keyed part the protocol match is the link's; the placement put
    // only rules that begin with it there.
    let skip = usize::from(keyed && r.single_proto().is_some());
    // The expressions go into the batch's scratch buffer first: a match
    // writes its anonymous set into the batch ahead of the rule.
    let mut exprs = std::mem::take(&mut b.scratch);
    let mut cx = RuleCx { b, table, refs, origin: &r.origin, nfproto: None, counted: false };
    exprs.rebuild(|x| {
        for e in &r.exprs[skip..] {
            expr(x, &mut cx, e);
        }
    });
    let seq = b.rule_seq(table, chain, index, &r.origin);
    // With a position and without APPEND, the kernel puts the rule before
    // that one; with APPEND and none, at the end.
    let flags = match place {
        Place::End => NLM_F_CREATE | NLM_F_APPEND,
        Place::Before(_) => NLM_F_CREATE,
    };
    b.w.nft(NFT_MSG_NEWRULE, flags, seq, |a| {
        a.str(NFTA_RULE_TABLE, table);
        a.str(NFTA_RULE_CHAIN, chain);
        if let Place::Before(handle) = place {
            a.u64(NFTA_RULE_POSITION, handle);
        }
        a.nest(NFTA_RULE_EXPRESSIONS, |x| x.append(&exprs));
        a.bytes(NFTA_RULE_USERDATA, udata);
    });
    b.scratch = exprs;
    b.rules += 1;
}

#[cfg(test)]
mod tests;
