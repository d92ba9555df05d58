//! The resolved policy: what every later phase works on.
//!
//! Names are gone (defines are flattened, jump targets are [`ChainId`]s),
//! values are typed and checked, and each rule's matches are one exact
//! [`Space`]. Each node keeps the [`Loc`] of the source it came from so that
//! findings, compile comments and kernel errors can point back at it.
//!
//! **Invariant:** an `ir::Policy` is valid: every jump target exists in the
//! same table, every base chain has a hook, and counter names are declared.

use std::net::IpAddr;

use shriek_grammar::Loc;

use crate::space::{Packet, Space};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    pub tables: Vec<Table>,
}

/// Becomes nftables table `inet NAME`, which shriekc owns outright.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Table {
    pub name: String,
    pub loc: Loc,
    pub chains: Vec<Chain>,
    /// Named counters used by rules of this table, in order of first use.
    pub counters: Vec<CounterDecl>,
    /// Whether every rule counts its packets and bytes (`counters off`
    /// turns this off for the table or the whole policy).
    pub rule_counters: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CounterDecl {
    pub name: String,
    /// The first `counter NAME` that names it.
    pub loc: Loc,
}

/// Index of a chain in its table's `chains`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChainId(pub u32);

/// Identity of a rule across the whole policy: table, chain, position.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RuleId {
    pub table: u32,
    pub chain: ChainId,
    pub index: u32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chain {
    pub name: String,
    /// The chain's header, from `chain` to `{`.
    pub loc: Loc,
    /// `None` for a regular chain, reached only by jump/goto.
    pub base: Option<BaseChain>,
    pub rules: Vec<Rule>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BaseChain {
    pub hook: Hook,
    pub kind: ChainKind,
    pub priority: i32,
    pub policy: ChainPolicy,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Hook {
    Prerouting,
    Input,
    Forward,
    Output,
    Postrouting,
}

impl Hook {
    pub const ALL: [Hook; 5] =
        [Hook::Prerouting, Hook::Input, Hook::Forward, Hook::Output, Hook::Postrouting];

    pub fn keyword(self) -> &'static str {
        match self {
            Hook::Prerouting => "prerouting",
            Hook::Input => "input",
            Hook::Forward => "forward",
            Hook::Output => "output",
            Hook::Postrouting => "postrouting",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ChainKind {
    Filter,
    Nat,
    Route,
}

impl ChainKind {
    pub fn keyword(self) -> &'static str {
        match self {
            ChainKind::Filter => "filter",
            ChainKind::Nat => "nat",
            ChainKind::Route => "route",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ChainPolicy {
    Accept,
    Drop,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    pub id: RuleId,
    /// The whole rule's text.
    pub loc: Loc,
    /// Exactly the packets all of the rule's matches accept. No cube holds
    /// a packet when they contradict (an `unmatchable-rule`); a cube that
    /// holds none only because no IPv6 packet has an extension header as
    /// its protocol stays, so that the analysis can say so.
    pub space: Space,
    /// Statements other than the verdict, in the order written.
    pub actions: Vec<Action>,
    pub verdict: Option<Verdict>,
    /// The verdict's location, when there is one.
    pub verdict_loc: Option<Loc>,
    /// `# shriek: allow(NAME) reason="..."` on or above the rule.
    pub allows: Vec<Allow>,
}

impl Rule {
    /// Whether the rule always decides a packet it matches: it has a final
    /// verdict (or translates addresses, which accepts) and no `limit` that
    /// could let the packet through undecided. `jump` decides only if the
    /// target chain always does; see `analysis`.
    pub fn always_decides(&self) -> bool {
        let limited = self.conditional();
        let nat = self.actions.iter().any(|a| matches!(a, Action::Nat(_)));
        !limited && (self.verdict.is_some() || nat)
    }
}

impl Rule {
    /// Whether the rule holds for only some packets of its space, by state
    /// outside the packet: a `limit` (per address or not) or a `ct count`.
    /// The analysis and every evaluator treat such a rule as a fork.
    pub fn conditional(&self) -> bool {
        self.actions.iter().any(Action::conditional)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Allow {
    /// A finding name, e.g. `redundant-rule`.
    pub name: String,
    pub reason: String,
    pub loc: Loc,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// `counter` (anonymous) or `counter NAME`.
    Counter(Option<String>),
    Log {
        prefix: Option<String>,
        /// A syslog level of [`crate::nft::vocab::LOG_LEVELS`]; `None` for
        /// the default, warn (which `level warn` is too).
        level: Option<u8>,
    },
    Limit(Limit),
    /// `limit ... per saddr` or `ct count over N per saddr`.
    Meter(Meter),
    /// `mark set N`: the packet's mark becomes N, for the rules after this
    /// one (in this chain, its callers and later hooks) and for routing.
    MarkSet(u32),
    Nat(Nat),
}

impl Action {
    /// Whether the statement holds for only some packets, by state outside
    /// the packet (a rate, a connection count).
    pub fn conditional(&self) -> bool {
        matches!(self, Action::Limit(_) | Action::Meter(_))
    }
}

/// A test kept for each address apart: `limit 3/minute per saddr` holds
/// while that source is under its own rate, `ct count over 20 per saddr`
/// while that source has more than 20 connections.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Meter {
    pub key: MeterKey,
    pub test: MeterTest,
}

/// Whose address a [`Meter`] keeps apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MeterKey {
    Saddr,
    Daddr,
}

impl MeterKey {
    pub fn keyword(self) -> &'static str {
        match self {
            MeterKey::Saddr => "saddr",
            MeterKey::Daddr => "daddr",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MeterTest {
    /// Holds while the address is under the rate.
    Rate(Limit),
    /// Holds while the address has more than this many connections
    /// (counting the packet's own).
    CountOver(u32),
}

impl std::fmt::Display for Meter {
    /// The statement as the language writes it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.test {
            MeterTest::Rate(l) => write!(f, "limit {l} per {}", self.key.keyword()),
            MeterTest::CountOver(n) => write!(f, "ct count over {n} per {}", self.key.keyword()),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Limit {
    pub rate: u64,
    pub per: RateUnit,
    pub burst: Option<u32>,
}

impl std::fmt::Display for Limit {
    /// `3/minute`, `10/second burst 20`, as the language writes a rate.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.rate, self.per.keyword())?;
        match self.burst {
            Some(b) => write!(f, " burst {b}"),
            None => Ok(()),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RateUnit {
    Second,
    Minute,
    Hour,
    Day,
}

impl RateUnit {
    pub fn keyword(self) -> &'static str {
        match self {
            RateUnit::Second => "second",
            RateUnit::Minute => "minute",
            RateUnit::Hour => "hour",
            RateUnit::Day => "day",
        }
    }

    /// The unit's length, as the kernel's `NFTA_LIMIT_UNIT` takes it.
    pub fn seconds(self) -> u64 {
        match self {
            RateUnit::Second => 1,
            RateUnit::Minute => 60,
            RateUnit::Hour => 3600,
            RateUnit::Day => 86400,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Nat {
    /// `dnat to A[:P]`, or balanced over several backends.
    Dnat {
        backends: Vec<NatBackend>,
        balance: Option<Balance>,
    },
    /// `snat to A`
    Snat {
        addr: IpAddr,
        port: Option<u16>,
    },
    Masquerade,
    /// `redirect to PORT`
    Redirect {
        port: u16,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NatBackend {
    pub addr: IpAddr,
    pub port: Option<u16>,
    pub weight: u32,
    pub loc: Loc,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Balance {
    RoundRobin,
    Random,
    SourceHash,
}

impl Balance {
    pub fn keyword(self) -> &'static str {
        match self {
            Balance::RoundRobin => "round-robin",
            Balance::Random => "random",
            Balance::SourceHash => "source-hash",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Verdict {
    Accept,
    Drop,
    Reject(RejectWith),
    Jump(ChainId),
    Goto(ChainId),
    Return,
}

/// What a `reject` answers with. Resolve has checked that the rule's
/// packets can take it: only TCP for a reset, only the family of `icmp` or
/// `icmpv6`; and it writes a port unreachable of the packet's own ICMP as
/// plain `reject`, which is what that is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RejectWith {
    /// `reject`: port unreachable, in ICMP or ICMPv6 as the packet's
    /// family (nft's `icmpx port-unreachable`).
    PortUnreachable,
    /// `reject with tcp reset`.
    TcpReset,
    /// `reject with icmp CODE` (IPv4 packets): a destination-unreachable
    /// code.
    Icmp(u8),
    /// `reject with icmpv6 CODE` (IPv6 packets).
    Icmpv6(u8),
    /// `reject with icmpx CODE`: nft's codes for either family.
    Icmpx(u8),
}

impl RejectWith {
    /// The one form of each answer: port unreachable in the packet's own
    /// ICMP (`with icmp port-unreachable` on IPv4 packets, `with icmpx
    /// port-unreachable`) is plain `reject`, as the kernel keeps it.
    pub fn normal(self) -> RejectWith {
        use crate::nft::vocab::{ICMPV6_PORT_UNREACH, ICMPX_PORT_UNREACH, ICMP_PORT_UNREACH};
        match self {
            RejectWith::Icmp(ICMP_PORT_UNREACH)
            | RejectWith::Icmpv6(ICMPV6_PORT_UNREACH)
            | RejectWith::Icmpx(ICMPX_PORT_UNREACH) => RejectWith::PortUnreachable,
            other => other,
        }
    }

    /// One name for each answer a packet can get: an ICMP or ICMPv6 code
    /// that an `icmpx` code stands for becomes that `icmpx` code. Resolve
    /// has pinned `icmp` to IPv4 packets and `icmpv6` to IPv6 ones, so two
    /// answers give a packet the same reply exactly when their canonical
    /// forms are equal: the analysis compares these.
    pub fn canonical(self) -> RejectWith {
        use crate::nft::vocab::ICMPX_SENDS;
        let x = match self.normal() {
            RejectWith::Icmp(c) => ICMPX_SENDS.iter().find(|s| s.1 == c),
            RejectWith::Icmpv6(c) => ICMPX_SENDS.iter().find(|s| s.2 == c),
            other => return other,
        };
        match x {
            Some(&(x, _, _)) => RejectWith::Icmpx(x).normal(),
            None => self,
        }
    }

    /// ` with tcp reset`, ` with icmp admin-prohibited`; empty for plain
    /// `reject`. The same words in the language and in nft.
    pub fn words(self) -> String {
        use crate::nft::vocab::{name_of, ICMPV6_CODES, ICMPX_CODES, ICMP_CODES};
        let code = |names, proto: &str, c: u8| match name_of(names, c) {
            Some(n) => format!(" with {proto} {n}"),
            None => format!(" with {proto} {c}"),
        };
        match self {
            RejectWith::PortUnreachable => String::new(),
            RejectWith::TcpReset => " with tcp reset".into(),
            RejectWith::Icmp(c) => code(ICMP_CODES, "icmp", c),
            RejectWith::Icmpv6(c) => code(ICMPV6_CODES, "icmpv6", c),
            RejectWith::Icmpx(c) => code(ICMPX_CODES, "icmpx", c),
        }
    }
}

/// Where evaluation of a packet ended, for `trace` and the equivalence tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Outcome {
    Accept,
    Drop,
    Reject,
}

impl Policy {
    pub fn rule(&self, id: RuleId) -> &Rule {
        &self.tables[id.table as usize].chains[id.chain.0 as usize].rules[id.index as usize]
    }

    pub fn chain(&self, table: u32, chain: ChainId) -> &Chain {
        &self.tables[table as usize].chains[chain.0 as usize]
    }

    pub fn rules(&self) -> impl Iterator<Item = &Rule> {
        self.tables.iter().flat_map(|t| t.chains.iter().flat_map(|c| c.rules.iter()))
    }

    /// The base chains on `hook` as (table, chain), in the order the kernel
    /// runs them: by priority, then by table and chain order.
    pub fn bases(&self, hook: Hook) -> Vec<(u32, ChainId)> {
        let mut bases: Vec<(i32, u32, ChainId)> = Vec::new();
        for (t, table) in self.tables.iter().enumerate() {
            for (c, chain) in table.chains.iter().enumerate() {
                if let Some(base) = chain.base.filter(|b| b.hook == hook) {
                    bases.push((base.priority, t as u32, ChainId(c as u32)));
                }
            }
        }
        bases.sort_by_key(|&(prio, t, c)| (prio, t, c));
        bases.into_iter().map(|(_, t, c)| (t, c)).collect()
    }
}

/// Whether a rule's matches hold for a packet.
pub fn matches(rule: &Rule, packet: &Packet) -> bool {
    rule.space.iter().any(|c| c.contains(packet))
}
