//! `counters on|off`: per-rule counters by table and by policy, in every
//! strategy, and what a wrong setting gets.

use shriek_compiler::lower::{lower, Strategy};
use shriek_compiler::nft::Expr;
use shriek_compiler::resolve::resolve_str;

/// One map's worth of port rules and one rule on another key.
const CHAIN: &str = "  chain input hook input policy drop {
    tcp dport 1 accept
    tcp dport 2 accept
    tcp dport 3 accept
    tcp dport 4 accept
    saddr 10.0.0.1 accept
  }
";

/// Per table of `src`, under each strategy: whether it counts (every nft
/// rule that runs a rule's verdict has a counter, every map counts), or
/// `None` when it is mixed.
fn counting(src: &str) -> Vec<Vec<Option<bool>>> {
    let front = resolve_str("p.shr", src);
    let policy = front.policy.unwrap_or_else(|| panic!("{:#?}", front.diagnostics));
    Strategy::ALL
        .iter()
        .map(|s| {
            lower(&policy, *s)
                .ruleset
                .tables
                .iter()
                .map(|t| {
                    let mut seen: Vec<bool> = t.sets.iter().map(|s| s.counters).collect();
                    for c in &t.chains {
                        for r in &c.rules {
                            if !r.exprs.iter().any(|e| matches!(e, Expr::Vmap { .. })) {
                                seen.push(r.exprs.contains(&Expr::Counter(None)));
                            }
                        }
                    }
                    let first = seen[0];
                    seen.iter().all(|b| *b == first).then_some(first)
                })
                .collect()
        })
        .collect()
}

/// Tables `a` and `b` under `top`, with `b_setting` as a line of `b`.
fn policy(top: &str, b_setting: &str) -> String {
    format!("{top}\ntable a {{\n{CHAIN}}}\ntable b {{\n  {b_setting}\n{CHAIN}}}\n")
}

#[test]
fn on_by_default_in_every_strategy() {
    assert_eq!(counting(&policy("", "")), vec![vec![Some(true), Some(true)]; 3]);
}

#[test]
fn off_for_one_table() {
    assert_eq!(counting(&policy("", "counters off")), vec![vec![Some(true), Some(false)]; 3]);
}

#[test]
fn off_for_the_policy_unless_a_table_says_on() {
    assert_eq!(
        counting(&policy("counters off", "counters on")),
        vec![vec![Some(false), Some(true)]; 3]
    );
    assert_eq!(counting(&policy("counters off", "")), vec![vec![Some(false), Some(false)]; 3]);
}

#[test]
fn map_elements_of_different_rules_stay_apart_when_counting() {
    let src = "table t {\n  chain c hook input {\n    tcp dport 1 accept\n    tcp dport 2 accept\n  }\n}\n";
    let elements = |src: &str| {
        let policy = resolve_str("p.shr", src).policy.expect("valid");
        lower(&policy, Strategy::Dispatch).ruleset.tables[0].sets[0].elements.len()
    };
    assert_eq!(elements(src), 2, "one element per rule, each with its count");
    assert_eq!(elements(&format!("counters off\n{src}")), 1, "merged when nothing counts");
}

#[test]
fn a_setting_other_than_on_or_off_is_an_error_at_its_word() {
    let src = "counters maybe\ntable t {\n  chain c hook input {\n    accept\n  }\n}\n";
    let front = resolve_str("p.shr", src);
    assert!(front.policy.is_none());
    let d = &front.diagnostics[0];
    assert_eq!(d.code, "E0223", "{d:#?}");
    assert!(d.message.contains("counters setting"), "{}", d.message);
    assert_eq!(&src[d.primary.loc.span.start as usize..d.primary.loc.span.end as usize], "maybe");
}

#[test]
fn fmt_keeps_the_setting() {
    let src =
        "counters off\n\ntable t {\n  counters on\n  chain c hook input {\n    accept\n  }\n}\n";
    let (file, diags) = shriek_grammar::parse(src);
    assert!(diags.is_empty(), "{diags:#?}");
    assert_eq!(shriek_grammar::fmt::format(&file, src), src);
}
