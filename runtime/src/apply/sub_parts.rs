//! Placing a chain's new rules where its parts are, a long run of them in
//! sub-parts of its own (`layout::sub_part`).
//!
//! A rule new in a chain laid out in parts goes into the part of the rule
//! it is placed before. A run of many rules new in one place would make
//! that part long for good: each later change to it rebuilds all of it at
//! commit, and each rule of the run is placed by a handle the kernel finds
//! by walking the part (quadratic in the run). A run of
//! [`layout::SUB_PART_RUN`] rules or more therefore goes into new regular
//! chains `PART/partK` of at most [`layout::PART_RULES`] rules, each
//! appended to at its end, with one `jump` to each where the run stands.
//! A sub-part is entered by `jump` and falls back into its part at its
//! end, as a part does into its chain, and no rule already there moves.

use shriek_compiler::nft;

use crate::desired::Desired;
use crate::encode::{self, At, Batch, Place, SetRefs};
use crate::layout;
use crate::placement::Placed;

/// Writes `chain`'s new rules (`placed`, in the chain's order); `taken`
/// holds the parts the chain has now.
#[allow(clippy::too_many_arguments)]
pub(super) fn place(
    b: &mut Batch,
    desired: &Desired,
    refs: &SetRefs,
    table: &nft::Table,
    chain: &nft::Chain,
    taken: &[String],
    placed: &[Placed],
) {
    let name = table.name.as_str();
    let mut next_k: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    let mut i = 0;
    while i < placed.len() {
        // The run of new rules that stand together in one place.
        let Placed { index: j0, place: at, chain: kernel_chain, keyed } = placed[i];
        let mut end = i + 1;
        while end < placed.len()
            && placed[end].index == placed[end - 1].index + 1
            && placed[end].place == at
            && placed[end].chain == kernel_chain
        {
            end += 1;
        }
        let run = &chain.rules[j0..j0 + (end - i)];
        if run.len() >= layout::SUB_PART_RUN && layout::may_sub_part(table, kernel_chain, run) {
            let k = next_k.entry(kernel_chain).or_default();
            for (n, rules) in run.chunks(layout::PART_RULES).enumerate() {
                let sub = layout::sub_part(kernel_chain, taken, k);
                encode::chain(
                    b,
                    name,
                    &nft::Chain {
                        name: sub.clone(),
                        base: None,
                        rules: Vec::new(),
                        comment: Some(format!(
                            "part {} of chain {kernel_chain}, laid out by shriekc",
                            *k
                        )),
                    },
                );
                // A sub-part of a keyed part is reached by that part's
                // packets alone: its rules go without the match too.
                let first = j0 + n * layout::PART_RULES;
                for (o, r) in rules.iter().enumerate() {
                    let place = Place::End;
                    let at = At { table: name, chain: &sub, index: first + o, place, keyed };
                    encode::rule(b, desired.sources, refs, at, r);
                }
                let link = layout::link(&sub);
                let at =
                    At { table: name, chain: kernel_chain, index: first, place: at, keyed: false };
                encode::rule(b, desired.sources, refs, at, &link);
            }
        } else {
            for (o, r) in run.iter().enumerate() {
                let at = At { table: name, chain: kernel_chain, index: j0 + o, place: at, keyed };
                encode::rule(b, desired.sources, refs, at, r);
            }
        }
        i = end;
    }
}
