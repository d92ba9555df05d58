//! Rule identity, a written contract: what makes two nft rules "the same
//! rule" for `plan`, `apply` and `diff`.
//!
//! A rule's identity is the 64-bit FNV-1a hash of its *canonical encoding*:
//! a versioned byte string written here on purpose, field by field, from
//! the rule's expressions. It never comes from a derived trait (`Debug`
//! output would change with any refactoring), and a test pins the encoding
//! of a fixed set of rules, so an accidental change fails the build. A
//! deliberate change bumps [`ENCODING_VERSION`].
//!
//! What the encoding keeps is what the rule does; what it leaves out is
//! where the rule came from. Two rules have the same identity exactly when
//! they match the same packets with the same tests and do the same things
//! in the same order, however they were written down:
//!
//! - matches that stand together (no statement between them) are a
//!   conjunction, in any order: their encodings are sorted. nft's listing
//!   drops a protocol match that a later test implies and its loading puts
//!   it back just before that test, so a ruleset saved with `nft list
//!   ruleset` and loaded again holds the same matches in another order;
//! - the rule's origin (file, line, policy rule index) is not part of it,
//!   so a rule that only moved in the source keeps its identity;
//! - a `meta nfproto F` match is left out when the rule also loads an
//!   address of family F, which implies it (the kernel form carries the
//!   check either way, so a rule read back cannot tell them apart);
//! - a set of one element is that element as a value; a set's elements
//!   are sorted, and integer ranges of a one-field set merged where they
//!   touch, since the kernel keeps them in an order of its own;
//! - `ct state` values, sets and flags are all the bitmask they admit
//!   (a packet has exactly one conntrack state);
//! - a `limit` without a burst has the kernel's default burst of 5;
//! - a NAT statement has the family the kernel is given, and balanced NAT
//!   slots are merged runs of one backend.
//!
//! The kernel never sees the identity as such: `apply` stores it in each
//! rule's user data as a cross-check, and `plan` recomputes it from the
//! rule it reads back, so rules loaded with `nft -f` from `compile` output
//! are recognised too.

use std::fmt;
use std::net::IpAddr;

use crate::ir::{Limit, MeterTest, RateUnit, RejectWith};
use crate::nft::vocab::ct_states;
use crate::nft::{
    self, CmpOp, Data, DataType, Elem, Expr, NatFamily, NatKind, NatStmt, NatTargetExpr, Part,
    Pick, Rhs, Selector, Verdict,
};

/// The version of the canonical encoding, its first byte. Bump it whenever
/// the encoding below changes; the golden test says when it has.
pub const ENCODING_VERSION: u8 = 2;

/// The kernel's burst for a `limit` that names none.
pub const DEFAULT_LIMIT_BURST: u32 = 5;

/// A rule's identity: the FNV-1a hash of its canonical encoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Identity(pub u64);

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

/// The identity of `rule`.
pub fn identity(rule: &nft::Rule) -> Identity {
    Identity(fnv1a64(&canonical(&rule.exprs)))
}

