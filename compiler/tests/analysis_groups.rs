//! The analysis checks several batches of rules at once when it can
//! (`analysis/budget.rs`), settling each batch afterwards with its real share
//! of the work budget. The law: the findings are exactly those of checking
//! one batch at a time, for any budget, including budgets that run out part
//! way through a group, and whatever the threads do.

use proptest::prelude::*;
use shriek_compiler::analysis::{self, Budget};
use shriek_compiler::resolve;

/// One rule of the random policies: overlapping addresses and ports, some
/// negated (costly to check), and now and then a rule whose blockers take
/// work to add (a `jump`, a `limit`, a `mark set`) or a `return`.
#[derive(Clone, Debug)]
struct R {
    saddr: Option<(u8, u8, bool)>,
    dport: Option<(u16, u16, bool)>,
    sport: Option<(u16, u16)>,
    verdict: u8,
    extra: u8,
}

fn rule() -> impl Strategy<Value = R> {
    (
        prop::option::of((0u8..4, 22u8..=32, prop::bool::weighted(0.4))),
        prop::option::of((0u16..40, 0u16..12, prop::bool::weighted(0.4))),
        prop::option::weighted(0.3, (0u16..30, 0u16..10)),
        0u8..3,
        0u8..40,
    )
        .prop_map(|(saddr, dport, sport, verdict, extra)| R {
            saddr,
            dport,
            sport,
            verdict,
            extra,
        })
}

fn text(r: &R) -> String {
    let mut s = String::new();
    if let Some((net, len, neg)) = r.saddr {
        let not = if neg { "!= " } else { "" };
        s += &format!("saddr {not}10.{net}.0.0/{len} ");
    }
    if let Some((lo, w, neg)) = r.dport {
        let not = if neg { "!= " } else { "" };
        s += &format!("tcp dport {not}{}-{} ", 1000 + lo, 1000 + lo + w);
    } else if let Some((lo, w)) = r.sport {
        s += &format!("udp sport {}-{} ", 2000 + lo, 2000 + lo + w);
    }
    // Rare: rules whose blockers are not just their own cubes.
    match r.extra {
        0 => return s + "jump side",
        1 => s += "limit 10/second ",
        2 => return s + "mark set 0x1",
        3 => return s + "return",
        _ => {}
    }
    s + ["accept", "drop", "reject"][r.verdict as usize]
}

fn policy(rules: &[R]) -> String {
    let body: Vec<String> = rules.iter().map(|r| format!("    {}\n", text(r))).collect();
    format!(
        "table t {{\n  chain input hook input policy drop {{\n{}  }}\n  chain side {{\n    \
         tcp dport 1000-1010 accept\n    saddr 10.1.0.0/16 drop\n  }}\n}}\n",
        body.concat()
    )
}

fn resolved(source: &str) -> shriek_compiler::ir::Policy {
    let frontend = resolve::resolve_str("policy.shr", source);
    frontend.policy.expect("a policy")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, ..ProptestConfig::default() })]

    #[test]
    fn checking_batches_in_groups_finds_what_one_batch_at_a_time_finds(
        rules in prop::collection::vec(rule(), 65..400),
        start in 5_000u64..20_000,
        per_rule in prop_oneof![Just(0u64), 0u64..200],
        group in 2usize..20,
    ) {
        let policy = resolved(&policy(&rules));
        // A ladder of budgets, from one that runs out early to the default.
        let mut base = start;
        while base < 50_000_000 {
            let budget = Budget { base, per_rule };
            let one = analysis::analyze_in_groups(&policy, budget, 1);
            let many = analysis::analyze_in_groups(&policy, budget, group);
            prop_assert_eq!(&one, &many, "budget {:?}, group {}", budget, group);
            base = base * 11 / 10 + 1;
        }
    }
}

/// A budget that runs out part way through the policy: the rules past it get
/// `analysis-budget` in the same places, and the findings before it are the
/// same, checked in groups of any size or one batch at a time.
#[test]
fn a_budget_running_out_part_way_gives_the_same_findings_at_once() {
    let source = shriek_testkit::budget::negations(600);
    let policy = resolved(&source);
    let budget = Budget { base: 2_000_000, per_rule: 0 };
    let one = analysis::analyze_in_groups(&policy, budget, 1);
    let budgeted = one.iter().filter(|d| d.name == "analysis-budget").count();
    assert!(budgeted > 0 && budgeted < one.len(), "the budget runs out part way: {budgeted}");
    for group in [2, 3, 16, 100] {
        let many = analysis::analyze_in_groups(&policy, budget, group);
        assert_eq!(one, many, "group {group}");
    }
}

