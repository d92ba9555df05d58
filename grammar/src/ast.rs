//! The typed syntax tree of one `.shr` file.
//!
//! Every node carries the byte [`Span`] of its text in that file. The tree is
//! syntax only: it keeps what the user wrote (names, numbers, prefixes with host
//! bits set, unknown keywords in hook position) and leaves judging it to
//! `shriek_compiler::resolve`, which can say more helpful things than a parser.
//!
//! Two trees are `==` when they say the same thing: spans and comments take no
//! part in equality, so `parse(fmt(x)) == parse(x)` is a meaningful law.

use std::net::{Ipv4Addr, Ipv6Addr};

pub use crate::span::{Span, Spanned};

/// A whole file: its items in order, and its comments (kept for `fmt`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct File {
    pub items: Vec<Item>,
    /// Every `#` comment, in source order. Not part of equality.
    pub comments: Comments,
}

/// Comments sit outside the tree; `fmt` places them back by span.
#[derive(Clone, Debug, Default)]
pub struct Comments(pub Vec<Comment>);

impl PartialEq for Comments {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}
impl Eq for Comments {}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Comment {
    /// The comment's text from `#` to the end of the line, without the newline.
    pub text: String,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Item {
    Include(Include),
    Define(Define),
    Table(Table),
    /// `counters off` at the top: the policy's default for every table.
    Counters(CountersSetting),
}

impl Item {
    pub fn span(&self) -> Span {
        match self {
            Item::Include(it) => it.span,
            Item::Define(it) => it.span,
            Item::Table(it) => it.span,
            Item::Counters(it) => it.span,
        }
    }
}

/// `include "common.shr"`
#[derive(Clone, Debug)]
pub struct Include {
    /// The path as written, unescaped, without quotes; its span covers the quotes.
    pub path: Spanned<String>,
    pub span: Span,
}

/// `define web = { 80, 443 }`
#[derive(Clone, Debug)]
pub struct Define {
    pub name: Ident,
    pub value: Value,
    pub span: Span,
}

/// A name as written. Equality ignores the span.
#[derive(Clone, Debug)]
pub struct Ident {
    pub text: String,
    pub span: Span,
}

impl PartialEq for Ident {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}
impl Eq for Ident {}

/// `table filter { ... }`: becomes nftables table `inet filter`.
#[derive(Clone, Debug)]
pub struct Table {
    pub name: Ident,
    pub chains: Vec<Chain>,
    /// The table's own `counters on|off`, the last one written.
    pub counters: Option<CountersSetting>,
    pub span: Span,
}

/// `counters on` or `counters off`: whether every rule counts its packets
/// and bytes (`shriekc stats`). The value is kept as written so that
/// resolution can judge it.
#[derive(Clone, Debug)]
pub struct CountersSetting {
    pub value: Ident,
    pub span: Span,
}

/// `chain input hook input type filter priority 0 policy drop { ... }`
///
/// The header clauses may come in any order; each is kept as written (an
/// [`Ident`]) so that resolution can suggest the nearest valid word.
#[derive(Clone, Debug)]
pub struct Chain {
    pub name: Ident,
    pub hook: Option<Ident>,
    /// `type filter|nat|route`.
    pub kind: Option<Ident>,
    pub priority: Option<Spanned<i64>>,
    pub policy: Option<Ident>,
    pub rules: Vec<Rule>,
    /// From `chain` to the closing brace.
    pub span: Span,
    /// From `chain` to the opening brace: where chain-level findings point.
    pub header_span: Span,
}

/// One rule: matches and statements in the order written.
#[derive(Clone, Debug)]
pub struct Rule {
    pub terms: Vec<Term>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Term {
    Match(Match),
    Stmt(Stmt),
}

impl Term {
    pub fn span(&self) -> Span {
        match self {
            Term::Match(m) => m.span,
            Term::Stmt(s) => s.span,
        }
    }
}

/// `saddr != 10.0.0.0/8`, `tcp dport { 80, 443 }`, `ct state established,related`.
#[derive(Clone, Debug)]
pub struct Match {
    pub field: Spanned<Field>,
    /// The span of `!=` when the match is negated.
    pub negated: Option<Span>,
    pub value: Value,
    pub span: Span,
    /// `Some` exactly for `tcp flags`: how the flags byte is compared.
    /// Boxed: rare, and as large as the rest of the match, which every
    /// term of every rule would otherwise make room for.
    pub flags: Option<Box<FlagsForm>>,
}

/// The parts of a `tcp flags` match a plain match has no room for.
#[derive(Clone, Debug)]
pub struct FlagsForm {
    pub op: FlagsOp,
    /// `syn,ack,rst,fin` in `tcp flags syn / syn,ack,rst,fin`: the byte,
    /// masked with these flags, equals the value's flags.
    pub mask: Option<Value>,
}

/// How `tcp flags FLAGS` reads its flags, as nft does. `!=` is the match's
/// `negated`: the byte is not exactly these flags (or, with a mask, the
/// masked byte is not).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlagsOp {
    /// `tcp flags syn,ack`: any of them is set.
    AnyOf,
    /// `tcp flags == syn,ack`: the byte is exactly these flags; the span
    /// is that of `==`.
    Exact(Span),
    /// `tcp flags ! syn,ack`: none of them is set; the span is that of `!`.
    NoneOf(Span),
}

impl FlagsOp {
    /// The operator as written, with its leading space; empty for any-of.
    pub fn word(self) -> &'static str {
        match self {
            FlagsOp::AnyOf => "",
            FlagsOp::Exact(_) => " ==",
            FlagsOp::NoneOf(_) => " !",
        }
    }
}

