//! Whether the blockers before a rule cover it, and if so which of them
//! decide its packets first: cube subtraction, biggest blocker first, with
//! corner probes that prove a rule reached without subtracting at all.

use super::class::{own_class, same};
use super::{Cover, Coverage, Gap, FRAGMENT_CAP};
use crate::analysis::budget::{cost_counted, Counted, Meter};
use crate::analysis::index::{Entries, Entry, Hull, Key};
use crate::ir;
use crate::space::{self, Cube, Protos};

/// Whether the first `below` of `entries` (in rule order) cover `cubes`,
/// the packets of `rule`.
///
/// Coverage itself does not depend on order, so it is decided with the
/// biggest blockers first, which empties a covered rule after few cuts. Who
/// decides which packet does depend on order: blocker `j` is the first to
/// decide some packet exactly when the blockers before it do not already
/// cover its part of the rule. That is checked only for the few blockers the
/// finding names.
pub(super) fn cover(
    table: &ir::Table,
    cubes: &[Cube],
    rule: &ir::Rule,
    rules: &[ir::Rule],
    entries: &Entries<'_>,
    below: usize,
    work: &Meter,
) -> Coverage {
    if work.take(cubes.len()).is_none() {
        return gave_up(rule);
    }
    let hulls: Vec<Hull> = cubes.iter().map(Hull::of).collect();
    let keys: Vec<Key> = hulls.iter().map(Key::of).collect();
    let counted = Counted::of(cubes);
    // The candidates, in rule order, read up to the first that alone covers
    // the rule (the common case: most covered rules are covered by one rule
    // near the top), since no blocker after it is the first to decide any
    // of its packets. The work is taken as they are read, so a rule covered
    // early pays for what it read, not for the whole chain.
    let mut ids: Vec<usize> = Vec::new();
    let mut whole = None;
    for i in entries.stream(&hulls, below) {
        // Each candidate is read about once per cube of the rule.
        if work.take(cubes.len()).is_none() {
            return gave_up(rule);
        }
        let i = i as usize;
        // Hulls only: a candidate that does not really meet the rule costs a
        // little time below, never a wrong answer. The keys first: they
        // reject most candidates from one cache line.
        let (ek, eh) = (&entries.keys[i], &entries.hulls[i]);
        if !hulls.iter().zip(&keys).any(|(h, k)| k.meets_or(ek, h, eh)) {
            continue;
        }
        let e = &entries.all[i];
        if work.take(cost_counted(counted, e.intervals)).is_none() {
            return gave_up(rule);
        }
        ids.push(i);
        // The rule's cubes are not empty, so a cube that covers one meets it.
        if hulls.iter().all(|h| eh.may_cover(h)) && cubes.iter().all(|c| e.cube.covers(c)) {
            whole = Some(ids.len() - 1);
            break;
        }
    }
    let candidates: Vec<&Entry> = ids.iter().map(|&i| &entries.all[i]).collect();
    // The candidates' hulls, borrowed: a copy of each (176 bytes) for every
    // candidate of a rule that reads thousands was a large allocation per
    // rule, which mimalloc 2 hands back and faults in again.
    let ch: Vec<&Hull> = ids.iter().map(|&i| &entries.hulls[i]).collect();
    // No blocker after the first one that covers the rule alone is the first
    // to decide any of its packets.
    let end = match whole {
        Some(p) => p,
        // The scan above asked every candidate whether it covers the rule
        // alone: for a rule of one cube, whether one covers that cube. (Not
        // when a family of the cube holds no packet, IPv6 with only an
        // extension header's number: `Hull::may_cover` may then say no
        // to a cube that covers it.)
        None => match covered_by(cubes, &candidates, &ch, alone_asked(cubes), work) {
            None => return gave_up(rule),
            Some(false) => return Coverage::Reached,
            Some(true) => candidates.len() - 1,
        },
    };
    let prefix = &candidates[..=end];
    let first = |j: usize| -> Option<bool> {
        let e = prefix[j];
        work.take(cost_counted(counted, e.intervals))?;
        let part: Vec<Cube> =
            cubes.iter().filter(|c| c.intersects(&e.cube)).map(|c| c.intersect(&e.cube)).collect();
        covered_by(&part, &prefix[..j], &ch[..j], false, work).map(|covered| !covered)
    };
    let differs_from_rule =
        |e: &Entry| rules.get(e.rule as usize).is_some_and(|b| !same(table, b, e.class, rule));

    // The first blocker, in rule order, that decides some packet differently.
    let mut differing = None;
    if own_class(rule).is_some() {
        let found = sweep(cubes, prefix, &differs_from_rule, work)
            .or_else(|| first_differing(prefix, &differs_from_rule, &first));
        match found {
            Some(found) => differing = found,
            None => return gave_up(rule),
        }
    }

    // A small covering set, biggest first, and the first deciders in it.
    let mut by_volume: Vec<usize> = (0..prefix.len()).collect();
    by_volume.sort_by(|&a, &b| prefix[b].volume.total_cmp(&prefix[a].volume));
    let mut set: Vec<usize> = Vec::new();
    let mut left: Vec<Cube> = cubes.to_vec();
    // `Counted::of(&left)`, counted again only when `left` changes.
    let mut left_counted = counted;
    for j in by_volume {
        let e = prefix[j];
        if work.take(cost_counted(left_counted, e.intervals)).is_none() {
            return gave_up(rule);
        }
        if !left.iter().any(|f| f.intersects(&e.cube)) {
            continue;
        }
        let afford = &mut |l: &[Cube], o: &Cube| work.afford(l, o);
        let Some(next) =
            space::subtract_within(&left, std::slice::from_ref(&*e.cube), FRAGMENT_CAP, afford)
        else {
            if work.ran_out() {
                return gave_up(rule);
            }
            break;
        };
        set.push(j);
        left = next;
        left_counted = Counted::of(&left);
        if left.is_empty() {
            break;
        }
    }
    let mut count: Vec<u32> = set.iter().map(|&j| prefix[j].rule).collect();
    count.sort_unstable();
    count.dedup();
    set.sort_unstable();
    let mut shown: Vec<usize> = differing.into_iter().collect();
    for j in set {
        if shown.len() >= MAX_SHOWN {
            break;
        }
        if !shown.iter().any(|&s| prefix[s].rule == prefix[j].rule) && first(j) == Some(true) {
            shown.push(j);
        }
    }
    if shown.is_empty() {
        // Nothing before the first candidate that really meets the rule
        // does (the others only had a bounding box in common): it decides
        // some of the rule's packets first.
        let meets = |e: &&Entry| cubes.iter().any(|c| c.intersects(&e.cube));
        shown.extend(prefix.iter().position(meets));
    }
    shown.sort_unstable();
    Coverage::Covered(Cover {
        shown: shown.iter().map(|&j| (prefix[j].rule, prefix[j].class)).collect(),
        count: count.len().max(shown.len()),
        differs: differing.is_some(),
    })
}