/// 64-bit FNV-1a: tiny, stable across platforms and releases, and enough
/// for telling rules apart within a chain (the diff compares the canonical
/// bytes of rules whose hashes agree, so a collision cannot hide a change).
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// The canonical encoding of a rule's expressions (see the module docs).
///
/// Layout, version 1: the version byte, then each expression as a tag byte
/// and its fields. Integers are big-endian; strings are a u32 length and
/// UTF-8 bytes; a selector is its [`selector_code`]; an optional field is
/// 0, or 1 and the field.
///
/// | tag | expression | fields |
/// |---|---|---|
/// | 1 | match | key (u8 count, selectors), op (0 `==`, 1 `!=`), right-hand side |
/// | 2 | counter | optional name |
/// | 3 | log | optional prefix |
/// | 4 | limit | rate u64, unit (seconds, u32), burst u32 |
/// | 5 | verdict | [`verdict`] |
/// | 6 | vmap | key, map name |
/// | 7 | nat | kind u8, family u8, target |
/// | 8 | raw | its text |
/// | 9 | meter | set name, key selector, then 1 and a limit's fields, or 2 and a connection count u32 |
/// | 10 | mark set | the mark, u32 |
///
/// Right-hand sides: 1 value (an element), 2 set (u32 count, elements),
/// 3 named set (name), 4 flags (u32 bitmask). An element is a u8 count of
/// parts; a part is 1 and `lo`, `hi` as u128, or 2 and a string.
pub fn canonical(exprs: &[Expr]) -> Vec<u8> {
    let implied = implied_families(exprs);
    let mut w = Canon(vec![ENCODING_VERSION]);
    // Where each match of the run of matches being written starts.
    let mut run: Vec<usize> = Vec::new();
    for e in exprs {
        if matches!(e, Expr::Match { .. }) {
            run.push(w.0.len());
        } else {
            sort_matches(&mut w.0, &mut run);
        }
        match e {
            Expr::Match { key, op: CmpOp::Eq, rhs: Rhs::Value(Elem(parts)) }
                if key.as_slice() == [Selector::Nfproto]
                    && matches!(parts.as_slice(), [Part::Int(l, h)] if l == h && implied.contains(l)) =>
                {}
            Expr::Match { key, op, rhs } => {
                w.u8(1);
                w.key(key);
                w.u8(match op {
                    CmpOp::Eq => 0,
                    CmpOp::Ne => 1,
                });
                w.rhs(key, rhs);
            }
            Expr::Counter(name) => {
                w.u8(2);
                w.opt_str(name.as_deref());
            }
            Expr::Log { prefix, level } => {
                w.u8(3);
                w.opt_str(prefix.as_deref());
                // The default level writes nothing: identities from before
                // `log level` stay as they were.
                if let Some(l) = level {
                    w.u8(0xfe);
                    w.u8(*l);
                }
            }
            Expr::Limit(l) => {
                w.u8(4);
                w.limit(l);
            }
            Expr::Verdict(v) => {
                w.u8(5);
                w.verdict(v);
            }
            Expr::Vmap { key, map } => {
                w.u8(6);
                w.key(key);
                w.str(map);
            }
            Expr::Nat(n) => {
                w.u8(7);
                w.nat(n);
            }
            Expr::Raw(text) => {
                w.u8(8);
                w.str(text);
            }
            Expr::MarkSet(v) => {
                w.u8(10);
                w.u32(*v);
            }
            Expr::Meter(m) => {
                w.u8(9);
                w.str(&m.set);
                w.u8(selector_code(m.key));
                match m.test {
                    MeterTest::Rate(l) => {
                        w.u8(1);
                        w.limit(&l);
                    }
                    MeterTest::CountOver(n) => {
                        w.u8(2);
                        w.u32(n);
                    }
                }
            }
        }
    }
    sort_matches(&mut w.0, &mut run);
    w.0
}

/// Sorts the encodings of a run of matches that start at `run` and end at
/// the end of `out`, and empties `run`. (A left-out family check has no
/// encoding: its empty piece sorts first and writes nothing.)
fn sort_matches(out: &mut Vec<u8>, run: &mut Vec<usize>) {
    if run.len() > 1 {
        let start = run[0];
        let ends = run.iter().skip(1).copied().chain(std::iter::once(out.len()));
        let mut pieces: Vec<(usize, usize)> = run.iter().copied().zip(ends).collect();
        // Most rules come in order already: nothing to move then.
        if !pieces.is_sorted_by(|a, b| out[a.0..a.1] <= out[b.0..b.1]) {
            pieces.sort_unstable_by(|a, b| out[a.0..a.1].cmp(&out[b.0..b.1]));
            let mut sorted = Vec::with_capacity(out.len() - start);
            for &(a, b) in &pieces {
                sorted.extend_from_slice(&out[a..b]);
            }
            out.truncate(start);
            out.extend_from_slice(&sorted);
        }
    }
    run.clear();
}

/// The canonical encoding of a set or map element under `key`: its key
/// and its data. Two elements are the same element when these agree.
pub fn canonical_element(key: &[Selector], e: &nft::Element) -> Vec<u8> {
    // Room for the data too: a tag, a verdict or a translation's address
    // and port (a jump's chain name may still grow it).
    let mut w = Canon(Vec::with_capacity(elem_len(&e.key) + 24));
    w.elem(key, &e.key);
    match &e.data {
        None => w.u8(0),
        Some(Data::Verdict(v)) => {
            w.u8(1);
            w.verdict(v);
        }
        Some(Data::NatTarget { addr, port }) => {
            w.u8(2);
            w.addr(*addr);
            w.opt_u16(*port);
        }
    }
    w.0
}

/// The canonical encoding of an element's key alone: the kernel holds one
/// element per key.
pub fn canonical_key(key: &[Selector], e: &Elem) -> Vec<u8> {
    let mut w = Canon(Vec::with_capacity(elem_len(e)));
    w.elem(key, e);
    w.0
}

/// The length of [`Canon::elem`]'s encoding of `e`, so that an element's
/// encoding is made in one allocation: grown from empty, a diff of two
/// 100,000-element maps reallocated a million times, most of the
/// encoding's cost.
fn elem_len(e: &Elem) -> usize {
    let part = |p: &Part| match p {
        Part::Int(..) => 1 + 2 * 16,
        Part::Str(s) => 1 + 4 + s.len(),
    };
    1 + e.0.iter().map(part).sum::<usize>()
}

