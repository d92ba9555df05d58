//! The policy an import builds: tables, chains and rules in the terms of the
//! `.shr` language, before they become text.
//!
//! Both importers (`iptables.rs`, `nft.rs`) produce this model, one table per
//! source table and family; `merge.rs` folds IPv4 and IPv6 tables into one
//! `inet` table; [`render`] prints the result as `.shr` text, which the
//! caller then parses and formats. Each rule remembers where it came from,
//! so that a rule the language cannot say yet stays in the output as a
//! commented-out line naming its source.

use std::net::IpAddr;

use shriek_grammar::ast::{PortDir, PortProto};

use crate::identity::DEFAULT_LIMIT_BURST;
use crate::ir::{
    Balance, ChainKind, ChainPolicy, Hook, Limit, Meter, MeterKey, MeterTest, RateUnit, RejectWith,
};
use crate::nft::vocab::LOG_DEFAULT_LEVEL;
use crate::space::flags::{self, FlagsTest};
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

mod render;

pub use render::{body_text, name_fits, place, plain_names, render, ItemRef};
