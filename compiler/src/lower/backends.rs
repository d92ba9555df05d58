//! Per-backend traffic of balanced translations, like `ipvsadm -Ln
//! --stats`: every packet of a connection a balanced `dnat` sent to a
//! backend, in either direction, counted once on that backend.
//!
//! A NAT chain sees only a connection's first packet, so the count lives
//! in a chain of its own on each hook a packet enters by, just after
//! destination NAT: `prerouting` for packets from another host and
//! `output` for the host's own (a packet looped back through `lo` was the
//! host's own and counted in `output` already, so `prerouting` skips it).
//! Its rule reads conntrack, not the packet: a connection whose
//! destination was translated (`ct status dnat`) keeps its backend as the
//! source of its replies (`ct reply ip saddr`, `ct reply proto-src`) in
//! both directions, and `ct direction` says which way this packet goes.
//! That key is looked up in a set whose elements count (the kernel counts
//! an element on each lookup that finds it): one lookup per packet, no
//! verdict, so the chain never changes what happens to a packet.
//!
//! The chain counts every translated connection whose reply source is a
//! backend of the table's balanced rules, so a backend that another
//! translation also sends to (another balanced rule, a plain `dnat`, or a
//! table shriekc does not manage) counts that traffic too; `stats` says so
//! where the policy shows it.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use crate::ir::{BaseChain, ChainKind, ChainPolicy, Hook};
use crate::nft::vocab::{CT_DIRECTIONS, CT_STATUS_DNAT};
use crate::nft::{self, CmpOp, Elem, Expr, NatTargetExpr, Part, Rhs, Selector};

use super::TableCx;

/// The priority of destination NAT (`dstnat`); the counting chains run
/// after it, so that a connection's first packet is counted too.
const DSTNAT: i32 = -100;

/// The interface a packet the host sent to itself comes back in by.
pub(crate) const LOOPBACK: &str = "lo";

/// The key a backend-counting set is looked up with: the backend's
/// address, its port where the balanced rule gives one, and the direction.
pub fn key(v6: bool, with_port: bool) -> Vec<Selector> {
    let addr = if v6 { Selector::CtReplyIp6Saddr } else { Selector::CtReplyIp4Saddr };
    // The address first: an inet table checks the family before loading
    // it, which must come before any other part of the key is loaded.
    let mut key = vec![addr];
    if with_port {
        key.push(Selector::CtReplyProtoSrc);
    }
    key.push(Selector::CtDirection);
    key
}

/// The backends of one key shape (family, with a port or not), in
/// policy order, and the protocols their connections use.
#[derive(Default)]
struct Group {
    backends: Vec<(IpAddr, Option<u16>, Vec<nft::Origin>)>,
    protocols: BTreeSet<u8>,
}

