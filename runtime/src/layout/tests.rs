use super::*;

fn rule(port: u32) -> nft::Rule {
    nft::Rule {
        exprs: vec![
            Expr::Match {
                key: vec![nft::Selector::ThDport],
                op: nft::CmpOp::Eq,
                rhs: nft::Rhs::Value(nft::Elem(vec![nft::Part::Int(port.into(), port.into())])),
            },
            Expr::Verdict(Verdict::Accept),
        ],
        origin: Vec::new(),
    }
}

fn table(rules: usize) -> nft::Table {
    nft::Table {
        name: "t".into(),
        sets: Vec::new(),
        counters: Vec::new(),
        chains: vec![nft::Chain {
            name: "input".into(),
            base: None,
            rules: (0..rules as u32).map(rule).collect(),
            comment: None,
        }],
    }
}

/// A rule of protocol `proto` (`meta l4proto P th dport N accept`).
fn proto_rule(proto: u8, port: u32) -> nft::Rule {
    let mut r = rule(port);
    r.exprs.insert(0, Expr::l4proto_is(proto));
    r
}

/// `chains` as the kernel holds them: the rules of each keyed part
/// (by its chain's links) without their first expression.
fn as_kernel_holds(chains: &[nft::Chain]) -> Vec<nft::Chain> {
    let keys = part_keys(chains);
    let mut out = chains.to_vec();
    for c in out.iter_mut().filter(|c| keys.contains_key(&c.name)) {
        for r in &mut c.rules {
            assert_eq!(r.single_proto(), keys.get(&c.name).copied(), "{}", c.name);
            r.exprs.remove(0);
        }
    }
    out
}

fn fold_tagged(chains: &mut Vec<nft::Chain>) -> (Folded, Vec<Vec<String>>) {
    let mut meta: Vec<Vec<String>> =
        chains.iter().map(|c| vec![String::new(); c.rules.len()]).collect();
    let folded = fold(chains, &mut meta, |m, part| *m = part.to_string());
    (folded, meta)
}

/// 1,500 TCP rules, 3 without a protocol, 100 UDP rules, 10 TCP
/// rules, 1,200 UDP rules: the long runs get keyed parts, the short
/// TCP run and the rules without a protocol an unkeyed one, and
/// reading back gives the chain as it was, each rule's match first.
#[test]
fn runs_of_one_protocol_get_keyed_parts_and_fold_back() {
    let mut t = table(0);
    let rules = &mut t.chains[0].rules;
    rules.extend((0..1500).map(|p| proto_rule(6, p)));
    rules.extend((0..3).map(|p| rule(5000 + p)));
    rules.extend((0..100).map(|p| proto_rule(17, p)));
    rules.extend((0..10).map(|p| proto_rule(6, 6000 + p)));
    rules.extend((0..1200).map(|p| proto_rule(17, 7000 + p)));
    let p = physical(&t).into_owned();
    let links: Vec<(Option<u8>, usize)> = p.chains[0]
        .rules
        .iter()
        .map(|l| {
            let (to, key) = keyed_link_target(l).expect("a link");
            (key, p.chains.iter().find(|c| c.name == to).expect("its part").rules.len())
        })
        .collect();
    assert_eq!(
        links,
        [
            (Some(6), 1024),
            (Some(6), 476),
            (None, 3),
            (Some(17), 100),
            (None, 10),
            (Some(17), 1024),
            (Some(17), 176)
        ]
    );
    let mut chains = as_kernel_holds(&p.chains);
    let (folded, meta) = fold_tagged(&mut chains);
    assert_eq!(chains, t.chains);
    assert_eq!(folded.parts[0].len(), 7);
    let keyed: std::collections::BTreeMap<&str, u8> =
        folded.keys.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    assert_eq!(
        keyed,
        [
            ("input/part1", 6),
            ("input/part2", 6),
            ("input/part4", 17),
            ("input/part6", 17),
            ("input/part7", 17)
        ]
        .into_iter()
        .collect()
    );
    assert_eq!((meta[0][1499].as_str(), meta[0][1500].as_str()), ("input/part2", "input/part3"));
}

