//! The lockout guard: would applying a policy cut off the SSH session it is
//! applied from, or every new SSH connection the current ruleset lets in?
//!
//! Pure, like the rest of the compiler: the caller reads `SSH_CONNECTION`,
//! the session's interface and the live ruleset, and decides what to do
//! with the answer (`apply` refuses without `--force` or `--confirm`).
//! Both questions go to the evaluators, packet by packet, never to pattern
//! matching on rules: the new policy through [`crate::eval`], the live
//! ruleset through [`crate::nft_eval`].
//!
//! - The session: its packets both ways (`ct established`, on the
//!   session's interface), through prerouting and input coming in, output
//!   and postrouting going out. An established flow never meets a `nat`
//!   chain, so those are left out.
//! - Port 22: a new TCP connection to port 22, arriving on any interface
//!   but `lo`, from any address to any address. "The new policy drops all
//!   of them" is a claim about every such packet, made exact by one packet
//!   per cell of the grid that the rules' own boundaries draw (each
//!   address, port and interface a relevant rule names, the value just
//!   past each range, and one value no rule names): two packets in one
//!   cell match exactly the same rules, so they meet the same fate. When
//!   the grid is too big for [`BUDGET`], the check says it gave up rather
//!   than guess. It only counts when the new policy has an input chain
//!   with policy drop: that is the accident it guards against (forgetting
//!   SSH before a default drop); an explicit `tcp dport 22 drop` is a
//!   choice.

use std::collections::BTreeSet;
use std::fmt;
use std::net::IpAddr;

use crate::emit::packet_text;
use crate::eval::{self, LimitMode};
use crate::ir::{ChainKind, ChainPolicy, Hook, Outcome, Policy};
use crate::nft::vocab::{PROTO_TCP, TCP_ACK, TCP_SYN};
use crate::nft::{self, Part, Rhs, Selector};
use crate::nft_eval;
use crate::packet::addr_value;
use crate::space::{
    CtState, CtStates, Cube, Families, Family, Intervals, NamePattern, Names, Packet, Protos,
};

/// The SSH port, which "all new SSH connections" means.
pub const SSH_PORT: u16 = 22;

/// How many rule visits (packets × rules) the port 22 question may cost
/// per ruleset before it gives up.
pub const BUDGET: usize = 20_000_000;

/// The session `SSH_CONNECTION` describes: `CLIENT_IP CLIENT_PORT SERVER_IP SERVER_PORT`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    pub client: IpAddr,
    pub client_port: u16,
    pub server: IpAddr,
    pub server_port: u16,
}

impl Session {
    /// Reads `SSH_CONNECTION`; `None` for anything else (a mixed-family
    /// pair cannot be one TCP flow).
    pub fn parse(text: &str) -> Option<Session> {
        let mut w = text.split_whitespace();
        let s = Session {
            client: w.next()?.parse().ok()?,
            client_port: w.next()?.parse().ok()?,
            server: w.next()?.parse().ok()?,
            server_port: w.next()?.parse().ok()?,
        };
        (w.next().is_none() && s.client.is_ipv4() == s.server.is_ipv4()).then_some(s)
    }

    fn packet(&self, incoming: bool, iface: &str) -> Packet {
        let family = if self.client.is_ipv4() { Family::V4 } else { Family::V6 };
        let (from, sport, to, dport, iif, oif) = if incoming {
            (self.client, self.client_port, self.server, self.server_port, iface, "")
        } else {
            (self.server, self.server_port, self.client, self.client_port, "", iface)
        };
        Packet {
            family,
            proto: PROTO_TCP,
            saddr: addr_value(from),
            daddr: addr_value(to),
            sport: Some(sport),
            dport: Some(dport),
            iif: iif.to_string(),
            oif: oif.to_string(),
            ct: CtState::Established,
            icmp_type: None,
            icmp_code: None,
            // A session's packets after the handshake carry ack.
            tcp_flags: Some(TCP_ACK),
            mark: 0,
        }
    }
}

/// What applying the new policy would cut off.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Lockout {
    /// A packet of the session this runs in is dropped (or rejected).
    Session { packet: String, hook: Hook },
    /// No new connection to port 22 gets in any more, while the current
    /// ruleset lets `example` in (when one was found).
    Ssh { example: Option<String> },
}