/// What a match looks at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Field {
    Saddr,
    Daddr,
    Proto,
    /// `tcp dport`, `udp sport`, ...: the protocol is implied.
    Port(PortProto, PortDir),
    Iif,
    Oif,
    CtState,
    Family,
    /// `icmp type`, `icmpv6 code`, ...: the protocol and family are implied.
    Icmp(IcmpProto, IcmpPart),
    /// `tcp flags`: the TCP header's flags byte; implies `proto tcp`.
    TcpFlags,
    /// `mark` (nft's `meta mark`): the packet's 32-bit mark.
    Mark,
}

/// `icmp` (IPv4) or `icmpv6` (IPv6).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum IcmpProto {
    Icmp,
    Icmpv6,
}

impl IcmpProto {
    pub fn keyword(self) -> &'static str {
        match self {
            IcmpProto::Icmp => "icmp",
            IcmpProto::Icmpv6 => "icmpv6",
        }
    }
}

/// Which byte of the ICMP header a match reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum IcmpPart {
    Type,
    Code,
}

impl IcmpPart {
    pub fn keyword(self) -> &'static str {
        match self {
            IcmpPart::Type => "type",
            IcmpPart::Code => "code",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PortProto {
    Tcp,
    Udp,
    Sctp,
}

impl PortProto {
    pub fn keyword(self) -> &'static str {
        match self {
            PortProto::Tcp => "tcp",
            PortProto::Udp => "udp",
            PortProto::Sctp => "sctp",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PortDir {
    Sport,
    Dport,
}

impl PortDir {
    pub fn keyword(self) -> &'static str {
        match self {
            PortDir::Sport => "sport",
            PortDir::Dport => "dport",
        }
    }
}

impl Field {
    /// The words that introduce this match, as `fmt` writes them.
    pub fn keyword(self) -> String {
        match self {
            Field::Saddr => "saddr".into(),
            Field::Daddr => "daddr".into(),
            Field::Proto => "proto".into(),
            Field::Port(p, d) => format!("{} {}", p.keyword(), d.keyword()),
            Field::Iif => "iif".into(),
            Field::Oif => "oif".into(),
            Field::CtState => "ct state".into(),
            Field::Family => "family".into(),
            Field::Icmp(p, part) => format!("{} {}", p.keyword(), part.keyword()),
            Field::TcpFlags => "tcp flags".into(),
            Field::Mark => "mark".into(),
        }
    }
}

/// A value as written. Its type (address, port, name...) is decided by the
/// match that uses it, during resolution.
#[derive(Clone, Debug)]
pub enum Value {
    Atom(Atom),
    /// `a-b`
    Range(Atom, Atom, Span),
    /// `{ a, b-c, $d }`; also the bare comma list of `ct state a,b`.
    Set(Vec<Value>, Span),
    /// `$name`; the ident's span includes the `$`.
    Var(Ident),
}

impl Value {
    pub fn span(&self) -> Span {
        match self {
            Value::Atom(a) => a.span,
            Value::Range(_, _, span) | Value::Set(_, span) => *span,
            Value::Var(id) => id.span,
        }
    }
}

#[derive(Clone, Debug)]
pub struct Atom {
    pub kind: AtomKind,
    pub span: Span,
}

impl PartialEq for Atom {
    fn eq(&self, other: &Self) -> bool {
        self.kind == other.kind
    }
}
impl Eq for Atom {}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AtomKind {
    Ipv4(Ipv4Addr),
    Ipv6(Ipv6Addr),
    /// `10.0.0.0/8`, kept with any host bits as written.
    Prefix4(Ipv4Addr, u8),
    Prefix6(Ipv6Addr, u8),
    /// A number, decimal or `0x` hexadecimal. Too large for u64 is a syntax error.
    Number(u64),
    /// A bare word: `tcp`, `eth0`, `established`, `ipv4`, `ssh`.
    Name(String),
    /// A double-quoted string, unescaped.
    Str(String),
}

/// A statement: something a rule does once all its matches hold.
#[derive(Clone, Debug)]
pub struct Stmt {
    pub kind: StmtKind,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StmtKind {
    /// `counter` or `counter NAME`
    Counter(Option<Ident>),
    /// `log`, `log prefix "text"`, `log level LEVEL prefix "text"`
    Log {
        prefix: Option<Spanned<String>>,
        /// The syslog level's name as written.
        level: Option<Ident>,
    },
    /// `limit N/second [burst M] [per saddr|daddr]`
    Limit {
        rate: Spanned<u64>,
        per: Ident,
        burst: Option<Spanned<u64>>,
        /// `per saddr`: one rate for each address; resolve checks the word.
        key: Option<Ident>,
    },
    /// `mark set N` (nft's `meta mark set N`): the packet's mark becomes
    /// N; resolve checks that it fits in 32 bits.
    MarkSet(Spanned<u64>),
    /// `ct count over N per saddr|daddr`
    CtCount {
        over: Spanned<u64>,
        key: Ident,
    },
    Verdict(Verdict),
    /// `dnat to ADDR[:PORT]` or `dnat to { A:P weight W, ... } balance MODE`
    Dnat(NatTarget),
    /// `snat to ADDR`
    Snat(NatTarget),
    Masquerade,
    /// `redirect to PORT`
    Redirect(Spanned<u64>),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Accept,
    Drop,
    Reject,
    /// `reject with tcp reset`, `reject with icmp CODE`, ...
    RejectWith(RejectWith),
    Jump(Ident),
    Goto(Ident),
    Return,
}

/// How a `reject with` answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RejectWith {
    /// `with tcp reset`
    TcpReset,
    /// `with icmp CODE`, `with icmpv6 CODE`, `with icmpx CODE`: the code's
    /// name as written.
    Icmp(RejectProto, Ident),
}

/// The ICMP a `reject with` answers in: IPv4's, IPv6's, or nft's
/// family-independent `icmpx`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RejectProto {
    Icmp,
    Icmpv6,
    Icmpx,
}

impl RejectProto {
    pub fn keyword(self) -> &'static str {
        match self {
            RejectProto::Icmp => "icmp",
            RejectProto::Icmpv6 => "icmpv6",
            RejectProto::Icmpx => "icmpx",
        }
    }
}

#[derive(Clone, Debug)]
pub enum NatTarget {
    /// `10.0.0.1`, `10.0.0.1:8080`, `[fd00::1]:8080`. Boxed, as
    /// [`Match::flags`] is: every term would otherwise make room for it.
    One(Box<Backend>),
    /// `{ A:P, A:P weight 2 } balance round-robin`
    Balance { backends: Vec<Backend>, mode: Ident, span: Span },
}

#[derive(Clone, Debug)]
pub struct Backend {
    /// An address atom, or a `$name` naming one.
    pub addr: Value,
    pub port: Option<Spanned<u64>>,
    pub weight: Option<Spanned<u64>>,
    pub span: Span,
}

// Equality of the nodes that carry spans, written out so that spans take no
// part in it (see the module docs): `#[derive(PartialEq)]` would compare them.

macro_rules! eq_ignoring_spans {
    ($($ty:ident { $($field:ident),* })*) => {$(
        impl PartialEq for $ty {
            fn eq(&self, other: &Self) -> bool {
                true $(&& self.$field == other.$field)*
            }
        }
        impl Eq for $ty {}
    )*};
}

eq_ignoring_spans! {
    Include { path }
    Define { name, value }
    Table { name, chains, counters }
    CountersSetting { value }
    Chain { name, hook, kind, priority, policy, rules }
    Rule { terms }
    Stmt { kind }
    Backend { addr, port, weight }
}

impl PartialEq for Match {
    fn eq(&self, other: &Self) -> bool {
        self.field == other.field
            && self.negated.is_some() == other.negated.is_some()
            && self.value == other.value
            && self.flags.as_ref().map(|f| (std::mem::discriminant(&f.op), &f.mask))
                == other.flags.as_ref().map(|f| (std::mem::discriminant(&f.op), &f.mask))
    }
}
impl Eq for Match {}

impl PartialEq for Value {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Value::Atom(a), Value::Atom(b)) => a == b,
            (Value::Range(a, b, _), Value::Range(c, d, _)) => a == c && b == d,
            (Value::Set(a, _), Value::Set(b, _)) => a == b,
            (Value::Var(a), Value::Var(b)) => a == b,
            _ => false,
        }
    }
}
impl Eq for Value {}

impl PartialEq for NatTarget {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (NatTarget::One(a), NatTarget::One(b)) => a == b,
            (
                NatTarget::Balance { backends: a, mode: m, .. },
                NatTarget::Balance { backends: b, mode: n, .. },
            ) => a == b && m == n,
            _ => false,
        }
    }
}
impl Eq for NatTarget {}
