//! An nftables ruleset into the import model.
//!
//! `nft/text.rs` reads `nft list ruleset` text and `nft/json.rs` reads
//! `nft -j list ruleset` into the same small model of nft's own terms
//! ([`Source`]: tables, chains, sets, rules as lists of [`NItem`]s);
//! `nft/rule.rs` turns each rule into policy rules. Tables of family `ip`
//! and `ip6` see one family, as iptables' do, and go through the same
//! merging; `inet` tables see both; other families are left out.

mod json;
mod parts;
mod rule;
mod text;

use std::collections::HashMap;
use std::fmt;

use crate::ir::{ChainKind, ChainPolicy, Hook};
use crate::lower::backends::{self, LOOPBACK};
use crate::nft::vocab::{ct_status_names, CT_STATUS_DNAT, TCP_FLAGS};
use crate::space::flags::FlagsTest;
use crate::space::Family;

use super::model::{self, Base, Chain, LeftOut, Origin, Table};
use super::{Collect, ImportError};

pub use text::looks_like;

/// A ruleset as nft lists it.
#[derive(Debug, Default)]
pub(crate) struct Source {
    pub tables: Vec<NTable>,
}

#[derive(Debug)]
pub(crate) struct NTable {
    pub family: String,
    pub name: String,
    pub chains: Vec<NChain>,
    pub sets: Vec<NSet>,
    /// Objects of the table that are not read (quotas, flowtables, ...),
    /// with what they are.
    pub skipped: Vec<(Origin, String)>,
}

#[derive(Debug)]
pub(crate) struct NChain {
    pub name: String,
    pub base: Option<NBase>,
    pub rules: Vec<NRule>,
    pub origin: Origin,
}

#[derive(Debug)]
pub(crate) struct NBase {
    pub kind: String,
    pub hook: String,
    /// As written: a number, a name (`filter`), or a name with an offset.
    pub priority: String,
    pub policy: String,
    /// A `device`: netdev and ingress chains.
    pub device: bool,
}

#[derive(Debug)]
pub(crate) struct NSet {
    pub name: String,
    /// The key's type, one per part of a concatenation: `ipv4_addr`.
    pub key: Vec<String>,
    /// A map's data type: `verdict`.
    pub data: Option<String>,
    pub flags: Vec<String>,
    /// How long an element stays, in milliseconds, when the set says.
    pub timeout_ms: Option<u64>,
    /// How many elements fit, when the set says.
    pub size: Option<u64>,
    pub elements: Vec<(Val, Option<Val>)>,
}

#[derive(Debug, Clone)]
pub(crate) struct NRule {
    pub items: Vec<NItem>,
    pub comment: Option<String>,
    pub origin: Origin,
}

/// One expression of a rule, in nft's terms.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum NItem {
    /// `LEFT [OP] RIGHT`: `ip saddr != 10.0.0.0/8`, `ct state { new }`.
    Match {
        left: Vec<Sel>,
        op: String,
        right: Right,
    },
    Counter(Option<String>),
    Log {
        prefix: Option<String>,
        level: Option<String>,
        other: Option<String>,
    },
    Limit {
        rate: u64,
        per: String,
        burst: Option<u64>,
        over: bool,
        bytes: bool,
    },
    Verdict(NVerdict),
    /// `reject [with KIND CODE]`.
    Reject {
        kind: Option<String>,
        code: Option<String>,
    },
    Nat(NNat),
    /// A statement kept for each key apart: `meter NAME [size N] { KEY
    /// STMT }`, `update @SET { KEY STMT }`, `add @SET { KEY STMT }`.
    Meter(NMeter),
    /// `ct count [over] N`, inside a meter.
    CtCount {
        count: u64,
        over: bool,
    },
    /// `tcp flags ...` in any of nft's forms, read as nft's one compare
    /// `(flags & mask) == value` (or `!=`), or why it is not one; with
    /// the match as nft writes it.
    TcpFlags {
        test: Result<FlagsTest, String>,
        text: String,
    },
    /// `meta mark & MASK == VALUE` (or `!=`): a compare under a mask, of
    /// the mark (any other key is read as `Other`).
    MaskedMark {
        mask: Val,
        op: String,
        right: Right,
    },
    /// `meta mark set VALUE`, where the value is a plain number.
    MarkSet(Val),
    /// `KEY vmap { k : v, ... }` or `KEY vmap @name`.
    Vmap {
        key: Vec<Sel>,
        map: Right,
    },
    /// Anything else, as nft would write it.
    Other(String),
}

