//! Every example, compiled with every strategy: the `nft -f` script and the
//! lowering's explanation, snapshotted as the user sees them; and every
//! script (text and JSON) checked by `nft -c` when nft and root are at hand.

use std::path::{Path, PathBuf};
use std::process::Command;

use shriek_compiler::emit::{emit_json, emit_nft, packet_text};
use shriek_compiler::eval::{evaluate, LimitMode};
use shriek_compiler::ir::Hook;
use shriek_compiler::lower::{lower, Lowered, Strategy};
use shriek_compiler::nft_eval::evaluate_model;
use shriek_compiler::packet::default_tcp_flags;
use shriek_compiler::resolve::{self, Frontend, LoadError, Loaded, Loader};
use shriek_compiler::space::{
    CtState, Family, NamePattern, Packet, PROTO_ICMP, PROTO_ICMPV6, PROTO_TCP, PROTO_UDP,
};
use shriek_grammar::SourceMap;

fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples")
}

/// Reads examples from disk, naming them relative to the examples folder
/// so that snapshots do not depend on where the repository lives.
struct FsLoader;

impl Loader for FsLoader {
    fn load(&mut self, path: &str, from: Option<&str>) -> Result<Loaded, LoadError> {
        let base = match from {
            Some(f) => Path::new(f).parent().map(Path::to_path_buf).unwrap_or_default(),
            None => PathBuf::new(),
        };
        let rel = base.join(path);
        let text = std::fs::read_to_string(examples_dir().join(&rel))
            .map_err(|e| LoadError::not_found(format!("cannot read {}: {e}", rel.display())))?;
        let key = rel.display().to_string();
        Ok(Loaded { key: key.clone(), name: key, text })
    }
}

/// Every `.shr` file under examples/ that holds a table, relative to it.
fn examples() -> Vec<String> {
    fn walk(dir: &Path, rel: &Path, out: &mut Vec<String>) {
        let mut entries: Vec<_> =
            std::fs::read_dir(dir).expect("examples folder").flatten().collect();
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let p = e.path();
            let r = rel.join(e.file_name());
            if p.is_dir() {
                walk(&p, &r, out);
            } else if p.extension().is_some_and(|x| x == "shr") {
                let text = std::fs::read_to_string(&p).expect("readable example");
                if text.lines().any(|l| l.trim_start().starts_with("table ")) {
                    out.push(r.display().to_string());
                }
            }
        }
    }
    let mut out = Vec::new();
    walk(&examples_dir(), Path::new(""), &mut out);
    out
}

fn compile(example: &str) -> (Frontend, Vec<(Strategy, Lowered)>) {
    let front = resolve::load(example, &mut FsLoader);
    let policy = front.policy.clone().unwrap_or_else(|| {
        let msgs: Vec<String> = front
            .diagnostics
            .iter()
            .map(|d| format!("{} {}: {}", d.code, front.sources.describe(d.primary.loc), d.message))
            .collect();
        panic!("example {example} does not resolve:\n{}", msgs.join("\n"))
    });
    let lowered = Strategy::ALL.into_iter().map(|s| (s, lower(&policy, s))).collect();
    (front, lowered)
}

fn explain_text(l: &Lowered, sources: &SourceMap) -> String {
    l.explain
        .iter()
        .map(|e| format!("# {}/{} ({}): {}\n", e.table, e.chain, sources.describe(e.loc), e.text))
        .collect()
}

#[test]
fn examples_compile_to_snapshots() {
    let all = examples();
    assert!(!all.is_empty(), "no examples found in {}", examples_dir().display());
    for example in all {
        let (front, lowered) = compile(&example);
        for (strategy, l) in &lowered {
            let text = format!(
                "{}\n{}",
                explain_text(l, &front.sources),
                emit_nft(&l.ruleset, &front.sources)
            );
            let name = format!(
                "{}.{}",
                example.trim_end_matches(".shr").replace('/', "__"),
                strategy.keyword()
            );
            shriek_testkit::snapshot!("compile", name, text);
        }
    }
}

/// libnftables JSON for one example, to read alongside its text.
#[test]
fn json_of_load_balancer() {
    let (front, lowered) = compile("load-balancer.shr");
    let (_, l) = lowered.iter().find(|(s, _)| *s == Strategy::Dispatch).expect("every strategy");
    shriek_testkit::snapshot!(
        "compile",
        "load-balancer.dispatch.json",
        emit_json(&l.ruleset, &front.sources)
    );
}

