//! Diagnostics as the user sees them: each case is a source and the rendered
//! errors, snapshotted in `snapshots/diagnostics/`.

use std::collections::BTreeMap;

use shriek_compiler::ir::{self, ChainId, Verdict};
use shriek_compiler::render::{
    render_github, render_json, render_sarif, render_text, RuleDescriptor,
};
use shriek_compiler::resolve::{self, Frontend, MemoryLoader};
use shriek_compiler::space::{
    CtState, CtStates, Cube, Families, Family, Intervals, Names, Protos, PROTO_TCP,
};

fn snapshot(name: &str, body: String) {
    shriek_testkit::snapshot!("diagnostics", name, body);
}

fn sources_text(files: &[(&str, &str)]) -> String {
    if files.len() == 1 {
        return files[0].1.to_string();
    }
    files.iter().map(|(n, t)| format!("// {n}\n{t}")).collect::<Vec<_>>().join("\n")
}

/// Resolve `source` alone and snapshot its rendered diagnostics.
fn check(name: &str, source: &str) {
    let fe = resolve::resolve_str("main.shr", source);
    assert!(fe.policy.is_none() == has_errors(&fe), "policy must exist exactly when error-free");
    let errors = render_text(&fe.diagnostics, &fe.sources, false);
    snapshot(name, format!("--- SOURCE ---\n{source}\n--- ERRORS ---\n{errors}"));
}

/// Resolve `main.shr` among several in-memory files.
fn check_files(name: &str, files: &[(&str, &str)]) {
    let fe = load_files(files);
    let errors = render_text(&fe.diagnostics, &fe.sources, false);
    snapshot(name, format!("--- SOURCE ---\n{}\n--- ERRORS ---\n{errors}", sources_text(files)));
}

fn load_files(files: &[(&str, &str)]) -> Frontend {
    let map: BTreeMap<String, String> =
        files.iter().map(|(n, t)| (n.to_string(), t.to_string())).collect();
    resolve::load(files[0].0, &mut MemoryLoader(map))
}

fn has_errors(fe: &Frontend) -> bool {
    fe.diagnostics.iter().any(|d| d.severity == shriek_grammar::Severity::Error)
}

fn resolved(source: &str) -> ir::Policy {
    let fe = resolve::resolve_str("main.shr", source);
    let text = render_text(&fe.diagnostics, &fe.sources, false);
    assert!(fe.diagnostics.is_empty(), "unexpected diagnostics:\n{text}");
    fe.policy.expect("no diagnostics means a policy")
}

