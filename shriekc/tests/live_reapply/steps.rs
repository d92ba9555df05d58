//! The random sequence of policies the live re-apply test walks: each
//! step changes one or two things of the last step's policy (rules around
//! the flows' rules, sets, named counters, chains, the strategy, the way
//! it goes in), and the ports whose traffic the test sends and checks.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::RngExt;
use proptest::test_runner::TestRng;

/// Every policy accepts it and counts it by name (`kept1`).
pub(crate) const KEPT_NAMED: u16 = 6001;
/// Every policy accepts it; only the rule's own counter counts it.
pub(crate) const KEPT_PLAIN: u16 = 6002;
/// Accepted by a rule whose set of ports changes.
pub(crate) const IN_SET: u16 = 6003;
/// Accepted by a rule whose named counter (`opt5`) comes and goes.
pub(crate) const OPTIONAL: u16 = 6005;
/// Accepted in a regular chain that is renamed now and then (made anew
/// under its new name), reached by `jump` or by `goto`.
pub(crate) const ROUTED: u16 = 6004;
/// Accepted or dropped, as each policy draws.
pub(crate) const FLIPPED: [u16; 2] = [6006, 6007];
/// Dropped by every policy, by a rule whose set changes (`banned`).
pub(crate) const BANNED: u16 = 6009;
/// Translated to the backends by a balanced `dnat`; the backends'
/// datagrams are counted by name (`lb`).
pub(crate) const SERVICE: u16 = 6100;
pub(crate) const BACKENDS: [u16; 2] = [6101, 6102];
/// The long-lived TCP connection.
pub(crate) const TCP: u16 = 7100;

/// Where the flows' rules sit among the others.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Region {
    Before,
    Middle,
    After,
}

/// A rule that no flow's datagram matches, around the flows' rules.
#[derive(Clone, Debug)]
pub(crate) enum Filler {
    Port(u16),
    Range(u16, u16),
    Tcp(u16),
    Blocked,
    Jump(u16, usize),
}

/// The policy of one step, changed a little from the one before.
#[derive(Clone)]
pub(crate) struct Policy {
    pub(crate) before: Vec<Filler>,
    pub(crate) middle: Vec<Filler>,
    pub(crate) after: Vec<Filler>,
    /// Regular chains, each with its rules' ports.
    pub(crate) chains: BTreeMap<usize, Vec<u16>>,
    pub(crate) blocked: BTreeSet<u8>,
    pub(crate) in_set: BTreeSet<u16>,
    pub(crate) banned_set: BTreeSet<u16>,
    pub(crate) optional_counter: bool,
    /// Whether each of [`FLIPPED`] is accepted.
    pub(crate) flipped: [bool; 2],
    pub(crate) lb_table: &'static str,
    /// The number in the name of [`ROUTED`]'s chain, and whether the
    /// input chain reaches it by `goto` rather than `jump`.
    pub(crate) routed_chain: usize,
    pub(crate) routed_goto: bool,
}

/// The lines of the rules whose per-rule counters the test reads.
pub(crate) struct Lines {
    pub(crate) kept_named: usize,
    pub(crate) kept_plain: usize,
}

impl Policy {
    pub(crate) fn first() -> Policy {
        Policy {
            before: vec![Filler::Port(40000)],
            middle: vec![],
            after: vec![Filler::Range(40100, 40110)],
            chains: BTreeMap::new(),
            blocked: [1].into(),
            in_set: [41000].into(),
            banned_set: [42000].into(),
            optional_counter: true,
            flipped: [true, false],
            lb_table: "lb_a",
            routed_chain: 0,
            routed_goto: false,
        }
    }