/// A sub-part of a keyed part is keyed too: its rules, held without
/// the match, get it back, and so does a rule the part holds after it.
#[test]
fn sub_parts_of_a_keyed_part_fold_back_with_its_match() {
    let c = |name: &str, rules: Vec<nft::Rule>| nft::Chain {
        name: name.into(),
        base: None,
        rules,
        comment: None,
    };
    let bare = |p| rule(p);
    let mut chains = vec![
        c("input", vec![keyed_link("input/part1", Some(6)), link("input/part2")]),
        c("input/part1", vec![bare(1), link("input/part1/part1"), bare(3)]),
        c("input/part2", vec![proto_rule(17, 4)]),
        c("input/part1/part1", vec![bare(2)]),
    ];
    let (folded, meta) = fold_tagged(&mut chains);
    assert_eq!(chains.len(), 1);
    let want: Vec<nft::Rule> =
        vec![proto_rule(6, 1), proto_rule(6, 2), proto_rule(6, 3), proto_rule(17, 4)];
    assert_eq!(chains[0].rules, want);
    assert_eq!(meta[0], ["input/part1", "input/part1/part1", "input/part1", "input/part2"]);
    let mut keyed: Vec<(&str, u8)> = folded.keys.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    keyed.sort_unstable();
    assert_eq!(keyed, [("input/part1", 6), ("input/part1/part1", 6)]);
}

#[test]
fn top_parts() {
    assert_eq!(top_part("input", "input/part3"), "input/part3");
    assert_eq!(top_part("input", "input/part3/part12"), "input/part3");
    assert_eq!(top_part("input", "input/part3/part1/part2"), "input/part3");
}

#[test]
fn part_names_read_back() {
    assert_eq!(part_name("input", 3), "input/part3");
    assert_eq!(part_of("input/part3"), Some(("input", 3)));
    assert_eq!(part_of("input/part03"), None);
    assert_eq!(part_of("input/part0"), None);
    assert_eq!(part_of("input"), None);
}

#[test]
fn short_chains_stay_whole() {
    let t = table(PART_RULES);
    assert!(matches!(physical(&t), std::borrow::Cow::Borrowed(_)));
}

#[test]
fn long_chains_split_and_fold_back() {
    let t = table(2 * PART_RULES + 1);
    let p = physical(&t).into_owned();
    let names: Vec<&str> = p.chains.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["input", "input/part1", "input/part2", "input/part3"]);
    assert_eq!(p.chains[0].rules, [link("input/part1"), link("input/part2"), link("input/part3")]);
    assert_eq!(p.chains[3].rules.len(), 1);
    let mut chains = p.chains.clone();
    let mut meta: Vec<Vec<(usize, String)>> =
        chains.iter().map(|c| (0..c.rules.len()).map(|i| (i, String::new())).collect()).collect();
    let parts = fold(&mut chains, &mut meta, |m, part| m.1 = part.to_string()).parts;
    assert_eq!(chains, t.chains);
    assert_eq!(parts, [vec!["input/part1", "input/part2", "input/part3"]]);
    assert_eq!(meta[0][PART_RULES], (0, "input/part2".to_string()));
}

/// A long chain already 15 jumps below the base chain: its parts would
/// be the 16th level, past the kernel's stack, so it stays whole, made
/// with its table or alone in place.
#[test]
fn parts_never_go_past_the_jump_depth() {
    let depth = shriek_compiler::nft::vocab::JUMP_STACK_DEPTH;
    let mut t = table(0);
    t.chains[0].base = Some(shriek_compiler::ir::BaseChain {
        hook: shriek_compiler::ir::Hook::Input,
        kind: shriek_compiler::ir::ChainKind::Filter,
        priority: 0,
        policy: shriek_compiler::ir::ChainPolicy::Accept,
    });
    for k in 1..depth {
        let from = t.chains.len() - 1;
        t.chains[from].rules.push(link(&format!("c{k}")));
        t.chains.push(nft::Chain {
            name: format!("c{k}"),
            base: None,
            rules: Vec::new(),
            comment: None,
        });
    }
    let last = t.chains.len() - 1;
    t.chains[last].rules = (0..2 * PART_RULES as u32).map(rule).collect();
    assert!(crate::apply::table_jump_depth_error(&t).is_none(), "within the stack whole");
    assert!(splittable(&t, &t.chains[last]));
    assert!(!split_when_made(&t, &t.chains[last]));
    assert!(matches!(physical(&t), std::borrow::Cow::Borrowed(_)));
    // One level less deep, it splits both ways.
    t.chains.remove(1);
    t.chains[0].rules = vec![link("c2")];
    let last = t.chains.len() - 1;
    assert!(split_when_made(&t, &t.chains[last]));
    assert!(matches!(physical(&t), std::borrow::Cow::Owned(_)));
}

