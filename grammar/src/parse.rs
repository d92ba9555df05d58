//! `.shr` text -> [`ast::File`] plus every syntax error, never failing.
//!
//! Parsing runs in three steps:
//! 1. a byte scan ([`prescan`]) collects comments, finds unterminated strings,
//!    balances braces (a stray `}` is blanked, a missing `}` appended) and blanks
//!    sets nested deeper than [`MAX_DEPTH`], so the pest grammar can neither fail
//!    nor recurse deeply;
//! 2. the tolerant pest grammar (`shriek.pest`) reads the whole file, turning each
//!    statement it cannot read into a `bad_*` node;
//! 3. each bad node is re-parsed alone with the strict rule for its position, and
//!    pest's position and expectations are translated into plain words.
//!
//! Pest costs tens of thousands of instructions per rule line, so in a file the
//! prescan found clean, `parse/fast.rs` reads the plain rule lines by hand first
//! and pest only skips them (see there); any doubt, and pest reads everything.
//!
//! Value checks a grammar cannot express (prefix lengths, number sizes, address
//! syntax, escapes, repeated chain options) happen while building the tree.
//! Everything about meaning (is `inpt` a hook?) is left to resolution.
//!
//! Codes reported here:
//!
//! | code  | name                     | meaning |
//! |-------|--------------------------|---------|
//! | E0101 | `syntax-error`           | something other than what the grammar allows at this point |
//! | E0102 | `unknown-keyword`        | an unknown (usually misspelt) word where a keyword belongs |
//! | E0103 | `unclosed-brace`         | a `{` never closed before the end of the file |
//! | E0104 | `unmatched-brace`        | a `}` that closes nothing |
//! | E0105 | `unterminated-string`    | a `"` string without its closing quote on the same line |
//! | E0106 | `bad-prefix-length`      | a CIDR prefix length above 32 (IPv4) or 128 (IPv6) |
//! | E0107 | `number-too-large`       | a number that does not fit in 64 bits |
//! | E0108 | `bad-address`            | text shaped like an address that is not a valid one |
//! | E0109 | `duplicate-chain-clause` | `hook`, `type`, `priority` or `policy` given twice in a chain header |
//! | E0110 | `stray-character`        | a character that has no place in the language (`@`, NUL, ...) |
//! | E0111 | `nesting-too-deep`       | sets nested more than 64 levels deep |
//! | E0112 | `bad-escape`             | a string escape other than `\"` and `\\` |
//! | E0113 | `missing-chain-name`     | `chain` not followed by a name |
//! | E0114 | `unbraced-list`          | a comma list without braces outside `ct state` |

use std::net::{Ipv4Addr, Ipv6Addr};

use pest::iterators::Pair;
use pest::Parser;

use crate::ast::{self, Atom, AtomKind, Comment, Ident, Span, Spanned, Value};
use crate::diag::{levenshtein, nearest};
use crate::LocalDiagnostic;

mod fast;

#[derive(pest_derive::Parser)]
#[grammar = "shriek.pest"]
struct ShriekParser;

/// How deep `{` may nest. Deeper input is reported and blanked, which keeps
/// pest's recursion (and ours) far from the stack limit.
pub const MAX_DEPTH: usize = 64;

/// Words that may start a match or a statement: what "did you mean" picks from in a rule.
pub const RULE_KEYWORDS: &[&str] = &[
    "saddr",
    "daddr",
    "proto",
    "tcp",
    "udp",
    "sctp",
    "iif",
    "oif",
    "ct",
    "family",
    "counter",
    "log",
    "limit",
    "accept",
    "drop",
    "reject",
    "jump",
    "goto",
    "return",
    "dnat",
    "snat",
    "masquerade",
    "redirect",
];
const TOP_KEYWORDS: &[&str] = &["include", "define", "table"];
const CHAIN_OPTIONS: &[&str] = &["hook", "type", "priority", "policy"];

/// Parses one file. Never fails, never panics: returns the tree it could build
/// (statements with errors are left out) and every syntax error, in source order.
pub fn parse(text: &str) -> (ast::File, Vec<LocalDiagnostic>) {
    parse_with(text, true)
}

/// [`parse`], with the hand-written reader of plain rule lines (`fast.rs`) on
/// or off; both give the same result, which the tests of `fast.rs` check.
fn parse_with(text: &str, use_fast: bool) -> (ast::File, Vec<LocalDiagnostic>) {
    let pre = prescan(text);
    let len = text.len();
    // The fast reader relies on the prescan having changed nothing, and on the
    // marker byte not occurring in the input.
    let clean = pre.diags.is_empty() && pre.suppress.is_empty();
    let fast = (use_fast && clean && !text.as_bytes().contains(&fast::MARK))
        .then(|| fast::scan(&pre.text))
        .filter(|marked| !marked.rules.is_empty())
        .and_then(|marked| build(&pre, &marked.text, len, marked.rules));
    // Without fast rules `build` always succeeds.
    let (items, mut diags) =
        fast.or_else(|| build(&pre, &pre.text, len, Vec::new())).unwrap_or_default();
    diags.sort_by_key(|d| (d.span.start, d.span.end));
    (ast::File { items, comments: ast::Comments(pre.comments) }, diags)
}

