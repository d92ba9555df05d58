//! Reading tables back, and putting them back exactly.
//!
//! A [`Snapshot`] keeps the kernel's own dump of each table (the attribute
//! bytes of its table, objects, chains, sets, elements and rules). Restoring
//! re-sends them as NEW* messages, less handles and use counts, in one
//! batch after deleting the table: byte-for-byte what the kernel described,
//! counters' values included. A table that did not exist is deleted.

use crate::abi::*;
use crate::apply::send_batch;
use crate::encode::{Batch, Subject};
use nix::errno::Errno;

use crate::error::RuntimeError;
use crate::msg;
use crate::socket::{errno_err, Socket};

/// Set attributes the kernel reports but refuses in NEWSET: the handle,
/// and newer kernels' backend name and element count (19 and 20).
const SET_DUMP_ONLY: &[u16] = &[NFTA_SET_HANDLE, 19, 20];

/// The state of some tables at one moment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub(crate) tables: Vec<TableDump>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct TableDump {
    pub name: String,
    /// `None` when the table did not exist.
    pub table: Option<Vec<u8>>,
    pub objects: Vec<Vec<u8>>,
    pub chains: Vec<Vec<u8>>,
    pub sets: Vec<SetDump>,
    pub rules: Vec<Vec<u8>>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SetDump {
    pub attrs: Vec<u8>,
    pub name: String,
    /// Each GETSETELEM answer's attributes.
    pub elements: Vec<Vec<u8>>,
}

impl Snapshot {
    /// Names of the tables it covers.
    pub fn table_names(&self) -> impl Iterator<Item = &str> {
        self.tables.iter().map(|t| t.name.as_str())
    }

    /// Whether table `name` existed when the snapshot was taken.
    pub fn existed(&self, name: &str) -> bool {
        self.tables.iter().any(|t| t.name == name && t.table.is_some())
    }
}

/// Reads the current state of these `inet` tables.
pub fn snapshot_tables(names: &[String], netns: Option<&str>) -> Result<Snapshot, RuntimeError> {
    let mut sock = Socket::open(netns)?;
    let mut tables = Vec::new();
    for name in names {
        tables.push(dump_table(&mut sock, name)?);
    }
    Ok(Snapshot { tables })
}

pub(crate) fn dump_table(sock: &mut Socket, name: &str) -> Result<TableDump, RuntimeError> {
    let table = match sock.request(NFT_MSG_GETTABLE, 0, |a| a.str(NFTA_TABLE_NAME, name))? {
        Err(Errno::ENOENT) => None,
        Err(e) => return Err(errno_err("reading a table")(e)),
        Ok(mut msgs) => msgs.pop(),
    };
    let mut dump = TableDump {
        name: name.to_string(),
        table,
        objects: Vec::new(),
        chains: Vec::new(),
        sets: Vec::new(),
        rules: Vec::new(),
    };
    if dump.table.is_none() {
        return Ok(dump);
    }
    let list =
        |sock: &mut Socket, ty: u16, table_attr: u16| -> Result<Vec<Vec<u8>>, RuntimeError> {
            let msgs = sock
                .request(ty, NLM_F_DUMP, |a| a.str(table_attr, name))?
                .map_err(errno_err("dump"))?;
            // Older kernels ignore the filter: keep only this table's.
            Ok(msgs
                .into_iter()
                .filter(|m| msg::attr_str(m, table_attr).as_deref() == Some(name))
                .collect())
        };
    dump.objects = list(sock, NFT_MSG_GETOBJ, NFTA_OBJ_TABLE)?;
    dump.chains = list(sock, NFT_MSG_GETCHAIN, NFTA_CHAIN_TABLE)?;
    dump.rules = list(sock, NFT_MSG_GETRULE, NFTA_RULE_TABLE)?;
    for attrs in list(sock, NFT_MSG_GETSET, NFTA_SET_TABLE)? {
        let set = msg::attr_str(&attrs, NFTA_SET_NAME).unwrap_or_default();
        let elements = sock
            .request(NFT_MSG_GETSETELEM, NLM_F_DUMP, |a| {
                a.str(NFTA_SET_ELEM_LIST_TABLE, name);
                a.str(NFTA_SET_ELEM_LIST_SET, &set);
            })?
            .map_err(errno_err("dump"))?;
        dump.sets.push(SetDump { attrs, name: set, elements });
    }
    Ok(dump)
}

