//! Rules that never decide a packet: `shadowed-rule`, `redundant-rule`, and
//! `unmatchable-rule` for rules that match nothing at all.
//!
//! For each rule, in chain order, the earlier rules that end the chain for a
//! packet (the *blockers*) are subtracted from the rule's match space, one by
//! one and in rule order, with [`Cube::subtract`]. When nothing is left, the
//! rule never sees a packet. Subtracting in rule order makes the piece each
//! blocker removes exactly the packets it is the first to decide, so the
//! verdicts the finding names are the ones the packets really get.
//!
//! A blocker is a rule without `limit` that ends the chain: `accept`, `drop`,
//! `reject`, address translation (which accepts), `return` and `goto`. A
//! `jump C` rule blocks only the packets chain `C` always decides; those are
//! computed exactly, per verdict, as [`Decided`] spaces.
//!
//! Two guards keep this fast. Candidate blockers are found by comparing cheap
//! bounding boxes ([`Hull`]) before exact cube tests, and a rule is first
//! probed at two corner packets: if either is matched by no candidate, the
//! rule is certainly not covered and no subtraction runs. The subtraction
//! itself stops at [`FRAGMENT_CAP`] pieces; a rule that hits the cap gets no
//! finding (never a guessed one).

use shriek_grammar::Diagnostic;

use super::{apply_allows, describe, REDUNDANT_RULE, SHADOWED_RULE, UNMATCHABLE_RULE};
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
    /// Ends this chain without a final verdict: `return`.
    Return,
    /// Ends this chain in another one that may fall through: `goto C`.
    Goto(ChainId),
    /// Only for the rule being checked: `jump C`.
    Jump(ChainId),
}

/// The packets a chain decides for good when entered, per final verdict.
#[derive(Clone, Debug, Default)]
pub struct Decided {
    pub accept: Space,
    pub drop: Space,
    pub reject: Space,
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
}

/// All findings of this kind for one table.
pub(super) fn check_table(_policy: &ir::Policy, _t: u32, table: &ir::Table) -> Vec<Diagnostic> {
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
    /// Earlier rules end the chain for every packet it matches: the index
    /// (in the chain) of each rule that is the first to do so for some of
    /// them, with how it ends it, in rule order.
    Covered(Vec<(u32, Class)>),
    /// The exact computation hit [`FRAGMENT_CAP`].
    Unknown,
}

/// The coverage of every rule of `chain` in table `table`, for tests and
/// benchmarks that want the raw result without diagnostics.
pub fn coverage(table: &ir::Table, chain: ChainId) -> Vec<Coverage> {
    let mut ctx = Ctx { table, decided: vec![Memo::Todo; table.chains.len()] };
    let chain = &table.chains[chain.0 as usize];
    let mut entries = Vec::new();
    chain.rules.iter().map(|rule| step(&mut ctx, rule, &mut entries).0).collect()
}

fn check_chain(ctx: &mut Ctx, chain: &ir::Chain, out: &mut Vec<Diagnostic>) {
    let mut entries: Vec<Entry> = Vec::new();
    for rule in &chain.rules {
        let (coverage, cubes) = step(ctx, rule, &mut entries);
        let diag = match coverage {
            Coverage::Empty => Some(unmatchable(rule)),
            Coverage::Covered(used) => Some(covered(ctx, chain, rule, &cubes, &used)),
            Coverage::Reached | Coverage::Unknown => None,
        };
        if let Some(diag) = diag {
            out.push(apply_allows(diag, &rule.allows));
        }
    }
}

/// Checks one rule against the blockers before it, then adds its own pieces.
fn step(ctx: &mut Ctx, rule: &ir::Rule, entries: &mut Vec<Entry>) -> (Coverage, Vec<Cube>) {
    let cubes: Vec<Cube> = rule.space.iter().filter(|c| !c.is_empty()).cloned().collect();
    if cubes.is_empty() {
        return (Coverage::Empty, cubes);
    }
    let coverage = cover(&cubes, entries);
    for piece in pieces(ctx, rule) {
        for cube in piece.space {
            if !cube.is_empty() {
                let hull = Hull::of(&cube);
                entries.push(Entry { rule: rule.id.index, class: piece.class, cube, hull });
            }
        }
    }
    (coverage, cubes)
}

