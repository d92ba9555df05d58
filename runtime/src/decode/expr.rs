//! One rule's kernel expressions read back as model expressions: the
//! inverse of `encode/expr.rs`, and of what nft makes of `compile` output.
//!
//! A small register machine follows what each load puts where (a header
//! field, part of one, a masked field, an immediate, a numgen or hash, a map
//! lookup's result); a compare, range or lookup then reads as a match. nft
//! writes some matches differently from shriekc (a byte-aligned prefix as a
//! shorter load, an address range as `>=` and `<=`, a balanced NAT map in
//! network order); both read as the same match. What the model has no word
//! for becomes [`Expr::Raw`] text, so a rule added by hand is shown, not
//! dropped.

use std::collections::HashMap;
use std::net::IpAddr;

use shriek_compiler::ir::{Limit, MeterTest, RateUnit};
use shriek_compiler::nft::vocab::{
    CT_REPLY, LOG_DEFAULT_LEVEL, NFPROTO_IPV4, NFPROTO_IPV6, PROTO_ICMP, PROTO_ICMPV6, PROTO_TCP,
};
use shriek_compiler::nft::{
    AddrField, CmpOp, Data, Elem, Expr, NatFamily, NatKind, NatStmt, NatTargetExpr, Part, Pick,
    RejectWith, Rhs, Selector, Verdict,
};

use super::set::{be, key_field_len, nat_target, part, verdict, SetInfo};
use crate::abi::*;
use crate::counters::Count;
use crate::msg::{attr, attr_str, attr_u32, attr_u64, attrs};

mod maps;
mod unknown;

/// A rule read back, and the key each named set it looks up is read with.
pub(crate) struct Decoded {
    pub exprs: Vec<Expr>,
    pub named_keys: Vec<(String, Vec<Selector>)>,
    /// The values of its anonymous counters, in order.
    pub counts: Vec<Count>,
    /// Per slot of the balanced NAT map it uses, when that map counts: the
    /// new connections sent to the slot's backend.
    pub slots: Vec<(u32, Count)>,
    /// The named map its balanced translation uses (an anonymous one goes
    /// with the rule).
    pub nat_map: Option<String>,
    /// The rule's own interval sets made first (`staged::own_name`),
    /// read as anonymous ones.
    pub own: Vec<String>,
}

/// What a register holds.
#[derive(Clone, Debug)]
enum Val {
    /// The first `len` bytes of a header field.
    Field {
        sel: Selector,
        len: usize,
    },
    /// A field, masked.
    Masked {
        sel: Selector,
        len: usize,
        mask: Vec<u8>,
    },
    Imm(Vec<u8>),
    Numgen {
        pick: Pick,
        modulus: u32,
        net_order: bool,
    },
    Hash {
        seed: u32,
        modulus: u32,
        v6: bool,
        net_order: bool,
    },
    /// The data a map lookup found for `source`.
    Found {
        map: String,
        source: Box<Val>,
    },
    /// A `meta` key the model has no word for (skuid, ...), whose value
    /// sits in the register in host order.
    Meta(String),
    /// `meta mark` in host order, as loaded; through `byteorder` it becomes
    /// a [`Val::Field`] of [`Selector::Mark`], read in network order.
    HostMark,
    /// A load the model has no word for, as nft-like text.
    Other(String),
    /// ICMP type and code in one two-byte load, as nft loads `icmp type X
    /// icmp code Y`; `v6` for ICMPv6.
    IcmpTypeCode {
        v6: bool,
    },
    /// Neighbouring fields in one load, as nft merges `th sport X th dport
    /// Y` or `ip saddr A ip daddr B` into one compare.
    Adjacent(Vec<Selector>),
}

impl Val {
    fn text(&self) -> String {
        match self {
            Val::Field { sel, len } if *len == sel.len() => sel.keyword().to_string(),
            Val::Field { sel, len } => format!("{} (first {len} bytes)", sel.keyword()),
            Val::Masked { sel, mask, .. } => format!("{} & 0x{}", sel.keyword(), hex(mask)),
            Val::Imm(b) => format!("0x{}", hex(b)),
            Val::Numgen { modulus, .. } => format!("numgen mod {modulus}"),
            Val::Hash { modulus, .. } => format!("jhash mod {modulus}"),
            Val::Found { map, .. } => format!("@{map}"),
            Val::Meta(t) | Val::Other(t) => t.clone(),
            Val::HostMark => "meta mark".into(),
            Val::IcmpTypeCode { v6: false } => "icmp type . icmp code".into(),
            Val::IcmpTypeCode { v6: true } => "icmpv6 type . icmpv6 code".into(),
            Val::Adjacent(sels) => sels.iter().map(|s| s.keyword()).collect::<Vec<_>>().join(" . "),
        }
    }
}

