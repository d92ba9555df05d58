//! One rule's expressions: a match becomes register loads (meta, payload,
//! ct) and then cmp, bitwise + cmp for a prefix, range, or a set lookup;
//! statements become their expressions. An anonymous set a match needs is
//! written into the batch by the match itself, before the rule's message,
//! which is only written once its expressions are known.

use std::net::IpAddr;

use shriek_compiler::identity::DEFAULT_LIMIT_BURST;
use shriek_compiler::ir::{Limit, MeterTest};
use shriek_compiler::nft::vocab::{
    nfproto, CT_REPLY, ICMPX_PORT_UNREACH, NFPROTO_IPV4, NFPROTO_IPV6,
};
use shriek_compiler::nft::{
    CmpOp, Elem, Expr, NatFamily, NatKind, NatStmt, NatTargetExpr, Origin, Part, Pick, RejectWith,
    Rhs, Selector, Verdict,
};

use super::batch::{Batch, OwnSet};
use super::nat_map::{nat_map, Balanced};
use super::set::{align4, anon_set, has_range, ifname, int_bytes, verdict_data};
use crate::abi::*;
use crate::msg::Attrs;

/// What writing one rule's expressions needs.
pub(super) struct RuleCx<'a> {
    /// Where the rule's anonymous sets go, ahead of the rule.
    pub b: &'a mut Batch,
    pub table: &'a str,
    /// The named sets' kernel names, and the ids of those made in this
    /// batch, which lookups bind to.
    pub refs: &'a super::SetRefs,
    /// The policy rules behind the rule, for errors about its sets.
    pub origin: &'a [Origin],
    /// The family a `meta nfproto` match has already fixed.
    pub nfproto: Option<u8>,
    /// Whether the rule's first anonymous counter, its per-rule count, is
    /// written already.
    pub counted: bool,
}

/// Register for the 32-bit word `word` of the scratch area: the first is
/// NFT_REG_1, as nft writes it, the rest NFT_REG32_xx.
fn reg(word: usize) -> u32 {
    if word == 0 {
        1
    } else {
        NFT_REG32_00 + u32::try_from(word).expect("a key spans at most 16 registers")
    }
}

fn kernel_expr(a: &mut Attrs, name: &str, data: impl FnOnce(&mut Attrs)) {
    a.nest(NFTA_LIST_ELEM, |e| {
        e.str(NFTA_EXPR_NAME, name);
        e.nest(NFTA_EXPR_DATA, data);
    });
}

fn meta(a: &mut Attrs, key: u32, dreg: u32) {
    kernel_expr(a, "meta", |d| {
        d.u32(NFTA_META_KEY, key);
        d.u32(NFTA_META_DREG, dreg);
    });
}

/// A conntrack load; `dir` picks the direction of a tuple field.
fn ct(a: &mut Attrs, key: u32, dir: Option<u8>, dreg: u32) {
    kernel_expr(a, "ct", |d| {
        d.u32(NFTA_CT_KEY, key);
        d.u32(NFTA_CT_DREG, dreg);
        if let Some(dir) = dir {
            d.bytes(NFTA_CT_DIRECTION, &[dir]);
        }
    });
}

fn payload(a: &mut Attrs, base: u32, offset: u32, len: u32, dreg: u32) {
    kernel_expr(a, "payload", |d| {
        d.u32(NFTA_PAYLOAD_DREG, dreg);
        d.u32(NFTA_PAYLOAD_BASE, base);
        d.u32(NFTA_PAYLOAD_OFFSET, offset);
        d.u32(NFTA_PAYLOAD_LEN, len);
    });
}

fn cmp(a: &mut Attrs, op: u32, sreg: u32, data: &[u8]) {
    kernel_expr(a, "cmp", |d| {
        d.u32(NFTA_CMP_SREG, sreg);
        d.u32(NFTA_CMP_OP, op);
        d.nest(NFTA_CMP_DATA, |v| v.bytes(NFTA_DATA_VALUE, data));
    });
}

