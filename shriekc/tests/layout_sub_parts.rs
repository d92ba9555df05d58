//! A long run of rules new in one place of a chain laid out in parts goes
//! into sub-parts of that part, against the real kernel: the part gains a
//! `jump` per sub-part where the run stands, no rule already there moves
//! or loses its handle, packets meet the rules in the policy's order, and
//! `plan` and `import` read the table back as the policy.

use shriek_testkit::{text, Netns};

const BIN: &str = env!("CARGO_BIN_EXE_shriekc");

fn shriekc(dir: &std::path::Path, args: &[&str]) -> (i32, String) {
    let out = shriek_testkit::command(BIN).current_dir(dir).args(args).output().expect("shriekc");
    (out.status.code().unwrap_or(-1), format!("{}{}", text(&out.stdout), text(&out.stderr)))
}

/// 1,500 rules `udp dport 20000+i drop`, and `run` rules `udp dport
/// 30000+k drop` after the 700th: all of one protocol, so the parts are
/// keyed by it (`meta l4proto udp jump input/part1`), and so are the
/// sub-parts the run goes into.
fn policy(run: usize) -> String {
    let mut out = String::from("table lay {\n  chain input hook input policy accept {\n");
    for i in 0..1500 {
        out += &format!("    udp dport {} drop\n", 20000 + i);
        if i == 699 {
            for k in 0..run {
                out += &format!("    udp dport {} drop\n", 30000 + k);
            }
        }
    }
    out + "  }\n}\n"
}

fn chains(ns: &Netns) -> Vec<String> {
    ns.nft(&["list", "chains", "inet"])
        .lines()
        .filter_map(|l| l.trim().strip_prefix("chain "))
        .map(|c| c.trim_end_matches(" {").to_string())
        .collect()
}

/// Each rule's handle in `chain`, by what it matches (`tcp dport 20001`).
fn handles(ns: &Netns, chain: &str) -> Vec<(String, String)> {
    ns.nft(&["-a", "list", "chain", "inet", "lay", chain])
        .lines()
        .filter_map(|l| {
            let (rule, handle) = l.trim().split_once(" # handle ")?;
            if rule.starts_with("chain ") {
                return None;
            }
            let what = rule.split(" counter").next()?.to_string();
            Some((what, handle.to_string()))
        })
        .collect()
}

fn send_udp(ns: &Netns, port: u16) {
    ns.sh(&format!(
        "{} -c \"import socket; socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'x', ('127.0.0.1', {port}))\"",
        shriek_testkit::python()
    ));
}

#[test]
fn a_long_run_of_new_rules_goes_into_sub_parts_in_place() {
    let Some(ns) = Netns::new("layout-sub-parts") else { return };
    let dir = std::env::temp_dir().join(format!("shriek-layout-sub-parts-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let apply = ["apply", "--force", "--netns", &ns.name, "--strategy", "sequential", "lay.shr"];
    let plan = ["plan", "--netns", &ns.name, "--strategy", "sequential", "lay.shr"];
    std::fs::write(dir.join("lay.shr"), policy(0)).expect("write lay.shr");
    let (code, out) = shriekc(&dir, &apply);
    assert_eq!(code, 0, "{out}");
    assert_eq!(chains(&ns), ["input", "input/part1", "input/part2"]);
    let before = handles(&ns, "input/part1");

    // 1,100 rules new after the 700th: two sub-parts of part 1.
    std::fs::write(dir.join("lay.shr"), policy(1100)).expect("write lay.shr");
    let (code, out) = shriekc(&dir, &apply);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("1100 added, 0 changed, 0 removed"), "{out}");
    assert_eq!(
        chains(&ns),
        ["input", "input/part1", "input/part2", "input/part1/part1", "input/part1/part2"]
    );
    let after = handles(&ns, "input/part1");
    let links: Vec<&str> =
        after.iter().map(|(w, _)| w.as_str()).filter(|w| w.starts_with("jump")).collect();
    assert_eq!(links, ["jump input/part1/part1", "jump input/part1/part2"]);
    let kept: Vec<&(String, String)> =
        after.iter().filter(|(w, _)| !w.starts_with("jump")).collect();
    assert_eq!(kept, before.iter().collect::<Vec<_>>(), "every rule of part 1 keeps its handle");
    assert_eq!(after[700].0, "jump input/part1/part1", "the links stand where the run does");
    assert_eq!(handles(&ns, "input/part1/part1").len(), 1024);
    assert_eq!(handles(&ns, "input/part1/part2").len(), 76);
    let (code, out) = shriekc(&dir, &plan);
    assert_eq!((code, out.lines().next()), (0, Some("no changes")), "{out}");

    // The parts are keyed by the one protocol; their rules and the
    // sub-parts' go without its match, which the link to the part says.
    let head = ns.nft(&["list", "chain", "inet", "lay", "input"]);
    assert!(head.contains("meta l4proto udp jump input/part1"), "{head}");

    // A packet the run drops, one the rule after the run drops: each is
    // counted by its own rule and by no other (the kernel lists a rule of
    // a keyed part by its `th dport`).
    send_udp(&ns, 30005);
    send_udp(&ns, 31099);
    let counted: Vec<String> = ["input/part1", "input/part1/part1", "input/part1/part2"]
        .iter()
        .flat_map(|c| {
            ns.nft(&["list", "chain", "inet", "lay", c])
                .lines()
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .filter(|l| l.contains("counter packets") && !l.contains("packets 0 "))
        .map(|l| l.trim().split(" comment").next().unwrap_or_default().to_string())
        .collect();
    assert_eq!(
        counted,
        [
            "th dport 30005 counter packets 1 bytes 29 drop",
            "th dport 31099 counter packets 1 bytes 29 drop"
        ]
    );

    // A change in a sub-part touches that rule alone.
    std::fs::write(
        dir.join("lay.shr"),
        policy(1100).replace("udp dport 30500 drop", "udp dport 30500 accept"),
    )
    .expect("write");
    let sub = handles(&ns, "input/part1/part1");
    let (code, out) = shriekc(&dir, &apply);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("0 added, 1 changed, 0 removed"), "{out}");
    let changed: Vec<_> =
        handles(&ns, "input/part1/part1").into_iter().filter(|r| !sub.contains(r)).collect();
    assert_eq!(changed.len(), 1, "{changed:?}");
    assert_eq!(changed[0].0, "th dport 30500");
    let (code, out) = shriekc(&dir, &plan);
    assert_eq!((code, out.lines().next()), (0, Some("no changes")), "{out}");

    // The listing imports as the policy: one chain, the run in place.
    let listed = ns.nft(&["list", "ruleset"]);
    std::fs::write(dir.join("live.nft"), &listed).expect("write live.nft");
    let (code, out) = shriekc(&dir, &["import", "live.nft"]);
    assert_eq!(code, 0, "{out}");
    assert!(!out.contains("jump"), "{out}");
    let rules: Vec<&str> = out.lines().map(str::trim).filter(|l| l.contains(" dport ")).collect();
    assert_eq!(rules.len(), 2600, "{out}");
    assert!(rules[699].starts_with("udp dport 20699 drop"), "{}", rules[699]);
    assert!(rules[700].starts_with("udp dport 30000 drop"), "{}", rules[700]);
    assert!(rules[1800].starts_with("udp dport 20700 drop"), "{}", rules[1800]);
    let _ = std::fs::remove_dir_all(&dir);
}
