//! Network namespaces by name, as `ip netns` keeps them in /run/netns.
//!
//! A namespace is only ever made when the caller asks ([`ensure_netns`],
//! behind `--create-netns`): a typo in `--netns` must be an error naming
//! the namespace, not a fresh empty one that silently takes the policy.

use std::fs::File;
use std::io::ErrorKind;
use std::path::PathBuf;
use std::process::Command;

use nix::sched::{setns, CloneFlags};

use crate::error::RuntimeError;

/// Creates network namespace `name` like `ip netns add` when it does not
/// exist, without moving the caller into it.
pub fn ensure_netns(name: &str) -> Result<(), RuntimeError> {
    check_name(name)?;
    if !path(name).exists() {
        let out = Command::new("ip")
            .args(["netns", "add", name])
            .output()
            .map_err(|e| netns_err(name, format!("cannot run `ip netns add`: {e}")))?;
        if !out.status.success() {
            let why = String::from_utf8_lossy(&out.stderr).trim().to_lowercase();
            return Err(netns_err(name, format!("`ip netns add` failed: {why}")));
        }
    }
    Ok(())
}

/// Network namespace `name` exists; an error naming it when it does not.
pub fn netns_exists(name: &str) -> Result<(), RuntimeError> {
    check_name(name)?;
    if path(name).exists() {
        Ok(())
    } else {
        Err(RuntimeError::NoNetns { name: name.to_string() })
    }
}

/// Whether `name` is the network namespace this process runs in (as
/// `ip netns exec NAME` would arrange), compared by the namespace's inode.
pub fn is_current_netns(name: &str) -> bool {
    use std::os::unix::fs::MetadataExt;
    let (Ok(ours), Ok(theirs)) =
        (std::fs::metadata("/proc/self/ns/net"), std::fs::metadata(path(name)))
    else {
        return false;
    };
    (ours.dev(), ours.ino()) == (theirs.dev(), theirs.ino())
}

/// Moves the calling thread into network namespace `name`.
pub(crate) fn enter(name: &str) -> Result<(), RuntimeError> {
    check_name(name)?;
    let file = File::open(path(name)).map_err(|e| match e.kind() {
        ErrorKind::NotFound => RuntimeError::NoNetns { name: name.to_string() },
        _ => netns_err(name, e.to_string().to_lowercase()),
    })?;
    setns(file, CloneFlags::CLONE_NEWNET).map_err(|e| match e {
        nix::errno::Errno::EPERM => {
            netns_err(name, "entering it needs root (CAP_SYS_ADMIN)".to_string())
        }
        e => netns_err(name, e.desc().to_lowercase()),
    })
}

fn check_name(name: &str) -> Result<(), RuntimeError> {
    if name.is_empty() || name.contains('/') || name.starts_with('.') {
        return Err(netns_err(name, "not a namespace name".into()));
    }
    Ok(())
}

fn path(name: &str) -> PathBuf {
    PathBuf::from("/run/netns").join(name)
}

fn netns_err(name: &str, reason: String) -> RuntimeError {
    RuntimeError::Netns { name: name.to_string(), reason }
}
