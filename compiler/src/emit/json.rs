//! The model in libnftables' JSON schema (`nft -j`), as `nft -j list
//! ruleset` would print it: metainfo, then per table the table, its
//! counters, chains, sets and maps, and rules. Chains come before maps
//! because a map element may jump to one, and libnftables adds objects in
//! the order given.

use crate::ir::{Limit, MeterTest};
use crate::nft::vocab::METER_SIZE;
use serde_json::{json, Map, Value};
use shriek_grammar::SourceMap;

use super::rule::flag_names;
use super::rule::icmp_name;
use super::{addr_text, origin_comment, prefix_len, proto_name};
use crate::ir::ChainPolicy;
use crate::nft::vocab::{
    ct_direction_name, name_of, tcp_flag_names, ICMPV6_CODES, ICMPX_CODES, ICMP_CODES, LOG_LEVELS,
};
use crate::nft::{self, CmpOp, Elem, Expr, NatTargetExpr, Part, Rhs, Selector};

/// Pretty-printed, deterministic libnftables JSON for the ruleset.
pub fn emit_json(rs: &nft::Ruleset, sources: &SourceMap) -> String {
    let mut items = vec![json!({"metainfo": {"json_schema_version": 1}})];
    for t in &rs.tables {
        let table = t.name.as_str();
        items.push(json!({"table": {"family": "inet", "name": table}}));
        for c in &t.counters {
            items.push(json!({"counter": {"family": "inet", "table": table, "name": c}}));
        }
        for c in &t.chains {
            let mut o = Map::new();
            o.insert("family".into(), json!("inet"));
            o.insert("table".into(), json!(table));
            o.insert("name".into(), json!(c.name));
            if let Some(b) = c.base {
                o.insert("type".into(), json!(b.kind.keyword()));
                o.insert("hook".into(), json!(b.hook.keyword()));
                o.insert("prio".into(), json!(b.priority));
                let p = match b.policy {
                    ChainPolicy::Accept => "accept",
                    ChainPolicy::Drop => "drop",
                };
                o.insert("policy".into(), json!(p));
            }
            if let Some(cm) = &c.comment {
                o.insert("comment".into(), json!(cm));
            }
            items.push(json!({"chain": o}));
        }
        for s in &t.sets {
            let mut o = Map::new();
            o.insert("family".into(), json!("inet"));
            o.insert("table".into(), json!(table));
            o.insert("name".into(), json!(s.name));
            let types: Vec<Value> = s.key.iter().map(|k| json!(super::type_name(*k))).collect();
            o.insert(
                "type".into(),
                if types.len() == 1 { types[0].clone() } else { Value::Array(types) },
            );
            if let Some(d) = s.data {
                let d = match d {
                    nft::DataType::Verdict => json!("verdict"),
                    nft::DataType::NatTarget { v6, with_port } => {
                        let a = if v6 { "ipv6_addr" } else { "ipv4_addr" };
                        if with_port {
                            json!([a, "inet_service"])
                        } else {
                            json!(a)
                        }
                    }
                };
                o.insert("map".into(), d);
            }
            if s.interval {
                o.insert("flags".into(), json!(["interval"]));
            }
            // libnftables JSON (nft 1.0.6) has no word for `dynamic`: nft
            // sets it itself on a set a rule adds to with a statement.
            if let Some(d) = s.dynamic {
                o.insert("size".into(), json!(METER_SIZE));
                if let Some(t) = d.timeout_ms {
                    o.insert("flags".into(), json!(["timeout"]));
                    o.insert("timeout".into(), json!(t.div_ceil(1000)));
                }
            }
            if s.counters {
                o.insert("stmt".into(), json!([{"counter": null}]));
            }
            if let Some(c) = &s.comment {
                o.insert("comment".into(), json!(c));
            }
            if !s.elements.is_empty() {
                let elems: Vec<Value> = s
                    .elements
                    .iter()
                    .map(|e| {
                        let k = elem(&s.key, &e.key);
                        match &e.data {
                            None => k,
                            Some(nft::Data::Verdict(v)) => json!([k, verdict(v)]),
                            Some(nft::Data::NatTarget { addr, port: None }) => {
                                json!([k, addr.to_string()])
                            }
                            Some(nft::Data::NatTarget { addr, port: Some(p) }) => {
                                json!([k, {"concat": [addr.to_string(), p]}])
                            }
                        }
                    })
                    .collect();
                o.insert("elem".into(), Value::Array(elems));
            }
            let kind = if s.data.is_some() { "map" } else { "set" };
            items.push(json!({ kind: o }));
        }
        for c in &t.chains {
            for r in &c.rules {
                let mut o = Map::new();
                o.insert("family".into(), json!("inet"));
                o.insert("table".into(), json!(table));
                o.insert("chain".into(), json!(c.name));
                let apart = super::kept_apart(&r.exprs);
                let exprs = r.exprs.iter().enumerate().map(|(i, e)| {
                    match apart.iter().find(|(j, ..)| *j == i) {
                        Some(&(_, sel, v)) => json!({"match": {"op": "!=", "left": key(&[sel]),
                            "right": {"range": [v as u64, v as u64]}}}),
                        None => expr(e),
                    }
                });
                o.insert("expr".into(), Value::Array(exprs.collect()));
                if let Some(cm) = origin_comment(&r.origin, sources) {
                    o.insert("comment".into(), json!(cm));
                }
                items.push(json!({"rule": o}));
            }
        }
    }
    let doc = json!({"nftables": items});
    serde_json::to_string_pretty(&doc).expect("json values always serialize")
}

