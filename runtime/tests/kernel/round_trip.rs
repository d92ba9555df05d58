//! What `encode` writes, `decode` reads back as the same rules: every
//! example policy applies each way and then plans empty, with the
//! identities it stored, and a set too big for one message goes over
//! several.

use shriek_compiler::lower::Strategy;
use shriek_compiler::nft::{Elem, Element, Expr, Rhs, Ruleset, Selector, Set, Verdict};
use shriek_runtime::Desired;

use super::api::*;
use super::model::*;

/// Every example policy, lowered each way, applies and then plans empty.
#[test]
fn example_policies_apply_and_plan_clean() {
    use shriek_compiler::lower::lower;
    let Some(ns) = netns_or_skip("examples") else { return };
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples");
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "shr"))
        .collect();
    paths.sort();
    let mut applied = 0;
    let mut failures = Vec::new();
    for path in paths {
        let text = std::fs::read_to_string(&path).unwrap();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let fe = shriek_compiler::resolve::resolve_str(&name, &text);
        let Some(policy) = &fe.policy else { continue };
        // One after another into one namespace, as one policy: each apply
        // changes what the one before left, in place.
        for strategy in Strategy::ALL {
            let rs = lower(policy, strategy).ruleset;
            let d = Desired { sources: &fe.sources, ..desired(&rs, strategy) };
            match shriek_runtime::apply(&d, &ns.opts()) {
                Ok(_) => {
                    applied += 1;
                    failures.extend(identities_read_back(&rs, ns.netns(), &name, strategy));
                    let plan = plan_as(&rs, strategy, ns.netns());
                    if !plan.is_empty() {
                        failures.push(format!(
                            "{name} ({}): plan after apply:\n{}",
                            strategy.keyword(),
                            plan_text(&plan, &rs)
                        ));
                    }
                }
                Err(e) => failures.push(format!("{name} ({}): {e}", strategy.keyword())),
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(applied > 0, "no example resolved");
    // NAT is the part hand-built models above do not cover: look at it.
    let text = std::fs::read_to_string(format!("{dir}/load-balancer.shr")).unwrap();
    let fe = shriek_compiler::resolve::resolve_str("load-balancer.shr", &text);
    let rs = lower(fe.policy.as_ref().unwrap(), Strategy::Auto).ruleset;
    let d = Desired { sources: &fe.sources, ..desired(&rs, Strategy::Auto) };
    shriek_runtime::apply(&d, &ns.opts()).unwrap();
    let tables: Vec<String> =
        rs.tables.iter().map(|t| ns.sh(&format!("nft list table inet {}", t.name))).collect();
    snapshot("example_load_balancer", &tables.concat());
}

/// Each rule read back has the identity `apply` stored with it: the
/// decoder reads back what the encoder wrote.
fn identities_read_back(
    rs: &Ruleset,
    netns: Option<&str>,
    name: &str,
    strategy: Strategy,
) -> Vec<String> {
    let names: Vec<String> = rs.tables.iter().map(|t| t.name.clone()).collect();
    let live = shriek_runtime::read_live(&names, POLICY, netns).unwrap();
    let mut wrong = Vec::new();
    for t in &live.tables {
        for (c, rules) in t.table.chains.iter().zip(&t.rules) {
            for (r, meta) in c.rules.iter().zip(rules) {
                let read = shriek_compiler::identity::identity(r);
                if meta.stored != Some(read) {
                    wrong.push(format!(
                        "{name} ({}): {}/{}: stored {:?}, read back {read} from `{}`",
                        strategy.keyword(),
                        t.table.name,
                        c.name,
                        meta.stored,
                        shriek_compiler::emit::rule_text(r)
                    ));
                }
            }
        }
    }
    wrong
}

/// Sets too big for one netlink attribute go over several messages.
#[test]
fn a_big_interval_set_applies_and_plans_clean() {
    let Some(ns) = netns_or_skip("bigset") else { return };
    let elements = (0..20_000u128)
        .map(|i| Element {
            key: Elem(vec![int(addr("10.0.0.0") + i * 4)]),
            data: None,
            origin: vec![],
        })
        .collect();
    let mut rs = small("shriek_big", 22);
    rs.tables[0].sets.push(Set {
        dynamic: None,
        name: "many".into(),
        key: vec![Selector::Ip4Saddr],
        interval: true,
        data: None,
        elements,
        counters: false,
        comment: None,
    });
    rs.tables[0].chains[0].rules.push(rule(
        1,
        vec![is(&[Selector::Ip4Saddr], Rhs::Named("many".into())), Expr::Verdict(Verdict::Drop)],
    ));
    let summary = apply(&rs, &ns.opts()).unwrap();
    assert!(summary.messages > 10, "{}", summary.messages);
    let again = plan(&rs, ns.netns());
    assert!(again.is_empty(), "{}", plan_text(&again, &rs));
    assert!(ns.sh("nft list set inet shriek_big many").contains("10.0.1.56"));
}
