//! Symbolic evaluation: every packet on a hook at once, as a partition of
//! the packet space into cubes, each with the tree of what happens to its
//! packets.
//!
//! It follows [`crate::eval::evaluate`] rule for rule, on regions instead of
//! packets: base chains in priority order across tables, a drop or reject
//! anywhere final, `jump` with a return point, `goto` without one, `return`,
//! chain policies, the kernel's jump depth, and address translation, which
//! accepts. Where `eval` takes every `limit` as under or over its rate, this
//! keeps both: a rule with a `limit` forks the tree into what happens while
//! under the rate and what happens past it.

use crate::identity::DEFAULT_LIMIT_BURST;
use crate::ir::{
    Action, ChainId, ChainPolicy, Hook, Limit, MeterTest, Nat, Outcome, Policy, Rule, RuleId,
    Verdict,
};
use crate::nft::vocab::{name_of, JUMP_STACK_DEPTH, LOG_LEVELS};
use crate::space::{Cube, Families, Family, Protos};

/// What happens to a packet, branching on `limit`s.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Tree<T> {
    Leaf(T),
    /// `under` while the limit's rate holds, `over` past it.
    Limit {
        limit: Rate,
        under: Box<Tree<T>>,
        over: Box<Tree<T>>,
    },
}

/// The rates of one rule's `limit`s, as written: `3/minute`, `10/second
/// burst 5`, `3/minute and 100/hour` (the rule holds while all do). Two
/// limits with the same rates compare equal; which other packets share a
/// limit's budget is not compared.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Rate(pub String);

impl Rate {
    /// The rule's rates, or `None` without a `limit`.
    fn of(rule: &Rule) -> Option<Rate> {
        // `burst 5` is the default: written or not, the same rate.
        let rate = |l: Limit| Limit { burst: l.burst.filter(|b| *b != DEFAULT_LIMIT_BURST), ..l };
        let rates: Vec<String> = rule
            .actions
            .iter()
            .filter_map(|a| match a {
                Action::Limit(l) => Some(rate(*l).to_string()),
                Action::Meter(m) => Some(match m.test {
                    MeterTest::Rate(l) => format!("{} per {}", rate(l), m.key.keyword()),
                    MeterTest::CountOver(n) => format!("ct count over {n} per {}", m.key.keyword()),
                }),
                _ => None,
            })
            .collect();
        (!rates.is_empty()).then(|| Rate(rates.join(" and ")))
    }

    /// When the rule holds, in words: `under 3/minute`, or the count
    /// itself (`ct count over 20 per saddr`), which holds above its number.
    pub fn condition(&self) -> String {
        if self.0.starts_with("ct count") {
            self.0.clone()
        } else {
            format!("under {}", self.0)
        }
    }
}

/// Who ended a packet's path.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Decider {
    /// A rule's verdict or translation.
    Rule(RuleId),
    /// A base chain's policy.
    Policy { table: u32, chain: ChainId },
    /// A `jump` past the kernel's jump stack, which drops.
    TooDeep(RuleId),
    /// A `goto` that goes round a loop of chains, which drops.
    Loop(RuleId),
}

/// A counter or log statement that ran.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Event {
    /// `counter ssh_hits`, `counter`, `log prefix "audit: "`.
    pub text: String,
    pub rule: RuleId,
}

/// A translation that applied.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Translation {
    /// `dnat to 10.0.0.1:80`, in the language's words.
    pub text: String,
    pub rule: RuleId,
}

/// How a packet's path through the chains of one hook ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum End {
    Accept,
    Drop,
    Reject,
    /// Fell off the end of a chain or returned: the caller goes on.
    Continue,
}

impl From<Outcome> for End {
    fn from(o: Outcome) -> End {
        match o {
            Outcome::Accept => End::Accept,
            Outcome::Drop => End::Drop,
            Outcome::Reject => End::Reject,
        }
    }
}

/// One path: how it ended, what it translated and ran on the way, and who
/// decided last.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Path {
    pub end: End,
    pub nats: Vec<Translation>,
    pub events: Vec<Event>,
    pub by: Option<Decider>,
}

impl Path {
    fn end(end: End, by: Option<Decider>) -> Path {
        Path { end, nats: Vec::new(), events: Vec::new(), by }
    }
}

