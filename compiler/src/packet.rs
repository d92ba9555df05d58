//! Packet specs for `shriekc trace`: `tcp 10.1.2.3:40000 -> 10.99.0.2:22
//! iif eth0 ct new`, `udp [fd00::1]:53 -> [fd00::2]:53`, `icmp 10.0.0.1 ->
//! 10.0.0.2 hook forward`.
//!
//! After the two endpoints come options in any order: `iif NAME`, `oif
//! NAME`, `ct STATE` (default `new`), `mark N` (default 0, decimal or
//! `0x` hexadecimal) and `hook HOOK` (the caller's default
//! when absent, `input` for the CLI); for icmp and icmpv6 packets also
//! `type TYPE` (default `echo-request`) and `code CODE` (default 0), by
//! nft's names or numbers; for tcp packets `flags syn,ack` (nft's flag
//! names, or the byte as a number; default `syn` for `ct new`, else `ack`).

use std::net::IpAddr;

use crate::ir::Hook;
use crate::nft::vocab::{
    icmp_codes, icmp_types, value_of, IPV6_SKIPPED_HEADERS, PROTOS_WITH_PORTS, PROTO_ICMP,
    PROTO_ICMPV6, PROTO_SCTP, PROTO_TCP, PROTO_UDP, TCP_ACK, TCP_FLAGS, TCP_SYN,
};
use crate::space::{name_char, CtState, Family, Packet, NAME_MAX};

/// A packet's mark when nothing has set one: what a spec without `mark` has.
pub const DEFAULT_MARK: u32 = 0;

