//! Sets and maps read back: a set's attributes, its kernel elements, and
//! those elements as model elements once the selectors of the key are
//! known (from the rule that looks the set up, or from the key's type).
//!
//! A one-field interval set holds a start element per range and an end
//! element just past it (none when the range reaches the top); nft adds an
//! end element at zero of its own, which stands for nothing. A
//! concatenated interval set holds each range as one element with a key
//! and a key end.

use std::net::IpAddr;

use shriek_compiler::nft::{self, Data, DataType, Elem, Element, Part, Selector, Verdict};

use crate::abi::*;
use crate::counters::Count;
use crate::msg::{attr, attr_str, attr_u32, attr_u64, attrs};

/// What the kernel says about a set.
#[derive(Clone, Debug)]
pub(crate) struct SetInfo {
    pub name: String,
    pub flags: u32,
    pub key_type: u32,
    pub key_len: u32,
    pub data_type: Option<u32>,
    pub comment: Option<String>,
    /// Every element counts (a `counter` set expression): the per-rule
    /// counts of a dispatch map.
    pub counters: bool,
    /// NFTA_SET_TIMEOUT, in milliseconds.
    pub timeout_ms: Option<u64>,
    pub elements: Vec<RawElement>,
}

/// One kernel element.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RawElement {
    pub key: Vec<u8>,
    pub key_end: Option<Vec<u8>>,
    pub end: bool,
    pub data: Option<RawData>,
    /// The element's counter, in a counting set (`stats` reads it).
    pub count: Option<Count>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum RawData {
    Verdict(Verdict),
    Value(Vec<u8>),
}

impl SetInfo {
    pub fn parse(set: &[u8], answers: &[Vec<u8>]) -> SetInfo {
        let ud = attr(set, NFTA_SET_USERDATA).unwrap_or(&[]);
        let comment = udata_tlvs(ud)
            .find(|(ty, _)| *ty == NFTNL_UDATA_SET_COMMENT)
            .map(|(_, v)| udata_string(v));
        let mut elements = Vec::new();
        for a in answers {
            let Some(list) = attr(a, NFTA_SET_ELEM_LIST_ELEMENTS) else { continue };
            for (_, e) in attrs(list) {
                elements.push(RawElement::parse(e));
            }
        }
        SetInfo {
            name: attr_str(set, NFTA_SET_NAME).unwrap_or_default(),
            flags: attr_u32(set, NFTA_SET_FLAGS).unwrap_or(0),
            timeout_ms: attr_u64(set, NFTA_SET_TIMEOUT),
            key_type: attr_u32(set, NFTA_SET_KEY_TYPE).unwrap_or(0),
            key_len: attr_u32(set, NFTA_SET_KEY_LEN).unwrap_or(0),
            data_type: attr_u32(set, NFTA_SET_DATA_TYPE),
            comment,
            counters: attr(set, NFTA_SET_EXPR)
                .into_iter()
                .chain(
                    attr(set, NFTA_SET_EXPRESSIONS)
                        .into_iter()
                        .flat_map(|l| attrs(l).map(|(_, e)| e)),
                )
                .any(|e| attr_str(e, NFTA_EXPR_NAME).as_deref() == Some("counter")),
            elements,
        }
    }

    pub fn anonymous(&self) -> bool {
        self.flags & NFT_SET_ANONYMOUS != 0
    }

    pub fn interval(&self) -> bool {
        self.flags & NFT_SET_INTERVAL != 0
    }

    /// Filled from the packet path: its elements are the kernel's state
    /// (rates, counts), not part of the ruleset.
    pub fn dynamic(&self) -> Option<nft::Dynamic> {
        (self.flags & NFT_SET_EVAL != 0).then_some(nft::Dynamic {
            timeout_ms: (self.flags & NFT_SET_TIMEOUT != 0).then_some(self.timeout_ms.unwrap_or(0)),
        })
    }

