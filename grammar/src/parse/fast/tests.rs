//! The fast reader must be invisible: every file parses to the same tree
//! and the same diagnostics with it and without it.

use proptest::prelude::*;

use super::super::parse_with;

/// Pieces of rule lines: the shapes the reader takes, their near misses
/// (bad addresses, huge numbers, reserved words as values) and what it
/// must leave to pest (strings, comments, `log`, `;`, stray characters).
const TOKENS: &[&str] = &[
    "saddr",
    "daddr",
    "proto",
    "iif",
    "oif",
    "family",
    "mark",
    "tcp",
    "udp",
    "sctp",
    "sport",
    "dport",
    "ct",
    "state",
    "new",
    "established",
    "related",
    "accept",
    "drop",
    "reject",
    "return",
    "jump",
    "goto",
    "counter",
    "log",
    "prefix",
    "limit",
    "masquerade",
    "dnat",
    "to",
    "eth0",
    "eth0-eth3",
    "veth.a",
    "_x",
    "web",
    "ssh",
    "22",
    "80",
    "443",
    "8000-8080",
    "18446744073709551615",
    "18446744073709551616",
    "0",
    "007",
    "10.0.0.1",
    "10.0.0.0/8",
    "10.0.0.0/33",
    "10.0.0.0/",
    "10.0.0.0/x",
    "256.1.1.1",
    "01.2.3.4",
    "1.2.3",
    "1.2.3.4.5",
    "fd00::1",
    "fd00::/8",
    "fd00::/129",
    "::",
    "::ffff:1.2.3.4",
    "fd00:::1",
    "dead:beef",
    "face",
    "1a",
    "$mgmt",
    "$",
    "$1",
    "{",
    "}",
    ",",
    "-",
    "!=",
    "!",
    "/",
    "/24",
    ":",
    "\"str\"",
    "\"a\\qb\"",
    "# note",
    ";",
    "@",
    "\r",
    "{}",
    "{ 22, 80 }",
    "{ 22, }",
    "{ {1, 2}, 3 }",
    "1-",
    "-5",
    "x.",
    "1.2.3.4-1.2.3.9",
];

fn line() -> impl Strategy<Value = String> {
    let tok = proptest::sample::select(TOKENS);
    let sep = proptest::sample::select(&["", " ", " ", " ", "  ", "\t"][..]);
    (
        prop::collection::vec((tok, sep), 1..10),
        proptest::sample::select(&["", " ", "\t", "\r", " \r"][..]),
    )
        .prop_map(|(parts, trail)| {
            let mut s = String::from("    ");
            for (i, (t, sep)) in parts.iter().enumerate() {
                if i > 0 {
                    s.push_str(sep);
                }
                s.push_str(t);
            }
            s.push_str(trail);
            s
        })
}

const GOOD_VALUES: &[&str] = &[
    "22",
    "1024-2048",
    "10.1.2.0/24",
    "10.0.0.0/32",
    "fd00::1",
    "fd00::/64",
    "fd00::/128",
    "::",
    "::ffff:1.2.3.4",
    "$web",
    "eth1",
    "eth0-eth3",
    "a.b",
    "{ 22, 80 }",
    "{ 10.0.0.1, 10.0.0.2 }",
    "{}",
    "{ 1, { 2 }, }",
    "{22,80}",
    "tcp",
    "a - b",
    "1 -2",
    "1.2.3.4-1.2.3.9",
    "18446744073709551615",
    "dead::beef",
    "0",
];
/// Values shaped like the good ones that pest reports or reads otherwise.
const NEAR_VALUES: &[&str] = &[
    "10.0.0.0/33",
    "dead:beef",
    "fd00::/129",
    "256.1.1.1",
    "01.2.3.4",
    "18446744073709551616",
    "accept",
    "counter",
    "$1",
    "$",
    "22.",
    "22_",
    "1.2.3",
    "fd00:::1",
    "10.0.0.0/",
    "10.0.0.0/8x",
    "::1saddr 1",
    "::1_",
    "1.2.3.4x",
    "22saddr 1",
    "\"s\"",
    "{ 1",
    "1,2",
    "- 1",
    "1 -",
];

