//! Every finding on random policy *text* held to a brute-force evaluator
//! written here from the language reference, sharing no code with the
//! analysis: not its cubes, not its evaluator, not its value typing.
//!
//! The policies mix the newest matches and statements (interface
//! wildcards beside exact and quoted names, `icmp type` with and without
//! `proto`, `family` in an inet table, per-address `limit` and `ct count`,
//! `reject with`, `log level`) with the older ones, in a base chain and a
//! regular chain it may jump to. The packets are one per region of every
//! constant the generator can write, so a claim about all packets is
//! checked on all packets. The laws:
//!
//! - a rule reported shadowed or redundant is never reached with its
//!   matches holding, from the top of either chain, for any packet under
//!   any sequence of `limit` outcomes;
//! - a rule reported unmatchable matches no packet;
//! - a chain reported unreachable is entered by no packet.

use proptest::prelude::*;
use shriek_compiler::{analysis, resolve};
use shriek_grammar::Severity;

// ------------------------------------------------------------ packets

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fam {
    V4,
    V6,
}

/// One packet: the last byte of its source address stands for the whole
/// address (`10.0.0.N` or `fd00::N`).
#[derive(Clone, Debug)]
struct Pkt {
    fam: Fam,
    saddr: u8,
    proto: u8,
    dport: Option<u16>,
    icmp_type: Option<u8>,
    iif: &'static str,
    ct: &'static str,
}

const TCP: u8 = 6;
const UDP: u8 = 17;
const ICMP: u8 = 1;
const ICMPV6: u8 = 58;

fn packets() -> Vec<Pkt> {
    let mut out = Vec::new();
    for fam in [Fam::V4, Fam::V6] {
        for saddr in [0, 1, 5, 9] {
            for proto in [TCP, UDP, ICMP, ICMPV6, 47] {
                let (dports, types): (Vec<Option<u16>>, Vec<Option<u8>>) = match proto {
                    TCP | UDP => ([21, 22, 80, 1000].map(Some).to_vec(), vec![None]),
                    ICMP | ICMPV6 => (vec![None], [0, 8, 128, 129, 3].map(Some).to_vec()),
                    _ => (vec![None], vec![None]),
                };
                for &dport in &dports {
                    for &icmp_type in &types {
                        for iif in ["eth0", "eth1", "eth", "e", "lo", "x"] {
                            for ct in ["new", "established", "invalid"] {
                                out.push(Pkt { fam, saddr, proto, dport, icmp_type, iif, ct });
                            }
                        }
                    }
                }
            }
        }
    }
    out
}

// ------------------------------------------------------------ policies

/// The last bytes of a value's addresses of one family; `None` where the
/// value holds no address of that family.
type Members = Option<&'static [u8]>;

/// Source addresses: (text, IPv4 members, IPv6 members).
const SADDRS: [(&str, Members, Members); 6] = [
    ("10.0.0.0/31", Some(&[0, 1]), None),
    ("10.0.0.1", Some(&[1]), None),
    ("fd00::/127", None, Some(&[0, 1])),
    ("fd00::1", None, Some(&[1])),
    ("{ 10.0.0.1, fd00::1 }", Some(&[1]), Some(&[1])),
    ("{ 10.0.0.0/31, 10.0.0.5 }", Some(&[0, 1, 5]), None),
];

const PORTS: [(&str, &[u16]); 4] =
    [("22", &[22]), ("{ 22, 80 }", &[22, 80]), ("20-25", &[21, 22]), ("80", &[80])];

const PROTOS: [&str; 4] = ["tcp", "udp", "icmp", "icmpv6"];

/// (text, family is IPv6, type number).
const ICMP_TYPES: [(&str, bool, u8); 4] = [
    ("icmp type echo-request", false, 8),
    ("icmp type echo-reply", false, 0),
    ("icmpv6 type echo-request", true, 128),
    ("icmpv6 type 129", true, 129),
];

const IIFS: [&str; 5] = ["eth0", "eth*", "e*", "lo", "\"eth0\""];

const CTS: [&str; 3] = ["new", "established", "new,established"];

