//! The analysis held to the reference evaluator on random policies.
//!
//! A policy here has a filter base chain, a nat base chain and up to three
//! regular chains reached by `jump` and `goto` (nested, and now and then in a
//! loop). Rules may `limit` any verdict, including `jump`, `goto` and
//! `return` (plainly, per source address, or by a per-source connection
//! count: all three hold for some packets and not others), may have no
//! verdict, and may translate addresses with identical or different targets.
//! The generator lives in `analysis_props/policies.rs`, the brute-force
//! oracle in `analysis_props/oracle.rs`.
//!
//! Every packet of a tiny domain is run through every chain, entered at its
//! top, under every sequence of `limit` outcomes: each evaluation of a rule
//! with a `limit` (or `ct count`) may hold or not, independently, as in the
//! kernel. The domain holds every value the generated rules can tell apart,
//! plus one "other" value per field, so a claim about all packets is checked
//! on all packets. The laws, for every rule of every chain:
//!
//! - a rule reported shadowed or redundant never runs (never decides) for any
//!   packet under any limit outcome, and removing it changes no packet's fate
//!   (verdict and translation) under any limit outcome;
//! - a rule with matches that is not reported runs for some packet under some
//!   limit outcome;
//! - a covered rule is `redundant-rule` exactly when every earlier rule that
//!   can decide one of its packets first does what the rule would do (the
//!   same verdict statement, or the same final verdict and translation);
//!   otherwise `shadowed-rule`;
//! - every rule a finding names is the first to end the chain for some of the
//!   rule's packets under some limit outcome, in the way the label says.

#[path = "analysis_props/oracle.rs"]
mod oracle;
#[path = "analysis_props/policies.rs"]
mod policies;

use std::collections::BTreeSet;

use proptest::prelude::*;
use shriek_compiler::analysis::{self, shadow};
use shriek_compiler::eval::{self, ChainEnd};
use shriek_compiler::ir::{self, ChainId, RuleId, Verdict};
use shriek_compiler::space::{Cube, Packet, PROTO_TCP};
use shriek_grammar::Diagnostic;

use oracle::*;
use policies::*;

const RULE_FINDINGS: [&str; 3] = ["shadowed-rule", "redundant-rule", "unmatchable-rule"];

/// What [`check`] looked at.
#[derive(Default)]
struct Looked {
    /// Evaluations of a chain for one packet under one limit sequence.
    paths: usize,
    /// Findings held to the laws.
    findings: usize,
}

