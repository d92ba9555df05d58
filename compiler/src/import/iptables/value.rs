//! The values of iptables options: addresses, ports, states, rates,
//! interface names.

use std::net::IpAddr;

use shriek_grammar::ast::PortProto;

use super::super::model::{self, Addr};
use super::rule::Cx;
use crate::ir::{RateUnit, RejectWith};
use crate::nft::vocab;
use crate::space::{CtState, Family, PROTO_SCTP, PROTO_TCP, PROTO_UDP};

impl Cx<'_> {
    pub(super) fn any_addr(&self) -> IpAddr {
        match self.family {
            Family::V4 => IpAddr::from([0u8; 4]),
            Family::V6 => IpAddr::from([0u16; 8]),
        }
    }

    /// `ADDR[/LEN|/MASK]`: `None` for the whole family (`/0`).
    pub(super) fn address(&self, v: &str) -> Result<Option<Addr>, String> {
        let (a, len) = match v.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (v, None),
        };
        let addr: IpAddr = a
            .parse()
            .map_err(|_| format!("`{v}` is not an address (host names cannot be imported)"))?;
        if model::family_of(&addr) != self.family {
            return Err(format!("`{v}` is of the other address family"));
        }
        let width: u8 = if addr.is_ipv4() { 32 } else { 128 };
        let len = match len {
            None => width,
            Some(l) => match l.parse::<u8>() {
                Ok(n) if n <= width => n,
                _ => match l.parse::<std::net::Ipv4Addr>() {
                    Ok(mask)
                        if addr.is_ipv4()
                            && u32::from(mask).leading_ones() == u32::from(mask).count_ones() =>
                    {
                        u32::from(mask).leading_ones() as u8
                    }
                    _ => return Err(format!("`/{l}` is not a prefix length")),
                },
            },
        };
        if len == 0 {
            return Ok(None);
        }
        Ok(Some(Addr::Net(network(addr, len), len)))
    }

    pub(super) fn range(&self, v: &str) -> Result<Addr, String> {
        let bad = || format!("`{v}` is not an address range");
        let (lo, hi) = v.split_once('-').ok_or_else(bad)?;
        let lo: IpAddr = lo.parse().map_err(|_| bad())?;
        let hi: IpAddr = hi.parse().map_err(|_| bad())?;
        if model::family_of(&lo) != self.family || model::family_of(&hi) != self.family || lo > hi {
            return Err(bad());
        }
        Ok(Addr::Range(lo, hi))
    }
}

pub(super) fn port_proto(p: u8) -> Option<PortProto> {
    match p {
        PROTO_TCP => Some(PortProto::Tcp),
        PROTO_UDP => Some(PortProto::Udp),
        PROTO_SCTP => Some(PortProto::Sctp),
        _ => None,
    }
}

pub(super) fn network(a: IpAddr, len: u8) -> IpAddr {
    match a {
        IpAddr::V4(v) => {
            let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
            IpAddr::from(std::net::Ipv4Addr::from(u32::from(v) & mask))
        }
        IpAddr::V6(v) => {
            let mask = if len == 0 { 0 } else { u128::MAX << (128 - len) };
            IpAddr::from(std::net::Ipv6Addr::from(u128::from(v) & mask))
        }
    }
}

pub(super) fn interface(v: &str) -> Result<String, String> {
    // iptables' `+` at the end is the language's `*`; a `*` of its own is
    // a plain character to iptables and a wildcard to the language.
    if v.contains('*') {
        return Err("an interface name with `*`, which shriek would read as a wildcard".into());
    }
    Ok(match v.strip_suffix('+') {
        Some(stem) => format!("{stem}*"),
        None => v.to_string(),
    })
}

/// `22`, `1000:2000`, `:1023`, `1024:`, and comma lists of those.
pub(super) fn ports(v: &str, range_sep: char) -> Result<Vec<(u16, u16)>, String> {
    let port = |s: &str, default: u16| -> Result<u16, String> {
        if s.is_empty() {
            return Ok(default);
        }
        s.parse::<u16>()
            .map_err(|_| format!("`{s}` is not a port number (service names cannot be imported)"))
    };
    v.split(',')
        .map(|item| {
            let (lo, hi) = match item.split_once(range_sep) {
                Some((a, b)) => (port(a, 0)?, port(b, u16::MAX)?),
                None => {
                    let p = port(item, 0)?;
                    (p, p)
                }
            };
            if lo > hi {
                return Err(format!("the port range `{item}` runs backwards"));
            }
            Ok((lo, hi))
        })
        .collect()
}

pub(super) fn states(v: &str) -> Result<Vec<CtState>, String> {
    v.split(',')
        .map(|s| match s.to_ascii_uppercase().as_str() {
            "NEW" => Ok(CtState::New),
            "ESTABLISHED" => Ok(CtState::Established),
            "RELATED" => Ok(CtState::Related),
            "INVALID" => Ok(CtState::Invalid),
            "UNTRACKED" => Ok(CtState::Untracked),
            other => Err(format!("the conntrack state `{other}` is not in the language")),
        })
        .collect()
}

