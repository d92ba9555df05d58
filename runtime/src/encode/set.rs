//! Sets and maps as NEWSET + NEWSETELEM messages: named sets and verdict
//! maps of the table, anonymous sets bound to one rule's lookup, and the
//! anonymous maps of load-balanced NAT. Also what a key looks like to the
//! kernel (type, length, byte order), which the decoder reads back, and a
//! verdict as data (a map element's, or an `immediate` expression's).

use std::net::IpAddr;

use shriek_compiler::nft::vocab::METER_SIZE;
use shriek_compiler::nft::{self, Data, DataType, Elem, Origin, Part, Selector, Verdict};

use super::batch::{Batch, OwnSet, Subject};
use super::identity::udata;
use super::seed::element_counter;
use crate::abi::*;
use crate::counters::Count;
use crate::msg::{Attrs, Buf};

/// What a set's key looks like to the kernel.
pub(super) struct KeySpec {
    pub ty: u32,
    pub len: u32,
    /// Field lengths of a concatenation, unpadded.
    pub fields: Vec<u32>,
    pub host_order: bool,
}

pub(super) fn key_spec(key: &[Selector]) -> KeySpec {
    let mut ty = 0;
    let mut len = 0usize;
    for s in key {
        ty = (ty << TYPE_BITS) | type_of(*s);
        len += if key.len() > 1 { align4(s.len()) } else { s.len() };
    }
    // Selector lengths are at most 16 bytes, so these sums are small.
    let small = |n: usize| u32::try_from(n).expect("a key is a few selectors of at most 16 bytes");
    KeySpec {
        ty,
        len: small(len),
        fields: key.iter().map(|s| small(s.len())).collect(),
        // nft reads an interface name's bytes in host order: without it
        // said, `nft list` shows each name as "" (the name's bytes
        // turned around, its padding first).
        host_order: matches!(key, [Selector::Iifname | Selector::Oifname]),
    }
}

pub(super) fn type_of(s: Selector) -> u32 {
    match s {
        Selector::Nfproto => TYPE_NFPROTO,
        Selector::L4proto => TYPE_INET_PROTOCOL,
        Selector::Ip4Saddr | Selector::Ip4Daddr => TYPE_IPADDR,
        Selector::Ip6Saddr | Selector::Ip6Daddr => TYPE_IP6ADDR,
        Selector::ThSport | Selector::ThDport => TYPE_INET_SERVICE,
        Selector::Iifname | Selector::Oifname => TYPE_IFNAME,
        Selector::CtState => TYPE_CT_STATE,
        Selector::CtDirection => TYPE_CT_DIR,
        Selector::CtStatus => TYPE_CT_STATUS,
        Selector::CtReplyIp4Saddr => TYPE_IPADDR,
        Selector::CtReplyIp6Saddr => TYPE_IP6ADDR,
        Selector::CtReplyProtoSrc => TYPE_INET_SERVICE,
        Selector::IcmpType => TYPE_ICMP_TYPE,
        Selector::Icmpv6Type => TYPE_ICMP6_TYPE,
        Selector::IcmpCode => TYPE_ICMP_CODE,
        Selector::Icmpv6Code => TYPE_ICMPV6_CODE,
        Selector::TcpFlags => TYPE_TCP_FLAG,
        Selector::Mark => TYPE_MARK,
        Selector::Net { field, .. } => type_of(field.plain()),
    }
}

pub(super) fn align4(n: usize) -> usize {
    (n + 3) & !3
}

pub(super) enum DataSpec {
    Verdict,
    Value { ty: u32, len: u32 },
}

