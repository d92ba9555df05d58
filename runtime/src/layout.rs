//! How a long chain is laid out in the kernel: in bounded parts.
//!
//! The kernel handles a chain as one list: a commit that touches a chain
//! rebuilds its whole rule blob, and a dump of it comes in 32 KiB pieces,
//! each of which walks the list from its head. A one-rule change to a
//! chain of 100,000 rules therefore costs a long transaction, and reading
//! the chain back is quadratic. So `apply` lays a chain longer than
//! [`PART_RULES`] out as parts of at most that many rules, each a regular
//! chain `NAME/partK`, which the chain itself jumps to in order. A rule
//! change then touches one part, and each part is dumped on its own.
//!
//! The layout is the runtime's alone: `compile`, `plan` and the structural
//! diff see one chain, because reading the table back ([`fold`]) puts the
//! parts' rules back in their chain, each remembering the part that holds
//! it. A rule added later goes into the part of the rule it is placed
//! before (or the last part), so parts are made only with their chain; a
//! run of [`SUB_PART_RUN`] or more rules new in one place of a part goes
//! into sub-parts of it instead (`NAME/partK/partJ`, [`sub_part`]), each
//! reached by a `jump` where the run stands, so that the part does not
//! grow by the run and no rule already there moves.
//!
//! **Invariant:** a chain laid out in parts gives every packet the verdict
//! the chain gives it. A part is entered by `jump` and falls back into the
//! chain at its end, which then jumps to the next part, so only a rule that
//! leaves its chain early on its own terms (`return`, `goto`, or a verdict
//! map, which may do either) could tell the difference: a chain holding one
//! of them is never split, nor one whose parts would go past the kernel's
//! jump depth; a chain already in parts that gains one is laid out whole
//! again (`plan` replaces its table). A sub-part is entered and left the
//! same way, from its part; it is made only under a part of a base chain
//! and only for a run that jumps nowhere ([`may_sub_part`]).

use std::borrow::Cow;

use shriek_compiler::ir::BaseChain;
use shriek_compiler::nft::{self, Expr, Verdict};

/// The most rules a part holds when it is made.
pub(crate) const PART_RULES: usize = 1024;

/// The kernel's limit on a chain name, its final NUL included.
const CHAIN_NAME_MAX: usize = 256;

/// What marks a part's name: `/` is in no chain name a policy can write.
const PART_MARK: &str = "/part";

/// The name of part `k` (from 1) of `chain`.
pub(crate) fn part_name(chain: &str, k: usize) -> String {
    format!("{chain}{PART_MARK}{k}")
}

/// The chain a part belongs to, and its number, from the part's name.
pub(crate) fn part_of(name: &str) -> Option<(&str, usize)> {
    let (chain, k) = name.rsplit_once(PART_MARK)?;
    let k: usize = k.parse().ok()?;
    (k > 0 && !chain.is_empty() && part_name(chain, k) == name).then_some((chain, k))
}

/// Table `t` as the kernel should hold it: every chain that may be split
/// laid out in parts, the others as they are. A copy only where a chain
/// is split; [`laid_out`] says the same without copying a rule.
pub(crate) fn physical(t: &nft::Table) -> Cow<'_, nft::Table> {
    let laid = laid_out(t);
    if laid.iter().all(|c| matches!(c.rules, Cow::Borrowed(_)) && c.is_whole()) {
        return Cow::Borrowed(t);
    }
    Cow::Owned(nft::Table {
        name: t.name.clone(),
        sets: t.sets.clone(),
        counters: t.counters.clone(),
        chains: laid.into_iter().map(Laid::into_chain).collect(),
    })
}

/// One chain as the kernel holds it, borrowing the policy's rules: a
/// chain kept whole, the head of a chain in parts (its links), or a part
/// (a slice of its chain's rules).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Laid<'a> {
    pub name: Cow<'a, str>,
    pub base: Option<&'a BaseChain>,
    pub comment: Option<Cow<'a, str>>,
    pub rules: Cow<'a, [nft::Rule]>,
}

