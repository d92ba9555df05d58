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

/// The protocols that carry ports (`th sport`, `th dport`).
pub const PROTOS_WITH_PORTS: [u8; 3] = [PROTO_TCP, PROTO_UDP, PROTO_SCTP];

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

/// How deep the kernel's jump stack goes (`NFT_JUMP_STACK_SIZE`): a packet
/// that would jump deeper is dropped, and a ruleset that could is refused
/// at commit (EMLINK).
pub const JUMP_STACK_DEPTH: usize = 16;

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
