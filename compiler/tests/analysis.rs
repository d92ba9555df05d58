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

#[test]
fn explain_covers_every_finding() {
    for f in analysis::FINDINGS {
        let text = analysis::explain(f.name).unwrap_or_default();
        assert!(
            text.starts_with(&format!("{} ({}, {})", f.name, f.code, f.severity.as_str())),
            "{text}"
        );
        assert_eq!(analysis::explain(f.code), Some(text));
    }
    assert_eq!(analysis::explain("no-such-finding"), None);
}
