//! `shriekc diff` output for each kind of change a reviewer meets, in text,
//! JSON and Markdown, as the user reads them. The old version's files live
//! under `a/`, the new version's under `b/`.

use std::collections::BTreeMap;

use shriek_compiler::diff::report::{render, Format, Report, Version};
use shriek_compiler::diff::semantic::{cube_lines, semantic_diff};
use shriek_compiler::lower::{lower, Strategy};
use shriek_compiler::resolve::{self, Frontend, MemoryLoader};

const BASE: &str = r#"define mgmt = { 10.0.0.0/8 }
define web = { 80, 443 }

table filter {
  chain input hook input policy drop {
    ct state established,related accept
    iif lo accept
    saddr $mgmt tcp dport 22 accept
    tcp dport $web accept
    tcp dport 6379 counter redis_in drop
    proto icmp accept
  }
  chain forward hook forward policy accept {
    iif lan oif wan accept
    drop
  }
}
"#;

const NAT: &str = r#"table nat {
  chain pre hook prerouting type nat policy accept {
    tcp dport 80 dnat to 10.0.0.1:8080
  }
}
"#;

fn load(side: &str, files: &[(&str, &str)]) -> Frontend {
    let map: BTreeMap<String, String> =
        files.iter().map(|(n, t)| (format!("{side}/{n}"), t.to_string())).collect();
    let entry = format!("{side}/{}", files[0].0);
    let front = resolve::load(&entry, &mut MemoryLoader(map));
    assert!(front.policy.is_some(), "{side}: {:#?}", front.diagnostics);
    front
}

fn diff_files(name: &str, old: &[(&str, &str)], new: &[(&str, &str)]) {
    let (a, b) = (load("a", old), load("b", new));
    let (pa, pb) = (a.policy.as_ref().expect("checked"), b.policy.as_ref().expect("checked"));
    let semantic = semantic_diff(pa, pb);
    let (ra, rb) = (lower(pa, Strategy::Auto).ruleset, lower(pb, Strategy::Auto).ruleset);
    let report = Report {
        old: Version { label: "a/policy.shr", policy: pa, ruleset: &ra, sources: &a.sources },
        new: Version { label: "b/policy.shr", policy: pb, ruleset: &rb, sources: &b.sources },
        semantic: &semantic,
    };
    let mut out = String::new();
    for (title, format) in
        [("text", Format::Text), ("json", Format::Json), ("markdown", Format::Markdown)]
    {
        let once = render(&report, format);
        assert_eq!(once, render(&report, format), "{name}: {title} output is not stable");
        out.push_str(&format!("--- {title} ---\n{once}"));
    }
    shriek_testkit::snapshot!("diff", name, out);
}

/// The base policy against `BASE` with `from` replaced by `to`.
fn edit(name: &str, from: &str, to: &str) {
    assert!(BASE.contains(from), "{name}: `{from}` is not in the base policy");
    diff_files(name, &[("policy.shr", BASE)], &[("policy.shr", &BASE.replacen(from, to, 1))]);
}

#[test]
fn reorder_that_changes_meaning() {
    let old = BASE.replacen(
        "    saddr $mgmt tcp dport 22 accept\n",
        "    saddr $mgmt tcp dport 22 accept\n    tcp dport 22 drop\n",
        1,
    );
    let new = BASE.replacen(
        "    saddr $mgmt tcp dport 22 accept\n",
        "    tcp dport 22 drop\n    saddr $mgmt tcp dport 22 accept\n",
        1,
    );
    diff_files("reorder_changes_meaning", &[("policy.shr", &old)], &[("policy.shr", &new)]);
}

#[test]
fn reorder_that_changes_nothing() {
    edit(
        "reorder_keeps_meaning",
        "    tcp dport 6379 counter redis_in drop\n    proto icmp accept\n",
        "    proto icmp accept\n    tcp dport 6379 counter redis_in drop\n",
    );
}

#[test]
fn widened_prefix() {
    edit("widened_prefix", "define mgmt = { 10.0.0.0/8 }", "define mgmt = { 10.0.0.0/7 }");
}

#[test]
fn port_added_to_a_set() {
    edit("port_added_to_set", "define web = { 80, 443 }", "define web = { 80, 443, 8080 }");
}

#[test]
fn removed_catch_all() {
    edit(
        "removed_catch_all",
        "    iif lan oif wan accept\n    drop\n",
        "    iif lan oif wan accept\n",
    );
}

