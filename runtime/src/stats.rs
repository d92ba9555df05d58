//! Per-rule accounting: every source rule's packets and bytes, and every
//! balanced translation's new connections per backend, read from the live
//! tables (and zeroed in the same step, like `iptables -Z`).
//!
//! Lowering gives each rule its own count (see `compiler::lower`): the first
//! anonymous `counter` of each nft rule that runs the rule's statements, or
//! else the counters of the dispatch-map elements the rule owns. A balanced
//! `dnat` looks its backend up in a map from numgen (or hash) slot to
//! backend, and that map counts per element (see `encode/set.rs`): a NAT
//! chain sees only the first packet of each connection, so an element's
//! packets are the connections its backend was given, exactly, for one
//! counter update per new connection and nothing per packet after it.
//! Each backend's packets and bytes, each way, come from the set the
//! lowering's backend-counting chains look connections up in (see
//! `compiler::lower::backends`): an element per backend and direction.
//!
//! The live tables are read once with the day-2 reader (`snapshot` and
//! `decode`, the reset variant of each dump when zeroing), then matched
//! against the policy lowered with the strategy the tables record (or,
//! for tables loaded with `nft -f`, each strategy in turn): rules by their
//! place in their chain, map elements by their key, NAT slots by number.
//! A source rule that lowered to several nft rules or elements gets their
//! sum.
//!
//! Zeroing uses GETRULE_RESET (Linux 6.2), GETSETELEM_RESET (6.5) and
//! GETOBJ_RESET: the kernel reads and zeroes each counter in one step, so
//! no packet is lost between the value printed and the zero.

use std::collections::HashMap;
use std::net::IpAddr;

use shriek_compiler::ir::RuleId;
use shriek_compiler::lower::Strategy;
use shriek_compiler::nft::vocab::CT_REPLY;
use shriek_compiler::nft::{self, Expr, NatTargetExpr, Part, Selector};

use crate::counters::{Count, CounterValue};
use crate::decode::{self, LiveRule, LiveTable};
use crate::dump::dump_table_resetting;
use crate::encode::key_bytes;
use crate::error::RuntimeError;
use crate::plan::recorded_strategy;
use crate::socket::Socket;

/// What one read found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stats {
    /// The strategy the live tables were made with: the one they record,
    /// or, where they record none, the first whose lowering they match.
    pub strategy: Strategy,
    /// Each counted source rule's sum. A rule without a counter (per-rule
    /// counters off and no `counter` of its own) is absent.
    pub rules: HashMap<RuleId, Count>,
    /// Per balanced translation, per backend in the rule's order.
    pub backends: Vec<BackendCount>,
    /// The named counters, in the ruleset's order.
    pub counters: Vec<CounterValue>,
}

/// One backend of a balanced `dnat`, like a real server's line of
/// `ipvsadm -Ln --stats`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackendCount {
    pub rule: RuleId,
    pub addr: IpAddr,
    pub port: Option<u16>,
    /// New connections translated to it; `None` when the live map does not
    /// count (made by an older shriekc, or loaded with `nft -f`).
    pub connections: Option<u64>,
    /// Its connections' packets and bytes each way; `None` when not
    /// counted (per-rule counters off) or when another translation of the
    /// policy also sends to this backend, so that the kernel's one count
    /// per backend cannot be split between them (`shared`).
    pub traffic: Option<Traffic>,
    /// Another rule of the policy also translates to this backend.
    pub shared: bool,
}

/// A backend's traffic, as `ipvsadm -Ln --stats` splits it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Traffic {
    /// From clients to the backend (the connection's original direction).
    pub inbound: Count,
    /// From the backend back to its clients (the reply direction).
    pub outbound: Count,
}

