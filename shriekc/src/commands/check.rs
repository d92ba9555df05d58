//! `shriekc check`: parse, resolve and analyse policies, and print every finding.

use shriek_compiler::resolve;
use shriek_compiler::{analysis, render};
use shriek_grammar::{Diagnostic, Severity, SourceMap};

use super::{print_out, FINDINGS, INVALID, OK};
use crate::loader::{FsLoader, STDIN_PATH};
use crate::output::merge_sources;
use crate::Format;

pub fn check(files: &[String], format: Format, deny_warnings: bool) -> u8 {
    if files.iter().filter(|f| *f == STDIN_PATH).count() > 1 {
        eprintln!("error: `-` (standard input) is given more than once; it can be read only once");
        return INVALID;
    }
    let mut sources = SourceMap::new();
    let mut all = Vec::new();
    let mut invalid = false;
    for file in files {
        let frontend = resolve::load(file, &mut FsLoader);
        let mut diags = frontend.diagnostics;
        if diags.iter().any(|d| d.severity == Severity::Error) || frontend.policy.is_none() {
            invalid = true;
        }
        if let Some(policy) = &frontend.policy {
            diags.extend(analysis::analyze(policy));
        }
        merge_sources(&mut sources, &frontend.sources, &mut diags);
        all.extend(diags);
    }
    let out = match format {
        Format::Text => {
            let text = render::render_text(&all, &sources, crate::output::color_stderr());
            eprint!("{text}");
            summary_line(&all, files.len())
        }
        Format::Json => render::render_json(&all, &sources),
        Format::Sarif => render::render_sarif(&all, &sources, &analysis::descriptors()),
        Format::Github => render::render_github(&all, &sources),
    };
    print_out(&out);
    if invalid {
        return INVALID;
    }
    let counts = |d: &&Diagnostic| {
        d.suppressed.is_none()
            && (d.severity == Severity::Error || (deny_warnings && d.severity == Severity::Warning))
    };
    if all.iter().any(|d| counts(&d)) {
        FINDINGS
    } else {
        OK
    }
}

fn summary_line(diags: &[Diagnostic], files: usize) -> String {
    let live = diags.iter().filter(|d| d.suppressed.is_none());
    let (mut errors, mut warnings) = (0, 0);
    for d in live {
        match d.severity {
            Severity::Error => errors += 1,
            Severity::Warning => warnings += 1,
            Severity::Info => {}
        }
    }
    let suppressed = diags.iter().filter(|d| d.suppressed.is_some()).count();
    let files = if files == 1 { "1 file".to_string() } else { format!("{files} files") };
    let mut line = format!("checked {files}: {errors} error(s), {warnings} warning(s)");
    if suppressed > 0 {
        line.push_str(&format!(", {suppressed} suppressed"));
    }
    line.push('\n');
    line
}
