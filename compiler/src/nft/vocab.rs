//! The numbers nftables and the kernel speak, in one place: protocol
//! numbers, `meta nfproto` values, conntrack state bits and kernel limits.
//!
//! Every crate reads them from here (the algebra in `space`, the lowering,
//! the model evaluator, `emit`, and the runtime's encoder and checks), so a
//! value is written down once and named where it is used.

use crate::space::{CtState, CtStates, Family};

/// IANA protocol numbers (`meta l4proto`, `proto N` in the language).
pub const PROTO_ICMP: u8 = 1;
pub const PROTO_TCP: u8 = 6;
pub const PROTO_UDP: u8 = 17;
pub const PROTO_ICMPV6: u8 = 58;
pub const PROTO_SCTP: u8 = 132;

/// The IPv6 extension headers the kernel reads past to find a packet's
/// protocol (`ipv6_find_hdr`, which `meta l4proto` reads): hop-by-hop
/// options, routing, fragment and destination options. So no IPv6 packet
/// has one of them as its protocol. The authentication header (51) ends
/// the walk, and ESP (50) and no-next-header (59) are protocols like any
/// other: the kernel gives them as the protocol.
pub const IPV6_SKIPPED_HEADERS: [(u8, &str); 4] =
    [(0, "hop-by-hop options"), (43, "routing"), (44, "fragment"), (60, "destination options")];

/// How many addresses a per-address set (`limit ... per saddr`) keeps at
/// most, as nft gives a meter: a new address past it is not tracked, and
/// its rule does not hold for it.
pub const METER_SIZE: u32 = 65535;

/// The protocols that carry ports (`th sport`, `th dport`).
pub const PROTOS_WITH_PORTS: [u8; 3] = [PROTO_TCP, PROTO_UDP, PROTO_SCTP];

/// The language's words for protocol numbers (`proto gre`), which it
/// reads and every text that shows a policy writes.
pub const PROTOCOLS: &[(&str, u8)] = &[
    ("icmp", PROTO_ICMP),
    ("igmp", 2),
    ("tcp", PROTO_TCP),
    ("udp", PROTO_UDP),
    ("gre", 47),
    ("esp", 50),
    ("ah", 51),
    ("icmpv6", PROTO_ICMPV6),
    ("ospf", 89),
    ("sctp", PROTO_SCTP),
    ("udplite", 136),
];

/// nft's spelling of a protocol number (`meta l4proto ipv6-icmp`), for the
/// numbers it has a word for.
pub fn proto_keyword(p: u8) -> Option<&'static str> {
    Some(match p {
        PROTO_TCP => "tcp",
        PROTO_UDP => "udp",
        PROTO_SCTP => "sctp",
        PROTO_ICMP => "icmp",
        PROTO_ICMPV6 => "ipv6-icmp",
        _ => return None,
    })
}

/// nft's ICMP type names (`icmp type echo-request`), as `nft describe
/// icmp type` lists them.
pub const ICMP_TYPES: &[(&str, u8)] = &[
    ("echo-reply", 0),
    ("destination-unreachable", 3),
    ("source-quench", 4),
    ("redirect", 5),
    ("echo-request", 8),
    ("router-advertisement", 9),
    ("router-solicitation", 10),
    ("time-exceeded", 11),
    ("parameter-problem", 12),
    ("timestamp-request", 13),
    ("timestamp-reply", 14),
    ("info-request", 15),
    ("info-reply", 16),
    ("address-mask-request", 17),
    ("address-mask-reply", 18),
];

/// nft's ICMPv6 type names (`nft describe icmpv6 type`). Two names share
/// 132; the first is the one printed.
pub const ICMPV6_TYPES: &[(&str, u8)] = &[
    ("destination-unreachable", 1),
    ("packet-too-big", 2),
    ("time-exceeded", 3),
    ("parameter-problem", 4),
    ("echo-request", 128),
    ("echo-reply", 129),
    ("mld-listener-query", 130),
    ("mld-listener-report", 131),
    ("mld-listener-done", 132),
    ("mld-listener-reduction", 132),
    ("nd-router-solicit", 133),
    ("nd-router-advert", 134),
    ("nd-neighbor-solicit", 135),
    ("nd-neighbor-advert", 136),
    ("nd-redirect", 137),
    ("router-renumbering", 138),
    ("ind-neighbor-solicit", 141),
    ("ind-neighbor-advert", 142),
    ("mld2-listener-report", 143),
];