impl fmt::Display for Lockout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Lockout::Session { packet, hook } => write!(
                f,
                "the new policy drops this SSH session (`{packet}`, at hook {})",
                hook.keyword()
            ),
            Lockout::Ssh { example } => {
                write!(f, "the new policy drops every new SSH connection (tcp to port {SSH_PORT} from anywhere), which the current ruleset lets in")?;
                match example {
                    Some(p) => write!(f, " (e.g. `{p}`)"),
                    None => Ok(()),
                }
            }
        }
    }
}

/// The answer: what would be cut off, and what could not be decided.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Verdict {
    pub lockouts: Vec<Lockout>,
    /// Said when the port 22 question was too big to answer exactly.
    pub gave_up: Option<String>,
}

/// Asks both questions. `session` comes with the interfaces its packets may
/// use (the route's one when known); `current` is the live ruleset, where a
/// table that does not exist counts as accepting everything, as the kernel
/// does.
pub fn check(
    new: &Policy,
    current: &nft::Ruleset,
    session: Option<(&Session, &[String])>,
) -> Verdict {
    let mut v = Verdict::default();
    if let Some((s, ifaces)) = session {
        if let Some(l) = session_dropped(new, s, ifaces) {
            v.lockouts.push(l);
        }
    }
    if !has_input_drop(new) {
        return v;
    }
    let grid = Grid::of_policy(new);
    match grid.first(new_rule_count(new), |p| accepted_by_policy(new, p)) {
        Search::Found(_) => {}
        Search::GaveUp(n) => {
            v.gave_up = Some(format!(
                "the check for a lockout of port {SSH_PORT} gave up: the policy's addresses, ports and interfaces make {n} distinct packets to try"
            ));
        }
        Search::None => {
            let rules = current.tables.iter().flat_map(|t| &t.chains).map(|c| c.rules.len()).sum();
            match Grid::of_ruleset(current).first(rules, |p| accepted_by_ruleset(current, p)) {
                Search::Found(p) => {
                    v.lockouts.push(Lockout::Ssh { example: Some(packet_text(&p)) })
                }
                // Unsure whether it lets SSH in: say so as if it did, since
                // the policy surely does not.
                Search::GaveUp(_) => v.lockouts.push(Lockout::Ssh { example: None }),
                Search::None => {}
            }
        }
    }
    v
}

fn session_dropped(new: &Policy, s: &Session, ifaces: &[String]) -> Option<Lockout> {
    let unnamed = [String::new()];
    let ifaces = if ifaces.is_empty() { &unnamed[..] } else { ifaces };
    for iface in ifaces {
        for (incoming, hooks) in
            [(true, [Hook::Prerouting, Hook::Input]), (false, [Hook::Output, Hook::Postrouting])]
        {
            let packet = s.packet(incoming, iface);
            for hook in hooks {
                if established_outcome(new, hook, &packet) != Outcome::Accept {
                    return Some(Lockout::Session { packet: packet_text(&packet), hook });
                }
            }
        }
    }
    None
}

/// [`eval::evaluate`] for a packet of an established flow: every base
/// chain on `hook` in priority order but the `nat` ones, which conntrack
/// consults for a flow's first packet only.
fn established_outcome(policy: &Policy, hook: Hook, packet: &Packet) -> Outcome {
    let mut bases: Vec<(i32, u32, u32)> = Vec::new();
    for (t, table) in policy.tables.iter().enumerate() {
        for (c, chain) in table.chains.iter().enumerate() {
            if let Some(b) = chain.base.filter(|b| b.hook == hook && b.kind != ChainKind::Nat) {
                bases.push((b.priority, t as u32, c as u32));
            }
        }
    }
    bases.sort_unstable();
    for (_, t, c) in bases {
        let chain = crate::ir::ChainId(c);
        let (outcome, _) =
            eval::run_base(policy, t, chain, packet, LimitMode::UnderRate, &mut Vec::new());
        if outcome != Outcome::Accept {
            return outcome;
        }
    }
    Outcome::Accept
}

fn has_input_drop(p: &Policy) -> bool {
    p.tables.iter().flat_map(|t| &t.chains).any(|c| {
        c.base.is_some_and(|b| {
            b.hook == Hook::Input && b.kind == ChainKind::Filter && b.policy == ChainPolicy::Drop
        })
    })
}

fn new_rule_count(p: &Policy) -> usize {
    p.rules().count()
}

/// A new connection gets in when prerouting and input both let it pass.
fn accepted_by_policy(p: &Policy, packet: &Packet) -> bool {
    [Hook::Prerouting, Hook::Input].into_iter().all(|hook| {
        eval::evaluate(p, hook, packet, LimitMode::UnderRate).outcome == Outcome::Accept
    })
}

