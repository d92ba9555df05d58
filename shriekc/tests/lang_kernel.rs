//! The language additions of issue 10 against the real kernel: a policy
//! written in `.shr`, applied with `shriekc apply` into the host end of a
//! [`Wire`], and real packets from the client.
//!
//! Under `CI=true` these tests must run; elsewhere they skip with a message
//! when not root or when namespaces cannot be made.

use shriek_testkit::{text, Netns, Wire};

fn apply(ns: &Netns, policy: &str) {
    let file = shriek_testkit::temp_file(&format!("{}.shr", ns.name), policy);
    let path = file.display().to_string();
    let out = shriek_testkit::run(
        env!("CARGO_BIN_EXE_shriekc"),
        &["apply", "--force", "--netns", &ns.name, &path],
    );
    assert_eq!(out.status.code(), Some(0), "apply failed: {}", text(&out.stderr));
}

/// Whether one ping from the client to `addr` is answered within a second.
fn pings(w: &Wire, addr: &str) -> bool {
    w.client.try_sh(&format!("ping -c 1 -W 1 {addr}")).is_ok()
}

fn input_drop(rules: &str) -> String {
    format!("table lang {{\n  chain input hook input policy drop {{\n{rules}\n  }}\n}}\n")
}

#[test]
fn ping_passes_with_echo_request_and_not_with_echo_reply() {
    let Some(w) = Wire::new() else { return };
    assert!(pings(&w, "10.9.0.1") && pings(&w, "fd09::1"), "without a policy ping works");

    apply(
        &w.host,
        &input_drop(
            "    icmp type echo-request accept\n    icmpv6 type { echo-request, nd-neighbor-solicit, nd-neighbor-advert } accept",
        ),
    );
    assert!(pings(&w, "10.9.0.1"), "icmp type echo-request lets ping in");
    assert!(pings(&w, "fd09::1"), "icmpv6 type echo-request lets ping6 in");

    apply(
        &w.host,
        &input_drop(
            "    icmp type echo-reply accept\n    icmpv6 type { echo-reply, nd-neighbor-solicit, nd-neighbor-advert } accept",
        ),
    );
    assert!(!pings(&w, "10.9.0.1"), "only echo-reply allowed: the request is dropped");
    assert!(!pings(&w, "fd09::1"), "only icmpv6 echo-reply allowed: the request is dropped");

    // The code is read too: a ping has code 0.
    apply(&w.host, &input_drop("    icmp type echo-request icmp code != 0 accept"));
    assert!(!pings(&w, "10.9.0.1"), "a ping's code is 0");
    apply(&w.host, &input_drop("    icmp type echo-request icmp code 0 accept"));
    assert!(pings(&w, "10.9.0.1"), "icmp code 0 holds for a ping");
}
