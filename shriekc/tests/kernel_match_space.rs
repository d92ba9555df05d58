//! Matches whose meaning the analysis models exactly, held to the real
//! kernel in network namespaces of the test's own: interface wildcards and
//! the family each ICMP belongs to.
//!
//! Under `CI=true` these tests must run; elsewhere they skip with a message
//! when not root or when namespaces cannot be made.

use shriek_testkit::{has_tool, temp_file, text, Netns};

fn shriekc(args: &[&str]) -> std::process::Output {
    shriek_testkit::run(env!("CARGO_BIN_EXE_shriekc"), args)
}

/// Whether one ping from `client` to `addr` gets its answer.
fn pings(client: &Netns, addr: &str) -> bool {
    client.try_sh(&format!("ping -c 1 -W 1 {addr}")).is_ok()
}

/// `iif vb*` matches a veth called `vb...` and not one called `xa...`.
#[test]
fn iif_wildcard_matches_a_veth_by_prefix() {
    let Some(host) = Netns::new("wild-host") else { return };
    let Some(client) = Netns::new("wild-client") else { return };
    if !has_tool("nft") || !has_tool("ping") {
        return;
    }
    for (dev, peer, net) in [("vbwild0", "p0", "10.77.0"), ("xawild0", "p1", "10.78.0")] {
        host.sh(&format!("ip link add {dev} type veth peer name {peer} netns {}", client.name));
        host.sh(&format!("ip link set {dev} up && ip addr add {net}.1/24 dev {dev}"));
        client.sh(&format!("ip link set {peer} up && ip addr add {net}.2/24 dev {peer}"));
    }
    let policy = temp_file(
        &format!("wild-{}.shr", std::process::id()),
        "table t {\n  chain input hook input policy accept {\n    iif vb* proto icmp drop\n  }\n}\n",
    );
    let path = policy.to_str().expect("utf-8 path");
    let applied = shriekc(&["apply", "--netns", &host.name, path]);
    assert_eq!(applied.status.code(), Some(0), "{}", text(&applied.stderr));
    assert!(host.nft(&["list", "ruleset"]).contains("iifname \"vb*\""));
    assert!(!pings(&client, "10.77.0.1"), "ping over vbwild0 passed `iif vb* drop`");
    assert!(pings(&client, "10.78.0.1"), "ping over xawild0 was dropped");
}

/// `proto icmp` does not match an IPv6 packet whose next header is 1, in
/// the kernel as in the evaluator; `proto != icmp` does.
#[test]
fn proto_icmp_leaves_icmp_carried_in_ipv6_alone() {
    let Some(ns) = Netns::new("icmp6") else { return };
    if !has_tool("nft") {
        return;
    }
    let policy = temp_file(
        &format!("icmp-{}.shr", std::process::id()),
        "table t {\n  chain output hook output policy accept {\n    proto icmp counter v4icmp\n    proto != icmp counter other\n  }\n}\n",
    );
    let path = policy.to_str().expect("utf-8 path");
    let applied = shriekc(&["apply", "--netns", &ns.name, path]);
    assert_eq!(applied.status.code(), Some(0), "{}", text(&applied.stderr));
    // An echo request in an IPv6 packet with next header 1.
    ns.sh(&format!(
        "{} -c 'import socket; s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, 1); s.sendto(bytes([8, 0, 0, 0, 0, 0, 0, 0]), (\"::1\", 0))'",
        shriek_testkit::python()
    ));
    let listed = ns.nft(&["list", "ruleset"]);
    let packets = |name: &str| {
        let at = listed.find(&format!("counter {name} {{")).expect("the counter is listed");
        let rest = &listed[at..];
        let n =
            rest.split("packets ").nth(1).expect("packets").split(' ').next().expect("a number");
        n.parse::<u64>().expect("a count")
    };
    assert_eq!(packets("v4icmp"), 0, "{listed}");
    assert!(packets("other") >= 1, "{listed}");
}
