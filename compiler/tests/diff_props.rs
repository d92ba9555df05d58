//! The semantic diff against the reference evaluator, on random pairs of
//! policies: a random policy and a random edit of it (a swap, a new verdict,
//! a removed or inserted rule, a new space or statements, a flipped chain
//! policy, or no edit at all).
//!
//! - Every packet lies in exactly one piece of each version's partition, and
//!   the piece's tree is the evaluator's: for every way the limits met on
//!   the way come out (the evaluator asks each evaluation of a `limit`, in
//!   order), the same verdict, translations, counters and logs.
//! - A sampled packet whose fate the evaluator changes, with every limit
//!   under its rate or every one over, lies in a reported class; so the diff
//!   is empty only when every sampled packet keeps its fate.
//! - Every reported class is confirmed by a packet drawn from it: its trees
//!   in both versions (held to the evaluator above) give the class's two
//!   fates, and where neither depends on a `limit`, the evaluator gives the
//!   packet those two different fates. A class whose fates differ only in
//!   their limits' rates is such a change: the evaluator has no clock.

use proptest::prelude::*;
use shriek_compiler::diff::semantic::fate::{self, End, Path, Tree};
use shriek_compiler::diff::semantic::{semantic_diff, Fate};
use shriek_compiler::emit::packet_text;
use shriek_compiler::eval::{evaluate, LimitMode, Limits, Step};
use shriek_compiler::ir::{Action, ChainPolicy, Hook, Outcome, Policy};
use shriek_compiler::space::{Cube, Names, Packet, Protos, PROTO_ICMP, PROTO_ICMPV6, PROTO_TCP};

#[path = "common/policies.rs"]
mod policies;

use policies::{on, packet, policies, rule, PolicySpec, RuleSpec, P};

/// An edit of chain 0 of a policy; indexes wrap around its rules.
#[derive(Clone, Debug)]
enum Edit {
    Same,
    Swap(usize),
    Verdict(usize, RuleSpec),
    Remove(usize),
    Insert(usize, RuleSpec),
    Space(usize, RuleSpec),
    Actions(usize, RuleSpec),
    Policy,
}

fn edit() -> impl Strategy<Value = Edit> {
    let at = 0..16usize;
    prop_oneof![
        2 => Just(Edit::Same),
        3 => at.clone().prop_map(Edit::Swap),
        2 => (at.clone(), rule(0, 1)).prop_map(|(i, r)| Edit::Verdict(i, r)),
        2 => at.clone().prop_map(Edit::Remove),
        2 => (at.clone(), rule(0, 1)).prop_map(|(i, r)| Edit::Insert(i, r)),
        2 => (at.clone(), rule(0, 1)).prop_map(|(i, r)| Edit::Space(i, r)),
        2 => (at, rule(0, 1)).prop_map(|(i, r)| Edit::Actions(i, r)),
        1 => Just(Edit::Policy),
    ]
}

fn apply(spec: &PolicySpec, edit: &Edit) -> PolicySpec {
    let mut out = spec.clone();
    let rules = &mut out.chains[0];
    let n = rules.len();
    match edit.clone() {
        Edit::Same => {}
        Edit::Swap(i) if n > 1 => rules.swap(i % (n - 1), i % (n - 1) + 1),
        Edit::Verdict(i, r) if n > 0 => rules[i % n].verdict = r.verdict,
        Edit::Remove(i) if n > 0 => {
            rules.remove(i % n);
        }
        Edit::Insert(i, r) => rules.insert(i % (n + 1), r),
        Edit::Space(i, r) if n > 0 => rules[i % n].space = r.space,
        Edit::Actions(i, r) if n > 0 => rules[i % n].actions = r.actions,
        Edit::Policy => {
            out.policy = match out.policy {
                ChainPolicy::Accept => ChainPolicy::Drop,
                ChainPolicy::Drop => ChainPolicy::Accept,
            }
        }
        _ => {}
    }
    out
}

/// What the evaluator does to a packet: verdict, translations (kept only
/// when accepted, as the diff keeps them) and counters and logs run.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Seen {
    fate: Fate,
    events: Vec<String>,
}

fn has_ports(p: &Packet) -> bool {
    Protos::with_ports().contains(p.proto)
}

