//! Parse + resolve throughput on large generated policies.
//!
//! `cargo bench -p shriekc --bench frontend` prints, for 1k, 10k and 100k
//! rules, the time to parse and the time to resolve to the IR (best of 3),
//! and the process's peak memory. Figures go in BENCHMARKS.md.

use std::fmt::Write;
use std::time::{Duration, Instant};

fn policy(rules: usize) -> String {
    let mut text = String::from(
        "define mgmt = { 10.0.0.0/8, 192.168.0.0/16, fd00::/8 }\ndefine web = { 80, 443, 8000-8080 }\n\
         table bench {\n  chain input hook input policy drop {\n    ct state established,related accept\n",
    );
    for i in 0..rules {
        let port = 1024 + (i % 60000);
        let _ = match i % 5 {
            0 => writeln!(text, "    tcp dport {port} accept"),
            1 => writeln!(
                text,
                "    saddr 10.{}.{}.0/24 udp dport {port} drop",
                (i / 256) % 256,
                i % 256
            ),
            2 => writeln!(text, "    saddr $mgmt tcp dport {port}-{} counter accept", port + 3),
            3 => writeln!(
                text,
                "    daddr fd00::{:x} tcp dport != {{ 22, {port} }} reject",
                i % 65536
            ),
            _ => writeln!(text, "    iif eth{} tcp dport $web ct state new accept", i % 8),
        };
    }
    text.push_str("  }\n}\n");
    text
}

fn best_of<T>(runs: usize, mut f: impl FnMut() -> T) -> (Duration, T) {
    let mut best = Duration::MAX;
    let mut last = None;
    for _ in 0..runs {
        let start = Instant::now();
        let out = f();
        best = best.min(start.elapsed());
        last = Some(out);
    }
    (best, last.expect("at least one run"))
}

fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn main() {
    println!(
        "{:>8}  {:>10}  {:>12}  {:>12}  {:>10}",
        "rules", "bytes", "parse", "parse+resolve", "peak RSS"
    );
    for rules in [1_000, 10_000, 100_000] {
        let text = policy(rules);
        let (parse, (_, errors)) = best_of(3, || shriek_grammar::parse(&text));
        assert!(errors.is_empty(), "generated policy has syntax errors: {errors:?}");
        let (total, frontend) =
            best_of(3, || shriek_compiler::resolve::resolve_str("bench.shr", &text));
        assert!(
            frontend.policy.is_some(),
            "generated policy does not resolve: {:?}",
            frontend.diagnostics
        );
        println!(
            "{rules:>8}  {:>10}  {:>10.1}ms  {:>10.1}ms  {:>7.0} MiB",
            text.len(),
            parse.as_secs_f64() * 1e3,
            total.as_secs_f64() * 1e3,
            peak_rss_mib()
        );
    }
}