/// One test per line: `name: "source";` resolves `main.shr` alone and
/// snapshots `snapshots/diagnostics/name.snap`.
macro_rules! cases {
    ($($name:ident: $src:expr;)*) => {
        $(#[test] fn $name() { check(stringify!($name), $src) })*
    };
}

/// Like `cases!`, over several files; the first is the entry.
macro_rules! file_cases {
    ($($name:ident: [$(($file:expr, $text:expr)),* $(,)?];)*) => {
        $(#[test] fn $name() { check_files(stringify!($name), &[$(($file, $text)),*]) })*
    };
}

// Syntax errors, as the grammar reports them through resolve.
cases! {
    syntax_unknown_keyword: "tabel filter {\n}\n";
    syntax_bad_rule: "table t {\n  chain c {\n    tcp dport accept\n  }\n}\n";
    syntax_tcp_names_flags: "table t {\n  chain c {\n    tcp flag syn accept\n  }\n}\n";
    syntax_ct_count_without_per: "table t {\n  chain c {\n    ct count over 20 drop\n  }\n}\n";
    syntax_unclosed_brace: "table t {\n  chain c {\n    accept\n";
    syntax_unterminated_string: "table t {\n  chain c {\n    log prefix \"oops\n  }\n}\n";
    syntax_bad_address: "define a = 10.0.0.300\n";
    syntax_prefix_too_long: "define a = 10.0.0.0/33\n";
    syntax_misspelt_statement: "table t {\n  chain c {\n    acept\n  }\n}\n";
}

// Includes.
cases! {
    include_missing: "include \"common.shr\"\n";
}
file_cases! {
    include_cycle: [("main.shr", "include \"a.shr\"\n"), ("a.shr", "include \"b.shr\"\n"), ("b.shr", "include \"a.shr\"\n")];
    include_self: [("main.shr", "include \"main.shr\"\n")];
    include_relative_and_defines_flow: [
        ("main.shr", "include \"lib/common.shr\"\ntable t {\n  chain c {\n    saddr $mgmt tcp dport $webb accept\n  }\n}\n"),
        ("lib/common.shr", "include \"ports.shr\"\ndefine mgmt = { 10.0.0.0/8 }\n"),
        ("lib/ports.shr", "define web = { 80, 443 }\n"),
    ];
}

#[test]
fn include_too_deep() {
    let names: Vec<String> = (0..20).map(|i| format!("f{i}.shr")).collect();
    let texts: Vec<String> = (0..20).map(|i| format!("include \"f{}.shr\"\n", i + 1)).collect();
    let files: Vec<(&str, &str)> =
        names.iter().zip(&texts).map(|(n, t)| (n.as_str(), t.as_str())).collect();
    let fe = load_files(&files);
    let errors = render_text(&fe.diagnostics, &fe.sources, false);
    snapshot("include_too_deep", format!("--- ERRORS ---\n{errors}"));
}

#[test]
fn file_limit_is_reported_once() {
    let mut main = String::new();
    let mut files = BTreeMap::new();
    for i in 0..300 {
        main.push_str(&format!("include \"f{i}.shr\"\n"));
        files.insert(format!("f{i}.shr"), String::new());
    }
    files.insert("main.shr".to_string(), main);
    let fe = resolve::load("main.shr", &mut MemoryLoader(files));
    let names: Vec<&str> = fe.diagnostics.iter().map(|d| d.name).collect();
    assert_eq!(names, ["too-many-files"]);
    assert_eq!(fe.sources.get(fe.diagnostics[0].loc().file).name, "main.shr");
}

#[test]
fn entry_missing() {
    let fe = resolve::load("nowhere.shr", &mut MemoryLoader::default());
    assert!(fe.policy.is_none());
    let errors = render_text(&fe.diagnostics, &fe.sources, false);
    snapshot("entry_missing", format!("--- ERRORS ---\n{errors}"));
}

// Defines.
cases! {
    undefined_name: "define web = { 80, 443 }\ntable t {\n  chain c {\n    tcp dport $webb accept\n  }\n}\n";
    defined_later: "table t {\n  chain c {\n    tcp dport $web accept\n  }\n}\ndefine web = { 80, 443 }\n";
    define_refers_to_itself: "define a = { 80, $a }\n";
    duplicate_define: "define web = 80\ndefine web = 443\n";
    no_cascade_from_bad_define: "define a = { $nope, 80 }\ntable t {\n  chain c {\n    tcp dport $a accept\n    saddr $a accept\n  }\n}\n";
}

// Tables and chains.
cases! {
    duplicate_table: "table t {\n}\ntable t {\n}\n";
    duplicate_chain: "table t {\n  chain c {\n  }\n  chain c {\n  }\n}\n";
    unknown_jump_target: "table t {\n  chain input hook input {\n    jump audti\n  }\n  chain audit {\n  }\n}\n";
    jump_to_base_chain: "table t {\n  chain input hook input {\n    goto output\n  }\n  chain output hook output {\n  }\n}\n";
    unknown_hook: "table t {\n  chain c hook inptu policy drop {\n  }\n}\n";
    unknown_policy: "table t {\n  chain c hook input policy dorp {\n  }\n}\n";
    unknown_chain_type: "table t {\n  chain c hook input type nta {\n  }\n}\n";
    missing_hook: "table t {\n  chain c policy drop {\n  }\n}\n";
    nat_on_forward: "table t {\n  chain c hook forward type nat {\n  }\n  chain r hook input type route {\n  }\n}\n";
    nat_outside_nat_chain: "table t {\n  chain pre hook prerouting {\n    tcp dport 80 dnat to 10.0.0.1:8080\n  }\n  chain r {\n    masquerade\n  }\n}\n";
    nat_wrong_hook: "table t {\n  chain post hook postrouting type nat {\n    dnat to 10.0.0.1\n  }\n}\n";
    nat_targets: "define pool = { 10.0.0.1, 10.0.0.2 }\ntable t {\n  chain pre hook prerouting type nat {\n    dnat to $pool\n    tcp dport 80 dnat to { 10.0.0.1:80 weight 0, 10.0.0.2:80 } balance round-robbin\n    redirect to 70000\n  }\n}\n";
    nat_weights_add_up_past_32_bits: "table t {\n  chain pre hook prerouting type nat {\n    dnat to { 10.0.0.1:80 weight 4294967295, 10.0.0.2:80 weight 4294967295 } balance round-robin\n  }\n}\n";
    // One map element per unit of weight: a hundred million took
    // compile and apply minutes and gigabytes.
    nat_weights_add_up_past_the_map_limit: "table t {\n  chain pre hook prerouting type nat {\n    dnat to { 10.0.0.1:80 weight 100000000, 10.0.0.2:80 } balance round-robin\n  }\n}\n";
    reject_on_postrouting: "table t {\n  chain post hook postrouting {\n    tcp dport 25 reject\n    jump r\n  }\n  chain r {\n    reject with icmpx admin-prohibited\n  }\n  chain fwd hook forward {\n    jump r\n    reject\n  }\n}\n";
}

// Value types.
cases! {
    type_port_for_address: "table t {\n  chain c {\n    saddr 22 accept\n  }\n}\n";
    type_define_holds_ports: "define web = { 80, 443 }\ntable t {\n  chain c {\n    saddr $web accept\n  }\n}\n";
    type_address_for_port: "table t {\n  chain c {\n    tcp dport { 22, 10.0.0.1 } accept\n  }\n}\n";
    host_bits_set: "table t {\n  chain c {\n    saddr { 10.1.2.3/8, fd00::1/8 } accept\n  }\n}\n";
    port_out_of_range: "table t {\n  chain c {\n    tcp dport { 22, 65536, 1000-70000 } accept\n  }\n}\n";
    reversed_range: "table t {\n  chain c {\n    tcp dport 2000-1000 accept\n    saddr 10.0.0.9-10.0.0.1 accept\n  }\n}\n";
    mixed_family_range: "define a = 10.0.0.1-fd00::1\n";
    invalid_range: "define a = 10.0.0.0/8-10.0.0.9\n";
    unknown_values: "table t {\n  chain c {\n    proto tpc accept\n    ct state establshed accept\n    tcp dport sssh accept\n    family ipv5 accept\n    proto 300 accept\n  }\n}\n";
    interface_names: "table t {\n  chain c {\n    iif averyveryverylongname accept\n    oif 0 accept\n    iif { lo, \"eth0\" } accept\n  }\n}\n";
    // nft's text has no way to write these: `compile` wrote a space for
    // each, so `nft -f` of it matched another interface than `apply`.
    interface_names_nft_cannot_write: "table t {\n  chain c {\n    iif \"a\u{1b}b\" accept\n    oif \"a\\\"b\" accept\n  }\n}\n";
}

// Rule shape and statements.
cases! {
    multiple_verdicts: "table t {\n  chain c {\n    accept drop\n  }\n}\n";
    statement_after_verdict: "table t {\n  chain c {\n    tcp dport 22 accept counter\n  }\n}\n";
    match_after_statement: "table t {\n  chain c {\n    counter tcp dport 22 accept\n  }\n}\n";
    zero_rate_and_unit: "table t {\n  chain c {\n    limit 0/second accept\n    limit 5/secnd accept\n  }\n}\n";
    // Numbers the kernel refuses (EOVERFLOW), which `check` once passed:
    // past the burst one day holds at one packet a day, and a rate that
    // overflows with the default burst; the largest of each still checks.
    limit_past_what_the_kernel_keeps: "table t {\n  chain c {\n    limit 1/day burst 213504 accept\n    limit 1/day burst 213503 accept\n    limit 18446744073709551611/second per saddr accept\n    limit 18446744073709551610/second accept\n  }\n}\n";
    counter_names: "table t {\n  chain c {\n    counter redis.in\n    counter a_very_long_counter_name_that_goes_on_and_on_and_on_past_the_limit_of_64\n  }\n}\n";
    // nft's text has no way to write these: `compile` wrote `'` and
    // spaces, so `nft -f` of it logged another prefix than `apply`, which
    // sent an escape sequence to the kernel log. Other text (`é`) is fine.
    log_prefixes_nft_cannot_write: "table t {\n  chain c {\n    log prefix \"in: \u{1b}[31m\"\n    log prefix \"a\\\"b\" level info\n    log prefix \"\u{9b}2J\"\n    log prefix \"del\u{7f}\"\n    log prefix \"café: \"\n  }\n}\n";
}

// Suppressions.
cases! {
    allow_errors: "table t {\n  chain c {\n    # shriek: allow(redundant-rule)\n    accept\n    drop # shriek: allow(shadowed-rul) reason=\"x\"\n    # shriek: alow(x)\n    drop\n  }\n}\n";
}

// Address translation that would silently change meaning (issue 8).
cases! {
    nat_mixed_family_balance: "table t {\n  chain pre hook prerouting type nat {\n    tcp dport 80 dnat to { 10.0.0.1:80, [2001:db8::1]:80 } balance round-robin\n  }\n}\n";
    nat_family_mismatch: "table t {\n  chain pre hook prerouting type nat {\n    daddr 192.0.2.1 tcp dport 80 dnat to [2001:db8::1]:80\n  }\n  chain post hook postrouting type nat {\n    saddr fd00::/8 snat to 203.0.113.5\n  }\n}\n";
    nat_ipv6_port_without_brackets: "table t {\n  chain pre hook prerouting type nat {\n    daddr 2001:db8::7 tcp dport 80 dnat to 2001:db8::1:8080\n    daddr 2001:db8::8 tcp dport 80 dnat to [2001:db8::1:8080]\n    daddr 2001:db8::9 tcp dport 80 dnat to [2001:db8::1]:8080\n  }\n}\n";
}

// A number too large to read is one error, about what was written.
cases! {
    port_with_23_digits: "define p = 12345678901234567890123\ntable t {\n  chain c hook prerouting type nat {\n    tcp dport 12345678901234567890123 accept\n    tcp dport { 22, 1-12345678901234567890123 } accept\n    tcp dport $p accept\n    dnat to 10.0.0.1:12345678901234567890123\n  }\n}\n";
}

// Many errors at once, without cascades.
cases! {
    many_errors: "define web = { 80, 443 }\ntable t {\n  chain c hook inptu {\n    saddr $web accept\n    tcp dport $nope accept\n    jump nowhere\n  }\n}\n";
}

const CORE: &str = r#"define mgmt = { 10.0.0.0/8, 192.168.0.0/16, fd00::/8 }   # addresses: v4 and v6 may mix
define web  = { 80, 443, 8000-8080 }                     # ports, with ranges

table filter {
  chain input hook input policy drop {
    ct state established,related accept
    iif lo accept
    saddr $mgmt tcp dport 22 accept
    tcp dport $web accept
    tcp dport 6379 counter redis_in drop
    proto icmp accept
    saddr 203.0.113.0/24 jump audit
  }
  chain audit {
    limit 10/second log prefix "audit: "
    drop
  }
  chain output hook output policy accept {
    tcp dport 6379 counter redis_out
  }
}
"#;

fn tcp_dport(ranges: &[(u128, u128)]) -> Cube {
    Cube {
        proto: Protos::only(PROTO_TCP),
        dport: Some(Intervals::from_ranges(ranges.iter().copied())),
        ..Cube::full()
    }
}

#[test]
fn core_example_resolves() {
    let policy = resolved(CORE);
    let t = &policy.tables[0];
    assert_eq!(t.name, "filter");
    assert_eq!(t.chains.len(), 3);
    let input = &t.chains[0];
    let base = input.base.expect("input is a base chain");
    assert_eq!(
        (base.hook, base.policy, base.priority),
        (ir::Hook::Input, ir::ChainPolicy::Drop, 0)
    );
    assert!(t.chains[1].base.is_none());
    let r = &input.rules;
    let est = CtStates::only(CtState::Established).union(CtStates::only(CtState::Related));
    assert_eq!(r[0].space, vec![Cube { ct: est, ..Cube::full() }]);
    assert_eq!(r[1].space, vec![Cube { iif: Names::exact("lo"), ..Cube::full() }]);
    // A mixed set splits into one cube per family.
    let v4 = Intervals::from_ranges([(10 << 24, (11 << 24) - 1), (0xC0A8_0000, 0xC0A8_FFFF)]);
    let v6 = Intervals::range(0xfd << 120, (0xfe << 120) - 1);
    assert_eq!(
        r[2].space,
        vec![
            Cube { family: Families::only(Family::V4), saddr: Some(v4), ..tcp_dport(&[(22, 22)]) },
            Cube { family: Families::only(Family::V6), saddr: Some(v6), ..tcp_dport(&[(22, 22)]) },
        ]
    );
    assert_eq!(r[3].space, vec![tcp_dport(&[(80, 80), (443, 443), (8000, 8080)])]);
    assert_eq!(r[4].actions, vec![ir::Action::Counter(Some("redis_in".into()))]);
    assert_eq!(r[6].verdict, Some(Verdict::Jump(ChainId(1))));
    let audit = &t.chains[1].rules[0];
    assert_eq!(
        audit.actions,
        vec![
            ir::Action::Limit(ir::Limit { rate: 10, per: ir::RateUnit::Second, burst: None }),
            ir::Action::Log { prefix: Some("audit: ".into()), level: None },
        ]
    );
    let names: Vec<&str> = t.counters.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["redis_in", "redis_out"]);
    assert_eq!(t.chains[2].rules[0].verdict, None);
}

#[test]
fn negation_stays_in_family() {
    let p = resolved("table t {\n  chain c {\n    saddr != 10.0.0.0/8 accept\n    tcp dport != 22 accept\n    proto != tcp accept\n    iif != lo accept\n    family ipv6 accept\n  }\n}\n");
    let r = &p.tables[0].chains[0].rules;
    let outside = Intervals::range(10 << 24, (11 << 24) - 1).complement(u32::MAX as u128);
    assert_eq!(
        r[0].space,
        vec![Cube { family: Families::only(Family::V4), saddr: Some(outside), ..Cube::full() }]
    );
    assert_eq!(r[1].space, vec![tcp_dport(&[(0, 21), (23, 65535)])]);
    assert_eq!(
        r[2].space,
        vec![Cube { proto: Protos::only(PROTO_TCP).complement(), ..Cube::full() }]
    );
    assert_eq!(r[3].space, vec![Cube { iif: Names::exact("lo").complement(), ..Cube::full() }]);
    assert_eq!(r[4].space, vec![Cube { family: Families::only(Family::V6), ..Cube::full() }]);
}

#[test]
fn contradictions_are_empty_not_errors() {
    let p = resolved("table t {\n  chain c {\n    proto udp tcp dport 22 accept\n  }\n}\n");
    assert!(p.tables[0].chains[0].rules[0].space.is_empty());
}

#[test]
fn nat_chain_defaults() {
    let p = resolved("table t {\n  chain pre hook prerouting type nat {\n    tcp dport 80 dnat to 10.0.0.1:8080\n  }\n  chain post hook postrouting type nat {\n    masquerade\n  }\n}\n");
    let c = &p.tables[0].chains;
    assert_eq!(c[0].base.map(|b| b.priority), Some(-100));
    assert_eq!(c[1].base.map(|b| b.priority), Some(100));
}

#[test]
fn allows_attach_to_rules() {
    let p = resolved("table t {\n  chain c {\n    # shriek: allow(redundant-rule) reason=\"kept for docs\"\n    # another comment\n    accept\n    drop # shriek: allow(shadowed-rule) reason=\"x\"\n    drop\n  }\n}\n");
    let r = &p.tables[0].chains[0].rules;
    assert_eq!(r[0].allows.len(), 1);
    assert_eq!(r[0].allows[0].name, "redundant-rule");
    assert_eq!(r[0].allows[0].reason, "kept for docs");
    assert_eq!(r[1].allows[0].name, "shadowed-rule");
    assert!(r[2].allows.is_empty());
}

#[test]
fn diamond_includes_load_once() {
    let fe = load_files(&[
        ("main.shr", "include \"a.shr\"\ninclude \"b.shr\"\n"),
        ("a.shr", "include \"c.shr\"\n"),
        ("b.shr", "include \"c.shr\"\n"),
        ("c.shr", "define x = 1\ntable t {\n}\n"),
    ]);
    assert!(fe.diagnostics.is_empty());
    assert_eq!(fe.policy.map(|p| p.tables.len()), Some(1));
}

fn machine_case() -> Frontend {
    let mut fe = load_files(&[
        (
            "main.shr",
            "include \"lib.shr\"\ntable t {\n  chain c {\n    saddr $web accept\n  }\n}\n",
        ),
        ("lib.shr", "define web = { 80, 443 }\n"),
    ]);
    // A suppressed warning, as the analysis would produce one.
    let loc = fe.diagnostics[0].primary.loc;
    let mut w = shriek_grammar::Diagnostic {
        severity: shriek_grammar::Severity::Warning,
        ..shriek_grammar::Diagnostic::new(
            shriek_compiler::analysis::codes::SHADOWED_RULE,
            "this rule is shadowed",
            loc,
            "never decides",
        )
    };
    w.suppressed = Some("kept on purpose".into());
    fe.diagnostics.push(w);
    fe
}

#[test]
fn json_output() {
    let fe = machine_case();
    snapshot("json_output", render_json(&fe.diagnostics, &fe.sources));
}

#[test]
fn sarif_output() {
    let fe = machine_case();
    let rules = [
        RuleDescriptor {
            code: "E0218",
            name: "type-mismatch",
            summary: "a value of the wrong type",
        },
        RuleDescriptor {
            code: "E0301",
            name: "shadowed-rule",
            summary: "a rule earlier rules always decide for",
        },
    ];
    snapshot("sarif_output", render_sarif(&fe.diagnostics, &fe.sources, &rules));
}

#[test]
fn github_output() {
    let fe = machine_case();
    snapshot("github_output", render_github(&fe.diagnostics, &fe.sources));
}

#[test]
fn hundred_thousand_rules_resolve_quickly() {
    let mut text =
        String::from("define web = { 80, 443, 8000-8080 }\ntable t {\n  chain c hook input {\n");
    for i in 0..100_000u32 {
        text.push_str(&format!(
            "    saddr 10.{}.{}.0/24 tcp dport $web accept\n",
            (i >> 8) & 255,
            i & 255
        ));
    }
    text.push_str("  }\n}\n");
    let start = std::time::Instant::now();
    let parse_only = shriek_grammar::parse(&text).1.len();
    let parsed = start.elapsed();
    let start = std::time::Instant::now();
    let fe = resolve::resolve_str("big.shr", &text);
    let took = start.elapsed();
    assert_eq!(parse_only, 0);
    eprintln!("parsed 100k rules in {parsed:?}");
    assert!(fe.diagnostics.is_empty());
    assert_eq!(fe.policy.map(|p| p.tables[0].chains[0].rules.len()), Some(100_000));
    eprintln!("resolved 100k rules in {took:?}");
    assert!(took.as_secs() < 60, "took {took:?}");
}