fn evaluator(policy: &Policy, hook: Hook, p: &Packet, limits: impl Limits) -> Seen {
    let trace = evaluate(policy, hook, p, limits);
    let mut nats = Vec::new();
    let mut events = Vec::new();
    for step in &trace.steps {
        let Step::Matched { rule } = step else { continue };
        let rule = policy.rule(*rule);
        events.extend(rule.actions.iter().filter_map(fate::event_text));
        if let Some(Action::Nat(n)) = rule.actions.iter().find(|a| matches!(a, Action::Nat(_))) {
            nats.extend(fate::translation(n, p.family, has_ports(p)));
        }
    }
    let end = match trace.outcome {
        Outcome::Accept => End::Accept,
        Outcome::Drop => End::Drop,
        Outcome::Reject => End::Reject,
    };
    if end != End::Accept {
        nats.clear();
    }
    Seen { fate: Fate { end, nats }, events }
}

fn seen(path: &Path) -> Seen {
    let nats = if path.end == End::Accept {
        path.nats.iter().map(|n| n.text.clone()).collect()
    } else {
        Vec::new()
    };
    Seen {
        fate: Fate { end: path.end, nats },
        events: path.events.iter().map(|e| e.text.clone()).collect(),
    }
}

/// The one piece holding `p`, or why there is not exactly one.
fn piece<'a>(pieces: &'a fate::Pieces, p: &Packet) -> Result<&'a Tree<Path>, TestCaseError> {
    let mut holding = pieces.iter().filter(|(c, _)| c.contains(p));
    match (holding.next(), holding.next()) {
        (Some((_, t)), None) => Ok(t),
        (None, _) => Err(TestCaseError::fail(format!("no piece holds {}", packet_text(p)))),
        (Some(_), Some(_)) => {
            Err(TestCaseError::fail(format!("two pieces hold {}", packet_text(p))))
        }
    }
}

/// A packet of the cube: the lowest value of each field.
fn draw(c: &Cube) -> Packet {
    // A family and a protocol some packet has together: no IPv6 packet has
    // an extension header as its protocol.
    let ported = c.sport.is_some() || c.dport.is_some();
    let (family, proto) = c
        .family
        .iter()
        .flat_map(|f| c.proto.intersect(Protos::of_family(f)).iter().map(move |p| (f, p)))
        .find(|(_, p)| !ported || Protos::with_ports().contains(*p))
        .expect("a non-empty cube has a family and a protocol");
    let low =
        |f: &Option<shriek_compiler::space::Intervals>| f.as_ref().map_or(0, |s| s.ranges()[0].0);
    let name = |n: &Names| {
        ["", "a", "b", "c", "d"]
            .into_iter()
            .find(|x| n.contains(x))
            .map(str::to_string)
            .or_else(|| Some(n.sample(false)).filter(|x| n.contains(x)))
            .expect("a non-empty name set has a name")
    };
    let ports = Protos::with_ports().contains(proto);
    let icmp = proto == PROTO_ICMP || proto == PROTO_ICMPV6;
    Packet {
        family,
        proto,
        saddr: low(&c.saddr),
        daddr: low(&c.daddr),
        sport: ports.then(|| low(&c.sport) as u16),
        dport: ports.then(|| low(&c.dport) as u16),
        iif: name(&c.iif),
        oif: name(&c.oif),
        ct: c.ct.iter().next().expect("a non-empty cube has a state"),
        icmp_type: icmp.then(|| low(&c.icmp_type) as u8),
        icmp_code: icmp.then(|| low(&c.icmp_code) as u8),
        tcp_flags: (proto == PROTO_TCP).then(|| low(&c.tcp_flags) as u8),
        mark: low(&c.mark) as u32,
    }
}

