//! Every limit of `resolve::limits` is an error with its own code, reported
//! once, just past the limit and not before. `docs/bad-input.md` lists them.

use std::collections::BTreeMap;
use std::fmt::Write;

use shriek_compiler::resolve::limits::{
    MAX_FILES, MAX_FILE_BYTES, MAX_RULES, MAX_SET, MAX_TOTAL_BYTES, MAX_VALUES,
};
use shriek_compiler::resolve::{self, Frontend, MemoryLoader};

fn codes(fe: &Frontend) -> Vec<&'static str> {
    fe.diagnostics.iter().map(|d| d.code).collect()
}

fn chain_of(rules: impl Iterator<Item = String>) -> String {
    let mut src = String::from("table t {\n  chain c hook input {\n");
    for r in rules {
        let _ = writeln!(src, "    {r}");
    }
    src + "  }\n}\n"
}

#[test]
fn a_set_of_more_than_max_set_elements_is_refused() {
    let set = |n: usize| format!("{{ {} }}", vec!["22"; n].join(", "));
    let ok = resolve::resolve_str("s.shr", &format!("define a = {}\n", set(MAX_SET)));
    assert_eq!(codes(&ok), Vec::<&str>::new());
    let src = format!("define a = {}\n", set(MAX_SET + 1));
    let fe = resolve::resolve_str("s.shr", &src);
    assert_eq!(codes(&fe), vec!["E0242"]);
    // Expanding defines counts too, and the error is at the use.
    let src = format!(
        "define a = {}\n{}",
        set(MAX_SET / 2 + 1),
        chain_of(std::iter::once("tcp dport { $a, $a } accept".to_string()))
    );
    let fe = resolve::resolve_str("s.shr", &src);
    assert_eq!(codes(&fe), vec!["E0242"]);
    assert_eq!(fe.sources.describe(fe.diagnostics[0].primary.loc), "s.shr:4:15");
}

#[test]
fn values_past_the_policy_budget_are_refused_once() {
    let uses = MAX_VALUES / MAX_SET + 1;
    let set: Vec<String> = (0..MAX_SET).map(|p| p.to_string()).collect();
    let src = format!(
        "define ports = {{ {} }}\n{}",
        set.join(", "),
        chain_of((0..uses).map(|_| "tcp dport $ports accept".to_string()))
    );
    let fe = resolve::resolve_str("v.shr", &src);
    assert_eq!(codes(&fe), vec!["E0243"]);
}

#[test]
fn rules_past_max_rules_are_refused_once() {
    let fe = resolve::resolve_str("r.shr", &chain_of((0..MAX_RULES).map(|_| "accept".into())));
    assert!(fe.policy.is_some(), "{:?}", codes(&fe));
    let fe = resolve::resolve_str("r.shr", &chain_of((0..MAX_RULES + 1).map(|_| "accept".into())));
    assert_eq!(codes(&fe), vec!["E0244"]);
    assert_eq!(
        fe.sources.describe(fe.diagnostics[0].primary.loc),
        format!("r.shr:{}:5", MAX_RULES + 3)
    );
}

#[test]
fn files_past_the_total_size_are_refused() {
    let big = "#".repeat(MAX_FILE_BYTES - 1) + "\n";
    let count = MAX_TOTAL_BYTES / MAX_FILE_BYTES + 1;
    let mut files = BTreeMap::new();
    let mut main = String::new();
    for i in 0..count {
        let _ = writeln!(main, "include \"f{i}.shr\"");
        files.insert(format!("f{i}.shr"), big.clone());
    }
    files.insert("main.shr".to_string(), main);
    let fe = resolve::load("main.shr", &mut MemoryLoader(files));
    assert_eq!(codes(&fe), vec!["E0236"]);
    // The entry file's own bytes leave room for one file less than the
    // total would: the include on line `count - 1` is the first refused.
    let first_refused = count - 1;
    assert_eq!(
        fe.sources.describe(fe.diagnostics[0].primary.loc),
        format!("main.shr:{first_refused}:9")
    );
}

#[test]
fn files_past_max_files_are_refused_once() {
    let mut files = BTreeMap::new();
    let mut main = String::new();
    for i in 0..MAX_FILES + 5 {
        let _ = writeln!(main, "include \"f{i}.shr\"");
        files.insert(format!("f{i}.shr"), String::new());
    }
    files.insert("main.shr".to_string(), main);
    let fe = resolve::load("main.shr", &mut MemoryLoader(files));
    assert_eq!(codes(&fe), vec!["E0207"]);
    // The entry file counts: the first include refused is the one that makes MAX_FILES + 1.
    assert_eq!(
        fe.sources.describe(fe.diagnostics[0].primary.loc),
        format!("main.shr:{MAX_FILES}:9")
    );
}