fn bitwise(a: &mut Attrs, reg: u32, mask: &[u8]) {
    kernel_expr(a, "bitwise", |d| {
        d.u32(NFTA_BITWISE_SREG, reg);
        d.u32(NFTA_BITWISE_DREG, reg);
        d.u32(NFTA_BITWISE_LEN, u32::try_from(mask.len()).expect("a mask is one selector wide"));
        d.nest(NFTA_BITWISE_MASK, |v| v.bytes(NFTA_DATA_VALUE, mask));
        d.nest(NFTA_BITWISE_XOR, |v| v.bytes(NFTA_DATA_VALUE, &vec![0; mask.len()]));
    });
}

/// The 32-bit word in `reg` from host to network order, as nft puts a mark
/// before a range or a set: their bounds are compared byte by byte.
fn hton32(a: &mut Attrs, reg: u32) {
    kernel_expr(a, "byteorder", |d| {
        d.u32(NFTA_BYTEORDER_SREG, reg);
        d.u32(NFTA_BYTEORDER_DREG, reg);
        d.u32(NFTA_BYTEORDER_OP, NFT_BYTEORDER_HTON);
        d.u32(NFTA_BYTEORDER_LEN, 4);
        d.u32(NFTA_BYTEORDER_SIZE, 4);
    });
}

fn immediate_value(a: &mut Attrs, dreg: u32, data: &[u8]) {
    kernel_expr(a, "immediate", |d| {
        d.u32(NFTA_IMMEDIATE_DREG, dreg);
        d.nest(NFTA_IMMEDIATE_DATA, |v| v.bytes(NFTA_DATA_VALUE, data));
    });
}

impl RuleCx<'_> {
    /// In an inet table, an address load is only meaningful after the
    /// packet's family is known: match `meta nfproto` first unless done.
    fn require_family(&mut self, a: &mut Attrs, family: Option<u8>) {
        if let Some(f) = family {
            if self.nfproto != Some(f) {
                meta(a, NFT_META_NFPROTO, 1);
                cmp(a, NFT_CMP_EQ, 1, &[f]);
                self.nfproto = Some(f);
            }
        }
    }

    fn load(&mut self, a: &mut Attrs, s: Selector, dreg: u32) {
        self.require_family(a, s.family().map(nfproto));
        let nh = NFT_PAYLOAD_NETWORK_HEADER;
        let th = NFT_PAYLOAD_TRANSPORT_HEADER;
        match s {
            Selector::Nfproto => meta(a, NFT_META_NFPROTO, dreg),
            Selector::L4proto => meta(a, NFT_META_L4PROTO, dreg),
            Selector::Ip4Saddr => payload(a, nh, 12, 4, dreg),
            Selector::Ip4Daddr => payload(a, nh, 16, 4, dreg),
            Selector::Ip6Saddr => payload(a, nh, 8, 16, dreg),
            Selector::Ip6Daddr => payload(a, nh, 24, 16, dreg),
            Selector::ThSport => payload(a, th, 0, 2, dreg),
            Selector::ThDport => payload(a, th, 2, 2, dreg),
            Selector::Iifname => meta(a, NFT_META_IIFNAME, dreg),
            Selector::Oifname => meta(a, NFT_META_OIFNAME, dreg),
            // The model puts the `meta l4proto` dependency in front.
            Selector::IcmpType | Selector::Icmpv6Type => payload(a, th, 0, 1, dreg),
            Selector::IcmpCode | Selector::Icmpv6Code => payload(a, th, 1, 1, dreg),
            Selector::TcpFlags => payload(a, th, 13, 1, dreg),
            Selector::CtState => ct(a, NFT_CT_STATE, None, dreg),
            Selector::CtDirection => ct(a, NFT_CT_DIRECTION, None, dreg),
            Selector::CtStatus => ct(a, NFT_CT_STATUS, None, dreg),
            Selector::CtReplyIp4Saddr => ct(a, NFT_CT_SRC_IP, Some(CT_REPLY), dreg),
            Selector::CtReplyIp6Saddr => ct(a, NFT_CT_SRC_IP6, Some(CT_REPLY), dreg),
            Selector::CtReplyProtoSrc => ct(a, NFT_CT_PROTO_SRC, Some(CT_REPLY), dreg),
            Selector::Mark => meta(a, NFT_META_MARK, dreg),
            Selector::Net { field, .. } => {
                self.load(a, field.plain(), dreg);
                bitwise(a, dreg, &int_bytes(s, s.net_mask().unwrap_or_default()));
            }
        }
    }

    /// Loads a (possibly concatenated) key into consecutive registers and
    /// returns the first.
    fn load_key(&mut self, a: &mut Attrs, key: &[Selector]) -> u32 {
        let mut word = 0;
        for s in key {
            self.load(a, *s, reg(word));
            // A set holds a mark in network order (see `Selector::Mark`).
            if *s == Selector::Mark {
                hton32(a, reg(word));
            }
            word += align4(s.len()) / 4;
        }
        reg(0)
    }

    /// Looks the key up in the rule's own set of `elems`: anonymous, made
    /// here, or, for an interval set in a table that stays, made first
    /// under a name of its own (`Batch::own`).
    fn own_set(&mut self, a: &mut Attrs, key: &[Selector], elems: &[Elem], inv: bool) {
        let own = self.b.own.as_mut().filter(|o| o.tables.contains(self.table));
        match own {
            Some(own) if has_range(elems) => {
                let name = crate::decode::staged::own_name(own.genid, own.made.len());
                own.made.push(OwnSet {
                    table: self.table.to_string(),
                    name: name.clone(),
                    key: key.to_vec(),
                    elems: elems.to_vec(),
                    origin: self.origin.to_vec(),
                });
                self.lookup(a, key, &name, None, None, inv);
            }
            _ => {
                let id = anon_set(self.b, self.table, key, elems, self.origin);
                self.lookup(a, key, "__set%d", Some(id), None, inv);
            }
        }
    }

    fn lookup(
        &mut self,
        a: &mut Attrs,
        key: &[Selector],
        set: &str,
        id: Option<u32>,
        dreg: Option<u32>,
        inv: bool,
    ) {
        let sreg = self.load_key(a, key);
        kernel_expr(a, "lookup", |d| {
            d.str(NFTA_LOOKUP_SET, set);
            if let Some(id) = id {
                d.u32(NFTA_LOOKUP_SET_ID, id);
            }
            d.u32(NFTA_LOOKUP_SREG, sreg);
            if let Some(r) = dreg {
                d.u32(NFTA_LOOKUP_DREG, r);
            }
            if inv {
                d.u32(NFTA_LOOKUP_FLAGS, NFT_LOOKUP_F_INV);
            }
        });
    }
}