/// Parse a packet spec. Errors are plain sentences naming what to write.
pub fn parse_packet(spec: &str) -> Result<(Packet, Option<Hook>), String> {
    let spaced = spec.replace("->", " -> ");
    let mut words = spaced.split_whitespace();
    let proto_word =
        words.next().ok_or("empty packet: write e.g. `tcp 10.0.0.1:40000 -> 10.0.0.2:22`")?;
    let proto = parse_proto(proto_word)?;
    let has_ports = PROTOS_WITH_PORTS.contains(&proto);
    let src = words.next().ok_or("missing source address after the protocol")?;
    match words.next() {
        Some("->") => {}
        Some(w) => return Err(format!("expected `->` between the addresses, found `{w}`")),
        None => return Err("missing `-> DESTINATION` after the source address".into()),
    }
    let dst = words.next().ok_or("missing destination address after `->`")?;
    let (saddr, sport) = parse_endpoint(src)?;
    let (daddr, dport) = parse_endpoint(dst)?;
    if saddr.is_ipv4() != daddr.is_ipv4() {
        return Err(format!(
            "source `{src}` and destination `{dst}` are of different address families"
        ));
    }
    let family = if saddr.is_ipv4() { Family::V4 } else { Family::V6 };
    // The names say a family (`proto icmp` matches only IPv4 packets); a
    // number spells the rare packet of the other one.
    let ip = |f: Family| if f == Family::V4 { "IPv4" } else { "IPv6" };
    let pinned = match proto_word {
        "icmp" => Some((Family::V4, "icmpv6")),
        "icmpv6" => Some((Family::V6, "icmp")),
        _ => None,
    };
    if let Some((own, fix)) = pinned.filter(|(own, _)| *own != family) {
        return Err(format!(
            "`{proto_word}` is the ICMP of {} packets: write `{fix}` for an {} packet, or the number `{proto}` for {proto_word} carried in {}",
            ip(own),
            ip(family),
            ip(family)
        ));
    }
    // The kernel reads past these headers to the protocol after them.
    let skipped = IPV6_SKIPPED_HEADERS.iter().find(|(p, _)| *p == proto);
    if let Some((_, header)) = skipped.filter(|_| family == Family::V6) {
        return Err(format!(
            "no IPv6 packet has protocol {proto}: it is the {header} extension header, which the kernel reads past to the protocol after it; write that protocol"
        ));
    }
    let (sport, dport) = match (has_ports, sport, dport) {
        (true, Some(s), Some(d)) => (Some(s), Some(d)),
        (true, _, _) => {
            return Err(format!(
                "{proto_word} packets have ports: write both, as in `{proto_word} 10.0.0.1:40000 -> 10.0.0.2:22`"
            ))
        }
        (false, None, None) => (None, None),
        (false, _, _) => return Err(format!("{proto_word} packets have no ports: leave out the `:PORT`")),
    };
    let family = if saddr.is_ipv4() { Family::V4 } else { Family::V6 };
    let icmp = proto == PROTO_ICMP || proto == PROTO_ICMPV6;
    // Type and code names are those of the protocol (icmp is IPv4's).
    let names_of = if proto == PROTO_ICMP { Family::V4 } else { Family::V6 };
    let echo =
        value_of(icmp_types(names_of), "echo-request").expect("both ICMPs have echo-request");
    let mut packet = Packet {
        family,
        proto,
        saddr: addr_value(saddr),
        daddr: addr_value(daddr),
        sport,
        dport,
        iif: String::new(),
        oif: String::new(),
        ct: CtState::New,
        icmp_type: icmp.then_some(echo),
        icmp_code: icmp.then_some(0),
        tcp_flags: None,
        mark: DEFAULT_MARK,
    };
    let mut flags = None;
    let mut hook = None;
    let mut given = Vec::new();
    while let Some(option) = words.next() {
        let value = words.next().ok_or_else(|| format!("`{option}` needs a value"))?;
        if given.contains(&option) {
            return Err(format!("`{option}` is given twice: a packet has one, keep one of them"));
        }
        given.push(option);
        match option {
            "iif" => packet.iif = interface(option, value)?,
            "oif" => packet.oif = interface(option, value)?,
            "ct" => {
                packet.ct = CtState::ALL.into_iter().find(|s| s.keyword() == value).ok_or_else(|| {
                    format!("unknown conntrack state `{value}`: use new, established, related, invalid or untracked")
                })?
            }
            "hook" => {
                hook = Some(Hook::ALL.into_iter().find(|h| h.keyword() == value).ok_or_else(|| {
                    format!("unknown hook `{value}`: use prerouting, input, forward, output or postrouting")
                })?)
            }
            "type" | "code" if icmp => {
                let (names, slot) = if option == "type" {
                    (icmp_types(names_of), &mut packet.icmp_type)
                } else {
                    (icmp_codes(names_of), &mut packet.icmp_code)
                };
                let v = value_of(names, value).or_else(|| value.parse::<u8>().ok()).ok_or_else(|| {
                    format!("unknown {proto_word} {option} `{value}`: use one of nft's names or a number up to 255")
                })?;
                *slot = Some(v);
            }
            "mark" => {
                let n = match value.strip_prefix("0x") {
                    Some(hex) => u32::from_str_radix(hex, 16),
                    None => value.parse::<u32>(),
                };
                packet.mark = n.map_err(|_| {
                    format!("mark `{value}` is not a number from 0 to 0xffffffff")
                })?
            }
            "type" | "code" => {
                return Err(format!("`{option}` is only for icmp and icmpv6 packets"))
            }
            "flags" if proto == PROTO_TCP => flags = Some(parse_flags(value)?),
            "flags" => return Err("`flags` is only for tcp packets".into()),
            _ => return Err(format!("unknown option `{option}`: use iif, oif, ct, mark or hook")),
        }
    }
    if proto == PROTO_TCP {
        packet.tcp_flags = Some(flags.unwrap_or(default_tcp_flags(packet.ct)));
    }
    // A hook's packets lack an interface the kernel reads as the empty name
    // (docs/language.md, Interfaces); the CLI traces at input by default.
    let lacking = match hook.unwrap_or(Hook::Input) {
        Hook::Prerouting | Hook::Input if !packet.oif.is_empty() => {
            Some(("oif", "has not been routed yet", "hook forward"))
        }
        Hook::Output if !packet.iif.is_empty() => {
            Some(("iif", "is the host's own, from no interface", "hook forward"))
        }
        _ => None,
    };
    if let Some((word, why, fix)) = lacking {
        let at = hook.unwrap_or(Hook::Input).keyword();
        return Err(format!(
            "a packet at {at} has no `{word}`: it {why}; leave out `{word}`, or trace it at another hook (`{fix}`)"
        ));
    }
    Ok((packet, hook))
}

/// The name of the interface a packet came in or goes out by, as Linux
/// allows it.
fn interface(option: &str, name: &str) -> Result<String, String> {
    if let Some(bad) = name.chars().find(|c| !name_char(*c)) {
        return Err(format!(
            "`{option} {name}`: an interface name holds no `{}` (Linux names have no spaces, `/` or `:`, and a packet's is one name, no `*` wildcard)",
            bad.escape_debug()
        ));
    }
    if name.len() > NAME_MAX {
        return Err(format!(
            "`{option} {name}`: the name is {} bytes long, and Linux interface names have 1 to {NAME_MAX}",
            name.len()
        ));
    }
    Ok(name.to_string())
}

/// The flags of a tcp packet that says none: syn for a new connection's
/// first packet, ack for the packets after it.
pub fn default_tcp_flags(ct: CtState) -> u8 {
    if ct == CtState::New {
        TCP_SYN
    } else {
        TCP_ACK
    }
}

