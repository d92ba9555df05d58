//! How diagnostics look: miette reports for people; JSON, SARIF 2.1.0 and
//! GitHub workflow commands for machines.
//!
//! Every renderer is deterministic (same input, same bytes). Suppressed
//! findings are left out of text, JSON and GitHub output; SARIF keeps them
//! with an `inSource` suppression so code-scanning shows why they are quiet.

mod snippet;

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use miette::{GraphicalReportHandler, GraphicalTheme, LabeledSpan, SourceSpan};
use serde::Serialize;
use serde_json::json;

use shriek_grammar::{Diagnostic, Loc, Severity, SourceMap};

/// One finding kind, as SARIF's `tool.driver.rules` lists it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RuleDescriptor {
    pub code: &'static str,
    pub name: &'static str,
    pub summary: &'static str,
}

const INFORMATION_URI: &str = "https://github.com/shriek-fw/shriek";

/// At most this many diagnostics of one code are printed as text; the rest
/// are counted in one line. JSON, SARIF and GitHub output list every one.
pub const TEXT_LIMIT: usize = 100;

/// How many diagnostics of `code` are printed as text. Past the analysis's
/// work budget every later rule gets `analysis-budget`, thousands of
/// reports saying the same: the first says why and what to do, the rest
/// are counted, and JSON names each rule.
fn text_limit(code: &str) -> usize {
    if code == crate::analysis::codes::ANALYSIS_BUDGET.code {
        1
    } else {
        TEXT_LIMIT
    }
}

/// Render for a terminal: one miette report per unsuppressed diagnostic, at
/// most [`TEXT_LIMIT`] of each code (one `analysis-budget`), then one "and N more" line per code
/// that had more. Without color the output is plain unicode at width 100,
/// for snapshots.
///
/// The cost is linear in the diagnostics and the files: each file's lines
/// are indexed once, and a report reads only the lines it shows.
pub fn render_text(diags: &[Diagnostic], sources: &SourceMap, color: bool) -> String {
    let theme = if color { GraphicalTheme::unicode() } else { GraphicalTheme::unicode_nocolor() };
    let handler = GraphicalReportHandler::new_themed(theme)
        .with_width(100)
        .with_links(false)
        .without_syntax_highlighting();
    let lines: Vec<snippet::Lines> = sources.files().map(|(_, f)| snippet::Lines::new(f)).collect();
    let mut shown: HashMap<&str, usize> = HashMap::new();
    let mut hidden: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    let mut out = String::new();
    for d in diags.iter().filter(|d| d.suppressed.is_none()) {
        let count = shown.entry(d.code).or_default();
        if *count >= text_limit(d.code) {
            *hidden.entry((d.code, d.name)).or_default() += 1;
            continue;
        }
        *count += 1;
        let report = Report::new(d, sources, &lines);
        let mut one = String::new();
        if handler.render_report(&mut one, &report).is_err() {
            // Rendering into a String cannot fail on IO; fall back to one line anyway.
            one = format!("{}[{}]: {}\n", d.severity.as_str(), d.code, elide(&d.message));
        }
        if !out.is_empty() {
            out.push('\n');
        }
        // miette ends lines with trailing spaces in places; snapshots should not care.
        for line in one.lines() {
            out.push_str(line.trim_end());
            out.push('\n');
        }
    }
    if !hidden.is_empty() {
        out.push('\n');
    }
    for ((code, name), n) in hidden {
        out.push_str(&format!(
            "and {n} more {code}({name}) of the same kind; `--format json` lists every one\n"
        ));
    }
    out
}

/// A diagnostic as miette wants it: labels in the primary file, and one
/// related report per label in another file, or so far above the primary
/// place in the same file that it would be shown first: the first location
/// a report names is always the diagnostic's own.
#[derive(Debug)]
struct Report<'s> {
    code: String,
    message: String,
    severity: miette::Severity,
    help: Option<String>,
    source: snippet::Snippet<'s>,
    labels: Vec<LabeledSpan>,
    related: Vec<Report<'s>>,
}