/// What a set is to the kernel: its key types, whether it holds ranges,
/// and its data type. A set whose shape changes must be made again.
pub fn set_shape(s: &nft::Set) -> Vec<u8> {
    let mut w = Canon(vec![ENCODING_VERSION]);
    w.u8(u8::try_from(s.key.len()).unwrap_or(u8::MAX));
    for sel in &s.key {
        // saddr and daddr are one type to the kernel: a named set's key is
        // typed, not tied to the header field a rule reads into it.
        w.u8(selector_type_code(*sel));
    }
    w.u8(u8::from(s.interval));
    match s.data {
        None => w.u8(0),
        Some(DataType::Verdict) => w.u8(1),
        Some(DataType::NatTarget { v6, with_port }) => {
            w.u8(2);
            w.u8(u8::from(v6));
            w.u8(u8::from(with_port));
        }
    }
    // Per-element counters are part of a set's shape (the kernel cannot add
    // them to a set that exists): one more byte only for a counting set,
    // so the shapes of other sets stay as they were.
    if s.counters {
        w.u8(1);
    }
    w.0
}

/// The selector's number in the encoding. These numbers are part of the
/// contract: never reuse or renumber one.
pub fn selector_code(s: Selector) -> u8 {
    match s {
        Selector::Nfproto => 1,
        Selector::L4proto => 2,
        Selector::Ip4Saddr => 3,
        Selector::Ip4Daddr => 4,
        Selector::Ip6Saddr => 5,
        Selector::Ip6Daddr => 6,
        Selector::ThSport => 7,
        Selector::ThDport => 8,
        Selector::Iifname => 9,
        Selector::Oifname => 10,
        Selector::CtState => 11,
        Selector::IcmpType => 12,
        Selector::IcmpCode => 13,
        Selector::Icmpv6Type => 14,
        Selector::Icmpv6Code => 15,
        Selector::Mark => 16,
        Selector::TcpFlags => 17,
        Selector::CtDirection => 18,
        Selector::CtStatus => 19,
        Selector::CtReplyIp4Saddr => 20,
        Selector::CtReplyIp6Saddr => 21,
        Selector::CtReplyProtoSrc => 22,
        // Followed by the field's code and the prefix length (`Canon::key`).
        Selector::Net { .. } => 23,
    }
}

/// [`selector_code`] with source and destination of one type merged.
fn selector_type_code(s: Selector) -> u8 {
    match s {
        Selector::Ip4Daddr => selector_code(Selector::Ip4Saddr),
        Selector::Ip6Daddr => selector_code(Selector::Ip6Saddr),
        Selector::ThSport => selector_code(Selector::ThDport),
        Selector::Oifname => selector_code(Selector::Iifname),
        // The kernel keeps a masked address as an address.
        Selector::Net { field, .. } => selector_type_code(field.plain()),
        s => selector_code(s),
    }
}

fn unit_seconds(u: RateUnit) -> u32 {
    match u {
        RateUnit::Second => 1,
        RateUnit::Minute => 60,
        RateUnit::Hour => 3600,
        RateUnit::Day => 86400,
    }
}

/// The `meta nfproto` values the rule's address loads already check.
fn implied_families(exprs: &[Expr]) -> Vec<u128> {
    let mut out = Vec::new();
    let mut add = |key: &[Selector]| {
        for s in key {
            if let Some(f) = s.family() {
                out.push(u128::from(crate::nft::vocab::nfproto(f)));
            }
        }
    };
    for e in exprs {
        match e {
            Expr::Match { key, .. } | Expr::Vmap { key, .. } => add(key),
            Expr::Meter(m) => add(&[m.key]),
            Expr::Nat(NatStmt {
                target: NatTargetExpr::Balanced { pick: Pick::SourceHash { .. }, slots, .. },
                ..
            }) => {
                let v6 = slots.iter().any(|s| s.2.is_ipv6());
                add(&[if v6 { Selector::Ip6Saddr } else { Selector::Ip4Saddr }]);
            }
            _ => {}
        }
    }
    out
}