impl<'a> Laid<'a> {
    /// Chain `c` as it is.
    pub fn whole(c: &'a nft::Chain) -> Laid<'a> {
        Laid {
            name: Cow::Borrowed(&c.name),
            base: c.base.as_ref(),
            comment: c.comment.as_deref().map(Cow::Borrowed),
            rules: Cow::Borrowed(&c.rules),
        }
    }

    fn is_whole(&self) -> bool {
        matches!(self.name, Cow::Borrowed(_))
    }

    fn into_chain(self) -> nft::Chain {
        nft::Chain {
            name: self.name.into_owned(),
            base: self.base.cloned(),
            rules: self.rules.into_owned(),
            comment: self.comment.map(Cow::into_owned),
        }
    }
}

/// The chains of table `t` as [`physical`] lays them out, in its order,
/// each part borrowing its rules from its chain: encoding a table whole
/// needs no copy of its 100,000 rules.
pub(crate) fn laid_out(t: &nft::Table) -> Vec<Laid<'_>> {
    let split: Vec<bool> = t.chains.iter().map(|c| splittable(t, c)).collect();
    let any = split.contains(&true) && parts_keep_jump_depth(t, &split);
    let mut out = Vec::with_capacity(t.chains.len());
    for (c, &s) in t.chains.iter().zip(&split) {
        if any && s {
            out.extend(split_borrowed(c));
        } else {
            out.push(Laid::whole(c));
        }
    }
    out
}

/// Chain `c` as its parts, borrowing its rules: first the chain itself,
/// holding one `jump` to each part, then the parts in order.
fn split_borrowed(c: &nft::Chain) -> Vec<Laid<'_>> {
    let mut head = Laid { rules: Cow::Owned(Vec::new()), ..Laid::whole(c) };
    let mut parts = Vec::new();
    for (i, rules) in c.rules.chunks(PART_RULES).enumerate() {
        let name = part_name(&c.name, i + 1);
        head.rules.to_mut().push(link(&name));
        parts.push(Laid {
            comment: Some(Cow::Owned(format!(
                "part {} of chain {}, laid out by shriekc",
                i + 1,
                c.name
            ))),
            name: Cow::Owned(name),
            base: None,
            rules: Cow::Borrowed(rules),
        });
    }
    std::iter::once(head).chain(parts).collect()
}

/// Whether splitting the chains marked in `split` keeps table `t` within
/// the kernel's jump depth (see [`parts_stay_within_jump_depth`]), judged
/// on the parted table's jumps alone: a rule or element that jumps nowhere
/// neither deepens nor loops a path, so parts holding only the rules that
/// jump, and maps only the elements that do, decide as the parts would,
/// without a copy of the rest.
fn parts_keep_jump_depth(t: &nft::Table, split: &[bool]) -> bool {
    let jumps = |r: &&nft::Rule| {
        r.exprs.iter().any(|e| {
            matches!(e, Expr::Verdict(Verdict::Jump(_) | Verdict::Goto(_)) | Expr::Vmap { .. })
        })
    };
    let bare = |l: Laid| nft::Chain {
        name: l.name.into_owned(),
        base: l.base.cloned(),
        rules: l.rules.iter().filter(jumps).cloned().collect(),
        comment: None,
    };
    let mut chains = Vec::new();
    for (c, &s) in t.chains.iter().zip(split) {
        if s {
            chains.extend(split_borrowed(c).into_iter().map(bare));
        } else {
            chains.push(bare(Laid::whole(c)));
        }
    }
    let sets = t
        .sets
        .iter()
        .map(|s| nft::Set {
            name: s.name.clone(),
            key: s.key.clone(),
            interval: s.interval,
            data: s.data,
            elements: s
                .elements
                .iter()
                .filter(|e| {
                    matches!(e.data, Some(nft::Data::Verdict(Verdict::Jump(_) | Verdict::Goto(_))))
                })
                .cloned()
                .collect(),
            counters: s.counters,
            comment: None,
            dynamic: None,
        })
        .collect();
    let parted = nft::Table { name: t.name.clone(), sets, counters: Vec::new(), chains };
    parts_stay_within_jump_depth(t, &parted)
}

/// Parts add one level of jumps below their chain: where that would take
/// a table that was within the kernel's jump stack past it, the chains
/// stay whole.
fn parts_stay_within_jump_depth(whole: &nft::Table, parted: &nft::Table) -> bool {
    crate::apply::table_jump_depth_error(whole).is_some()
        || crate::apply::table_jump_depth_error(parted).is_none()
}

