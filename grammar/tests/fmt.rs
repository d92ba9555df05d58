//! `format` snapshots: every `examples/*.shr` (globbed at test time, so new
//! examples are picked up), plus small cases for comment placement.

use std::path::Path;

use shriek_grammar::{fmt::format, parse};

/// Formats `src` and checks the laws on it: no syntax errors, idempotence,
/// and the same tree after formatting.
fn formatted(name: &str, src: &str) -> String {
    let (tree, diags) = parse(src);
    assert_eq!(diags, vec![], "{name} has syntax errors");
    let once = format(&tree, src);
    let (again, diags) = parse(&once);
    assert_eq!(diags, vec![], "{name}: formatted output has syntax errors:\n{once}");
    assert_eq!(again, tree, "{name}: formatting changed the tree");
    assert_eq!(format(&again, &once), once, "{name}: format is not idempotent");
    let texts = |f: &shriek_grammar::ast::File| {
        f.comments.0.iter().map(|c| c.text.trim_end().to_string()).collect::<Vec<_>>()
    };
    assert_eq!(texts(&again), texts(&tree), "{name}: a comment was lost or reordered");
    once
}

#[test]
fn examples() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .map(|rd| rd.filter_map(|e| e.ok()).map(|e| e.path()).collect())
        .unwrap_or_default();
    paths.retain(|p| p.extension().is_some_and(|e| e == "shr"));
    paths.sort();
    for path in paths {
        let src = std::fs::read_to_string(&path).expect("example is readable UTF-8");
        let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("example").to_string();
        let out = formatted(&stem, &src);
        shriek_testkit::snapshot!("fmt", format!("example_{stem}"), out);
    }
}

macro_rules! cases {
    ($($name:ident: $src:expr;)*) => {
        $(#[test] fn $name() {
            let out = formatted(stringify!($name), $src);
            shriek_testkit::snapshot!("fmt", concat!("fmt_", stringify!($name)), format!("--- SOURCE ---\n{}\n--- FORMATTED ---\n{}", $src, out));
        })*
    };
}

cases! {
    messy_layout: "define   web={80,443 ,8000 - 8080,}\n\n\n\ntable t{\nchain c   policy drop  hook input{\nct state { established , related } accept;iif lo accept\n\n\n\nsaddr!=10.0.0.0/8 tcp dport!={22,80} drop\n}\n\n\nchain d{\n}\n}\n";
    comments_everywhere: "# head\n\n# about web\ndefine web = { 80, 443 } # trailing\n\ntable t { # table trailing\n  # before chain\n  chain c { # chain trailing\n    # before rule\n    accept # rule trailing\n\n    # own line before close\n  } # after chain close\n  # before table close\n} # after table\n# tail\n";
    comment_inside_multiline_set: "define hosts = {\n  10.0.0.1,  # db\n  10.0.0.2,  # web\n}  # all hosts\n";
    semicolons: "table t { chain c { accept; drop; counter x; return } }\n";
    ipv6_canonical: "define a = { 2001:0db8:0000:0000:0000:0000:0000:0001, FD00:0:0::/8, ::ffff:1.2.3.4 }\n";
    nat_targets: "table n {\n  chain p hook prerouting type nat priority -100 {\n    tcp dport 80 dnat to { 10.0.0.1:80 , [fd00::1]:80 weight 3,\n fd00::2 } balance source-hash\n    tcp dport 81 dnat to [2001:db8::1]:81\n  }\n}\n";
    strings: "table t {\n  chain c {\n    log prefix \"say \\\"hi\\\" \\\\ # not a comment\"\n  }\n}\n";
    name_ranges: "define r = { a - b, 1-b, \"x\"-y }\n";
    ct_state_forms: "table t {\n  chain c {\n    ct state {new} accept\n    ct state { new, { established } } accept\n    ct state new,established accept\n  }\n}\n";
}
