//! One nft rule into policy rules.
//!
//! nft runs a rule's expressions in order and stops at the first that does
//! not hold; a `.shr` rule has all its matches first. A match after a
//! `counter` or `log` therefore splits the rule: the statements before it run
//! for every packet that reached them, which a rule of their own says. A
//! match after a `limit` cannot be said (the limit spends a token on packets
//! the match then refuses), and leaves the rule out.
//!
//! A verdict map becomes one rule per element: nft's map elements never
//! overlap, so at most one of them holds for a packet, in any order.

mod stmt;

use std::collections::HashMap;
use std::net::IpAddr;

use shriek_grammar::ast::{PortDir, PortProto};

use crate::nft::vocab::{icmp_codes, icmp_proto, icmp_types, value_of};
use crate::space::{CtState, Family, PROTO_ICMP, PROTO_ICMPV6, PROTO_SCTP, PROTO_TCP, PROTO_UDP};

use super::super::model::{self, Addr, Body, Dir, Item, LeftOut, Match, Rule, Stmt};
use super::super::protocol_number;
use super::{flag_value, flags_test, NItem, NRule, NSet, NVerdict, Right, Sel, Val};
use crate::space::flags::FlagsTest;

pub(crate) struct Cx<'a> {
    /// The table's family: `None` for `inet`.
    pub family: Option<Family>,
    pub sets: &'a HashMap<&'a str, &'a NSet>,
    /// nft chain names to the policy's.
    pub names: &'a HashMap<String, String>,
    /// How many rules of the table update or add to each set or meter.
    pub meter_uses: &'a HashMap<&'a str, usize>,
}

/// A `th` port match, which needs the rule's protocol: direction,
/// negated, ports.
type ThPorts = (PortDir, bool, Vec<(u16, u16)>);

/// A rule being read, expression by expression.
#[derive(Default)]
struct State {
    matches: Vec<Match>,
    stmts: Vec<Stmt>,
    /// Rules for the statements that came before a later match.
    side: Vec<Body>,
    /// The protocols a `meta l4proto` (or `ip protocol`) match allows, and
    /// the index of that match.
    l4: Option<(Vec<u8>, usize)>,
    th: Vec<ThPorts>,
    problems: Vec<String>,
    /// What the translation did that a reader should know.
    notes: Vec<String>,
}

impl State {
    /// The one family the matches so far hold for, when they say so.
    fn family(&self) -> Option<Family> {
        Body { matches: self.matches.clone(), stmts: Vec::new() }.family()
    }

    /// Holds the rule to packets of family `f`.
    fn pin(&mut self, f: Family) {
        self.matches.insert(0, Match::Family(f));
        if let Some((_, at)) = &mut self.l4 {
            *at += 1;
        }
    }
}

