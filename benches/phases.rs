//! Where a large apply's time and memory go, phase by phase: parse and
//! resolve, the analysis `apply` runs first, and lowering, each alone and
//! then the two at once as `shriekc apply` runs them, with the lifetimes it
//! gives them (the syntax trees are freed after resolving, the policy after
//! lowering) and the allocator `shriekc` uses.
//!
//!   shriek-benchphases FILE.shr [sequential|auto]
//!
//! For each phase it prints the wall time, the resident memory when the
//! phase ends and the peak resident memory during the phase (the kernel's
//! high-water mark, reset before each phase through `/proc/self/clear_refs`).
//! The transaction's part (reading the live tables, encoding, the kernel)
//! is what `shriekc apply` adds; `benches/control.sh` measures the whole.

use std::time::Instant;

use shriek_compiler::lower::{lower, Strategy};
use shriek_compiler::{analysis, resolve};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let Some(path) = args.get(1) else {
        eprintln!("usage: shriek-benchphases FILE.shr [sequential|auto]");
        std::process::exit(2);
    };
    let strategy = match args.get(2).map(String::as_str) {
        None | Some("auto") => Strategy::Auto,
        Some("sequential") => Strategy::Sequential,
        Some(other) => {
            eprintln!("unknown strategy `{other}`: sequential or auto");
            std::process::exit(2);
        }
    };
    let text = std::fs::read_to_string(path).expect("the policy file reads as UTF-8");
    println!("phase,seconds,rss_end_mib,peak_mib");
    // The syntax trees alone, freed again: how much of the front end's
    // peak they are.
    phase("parse alone", || drop(shriek_grammar::parse(&text)));
    let mut frontend = phase("parse+resolve", || resolve::resolve_str(path, &text));
    let policy = phase("free syntax trees", || {
        frontend.files = Vec::new();
        frontend.policy.take().expect("the policy resolves without errors")
    });
    let findings = phase("analysis", || analysis::analyze(&policy));
    drop(findings);
    let lowered = phase("lower", || lower(&policy, strategy));
    let chains: usize = lowered.ruleset.tables.iter().map(|t| t.chains.len()).sum();
    drop(lowered);
    // As `apply` runs them: the analysis on one thread, lowering on another.
    let lowered = phase("analysis beside lower", || {
        std::thread::scope(|s| {
            let lowering = s.spawn(|| lower(&policy, strategy));
            drop(analysis::analyze(&policy));
            lowering.join().expect("lowering does not panic")
        })
    });
    phase("free policy", || drop(policy));
    drop(lowered);
    eprintln!("{chains} chains lowered; sources of {} bytes kept", text.len());
}

/// Runs `f` as one phase and prints its line.
fn phase<T>(name: &str, f: impl FnOnce() -> T) -> T {
    // Writing 5 resets the peak resident set to the current one.
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let start = Instant::now();
    let out = f();
    let secs = start.elapsed().as_secs_f64();
    let (rss, peak) = memory();
    println!("{name},{secs:.3},{rss:.1},{peak:.1}");
    out
}

/// Resident and peak resident memory in MiB, from `/proc/self/status`.
fn memory() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |key: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            .map_or(f64::NAN, |kib| kib / 1024.0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}
