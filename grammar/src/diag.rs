//! Diagnostics: the one error currency of every phase.
//!
//! A [`Diagnostic`] is plain data (code, severity, message, labelled
//! locations, help). Phases collect them in a `Vec` and go on, so a file's
//! every mistake is reported at once. Rendering (miette for people, JSON,
//! SARIF and GitHub annotations for machines) happens at the edge, in
//! `shriek_compiler::render`.
//!
//! Every kind of diagnostic is a [`Code`]: its stable code and name, its
//! severity and a one-line summary. Each phase declares its codes once, in
//! one [`Catalogue`] written with [`catalogue!`], and builds every
//! diagnostic from one of them ([`Diagnostic::new`]), so no code is ever
//! spelt twice. `docs/diagnostics.md` is checked against the catalogues.

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

/// One kind of diagnostic, as a phase's catalogue declares it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Code {
    /// Stable code, e.g. `E0201`.
    pub code: &'static str,
    /// Stable kebab-case name, e.g. `undefined-name`.
    pub name: &'static str,
    /// The severity every diagnostic of this kind has.
    pub severity: Severity,
    /// One line, lowercase, no final period: what it means. This is the
    /// "meaning" column of `docs/diagnostics.md`.
    pub summary: &'static str,
    /// The long explanation `shriekc explain` prints, where there is one.
    pub explain: Option<&'static str>,
}

/// Every code one phase reports, in code order.
#[derive(Clone, Copy, Debug)]
pub struct Catalogue {
    /// The common start of the codes, e.g. `E01`.
    pub prefix: &'static str,
    /// What the phase checks, as a heading: "Syntax".
    pub title: &'static str,
    /// Where the phase lives, e.g. `grammar/`.
    pub home: &'static str,
    pub codes: &'static [&'static Code],
}

impl Catalogue {
    /// The code called `name`, or with the code `name` (`E0201`).
    pub fn find(&self, name: &str) -> Option<&'static Code> {
        self.codes.iter().copied().find(|c| c.name == name || c.code == name)
    }
}

/// Declares a phase's codes: one `pub const NAME: &Code` per line, and the
/// [`Catalogue`] that lists them all, so no code can be declared without
/// being listed (and so documented).
///
/// ```
/// shriek_grammar::catalogue! {
///     /// The codes of an example phase.
///     pub CATALOGUE = "E09", "Examples", "nowhere/";
///     /// A doc comment for the constant, when it helps.
///     BAD_THING = "E0901", "bad-thing", Error, "something bad";
///     ODD_THING = "E0902", "odd-thing", Warning, "something odd", explain "a long text";
/// }
/// assert_eq!(CATALOGUE.codes[1].name, "odd-thing");
/// ```
#[macro_export]
macro_rules! catalogue {
    (
        $(#[$meta:meta])*
        $vis:vis $list:ident = $prefix:literal, $title:literal, $home:literal;
        $(
            $(#[$cmeta:meta])*
            $name:ident = $code:literal, $kebab:literal, $severity:ident, $summary:literal
                $(, explain $explain:expr)?;
        )*
    ) => {
        $(
            $(#[$cmeta])*
            $vis const $name: &$crate::diag::Code = &$crate::diag::Code {
                code: $code,
                name: $kebab,
                severity: $crate::diag::Severity::$severity,
                summary: $summary,
                explain: $crate::catalogue!(@explain $($explain)?),
            };
        )*
        $(#[$meta])*
        $vis const $list: $crate::diag::Catalogue = $crate::diag::Catalogue {
            prefix: $prefix,
            title: $title,
            home: $home,
            codes: &[$($name),*],
        };
    };
    (@explain) => { None };
    (@explain $explain:expr) => { Some($explain) };
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
    /// A diagnostic of kind `code`, with its severity, at `loc`.
    pub fn new(
        code: &'static Code,
        message: impl Into<String>,
        loc: Loc,
        label: impl Into<String>,
    ) -> Diagnostic {
        Diagnostic {
            code: code.code,
            name: code.name,
            severity: code.severity,
            message: message.into(),
            primary: Label { loc, message: label.into() },
            related: Vec::new(),
            help: None,
            suppressed: None,
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
    /// An error of kind `code` at `span`. The grammar reports only errors.
    pub fn new(
        code: &'static Code,
        message: impl Into<String>,
        span: Span,
        label: impl Into<String>,
    ) -> LocalDiagnostic {
        LocalDiagnostic {
            code: code.code,
            name: code.name,
            message: message.into(),
            span,
            label: label.into(),
            help: None,
        }
    }

    pub fn with_help(mut self, help: impl Into<String>) -> LocalDiagnostic {
        self.help = Some(help.into());
        self
    }

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
///
/// A candidate that differs only in case (`DROP`, `Established`) is nearest
/// of all: iptables writes its verdicts and states in capitals.
pub fn nearest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let candidates: Vec<&'a str> = candidates.into_iter().collect();
    if let Some(same) = candidates.iter().find(|c| c.eq_ignore_ascii_case(word)) {
        return Some(same);
    }
    let limit = (word.chars().count() / 3).max(1) + usize::from(word.len() > 5);
    candidates
        .into_iter()
        .map(|c| (levenshtein(word, c), c))
        .filter(|&(d, _)| d <= limit)
        .min_by_key(|&(d, c)| (d, c))
        .map(|(_, c)| c)
}