struct Machine<'a> {
    sets: &'a HashMap<String, SetInfo>,
    regs: HashMap<usize, Val>,
    /// The family a `meta nfproto` match has fixed.
    nfproto: Option<u8>,
    /// The protocol a `meta l4proto` match has fixed: it tells ICMP's type
    /// byte from ICMPv6's.
    l4proto: Option<u8>,
    /// `>= lo` waiting for its `<= hi` on the same register.
    pending_gte: Option<(usize, Vec<u8>)>,
    out: Vec<Expr>,
    named_keys: Vec<(String, Vec<Selector>)>,
    counts: Vec<Count>,
    slots: Vec<(u32, Count)>,
    nat_map: Option<String>,
    own: Vec<String>,
}

/// Reads a rule's NFTA_RULE_EXPRESSIONS.
pub(crate) fn rule(exprs: &[u8], sets: &HashMap<String, SetInfo>) -> Decoded {
    let mut m = Machine {
        sets,
        regs: HashMap::new(),
        nfproto: None,
        l4proto: None,
        pending_gte: None,
        out: Vec::new(),
        named_keys: Vec::new(),
        counts: Vec::new(),
        slots: Vec::new(),
        nat_map: None,
        own: Vec::new(),
    };
    for (_, e) in attrs(exprs) {
        let name = attr_str(e, NFTA_EXPR_NAME).unwrap_or_default();
        let data = attr(e, NFTA_EXPR_DATA).unwrap_or(&[]);
        if name != "cmp" {
            m.flush_gte();
        }
        if m.step(&name, data).is_none() {
            m.out.push(Expr::Raw(raw(&name, data)));
            m.clobber(&name, data);
        }
    }
    m.flush_gte();
    let exprs = drop_implied_family(m.out);
    Decoded {
        exprs,
        named_keys: m.named_keys,
        counts: m.counts,
        slots: m.slots,
        nat_map: m.nat_map,
        own: m.own,
    }
}

/// The word a register number names: NFT_REG_1..4 are 16 bytes each,
/// NFT_REG32_00..15 four.
fn word(reg: u32) -> Option<usize> {
    match reg {
        1..=4 => Some((reg as usize - 1) * 4),
        r if (NFT_REG32_00..NFT_REG32_00 + 16).contains(&r) => Some((r - NFT_REG32_00) as usize),
        _ => None,
    }
}