fn accepted_by_ruleset(rs: &nft::Ruleset, packet: &Packet) -> bool {
    [Hook::Prerouting, Hook::Input].into_iter().all(|hook| {
        nft_eval::trace_model(rs, hook, packet, LimitMode::UnderRate).outcome == Outcome::Accept
    })
}

/// The packets of the port 22 question: every new TCP connection to port
/// 22 on the input path, coming in on anything but loopback.
fn question() -> Cube {
    Cube {
        family: Families::ALL,
        proto: Protos::only(PROTO_TCP),
        dport: Some(Intervals::range(SSH_PORT as u128, SSH_PORT as u128)),
        iif: Names::exact("lo").complement(),
        oif: Names::exact(""),
        ct: CtStates::only(CtState::New),
        ..Cube::full()
    }
}

/// One value per cell of each field; their product hits every cell.
#[derive(Default)]
struct Grid {
    /// Per family (V4, V6): source and destination addresses.
    saddr: [BTreeSet<u128>; 2],
    daddr: [BTreeSet<u128>; 2],
    sport: BTreeSet<u128>,
    iif: BTreeSet<String>,
    /// The wildcards' prefixes (`eth` of `eth*`): the name that stands for
    /// every name no rule names must start with none of them.
    prefixes: BTreeSet<String>,
}

enum Search {
    Found(Packet),
    None,
    /// The grid has this many packets, more than the budget allows.
    GaveUp(usize),
}

fn fam(f: Family) -> usize {
    match f {
        Family::V4 => 0,
        Family::V6 => 1,
    }
}

impl Grid {
    fn add_range(set: &mut BTreeSet<u128>, lo: u128, hi: u128, max: u128) {
        set.insert(lo);
        if hi < max {
            set.insert(hi + 1);
        }
    }

    fn add_names(&mut self, names: &Names) {
        let m = names.patterns();
        for p in m.only.iter().flatten().chain(&m.not) {
            self.add_pattern(p);
        }
    }

    /// Names for each cell a pattern draws: `eth*` gives `eth0` and `eth`.
    fn add_pattern(&mut self, p: &NamePattern) {
        let names = match p {
            NamePattern::Exact(n) => vec![n.clone()],
            NamePattern::Prefix(p) => {
                self.prefixes.insert(p.clone());
                vec![format!("{p}0"), p.clone()]
            }
        };
        self.iif.extend(names.into_iter().filter(|n| n != "lo" && !n.is_empty() && n.len() < 16));
    }

    /// The grid of the rules whose space meets the question.
    fn of_policy(p: &Policy) -> Grid {
        let q = question();
        let mut g = Grid::default();
        for cube in p.rules().flat_map(|r| &r.space).filter(|c| c.intersects(&q)) {
            if let Some(f) = cube.family.single() {
                let max = f.max_addr();
                for (field, set) in
                    [(&cube.saddr, &mut g.saddr[fam(f)]), (&cube.daddr, &mut g.daddr[fam(f)])]
                {
                    for &(lo, hi) in field.iter().flat_map(|i| i.ranges()) {
                        Grid::add_range(set, lo, hi, max);
                    }
                }
            }
            for &(lo, hi) in cube.sport.iter().flat_map(|i| i.ranges()) {
                Grid::add_range(&mut g.sport, lo, hi, u16::MAX as u128);
            }
            g.add_names(&cube.iif);
        }
        g
    }

    /// The grid of every value a live ruleset matches on or looks up.
    fn of_ruleset(rs: &nft::Ruleset) -> Grid {
        let mut g = Grid::default();
        for t in &rs.tables {
            let elems = |rhs: &Rhs| -> Vec<nft::Elem> {
                match rhs {
                    Rhs::Value(e) => vec![e.clone()],
                    Rhs::Set(es) => es.clone(),
                    Rhs::Named(name) => named(t, name),
                    Rhs::Flags(_) | Rhs::Masked { .. } => Vec::new(),
                }
            };
            for rule in t.chains.iter().flat_map(|c| &c.rules) {
                for e in &rule.exprs {
                    let (key, es) = match e {
                        nft::Expr::Match { key, rhs, .. } => (key, elems(rhs)),
                        nft::Expr::Vmap { key, map } => (key, named(t, map)),
                        _ => continue,
                    };
                    for el in &es {
                        for (sel, part) in key.iter().zip(&el.0) {
                            g.add_part(*sel, part);
                        }
                    }
                }
            }
        }
        g
    }