    /// The selectors the key's type stands for, when no rule says which
    /// header fields are read into it: sources for addresses and names,
    /// destination ports for services.
    pub fn guess_key(&self) -> Option<Vec<Selector>> {
        let mut fields = Vec::new();
        let mut ty = self.key_type;
        while ty != 0 {
            let sel = match ty & ((1 << TYPE_BITS) - 1) {
                TYPE_NFPROTO => Selector::Nfproto,
                TYPE_INET_PROTOCOL => Selector::L4proto,
                TYPE_IPADDR => Selector::Ip4Saddr,
                TYPE_IP6ADDR => Selector::Ip6Saddr,
                TYPE_INET_SERVICE => Selector::ThDport,
                TYPE_IFNAME => Selector::Iifname,
                TYPE_CT_STATE => Selector::CtState,
                TYPE_CT_STATUS => Selector::CtStatus,
                TYPE_CT_DIR => Selector::CtDirection,
                TYPE_ICMP_TYPE => Selector::IcmpType,
                TYPE_ICMP6_TYPE => Selector::Icmpv6Type,
                TYPE_ICMP_CODE => Selector::IcmpCode,
                TYPE_ICMPV6_CODE => Selector::Icmpv6Code,
                TYPE_MARK => Selector::Mark,
                _ => return None,
            };
            fields.push(sel);
            ty >>= TYPE_BITS;
        }
        fields.reverse();
        let len: usize = fields.iter().map(|s| key_field_len(*s, fields.len())).sum();
        (!fields.is_empty() && len == self.key_len as usize).then_some(fields)
    }

    /// The map's data type, for a map of verdicts or NAT targets.
    pub fn data(&self) -> Option<Option<DataType>> {
        match self.data_type {
            None => Some(None),
            Some(NFT_DATA_VERDICT) => Some(Some(DataType::Verdict)),
            Some(ty) => {
                let (addr, with_port) = match ty >> TYPE_BITS {
                    0 => (ty, false),
                    first => (first, ty & ((1 << TYPE_BITS) - 1) == TYPE_INET_SERVICE),
                };
                let v6 = match addr {
                    TYPE_IPADDR => false,
                    TYPE_IP6ADDR => true,
                    _ => return None,
                };
                Some(Some(DataType::NatTarget { v6, with_port }))
            }
        }
    }

    /// The elements as model elements under `key`; `None` when one of
    /// them does not read as such.
    pub fn model_elements(&self, key: &[Selector]) -> Option<Vec<Element>> {
        let data = |d: &Option<RawData>| -> Option<Option<Data>> {
            match d {
                None => Some(None),
                Some(RawData::Verdict(v)) => Some(Some(Data::Verdict(v.clone()))),
                Some(RawData::Value(b)) => nat_target(b).map(Some),
            }
        };
        let mut out = Vec::new();
        if self.interval() && key.len() == 1 {
            for Range { lo, hi, data: d } in ranges(&self.elements) {
                let lo = part(key[0], &lo, false)?;
                let hi = match hi {
                    Some(h) => part(key[0], &h, false)?,
                    None => part(key[0], &vec![0xff; key[0].len()], false)?,
                };
                let (Part::Int(l, _), Part::Int(h, _)) = (lo, hi) else { return None };
                out.push(Element {
                    key: Elem(vec![Part::Int(l, h)]),
                    data: data(&d)?,
                    origin: vec![],
                });
            }
            return Some(out);
        }
        for e in self.elements.iter().filter(|e| !e.end) {
            let lo = split_key(key, &e.key)?;
            let parts = match &e.key_end {
                Some(end) => {
                    let hi = split_key(key, end)?;
                    lo.into_iter()
                        .zip(hi)
                        .map(|(l, h)| match (l, h) {
                            (Part::Int(l, _), Part::Int(h, _)) => Some(Part::Int(l, h)),
                            (l @ Part::Str(_), _) => Some(l),
                            _ => None,
                        })
                        .collect::<Option<Vec<Part>>>()?
                }
                None => lo,
            };
            out.push(Element { key: Elem(parts), data: data(&e.data)?, origin: vec![] });
        }
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Some(out)
    }
}

