//! Step 1 of parsing: one pass over the bytes, before pest sees the text.
//!
//! It collects comments, reports unterminated strings, balances braces (a
//! stray `}` is blanked, each missing `}` appended) and blanks sets nested
//! deeper than [`MAX_DEPTH`], so the pest grammar can neither fail nor recurse
//! deeply. Every byte keeps its offset, so spans need no translation.

use crate::ast::{Comment, Span};
use crate::codes;
use crate::LocalDiagnostic;

use super::MAX_DEPTH;

pub(super) struct Prescan {
    /// The text pest reads: the input with braces balanced and deep sets blanked.
    /// Every byte of the input keeps its offset, so spans need no translation.
    pub text: String,
    pub comments: Vec<Comment>,
    pub diags: Vec<LocalDiagnostic>,
    /// Places already explained by a diagnostic here: a bad statement touching
    /// one is not reported again.
    pub suppress: Vec<Span>,
}

pub(super) fn prescan(text: &str) -> Prescan {
    let b = text.as_bytes();
    let mut out = b.to_vec();
    let mut comments = Vec::new();
    let mut diags = Vec::new();
    let mut suppress = Vec::new();
    let mut stack: Vec<usize> = Vec::new();
    let mut deep: Option<usize> = None;
    let line_end =
        |from: usize| b[from..].iter().position(|&c| c == b'\n').map_or(b.len(), |p| from + p);
    let trim_cr =
        |start: usize, end: usize| if end > start && b[end - 1] == b'\r' { end - 1 } else { end };
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'#' => {
                let end = trim_cr(i, line_end(i));
                comments.push(Comment { text: text[i..end].to_string(), span: Span::new(i, end) });
                i = end;
            }
            b'"' => {
                let mut j = i + 1;
                loop {
                    if j >= b.len() || b[j] == b'\n' {
                        let span = Span::new(i, trim_cr(i, j));
                        diags.push(
                            LocalDiagnostic::new(
                                codes::UNTERMINATED_STRING,
                                "unterminated string",
                                span,
                                "this string has no closing `\"`",
                            )
                            .with_help("close the string with `\"` on the same line"),
                        );
                        suppress.push(span);
                        break;
                    }
                    if b[j] == b'\\' && j + 1 < b.len() && b[j + 1] != b'\n' {
                        j += 2;
                        continue;
                    }
                    if b[j] == b'"' {
                        j += 1;
                        break;
                    }
                    j += 1;
                }
                i = j;
            }
            b'{' => {
                stack.push(i);
                if stack.len() > MAX_DEPTH && deep.is_none() {
                    deep = Some(i);
                    diags.push(
                        LocalDiagnostic::new(
                            codes::NESTING_TOO_DEEP,
                            format!("sets are nested more than {MAX_DEPTH} levels deep"),
                            Span::new(i, i + 1),
                            "this `{` is too deep",
                        )
                        .with_help("flatten the set: a nested set merges into its parent anyway"),
                    );
                }
                i += 1;
            }
            b'}' => {
                if stack.pop().is_none() {
                    diags.push(
                        LocalDiagnostic::new(
                            codes::UNMATCHED_BRACE,
                            "unmatched `}`",
                            Span::new(i, i + 1),
                            "this `}` closes nothing",
                        )
                        .with_help("remove it, or add the `{` it should close"),
                    );
                    out[i] = b' ';
                } else if let Some(start) = deep {
                    if stack.len() == MAX_DEPTH {
                        blank(&mut out, start, i + 1);
                        suppress.push(Span::new(start, i + 1));
                        deep = None;
                    }
                }
                i += 1;
            }
            _ => i += 1,
        }
    }
    if let Some(start) = deep {
        blank(&mut out, start, b.len());
        suppress.push(Span::new(start, b.len()));
        stack.truncate(MAX_DEPTH);
    }
    // One report is enough: the innermost open brace is usually the forgotten one,
    // and each missing `}` is appended so the rest of the file still parses.
    if let Some(&open) = stack.last() {
        let last_line = text.lines().count().max(1);
        let more = match stack.len() - 1 {
            0 => String::new(),
            1 => " (and 1 enclosing `{` is open too)".into(),
            n => format!(" (and {n} enclosing `{{` are open too)"),
        };
        diags.push(LocalDiagnostic::new(            codes::UNCLOSED_BRACE,
            "unclosed `{`",
            Span::new(open, open + 1),
            "this `{` is never closed"
)
.with_help(format!("add the missing `}}`: the file ends at line {last_line} while this `{{` is still open{more}")));
    }
    for &open in &stack {
        suppress.push(Span::new(open, open + 1));
        out.extend_from_slice(b"\n}");
    }
    // Only ASCII bytes were replaced, each by an ASCII byte, and whole multi-byte
    // characters inside a blanked range become spaces: the result is UTF-8.
    let text = String::from_utf8(out)
        .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
    Prescan { text, comments, diags, suppress }
}

fn blank(out: &mut [u8], start: usize, end: usize) {
    for byte in &mut out[start..end] {
        if *byte != b'\n' {
            *byte = b' ';
        }
    }
}