fn selector(s: Selector) -> Value {
    match s {
        Selector::Nfproto => json!({"meta": {"key": "nfproto"}}),
        Selector::L4proto => json!({"meta": {"key": "l4proto"}}),
        Selector::Ip4Saddr => json!({"payload": {"protocol": "ip", "field": "saddr"}}),
        Selector::Ip4Daddr => json!({"payload": {"protocol": "ip", "field": "daddr"}}),
        Selector::Ip6Saddr => json!({"payload": {"protocol": "ip6", "field": "saddr"}}),
        Selector::Ip6Daddr => json!({"payload": {"protocol": "ip6", "field": "daddr"}}),
        Selector::ThSport => json!({"payload": {"protocol": "th", "field": "sport"}}),
        Selector::ThDport => json!({"payload": {"protocol": "th", "field": "dport"}}),
        Selector::Iifname => json!({"meta": {"key": "iifname"}}),
        Selector::Oifname => json!({"meta": {"key": "oifname"}}),
        Selector::CtState => json!({"ct": {"key": "state"}}),
        Selector::IcmpType => json!({"payload": {"protocol": "icmp", "field": "type"}}),
        Selector::IcmpCode => json!({"payload": {"protocol": "icmp", "field": "code"}}),
        Selector::Icmpv6Type => json!({"payload": {"protocol": "icmpv6", "field": "type"}}),
        Selector::Icmpv6Code => json!({"payload": {"protocol": "icmpv6", "field": "code"}}),
        Selector::TcpFlags => json!({"payload": {"protocol": "tcp", "field": "flags"}}),
        Selector::CtDirection => json!({"ct": {"key": "direction"}}),
        Selector::CtStatus => json!({"ct": {"key": "status"}}),
        Selector::CtReplyIp4Saddr => json!({"ct": {"key": "ip saddr", "dir": "reply"}}),
        Selector::CtReplyIp6Saddr => json!({"ct": {"key": "ip6 saddr", "dir": "reply"}}),
        Selector::CtReplyProtoSrc => json!({"ct": {"key": "proto-src", "dir": "reply"}}),
        Selector::Mark => json!({"meta": {"key": "mark"}}),
        Selector::Net { field, .. } => {
            let v6 = field.bits() == 128;
            json!({"&": [selector(field.plain()), addr_text(s.net_mask().unwrap_or_default(), v6)]})
        }
    }
}

fn limit(l: &Limit) -> Value {
    let mut o = json!({"rate": l.rate, "per": l.per.keyword()});
    if let Some(b) = l.burst {
        o["burst"] = json!(b);
    }
    json!({ "limit": o })
}

fn key(k: &[Selector]) -> Value {
    if k.len() == 1 {
        selector(k[0])
    } else {
        json!({"concat": k.iter().map(|s| selector(*s)).collect::<Vec<_>>()})
    }
}

fn one(sel: Selector, v: u128) -> Value {
    match sel.unmasked() {
        Selector::Nfproto => match v {
            2 => json!("ipv4"),
            10 => json!("ipv6"),
            v => json!(v as u64),
        },
        Selector::L4proto => proto_name(v).map_or_else(|| json!(v as u64), |n| json!(n)),
        Selector::Ip4Saddr | Selector::Ip4Daddr | Selector::CtReplyIp4Saddr => {
            json!(addr_text(v, false))
        }
        Selector::Ip6Saddr | Selector::Ip6Daddr | Selector::CtReplyIp6Saddr => {
            json!(addr_text(v, true))
        }
        Selector::CtState | Selector::CtStatus => json!(flag_names(sel, v)),
        Selector::CtDirection => ct_direction_name(v).map_or_else(|| json!(v as u64), |n| json!(n)),
        _ => icmp_name(sel, v).map_or_else(|| json!(v as u64), |n| json!(n)),
    }
}