impl<T> Tree<T> {
    pub fn leaves(&self) -> Vec<&T> {
        let mut out = Vec::new();
        let mut stack = vec![self];
        while let Some(t) = stack.pop() {
            match t {
                Tree::Leaf(x) => out.push(x),
                Tree::Limit { under, over, .. } => {
                    stack.push(over);
                    stack.push(under);
                }
            }
        }
        out
    }

    /// The same tree with each leaf replaced, and equal branches folded.
    pub fn map<U: PartialEq>(&self, f: &impl Fn(&T) -> U) -> Tree<U> {
        match self {
            Tree::Leaf(x) => Tree::Leaf(f(x)),
            Tree::Limit { limit, under, over } => {
                let (under, over) = (under.map(f), over.map(f));
                if under == over {
                    under
                } else {
                    Tree::Limit {
                        limit: limit.clone(),
                        under: Box::new(under),
                        over: Box::new(over),
                    }
                }
            }
        }
    }

    /// The leaf reached when every limit is under its rate (`true`) or
    /// every one is over (`false`), as `eval`'s two limit modes take them.
    pub fn uniform(&self, under_rate: bool) -> &T {
        self.follow(&mut std::iter::repeat(under_rate))
    }

    /// The leaf reached when the limits met on the way come out as
    /// `answers` says, in the order met (`true`: under the rate), as
    /// `eval` asks them; past the end of `answers`, under.
    pub fn follow(&self, answers: &mut dyn Iterator<Item = bool>) -> &T {
        match self {
            Tree::Leaf(x) => x,
            Tree::Limit { under, over, .. } => {
                if answers.next().unwrap_or(true) {
                    under.follow(answers)
                } else {
                    over.follow(answers)
                }
            }
        }
    }

    /// How many limits the longest path meets.
    pub fn depth(&self) -> usize {
        match self {
            Tree::Leaf(_) => 0,
            Tree::Limit { under, over, .. } => 1 + under.depth().max(over.depth()),
        }
    }
}

impl Tree<Path> {
    fn has(&self, end: End) -> bool {
        self.leaves().iter().any(|p| p.end == end)
    }

    /// Each leaf ending in `end` replaced by `next`, which continues its
    /// path: the leaf's translations and events come first.
    fn graft(&self, end: End, next: &Tree<Path>) -> Tree<Path> {
        match self {
            Tree::Leaf(p) if p.end == end => next.map_paths(&|q| Path {
                end: q.end,
                nats: p.nats.iter().chain(&q.nats).cloned().collect(),
                events: p.events.iter().chain(&q.events).cloned().collect(),
                by: q.by.or(p.by),
            }),
            Tree::Leaf(p) => Tree::Leaf(p.clone()),
            Tree::Limit { limit, under, over } => Tree::Limit {
                limit: limit.clone(),
                under: Box::new(under.graft(end, next)),
                over: Box::new(over.graft(end, next)),
            },
        }
    }

    /// Like [`Tree::map`], but never folds: limits stay where they were met.
    fn map_paths(&self, f: &impl Fn(&Path) -> Path) -> Tree<Path> {
        match self {
            Tree::Leaf(p) => Tree::Leaf(f(p)),
            Tree::Limit { limit, under, over } => Tree::Limit {
                limit: limit.clone(),
                under: Box::new(under.map_paths(f)),
                over: Box::new(over.map_paths(f)),
            },
        }
    }

    fn with_events_first(self, events: &[Event]) -> Tree<Path> {
        if events.is_empty() {
            return self;
        }
        self.map_paths(&|p| Path {
            events: events.iter().chain(&p.events).cloned().collect(),
            ..p.clone()
        })
    }
}

/// A disjoint piece of the packet space and what happens to its packets.
pub type Pieces = Vec<(Cube, Tree<Path>)>;

/// Past this much work for one hook, the evaluation stops: each cube a rule
/// is tried on costs 1, each piece a rule splits off costs [`SPLIT_COST`].
pub const BUDGET: usize = 50_000_000;
const SPLIT_COST: usize = 16;

/// Why a hook was not compared: nothing is claimed for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GaveUp {
    /// The evaluation ran out of [`BUDGET`].
    TooLarge,
    /// A rule on the hook sets the mark (`mark set`), which later matches
    /// read: pieces cut from the packets as they arrived cannot follow it.
    SetsMark,
}

impl GaveUp {
    /// Why, in the words the reports print.
    pub fn why(self) -> &'static str {
        match self {
            GaveUp::TooLarge => "too many pieces to compare",
            GaveUp::SetsMark => {
                "a rule sets the mark (`mark set`), which the comparison does not follow"
            }
        }
    }

    /// The reason's word in JSON: `too-large` or `sets-mark`.
    pub fn keyword(self) -> &'static str {
        match self {
            GaveUp::TooLarge => "too-large",
            GaveUp::SetsMark => "sets-mark",
        }
    }
}

