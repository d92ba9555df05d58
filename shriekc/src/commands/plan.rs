//! `shriekc plan`: what `apply` would change in the live tables, as text
//! or JSON. Also what `apply` and `destroy` share with it: reading the live
//! tables before lowering (to use the strategy they record) and printing a
//! plan.

use serde_json::json;
use shriek_compiler::diff::structural::render::{self, Counts, RuleAt, Side};
use shriek_compiler::emit::rule_comment;
use shriek_compiler::ir;
use shriek_compiler::lower::{self, Strategy};
use shriek_compiler::nft;
use shriek_compiler::resolve::Frontend;
use shriek_runtime::{Desired, Live, Plan, PlanOptions, Reading};

use super::early::EarlyRead;
use super::{front, print_out, print_shown, runtime_failure_doing, Doing, FINDINGS, INVALID, OK};
use crate::PlanFormat;

/// A policy compiled against what the kernel holds now.
pub(crate) struct Prepared {
    pub frontend: Frontend,
    /// The policy as its tables record it: the entry file's absolute path.
    pub key: String,
    pub ruleset: nft::Ruleset,
    pub strategy: Strategy,
    /// The strategy the live tables record, when they agree on one.
    pub recorded: Option<Strategy>,
    /// What the choice of strategy is worth saying.
    pub notes: Vec<String>,
    /// The policy lowered with the strategy the live tables record, when
    /// `apply` changes it: how their per-rule counters were laid out, so
    /// that `apply` carries them over to the new layout.
    pub previous: Option<nft::Ruleset>,
}

impl Prepared {
    pub fn desired(&self) -> Desired<'_> {
        Desired {
            ruleset: &self.ruleset,
            sources: &self.frontend.sources,
            policy: &self.key,
            strategy: self.strategy,
        }
    }

    pub fn table_names(&self) -> Vec<String> {
        self.ruleset.tables.iter().map(|t| t.name.clone()).collect()
    }
}

/// The policy's name in the tables it makes: its absolute path, so that
/// running from another folder names the same policy; a policy read from
/// standard input is `<stdin>` wherever it runs (not a file `-` in the
/// current folder).
pub(crate) fn policy_key(file: &str) -> String {
    if file == crate::loader::STDIN_PATH {
        return crate::loader::STDIN_NAME.to_string();
    }
    // A file that is gone still names its policy (for `destroy`).
    std::fs::canonicalize(file)
        .or_else(|_| std::path::absolute(file))
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_else(|_| file.to_string())
}

/// Reads the live tables the policy names (and its orphans), then lowers
/// it with `strategy`, or else the strategy the live tables record, or
/// else `auto`. The reading comes back beside the policy, for the plan to
/// take.
pub(crate) fn prepare(
    file: &str,
    frontend: Frontend,
    policy: ir::Policy,
    strategy: Option<Strategy>,
    netns: Option<&str>,
    doing: Doing,
    early: Option<EarlyRead>,
) -> Result<(Prepared, Live), u8> {
    let lowered = lower_against_live(file, &policy, strategy, netns, early);
    // Freed before anything is encoded: the lowered ruleset is all that is left to send.
    drop(policy);
    match lowered {
        Ok(l) => {
            let (prepared, reading) = l.with(frontend);
            Ok((prepared, unplanned(reading)))
        }
        Err(err) => Err(runtime_failure_doing(&err, &frontend.sources, doing)),
    }
}

/// The reading of a [`Lowered`] that was not planned ahead.
pub(crate) fn unplanned(reading: Ahead) -> Live {
    match reading {
        Ok(Reading::Live(live)) => live,
        _ => unreachable!("only `apply` plans ahead, and it sends the plan"),
    }
}

/// What `apply` sends from: the reading, or the plan made from it ahead;
/// or why that plan failed, which `apply` says where it would have said
/// it without planning ahead (after its other checks, such as an open
/// confirm window).
pub(crate) type Ahead = Result<Reading, shriek_runtime::RuntimeError>;