/// Runs every law on one policy.
fn check(p: &ir::Policy, looked: &mut Looked) -> Result<(), TestCaseError> {
    let diags = analysis::analyze(p);
    // The kernel refuses a ruleset whose jumps loop; with loops, only the
    // soundness of coverage is held to the evaluator (which cuts a loop at
    // the kernel's jump depth and drops).
    let loops = diags.iter().any(|d| d.name == "jump-cycle");
    let marks = p.rules().any(|r| r.actions.iter().any(|a| matches!(a, ir::Action::MarkSet(_))));
    let too_many = || TestCaseError::reject("too many limit outcomes");
    let domain = representatives(p, packets(p));
    let hooks = reaching_hooks(p);
    let table = &p.tables[0];
    for (c, chain) in table.chains.iter().enumerate() {
        let id = ChainId(c as u32);
        // The packets that may enter the chain, by the hooks that reach it.
        let all: Vec<Packet> = domain.iter().filter(|pk| enters(&hooks[c], pk)).cloned().collect();
        let coverage = shadow::coverage(table, id);
        // Per packet, every rule that runs under some limit outcome.
        let mut ran: Vec<BTreeSet<RuleId>> = Vec::with_capacity(all.len());
        for pk in &all {
            let ps = paths(p, id, pk).ok_or_else(too_many)?;
            looked.paths += ps.len();
            ran.push(ps.into_iter().flat_map(|path| path.ran).collect());
        }
        for (i, r) in chain.rules.iter().enumerate() {
            let mine: Vec<usize> = (0..all.len()).filter(|&k| ir::matches(r, &all[k])).collect();
            let diag =
                diags.iter().find(|d| d.primary.loc == r.loc && RULE_FINDINGS.contains(&d.name));
            let name = diag.map(|d| d.name);
            // Contradicting matches, or an interface no packet entering
            // the chain has.
            if r.space.iter().all(Cube::is_empty) || coverage[i] == shadow::Coverage::Empty {
                prop_assert_eq!(name, Some("unmatchable-rule"), "rule {}/{}\n{}", c, i, show(p));
                prop_assert!(mine.is_empty(), "rule {}/{} matches\n{}", c, i, show(p));
                continue;
            }
            // A packet may reach the rule with a mark an earlier rule set:
            // whether it runs is asked of every packet, not only of those
            // its matches hold for as they entered.
            let runs = ran.iter().any(|rules| rules.contains(&r.id));
            let covered = matches!(coverage[i], shadow::Coverage::Covered(_));
            // After a mark change the analysis may leave a rule unchecked:
            // a missed finding, never a false one.
            // So may a jump in a chain no base chain reaches into one read
            // for its hooks' packets only.
            if let shadow::Coverage::Unknown {
                gap: shadow::Gap::Mark | shadow::Gap::Unused, ..
            } = coverage[i]
            {
                prop_assert_eq!(name, None, "rule {}/{}", c, i);
                continue;
            }
            // With marks set, what a jump decides is kept only where it
            // does not read the mark: a rule may be reported reached that
            // no packet reaches (a missed finding), never the reverse.
            if marks && !covered {
                prop_assert_eq!(name, None, "rule {}/{}", c, i);
                continue;
            }
            if loops {
                prop_assert!(!(covered && runs), "rule {}/{} runs\n{}", c, i, show(p));
                continue;
            }
            prop_assert_eq!(covered, !runs, "rule {}/{}: {:?}\n{}", c, i, coverage[i], show(p));
            if !covered {
                prop_assert_eq!(name, None, "rule {}/{}", c, i);
                continue;
            }
            looked.findings += 1;
            // Each packet's sure decider, by brute force.
            let mut firsts: Vec<(usize, End)> = Vec::new();
            for &k in &mine {
                let first = sure_decider(p, id, &all[k], i).map_err(|()| too_many())?;
                let first = first.expect("a rule that never runs has a sure decider");
                if !firsts.contains(&first) {
                    firsts.push(first);
                }
            }
            let differs = firsts.iter().any(|(j, e)| !same(&chain.rules[*j], e, r));
            let own = r.verdict.is_some() || eval::translation(r).is_some();
            let expect = if differs || !own { "shadowed-rule" } else { "redundant-rule" };
            prop_assert_eq!(
                name,
                Some(expect),
                "rule {}/{}: firsts {:?}\n{}",
                c,
                i,
                firsts,
                show(p)
            );
            let shadow::Coverage::Covered(cover) = &coverage[i] else { unreachable!() };
            prop_assert_eq!(cover.differs, differs && own);
            // Every labelled rule is the sure decider of some packet, as labelled.
            prop_assert!(!cover.shown.is_empty());
            for &(j, class) in &cover.shown {
                let e = class_end(p, class);
                let agrees = firsts.iter().any(|(k, f)| *k == j as usize && same_end(f, &e));
                prop_assert!(
                    agrees,
                    "label {} {:?} is no first end of {:?}\n{}",
                    j,
                    class,
                    firsts,
                    show(p)
                );
            }
            let labels = &diag.expect("checked above").related;
            prop_assert!(labels.iter().all(|l| chain.rules.iter().any(|b| b.loc == l.loc)));
            // Removing the rule changes no packet's fate.
            let mut without = p.clone();
            without.tables[0].chains[c].rules.remove(i);
            let fates = |pol: &ir::Policy, k: usize| -> Option<Vec<String>> {
                let mut v: Vec<String> = paths(pol, id, &all[k])?
                    .iter()
                    .map(|path| match path.end {
                        ChainEnd::Decided { outcome, by, .. } => {
                            format!("{outcome:?} {:?}", eval::translation(pol.rule(by)))
                        }
                        ChainEnd::Returned { .. } => "returned".to_string(),
                    })
                    .collect();
                v.sort();
                Some(v)
            };
            for &k in &mine {
                prop_assert_eq!(fates(p, k), fates(&without, k));
            }
        }
    }
    Ok(())
}