/// The fate of every packet on `hook`: a partition of the whole packet
/// space. With no base chain on the hook, every packet is accepted.
pub fn hook_fates(policy: &Policy, hook: Hook) -> Result<Pieces, GaveUp> {
    // A `mark set` changes what later matches read, which the cubes of the
    // packets as they arrived cannot follow: such a hook is not compared
    // (and says so) rather than compared wrongly.
    let sets_mark = policy.bases(hook).iter().any(|&(table, _)| {
        policy.tables[table as usize].chains.iter().any(|c| {
            c.rules.iter().any(|r| r.actions.iter().any(|a| matches!(a, Action::MarkSet(_))))
        })
    });
    if sets_mark {
        return Err(GaveUp::SetsMark);
    }
    let mut cx = Cx { policy, table: 0, work: 0 };
    let mut pieces: Pieces = vec![(Cube::full(), Tree::Leaf(Path::end(End::Accept, None)))];
    for (table, chain) in policy.bases(hook) {
        cx.table = table;
        let policy_end = match policy.chain(table, chain).base.map(|b| b.policy) {
            Some(ChainPolicy::Drop) => End::Drop,
            _ => End::Accept,
        };
        let by_policy = Decider::Policy { table, chain };
        let mut next = Vec::new();
        for (cube, tree) in pieces {
            if !tree.has(End::Accept) {
                next.push((cube, tree));
                continue;
            }
            for (c, sub) in cx.run(chain, 0, cube, Level::default())? {
                let sub =
                    sub.graft(End::Continue, &Tree::Leaf(Path::end(policy_end, Some(by_policy))));
                next.push((c, tree.graft(End::Accept, &sub)));
            }
        }
        pieces = next;
    }
    Ok(pieces)
}

/// Where a chain runs: how many jumps deep, and how many `goto`s led to it
/// since that depth was entered.
#[derive(Clone, Copy, Debug, Default)]
struct Level {
    depth: usize,
    gotos: usize,
}

struct Cx<'a> {
    policy: &'a Policy,
    table: u32,
    work: usize,
}

