//! The language additions of issue 10 as a user sees them: each case is a
//! `.shr` source and what `check`, `compile` (every strategy) and `trace`
//! print for it, snapshotted in `snapshots/lang/`.

use shriek_compiler::analysis::analyze;
use shriek_compiler::emit::{emit_json, emit_nft, trace_model_text, trace_text};
use shriek_compiler::lower::{lower, Strategy};
use shriek_compiler::packet::parse_packet;
use shriek_compiler::render::render_text;
use shriek_compiler::resolve;

fn snapshot(name: &str, body: String) {
    shriek_testkit::snapshot!("lang", name, body);
}

/// What `shriekc check` reports for `source`: resolve errors, or else the
/// analysis's findings.
fn check(name: &str, source: &str) {
    let fe = resolve::resolve_str("main.shr", source);
    let mut diags = fe.diagnostics.clone();
    if let Some(policy) = &fe.policy {
        diags.extend(analyze(policy));
    }
    let errors = render_text(&diags, &fe.sources, false);
    snapshot(name, format!("--- SOURCE ---\n{source}\n--- CHECK ---\n{errors}"));
}

/// `compile` of `source` with every strategy (and the JSON of the first),
/// then `trace` of each packet by the evaluator and through every lowering,
/// which must agree.
fn compile(name: &str, source: &str, packets: &[&str]) {
    let fe = resolve::resolve_str("main.shr", source);
    let text = render_text(&fe.diagnostics, &fe.sources, false);
    let policy = fe.policy.as_ref().unwrap_or_else(|| panic!("{name} does not resolve:\n{text}"));
    let mut out = format!("--- SOURCE ---\n{source}\n");
    for strategy in Strategy::ALL {
        let lowered = lower(policy, strategy);
        out.push_str(&format!(
            "--- COMPILE {} ---\n{}\n",
            strategy.keyword(),
            emit_nft(&lowered.ruleset, &fe.sources)
        ));
        if strategy == Strategy::Sequential {
            out.push_str(&format!("--- JSON ---\n{}\n", emit_json(&lowered.ruleset, &fe.sources)));
        }
    }
    for spec in packets {
        let (packet, hook) = parse_packet(spec).expect("a valid packet");
        let hook = hook.unwrap_or(shriek_compiler::ir::Hook::Input);
        let by_policy = trace_text(policy, &fe.sources, &packet, hook);
        out.push_str(&format!("--- TRACE ---\n{by_policy}\n"));
        let want = shriek_compiler::eval::evaluate(
            policy,
            hook,
            &packet,
            shriek_compiler::eval::LimitMode::UnderRate,
        )
        .outcome;
        for strategy in Strategy::ALL {
            let lowered = lower(policy, strategy);
            let (got, _) =
                shriek_compiler::nft_eval::evaluate_model(&lowered.ruleset, hook, &packet);
            assert_eq!(
                got,
                want,
                "{name}: {spec} under {}:\n{}",
                strategy.keyword(),
                trace_model_text(&lowered.ruleset, &fe.sources, &packet, hook)
            );
        }
    }
    snapshot(name, out);
}

#[test]
fn icmp_type_and_code_compile() {
    compile(
        "icmp_compile",
        "table t {\n  chain input hook input policy drop {\n    icmp type echo-request accept\n    icmpv6 type { echo-request, nd-neighbor-solicit, 133-136 } accept\n    icmp type destination-unreachable icmp code { frag-needed, 3 } accept\n    icmp type != { echo-reply, 0-2 } counter drop\n    icmpv6 code != admin-prohibited tcp dport 22 accept\n  }\n}\n",
        &[
            "icmp 10.0.0.1 -> 10.0.0.2",
            "icmp 10.0.0.1 -> 10.0.0.2 type echo-reply",
            "icmp 10.0.0.1 -> 10.0.0.2 type destination-unreachable code frag-needed",
            "icmpv6 fd00::1 -> fd00::2 type nd-router-advert",
            "icmpv6 fd00::1 -> fd00::2 type 137",
            "1 fd00::1 -> fd00::2",
        ],
    );
}