/// Parses `src` (the prescanned text, perhaps with fast lines marked) and builds
/// the tree. `None` when a line read by `fast.rs` did not come back exactly
/// where a rule of a chain body belongs: the caller then parses without them.
fn build(
    pre: &Prescan,
    src: &str,
    len: usize,
    fast: Vec<(usize, ast::Rule)>,
) -> Option<(Vec<ast::Item>, Vec<LocalDiagnostic>)> {
    let expected = fast.len();
    let mut cx = Cx {
        src,
        len,
        diags: pre.diags.clone(),
        suppress: pre.suppress.clone(),
        fast: fast.into_iter().peekable(),
        fast_taken: 0,
    };
    let items = match ShriekParser::parse(Rule::file, src) {
        Ok(mut pairs) => match pairs.next() {
            Some(file) => cx.file(file),
            None => Vec::new(),
        },
        Err(_) if expected > 0 => return None,
        Err(err) => {
            // The tolerant grammar accepts every balanced text; this is a safety net.
            cx.pest_error(&err, 0, Context::Top, src);
            Vec::new()
        }
    };
    (cx.fast_taken == expected).then_some((items, cx.diags))
}

// ---- step 1: the byte scan ------------------------------------------------

struct Prescan {
    /// The text pest reads: the input with braces balanced and deep sets blanked.
    /// Every byte of the input keeps its offset, so spans need no translation.
    text: String,
    comments: Vec<Comment>,
    diags: Vec<LocalDiagnostic>,
    /// Places already explained by a diagnostic here: a bad statement touching
    /// one is not reported again.
    suppress: Vec<Span>,
}

fn prescan(text: &str) -> Prescan {
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
                        diags.push(diag(
                            "E0105",
                            "unterminated-string",
                            "unterminated string",
                            span,
                            "this string has no closing `\"`",
                            Some("close the string with `\"` on the same line".into()),
                        ));
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
                    diags.push(diag(
                        "E0111",
                        "nesting-too-deep",
                        format!("sets are nested more than {MAX_DEPTH} levels deep"),
                        Span::new(i, i + 1),
                        "this `{` is too deep",
                        Some("flatten the set: a nested set merges into its parent anyway".into()),
                    ));
                }
                i += 1;
            }
            b'}' => {
                if stack.pop().is_none() {
                    diags.push(diag(
                        "E0104",
                        "unmatched-brace",
                        "unmatched `}`",
                        Span::new(i, i + 1),
                        "this `}` closes nothing",
                        Some("remove it, or add the `{` it should close".into()),
                    ));
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
        diags.push(diag(
            "E0103",
            "unclosed-brace",
            "unclosed `{`",
            Span::new(open, open + 1),
            "this `{` is never closed",
            Some(format!("add the missing `}}`: the file ends at line {last_line} while this `{{` is still open{more}")),
        ));
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

fn diag(
    code: &'static str,
    name: &'static str,
    message: impl Into<String>,
    span: Span,
    label: impl Into<String>,
    help: Option<String>,
) -> LocalDiagnostic {
    LocalDiagnostic { code, name, message: message.into(), span, label: label.into(), help }
}

// ---- step 2: building the tree --------------------------------------------

struct Cx<'a> {
    src: &'a str,
    /// Length of the real input: spans into appended braces are clamped to it.
    len: usize,
    diags: Vec<LocalDiagnostic>,
    suppress: Vec<Span>,
    /// Rules `fast.rs` read, by offset, waiting for their `fast_rule` token.
    fast: std::iter::Peekable<std::vec::IntoIter<(usize, ast::Rule)>>,
    /// How many of them found their place.
    fast_taken: usize,
}

/// Where a bad statement sits, which decides the strict rule and the wording.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Context {
    Top,
    Table,
    Rule,
}

impl<'a> Cx<'a> {
    /// The exact span of a node. Pest lets a rule ending in `x*` or `x?` swallow
    /// the whitespace and comments before the absent `x`, so the end is taken
    /// from the node's last token instead.
    fn span(&self, p: &Pair<'_, Rule>) -> Span {
        let start = p.as_span().start();
        let mut last = p.clone();
        while let Some(child) = last.clone().into_inner().next_back() {
            last = child;
        }
        let end =
            if last.as_rule() == Rule::EOI { p.as_span().end() } else { last.as_span().end() };
        Span::new(start.min(self.len), end.max(start).min(self.len))
    }

    fn error(
        &mut self,
        code: &'static str,
        name: &'static str,
        message: impl Into<String>,
        span: Span,
        label: impl Into<String>,
        help: Option<String>,
    ) {
        self.diags.push(diag(code, name, message, span, label, help));
    }

    fn ident(&self, p: Pair<'_, Rule>) -> Ident {
        Ident { text: p.as_str().to_string(), span: self.span(&p) }
    }

