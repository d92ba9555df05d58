//! User-controlled text made safe to print on a terminal.
//!
//! A policy, a file name or a comment read back from the kernel can hold
//! characters a terminal acts on instead of showing: control characters (an
//! escape sequence can move the cursor, clear the screen or retitle the
//! window; a carriage return overwrites the line), and the invisible
//! formatting characters that reorder or hide text (bidi overrides and
//! isolates, zero-width spaces). Every text output that quotes such text
//! (diagnostics with their snippets, `plan`, `diff`, `stats`) writes each
//! of them as `\u{..}` instead, so the user sees exactly which bytes are
//! there. Machine formats (JSON, SARIF) keep the text as it is: their
//! readers escape what they must.

use std::borrow::Cow;

/// Whether `c` is written as an escape: every control character but the tab
/// and the line feed, and the invisible characters that reorder or hide text.
pub fn is_hidden(c: char) -> bool {
    match c {
        '\t' | '\n' => false,
        c if c.is_control() => true, // C0, DEL and C1
        // Arabic letter mark; zero-width space, joiners and marks; line and
        // paragraph separators; bidi embeddings and overrides; word joiner,
        // invisible operators and bidi isolates; the byte-order mark.
        '\u{061c}'
        | '\u{200b}'..='\u{200f}'
        | '\u{2028}'..='\u{202e}'
        | '\u{2060}'..='\u{2069}'
        | '\u{feff}' => true,
        _ => false,
    }
}

/// How a hidden character is written: `\u{1b}`.
fn escape(c: char, out: &mut String) {
    out.push_str(&format!("\\u{{{:x}}}", c as u32));
}

/// `s` with every hidden character written as `\u{..}`; `s` itself when it
/// has none, which is nearly always.
pub fn visible(s: &str) -> Cow<'_, str> {
    if !s.chars().any(is_hidden) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        if is_hidden(c) {
            escape(c, &mut out);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// A source file's text made visible for a snippet, keeping its line
/// breaks: `\r\n` stays a line break, a lone `\r` is escaped like any other
/// control character (the parser's lines break at `\n` only, and now the
/// snippet's do too). `shifts` maps offsets of the text to offsets of the
/// shown text, so that labels still underline what they name.
#[derive(Clone, Debug)]
pub struct Shown<'s> {
    pub text: Cow<'s, str>,
    /// For each escaped character, its end in the original text and how
    /// many bytes the escapes up to and including it added.
    shifts: Vec<(u32, u32)>,
}

impl<'s> Shown<'s> {
    pub fn new(text: &'s str) -> Shown<'s> {
        let hidden = |i: usize, c: char| {
            is_hidden(c) && !(c == '\r' && text.as_bytes().get(i + 1) == Some(&b'\n'))
        };
        if !text.char_indices().any(|(i, c)| hidden(i, c)) {
            return Shown { text: Cow::Borrowed(text), shifts: Vec::new() };
        }
        let mut out = String::with_capacity(text.len() + 16);
        let mut shifts = Vec::new();
        let mut added = 0u32;
        for (i, c) in text.char_indices() {
            if hidden(i, c) {
                let before = out.len();
                escape(c, &mut out);
                added += (out.len() - before - c.len_utf8()) as u32;
                shifts.push(((i + c.len_utf8()) as u32, added));
            } else {
                out.push(c);
            }
        }
        Shown { text: Cow::Owned(out), shifts }
    }

    /// Where byte `offset` of the original text is in the shown text. An
    /// offset at an escaped character's start maps to its escape's start,
    /// one at its end to its escape's end.
    pub fn offset(&self, offset: u32) -> u32 {
        let i = self.shifts.partition_point(|&(end, _)| end <= offset);
        offset + if i == 0 { 0 } else { self.shifts[i - 1].1 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hidden_characters_are_escaped_and_others_kept() {
        assert_eq!(visible("plain é\tline\n"), "plain é\tline\n");
        assert_eq!(visible("a\u{1b}[2Jb"), "a\\u{1b}[2Jb");
        assert_eq!(visible("\0\r\u{7f}\u{9b}"), "\\u{0}\\u{d}\\u{7f}\\u{9b}");
        assert_eq!(visible("x\u{202e}y\u{2066}"), "x\\u{202e}y\\u{2066}");
    }

    #[test]
    fn shown_text_keeps_line_breaks_and_maps_offsets() {
        let s = Shown::new("ab\r\ncd\n");
        assert_eq!(s.text, "ab\r\ncd\n");
        assert_eq!(s.offset(5), 5);
        let s = Shown::new("a\u{1b}b\rc\u{202e}d");
        assert_eq!(s.text, "a\\u{1b}b\\u{d}c\\u{202e}d");
        // Each original offset lands on the same character of the shown text.
        for (orig, shown) in [(0, 0), (1, 1), (2, 7), (3, 8), (4, 13), (5, 14), (8, 22), (9, 23)] {
            assert_eq!(s.offset(orig), shown, "offset {orig}");
        }
    }
}
