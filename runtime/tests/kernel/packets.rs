//! Real packets over a veth pair meet the applied policy.

use shriek_compiler::ir::ChainPolicy;
use shriek_compiler::nft::{Elem, Expr, RejectWith, Rhs, Ruleset, Selector, Verdict};
use shriek_testkit::Wire;

use super::api::*;
use super::model::*;

fn wire() -> Option<Wire> {
    Wire::new()
}

fn probe(w: &Wire, probes: &[&str]) -> String {
    w.probe(probes)
}

#[test]
fn real_packets_meet_the_policy() {
    let Some(w) = wire() else { return };
    use Selector::*;
    let icmp = |i| {
        rule(
            i,
            vec![
                is(&[L4proto], Rhs::Set(vec![Elem(vec![int(1)]), Elem(vec![int(58)])])),
                Expr::Verdict(Verdict::Accept),
            ],
        )
    };
    let rs = Ruleset {
        tables: vec![table(
            "shriek_wire",
            vec![input(
                ChainPolicy::Drop,
                vec![
                    established(0),
                    icmp(1),
                    port_rule(2, TCP, 22, Verdict::Accept),
                    port_rule(3, UDP, 53, Verdict::Accept),
                    port_rule(4, TCP, 80, Verdict::Reject(RejectWith::PortUnreachable)),
                    rule(
                        5,
                        vec![
                            is(&[Ip6Saddr], Rhs::Value(Elem(vec![net("fd09::", 64)]))),
                            is(&[L4proto], val(TCP)),
                            is(&[ThDport], val(8080)),
                            Expr::Verdict(Verdict::Accept),
                        ],
                    ),
                ],
            )],
        )],
    };
    let probes = [
        "tcp,10.9.0.1,22",
        "tcp,10.9.0.1,80",
        "tcp,10.9.0.1,8080",
        "tcp,10.9.0.1,9999",
        "udp,10.9.0.1,53",
        "udp,10.9.0.1,5353",
        // No IPv6 reject probe: this kernel sends no ICMPv6 error for a
        // reject in input even with nft's own ruleset, so it looks dropped.
        "tcp,fd09::1,22",
        "tcp,fd09::1,8080",
        "tcp,fd09::1,9999",
        "udp,fd09::1,53",
        "udp,fd09::1,5353",
    ];
    // Without a policy everything is open.
    assert!(!probe(&w, &probes[..1]).contains("dropped"));
    apply(&rs, &w.host.opts()).unwrap();
    snapshot("real_packets", &probe(&w, &probes));
}
