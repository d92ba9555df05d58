//! Without CAP_NET_ADMIN the kernel refuses, and the error says so.

use std::process::Command;

use shriek_runtime::{ApplyOptions, RuntimeError};

use super::api::*;
use super::model::*;

/// Without CAP_NET_ADMIN the kernel refuses the batch, and the error says
/// what is needed. The test runs itself again inside the namespace with
/// every privilege dropped (SHRIEK_TEST_CHILD set), where it applies.
#[test]
fn without_privileges_apply_says_needs_root() {
    if std::env::var_os("SHRIEK_TEST_CHILD").is_some() {
        let err = apply(&small("shriek_priv", 22), &ApplyOptions::default()).unwrap_err();
        assert!(matches!(err, RuntimeError::Permission), "{err:?}");
        assert_eq!(err.to_string(), "talking to nf_tables needs root (CAP_NET_ADMIN)");
        return;
    }
    let Some(ns) = netns_or_skip("priv") else { return };
    let exe = std::env::current_exe().unwrap();
    let out = Command::new("ip")
        .args([
            "netns",
            "exec",
            &ns.name,
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
        ])
        .args(["--inh-caps=-all", "--bounding-set=-all"])
        .arg(exe)
        .args([
            "--exact",
            "privileges::without_privileges_apply_says_needs_root",
            "--test-threads=1",
        ])
        .env("SHRIEK_TEST_CHILD", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(ruleset_text(&ns), "");
}