/// The policy as text, for failure messages.
fn show(p: &ir::Policy) -> String {
    let mut out = String::new();
    for chain in &p.tables[0].chains {
        out.push_str(&format!("chain {} {:?}:\n", chain.name, chain.base.map(|b| b.hook)));
        for r in &chain.rules {
            out.push_str(&format!("  {:?} {:?} {:?}\n", r.space, r.actions, r.verdict));
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: shriek_testkit::prop_cases(1000), ..ProptestConfig::default() })]

    #[test]
    fn findings_agree_with_the_evaluator(spec in spec()) {
        check(&spec.build(), &mut Looked::default())?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: shriek_testkit::prop_cases(300), ..ProptestConfig::default() })]

    /// Under any work budget, however small, the analysis reports no
    /// finding the full analysis does not: a rule it could not finish gets
    /// `analysis-budget` (info), never a guess, and the findings that need
    /// no budget are all still there. The same budget gives the same
    /// findings every time.
    #[test]
    fn a_small_budget_never_reports_a_false_finding(
        spec in spec(),
        base in 0u64..3_000,
        per_rule in 0u64..300,
    ) {
        let p = spec.build();
        let full = analysis::analyze(&p);
        let budget = analysis::Budget { base, per_rule };
        let small = analysis::analyze_within(&p, budget);
        prop_assert_eq!(&small, &analysis::analyze_within(&p, budget), "not deterministic");
        let gave_up = |d: &Diagnostic| d.name == "analysis-budget";
        prop_assert!(!full.iter().any(gave_up), "the full analysis gave up:\n{}", show(&p));
        for d in small.iter().filter(|d| !gave_up(d)) {
            prop_assert!(full.contains(d), "{} not in the full analysis:\n{}", d.message, show(&p));
        }
        for d in &full {
            let kept = small.contains(d)
                || (RULE_FINDINGS[..2].contains(&d.name)
                    && small.iter().any(|s| gave_up(s) && s.primary.loc == d.primary.loc));
            prop_assert!(kept, "{} missing under {:?}:\n{}", d.message, budget, show(&p));
        }
    }
}

fn findings(d: &[Diagnostic]) -> Vec<&str> {
    d.iter().map(|d| d.name).collect()
}

/// A rule on `tcp dport 22` (the generator's port 2).
fn ssh(act: Act, limit: Option<Fork>) -> RuleSpec {
    RuleSpec {
        matches: Matches {
            family: None,
            proto: None,
            saddr: None,
            dport: Some((PROTO_TCP, 2, 2, false)),
            iif: None,
            oif: None,
            ct: None,
            icmp: None,
            flags: None,
            mark: None,
        },
        same_as: None,
        duplicate: false,
        act,
        limit,
        set_mark: None,
    }
}

/// The SSH rate-limit pattern of issue 8 is one of the generator's
/// policies, and it gets no finding: the jump lets some packets come back.
#[test]
fn limit_inside_a_jump_target_does_not_shadow() {
    let any = |act, limit| RuleSpec {
        matches: Matches { dport: None, ..ssh(act, limit).matches },
        same_as: None,
        duplicate: false,
        act,
        limit,
        set_mark: None,
    };
    let spec = Spec {
        chains: vec![
            vec![ssh(Act::Jump(0), None), ssh(Act::Accept, None)],
            vec![],
            vec![any(Act::Return, Some(Fork::Limit)), any(Act::Drop, None)],
        ],
        loops: false,
        hook: ir::Hook::Input,
    };
    let policy = spec.build();
    assert_eq!(findings(&analysis::analyze(&policy)), Vec::<&str>::new());
    check(&policy, &mut Looked::default()).expect("the laws hold");
}

/// A jump and then a goto to a chain that drops all but SYN-only packets
/// cover a later `syn / syn,ack` rule. A SYN with RST (or FIN) passes both
/// flag tests, so the jump drops it first: the finding names the jump as
/// dropping some packets, and the oracle's domain must hold such a packet
/// to agree (CI once found it did not).
#[test]
fn syn_with_rst_is_dropped_by_the_jump_before_the_goto() {
    let flags = |i, act| RuleSpec {
        matches: Matches { flags: i, ..Matches::default() },
        same_as: None,
        duplicate: false,
        act,
        limit: None,
        set_mark: None,
    };
    let spec = Spec {
        chains: vec![
            vec![flags(None, Act::Accept)],
            vec![],
            vec![flags(None, Act::Jump(0)), flags(None, Act::Goto(0)), flags(Some(1), Act::Accept)],
            vec![flags(Some(4), Act::Drop), flags(None, Act::Return)],
        ],
        loops: false,
        hook: ir::Hook::Input,
    };
    let policy = spec.build();
    let diags = analysis::analyze(&policy);
    let on_rules: Vec<&str> =
        findings(&diags).into_iter().filter(|n| RULE_FINDINGS.contains(n)).collect();
    assert_eq!(on_rules, vec!["shadowed-rule"]);
}

