//! The analysis held to testkit's evaluator of random `.shr` sources, which
//! reads docs/language.md alone and never the resolved IR: a rule the
//! analysis reports as shadowed, redundant or unmatchable never decides a
//! packet, so the source without it gives every packet the same verdict,
//! under its rates and over them. The sources use every hook (with the
//! interfaces each hook's packets lack; a table's regular chains may be
//! reached from a second hook's base chain too, whose packets are
//! evaluated as well, so a finding there holds for both), two tables, `jump`, `goto`,
//! `return`, marks set and matched, limits and translations; the IR-level
//! laws, exact both ways, are in `analysis_props`.

use proptest::prelude::*;
use shriek_compiler::analysis;
use shriek_compiler::emit::packet_text;
use shriek_compiler::eval::LimitMode;
use shriek_compiler::ir::Hook;
use shriek_compiler::resolve::resolve_str;
use shriek_testkit::sources::{a_packet, on_hook, source_and_packets, Domain, Source};

const NEVER_DECIDES: [&str; 3] = ["shadowed-rule", "redundant-rule", "unmatchable-rule"];

/// Per rule of `source`, as (table, chain, index), the line of its text.
fn rule_lines(source: &Source, text: &str) -> Vec<((usize, usize, usize), usize)> {
    let first = text.lines().position(|l| l.starts_with("table ")).expect("a table");
    let mut line = first;
    let mut out = Vec::new();
    for (t, tab) in source.tables.iter().enumerate() {
        line += 1; // `table`
        for (c, rules) in tab.chains.iter().enumerate() {
            line += 1; // `chain`
            for i in 0..rules.len() {
                out.push(((t, c, i), line));
                line += 1;
            }
            line += 1; // `}`
        }
        if let Some((_, rules)) = &tab.extra {
            line += 1; // `chain x`: `usize::MAX` stands for it.
            for i in 0..rules.len() {
                out.push(((t, usize::MAX, i), line));
                line += 1;
            }
            line += 1; // `}`
        }
        line += 1; // `}`
    }
    out
}

fn line_of(text: &str, offset: u32) -> usize {
    text[..offset as usize].matches('\n').count()
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: shriek_testkit::prop_cases(1000),
        max_global_rejects: shriek_testkit::prop_cases(1000),
        ..ProptestConfig::default()
    })]

    #[test]
    fn a_rule_reported_never_deciding_can_be_removed(
        (source, packets) in source_and_packets(Domain::Model, 96),
        // For the extra base chains' hooks; each meets them as `on_hook` says.
        others in prop::collection::vec(a_packet(Domain::Model, Hook::Forward), 48),
    ) {
        let text = source.text();
        let fe = resolve_str("p.shr", &text);
        // A translation to a family the rule's matches exclude (E0240).
        prop_assume!(!fe.diagnostics.iter().any(|d| d.code == "E0240"));
        let Some(policy) = &fe.policy else {
            return Err(TestCaseError::fail(format!("{text}\ndoes not resolve: {:?}", fe.diagnostics)));
        };
        let lines = rule_lines(&source, &text);
        for d in analysis::analyze(policy).iter().filter(|d| NEVER_DECIDES.contains(&d.name)) {
            let line = line_of(&text, d.primary.loc.span.start);
            let Some(&((t, c, i), _)) = lines.iter().find(|(_, l)| *l == line) else {
                return Err(TestCaseError::fail(format!("{} at line {line} is on no rule\n{text}", d.name)));
            };
            let mut without = source.clone();
            match &mut without.tables[t].extra {
                Some((_, rules)) if c == usize::MAX => {
                    rules.remove(i);
                }
                _ => {
                    without.tables[t].chains[c].remove(i);
                }
            }
            let mut hooks: Vec<Hook> = Vec::new();
            for h in source.tables.iter().filter_map(|tab| tab.extra.as_ref().map(|e| e.0)) {
                if !hooks.contains(&h) {
                    hooks.push(h);
                }
            }
            for &h in &hooks {
                for p in others.iter().map(|p| on_hook(p, h)) {
                    for limits in [LimitMode::UnderRate, LimitMode::OverRate] {
                        prop_assert_eq!(
                            source.evaluate_extra(h, &p, limits),
                            without.evaluate_extra(h, &p, limits),
                            "{} at line {} ({}), but removing it changes {} {:?} at {:?}\n{}",
                            d.name, line + 1, d.message, packet_text(&p), limits, h, text
                        );
                    }
                }
            }
            for p in &packets {
                for limits in [LimitMode::UnderRate, LimitMode::OverRate] {
                    prop_assert_eq!(
                        source.evaluate(p, limits),
                        without.evaluate(p, limits),
                        "{} at line {} ({}), but removing it changes {} {:?}\n{}",
                        d.name, line + 1, d.message, packet_text(p), limits, text
                    );
                }
            }
        }
    }
}

/// The sources do get findings of every kind, so the law above is not
/// vacuous.
#[test]
fn random_sources_get_findings_of_every_kind() {
    use proptest::strategy::ValueTree;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let mut seen = std::collections::BTreeMap::<&str, usize>::new();
    for _ in 0..300 {
        let (source, _) =
            source_and_packets(Domain::Model, 1).new_tree(&mut runner).expect("a source").current();
        let fe = resolve_str("p.shr", &source.text());
        let Some(policy) = &fe.policy else { continue };
        for d in analysis::analyze(policy) {
            *seen.entry(d.name).or_default() += 1;
        }
    }
    eprintln!("{seen:?}");
    for name in NEVER_DECIDES {
        assert!(seen.get(name).copied().unwrap_or(0) >= 20, "{name}: {seen:?}");
    }
}