/// Whether the candidate scan of [`cover`] tells, for each candidate it
/// read, whether it covers `cubes`' one cube by itself.
fn alone_asked(cubes: &[Cube]) -> bool {
    match cubes {
        [c] => c.family.iter().all(|f| !c.proto.intersect(Protos::of_family(f)).is_empty()),
        _ => false,
    }
}

/// The coverage of a rule whose own exact computation ran out of budget:
/// its pieces, or (as its caller tells by the meter) the work for it.
fn gave_up(rule: &ir::Rule) -> Coverage {
    Coverage::Unknown { gap: Gap::Budget(rule.id), after: None }
}

/// How many covering rules a finding labels.
const MAX_SHOWN: usize = 4;

/// The first blocker, in rule order, that decides some of `cubes` and
/// differs from the rule: subtract the blockers in rule order until one that
/// differs still meets what is left. `None` when the pieces pile up.
fn sweep(
    cubes: &[Cube],
    prefix: &[&Entry],
    differs: &dyn Fn(&Entry) -> bool,
    work: &Meter,
) -> Option<Option<usize>> {
    const SWEEP_CAP: usize = 256;
    let mut left: Vec<Cube> = cubes.to_vec();
    // `Counted::of(&left)`, counted again only when `left` changes.
    let mut counted = Counted::of(&left);
    for (j, e) in prefix.iter().enumerate() {
        work.take(cost_counted(counted, e.intervals))?;
        if !left.iter().any(|f| f.intersects(&e.cube)) {
            continue;
        }
        if differs(e) {
            return Some(Some(j));
        }
        let afford = &mut |l: &[Cube], o: &Cube| work.afford(l, o);
        left = space::subtract_within(&left, std::slice::from_ref(&*e.cube), FRAGMENT_CAP, afford)?;
        counted = Counted::of(&left);
        if left.len() > SWEEP_CAP {
            return None;
        }
        if left.is_empty() {
            return Some(None);
        }
    }
    Some(None)
}

