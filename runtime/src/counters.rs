//! Named counters: read them, or read and zero them in one step.

use crate::abi::*;
use crate::error::RuntimeError;
use crate::msg;
use crate::socket::{errno_err, Socket};

/// Packets and bytes: the value of one counter, or a sum of several.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Count {
    pub packets: u64,
    pub bytes: u64,
}

impl std::ops::AddAssign for Count {
    fn add_assign(&mut self, o: Count) {
        self.packets = self.packets.saturating_add(o.packets);
        self.bytes = self.bytes.saturating_add(o.bytes);
    }
}

impl Count {
    /// The values in a counter's data (NFTA_EXPR_DATA of a `counter`
    /// expression, or NFTA_OBJ_DATA of a counter object).
    pub(crate) fn from_data(d: &[u8]) -> Count {
        Count {
            packets: msg::attr_u64(d, NFTA_COUNTER_PACKETS).unwrap_or(0),
            bytes: msg::attr_u64(d, NFTA_COUNTER_BYTES).unwrap_or(0),
        }
    }

    /// The values of a `counter` expression (NFTA_EXPR_NAME and
    /// NFTA_EXPR_DATA); `None` for any other expression.
    pub(crate) fn of_expr(e: &[u8]) -> Option<Count> {
        (msg::attr_str(e, NFTA_EXPR_NAME)? == "counter")
            .then(|| Count::from_data(msg::attr(e, NFTA_EXPR_DATA).unwrap_or(&[])))
    }
}

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
        let Count { packets, bytes } = Count::from_data(data);
        out.push(CounterValue { table: table.clone(), name: name.clone(), packets, bytes });
    }
    Ok(out)
}