impl Cx<'_> {
    pub fn translate(&self, r: &NRule) -> Vec<Item> {
        let left_out = |problems: Vec<String>| {
            let mut reasons: Vec<String> = Vec::new();
            for p in problems {
                if !reasons.contains(&p) {
                    reasons.push(p);
                }
            }
            vec![Item::LeftOut(LeftOut { reasons, origin: r.origin.clone() })]
        };
        let bodies = match r.items.iter().position(|i| matches!(i, NItem::Vmap { .. })) {
            Some(pos) => self.vmap(&r.items, pos),
            None => self.rule(&r.items),
        };
        let (bodies, notes) = match bodies {
            Ok(x) => x,
            Err(problems) => return left_out(problems),
        };
        bodies
            .into_iter()
            .enumerate()
            .map(|(i, body)| {
                let mut rule = Rule::new(body, r.origin.clone());
                rule.comment = r.comment.clone();
                if i == 0 && !notes.is_empty() {
                    rule.notes.push(format!("{}: {}", notes.join("; "), r.origin.text));
                }
                Item::Rule(rule)
            })
            .collect()
    }

    /// The rules a rule becomes, and what a reader should know about them.
    fn rule(&self, items: &[NItem]) -> Result<(Vec<Body>, Vec<String>), Vec<String>> {
        let mut st = State::default();
        for item in items {
            match item {
                NItem::Match { .. } | NItem::TcpFlags { .. } | NItem::MaskedMark { .. } => {
                    if !st.stmts.is_empty() {
                        if st.stmts.iter().all(|s| matches!(s, Stmt::Counter(_) | Stmt::Log { .. }))
                        {
                            let stmts = std::mem::take(&mut st.stmts);
                            st.side.push(Body { matches: st.matches.clone(), stmts });
                        } else {
                            st.problems.push(
                                "a match after a statement other than `counter` or `log`".into(),
                            );
                        }
                    }
                    match item {
                        NItem::Match { left, op, right } => self.matcher(&mut st, left, op, right),
                        NItem::TcpFlags { test, .. } => tcp_flags(&mut st, test),
                        NItem::MaskedMark { mask, op, right } => {
                            self.masked_mark(&mut st, mask, op, right)
                        }
                        _ => unreachable!("a match, as the arm says"),
                    }
                }
                other => self.statement(&mut st, other),
            }
        }
        self.icmp_protocols(&mut st);
        // Every rule of a policy counts on its own (`shriekc stats`), as
        // nft's `counter` right after a rule's matches does: that one is
        // the rule's own count, and `shriekc compile` writes it back. Only
        // a counter that is the rule's one statement stays, so that the
        // rule still says something.
        if st.stmts.len() > 1 && st.stmts[0] == Stmt::Counter(None) {
            st.stmts.remove(0);
        }
        let alternatives = self.ports(&mut st);
        if alternatives.len() > 1
            && st.stmts.iter().any(|s| matches!(s, Stmt::Limit { .. } | Stmt::Meter(_)))
        {
            st.problems.push("`th` ports of several protocols need one rule each, which cannot share one `limit`".into());
        }
        if !st.problems.is_empty() {
            return Err(st.problems);
        }
        let mut notes = std::mem::take(&mut st.notes);
        if !st.side.is_empty() {
            notes.push("statements before a match get a rule of their own".into());
        }
        if alternatives.len() > 1 {
            notes.push("`th` ports as one rule per protocol".into());
        }
        let mut out = st.side;
        out.extend(alternatives.into_iter().map(|mut matches| {
            implied(&mut matches);
            Body { matches, stmts: st.stmts.clone() }
        }));
        Ok((out, notes))
    }

    /// nft's `meta l4proto icmp` reads the protocol byte of any family;
    /// the language's `proto icmp` holds for IPv4 packets only (and
    /// `icmpv6` for IPv6 ones), as nft's `icmp type` does. Where the rule's
    /// family is the protocol's, the two agree. In an `inet` rule of no
    /// family the listing cannot tell `meta nfproto ipv4 meta l4proto
    /// icmp` (what `shriekc` writes for `proto icmp`) from a bare `meta
    /// l4proto icmp`: both list as the latter. The two differ only on IPv6
    /// packets with a next header of 1 (IPv4 packets of protocol 58), which
    /// no stack sends; the import reads the first, and the rule says so. A
    /// rule of the other family cannot be said.
    fn icmp_protocols(&self, st: &mut State) {
        let icmp: Vec<u8> = st
            .matches
            .iter()
            .filter_map(|m| match m {
                Match::Proto { protos, .. } => Some(protos),
                _ => None,
            })
            .flatten()
            .copied()
            .filter(|p| matches!(*p, PROTO_ICMP | PROTO_ICMPV6))
            .collect();
        if icmp.is_empty() {
            return;
        }
        let others: Vec<Match> =
            st.matches.iter().filter(|m| !matches!(m, Match::Proto { .. })).cloned().collect();
        let family = self.family.or_else(|| Body { matches: others, stmts: Vec::new() }.family());
        match family {
            Some(f) if icmp.iter().any(|p| *p != icmp_proto(f)) => st.problems.push(
                "`meta l4proto` of the other family's ICMP, which shriek cannot match".into(),
            ),
            Some(_) => {}
            None => st.notes.push(
                "read as `proto icmp` (`icmpv6`), IPv4 (IPv6) packets only: nft's listing hides the `meta nfproto` before it, and without one nft also matches the other family's packets of that number, which no stack sends".into(),
            ),
        }
    }

    /// Resolves `th` ports against the rule's protocols: one list of matches
    /// per protocol.
    fn ports(&self, st: &mut State) -> Vec<Vec<Match>> {
        if st.th.is_empty() {
            return vec![st.matches.clone()];
        }
        let protos: Vec<PortProto> = match &st.l4 {
            Some((ps, _)) => ps.iter().filter_map(|p| port_proto(*p)).collect(),
            None => Vec::new(),
        };
        if protos.is_empty() || protos.len() != st.l4.as_ref().map_or(0, |l| l.0.len()) {
            st.problems.push("`th` ports without a match on TCP, UDP or SCTP".into());
            return Vec::new();
        }
        let at = st.l4.as_ref().expect("checked above").1;
        protos
            .into_iter()
            .map(|proto| {
                let mut ms = st.matches.clone();
                // The port match says the protocol.
                ms.remove(at);
                for (dir, neg, ranges) in &st.th {
                    ms.push(Match::Port { proto, dir: *dir, neg: *neg, ranges: ranges.clone() });
                }
                ms
            })
            .collect()
    }

    /// A verdict map: one rule per element, each with the rule's matches
    /// and the element's key.
    fn vmap(&self, items: &[NItem], pos: usize) -> Result<(Vec<Body>, Vec<String>), Vec<String>> {
        let NItem::Vmap { key, map } = &items[pos] else { unreachable!("pos is a vmap") };
        let prefix = &items[..pos];
        let is_match = |i: &NItem| {
            matches!(i, NItem::Match { .. } | NItem::MaskedMark { .. } | NItem::TcpFlags { .. })
        };
        if pos + 1 != items.len() || !prefix.iter().all(is_match) {
            return Err(vec!["a verdict map with statements before or after it".into()]);
        }
        let elements: Vec<(Val, NVerdict)> = match map {
            Right::Map(m) => m.clone(),
            Right::Named(name) => {
                let Some(set) = self.sets.get(name.as_str()) else {
                    return Err(vec![format!("no map `@{name}` in the table")]);
                };
                let mut out = Vec::new();
                for (k, v) in &set.elements {
                    match v.as_ref().and_then(word).map(NVerdict::parse) {
                        Some(v) if set.data.as_deref() == Some("verdict") => {
                            out.push((k.clone(), v))
                        }
                        _ => {
                            return Err(vec![format!("the map `@{name}` does not map to verdicts")])
                        }
                    }
                }
                out
            }
            _ => return Err(vec!["a verdict map that is not a map".into()]),
        };
        let mut bodies = Vec::new();
        for (k, v) in elements {
            if v == NVerdict::Continue {
                continue;
            }
            let parts = match (&k, key.len()) {
                (_, 1) => vec![k.clone()],
                (Val::Concat(parts), n) if parts.len() == n => parts.clone(),
                _ => return Err(vec!["a verdict map element that does not fit its key".into()]),
            };
            let mut rule: Vec<NItem> = prefix.to_vec();
            for (sel, part) in key.iter().zip(parts) {
                // A masked address's element is its network's address:
                // the match is the network.
                let (sel, part) = match (sel, &part) {
                    (Sel::Net { sel, len, .. }, Val::Word(a)) if network(a, *len) => {
                        ((**sel).clone(), Val::Prefix(a.clone(), *len))
                    }
                    (Sel::Net { .. }, _) => {
                        return Err(vec!["a verdict map element that does not fit its key".into()])
                    }
                    _ => (sel.clone(), part),
                };
                rule.push(NItem::Match {
                    left: vec![sel],
                    op: "==".into(),
                    right: Right::Val(part),
                });
            }
            rule.push(NItem::Verdict(v));
            bodies.extend(self.rule(&rule)?.0);
        }
        Ok((bodies, vec!["a verdict map as one rule per element".into()]))
    }

    fn matcher(&self, st: &mut State, left: &[Sel], op: &str, right: &Right) {
        let [sel] = left else {
            return st
                .problems
                .push("concatenated matches (`a . b`) are not in the language".into());
        };
        if matches!(sel, Sel::Ct(k) if k == "mark") {
            return st.problems.push(CT_MARK.into());
        }
        let vals = match self.values(right) {
            Ok(v) => v,
            Err(e) => return st.problems.push(e),
        };
        if matches!(sel, Sel::Meta(k) if k == "mark") {
            return mark(st, op, &vals);
        }
        if matches!(sel, Sel::Ct(k) if k == "state") {
            return self.ct_state(st, op, &vals);
        }
        // A verdict map's key (`tcp flags vmap { syn : accept }`): the
        // whole byte, one value.
        if matches!(sel, Sel::Payload(p, f) if p == "tcp" && f == "flags") {
            let bits = match vals.as_slice() {
                [Val::Word(w)] => {
                    w.split('|').map(|p| flag_value(p.trim())).try_fold(0u8, |a, b| Some(a | b?))
                }
                [Val::Or(items)] => items
                    .iter()
                    .map(|v| word(v).and_then(flag_value))
                    .try_fold(0u8, |a, b| Some(a | b?)),
                _ => None,
            };
            let test = bits
                .ok_or_else(|| "cannot read the `tcp flags` values".to_string())
                .and_then(|v| flags_test(None, op, v));
            return tcp_flags(st, &test);
        }
        let neg = match op {
            "==" | "in" | "" => false,
            "!=" => true,
            _ => {
                if let (Sel::Payload(p, d), Some(range)) = (sel, compare(op, &vals)) {
                    if let Some((proto, dir)) = port_field(p, d) {
                        return st.matches.push(Match::Port {
                            proto,
                            dir,
                            neg: false,
                            ranges: vec![range],
                        });
                    }
                }
                return st.problems.push(format!("the comparison `{op}` is not in the language"));
            }
        };
        let problem = |st: &mut State, e: String| st.problems.push(e);
        let key: (&str, &str) = match sel {
            Sel::Net { .. } => {
                return problem(st, "`a bitwise match` has no equivalent in shriek yet".into())
            }
            Sel::Payload(p, f) => (p, f),
            Sel::Meta(k) => ("meta", k),
            Sel::Ct(k) => ("ct", k),
            Sel::Other(o) => ("", o),
            Sel::CtDir(..) => ("", ""),
        };
        match key {
            (fam @ ("ip" | "ip6"), dir @ ("saddr" | "daddr")) => {
                let want = if fam == "ip" { Family::V4 } else { Family::V6 };
                match vals.iter().map(addr).collect::<Option<Vec<Addr>>>() {
                    Some(values) if values.iter().all(|a| a.family() == want) => {
                        let dir = if dir == "saddr" { Dir::Src } else { Dir::Dst };
                        st.matches.push(Match::Addr { dir, neg, values });
                    }
                    _ => problem(st, format!("cannot read the addresses of `{fam} {dir}`")),
                }
            }
            ("meta", "l4proto") => self.protocols(st, neg, &vals, false),
            ("ip", "protocol") => self.protocols(st, neg, &vals, true),
            ("ip6", "nexthdr") => problem(
                st,
                "`ip6 nexthdr` reads only the first header, which `proto` (`meta l4proto`) does not".into(),
            ),
            (fam @ ("icmp" | "icmpv6"), part @ ("type" | "code")) => {
                let family = if fam == "icmp" { Family::V4 } else { Family::V6 };
                let code = part == "code";
                match icmp_values(&vals, family, code) {
                    Some(ranges) => st.matches.push(Match::Icmp { family, code, neg, ranges }),
                    None => problem(st, format!("cannot read the values of `{fam} {part}`")),
                }
            }
            ("meta", "nfproto") => {
                let fams: Option<Vec<Family>> = vals
                    .iter()
                    .map(|v| match word(v) {
                        Some("ipv4") => Some(Family::V4),
                        Some("ipv6") => Some(Family::V6),
                        _ => None,
                    })
                    .collect();
                match fams.as_deref() {
                    Some([f]) => st.matches.push(if neg { Match::Family(other(*f)) } else { Match::Family(*f) }),
                    Some([_, _]) if !neg => {}
                    _ => problem(st, "cannot read the families of `meta nfproto`".into()),
                }
            }
            (p, d) if port_field(p, d).is_some() => {
                let (proto, dir) = port_field(p, d).expect("checked by the guard");
                match ports(&vals) {
                    Some(ranges) => st.matches.push(Match::Port { proto, dir, neg, ranges }),
                    None => problem(st, format!("cannot read the ports of `{p} {d}`")),
                }
            }
            ("th", d @ ("sport" | "dport")) => match ports(&vals) {
                Some(ranges) => {
                    let dir = if d == "sport" { PortDir::Sport } else { PortDir::Dport };
                    st.th.push((dir, neg, ranges));
                }
                None => problem(st, "cannot read the ports of `th`".into()),
            },
            ("meta", k @ ("iifname" | "oifname" | "iif" | "oif")) => {
                let dir = if k.starts_with('i') { Dir::Src } else { Dir::Dst };
                let mut names = Vec::new();
                for v in &vals {
                    match word(v) {
                        // nft's `\*` is a plain star, which the language
                        // reads as a wildcard.
                        Some(n) if n.contains('\\') => {
                            return problem(st, "an interface name with an escaped character (`\\*`)".into())
                        }
                        Some(n) => names.push(n.to_string()),
                        None => return problem(st, "cannot read the interface names".into()),
                    }
                }
                st.matches.push(Match::Iface { dir, neg, names });
            }
            _ => problem(st, format!("`{sel}` has no equivalent in shriek yet")),
        }
    }

    /// `ct state`, a bit mask in nft where every packet has one bit set:
    /// `a,b` (or `in`) holds when any of the bits is set, `! a,b` when none
    /// is, and `a | b` compares with the bits together, so it holds for no
    /// packet, and `!= a | b` for every packet.
    fn ct_state(&self, st: &mut State, op: &str, vals: &[Val]) {
        let together = matches!(vals, [Val::Or(items)] if items.len() > 1);
        let mut states = Vec::new();
        for v in flatten(vals) {
            match word(&v).and_then(ct_state) {
                Some(s) => states.push(s),
                None => {
                    return st.problems.push("a conntrack state the language does not know".into())
                }
            }
        }
        // nft reads `!= a,b` as the bits together too.
        let combined =
            together || (op == "!=" && matches!(vals, [Val::List(items)] if items.len() > 1));
        match op {
            "==" | "in" | "" if together => st.problems.push("`ct state a | b` holds for no packet".into()),
            "==" | "in" | "" => st.matches.push(Match::Ct { neg: false, states }),
            "!=" if combined => st.notes.push(
                "`ct state != a | b` compares with the states together, which no packet has: it holds for every packet".into(),
            ),
            "!=" | "!" => st.matches.push(Match::Ct { neg: true, states }),
            _ => st.problems.push(format!("the comparison `{op}` is not in the language")),
        }
    }

    fn protocols(&self, st: &mut State, neg: bool, vals: &[Val], v4_only: bool) {
        let Some(protos) =
            vals.iter().map(|v| word(v).and_then(protocol_number)).collect::<Option<Vec<u8>>>()
        else {
            return st.problems.push("cannot read the protocols".into());
        };
        if v4_only && self.family.is_none() {
            st.matches.push(Match::Family(Family::V4));
        }
        if !neg {
            st.l4 = Some((protos.clone(), st.matches.len()));
        }
        st.matches.push(Match::Proto { neg, protos });
    }

    /// The values a match compares with, a named set's inlined.
    fn values(&self, right: &Right) -> Result<Vec<Val>, String> {
        match right {
            Right::Val(v) => Ok(vec![v.clone()]),
            Right::Set(vs) => Ok(vs.clone()),
            Right::Named(name) => {
                let Some(set) = self.sets.get(name.as_str()) else {
                    return Err(format!("no set `@{name}` in the table"));
                };
                if set.flags.iter().any(|f| f == "dynamic" || f == "timeout") {
                    return Err(
                        "a set that changes at run time (`flags dynamic` or `timeout`)".into()
                    );
                }
                if set.key.len() != 1 || set.data.is_some() {
                    return Err("a concatenated set or a map where a set belongs".into());
                }
                Ok(set.elements.iter().map(|(k, _)| k.clone()).collect())
            }
            Right::Map(_) => Err("a map where a value belongs".into()),
        }
    }
}

