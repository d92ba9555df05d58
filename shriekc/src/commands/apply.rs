//! `shriekc apply`: put a policy in the kernel, with an optional confirm window.

use std::io::{BufRead, IsTerminal};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use shriek_compiler::ir;
use shriek_compiler::lower::{self, Strategy};

use super::{front, runtime_failure, runtime_failure_doing, Doing, FINDINGS, INVALID, OK};

fn table_names(policy: &ir::Policy) -> Vec<String> {
    policy.tables.iter().map(|t| t.name.clone()).collect()
}

pub fn apply(
    file: &str,
    strategy: Strategy,
    dry_run: bool,
    confirm: Option<u64>,
    netns: Option<&str>,
) -> u8 {
    let Ok((frontend, policy)) = front(file) else { return INVALID };
    let lowered = lower::lower(&policy, strategy);
    let opts = shriek_runtime::ApplyOptions { dry_run, netns: netns.map(str::to_owned) };

    let before = match confirm {
        Some(_) => match shriek_runtime::snapshot_tables(&table_names(&policy), netns) {
            Ok(snapshot) => Some(snapshot),
            Err(err) => return runtime_failure(&err, &frontend.sources),
        },
        None => None,
    };
    let summary = match shriek_runtime::apply(&lowered.ruleset, &opts) {
        Ok(summary) => summary,
        Err(err) => {
            let doing = if dry_run { Doing::Validating } else { Doing::Changing };
            return runtime_failure_doing(&err, &frontend.sources, doing);
        }
    };
    let place = netns.map_or(String::new(), |ns| format!(" in netns {ns}"));
    let verb = if dry_run { "validated (nothing changed)" } else { "applied" };
    println!(
        "{verb}{place}: {} table(s), {} chain(s), {} rule(s), {} map element(s) in {:.1} ms",
        summary.tables,
        summary.chains,
        summary.rules,
        summary.elements,
        summary.elapsed.as_secs_f64() * 1000.0
    );
    let (Some(seconds), Some(before)) = (confirm, before) else { return OK };
    if wait_for_confirmation(Duration::from_secs(seconds), netns) {
        println!("confirmed; the new policy stays");
        return OK;
    }
    match shriek_runtime::restore(&before, netns) {
        Ok(()) => {
            eprintln!("not confirmed within {seconds} s: rolled back to the previous tables");
            FINDINGS
        }
        Err(err) => {
            eprintln!("not confirmed within {seconds} s, and the rollback failed: {err}");
            FINDINGS
        }
    }
}

/// Where a waiting `apply --confirm` looks for `apply --confirm-pending`.
fn pending_path(netns: Option<&str>) -> PathBuf {
    let dir = std::env::var_os("SHRIEKC_RUN_DIR")
        .map_or_else(|| PathBuf::from("/run/shriekc"), PathBuf::from);
    dir.join(format!("confirm-{}", netns.unwrap_or("host")))
}

fn wait_for_confirmation(limit: Duration, netns: Option<&str>) -> bool {
    let path = pending_path(netns);
    let marker_ok = path.parent().map(std::fs::create_dir_all).is_some_and(|r| r.is_ok())
        && std::fs::write(&path, format!("waiting {}\n", std::process::id())).is_ok();
    let (tx, rx) = std::sync::mpsc::channel();
    if std::io::stdin().is_terminal() {
        eprintln!(
            "press Enter within {} s to keep the new policy (or run `shriekc apply --confirm-pending`); otherwise it is rolled back",
            limit.as_secs()
        );
        std::thread::spawn(move || {
            let mut line = String::new();
            if std::io::stdin().lock().read_line(&mut line).is_ok() {
                let _ = tx.send(());
            }
        });
    } else {
        drop(tx);
        eprintln!(
            "run `shriekc apply --confirm-pending{}` within {} s to keep the new policy; otherwise it is rolled back",
            netns.map_or(String::new(), |ns| format!(" --netns {ns}")),
            limit.as_secs()
        );
    }
    let start = Instant::now();
    let confirmed = loop {
        if rx.try_recv().is_ok() {
            break true;
        }
        if marker_ok && std::fs::read_to_string(&path).is_ok_and(|s| s.starts_with("confirmed")) {
            break true;
        }
        if start.elapsed() >= limit {
            break false;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let _ = std::fs::remove_file(&path);
    confirmed
}

pub fn confirm_pending(netns: Option<&str>) -> u8 {
    let path = pending_path(netns);
    match std::fs::read_to_string(&path) {
        Ok(s) if s.starts_with("waiting") => match std::fs::write(&path, "confirmed\n") {
            Ok(()) => {
                println!("confirmed the pending apply");
                OK
            }
            Err(e) => {
                eprintln!("error: cannot confirm: {e}");
                INVALID
            }
        },
        _ => {
            eprintln!("error: no apply is waiting for confirmation");
            INVALID
        }
    }
}
