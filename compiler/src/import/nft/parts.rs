//! A long chain as `apply` lays it out in the kernel, read back as one.
//!
//! `apply` keeps a chain of more than 1,024 rules as parts (the runtime's
//! `layout.rs`): the chain itself holds only `jump NAME/partK`, one per
//! part in order, and each part is a regular chain `NAME/partK` holding a
//! slice of the chain's rules. `nft list ruleset` shows that layout, so an
//! import of a live table would otherwise write the parts as chains of
//! their own (`input_part1`, ...), each reached by a `jump`. A long run
//! of rules new in one place of a part sits in sub-parts of it
//! (`input/part98/part1`), each reached by a `jump` where the run stands;
//! they go back into their part first, innermost first. A part of one
//! protocol's rules is reached by `meta l4proto P jump NAME/partK`, its
//! rules written without that match: folding puts it back first on each
//! of them (and on those of its sub-parts), which gives every packet the
//! same fate, since no rule changes a packet's protocol.
//!
//! Putting the parts' rules back into their chain gives every packet the
//! same verdict only where a part never leaves its chain early: a part
//! holding a `return`, a `goto` or a verdict map (which may do either) is
//! left as it is, and so is a part that anything else refers to. `/` is in
//! no chain name a policy can write, so no chain of a policy is taken for
//! a part.

use std::collections::HashMap;

use super::{NChain, NItem, NRule, NSet, NVerdict, Right, Sel, Val};

/// What marks a part's name, as the runtime writes it.
const PART_MARK: &str = "/part";

/// The chain a part belongs to, from the part's name `CHAIN/partK`: `K` a
/// number from 1, written without leading zeros.
fn part_of(name: &str) -> Option<&str> {
    let (chain, k) = name.rsplit_once(PART_MARK)?;
    let n: usize = k.parse().ok()?;
    (n > 0 && !chain.is_empty() && n.to_string() == k).then_some(chain)
}

/// Puts the parts of each chain of a table back into it, in order, and
/// drops them; chains that are not exactly a chain of links to its own
/// parts, and parts that may tell themselves from their chain, stay.
pub(crate) fn fold(chains: &mut Vec<NChain>, sets: &[NSet]) {
    let refs = references(chains, sets);
    let position: HashMap<String, usize> =
        chains.iter().enumerate().map(|(i, c)| (c.name.clone(), i)).collect();
    let mut gone = vec![false; chains.len()];
    fold_sub_parts(chains, &refs, &position, &mut gone);
    for ci in 0..chains.len() {
        let Some(parts) = links(&chains[ci], &position) else { continue };
        let foldable = parts.iter().all(|&pi| {
            let p = &chains[pi];
            !gone[pi]
                && pi != ci
                && p.base.is_none()
                && refs.get(&p.name) == Some(&1)
                && p.rules.iter().all(|r| r.items.iter().all(stays_in_part))
        });
        let distinct: std::collections::HashSet<usize> = parts.iter().copied().collect();
        if !foldable || distinct.len() != parts.len() {
            continue;
        }
        let keys: Vec<Option<NItem>> = chains[ci].rules.iter().map(link_key).collect();
        let mut rules = Vec::new();
        for (&pi, key) in parts.iter().zip(keys) {
            let mut part = std::mem::take(&mut chains[pi].rules);
            if let Some(key) = key {
                for r in &mut part {
                    r.items.insert(0, key.clone());
                }
            }
            rules.append(&mut part);
            gone[pi] = true;
        }
        chains[ci].rules = rules;
    }
    let mut i = 0;
    chains.retain(|_| {
        i += 1;
        !gone[i - 1]
    });
}

