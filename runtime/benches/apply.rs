//! Applying, first and again, each in a fresh network namespace.
//!
//! 1. The first apply of 1k, 10k and 100k rules (`tcp dport N accept`, one
//!    rule each, sequential) with `shriek_runtime::apply`, against `nft -f`
//!    of the same ruleset.
//! 2. Day 2: a generated policy of 10k and 100k alternating `tcp`/`udp
//!    dport N accept` rules, sequential and auto. The first apply, then a
//!    one-rule change applied on top of it: the whole pipeline in process
//!    (parse, resolve, lower, read the live tables back, plan, send) and the
//!    transaction alone.
//!
//! Not a timed test: it prints figures for BENCHMARKS.md. Run as root on a
//! quiet machine: `cargo bench -p shriek-runtime --bench apply`.

use std::io::Write;
use std::process::Command;
use std::time::{Duration, Instant};

use shriek_compiler::ir::{BaseChain, ChainId, ChainKind, ChainPolicy, Hook, RuleId};
use shriek_compiler::lower::{lower, Strategy};
use shriek_compiler::nft::{
    Chain, CmpOp, Elem, Expr, Origin, Part, Rhs, Rule, Ruleset, Selector, Table, Verdict,
};
use shriek_grammar::{FileId, Loc, SourceMap, Span};
use shriek_runtime::{ApplyOptions, Desired};

fn ruleset(n: usize) -> Ruleset {
    let rules = (0..n)
        .map(|i| {
            let port = (i % 65535 + 1) as u128;
            Rule {
                exprs: vec![
                    Expr::Match {
                        key: vec![Selector::L4proto],
                        op: CmpOp::Eq,
                        rhs: Rhs::Value(Elem(vec![Part::Int(6, 6)])),
                    },
                    Expr::Match {
                        key: vec![Selector::ThDport],
                        op: CmpOp::Eq,
                        rhs: Rhs::Value(Elem(vec![Part::Int(port, port)])),
                    },
                    Expr::Verdict(Verdict::Accept),
                ],
                origin: vec![Origin {
                    rule: RuleId { table: 0, chain: ChainId(0), index: i as u32 },
                    loc: Loc::new(FileId(0), Span::new(i * 20, i * 20 + 19)),
                }],
            }
        })
        .collect();
    let chain = Chain {
        name: "input".into(),
        base: Some(BaseChain {
            hook: Hook::Input,
            kind: ChainKind::Filter,
            priority: 0,
            policy: ChainPolicy::Accept,
        }),
        rules,
        comment: None,
    };
    Ruleset {
        tables: vec![Table {
            name: "bench".into(),
            sets: vec![],
            counters: vec![],
            chains: vec![chain],
        }],
    }
}

fn nft_text(n: usize) -> String {
    let mut s = String::from("table inet bench {\n  chain input {\n    type filter hook input priority 0; policy accept;\n");
    for i in 0..n {
        s.push_str(&format!("    tcp dport {} accept\n", i % 65535 + 1));
    }
    s.push_str("  }\n}\n");
    s
}

/// `n` rules alternating `tcp`/`udp dport N accept`; `changed` turns one
/// rule in the middle into a drop.
fn policy_text(n: usize, changed: bool) -> String {
    let mut s = String::from("table day2 {\n  chain input hook input policy accept {\n");
    for i in 0..n {
        let proto = if i % 2 == 0 { "tcp" } else { "udp" };
        let port = i / 2 % 65535 + 1;
        let verdict = if changed && i == n / 2 { "drop" } else { "accept" };
        s.push_str(&format!("    {proto} dport {port} {verdict}\n"));
    }
    s.push_str("  }\n}\n");
    s
}

fn ip(args: &[&str]) -> bool {
    Command::new("ip").args(args).status().map(|s| s.success()).unwrap_or(false)
}

fn nft(ns: &str, args: &[&str]) {
    Command::new("ip").args(["netns", "exec", ns, "nft"]).args(args).output().ok();
}

fn best_of(runs: usize, mut f: impl FnMut() -> Duration) -> Duration {
    (0..runs).map(|_| f()).min().unwrap_or_default()
}

fn no_sources() -> SourceMap {
    SourceMap::default()
}

