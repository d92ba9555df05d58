//! Every analysis finding as a user sees it: the policy, the text report and
//! the JSON report, snapshotted in snapshots/analysis/.

use shriek_compiler::{analysis, render, resolve};

fn check(name: &str, source: &str) {
    let frontend = resolve::resolve_str("policy.shr", source);
    let errors: Vec<_> = frontend.diagnostics.iter().map(|d| d.message.clone()).collect();
    assert!(errors.is_empty(), "{name}: the policy must resolve cleanly: {errors:?}");
    let policy = frontend.policy.expect("a policy when resolving found no error");
    let findings = analysis::analyze(&policy);
    let text = render::render_text(&findings, &frontend.sources, false);
    let json = render::render_json(&findings, &frontend.sources);
    let suppressed: Vec<String> = findings
        .iter()
        .filter_map(|d| Some(format!("{} ({})", d.name, d.suppressed.as_ref()?)))
        .collect();
    let out = format!(
        "--- SOURCE ---\n{source}\n--- TEXT ---\n{text}\n--- JSON ---\n{json}\n--- SUPPRESSED ---\n{}\n",
        suppressed.join("\n")
    );
    shriek_testkit::snapshot!("analysis", name, out);
}

#[test]
fn shadowed_by_the_union_of_two_rules() {
    check(
        "shadowed_union",
        r#"table filter {
  chain input hook input policy accept {
    tcp dport 1-1000 drop
    tcp dport 1001-2000 drop
    tcp dport 500-1500 accept
  }
}
"#,
    );
}

#[test]
fn partial_overlap_is_no_finding() {
    check(
        "partial_overlap",
        r#"table filter {
  chain input hook input policy accept {
    tcp dport 1-1000 drop
    tcp dport 500-1500 accept
  }
}
"#,
    );
}

#[test]
fn redundant_rule() {
    check(
        "redundant",
        r#"table filter {
  chain input hook input policy drop {
    saddr 10.0.0.0/8 accept
    saddr 10.1.0.0/16 tcp dport 22 accept
  }
}
"#,
    );
}

#[test]
fn counter_rule_that_never_runs() {
    check(
        "counter_never_runs",
        r#"table filter {
  chain input hook input policy drop {
    tcp dport 22 accept
    tcp dport 22 counter ssh_late
  }
}
"#,
    );
}

#[test]
fn unmatchable_rules() {
    check(
        "unmatchable",
        r#"table filter {
  chain input hook input policy drop {
    proto udp tcp dport 22 accept
    saddr 10.0.0.0/8 daddr fd00::1 accept
  }
}
"#,
    );
}

/// The kernel reads past IPv6 extension headers (0, 43, 44, 60) to the
/// protocol after them: no IPv6 packet has one as its protocol. A rule
/// that can only hold for such a packet never holds; one that also names
/// IPv4 holds for IPv4 packets. No rule is shadowed by the IPv6 part of a
/// rule that never holds.
#[test]
fn ipv6_extension_header_protocols() {
    check(
        "ipv6_extension_headers",
        r#"table filter {
  chain input hook input policy drop {
    family ipv6 proto 0 accept
    saddr fd00::/8 proto { 43, 44, 60 } accept
    proto { 0, 43 } counter
    daddr fd00::1 proto != 60 drop
    family ipv6 proto { 0, 17 } accept
    proto 44 accept
    family ipv6 proto 51 accept
    family ipv6 proto 50 accept
    family ipv6 proto 59 accept
  }
}
"#,
    );
}

/// Every IPv6 packet is of a protocol of the first two rules, 44 being an
/// extension header no packet has as its protocol: the last two rules
/// never run.
#[test]
fn ipv6_protocols_covered_without_extension_headers() {
    check(
        "ipv6_protocols_covered",
        r#"table filter {
  chain input hook input policy accept {
    family ipv6 proto != { 6, 17, 44 } drop
    family ipv6 proto { 6, 17 } drop
    family ipv6 counter
    family ipv6 proto != 17 accept
  }
}
"#,
    );
}

#[test]
fn unreachable_chain() {
    check(
        "unreachable_chain",
        r#"table filter {
  chain input hook input policy drop {
    tcp dport 22 accept
  }
  chain audit {
    log prefix "audit: "
  }
}
"#,
    );
}

/// A table whose chains a base chain reaches through `depth` nested jumps,
/// the last one a `goto` when `goto`.
fn nested(table: &str, depth: usize, goto: bool) -> String {
    let mut out = format!("table {table} {{\n  chain input hook input policy drop {{\n    jump c1\n    tcp dport 22 accept\n    tcp dport 22 accept\n  }}\n");
    for i in 1..depth {
        let verb = if goto && i + 1 == depth { "goto" } else { "jump" };
        out += &format!("  chain c{i} {{\n    {verb} c{}\n  }}\n", i + 1);
    }
    out + &format!("  chain c{depth} {{\n    accept\n  }}\n}}\n")
}

