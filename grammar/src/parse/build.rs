//! Step 2 of parsing: pest's pairs -> the typed AST.
//!
//! Value checks a grammar cannot express (prefix lengths, number sizes,
//! address syntax, escapes, repeated chain options) happen here, while the
//! tree is built. Statements the tolerant grammar could only read as
//! `bad_*` nodes are handed to `expected.rs` to be explained.

use std::net::{Ipv4Addr, Ipv6Addr};

use pest::iterators::Pair;
use pest::Parser;

use crate::ast::{self, Atom, AtomKind, Ident, Span, Spanned, Value};
use crate::codes;
use crate::{Code, LocalDiagnostic};

use super::expected::{option_example, option_value, starts_word, suggest};
use super::prescan::Prescan;
use super::{Rule, ShriekParser, CHAIN_OPTIONS};

/// Parses `src` (the prescanned text, perhaps with fast lines marked) and builds
/// the tree. `None` when a line read by `fast.rs` did not come back exactly
/// where a rule of a chain body belongs: the caller then parses without them.
pub(super) fn build(
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

pub(super) struct Cx<'a> {
    pub(super) src: &'a str,
    /// Length of the real input: spans into appended braces are clamped to it.
    pub(super) len: usize,
    diags: Vec<LocalDiagnostic>,
    /// Places the prescan already explained: a bad statement touching one
    /// is not reported again.
    pub(super) suppress: Vec<Span>,
    /// Rules `fast.rs` read, by offset, waiting for their `fast_rule` token.
    fast: std::iter::Peekable<std::vec::IntoIter<(usize, ast::Rule)>>,
    /// How many of them found their place.
    fast_taken: usize,
}

/// Where a bad statement sits, which decides the strict rule and the wording.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Context {
    Top,
    Table,
    Rule,
}

impl<'a> Cx<'a> {
    /// The exact span of a node. Pest lets a rule ending in `x*` or `x?` swallow
    /// the whitespace and comments before the absent `x`, so the end is taken
    /// from the node's last token instead.
    pub(super) fn span(&self, p: &Pair<'_, Rule>) -> Span {
        let start = p.as_span().start();
        let mut last = p.clone();
        while let Some(child) = last.clone().into_inner().next_back() {
            last = child;
        }
        let end =
            if last.as_rule() == Rule::EOI { p.as_span().end() } else { last.as_span().end() };
        Span::new(start.min(self.len), end.max(start).min(self.len))
    }

    pub(super) fn error(
        &mut self,
        code: &'static Code,
        message: impl Into<String>,
        span: Span,
        label: impl Into<String>,
        help: Option<String>,
    ) {
        let mut d = LocalDiagnostic::new(code, message, span, label);
        d.help = help;
        self.diags.push(d);
    }

    fn ident(&self, p: Pair<'_, Rule>) -> Ident {
        Ident { text: p.as_str().to_string(), span: self.span(&p) }
    }

    /// The word after `per` in `per saddr`.
    fn per_key(&self, p: Pair<'_, Rule>) -> Option<Ident> {
        p.into_inner().find(|r| r.as_rule() == Rule::ident).map(|r| self.ident(r))
    }

