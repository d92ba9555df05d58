//! The policy an import builds: tables, chains and rules in the terms of the
//! `.shr` language, before they become text.
//!
//! Both importers (`iptables.rs`, `nft.rs`) produce this model, one table per
//! source table and family; `merge.rs` folds IPv4 and IPv6 tables into one
//! `inet` table; [`render`] prints the result as `.shr` text, which the
//! caller then parses and formats. Each rule remembers where it came from,
//! so that a rule the language cannot say yet stays in the output as a
//! commented-out line naming its source.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::IpAddr;

use shriek_grammar::ast::{self, PortDir, PortProto};

use crate::identity::DEFAULT_LIMIT_BURST;
use crate::ir::{
    Balance, ChainKind, ChainPolicy, Hook, Limit, Meter, MeterKey, MeterTest, RateUnit, RejectWith,
};
use crate::nft::vocab::{icmp_keyword, icmp_range_text, name_of, LOG_DEFAULT_LEVEL, LOG_LEVELS};
use crate::space::flags::{self, FlagsTest};
use crate::space::words;
use crate::space::{CtState, Family, PROTO_ICMP, PROTO_ICMPV6};

#[derive(Clone, Debug, Default)]
pub struct Policy {
    pub defines: Vec<Define>,
    pub tables: Vec<Table>,
    /// Rules of tables that are not imported at all, printed at the end.
    pub left_out: Vec<LeftOut>,
}

/// `define NAME = { ... }`, from a named set of the source.
#[derive(Clone, Debug)]
pub struct Define {
    pub name: String,
    pub values: Vec<String>,
    pub note: Option<String>,
}

#[derive(Clone, Debug)]
pub struct Table {
    pub name: String,
    /// The packets the source table sees: one family, or both (`inet`).
    pub family: Option<Family>,
    pub chains: Vec<Chain>,
    /// Comment lines printed above the table.
    pub notes: Vec<String>,
}

#[derive(Clone, Debug)]
pub struct Chain {
    pub name: String,
    pub base: Option<Base>,
    pub items: Vec<Item>,
    /// Comment lines printed above the chain.
    pub notes: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Base {
    pub hook: Hook,
    pub kind: ChainKind,
    pub priority: i32,
    pub policy: ChainPolicy,
}

impl Base {
    /// The priority `shriekc` gives a chain of this type and hook when the
    /// header names none (docs/language.md, "Priority").
    pub fn default_priority(kind: ChainKind, hook: Hook) -> i32 {
        match (kind, hook) {
            (ChainKind::Nat, Hook::Prerouting | Hook::Output) => -100,
            (ChainKind::Nat, _) => 100,
            _ => 0,
        }
    }
}

/// One line of a chain's body.
#[derive(Clone, Debug)]
pub enum Item {
    Rule(Rule),
    /// A source rule the language cannot say (yet): printed commented out.
    LeftOut(LeftOut),
}

#[derive(Clone, Debug)]
pub struct Rule {
    pub body: Body,
    /// Printed after the rule: the source's own comment (`-m comment`).
    pub comment: Option<String>,
    /// Printed above the rule: what the importer did that a reader should
    /// know, with the source rule.
    pub notes: Vec<String>,
    /// The source rules it stands for: one, two when an IPv4 and an IPv6
    /// rule merged, none for a rule the importer adds.
    pub origins: Vec<Origin>,
}

impl Rule {
    pub fn new(body: Body, origin: Origin) -> Rule {
        Rule { body, comment: None, notes: Vec::new(), origins: vec![origin] }
    }

    /// A rule of the importer's own, with a comment saying why.
    pub fn added(body: Body, why: impl Into<String>) -> Rule {
        Rule { body, comment: Some(why.into()), notes: Vec::new(), origins: Vec::new() }
    }
}

/// What a rule says, apart from its comments: two rules with equal bodies
/// mean the same.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Body {
    pub matches: Vec<Match>,
    pub stmts: Vec<Stmt>,
}

impl Body {
    /// The one family every packet this body matches has, when its matches
    /// say so: an address match or `family`.
    pub fn family(&self) -> Option<Family> {
        self.matches.iter().find_map(|m| match m {
            Match::Family(f) | Match::Icmp { family: f, .. } => Some(*f),
            // `proto icmp` holds for IPv4 packets only, `proto icmpv6` for
            // IPv6 ones.
            Match::Proto { neg: false, protos } => match protos.as_slice() {
                [PROTO_ICMP] => Some(Family::V4),
                [PROTO_ICMPV6] => Some(Family::V6),
                _ => None,
            },
            Match::Addr { values, .. } => {
                let mut fams = values.iter().map(Addr::family);
                let first = fams.next()?;
                fams.all(|f| f == first).then_some(first)
            }
            _ => None,
        })
    }

