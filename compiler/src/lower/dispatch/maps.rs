//! A run's verdict maps: the members' key boxes made disjoint (first rule
//! wins), split by family or protocol and into exact and ranged maps where
//! that makes the kernel's lookups cheaper, and the rule that looks each
//! one up.

use std::borrow::Cow;

use crate::ir;
use crate::nft::vocab::{PROTOS_WITH_PORTS, PROTO_TCP, PROTO_UDP};
use crate::nft::{self, AddrField, CmpOp, Data, Elem, Element, Expr, Part, Rhs, Selector};
use crate::space::{Cube, Family, Intervals, Protos};

use super::super::sequential::{self, origin};
use super::super::{count, rule_list, TableCx};
use super::boxes::{disjoint_boxes, Range};
use super::{Cand, KeyKind};

/// One dimension of a map key.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Dim {
    Saddr,
    Daddr,
    Proto,
    Dport,
}

pub(super) fn emit_run(
    cx: &mut TableCx,
    chain: &ir::Chain,
    members: &[usize],
    cands: &[Result<Cand, String>],
    spaces: &[Cow<[Cube]>],
    min_run: usize,
    out: &mut Vec<nft::Rule>,
) {
    let rules = &chain.rules;
    let cand = |m: usize| cands[m].as_ref().expect("run members are candidates");
    let kind = cand(members[0]).kind;
    // The map data of each member, in run order.
    let data: Vec<nft::Verdict> = members
        .iter()
        .map(|&m| match &cand(m).direct {
            Some(v) => v.clone(),
            None => nft::Verdict::Jump(sequential::rule_chain(
                cx,
                chain,
                &rules[m],
                cand(m).body.clone(),
            )),
        })
        .collect();
    // Port-only runs with ranges get one map per protocol, keyed by the
    // port alone: a single-field interval map is an rbtree, which the
    // kernel loads in about a second at 100k elements, where a `l4proto .
    // th dport` concatenation needs pipapo and takes over twenty. Without
    // ranges, over two protocols or more, one hash map keyed `meta
    // l4proto . th dport` takes them all: one lookup per packet where each
    // protocol's map cost a rule of its own.
    let merged = kind == KeyKind::Dport && one_port_map(members, spaces);
    let groups: Vec<(Option<Family>, Option<u8>)> = match kind {
        KeyKind::Dport if merged => vec![(None, None)],
        KeyKind::Dport => PROTOS_WITH_PORTS.map(|p| (None, Some(p))).to_vec(),
        _ => vec![(Some(Family::V4), None), (Some(Family::V6), None)],
    };
    let dims: &[Dim] = match kind {
        KeyKind::Dport if merged => &[Dim::Proto, Dim::Dport],
        KeyKind::Dport => &[Dim::Dport],
        KeyKind::Saddr => &[Dim::Saddr],
        KeyKind::SaddrDport => &[Dim::Saddr, Dim::Proto, Dim::Dport],
        KeyKind::DaddrDport => &[Dim::Daddr, Dim::Proto, Dim::Dport],
    };
    let mut maps = Vec::new();
    for (fam, group_proto) in groups {
        // Each member's key fields, borrowed from its pieces where it has
        // them: a run of 100k rules copies none of them.
        let mut boxes: Vec<(Vec<Cow<Intervals>>, usize)> = Vec::new();
        for (pos, &m) in members.iter().enumerate() {
            for p in spaces[m].iter() {
                if fam.is_some() && p.family.single() != fam {
                    continue;
                }
                if group_proto.is_some_and(|g| !p.proto.contains(g)) {
                    continue;
                }
                let b = dims
                    .iter()
                    .map(|d| match d {
                        Dim::Saddr => Cow::Borrowed(p.saddr.as_ref().expect("saddr key")),
                        Dim::Daddr => Cow::Borrowed(p.daddr.as_ref().expect("daddr key")),
                        Dim::Proto if merged => Cow::Owned(Intervals::from_ranges(
                            p.proto
                                .intersect(Protos::with_ports())
                                .iter()
                                .map(|x| (x as u128, x as u128)),
                        )),
                        Dim::Proto => Cow::Owned(Intervals::from_ranges(
                            p.proto.iter().map(|x| (x as u128, x as u128)),
                        )),
                        Dim::Dport => Cow::Borrowed(p.dport.as_ref().expect("dport key")),
                    })
                    .collect();
                boxes.push((b, pos));
            }
        }
        if boxes.is_empty() {
            continue;
        }
        // One protocol for the whole map: match it once, key on the rest.
        let proto_at = dims.iter().position(|d| *d == Dim::Proto);
        let single_proto = group_proto.map(u128::from).or_else(|| {
            proto_at.and_then(|i| {
                let first = boxes[0].0[i].clone();
                let one = first.ranges().len() == 1 && first.ranges()[0].0 == first.ranges()[0].1;
                (one && boxes.iter().all(|(b, _)| b[i] == first)).then(|| first.ranges()[0].0)
            })
        });
        let mut key_dims: Vec<Dim> = dims.to_vec();
        if let (Some(i), Some(_)) = (proto_at, single_proto) {
            key_dims.remove(i);
            for (b, _) in &mut boxes {
                b.remove(i);
            }
        }
        // Each element counts for one rule: neighbours of different rules
        // stay apart when the map counts, or their counts would merge.
        let counting = cx.table.rule_counters;
        let same = |a: usize, b: usize| data[a] == data[b] && (!counting || a == b);
        let elems = disjoint_boxes(boxes, &same);
        let key: Vec<Selector> = key_dims
            .iter()
            .map(|d| match (d, fam) {
                (Dim::Saddr, Some(Family::V6)) => Selector::Ip6Saddr,
                (Dim::Saddr, _) => Selector::Ip4Saddr,
                (Dim::Daddr, Some(Family::V6)) => Selector::Ip6Daddr,
                (Dim::Daddr, _) => Selector::Ip4Daddr,
                (Dim::Proto, _) => Selector::L4proto,
                (Dim::Dport, _) => Selector::ThDport,
            })
            .collect();
        let fam_tag = match (kind, fam, group_proto) {
            (KeyKind::Dport, _, Some(PROTO_TCP)) => "_tcp",
            (KeyKind::Dport, _, Some(PROTO_UDP)) => "_udp",
            (KeyKind::Dport, _, None) => "",
            (KeyKind::Dport, _, _) => "_sctp",
            (_, Some(Family::V6), _) => "6",
            _ => "4",
        };
        let parts = split_exact(elems, key.len(), min_run);
        let split = parts.len() > 1;
        let mut in_exact = vec![false; members.len()];
        for (_, e) in parts.iter().filter(|(s, _)| !s.is_empty()) {
            mark_held(e, &mut in_exact);
        }
        for (suffix, mut elems) in parts {
            // Each map of a split one may hold a single protocol where the
            // two together held several: it is then matched once, before
            // the lookup, and left out of the key, as for a whole map.
            let mut key = key.clone();
            let mut single_proto = single_proto;
            if let (true, Some(i), None) = (split, proto_at, single_proto) {
                if let Some(p) = one_value(&elems, i) {
                    key.remove(i);
                    for (k, _) in &mut elems {
                        k.remove(i);
                    }
                    single_proto = Some(p);
                }
            }
            masked_nets(&mut key, &mut elems);
            // The members this map holds elements of, in run order; the map
            // with ranges also names those left with none (wholly taken by
            // earlier members), as the one map did.
            let mut mine = vec![false; members.len()];
            mark_held(&elems, &mut mine);
            let part: Vec<usize> = (0..members.len())
                .filter(|&p| mine[p] || (suffix.is_empty() && !in_exact[p]))
                .map(|p| members[p])
                .collect();
            let interval = elems.iter().any(|(k, _)| k.iter().any(|(lo, hi)| lo != hi));
            // In the order of their keys (the elements are disjoint: no two
            // keys are equal), sorted as plain ranges before they are made
            // into elements.
            elems.sort_by(|a, b| a.0.cmp(&b.0));
            let elements: Vec<Element> = elems
                .into_iter()
                .map(|(k, ms)| Element {
                    key: Elem(k.into_iter().map(|(lo, hi)| Part::Int(lo, hi)).collect()),
                    data: Some(Data::Verdict(data[ms[0]].clone())),
                    origin: ms.iter().map(|&pos| origin(&rules[members[pos]])).collect(),
                })
                .collect();
            // Named by chain and key, not by count: a map earlier in the table
            // does not rename this one, so applying again changes its elements
            // rather than making it anew.
            let name = cx.fresh(&format!("{}_{}{fam_tag}{suffix}", chain.name, kind.keyword()));
            let keytext = key.iter().map(|s| s.keyword()).collect::<Vec<_>>().join(" . ");
            let n = elements.len();
            cx.sets.push(nft::Set {
                name: name.clone(),
                key: key.clone(),
                interval,
                data: Some(nft::DataType::Verdict),
                elements,
                counters: counting,
                dynamic: None,
                comment: Some(format!(
                    "{} of chain {}",
                    rule_list(&member_indices(rules, &part)),
                    chain.name
                )),
            });
            let mut exprs = Vec::new();
            if let Some(p) = single_proto {
                exprs.push(Expr::Match {
                    key: vec![Selector::L4proto],
                    op: CmpOp::Eq,
                    rhs: Rhs::Value(Elem(vec![Part::Int(p, p)])),
                });
            }
            exprs.push(Expr::Vmap { key: key.clone(), map: name.clone() });
            let mut origins: Vec<nft::Origin> = part.iter().map(|&m| origin(&rules[m])).collect();
            origins.sort();
            out.push(nft::Rule { exprs, origin: origins });
            maps.push(format!("`{name}` keyed by {keytext}: {}", count(n, "element")));
        }
    }
    let indices = member_indices(rules, members);
    let moved = members.windows(2).any(|w| w[1] != w[0] + 1);
    let text = format!(
        "{} ({}{}) -> {} in {}",
        rule_list(&indices),
        count(members.len(), "rule"),
        if moved { ", moved past disjoint rules between them" } else { "" },
        if maps.len() == 1 { "one lookup".to_string() } else { format!("{} lookups", maps.len()) },
        if maps.len() == 1 {
            format!("map {}", maps[0])
        } else {
            format!("maps {}", maps.join(", "))
        },
    );
    let ids = members.iter().map(|&m| rules[m].id).collect();
    cx.note(chain, ids, text);
}

