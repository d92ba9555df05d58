//! Two-level dispatch: a decision on the field every port-keyed map shares.
//!
//! A stretch of lookups in a base chain, one of them the port map (`meta
//! l4proto . th dport vmap @<chain>_dport`, a hash of single ports) and
//! the others keyed by an address and the port (`ip saddr . th dport`,
//! `ip daddr . meta l4proto . th dport`, masked `ip saddr & MASK . th
//! dport`), costs every packet that misses them one lookup each. Here the
//! port map also holds each protocol and port that the address maps name,
//! as a `jump` to a chain holding only the lookups of the maps that name
//! it, in their order: a packet to a port no address rule names takes
//! one lookup, and one to such a port takes the port map's and those of
//! the maps that may match it.
//!
//! First-match order holds exactly. A packet's protocol and port are in a
//! map's key, so a lookup whose map names no element of that protocol and
//! port misses for every such packet; the chain an element jumps to runs
//! the lookups that may hit, in the order of the stretch, and returns to
//! the rule after the one lookup that replaced them, where the stretch
//! ended. A port map element holds every packet of its protocol and port,
//! so where the port map and an address map share one:
//! - an address map before the port map would decide some of those
//!   packets first: it stays out of the tree, and so does the stretch
//!   before it (the port element would need to end a chain of its lookups
//!   with the port rule's verdict, counted as the rule's element counts);
//! - an address map after the port map is never reached by them when the
//!   port element ends evaluation (`accept`, `drop`, `reject`); where it
//!   may go on (a `continue`, or a jump to a rule's chain), the address map
//!   and the stretch after it stay out.
//!
//! The lookups moved into the chains keep their maps, names and elements,
//! so per-rule counters and the day-2 carry-over are those of the maps as
//! before. A `jump` element is no rule's: its `origin` is empty, so
//! `stats`, `counters` and the carry-over (which read elements of one
//! origin) pass it by, and `nft_eval` counts it for no rule, though the
//! kernel counts it like every element of a counting map.
//!
//! Only base chains: an element that returns or goes to another chain
//! would do it from the jumped-to chain instead (so such maps stay out),
//! and the extra chain is one level on the jump stack, which a base chain
//! has to spare (a rule's own chain below it jumps nowhere).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::Range;

use crate::ir;
use crate::nft::{self, CmpOp, Data, Elem, Element, Expr, Part, Rhs, Selector, Verdict};

use super::super::TableCx;

/// A protocol and destination port.
type Point = (u128, u128);

/// What a lookup rule of the stretch is, as far as the tree cares.
enum Lookup {
    /// The port map: a hash keyed `meta l4proto . th dport`, each
    /// element one protocol and port, with its data.
    Ports { map: String, data: HashMap<Point, Verdict> },
    /// An address map that may join the tree, with every protocol and
    /// port its elements name.
    Addr(BTreeSet<Point>),
    /// Anything else: the tree stops at it.
    Other,
}

/// Folds the address lookups around each port map of `out[range]` (the
/// lookups of consecutive runs) into a two-level tree, where that keeps
/// every verdict.
pub(super) fn fold(
    cx: &mut TableCx,
    chain: &ir::Chain,
    out: &mut Vec<nft::Rule>,
    range: Range<usize>,
) {
    if chain.base.is_none() || range.len() < 2 {
        return;
    }
    let lookups: Vec<Lookup> = out[range.clone()].iter().map(|r| classify(cx, r)).collect();
    // Groups found left to right, each replaced right to left afterwards
    // so the indices stay good.
    let mut groups = Vec::new();
    let mut from = 0;
    while let Some(d) = (from..lookups.len()).find(|&i| matches!(lookups[i], Lookup::Ports { .. }))
    {
        let Lookup::Ports { data, .. } = &lookups[d] else { unreachable!("found as Ports") };
        let mut lo = d;
        while lo > from {
            match &lookups[lo - 1] {
                Lookup::Addr(points) if points.iter().all(|p| !data.contains_key(p)) => lo -= 1,
                _ => break,
            }
        }
        let mut hi = d + 1;
        while hi < lookups.len() {
            match &lookups[hi] {
                Lookup::Addr(points)
                    if points.iter().all(|p| data.get(p).is_none_or(ends_evaluation)) =>
                {
                    hi += 1
                }
                _ => break,
            }
        }
        if hi - lo > 1 {
            groups.push((lo, d, hi));
        }
        from = hi;
    }
    for (lo, d, hi) in groups.into_iter().rev() {
        build(cx, chain, out, &lookups, range.start, lo, d, hi);
    }
}

/// Whether no rule after an element with this data is reached.
fn ends_evaluation(v: &Verdict) -> bool {
    matches!(v, Verdict::Accept | Verdict::Drop | Verdict::Reject(_))
}