/// Whether chain `c`, new in table `t` that is changed in place, is made
/// in parts: when it may be split ([`splittable`]) and its parts keep the
/// table within the kernel's jump depth, as [`physical`] decides for a
/// whole table. Only a chain long enough to split costs a copy of the
/// table's chains here.
pub(crate) fn split_when_made(t: &nft::Table, c: &nft::Chain) -> bool {
    if !splittable(t, c) {
        return false;
    }
    let mut parted = nft::Table {
        name: t.name.clone(),
        sets: t.sets.clone(),
        counters: t.counters.clone(),
        chains: Vec::with_capacity(t.chains.len() + c.rules.len().div_ceil(PART_RULES)),
    };
    for o in &t.chains {
        if o.name == c.name {
            parted.chains.extend(split(o));
        } else {
            parted.chains.push(o.clone());
        }
    }
    parts_stay_within_jump_depth(t, &parted)
}

/// Whether chain `c` of `t` is long enough to split and holds nothing that
/// would act differently inside a part.
pub(crate) fn splittable(t: &nft::Table, c: &nft::Chain) -> bool {
    let parts = c.rules.len().div_ceil(PART_RULES);
    c.rules.len() > PART_RULES
        && part_name(&c.name, parts).len() < CHAIN_NAME_MAX
        && !t.chains.iter().any(|o| part_of(&o.name).is_some_and(|(p, _)| p == c.name))
        && runs_in_parts(c)
}

/// Whether every rule of chain `c` gives a packet the same verdict inside
/// a part as in the chain itself: none leaves its chain early.
pub(crate) fn runs_in_parts(c: &nft::Chain) -> bool {
    c.rules.iter().flat_map(|r| &r.exprs).all(|e| {
        !matches!(e, Expr::Verdict(Verdict::Return | Verdict::Goto(_)) | Expr::Vmap { .. })
    })
}

/// Chain `c` as its parts: first the chain itself, holding one `jump` to
/// each part, then the parts in order.
pub(crate) fn split(c: &nft::Chain) -> Vec<nft::Chain> {
    split_borrowed(c).into_iter().map(Laid::into_chain).collect()
}

/// The rule that enters a part.
pub(crate) fn link(part: &str) -> nft::Rule {
    nft::Rule { exprs: vec![Expr::Verdict(Verdict::Jump(part.to_string()))], origin: Vec::new() }
}

/// The part rule `r` enters, when it is a link.
fn link_target(r: &nft::Rule) -> Option<&str> {
    match r.exprs.as_slice() {
        [Expr::Verdict(Verdict::Jump(to))] => Some(to),
        _ => None,
    }
}

/// Puts the parts of each chain back into it, as read from the kernel:
/// `chains[i]` and `meta[i]` (what the kernel knows of each rule) become
/// the chain's own rules, each tagged with the part that holds it, and
/// the parts go. Returns each remaining chain's parts: its own, in order,
/// then their sub-parts ([`sub_part`]), each after the part holding it.
/// A chain whose rules are not exactly links to its own parts is left as
/// it is, and so are its parts: `plan` then shows what is there.
pub(crate) fn fold<M>(
    chains: &mut Vec<nft::Chain>,
    meta: &mut Vec<Vec<M>>,
    mut tag: impl FnMut(&mut M, &str),
) -> Vec<Vec<String>> {
    let position = |chains: &[nft::Chain], name: &str| chains.iter().position(|c| c.name == name);
    let mut parts_of: Vec<Vec<String>> = vec![Vec::new(); chains.len()];
    let mut gone = vec![false; chains.len()];
    // Each rule is tagged once, with the innermost part that holds it.
    let mut tagged: Vec<Vec<bool>> = meta.iter().map(|m| vec![false; m.len()]).collect();
    let subs = fold_sub_parts(chains, meta, &mut tagged, &mut gone, &mut tag);
    for ci in 0..chains.len() {
        let head = &chains[ci];
        if head.rules.is_empty() || gone[ci] {
            continue;
        }
        let targets: Option<Vec<(usize, String)>> = head
            .rules
            .iter()
            .map(|r| {
                let to = link_target(r)?;
                let (of, _) = part_of(to)?;
                let pi = position(chains, to)?;
                (of == head.name && chains[pi].base.is_none() && !gone[pi])
                    .then(|| (pi, to.to_string()))
            })
            .collect();
        let Some(targets) = targets else { continue };
        let distinct: std::collections::HashSet<usize> = targets.iter().map(|t| t.0).collect();
        if distinct.len() != targets.len() {
            continue;
        }
        let mut rules = Vec::new();
        let mut tags = Vec::new();
        let mut done = Vec::new();
        for (pi, name) in &targets {
            rules.extend(std::mem::take(&mut chains[*pi].rules));
            let inner = std::mem::take(&mut tagged[*pi]);
            for (mut m, inner) in std::mem::take(&mut meta[*pi]).into_iter().zip(inner) {
                if !inner {
                    tag(&mut m, name);
                }
                tags.push(m);
                done.push(true);
            }
            gone[*pi] = true;
        }
        chains[ci].rules = rules;
        meta[ci] = tags;
        tagged[ci] = done;
        let mut names: Vec<String> = targets.iter().map(|(_, n)| n.clone()).collect();
        for (pi, _) in &targets {
            names.extend(subs[*pi].iter().cloned());
        }
        parts_of[ci] = names;
    }
    let mut i = 0;
    chains.retain(|_| {
        i += 1;
        !gone[i - 1]
    });
    let mut i = 0;
    meta.retain(|_| {
        i += 1;
        !gone[i - 1]
    });
    let mut i = 0;
    parts_of.retain(|_| {
        i += 1;
        !gone[i - 1]
    });
    parts_of
}

