//! Random `iptables-save` rulesets: the filter and nat tables of both
//! families, user chains (jump and goto), default policies, and the matches
//! and targets `shriekc import` reads: `--reject-with` answers, LOG levels,
//! `-m hashlimit` and `-m connlimit` among them, with rates and counts that
//! give the same verdicts on every run. The IPv6 ruleset is often the IPv4
//! one with its addresses swapped and a few rules changed, as real dual-stack
//! rulesets are, so that the import's merging of the two gets exercised.
//!
//! Marks: the mangle table sets them before routing (and on the replies in
//! OUTPUT), filter rules set them with `-j MARK` and match them with `-m
//! mark`, with masks the language says as ranges. Every mark set is even,
//! so `--mark 0x1/0x1` holds for no probe.
//!
//! A few rules use what the language cannot say yet (packet types, sparse
//! mark masks, connection marks) in a way no probe can meet; the import
//! must leave exactly those out, and the probes' verdicts must still agree.

use super::gen::{destinations, port_list, port_range, sources, Rng};

pub struct Ruleset {
    pub v4: String,
    pub v6: String,
    /// How many rules the import must leave out.
    pub inert: usize,
}

#[derive(Clone)]
enum Target {
    Accept,
    Drop,
    Reject,
    Log,
    Return,
    Jump(usize),
    Goto(usize),
    /// `-j MARK` with these options: evaluation goes on.
    Mark(&'static str),
    None,
}

#[derive(Clone)]
enum Ports {
    Single { src: bool, lo: u16, hi: u16, neg: bool },
    Multi { opt: &'static str, list: Vec<(u16, u16)>, neg: bool },
}

#[derive(Clone)]
struct Rule {
    src: Option<(bool, usize)>,
    dst: Option<(bool, usize)>,
    iface: Option<String>,
    proto: Option<(bool, &'static str)>,
    /// `--icmp-type`: negated, and the index in `ICMP_TYPES`.
    icmp: Option<(bool, usize)>,
    ports: Option<Ports>,
    state: Option<(bool, bool, &'static str)>,
    /// `--syn`, `--tcp-flags MASK COMP`, with or without `!`: TCP rules only.
    flags: Option<&'static str>,
    comment: Option<&'static str>,
    limit: Option<(&'static str, u32)>,
    /// `-m hashlimit` or `-m connlimit`, after the other matches.
    per_addr: Option<PerAddr>,
    /// `--reject-with`: the index in `REJECTS`.
    reject_with: usize,
    /// `--log-level`.
    log_level: Option<&'static str>,
    /// `-m mark`: negated, and the `--mark` value.
    mark: Option<(bool, &'static str)>,
    target: Target,
    /// A rule the import must leave out, which no probe meets.
    inert: Option<&'static str>,
}

#[derive(Clone)]
enum PerAddr {
    /// `--hashlimit-upto RATE --hashlimit-burst B`, keyed on `--hashlimit-mode`
    /// (none: one bucket), with its table's name and expiry.
    Hash {
        rate: &'static str,
        burst: u32,
        mode: Option<&'static str>,
        name: String,
        expire: Option<u64>,
    },
    /// `--connlimit-above N`, per source or destination.
    Conn { above: u32, daddr: bool },
}

/// `--reject-with` answers, IPv4's and IPv6's side by side; the first is
/// none (the default), the last `tcp-reset`, for TCP rules only.
const REJECTS: &[(&str, &str)] = &[
    ("", ""),
    ("icmp-port-unreachable", "icmp6-port-unreachable"),
    ("icmp-host-unreachable", "icmp6-addr-unreachable"),
    ("icmp-admin-prohibited", "icmp6-adm-prohibited"),
    ("icmp-net-unreachable", "icmp6-no-route"),
    ("icmp-proto-unreachable", "icmp6-policy-fail"),
    ("icmp-host-prohibited", "icmp6-reject-route"),
    ("icmp-net-prohibited", "icmp6-adm-prohibited"),
    ("tcp-reset", "tcp-reset"),
];
const LOG_LEVELS: &[&str] = &["7", "6", "info", "debug", "warning", "4", "crit"];

/// `-m tcp` flag tests. The probes' packets are a SYN (sent again after
/// a second when unanswered), the host's SYN-ACK or RST-ACK, and the
/// client's ACK: each test tells some of them apart.
const TCP_FLAGS: &[&str] = &[
    "--syn",
    "! --syn",
    "--tcp-flags SYN,ACK SYN",
    "--tcp-flags SYN,ACK SYN,ACK",
    "! --tcp-flags SYN,RST,ACK SYN",
    "--tcp-flags RST RST",
    "--tcp-flags ALL NONE",
    "! --tcp-flags ALL NONE",
    "--tcp-flags FIN,SYN,RST,PSH,ACK,URG FIN,PSH,URG",
    "--tcp-flags ACK ACK",
];

const USER_CHAINS: &[&str] = &["u1-chk", "U2", "web.in"];
const STATES: &[&str] = &["NEW", "ESTABLISHED", "RELATED,ESTABLISHED", "INVALID", "NEW,INVALID"];
const COMMENTS: &[&str] = &["allow web", "ssh \"admins\"", "drop-rest"];
const INERT: &[&str] = &[
    "-m pkttype --pkt-type broadcast -j DROP",
    "-m pkttype --pkt-type multicast -j DROP",
    "-m mark --mark 0x1/0x1 -j DROP",
    "-m connmark --mark 0x1 -j DROP",
];
/// `--mark` values (with masks the language says as a range or a set), and
/// `-j MARK` options; the marks set are 0x2, 0x10000 and 0x20002.
const MARK_MATCHES: &[&str] = &["0x2", "0x0", "0x10000/0xffff0000", "0x2/0xfffdffff", "0x20002"];
const MARK_SETS: &[&str] =
    &["--set-xmark 0x2/0xffffffff", "--set-mark 0x10000", "--set-xmark 0x20002/0xffffffff"];
/// `--icmp-type` values: IPv4's, and IPv6's of the same meaning
/// (ip6tables has no `any`).
const ICMP_TYPES: &[(&str, &str)] = &[("8", "128"), ("0", "129"), ("3/3", "1/4"), ("any", "2")];

pub fn ruleset(rng: &mut Rng, block: u32) -> Ruleset {
    let users = rng.below(USER_CHAINS.len() + 1);
    let chains4 = chains(rng, block, users);
    let chains6 = if rng.chance(60) {
        mirror(rng, block, users, &chains4)
    } else {
        chains(rng, block, users)
    };
    let policies4 = policies(rng);
    let policies6 = if rng.chance(70) { policies4 } else { policies(rng) };
    let nat4 = nat(rng, false);
    let nat6 = nat(rng, true);
    let mangle4 = mangle(rng, false);
    let mangle6 = mangle(rng, true);
    let inert = [&chains4, &chains6]
        .iter()
        .flat_map(|cs| cs.iter().flat_map(|(_, rs)| rs.iter()))
        .filter(|r| r.inert.is_some())
        .count();
    Ruleset {
        v4: render(false, users, policies4, &chains4, &nat4, &mangle4),
        v6: render(true, users, policies6, &chains6, &nat6, &mangle6),
        inert,
    }
}

type Chains = Vec<(String, Vec<Rule>)>;

fn chains(rng: &mut Rng, block: u32, users: usize) -> Chains {
    let mut out = Vec::new();
    let sizes = [("INPUT", 2, 9), ("FORWARD", 0, 2), ("OUTPUT", 0, 3)];
    for (name, lo, hi) in sizes {
        let n = lo + rng.below(hi - lo + 1);
        let rules = (0..n).map(|_| rule(rng, block, name, None, users)).collect();
        out.push((name.to_string(), rules));
    }
    for (i, name) in USER_CHAINS.iter().enumerate().take(users) {
        let n = 1 + rng.below(4);
        let rules = (0..n).map(|_| rule(rng, block, name, Some(i), users)).collect();
        out.push((name.to_string(), rules));
    }
    out
}

/// The other family's chains: the same rules, with a few dropped or new.
fn mirror(rng: &mut Rng, block: u32, users: usize, from: &Chains) -> Chains {
    from.iter()
        .enumerate()
        .map(|(ci, (name, rules))| {
            let user = ci.checked_sub(3);
            let mut out = Vec::new();
            for r in rules {
                if rng.chance(85) {
                    out.push(r.clone());
                }
                if rng.chance(10) {
                    out.push(rule(rng, block, name, user, users));
                }
            }
            (name.clone(), out)
        })
        .collect()
}

fn policies(rng: &mut Rng) -> [&'static str; 3] {
    let p = |rng: &mut Rng, drop: u64| if rng.chance(drop) { "DROP" } else { "ACCEPT" };
    [p(rng, 60), p(rng, 30), p(rng, 10)]
}

fn rule(rng: &mut Rng, block: u32, chain: &str, user: Option<usize>, users: usize) -> Rule {
    let output = chain == "OUTPUT";
    let mut r = Rule {
        src: None,
        dst: None,
        iface: None,
        proto: None,
        icmp: None,
        ports: None,
        state: None,
        flags: None,
        comment: None,
        limit: None,
        per_addr: None,
        reject_with: 0,
        log_level: None,
        mark: None,
        target: Target::None,
        inert: None,
    };
    if chain == "INPUT" && rng.chance(6) {
        r.inert = Some(*rng.pick(INERT));
        return r;
    }
    // Output rules see the replies: host to client.
    if rng.chance(35) {
        r.src = Some((rng.chance(20), rng.below(7)));
    }
    if rng.chance(15) {
        r.dst = Some((rng.chance(20), rng.below(4)));
    }
    if user.is_none() && rng.chance(15) {
        let dir = if output { "-o" } else { "-i" };
        let neg = if rng.chance(30) { "! " } else { "" };
        // Wildcards too: `v+` is every name that starts with `v`, `+` every
        // name. Not `! -o +`: the kernel keeps it (no packet matches), but
        // iptables-save prints a rule without it, so the listing would not
        // say what the kernel does.
        let names: &[&str] = if neg.is_empty() {
            &["v0", "v0", "v0", "lo", "v+", "l+", "+"]
        } else {
            &["v0", "v0", "v0", "lo", "v+", "l+"]
        };
        let name = *rng.pick(names);
        r.iface = Some(format!("{neg}{dir} {name}"));
    }
    if rng.chance(65) {
        let p = *rng.pick(&["tcp", "tcp", "udp", "icmp"]);
        r.proto = Some((p != "icmp" && rng.chance(8), p));
        if p == "icmp" && rng.chance(60) {
            r.icmp = Some((rng.chance(25), rng.below(ICMP_TYPES.len())));
        }
    }
    if let Some((false, p @ ("tcp" | "udp"))) = r.proto {
        if rng.chance(65) {
            let udp = p == "udp";
            r.ports = Some(if rng.chance(60) {
                let src = output || rng.chance(25);
                let (lo, hi) = port_range(rng, udp, block, src && !output);
                Ports::Single { src, lo, hi, neg: rng.chance(15) }
            } else {
                let opt = *rng.pick(&["--dports", "--sports", "--ports"]);
                let list = port_list(rng, udp, block, opt == "--sports");
                Ports::Multi { opt, list, neg: rng.chance(15) }
            });
        }
    }
    if matches!(r.proto, Some((false, "tcp"))) && rng.chance(25) {
        r.flags = Some(*rng.pick(TCP_FLAGS));
    }
    if rng.chance(25) {
        r.state = Some((rng.chance(20), rng.chance(50), *rng.pick(STATES)));
    }
    if rng.chance(10) {
        r.comment = Some(*rng.pick(COMMENTS));
    }
    if rng.chance(15) {
        r.mark = Some((rng.chance(25), *rng.pick(MARK_MATCHES)));
    }
    // `--ports` is two rules, which cannot share one limit: the import leaves
    // such a rule out (tested on its own).
    let either = matches!(&r.ports, Some(Ports::Multi { opt: "--ports", neg: false, .. }));
    // A rate that runs out is only for UDP rules of INPUT, which see the
    // probes' datagrams once each and in the order sent. A TCP probe that
    // is dropped or refused sends its SYN again after a second, which
    // would spend a second token (or not, when late); the replies OUTPUT
    // sees leave in the order the servers answer, which a busy machine
    // may change. Rates that never run out are for any rule.
    let low_rate = matches!(r.proto, Some((false, "udp"))) && chain == "INPUT";
    if !either && rng.chance(10) {
        r.limit = Some(if low_rate && rng.chance(50) {
            ("1/hour", 1 + rng.below(3) as u32)
        } else {
            ("1000/sec", 1000)
        });
    }
    if !either && r.limit.is_none() && rng.chance(12) {
        r.per_addr = Some(if rng.chance(60) {
            let (rate, burst, expire) = if low_rate && rng.chance(60) {
                // Full again after burst hours: the table keeps an
                // address that long, as shriek's set does.
                let burst = 1 + rng.below(3) as u32;
                ("1/hour", burst, Some(u64::from(burst) * 3_600_000))
            } else {
                ("1000/sec", 1000, None)
            };
            let mode = *rng.pick(&[Some("srcip"), Some("srcip"), Some("dstip"), None]);
            let name = format!("h{:06x}", rng.next() & 0xff_ffff);
            PerAddr::Hash { rate, burst, mode, name, expire }
        } else {
            // Over 100: no packet the probes make. Over 0 holds for every
            // packet whose connection the rule counted, which the first
            // packet of each connection is (it is added as it passes); a
            // later packet (a resent SYN after the answer was dropped, a
            // reply) may reach it uncounted and see the count of the
            // connections conntrack has not forgotten yet, which depends on
            // timing. So over 0 only on packets that open a connection:
            // `--ctstate NEW` in INPUT.
            let above = if chain == "INPUT" && rng.chance(50) { 0 } else { 100 };
            if above == 0 {
                r.state = Some((false, true, "NEW"));
            }
            PerAddr::Conn { above, daddr: rng.chance(30) }
        });
    }
    let first_user = user.map_or(0, |u| u + 1);
    let roll = rng.below(100);
    r.reject_with = if matches!(r.proto, Some((false, "tcp"))) && rng.chance(30) {
        REJECTS.len() - 1
    } else {
        rng.below(REJECTS.len() - 1)
    };
    if rng.chance(40) {
        r.log_level = Some(*rng.pick(LOG_LEVELS));
    }
    r.target = match roll {
        0..=24 => Target::Accept,
        25..=44 => Target::Drop,
        45..=57 => Target::Reject,
        58..=64 => Target::Log,
        65..=71 => Target::Return,
        92..=99 if rng.chance(60) => {
            // One matched mark, changed in some of its bits, is a mark the
            // language sets.
            if r.mark.is_none() && rng.chance(30) {
                r.mark = Some((false, "0x2"));
                Target::Mark("--or-mark 0x20000")
            } else {
                Target::Mark(MARK_SETS[rng.below(MARK_SETS.len())])
            }
        }
        72..=91 if first_user < users => {
            let to = first_user + rng.below(users - first_user);
            if roll < 86 {
                Target::Jump(to)
            } else {
                Target::Goto(to)
            }
        }
        _ => Target::None,
    };
    r
}

fn render(
    v6: bool,
    users: usize,
    policies: [&str; 3],
    chains: &Chains,
    nat: &[String],
    mangle: &[String],
) -> String {
    let tool = if v6 { "ip6tables-save" } else { "iptables-save" };
    let mut out = format!("# Generated by {tool} v1.8.9\n");
    if !mangle.is_empty() {
        out.push_str("*mangle\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n");
        for line in mangle {
            out.push_str(line);
            out.push('\n');
        }
        out.push_str("COMMIT\n");
    }
    out.push_str("*filter\n");
    out.push_str(&format!(
        ":INPUT {} [0:0]\n:FORWARD {} [0:0]\n:OUTPUT {} [0:0]\n",
        policies[0], policies[1], policies[2]
    ));
    for name in USER_CHAINS.iter().take(users) {
        out.push_str(&format!(":{name} - [0:0]\n"));
    }
    for (name, rules) in chains {
        for r in rules {
            out.push_str(&format!("-A {name} {}\n", rule_text(r, v6)));
        }
    }
    out.push_str("COMMIT\n*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n");
    for line in nat {
        out.push_str(line);
        out.push('\n');
    }
    out.push_str("COMMIT\n");
    out
}

fn rule_text(r: &Rule, v6: bool) -> String {
    if let Some(inert) = r.inert {
        return inert.to_string();
    }
    let bang = |neg: bool| if neg { "! " } else { "" };
    let mut parts: Vec<String> = Vec::new();
    if let Some((neg, i)) = r.src {
        let list = sources(v6);
        parts.push(format!("{}-s {}", bang(neg), list[i % list.len()]));
    }
    if let Some((neg, i)) = r.dst {
        let list = destinations(v6);
        parts.push(format!("{}-d {}", bang(neg), list[i % list.len()]));
    }
    if let Some(iface) = &r.iface {
        parts.push(iface.clone());
    }
    if let Some((neg, p)) = r.proto {
        let p = if p == "icmp" && v6 { "ipv6-icmp" } else { p };
        parts.push(format!("{}-p {p}", bang(neg)));
    }
    if let Some((neg, i)) = r.icmp {
        let (v4, v6_type) = ICMP_TYPES[i];
        // `! --icmp-type T/C` is two rules' worth of matches, `! any` no packet.
        let neg = neg && !v4.contains('/') && v4 != "any";
        if v6 {
            parts.push(format!("-m icmp6 {}--icmpv6-type {v6_type}", bang(neg)));
        } else {
            parts.push(format!("-m icmp {}--icmp-type {v4}", bang(neg)));
        }
    }
    match &r.ports {
        Some(Ports::Single { src, lo, hi, neg }) => {
            let p = r.proto.map_or("tcp", |p| p.1);
            let opt = if *src { "--sport" } else { "--dport" };
            let v = if lo == hi { lo.to_string() } else { format!("{lo}:{hi}") };
            parts.push(format!("-m {p} {}{opt} {v}", bang(*neg)));
        }
        Some(Ports::Multi { opt, list, neg }) => {
            let v: Vec<String> = list
                .iter()
                .map(|(lo, hi)| if lo == hi { lo.to_string() } else { format!("{lo}:{hi}") })
                .collect();
            parts.push(format!("-m multiport {}{opt} {}", bang(*neg), v.join(",")));
        }
        None => {}
    }
    if let Some(flags) = r.flags {
        parts.push(format!("-m tcp {flags}"));
    }
    if let Some((neg, conntrack, states)) = r.state {
        if conntrack {
            parts.push(format!("-m conntrack {}--ctstate {states}", bang(neg)));
        } else {
            parts.push(format!("-m state {}--state {states}", bang(neg)));
        }
    }
    if let Some(c) = r.comment {
        parts.push(format!("-m comment --comment \"{}\"", c.replace('"', "\\\"")));
    }
    if let Some((neg, mark)) = r.mark {
        parts.push(format!("-m mark {}--mark {mark}", bang(neg)));
    }
    if let Some((rate, burst)) = r.limit {
        parts.push(format!("-m limit --limit {rate} --limit-burst {burst}"));
    }
    match &r.per_addr {
        Some(PerAddr::Hash { rate, burst, mode, name, expire }) => {
            let mut s = format!("-m hashlimit --hashlimit-upto {rate} --hashlimit-burst {burst}");
            if let Some(m) = mode {
                s.push_str(&format!(" --hashlimit-mode {m}"));
            }
            s.push_str(&format!(" --hashlimit-name {name}"));
            if let Some(e) = expire {
                s.push_str(&format!(" --hashlimit-htable-expire {e}"));
            }
            parts.push(s);
        }
        Some(PerAddr::Conn { above, daddr }) => {
            let mask = if v6 { 128 } else { 32 };
            let key = if *daddr { "--connlimit-daddr" } else { "--connlimit-saddr" };
            parts.push(format!(
                "-m connlimit --connlimit-above {above} --connlimit-mask {mask} {key}"
            ));
        }
        None => {}
    }
    match &r.target {
        Target::Accept => parts.push("-j ACCEPT".into()),
        Target::Drop => parts.push("-j DROP".into()),
        Target::Reject => {
            let with = if v6 { REJECTS[r.reject_with].1 } else { REJECTS[r.reject_with].0 };
            parts.push(if with.is_empty() {
                "-j REJECT".into()
            } else {
                format!("-j REJECT --reject-with {with}")
            });
        }
        Target::Log => {
            let level = r.log_level.map_or(String::new(), |l| format!(" --log-level {l}"));
            parts.push(format!("-j LOG --log-prefix \"imp: \"{level}"));
        }
        Target::Return => parts.push("-j RETURN".into()),
        Target::Jump(i) => parts.push(format!("-j {}", USER_CHAINS[*i])),
        Target::Goto(i) => parts.push(format!("-g {}", USER_CHAINS[*i])),
        Target::Mark(opts) => parts.push(format!("-j MARK {opts}")),
        Target::None => {}
    }
    parts.join(" ")
}

/// The nat table's rules: translations the probes meet in prerouting, and
/// source NAT in postrouting, which only new outgoing connections meet.
fn nat(rng: &mut Rng, v6: bool) -> Vec<String> {
    let host = if v6 { "[fd09::1]" } else { "10.9.0.1" };
    let src = if v6 { "fd09::3" } else { "10.9.0.3" };
    let mut out = Vec::new();
    let n = rng.below(4);
    for _ in 0..n {
        let only = if rng.chance(30) { format!("-s {src} ") } else { String::new() };
        out.push(match rng.below(5) {
            0 => format!(
                "-A PREROUTING {only}-p tcp -m tcp --dport 8081 -j DNAT --to-destination {host}:80"
            ),
            1 => format!(
                "-A PREROUTING {only}-p udp -m udp --dport 8083 -j DNAT --to-destination {host}:53"
            ),
            2 => {
                format!("-A PREROUTING {only}-p tcp -m tcp --dport 8082 -j REDIRECT --to-ports 22")
            }
            3 => format!("-A PREROUTING -s {src} -p tcp -m tcp --dport 8081 -j ACCEPT"),
            _ => format!("-A PREROUTING {only}-p tcp -m tcp --dport 8082 -j RETURN"),
        });
    }
    if rng.chance(50) {
        out.push("-A POSTROUTING -o v0 -j MASQUERADE".into());
    }
    if rng.chance(40) {
        let (net, to) = if v6 { ("fd09::/64", "fd09::1") } else { ("10.9.0.0/24", "10.9.0.1") };
        out.push(format!("-A POSTROUTING -s {net} -j SNAT --to-source {to}"));
    }
    out
}

/// The mangle table's rules (none: no mangle table): marks set before
/// routing, which the filter rules then read, and on replies in OUTPUT.
fn mangle(rng: &mut Rng, v6: bool) -> Vec<String> {
    if rng.chance(40) {
        return Vec::new();
    }
    let src = if v6 { "fd09::3" } else { "10.9.0.3" };
    let mut out = Vec::new();
    for _ in 0..1 + rng.below(3) {
        let set = *rng.pick(MARK_SETS);
        out.push(match rng.below(5) {
            0 => format!("-A PREROUTING -s {src} -j MARK {set}"),
            1 => format!("-A PREROUTING -p udp -j MARK {set}"),
            2 => "-A PREROUTING -m mark --mark 0x2 -j MARK --or-mark 0x20000".into(),
            3 => format!("-A OUTPUT -p tcp -m tcp --sport 80 -j MARK {set}"),
            _ => {
                "-A PREROUTING -p tcp -m tcp --dport 9999 -m mark --mark 0x10000/0xffff0000 -j DROP"
                    .into()
            }
        });
    }
    out
}
