//! `shriekc fmt`: rewrite policies in the canonical layout.
//!
//! `-` reads standard input and writes the formatted policy to standard
//! output (there is no file to rewrite); `--check` and `--diff` work on it
//! as on a file.

use std::path::Path;

use shriek_compiler::resolve::text_of;
use shriek_grammar::{SourceFile, SourceMap};

use super::{print_out, FINDINGS, INVALID, OK};
use crate::loader::{read_bytes, read_stdin, STDIN_PATH};
use crate::output::{eprint_diagnostics, eprint_load_error};

/// The UTF-8 byte-order mark: skipped when reading, kept when rewriting.
const BOM: &[u8] = b"\xEF\xBB\xBF";

pub fn fmt(files: &[String], check: bool, diff: bool) -> u8 {
    if files.iter().filter(|f| *f == STDIN_PATH).count() > 1 {
        eprintln!("error: `-` (standard input) is given more than once; it can be read only once");
        return INVALID;
    }
    let mut code = OK;
    for given in files {
        let stdin = given == STDIN_PATH;
        let read = if stdin {
            read_stdin().map(|(name, bytes)| (name.to_string(), bytes))
        } else {
            read_bytes(Path::new(given), given).map(|bytes| (given.clone(), bytes))
        };
        let file = &read.as_ref().map_or_else(|_| given.clone(), |(name, _)| name.clone());
        let read = read.and_then(|(name, bytes)| {
            let bom = bytes.starts_with(BOM);
            text_of(&name, bytes).map(|text| (bom, text))
        });
        let (bom, text) = match read {
            Ok(read) => read,
            Err(err) => {
                eprint_load_error(file, err);
                code = INVALID;
                continue;
            }
        };
        let (ast, errors) = shriek_grammar::parse(&text);
        if !errors.is_empty() {
            let mut sources = SourceMap::new();
            let id = sources.add(SourceFile::new(file.clone(), text.clone()));
            let diags: Vec<_> = errors.into_iter().map(|e| e.at_file(id)).collect();
            eprint_diagnostics(&diags, &sources);
            eprintln!(
                "error: `{}` has syntax errors; not formatted",
                shriek_grammar::visible(file)
            );
            code = INVALID;
            continue;
        }
        let formatted = shriek_grammar::fmt::format(&ast, &text);
        if stdin && !check && !diff {
            // Standard input has no file to rewrite: the policy goes out.
            print_out(&format!("{}{formatted}", if bom { "\u{feff}" } else { "" }));
            continue;
        }
        if formatted == text {
            continue;
        }
        if diff {
            print_out(&unified_diff(file, &text, &formatted));
        }
        if check {
            eprintln!("would reformat {}", shriek_grammar::visible(file));
            code = code.max(FINDINGS);
        } else if !diff {
            let bytes = [if bom { BOM } else { b"" }, formatted.as_bytes()].concat();
            if let Err(e) = std::fs::write(file, bytes) {
                eprintln!("error: cannot write `{}`: {e}", shriek_grammar::visible(file));
                code = INVALID;
            }
        }
    }
    code
}

/// A unified diff with git's headers: `a/PATH` and `b/PATH`, where PATH has
/// no leading `/` or `./`, so that `git apply` and `patch -p1` take it.
fn unified_diff(file: &str, old: &str, new: &str) -> String {
    let mut path = file.trim_start_matches('/');
    while let Some(rest) = path.strip_prefix("./") {
        path = rest.trim_start_matches('/');
    }
    similar::TextDiff::from_lines(old, new)
        .unified_diff()
        .context_radius(3)
        .header(&format!("a/{path}"), &format!("b/{path}"))
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::unified_diff;

    #[test]
    fn diff_headers_of_absolute_and_dotted_paths_are_git_style() {
        for (file, path) in
            [("/abs/p.shr", "abs/p.shr"), ("./p.shr", "p.shr"), ("d/p.shr", "d/p.shr")]
        {
            let diff = unified_diff(file, "a\n", "b\n");
            assert!(diff.starts_with(&format!("--- a/{path}\n+++ b/{path}\n")), "{diff}");
        }
    }
}
