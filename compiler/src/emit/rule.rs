//! One nft rule as nft text: `meta l4proto tcp th dport 22 counter accept`.
//!
//! [`rule_text`] is the one printer for a rule; `emit_nft` adds the origin
//! comment, and every other verb that shows a rule uses it as it is. The
//! values are spelled as `nft list ruleset` spells them (prefixes, protocol
//! and conntrack words, quoted names), so the text loads with `nft -f`.

use crate::ir::{Limit, MeterTest};
use std::fmt::Write;
use std::net::{Ipv4Addr, Ipv6Addr};

use crate::nft::vocab::{
    ct_direction_name, ct_states, ct_status_names, name_of, nfproto_family, proto_keyword,
    tcp_flag_names, ICMPV6_CODES, ICMPV6_TYPES, ICMP_CODES, ICMP_TYPES, LOG_LEVELS,
};
use crate::nft::{self, CmpOp, Elem, Expr, NatTargetExpr, Part, Rhs, Selector};
use crate::space::words::prefix_len;
use crate::space::Family;

/// The matches and statements of `rule`, in order, without its comment.
pub fn rule_text(rule: &nft::Rule) -> String {
    rule_text_in(rule, None)
}

/// [`rule_text`], a balanced translation looking its backend up in the
/// table's map `nat_map` (see `nat_map.rs`) when one is given.
pub(super) fn rule_text_in(rule: &nft::Rule, nat_map: Option<&str>) -> String {
    let apart = super::kept_apart(&rule.exprs);
    let text = |(i, e): (usize, &Expr)| match (apart.iter().find(|(j, ..)| *j == i), e) {
        (Some(&(_, sel, v)), _) => format!("{} != {v}-{v}", sel.keyword()),
        (None, Expr::Nat(n)) => nat(n, nat_map),
        (None, e) => expr(e),
    };
    rule.exprs.iter().enumerate().map(text).collect::<Vec<_>>().join(" ")
}

/// A name as nft reads it: bare when its scanner takes it as one word
/// (`[a-zA-Z_.][a-zA-Z0-9/_.-]*`). nft 1.0 does not take quoted chain
/// names, so other names are quoted only as a best effort.
pub(super) fn ident(name: &str) -> String {
    let plain =
        name.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == '.')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || "/_.-".contains(c));
    if plain {
        name.to_string()
    } else {
        quote(name, usize::MAX)
    }
}

/// A double-quoted nft string of at most `max` bytes. nft strings cannot
/// hold `"` or line breaks, so those become `'` and spaces.
pub(super) fn quote(s: &str, max: usize) -> String {
    format!("\"{}\"", clean(s, max))
}

/// The text of an nft string of at most `max` bytes, as [`quote`] writes
/// it between the quotes.
pub(super) fn clean(s: &str, max: usize) -> String {
    // Most comments (every `file:line` one) are printable ASCII without a
    // quote: copied as they are, not char by char.
    let plain = s.bytes().all(|b| (b' '..=b'~').contains(&b) && b != b'"');
    let mut clean = if plain { s.to_owned() } else { clean_chars(s) };
    cut(&mut clean, max);
    clean
}

/// Quotes become apostrophes and control characters spaces.
fn clean_chars(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '"' => '\'',
            c if c.is_control() => ' ',
            c => c,
        })
        .collect()
}

/// Cuts `s` to fewer than `max` bytes, at a character boundary.
fn cut(s: &mut String, max: usize) {
    if s.len() > max.saturating_sub(1) {
        let mut end = max.saturating_sub(1);
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
}

pub(super) fn proto_name(p: u128) -> Option<&'static str> {
    proto_keyword(u8::try_from(p).ok()?)
}

/// nft's name for an ICMP type or code value, where it has one.
pub(super) fn icmp_name(sel: Selector, v: u128) -> Option<&'static str> {
    let names = match sel {
        Selector::IcmpType => ICMP_TYPES,
        Selector::IcmpCode => ICMP_CODES,
        Selector::Icmpv6Type => ICMPV6_TYPES,
        Selector::Icmpv6Code => ICMPV6_CODES,
        _ => return None,
    };
    name_of(names, u8::try_from(v).ok()?)
}

pub(super) fn ct_names(mask: u128) -> Vec<&'static str> {
    // The bits all sit in the low 32; a wider value has none of the others.
    ct_states(mask as u32).map(|s| s.keyword()).collect()
}

/// The words of a bitmask `sel` reads: conntrack states or status bits.
pub(super) fn flag_names(sel: Selector, mask: u128) -> Vec<&'static str> {
    match sel {
        Selector::CtStatus => ct_status_names(mask as u32),
        _ => ct_names(mask),
    }
}

pub(super) fn addr_text(v: u128, v6: bool) -> String {
    if v6 {
        Ipv6Addr::from(v).to_string()
    } else {
        Ipv4Addr::from(v as u32).to_string()
    }
}

