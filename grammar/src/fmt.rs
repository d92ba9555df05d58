//! The canonical layout of a `.shr` file (`shriekc fmt`).
//!
//! [`format`] prints the tree in one fixed style and puts every comment back:
//! a comment on its own line stays above what follows it, a comment after code
//! stays at the end of that line, and comments before a closing brace stay
//! inside the block. A comment inside a statement that spans lines (a long set)
//! moves above the statement, which is printed on one line.
//!
//! Blank lines: one is kept wherever the source had one or more between two
//! items, chains, rules or comments; none after `{` or before `}`.
//!
//! Laws (tested in `tests/fmt_props.rs`): `format` is idempotent, and
//! re-parsing its output gives an equal tree. It expects a tree without syntax
//! errors; given one with errors it still prints what the tree holds.

use std::fmt::Write as _;

use crate::ast::{self, AtomKind, Comment, NatTarget, RejectWith, StmtKind, Value, Verdict};

/// Formats `file`, whose spans point into `source`.
pub fn format(file: &ast::File, source: &str) -> String {
    let mut cx =
        Cx { source, comments: &file.comments.0, next: 0, out: String::new(), at_start: true };
    for item in &file.items {
        cx.item(item);
    }
    cx.flush_comments(source.len(), 0);
    if !cx.out.is_empty() && !cx.out.ends_with('\n') {
        cx.out.push('\n');
    }
    cx.out
}

struct Cx<'a> {
    source: &'a str,
    comments: &'a [Comment],
    /// The first comment not printed yet.
    next: usize,
    out: String,
    /// Right after the start of the file or a `{`: no blank line goes here.
    at_start: bool,
}

impl Cx<'_> {
    fn item(&mut self, item: &ast::Item) {
        match item {
            ast::Item::Include(it) => {
                let line = format!("include {}", quote(&it.path.node));
                self.line(&line, it.span, 0);
            }
            ast::Item::Define(it) => {
                let line = format!("define {} = {}", it.name.text, value(&it.value));
                self.line(&line, it.span, 0);
            }
            ast::Item::Table(t) => {
                let head = format!("table {}", t.name.text);
                let body_start =
                    self.open(&head, t.span.start as usize, t.name.span.end as usize, 0);
                if let Some(c) = &t.counters {
                    self.line(&format!("counters {}", c.value.text), c.span, 2);
                }
                for chain in &t.chains {
                    self.chain(chain);
                }
                self.close(t.span, body_start, 0);
            }
            ast::Item::Counters(c) => {
                self.line(&format!("counters {}", c.value.text), c.span, 0);
            }
        }
    }

    fn chain(&mut self, c: &ast::Chain) {
        let mut head = format!("chain {}", c.name.text);
        if let Some(h) = &c.hook {
            let _ = write!(head, " hook {}", h.text);
        }
        if let Some(k) = &c.kind {
            let _ = write!(head, " type {}", k.text);
        }
        if let Some(p) = &c.priority {
            let _ = write!(head, " priority {}", p.node);
        }
        if let Some(p) = &c.policy {
            let _ = write!(head, " policy {}", p.text);
        }
        let body_start = self.open(&head, c.span.start as usize, c.header_span.end as usize, 2);
        for rule in &c.rules {
            let text = rule.terms.iter().map(term).collect::<Vec<_>>().join(" ");
            self.line(&text, rule.span, 4);
        }
        self.close(c.span, body_start, 2);
    }

    /// Prints `head {` for a block starting at `start` whose header ends at
    /// `header_end`; returns the offset just after the `{`.
    fn open(&mut self, head: &str, start: usize, header_end: usize, indent: usize) -> usize {
        self.flush_comments(start, indent);
        self.blank_line_before(start);
        let brace = find_brace(self.source, header_end).unwrap_or(header_end);
        push_indent(&mut self.out, indent);
        self.out.push_str(head);
        self.out.push_str(" {");
        self.trailing_comment(brace + 1);
        self.out.push('\n');
        self.at_start = true;
        brace + 1
    }

    /// Prints the `}` of a block spanning `span`, after the comments still inside it.
    fn close(&mut self, span: ast::Span, _body_start: usize, indent: usize) {
        let end = (span.end as usize).saturating_sub(1);
        self.flush_comments(end, indent + 2);
        push_indent(&mut self.out, indent);
        self.out.push('}');
        self.trailing_comment(span.end as usize);
        self.out.push('\n');
        self.at_start = false;
    }

    /// Prints a one-line node, with the comments inside it moved above it.
    fn line(&mut self, text: &str, span: ast::Span, indent: usize) {
        self.flush_comments(span.start as usize, indent);
        self.blank_line_before(span.start as usize);
        self.flush_comments(span.end as usize, indent);
        push_indent(&mut self.out, indent);
        self.out.push_str(text);
        self.trailing_comment(span.end as usize);
        self.out.push('\n');
        self.at_start = false;
    }

    /// Prints the comments that start before `pos`, each on its own line.
    fn flush_comments(&mut self, pos: usize, indent: usize) {
        while let Some(c) = self.comments.get(self.next) {
            if c.span.start as usize >= pos {
                break;
            }
            self.blank_line_before(c.span.start as usize);
            push_indent(&mut self.out, indent);
            self.out.push_str(c.text.trim_end());
            self.out.push('\n');
            self.at_start = false;
            self.next += 1;
        }
    }

    /// Appends the next comment if it sits on the same line right after `pos`
    /// (only spaces, tabs and `;` between).
    fn trailing_comment(&mut self, pos: usize) {
        let Some(c) = self.comments.get(self.next) else { return };
        let start = c.span.start as usize;
        let between = self.source.get(pos.min(start)..start).unwrap_or("x");
        if start >= pos && between.chars().all(|ch| matches!(ch, ' ' | '\t' | '\r' | ';')) {
            self.out.push_str("  ");
            self.out.push_str(c.text.trim_end());
            self.next += 1;
        }
    }

    /// Emits one blank line when the source has a blank line right before `pos`.
    fn blank_line_before(&mut self, pos: usize) {
        if self.at_start {
            return;
        }
        let before = self.source.get(..pos).unwrap_or("");
        let mut newlines = 0;
        for ch in before.chars().rev() {
            match ch {
                '\n' => newlines += 1,
                ' ' | '\t' | '\r' | ';' => {}
                _ => break,
            }
        }
        if newlines >= 2 && !self.out.ends_with("\n\n") {
            self.out.push('\n');
        }
    }
}

