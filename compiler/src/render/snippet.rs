//! The source text miette reads for a report, indexed once per file so that
//! a report costs what it shows, not the size of its file.
//!
//! miette's own `SourceCode` for a string walks from the start of the text to
//! every label, so n diagnostics in a file of m bytes cost n·m (54,000 errors
//! in one file took minutes). [`Snippet`] hands miette's reader a window of
//! whole lines around the label instead, so what it prints is byte for byte
//! what it printed before, and it says how many lines a window covers (the
//! string reader counted from the start of the file, which made two labels
//! hundreds of lines apart print every line between them).
//!
//! A line too long to show whole (a megabyte on one line) is shown as a
//! window around the label.
//!
//! The text miette reads is the file's text with its hidden characters
//! escaped ([`shriek_grammar::visible::Shown`]): a hostile file cannot send
//! its escape sequences to the user's terminal through a snippet. Every
//! label's place is moved into that text ([`Lines::shown`]) before miette
//! sees it.

use std::borrow::Cow;

use miette::{MietteError, MietteSpanContents, SourceCode, SourceSpan, SpanContents};
use shriek_grammar::visible::Shown;
use shriek_grammar::{visible, Loc, SourceFile, Span};

/// The longest label underlined; a longer one is cut to this many bytes.
pub(super) const MAX_LABEL: usize = 1024;
/// Context lines longer than this on average are not shown whole.
const LONG_LINE: usize = 4096;
/// Bytes of a long line shown either side of its label.
const WINDOW: usize = 80;
/// The context lines miette shows above and below a label.
const CONTEXT: usize = 1;

/// A file's text as a snippet shows it (hidden characters escaped, see
/// [`shriek_grammar::visible`]) and where each of its lines starts. Lines
/// break at `\n` (a `\r` before it is part of the break), as the parser's
/// do: a lone `\r` is escaped, not a break.
pub(super) struct Lines<'s> {
    shown: Shown<'s>,
    starts: Cow<'s, [u32]>,
    len: usize,
}

impl<'s> Lines<'s> {
    pub fn new(file: &'s SourceFile) -> Lines<'s> {
        let shown = Shown::new(&file.text);
        let len = shown.text.len();
        let starts = match &shown.text {
            Cow::Borrowed(_) => Cow::Borrowed(file.line_starts()),
            Cow::Owned(text) => {
                let mut starts = vec![0];
                starts.extend(text.match_indices('\n').map(|(i, _)| i as u32 + 1));
                Cow::Owned(starts)
            }
        };
        Lines { shown, starts, len }
    }

    /// `loc` in the shown text, so that its label underlines what it names.
    pub fn shown(&self, loc: Loc) -> Loc {
        let span = Span::new(
            self.shown.offset(loc.span.start) as usize,
            self.shown.offset(loc.span.end) as usize,
        );
        Loc::new(loc.file, span)
    }

    /// The 0-based line holding byte `offset`.
    fn line_of(&self, offset: usize) -> usize {
        self.starts.partition_point(|&s| s as usize <= offset) - 1
    }

    /// Where `line` starts; the end of the text past the last line.
    fn start(&self, line: usize) -> usize {
        self.starts.get(line).map_or(self.len, |&s| s as usize)
    }

    /// The first and last line a label at `span` is shown with.
    fn context(&self, span: Span) -> (usize, usize) {
        let (start, end) = (span.start as usize, span.end as usize);
        let last = self.line_of(end.saturating_sub(1).max(start)) + CONTEXT;
        (self.line_of(start).saturating_sub(CONTEXT), last.min(self.starts.len() - 1))
    }
}

/// One file's text as miette reads it.
pub(super) struct Snippet<'s> {
    name: Cow<'s, str>,
    text: &'s str,
    lines: &'s Lines<'s>,
}

impl std::fmt::Debug for Snippet<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snippet").field("name", &self.name).finish_non_exhaustive()
    }
}