/// Whether a port-only run's ports are single values (no ranges) and span
/// two protocols or more: then one `meta l4proto . th dport` map, a hash
/// table, holds them all.
fn one_port_map(members: &[usize], spaces: &[Cow<[Cube]>]) -> bool {
    let mut protos = Protos::NONE;
    for p in members.iter().flat_map(|&m| spaces[m].iter()) {
        let points = p.dport.as_ref().is_some_and(|d| d.ranges().iter().all(|(lo, hi)| lo == hi));
        if !points {
            return false;
        }
        protos = protos.union(p.proto);
    }
    protos.intersect(Protos::with_ports()).len() >= 2
}

fn member_indices(rules: &[ir::Rule], members: &[usize]) -> Vec<u32> {
    members.iter().map(|&m| rules[m].id.index).collect()
}

/// A map's elements: each key's ranges, one per field, and the run
/// positions of the rules that own it.
type Elements = Vec<(Vec<Range>, Vec<usize>)>;

/// The one value every element's field `i` holds exactly, if there is one.
fn one_value(elems: &[(Vec<Range>, Vec<usize>)], i: usize) -> Option<u128> {
    let (lo, hi) = elems.first()?.0[i];
    (lo == hi && elems.iter().all(|(k, _)| k[i] == (lo, hi))).then_some(lo)
}