    fn file(&mut self, file: Pair<'a, Rule>) -> Vec<ast::Item> {
        let mut items = Vec::new();
        for p in file.into_inner() {
            match p.as_rule() {
                Rule::include => items.push(ast::Item::Include(self.include(p))),
                Rule::define => items.push(ast::Item::Define(self.define(p))),
                Rule::table | Rule::table_t => items.push(ast::Item::Table(self.table(p))),
                Rule::counters_setting => items.push(ast::Item::Counters(self.counters(p))),
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
        let mut counters = None;
        for q in p.into_inner() {
            match q.as_rule() {
                Rule::ident => name = self.ident(q),
                Rule::chain | Rule::chain_t => chains.extend(self.chain(q)),
                Rule::counters_setting => counters = Some(self.counters(q)),
                Rule::bad_chain => self.bad(q, Context::Table),
                _ => {}
            }
        }
        ast::Table { name, chains, counters, span }
    }

    fn counters(&mut self, p: Pair<'a, Rule>) -> ast::CountersSetting {
        let span = self.span(&p);
        let value = p
            .into_inner()
            .find(|q| q.as_rule() == Rule::ident)
            .map_or(Ident { text: String::new(), span }, |q| self.ident(q));
        ast::CountersSetting { value, span }
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
                                // The token is a run of marked lines: the
                                // rules read at its first byte and inside it.
                                let (at, end) = (r.as_span().start(), r.as_span().end());
                                while let Some((_, rule)) =
                                    self.fast.next_if(|(o, _)| (at..end).contains(o))
                                {
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
                            codes::DUPLICATE_CHAIN_CLAUSE,
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
                                    codes::NUMBER_TOO_LARGE,
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
                            codes::SYNTAX_ERROR,
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
                            codes::UNKNOWN_KEYWORD,
                            format!("unknown word `{word}` in a chain header"),
                            span,
                            "not a chain option",
                            Some(help),
                        );
                    } else {
                        self.error(
                            codes::SYNTAX_ERROR,
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
                codes::MISSING_CHAIN_NAME,
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
        let mut flags = None;
        for q in p.into_inner() {
            match q.as_rule() {
                Rule::simple_field
                | Rule::port_field
                | Rule::icmp_field
                | Rule::ct_state
                | Rule::meta_mark => field = Spanned::new(field_of(&q), self.span(&q)),
                Rule::tcp_flags => {
                    field = Spanned::new(ast::Field::TcpFlags, self.span(&q));
                    flags = Some(Box::new(ast::FlagsForm { op: ast::FlagsOp::AnyOf, mask: None }));
                }
                Rule::flags_exact => {
                    if let Some(f) = &mut flags {
                        f.op = ast::FlagsOp::Exact(self.span(&q));
                    }
                }
                Rule::flags_none => {
                    if let Some(f) = &mut flags {
                        f.op = ast::FlagsOp::NoneOf(self.span(&q));
                    }
                }
                Rule::flags_mask => {
                    let pairs = q.into_inner().filter(|r| r.as_rule() == Rule::value).collect();
                    let mask = self.value_list(pairs, ast::Field::TcpFlags);
                    if let Some(f) = &mut flags {
                        f.mask = Some(mask);
                    }
                }
                Rule::neg => negated = Some(self.span(&q)),
                Rule::value => values.push(q),
                _ => {}
            }
        }
        let value = self.value_list(values, field.node);
        ast::Match { field, negated, value, span, flags }
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
        // `ct state a,b` and `tcp flags syn,ack` read a list of bits.
        if field != ast::Field::CtState && field != ast::Field::TcpFlags {
            let items: Vec<&str> =
                values.iter().map(|v| self.src.get(v.span().range()).unwrap_or("")).collect();
            self.error(
                codes::UNBRACED_LIST,
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
                        codes::BAD_PREFIX_LENGTH,
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
                        codes::BAD_ADDRESS,
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
                        codes::BAD_ADDRESS,
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

    /// A number; one too large for 64 bits is reported and read as
    /// `u64::MAX`, which resolution recognises by its text and leaves alone.
    fn number(&mut self, q: &Pair<'_, Rule>) -> Spanned<u64> {
        let span = self.span(q);
        let text = q.as_str();
        let n = match text.strip_prefix("0x") {
            Some(hex) => u64::from_str_radix(hex, 16),
            None => text.parse::<u64>(),
        };
        let n = n.unwrap_or_else(|_| {
            self.error(
                codes::NUMBER_TOO_LARGE,
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
                        codes::BAD_ESCAPE,
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
            Rule::log => {
                let (mut prefix, mut level) = (None, None);
                for r in inner {
                    match r.as_rule() {
                        Rule::string => prefix = Some(self.string(r)),
                        Rule::log_level => level = Some(self.ident(r)),
                        _ => {}
                    }
                }
                K::Log { prefix, level }
            }
            Rule::limit => {
                let mut rate = None;
                let mut per = None;
                let mut burst = None;
                let mut key = None;
                for r in inner {
                    match r.as_rule() {
                        Rule::number if rate.is_none() => rate = Some(self.number(&r)),
                        Rule::number => burst = Some(self.number(&r)),
                        Rule::ident => per = Some(self.ident(r)),
                        Rule::per_key => key = self.per_key(r),
                        _ => {}
                    }
                }
                K::Limit { rate: rate?, per: per?, burst, key }
            }
            Rule::mark_set => {
                K::MarkSet(inner.find(|r| r.as_rule() == Rule::number).map(|r| self.number(&r))?)
            }
            Rule::ct_count => {
                let over = inner.find(|r| r.as_rule() == Rule::number).map(|r| self.number(&r));
                let key =
                    inner.find(|r| r.as_rule() == Rule::per_key).and_then(|r| self.per_key(r));
                K::CtCount { over: over?, key: key? }
            }
            Rule::verdict if text.starts_with("reject") && text != "reject" => {
                let with = inner.find(|r| r.as_rule() == Rule::reject_with)?;
                let mut proto = None;
                let mut code = None;
                for r in with.into_inner() {
                    match r.as_rule() {
                        Rule::reject_proto => {
                            proto = Some(match r.as_str() {
                                "icmpv6" => ast::RejectProto::Icmpv6,
                                "icmpx" => ast::RejectProto::Icmpx,
                                _ => ast::RejectProto::Icmp,
                            })
                        }
                        Rule::ident => code = Some(self.ident(r)),
                        _ => {}
                    }
                }
                K::Verdict(ast::Verdict::RejectWith(match proto {
                    Some(p) => ast::RejectWith::Icmp(p, code?),
                    None => ast::RejectWith::TcpReset,
                }))
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
            Some(ast::NatTarget::One(Box::new(self.backend(q)?)))
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
}

fn field_of(q: &Pair<'_, Rule>) -> ast::Field {
    use ast::{Field, IcmpPart, IcmpProto, PortDir, PortProto};
    match (q.as_rule(), q.as_str()) {
        (Rule::simple_field, "saddr") => Field::Saddr,
        (Rule::simple_field, "daddr") => Field::Daddr,
        (Rule::simple_field, "proto") => Field::Proto,
        (Rule::simple_field, "iif") => Field::Iif,
        (Rule::simple_field, "oif") => Field::Oif,
        (Rule::simple_field, "mark") | (Rule::meta_mark, _) => Field::Mark,
        (Rule::simple_field, _) => Field::Family,
        (Rule::ct_state, _) => Field::CtState,
        (Rule::icmp_field, text) => {
            let proto =
                if text.starts_with("icmpv6") { IcmpProto::Icmpv6 } else { IcmpProto::Icmp };
            let part = if text.ends_with("code") { IcmpPart::Code } else { IcmpPart::Type };
            Field::Icmp(proto, part)
        }
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