impl Machine<'_> {
    fn reg(&self, data: &[u8], ty: u16) -> Option<&Val> {
        self.regs.get(&word(attr_u32(data, ty)?)?)
    }

    fn set_reg(&mut self, data: &[u8], ty: u16, v: Val) -> Option<()> {
        let w = word(attr_u32(data, ty)?)?;
        self.regs.insert(w, v);
        Some(())
    }

    fn flush_gte(&mut self) {
        if let Some((w, lo)) = self.pending_gte.take() {
            let left = self.regs.get(&w).map_or("?".into(), Val::text);
            self.out.push(Expr::Raw(format!("{left} >= 0x{}", hex(&lo))));
        }
    }

    /// One expression; `None` when it reads as nothing the model says.
    fn step(&mut self, name: &str, d: &[u8]) -> Option<()> {
        match name {
            "meta" => {
                if attr(d, NFTA_META_SREG).is_some() {
                    // `meta mark set N`: N from an immediate, as written.
                    if attr_u32(d, NFTA_META_KEY)? != NFT_META_MARK {
                        return None;
                    }
                    let Val::Imm(b) = self.reg(d, NFTA_META_SREG)? else { return None };
                    let v = u32::from_ne_bytes(b.as_slice().try_into().ok()?);
                    self.out.push(Expr::MarkSet(v));
                    return Some(());
                }
                let v = match attr_u32(d, NFTA_META_KEY)? {
                    NFT_META_MARK => Val::HostMark,
                    NFT_META_NFPROTO => Val::Field { sel: Selector::Nfproto, len: 1 },
                    NFT_META_L4PROTO => Val::Field { sel: Selector::L4proto, len: 1 },
                    NFT_META_IIFNAME => Val::Field { sel: Selector::Iifname, len: 16 },
                    NFT_META_OIFNAME => Val::Field { sel: Selector::Oifname, len: 16 },
                    k => Val::Meta(format!("meta {}", meta_name(k))),
                };
                self.set_reg(d, NFTA_META_DREG, v)
            }
            "payload" => {
                if attr(d, NFTA_PAYLOAD_SREG).is_some() {
                    return None;
                }
                let base = attr_u32(d, NFTA_PAYLOAD_BASE)?;
                let off = attr_u32(d, NFTA_PAYLOAD_OFFSET)?;
                let len = attr_u32(d, NFTA_PAYLOAD_LEN)? as usize;
                let ports = !matches!(self.l4proto, Some(PROTO_ICMP | PROTO_ICMPV6));
                let adjacent = match (base, off, len, self.nfproto) {
                    (NFT_PAYLOAD_TRANSPORT_HEADER, 0, 4, _) if ports => {
                        Some(vec![Selector::ThSport, Selector::ThDport])
                    }
                    (NFT_PAYLOAD_NETWORK_HEADER, 12, 8, Some(NFPROTO_IPV4)) => {
                        Some(vec![Selector::Ip4Saddr, Selector::Ip4Daddr])
                    }
                    _ => None,
                };
                if let Some(sels) = adjacent {
                    return self.set_reg(d, NFTA_PAYLOAD_DREG, Val::Adjacent(sels));
                }
                let sel = match (base, off, self.nfproto) {
                    (NFT_PAYLOAD_NETWORK_HEADER, 12, Some(NFPROTO_IPV4)) => {
                        Some(Selector::Ip4Saddr)
                    }
                    (NFT_PAYLOAD_NETWORK_HEADER, 16, Some(NFPROTO_IPV4)) => {
                        Some(Selector::Ip4Daddr)
                    }
                    (NFT_PAYLOAD_NETWORK_HEADER, 8, Some(NFPROTO_IPV6)) => Some(Selector::Ip6Saddr),
                    (NFT_PAYLOAD_NETWORK_HEADER, 24, Some(NFPROTO_IPV6)) => {
                        Some(Selector::Ip6Daddr)
                    }
                    (NFT_PAYLOAD_TRANSPORT_HEADER, 0, _) if len == 2 => Some(Selector::ThSport),
                    (NFT_PAYLOAD_TRANSPORT_HEADER, 2, _) if len == 2 => Some(Selector::ThDport),
                    (NFT_PAYLOAD_TRANSPORT_HEADER, 0 | 1, _) if len == 1 => {
                        match (self.l4proto, off) {
                            (Some(PROTO_ICMP), 0) => Some(Selector::IcmpType),
                            (Some(PROTO_ICMP), _) => Some(Selector::IcmpCode),
                            (Some(PROTO_ICMPV6), 0) => Some(Selector::Icmpv6Type),
                            (Some(PROTO_ICMPV6), _) => Some(Selector::Icmpv6Code),
                            _ => None,
                        }
                    }
                    (NFT_PAYLOAD_TRANSPORT_HEADER, 13, _)
                        if len == 1 && self.l4proto == Some(PROTO_TCP) =>
                    {
                        Some(Selector::TcpFlags)
                    }
                    _ => None,
                };
                let icmp = match self.l4proto {
                    Some(PROTO_ICMP) => Some(false),
                    Some(PROTO_ICMPV6) => Some(true),
                    _ => None,
                };
                let v = match (sel, icmp) {
                    (_, Some(v6))
                        if base == NFT_PAYLOAD_TRANSPORT_HEADER && off == 0 && len == 2 =>
                    {
                        Val::IcmpTypeCode { v6 }
                    }
                    (Some(sel), _) if (1..=sel.len()).contains(&len) => Val::Field { sel, len },
                    _ => {
                        let b = match base {
                            NFT_PAYLOAD_LL_HEADER => "ll",
                            NFT_PAYLOAD_NETWORK_HEADER => "nh",
                            NFT_PAYLOAD_TRANSPORT_HEADER => "th",
                            _ => "ih",
                        };
                        Val::Other(format!("@{b},{},{}", off * 8, len * 8))
                    }
                };
                self.set_reg(d, NFTA_PAYLOAD_DREG, v)
            }
            "ct" => {
                if attr(d, NFTA_CT_SREG).is_some() {
                    return None;
                }
                let reply = attr(d, NFTA_CT_DIRECTION).map(|b| b.first() == Some(&CT_REPLY));
                let key = attr_u32(d, NFTA_CT_KEY)?;
                let sel = match (key, reply) {
                    (NFT_CT_STATE, None) => Some(Selector::CtState),
                    (NFT_CT_DIRECTION, None) => Some(Selector::CtDirection),
                    (NFT_CT_STATUS, None) => Some(Selector::CtStatus),
                    (NFT_CT_SRC_IP, Some(true)) => Some(Selector::CtReplyIp4Saddr),
                    (NFT_CT_SRC_IP6, Some(true)) => Some(Selector::CtReplyIp6Saddr),
                    (NFT_CT_PROTO_SRC, Some(true)) => Some(Selector::CtReplyProtoSrc),
                    _ => None,
                };
                let v = match sel {
                    Some(sel) => Val::Field { sel, len: sel.len() },
                    None => Val::Other(format!("ct key {key}")),
                };
                self.set_reg(d, NFTA_CT_DREG, v)
            }
            "bitwise" => {
                let src = self.reg(d, NFTA_BITWISE_SREG)?.clone();
                let mask = attr(d, NFTA_BITWISE_MASK).and_then(|m| attr(m, NFTA_DATA_VALUE));
                let xor = attr(d, NFTA_BITWISE_XOR).and_then(|m| attr(m, NFTA_DATA_VALUE));
                let boolean = attr_u32(d, NFTA_BITWISE_OP).unwrap_or(0) == 0;
                let v = match (src, mask, xor) {
                    (Val::Field { sel, len }, Some(mask), Some(xor))
                        if boolean && xor.iter().all(|b| *b == 0) =>
                    {
                        Val::Masked { sel, len, mask: mask.to_vec() }
                    }
                    (src, ..) => Val::Other(format!("{} (bitwise)", src.text())),
                };
                self.set_reg(d, NFTA_BITWISE_DREG, v)
            }
            "cmp" => self.cmp(d),
            "range" => {
                let Val::Field { sel, len } = self.reg(d, NFTA_RANGE_SREG)?.clone() else {
                    return None;
                };
                let from = attr(d, NFTA_RANGE_FROM_DATA).and_then(|x| attr(x, NFTA_DATA_VALUE))?;
                let to = attr(d, NFTA_RANGE_TO_DATA).and_then(|x| attr(x, NFTA_DATA_VALUE))?;
                let op = match attr_u32(d, NFTA_RANGE_OP)? {
                    NFT_RANGE_EQ => CmpOp::Eq,
                    NFT_RANGE_NEQ => CmpOp::Ne,
                    _ => return None,
                };
                let (lo, hi) = (span(sel, len, from)?.0, span(sel, len, to)?.1);
                self.push_match(vec![sel], op, Rhs::Value(Elem(vec![Part::Int(lo, hi)])));
                Some(())
            }
            "lookup" => self.lookup(d),
            "immediate" => {
                let data = attr(d, NFTA_IMMEDIATE_DATA)?;
                if attr_u32(d, NFTA_IMMEDIATE_DREG)? == NFT_REG_VERDICT {
                    match verdict(attr(data, NFTA_DATA_VERDICT)?) {
                        Verdict::Continue => return None,
                        v => self.out.push(Expr::Verdict(v)),
                    }
                    Some(())
                } else {
                    let v = Val::Imm(attr(data, NFTA_DATA_VALUE)?.to_vec());
                    self.set_reg(d, NFTA_IMMEDIATE_DREG, v)
                }
            }
            "counter" => {
                self.out.push(Expr::Counter(None));
                self.counts.push(Count::from_data(d));
                Some(())
            }
            "objref" => {
                if attr_u32(d, NFTA_OBJREF_IMM_TYPE)? != NFT_OBJECT_COUNTER {
                    return None;
                }
                self.out.push(Expr::Counter(Some(attr_str(d, NFTA_OBJREF_IMM_NAME)?)));
                Some(())
            }
            "log" => {
                // Flags are more than the model's `log [level] [prefix]`.
                let plain = attrs(d).all(|(t, _)| match t {
                    NFTA_LOG_PREFIX | NFTA_LOG_LEVEL => true,
                    NFTA_LOG_FLAGS => attr_u32(d, t) == Some(0),
                    _ => false,
                });
                if !plain {
                    return None;
                }
                // The kernel reports its default level: that is no level.
                let level = match attr_u32(d, NFTA_LOG_LEVEL) {
                    None => None,
                    Some(l) if l == u32::from(LOG_DEFAULT_LEVEL) => None,
                    Some(l) => Some(u8::try_from(l).ok()?),
                };
                self.out.push(Expr::Log { prefix: attr_str(d, NFTA_LOG_PREFIX), level });
                Some(())
            }
            "limit" => {
                self.out.push(Expr::Limit(limit(d)?));
                Some(())
            }
            "dynset" => self.dynset(d),
            "reject" => {
                let ty = attr_u32(d, NFTA_REJECT_TYPE)?;
                let code = attr(d, NFTA_REJECT_ICMP_CODE).and_then(|c| c.first().copied());
                // `reject with icmp` answers in the family the rule fixes;
                // each port unreachable reads back as plain `reject`.
                let with = match (ty, code, self.nfproto) {
                    (NFT_REJECT_TCP_RST, _, _) => RejectWith::TcpReset,
                    (NFT_REJECT_ICMPX_UNREACH, Some(c), _) => RejectWith::Icmpx(c),
                    (NFT_REJECT_ICMP_UNREACH, Some(c), Some(NFPROTO_IPV4)) => RejectWith::Icmp(c),
                    (NFT_REJECT_ICMP_UNREACH, Some(c), Some(NFPROTO_IPV6)) => RejectWith::Icmpv6(c),
                    _ => return None,
                }
                .normal();
                self.out.push(Expr::Verdict(Verdict::Reject(with)));
                Some(())
            }
            "numgen" => {
                if attr_u32(d, NFTA_NG_OFFSET).unwrap_or(0) != 0 {
                    return None;
                }
                let pick = match attr_u32(d, NFTA_NG_TYPE)? {
                    NFT_NG_INCREMENTAL => Pick::RoundRobin,
                    NFT_NG_RANDOM => Pick::Random,
                    _ => return None,
                };
                let modulus = attr_u32(d, NFTA_NG_MODULUS)?;
                self.set_reg(d, NFTA_NG_DREG, Val::Numgen { pick, modulus, net_order: false })
            }
            "hash" => {
                let v6 = match self.reg(d, NFTA_HASH_SREG)? {
                    Val::Field { sel: Selector::Ip4Saddr, len: 4 } => false,
                    Val::Field { sel: Selector::Ip6Saddr, len: 16 } => true,
                    _ => return None,
                };
                if attr_u32(d, NFTA_HASH_OFFSET).unwrap_or(0) != 0
                    || attr_u32(d, NFTA_HASH_TYPE).unwrap_or(NFT_HASH_JENKINS) != NFT_HASH_JENKINS
                {
                    return None;
                }
                let v = Val::Hash {
                    seed: attr_u32(d, NFTA_HASH_SEED).unwrap_or(0),
                    modulus: attr_u32(d, NFTA_HASH_MODULUS)?,
                    v6,
                    net_order: false,
                };
                self.set_reg(d, NFTA_HASH_DREG, v)
            }
            "byteorder" => {
                let src = self.reg(d, NFTA_BYTEORDER_SREG)?.clone();
                // nft puts a one-byte field of a concatenated interval key
                // through byteorder; one byte has no order to change.
                if let Val::Field { len: 1, .. } = src {
                    return self.set_reg(d, NFTA_BYTEORDER_DREG, src);
                }
                if attr_u32(d, NFTA_BYTEORDER_OP)? != NFT_BYTEORDER_HTON
                    || attr_u32(d, NFTA_BYTEORDER_LEN)? != 4
                {
                    return None;
                }
                let v = match src {
                    Val::HostMark => Val::Field { sel: Selector::Mark, len: 4 },
                    Val::Numgen { pick, modulus, .. } => {
                        Val::Numgen { pick, modulus, net_order: true }
                    }
                    Val::Hash { seed, modulus, v6, .. } => {
                        Val::Hash { seed, modulus, v6, net_order: true }
                    }
                    other => Val::Other(format!("{} (byteorder)", other.text())),
                };
                self.set_reg(d, NFTA_BYTEORDER_DREG, v)
            }
            "nat" => self.nat(d),
            "masq" | "redir" => self.masq_or_redir(name, d),
            _ => None,
        }
    }

    fn push_match(&mut self, key: Vec<Selector>, op: CmpOp, rhs: Rhs) {
        self.out.push(Expr::Match { key, op, rhs });
    }

    fn cmp(&mut self, d: &[u8]) -> Option<()> {
        let w = word(attr_u32(d, NFTA_CMP_SREG)?)?;
        let data = attr(d, NFTA_CMP_DATA).and_then(|x| attr(x, NFTA_DATA_VALUE))?.to_vec();
        let op = attr_u32(d, NFTA_CMP_OP)?;
        let val = self.regs.get(&w).cloned();
        match op {
            NFT_CMP_GTE => {
                self.flush_gte();
                self.pending_gte = Some((w, data));
                return Some(());
            }
            NFT_CMP_LTE => {
                // `>=` then `<=` on one field is a range; any other `>=`
                // waiting is shown on its own, never lost.
                if let (Some((pw, lo)), Some(Val::Field { sel, len })) = (&self.pending_gte, &val) {
                    if *pw == w {
                        let (lo, hi) = (span(*sel, *len, lo)?.0, span(*sel, *len, &data)?.1);
                        self.pending_gte = None;
                        self.push_match(
                            vec![*sel],
                            CmpOp::Eq,
                            Rhs::Value(Elem(vec![Part::Int(lo, hi)])),
                        );
                        return Some(());
                    }
                }
                self.flush_gte();
            }
            _ => self.flush_gte(),
        }
        let cmp_op = match op {
            NFT_CMP_EQ => CmpOp::Eq,
            NFT_CMP_NEQ => CmpOp::Ne,
            _ => {
                let left = val.as_ref().map_or("?".into(), Val::text);
                let sym = ["==", "!=", "<", "<=", ">", ">="].get(op as usize).unwrap_or(&"?");
                self.out.push(Expr::Raw(format!("{left} {sym} 0x{}", hex(&data))));
                return Some(());
            }
        };
        match val {
            Some(Val::HostMark) if data.len() == 4 => {
                let v = u128::from(u32::from_ne_bytes(data.as_slice().try_into().ok()?));
                self.push_match(
                    vec![Selector::Mark],
                    cmp_op,
                    Rhs::Value(Elem(vec![Part::Int(v, v)])),
                );
                Some(())
            }
            Some(Val::IcmpTypeCode { v6 }) if cmp_op == CmpOp::Eq && data.len() == 2 => {
                let (ty, code) = if v6 {
                    (Selector::Icmpv6Type, Selector::Icmpv6Code)
                } else {
                    (Selector::IcmpType, Selector::IcmpCode)
                };
                for (sel, v) in [(ty, data[0]), (code, data[1])] {
                    let v = u128::from(v);
                    self.push_match(vec![sel], CmpOp::Eq, Rhs::Value(Elem(vec![Part::Int(v, v)])));
                }
                Some(())
            }
            // nft's merged compare of neighbouring fields: one match each.
            Some(Val::Adjacent(sels))
                if cmp_op == CmpOp::Eq
                    && data.len() == sels.iter().map(|s| s.len()).sum::<usize>() =>
            {
                let mut at = 0;
                for sel in sels {
                    let (lo, hi) = span(sel, sel.len(), &data[at..at + sel.len()])?;
                    at += sel.len();
                    self.push_match(
                        vec![sel],
                        CmpOp::Eq,
                        Rhs::Value(Elem(vec![Part::Int(lo, hi)])),
                    );
                }
                Some(())
            }
            Some(Val::Field { sel, len }) => {
                let part = match sel {
                    // A name shorter than the register is a wildcard.
                    Selector::Iifname | Selector::Oifname => part(sel, &data, data.len() < 16)?,
                    _ => {
                        let (lo, hi) = span(sel, len, &data)?;
                        Part::Int(lo, hi)
                    }
                };
                if sel == Selector::Nfproto && cmp_op == CmpOp::Eq {
                    self.nfproto = data.first().copied();
                }
                if sel == Selector::L4proto && cmp_op == CmpOp::Eq {
                    self.l4proto = data.first().copied();
                }
                self.push_match(vec![sel], cmp_op, Rhs::Value(Elem(vec![part])));
                Some(())
            }
            Some(Val::Masked {
                sel: sel @ (Selector::CtState | Selector::CtStatus), mask, ..
            }) if data.iter().all(|b| *b == 0) => {
                let mask = u32::from_ne_bytes(mask.get(..4)?.try_into().ok()?);
                // `state & mask != 0`: one of these states.
                let op = if cmp_op == CmpOp::Ne { CmpOp::Eq } else { CmpOp::Ne };
                self.push_match(vec![sel], op, Rhs::Flags(mask));
                Some(())
            }
            // `tcp flags syn / syn,ack`, `tcp flags syn,ack` (`& mask != 0`).
            Some(Val::Masked { sel: Selector::TcpFlags, mask, .. })
                if mask.len() == 1 && data.len() == 1 =>
            {
                let rhs = Rhs::Masked { mask: mask[0].into(), value: data[0].into() };
                self.push_match(vec![Selector::TcpFlags], cmp_op, rhs);
                Some(())
            }
            Some(Val::Masked { sel, len, mask }) if sel.family().is_some() => {
                let width = sel.len();
                let mut m = mask.clone();
                m.resize(width, 0);
                let mut v = data.clone();
                v.resize(width, 0);
                let ones = u128::MAX >> (128 - width * 8);
                let (m, v) = (be(&m), be(&v));
                // Only a prefix mask is an address match.
                if (!m & ones).wrapping_add(1) & (!m & ones) != 0 || len > width {
                    return None;
                }
                let lo = v & m;
                self.push_match(
                    vec![sel],
                    cmp_op,
                    Rhs::Value(Elem(vec![Part::Int(lo, lo | (!m & ones))])),
                );
                Some(())
            }
            other => {
                let left = other.as_ref().map_or("?".into(), Val::text);
                let sym = if cmp_op == CmpOp::Eq { "" } else { "!= " };
                let value = match (&other, <[u8; 4]>::try_from(data.as_slice())) {
                    (Some(Val::Meta(_)), Ok(word)) => format!("0x{:08x}", u32::from_ne_bytes(word)),
                    _ => format!("0x{}", hex(&data)),
                };
                self.out.push(Expr::Raw(format!("{left} {sym}{value}")));
                Some(())
            }
        }
    }

    /// The selectors loaded into the registers from `w` on, `len` bytes.
    fn key_at(&self, mut w: usize, len: usize) -> Option<Vec<Selector>> {
        let mut key = Vec::new();
        let mut total = 0;
        while total < len {
            let sel = match self.regs.get(&w) {
                Some(Val::Field { sel, len: l }) if *l == sel.len() => *sel,
                Some(Val::Masked { sel, len: l, mask }) if *l == sel.len() => net(*sel, mask)?,
                _ => return None,
            };
            key.push(sel);
            total += (sel.len() + 3) & !3;
            w += sel.len().div_ceil(4);
        }
        let exact: usize = key.iter().map(|s| key_field_len(*s, key.len())).sum();
        (exact == len).then_some(key)
    }
}

