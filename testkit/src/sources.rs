//! Random `.shr` sources and the verdicts the language gives them, read
//! from docs/language.md alone: the evaluator here reads its own rules,
//! never the resolved IR or its match spaces, so a wrong cube out of
//! `resolve` shows as surely as a wrong nft rule out of `lower`.
//!
//! The sources use every match that decides a verdict, negated or not,
//! with values at the edges of their fields (port 0 and 65535, /0, /32 and
//! /128 prefixes, mark 0 and 0xffffffff, protocol numbers 0 and 255), on
//! every hook, with `mark set`, limits, translations, `jump`, `goto` and
//! `return`, in one table or two. The compiler's `source_props` holds the
//! compiled model to it; shriekc's `kernel_verdicts` holds the kernel to
//! it with real packets, on the part of the language a raw socket can
//! show ([`Domain::Kernel`]).

use std::fmt::Write as _;
use std::net::{Ipv4Addr, Ipv6Addr};

use shriek_compiler::eval::LimitMode;
use shriek_compiler::ir::{Hook, Outcome};
use shriek_compiler::nft::vocab::TCP_FLAGS;
use shriek_compiler::space::{CtState, Family, Packet};

mod strategies;
pub use strategies::*;

/// What the random sources and packets may hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Domain {
    /// The whole language, for the compiled model.
    Model,
    /// What real packets from a raw socket on the output hook can show:
    /// no `ct state` (the kernel picks a lone packet's state), no limits,
    /// no translation, and packets the kernel will route.
    Kernel,
}

/// Addresses the packets carry, as (family, value): the ends of each
/// family, and a few inside and around the prefixes the rules name.
pub const V4: [u32; 7] =
    [0, 0x0a00_0000, 0x0a00_0001, 0x0a00_00ff, 0x0a00_0100, 0xfffffffe, u32::MAX];
pub const V6: [u128; 7] = [
    0,
    0xfd00 << 112,
    (0xfd00 << 112) + 1,
    (0xfd00 << 112) + 0xffff,
    (0xfd00 << 112) + 0x1_0000,
    u128::MAX - 1,
    u128::MAX,
];

/// Address items a rule may name: (text, family, low, high).
pub fn addr_items() -> Vec<(&'static str, Family, u128, u128)> {
    let v4 = |a: &str| u32::from(a.parse::<Ipv4Addr>().expect("an address")) as u128;
    let v6 = |a: &str| u128::from(a.parse::<Ipv6Addr>().expect("an address"));
    vec![
        ("0.0.0.0/0", Family::V4, 0, u32::MAX as u128),
        ("10.0.0.0/8", Family::V4, v4("10.0.0.0"), v4("10.255.255.255")),
        ("10.0.0.0/24", Family::V4, v4("10.0.0.0"), v4("10.0.0.255")),
        ("10.0.0.0/31", Family::V4, v4("10.0.0.0"), v4("10.0.0.1")),
        ("10.0.0.1", Family::V4, v4("10.0.0.1"), v4("10.0.0.1")),
        ("10.0.0.1/32", Family::V4, v4("10.0.0.1"), v4("10.0.0.1")),
        ("10.0.0.1-10.0.1.0", Family::V4, v4("10.0.0.1"), v4("10.0.1.0")),
        ("255.255.255.255", Family::V4, u32::MAX as u128, u32::MAX as u128),
        ("0.0.0.0", Family::V4, 0, 0),
        ("::/0", Family::V6, 0, u128::MAX),
        ("fd00::/8", Family::V6, v6("fd00::"), v6("fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")),
        ("fd00::/112", Family::V6, v6("fd00::"), v6("fd00::ffff")),
        ("fd00::1/128", Family::V6, v6("fd00::1"), v6("fd00::1")),
        ("fd00::1-fd00::1:0", Family::V6, v6("fd00::1"), v6("fd00::1:0")),
        ("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", Family::V6, u128::MAX, u128::MAX),
        ("::", Family::V6, 0, 0),
    ]
}

