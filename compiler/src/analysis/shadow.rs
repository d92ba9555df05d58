//! Rules that never decide a packet: `shadowed-rule`, `redundant-rule`, and
//! `unmatchable-rule` for rules that match nothing at all.
//!
//! For each rule, in chain order, the earlier rules that end the chain for a
//! packet (the *blockers*) are subtracted from the rule's match space with
//! [`Cube::subtract`], which yields disjoint pieces. When nothing is left, the
//! rule never sees a packet. Coverage does not depend on the order of the
//! cuts, so they go biggest blocker first, which empties a covered rule in a
//! few steps. Which verdict a packet gets does depend on order: blocker `j`
//! is the first to decide some of the rule's packets exactly when the
//! blockers before it do not cover its part of the rule. That is checked for
//! the blockers that decide differently (shadowed or redundant) and for the
//! few the finding names, so every label is a true first decider.
//!
//! A blocker is a rule without `limit` that ends the chain: `accept`, `drop`,
//! `reject`, address translation (which accepts), `return` and `goto`. A
//! `jump C` rule blocks only the packets chain `C` always decides; those are
//! computed exactly, per verdict, as [`Decided`] spaces.
//!
//! Three guards keep this fast. Candidate blockers come from a bucket index
//! on destination port and source address ([`Entries`]) and are filtered by
//! cheap bounding boxes ([`Hull`]) before exact cube tests. A rule is first
//! probed at two corner packets: if either is matched by no candidate, the
//! rule is certainly reached and no subtraction runs (the same probe runs on
//! leftover pieces while they pile up). And the pieces stop at
//! [`FRAGMENT_CAP`]; a rule that hits the cap gets no finding (never a
//! guessed one).

use shriek_grammar::Diagnostic;

use super::{apply_allows, codes, describe};
use crate::ir::{self, Action, ChainId, Verdict};
use crate::space::{CtState, Cube, Family, Names, Packet, Protos, Space, PORT_MAX};

/// The most cube fragments one rule's remaining space may split into.
pub const FRAGMENT_CAP: usize = 10_000;

/// How a blocker ends the chain for the packets it takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Class {
    Accept,
    Drop,
    Reject,
    /// Accepts with the address translation of this rule. Two of these are
    /// the same end when their translations are ([`same_translation`]).
    Translate(ir::RuleId),
    /// Ends this chain without a final verdict: `return`.
    Return,
    /// Ends this chain in another one that may fall through: `goto C`.
    Goto(ChainId),
    /// Only for the rule being checked: `jump C`.
    Jump(ChainId),
}

/// The packets a chain gives a final verdict when entered, under every
/// `limit` outcome, each with how the first rule that surely decides it
/// does (always a final class: accept, drop, reject or translate).
#[derive(Clone, Debug, Default)]
pub struct Decided {
    pub parts: Vec<Piece>,
}

/// The packets of one rule that end the chain, and how.
#[derive(Clone, Debug)]
pub struct Piece {
    pub space: Space,
    pub class: Class,
}

/// Per-table context: the policy and the memoized decided spaces.
struct Ctx<'a> {
    table: &'a ir::Table,
    decided: Vec<Memo>,
}

#[derive(Clone)]
enum Memo {
    Todo,
    InProgress,
    Done(std::rc::Rc<Decided>),
}

/// One cube of one blocker, with its bounding box.
struct Entry {
    rule: u32,
    class: Class,
    cube: Cube,
    hull: Hull,
    volume: f64,
}

/// All findings of this kind for one table.
pub(super) fn check_table(table: &ir::Table) -> Vec<Diagnostic> {
    let mut ctx = Ctx { table, decided: vec![Memo::Todo; table.chains.len()] };
    let mut out = Vec::new();
    for chain in &table.chains {
        check_chain(&mut ctx, chain, &mut out);
    }
    out
}

/// What checking one rule found.
#[derive(Debug, PartialEq, Eq)]
pub enum Coverage {
    /// Its matches contradict.
    Empty,
    /// Some packet reaches it.
    Reached,
    /// Earlier rules end the chain for every packet it matches.
    Covered(Cover),
    /// The exact computation hit [`FRAGMENT_CAP`].
    Unknown,
}

/// How a covered rule is covered.
#[derive(Debug, PartialEq, Eq)]
pub struct Cover {
    /// A few covering rules to name, in rule order, each with how it ends
    /// the chain: each is the first to end it for some of the rule's packets.
    pub shown: Vec<(u32, Class)>,
    /// The size of a small set of earlier rules that covers the rule.
    pub count: usize,
    /// Whether some packet is first decided otherwise than the rule would.
    pub differs: bool,
}

/// The coverage of every rule of `chain` in table `table`, for tests and
/// benchmarks that want the raw result without diagnostics.
pub fn coverage(table: &ir::Table, chain: ChainId) -> Vec<Coverage> {
    let mut ctx = Ctx { table, decided: vec![Memo::Todo; table.chains.len()] };
    let chain = &table.chains[chain.0 as usize];
    let mut entries = Entries::new(chain);
    chain.rules.iter().map(|rule| step(&mut ctx, rule, &mut entries).0).collect()
}

