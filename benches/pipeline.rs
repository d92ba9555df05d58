//! Criterion benches of the in-process stages of `shriekc`: parse, resolve
//! (parse included), lower (sequential and auto) and the exact analysis, on
//! policies from the bench suite's one generator (`benches/gen.awk`): the
//! `blended` workload for the front end and lowering, `overlap` for the
//! analysis.
//!
//! `cargo bench -p shriek-bench --bench pipeline` (`benches/run.sh criterion`);
//! `BENCH_QUICK=1` keeps to 1k rules. Never part of `cargo test`: a bench
//! target is built by `cargo test` only when asked for.

use std::process::Command;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use shriek_compiler::lower::{lower, Strategy};
use shriek_compiler::{analysis, resolve};

/// A policy from benches/gen.awk.
fn generate(workload: &str, rules: usize) -> String {
    let gen = concat!(env!("CARGO_MANIFEST_DIR"), "/gen.awk");
    let out = Command::new("awk")
        .args(["-v", &format!("workload={workload}"), "-v", "format=shr"])
        .args(["-v", &format!("n={rules}"), "-f", gen])
        .output()
        .expect("awk runs benches/gen.awk");
    assert!(out.status.success(), "gen.awk failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("gen.awk writes UTF-8")
}

fn sizes() -> &'static [usize] {
    if std::env::var_os("BENCH_QUICK").is_some_and(|v| v == "1") {
        &[1_000]
    } else {
        &[1_000, 10_000]
    }
}

fn pipeline(c: &mut Criterion) {
    let mut g = c.benchmark_group("frontend");
    g.sample_size(10).measurement_time(Duration::from_secs(3));
    for &n in sizes() {
        let text = generate("blended", n);
        g.throughput(Throughput::Elements(n as u64));
        g.bench_with_input(BenchmarkId::new("parse", n), &text, |b, t| {
            b.iter(|| shriek_grammar::parse(t))
        });
        g.bench_with_input(BenchmarkId::new("parse+resolve", n), &text, |b, t| {
            b.iter(|| resolve::resolve_str("bench.shr", t))
        });
        let policy = resolve::resolve_str("bench.shr", &text).policy.expect("the policy resolves");
        for strategy in [Strategy::Sequential, Strategy::Auto] {
            let id = BenchmarkId::new(format!("lower {}", strategy.keyword()), n);
            g.bench_with_input(id, &policy, |b, p| b.iter(|| lower(p, strategy)));
        }
    }
    g.finish();

    let mut g = c.benchmark_group("analysis");
    g.sample_size(10).measurement_time(Duration::from_secs(3));
    for &n in sizes() {
        let text = generate("overlap", n);
        let policy = resolve::resolve_str("bench.shr", &text).policy.expect("the policy resolves");
        g.throughput(Throughput::Elements(n as u64));
        g.bench_with_input(BenchmarkId::new("overlap", n), &policy, |b, p| {
            b.iter(|| analysis::analyze(p))
        });
    }
    g.finish();
}

criterion_group!(benches, pipeline);
criterion_main!(benches);