    fn add_part(&mut self, sel: Selector, part: &Part) {
        let v4 = Family::V4.max_addr();
        // A masked address's element stands for its whole network.
        let widened;
        let (sel, part) = match (sel.net_mask(), part) {
            (Some(mask), Part::Int(lo, hi)) => {
                let host = !mask & if sel.len() == 4 { v4 } else { u128::MAX };
                widened = Part::Int(*lo, *hi | host);
                (sel.unmasked(), &widened)
            }
            _ => (sel, part),
        };
        match (sel, part) {
            (Selector::Ip4Saddr, Part::Int(lo, hi)) => {
                Grid::add_range(&mut self.saddr[0], *lo, *hi, v4)
            }
            (Selector::Ip6Saddr, Part::Int(lo, hi)) => {
                Grid::add_range(&mut self.saddr[1], *lo, *hi, u128::MAX)
            }
            (Selector::Ip4Daddr, Part::Int(lo, hi)) => {
                Grid::add_range(&mut self.daddr[0], *lo, *hi, v4)
            }
            (Selector::Ip6Daddr, Part::Int(lo, hi)) => {
                Grid::add_range(&mut self.daddr[1], *lo, *hi, u128::MAX)
            }
            (Selector::ThSport, Part::Int(lo, hi)) => {
                Grid::add_range(&mut self.sport, *lo, *hi, u16::MAX as u128)
            }
            (Selector::Iifname, Part::Str(s)) => self.add_pattern(&NamePattern::parse(s)),
            _ => {}
        }
    }

    /// The first packet of the grid `accepts` takes, trying the plain
    /// values (documentation addresses, port 40000, `eth0`) first so that
    /// an example reads well.
    fn first(self, rules: usize, accepts: impl Fn(&Packet) -> bool) -> Search {
        let mut iifs: Vec<String> = Vec::new();
        // A name no rule names, outside every wildcard but `*` (which holds
        // every name): `eth0` when it is one, or else a name of one
        // character no wildcard starts with. `iif != eth*` alone must not
        // read as "every interface is `eth...`".
        let outside = |n: &String| {
            !self.iif.contains(n)
                && !self.prefixes.iter().any(|p| !p.is_empty() && n.starts_with(p.as_str()))
        };
        let fresh = (0..1000)
            .map(|i| format!("eth{i}"))
            .chain((b'!'..=b'~').filter(|c| !b"/:*".contains(c)).map(|c| char::from(c).into()))
            .find(outside);
        iifs.extend(fresh);
        iifs.extend(self.iif);
        let sports = ordered(40000, self.sport);
        let per_family = |f: Family| {
            let (s, d) = match f {
                Family::V4 => (0xcb00_7101, 0xc633_6401), // 203.0.113.1, 198.51.100.1
                Family::V6 => (0x2001_0db8_u128 << 96 | 1, 0x2001_0db8_u128 << 96 | 2),
            };
            (ordered(s, self.saddr[fam(f)].clone()), ordered(d, self.daddr[fam(f)].clone()))
        };
        let families: Vec<_> = Family::ALL.into_iter().map(|f| (f, per_family(f))).collect();
        let total: usize = families
            .iter()
            .map(|(_, (s, d))| s.len().saturating_mul(d.len()))
            .sum::<usize>()
            .saturating_mul(sports.len())
            .saturating_mul(iifs.len());
        if total.saturating_mul(rules.max(1)) > BUDGET {
            return Search::GaveUp(total);
        }
        for iif in &iifs {
            for (f, (saddrs, daddrs)) in &families {
                for &saddr in saddrs {
                    for &daddr in daddrs {
                        for &sport in &sports {
                            let p = Packet {
                                family: *f,
                                proto: PROTO_TCP,
                                saddr,
                                daddr,
                                sport: Some(sport as u16),
                                dport: Some(SSH_PORT),
                                iif: iif.clone(),
                                oif: String::new(),
                                ct: CtState::New,
                                icmp_type: None,
                                icmp_code: None,
                                // The first packet of a new session: syn.
                                tcp_flags: Some(TCP_SYN),
                                mark: 0,
                            };
                            if accepts(&p) {
                                return Search::Found(p);
                            }
                        }
                    }
                }
            }
        }
        Search::None
    }
}