pub(super) struct SetDef<'a> {
    pub table: &'a str,
    pub name: &'a str,
    pub id: u32,
    pub key: KeySpec,
    pub flags: u32,
    pub data: Option<DataSpec>,
    pub comment: Option<&'a str>,
    /// Every element gets a counter (NFTA_SET_EXPR), as `counter` in nft's
    /// set declaration: the kernel gives each element its own.
    pub counters: bool,
    /// Filled from the packet path (a per-address statement's set).
    pub dynamic: Option<nft::Dynamic>,
    /// Each element's attributes: the inside of one NFTA_LIST_ELEM.
    pub elements: Vec<Buf>,
    /// Kernel-facing description of where elements came from, for errors.
    pub origin: Vec<Origin>,
    /// User data after the key's byte order: a balanced translation's
    /// map's `typeof` (`nat_map.rs`), else nothing.
    pub typeof_udata: Vec<u8>,
}

pub(super) fn emit_set(b: &mut Batch, s: &SetDef) {
    let seq = b.seq(Subject::Set { table: s.table.into(), set: s.name.into() });
    b.w.nft(NFT_MSG_NEWSET, NLM_F_CREATE, seq, |a| {
        a.str(NFTA_SET_TABLE, s.table);
        a.str(NFTA_SET_NAME, s.name);
        a.u32(NFTA_SET_FLAGS, s.flags);
        a.u32(NFTA_SET_KEY_TYPE, s.key.ty);
        a.u32(NFTA_SET_KEY_LEN, s.key.len);
        match &s.data {
            Some(DataSpec::Verdict) => a.u32(NFTA_SET_DATA_TYPE, NFT_DATA_VERDICT),
            Some(DataSpec::Value { ty, len }) => {
                a.u32(NFTA_SET_DATA_TYPE, *ty);
                a.u32(NFTA_SET_DATA_LEN, *len);
            }
            None => {}
        }
        let concat = s.flags & NFT_SET_CONCAT != 0;
        // A rule's own set, anonymous or made first (`own_set`), is sized
        // to its elements, as nft sizes an anonymous set.
        let own = s.flags & NFT_SET_CONSTANT != 0;
        if concat || own || s.dynamic.is_some() {
            a.nest(NFTA_SET_DESC, |d| {
                if own {
                    d.u32(NFTA_SET_DESC_SIZE, u32::try_from(s.elements.len()).unwrap_or(u32::MAX));
                } else if s.dynamic.is_some() {
                    d.u32(NFTA_SET_DESC_SIZE, METER_SIZE);
                }
                if concat {
                    d.nest(NFTA_SET_DESC_CONCAT, |c| {
                        for f in &s.key.fields {
                            c.nest(NFTA_LIST_ELEM, |e| e.u32(NFTA_SET_FIELD_LEN, *f));
                        }
                    });
                }
            });
        }
        a.u32(NFTA_SET_ID, s.id);
        if let Some(t) = s.dynamic.and_then(|d| d.timeout_ms) {
            a.u64(NFTA_SET_TIMEOUT, t);
        }
        if s.counters {
            a.nest(NFTA_SET_EXPR, |e| {
                e.str(NFTA_EXPR_NAME, "counter");
                e.nest(NFTA_EXPR_DATA, |_| {});
            });
        }
        let mut ud = Vec::new();
        if s.key.host_order {
            // Host byte order, so nft prints numbers.
            ud.extend_from_slice(&[NFTNL_UDATA_SET_KEYBYTEORDER, 4]);
            ud.extend_from_slice(&1u32.to_ne_bytes());
        }
        ud.extend_from_slice(&s.typeof_udata);
        if let Some(c) = s.comment {
            ud.extend_from_slice(&udata(NFTNL_UDATA_SET_COMMENT, c));
        }
        if !ud.is_empty() {
            a.bytes(NFTA_SET_USERDATA, &ud);
        }
    });
    element_messages(b, NFT_MSG_NEWSETELEM, s.table, s.name, Some(s.id), &s.elements, &s.origin);
}

