//! The law the carry-over stands on: whatever the strategy a policy
//! was lowered with, each of its counted objects says (as one rule)
//! what an object of the same source rule says in the policy lowered
//! any other way, and no other rule's.

use proptest::prelude::{any, prop, prop_assert, prop_assert_eq, proptest, ProptestConfig};
use proptest::strategy::Strategy as _;
use shriek_compiler::identity::identity;
use shriek_compiler::ir::RuleId;
use shriek_compiler::lower::{lower, Strategy};
use shriek_compiler::nft::{self, Expr};

use shriek_compiler::diff::structural;

use super::{
    as_rule, deleted_elements, deleted_rules, identity_of, lookups, owners_of, Path, Said,
};

/// One rule of a generated chain: its protocol, its ports (values and
/// ranges in a block of its own, so that rules are disjoint), whether
/// it drops, and whether it counts by name too (a rule with statements).
#[derive(Clone, Debug)]
struct Rule {
    udp: bool,
    ports: Vec<(u16, u16)>,
    drop: bool,
    named: bool,
    /// A rule before it that no port rule shares a map with.
    cut: bool,
}

fn rule() -> impl proptest::strategy::Strategy<Value = Rule> {
    let ports = prop::collection::btree_set((0u16..20, 0u16..3), 1..4);
    (any::<bool>(), ports, any::<bool>(), any::<bool>(), prop::bool::weighted(0.2)).prop_map(
        |(udp, ports, drop, named, cut)| Rule {
            udp,
            ports: ports.into_iter().map(|(p, w)| (p * 4, p * 4 + w)).collect(),
            drop,
            named,
            cut,
        },
    )
}

/// Ports and port ranges in the block that starts at `block`: `1004, 1008-1010`.
fn ports_text(block: u16, ports: &[(u16, u16)]) -> String {
    let one = |&(a, b): &(u16, u16)| match a == b {
        true => (block + a).to_string(),
        false => format!("{}-{}", block + a, block + b),
    };
    ports.iter().map(one).collect::<Vec<_>>().join(", ")
}

fn text(rules: &[Rule]) -> String {
    let mut out = String::from("table t {\n  chain input hook input policy drop {\n");
    for (i, r) in rules.iter().enumerate() {
        if r.cut {
            out += &format!("    saddr 10.0.0.{} drop\n", i + 1);
        }
        let ports = ports_text(1000 + 100 * i as u16, &r.ports);
        let counter = if r.named { format!(" counter c{i}") } else { String::new() };
        out += &format!(
            "    {} dport {{ {} }}{counter} {}\n",
            if r.udp { "udp" } else { "tcp" },
            ports,
            if r.drop { "drop" } else { "accept" }
        );
    }
    out + "  }\n}\n"
}

/// Each counted object of `t` with one source rule: what it says, and
/// its rule.
fn counted(t: &nft::Table) -> Vec<(Said, RuleId)> {
    let mut out = Vec::new();
    for c in &t.chains {
        for r in &c.rules {
            if let ([o], true) = (r.origin.as_slice(), r.exprs.contains(&Expr::Counter(None))) {
                out.push(((c.name.clone(), identity(r)), o.rule));
            }
        }
    }
    for (map, chain, lookup) in lookups(t) {
        let s = t.sets.iter().find(|s| s.name == map).expect("a looked up map");
        for e in s.elements.iter().filter(|_| s.counters) {
            let [o] = e.origin.as_slice() else { continue };
            let chains = t.chains.iter().map(|c| (c.name.as_str(), c)).collect();
            let exprs = as_rule(&chains, lookup, &s.key, &[e]).expect("a verdict map");
            out.push(((chain.to_string(), identity_of(&exprs)), o.rule));
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(shriek_testkit::prop_cases(64)))]

    #[test]
    fn every_counted_object_is_its_own_rules_in_every_lowering(
        rules in prop::collection::vec(rule(), 1..12)
    ) {
        let text = text(&rules);
        let fe = shriek_compiler::resolve::resolve_str("t.shr", &text);
        let policy = fe.policy.as_ref().expect("a valid policy");
        let lowered: Vec<nft::Ruleset> =
            Strategy::ALL.iter().map(|s| lower(policy, *s).ruleset).collect();
        for (a, from) in Strategy::ALL.iter().zip(&lowered) {
            for (b, to) in Strategy::ALL.iter().zip(&lowered) {
                let owners = owners_of(&to.tables[0], None);
                for (said, rule) in counted(&from.tables[0]) {
                    prop_assert_eq!(
                        owners.get(&said),
                        Some(&rule),
                        "{:?} from {:?} to {:?}\n{}",
                        said,
                        a,
                        b,
                        text
                    );
                }
            }
        }
    }
}