fn no_rule_finding_and_the_laws_hold(policy: &ir::Policy) {
    let diags = analysis::analyze(policy);
    let on_rules: Vec<&str> =
        findings(&diags).into_iter().filter(|n| RULE_FINDINGS.contains(n)).collect();
    assert_eq!(on_rules, Vec::<&str>::new(), "{}", show(policy));
    check(policy, &mut Looked::default()).expect("the laws hold");
}

/// A rule on any packet whose mark is (or, negated, is not) `MARKS[i]`,
/// that sets `set` when it holds.
fn on_mark(mark: Option<(usize, bool)>, act: Act, set: Option<usize>) -> RuleSpec {
    RuleSpec {
        matches: Matches { mark, dport: None, ..ssh(act, None).matches },
        set_mark: set,
        ..ssh(act, None)
    }
}

/// `mark set` changes what every later match reads. Here packets that
/// entered with mark 1 pass the first rule, get mark 2, miss `mark 1
/// accept` and reach the last rule: it is not shadowed, though the rules
/// above it cover every packet as it entered. An analysis that read the
/// marks as they entered would call it shadowed; behind a jump the same
/// holds, and so it does when the mark is set in a chain jumped to.
#[test]
fn a_mark_set_above_changes_what_later_rules_see() {
    let (one, not_one) = (Some((0, false)), Some((0, true)));
    let shapes = [
        // In one chain.
        vec![vec![
            on_mark(not_one, Act::Drop, None),
            on_mark(None, Act::Counter, Some(1)),
            on_mark(one, Act::Accept, None),
            on_mark(None, Act::Drop, None),
        ]],
        // The mark set in a chain jumped to, which returns.
        vec![
            vec![
                on_mark(not_one, Act::Drop, None),
                on_mark(None, Act::Jump(0), None),
                on_mark(one, Act::Accept, None),
                on_mark(None, Act::Drop, None),
            ],
            vec![],
            vec![on_mark(None, Act::Return, Some(1))],
        ],
        // The mark set by the jump itself, read in the chain jumped to.
        vec![
            vec![on_mark(None, Act::Jump(0), Some(1)), on_mark(None, Act::Drop, None)],
            vec![],
            vec![on_mark(one, Act::Accept, None), on_mark(not_one, Act::Drop, None)],
        ],
    ];
    for chains in shapes {
        let spec = Spec { chains, loops: false, hook: ir::Hook::Input };
        let policy = spec.build();
        no_rule_finding_and_the_laws_hold(&policy);
    }
}

/// A chain reached from `forward` may drop packets by `oif`; jumped to
/// from `prerouting`, whose packets have none, it accepts them all: the
/// rule after the jump there is redundant, not shadowed by a drop. The
/// same chain jumped to from `forward` shadows it.
#[test]
fn what_a_jump_decides_is_read_with_the_callers_interfaces() {
    let any = |act| on_mark(None, act, None);
    let oif_a = |act| RuleSpec {
        matches: Matches { oif: Some((0, false)), ..Matches::default() },
        ..any(act)
    };
    let spec = Spec {
        chains: vec![
            vec![any(Act::Jump(0)), ssh(Act::Accept, None)],
            vec![any(Act::Jump(0)), ssh(Act::Accept, None)],
            vec![oif_a(Act::Drop), any(Act::Accept)],
        ],
        loops: false,
        hook: ir::Hook::Forward,
    };
    let policy = spec.build();
    let diags = analysis::analyze(&policy);
    let at = |chain| diags.iter().find(|d| d.primary.loc == loc(chain, 1)).map(|d| d.name);
    check(&policy, &mut Looked::default()).expect("the laws hold");
    assert_eq!((at(0), at(1)), (Some("shadowed-rule"), Some("redundant-rule")));
}