/// Puts the snapshot's tables back as they were, in one batch: tables that
/// did not exist are deleted, the others rebuilt from their dump.
pub fn restore(snapshot: &Snapshot, netns: Option<&str>) -> Result<(), RuntimeError> {
    let mut sock = Socket::open(netns)?;
    let genid = sock.genid()?;
    let mut b = Batch::begin(sock.next_seq(), Some(genid));
    for t in &snapshot.tables {
        b.clear_table(&t.name);
        let Some(table) = &t.table else { continue };
        let seq = b.seq(Subject::Table { table: t.name.clone() });
        b.w.nft(NFT_MSG_NEWTABLE, NLM_F_CREATE, seq, |a| {
            a.copy_from(table, &[NFTA_TABLE_HANDLE, NFTA_TABLE_USE, NFTA_TABLE_OWNER])
        });
        let table = || t.name.clone();
        for o in &t.objects {
            let name = msg::attr_str(o, NFTA_OBJ_NAME).unwrap_or_default();
            let seq = b.seq(Subject::Counter { table: table(), name });
            b.w.nft(NFT_MSG_NEWOBJ, NLM_F_CREATE, seq, |a| {
                a.copy_from(o, &[NFTA_OBJ_HANDLE, NFTA_OBJ_USE])
            });
        }
        for c in &t.chains {
            let chain = msg::attr_str(c, NFTA_CHAIN_NAME).unwrap_or_default();
            let seq = b.seq(Subject::Chain { table: table(), chain });
            b.w.nft(NFT_MSG_NEWCHAIN, NLM_F_CREATE, seq, |a| {
                a.copy_from(c, &[NFTA_CHAIN_HANDLE, NFTA_CHAIN_USE])
            });
        }
        for s in &t.sets {
            let id = b.set_id();
            let seq = b.seq(Subject::Set { table: table(), set: s.name.clone() });
            b.w.nft(NFT_MSG_NEWSET, NLM_F_CREATE, seq, |a| {
                // An empty description is what the kernel dumps for a set
                // without one, and what it refuses to be given.
                let empty_desc = msg::attr(&s.attrs, NFTA_SET_DESC).is_some_and(|d| d.is_empty());
                let mut skip = SET_DUMP_ONLY.to_vec();
                if empty_desc {
                    skip.push(NFTA_SET_DESC);
                }
                a.copy_from(&s.attrs, &skip);
                // The kernel requires an id on every new set.
                a.u32(NFTA_SET_ID, id);
            });
            for e in &s.elements {
                let set = s.name.clone();
                let seq = b.seq(Subject::Elements { table: table(), set, origin: Vec::new() });
                b.w.nft(NFT_MSG_NEWSETELEM, NLM_F_CREATE, seq, |a| a.copy_from(e, &[]));
            }
        }
        let mut per_chain = std::collections::HashMap::new();
        for r in &t.rules {
            let chain = msg::attr_str(r, NFTA_RULE_CHAIN).unwrap_or_default();
            let index = per_chain.entry(chain.clone()).or_insert(0usize);
            *index += 1;
            let index = *index - 1;
            let seq = b.seq(Subject::Rule { table: table(), chain, index, origin: Vec::new() });
            b.w.nft(NFT_MSG_NEWRULE, NLM_F_CREATE | NLM_F_APPEND, seq, |a| {
                a.copy_from(r, &[NFTA_RULE_HANDLE, NFTA_RULE_POSITION])
            });
        }
    }
    b.end();
    send_batch(&mut sock, &b)
}