/// NEWSETELEM or DELSETELEM messages for `elements` of set `name` (bound
/// by `id` when the set is made in this batch).
fn element_messages(
    b: &mut Batch,
    ty: u16,
    table: &str,
    name: &str,
    id: Option<u32>,
    elements: &[Buf],
    origin: &[Origin],
) {
    // An attribute's length is 16 bits: split elements over messages.
    let mut i = 0;
    while i < elements.len() {
        let mut j = i;
        let mut size = 0;
        while j < elements.len() && (j == i || size + elements[j].len() + 4 < 60_000) {
            size += elements[j].len() + 4;
            j += 1;
        }
        let seq = b.seq(Subject::Elements {
            table: table.into(),
            set: name.into(),
            origin: origin.to_vec(),
        });
        let flags = if ty == NFT_MSG_NEWSETELEM { NLM_F_CREATE } else { 0 };
        b.w.nft(ty, flags, seq, |a| {
            a.str(NFTA_SET_ELEM_LIST_TABLE, table);
            a.str(NFTA_SET_ELEM_LIST_SET, name);
            if let Some(id) = id {
                a.u32(NFTA_SET_ELEM_LIST_SET_ID, id);
            }
            a.nest(NFTA_SET_ELEM_LIST_ELEMENTS, |l| {
                for e in &elements[i..j] {
                    l.nest(NFTA_LIST_ELEM, |x| x.append(e));
                }
            });
        });
        i = j;
    }
}

/// Adds `elements` to, or deletes them from, set `s` as it stands in the
/// kernel. A deletion names each element by its key alone.
pub(crate) fn edit_elements(
    b: &mut Batch,
    table: &str,
    s: &nft::Set,
    kernel_name: &str,
    elements: &[&nft::Element],
    add: bool,
) {
    let mut bufs = Vec::new();
    let mut origin = Vec::new();
    for e in elements {
        let data = if add { e.data.as_ref().map(data_bytes) } else { None };
        let count = if add { seed(b, table, s, e) } else { None };
        set_element(&mut bufs, &s.key, &e.key, s.interval, data.as_ref(), count);
        origin.extend(e.origin.iter().copied());
    }
    origin.sort();
    origin.dedup();
    if add {
        b.elements += elements.len();
    }
    let ty = if add { NFT_MSG_NEWSETELEM } else { NFT_MSG_DELSETELEM };
    element_messages(b, ty, table, kernel_name, None, &bufs, &origin);
}

/// Set `s`'s elements as the attributes of the NEWSETELEM messages that
/// add them, element counters left out: what [`edit_elements`] writes for
/// them in a batch with no seeds, message for message. Made one message
/// at a time and handed to `each`, so that only one message's elements
/// are held at once (the day-2 cache writes a whole map this way).
/// `None` when an attribute does not fit netlink's lengths.
pub(crate) fn element_attrs(table: &str, s: &nft::Set, mut each: impl FnMut(&[u8])) -> Option<()> {
    let mut message = |elements: &[Buf]| {
        let mut w = crate::msg::Writer::default();
        w.nft(NFT_MSG_NEWSETELEM, NLM_F_CREATE, 0, |a| {
            a.str(NFTA_SET_ELEM_LIST_TABLE, table);
            a.str(NFTA_SET_ELEM_LIST_SET, &s.name);
            a.nest(NFTA_SET_ELEM_LIST_ELEMENTS, |l| {
                for e in elements {
                    l.nest(NFTA_LIST_ELEM, |x| x.append(e));
                }
            });
        });
        let bytes = w.bytes().ok()?;
        crate::msg::messages(bytes).for_each(|m| each(m.nft_attrs()));
        Some(())
    };
    // As in `element_messages`: a message takes elements while they fit.
    let (mut pending, mut size) = (Vec::new(), 0);
    let mut fresh = Vec::new();
    let mut last: Option<(&Data, Buf)> = None;
    for e in &s.elements {
        let data = run_data(&mut last, e);
        set_element(&mut fresh, &s.key, &e.key, s.interval, data, None);
        for buf in fresh.drain(..) {
            if !pending.is_empty() && size + buf.len() + 4 >= 60_000 {
                message(&pending)?;
                pending.clear();
                size = 0;
            }
            size += buf.len() + 4;
            pending.push(buf);
        }
    }
    if !pending.is_empty() {
        message(&pending)?;
    }
    Some(())
}