/// A policy lowered against the live tables: [`Prepared`] without the
/// front end's sources, so that it can be made beside the analysis.
pub(crate) struct Lowered {
    key: String,
    ruleset: nft::Ruleset,
    strategy: Strategy,
    recorded: Option<Strategy>,
    live: Ahead,
    notes: Vec<String>,
}

impl Lowered {
    pub fn with(self, frontend: Frontend) -> (Prepared, Ahead) {
        let Lowered { key, ruleset, strategy, recorded, live, notes } = self;
        (Prepared { frontend, key, ruleset, strategy, recorded, notes, previous: None }, live)
    }

    /// The reading planned against the lowered policy now, for `apply` to
    /// send once the analysis allows it (`shriek_runtime::plan_ahead`):
    /// planning reads only, and `apply` makes it beside the analysis.
    pub fn plan_ahead(
        mut self,
        sources: &shriek_grammar::SourceMap,
        opts: &PlanOptions,
        netns: Option<&str>,
    ) -> Lowered {
        // A table made whole (the first apply) is planned after the
        // analysis, as before: its plan lists every rule, which would sit
        // in memory beside the analysis's index.
        let all_live = |live: &Live| {
            self.ruleset.tables.iter().all(|t| live.tables.iter().any(|l| l.table.name == t.name))
        };
        let live = match self.live {
            Ok(Reading::Live(live)) if all_live(&live) => live,
            other => {
                self.live = other;
                return self;
            }
        };
        let desired =
            Desired { ruleset: &self.ruleset, sources, policy: &self.key, strategy: self.strategy };
        self.live = shriek_runtime::plan_ahead(&desired, live, opts, netns).map(Reading::Planned);
        self
    }

    /// Whether it was planned ahead and its batch is small
    /// (`shriek_runtime::Planned::small`).
    pub fn small(&self) -> bool {
        matches!(&self.live, Ok(Reading::Planned(p)) if p.small(&self.ruleset))
    }

    /// The strategy the live tables record, when it is not the one the
    /// policy is lowered with.
    pub fn switched_from(&self) -> Option<Strategy> {
        self.recorded.filter(|r| *r != self.strategy)
    }
}

/// [`prepare`]'s work, with a failure to read returned rather than printed
/// (the caller prints it with the sources, or not at all when it refuses
/// for another reason first). With `--strategy` given, reading the live
/// tables and lowering do not depend on each other and run at once.
pub(crate) fn lower_against_live(
    file: &str,
    policy: &ir::Policy,
    strategy: Option<Strategy>,
    netns: Option<&str>,
    early: Option<EarlyRead>,
) -> Result<Lowered, shriek_runtime::RuntimeError> {
    let key = policy_key(file);
    let names: Vec<String> = policy.tables.iter().map(|t| t.name.clone()).collect();
    let read = || match early.and_then(|e| e.take(&names)) {
        Some(live) => live,
        None => shriek_runtime::read_live(&names, &key, netns),
    };
    let (live, early) = match strategy {
        Some(s) => {
            let (live, ruleset) = std::thread::scope(|scope| {
                let lowering = scope.spawn(|| {
                    let ruleset = lower::lower(policy, s).ruleset;
                    // Its scratch, while the analysis may go on.
                    crate::hand_back();
                    ruleset
                });
                let live = read();
                (live, lowering.join().expect("lowering does not panic"))
            });
            (live?, Some(ruleset))
        }
        None => (read()?, None),
    };
    let recorded = live.recorded_strategy();
    let mut notes = Vec::new();
    let strategy = match (strategy, recorded) {
        (Some(s), Some(r)) if s != r => {
            notes.push(format!(
                "strategy {} (--strategy) differs from strategy {}, which the live tables record",
                s.keyword(),
                r.keyword()
            ));
            s
        }
        (Some(s), _) => s,
        (None, Some(r)) => {
            if r != Strategy::Auto {
                notes.push(format!(
                    "strategy {}, as the live tables record (--strategy chooses another)",
                    r.keyword()
                ));
            }
            r
        }
        (None, None) => Strategy::Auto,
    };
    let ruleset = early.unwrap_or_else(|| lower::lower(policy, strategy).ruleset);
    Ok(Lowered { key, ruleset, strategy, recorded, live: Ok(Reading::Live(live)), notes })
}