/// Whether `entries` (in rule order) cover `cubes`, and which rules do.
fn cover(cubes: &[Cube], entries: &[Entry]) -> Coverage {
    let hulls: Vec<Hull> = cubes.iter().map(Hull::of).collect();
    let candidates: Vec<&Entry> = entries
        .iter()
        .filter(|e| {
            hulls.iter().zip(cubes).any(|(h, c)| h.meets(&e.hull) && c.intersects(&e.cube))
        })
        .collect();
    if candidates.is_empty() {
        return Coverage::Reached;
    }
    // A corner that no candidate matches proves the rule is reached.
    for c in cubes {
        for probe in [corner(c, false), corner(c, true)] {
            if !candidates.iter().any(|e| e.cube.contains(&probe)) {
                return Coverage::Reached;
            }
        }
    }
    let mut left: Vec<Cube> = cubes.to_vec();
    let mut used: Vec<(u32, Class)> = Vec::new();
    for e in candidates {
        let mut next = Vec::with_capacity(left.len());
        let mut hit = false;
        for f in left {
            if f.intersects(&e.cube) {
                hit = true;
                next.extend(f.subtract(&e.cube));
            } else {
                next.push(f);
            }
        }
        if hit && !used.contains(&(e.rule, e.class)) {
            used.push((e.rule, e.class));
        }
        if next.len() > FRAGMENT_CAP {
            return Coverage::Unknown;
        }
        left = next;
        if left.is_empty() {
            return Coverage::Covered(used);
        }
    }
    Coverage::Reached
}