fn check_chain(ctx: &mut Ctx, chain: &ir::Chain, out: &mut Vec<Diagnostic>) {
    let mut entries = Entries::new(chain);
    for rule in &chain.rules {
        let (coverage, _) = step(ctx, rule, &mut entries);
        let diag = match coverage {
            Coverage::Empty => Some(unmatchable(rule)),
            Coverage::Covered(c) => Some(covered(ctx, chain, rule, &c)),
            Coverage::Reached | Coverage::Unknown => None,
        };
        if let Some(diag) = diag {
            out.push(apply_allows(diag, &rule.allows));
        }
    }
}

/// Checks one rule against the blockers before it, then adds its own pieces.
fn step(ctx: &mut Ctx, rule: &ir::Rule, entries: &mut Entries) -> (Coverage, Vec<Cube>) {
    let cubes: Vec<Cube> = rule.space.iter().filter(|c| !c.is_empty()).cloned().collect();
    if cubes.is_empty() {
        return (Coverage::Empty, cubes);
    }
    let table = ctx.table;
    let rules = table.chains.get(rule.id.chain.0 as usize).map_or(&[][..], |c| &c.rules[..]);
    let coverage = cover(table, &cubes, rule, rules, entries);
    for piece in pieces(ctx, rule) {
        for cube in piece.space {
            if !cube.is_empty() {
                entries.push(Entry {
                    rule: rule.id.index,
                    class: piece.class,
                    hull: Hull::of(&cube),
                    volume: volume(&cube),
                    cube,
                });
            }
        }
    }
    (coverage, cubes)
}

/// Whether `entries` (in rule order) cover `cubes`, the packets of `rule`.
///
/// Coverage itself does not depend on order, so it is decided with the
/// biggest blockers first, which empties a covered rule after few cuts. Who
/// decides which packet does depend on order: blocker `j` is the first to
/// decide some packet exactly when the blockers before it do not already
/// cover its part of the rule. That is checked only for the few blockers the
/// finding names.
fn cover(
    table: &ir::Table,
    cubes: &[Cube],
    rule: &ir::Rule,
    rules: &[ir::Rule],
    entries: &mut Entries,
) -> Coverage {
    let hulls: Vec<Hull> = cubes.iter().map(Hull::of).collect();
    let ids = entries.query(&hulls);
    // Hulls only: a candidate that does not really meet the rule costs a
    // little time below, never a wrong answer.
    let candidates: Vec<&Entry> = ids
        .iter()
        .filter(|&&i| hulls.iter().any(|h| h.meets(&entries.hulls[i as usize])))
        .map(|&i| &entries.all[i as usize])
        .collect();
    // The candidates' hulls side by side: the scans below read little else.
    let ch: Vec<Hull> = candidates.iter().map(|e| e.hull).collect();
    // The first candidate that alone covers the rule, if any: the common case.
    let whole = candidates
        .iter()
        .position(|e| cubes.iter().all(|c| meets(c, &e.cube) && contains(&e.cube, c)));
    // No blocker after the first one that covers the rule alone is the first
    // to decide any of its packets.
    let end = match whole {
        Some(p) => p,
        None => match covered_by(cubes, &candidates, &ch) {
            None => return Coverage::Unknown,
            Some(false) => return Coverage::Reached,
            Some(true) => candidates.len() - 1,
        },
    };
    let prefix = &candidates[..=end];
    let first = |j: usize| -> Option<bool> {
        let e = prefix[j];
        let part: Vec<Cube> =
            cubes.iter().filter(|c| meets(c, &e.cube)).map(|c| c.intersect(&e.cube)).collect();
        covered_by(&part, &prefix[..j], &ch[..j]).map(|covered| !covered)
    };
    let differs_from_rule =
        |e: &Entry| rules.get(e.rule as usize).is_some_and(|b| !same(table, b, e.class, rule));

    // The first blocker, in rule order, that decides some packet differently.
    let mut differing = None;
    if own_class(rule).is_some() {
        let found = sweep(cubes, prefix, &differs_from_rule)
            .or_else(|| first_differing(prefix, &differs_from_rule, &first));
        match found {
            Some(found) => differing = found,
            None => return Coverage::Unknown,
        }
    }

    // A small covering set, biggest first, and the first deciders in it.
    let mut by_volume: Vec<usize> = (0..prefix.len()).collect();
    by_volume.sort_by(|&a, &b| prefix[b].volume.total_cmp(&prefix[a].volume));
    let mut set: Vec<usize> = Vec::new();
    let mut left: Vec<Cube> = cubes.to_vec();
    for j in by_volume {
        let e = prefix[j];
        if !left.iter().any(|f| meets(f, &e.cube)) {
            continue;
        }
        let Some(next) = subtract(&left, std::slice::from_ref(&e.cube)) else { break };
        set.push(j);
        left = next;
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
        // Nothing comes before the first candidate: it decides first.
        shown.push(0);
    }
    shown.sort_unstable();
    Coverage::Covered(Cover {
        shown: shown.iter().map(|&j| (prefix[j].rule, prefix[j].class)).collect(),
        count: count.len().max(shown.len()),
        differs: differing.is_some(),
    })
}

