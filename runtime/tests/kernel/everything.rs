//! One table with everything the model can say: it applies and lists as
//! nft would, and a plan of changes to it reads as `plan` prints them.

use shriek_compiler::ir::{ChainPolicy, Limit, RateUnit, RejectWith};
use shriek_compiler::nft::{
    Chain, Data, DataType, Elem, Element, Expr, Part, Rhs, Ruleset, Selector, Set, Verdict,
};

use super::api::*;
use super::model::*;

/// Everything the model can say, in one table.
pub fn everything() -> Ruleset {
    use Selector::*;
    let verdict_map = Set {
        dynamic: None,
        name: "services".into(),
        key: vec![L4proto, ThDport],
        interval: false,
        data: Some(DataType::Verdict),
        elements: vec![
            Element {
                key: Elem(vec![int(TCP), int(22)]),
                data: Some(Data::Verdict(Verdict::Jump("ssh".into()))),
                origin: vec![origin(4, 400)],
            },
            Element {
                key: Elem(vec![int(UDP), int(53)]),
                data: Some(Data::Verdict(Verdict::Accept)),
                origin: vec![origin(4, 400)],
            },
        ],
        counters: false,
        comment: Some("dispatch on protocol and port".into()),
    };
    let ranges = Set {
        dynamic: None,
        name: "service_ranges".into(),
        key: vec![L4proto, ThDport],
        interval: true,
        data: Some(DataType::Verdict),
        elements: vec![Element {
            key: Elem(vec![int(TCP), Part::Int(8000, 8100)]),
            data: Some(Data::Verdict(Verdict::Accept)),
            origin: vec![origin(7, 700)],
        }],
        counters: false,
        comment: None,
    };
    let ports = Set {
        dynamic: None,
        name: "web".into(),
        key: vec![ThDport],
        interval: false,
        data: Some(DataType::Verdict),
        elements: vec![Element {
            key: Elem(vec![int(8080)]),
            data: Some(Data::Verdict(Verdict::Drop)),
            origin: vec![origin(8, 800)],
        }],
        counters: false,
        comment: None,
    };
    let blocked = Set {
        dynamic: None,
        name: "blocked".into(),
        key: vec![Ip4Saddr],
        interval: true,
        data: None,
        elements: vec![
            Element { key: Elem(vec![net("10.0.0.0", 8)]), data: None, origin: vec![] },
            Element { key: Elem(vec![int(addr("192.168.1.1"))]), data: None, origin: vec![] },
        ],
        counters: false,
        comment: None,
    };
    let input = input(
        ChainPolicy::Drop,
        vec![
            established(0),
            rule(
                1,
                vec![
                    is(&[Iifname], Rhs::Value(Elem(vec![Part::Str("lo".into())]))),
                    Expr::Verdict(Verdict::Accept),
                ],
            ),
            rule(
                2,
                vec![is(&[Ip4Saddr], Rhs::Named("blocked".into())), Expr::Verdict(Verdict::Drop)],
            ),
            rule(
                3,
                vec![
                    is(&[Ip6Saddr], Rhs::Value(Elem(vec![net("fe80::", 10)]))),
                    is(&[L4proto], val(UDP)),
                    is(&[ThDport], val(546)),
                    Expr::Verdict(Verdict::Accept),
                ],
            ),
            rule(4, vec![Expr::Vmap { key: vec![L4proto, ThDport], map: "services".into() }]),
            rule(
                5,
                vec![
                    is(&[L4proto], val(TCP)),
                    is(&[ThDport], Rhs::Set(vec![Elem(vec![int(80)]), Elem(vec![int(443)])])),
                    Expr::Counter(None),
                    Expr::Verdict(Verdict::Accept),
                ],
            ),
            rule(
                6,
                vec![
                    is(&[L4proto], val(UDP)),
                    is(&[ThDport], Rhs::Value(Elem(vec![Part::Int(1000, 2000)]))),
                    Expr::Limit(Limit { rate: 10, per: RateUnit::Second, burst: None }),
                    Expr::Log { prefix: Some("shriek: ".into()), level: None },
                    Expr::Verdict(Verdict::Reject(RejectWith::PortUnreachable)),
                ],
            ),
            rule(7, vec![Expr::Vmap { key: vec![L4proto, ThDport], map: "service_ranges".into() }]),
            rule(
                8,
                vec![
                    is(&[L4proto], val(TCP)),
                    Expr::Vmap { key: vec![ThDport], map: "web".into() },
                ],
            ),
            rule(
                9,
                vec![
                    not(
                        &[Ip4Saddr],
                        Rhs::Set(vec![
                            Elem(vec![net("10.0.0.0", 8)]),
                            Elem(vec![net("172.16.0.0", 12)]),
                        ]),
                    ),
                    is(&[L4proto], val(TCP)),
                    not(&[ThDport], Rhs::Value(Elem(vec![Part::Int(1, 1023)]))),
                    Expr::Verdict(Verdict::Drop),
                ],
            ),
        ],
    );
    let ssh = Chain {
        name: "ssh".into(),
        base: None,
        rules: vec![
            rule(10, vec![Expr::Counter(Some("ssh_hits".into()))]),
            rule(
                11,
                vec![
                    is(&[Ip4Saddr], Rhs::Value(Elem(vec![net("192.168.0.0", 16)]))),
                    Expr::Verdict(Verdict::Accept),
                ],
            ),
            rule(12, vec![Expr::Verdict(Verdict::Return)]),
        ],
        comment: Some("reached from services".into()),
    };
    let mut t = table("shriek_all", vec![input, ssh]);
    t.sets = vec![blocked, verdict_map, ranges, ports];
    t.counters = vec!["ssh_hits".into()];
    Ruleset { tables: vec![t] }
}

#[test]
fn apply_everything_lists_as_sane_nft() {
    let Some(ns) = netns_or_skip("all") else { return };
    let summary = apply(&everything(), &ns.opts()).unwrap();
    // The table, its counter, four sets, two chains and thirteen rules.
    assert_eq!(counts(&summary).add, 21);
    snapshot("apply_everything", &ns.sh("nft list table inet shriek_all"));
}

#[test]
fn plan_shows_what_apply_would_change() {
    let Some(ns) = netns_or_skip("plan") else { return };
    let rs = everything();
    let fresh = plan(&rs, ns.netns());
    assert!(!fresh.is_empty());
    let fresh = plan_text(&fresh, &rs);
    apply(&rs, &ns.opts()).unwrap();
    let same = plan(&rs, ns.netns());
    assert!(same.is_empty(), "{}", plan_text(&same, &rs));
    // Insert a rule, change one, drop a chain's rule, add a map element.
    let mut next = rs.clone();
    let t = &mut next.tables[0];
    t.chains[0].rules.insert(2, port_rule(20, TCP, 2222, Verdict::Accept));
    t.chains[0].rules[6].exprs.pop();
    t.chains[0].rules[6].exprs.push(Expr::Verdict(Verdict::Drop));
    t.chains[1].rules.remove(1);
    t.sets[1].elements.push(Element {
        key: Elem(vec![int(TCP), int(443)]),
        data: Some(Data::Verdict(Verdict::Accept)),
        origin: vec![],
    });
    t.counters.push("new_one".into());
    let text = format!(
        "--- fresh ---\n{fresh}--- changed ---\n{}",
        plan_text(&plan(&next, ns.netns()), &next)
    );
    snapshot("plan", &text);
}