/// Keys a map on a masked address (`ip saddr & 255.255.255.0`) instead of
/// an address range when every element's address is a network of one
/// prefix length and every other field one value: each element then
/// holds the network's address, and the map needs no ranges. The kernel
/// keeps such a map in a hash table, one probe per packet, where ranges
/// in a concatenation need a pipapo table, whose lookup and every
/// insertion walk bitmaps as long as the map. A packet's masked address
/// equals an element's exactly when the address is in its network, so
/// the map decides as before; the elements stay disjoint.
fn masked_nets(key: &mut [Selector], elems: &mut Elements) {
    let Some(i) = key.iter().position(|s| AddrField::of(*s).is_some()) else { return };
    let Some(field) = AddrField::of(key[i]) else { return };
    let bits = field.bits();
    // The prefix length of a network `lo..=hi`, if it is one.
    let net = |(lo, hi): Range| -> Option<u32> {
        let size = hi.checked_sub(lo)?.checked_add(1)?;
        (size.is_power_of_two() && lo & (size - 1) == 0).then(|| bits - size.trailing_zeros())
    };
    let Some(len) = elems.first().and_then(|(k, _)| net(k[i])) else { return };
    if len == 0 || len >= bits {
        return;
    }
    let fits = elems.iter().all(|(k, _)| {
        k.iter()
            .enumerate()
            .all(|(d, &(lo, hi))| if d == i { net((lo, hi)) == Some(len) } else { lo == hi })
    });
    if !fits {
        return;
    }
    key[i] = Selector::Net { field, len: len as u8 };
    for (k, _) in elems.iter_mut() {
        k[i].1 = k[i].0;
    }
}

/// Marks the run positions owning the elements of `elems`.
fn mark_held(elems: &[(Vec<Range>, Vec<usize>)], held: &mut [bool]) {
    for (_, owners) in elems {
        for &p in owners {
            held[p] = true;
        }
    }
}

/// A map's disjoint elements, as one map or two: when its key joins
/// several fields and it holds both exact keys and ranges, the exact ones
/// (at least `min_run` of them, as many as make a run worth a lookup) go
/// to a map of their own, named with `_exact`. The kernel keeps a map of
/// exact keys in a hash table, one probe per packet, and a map with ranges
/// in a pipapo table, whose lookup and whose every insertion walk bitmaps
/// as long as the map: moving the exact keys out makes both cheaper. The
/// elements are disjoint, so a packet matches at most one of either map,
/// and the two lookups decide as the one did.
fn split_exact(elems: Elements, fields: usize, min_run: usize) -> Vec<(&'static str, Elements)> {
    if fields < 2 {
        return vec![("", elems)];
    }
    let (exact, ranges): (Vec<_>, Vec<_>) =
        elems.into_iter().partition(|(k, _)| k.iter().all(|(lo, hi)| lo == hi));
    if exact.len() < min_run || ranges.is_empty() {
        let mut all = exact;
        all.extend(ranges);
        return vec![("", all)];
    }
    vec![("_exact", exact), ("", ranges)]
}
