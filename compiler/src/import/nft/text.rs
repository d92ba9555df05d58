//! `nft list ruleset` text into the nft model.
//!
//! The listing is regular: `table FAMILY NAME { ... }` blocks holding
//! chains, sets, maps and objects, one statement or rule per line. A
//! hand-written file in the same shape also reads (`;` separators,
//! comments, `flush ruleset`, simple `define`s); a file of commands (`add
//! rule ...`) or `include`s does not: load it with `nft -f` and import what
//! `nft list ruleset` prints.

mod expr;

use std::collections::HashMap;

use super::super::model::{Origin, Place};
use super::super::ImportError;
use super::{duration_ms, NBase, NChain, NRule, NSet, NTable, Source, Val};
use expr::rule;

/// Whether `text` looks like an nft ruleset: its first statement is
/// `table`, `flush` or `define`.
pub fn looks_like(text: &str) -> bool {
    let first = text.lines().map(str::trim).find(|l| !l.is_empty() && !l.starts_with('#'));
    first.is_some_and(|l| {
        let w = l.split_whitespace().next().unwrap_or("");
        matches!(w, "table" | "flush" | "define")
    })
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Tok {
    Word(String),
    Str(String),
    Open,
    Close,
    /// A newline or `;`: the end of a statement.
    End,
    Comma,
}

#[derive(Clone, Debug)]
struct Token {
    tok: Tok,
    line: usize,
}

fn tokens(input: usize, text: &str) -> Result<Vec<Token>, ImportError> {
    let mut out = Vec::new();
    let mut line = 1;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        let push = |out: &mut Vec<Token>, tok| out.push(Token { tok, line });
        match c {
            '\n' => {
                push(&mut out, Tok::End);
                line += 1;
            }
            ';' => push(&mut out, Tok::End),
            '{' => push(&mut out, Tok::Open),
            '}' => push(&mut out, Tok::Close),
            ',' => push(&mut out, Tok::Comma),
            '#' => while chars.next_if(|c| *c != '\n').is_some() {},
            '"' => {
                let mut s = String::new();
                loop {
                    match chars.next() {
                        // `\*` is a plain star to nft, which an interface
                        // name keeps to tell it from a wildcard.
                        Some('\\') if chars.peek() == Some(&'*') => s.push('\\'),
                        Some('\\') => s.extend(chars.next()),
                        Some('"') => break,
                        Some('\n') | None => {
                            return Err(ImportError::at(
                                input,
                                line,
                                "a quote `\"` that is never closed",
                            ))
                        }
                        Some(ch) => s.push(ch),
                    }
                }
                push(&mut out, Tok::Str(s));
            }
            c if c.is_whitespace() => {}
            c => {
                let mut w = String::from(c);
                while let Some(ch) =
                    chars.next_if(|ch| !ch.is_whitespace() && !"{};,\"#".contains(*ch))
                {
                    w.push(ch);
                }
                push(&mut out, Tok::Word(w));
            }
        }
    }
    Ok(out)
}

struct Parser<'a> {
    input: usize,
    lines: Vec<&'a str>,
    toks: Vec<Token>,
    at: usize,
    defines: HashMap<String, Vec<Token>>,
}