/// `syn,ack` (nft's flag names) or a number up to 255.
fn parse_flags(value: &str) -> Result<u8, String> {
    let number = match value.strip_prefix("0x") {
        Some(hex) => u8::from_str_radix(hex, 16).ok(),
        None => value.parse::<u8>().ok(),
    };
    if let Some(b) = number {
        return Ok(b);
    }
    value.split(',').try_fold(0u8, |bits, name| {
        value_of(TCP_FLAGS, name).map(|b| bits | b).ok_or_else(|| {
            format!("unknown tcp flag `{name}`: use fin, syn, rst, psh, ack, urg, ecn, cwr (as in `flags syn,ack`) or a number up to 255")
        })
    })
}

fn parse_proto(w: &str) -> Result<u8, String> {
    Ok(match w {
        "tcp" => PROTO_TCP,
        "udp" => PROTO_UDP,
        "sctp" => PROTO_SCTP,
        "icmp" => PROTO_ICMP,
        "icmpv6" => PROTO_ICMPV6,
        _ => w.parse::<u8>().map_err(|_| {
            format!(
                "unknown protocol `{w}`: use tcp, udp, sctp, icmp, icmpv6 or a number up to 255"
            )
        })?,
    })
}

/// `10.0.0.1`, `10.0.0.1:80`, `fd00::1`, `[fd00::1]:80`.
fn parse_endpoint(w: &str) -> Result<(IpAddr, Option<u16>), String> {
    let bad_port = |p: &str| format!("bad port `{p}` in `{w}`: ports go from 0 to 65535");
    if let Some(rest) = w.strip_prefix('[') {
        let (addr, tail) = rest.split_once(']').ok_or_else(|| format!("missing `]` in `{w}`"))?;
        let addr: IpAddr = addr.parse().map_err(|_| format!("`{addr}` is not an IPv6 address"))?;
        let port = match tail {
            "" => None,
            t => {
                let p = t
                    .strip_prefix(':')
                    .ok_or_else(|| format!("expected `:PORT` after `]` in `{w}`"))?;
                Some(p.parse::<u16>().map_err(|_| bad_port(p))?)
            }
        };
        return Ok((addr, port));
    }
    if let Ok(addr) = w.parse::<IpAddr>() {
        return Ok((addr, None));
    }
    if let Some((addr, port)) = w.rsplit_once(':') {
        if let Ok(addr) = addr.parse::<std::net::Ipv4Addr>() {
            return Ok((IpAddr::V4(addr), Some(port.parse::<u16>().map_err(|_| bad_port(port))?)));
        }
    }
    Err(format!(
        "`{w}` is not an address: write `10.0.0.1`, `10.0.0.1:80`, `fd00::1` or `[fd00::1]:80`"
    ))
}