fn part(sel: Selector, p: &Part) -> Value {
    let (lo, hi) = match p {
        Part::Str(s) => return json!(s),
        Part::Int(lo, hi) => (*lo, *hi),
    };
    if lo == hi {
        return one(sel, lo);
    }
    let bits = match sel.unmasked() {
        Selector::Ip4Saddr | Selector::Ip4Daddr => Some((32, false)),
        Selector::Ip6Saddr | Selector::Ip6Daddr => Some((128, true)),
        _ => None,
    };
    if let Some((b, v6)) = bits {
        if let Some(len) = prefix_len(lo, hi, b) {
            return json!({"prefix": {"addr": addr_text(lo, v6), "len": len}});
        }
    }
    if icmp_name(sel, lo).is_some() || icmp_name(sel, hi).is_some() {
        return json!({"range": [lo as u64, hi as u64]});
    }
    json!({"range": [one(sel, lo), one(sel, hi)]})
}

fn elem(k: &[Selector], e: &Elem) -> Value {
    let parts: Vec<Value> = k.iter().zip(&e.0).map(|(s, p)| part(*s, p)).collect();
    if parts.len() == 1 {
        parts.into_iter().next().expect("one part")
    } else {
        json!({"concat": parts})
    }
}

fn reject_json(ty: &str, names: &'static [(&'static str, u8)], code: u8) -> Value {
    let expr = name_of(names, code).map_or_else(|| json!(code), |n| json!(n));
    json!({"reject": {"type": ty, "expr": expr}})
}

fn verdict(v: &nft::Verdict) -> Value {
    match v {
        nft::Verdict::Accept => json!({"accept": null}),
        nft::Verdict::Drop => json!({"drop": null}),
        nft::Verdict::Reject(with) => match with {
            nft::RejectWith::PortUnreachable => json!({"reject": null}),
            nft::RejectWith::TcpReset => json!({"reject": {"type": "tcp reset"}}),
            nft::RejectWith::Icmp(c) => reject_json("icmp", ICMP_CODES, *c),
            nft::RejectWith::Icmpv6(c) => reject_json("icmpv6", ICMPV6_CODES, *c),
            nft::RejectWith::Icmpx(c) => reject_json("icmpx", ICMPX_CODES, *c),
        },
        nft::Verdict::Jump(c) => json!({"jump": {"target": c}}),
        nft::Verdict::Goto(c) => json!({"goto": {"target": c}}),
        nft::Verdict::Return => json!({"return": null}),
        nft::Verdict::Continue => json!({"continue": null}),
    }
}

/// Flags as nft's JSON writes them: one name, or the list of names.
fn flags_json(bits: u32) -> Value {
    match tcp_flag_names(bits as u8).as_slice() {
        [] => json!(bits),
        [one] => json!(one),
        names => json!(names),
    }
}

/// A `tcp flags` match as `nft -j list` gives it; `None` for shapes
/// lowering never makes, which take the generic path.
fn tcp_flags_json(op: CmpOp, rhs: &Rhs) -> Option<Value> {
    let left = selector(Selector::TcpFlags);
    let eq = if op == CmpOp::Eq { "==" } else { "!=" };
    let (op, left, right) = match rhs {
        Rhs::Value(Elem(parts)) => match parts.as_slice() {
            [Part::Int(v, hi)] if v == hi => (eq, left, flags_json(*v as u32)),
            _ => return None,
        },
        Rhs::Masked { mask, value: 0 } => {
            let names = json!(tcp_flag_names(*mask as u8));
            (if op == CmpOp::Ne { "in" } else { "!" }, left, names)
        }
        Rhs::Masked { mask, value } => {
            let masked = json!({"&": [left, tcp_flag_names(*mask as u8)]});
            (eq, masked, flags_json(*value))
        }
        _ => return None,
    };
    Some(json!({"match": {"op": op, "left": left, "right": right}}))
}

