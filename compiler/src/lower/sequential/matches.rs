//! The matches of one well-formed cube, in nft's terms: its family,
//! protocols, addresses, ports, ICMP fields, TCP flags, mark, interface
//! names and conntrack state, each said the shortest way (a value, a set,
//! or `!=` its complement).

use crate::nft::vocab::{ct_mask, nfproto};
use crate::nft::{CmpOp, Elem, Expr, Part, Rhs, Selector};
use crate::space::flags::{self, FlagsTest};
use crate::space::{
    Cube, Family, Intervals, NamePattern, Names, Protos, ICMP_MAX, MARK_MAX, PORT_MAX, PROTO_ICMP,
    PROTO_ICMPV6,
};

/// The matches that select exactly the packets of a well-formed cube.
pub fn cube_matches(c: &Cube) -> Vec<Expr> {
    let mut out = Vec::new();
    let fam = c.family.single();
    let addr = |fam: Option<Family>, v4: Selector, v6: Selector, set: &Option<Intervals>| {
        let (fam, set) = (fam?, set.as_ref()?);
        let sel = if fam == Family::V4 { v4 } else { v6 };
        interval_match(sel, set, fam.max_addr())
    };
    let saddr = addr(fam, Selector::Ip4Saddr, Selector::Ip6Saddr, &c.saddr);
    let daddr = addr(fam, Selector::Ip4Daddr, Selector::Ip6Daddr, &c.daddr);
    // `ip saddr ...` holds only for IPv4 packets; without one, say the family.
    let mut family = fam.filter(|_| saddr.is_none() && daddr.is_none()).map(|f| {
        let v = nfproto(f) as u128;
        Expr::Match { key: vec![Selector::Nfproto], op: CmpOp::Eq, rhs: value(v, v) }
    });
    // nft lists `meta nfproto ipv4 meta l4proto icmp` (ipv6, ipv6-icmp)
    // without the family, as implied, so a saved `nft list ruleset` would
    // load the rule without it; said after the protocol, it is listed.
    let icmp = [(Family::V4, PROTO_ICMP), (Family::V6, PROTO_ICMPV6)];
    let implied = icmp.iter().any(|&(f, p)| fam == Some(f) && c.proto == Protos::only(p));
    if !implied {
        out.extend(family.take());
    }
    if !c.proto.is_full() {
        let set = Intervals::from_ranges(c.proto.iter().map(|p| (p as u128, p as u128)));
        // `th dport` needs an `l4proto` match that admits only protocols
        // with ports: a full one is then written out.
        out.extend(interval_match(Selector::L4proto, &set, 255));
    }
    out.extend(family);
    out.extend(saddr);
    out.extend(daddr);
    if let Some(s) = &c.sport {
        out.extend(interval_match(Selector::ThSport, s, PORT_MAX));
    }
    if let Some(s) = &c.dport {
        out.extend(interval_match(Selector::ThDport, s, PORT_MAX));
    }
    let icmpv6 = c.proto == Protos::only(PROTO_ICMPV6);
    if let Some(s) = &c.icmp_type {
        let sel = if icmpv6 { Selector::Icmpv6Type } else { Selector::IcmpType };
        out.extend(interval_match(sel, s, ICMP_MAX));
    }
    if let Some(s) = &c.icmp_code {
        let sel = if icmpv6 { Selector::Icmpv6Code } else { Selector::IcmpCode };
        out.extend(interval_match(sel, s, ICMP_MAX));
    }
    if let Some(t) = c.tcp_flags.as_ref().and_then(flags::test_of) {
        out.push(flags_match(t));
    }
    if let Some(s) = &c.mark {
        out.extend(interval_match(Selector::Mark, s, MARK_MAX));
    }
    out.extend(names_match(Selector::Iifname, &c.iif));
    out.extend(names_match(Selector::Oifname, &c.oif));
    if !c.ct.is_full() {
        let (op, states) = if c.ct.complement().iter().count() < c.ct.iter().count() {
            (CmpOp::Ne, c.ct.complement())
        } else {
            (CmpOp::Eq, c.ct)
        };
        out.push(Expr::Match {
            key: vec![Selector::CtState],
            op,
            rhs: Rhs::Flags(ct_mask(states)),
        });
    }
    out
}

