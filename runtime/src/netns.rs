//! Network namespaces by name, as `ip netns` keeps them in /run/netns.

use std::fs::File;
use std::process::Command;

use nix::sched::{setns, CloneFlags};

use crate::error::RuntimeError;

/// Moves the calling thread into network namespace `name`, first creating
/// it like `ip netns add` when `create` is set and it does not exist.
pub fn enter_netns(name: &str, create: bool) -> Result<(), RuntimeError> {
    if create {
        ensure_netns(name)?;
    }
    enter(name)
}

/// Creates network namespace `name` like `ip netns add` when it does not
/// exist, without moving the caller into it.
pub fn ensure_netns(name: &str) -> Result<(), RuntimeError> {
    if !std::path::Path::new(&path(name)).exists() {
        let out = Command::new("ip")
            .args(["netns", "add", name])
            .output()
            .map_err(|e| netns_err(name, format!("cannot run `ip netns add`: {e}")))?;
        if !out.status.success() {
            let why = String::from_utf8_lossy(&out.stderr).trim().to_string();
            return Err(netns_err(name, format!("`ip netns add` failed: {why}")));
        }
    }
    Ok(())
}

pub(crate) fn enter(name: &str) -> Result<(), RuntimeError> {
    if name.is_empty() || name.contains('/') || name.starts_with('.') {
        return Err(netns_err(name, "not a namespace name".into()));
    }
    let file = File::open(path(name)).map_err(|e| netns_err(name, e.to_string().to_lowercase()))?;
    setns(file, CloneFlags::CLONE_NEWNET).map_err(|e| match e {
        nix::errno::Errno::EPERM => RuntimeError::Permission,
        e => netns_err(name, e.desc().to_lowercase()),
    })
}

fn path(name: &str) -> String {
    format!("/run/netns/{name}")
}

fn netns_err(name: &str, reason: String) -> RuntimeError {
    RuntimeError::Netns { name: name.to_string(), reason }
}
