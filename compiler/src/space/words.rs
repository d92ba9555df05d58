//! The language's own words for the values of a space's fields: one home
//! for the spelling of a protocol, a family, an address range and a list,
//! wherever packets are shown as `.shr` matches (the analysis's labels in
//! `analysis/describe.rs`, the semantic diff's classes in
//! `diff/semantic/words.rs`, the importers' rules). How much of a field to
//! write out, and in which order, is the caller's to choose.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::Family;
use crate::nft::vocab::PROTOCOLS;

/// The language's word for a protocol number, or the number.
pub fn proto(p: u8) -> String {
    PROTOCOLS.iter().find(|(_, n)| *n == p).map_or_else(|| p.to_string(), |(w, _)| w.to_string())
}

/// `ipv4` or `ipv6`, as `family` takes it.
pub fn family(f: Family) -> &'static str {
    match f {
        Family::V4 => "ipv4",
        Family::V6 => "ipv6",
    }
}

/// One address of family `f`.
pub fn addr(v: u128, f: Family) -> String {
    match f {
        Family::V4 => Ipv4Addr::from(v as u32).to_string(),
        Family::V6 => Ipv6Addr::from(v).to_string(),
    }
}

/// Addresses `lo..=hi` as one address, a prefix where they are one, or a
/// range.
pub fn addr_range(lo: u128, hi: u128, f: Family) -> String {
    let bits = if f == Family::V4 { 32 } else { 128 };
    match prefix_len(lo, hi, bits) {
        Some(len) if len == bits => addr(lo, f),
        Some(len) => format!("{}/{len}", addr(lo, f)),
        None => format!("{}-{}", addr(lo, f), addr(hi, f)),
    }
}

/// Values `lo..=hi` as one value or `lo-hi`, each written by `show`.
pub fn range(lo: u128, hi: u128, show: impl Fn(u128) -> String) -> String {
    if lo == hi {
        show(lo)
    } else {
        format!("{}-{}", show(lo), show(hi))
    }
}

/// `{ a, b }`, or the one item alone.
pub fn list(mut items: Vec<String>) -> String {
    if items.len() == 1 {
        return items.remove(0);
    }
    format!("{{ {} }}", items.join(", "))
}

/// The prefix length when `lo..=hi` is exactly one prefix of a
/// `bits`-wide address.
pub fn prefix_len(lo: u128, hi: u128, bits: u32) -> Option<u32> {
    let size = hi.checked_sub(lo)?.checked_add(1);
    let host_bits = match size {
        None => 128,
        Some(s) if s.is_power_of_two() => s.trailing_zeros(),
        Some(_) => return None,
    };
    if host_bits > bits || (host_bits < 128 && lo & ((1u128 << host_bits) - 1) != 0) {
        return None;
    }
    Some(bits - host_bits)
}