#[test]
fn chains_that_leave_early_stay_whole() {
    let mut t = table(2 * PART_RULES);
    t.chains[0].rules[5].exprs[1] = Expr::Verdict(Verdict::Return);
    assert!(!splittable(&t, &t.chains[0]));
}

/// A part holding links to sub-parts, one of which holds a link to a
/// sub-part of its own: reading back puts every rule in its chain in
/// order, each tagged with the innermost chain that holds it, and
/// lists the parts first, then the sub-parts after their holders.
#[test]
fn sub_parts_fold_back_in_place() {
    let c = |name: &str, rules: Vec<nft::Rule>| nft::Chain {
        name: name.into(),
        base: None,
        rules,
        comment: None,
    };
    let mut chains = vec![
        c("input", vec![link("input/part1"), link("input/part2")]),
        c("input/part1", vec![rule(1), link("input/part1/part1"), rule(4)]),
        c("input/part2", vec![rule(5)]),
        c("input/part1/part1", vec![rule(2), link("input/part1/part1/part1")]),
        c("input/part1/part1/part1", vec![rule(3)]),
    ];
    let mut meta: Vec<Vec<(u32, String)>> = chains
        .iter()
        .map(|c| {
            let port = |r: &nft::Rule| match &r.exprs[0] {
                Expr::Match { rhs: nft::Rhs::Value(nft::Elem(p)), .. } => match p[0] {
                    nft::Part::Int(v, _) => v as u32,
                    _ => 0,
                },
                _ => 0,
            };
            c.rules.iter().map(|r| (port(r), String::new())).collect()
        })
        .collect();
    let parts = fold(&mut chains, &mut meta, |m, part| m.1 = part.to_string()).parts;
    assert_eq!(chains.len(), 1);
    assert_eq!(chains[0].rules, (1..=5).map(rule).collect::<Vec<_>>());
    let tags: Vec<(u32, &str)> = meta[0].iter().map(|(p, t)| (*p, t.as_str())).collect();
    assert_eq!(
        tags,
        [
            (1, "input/part1"),
            (2, "input/part1/part1"),
            (3, "input/part1/part1/part1"),
            (4, "input/part1"),
            (5, "input/part2")
        ]
    );
    assert_eq!(
        parts,
        [vec!["input/part1", "input/part2", "input/part1/part1", "input/part1/part1/part1"]]
    );
}

#[test]
fn sub_part_names_follow_those_taken() {
    let taken = ["input/part1".to_string(), "input/part1/part2".to_string()];
    let mut k = 0;
    assert_eq!(sub_part("input/part1", &taken, &mut k), "input/part1/part3");
    assert_eq!(sub_part("input/part1", &taken, &mut k), "input/part1/part4");
    let mut k = 0;
    assert_eq!(sub_part("input/part2", &taken, &mut k), "input/part2/part1");
}

#[test]
fn a_chain_with_other_rules_is_not_folded() {
    let t = table(2 * PART_RULES);
    let mut chains = physical(&t).into_owned().chains;
    chains[0].rules.push(rule(9));
    let mut meta: Vec<Vec<()>> = chains.iter().map(|c| vec![(); c.rules.len()]).collect();
    let before = chains.clone();
    let parts = fold(&mut chains, &mut meta, |_, _| {}).parts;
    assert_eq!(chains, before);
    assert!(parts.iter().all(Vec::is_empty));
}
