//! The import model as `.shr` text: the whole policy with, for each line,
//! the rule it holds ([`render`]), one rule's body ([`body_text`]), and the
//! names, interfaces and places the output and the warnings print.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::IpAddr;

use shriek_grammar::ast;

use super::{
    Addr, Backend, Base, Body, Chain, Dir, Item, LeftOut, Match, Origin, Place, Policy, Stmt,
    Verdict,
};
use crate::ir::{ChainKind, ChainPolicy};
use crate::nft::vocab::{icmp_keyword, icmp_range_text, name_of, LOG_LEVELS};
use crate::space::flags;
use crate::space::words;
use crate::space::Family;

/// Which item of the policy a line of the rendered text holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ItemRef {
    pub table: usize,
    pub chain: usize,
    pub item: usize,
}

/// The whole policy as `.shr` text, in no particular layout (the caller
/// formats it), and for each line (0-based) the rule it holds.
pub fn render(
    policy: &Policy,
    header: &[String],
    inputs: &[String],
) -> (String, Vec<Option<ItemRef>>) {
    let mut w = Writer::default();
    for line in header {
        w.comment("", line);
    }
    if !header.is_empty() {
        w.line(String::new(), None);
    }
    for d in &policy.defines {
        if let Some(note) = &d.note {
            w.comment("", note);
        }
        w.line(format!("define {} = {{ {} }}", d.name, d.values.join(", ")), None);
    }
    if !policy.defines.is_empty() {
        w.line(String::new(), None);
    }
    for (ti, t) in policy.tables.iter().enumerate() {
        if ti > 0 {
            w.line(String::new(), None);
        }
        for n in &t.notes {
            w.comment("", n);
        }
        w.line(format!("table {} {{", t.name), None);
        for (ci, c) in t.chains.iter().enumerate() {
            if ci > 0 {
                w.line(String::new(), None);
            }
            w.chain(c, inputs, ti, ci);
        }
        w.line("}".into(), None);
    }
    if !policy.left_out.is_empty() {
        w.line(String::new(), None);
    }
    for l in &policy.left_out {
        w.left_out("", l, inputs);
    }
    (w.out, w.map)
}

#[derive(Default)]
struct Writer {
    out: String,
    map: Vec<Option<ItemRef>>,
}

impl Writer {
    fn line(&mut self, text: String, item: Option<ItemRef>) {
        self.out.push_str(&text);
        self.out.push('\n');
        self.map.push(item);
    }

    /// `# text`, one comment line per line of `text`.
    fn comment(&mut self, indent: &str, text: &str) {
        let lines: Vec<&str> = if text.is_empty() { vec![""] } else { text.lines().collect() };
        for line in lines {
            let clean = printable(line);
            if clean.is_empty() {
                self.line(format!("{indent}#"), None);
            } else {
                self.line(format!("{indent}# {clean}"), None);
            }
        }
    }

    fn left_out(&mut self, indent: &str, l: &LeftOut, inputs: &[String]) {
        self.comment(
            indent,
            &format!("left out ({}): {}", place(&l.origin, inputs), l.reasons.join("; ")),
        );
        self.comment(indent, &l.origin.text);
    }

    fn chain(&mut self, c: &Chain, inputs: &[String], table: usize, chain: usize) {
        for n in &c.notes {
            self.comment("  ", n);
        }
        let mut head = format!("  chain {}", c.name);
        if let Some(b) = &c.base {
            let _ = write!(head, " hook {}", b.hook.keyword());
            if b.kind != ChainKind::Filter {
                let _ = write!(head, " type {}", b.kind.keyword());
            }
            if b.priority != Base::default_priority(b.kind, b.hook) {
                let _ = write!(head, " priority {}", b.priority);
            }
            let policy = match b.policy {
                ChainPolicy::Accept => "accept",
                ChainPolicy::Drop => "drop",
            };
            let _ = write!(head, " policy {policy}");
        }
        head.push_str(" {");
        self.line(head, None);
        for (i, item) in c.items.iter().enumerate() {
            match item {
                Item::Rule(r) => {
                    for n in &r.notes {
                        self.comment("    ", n);
                    }
                    let mut text = format!("    {}", body_text(&r.body));
                    if let Some(cm) = &r.comment {
                        let _ = write!(text, "  # {}", printable(cm));
                    }
                    self.line(text, Some(ItemRef { table, chain, item: i }));
                }
                Item::LeftOut(l) => self.left_out("    ", l, inputs),
            }
        }
        self.line("  }".into(), None);
    }
}