/// The offset of the `{` that opens a block whose header ends at `from`,
/// skipping comments.
fn find_brace(source: &str, from: usize) -> Option<usize> {
    let bytes = source.as_bytes();
    let mut i = from;
    while i < bytes.len() {
        match bytes[i] {
            b'{' => return Some(i),
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            _ => i += 1,
        }
    }
    None
}

fn push_indent(out: &mut String, indent: usize) {
    out.extend(std::iter::repeat_n(' ', indent));
}

fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if matches!(c, '"' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

fn atom(a: &ast::Atom, hex: bool) -> String {
    match &a.kind {
        AtomKind::Number(n) if hex => format!("{n:#x}"),
        AtomKind::Ipv4(x) => x.to_string(),
        AtomKind::Ipv6(x) => x.to_string(),
        AtomKind::Prefix4(x, n) => format!("{x}/{n}"),
        AtomKind::Prefix6(x, n) => format!("{x}/{n}"),
        AtomKind::Number(n) => n.to_string(),
        AtomKind::Name(s) => s.clone(),
        AtomKind::Str(s) => quote(s),
    }
}

/// A value as written in canonical form.
pub fn value(v: &Value) -> String {
    value_in(v, false)
}

/// A value, its numbers in hexadecimal when `hex` (a mark's bits read
/// better so).
fn value_in(v: &Value, hex: bool) -> String {
    match v {
        Value::Atom(a) => atom(a, hex),
        // `a-b` would read back as one name: a range from a name keeps its spaces.
        Value::Range(a @ ast::Atom { kind: AtomKind::Name(_), .. }, b, _) => {
            format!("{} - {}", atom(a, hex), atom(b, hex))
        }
        Value::Range(a, b, _) => format!("{}-{}", atom(a, hex), atom(b, hex)),
        Value::Set(items, _) if items.is_empty() => "{ }".into(),
        Value::Set(items, _) => {
            let items: Vec<String> = items.iter().map(|i| value_in(i, hex)).collect();
            format!("{{ {} }}", items.join(", "))
        }
        Value::Var(id) => format!("${}", id.text),
    }
}

fn term(t: &ast::Term) -> String {
    match t {
        ast::Term::Match(m) => {
            let neg = if m.negated.is_some() { " !=" } else { "" };
            let v = match (&m.field.node, &m.value) {
                // `ct state a,b` is the usual spelling; a single-element or nested
                // set keeps its braces so that it reads back as the same tree.
                (ast::Field::CtState | ast::Field::TcpFlags, Value::Set(items, _))
                    if items.len() > 1 && items.iter().all(|i| !matches!(i, Value::Set(..))) =>
                {
                    items.iter().map(value).collect::<Vec<_>>().join(",")
                }
                (f, v) => value_in(v, *f == ast::Field::Mark),
            };
            let Some(flags) = &m.flags else {
                return format!("{}{neg} {v}", m.field.node.keyword());
            };
            let mask = match &flags.mask {
                Some(Value::Set(items, _))
                    if items.len() > 1 && items.iter().all(|i| !matches!(i, Value::Set(..))) =>
                {
                    format!(" / {}", items.iter().map(value).collect::<Vec<_>>().join(","))
                }
                Some(mask) => format!(" / {}", value(mask)),
                None => String::new(),
            };
            format!("{}{neg}{} {v}{mask}", m.field.node.keyword(), flags.op.word())
        }
        ast::Term::Stmt(s) => stmt(&s.kind),
    }
}

fn stmt(s: &StmtKind) -> String {
    match s {
        StmtKind::Counter(None) => "counter".into(),
        StmtKind::Counter(Some(n)) => format!("counter {}", n.text),
        StmtKind::Log { prefix, level } => {
            let mut s = String::from("log");
            if let Some(l) = level {
                let _ = write!(s, " level {}", l.text);
            }
            if let Some(p) = prefix {
                let _ = write!(s, " prefix {}", quote(&p.node));
            }
            s
        }
        StmtKind::Limit { rate, per, burst, key } => {
            let mut s = format!("limit {}/{}", rate.node, per.text);
            if let Some(b) = burst {
                let _ = write!(s, " burst {}", b.node);
            }
            if let Some(k) = key {
                let _ = write!(s, " per {}", k.text);
            }
            s
        }
        StmtKind::MarkSet(n) => format!("mark set {:#x}", n.node),
        StmtKind::CtCount { over, key } => format!("ct count over {} per {}", over.node, key.text),
        StmtKind::Verdict(v) => match v {
            Verdict::Accept => "accept".into(),
            Verdict::Drop => "drop".into(),
            Verdict::Reject => "reject".into(),
            Verdict::RejectWith(RejectWith::TcpReset) => "reject with tcp reset".into(),
            Verdict::RejectWith(RejectWith::Icmp(p, code)) => {
                format!("reject with {} {}", p.keyword(), code.text)
            }
            Verdict::Jump(c) => format!("jump {}", c.text),
            Verdict::Goto(c) => format!("goto {}", c.text),
            Verdict::Return => "return".into(),
        },
        StmtKind::Dnat(t) => format!("dnat to {}", nat_target(t)),
        StmtKind::Snat(t) => format!("snat to {}", nat_target(t)),
        StmtKind::Masquerade => "masquerade".into(),
        StmtKind::Redirect(p) => format!("redirect to {}", p.node),
    }
}

fn nat_target(t: &NatTarget) -> String {
    match t {
        NatTarget::One(b) => backend(b),
        NatTarget::Balance { backends, mode, .. } => {
            format!(
                "{{ {} }} balance {}",
                backends.iter().map(backend).collect::<Vec<_>>().join(", "),
                mode.text
            )
        }
    }
}

fn backend(b: &ast::Backend) -> String {
    let addr = value(&b.addr);
    let mut s = match (&b.addr, &b.port) {
        (Value::Atom(ast::Atom { kind: AtomKind::Ipv6(_), .. }), Some(p)) => {
            format!("[{addr}]:{}", p.node)
        }
        (_, Some(p)) => format!("{addr}:{}", p.node),
        (_, None) => addr,
    };
    if let Some(w) = &b.weight {
        let _ = write!(s, " weight {}", w.node);
    }
    s
}
