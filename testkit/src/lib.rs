//! What the test suites of every crate share, so that no test file carries
//! its own copy: the snapshot folder settings, network namespaces that clean
//! up after themselves, a veth wire with real servers behind it, and the
//! rule that kernel tests must run under `CI=true` and may skip elsewhere.
//!
//! Only tests depend on this crate.

pub mod budget;
pub mod load;
pub mod model;
pub mod raw;
pub mod sources;
pub mod traffic;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};

pub use insta;

/// Snapshot `$value` as `$name` under `snapshots/$topic/` at the workspace
/// root, without the module path in the file name.
#[macro_export]
macro_rules! snapshot {
    ($topic:expr, $name:expr, $value:expr) => {{
        $crate::snapshot_settings($topic).bind(|| $crate::insta::assert_snapshot!($name, $value));
    }};
}

/// [`snapshot!`] of a value's `{:#?}`.
#[macro_export]
macro_rules! snapshot_debug {
    ($topic:expr, $name:expr, $value:expr) => {{
        $crate::snapshot_settings($topic)
            .bind(|| $crate::insta::assert_debug_snapshot!($name, $value));
    }};
}

/// Where the snapshot macros keep `$topic`'s snapshots, and how they name
/// them: the one home of those settings.
#[doc(hidden)]
pub fn snapshot_settings(topic: &str) -> insta::Settings {
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path(root().join("snapshots").join(topic));
    settings.set_prepend_module_to_snapshot(false);
    settings.set_omit_expression(true);
    settings
}

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Bytes as text, for assertions and messages.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Every example policy, as a path relative to the workspace root, sorted:
/// `examples/*.shr` and the include example's entry file.
pub fn examples() -> Vec<String> {
    let mut files: Vec<String> = std::fs::read_dir(root().join("examples"))
        .expect("examples folder")
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "shr"))
        .map(|p| format!("examples/{}", p.file_name().unwrap_or_default().to_string_lossy()))
        .collect();
    files.push("examples/includes/main.shr".into());
    files.sort();
    files
}

/// Whether the tests run in CI, where kernel tests must not skip.
pub fn in_ci() -> bool {
    std::env::var("CI").as_deref() == Ok("true")
}

/// A property test's case count: `default`, or `PROPTEST_CASES` when it is
/// set, so that a hard run (`PROPTEST_CASES=100000`) needs no edit. A test
/// that names its own count in its config would otherwise ignore the
/// variable, as proptest lets the config win.
pub fn prop_cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

pub fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.starts_with(b"0\n"))
}

/// Skips (returns `false` after saying why) where `why` stops a test, and
/// fails under `CI=true`, where nothing may skip.
pub fn skip_unless(ok: bool, test: &str, why: &str) -> bool {
    if !ok {
        assert!(!in_ci(), "{test} must run in CI, but: {why}");
        eprintln!("skipping {test}: {why}");
    }
    ok
}

/// Whether `tool --version` (or `tool -V`) runs; `false` (skip) outside CI.
pub fn has_tool(tool: &str) -> bool {
    let runs = |flag: &str| Command::new(tool).arg(flag).output().is_ok_and(|o| o.status.success());
    skip_unless(runs("--version") || runs("-V"), tool, &format!("`{tool}` is not installed"))
}

/// Runs the `shriekc` binary at `bin` from the workspace root, without
/// colour, with a run folder of this test process's own.
pub fn run(bin: &str, args: &[&str]) -> Output {
    command(bin).args(args).output().expect("the shriekc binary runs")
}

/// The command [`run`] runs, for tests that add input or environment.
pub fn command(bin: &str) -> Command {
    let mut cmd = Command::new(bin);
    cmd.current_dir(root()).env("NO_COLOR", "1").env("SHRIEKC_RUN_DIR", run_dir());
    cmd
}

/// Runs `cmd` with `input` on its standard input; its output.
pub fn output_with_stdin(cmd: &mut Command, input: &[u8]) -> Output {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the command runs");
    // A command may end without reading its input (one refused at once):
    // the pipe is then closed under the write, which is no failure of ours.
    match child.stdin.take().expect("stdin is piped").write_all(input) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
        written => written.expect("write stdin"),
    }
    child.wait_with_output().expect("the command ends")
}

