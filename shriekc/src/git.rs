//! Reading a policy as it was at a git revision: `origin/main:fw/policy.shr`,
//! includes too, through `git cat-file blob REV:PATH` (the bytes committed,
//! with no filters).
//!
//! Paths are the repository's, from its root, as git reads `REV:PATH`; an
//! entry path written `./x` or `../x` is taken from the current folder, as
//! git does. Includes are relative to the including file, as on disk.

use std::process::Command;

use shriek_compiler::resolve::{include_key, text_of, LoadError, Loaded, Loader};

/// `REV:PATH` split at the first `:`, when `arg` reads as one.
pub fn rev_path(arg: &str) -> Option<(&str, &str)> {
    let (rev, path) = arg.split_once(':')?;
    (!rev.is_empty() && !path.is_empty()).then_some((rev, path))
}

pub struct GitLoader {
    rev: String,
}

impl GitLoader {
    pub fn new(rev: &str) -> GitLoader {
        GitLoader { rev: rev.to_string() }
    }

    fn key(&self, path: &str) -> String {
        format!("{}:{path}", self.rev)
    }
}

impl Loader for GitLoader {
    fn load(&mut self, path: &str, from: Option<&str>) -> Result<Loaded, LoadError> {
        let rev = self.rev.as_str();
        let from_path = from.map(|f| f.strip_prefix(&format!("{rev}:")).unwrap_or(f));
        let path = match from_path {
            None if path.starts_with("./") || path.starts_with("../") => {
                format!("{}{path}", cwd_prefix()?)
            }
            _ => path.to_string(),
        };
        if path.starts_with('/') {
            return Err(format!(
                "`{path}` is an absolute path, which cannot be read at git revision `{rev}`: write it relative to the including file"
            )
            .into());
        }
        let path = include_key(&path, from_path);
        if path == ".." || path.starts_with("../") {
            return Err(format!("`{path}` is outside the git repository").into());
        }
        let key = self.key(&path);
        let out = Command::new("git")
            .args(["cat-file", "blob", &key])
            .output()
            .map_err(|e| format!("cannot run git to read `{key}`: {e}"))?;
        if !out.status.success() {
            return Err(git_error(rev, &path, &String::from_utf8_lossy(&out.stderr)).into());
        }
        let text = text_of(&key, out.stdout)?;
        Ok(Loaded { key: key.clone(), name: key, text })
    }
}

/// The current folder relative to the repository's root, `""` or `fw/`.
fn cwd_prefix() -> Result<String, String> {
    let out = Command::new("git")
        .args(["rev-parse", "--show-prefix"])
        .output()
        .map_err(|e| format!("cannot run git: {e}"))?;
    if !out.status.success() {
        return Err("not inside a git repository, so `REV:PATH` cannot be read".into());
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// git's complaint in plain words.
fn git_error(rev: &str, path: &str, stderr: &str) -> String {
    if stderr.contains("not a git repository") {
        return "not inside a git repository, so `REV:PATH` cannot be read".into();
    }
    if stderr.contains("does not exist in") || stderr.contains("exists on disk, but not in") {
        return format!("cannot find `{path}` at git revision `{rev}`");
    }
    if stderr.contains("invalid object name") || stderr.contains("unknown revision") {
        return format!("`{rev}` is not a git revision here");
    }
    if stderr.contains("bad file") {
        return format!("`{path}` at git revision `{rev}` is a directory, not a policy file");
    }
    let first = stderr.lines().next().unwrap_or("").trim_start_matches("fatal: ");
    format!("cannot read `{rev}:{path}` from git: {first}")
}