/// nft's ICMP code names (`nft describe icmp code`): the codes of
/// destination-unreachable, which are also what `reject with icmp` sends.
pub const ICMP_CODES: &[(&str, u8)] = &[
    ("net-unreachable", 0),
    ("host-unreachable", 1),
    ("prot-unreachable", 2),
    ("port-unreachable", 3),
    ("frag-needed", 4),
    ("net-prohibited", 9),
    ("host-prohibited", 10),
    ("admin-prohibited", 13),
];

/// nft's ICMPv6 code names (`nft describe icmpv6 code`).
pub const ICMPV6_CODES: &[(&str, u8)] = &[
    ("no-route", 0),
    ("admin-prohibited", 1),
    ("addr-unreachable", 3),
    ("port-unreachable", 4),
    ("policy-fail", 5),
    ("reject-route", 6),
];

/// The port unreachable code of each ICMP: what plain `reject` sends.
pub const ICMP_PORT_UNREACH: u8 = 3;
pub const ICMPV6_PORT_UNREACH: u8 = 4;
pub const ICMPX_PORT_UNREACH: u8 = 1;

/// nft's `icmpx` codes (`NFT_REJECT_ICMPX_*`): `reject with icmpx CODE`
/// answers in the packet's own ICMP.
pub const ICMPX_CODES: &[(&str, u8)] =
    &[("no-route", 0), ("port-unreachable", 1), ("host-unreachable", 2), ("admin-prohibited", 3)];

/// Each `icmpx` code with the ICMP and ICMPv6 code the kernel sends for it
/// (`nft_reject_icmp_code`, `nft_reject_icmpv6_code`).
pub const ICMPX_SENDS: &[(u8, u8, u8)] = &[(0, 0, 0), (1, 3, 4), (2, 1, 3), (3, 13, 1)];

/// Syslog levels of `log level` (`NFT_LOGLEVEL_*`), as nft names them.
pub const LOG_LEVELS: &[(&str, u8)] = &[
    ("emerg", 0),
    ("alert", 1),
    ("crit", 2),
    ("err", 3),
    ("warn", 4),
    ("notice", 5),
    ("info", 6),
    ("debug", 7),
    ("audit", 8),
];

/// The most bytes of a `log prefix` the kernel keeps (`NF_LOG_PREFIXLEN`,
/// less its NUL); nft refuses a longer one, and so does the kernel.
pub const LOG_PREFIX_MAX: usize = 127;

/// The most bytes of a table or chain name (`NFT_NAME_MAXLEN`, less its NUL).
pub const NAME_MAX: usize = 255;

/// The level of a `log` that names none (and of `level warn`).
pub const LOG_DEFAULT_LEVEL: u8 = 4;
/// `log level audit`: to the audit log, not the kernel log.
pub const LOG_AUDIT_LEVEL: u8 = 8;

/// The ICMP protocol of a family: icmp for IPv4, icmpv6 for IPv6.
pub fn icmp_proto(f: Family) -> u8 {
    match f {
        Family::V4 => PROTO_ICMP,
        Family::V6 => PROTO_ICMPV6,
    }
}

/// The type names of the ICMP of family `f`.
pub fn icmp_types(f: Family) -> &'static [(&'static str, u8)] {
    match f {
        Family::V4 => ICMP_TYPES,
        Family::V6 => ICMPV6_TYPES,
    }
}

/// The code names of the ICMP of family `f`.
pub fn icmp_codes(f: Family) -> &'static [(&'static str, u8)] {
    match f {
        Family::V4 => ICMP_CODES,
        Family::V6 => ICMPV6_CODES,
    }
}

/// `icmp` or `icmpv6`, the word of the ICMP of family `f`.
pub fn icmp_keyword(f: Family) -> &'static str {
    match f {
        Family::V4 => "icmp",
        Family::V6 => "icmpv6",
    }
}

/// ICMP types `lo..=hi` (codes with `code`) as the language and nft write
/// them: a name where nft has one, numbers for a range (names joined by
/// `-` would read as one name).
pub fn icmp_range_text(f: Family, code: bool, lo: u8, hi: u8) -> String {
    if lo != hi {
        return format!("{lo}-{hi}");
    }
    let names = if code { icmp_codes(f) } else { icmp_types(f) };
    name_of(names, lo).map_or_else(|| lo.to_string(), str::to_string)
}

/// The first name of `value` in `table`, as nft prints it.
pub fn name_of(table: &'static [(&'static str, u8)], value: u8) -> Option<&'static str> {
    table.iter().find(|(_, v)| *v == value).map(|(n, _)| *n)
}

/// The value `name` stands for in `table`.
pub fn value_of(table: &[(&str, u8)], name: &str) -> Option<u8> {
    table.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
}