impl<'s> Report<'s> {
    fn new(d: &Diagnostic, sources: &'s SourceMap, lines: &'s [snippet::Lines<'s>]) -> Report<'s> {
        // Every place in the text as the snippets show it (hidden characters
        // escaped), so that each label still underlines what it names.
        let shown = |loc: Loc| lines[loc.file.0 as usize].shown(loc);
        let primary = shown(d.primary.loc);
        let file = primary.file;
        let source = snippet::Snippet::new(sources.get(file), &lines[file.0 as usize]);
        let same_file: Vec<Loc> =
            d.related.iter().map(|l| shown(l.loc)).filter(|l| l.file == file).collect();
        let apart = source.shown_apart(primary.span, &same_file);
        let mut labels =
            vec![LabeledSpan::new_primary_with_span(non_empty(&d.primary.message), span(primary))];
        let mut related = Vec::new();
        for l in &d.related {
            let loc = shown(l.loc);
            if loc.file == file && !apart.contains(&loc) {
                labels.push(LabeledSpan::new_with_span(non_empty(&l.message), span(loc)));
            } else {
                related.push(Report {
                    code: String::new(),
                    message: elide(&l.message),
                    severity: miette::Severity::Advice,
                    help: None,
                    source: snippet::Snippet::new(
                        sources.get(loc.file),
                        &lines[loc.file.0 as usize],
                    ),
                    labels: vec![LabeledSpan::new_primary_with_span(None, span(loc))],
                    related: Vec::new(),
                });
            }
        }
        Report {
            code: format!("{}({})", d.code, d.name),
            message: elide(&d.message),
            severity: match d.severity {
                Severity::Error => miette::Severity::Error,
                Severity::Warning => miette::Severity::Warning,
                Severity::Info => miette::Severity::Advice,
            },
            help: d.help.as_deref().map(elide),
            source,
            labels,
            related,
        }
    }
}

fn non_empty(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| elide(s))
}

/// Words longer than this many characters are shortened in text output.
const LONG_WORD: usize = 200;

/// `s` with its hidden characters escaped ([`shriek_grammar::visible`]) and
/// each word longer than [`LONG_WORD`] characters cut to its start and end
/// around `…`: a message that quotes a megabyte-long word the user wrote
/// stays readable, and one that quotes an escape sequence cannot rewrite the
/// terminal. Only text output is changed.
fn elide(s: &str) -> String {
    let s = &*shriek_grammar::visible(s);
    if s.len() <= LONG_WORD {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len().min(4 * LONG_WORD));
    for piece in s.split_inclusive(char::is_whitespace) {
        let word = piece.trim_end_matches(char::is_whitespace);
        let count = word.chars().count();
        if count <= LONG_WORD {
            out.push_str(piece);
            continue;
        }
        let head: String = word.chars().take(LONG_WORD / 2).collect();
        let tail: String = word.chars().skip(count - LONG_WORD / 5).collect();
        out.push_str(&format!("{head}…{tail} ({count} characters)"));
        out.push_str(&piece[word.len()..]);
    }
    out
}

/// A label's span for miette; an absurdly long one (a megabyte-long word) is
/// cut, so the underline stays readable.
fn span(loc: Loc) -> SourceSpan {
    SourceSpan::new((loc.span.start as usize).into(), loc.span.len().min(snippet::MAX_LABEL))
}

impl fmt::Display for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Report<'_> {}

impl miette::Diagnostic for Report<'_> {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        (!self.code.is_empty()).then(|| Box::new(&self.code) as Box<dyn fmt::Display>)
    }

    fn severity(&self) -> Option<miette::Severity> {
        Some(self.severity)
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.help.as_ref().map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        Some(&self.source)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        Some(Box::new(self.labels.iter().cloned()))
    }

    fn related<'a>(&'a self) -> Option<Box<dyn Iterator<Item = &'a dyn miette::Diagnostic> + 'a>> {
        if self.related.is_empty() {
            return None;
        }
        Some(Box::new(self.related.iter().map(|r| r as &dyn miette::Diagnostic)))
    }
}

/// 1-based line and column of a location's start and end.
fn position(sources: &SourceMap, loc: Loc) -> (usize, usize, usize, usize) {
    let file = sources.get(loc.file);
    let (line, column) = file.line_col(loc.span.start);
    let (end_line, end_column) = file.line_col(loc.span.end);
    (line, column, end_line, end_column)
}

#[derive(Serialize)]
struct JsonOut<'a> {
    findings: Vec<JsonFinding<'a>>,
    summary: JsonSummary,
}

#[derive(Serialize)]
struct JsonFinding<'a> {
    code: &'a str,
    name: &'a str,
    severity: &'a str,
    message: &'a str,
    file: &'a str,
    line: usize,
    column: usize,
    end_line: usize,
    end_column: usize,
    related: Vec<JsonRelated<'a>>,
    help: Option<&'a str>,
}

#[derive(Serialize)]
struct JsonRelated<'a> {
    file: &'a str,
    line: usize,
    column: usize,
    message: &'a str,
}

#[derive(Serialize)]
struct JsonSummary {
    errors: usize,
    warnings: usize,
}

