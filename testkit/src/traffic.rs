//! Continuous traffic across a [`Wire`], paused on demand and counted at
//! both ends: UDP datagrams to a list of ports (one per port per round),
//! datagrams to a translated port sent each from a fresh socket (so that
//! every one is a new connection the NAT chain must see), and one
//! long-lived TCP connection that echoes what it is sent.
//!
//! The flows stream while the test does what it likes (re-applies a
//! policy); [`Traffic::pause`] stops the sender between two rounds and
//! waits until the receiver has what it will get, so that the counts read
//! then, and the kernel's counters, describe the same datagrams. What the
//! counts must be is the test's business.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Lines, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use crate::{python, Wire};

/// Runs on the host: counts datagrams per local UDP port and echoes the
/// TCP connections to argv[2]. Asked `report PORT=N,...` on standard input,
/// it waits until each PORT has N datagrams in all (at most 30 s, and the
/// test then sees the shortfall), then until no datagram has come for
/// 0.2 s, and prints `counts PORT=N ...` (totals since it started).
const RECEIVER: &str = r#"
import select, socket, sys, time
udp_ports = [int(p) for p in sys.argv[1].split(",")]
poll = select.poll()
udp = {}
for p in udp_ports:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    # SO_RCVBUFFORCE (root): past rmem_max, so the socket never overflows.
    s.setsockopt(socket.SOL_SOCKET, 33, 8 << 20)
    s.bind(("10.9.0.1", p)); s.setblocking(False)
    udp[s.fileno()] = (p, s); poll.register(s, select.POLLIN)
listen = socket.socket(); listen.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listen.bind(("10.9.0.1", int(sys.argv[2]))); listen.listen(4); listen.setblocking(False)
poll.register(listen, select.POLLIN)
poll.register(sys.stdin, select.POLLIN)
conns = {}
got = {p: 0 for p in udp_ports}
want = None
asked = last = time.monotonic()
print("ready", flush=True)
while True:
    for fd, ev in poll.poll(20):
        if fd in udp:
            p, s = udp[fd]
            while True:
                try: s.recv(64)
                except BlockingIOError: break
                got[p] += 1; last = time.monotonic()
        elif fd == listen.fileno():
            c, _ = listen.accept(); c.setblocking(False)
            conns[c.fileno()] = c; poll.register(c, select.POLLIN)
        elif fd in conns:
            c = conns[fd]
            try: data = c.recv(65536)
            except BlockingIOError: continue
            if not data:
                poll.unregister(fd); c.close(); del conns[fd]; continue
            c.setblocking(True); c.sendall(data); c.setblocking(False)
        else:
            line = sys.stdin.readline()
            if not line: sys.exit(0)
            pairs = line.split()[1:]
            want = {int(k): int(v) for k, v in (kv.split("=") for kv in ",".join(pairs).split(",") if kv)}
            asked = time.monotonic()
    now = time.monotonic()
    if want is not None:
        complete = all(got[p] >= n for p, n in want.items())
        if (complete or now - asked > 30) and now - last >= 0.2:
            print("counts", " ".join(f"{p}={n}" for p, n in got.items()), flush=True)
            want = None
"#;

/// Runs on the client: each round sends one datagram to each port of
/// argv[1] from one socket and one to argv[2] from a fresh socket, and a
/// byte down the TCP connection to argv[3]; two milliseconds between
/// rounds. `count` on standard input makes it print `sent ROUNDS` (since
/// it started) between two rounds and go on. `pause` stops it between
/// rounds; it prints `sent ROUNDS`, then waits for every byte sent to
/// come back (at most 30 s) and prints `tcp SENT ECHOED`; `go` resumes.
const SENDER: &str = r#"
import select, socket, sys, time
ports = [int(p) for p in sys.argv[1].split(",")]
fresh = int(sys.argv[2])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
tcp = socket.create_connection(("10.9.0.1", int(sys.argv[3])), timeout=10)
tcp.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1); tcp.setblocking(False)
rounds = tsent = echoed = 0
print("ready", flush=True)
def drain():
    global echoed
    while True:
        try: d = tcp.recv(65536)
        except BlockingIOError: return
        if not d: raise SystemExit("the TCP connection was closed")
        echoed += len(d)
while True:
    if select.select([sys.stdin], [], [], 0)[0]:
        cmd = sys.stdin.readline().strip()
        if cmd == "count":
            print("sent", rounds, flush=True); continue
        if cmd != "pause": sys.exit(0)
        print("sent", rounds, flush=True)
        deadline = time.monotonic() + 30
        while echoed < tsent and time.monotonic() < deadline:
            select.select([tcp], [], [], 0.05); drain()
        print("tcp", tsent, echoed, flush=True)
        if sys.stdin.readline().strip() != "go": sys.exit(0)
        continue
    for p in ports: s.sendto(b"x", ("10.9.0.1", p))
    f = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); f.sendto(b"x", ("10.9.0.1", fresh)); f.close()
    tsent += tcp.send(b"t")
    drain()
    rounds += 1
    time.sleep(0.002)