    fn file(&mut self, file: Pair<'a, Rule>) -> Vec<ast::Item> {
        let mut items = Vec::new();
        for p in file.into_inner() {
            match p.as_rule() {
                Rule::include => items.push(ast::Item::Include(self.include(p))),
                Rule::define => items.push(ast::Item::Define(self.define(p))),
                Rule::table | Rule::table_t => items.push(ast::Item::Table(self.table(p))),
                Rule::bad_top => self.bad(p, Context::Top),
                _ => {}
            }
        }
        items
    }

    fn include(&mut self, p: Pair<'a, Rule>) -> ast::Include {
        let span = self.span(&p);
        let path = p.into_inner().find(|q| q.as_rule() == Rule::string).map(|s| self.string(s));
        ast::Include { path: path.unwrap_or_else(|| Spanned::new(String::new(), span)), span }
    }

    fn define(&mut self, p: Pair<'a, Rule>) -> ast::Define {
        let span = self.span(&p);
        let mut name = None;
        let mut value = None;
        for q in p.into_inner() {
            match q.as_rule() {
                Rule::ident => name = Some(self.ident(q)),
                Rule::value => value = Some(self.value(q)),
                _ => {}
            }
        }
        ast::Define {
            name: name.unwrap_or_else(|| Ident { text: String::new(), span }),
            value: value.unwrap_or_else(|| Value::Set(Vec::new(), span)),
            span,
        }
    }

    fn table(&mut self, p: Pair<'a, Rule>) -> ast::Table {
        let span = self.span(&p);
        let mut name = Ident { text: String::new(), span };
        let mut chains = Vec::new();
        for q in p.into_inner() {
            match q.as_rule() {
                Rule::ident => name = self.ident(q),
                Rule::chain | Rule::chain_t => chains.extend(self.chain(q)),
                Rule::bad_chain => self.bad(q, Context::Table),
                _ => {}
            }
        }
        ast::Table { name, chains, span }
    }

    /// A chain; `None` when it has no name (reported), though its rules are still checked.
    fn chain(&mut self, p: Pair<'a, Rule>) -> Option<ast::Chain> {
        let span = self.span(&p);
        let mut inner = p.into_inner();
        let kw = inner.next().map_or(span, |k| self.span(&k));
        let mut chain = ast::Chain {
            name: Ident { text: String::new(), span: kw },
            hook: None,
            kind: None,
            priority: None,
            policy: None,
            rules: Vec::new(),
            span,
            header_span: kw,
        };
        let mut named = false;
        for q in inner {
            match q.as_rule() {
                Rule::chain_head => {
                    let head = self.span(&q);
                    if !head.is_empty() {
                        chain.header_span = kw.to(head);
                    }
                    named = self.chain_head(q, &mut chain, kw);
                }
                Rule::chain_body | Rule::chain_body_t => {
                    for r in q.into_inner() {
                        match r.as_rule() {
                            Rule::rule => chain.rules.push(self.rule(r)),
                            Rule::fast_rule => {
                                let at = r.as_span().start();
                                if let Some((_, rule)) = self.fast.next_if(|(o, _)| *o == at) {
                                    chain.rules.push(rule);
                                    self.fast_taken += 1;
                                }
                            }
                            Rule::bad_rule => self.bad(r, Context::Rule),
                            _ => {}
                        }
                    }
                }
                _ => {}
            }
        }
        named.then_some(chain)
    }