/// `plain` first, then 0 (every field's first cell), then the boundaries.
fn ordered(plain: u128, boundaries: BTreeSet<u128>) -> Vec<u128> {
    let mut out = vec![plain];
    out.extend(std::iter::once(0).chain(boundaries).filter(|v| *v != plain));
    out.dedup();
    out
}

fn named(t: &nft::Table, name: &str) -> Vec<nft::Elem> {
    t.sets
        .iter()
        .filter(|s| s.name == name)
        .flat_map(|s| s.elements.iter().map(|e| e.key.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(src: &'static str) -> Policy {
        let fe = crate::resolve::resolve_str("t.shr", src);
        fe.policy.unwrap_or_else(|| panic!("the test policy resolves: {:?}", fe.diagnostics))
    }

    fn lower(p: &Policy) -> nft::Ruleset {
        crate::lower::lower(p, crate::lower::Strategy::Auto).ruleset
    }

    fn session(s: &str) -> Session {
        Session::parse(s).expect("a session")
    }

    /// The one-line answer for `new` against `current`, as `apply` says it.
    fn said(new: &'static str, current: Option<&'static str>, ssh: Option<(&str, &str)>) -> String {
        let new = policy(new);
        let current = current.map(|c| lower(&policy(c))).unwrap_or_default();
        let s = ssh.map(|(s, iface)| (session(s), vec![iface.to_string()]));
        let v = check(&new, &current, s.as_ref().map(|(s, i)| (s, i.as_slice())));
        let mut out: Vec<String> = v.lockouts.iter().map(|l| l.to_string()).collect();
        out.extend(v.gave_up);
        if out.is_empty() {
            "ok".into()
        } else {
            out.join("\n")
        }
    }

    const DROP_ALL: &str = "table t {\n  chain input hook input policy drop {\n    ct state established accept\n  }\n}\n";
    const MGMT_SSH: &str = "table t {\n  chain input hook input policy drop {\n    ct state established accept\n    saddr 10.0.0.0/8 tcp dport 22 accept\n  }\n}\n";
    const OPEN: &str = "table t {\n  chain input hook input policy accept {\n  }\n}\n";
    const SESSION: &str = "192.0.2.7 50022 10.0.0.1 22";

    #[test]
    fn ssh_connection_is_read_or_refused() {
        assert_eq!(
            Session::parse("10.1.2.3 50000 10.1.2.4 22"),
            Some(Session {
                client: "10.1.2.3".parse().unwrap(),
                client_port: 50000,
                server: "10.1.2.4".parse().unwrap(),
                server_port: 22
            })
        );
        assert!(Session::parse("fd00::1 50000 fd00::2 2222").is_some());
        for bad in [
            "",
            "10.1.2.3 50000 10.1.2.4",
            "10.1.2.3 x 10.1.2.4 22",
            "10.1.2.3 1 fd00::2 22",
            "a b c d",
            "10.1.2.3 1 10.1.2.4 22 9",
        ] {
            assert_eq!(Session::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_policy_that_drops_all_new_ssh_is_a_lockout_when_the_current_lets_it_in() {
        // Nothing live: a missing table accepts everything.
        assert_eq!(
            said(DROP_ALL, None, None),
            "the new policy drops every new SSH connection (tcp to port 22 from anywhere), which the current ruleset lets in (e.g. `tcp 203.0.113.1:40000 -> 198.51.100.1:22 iif eth0 ct new`)"
        );
        // The current ruleset lets in only 10/8: the example is found there.
        assert_eq!(
            said(DROP_ALL, Some(MGMT_SSH), None),
            "the new policy drops every new SSH connection (tcp to port 22 from anywhere), which the current ruleset lets in (e.g. `tcp 10.0.0.0:40000 -> 198.51.100.1:22 iif eth0 ct new`)"
        );
        // Already locked: nothing new is cut off.
        assert_eq!(said(DROP_ALL, Some(DROP_ALL), None), "ok");
    }

    #[test]
    fn ssh_from_some_addresses_or_interfaces_is_no_lockout() {
        assert_eq!(said(MGMT_SSH, None, None), "ok");
        let only_wan = "table t {\n  chain input hook input policy drop {\n    iif wan0 tcp dport 22 accept\n  }\n}\n";
        assert_eq!(said(only_wan, None, None), "ok");
        // Loopback does not count: nobody logs in remotely over `lo`.
        let only_lo =
            "table t {\n  chain input hook input policy drop {\n    iif lo accept\n  }\n}\n";
        assert!(said(only_lo, None, None).starts_with("the new policy drops every new SSH"));
        // Reached through a jump, with a limit that may hold.
        let jumped = "table t {\n  chain input hook input policy drop {\n    tcp dport 22 jump ssh\n  }\n  chain ssh {\n    limit 3/minute accept\n  }\n}\n";
        assert_eq!(said(jumped, None, None), "ok");
    }

    #[test]
    fn ssh_outside_a_wildcard_is_no_lockout() {
        // Open on every interface but `eth...`: the grid's name for "any
        // other interface" was `eth1`, inside the wildcard, so this read
        // as a lockout (found by lockout_props).
        let not_eth =
            "table t {\n  chain input hook input policy drop {\n    iif != eth* accept\n  }\n}\n";
        assert_eq!(said(not_eth, None, None), "ok");
        let not_e = "table t {\n  chain input hook input policy drop {\n    iif != { e*, wan0 } accept\n  }\n}\n";
        assert_eq!(said(not_e, None, None), "ok");
        let only_eth = "table t {\n  chain input hook input policy drop {\n    iif eth* tcp dport 22 accept\n  }\n}\n";
        assert_eq!(said(only_eth, None, None), "ok");
    }

    #[test]
    fn an_exact_grid_finds_the_one_open_cell() {
        // Open only for 10.0.0.5 and only from source ports 1024-2047,
        // between two drops: any sampling that misses the cell would cry wolf.
        let narrow = "table t {\n  chain input hook input policy drop {\n    saddr 10.0.0.4 drop\n    saddr 10.0.0.6 drop\n    saddr 10.0.0.4-10.0.0.6 tcp sport 1024-2047 tcp dport 22 accept\n  }\n}\n";
        assert_eq!(said(narrow, None, None), "ok");
    }

    #[test]
    fn explicit_drops_without_a_default_drop_are_a_choice() {
        let explicit =
            "table t {\n  chain input hook input policy accept {\n    tcp dport 22 drop\n  }\n}\n";
        assert_eq!(said(explicit, None, None), "ok");
    }

    #[test]
    fn the_session_is_checked_both_ways_on_its_interface() {
        // Established traffic accepted, new SSH from 10/8 only: the session from 192.0.2.7 lives.
        assert_eq!(said(MGMT_SSH, None, Some((SESSION, "eth0"))), "ok");
        // No established rule: the session's next packet in is dropped.
        let no_est = "table t {\n  chain input hook input policy drop {\n    saddr 10.0.0.0/8 tcp dport 22 accept\n  }\n}\n";
        assert_eq!(
            said(no_est, None, Some((SESSION, "eth0"))),
            "the new policy drops this SSH session (`tcp 192.0.2.7:50022 -> 10.0.0.1:22 iif eth0 ct established`, at hook input)"
        );
        // Replies going out are dropped.
        let out = "table t {\n  chain output hook output policy drop {\n  }\n}\n";
        assert_eq!(
            said(out, None, Some((SESSION, "eth1"))),
            "the new policy drops this SSH session (`tcp 10.0.0.1:22 -> 192.0.2.7:50022 oif eth1 ct established`, at hook output)"
        );
        // Dropped only on another interface: this session is fine.
        let other_if =
            "table t {\n  chain input hook input policy accept {\n    iif wan0 drop\n  }\n}\n";
        assert_eq!(said(other_if, None, Some((SESSION, "eth0"))), "ok");
        assert!(said(other_if, None, Some((SESSION, "wan0")))
            .starts_with("the new policy drops this SSH session"));
    }

    #[test]
    fn nat_chains_do_not_see_an_established_session() {
        let nat = "table t {\n  chain pre hook prerouting type nat policy accept {\n    tcp dport 22 dnat to 10.9.9.9:22\n  }\n}\n";
        assert_eq!(said(nat, None, Some((SESSION, "eth0"))), "ok");
    }

    #[test]
    fn the_evaluators_agree_on_the_lowered_policy() {
        // The new policy through eval, its lowering through nft_eval: the
        // same grid question gets the same answer.
        for src in [DROP_ALL, MGMT_SSH, OPEN] {
            let p = policy(src);
            let rs = lower(&p);
            let g = || Grid::of_policy(&p);
            let by_ir = matches!(g().first(10, |x| accepted_by_policy(&p, x)), Search::Found(_));
            let by_nft = matches!(g().first(10, |x| accepted_by_ruleset(&rs, x)), Search::Found(_));
            assert_eq!(by_ir, by_nft, "{src}");
        }
    }
}