/// How many covering rules a finding labels.
const MAX_SHOWN: usize = 4;

/// Whether the union of `cands` covers `target`; `None` past the cap.
/// The first blocker, in rule order, that decides some of `cubes` and
/// differs from the rule: subtract the blockers in rule order until one that
/// differs still meets what is left. `None` when the pieces pile up.
fn sweep(
    cubes: &[Cube],
    prefix: &[&Entry],
    differs: &dyn Fn(&Entry) -> bool,
) -> Option<Option<usize>> {
    const SWEEP_CAP: usize = 256;
    let mut left: Vec<Cube> = cubes.to_vec();
    for (j, e) in prefix.iter().enumerate() {
        if !left.iter().any(|f| meets(f, &e.cube)) {
            continue;
        }
        if differs(e) {
            return Some(Some(j));
        }
        left = subtract(&left, std::slice::from_ref(&e.cube))?;
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

/// `hulls` are the hulls of `cands`.
fn covered_by(target: &[Cube], cands: &[&Entry], hulls_of: &[Hull]) -> Option<bool> {
    let hulls: Vec<Hull> = target.iter().map(Hull::of).collect();
    let mut cs: Vec<&Entry> = cands
        .iter()
        .zip(hulls_of)
        .filter(|(e, eh)| hulls.iter().zip(target).any(|(h, t)| h.meets(eh) && meets(t, &e.cube)))
        .map(|(e, _)| *e)
        .collect();
    if cs.is_empty() {
        return Some(target.is_empty());
    }
    if target.iter().all(|t| cs.iter().any(|e| contains(&e.cube, t))) {
        return Some(true);
    }
    // A corner that no candidate matches proves the target is not covered.
    for c in target {
        for probe in [corner(c, false), corner(c, true)] {
            if !cs.iter().any(|e| e.cube.contains(&probe)) {
                return Some(false);
            }
        }
    }
    cs.sort_by(|a, b| b.volume.total_cmp(&a.volume));
    let mut left: Vec<Cube> = target.to_vec();
    for (k, e) in cs.iter().enumerate() {
        let mut next = Vec::with_capacity(left.len());
        for f in left {
            if meets(&f, &e.cube) {
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
            for probe in [corner(first, false), corner(first, true)] {
                if !rest.iter().any(|e| e.cube.contains(&probe)) {
                    return Some(false);
                }
            }
        }
    }
    Some(false)
}

/// The lowest (or highest) packet of a cube in every field.
fn corner(c: &Cube, high: bool) -> Packet {
    let pick = |lo: Option<u128>, hi: Option<u128>| if high { hi } else { lo };
    let family = if high { c.family.iter().last() } else { c.family.iter().next() };
    let family = family.unwrap_or(Family::V4);
    let proto = if high {
        (0..=255u8).rev().find(|&p| c.proto.contains(p))
    } else {
        (0..=255u8).find(|&p| c.proto.contains(p))
    }
    .unwrap_or(0);
    let addr = |f: &Option<crate::space::Intervals>| match f {
        Some(s) => {
            pick(s.ranges().first().map(|r| r.0), s.ranges().last().map(|r| r.1)).unwrap_or(0)
        }
        None if high => family.max_addr(),
        None => 0,
    };
    let has_ports = Protos::with_ports().contains(proto);
    let port = |f: &Option<crate::space::Intervals>| {
        has_ports.then(|| match f {
            Some(s) => pick(s.ranges().first().map(|r| r.0), s.ranges().last().map(|r| r.1))
                .unwrap_or(0) as u16,
            None if high => PORT_MAX as u16,
            None => 0,
        })
    };
    let name = |n: &Names| match n {
        Names::Only(s) => pick_name(s.iter().next(), s.iter().last(), high),
        // A name no set mentions: NUL cannot appear in an interface name.
        Names::AllBut(s) => {
            let mut fresh = "\0".to_string();
            while s.contains(&fresh) {
                fresh.push('\0');
            }
            fresh
        }
    };
    let ct = if high { c.ct.iter().last() } else { c.ct.iter().next() };
    Packet {
        family,
        proto,
        saddr: addr(&c.saddr),
        daddr: addr(&c.daddr),
        sport: port(&c.sport),
        dport: port(&c.dport),
        iif: name(&c.iif),
        oif: name(&c.oif),
        ct: ct.unwrap_or(CtState::New),
    }
}

fn pick_name(lo: Option<&String>, hi: Option<&String>, high: bool) -> String {
    if high { hi } else { lo }.cloned().unwrap_or_default()
}

/// The packets for which `rule` ends its chain under every `limit` outcome,
/// by how it ends it. A rule with a `limit` ends it for none.
fn pieces(ctx: &mut Ctx, rule: &ir::Rule) -> Vec<Piece> {
    if limited(rule) {
        return Vec::new();
    }
    ends(ctx, rule)
}

/// Whether the rule holds only while under a rate.
fn limited(rule: &ir::Rule) -> bool {
    rule.actions.iter().any(|a| matches!(a, Action::Limit(_)))
}

/// The packets for which `rule` ends its chain when it holds, by how it
/// ends it: [`pieces`] for a rule whose `limit` lets it hold.
fn ends(ctx: &mut Ctx, rule: &ir::Rule) -> Vec<Piece> {
    let whole = |class| vec![Piece { space: rule.space.clone(), class }];
    if rule.actions.iter().any(|a| matches!(a, Action::Nat(_))) {
        return whole(Class::Translate(rule.id));
    }
    match rule.verdict {
        None => Vec::new(),
        Some(Verdict::Accept) => whole(Class::Accept),
        Some(Verdict::Drop) => whole(Class::Drop),
        Some(Verdict::Reject) => whole(Class::Reject),
        Some(Verdict::Return) => whole(Class::Return),
        Some(Verdict::Jump(to)) | Some(Verdict::Goto(to)) => {
            let decided = decided(ctx, to);
            let mut out = Vec::new();
            for piece in &decided.parts {
                let part = intersect(&rule.space, &piece.space);
                if !part.is_empty() {
                    out.push(Piece { space: part, class: piece.class });
                }
            }
            if let Some(Verdict::Goto(_)) = rule.verdict {
                // The rest may run off the end of `to` and leaves this chain anyway.
                let all: Space = out.iter().flat_map(|p| p.space.iter().cloned()).collect();
                if let Some(rest) = subtract(&rule.space, &all) {
                    out.push(Piece { space: rest, class: Class::Goto(to) });
                }
            }
            out
        }
    }
}

/// Whether a class is a final verdict, rather than leaving the chain for
/// its caller to go on.
fn is_final(class: Class) -> bool {
    !matches!(class, Class::Return | Class::Goto(_) | Class::Jump(_))
}

/// The packets chain `id` gives a final verdict under every `limit`
/// outcome, computed once.
///
/// The chain's rules are read in order, keeping `ended`: the packets some
/// earlier rule may already have taken out of the chain. A rule without
/// `limit` ends the chain for its [`pieces`]; a packet it ends with a final
/// verdict, and that no earlier rule may have taken, is decided. A rule with
/// `limit` decides nothing for sure, but under its rate a `return`, or a
/// `goto` to a chain that may run off its end, takes packets out of the chain
/// without a verdict: those are never decided here, whatever comes after
/// (the `ssh_rate { limit 3/minute return; drop }` of issue 8).
///
/// A chain still being computed (a jump cycle, reported on its own) counts as
/// deciding nothing, and so does a chain whose spaces hit the fragment cap:
/// both only make blockers smaller, never a finding wrong.
fn decided(ctx: &mut Ctx, id: ChainId) -> std::rc::Rc<Decided> {
    let Some(memo) = ctx.decided.get(id.0 as usize) else { return Default::default() };
    match memo {
        Memo::Done(d) => return d.clone(),
        Memo::InProgress => return Default::default(),
        Memo::Todo => {}
    }
    ctx.decided[id.0 as usize] = Memo::InProgress;
    let table = ctx.table;
    let chain = &table.chains[id.0 as usize];
    let mut d = Decided::default();
    let mut ended: Space = Vec::new();
    let mut ok = true;
    for rule in &chain.rules {
        let pieces = if limited(rule) {
            ends(ctx, rule).into_iter().filter(|p| !is_final(p.class)).collect()
        } else {
            ends(ctx, rule)
        };
        if pieces.is_empty() {
            continue;
        }
        let Some(fresh) = subtract(&rule.space, &ended) else {
            ok = false;
            break;
        };
        for piece in pieces {
            let part = intersect(&piece.space, &fresh);
            if is_final(piece.class) && !limited(rule) {
                d.parts.push(Piece { space: part.clone(), class: piece.class });
            }
            ended.extend(part);
        }
        if ended.len() > FRAGMENT_CAP {
            ok = false;
            break;
        }
    }
    d.parts.retain(|p| !p.space.is_empty());
    let d = std::rc::Rc::new(if ok { d } else { Decided::default() });
    ctx.decided[id.0 as usize] = Memo::Done(d.clone());
    d
}

/// `a - b`, or `None` past [`FRAGMENT_CAP`] pieces.
fn subtract(a: &[Cube], b: &[Cube]) -> Option<Space> {
    let mut left: Space = a.iter().filter(|c| !c.is_empty()).cloned().collect();
    for o in b {
        let mut next = Vec::with_capacity(left.len());
        for f in left {
            if meets(&f, o) {
                next.extend(f.subtract(o));
            } else {
                next.push(f);
            }
        }
        if next.len() > FRAGMENT_CAP {
            return None;
        }
        left = next;
        if left.is_empty() {
            break;
        }
    }
    Some(left)
}

/// Whether cube `a` holds every packet of cube `b`.
fn contains(a: &Cube, b: &Cube) -> bool {
    fn ivs(
        a: &Option<crate::space::Intervals>,
        b: &Option<crate::space::Intervals>,
        max: u128,
    ) -> bool {
        match (a, b) {
            (None, _) => true,
            (Some(x), None) => x.is_full(max),
            (Some(x), Some(y)) => y.is_subset(x),
        }
    }
    fn names(a: &Names, b: &Names) -> bool {
        match (a, b) {
            (Names::AllBut(x), Names::AllBut(y)) => x.is_subset(y),
            (Names::AllBut(x), Names::Only(y)) => y.iter().all(|n| !x.contains(n)),
            (Names::Only(_), Names::AllBut(_)) => false,
            (Names::Only(x), Names::Only(y)) => y.is_subset(x),
        }
    }
    let addr_max = b.family.single().map_or(u128::MAX, Family::max_addr);
    b.family.subtract(a.family).is_empty()
        && b.proto.subtract(a.proto).is_empty()
        && b.ct.subtract(a.ct).is_empty()
        && ivs(&a.dport, &b.dport, PORT_MAX)
        && ivs(&a.saddr, &b.saddr, addr_max)
        && ivs(&a.daddr, &b.daddr, addr_max)
        && ivs(&a.sport, &b.sport, PORT_MAX)
        && names(&a.iif, &b.iif)
        && names(&a.oif, &b.oif)
}

/// [`Cube::intersects`] without building the intersection of name sets.
fn meets(a: &Cube, b: &Cube) -> bool {
    fn names(a: &Names, b: &Names) -> bool {
        match (a, b) {
            (Names::Only(x), Names::Only(y)) => x.iter().any(|n| y.contains(n)),
            (Names::Only(x), Names::AllBut(y)) | (Names::AllBut(y), Names::Only(x)) => {
                x.iter().any(|n| !y.contains(n))
            }
            // Infinitely many names are in neither exclusion list.
            (Names::AllBut(_), Names::AllBut(_)) => true,
        }
    }
    fn ivs(a: &Option<crate::space::Intervals>, b: &Option<crate::space::Intervals>) -> bool {
        match (a, b) {
            (None, None) => true,
            (None, Some(x)) | (Some(x), None) => !x.is_empty(),
            (Some(x), Some(y)) => x.intersects(y),
        }
    }
    !a.family.intersect(b.family).is_empty()
        && !a.proto.intersect(b.proto).is_empty()
        && !a.ct.intersect(b.ct).is_empty()
        && ivs(&a.dport, &b.dport)
        && ivs(&a.saddr, &b.saddr)
        && ivs(&a.daddr, &b.daddr)
        && ivs(&a.sport, &b.sport)
        && names(&a.iif, &b.iif)
        && names(&a.oif, &b.oif)
}

fn intersect(a: &[Cube], b: &[Cube]) -> Space {
    let mut out = Vec::new();
    for x in a {
        for y in b {
            if meets(x, y) {
                out.push(x.intersect(y));
            }
        }
    }
    out
}

/// The blockers seen so far, in rule order, with a bucket index on
/// destination port and source address to find the ones a cube may meet.
///
/// Bucket bounds are quantiles of the chain's own values, so buckets hold
/// similar numbers of cubes whatever the address plan. A cube goes into the
/// grid cells (port bucket, address bucket) its hull spans, or else the port
/// buckets, or else the address buckets, or else (unrestricted in both, or
/// spanning too many buckets) the `wide` list that every query reads.
struct Entries {
    all: Vec<Entry>,
    /// `all[i].hull`, dense, for fast scans.
    hulls: Vec<Hull>,
    port_bounds: Vec<u128>,
    addr_bounds: Vec<u128>,
    /// Row-major: port bucket, then address bucket.
    grid: Vec<Vec<u32>>,
    by_port: Vec<Vec<u32>>,
    by_addr: Vec<Vec<u32>>,
    wide: Vec<u32>,
    /// Per entry, the last query that returned it, to return it once.
    seen: Vec<u32>,
    query: u32,
}

const MIN_BUCKETS: usize = 16;
const MAX_BUCKETS: usize = 512;
/// A cube spanning more buckets than this goes to the next index.
const MAX_SPAN: usize = 8;

impl Entries {
    fn new(chain: &ir::Chain) -> Entries {
        let cubes = || chain.rules.iter().flat_map(|r| r.space.iter());
        // About sqrt(n) buckets per axis keeps both the grid and each cell
        // small as chains grow.
        let buckets = (cubes().count() as f64).sqrt() as usize;
        let buckets = buckets.clamp(MIN_BUCKETS, MAX_BUCKETS);
        let port_bounds = quantiles(
            cubes().filter_map(|c| c.dport.as_ref()?.ranges().first().map(|r| r.0)),
            buckets,
        );
        let addr_bounds = quantiles(
            cubes().filter_map(|c| c.saddr.as_ref()?.ranges().first().map(|r| r.0)),
            buckets,
        );
        Entries {
            all: Vec::new(),
            hulls: Vec::new(),
            grid: vec![Vec::new(); port_bounds.len() * addr_bounds.len()],
            by_port: vec![Vec::new(); port_bounds.len()],
            by_addr: vec![Vec::new(); addr_bounds.len()],
            port_bounds,
            addr_bounds,
            wide: Vec::new(),
            seen: Vec::new(),
            query: 0,
        }
    }

    fn push(&mut self, e: Entry) {
        let id = self.all.len() as u32;
        let ports = e.hull.dport_bounded().then(|| span(&self.port_bounds, e.hull.dport));
        let addrs = e.hull.saddr_bounded().then(|| span(&self.addr_bounds, e.hull.saddr));
        let width = self.addr_bounds.len();
        match (ports, addrs) {
            (Some(p), Some(a)) if p.len() * a.len() <= MAX_SPAN * 2 => {
                for pb in p {
                    for ab in a.clone() {
                        self.grid[pb * width + ab].push(id);
                    }
                }
            }
            (Some(r), _) if r.len() <= MAX_SPAN => {
                self.by_port[r].iter_mut().for_each(|b| b.push(id))
            }
            (_, Some(r)) if r.len() <= MAX_SPAN => {
                self.by_addr[r].iter_mut().for_each(|b| b.push(id))
            }
            _ => self.wide.push(id),
        }
        self.hulls.push(e.hull);
        self.all.push(e);
        self.seen.push(0);
    }

    /// Every entry whose hull may meet one of `hulls`, in rule order.
    fn query(&mut self, hulls: &[Hull]) -> Vec<u32> {
        self.query += 1;
        let q = self.query;
        let mut out = Vec::new();
        let mut take = |ids: &[u32], seen: &mut Vec<u32>| {
            for &i in ids {
                if seen[i as usize] != q {
                    seen[i as usize] = q;
                    out.push(i);
                }
            }
        };
        let width = self.addr_bounds.len();
        for h in hulls {
            let addrs = span(&self.addr_bounds, h.saddr);
            for pb in span(&self.port_bounds, h.dport) {
                for b in &self.grid[pb * width + addrs.start..pb * width + addrs.end] {
                    take(b, &mut self.seen);
                }
            }
            for b in &self.by_port[span(&self.port_bounds, h.dport)] {
                take(b, &mut self.seen);
            }
            for b in &self.by_addr[span(&self.addr_bounds, h.saddr)] {
                take(b, &mut self.seen);
            }
        }
        take(&self.wide, &mut self.seen);
        out.sort_unstable();
        out
    }
}

/// Up to `buckets` bucket starts, the first 0, from sample values.
fn quantiles(values: impl Iterator<Item = u128>, buckets: usize) -> Vec<u128> {
    let mut v: Vec<u128> = values.collect();
    v.sort_unstable();
    let step = (v.len() / buckets).max(1);
    let mut bounds = vec![0];
    for x in v.into_iter().step_by(step) {
        if x > *bounds.last().expect("starts with 0") {
            bounds.push(x);
        }
    }
    bounds
}

/// The buckets a closed range `(lo, hi)` falls into.
fn span(bounds: &[u128], (lo, hi): (u128, u128)) -> std::ops::Range<usize> {
    let at = |v: u128| bounds.partition_point(|&b| b <= v).saturating_sub(1);
    if lo > hi {
        return 0..0;
    }
    at(lo)..at(hi) + 1
}

/// A cube's bounding box in its integer fields, compared before the exact,
/// allocation-heavy cube tests.
#[derive(Clone, Copy, Debug)]
struct Hull {
    family: u8,
    proto: Protos,
    ct: u8,
    /// `(lo, hi)`; the whole range when unrestricted.
    saddr: (u128, u128),
    daddr: (u128, u128),
    sport: (u128, u128),
    dport: (u128, u128),
}

impl Hull {
    fn of(c: &Cube) -> Hull {
        let span = |f: &Option<crate::space::Intervals>| match f {
            Some(s) => match (s.ranges().first(), s.ranges().last()) {
                (Some(a), Some(b)) => (a.0, b.1),
                _ => (1, 0),
            },
            None => (0, u128::MAX),
        };
        Hull {
            family: u8::from(c.family.contains(Family::V4))
                | (u8::from(c.family.contains(Family::V6)) << 1),
            proto: c.proto,
            ct: crate::space::CtState::ALL
                .iter()
                .enumerate()
                .fold(0, |m, (i, s)| m | (u8::from(c.ct.contains(*s)) << i)),
            saddr: span(&c.saddr),
            daddr: span(&c.daddr),
            sport: span(&c.sport),
            dport: span(&c.dport),
        }
    }

    fn dport_bounded(&self) -> bool {
        self.dport != (0, u128::MAX)
    }

    fn saddr_bounded(&self) -> bool {
        self.saddr != (0, u128::MAX)
    }

    fn meets(&self, o: &Hull) -> bool {
        fn over<T: Ord + Copy>(a: (T, T), b: (T, T)) -> bool {
            a.0.max(b.0) <= a.1.min(b.1)
        }
        self.family & o.family != 0
            && self.ct & o.ct != 0
            && over(self.dport, o.dport)
            && over(self.saddr, o.saddr)
            && over(self.daddr, o.daddr)
            && over(self.sport, o.sport)
            && !self.proto.intersect(o.proto).is_empty()
    }
}

fn unmatchable(rule: &ir::Rule) -> Diagnostic {
    Diagnostic::new(
        codes::UNMATCHABLE_RULE,
        "rule can never match: its matches contradict each other",
        rule.loc,
        "no packet satisfies all of these matches",
    )
    .with_help("remove the contradicting match, or split the rule in two")
}

/// The class the rule being checked would give its packets, when it decides.
fn own_class(rule: &ir::Rule) -> Option<Class> {
    if rule.actions.iter().any(|a| matches!(a, Action::Nat(_))) {
        return Some(Class::Translate(rule.id));
    }
    Some(match rule.verdict? {
        Verdict::Accept => Class::Accept,
        Verdict::Drop => Class::Drop,
        Verdict::Reject => Class::Reject,
        Verdict::Return => Class::Return,
        Verdict::Jump(c) => Class::Jump(c),
        Verdict::Goto(c) => Class::Goto(c),
    })
}

/// Whether a blocker's piece does to a packet what `rule` would have done:
/// the same verdict statement and translation, or the same end.
pub fn same(table: &ir::Table, blocker: &ir::Rule, class: Class, rule: &ir::Rule) -> bool {
    let statement = blocker.verdict == rule.verdict
        && match (translation(blocker), translation(rule)) {
            (None, None) => true,
            (Some(a), Some(b)) => same_translation(a, b),
            _ => false,
        };
    statement || own_class(rule).is_some_and(|own| same_class(table, own, class))
}

/// Whether two classes end a packet the same way.
fn same_class(table: &ir::Table, a: Class, b: Class) -> bool {
    let nat = |r: ir::RuleId| {
        let rule = table.chains.get(r.chain.0 as usize)?.rules.get(r.index as usize)?;
        translation(rule)
    };
    match (a, b) {
        (Class::Translate(x), Class::Translate(y)) => match (nat(x), nat(y)) {
            (Some(x), Some(y)) => same_translation(x, y),
            _ => x == y,
        },
        _ => a == b,
    }
}

fn translation(rule: &ir::Rule) -> Option<&ir::Nat> {
    crate::eval::translation(rule)
}

/// Whether two translations send packets to the same place, wherever each
/// is written.
pub fn same_translation(a: &ir::Nat, b: &ir::Nat) -> bool {
    use ir::Nat::Dnat;
    match (a, b) {
        (Dnat { backends: x, balance: bx }, Dnat { backends: y, balance: by }) => {
            let target = |b: &ir::NatBackend| (b.addr, b.port, b.weight);
            bx == by && x.len() == y.len() && x.iter().map(target).eq(y.iter().map(target))
        }
        _ => a == b,
    }
}

/// The shadowed-rule or redundant-rule finding for a covered rule.
fn covered(ctx: &Ctx, chain: &ir::Chain, rule: &ir::Rule, cover: &Cover) -> Diagnostic {
    // Each shown blocker with how it ends the chain for the packets it takes.
    let mut shown: Vec<(&ir::Rule, Vec<Class>)> = Vec::new();
    for &(i, class) in &cover.shown {
        let Some(b) = chain.rules.get(i as usize) else { continue };
        match shown.iter_mut().find(|x| x.0.id == b.id) {
            Some(x) => x.1.push(class),
            None => shown.push((b, vec![class])),
        }
    }
    let own = own_class(rule);
    let shadowed = own.is_none() || cover.differs;
    let n = cover.count;
    let by = if n == 1 { "an earlier rule".to_string() } else { format!("{n} earlier rules") };
    let they = if n == 1 { "it" } else { "they" };
    let table = ctx.table;
    let words = Words { table };
    let mut outcome_verbs: Vec<String> = Vec::new();
    for b in &shown {
        for &c in &b.1 {
            if shadowed && own.is_some() && same(table, b.0, c, rule) {
                continue;
            }
            let v = verb(c, n == 1, &words);
            if !outcome_verbs.contains(&v) {
                outcome_verbs.push(v);
            }
        }
    }
    let did = outcome_verbs.join(" or ");
    let (finding, message, help) = match own {
        None => {
            let what = if rule.actions.iter().any(|a| matches!(a, Action::Counter(_))) {
                "its counter stays at zero"
            } else {
                "its statements never run"
            };
            (
                codes::SHADOWED_RULE,
                format!("rule never sees a packet: covered by {by}, so {what}"),
                "move this rule above the rules that cover it, or remove it",
            )
        }
        Some(own) if shadowed => (
            codes::SHADOWED_RULE,
            format!(
                "rule never decides a packet: covered by {by}; {they} {did} what this rule would {}",
                infinitive(own, &words)
            ),
            "move this rule above the rules that cover it, or remove it",
        ),
        Some(_) => (
            codes::REDUNDANT_RULE,
            format!("rule is redundant: covered by {by} that already {did} the same packets"),
            "remove this rule; no packet's verdict changes",
        ),
    };
    let label =
        if shadowed { "this rule is never reached" } else { "removing this rule changes nothing" };
    let mut diag = Diagnostic::new(finding, message, rule.loc, label).with_help(help);
    for b in &shown {
        diag = diag.with_related(b.0.loc, blocker_label(b.0, &b.1, &words));
    }
    diag
}

/// Names of chains and texts of translations, for the wording of findings.
struct Words<'a> {
    table: &'a ir::Table,
}

impl Words<'_> {
    fn chain(&self, c: ChainId) -> &str {
        self.table.chains.get(c.0 as usize).map_or("?", |c| c.name.as_str())
    }

    fn nat(&self, r: ir::RuleId) -> String {
        let rule =
            self.table.chains.get(r.chain.0 as usize).and_then(|c| c.rules.get(r.index as usize));
        rule.and_then(translation).map_or_else(|| "?".into(), describe::nat)
    }
}

/// The verb for what a blocker does, for one rule (`drops`) or several (`drop`).
fn verb(c: Class, one: bool, words: &Words) -> String {
    let s = if one { "s" } else { "" };
    let es = if one { "es" } else { "" };
    match c {
        Class::Accept => format!("accept{s}"),
        Class::Drop => format!("drop{s}"),
        Class::Reject => format!("reject{s}"),
        Class::Translate(r) => format!("translate{s} (`{}`)", words.nat(r)),
        Class::Return => format!("return{s} from the chain on"),
        Class::Goto(to) => format!("go{es} to `{}` with", words.chain(to)),
        Class::Jump(to) => format!("jump{s} to `{}` with", words.chain(to)),
    }
}

fn infinitive(c: Class, words: &Words) -> String {
    match c {
        Class::Accept => "accept".into(),
        Class::Drop => "drop".into(),
        Class::Reject => "reject".into(),
        Class::Translate(r) => format!("translate (`{}`)", words.nat(r)),
        Class::Return => "return from the chain on".into(),
        Class::Goto(to) => format!("send to `{}` with goto", words.chain(to)),
        Class::Jump(to) => format!("send to `{}` with jump", words.chain(to)),
    }
}

fn blocker_label(b: &ir::Rule, classes: &[Class], words: &Words) -> String {
    let what = describe::space(&b.space);
    if b.actions.iter().any(|a| matches!(a, Action::Nat(_))) {
        return format!("translates and accepts {what} first");
    }
    match b.verdict {
        Some(Verdict::Accept) => format!("accepts {what} first"),
        Some(Verdict::Drop) => format!("drops {what} first"),
        Some(Verdict::Reject) => format!("rejects {what} first"),
        Some(Verdict::Return) => format!("returns {what} from the chain first"),
        Some(Verdict::Jump(to) | Verdict::Goto(to)) => {
            let mut finals: Vec<String> = Vec::new();
            for &c in classes.iter().filter(|&&c| is_final(c)) {
                let v = verb(c, true, words);
                if !finals.contains(&v) {
                    finals.push(v);
                }
            }
            let kind = if matches!(b.verdict, Some(Verdict::Goto(_))) { "goes" } else { "jumps" };
            let to = words.chain(to);
            if finals.is_empty() {
                format!("{kind} to `{to}` with {what} first")
            } else {
                format!(
                    "{kind} to `{to}` with {what} first; `{to}` {} some of them",
                    finals.join(" or ")
                )
            }
        }
        None => format!("matches {what} first"),
    }
}

/// A rough size of a cube, only to order blockers by how much they cover.
fn volume(c: &Cube) -> f64 {
    let fam = c.family.iter().count() as f64;
    let addr = |f: &Option<crate::space::Intervals>| match f {
        Some(s) => s.count() as f64,
        None => c.family.iter().map(|f| f.max_addr() as f64 + 1.0).sum::<f64>() / fam.max(1.0),
    };
    let port =
        |f: &Option<crate::space::Intervals>| f.as_ref().map_or(65536.0, |s| s.count() as f64);
    let names = |n: &Names| match n {
        Names::Only(s) => s.len() as f64,
        Names::AllBut(s) => 1e6 - s.len() as f64,
    };
    fam * f64::from(c.proto.len())
        * addr(&c.saddr)
        * addr(&c.daddr)
        * port(&c.sport)
        * port(&c.dport)
        * names(&c.iif)
        * names(&c.oif)
        * c.ct.iter().count() as f64
}
