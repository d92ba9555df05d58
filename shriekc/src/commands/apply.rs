//! `shriekc apply`: put a policy in the kernel, with an optional confirm
//! window (`crate::confirm`), unless it would lock out SSH (`lockout`).

mod lockout;

use shriek_compiler::lower::{self, Strategy};
use shriek_compiler::nft;
use shriek_grammar::SourceMap;

use super::{front, runtime_failure_doing, Doing, FINDINGS, INVALID, OK};
use crate::confirm::{self, Window};

pub use crate::confirm::confirm_pending;

pub fn apply(
    file: &str,
    strategy: Strategy,
    dry_run: bool,
    confirm: Option<u64>,
    force: bool,
    netns: Option<&str>,
) -> u8 {
    // First, before any thread exists: SIGHUP, SIGINT and SIGTERM during a
    // confirm window must reach the window, not end the process.
    let watch = confirm.map(|_| confirm::watch());
    let Ok((frontend, policy)) = front(file) else { return INVALID };
    if let Err(code) = guard_ssh(&policy, netns, dry_run, confirm, force) {
        return code;
    }
    let lowered = lower::lower(&policy, strategy);
    let go = || send(&lowered.ruleset, dry_run, netns, &frontend.sources);
    match (confirm, watch) {
        (Some(seconds), Some(watch)) => {
            let tables = policy.tables.iter().map(|t| t.name.clone()).collect();
            let window = Window { file, netns, seconds, tables };
            confirm::apply_confirmed(&window, watch, go)
        }
        // A dry run changes nothing, so an open window does not stop it.
        _ if dry_run => go().map_or_else(|code| code, |()| OK),
        _ => {
            let _lock = match confirm::not_pending(netns) {
                Ok(lock) => lock,
                Err(code) => return code,
            };
            go().map_or_else(|code| code, |()| OK)
        }
    }
}

/// The lockout guard: a policy that would cut off this SSH session, or
/// every new SSH connection, is refused (exit 1) unless `--force` says so or
/// `--confirm` gives a way back. A dry run changes nothing, so it only warns.
fn guard_ssh(
    policy: &shriek_compiler::ir::Policy,
    netns: Option<&str>,
    dry_run: bool,
    confirm: Option<u64>,
    force: bool,
) -> Result<(), u8> {
    let verdict = lockout::check(policy, netns);
    if let Some(why) = &verdict.gave_up {
        eprintln!("note: {why}");
    }
    let Some(lockout) = verdict.lockouts.first() else { return Ok(()) };
    match confirm {
        _ if force || dry_run => eprintln!("warning: {lockout}"),
        Some(seconds) => eprintln!(
            "warning: {lockout}; unless it is confirmed within {seconds} s (from a session it keeps), it is rolled back"
        ),
        None => {
            eprintln!(
                "error: refusing to apply: {lockout}; pass `--confirm SECONDS` to apply with a way back, or `--force`"
            );
            return Err(FINDINGS);
        }
    }
    Ok(())
}

/// The transaction itself, and the line that says what it did.
fn send(
    ruleset: &nft::Ruleset,
    dry_run: bool,
    netns: Option<&str>,
    sources: &SourceMap,
) -> Result<(), u8> {
    let opts = shriek_runtime::ApplyOptions { dry_run, netns: netns.map(str::to_owned) };
    let summary = shriek_runtime::apply(ruleset, &opts).map_err(|err| {
        let doing = if dry_run { Doing::Validating } else { Doing::Changing };
        runtime_failure_doing(&err, sources, doing)
    })?;
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
    Ok(())
}