#[test]
fn icmp_errors_and_findings() {
    check(
        "icmp_unknown_type",
        "table t {\n  chain c {\n    icmp type echo-requets accept\n    icmpv6 type router-advertisement accept\n    icmp code 256 drop\n    icmp type 300-400 drop\n    icmp type 10.0.0.1 drop\n  }\n}\n",
    );
    check("icmp_syntax", "table t {\n  chain c {\n    icmp echo-request accept\n  }\n}\n");
    check(
        "icmp_findings",
        "table t {\n  chain c hook input policy drop {\n    icmp type echo-request saddr fd00::/8 accept\n    icmp type echo-request icmpv6 type echo-request accept\n    icmp type { echo-request, echo-reply } accept\n    icmp type echo-reply accept\n    proto icmp drop\n    icmp type 8 drop\n  }\n}\n",
    );
}

/// Rules that differ only in their ICMP type or code cover nothing of each
/// other.
#[test]
fn distinct_icmp_types_and_codes_are_no_finding() {
    let source = "table t {\n  chain input hook input policy drop {\n    icmpv6 type { 134-136 } accept\n    icmpv6 type echo-request accept\n    icmp type destination-unreachable icmp code 3 drop\n    icmp type destination-unreachable icmp code 4 drop\n    icmp type echo-request limit 1/second accept\n    icmp type echo-request drop\n  }\n}\n";
    let fe = resolve::resolve_str("main.shr", source);
    let policy = fe.policy.as_ref().expect("resolves");
    let findings = analyze(policy);
    assert!(findings.is_empty(), "{}", render_text(&findings, &fe.sources, false));
}

#[test]
fn reject_with_compiles() {
    compile(
        "reject_compile",
        "table t {\n  chain input hook input policy accept {\n    tcp dport 22 reject with tcp reset\n    proto tcp saddr 10.0.0.0/8 reject with tcp reset\n    family ipv4 udp dport 53 reject with icmp admin-prohibited\n    saddr fd00::/8 reject with icmpv6 no-route\n    tcp dport 23 reject with icmpx host-unreachable\n    udp dport 24 reject with icmpx port-unreachable\n    family ipv4 reject with icmp port-unreachable\n  }\n}\n",
        &[
            "tcp 10.0.0.1:1000 -> 10.0.0.2:22",
            "udp 10.0.0.1:1000 -> 10.0.0.2:53",
            "tcp [fd00::1]:1000 -> [fd00::2]:80",
            "udp [fd01::1]:1000 -> [fd00::2]:24",
            "icmp 192.0.2.1 -> 10.0.0.2",
        ],
    );
}

#[test]
fn reject_with_errors_and_findings() {
    check(
        "reject_errors",
        "table t {\n  chain c {\n    reject with tcp reset\n    udp dport 53 reject with tcp reset\n    tcp dport { 22, 23 } reject with icmp admin-prohibited\n    saddr 10.0.0.0/8 reject with icmpv6 no-route\n    family ipv4 reject with icmp admin-prohibted\n    reject with udp reset\n  }\n}\n",
    );
    check(
        "reject_findings",
        "table t {\n  chain c hook input policy accept {\n    tcp dport 22 reject with tcp reset\n    tcp dport 22 reject\n    tcp dport 23 reject\n    tcp dport 23 reject with icmpx port-unreachable\n  }\n  chain d hook forward policy accept {\n    reject with icmpx admin-prohibited\n    family ipv4 reject with icmp admin-prohibited\n    family ipv6 reject with icmpv6 no-route\n  }\n}\n",
    );
}

