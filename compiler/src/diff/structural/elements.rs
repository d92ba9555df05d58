//! The element edits between two sets of one shape (`structural::sets`).
//!
//! A large map's elements are most of a day-2 plan's work, and in a
//! one-rule change almost every element is on both sides in the same
//! order: the lowering writes a map's elements sorted by key, and the
//! decoder sorts the live side's so. So the two sides are first walked
//! together by key ([`paired`]), which sets aside the elements that are
//! the same on both sides, and only the few left are looked up; that gives
//! the same edits as hashing every element of both sides ([`hashed`]),
//! which is what is done when the sides are not in one order.

use std::collections::{HashMap, HashSet};

use super::{Action, Edit};
use crate::identity::{canonical_element, canonical_key};
use crate::nft;

/// Element edits between two sets of one shape: an element whose key is on
/// both sides with other data is a change.
///
/// Each element's encoding is made once per key it is read under (both
/// sides share one key in all but a renamed field), and the two sides'
/// on two cores.
pub(super) fn elements(o: &nft::Set, n: &nft::Set) -> Vec<Edit> {
    let encode = |key: &[nft::Selector], s: &nft::Set| -> Vec<Vec<u8>> {
        s.elements.iter().map(|e| canonical_element(key, e)).collect()
    };
    let (o_own, n_own) = rayon::join(|| encode(&o.key, o), || encode(&n.key, n));
    if o.key == n.key {
        return paired(o, n, &o_own, &n_own)
            .unwrap_or_else(|| hashed(o, n, &o_own, &n_own, &o_own, &n_own));
    }
    let (o_as_new, n_as_old) = (encode(&n.key, o), encode(&o.key, n));
    hashed(o, n, &o_own, &n_own, &o_as_new, &n_as_old)
}

/// At most this many elements, of both sides together, left unpaired for
/// [`paired`]; more, and [`hashed`] does it.
const FEW: usize = 1024;

/// [`hashed`]'s edits for two sets of one key, when walking both sides in
/// key order pairs all but at most [`FEW`] elements with an element of the
/// same encoding on the other side. A paired element is on both sides, so
/// it makes no edit whatever the order of the sides (nor in which order
/// they repeat an element); an element left over is on the other side
/// when it is among that side's leftovers or among the paired elements,
/// which are the same on both sides (one pass over them, against the
/// few).
fn paired(o: &nft::Set, n: &nft::Set, o_own: &[Vec<u8>], n_own: &[Vec<u8>]) -> Option<Vec<Edit>> {
    let (mut old_rest, mut new_rest) = (Vec::new(), Vec::new());
    let (mut i, mut j) = (0, 0);
    while i < o_own.len() && j < n_own.len() {
        match o.elements[i].key.cmp(&n.elements[j].key) {
            std::cmp::Ordering::Less => {
                old_rest.push(i);
                i += 1;
            }
            std::cmp::Ordering::Greater => {
                new_rest.push(j);
                j += 1;
            }
            std::cmp::Ordering::Equal => {
                if o_own[i] != n_own[j] {
                    old_rest.push(i);
                    new_rest.push(j);
                }
                i += 1;
                j += 1;
            }
        }
        if old_rest.len() + new_rest.len() > FEW {
            return None;
        }
    }
    old_rest.extend(i..o_own.len());
    new_rest.extend(j..n_own.len());
    if old_rest.is_empty() && new_rest.is_empty() {
        return Some(Vec::new());
    }
    if old_rest.len() + new_rest.len() > FEW {
        return None;
    }
    let rest_old: HashSet<&[u8]> = old_rest.iter().map(|&i| o_own[i].as_slice()).collect();
    let rest_new: HashSet<&[u8]> = new_rest.iter().map(|&j| n_own[j].as_slice()).collect();
    // The paired elements that are among the leftovers too: the old side's
    // elements less its leftovers (both in order).
    let mut left = old_rest.iter().peekable();
    let common: HashSet<&[u8]> = (0..o_own.len())
        .filter(|&i| {
            let rest = left.peek() == Some(&&i);
            if rest {
                left.next();
            }
            !rest
        })
        .map(|i| o_own[i].as_slice())
        .filter(|x| rest_old.contains(x) || rest_new.contains(x))
        .collect();
    let in_old = |x: &[u8]| common.contains(x) || rest_old.contains(x);
    let in_new = |x: &[u8]| common.contains(x) || rest_new.contains(x);
    let old_keys: HashMap<Vec<u8>, usize> = old_rest
        .iter()
        .copied()
        .filter(|&i| !in_new(&o_own[i]))
        .map(|i| (canonical_key(&o.key, &o.elements[i].key), i))
        .collect();
    let mut out = Vec::new();
    let mut changed_old = HashSet::new();
    for ni in new_rest {
        if in_old(&n_own[ni]) {
            continue;
        }
        match old_keys.get(&canonical_key(&n.key, &n.elements[ni].key)) {
            Some(&oi) => {
                changed_old.insert(oi);
                out.push(Edit { action: Action::Change, old: Some(oi), new: Some(ni) });
            }
            None => out.push(Edit { action: Action::Add, old: None, new: Some(ni) }),
        }
    }
    for oi in old_rest {
        if !changed_old.contains(&oi) && !in_new(&o_own[oi]) {
            out.push(Edit { action: Action::Remove, old: Some(oi), new: None });
        }
    }
    Some(out)
}