/// `text` without control characters or trailing blanks, for a comment.
fn printable(text: &str) -> String {
    let clean: String = text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    clean.trim_end().to_string()
}

/// Where a rule came from, as the output's comments and the warnings say it:
/// `rules.v4:12`, or `inet filter input handle 7`.
pub fn place(origin: &Origin, inputs: &[String]) -> String {
    match &origin.place {
        Place::Line { input, line } => {
            format!("{}:{line}", inputs.get(*input).map_or("-", String::as_str))
        }
        Place::Handle { input, table, chain, handle, nth, .. } => {
            let mut s = format!("{} table {table}", inputs.get(*input).map_or("-", String::as_str));
            if !chain.is_empty() {
                let _ = write!(s, " chain {chain}");
            }
            match handle {
                Some(h) => {
                    let _ = write!(s, " handle {h}");
                }
                None if *nth > 0 => {
                    let _ = write!(s, " rule {nth}");
                }
                None => {}
            }
            s
        }
    }
}

/// One rule's matches and statements as `.shr` text.
pub fn body_text(b: &Body) -> String {
    let mut parts: Vec<String> = b.matches.iter().map(match_text).collect();
    parts.extend(b.stmts.iter().map(stmt_text));
    parts.join(" ")
}

fn neg(n: bool) -> &'static str {
    if n {
        " !="
    } else {
        ""
    }
}

fn set<T>(items: &[T], one: impl Fn(&T) -> String) -> String {
    match items {
        [x] => one(x),
        _ => format!("{{ {} }}", items.iter().map(one).collect::<Vec<_>>().join(", ")),
    }
}

fn match_text(m: &Match) -> String {
    match m {
        Match::Addr { dir, neg: n, values } => {
            let field = if *dir == Dir::Src { "saddr" } else { "daddr" };
            format!("{field}{} {}", neg(*n), set(values, addr_text))
        }
        Match::Proto { neg: n, protos } => {
            format!("proto{} {}", neg(*n), set(protos, |p| words::proto(*p)))
        }
        Match::Port { proto, dir, neg: n, ranges } => {
            let one = |&(lo, hi): &(u16, u16)| {
                if lo == hi {
                    lo.to_string()
                } else {
                    format!("{lo}-{hi}")
                }
            };
            format!("{} {}{} {}", proto.keyword(), dir.keyword(), neg(*n), set(ranges, one))
        }
        Match::Iface { dir, neg: n, names } => {
            let field = if *dir == Dir::Src { "iif" } else { "oif" };
            format!("{field}{} {}", neg(*n), set(names, |n| iface_text(n)))
        }
        Match::Ct { neg: n, states } => {
            let list: Vec<&str> = states.iter().map(|s| s.keyword()).collect();
            format!("ct state{} {}", neg(*n), list.join(","))
        }
        Match::Family(f) => format!("family {}", family_keyword(*f)),
        Match::TcpFlags(t) => flags::test_words(*t),
        Match::Icmp { family, code, neg: n, ranges } => {
            let one = |&(lo, hi): &(u8, u8)| icmp_range_text(*family, *code, lo, hi);
            let part = if *code { "code" } else { "type" };
            format!("{} {part}{} {}", icmp_keyword(*family), neg(*n), set(ranges, one))
        }
        Match::Mark { neg: n, ranges } => {
            let one = |&(lo, hi): &(u32, u32)| {
                if lo == hi {
                    format!("{lo:#x}")
                } else {
                    format!("{lo:#x}-{hi:#x}")
                }
            };
            format!("mark{} {}", neg(*n), set(ranges, one))
        }
    }
}

/// An interface name as the language writes it: bare where the grammar
/// reads it as one name (`eth0`, `eth*`, `*`), quoted otherwise
/// (`"br-lan.100@x"`).
fn iface_text(name: &str) -> String {
    let stem = name.strip_suffix('*').unwrap_or(name);
    let bare = (stem.is_empty() || name_fits(stem, IFACE_TEMPLATE))
        && shriek_grammar::parse(&IFACE_TEMPLATE.replace("NAME", name)).1.is_empty();
    if bare {
        name.to_string()
    } else {
        quote(name)
    }
}

/// A rule with an interface match, `NAME` standing for the name.
const IFACE_TEMPLATE: &str = "table t {\nchain c {\niif NAME\n}\n}\n";

fn family_keyword(f: Family) -> &'static str {
    match f {
        Family::V4 => "ipv4",
        Family::V6 => "ipv6",
    }
}

