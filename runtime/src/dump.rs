//! Reading one table's state from the kernel as it describes it: the
//! attribute bytes of the table, its objects, chains, sets with their
//! elements, and rules. `plan` decodes a dump into the nft model
//! (`decode`); `snapshot` keeps dumps to put the tables back byte for
//! byte. Neither knows about the other: both stand on this.

use nix::errno::Errno;

use crate::abi::*;
use crate::cache::TableCache;
use crate::error::RuntimeError;
use crate::msg;
use crate::socket::{errno_err, Socket};

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
    /// The elements came from the day-2 cache, without their counters.
    pub cached: bool,
}

pub(crate) fn dump_table(sock: &mut Socket, name: &str) -> Result<TableDump, RuntimeError> {
    dump(sock, name, false, None)
}

/// Like [`dump_table`], taking each set's elements from `cache` where it
/// holds them for the set as the kernel describes it now (see `cache`).
pub(crate) fn dump_table_cached(
    sock: &mut Socket,
    name: &str,
    cache: Option<&TableCache>,
) -> Result<TableDump, RuntimeError> {
    dump(sock, name, false, cache)
}

/// Like [`dump_table`]; with `reset`, the kernel zeroes every counter it
/// reports (of rules, set elements and counter objects) in the same step
/// (GETRULE_RESET, GETSETELEM_RESET, GETOBJ_RESET), so no packet counted
/// in between is lost. `stats --reset` reads this way.
pub(crate) fn dump_table_resetting(
    sock: &mut Socket,
    name: &str,
    reset: bool,
) -> Result<TableDump, RuntimeError> {
    dump(sock, name, reset, None)
}

fn dump(
    sock: &mut Socket,
    name: &str,
    reset: bool,
    cache: Option<&TableCache>,
) -> Result<TableDump, RuntimeError> {
    let (rule_ty, elem_ty, obj_ty) = if reset {
        (NFT_MSG_GETRULE_RESET, NFT_MSG_GETSETELEM_RESET, NFT_MSG_GETOBJ_RESET)
    } else {
        (NFT_MSG_GETRULE, NFT_MSG_GETSETELEM, NFT_MSG_GETOBJ)
    };
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
    dump.objects = list(sock, obj_ty, NFTA_OBJ_TABLE)?;
    dump.chains = list(sock, NFT_MSG_GETCHAIN, NFTA_CHAIN_TABLE)?;
    dump.rules = rules(sock, name, &dump.chains, rule_ty)?;
    for attrs in list(sock, NFT_MSG_GETSET, NFTA_SET_TABLE)? {
        let set = msg::attr_str(&attrs, NFTA_SET_NAME).unwrap_or_default();
        if let Some(elements) = cache.and_then(|c| c.elements(&set, &attrs)) {
            dump.sets.push(SetDump { attrs, name: set, elements, cached: true });
            continue;
        }
        let elements = sock
            .request(elem_ty, NLM_F_DUMP, |a| {
                a.str(NFTA_SET_ELEM_LIST_TABLE, name);
                a.str(NFTA_SET_ELEM_LIST_SET, &set);
            })?
            .map_err(errno_err("dump"))?;
        dump.sets.push(SetDump { attrs, name: set, elements, cached: false });
    }
    Ok(dump)
}

/// The most chains whose rules are dumped chain by chain.
const CHAIN_DUMPS: usize = 1024;

/// The rules of table `name`, chain by chain: a dump comes in 32 KiB
/// pieces and the kernel starts each piece by walking from the first rule
/// it dumps, which is the table's first for a table-wide dump, so dumping
/// a long table at once is quadratic; a chain at a time, each piece walks
/// one chain, which `layout` keeps short. Past [`CHAIN_DUMPS`] chains the
/// requests would cost more than the walk, and one dump reads them all.
fn rules(
    sock: &mut Socket,
    name: &str,
    chains: &[Vec<u8>],
    rule_ty: u16,
) -> Result<Vec<Vec<u8>>, RuntimeError> {
    let dump = |sock: &mut Socket, chain: Option<&str>| -> Result<Vec<Vec<u8>>, RuntimeError> {
        let msgs = sock
            .request(rule_ty, NLM_F_DUMP, |a| {
                a.str(NFTA_RULE_TABLE, name);
                if let Some(chain) = chain {
                    a.str(NFTA_RULE_CHAIN, chain);
                }
            })?
            .map_err(errno_err("dump"))?;
        // Older kernels ignore the filter: keep only this table's (chain's).
        Ok(msgs
            .into_iter()
            .filter(|m| msg::attr_str(m, NFTA_RULE_TABLE).as_deref() == Some(name))
            .filter(|m| chain.is_none() || msg::attr_str(m, NFTA_RULE_CHAIN).as_deref() == chain)
            .collect())
    };
    if chains.len() > CHAIN_DUMPS {
        return dump(sock, None);
    }
    let mut out = Vec::new();
    for c in chains {
        let chain = msg::attr_str(c, NFTA_CHAIN_NAME).unwrap_or_default();
        out.extend(dump(sock, Some(&chain))?);
    }
    Ok(out)
}
