//! Day 2, as a user lives it, against the real kernel in namespaces of the
//! tests' own: applying again changes only what differs, keeps handles and
//! counters, recognises what `nft -f` loaded from `compile`, prunes and
//! destroys only this policy's tables, rolls a delta back when the
//! confirm window closes unconfirmed, refuses a policy with an
//! error-level finding, and `plan` shows all of it (snapshots, text and
//! JSON).
//!
//! Each test writes its policy as `web.shr` in a folder of its own and runs
//! `shriekc` there, so comments and snapshots read `web.shr:N`. Under
//! `CI=true` these tests must run; elsewhere they skip when not root.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use shriek_testkit::{has_tool, text, Netns};

const BIN: &str = env!("CARGO_BIN_EXE_shriekc");

/// A folder of the test's own holding `web.shr`.
struct Policy {
    dir: PathBuf,
}

impl Policy {
    fn new(tag: &str) -> Policy {
        let dir = std::env::temp_dir().join(format!("shriek-day2-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        Policy { dir }
    }

    fn write(&self, body: &str) {
        std::fs::write(self.dir.join("web.shr"), body).expect("write web.shr");
    }

    /// `shriekc ARGS` in the policy's folder.
    fn run(&self, args: &[&str]) -> Output {
        shriek_testkit::command(BIN).current_dir(&self.dir).args(args).output().expect("shriekc")
    }

    /// `shriekc VERB --netns NS ARGS web.shr`, which must succeed.
    fn ok(&self, ns: &Netns, verb: &str, args: &[&str]) -> String {
        let mut all = vec![verb, "--netns", &ns.name];
        all.extend_from_slice(args);
        all.push("web.shr");
        let out = self.run(&all);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{all:?}: {}{}",
            text(&out.stdout),
            text(&out.stderr)
        );
        text(&out.stdout)
    }
}

impl Drop for Policy {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn ready(tag: &str) -> Option<(Netns, Policy)> {
    let ns = Netns::new(tag)?;
    if !has_tool("nft") || !has_tool("python3") {
        return None;
    }
    Some((ns, Policy::new(tag)))
}

// ------------------------------------------------------------ counters

/// Counts datagrams to 127.0.0.1:5000 until a second of silence, while
/// sending N of them, one a millisecond; prints `ready`, then `got COUNT`.
const STREAM: &str = r#"
import socket, sys, threading, time
r = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
r.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
r.bind(("127.0.0.1", 5000)); r.settimeout(1.0)
got = 0
def receive():
    global got
    while True:
        try: r.recv(64)
        except socket.timeout: return
        got += 1
t = threading.Thread(target=receive); t.start()
print("ready", flush=True)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(int(sys.argv[1])):
    s.sendto(b"x", ("127.0.0.1", 5000)); time.sleep(0.001)
t.join()
print("got", got, flush=True)
"#;

/// A policy whose rule on line 3 counts by itself and whose rule on line 4
/// counts with a named counter; `other` is a port another rule matches.
fn counting(other: u16) -> String {
    format!(
        "table day2 {{\n  chain input hook input policy accept {{\n    udp dport 5000 counter\n    udp dport 5000 counter dgrams accept\n    tcp dport {other} accept\n    tcp dport 7001 accept\n    tcp dport 7002 accept\n    tcp dport 7003 counter accept\n    tcp dport 7004 drop\n  }}\n}}\n"
    )
}

/// The packets of the rule whose comment is `place`, from `nft list`.
fn rule_packets(listing: &str, place: &str) -> Option<u64> {
    let line = listing.lines().find(|l| l.contains(&format!("comment \"{place}\"")))?;
    let words: Vec<&str> = line.split_whitespace().collect();
    let at = words.iter().position(|w| *w == "packets")?;
    words.get(at + 1)?.parse().ok()
}

#[test]
fn counters_count_every_datagram_across_a_dozen_re_applies() {
    for strategy in ["sequential", "auto"] {
        let Some((ns, policy)) = ready(&format!("count-{strategy}")) else { return };
        policy.write(&counting(7000));
        policy.ok(&ns, "apply", &["--strategy", strategy]);
        let mut stream = Command::new("ip")
            .args(["netns", "exec", &ns.name, "python3", "-c", STREAM, "3000"])
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 runs");
        let mut lines = BufReader::new(stream.stdout.take().expect("piped")).lines();
        assert_eq!(lines.next().and_then(Result::ok).as_deref(), Some("ready"));
        for round in 0..12u16 {
            // Unchanged, then another rule changed, by turns.
            policy.write(&counting(if round % 2 == 0 { 7000 } else { 7100 + round }));
            let out = policy.ok(&ns, "apply", &[]);
            if round % 2 == 0 && round > 0 {
                assert!(out.starts_with("applied in netns"), "round {round}: {out}");
            }
            std::thread::sleep(Duration::from_millis(150));
        }
        let got: u64 = lines
            .next()
            .and_then(Result::ok)
            .and_then(|l| l.strip_prefix("got ").and_then(|n| n.parse().ok()))
            .expect("the receiver's count");
        assert!(stream.wait().expect("python3 ends").success());
        assert!(got > 2000, "{strategy}: only {got} datagrams arrived");
        let listing = ns.nft(&["list", "table", "inet", "day2"]);
        assert_eq!(rule_packets(&listing, "web.shr:3"), Some(got), "{strategy}: {listing}");
        let counters = policy.ok(&ns, "counters", &["--format", "json"]);
        let doc: serde_json::Value = serde_json::from_str(&counters).expect("counters JSON");
        assert_eq!(doc["counters"][0]["packets"], serde_json::json!(got), "{strategy}: {counters}");
    }
}

// ------------------------------------------------------------ handles

/// Every line of `nft -a list` that has a handle: its text, less the
/// handle, to the handle.
fn handles(listing: &str) -> HashMap<String, u64> {
    listing
        .lines()
        .filter_map(|l| {
            let (text, handle) = l.rsplit_once("# handle ")?;
            Some((text.trim().to_string(), handle.trim().parse().ok()?))
        })
        .collect()
}

#[test]
fn a_one_rule_change_keeps_every_other_handle() {
    for strategy in ["sequential", "auto"] {
        let Some((ns, policy)) = ready(&format!("handles-{strategy}")) else { return };
        let body = |verdict: &str| {
            format!(
                "table day2 {{\n  chain input hook input policy accept {{\n    ct state established,related accept\n    tcp dport 22 accept\n    tcp dport 80 counter accept\n    tcp dport 443 accept\n    tcp dport 8080 {verdict}\n    udp dport 53 accept\n    saddr 10.0.0.0/8 tcp dport 9000-9100 accept\n  }}\n  chain output hook output policy accept {{\n    tcp dport 25 counter smtp\n  }}\n}}\n"
            )
        };
        policy.write(&body("accept"));
        policy.ok(&ns, "apply", &["--strategy", strategy]);
        let before = handles(&ns.nft(&["-a", "list", "table", "inet", "day2"]));
        policy.write(&body("drop"));
        let out = policy.ok(&ns, "apply", &[]);
        assert!(out.starts_with("applied in netns"), "{out}");
        let after = handles(&ns.nft(&["-a", "list", "table", "inet", "day2"]));
        let mut gone = Vec::new();
        for (line, handle) in &before {
            match after.get(line) {
                Some(h) => assert_eq!(h, handle, "{strategy}: `{line}` was remade"),
                None => gone.push(line.clone()),
            }
        }
        match strategy {
            // The changed rule, and only it, is new.
            "sequential" => {
                assert_eq!(gone.len(), 1, "{gone:?}");
                assert!(gone[0].contains("8080 counter packets 0 bytes 0 accept"), "{gone:?}");
            }
            // One map element changed; every rule, chain and map stays.
            _ => assert!(gone.is_empty(), "{gone:?}"),
        }
        assert!(before.len() >= 8, "{before:?}");
    }
}

// ------------------------------------------------------------ long chains

/// 2,500 rules on `tcp dport 10000..`, with a counted drop of UDP port
/// 5000 among them (after the 2,001st) and a counted accept of UDP port
/// 5001 past the last. The chain is long enough to be grouped by protocol:
/// the kernel holds the TCP rules in three parts keyed `meta l4proto tcp`
/// and the two UDP rules, in their order, in a fourth. `changed` flips one
/// rule of the second part.
fn long_chain(changed: bool) -> String {
    let mut body = String::from("table day2 {\n  chain input hook input policy accept {\n");
    for i in 0..2500 {
        let verdict = if changed && i == 1500 { "drop" } else { "accept" };
        body.push_str(&format!("    tcp dport {} {verdict}\n", 10000 + i));
        if i == 2000 {
            body.push_str("    udp dport 5000 counter drop\n");
        }
    }
    body.push_str("    udp dport 5001 counter accept\n  }\n}\n");
    body
}

#[test]
fn a_long_chain_lives_in_parts_that_only_the_kernel_sees() {
    let Some((ns, policy)) = ready("parts") else { return };
    policy.write(&long_chain(false));
    policy.ok(&ns, "apply", &["--strategy", "sequential"]);
    let listing = ns.nft(&["list", "table", "inet", "day2"]);
    for part in ["input/part1", "input/part2", "input/part3"] {
        assert!(listing.contains(&format!("meta l4proto tcp jump {part}")), "{part} is not keyed");
    }
    assert!(listing.contains("\tjump input/part4\n"), "{listing}");
    assert!(!listing.contains("input/part5"), "{listing}");
    let part4 = ns.nft(&["list", "chain", "inet", "day2", "input/part4"]);
    let udp: Vec<&str> = part4.lines().filter(|l| l.contains("udp dport")).collect();
    assert!(udp.len() == 2 && udp[0].contains("5000") && udp[1].contains("5001"), "{part4}");
    assert_eq!(policy.ok(&ns, "plan", &[]), "no changes\n");

    // The parts give every packet the chain's verdict: the drop ends it,
    // the accept after it is reached.
    let send = |port: u16| {
        ns.sh(&format!(
            "python3 -c 'import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.sendto(b\"x\", (\"127.0.0.1\", {port}))'"
        ));
    };
    send(5000);
    send(5001);
    send(5001);
    let listing = ns.nft(&["list", "table", "inet", "day2"]);
    assert_eq!(rule_packets(&listing, "web.shr:2004"), Some(1), "{listing}");
    assert_eq!(rule_packets(&listing, "web.shr:2504"), Some(2), "{listing}");

    // A one-rule change touches the rule's part alone: every other rule
    // keeps its handle, and `plan` sees one chain.
    let before = handles(&ns.nft(&["-a", "list", "table", "inet", "day2"]));
    policy.write(&long_chain(true));
    let out = policy.ok(&ns, "apply", &[]);
    assert!(out.contains("0 added, 1 changed, 0 removed"), "{out}");
    let after = handles(&ns.nft(&["-a", "list", "table", "inet", "day2"]));
    let gone: Vec<&String> = before.keys().filter(|l| after.get(*l) != before.get(*l)).collect();
    assert_eq!(gone.len(), 1, "{gone:?}");
    assert!(
        gone[0].contains("th dport 11500 ") && gone[0].ends_with("accept comment \"web.shr:1503\""),
        "{gone:?}"
    );
    let part2 = ns.nft(&["list", "chain", "inet", "day2", "input/part2"]);
    assert!(
        part2.lines().any(|l| l.contains("th dport 11500 ") && l.contains(" drop ")),
        "{part2}"
    );
    assert_eq!(policy.ok(&ns, "plan", &[]), "no changes\n");

    // Changed back, the rule is named in its chain, never in its part.
    policy.write(&long_chain(false));
    let plan = policy.ok(&ns, "plan", &[]);
    assert!(plan.contains("1 to change"), "{plan}");
    assert!(!plan.contains("part"), "{plan}");
}

// ------------------------------------------------------------ nft -f

#[test]
fn compile_loaded_with_nft_plans_no_changes() {
    let Some((ns, _)) = ready("nft-f") else { return };
    let mut failures = Vec::new();
    for file in shriek_testkit::examples() {
        for strategy in ["sequential", "dispatch", "auto"] {
            let compiled = shriek_testkit::run(BIN, &["compile", "--strategy", strategy, &file]);
            assert_eq!(compiled.status.code(), Some(0), "{file}: {}", text(&compiled.stderr));
            let script = shriek_testkit::temp_file("compiled.nft", &text(&compiled.stdout));
            ns.sh(&format!("nft -f {}", script.display()));
            let plan = shriek_testkit::run(
                BIN,
                &["plan", "--strategy", strategy, "--netns", &ns.name, &file],
            );
            if text(&plan.stdout) != "no changes\n" {
                failures.push(format!("{file} ({strategy}):\n{}", text(&plan.stdout)));
            }
            ns.sh("nft flush ruleset");
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

// ------------------------------------------------------------ ownership

#[test]
fn a_renamed_table_is_named_kept_and_pruned_only_when_asked() {
    let Some((ns, policy)) = ready("prune") else { return };
    let body = |name: &str| {
        format!("table {name} {{\n  chain input hook input policy accept {{\n    tcp dport 22 accept\n  }}\n}}\n")
    };
    policy.write(&body("old_name"));
    policy.ok(&ns, "apply", &[]);
    ns.sh("nft add table inet bystander");
    policy.write(&body("new_name"));
    let plan = policy.ok(&ns, "plan", &[]);
    assert!(plan.contains("table inet old_name"), "{plan}");
    policy.ok(&ns, "apply", &[]);
    let tables = ns.sh("nft list tables");
    assert!(tables.contains("old_name") && tables.contains("new_name"), "{tables}");
    let out = policy.ok(&ns, "apply", &["--prune"]);
    assert!(out.contains("1 removed"), "{out}");
    let mut tables: Vec<String> = ns.sh("nft list tables").lines().map(String::from).collect();
    tables.sort();
    assert_eq!(
        tables,
        ["table inet bystander", "table inet new_name"],
        "old_name is gone; the new table and another program's stay"
    );
}

#[test]
fn destroy_removes_this_policys_tables_and_nothing_else() {
    let Some((ns, policy)) = ready("destroy") else { return };
    let other = Policy::new("destroy-other");
    other.write(
        "table theirs {\n  chain c hook input policy accept {\n    tcp dport 1 accept\n  }\n}\n",
    );
    other.ok(&ns, "apply", &[]);
    policy.write(
        "table mine {\n  chain c hook input policy accept {\n    tcp dport 2 accept\n  }\n}\n",
    );
    policy.ok(&ns, "apply", &[]);
    ns.sh("nft add table inet bystander");
    assert_eq!(policy.ok(&ns, "destroy", &[]), "removed table inet mine\n");
    let mut tables: Vec<String> = ns.sh("nft list tables").lines().map(String::from).collect();
    tables.sort();
    assert_eq!(tables, ["table inet bystander", "table inet theirs"]);
    let again = policy.ok(&ns, "destroy", &[]);
    assert!(again.starts_with("no tables made by"), "{again}");
    // Another policy's table under a name this one uses is refused.
    policy.write(
        "table theirs {\n  chain c hook input policy accept {\n    tcp dport 3 accept\n  }\n}\n",
    );
    let out = policy.run(&["apply", "--netns", &ns.name, "web.shr"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stdout));
    assert!(text(&out.stderr).contains("was made by another policy"), "{}", text(&out.stderr));
    assert!(ns.sh("nft list table inet theirs").contains("dport 1 counter"));
}

// ------------------------------------------------------------ confirm

/// `apply --confirm SECONDS` of the policy as it is now, running, once it
/// has applied: an incremental change, not a table replaced whole.
fn confirming(ns: &Netns, policy: &Policy, seconds: &str) -> Child {
    let (child, line) = shriek_testkit::spawn_first_line(
        shriek_testkit::command(BIN).current_dir(&policy.dir).args([
            "apply",
            "--confirm",
            seconds,
            "--netns",
            &ns.name,
            "web.shr",
        ]),
    );
    assert!(line.starts_with("applied in netns") && line.contains("1 changed"), "{line}");
    child
}

/// The policy of the handles test with one verdict chosen.
fn guarded(verdict: &str) -> String {
    format!(
        "table day2 {{\n  chain input hook input policy accept {{\n    tcp dport 22 accept\n    tcp dport 80 counter accept\n    tcp dport 8080 {verdict}\n  }}\n  chain output hook output policy accept {{\n    tcp dport 25 counter smtp\n  }}\n}}\n"
    )
}

/// The confirm engineer's tests (`confirm.rs`) take a table over whole;
/// these roll back a delta: after SIGKILL of `shriekc`, the guard restores
/// the tables byte for byte by the deadline, and they are still this
/// policy's own, so the old policy plans as `no changes`.
#[test]
fn a_killed_incremental_apply_rolls_back_byte_for_byte() {
    let Some((ns, policy)) = ready("confirm-kill") else { return };
    policy.write(&guarded("accept"));
    policy.ok(&ns, "apply", &["--strategy", "sequential"]);
    let before = ns.nft(&["list", "ruleset"]);
    policy.write(&guarded("drop"));
    let child = confirming(&ns, &policy, "3");
    assert_ne!(ns.nft(&["list", "ruleset"]), before, "the change is in");
    let ok = Command::new("kill").args(["-KILL", &child.id().to_string()]).status();
    assert!(ok.expect("kill runs").success());
    let out = child.wait_with_output().expect("shriekc ends");
    assert_eq!(out.status.code(), None, "killed by a signal");
    let start = Instant::now();
    let mut now = ns.nft(&["list", "ruleset"]);
    while now != before && start.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(100));
        now = ns.nft(&["list", "ruleset"]);
    }
    assert_eq!(now, before, "rolled back, byte for byte, after {:?}", start.elapsed());
    policy.write(&guarded("accept"));
    assert_eq!(policy.ok(&ns, "plan", &[]), "no changes\n");
}

/// A confirmed change outlives its deadline: no guard is left to undo it.
#[test]
fn a_confirmed_incremental_apply_stays_past_its_deadline() {
    let Some((ns, policy)) = ready("confirm-yes") else { return };
    policy.write(&guarded("accept"));
    policy.ok(&ns, "apply", &[]);
    policy.write(&guarded("drop"));
    let opened = Instant::now();
    let child = confirming(&ns, &policy, "5");
    let applied = ns.nft(&["list", "ruleset"]);
    let out = policy.run(&["apply", "--confirm-pending", "--netns", &ns.name]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let out = child.wait_with_output().expect("shriekc ends");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    std::thread::sleep(Duration::from_secs(6).saturating_sub(opened.elapsed()));
    assert_eq!(ns.nft(&["list", "ruleset"]), applied, "still the confirmed policy");
    assert_eq!(policy.ok(&ns, "plan", &[]), "no changes\n");
}

// ------------------------------------------------------------ analysis

#[test]
fn a_policy_with_an_error_level_finding_is_refused_without_force() {
    let Some((ns, policy)) = ready("findings") else { return };
    policy.write(
        "table day2 {\n  chain input hook input policy accept {\n    tcp dport 22 accept\n    tcp dport 22 drop\n  }\n}\n",
    );
    let out = policy.run(&["apply", "--netns", &ns.name, "web.shr"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("shadowed-rule") && stderr.contains("--force"), "{stderr}");
    assert_eq!(ns.sh("nft list ruleset"), "", "nothing was applied");
    let forced = policy.ok(&ns, "apply", &["--force"]);
    assert!(forced.starts_with("applied in netns"), "{forced}");
}

/// On day 2 `apply` plans the change beside the analysis (the live tables
/// exist): a finding still refuses it, and nothing is sent.
#[test]
fn a_change_with_an_error_level_finding_is_refused_and_changes_nothing() {
    let Some((ns, policy)) = ready("findings2") else { return };
    policy.write(
        "table day2 {\n  chain input hook input policy accept {\n    tcp dport 22 accept\n  }\n}\n",
    );
    policy.ok(&ns, "apply", &[]);
    let applied = ns.nft(&["list", "ruleset"]);
    policy.write(
        "table day2 {\n  chain input hook input policy accept {\n    tcp dport 22 accept\n    tcp dport 22 drop\n    udp dport 53 accept\n  }\n}\n",
    );
    let out = policy.run(&["apply", "--netns", &ns.name, "web.shr"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("shadowed-rule") && stderr.contains("--force"), "{stderr}");
    assert_eq!(text(&out.stdout), "", "a refused apply says only why");
    assert_eq!(ns.nft(&["list", "ruleset"]), applied, "nothing was applied");
    let forced = policy.ok(&ns, "apply", &["--force"]);
    assert!(forced.starts_with("applied in netns"), "{forced}");
    assert_eq!(policy.ok(&ns, "plan", &[]), "no changes\n");
}

// ------------------------------------------------------------ plan snapshots

const BASE: &str = "\
table web {
  chain input hook input policy drop {
    ct state established,related accept
    tcp dport 22 accept
    tcp dport { 80, 443 } counter accept
    udp dport 53 accept
  }
}
";

/// Rule by rule: the live tables were applied one rule at a time, and the
/// plan follows the strategy they record.
const SEQUENTIAL: &[&str] = &["--strategy", "sequential"];

/// `plan` as text (its notes first) and as JSON: `before` applied with
/// `applied_with`, then `change` made (to the file, or by hand), then
/// planned with `plan_args`.
fn plan_of(
    tag: &str,
    before: &str,
    applied_with: &[&str],
    change: impl Fn(&Netns, &Policy),
    plan_args: &[&str],
) -> Option<String> {
    let (ns, policy) = ready(tag)?;
    policy.write(before);
    policy.ok(&ns, "apply", applied_with);
    change(&ns, &policy);
    let run = |format: &str| {
        let mut args = vec!["plan", "--format", format, "--netns", &ns.name];
        args.extend_from_slice(plan_args);
        args.push("web.shr");
        let out = policy.run(&args);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", text(&out.stderr));
        out
    };
    let (shown, json) = (run("text"), run("json"));
    Some(format!(
        "{}{}--- json ---\n{}",
        text(&shown.stderr),
        text(&shown.stdout),
        text(&json.stdout)
    ))
}

fn check(name: &str, shown: Option<String>) {
    if let Some(shown) = shown {
        shriek_testkit::snapshot!("plan", name, shown);
    }
}

/// Writes BASE with `from` replaced by `to`.
fn edit(from: &'static str, to: &'static str) -> impl Fn(&Netns, &Policy) {
    move |_, p| {
        let body = BASE.replace(from, to);
        assert_ne!(body, BASE, "`{from}` is in the policy");
        p.write(&body);
    }
}

#[test]
fn plan_shows_additions_removals_changes_and_moves() {
    let add = edit("    udp dport 53", "    tcp dport 8080 accept\n    udp dport 53");
    check("add", plan_of("plan-add", BASE, SEQUENTIAL, add, &[]));
    let remove = edit("    tcp dport 22 accept\n", "");
    check("remove", plan_of("plan-remove", BASE, SEQUENTIAL, remove, &[]));
    let change = edit("{ 80, 443 } counter accept", "{ 80, 443, 8443 } counter accept");
    check("change", plan_of("plan-change", BASE, SEQUENTIAL, change, &[]));
    let reorder = edit(
        "    tcp dport 22 accept\n    tcp dport { 80, 443 } counter accept\n",
        "    tcp dport { 80, 443 } counter accept\n    tcp dport 22 accept\n",
    );
    check("reorder", plan_of("plan-reorder", BASE, SEQUENTIAL, reorder, &[]));
}

/// With `auto`, a run of port rules is a map: a rule that joins the run is
/// one element.
#[test]
fn plan_shows_map_elements() {
    let run = "    tcp dport 22 accept\n    tcp dport 25 accept\n    tcp dport 110 accept\n    tcp dport 143 drop\n";
    let before = BASE.replace("    tcp dport 22 accept\n", run);
    let after = before
        .replace("    tcp dport 143 drop\n", "    tcp dport 143 drop\n    tcp dport 993 accept\n");
    let change = move |_: &Netns, p: &Policy| p.write(&after);
    check("add_auto", plan_of("plan-add-auto", &before, &[], change, &[]));
}

#[test]
fn plan_shows_drift_made_by_hand() {
    let by_hand = |ns: &Netns, _: &Policy| {
        ns.sh("nft add rule inet web input tcp dport 9999 accept");
        ns.sh("nft insert rule inet web input ip ttl 1 drop");
        ns.sh(
            "nft add rule inet web input meta mark 0x2a counter drop comment '\"added by hand\"'",
        );
    };
    check("drift", plan_of("plan-drift", BASE, SEQUENTIAL, by_hand, &[]));
}

#[test]
fn plan_shows_orphans_and_strategy_mismatch() {
    let rename = |_: &Netns, p: &Policy| p.write(&BASE.replace("table web", "table site"));
    check("orphan", plan_of("plan-orphan", BASE, &[], rename, &[]));
    let auto = &["--strategy", "auto"];
    let change = edit("udp dport 53", "udp dport 5353");
    check("strategy_mismatch", plan_of("plan-strategy", BASE, SEQUENTIAL, change, auto));
    // Without --strategy, plan uses the recorded one.
    let unchanged = |_: &Netns, _: &Policy| {};
    check("strategy_recorded", plan_of("plan-recorded", BASE, SEQUENTIAL, unchanged, &[]));
}

// ------------------------------------------------------------ standard input

/// A policy read from standard input is one policy wherever it is applied
/// from: its tables record `<stdin>`, not `$PWD/-`, so `plan -` from
/// another folder recognises them.
#[test]
fn a_policy_from_standard_input_is_the_same_policy_from_any_folder() {
    let Some(ns) = Netns::new("day2-stdin") else { return };
    let body = "table piped {\n  chain input hook input policy accept {\n    tcp dport 22 accept\n  }\n}\n";
    let run = |dir: &str, verb: &str| {
        let mut cmd = shriek_testkit::command(BIN);
        cmd.current_dir(dir).args([verb, "--netns", &ns.name, "-"]);
        let out = shriek_testkit::output_with_stdin(&mut cmd, body.as_bytes());
        assert_eq!(out.status.code(), Some(0), "{verb} in {dir}: {}", text(&out.stderr));
        text(&out.stdout)
    };
    run("/tmp", "apply");
    assert!(ns
        .nft(&["list", "table", "inet", "piped"])
        .contains("managed by shriekc from <stdin>,"));
    assert_eq!(run("/", "plan"), "no changes\n");
}