/// A `tcp flags` compare as the language's test; a compare that every TCP
/// packet passes is `proto tcp`, which the match implies.
fn tcp_flags(st: &mut State, test: &Result<FlagsTest, String>) {
    let t = test.clone().and_then(|t| model::tcp_flags(t.mask, t.value, t.negated));
    match t {
        Ok(Some(t)) => st.matches.push(Match::TcpFlags(t)),
        Ok(None) => st.matches.push(Match::Proto { neg: false, protos: vec![PROTO_TCP] }),
        Err(e) => st.problems.push(e),
    }
}

/// Folds two neighbouring rules that differ only in `family ipv4` and
/// `family ipv6` and keep state per address (`limit ... per saddr`, `ct
/// count`) into one rule without the family: what `shriekc` writes for
/// such a rule in an `inet` table, one nft rule per family, each with its
/// own set. The fold is exact because a set holds addresses of one family,
/// so the two rules never shared state. Rules with a plain `limit` are not
/// folded: that one bucket would become shared.
pub(super) fn fold_family_twins(items: Vec<Item>) -> Vec<Item> {
    let mut out: Vec<Item> = Vec::with_capacity(items.len());
    for item in items {
        if let (Some(Item::Rule(a)), Item::Rule(b)) = (out.last_mut(), &item) {
            if let Some(matches) = twins(&a.body, &b.body) {
                a.body.matches = matches;
                a.origins.extend(b.origins.iter().cloned());
                if a.comment != b.comment {
                    let both: Vec<String> =
                        a.comment.iter().chain(b.comment.iter()).cloned().collect();
                    a.comment = (!both.is_empty()).then(|| both.join("; "));
                }
                continue;
            }
        }
        out.push(item);
    }
    out
}

