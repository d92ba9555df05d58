//! Per-address limits against the real kernel: `limit ... per saddr` and
//! `ct count over N per saddr`, applied with `shriekc apply` into the host
//! end of a [`Wire`], with real connections from two client addresses.
//!
//! Under `CI=true` these tests must run; elsewhere they skip with a message
//! when not root or when namespaces cannot be made.

use std::process::{Command, Stdio};

use shriek_testkit::{python, text, Netns, Probe, Wire};

fn apply(ns: &Netns, policy: &str) {
    shriek_testkit::apply_forced(env!("CARGO_BIN_EXE_shriekc"), ns, policy);
}

fn plan(ns: &Netns, policy: &str) -> String {
    let file = shriek_testkit::temp_file(&format!("{}.shr", ns.name), policy);
    let path = file.display().to_string();
    let out =
        shriek_testkit::run(env!("CARGO_BIN_EXE_shriekc"), &["plan", "--netns", &ns.name, &path]);
    text(&out.stdout) + &text(&out.stderr)
}

/// `n` new TCP connections to port 22 from `src`, each from its own port,
/// from `first_port` on. The ports are below 32768, out of the range the
/// kernel picks ephemeral ports from, and each call of a test has a range
/// of its own.
fn ssh_from(src: &str, first_port: u16, n: u16) -> Vec<Probe> {
    let dst = if src.contains(':') { "fd09::1" } else { "10.9.0.1" };
    (0..n)
        .map(|i| Probe {
            udp: false,
            src: src.into(),
            sport: first_port + i,
            dst: dst.into(),
            dport: 22,
        })
        .collect()
}

const SSH_GUARD: &str = "table guard {
  chain input hook input policy accept {
    tcp dport 22 ct state new limit 2/minute burst 3 per saddr accept
    tcp dport 22 ct state new drop
  }
}
";

#[test]
fn a_burst_from_one_source_is_dropped_while_another_source_gets_through() {
    let Some(w) = Wire::new() else { return };
    w.add_client_address("10.9.0.3");
    apply(&w.host, SSH_GUARD);

    // Three new connections a source fit the burst; the rate (one each
    // thirty seconds) gives no more within the test.
    let a = w.probe_batch(&ssh_from("10.9.0.2", 30000, 6));
    assert_eq!(a, ["open", "open", "open", "dropped", "dropped", "dropped"], "source A");

    // Another source has a rate of its own.
    let b = w.probe_batch(&ssh_from("10.9.0.3", 30100, 3));
    assert_eq!(b, ["open", "open", "open"], "source B is not limited by A's burst");

    // A is still over its rate, and IPv6 sources have a set of their own.
    assert_eq!(w.probe_batch(&ssh_from("10.9.0.2", 30200, 1)), ["dropped"], "source A again");
    let v6 = w.probe_batch(&ssh_from("fd09::2", 30300, 4));
    assert_eq!(v6, ["open", "open", "open", "dropped"], "an IPv6 source");

    // The kernel holds one element per source, and `plan` reads them as
    // state, not as a change to the policy.
    let set = w.host.nft(&["list", "set", "inet", "guard", "input_1_saddr4"]);
    assert!(set.contains("10.9.0.2") && set.contains("10.9.0.3"), "{set}");
    let planned = plan(&w.host, SSH_GUARD);
    assert!(planned.contains("no changes"), "{planned}");
}

/// Holds every TCP connection it accepts on port 7000 until killed.
const HOLDING_SERVER: &str = r#"
import socket, threading
held = []
def serve(fam, addr):
    s = socket.socket(fam); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, 7000)); s.listen(64)
    while True:
        c, _ = s.accept(); held.append(c)
for fam, addr in ((socket.AF_INET, "10.9.0.1"), (socket.AF_INET6, "fd09::1")):
    threading.Thread(target=serve, args=(fam, addr), daemon=True).start()
print("ready", flush=True)
threading.Event().wait()
"#;

/// Opens one connection to port 7000 per source given, in order, and keeps
/// them all open until every one is tried: `open`, `refused` or `dropped`
/// per line.
const HOLDING_CLIENT: &str = r#"
import socket, sys
held = []
for src in sys.argv[1:]:
    fam = socket.AF_INET6 if ":" in src else socket.AF_INET
    dst = "fd09::1" if ":" in src else "10.9.0.1"
    s = socket.socket(fam); s.settimeout(1.0); s.bind((src, 0))
    try:
        s.connect((dst, 7000)); r = "open"; held.append(s)
    except ConnectionRefusedError: r = "refused"
    except OSError: r = "dropped"
    print(r, flush=True)
"#;

struct HoldingServer(std::process::Child);

impl Drop for HoldingServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn holding_server(host: &Netns) -> HoldingServer {
    let mut child = Command::new("ip")
        .args(["netns", "exec", &host.name, python(), "-c", HOLDING_SERVER])
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    let mut line = String::new();
    use std::io::BufRead;
    let out = child.stdout.take().expect("stdout is piped");
    std::io::BufReader::new(out).read_line(&mut line).expect("the server starts");
    assert_eq!(line.trim(), "ready");
    HoldingServer(child)
}

fn connect_holding(client: &Netns, sources: &[&str]) -> Vec<String> {
    let out = Command::new("ip")
        .args(["netns", "exec", &client.name, python(), "-S", "-c", HOLDING_CLIENT])
        .args(sources)
        .output()
        .expect("python3 runs");
    assert!(out.status.success(), "the client failed: {}", text(&out.stderr));
    text(&out.stdout).lines().map(str::to_string).collect()
}

#[test]
fn ct_count_refuses_a_sources_connection_past_its_count_and_only_that_sources() {
    let Some(w) = Wire::new() else { return };
    w.add_client_address("10.9.0.3");
    let _server = holding_server(&w.host);
    let policy = "table conns {
  chain input hook input policy accept {
    tcp dport 7000 ct state new ct count over 2 per saddr reject
  }
}
";
    apply(&w.host, policy);

    let (a, b) = ("10.9.0.2", "10.9.0.3");
    // Two concurrent connections from A, A's third refused, B counting on
    // its own, and A refused again while it still holds two.
    let got = connect_holding(&w.client, &[a, a, a, b, b, a]);
    assert_eq!(got, ["open", "open", "refused", "open", "open", "refused"]);
    let planned = plan(&w.host, policy);
    assert!(planned.contains("no changes"), "{planned}");
}
