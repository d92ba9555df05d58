//! A hand-written reader for the commonest rule lines, which make up nearly all
//! of a large policy and cost pest tens of thousands of instructions each.
//!
//! It reads one line of a chain body at a time and mirrors the pest rules
//! `rule`, `match_term`, `value` and `atom` token for token, but only for the
//! plain shapes: the one-word fields, port fields, `ct state`, verdicts,
//! `counter`, and values that are numbers, names, addresses, prefixes,
//! variables, ranges and one-line sets. Anything else (strings, comments,
//! `log`, NAT, anything that would be reported) makes it give the line back to
//! pest, so it never has to produce a diagnostic.
//!
//! A line it reads has its first byte replaced by [`MARK`] in the text pest
//! sees; the tolerant grammar swallows such a line, and the marked lines right
//! under it, as one `fast_rule` token, and the tree builder puts the ready
//! rules in its place. `parse.rs` checks that every marked line came back in
//! a `fast_rule` of a chain body, and re-parses the file without this reader
//! otherwise.

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::ast::{self, Atom, AtomKind, Field, Ident, PortDir, PortProto, Span, Spanned, Value};

/// Stands for a line already read; `parse.rs` turns it off when the input has one.
pub(super) const MARK: u8 = 0x01;

/// The text for pest, with each line read here marked, and the rules read,
/// by the offset of their first byte.
pub(super) struct Fast {
    pub text: String,
    pub rules: Vec<(usize, ast::Rule)>,
}

/// Reads every line that starts at brace depth 2 (a chain body, when the file
/// is well formed) and has a plain shape. `text` must be the prescanned text of a
/// file the prescan found nothing wrong with: balanced braces, closed strings.
pub(super) fn scan(text: &str) -> Fast {
    let b = text.as_bytes();
    let mut out = b.to_vec();
    let mut rules = Vec::new();
    let mut depth = 0usize;
    let mut line_start = true;
    let mut i = 0;
    while i < b.len() {
        if line_start {
            line_start = false;
            if depth == 2 {
                let mut j = i;
                while j < b.len() && matches!(b[j], b' ' | b'\t') {
                    j += 1;
                }
                if let Some(end) = line_end(b, j) {
                    if let Some(rule) = read_rule(b, j, end) {
                        out[j] = MARK;
                        rules.push((j, rule));
                        // The line has no quote, comment or unbalanced brace: skip it whole.
                        i = end;
                        continue;
                    }
                }
            }
        }
        match b[i] {
            b'\n' => line_start = true,
            b'{' => depth += 1,
            b'}' => depth = depth.saturating_sub(1),
            b'#' => {
                i = b[i..].iter().position(|&c| c == b'\n').map_or(b.len(), |p| i + p);
                continue;
            }
            b'"' => {
                // As the prescan reads strings: an escape skips the next byte
                // unless it is a line end, and a line end closes the string.
                let mut j = i + 1;
                while j < b.len() && b[j] != b'\n' && b[j] != b'"' {
                    j += if b[j] == b'\\' && j + 1 < b.len() && b[j + 1] != b'\n' { 2 } else { 1 };
                }
                i = if j < b.len() && b[j] == b'"' { j + 1 } else { j };
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    // Only one ASCII byte was replaced per line, by an ASCII byte.
    let text = String::from_utf8(out)
        .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
    Fast { text, rules }
}

/// Where the line starting at `from` ends (its `\n`), if it is a candidate at
/// all: bytes that pest would read differently from this reader (comments,
/// strings, `;`, `\r`, non-ASCII) rule the line out.
fn line_end(b: &[u8], from: usize) -> Option<usize> {
    let mut j = from;
    while j < b.len() {
        match b[j] {
            b'\n' => return Some(j),
            // A `\r` is whitespace to pest: fine at the line end only.
            b'\r' if b.get(j + 1) == Some(&b'\n') => return Some(j),
            b'#' | b'"' | b';' | b'\r' | MARK => return None,
            c if !c.is_ascii() => return None,
            _ => j += 1,
        }
    }
    // The last line of a file is never inside a chain body once braces are balanced.
    None
}

/// The rule on `b[start..end]`, exactly as pest's `rule` and the tree builder
/// would make it, or `None` to leave the line to them.
pub(super) fn read_rule(b: &[u8], start: usize, end: usize) -> Option<ast::Rule> {
    let mut p = P { b: &b[..end], i: start };
    let mut terms = Vec::new();
    loop {
        terms.push(p.term()?);
        let last = p.i;
        p.ws();
        if p.i == p.b.len() {
            // Held until the policy is resolved: without the slack of growing.
            terms.shrink_to_fit();
            return Some(ast::Rule { terms, span: Span::new(start, last) });
        }
    }
}

struct P<'a> {
    /// The input up to the end of the line: its end stands for the `\n`.
    b: &'a [u8],
    i: usize,
}

fn is_name_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_'
}

fn is_name_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-')
}

