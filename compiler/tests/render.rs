//! Text rendering as the user sees it: the first place a report names is
//! its own, output is capped per kind while machine formats stay complete,
//! and reading only the lines a report shows prints exactly what miette
//! printed reading the whole text.

use std::fmt;

use miette::{GraphicalReportHandler, GraphicalTheme, LabeledSpan, NamedSource, SourceSpan};
use proptest::prelude::*;
use shriek_compiler::render::{render_github, render_json, render_text, TEXT_LIMIT};
use shriek_compiler::{analysis, resolve};
use shriek_grammar::visible::Shown;
use shriek_grammar::{Diagnostic, Loc, Severity, SourceFile, SourceMap, Span};

/// A shadowed rule far below the rules that cover it: miette would show the
/// blockers' snippet first, headed with their place.
const FAR_APART: &str = "table filter {
  chain input hook input policy accept {
    tcp dport 1-1000 drop
    udp dport 53 accept
    udp dport 54 accept
    udp dport 55 accept
    udp dport 56 accept
    udp dport 57 accept
    udp dport 58 accept
    tcp dport 500-600 accept
  }
}
";

#[test]
fn first_header_names_the_findings_own_place() {
    let fe = resolve::resolve_str("policy.shr", FAR_APART);
    let findings = analysis::analyze(fe.policy.as_ref().expect("resolves"));
    let text = render_text(&findings, &fe.sources, false);
    let first_header = text.lines().find(|l| l.contains("╭─[")).expect("a header");
    assert!(first_header.contains("[policy.shr:10:5]"), "{text}");
    shriek_testkit::snapshot!("render", "first_header_names_the_findings_own_place", text);
}

#[test]
fn text_is_capped_per_kind_and_machine_formats_are_complete() {
    let mut src = String::from("table t {\n  chain c {\n");
    for i in 0..TEXT_LIMIT + 50 {
        src += &format!("    tcp dport {} accept\n", 70_000 + i);
    }
    src += "    jump nowhere\n  }\n}\n";
    let fe = resolve::resolve_str("many.shr", &src);
    let text = render_text(&fe.diagnostics, &fe.sources, false);
    assert_eq!(text.matches("E0220(value-out-of-range)\n").count(), TEXT_LIMIT);
    assert_eq!(text.matches("E0210(unknown-chain)\n").count(), 1);
    assert!(text.ends_with(
        "\nand 50 more E0220(value-out-of-range) of the same kind; `--format json` lists every one\n"
    ));
    let json = render_json(&fe.diagnostics, &fe.sources);
    assert_eq!(json.matches("\"code\": \"E0220\"").count(), TEXT_LIMIT + 50);
    let github = render_github(&fe.diagnostics, &fe.sources);
    assert_eq!(github.lines().count(), TEXT_LIMIT + 51);
}

/// A hostile policy: an escape sequence that clears the screen and retitles
/// the terminal in a log prefix, before the value an error is about, a NUL, a lone carriage return that would
/// overwrite the line, and a bidi override in a chain name the message
/// quotes. The user sees every one of them written out, and each label
/// still underlines what it names.
#[test]
fn hidden_characters_are_shown_escaped_and_labels_stay_in_place() {
    let src = "table t {\n  chain c {\n    log prefix \"\u{1b}[2J\u{1b}]0;pwned\u{7}\" tcp dport 99999 accept\n    \
               udp dport 70000\u{0} accept\r    tcp dport 1 accept\n    jump ev\u{202e}li\n  }\n}\n";
    let fe = resolve::resolve_str("hostile\u{1b}[31m.shr", src);
    let text = render_text(&fe.diagnostics, &fe.sources, false);
    for hidden in ['\u{1b}', '\u{0}', '\r', '\u{7}', '\u{202e}'] {
        assert!(!text.contains(hidden), "{hidden:?} reaches the terminal:\n{text}");
    }
    let github = render_github(&fe.diagnostics, &fe.sources);
    assert!(!github.contains('\u{1b}') && !github.contains('\u{202e}'), "{github}");
    // Machine formats keep the text as it is, escaped by JSON's own rules.
    let json = render_json(&fe.diagnostics, &fe.sources);
    assert!(json.contains(r#""file": "hostile\u001b[31m.shr""#), "{json}");
    shriek_testkit::snapshot!("render", "hidden_characters_are_shown_escaped", text);
}

/// One diagnostic as miette renders it from the whole text, the way
/// `render_text` did before it read only the lines it shows.
#[derive(Debug)]
struct Whole {
    source: NamedSource<String>,
    label: LabeledSpan,
}

impl fmt::Display for Whole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("message")
    }
}