/// ICMP types and codes: the ends, and echo request and reply of both.
pub const ICMP_VALUES: [u8; 7] = [0, 3, 4, 8, 128, 129, 255];
pub const PORTS: [u16; 7] = [0, 1, 22, 1023, 1024, 65534, 65535];
pub const MARKS: [u32; 6] = [0, 1, 0x10, 0xff, 0xffff_fffe, u32::MAX];
/// Protocol numbers of the packets; rules name them by name or number.
/// 0, 43, 44 and 60 are IPv6 extension headers: the kernel reads past them
/// to the protocol after them, so no IPv6 packet has one as its protocol
/// (an IPv6 packet drawn with one has 59, no next header).
pub const PROTOS: [u8; 12] = [6, 17, 132, 1, 58, 47, 136, 0, 43, 44, 60, 255];
/// The IPv6 extension headers of docs/language.md, written here again
/// from the docs rather than read from the compiler.
pub const IPV6_EXTENSION_HEADERS: [u8; 4] = [0, 43, 44, 60];
pub const PORT_PROTOS: [(&str, u8); 3] = [("tcp", 6), ("udp", 17), ("sctp", 132)];
pub const HOOKS: [Hook; 5] =
    [Hook::Prerouting, Hook::Input, Hook::Forward, Hook::Output, Hook::Postrouting];
pub const IFACES: [&str; 4] = ["a", "ab", "b", ""];
pub const NAME_ITEMS: [&str; 5] = ["a", "ab", "b", "a*", "*"];
pub const STATES: [(&str, CtState); 5] = [
    ("new", CtState::New),
    ("established", CtState::Established),
    ("related", CtState::Related),
    ("invalid", CtState::Invalid),
    ("untracked", CtState::Untracked),
];

/// One match of a rule, as the test reads it.
#[derive(Clone, Debug)]
pub enum Match {
    /// `saddr`/`daddr` (`dst`), indexes into [`addr_items`].
    Addr {
        dst: bool,
        neg: bool,
        items: Vec<usize>,
    },
    Proto {
        neg: bool,
        items: Vec<u8>,
    },
    /// A port match of protocol `PORT_PROTOS[proto]`; ranges of ports.
    Port {
        proto: usize,
        dst: bool,
        neg: bool,
        items: Vec<(u16, u16)>,
    },
    Iface {
        out: bool,
        neg: bool,
        items: Vec<&'static str>,
    },
    Ct {
        neg: bool,
        states: Vec<usize>,
    },
    Family(Family),
    Mark {
        neg: bool,
        items: Vec<(u32, u32)>,
    },
    /// `tcp flags`: `form` 0 any of, 1 none of, 2 exactly, 3 not exactly,
    /// 4 `value / mask`, 5 `!= value / mask`.
    Flags {
        form: u8,
        value: u8,
        mask: u8,
    },
    /// `icmp type` (or `icmpv6` when `v6`, `code` when `code`), ranges of
    /// types or codes.
    Icmp {
        v6: bool,
        code: bool,
        neg: bool,
        items: Vec<(u8, u8)>,
    },
}

