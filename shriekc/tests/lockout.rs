//! The lockout guard against the real kernel: `apply` run inside a
//! namespace (as `ip netns exec` runs it) with `SSH_CONNECTION` set to a
//! flow of that namespace. Under `CI=true` these tests must run.

use std::process::{Command, Output};

use shriek_testkit::{has_tool, root, temp_file, text, Netns};

const BIN: &str = env!("CARGO_BIN_EXE_shriekc");

/// Lets new SSH in from 192.0.2.0/24 only, and no established traffic: a
/// session from 10.77.0.2 dies with its next packet.
const DROPS_SESSION: &str = "table guard {
  chain input hook input policy drop {
    saddr 192.0.2.0/24 tcp dport 22 accept
  }
}
";

/// No new SSH from anywhere.
const DROPS_ALL_SSH: &str = "table guard {
  chain input hook input policy drop {
    ct state established,related accept
    tcp dport 443 accept
  }
}
";

const SESSION: &str = "10.77.0.2 50022 10.77.0.1 22";

/// `shriekc ARGS` run inside `ns`, with `SSH_CONNECTION` set.
fn inside(ns: &Netns, args: &[&str]) -> Output {
    Command::new("ip")
        .args(["netns", "exec", &ns.name, BIN])
        .args(args)
        .current_dir(root())
        .env("NO_COLOR", "1")
        .env("SHRIEKC_RUN_DIR", shriek_testkit::run_dir())
        .env("SSH_CONNECTION", SESSION)
        .output()
        .expect("shriekc runs")
}

/// A namespace where the session's client is reached through `d0`, with
/// core.shr applied so that "unchanged" means something.
fn namespace(tag: &str) -> Option<Netns> {
    let ns = Netns::new(tag)?;
    if !has_tool("nft") {
        return None;
    }
    ns.sh("ip link add d0 type veth peer name d1 && ip link set d0 up && ip addr add 10.77.0.1/24 dev d0");
    let out = inside(&ns, &["apply", "examples/core.shr"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    Some(ns)
}

#[test]
fn apply_refuses_to_drop_its_own_session_unless_forced() {
    let Some(ns) = namespace("lockout-session") else { return };
    let file = temp_file("drops-session.shr", DROPS_SESSION);
    let file = file.to_str().expect("a UTF-8 temp path");
    let before = ns.nft(&["list", "ruleset"]);

    let refused = inside(&ns, &["apply", file]);
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused.stderr));
    let stderr = text(&refused.stderr);
    assert_eq!(stderr.lines().count(), 1, "one sentence: {stderr}");
    shriek_testkit::snapshot!("cli", "lockout_session_refused", stderr);
    assert_eq!(ns.nft(&["list", "ruleset"]), before, "nothing was applied");

    let forced = inside(&ns, &["apply", "--force", file]);
    assert_eq!(forced.status.code(), Some(0), "{}", text(&forced.stderr));
    assert!(text(&forced.stderr).starts_with("warning: the new policy drops this SSH session"));
    assert!(ns.nft(&["list", "tables"]).contains("table inet guard"));
}

#[test]
fn another_namespace_is_not_this_machine_s_ssh() {
    let Some(ns) = namespace("lockout-other") else { return };
    // From the test's own namespace, `--netns` names another one: a
    // sandbox, whose SSH this apply knows nothing about.
    for (name, policy) in [("session", DROPS_SESSION), ("all", DROPS_ALL_SSH)] {
        let file = temp_file(&format!("other-{name}.shr"), policy);
        let out = shriek_testkit::command(BIN)
            // Two policies, one table: the second takes it over.
            .args(["apply", "--replace", "--netns", &ns.name, file.to_str().expect("UTF-8")])
            .env("SSH_CONNECTION", SESSION)
            .output()
            .expect("shriekc runs");
        assert_eq!(out.status.code(), Some(0), "{name}: {}", text(&out.stderr));
        assert_eq!(text(&out.stderr), "", "{name}");
    }
}

#[test]
fn apply_refuses_to_drop_every_new_ssh_connection() {
    let Some(ns) = namespace("lockout-all") else { return };
    let file = temp_file("drops-all-ssh.shr", DROPS_ALL_SSH);
    let file = file.to_str().expect("a UTF-8 temp path");
    let before = ns.nft(&["list", "ruleset"]);

    let refused = inside(&ns, &["apply", file]);
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused.stderr));
    shriek_testkit::snapshot!("cli", "lockout_all_ssh_refused", text(&refused.stderr));
    assert_eq!(ns.nft(&["list", "ruleset"]), before, "nothing was applied");

    // A dry run changes nothing, so it only warns.
    let dry = inside(&ns, &["apply", "--dry-run", file]);
    assert_eq!(dry.status.code(), Some(0), "{}", text(&dry.stderr));
    assert!(text(&dry.stderr).starts_with("warning: the new policy drops every new SSH connection"));

    let forced = inside(&ns, &["apply", "--force", file]);
    assert_eq!(forced.status.code(), Some(0), "{}", text(&forced.stderr));
    assert!(ns.nft(&["list", "tables"]).contains("table inet guard"));
}