    pub(crate) fn text(&self) -> (String, Lines) {
        let mut out = Vec::<String>::new();
        let blocked: Vec<String> = self.blocked.iter().map(|b| format!("10.66.0.{b}")).collect();
        out.push(format!("define blocked = {{ {} }}", blocked.join(", ")));
        out.push("table live {".into());
        out.push("  chain input hook input policy drop {".into());
        out.push("    tcp dport 22 accept".into());
        out.push("    proto tcp ct state established accept".into());
        let filler = |out: &mut Vec<String>, rules: &[Filler]| {
            for rule in rules {
                out.push(format!("    {}", filler_text(rule)));
            }
        };
        filler(&mut out, &self.before);
        out.push(format!("    udp dport {KEPT_NAMED} counter kept1 accept"));
        let kept_named = out.len();
        out.push(format!("    udp dport {KEPT_PLAIN} accept"));
        let kept_plain = out.len();
        filler(&mut out, &self.middle);
        out.push(format!("    udp dport {} accept", set_text(IN_SET, &self.in_set)));
        let counter = if self.optional_counter { " counter opt5" } else { "" };
        out.push(format!("    udp dport {OPTIONAL}{counter} accept"));
        let verb = if self.routed_goto { "goto" } else { "jump" };
        out.push(format!("    udp dport {ROUTED} {verb} routed{}", self.routed_chain));
        for (port, accepted) in FLIPPED.iter().zip(self.flipped) {
            out.push(format!("    udp dport {port} {}", if accepted { "accept" } else { "drop" }));
        }
        out.push(format!(
            "    udp dport {} counter banned drop",
            set_text(BANNED, &self.banned_set)
        ));
        out.push(format!("    udp dport {{ {}, {} }} counter lb accept", BACKENDS[0], BACKENDS[1]));
        filler(&mut out, &self.after);
        out.push("  }".into());
        out.push(format!("  chain routed{} {{", self.routed_chain));
        out.push(format!("    udp dport {ROUTED} accept"));
        out.push("  }".into());
        for (n, ports) in &self.chains {
            out.push(format!("  chain extra{n} {{"));
            for port in ports {
                out.push(format!("    udp dport {port} drop"));
            }
            out.push("  }".into());
        }
        out.push("}".into());
        out.push(format!("table {} {{", self.lb_table));
        out.push("  chain pre hook prerouting type nat policy accept {".into());
        out.push(format!(
            "    udp dport {SERVICE} dnat to {{ 10.9.0.1:{}, 10.9.0.1:{} }} balance round-robin",
            BACKENDS[0], BACKENDS[1]
        ));
        out.push("  }".into());
        out.push("}".into());
        (out.join("\n") + "\n", Lines { kept_named, kept_plain })
    }

    pub(crate) fn accepts(&self, port: u16) -> bool {
        port != BANNED && FLIPPED.iter().position(|p| *p == port).is_none_or(|i| self.flipped[i])
    }

    pub(crate) fn counters(&self) -> BTreeSet<&'static str> {
        let mut names: BTreeSet<_> = ["kept1", "banned", "lb"].into();
        if self.optional_counter {
            names.insert("opt5");
        }
        names
    }
}

fn filler_text(rule: &Filler) -> String {
    match rule {
        Filler::Port(p) => format!("udp dport {p} drop"),
        Filler::Range(a, b) => format!("udp dport {a}-{b} drop"),
        Filler::Tcp(p) => format!("tcp dport {p} drop"),
        Filler::Blocked => "saddr $blocked drop".into(),
        Filler::Jump(p, n) => format!("udp dport {p} jump extra{n}"),
    }
}

fn set_text(port: u16, others: &BTreeSet<u16>) -> String {
    let all: Vec<String> =
        std::iter::once(port).chain(others.iter().copied()).map(|p| p.to_string()).collect();
    format!("{{ {} }}", all.join(", "))
}

/// How a step applies its policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    Plain,
    Replace,
    Confirm,
}

/// One step of the sequence: what changed, and how it goes in.
pub(crate) struct Step {
    pub(crate) policy: Policy,
    pub(crate) strategy: &'static str,
    pub(crate) mode: Mode,
    pub(crate) prune: bool,
    pub(crate) what: String,
}

fn port(rng: &mut TestRng) -> u16 {
    rng.random_range(43000..60000)
}

fn filler(rng: &mut TestRng, policy: &Policy) -> Filler {
    match rng.random_range(0..10) {
        0..=4 => Filler::Port(port(rng)),
        5..=6 => {
            let a = port(rng);
            Filler::Range(a, a + rng.random_range(1..20))
        }
        7 => Filler::Tcp(port(rng)),
        8 => Filler::Blocked,
        _ => match policy.chains.keys().next() {
            Some(n) => Filler::Jump(port(rng), *n),
            None => Filler::Port(port(rng)),
        },
    }
}

fn region<'a>(policy: &'a mut Policy, rng: &mut TestRng) -> (&'a mut Vec<Filler>, Region) {
    match rng.random_range(0..3) {
        0 => (&mut policy.before, Region::Before),
        1 => (&mut policy.middle, Region::Middle),
        _ => (&mut policy.after, Region::After),
    }
}