/// Starts `cmd` (standard input closed, output piped) and waits for its
/// first line, for commands that keep running once they have said
/// something (`apply --confirm` says what it applied, then holds its
/// window): the running child and that line.
pub fn spawn_first_line(cmd: &mut Command) -> (Child, String) {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the command starts");
    let mut line = String::new();
    let stdout = child.stdout.take().expect("stdout is piped");
    BufReader::new(stdout).read_line(&mut line).expect("the command says what it did");
    (child, line)
}

/// This test process's stand-in for `/run/shriekc`.
pub fn run_dir() -> PathBuf {
    std::env::temp_dir().join(format!("shriekc-run-{}", std::process::id()))
}

/// A file in a fresh temporary folder of this test process.
///
/// The body is written beside the file and renamed over it, so a reader
/// never sees two writers' bodies spliced together: tests of one binary run
/// in parallel threads, and a plain write of one name from two of them once
/// left one policy's head on the other's tail.
pub fn temp_file(name: &str, body: &str) -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!("shriek-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join(name);
    let staged = dir.join(format!(".{name}.{}", N.fetch_add(1, Ordering::Relaxed)));
    std::fs::write(&staged, body).expect("write temp file");
    std::fs::rename(&staged, &path).expect("rename temp file into place");
    path
}

/// `shriekc apply --force` of `policy` into `ns`, which must succeed: the
/// set-up step of the kernel tests that send packets through a policy.
pub fn apply_forced(shriekc: &str, ns: &Netns, policy: &str) {
    let file = temp_file(&format!("{}.shr", ns.name), policy);
    let path = file.display().to_string();
    let out = run(shriekc, &["apply", "--force", "--netns", &ns.name, &path]);
    assert_eq!(out.status.code(), Some(0), "apply failed: {}", text(&out.stderr));
}

/// A network namespace of the test's own, deleted on drop, even when the
/// test fails.
pub struct Netns {
    pub name: String,
}

impl Netns {
    /// A fresh namespace with loopback up, or `None` (after saying why)
    /// where tests cannot make one; under `CI=true` that is a failure.
    pub fn new(tag: &str) -> Option<Netns> {
        if !skip_unless(is_root(), tag, "kernel tests need root") {
            return None;
        }
        static SWEPT: std::sync::Once = std::sync::Once::new();
        SWEPT.call_once(sweep_dead_namespaces);
        static N: AtomicU32 = AtomicU32::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let name = format!("shriek-test-{tag}-{}-{n}", std::process::id());
        let made = Command::new("ip").args(["netns", "add", &name]).output();
        let why = match made {
            Ok(out) if out.status.success() => {
                let ns = Netns { name };
                ns.sh("ip link set lo up");
                return Some(ns);
            }
            Ok(out) => text(&out.stderr),
            Err(e) => e.to_string(),
        };
        skip_unless(false, tag, &format!("`ip netns add` failed: {why}"));
        None
    }

    /// Runs a shell command inside the namespace; panics when it fails.
    pub fn sh(&self, cmd: &str) -> String {
        match self.try_sh(cmd) {
            Ok(s) => s,
            Err(e) => panic!("`{cmd}` failed in {}: {e}", self.name),
        }
    }

    pub fn try_sh(&self, cmd: &str) -> Result<String, String> {
        let out = Command::new("ip")
            .args(["netns", "exec", &self.name, "sh", "-c", cmd])
            .output()
            .map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(text(&out.stdout))
        } else {
            Err(text(&out.stderr))
        }
    }

    /// `nft ARGS` inside the namespace: its standard output.
    pub fn nft(&self, args: &[&str]) -> String {
        let out = Command::new("ip")
            .args(["netns", "exec", &self.name, "nft"])
            .args(args)
            .output()
            .expect("nft runs");
        text(&out.stdout)
    }

    /// The datagrams this namespace's UDP sockets dropped so far for want
    /// of buffer space (`RcvbufErrors` in its `/proc/net/snmp`): a receiver
    /// that counts datagrams tells these apart from drops at the firewall.
    pub fn udp_rcvbuf_errors(&self) -> u64 {
        let snmp = self.sh("cat /proc/net/snmp");
        let mut udp = snmp.lines().filter(|l| l.starts_with("Udp:"));
        let (names, values) = (udp.next().expect("a Udp header"), udp.next().expect("Udp values"));
        let at = names.split_whitespace().position(|n| n == "RcvbufErrors").expect("RcvbufErrors");
        values.split_whitespace().nth(at).and_then(|v| v.parse().ok()).expect("a count")
    }
}