/// `rule_word` of the grammar; no word in it is a prefix of another, so a
/// whole-word comparison is the same as pest's ordered choice plus `word_end`.
fn is_rule_word(w: &str) -> bool {
    matches!(
        w,
        "saddr"
            | "daddr"
            | "proto"
            | "iif"
            | "oif"
            | "family"
            | "mark"
            | "ct"
            | "counter"
            | "log"
            | "limit"
            | "accept"
            | "drop"
            | "reject"
            | "jump"
            | "goto"
            | "return"
            | "dnat"
            | "snat"
            | "masquerade"
            | "redirect"
    )
}

impl<'a> P<'a> {
    fn at(&self, j: usize) -> Option<u8> {
        self.b.get(j).copied()
    }

    /// Pest's implicit whitespace, less `\r` and comments, which rule a line out.
    fn ws(&mut self) {
        while matches!(self.at(self.i), Some(b' ' | b'\t')) {
            self.i += 1;
        }
    }

    /// The end of `name_raw` at `j`, if one starts there.
    fn name_end(&self, j: usize) -> Option<usize> {
        if !self.at(j).is_some_and(is_name_start) {
            return None;
        }
        let mut k = j + 1;
        while self.at(k).is_some_and(is_name_char) {
            k += 1;
        }
        Some(k)
    }

