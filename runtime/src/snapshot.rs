//! Reading tables back, and putting them back exactly.
//!
//! A [`Snapshot`] keeps the kernel's own dump of each table (the attribute
//! bytes of its table, objects, chains, sets, elements and rules). Restoring
//! re-sends them as NEW* messages, less handles and use counts, in one
//! batch after deleting the table: byte-for-byte what the kernel described,
//! counters' values included. A table that did not exist is deleted.
//!
//! A snapshot also goes to a file and back ([`Snapshot::to_bytes`],
//! [`Snapshot::from_bytes`]), so that the process that rolls back need not
//! be the one that took it: `apply --confirm`'s guard outlives `shriekc`.

use crate::abi::*;
use crate::apply::send_batch;
use crate::dump::{dump_table, SetDump, TableDump};
use crate::encode::{Batch, Subject};
use crate::error::RuntimeError;
use crate::msg;
use crate::socket::Socket;

/// Set attributes the kernel reports but refuses in NEWSET: the handle,
/// and newer kernels' backend name and element count (19 and 20).
const SET_DUMP_ONLY: &[u16] = &[NFTA_SET_HANDLE, 19, 20];

/// The state of some tables at one moment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub(crate) tables: Vec<TableDump>,
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

/// The first bytes of a saved snapshot, with the format's version.
const MAGIC: &[u8] = b"shriek-snapshot 1\n";

impl Snapshot {
    /// The snapshot as bytes for a file: a header, then per table its name
    /// and each kernel dump, every piece length-prefixed (u32, little
    /// endian).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        let blob = |out: &mut Vec<u8>, b: &[u8]| {
            out.extend_from_slice(&(b.len() as u32).to_le_bytes());
            out.extend_from_slice(b);
        };
        let list = |out: &mut Vec<u8>, l: &[Vec<u8>]| {
            out.extend_from_slice(&(l.len() as u32).to_le_bytes());
            for b in l {
                blob(out, b);
            }
        };
        out.extend_from_slice(&(self.tables.len() as u32).to_le_bytes());
        for t in &self.tables {
            blob(&mut out, t.name.as_bytes());
            let Some(table) = &t.table else {
                out.push(0);
                continue;
            };
            out.push(1);
            blob(&mut out, table);
            list(&mut out, &t.objects);
            list(&mut out, &t.chains);
            out.extend_from_slice(&(t.sets.len() as u32).to_le_bytes());
            for set in &t.sets {
                blob(&mut out, &set.attrs);
                blob(&mut out, set.name.as_bytes());
                list(&mut out, &set.elements);
            }
            list(&mut out, &t.rules);
        }
        out
    }

    /// Reads back what [`Snapshot::to_bytes`] wrote; anything else (another
    /// version, a cut-off file) is an error, never a partial snapshot.
    pub fn from_bytes(bytes: &[u8]) -> Result<Snapshot, String> {
        let mut r =
            Reader { rest: bytes.strip_prefix(MAGIC).ok_or_else(|| bad("no snapshot header"))? };
        let mut tables = Vec::new();
        for _ in 0..r.u32()? {
            let name = r.text()?;
            let mut dump = TableDump {
                name,
                table: None,
                objects: Vec::new(),
                chains: Vec::new(),
                sets: Vec::new(),
                rules: Vec::new(),
            };
            if r.byte()? == 1 {
                dump.table = Some(r.blob()?);
                dump.objects = r.list()?;
                dump.chains = r.list()?;
                for _ in 0..r.u32()? {
                    let attrs = r.blob()?;
                    let name = r.text()?;
                    dump.sets.push(SetDump { attrs, name, elements: r.list()?, cached: false });
                }
                dump.rules = r.list()?;
            }
            tables.push(dump);
        }
        if !r.rest.is_empty() {
            return Err(bad("bytes after the last table"));
        }
        Ok(Snapshot { tables })
    }
}

fn bad(why: &str) -> String {
    format!("not a snapshot shriekc wrote: {why}")
}

struct Reader<'a> {
    rest: &'a [u8],
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], String> {
        if self.rest.len() < n {
            return Err(bad("the file is cut off"));
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    fn byte(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }

    fn u32(&mut self) -> Result<u32, String> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn blob(&mut self) -> Result<Vec<u8>, String> {
        let n = self.u32()? as usize;
        Ok(self.take(n)?.to_vec())
    }

    fn text(&mut self) -> Result<String, String> {
        String::from_utf8(self.blob()?).map_err(|_| bad("a name is not UTF-8"))
    }

    fn list(&mut self) -> Result<Vec<Vec<u8>>, String> {
        (0..self.u32()?).map(|_| self.blob()).collect()
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

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Snapshot {
        Snapshot {
            tables: vec![
                TableDump {
                    name: "filter".into(),
                    table: Some(vec![1, 2, 3]),
                    objects: vec![vec![4], vec![]],
                    chains: vec![vec![5, 6]],
                    sets: vec![SetDump {
                        attrs: vec![7],
                        name: "web".into(),
                        elements: vec![vec![8, 9], vec![10]],
                        cached: false,
                    }],
                    rules: vec![vec![11; 300]],
                },
                TableDump {
                    name: "gone".into(),
                    table: None,
                    objects: Vec::new(),
                    chains: Vec::new(),
                    sets: Vec::new(),
                    rules: Vec::new(),
                },
            ],
        }
    }

    #[test]
    fn bytes_round_trip() {
        let s = sample();
        assert_eq!(Snapshot::from_bytes(&s.to_bytes()).unwrap(), s);
        assert_eq!(
            Snapshot::from_bytes(&Snapshot::default().to_bytes()).unwrap(),
            Snapshot::default()
        );
    }

    #[test]
    fn a_cut_or_foreign_file_is_an_error() {
        let bytes = sample().to_bytes();
        for cut in [0, MAGIC.len(), MAGIC.len() + 3, bytes.len() - 1] {
            assert!(Snapshot::from_bytes(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(Snapshot::from_bytes(&longer).is_err());
        let err = Snapshot::from_bytes(b"{\"tables\": []}").unwrap_err();
        assert_eq!(err, "not a snapshot shriekc wrote: no snapshot header");
    }
}