/// Deletes the namespaces of test processes that are gone: a process
/// killed (a CI timeout, SIGKILL) or aborted never drops its [`Netns`].
/// Their names end in the process id and a number
/// (`shriek-test-TAG-PID-N`).
fn sweep_dead_namespaces() {
    let Ok(out) = Command::new("ip").args(["netns", "list"]).output() else { return };
    for line in text(&out.stdout).lines() {
        let name = line.split_whitespace().next().unwrap_or_default();
        if dead_test_namespace(name, |pid| Path::new(&format!("/proc/{pid}")).exists()) {
            let _ = Command::new("ip").args(["netns", "del", name]).status();
        }
    }
}

/// Whether `name` is a test namespace whose process is not `alive`.
fn dead_test_namespace(name: &str, alive: impl Fn(u32) -> bool) -> bool {
    let Some(rest) = name.strip_prefix("shriek-test-") else { return false };
    let mut tail = rest.rsplit('-');
    let (Some(n), Some(pid)) = (tail.next(), tail.next()) else { return false };
    let (Ok(_), Ok(pid)) = (n.parse::<u32>(), pid.parse::<u32>()) else { return false };
    tail.next().is_some() && pid != std::process::id() && !alive(pid)
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.name]).status();
    }
}

/// The Python interpreter itself, found once: a version manager's
/// `python3` shim costs a few tenths of a second per run, which adds up over
/// many probes.
pub fn python() -> &'static str {
    static PYTHON: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    PYTHON.get_or_init(|| {
        Command::new("python3")
            .args(["-c", "import sys; print(sys.executable)"])
            .output()
            .ok()
            .map(|o| text(&o.stdout).trim().to_string())
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| "python3".into())
    })
}

/// Two namespaces joined by a veth pair: `host` (10.9.0.1, fd09::1, device
/// `v0`) runs TCP servers on 22, 80, 8080, 9999 and UDP echo on 53, 5353;
/// `client` (10.9.0.2, fd09::2, device `v1`) probes them.
pub struct Wire {
    pub host: Netns,
    pub client: Netns,
    servers: std::process::Child,
}

impl Drop for Wire {
    fn drop(&mut self) {
        let _ = self.servers.kill();
        let _ = self.servers.wait();
    }
}

const SERVERS: &str = r#"
import socket, sys, threading
def tcp(fam, addr, port):
    s = socket.socket(fam); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, port)); s.listen(16)
    def loop():
        while True:
            try:
                c, _ = s.accept(); c.close()
            except OSError: pass
    threading.Thread(target=loop, daemon=True).start()
def udp(fam, addr, port):
    s = socket.socket(fam, socket.SOCK_DGRAM); s.bind((addr, port))
    def loop():
        while True:
            d, a = s.recvfrom(100)
            # A rule under test may refuse the reply; the server goes on.
            try: s.sendto(d, a)
            except OSError: pass
    threading.Thread(target=loop, daemon=True).start()
for fam, addr in ((socket.AF_INET, "10.9.0.1"), (socket.AF_INET6, "fd09::1")):
    for p in (22, 80, 8080, 9999): tcp(fam, addr, p)
    for p in (53, 5353): udp(fam, addr, p)
print("ready", flush=True)
threading.Event().wait()
"#;

/// Prints, per probe `proto,addr,port`, open / refused / dropped.
const PROBE: &str = r#"
import socket, sys
for arg in sys.argv[1:]:
    proto, addr, port = arg.split(",")
    fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
    if proto == "tcp":
        s = socket.socket(fam); s.settimeout(0.7)
        try:
            s.connect((addr, int(port))); r = "open"
        except ConnectionRefusedError: r = "refused"
        except OSError: r = "dropped"
    else:
        s = socket.socket(fam, socket.SOCK_DGRAM); s.settimeout(0.7)
        try:
            s.sendto(b"hi", (addr, int(port))); s.recvfrom(10); r = "open"
        except ConnectionRefusedError: r = "refused"
        except OSError: r = "dropped"
    print(proto, addr, port, r)
