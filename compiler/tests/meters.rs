//! Per-address limits (`limit ... per saddr`) and connection counts (`ct
//! count over N per saddr`), through resolve, the analysis, every lowering
//! and both evaluators, `fmt`, and their errors.

use shriek_compiler::emit::{emit_json, emit_nft};
use shriek_compiler::eval::{evaluate, LimitMode};
use shriek_compiler::ir::Hook;
use shriek_compiler::lower::{lower, Strategy};
use shriek_compiler::nft_eval::trace_model;
use shriek_compiler::packet::parse_packet;
use shriek_compiler::resolve;

const POLICY: &str = r#"table t {
  chain input hook input policy drop {
    tcp dport 22 ct state new limit 3/minute burst 5 per saddr accept
    tcp dport 22 ct state new drop
    tcp dport 22 accept
    saddr 10.0.0.0/8 tcp dport 80 limit 100/second per daddr accept
    tcp dport 80 ct count over 20 per saddr reject
    tcp dport 80 accept
    tcp dport 80 drop
  }
}
"#;

#[test]
fn per_address_rules_shadow_nothing_and_lower_alike_in_every_strategy() {
    let fe = resolve::resolve_str("m.shr", POLICY);
    assert!(fe.diagnostics.is_empty(), "{:?}", fe.diagnostics);
    let policy = fe.policy.expect("resolves");
    // Only the last rule is covered, by the plain accept before it: the
    // per-address rules hold for some packets only, so the drop after the
    // SSH guard and the accept after the count both run.
    let findings = shriek_testkit::finding_lines(&fe.sources, &policy);
    assert_eq!(findings, [(9, "shadowed-rule")]);

    let mut out = String::new();
    for strategy in Strategy::ALL {
        let lowered = lower(&policy, strategy);
        out +=
            &format!("--- {} ---\n{}", strategy.keyword(), emit_nft(&lowered.ruleset, &fe.sources));
        for spec in [
            "tcp 192.0.2.1:1 -> 10.0.0.2:22 ct new",
            "tcp [2001:db8::1]:1 -> [2001:db8::2]:22 ct new",
            "tcp 192.0.2.1:1 -> 10.0.0.2:22 ct established",
            "tcp 10.0.0.1:1 -> 10.0.0.2:80 ct new",
            "tcp [2001:db8::1]:1 -> [2001:db8::2]:80 ct new",
            "udp 10.0.0.1:1 -> 10.0.0.2:80",
        ] {
            let (p, _) = parse_packet(spec).expect("a packet");
            for mode in [LimitMode::UnderRate, LimitMode::OverRate] {
                let want = evaluate(&policy, Hook::Input, &p, mode).outcome;
                let got = trace_model(&lowered.ruleset, Hook::Input, &p, mode);
                assert_eq!(want, got.outcome, "{strategy:?} {mode:?} {spec}");
            }
        }
    }
    out += "--- json ---\n";
    out += &emit_json(&lower(&policy, Strategy::Sequential).ruleset, &fe.sources);
    shriek_testkit::snapshot!("compile", "meters", out);
}

#[test]
fn per_address_statements_format_as_written() {
    let src = "table t {\n  chain c hook input {\n    tcp dport 22   limit 3/minute  burst 5 per  saddr accept\n    tcp dport 80 ct  count over 20 per daddr reject\n  }\n}\n";
    let (file, diags) = shriek_grammar::parse(src);
    assert!(diags.is_empty(), "{diags:?}");
    let once = shriek_grammar::fmt::format(&file, src);
    assert!(once.contains("tcp dport 22 limit 3/minute burst 5 per saddr accept"), "{once}");
    assert!(once.contains("tcp dport 80 ct count over 20 per daddr reject"), "{once}");
    let (again, _) = shriek_grammar::parse(&once);
    assert_eq!(shriek_grammar::fmt::format(&again, &once), once);
}

#[test]
fn bad_per_address_statements_are_errors_that_say_the_fix() {
    let out = shriek_testkit::rule_errors(&[
        "tcp dport 22 limit 3/minute per sadr accept",
        "tcp dport 22 limit 3/minute per iif accept",
        "tcp dport 22 ct count over 99999999999 per saddr reject",
        "tcp dport 22 ct count over 3 reject",
        "tcp dport 22 ct count 3 per saddr reject",
        "tcp dport 22 limit 0/minute per saddr accept",
    ]);
    shriek_testkit::snapshot!("lang", "meter_errors", out);
}
