//! Dispatch: runs of rules that test the same key become one lookup in a
//! verdict map.
//!
//! First-match semantics hold exactly:
//! - the map's elements are disjoint intervals, each given to the earliest
//!   rule of the run whose space holds it;
//! - a rule whose map data may let evaluation go on (a `limit`, no verdict,
//!   a `jump`) must be disjoint from every later rule of its run, since after
//!   the lookup evaluation goes on *after* the run;
//! - rules may move past rules they are disjoint from (no packet matches
//!   both, so their order cannot matter), which lets a run grow past rules
//!   that test something else. A rule never moves past one it intersects.
//!
//! A rule with statements (counter, log, limit, translation) or `reject`
//! gets a chain of its own that the map jumps to, so its counter stays its
//! own.
//!
//! With per-rule counters on, the map counts per element (`counter` in its
//! declaration) and each element belongs to one rule: a rule's count is
//! the sum of its elements', whether the map decides or jumps to the
//! rule's chain, whose statements then carry no second per-rule counter.
//! A rule that opens with its own anonymous `counter` loses that one to
//! the element's, which counts the same packets.

use std::collections::{BTreeMap, BTreeSet};

use rayon::prelude::*;

use crate::ir::{self, Action, Nat, RuleId};
use crate::nft::vocab::{PROTOS_WITH_PORTS, PROTO_TCP, PROTO_UDP};
use crate::nft::{self, CmpOp, Data, Elem, Element, Expr, Part, Rhs, Selector};
use crate::space::{Cube, Families, Family, Intervals};

use super::sequential::{self, origin, pieces, rule_family, Cut};
use super::{count, rule_list, TableCx};

/// The fields a rule tests, when they make a map key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum KeyKind {
    /// `th dport` alone, one map per protocol behind `meta l4proto`.
    Dport,
    /// `ip saddr` or `ip6 saddr`
    Saddr,
    /// `ip saddr . meta l4proto . th dport`
    SaddrDport,
    /// `ip daddr . meta l4proto . th dport`, as kube-proxy's service map.
    DaddrDport,
}

impl KeyKind {
    fn keyword(self) -> &'static str {
        match self {
            KeyKind::Dport => "dport",
            KeyKind::Saddr => "saddr",
            KeyKind::SaddrDport => "saddr_dport",
            KeyKind::DaddrDport => "daddr_dport",
        }
    }
}

/// A rule that can join a run.
struct Cand {
    kind: KeyKind,
    /// What the map gives for this rule; `None` means a chain of its own
    /// holding `body`.
    direct: Option<nft::Verdict>,
    body: Vec<Expr>,
    /// Evaluation may go on after the lookup picks this rule.
    may_continue: bool,
}

fn cube_kind(c: &Cube) -> Option<KeyKind> {
    if c.sport.is_some()
        || !c.iif.is_any()
        || !c.oif.is_any()
        || !c.ct.is_full()
        || c.icmp_type.is_some()
        || c.icmp_code.is_some()
        || c.tcp_flags.is_some()
        || c.mark.is_some()
    {
        return None;
    }
    let single = c.family.single().is_some();
    match (c.saddr.is_some(), c.daddr.is_some(), c.dport.is_some()) {
        (false, false, true) if c.family == Families::ALL => Some(KeyKind::Dport),
        (true, false, false) if single && c.proto.is_full() => Some(KeyKind::Saddr),
        (true, false, true) if single => Some(KeyKind::SaddrDport),
        (false, true, true) if single => Some(KeyKind::DaddrDport),
        _ => None,
    }
}