/// Puts each sub-part back into the part that links to it, innermost
/// first: the link rule becomes the sub-part's rules, tagged with it.
/// Returns, for each chain, the sub-parts put into it (theirs included,
/// each after the one holding it).
fn fold_sub_parts<M>(
    chains: &mut [nft::Chain],
    meta: &mut [Vec<M>],
    tagged: &mut [Vec<bool>],
    gone: &mut [bool],
    tag: &mut impl FnMut(&mut M, &str),
) -> Vec<Vec<String>> {
    let mut subs: Vec<Vec<String>> = vec![Vec::new(); chains.len()];
    let depth = |name: &str| name.matches(PART_MARK).count();
    let mut order: Vec<usize> =
        (0..chains.len()).filter(|&i| part_of(&chains[i].name).is_some()).collect();
    if order.is_empty() {
        return subs;
    }
    let position: std::collections::HashMap<String, usize> =
        chains.iter().enumerate().map(|(i, c)| (c.name.clone(), i)).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(depth(&chains[i].name)));
    for ci in order {
        if gone[ci] {
            continue;
        }
        // For each rule of the part, the sub-part it links to.
        let links: Vec<Option<usize>> = chains[ci]
            .rules
            .iter()
            .map(|r| {
                let to = link_target(r)?;
                let (of, _) = part_of(to)?;
                let pi = *position.get(to)?;
                (of == chains[ci].name && pi != ci && chains[pi].base.is_none() && !gone[pi])
                    .then_some(pi)
            })
            .collect();
        let found: Vec<usize> = links.iter().flatten().copied().collect();
        let distinct: std::collections::HashSet<usize> = found.iter().copied().collect();
        if found.is_empty() || distinct.len() != found.len() {
            continue;
        }
        let rules = std::mem::take(&mut chains[ci].rules);
        let ms = std::mem::take(&mut meta[ci]);
        let ts = std::mem::take(&mut tagged[ci]);
        let (mut new_rules, mut new_meta, mut new_tagged) = (Vec::new(), Vec::new(), Vec::new());
        for (((r, m), t), link) in rules.into_iter().zip(ms).zip(ts).zip(links) {
            let Some(pi) = link else {
                new_rules.push(r);
                new_meta.push(m);
                new_tagged.push(t);
                continue;
            };
            let name = chains[pi].name.clone();
            new_rules.extend(std::mem::take(&mut chains[pi].rules));
            let inner = std::mem::take(&mut tagged[pi]);
            for (mut m, inner) in std::mem::take(&mut meta[pi]).into_iter().zip(inner) {
                if !inner {
                    tag(&mut m, &name);
                }
                new_meta.push(m);
                new_tagged.push(true);
            }
            gone[pi] = true;
            let inner_subs = std::mem::take(&mut subs[pi]);
            subs[ci].push(name);
            subs[ci].extend(inner_subs);
        }
        chains[ci].rules = new_rules;
        meta[ci] = new_meta;
        tagged[ci] = new_tagged;
    }
    subs
}

/// The name of the next sub-part of part `part`, after those in `taken`:
/// `part/partK`. A long run of rules new in one place of a part goes into
/// sub-parts, each reached by one `jump` where the run stands, so the
/// part grows by a link, not by the run, and no rule already there moves.
pub(crate) fn sub_part(part: &str, taken: &[String], k: &mut usize) -> String {
    if *k == 0 {
        *k = taken
            .iter()
            .filter_map(|n| part_of(n).filter(|(of, _)| *of == part).map(|(_, k)| k))
            .max()
            .unwrap_or(0);
    }
    *k += 1;
    part_name(part, *k)
}

