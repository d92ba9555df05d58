//! `apply --confirm`: a window that survives the session that opened it.
//!
//! Before the new policy goes in, `shriekc` starts a guard ([`guard`]) in
//! a session of its own; the guard saves the tables (to memory and to the
//! run dir), and restores them in one batch at the deadline unless it is
//! told `confirm`: by Enter in this terminal, or by `shriekc apply
//! --confirm-pending` from anywhere. SIGHUP, SIGTERM and SIGINT of
//! `shriekc` roll back at once; SIGKILL of `shriekc` leaves the guard to
//! its deadline. If the guard cannot start, nothing is applied.
//!
//! While a window is open, another `apply` to the same place is refused
//! (its rollback would undo the newer apply too); `--dry-run` and `plan`
//! are not affected. [`state`] says where everything lives.

mod guard;
mod state;

pub use guard::{guard, GuardArgs};

use std::io::{BufRead, BufReader, IsTerminal, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc;

use nix::sys::signal::{SigSet, Signal};
use shriek_runtime::Snapshot;

use state::{ago, ended, now_unix_ms, seconds, Lock, Place, Report, Request, DEADLINE};

use crate::commands::{FINDINGS, INVALID, OK};

/// Blocks SIGHUP, SIGINT and SIGTERM in this thread (and so in every thread
/// it starts from now on) and hands each one to `each` from a thread of its
/// own, until `each` says stop. Call it before any other thread starts.
pub(crate) fn watch_signals(each: impl Fn(Signal) -> bool + Send + 'static) {
    let mut set = SigSet::empty();
    for s in [Signal::SIGHUP, Signal::SIGINT, Signal::SIGTERM] {
        set.add(s);
    }
    set.thread_block().expect("blocking signals in our own thread cannot fail");
    std::thread::spawn(move || {
        while let Ok(sig) = set.wait() {
            if !each(sig) {
                break;
            }
        }
    });
}

/// What `apply --confirm` hands over once the policy is compiled.
pub(crate) struct Window<'a> {
    pub file: &'a str,
    pub netns: Option<&'a str>,
    pub seconds: u64,
    pub tables: Vec<String>,
}

enum Event {
    Signal(Signal),
    Enter,
    Guard(Report),
    GuardGone,
}

/// Where the window hears what happens: signals from the start, then the
/// guard and the terminal.
pub(crate) struct Watch {
    tx: mpsc::Sender<Event>,
    rx: mpsc::Receiver<Event>,
}

/// Starts listening for SIGHUP, SIGINT and SIGTERM; call it first thing,
/// before any thread starts, so that no thread can take one of them.
pub(crate) fn watch() -> Watch {
    let (tx, rx) = mpsc::channel();
    let signals = tx.clone();
    watch_signals(move |sig| signals.send(Event::Signal(sig)).is_ok());
    Watch { tx, rx }
}

/// Refuses when a window is open at this place (exit code 1); otherwise
/// returns the lock to hold while applying, and says what a dead guard
/// left behind.
pub(crate) fn not_pending(netns: Option<&str>) -> Result<Lock, u8> {
    let place = Place::of(netns);
    match place.try_lock(false) {
        Ok(Lock::Busy) => {
            let left = place.pending().map_or(String::new(), |p| {
                format!(", {} s left", p.deadline_unix_ms.saturating_sub(now_unix_ms()) / 1000)
            });
            eprintln!(
                "error: an `apply --confirm` {} is waiting for confirmation{left}; confirm it with `shriekc apply --confirm-pending{}` or let it roll back, then apply again",
                place.words(),
                place.flag()
            );
            Err(FINDINGS)
        }
        Ok(lock) => {
            if let Some(note) = place.clean_stale() {
                eprintln!("note: {}", shriek_grammar::visible(&note));
            }
            Ok(lock)
        }
        // No run dir we may read (not root): the apply itself will say why.
        Err(_) => Ok(Lock::Absent),
    }
}

