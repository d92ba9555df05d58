//! The named map a balanced translation picks its backend from
//! (`shriek_compiler::emit::nat_map` says why it is named, and how).
//!
//! Every element counts: a NAT chain sees only the first packet of a
//! connection, so a slot's packets are the connections its backend was
//! given (`stats` shows them per backend), for one counter update per new
//! connection. The map's user data is what nft writes for `typeof numgen
//! inc mod N : ip daddr . th dport`, so that `nft list ruleset` shows its
//! type in words it reads back.

use std::net::IpAddr;

use shriek_compiler::emit::nat_map::{key_typeof, slot_elements};
use shriek_compiler::nft::{DataType, Origin, Pick};

use super::batch::Batch;
use super::seed::element_counter;
use super::set::{data_spec, emit_set, nat_value, KeySpec, SetDef};
use crate::abi::*;
use crate::msg::Buf;

/// A balanced translation's target: how it picks a slot, out of how many,
/// and which backend each slot gives.
pub(super) struct Balanced<'a> {
    pub pick: Pick,
    pub modulus: u32,
    pub slots: &'a [(u32, u32, IpAddr, Option<u16>)],
}

/// Makes map `name` for translation `t` of a rule implementing `origin`;
/// returns its id in the batch, for the rule's lookup.
pub(super) fn nat_map(
    b: &mut Batch,
    table: &str,
    name: &str,
    t: &Balanced<'_>,
    origin: &[Origin],
) -> u32 {
    let Balanced { pick, modulus, slots } = t;
    let v6 = slots.iter().any(|s| s.2.is_ipv6());
    let with_port = slots.iter().any(|s| s.3.is_some());
    let mut elements = Vec::new();
    for (slot, addr, port) in slot_elements(slots) {
        // What the backend's slots counted before goes to its first (the
        // seed is taken once).
        let count = if b.seeds.is_empty() { None } else { b.seeds.take_slot(origin, addr, port) };
        let value = nat_value(addr, port);
        elements.push(Buf::build(|a| {
            a.nest(NFTA_SET_ELEM_KEY, |k| k.bytes(NFTA_DATA_VALUE, &slot.to_ne_bytes()));
            a.nest(NFTA_SET_ELEM_DATA, |d| d.bytes(NFTA_DATA_VALUE, &value));
            if let Some(c) = count {
                element_counter(a, c);
            }
        }));
    }
    let id = b.set_id();
    emit_set(
        b,
        &SetDef {
            table,
            name,
            id,
            key: KeySpec { ty: TYPE_INTEGER, len: 4, fields: vec![4], host_order: true },
            flags: NFT_SET_MAP,
            data: Some(data_spec(DataType::NatTarget { v6, with_port })),
            comment: None,
            counters: true,
            dynamic: None,
            elements,
            origin: origin.to_vec(),
            typeof_udata: typeof_udata(*pick, *modulus, v6, with_port),
        },
    );
    id
}

/// A libnftnl TLV.
fn tlv(out: &mut Vec<u8>, ty: u8, value: &[u8]) {
    out.push(ty);
    out.push(u8::try_from(value.len()).expect("typeof TLVs are a few dozen bytes"));
    out.extend_from_slice(value);
}

fn tlv_u32(out: &mut Vec<u8>, ty: u8, v: u32) {
    tlv(out, ty, &v.to_ne_bytes());
}

/// nft's description of an expression in a set's `typeof`: its type,
/// then its own attributes.
fn typed(ty: u32, attrs: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    tlv_u32(&mut out, 0, ty);
    tlv(&mut out, 1, attrs);
    out
}

/// nft's EXPR_* numbers for the expressions of the map's `typeof`.
const EXPR_PAYLOAD: u32 = 7;
const EXPR_CONCAT: u32 = 13;
const EXPR_NUMGEN: u32 = 23;
/// nft's PROTO_DESC_* and the header fields of `ip daddr`, `ip6 daddr`
/// and `th dport`.
const IP_DADDR: (u32, u32) = (12, 12);
const IP6_DADDR: (u32, u32) = (13, 9);
const TH_DPORT: (u32, u32) = (11, 2);

fn payload((desc, field): (u32, u32)) -> Vec<u8> {
    let mut a = Vec::new();
    tlv_u32(&mut a, 0, desc);
    tlv_u32(&mut a, 1, field);
    typed(EXPR_PAYLOAD, &a)
}

/// The user data after the key's byte order: the data's byte order, the
/// key's and the data's `typeof`, and that the data are no ranges, as
/// nft 1.0.6 writes them for `typeof numgen inc mod 3 : ip daddr . th
/// dport`.
fn typeof_udata(pick: Pick, modulus: u32, v6: bool, with_port: bool) -> Vec<u8> {
    let mut ud = Vec::new();
    tlv_u32(&mut ud, NFTNL_UDATA_SET_DATABYTEORDER, if with_port { 0 } else { 2 });
    let mut numgen = Vec::new();
    // `key_typeof` says why never `jhash`.
    debug_assert!(key_typeof(pick, modulus).starts_with("numgen"));
    tlv_u32(&mut numgen, 0, u32::from(pick == Pick::Random));
    tlv_u32(&mut numgen, 1, modulus);
    tlv_u32(&mut numgen, 2, 0);
    tlv(&mut ud, NFTNL_UDATA_SET_KEY_TYPEOF, &typed(EXPR_NUMGEN, &numgen));
    let addr = payload(if v6 { IP6_DADDR } else { IP_DADDR });
    let data = if with_port {
        let mut parts = Vec::new();
        tlv(&mut parts, 0, &addr);
        tlv(&mut parts, 1, &payload(TH_DPORT));
        typed(EXPR_CONCAT, &parts)
    } else {
        addr
    };
    tlv(&mut ud, NFTNL_UDATA_SET_DATA_TYPEOF, &data);
    tlv_u32(&mut ud, NFTNL_UDATA_SET_DATA_INTERVAL, 0);
    ud
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Byte for byte what nft 1.0.6 writes for `typeof numgen inc mod 3 :
    /// ip daddr . th dport` after the key's byte order (`nft --debug=mnl`).
    #[test]
    fn the_typeof_is_what_nft_writes() {
        let want = "01 04 00 00 00 00 03 1a 00 04 17 00 00 00 01 12 00 04 00 00 00 00 01 04 \
                    03 00 00 00 02 04 00 00 00 00 04 34 00 04 0d 00 00 00 01 2c 00 14 00 04 \
                    07 00 00 00 01 0c 00 04 0c 00 00 00 01 04 0c 00 00 00 01 14 00 04 07 00 \
                    00 00 01 0c 00 04 0b 00 00 00 01 04 02 00 00 00 06 04 00 00 00 00";
        let got = typeof_udata(Pick::RoundRobin, 3, false, true);
        let got: Vec<String> = got.iter().map(|b| format!("{b:02x}")).collect();
        if cfg!(target_endian = "little") {
            assert_eq!(got.join(" "), want.split_whitespace().collect::<Vec<_>>().join(" "));
        }
    }
}