/// The matches of `a` without its family, when `a` is `b` for the other
/// family and both keep per-address state and no shared bucket.
fn twins(a: &Body, b: &Body) -> Option<Vec<Match>> {
    let metered = a.stmts.iter().any(|s| matches!(s, Stmt::Meter(_)))
        && !a.stmts.iter().any(|s| matches!(s, Stmt::Limit { .. }));
    if !metered || a.stmts != b.stmts {
        return None;
    }
    let without = |body: &Body, f: Family| {
        let at = body.matches.iter().position(|m| *m == Match::Family(f))?;
        let mut rest = body.matches.clone();
        rest.remove(at);
        Some(rest)
    };
    let rest = without(a, Family::V4)?;
    (without(b, Family::V6)? == rest).then_some(rest)
}

fn other(f: Family) -> Family {
    match f {
        Family::V4 => Family::V6,
        Family::V6 => Family::V4,
    }
}

/// Why a `ct mark` match or statement is left out.
const CT_MARK: &str = "`ct mark` (the connection's mark) is not in the language yet";

/// `meta mark V`, `!= V`, a range or a set of them.
fn mark(st: &mut State, op: &str, vals: &[Val]) {
    let neg = match op {
        "==" | "in" | "" => false,
        "!=" => true,
        _ => return st.problems.push(format!("the comparison `{op}` is not in the language")),
    };
    let ranges = flatten(vals)
        .iter()
        .map(|v| match v {
            Val::Range(a, b) => Some((model::mark_number(a)?, model::mark_number(b)?)),
            Val::Word(w) => match (w.split_once('-'), w.split_once('/')) {
                (Some((a, b)), _) => Some((model::mark_number(a)?, model::mark_number(b)?)),
                (_, Some((a, len))) => mark_prefix(model::mark_number(a)?, len.parse().ok()?),
                _ => model::mark_number(w).map(|m| (m, m)),
            },
            Val::Prefix(a, len) => mark_prefix(model::mark_number(a)?, *len),
            _ => None,
        })
        .collect::<Option<Vec<(u32, u32)>>>();
    match ranges {
        Some(ranges) if !ranges.is_empty() => st.matches.push(Match::Mark { neg, ranges }),
        _ => st.problems.push("cannot read the marks of `meta mark`".into()),
    }
}