/// `pieces` are the rule's, as `sequential::pieces` makes them (made once
/// per rule: they are a good part of lowering's cost).
fn classify(cx: &TableCx, rule: &ir::Rule, pieces: &[Cube]) -> Result<Cand, String> {
    if rule.actions.iter().any(|a| matches!(a, Action::Meter(_))) {
        return Err("keeps a rate or count per address".into());
    }
    let Some(first) = pieces.first() else { return Err("matches no packet".into()) };
    let kind = cube_kind(first).ok_or("matches make no map key")?;
    if pieces.iter().any(|p| cube_kind(p) != Some(kind)) {
        return Err("matches make no single map key".into());
    }
    let fam = rule_family(pieces);
    let translates_address =
        rule.actions.iter().any(|a| matches!(a, Action::Nat(Nat::Dnat { .. } | Nat::Snat { .. })));
    if translates_address && fam.is_none() {
        return Err("translates addresses for both families".into());
    }
    let ports = pieces.iter().all(sequential::has_ports);
    let mut body: Vec<Expr> = sequential::port_guard(rule, pieces).into_iter().collect();
    let mut statements = sequential::body(cx, rule, fam, ports);
    // With per-rule counters on, the map's element counts exactly what a
    // leading anonymous `counter` of the rule would (translation goes last,
    // whatever its place in the source): that one is dropped, and a rule
    // with no other statement needs no chain of its own.
    let mut plain = rule.actions.is_empty();
    if cx.table.rule_counters && statements.first() == Some(&Expr::Counter(None)) {
        statements.remove(0);
        plain = rule.actions.len() == 1;
    }
    body.extend(statements);
    let direct = match (plain, rule.verdict) {
        (true, None) => Some(nft::Verdict::Continue),
        (true, Some(ir::Verdict::Reject(_))) => None,
        (true, Some(v)) => Some(sequential::verdict(cx, v)),
        (false, _) if !sequential::shareable(rule) => {
            return Err("has statements and ends with goto or return".into())
        }
        (false, _) => None,
    };
    let may_continue = !rule.always_decides() || matches!(rule.verdict, Some(ir::Verdict::Jump(_)));
    Ok(Cand { kind, direct, body, may_continue })
}

fn disjoint(a: &[Cube], b: &[Cube]) -> bool {
    a.iter().all(|x| b.iter().all(|y| !x.intersects(y)))
}

pub(super) fn lower_rules(cx: &mut TableCx, chain: &ir::Chain, min_run: usize) -> Vec<nft::Rule> {
    let rules = &chain.rules;
    // Each rule's pieces: its map elements, and its space for the
    // disjointness checks.
    // They depend on the rule alone, so they are made on every core.
    let spaces: Vec<Vec<Cube>> = rules.par_iter().map(pieces).collect();
    let mut cands: Vec<Result<Cand, String>> =
        rules.iter().zip(&spaces).map(|(r, s)| classify(cx, r, s)).collect();
    // Plan, then dissolve the runs too short to pay and plan again without
    // them, so that no rule moves for a run that is not made.
    let blocks = loop {
        let blocks = plan(&cands, &spaces);
        let mut dissolved = false;
        for b in &blocks {
            if let Block::Run { kind, members, .. } = b {
                if members.len() < min_run {
                    for &m in members {
                        cands[m] = Err(format!(
                            "only {} with key `{}` in reach, fewer than {min_run}",
                            count(members.len(), "rule"),
                            kind.keyword()
                        ));
                    }
                    dissolved = true;
                }
            }
        }
        if !dissolved {
            break blocks;
        }
    };
    let mut out = Vec::new();
    // Rules kept sequential, with why, noted together when consecutive.
    let mut pending: Vec<(u32, String)> = Vec::new();
    for block in blocks {
        match block {
            Block::Seq(i) => {
                let why = cands[i].as_ref().err().cloned().unwrap_or_default();
                sequential_rule(cx, chain, &rules[i], &mut out, &mut pending, why, &spaces[i]);
            }
            Block::Run { members, .. } => {
                flush(cx, chain, &mut pending);
                emit_run(cx, chain, &members, &cands, &spaces, min_run, &mut out);
            }
        }
    }
    flush(cx, chain, &mut pending);
    out
}

/// A stretch of the lowered chain: one rule, or a run of rules with one key.
enum Block {
    Seq(usize),
    Run {
        kind: KeyKind,
        members: Vec<usize>,
        /// Holds every member's space, for the disjointness checks.
        hull: Box<Hull>,
        /// Holds the spaces of members after which evaluation may go on.
        continuing: Box<Hull>,
    },
}