fn expr(e: &Expr) -> Value {
    match e {
        Expr::Match { key: k, op, rhs } => {
            if let Some(m) =
                (k.as_slice() == [Selector::TcpFlags]).then(|| tcp_flags_json(*op, rhs)).flatten()
            {
                return m;
            }
            let (op, right) = match rhs {
                Rhs::Value(v) => (if *op == CmpOp::Eq { "==" } else { "!=" }, elem(k, v)),
                Rhs::Set(es) => (
                    if *op == CmpOp::Eq { "==" } else { "!=" },
                    json!({"set": es.iter().map(|v| elem(k, v)).collect::<Vec<_>>()}),
                ),
                Rhs::Named(n) => {
                    (if *op == CmpOp::Eq { "==" } else { "!=" }, json!(format!("@{n}")))
                }
                Rhs::Flags(mask) => {
                    let names = flag_names(k[0], *mask as u128);
                    match op {
                        CmpOp::Eq => ("in", json!(names)),
                        CmpOp::Ne => ("!=", json!({"set": names})),
                    }
                }
                // Only `tcp flags` has a mask, written by `tcp_flags_json`.
                Rhs::Masked { mask, value } => {
                    (if *op == CmpOp::Eq { "==" } else { "!=" }, json!({"&": [mask, value]}))
                }
            };
            json!({"match": {"op": op, "left": key(k), "right": right}})
        }
        Expr::Counter(None) => json!({"counter": {"packets": 0, "bytes": 0}}),
        Expr::Counter(Some(n)) => json!({"counter": n}),
        Expr::Log { prefix: None, level: None } => json!({"log": null}),
        Expr::Log { prefix, level } => {
            let mut log = serde_json::Map::new();
            if let Some(p) = prefix {
                log.insert("prefix".into(), json!(p));
            }
            if let Some(name) = level.and_then(|l| name_of(LOG_LEVELS, l)) {
                log.insert("level".into(), json!(name));
            }
            json!({ "log": log })
        }
        Expr::Limit(l) => limit(l),
        Expr::Meter(m) => {
            let test = match m.test {
                MeterTest::Rate(l) => limit(&l),
                MeterTest::CountOver(n) => json!({"ct count": {"val": n, "inv": true}}),
            };
            let op = if m.updates() { "update" } else { "add" };
            json!({"set": {"op": op, "elem": key(&[m.key]), "set": format!("@{}", m.set), "stmt": [test]}})
        }
        Expr::MarkSet(v) => json!({"mangle": {"key": {"meta": {"key": "mark"}}, "value": v}}),
        Expr::Verdict(v) => verdict(v),
        Expr::Vmap { key: k, map } => json!({"vmap": {"key": key(k), "data": format!("@{map}")}}),
        Expr::Nat(n) => nat(n),
        // Only read back from the kernel, never lowered: libnftables has
        // no word for it either.
        Expr::Raw(text) => json!({ "raw": text }),
    }
}

fn nat(n: &nft::NatStmt) -> Value {
    let kind = n.kind.keyword();
    let mut o = Map::new();
    match n.family {
        Some(nft::NatFamily::Ip) => {
            o.insert("family".into(), json!("ip"));
        }
        Some(nft::NatFamily::Ip6) => {
            o.insert("family".into(), json!("ip6"));
        }
        None => {}
    }
    let v6 = n.family == Some(nft::NatFamily::Ip6);
    match &n.target {
        NatTargetExpr::None { port: None } => {}
        NatTargetExpr::None { port: Some(p) } => {
            o.insert("port".into(), json!(p));
        }
        NatTargetExpr::Fixed { addr, port } => {
            o.insert("addr".into(), json!(addr.to_string()));
            if let Some(p) = port {
                o.insert("port".into(), json!(p));
            }
        }
        NatTargetExpr::Balanced { pick, modulus, slots } => {
            let with_port = slots.iter().all(|s| s.3.is_some());
            let key = match pick {
                nft::Pick::RoundRobin => {
                    json!({"numgen": {"mode": "inc", "mod": modulus, "offset": 0}})
                }
                nft::Pick::Random => {
                    json!({"numgen": {"mode": "random", "mod": modulus, "offset": 0}})
                }
                nft::Pick::SourceHash { seed } => json!({"jhash": {
                    "mod": modulus,
                    "seed": seed,
                    "expr": {"payload": {"protocol": if v6 { "ip6" } else { "ip" }, "field": "saddr"}}
                }}),
            };
            let entries: Vec<Value> = slots
                .iter()
                .map(|(lo, hi, a, p)| {
                    let k = if lo == hi { json!(lo) } else { json!({"range": [lo, hi]}) };
                    match (with_port, p) {
                        (true, Some(p)) => json!([k, {"concat": [a.to_string(), p]}]),
                        _ => json!([k, a.to_string()]),
                    }
                })
                .collect();
            o.insert("addr".into(), json!({"map": {"key": key, "data": {"set": entries}}}));
        }
    }
    if o.is_empty() {
        json!({ kind: null })
    } else {
        json!({ kind: o })
    }
}
