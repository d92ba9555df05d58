//! What the lockout guard needs from the machine: the SSH session
//! (`SSH_CONNECTION`), the interface its packets use, and the live tables.
//! The decision itself is `shriek_compiler::lockout`'s, and pure.

use std::process::Command;

use shriek_compiler::ir;
use shriek_compiler::lockout::{self, Session, Verdict};
use shriek_compiler::nft;

/// Asks the lockout question of `policy` about to be applied in `netns`.
///
/// Only for the namespace this process runs in (no `--netns`, or `ip netns
/// exec` into the one `--netns` names): that is where the session's packets
/// go and the machine the user reaches by SSH. Another namespace is a
/// sandbox or a container whose SSH this process knows nothing about.
pub(super) fn check(policy: &ir::Policy, netns: Option<&str>) -> Verdict {
    if !netns.is_none_or(shriek_runtime::is_current_netns) {
        return Verdict::default();
    }
    let session = std::env::var("SSH_CONNECTION").ok().and_then(|s| Session::parse(&s));
    let ifaces = session.as_ref().map(interfaces).unwrap_or_default();
    lockout::check(policy, &live(), session.as_ref().map(|s| (s, ifaces.as_slice())))
}

/// The live ruleset the new policy replaces.
///
/// FIXME: the runtime cannot yet read live tables back into the model (the
/// decoder is coming with incremental apply); until it can, every table
/// counts as missing, and a missing table accepts everything, so the
/// port 22 question errs towards refusing.
fn live() -> nft::Ruleset {
    nft::Ruleset::default()
}

/// The interface the session's packets use: the route to the client, as
/// the kernel would pick it; failing that, every interface there is.
fn interfaces(s: &Session) -> Vec<String> {
    let route = ip(&["-o", "route", "get", &s.client.to_string()]);
    if let Some(dev) = route.as_deref().and_then(route_dev) {
        return vec![dev];
    }
    ip(&["-o", "link", "show"]).map(|out| link_names(&out)).unwrap_or_default()
}

fn ip(args: &[&str]) -> Option<String> {
    let out = Command::new("ip").args(args).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `local 127.0.0.1 dev lo src 127.0.0.1 uid 0` → `lo`.
fn route_dev(line: &str) -> Option<String> {
    let mut words = line.split_whitespace();
    words.find(|w| *w == "dev")?;
    words.next().map(str::to_owned)
}

/// `2: eth0@if5: <BROADCAST,…> …` per line → `eth0`.
fn link_names(out: &str) -> Vec<String> {
    out.lines()
        .filter_map(|l| l.split(": ").nth(1))
        .map(|n| n.split('@').next().unwrap_or(n).to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_ip_output() {
        assert_eq!(
            route_dev("10.0.0.5 via 10.0.0.1 dev eth0 src 10.0.0.2 uid 0 \\    cache"),
            Some("eth0".into())
        );
        assert_eq!(route_dev("unreachable 10.0.0.5"), None);
        let links = "1: lo: <LOOPBACK,UP> mtu 65536\n5: v0@if4: <BROADCAST> mtu 1500\n";
        assert_eq!(link_names(links), ["lo", "v0"]);
    }
}
