//! `apply --confirm` against the real kernel, in namespaces of the tests'
//! own: the window survives the `shriekc` process that opened it.
//!
//! Each test applies one policy, then another under `--confirm 3`, then
//! does to `shriekc` what a dropped session does. Under `CI=true` these
//! tests must run; elsewhere they skip when not root.

use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use shriek_testkit::{has_tool, text, Netns};

const BIN: &str = env!("CARGO_BIN_EXE_shriekc");
const FIRST: &str = "examples/core.shr";
/// The same table as FIRST, changed: the rollback must rebuild it.
const SECOND: &str = "examples/redis-counters.shr";

fn shriekc(args: &[&str]) -> Output {
    shriek_testkit::run(BIN, args)
}

/// A namespace with FIRST applied, and its ruleset as `nft` prints it.
fn with_first(tag: &str) -> Option<(Netns, String)> {
    let ns = Netns::new(tag)?;
    if !has_tool("nft") {
        return None;
    }
    let out = shriekc(&["apply", "--netns", &ns.name, FIRST]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let before = ns.nft(&["list", "ruleset"]);
    assert!(before.contains("table inet filter"), "{before}");
    Some((ns, before))
}

/// `apply --confirm 3` of SECOND, running, once it has applied.
fn confirming(ns: &Netns) -> Child {
    confirming_for(ns, "3")
}

/// The same with a longer window, for tests that do more inside it than a
/// loaded machine might manage in 3 s.
fn confirming_for(ns: &Netns, seconds: &str) -> Child {
    let (child, line) = shriek_testkit::spawn_first_line(
        // SECOND is another policy naming FIRST's table: it takes it over.
        shriek_testkit::command(BIN).args([
            "apply",
            "--replace",
            "--confirm",
            seconds,
            "--netns",
            &ns.name,
            SECOND,
        ]),
    );
    assert!(line.starts_with("applied in netns"), "{line}");
    child
}

fn signal(child: &Child, sig: &str) {
    let ok = Command::new("kill").args([sig, &child.id().to_string()]).status().expect("kill runs");
    assert!(ok.success());
}

/// Waits until `nft list ruleset` is `want`, or gives up after `limit`.
fn settles_to(ns: &Netns, want: &str, limit: Duration) -> (String, Duration) {
    let start = Instant::now();
    loop {
        let now = ns.nft(&["list", "ruleset"]);
        if now == want || start.elapsed() > limit {
            return (now, start.elapsed());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn stderr_of(child: Child) -> (Option<i32>, String) {
    let out = child.wait_with_output().expect("shriekc ends");
    (out.status.code(), text(&out.stderr))
}

#[test]
fn sighup_sigterm_and_sigint_roll_back_at_once() {
    for sig in ["-HUP", "-TERM", "-INT"] {
        let Some((ns, before)) = with_first("confirm-sig") else { return };
        let child = confirming(&ns);
        assert_ne!(ns.nft(&["list", "ruleset"]), before, "the new policy is in");
        signal(&child, sig);
        let (code, stderr) = stderr_of(child);
        assert_eq!(code, Some(1), "{sig}: {stderr}");
        assert!(stderr.contains("rolled back to the previous tables after"), "{sig}: {stderr}");
        assert!(stderr.contains(&format!("because shriekc got SIG{}", &sig[1..])), "{stderr}");
        // Rolled back by the time shriekc has exited: no deadline waited for.
        assert_eq!(ns.nft(&["list", "ruleset"]), before, "{sig}: byte for byte");
    }
}

#[test]
fn sigkill_rolls_back_at_the_deadline() {
    let Some((ns, before)) = with_first("confirm-kill") else { return };
    let child = confirming(&ns);
    let applied = ns.nft(&["list", "ruleset"]);
    assert_ne!(applied, before);
    signal(&child, "-KILL");
    let (code, _) = stderr_of(child);
    assert_eq!(code, None, "killed by a signal");
    // The guard waits for its deadline, not for shriekc.
    assert_eq!(ns.nft(&["list", "ruleset"]), applied, "no rollback before the deadline");
    let (after, waited) = settles_to(&ns, &before, Duration::from_secs(20));
    assert_eq!(after, before, "rolled back, byte for byte, after {waited:?}");
    let out = shriekc(&["apply", "--confirm-pending", "--netns", &ns.name]);
    assert_eq!(out.status.code(), Some(1));
    // Asked while the guard, its tables restored, is still ending, the
    // answer is "too late"; asked after, "nothing is pending". Both say how
    // the window ended.
    let said = text(&out.stderr);
    assert!(
        (said.contains("nothing is pending") || said.starts_with("error: too late"))
            && said.contains("was rolled back after 3."),
        "{said}"
    );
}

#[test]
fn a_confirmed_apply_stays() {
    let Some((ns, before)) = with_first("confirm-yes") else { return };
    let child = confirming_for(&ns, "30");
    let applied = ns.nft(&["list", "ruleset"]);
    assert_ne!(applied, before);
    let out = shriekc(&["apply", "--confirm-pending", "--netns", &ns.name]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let head = format!("confirmed the pending apply in netns {} after ", ns.name);
    assert!(
        stdout.starts_with(&head) && stdout.ends_with(" of its 30 s; the new policy stays\n"),
        "{stdout}"
    );
    let (code, stderr) = stderr_of(child);
    assert_eq!(code, Some(0), "{stderr}");
    // No guard is left that could roll back: its state is gone, its lock free.
    let dir = shriek_testkit::run_dir().join(format!("confirm-netns-{}", ns.name));
    assert!(!dir.join("pending.json").exists() && !dir.join("snapshot").exists());
    let again = shriekc(&["apply", "--confirm-pending", "--netns", &ns.name]);
    assert_eq!(again.status.code(), Some(1), "nothing is pending any more");
    assert!(text(&again.stderr).contains("was confirmed after"), "{}", text(&again.stderr));
    assert_eq!(ns.nft(&["list", "ruleset"]), applied);
}

#[test]
fn while_a_window_is_open_another_apply_is_refused() {
    let Some((ns, _)) = with_first("confirm-busy") else { return };
    let child = confirming_for(&ns, "30");
    let applied = ns.nft(&["list", "ruleset"]);
    for args in [
        &["apply", "--netns", &ns.name, FIRST][..],
        &["apply", "--confirm", "5", "--netns", &ns.name, FIRST],
    ] {
        let out = shriekc(args);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", text(&out.stderr));
        let stderr = text(&out.stderr);
        assert!(
            stderr.contains("is waiting for confirmation") && stderr.contains("--confirm-pending"),
            "{stderr}"
        );
    }
    let dry = shriekc(&["apply", "--replace", "--dry-run", "--netns", &ns.name, FIRST]);
    assert_eq!(dry.status.code(), Some(0), "a dry run is not an apply: {}", text(&dry.stderr));
    assert_eq!(ns.nft(&["list", "ruleset"]), applied, "nothing changed");
    signal(&child, "-TERM");
    let _ = stderr_of(child);
}

#[test]
fn the_rollback_of_a_new_table_removes_it() {
    let Some(ns) = Netns::new("confirm-fresh") else { return };
    if !has_tool("nft") {
        return;
    }
    let child = confirming(&ns);
    assert!(ns.nft(&["list", "ruleset"]).contains("table inet filter"));
    signal(&child, "-HUP");
    let _ = stderr_of(child);
    assert_eq!(ns.nft(&["list", "ruleset"]), "", "the namespace is empty again");
}

/// The guard's pid, from the state it keeps for this namespace.
fn guard_pid(ns: &Netns) -> String {
    let path =
        shriek_testkit::run_dir().join(format!("confirm-netns-{}", ns.name)).join("pending.json");
    let pending: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).expect("pending.json")).expect("JSON");
    pending["pid"].to_string()
}

#[test]
fn if_the_guard_dies_shriekc_rolls_back_itself() {
    let Some((ns, before)) = with_first("confirm-guard") else { return };
    let child = confirming(&ns);
    let ok = Command::new("kill").args(["-KILL", &guard_pid(&ns)]).status().expect("kill runs");
    assert!(ok.success());
    let (code, stderr) = stderr_of(child);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("the confirm guard died unexpectedly: rolled back"), "{stderr}");
    assert_eq!(ns.nft(&["list", "ruleset"]), before);
}

#[test]
fn stale_state_of_a_dead_guard_is_reported_and_cleared() {
    let Some((ns, _)) = with_first("confirm-stale") else { return };
    let child = confirming(&ns);
    let applied = ns.nft(&["list", "ruleset"]);
    let guard = guard_pid(&ns);
    // Both gone at once, as when the machine's OOM killer strikes.
    signal(&child, "-KILL");
    let ok = Command::new("kill").args(["-KILL", &guard]).status().expect("kill runs");
    assert!(ok.success());
    let _ = stderr_of(child);
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(ns.nft(&["list", "ruleset"]), applied, "nobody rolled back");
    let out = shriekc(&["apply", "--confirm-pending", "--netns", &ns.name]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(&format!("note: the guard of the `apply --confirm` of `{SECOND}` in netns {} (pid {guard}", ns.name))
            && stderr.contains("died without a confirmation or a rollback, so that policy is still in place; removed its stale state")
            && stderr.contains("error: nothing is pending"),
        "{stderr}"
    );
    // Reported once: the state is gone.
    let again = shriekc(&["apply", "--replace", "--netns", &ns.name, FIRST]);
    assert_eq!(again.status.code(), Some(0), "{}", text(&again.stderr));
    assert!(!text(&again.stderr).contains("note:"), "{}", text(&again.stderr));
}

#[test]
fn without_a_guard_nothing_is_applied() {
    let Some((ns, before)) = with_first("confirm-noguard") else { return };
    // A run dir that cannot be made: the guard has nowhere to keep its state.
    let not_a_dir = shriek_testkit::temp_file("not-a-run-dir", "");
    let out = shriek_testkit::command(BIN)
        .args(["apply", "--replace", "--confirm", "3", "--netns", &ns.name, SECOND])
        .env("SHRIEKC_RUN_DIR", &not_a_dir)
        .stdin(Stdio::null())
        .output()
        .expect("shriekc runs");
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(
        stderr.starts_with(
            "error: cannot start the confirm guard, so nothing was applied: cannot create"
        ),
        "{stderr}"
    );
    assert_eq!(ns.nft(&["list", "ruleset"]), before);
}

#[test]
fn sigterm_to_the_guard_rolls_back_at_once() {
    let Some((ns, before)) = with_first("confirm-gterm") else { return };
    let child = confirming(&ns);
    let ok = Command::new("kill").args(["-TERM", &guard_pid(&ns)]).status().expect("kill runs");
    assert!(ok.success());
    let (code, stderr) = stderr_of(child);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("because the guard got SIGTERM"), "{stderr}");
    assert_eq!(ns.nft(&["list", "ruleset"]), before);
}
