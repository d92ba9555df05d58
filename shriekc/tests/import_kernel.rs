//! Differential kernel tests of `shriekc import`: a random ruleset loaded
//! by its own tool in one pair of namespaces, and the same ruleset (as that
//! tool lists it back) imported and applied with `shriekc apply` in another
//! pair, must give every probe the same verdict.
//!
//! Each test runs a fixed number of cases from a fixed seed, and names the
//! seed and the case on failure; `SHRIEK_IMPORT_SEED=N` runs other cases,
//! and `SHRIEK_IMPORT_CASE=K` only case K of them.
//! Under `CI=true` these tests must run; elsewhere they skip with a message
//! when not root.

#[path = "import_kernel/gen.rs"]
mod gen;
#[path = "import_kernel/iptables_gen.rs"]
mod iptables_gen;
#[path = "import_kernel/nft_gen.rs"]
mod nft_gen;

use std::process::Command;
use std::time::Instant;

use shriek_testkit::{has_tool, output_with_stdin, text, Netns, Probe, Wire};

use gen::{Rng, CLIENT4, CLIENT6};

const CASES: u32 = 12;
const DEFAULT_SEED: u64 = 0x5eed_1a2b;

fn seed() -> u64 {
    std::env::var("SHRIEK_IMPORT_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(DEFAULT_SEED)
}

/// A wire whose client has every address the generators use, with the
/// neighbours of both ends fixed (IPv6 neighbour discovery is ICMPv6, which
/// the rules under test may drop) and the host's ICMP errors unlimited.
fn wire() -> Option<Wire> {
    let w = Wire::new()?;
    let host_mac = w.host.sh("cat /sys/class/net/v0/address");
    let client_mac = w.client.sh("cat /sys/class/net/v1/address");
    let mut client = String::from("set -e");
    // The kernel limits how many ICMP errors it sends (a `reject` answers
    // with one): without limits every probe gets its answer.
    let mut host = String::from(
        "set -e; sysctl -qw net.ipv4.icmp_ratelimit=0 net.ipv6.icmp.ratelimit=0 \
         net.ipv4.icmp_msgs_per_sec=1000000 net.ipv4.icmp_msgs_burst=1000000",
    );
    for a in CLIENT4.iter().chain(CLIENT6) {
        if !matches!(*a, "10.9.0.2" | "fd09::2") {
            let len = if a.contains(':') { "64 nodad" } else { "24" };
            client.push_str(&format!("; ip addr add {a}/{len} dev v1"));
        }
        host.push_str(&format!(
            "; ip neigh replace {a} lladdr {} dev v0 nud permanent",
            client_mac.trim()
        ));
    }
    for a in [gen::HOST4, gen::HOST6] {
        client.push_str(&format!(
            "; ip neigh replace {a} lladdr {} dev v1 nud permanent",
            host_mac.trim()
        ));
    }
    w.client.sh(&client);
    w.host.sh(&host);
    Some(w)
}

/// Two wires, made at once.
fn two_wires() -> (Option<Wire>, Option<Wire>) {
    std::thread::scope(|s| {
        let other = s.spawn(wire);
        (wire(), other.join().expect("the wire thread"))
    })
}

/// Runs `shriekc import -` on `input`: exit code, standard output and error.
fn import(input: &str) -> (Option<i32>, String, String) {
    let mut cmd = shriek_testkit::command(env!("CARGO_BIN_EXE_shriekc"));
    let out = output_with_stdin(cmd.args(["import", "-"]), input.as_bytes());
    (out.status.code(), text(&out.stdout), text(&out.stderr))
}

fn in_netns(ns: &str, tool: &str, args: &[&str], input: &str) -> Result<String, String> {
    let out = output_with_stdin(
        Command::new("ip").args(["netns", "exec", ns, tool]).args(args),
        input.as_bytes(),
    );
    if out.status.success() {
        Ok(text(&out.stdout))
    } else {
        Err(text(&out.stderr))
    }
}

/// Imports `listed` and applies it in `to`'s host namespace; the policy.
fn import_and_apply(to: &Wire, listed: &str, left_out: usize, context: &str) -> String {
    let (code, policy, stderr) = import(listed);
    let want = if left_out > 0 { 1 } else { 0 };
    assert_eq!(code, Some(want), "{context}\nimport exit code\n{stderr}\n{policy}");
    let warnings = stderr.lines().filter(|l| l.starts_with("warning:")).count();
    assert_eq!(warnings, left_out, "{context}\nthe rules left out\n{stderr}");
    // The previous case's tables go first: `apply` replaces only the
    // tables its policy names.
    to.host.sh("nft flush ruleset");
    // One file per wire: the iptables and nft tests run at once.
    let path = shriek_testkit::temp_file(&format!("{}.shr", to.host.name), &policy);
    let out = shriek_testkit::run(
        env!("CARGO_BIN_EXE_shriekc"),
        // Generated rulesets may shadow rules: what matters here is that
        // the imported policy keeps the verdicts, not that it is tidy.
        &["apply", "--force", "--netns", &to.host.name, path.to_str().expect("utf-8 path")],
    );
    assert_eq!(out.status.code(), Some(0), "{context}\napply\n{}\n{policy}", text(&out.stderr));
    policy
}

/// One generated case: the ruleset as shown on failure, how many of its
/// rules the import must leave out, and how to load it into a wire's host,
/// returning the listing to import.
struct Case {
    shown: String,
    left_out: usize,
    load: Box<Load>,
}

/// Loads a ruleset into a wire's host and lists it back.
type Load = dyn Fn(&Wire) -> Result<String, String>;

/// Wires being made for the next case, and wires being taken down. On
/// drop, even while a failed case unwinds, it waits for both threads, so
/// that every namespace goes before the test ends, the spare pair included.
struct Pending {
    next: Option<std::thread::JoinHandle<(Option<Wire>, Option<Wire>)>>,
    teardown: Vec<std::thread::JoinHandle<()>>,
}

impl Pending {
    /// The wires made for this case; the next case's start at once.
    fn take(&mut self) -> (Option<Wire>, Option<Wire>) {
        let spare = self.next.replace(std::thread::spawn(two_wires));
        spare.expect("a pair is always being made").join().expect("the wire thread")
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        if let Some(next) = self.next.take() {
            drop(next.join());
        }
        for t in self.teardown.drain(..) {
            let _ = t.join();
        }
    }
}

/// Runs every case: load, import and apply, probe both, compare. A case
/// whose verdicts differ runs up to twice more on fresh wires, so that
/// probes starved by a busy machine (every answer late on one side) do not
/// fail the test; a real difference is deterministic and differs again.
/// Case `c` probes from the source ports of block `first_block + c`.
fn differential(tool: &str, first_block: u32, make: &dyn Fn(&mut Rng, u32) -> Case) {
    let seed = seed();
    let started = Instant::now();
    let (mut cases, mut probed, mut retried) = (0, 0, Vec::new());
    let only: Option<u32> = std::env::var("SHRIEK_IMPORT_CASE").ok().and_then(|c| c.parse().ok());
    // Each case gets fresh wires (see below); making them takes longer than
    // a case, so the next case's wires are made while this one runs.
    let mut pending = Pending { next: Some(std::thread::spawn(two_wires)), teardown: Vec::new() };
    for case in (0..CASES).filter(|c| only.is_none_or(|o| o == *c)) {
        let mut rng = Rng::new(seed ^ (u64::from(case) << 32));
        let block = first_block + case;
        let c = make(&mut rng, block);
        let probes = gen::probes(&mut rng, block);
        let context = format!(
            "{tool}: seed {seed} case {case} (rerun: SHRIEK_IMPORT_SEED={seed})\n{}",
            c.shown
        );
        // Fresh wires for every case: a connection of an earlier case may
        // still be retransmitting, and its packets would spend the tokens of
        // this case's limits.
        let (Some(mut original), Some(mut imported)) = pending.take() else {
            return;
        };
        let mut outcome = run_case(&original, &imported, &c, &probes, &context);
        for _ in 0..2 {
            let Err(report) = &outcome else { break };
            let diff = report
                .lines()
                .skip_while(|l| !l.starts_with("verdicts differ"))
                .take_while(|l| !l.starts_with("listed:"));
            eprintln!(
                "{tool} case {case} differed, running it again on fresh wires:\n{}",
                diff.collect::<Vec<_>>().join("\n")
            );
            retried.push(case);
            let (Some(a), Some(b)) = two_wires() else { return };
            (original, imported) = (a, b);
            outcome = run_case(&original, &imported, &c, &probes, &context);
        }
        if let Err(report) = outcome {
            panic!("{report}");
        }
        // Taking namespaces down is slow too: not on this thread.
        pending.teardown.push(std::thread::spawn(move || drop((original, imported))));
        cases += 1;
        probed += probes.len();
    }
    drop(pending);
    eprintln!(
        "{tool} differential: {cases} rulesets, {probed} probes on each side, seed {seed}, {:.1} s{}",
        started.elapsed().as_secs_f64(),
        if retried.is_empty() { String::new() } else { format!(", cases {retried:?} agreed only on a second run") }
    );
}

fn run_case(
    original: &Wire,
    imported: &Wire,
    c: &Case,
    probes: &[Probe],
    context: &str,
) -> Result<(), String> {
    let listed = (c.load)(original)
        .unwrap_or_else(|e| panic!("{context}\nloading the original failed: {e}"));
    let policy = import_and_apply(imported, &listed, c.left_out, context);
    // The two wires are independent: probe both at once.
    let (want, got) = std::thread::scope(|s| {
        let other = s.spawn(|| imported.probe_batch(probes));
        (original.probe_batch(probes), other.join().expect("the prober thread"))
    });
    let diffs: Vec<String> = probes
        .iter()
        .zip(want.iter().zip(&got))
        .filter(|(_, (w, g))| w != g)
        .map(|(p, (w, g))| format!("  {p}: original {w}, imported {g}"))
        .collect();
    if diffs.is_empty() {
        return Ok(());
    }
    Err(format!(
        "{context}\nverdicts differ:\n{}\nlisted:\n{listed}\nimported policy:\n{policy}",
        diffs.join("\n")
    ))
}

#[test]
fn iptables_rulesets_keep_their_verdicts() {
    if !has_tool("iptables-legacy-restore") || !has_tool("nft") {
        return;
    }
    differential("iptables", 0, &|rng, block| {
        let r = iptables_gen::ruleset(rng, block);
        let shown = format!("--- IPv4 ruleset\n{}--- IPv6 ruleset\n{}", r.v4, r.v6);
        let load = move |w: &Wire| -> Result<String, String> {
            let ns = &w.host.name;
            in_netns(ns, "iptables-legacy-restore", &[], &r.v4)?;
            in_netns(ns, "ip6tables-legacy-restore", &[], &r.v6)?;
            let mut listed = in_netns(ns, "iptables-legacy-save", &[], "")?;
            listed.push_str(&in_netns(ns, "ip6tables-legacy-save", &[], "")?);
            Ok(listed)
        };
        Case { shown, left_out: r.inert, load: Box::new(load) }
    });
}

#[test]
fn nft_rulesets_keep_their_verdicts() {
    if !has_tool("nft") {
        return;
    }
    differential("nft", CASES, &|rng, block| {
        let r = nft_gen::ruleset(rng, block);
        // Every other case lists the ruleset back as JSON.
        let json = block % 2 == 1;
        let shown = format!(
            "--- nft ruleset (listed back as {})\n{}",
            if json { "JSON" } else { "text" },
            r.text
        );
        let load = move |w: &Wire| -> Result<String, String> {
            let ns = &w.host.name;
            in_netns(ns, "nft", &["-f", "-"], &r.text)?;
            let list: &[&str] =
                if json { &["-j", "list", "ruleset"] } else { &["list", "ruleset"] };
            in_netns(ns, "nft", list, "")
        };
        Case { shown, left_out: r.inert, load: Box::new(load) }
    });
}

/// A running firewall with a rule that can never match and one the
/// language cannot say yet.
const LIVE_NFT: &str = "table inet edge {
  chain input {
    type filter hook input priority filter; policy drop;
    ct state established,related accept
    tcp dport 22 accept
    tcp dport 22 drop
    meta pkttype multicast accept
  }
}
";

