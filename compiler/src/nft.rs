//! The nftables model: what `lower` produces, `emit` prints as `nft -f` text
//! or libnftables JSON, and `shriek_runtime` encodes as netlink messages.
//!
//! It sits at the level of nft's own language (selectors, sets, verdict
//! maps, statements), not of kernel expressions: turning `ip saddr
//! 10.0.0.0/8` into meta/payload/bitwise/cmp registers is the runtime's job,
//! as it is libnftables'. Nothing here knows about netlink.
//!
//! Values are plain integers (addresses as `u128` in their family's width,
//! ports, protocol numbers) or strings (interface names); a value's meaning
//! comes from the [`Selector`] it is matched against.

use std::borrow::Cow;
use std::net::IpAddr;

pub use crate::ir::RejectWith;
use crate::ir::{BaseChain, Limit, MeterTest, RuleId};
use shriek_grammar::Loc;

pub mod vocab;

#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Ruleset {
    pub tables: Vec<Table>,
}

/// Always family `inet` for now: one table serves IPv4 and IPv6.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Table {
    pub name: String,
    /// Named sets and maps, declared before the chains that use them.
    pub sets: Vec<Set>,
    /// Named counter objects (`counter NAME` in the policy).
    pub counters: Vec<String>,
    pub chains: Vec<Chain>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chain {
    pub name: String,
    pub base: Option<BaseChain>,
    pub rules: Vec<Rule>,
    /// Why this chain exists, for chains the lowering made up (e.g. the
    /// per-rule chains a verdict map jumps to).
    pub comment: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    /// Matches first, then statements, each in evaluation order.
    pub exprs: Vec<Expr>,
    /// The policy rules this nft rule implements (several for a merged
    /// dispatch rule), for comments, `plan` identity and kernel errors.
    pub origin: Vec<Origin>,
}

impl Rule {
    /// The one transport protocol the rule admits, when its first
    /// expression says so on its own: `meta l4proto P`. Every expression
    /// after it runs only for packets of `P`, so two rules that each have
    /// one, of different protocols, never both see a packet past it: the
    /// sequential lowering may group them by protocol
    /// (`lower::sequential::by_proto`), and the runtime may say the match
    /// once for a part of its chain instead of on each rule.
    pub fn single_proto(&self) -> Option<u8> {
        match self.exprs.first()? {
            Expr::Match { key, op: CmpOp::Eq, rhs: Rhs::Value(Elem(parts)) }
                if key.as_slice() == [Selector::L4proto] =>
            {
                match parts.as_slice() {
                    [Part::Int(lo, hi)] if lo == hi => u8::try_from(*lo).ok(),
                    _ => None,
                }
            }
            _ => None,
        }
    }
}

impl Expr {
    /// `meta l4proto P`, as [`Rule::single_proto`] reads it.
    pub fn l4proto_is(proto: u8) -> Expr {
        let p = u128::from(proto);
        Expr::Match {
            key: vec![Selector::L4proto],
            op: CmpOp::Eq,
            rhs: Rhs::Value(Elem(vec![Part::Int(p, p)])),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Origin {
    pub rule: RuleId,
    pub loc: Loc,
}

/// What a match or a map key reads from the packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Selector {
    /// `meta nfproto`: ipv4 (2) or ipv6 (10).
    Nfproto,
    /// `meta l4proto`
    L4proto,
    /// `ip saddr`, 4 bytes.
    Ip4Saddr,
    Ip4Daddr,
    /// `ip6 saddr`, 16 bytes.
    Ip6Saddr,
    Ip6Daddr,
    /// `th sport`: transport header bytes 0..2. Always after an `l4proto`
    /// match that admits only protocols with ports.
    ThSport,
    /// `th dport`: transport header bytes 2..4.
    ThDport,
    /// `meta iifname`, a 16-byte NUL-padded string.
    Iifname,
    Oifname,
    /// `ct state`, a bitmask.
    CtState,
    /// `icmp type`: transport header byte 0. Always after `meta nfproto
    /// ipv4` and `meta l4proto icmp` matches, as nft writes it.
    IcmpType,
    /// `icmp code`: transport header byte 1.
    IcmpCode,
    /// `icmpv6 type`, after `meta nfproto ipv6 meta l4proto ipv6-icmp`.
    Icmpv6Type,
    Icmpv6Code,
    /// `tcp flags`: transport header byte 13. Always after a `meta
    /// l4proto tcp` match.
    TcpFlags,
    /// `ct direction`: original (0) or reply (1), one byte.
    CtDirection,
    /// `ct status`, a host-order bitmask (only `dnat` is ever matched).
    CtStatus,
    /// `ct reply ip saddr`: where a translated connection's replies come
    /// from, its backend's address, in both directions of the connection.
    CtReplyIp4Saddr,
    CtReplyIp6Saddr,
    /// `ct reply proto-src`: the backend's port, in both directions.
    CtReplyProtoSrc,
    /// `meta mark`, the packet's 32-bit mark. It sits in its register in
    /// host order: a compare with one value reads it so, a range or a set
    /// converts it to network order first, as nft does.
    Mark,
    /// An address masked to its first `len` bits (`ip saddr &
    /// 255.255.255.0`), `0 < len <` the address's width: the key of a
    /// hash map of prefixes of one length, an element holding the
    /// network's address.
    Net {
        field: AddrField,
        len: u8,
    },
}

/// The address fields a [`Selector::Net`] masks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AddrField {
    Ip4Saddr,
    Ip4Daddr,
    Ip6Saddr,
    Ip6Daddr,
}

impl AddrField {
    /// The unmasked selector.
    pub fn plain(self) -> Selector {
        match self {
            AddrField::Ip4Saddr => Selector::Ip4Saddr,
            AddrField::Ip4Daddr => Selector::Ip4Daddr,
            AddrField::Ip6Saddr => Selector::Ip6Saddr,
            AddrField::Ip6Daddr => Selector::Ip6Daddr,
        }
    }