    /// Fills the header options in; returns whether the chain has a name.
    fn chain_head(&mut self, head: Pair<'a, Rule>, chain: &mut ast::Chain, kw: Span) -> bool {
        let mut named = false;
        let mut reported = false;
        for q in head.into_inner() {
            match q.as_rule() {
                Rule::chain_name => {
                    chain.name = self.ident(q);
                    named = true;
                }
                Rule::clause => {
                    let clause_span = self.span(&q);
                    let mut parts = q.into_inner();
                    let (Some(word), Some(arg)) = (parts.next(), parts.next()) else { continue };
                    let word_text = word.as_str();
                    let taken = match word.as_rule() {
                        Rule::kw_hook => chain.hook.is_some(),
                        Rule::kw_type => chain.kind.is_some(),
                        Rule::kw_priority => chain.priority.is_some(),
                        _ => chain.policy.is_some(),
                    };
                    if taken {
                        self.error(
                            "E0109",
                            "duplicate-chain-clause",
                            format!("`{word_text}` is given twice in this chain header"),
                            clause_span,
                            format!("second `{word_text}` clause"),
                            Some(format!("keep one `{word_text}` clause: a chain takes each option at most once")),
                        );
                        continue;
                    }
                    match word.as_rule() {
                        Rule::kw_hook => chain.hook = Some(self.ident(arg)),
                        Rule::kw_type => chain.kind = Some(self.ident(arg)),
                        Rule::kw_priority => {
                            let span = self.span(&arg);
                            let value = arg.as_str().parse::<i64>().unwrap_or_else(|_| {
                                self.error(
                                    "E0107",
                                    "number-too-large",
                                    format!("priority `{}` is too large", arg.as_str()),
                                    span,
                                    "does not fit in 64 bits",
                                    Some("chain priorities are small numbers, such as -100, 0 or 100".into()),
                                );
                                0
                            });
                            chain.priority = Some(Spanned::new(value, span));
                        }
                        _ => chain.policy = Some(self.ident(arg)),
                    }
                }
                Rule::bad_word if !reported => {
                    reported = true;
                    let span = self.span(&q);
                    let word = q.as_str();
                    if let Some(what) = option_value(word) {
                        self.error(
                            "E0101",
                            "syntax-error",
                            format!("expected {what} after `{word}`"),
                            span,
                            format!("`{word}` needs a value"),
                            Some(format!("write `{word} {}`", option_example(word))),
                        );
                    } else if starts_word(word) {
                        let help = match suggest(word, CHAIN_OPTIONS) {
                            Some(near) => format!("did you mean `{near}`?"),
                            None => "a chain header takes `hook`, `type`, `priority` and `policy`"
                                .into(),
                        };
                        self.error(
                            "E0102",
                            "unknown-keyword",
                            format!("unknown word `{word}` in a chain header"),
                            span,
                            "not a chain option",
                            Some(help),
                        );
                    } else {
                        self.error(
                            "E0101",
                            "syntax-error",
                            format!("unexpected `{word}` in a chain header"),
                            span,
                            "expected a chain option or `{`",
                            Some(
                                "a chain header takes `hook`, `type`, `priority` and `policy`"
                                    .into(),
                            ),
                        );
                    }
                }
                _ => {}
            }
        }
        if !named {
            self.error(
                "E0113",
                "missing-chain-name",
                "expected a chain name after `chain`",
                kw,
                "this chain has no name",
                Some("write `chain NAME { ... }`".into()),
            );
        }
        named
    }

    fn rule(&mut self, p: Pair<'a, Rule>) -> ast::Rule {
        let span = self.span(&p);
        let mut terms = Vec::new();
        for q in p.into_inner() {
            if q.as_rule() == Rule::match_term {
                terms.push(ast::Term::Match(self.match_term(q)));
            } else if let Some(stmt) = self.stmt(q) {
                terms.push(ast::Term::Stmt(stmt));
            }
        }
        ast::Rule { terms, span }
    }

    fn match_term(&mut self, p: Pair<'a, Rule>) -> ast::Match {
        let span = self.span(&p);
        let mut field = Spanned::new(ast::Field::Saddr, span);
        let mut negated = None;
        let mut values = Vec::new();
        for q in p.into_inner() {
            match q.as_rule() {
                Rule::simple_field | Rule::port_field | Rule::ct_state => {
                    field = Spanned::new(field_of(&q), self.span(&q))
                }
                Rule::neg => negated = Some(self.span(&q)),
                Rule::value => values.push(q),
                _ => {}
            }
        }
        let value = self.value_list(values, field.node);
        ast::Match { field, negated, value, span }
    }

    /// The values after a match keyword: one value, or a bare comma list.
    fn value_list(&mut self, pairs: Vec<Pair<'a, Rule>>, field: ast::Field) -> Value {
        let span = match (pairs.first(), pairs.last()) {
            (Some(a), Some(b)) => self.span(a).to(self.span(b)),
            _ => Span::default(),
        };
        let mut values: Vec<Value> = pairs.into_iter().map(|q| self.value(q)).collect();
        if values.len() == 1 {
            return values.pop().expect("length checked");
        }
        if field != ast::Field::CtState {
            let items: Vec<&str> =
                values.iter().map(|v| self.src.get(v.span().range()).unwrap_or("")).collect();
            self.error(
                "E0114",
                "unbraced-list",
                "a list without braces is only allowed after `ct state`",
                span,
                "this list needs braces",
                Some(format!("write a set: `{{ {} }}`", items.join(", "))),
            );
        }
        Value::Set(values, span)
    }

    fn value(&mut self, p: Pair<'a, Rule>) -> Value {
        let span = self.span(&p);
        let mut inner = p.into_inner();
        let Some(q) = inner.next() else { return Value::Set(Vec::new(), span) };
        match q.as_rule() {
            Rule::set => {
                let values = q
                    .into_inner()
                    .filter(|r| r.as_rule() == Rule::value)
                    .map(|r| self.value(r))
                    .collect();
                Value::Set(values, span)
            }
            Rule::var => Value::Var(self.var(q)),
            _ => {
                let first = self.atom(q);
                match inner.find(|r| r.as_rule() == Rule::atom) {
                    Some(second) => Value::Range(first, self.atom(second), span),
                    None => Value::Atom(first),
                }
            }
        }
    }

    fn var(&self, q: Pair<'_, Rule>) -> Ident {
        Ident { text: q.as_str().trim_start_matches('$').to_string(), span: self.span(&q) }
    }