/// The same firewall, written with iptables.
const LIVE_IPTABLES: &str = "*filter
:INPUT DROP [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT
-A INPUT -p tcp -m tcp --dport 22 -j DROP
-A INPUT -m pkttype --pkt-type multicast -j ACCEPT
COMMIT
";

/// `shriekc import --live --netns NAME` reads that namespace's ruleset
/// (iptables' when it holds rules, nft's otherwise), exactly as importing
/// the tools' own output does, and `shriekc check -` audits the result:
/// the rule that can never match is found.
#[test]
fn live_import_of_a_namespace_audits_its_firewall() {
    if !has_tool("nft") || !has_tool("iptables-restore") {
        return;
    }
    let (Some(nft_ns), Some(ipt_ns)) = (Netns::new("import-live"), Netns::new("import-live"))
    else {
        return;
    };
    in_netns(&nft_ns.name, "nft", &["-f", "-"], LIVE_NFT).expect("the nft ruleset loads");
    in_netns(&ipt_ns.name, "iptables-restore", &[], LIVE_IPTABLES)
        .expect("the iptables ruleset loads");
    // What each namespace's tools print, as a user would save it.
    let nft_listed = in_netns(&nft_ns.name, "nft", &["-j", "list", "ruleset"], "");
    let ipt_listed = in_netns(&ipt_ns.name, "iptables-save", &[], "")
        .and_then(|v4| Ok(v4 + &in_netns(&ipt_ns.name, "ip6tables-save", &[], "")?));
    let cases = [(&nft_ns, "nft", nft_listed), (&ipt_ns, "iptables", ipt_listed)];
    // The policy's rules, without the comments that name the input.
    let rules = |policy: &str| -> Vec<String> {
        policy.lines().filter(|l| !l.trim_start().starts_with('#')).map(str::to_string).collect()
    };
    for (ns, tool, listed) in cases {
        let live = shriek_testkit::run(
            env!("CARGO_BIN_EXE_shriekc"),
            &["import", "--live", "--netns", &ns.name],
        );
        let (policy, stderr) = (text(&live.stdout), text(&live.stderr));
        assert_eq!(live.status.code(), Some(1), "{tool}: one rule left out\n{stderr}\n{policy}");
        assert_eq!(
            stderr.lines().filter(|l| l.starts_with("warning:")).count(),
            1,
            "{tool}: {stderr}"
        );
        let (code, from_file, _) = import(&listed.expect("the tools list the ruleset"));
        assert_eq!(code, Some(1), "{tool}: {from_file}");
        assert_eq!(rules(&from_file), rules(&policy), "{tool}: --live reads what the tools print");
        assert!(policy.contains("tcp dport 22 accept"), "{tool}: {policy}");
        let mut check = shriek_testkit::command(env!("CARGO_BIN_EXE_shriekc"));
        let audit = output_with_stdin(check.args(["check", "-"]), policy.as_bytes());
        let report = format!("{}{}", text(&audit.stdout), text(&audit.stderr));
        assert_eq!(audit.status.code(), Some(1), "{tool}: an error-level finding\n{report}");
        assert!(
            report.contains("shadowed-rule"),
            "{tool}: the audit finds the dead rule\n{report}"
        );
    }
}

/// Every form of `tcp flags` as one may write it for `nft -f`.
const FLAGS_NFT: &str = "table inet t {
  chain c {
    type filter hook input priority 0; policy accept;
    tcp flags syn / syn,ack accept
    tcp flags & (syn|ack) == syn accept
    tcp flags & (fin|syn|rst|ack) != syn drop
    tcp flags syn,ack accept
    tcp flags ! syn,ack drop
    tcp flags == syn accept
    tcp flags != syn drop
    tcp flags == syn|ack accept
    tcp flags != 0x12 drop
    tcp flags syn accept
    tcp flags == 0 drop
    tcp flags & (syn|ack) == syn|ack accept
    tcp flags { syn, ack } accept
  }
}
";