"#;

/// Sends every probe `proto,src,sport,dst,dport` in order, a few
/// milliseconds apart so that the order the rules see is the order given,
/// then waits for the answers together: one line per probe, `open`,
/// `refused` or `dropped`.
const PROBE_BATCH: &str = r#"
import errno, select, socket, sys, time
socks = []
for arg in sys.argv[1:]:
    proto, src, sport, dst, dport = arg.split(",")
    fam = socket.AF_INET6 if ":" in dst else socket.AF_INET
    kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
    s = socket.socket(fam, kind)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((src, int(sport)))
    s.setblocking(False)
    if proto == "tcp":
        s.connect_ex((dst, int(dport)))
    else:
        s.connect((dst, int(dport)))
        s.send(b"hi")
    socks.append((proto, s))
    time.sleep(0.003)
result = [None] * len(socks)
# Past the first SYN retransmission (one second): an ICMP error that came
# back while connect() still held its socket is only noted by the kernel,
# and the retransmitted SYN meets the same rule and gets the answer again.
deadline = time.time() + 1.3
last = False
while not last and any(r is None for r in result):
    # One more look after the deadline: a busy machine may have kept this
    # process from running while the answers came.
    last = time.time() >= deadline
    waiting = [i for i, r in enumerate(result) if r is None]
    p = select.poll()
    for i in waiting:
        p.register(socks[i][1].fileno(), select.POLLOUT if socks[i][0] == "tcp" else select.POLLIN)
    for fd, ev in p.poll(0 if last else 50):
        i = next(i for i in waiting if socks[i][1].fileno() == fd)
        proto, s = socks[i]
        err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if proto == "tcp":
            if err == 0:
                result[i] = "open"
            elif err == errno.ECONNREFUSED:
                result[i] = "refused"
            elif err != 0:
                result[i] = "dropped"
        else:
            if err == errno.ECONNREFUSED:
                result[i] = "refused"
            elif err == 0:
                try:
                    s.recv(10); result[i] = "open"
                except ConnectionRefusedError: result[i] = "refused"
                except BlockingIOError: pass
            else:
                result[i] = "dropped"
for r in result:
    print(r or "dropped")
"#;

/// One probe of [`Wire::probe_batch`]: a TCP connection or a UDP datagram
/// from a fixed source address and port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Probe {
    pub udp: bool,
    pub src: String,
    pub sport: u16,
    pub dst: String,
    pub dport: u16,
}

impl std::fmt::Display for Probe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let proto = if self.udp { "udp" } else { "tcp" };
        let (s, d) = (&self.src, &self.dst);
        if s.contains(':') {
            write!(f, "{proto} [{s}]:{} -> [{d}]:{}", self.sport, self.dport)
        } else {
            write!(f, "{proto} {s}:{} -> {d}:{}", self.sport, self.dport)
        }
    }
}

impl Wire {
    /// Gives the client one more address on its end of the wire
    /// (`10.9.0.0/24` or `fd09::/64`).
    pub fn add_client_address(&self, addr: &str) {
        let len = if addr.contains(':') { 64 } else { 24 };
        self.client.sh(&format!(
            "ip addr add {addr}/{len} dev v1 nodad 2>/dev/null || ip addr add {addr}/{len} dev v1"
        ));
    }

