//! Named counters: read them, or read and zero them in one step.

use crate::abi::*;
use crate::error::RuntimeError;
use crate::msg;
use crate::socket::{errno_err, Socket};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CounterValue {
    pub table: String,
    pub name: String,
    pub packets: u64,
    pub bytes: u64,
}

/// Reads each named counter `(table, counter)`. With `reset`, the kernel
/// zeroes each as it reads it (NFT_MSG_GETOBJ_RESET), so no packet counted
/// in between is lost.
pub fn read_counters(
    counters: &[(String, String)],
    reset: bool,
    netns: Option<&str>,
) -> Result<Vec<CounterValue>, RuntimeError> {
    let mut sock = Socket::open(netns)?;
    let ty = if reset { NFT_MSG_GETOBJ_RESET } else { NFT_MSG_GETOBJ };
    let mut out = Vec::new();
    for (table, name) in counters {
        let msgs = sock
            .request(ty, 0, |a| {
                a.str(NFTA_OBJ_TABLE, table);
                a.str(NFTA_OBJ_NAME, name);
                a.u32(NFTA_OBJ_TYPE, NFT_OBJECT_COUNTER);
            })?
            .map_err(|e| match e {
                nix::errno::Errno::ENOENT => RuntimeError::Io {
                    what: "counter read",
                    reason: format!(
                        "there is no counter `{name}` in table `{table}`; apply the policy first"
                    ),
                },
                e => errno_err("counter read")(e),
            })?;
        let data = msgs.iter().find_map(|m| msg::attr(m, NFTA_OBJ_DATA)).unwrap_or(&[]);
        out.push(CounterValue {
            table: table.clone(),
            name: name.clone(),
            packets: msg::attr_u64(data, NFTA_COUNTER_PACKETS).unwrap_or(0),
            bytes: msg::attr_u64(data, NFTA_COUNTER_BYTES).unwrap_or(0),
        });
    }
    Ok(out)
}
