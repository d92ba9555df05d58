//! Expressions the register machine has no word for (`fib`, `socket`,
//! `exthdr`, ... added by hand): which register each one writes, so that
//! a compare after it is never read as a compare of an older load.

use super::{Machine, Val};
use crate::abi::*;
use crate::msg::attr;

impl Machine<'_> {
    /// After an expression the machine has no word for: what it loaded
    /// is named by its kind, so that a compare after it reads as a compare
    /// of that kind, never of an older load in the same register. An
    /// expression of a kind not known to load into one register may have
    /// written any: all are forgotten.
    pub(super) fn clobber(&mut self, name: &str, d: &[u8]) {
        let dreg = match name {
            "fib" => NFTA_FIB_DREG,
            "rt" => NFTA_RT_DREG,
            "socket" => NFTA_SOCKET_DREG,
            "osf" => NFTA_OSF_DREG,
            "exthdr" => NFTA_EXTHDR_DREG,
            "xfrm" => NFTA_XFRM_DREG,
            "tunnel" => NFTA_TUNNEL_DREG,
            "meta" => NFTA_META_DREG,
            "ct" => NFTA_CT_DREG,
            "payload" => NFTA_PAYLOAD_DREG,
            "immediate" => NFTA_IMMEDIATE_DREG,
            "bitwise" => NFTA_BITWISE_DREG,
            "byteorder" => NFTA_BYTEORDER_DREG,
            "lookup" => NFTA_LOOKUP_DREG,
            "numgen" => NFTA_NG_DREG,
            "hash" => NFTA_HASH_DREG,
            // Expressions that only read registers or write none.
            "cmp" | "range" | "counter" | "log" | "limit" | "quota" | "reject" | "nat" | "masq"
            | "redir" | "notrack" | "queue" | "dup" | "fwd" | "objref" | "connlimit"
            | "synproxy" | "tproxy" | "dynset" | "last" | "flow_offload" => return,
            _ => {
                self.regs.clear();
                return;
            }
        };
        if attr(d, dreg).is_some() {
            let _ = self.set_reg(d, dreg, Val::Other(format!("[{name}]")));
        }
    }
}
