//! Diagnostics: the one error currency of every phase.
//!
//! A [`Diagnostic`] is plain data (code, severity, message, labelled
//! locations, help). Phases collect them in a `Vec` and go on, so a file's
//! every mistake is reported at once. Rendering (miette for people, JSON,
//! SARIF and GitHub annotations for machines) happens at the edge, in
//! `shriek_compiler::render`.

use crate::span::{FileId, Loc, Span};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Error,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Label {
    pub loc: Loc,
    pub message: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// Stable code, e.g. `E0201`. Documented in docs/diagnostics.md.
    pub code: &'static str,
    /// Stable kebab-case name, e.g. `undefined-name`, `shadowed-rule`.
    pub name: &'static str,
    pub severity: Severity,
    /// Lowercase, no final period: "undefined name `$webb`".
    pub message: String,
    /// Where the problem is. The first label's location is the finding's location.
    pub primary: Label,
    /// Other places that explain it (the other end of a cycle, blocking rules).
    pub related: Vec<Label>,
    /// How to fix it, when known.
    pub help: Option<String>,
    /// Set when an inline `# shriek: allow(NAME) reason="..."` silences this
    /// finding: the reason given. Suppressed findings are left out of text,
    /// JSON and GitHub output and the exit code, and appear as SARIF
    /// `suppressions`.
    pub suppressed: Option<String>,
}

impl Diagnostic {
    pub fn error(
        code: &'static str,
        name: &'static str,
        message: impl Into<String>,
        loc: Loc,
        label: impl Into<String>,
    ) -> Diagnostic {
        Diagnostic {
            code,
            name,
            severity: Severity::Error,
            message: message.into(),
            primary: Label { loc, message: label.into() },
            related: Vec::new(),
            help: None,
            suppressed: None,
        }
    }

    pub fn warning(
        code: &'static str,
        name: &'static str,
        message: impl Into<String>,
        loc: Loc,
        label: impl Into<String>,
    ) -> Diagnostic {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(code, name, message, loc, label)
        }
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Diagnostic {
        self.help = Some(help.into());
        self
    }

    pub fn with_related(mut self, loc: Loc, message: impl Into<String>) -> Diagnostic {
        self.related.push(Label { loc, message: message.into() });
        self
    }

    pub fn loc(&self) -> Loc {
        self.primary.loc
    }
}

/// A diagnostic that does not know its file yet (the grammar works on one
/// text at a time); the caller places it with [`Diagnostic::in_file`]-style
/// conversion via [`LocalDiagnostic::at_file`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalDiagnostic {
    pub code: &'static str,
    pub name: &'static str,
    pub message: String,
    pub span: Span,
    pub label: String,
    pub help: Option<String>,
}

impl LocalDiagnostic {
    pub fn at_file(self, file: FileId) -> Diagnostic {
        Diagnostic {
            code: self.code,
            name: self.name,
            severity: Severity::Error,
            message: self.message,
            primary: Label { loc: Loc::new(file, self.span), message: self.label },
            related: Vec::new(),
            help: self.help,
            suppressed: None,
        }
    }
}

/// The edit distance used for "did you mean" suggestions.
pub fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != cb)).min(row[j] + 1).min(row[j + 1] + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

/// The candidate closest to `word`, if it is close enough to be a likely typo.
pub fn nearest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let limit = (word.chars().count() / 3).max(1) + usize::from(word.len() > 5);
    candidates
        .into_iter()
        .map(|c| (levenshtein(word, c), c))
        .filter(|&(d, _)| d <= limit)
        .min_by_key(|&(d, c)| (d, c))
        .map(|(_, c)| c)
}
