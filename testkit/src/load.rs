//! The ways a policy gets into a namespace's kernel, for the tests that
//! hold every way to one law: `shriekc apply`, `nft -f` of `shriekc
//! compile`'s text or its libnftables JSON (`nft -j -f`), and the backup
//! habit: `apply`, then `nft list ruleset` (or `nft -j list ruleset`)
//! saved, the ruleset flushed and the saving loaded again. Whichever wrote
//! the tables, `plan` must read them back as the policy.

use crate::{run, temp_file, text, Netns};

/// How a policy is put into the kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Load {
    /// `shriekc apply --force`.
    Apply,
    /// `nft -f` of `shriekc compile`.
    NftText,
    /// `nft -j -f` of `shriekc compile --emit json`.
    NftJson,
    /// `shriekc apply`, then `nft -f` of what `nft list ruleset` said of
    /// it, after `nft flush ruleset`.
    ListedText,
    /// The same through `nft -j list ruleset` and `nft -j -f`.
    ListedJson,
}

/// Every way with every strategy, in an order that changes both at each
/// step, for tests that take a round each in turn.
pub const LOADS: [(Load, &str); 15] = [
    (Load::Apply, "auto"),
    (Load::NftText, "sequential"),
    (Load::NftJson, "dispatch"),
    (Load::ListedText, "auto"),
    (Load::ListedJson, "sequential"),
    (Load::Apply, "dispatch"),
    (Load::NftText, "auto"),
    (Load::NftJson, "sequential"),
    (Load::ListedText, "dispatch"),
    (Load::ListedJson, "auto"),
    (Load::Apply, "sequential"),
    (Load::NftText, "dispatch"),
    (Load::NftJson, "auto"),
    (Load::ListedText, "sequential"),
    (Load::ListedJson, "dispatch"),
];

/// Puts the policy file at `path` into `ns` the way `how` says, lowered
/// with `strategy`. Panics, naming `context` and the tool's words, when a
/// step fails.
pub fn load(shriekc: &str, ns: &Netns, how: Load, strategy: &str, path: &str, context: &str) {
    let name = std::path::Path::new(path).file_name().and_then(|n| n.to_str()).unwrap_or("p");
    if matches!(how, Load::Apply | Load::ListedText | Load::ListedJson) {
        let applied =
            run(shriekc, &["apply", "--force", "--strategy", strategy, "--netns", &ns.name, path]);
        assert_eq!(applied.status.code(), Some(0), "{context}: apply\n{}", text(&applied.stderr));
        if how == Load::Apply {
            return;
        }
        // nft 1.0.6 cannot load its own JSON listing of two kinds of
        // table (docs/language.md says so), which are saved as text: one
        // with a map keyed by `typeof` (it lists the key's type as
        // "integer", then refuses it), as a balanced translation's map is
        // (`emit::nat_map`); and one whose verdict map jumps to a chain (it
        // lists maps before chains, and loads them in that order: "No such
        // file or directory").
        let mut listed = ns.sh("nft list ruleset");
        let text = how == Load::ListedText
            || listed.contains("\t\ttypeof numgen ")
            || listed.contains(" : jump ")
            || listed.contains(" : goto ");
        let (list, tool) = if text { ("nft", "nft -f") } else { ("nft -j", "nft -j -f") };
        if !text {
            listed = ns.sh("nft -j list ruleset");
        }
        let saved = temp_file(&format!("{name}.{strategy}.listed"), &listed);
        ns.sh("nft flush ruleset");
        if let Err(e) = ns.try_sh(&format!("{tool} {}", saved.display())) {
            panic!("{context}: `{tool}` refused what `{list} list ruleset` said: {e}\n{listed}");
        }
        return;
    }
    let (emit, tool) = if how == Load::NftText { ("nft", "nft -f") } else { ("json", "nft -j -f") };
    let compiled = run(shriekc, &["compile", "--emit", emit, "--strategy", strategy, path]);
    assert_eq!(compiled.status.code(), Some(0), "{context}: compile\n{}", text(&compiled.stderr));
    let script = temp_file(&format!("{name}.{strategy}.{emit}"), &text(&compiled.stdout));
    if let Err(e) = ns.try_sh(&format!("{tool} {}", script.display())) {
        panic!(
            "{context}: `{tool}` refused `compile --emit {emit} --strategy {strategy}`: {e}\n{}",
            text(&compiled.stdout)
        );
    }
}

/// What `plan --detailed-exitcode --strategy STRATEGY` of the policy file
/// at `path` says against `ns`: `None` for `no changes`, else its output.
pub fn plan_changes(shriekc: &str, ns: &Netns, strategy: &str, path: &str) -> Option<String> {
    let plan = run(
        shriekc,
        &["plan", "--detailed-exitcode", "--strategy", strategy, "--netns", &ns.name, path],
    );
    (plan.status.code() != Some(0)).then(|| format!("{}{}", text(&plan.stdout), text(&plan.stderr)))
}