/// `0x00000020/28`, as nft lists a range of marks that is one prefix: the
/// marks whose first `len` bits are those of `m`.
fn mark_prefix(m: u32, len: u8) -> Option<(u32, u32)> {
    let host = u32::MAX.checked_shr(u32::from(len)).unwrap_or(0);
    (len <= 32 && m & host == 0).then_some((m, m | host))
}

impl Cx<'_> {
    /// `meta mark & MASK == VALUE` (or `!=`): the marks it admits, where
    /// they are few ranges.
    fn masked_mark(&self, st: &mut State, mask: &Val, op: &str, right: &Right) {
        let number = |v: &Val| word(v).and_then(model::mark_number);
        let value = match right {
            Right::Val(v) => number(v),
            _ => None,
        };
        let (Some(mask), Some(value)) = (number(mask), value) else {
            return st.problems.push("cannot read the mask or the mark of `meta mark &`".into());
        };
        match model::mark_ranges(mask, value, op == "!=") {
            Ok(Some(m)) => st.matches.push(m),
            Ok(None) => {}
            Err(e) => st.problems.push(e),
        }
    }
}

fn word(v: &Val) -> Option<&str> {
    match v {
        Val::Word(w) => Some(w),
        _ => None,
    }
}

/// Values with `a,b` lists opened up.
fn flatten(vals: &[Val]) -> Vec<Val> {
    vals.iter()
        .flat_map(|v| match v {
            Val::List(items) | Val::Or(items) => items.clone(),
            Val::Word(w) if w.contains(',') => {
                w.split(',').map(|s| Val::Word(s.to_string())).collect()
            }
            other => vec![other.clone()],
        })
        .collect()
}