    /// The field an address selector reads, `None` for any other.
    pub fn of(s: Selector) -> Option<AddrField> {
        match s {
            Selector::Ip4Saddr => Some(AddrField::Ip4Saddr),
            Selector::Ip4Daddr => Some(AddrField::Ip4Daddr),
            Selector::Ip6Saddr => Some(AddrField::Ip6Saddr),
            Selector::Ip6Daddr => Some(AddrField::Ip6Daddr),
            _ => None,
        }
    }

    /// The address's width in bits.
    pub fn bits(self) -> u32 {
        self.plain().len() as u32 * 8
    }
}

impl Selector {
    /// The selector without its mask: the address a [`Selector::Net`]
    /// reads, any other selector itself.
    pub fn unmasked(self) -> Selector {
        match self {
            Selector::Net { field, .. } => field.plain(),
            s => s,
        }
    }

    /// The mask a [`Selector::Net`] applies, as an integer of the
    /// address's width (`0xffffff00` for a /24).
    pub fn net_mask(self) -> Option<u128> {
        let Selector::Net { field, len } = self else { return None };
        let bits = field.bits();
        let host = if u32::from(len) >= bits { 0 } else { (1u128 << (bits - u32::from(len))) - 1 };
        let all = if bits == 128 { u128::MAX } else { (1u128 << bits) - 1 };
        Some(all & !host)
    }

    /// Key length in bytes, as the kernel stores it.
    #[allow(clippy::len_without_is_empty)] // a selector is never empty
    pub fn len(self) -> usize {
        match self {
            Selector::Net { field, .. } => field.plain().len(),
            Selector::Nfproto | Selector::L4proto => 1,
            Selector::Ip4Saddr | Selector::Ip4Daddr => 4,
            Selector::Ip6Saddr | Selector::Ip6Daddr => 16,
            Selector::ThSport | Selector::ThDport => 2,
            Selector::Iifname | Selector::Oifname => 16,
            Selector::CtState | Selector::CtStatus => 4,
            Selector::CtDirection => 1,
            Selector::CtReplyIp4Saddr => 4,
            Selector::CtReplyIp6Saddr => 16,
            Selector::CtReplyProtoSrc => 2,
            Selector::Mark => 4,
            Selector::IcmpType
            | Selector::IcmpCode
            | Selector::Icmpv6Type
            | Selector::Icmpv6Code
            | Selector::TcpFlags => 1,
        }
    }

    /// The family whose packets an address selector reads: an inet table
    /// checks `meta nfproto` before such a load.
    pub fn family(self) -> Option<crate::space::Family> {
        use crate::space::Family;
        match self.unmasked() {
            Selector::Ip4Saddr | Selector::Ip4Daddr | Selector::CtReplyIp4Saddr => Some(Family::V4),
            Selector::Ip6Saddr | Selector::Ip6Daddr | Selector::CtReplyIp6Saddr => Some(Family::V6),
            _ => None,
        }
    }

