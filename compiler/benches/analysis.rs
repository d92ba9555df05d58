//! Times the shadow analysis on large random policies whose rules overlap a
//! lot: source prefixes /16 to /28 inside 10.0.0.0/8, tcp/udp port ranges, mixed
//! verdicts. Prints the wall time per size and the peak resident memory
//! (`VmHWM`), which only grows, so sizes run from small to large.
//!
//! `cargo bench -p shriek-compiler --bench analysis [-- SIZES...]`

use std::time::Instant;

use shriek_compiler::analysis;
use shriek_compiler::ir::{
    self, BaseChain, ChainId, ChainKind, ChainPolicy, Hook, RuleId, Verdict,
};
use shriek_compiler::space::{Cube, Families, Family, Intervals, Protos, PROTO_TCP, PROTO_UDP};
use shriek_grammar::{FileId, Loc, Span};

/// A small deterministic generator (xorshift), so runs are comparable.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn random_rule(rng: &mut Rng, index: u32) -> ir::Rule {
    let mut cube = Cube::full();
    // A prefix of length 16..=28 inside 10.0.0.0/8; at least one of address
    // and port, so that few rules are catch-alls that end the chain.
    let (with_addr, with_port) = match rng.below(20) {
        0 => (true, false),
        1 => (false, true),
        _ => (true, true),
    };
    if with_addr {
        let len = 16 + rng.below(13) as u32;
        let host_bits = 32 - len;
        let base = (10u128 << 24)
            | (u128::from(rng.next() as u32 & 0x00ff_ffff) >> host_bits << host_bits);
        cube.family = Families::only(Family::V4);
        cube.saddr = Some(Intervals::range(base, base + (1u128 << host_bits) - 1));
    }
    if with_port {
        let proto = if rng.below(4) == 0 { PROTO_UDP } else { PROTO_TCP };
        let lo = rng.below(60_000) as u128;
        let width = [0, 0, 10, 100, 1000, 5000][rng.below(6) as usize];
        cube.proto = Protos::only(proto);
        cube.dport = Some(Intervals::range(lo, lo + width));
    }
    let verdict = match rng.below(3) {
        0 => Verdict::Accept,
        1 => Verdict::Drop,
        _ => Verdict::Reject,
    };
    ir::Rule {
        id: RuleId { table: 0, chain: ChainId(0), index },
        loc: Loc::new(FileId(0), Span::new(index as usize, index as usize + 1)),
        space: vec![cube],
        actions: vec![],
        verdict: Some(verdict),
        verdict_loc: None,
        allows: vec![],
    }
}

fn policy(n: u32, seed: u64) -> ir::Policy {
    let mut rng = Rng(seed);
    let rules = (0..n).map(|i| random_rule(&mut rng, i)).collect();
    let chain = ir::Chain {
        name: "input".into(),
        loc: Loc::default(),
        base: Some(BaseChain {
            hook: Hook::Input,
            kind: ChainKind::Filter,
            priority: 0,
            policy: ChainPolicy::Accept,
        }),
        rules,
    };
    ir::Policy {
        tables: vec![ir::Table {
            name: "bench".into(),
            loc: Loc::default(),
            chains: vec![chain],
            counters: vec![],
            rule_counters: true,
        }],
    }
}

fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// User plus system CPU time of this process, in seconds: unlike wall time,
/// it does not grow when other processes share the machine.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name; utime and stime are the
    // 14th and 15th fields of the whole line, in clock ticks (100 per second).
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / 100.0)
}

fn main() {
    let sizes: Vec<u32> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let sizes = if sizes.is_empty() { vec![1_000, 20_000, 100_000] } else { sizes };
    for n in sizes {
        let p = policy(n, 0x9e37_79b9_7f4a_7c15);
        let cpu_start = cpu_seconds().unwrap_or(0.0);
        let start = Instant::now();
        let findings = analysis::analyze(&p);
        let took = start.elapsed();
        let cpu = cpu_seconds().unwrap_or(0.0) - cpu_start;
        let count = |name: &str| findings.iter().filter(|d| d.name == name).count();
        println!(
            "analysis {n:>7} rules: {:>8.3} s wall, {cpu:>7.2} s cpu, {} shadowed, {} redundant, peak RSS {} MiB",
            took.as_secs_f64(),
            count("shadowed-rule"),
            count("redundant-rule"),
            peak_rss_kib().map_or("?".into(), |k| (k / 1024).to_string()),
        );
        nft_check_side_by_side(&p, n);
    }
}

/// Time `nft -c -f` validating the same rules, compiled sequentially, so the
/// two figures compare like with like. Skipped when nft is not installed.
fn nft_check_side_by_side(p: &ir::Policy, n: u32) {
    let mut sources = shriek_grammar::SourceMap::new();
    sources.add(shriek_grammar::SourceFile::new("bench.shr", ""));
    let lowered = shriek_compiler::lower::lower(p, shriek_compiler::lower::Strategy::Sequential);
    let text = shriek_compiler::emit::emit_nft(&lowered.ruleset, &sources);
    let path = std::env::temp_dir().join(format!("shriek-analysis-bench-{n}.nft"));
    if std::fs::write(&path, text).is_err() {
        return;
    }
    let start = Instant::now();
    let status = std::process::Command::new("nft").arg("-c").arg("-f").arg(&path).status();
    match status {
        Ok(s) if s.success() => {
            println!(
                "nft -c -f {n:>7} rules: {:>8.3} s wall (same rules)",
                start.elapsed().as_secs_f64()
            )
        }
        Ok(s) => println!("nft -c -f {n:>7} rules: failed ({s})"),
        Err(e) => println!("nft -c -f skipped: {e}"),
    }
    let _ = std::fs::remove_file(&path);
}
