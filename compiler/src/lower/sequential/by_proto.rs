//! A sequential chain's rules grouped by transport protocol, where that
//! changes no packet's fate.
//!
//! A rule whose first expression is `meta l4proto P` ([`nft::Rule::single_proto`])
//! does nothing at all to a packet of another protocol: the match fails
//! before any statement runs. Two neighbouring rules of different
//! protocols therefore never both act on one packet, and swapping them
//! changes nothing any packet meets, its counters, limits and marks
//! included (no rule changes a packet's protocol). So within each maximal
//! window of such rules, the rules are stably grouped by protocol, in the
//! order of protocol numbers (ICMP 1, TCP 6, UDP 17, ...): a chain's TCP
//! rules and UDP rules each keep the policy's order among themselves. A rule of any
//! other shape (several protocols, none, or a match before the protocol)
//! ends the window and keeps its place.
//!
//! The runtime builds on the groups (`runtime/src/layout.rs`): a long
//! chain's part holding one protocol's rules says `meta l4proto P` once,
//! on the `jump` that enters it, and its rules go without it, which the
//! kernel loads and validates faster and a packet of another protocol
//! skips whole. `compile` shows the grouped order, so the model that
//! `plan`, `stats` and the diff compare is the one the kernel holds. Only
//! a chain long enough to be laid out in parts (more than
//! [`nft::vocab::PART_RULES`] nft rules) is grouped: a shorter one reads
//! as written. In a long chain, an edit that adds, removes or makes a
//! rule of no single protocol changes the windows around it, so rules of
//! two protocols there may change places (their counts are carried, as
//! for any rule that moves).

use crate::nft;

/// Groups `rules`, a chain's, by protocol within each window (see the
/// module), when there are more of them than one part of a chain holds:
/// a shorter chain stays one chain in the kernel, where grouping would
/// gain nothing, so its rules keep the order they are written in.
pub(crate) fn group(rules: &mut [nft::Rule]) {
    if rules.len() <= nft::vocab::PART_RULES {
        return;
    }
    group_windows(rules);
}

/// Groups `rules` by protocol within each window, whatever their number.
fn group_windows(rules: &mut [nft::Rule]) {
    let mut start = 0;
    while start < rules.len() {
        if rules[start].single_proto().is_none() {
            start += 1;
            continue;
        }
        let end = start + rules[start..].iter().take_while(|r| r.single_proto().is_some()).count();
        group_window(&mut rules[start..end]);
        start = end;
    }
}

/// One window, every rule of a single protocol: a stable sort by
/// protocol number. The number, not the order of first appearance, so
/// that a rule added to a window lands among its own protocol's rules and
/// moves no other.
fn group_window(window: &mut [nft::Rule]) {
    let protos: Vec<u8> = window
        .iter()
        .map(|r| r.single_proto().expect("a window holds single-protocol rules"))
        .collect();
    if protos.windows(2).all(|w| w[0] <= w[1]) {
        return;
    }
    // A stable sort by protocol, moving each rule once: take the rules
    // out in their grouped order and put them back.
    let mut order: Vec<usize> = (0..window.len()).collect();
    order.sort_by_key(|&i| protos[i]);
    let mut taken: Vec<Option<nft::Rule>> =
        window.iter_mut().map(|r| Some(std::mem::replace(r, empty()))).collect();
    for (slot, i) in window.iter_mut().zip(order) {
        *slot = taken[i].take().expect("each rule is put back once");
    }
}

fn empty() -> nft::Rule {
    nft::Rule { exprs: Vec::new(), origin: Vec::new() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nft::{Expr, Verdict};

    /// A rule of protocol `p` (0: none) that accepts, marked by `tag` in
    /// its verdict so the order shows.
    fn r(p: u8, tag: u32) -> nft::Rule {
        let mut exprs = Vec::new();
        if p != 0 {
            exprs.push(Expr::l4proto_is(p));
        }
        exprs.push(Expr::Verdict(Verdict::Jump(format!("c{tag}"))));
        nft::Rule { exprs, origin: Vec::new() }
    }

    fn tags(rules: &[nft::Rule]) -> Vec<String> {
        rules
            .iter()
            .map(|r| match r.exprs.last() {
                Some(Expr::Verdict(Verdict::Jump(c))) => c.clone(),
                _ => String::new(),
            })
            .collect()
    }

    #[test]
    fn windows_group_by_protocol_and_others_stay() {
        let mut rules =
            vec![r(17, 1), r(6, 2), r(17, 3), r(6, 4), r(0, 5), r(6, 6), r(1, 7), r(6, 8)];
        group_windows(&mut rules);
        assert_eq!(tags(&rules), ["c2", "c4", "c1", "c3", "c5", "c7", "c6", "c8"]);
    }

    #[test]
    fn a_chain_of_one_protocol_keeps_its_order() {
        let mut rules = vec![r(6, 1), r(6, 2), r(0, 3), r(6, 4)];
        group_windows(&mut rules);
        assert_eq!(tags(&rules), ["c1", "c2", "c3", "c4"]);
    }

    #[test]
    fn a_chain_that_stays_whole_keeps_its_order() {
        let mut rules: Vec<nft::Rule> = (0..nft::vocab::PART_RULES as u32)
            .map(|i| r(if i % 2 == 0 { 17 } else { 6 }, i))
            .collect();
        let before = rules.clone();
        group(&mut rules);
        assert_eq!(rules, before);
        rules.push(r(6, 9999));
        group(&mut rules);
        assert_eq!(tags(&rules[..2]), ["c1", "c3"]);
    }
}