pub fn read(input: usize, text: &str) -> Result<Source, ImportError> {
    let toks = tokens(input, text)?;
    let mut p =
        Parser { input, lines: text.lines().collect(), toks, at: 0, defines: HashMap::new() };
    let mut source = Source::default();
    while let Some(t) = p.peek() {
        let line = t.line;
        match t.tok.clone() {
            Tok::End => p.at += 1,
            Tok::Word(w) if w == "table" => {
                p.at += 1;
                let t = p.table(line)?;
                // A table named again adds to the first, as `nft -f` does.
                match source.tables.iter_mut().find(|x| x.family == t.family && x.name == t.name) {
                    Some(x) => {
                        x.chains.extend(t.chains);
                        x.sets.extend(t.sets);
                        x.skipped.extend(t.skipped);
                    }
                    None => source.tables.push(t),
                }
            }
            Tok::Word(w) if w == "delete" || w == "destroy" => {
                let ws = words(&p.statement());
                match ws.as_slice() {
                    [_, kind, family, name] if kind == "table" => {
                        source.tables.retain(|t| !(&t.family == family && &t.name == name))
                    }
                    _ => return Err(p.error(line, format!("cannot read `{}` here", ws.join(" ")))),
                }
            }
            Tok::Word(w) if w == "flush" => p.skip_statement(),
            Tok::Word(w) if w == "define" => p.define()?,
            Tok::Word(w) if w == "include" => {
                return Err(p.error(line, "`include` is not read").with_help(
                    "load the ruleset with `nft -f` and import what `nft list ruleset` prints",
                ))
            }
            other => {
                return Err(p
                    .error(
                        line,
                        format!("cannot read `{}` here as part of an nft ruleset", show(&other)),
                    )
                    .with_help(
                        "import what `nft list ruleset` prints: `table FAMILY NAME { ... }` blocks",
                    ))
            }
        }
    }
    Ok(source)
}