impl RawElement {
    fn parse(e: &[u8]) -> RawElement {
        let value = |ty| attr(e, ty).and_then(|k| attr(k, NFTA_DATA_VALUE)).map(<[u8]>::to_vec);
        let data = attr(e, NFTA_SET_ELEM_DATA).map(|d| match attr(d, NFTA_DATA_VERDICT) {
            Some(v) => RawData::Verdict(verdict(v)),
            None => RawData::Value(attr(d, NFTA_DATA_VALUE).unwrap_or(&[]).to_vec()),
        });
        RawElement {
            key: value(NFTA_SET_ELEM_KEY).unwrap_or_default(),
            key_end: value(NFTA_SET_ELEM_KEY_END),
            end: attr_u32(e, NFTA_SET_ELEM_FLAGS).unwrap_or(0) & NFT_SET_ELEM_INTERVAL_END != 0,
            data,
            // One expression, or a list of them; the counter is the first.
            count: attr(e, NFTA_SET_ELEM_EXPR).and_then(Count::of_expr).or_else(|| {
                attrs(attr(e, NFTA_SET_ELEM_EXPRESSIONS)?).find_map(|(_, x)| Count::of_expr(x))
            }),
        }
    }
}

/// A verdict as the kernel writes it (NFTA_DATA_VERDICT's contents).
pub(crate) fn verdict(v: &[u8]) -> Verdict {
    let code = attr_u32(v, NFTA_VERDICT_CODE).unwrap_or(0) as i32;
    let chain = attr_str(v, NFTA_VERDICT_CHAIN).unwrap_or_default();
    match code {
        NF_ACCEPT => Verdict::Accept,
        NF_DROP => Verdict::Drop,
        NFT_JUMP => Verdict::Jump(chain),
        NFT_GOTO => Verdict::Goto(chain),
        NFT_RETURN => Verdict::Return,
        _ => Verdict::Continue,
    }
}

/// One range of a one-field interval set.
struct Range {
    lo: Vec<u8>,
    /// The last key in it; `None` when it reaches the top.
    hi: Option<Vec<u8>>,
    data: Option<RawData>,
}

/// Ranges of a one-field interval set.
fn ranges(elements: &[RawElement]) -> Vec<Range> {
    let mut sorted: Vec<&RawElement> = elements.iter().collect();
    // At one key an end (of the range before) comes first.
    sorted.sort_by(|a, b| a.key.cmp(&b.key).then(b.end.cmp(&a.end)));
    // `hi` is the first key past the range, to begin with.
    let mut out: Vec<Range> = Vec::new();
    let mut open: Option<&RawElement> = None;
    for e in sorted {
        match (e.end, open.take()) {
            (true, Some(start)) => out.push(Range {
                lo: start.key.clone(),
                hi: Some(e.key.clone()),
                data: start.data.clone(),
            }),
            (true, None) => {} // nft's marker at zero, or a stray end
            (false, Some(start)) => {
                // The kernel finds the last element at or below a key, so
                // a start with no end of its own runs up to the next one.
                out.push(Range {
                    lo: start.key.clone(),
                    hi: Some(e.key.clone()),
                    data: start.data.clone(),
                });
                open = Some(e);
            }
            (false, None) => open = Some(e),
        }
    }
    if let Some(start) = open {
        out.push(Range { lo: start.key.clone(), hi: None, data: start.data.clone() });
    }
    // Ends are exclusive: step back one.
    out.into_iter().map(|r| Range { hi: r.hi.map(|h| decrement(&h)), ..r }).collect()
}

fn decrement(v: &[u8]) -> Vec<u8> {
    let mut v = v.to_vec();
    for b in v.iter_mut().rev() {
        if *b == 0 {
            *b = 0xff;
        } else {
            *b -= 1;
            break;
        }
    }
    v
}

/// A key field's length: its own width, padded to a register in a
/// concatenation.
pub(crate) fn key_field_len(s: Selector, fields: usize) -> usize {
    if fields > 1 {
        (s.len() + 3) & !3
    } else {
        s.len()
    }
}

/// A concatenated key cut into its fields.
fn split_key(key: &[Selector], bytes: &[u8]) -> Option<Vec<Part>> {
    let mut out = Vec::new();
    let mut at = 0;
    for s in key {
        let len = key_field_len(*s, key.len());
        let field = bytes.get(at..at + s.len())?;
        out.push(part(*s, field, false)?);
        at += len;
    }
    (at == bytes.len()).then_some(out)
}

