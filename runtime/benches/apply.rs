//! Seconds to apply 1k, 10k and 100k rules (`tcp dport N accept`, one
//! rule each) with `shriek_runtime::apply`, against `nft -f` of the same
//! ruleset, each into an empty table in a fresh network namespace.
//!
//! Run as root: `cargo bench -p shriek-runtime --bench apply`.

use std::io::Write;
use std::process::Command;
use std::time::{Duration, Instant};

use shriek_compiler::ir::{BaseChain, ChainId, ChainKind, ChainPolicy, Hook, RuleId};
use shriek_compiler::nft::{
    Chain, CmpOp, Elem, Expr, Origin, Part, Rhs, Rule, Ruleset, Selector, Table, Verdict,
};
use shriek_grammar::{FileId, Loc, Span};
use shriek_runtime::ApplyOptions;

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

fn ip(args: &[&str]) -> bool {
    Command::new("ip").args(args).status().map(|s| s.success()).unwrap_or(false)
}

fn best_of(runs: usize, mut f: impl FnMut() -> Duration) -> Duration {
    (0..runs).map(|_| f()).min().unwrap_or_default()
}

fn main() {
    let ns = format!("shriek-bench-{}", std::process::id());
    if !ip(&["netns", "add", &ns]) {
        eprintln!("skipping: cannot create a network namespace (needs root)");
        return;
    }
    println!("{:>8} {:>12} {:>12} {:>8}", "rules", "shriek (s)", "nft -f (s)", "ratio");
    for n in [1_000, 10_000, 100_000] {
        let rs = ruleset(n);
        let path = std::env::temp_dir().join(format!("shriek-bench-{n}.nft"));
        std::fs::File::create(&path)
            .and_then(|mut f| f.write_all(nft_text(n).as_bytes()))
            .expect("temp file");
        let clear = || {
            Command::new("ip")
                .args(["netns", "exec", &ns, "nft", "delete table inet bench"])
                .output()
                .ok();
        };
        let runs = if n >= 100_000 { 2 } else { 3 };
        let opts = ApplyOptions { dry_run: false, netns: Some(ns.clone()) };
        let ours = best_of(runs, || {
            clear();
            let t = Instant::now();
            shriek_runtime::apply(&rs, &opts).expect("apply");
            t.elapsed()
        });
        let theirs = best_of(runs, || {
            clear();
            let t = Instant::now();
            let ok = Command::new("ip")
                .args(["netns", "exec", &ns, "nft", "-f"])
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
    ip(&["netns", "del", &ns]);
}