/// [`sweep`] by one coverage check per differing blocker, for when the
/// sweep's pieces pile up. The outer `None` means the cap was hit.
fn first_differing(
    prefix: &[&Entry],
    differs: &dyn Fn(&Entry) -> bool,
    first: &dyn Fn(usize) -> Option<bool>,
) -> Option<Option<usize>> {
    for (j, e) in prefix.iter().enumerate() {
        if differs(e) && first(j)? {
            return Some(Some(j));
        }
    }
    Some(None)
}

/// Whether the union of `cands` covers `target`; `None` past the cap.
/// `hulls_of` are the hulls of `cands`; `none_alone` says the caller knows
/// that no candidate covers a cube of `target` by itself.
fn covered_by(
    target: &[Cube],
    cands: &[&Entry],
    hulls_of: &[&Hull],
    none_alone: bool,
    work: &Meter,
) -> Option<bool> {
    // Each candidate is compared with each target cube, a few times over.
    let counted = Counted::of(target);
    work.take(cands.iter().map(|e| cost_counted(counted, e.intervals)).sum())?;
    let hulls: Vec<Hull> = target.iter().map(Hull::of).collect();
    let mut cs: Vec<&Entry> = cands
        .iter()
        .zip(hulls_of)
        .filter(|(e, eh)| hulls.iter().zip(target).any(|(h, t)| h.meet_exactly(t, eh, &e.cube)))
        .map(|(e, _)| *e)
        .collect();
    if cs.is_empty() {
        return Some(target.is_empty());
    }
    // One cover test and two corner probes per candidate and target cube.
    work.take(3 * cs.iter().map(|e| cost_counted(counted, e.intervals)).sum::<usize>())?;
    if !none_alone && target.iter().all(|t| cs.iter().any(|e| e.cube.covers(t))) {
        return Some(true);
    }
    // A corner that no candidate matches proves the target is not covered.
    for c in target {
        for probe in [c.corner(false), c.corner(true)] {
            if !cs.iter().any(|e| e.cube.contains(&probe)) {
                return Some(false);
            }
        }
    }
    cs.sort_by(|a, b| b.volume.total_cmp(&a.volume));
    let mut left: Vec<Cube> = target.to_vec();
    for (k, e) in cs.iter().enumerate() {
        work.take(cost_counted(Counted::of(&left), e.intervals))?;
        let mut next = Vec::with_capacity(left.len());
        for f in left {
            if f.intersects(&e.cube) {
                next.extend(f.subtract(&e.cube));
            } else {
                next.push(f);
            }
        }
        if next.len() > FRAGMENT_CAP {
            return None;
        }
        left = next;
        let Some(first) = left.first() else { return Some(true) };
        // Fragments piling up: probe one against the blockers still to come.
        if left.len() > 64 && k % 16 == 0 {
            let rest = &cs[k + 1..];
            work.take(2 * rest.iter().map(|e| e.intervals).sum::<usize>())?;
            for probe in [first.corner(false), first.corner(true)] {
                if !rest.iter().any(|e| e.cube.contains(&probe)) {
                    return Some(false);
                }
            }
        }
    }
    Some(false)
}
