//! The language additions of issue 10 against the real kernel: a policy
//! written in `.shr`, applied with `shriekc apply` into the host end of a
//! [`Wire`], and real packets from the client.
//!
//! Under `CI=true` these tests must run; elsewhere they skip with a message
//! when not root or when namespaces cannot be made.

use shriek_testkit::{text, Netns, Wire};

fn apply(ns: &Netns, policy: &str) {
    shriek_testkit::apply_forced(env!("CARGO_BIN_EXE_shriekc"), ns, policy);
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

/// Counts, in the client, the TCP resets and the ICMP and ICMPv6
/// admin-prohibited errors that reach it, in that order.
fn count_answers(w: &Wire) {
    w.client.sh(
        "nft add table inet seen && nft add chain inet seen input '{ type filter hook input priority 0; }' \
         && nft add rule inet seen input 'tcp flags & rst == rst' counter \
         && nft add rule inet seen input icmp type destination-unreachable icmp code admin-prohibited counter \
         && nft add rule inet seen input icmpv6 type destination-unreachable icmpv6 code admin-prohibited counter",
    );
}

/// The packet counts of the client's three counters (see [`count_answers`]).
fn answers(w: &Wire) -> [u64; 3] {
    let listing = w.client.nft(&["list", "table", "inet", "seen"]);
    let counts: Vec<u64> = listing
        .split("packets ")
        .skip(1)
        .filter_map(|rest| rest.split_whitespace().next()?.parse().ok())
        .collect();
    counts.try_into().unwrap_or_else(|_| panic!("three counters: {listing}"))
}

const REJECTS: &str = "table lang {\n  chain input hook input policy accept {\n    tcp dport 9999 reject with tcp reset\n    family ipv4 tcp dport 8080 reject with icmp admin-prohibited\n    tcp dport 22 reject with icmpx admin-prohibited\n    tcp dport 80 drop\n  }\n}\n";

#[test]
fn reject_with_answers_as_it_says() {
    let Some(w) = Wire::new() else { return };
    count_answers(&w);
    let all = ["tcp,10.9.0.1,9999", "tcp,fd09::1,9999", "tcp,10.9.0.1,8080", "tcp,fd09::1,22"];
    let open: String = all.iter().map(|p| format!("{} open\n", p.replace(',', " "))).collect();
    assert_eq!(w.probe(&all), open, "without a policy every port is open");

    apply(&w.host, REJECTS);
    // A reset refuses the connection at once, in either family.
    let out = w.probe(&["tcp,10.9.0.1,9999", "tcp,fd09::1,9999"]);
    assert_eq!(out, "tcp 10.9.0.1 9999 refused\ntcp fd09::1 9999 refused\n");
    assert_eq!(answers(&w), [2, 0, 0], "both answers were TCP resets");

    // `reject with icmp admin-prohibited` answers with that ICMP error, which
    // the client's kernel reports as an unreachable host, not a refusal.
    let out = w.probe(&["tcp,10.9.0.1,8080"]);
    assert_eq!(out, "tcp 10.9.0.1 8080 dropped\n");
    assert_eq!(answers(&w), [2, 1, 0], "the answer was ICMP admin-prohibited, not a reset");

    // `icmpx` answers an IPv6 packet in ICMPv6.
    let out = w.probe(&["tcp,fd09::1,22"]);
    assert_eq!(out, "tcp fd09::1 22 dropped\n");
    assert_eq!(answers(&w), [2, 1, 1], "the answer was ICMPv6 admin-prohibited");

    // A plain drop answers nothing: the client waits until it gives up.
    let out = w.probe(&["tcp,10.9.0.1,80"]);
    assert_eq!(out, "tcp 10.9.0.1 80 dropped\n");
    assert_eq!(answers(&w), [2, 1, 1], "a drop sends no answer");

    // The kernel's rules read back as the policy: nothing left to change.
    let policy = shriek_testkit::temp_file(&format!("{}.shr", w.host.name), REJECTS);
    let out = shriek_testkit::run(
        env!("CARGO_BIN_EXE_shriekc"),
        &["plan", "--detailed-exitcode", "--netns", &w.host.name, &policy.display().to_string()],
    );
    assert_eq!(out.status.code(), Some(0), "{}{}", text(&out.stdout), text(&out.stderr));
}