pub fn plan(
    file: &str,
    strategy: Option<Strategy>,
    format: PlanFormat,
    detailed: bool,
    opts: PlanOptions,
    netns: Option<&str>,
) -> u8 {
    // Under --detailed-exitcode, 2 means "changes", so errors are 1.
    let fail = |code: u8| if detailed { code.min(FINDINGS) } else { code };
    let early = EarlyRead::start(file, &policy_key(file), netns);
    let Ok((frontend, policy)) = front(file) else { return fail(INVALID) };
    let (prepared, live) =
        match prepare(file, frontend, policy, strategy, netns, Doing::Reading, early) {
            Ok(p) => p,
            Err(code) => return fail(code),
        };
    let plan = match shriek_runtime::plan(&prepared.desired(), live, &opts) {
        Ok(plan) => plan,
        Err(err) => {
            return fail(runtime_failure_doing(&err, &prepared.frontend.sources, Doing::Reading))
        }
    };
    let shown = Shown::new(&plan, &prepared);
    match format {
        PlanFormat::Text => {
            for n in prepared.notes.iter().chain(&plan.notes) {
                eprintln!("note: {}", shriek_grammar::visible(n));
            }
            print_shown(&shown.text());
        }
        PlanFormat::Json => print_out(
            &serde_json::to_string_pretty(&shown.json()).expect("json values always serialize"),
        ),
    }
    if detailed && shown.changes() {
        2
    } else {
        OK
    }
}

/// What `plan` and `apply` say of unchanged rules whose source lines
/// moved: the kernel cannot change a rule's comment in place, and making
/// the rule again would reset its counter.
pub(crate) fn relocated_text(n: usize) -> Option<String> {
    match n {
        0 => None,
        1 => Some(
            "1 unchanged rule now comes from another line: kept as it is, with its counter; its live comment keeps the old line\n".into(),
        ),
        n => Some(format!(
            "{n} unchanged rules now come from other lines: kept as they are, with their counters; their live comments keep the old lines\n"
        )),
    }
}

/// What `plan` and `apply` say of a table rebuilt (or made again) rather
/// than changed rule by rule.
pub(crate) fn rebuilt_words(w: &shriek_runtime::Whole) -> String {
    if w.remade {
        format!(
            "replaced whole, because {} (its named counters carry over, by name, the counts read just before)",
            w.why
        )
    } else {
        format!(
            "rebuilt in place, because {} (its base chains, named counters and the sets that stay are kept)",
            w.why
        )
    }
}

/// What `plan` and `apply` say of a table whose layout the strategy
/// leaves as it is: only the strategy it records changes.
pub(crate) fn records_text(plan: &Plan, strategy: Strategy) -> String {
    let mut out = String::new();
    for r in &plan.records {
        out.push_str(&format!(
            "~ table inet {}: records strategy {} instead of {} (it lays the table out the same; nothing else changes)\n",
            r.table,
            strategy.keyword(),
            r.was
        ));
    }
    out
}

/// What `plan` and `apply` say of the staged sets an interrupted `apply`
/// left unused, which `apply` deletes.
pub(crate) fn leftovers_text(plan: &Plan) -> String {
    let mut out = String::new();
    for (table, set) in &plan.leftovers {
        out.push_str(&format!(
            "- set {set} in table inet {table}: staged by an apply that did not finish, and unused\n"
        ));
    }
    out
}

pub(crate) fn count(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

/// A plan ready to print: its two sides, with where their rules come from.
pub(crate) struct Shown<'a> {
    plan: &'a Plan,
    prepared: &'a Prepared,
}

