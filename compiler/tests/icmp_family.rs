//! `icmp` is ICMP for IPv4 and `icmpv6` ICMP for IPv6 (docs/language.md,
//! protocol names): `proto icmp` matches IPv4 packets of protocol 1 and no
//! IPv6 packet, even one whose next header is 1, which nft's bare
//! `meta l4proto icmp` would match in an `inet` table. The analysis, the
//! evaluator (so `trace`) and every lowering agree on it.

use proptest::prelude::*;
use shriek_compiler::analysis;
use shriek_compiler::emit::{emit_nft, packet_text};
use shriek_compiler::eval::{evaluate, LimitMode};
use shriek_compiler::ir::{Hook, Outcome};
use shriek_compiler::lower::{lower, Strategy as Lowering};
use shriek_compiler::nft_eval::trace_model;
use shriek_compiler::packet::parse_packet;
use shriek_compiler::resolve;
use shriek_compiler::space::{Family, Packet, PROTO_ICMP, PROTO_ICMPV6, PROTO_TCP};

fn line(sources: &shriek_grammar::SourceMap, loc: shriek_grammar::Loc) -> usize {
    sources.get(loc.file).line_col(loc.span.start).0
}

fn packet(spec: &str) -> Packet {
    parse_packet(spec).expect("a packet").0
}

const PINNED: &str = "table t {
  chain input hook input policy drop {
    proto icmp accept
    proto icmpv6 counter
    proto != icmp counter
    family ipv6 proto icmp accept
    saddr fd00::/8 proto 1 accept
  }
}
";

/// Kernel-free: what `proto icmp` compiles to, what the analysis says of
/// an ICMP pinned to the other family, and how `trace` reads packets.
#[test]
fn proto_icmp_pins_the_family_to_ipv4() {
    let fe = resolve::resolve_str("icmp.shr", PINNED);
    let policy = fe.policy.expect("resolves");
    let mut out = String::new();
    for strategy in Lowering::ALL {
        let text = emit_nft(&lower(&policy, strategy).ruleset, &fe.sources);
        assert!(
            text.contains("meta l4proto icmp meta nfproto ipv4 counter accept"),
            "{strategy:?}:\n{text}"
        );
        out += &format!("--- {} ---\n{text}", strategy.keyword());
    }
    shriek_testkit::snapshot!("compile", "icmp_family", out);

    let unmatchable: Vec<usize> = analysis::analyze(&policy)
        .iter()
        .filter(|d| d.name == "unmatchable-rule")
        .map(|d| line(&fe.sources, d.primary.loc))
        .collect();
    assert_eq!(unmatchable, [6, 7], "IPv6 with `proto icmp` matches no packet");

    let verdict = |p: &Packet| evaluate(&policy, Hook::Input, p, LimitMode::UnderRate);
    let v4 = verdict(&packet("icmp 10.0.0.1 -> 10.0.0.2"));
    assert_eq!((v4.outcome, v4.decided_by.map(|r| r.index)), (Outcome::Accept, Some(0)));
    // ICMP carried in IPv6: `proto icmp` does not match it, `proto != icmp` does.
    let carried = packet("1 [fd00::1] -> [fd00::2]");
    assert_eq!(carried.family, Family::V6);
    let t = verdict(&carried);
    assert_eq!((t.outcome, t.decided_by), (Outcome::Drop, None));
    assert!(
        t.steps
            .iter()
            .any(|s| matches!(s, shriek_compiler::eval::Step::Matched { rule } if rule.index == 2)),
        "{t:?}"
    );
    // `trace` refuses the name with the other family's addresses, with the fix.
    let err = parse_packet("icmp [fd00::1] -> [fd00::2]").expect_err("refused");
    assert!(err.contains("write `icmpv6`"), "{err}");
}

/// A protocol match: its family, its protocols (names or numbers) and `!=`.
#[derive(Clone, Debug)]
struct Rule {
    family: Option<Family>,
    protos: Vec<&'static str>,
    negated: bool,
    accept: bool,
}