    fn atom(&mut self, p: Pair<'a, Rule>) -> Atom {
        let span = self.span(&p);
        let Some(q) = p.into_inner().next() else {
            return Atom { kind: AtomKind::Name(String::new()), span };
        };
        let kind = match q.as_rule() {
            Rule::addr => {
                let mut parts = q.into_inner();
                let Some(addr) = parts.next() else {
                    return Atom { kind: AtomKind::Name(String::new()), span };
                };
                let kind = self.addr(&addr);
                let Some(len) = parts.next() else { return Atom { kind, span } };
                let len_span = self.span(&len);
                let n = len.as_str().parse::<u32>().unwrap_or(u32::MAX);
                let (max, family) =
                    if addr.as_rule() == Rule::ipv4 { (32, "IPv4") } else { (128, "IPv6") };
                let len = if n > max {
                    self.error(
                        "E0106",
                        "bad-prefix-length",
                        format!(
                            "prefix length /{} is too long for an {family} address",
                            len.as_str()
                        ),
                        len_span,
                        format!("at most {max}"),
                        Some(format!("an {family} prefix length is a number from 0 to {max}")),
                    );
                    max as u8
                } else {
                    n as u8
                };
                match kind {
                    AtomKind::Ipv4(a) => AtomKind::Prefix4(a, len),
                    AtomKind::Ipv6(a) => AtomKind::Prefix6(a, len),
                    other => other,
                }
            }
            Rule::number => AtomKind::Number(self.number(&q).node),
            Rule::string => AtomKind::Str(self.string(q).node),
            _ => AtomKind::Name(q.as_str().to_string()),
        };
        Atom { kind, span }
    }

    /// An IPv4 or IPv6 address token, checked by the standard library.
    fn addr(&mut self, q: &Pair<'_, Rule>) -> AtomKind {
        let text = q.as_str();
        let span = self.span(q);
        if q.as_rule() == Rule::ipv4 {
            match text.parse::<Ipv4Addr>() {
                Ok(a) => AtomKind::Ipv4(a),
                Err(_) => {
                    self.error(
                        "E0108",
                        "bad-address",
                        format!("`{text}` is not a valid IPv4 address"),
                        span,
                        "not an IPv4 address",
                        Some(
                            "an IPv4 address is four numbers from 0 to 255, without leading zeros"
                                .into(),
                        ),
                    );
                    AtomKind::Ipv4(Ipv4Addr::UNSPECIFIED)
                }
            }
        } else {
            match text.parse::<Ipv6Addr>() {
                Ok(a) => AtomKind::Ipv6(a),
                Err(_) => {
                    self.error(
                        "E0108",
                        "bad-address",
                        format!("`{text}` is not a valid IPv6 address"),
                        span,
                        "not an IPv6 address",
                        Some("write IPv6 addresses like `fd00::1` or `::ffff:192.0.2.1`; a port after one needs brackets: `[fd00::1]:80`".into()),
                    );
                    AtomKind::Ipv6(Ipv6Addr::UNSPECIFIED)
                }
            }
        }
    }

    fn number(&mut self, q: &Pair<'_, Rule>) -> Spanned<u64> {
        let span = self.span(q);
        let n = q.as_str().parse::<u64>().unwrap_or_else(|_| {
            self.error(
                "E0107",
                "number-too-large",
                format!("number `{}` is too large", q.as_str()),
                span,
                "does not fit in 64 bits",
                Some(format!("the largest number is {}", u64::MAX)),
            );
            u64::MAX
        });
        Spanned::new(n, span)
    }

    /// A quoted string, unescaped. Only `\"` and `\\` are escapes.
    fn string(&mut self, q: Pair<'_, Rule>) -> Spanned<String> {
        let span = self.span(&q);
        let raw = q.as_str();
        let body = raw.get(1..raw.len().saturating_sub(1)).unwrap_or("");
        let mut out = String::with_capacity(body.len());
        let mut chars = body.char_indices();
        while let Some((i, c)) = chars.next() {
            if c != '\\' {
                out.push(c);
                continue;
            }
            match chars.next() {
                Some((_, e @ ('"' | '\\'))) => out.push(e),
                Some((_, e)) => {
                    let start = span.start as usize + 1 + i;
                    self.error(
                        "E0112",
                        "bad-escape",
                        format!("unknown escape `\\{}` in a string", e.escape_debug()),
                        Span::new(start, start + 1 + e.len_utf8()),
                        "not an escape",
                        Some(
                            "only `\\\"` and `\\\\` are escapes; write `\\\\` for a backslash"
                                .into(),
                        ),
                    );
                    out.push('\\');
                    out.push(e);
                }
                None => out.push('\\'),
            }
        }
        Spanned::new(out, span)
    }

