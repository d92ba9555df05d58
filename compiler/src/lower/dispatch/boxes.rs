//! The disjoint elements of a map: boxes of one range per key field, each
//! point given to the first box that holds it, neighbours with equal data
//! merged.

use std::borrow::Borrow;
use std::collections::BTreeMap;

use crate::space::Intervals;

/// A closed range `(lo, hi)` of one key field.
pub(super) type Range = (u128, u128);

/// Disjoint elementary boxes (one range per dimension) covering the union
/// of `boxes`, each point given to the first box holding it. Adjacent
/// boxes whose owners `same` says have equal data are merged; the result
/// lists every owner of a merged box.
pub(super) fn disjoint_boxes<I: Borrow<Intervals>>(
    boxes: Vec<(Vec<I>, usize)>,
    same: &dyn Fn(usize, usize) -> bool,
) -> Vec<(Vec<Range>, Vec<usize>)> {
    fn ranges<I: Borrow<Intervals>>(dim: &I) -> &[Range] {
        dim.borrow().ranges()
    }
    let mut elementary: Vec<(Vec<Range>, usize)> = Vec::with_capacity(boxes.len());
    for (b, owner) in boxes {
        // The usual box, one range per field, is its own elementary box:
        // made without the product's intermediate vectors.
        if b.iter().all(|dim| ranges(dim).len() == 1) {
            elementary.push((b.iter().map(|dim| ranges(dim)[0]).collect(), owner));
            continue;
        }
        let mut acc: Vec<Vec<Range>> = vec![Vec::new()];
        for dim in &b {
            let dim: &Intervals = dim.borrow();
            acc = acc
                .into_iter()
                .flat_map(|prefix| {
                    dim.ranges().iter().map(move |r| {
                        let mut p = prefix.clone();
                        p.push(*r);
                        p
                    })
                })
                .collect();
        }
        elementary.extend(acc.into_iter().map(|k| (k, owner)));
    }
    let Some(first) = elementary.first() else { return Vec::new() };
    let dims = first.0.len();
    // Group by every dimension but the last (the boxes in order of that
    // prefix, each group in the boxes' own order); when the groups do not
    // meet, a sweep over the last dimension does the rest in n log n. The
    // groups are runs of one sorted list of the boxes, not copies of them:
    // a map of 100k elements keeps each key once while it is made.
    let mut order: Vec<usize> = (0..elementary.len()).collect();
    order.sort_by(|&a, &b| elementary[a].0[..dims - 1].cmp(&elementary[b].0[..dims - 1]));
    let mut groups: Vec<std::ops::Range<usize>> = Vec::new();
    for (i, &b) in order.iter().enumerate() {
        match groups.last_mut() {
            Some(g) if elementary[order[g.start]].0[..dims - 1] == elementary[b].0[..dims - 1] => {
                g.end = i + 1;
            }
            _ => groups.push(i..i + 1),
        }
    }
    let heads = groups.iter().map(|g| &elementary[order[g.start]].0[..dims - 1]).collect();
    if prefixes_apart(heads) {
        let mut out = Vec::with_capacity(elementary.len());
        for g in groups {
            // One box alone in its group is its own element (what the
            // sweep would give it, without the sweep's tree): the usual
            // case of a map of address and port pairs.
            if let [b] = order[g.clone()] {
                let (k, owner) = std::mem::take(&mut elementary[b]);
                out.push((k, vec![owner]));
                continue;
            }
            let ranges = order[g.clone()]
                .iter()
                .map(|&b| (elementary[b].0[dims - 1], elementary[b].1))
                .collect();
            let prefix = &elementary[order[g.start]].0[..dims - 1];
            for (r, owners) in sweep(ranges, same) {
                let mut k = Vec::with_capacity(dims);
                k.extend_from_slice(prefix);
                k.push(r);
                out.push((k, owners));
            }
        }
        return out;
    }
    // The general case: subtract every earlier box that meets this one.
    let mut taken: Vec<(Vec<Range>, usize)> = Vec::new();
    for (b, owner) in elementary {
        let mut parts = vec![b];
        for (t, _) in &taken {
            parts = parts.into_iter().flat_map(|p| box_subtract(&p, t)).collect();
            if parts.is_empty() {
                break;
            }
        }
        taken.extend(parts.into_iter().map(|p| (p, owner)));
    }
    taken.into_iter().map(|(k, o)| (k, vec![o])).collect()
}