    pub fn verdict(&self) -> Option<&Verdict> {
        self.stmts.iter().find_map(|s| match s {
            Stmt::Verdict(v) => Some(v),
            _ => None,
        })
    }

    pub fn has_limit(&self) -> bool {
        self.stmts.iter().any(|s| matches!(s, Stmt::Limit { .. }))
    }

    /// Whether the rule translates addresses (and so accepts).
    pub fn translates(&self) -> bool {
        self.stmts.iter().any(|s| {
            matches!(s, Stmt::Dnat { .. } | Stmt::Snat(_) | Stmt::Masquerade | Stmt::Redirect(_))
        })
    }

    pub fn verdict_mut(&mut self) -> Option<&mut Verdict> {
        self.stmts.iter_mut().find_map(|s| match s {
            Stmt::Verdict(v) => Some(v),
            _ => None,
        })
    }
}

#[derive(Clone, Debug)]
pub struct LeftOut {
    /// Why, in a few words each: "`-m addrtype` has no equivalent in
    /// shriek yet". Worded without the rule's own values, so that the
    /// summary can count rules by reason.
    pub reasons: Vec<String>,
    pub origin: Origin,
}

/// Where a rule came from: its place in the input and its text there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin {
    pub place: Place,
    pub text: String,
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Place {
    /// A line of the input (1-based) in the input named `input`.
    Line { input: usize, line: usize },
    /// A rule (or object) of a JSON ruleset, which has no useful lines:
    /// its place in the document (`index`), its chain and its handle, or
    /// its position in the chain (`nth`, 1-based) when it has none.
    Handle {
        input: usize,
        index: usize,
        table: String,
        chain: String,
        handle: Option<u64>,
        nth: usize,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Match {
    Addr {
        dir: Dir,
        neg: bool,
        values: Vec<Addr>,
    },
    Proto {
        neg: bool,
        protos: Vec<u8>,
    },
    Port {
        proto: PortProto,
        dir: PortDir,
        neg: bool,
        ranges: Vec<(u16, u16)>,
    },
    Iface {
        dir: Dir,
        neg: bool,
        names: Vec<String>,
    },
    Ct {
        neg: bool,
        states: Vec<CtState>,
    },
    Family(Family),
    /// `icmp type`, `icmpv6 code`: the ICMP of `family`, its type byte (or,
    /// with `code`, the byte after it).
    Icmp {
        family: Family,
        code: bool,
        neg: bool,
        ranges: Vec<(u8, u8)>,
    },
    /// `tcp flags`: one compare of the flags byte, as [`tcp_flags`] makes
    /// it. Implies TCP, as a port does.
    TcpFlags(FlagsTest),
    /// `mark`: the packet's mark is in (or, negated, outside) the ranges,
    /// as [`mark_ranges`] makes them from a masked compare.
    Mark {
        neg: bool,
        ranges: Vec<(u32, u32)>,
    },
}

/// The most ranges a masked mark compare may become: `--mark V/M` and
/// `meta mark & M == V` admit one run of marks per value of the bits the
/// mask clears above its lowest set bit, so a mask of high bits
/// (`0xffff0000`) is one range and a mask with four cleared bits in the
/// middle sixteen.
pub const MARK_RANGES_MAX: usize = 16;

/// A mark as iptables and nft print it: `0x10`, `0x00000010`, or decimal.
pub fn mark_number(text: &str) -> Option<u32> {
    match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u32::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    }
}

/// The marks `m` with `(m & mask) == value` (`!=` when `negated`), as the
/// language's `mark` match ([`Match::Mark`]), `None` when the compare holds
/// for every packet, or why the language cannot say it.
pub fn mark_ranges(mask: u32, value: u32, negated: bool) -> Result<Option<Match>, String> {
    if value & !mask != 0 {
        // Bits the mask clears are never set in `m & mask`.
        return if negated {
            Ok(None)
        } else {
            Err("a mark compare that holds for no packet (the value has bits outside the mask)"
                .into())
        };
    }
    if mask == 0 {
        return if negated {
            Err("a mark compare that holds for no packet (`!= 0` under a mask of 0)".into())
        } else {
            Ok(None)
        };
    }
    let low = mask.trailing_zeros();
    // The bits above the mask's lowest set bit that it clears: each of
    // their values is one run of `1 << low` marks.
    let free: Vec<u32> = (low..32).filter(|b| mask & (1 << b) == 0).collect();
    if 1u64 << free.len() > MARK_RANGES_MAX as u64 {
        return Err(format!("a masked mark match (`--mark V/M`, `meta mark & M == V`) of more than {MARK_RANGES_MAX} ranges of marks: masked marks are not in the language yet"));
    }
    let run = (1u64 << low) - 1;
    let mut ranges: Vec<(u32, u32)> = (0..1u32 << free.len())
        .map(|pick| {
            let bits = free
                .iter()
                .enumerate()
                .filter(|(i, _)| pick & (1 << i) != 0)
                .fold(0u32, |acc, (_, b)| acc | (1 << b));
            let lo = value | bits;
            (lo, (u64::from(lo) + run) as u32)
        })
        .collect();
    ranges.sort_unstable();
    Ok(Some(Match::Mark { neg: negated, ranges }))
}

/// The match for the compare `(flags & mask) == value` (`!=` when
/// `negated`), as iptables' `--tcp-flags` and nft's `tcp flags` make it:
/// the language's one test that admits the same bytes (`None`: every TCP
/// packet), or why there is none.
pub fn tcp_flags(mask: u8, value: u8, negated: bool) -> Result<Option<FlagsTest>, String> {
    let bytes = crate::space::Intervals::from_ranges(
        (0..=u8::MAX).filter(|b| (b & mask == value) != negated).map(|b| (b.into(), b.into())),
    );
    if bytes.is_empty() {
        return Err("a `tcp flags` test that holds for no packet".into());
    }
    // A compare admits one class of its mask, or all bytes but one class:
    // always one test of the language, or every byte.
    Ok(flags::test_of(&bytes))
}

/// Source or destination; for interfaces, in or out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dir {
    Src,
    Dst,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Addr {
    /// An address with its prefix length; a full length prints as a host.
    Net(IpAddr, u8),
    Range(IpAddr, IpAddr),
}

impl Addr {
    pub fn family(&self) -> Family {
        match self {
            Addr::Net(a, _) | Addr::Range(a, _) => family_of(a),
        }
    }
}

pub fn family_of(a: &IpAddr) -> Family {
    if a.is_ipv4() {
        Family::V4
    } else {
        Family::V6
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Stmt {
    Counter(Option<String>),
    /// `log`, with its prefix and its syslog level (`None` for the
    /// default, warn: [`Stmt::log`] keeps one form of it).
    Log {
        prefix: Option<String>,
        level: Option<u8>,
    },
    Limit {
        rate: u64,
        per: RateUnit,
        burst: u32,
    },
    /// `limit ... per saddr`, `ct count over N per saddr`; a rate's burst
    /// is `None` for the default, 5, so that equal meters compare equal.
    Meter(Meter),
    Verdict(Verdict),
    Dnat {
        backends: Vec<Backend>,
        balance: Option<Balance>,
    },
    Snat(Backend),
    Masquerade,
    Redirect(u16),
    /// `mark set N`: not a verdict, evaluation goes on.
    MarkSet(u32),
}

/// A rate's unit in milliseconds.
pub fn unit_ms(per: RateUnit) -> u64 {
    match per {
        RateUnit::Second => 1_000,
        RateUnit::Minute => 60_000,
        RateUnit::Hour => 3_600_000,
        RateUnit::Day => 86_400_000,
    }
}

/// Whether a bucket of `burst` tokens at `rate` per `per` is full again
/// after `idle_ms` without packets: then a meter that forgets an address
/// idle that long (and so starts it with a full bucket) keeps the same
/// rate as one that never forgets.
pub fn full_again(rate: u64, per: RateUnit, burst: u32, idle_ms: u64) -> bool {
    u128::from(idle_ms) * u128::from(rate) >= u128::from(burst) * u128::from(unit_ms(per))
}

/// A per-address rate as the policy keeps it: the default burst as none.
pub fn meter_rate(key: MeterKey, rate: u64, per: RateUnit, burst: u32) -> Meter {
    let burst = (burst != DEFAULT_LIMIT_BURST).then_some(burst);
    Meter { key, test: MeterTest::Rate(Limit { rate, per, burst }) }
}

impl Stmt {
    /// `log` at `level`, the default level written as none.
    pub fn log(prefix: Option<String>, level: u8) -> Stmt {
        Stmt::Log { prefix, level: (level != LOG_DEFAULT_LEVEL).then_some(level) }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Backend {
    pub addr: IpAddr,
    pub port: Option<u16>,
    pub weight: u32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Accept,
    Drop,
    /// Kept in its [`RejectWith::normal`] form, so that equal answers
    /// compare equal.
    Reject(RejectWith),
    Jump(String),
    Goto(String),
    Return,
}

impl Verdict {
    pub fn of_policy(p: ChainPolicy) -> Verdict {
        match p {
            ChainPolicy::Accept => Verdict::Accept,
            ChainPolicy::Drop => Verdict::Drop,
        }
    }
}

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
pub fn iface_text(name: &str) -> String {
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
pub const IFACE_TEMPLATE: &str = "table t {\nchain c {\niif NAME\n}\n}\n";

pub fn family_keyword(f: Family) -> &'static str {
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
pub fn quote(s: &str) -> String {
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