/// The family number a NAT statement hands the kernel: 0 for masquerade
/// and redirect, which take none.
pub fn nat_family(n: &NatStmt) -> u8 {
    use crate::nft::vocab::{NFPROTO_IPV4, NFPROTO_IPV6};
    let addr = match &n.target {
        NatTargetExpr::Fixed { addr, .. } => Some(*addr),
        NatTargetExpr::Balanced { slots, .. } => slots.first().map(|s| s.2),
        NatTargetExpr::None { .. } => None,
    };
    match (n.kind, n.family, addr) {
        (NatKind::Masquerade | NatKind::Redirect, _, _) => 0,
        (_, Some(NatFamily::Ip6), _) | (_, None, Some(IpAddr::V6(_))) => NFPROTO_IPV6,
        _ => NFPROTO_IPV4,
    }
}

/// Balanced NAT slots as the kernel holds them: sorted, a port on every
/// slot when any has one, and runs of one backend merged.
pub fn canonical_slots(
    slots: &[(u32, u32, IpAddr, Option<u16>)],
) -> Vec<(u32, u32, IpAddr, Option<u16>)> {
    let with_port = slots.iter().any(|s| s.3.is_some());
    let mut v: Vec<_> = slots
        .iter()
        .map(|&(lo, hi, a, p)| (lo, hi, a, if with_port { Some(p.unwrap_or(0)) } else { None }))
        .collect();
    v.sort_by_key(|s| (s.0, s.1));
    let mut out: Vec<(u32, u32, IpAddr, Option<u16>)> = Vec::new();
    for s in v {
        match out.last_mut() {
            Some(last) if last.2 == s.2 && last.3 == s.3 && last.1.checked_add(1) == Some(s.0) => {
                last.1 = s.1
            }
            _ => out.push(s),
        }
    }
    out
}

/// The elements of a set match in canonical order: sorted, duplicates
/// dropped, and for a one-field integer key, ranges merged where they
/// meet or touch.
pub fn canonical_elems(key: &[Selector], elems: &[Elem]) -> Vec<Elem> {
    let mut v: Vec<Elem> = elems.to_vec();
    v.sort();
    v.dedup();
    if key.len() != 1 {
        return v;
    }
    let mut out: Vec<Elem> = Vec::new();
    for e in v {
        if let (Some(Elem(last)), [Part::Int(lo, hi)]) = (out.last_mut(), e.0.as_slice()) {
            if let [Part::Int(_, last_hi)] = last.as_mut_slice() {
                if last_hi.checked_add(1).is_none_or(|next| *lo <= next) {
                    *last_hi = (*last_hi).max(*hi);
                    continue;
                }
            }
        }
        out.push(e);
    }
    out
}

/// The bitmask a `ct state` right-hand side admits, if it is one.
fn ct_mask_of(rhs: &Rhs) -> Option<u32> {
    let part_mask = |e: &Elem| match e.0.as_slice() {
        [Part::Int(l, h)] if l == h => u32::try_from(*l).ok(),
        _ => None,
    };
    match rhs {
        Rhs::Flags(m) => Some(*m),
        Rhs::Value(e) => part_mask(e),
        Rhs::Set(es) => es.iter().map(part_mask).try_fold(0, |acc, m| Some(acc | m?)),
        Rhs::Named(_) | Rhs::Masked { .. } => None,
    }
}

/// The canonical byte writer.
struct Canon(Vec<u8>);