/// The same tests, as `iptables-save` prints them, and one nft has no
/// `--tcp-flags` for.
const FLAGS_IPTABLES: &str = "*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -p tcp --syn -j ACCEPT
-A INPUT -p tcp ! --syn -j DROP
-A INPUT -p tcp --tcp-flags SYN,ACK SYN -j ACCEPT
-A INPUT -p tcp ! --tcp-flags SYN,ACK SYN -j DROP
-A INPUT -p tcp --tcp-flags ALL NONE -j DROP
-A INPUT -p tcp --tcp-flags ALL FIN,PSH,URG -j DROP
-A INPUT -p tcp --tcp-option 8 -j DROP
COMMIT
";

/// The rules of chain `chain` in an imported policy, one trimmed line each.
fn chain_rules(policy: &str, chain: &str) -> Vec<String> {
    policy
        .lines()
        .skip_while(|l| !l.trim_start().starts_with(&format!("chain {chain} ")))
        .skip(1)
        .take_while(|l| l.trim() != "}")
        .map(|l| l.trim().to_string())
        .collect()
}

/// What nft 1.0.6 and iptables-legacy list back for `tcp flags` imports as
/// the language's own tests, the same from `nft list ruleset` and `nft -j
/// list ruleset`; a set of flag values, and `--tcp-option`, are left out
/// with a warning each.
#[test]
fn tcp_flags_as_the_tools_list_them() {
    if !has_tool("nft") || !has_tool("iptables-legacy-restore") {
        return;
    }
    let Some(ns) = Netns::new("import-flags") else { return };
    in_netns(&ns.name, "nft", &["-f", "-"], FLAGS_NFT).expect("the nft ruleset loads");
    in_netns(&ns.name, "iptables-legacy-restore", &[], FLAGS_IPTABLES)
        .expect("the iptables ruleset loads");
    let nft_want = [
        "tcp flags syn / syn,ack accept",
        "tcp flags syn / syn,ack accept",
        "tcp flags != syn / fin,syn,rst,ack drop",
        "tcp flags syn,ack accept",
        "tcp flags ! syn,ack drop",
        "tcp flags == syn accept",
        "tcp flags != syn drop",
        "tcp flags == syn,ack accept",
        "tcp flags != syn,ack drop",
        "tcp flags syn accept",
        "tcp flags == 0 drop",
        "tcp flags syn,ack / syn,ack accept",
    ];
    for list in [&["list", "ruleset"][..], &["-j", "list", "ruleset"]] {
        let listed = in_netns(&ns.name, "nft", list, "").expect("nft lists the ruleset");
        let (code, policy, stderr) = import(&listed);
        assert_eq!(code, Some(1), "{list:?}: the set is left out\n{stderr}\n{policy}");
        let got = chain_rules(&policy, "c");
        let (kept, left_out): (Vec<&String>, Vec<&String>) =
            got.iter().partition(|l| !l.starts_with('#'));
        assert_eq!(kept, nft_want, "{list:?}\n{policy}");
        assert!(left_out[0].contains("a set of `tcp flags` values"), "{list:?}\n{policy}");
        assert_eq!(stderr.lines().filter(|l| l.starts_with("warning:")).count(), 1, "{stderr}");
    }
    let saved = in_netns(&ns.name, "iptables-legacy-save", &[], "").expect("iptables saves");
    let (code, policy, stderr) = import(&saved);
    assert_eq!(code, Some(1), "--tcp-option is left out\n{stderr}\n{policy}");
    let got: Vec<String> = chain_rules(&policy, "INPUT")
        .into_iter()
        .filter(|l| !l.starts_with("family ipv6"))
        .collect();
    assert_eq!(
        got,
        [
            "tcp flags syn / fin,syn,rst,ack accept",
            "tcp flags != syn / fin,syn,rst,ack drop",
            "tcp flags syn / syn,ack accept",
            "tcp flags != syn / syn,ack drop",
            "tcp flags ! fin,syn,rst,psh,ack,urg drop",
            "tcp flags fin,psh,urg / fin,syn,rst,psh,ack,urg drop",
            "# left out (<stdin>:12): option `--tcp-option` of `-m tcp` has no equivalent in shriek yet",
            "# -A INPUT -p tcp -m tcp --tcp-option 8 -j DROP",
        ],
        "{policy}"
    );
}