/// Makes set `s` under the kernel's name `kernel_name` (the policy's, or
/// a staged one), with id `id` for the batch's rules.
pub(crate) fn named_set(b: &mut Batch, table: &str, s: &nft::Set, kernel_name: &str, id: u32) {
    let mut flags = 0;
    if let Some(d) = s.dynamic {
        flags |= NFT_SET_EVAL;
        if d.timeout_ms.is_some() {
            flags |= NFT_SET_TIMEOUT;
        }
    }
    if s.interval {
        flags |= NFT_SET_INTERVAL;
        if s.key.len() > 1 {
            flags |= NFT_SET_CONCAT;
        }
    }
    let data = s.data.map(|d| {
        flags |= NFT_SET_MAP;
        data_spec(d)
    });
    let mut elements = Vec::with_capacity(s.elements.len());
    let mut origin = Vec::new();
    let mut last: Option<(&Data, Buf)> = None;
    for e in &s.elements {
        let data = run_data(&mut last, e);
        let count = seed(b, table, s, e);
        set_element(&mut elements, &s.key, &e.key, s.interval, data, count);
        origin.extend(e.origin.iter().copied());
    }
    origin.sort();
    origin.dedup();
    b.elements += s.elements.len();
    emit_set(
        b,
        &SetDef {
            table,
            name: kernel_name,
            id,
            key: key_spec(&s.key),
            flags,
            data,
            comment: s.comment.as_deref(),
            counters: s.counters,
            dynamic: s.dynamic,
            elements,
            origin,
            typeof_udata: Vec::new(),
        },
    );
}

/// The value a new element of counting set `s` starts from, when `apply`
/// carries one over to it (`encode/seed.rs`).
fn seed(b: &mut Batch, table: &str, s: &nft::Set, e: &nft::Element) -> Option<Count> {
    if !s.counters || b.seeds.is_empty() {
        return None;
    }
    let key = key_bytes(&s.key, &e.key, false);
    b.seeds.take_element((table, &s.name), s.counts_backends(), key, &e.origin)
}

pub(super) fn data_spec(d: DataType) -> DataSpec {
    match d {
        DataType::Verdict => DataSpec::Verdict,
        DataType::NatTarget { v6, with_port } => {
            let (ty, len) = if v6 { (TYPE_IP6ADDR, 16) } else { (TYPE_IPADDR, 4) };
            if with_port {
                DataSpec::Value { ty: ty << TYPE_BITS | TYPE_INET_SERVICE, len: len + 4 }
            } else {
                DataSpec::Value { ty, len }
            }
        }
    }
}

/// A verdict as the kernel stores it: in a map element's data, or an
/// `immediate` expression's.
pub(super) fn verdict_data(a: &mut Attrs, v: &Verdict) {
    let (code, chain) = match v {
        Verdict::Accept => (NF_ACCEPT, None),
        // A reject in a map has no expression to run; dropping is the
        // closest the kernel can do there.
        Verdict::Drop | Verdict::Reject(_) => (NF_DROP, None),
        Verdict::Jump(c) => (NFT_JUMP, Some(c)),
        Verdict::Goto(c) => (NFT_GOTO, Some(c)),
        Verdict::Return => (NFT_RETURN, None),
        Verdict::Continue => (NFT_CONTINUE, None),
    };
    a.nest(NFTA_DATA_VERDICT, |x| {
        // The kernel reads the code as a signed 32-bit number.
        x.u32(NFTA_VERDICT_CODE, code as u32);
        if let Some(c) = chain {
            x.str(NFTA_VERDICT_CHAIN, c);
        }
    });
}

/// A set element's data, already as NFTA_DATA_* attributes.
/// The encoded data of `e`, with `last` the data of the element before:
/// a map's elements mostly share a few verdicts, each encoded once for a
/// run of equal ones.
fn run_data<'a, 'b>(last: &'b mut Option<(&'a Data, Buf)>, e: &'a nft::Element) -> Option<&'b Buf> {
    if let Some(d) = &e.data {
        if last.as_ref().is_none_or(|(l, _)| *l != d) {
            *last = Some((d, data_bytes(d)));
        }
    }
    e.data.as_ref().and(last.as_ref().map(|(_, b)| b))
}

