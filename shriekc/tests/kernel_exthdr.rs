//! IPv6 extension headers, held to the real kernel in a namespace of the
//! test's own: `meta l4proto` reads past hop-by-hop options (0), routing
//! (43), fragment (44) and destination options (60) to the protocol after
//! them, and stops at the authentication header (51). So `proto 0` (or 43,
//! 44, 60) holds for IPv4 packets of that protocol and for no IPv6 packet,
//! which is what docs/language.md says and `check` reports.
//!
//! Under `CI=true` this test must run; elsewhere it skips with a message
//! when not root or when namespaces cannot be made.

use std::net::{Ipv4Addr, Ipv6Addr};

use shriek_compiler::space::{CtState, Family, Packet, PROTO_UDP};
use shriek_testkit::raw::{self, Raw, Sent};
use shriek_testkit::{apply_forced, has_tool, temp_file, text, Netns};

fn shriekc(args: &[&str]) -> std::process::Output {
    shriek_testkit::run(env!("CARGO_BIN_EXE_shriekc"), args)
}

const POLICY: &str = "table exthdr {
  chain out hook output policy accept {
    proto { 0, 43, 44, 60 } drop
    family ipv6 proto 51 drop
    family ipv6 proto 59 drop
  }
}
";

#[test]
fn ipv6_extension_headers_are_never_the_protocol() {
    let Some(ns) = Netns::new("exthdr") else { return };
    if !has_tool("nft") {
        return;
    }
    apply_forced(env!("CARGO_BIN_EXE_shriekc"), &ns, POLICY);
    let packets = [
        ("4 0", "EPERM"),
        ("4 43", "EPERM"),
        ("4 44", "EPERM"),
        ("4 60", "EPERM"),
        ("4 17", "accept"),
        // The kernel reads past each header to UDP: no rule holds.
        ("6 0,17", "accept"),
        ("6 43,17", "accept"),
        ("6 44,17", "accept"),
        ("6 60,17", "accept"),
        ("6 0,43,44,60,17", "accept"),
        // Past them to 59 (no next header), and stopping at AH.
        ("6 0,60,59", "EPERM"),
        ("6 59", "EPERM"),
        ("6 51,17", "EPERM"),
        ("6 60,51,17", "EPERM"),
    ];
    assert_verdicts(&ns, &packets, || ns.nft(&["list", "ruleset"]));
}

/// ip6tables-legacy, whose rules `import` reads, is another reader: its
/// `-p` reads past the authentication header too, so `-p ah`, like `-p 43`,
/// `-p 44` and `-p 60`, never matches, and the protocol after AH does.
#[test]
fn ip6tables_never_matches_an_extension_header() {
    let Some(ns) = Netns::new("exthdr-ip6t") else { return };
    if !has_tool("ip6tables-legacy") {
        return;
    }
    // ip6tables warns "never matched protocol" for each of the first four.
    for proto in ["ah", "43", "44", "60", "59"] {
        ns.sh(&format!("ip6tables-legacy -A OUTPUT -p {proto} -j DROP 2>/dev/null"));
    }
    let packets = [
        ("6 51,17", "accept"),
        ("6 43,17", "accept"),
        ("6 44,17", "accept"),
        ("6 60,17", "accept"),
        ("6 51,59", "EPERM"),
        ("6 59", "EPERM"),
    ];
    assert_verdicts(&ns, &packets, || ns.sh("ip6tables-legacy -L OUTPUT -v -n"));
}

/// Sends each packet (`4 PROTO` or `6 HEADER,...,PROTO`, the IPv6
/// next-header chain, to loopback from loopback) from inside `ns` and
/// checks what its send met (`accept`, or `EPERM`: the output hook dropped
/// it), naming `rules()` on a mismatch.
fn assert_verdicts(ns: &Netns, packets: &[(&str, &str)], rules: impl FnOnce() -> String) {
    let built: Vec<(Packet, Vec<u8>)> = packets.iter().map(|(p, _)| packet(p)).collect();
    let raws: Vec<Raw<'_>> = built.iter().map(|(packet, ext)| Raw { packet, ext }).collect();
    let got: String = packets
        .iter()
        .zip(raw::send(ns, &raws))
        .map(|((p, _), sent)| match sent {
            Sent::Accepted => format!("{p} accept\n"),
            Sent::Refused => format!("{p} EPERM\n"),
            Sent::Failed(e) => format!("{p} {e}\n"),
        })
        .collect();
    let want: String = packets.iter().map(|(p, v)| format!("{p} {v}\n")).collect();
    assert_eq!(got, want, "{}", rules());
}

/// The packet `4 PROTO` or `6 HEADER,...,PROTO` stands for, with the IPv6
/// extension headers in front of its protocol: a UDP packet from port
/// 1000 to 9, or eight zero bytes of another protocol, from loopback to
/// loopback.
fn packet(spec: &str) -> (Packet, Vec<u8>) {
    let (family, chain) = spec.split_once(' ').expect("FAMILY CHAIN");
    let mut chain: Vec<u8> = chain.split(',').map(|h| h.parse().expect("a protocol")).collect();
    let proto = chain.pop().expect("a protocol");
    let (family, loopback) = match family {
        "4" => (Family::V4, u128::from(u32::from(Ipv4Addr::LOCALHOST))),
        _ => (Family::V6, u128::from(Ipv6Addr::LOCALHOST)),
    };
    let udp = proto == PROTO_UDP;
    let packet = Packet {
        family,
        proto,
        saddr: loopback,
        daddr: loopback,
        sport: udp.then_some(1000),
        dport: udp.then_some(9),
        iif: String::new(),
        oif: "lo".into(),
        ct: CtState::New,
        icmp_type: None,
        icmp_code: None,
        tcp_flags: None,
        mark: 0,
    };
    (packet, chain)
}

/// What `check` and `trace` say of the same protocols.
#[test]
fn check_and_trace_say_no_ipv6_packet_has_them() {
    let policy = "table exthdr {
  chain input hook input policy accept {
    family ipv6 proto 0 drop
    saddr fd00::/8 proto { 43, 60 } drop
    proto 44 drop
  }
}
";
    let file = temp_file("exthdr-check.shr", policy);
    let path = file.to_str().expect("utf-8 path");
    let check = shriekc(&["check", path]);
    let trace6 = shriekc(&["trace", path, "0 [fd00::1] -> [fd00::2]"]);
    let trace4 = shriekc(&["trace", path, "44 10.0.0.1 -> 10.0.0.2"]);
    let out = format!(
        "--- check (exit {:?}) ---\n{}{}--- trace 0 over IPv6 (exit {:?}) ---\n{}{}--- trace 44 over IPv4 (exit {:?}) ---\n{}{}",
        check.status.code(),
        text(&check.stdout),
        text(&check.stderr).replace(path, "policy.shr"),
        trace6.status.code(),
        text(&trace6.stdout),
        text(&trace6.stderr),
        trace4.status.code(),
        text(&trace4.stdout).replace(path, "policy.shr"),
        text(&trace4.stderr),
    );
    shriek_testkit::snapshot!("exthdr", "check_and_trace", out);
}