/// Every form of a mark one may write for `nft -f`.
const MARKS_NFT: &str = "table inet t {
  chain c {
    type filter hook prerouting priority mangle; policy accept;
    meta mark 0x10 accept
    mark != 16 drop
    meta mark { 0x1, 0x20-0x2f } drop
    meta mark 0x100-0x1ff drop
    meta mark & 0xffff0000 == 0x10000 drop
    meta mark & 0xfffffffd != 0x1 drop
    meta mark set 0x10
    iifname \"wg0\" meta mark set 0x11 accept
    meta mark & 0xff00 == 0x100 drop
    meta mark 0x2 meta mark set meta mark | 0x4
    ct mark 0x1 drop
    ct mark set 0x1
  }
}
";

/// The same, as `iptables-save` prints them, and the changes of some bits
/// iptables has.
const MARKS_IPTABLES: &str = "*mangle
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
-A PREROUTING -m mark --mark 0x10 -j ACCEPT
-A PREROUTING -m mark ! --mark 0x10 -j DROP
-A PREROUTING -m mark --mark 0x10000/0xffff0000 -j DROP
-A PREROUTING -m mark ! --mark 0x1/0xfffffffd -j DROP
-A PREROUTING -j MARK --set-mark 0x10
-A PREROUTING -i wg0 -j MARK --set-xmark 0x11/0xffffffff
-A PREROUTING -m mark --mark 0x2 -j MARK --or-mark 0x4
-A PREROUTING -m mark --mark 0x7 -j MARK --and-mark 0xf0
-A PREROUTING -m mark --mark 0x2 -j MARK --xor-mark 0x3
-A PREROUTING -m mark --mark 0x100/0xff00 -j DROP
-A PREROUTING -j MARK --or-mark 0x4
-A PREROUTING -m connmark --mark 0x1 -j DROP
-A PREROUTING -j CONNMARK --save-mark
COMMIT
";