const WORDS: [&str; 6] = ["icmp", "icmpv6", "1", "58", "tcp", "47"];

fn number(word: &str) -> u8 {
    match word {
        "icmp" => PROTO_ICMP,
        "icmpv6" => PROTO_ICMPV6,
        "tcp" => PROTO_TCP,
        n => n.parse().expect("a number"),
    }
}

impl Rule {
    fn text(&self) -> String {
        let mut s = String::new();
        if let Some(f) = self.family {
            s += if f == Family::V4 { "family ipv4 " } else { "family ipv6 " };
        }
        s += if self.negated { "proto != { " } else { "proto { " };
        s += &self.protos.join(", ");
        s += if self.accept { " } accept" } else { " } drop" };
        s
    }

    /// The language's rule, written out independently of the algebra.
    fn matches(&self, p: &Packet) -> bool {
        let foreign = match p.family {
            Family::V4 => PROTO_ICMPV6,
            Family::V6 => PROTO_ICMP,
        };
        let named = self.protos.iter().any(|w| number(w) == p.proto) && p.proto != foreign;
        self.family.is_none_or(|f| f == p.family) && named != self.negated
    }
}

fn rule() -> impl Strategy<Value = Rule> {
    let family = prop::option::weighted(0.3, prop_oneof![Just(Family::V4), Just(Family::V6)]);
    let protos = prop::collection::vec(prop::sample::select(WORDS.to_vec()), 1..3);
    (family, protos, prop::bool::weighted(0.3), any::<bool>())
        .prop_map(|(family, protos, negated, accept)| Rule { family, protos, negated, accept })
}

/// Every family with every protocol the rules name, and one more.
fn packets() -> Vec<Packet> {
    let mut out = Vec::new();
    for (src, dst) in [("10.0.0.1", "10.0.0.2"), ("[fd00::1]", "[fd00::2]")] {
        for proto in [1, 58, 6, 47, 17] {
            let ports = if proto == 6 || proto == 17 { (":1000", ":22") } else { ("", "") };
            out.push(packet(&format!("{proto} {src}{} -> {dst}{}", ports.0, ports.1)));
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    /// The evaluator, the analysis's `unmatchable-rule` and every lowering
    /// hold to the written-out rule for every family and protocol.
    #[test]
    fn proto_matches_follow_the_icmp_family(rules in prop::collection::vec(rule(), 1..5)) {
        let body: Vec<String> = rules.iter().map(Rule::text).collect();
        let text = format!(
            "table t {{\n  chain input hook input policy accept {{\n    {}\n  }}\n}}\n",
            body.join("\n    ")
        );
        let fe = resolve::resolve_str("p.shr", &text);
        let policy = fe.policy.expect("resolves");
        let lowered: Vec<_> = Lowering::ALL.iter().map(|&s| (s, lower(&policy, s))).collect();
        let diags = analysis::analyze(&policy);
        let all = packets();
        for (i, r) in rules.iter().enumerate() {
            let unmatchable = diags
                .iter()
                .any(|d| d.name == "unmatchable-rule" && line(&fe.sources, d.primary.loc) == i + 3);
            prop_assert_eq!(unmatchable, !all.iter().any(|p| r.matches(p)), "{}", text);
        }
        for p in &all {
            let want = match rules.iter().find(|r| r.matches(p)) {
                Some(r) if !r.accept => Outcome::Drop,
                _ => Outcome::Accept,
            };
            let got = evaluate(&policy, Hook::Input, p, LimitMode::UnderRate).outcome;
            prop_assert_eq!(got, want, "evaluator, packet {}\n{}", packet_text(p), text);
            for (strategy, l) in &lowered {
                let got = trace_model(&l.ruleset, Hook::Input, p, LimitMode::UnderRate).outcome;
                prop_assert_eq!(
                    got,
                    want,
                    "{:?}, packet {}\n{}\n{}",
                    strategy,
                    packet_text(p),
                    text,
                    emit_nft(&l.ruleset, &fe.sources)
                );
            }
        }
    }
}