fn first_apply(ns: &str) {
    println!("first apply, one `tcp dport N accept` rule each, sequential");
    println!("{:>8} {:>12} {:>12} {:>8}", "rules", "shriek (s)", "nft -f (s)", "ratio");
    for n in [1_000, 10_000, 100_000] {
        let rs = ruleset(n);
        let path = std::env::temp_dir().join(format!("shriek-bench-{n}.nft"));
        std::fs::File::create(&path)
            .and_then(|mut f| f.write_all(nft_text(n).as_bytes()))
            .expect("temp file");
        let runs = if n >= 100_000 { 2 } else { 3 };
        let opts = ApplyOptions { netns: Some(ns.to_string()), ..ApplyOptions::default() };
        let sources = no_sources();
        let desired = Desired {
            ruleset: &rs,
            sources: &sources,
            policy: "/bench/first.shr",
            strategy: Strategy::Sequential,
        };
        let ours = best_of(runs, || {
            nft(ns, &["delete", "table", "inet", "bench"]);
            let t = Instant::now();
            shriek_runtime::apply(&desired, &opts).expect("apply");
            t.elapsed()
        });
        let theirs = best_of(runs, || {
            nft(ns, &["delete", "table", "inet", "bench"]);
            let t = Instant::now();
            let ok = Command::new("ip")
                .args(["netns", "exec", ns, "nft", "-f"])
                .arg(&path)
                .status()
                .map(|s| s.success())
                .unwrap_or(false);
            assert!(ok, "nft -f failed");
            t.elapsed()
        });
        println!(
            "{:>8} {:>12.3} {:>12.3} {:>8.2}",
            n,
            ours.as_secs_f64(),
            theirs.as_secs_f64(),
            ours.as_secs_f64() / theirs.as_secs_f64()
        );
        let _ = std::fs::remove_file(&path);
    }
    nft(ns, &["delete", "table", "inet", "bench"]);
}

/// The whole pipeline of `shriekc apply`, in process: parse and resolve
/// `text`, lower it, read the live tables, plan, send. The time of it all,
/// the transaction's, and the number of messages sent.
fn pipeline(ns: &str, text: &str, strategy: Strategy) -> (Duration, Duration, usize) {
    let t = Instant::now();
    let fe = shriek_compiler::resolve::resolve_str("day2.shr", text);
    let policy = fe.policy.expect("the generated policy resolves");
    let rs = lower(&policy, strategy).ruleset;
    let desired =
        Desired { ruleset: &rs, sources: &fe.sources, policy: "/bench/day2.shr", strategy };
    let opts = ApplyOptions { netns: Some(ns.to_string()), ..ApplyOptions::default() };
    let summary = shriek_runtime::apply(&desired, &opts).expect("apply");
    (t.elapsed(), summary.transaction, summary.messages)
}

fn day_two(ns: &str) {
    println!();
    println!(
        "day 2: alternating tcp/udp dport N accept; one rule changed to drop and applied again"
    );
    println!(
        "{:>8} {:>10} {:>14} {:>14} {:>14} {:>14} {:>8} {:>6}",
        "rules",
        "strategy",
        "first (s)",
        "first tx (s)",
        "change (s)",
        "change tx (ms)",
        "ratio",
        "msgs"
    );
    for n in [10_000, 100_000] {
        let (base, changed) = (policy_text(n, false), policy_text(n, true));
        for strategy in [Strategy::Sequential, Strategy::Auto] {
            let runs = 2;
            let mut first = (Duration::MAX, Duration::MAX);
            let mut change = (Duration::MAX, Duration::MAX, 0);
            for _ in 0..runs {
                nft(ns, &["delete", "table", "inet", "day2"]);
                let (all, tx, _) = pipeline(ns, &base, strategy);
                first = (first.0.min(all), first.1.min(tx));
                let (all, tx, msgs) = pipeline(ns, &changed, strategy);
                if all < change.0 {
                    change = (all, tx, msgs);
                }
            }
            println!(
                "{:>8} {:>10} {:>14.3} {:>14.3} {:>14.3} {:>14.2} {:>8.2} {:>6}",
                n,
                strategy.keyword(),
                first.0.as_secs_f64(),
                first.1.as_secs_f64(),
                change.0.as_secs_f64(),
                change.1.as_secs_f64() * 1000.0,
                change.0.as_secs_f64() / first.0.as_secs_f64(),
                change.2
            );
        }
    }
    nft(ns, &["delete", "table", "inet", "day2"]);
}

fn main() {
    let ns = format!("shriek-bench-{}", std::process::id());
    if !ip(&["netns", "add", &ns]) {
        eprintln!("skipping: cannot create a network namespace (needs root)");
        return;
    }
    first_apply(&ns);
    day_two(&ns);
    ip(&["netns", "del", &ns]);
}
