//! IPv6 extension headers, held to the real kernel in a namespace of the
//! test's own: `meta l4proto` reads past hop-by-hop options (0), routing
//! (43), fragment (44) and destination options (60) to the protocol after
//! them, and stops at the authentication header (51). So `proto 0` (or 43,
//! 44, 60) holds for IPv4 packets of that protocol and for no IPv6 packet,
//! which is what docs/language.md says and `check` reports.
//!
//! Under `CI=true` this test must run; elsewhere it skips with a message
//! when not root or when namespaces cannot be made.

use std::process::Command;

use shriek_testkit::{apply_forced, has_tool, output_with_stdin, python, temp_file, text, Netns};

fn shriekc(args: &[&str]) -> std::process::Output {
    shriek_testkit::run(env!("CARGO_BIN_EXE_shriekc"), args)
}

/// Reads one packet a line (`4 PROTO` or `6 HEADER,...,PROTO`, the IPv6
/// next-header chain), sends it to loopback from a raw socket that writes
/// its own IP header, and prints `accept` or the error name (`EPERM`: the
/// output hook dropped it).
const SENDER: &str = r#"
import errno, socket, struct, sys
v4 = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
v6 = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_RAW)
for line in sys.stdin:
    fam, chain = line.split()
    chain = [int(h) for h in chain.split(",")]
    proto = chain[-1]
    body = struct.pack("!HHHH", 1000, 9, 8, 0) if proto == 17 else bytes(8)
    for h in reversed(chain[:-1]):
        if h == 44:  # fragment: offset 0, no more fragments
            body = struct.pack("!BBHI", proto, 0, 0, 7) + body
        elif h == 51:  # authentication header: 12 bytes and a 4-byte value
            body = struct.pack("!BBHII4x", proto, 2, 0, 1, 1) + body
        elif h == 43:  # routing: type 0, no segments left
            body = struct.pack("!BBBB4x", proto, 0, 0, 0) + body
        else:  # hop-by-hop or destination options: one PadN option
            body = struct.pack("!BBBB4x", proto, 0, 1, 4) + body
        proto = h
    if fam == "4":
        sock, dst = v4, "127.0.0.1"
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(body), 0, 0, 64, proto, 0,
                         socket.inet_aton(dst), socket.inet_aton(dst))
    else:
        sock, dst = v6, "::1"
        addr = socket.inet_pton(socket.AF_INET6, dst)
        ip = struct.pack("!IHBB16s16s", 6 << 28, len(body), proto, 64, addr, addr)
    try:
        sock.sendto(ip + body, (dst, 0))
        print(line.strip(), "accept")
    except OSError as e:
        print(line.strip(), errno.errorcode.get(e.errno, str(e.errno)))
"#;

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

/// Sends each packet from inside `ns` and checks what the sender saw of it
/// (`accept` or the error its send got), naming `rules()` on a mismatch.
fn assert_verdicts(ns: &Netns, packets: &[(&str, &str)], rules: impl FnOnce() -> String) {
    let input: String = packets.iter().map(|(p, _)| format!("{p}\n")).collect();
    let sent = output_with_stdin(
        Command::new("ip").args(["netns", "exec", &ns.name, python(), "-c", SENDER]),
        input.as_bytes(),
    );
    assert!(sent.status.success(), "the sender failed: {}", text(&sent.stderr));
    let want: String = packets.iter().map(|(p, v)| format!("{p} {v}\n")).collect();
    assert_eq!(text(&sent.stdout), want, "{}", rules());
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