#[derive(Clone, Debug)]
enum Match {
    Family(Fam),
    Saddr(usize, bool),
    Proto(usize, bool),
    Dport(bool, usize, bool),
    Icmp(usize, bool),
    Iif(usize, bool),
    Ct(usize),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fork {
    No,
    Limit,
    PerSaddr,
    CountPerSaddr,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Verdict {
    None,
    Accept,
    Drop,
    Reject,
    RejectTcp,
    RejectIcmp,
    Jump,
    Return,
}

#[derive(Clone, Debug)]
struct Rule {
    matches: Vec<Match>,
    fork: Fork,
    log: bool,
    verdict: Verdict,
}

#[derive(Clone, Debug)]
struct Policy {
    accept: bool,
    base: Vec<Rule>,
    sub: Vec<Rule>,
}

fn neg(n: bool) -> &'static str {
    if n {
        "!= "
    } else {
        ""
    }
}

fn rule_text(r: &Rule) -> String {
    let mut words: Vec<String> = r
        .matches
        .iter()
        .map(|m| match *m {
            Match::Family(Fam::V4) => "family ipv4".into(),
            Match::Family(Fam::V6) => "family ipv6".into(),
            Match::Saddr(i, n) => format!("saddr {}{}", neg(n), SADDRS[i].0),
            Match::Proto(i, n) => format!("proto {}{}", neg(n), PROTOS[i]),
            Match::Dport(udp, i, n) => {
                format!("{} dport {}{}", if udp { "udp" } else { "tcp" }, neg(n), PORTS[i].0)
            }
            Match::Icmp(i, n) => {
                let (kw, value) = ICMP_TYPES[i].0.rsplit_once(' ').expect("keyword and value");
                format!("{kw} {}{value}", neg(n))
            }
            Match::Iif(i, n) => format!("iif {}{}", neg(n), IIFS[i]),
            Match::Ct(i) => format!("ct state {}", CTS[i]),
        })
        .collect();
    match r.fork {
        Fork::No => {}
        Fork::Limit => words.push("limit 3/minute".into()),
        Fork::PerSaddr => words.push("limit 3/minute per saddr".into()),
        Fork::CountPerSaddr => words.push("ct count over 2 per saddr".into()),
    }
    if r.log {
        words.push("log level warn".into());
    }
    words.push(
        match r.verdict {
            Verdict::None => "counter",
            Verdict::Accept => "accept",
            Verdict::Drop => "drop",
            Verdict::Reject => "reject",
            Verdict::RejectTcp => "reject with tcp reset",
            Verdict::RejectIcmp => "reject with icmpx port-unreachable",
            Verdict::Jump => "jump sub",
            Verdict::Return => "return",
        }
        .into(),
    );
    words.join(" ")
}

/// The policy's text, and the line of each rule: base rules first.
fn policy_text(p: &Policy) -> (String, Vec<usize>) {
    let policy = if p.accept { "accept" } else { "drop" };
    let mut out = format!("table t {{\n  chain input hook input policy {policy} {{\n");
    let mut lines = Vec::new();
    let mut line = 3;
    for r in &p.base {
        out += &format!("    {}\n", rule_text(r));
        lines.push(line);
        line += 1;
    }
    out += "  }\n  chain sub {\n";
    line += 2;
    for r in &p.sub {
        out += &format!("    {}\n", rule_text(r));
        lines.push(line);
        line += 1;
    }
    out += "  }\n}\n";
    (out, lines)
}

fn a_match() -> impl Strategy<Value = Match> {
    let n = || prop::bool::weighted(0.25);
    prop_oneof![
        1 => prop_oneof![Just(Fam::V4), Just(Fam::V6)].prop_map(Match::Family),
        3 => (0..SADDRS.len(), n()).prop_map(|(i, b)| Match::Saddr(i, b)),
        2 => (0..PROTOS.len(), n()).prop_map(|(i, b)| Match::Proto(i, b)),
        3 => (any::<bool>(), 0..PORTS.len(), n()).prop_map(|(u, i, b)| Match::Dport(u, i, b)),
        2 => (0..ICMP_TYPES.len(), n()).prop_map(|(i, b)| Match::Icmp(i, b)),
        3 => (0..IIFS.len(), n()).prop_map(|(i, b)| Match::Iif(i, b)),
        1 => (0..CTS.len()).prop_map(Match::Ct),
    ]
}

fn a_rule(regular: bool) -> impl Strategy<Value = Rule> {
    let fork = prop_oneof![
        6 => Just(Fork::No),
        1 => Just(Fork::Limit),
        1 => Just(Fork::PerSaddr),
        1 => Just(Fork::CountPerSaddr),
    ];
    let verdict = prop_oneof![
        1 => Just(Verdict::None),
        3 => Just(Verdict::Accept),
        3 => Just(Verdict::Drop),
        1 => Just(Verdict::Reject),
        1 => Just(Verdict::RejectTcp),
        1 => Just(Verdict::RejectIcmp),
        2 => Just(if regular { Verdict::Return } else { Verdict::Jump }),
    ];
    (prop::collection::vec(a_match(), 0..4), fork, prop::bool::weighted(0.2), verdict).prop_map(
        |(matches, fork, log, verdict)| {
            // A rule without a verdict counts; it forks nothing.
            let fork = if verdict == Verdict::None { Fork::No } else { fork };
            Rule { matches, fork, log, verdict }
        },
    )
}

fn a_policy() -> impl Strategy<Value = Policy> {
    (
        any::<bool>(),
        prop::collection::vec(a_rule(false), 1..9),
        prop::collection::vec(a_rule(true), 0..6),
    )
        .prop_map(|(accept, base, sub)| Policy { accept, base, sub })
}

// ------------------------------------------------------------ the oracle

/// Whether match `m` holds for `p`, by the language reference alone.
fn holds(m: &Match, p: &Pkt) -> bool {
    match *m {
        Match::Family(f) => p.fam == f,
        Match::Saddr(i, n) => {
            let (_, v4, v6) = SADDRS[i];
            // A value of one family only ever matches that family's packets.
            let members = if p.fam == Fam::V4 { v4 } else { v6 };
            members.is_some_and(|m| m.contains(&p.saddr) != n)
        }
        Match::Proto(i, n) => {
            let is = match PROTOS[i] {
                "tcp" => p.proto == TCP,
                "udp" => p.proto == UDP,
                "icmp" => p.fam == Fam::V4 && p.proto == ICMP,
                _ => p.fam == Fam::V6 && p.proto == ICMPV6,
            };
            is != n
        }
        Match::Dport(udp, i, n) => {
            let proto = if udp { UDP } else { TCP };
            p.proto == proto && p.dport.is_some_and(|d| PORTS[i].1.contains(&d) != n)
        }
        Match::Icmp(i, n) => {
            let (_, v6, ty) = ICMP_TYPES[i];
            let (fam, proto) = if v6 { (Fam::V6, ICMPV6) } else { (Fam::V4, ICMP) };
            p.fam == fam && p.proto == proto && p.icmp_type.is_some_and(|t| (t == ty) != n)
        }
        Match::Iif(i, n) => {
            let name = IIFS[i].trim_matches('"');
            let is = match name.strip_suffix('*') {
                Some(prefix) => p.iif.starts_with(prefix),
                None => p.iif == name,
            };
            is != n
        }
        Match::Ct(i) => CTS[i].split(',').any(|s| s == p.ct),
    }
}

fn matches(r: &Rule, p: &Pkt) -> bool {
    r.matches.iter().all(|m| holds(m, p))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum End {
    Decided,
    Returned,
}

/// One run of the policy under one sequence of fork outcomes.
struct Run<'a> {
    /// How each fork comes out, in order.
    choices: &'a [bool],
    used: usize,
    /// Every rule (by index over base then sub) reached with its matches
    /// holding.
    ran: Vec<usize>,
    entered_sub: bool,
}

/// Runs a chain from its top; `None` when the run needs one more choice.
fn run(pol: &Policy, sub: bool, p: &Pkt, st: &mut Run, depth: usize) -> Option<End> {
    if sub {
        st.entered_sub = true;
    }
    let (rules, offset) = if sub { (&pol.sub, pol.base.len()) } else { (&pol.base, 0) };
    for (i, r) in rules.iter().enumerate() {
        if !matches(r, p) {
            continue;
        }
        st.ran.push(offset + i);
        if r.fork != Fork::No {
            let holds = *st.choices.get(st.used)?;
            st.used += 1;
            if !holds {
                continue;
            }
        }
        match r.verdict {
            Verdict::None => {}
            Verdict::Return => return Some(End::Returned),
            Verdict::Jump => {
                // `sub` has no jumps, so this nests once.
                assert!(depth == 0);
                match run(pol, true, p, st, depth + 1)? {
                    End::Decided => return Some(End::Decided),
                    End::Returned => {}
                }
            }
            _ => return Some(End::Decided),
        }
    }
    Some(End::Returned)
}

/// Every rule that runs and whether `sub` is entered from the base chain,
/// over every packet and every sequence of fork outcomes, each chain
/// entered at its top.
fn explore(pol: &Policy, packets: &[Pkt]) -> (Vec<bool>, bool) {
    let mut ran_any = vec![false; pol.base.len() + pol.sub.len()];
    let mut sub_from_base = false;
    for p in packets {
        for sub in [false, true] {
            let mut stack = vec![Vec::new()];
            while let Some(choices) = stack.pop() {
                let mut st =
                    Run { choices: &choices, used: 0, ran: Vec::new(), entered_sub: false };
                match run(pol, sub, p, &mut st, 0) {
                    Some(_) => {
                        for i in st.ran {
                            ran_any[i] = true;
                        }
                        sub_from_base |= !sub && st.entered_sub;
                    }
                    None => {
                        for c in [false, true] {
                            let mut more = choices.clone();
                            more.push(c);
                            stack.push(more);
                        }
                    }
                }
            }
        }
    }
    (ran_any, sub_from_base)
}

// ------------------------------------------------------------ the laws

/// Holds the laws on one policy: the names of the findings checked, or
/// `None` when the front end refused the policy.
fn check(pol: &Policy, packets: &[Pkt]) -> Result<Option<Vec<&'static str>>, TestCaseError> {
    let (text, lines) = policy_text(pol);
    let fe = resolve::resolve_str("audit.shr", &text);
    // Policies the front end refuses (a `reject with` that does not fit its
    // rule, say) are not the analysis's business.
    if fe.diagnostics.iter().any(|d| d.severity == Severity::Error) {
        return Ok(None);
    }
    let Some(policy) = fe.policy else { return Ok(None) };
    let mut checked = Vec::new();
    let (ran, sub_from_base) = explore(pol, packets);
    for d in analysis::analyze(&policy) {
        let line = fe.sources.get(d.primary.loc.file).line_col(d.primary.loc.span.start).0;
        let rule = lines.iter().position(|&l| l == line);
        checked.push(d.name);
        match (d.name, rule) {
            ("shadowed-rule" | "redundant-rule", Some(i)) => {
                prop_assert!(!ran[i], "false {} on line {line}:\n{text}", d.name);
            }
            ("unmatchable-rule", Some(i)) => {
                let r =
                    if i < pol.base.len() { &pol.base[i] } else { &pol.sub[i - pol.base.len()] };
                let hit = packets.iter().find(|p| matches(r, p));
                prop_assert!(hit.is_none(), "false unmatchable on line {line} ({hit:?}):\n{text}");
            }
            ("unreachable-chain", _) => {
                prop_assert!(!sub_from_base, "false unreachable-chain:\n{text}");
            }
            _ => {
                checked.pop();
            }
        }
    }
    Ok(Some(checked))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 500, ..ProptestConfig::default() })]

    #[test]
    fn no_finding_is_false_on_random_policy_text(pol in a_policy()) {
        check(&pol, &packets())?;
    }
}

/// The generator is not wasted: most policies get through the front end,
/// and every kind of finding comes up.
#[test]
fn most_random_policies_resolve_and_every_finding_is_checked() {
    use proptest::strategy::ValueTree;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let packets = packets();
    let (mut resolved, mut seen) = (0, std::collections::BTreeMap::new());
    for _ in 0..200 {
        let pol = a_policy().new_tree(&mut runner).expect("a policy").current();
        if let Some(names) = check(&pol, &packets).expect("the laws hold") {
            resolved += 1;
            for n in names {
                *seen.entry(n).or_insert(0) += 1;
            }
        }
    }
    assert!(resolved > 100, "only {resolved} of 200 random policies resolved");
    for kind in ["shadowed-rule", "redundant-rule", "unmatchable-rule", "unreachable-chain"] {
        assert!(seen.get(kind).is_some_and(|&n| n >= 3), "too few {kind}: {seen:?}");
    }
}