fn show(t: &Tok) -> String {
    match t {
        Tok::Word(w) => w.clone(),
        Tok::Str(s) => format!("\"{s}\""),
        Tok::Open => "{".into(),
        Tok::Close => "}".into(),
        Tok::End => ";".into(),
        Tok::Comma => ",".into(),
    }
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Token> {
        self.toks.get(self.at)
    }

    fn error(&self, line: usize, message: impl Into<String>) -> ImportError {
        ImportError::at(self.input, line, message)
    }

    fn line(&self) -> usize {
        self.peek().map_or_else(|| self.toks.last().map_or(1, |t| t.line), |t| t.line)
    }

    fn word(&mut self) -> Option<String> {
        match self.peek().map(|t| &t.tok) {
            Some(Tok::Word(w)) | Some(Tok::Str(w)) => {
                let w = w.clone();
                self.at += 1;
                Some(w)
            }
            _ => None,
        }
    }

    fn expect_open(&mut self) -> Result<(), ImportError> {
        match self.peek().map(|t| &t.tok) {
            Some(Tok::Open) => {
                self.at += 1;
                Ok(())
            }
            _ => Err(self.error(self.line(), "expected `{`")),
        }
    }

    /// Skips to the end of the statement, over any braces in it.
    fn skip_statement(&mut self) {
        let mut depth = 0;
        while let Some(t) = self.peek() {
            match t.tok {
                Tok::Open => depth += 1,
                Tok::Close if depth == 0 => return,
                Tok::Close => depth -= 1,
                Tok::End if depth == 0 => return,
                _ => {}
            }
            self.at += 1;
        }
    }

    /// The tokens of one statement, `$name`s replaced by their defines.
    fn statement(&mut self) -> Vec<Token> {
        let start = self.at;
        self.skip_statement();
        let mut out = Vec::new();
        for t in &self.toks[start..self.at] {
            match &t.tok {
                Tok::Word(w) if w.starts_with('$') && self.defines.contains_key(&w[1..]) => {
                    out.extend(self.defines[&w[1..]].iter().cloned())
                }
                _ => out.push(t.clone()),
            }
        }
        out
    }

    fn define(&mut self) -> Result<(), ImportError> {
        let line = self.line();
        self.at += 1;
        let name = self.word().ok_or_else(|| self.error(line, "`define` without a name"))?;
        if self.word().as_deref() != Some("=") {
            return Err(self.error(line, "expected `=` after the name of a `define`"));
        }
        let value = self.statement();
        self.defines.insert(name, value);
        Ok(())
    }

    fn table(&mut self, line: usize) -> Result<NTable, ImportError> {
        let first = self.word().ok_or_else(|| self.error(line, "`table` without a name"))?;
        let (family, name) = match self.peek().map(|t| &t.tok) {
            Some(Tok::Open) => ("ip".to_string(), first),
            _ => (first, self.word().ok_or_else(|| self.error(line, "`table` without a name"))?),
        };
        self.expect_open()?;
        let mut t =
            NTable { family, name, chains: Vec::new(), sets: Vec::new(), skipped: Vec::new() };
        loop {
            let Some(tok) = self.peek().cloned() else {
                return Err(self.error(line, "a table that is never closed with `}`"));
            };
            match tok.tok {
                Tok::End => self.at += 1,
                Tok::Close => {
                    self.at += 1;
                    return Ok(t);
                }
                Tok::Word(w) if w == "chain" => {
                    self.at += 1;
                    let chain = self.chain(tok.line)?;
                    t.chains.push(chain);
                }
                Tok::Word(w) if w == "set" || w == "map" => {
                    self.at += 1;
                    let set = self.set(tok.line, w == "map")?;
                    t.sets.push(set);
                }
                Tok::Word(w) if w == "counter" || w == "comment" => self.skip_statement(),
                Tok::Word(w) => {
                    let origin = self.origin(tok.line, tok.line);
                    self.skip_statement();
                    t.skipped.push((origin, format!("the nft `{w}` object")));
                }
                other => {
                    return Err(
                        self.error(tok.line, format!("unexpected `{}` in a table", show(&other)))
                    )
                }
            }
        }
    }

    fn origin(&self, first: usize, last: usize) -> Origin {
        let text: Vec<&str> =
            (first..=last).filter_map(|l| self.lines.get(l - 1)).map(|l| l.trim()).collect();
        Origin { place: Place::Line { input: self.input, line: first }, text: text.join(" ") }
    }

    fn chain(&mut self, line: usize) -> Result<NChain, ImportError> {
        let name = self.word().ok_or_else(|| self.error(line, "`chain` without a name"))?;
        self.expect_open()?;
        let mut c = NChain { name, base: None, rules: Vec::new(), origin: self.origin(line, line) };
        loop {
            let Some(tok) = self.peek().cloned() else {
                return Err(self.error(line, "a chain that is never closed with `}`"));
            };
            match &tok.tok {
                Tok::End => self.at += 1,
                Tok::Close => {
                    self.at += 1;
                    return Ok(c);
                }
                Tok::Word(w) if w == "type" => {
                    let words = words(&self.statement());
                    c.base = Some(base_header(&words, c.base.take()));
                }
                Tok::Word(w) if w == "policy" => {
                    let words = words(&self.statement());
                    let base = c.base.get_or_insert_with(empty_base);
                    base.policy = words.get(1).cloned().unwrap_or_default();
                }
                Tok::Word(w) if w == "comment" || w == "devices" => {
                    if w == "devices" {
                        c.base.get_or_insert_with(empty_base).device = true;
                    }
                    self.skip_statement();
                }
                _ => {
                    let toks = self.statement();
                    let last = toks.last().map_or(tok.line, |t| t.line);
                    let origin = self.origin(tok.line, last);
                    let (items, comment) = rule(&toks);
                    c.rules.push(NRule { items, comment, origin });
                }
            }
        }
    }

    fn set(&mut self, line: usize, map: bool) -> Result<NSet, ImportError> {
        let name = self.word().ok_or_else(|| self.error(line, "a set without a name"))?;
        self.expect_open()?;
        let mut s = NSet {
            name,
            key: Vec::new(),
            data: None,
            flags: Vec::new(),
            timeout_ms: None,
            size: None,
            elements: Vec::new(),
        };
        loop {
            let Some(tok) = self.peek().cloned() else {
                return Err(self.error(line, "a set that is never closed with `}`"));
            };
            match &tok.tok {
                Tok::End => self.at += 1,
                Tok::Close => {
                    self.at += 1;
                    return Ok(s);
                }
                Tok::Word(w) if w == "type" || w == "typeof" => {
                    let words = words(&self.statement());
                    let text = words[1..].join(" ");
                    let (key, data) = match text.split_once(" : ") {
                        Some((k, d)) => (k.to_string(), Some(d.to_string())),
                        None => (text, None),
                    };
                    s.key = key.split(" . ").map(str::to_string).collect();
                    s.data = data.filter(|_| map);
                }
                Tok::Word(w) if w == "flags" => {
                    let toks = self.statement();
                    s.flags.extend(words(&toks).into_iter().skip(1));
                }
                Tok::Word(w) if w == "timeout" => {
                    s.flags.push("timeout".into());
                    s.timeout_ms = words(&self.statement()).get(1).and_then(|t| duration_ms(t));
                }
                Tok::Word(w) if w == "size" => {
                    s.size = words(&self.statement()).get(1).and_then(|n| n.parse().ok());
                }
                Tok::Word(w) if w == "elements" => {
                    let toks = self.statement();
                    let body = match toks.iter().position(|t| t.tok == Tok::Open) {
                        // Cut input may end right after the `{`.
                        Some(i) => &toks[i + 1..toks.len().saturating_sub(1).max(i + 1)],
                        None => &toks[..0],
                    };
                    s.elements = elements(body);
                }
                _ => self.skip_statement(),
            }
        }
    }
}