/// Puts each sub-part (`PART/partK`, which `apply` makes for a long run of
/// rules new in one place of a part) back where its part jumps to it,
/// innermost first, under the same conditions as a part.
fn fold_sub_parts(
    chains: &mut [NChain],
    refs: &HashMap<String, usize>,
    position: &HashMap<String, usize>,
    gone: &mut [bool],
) {
    let depth = |name: &str| name.matches(PART_MARK).count();
    let mut order: Vec<usize> =
        (0..chains.len()).filter(|&i| part_of(&chains[i].name).is_some()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(depth(&chains[i].name)));
    for ci in order {
        if gone[ci] {
            continue;
        }
        let sub = |r: &NRule| match r.items.as_slice() {
            [NItem::Verdict(NVerdict::Jump(to))] if part_of(to) == Some(&chains[ci].name) => {
                let pi = *position.get(to)?;
                let p = &chains[pi];
                (pi != ci
                    && !gone[pi]
                    && p.base.is_none()
                    && refs.get(to) == Some(&1)
                    && p.rules.iter().all(|r| r.items.iter().all(stays_in_part)))
                .then_some(pi)
            }
            _ => None,
        };
        let links: Vec<Option<usize>> = chains[ci].rules.iter().map(sub).collect();
        if links.iter().all(Option::is_none) {
            continue;
        }
        let rules = std::mem::take(&mut chains[ci].rules);
        for (r, link) in rules.into_iter().zip(links) {
            match link {
                Some(pi) => {
                    let mut inner = std::mem::take(&mut chains[pi].rules);
                    chains[ci].rules.append(&mut inner);
                    gone[pi] = true;
                }
                None => chains[ci].rules.push(r),
            }
        }
    }
}

/// The parts chain `c` jumps to, when each of its rules (one at least) is
/// a `jump` to an existing chain named as a part of `c`, bare or keyed by
/// a protocol ([`link_key`]).
fn links(c: &NChain, position: &HashMap<String, usize>) -> Option<Vec<usize>> {
    if c.rules.is_empty() {
        return None;
    }
    c.rules
        .iter()
        .map(|r| match r.items.as_slice() {
            [NItem::Verdict(NVerdict::Jump(to))] if part_of(to) == Some(c.name.as_str()) => {
                position.get(to).copied()
            }
            [_, NItem::Verdict(NVerdict::Jump(to))]
                if part_of(to) == Some(c.name.as_str()) && link_key(r).is_some() =>
            {
                position.get(to).copied()
            }
            _ => None,
        })
        .collect()
}

/// The protocol match a link to a keyed part carries: `meta l4proto P` in
/// `meta l4proto P jump NAME/partK`.
fn link_key(r: &NRule) -> Option<NItem> {
    match r.items.as_slice() {
        [m @ NItem::Match { left, op, right: Right::Val(_) }, NItem::Verdict(NVerdict::Jump(_))]
            if matches!(left.as_slice(), [Sel::Meta(k)] if k == "l4proto")
                && matches!(op.as_str(), "==" | "") =>
        {
            Some(m.clone())
        }
        _ => None,
    }
}

/// Whether an expression acts the same in a part as in its chain: it does
/// not leave the chain early.
fn stays_in_part(item: &NItem) -> bool {
    !matches!(
        item,
        NItem::Verdict(NVerdict::Return | NVerdict::Goto(_) | NVerdict::Other(_))
            | NItem::Vmap { .. }
    )
}

/// How many times each chain is named by a `jump` or `goto` anywhere in
/// the table: in rules, in anonymous verdict maps and in named maps' data.
fn references(chains: &[NChain], sets: &[NSet]) -> HashMap<String, usize> {
    let mut refs: HashMap<String, usize> = HashMap::new();
    let mut verdict = |v: &NVerdict| {
        if let NVerdict::Jump(to) | NVerdict::Goto(to) = v {
            *refs.entry(to.clone()).or_default() += 1;
        }
    };
    for item in chains.iter().flat_map(|c| &c.rules).flat_map(|r| &r.items) {
        match item {
            NItem::Verdict(v) => verdict(v),
            NItem::Vmap { map: Right::Map(elements), .. }
            | NItem::Match { right: Right::Map(elements), .. } => {
                elements.iter().for_each(|(_, v)| verdict(v))
            }
            _ => {}
        }
    }
    // A named map's data, read as `nft/rule.rs` reads it.
    for (_, data) in sets.iter().flat_map(|s| &s.elements) {
        if let Some(Val::Word(w)) = data {
            verdict(&NVerdict::parse(w));
        }
    }
    refs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn part_names() {
        assert_eq!(part_of("input/part3"), Some("input"));
        assert_eq!(part_of("a/b/part12"), Some("a/b"));
        assert_eq!(part_of("input/part03"), None);
        assert_eq!(part_of("input/part0"), None);
        assert_eq!(part_of("/part1"), None);
        assert_eq!(part_of("input"), None);
    }
}