impl Canon {
    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }

    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }

    fn str(&mut self, s: &str) {
        self.u32(u32::try_from(s.len()).unwrap_or(u32::MAX));
        self.0.extend_from_slice(s.as_bytes());
    }

    fn opt_str(&mut self, s: Option<&str>) {
        match s {
            None => self.u8(0),
            Some(s) => {
                self.u8(1);
                self.str(s);
            }
        }
    }

    fn opt_u16(&mut self, v: Option<u16>) {
        match v {
            None => self.u8(0),
            Some(v) => {
                self.u8(1);
                self.0.extend_from_slice(&v.to_be_bytes());
            }
        }
    }

    /// A limit's rate u64, unit (seconds, u32) and burst u32 (nft's
    /// default when none is written).
    fn limit(&mut self, l: &Limit) {
        self.0.extend_from_slice(&l.rate.to_be_bytes());
        self.u32(unit_seconds(l.per));
        self.u32(l.burst.unwrap_or(DEFAULT_LIMIT_BURST));
    }

    fn key(&mut self, key: &[Selector]) {
        self.u8(u8::try_from(key.len()).unwrap_or(u8::MAX));
        for s in key {
            self.u8(selector_code(*s));
            if let Selector::Net { field, len } = s {
                self.u8(selector_code(field.plain()));
                self.u8(*len);
            }
        }
    }

    fn elem(&mut self, _key: &[Selector], e: &Elem) {
        self.u8(u8::try_from(e.0.len()).unwrap_or(u8::MAX));
        for p in &e.0 {
            match p {
                Part::Int(lo, hi) => {
                    self.u8(1);
                    self.0.extend_from_slice(&lo.to_be_bytes());
                    self.0.extend_from_slice(&hi.to_be_bytes());
                }
                Part::Str(s) => {
                    self.u8(2);
                    self.str(s);
                }
            }
        }
    }

    fn rhs(&mut self, key: &[Selector], rhs: &Rhs) {
        if key == [Selector::CtState] {
            if let Some(mask) = ct_mask_of(rhs) {
                // Only real states count: bits nft has no word for are
                // never set by a packet.
                let mask = ct_states(mask).map(crate::nft::vocab::ct_bit).fold(0, |a, b| a | b);
                self.u8(4);
                self.u32(mask);
                return;
            }
        }
        match rhs {
            Rhs::Value(e) => {
                self.u8(1);
                self.elem(key, e);
            }
            Rhs::Set(es) => {
                let es = canonical_elems(key, es);
                if let [one] = es.as_slice() {
                    self.u8(1);
                    self.elem(key, one);
                } else {
                    self.u8(2);
                    self.u32(u32::try_from(es.len()).unwrap_or(u32::MAX));
                    for e in &es {
                        self.elem(key, e);
                    }
                }
            }
            Rhs::Named(n) => {
                self.u8(3);
                self.str(n);
            }
            Rhs::Flags(m) => {
                self.u8(4);
                self.u32(*m);
            }
            Rhs::Masked { mask, value } => {
                self.u8(5);
                self.u32(*mask);
                self.u32(*value);
            }
        }
    }

    fn verdict(&mut self, v: &Verdict) {
        match v {
            Verdict::Accept => self.u8(1),
            Verdict::Drop => self.u8(2),
            Verdict::Reject(RejectWith::PortUnreachable) => self.u8(3),
            // Tags 8 and up: plain `reject` keeps its bytes.
            Verdict::Reject(RejectWith::TcpReset) => self.u8(8),
            Verdict::Reject(RejectWith::Icmp(c)) => {
                self.u8(9);
                self.u8(*c);
            }
            Verdict::Reject(RejectWith::Icmpv6(c)) => {
                self.u8(10);
                self.u8(*c);
            }
            Verdict::Reject(RejectWith::Icmpx(c)) => {
                self.u8(11);
                self.u8(*c);
            }
            Verdict::Jump(c) => {
                self.u8(4);
                self.str(c);
            }
            Verdict::Goto(c) => {
                self.u8(5);
                self.str(c);
            }
            Verdict::Return => self.u8(6),
            Verdict::Continue => self.u8(7),
        }
    }

    fn addr(&mut self, a: IpAddr) {
        match a {
            IpAddr::V4(a) => {
                self.u8(4);
                self.0.extend_from_slice(&a.octets());
            }
            IpAddr::V6(a) => {
                self.u8(6);
                self.0.extend_from_slice(&a.octets());
            }
        }
    }

    fn nat(&mut self, n: &NatStmt) {
        self.u8(match n.kind {
            NatKind::Dnat => 1,
            NatKind::Snat => 2,
            NatKind::Masquerade => 3,
            NatKind::Redirect => 4,
        });
        self.u8(nat_family(n));
        match &n.target {
            NatTargetExpr::None { port } => {
                self.u8(1);
                self.opt_u16(*port);
            }
            NatTargetExpr::Fixed { addr, port } => {
                self.u8(2);
                self.addr(*addr);
                self.opt_u16(*port);
            }
            NatTargetExpr::Balanced { pick, modulus, slots } => {
                self.u8(3);
                match pick {
                    Pick::RoundRobin => self.u8(1),
                    Pick::Random => self.u8(2),
                    Pick::SourceHash { seed } => {
                        self.u8(3);
                        self.u32(*seed);
                    }
                }
                self.u32(*modulus);
                let slots = canonical_slots(slots);
                self.u32(u32::try_from(slots.len()).unwrap_or(u32::MAX));
                for (lo, hi, addr, port) in slots {
                    self.u32(lo);
                    self.u32(hi);
                    self.addr(addr);
                    self.opt_u16(port);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `elem_len` is the length `Canon::elem` writes, so that an encoding
    /// is made in one allocation.
    #[test]
    fn an_elements_encoding_is_as_long_as_reserved() {
        let elems = [
            Elem(vec![]),
            Elem(vec![Part::Int(6, 6), Part::Int(80, 90)]),
            Elem(vec![Part::Str("eth*".into()), Part::Int(0, u128::MAX)]),
        ];
        for e in &elems {
            assert_eq!(canonical_key(&[], e).len(), elem_len(e), "{e:?}");
        }
    }
}