/// `tcp flags`: an exact byte is a plain compare, anything else a masked one.
fn flags_match(t: FlagsTest) -> Expr {
    let op = if t.negated { CmpOp::Ne } else { CmpOp::Eq };
    let rhs = if t.mask == u8::MAX {
        value(t.value.into(), t.value.into())
    } else {
        Rhs::Masked { mask: t.mask.into(), value: t.value.into() }
    };
    Expr::Match { key: vec![Selector::TcpFlags], op, rhs }
}

fn value(lo: u128, hi: u128) -> Rhs {
    Rhs::Value(Elem(vec![Part::Int(lo, hi)]))
}

/// `SEL VALUES`, or `SEL != COMPLEMENT` when that is shorter; nothing when
/// the set is everything (the caller decides whether the family still needs
/// saying).
pub(super) fn interval_match(sel: Selector, set: &Intervals, max: u128) -> Option<Expr> {
    let within = set.intersect(&Intervals::range(0, max));
    if within.is_full(max) && sel != Selector::L4proto {
        return None;
    }
    let complement = within.complement(max);
    let (op, ranges) =
        if !complement.is_empty() && complement.ranges().len() < within.ranges().len() {
            (CmpOp::Ne, complement)
        } else {
            (CmpOp::Eq, within)
        };
    let rhs = match ranges.ranges() {
        [(lo, hi)] => value(*lo, *hi),
        rs => Rhs::Set(rs.iter().map(|&(lo, hi)| Elem(vec![Part::Int(lo, hi)])).collect()),
    };
    Some(Expr::Match { key: vec![sel], op, rhs })
}

/// `iifname "eth*" iifname != "eth0"`: exact names go in one value or set,
/// each wildcard in a comparison of its own (the kernel compares only its
/// prefix; [`pieces`] gives a cube at most one wildcard to match).
fn names_match(sel: Selector, names: &Names) -> Vec<Expr> {
    let m = names.patterns();
    let mut out = Vec::new();
    let mut add = |op: CmpOp, patterns: &[NamePattern]| {
        let (exact, wild): (Vec<&NamePattern>, Vec<&NamePattern>) =
            patterns.iter().partition(|p| matches!(p, NamePattern::Exact(_)));
        let str_elem = |p: &NamePattern| Elem(vec![Part::Str(p.text())]);
        let mut elems: Vec<Elem> = exact.into_iter().map(str_elem).collect();
        if elems.len() == 1 {
            out.push(Expr::Match { key: vec![sel], op, rhs: Rhs::Value(elems.remove(0)) });
        } else if !elems.is_empty() {
            out.push(Expr::Match { key: vec![sel], op, rhs: Rhs::Set(elems) });
        }
        for w in wild {
            out.push(Expr::Match { key: vec![sel], op, rhs: Rhs::Value(str_elem(w)) });
        }
    };
    if let Some(only) = &m.only {
        add(CmpOp::Eq, only);
    }
    add(CmpOp::Ne, &m.not);
    out
}

/// A name set as pieces nft can match in one rule each: one per wildcard
/// it may match, one for its exact names.
pub(super) fn split_names(names: &Names) -> Vec<Names> {
    let m = names.patterns();
    let Some(only) = m.only.filter(|o| o.len() > 1) else { return vec![names.clone()] };
    let (exact, wild): (Vec<NamePattern>, Vec<NamePattern>) =
        only.into_iter().partition(|p| matches!(p, NamePattern::Exact(_)));
    if wild.is_empty() {
        return vec![names.clone()];
    }
    let mut out: Vec<Names> =
        wild.iter().map(|w| names.intersect(&Names::of([w], false))).collect();
    if !exact.is_empty() {
        out.push(names.intersect(&Names::of(&exact, false)));
    }
    out
}