"#;

/// The two ends of the flows, streaming until dropped.
pub struct Traffic {
    receiver: Child,
    receiver_in: ChildStdin,
    receiver_out: Lines<BufReader<ChildStdout>>,
    sender: Child,
    sender_in: ChildStdin,
    sender_out: Lines<BufReader<ChildStdout>>,
}

/// What the sender had sent and the receiver had got when the traffic
/// paused, all totals since it started.
#[derive(Debug)]
pub struct Tally {
    /// Rounds sent: datagrams to each port, and to the translated port.
    pub rounds: u64,
    /// Datagrams received per local UDP port.
    pub received: BTreeMap<u16, u64>,
    /// Bytes written to the TCP connection, and bytes echoed back.
    pub tcp_sent: u64,
    pub tcp_echoed: u64,
}

fn spawn(
    ns: &str,
    script: &str,
    args: &[String],
) -> (Child, ChildStdin, Lines<BufReader<ChildStdout>>) {
    let mut child = Command::new("ip")
        .args(["netns", "exec", ns, python(), "-c", script])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    let stdin = child.stdin.take().expect("stdin is piped");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout is piped")).lines();
    let first = lines.next().and_then(Result::ok);
    assert_eq!(first.as_deref(), Some("ready"), "a traffic end failed to start");
    (child, stdin, lines)
}

fn joined(ports: &[u16]) -> String {
    ports.iter().map(u16::to_string).collect::<Vec<_>>().join(",")
}

impl Traffic {
    /// Starts the flows over `wire`: datagrams to each of `ports`, to
    /// `fresh` from a fresh socket each, and the TCP connection to
    /// `tcp_port`; the host listens on `listen` (UDP) and `tcp_port`.
    /// The policy in force must let the TCP connection in.
    pub fn start(wire: &Wire, ports: &[u16], fresh: u16, listen: &[u16], tcp_port: u16) -> Traffic {
        let (receiver, receiver_in, receiver_out) =
            spawn(&wire.host.name, RECEIVER, &[joined(listen), tcp_port.to_string()]);
        let args = [joined(ports), fresh.to_string(), tcp_port.to_string()];
        let (sender, sender_in, sender_out) = spawn(&wire.client.name, SENDER, &args);
        Traffic { receiver, receiver_in, receiver_out, sender, sender_in, sender_out }
    }

    /// Stops the sender between two rounds and reads both ends, waiting
    /// for each port of `complete` to have `expected(rounds)` datagrams
    /// (the ports that must have lost none).
    pub fn pause(&mut self, complete: impl Fn(u64) -> Vec<(u16, u64)>) -> Tally {
        writeln!(self.sender_in, "pause").expect("the sender runs");
        let rounds = self.read_sender("sent").parse().expect("a round count");
        let want: Vec<String> = complete(rounds).iter().map(|(p, n)| format!("{p}={n}")).collect();
        writeln!(self.receiver_in, "report {}", want.join(",")).expect("the receiver runs");
        let counts = next_line(&mut self.receiver_out, "the receiver");
        let received = counts
            .strip_prefix("counts ")
            .expect("counts PORT=N ...")
            .split_whitespace()
            .map(|kv| {
                let (p, n) = kv.split_once('=').expect("PORT=N");
                (p.parse().expect("a port"), n.parse().expect("a count"))
            })
            .collect();
        let tcp = self.read_sender("tcp");
        let (sent, echoed) = tcp.split_once(' ').expect("tcp SENT ECHOED");
        Tally {
            rounds,
            received,
            tcp_sent: sent.parse().expect("a byte count"),
            tcp_echoed: echoed.parse().expect("a byte count"),
        }
    }

    /// The rounds sent so far, read between two rounds without stopping
    /// the flows: two readings bound what was sent while something ran.
    pub fn rounds(&mut self) -> u64 {
        writeln!(self.sender_in, "count").expect("the sender runs");
        self.read_sender("sent").parse().expect("a round count")
    }

    /// Lets the sender go on after [`Traffic::pause`].
    pub fn resume(&mut self) {
        writeln!(self.sender_in, "go").expect("the sender runs");
    }

    fn read_sender(&mut self, word: &str) -> String {
        let line = next_line(&mut self.sender_out, "the sender");
        line.strip_prefix(&format!("{word} "))
            .unwrap_or_else(|| panic!("`{word} ...`, not {line:?}"))
            .to_string()
    }
}

fn next_line(lines: &mut Lines<BufReader<ChildStdout>>, who: &str) -> String {
    match lines.next() {
        Some(Ok(line)) => line,
        other => panic!("{who} ended early: {other:?}"),
    }
}

impl Drop for Traffic {
    fn drop(&mut self) {
        for child in [&mut self.sender, &mut self.receiver] {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