fn port_proto(p: u8) -> Option<PortProto> {
    match p {
        PROTO_TCP => Some(PortProto::Tcp),
        PROTO_UDP => Some(PortProto::Udp),
        PROTO_SCTP => Some(PortProto::Sctp),
        _ => None,
    }
}

fn port_field(proto: &str, dir: &str) -> Option<(PortProto, PortDir)> {
    let proto = match proto {
        "tcp" => PortProto::Tcp,
        "udp" => PortProto::Udp,
        "sctp" => PortProto::Sctp,
        _ => return None,
    };
    let dir = match dir {
        "sport" => PortDir::Sport,
        "dport" => PortDir::Dport,
        _ => return None,
    };
    Some((proto, dir))
}

fn ct_state(w: &str) -> Option<CtState> {
    CtState::ALL.into_iter().find(|s| s.keyword() == w)
}

fn addr(v: &Val) -> Option<Addr> {
    let one = |s: &str| s.parse::<IpAddr>().ok();
    match v {
        Val::Prefix(a, len) => Some(Addr::Net(one(a)?, *len)),
        Val::Range(a, b) => Some(Addr::Range(one(a)?, one(b)?)),
        Val::Word(w) => {
            if let Some((a, len)) = w.split_once('/') {
                return Some(Addr::Net(one(a)?, len.parse().ok()?));
            }
            if let Some((a, b)) = w.split_once('-') {
                return Some(Addr::Range(one(a)?, one(b)?));
            }
            let a = one(w)?;
            Some(Addr::Net(a, if a.is_ipv4() { 32 } else { 128 }))
        }
        _ => None,
    }
}

