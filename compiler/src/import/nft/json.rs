//! `nft -j list ruleset` (libnftables JSON) into the nft model.
//!
//! The document is a flat list of objects (`table`, `chain`, `set`, `map`,
//! `rule`, ...) that name their table and chain. A rule has no useful line,
//! so it is named by its table, chain and handle, and shown in nft's own
//! words (the model's `Display`).

use serde_json::{Map, Value};

use super::super::model::{Origin, Place};
use super::super::ImportError;
use super::{
    flag_value, flags_test, NBase, NChain, NItem, NMeter, NNat, NRule, NSet, NTable, NVerdict,
    NatTo, Right, Sel, Source, Val,
};

pub fn read(input: usize, text: &str) -> Result<Source, ImportError> {
    let doc: Value = serde_json::from_str(text).map_err(|e| {
        ImportError::at(input, e.line(), format!("this is not JSON as `nft -j` prints it: {e}"))
    })?;
    let Some(list) = doc.get("nftables").and_then(Value::as_array) else {
        return Err(ImportError::at(
            input,
            1,
            "JSON without the `nftables` list that `nft -j list ruleset` prints",
        ));
    };
    let mut source = Source::default();
    for (index, obj) in list.iter().enumerate() {
        let Some((kind, body)) = obj.as_object().and_then(|o| o.iter().next()) else { continue };
        let s = |k: &str| body.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        let (family, table_name) = (s("family"), s("table"));
        match kind.as_str() {
            "metainfo" => {}
            "table" => source.tables.push(NTable {
                family,
                name: s("name"),
                chains: Vec::new(),
                sets: Vec::new(),
                skipped: Vec::new(),
            }),
            "chain" => {
                let t = table(&mut source, &family, &table_name)
                    .ok_or_else(|| undeclared(index, kind, &family, &table_name, None))?;
                let base = body.get("hook").map(|hook| NBase {
                    kind: s("type"),
                    hook: hook.as_str().unwrap_or("").to_string(),
                    priority: body.get("prio").map_or("0".into(), |p| p.to_string()),
                    policy: body
                        .get("policy")
                        .and_then(Value::as_str)
                        .unwrap_or("accept")
                        .to_string(),
                    device: body.get("dev").is_some(),
                });
                let name = s("name");
                let origin = Origin {
                    place: Place::Handle {
                        input,
                        index,
                        table: format!("{family} {table_name}"),
                        chain: name.clone(),
                        handle: None,
                        nth: 0,
                    },
                    text: format!("chain {name}"),
                };
                t.chains.push(NChain { name, base, rules: Vec::new(), origin });
            }
            "set" | "map" => {
                let t = table(&mut source, &family, &table_name)
                    .ok_or_else(|| undeclared(index, kind, &family, &table_name, None))?;
                let key = match body.get("type") {
                    Some(Value::Array(parts)) => {
                        parts.iter().filter_map(Value::as_str).map(str::to_string).collect()
                    }
                    Some(Value::String(one)) => vec![one.clone()],
                    _ => vec!["typeof".into()],
                };
                let mut flags: Vec<String> = body
                    .get("flags")
                    .and_then(Value::as_array)
                    .map(|f| f.iter().filter_map(Value::as_str).map(str::to_string).collect())
                    .unwrap_or_default();
                if body.get("timeout").is_some() {
                    flags.push("timeout".into());
                }
                let elements = body
                    .get("elem")
                    .and_then(Value::as_array)
                    .map(|es| {
                        es.iter()
                            .map(|e| match e.as_array().map(Vec::as_slice) {
                                Some([k, d]) if kind == "map" => (val(k), Some(data(d))),
                                _ => (val(element(e)), None),
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                let data = (kind == "map").then(|| s("map"));
                // JSON lists timeouts in seconds.
                let timeout_ms = body.get("timeout").and_then(Value::as_u64).map(|t| t * 1_000);
                let size = body.get("size").and_then(Value::as_u64);
                t.sets.push(NSet { name: s("name"), key, data, flags, timeout_ms, size, elements });
            }
            "rule" => {
                let chain_name = s("chain");
                let handle = body.get("handle").and_then(Value::as_u64);
                let t = table(&mut source, &family, &table_name)
                    .ok_or_else(|| undeclared(index, kind, &family, &table_name, None))?;
                let c = t.chains.iter_mut().find(|c| c.name == chain_name).ok_or_else(|| {
                    undeclared(index, kind, &family, &table_name, Some(&chain_name))
                })?;
                let items: Vec<NItem> = body
                    .get("expr")
                    .and_then(Value::as_array)
                    .map(|es| es.iter().map(item).collect())
                    .unwrap_or_default();
                let comment = body.get("comment").and_then(Value::as_str).map(str::to_string);
                let text = items.iter().map(|i| i.to_string()).collect::<Vec<_>>().join(" ");
                let nth = c.rules.len() + 1;
                let table = format!("{family} {table_name}");
                let place = Place::Handle { input, index, table, chain: chain_name, handle, nth };
                c.rules.push(NRule { items, comment, origin: Origin { place, text } });
            }
            // Counter objects only back `counter name`; rules say what they count.
            "counter" => {}
            other => {
                let Some(t) = table(&mut source, &family, &table_name) else { continue };
                let table = format!("{family} {table_name}");
                let place = Place::Handle {
                    input,
                    index,
                    table,
                    chain: String::new(),
                    handle: None,
                    nth: 0,
                };
                let origin = Origin { place, text: format!("{other} {}", s("name")) };
                t.skipped.push((origin, format!("the nft `{other}` object")));
            }
        }
    }
    Ok(source)
}

/// A garbled or cut list: an object of a table or chain that no earlier
/// object declares (`nft -j` lists each before what it holds). Left out
/// silently, its rules would be lost.
fn undeclared(
    index: usize,
    kind: &str,
    family: &str,
    table: &str,
    chain: Option<&str>,
) -> ImportError {
    let whose = match chain {
        Some(c) => format!("chain `{c}` of table `{family} {table}`"),
        None => format!("table `{family} {table}`"),
    };
    ImportError::new(format!(
        "object {} of the `nftables` list, a {kind}, belongs to {whose}, which no earlier object declares",
        index + 1
    ))
    .with_help("`nft -j list ruleset` lists each table and chain before what it holds; list the ruleset again")
}

fn table<'a>(source: &'a mut Source, family: &str, name: &str) -> Option<&'a mut NTable> {
    source.tables.iter_mut().find(|t| t.family == family && t.name == name)
}

/// A set element, without its options (`{"elem": {"val": ..., "timeout": ...}}`).
fn element(e: &Value) -> &Value {
    e.get("elem").and_then(|x| x.get("val")).unwrap_or(e)
}

fn val(v: &Value) -> Val {
    match v {
        Value::String(s) => Val::Word(s.clone()),
        Value::Number(n) => Val::Word(n.to_string()),
        Value::Array(items) => Val::List(items.iter().map(val).collect()),
        Value::Object(o) => {
            if let Some(p) = o.get("prefix") {
                // An address, or a number (a mark's prefix).
                let addr = p.get("addr").map(scalar).unwrap_or_default();
                let len = p
                    .get("len")
                    .and_then(Value::as_u64)
                    .and_then(|l| u8::try_from(l).ok())
                    .unwrap_or(0);
                return Val::Prefix(addr, len);
            }
            if let Some(Value::Array(r)) = o.get("range") {
                if let [a, b] = r.as_slice() {
                    return Val::Range(scalar(a), scalar(b));
                }
            }
            if let Some(Value::Array(parts)) = o.get("concat") {
                return Val::Concat(parts.iter().map(val).collect());
            }
            if let Some(Value::Array(parts)) = o.get("|") {
                return Val::Or(parts.iter().map(val).collect());
            }
            // An element's value; one without (`{"elem": {}}`) is read as
            // the text it is, not as itself again (that never ended).
            if let Some(inner) = o.get("elem").and_then(|x| x.get("val")) {
                return val(inner);
            }
            Val::Word(v.to_string())
        }
        other => Val::Word(other.to_string()),
    }
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A map element's data: a verdict, or a value.
fn data(d: &Value) -> Val {
    match verdict(d) {
        Some(v) => Val::Word(v.to_string()),
        None => val(d),
    }
}

fn verdict(v: &Value) -> Option<NVerdict> {
    let (k, body) = v.as_object()?.iter().next()?;
    let target = || body.get("target").and_then(Value::as_str).unwrap_or("").to_string();
    Some(match k.as_str() {
        "accept" => NVerdict::Accept,
        "drop" => NVerdict::Drop,
        "return" => NVerdict::Return,
        "continue" => NVerdict::Continue,
        "jump" => NVerdict::Jump(target()),
        "goto" => NVerdict::Goto(target()),
        "queue" => NVerdict::Other("queue".into()),
        _ => return None,
    })
}

fn sels(v: &Value) -> Vec<Sel> {
    if let Some(Value::Array(parts)) = v.get("concat") {
        return parts.iter().flat_map(sels).collect();
    }
    // A masked match is named by what it masks (`tcp flags & (syn|ack) ==
    // syn` is read before, by `tcp_flags`); the mask makes any other one
    // the language cannot say.
    if let Some(Value::Array(parts)) = v.get("&") {
        let mask = parts.get(1).and_then(Value::as_str);
        return match parts.first().map(sels).as_deref() {
            Some([one @ Sel::Payload(p, f)]) if p == "tcp" && f == "flags" => vec![one.clone()],
            // An address masked to a prefix, as a verdict map's key.
            Some([one @ Sel::Payload(..)]) => match mask.and_then(|m| Sel::net(one.clone(), m)) {
                Some(net) => vec![net],
                None => vec![Sel::Other("a masked match".into())],
            },
            _ => vec![Sel::Other("a masked match".into())],
        };
    }
    let get = |o: &Value, k: &str| o.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let sel = if let Some(p) = v.get("payload") {
        if p.get("base").is_some() {
            Sel::Other("a raw payload".into())
        } else {
            Sel::Payload(get(p, "protocol"), get(p, "field"))
        }
    } else if let Some(m) = v.get("meta") {
        Sel::Meta(get(m, "key"))
    } else if let Some(c) = v.get("ct") {
        if c.get("dir").is_some() {
            // nft 1.0.6 writes an address key with its family in it (`"ip
            // saddr"`); older versions give the family apart.
            let key = match c.get("family").and_then(Value::as_str) {
                Some(f) if !get(c, "key").contains(' ') => format!("{f} {}", get(c, "key")),
                _ => get(c, "key"),
            };
            Sel::CtDir(get(c, "dir"), key)
        } else {
            Sel::Ct(get(c, "key"))
        }
    } else {
        Sel::Other(
            v.as_object().and_then(|o| o.keys().next().cloned()).unwrap_or_else(|| v.to_string()),
        )
    };
    vec![sel]
}

/// `tcp flags` in nft's JSON: `{"&": [flags, MASK]}` compared with `==`
/// or `!=`, or the flags themselves with `==`, `!=`, `in` (any of) or `!`
/// (none of); a value is a name, a number, or a list of them OR'd
/// together. `None` when the match is not on TCP flags.
fn tcp_flags(body: &Value) -> Option<NItem> {
    let is_flags = |v: &Value| {
        matches!(sels(v).as_slice(), [Sel::Payload(p, f)] if p == "tcp" && f == "flags")
            && v.get("&").is_none()
    };
    let left = body.get("left")?;
    let (mask, mask_json) = match left.get("&").and_then(Value::as_array).map(Vec::as_slice) {
        Some([flags, mask]) if is_flags(flags) => (Some(flag_bits(mask)), Some(mask)),
        Some(_) => return None,
        None if is_flags(left) => (None, None),
        None => return None,
    };
    let op = body.get("op").and_then(Value::as_str).unwrap_or("==");
    let right = body.get("right").unwrap_or(&Value::Null);
    // As `nft list ruleset` writes the match, for warnings.
    let words = |v: &Value| match v {
        Value::Array(items) => items.iter().map(scalar).collect::<Vec<_>>().join(","),
        other => scalar(other),
    };
    let set = right.get("set").and_then(Value::as_array);
    let text = match (mask_json, op) {
        (_, _) if set.is_some() => format!(
            "tcp flags {{ {} }}",
            set.into_iter().flatten().map(scalar).collect::<Vec<_>>().join(", ")
        ),
        (Some(m), "==") => format!("tcp flags {} / {}", words(right), words(m)),
        (Some(m), op) => format!("tcp flags {op} {} / {}", words(right), words(m)),
        (None, "in") => format!("tcp flags {}", words(right)),
        (None, op) => format!("tcp flags {op} {}", words(right)),
    };
    let unread = || "cannot read the `tcp flags` values".to_string();
    let test = if set.is_some() {
        Err("a set of `tcp flags` values (`{ syn, ack }`): each is the whole byte, which the language says one at a time".into())
    } else {
        match (mask, flag_bits(right)) {
            (Some(None), _) | (_, None) => Err(unread()),
            (Some(Some(m)), Some(v)) => flags_test(Some(m), op, v),
            (None, Some(v)) => flags_test(None, op, v),
        }
    };
    Some(NItem::TcpFlags { test, text })
}

/// Flags as JSON gives them: a name, a number, or a list OR'd together.
fn flag_bits(v: &Value) -> Option<u8> {
    match v {
        Value::Array(items) => items.iter().try_fold(0u8, |bits, i| Some(bits | flag_bits(i)?)),
        Value::Number(n) => n.as_u64().and_then(|n| u8::try_from(n).ok()),
        Value::String(s) => flag_value(s),
        _ => None,
    }
}

fn right(v: &Value) -> Right {
    match v {
        Value::String(s) if s.starts_with('@') => Right::Named(s[1..].to_string()),
        Value::Object(o) if o.get("set").is_some() => {
            let items = o["set"]
                .as_array()
                .map(|a| a.iter().map(|e| val(element(e))).collect())
                .unwrap_or_else(|| vec![val(&o["set"])]);
            Right::Set(items)
        }
        other => Right::Val(val(other)),
    }
}

fn item(e: &Value) -> NItem {
    let Some((k, body)) = e.as_object().and_then(|o| o.iter().next()) else {
        return NItem::Other(e.to_string());
    };
    let field = |name: &str| body.get(name).and_then(Value::as_str).map(str::to_string);
    if let Some(v) = verdict(e) {
        return NItem::Verdict(v);
    }
    match k.as_str() {
        "match" => {
            if let Some(flags) = tcp_flags(body) {
                return flags;
            }
            let op = field("op").unwrap_or_else(|| "==".into());
            let op = if op == "in" { "==".to_string() } else { op };
            if let Some([key, mask]) = body
                .get("left")
                .and_then(|l| l.get("&"))
                .and_then(Value::as_array)
                .map(Vec::as_slice)
            {
                if sels(key) == [Sel::Meta("mark".into())] && mask.is_number() {
                    let right =
                        body.get("right").map_or(Right::Val(Val::Word(String::new())), right);
                    return NItem::MaskedMark { mask: val(mask), op, right };
                }
            }
            let left = body.get("left").map(sels).unwrap_or_default();
            if left.iter().any(|s| matches!(s, Sel::Other(_))) {
                let what = left.iter().find_map(|s| {
                    if let Sel::Other(o) = s {
                        Some(o.clone())
                    } else {
                        None
                    }
                });
                return NItem::Other(what.unwrap_or_default());
            }
            NItem::Match {
                left,
                op,
                right: body.get("right").map_or(Right::Val(Val::Word(String::new())), right),
            }
        }
        "counter" => NItem::Counter(body.as_str().map(str::to_string)),
        "log" => {
            let other = ["flags", "group", "snaplen", "queue-threshold"]
                .into_iter()
                .find(|k| body.get(*k).is_some())
                .map(str::to_string);
            NItem::Log { prefix: field("prefix"), level: field("level"), other }
        }
        "limit" => {
            let bytes =
                body.get("rate_unit").and_then(Value::as_str).is_some_and(|u| u != "packets");
            NItem::Limit {
                rate: body.get("rate").and_then(Value::as_u64).unwrap_or(0),
                per: field("per").unwrap_or_else(|| "second".into()),
                burst: body.get("burst").and_then(Value::as_u64),
                over: body.get("inv").and_then(Value::as_bool).unwrap_or(false),
                bytes,
            }
        }
        "reject" => NItem::Reject { kind: field("type"), code: field("expr") },
        "dnat" | "snat" | "masquerade" | "redirect" => NItem::Nat(nat(k, body)),
        "vmap" => {
            let key = body.get("key").map(sels).unwrap_or_default();
            let map = match body.get("data") {
                Some(Value::String(s)) => Right::Named(s.trim_start_matches('@').to_string()),
                Some(d) => Right::Map(
                    d.get("set")
                        .and_then(Value::as_array)
                        .map(|es| {
                            es.iter()
                                .filter_map(|e| match e.as_array().map(Vec::as_slice) {
                                    Some([k, v]) => Some((val(k), verdict(v)?)),
                                    _ => None,
                                })
                                .collect()
                        })
                        .unwrap_or_default(),
                ),
                None => Right::Map(Vec::new()),
            };
            NItem::Vmap { key, map }
        }
        // `add @set { KEY STMT }`, `update @set { KEY STMT }`, and
        // `meter NAME { KEY STMT }`: a statement kept per key.
        "set" | "meter" if body.get("stmt").is_some() => {
            let elem = body.get(if k == "meter" { "key" } else { "elem" });
            let timeout_ms = elem
                .and_then(|e| e.get("elem"))
                .and_then(|e| e.get("timeout"))
                .and_then(Value::as_u64)
                .map(|t| t * 1_000);
            let stmt = match body.get("stmt") {
                Some(Value::Array(one)) if one.len() == 1 => meter_stmt(&one[0]),
                Some(Value::Object(_)) => meter_stmt(&body["stmt"]),
                _ => NItem::Other("several statements in one meter".into()),
            };
            let op =
                if k == "meter" { "meter".to_string() } else { field("op").unwrap_or_default() };
            let set = if k == "meter" { field("name") } else { field("set") };
            NItem::Meter(NMeter {
                op,
                set: set.unwrap_or_default().trim_start_matches('@').to_string(),
                key: elem.map(|e| sels(element(e))).unwrap_or_default(),
                timeout_ms,
                size: body.get("size").and_then(Value::as_u64),
                stmt: Box::new(stmt),
            })
        }
        // `add @set { ... }`, `update @set { ... }`: a set changed at run time.
        "set" | "map" | "meter" => {
            let op = field("op").unwrap_or_else(|| k.clone());
            NItem::Other(format!("{op} {}", field("set").unwrap_or_default()).trim().to_string())
        }
        // `meta mark set N`; a value computed from the packet (`meta mark
        // | 0x4`) is an object, and `ct mark set` another key.
        "mangle" => {
            let key = body.get("key").map(sels).unwrap_or_default();
            match (key.as_slice(), body.get("value")) {
                ([Sel::Meta(k)], Some(v)) if k == "mark" && v.is_number() => NItem::MarkSet(val(v)),
                ([Sel::Meta(k)], _) if k == "mark" => {
                    NItem::Other("meta mark set <expression>".into())
                }
                ([sel], _) => NItem::Other(format!("{sel} set")),
                _ => NItem::Other("mangle".into()),
            }
        }
        "xt" => NItem::Other(format!(
            "the iptables extension {}",
            body.get("name").and_then(Value::as_str).unwrap_or("?")
        )),
        other => NItem::Other(other.to_string()),
    }
}

/// The statement inside a meter: a `limit` or a `ct count`.
fn meter_stmt(e: &Value) -> NItem {
    match e.get("ct count") {
        Some(c) => NItem::CtCount {
            count: c.get("val").and_then(Value::as_u64).unwrap_or(0),
            over: c.get("inv").and_then(Value::as_bool).unwrap_or(false),
        },
        None => item(e),
    }
}

fn nat(kind: &str, body: &Value) -> NNat {
    let empty = Map::new();
    let o = body.as_object().unwrap_or(&empty);
    let family = o.get("family").and_then(Value::as_str).map(str::to_string);
    let flags: Vec<String> = match o.get("flags") {
        Some(Value::Array(f)) => f.iter().filter_map(Value::as_str).map(str::to_string).collect(),
        Some(Value::String(f)) => vec![f.clone()],
        _ => Vec::new(),
    };
    let port = o.get("port").map(|p| match p {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    });
    let to = match o.get("addr") {
        None if port.is_none() => None,
        None => Some(NatTo::Fixed { addr: None, port }),
        Some(Value::String(a)) => Some(NatTo::Fixed { addr: Some(a.clone()), port }),
        Some(Value::Object(a)) if a.get("map").is_some() => Some(balanced(&a["map"])),
        Some(other) => Some(NatTo::Other(other.to_string())),
    };
    NNat { kind: kind.to_string(), family, to, flags }
}

/// `{"map": {"key": {"numgen": ...} | {"jhash": ...}, "data": {"set": [...]}}}`.
fn balanced(m: &Value) -> NatTo {
    let key = &m["key"];
    let (pick, modulus, seed) = if let Some(n) = key.get("numgen") {
        if n.get("offset").and_then(Value::as_u64).unwrap_or(0) != 0 {
            return NatTo::Other("numgen offset".into());
        }
        let mode = n.get("mode").and_then(Value::as_str).unwrap_or("");
        (format!("numgen {mode}"), n.get("mod").and_then(Value::as_u64).unwrap_or(0), None)
    } else if let Some(j) = key.get("jhash") {
        let what = match sels(&j["expr"]).as_slice() {
            [Sel::Payload(p, f)] => format!("{p} {f}"),
            _ => return NatTo::Other("jhash".into()),
        };
        let seed = j.get("seed").and_then(Value::as_u64).and_then(|s| u32::try_from(s).ok());
        (format!("jhash {what}"), j.get("mod").and_then(Value::as_u64).unwrap_or(0), seed)
    } else {
        return NatTo::Other("a map lookup".into());
    };
    let named = m["data"].as_str().and_then(|d| d.strip_prefix('@')).map(str::to_string);
    let map = m["data"]
        .get("set")
        .and_then(Value::as_array)
        .map(|es| {
            es.iter()
                .filter_map(|e| match e.as_array().map(Vec::as_slice) {
                    Some([k, v]) => Some((val(k), val(v))),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    NatTo::Balanced { pick, modulus: u32::try_from(modulus).unwrap_or(0), seed, map, named }
}
