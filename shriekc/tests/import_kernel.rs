//! Differential kernel tests of `shriekc import`: a random ruleset loaded
//! by its own tool in one pair of namespaces, and the same ruleset (as that
//! tool lists it back) imported and applied with `shriekc apply` in another
//! pair, must give every probe the same verdict.
//!
//! Each test runs a fixed number of cases from a fixed seed, and names the
//! seed and the case on failure; `SHRIEK_IMPORT_SEED=N` runs other cases.
//! Under `CI=true` these tests must run; elsewhere they skip with a message
//! when not root.

#[path = "import_kernel/gen.rs"]
mod gen;
#[path = "import_kernel/iptables_gen.rs"]
mod iptables_gen;

use std::process::Command;
use std::time::Instant;

use shriek_testkit::{has_tool, output_with_stdin, text, Probe, Wire};

use gen::{Rng, CLIENT4, CLIENT6};

const CASES: u32 = 24;
const DEFAULT_SEED: u64 = 0x5eed_1a2b;

fn seed() -> u64 {
    std::env::var("SHRIEK_IMPORT_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(DEFAULT_SEED)
}

/// A wire whose client has every address the generators use, with the
/// neighbours of both ends fixed: IPv6 neighbour discovery is ICMPv6, which
/// the rules under test may drop, and a failed discovery would otherwise
/// linger into the next case.
fn wire() -> Option<Wire> {
    let w = Wire::new()?;
    for a in CLIENT4.iter().chain(CLIENT6).filter(|a| !matches!(**a, "10.9.0.2" | "fd09::2")) {
        w.add_client_address(a);
    }
    let host_mac = w.host.sh("cat /sys/class/net/v0/address");
    let client_mac = w.client.sh("cat /sys/class/net/v1/address");
    for a in CLIENT4.iter().chain(CLIENT6) {
        w.host
            .sh(&format!("ip neigh replace {a} lladdr {} dev v0 nud permanent", client_mac.trim()));
    }
    for a in [gen::HOST4, gen::HOST6] {
        w.client
            .sh(&format!("ip neigh replace {a} lladdr {} dev v1 nud permanent", host_mac.trim()));
    }
    Some(w)
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
    let path = shriek_testkit::temp_file("imported.shr", &policy);
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

/// Runs every case: load, import and apply, probe both, compare. A case
/// whose verdicts differ runs once more on fresh wires, so that a probe
/// starved by a busy machine does not fail the test; a real difference
/// differs again.
fn differential(tool: &str, make: &dyn Fn(&mut Rng, u32) -> Case) {
    let (Some(mut original), Some(mut imported)) = (wire(), wire()) else { return };
    let seed = seed();
    let started = Instant::now();
    let (mut probed, mut retried) = (0, Vec::new());
    for case in 0..CASES {
        let mut rng = Rng::new(seed ^ (u64::from(case) << 32));
        let c = make(&mut rng, case);
        let probes = gen::probes(&mut rng, case);
        let context = format!(
            "{tool}: seed {seed} case {case} (rerun: SHRIEK_IMPORT_SEED={seed})\n{}",
            c.shown
        );
        let mut outcome = run_case(&original, &imported, &c, &probes, &context);
        if outcome.is_err() {
            retried.push(case);
            let (Some(a), Some(b)) = (wire(), wire()) else { return };
            (original, imported) = (a, b);
            outcome = run_case(&original, &imported, &c, &probes, &context);
        }
        if let Err(report) = outcome {
            panic!("{report}");
        }
        probed += probes.len();
    }
    eprintln!(
        "{tool} differential: {CASES} rulesets, {probed} probes on each side, seed {seed}, {:.1} s{}",
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
    differential("iptables", &|rng, case| {
        let r = iptables_gen::ruleset(rng, case);
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