    /// Runs [`Probe`]s in the order given: one verdict per probe, `open`,
    /// `refused` or `dropped`.
    pub fn probe_batch(&self, probes: &[Probe]) -> Vec<String> {
        let args: Vec<String> = probes
            .iter()
            .map(|p| {
                let proto = if p.udp { "udp" } else { "tcp" };
                format!("{proto},{},{},{},{}", p.src, p.sport, p.dst, p.dport)
            })
            .collect();
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.client.name, python(), "-S", "-c", PROBE_BATCH])
            .args(&args);
        let out = cmd.output().expect("python3 runs");
        assert!(out.status.success(), "the prober failed: {}", text(&out.stderr));
        text(&out.stdout).lines().map(str::to_string).collect()
    }

    /// Waits until no TCP connection between the two ends is still open or
    /// closing. A probe's connection is torn down after the probe returns
    /// (the server's thread closes its end when it next runs): a policy
    /// applied before that meets the teardown's segments, and a rule that
    /// answers them (a reset, an ICMP error) answers a packet no probe sent.
    /// Panics after 30 seconds, which no idle teardown takes.
    pub fn settle(&self) {
        const OPEN: &str = "ss -Htn state established state syn-sent state syn-recv \
                            state fin-wait-1 state fin-wait-2 state close-wait \
                            state last-ack state closing";
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let open = format!("{}{}", self.host.sh(OPEN), self.client.sh(OPEN));
            if open.trim().is_empty() {
                return;
            }
            assert!(std::time::Instant::now() < deadline, "connections still open:\n{open}");
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }

    /// The wire with its servers ready, or `None` where tests skip.
    pub fn new() -> Option<Wire> {
        if !has_tool("python3") {
            return None;
        }
        let host = Netns::new("host")?;
        let client = Netns::new("client")?;
        host.sh(&format!("ip link add v0 type veth peer name v1 netns {}", client.name));
        host.sh("ip link set v0 up && ip addr add 10.9.0.1/24 dev v0 && ip addr add fd09::1/64 dev v0 nodad");
        client.sh("ip link set v1 up && ip addr add 10.9.0.2/24 dev v1 && ip addr add fd09::2/64 dev v1 nodad");
        let mut servers = Command::new("ip")
            .args(["netns", "exec", &host.name, python(), "-c", SERVERS])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("python3 runs");
        let mut line = String::new();
        use std::io::BufRead;
        let out = servers.stdout.take().expect("stdout is piped");
        std::io::BufReader::new(out).read_line(&mut line).expect("servers start");
        assert_eq!(line.trim(), "ready");
        Some(Wire { host, client, servers })
    }

    /// Probes from the client, each `proto,addr,port`: one line per probe,
    /// `proto addr port open|refused|dropped`.
    pub fn probe(&self, probes: &[&str]) -> String {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.client.name, python(), "-c", PROBE]).args(probes);
        text(&cmd.output().expect("python3 runs").stdout)
    }
}

/// The line and name of every finding of `policy`, resolved from the single
/// file of `sources`: what the language tests assert on.
pub fn finding_lines(
    sources: &shriek_grammar::SourceMap,
    policy: &shriek_compiler::ir::Policy,
) -> Vec<(usize, &'static str)> {
    shriek_compiler::analysis::analyze(policy)
        .iter()
        .map(|d| (sources.get(d.primary.loc.file).line_col(d.primary.loc.span.start).0, d.name))
        .collect()
}

/// Each snippet resolved as the one rule of an input chain in `bad.shr`,
/// headed `--- SNIPPET` and followed by its errors as rendered: the body
/// of an error snapshot. Panics when a snippet is accepted.
pub fn rule_errors(snippets: &[&str]) -> String {
    let mut out = String::new();
    for src in snippets {
        let text = format!("table t {{\n  chain c hook input {{\n    {src}\n  }}\n}}\n");
        let fe = shriek_compiler::resolve::resolve_str("bad.shr", &text);
        assert!(!fe.diagnostics.is_empty(), "{src} is accepted");
        out += &format!("--- {src}\n");
        out += &shriek_compiler::render::render_text(&fe.diagnostics, &fe.sources, false);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::dead_test_namespace;

    #[test]
    fn only_namespaces_of_gone_test_processes_are_swept() {
        let alive = |pid: u32| pid == 42;
        assert!(dead_test_namespace("shriek-test-host-4711-0", alive));
        assert!(dead_test_namespace("shriek-test-day2-staged-refused-4711-3", alive));
        assert!(!dead_test_namespace("shriek-test-host-42-0", alive), "its process lives");
        let me = format!("shriek-test-host-{}-0", std::process::id());
        assert!(!dead_test_namespace(&me, |_| false), "this process's own");
        assert!(!dead_test_namespace("shriek-demo", alive), "not a test's");
        assert!(!dead_test_namespace("shriek-test-4711-0", alive), "no tag");
        assert!(!dead_test_namespace("shriek-test-host-x-0", alive));
    }
}