/// The kernel refuses a path of 16 nested jumps or gotos below a base
/// chain, and takes 15 (checked against it in
/// `shriekc/tests/kernel_bounds.rs`): `check` said nothing, and spent 3 GiB
/// and 20 seconds on a path 2000 deep. The refused table's other findings
/// wait; the other table's are reported.
#[test]
fn chain_too_deep() {
    check("chain_too_deep", &(nested("fits", 15, false) + &nested("deep", 16, true)));
}

#[test]
fn jump_cycle() {
    check(
        "jump_cycle",
        r#"table filter {
  chain input hook input policy drop {
    jump a
  }
  chain a {
    tcp dport 22 jump b
  }
  chain b {
    jump a
  }
}
"#,
    );
}

#[test]
fn jump_to_a_chain_that_always_drops_covers() {
    check(
        "jump_covers",
        r#"table filter {
  chain input hook input policy accept {
    saddr 203.0.113.0/24 jump deny
    saddr 203.0.113.7 tcp dport 22 accept
  }
  chain deny {
    drop
  }
}
"#,
    );
}

#[test]
fn allow_suppresses_but_keeps_the_finding() {
    check(
        "allowed",
        r#"table filter {
  chain input hook input policy drop {
    saddr 10.0.0.0/8 accept
    # shriek: allow(redundant-rule) reason="kept to document the jump host"
    saddr 10.0.0.5 accept
  }
}
"#,
    );
}

#[test]
fn limited_rule_covers_nothing() {
    check(
        "limit_does_not_cover",
        r#"table filter {
  chain input hook input policy accept {
    tcp dport 22 limit 10/second accept
    tcp dport 22 drop
  }
}
"#,
    );
}

#[test]
fn return_and_goto_end_the_chain() {
    check(
        "return_and_goto",
        r#"table filter {
  chain input hook input policy drop {
    saddr 10.0.0.0/8 goto office
    saddr 10.1.2.3 accept
  }
  chain office {
    tcp dport 22 return
    tcp dport 20-30 drop
    tcp dport 22 log prefix "ssh: "
  }
}
"#,
    );
}

/// Issue 8: under its rate, `ssh_rate` returns the packet, and the accept
/// after the jump takes it. No finding.
#[test]
fn limit_return_in_a_jump_target_is_no_finding() {
    check(
        "limit_return_in_jump_target",
        r#"table t {
  chain input hook input policy drop {
    tcp dport 22 jump ssh_rate
    tcp dport 22 accept
  }
  chain ssh_rate {
    limit 3/minute return
    drop
  }
}
"#,
    );
}

/// Under its rate the `goto` leaves `ssh_rate` for a chain that runs off its
/// end, which returns to `input`. No finding.
#[test]
fn limit_goto_to_a_chain_that_runs_off_is_no_finding() {
    check(
        "limit_goto_runs_off",
        r#"table t {
  chain input hook input policy drop {
    tcp dport 22 jump ssh_rate
    tcp dport 22 accept
  }
  chain ssh_rate {
    limit 3/minute goto note
    drop
  }
  chain note {
    log prefix "ssh: "
  }
}
"#,
    );
}

/// A `limit` on the jump itself: over the rate, the packet goes on.
#[test]
fn limit_on_a_jump_covers_nothing() {
    check(
        "limit_on_jump",
        r#"table t {
  chain input hook input policy drop {
    tcp dport 22 limit 3/minute jump deny
    tcp dport 22 accept
  }
  chain deny {
    drop
  }
}
"#,
    );
}

/// `ssh_rate` decides every packet (accept under the rate, else drop), so
/// the accept after the jump is never reached, and it is named for the drop.
#[test]
fn limit_accept_in_a_jump_target_still_covers() {
    check(
        "limit_accept_in_jump_target",
        r#"table t {
  chain input hook input policy drop {
    tcp dport 22 jump ssh_rate
    tcp dport 22 accept
  }
  chain ssh_rate {
    limit 3/minute accept
    drop
  }
}
"#,
    );
}

/// Nested: `outer` jumps to `inner`, which may return; `outer` then drops.
/// Every packet is decided in `outer`, so the accept is never reached.
#[test]
fn nested_jumps_with_limits_cover_exactly() {
    check(
        "nested_jumps_with_limits",
        r#"table t {
  chain input hook input policy drop {
    tcp dport 22 jump outer
    tcp dport 22 accept
    tcp dport 80 accept
  }
  chain outer {
    jump inner
    tcp dport 22 drop
  }
  chain inner {
    limit 3/minute return
    accept
  }
}
"#,
    );
}