/// Whether no two of these boxes meet: a sweep over the first dimension
/// compares only boxes whose first ranges overlap.
fn prefixes_apart(mut prefixes: Vec<&[Range]>) -> bool {
    if prefixes.first().is_none_or(|p| p.is_empty()) {
        return true;
    }
    prefixes.sort_by_key(|p| p[0]);
    let mut active: Vec<&[Range]> = Vec::new();
    for p in prefixes {
        active.retain(|a| a[0].1 >= p[0].0);
        if active.iter().any(|a| a.iter().zip(p.iter()).all(|(x, y)| x.0.max(y.0) <= x.1.min(y.1)))
        {
            return false;
        }
        active.push(p);
    }
    true
}

/// `a - b` for elementary boxes, as disjoint elementary boxes.
fn box_subtract(a: &[Range], b: &[Range]) -> Vec<Vec<Range>> {
    if a.iter().zip(b).any(|(x, y)| x.1 < y.0 || y.1 < x.0) {
        return vec![a.to_vec()];
    }
    let mut out = Vec::new();
    let mut rest = a.to_vec();
    for d in 0..a.len() {
        let (lo, hi) = rest[d];
        let (blo, bhi) = b[d];
        if lo < blo {
            let mut p = rest.clone();
            p[d] = (lo, blo - 1);
            out.push(p);
        }
        if hi > bhi {
            let mut p = rest.clone();
            p[d] = (bhi + 1, hi);
            out.push(p);
        }
        rest[d] = (lo.max(blo), hi.min(bhi));
    }
    out
}

/// First-come assignment of one-dimensional ranges, then merging of
/// adjacent ranges with equal data.
fn sweep(
    ranges: Vec<(Range, usize)>,
    same: &dyn Fn(usize, usize) -> bool,
) -> Vec<(Range, Vec<usize>)> {
    let mut taken: BTreeMap<u128, (u128, usize)> = BTreeMap::new();
    for ((lo, hi), owner) in ranges {
        let start = taken.range(..=lo).next_back().map_or(lo, |(k, _)| *k);
        let mut gaps = Vec::new();
        let mut cur = Some(lo);
        for (&s, &(e, _)) in taken.range(start..=hi) {
            let Some(c) = cur else { break };
            if e < c {
                continue;
            }
            if s > c {
                gaps.push((c, s - 1));
            }
            cur = if e >= hi { None } else { Some(e + 1) };
        }
        if let Some(c) = cur {
            gaps.push((c, hi));
        }
        for (a, b) in gaps {
            taken.insert(a, (b, owner));
        }
    }
    let mut out: Vec<(Range, Vec<usize>)> = Vec::new();
    for (s, (e, owner)) in taken {
        match out.last_mut() {
            Some(((_, pe), owners)) if *pe + 1 == s && same(owners[0], owner) => {
                *pe = e;
                if !owners.contains(&owner) {
                    owners.push(owner);
                }
            }
            _ => out.push(((s, e), vec![owner])),
        }
    }
    for (_, owners) in &mut out {
        owners.sort_unstable();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sweep_gives_overlaps_to_the_first() {
        let got = sweep(vec![((10, 20), 0), ((15, 30), 1), ((0, 40), 2)], &|a, b| a == b);
        assert_eq!(
            got,
            vec![((0, 9), vec![2]), ((10, 20), vec![0]), ((21, 30), vec![1]), ((31, 40), vec![2])]
        );
    }

    #[test]
    fn sweep_merges_equal_data() {
        let got = sweep(vec![((1, 1), 0), ((2, 2), 1), ((4, 4), 2)], &|_, _| true);
        assert_eq!(got, vec![((1, 2), vec![0, 1]), ((4, 4), vec![2])]);
    }

    #[test]
    fn boxes_overlapping_in_two_dimensions() {
        let b = |a: (u128, u128), c: (u128, u128)| {
            vec![Intervals::range(a.0, a.1), Intervals::range(c.0, c.1)]
        };
        let got =
            disjoint_boxes(vec![(b((0, 10), (0, 10)), 0), (b((5, 15), (5, 15)), 1)], &|a, b| {
                a == b
            });
        let area: u128 =
            got.iter().map(|(k, _)| k.iter().map(|(lo, hi)| hi - lo + 1).product::<u128>()).sum();
        assert_eq!(area, 121 + 121 - 36);
        assert!(got.iter().any(|(k, o)| k == &vec![(0, 10), (0, 10)] && o == &vec![0]));
    }
}
