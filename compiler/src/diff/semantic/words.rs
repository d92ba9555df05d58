//! Classes of packets in the language's own words: `tcp dport 22 saddr
//! 10.0.0.0/8`, exactly, with every value written out, so that a reviewer
//! can paste a class into a rule or a `trace` and get those packets.
//!
//! A class is a union of cubes; neighbouring cubes that differ in one field
//! are merged first, so that a class reads as few lines as it can.

use std::collections::BTreeMap;

use crate::nft::vocab::{icmp_keyword, icmp_range_text};
use crate::space::{
    words, CtStates, Cube, Families, Family, Intervals, NamePattern, Names, Protos, ICMP_MAX,
    MARK_MAX, PORT_MAX,
};

/// The cube with fields that say nothing dropped: an address range that is
/// the family's whole space, a port range of every port.
pub(crate) fn normalize(mut c: Cube) -> Cube {
    if let Some(f) = c.family.single() {
        for field in [&mut c.saddr, &mut c.daddr] {
            if field.as_ref().is_some_and(|s| s.is_full(f.max_addr())) {
                *field = None;
            }
        }
    }
    if c.sport.is_some() || c.dport.is_some() {
        c.proto = c.proto.intersect(Protos::with_ports());
    }
    for field in [&mut c.icmp_type, &mut c.icmp_code, &mut c.tcp_flags] {
        // One byte each, as ICMP_MAX says.
        if field.as_ref().is_some_and(|s| s.is_full(ICMP_MAX)) {
            *field = None;
        }
    }
    if c.mark.as_ref().is_some_and(|s| s.is_full(MARK_MAX)) {
        c.mark = None;
    }
    if c.proto.subtract(Protos::with_ports()).is_empty() {
        for field in [&mut c.sport, &mut c.dport] {
            if field.as_ref().is_some_and(|s| s.is_full(PORT_MAX)) {
                *field = None;
            }
        }
    }
    c
}

/// Fewer, larger cubes covering exactly the same packets: cubes equal in all
/// fields but one are merged into one, until no two are.
pub(crate) fn merge(cubes: Vec<Cube>) -> Vec<Cube> {
    let mut cubes: Vec<Cube> = cubes.into_iter().map(normalize).filter(|c| !c.is_empty()).collect();
    loop {
        let before = cubes.len();
        for field in 0..FIELDS {
            cubes = merge_on(cubes, field);
        }
        if cubes.len() == before {
            break;
        }
    }
    cubes.sort();
    cubes
}

const FIELDS: usize = 12;

/// Merge the cubes that agree on every field but `field`.
fn merge_on(cubes: Vec<Cube>, field: usize) -> Vec<Cube> {
    let mut groups: BTreeMap<Cube, Cube> = BTreeMap::new();
    let mut order: Vec<Cube> = Vec::new();
    for c in cubes {
        let Some(key) = without(&c, field) else {
            order.push(c);
            continue;
        };
        match groups.get_mut(&key) {
            Some(acc) => *acc = join(acc, &c, field),
            None => {
                groups.insert(key.clone(), c);
                order.push(key);
            }
        }
    }
    order.into_iter().map(|k| groups.remove(&k).unwrap_or(k)).collect()
}

/// The cube with `field` blanked, as a grouping key; `None` when merging on
/// that field could break a cube's invariants (an address read in one
/// family's width, ports that need protocols with ports).
fn without(c: &Cube, field: usize) -> Option<Cube> {
    let mut k = c.clone();
    // ICMP types are read in the numbers of one protocol and family.
    let icmp = c.icmp_type.is_some() || c.icmp_code.is_some();
    match field {
        0 | 1 if icmp => return None,
        0 if c.saddr.is_some() || c.daddr.is_some() => return None,
        0 => k.family = Families::NONE,
        // Cubes with ports group only with cubes with the same ports, whose
        // protocols all have ports too.
        1 => k.proto = Protos::NONE,
        2 => k.saddr = Some(Intervals::empty()),
        3 => k.daddr = Some(Intervals::empty()),
        4 => k.sport = Some(Intervals::empty()),
        5 => k.dport = Some(Intervals::empty()),
        6 => k.iif = Names::none(),
        7 => k.oif = Names::none(),
        8 => k.ct = CtStates::NONE,
        9 => k.icmp_type = Some(Intervals::empty()),
        10 => k.icmp_code = Some(Intervals::empty()),
        _ => k.mark = Some(Intervals::empty()),
    }
    Some(k)
}

fn join(a: &Cube, b: &Cube, field: usize) -> Cube {
    let ivs = |x: &Option<Intervals>, y: &Option<Intervals>| match (x, y) {
        (Some(x), Some(y)) => Some(x.union(y)),
        _ => None,
    };
    let mut out = a.clone();
    match field {
        0 => out.family = a.family.union(b.family),
        1 => out.proto = a.proto.union(b.proto),
        2 => out.saddr = ivs(&a.saddr, &b.saddr),
        3 => out.daddr = ivs(&a.daddr, &b.daddr),
        4 => out.sport = ivs(&a.sport, &b.sport),
        5 => out.dport = ivs(&a.dport, &b.dport),
        6 => out.iif = a.iif.union(&b.iif),
        7 => out.oif = a.oif.union(&b.oif),
        8 => out.ct = a.ct.union(b.ct),
        9 => out.icmp_type = ivs(&a.icmp_type, &b.icmp_type),
        10 => out.icmp_code = ivs(&a.icmp_code, &b.icmp_code),
        _ => out.mark = ivs(&a.mark, &b.mark),
    }
    normalize(out)
}

