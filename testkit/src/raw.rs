//! Packets written whole (IP header included) from raw sockets inside a
//! namespace, for the kernel tests that hold the kernel's verdicts to the
//! language's: a packet the output hook drops or rejects fails its
//! `sendto` with EPERM, so each send's result is the verdict, with no
//! receiver and no timing.
//!
//! One sender serves every such test: it builds what the tests draw
//! (both families, TCP with any flags byte, UDP, udplite, SCTP, ICMP and
//! ICMPv6 types and codes, other protocols as eight zero bytes, marks by
//! `SO_MARK`, IPv6 extension headers in front of the protocol).

use std::process::Command;

use shriek_compiler::space::{Family, Packet};

use crate::{output_with_stdin, python, text, Netns};

/// Reads one packet a line (`family proto saddr daddr sport dport flags
/// type code mark ext`, addresses as integers, `ext` the IPv6 extension
/// headers in front of the protocol, comma-separated, or `-`), sends it
/// from a raw socket that writes its own IP header, and prints `accept`,
/// or the error's name (`EPERM`: the output hook dropped it).
const SENDER: &str = r#"
import errno, ipaddress, socket, struct, sys
SO_MARK = 36
v4 = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
v4.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
v6 = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_RAW)
for line in sys.stdin:
    *fields, ext = line.split()
    fam, proto, s, d, sport, dport, flags, typ, code, mark = (int(x) for x in fields)
    if proto == 6:
        l4 = struct.pack("!HHIIBBHHH", sport, dport, 1, 0, 5 << 4, flags, 65535, 0, 0)
    elif proto in (17, 136):
        l4 = struct.pack("!HHHH", sport, dport, 8, 0)
    elif proto == 132:
        l4 = struct.pack("!HHII", sport, dport, 0, 0)
    elif proto in (1, 58):
        l4 = struct.pack("!BBHI", typ, code, 0, 0)
    else:
        l4 = bytes(8)
    if fam == 4:
        sock, dst = v4, str(ipaddress.IPv4Address(d))
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(l4), 0, 0, 64, proto, 0,
                         s.to_bytes(4, "big"), d.to_bytes(4, "big"))
    else:
        sock, dst = v6, str(ipaddress.IPv6Address(d))
        headers = [] if ext == "-" else [int(h) for h in ext.split(",")]
        for h in reversed(headers):
            if h == 44:  # fragment: offset 0, no more fragments
                l4 = struct.pack("!BBHI", proto, 0, 0, 7) + l4
            elif h == 51:  # authentication header: 12 bytes and a 4-byte value
                l4 = struct.pack("!BBHII4x", proto, 2, 0, 1, 1) + l4
            elif h == 43:  # routing: type 0, no segments left
                l4 = struct.pack("!BBBB4x", proto, 0, 0, 0) + l4
            else:  # hop-by-hop or destination options: one PadN option
                l4 = struct.pack("!BBBB4x", proto, 0, 1, 4) + l4
            proto = h
        ip = struct.pack("!IHBB16s16s", 6 << 28, len(l4), proto, 64,
                         s.to_bytes(16, "big"), d.to_bytes(16, "big"))
    sock.setsockopt(socket.SOL_SOCKET, SO_MARK, struct.pack("I", mark))
    try:
        sock.sendto(ip + l4, (dst, 0))
        print("accept")
    except OSError as e:
        print(errno.errorcode.get(e.errno, str(e.errno)))
"#;

/// One packet for [`send`]: the model's packet, and the IPv6 extension
/// headers (next-header numbers: 0, 43, 44, 51, 60) in front of its
/// protocol. IPv4 packets carry none.
pub struct Raw<'a> {
    pub packet: &'a Packet,
    pub ext: &'a [u8],
}

/// What became of one sent packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sent {
    /// `sendto` succeeded: every chain on the way out let it pass.
    Accepted,
    /// `sendto` failed with EPERM: a chain on the way out dropped or
    /// rejected it.
    Refused,
    /// Any other failure, by its errno name: the test cannot read a
    /// verdict from it.
    Failed(String),
}

/// Sends `packets` in order from raw sockets inside `ns` and returns what
/// became of each. Panics, naming the sender's error output, when the
/// sender itself fails or answers for fewer packets than were sent.
pub fn send(ns: &Netns, packets: &[Raw<'_>]) -> Vec<Sent> {
    let input: String = packets.iter().map(line).collect();
    let sent = output_with_stdin(
        Command::new("ip").args(["netns", "exec", &ns.name, python(), "-c", SENDER]),
        input.as_bytes(),
    );
    assert!(sent.status.success(), "the raw sender failed: {}", text(&sent.stderr));
    let answers: Vec<Sent> = text(&sent.stdout)
        .lines()
        .map(|answer| match answer {
            "accept" => Sent::Accepted,
            "EPERM" => Sent::Refused,
            other => Sent::Failed(other.to_string()),
        })
        .collect();
    assert_eq!(answers.len(), packets.len(), "the raw sender: {}", text(&sent.stderr));
    answers
}

/// The sender's line for one packet.
fn line(raw: &Raw<'_>) -> String {
    let p = raw.packet;
    let fam = if p.family == Family::V4 { 4 } else { 6 };
    let ext = if raw.ext.is_empty() {
        "-".to_string()
    } else {
        raw.ext.iter().map(u8::to_string).collect::<Vec<_>>().join(",")
    };
    format!(
        "{fam} {} {} {} {} {} {} {} {} {} {ext}\n",
        p.proto,
        p.saddr,
        p.daddr,
        p.sport.unwrap_or(0),
        p.dport.unwrap_or(0),
        p.tcp_flags.unwrap_or(0),
        p.icmp_type.unwrap_or(0),
        p.icmp_code.unwrap_or(0),
        p.mark,
    )
}