/// One part of a value, as the selector reads it.
fn part(sel: Selector, p: &Part) -> String {
    let (lo, hi) = match p {
        Part::Str(s) => return quote(s, usize::MAX),
        Part::Int(lo, hi) => (*lo, *hi),
    };
    let sel = sel.unmasked();
    let one = |v: u128| -> String {
        match sel {
            Selector::Nfproto => match u8::try_from(v).ok().and_then(nfproto_family) {
                Some(Family::V4) => "ipv4".into(),
                Some(Family::V6) => "ipv6".into(),
                None => v.to_string(),
            },
            Selector::L4proto => proto_name(v).map_or_else(|| v.to_string(), str::to_string),
            Selector::Ip4Saddr | Selector::Ip4Daddr | Selector::CtReplyIp4Saddr => {
                addr_text(v, false)
            }
            Selector::Ip6Saddr | Selector::Ip6Daddr | Selector::CtReplyIp6Saddr => {
                addr_text(v, true)
            }
            Selector::CtState | Selector::CtStatus => flag_names(sel, v).join(","),
            Selector::CtDirection => {
                ct_direction_name(v).map_or_else(|| v.to_string(), str::to_string)
            }
            // nft lists a mark in hexadecimal, eight digits.
            Selector::Mark => format!("{v:#010x}"),
            _ => icmp_name(sel, v).map_or_else(|| v.to_string(), str::to_string),
        }
    };
    if lo == hi {
        return one(lo);
    }
    let bits = match sel {
        Selector::Ip4Saddr | Selector::Ip4Daddr => Some(32),
        Selector::Ip6Saddr | Selector::Ip6Daddr => Some(128),
        _ => None,
    };
    if let Some(len) = bits.and_then(|b| prefix_len(lo, hi, b)) {
        return format!("{}/{len}", one(lo));
    }
    // A range of names would read as one hyphenated name (`tcp-udp`,
    // which nft refuses): a range with a named end is said in numbers.
    let named = |v: u128| match sel {
        Selector::L4proto => proto_name(v).is_some(),
        Selector::CtDirection => ct_direction_name(v).is_some(),
        Selector::Nfproto => true,
        _ => icmp_name(sel, v).is_some(),
    };
    if named(lo) || named(hi) {
        return format!("{lo}-{hi}");
    }
    format!("{}-{}", one(lo), one(hi))
}

pub(super) fn elem(key: &[Selector], e: &Elem) -> String {
    key.iter().zip(&e.0).map(|(s, p)| part(*s, p)).collect::<Vec<_>>().join(" . ")
}

fn key_text(key: &[Selector]) -> String {
    key.iter().map(|s| s.keyword()).collect::<Vec<_>>().join(" . ")
}

/// Flags as nft writes them: `syn,ack`, or `0x0` for none.
pub(super) fn flags_text(bits: u32) -> String {
    let names = tcp_flag_names(bits as u8);
    if names.is_empty() {
        format!("{bits:#x}")
    } else {
        names.join(",")
    }
}

/// A `tcp flags` match in the form nft lists it. A plain value gets `==`:
/// without it nft would read "any of these flags".
fn tcp_flags_match(op: CmpOp, rhs: &Rhs) -> Option<String> {
    let ne = op == CmpOp::Ne;
    let text = match rhs {
        Rhs::Value(Elem(parts)) => match parts.as_slice() {
            [Part::Int(v, hi)] if v == hi => {
                format!("{} {}", if ne { "!=" } else { "==" }, flags_text(*v as u32))
            }
            _ => return None,
        },
        Rhs::Masked { mask, value: 0 } if ne => flags_text(*mask),
        Rhs::Masked { mask, value: 0 } => format!("! {}", flags_text(*mask)),
        Rhs::Masked { mask, value } => {
            let neg = if ne { "!= " } else { "" };
            format!("{neg}{} / {}", flags_text(*value), flags_text(*mask))
        }
        _ => return None,
    };
    Some(format!("tcp flags {text}"))
}

fn expr(e: &Expr) -> String {
    match e {
        Expr::Match { key, op, rhs } if key.as_slice() == [Selector::TcpFlags] => {
            tcp_flags_match(*op, rhs).unwrap_or_else(|| generic_match(key, *op, rhs))
        }
        Expr::Match { key, op, rhs } => generic_match(key, *op, rhs),
        Expr::MarkSet(v) => format!("meta mark set {v:#010x}"),
        Expr::Counter(None) => "counter".into(),
        Expr::Counter(Some(n)) => format!("counter name {}", quote(n, usize::MAX)),
        Expr::Log { prefix, level } => {
            let mut s = String::from("log");
            if let Some(p) = prefix {
                let _ = write!(s, " prefix {}", quote(p, 128));
            }
            if let Some(name) = level.and_then(|l| name_of(LOG_LEVELS, l)) {
                let _ = write!(s, " level {name}");
            }
            s
        }
        Expr::Limit(l) => limit_text(l),
        Expr::Meter(m) => {
            let test = match m.test {
                MeterTest::Rate(l) => limit_text(&l),
                MeterTest::CountOver(n) => format!("ct count over {n}"),
            };
            let op = if m.updates() { "update" } else { "add" };
            format!("{op} @{} {{ {} {test} }}", ident(&m.set), m.key.keyword())
        }
        Expr::Verdict(v) => verdict(v),
        Expr::Vmap { key, map } => format!("{} vmap @{}", key_text(key), ident(map)),
        Expr::Nat(n) => nat(n, None),
        Expr::Raw(text) => text.clone(),
    }
}