impl Cx<'_> {
    fn tick(&mut self, n: usize) -> Result<(), GaveUp> {
        self.work += n;
        if self.work > BUDGET {
            return Err(GaveUp::TooLarge);
        }
        Ok(())
    }

    /// Packets of `cube` entering `chain` at rule `from`, at `level`.
    /// Paths that fall off the chain end in [`End::Continue`].
    fn run(
        &mut self,
        chain: ChainId,
        from: usize,
        cube: Cube,
        level: Level,
    ) -> Result<Pieces, GaveUp> {
        let rules = &self.policy.chain(self.table, chain).rules;
        let mut out = Vec::new();
        let mut rest = vec![cube];
        for (i, rule) in rules.iter().enumerate().skip(from) {
            if rest.is_empty() {
                break;
            }
            self.tick(rest.len())?;
            // Only the cubes the rule meets are taken out and split; the
            // others stay where they are, untouched.
            let mut met = Vec::new();
            let mut j = 0;
            while j < rest.len() {
                if rule.space.iter().any(|s| rest[j].intersects(s)) {
                    met.push(rest.swap_remove(j));
                } else {
                    j += 1;
                }
            }
            for c in met {
                let (hit, miss) = split(c, &rule.space);
                self.tick(SPLIT_COST * (hit.len() + miss.len()))?;
                rest.extend(miss);
                for h in hit {
                    out.extend(self.apply(chain, i, h, level)?);
                }
            }
        }
        out.extend(rest.into_iter().map(|c| (c, Tree::Leaf(Path::end(End::Continue, None)))));
        Ok(out)
    }

    /// Packets of `cube`, all matched by rule `index` of `chain`.
    fn apply(
        &mut self,
        chain: ChainId,
        index: usize,
        cube: Cube,
        level: Level,
    ) -> Result<Pieces, GaveUp> {
        let rule = &self.policy.chain(self.table, chain).rules[index];
        // Like the kernel (and `eval`), a rule's limits are asked once each
        // time the rule is evaluated.
        let limit = Rate::of(rule);
        let events: Vec<Event> = rule
            .actions
            .iter()
            .filter_map(|a| Some(Event { text: event_text(a)?, rule: rule.id }))
            .collect();
        let nat = rule.actions.iter().find_map(|a| match a {
            Action::Nat(n) => Some(n),
            _ => None,
        });
        if nat.is_none() && rule.verdict.is_none() {
            // Statements only: evaluation goes on either way, and under the
            // rate the statements run.
            let mut out = Vec::new();
            for (c, t) in self.run(chain, index + 1, cube, level)? {
                let ran = t.clone().with_events_first(&events);
                out.push((c, fork(&limit, ran, &t)));
            }
            return Ok(out);
        }
        let decided = self.decide(chain, index, cube.clone(), level, nat)?;
        let decided: Pieces =
            decided.into_iter().map(|(c, t)| (c, t.with_events_first(&events))).collect();
        if limit.is_none() {
            return Ok(decided);
        }
        // Past the rate the rule does nothing: the next rule goes on.
        let past = self.run(chain, index + 1, cube, level)?;
        let mut out = Vec::new();
        for (a, under) in &decided {
            for (b, over) in &past {
                self.tick(SPLIT_COST)?;
                if a.intersects(b) {
                    out.push((a.intersect(b), fork(&limit, under.clone(), over)));
                }
            }
        }
        Ok(out)
    }

    /// The rule's translation or verdict, for packets of `cube`.
    fn decide(
        &mut self,
        chain: ChainId,
        index: usize,
        cube: Cube,
        level: Level,
        nat: Option<&Nat>,
    ) -> Result<Pieces, GaveUp> {
        let rule = &self.policy.chain(self.table, chain).rules[index];
        let by = Some(Decider::Rule(rule.id));
        if let Some(nat) = nat {
            return Ok(translations(nat, &cube)
                .into_iter()
                .map(|(c, text)| {
                    let mut p = Path::end(End::Accept, by);
                    p.nats.extend(text.map(|text| Translation { text, rule: rule.id }));
                    (c, Tree::Leaf(p))
                })
                .collect());
        }
        let leaf =
            |end: End, by: Option<Decider>| vec![(cube.clone(), Tree::Leaf(Path::end(end, by)))];
        match rule.verdict.expect("a rule without verdict or translation is handled by the caller")
        {
            Verdict::Accept => Ok(leaf(End::Accept, by)),
            Verdict::Drop => Ok(leaf(End::Drop, by)),
            Verdict::Reject(_) => Ok(leaf(End::Reject, by)),
            Verdict::Return => Ok(leaf(End::Continue, None)),
            // As `eval`: going to more chains than the table has, without a
            // jump in between, is a loop, and the path drops.
            Verdict::Goto(_)
                if level.gotos >= self.policy.tables[self.table as usize].chains.len() =>
            {
                Ok(leaf(End::Drop, Some(Decider::Loop(rule.id))))
            }
            Verdict::Goto(target) => {
                self.run(target, 0, cube, Level { gotos: level.gotos + 1, ..level })
            }
            Verdict::Jump(_) if level.depth + 1 >= JUMP_STACK_DEPTH => {
                Ok(leaf(End::Drop, Some(Decider::TooDeep(rule.id))))
            }
            Verdict::Jump(target) => {
                let mut out = Vec::new();
                for (c, t) in
                    self.run(target, 0, cube, Level { depth: level.depth + 1, gotos: 0 })?
                {
                    if !t.has(End::Continue) {
                        out.push((c, t));
                        continue;
                    }
                    for (c2, after) in self.run(chain, index + 1, c, level)? {
                        out.push((c2, t.graft(End::Continue, &after)));
                    }
                }
                Ok(out)
            }
        }
    }
}

/// `under` while the rule's limits hold, `over` past them; `under` alone
/// for a rule without one.
fn fork(limit: &Option<Rate>, under: Tree<Path>, over: &Tree<Path>) -> Tree<Path> {
    match limit {
        None => under,
        Some(limit) => Tree::Limit {
            limit: limit.clone(),
            under: Box::new(under),
            over: Box::new(over.clone()),
        },
    }
}

/// `cube` split into what `space` matches and what it does not, each as
/// disjoint cubes.
fn split(cube: Cube, space: &[Cube]) -> (Vec<Cube>, Vec<Cube>) {
    let mut hit: Vec<Cube> = Vec::new();
    let mut miss = vec![cube];
    for s in space {
        let mut still = Vec::new();
        for m in miss {
            if m.intersects(s) {
                hit.push(m.intersect(s));
                still.extend(m.subtract(s).into_iter().filter(|c| !c.is_empty()));
            } else {
                still.push(m);
            }
        }
        miss = still;
    }
    (hit, miss)
}