#[test]
fn changed_default_policy() {
    edit(
        "changed_default_policy",
        "chain input hook input policy drop",
        "chain input hook input policy accept",
    );
}

#[test]
fn new_chain_and_jump() {
    let new = BASE.replacen("    iif lo accept\n", "    iif lo accept\n    saddr 203.0.113.0/24 jump audit\n", 1).replacen(
        "  chain forward",
        "  chain audit {\n    limit 10/second log prefix \"audit: \"\n    drop\n  }\n  chain forward",
        1,
    );
    diff_files("new_chain_and_jump", &[("policy.shr", BASE)], &[("policy.shr", &new)]);
}

#[test]
fn changed_include() {
    let main = BASE.replacen("define web = { 80, 443 }\n", "include \"services.shr\"\n", 1);
    diff_files(
        "changed_include",
        &[("policy.shr", &main), ("services.shr", "define web = { 80, 443 }\n")],
        &[("policy.shr", &main), ("services.shr", "define web = { 443 }\n")],
    );
}

#[test]
fn changed_define() {
    edit(
        "changed_define",
        "define mgmt = { 10.0.0.0/8 }",
        "define mgmt = { 10.0.0.0/8, fd00::/8 }",
    );
}

#[test]
fn nat_target_change() {
    diff_files(
        "nat_target_change",
        &[("policy.shr", NAT)],
        &[("policy.shr", &NAT.replace("10.0.0.1:8080", "10.0.0.2:8080"))],
    );
}

#[test]
fn counter_only_changes() {
    let new = BASE
        .replacen("saddr $mgmt tcp dport 22 accept", "saddr $mgmt tcp dport 22 counter accept", 1)
        .replacen("counter redis_in drop", "counter redis drop", 1);
    diff_files("counter_only", &[("policy.shr", BASE)], &[("policy.shr", &new)]);
}

#[test]
fn comment_only_change() {
    let new = BASE
        .replacen("table filter {", "# the host's own firewall\ntable filter {", 1)
        .replacen("iif lo accept", "iif lo accept   # loopback", 1);
    diff_files("comment_only", &[("policy.shr", BASE)], &[("policy.shr", &new)]);
}

#[test]
fn limit_rate_change() {
    edit(
        "limit_rate_change",
        "saddr $mgmt tcp dport 22 accept",
        "saddr $mgmt tcp dport 22 limit 3/minute accept",
    );
}

/// A hook where a rule sets the mark is not compared, and the report says
/// why; the other hooks still are.
#[test]
fn mark_set_is_not_compared() {
    edit(
        "mark_set_is_not_compared",
        "    iif lo accept\n",
        "    iif lo mark set 0x1 accept\n    mark 0x1 drop\n",
    );
}

#[test]
fn goto_loop_drops() {
    let looped = "table t {
  chain input hook input policy accept {
    tcp dport 22 goto a
  }
  chain a {
    goto b
  }
  chain b {
    udp dport 53 accept
    goto a
  }
}
";
    let broken = looped.replacen("    goto a\n  }\n}", "    return\n  }\n}", 1);
    diff_files("goto_loop", &[("policy.shr", looped)], &[("policy.shr", &broken)]);
}

/// A policy of 3,000 rules with one rule changed, or one inserted at the
/// top, is compared completely (within the work budget) and names the one
/// class that changes.
#[test]
fn large_policy_is_compared_completely() {
    let policy = |flip: Option<usize>, top: bool| {
        let mut s = String::from("table filter {\n  chain input hook input policy drop {\n");
        if top {
            s.push_str("    tcp dport 22 accept\n");
        }
        for i in 0..3000 {
            let v = if (i % 3 == 0) != (flip == Some(i)) { "drop" } else { "accept" };
            s.push_str(&format!(
                "    saddr 10.{}.{}.0/24 tcp dport {} {v}\n",
                i / 250,
                i % 250,
                1000 + i
            ));
        }
        s + "  }\n}\n"
    };
    let load = |text: &str| resolve::resolve_str("big.shr", text).policy.expect("valid");
    let base = load(&policy(None, false));
    for (other, want) in [
        (policy(Some(1500), false), "tcp dport 2500 saddr 10.6.0.0/24"),
        (policy(None, true), "tcp dport 22"),
    ] {
        let diff = semantic_diff(&base, &load(&other));
        let changes = diff.hooks[0].changes.as_ref().expect("compared completely");
        let lines: Vec<String> =
            changes.traffic.iter().flat_map(|c| &c.cubes).flat_map(cube_lines).collect();
        assert_eq!(lines, [want], "{lines:#?}");
    }
}