fn ports(vals: &[Val]) -> Option<Vec<(u16, u16)>> {
    vals.iter()
        .map(|v| match v {
            Val::Range(a, b) => Some((a.parse().ok()?, b.parse().ok()?)),
            Val::Word(w) => match w.split_once('-') {
                Some((a, b)) => Some((a.parse().ok()?, b.parse().ok()?)),
                None => w.parse().ok().map(|p| (p, p)),
            },
            _ => None,
        })
        .collect()
}

/// Leaves out what another match of the rule implies: an ICMP match says
/// its protocol and family, `proto icmp` (`icmpv6`) its family.
fn implied(matches: &mut Vec<Match>) {
    let icmp: Vec<Family> = matches
        .iter()
        .filter_map(|m| match m {
            Match::Icmp { family, .. } => Some(*family),
            _ => None,
        })
        .collect();
    matches.retain(|m| match m {
        Match::Proto { neg: false, protos } => {
            !icmp.iter().any(|f| protos.as_slice() == [icmp_proto(*f)])
        }
        _ => true,
    });
    let said = matches.iter().find_map(|m| match m {
        Match::Icmp { family, .. } => Some(*family),
        Match::Proto { neg: false, protos } => match protos.as_slice() {
            [PROTO_ICMP] => Some(Family::V4),
            [PROTO_ICMPV6] => Some(Family::V6),
            _ => None,
        },
        _ => None,
    });
    if let Some(f) = said {
        matches.retain(|m| *m != Match::Family(f));
    }
}

