//! Round trip: every example, compiled to nftables with every strategy, as
//! `nft -f` text and as JSON, then imported back with `import`, is the same
//! policy to every packet. Two judges: `shriekc diff`'s semantic engine,
//! exact over the whole packet space, must find no packet whose fate (or
//! counting and logging) changes; and the reference evaluator, `eval.rs`,
//! must give packets drawn from the edges of every rule's match space (each
//! range's ends and their neighbours, where a translation that is off by one
//! would show) the same verdict on every hook, with limits under and over
//! their rate.

use std::collections::BTreeMap;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use shriek_compiler::diff::report::{render, Format as DiffFormat, Report, Version};
use shriek_compiler::diff::semantic::semantic_diff;
use shriek_compiler::emit::{emit_json, emit_nft};
use shriek_compiler::eval::{evaluate, LimitMode};
use shriek_compiler::import::{self, Format, Input};
use shriek_compiler::ir::{Hook, Policy};
use shriek_compiler::lower::{self, lower};
use shriek_compiler::packet::default_tcp_flags;
use shriek_compiler::resolve::{self, MemoryLoader};
use shriek_compiler::space::{CtState, Family, NamePattern, Packet};
use shriek_grammar::SourceMap;

/// Every file under `examples/`, keyed as the loader looks them up.
fn example_files() -> BTreeMap<String, String> {
    let mut files = BTreeMap::new();
    let root = shriek_testkit::root();
    let mut dirs = vec![root.join("examples")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("examples folder").flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "shr") {
                let key = path
                    .strip_prefix(&root)
                    .expect("under the root")
                    .to_string_lossy()
                    .into_owned();
                files.insert(key, std::fs::read_to_string(&path).expect("readable example"));
            }
        }
    }
    files
}

fn compile(file: &str, files: BTreeMap<String, String>) -> (Policy, SourceMap) {
    let mut loader = MemoryLoader(files);
    let front = resolve::load(file, &mut loader);
    let policy = front.policy.unwrap_or_else(|| panic!("{file} resolves: {:?}", front.diagnostics));
    (policy, front.sources)
}

fn reimport(text: &str, format: Format, what: &str) -> (Policy, SourceMap) {
    let input = Input { name: what.into(), text: text.into(), family: None };
    let imported =
        import::import(&[input], format).unwrap_or_else(|e| panic!("{what}: {}", e.message));
    assert!(imported.warnings.is_empty(), "{what}: rules were left out: {:?}", imported.warnings);
    let front = resolve::resolve_str("imported.shr", &imported.policy);
    let policy = front.policy.unwrap_or_else(|| {
        panic!("{what}: the import resolves: {:?}\n{}", front.diagnostics, imported.policy)
    });
    (policy, front.sources)
}

/// `shriekc diff`'s engine finds no packet whose fate, or whose counting
/// and logging, differs; on failure the message is what `shriekc diff`
/// prints.
fn no_semantic_change(
    original: (&Policy, &SourceMap),
    imported: (&Policy, &SourceMap),
    strategy: lower::Strategy,
    what: &str,
) {
    let diff = semantic_diff(original.0, imported.0);
    let gave_up = diff.hooks.iter().any(|h| h.changes.is_err());
    if !gave_up && diff.traffic_classes() == 0 && diff.observed_classes() == 0 {
        return;
    }
    let (old_set, new_set) = (lower(original.0, strategy), lower(imported.0, strategy));
    let report = Report {
        old: Version {
            label: "original",
            policy: original.0,
            ruleset: &old_set.ruleset,
            sources: original.1,
        },
        new: Version {
            label: "imported",
            policy: imported.0,
            ruleset: &new_set.ruleset,
            sources: imported.1,
        },
        semantic: &diff,
    };
    panic!(
        "{what}: the import changes the policy's meaning\n{}",
        render(&report, DiffFormat::Text)
    );
}

/// The values worth probing, per field, from both policies' rules.
#[derive(Default)]
struct Edges {
    addrs: [Vec<u128>; 2],
    ports: Vec<u16>,
    protos: Vec<u8>,
    names: Vec<String>,
    icmp_types: Vec<u8>,
    icmp_codes: Vec<u8>,
    marks: Vec<u32>,
}