/// A chain no base chain reaches may be entered by any packet; the chain
/// it jumps to here is read for `input`'s packets, which have no `oif`, and
/// drops those with `oif a`. The rule after the jump is covered, but
/// whether some packet is dropped first is not known from what is read
/// for `input`: it gets no finding (it was once called redundant).
#[test]
fn an_unreachable_chain_reads_its_jumps_for_any_packet() {
    let any = |act| on_mark(None, act, None);
    let oif_a = |act| RuleSpec {
        matches: Matches { oif: Some((0, false)), ..Matches::default() },
        ..any(act)
    };
    let spec = Spec {
        chains: vec![
            vec![any(Act::Jump(1))],
            vec![],
            vec![any(Act::Jump(0)), ssh(Act::Accept, None)],
            vec![oif_a(Act::Drop), any(Act::Accept)],
        ],
        loops: false,
        hook: ir::Hook::Input,
    };
    let policy = spec.build();
    let diags = analysis::analyze(&policy);
    assert!(diags.iter().all(|d| d.primary.loc != loc(2, 1)), "{}", show(&policy));
    check(&policy, &mut Looked::default()).expect("the laws hold");
}

/// What a mark set makes exact stays exact: rules that do not read the
/// mark keep their findings after a `mark set`.
#[test]
fn rules_that_do_not_read_the_mark_keep_their_findings() {
    let spec = Spec {
        chains: vec![vec![
            on_mark(None, Act::Counter, Some(1)),
            ssh(Act::Accept, None),
            ssh(Act::Drop, None),
        ]],
        loops: false,
        hook: ir::Hook::Input,
    };
    let policy = spec.build();
    assert_eq!(findings(&analysis::analyze(&policy)), vec!["shadowed-rule"]);
    check(&policy, &mut Looked::default()).expect("the laws hold");
}

/// The SSH brute-force guard of issue 10, written both ways: a per-source
/// rate that accepts followed by a drop of the same packets, and a
/// per-source connection count that rejects followed by an accept. Neither
/// later rule is shadowed or redundant: each runs for the packets the fork
/// lets through. Behind a jump the same holds.
#[test]
fn per_source_forks_never_cover_the_rule_after_them() {
    let shapes = [
        vec![ssh(Act::Accept, Some(Fork::PerSaddr)), ssh(Act::Drop, None)],
        vec![ssh(Act::Drop, Some(Fork::PerSaddr)), ssh(Act::Drop, None)],
        vec![ssh(Act::Reject, Some(Fork::CountPerSaddr)), ssh(Act::Accept, None)],
        vec![ssh(Act::Jump(0), None), ssh(Act::Accept, None)],
    ];
    for input in shapes {
        let guard = vec![ssh(Act::Return, Some(Fork::PerSaddr)), ssh(Act::Drop, None)];
        let spec = Spec { chains: vec![input, vec![], guard], loops: false, hook: ir::Hook::Input };
        let policy = spec.build();
        no_rule_finding_and_the_laws_hold(&policy);
    }
}