fn limit_free<T>(t: &Tree<T>) -> bool {
    matches!(t, Tree::Leaf(_))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: shriek_testkit::prop_cases(1500), max_shrink_iters: 20000, ..ProptestConfig::default() })]

    #[test]
    fn semantic_diff_matches_the_evaluator(
        spec in policies(),
        edit in edit(),
        packets in prop::collection::vec(packet(), 32),
    ) {
        let old = spec.build();
        let new = apply(&spec, &edit).build();
        let diff = semantic_diff(&old, &new);
        let sets_mark = |p: &shriek_compiler::ir::Policy| {
            p.rules().any(|r| r.actions.iter().any(|a| matches!(a, shriek_compiler::ir::Action::MarkSet(_))))
        };
        // A hook where a rule sets a mark is not compared, and says so.
        let (Ok(old_pieces), Ok(new_pieces)) =
            (fate::hook_fates(&old, spec.hook), fate::hook_fates(&new, spec.hook))
        else {
            prop_assert!(sets_mark(&old) || sets_mark(&new), "small policies fit the budget");
            return Ok(());
        };
        let classes = match diff.hooks.as_slice() {
            [] => {
                prop_assert!(diff.same_rules, "no hook compared, yet the rules differ");
                Default::default()
            }
            [h] => h.changes.clone().expect("small policies fit the budget"),
            more => return Err(TestCaseError::fail(format!("{} hooks", more.len()))),
        };
        for P(p) in &packets {
            let p = &on(spec.hook, p);
            let (t_old, t_new) = (piece(&old_pieces, p)?, piece(&new_pieces, p)?);
            for (policy, tree, side) in [(&old, t_old, "old"), (&new, t_new, "new")] {
                prop_assert!(tree.depth() <= 12, "{} limits on one path", tree.depth());
                for bits in 0..1u32 << tree.depth() {
                    let answers = |k: usize| k >= 32 || bits & (1 << k) == 0;
                    let mut asked = 0;
                    let want = evaluator(policy, spec.hook, p, |_| {
                        asked += 1;
                        answers(asked - 1)
                    });
                    let got = seen(tree.follow(&mut (0..).map(answers)));
                    prop_assert_eq!(&got, &want, "{}, limits {:b}, {}", side, bits, packet_text(p));
                }
            }
            let mut changes = false;
            for limits in [LimitMode::UnderRate, LimitMode::OverRate] {
                changes |= evaluator(&old, spec.hook, p, limits).fate != evaluator(&new, spec.hook, p, limits).fate;
            }
            if changes {
                prop_assert!(
                    classes.traffic.iter().any(|cl| cl.cubes.iter().any(|c| c.contains(p))),
                    "{} changes fate but is in no reported class", packet_text(p)
                );
            }
        }
        for class in &classes.traffic {
            prop_assert!(!class.cubes.is_empty());
            for cube in &class.cubes {
                let p = draw(cube);
                prop_assert!(cube.contains(&p), "drawn {} lies outside {:?}", packet_text(&p), cube);
                let (t_old, t_new) = (piece(&old_pieces, &p)?, piece(&new_pieces, &p)?);
                let fate_of = |t: &Tree<Path>| t.map(&|path: &Path| seen(path).fate);
                prop_assert_eq!(&fate_of(t_old), &class.old.fate);
                prop_assert_eq!(&fate_of(t_new), &class.new.fate);
                prop_assert_ne!(&class.old.fate, &class.new.fate);
                if limit_free(&class.old.fate) && limit_free(&class.new.fate) {
                    let limits = LimitMode::UnderRate;
                    prop_assert_ne!(
                        evaluator(&old, spec.hook, &p, limits).fate,
                        evaluator(&new, spec.hook, &p, limits).fate,
                        "class packet {} keeps its fate", packet_text(&p)
                    );
                }
            }
        }
        for class in &classes.observed {
            for cube in &class.cubes {
                let p = draw(cube);
                if limit_free(&class.old.fate) && limit_free(&class.new.fate) {
                    let limits = LimitMode::UnderRate;
                    prop_assert_ne!(
                        evaluator(&old, spec.hook, &p, limits).events,
                        evaluator(&new, spec.hook, &p, limits).events,
                        "class packet {} is counted and logged the same", packet_text(&p)
                    );
                }
            }
        }
    }
}

/// The edits do make both outcomes common: without this, the property
/// above could pass by never reporting a change, or always.
#[test]
fn random_edits_change_traffic_and_keep_it() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let (mut changed, mut kept, mut limited) = (0, 0, 0);
    for _ in 0..300 {
        let spec = policies().new_tree(&mut runner).expect("a policy").current();
        let edit = edit().new_tree(&mut runner).expect("an edit").current();
        let diff = semantic_diff(&spec.build(), &apply(&spec, &edit).build());
        if diff.changes_traffic() {
            changed += 1;
        } else {
            kept += 1;
        }
        let classes = diff.hooks.iter().filter_map(|h| h.changes.as_ref().ok());
        limited += classes.flat_map(|c| &c.traffic).filter(|c| !limit_free(&c.old.fate)).count();
    }
    assert!(changed > 60 && kept > 60, "{changed} changed, {kept} kept of 300");
    assert!(limited > 5, "only {limited} classes with a limit");
}