/// The lowest (or highest) packet of a cube in every field.
fn corner(c: &Cube, high: bool) -> Packet {
    let pick = |lo: Option<u128>, hi: Option<u128>| if high { hi } else { lo };
    let family = if high { c.family.iter().last() } else { c.family.iter().next() };
    let family = family.unwrap_or(Family::V4);
    let proto = pick(c.proto.iter().next().map(u128::from), c.proto.iter().last().map(u128::from))
        .unwrap_or(0) as u8;
    let addr = |f: &Option<crate::space::Intervals>| match f {
        Some(s) => pick(s.ranges().first().map(|r| r.0), s.ranges().last().map(|r| r.1)).unwrap_or(0),
        None if high => family.max_addr(),
        None => 0,
    };
    let has_ports = Protos::with_ports().contains(proto);
    let port = |f: &Option<crate::space::Intervals>| {
        has_ports.then(|| match f {
            Some(s) => {
                pick(s.ranges().first().map(|r| r.0), s.ranges().last().map(|r| r.1)).unwrap_or(0)
                    as u16
            }
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

/// The packets for which `rule` ends its chain, by how it ends it.
fn pieces(ctx: &mut Ctx, rule: &ir::Rule) -> Vec<Piece> {
    if rule.actions.iter().any(|a| matches!(a, Action::Limit(_))) {
        return Vec::new();
    }
    if rule.actions.iter().any(|a| matches!(a, Action::Nat(_))) {
        return vec![Piece { space: rule.space.clone(), class: Class::Accept }];
    }
    let whole = |class| vec![Piece { space: rule.space.clone(), class }];
    match rule.verdict {
        None => Vec::new(),
        Some(Verdict::Accept) => whole(Class::Accept),
        Some(Verdict::Drop) => whole(Class::Drop),
        Some(Verdict::Reject) => whole(Class::Reject),
        Some(Verdict::Return) => whole(Class::Return),
        Some(Verdict::Jump(to)) | Some(Verdict::Goto(to)) => {
            let decided = decided(ctx, to);
            let mut out = Vec::new();
            for (space, class) in [
                (&decided.accept, Class::Accept),
                (&decided.drop, Class::Drop),
                (&decided.reject, Class::Reject),
            ] {
                let part = intersect(&rule.space, space);
                if !part.is_empty() {
                    out.push(Piece { space: part, class });
                }
            }
            if let Some(Verdict::Goto(_)) = rule.verdict {
                // The rest falls through `to` and leaves this chain anyway.
                let all: Space = out.iter().flat_map(|p| p.space.iter().cloned()).collect();
                if let Some(rest) = subtract(&rule.space, &all) {
                    out.push(Piece { space: rest, class: Class::Goto(to) });
                }
            }
            out
        }
    }
}

/// The packets chain `id` decides with a final verdict, computed once.
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
        let pieces = pieces(ctx, rule);
        if pieces.is_empty() {
            continue;
        }
        let Some(fresh) = subtract(&rule.space, &ended) else {
            ok = false;
            break;
        };
        for piece in pieces {
            let part = intersect(&piece.space, &fresh);
            match piece.class {
                Class::Accept => d.accept.extend(part.iter().cloned()),
                Class::Drop => d.drop.extend(part.iter().cloned()),
                Class::Reject => d.reject.extend(part.iter().cloned()),
                Class::Return | Class::Goto(_) | Class::Jump(_) => {}
            }
            ended.extend(part);
        }
        if ended.len() > FRAGMENT_CAP {
            ok = false;
            break;
        }
    }
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
            if f.intersects(o) {
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

fn intersect(a: &[Cube], b: &[Cube]) -> Space {
    let mut out = Vec::new();
    for x in a {
        for y in b {
            if x.intersects(y) {
                out.push(x.intersect(y));
            }
        }
    }
    out
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
    sport: (u32, u32),
    dport: (u32, u32),
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
        let port = |f: &Option<crate::space::Intervals>| {
            let (lo, hi) = span(f);
            (lo.min(u128::from(u32::MAX)) as u32, hi.min(u128::from(u32::MAX)) as u32)
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
            sport: port(&c.sport),
            dport: port(&c.dport),
        }
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
    UNMATCHABLE_RULE
        .diagnostic(
            "rule can never match: its matches contradict each other",
            rule.loc,
            "no packet satisfies all of these matches",
        )
        .with_help("remove the contradicting match, or split the rule in two")
}

/// The class the rule being checked would give its packets, when it decides.
fn own_class(rule: &ir::Rule) -> Option<Class> {
    if rule.actions.iter().any(|a| matches!(a, Action::Nat(_))) {
        return Some(Class::Accept);
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
/// the same verdict statement, or the same final outcome.
pub fn same(blocker: &ir::Rule, class: Class, rule: &ir::Rule) -> bool {
    let nat = |r: &ir::Rule| r.actions.iter().any(|a| matches!(a, Action::Nat(_)));
    (blocker.verdict == rule.verdict && nat(blocker) == nat(rule)) || own_class(rule) == Some(class)
}

/// The shadowed-rule or redundant-rule finding for a covered rule.
fn covered(
    ctx: &Ctx,
    chain: &ir::Chain,
    rule: &ir::Rule,
    cubes: &[Cube],
    used: &[(u32, Class)],
) -> Diagnostic {
    // Each used blocker, how it ends the chain for the packets it is first to
    // take, and whether that differs from what this rule would do.
    let mut blockers: Vec<(&ir::Rule, Vec<Class>, bool, f64)> = Vec::new();
    for &(i, _) in used {
        let Some(b) = chain.rules.get(i as usize) else { continue };
        if blockers.iter().any(|x| x.0.id == b.id) {
            continue;
        }
        let classes: Vec<Class> = used.iter().filter(|u| u.0 == i).map(|u| u.1).collect();
        let differs = classes.iter().any(|&c| !same(b, c, rule));
        let overlap: f64 = intersect(cubes, &b.space).iter().map(volume).sum();
        blockers.push((b, classes, differs, overlap));
    }
    let own = own_class(rule);
    let shadowed = own.is_none() || blockers.iter().any(|b| b.2);

    // A small covering set to show: a differing blocker first, then by overlap.
    blockers.sort_by(|a, b| b.2.cmp(&a.2).then(b.3.total_cmp(&a.3)));
    let mut shown = Vec::new();
    let mut left: Space = cubes.to_vec();
    for b in &blockers {
        if !left.iter().any(|l| b.0.space.iter().any(|c| l.intersects(c))) {
            continue;
        }
        let Some(next) = subtract(&left, &b.0.space) else {
            shown = blockers.iter().collect();
            break;
        };
        shown.push(b);
        left = next;
        if left.is_empty() {
            break;
        }
    }
    shown.sort_by_key(|b| b.0.id.index);

    let n = shown.len();
    let by = if n == 1 { "an earlier rule".to_string() } else { format!("{n} earlier rules") };
    let they = if n == 1 { "it" } else { "they" };
    let table = ctx.table;
    let names = |c: ChainId| table.chains.get(c.0 as usize).map_or("?", |c| c.name.as_str());
    let mut outcome_verbs: Vec<String> = Vec::new();
    for b in &shown {
        for &c in &b.1 {
            let v = plural_verb(c, names);
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
                SHADOWED_RULE,
                format!("rule never sees a packet: covered by {by}, so {what}"),
                "move this rule above the rules that cover it, or remove it",
            )
        }
        Some(own) if shadowed => (
            SHADOWED_RULE,
            format!(
                "rule never decides a packet: covered by {by}; {they} {did} what this rule would {}",
                infinitive(own, names)
            ),
            "move this rule above the rules that cover it, or remove it",
        ),
        Some(_) => (
            REDUNDANT_RULE,
            format!("rule is redundant: covered by {by} that already {did} the same packets"),
            "remove this rule; no packet's verdict changes",
        ),
    };
    let label = if shadowed { "this rule is never reached" } else { "removing this rule changes nothing" };
    let mut diag = finding.diagnostic(message, rule.loc, label).with_help(help);
    const MAX_LABELS: usize = 4;
    for b in shown.iter().take(MAX_LABELS) {
        diag = diag.with_related(b.0.loc, blocker_label(b.0, names));
    }
    if n > MAX_LABELS {
        diag.help = Some(format!("{help} ({} more covering rules not shown)", n - MAX_LABELS));
    }
    diag
}

fn plural_verb<'a>(c: Class, names: impl Fn(ChainId) -> &'a str) -> String {
    match c {
        Class::Accept => "accept".into(),
        Class::Drop => "drop".into(),
        Class::Reject => "reject".into(),
        Class::Return => "return from the chain on".into(),
        Class::Goto(to) => format!("go to `{}` with", names(to)),
        Class::Jump(to) => format!("jump to `{}` with", names(to)),
    }
}

fn infinitive<'a>(c: Class, names: impl Fn(ChainId) -> &'a str) -> String {
    match c {
        Class::Accept => "accept".into(),
        Class::Drop => "drop".into(),
        Class::Reject => "reject".into(),
        Class::Return => "return from the chain on".into(),
        Class::Goto(to) => format!("send to `{}` with goto", names(to)),
        Class::Jump(to) => format!("send to `{}` with jump", names(to)),
    }
}

fn blocker_label<'a>(b: &ir::Rule, names: impl Fn(ChainId) -> &'a str) -> String {
    let what = describe::space(&b.space);
    if b.actions.iter().any(|a| matches!(a, Action::Nat(_))) {
        return format!("translates and accepts {what} first");
    }
    match b.verdict {
        Some(Verdict::Accept) => format!("accepts {what} first"),
        Some(Verdict::Drop) => format!("drops {what} first"),
        Some(Verdict::Reject) => format!("rejects {what} first"),
        Some(Verdict::Return) => format!("returns {what} from the chain first"),
        Some(Verdict::Jump(to)) => format!("jumps to `{}` with {what} first, which decides them", names(to)),
        Some(Verdict::Goto(to)) => format!("goes to `{}` with {what} first", names(to)),
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
    let port = |f: &Option<crate::space::Intervals>| f.as_ref().map_or(65536.0, |s| s.count() as f64);
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