/// Reads the tables `names` once and matches them against the policy as
/// `lower` lowers it with the recorded strategy. With `reset`, every
/// counter read is zeroed in the same step.
pub fn read_stats<'r>(
    names: &[String],
    lower: impl Fn(Strategy) -> &'r nft::Ruleset,
    reset: bool,
    netns: Option<&str>,
) -> Result<Stats, RuntimeError> {
    let mut sock = Socket::open(netns)?;
    let mut live = Vec::new();
    for name in names {
        let dump = dump_table_resetting(&mut sock, name, reset)?;
        live.push(decode::table(&dump).ok_or_else(|| RuntimeError::Io {
            what: "counter read",
            reason: format!("there is no table `{name}`; apply the policy first"),
        })?);
    }
    let differs = |why: String| RuntimeError::Io {
        what: "counter read",
        reason: format!(
            "the live tables are not what this policy compiles to{why}; see `shriekc plan`"
        ),
    };
    if let Some(s) = recorded_strategy(&live) {
        return match_ruleset(lower(s), &live, s).ok_or_else(|| {
            differs(format!(" with strategy {}, the one they record", s.keyword()))
        });
    }
    // Tables loaded with `nft -f` record nothing: the default first.
    [Strategy::Auto, Strategy::Sequential, Strategy::Dispatch]
        .into_iter()
        .find_map(|s| match_ruleset(lower(s), &live, s))
        .ok_or_else(|| differs(String::new()))
}

/// Each source rule's count, when the live tables have exactly the shape
/// of `rs`: the same rules in every chain, each with as many counters, and
/// every counted element.
fn match_ruleset(rs: &nft::Ruleset, live: &[LiveTable], strategy: Strategy) -> Option<Stats> {
    let mut from_rules: HashMap<RuleId, Count> = HashMap::new();
    let mut from_elements: HashMap<RuleId, Count> = HashMap::new();
    let mut backends = Vec::new();
    let mut counters = Vec::new();
    let targets = dnat_targets(rs);
    for t in &rs.tables {
        let lt = live.iter().find(|l| l.table.name == t.name)?;
        let traffic = backend_traffic(t, lt)?;
        let first_backend = backends.len();
        for c in &t.chains {
            let at = lt.table.chains.iter().position(|l| l.name == c.name);
            let rules: &[LiveRule] = at.map_or(&[][..], |i| lt.rules[i].as_slice());
            if rules.len() != c.rules.len() {
                return None;
            }
            for (r, lr) in c.rules.iter().zip(rules) {
                // The kernel lists named counters as objref, not counter.
                let anonymous = r.exprs.iter().filter(|e| **e == Expr::Counter(None)).count();
                if lr.counts.len() != anonymous {
                    return None;
                }
                let [o] = r.origin.as_slice() else { continue };
                if let Some(first) = lr.counts.first() {
                    *from_rules.entry(o.rule).or_default() += *first;
                }
                count_backends(o.rule, r, lr, &mut backends);
            }
        }
        for b in &mut backends[first_backend..] {
            b.shared = targets.iter().any(|&(rule, addr, port)| {
                rule != b.rule
                    && addr == b.addr
                    && (port == b.port || port.is_none() || b.port.is_none())
            });
            b.traffic = traffic.get(&(b.addr, b.port)).copied().filter(|_| !b.shared);
        }
        for s in t.sets.iter().filter(|s| s.counters && !s.counts_backends()) {
            let elements = lt.element_counts.get(&s.name)?;
            for e in &s.elements {
                let count = elements.get(&key_bytes(&s.key, &e.key, false))?;
                if let [o] = e.origin.as_slice() {
                    *from_elements.entry(o.rule).or_default() += *count;
                }
            }
        }
        for name in &t.counters {
            let (_, packets, bytes) = lt.counter_values.iter().find(|(n, ..)| n == name)?;
            counters.push(CounterValue {
                table: t.name.clone(),
                name: name.clone(),
                packets: *packets,
                bytes: *bytes,
            });
        }
    }
    // A rule folded into a map counts in its elements; a counter in the
    // chain its element jumps to is one the user wrote.
    let mut rules = from_rules;
    rules.extend(from_elements);
    Some(Stats { strategy, rules, backends, counters })
}