/// What a match or a map key reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Sel {
    /// `ip saddr`, `tcp dport`, `th dport`.
    Payload(String, String),
    /// `meta l4proto`, `iifname`.
    Meta(String),
    /// `ct state`, `ct status`, `ct direction`.
    Ct(String),
    /// A conntrack key of one direction: `ct reply ip saddr` is
    /// `("reply", "ip saddr")`, `ct original proto-dst`.
    CtDir(String, String),
    /// An address masked to a prefix (`ip saddr & 255.255.255.0`), as a
    /// verdict map's key holds it: `len` bits, `mask` as written.
    Net {
        sel: Box<Sel>,
        len: u8,
        mask: String,
    },
    Other(String),
}

impl Sel {
    /// `sel & mask` as a network selector, when `sel` is an address and
    /// `mask` a prefix mask of its family (not all ones, not zero).
    pub(crate) fn net(sel: Sel, mask: &str) -> Option<Sel> {
        let Sel::Payload(p, f) = &sel else { return None };
        if !matches!(f.as_str(), "saddr" | "daddr") {
            return None;
        }
        let (bits, ones, zeros) = match (p.as_str(), mask.parse::<std::net::IpAddr>().ok()?) {
            ("ip", std::net::IpAddr::V4(m)) => {
                let m = u32::from(m);
                (32, m.leading_ones(), m.trailing_zeros())
            }
            ("ip6", std::net::IpAddr::V6(m)) => {
                let m = u128::from(m);
                (128, m.leading_ones(), m.trailing_zeros())
            }
            _ => return None,
        };
        let len = u8::try_from(ones).ok()?;
        (ones + zeros == bits && ones > 0 && ones < bits).then(|| Sel::Net {
            sel: Box::new(sel),
            len,
            mask: mask.to_string(),
        })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Right {
    Val(Val),
    Set(Vec<Val>),
    /// `@name`
    Named(String),
    /// The elements of an anonymous verdict map.
    Map(Vec<(Val, NVerdict)>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Val {
    /// A word, number or string as written: `10.0.0.0/8`, `22`, `80-90`, `eth0`.
    Word(String),
    Prefix(String, u8),
    Range(String, String),
    /// `a . b`
    Concat(Vec<Val>),
    /// `established,related`: flags, any of which may be set.
    List(Vec<Val>),
    /// `established | related`: flags together, as one value.
    Or(Vec<Val>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum NVerdict {
    Accept,
    Drop,
    Return,
    Continue,
    Jump(String),
    Goto(String),
    Other(String),
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct NMeter {
    /// `meter`, `update` or `add`.
    pub op: String,
    /// The meter's name, or the set's.
    pub set: String,
    pub key: Vec<Sel>,
    /// The element's own timeout, in milliseconds.
    pub timeout_ms: Option<u64>,
    /// A `meter`'s size.
    pub size: Option<u64>,
    pub stmt: Box<NItem>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct NNat {
    /// `dnat`, `snat`, `masquerade`, `redirect`.
    pub kind: String,
    /// `ip` or `ip6`, when given.
    pub family: Option<String>,
    pub to: Option<NatTo>,
    /// `random`, `persistent`, ...
    pub flags: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum NatTo {
    /// An address, a port, or both.
    Fixed {
        addr: Option<String>,
        port: Option<String>,
    },
    /// `numgen inc mod 3 map { ... }`, `jhash ip saddr mod 2 seed 0x0 map { ... }`,
    /// or `... map @NAME`, a map of the table (`named`; `map` is then
    /// empty), as `nft list ruleset` shows what `apply` made.
    Balanced {
        pick: String,
        modulus: u32,
        seed: Option<u32>,
        map: Vec<(Val, Val)>,
        named: Option<String>,
    },
    Other(String),
}

/// Reads one input into `out`.
pub fn import(input: usize, text: &str, json: bool, out: &mut Collect) -> Result<(), ImportError> {
    let source = if json { json::read(input, text)? } else { text::read(input, text)? };
    for t in source.tables {
        table(t, out);
    }
    Ok(())
}

/// One TCP flag or flags byte as nft writes it: `syn`, `0x12`, `18`.
pub(crate) fn flag_value(word: &str) -> Option<u8> {
    if let Some(&(_, bit)) = TCP_FLAGS.iter().find(|(n, _)| *n == word) {
        return Some(bit);
    }
    match word.strip_prefix("0x") {
        Some(hex) => u8::from_str_radix(hex, 16).ok(),
        None => word.parse().ok(),
    }
}

/// The compare a `tcp flags` match makes, from its parts as nft has them:
/// the mask of `& MASK` (or `/ MASK`), the operator (`==`, `!=`, `in` for
/// nft's "any of", `!` for "none of"), and the value.
pub(crate) fn flags_test(mask: Option<u8>, op: &str, value: u8) -> Result<FlagsTest, String> {
    let t = |mask, value, negated| Ok(FlagsTest { mask, value, negated });
    match (mask, op) {
        (Some(m), "==") => t(m, value, false),
        (Some(m), "!=") => t(m, value, true),
        (None, "==") => t(u8::MAX, value, false),
        (None, "!=") => t(u8::MAX, value, true),
        (None, "in") => t(value, 0, true),
        (None, "!") => t(value, 0, false),
        _ => Err(format!("the `tcp flags` comparison `{op}` is not in the language")),
    }
}

/// A duration as nft lists it, `1m40s`, `500ms`, `2h`, in milliseconds.
pub(crate) fn duration_ms(text: &str) -> Option<u64> {
    const UNITS: &[(&str, u64)] =
        &[("ms", 1), ("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1_000)];
    let mut rest = text;
    let mut total: u64 = 0;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit())?;
        let n: u64 = rest[..digits].parse().ok()?;
        let after = &rest[digits..];
        let &(unit, ms) = UNITS.iter().find(|(u, _)| after.starts_with(u))?;
        total = total.checked_add(n.checked_mul(ms)?)?;
        rest = &after[unit.len()..];
    }
    (!text.is_empty()).then_some(total)
}

fn priority(text: &str) -> Option<i32> {
    const NAMES: &[(&str, i32)] = &[
        ("raw", -300),
        ("mangle", -150),
        ("dstnat", -100),
        ("filter", 0),
        ("security", 50),
        ("srcnat", 100),
    ];
    let words: Vec<&str> = text.split_whitespace().collect();
    let base =
        |w: &str| NAMES.iter().find(|(n, _)| *n == w).map(|(_, p)| *p).or_else(|| w.parse().ok());
    match words.as_slice() {
        [one] => base(one),
        [name, "+", n] => Some(base(name)? + n.parse::<i32>().ok()?),
        [name, "-", n] => Some(base(name)? - n.parse::<i32>().ok()?),
        _ => None,
    }
}

fn table(mut t: NTable, out: &mut Collect) {
    let family = match t.family.as_str() {
        "ip" => Some(Family::V4),
        "ip6" => Some(Family::V6),
        "inet" => None,
        other => {
            let reason = format!("nft tables of family `{other}` are not imported");
            for c in &t.chains {
                for r in &c.rules {
                    out.left_out
                        .push(LeftOut { reasons: vec![reason.clone()], origin: r.origin.clone() });
                }
                if c.rules.is_empty() {
                    out.left_out
                        .push(LeftOut { reasons: vec![reason.clone()], origin: c.origin.clone() });
                }
            }
            return;
        }
    };
    for (origin, what) in &t.skipped {
        out.left_out.push(LeftOut {
            reasons: vec![format!("{what} is not imported")],
            origin: origin.clone(),
        });
    }
    parts::fold(&mut t.chains, &t.sets);
    let names = model::plain_names(t.chains.iter().map(|c| c.name.as_str()));
    let sets: HashMap<&str, &NSet> = t.sets.iter().map(|s| (s.name.as_str(), s)).collect();
    // Rules that keep state in one set share it: each rule of a policy has
    // a set of its own.
    let mut meter_uses: HashMap<&str, usize> = HashMap::new();
    for r in t.chains.iter().flat_map(|c| &c.rules) {
        for i in &r.items {
            if let NItem::Meter(m) = i {
                *meter_uses.entry(m.set.as_str()).or_default() += 1;
            }
        }
    }
    let mut chains = Vec::new();
    for c in &t.chains {
        if counts_backends(c, &sets) {
            // Made again from the table's `dnat ... balance` rules.
            continue;
        }
        let mut notes = Vec::new();
        if names[&c.name] != c.name {
            notes.push(format!("nft chain `{}`", c.name));
        }
        let base = match &c.base {
            None => None,
            Some(b) => match base(b) {
                Ok(base) => Some(base),
                Err(reason) => {
                    for r in &c.rules {
                        out.left_out.push(LeftOut {
                            reasons: vec![reason.clone()],
                            origin: r.origin.clone(),
                        });
                    }
                    out.left_out.push(LeftOut { reasons: vec![reason], origin: c.origin.clone() });
                    continue;
                }
            },
        };
        let cx = rule::Cx { family, sets: &sets, names: &names, meter_uses: &meter_uses };
        let items = c.rules.iter().flat_map(|r| cx.translate(r)).collect();
        let items = rule::fold_family_twins(items);
        chains.push(Chain { name: names[&c.name].clone(), base, items, notes });
    }
    let mut table = Table {
        name: model::plain_names([t.name.as_str()])[&t.name].clone(),
        family,
        chains,
        notes: vec![format!("nft table {} {}", t.family, t.name)],
    };
    super::inline::inline_nat_chains(&mut table);
    out.tables.push(table);
}

/// Whether `c` is one of the chains shriekc adds to count each balanced
/// backend's traffic (`lower::backends`), read as shriekc writes it: a
/// filter base chain on `prerouting` or `output` that accepts, each of
/// whose rules is `[meta l4proto P] [iifname != "lo"] ct status dnat KEY
/// @SET`, where the interface test is `prerouting`'s alone, KEY is a key
/// shriekc counts backends by (`ct reply ip saddr [. ct reply proto-src]
/// . ct direction`) and SET a `backends_` set of the table with a key of
/// that many parts. Such a chain never decides anything, and compiling the
/// imported `balance` rules makes it again.
fn counts_backends(c: &NChain, sets: &HashMap<&str, &NSet>) -> bool {
    let Some(b) = &c.base else { return false };
    let hook_ok = matches!(b.hook.as_str(), "prerouting" | "output");
    b.kind == "filter"
        && hook_ok
        && b.policy == "accept"
        && !b.device
        && !c.rules.is_empty()
        && c.rules.iter().all(|r| counting_rule(&r.items, b.hook == "prerouting", sets))
}

/// One rule of a backend-counting chain (see [`counts_backends`]).
fn counting_rule(items: &[NItem], prerouting: bool, sets: &HashMap<&str, &NSet>) -> bool {
    let is = |i: &NItem, sel: Sel, want_op: &str, value: &str| match i {
        NItem::Match { left, op, right: Right::Val(v) } => {
            left.as_slice() == [sel.clone()]
                && op == want_op
                && match v {
                    Val::Word(w) => w == value,
                    Val::List(items) => items.as_slice() == [Val::Word(value.to_string())],
                    _ => false,
                }
        }
        _ => false,
    };
    let mut rest = items;
    if let [NItem::Match { left, op, right: Right::Val(Val::Word(_)) }, tail @ ..] = rest {
        if left.as_slice() == [Sel::Meta("l4proto".into())] && op == "==" {
            rest = tail;
        }
    }
    if prerouting {
        match rest {
            [first, tail @ ..] if is(first, Sel::Meta("iifname".into()), "!=", LOOPBACK) => {
                rest = tail
            }
            _ => return false,
        }
    }
    let dnat = ct_status_names(CT_STATUS_DNAT);
    let [status, NItem::Match { left, op, right: Right::Named(set) }] = rest else {
        return false;
    };
    let key: Vec<String> = left.iter().map(Sel::to_string).collect();
    let shriekc_key = [false, true].into_iter().any(|v6| {
        [false, true].into_iter().any(|port| {
            let words: Vec<_> = backends::key(v6, port).iter().map(|s| s.keyword()).collect();
            words == key
        })
    });
    is(status, Sel::Ct("status".into()), "==", dnat[0])
        && op == "=="
        && shriekc_key
        && set.starts_with("backends_")
        && sets.get(set.as_str()).is_some_and(|s| s.key.len() == key.len())
}

/// A base chain's header, or why it cannot be one in the language.
fn base(b: &NBase) -> Result<Base, String> {
    let hook = match b.hook.as_str() {
        "prerouting" => Hook::Prerouting,
        "input" => Hook::Input,
        "forward" => Hook::Forward,
        "output" => Hook::Output,
        "postrouting" => Hook::Postrouting,
        other => return Err(format!("base chains on the `{other}` hook are not in the language")),
    };
    if b.device {
        return Err("base chains bound to a device are not in the language".into());
    }
    let kind = match b.kind.as_str() {
        "filter" => ChainKind::Filter,
        "nat" => ChainKind::Nat,
        "route" => ChainKind::Route,
        other => return Err(format!("chains of type `{other}` are not in the language")),
    };
    let priority = priority(&b.priority)
        .ok_or_else(|| format!("the priority `{}` cannot be read", b.priority))?;
    let policy = match b.policy.as_str() {
        "accept" => ChainPolicy::Accept,
        "drop" => ChainPolicy::Drop,
        other => return Err(format!("the policy `{other}` cannot be read")),
    };
    Ok(Base { hook, kind, priority, policy })
}

impl NVerdict {
    /// A verdict as nft writes it in a map: `accept`, `jump web`.
    pub fn parse(text: &str) -> NVerdict {
        match text.split_once(' ') {
            None => match text {
                "accept" => NVerdict::Accept,
                "drop" => NVerdict::Drop,
                "return" => NVerdict::Return,
                "continue" => NVerdict::Continue,
                other => NVerdict::Other(other.to_string()),
            },
            Some(("jump", c)) => NVerdict::Jump(c.to_string()),
            Some(("goto", c)) => NVerdict::Goto(c.to_string()),
            Some(_) => NVerdict::Other(text.to_string()),
        }
    }
}

// nft's own words for the model, to show a rule read from JSON.

impl fmt::Display for NVerdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NVerdict::Accept => f.write_str("accept"),
            NVerdict::Drop => f.write_str("drop"),
            NVerdict::Return => f.write_str("return"),
            NVerdict::Continue => f.write_str("continue"),
            NVerdict::Jump(c) => write!(f, "jump {c}"),
            NVerdict::Goto(c) => write!(f, "goto {c}"),
            NVerdict::Other(o) => f.write_str(o),
        }
    }
}

impl fmt::Display for Sel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Sel::Payload(p, field) => write!(f, "{p} {field}"),
            Sel::Meta(k) => write!(f, "meta {k}"),
            Sel::Ct(k) => write!(f, "ct {k}"),
            Sel::CtDir(dir, k) => write!(f, "ct {dir} {k}"),
            Sel::Net { sel, mask, .. } => write!(f, "{sel} & {mask}"),
            Sel::Other(o) => f.write_str(o),
        }
    }
}

impl fmt::Display for Val {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let join = |items: &[Val], sep: &str| {
            items.iter().map(Val::to_string).collect::<Vec<_>>().join(sep)
        };
        match self {
            Val::Word(w) => f.write_str(w),
            Val::Prefix(a, len) => write!(f, "{a}/{len}"),
            Val::Range(a, b) => write!(f, "{a}-{b}"),
            Val::Concat(parts) => f.write_str(&join(parts, " . ")),
            Val::List(items) => f.write_str(&join(items, ",")),
            Val::Or(items) => f.write_str(&join(items, " | ")),
        }
    }
}

impl fmt::Display for Right {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Right::Val(v) => write!(f, "{v}"),
            Right::Set(vs) => {
                write!(f, "{{ {} }}", vs.iter().map(Val::to_string).collect::<Vec<_>>().join(", "))
            }
            Right::Named(n) => write!(f, "@{n}"),
            Right::Map(m) => {
                let items: Vec<String> = m.iter().map(|(k, v)| format!("{k} : {v}")).collect();
                write!(f, "{{ {} }}", items.join(", "))
            }
        }
    }
}