/// An address as the evaluators hold it: a `u128` in its family's width.
pub fn addr_value(a: IpAddr) -> u128 {
    match a {
        IpAddr::V4(v4) => u32::from(v4) as u128,
        IpAddr::V6(v6) => u128::from(v6),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(spec: &str, expect: &str) {
        let got = match parse_packet(spec) {
            Ok((p, hook)) => format!(
                "{:?} proto={} saddr={:x} daddr={:x} sport={:?} dport={:?} iif={:?} oif={:?} ct={} hook={:?}",
                p.family,
                p.proto,
                p.saddr,
                p.daddr,
                p.sport,
                p.dport,
                p.iif,
                p.oif,
                p.ct.keyword(),
                hook.map(Hook::keyword)
            ),
            Err(e) => format!("error: {e}"),
        };
        assert_eq!(got, expect, "{spec}");
    }

    #[test]
    fn specs() {
        check(
            "tcp 10.1.2.3:40000 -> 10.99.0.2:22 iif eth0 ct new",
            "V4 proto=6 saddr=a010203 daddr=a630002 sport=Some(40000) dport=Some(22) iif=\"eth0\" oif=\"\" ct=new hook=None",
        );
        check(
            "udp [fd00::1]:53 -> [fd00::2]:53",
            "V6 proto=17 saddr=fd000000000000000000000000000001 daddr=fd000000000000000000000000000002 sport=Some(53) dport=Some(53) iif=\"\" oif=\"\" ct=new hook=None",
        );
        check(
            "icmp 10.0.0.1->10.0.0.2 hook forward oif wan ct established",
            "V4 proto=1 saddr=a000001 daddr=a000002 sport=None dport=None iif=\"\" oif=\"wan\" ct=established hook=Some(\"forward\")",
        );
        check(
            "tcp 10.0.0.1:1 -> 10.0.0.2:2 hook forward iif abcdefghijklmno",
            "V4 proto=6 saddr=a000001 daddr=a000002 sport=Some(1) dport=Some(2) iif=\"abcdefghijklmno\" oif=\"\" ct=new hook=Some(\"forward\")",
        );
        check(
            "tcp 10.0.0.1:1 -> 10.0.0.2:2 iif abcdefghijklmnop",
            "error: `iif abcdefghijklmnop`: the name is 16 bytes long, and Linux interface names have 1 to 15",
        );
        check(
            "tcp 10.0.0.1:1 -> 10.0.0.2:2 hook forward oif eth*",
            "error: `oif eth*`: an interface name holds no `*` (Linux names have no spaces, `/` or `:`, and a packet's is one name, no `*` wildcard)",
        );
        check(
            "tcp 10.0.0.1:1 -> 10.0.0.2:2 iif br:0",
            "error: `iif br:0`: an interface name holds no `:` (Linux names have no spaces, `/` or `:`, and a packet's is one name, no `*` wildcard)",
        );
        check(
            "tcp 10.0.0.1:1 -> 10.0.0.2:2 hook forward hook input",
            "error: `hook` is given twice: a packet has one, keep one of them",
        );
        check(
            "tcp 10.0.0.1:1 -> 10.0.0.2:2 ct new mark 1 ct established",
            "error: `ct` is given twice: a packet has one, keep one of them",
        );
        check("", "error: empty packet: write e.g. `tcp 10.0.0.1:40000 -> 10.0.0.2:22`");
        check(
            "tcp 10.0.0.1 -> 10.0.0.2:22",
            "error: tcp packets have ports: write both, as in `tcp 10.0.0.1:40000 -> 10.0.0.2:22`",
        );
        check(
            "icmp 10.0.0.1:5 -> 10.0.0.2",
            "error: icmp packets have no ports: leave out the `:PORT`",
        );
        check("tcp 10.0.0.1:1 -> [::1]:2", "error: source `10.0.0.1:1` and destination `[::1]:2` are of different address families");
        check(
            "gre 1.2.3.4 -> 1.2.3.5",
            "error: unknown protocol `gre`: use tcp, udp, sctp, icmp, icmpv6 or a number up to 255",
        );
        check(
            "tcp 1.2.3.4:99999 -> 1.2.3.5:1",
            "error: bad port `99999` in `1.2.3.4:99999`: ports go from 0 to 65535",
        );
        check(
            "icmp [fd00::1] -> [fd00::2]",
            "error: `icmp` is the ICMP of IPv4 packets: write `icmpv6` for an IPv6 packet, or the number `1` for icmp carried in IPv6",
        );
        check(
            "icmpv6 10.0.0.1 -> 10.0.0.2",
            "error: `icmpv6` is the ICMP of IPv6 packets: write `icmp` for an IPv4 packet, or the number `58` for icmpv6 carried in IPv4",
        );
        check(
            "1 [fd00::1] -> [fd00::2]",
            "V6 proto=1 saddr=fd000000000000000000000000000001 daddr=fd000000000000000000000000000002 sport=None dport=None iif=\"\" oif=\"\" ct=new hook=None",
        );
        check(
            "0 [fd00::1] -> [fd00::2]",
            "error: no IPv6 packet has protocol 0: it is the hop-by-hop options extension header, which the kernel reads past to the protocol after it; write that protocol",
        );
        check(
            "44 1.2.3.4 -> 1.2.3.5",
            "V4 proto=44 saddr=1020304 daddr=1020305 sport=None dport=None iif=\"\" oif=\"\" ct=new hook=None",
        );
        check(
            "udp 10.0.0.1:1 -> 10.0.0.2:2 oif wan",
            "error: a packet at input has no `oif`: it has not been routed yet; leave out `oif`, or trace it at another hook (`hook forward`)",
        );
        check(
            "udp 10.0.0.1:1 -> 10.0.0.2:2 iif lan hook output",
            "error: a packet at output has no `iif`: it is the host's own, from no interface; leave out `iif`, or trace it at another hook (`hook forward`)",
        );
        check("47 1.2.3.4 -> 1.2.3.5 ct bogus", "error: unknown conntrack state `bogus`: use new, established, related, invalid or untracked");
        check("47 1.2.3.4 -> 1.2.3.5 hook", "error: `hook` needs a value");
        check("47 1.2.3.4 1.2.3.5", "error: expected `->` between the addresses, found `1.2.3.5`");
    }
}