#[derive(Clone, Debug)]
pub enum Stmt {
    Counter,
    MarkSet(u32),
    /// A statement that holds only under a rate or count: `limit`, `limit
    /// ... per saddr`, `ct count over N per daddr`; its text.
    Limit(&'static str),
    /// A translation in a `type nat` chain: its text, and the family of
    /// its target (`None`: both).
    Nat(&'static str, Option<Family>),
}

pub const LIMITS: [&str; 3] =
    ["limit 10/second", "limit 3/minute burst 5 per saddr", "ct count over 20 per daddr"];

/// Translations by hook: destination NAT before routing and on output,
/// source NAT after routing and on input.
pub fn nats(hook: Hook) -> Vec<(&'static str, Option<Family>)> {
    match hook {
        Hook::Prerouting | Hook::Output => vec![
            ("dnat to 10.0.0.9", Some(Family::V4)),
            ("dnat to 10.0.0.9:8080", Some(Family::V4)),
            ("dnat to [fd00::9]:0", Some(Family::V6)),
            ("redirect to 65535", None),
            (
                "dnat to { 10.0.1.1:8080, 10.0.1.2:8080 weight 2 } balance round-robin",
                Some(Family::V4),
            ),
            ("dnat to { [fd00::1]:53, [fd00::2]:53 } balance source-hash", Some(Family::V6)),
        ],
        // nft masquerades only after routing.
        Hook::Postrouting => vec![
            ("masquerade", None),
            ("snat to 10.0.0.9", Some(Family::V4)),
            ("snat to fd00::9", Some(Family::V6)),
        ],
        Hook::Input => {
            vec![("snat to 10.0.0.9", Some(Family::V4)), ("snat to fd00::9", Some(Family::V6))]
        }
        Hook::Forward => Vec::new(),
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Verdict {
    Accept,
    Drop,
    Reject,
    RejectIcmpx,
    Return,
    Jump(usize),
    Goto(usize),
}

#[derive(Clone, Debug)]
pub struct Rule {
    pub matches: Vec<Match>,
    pub stmts: Vec<Stmt>,
    pub verdict: Option<Verdict>,
}

#[derive(Clone, Debug)]
pub struct Source {
    pub hook: Hook,
    /// Their base chains run in this order, every one on `hook`.
    pub tables: Vec<Tab>,
    /// Sets are written through nested `define`s.
    pub defines: bool,
}

#[derive(Clone, Debug)]
pub struct Tab {
    pub priority: i32,
    /// A `type nat` chain, whose rules may translate.
    pub nat: bool,
    pub drop_policy: bool,
    /// Chain 0 is the base chain; a rule of chain `i` jumps only to later
    /// chains, so there are no loops.
    pub chains: Vec<Vec<Rule>>,
    /// A filter base chain `x` on another hook, which may jump to this
    /// table's regular chains too: its own packets are not evaluated, but
    /// the chains it reaches are then reached from two hooks, whose
    /// packets lack different interfaces.
    pub extra: Option<(Hook, Vec<Rule>)>,
}

/// The `define`s a source's sets are written through, when it has them.
#[derive(Default)]
pub struct Defines {
    pub on: bool,
    pub lines: Vec<String>,
}

/// A set of `items`, or its one item alone; through two `define`s when
/// `defs` are on (`define d0a = { A }`, `define d0 = { $d0a, B }`,
/// `$d0`), so that names flatten into sets as they nest.
pub fn set<T>(defs: &mut Defines, items: &[T], show: impl Fn(&T) -> String) -> String {
    if items.len() == 1 {
        return show(&items[0]);
    }
    let parts: Vec<String> = items.iter().map(show).collect();
    if !defs.on {
        return format!("{{ {} }}", parts.join(", "));
    }
    let name = format!("d{}", defs.lines.len() / 2);
    defs.lines.push(format!("define {name}a = {{ {} }}", parts[0]));
    defs.lines.push(format!("define {name} = {{ ${name}a, {} }}", parts[1..].join(", ")));
    format!("${name}")
}

pub fn neg(n: bool) -> &'static str {
    if n {
        "!= "
    } else {
        ""
    }
}

pub fn range_text<T: PartialEq + std::fmt::Display>((a, b): &(T, T)) -> String {
    if a == b {
        format!("{a}")
    } else {
        format!("{a}-{b}")
    }
}

pub fn flag_names(bits: u8) -> String {
    let names: Vec<&str> =
        TCP_FLAGS.iter().filter(|(_, b)| bits & b != 0).map(|(n, _)| *n).collect();
    if names.is_empty() {
        "0".into()
    } else {
        names.join(",")
    }
}

impl Match {
    pub fn text(&self, defs: &mut Defines) -> String {
        let items = addr_items();
        match self {
            Match::Addr { dst, neg: n, items: is } => {
                let key = if *dst { "daddr" } else { "saddr" };
                format!("{key} {}{}", neg(*n), set(defs, is, |i| items[*i].0.to_string()))
            }
            Match::Proto { neg: n, items } => {
                let name = |p: &u8| match p {
                    6 => "tcp".to_string(),
                    17 => "udp".into(),
                    132 => "sctp".into(),
                    1 => "icmp".into(),
                    58 => "icmpv6".into(),
                    p => p.to_string(),
                };
                format!("proto {}{}", neg(*n), set(defs, items, name))
            }
            Match::Port { proto, dst, neg: n, items } => {
                let key = if *dst { "dport" } else { "sport" };
                format!(
                    "{} {key} {}{}",
                    PORT_PROTOS[*proto].0,
                    neg(*n),
                    set(defs, items, range_text)
                )
            }
            Match::Iface { out, neg: n, items } => {
                let key = if *out { "oif" } else { "iif" };
                format!("{key} {}{}", neg(*n), set(defs, items, |s| s.to_string()))
            }
            Match::Ct { neg: n, states } => {
                let names: Vec<&str> = states.iter().map(|s| STATES[*s].0).collect();
                format!("ct state {}{}", neg(*n), names.join(","))
            }
            Match::Family(f) => {
                format!("family {}", if *f == Family::V4 { "ipv4" } else { "ipv6" })
            }
            Match::Mark { neg: n, items } => {
                format!(
                    "mark {}{}",
                    neg(*n),
                    set(defs, items, |(a, b)| range_text(&(hex(*a), hex(*b))))
                )
            }
            Match::Flags { form, value, mask } => match form {
                0 => format!("tcp flags {}", flag_names(*mask)),
                1 => format!("tcp flags ! {}", flag_names(*mask)),
                2 => format!("tcp flags == {}", flag_names(*value)),
                3 => format!("tcp flags != {}", flag_names(*value)),
                4 => format!("tcp flags {} / {}", flag_names(*value), flag_names(*mask)),
                _ => format!("tcp flags != {} / {}", flag_names(*value), flag_names(*mask)),
            },
            Match::Icmp { v6, code, neg: n, items } => {
                let key = if *v6 { "icmpv6" } else { "icmp" };
                let what = if *code { "code" } else { "type" };
                format!("{key} {what} {}{}", neg(*n), set(defs, items, range_text))
            }
        }
    }

    /// Whether the match holds for `p`, read from docs/language.md.
    pub fn holds(&self, p: &Packet) -> bool {
        match self {
            Match::Addr { dst, neg, items } => {
                let v = if *dst { p.daddr } else { p.saddr };
                let all = addr_items();
                let mine: Vec<_> =
                    items.iter().map(|i| all[*i]).filter(|a| a.1 == p.family).collect();
                // Values of the other family only: no packet of this one.
                if mine.is_empty() {
                    return false;
                }
                mine.iter().any(|(_, _, lo, hi)| *lo <= v && v <= *hi) != *neg
            }
            Match::Proto { neg, items } => {
                // `icmp` pins IPv4 and `icmpv6` IPv6, numbers as names. An
                // IPv6 packet's protocol is the one after its extension
                // headers, never one of them: `a_packet` draws none.
                let is = |q: u8| {
                    q == p.proto
                        && (q != 1 || p.family == Family::V4)
                        && (q != 58 || p.family == Family::V6)
                };
                items.iter().any(|q| is(*q)) != *neg
            }
            Match::Port { proto, dst, neg, items } => {
                if p.proto != PORT_PROTOS[*proto].1 {
                    return false;
                }
                let v = if *dst { p.dport } else { p.sport }.expect("a packet of a port protocol");
                items.iter().any(|(a, b)| *a <= v && v <= *b) != *neg
            }
            Match::Iface { out, neg, items } => {
                let name = if *out { &p.oif } else { &p.iif };
                let one = |i: &&str| match i.strip_suffix('*') {
                    Some(prefix) => name.starts_with(prefix),
                    None => name == i,
                };
                items.iter().any(one) != *neg
            }
            Match::Ct { neg, states } => states.iter().any(|s| STATES[*s].1 == p.ct) != *neg,
            Match::Family(f) => p.family == *f,
            Match::Mark { neg, items } => {
                items.iter().any(|(a, b)| *a <= p.mark && p.mark <= *b) != *neg
            }
            Match::Flags { form, value, mask } => {
                let Some(f) = p.tcp_flags.filter(|_| p.proto == 6) else { return false };
                match form {
                    0 => f & mask != 0,
                    1 => f & mask == 0,
                    2 => f == *value,
                    3 => f != *value,
                    4 => f & mask == *value,
                    _ => f & mask != *value,
                }
            }
            Match::Icmp { v6, code, neg, items } => {
                let (proto, fam) = if *v6 { (58, Family::V6) } else { (1, Family::V4) };
                if p.proto != proto || p.family != fam {
                    return false;
                }
                let t = if *code { p.icmp_code } else { p.icmp_type };
                let t = t.expect("an icmp packet has a type and a code");
                items.iter().any(|(a, b)| *a <= t && t <= *b) != *neg
            }
        }
    }
}

pub fn hex(v: u32) -> String {
    format!("{v:#x}")
}

/// The hook as a policy writes it.
pub fn hook_word(hook: Hook) -> &'static str {
    match hook {
        Hook::Prerouting => "prerouting",
        Hook::Input => "input",
        Hook::Forward => "forward",
        Hook::Output => "output",
        Hook::Postrouting => "postrouting",
    }
}

impl Source {
    pub fn text(&self) -> String {
        let hook = hook_word(self.hook);
        let mut out = String::new();
        let mut defs = Defines { on: self.defines, lines: Vec::new() };
        for (t, tab) in self.tables.iter().enumerate() {
            let policy = if tab.drop_policy { "drop" } else { "accept" };
            let kind = if tab.nat { " type nat" } else { "" };
            writeln!(out, "table t{t} {{").expect("a string");
            for (i, rules) in tab.chains.iter().enumerate() {
                if i == 0 {
                    writeln!(
                        out,
                        "  chain c0 hook {hook}{kind} priority {} policy {policy} {{",
                        tab.priority
                    )
                    .expect("a string");
                } else {
                    writeln!(out, "  chain c{i} {{").expect("a string");
                }
                for r in rules {
                    writeln!(out, "    {}", r.text(&mut defs)).expect("a string");
                }
                out.push_str("  }\n");
            }
            if let Some((other, rules)) = &tab.extra {
                writeln!(out, "  chain x hook {} priority 0 policy accept {{", hook_word(*other))
                    .expect("a string");
                for r in rules {
                    writeln!(out, "    {}", r.text(&mut defs)).expect("a string");
                }
                out.push_str("  }\n");
            }
            out.push_str("}\n");
        }
        // A define comes before its first use.
        let mut head: String = defs.lines.iter().map(|l| format!("{l}\n")).collect();
        head.push_str(&out);
        head
    }

    /// The verdict by the language's rules: base chains in priority order,
    /// an accept passes the packet on to the next, a drop or reject is
    /// final; the mark set in one is the mark the next reads.
    pub fn evaluate(&self, p: &Packet, limits: LimitMode) -> Outcome {
        let mut p = p.clone();
        for tab in &self.tables {
            let outcome = match tab.run(0, &mut p, limits) {
                Some(o) => o,
                None if tab.drop_policy => Outcome::Drop,
                None => Outcome::Accept,
            };
            if outcome != Outcome::Accept {
                return outcome;
            }
        }
        Outcome::Accept
    }
}

impl Source {
    /// The verdict of a packet on `other`, the hook of some table's extra
    /// base chain `x` (priority 0): those chains in table order, an accept
    /// passing the packet on, each with its table's jumps. `hook`'s own
    /// packets are [`Source::evaluate`]'s.
    pub fn evaluate_extra(&self, other: Hook, p: &Packet, limits: LimitMode) -> Outcome {
        let mut p = p.clone();
        for tab in &self.tables {
            let Some((h, rules)) = &tab.extra else { continue };
            if *h != other {
                continue;
            }
            let outcome = tab.run_rules(rules, &mut p, limits).unwrap_or(Outcome::Accept);
            if outcome != Outcome::Accept {
                return outcome;
            }
        }
        Outcome::Accept
    }
}

/// `p` as it meets `hook`: no `oif` before routing, no `iif` on the
/// host's own packets.
pub fn on_hook(p: &Packet, hook: Hook) -> Packet {
    let mut p = p.clone();
    if hook == Hook::Output {
        p.iif = String::new();
    }
    if matches!(hook, Hook::Prerouting | Hook::Input) {
        p.oif = String::new();
    }
    p
}

impl Rule {
    pub fn text(&self, defs: &mut Defines) -> String {
        let mut words: Vec<String> = self.matches.iter().map(|m| m.text(defs)).collect();
        for s in &self.stmts {
            words.push(match s {
                Stmt::Counter => "counter".into(),
                Stmt::MarkSet(m) => format!("mark set {}", hex(*m)),
                Stmt::Limit(text) | Stmt::Nat(text, _) => text.to_string(),
            });
        }
        if let Some(v) = self.verdict {
            words.push(match v {
                Verdict::Accept => "accept".into(),
                Verdict::Drop => "drop".into(),
                Verdict::Reject => "reject".into(),
                Verdict::RejectIcmpx => "reject with icmpx admin-prohibited".into(),
                Verdict::Return => "return".into(),
                Verdict::Jump(c) => format!("jump c{c}"),
                Verdict::Goto(c) => format!("goto c{c}"),
            });
        }
        if words.is_empty() {
            words.push("counter".into());
        }
        words.join(" ")
    }
}

impl Tab {
    /// First deciding rule wins, `jump` comes back, `goto` does not,
    /// `return` leaves the chain, a limit over its rate skips the rest of
    /// its rule, `mark set` changes the mark every later match reads, a
    /// translation accepts (and holds only for its target's family).
    /// `None`: the chain ended without a decision (or returned).
    pub fn run(&self, chain: usize, p: &mut Packet, limits: LimitMode) -> Option<Outcome> {
        self.run_rules(&self.chains[chain], p, limits)
    }

    /// [`Tab::run`] on `rules`, whose jumps go to this table's chains.
    pub fn run_rules(&self, rules: &[Rule], p: &mut Packet, limits: LimitMode) -> Option<Outcome> {
        for r in rules {
            if !r.matches.iter().all(|m| m.holds(p)) {
                continue;
            }
            let nat = r.stmts.iter().find_map(|s| match s {
                Stmt::Nat(_, family) => Some(*family),
                _ => None,
            });
            if nat.is_some_and(|f| f.is_some_and(|f| f != p.family)) {
                continue;
            }
            let limited = r.stmts.iter().any(|s| matches!(s, Stmt::Limit(_)));
            if limited && limits == LimitMode::OverRate {
                continue;
            }
            for s in &r.stmts {
                if let Stmt::MarkSet(m) = s {
                    p.mark = *m;
                }
            }
            if nat.is_some() {
                return Some(Outcome::Accept);
            }
            match r.verdict {
                None => {}
                Some(Verdict::Accept) => return Some(Outcome::Accept),
                Some(Verdict::Drop) => return Some(Outcome::Drop),
                Some(Verdict::Reject | Verdict::RejectIcmpx) => return Some(Outcome::Reject),
                Some(Verdict::Return) => return None,
                Some(Verdict::Jump(c)) => {
                    if let Some(o) = self.run(c, p, limits) {
                        return Some(o);
                    }
                }
                Some(Verdict::Goto(c)) => return self.run(c, p, limits),
            }
        }
        None
    }
}