    fn stmt(&mut self, q: Pair<'a, Rule>) -> Option<ast::Stmt> {
        use ast::StmtKind as K;
        let span = self.span(&q);
        let which = q.as_rule();
        let text = q.as_str();
        let mut inner = q.into_inner();
        let kind = match which {
            Rule::counter => {
                K::Counter(inner.find(|r| r.as_rule() == Rule::counter_name).map(|r| self.ident(r)))
            }
            Rule::log => K::Log {
                prefix: inner.find(|r| r.as_rule() == Rule::string).map(|r| self.string(r)),
            },
            Rule::limit => {
                let mut rate = None;
                let mut per = None;
                let mut burst = None;
                for r in inner {
                    match r.as_rule() {
                        Rule::number if rate.is_none() => rate = Some(self.number(&r)),
                        Rule::number => burst = Some(self.number(&r)),
                        Rule::ident => per = Some(self.ident(r)),
                        _ => {}
                    }
                }
                K::Limit { rate: rate?, per: per?, burst }
            }
            Rule::verdict => {
                let target = inner.find(|r| r.as_rule() == Rule::ident).map(|r| self.ident(r));
                K::Verdict(if text.starts_with("jump") {
                    ast::Verdict::Jump(target?)
                } else if text.starts_with("goto") {
                    ast::Verdict::Goto(target?)
                } else {
                    match text {
                        "accept" => ast::Verdict::Accept,
                        "drop" => ast::Verdict::Drop,
                        "reject" => ast::Verdict::Reject,
                        _ => ast::Verdict::Return,
                    }
                })
            }
            Rule::dnat => {
                K::Dnat(self.nat_target(inner.find(|r| r.as_rule() == Rule::nat_target)?)?)
            }
            Rule::snat => {
                K::Snat(self.nat_target(inner.find(|r| r.as_rule() == Rule::nat_target)?)?)
            }
            Rule::masquerade => K::Masquerade,
            Rule::redirect => {
                K::Redirect(self.number(&inner.find(|r| r.as_rule() == Rule::number)?))
            }
            _ => return None,
        };
        Some(ast::Stmt { kind, span })
    }

    fn nat_target(&mut self, p: Pair<'a, Rule>) -> Option<ast::NatTarget> {
        let q = p.into_inner().next()?;
        if q.as_rule() == Rule::balance {
            let span = self.span(&q);
            let mut backends = Vec::new();
            let mut mode = None;
            for r in q.into_inner() {
                match r.as_rule() {
                    Rule::backend => backends.push(self.backend(r)?),
                    Rule::ident => mode = Some(self.ident(r)),
                    _ => {}
                }
            }
            Some(ast::NatTarget::Balance { backends, mode: mode?, span })
        } else {
            Some(ast::NatTarget::One(self.backend(q)?))
        }
    }

    fn backend(&mut self, p: Pair<'a, Rule>) -> Option<ast::Backend> {
        let span = self.span(&p);
        let mut addr = None;
        let mut port = None;
        let mut weight = None;
        let mut after_colon = false;
        for r in p.into_inner() {
            match r.as_rule() {
                Rule::backend_addr => {
                    let a = r
                        .into_inner()
                        .find(|s| matches!(s.as_rule(), Rule::ipv4 | Rule::ipv6 | Rule::var))?;
                    addr = Some(if a.as_rule() == Rule::var {
                        Value::Var(self.var(a))
                    } else {
                        let span = self.span(&a);
                        Value::Atom(Atom { kind: self.addr(&a), span })
                    });
                }
                Rule::colon => after_colon = true,
                Rule::number if after_colon && port.is_none() => port = Some(self.number(&r)),
                Rule::number => weight = Some(self.number(&r)),
                _ => {}
            }
        }
        Some(ast::Backend { addr: addr?, port, weight, span })
    }

    // ---- step 3: explaining bad statements --------------------------------

    fn bad(&mut self, p: Pair<'a, Rule>, context: Context) {
        let raw = p.as_str();
        let text = raw.trim_end();
        let start = p.as_span().start();
        let span = Span::new(start.min(self.len), (start + text.len()).min(self.len));
        if self
            .suppress
            .iter()
            .any(|s| s.start < span.end.max(span.start + 1) && span.start < s.end.max(s.start + 1))
        {
            return;
        }
        let strict = match context {
            Context::Top => Rule::strict_top,
            Context::Table => Rule::strict_chain,
            Context::Rule => Rule::strict_rule,
        };
        match ShriekParser::parse(strict, text) {
            Err(err) => self.pest_error(&err, start, context, text),
            Ok(_) => self.error(
                "E0101",
                "syntax-error",
                "this statement could not be read",
                span,
                "not a valid statement",
                None,
            ),
        }
    }