/// A term: with `near`, sometimes one that pest must handle.
fn term(near: bool) -> impl Strategy<Value = String> {
    let field = proptest::sample::select(
        &["saddr", "daddr !=", "tcp dport", "udp sport !=", "iif", "proto", "sctp dport!="][..],
    );
    let values = if near { [GOOD_VALUES, NEAR_VALUES].concat() } else { GOOD_VALUES.to_vec() };
    let value = proptest::sample::select(values);
    let stmt = proptest::sample::select(
        &[
            "accept",
            "drop",
            "reject",
            "return",
            "counter",
            "counter hits",
            "counter tcp dport 1",
            "jump other",
            "goto accept",
            "ct state new,established",
            "ct state new , related",
        ][..],
    );
    // Statements the reader hands to pest, in near misses only.
    let handed = proptest::sample::select(
        &["reject with tcp reset", "reject with icmpx admin-prohibited", "log level info"][..],
    );
    let near_stmt = if near { 1 } else { 0 };
    prop_oneof![
        2 => (field, value).prop_map(|(f, v)| format!("{f} {v}")),
        2 => stmt.prop_map(String::from),
        near_stmt => handed.prop_map(String::from),
    ]
}

fn good_line() -> impl Strategy<Value = String> {
    prop::collection::vec(term(false), 1..6).prop_map(|t| format!("    {}", t.join(" ")))
}

/// Near misses, with terms sometimes written without a space between them.
fn near_line() -> impl Strategy<Value = String> {
    let sep = proptest::sample::select(&["", " ", " ", "\t "][..]);
    prop::collection::vec((term(true), sep), 1..6).prop_map(|t| {
        let mut s = String::from("    ");
        for (term, sep) in t {
            s.push_str(&term);
            s.push_str(sep);
        }
        s
    })
}

fn file(lines: &[String]) -> String {
    format!("table t {{\n  chain c hook input {{\n{}\n  }}\n}}\n", lines.join("\n"))
}

fn same(text: &str) -> Result<(), TestCaseError> {
    let fast = parse_with(text, true);
    let slow = parse_with(text, false);
    prop_assert_eq!(format!("{fast:#?}"), format!("{slow:#?}"), "input: {:?}", text);
    Ok(())
}

#[test]
fn the_reader_takes_the_plain_shapes() {
    let text = file(&[
        "    tcp dport 1024 accept".into(),
        "    saddr 10.0.1.0/24 udp dport 1025 drop".into(),
        "    saddr $mgmt tcp dport 1026-1029 counter accept".into(),
        "    daddr fd00::3 tcp dport != { 22, 1027 } reject".into(),
        "    iif eth4 tcp dport $web ct state new,established accept".into(),
        "    counter hits jump other".into(),
        "    log prefix \"x\" accept".into(),
        "    tcp dport 1 drop\r".into(),
    ]);
    let marked = super::scan(&text);
    // All but the `log` line, which is pest's.
    assert_eq!(marked.rules.len(), 7);
    let (file, diags) = parse_with(&text, true);
    assert!(diags.is_empty(), "{diags:?}");
    let ast::Item::Table(t) = &file.items[0] else { panic!("not a table") };
    assert_eq!(t.chains[0].rules.len(), 8);
    assert_eq!(format!("{:#?}", (file, diags)), format!("{:#?}", parse_with(&text, false)));
}

use crate::ast;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn random_lines_parse_the_same(lines in prop::collection::vec(line(), 1..6)) {
        same(&file(&lines))?;
    }

    #[test]
    fn near_misses_parse_the_same(lines in prop::collection::vec(near_line(), 1..6)) {
        same(&file(&lines))?;
    }

    #[test]
    fn plain_lines_parse_the_same(lines in prop::collection::vec(good_line(), 1..6)) {
        let text = file(&lines);
        prop_assert_eq!(super::scan(&text).rules.len(), lines.len());
        same(&text)?;
    }

    /// Lines at depth 2 that are not in a chain body, and broken frames.
    #[test]
    fn odd_frames_parse_the_same(
        lines in prop::collection::vec(prop_oneof![good_line(), line()], 1..4),
        frame in proptest::sample::select(&[
            "table t {{\n  chain c {{\n{}\n  }}\n}}\n",
            "define x = {{\n {{\n{}\n }}\n}}\n",
            "tabel t {{\n  chain c {{\n{}\n  }}\n}}\n",
            "table t {{\n  chian c {{\n{}\n  }}\n}}\n",
            "table t {{\n  chain c\n  {{\n{}\n  }}\n}}\n",
            "table t {{\n  chain c {{\n    tcp dport {{\n{}\n  }}\n}}\n",
            "table t {{\n  chain c {{\n{}\n  }}\n",
            "table t {{\n  chain c {{\n{}\n  }}\n}}\n}}\n",
            "table t {{\n  chain c {{ accept\n{}\n  }} drop\n}}\n",
            "table t {{\n  chain c {{\n{}\n  }}\n  chain d {{\n{}\n  }}\n}}\n",
        ][..]),
    ) {
        let body = lines.join("\n");
        same(&frame.replace("{{", "{").replace("}}", "}").replace("{}", &body))?;
    }
}