impl<'s> Snippet<'s> {
    pub fn new(file: &'s SourceFile, lines: &'s Lines<'s>) -> Snippet<'s> {
        Snippet { name: visible(&file.name), text: &lines.shown.text, lines }
    }

    /// The labels among `related` that miette would show in a snippet of
    /// their own above the one holding `primary`: they go to a related
    /// report, so that the first place a report names is its own.
    pub fn shown_apart(&self, primary: Span, related: &[Loc]) -> Vec<Loc> {
        let mut labels: Vec<(Span, Option<Loc>)> =
            related.iter().map(|l| (l.span, Some(*l))).collect();
        labels.push((primary, None));
        labels.sort_by_key(|(s, _)| s.start);
        // Snippets as miette groups them: a label joins the snippet before it
        // when their lines touch or overlap.
        let mut apart = Vec::new();
        let mut group: Vec<Loc> = Vec::new();
        let mut last_line = None;
        for (span, loc) in labels {
            let (first, last) = self.lines.context(span);
            if last_line.is_some_and(|l: usize| l + 1 < first) {
                apart.append(&mut group);
            }
            last_line = Some(last_line.map_or(last, |l: usize| l.max(last)));
            match loc {
                Some(loc) => group.push(loc),
                None => return apart,
            }
        }
        apart
    }

    /// Whether the lines `first..=last` are too long to show whole.
    fn too_long(&self, first: usize, last: usize) -> bool {
        let bytes = self.lines.start(last + 1) - self.lines.start(first);
        bytes > LONG_LINE * (last - first + 1)
    }

    /// Part of the line holding `span`, around it, for a line too long to show.
    fn window<'a>(&'a self, span: &SourceSpan, before: usize) -> Box<dyn SpanContents<'a> + 'a> {
        let start = span.offset().min(self.text.len());
        let line = self.lines.line_of(start);
        let line_start = self.lines.start(line);
        let line_end = self.text[start..].find(['\r', '\n']).map_or(self.text.len(), |i| start + i);
        let mut from =
            if before == 0 { start } else { start.saturating_sub(WINDOW).max(line_start) };
        while !self.text.is_char_boundary(from) {
            from += 1;
        }
        let mut to = (start + span.len() + WINDOW).min(line_end).max(from);
        while !self.text.is_char_boundary(to) {
            to += 1;
        }
        Box::new(MietteSpanContents::new_named(
            self.name.to_string(),
            &self.text.as_bytes()[from..to],
            SourceSpan::new(from.into(), to - from),
            line,
            from - line_start,
            1,
        ))
    }
}

impl SourceCode for Snippet<'_> {
    fn read_span<'a>(
        &'a self,
        span: &SourceSpan,
        before: usize,
        after: usize,
    ) -> Result<Box<dyn SpanContents<'a> + 'a>, MietteError> {
        let start = span.offset();
        let end = start + span.len();
        let first_line = self.lines.line_of(start);
        let last_line = self.lines.line_of(end.saturating_sub(1).max(start));
        if self.too_long(first_line.saturating_sub(before), last_line + after) {
            return Ok(self.window(span, before));
        }
        // One line more above than miette shows, and a few below, so that
        // its reader meets every line break it looks at: it then reads the
        // window exactly as it would have read the whole text.
        let first = first_line.saturating_sub(before + 1);
        let from = self.lines.start(first);
        let to = self.lines.start(last_line + after + 3);
        let window = &self.text.as_bytes()[from..to];
        let local = SourceSpan::new((start - from).into(), span.len());
        let inner = window.read_span(&local, before, after)?;
        let data = inner.data();
        let offset = inner.span().offset() + from;
        let lines = match data.len() {
            0 => 1,
            n => self.lines.line_of(offset + n - 1) - self.lines.line_of(offset) + 1,
        };
        Ok(Box::new(MietteSpanContents::new_named(
            self.name.to_string(),
            data,
            SourceSpan::new(offset.into(), data.len()),
            inner.line() + first,
            inner.column(),
            lines,
        )))
    }
}
