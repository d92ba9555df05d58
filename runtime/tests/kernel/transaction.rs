//! One batch, all or nothing: a refused batch, a concurrent change and a
//! dry run leave the kernel as it was, a foreign table is never touched,
//! and a snapshot puts tables back exactly.

use std::sync::atomic::{AtomicU32, Ordering};

use shriek_compiler::lower::Strategy;
use shriek_compiler::nft::{Expr, Selector};
use shriek_runtime::{ApplyOptions, RuntimeError};

use super::api::*;
use super::everything::everything;
use super::model::*;

#[test]
fn a_rejected_batch_changes_nothing_and_names_the_rule() {
    let Some(ns) = netns_or_skip("deep") else { return };
    apply(&deep_jumps(3), &ns.opts()).unwrap();
    let before = ruleset_text(&ns);
    let err = apply(&deep_jumps(20), &ns.opts()).unwrap_err();
    assert_eq!(ruleset_text(&ns), before);
    let RuntimeError::Kernel(k) = &err else { panic!("expected a kernel error, got {err:?}") };
    assert!(!k.origin.is_empty(), "{err}");
    assert!(k.reason.contains("limit of 16"), "{err}");
    assert!(err.diagnostic().is_some());
    snapshot(
        "rejected_deep_jumps",
        &format!("{err}\ncode: {}\norigin: {:?}", err.code(), k.origin),
    );
    // The kernel checks depth only at commit, so a dry run checks it the
    // same way itself, and blames the same rule.
    let dry = ApplyOptions { dry_run: true, ..ns.opts() };
    let dry_err = apply(&deep_jumps(20), &dry).unwrap_err();
    assert_eq!(dry_err.to_string(), err.to_string());
    assert_eq!(dry_err.loc(), err.loc());
    for n in 14..18 {
        let kernel = apply(&deep_jumps(n), &ns.opts()).is_ok();
        let ours = apply(&deep_jumps(n), &dry).is_ok();
        assert_eq!(ours, kernel, "{n} chains deep");
    }
    assert!(apply(&deep_jumps(15), &dry).is_ok());
}

#[test]
fn a_foreign_table_survives() {
    let Some(ns) = netns_or_skip("foreign") else { return };
    ns.sh("nft add table ip foreign && nft add chain ip foreign c '{ type filter hook input priority 5; }' && nft add rule ip foreign c tcp dport 1 drop");
    let before = ns.sh("nft list table ip foreign");
    apply(&everything(), &ns.opts()).unwrap();
    apply(&small("shriek_all", 22), &ns.opts()).unwrap();
    assert_eq!(ns.sh("nft list table ip foreign"), before);
    assert!(ns.sh("nft list tables").contains("table inet shriek_all"));
}

#[test]
fn a_concurrent_change_fails_cleanly() {
    let Some(ns) = netns_or_skip("race") else { return };
    let n = AtomicU32::new(0);
    let hook = || {
        ns.sh(&format!("nft add table inet other{}", n.fetch_add(1, Ordering::Relaxed)));
    };
    let rs = small("shriek_race", 22);
    let err = shriek_runtime::apply_with_hook(
        &desired(&rs, Strategy::Sequential),
        None,
        &ns.opts(),
        &hook,
    )
    .unwrap_err();
    assert!(matches!(err, RuntimeError::Changed), "{err:?}");
    assert_eq!(err.to_string(), "the ruleset changed while applying; nothing was changed");
    let tables = ns.sh("nft list tables");
    assert!(!tables.contains("shriek_race"), "{tables}");
    assert!(tables.contains("other0"), "{tables}");
}

#[test]
fn a_change_after_the_model_is_spent_asks_for_it_again() {
    let Some(ns) = netns_or_skip("spent") else { return };
    let n = AtomicU32::new(0);
    let hook = || {
        if n.fetch_add(1, Ordering::Relaxed) == 0 {
            ns.sh("nft add table inet other");
        }
    };
    let rs = small("shriek_spent", 22);
    let d = desired(&rs, Strategy::Sequential);
    let mut spent = rs.clone();
    let got = shriek_runtime::apply_spending(&mut spent, &d, None, None, &ns.opts(), &hook, &|| {})
        .unwrap();
    // The table was written whole, spending its rules: the batch the
    // kernel refused cannot be planned again from them.
    assert!(got.is_none(), "{got:?}");
    assert!(spent.tables[0].chains[0].rules.iter().all(|r| r.exprs.is_empty()));
    assert!(!ns.sh("nft list tables").contains("shriek_spent"));
    // The caller's second try, from the ruleset made again: once.
    shriek_runtime::apply_once(&d, None, None, &ns.opts(), &hook).unwrap();
    assert!(ns.sh("nft list tables").contains("shriek_spent"));
    // A change during the second try is the error a second change is.
    let again = || {
        ns.sh(&format!("nft add table inet again{}", n.fetch_add(1, Ordering::Relaxed)));
    };
    let err = shriek_runtime::apply_once(
        &desired(&small("shriek_spent", 23), Strategy::Sequential),
        None,
        None,
        &ns.opts(),
        &again,
    )
    .unwrap_err();
    assert!(matches!(err, RuntimeError::Changed), "{err:?}");
}

#[test]
fn dry_run_changes_nothing() {
    let Some(ns) = netns_or_skip("dry") else { return };
    let opts = ApplyOptions { dry_run: true, ..ns.opts() };
    let summary = apply(&everything(), &opts).unwrap();
    assert_eq!(counts(&summary).add, 21);
    assert_eq!(ruleset_text(&ns), "");
    // It still reports what the kernel would refuse.
    let mut bad = small("shriek_dry", 22);
    bad.tables[0].chains[0]
        .rules
        .push(rule(1, vec![Expr::Vmap { key: vec![Selector::ThDport], map: "nope".into() }]));
    let err = apply(&bad, &opts).unwrap_err();
    assert!(matches!(&err, RuntimeError::Kernel(k) if k.errno == 2), "{err:?}");
    assert_eq!(ruleset_text(&ns), "");
}

#[test]
fn snapshot_and_restore_put_back_exactly() {
    let Some(ns) = netns_or_skip("restore") else { return };
    apply(&everything(), &ns.opts()).unwrap();
    ns.sh("nft add table inet foreign");
    let before = ns.sh("nft list table inet shriek_all");
    let names = vec!["shriek_all".to_string(), "shriek_new".to_string()];
    let snap = shriek_runtime::snapshot_tables(&names, ns.netns()).unwrap();
    assert!(snap.existed("shriek_all") && !snap.existed("shriek_new"));
    let mut next = small("shriek_all", 23);
    next.tables.push(small("shriek_new", 24).tables.remove(0));
    apply(&next, &ns.opts()).unwrap();
    assert_ne!(ns.sh("nft list table inet shriek_all"), before);
    shriek_runtime::restore(&snap, ns.netns()).unwrap();
    // A restored table comes back after the others in `list ruleset`, so
    // compare it alone, and that the new one is gone.
    assert_eq!(ns.sh("nft list table inet shriek_all"), before);
    assert_eq!(ns.sh("nft list tables"), "table inet foreign\ntable inet shriek_all\n");
}