/// Rules that each meet every rule above and are covered by none, so each
/// costs more than the one before: at some budgets a rule of a later batch
/// of a group spends more than its real share without being refused, and is
/// checked again with that share.
#[test]
fn rules_costing_more_than_their_real_share_are_checked_again() {
    let rules: Vec<R> = (0..400u16)
        .map(|i| R {
            saddr: Some((0, 8 + (i % 3) as u8 * 8, i % 5 == 0)),
            dport: Some((0, 1 + i, false)),
            sport: None,
            verdict: (i % 3) as u8,
            extra: 4 + (i % 7) as u8,
        })
        .collect();
    let policy = resolved(&policy(&rules));
    let mut base = 1_000;
    while base < 5_000_000 {
        let budget = Budget { base, per_rule: 0 };
        let one = analysis::analyze_in_groups(&policy, budget, 1);
        for group in [2, 16] {
            let many = analysis::analyze_in_groups(&policy, budget, group);
            assert_eq!(one, many, "budget {budget:?}, group {group}");
        }
        base = base * 21 / 20 + 1;
    }
}

/// A long chain of port rules, where the analysis's index puts each rule in
/// fine port buckets of its own (`analysis/index.rs`): every rule that
/// earlier rules cover is found, named shadowed or redundant as the first
/// rule to take each of its ports says, and no other, against a per-port
/// oracle.
mod long_port_chains {
    use super::*;

    /// `(udp, first port, last port, drop)`.
    type PortRule = (bool, u16, u16, bool);

    fn port_rule() -> impl Strategy<Value = PortRule> {
        (
            any::<bool>(),
            1000u16..9000,
            prop_oneof![8 => Just(0u16), 2 => 1u16..40, 1 => 40u16..400],
            any::<bool>(),
        )
            .prop_map(|(udp, lo, w, drop)| (udp, lo, lo + w, drop))
    }

    /// Per rule, `None`, or the finding's name: the first earlier rule to
    /// take each port decides it.
    fn oracle(rules: &[PortRule]) -> Vec<Option<&'static str>> {
        let mut first: [Vec<Option<bool>>; 2] = [vec![None; 65536], vec![None; 65536]];
        rules
            .iter()
            .map(|&(udp, lo, hi, drop)| {
                let taken = &mut first[udp as usize];
                let deciders: Vec<Option<bool>> = (lo..=hi).map(|p| taken[p as usize]).collect();
                for p in lo..=hi {
                    taken[p as usize].get_or_insert(drop);
                }
                if deciders.iter().any(Option::is_none) {
                    None
                } else if deciders.iter().all(|&d| d == Some(drop)) {
                    Some("redundant-rule")
                } else {
                    Some("shadowed-rule")
                }
            })
            .collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

        #[test]
        fn every_covered_port_rule_is_found_and_no_other(
            rules in prop::collection::vec(port_rule(), 2_000..5_000),
        ) {
            let body: Vec<String> = rules
                .iter()
                .map(|&(udp, lo, hi, drop)| {
                    let proto = if udp { "udp" } else { "tcp" };
                    let verdict = if drop { "drop" } else { "accept" };
                    format!("    {proto} dport {lo}-{hi} {verdict}\n")
                })
                .collect();
            let source = format!(
                "table t {{\n  chain input hook input policy drop {{\n{}  }}\n}}\n",
                body.concat()
            );
            let policy = resolved(&source);
            // The line of each rule: the chain's rules start on line 3.
            let line = |start: u32| source[..start as usize].matches('\n').count() - 2;
            let mut found: Vec<Option<&'static str>> = vec![None; rules.len()];
            for d in analysis::analyze(&policy) {
                let at = line(d.primary.loc.span.start);
                prop_assert!(found[at].is_none(), "two findings for rule {}", at);
                found[at] = Some(d.name);
            }
            let expected = oracle(&rules);
            for (at, (f, e)) in found.iter().zip(&expected).enumerate() {
                prop_assert_eq!(f, e, "rule {}: {:?}", at, rules[at]);
            }
        }
    }
}