/// The generator must produce every kind of finding often, in jumped-to
/// chains and behind limits too, or the property above would pass vacuously;
/// and the laws must run on most policies, not be skipped.
#[test]
fn generator_produces_every_rule_finding() {
    use proptest::strategy::ValueTree;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let mut seen = std::collections::BTreeMap::<String, usize>::new();
    let mut count = |what: String| *seen.entry(what).or_default() += 1;
    let (mut looked, mut skipped) = (Looked::default(), 0);
    for case in 0..1500u64 {
        let spec = spec().new_tree(&mut runner).expect("a value").current();
        let policy = spec.build();
        let diags = analysis::analyze(&policy);
        let table = &policy.tables[0];
        for d in &diags {
            count(d.name.to_string());
            let Some(r) = policy.rules().find(|r| r.loc == d.primary.loc) else { continue };
            if r.id.chain.0 as usize >= BASES {
                count(format!("{} in a regular chain", d.name));
            }
            if eval::translation(r).is_some() {
                count(format!("{} translating", d.name));
            }
            // Only the hooks that reach its chain make it so.
            if d.name == "unmatchable-rule" && !r.space.iter().all(Cube::is_empty) {
                let at = if r.id.chain.0 as usize >= BASES { "a regular" } else { "a base" };
                count(format!("unmatchable-rule by a missing interface in {at} chain"));
            }
            if r.space.iter().any(|c| !c.oif.is_any() || !c.iif.is_any()) {
                count(format!("{} matching an interface", d.name));
            }
            let before = &table.chains[r.id.chain.0 as usize].rules[..r.id.index as usize];
            if before.iter().any(limited) {
                count(format!("{} behind a limit", d.name));
            }
            if before.iter().any(|b| b.actions.iter().any(|a| matches!(a, ir::Action::MarkSet(_))))
            {
                count(format!("{} after a mark set", d.name));
            }
            if r.space.iter().any(|c| c.mark.is_some()) {
                count(format!("{} matching a mark", d.name));
            }
            for b in before
                .iter()
                .filter(|b| b.actions.iter().any(|a| matches!(a, ir::Action::Meter(_))))
            {
                let per = b.actions.iter().find_map(|a| match a {
                    ir::Action::Meter(m) => Some(m.test),
                    _ => None,
                });
                let kind = match per {
                    Some(ir::MeterTest::Rate(_)) => "a per-source limit",
                    _ => "a per-source count",
                };
                count(format!("{} behind {kind}", d.name));
            }
        }
        // Issue 8's shape: a rule with the matches of an earlier jump or goto
        // into a chain with a `limit` rule, found covered or not.
        for (c, rules) in spec.chains.iter().enumerate() {
            for (i, r) in rules.iter().enumerate() {
                let Some(k) = r.same_as.filter(|_| i > 0) else { continue };
                let model = &table.chains[c].rules[i - 1 - k % i];
                let target = match model.verdict {
                    Some(Verdict::Jump(t) | Verdict::Goto(t)) if !limited(model) => t,
                    _ => continue,
                };
                if !table.chains[target.0 as usize].rules.iter().any(limited) {
                    continue;
                }
                let rule = &table.chains[c].rules[i];
                let found = diags.iter().any(|d| d.primary.loc == rule.loc);
                count(format!("after a jump into a limited chain: finding {found}"));
            }
        }
        // What the budget law sees: findings given up, and findings kept.
        let budget = analysis::Budget { base: case * 7 % 3_000, per_rule: case * 13 % 300 };
        for d in analysis::analyze_within(&policy, budget) {
            if d.name == "analysis-budget" {
                count("analysis-budget under a small budget".into());
            } else if d.name == "shadowed-rule" || d.name == "redundant-rule" {
                count(format!("{} under a small budget", d.name));
            }
        }
        if case < 300 {
            match check(&policy, &mut looked) {
                Ok(()) => {}
                Err(TestCaseError::Reject(_)) => skipped += 1,
                Err(e) => panic!("{e}"),
            }
        }
    }
    eprintln!(
        "{seen:?}\nlaws checked on {} findings and {} chain evaluations; {skipped} of 300 policies skipped",
        looked.findings, looked.paths
    );
    for name in [
        "shadowed-rule",
        "redundant-rule",
        "unmatchable-rule",
        "shadowed-rule in a regular chain",
        "redundant-rule in a regular chain",
        "shadowed-rule translating",
        "redundant-rule translating",
        "shadowed-rule behind a limit",
        "redundant-rule behind a limit",
        "shadowed-rule behind a per-source limit",
        "redundant-rule behind a per-source limit",
        "shadowed-rule behind a per-source count",
        "redundant-rule behind a per-source count",
        "shadowed-rule after a mark set",
        "redundant-rule after a mark set",
        "shadowed-rule matching a mark",
        "redundant-rule matching a mark",
        "shadowed-rule matching an interface",
        "redundant-rule matching an interface",
        "unmatchable-rule by a missing interface in a base chain",
        "unmatchable-rule by a missing interface in a regular chain",
        "jump-cycle",
        "after a jump into a limited chain: finding true",
        "after a jump into a limited chain: finding false",
        "analysis-budget under a small budget",
        "shadowed-rule under a small budget",
        "redundant-rule under a small budget",
    ] {
        assert!(seen.get(name).copied().unwrap_or(0) >= 20, "{name}: {seen:?}");
    }
    assert!(
        looked.findings >= 300 && skipped <= 15,
        "{} findings, {skipped} skipped",
        looked.findings
    );
}

fn limited(r: &ir::Rule) -> bool {
    r.conditional()
}