/// How many blocks back a rule may move to join a run.
const WALK: usize = 32;

/// Put each rule, in policy order, into the latest run of its kind that it
/// may move up to (past blocks it is disjoint from), or into a block of its
/// own at the end.
fn plan(cands: &[Result<Cand, String>], spaces: &[Vec<Cube>]) -> Vec<Block> {
    let mut blocks: Vec<Block> = Vec::new();
    for (i, cand) in cands.iter().enumerate() {
        let Ok(cand) = cand else {
            blocks.push(Block::Seq(i));
            continue;
        };
        let mut target = None;
        for (back, b) in blocks.iter().enumerate().rev().take(WALK) {
            match b {
                Block::Run { kind, hull, continuing, .. } if *kind == cand.kind => {
                    if !spaces[i].iter().any(|c| continuing.meets(c)) {
                        target = Some(back);
                        break;
                    }
                    if spaces[i].iter().any(|c| hull.meets(c)) {
                        break;
                    }
                }
                Block::Run { hull, .. } => {
                    if spaces[i].iter().any(|c| hull.meets(c)) {
                        break;
                    }
                }
                Block::Seq(j) => {
                    if !disjoint(&spaces[*j], &spaces[i]) {
                        break;
                    }
                }
            }
        }
        match target.map(|t| &mut blocks[t]) {
            Some(Block::Run { members, hull, continuing, .. }) => {
                members.push(i);
                hull.add(&spaces[i]);
                if cand.may_continue {
                    continuing.add(&spaces[i]);
                }
            }
            _ => {
                let mut hull = Box::<Hull>::default();
                hull.add(&spaces[i]);
                let mut continuing = Box::<Hull>::default();
                if cand.may_continue {
                    continuing.add(&spaces[i]);
                }
                blocks.push(Block::Run { kind: cand.kind, members: vec![i], hull, continuing });
            }
        }
    }
    blocks
}

/// A box holding a union of run members' cubes (fields other than these
/// are unrestricted in run members), with interval indexes so that adding
/// and testing stay logarithmic in the run's size.
#[derive(Default)]
struct Hull {
    family: Option<Families>,
    proto: Option<crate::space::Protos>,
    saddr: HullDim,
    daddr: HullDim,
    dport: HullDim,
}

#[derive(Default)]
enum HullDim {
    /// No member restricts it: any value.
    #[default]
    Any,
    Within(IntervalIndex),
}

impl Hull {
    fn add(&mut self, space: &[Cube]) {
        for c in space {
            let first = self.family.is_none();
            self.family = Some(self.family.map_or(c.family, |f| f.union(c.family)));
            self.proto = Some(self.proto.map_or(c.proto, |p| p.union(c.proto)));
            for (dim, v) in [
                (&mut self.saddr, &c.saddr),
                (&mut self.daddr, &c.daddr),
                (&mut self.dport, &c.dport),
            ] {
                match v {
                    None => *dim = HullDim::Any,
                    Some(iv) => {
                        if first {
                            *dim = HullDim::Within(IntervalIndex::default());
                        }
                        if let HullDim::Within(index) = dim {
                            for &(lo, hi) in iv.ranges() {
                                index.insert(lo, hi);
                            }
                        }
                    }
                }
            }
        }
    }

    /// Whether some packet of `c` may be in the hull (never a false "no").
    fn meets(&self, c: &Cube) -> bool {
        let (Some(family), Some(proto)) = (self.family, self.proto) else { return false };
        let dim = |d: &HullDim, v: &Option<Intervals>| match (d, v) {
            (HullDim::Any, _) | (_, None) => true,
            (HullDim::Within(index), Some(iv)) => {
                iv.ranges().iter().any(|&(lo, hi)| index.meets(lo, hi))
            }
        };
        !family.intersect(c.family).is_empty()
            && !proto.intersect(c.proto).is_empty()
            && dim(&self.saddr, &c.saddr)
            && dim(&self.daddr, &c.daddr)
            && dim(&self.dport, &c.dport)
    }
}