/// Opens the window: guard first, then `apply` (the closure, which prints
/// its own failure and returns its exit code), then wait for the outcome.
pub(crate) fn apply_confirmed(
    w: &Window,
    watch: Watch,
    apply: impl FnOnce() -> Result<(), u8>,
) -> u8 {
    let Watch { tx, rx } = watch;
    let place = Place::of(w.netns);
    // The guard takes the lock itself; this is for the clearer message.
    match not_pending(w.netns) {
        Ok(lock) => drop(lock),
        Err(code) => return code,
    }
    let mut child = match start_guard(&place, w) {
        Ok(child) => child,
        Err(why) => {
            eprintln!("error: cannot start the confirm guard, so nothing was applied: {why}");
            return INVALID;
        }
    };
    let stdout = child.stdout.take().expect("the guard's stdout is piped");
    let mut lines = BufReader::new(stdout).lines();
    match lines.next().map(|l| l.map(|l| serde_json::from_str::<Report>(&l))) {
        Some(Ok(Ok(Report::Armed))) => {}
        Some(Ok(Ok(Report::Failed { error }))) => {
            let _ = child.wait();
            eprintln!("error: {error}, so nothing was applied");
            return FINDINGS;
        }
        _ => {
            let _ = child.wait();
            let log = std::fs::read_to_string(place.path("guard.log")).unwrap_or_default();
            let why = log.lines().last().unwrap_or("it ended without a word").to_string();
            eprintln!("error: the confirm guard did not start, so nothing was applied: {why}");
            return INVALID;
        }
    }
    // Kept for the worst case: the guard dying while we still live.
    let saved =
        std::fs::read(place.path("snapshot")).ok().and_then(|b| Snapshot::from_bytes(&b).ok());
    let guard_tx = tx.clone();
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            if let Ok(report) = serde_json::from_str(&line) {
                let _ = guard_tx.send(Event::Guard(report));
            }
        }
        let _ = guard_tx.send(Event::GuardGone);
    });

    // A signal before the apply: cancel, and apply nothing.
    if let Ok(Event::Signal(sig)) = rx.try_recv() {
        let _ = place.request(&Request::Cancel);
        let _ = child.wait();
        say_err(&format!("{sig}: stopped before applying; nothing changed"));
        return FINDINGS;
    }
    if let Err(code) = apply() {
        let _ = place.request(&Request::Cancel);
        let _ = child.wait();
        return code;
    }
    // If this fails the guard keeps the deadline it armed with.
    let _ = place.request(&Request::Applied);
    if std::io::stdin().is_terminal() {
        eprintln!(
            "press Enter within {} s to keep the new policy (or run `shriekc apply --confirm-pending{}`); otherwise it is rolled back",
            w.seconds,
            place.flag()
        );
        let enter = tx.clone();
        std::thread::spawn(move || {
            let mut line = String::new();
            // End of input (Ctrl-D, a hangup) is not a confirmation.
            if std::io::stdin()
                .lock()
                .read_line(&mut line)
                .is_ok_and(|n| n > 0 && line.ends_with('\n'))
            {
                let _ = enter.send(Event::Enter);
            }
        });
    } else {
        eprintln!(
            "run `shriekc apply --confirm-pending{}` within {} s to keep the new policy; otherwise it is rolled back",
            place.flag(),
            w.seconds
        );
    }
    drop(tx);
    let code = wait(&place, &rx, saved.as_ref(), w);
    let _ = child.wait();
    code
}

/// The wait for the guard's word, acting on Enter and signals meanwhile.
fn wait(place: &Place, rx: &mpsc::Receiver<Event>, saved: Option<&Snapshot>, w: &Window) -> u8 {
    while let Ok(event) = rx.recv() {
        match event {
            Event::Enter => {
                let _ = place.request(&Request::Confirm { by: "Enter".into() });
            }
            Event::Signal(sig) => {
                let _ = place.request(&Request::Rollback { why: format!("shriekc got {sig}") });
            }
            Event::Guard(Report::Confirmed { after_ms, seconds: s, by }) => {
                say_out(&format!(
                    "confirmed after {} of {s} s, by {by}; the new policy stays",
                    seconds(after_ms)
                ));
                return OK;
            }
            Event::Guard(Report::RolledBack { after_ms, seconds: s, why }) if why == DEADLINE => {
                say_err(&format!(
                    "not confirmed within {s} s: rolled back to the previous tables after {}",
                    seconds(after_ms)
                ));
                return FINDINGS;
            }
            Event::Guard(Report::RolledBack { after_ms, why, .. }) => {
                say_err(&format!(
                    "rolled back to the previous tables after {} because {why}",
                    seconds(after_ms)
                ));
                return FINDINGS;
            }
            Event::Guard(Report::RollbackFailed { after_ms, why, error, .. }) => {
                say_err(&format!(
                    "error: the rollback after {} (because {why}) failed, so the new policy is still in place: {error}",
                    seconds(after_ms)
                ));
                return INVALID;
            }
            Event::Guard(_) => {}
            Event::GuardGone => return guard_died(place, saved, w),
        }
    }
    guard_died(place, saved, w)
}

