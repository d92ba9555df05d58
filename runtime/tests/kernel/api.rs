//! The runtime's API as these tests call it: a hand-built ruleset stands
//! for one policy, from no file, lowered one rule at a time unless a test
//! says otherwise.

use shriek_compiler::diff::structural::render::{self, Counts, RuleAt, Side};
use shriek_compiler::lower::Strategy;
use shriek_compiler::nft::Ruleset;
use shriek_grammar::SourceMap;
use shriek_runtime::{ApplyOptions, ApplySummary, Desired, Plan, PlanOptions, RuntimeError};
use shriek_testkit::Netns;

/// How these tests address a namespace through the runtime's API.
pub trait InNetns {
    fn opts(&self) -> ApplyOptions;
    fn netns(&self) -> Option<&str>;
}

impl InNetns for Netns {
    fn opts(&self) -> ApplyOptions {
        ApplyOptions { netns: Some(self.name.clone()), ..ApplyOptions::default() }
    }

    fn netns(&self) -> Option<&str> {
        Some(&self.name)
    }
}

pub fn netns_or_skip(tag: &str) -> Option<Netns> {
    Netns::new(tag)
}

/// The policy these hand-built rulesets stand for, as its tables record it.
pub const POLICY: &str = "/shriek/tests/kernel.shr";

/// Hand-built rules come from no file.
fn no_sources() -> &'static SourceMap {
    static EMPTY: std::sync::OnceLock<SourceMap> = std::sync::OnceLock::new();
    EMPTY.get_or_init(SourceMap::default)
}

pub fn desired(rs: &Ruleset, strategy: Strategy) -> Desired<'_> {
    Desired { ruleset: rs, sources: no_sources(), policy: POLICY, strategy }
}

pub fn apply(rs: &Ruleset, opts: &ApplyOptions) -> Result<ApplySummary, RuntimeError> {
    shriek_runtime::apply(&desired(rs, Strategy::Sequential), opts)
}

pub fn plan(rs: &Ruleset, netns: Option<&str>) -> Plan {
    plan_as(rs, Strategy::Sequential, netns)
}

pub fn plan_as(rs: &Ruleset, strategy: Strategy, netns: Option<&str>) -> Plan {
    let d = desired(rs, strategy);
    let live = shriek_runtime::read_live(&d.table_names(), POLICY, netns).unwrap();
    shriek_runtime::plan(&d, live, &PlanOptions::default()).unwrap()
}

/// The plan's changes as `plan` prints them (hand-built rules have no
/// place in a file).
pub fn plan_text(plan: &Plan, rs: &Ruleset) -> String {
    let live = |at: RuleAt| plan.live_place(at);
    let none = |_: RuleAt| None;
    let old = Side { ruleset: &plan.live, place: &live };
    let new = Side { ruleset: rs, place: &none };
    let text = render::text(&plan.delta, &old, &new);
    format!("{text}{}\n", render::counts(&plan.delta).summary("Plan"))
}

/// What an apply added, changed and removed.
pub fn counts(summary: &ApplySummary) -> Counts {
    render::counts(&summary.plan.delta)
}

pub fn snapshot(name: &str, text: &str) {
    shriek_testkit::snapshot!("runtime", name, text);
}

pub fn ruleset_text(ns: &Netns) -> String {
    ns.sh("nft list ruleset")
}