/// What a translation does to the packets of `cube`: per family (an address
/// of the other family leaves the packet untranslated, as the lowering
/// does) and per protocol with or without ports (a port is only rewritten
/// where there is one). `None` where nothing is rewritten.
fn translations(nat: &Nat, cube: &Cube) -> Vec<(Cube, Option<String>)> {
    let by_family = matches!(nat, Nat::Dnat { .. } | Nat::Snat { .. });
    let by_ports = match nat {
        Nat::Dnat { backends, .. } => backends.iter().any(|b| b.port.is_some()),
        Nat::Snat { port, .. } => port.is_some(),
        Nat::Redirect { .. } => true,
        Nat::Masquerade => false,
    };
    let mut out = Vec::new();
    let families: Vec<Option<Family>> = if by_family && cube.family.single().is_none() {
        cube.family.iter().map(Some).collect()
    } else {
        vec![cube.family.single()]
    };
    for fam in families {
        let mut c = cube.clone();
        if let Some(f) = fam {
            c.family = c.family.intersect(Families::only(f));
        }
        if !by_ports {
            out.push((c.clone(), nat_text(nat, fam, true)));
            continue;
        }
        let with = Protos::with_ports();
        for (protos, ports) in [(c.proto.intersect(with), true), (c.proto.subtract(with), false)] {
            let part = Cube { proto: protos, ..c.clone() };
            if part.is_empty() {
                continue;
            }
            out.push((part, nat_text(nat, fam, ports)));
        }
    }
    out
}

/// A counter or log statement in the language's words; `None` for other
/// statements.
pub fn event_text(a: &Action) -> Option<String> {
    Some(match a {
        Action::Counter(None) => "counter".to_string(),
        Action::Counter(Some(n)) => format!("counter {n}"),
        Action::Log { prefix, level } => {
            let mut s = "log".to_string();
            if let Some(name) = level.and_then(|l| name_of(LOG_LEVELS, l)) {
                s.push_str(&format!(" level {name}"));
            }
            if let Some(p) = prefix {
                s.push_str(&format!(" prefix {p:?}"));
            }
            s
        }
        _ => return None,
    })
}

/// What `nat` does to one packet of family `fam`, with or without ports, in
/// the language's words; `None` when it leaves the packet as it is.
pub fn translation(nat: &Nat, fam: Family, ports: bool) -> Option<String> {
    nat_text(nat, Some(fam), ports)
}

/// A translation in the language's words, for packets of family `fam`
/// (`None`: either) with or without ports.
fn nat_text(nat: &Nat, fam: Option<Family>, ports: bool) -> Option<String> {
    let v6 = |a: &std::net::IpAddr| a.is_ipv6();
    let of_family = |a: &std::net::IpAddr| fam.is_none_or(|f| (f == Family::V6) == v6(a));
    let endpoint = |a: &std::net::IpAddr, port: Option<u16>| match port.filter(|_| ports) {
        Some(p) if v6(a) => format!("[{a}]:{p}"),
        Some(p) => format!("{a}:{p}"),
        None => a.to_string(),
    };
    match nat {
        Nat::Masquerade => Some("masquerade".into()),
        Nat::Redirect { port } if ports => Some(format!("redirect to {port}")),
        Nat::Redirect { .. } => Some("redirect".into()),
        Nat::Snat { addr, port } => {
            of_family(addr).then(|| format!("snat to {}", endpoint(addr, *port)))
        }
        Nat::Dnat { backends, balance } => {
            let mine: Vec<_> = backends.iter().filter(|b| of_family(&b.addr)).collect();
            match (mine.as_slice(), balance) {
                ([], _) => None,
                ([b], _) | ([b, ..], None) => {
                    Some(format!("dnat to {}", endpoint(&b.addr, b.port)))
                }
                (all, Some(balance)) => {
                    let items: Vec<String> = all
                        .iter()
                        .map(|b| {
                            let e = endpoint(&b.addr, b.port);
                            if b.weight > 1 {
                                format!("{e} weight {}", b.weight)
                            } else {
                                e
                            }
                        })
                        .collect();
                    Some(format!(
                        "dnat to {{ {} }} balance {}",
                        items.join(", "),
                        balance.keyword()
                    ))
                }
            }
        }
    }
}
