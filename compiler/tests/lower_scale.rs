//! Large policies: `auto` folds thousands of port rules into a handful of
//! map lookups, and lowering stays fast.

use std::time::Instant;

use shriek_compiler::eval::{evaluate, LimitMode};
use shriek_compiler::ir::{
    BaseChain, Chain, ChainId, ChainKind, ChainPolicy, Hook, Policy, Rule, RuleId, Table, Verdict,
};
use shriek_compiler::lower::{lower, Strategy};
use shriek_compiler::nft_eval::evaluate_model;
use shriek_compiler::packet::default_tcp_flags;
use shriek_compiler::space::{
    CtState, Cube, Families, Family, Intervals, Packet, Protos, PROTO_TCP, PROTO_UDP,
};
use shriek_grammar::Loc;

fn rule(index: usize, space: Cube, verdict: Verdict) -> Rule {
    Rule {
        id: RuleId { table: 0, chain: ChainId(0), index: index as u32 },
        loc: Loc::default(),
        space: vec![space],
        actions: Vec::new(),
        verdict: Some(verdict),
        verdict_loc: None,
        allows: Vec::new(),
    }
}

fn port_rule(index: usize, proto: u8, port: u128, verdict: Verdict) -> Rule {
    let cube = Cube {
        proto: Protos::only(proto),
        dport: Some(Intervals::range(port, port)),
        ..Cube::full()
    };
    rule(index, cube, verdict)
}

fn policy(rules: Vec<Rule>) -> Policy {
    let chain = Chain {
        name: "input".into(),
        loc: Loc::default(),
        base: Some(BaseChain {
            hook: Hook::Input,
            kind: ChainKind::Filter,
            priority: 0,
            policy: ChainPolicy::Drop,
        }),
        rules,
    };
    Policy {
        tables: vec![Table {
            name: "t".into(),
            loc: Loc::default(),
            chains: vec![chain],
            counters: Vec::new(),
            rule_counters: true,
        }],
    }
}

fn tcp(dport: u16) -> Packet {
    Packet {
        family: Family::V4,
        proto: PROTO_TCP,
        saddr: 0x0a000001,
        daddr: 0x0a000002,
        sport: Some(40000),
        dport: Some(dport),
        iif: "eth0".into(),
        oif: String::new(),
        ct: CtState::New,
        icmp_type: None,
        icmp_code: None,
        tcp_flags: Some(default_tcp_flags(CtState::New)),
        mark: 0,
    }
}

/// Accept or drop, in a pattern that leaves few equal neighbours to merge.
fn verdict_of(i: usize) -> Verdict {
    if matches!((i * 7919) % 3, 0) {
        Verdict::Drop
    } else {
        Verdict::Accept
    }
}

#[test]
fn ten_thousand_port_rules_become_one_lookup() {
    let rules: Vec<Rule> =
        (0..10_000).map(|i| port_rule(i, PROTO_TCP, 10_000 + i as u128, verdict_of(i))).collect();
    let policy = policy(rules);
    let start = Instant::now();
    let lowered = lower(&policy, Strategy::Auto);
    let took = start.elapsed();
    let table = &lowered.ruleset.tables[0];
    let input = &table.chains[0];
    assert_eq!(input.rules.len(), 1, "{:?}", lowered.explain);
    assert_eq!(table.sets.len(), 1);
    let elements = table.sets[0].elements.len();
    // Neighbouring ports with the same verdict share an element.
    assert!((3_000..=10_000).contains(&elements), "{elements} elements");
    assert_eq!(lowered.explain.len(), 1);
    assert!(
        lowered.explain[0].text.contains("rules 1-10000 (10000 rules) -> one lookup"),
        "{}",
        lowered.explain[0].text
    );
    for port in (9_990..20_010).step_by(37) {
        let p = tcp(port);
        let want = evaluate(&policy, Hook::Input, &p, LimitMode::UnderRate).outcome;
        assert_eq!(evaluate_model(&lowered.ruleset, Hook::Input, &p).0, want, "port {port}");
    }
    eprintln!("10k port rules: auto lowering took {took:?}, 1 rule, 1 map of {elements} elements");
}

/// 100,000 rules of three kinds (tcp ports, udp ports, IPv4 sources with
/// ports), interleaved: every strategy's time is printed; `auto` must fold
/// them into a few lookups.
#[test]
fn hundred_thousand_rules() {
    let mut rules = Vec::new();
    for i in 0..100_000usize {
        let r = match i % 4 {
            0 | 1 => port_rule(i, PROTO_TCP, (i / 2 % 60_000) as u128 + 1, verdict_of(i)),
            2 => port_rule(i, PROTO_UDP, (i % 60_000) as u128, verdict_of(i)),
            // Source and port rules on ports the others leave alone: they
            // commute with them, so two maps can take everything.
            _ => {
                let a = 0x0a00_0000 + (i as u128) * 4;
                let cube = Cube {
                    family: Families::only(Family::V4),
                    proto: Protos::only(PROTO_TCP),
                    saddr: Some(Intervals::range(a, a + 3)),
                    dport: Some(Intervals::range(61_000, 61_010)),
                    ..Cube::full()
                };
                rule(i, cube, verdict_of(i))
            }
        };
        rules.push(r);
    }
    let policy = policy(rules);
    for strategy in Strategy::ALL {
        let start = Instant::now();
        let lowered = lower(&policy, strategy);
        let took = start.elapsed();
        let table = &lowered.ruleset.tables[0];
        let n_rules = table.chains[0].rules.len();
        let elements: usize = table.sets.iter().map(|s| s.elements.len()).sum();
        eprintln!(
            "100k rules, {}: {took:?}, {n_rules} nft rules, {} maps, {elements} elements",
            strategy.keyword(),
            table.sets.len()
        );
        if strategy == Strategy::Sequential {
            assert_eq!(n_rules, 100_000);
        } else {
            // One lookup per protocol for the port rules, one for the source rules.
            assert!(n_rules <= 3, "{n_rules} rules");
        }
        for port in [1u16, 2, 77, 30_000, 59_999, 60_001, 61_000] {
            let p = tcp(port);
            let want = evaluate(&policy, Hook::Input, &p, LimitMode::UnderRate).outcome;
            assert_eq!(evaluate_model(&lowered.ruleset, Hook::Input, &p).0, want, "port {port}");
        }
    }
}