#[test]
fn log_level_compiles_and_checks() {
    compile(
        "log_level_compile",
        "table t {\n  chain input hook input policy accept {\n    tcp dport 22 log level info prefix \"ssh: \"\n    tcp dport 23 log prefix \"telnet: \" level crit drop\n    log level warn\n    log level audit\n  }\n}\n",
        &["tcp 10.0.0.1:1000 -> 10.0.0.2:22"],
    );
    check(
        "log_level_errors",
        "table t {\n  chain c {\n    log level warning prefix \"x\"\n    log level prefix \"x\"\n    log level audit prefix \"x\"\n  }\n}\n",
    );
}

#[test]
fn tcp_flags_compile() {
    compile(
        "tcp_flags_compile",
        "define scan = { fin, psh, urg }\ntable t {\n  chain input hook input policy accept {\n    ct state invalid drop\n    tcp flags syn / syn,ack,rst,fin tcp dport 22 accept\n    tcp flags syn,ack tcp dport 23 drop\n    tcp flags ! syn,ack tcp dport 24 drop\n    tcp flags == syn,ack tcp dport 25 drop\n    tcp flags != syn tcp dport 26 accept\n    tcp flags != syn / syn,ack tcp dport 27 counter\n    tcp flags == 0 drop\n    tcp flags $scan / fin,syn,rst,psh,ack,urg drop\n    tcp flags syn tcp flags != syn tcp dport 28 drop\n    tcp dport { 22, 80 } accept\n  }\n}\n",
        &[
            "tcp 10.0.0.1:1000 -> 10.0.0.2:22",
            "tcp 10.0.0.1:1000 -> 10.0.0.2:22 ct established",
            "tcp 10.0.0.1:1000 -> 10.0.0.2:22 flags syn,ecn,cwr",
            "tcp 10.0.0.1:1000 -> 10.0.0.2:23 flags syn,ack",
            "tcp 10.0.0.1:1000 -> 10.0.0.2:24 ct established flags fin",
            "tcp [fd00::1]:1000 -> [fd00::2]:25 ct established flags syn,ack",
            "tcp 10.0.0.1:1000 -> 10.0.0.2:26 ct established",
            "tcp 10.0.0.1:1000 -> 10.0.0.2:99 flags 0",
            "tcp 10.0.0.1:1000 -> 10.0.0.2:99 flags fin,psh,urg",
            "tcp 10.0.0.1:1000 -> 10.0.0.2:28 flags syn,rst",
            "tcp 10.0.0.1:1000 -> 10.0.0.2:28",
            "udp 10.0.0.1:1000 -> 10.0.0.2:28",
        ],
    );
}

#[test]
fn tcp_flags_errors_and_findings() {
    check(
        "tcp_flags_errors",
        "table t {\n  chain c {\n    tcp flags sny drop\n    tcp flags { syn, ack } drop\n    tcp flags fin,psh / syn,ack drop\n    tcp flags == syn / syn,ack drop\n    tcp flags 300 drop\n    tcp flags 10.0.0.1 drop\n  }\n}\n",
    );
    check(
        "tcp_flags_findings",
        "table t {\n  chain c hook input policy accept {\n    proto udp tcp flags syn drop\n    tcp flags syn drop\n    tcp flags syn / syn,ack drop\n    tcp flags == ack accept\n    tcp flags ack / syn,ack accept\n    tcp flags ack drop\n    udp dport 53 accept\n  }\n}\n",
    );
}

/// Flags that differ in one flag the other rule fixes cover nothing of
/// each other.
#[test]
fn distinct_tcp_flags_are_no_finding() {
    let source = "table t {\n  chain input hook input policy accept {\n    tcp flags syn / syn,ack accept\n    tcp flags ack / syn,ack accept\n    tcp flags == syn,ack drop\n    tcp flags ! syn,ack drop\n  }\n}\n";
    let fe = resolve::resolve_str("main.shr", source);
    let policy = fe.policy.as_ref().expect("resolves");
    let findings = analyze(policy);
    assert!(findings.is_empty(), "{}", render_text(&findings, &fe.sources, false));
}