/// ICMP types (or codes) as nft writes them: names, numbers, ranges.
fn icmp_values(vals: &[Val], family: Family, code: bool) -> Option<Vec<(u8, u8)>> {
    let names = if code { icmp_codes(family) } else { icmp_types(family) };
    let one = |w: &str| w.parse::<u8>().ok().or_else(|| value_of(names, w));
    vals.iter()
        .map(|v| {
            let (lo, hi) = match v {
                Val::Range(a, b) => (one(a)?, one(b)?),
                Val::Word(w) => match one(w) {
                    Some(n) => (n, n),
                    None => {
                        let (a, b) = w.split_once('-')?;
                        (one(a)?, one(b)?)
                    }
                },
                _ => return None,
            };
            (lo <= hi).then_some((lo, hi))
        })
        .collect()
}

/// `tcp dport < 1024` and the like, as a range.
fn compare(op: &str, vals: &[Val]) -> Option<(u16, u16)> {
    let [Val::Word(w)] = vals else { return None };
    let n: u16 = w.parse().ok()?;
    match op {
        "<" => Some((0, n.checked_sub(1)?)),
        "<=" => Some((0, n)),
        ">" => Some((n.checked_add(1)?, u16::MAX)),
        ">=" => Some((n, u16::MAX)),
        _ => None,
    }
}

/// Whether `addr` is the address of a network of `len` bits (no host bit
/// set), as a masked key's element must be to stand for the network.
fn network(addr: &str, len: u8) -> bool {
    match addr.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(a)) => len < 32 && u32::from(a) & (u32::MAX >> len) == 0,
        Ok(std::net::IpAddr::V6(a)) => len < 128 && u128::from(a) & (u128::MAX >> len) == 0,
        Err(_) => false,
    }
}
