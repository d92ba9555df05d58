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
//! A run of [`KEYED_RUN`] or more neighbouring rules that each begin with
//! the same `meta l4proto P` ([`nft::Rule::single_proto`]; the sequential
//! lowering groups them, `lower::sequential::by_proto`) goes into parts of
//! its own, *keyed* by `P`: the chain's link to such a part says `meta
//! l4proto P jump NAME/partK`, and the part's rules go without their first
//! expression, as do those of its sub-parts. The kernel then loads and
//! validates one expression less per rule (each rule's type lookup and the
//! validation walk of every commit cost per expression), and a packet of
//! another protocol skips the part whole. Reading back ([`fold`]) puts the
//! match back on each such rule, first, as the lowering wrote it, and says
//! which parts are keyed, so that a rule added later goes only where a
//! packet reaches it exactly as in the chain (`placement.rs`).
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
//! and only for a run that jumps nowhere ([`may_sub_part`]). A keyed part
//! holds only rules that begin with its protocol's match, and a packet of
//! another protocol would have failed that match on each of them first
//! thing, with no statement run: skipping the part gives it the same fate.

use std::borrow::Cow;

use shriek_compiler::ir::BaseChain;
use shriek_compiler::nft::{self, Expr, Verdict};

/// The most rules a part holds when it is made.
pub(crate) use shriek_compiler::nft::vocab::PART_RULES;

/// The fewest neighbouring rules of one protocol that get parts keyed by
/// it: a shorter run goes into an unkeyed part with its neighbours, each
/// rule keeping its own protocol match, so that a chain whose protocols
/// alternate is not laid out as a part per rule.
pub(crate) const KEYED_RUN: usize = PART_RULES / 16;

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

/// The part of `chain` that holds part or sub-part `part`: `input/part3`
/// for `input/part3/part1`.
pub(crate) fn top_part<'a>(chain: &str, part: &'a str) -> &'a str {
    let after = chain.len() + PART_MARK.len();
    match part.get(after..).and_then(|rest| rest.find('/')) {
        Some(slash) => &part[..after + slash],
        None => part,
    }
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
    /// For a part keyed by a protocol, that protocol: its rules are
    /// written without their first expression, which says it.
    pub key: Option<u8>,
}

