//! Hostile input: the parser never panics, never overflows the stack, stays
//! fast on big files, and keeps every span inside the text.

use proptest::prelude::*;
use shriek_grammar::{ast, parse, LocalDiagnostic};

fn names(diags: &[LocalDiagnostic]) -> Vec<&'static str> {
    diags.iter().map(|d| d.name).collect()
}

fn spans_in_bounds(src: &str, diags: &[LocalDiagnostic]) {
    for d in diags {
        assert!(
            d.span.start <= d.span.end && d.span.end as usize <= src.len(),
            "{d:?} out of bounds"
        );
        assert!(
            src.is_char_boundary(d.span.start as usize)
                && src.is_char_boundary(d.span.end as usize),
            "{d:?}"
        );
    }
}

#[test]
fn deep_braces_do_not_overflow_the_stack() {
    let src = format!("define x = {}", "{".repeat(200_000));
    let (_, diags) = parse(&src);
    spans_in_bounds(&src, &diags);
    assert_eq!(names(&diags), vec!["unclosed-brace", "nesting-too-deep"]);

    let src = format!(
        "table t {{ chain c {{ saddr {}1{} accept }} }}",
        "{".repeat(100_000),
        "}".repeat(100_000)
    );
    let (_, diags) = parse(&src);
    assert_eq!(names(&diags), vec!["nesting-too-deep"]);
}

#[test]
fn deep_but_allowed_nesting_parses() {
    let src = format!("define x = {}1{}\n", "{".repeat(60), "}".repeat(60));
    let (file, diags) = parse(&src);
    assert_eq!(diags, vec![]);
    assert_eq!(file.items.len(), 1);
}

#[test]
fn a_ten_megabyte_line() {
    let src = format!("table t {{ chain c {{ accept {} }} }}", "a".repeat(10 << 20));
    let (_, diags) = parse(&src);
    assert_eq!(names(&diags), vec!["unknown-keyword"]);
    let src = "x".repeat(10 << 20);
    let (_, diags) = parse(&src);
    assert_eq!(names(&diags), vec!["unknown-keyword"]);
}

#[test]
fn nul_bytes_and_odd_characters() {
    for src in [
        "\0",
        "table\0t {}",
        "table t { chain c { accept \u{202e} } }",
        "é",
        "\r\n\r\n",
        "}}}{{{",
        "\"",
        "#",
    ] {
        let (_, diags) = parse(src);
        spans_in_bounds(src, &diags);
    }
}

#[test]
fn a_hundred_thousand_rules() {
    let mut src = String::from(
        "define web = { 80, 443, 8000-8080 }\ntable t {\n  chain c hook input policy drop {\n",
    );
    for i in 0..100_000u32 {
        src += &format!(
            "    saddr 10.{}.{}.0/24 tcp dport {} counter c{i} accept  # rule {i}\n",
            i >> 8 & 255,
            i & 255,
            i % 65536
        );
    }
    src += "  }\n}\n";
    let start = std::time::Instant::now();
    let (file, diags) = parse(&src);
    let took = start.elapsed();
    assert_eq!(diags, vec![]);
    let ast::Item::Table(t) = &file.items[1] else { panic!("expected a table") };
    assert_eq!(t.chains[0].rules.len(), 100_000);
    assert_eq!(file.comments.0.len(), 100_000);
    eprintln!("parsed 100k rules ({} bytes) in {took:?}", src.len());
}

#[test]
fn errors_on_many_lines_are_all_reported() {
    let mut src = String::from("table t {\n  chain c {\n");
    for _ in 0..1000 {
        src += "    tcp dport 22 acept\n    accept\n";
    }
    src += "  }\n}\n";
    let (file, diags) = parse(&src);
    assert_eq!(diags.len(), 1000);
    let ast::Item::Table(t) = &file.items[0] else { panic!("expected a table") };
    assert_eq!(t.chains[0].rules.len(), 1000);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 500, ..ProptestConfig::default() })]

    #[test]
    fn never_panics_on_garbage(src in "[a-z0-9 {}\\[\\];:,.=!$/\"#\\\\\n\t-]{0,200}") {
        let (_, diags) = parse(&src);
        spans_in_bounds(&src, &diags);
    }

    #[test]
    fn never_panics_on_any_text(src in "\\PC{0,100}") {
        let (_, diags) = parse(&src);
        spans_in_bounds(&src, &diags);
    }
}

/// Words of iptables and nft (and Shriek's own), which the foreign-spelling
/// reader takes apart by position: any order, any count, in a rule or at the
/// top level, must not panic it or put a span out of place.
const FOREIGN_WORDS: &[&str] = &[
    "ip",
    "ip6",
    "saddr",
    "daddr",
    "protocol",
    "nexthdr",
    "meta",
    "l4proto",
    "nfproto",
    "th",
    "dport",
    "iifname",
    "oifname",
    "ctstate",
    "limit",
    "rate",
    "counter",
    "packets",
    "bytes",
    "type",
    "policy",
    "hook",
    "table",
    "inet",
    "flush",
    "ruleset",
    "dnat",
    "to",
    "-j",
    "-g",
    "ACCEPT",
    "LOG",
    "DNAT",
    "REDIRECT",
    "mychain",
    "--to-destination",
    "--to-ports",
    "--log-prefix",
    "\"x\"",
    "-p",
    "tcp",
    "--dport",
    "--dports",
    "80,443:445",
    "!",
    "-s",
    "-i",
    "eth+",
    "-m",
    "--state",
    "--limit",
    "3/min",
    "--limit-burst",
    "-A",
    "-I",
    "1",
    "22",
    "10.0.0.1",
    "*filter",
    ":INPUT",
    "COMMIT",
    "{",
    "}",
    ",",
    ";",
    "\n",
    "é",
    "\"",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn foreign_words_in_any_order_never_panic(
        words in prop::collection::vec(prop::sample::select(FOREIGN_WORDS), 0..10)
    ) {
        let line = words.join(" ");
        for src in [format!("table t {{\n  chain c {{\n    {line}\n  }}\n}}\n"), line.clone()] {
            let (_, diags) = parse(&src);
            spans_in_bounds(&src, &diags);
        }
    }
}