/// An address masked to a prefix of it, as a map's key reads it
/// (`ip saddr & 255.255.255.0`); no other mask.
fn net(sel: Selector, mask: &[u8]) -> Option<Selector> {
    let field = AddrField::of(sel)?;
    if mask.len() != sel.len() {
        return None;
    }
    let m = be(mask);
    let bits = field.bits();
    let ones = (m << (128 - bits)).leading_ones();
    let s = Selector::Net { field, len: u8::try_from(ones).ok()? };
    (ones > 0 && ones < bits && s.net_mask() == Some(m)).then_some(s)
}

/// The values a load of `len` bytes of `sel` compared with `data` spans:
/// the whole field's low and high end (a shorter load of an address is a
/// prefix of it).
fn span(sel: Selector, len: usize, data: &[u8]) -> Option<(u128, u128)> {
    if len == sel.len() {
        let Part::Int(v, _) = part(sel, data, false)? else { return None };
        return Some((v, v));
    }
    if sel.family().is_none() || data.len() != len {
        return None;
    }
    let rest = (sel.len() - len) * 8;
    let lo = be(data) << rest;
    Some((lo, lo | ((1u128 << rest) - 1)))
}

/// A packet-counting `limit` as the model writes it: a whole unit, not
/// inverted, nft's default burst read back as none.
fn limit(d: &[u8]) -> Option<Limit> {
    let per = match attr_u64(d, NFTA_LIMIT_UNIT)? {
        1 => RateUnit::Second,
        60 => RateUnit::Minute,
        3600 => RateUnit::Hour,
        86400 => RateUnit::Day,
        _ => return None,
    };
    if attr_u32(d, NFTA_LIMIT_TYPE).unwrap_or(NFT_LIMIT_PKTS) != NFT_LIMIT_PKTS
        || attr_u32(d, NFTA_LIMIT_FLAGS).unwrap_or(0) & NFT_LIMIT_F_INV != 0
    {
        return None;
    }
    let burst = attr_u32(d, NFTA_LIMIT_BURST).unwrap_or(0);
    let burst = (burst != shriek_compiler::identity::DEFAULT_LIMIT_BURST).then_some(burst);
    Some(Limit { rate: attr_u64(d, NFTA_LIMIT_RATE)?, per, burst })
}