/// Whether `nft -c` can run here; `None` with the reason when not.
fn nft_available() -> Result<(), String> {
    let nft = Command::new("nft").arg("--version").output();
    if !nft.is_ok_and(|o| o.status.success()) {
        return Err("nft is not installed".into());
    }
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let root =
        status.lines().any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(2) == Some("0"));
    if !root {
        return Err("not running as root".into());
    }
    Ok(())
}

fn nft_check(script: &str, json: bool, what: &str) -> Result<(), String> {
    let path = std::env::temp_dir().join(format!(
        "shriek-check-{}-{}.nft",
        std::process::id(),
        what.replace('/', "_")
    ));
    std::fs::write(&path, script).map_err(|e| e.to_string())?;
    let mut cmd = Command::new("nft");
    if json {
        cmd.arg("-j");
    }
    let out = cmd.arg("-c").arg("-f").arg(&path).output().map_err(|e| e.to_string())?;
    let _ = std::fs::remove_file(&path);
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{what}: nft -c rejects it:\n{}\n--- script ---\n{script}",
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

#[test]
fn every_compiled_example_loads_with_nft_check() {
    if let Err(why) = nft_available() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "nft -c check cannot run in CI: {why}"
        );
        eprintln!("skipped: {why}");
        return;
    }
    let mut failures = Vec::new();
    for example in examples() {
        let (front, lowered) = compile(&example);
        for (strategy, l) in &lowered {
            let what = format!("{example} ({})", strategy.keyword());
            if let Err(e) = nft_check(&emit_nft(&l.ruleset, &front.sources), false, &what) {
                failures.push(e);
            }
            if let Err(e) =
                nft_check(&emit_json(&l.ruleset, &front.sources), true, &format!("{what} json"))
            {
                failures.push(e);
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// Packets built from the edges of every range the policy tests (and the
/// values just outside them), mixed by a fixed pseudo-random sequence.
fn edge_packets(policy: &shriek_compiler::ir::Policy, n: usize) -> Vec<Packet> {
    let mut addrs = [vec![0u128], vec![0u128]];
    let mut ports = vec![0u128, 65535];
    let mut names = vec![String::new(), "eth9".to_string()];
    for rule in policy.rules() {
        for c in &rule.space {
            let fam = c.family.single().map_or(0, |f| (f == Family::V6) as usize);
            for iv in [&c.saddr, &c.daddr].into_iter().flatten() {
                for &(lo, hi) in iv.ranges() {
                    addrs[fam].extend([lo, hi, lo.saturating_sub(1), hi.saturating_add(1)]);
                }
            }
            for iv in [&c.sport, &c.dport].into_iter().flatten() {
                for &(lo, hi) in iv.ranges() {
                    ports.extend([lo, hi, lo.saturating_sub(1), (hi + 1).min(65535)]);
                }
            }
            for n in [&c.iif, &c.oif] {
                let m = n.patterns();
                for p in m.only.iter().flatten().chain(&m.not) {
                    names.extend(match p {
                        NamePattern::Exact(n) => vec![n.clone()],
                        NamePattern::Prefix(p) => vec![p.clone(), format!("{p}0")],
                    });
                }
            }
        }
    }
    addrs[0].retain(|a| *a <= u32::MAX as u128);
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut pick = |len: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % len as u64) as usize
    };
    let protos = [PROTO_TCP, PROTO_UDP, PROTO_ICMP, PROTO_ICMPV6];
    (0..n)
        .map(|_| {
            let family = if pick(2) == 0 { Family::V4 } else { Family::V6 };
            let a = &addrs[family as usize];
            let proto = protos[pick(protos.len())];
            let ported = proto == PROTO_TCP || proto == PROTO_UDP;
            let mut p = Packet {
                family,
                proto,
                saddr: a[pick(a.len())],
                daddr: a[pick(a.len())],
                sport: ported.then(|| ports[pick(ports.len())] as u16),
                dport: ported.then(|| ports[pick(ports.len())] as u16),
                iif: names[pick(names.len())].clone(),
                oif: names[pick(names.len())].clone(),
                ct: CtState::ALL[pick(CtState::ALL.len())],
                icmp_type: (!ported).then(|| [0, 3, 8, 128, 129, 135][pick(6)]),
                icmp_code: (!ported).then(|| pick(4) as u8),
                tcp_flags: None,
                mark: [0, 1, 0x10, u32::MAX][pick(4)],
            };
            // Flags as `trace` gives them by default, drawing nothing more.
            p.tcp_flags = (proto == PROTO_TCP).then(|| default_tcp_flags(p.ct));
            p
        })
        .collect()
}

#[test]
fn every_example_keeps_its_verdicts_under_every_strategy() {
    for example in examples() {
        let (front, lowered) = compile(&example);
        let policy = front.policy.as_ref().expect("compile checked it");
        let packets = edge_packets(policy, 3000);
        for hook in Hook::ALL {
            for p in &packets {
                let want = evaluate(policy, hook, p, LimitMode::UnderRate).outcome;
                for (strategy, l) in &lowered {
                    let got = evaluate_model(&l.ruleset, hook, p);
                    assert_eq!(
                        want,
                        got.0,
                        "{example} ({}), hook {}, packet {}\n{:#?}",
                        strategy.keyword(),
                        hook.keyword(),
                        packet_text(p),
                        got.1
                    );
                }
            }
        }
    }
}

/// `trace` output, by the reference evaluator and through each lowering.
#[test]
fn traces() {
    let cases = [
        ("core.shr", "tcp 10.1.2.3:40000 -> 10.99.0.2:22"),
        ("core.shr", "tcp 203.0.113.9:40000 -> 10.99.0.2:6379 iif eth0"),
        ("core.shr", "tcp 203.0.113.9:40000 -> 10.99.0.2:25"),
        ("redis-counters.shr", "tcp 10.20.0.12:50000 -> 10.20.0.1:6379"),
        ("service-dispatch.shr", "udp [fd00:50::7]:999 -> [fd00::1]:26005"),
        ("load-balancer.shr", "tcp 198.51.100.4:40000 -> 192.0.2.80:80 hook prerouting"),
    ];
    for (i, (example, spec)) in cases.into_iter().enumerate() {
        let (front, lowered) = compile(example);
        let policy = front.policy.as_ref().expect("compile checked it");
        let (packet, hook) = shriek_compiler::packet::parse_packet(spec).expect("a valid packet");
        let hook = hook.unwrap_or(Hook::Input);
        let mut out = format!("$ shriekc trace {example} '{spec}'\n");
        out.push_str(&shriek_compiler::emit::trace_text(policy, &front.sources, &packet, hook));
        for (strategy, l) in &lowered {
            out.push_str(&format!("\n--- through the {} lowering ---\n", strategy.keyword()));
            out.push_str(&shriek_compiler::emit::trace_model_text(
                &l.ruleset,
                &front.sources,
                &packet,
                hook,
            ));
        }
        let name = format!("{}_{i}", example.trim_end_matches(".shr"));
        shriek_testkit::snapshot!("trace", name, out);
    }
}

/// Ranges whose ends have names (protocols 6 to 17 are `tcp` to `udp`)
/// are written in numbers: `tcp-udp` or `icmp-254` reads to nft as one
/// name it does not know, and `nft -f` refused the whole script.
#[test]
fn ranges_with_named_ends_are_written_in_numbers() {
    let source = "table t {
  chain c hook output policy accept {
    proto 6-17 drop
    proto != { 0, 255 } family ipv6 drop
    icmp type 0-8 drop
    icmpv6 type 1-128 drop
  }
}
";
    let front = resolve::resolve_str("ranges.shr", source);
    let policy = front.policy.clone().expect("the policy resolves");
    let mut failures = Vec::new();
    let checked = nft_available();
    for strategy in Strategy::ALL {
        let l = lower(&policy, strategy);
        let text = emit_nft(&l.ruleset, &front.sources);
        for want in ["meta l4proto 6-17", "meta l4proto 1-254"] {
            assert!(text.contains(want), "{}: no `{want}` in\n{text}", strategy.keyword());
        }
        if checked.is_ok() {
            let what = format!("ranges ({})", strategy.keyword());
            failures.extend(nft_check(&text, false, &what).err());
            let json = emit_json(&l.ruleset, &front.sources);
            failures.extend(nft_check(&json, true, &format!("{what} json")).err());
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