impl Edges {
    fn of(policies: &[&Policy]) -> Edges {
        let mut e = Edges {
            protos: vec![0, 1, 6, 17, 47, 58, 132],
            names: vec!["".into(), "zz0".into()],
            icmp_types: vec![0, 3, 8, 128, 255],
            icmp_codes: vec![0, 1, 255],
            marks: vec![0, 1, u32::MAX],
            ..Edges::default()
        };
        e.ports = vec![0, 1, 1024, 65535];
        for f in Family::ALL {
            e.addrs[f as usize] = vec![0, 1, f.max_addr()];
        }
        for cube in policies.iter().flat_map(|p| p.rules()).flat_map(|r| r.space.iter()) {
            e.protos.extend(cube.proto.iter().take(8));
            for f in cube.family.iter() {
                for iv in [&cube.saddr, &cube.daddr].into_iter().flatten() {
                    for &(lo, hi) in iv.ranges() {
                        let near = [lo.checked_sub(1), Some(lo), Some(hi), hi.checked_add(1)];
                        e.addrs[f as usize]
                            .extend(near.into_iter().flatten().filter(|a| *a <= f.max_addr()));
                    }
                }
            }
            for iv in [&cube.sport, &cube.dport].into_iter().flatten() {
                for &(lo, hi) in iv.ranges() {
                    let near = [lo.checked_sub(1), Some(lo), Some(hi), hi.checked_add(1)];
                    e.ports
                        .extend(near.into_iter().flatten().filter_map(|p| u16::try_from(p).ok()));
                }
            }
            for names in [&cube.iif, &cube.oif] {
                let m = names.patterns();
                for p in m.only.iter().flatten().chain(&m.not) {
                    // A wildcard's edges: the prefix itself and one name past it.
                    match p {
                        NamePattern::Exact(n) => e.names.push(n.clone()),
                        NamePattern::Prefix(p) => {
                            e.names.extend([p.clone(), format!("{p}0"), format!("{p}z")])
                        }
                    }
                }
                e.names.extend([names.sample(false), names.sample(true)]);
            }
            for &(lo, hi) in cube.mark.iter().flat_map(|iv| iv.ranges()) {
                let near = [lo.checked_sub(1), Some(lo), Some(hi), hi.checked_add(1)];
                e.marks.extend(near.into_iter().flatten().filter_map(|m| u32::try_from(m).ok()));
            }
            for (iv, out) in
                [(&cube.icmp_type, &mut e.icmp_types), (&cube.icmp_code, &mut e.icmp_codes)]
            {
                for &(lo, hi) in iv.iter().flat_map(|iv| iv.ranges()) {
                    let near = [lo.checked_sub(1), Some(lo), Some(hi), hi.checked_add(1)];
                    out.extend(near.into_iter().flatten().filter_map(|v| u8::try_from(v).ok()));
                }
            }
        }
        e.protos.sort_unstable();
        e.protos.dedup();
        e.ports.sort_unstable();
        e.ports.dedup();
        e.names.sort();
        e.names.dedup();
        e.marks.sort_unstable();
        e.marks.dedup();
        for v in [&mut e.icmp_types, &mut e.icmp_codes] {
            v.sort_unstable();
            v.dedup();
        }
        for a in &mut e.addrs {
            a.sort_unstable();
            a.dedup();
        }
        e
    }

    fn packets(&self) -> impl Strategy<Value = Packet> {
        let pick = |v: &[u128]| proptest::sample::select(v.to_vec());
        (
            prop_oneof![
                pick(&self.addrs[0]).prop_map(|a| (Family::V4, a)),
                pick(&self.addrs[1]).prop_map(|a| (Family::V6, a))
            ],
            0..self.addrs[0].len().max(self.addrs[1].len()),
            proptest::sample::select(self.protos.clone()),
            proptest::sample::select(self.ports.clone()),
            proptest::sample::select(self.ports.clone()),
            proptest::sample::select(self.names.clone()),
            proptest::sample::select(self.names.clone()),
            proptest::sample::select(CtState::ALL.to_vec()),
            proptest::sample::select(self.icmp_types.clone()),
            proptest::sample::select(self.icmp_codes.clone()),
            proptest::sample::select(self.marks.clone()),
        )
            .prop_map({
                let addrs = self.addrs.clone();
                move |(
                    (family, saddr),
                    d,
                    proto,
                    sport,
                    dport,
                    iif,
                    oif,
                    ct,
                    itype,
                    icode,
                    mark,
                )| {
                    let same = &addrs[family as usize];
                    let ports = matches!(proto, 6 | 17 | 132);
                    let icmp = matches!(proto, 1 | 58);
                    Packet {
                        family,
                        proto,
                        saddr,
                        daddr: same[d % same.len()],
                        sport: ports.then_some(sport),
                        dport: ports.then_some(dport),
                        iif,
                        oif,
                        ct,
                        icmp_type: icmp.then_some(itype),
                        icmp_code: icmp.then_some(icode),
                        tcp_flags: (proto == 6).then(|| default_tcp_flags(ct)),
                        mark,
                    }
                }
            })
    }
}

