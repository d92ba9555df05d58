//! Turning the bytes of a file into policy text, and saying why a file could
//! not be loaded. Every [`Loader`](super::Loader) reads bytes its own way
//! (the disk, git, memory) and hands them to [`text_of`], so the checks on
//! them are the same everywhere.

use shriek_grammar::Code;

use super::codes;
use super::limits::MAX_FILE_BYTES;

/// Why a loader could not give a file: the code and message of the error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadError {
    pub code: &'static Code,
    /// Lowercase, names the file: "`/dev/zero` is a character device, not a policy file".
    pub message: String,
    pub help: Option<String>,
}

impl LoadError {
    /// The file does not exist or cannot be read.
    pub fn not_found(message: impl Into<String>) -> LoadError {
        LoadError { code: codes::INCLUDE_NOT_FOUND, message: message.into(), help: None }
    }

    /// The path names something other than a regular file.
    pub fn not_a_file(name: &str, what: &str) -> LoadError {
        LoadError {
            code: codes::NOT_A_FILE,
            message: format!("`{name}` is {what}, not a policy file"),
            help: Some("name a policy file; `check -` reads a policy from standard input".into()),
        }
    }

    /// The file holds more than [`MAX_FILE_BYTES`].
    pub fn too_large(name: &str) -> LoadError {
        LoadError {
            code: codes::FILE_TOO_LARGE,
            message: format!("`{name}` is larger than {} MiB", MAX_FILE_BYTES >> 20),
            help: Some(format!(
                "a policy file holds at most {} MiB; split it into files that include each other",
                MAX_FILE_BYTES >> 20
            )),
        }
    }

    pub fn with_help(mut self, help: impl Into<String>) -> LoadError {
        self.help = Some(help.into());
        self
    }
}

/// A plain message is a file that could not be read.
impl From<String> for LoadError {
    fn from(message: String) -> LoadError {
        LoadError::not_found(message)
    }
}

/// The policy text in `bytes`, the content of the file `name`: at most
/// [`MAX_FILE_BYTES`] (a reader should read one byte more than that, never
/// trusting a length it was told), UTF-8, with a byte-order mark skipped.
/// An invalid byte is named by its line and column.
pub fn text_of(name: &str, mut bytes: Vec<u8>) -> Result<String, LoadError> {
    if bytes.len() > MAX_FILE_BYTES {
        return Err(LoadError::too_large(name));
    }
    if bytes.starts_with(b"\xEF\xBB\xBF") {
        bytes.drain(..3);
    }
    String::from_utf8(bytes).map_err(|e| {
        let bytes = e.as_bytes();
        let bad = e.utf8_error().valid_up_to();
        let valid = std::str::from_utf8(&bytes[..bad]).expect("valid up to the bad byte");
        let line = valid.matches('\n').count() + 1;
        let column = valid.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        LoadError {
            code: codes::NOT_UTF8,
            message: format!(
                "`{name}` is not UTF-8 text: byte 0x{:02x} at line {line}, column {column} is not valid UTF-8",
                bytes[bad]
            ),
            help: Some("save the policy as UTF-8 text".into()),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_byte_order_mark_is_skipped() {
        assert_eq!(text_of("a", b"\xEF\xBB\xBFtable t {}".to_vec()), Ok("table t {}".into()));
    }

    #[test]
    fn invalid_utf8_names_line_and_column() {
        let err = text_of("a.shr", b"table t {\n  \xC3\xA9\xFF }".to_vec()).unwrap_err();
        assert_eq!(err.code, codes::NOT_UTF8);
        assert_eq!(
            err.message,
            "`a.shr` is not UTF-8 text: byte 0xff at line 2, column 4 is not valid UTF-8"
        );
    }

    #[test]
    fn more_than_the_limit_is_too_large() {
        let err = text_of("big", vec![b' '; MAX_FILE_BYTES + 1]).unwrap_err();
        assert_eq!(err.code, codes::FILE_TOO_LARGE);
    }
}