impl std::error::Error for Whole {}

impl miette::Diagnostic for Whole {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new("E0101(syntax-error)"))
    }
    fn severity(&self) -> Option<miette::Severity> {
        Some(miette::Severity::Error)
    }
    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        Some(&self.source)
    }
    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        Some(Box::new(std::iter::once(self.label.clone())))
    }
}

fn whole(text: &str, span: Span) -> String {
    let handler = GraphicalReportHandler::new_themed(GraphicalTheme::unicode_nocolor())
        .with_width(100)
        .with_links(false)
        .without_syntax_highlighting();
    let report = Whole {
        source: NamedSource::new("f.shr", text.to_string()),
        label: LabeledSpan::new_primary_with_span(
            Some("here".into()),
            SourceSpan::new((span.start as usize).into(), span.len()),
        ),
    };
    let mut out = String::new();
    handler.render_report(&mut out, &report).expect("renders into a string");
    out.lines().map(|l| format!("{}\n", l.trim_end())).collect()
}

fn ours(text: &str, span: Span) -> String {
    let mut sources = SourceMap::new();
    let file = sources.add(SourceFile::new("f.shr", text));
    let d = Diagnostic {
        code: "E0101",
        name: "syntax-error",
        severity: Severity::Error,
        message: "message".into(),
        primary: shriek_grammar::Label { loc: Loc::new(file, span), message: "here".into() },
        related: Vec::new(),
        help: None,
        suppressed: None,
    };
    render_text(&[d], &sources, false)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    /// Lines of words, with every kind of line break miette knows and some
    /// characters wider than a byte; a lone `\r` is not a break of ours, and
    /// is shown escaped.
    #[test]
    fn a_window_renders_as_the_whole_text_does(
        lines in prop::collection::vec("[a-z é{}]{0,12}", 1..12),
        breaks in prop::collection::vec(prop::sample::select(vec!["\n", "\r\n", "\r"]), 12),
        start in 0usize..200,
        len in 0usize..30,
    ) {
        let mut text = String::new();
        for (line, brk) in lines.iter().zip(&breaks) {
            text += line;
            text += brk;
        }
        let mut start = start.min(text.len());
        while !text.is_char_boundary(start) {
            start -= 1;
        }
        let mut end = (start + len).min(text.len());
        while !text.is_char_boundary(end) {
            end += 1;
        }
        let span = Span::new(start, end);
        // A lone `\r` is shown escaped: miette is given the text as shown.
        let shown = Shown::new(&text);
        let moved = Span::new(
            shown.offset(span.start) as usize,
            shown.offset(span.end) as usize,
        );
        prop_assert_eq!(ours(&text, span), whole(&shown.text, moved));
    }

    /// Whatever hidden characters a file holds and wherever a label falls,
    /// the text output holds none of them.
    #[test]
    fn no_hidden_character_reaches_the_text(
        lines in prop::collection::vec("[a-z \u{1b}\u{0}\r\u{7f}\u{9b}\u{202e}\u{200b}é]{0,12}", 1..8),
        crlf in prop::collection::vec(any::<bool>(), 8),
        start in 0usize..120,
        len in 0usize..30,
    ) {
        let mut text = String::new();
        for (line, crlf) in lines.iter().zip(&crlf) {
            text += line;
            text += if *crlf { "\r\n" } else { "\n" };
        }
        let mut start = start.min(text.len());
        while !text.is_char_boundary(start) {
            start -= 1;
        }
        let mut end = (start + len).min(text.len());
        while !text.is_char_boundary(end) {
            end += 1;
        }
        let out = ours(&text, Span::new(start, end));
        prop_assert!(!out.chars().any(shriek_grammar::visible::is_hidden), "{out:?}");
    }
}