    fn text(&self, from: usize, to: usize) -> &'a str {
        // Candidate lines are ASCII (see `line_end`).
        std::str::from_utf8(&self.b[from..to]).unwrap_or("")
    }

    /// The whole word at the cursor (`""` if none), without moving.
    fn word(&self) -> (&'a str, usize) {
        match self.name_end(self.i) {
            Some(e) => (self.text(self.i, e), e),
            None => ("", self.i),
        }
    }

    /// `match_term | stmt`.
    fn term(&mut self) -> Option<ast::Term> {
        let s = self.i;
        let (w, e) = self.word();
        let field = match w {
            "saddr" => Field::Saddr,
            "daddr" => Field::Daddr,
            "proto" => Field::Proto,
            "iif" => Field::Iif,
            "oif" => Field::Oif,
            "family" => Field::Family,
            "mark" => {
                // `mark set N` is a statement: pest's business.
                let mut next = P { b: self.b, i: e };
                next.ws();
                if next.word().0 == "set" {
                    return None;
                }
                Field::Mark
            }
            "tcp" | "udp" | "sctp" => {
                let proto = match w {
                    "tcp" => PortProto::Tcp,
                    "udp" => PortProto::Udp,
                    _ => PortProto::Sctp,
                };
                self.i = e;
                self.ws();
                let (d, e2) = self.word();
                let dir = match d {
                    "sport" => PortDir::Sport,
                    "dport" => PortDir::Dport,
                    _ => return None,
                };
                self.i = e2;
                return self.match_rest(s, Field::Port(proto, dir));
            }
            "ct" => {
                self.i = e;
                self.ws();
                let (d, e2) = self.word();
                if d != "state" {
                    return None;
                }
                self.i = e2;
                return self.match_rest(s, Field::CtState);
            }
            _ => return self.stmt(s, w, e).map(ast::Term::Stmt),
        };
        self.i = e;
        self.match_rest(s, field)
    }

    /// `neg? ~ value_list` after a field that spans `s..self.i`.
    fn match_rest(&mut self, s: usize, field: Field) -> Option<ast::Term> {
        let field = Spanned::new(field, Span::new(s, self.i));
        self.ws();
        let negated = if self.b[self.i..].starts_with(b"!=") {
            self.i += 2;
            let neg = Span::new(self.i - 2, self.i);
            self.ws();
            Some(neg)
        } else {
            None
        };
        let mut values = vec![self.value()?];
        loop {
            let save = self.i;
            self.ws();
            if self.at(self.i) != Some(b',') {
                self.i = save;
                break;
            }
            self.i += 1;
            self.ws();
            values.push(self.value()?);
        }
        let value = if values.len() == 1 {
            values.pop()?
        } else {
            // A bare list is reported outside `ct state`: pest's business.
            if field.node != Field::CtState {
                return None;
            }
            let first = values.first()?.span();
            let last = values.last()?.span();
            Value::Set(values, first.to(last))
        };
        Some(ast::Term::Match(ast::Match {
            field,
            negated,
            value,
            span: Span::new(s, self.i),
            flags: None,
        }))
    }

    /// The statements that need no diagnostics: verdicts and `counter`.
    fn stmt(&mut self, s: usize, w: &'a str, e: usize) -> Option<ast::Stmt> {
        use ast::{StmtKind as K, Verdict as V};
        let kind = match w {
            "accept" => K::Verdict(V::Accept),
            "drop" => K::Verdict(V::Drop),
            "reject" => K::Verdict(V::Reject),
            "return" => K::Verdict(V::Return),
            "jump" | "goto" => {
                self.i = e;
                self.ws();
                let (t, e2) = self.word();
                if t.is_empty() {
                    return None;
                }
                let target = Ident { text: t.to_string(), span: Span::new(self.i, e2) };
                self.i = e2;
                let v = if w == "jump" { V::Jump(target) } else { V::Goto(target) };
                return Some(ast::Stmt { kind: K::Verdict(v), span: Span::new(s, e2) });
            }
            "counter" => {
                self.i = e;
                let save = self.i;
                self.ws();
                let (n, e2) = self.word();
                let reserved = is_rule_word(n) || matches!(n, "tcp" | "udp" | "sctp");
                if n.is_empty() || reserved {
                    self.i = save;
                    return Some(ast::Stmt { kind: K::Counter(None), span: Span::new(s, e) });
                }
                let name = Ident { text: n.to_string(), span: Span::new(self.i, e2) };
                self.i = e2;
                return Some(ast::Stmt { kind: K::Counter(Some(name)), span: Span::new(s, e2) });
            }
            _ => return None,
        };
        self.i = e;
        Some(ast::Stmt { kind, span: Span::new(s, e) })
    }

    /// `set | var | atom ~ (dash ~ atom)?`
    fn value(&mut self) -> Option<Value> {
        let s = self.i;
        match self.at(s)? {
            b'{' => {
                self.i += 1;
                self.ws();
                let mut values = Vec::new();
                if self.at(self.i) != Some(b'}') {
                    values.push(self.value()?);
                    loop {
                        self.ws();
                        if self.at(self.i) != Some(b',') {
                            break;
                        }
                        self.i += 1;
                        self.ws();
                        if self.at(self.i) == Some(b'}') {
                            break;
                        }
                        values.push(self.value()?);
                    }
                }
                self.ws();
                if self.at(self.i) != Some(b'}') {
                    return None;
                }
                self.i += 1;
                Some(Value::Set(values, Span::new(s, self.i)))
            }
            b'$' => {
                let e = self.name_end(s + 1)?;
                self.i = e;
                Some(Value::Var(Ident {
                    text: self.text(s + 1, e).to_string(),
                    span: Span::new(s, e),
                }))
            }
            _ => {
                let first = self.atom()?;
                let save = self.i;
                self.ws();
                if self.at(self.i) == Some(b'-') {
                    self.i += 1;
                    self.ws();
                    let second = self.atom()?;
                    return Some(Value::Range(first, second, Span::new(s, self.i)));
                }
                self.i = save;
                Some(Value::Atom(first))
            }
        }
    }

    /// `addr | number | name`; strings are left to pest.
    fn atom(&mut self) -> Option<Atom> {
        let s = self.i;
        if let Some(e) = self.ipv6(s) {
            let a = self.text(s, e).parse::<Ipv6Addr>().ok()?;
            return self.prefix(s, e, AtomKind::Ipv6(a), 128);
        }
        if let Some(e) = self.ipv4(s) {
            let a = self.text(s, e).parse::<Ipv4Addr>().ok()?;
            return self.prefix(s, e, AtomKind::Ipv4(a), 32);
        }
        if let Some(e) = self.number(s) {
            let n = self.text(s, e).parse::<u64>().ok()?;
            self.i = e;
            return Some(Atom { kind: AtomKind::Number(n), span: Span::new(s, e) });
        }
        let e = self.name_end(s)?;
        let w = self.text(s, e);
        if is_rule_word(w) {
            return None;
        }
        self.i = e;
        Some(Atom { kind: AtomKind::Name(w.to_string()), span: Span::new(s, e) })
    }

    /// `("/" ~ prefix_len)?` after an address on `s..e`.
    fn prefix(&mut self, s: usize, e: usize, kind: AtomKind, max: u32) -> Option<Atom> {
        if self.at(e) == Some(b'/') {
            if let Some(e2) = self.number(e + 1) {
                let len = self.text(e + 1, e2).parse::<u32>().ok().filter(|&n| n <= max)?;
                let kind = match kind {
                    AtomKind::Ipv4(a) => AtomKind::Prefix4(a, len as u8),
                    AtomKind::Ipv6(a) => AtomKind::Prefix6(a, len as u8),
                    other => other,
                };
                self.i = e2;
                return Some(Atom { kind, span: Span::new(s, e2) });
            }
        }
        self.i = e;
        Some(Atom { kind, span: Span::new(s, e) })
    }

    fn digits(&self, mut j: usize) -> Option<usize> {
        let from = j;
        while self.at(j).is_some_and(|c| c.is_ascii_digit()) {
            j += 1;
        }
        (j > from).then_some(j)
    }

    /// `ASCII_HEX_DIGIT* ~ ":" ~ (ASCII_HEX_DIGIT | ":" | ".")* ~ !(ASCII_ALPHANUMERIC | "_")`
    fn ipv6(&self, mut j: usize) -> Option<usize> {
        while self.at(j).is_some_and(|c| c.is_ascii_hexdigit()) {
            j += 1;
        }
        if self.at(j) != Some(b':') {
            return None;
        }
        j += 1;
        while self.at(j).is_some_and(|c| c.is_ascii_hexdigit() || c == b':' || c == b'.') {
            j += 1;
        }
        (!self.at(j).is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_')).then_some(j)
    }

    /// `ASCII_DIGIT+ ~ ("." ~ ASCII_DIGIT+){3} ~ !(ASCII_ALPHANUMERIC | "_" | ".")`
    fn ipv4(&self, j: usize) -> Option<usize> {
        let mut j = self.digits(j)?;
        for _ in 0..3 {
            if self.at(j) != Some(b'.') {
                return None;
            }
            j = self.digits(j + 1)?;
        }
        (!self.at(j).is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'.'))
            .then_some(j)
    }

    /// `ASCII_DIGIT+ ~ !(ASCII_ALPHA | "_" | ".")`, also `prefix_len`.
    fn number(&self, j: usize) -> Option<usize> {
        let j = self.digits(j)?;
        (!self.at(j).is_some_and(|c| c.is_ascii_alphabetic() || c == b'_' || c == b'.'))
            .then_some(j)
    }
}

#[cfg(test)]
mod tests;