/// Issue 8: a dnat to another backend behind a dnat never sends anything to
/// its own backend: shadowed, not redundant.
#[test]
fn dnat_behind_a_different_dnat_is_shadowed() {
    check(
        "dnat_behind_different_dnat",
        r#"table nat {
  chain pre hook prerouting type nat policy accept {
    tcp dport 80 dnat to 10.0.0.1:80
    tcp dport 80 daddr 192.0.2.1 dnat to 10.0.0.2:80
  }
}
"#,
    );
}

/// The same translation twice: the second one is redundant.
#[test]
fn dnat_behind_the_same_dnat_is_redundant() {
    check(
        "dnat_behind_same_dnat",
        r#"table nat {
  chain pre hook prerouting type nat policy accept {
    tcp dport 80 dnat to 10.0.0.1:80
    tcp dport 80 daddr 192.0.2.1 dnat to 10.0.0.1:80
  }
}
"#,
    );
}

/// A translation behind a plain accept never translates.
#[test]
fn translation_behind_an_accept_is_shadowed() {
    check(
        "masquerade_behind_accept",
        r#"table nat {
  chain post hook postrouting type nat policy accept {
    oif wan0 accept
    oif wan0 masquerade
  }
}
"#,
    );
}

#[test]
fn explain_covers_every_finding() {
    for f in analysis::codes::CATALOGUE.codes {
        let text = analysis::explain(f.name).unwrap_or_default();
        assert!(
            text.starts_with(&format!("{} ({}, {})", f.name, f.code, f.severity.as_str())),
            "{text}"
        );
        assert_eq!(analysis::explain(f.code), Some(text));
    }
    assert_eq!(analysis::explain("no-such-finding"), None);
}

/// Checks `source` and snapshots only its `analysis-budget` findings (the
/// policy is too long to print), as text and JSON.
fn check_budget(name: &str, source: &str) {
    let frontend = resolve::resolve_str("policy.shr", source);
    assert!(frontend.diagnostics.is_empty(), "{name}: {:?}", frontend.diagnostics.first());
    let policy = frontend.policy.expect("a policy when resolving found no error");
    let findings: Vec<_> =
        analysis::analyze(&policy).into_iter().filter(|d| d.name == "analysis-budget").collect();
    assert!(findings.iter().all(|d| d.severity == shriek_grammar::Severity::Info));
    let text = render::render_text(&findings, &frontend.sources, false);
    let json = render::render_json(&findings, &frontend.sources);
    shriek_testkit::snapshot!(
        "analysis",
        name,
        format!("--- TEXT ---\n{text}\n--- JSON ---\n{json}\n")
    );
}

/// A rule the exact analysis cannot finish within its budget gets an
/// info-level finding that names it, instead of silently none. The rule is
/// in fact covered (the small rules before it take the rest).
#[test]
fn analysis_budget_names_the_rule_not_analysed() {
    check_budget("budget_rule", &shriek_testkit::budget::covered_past_budget());
}

/// When what a jumped-to chain decides cannot be computed within the budget,
/// the rules after the jump that it may decide get the info finding, which
/// points at the jump and at the rule where the analysis of the chain stopped.
#[test]
fn analysis_budget_for_a_chain_behind_a_jump() {
    check_budget("budget_behind_jump", &shriek_testkit::budget::jump_past_budget());
}

/// When the policy's work budget runs out, the rules it cannot pay for get
/// `analysis-budget`, saying so, and the rules checked before keep their
/// exact findings (here, shadowed ones). Shown: the first finding given up,
/// as text and JSON, and how many of each kind there are.
#[test]
fn analysis_budget_when_the_work_of_the_policy_runs_out() {
    let source = shriek_testkit::budget::negations(200);
    let frontend = resolve::resolve_str("policy.shr", &source);
    let policy = frontend.policy.expect("a policy");
    let budget = analysis::Budget { base: 2_000_000, per_rule: 0 };
    let findings = analysis::analyze_within(&policy, budget);
    let mut counts = std::collections::BTreeMap::<&str, usize>::new();
    for d in &findings {
        *counts.entry(d.name).or_default() += 1;
    }
    let first: Vec<_> =
        findings.into_iter().filter(|d| d.name == "analysis-budget").take(1).collect();
    let text = render::render_text(&first, &frontend.sources, false);
    let json = render::render_json(&first, &frontend.sources);
    shriek_testkit::snapshot!(
        "analysis",
        "budget_of_the_policy",
        format!("--- COUNTS ---\n{counts:?}\n--- TEXT ---\n{text}\n--- JSON ---\n{json}\n")
    );
}
