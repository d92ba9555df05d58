//! A cached reading's counts: the elements that leave a counting map are
//! read by key, with the counts a full dump gives them, against the real
//! kernel in a namespace of the test's own.

use shriek_compiler::ir::{BaseChain, ChainId, ChainKind, ChainPolicy, Hook, RuleId};
use shriek_compiler::lower::Strategy;
use shriek_compiler::nft::{
    Chain, Data, DataType, Elem, Element, Expr, Origin, Rule, Ruleset, Selector, Set, Table,
    Verdict,
};
use shriek_grammar::{FileId, Loc, SourceMap, Span};
use shriek_testkit::model::int;
use shriek_testkit::Netns;

use crate::apply::{apply, ApplyOptions};
use crate::desired::Desired;
use crate::plan::{count_leaving, plan, read_with, PlanOptions};
use crate::socket::Socket;

const TABLE: &str = "leaving";

fn origin(index: u32) -> Origin {
    Origin {
        rule: RuleId { table: 0, chain: ChainId(0), index },
        loc: Loc::new(FileId(0), Span::new(0, 1)),
    }
}

/// `udp dport vmap @m`, `m` counting, one element per port.
fn ruleset(ports: &[u16]) -> Ruleset {
    ruleset_logging(ports, None)
}

/// [`ruleset`], with a rule after the lookup that logs with `prefix`.
fn ruleset_logging(ports: &[u16], prefix: Option<&str>) -> Ruleset {
    let elements = ports
        .iter()
        .enumerate()
        .map(|(i, p)| Element {
            key: Elem(vec![int(u128::from(*p))]),
            data: Some(Data::Verdict(Verdict::Accept)),
            origin: vec![origin(i as u32)],
        })
        .collect();
    let m = Set {
        name: "m".into(),
        key: vec![Selector::ThDport],
        interval: false,
        data: Some(DataType::Verdict),
        elements,
        counters: true,
        comment: None,
        dynamic: None,
    };
    let input = Chain {
        name: "input".into(),
        base: Some(BaseChain {
            hook: Hook::Input,
            kind: ChainKind::Filter,
            priority: 0,
            policy: ChainPolicy::Accept,
        }),
        rules: [Expr::Vmap { key: vec![Selector::ThDport], map: "m".into() }]
            .into_iter()
            .chain(prefix.map(|p| Expr::Log { prefix: Some(p.into()), level: None }))
            .enumerate()
            .map(|(i, e)| Rule { exprs: vec![e], origin: vec![origin(i as u32)] })
            .collect(),
        comment: None,
    };
    Ruleset {
        tables: vec![Table {
            name: TABLE.into(),
            sets: vec![m],
            counters: vec![],
            chains: vec![input],
        }],
    }
}

#[test]
fn the_elements_leaving_a_cached_map_are_counted_as_a_dump_counts_them() {
    let Some(ns) = Netns::new("d2leaving") else { return };
    let sources = SourceMap::default();
    let policy = "/leaving.shr";
    let desired = |rs| Desired { ruleset: rs, sources: &sources, policy, strategy: Strategy::Auto };
    let opts = ApplyOptions { netns: Some(ns.name.clone()), ..Default::default() };
    let before = ruleset(&[5001, 5002, 5003]);
    apply(&desired(&before), &opts).expect("the first apply");
    // Two datagrams to 5002 (which leaves), one to 5003 (which stays).
    ns.sh("bash -c 'for p in 5002 5002 5003; do echo x > /dev/udp/127.0.0.1/$p; done'");
    let after = ruleset(&[5001, 5003, 5004]);
    let d = desired(&after);
    let names = d.table_names();
    let mut sock = Socket::open(Some(&ns.name)).expect("a socket");
    let live = read_with(&mut sock, &names, policy, Some(&ns.name)).expect("a reading");
    assert!(
        !live.tables[0].uncounted.is_empty(),
        "the map was not read from the cache: {:?}",
        live.tables[0].element_counts
    );
    let mut p = plan(&d, live, &PlanOptions::default()).expect("a plan");
    count_leaving(&mut sock, &mut p).expect("counts");
    let counts = &p.meta[0].element_counts["m"];
    let key = |port: u16| port.to_be_bytes().to_vec();
    // Only the element that leaves is read, with its two packets, as a
    // reading without the cache gives them.
    assert_eq!(counts.keys().collect::<Vec<_>>(), vec![&key(5002)], "{counts:?}");
    assert_eq!(counts[&key(5002)].packets, 2);
    let mut sock = Socket::open(Some(&ns.name)).expect("a socket");
    let dump = crate::dump::dump_table(&mut sock, TABLE).expect("a dump");
    let full = crate::decode::table(&dump).expect("the table");
    assert_eq!(full.element_counts["m"][&key(5002)], counts[&key(5002)]);
}

/// A map made anew beside the old one (`apply/beside.rs`: its elements
/// change and a rule changes too) goes by its staged name in the kernel;
/// the day-2 cache keeps it under that name, and when it is made anew
/// again, every element's count is read by key from the staged set, by
/// the policy's name, as a dump counts them.
#[test]
fn a_map_made_anew_is_cached_under_its_staged_name_and_counted_whole() {
    let Some(ns) = Netns::new("d2anew") else { return };
    let sources = SourceMap::default();
    let policy = "/anew.shr";
    let desired = |rs| Desired { ruleset: rs, sources: &sources, policy, strategy: Strategy::Auto };
    let opts = ApplyOptions { netns: Some(ns.name.clone()), ..Default::default() };
    let a = ruleset_logging(&[5001, 5002, 5003], Some("a"));
    apply(&desired(&a), &opts).expect("apply a");
    let b = ruleset_logging(&[5001, 5003, 5004], Some("b"));
    let done = apply(&desired(&b), &opts).expect("apply b");
    assert_eq!(done.beside, 1, "the map was not made anew");
    let listed = ns.nft(&["list", "table", "inet", TABLE]);
    assert!(listed.contains("map shriekc/staged/"), "{listed}");
    ns.sh("bash -c 'for p in 5003 5003 5003 5004; do echo x > /dev/udp/127.0.0.1/$p; done'");

    let c = ruleset_logging(&[5001, 5003, 5005], Some("c"));
    let d = desired(&c);
    let names = d.table_names();
    let mut sock = Socket::open(Some(&ns.name)).expect("a socket");
    let live = read_with(&mut sock, &names, policy, Some(&ns.name)).expect("a reading");
    assert!(live.tables[0].uncounted.contains_key("m"), "not cached as `m`: {live:?}");
    let planned = crate::apply::plan_ahead(&d, live, &PlanOptions::default(), Some(&ns.name))
        .expect("a plan");
    let p = &planned.plan;
    let counts = &p.meta[0].element_counts["m"];
    let key = |port: u16| port.to_be_bytes().to_vec();
    let mut keys: Vec<&Vec<u8>> = counts.keys().collect();
    keys.sort();
    assert_eq!(keys, [&key(5001), &key(5003), &key(5004)], "{counts:?}");
    assert_eq!((counts[&key(5003)].packets, counts[&key(5004)].packets), (3, 1));
    let mut sock = Socket::open(Some(&ns.name)).expect("a socket");
    let dump = crate::dump::dump_table(&mut sock, TABLE).expect("a dump");
    let full = crate::decode::table(&dump).expect("the table");
    assert_eq!(full.element_counts["m"], *counts);
}