    /// nft's spelling: `ip saddr & 255.255.255.0` for a masked address.
    pub fn keyword(self) -> Cow<'static, str> {
        Cow::Borrowed(match self {
            Selector::Nfproto => "meta nfproto",
            Selector::L4proto => "meta l4proto",
            Selector::Ip4Saddr => "ip saddr",
            Selector::Ip4Daddr => "ip daddr",
            Selector::Ip6Saddr => "ip6 saddr",
            Selector::Ip6Daddr => "ip6 daddr",
            Selector::ThSport => "th sport",
            Selector::ThDport => "th dport",
            Selector::Iifname => "iifname",
            Selector::Oifname => "oifname",
            Selector::CtState => "ct state",
            Selector::IcmpType => "icmp type",
            Selector::IcmpCode => "icmp code",
            Selector::Icmpv6Type => "icmpv6 type",
            Selector::Icmpv6Code => "icmpv6 code",
            Selector::TcpFlags => "tcp flags",
            Selector::CtDirection => "ct direction",
            Selector::CtStatus => "ct status",
            Selector::CtReplyIp4Saddr => "ct reply ip saddr",
            Selector::CtReplyIp6Saddr => "ct reply ip6 saddr",
            Selector::CtReplyProtoSrc => "ct reply proto-src",
            Selector::Mark => "meta mark",
            Selector::Net { field, .. } => {
                let mask = self.net_mask().unwrap_or_default();
                let mask = match field.bits() {
                    32 => std::net::Ipv4Addr::from(mask as u32).to_string(),
                    _ => std::net::Ipv6Addr::from(mask).to_string(),
                };
                return Cow::Owned(format!("{} & {mask}", field.plain().keyword()));
            }
        })
    }
}

/// One component of a set element or match value.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Part {
    /// A closed range `lo..=hi` of integers; `lo == hi` for a single value.
    /// For `CtState` the value is the conntrack state bitmask.
    Int(u128, u128),
    /// An interface name.
    Str(String),
}

/// A set element or a match value: one [`Part`] per key selector.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Elem(pub Vec<Part>);

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CmpOp {
    Eq,
    Ne,
}

/// The right-hand side of a match.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rhs {
    /// One value or range: `tcp dport 22`, `ip saddr 10.0.0.0-10.255.255.255`.
    Value(Elem),
    /// An anonymous set: `{ 80, 443 }`.
    Set(Vec<Elem>),
    /// A named set: `@name`.
    Named(String),
    /// `ct state` flags: true when any of these bits is set (`ct state
    /// established,related`), with `CmpOp::Ne` when none is.
    Flags(u32),
    /// `tcp flags syn / syn,ack`: the key masked with `mask` compared with
    /// `value` (`value` has no bit outside `mask`).
    Masked { mask: u32, value: u32 },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expr {
    /// `KEY [!=] RHS`. `key` has one selector, or several for a
    /// concatenation (`ip saddr . th dport { ... }`).
    Match {
        key: Vec<Selector>,
        op: CmpOp,
        rhs: Rhs,
    },
    /// `counter` or `counter name NAME`.
    Counter(Option<String>),
    Log {
        prefix: Option<String>,
        /// `None`: the default level, warn.
        level: Option<u8>,
    },
    Limit(Limit),
    /// `update @set { ip saddr limit rate 3/minute }` or `add @set { ip
    /// saddr ct count over 20 }`: a test kept for each address in a set
    /// the packet path fills. The rule goes on only while the test holds.
    Meter(Meter),
    /// `meta mark set N`: the matches after it see the new mark.
    MarkSet(u32),
    Verdict(Verdict),
    /// `KEY vmap @map`: one lookup decides.
    Vmap {
        key: Vec<Selector>,
        map: String,
    },
    Nat(NatStmt),
    /// An expression read back from the kernel that the model has no word
    /// for (a rule added by hand), as nft-like text. Lowering never makes
    /// one, so nothing ever encodes one.
    Raw(String),
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Verdict {
    Accept,
    Drop,
    Reject(RejectWith),
    Jump(String),
    Goto(String),
    Return,
    /// Keep evaluating the next rule; only as map data.
    Continue,
}

impl std::fmt::Display for Verdict {
    /// nft's spelling: `accept`, `jump audit`, ...
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Verdict::Accept => f.write_str("accept"),
            Verdict::Drop => f.write_str("drop"),
            Verdict::Reject(with) => write!(f, "reject{}", with.words()),
            Verdict::Jump(c) => write!(f, "jump {c}"),
            Verdict::Goto(c) => write!(f, "goto {c}"),
            Verdict::Return => f.write_str("return"),
            Verdict::Continue => f.write_str("continue"),
        }
    }
}

