//! Values new counters start from: what `apply` carries over from the
//! counters its batch deletes (`apply/carry.rs`). The encoder takes each
//! value as it writes the object it is for, so each is given once; with
//! nothing to carry, nothing here is looked at and the messages are what
//! they always were. The kernel takes a counter expression's
//! NFTA_COUNTER_PACKETS and NFTA_COUNTER_BYTES as its starting values, in
//! a rule and in a set element alike.

use std::collections::HashMap;
use std::net::IpAddr;

use shriek_compiler::ir::RuleId;
use shriek_compiler::nft::Origin;

use crate::abi::*;
use crate::counters::Count;
use crate::msg::Attrs;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Seeds {
    /// Per source rule: what its deleted counters held beyond the elements
    /// of [`Seeds::elements`], for the first new counter of the rule that
    /// the batch writes (a rule's first anonymous counter, which `stats`
    /// reads as its count, or one of its map elements).
    pub rules: HashMap<RuleId, Count>,
    /// Per source rule, set (the policy's name) and element key (as the
    /// kernel holds it): a deleted element's count, for the new element of
    /// the same rule, set and key.
    pub elements: HashMap<(RuleId, String, Vec<u8>), Count>,
    /// Per balanced translation's rule and backend: the connections its
    /// deleted NAT map's slots counted, for the backend's first slot in the
    /// rule's new map.
    pub backends: HashMap<(RuleId, IpAddr, Option<u16>), Count>,
    /// Per table, backend-counting set and key: a deleted element's count.
    pub traffic: HashMap<(String, String, Vec<u8>), Count>,
}

impl Seeds {
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
            && self.elements.is_empty()
            && self.backends.is_empty()
            && self.traffic.is_empty()
    }

    /// The starting value of the per-rule counter of a new nft rule that
    /// implements `origin`.
    pub fn take_rule(&mut self, origin: &[Origin]) -> Option<Count> {
        let [o] = origin else { return None };
        self.rules.remove(&o.rule)
    }

    /// The starting value of a new element of counting set `set` of table
    /// `table` with kernel key `key`, implementing `origin`: the element
    /// it replaces, and what else the rule had to carry; `backends` for a
    /// set that counts balanced backends' traffic rather than rules.
    pub fn take_element(
        &mut self,
        (table, set): (&str, &str),
        backends: bool,
        key: Vec<u8>,
        origin: &[Origin],
    ) -> Option<Count> {
        if backends {
            return self.traffic.remove(&(table.to_string(), set.to_string(), key));
        }
        let [o] = origin else { return None };
        let exact = self.elements.remove(&(o.rule, set.to_string(), key));
        match (exact, self.rules.remove(&o.rule)) {
            (Some(mut a), Some(b)) => {
                a += b;
                Some(a)
            }
            (a, b) => a.or(b),
        }
    }

    /// The starting value of slot `slot`'s element in the new NAT map of
    /// `origin`'s balanced translation, given to `addr`/`port`.
    pub fn take_slot(
        &mut self,
        origin: &[Origin],
        addr: IpAddr,
        port: Option<u16>,
    ) -> Option<Count> {
        let [o] = origin else { return None };
        self.backends.remove(&(o.rule, addr, port))
    }
}

/// A counter expression's data starting from `c`.
pub(super) fn counter_data(d: &mut Attrs, c: Count) {
    d.u64(NFTA_COUNTER_BYTES, c.bytes);
    d.u64(NFTA_COUNTER_PACKETS, c.packets);
}

/// An element's own counter starting from `c` (NFTA_SET_ELEM_EXPR; the
/// set's one expression is a counter, so the kernel takes it in place of
/// the zeroed copy it would make).
pub(super) fn element_counter(a: &mut Attrs, c: Count) {
    a.nest(NFTA_SET_ELEM_EXPR, |e| {
        e.str(NFTA_EXPR_NAME, "counter");
        e.nest(NFTA_EXPR_DATA, |d| counter_data(d, c));
    });
}