impl fmt::Display for NItem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let left = |l: &[Sel]| l.iter().map(Sel::to_string).collect::<Vec<_>>().join(" . ");
        match self {
            NItem::Match { left: l, op, right } if op == "==" => write!(f, "{} {right}", left(l)),
            NItem::Match { left: l, op, right } => write!(f, "{} {op} {right}", left(l)),
            NItem::Counter(None) => f.write_str("counter"),
            NItem::Counter(Some(n)) => write!(f, "counter name \"{n}\""),
            NItem::Log { prefix, level, other } => {
                f.write_str("log")?;
                if let Some(p) = prefix {
                    write!(f, " prefix \"{p}\"")?;
                }
                if let Some(l) = level {
                    write!(f, " level {l}")?;
                }
                if let Some(o) = other {
                    write!(f, " {o}")?;
                }
                Ok(())
            }
            NItem::Limit { rate, per, burst, over, bytes } => {
                let over = if *over { "over " } else { "" };
                let unit = if *bytes { " bytes" } else { "" };
                write!(f, "limit rate {over}{rate}{unit}/{per}")?;
                match burst {
                    Some(b) => write!(f, " burst {b} packets"),
                    None => Ok(()),
                }
            }
            NItem::Verdict(v) => write!(f, "{v}"),
            NItem::Meter(m) => {
                let key = left(&m.key);
                let timeout = m.timeout_ms.map_or(String::new(), |t| format!(" timeout {t}ms"));
                match m.op.as_str() {
                    "meter" => write!(f, "meter {} {{ {key}{timeout} {} }}", m.set, m.stmt),
                    op => write!(f, "{op} @{} {{ {key}{timeout} {} }}", m.set, m.stmt),
                }
            }
            NItem::TcpFlags { text, .. } => f.write_str(text),
            NItem::MaskedMark { mask, op, right } => write!(f, "meta mark & {mask} {op} {right}"),
            NItem::MarkSet(v) => write!(f, "meta mark set {v}"),
            NItem::CtCount { count, over } => {
                write!(f, "ct count {}{count}", if *over { "over " } else { "" })
            }
            NItem::Reject { kind: None, .. } => f.write_str("reject"),
            NItem::Reject { kind: Some(k), code: None } => write!(f, "reject with {k}"),
            NItem::Reject { kind: Some(k), code: Some(c) } => write!(f, "reject with {k} {c}"),
            NItem::Nat(n) => {
                f.write_str(&n.kind)?;
                if let Some(fam) = &n.family {
                    write!(f, " {fam}")?;
                }
                match &n.to {
                    None => {}
                    Some(NatTo::Fixed { addr, port }) => {
                        let addr = addr.clone().unwrap_or_default();
                        match port {
                            Some(p) if addr.contains(':') => write!(f, " to [{addr}]:{p}")?,
                            Some(p) => write!(f, " to {addr}:{p}")?,
                            None => write!(f, " to {addr}")?,
                        }
                    }
                    Some(NatTo::Balanced { pick, modulus, seed, map, named }) => {
                        write!(f, " to {pick} mod {modulus}")?;
                        if let Some(s) = seed {
                            write!(f, " seed {s:#x}")?;
                        }
                        if let Some(name) = named {
                            write!(f, " map @{name}")?;
                        } else {
                            let items: Vec<String> =
                                map.iter().map(|(k, v)| format!("{k} : {v}")).collect();
                            write!(f, " map {{ {} }}", items.join(", "))?;
                        }
                    }
                    Some(NatTo::Other(o)) => write!(f, " to {o}")?,
                }
                for flag in &n.flags {
                    write!(f, " {flag}")?;
                }
                Ok(())
            }
            NItem::Vmap { key, map } => write!(f, "{} vmap {map}", left(key)),
            NItem::Other(o) => f.write_str(o),
        }
    }
}