fn same_verdicts(original: &Policy, imported: &Policy, what: &str) {
    let edges = Edges::of(&[original, imported]);
    let mut runner =
        TestRunner::new(Config { cases: 400, failure_persistence: None, ..Config::default() });
    let result = runner.run(&edges.packets(), |packet| {
        for hook in Hook::ALL {
            for limits in [LimitMode::UnderRate, LimitMode::OverRate] {
                let want = evaluate(original, hook, &packet, limits).outcome;
                let got = evaluate(imported, hook, &packet, limits).outcome;
                prop_assert_eq!(want, got, "hook {:?}, limits {:?}", hook, limits);
            }
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("{what}: {e}");
    }
}

/// `file` compiled with every strategy, as nft text and as JSON, and
/// imported back, means what it meant.
fn survives(file: &str, files: BTreeMap<String, String>) {
    let (policy, sources) = compile(file, files);
    for strategy in lower::Strategy::ALL {
        let lowered = lower(&policy, strategy);
        let text = emit_nft(&lowered.ruleset, &sources);
        let what = format!("{file} ({}, nft text)", strategy.keyword());
        let back = reimport(&text, Format::Nft, &what);
        no_semantic_change((&policy, &sources), (&back.0, &back.1), strategy, &what);
        same_verdicts(&policy, &back.0, &what);
        let json = emit_json(&lowered.ruleset, &sources);
        let what = format!("{file} ({}, JSON)", strategy.keyword());
        let back = reimport(&json, Format::NftJson, &what);
        no_semantic_change((&policy, &sources), (&back.0, &back.1), strategy, &what);
        same_verdicts(&policy, &back.0, &what);
    }
}

/// Every example, `examples/ssh-guard.shr`'s per-address limits included.
#[test]
fn every_example_survives_compile_and_import() {
    let files = shriek_testkit::examples();
    assert!(files.iter().any(|f| f == "examples/ssh-guard.shr"), "the meter example is checked");
    for file in files {
        survives(&file, example_files());
    }
}

/// What the examples do not show of the language's later words.
#[test]
fn language_additions_survive_compile_and_import() {
    let policies = [
        // Interface wildcards and quoted names, in sets and negated.
        "table t {\n  chain input hook input policy drop {\n    iif eth* tcp dport 22 accept\n    iif { wg*, \"br-lan\", lo } accept\n    iif != * drop\n    oif != { eth0, vb* } counter\n  }\n  chain fwd hook forward policy drop {\n    iif eth* oif wg* accept\n    iif \"br@x\" oif * accept\n  }\n}\n",
        // ICMP types and codes: names, numbers, ranges, sets, negations.
        "table t {\n  chain input hook input policy drop {\n    icmp type != { echo-request, 13-18 } drop\n    icmp type 3 icmp code { 0-4, 13 } accept\n    icmpv6 type { 1-4, 128, nd-neighbor-solicit } accept\n    icmpv6 code != no-route drop\n    proto icmp limit 5/second accept\n    saddr 10.0.0.0/8 icmp type echo-request accept\n  }\n}\n",
        // Every kind of answer of `reject with`, and `log level`.
        "table t {\n  chain input hook input policy accept {\n    tcp dport 23 reject with tcp reset\n    family ipv4 tcp dport 24 reject with icmp admin-prohibited\n    family ipv4 udp dport 25 reject with icmp port-unreachable\n    family ipv6 udp dport 26 reject with icmpv6 addr-unreachable\n    udp dport 27 reject with icmpx host-unreachable\n    saddr 10.0.0.0/8 udp dport 28 reject with icmp net-prohibited\n    tcp dport 29 log level info prefix \"in: \" drop\n    tcp dport 30 log level debug\n    tcp dport 31 log level warn prefix \"w: \"\n  }\n  chain fwd hook forward policy drop {\n    jump guard\n  }\n  chain guard {\n    saddr 2001:db8::/32 reject with icmpv6 admin-prohibited\n    proto tcp reject with tcp reset\n  }\n}\n",
        // Per-address rates and counts, each key, default and other
        // bursts, one family and both.
        "table t {\n  chain input hook input policy drop {\n    tcp dport 22 ct state new limit 3/minute burst 5 per saddr accept\n    udp dport 53 limit 10/second burst 20 per daddr accept\n    saddr 10.0.0.0/8 tcp dport 80 limit 7/second per saddr accept\n    tcp dport 443 ct state new ct count over 20 per saddr reject with tcp reset\n    saddr 2001:db8::/32 ct count over 3 per daddr drop\n    limit 1/hour per saddr log prefix \"rare: \"\n  }\n}\n",
        // Marks set on one hook and read on the next, set and read again
        // in one chain, ranges, sets and negations.
        "table t {\n  chain pre hook prerouting priority -150 policy accept {\n    iif wg0 mark set 0x10\n    mark 0x10 saddr 10.0.0.0/8 mark set 0x11\n  }\n  chain input hook input policy drop {\n    mark 0x10-0x1f tcp dport 22 accept\n    mark != { 0x0, 0x20-0x2f } drop\n    udp dport 53 mark set 0xffffffff\n    mark 0xffffffff accept\n  }\n  chain out hook output type route policy accept {\n    tcp sport 22 mark set 0x10\n  }\n}\n",
    ];
    for (i, text) in policies.into_iter().enumerate() {
        let name = format!("additions{i}.shr");
        survives(&name, BTreeMap::from([(name.clone(), text.to_string())]));
    }
}