/// The packets of a cube as matches, one line per protocol where ports are
/// matched for several (`tcp dport 53`, `udp dport 53`). `every packet`
/// for the whole space.
pub fn cube_lines(c: &Cube) -> Vec<String> {
    let c = normalize(c.clone());
    if (c.sport.is_some() || c.dport.is_some()) && c.proto.len() > 1 {
        return c
            .proto
            .iter()
            .flat_map(|p| cube_lines(&Cube { proto: Protos::only(p), ..c.clone() }))
            .collect();
    }
    // Flags that are several tests are several lines.
    if let Some(set) = &c.tcp_flags {
        let tests = crate::space::flags::split(set);
        if tests.len() > 1 {
            return tests
                .into_iter()
                .flat_map(|t| cube_lines(&Cube { tcp_flags: Some(t.bytes()), ..c.clone() }))
                .collect();
        }
    }
    let mut parts: Vec<String> = Vec::new();
    let family = c.family.single();
    // `icmp type` says the family and the protocol itself.
    let icmp = c.icmp_type.is_some() || c.icmp_code.is_some();
    if let (Some(f), None, None, false) = (family, &c.saddr, &c.daddr, icmp) {
        parts.push(format!("family {}", words::family(f)));
    }
    let ported = c.sport.is_some() || c.dport.is_some();
    if !ported && !icmp && c.tcp_flags.is_none() && !c.proto.is_full() {
        parts.push(format!("proto {}", protos(c.proto)));
    }
    let port_proto = c.proto.iter().next().map(words::proto).unwrap_or_default();
    for (word, field) in [("sport", &c.sport), ("dport", &c.dport)] {
        if let Some(set) = field {
            parts.push(format!(
                "{port_proto} {word} {}",
                values(set, PORT_MAX, &|lo, hi| words::range(lo, hi, |v| v.to_string()))
            ));
        }
    }
    for (word, field, code) in [("type", &c.icmp_type, false), ("code", &c.icmp_code, true)] {
        if let (Some(set), Some(f)) = (field, family) {
            let text = |lo: u128, hi: u128| icmp_range_text(f, code, lo as u8, hi as u8);
            parts.push(format!("{} {word} {}", icmp_keyword(f), values(set, ICMP_MAX, &text)));
        }
    }
    for (word, field) in [("saddr", &c.saddr), ("daddr", &c.daddr)] {
        if let (Some(set), Some(f)) = (field, family) {
            parts.push(format!("{word} {}", addrs(set, f)));
        }
    }
    parts.extend(c.tcp_flags.as_ref().map(crate::space::flags::words).unwrap_or_default());
    if let Some(set) = &c.mark {
        parts.push(format!(
            "mark {}",
            values(set, MARK_MAX, &|lo, hi| words::range(lo, hi, |v| format!("{v:#x}")))
        ));
    }
    for (word, names) in [("iif", &c.iif), ("oif", &c.oif)] {
        let m = names.patterns();
        let texts = |v: &[NamePattern]| v.iter().map(NamePattern::text).collect();
        if let Some(only) = &m.only {
            parts.push(format!("{word} {}", words::list(texts(only))));
        }
        if !m.not.is_empty() {
            parts.push(format!("{word} != {}", words::list(texts(&m.not))));
        }
    }
    if !c.ct.is_full() {
        let (neg, states) = if c.ct.complement().iter().count() < c.ct.iter().count() {
            ("!= ", c.ct.complement())
        } else {
            ("", c.ct)
        };
        let states: Vec<&str> = states.iter().map(|s| s.keyword()).collect();
        parts.push(format!("ct state {neg}{}", states.join(",")));
    }
    if parts.is_empty() {
        return vec!["every packet".to_string()];
    }
    vec![parts.join(" ")]
}

fn protos(p: Protos) -> String {
    let set = Intervals::from_ranges(p.iter().map(|n| (n as u128, n as u128)));
    values(&set, 255, &|lo, hi| words::range(lo, hi, |v| words::proto(v as u8)))
}

/// A set of values in `0..=max`, or `!= ` its complement when that is
/// shorter; `range` writes one range.
fn values(set: &Intervals, max: u128, range: &dyn Fn(u128, u128) -> String) -> String {
    let complement = set.complement(max);
    let (neg, set) = if !complement.is_empty() && complement.ranges().len() < set.ranges().len() {
        ("!= ", &complement)
    } else {
        ("", set)
    };
    format!("{neg}{}", words::list(set.ranges().iter().map(|&(lo, hi)| range(lo, hi)).collect()))
}

/// Addresses as prefixes where they are one, ranges elsewhere.
fn addrs(set: &Intervals, f: Family) -> String {
    values(set, f.max_addr(), &|lo, hi| words::addr_range(lo, hi, f))
}
