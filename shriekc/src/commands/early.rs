//! Reading the live tables while the policy is still being parsed, for
//! `apply` and `plan`.
//!
//! Parsing and resolving a large policy keeps one core busy for a good part
//! of a second and leaves the other idle, and reading the tables back (the
//! kernel's dump, then decoding every rule) needs only the names of the
//! policy's tables. So those names are guessed from the entry file's text
//! first, and the tables read on a thread of their own. The reading is used
//! only when the resolved policy names exactly the guessed tables, in the
//! same order; otherwise it is dropped and the tables are read again, as
//! before. Either way the batch is guarded by the generation the reading
//! began at, so a change made meanwhile is refused, as for any reading.

use std::path::Path;
use std::sync::OnceLock;
use std::thread::JoinHandle;
use std::time::Instant;

use shriek_runtime::{Live, RuntimeError};

use crate::loader::{read_bytes, STDIN_PATH};

/// When the early reading that was used ended, for `SHRIEKC_PHASES` (a
/// sequential change's long pole is this reading, on its own thread).
pub(crate) static READ_ENDED: OnceLock<Instant> = OnceLock::new();

/// A reading of the guessed tables under way.
pub(crate) struct EarlyRead {
    names: Vec<String>,
    reading: JoinHandle<(Result<Live, RuntimeError>, Instant)>,
}

impl EarlyRead {
    /// Starts reading the tables the file at `file` seems to name, as the
    /// policy `key`; `None` when there is nothing worth guessing (standard
    /// input, which must be read once only, an include, which may name
    /// tables elsewhere, or a file that cannot be read as text).
    pub fn start(file: &str, key: &str, netns: Option<&str>) -> Option<EarlyRead> {
        if file == STDIN_PATH {
            return None;
        }
        let text = String::from_utf8(read_bytes(Path::new(file), file).ok()?).ok()?;
        let names = guess_tables(&text)?;
        let (guessed, key, netns) = (names.clone(), key.to_owned(), netns.map(str::to_owned));
        let reading = std::thread::Builder::new()
            .name("read-live".into())
            .spawn(move || {
                let live = shriek_runtime::read_live(&guessed, &key, netns.as_deref());
                (live, Instant::now())
            })
            .ok()?;
        Some(EarlyRead { names, reading })
    }

    /// The reading, when it read exactly the tables `names`; `None` when the
    /// guess was wrong (the thread is left to finish on its own).
    pub fn take(self, names: &[String]) -> Option<Result<Live, RuntimeError>> {
        if self.names != names {
            return None;
        }
        // A panic while reading is a bug of its own; read again rather than
        // hide it behind another message.
        let (live, ended) = self.reading.join().ok()?;
        let _ = READ_ENDED.set(ended);
        Some(live)
    }
}

/// The names after `table` at the start of a line, in order; `None` when
/// the file includes another or names no table. A wrong guess costs only a
/// reading that is not used.
fn guess_tables(text: &str) -> Option<Vec<String>> {
    let mut names = Vec::new();
    for line in text.lines() {
        let mut words = line.split_whitespace();
        match words.next() {
            Some("table") => {
                let name = words.next()?.trim_end_matches('{');
                names.push(name.to_owned());
            }
            Some("include") => return None,
            _ => {}
        }
    }
    (!names.is_empty()).then_some(names)
}

#[cfg(test)]
mod tests {
    use super::guess_tables;

    #[test]
    fn guesses_the_tables_a_file_names_in_order() {
        let text = "define web = 80\ntable a {\n  chain c { tcp dport 1 accept }\n}\ntable b{\n}\n";
        assert_eq!(guess_tables(text), Some(vec!["a".to_string(), "b".to_string()]));
    }

    #[test]
    fn does_not_guess_past_an_include_or_without_a_table() {
        assert_eq!(guess_tables("include \"x.shr\"\ntable a {\n}\n"), None);
        assert_eq!(guess_tables("define a = 1\n"), None);
    }
}