/// nft's names of the TCP flags (`tcp flags syn,ack`), each its bit of
/// the flags byte, in bit order as nft lists them.
pub const TCP_FLAGS: &[(&str, u8)] = &[
    ("fin", 0x01),
    ("syn", 0x02),
    ("rst", 0x04),
    ("psh", 0x08),
    ("ack", 0x10),
    ("urg", 0x20),
    ("ecn", 0x40),
    ("cwr", 0x80),
];

/// The flags of a connection's first packet, and of its later ones.
pub const TCP_SYN: u8 = 0x02;
pub const TCP_ACK: u8 = 0x10;

/// The names of the flags set in `bits`, in nft's order; empty for 0.
pub fn tcp_flag_names(bits: u8) -> Vec<&'static str> {
    TCP_FLAGS.iter().filter(|(_, b)| bits & b != 0).map(|(n, _)| *n).collect()
}

/// `meta nfproto` values (`NFPROTO_IPV4`, `NFPROTO_IPV6` in
/// `<linux/netfilter.h>`); also the family of a NAT expression.
pub const NFPROTO_IPV4: u8 = 2;
pub const NFPROTO_IPV6: u8 = 10;

pub fn nfproto(f: Family) -> u8 {
    match f {
        Family::V4 => NFPROTO_IPV4,
        Family::V6 => NFPROTO_IPV6,
    }
}

/// The family a `meta nfproto` value names, if it names one.
pub fn nfproto_family(v: u8) -> Option<Family> {
    match v {
        NFPROTO_IPV4 => Some(Family::V4),
        NFPROTO_IPV6 => Some(Family::V6),
        _ => None,
    }
}

/// The kernel's conntrack state bit (`NF_CT_STATE_*_BIT` in
/// `<linux/netfilter/nf_conntrack_common.h>`).
pub fn ct_bit(s: CtState) -> u32 {
    match s {
        CtState::Invalid => 1,
        CtState::Established => 2,
        CtState::Related => 4,
        CtState::New => 8,
        CtState::Untracked => 64,
    }
}

/// The bitmask of a set of states.
pub fn ct_mask(states: CtStates) -> u32 {
    states.iter().map(ct_bit).fold(0, |a, b| a | b)
}

/// The states whose bits are set in `mask`, in [`CtState::ALL`] order.
pub fn ct_states(mask: u32) -> impl Iterator<Item = CtState> {
    CtState::ALL.into_iter().filter(move |s| mask & ct_bit(*s) != 0)
}

/// The conntrack status bit of a connection whose destination was
/// translated (`IPS_DST_NAT` in `<linux/netfilter/nf_conntrack_common.h>`),
/// nft's `ct status dnat`.
pub const CT_STATUS_DNAT: u32 = 1 << 5;

/// `ct direction` values and nft's words for them (`IP_CT_DIR_*`): a
/// connection's first packet goes `original`, its answers `reply`.
pub const CT_DIRECTIONS: [(u8, &str); 2] = [(CT_ORIGINAL, "original"), (CT_REPLY, "reply")];
pub const CT_ORIGINAL: u8 = 0;
pub const CT_REPLY: u8 = 1;

/// The names of the `ct status` bits in `mask` that the model uses.
pub fn ct_status_names(mask: u32) -> Vec<&'static str> {
    [(CT_STATUS_DNAT, "dnat")].into_iter().filter(|(b, _)| mask & b != 0).map(|(_, n)| n).collect()
}

/// nft's word for a `ct direction` value.
pub fn ct_direction_name(v: u128) -> Option<&'static str> {
    CT_DIRECTIONS.iter().find(|(d, _)| u128::from(*d) == v).map(|(_, n)| *n)
}

/// How deep the kernel's jump stack goes (`NFT_JUMP_STACK_SIZE`): a packet
/// that would jump deeper is dropped, and a ruleset that could is refused
/// at commit (EMLINK).
pub const JUMP_STACK_DEPTH: usize = 16;

/// The most rules one part of a long chain holds when `apply` lays the
/// chain out in parts (`runtime/src/layout.rs`); a chain of no more rules
/// stays one chain in the kernel, and the sequential lowering leaves its
/// order as written (`lower::sequential::by_proto`).
pub const PART_RULES: usize = 1024;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ct_bits_round_trip_and_are_distinct() {
        let all = ct_mask(CtStates::ALL);
        assert_eq!(all.count_ones() as usize, CtState::ALL.len());
        for s in CtState::ALL {
            assert_eq!(ct_states(ct_bit(s)).collect::<Vec<_>>(), vec![s]);
        }
    }

    #[test]
    fn nfproto_round_trips() {
        for f in Family::ALL {
            assert_eq!(nfproto_family(nfproto(f)), Some(f));
        }
    }
}
