//! Random `.shr` sources (testkit's `sources`), compiled with every
//! strategy, against the evaluator written there from docs/language.md
//! alone; and against the reference evaluator on the resolved IR, so a
//! failure says whether `resolve` or `lower` went wrong.

use proptest::prelude::*;
use shriek_compiler::emit::{emit_nft, packet_text};
use shriek_compiler::eval::{self, LimitMode};
use shriek_compiler::ir::Outcome;
use shriek_compiler::lower::{self, lower};
use shriek_compiler::nft_eval::trace_model;
use shriek_compiler::resolve::resolve_str;
use shriek_grammar::SourceMap;
use shriek_testkit::sources::{source_and_packets, Domain};

proptest! {
    #![proptest_config(ProptestConfig {
        cases: shriek_testkit::prop_cases(1500),
        // About one source in twenty translates to a family its matches
        // exclude (E0240) and is skipped.
        max_global_rejects: shriek_testkit::prop_cases(1500),
        max_shrink_iters: 20000,
        ..ProptestConfig::default()
    })]

    #[test]
    fn compiled_sources_keep_the_languages_verdicts((source, packets) in source_and_packets(Domain::Model, 24)) {
        let text = source.text();
        let fe = resolve_str("p.shr", &text);
        // A translation to the family the rule's matches exclude is an
        // error (E0240) the generator does not steer around.
        prop_assume!(!fe.diagnostics.iter().any(|d| d.code == "E0240"));
        let Some(policy) = &fe.policy else {
            return Err(TestCaseError::fail(format!("{text}\ndoes not resolve: {:?}", fe.diagnostics)));
        };
        let lowered: Vec<_> = lower::Strategy::ALL.iter().map(|s| (*s, lower(policy, *s))).collect();
        for p in &packets {
            for limits in [LimitMode::UnderRate, LimitMode::OverRate] {
                let want = source.evaluate(p, limits);
                let by_ir = eval::evaluate(policy, source.hook, p, limits).outcome;
                prop_assert_eq!(want, by_ir, "resolve: {}, limits {:?}\n{}", packet_text(p), limits, text);
                for (strategy, lowered) in &lowered {
                    let got = trace_model(&lowered.ruleset, source.hook, p, limits);
                    prop_assert_eq!(
                        want,
                        got.outcome,
                        "strategy {:?}, limits {:?}, packet {}\n{}\nmodel path: {:#?}\nruleset:\n{}",
                        strategy,
                        limits,
                        packet_text(p),
                        text,
                        got.steps.iter().map(|s| &s.text).collect::<Vec<_>>(),
                        emit_nft(&lowered.ruleset, &SourceMap::new())
                    );
                }
            }
        }
    }
}

/// The random sources do tell packets apart: without this, the property
/// above could pass on sources whose every packet meets the same fate.
#[test]
fn random_sources_decide_both_ways() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let (mut mixed, mut matched) = (0, 0);
    for i in 0..300 {
        let (source, packets) = source_and_packets(Domain::Model, 24)
            .new_tree(&mut runner)
            .expect("a source")
            .current();
        if i == 0 {
            eprintln!("{}", source.text());
        }
        let fates: Vec<Outcome> =
            packets.iter().map(|p| source.evaluate(p, LimitMode::UnderRate)).collect();
        if fates.iter().any(|f| *f != fates[0]) {
            mixed += 1;
        }
        let rules = source.tables.iter().flat_map(|t| t.chains.iter().flatten());
        for r in rules.filter(|r| !r.matches.is_empty()) {
            matched += packets.iter().filter(|p| r.matches.iter().all(|m| m.holds(p))).count();
        }
    }
    eprintln!("{mixed} of 300 sources tell packets apart, {matched} rule matches");
    assert!(mixed > 80, "only {mixed} of 300 sources tell packets apart");
    assert!(matched > 2000, "only {matched} packets matched a rule with matches");
}
