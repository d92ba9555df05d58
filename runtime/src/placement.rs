//! Where each rule new in a chain goes in the kernel, when the chain is
//! laid out in parts (`layout`), some of them keyed by a protocol.
//!
//! A new rule goes just before the first untouched rule that follows it
//! in the new chain, into the part (or sub-part) that holds that rule, or
//! at the end of the chain's last part. A keyed part is entered only by
//! packets of its protocol, so a rule goes into one only when it begins
//! with that protocol's match (written without it, `encode::At::keyed`).
//! A rule of another protocol (or of none) that stands right before a
//! keyed part's first rule goes at the end of the part before, when that
//! part takes it; one that stands after the last part's rules goes into
//! a new part at the chain's end, keyed when its rules share a protocol.
//! Anywhere else it would stand among a keyed part's rules, where no
//! packet it matches would reach it: that is a [`Misfit`], and `plan`
//! lays the table out again instead (rebuilt, counters carried), which
//! is never wrong. The sequential lowering groups a chain's rules by
//! protocol (`lower::sequential::by_proto`), so a new rule of a protocol
//! stands among the rules of that protocol, and misfits are rare: a rule
//! of no single protocol put among one protocol's many rules.

use shriek_compiler::diff::structural::{Action, ChainDelta};
use shriek_compiler::nft;

use crate::decode::LiveTable;
use crate::encode::Place;
use crate::layout;

/// Where one new rule goes: its index in the new chain, its place, the
/// kernel chain (the chain, a part or a sub-part), and whether that chain
/// is keyed by the rule's protocol.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Placed<'a> {
    pub index: usize,
    pub place: Place,
    pub chain: &'a str,
    pub keyed: bool,
}

/// A part made for new rules at the chain's end: its name, its protocol
/// when keyed, and the indices of its rules in the new chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct NewPart {
    pub name: String,
    pub key: Option<u8>,
    pub rules: std::ops::Range<usize>,
}

/// Where the new rules of a chain go.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Placement<'a> {
    /// Into the chain or its parts, in the chain's order.
    pub placed: Vec<Placed<'a>>,
    /// Into new parts at the chain's end, after everything in `placed`.
    pub new_parts: Vec<NewPart>,
}

/// A new rule (its index in the new chain) that would stand among the
/// rules of a part keyed by another protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Misfit(pub usize);

/// The old index of the first untouched rule after new rule `j`, if any.
pub(crate) fn before(cd: &ChainDelta, j: usize) -> Option<usize> {
    let next = cd.kept.partition_point(|&(_, b)| b < j);
    cd.kept.get(next).map(|&(a, _)| a)
}

/// Where the new rules of chain `chain` (its delta `cd`; `meta` the live
/// table) go.
pub(crate) fn place<'a>(
    cd: &ChainDelta,
    chain: &'a nft::Chain,
    meta: &'a LiveTable,
) -> Result<Placement<'a>, Misfit> {
    let mut new: Vec<usize> = cd
        .rules
        .iter()
        .filter(|e| matches!(e.action, Action::Add | Action::Change | Action::Move))
        .filter_map(|e| e.new)
        .collect();
    new.sort_unstable();
    let mut out = Placement::default();
    let Some(ci) = cd.old else {
        out.placed = new.iter().map(|&j| plain(j, Place::End, &chain.name)).collect();
        return Ok(out);
    };
    let rules = &meta.rules[ci];
    // The chain's own parts in order (their sub-parts come after them).
    let own: Vec<&str> = meta.parts[ci]
        .iter()
        .map(String::as_str)
        .filter(|p| layout::part_of(p).is_some_and(|(of, _)| of == chain.name))
        .collect();
    let key = |kernel_chain: &str| meta.part_keys.get(kernel_chain).copied();
    let fits = |j: usize, kernel_chain: &str| match key(kernel_chain) {
        None => true,
        Some(p) => chain.rules[j].single_proto() == Some(p),
    };
    let into = |j: usize, place: Place, kernel_chain: &'a str| Placed {
        index: j,
        place,
        chain: kernel_chain,
        keyed: key(kernel_chain).is_some(),
    };
    let mut i = 0;
    while i < new.len() {
        // The run of new rules that share the untouched rule after them.
        let next = before(cd, new[i]);
        let end = i + new[i..].iter().take_while(|&&j| before(cd, j) == next).count();
        let run = &new[i..end];
        i = end;
        let Some(ri) = next else {
            // At the chain's end: into its last part while they fit, the
            // rest into new parts.
            let Some(&last) = own.last() else {
                out.placed.extend(run.iter().map(|&j| plain(j, Place::End, &chain.name)));
                continue;
            };
            let fit = run.iter().take_while(|&&j| fits(j, last)).count();
            out.placed.extend(run[..fit].iter().map(|&j| into(j, Place::End, last)));
            if fit < run.len() {
                out.new_parts = new_parts(chain, &own, &run[fit..]);
            }
            continue;
        };
        let n = &rules[ri];
        let here = n.kernel_chain(&chain.name);
        // The part before, when `n` is the first rule of its part.
        let top = |ri: usize| rules[ri].part.as_deref().map(|p| layout::top_part(&chain.name, p));
        let first_of_part = ri == 0 || top(ri - 1) != top(ri);
        let earlier = top(ri)
            .and_then(|p| own.iter().position(|&o| o == p))
            .and_then(|k| k.checked_sub(1))
            .map(|k| own[k])
            .filter(|_| first_of_part);
        // Into the part before while they fit there (only when `n`'s part
        // is keyed: otherwise everything fits where it always went), then
        // into `n`'s part, so that the run keeps its order.
        let mut in_here = key(here).is_none();
        for &j in run {
            match earlier {
                Some(q) if !in_here && fits(j, q) => out.placed.push(into(j, Place::End, q)),
                _ if fits(j, here) => {
                    in_here = true;
                    out.placed.push(into(j, Place::Before(n.handle), here));
                }
                _ => return Err(Misfit(j)),
            }
        }
    }
    Ok(out)
}

fn plain(j: usize, place: Place, chain: &str) -> Placed<'_> {
    Placed { index: j, place, chain, keyed: false }
}

/// New parts after the chain's own parts `own`, for new rules `tail` (a
/// run of indices at the new chain's end), laid out as a chain's parts
/// are (`layout::part_runs`).
fn new_parts(chain: &nft::Chain, own: &[&str], tail: &[usize]) -> Vec<NewPart> {
    let mut k = own.iter().filter_map(|p| layout::part_of(p)).map(|(_, k)| k).max().unwrap_or(0);
    let (first, end) = (tail[0], tail[tail.len() - 1] + 1);
    debug_assert_eq!(end - first, tail.len(), "the rules at a chain's end stand together");
    let mut out = Vec::new();
    for (start, stop, key) in layout::part_runs(&chain.rules[first..end]) {
        let mut at = first + start;
        while at < first + stop {
            let to = (at + layout::PART_RULES).min(first + stop);
            k += 1;
            out.push(NewPart { name: layout::part_name(&chain.name, k), key, rules: at..to });
            at = to;
        }
    }
    out
}