/// One line of a chain for the edit law: its kind of match, its ports
/// (in a block of its own, named by `id`, so that no two lines are alike)
/// and its verdict.
#[derive(Clone, Debug)]
struct Line {
    id: u16,
    kind: u8,
    ports: Vec<(u16, u16)>,
    drop: bool,
}

fn line(id: u16) -> impl proptest::strategy::Strategy<Value = Line> {
    let ports = prop::collection::btree_set((0u16..20, 0u16..3), 1..3);
    (0u8..5, ports, any::<bool>()).prop_map(move |(kind, ports, drop)| Line {
        id,
        kind,
        ports: ports.into_iter().map(|(p, w)| (p * 4, p * 4 + w)).collect(),
        drop,
    })
}

fn chain_text(lines: &[Line]) -> String {
    let mut out = String::from("table t {\n  chain input hook input policy drop {\n");
    for l in lines {
        let ports = ports_text(1000 + 100 * l.id, &l.ports);
        let verdict = if l.drop { "drop" } else { "accept" };
        out += &match l.kind {
            0 => format!("    tcp dport {{ {ports} }} {verdict}\n"),
            1 => format!("    udp dport {{ {ports} }} {verdict}\n"),
            2 => format!("    saddr 10.0.{}.0/24 tcp dport {{ {ports} }} {verdict}\n", l.id % 4),
            3 => format!("    daddr 10.1.0.{} udp dport {{ {ports} }} {verdict}\n", l.id % 7),
            _ => format!("    saddr 10.9.{}.0/24 {verdict}\n", l.id),
        };
    }
    out + "  }\n}\n"
}

fn lines() -> impl proptest::strategy::Strategy<Value = Vec<Line>> {
    (1usize..16).prop_flat_map(|n| (0..n as u16).map(line).collect::<Vec<_>>())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(shriek_testkit::prop_cases(64)))]

    /// Issue 9's promise at its strongest: lowered one rule at a time, a
    /// policy edited at one rule (changed, inserted or removed) keeps every
    /// other rule's counted objects, so no packet they count is lost to an
    /// apply however much traffic flows. (`auto` and `dispatch` move a
    /// rule's count when an edit changes the shape of its run; that count
    /// is carried, less what the apply's few milliseconds saw.)
    #[test]
    fn a_one_rule_edit_keeps_every_other_rules_counters_in_sequential(
        old in lines(), at in any::<prop::sample::Index>(), how in 0u8..3, new in line(99)
    ) {
        let k = at.index(old.len());
        let mut edited = old.clone();
        match how {
            0 => edited[k] = new,
            1 => edited.insert(k, new),
            _ => { edited.remove(k); }
        }
        let (a, b) = (chain_text(&old), chain_text(&edited));
        let lowered = |text: &str| {
            let fe = shriek_compiler::resolve::resolve_str("t.shr", text);
            lower(fe.policy.as_ref().expect("a valid policy"), Strategy::Sequential).ruleset
        };
        let (from, to) = (lowered(&a), lowered(&b));
        let delta = structural::diff(&from, &to);
        let t = &from.tables[0];
        let mut lost: Vec<String> = Vec::new();
        if let Some(td) = delta.tables.first() {
            for (ci, ri) in deleted_rules(t, Path::InPlace(td)) {
                let r = &t.chains[ci].rules[ri];
                let touched = r.origin.iter().all(|o| how != 1 && o.rule.index as usize == k);
                if r.exprs.contains(&Expr::Counter(None)) && !touched {
                    lost.push(format!("rule {:?}", r.origin));
                }
            }
            for (si, elements) in deleted_elements(t, Path::InPlace(td)) {
                for e in elements.filter(|_| t.sets[si].counters) {
                    if !e.origin.iter().all(|o| how != 1 && o.rule.index as usize == k) {
                        lost.push(format!("element of {:?} in {}", e.origin, t.sets[si].name));
                    }
                }
            }
        }
        prop_assert!(lost.is_empty(), "edit {} at {}: {:?}\n{}\n{}", how, k, lost, a, b);
    }
}