/// A `limit` expression's attributes: the rate, its unit in seconds, the
/// burst (nft's default when none is written), in packets.
fn limit(d: &mut Attrs, l: &Limit) {
    d.u64(NFTA_LIMIT_RATE, l.rate);
    d.u64(NFTA_LIMIT_UNIT, l.per.seconds());
    d.u32(NFTA_LIMIT_BURST, l.burst.unwrap_or(DEFAULT_LIMIT_BURST));
    d.u32(NFTA_LIMIT_TYPE, NFT_LIMIT_PKTS);
    d.u32(NFTA_LIMIT_FLAGS, 0);
}

pub(super) fn expr(a: &mut Attrs, cx: &mut RuleCx, e: &Expr) {
    match e {
        Expr::Match { key, op, rhs } => match_expr(a, cx, key, *op, rhs),
        Expr::Counter(None) => {
            let first = !std::mem::replace(&mut cx.counted, true);
            let seed = if first && !cx.b.seeds.is_empty() {
                cx.b.seeds.take_rule(cx.origin)
            } else {
                None
            };
            kernel_expr(a, "counter", |d| {
                if let Some(c) = seed {
                    super::seed::counter_data(d, c);
                }
            })
        }
        Expr::Counter(Some(name)) => kernel_expr(a, "objref", |d| {
            d.u32(NFTA_OBJREF_IMM_TYPE, NFT_OBJECT_COUNTER);
            d.str(NFTA_OBJREF_IMM_NAME, name);
        }),
        Expr::Log { prefix, level } => kernel_expr(a, "log", |d| {
            if let Some(p) = prefix {
                d.str(NFTA_LOG_PREFIX, p);
            }
            if let Some(l) = level {
                d.u32(NFTA_LOG_LEVEL, u32::from(*l));
            }
        }),
        Expr::Limit(l) => kernel_expr(a, "limit", |d| limit(d, l)),
        Expr::MarkSet(v) => {
            immediate_value(a, 1, &v.to_ne_bytes());
            kernel_expr(a, "meta", |d| {
                d.u32(NFTA_META_KEY, NFT_META_MARK);
                d.u32(NFTA_META_SREG, 1);
            });
        }
        Expr::Meter(m) => {
            let sreg = cx.load_key(a, &[m.key]);
            let id = cx.refs.id(&m.set);
            kernel_expr(a, "dynset", |d| {
                d.str(NFTA_DYNSET_SET_NAME, cx.refs.name(&m.set));
                if let Some(id) = id {
                    d.u32(NFTA_DYNSET_SET_ID, id);
                }
                let op = if m.updates() { NFT_DYNSET_OP_UPDATE } else { NFT_DYNSET_OP_ADD };
                d.u32(NFTA_DYNSET_OP, op);
                d.u32(NFTA_DYNSET_SREG_KEY, sreg);
                // The element's own expression, run on its state each time:
                // it ends the rule when it does not hold.
                d.nest(NFTA_DYNSET_EXPR, |e| match m.test {
                    MeterTest::Rate(l) => {
                        e.str(NFTA_EXPR_NAME, "limit");
                        e.nest(NFTA_EXPR_DATA, |x| limit(x, &l));
                    }
                    MeterTest::CountOver(n) => {
                        e.str(NFTA_EXPR_NAME, "connlimit");
                        e.nest(NFTA_EXPR_DATA, |x| {
                            x.u32(NFTA_CONNLIMIT_COUNT, n);
                            x.u32(NFTA_CONNLIMIT_FLAGS, NFT_CONNLIMIT_F_INV);
                        });
                    }
                });
            });
        }
        Expr::Verdict(Verdict::Reject(with)) => {
            let (ty, code) = match *with {
                RejectWith::PortUnreachable => (NFT_REJECT_ICMPX_UNREACH, Some(ICMPX_PORT_UNREACH)),
                RejectWith::TcpReset => (NFT_REJECT_TCP_RST, None),
                // In an inet table the kernel answers in the packet's own
                // ICMP; resolve has pinned the rule to that family.
                RejectWith::Icmp(c) | RejectWith::Icmpv6(c) => (NFT_REJECT_ICMP_UNREACH, Some(c)),
                RejectWith::Icmpx(c) => (NFT_REJECT_ICMPX_UNREACH, Some(c)),
            };
            kernel_expr(a, "reject", |d| {
                d.u32(NFTA_REJECT_TYPE, ty);
                if let Some(c) = code {
                    d.bytes(NFTA_REJECT_ICMP_CODE, &[c]);
                }
            })
        }
        Expr::Verdict(v) => kernel_expr(a, "immediate", |d| {
            d.u32(NFTA_IMMEDIATE_DREG, NFT_REG_VERDICT);
            d.nest(NFTA_IMMEDIATE_DATA, |x| verdict_data(x, v));
        }),
        Expr::Vmap { key, map } => {
            let (id, map) = (cx.refs.id(map), cx.refs.name(map));
            cx.lookup(a, key, map, id, Some(NFT_REG_VERDICT), false);
        }
        Expr::Nat(n) => nat(a, cx, n),
        // Only ever read back from the kernel: `apply` refuses a ruleset
        // holding one before anything is encoded.
        Expr::Raw(_) => {}
    }
}

