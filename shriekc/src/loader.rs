//! Reading policy files from disk for the compiler, which does no IO itself.

use std::path::{Path, PathBuf};

use shriek_compiler::resolve::{Loaded, Loader};

/// Larger files are refused before reading: a policy is text a person writes.
const MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;

/// Loads the entry file as named and each include relative to its includer.
#[derive(Default)]
pub struct FsLoader;

impl Loader for FsLoader {
    fn load(&mut self, path: &str, from: Option<&str>) -> Result<Loaded, String> {
        let full: PathBuf = match from {
            Some(includer) if Path::new(path).is_relative() => {
                Path::new(includer).parent().unwrap_or(Path::new("")).join(path)
            }
            _ => PathBuf::from(path),
        };
        let name = full.to_string_lossy().into_owned();
        let meta = std::fs::metadata(&full).map_err(|e| describe(&name, &e))?;
        if meta.is_dir() {
            return Err(format!("`{name}` is a directory, not a policy file"));
        }
        if meta.len() > MAX_FILE_BYTES {
            return Err(format!(
                "`{name}` is {} MiB; policy files are limited to {} MiB",
                meta.len() / (1024 * 1024),
                MAX_FILE_BYTES / (1024 * 1024)
            ));
        }
        let bytes = std::fs::read(&full).map_err(|e| describe(&name, &e))?;
        let text = String::from_utf8(bytes).map_err(|e| {
            format!(
                "`{name}` is not UTF-8 text (invalid byte at offset {})",
                e.utf8_error().valid_up_to()
            )
        })?;
        let key = std::fs::canonicalize(&full)
            .map_or_else(|_| name.clone(), |p| p.to_string_lossy().into_owned());
        Ok(Loaded { key, name, text })
    }
}

fn describe(name: &str, err: &std::io::Error) -> String {
    match err.kind() {
        std::io::ErrorKind::NotFound => format!("cannot find `{name}`"),
        std::io::ErrorKind::PermissionDenied => format!("no permission to read `{name}`"),
        _ => format!("cannot read `{name}`: {err}"),
    }
}