/// Adds the connections of each backend of `r`'s balanced translation, if
/// it has one: the sum of the backend's slots (a backend of weight w owns
/// w slots). A rule written for both families lowers to one nft rule per
/// family; its backends add up under the one source rule.
fn count_backends(rule: RuleId, r: &nft::Rule, lr: &LiveRule, out: &mut Vec<BackendCount>) {
    for e in &r.exprs {
        let Expr::Nat(nft::NatStmt { target: NatTargetExpr::Balanced { slots, .. }, .. }) = e
        else {
            continue;
        };
        for &(lo, hi, addr, port) in slots {
            let at = match out.iter().position(|b| (b.rule, b.addr, b.port) == (rule, addr, port)) {
                Some(i) => i,
                None => {
                    out.push(BackendCount {
                        rule,
                        addr,
                        port,
                        connections: None,
                        traffic: None,
                        shared: false,
                    });
                    out.len() - 1
                }
            };
            if lr.slots.is_empty() {
                continue;
            }
            let given: u64 = lr
                .slots
                .iter()
                .filter(|(slot, _)| (lo..=hi).contains(slot))
                .map(|(_, c)| c.packets)
                .sum();
            let b = &mut out[at];
            b.connections = Some(b.connections.unwrap_or(0).saturating_add(given));
        }
    }
}

/// Each backend's traffic in table `t`, read from its backend-counting
/// sets: the element of a backend and a direction counts that direction.
/// `None` when a counting set the lowering made is missing from `live`.
fn backend_traffic(
    t: &nft::Table,
    live: &LiveTable,
) -> Option<HashMap<(IpAddr, Option<u16>), Traffic>> {
    let mut out: HashMap<(IpAddr, Option<u16>), Traffic> = HashMap::new();
    for s in t.sets.iter().filter(|s| s.counts_backends()) {
        let counts = live.element_counts.get(&s.name)?;
        let v6 = s.key.first() == Some(&Selector::CtReplyIp6Saddr);
        for e in &s.elements {
            let count = *counts.get(&key_bytes(&s.key, &e.key, false))?;
            let ints: Vec<u128> = e
                .key
                .0
                .iter()
                .map(|p| match p {
                    Part::Int(v, _) => Some(*v),
                    Part::Str(_) => None,
                })
                .collect::<Option<_>>()?;
            let (addr, port, dir) = match ints.as_slice() {
                [a, d] => (*a, None, *d),
                [a, p, d] => (*a, Some(u16::try_from(*p).ok()?), *d),
                _ => return None,
            };
            let addr = if v6 {
                IpAddr::from(std::net::Ipv6Addr::from(addr))
            } else {
                IpAddr::from(std::net::Ipv4Addr::from(u32::try_from(addr).ok()?))
            };
            let t = out.entry((addr, port)).or_default();
            if dir == u128::from(CT_REPLY) {
                t.outbound += count;
            } else {
                t.inbound += count;
            }
        }
    }
    Some(out)
}

/// Every destination a `dnat` of the policy translates to, with its rule:
/// a balanced rule's backends and a plain `dnat`'s address.
fn dnat_targets(rs: &nft::Ruleset) -> Vec<(RuleId, IpAddr, Option<u16>)> {
    let mut out = Vec::new();
    for r in rs.tables.iter().flat_map(|t| &t.chains).flat_map(|c| &c.rules) {
        let [o] = r.origin.as_slice() else { continue };
        for e in &r.exprs {
            let Expr::Nat(nft::NatStmt { kind: nft::NatKind::Dnat, target, .. }) = e else {
                continue;
            };
            match target {
                NatTargetExpr::Balanced { slots, .. } => {
                    out.extend(slots.iter().map(|&(_, _, addr, port)| (o.rule, addr, port)));
                }
                NatTargetExpr::Fixed { addr, port } => out.push((o.rule, *addr, *port)),
                NatTargetExpr::None { .. } => {}
            }
        }
    }
    out
}