/// Disjoint closed intervals in a B-tree, keyed by their start.
#[derive(Default)]
struct IntervalIndex(BTreeMap<u128, u128>);

impl IntervalIndex {
    fn insert(&mut self, mut lo: u128, mut hi: u128) {
        // Swallow every interval that overlaps or touches `lo..=hi`.
        if let Some((&s, &e)) = self.0.range(..=lo).next_back() {
            if e.saturating_add(1) >= lo {
                lo = s;
                hi = hi.max(e);
                self.0.remove(&s);
            }
        }
        while let Some((&s, &e)) = self.0.range(lo..).next() {
            if s > hi.saturating_add(1) {
                break;
            }
            hi = hi.max(e);
            self.0.remove(&s);
        }
        self.0.insert(lo, hi);
    }

    fn meets(&self, lo: u128, hi: u128) -> bool {
        self.0.range(..=hi).next_back().is_some_and(|(_, &e)| e >= lo)
    }
}

fn sequential_rule(
    cx: &mut TableCx,
    chain: &ir::Chain,
    rule: &ir::Rule,
    out: &mut Vec<nft::Rule>,
    pending: &mut Vec<(u32, String)>,
    why: String,
    pieces: &[Cube],
) {
    if pending.last().is_some_and(|(_, w)| *w != why) {
        flush(cx, chain, pending);
    }
    pending.push((rule.id.index, why));
    sequential::lower_rule(cx, chain, rule, Cut::from_pieces(pieces.to_vec()), out);
}

fn flush(cx: &mut TableCx, chain: &ir::Chain, pending: &mut Vec<(u32, String)>) {
    let Some((_, why)) = pending.last().cloned() else { return };
    let indices: Vec<u32> = pending.iter().map(|(i, _)| *i).collect();
    let ids: Vec<RuleId> = indices.iter().map(|&i| chain.rules[i as usize].id).collect();
    cx.note(chain, ids, format!("{} kept sequential: {why}", rule_list(&indices)));
    pending.clear();
}

/// One dimension of a map key.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Dim {
    Saddr,
    Daddr,
    Proto,
    Dport,
}

