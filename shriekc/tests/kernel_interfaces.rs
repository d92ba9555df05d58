//! Interfaces a hook's packets lack, held to the real kernel in a
//! namespace of the test's own: before routing (prerouting, input) no
//! packet has an `oif`, and the host's own packets (output) have no `iif`.
//! The kernel reads the empty name there: `oif lo` never holds in input,
//! `oif != lo` always does. `check` warns on the match and the analysis
//! reads the rules that way (docs/language.md, Interfaces).
//!
//! Under `CI=true` this test must run; elsewhere it skips with a message
//! when not root or when namespaces cannot be made.

use std::process::Command;

use shriek_testkit::{apply_forced, has_tool, output_with_stdin, python, temp_file, text, Netns};

fn shriekc(args: &[&str]) -> std::process::Output {
    shriek_testkit::run(env!("CARGO_BIN_EXE_shriekc"), args)
}

const POLICY: &str = "table ifaces {
  chain input hook input policy accept {
    oif lo drop
    oif != lo tcp dport 9 drop
    tcp dport 9 accept
  }
  chain output hook output policy accept {
    iif lo udp dport 7 drop
    iif != lo udp dport 8 drop
  }
  chain forward hook forward policy accept {
    oif lo drop
  }
}
";

/// Pings loopback (input sees it, `oif lo drop` must not), connects to
/// TCP port 9 (input drops it: a timeout, not a refusal), and sends UDP to
/// ports 7 (kept) and 8 (output drops it: EPERM).
const PROBE: &str = r#"
import errno, socket, subprocess
ping = subprocess.run(["ping", "-c", "1", "-W", "1", "127.0.0.1"], capture_output=True)
print("ping", "answered" if ping.returncode == 0 else "lost")
s = socket.socket()
s.settimeout(1)
try:
    s.connect(("127.0.0.1", 9))
    print("tcp 9 connected")
except socket.timeout:
    print("tcp 9 timed out")
except OSError as e:
    print("tcp 9", errno.errorcode.get(e.errno, str(e.errno)))
for port in (7, 8):
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        u.sendto(b"x", ("127.0.0.1", port))
        print("udp", port, "sent")
    except OSError as e:
        print("udp", port, errno.errorcode.get(e.errno, str(e.errno)))
"#;

#[test]
fn no_oif_before_routing_and_no_iif_on_the_hosts_packets() {
    let Some(ns) = Netns::new("ifaces") else { return };
    if !has_tool("nft") || !has_tool("ping") {
        return;
    }
    apply_forced(env!("CARGO_BIN_EXE_shriekc"), &ns, POLICY);
    let probed = output_with_stdin(
        Command::new("ip").args(["netns", "exec", &ns.name, python(), "-c", PROBE]),
        b"",
    );
    assert!(probed.status.success(), "the probe failed: {}", text(&probed.stderr));
    assert_eq!(
        text(&probed.stdout),
        "ping answered\ntcp 9 timed out\nudp 7 sent\nudp 8 EPERM\n",
        "{}",
        ns.nft(&["list", "ruleset"])
    );
}

/// What `check` says of the same policy: a warning on each match, the
/// rules that never hold, and the one that the negated match shadows.
#[test]
fn check_warns_and_reads_the_rules_as_the_kernel_does() {
    let file = temp_file("ifaces-check.shr", POLICY);
    let path = file.to_str().expect("utf-8 path");
    let check = shriekc(&["check", path]);
    let out = format!(
        "--- check (exit {:?}) ---\n{}{}",
        check.status.code(),
        text(&check.stdout),
        text(&check.stderr).replace(path, "policy.shr"),
    );
    shriek_testkit::snapshot!("interfaces", "check", out);
}