/// The guard ended without a word to us: someone killed it. We are still
/// here and hold the saved tables, so we roll back ourselves.
fn guard_died(place: &Place, saved: Option<&Snapshot>, w: &Window) -> u8 {
    let _ = place.clean_stale();
    let Some(snapshot) = saved else {
        say_err("error: the confirm guard died and the saved tables are unreadable; the new policy stays unconfirmed");
        return INVALID;
    };
    match shriek_runtime::restore(snapshot, w.netns) {
        Ok(()) => {
            say_err("the confirm guard died unexpectedly: rolled back to the previous tables to be safe");
            FINDINGS
        }
        Err(e) => {
            say_err(&format!("error: the confirm guard died and the rollback failed: {e}"));
            INVALID
        }
    }
}

fn start_guard(place: &Place, w: &Window) -> Result<std::process::Child, String> {
    place.create().map_err(|e| format!("cannot create {}: {e}", place.dir.display()))?;
    let log = std::fs::File::create(place.path("guard.log"))
        .map_err(|e| format!("cannot create {}: {e}", place.path("guard.log").display()))?;
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this program: {e}"))?;
    let mut cmd = Command::new(exe);
    cmd.arg("confirm-guard").arg("--dir").arg(&place.dir).args([
        "--seconds",
        &w.seconds.to_string(),
        "--file",
        w.file,
    ]);
    if let Some(ns) = w.netns {
        cmd.args(["--netns", ns]);
    }
    for t in &w.tables {
        cmd.args(["--table", t]);
    }
    // Nothing of ours: a caller waiting for our output must not wait for
    // the guard's too.
    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(log);
    cmd.spawn().map_err(|e| e.to_string())
}

/// `apply --confirm-pending`: confirms the window of this place, or says
/// plainly that there is none and how the last one ended.
pub fn confirm_pending(netns: Option<&str>) -> u8 {
    let place = Place::of(netns);
    match place.try_lock(false) {
        Ok(Lock::Busy) => match place
            .request(&Request::Confirm { by: "`apply --confirm-pending`".into() })
        {
            Ok(Report::Confirmed { after_ms, seconds: s, .. }) => {
                println!(
                    "confirmed the pending apply {} after {} of its {s} s; the new policy stays",
                    place.words(),
                    seconds(after_ms)
                );
                OK
            }
            Ok(other) => {
                eprintln!("error: too late: the pending apply {} {}", place.words(), ended(&other));
                FINDINGS
            }
            Err(_) => match place.last() {
                // It decided while we asked.
                Some(last) if last.at_unix_ms + 5_000 > now_unix_ms() => {
                    eprintln!(
                        "error: too late: the pending apply {} {}",
                        place.words(),
                        ended(&last.report)
                    );
                    FINDINGS
                }
                _ => {
                    eprintln!(
                        "error: an `apply --confirm` {} is starting or ending; try again",
                        place.words()
                    );
                    FINDINGS
                }
            },
        },
        Ok(lock) => {
            if let Some(note) = place.clean_stale() {
                eprintln!("note: {}", shriek_grammar::visible(&note));
            }
            let last = place.last().map_or(String::new(), |l| {
                format!("; the last one, {}, {}", ago(l.at_unix_ms), ended(&l.report))
            });
            eprintln!("error: nothing is pending {}: no `apply --confirm` is waiting for confirmation{last}", place.words());
            drop(lock);
            FINDINGS
        }
        Err(e) => {
            eprintln!("error: cannot read the confirm state in {}: {e}", place.dir.display());
            INVALID
        }
    }
}

/// Printing that survives a closed terminal (after SIGHUP, `eprintln!`
/// would panic on the write error).
fn say_err(text: &str) {
    let _ = writeln!(std::io::stderr(), "{text}");
}

fn say_out(text: &str) {
    let _ = writeln!(std::io::stdout(), "{text}");
}
