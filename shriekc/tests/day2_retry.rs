//! The second try of an apply whose first batch spent its rules, through the
//! binary against the real kernel. A table written whole (new, or made
//! again) frees each rule as it is encoded; when another program commits
//! between the reading and the commit, the kernel refuses the batch, and
//! `apply` reads the policy again, lowers it and applies it once more.
//!
//! The concurrent change is made where a real one would land: the test
//! pauses `shriekc` after it planned (`SHRIEKC_TEST_PAUSE`), changes the
//! tables with `nft`, and lets it go on. The second try must apply the
//! policy as checked, keep the other program's table and the counts, and
//! refuse to apply a policy file edited in between.

use std::path::{Path, PathBuf};
use std::process::{Child, Output, Stdio};
use std::time::{Duration, Instant};

use shriek_testkit::{text, Netns};

const BIN: &str = env!("CARGO_BIN_EXE_shriekc");

/// Far longer than any of these runs takes; only a hang reaches it.
const HANG_GUARD: Duration = Duration::from_secs(120);

const POLICY: &str = "table retry {
  chain input hook input policy accept {
    proto icmp counter pings accept
    tcp dport 22 accept
  }
}
";

/// A folder of this test's own, holding the policy and the pause files.
fn folder(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("shriek-retry-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    std::fs::write(dir.join("p.shr"), POLICY).expect("write the policy");
    dir
}

fn shriekc(dir: &Path, ns: &Netns, args: &[&str]) -> Output {
    let file = dir.join("p.shr");
    shriek_testkit::command(BIN)
        .args(args)
        .args(["--netns", &ns.name, &file.display().to_string()])
        .output()
        .expect("shriekc runs")
}

/// `shriekc apply` of the policy, paused once it has planned; `change`
/// runs there, then it goes on. Its output.
fn apply_paused(dir: &Path, ns: &Netns, change: impl FnOnce()) -> Output {
    let pause = dir.join("pause");
    std::fs::create_dir_all(&pause).expect("pause dir");
    let file = dir.join("p.shr").display().to_string();
    let child: Child = shriek_testkit::command(BIN)
        .args(["apply", "--netns", &ns.name, &file])
        .env("SHRIEKC_TEST_PAUSE", &pause)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("shriekc starts");
    let start = Instant::now();
    while !pause.join("planned").exists() {
        assert!(start.elapsed() < HANG_GUARD, "shriekc never reached its commit");
        std::thread::sleep(Duration::from_millis(10));
    }
    change();
    std::fs::write(pause.join("go"), "").expect("let shriekc go on");
    let out = child.wait_with_output().expect("shriekc ends");
    let _ = std::fs::remove_dir_all(&pause);
    out
}

fn pings(dir: &Path, ns: &Netns) -> u64 {
    let out = shriekc(dir, ns, &["counters", "--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("counters JSON");
    doc["counters"][0]["packets"].as_u64().expect("a packet count")
}

/// A new table, spent by its first batch: the second try applies it whole
/// and leaves the other program's table alone.
#[test]
fn a_new_table_is_applied_on_the_second_try() {
    let Some(ns) = Netns::new("retry-new") else { return };
    let dir = folder("new");
    let out = apply_paused(&dir, &ns, || {
        ns.sh("nft add table inet other");
    });
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).starts_with("applied"), "{}", text(&out.stdout));
    let tables = ns.sh("nft list tables");
    assert!(tables.contains("table inet retry") && tables.contains("table inet other"), "{tables}");
    let listed = ns.sh("nft list chain inet retry input");
    assert!(
        listed.contains("tcp dport 22 counter") && listed.contains("name \"pings\""),
        "{listed}"
    );
    let plan = shriekc(&dir, &ns, &["plan"]);
    assert_eq!(text(&plan.stdout), "no changes\n", "{}", text(&plan.stderr));
    let _ = std::fs::remove_dir_all(&dir);
}

/// A table made again (it holds a quota shriekc cannot read back) keeps its
/// counts across the second try.
#[test]
fn a_table_made_again_keeps_its_counts_on_the_second_try() {
    let Some(ns) = Netns::new("retry-again") else { return };
    let dir = folder("again");
    let first = shriekc(&dir, &ns, &["apply"]);
    assert_eq!(first.status.code(), Some(0), "{}", text(&first.stderr));
    ns.sh("ping -c 3 -i 0.2 -q 127.0.0.1 >/dev/null");
    let before = pings(&dir, &ns);
    assert!(before >= 6, "{before}");
    ns.sh("nft add quota inet retry q '{ over 1 mbytes }'");
    let out = apply_paused(&dir, &ns, || {
        ns.sh("nft add table inet other");
    });
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let said = text(&out.stdout);
    assert!(said.contains("cannot read back object `q`"), "{said}");
    assert!(!ns.sh("nft list table inet retry").contains("quota"));
    assert!(ns.sh("nft list tables").contains("table inet other"));
    assert!(pings(&dir, &ns) >= before, "the second try lost the counts");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The policy file edited while the first batch was refused: the second try
/// would apply rules the analysis never saw, so nothing is applied.
#[test]
fn a_policy_edited_before_the_second_try_is_not_applied() {
    let Some(ns) = Netns::new("retry-edit") else { return };
    let dir = folder("edit");
    let out = apply_paused(&dir, &ns, || {
        ns.sh("nft add table inet other");
        let edited = POLICY.replace("tcp dport 22 accept", "tcp dport 23 accept");
        std::fs::write(dir.join("p.shr"), edited).expect("edit the policy");
    });
    let said = text(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "{said}");
    assert!(said.contains("changed since it was checked; nothing was applied"), "{said}");
    assert!(!ns.sh("nft list tables").contains("table inet retry"));
    let _ = std::fs::remove_dir_all(&dir);
}