fn data_bytes(d: &Data) -> Buf {
    Buf::build(|a| match d {
        Data::Verdict(verdict) => verdict_data(a, verdict),
        Data::NatTarget { addr, port } => a.bytes(NFTA_DATA_VALUE, &nat_value(*addr, *port)),
    })
}

pub(super) fn nat_value(addr: IpAddr, port: Option<u16>) -> Vec<u8> {
    let mut v = match addr {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    };
    if let Some(p) = port {
        v.extend_from_slice(&p.to_be_bytes());
        v.extend_from_slice(&[0, 0]);
    }
    v
}

/// Appends the kernel elements for one model element: one for a value or
/// a concatenation, a start and an end element for a range in a
/// single-field interval set (no end when the range reaches the top).
fn set_element(
    out: &mut Vec<Buf>,
    key: &[Selector],
    elem: &Elem,
    interval: bool,
    data: Option<&Buf>,
    count: Option<Count>,
) {
    let concat = key.len() > 1;
    let lo = key_bytes(key, elem, false);
    // A range's upper end, in an interval set only.
    let hi = if interval { key_bytes(key, elem, true) } else { Vec::new() };
    out.push(Buf::build(|a| {
        a.nest(NFTA_SET_ELEM_KEY, |k| k.bytes(NFTA_DATA_VALUE, &lo));
        if interval && concat {
            a.nest(NFTA_SET_ELEM_KEY_END, |k| k.bytes(NFTA_DATA_VALUE, &hi));
        }
        if let Some(d) = data {
            a.nest(NFTA_SET_ELEM_DATA, |x| x.append(d));
        }
        if let Some(c) = count {
            element_counter(a, c);
        }
    }));
    if interval && !concat {
        if let Some(end) = increment(&hi) {
            out.push(Buf::build(|a| {
                a.nest(NFTA_SET_ELEM_KEY, |k| k.bytes(NFTA_DATA_VALUE, &end));
                a.u32(NFTA_SET_ELEM_FLAGS, NFT_SET_ELEM_INTERVAL_END);
            }));
        }
    }
}

/// The big-endian successor of `v`, or `None` past the top.
fn increment(v: &[u8]) -> Option<Vec<u8>> {
    let mut v = v.to_vec();
    for b in v.iter_mut().rev() {
        if *b == 0xff {
            *b = 0;
        } else {
            *b += 1;
            return Some(v);
        }
    }
    None
}

/// A key as the kernel stores it: each field in its own width, padded to
/// a 32-bit register in a concatenation. `hi` picks a range's upper end.
pub(crate) fn key_bytes(key: &[Selector], elem: &Elem, hi: bool) -> Vec<u8> {
    let mut v = Vec::with_capacity(key.iter().map(|s| align4(s.len())).sum());
    for (s, p) in key.iter().zip(&elem.0) {
        match p {
            // Written in place: this runs for every element of every map.
            Part::Int(l, h) if !matches!(s, Selector::CtState | Selector::CtStatus) => {
                let x = if hi { *h } else { *l };
                v.extend_from_slice(&x.to_be_bytes()[16 - s.len()..]);
            }
            _ => v.extend_from_slice(&part_bytes(*s, p, hi)),
        }
        if key.len() > 1 {
            v.resize(align4(v.len()), 0);
        }
    }
    v
}

fn part_bytes(s: Selector, p: &Part, hi: bool) -> Vec<u8> {
    match p {
        Part::Int(l, h) => int_bytes(s, if hi { *h } else { *l }),
        Part::Str(name) => ifname(name),
    }
}

pub(super) fn int_bytes(s: Selector, v: u128) -> Vec<u8> {
    match s {
        // The conntrack state and status sit in their register in host order.
        Selector::CtState | Selector::CtStatus => (v as u32).to_ne_bytes().to_vec(),
        _ => v.to_be_bytes()[16 - s.len()..].to_vec(),
    }
}

