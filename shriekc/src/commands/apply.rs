//! `shriekc apply`: put a policy in the kernel, with an optional confirm
//! window (`crate::confirm`), unless it would lock out SSH (`lockout`).

mod lockout;

use shriek_compiler::lower::Strategy;
use shriek_runtime::{Live, PlanOptions, Reading};

use super::early::EarlyRead;
use super::plan::{count, lower_against_live, policy_key, relocated_text, Ahead, Prepared, Shown};
use super::{front, print_out, print_shown, runtime_failure_doing, Doing, FINDINGS, INVALID, OK};
use crate::confirm::{self, Window};

pub use crate::confirm::confirm_pending;

/// How to apply: the flags of `apply` that shape what is sent.
#[derive(Clone, Copy, Debug, Default)]
pub struct How {
    /// `--strategy`; `None` for the one the live tables record.
    pub strategy: Option<Strategy>,
    pub plan: PlanOptions,
    pub dry_run: bool,
    pub force: bool,
}

pub fn apply(file: &str, how: How, confirm: Option<u64>, netns: Option<&str>) -> u8 {
    let How { dry_run, force, .. } = how;
    // First, before any thread exists: SIGHUP, SIGINT and SIGTERM during a
    // confirm window must reach the window, not end the process.
    let watch = confirm.map(|_| confirm::watch());
    let phases = Phases::start();
    let early = EarlyRead::start(file, &policy_key(file), netns);
    let Ok((frontend, policy)) = front(file) else { return INVALID };
    let fronted = phases.now();
    if let Err(code) = guard_ssh(&policy, netns, dry_run, confirm, force) {
        return code;
    }
    // The analysis and the work of sending (reading the live tables,
    // lowering) only read the policy: they run at once, and the findings
    // still decide first, so a refused apply says only why it was refused.
    // A sequential ruleset (the largest model) is lowered after the
    // analysis instead: both use every core, so running them at once saved
    // little (a tenth of the two), and the analysis's index beside the
    // whole model was the peak of a sequential apply, above the batch's.
    let after = how.strategy == Some(Strategy::Sequential);
    let (findings, lowered) = std::thread::scope(|scope| {
        let first = after.then(|| {
            let findings = shriek_compiler::analysis::analyze(&policy);
            crate::hand_back();
            findings
        });
        let lowering = scope.spawn(|| {
            let lowered = lower_against_live(file, &policy, how.strategy, netns, early);
            // A change of strategy: the policy as the live tables were laid
            // out too, to tell which rule each of their counters counts.
            let previous = lowered.as_ref().ok().and_then(|l| l.switched_from());
            let previous = previous.map(|s| shriek_compiler::lower::lower(&policy, s).ruleset);
            // The plan too, while the analysis goes on: planning only
            // reads, so once the findings allow it, only the batch is
            // left to write (a one-rule change's diff of a 100,000-element
            // map no longer waits for the analysis).
            let lowered = lowered.map(|l| l.plan_ahead(&frontend.sources, &how.plan, netns));
            (lowered, previous, phases.now())
        });
        let findings = first.unwrap_or_else(|| {
            let findings = shriek_compiler::analysis::analyze(&policy);
            // What the analysis freed, while lowering goes on.
            crate::hand_back();
            findings
        });
        let analysed = phases.now();
        let (lowered, previous, lowered_at) = lowering.join().expect("lowering does not panic");
        (findings, (lowered, previous, analysed, lowered_at))
    });
    let (lowered, previous, analysed, lowered_at) = lowered;
    let lowered = (lowered, previous);
    if lowered.0.as_ref().is_ok_and(|l| l.small()) {
        // A small batch (a day-2 change): freeing the policy's 100,000
        // rules one by one would cost several milliseconds for memory the
        // exit gives back at once.
        std::mem::forget(policy);
    } else {
        drop(policy);
        // The policy's pages, freed just now: the allocator would keep
        // them resident while the batch is written, on top of the ruleset
        // and the batch (16 MiB of a 100k-rule sequential apply's peak).
        crate::hand_back();
    }
    if let Err(code) = guard_findings(&findings, &frontend.sources, force) {
        return code;
    }
    let doing = if dry_run { Doing::Validating } else { Doing::Changing };
    let (lowered, previous) = lowered;
    let (mut prepared, live) = match lowered {
        Ok(l) => l.with(frontend),
        Err(err) => return runtime_failure_doing(&err, &frontend.sources, doing),
    };
    prepared.previous = previous;
    // The window, when there is one, needs the orphans' names before the
    // reading goes to the plan.
    let orphans: Vec<String> = match &live {
        Ok(Reading::Live(live)) => live.orphans.iter().map(|t| t.table.name.clone()).collect(),
        Ok(Reading::Planned(p)) => p.plan().orphans.iter().map(|o| o.table.clone()).collect(),
        Err(_) => Vec::new(),
    };
    let mut tables = prepared.table_names();
    let go = || {
        let summary = send(file, &mut prepared, live, how, netns)?;
        phases.say(fronted, analysed, lowered_at, &summary);
        // As for the compiled policy below: the live tables read back go
        // with the process.
        std::mem::forget(summary);
        Ok(())
    };
    let code = match (confirm, watch) {
        (Some(seconds), Some(watch)) => {
            // The window puts back every table this apply may touch.
            if how.plan.prune {
                tables.extend(orphans);
            }
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
    };
    // The process ends next: freeing the compiled policy's 100,000 rules
    // one by one would cost a one-rule change a tenth of its time for
    // nothing the exit does not do at once.
    std::mem::forget(prepared);
    code
}

/// The analysis runs before anything is sent: its findings are printed, and
/// an error-level one (a shadowed or unmatchable rule, a jump cycle)
/// refuses the apply (exit 1) unless `--force` says to go ahead.
fn guard_findings(
    findings: &[shriek_grammar::Diagnostic],
    sources: &shriek_grammar::SourceMap,
    force: bool,
) -> Result<(), u8> {
    use shriek_grammar::Severity;
    crate::output::eprint_diagnostics(findings, sources);
    let errors =
        findings.iter().filter(|d| d.suppressed.is_none() && d.severity == Severity::Error).count();
    match errors {
        0 => Ok(()),
        n if force => {
            eprintln!("warning: applying despite {} (--force)", count(n, "error-level finding"));
            Ok(())
        }
        n => {
            eprintln!(
                "error: refusing to apply: the policy has {}; fix it (see `shriekc check`), or pass `--force`",
                count(n, "error-level finding")
            );
            Err(FINDINGS)
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

/// The transaction itself (only what differs from the live tables), and
/// the lines that say what it did.
fn send(
    file: &str,
    prepared: &mut Prepared,
    live: Ahead,
    how: How,
    netns: Option<&str>,
) -> Result<shriek_runtime::ApplySummary, u8> {
    let opts = shriek_runtime::ApplyOptions {
        dry_run: how.dry_run,
        netns: netns.map(str::to_owned),
        replace: how.plan.replace,
        prune: how.plan.prune,
    };
    let doing = if how.dry_run { Doing::Validating } else { Doing::Changing };
    let live =
        live.map_err(|err| runtime_failure_doing(&err, &prepared.frontend.sources, doing))?;
    // The rules of the tables written whole are freed as they are encoded
    // (the model and its batch are never both whole: a sequential 100k
    // apply's peak); the model's expressions were made on the rayon
    // workers, and mimalloc takes back what another thread freed only when
    // the thread that made it collects: so does every worker.
    let spent = || {
        crate::hand_back();
        rayon::broadcast(|_| crate::hand_back());
    };
    let mut ruleset = std::mem::take(&mut prepared.ruleset);
    let sent = shriek_runtime::apply_spending(
        &mut ruleset,
        &prepared.desired(),
        prepared.previous.as_ref(),
        Some(live),
        &opts,
        &test_pause(),
        &spent,
    );
    prepared.ruleset = ruleset;
    let summary = match sent {
        Ok(Some(summary)) => Ok(summary),
        // The tables changed after the model was spent: the policy is
        // read and lowered again, and applied once more (a second change
        // is reported).
        Ok(None) => {
            let (again, live) =
                prepare_again(file, &prepared.frontend.sources, how.strategy, netns, doing)?;
            *prepared = again;
            let previous = prepared.previous.as_ref();
            shriek_runtime::apply_once(&prepared.desired(), previous, Some(live), &opts, &|| {})
        }
        Err(err) => Err(err),
    }
    .map_err(|err| runtime_failure_doing(&err, &prepared.frontend.sources, doing))?;
    for n in prepared.notes.iter().chain(&summary.plan.notes) {
        eprintln!("note: {}", shriek_grammar::visible(n));
    }
    let shown = Shown::new(&summary.plan, prepared);
    let place = netns.map_or(String::new(), |ns| format!(" in netns {ns}"));
    if summary.messages == 0 {
        print_out("no changes");
        return Ok(summary);
    }
    let c = shown.counts();
    let verb = if how.dry_run { "validated (nothing changed)" } else { "applied" };
    // One write: a reader may take the first line and go.
    let mut out = format!(
        "{verb}{place}: {} added, {} changed, {} removed in {:.1} ms (transaction {:.1} ms)\n",
        c.add,
        c.change,
        c.remove,
        summary.elapsed.as_secs_f64() * 1000.0,
        summary.transaction.as_secs_f64() * 1000.0
    );
    for w in &summary.plan.whole {
        out.push_str(&format!("table `{}` {}\n", w.table, super::plan::rebuilt_words(w)));
    }
    out.push_str(&super::plan::records_text(&summary.plan, prepared.strategy));
    if summary.staged > 0 {
        // The transaction above is the one that switched the rules; the
        // new interval sets went in a moment before, unused until then.
        out.push_str(&format!(
            "{} made first in a transaction of its own ({:.1} ms), so that no packet finds {} empty\n",
            count(summary.staged, "new interval set"),
            summary.staging.as_secs_f64() * 1000.0,
            if summary.staged == 1 { "it" } else { "them" },
        ));
    }
    if summary.beside > 0 {
        // Made in the staging transaction too, under a new name: the old
        // maps went in the transaction after the batch.
        out.push_str(&format!(
            "{} made anew beside the old, in a transaction of its own ({:.1} ms), and the rules that use {} replaced, so that no packet meets a map half changed\n",
            count(summary.beside, "map"),
            summary.staging.as_secs_f64() * 1000.0,
            if summary.beside == 1 { "it" } else { "them" },
        ));
    }
    if summary.deferred > 0 {
        out.push_str(&format!(
            "{} no rule uses any more deleted in a transaction after it ({:.1} ms), once the packets walking the old rules were through\n",
            count(summary.deferred, "map"),
            summary.settling.as_secs_f64() * 1000.0,
        ));
    }
    out.push_str(&super::plan::leftovers_text(&summary.plan));
    if let Some(line) = relocated_text(shown.relocated()) {
        out.push_str(&line);
    }
    print_shown(&out);
    Ok(summary)
}

/// The policy in `file` read and lowered again, as [`apply`] does (the
/// live tables read again), for [`send`]'s second try. Only the policy
/// that was checked (`checked`, the sources the analysis read) is applied:
/// a file edited in between stops the apply, which changed nothing.
fn prepare_again(
    file: &str,
    checked: &shriek_grammar::SourceMap,
    strategy: Option<Strategy>,
    netns: Option<&str>,
    doing: Doing,
) -> Result<(Prepared, Live), u8> {
    let (frontend, policy) = front(file)?;
    let same = |a: &shriek_grammar::SourceMap, b: &shriek_grammar::SourceMap| {
        a.files().count() == b.files().count()
            && a.files().zip(b.files()).all(|((_, x), (_, y))| x.name == y.name && x.text == y.text)
    };
    if !same(checked, &frontend.sources) {
        eprintln!(
            "error: the firewall's tables changed while this apply was sending, and {} (or a \
             file it imports) changed since it was checked; nothing was applied: run `shriekc \
             apply` again",
            shriek_grammar::visible(file)
        );
        return Err(1);
    }
    let lowered = match lower_against_live(file, &policy, strategy, netns, None) {
        Ok(l) => l,
        Err(err) => return Err(runtime_failure_doing(&err, &frontend.sources, doing)),
    };
    let previous = lowered.switched_from().map(|s| shriek_compiler::lower::lower(&policy, s));
    let (mut prepared, live) = lowered.with(frontend);
    prepared.previous = previous.map(|l| l.ruleset);
    Ok((prepared, super::plan::unplanned(live)))
}

/// With `SHRIEKC_TEST_PAUSE=DIR` (for tests), the first try of an apply,
/// once planned, makes `DIR/planned` and waits until `DIR/go` exists: a
/// test changes the tables there, as a concurrent program would between
/// the reading and the commit (`shriekc/tests/day2_retry.rs`). Unset, it
/// does nothing.
fn test_pause() -> impl Fn() {
    let dir = std::env::var_os("SHRIEKC_TEST_PAUSE").map(std::path::PathBuf::from);
    let done = std::cell::Cell::new(false);
    move || {
        let Some(dir) = &dir else { return };
        if done.replace(true) {
            return;
        }
        let _ = std::fs::write(dir.join("planned"), "");
        while !dir.join("go").exists() {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }
}

/// `SHRIEKC_PHASES` set: one line on standard error with where an apply's
/// time went, from the start of the command (for `benches/day2.sh`).
#[derive(Clone, Copy)]
struct Phases {
    start: Option<std::time::Instant>,
}

impl Phases {
    fn start() -> Phases {
        let on = std::env::var_os("SHRIEKC_PHASES").is_some();
        Phases { start: on.then(std::time::Instant::now) }
    }

    /// Milliseconds since the start.
    fn now(self) -> f64 {
        self.start.map_or(0.0, |s| s.elapsed().as_secs_f64() * 1000.0)
    }

    fn say(self, fronted: f64, analysed: f64, lowered: f64, s: &shriek_runtime::ApplySummary) {
        if self.start.is_none() {
            return;
        }
        let ms = |d: std::time::Duration| d.as_secs_f64() * 1000.0;
        let end = self.now();
        let ran = end - ms(s.elapsed);
        let read = match (self.start, super::early::READ_ENDED.get()) {
            (Some(start), Some(at)) => format!("{:.1}", ms(at.saturating_duration_since(start))),
            _ => "-".to_owned(),
        };
        eprintln!(
            "phases (ms from the start): parse+resolve {fronted:.1}, analysis {analysed:.1}, live tables read (own thread) {read}, read+lower+plan {lowered:.1}, runtime from {ran:.1}: plan {:.1}, transaction {:.1}, cache {:.1}, end {end:.1}",
            ms(s.planning),
            ms(s.transaction),
            ms(s.recording),
        );
    }
}