fn classify(cx: &TableCx, rule: &nft::Rule) -> Lookup {
    let (proto, key, map) = match rule.exprs.as_slice() {
        [Expr::Vmap { key, map }] => (None, key, map),
        [Expr::Match { key: k, op: CmpOp::Eq, rhs: Rhs::Value(Elem(v)) }, Expr::Vmap { key, map }]
            if k.as_slice() == [Selector::L4proto] =>
        {
            match v.as_slice() {
                [Part::Int(p, q)] if p == q => (Some(*p), key, map),
                _ => return Lookup::Other,
            }
        }
        _ => return Lookup::Other,
    };
    let Some(set) = cx.sets.iter().find(|s| &s.name == map) else { return Lookup::Other };
    let at = |sel: Selector| key.iter().position(|s| *s == sel);
    let Some(dport) = at(Selector::ThDport) else { return Lookup::Other };
    let l4 = at(Selector::L4proto);
    let point = |e: &Element| -> Option<Point> {
        let int = |i: usize| match e.key.0.get(i) {
            Some(Part::Int(lo, hi)) if lo == hi => Some(*lo),
            _ => None,
        };
        let p = match (proto, l4) {
            (Some(p), None) => p,
            (None, Some(i)) => int(i)?,
            _ => return None,
        };
        Some((p, int(dport)?))
    };
    let verdict = |e: &Element| match &e.data {
        Some(Data::Verdict(v)) => Some(v.clone()),
        _ => None,
    };
    if proto.is_none() && key.as_slice() == [Selector::L4proto, Selector::ThDport] {
        if set.interval {
            return Lookup::Other;
        }
        let mut data = HashMap::new();
        for e in &set.elements {
            let (Some(p), Some(v)) = (point(e), verdict(e)) else { return Lookup::Other };
            data.insert(p, v);
        }
        return Lookup::Ports { map: map.clone(), data };
    }
    let addressed = key.iter().any(|s| {
        matches!(
            s,
            Selector::Ip4Saddr
                | Selector::Ip4Daddr
                | Selector::Ip6Saddr
                | Selector::Ip6Daddr
                | Selector::Net { .. }
        )
    });
    if !addressed {
        return Lookup::Other;
    }
    let mut points = BTreeSet::new();
    for e in &set.elements {
        let (Some(p), Some(v)) = (point(e), verdict(e)) else { return Lookup::Other };
        if !stays_put(cx, &v) {
            return Lookup::Other;
        }
        points.insert(p);
    }
    Lookup::Addr(points)
}

/// Whether an element's data does the same from a chain the port map
/// jumps to as from the base chain: a verdict, `continue`, or a jump to a
/// rule's own chain that jumps, goes and returns nowhere itself.
fn stays_put(cx: &TableCx, v: &Verdict) -> bool {
    match v {
        Verdict::Accept | Verdict::Drop | Verdict::Reject(_) | Verdict::Continue => true,
        Verdict::Return | Verdict::Goto(_) => false,
        Verdict::Jump(name) => cx.extra_chains.iter().find(|c| &c.name == name).is_some_and(|c| {
            c.rules.iter().flat_map(|r| &r.exprs).all(|e| match e {
                Expr::Verdict(v) => {
                    !matches!(v, Verdict::Jump(_) | Verdict::Goto(_) | Verdict::Return)
                }
                Expr::Vmap { .. } => false,
                _ => true,
            })
        }),
    }
}

/// Replaces `out[base + lo .. base + hi]` by the port map's lookup, which
/// gains a `jump` element for each point the address lookups name and it
/// does not.
#[allow(clippy::too_many_arguments)]
fn build(
    cx: &mut TableCx,
    chain: &ir::Chain,
    out: &mut Vec<nft::Rule>,
    lookups: &[Lookup],
    base: usize,
    lo: usize,
    d: usize,
    hi: usize,
) {
    let Lookup::Ports { map, data } = &lookups[d] else { unreachable!("d is the port map") };
    // Each point no port element holds, with the address lookups naming
    // it, in stretch order.
    let mut naming: BTreeMap<Point, Vec<usize>> = BTreeMap::new();
    for (i, l) in lookups.iter().enumerate().take(hi).skip(lo) {
        if let Lookup::Addr(points) = l {
            for p in points.iter().filter(|p| !data.contains_key(p)) {
                naming.entry(*p).or_default().push(i);
            }
        }
    }
    // One chain per list of lookups, named after the maps it looks up
    // (never after a position: a rule added above leaves it as it is).
    let mut chains: BTreeMap<Vec<usize>, String> = BTreeMap::new();
    for list in naming.values() {
        if chains.contains_key(list) {
            continue;
        }
        let rules: Vec<nft::Rule> = list.iter().map(|&i| out[base + i].clone()).collect();
        let maps: Vec<String> = rules
            .iter()
            .filter_map(|r| match r.exprs.last() {
                Some(Expr::Vmap { map, .. }) => Some(map.clone()),
                _ => None,
            })
            .collect();
        let id = crate::identity::fnv1a64(maps.join(" ").as_bytes());
        let name = cx.fresh(&format!("{}_port{:08x}", chain.name, id >> 32));
        cx.extra_chains.push(nft::Chain {
            name: name.clone(),
            base: None,
            rules,
            comment: Some(format!(
                "lookups of chain {} for the ports their maps name: @{}",
                chain.name,
                maps.join(", @")
            )),
        });
        chains.insert(list.clone(), name);
    }
    let set = cx.sets.iter_mut().find(|s| &s.name == map).expect("the port map was found");
    let jumps = naming.len();
    for (p, list) in naming {
        set.elements.push(Element {
            key: Elem(vec![Part::Int(p.0, p.0), Part::Int(p.1, p.1)]),
            data: Some(Data::Verdict(Verdict::Jump(chains[&list].clone()))),
            origin: Vec::new(),
        });
    }
    set.elements.sort_by(|a, b| a.key.0.cmp(&b.key.0));
    let names: Vec<String> = chains.into_values().collect();
    let port_rule = out[base + d].clone();
    let moved: Vec<ir::RuleId> = out[base + lo..base + hi]
        .iter()
        .enumerate()
        .filter(|&(i, _)| i + lo != d)
        .flat_map(|(_, r)| r.origin.iter().map(|o| o.rule))
        .collect();
    out.splice(base + lo..base + hi, [port_rule]);
    cx.note(
        chain,
        moved,
        format!(
            "two-level: @{map} also sends {} named by {} to {}: {}",
            super::super::count(jumps, "port"),
            super::super::count(hi - lo - 1, "address lookup"),
            super::super::count(names.len(), "chain"),
            names.join(", ")
        ),
    );
}
