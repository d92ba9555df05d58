//! The rule identity contract (`shriek_compiler::identity`): golden values
//! for a fixed set of rules, so any change to the canonical encoding fails
//! here, and the equivalences the contract promises.

use std::net::IpAddr;

use shriek_compiler::identity::{canonical, identity, Identity, ENCODING_VERSION};
use shriek_compiler::ir::{ChainId, Limit, RateUnit, RuleId};
use shriek_compiler::nft::{
    Elem, Expr, NatFamily, NatKind, NatStmt, NatTargetExpr, Origin, Part, Pick, Rhs, Rule,
    Selector, Verdict,
};
use shriek_grammar::{FileId, Loc, Span};
use shriek_testkit::model::{addr, int, is, not, set, val};

fn rule(exprs: Vec<Expr>) -> Rule {
    rule_at(exprs, 0)
}

fn rule_at(exprs: Vec<Expr>, line: usize) -> Rule {
    let origin = Origin {
        rule: RuleId { table: 0, chain: ChainId(0), index: line as u32 },
        loc: Loc::new(FileId(0), Span::new(line * 40, line * 40 + 20)),
    };
    Rule { exprs, origin: vec![origin] }
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

use Selector::*;

/// One rule of every kind of expression the model has.
fn golden_rules() -> Vec<(&'static str, Rule)> {
    vec![
        ("accept", rule(vec![Expr::Verdict(Verdict::Accept)])),
        (
            "tcp_port",
            rule(vec![
                is(&[L4proto], val(6)),
                is(&[ThDport], val(22)),
                Expr::Verdict(Verdict::Accept),
            ]),
        ),
        (
            "prefix_set_counter",
            rule(vec![
                is(
                    &[Ip4Saddr],
                    Rhs::Set(vec![
                        Elem(vec![Part::Int(addr("10.0.0.0"), addr("10.255.255.255"))]),
                        Elem(vec![Part::Int(addr("192.168.0.0"), addr("192.168.255.255"))]),
                    ]),
                ),
                is(&[L4proto], val(17)),
                not(&[ThDport], Rhs::Value(Elem(vec![Part::Int(1000, 2000)]))),
                Expr::Counter(None),
                Expr::Verdict(Verdict::Drop),
            ]),
        ),
        (
            "ifname_ct_log_limit",
            rule(vec![
                is(&[Iifname], Rhs::Value(Elem(vec![Part::Str("eth*".into())]))),
                is(&[CtState], Rhs::Flags(2 | 4)),
                Expr::Limit(Limit { rate: 10, per: RateUnit::Minute, burst: Some(20) }),
                Expr::Log { prefix: Some("drop: ".into()), level: None },
                Expr::Counter(Some("ssh_hits".into())),
                Expr::Verdict(Verdict::Reject(shriek_compiler::ir::RejectWith::PortUnreachable)),
            ]),
        ),
        (
            "concat_vmap_jump",
            rule(vec![
                not(
                    &[L4proto, ThDport],
                    Rhs::Set(vec![
                        Elem(vec![int(6), int(22)]),
                        Elem(vec![int(17), Part::Int(5000, 5100)]),
                    ]),
                ),
                Expr::Vmap { key: vec![Ip6Saddr], map: "by_source6".into() },
                Expr::Verdict(Verdict::Jump("audit".into())),
            ]),
        ),
        (
            "named_set_goto_return",
            rule(vec![
                is(&[Oifname], Rhs::Named("uplinks".into())),
                Expr::Verdict(Verdict::Goto("out".into())),
                Expr::Verdict(Verdict::Return),
            ]),
        ),
        (
            "dnat_fixed",
            rule(vec![
                is(&[Ip4Daddr], val(addr("192.0.2.80"))),
                Expr::Nat(NatStmt {
                    kind: NatKind::Dnat,
                    family: Some(NatFamily::Ip),
                    target: NatTargetExpr::Fixed { addr: ip("10.0.1.1"), port: Some(8080) },
                }),
            ]),
        ),
        (
            "dnat_balanced",
            rule(vec![Expr::Nat(NatStmt {
                kind: NatKind::Dnat,
                family: Some(NatFamily::Ip),
                target: NatTargetExpr::Balanced {
                    pick: Pick::SourceHash { seed: 7 },
                    modulus: 3,
                    slots: vec![
                        (0, 0, ip("10.0.2.1"), Some(443)),
                        (1, 2, ip("10.0.2.2"), Some(443)),
                    ],
                },
            })]),
        ),
        (
            "masquerade_redirect",
            rule(vec![
                Expr::Nat(NatStmt {
                    kind: NatKind::Masquerade,
                    family: None,
                    target: NatTargetExpr::None { port: None },
                }),
                Expr::Nat(NatStmt {
                    kind: NatKind::Redirect,
                    family: None,
                    target: NatTargetExpr::None { port: Some(3128) },
                }),
            ]),
        ),
        ("raw", rule(vec![Expr::Raw("@nh,64,8 64".into()), Expr::Verdict(Verdict::Drop)])),
    ]
}

/// Golden identities, encoding version 2 (version 1 kept the order of
/// matches side by side). If this test fails, the
/// canonical encoding changed: every live rule would look changed to
/// `plan`. Change it only on purpose, with `ENCODING_VERSION` bumped and
/// the change noted in ARCHITECTURE.md.
const GOLDEN: &[(&str, &str)] = &[
    ("accept", "ea8f0b1875d0bef3"),
    ("tcp_port", "0d56d134ce43418b"),
    ("prefix_set_counter", "59129bfe602a5b1b"),
    ("ifname_ct_log_limit", "1a4781aaece2bb05"),
    ("concat_vmap_jump", "4f4eb5ed4c2c312b"),
    ("named_set_goto_return", "7cabad4c2683070f"),
    ("dnat_fixed", "f8f67620af22400c"),
    ("dnat_balanced", "f140f6ec7f4f35e3"),
    ("masquerade_redirect", "0e17ae964a02a053"),
    ("raw", "6cb8e9b58c79e2cb"),
];

#[test]
fn identities_are_pinned() {
    assert_eq!(ENCODING_VERSION, 2);
    let got: Vec<(&str, String)> =
        golden_rules().iter().map(|(name, r)| (*name, identity(r).to_string())).collect();
    let want: Vec<(&str, String)> = GOLDEN.iter().map(|(n, h)| (*n, h.to_string())).collect();
    assert_eq!(
        got,
        want,
        "\n{}",
        got.iter().map(|(n, h)| format!("(\"{n}\", \"{h}\"),\n")).collect::<String>()
    );
}

#[test]
fn the_encoding_of_one_rule_is_pinned_byte_for_byte() {
    let r = rule(vec![is(&[L4proto], val(6)), Expr::Verdict(Verdict::Jump("c".into()))]);
    let hex: String = canonical(&r.exprs).iter().map(|b| format!("{b:02x}")).collect();
    let zeros = "00".repeat(15);
    assert_eq!(
        hex,
        format!(
            "02\
            01 01 02 00 01 01 01 {zeros}06 {zeros}06\
            05 04 00000001 63"
        )
        .replace(' ', "")
    );
}

fn same(a: Vec<Expr>, b: Vec<Expr>) {
    assert_eq!(identity(&rule(a.clone())), identity(&rule(b.clone())), "{a:?}\n{b:?}");
}

fn differ(a: Vec<Expr>, b: Vec<Expr>) {
    assert_ne!(identity(&rule(a.clone())), identity(&rule(b.clone())), "{a:?}\n{b:?}");
}

#[test]
fn where_a_rule_came_from_is_not_its_identity() {
    for (_, r) in golden_rules() {
        let moved = rule_at(r.exprs.clone(), 57);
        assert_eq!(identity(&r), identity(&moved));
    }
}

#[test]
fn equivalent_forms_share_an_identity() {
    let accept = Expr::Verdict(Verdict::Accept);
    // The family check an address load implies.
    same(
        vec![is(&[Nfproto], val(2)), is(&[Ip4Saddr], val(addr("10.0.0.1"))), accept.clone()],
        vec![is(&[Ip4Saddr], val(addr("10.0.0.1"))), accept.clone()],
    );
    // Matches side by side, in any order (nft's listing moves a protocol
    // match to the test that needs it when the ruleset is loaded again).
    same(
        vec![
            is(&[L4proto], val(6)),
            is(&[Ip4Daddr], val(1)),
            is(&[ThDport], val(1)),
            accept.clone(),
        ],
        vec![
            is(&[Ip4Daddr], val(1)),
            is(&[L4proto], val(6)),
            is(&[ThDport], val(1)),
            accept.clone(),
        ],
    );
    same(
        vec![is(&[Nfproto], val(2)), is(&[L4proto], val(1)), Expr::Counter(None), accept.clone()],
        vec![is(&[L4proto], val(1)), is(&[Nfproto], val(2)), Expr::Counter(None), accept.clone()],
    );
    // Set order, a set of one, touching ranges.
    same(
        vec![is(&[ThDport], set(&[443, 80])), accept.clone()],
        vec![is(&[ThDport], set(&[80, 443])), accept.clone()],
    );
    same(
        vec![is(&[ThDport], set(&[80])), accept.clone()],
        vec![is(&[ThDport], val(80)), accept.clone()],
    );
    same(
        vec![
            is(
                &[ThDport],
                Rhs::Set(vec![Elem(vec![Part::Int(1, 5)]), Elem(vec![Part::Int(6, 9)])]),
            ),
            accept.clone(),
        ],
        vec![is(&[ThDport], Rhs::Value(Elem(vec![Part::Int(1, 9)]))), accept.clone()],
    );
    // ct state as flags, a value or a set.
    same(
        vec![is(&[CtState], Rhs::Flags(2 | 4)), accept.clone()],
        vec![is(&[CtState], set(&[4, 2])), accept.clone()],
    );
    same(
        vec![not(&[CtState], Rhs::Flags(8)), accept.clone()],
        vec![not(&[CtState], val(8)), accept.clone()],
    );
    // The kernel's default burst.
    same(
        vec![Expr::Limit(Limit { rate: 1, per: RateUnit::Second, burst: None })],
        vec![Expr::Limit(Limit { rate: 1, per: RateUnit::Second, burst: Some(5) })],
    );
    // Balanced NAT slots, one per slot or merged.
    let lb = |slots| {
        vec![Expr::Nat(NatStmt {
            kind: NatKind::Dnat,
            family: Some(NatFamily::Ip),
            target: NatTargetExpr::Balanced { pick: Pick::RoundRobin, modulus: 3, slots },
        })]
    };
    same(
        lb(vec![(0, 0, ip("10.0.1.1"), Some(80)), (1, 2, ip("10.0.1.2"), Some(80))]),
        lb(vec![
            (2, 2, ip("10.0.1.2"), Some(80)),
            (0, 0, ip("10.0.1.1"), Some(80)),
            (1, 1, ip("10.0.1.2"), Some(80)),
        ]),
    );
}

#[test]
fn what_a_rule_does_is_its_identity() {
    let accept = Expr::Verdict(Verdict::Accept);
    differ(
        vec![is(&[ThDport], val(80)), accept.clone()],
        vec![is(&[ThDport], val(81)), accept.clone()],
    );
    differ(
        vec![is(&[ThDport], val(80)), accept.clone()],
        vec![is(&[ThSport], val(80)), accept.clone()],
    );
    differ(
        vec![is(&[ThDport], val(80)), accept.clone()],
        vec![not(&[ThDport], val(80)), accept.clone()],
    );
    differ(vec![accept.clone()], vec![Expr::Verdict(Verdict::Drop)]);
    differ(vec![Expr::Counter(None), accept.clone()], vec![accept.clone()]);
    differ(vec![Expr::Counter(Some("a".into()))], vec![Expr::Counter(Some("b".into()))]);
    differ(
        vec![Expr::Verdict(Verdict::Jump("a".into()))],
        vec![Expr::Verdict(Verdict::Goto("a".into()))],
    );
    // An explicit family check that no address implies stays.
    differ(vec![is(&[Nfproto], val(2)), accept.clone()], vec![accept.clone()]);
    differ(
        vec![is(&[Nfproto], val(10)), is(&[Ip4Saddr], val(1)), accept.clone()],
        vec![is(&[Ip4Saddr], val(1)), accept.clone()],
    );
    // A match's place among statements is part of it: a counter before a
    // match counts what the match turns away.
    differ(
        vec![is(&[ThDport], val(1)), Expr::Counter(None), accept.clone()],
        vec![Expr::Counter(None), is(&[ThDport], val(1)), accept.clone()],
    );
    differ(
        vec![is(&[L4proto], val(6)), Expr::Counter(None), is(&[ThDport], val(1))],
        vec![is(&[ThDport], val(1)), Expr::Counter(None), is(&[L4proto], val(6))],
    );
    // Strings and their lengths cannot run together.
    differ(
        vec![Expr::Log { prefix: Some("ab".into()), level: None }, Expr::Counter(Some("c".into()))],
        vec![Expr::Log { prefix: Some("a".into()), level: None }, Expr::Counter(Some("bc".into()))],
    );
}

#[test]
fn identity_prints_as_sixteen_hex_digits() {
    assert_eq!(Identity(0xab).to_string(), "00000000000000ab");
}