fn empty_base() -> NBase {
    NBase {
        kind: String::new(),
        hook: String::new(),
        priority: "0".into(),
        policy: "accept".into(),
        device: false,
    }
}

/// `type filter hook input priority filter + 10`, and `device` if any.
fn base_header(words: &[String], old: Option<NBase>) -> NBase {
    let mut b = old.unwrap_or_else(empty_base);
    let mut i = 0;
    while i < words.len() {
        match words[i].as_str() {
            "type" => b.kind = words.get(i + 1).cloned().unwrap_or_default(),
            "hook" => b.hook = words.get(i + 1).cloned().unwrap_or_default(),
            "device" => b.device = true,
            "priority" => {
                b.priority = words[i + 1..].join(" ");
                break;
            }
            _ => {}
        }
        i += 2;
    }
    b
}

fn words(toks: &[Token]) -> Vec<String> {
    toks.iter()
        .filter_map(|t| match &t.tok {
            Tok::Word(w) | Tok::Str(w) => Some(w.clone()),
            _ => None,
        })
        .collect()
}

/// Set or map elements: `a, b-c, d . e : accept`, with element options
/// (`timeout 30s`, `counter ...`, `comment "x"`) skipped.
fn elements(toks: &[Token]) -> Vec<(Val, Option<Val>)> {
    let mut out = Vec::new();
    for part in toks.split(|t| t.tok == Tok::Comma) {
        let ws: Vec<String> = part
            .iter()
            .filter_map(|t| match &t.tok {
                Tok::Word(w) | Tok::Str(w) => Some(w.clone()),
                _ => None,
            })
            .collect();
        // The options come between the key and its data (`80 counter
        // packets 3 bytes 180 : accept`, as nft lists a counting map).
        let (key, data) = match ws.iter().position(|w| w == ":") {
            Some(i) => (&ws[..i], Some(&ws[i + 1..])),
            None => (&ws[..], None),
        };
        let is_option =
            |w: &String| matches!(w.as_str(), "timeout" | "expires" | "counter" | "comment");
        let key = match key.iter().position(is_option) {
            Some(i) => &key[..i],
            None => key,
        };
        if key.is_empty() {
            continue;
        }
        out.push((concat(key), data.map(|d| Val::Word(d.join(" ")))));
    }
    out
}

/// A NAT map's data as one value: `10.0.1.1 . 8080`, read as one word,
/// becomes the concatenation it is.
pub(crate) fn nat_value(v: Val) -> Val {
    match v {
        Val::Word(w) => concat(&w.split(' ').map(str::to_string).collect::<Vec<_>>()),
        other => other,
    }
}

/// `a . b . c` as one value.
fn concat(ws: &[String]) -> Val {
    let parts: Vec<Val> = ws.split(|w| w == ".").map(|p| Val::Word(p.join(" "))).collect();
    match <[Val; 1]>::try_from(parts) {
        Ok([one]) => one,
        Err(parts) => Val::Concat(parts),
    }
}