fn match_expr(a: &mut Attrs, cx: &mut RuleCx, key: &[Selector], op: CmpOp, rhs: &Rhs) {
    let cmp_op = match op {
        CmpOp::Eq => NFT_CMP_EQ,
        CmpOp::Ne => NFT_CMP_NEQ,
    };
    match rhs {
        Rhs::Value(v) if key.len() == 1 && v.0.len() == 1 => {
            let s = key[0];
            if s == Selector::Nfproto && op == CmpOp::Eq {
                if let Part::Int(l, h) = v.0[0] {
                    if l == h && cx.nfproto.map(u128::from) == Some(l) {
                        return; // already checked for an address match
                    }
                }
            }
            cx.load(a, s, 1);
            match &v.0[0] {
                Part::Str(name) => match name.strip_suffix('*') {
                    Some(prefix) => cmp(a, cmp_op, 1, prefix.as_bytes()),
                    None => cmp(a, cmp_op, 1, &ifname(name)),
                },
                // One mark is compared in host order, as nft does.
                Part::Int(l, h) if l == h && s == Selector::Mark => {
                    cmp(a, cmp_op, 1, &(*l as u32).to_ne_bytes())
                }
                Part::Int(l, h) if l == h => cmp(a, cmp_op, 1, &int_bytes(s, *l)),
                Part::Int(l, h) => {
                    let size = h - l;
                    let prefix = s.family().map(nfproto).is_some()
                        && size & size.wrapping_add(1) == 0
                        && l & size == 0;
                    if prefix {
                        let width = s.len() * 8;
                        let mask = !size & (u128::MAX >> (128 - width));
                        bitwise(a, 1, &int_bytes(s, mask));
                        cmp(a, cmp_op, 1, &int_bytes(s, *l));
                    } else {
                        if s == Selector::Mark {
                            hton32(a, 1);
                        }
                        kernel_expr(a, "range", |d| {
                            d.u32(NFTA_RANGE_SREG, 1);
                            d.u32(
                                NFTA_RANGE_OP,
                                if op == CmpOp::Eq { NFT_RANGE_EQ } else { NFT_RANGE_NEQ },
                            );
                            d.nest(NFTA_RANGE_FROM_DATA, |x| {
                                x.bytes(NFTA_DATA_VALUE, &int_bytes(s, *l))
                            });
                            d.nest(NFTA_RANGE_TO_DATA, |x| {
                                x.bytes(NFTA_DATA_VALUE, &int_bytes(s, *h))
                            });
                        });
                    }
                }
            }
            if s == Selector::Nfproto && op == CmpOp::Eq {
                if let Part::Int(l, h) = v.0[0] {
                    if l == h {
                        cx.nfproto = u8::try_from(l).ok();
                    }
                }
            }
        }
        // A concatenation has no single register to compare: the value is
        // looked up as a set of one.
        Rhs::Value(v) => cx.own_set(a, key, std::slice::from_ref(v), op == CmpOp::Ne),
        Rhs::Set(elems) => cx.own_set(a, key, elems, op == CmpOp::Ne),
        Rhs::Named(name) => {
            let (id, name) = (cx.refs.id(name), cx.refs.name(name));
            cx.lookup(a, key, name, id, None, op == CmpOp::Ne);
        }
        Rhs::Flags(bits) => {
            for s in key {
                cx.load(a, *s, 1);
            }
            bitwise(a, 1, &bits.to_ne_bytes());
            let op = if op == CmpOp::Eq { NFT_CMP_NEQ } else { NFT_CMP_EQ };
            cmp(a, op, 1, &0u32.to_ne_bytes());
        }
        // `tcp flags syn / syn,ack`: one byte, masked, then compared.
        Rhs::Masked { mask, value } => {
            for s in key {
                cx.load(a, *s, 1);
            }
            let width = key.iter().map(|s| s.len()).sum::<usize>().min(4);
            bitwise(a, 1, &mask.to_be_bytes()[4 - width..]);
            cmp(a, cmp_op, 1, &value.to_be_bytes()[4 - width..]);
        }
    }
}