/// A per-address test: the dynamic set that keeps it, the address it is
/// kept by (one family: `ip saddr` or `ip6 saddr`), and the test.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Meter {
    pub set: String,
    pub key: Selector,
    pub test: MeterTest,
}

impl Meter {
    /// Whether a packet refreshes its element's timeout (`update`), as a
    /// rate must so that an element expires only once its bucket is full
    /// again; a connection count keeps its element while it counts any
    /// (`add`).
    pub fn updates(&self) -> bool {
        matches!(self.test, MeterTest::Rate(_))
    }
}

/// How a set filled from the packet path keeps its elements: `flags
/// dynamic`, at most [`vocab::METER_SIZE`] of them, and with a timeout
/// each element is forgotten that long after its last packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Dynamic {
    pub timeout_ms: Option<u64>,
}

/// A named set or map.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Set {
    pub name: String,
    pub key: Vec<Selector>,
    /// Holds ranges (`flags interval`); with a concatenated key, the
    /// kernel picks its pipapo backend.
    pub interval: bool,
    /// `None` for a plain set, the data type for a map.
    pub data: Option<DataType>,
    pub elements: Vec<Element>,
    /// Every element counts the packets and bytes it matches (`counter`
    /// in the set's declaration): the per-rule counts of rules folded
    /// into a dispatch map.
    pub counters: bool,
    /// Why the lowering made it, for `compile --explain` and comments.
    pub comment: Option<String>,
    /// Filled by rules from the packet path (a [`Meter`]'s set), `None`
    /// for a set the ruleset lists in full.
    pub dynamic: Option<Dynamic>,
}

impl Set {
    /// Whether this is a set that counts each balanced backend's packets
    /// per direction (`lower/backends.rs`): the only sets keyed by a
    /// connection's reply source.
    pub fn counts_backends(&self) -> bool {
        matches!(self.key.first(), Some(Selector::CtReplyIp4Saddr | Selector::CtReplyIp6Saddr))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DataType {
    Verdict,
    /// An address (and port) of the given family, for NAT service maps.
    NatTarget {
        v6: bool,
        with_port: bool,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Element {
    pub key: Elem,
    pub data: Option<Data>,
    /// The policy rules this element stands for.
    pub origin: Vec<Origin>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Data {
    Verdict(Verdict),
    NatTarget { addr: IpAddr, port: Option<u16> },
}

/// Address translation. `family` is required in an inet table whenever an
/// address is given (`dnat ip to 10.0.0.1`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NatStmt {
    pub kind: NatKind,
    pub family: Option<NatFamily>,
    pub target: NatTargetExpr,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NatKind {
    Dnat,
    Snat,
    Masquerade,
    Redirect,
}

impl NatKind {
    /// nft's spelling, in text and in libnftables JSON alike.
    pub fn keyword(self) -> &'static str {
        match self {
            NatKind::Dnat => "dnat",
            NatKind::Snat => "snat",
            NatKind::Masquerade => "masquerade",
            NatKind::Redirect => "redirect",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NatFamily {
    Ip,
    Ip6,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NatTargetExpr {
    /// Masquerade with no port, or redirect to a port only.
    None {
        port: Option<u16>,
    },
    Fixed {
        addr: IpAddr,
        port: Option<u16>,
    },
    /// `numgen inc mod N map { 0 : A . P, ... }`, `numgen random ...`, or
    /// `jhash ip saddr mod N map { ... }`: one backend picked per new flow.
    /// A backend with weight w owns w consecutive slots of the modulus.
    Balanced {
        pick: Pick,
        modulus: u32,
        slots: Vec<(u32, u32, IpAddr, Option<u16>)>,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pick {
    RoundRobin,
    Random,
    /// Hash of the source address with this seed.
    SourceHash {
        seed: u32,
    },
}