    /// Translates pest's failure on `text` (which starts at `offset` in the file) into words.
    fn pest_error(
        &mut self,
        err: &pest::error::Error<Rule>,
        offset: usize,
        context: Context,
        text: &str,
    ) {
        let pos = match err.location {
            pest::error::InputLocation::Pos(p) => p,
            pest::error::InputLocation::Span((p, _)) => p,
        }
        .min(text.len());
        let positives: &[Rule] = match &err.variant {
            pest::error::ErrorVariant::ParsingError { positives, .. } => positives,
            pest::error::ErrorVariant::CustomError { .. } => &[],
        };
        let rest = &text[pos..];
        let found = found_token(rest);
        let at = offset + pos;
        let span = Span::new(at.min(self.len), (at + found.len()).min(self.len));
        let expects = |r: &[Rule]| positives.iter().any(|p| r.contains(p));
        let word = starts_word(found).then_some(found);

        if let Some(word) = word {
            if context == Context::Rule && (expects(TERM_RULES) || positives.is_empty()) {
                let help = if word == "chain" {
                    "a chain cannot sit inside another chain; is a `}` missing above?".to_string()
                } else if word == "sport" || word == "dport" {
                    format!("a port match names its protocol first: `tcp {word} 22`")
                } else if let Some(near) = suggest(word, RULE_KEYWORDS) {
                    format!("did you mean `{near}`?")
                } else {
                    "a rule is made of matches (`saddr`, `tcp dport`, `ct state`, ...) and statements (`accept`, `counter`, `log`, ...)".into()
                };
                let label = if pos == 0 {
                    "not a match or a statement"
                } else {
                    "expected a match or a statement here"
                };
                self.error(
                    "E0102",
                    "unknown-keyword",
                    format!("unknown word `{word}` in a rule"),
                    span,
                    label,
                    Some(help),
                );
                return;
            }
            if context == Context::Top
                && expects(&[
                    Rule::kw_include,
                    Rule::kw_define,
                    Rule::kw_table,
                    Rule::include,
                    Rule::define,
                    Rule::table,
                    Rule::strict_top,
                ])
            {
                let help = if word == "chain" {
                    "a chain belongs inside a table: `table NAME { chain ... }`".to_string()
                } else if RULE_KEYWORDS.contains(&word) {
                    "rules belong inside a chain, inside a table".to_string()
                } else if let Some(near) = suggest(word, TOP_KEYWORDS) {
                    format!("did you mean `{near}`?")
                } else {
                    "a file holds `include`, `define` and `table` items".into()
                };
                self.error(
                    "E0102",
                    "unknown-keyword",
                    format!("unknown word `{word}` at the top level"),
                    span,
                    "not `include`, `define` or `table`",
                    Some(help),
                );
                return;
            }
            if context == Context::Table
                && expects(&[Rule::kw_chain, Rule::chain, Rule::strict_chain])
            {
                let help = if RULE_KEYWORDS.contains(&word) {
                    "rules belong inside a chain: `chain NAME { ... }`".to_string()
                } else if let Some(near) = suggest(word, &["chain"]) {
                    format!("did you mean `{near}`?")
                } else {
                    "a table holds only `chain NAME { ... }` blocks".into()
                };
                self.error(
                    "E0102",
                    "unknown-keyword",
                    format!("unknown word `{word}` in a table"),
                    span,
                    "not `chain`",
                    Some(help),
                );
                return;
            }
        }
        if let Some(c) = rest.chars().next() {
            if !is_language_char(c) {
                self.error(
                    "E0110",
                    "stray-character",
                    format!("unexpected character `{}`", c.escape_debug()),
                    Span::new(at.min(self.len), (at + c.len_utf8()).min(self.len)),
                    "not part of the language",
                    Some("remove it".into()),
                );
                return;
            }
        }
        let expected = expected_words(positives);
        let found_text = if found.is_empty() {
            "the end of the statement".to_string()
        } else {
            format!("`{found}`")
        };
        let label = if found.is_empty() {
            "the statement ends here".to_string()
        } else {
            "unexpected here".into()
        };
        let message = if expected.is_empty() {
            format!("unexpected {found_text}")
        } else {
            format!("expected {expected}, found {found_text}")
        };
        let help = (found.is_empty() && expected.contains("`{`")).then(|| {
            "a block opens on the line of its header: put the `{` at the end of this line"
                .to_string()
        });
        self.error("E0101", "syntax-error", message, span, label, help);
    }
}

/// Rules whose presence among pest's expectations means "a match or a statement could go here".
const TERM_RULES: &[Rule] = &[
    Rule::strict_rule,
    Rule::rule,
    Rule::match_term,
    Rule::simple_field,
    Rule::simple_verdict,
    Rule::port_field,
    Rule::port_proto,
    Rule::ct_state,
    Rule::kw_ct,
    Rule::counter,
    Rule::log,
    Rule::limit,
    Rule::verdict,
    Rule::dnat,
    Rule::snat,
    Rule::masquerade,
    Rule::redirect,
    Rule::kw_masquerade,
    Rule::kw_redirect,
];

