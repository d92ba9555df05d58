//! Messages that change what already exists: deletions by name or handle,
//! and a base chain's policy changed in place. `apply` orders them around
//! the additions so that nothing is deleted while something still uses it.

use shriek_compiler::ir::ChainPolicy;

use super::batch::{Batch, Subject};
use crate::abi::*;

/// Deletes rule `handle` (rule `index` of its chain, for errors).
pub(crate) fn delete_rule(b: &mut Batch, table: &str, chain: &str, index: usize, handle: u64) {
    let seq = b.seq(Subject::Rule {
        table: table.into(),
        chain: chain.into(),
        index,
        origin: Vec::new(),
    });
    b.w.nft(NFT_MSG_DELRULE, 0, seq, |a| {
        a.str(NFTA_RULE_TABLE, table);
        a.str(NFTA_RULE_CHAIN, chain);
        a.u64(NFTA_RULE_HANDLE, handle);
    });
}

/// Deletes every rule of a chain (DELRULE naming the chain and no rule),
/// and the chain stays.
pub(crate) fn flush_chain(b: &mut Batch, table: &str, chain: &str) {
    let seq = b.seq(Subject::Chain { table: table.into(), chain: chain.into() });
    b.w.nft(NFT_MSG_DELRULE, 0, seq, |a| {
        a.str(NFTA_RULE_TABLE, table);
        a.str(NFTA_RULE_CHAIN, chain);
    });
}

/// Deletes a chain; the kernel deletes its rules with it, and refuses
/// while a rule or map element elsewhere still jumps to it.
pub(crate) fn delete_chain(b: &mut Batch, table: &str, chain: &str) {
    let seq = b.seq(Subject::Chain { table: table.into(), chain: chain.into() });
    b.w.nft(NFT_MSG_DELCHAIN, 0, seq, |a| {
        a.str(NFTA_CHAIN_TABLE, table);
        a.str(NFTA_CHAIN_NAME, chain);
    });
}

pub(crate) fn delete_set(b: &mut Batch, table: &str, set: &str) {
    let seq = b.seq(Subject::Set { table: table.into(), set: set.into() });
    b.w.nft(NFT_MSG_DELSET, 0, seq, |a| {
        a.str(NFTA_SET_TABLE, table);
        a.str(NFTA_SET_NAME, set);
    });
}

pub(crate) fn delete_counter(b: &mut Batch, table: &str, name: &str) {
    let seq = b.seq(Subject::Counter { table: table.into(), name: name.into() });
    b.w.nft(NFT_MSG_DELOBJ, 0, seq, |a| {
        a.str(NFTA_OBJ_TABLE, table);
        a.str(NFTA_OBJ_NAME, name);
        a.u32(NFTA_OBJ_TYPE, NFT_OBJECT_COUNTER);
    });
}

/// Deletes a table with everything in it.
pub(crate) fn delete_table(b: &mut Batch, table: &str) {
    let seq = b.seq(Subject::Table { table: table.into() });
    b.w.nft(NFT_MSG_DELTABLE, 0, seq, |a| a.str(NFTA_TABLE_NAME, table));
}

/// Changes a base chain's policy in place: the kernel takes NEWCHAIN on a
/// chain that exists as an update.
pub(crate) fn chain_policy(b: &mut Batch, table: &str, chain: &str, policy: ChainPolicy) {
    let seq = b.seq(Subject::Chain { table: table.into(), chain: chain.into() });
    b.w.nft(NFT_MSG_NEWCHAIN, 0, seq, |a| {
        a.str(NFTA_CHAIN_TABLE, table);
        a.str(NFTA_CHAIN_NAME, chain);
        a.u32(
            NFTA_CHAIN_POLICY,
            match policy {
                ChainPolicy::Accept => NF_ACCEPT as u32,
                ChainPolicy::Drop => NF_DROP as u32,
            },
        );
    });
}
