//! Where a confirm window keeps its state, and the words that cross
//! between `shriekc` and its guard.
//!
//! Each place (the host, or one named network namespace) has a folder under
//! the run dir (`SHRIEKC_RUN_DIR`, else `/run/shriekc`), mode 0700:
//!
//! | file | what |
//! |---|---|
//! | `lock` | flock'ed by the living guard: held means pending, free means not |
//! | `pending.json` | the guard's pid, deadline and policy, for messages |
//! | `snapshot` | the tables as they were, which the guard restores |
//! | `sock` | the guard's Unix socket: `confirm`, `rollback`, `applied`, `cancel` |
//! | `guard.log` | the guard's standard error |
//! | `last.json` | how the last window ended |
//!
//! The lock, not `pending.json`, says whether a guard lives: the kernel
//! drops a flock when its holder dies, SIGKILL included, so a
//! `pending.json` under a free lock is stale by construction.

use std::fs::{DirBuilder, File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};

/// A namespace name longer than this gets a hashed folder name, so the
/// socket path stays inside the 108 bytes a Unix socket address allows.
const LONGEST_NAME: usize = 40;

/// Why a window rolled back when nobody confirmed it.
pub(crate) const DEADLINE: &str = "the deadline passed";

/// One place a policy can be applied to, and its state folder.
#[derive(Clone, Debug)]
pub(crate) struct Place {
    pub netns: Option<String>,
    pub dir: PathBuf,
}

/// What a guard writes on its standard output (one JSON line each), what it
/// answers on its socket, and what `last.json` keeps: one vocabulary.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub(crate) enum Report {
    /// The saved state is on disk and the deadline runs: apply now.
    Armed,
    /// The guard could not start; nothing may be applied.
    Failed {
        error: String,
    },
    /// The answer to `applied`: the clock now runs from the apply.
    Waiting {
        seconds: u64,
    },
    Confirmed {
        after_ms: u64,
        seconds: u64,
        by: String,
    },
    RolledBack {
        after_ms: u64,
        seconds: u64,
        why: String,
    },
    RollbackFailed {
        after_ms: u64,
        seconds: u64,
        why: String,
        error: String,
    },
    /// The apply failed or was interrupted before it went in.
    Cancelled,
}

/// What a guard is asked over its socket (one JSON line).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "request", rename_all = "kebab-case")]
pub(crate) enum Request {
    /// The new policy is in: the window starts now.
    Applied,
    /// The apply did not happen: stand down without restoring.
    Cancel,
    Confirm {
        by: String,
    },
    Rollback {
        why: String,
    },
}

/// `pending.json`: what a living guard guards.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Pending {
    pub pid: u32,
    pub file: String,
    pub seconds: u64,
    pub armed_unix_ms: u64,
    pub deadline_unix_ms: u64,
}

/// `last.json`: how the last window of a place ended, and when.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Last {
    pub pid: u32,
    pub at_unix_ms: u64,
    pub report: Report,
}

/// The state of a place's lock.
pub(crate) enum Lock {
    /// No window ever ran here.
    Absent,
    /// A guard (or an apply starting one) holds it.
    Busy,
    /// Ours until dropped: holding the value is the whole point, so it is
    /// never read.
    Held(#[allow(dead_code)] Flock<File>),
}

pub(crate) fn now_unix_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// `4.2 s`, the way every message of the window says a time.
pub(crate) fn seconds(ms: u64) -> String {
    format!("{:.1} s", ms as f64 / 1000.0)
}

/// `12 s ago`, for things that happened to another process.
pub(crate) fn ago(unix_ms: u64) -> String {
    let s = now_unix_ms().saturating_sub(unix_ms) / 1000;
    match s {
        0..=119 => format!("{s} s ago"),
        120..=7199 => format!("{} min ago", s / 60),
        _ => format!("{} h ago", s / 3600),
    }
}

impl Place {
    pub fn of(netns: Option<&str>) -> Place {
        let run = std::env::var_os("SHRIEKC_RUN_DIR")
            .filter(|d| !d.is_empty())
            .map_or_else(|| PathBuf::from("/run/shriekc"), PathBuf::from);
        let name = match netns {
            None => "confirm-host".to_string(),
            Some(ns) if ns.len() <= LONGEST_NAME => format!("confirm-netns-{ns}"),
            Some(ns) => format!("confirm-netns-{}-{:016x}", &ns[..24], fnv1a(ns.as_bytes())),
        };
        Place { netns: netns.map(str::to_owned), dir: run.join(name) }
    }

    /// Rebuilds the place a guard was started for.
    pub fn at(dir: &Path, netns: Option<&str>) -> Place {
        Place { netns: netns.map(str::to_owned), dir: dir.to_path_buf() }
    }

    /// `on this host` or `in netns NAME`.
    pub fn words(&self) -> String {
        match &self.netns {
            None => "on this host".into(),
            Some(ns) => format!("in netns {ns}"),
        }
    }

    /// The `--netns NAME` to repeat in a suggested command, or nothing.
    pub fn flag(&self) -> String {
        self.netns.as_ref().map_or(String::new(), |ns| format!(" --netns {ns}"))
    }

    pub fn path(&self, file: &str) -> PathBuf {
        self.dir.join(file)
    }

    pub fn create(&self) -> std::io::Result<()> {
        DirBuilder::new().recursive(true).mode(0o700).create(&self.dir)
    }