/// The stable JSON contract: `{"findings": [...], "summary": {"errors", "warnings"}}`.
pub fn render_json(diags: &[Diagnostic], sources: &SourceMap) -> String {
    let shown: Vec<&Diagnostic> = diags.iter().filter(|d| d.suppressed.is_none()).collect();
    let findings = shown
        .iter()
        .map(|d| {
            let (line, column, end_line, end_column) = position(sources, d.primary.loc);
            JsonFinding {
                code: d.code,
                name: d.name,
                severity: d.severity.as_str(),
                message: &d.message,
                file: &sources.get(d.primary.loc.file).name,
                line,
                column,
                end_line,
                end_column,
                related: d
                    .related
                    .iter()
                    .map(|r| {
                        let (line, column, _, _) = position(sources, r.loc);
                        JsonRelated {
                            file: &sources.get(r.loc.file).name,
                            line,
                            column,
                            message: &r.message,
                        }
                    })
                    .collect(),
                help: d.help.as_deref(),
            }
        })
        .collect();
    let count = |s: Severity| shown.iter().filter(|d| d.severity == s).count();
    let out = JsonOut {
        findings,
        summary: JsonSummary { errors: count(Severity::Error), warnings: count(Severity::Warning) },
    };
    serde_json::to_string_pretty(&out).expect("plain structs always serialize") + "\n"
}

/// SARIF 2.1.0 with one run; suppressed findings carry an `inSource` suppression.
pub fn render_sarif(diags: &[Diagnostic], sources: &SourceMap, rules: &[RuleDescriptor]) -> String {
    let location = |loc: Loc, message: Option<&str>| {
        let (line, column, end_line, end_column) = position(sources, loc);
        let mut l = json!({
            "physicalLocation": {
                "artifactLocation": { "uri": sources.get(loc.file).name },
                "region": {
                    "startLine": line,
                    "startColumn": column,
                    "endLine": end_line,
                    "endColumn": end_column,
                },
            },
        });
        if let Some(m) = message.filter(|m| !m.is_empty()) {
            l["message"] = json!({ "text": m });
        }
        l
    };
    let results: Vec<serde_json::Value> = diags
        .iter()
        .map(|d| {
            let mut text = d.message.clone();
            if let Some(help) = &d.help {
                text.push_str("\nhelp: ");
                text.push_str(help);
            }
            let mut r = json!({
                "ruleId": d.name,
                "level": match d.severity {
                    Severity::Error => "error",
                    Severity::Warning => "warning",
                    Severity::Info => "note",
                },
                "message": { "text": text },
                "locations": [location(d.primary.loc, None)],
                "properties": { "code": d.code },
            });
            if !d.related.is_empty() {
                r["relatedLocations"] = d
                    .related
                    .iter()
                    .enumerate()
                    .map(|(i, l)| {
                        let mut v = location(l.loc, Some(&l.message));
                        v["id"] = json!(i);
                        v
                    })
                    .collect();
            }
            if let Some(reason) = &d.suppressed {
                r["suppressions"] = json!([{ "kind": "inSource", "justification": reason }]);
            }
            r
        })
        .collect();
    let rules: Vec<serde_json::Value> = rules
        .iter()
        .map(|r| {
            json!({
                "id": r.name,
                "name": r.name,
                "shortDescription": { "text": r.summary },
                "properties": { "code": r.code },
            })
        })
        .collect();
    let sarif = json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {
                "driver": {
                    "name": "shriekc",
                    "informationUri": INFORMATION_URI,
                    "version": env!("CARGO_PKG_VERSION"),
                    "rules": rules,
                },
            },
            "results": results,
        }],
    });
    serde_json::to_string_pretty(&sarif).expect("json values always serialize") + "\n"
}

/// GitHub Actions workflow commands, one line per unsuppressed finding.
pub fn render_github(diags: &[Diagnostic], sources: &SourceMap) -> String {
    let mut out = String::new();
    for d in diags.iter().filter(|d| d.suppressed.is_none()) {
        let (line, column, end_line, end_column) = position(sources, d.primary.loc);
        let level = match d.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "notice",
        };
        let mut message = format!("{} {}", d.code, d.message);
        if let Some(help) = &d.help {
            message.push_str("\nhelp: ");
            message.push_str(help);
        }
        out.push_str(&format!(
            "::{level} file={},line={line},col={column},endLine={end_line},endColumn={end_column},title={}::{}\n",
            escape_property(&sources.get(d.primary.loc.file).name),
            escape_property(d.name),
            escape_data(&message),
        ));
    }
    out
}

/// A workflow command's data: its own escapes, and hidden characters
/// written out, since the log shows it on a terminal of its own.
fn escape_data(s: &str) -> String {
    shriek_grammar::visible(s).replace('%', "%25").replace('\r', "%0D").replace('\n', "%0A")
}

fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}