/// Adds the counting sets and chains to a lowered table with balanced
/// translations (and per-rule counters on).
pub(super) fn add(cx: &mut TableCx<'_>, chains: &mut Vec<nft::Chain>) {
    if !cx.table.rule_counters {
        return;
    }
    let mut groups: BTreeMap<(bool, bool), Group> = BTreeMap::new();
    for r in chains.iter().flat_map(|c| &c.rules) {
        for e in &r.exprs {
            let Expr::Nat(nft::NatStmt { target: NatTargetExpr::Balanced { slots, .. }, .. }) = e
            else {
                continue;
            };
            for &(_, _, addr, port) in slots {
                let g = groups.entry((addr.is_ipv6(), port.is_some())).or_default();
                if port.is_some() {
                    g.protocols.extend(protocols(r));
                }
                match g.backends.iter_mut().find(|(a, p, _)| (*a, *p) == (addr, port)) {
                    Some((_, _, origin)) => {
                        for o in &r.origin {
                            if !origin.contains(o) {
                                origin.push(*o);
                            }
                        }
                    }
                    None => g.backends.push((addr, port, r.origin.clone())),
                }
            }
        }
    }
    if groups.is_empty() {
        return;
    }
    let mut lookups = Vec::new();
    for ((v6, with_port), g) in groups {
        let name = cx.fresh(&format!(
            "backends_{}{}",
            if v6 { "ip6" } else { "ip" },
            if with_port { "_port" } else { "" }
        ));
        let key = key(v6, with_port);
        let mut elements = Vec::new();
        for (addr, port, origin) in g.backends {
            let a = match addr {
                IpAddr::V4(a) => u128::from(u32::from(a)),
                IpAddr::V6(a) => u128::from(a),
            };
            for (dir, _) in CT_DIRECTIONS {
                let mut parts = vec![Part::Int(a, a)];
                if let Some(p) = port {
                    parts.push(Part::Int(u128::from(p), u128::from(p)));
                }
                parts.push(Part::Int(u128::from(dir), u128::from(dir)));
                elements.push(nft::Element {
                    key: Elem(parts),
                    data: None,
                    origin: origin.clone(),
                });
            }
        }
        cx.sets.push(nft::Set {
            name: name.clone(),
            key: key.clone(),
            interval: false,
            data: None,
            elements,
            counters: true,
            comment: Some("packets and bytes of each balanced backend, each way".into()),
            dynamic: None,
        });
        let lookup = Expr::Match { key, op: CmpOp::Eq, rhs: Rhs::Named(name) };
        // A port is read in the protocol's own header, so nft wants one
        // protocol per rule to type it; the protocol test also keeps out
        // ICMP errors about the connection, which conntrack files under
        // it but which are not its traffic.
        if g.protocols.is_empty() {
            lookups.push((None, lookup));
        } else {
            lookups.extend(g.protocols.into_iter().map(|p| (Some(p), lookup.clone())));
        }
    }
    for hook in [Hook::Prerouting, Hook::Output] {
        // After every translation of this table on the hook.
        let priority = chains
            .iter()
            .filter_map(|c| c.base)
            .filter(|b| b.hook == hook && b.kind == ChainKind::Nat)
            .map(|b| b.priority)
            .fold(DSTNAT, i32::max)
            + 1;
        let rules = lookups
            .iter()
            .map(|(proto, lookup)| {
                let mut exprs = Vec::new();
                if let Some(p) = proto {
                    let p = u128::from(*p);
                    exprs.push(Expr::Match {
                        key: vec![Selector::L4proto],
                        op: CmpOp::Eq,
                        rhs: Rhs::Value(Elem(vec![Part::Int(p, p)])),
                    });
                }
                if hook == Hook::Prerouting {
                    exprs.push(Expr::Match {
                        key: vec![Selector::Iifname],
                        op: CmpOp::Ne,
                        rhs: Rhs::Value(Elem(vec![Part::Str(LOOPBACK.into())])),
                    });
                }
                exprs.push(Expr::Match {
                    key: vec![Selector::CtStatus],
                    op: CmpOp::Eq,
                    rhs: Rhs::Flags(CT_STATUS_DNAT),
                });
                exprs.push(lookup.clone());
                nft::Rule { exprs, origin: Vec::new() }
            })
            .collect();
        let name = cx.fresh(&format!("backends_{}", hook.keyword()));
        chains.push(nft::Chain {
            name,
            base: Some(BaseChain {
                hook,
                kind: ChainKind::Filter,
                priority,
                policy: ChainPolicy::Accept,
            }),
            rules,
            comment: Some("counts each balanced backend's packets, after dnat".into()),
        });
    }
}

/// The protocols an nft rule admits, from its `meta l4proto` matches.
fn protocols(r: &nft::Rule) -> Vec<u8> {
    let mut out = Vec::new();
    for e in &r.exprs {
        let Expr::Match { key, op: CmpOp::Eq, rhs } = e else { continue };
        if key.as_slice() != [Selector::L4proto] {
            continue;
        }
        let elems = match rhs {
            Rhs::Value(v) => std::slice::from_ref(v),
            Rhs::Set(vs) => vs.as_slice(),
            _ => continue,
        };
        for e in elems {
            if let [Part::Int(lo, hi)] = e.0.as_slice() {
                out.extend((*lo..=*hi).filter_map(|p| u8::try_from(p).ok()));
            }
        }
    }
    out
}