/// The next step: one or two changes to `last`'s policy.
pub(crate) fn next_step(rng: &mut TestRng, last: &Step) -> Step {
    let mut policy = last.policy.clone();
    let mut what = Vec::<String>::new();
    let changes = rng.random_range(0..3);
    for _ in 0..changes {
        match rng.random_range(0..12) {
            0 => {
                let new = filler(rng, &policy);
                let (rules, _) = region(&mut policy, rng);
                if !rules.is_empty() {
                    let at = rng.random_range(0..rules.len());
                    what.push(format!("changed {:?} to {new:?}", rules[at]));
                    rules[at] = new;
                }
            }
            1 => {
                let n = rng.random_range(1..5);
                let new: Vec<Filler> = (0..n).map(|_| filler(rng, &policy)).collect();
                let (rules, r) = region(&mut policy, rng);
                let at = rng.random_range(0..=rules.len());
                what.push(format!(
                    "added {n} at {at}{}",
                    if r == Region::Before { " before the flows" } else { "" }
                ));
                rules.splice(at..at, new);
            }
            2 => {
                let (rules, _) = region(&mut policy, rng);
                if !rules.is_empty() {
                    let at = rng.random_range(0..rules.len());
                    let n = rng.random_range(1..=(rules.len() - at).min(4));
                    what.push(format!("removed {n} at {at}"));
                    rules.drain(at..at + n);
                }
            }
            3 => {
                // Past what one kind of map holds well: many single ports,
                // or a run of ranges that makes a hashed map an interval one.
                let ranges = rng.random_bool(0.5);
                let n = rng.random_range(50..250);
                for _ in 0..n {
                    let a = port(rng);
                    let rule = if ranges {
                        Filler::Range(a, a + rng.random_range(1..5))
                    } else {
                        Filler::Port(a)
                    };
                    policy.after.push(rule);
                }
                what.push(format!(
                    "grew the rules after the flows by {n} {}",
                    if ranges { "ranges" } else { "ports" }
                ));
            }
            4 => {
                let (rules, _) = region(&mut policy, rng);
                let before = rules.len();
                rules.retain(|r| !matches!(r, Filler::Range(..)));
                what.push(format!("removed {} ranges", before - rules.len()));
            }
            5 => {
                let (rules, _) = region(&mut policy, rng);
                let keep = rules.len() / 4;
                rules.truncate(keep);
                what.push(format!("shrank a part to {keep} rules"));
            }
            6 => {
                policy.optional_counter = !policy.optional_counter;
                what.push(format!(
                    "counter opt5 {}",
                    if policy.optional_counter { "added" } else { "removed" }
                ));
            }
            7 => {
                let set =
                    if rng.random_bool(0.5) { &mut policy.in_set } else { &mut policy.banned_set };
                for _ in 0..rng.random_range(1..6) {
                    let p = rng.random_range(41000..41040);
                    if !set.remove(&p) {
                        set.insert(p);
                    }
                }
                let b = rng.random_range(1..20);
                if !policy.blocked.remove(&b) {
                    policy.blocked.insert(b);
                }
                what.push("changed sets".into());
            }
            8 => {
                let i = rng.random_range(0..2);
                policy.flipped[i] = !policy.flipped[i];
                what.push(format!("flipped {}", FLIPPED[i]));
            }
            9 => {
                if policy.chains.is_empty() || rng.random_bool(0.5) {
                    let n = rng.random_range(1..100);
                    let ports = (0..rng.random_range(1..4)).map(|_| port(rng)).collect();
                    policy.chains.insert(n, ports);
                    let at = rng.random_range(0..=policy.before.len());
                    policy.before.insert(at, Filler::Jump(port(rng), n));
                    what.push(format!("added chain extra{n} and a jump to it before the flows"));
                } else {
                    let n = *policy.chains.keys().next().expect("a chain");
                    policy.chains.remove(&n);
                    for rules in [&mut policy.before, &mut policy.middle, &mut policy.after] {
                        rules.retain(|r| !matches!(r, Filler::Jump(_, m) if *m == n));
                    }
                    what.push(format!("removed chain extra{n} and its jumps"));
                }
            }
            10 => {
                if rng.random_bool(0.5) {
                    policy.routed_chain += 1;
                    what.push(format!("renamed the routed chain to routed{}", policy.routed_chain));
                } else {
                    policy.routed_goto = !policy.routed_goto;
                    what.push(format!(
                        "routed by {}",
                        if policy.routed_goto { "goto" } else { "jump" }
                    ));
                }
            }
            _ => {
                policy.lb_table = if policy.lb_table == "lb_a" { "lb_b" } else { "lb_a" };
                what.push(format!("renamed the balancing table to {}", policy.lb_table));
            }
        }
    }
    let strategy = if rng.random_bool(0.3) {
        ["sequential", "auto", "dispatch"][rng.random_range(0..3)]
    } else {
        last.strategy
    };
    let mode = match rng.random_range(0..10) {
        0..=5 => Mode::Plain,
        6..=7 => Mode::Replace,
        _ => Mode::Confirm,
    };
    // A renamed table must go in the same batch: its old self would still
    // be named by `plan`.
    let prune = policy.lb_table != last.policy.lb_table || rng.random_bool(0.2);
    if what.is_empty() {
        what.push("unchanged".into());
    }
    Step { policy, strategy, mode, prune, what: what.join(", ") }
}