impl<'a> Shown<'a> {
    pub fn new(plan: &'a Plan, prepared: &'a Prepared) -> Shown<'a> {
        Shown { plan, prepared }
    }

    fn with_sides<T>(&self, f: impl FnOnce(&Side, &Side) -> T) -> T {
        let live_place = |at: RuleAt| self.plan.live_place(at);
        let rs = &self.prepared.ruleset;
        let sources = &self.prepared.frontend.sources;
        // The place as the kernel keeps it (cut to a comment's length, as
        // the live side's is): the whole `file:line` of a policy at a long
        // path differed from its own live comment, and `plan` said on every
        // run that an unchanged rule came from another line.
        let new_place = |at: RuleAt| {
            let r = &rs.tables[at.table].chains[at.chain].rules[at.rule];
            rule_comment(r, sources)
        };
        let old = Side { ruleset: &self.plan.live, place: &live_place };
        let new = Side { ruleset: rs, place: &new_place };
        f(&old, &new)
    }

    /// Adds, changes and removals, a table replaced whole counting as a
    /// change.
    pub fn counts(&self) -> Counts {
        let mut c = render::counts(self.plan.shown());
        c.change += self.plan.whole.len() + self.plan.records.len();
        c
    }

    /// Whether `apply` (with the same flags) would change anything.
    pub fn changes(&self) -> bool {
        !self.counts().is_empty() || !self.plan.leftovers.is_empty()
    }

    /// Rules that only moved in the source, kept as they are (a table
    /// replaced whole keeps nothing; a rule replaced with the map it uses,
    /// made anew beside the old one, is not kept either).
    pub fn relocated(&self) -> usize {
        let per_table = self.with_sides(|old, new| render::relocated(&self.plan.delta, old, new));
        per_table
            .iter()
            .filter(|(t, _)| !self.plan.whole.iter().any(|w| &w.table == t))
            .map(|(_, n)| n)
            .sum()
    }

    pub fn text(&self) -> String {
        let mut out = String::new();
        for w in &self.plan.whole {
            out.push_str(&format!("~ table inet {}: {}\n", w.table, rebuilt_words(w)));
        }
        out.push_str(&records_text(self.plan, self.prepared.strategy));
        out.push_str(&self.with_sides(|old, new| render::text(self.plan.shown(), old, new)));
        out.push_str(&leftovers_text(self.plan));
        let counts = self.counts();
        if counts.is_empty() {
            if self.plan.leftovers.is_empty() {
                out.push_str("no changes\n");
            }
        } else {
            out.push_str(&counts.summary("Plan"));
            out.push('\n');
        }
        if let Some(line) = relocated_text(self.relocated()) {
            out.push_str(&line);
        }
        if !self.plan.orphans.is_empty() && !self.plan.prune {
            out.push_str(
                "tables this policy made and no longer names (`apply --prune` removes them):\n",
            );
            for o in &self.plan.orphans {
                out.push_str(&format!(
                    "  table inet {} ({}, {})\n",
                    o.table,
                    count(o.chains, "chain"),
                    count(o.rules, "rule")
                ));
            }
        }
        out
    }

    pub fn json(&self) -> serde_json::Value {
        let changes = self.with_sides(|old, new| render::json(self.plan.shown(), old, new));
        let counts = self.counts();
        let recorded = self.prepared.recorded.map(|s| s.keyword());
        json!({
            "format_version": 1,
            "changes": changes,
            "replaced": self.plan.whole.iter().map(|w| json!({"table": w.table, "why": w.why, "remade": w.remade})).collect::<Vec<_>>(),
            "orphans": self.plan.orphans.iter().map(|o| json!({
                "table": o.table,
                "chains": o.chains,
                "rules": o.rules,
                "removed": self.plan.prune,
            })).collect::<Vec<_>>(),
            "relocated": self.relocated(),
            "records": self.plan.records.iter().map(|r| json!({"table": r.table, "strategy": self.prepared.strategy.keyword(), "was": r.was})).collect::<Vec<_>>(),
            "leftover_sets": self.plan.leftovers.iter().map(|(t, s)| json!({"table": t, "set": s})).collect::<Vec<_>>(),
            "strategy": { "used": self.prepared.strategy.keyword(), "recorded": recorded },
            "notes": self.prepared.notes.iter().chain(&self.plan.notes).collect::<Vec<_>>(),
            "summary": { "add": counts.add, "change": counts.change, "remove": counts.remove },
            // The text format's standard output too, so that a caller that
            // wants both (the Ansible module's diff mode) reads the kernel
            // once.
            "text": self.text(),
        })
    }
}