/// The edits by hashing each side's encodings whole: for sets of any
/// order. `o_as_new` and `n_as_old` are each side's elements encoded under
/// the other side's key.
fn hashed(
    o: &nft::Set,
    n: &nft::Set,
    o_own: &[Vec<u8>],
    n_own: &[Vec<u8>],
    o_as_new: &[Vec<u8>],
    n_as_old: &[Vec<u8>],
) -> Vec<Edit> {
    let ow: HashSet<&[u8]> = o_own.iter().map(Vec::as_slice).collect();
    let nw: HashSet<&[u8]> = n_own.iter().map(Vec::as_slice).collect();
    let old_keys: HashMap<Vec<u8>, usize> = o
        .elements
        .iter()
        .enumerate()
        .filter(|(i, _)| !nw.contains(o_as_new[*i].as_slice()))
        .map(|(i, e)| (canonical_key(&o.key, &e.key), i))
        .collect();
    let mut out = Vec::new();
    let mut changed_old = vec![false; o.elements.len()];
    for (ni, e) in n.elements.iter().enumerate() {
        if ow.contains(n_as_old[ni].as_slice()) {
            continue;
        }
        match old_keys.get(&canonical_key(&n.key, &e.key)) {
            Some(&oi) => {
                changed_old[oi] = true;
                out.push(Edit { action: Action::Change, old: Some(oi), new: Some(ni) });
            }
            None => out.push(Edit { action: Action::Add, old: None, new: Some(ni) }),
        }
    }
    for oi in 0..o.elements.len() {
        if !changed_old[oi] && !nw.contains(o_as_new[oi].as_slice()) {
            out.push(Edit { action: Action::Remove, old: Some(oi), new: None });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::nft::{Data, DataType, Elem, Element, Part, Selector, Verdict};

    /// A map from a port to a verdict; `(port, accept)` pairs, repeats and
    /// all.
    fn map(elements: &[(u8, bool)]) -> nft::Set {
        nft::Set {
            name: "m".into(),
            key: vec![Selector::ThDport],
            interval: false,
            data: Some(DataType::Verdict),
            elements: elements
                .iter()
                .map(|&(p, accept)| Element {
                    key: Elem(vec![Part::Int(p.into(), p.into())]),
                    data: Some(Data::Verdict(if accept { Verdict::Accept } else { Verdict::Drop })),
                    origin: vec![],
                })
                .collect(),
            counters: false,
            comment: None,
            dynamic: None,
        }
    }

    fn own(s: &nft::Set) -> Vec<Vec<u8>> {
        s.elements.iter().map(|e| canonical_element(&s.key, e)).collect()
    }

    proptest! {
        /// The law: pairing the elements the same on both sides, walking
        /// them by key, gives the edits hashing both sides whole gives, in
        /// the same order. Few ports, so that elements repeat and keys meet
        /// with other verdicts; the old side sorted by key or not; a few
        /// edits anywhere (a verdict flipped, an element put in, taken out
        /// or repeated), the new side sorted again or not.
        #[test]
        fn paired_edits_are_the_hashed_ones(
            mut old in proptest::collection::vec((0u8..24, any::<bool>()), 0..120),
            edits in proptest::collection::vec((0u8..4, any::<usize>(), 0u8..24, any::<bool>()), 0..8),
            sort in (any::<bool>(), any::<bool>()),
        ) {
            if sort.0 {
                old.sort();
            }
            let mut new = old.clone();
            for (kind, at, port, accept) in edits {
                let at = if new.is_empty() { 0 } else { at % new.len() };
                match kind {
                    0 if !new.is_empty() => new[at].1 = !new[at].1,
                    1 => new.insert(at, (port, accept)),
                    2 if !new.is_empty() => { new.remove(at); }
                    3 if !new.is_empty() => new.insert(at, new[at]),
                    _ => {}
                }
            }
            if sort.1 {
                new.sort();
            }
            let (o, n) = (map(&old), map(&new));
            let (o_own, n_own) = (own(&o), own(&n));
            let quick = paired(&o, &n, &o_own, &n_own);
            prop_assert!(quick.is_some(), "at most 240 elements are left over");
            prop_assert_eq!(quick.unwrap(), hashed(&o, &n, &o_own, &n_own, &o_own, &n_own));
        }
    }
}