fn addr_text(a: &Addr) -> String {
    match a {
        Addr::Net(ip, len) => {
            let full = if ip.is_ipv4() { 32 } else { 128 };
            if *len == full {
                ip.to_string()
            } else {
                format!("{ip}/{len}")
            }
        }
        Addr::Range(lo, hi) => format!("{lo}-{hi}"),
    }
}

fn backend_text(b: &Backend) -> String {
    let mut s = match (b.addr, b.port) {
        (IpAddr::V6(a), Some(p)) => format!("[{a}]:{p}"),
        (a, Some(p)) => format!("{a}:{p}"),
        (a, None) => a.to_string(),
    };
    if b.weight != 1 {
        let _ = write!(s, " weight {}", b.weight);
    }
    s
}

fn stmt_text(s: &Stmt) -> String {
    match s {
        Stmt::Counter(None) => "counter".into(),
        Stmt::Counter(Some(n)) => format!("counter {n}"),
        Stmt::Log { prefix, level } => {
            let mut s = String::from("log");
            if let Some(name) = level.and_then(|l| name_of(LOG_LEVELS, l)) {
                let _ = write!(s, " level {name}");
            }
            if let Some(p) = prefix {
                let _ = write!(s, " prefix {}", quote(p));
            }
            s
        }
        Stmt::Meter(m) => m.to_string(),
        Stmt::Limit { rate, per, burst } => {
            // The language's default burst is 5, as nft's and iptables'.
            if *burst == 5 {
                format!("limit {rate}/{}", per.keyword())
            } else {
                format!("limit {rate}/{} burst {burst}", per.keyword())
            }
        }
        Stmt::Verdict(v) => match v {
            Verdict::Accept => "accept".into(),
            Verdict::Drop => "drop".into(),
            Verdict::Reject(with) => format!("reject{}", with.normal().words()),
            Verdict::Jump(c) => format!("jump {c}"),
            Verdict::Goto(c) => format!("goto {c}"),
            Verdict::Return => "return".into(),
        },
        Stmt::Dnat { backends, balance: None } => {
            format!("dnat to {}", set(backends, backend_text))
        }
        Stmt::Dnat { backends, balance: Some(b) } => {
            let list: Vec<String> = backends.iter().map(backend_text).collect();
            format!("dnat to {{ {} }} balance {}", list.join(", "), b.keyword())
        }
        Stmt::Snat(b) => format!("snat to {}", backend_text(b)),
        Stmt::Masquerade => "masquerade".into(),
        Stmt::Redirect(p) => format!("redirect to {p}"),
        Stmt::MarkSet(v) => format!("mark set {v:#x}"),
    }
}

/// A `.shr` string, quoted as `fmt` quotes it.
fn quote(s: &str) -> String {
    let atom = ast::Atom { kind: ast::AtomKind::Str(s.to_string()), span: ast::Span::new(0, 0) };
    shriek_grammar::fmt::value(&ast::Value::Atom(atom))
}

/// Each name as the policy writes it: itself where the language can write
/// it as a chain or table name, otherwise a close name that is free.
pub fn plain_names<'a>(names: impl IntoIterator<Item = &'a str>) -> HashMap<String, String> {
    const TEMPLATE: &str = "table NAME {\nchain NAME {\n}\n}\n";
    let names: Vec<&str> = names.into_iter().collect();
    let mut out: HashMap<String, String> = HashMap::new();
    for n in &names {
        if name_fits(n, TEMPLATE) {
            out.insert(n.to_string(), n.to_string());
        }
    }
    let mut taken: Vec<String> = out.values().cloned().collect();
    for n in names {
        if out.contains_key(n) {
            continue;
        }
        let mut name: String =
            n.chars()
                .map(|ch| {
                    if ch.is_ascii_alphanumeric() || matches!(ch, '_' | '-' | '.') {
                        ch
                    } else {
                        '_'
                    }
                })
                .collect();
        if !name_fits(&name, TEMPLATE) {
            name = format!("chain_{name}");
        }
        while taken.contains(&name) {
            name.push('_');
        }
        taken.push(name.clone());
        out.insert(n.to_string(), name);
    }
    out
}

/// Whether the grammar reads `name` as one name in `template`, where `NAME`
/// stands for it (`chain NAME { }`, `iif NAME`): the grammar is the one
/// home of the words it reserves.
pub fn name_fits(name: &str, template: &str) -> bool {
    let plain = name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if !plain {
        return false;
    }
    let text = template.replace("NAME", name);
    let (_, errors) = shriek_grammar::parse(&text);
    errors.is_empty()
}