impl<'a> Laid<'a> {
    /// Chain `c` as it is.
    pub fn whole(c: &'a nft::Chain) -> Laid<'a> {
        Laid {
            name: Cow::Borrowed(&c.name),
            base: c.base.as_ref(),
            comment: c.comment.as_deref().map(Cow::Borrowed),
            rules: Cow::Borrowed(&c.rules),
            key: None,
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
/// holding one `jump` to each part, then the parts in order. Each run of
/// [`KEYED_RUN`] or more rules of one protocol goes into parts keyed by
/// it; the rules between such runs go into unkeyed parts, and every part
/// holds at most [`PART_RULES`] rules.
fn split_borrowed(c: &nft::Chain) -> Vec<Laid<'_>> {
    let mut head = Laid { rules: Cow::Owned(Vec::new()), ..Laid::whole(c) };
    let mut parts = Vec::new();
    for (start, end, key) in part_runs(&c.rules) {
        for rules in c.rules[start..end].chunks(PART_RULES) {
            let k = parts.len() + 1;
            let name = part_name(&c.name, k);
            head.rules.to_mut().push(keyed_link(&name, key));
            parts.push(Laid {
                comment: Some(Cow::Owned(format!(
                    "part {k} of chain {}, laid out by shriekc",
                    c.name
                ))),
                name: Cow::Owned(name),
                base: None,
                rules: Cow::Borrowed(rules),
                key,
            });
        }
    }
    std::iter::once(head).chain(parts).collect()
}

/// The runs of `rules` that go into parts of their own: `(start, end,
/// key)`, in order and covering every rule; a keyed run is one protocol's
/// [`KEYED_RUN`] or more neighbouring rules, an unkeyed one all the rules
/// between two keyed runs.
pub(crate) fn part_runs(rules: &[nft::Rule]) -> Vec<(usize, usize, Option<u8>)> {
    let mut runs = Vec::new();
    let mut loose = 0;
    let mut i = 0;
    while i < rules.len() {
        let key = rules[i].single_proto();
        let end = i + rules[i..].iter().take_while(|r| r.single_proto() == key).count();
        if key.is_some() && end - i >= KEYED_RUN {
            if loose < i {
                runs.push((loose, i, None));
            }
            runs.push((i, end, key));
            loose = end;
        }
        i = end;
    }
    if loose < rules.len() {
        runs.push((loose, rules.len(), None));
    }
    runs
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
    keyed_link(part, None)
}

/// The rule that enters a part, for packets of protocol `key` alone when
/// the part is keyed by it.
pub(crate) fn keyed_link(part: &str, key: Option<u8>) -> nft::Rule {
    let jump = Expr::Verdict(Verdict::Jump(part.to_string()));
    let exprs = match key {
        Some(p) => vec![Expr::l4proto_is(p), jump],
        None => vec![jump],
    };
    nft::Rule { exprs, origin: Vec::new() }
}

/// The part rule `r` enters, when it is a link without a key.
fn link_target(r: &nft::Rule) -> Option<&str> {
    match r.exprs.as_slice() {
        [Expr::Verdict(Verdict::Jump(to))] => Some(to),
        _ => None,
    }
}

/// The part rule `r` enters and the protocol it enters it for, when it is
/// a link from a chain to one of its parts, keyed or not.
fn keyed_link_target(r: &nft::Rule) -> Option<(&str, Option<u8>)> {
    match r.exprs.as_slice() {
        [Expr::Verdict(Verdict::Jump(to))] => Some((to, None)),
        [_, Expr::Verdict(Verdict::Jump(to))] => Some((to, Some(r.single_proto()?))),
        _ => None,
    }
}

/// The keyed parts among laid-out `chains` ([`physical`], [`split`]), by
/// the links of their chains: each part's name and protocol.
pub(crate) fn part_keys(chains: &[nft::Chain]) -> std::collections::HashMap<String, u8> {
    chains
        .iter()
        .flat_map(|c| c.rules.iter().map(move |r| (c, r)))
        .filter_map(|(c, r)| {
            let (to, key) = keyed_link_target(r)?;
            let (of, _) = part_of(to)?;
            (of == c.name).then(|| Some((to.to_string(), key?)))?
        })
        .collect()
}

/// What [`fold`] found of a table's layout.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Folded {
    /// Per remaining chain, its parts: its own, in order, then their
    /// sub-parts ([`sub_part`]), each after the part holding it.
    pub parts: Vec<Vec<String>>,
    /// Every part and sub-part that only packets of one protocol reach
    /// (its own link, or its part's, is keyed), with that protocol.
    pub keys: std::collections::HashMap<String, u8>,
}

/// Puts the parts of each chain back into it, as read from the kernel:
/// `chains[i]` and `meta[i]` (what the kernel knows of each rule) become
/// the chain's own rules, each tagged with the part that holds it, and
/// the parts go; each rule of a keyed part (or of its sub-parts) gets the
/// part's `meta l4proto P` back as its first expression. A chain whose
/// rules are not exactly links to its own parts is left as it is, and so
/// are its parts: `plan` then shows what is there. (A rule someone else
/// put into a keyed part reads back with the part's match first too: only
/// packets of that protocol meet it, which the model then says.)
pub(crate) fn fold<M>(
    chains: &mut Vec<nft::Chain>,
    meta: &mut Vec<Vec<M>>,
    mut tag: impl FnMut(&mut M, &str),
) -> Folded {
    let mut keys = std::collections::HashMap::new();
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
        let targets: Option<Vec<(usize, String, Option<u8>)>> = head
            .rules
            .iter()
            .map(|r| {
                let (to, key) = keyed_link_target(r)?;
                let (of, _) = part_of(to)?;
                let pi = position(chains, to)?;
                (of == head.name && chains[pi].base.is_none() && !gone[pi])
                    .then(|| (pi, to.to_string(), key))
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
        for (pi, name, key) in &targets {
            let mut part = std::mem::take(&mut chains[*pi].rules);
            if let Some(p) = *key {
                for r in &mut part {
                    r.exprs.insert(0, Expr::l4proto_is(p));
                }
                keys.insert(name.clone(), p);
                keys.extend(subs[*pi].iter().map(|s| (s.clone(), p)));
            }
            rules.extend(part);
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
        let mut names: Vec<String> = targets.iter().map(|(_, n, _)| n.clone()).collect();
        for (pi, ..) in &targets {
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
    Folded { parts: parts_of, keys }
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
mod tests;