/// The fewest rules new in one place of a part that go into sub-parts.
pub(crate) const SUB_PART_RUN: usize = PART_RULES / 4;

/// How deep a sub-part may stand below its base chain, in jumps: right
/// under a part, one level below the parts, so that a rule later placed
/// in a sub-part and jumping on costs the stack one level more than in a
/// part, and never more.
const SUB_PART_DEPTH: usize = 2;

/// Whether a run of new rules may go into sub-parts of part `part`: its
/// chain a base chain, the sub-part within [`SUB_PART_DEPTH`] jumps of it,
/// no rule of the run jumping anywhere (so nothing below goes deeper), and
/// the names within the kernel's limit.
pub(crate) fn may_sub_part(t: &nft::Table, part: &str, run: &[nft::Rule]) -> bool {
    let Some(chain) = part.split(PART_MARK).next() else { return false };
    let depth = part.matches(PART_MARK).count();
    let base = t.chains.iter().any(|c| c.name == chain && c.base.is_some());
    base && (1..SUB_PART_DEPTH).contains(&depth)
        && part.len() + PART_MARK.len() + 20 < CHAIN_NAME_MAX
        && run.iter().flat_map(|r| &r.exprs).all(|e| {
            !matches!(
                e,
                Expr::Verdict(Verdict::Jump(_) | Verdict::Goto(_) | Verdict::Return)
                    | Expr::Vmap { .. }
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(port: u32) -> nft::Rule {
        nft::Rule {
            exprs: vec![
                Expr::Match {
                    key: vec![nft::Selector::ThDport],
                    op: nft::CmpOp::Eq,
                    rhs: nft::Rhs::Value(nft::Elem(vec![nft::Part::Int(port.into(), port.into())])),
                },
                Expr::Verdict(Verdict::Accept),
            ],
            origin: Vec::new(),
        }
    }

    fn table(rules: usize) -> nft::Table {
        nft::Table {
            name: "t".into(),
            sets: Vec::new(),
            counters: Vec::new(),
            chains: vec![nft::Chain {
                name: "input".into(),
                base: None,
                rules: (0..rules as u32).map(rule).collect(),
                comment: None,
            }],
        }
    }

    #[test]
    fn part_names_read_back() {
        assert_eq!(part_name("input", 3), "input/part3");
        assert_eq!(part_of("input/part3"), Some(("input", 3)));
        assert_eq!(part_of("input/part03"), None);
        assert_eq!(part_of("input/part0"), None);
        assert_eq!(part_of("input"), None);
    }

    #[test]
    fn short_chains_stay_whole() {
        let t = table(PART_RULES);
        assert!(matches!(physical(&t), std::borrow::Cow::Borrowed(_)));
    }

    #[test]
    fn long_chains_split_and_fold_back() {
        let t = table(2 * PART_RULES + 1);
        let p = physical(&t).into_owned();
        let names: Vec<&str> = p.chains.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["input", "input/part1", "input/part2", "input/part3"]);
        assert_eq!(
            p.chains[0].rules,
            [link("input/part1"), link("input/part2"), link("input/part3")]
        );
        assert_eq!(p.chains[3].rules.len(), 1);
        let mut chains = p.chains.clone();
        let mut meta: Vec<Vec<(usize, String)>> = chains
            .iter()
            .map(|c| (0..c.rules.len()).map(|i| (i, String::new())).collect())
            .collect();
        let parts = fold(&mut chains, &mut meta, |m, part| m.1 = part.to_string());
        assert_eq!(chains, t.chains);
        assert_eq!(parts, [vec!["input/part1", "input/part2", "input/part3"]]);
        assert_eq!(meta[0][PART_RULES], (0, "input/part2".to_string()));
    }

    /// A long chain already 15 jumps below the base chain: its parts would
    /// be the 16th level, past the kernel's stack, so it stays whole, made
    /// with its table or alone in place.
    #[test]
    fn parts_never_go_past_the_jump_depth() {
        let depth = shriek_compiler::nft::vocab::JUMP_STACK_DEPTH;
        let mut t = table(0);
        t.chains[0].base = Some(shriek_compiler::ir::BaseChain {
            hook: shriek_compiler::ir::Hook::Input,
            kind: shriek_compiler::ir::ChainKind::Filter,
            priority: 0,
            policy: shriek_compiler::ir::ChainPolicy::Accept,
        });
        for k in 1..depth {
            let from = t.chains.len() - 1;
            t.chains[from].rules.push(link(&format!("c{k}")));
            t.chains.push(nft::Chain {
                name: format!("c{k}"),
                base: None,
                rules: Vec::new(),
                comment: None,
            });
        }
        let last = t.chains.len() - 1;
        t.chains[last].rules = (0..2 * PART_RULES as u32).map(rule).collect();
        assert!(crate::apply::table_jump_depth_error(&t).is_none(), "within the stack whole");
        assert!(splittable(&t, &t.chains[last]));
        assert!(!split_when_made(&t, &t.chains[last]));
        assert!(matches!(physical(&t), std::borrow::Cow::Borrowed(_)));
        // One level less deep, it splits both ways.
        t.chains.remove(1);
        t.chains[0].rules = vec![link("c2")];
        let last = t.chains.len() - 1;
        assert!(split_when_made(&t, &t.chains[last]));
        assert!(matches!(physical(&t), std::borrow::Cow::Owned(_)));
    }

    #[test]
    fn chains_that_leave_early_stay_whole() {
        let mut t = table(2 * PART_RULES);
        t.chains[0].rules[5].exprs[1] = Expr::Verdict(Verdict::Return);
        assert!(!splittable(&t, &t.chains[0]));
    }

    /// A part holding links to sub-parts, one of which holds a link to a
    /// sub-part of its own: reading back puts every rule in its chain in
    /// order, each tagged with the innermost chain that holds it, and
    /// lists the parts first, then the sub-parts after their holders.
    #[test]
    fn sub_parts_fold_back_in_place() {
        let c = |name: &str, rules: Vec<nft::Rule>| nft::Chain {
            name: name.into(),
            base: None,
            rules,
            comment: None,
        };
        let mut chains = vec![
            c("input", vec![link("input/part1"), link("input/part2")]),
            c("input/part1", vec![rule(1), link("input/part1/part1"), rule(4)]),
            c("input/part2", vec![rule(5)]),
            c("input/part1/part1", vec![rule(2), link("input/part1/part1/part1")]),
            c("input/part1/part1/part1", vec![rule(3)]),
        ];
        let mut meta: Vec<Vec<(u32, String)>> = chains
            .iter()
            .map(|c| {
                let port = |r: &nft::Rule| match &r.exprs[0] {
                    Expr::Match { rhs: nft::Rhs::Value(nft::Elem(p)), .. } => match p[0] {
                        nft::Part::Int(v, _) => v as u32,
                        _ => 0,
                    },
                    _ => 0,
                };
                c.rules.iter().map(|r| (port(r), String::new())).collect()
            })
            .collect();
        let parts = fold(&mut chains, &mut meta, |m, part| m.1 = part.to_string());
        assert_eq!(chains.len(), 1);
        assert_eq!(chains[0].rules, (1..=5).map(rule).collect::<Vec<_>>());
        let tags: Vec<(u32, &str)> = meta[0].iter().map(|(p, t)| (*p, t.as_str())).collect();
        assert_eq!(
            tags,
            [
                (1, "input/part1"),
                (2, "input/part1/part1"),
                (3, "input/part1/part1/part1"),
                (4, "input/part1"),
                (5, "input/part2")
            ]
        );
        assert_eq!(
            parts,
            [vec!["input/part1", "input/part2", "input/part1/part1", "input/part1/part1/part1"]]
        );
    }

    #[test]
    fn sub_part_names_follow_those_taken() {
        let taken = ["input/part1".to_string(), "input/part1/part2".to_string()];
        let mut k = 0;
        assert_eq!(sub_part("input/part1", &taken, &mut k), "input/part1/part3");
        assert_eq!(sub_part("input/part1", &taken, &mut k), "input/part1/part4");
        let mut k = 0;
        assert_eq!(sub_part("input/part2", &taken, &mut k), "input/part2/part1");
    }

    #[test]
    fn a_chain_with_other_rules_is_not_folded() {
        let t = table(2 * PART_RULES);
        let mut chains = physical(&t).into_owned().chains;
        chains[0].rules.push(rule(9));
        let mut meta: Vec<Vec<()>> = chains.iter().map(|c| vec![(); c.rules.len()]).collect();
        let before = chains.clone();
        let parts = fold(&mut chains, &mut meta, |_, _| {});
        assert_eq!(chains, before);
        assert!(parts.iter().all(Vec::is_empty));
    }
}