/// `KEY [!=] RHS` in nft's words.
fn generic_match(key: &[Selector], op: CmpOp, rhs: &Rhs) -> String {
    let op = match op {
        CmpOp::Eq => "",
        CmpOp::Ne => "!= ",
    };
    let rhs = match rhs {
        Rhs::Value(v) => elem(key, v),
        Rhs::Set(es) => {
            format!("{{ {} }}", es.iter().map(|v| elem(key, v)).collect::<Vec<_>>().join(", "))
        }
        Rhs::Named(n) => format!("@{}", ident(n)),
        Rhs::Flags(mask) => {
            let names = flag_names(key[0], *mask as u128);
            if op.is_empty() || names.len() == 1 {
                names.join(",")
            } else {
                // One state per packet: "none of these" is "not in this set".
                format!("{{ {} }}", names.join(", "))
            }
        }
        // Only `tcp flags` has a mask; `tcp_flags_match` writes nft's form.
        Rhs::Masked { mask, value } => format!("& {mask:#x} == {value:#x}"),
    };
    format!("{} {op}{rhs}", key_text(key))
}

fn limit_text(l: &Limit) -> String {
    let mut s = format!("limit rate {}/{}", l.rate, l.per.keyword());
    if let Some(b) = l.burst {
        let _ = write!(s, " burst {b} packets");
    }
    s
}

pub(super) fn verdict(v: &nft::Verdict) -> String {
    match v {
        nft::Verdict::Jump(c) => format!("jump {}", ident(c)),
        nft::Verdict::Goto(c) => format!("goto {}", ident(c)),
        v => v.to_string(),
    }
}

fn nat(n: &nft::NatStmt, map: Option<&str>) -> String {
    let kind = n.kind.keyword();
    let fam = match n.family {
        None => "",
        Some(nft::NatFamily::Ip) => " ip",
        Some(nft::NatFamily::Ip6) => " ip6",
    };
    let v6 = n.family == Some(nft::NatFamily::Ip6);
    let addr = |a: &std::net::IpAddr, port: Option<u16>| match (a, port) {
        (std::net::IpAddr::V6(a), Some(p)) => format!("[{a}]:{p}"),
        (a, Some(p)) => format!("{a}:{p}"),
        (a, None) => a.to_string(),
    };
    match &n.target {
        NatTargetExpr::None { port: None } => kind.to_string(),
        NatTargetExpr::None { port: Some(p) } => format!("{kind} to :{p}"),
        NatTargetExpr::Fixed { addr: a, port } => format!("{kind}{fam} to {}", addr(a, *port)),
        NatTargetExpr::Balanced { pick, modulus, slots } => {
            let with_port = slots.iter().all(|s| s.3.is_some());
            let pick = match pick {
                nft::Pick::RoundRobin => format!("numgen inc mod {modulus}"),
                nft::Pick::Random => format!("numgen random mod {modulus}"),
                nft::Pick::SourceHash { seed } => {
                    format!(
                        "jhash {} saddr mod {modulus} seed {seed:#x}",
                        if v6 { "ip6" } else { "ip" }
                    )
                }
            };
            let entries: Vec<String> = slots
                .iter()
                .map(|(lo, hi, a, p)| {
                    let k = if lo == hi { lo.to_string() } else { format!("{lo}-{hi}") };
                    match (with_port, p) {
                        (true, Some(p)) => format!("{k} : {a} . {p}"),
                        _ => format!("{k} : {a}"),
                    }
                })
                .collect();
            let what = if with_port { " addr . port" } else { "" };
            match map {
                Some(m) => format!("{kind}{fam}{what} to {pick} map @{m}"),
                None => format!("{kind}{fam}{what} to {pick} map {{ {} }}", entries.join(", ")),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    proptest::proptest! {
        /// A plain comment's copy is what cleaning it char by char makes.
        #[test]
        fn plain_comments_are_cleaned_as_any_other(
            s in "[ -~\"\t\u{80}-\u{a0}é]{0,40}",
            max in 0usize..50,
        ) {
            let mut want = super::clean_chars(&s);
            super::cut(&mut want, max);
            proptest::prop_assert_eq!(super::clean(&s, max), want);
        }
    }
}