/// What nft 1.0.6 and iptables-legacy list back for marks imports as the
/// language's marks, the same from `nft list ruleset` and `nft -j list
/// ruleset`: a mask becomes the marks it admits; a sparse mask, a mark set
/// to an expression, a change of some bits of any mark and connection
/// marks are left out with a warning each.
#[test]
fn marks_as_the_tools_list_them() {
    if !has_tool("nft") || !has_tool("iptables-legacy-restore") {
        return;
    }
    let Some(ns) = Netns::new("import-marks") else { return };
    in_netns(&ns.name, "nft", &["-f", "-"], MARKS_NFT).expect("the nft ruleset loads");
    in_netns(&ns.name, "iptables-legacy-restore", &[], MARKS_IPTABLES)
        .expect("the iptables ruleset loads");
    let rules = |policy: &str, chain: &str| -> Vec<String> {
        chain_rules(policy, chain)
            .into_iter()
            .filter(|l| !l.starts_with('#') && !l.starts_with("family ipv6"))
            .collect()
    };
    let nft_want = [
        "mark 0x10 accept",
        "mark != 0x10 drop",
        "mark { 0x1, 0x20-0x2f } drop",
        "mark 0x100-0x1ff drop",
        "mark 0x10000-0x1ffff drop",
        "mark != { 0x1, 0x3 } drop",
        "mark set 0x10",
        "iif wg0 mark set 0x11 accept",
    ];
    for list in [&["list", "ruleset"][..], &["-j", "list", "ruleset"]] {
        let listed = in_netns(&ns.name, "nft", list, "").expect("nft lists the ruleset");
        let (code, policy, stderr) = import(&listed);
        assert_eq!(code, Some(1), "{list:?}: rules are left out\n{stderr}\n{policy}");
        assert_eq!(rules(&policy, "c"), nft_want, "{list:?}\n{policy}");
        assert_eq!(stderr.lines().filter(|l| l.starts_with("warning:")).count(), 4, "{stderr}");
    }
    let saved = in_netns(&ns.name, "iptables-legacy-save", &[], "").expect("iptables saves");
    let (code, policy, stderr) = import(&saved);
    assert_eq!(code, Some(1), "rules are left out\n{stderr}\n{policy}");
    assert_eq!(
        rules(&policy, "PREROUTING"),
        [
            "mark 0x10 accept",
            "mark != 0x10 drop",
            "mark 0x10000-0x1ffff drop",
            "mark != { 0x1, 0x3 } drop",
            "mark set 0x10",
            "iif wg0 mark set 0x11",
            "mark 0x2 mark set 0x6",
            "mark 0x7 mark set 0x0",
            "mark 0x2 mark set 0x1",
        ],
        "{policy}"
    );
    assert_eq!(stderr.lines().filter(|l| l.starts_with("warning:")).count(), 4, "{stderr}");
}