fn emit_run(
    cx: &mut TableCx,
    chain: &ir::Chain,
    members: &[usize],
    cands: &[Result<Cand, String>],
    spaces: &[Vec<Cube>],
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
    // Port-only runs get one map per protocol, keyed by the port alone: a
    // single-field interval map is an rbtree, which the kernel loads in
    // about a second at 100k elements, where a `l4proto . th dport`
    // concatenation needs pipapo and takes over twenty.
    let groups: Vec<(Option<Family>, Option<u8>)> = match kind {
        KeyKind::Dport => PROTOS_WITH_PORTS.map(|p| (None, Some(p))).to_vec(),
        _ => vec![(Some(Family::V4), None), (Some(Family::V6), None)],
    };
    let dims: &[Dim] = match kind {
        KeyKind::Dport => &[Dim::Dport],
        KeyKind::Saddr => &[Dim::Saddr],
        KeyKind::SaddrDport => &[Dim::Saddr, Dim::Proto, Dim::Dport],
        KeyKind::DaddrDport => &[Dim::Daddr, Dim::Proto, Dim::Dport],
    };
    let mut maps = Vec::new();
    for (fam, group_proto) in groups {
        let mut boxes: Vec<(Vec<Intervals>, usize)> = Vec::new();
        for (pos, &m) in members.iter().enumerate() {
            for p in &spaces[m] {
                if fam.is_some() && p.family.single() != fam {
                    continue;
                }
                if group_proto.is_some_and(|g| !p.proto.contains(g)) {
                    continue;
                }
                let b = dims
                    .iter()
                    .map(|d| match d {
                        Dim::Saddr => p.saddr.clone().expect("saddr key"),
                        Dim::Daddr => p.daddr.clone().expect("daddr key"),
                        Dim::Proto => {
                            Intervals::from_ranges(p.proto.iter().map(|x| (x as u128, x as u128)))
                        }
                        Dim::Dport => p.dport.clone().expect("dport key"),
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
            (KeyKind::Dport, _, _) => "_sctp",
            (_, Some(Family::V6), _) => "6",
            _ => "4",
        };
        let parts = split_exact(elems, key.len(), min_run);
        let split = parts.len() > 1;
        let in_exact: BTreeSet<usize> =
            parts.iter().filter(|(s, _)| !s.is_empty()).flat_map(|(_, e)| held(e)).collect();
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
            // The members this map holds elements of, in run order; the map
            // with ranges also names those left with none (wholly taken by
            // earlier members), as the one map did.
            let mine = held(&elems);
            let part: Vec<usize> = (0..members.len())
                .filter(|p| mine.contains(p) || (suffix.is_empty() && !in_exact.contains(p)))
                .map(|p| members[p])
                .collect();
            let interval = elems.iter().any(|(k, _)| k.iter().any(|(lo, hi)| lo != hi));
            let mut elements: Vec<Element> = elems
                .into_iter()
                .map(|(k, ms)| Element {
                    key: Elem(k.into_iter().map(|(lo, hi)| Part::Int(lo, hi)).collect()),
                    data: Some(Data::Verdict(data[ms[0]].clone())),
                    origin: ms.iter().map(|&pos| origin(&rules[members[pos]])).collect(),
                })
                .collect();
            elements.sort_by(|a, b| a.key.cmp(&b.key));
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

fn member_indices(rules: &[ir::Rule], members: &[usize]) -> Vec<u32> {
    members.iter().map(|&m| rules[m].id.index).collect()
}

type Range = (u128, u128);

/// A map's elements: each key's ranges, one per field, and the run
/// positions of the rules that own it.
type Elements = Vec<(Vec<Range>, Vec<usize>)>;

/// The one value every element's field `i` holds exactly, if there is one.
fn one_value(elems: &[(Vec<Range>, Vec<usize>)], i: usize) -> Option<u128> {
    let (lo, hi) = elems.first()?.0[i];
    (lo == hi && elems.iter().all(|(k, _)| k[i] == (lo, hi))).then_some(lo)
}

/// The run positions owning the elements of `elems`.
fn held(elems: &[(Vec<Range>, Vec<usize>)]) -> BTreeSet<usize> {
    elems.iter().flat_map(|(_, owners)| owners.iter().copied()).collect()
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

/// Disjoint elementary boxes (one range per dimension) covering the union
/// of `boxes`, each point given to the first box holding it. Adjacent
/// boxes whose owners `same` says have equal data are merged; the result
/// lists every owner of a merged box.
fn disjoint_boxes(
    boxes: Vec<(Vec<Intervals>, usize)>,
    same: &dyn Fn(usize, usize) -> bool,
) -> Vec<(Vec<Range>, Vec<usize>)> {
    let mut elementary: Vec<(Vec<Range>, usize)> = Vec::new();
    for (b, owner) in boxes {
        let mut acc: Vec<Vec<Range>> = vec![Vec::new()];
        for dim in &b {
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
    // Group by every dimension but the last; when the groups do not meet,
    // a sweep over the last dimension does the rest in n log n.
    let mut groups: BTreeMap<Vec<Range>, Vec<(Range, usize)>> = BTreeMap::new();
    for (k, owner) in &elementary {
        groups.entry(k[..dims - 1].to_vec()).or_default().push((k[dims - 1], *owner));
    }
    if prefixes_apart(groups.keys().collect()) {
        let mut out = Vec::new();
        for (prefix, ranges) in groups {
            for (r, owners) in sweep(ranges, same) {
                let mut k = prefix.clone();
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
fn prefixes_apart(mut prefixes: Vec<&Vec<Range>>) -> bool {
    if prefixes.first().is_none_or(|p| p.is_empty()) {
        return true;
    }
    prefixes.sort_by_key(|p| p[0]);
    let mut active: Vec<&Vec<Range>> = Vec::new();
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
