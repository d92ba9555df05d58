//! The interfaces a hook's packets lack, read through `jump` and `goto`: a
//! regular chain's packets are those of every hook that reaches it, and
//! what it decides is read by each chain that jumps to it as that chain's
//! packets see it. Snapshots of the report, in snapshots/analysis/.

use shriek_compiler::{analysis, render, resolve};

fn report(name: &str, source: &str) {
    let frontend = resolve::resolve_str("policy.shr", source);
    let errors: Vec<_> = frontend
        .diagnostics
        .iter()
        .filter(|d| d.severity == shriek_grammar::Severity::Error)
        .map(|d| d.message.clone())
        .collect();
    assert!(errors.is_empty(), "{name}: the policy must resolve cleanly: {errors:?}");
    let policy = frontend.policy.expect("a policy when resolving found no error");
    let findings = analysis::analyze(&policy);
    let text = render::render_text(&findings, &frontend.sources, false);
    shriek_testkit::snapshot!(
        "analysis",
        name,
        format!("--- SOURCE ---\n{source}\n--- TEXT ---\n{text}")
    );
}

/// `c` drops only packets with `oif wan0`, and no packet from `input` has
/// an `oif`: for `input`, the jump accepts every packet, so the rule after
/// it is redundant, not shadowed by a drop (it once was reported as
/// shadowed, an error, naming the jump as dropping some packets).
#[test]
fn a_jump_decides_only_what_the_callers_packets_meet() {
    report(
        "hooks_jump_from_input",
        r#"table t {
  chain input hook input policy accept {
    jump c
    tcp dport 22 accept
  }
  chain c {
    oif wan0 drop
    accept
  }
}
"#,
    );
}

/// A chain reached only from `input` and `prerouting` reads its rules as
/// those hooks' packets: `oif wan0` never holds there.
#[test]
fn a_chain_reached_from_hooks_without_oif_lacks_it_too() {
    report(
        "hooks_regular_chain_without_oif",
        r#"table t {
  chain input hook input policy accept {
    tcp dport 22 jump c
  }
  chain pre hook prerouting policy accept {
    udp dport 53 goto c
  }
  chain c {
    oif wan0 drop
    oif != wan0 accept
    drop
  }
}
"#,
    );
}

/// Reached from `forward` too, the chain may see any `oif`: its rules are
/// read for every packet (no finding on `oif wan0 drop`), while `input`
/// still reads its jump as accepting all of its own packets.
#[test]
fn a_chain_reached_from_forward_too_keeps_its_interfaces() {
    report(
        "hooks_regular_chain_from_forward_too",
        r#"table t {
  chain input hook input policy accept {
    jump c
    accept
  }
  chain fwd hook forward policy accept {
    jump c
    accept
  }
  chain c {
    oif wan0 drop
    accept
  }
}
"#,
    );
}

/// The host's own packets have no `iif`, through a chain of chains.
#[test]
fn output_packets_lack_iif_behind_two_jumps() {
    report(
        "hooks_output_iif_behind_jumps",
        r#"table t {
  chain output hook output policy accept {
    jump c
  }
  chain c {
    jump d
    iif lan0 accept
  }
  chain d {
    iif != lan0 drop
    iif lan0 accept
  }
}
"#,
    );
}

/// A chain reached from `output` (no `iif`) and from `input` (no `oif`),
/// and from no other hook: no packet entering it has both an `iif` and an
/// `oif`. The `drop` holds for none, so `tcp dport 22 accept` is redundant
/// (it was once reported shadowed by that drop, an error), and the
/// `iif lan0 oif wan0` rule is unmatchable.
#[test]
fn a_chain_reached_from_output_and_input_lacks_one_interface_or_the_other() {
    report(
        "hooks_output_and_input",
        r#"table t {
  chain input hook input policy accept {
    jump c
  }
  chain output hook output policy accept {
    jump c
  }
  chain c {
    iif lan0 oif wan0 drop
    accept
    tcp dport 22 accept
  }
}
"#,
    );
}
