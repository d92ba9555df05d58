//! The structural diff between two compiled policies, printed as text and
//! JSON, the way `plan` and `shriekc diff` show it.

use shriek_compiler::diff::structural::render::{self, RuleAt, Side};
use shriek_compiler::diff::structural::{diff, Action};
use shriek_compiler::emit::origin_comment;
use shriek_compiler::lower::{lower, Strategy};
use shriek_compiler::nft;
use shriek_compiler::resolve::resolve_str;
use shriek_grammar::SourceMap;

fn compile(src: &str, strategy: Strategy) -> (nft::Ruleset, SourceMap) {
    let fe = resolve_str("web.shr", src);
    let policy = fe.policy.unwrap_or_else(|| panic!("{:?}", fe.diagnostics));
    (lower(&policy, strategy).ruleset, fe.sources)
}

fn places(rs: &nft::Ruleset, sources: &SourceMap) -> impl Fn(RuleAt) -> Option<String> {
    let rs = rs.clone();
    let sources = sources.clone();
    move |at: RuleAt| {
        let r = &rs.tables[at.table].chains[at.chain].rules[at.rule];
        origin_comment(&r.origin, &sources)
    }
}

/// Text and JSON of the diff from `old` to `new`.
fn show(old: &str, new: &str, strategy: Strategy) -> String {
    let (o, os) = compile(old, strategy);
    let (n, ns) = compile(new, strategy);
    let (op, np) = (places(&o, &os), places(&n, &ns));
    let (old, new) = (Side { ruleset: &o, place: &op }, Side { ruleset: &n, place: &np });
    let delta = diff(&o, &n);
    let counts = render::counts(&delta);
    let json = serde_json::to_string_pretty(&render::json(&delta, &old, &new)).unwrap();
    format!(
        "{}{}\nrelocated: {}\n--- json ---\n{json}\n",
        render::text(&delta, &old, &new),
        counts.summary("Plan"),
        render::relocated(&delta, &old, &new).iter().map(|(_, n)| n).sum::<usize>()
    )
}

fn check(name: &str, old: &str, new: &str, strategy: Strategy) {
    shriek_testkit::snapshot!("diff", name, show(old, new, strategy));
}

const BASE: &str = "\
table filter {
  chain input hook input policy drop {
    ct state established,related accept
    tcp dport 22 accept
    tcp dport 80 counter accept
    udp dport 53 accept
    tcp dport 6379 counter redis_in drop
  }
}
";

#[test]
fn nothing_changes_when_nothing_changed() {
    for s in Strategy::ALL {
        let (a, _) = compile(BASE, s);
        let (b, _) = compile(BASE, s);
        assert!(diff(&a, &b).is_empty(), "{}", s.keyword());
    }
}

#[test]
fn an_inserted_rule_is_one_addition() {
    let new = BASE.replace("    udp dport 53", "    tcp dport 443 accept\n    udp dport 53");
    check("add_rule", BASE, &new, Strategy::Sequential);
    let (a, _) = compile(BASE, Strategy::Sequential);
    let (b, _) = compile(&new, Strategy::Sequential);
    let d = diff(&a, &b);
    let edits: Vec<Action> = d.tables[0].chains[0].rules.iter().map(|e| e.action).collect();
    assert_eq!(edits, [Action::Add]);
    assert_eq!(d.tables[0].chains[0].kept.len(), 5);
}

#[test]
fn removed_changed_and_moved_rules() {
    let removed = BASE.replace("    tcp dport 22 accept\n", "");
    check("remove_rule", BASE, &removed, Strategy::Sequential);
    let changed = BASE.replace("tcp dport 80 counter accept", "tcp dport 8080 counter accept");
    check("change_rule", BASE, &changed, Strategy::Sequential);
    let reordered = BASE.replace(
        "    tcp dport 22 accept\n    tcp dport 80 counter accept\n",
        "    tcp dport 80 counter accept\n    tcp dport 22 accept\n",
    );
    check("reorder_rules", BASE, &reordered, Strategy::Sequential);
}

#[test]
fn a_line_above_moves_no_rule() {
    let shifted = BASE.replace("table filter {\n", "# a comment\n\ntable filter {\n");
    let text = show(BASE, &shifted, Strategy::Sequential);
    assert!(text.starts_with("Plan: 0 to add, 0 to change, 0 to remove\nrelocated: 5\n"), "{text}");
}

#[test]
fn dispatch_maps_change_by_element() {
    let many = |extra: &str| {
        format!(
            "table filter {{\n  chain input hook input policy drop {{\n    tcp dport 1 accept\n    tcp dport 2 accept\n    tcp dport 3 drop\n{extra}    tcp dport 4 accept\n    tcp dport 5 counter accept\n  }}\n}}\n"
        )
    };
    check("dispatch_elements", &many(""), &many("    tcp dport 9 accept\n"), Strategy::Auto);
}

#[test]
fn chains_sets_and_counters_come_and_go() {
    let new = "\
table filter {
  chain input hook input policy accept {
    ct state established,related accept
    tcp dport 22 accept
    jump audit
  }
  chain audit {
    limit 10/second log prefix \"audit: \"
  }
}
table extra {
  chain output hook output policy accept {
    tcp dport 25 counter smtp_out
  }
}
";
    check("chains_and_tables", BASE, new, Strategy::Sequential);
}