/// nft checks `meta nfproto` before an address load; the model leaves that
/// check to the address, as `compile` prints it.
fn drop_implied_family(exprs: Vec<Expr>) -> Vec<Expr> {
    let fam =
        |s: &Selector| s.family().map(|f| u128::from(shriek_compiler::nft::vocab::nfproto(f)));
    let later: Vec<Vec<u128>> = (0..exprs.len())
        .map(|i| {
            exprs[i + 1..]
                .iter()
                .flat_map(|e| match e {
                    Expr::Match { key, .. } | Expr::Vmap { key, .. } => {
                        key.iter().filter_map(fam).collect::<Vec<_>>()
                    }
                    Expr::Meter(m) => fam(&m.key).into_iter().collect(),
                    Expr::Nat(NatStmt {
                        target: NatTargetExpr::Balanced { pick: Pick::SourceHash { .. }, slots, .. },
                        ..
                    }) => {
                        let v6 = slots.iter().any(|s| s.2.is_ipv6());
                        vec![u128::from(if v6 { NFPROTO_IPV6 } else { NFPROTO_IPV4 })]
                    }
                    _ => vec![],
                })
                .collect()
        })
        .collect();
    exprs
        .into_iter()
        .enumerate()
        .filter(|(i, e)| match e {
            Expr::Match { key, op: CmpOp::Eq, rhs: Rhs::Value(Elem(p)) }
                if key.as_slice() == [Selector::Nfproto] =>
            {
                !matches!(p.as_slice(), [Part::Int(l, h)] if l == h && later[*i].contains(l))
            }
            _ => true,
        })
        .map(|(_, e)| e)
        .collect()
}

fn meta_name(key: u32) -> String {
    match key {
        0 => "length".into(),
        1 => "protocol".into(),
        3 => "mark".into(),
        4 => "iif".into(),
        5 => "oif".into(),
        10 => "skuid".into(),
        11 => "skgid".into(),
        k => format!("key {k}"),
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// An expression the model has no word for, as its kernel name and the
/// numbers of its attributes, e.g. `[fib 1=... 3=...]`.
fn raw(name: &str, data: &[u8]) -> String {
    let parts: Vec<String> = attrs(data)
        .map(|(t, v)| match std::str::from_utf8(v) {
            Ok(s) if v.last() == Some(&0) && s[..s.len() - 1].chars().all(|c| !c.is_control()) => {
                format!("{t}={:?}", &s[..s.len() - 1])
            }
            _ => format!("{t}=0x{}", hex(v)),
        })
        .collect();
    if parts.is_empty() {
        format!("[{name}]")
    } else {
        format!("[{name} {}]", parts.join(" "))
    }
}
