//! The guard: a process of its own session that holds the saved tables
//! and puts them back at the deadline unless it hears `confirm`.
//!
//! `apply --confirm` starts it (`shriekc confirm-guard`, hidden) and
//! applies only once it says `armed`: the lock is taken, the snapshot is
//! taken and on disk, the socket listens and the clock runs. From then on
//! nothing `shriekc` suffers stops the rollback: SIGHUP of the session
//! never reaches another session, and SIGKILL of `shriekc` leaves the guard
//! to its deadline. One thread decides (requests, signals and the deadline
//! arrive on one channel), so a `confirm` and a rollback can never both
//! happen.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use shriek_runtime::{RuntimeError, Snapshot};

use super::state::{now_unix_ms, Last, Lock, Pending, Place, Report, Request, DEADLINE};
use super::watch_signals;

/// The hidden `confirm-guard` verb's arguments, as `apply --confirm` passes them.
#[derive(clap::Args, Debug)]
pub struct GuardArgs {
    /// The place's state folder
    #[arg(long)]
    dir: PathBuf,
    #[arg(long)]
    seconds: u64,
    #[arg(long)]
    netns: Option<String>,
    /// The policy file, for messages
    #[arg(long)]
    file: String,
    /// The tables to save and restore
    #[arg(long = "table")]
    tables: Vec<String>,
}

enum Event {
    Request(Request, UnixStream),
    Signal(Signal),
}

/// Runs the guard to its end; what it has to say goes to standard output
/// as [`Report`] lines (its parent may be gone, so write errors are ignored).
pub fn guard(args: GuardArgs) -> u8 {
    // A new session: the terminal's hangup and Ctrl-C go to the old one.
    let _ = nix::unistd::setsid();
    let (tx, rx) = mpsc::channel();
    let signals = tx.clone();
    watch_signals(move |sig| signals.send(Event::Signal(sig)).is_ok());
    let place = Place::at(&args.dir, args.netns.as_deref());
    let (lock, listener, snapshot) = match arm(&place, &args) {
        Ok(armed) => armed,
        Err(error) => {
            say(&Report::Failed { error });
            return 1;
        }
    };
    let armed = Instant::now();
    say(&Report::Armed);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            if let Some(req) = read_request(&stream) {
                if tx.send(Event::Request(req, stream)).is_err() {
                    break;
                }
            }
        }
    });

    let window = Duration::from_secs(args.seconds);
    let mut start = armed;
    let (report, asker) = loop {
        let left = (start + window).saturating_duration_since(Instant::now());
        let event = match rx.recv_timeout(left) {
            Ok(event) => event,
            Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => {
                break (rollback(&place, &snapshot, &args, start, DEADLINE), None);
            }
        };
        match event {
            // Our session has no terminal; a stray hangup means nothing.
            Event::Signal(Signal::SIGHUP) => {}
            Event::Signal(sig) => {
                let why = format!("the guard got {sig}");
                break (rollback(&place, &snapshot, &args, start, &why), None);
            }
            Event::Request(Request::Applied, stream) => {
                start = Instant::now();
                if let Some(mut p) = place.pending() {
                    p.deadline_unix_ms = now_unix_ms() + args.seconds * 1000;
                    let _ = place.write_pending(&p);
                }
                answer(stream, &Report::Waiting { seconds: args.seconds });
            }
            Event::Request(Request::Cancel, stream) => break (Report::Cancelled, Some(stream)),
            Event::Request(Request::Confirm { by }, stream) => {
                let after_ms = start.elapsed().as_millis() as u64;
                break (Report::Confirmed { after_ms, seconds: args.seconds, by }, Some(stream));
            }
            Event::Request(Request::Rollback { why }, stream) => {
                break (rollback(&place, &snapshot, &args, start, &why), Some(stream));
            }
        }
    };
    // `last.json` first: whoever finds `pending.json` still there (the
    // guard killed in between) then knows how it ended.
    let _ = place.write_last(&Last {
        pid: std::process::id(),
        at_unix_ms: now_unix_ms(),
        report: report.clone(),
    });
    place.clear();
    if let Some(stream) = asker {
        answer(stream, &report);
    }
    say(&report);
    drop(lock);
    0
}

/// Takes the lock and the snapshot, writes it, and starts listening.
fn arm(place: &Place, args: &GuardArgs) -> Result<(Lock, UnixListener, Snapshot), String> {
    let lock = match place.try_lock(true) {
        Ok(lock @ Lock::Held(_)) => lock,
        Ok(_) => {
            return Err(format!(
                "another `apply --confirm` {} is waiting for confirmation",
                place.words()
            ))
        }
        Err(e) => return Err(format!("cannot lock {}: {e}", place.path("lock").display())),
    };
    // A guard that died before us left its files; they are ours to clear.
    let _ = place.clean_stale();
    let snapshot = shriek_runtime::snapshot_tables(&args.tables, args.netns.as_deref())
        .map_err(|e| format!("cannot save the current tables: {e}"))?;
    let path = place.path("snapshot");
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&path)
        .and_then(|mut f| f.write_all(&snapshot.to_bytes()).and_then(|()| f.sync_all()))
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    let sock = place.path("sock");
    let _ = std::fs::remove_file(&sock);
    let listener = UnixListener::bind(&sock)
        .map_err(|e| format!("cannot listen on {}: {e}", sock.display()))?;
    let now = now_unix_ms();
    let pending = Pending {
        pid: std::process::id(),
        file: args.file.clone(),
        seconds: args.seconds,
        armed_unix_ms: now,
        deadline_unix_ms: now + args.seconds * 1000,
    };
    place.write_pending(&pending).map_err(|e| format!("cannot write pending.json: {e}"))?;
    Ok((lock, listener, snapshot))
}

/// Puts the saved tables back. A concurrent change of the ruleset (the
/// generation moved between reading it and committing) is tried again: the
/// restore replaces whole tables, so a second try on the new generation is
/// as right as the first.
fn rollback(
    place: &Place,
    snapshot: &Snapshot,
    args: &GuardArgs,
    start: Instant,
    why: &str,
) -> Report {
    // When the window ended, not when the restore was done: on a busy host
    // the restore may take a while, and the window was as long as asked.
    let after_ms = start.elapsed().as_millis() as u64;
    let mut result = shriek_runtime::restore(snapshot, args.netns.as_deref());
    for _ in 0..3 {
        if !matches!(result, Err(RuntimeError::Changed)) {
            break;
        }
        result = shriek_runtime::restore(snapshot, args.netns.as_deref());
    }
    let (seconds, why) = (args.seconds, why.to_string());
    match result {
        Ok(()) => Report::RolledBack { after_ms, seconds, why },
        Err(e) => {
            eprintln!("rollback {} failed: {e}", place.words());
            Report::RollbackFailed { after_ms, seconds, why, error: e.to_string() }
        }
    }
}

fn read_request(stream: &UnixStream) -> Option<Request> {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut line = String::new();
    BufReader::new(stream).read_line(&mut line).ok()?;
    serde_json::from_str(&line).ok()
}

fn answer(mut stream: UnixStream, report: &Report) {
    let _ =
        writeln!(stream, "{}", serde_json::to_string(report).expect("reports always serialize"));
}

fn say(report: &Report) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{}", serde_json::to_string(report).expect("reports always serialize"));
    let _ = out.flush();
}