fn nat(a: &mut Attrs, cx: &mut RuleCx, n: &NatStmt) {
    let family = |addr: Option<IpAddr>| -> u32 {
        match (n.family, addr) {
            (Some(NatFamily::Ip6), _) | (None, Some(IpAddr::V6(_))) => NFPROTO_IPV6 as u32,
            _ => NFPROTO_IPV4 as u32,
        }
    };
    let addr_bytes = |addr: IpAddr| match addr {
        IpAddr::V4(x) => x.octets().to_vec(),
        IpAddr::V6(x) => x.octets().to_vec(),
    };
    match (n.kind, &n.target) {
        (NatKind::Masquerade, NatTargetExpr::None { port }) => {
            if let Some(p) = port {
                immediate_value(a, 1, &p.to_be_bytes());
            }
            kernel_expr(a, "masq", |d| {
                if port.is_some() {
                    d.u32(NFTA_MASQ_REG_PROTO_MIN, 1);
                    d.u32(NFTA_MASQ_FLAGS, NF_NAT_RANGE_PROTO_SPECIFIED);
                }
            });
        }
        (NatKind::Redirect, NatTargetExpr::None { port })
        | (NatKind::Redirect, NatTargetExpr::Fixed { port, .. }) => {
            if let Some(p) = port {
                immediate_value(a, 1, &p.to_be_bytes());
            }
            kernel_expr(a, "redir", |d| {
                if port.is_some() {
                    d.u32(NFTA_REDIR_REG_PROTO_MIN, 1);
                    d.u32(NFTA_REDIR_FLAGS, NF_NAT_RANGE_PROTO_SPECIFIED);
                }
            });
        }
        (kind, target) => {
            let ty = if kind == NatKind::Snat { NFT_NAT_SNAT } else { NFT_NAT_DNAT };
            let (addr_reg, port_reg, fam) = match target {
                NatTargetExpr::None { port } => {
                    if let Some(p) = port {
                        immediate_value(a, 1, &p.to_be_bytes());
                    }
                    (None, port.map(|_| 1), family(None))
                }
                NatTargetExpr::Fixed { addr, port } => {
                    immediate_value(a, 1, &addr_bytes(*addr));
                    if let Some(p) = port {
                        immediate_value(a, 2, &p.to_be_bytes());
                    }
                    (Some(1), port.map(|_| 2), family(Some(*addr)))
                }
                NatTargetExpr::Balanced { pick, modulus, slots } => {
                    let first = slots.first().map(|s| s.2);
                    let fam = family(first);
                    match pick {
                        Pick::RoundRobin | Pick::Random => kernel_expr(a, "numgen", |d| {
                            d.u32(NFTA_NG_DREG, 1);
                            d.u32(NFTA_NG_MODULUS, *modulus);
                            d.u32(
                                NFTA_NG_TYPE,
                                if *pick == Pick::Random {
                                    NFT_NG_RANDOM
                                } else {
                                    NFT_NG_INCREMENTAL
                                },
                            );
                            d.u32(NFTA_NG_OFFSET, 0);
                        }),
                        Pick::SourceHash { seed } => {
                            let (sel, len) = if fam == 10 {
                                (Selector::Ip6Saddr, 16)
                            } else {
                                (Selector::Ip4Saddr, 4)
                            };
                            cx.load(a, sel, 1);
                            kernel_expr(a, "hash", |d| {
                                d.u32(NFTA_HASH_SREG, 1);
                                d.u32(NFTA_HASH_DREG, 1);
                                d.u32(NFTA_HASH_LEN, len);
                                d.u32(NFTA_HASH_MODULUS, *modulus);
                                d.u32(NFTA_HASH_SEED, *seed);
                                d.u32(NFTA_HASH_OFFSET, 0);
                                d.u32(NFTA_HASH_TYPE, NFT_HASH_JENKINS);
                            });
                        }
                    }
                    let name = cx.refs.nat_map_name(n);
                    let balanced = Balanced { pick: *pick, modulus: *modulus, slots };
                    let id = nat_map(cx.b, cx.table, &name, &balanced, cx.origin);
                    kernel_expr(a, "lookup", |d| {
                        d.str(NFTA_LOOKUP_SET, &name);
                        d.u32(NFTA_LOOKUP_SET_ID, id);
                        d.u32(NFTA_LOOKUP_SREG, 1);
                        d.u32(NFTA_LOOKUP_DREG, 1);
                    });
                    let with_port = slots.iter().any(|s| s.3.is_some());
                    let words = if fam == 10 { 4 } else { 1 };
                    (Some(1), with_port.then_some(reg(words)), fam)
                }
            };
            kernel_expr(a, "nat", |d| {
                d.u32(NFTA_NAT_TYPE, ty);
                d.u32(NFTA_NAT_FAMILY, fam);
                if let Some(r) = addr_reg {
                    d.u32(NFTA_NAT_REG_ADDR_MIN, r);
                }
                if let Some(r) = port_reg {
                    d.u32(NFTA_NAT_REG_PROTO_MIN, r);
                    d.u32(NFTA_NAT_FLAGS, NF_NAT_RANGE_PROTO_SPECIFIED);
                }
            });
        }
    }
}