    /// Tries the lock without waiting. `create` makes the folder and the
    /// lock file; without it a place that never had a window is `Absent`.
    pub fn try_lock(&self, create: bool) -> std::io::Result<Lock> {
        if create {
            self.create()?;
        }
        let file = match OpenOptions::new()
            .read(true)
            .write(create)
            .create(create)
            .mode(0o600)
            .open(self.path("lock"))
        {
            Ok(f) => f,
            Err(e) if !create && e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Lock::Absent)
            }
            Err(e) => return Err(e),
        };
        match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(held) => Ok(Lock::Held(held)),
            Err((_, Errno::EWOULDBLOCK)) => Ok(Lock::Busy),
            Err((_, e)) => Err(std::io::Error::from(e)),
        }
    }

    pub fn pending(&self) -> Option<Pending> {
        read_json(&self.path("pending.json"))
    }

    pub fn last(&self) -> Option<Last> {
        read_json(&self.path("last.json"))
    }

    pub fn write_pending(&self, p: &Pending) -> std::io::Result<()> {
        write_json(&self.path("pending.json"), p)
    }

    pub fn write_last(&self, last: &Last) -> std::io::Result<()> {
        write_json(&self.path("last.json"), last)
    }

    /// Removes what only a living guard needs.
    pub fn clear(&self) {
        for f in ["pending.json", "snapshot", "sock"] {
            let _ = std::fs::remove_file(self.path(f));
        }
    }

    /// Under a held lock: a `pending.json` left behind means its guard died
    /// without finishing. Says what that means, and removes it.
    pub fn clean_stale(&self) -> Option<String> {
        let pending = self.pending()?;
        let last = self.last().filter(|l| l.pid == pending.pid);
        self.clear();
        Some(match last {
            // The guard finished and died before it could tidy up.
            Some(last) => format!(
                "the `apply --confirm` of `{}` {} {}; removed its stale state",
                pending.file,
                self.words(),
                ended(&last.report)
            ),
            None => format!(
                "the guard of the `apply --confirm` of `{}` {} (pid {}, armed {}) died without a confirmation or a rollback, so that policy is still in place; removed its stale state",
                pending.file,
                self.words(),
                pending.pid,
                ago(pending.armed_unix_ms)
            ),
        })
    }

    /// Sends one request to the living guard and reads its answer.
    pub fn request(&self, req: &Request) -> std::io::Result<Report> {
        let mut stream = UnixStream::connect(self.path("sock"))?;
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        let mut line = serde_json::to_string(req).expect("requests always serialize");
        line.push('\n');
        stream.write_all(line.as_bytes())?;
        let mut answer = String::new();
        BufReader::new(stream).read_line(&mut answer)?;
        serde_json::from_str(&answer).map_err(|_| {
            std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the guard ended without an answer",
            )
        })
    }
}

/// How a window ended, as the end of a sentence.
pub(crate) fn ended(report: &Report) -> String {
    match report {
        Report::Confirmed { after_ms, seconds: s, by } => {
            format!("was confirmed after {} of {s} s, by {by}", seconds(*after_ms))
        }
        Report::RolledBack { after_ms, why, .. } => {
            format!("was rolled back after {} because {why}", seconds(*after_ms))
        }
        Report::RollbackFailed { after_ms, why, error, .. } => {
            format!("failed to roll back after {} (because {why}): {error}", seconds(*after_ms))
        }
        Report::Cancelled => "was cancelled before it applied anything".into(),
        Report::Armed | Report::Waiting { .. } | Report::Failed { .. } => "never applied".into(),
    }
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Option<T> {
    serde_json::from_slice(&std::fs::read(path).ok()?).ok()
}

/// Writes whole or not at all: a reader never sees half a file.
fn write_json<T: Serialize>(path: &Path, value: &T) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    let mut f =
        OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp)?;
    f.write_all(&serde_json::to_vec(value).expect("state always serializes"))?;
    f.sync_all()?;
    std::fs::rename(tmp, path)
}

/// FNV-1a: a stable hash for folder names (std's hasher may change between
/// Rust releases, and two shriekc builds must agree on the folder).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| (h ^ b as u64).wrapping_mul(0x0100_0000_01b3))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_namespace_names_keep_the_socket_path_short() {
        let long = "n".repeat(200);
        let place = Place::of(Some(&long));
        let name = place.dir.file_name().unwrap().to_string_lossy().into_owned();
        assert!(name.len() < 64, "{name}");
        assert_ne!(Place::of(Some(&format!("{long}x"))).dir, place.dir);
        assert!(Place::of(Some("demo")).dir.ends_with("confirm-netns-demo"));
        assert!(Place::of(None).dir.ends_with("confirm-host"));
    }

    #[test]
    fn reports_and_requests_are_one_json_line() {
        let r = Report::Confirmed { after_ms: 4200, seconds: 30, by: "Enter".into() };
        let line = serde_json::to_string(&r).unwrap();
        assert_eq!(line, r#"{"event":"confirmed","after_ms":4200,"seconds":30,"by":"Enter"}"#);
        assert_eq!(serde_json::from_str::<Report>(&line).unwrap(), r);
        let q = serde_json::to_string(&Request::Rollback { why: "SIGHUP".into() }).unwrap();
        assert_eq!(q, r#"{"request":"rollback","why":"SIGHUP"}"#);
    }

    #[test]
    fn endings_read_as_sentences() {
        let r = Report::RolledBack { after_ms: 30_012, seconds: 30, why: DEADLINE.into() };
        assert_eq!(ended(&r), "was rolled back after 30.0 s because the deadline passed");
        assert_eq!(ago(now_unix_ms() - 5_000), "5 s ago");
        assert_eq!(ago(now_unix_ms() - 600_000), "10 min ago");
    }
}
