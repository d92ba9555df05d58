//! How a table is laid out and what it records follow the policy as it
//! is now, against the real kernel: a long chain laid out whole because
//! of a `return` is laid out in parts once the `return` goes, and a
//! strategy switch that lays the table out the same changes the strategy
//! the table records, and nothing else.

use shriek_testkit::{text, Netns};

const BIN: &str = env!("CARGO_BIN_EXE_shriekc");

fn shriekc(dir: &std::path::Path, args: &[&str]) -> (i32, String) {
    let out = shriek_testkit::command(BIN).current_dir(dir).args(args).output().expect("shriekc");
    (out.status.code().unwrap_or(-1), format!("{}{}", text(&out.stdout), text(&out.stderr)))
}

fn dir(tag: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("shriek-day2-layout-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// 1,500 rules, with a `return` in the middle when `early`.
fn long_chain(early: bool) -> String {
    let mut out = String::from("table lay {\n  chain input hook input policy accept {\n");
    for i in 0..1500 {
        if early && i == 700 {
            out += "    tcp dport 9999 return\n";
        }
        out += &format!("    tcp dport {} drop\n", 20000 + i);
    }
    out + "  }\n}\n"
}

fn chains(ns: &Netns) -> Vec<String> {
    let listed = ns.nft(&["list", "chains", "inet"]);
    listed
        .lines()
        .filter_map(|l| l.trim().strip_prefix("chain "))
        .map(|c| c.trim_end_matches(" {").to_string())
        .collect()
}

#[test]
fn a_chain_laid_out_whole_for_a_return_is_laid_out_in_parts_once_it_goes() {
    let Some(ns) = Netns::new("day2-layout-parts") else { return };
    let dir = dir("parts");
    std::fs::write(dir.join("lay.shr"), long_chain(true)).expect("write lay.shr");
    let apply = ["apply", "--force", "--netns", &ns.name, "--strategy", "sequential", "lay.shr"];
    let (code, out) = shriekc(&dir, &apply);
    assert_eq!(code, 0, "{out}");
    assert_eq!(chains(&ns), ["input"], "a `return` keeps the chain whole");

    std::fs::write(dir.join("lay.shr"), long_chain(false)).expect("write lay.shr");
    let plan = ["plan", "--netns", &ns.name, "--strategy", "sequential", "lay.shr"];
    let (code, out) = shriekc(&dir, &plan);
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        out.lines().next(),
        Some("~ table inet lay: rebuilt in place, because chain `input` is laid out whole and is now to be laid out in parts (its base chains, named counters and the sets that stay are kept)"),
        "{out}"
    );
    let (code, out) = shriekc(&dir, &apply);
    assert_eq!(code, 0, "{out}");
    assert_eq!(chains(&ns), ["input", "input/part1", "input/part2"]);
    let (code, out) = shriekc(&dir, &plan);
    assert_eq!((code, out.trim()), (0, "no changes"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_strategy_that_lays_the_table_out_the_same_is_recorded() {
    let Some(ns) = Netns::new("day2-layout-record") else { return };
    let dir = dir("record");
    let policy = "table rec {\n  chain input hook input policy accept {\n    ct state established accept\n    counter seen accept\n  }\n}\n";
    std::fs::write(dir.join("rec.shr"), policy).expect("write rec.shr");
    let with = |verb: &'static str, strategy: &'static str| {
        vec![verb, "--netns", &ns.name, "--strategy", strategy, "rec.shr"]
    };
    let (code, out) =
        shriekc(&dir, &[&["apply", "--force"][..], &with("apply", "sequential")[1..]].concat());
    assert_eq!(code, 0, "{out}");
    let handles = ns.nft(&["-a", "list", "chain", "inet", "rec", "input"]);

    let (code, out) = shriekc(&dir, &[&with("plan", "auto")[..], &["--format", "json"]].concat());
    assert_eq!(code, 0, "{out}");
    let doc: serde_json::Value = serde_json::from_str(&out).expect("plan JSON");
    assert_eq!(
        (&doc["records"], &doc["summary"], &doc["changes"]),
        (
            &serde_json::json!([{"table": "rec", "strategy": "auto", "was": "sequential"}]),
            &serde_json::json!({"add": 0, "change": 1, "remove": 0}),
            &serde_json::json!([]),
        )
    );
    let (code, out) =
        shriekc(&dir, &[&["apply", "--force"][..], &with("apply", "auto")[1..]].concat());
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("~ table inet rec: records strategy auto instead of sequential (it lays the table out the same; nothing else changes)"),
        "{out}"
    );
    // Only the record changed: every rule keeps its handle.
    assert_eq!(ns.nft(&["-a", "list", "chain", "inet", "rec", "input"]), handles);
    assert!(ns
        .nft(&["list", "table", "inet", "rec"])
        .contains("strategy auto since shriekc last changed it"));
    // `plan` goes by the recorded strategy now.
    let (code, out) = shriekc(&dir, &["plan", "--netns", &ns.name, "rec.shr"]);
    assert_eq!((code, out.trim()), (0, "no changes"));
    let _ = std::fs::remove_dir_all(&dir);
}
