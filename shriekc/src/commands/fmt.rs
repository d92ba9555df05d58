//! `shriekc fmt`: rewrite policies in the canonical layout.

use shriek_grammar::{SourceFile, SourceMap};

use super::{print_out, FINDINGS, INVALID, OK};
use crate::output::eprint_diagnostics;

pub fn fmt(files: &[String], check: bool, diff: bool) -> u8 {
    let mut code = OK;
    for file in files {
        let text = match std::fs::read_to_string(file) {
            Ok(text) => text,
            Err(e) => {
                eprintln!("error: cannot read `{file}`: {e}");
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
            eprintln!("error: `{file}` has syntax errors; not formatted");
            code = INVALID;
            continue;
        }
        let formatted = shriek_grammar::fmt::format(&ast, &text);
        if formatted == text {
            continue;
        }
        if diff {
            print_out(&unified_diff(file, &text, &formatted));
        }
        if check {
            eprintln!("would reformat {file}");
            code = code.max(FINDINGS);
        } else if !diff {
            if let Err(e) = std::fs::write(file, &formatted) {
                eprintln!("error: cannot write `{file}`: {e}");
                code = INVALID;
            }
        }
    }
    code
}

fn unified_diff(file: &str, old: &str, new: &str) -> String {
    similar::TextDiff::from_lines(old, new)
        .unified_diff()
        .context_radius(3)
        .header(&format!("a/{file}"), &format!("b/{file}"))
        .to_string()
}