pub(super) fn ifname(name: &str) -> Vec<u8> {
    let mut v = name.as_bytes().to_vec();
    v.truncate(15);
    v.resize(16, 0);
    v
}

/// Whether a rule's own set of `elems` holds a range: the kernel then
/// makes it an interval set.
pub(super) fn has_range(elems: &[Elem]) -> bool {
    elems.iter().any(|e| e.0.iter().any(|p| matches!(p, Part::Int(l, h) if l != h)))
}

/// A rule's own set, anonymous, in the batch that makes the rule: returns
/// its id.
pub(super) fn anon_set(
    b: &mut Batch,
    table: &str,
    key: &[Selector],
    elems: &[Elem],
    origin: &[Origin],
) -> u32 {
    rule_set(b, table, "__set%d", NFT_SET_ANONYMOUS, key, elems, origin)
}

/// A rule's own interval set, made before the rule under `name`
/// (`OwnSets`): the same set as [`anon_set`] makes, but not anonymous,
/// so that it can exist before the rule that uses it.
pub(crate) fn own_set(b: &mut Batch, own: &OwnSet) {
    rule_set(b, &own.table, &own.name, 0, &own.key, &own.elems, &own.origin);
}

fn rule_set(
    b: &mut Batch,
    table: &str,
    name: &str,
    anonymous: u32,
    key: &[Selector],
    elems: &[Elem],
    origin: &[Origin],
) -> u32 {
    let interval = has_range(elems);
    let mut flags = anonymous | NFT_SET_CONSTANT;
    if interval {
        flags |= NFT_SET_INTERVAL;
        if key.len() > 1 {
            flags |= NFT_SET_CONCAT;
        }
    }
    let mut elements = Vec::new();
    for e in elems {
        set_element(&mut elements, key, e, interval, None, None);
    }
    let id = b.set_id();
    emit_set(
        b,
        &SetDef {
            table,
            name,
            id,
            key: key_spec(key),
            flags,
            data: None,
            comment: None,
            counters: false,
            dynamic: None,
            elements,
            origin: origin.to_vec(),
            typeof_udata: Vec::new(),
        },
    );
    id
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A map of `n` addresses, each to a jump to one of three chains.
    fn map(n: u32) -> nft::Set {
        let elements = (0..n)
            .map(|i| nft::Element {
                key: Elem(vec![Part::Int(
                    u128::from(0x0a00_0000 + i),
                    u128::from(0x0a00_0000 + i),
                )]),
                data: Some(Data::Verdict(Verdict::Jump(format!("c{}", i / 1000 % 3)))),
                origin: Vec::new(),
            })
            .collect();
        nft::Set {
            name: "m".into(),
            key: vec![Selector::Ip4Saddr],
            interval: false,
            data: Some(DataType::Verdict),
            elements,
            counters: false,
            comment: None,
            dynamic: None,
        }
    }

    #[test]
    fn element_attrs_are_the_batch_messages_attributes() {
        for n in [0, 1, 5_000] {
            let s = map(n);
            let mut b = Batch::begin(0, None);
            let all: Vec<&nft::Element> = s.elements.iter().collect();
            edit_elements(&mut b, "t", &s, &s.name, &all, true);
            let batch: Vec<Vec<u8>> = crate::msg::messages(b.w.bytes().unwrap())
                .filter(|m| m.ty & 0xff == NFT_MSG_NEWSETELEM)
                .map(|m| m.nft_attrs().to_vec())
                .collect();
            let mut one_by_one = Vec::new();
            element_attrs("t", &s, |m| one_by_one.push(m.to_vec())).unwrap();
            assert_eq!(one_by_one, batch, "{n} elements");
            assert!(n < 5_000 || batch.len() > 1, "several messages");
        }
    }

    #[test]
    fn successor_of_keys() {
        assert_eq!(increment(&[0x0a, 0xff]), Some(vec![0x0b, 0x00]));
        assert_eq!(increment(&[0xff, 0xff]), None);
    }
}