/// `10/sec`, `3/min`, `1/hour`, `2/day`, or a bare number per second; the
/// unit may be any prefix of its word, as iptables reads it.
pub(super) fn parse_rate(v: &str) -> Option<(u64, RateUnit)> {
    let (n, unit) = v.split_once('/').unwrap_or((v, "second"));
    let n: u64 = n.parse().ok().filter(|n| *n > 0)?;
    let unit = unit.to_ascii_lowercase();
    let per = [
        ("second", RateUnit::Second),
        ("minute", RateUnit::Minute),
        ("hour", RateUnit::Hour),
        ("day", RateUnit::Day),
    ]
    .into_iter()
    .find(|(word, _)| !unit.is_empty() && word.starts_with(unit.as_str()))?
    .1;
    Some((n, per))
}

/// `--icmp-type` / `--icmpv6-type`: `TYPE`, `TYPE/CODE`, `any` (`None`),
/// or a name. iptables-save prints numbers; the names read here are nft's
/// type names, which iptables shares for whole types, and iptables'
/// `ping` and `pong`.
pub(super) fn icmp_type(v: &str, family: Family) -> Result<Option<(u8, Option<u8>)>, String> {
    if v == "any" {
        return Ok(None);
    }
    let number = |s: &str| s.parse::<u8>().ok();
    if let Some((t, c)) = v.split_once('/') {
        return match (number(t), number(c)) {
            (Some(t), Some(c)) => Ok(Some((t, Some(c)))),
            _ => Err(format!("cannot read the ICMP type `{v}`")),
        };
    }
    let alias = match v {
        "ping" => "echo-request",
        "pong" => "echo-reply",
        _ => v,
    };
    number(v)
        .or_else(|| vocab::value_of(vocab::icmp_types(family), alias))
        .map(|t| Some((t, None)))
        .ok_or_else(|| {
            "an ICMP type name that is not nft's (a type with a code, like `port-unreachable`): write it as TYPE/CODE".into()
        })
}

/// `--reject-with NAME`: iptables' answers (`libipt_REJECT`,
/// `libip6t_REJECT`, long and short names) and the code the kernel sends
/// for each (`ipt_REJECT.c`, `ip6t_REJECT.c`), which are nft's codes.
pub(super) fn reject_with(v: &str, family: Family) -> Option<RejectWith> {
    const V4: &[(&str, &str, u8)] = &[
        ("icmp-net-unreachable", "net-unreach", 0),
        ("icmp-host-unreachable", "host-unreach", 1),
        ("icmp-proto-unreachable", "proto-unreach", 2),
        ("icmp-port-unreachable", "port-unreach", 3),
        ("icmp-net-prohibited", "net-prohib", 9),
        ("icmp-host-prohibited", "host-prohib", 10),
        ("icmp-admin-prohibited", "admin-prohib", 13),
    ];
    const V6: &[(&str, &str, u8)] = &[
        ("icmp6-no-route", "no-route", 0),
        ("icmp6-adm-prohibited", "adm-prohibited", 1),
        ("icmp6-addr-unreachable", "addr-unreach", 3),
        ("icmp6-port-unreachable", "port-unreach", 4),
        ("icmp6-policy-fail", "policy-fail", 5),
        ("icmp6-reject-route", "reject-route", 6),
    ];
    if matches!(v, "tcp-reset" | "tcp-rst") {
        return Some(RejectWith::TcpReset);
    }
    let names = if family == Family::V4 { V4 } else { V6 };
    let &(.., code) = names.iter().find(|(long, short, _)| v == *long || v == *short)?;
    Some(match family {
        Family::V4 => RejectWith::Icmp(code).normal(),
        Family::V6 => RejectWith::Icmpv6(code).normal(),
    })
}

/// `--log-level`: a number 0 to 7 (what iptables-save prints) or a syslog
/// name as `libxt_LOG` reads it.
pub(super) fn log_level(v: &str) -> Option<u8> {
    const NAMES: &[(&str, u8)] = &[
        ("emerg", 0),
        ("panic", 0),
        ("alert", 1),
        ("crit", 2),
        ("error", 3),
        ("warning", 4),
        ("notice", 5),
        ("info", 6),
        ("debug", 7),
    ];
    match v.parse::<u8>() {
        Ok(n) if n <= 7 => Some(n),
        Ok(_) => None,
        Err(_) => vocab::value_of(NAMES, v),
    }
}

/// The six flags iptables names (`ALL` is all of them).
const IPTABLES_ALL_FLAGS: u8 = 0x3f;

/// A `--tcp-flags` list, `SYN,ACK` or `ALL` or `NONE`, as the flags byte's
/// bits (nft's names, upper case: iptables names no others).
pub(super) fn tcp_flag_list(v: &str) -> Result<u8, String> {
    v.split(',').try_fold(0u8, |bits, name| {
        let bit = match name.to_ascii_uppercase().as_str() {
            "ALL" => IPTABLES_ALL_FLAGS,
            "NONE" => 0,
            upper => vocab::TCP_FLAGS
                .iter()
                .find(|(n, b)| n.eq_ignore_ascii_case(upper) && b & IPTABLES_ALL_FLAGS != 0)
                .map(|(_, b)| *b)
                .ok_or_else(|| format!("`{name}` is not a TCP flag iptables names"))?,
        };
        Ok(bits | bit)
    })
}

/// `VALUE[/MASK]`, as `--mark` and `--set-mark` take it: the value and the
/// mask (all 32 bits when none is given).
pub(super) fn mark_and_mask(v: &str) -> Option<(u32, u32)> {
    match v.split_once('/') {
        Some((value, mask)) => Some((model::mark_number(value)?, model::mark_number(mask)?)),
        None => Some((model::mark_number(v)?, u32::MAX)),
    }
}