fn rule_words(r: Rule) -> Option<&'static str> {
    if TERM_RULES.contains(&r) {
        return Some("a match or a statement");
    }
    Some(match r {
        Rule::value | Rule::atom | Rule::set | Rule::var | Rule::addr => "a value",
        Rule::ipv4 | Rule::ipv6 | Rule::name => "a value",
        Rule::backend
        | Rule::backend_one
        | Rule::backend_addr
        | Rule::nat_target
        | Rule::balance => "an address, `[IPv6]` or a `{ ... }` of backends",
        Rule::number | Rule::int | Rule::prefix_len => "a number",
        Rule::string => "a quoted string",
        Rule::ident => "a name",
        Rule::chain_name => "a chain name",
        Rule::counter_name => "a counter name",
        Rule::lbrace => "`{`",
        Rule::rbrace => "`}`",
        Rule::lbracket => "`[`",
        Rule::rbracket => "`]`",
        Rule::comma => "`,`",
        Rule::eq => "`=`",
        Rule::neg => "`!=`",
        Rule::dash => "`-`",
        Rule::slash => "`/`",
        Rule::colon => "`:`",
        Rule::kw_include
        | Rule::kw_define
        | Rule::kw_table
        | Rule::include
        | Rule::define
        | Rule::table => "`include`, `define` or `table`",
        Rule::kw_chain | Rule::chain => "`chain`",
        Rule::kw_hook
        | Rule::kw_type
        | Rule::kw_priority
        | Rule::kw_policy
        | Rule::clause
        | Rule::bad_word => "a chain option (`hook`, `type`, `priority`, `policy`)",
        Rule::chain_head => "a chain name",
        Rule::chain_body => "`{`",
        Rule::port_dir => "`sport` or `dport`",
        Rule::kw_state => "`state`",
        Rule::kw_prefix => "`prefix`",
        Rule::kw_burst => "`burst`",
        Rule::kw_to => "`to`",
        Rule::kw_balance => "`balance`",
        Rule::kw_weight => "`weight`",
        Rule::EOI => "the end of the statement",
        _ => return None,
    })
}

/// "a, b or c", with the noisy continuations (`-` of a range, `/` of a prefix)
/// left out when something more telling is expected too.
fn expected_words(positives: &[Rule]) -> String {
    let mut words: Vec<&str> = Vec::new();
    for &p in positives {
        if let Some(w) = rule_words(p) {
            if !words.contains(&w) {
                words.push(w);
            }
        }
    }
    if words.len() > 1 {
        words.retain(|w| *w != "`-`" && *w != "`/`");
    }
    if words.contains(&"a value") {
        words.retain(|w| *w != "a number" && *w != "a quoted string");
    }
    match words.split_last() {
        None => String::new(),
        Some((last, [])) => last.to_string(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
    }
}

/// The token at the start of `rest`, for messages: a word-like run, or one character.
fn found_token(rest: &str) -> &str {
    let end = rest
        .char_indices()
        .find(|&(_, c)| {
            !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-' | ':' | '/' | '$'))
        })
        .map_or(rest.len(), |(i, _)| i);
    if end > 0 {
        return &rest[..end];
    }
    match rest.chars().next() {
        Some('\n') | None => "",
        Some(c) => &rest[..c.len_utf8()],
    }
}

/// The keyword `word` most likely misspells: [`nearest`], plus one swap of
/// neighbouring letters (`chian`, `tabel`), the commonest typo of all.
fn suggest(word: &str, candidates: &[&'static str]) -> Option<&'static str> {
    nearest(word, candidates.iter().copied()).or_else(|| {
        let w: Vec<char> = word.chars().collect();
        candidates.iter().copied().find(|c| {
            let c: Vec<char> = c.chars().collect();
            c.len() == w.len()
                && levenshtein(word, &c.iter().collect::<String>()) == 2
                && (0..w.len().saturating_sub(1)).any(|i| {
                    let mut swapped = w.clone();
                    swapped.swap(i, i + 1);
                    swapped == c
                })
        })
    })
}

fn starts_word(s: &str) -> bool {
    s.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
}

fn is_language_char(c: char) -> bool {
    c.is_ascii_alphanumeric()
        || matches!(c, ' ' | '\t' | '\r' | '\n' | '_' | '.' | '-' | ':' | '/' | '$' | '"' | '#')
        || matches!(c, '{' | '}' | '[' | ']' | ',' | ';' | '=' | '!')
}

fn option_value(word: &str) -> Option<&'static str> {
    Some(match word {
        "hook" => "a hook name",
        "type" => "a chain type",
        "priority" => "a priority number",
        "policy" => "a policy",
        _ => return None,
    })
}

fn option_example(word: &str) -> &'static str {
    match word {
        "hook" => "input",
        "type" => "filter",
        "priority" => "0",
        _ => "drop",
    }
}

fn field_of(q: &Pair<'_, Rule>) -> ast::Field {
    use ast::{Field, PortDir, PortProto};
    match (q.as_rule(), q.as_str()) {
        (Rule::simple_field, "saddr") => Field::Saddr,
        (Rule::simple_field, "daddr") => Field::Daddr,
        (Rule::simple_field, "proto") => Field::Proto,
        (Rule::simple_field, "iif") => Field::Iif,
        (Rule::simple_field, "oif") => Field::Oif,
        (Rule::simple_field, _) => Field::Family,
        (Rule::ct_state, _) => Field::CtState,
        (_, text) => {
            let proto = if text.starts_with("udp") {
                PortProto::Udp
            } else if text.starts_with("sctp") {
                PortProto::Sctp
            } else {
                PortProto::Tcp
            };
            let dir = if text.ends_with("sport") { PortDir::Sport } else { PortDir::Dport };
            Field::Port(proto, dir)
        }
    }
}
