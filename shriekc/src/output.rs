//! Printing diagnostics the way the user's terminal or CI wants them.

use std::io::IsTerminal;

use shriek_compiler::render;
use shriek_compiler::resolve::LoadError;
use shriek_grammar::{Diagnostic, Loc, SourceFile, SourceMap, Span};

/// Colour only for a terminal, and never when `NO_COLOR` is set.
pub fn color_stderr() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && std::io::stderr().is_terminal()
}

/// Print diagnostics for a person, on stderr.
pub fn eprint_diagnostics(diags: &[Diagnostic], sources: &SourceMap) {
    if diags.iter().any(|d| d.suppressed.is_none()) {
        eprint!("{}", render::render_text(diags, sources, color_stderr()));
    }
}

/// Print why the file `name` could not be read, as a diagnostic.
pub fn eprint_load_error(name: &str, err: LoadError) {
    let mut sources = SourceMap::new();
    let id = sources.add(SourceFile::new(name, ""));
    let mut d = Diagnostic::new(err.code, err.message, Loc::new(id, Span::default()), "");
    d.help = err.help;
    eprint_diagnostics(&[d], &sources);
}

/// Append `from`'s files to `into` and move `diags` along with them.
pub fn merge_sources(into: &mut SourceMap, from: &SourceMap, diags: &mut [Diagnostic]) {
    let offset = into.files().count() as u32;
    for (_, file) in from.files() {
        into.add(file.clone());
    }
    let shift = |loc: &mut Loc| loc.file.0 += offset;
    for d in diags {
        shift(&mut d.primary.loc);
        for r in &mut d.related {
            shift(&mut r.loc);
        }
    }
}