/// A value read as `s` reads it: big-endian integers, a host-order
/// conntrack bitmask, a NUL-padded name. `prefix` takes a shorter name as
/// a wildcard (`eth*`).
pub(crate) fn part(s: Selector, bytes: &[u8], prefix: bool) -> Option<Part> {
    match s {
        Selector::Iifname | Selector::Oifname => {
            let name = bytes.split(|&b| b == 0).next().unwrap_or(bytes);
            let name = String::from_utf8(name.to_vec()).ok()?;
            Some(Part::Str(if prefix { format!("{name}*") } else { name }))
        }
        Selector::CtState | Selector::CtStatus => {
            let v = u32::from_ne_bytes(bytes.get(..4)?.try_into().ok()?);
            Some(Part::Int(u128::from(v), u128::from(v)))
        }
        _ => {
            if bytes.len() > 16 || bytes.len() != s.len() {
                return None;
            }
            let v = be(bytes);
            Some(Part::Int(v, v))
        }
    }
}

/// A big-endian integer of up to 16 bytes.
pub(crate) fn be(bytes: &[u8]) -> u128 {
    bytes.iter().fold(0u128, |acc, b| (acc << 8) | u128::from(*b))
}

/// A NAT map's data: an address, then a port padded to four bytes.
pub(crate) fn nat_target(b: &[u8]) -> Option<Data> {
    let (addr, rest): (IpAddr, &[u8]) = match b.len() {
        4 | 8 => (IpAddr::from(<[u8; 4]>::try_from(&b[..4]).ok()?), &b[4..]),
        16 | 20 => (IpAddr::from(<[u8; 16]>::try_from(&b[..16]).ok()?), &b[16..]),
        _ => return None,
    };
    let port = match rest.get(..2) {
        Some(p) => Some(u16::from_be_bytes(p.try_into().ok()?)),
        None => None,
    };
    Some(Data::NatTarget { addr, port })
}

/// The TLVs of a libnftnl user data blob.
pub(crate) fn udata_tlvs(ud: &[u8]) -> impl Iterator<Item = (u8, &[u8])> {
    let mut rest = ud;
    std::iter::from_fn(move || {
        let (&ty, after) = rest.split_first()?;
        let (&len, after) = after.split_first()?;
        let value = after.get(..usize::from(len))?;
        rest = &after[usize::from(len)..];
        Some((ty, value))
    })
}

/// A NUL-terminated user data string.
pub(crate) fn udata_string(v: &[u8]) -> String {
    let text = v.split(|&b| b == 0).next().unwrap_or(v);
    String::from_utf8_lossy(text).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn el(key: &[u8], end: bool) -> RawElement {
        RawElement { key: key.to_vec(), key_end: None, end, data: None, count: None }
    }

    #[test]
    fn interval_elements_pair_into_ranges() {
        // nft's zero marker, [1-5], [6-10] touching, and [200-top].
        let got = ranges(&[
            el(&[0], true),
            el(&[11], true),
            el(&[6], false),
            el(&[6], true),
            el(&[1], false),
            el(&[200], false),
        ]);
        let got: Vec<(u8, Option<u8>)> =
            got.into_iter().map(|r| (r.lo[0], r.hi.map(|h| h[0]))).collect();
        assert_eq!(got, [(1, Some(5)), (6, Some(10)), (200, None)]);
    }

    #[test]
    fn user_data_tlvs() {
        let ud = [0u8, 3, b'h', b'i', 0, 0xf0, 1, 7];
        let tlvs: Vec<(u8, Vec<u8>)> = udata_tlvs(&ud).map(|(t, v)| (t, v.to_vec())).collect();
        assert_eq!(tlvs, [(0, b"hi\0".to_vec()), (0xf0, vec![7])]);
        // A truncated TLV ends the walk.
        assert_eq!(udata_tlvs(&[0u8, 9, 1]).count(), 0);
    }
}
