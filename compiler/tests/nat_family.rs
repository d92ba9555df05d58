//! A rule that translates addresses matches only packets of its target's
//! family (docs/language.md, NAT): an unpinned `dnat to $nas:22` lowers to
//! one IPv4 rule, not to an IPv4 rule and an IPv6 rule that only accepts.

use shriek_compiler::emit::emit_nft;
use shriek_compiler::eval;
use shriek_compiler::lower::{lower, Strategy};
use shriek_compiler::packet::parse_packet;
use shriek_compiler::resolve;

const UNPINNED: &str = "define nas = 10.0.0.5
table nat {
  chain pre hook prerouting type nat {
    iif wan0 tcp dport 2222 dnat to $nas:22
  }
}
";

#[test]
fn an_unpinned_nat_rule_takes_its_targets_family() {
    let fe = resolve::resolve_str("nat.shr", UNPINNED);
    let policy = fe.policy.expect("resolves");
    let mut out = String::new();
    for strategy in Strategy::ALL {
        let text = emit_nft(&lower(&policy, strategy).ruleset, &fe.sources);
        assert!(!text.contains("ipv6"), "{strategy:?} emits an IPv6 rule:\n{text}");
        out += &format!("--- {} ---\n{text}", strategy.keyword());
    }
    shriek_testkit::snapshot!("compile", "nat_unpinned_rule", out);

    // The evaluator agrees: an IPv6 packet is not matched by the rule.
    let run = |spec: &str| {
        let (packet, hook) = parse_packet(spec).expect("packet");
        let hook = hook.unwrap_or(shriek_compiler::ir::Hook::Prerouting);
        eval::evaluate(&policy, hook, &packet, eval::LimitMode::UnderRate).decided_by
    };
    assert!(run("tcp 192.0.2.1:40000 -> 192.0.2.2:2222 iif wan0 hook prerouting").is_some());
    assert!(run("tcp [2001:db8::1]:40000 -> [2001:db8::2]:2222 iif wan0 hook prerouting").is_none());
}
