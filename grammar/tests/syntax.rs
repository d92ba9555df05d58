//! Syntax diagnostics and trees, snapshotted as plain text.
//!
//! Each case is one line: a name and a source. The rendering is deliberately
//! simple (the user-facing renderer lives in `shriek_compiler::render`):
//! `line:col code name: message`, then the label with the text it covers, then help.

use shriek_grammar::{ast, parse, SourceFile};

fn render(src: &str) -> String {
    let (_, diags) = parse(src);
    let file = SourceFile::new("test.shr", src);
    let mut out = format!("--- SOURCE ---\n{src}\n--- ERRORS ---\n");
    for d in &diags {
        let (line, col) = file.line_col(d.span.start);
        out += &format!("{line}:{col} {} {}: {}\n", d.code, d.name, d.message);
        out += &format!("  label: {} `{}`\n", d.label, file.slice(d.span).escape_debug());
        if let Some(help) = &d.help {
            out += &format!("  help: {help}\n");
        }
    }
    if diags.is_empty() {
        out += "(none)\n";
    }
    out
}

fn check(name: &str, src: &str) {
    shriek_testkit::snapshot!("grammar", name, render(src));
}

macro_rules! cases {
    ($($name:ident: $src:expr;)*) => {
        $(#[test] fn $name() { check(concat!("syntax_", stringify!($name)), $src); })*
    };
}

cases! {
    misspelt_verdict: "table t {\n  chain c {\n    tcp dport 22 acept\n  }\n}\n";
    misspelt_top_keyword: "tabel filter {\n  chain c { accept }\n}\n";
    misspelt_chain_keyword: "table t {\n  chian input hook input { accept }\n}\n";
    misspelt_chain_option: "table t {\n  chain input hok input policy drop { accept }\n}\n";
    chain_option_without_value: "table t {\n  chain input hook { accept }\n}\n";
    duplicate_chain_clause: "table t {\n  chain input hook input hook output policy drop {\n    accept\n  }\n}\n";
    missing_chain_name: "table t {\n  chain hook input {\n    accept\n  }\n}\n";
    unclosed_brace: "table t {\n  chain c {\n    accept\n}\n";
    unmatched_brace: "table t {\n  chain c {\n    accept\n  }\n}\n}\n";
    unterminated_string: "table t {\n  chain c {\n    log prefix \"oops\n    accept\n  }\n}\n";
    bad_prefix_length_v4: "define nets = { 10.0.0.0/33, fd00::/129 }\n";
    number_too_large: "table t {\n  chain c {\n    tcp dport 99999999999999999999 accept\n  }\n}\n";
    bad_ipv4_address: "define a = 300.1.2.3\n";
    bad_ipv6_address: "define a = fd00::1::2\n";
    stray_character: "table t {\n  chain c {\n    tcp dport 22 @ accept\n  }\n}\n";
    nul_byte: "table t {\n  chain c {\n    accept \0\n  }\n}\n";
    bad_escape: "table t {\n  chain c {\n    log prefix \"a\\tb\" accept\n  }\n}\n";
    unbraced_list: "table t {\n  chain c {\n    tcp dport 80,443 accept\n  }\n}\n";
    missing_value: "table t {\n  chain c {\n    saddr accept\n  }\n}\n";
    missing_port_protocol: "table t {\n  chain c {\n    dport 22 accept\n  }\n}\n";
    set_missing_comma: "define web = { 80 443 }\n";
    set_double_comma: "define web = { 80,, 443 }\n";
    define_without_equals: "define web { 80 }\n";
    limit_without_unit: "table t {\n  chain c {\n    limit 10 accept\n  }\n}\n";
    junk_after_table: "table t {\n  chain c { accept }\n} extra\n";
    rule_in_table: "table t {\n  accept\n}\n";
    chain_at_top_level: "chain c {\n  accept\n}\n";
    nested_chain: "table t {\n  chain a {\n    accept\n  chain b {\n    drop\n  }\n}\n";
    too_deep: &format!("define x = {}1{}\n", "{ ".repeat(70), " }".repeat(70));
    many_errors: "table t {\n  chain c {\n    tcp dport 22 acept\n    saddr 10.0.0.0/40 drop\n    udp dport 53 rejct\n    iif lo accept\n  }\n}\n";
    jump_without_target: "table t {\n  chain c {\n    jump\n  }\n}\n";
    dnat_v6_port_without_brackets: "table t {\n  chain c hook prerouting type nat {\n    dnat to fd00::1:80:99999999999999999999\n  }\n}\n";
    brace_on_next_line: "table t {\n  chain c hook input\n  {\n    accept\n  }\n}\n";
    incomplete_statements: "table t {\n  chain c {\n    tcp dport 22 accept; udp\n    log prefix\n    limit 5/second burst\n    dnat 10.0.0.1\n    dnat to { 10.0.0.1:80 } roundrobin\n    ct state established,\n  }\n}\n";
    include_without_string: "include common.shr\n";
}

/// The example from the language contract parses without a single error.
#[test]
fn core_example_parses_cleanly() {
    let (file, diags) = parse(CORE_EXAMPLE);
    assert_eq!(diags, vec![]);
    shriek_testkit::snapshot_debug!("grammar", "ast_core_example", file);
}

fn check_ast(name: &str, src: &str) {
    let (file, diags) = parse(src);
    assert_eq!(diags, vec![], "{name} should parse cleanly");
    shriek_testkit::snapshot_debug!("grammar", name, file.items);
}

#[test]
fn ast_values() {
    check_ast(
        "ast_values",
        "define a = { 10.0.0.1, 10.0.0.0/8, 10.0.0.1-10.0.0.9, ::, ::1, fd00::/8, ::ffff:1.2.3.4, fe80::1-fe80::9 }\n\
         define b = { 80, 8000-8080, $a, { 1, 2, }, \"q\\\"uote\\\\\" }\n\
         define c = {\n  veth-a, eth0.10,   # comment inside\n  _x\n}\n",
    );
}

#[test]
fn ast_statements() {
    check_ast(
        "ast_statements",
        "table nat {\n  chain pre hook prerouting type nat priority -100 policy accept {\n\
         ct state established,related; ct state != { new }\n\
         counter drop; counter redis_in drop; counter\n\
         limit 10/second burst 5 log prefix \"x: \" accept\n\
         tcp dport 80 dnat to 10.0.0.1:8080\n\
         tcp dport 81 dnat to [fd00::1]:8080\n\
         tcp dport 82 dnat to fd00::1\n\
         tcp dport 83 dnat to $backend\n\
         tcp dport 84 dnat to { 10.0.0.1:80, 10.0.0.2:80 weight 2, [fd00::2]:80 } balance round-robin\n\
         udp sport != 53 snat to 192.0.2.1; masquerade; redirect to 3128\n\
         family ipv6 oif eth0 jump x; goto y; return; reject\n\
         }\n}\n",
    );
}

/// Spans cover exactly their text: no trailing blanks or comments.
#[test]
fn spans_are_exact() {
    let (file, _) = parse(CORE_EXAMPLE);
    let text = |s: shriek_grammar::Span| &CORE_EXAMPLE[s.range()];
    let mut seen = Vec::new();
    for item in &file.items {
        seen.push(text(item.span()).to_string());
        if let ast::Item::Table(t) = item {
            for c in &t.chains {
                seen.push(format!("header: {}", text(c.header_span)));
                assert!(text(c.span).starts_with("chain") && text(c.span).ends_with('}'));
                for r in &c.rules {
                    seen.push(format!("rule: {}", text(r.span)));
                    for term in &r.terms {
                        seen.push(format!("  term: {}", text(term.span())));
                    }
                }
            }
        }
    }
    seen.retain(|s| !s.starts_with("table"));
    shriek_testkit::snapshot!("grammar", "spans_core_example", seen.join("\n"));
}

const CORE_EXAMPLE: &str = r#"# Line comments start with '#'. A statement ends at a newline or ';'.
include "common.shr"                        # path relative to the including file; cycles are errors

define mgmt = { 10.0.0.0/8, 192.168.0.0/16, fd00::/8 }   # addresses: v4 and v6 may mix
define web  = { 80, 443, 8000-8080 }                     # ports, with ranges

table filter {                              # becomes nftables table `inet filter`, owned by shriekc
  chain input hook input policy drop {      # base chain; hooks: prerouting input forward output postrouting
    ct state established,related accept
    iif lo accept
    saddr $mgmt tcp dport 22 accept         # matches are ANDed; their order in a rule is free
    tcp dport $web accept
    tcp dport 6379 counter redis_in drop    # named counter, read with `shriekc counters`
    proto icmp accept
    saddr 203.0.113.0/24 jump audit
  }
  chain audit {                             # regular chain: reached only by jump/goto
    limit 10/second log prefix "audit: "
    drop
  }
  chain output hook output policy accept {
    tcp dport 6379 counter redis_out        # no verdict: count and continue (port monitoring)
  }
}
"#;
