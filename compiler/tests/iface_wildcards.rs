//! Interface wildcards (`iif eth*`) and quoted names, through resolve, the
//! analysis, every lowering and both evaluators.

use shriek_compiler::emit::emit_nft;
use shriek_compiler::eval::{evaluate, LimitMode};
use shriek_compiler::ir::Hook;
use shriek_compiler::lower::{lower, Strategy};
use shriek_compiler::nft_eval::trace_model;
use shriek_compiler::packet::parse_packet;
use shriek_compiler::resolve;

const POLICY: &str = r#"table t {
  chain input hook input policy drop {
    iif eth* tcp dport 22 accept
    iif eth0 tcp dport 22 drop
    iif wg0 tcp dport 80 accept
    iif wg* tcp dport 80 drop
    iif { eth*, wg*, "br-lan" } tcp dport 443 counter
    iif != { eth*, lo } tcp dport 8080 drop
    iif * tcp dport 9000 accept
  }
}
"#;

#[test]
fn wildcards_shadow_exactly_and_lower_to_ifname_prefixes() {
    let fe = resolve::resolve_str("w.shr", POLICY);
    assert!(fe.diagnostics.is_empty(), "{:?}", fe.diagnostics);
    let policy = fe.policy.expect("resolves");
    // `eth0` after `eth*` is shadowed; `wg*` after `wg0` is not.
    let findings = shriek_testkit::finding_lines(&fe.sources, &policy);
    assert_eq!(findings, [(4, "shadowed-rule")]);

    let mut out = String::new();
    for strategy in Strategy::ALL {
        let lowered = lower(&policy, strategy);
        out +=
            &format!("--- {} ---\n{}", strategy.keyword(), emit_nft(&lowered.ruleset, &fe.sources));
        for spec in [
            "tcp 10.0.0.1:1 -> 10.0.0.2:22 iif eth0",
            "tcp 10.0.0.1:1 -> 10.0.0.2:22 iif eth",
            "tcp 10.0.0.1:1 -> 10.0.0.2:22 iif et",
            "tcp 10.0.0.1:1 -> 10.0.0.2:80 iif wg7",
            "tcp 10.0.0.1:1 -> 10.0.0.2:443 iif br-lan",
            "tcp 10.0.0.1:1 -> 10.0.0.2:443 iif wg1",
            "tcp 10.0.0.1:1 -> 10.0.0.2:8080 iif eth1",
            "tcp 10.0.0.1:1 -> 10.0.0.2:8080 iif ppp0",
            "tcp 10.0.0.1:1 -> 10.0.0.2:9000 iif x",
        ] {
            let (p, _) = parse_packet(spec).expect("a packet");
            let want = evaluate(&policy, Hook::Input, &p, LimitMode::UnderRate).outcome;
            let got = trace_model(&lowered.ruleset, Hook::Input, &p, LimitMode::UnderRate);
            assert_eq!(want, got.outcome, "{strategy:?} {spec}");
        }
    }
    shriek_testkit::snapshot!("compile", "iface_wildcards", out);
}

#[test]
fn interface_names_are_checked_as_linux_does() {
    for (src, message) in [
        ("iif \"eth 0\" accept", "interface name `eth 0` holds ` `"),
        ("iif \"a/b\" accept", "interface name `a/b` holds `/`"),
        ("iif \"e*th\" accept", "interface name `e*th` holds `*`"),
        ("iif abcdefghijklmnop* accept", "interface name `abcdefghijklmnop*` is too long"),
    ] {
        let text = format!("table t {{\n  chain c hook input {{\n    {src}\n  }}\n}}\n");
        let fe = resolve::resolve_str("bad.shr", &text);
        let got: Vec<&str> = fe.diagnostics.iter().map(|d| d.message.as_str()).collect();
        assert_eq!(got, [message], "{src}");
    }
}
