//! Reading policy files from disk for the compiler, which does no IO itself.
//!
//! A path is hostile until read: it may name a directory, a FIFO that never
//! sends, or a device that never ends (`/dev/zero`). Files are opened without
//! blocking, refused unless they are regular files, and read only up to the
//! size limit, whatever length the file claims; the bytes are then checked
//! by [`text_of`] like any loader's.

use std::fs::{File, FileType, OpenOptions};
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use shriek_compiler::resolve::limits::MAX_FILE_BYTES;
use shriek_compiler::resolve::{text_of, LoadError, Loaded, Loader};

/// The entry path that means standard input.
pub const STDIN_PATH: &str = "-";
/// How standard input is named in messages, and as the policy its
/// tables record (`apply -`).
pub const STDIN_NAME: &str = "<stdin>";

/// The bytes of standard input, at most one more than [`MAX_FILE_BYTES`],
/// and the name messages give it.
pub fn read_stdin() -> Result<(&'static str, Vec<u8>), LoadError> {
    let bytes = read_bounded(std::io::stdin().lock(), MAX_FILE_BYTES as u64)
        .map_err(|e| LoadError::not_found(format!("cannot read standard input: {e}")))?;
    Ok((STDIN_NAME, bytes))
}

/// Loads the entry file as named (`-` for standard input) and each include
/// relative to its includer.
#[derive(Default)]
pub struct FsLoader;

impl Loader for FsLoader {
    fn load(&mut self, path: &str, from: Option<&str>) -> Result<Loaded, LoadError> {
        if from.is_none() && path == STDIN_PATH {
            let (_, bytes) = read_stdin()?;
            let text = text_of(STDIN_NAME, bytes)?;
            return Ok(Loaded { key: STDIN_NAME.into(), name: STDIN_NAME.into(), text });
        }
        let full: PathBuf = match from {
            Some(includer) if Path::new(path).is_relative() => {
                Path::new(includer).parent().unwrap_or(Path::new("")).join(path)
            }
            _ => PathBuf::from(path),
        };
        let name = full.to_string_lossy().into_owned();
        let text = text_of(&name, read_bytes(&full, &name)?)?;
        let key = std::fs::canonicalize(&full)
            .map_or_else(|_| name.clone(), |p| p.to_string_lossy().into_owned());
        Ok(Loaded { key, name, text })
    }
}

/// The bytes of the regular file at `path` (called `name` in messages), at
/// most one more than [`MAX_FILE_BYTES`].
pub fn read_bytes(path: &Path, name: &str) -> Result<Vec<u8>, LoadError> {
    match open(path, name)? {
        Opened::File(file) => {
            read_bounded(file, MAX_FILE_BYTES as u64).map_err(|e| describe(name, &e))
        }
        Opened::Pipe(_) => Err(LoadError::not_a_file(name, "a FIFO")),
        Opened::Other(what) => Err(LoadError::not_a_file(name, what)),
    }
}

/// The bytes of a ruleset for `import` at `path` (`-`: standard input), at
/// most one more than `max`. A pipe is read too, so that
/// `shriekc import <(iptables-save)` works. A ruleset is text, so the first
/// NUL byte ends the read with an error: `/dev/zero` costs nothing.
pub fn read_ruleset(path: &str, name: &str, max: u64) -> Result<Vec<u8>, String> {
    if path == STDIN_PATH {
        return read_text(std::io::stdin().lock(), name, max);
    }
    match open(Path::new(path), name).map_err(|e| e.message)? {
        Opened::File(file) => read_text(file, name, max),
        Opened::Pipe(file) => {
            // Opened without blocking so that a FIFO nobody writes to cannot
            // hang the open; the reads may wait for the writer.
            nix::fcntl::fcntl(&file, nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::empty()))
                .map_err(|e| format!("cannot read `{name}`: {}", os_words(&e.into())))?;
            read_text(file, name, max)
        }
        Opened::Other(what) => Err(format!("`{name}` is {what}, not a ruleset")),
    }
}

/// A path opened for reading, by what it is.
enum Opened {
    File(File),
    /// A FIFO or pipe, still in non-blocking mode.
    Pipe(File),
    /// Anything else, in words.
    Other(&'static str),
}

fn open(path: &Path, name: &str) -> Result<Opened, LoadError> {
    // Without O_NONBLOCK, opening a FIFO waits for a writer, forever.
    let file = match OpenOptions::new().read(true).custom_flags(nix::libc::O_NONBLOCK).open(path) {
        Ok(file) => file,
        Err(e) => {
            return match std::fs::metadata(path) {
                Ok(meta) if !meta.is_file() => Ok(Opened::Other(kind(meta.file_type()))),
                _ => Err(describe(name, &e)),
            }
        }
    };
    let t = file.metadata().map_err(|e| describe(name, &e))?.file_type();
    Ok(if t.is_file() {
        Opened::File(file)
    } else if t.is_fifo() {
        Opened::Pipe(file)
    } else {
        Opened::Other(kind(t))
    })
}

/// Up to one byte more than `max`, so that a longer input is known to be
/// too long without reading it all.
fn read_bounded(reader: impl Read, max: u64) -> std::io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    reader.take(max + 1).read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// [`read_bounded`] for text, in chunks, refusing at the first NUL byte
/// and past `max`, with the message for each.
fn read_text(mut reader: impl Read, name: &str, max: u64) -> Result<Vec<u8>, String> {
    let mut bytes = Vec::new();
    let mut chunk = vec![0; 1 << 16];
    loop {
        let n = match reader.read(&mut chunk) {
            Ok(0) => return Ok(bytes),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(describe(name, &e).message),
        };
        if let Some(at) = chunk[..n].iter().position(|&b| b == 0) {
            return Err(format!(
                "`{name}` holds a NUL byte at offset {}: that is no ruleset, which is text",
                bytes.len() + at
            ));
        }
        bytes.extend_from_slice(&chunk[..n]);
        if bytes.len() as u64 > max {
            return Err(format!("`{name}` is over {} MiB; that is no ruleset", max >> 20));
        }
    }
}

/// What a path that is not a regular file is, in words.
fn kind(t: FileType) -> &'static str {
    if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_socket() {
        "a socket"
    } else {
        "something other than a file"
    }
}

fn describe(name: &str, err: &std::io::Error) -> LoadError {
    LoadError::not_found(match err.kind() {
        std::io::ErrorKind::NotFound => format!("cannot find `{name}`"),
        std::io::ErrorKind::PermissionDenied => format!("no permission to read `{name}`"),
        _ if err.raw_os_error() == Some(nix::libc::ELOOP) => {
            format!("`{name}` is a loop of symbolic links")
        }
        _ => format!("cannot read `{name}`: {}", os_words(err)),
    })
}

/// The system's words for `err` in the messages' style: lowercase, without
/// the "(os error N)" tail.
fn os_words(err: &std::io::Error) -> String {
    let text = err.to_string();
    let text = text.split(" (os error").next().unwrap_or(&text);
    let mut chars = text.chars();
    chars.next().map_or_else(String::new, |c| c.to_lowercase().chain(chars).collect())
}
