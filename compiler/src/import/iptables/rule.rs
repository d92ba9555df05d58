//! One `-A` line: its options into matches, statements and a verdict.
//!
//! iptables checks a rule's own fields (`-s`, `-d`, `-p`, `-i`, `-o`) first
//! and then its `-m` matches in the order written, stopping at the first
//! that fails. That order matters only for `-m limit`, which spends a token
//! whenever it is reached: a limit followed by a match that can still fail
//! spends tokens on packets the rule then refuses, which a `.shr` rule (its
//! `limit` runs after all its matches) cannot say. Such a rule is left out.

use std::collections::{HashMap, HashSet};

use shriek_grammar::ast::{PortDir, PortProto};

use crate::ir::{Meter, MeterKey, MeterTest, RateUnit, RejectWith};
use crate::nft::vocab::{IPV6_SKIPPED_HEADERS, TCP_SYN};
use crate::space::{Family, PROTO_ICMP, PROTO_ICMPV6};

use super::super::model::{
    full_again, mark_ranges, meter_rate, tcp_flags, unit_ms, Addr, Body, Dir, Item, LeftOut, Match,
    Origin, Rule, Verdict,
};
use super::super::protocol_number;
use super::target::{target_option, Target};
use super::value::{
    icmp_type, interface, mark_and_mask, parse_rate, port_proto, ports, states, tcp_flag_list,
};
use super::{Builtin, Raw};

pub(crate) struct Cx<'a> {
    pub family: Family,
    /// iptables chain names to the policy's.
    pub names: &'a HashMap<String, String>,
    pub builtin: &'a [Builtin],
    /// `--hashlimit-name`s that more than one rule of the table names: the
    /// kernel keeps one table of rates per name, which such rules share.
    pub shared_hashlimits: &'a HashSet<String>,
}

/// What one rule's options said, before they become policy rules.
#[derive(Default)]
pub(super) struct Parsed {
    /// `-s`, `-d`, `-i`, `-o`: checked before any `-m` match.
    pub core: Vec<Match>,
    /// `-p`: negated, and the protocol (`None` for `all`).
    pub proto: Option<(bool, Option<u8>)>,
    /// The `-m` matches in order.
    pub ext: Vec<Ext>,
    pub target: Option<Target>,
    pub comments: Vec<String>,
    /// Why the rule cannot be imported; empty when it can.
    pub problems: Vec<String>,
}

pub(super) enum Ext {
    Match(Match),
    /// `-m limit`: spends a token when reached.
    Limit {
        rate: u64,
        per: RateUnit,
        burst: u32,
    },
    /// `-m multiport --ports`: either port in the list.
    EitherPort {
        proto: PortProto,
        neg: bool,
        ranges: Vec<(u16, u16)>,
    },
    /// A match that always holds (`-m comment`).
    Always,
    /// `-m hashlimit` or `-m connlimit` as read, option by option; it
    /// becomes a `Limit` or a `Meter` once the rule is read ([`settle`]).
    PerAddr(PerAddr),
    /// A per-address limit or count: like `Limit`, acts when reached.
    Meter(Meter),
}

/// The options of one `-m hashlimit` or `-m connlimit`, as written.
#[derive(Default)]
pub(super) struct PerAddr {
    /// `hashlimit` or `connlimit`.
    module: &'static str,
    /// Option name (without `--hashlimit-` or `--connlimit-`) to value.
    opts: Vec<(String, String)>,
    negated: bool,
}

impl PerAddr {
    fn get(&self, key: &str) -> Option<&str> {
        self.opts.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }
}

/// The modules whose options are read here; any other is left out.
const MODULES: &[&str] = &[
    "tcp",
    "udp",
    "sctp",
    "multiport",
    "state",
    "conntrack",
    "comment",
    "limit",
    "icmp",
    "icmp6",
    "iprange",
    "hashlimit",
    "connlimit",
    "mark",
];

impl Cx<'_> {
    pub fn translate(&self, raw: &Raw, origin: Origin) -> Vec<Item> {
        let mut p = Parsed::default();
        self.read(&raw.args, &mut p);
        self.settle(&mut p);
        let left_out =
            |reasons: Vec<String>| vec![Item::LeftOut(LeftOut { reasons, origin: origin.clone() })];
        let stmts = self.statements(&mut p);
        let acts = |e: &Ext| matches!(e, Ext::Limit { .. } | Ext::Meter(_));
        let limited = p.ext.iter().any(acts);
        if let Some(i) = p.ext.iter().position(acts) {
            let after =
                p.ext[i..].iter().any(|e| matches!(e, Ext::Match(_) | Ext::EitherPort { .. }));
            if after {
                p.problems.push(
                    "`-m limit`, `-m hashlimit` or `-m connlimit` comes before a match that can fail, so iptables spends tokens (or counts connections) on packets the rule then refuses".into(),
                );
            }
        }
        let alternatives = self.alternatives(&p);
        if alternatives.len() > 1 && limited {
            p.problems.push(
                "`--ports` needs two rules here, which cannot share one `-m limit`, `-m hashlimit` or `-m connlimit`".into(),
            );
        }
        let Some(stmts) = stmts.filter(|_| p.problems.is_empty()) else {
            return left_out(unique(p.problems));
        };
        let comment = (!p.comments.is_empty()).then(|| p.comments.join("; "));
        let split = alternatives.len() > 1;
        alternatives
            .into_iter()
            .enumerate()
            .map(|(i, matches)| {
                let mut body = Body { matches, stmts: stmts.clone() };
                // An ICMP answer of one family needs the rule to say it,
                // wherever the rule ends up (a user chain, a table of one
                // family).
                let icmp = matches!(
                    body.verdict(),
                    Some(Verdict::Reject(RejectWith::Icmp(_) | RejectWith::Icmpv6(_)))
                );
                if icmp && body.family().is_none() {
                    body.matches.insert(0, Match::Family(self.family));
                }
                let mut r = Rule::new(body, origin.clone());
                r.comment = comment.clone();
                if split && i == 0 {
                    r.notes.push(format!("`--ports` as two rules: {}", origin.text));
                }
                Item::Rule(r)
            })
            .collect()
    }

    /// The rule's matches, as one or more disjoint lists (`--ports` is
    /// "source or destination port": two rules).
    fn alternatives(&self, p: &Parsed) -> Vec<Vec<Match>> {
        let mut base: Vec<Match> = p.core.clone();
        let port_proto = p.ext.iter().any(|e| {
            matches!(
                e,
                Ext::Match(Match::Port { .. } | Match::Icmp { .. } | Match::TcpFlags(_))
                    | Ext::EitherPort { .. }
            )
        });
        if let Some((neg, Some(proto))) = p.proto {
            // A port or ICMP match says its protocol, negated or not; `-p`
            // would repeat it.
            if neg || !port_proto {
                base.push(Match::Proto { neg, protos: vec![proto] });
            }
        }
        let mut either = None;
        for e in &p.ext {
            match e {
                Ext::Match(m) => base.push(m.clone()),
                Ext::EitherPort { proto, neg: true, ranges } => {
                    for dir in [PortDir::Sport, PortDir::Dport] {
                        base.push(Match::Port {
                            proto: *proto,
                            dir,
                            neg: true,
                            ranges: ranges.clone(),
                        });
                    }
                }
                Ext::EitherPort { proto, neg: false, ranges } => either = Some((*proto, ranges)),
                Ext::Limit { .. } | Ext::Always | Ext::PerAddr(_) | Ext::Meter(_) => {}
            }
        }
        let Some((proto, ranges)) = either else { return vec![base] };
        let port = |dir, neg| Match::Port { proto, dir, neg, ranges: ranges.clone() };
        let mut first = base.clone();
        first.push(port(PortDir::Sport, false));
        let mut second = base;
        second.push(port(PortDir::Sport, true));
        second.push(port(PortDir::Dport, false));
        vec![first, second]
    }

    fn read(&self, args: &[String], p: &mut Parsed) {
        let mut r = Reader { args, i: 0 };
        let mut neg = false;
        let mut module: Option<String> = None;
        while let Some(opt) = r.next() {
            let opt = opt.to_string();
            if opt == "!" {
                neg = true;
                continue;
            }
            let was_neg = std::mem::take(&mut neg);
            match opt.as_str() {
                "-s" | "--source" | "--src" | "-d" | "--destination" | "--dst" => {
                    let dir = if opt.starts_with("-s") || opt.starts_with("--s") {
                        Dir::Src
                    } else {
                        Dir::Dst
                    };
                    let (n, v) = r.value(was_neg);
                    match self.address(&v) {
                        Ok(Some(a)) => p.core.push(Match::Addr { dir, neg: n, values: vec![a] }),
                        // `0.0.0.0/0`: every packet of the family.
                        Ok(None) if !n => {}
                        Ok(None) => p.core.push(Match::Addr {
                            dir,
                            neg: true,
                            values: vec![Addr::Net(self.any_addr(), 0)],
                        }),
                        Err(e) => p.problems.push(e),
                    }
                }
                "-p" | "--protocol" => {
                    let (n, v) = r.value(was_neg);
                    match v.to_ascii_lowercase().as_str() {
                        "all" | "0" => p.proto = Some((n, None)),
                        name => match protocol_number(name) {
                            Some(num) => p.proto = Some((n, Some(num))),
                            None => {
                                p.problems.push(format!("protocol `{v}` is not one shriek knows"))
                            }
                        },
                    }
                    if n && matches!(p.proto, Some((true, None))) {
                        p.problems.push("`! -p all` matches no packet".into());
                    }
                    // ip6tables reads past these headers to the protocol
                    // after them, and warns "never matched protocol" when
                    // such a rule is added: `-p ah` matches no packet, and
                    // `! -p ah` every one.
                    let skipped = match (self.family, p.proto) {
                        (Family::V6, Some((_, Some(pr)))) => ip6tables_skipped(pr),
                        _ => None,
                    };
                    if let Some(header) = skipped {
                        if n {
                            p.proto = Some((false, None));
                        } else {
                            p.problems.push(format!(
                                "ip6tables never matches `-p {v}`: it reads past the {header} header to the protocol after it"
                            ));
                        }
                    }
                    // The language's `proto icmp` holds for IPv4 packets
                    // only and `proto icmpv6` for IPv6 ones; ip6tables'
                    // `-p icmp` reads an IPv6 next header of 1 (which no
                    // stack sends), iptables' `-p icmpv6` a protocol of 58.
                    let foreign = match self.family {
                        Family::V4 => PROTO_ICMPV6,
                        Family::V6 => PROTO_ICMP,
                    };
                    if matches!(p.proto, Some((_, Some(pr))) if pr == foreign) {
                        p.problems.push(
                            "ICMP of the other family (`-p icmp` in ip6tables, `-p icmpv6` in iptables), which shriek cannot match".into(),
                        );
                    }
                }
                "-i" | "--in-interface" | "-o" | "--out-interface" => {
                    let dir = if opt.starts_with("-i") || opt.starts_with("--i") {
                        Dir::Src
                    } else {
                        Dir::Dst
                    };
                    let (n, v) = r.value(was_neg);
                    match interface(&v) {
                        Ok(name) => p.core.push(Match::Iface { dir, neg: n, names: vec![name] }),
                        Err(e) => p.problems.push(e),
                    }
                }
                "-f" | "--fragment" => {
                    p.problems.push("the fragment match `-f` is not in the language".into())
                }
                "-m" | "--match" => {
                    let (_, name) = r.value(false);
                    if name == "limit" {
                        p.ext.push(Ext::Limit { rate: 3, per: RateUnit::Hour, burst: 5 });
                    } else if name == "comment" {
                        p.ext.push(Ext::Always);
                    } else if name == "hashlimit" || name == "connlimit" {
                        let module = if name == "hashlimit" { "hashlimit" } else { "connlimit" };
                        p.ext.push(Ext::PerAddr(PerAddr { module, ..PerAddr::default() }));
                    } else if !MODULES.contains(&name.as_str()) {
                        p.problems.push(format!("`-m {name}` has no equivalent in shriek yet"));
                    }
                    module = Some(name);
                }
                "-j" | "--jump" | "-g" | "--goto" => {
                    let (_, name) = r.value(false);
                    let goto = opt.starts_with("-g") || opt.starts_with("--g");
                    p.target = Some(self.target(&name, goto));
                    module = None;
                }
                "-c" | "--set-counters" => {
                    r.value(false);
                    r.value(false);
                }
                o if o.starts_with("--") => {
                    if module.is_none() && p.target.is_some() {
                        target_option(o, was_neg, &mut r, p);
                    } else {
                        let implicit = p.proto.and_then(|(_, pr)| pr).and_then(port_proto);
                        let m = module.clone().or(implicit.map(|pp| pp.keyword().to_string()));
                        self.module_option(m.as_deref(), o, was_neg, &mut r, p);
                    }
                }
                o => p.problems.push(format!("unexpected `{o}`")),
            }
        }
    }

    fn module_option(
        &self,
        module: Option<&str>,
        opt: &str,
        neg: bool,
        r: &mut Reader,
        p: &mut Parsed,
    ) {
        let port_module = module.and_then(|m| match m {
            "tcp" => Some(PortProto::Tcp),
            "udp" => Some(PortProto::Udp),
            "sctp" => Some(PortProto::Sctp),
            _ => None,
        });
        match (module, opt) {
            (Some(_), "--sport" | "--source-port" | "--dport" | "--destination-port")
                if port_module.is_some() =>
            {
                let dir = if opt.contains("-s") && !opt.contains("dest") {
                    PortDir::Sport
                } else {
                    PortDir::Dport
                };
                let dir = if opt == "--dport" { PortDir::Dport } else { dir };
                let (n, v) = r.value(neg);
                match ports(&v, ':') {
                    Ok(ranges) => p.ext.push(Ext::Match(Match::Port {
                        proto: port_module.expect("checked above"),
                        dir,
                        neg: n,
                        ranges,
                    })),
                    Err(e) => p.problems.push(e),
                }
            }
            (Some("tcp"), "--syn") => self.tcp_flags(p, SYN_MASK, TCP_SYN, neg),
            (Some("tcp"), "--tcp-flags") => {
                let (n, mask) = r.value(neg);
                let comp = r.next().unwrap_or_default().to_string();
                match (tcp_flag_list(&mask), tcp_flag_list(&comp)) {
                    (Ok(mask), Ok(comp)) => self.tcp_flags(p, mask, comp, n),
                    (Err(e), _) | (_, Err(e)) => p.problems.push(e),
                }
            }
            (Some("multiport"), _) => {
                let (n, v) = r.value(neg);
                let proto = match p.proto {
                    Some((false, Some(pr))) => port_proto(pr),
                    _ => None,
                };
                let Some(proto) = proto else {
                    p.problems
                        .push("`-m multiport` without `-p tcp`, `-p udp` or `-p sctp`".into());
                    return;
                };
                let ranges = match ports(&v, ':') {
                    Ok(r) => r,
                    Err(e) => return p.problems.push(e),
                };
                let port =
                    |dir| Ext::Match(Match::Port { proto, dir, neg: n, ranges: ranges.clone() });
                match opt {
                    "--dports" | "--destination-ports" => p.ext.push(port(PortDir::Dport)),
                    "--sports" | "--source-ports" => p.ext.push(port(PortDir::Sport)),
                    "--ports" => p.ext.push(Ext::EitherPort { proto, neg: n, ranges }),
                    _ => p.problems.push(format!("multiport option `{opt}` is not read")),
                }
            }
            (Some("state"), "--state") | (Some("conntrack"), "--ctstate") => {
                let (n, v) = r.value(neg);
                match states(&v) {
                    Ok(states) => p.ext.push(Ext::Match(Match::Ct { neg: n, states })),
                    Err(e) => p.problems.push(e),
                }
            }
            (Some("comment"), "--comment") => {
                let (_, v) = r.value(false);
                p.comments.push(v);
            }
            (Some("limit"), "--limit" | "--limit-burst") => {
                let (_, v) = r.value(false);
                let Some(Ext::Limit { rate, per, burst }) =
                    p.ext.iter_mut().rev().find(|e| matches!(e, Ext::Limit { .. }))
                else {
                    return;
                };
                if opt == "--limit" {
                    match parse_rate(&v) {
                        Some((n, u)) => (*rate, *per) = (n, u),
                        None => p.problems.push(format!("cannot read the rate `{v}`")),
                    }
                } else {
                    match v.parse::<u32>() {
                        Ok(b) if b > 0 => *burst = b,
                        _ => p.problems.push(format!("cannot read the burst `{v}`")),
                    }
                }
            }
            (Some("icmp"), "--icmp-type") | (Some("icmp6"), "--icmpv6-type") => {
                let (n, v) = r.value(neg);
                let family = if opt == "--icmp-type" { Family::V4 } else { Family::V6 };
                let icmp = |code: bool, v: u8| {
                    Ext::Match(Match::Icmp { family, code, neg: n, ranges: vec![(v, v)] })
                };
                match icmp_type(&v, family) {
                    // Every ICMP packet: `-p` says it.
                    Ok(None) if !n => {}
                    Ok(None) => p.problems.push("`! --icmp-type any` matches no packet".into()),
                    Ok(Some((t, None))) => p.ext.push(icmp(false, t)),
                    Ok(Some((t, Some(c)))) if !n => {
                        p.ext.push(icmp(false, t));
                        p.ext.push(icmp(true, c));
                    }
                    Ok(Some((_, Some(_)))) => p.problems.push(
                        "a negated ICMP type with a code (`! --icmp-type T/C`) is two rules' worth of matches".into(),
                    ),
                    Err(e) => p.problems.push(e),
                }
            }
            (Some("iprange"), "--src-range" | "--dst-range") => {
                let (n, v) = r.value(neg);
                let dir = if opt == "--src-range" { Dir::Src } else { Dir::Dst };
                match self.range(&v) {
                    Ok(a) => p.ext.push(Ext::Match(Match::Addr { dir, neg: n, values: vec![a] })),
                    Err(e) => p.problems.push(e),
                }
            }
            (Some("mark"), "--mark") => {
                let (n, v) = r.value(neg);
                let Some((value, mask)) = mark_and_mask(&v) else {
                    return p.problems.push(format!("cannot read the mark `{v}`"));
                };
                match mark_ranges(mask, value, n) {
                    Ok(Some(m)) => p.ext.push(Ext::Match(m)),
                    Ok(None) => p.ext.push(Ext::Always),
                    Err(e) => p.problems.push(e),
                }
            }
            (Some(m @ ("hashlimit" | "connlimit")), _) => {
                let Some(Ext::PerAddr(per)) =
                    p.ext.iter_mut().rev().find(|e| matches!(e, Ext::PerAddr(_)))
                else {
                    return;
                };
                let key =
                    opt.trim_start_matches("--").trim_start_matches(m).trim_start_matches('-');
                // `--hashlimit` is the old spelling of `--hashlimit-upto`;
                // the address options of connlimit take no value.
                let key = if key.is_empty() { "upto" } else { key };
                let value = if matches!(key, "saddr" | "daddr") {
                    (neg, String::new())
                } else {
                    r.value(neg)
                };
                per.negated |= value.0;
                per.opts.push((key.to_string(), value.1));
            }
            (Some(m), _) if !MODULES.contains(&m) => r.skip_values(),
            (Some(m), _) => {
                p.problems
                    .push(format!("option `{opt}` of `-m {m}` has no equivalent in shriek yet"));
                r.skip_values();
            }
            (None, _) => {
                p.problems.push(format!("option `{opt}` without the `-m` match it belongs to"));
                r.skip_values();
            }
        }
    }
}

/// The flags `--syn` tests (`--tcp-flags FIN,SYN,RST,ACK SYN`).
const SYN_MASK: u8 = 0x17;

impl Cx<'_> {
    /// `(flags & mask) == comp`, or `!=` when `neg`: the language's `tcp
    /// flags` test for it, or nothing where it holds for every TCP packet
    /// (`-p tcp` says that).
    fn tcp_flags(&self, p: &mut Parsed, mask: u8, comp: u8, neg: bool) {
        match tcp_flags(mask, comp, neg) {
            Ok(Some(t)) => p.ext.push(Ext::Match(Match::TcpFlags(t))),
            Ok(None) => p.ext.push(Ext::Always),
            Err(e) => p.problems.push(e),
        }
    }

    /// Each `-m hashlimit` and `-m connlimit` as the limit or count the
    /// language says for it, or a problem where its meaning differs.
    fn settle(&self, p: &mut Parsed) {
        for i in 0..p.ext.len() {
            let Ext::PerAddr(per) = &p.ext[i] else { continue };
            let settled = match per.module {
                "hashlimit" => self.hashlimit(per),
                _ => connlimit(per, self.family),
            };
            match settled {
                Ok(e) => p.ext[i] = e,
                Err(e) => {
                    p.problems.push(e);
                    p.ext[i] = Ext::Always;
                }
            }
        }
    }

    /// `-m hashlimit --hashlimit-upto R --hashlimit-burst B --hashlimit-mode
    /// srcip`: one token bucket per source, as `limit R burst B per saddr`,
    /// when hashlimit keeps a bucket at least until it is full again. It
    /// forgets an address idle for `--hashlimit-htable-expire` (by
    /// default the rate's unit: 60 s for `/min`), and a forgotten address
    /// starts with a full bucket; shriek's set forgets one exactly when its
    /// bucket is full again. A shorter expiry would let a source in early.
    fn hashlimit(&self, per: &PerAddr) -> Result<Ext, String> {
        if per.negated {
            return Err("a negated `-m hashlimit` option".into());
        }
        if per.get("above").is_some() {
            return Err("`--hashlimit-above` (over the rate) is not in the language".into());
        }
        let Some((rate, unit)) = per.get("upto").and_then(parse_rate) else {
            return Err("a `-m hashlimit` rate the language cannot say (bytes, or none)".into());
        };
        let burst: u32 = match per.get("burst") {
            None => 5,
            Some(b) => {
                b.parse().ok().filter(|b| *b > 0).ok_or("cannot read the hashlimit burst")?
            }
        };
        let key = match per.get("mode") {
            None | Some("") => None,
            Some("srcip") => Some(MeterKey::Saddr),
            Some("dstip") => Some(MeterKey::Daddr),
            Some(_) => {
                return Err("`--hashlimit-mode` other than `srcip` or `dstip` alone, which keeps apart what shriek cannot".into())
            }
        };
        let full = if self.family == Family::V4 { "32" } else { "128" };
        for (k, v) in &per.opts {
            match k.as_str() {
                "upto" | "burst" | "mode" | "name" | "htable-expire" => {}
                // How many addresses fit and how often the table is swept
                // change no verdict while there is room.
                "htable-size" | "htable-max" | "htable-gcinterval" => {}
                "srcmask" | "dstmask" if v == full => {}
                "srcmask" | "dstmask" => {
                    return Err("a `--hashlimit-srcmask` or `--hashlimit-dstmask` shorter than the address, which shares one bucket among addresses".into())
                }
                _ => return Err(format!("`--hashlimit-{k}` has no equivalent in shriek yet")),
            }
        }
        if per.get("name").is_some_and(|n| self.shared_hashlimits.contains(n)) {
            return Err(
                "a `--hashlimit-name` that several rules share, and with it their rates".into()
            );
        }
        let expire: u64 = match per.get("htable-expire") {
            None => unit_ms(unit),
            Some(e) => e.parse().map_err(|_| "cannot read the hashlimit expiry")?,
        };
        if !full_again(rate, unit, burst, expire) {
            return Err("`-m hashlimit` forgets an idle address before its bucket is full again (`--hashlimit-htable-expire` shorter than burst / rate), which lets it in early".into());
        }
        Ok(match key {
            None => Ext::Limit { rate, per: unit, burst },
            Some(key) => Ext::Meter(meter_rate(key, rate, unit, burst)),
        })
    }
}

/// `-m connlimit --connlimit-above N --connlimit-mask 32 --connlimit-saddr`:
/// `ct count over N per saddr`.
fn connlimit(per: &PerAddr, family: Family) -> Result<Ext, String> {
    if per.negated {
        return Err(
            "a negated `-m connlimit` option (at most N connections) is not in the language".into(),
        );
    }
    let full = if family == Family::V4 { "32" } else { "128" };
    let mut key = MeterKey::Saddr;
    for (k, v) in &per.opts {
        match k.as_str() {
            "above" => {}
            "saddr" => key = MeterKey::Saddr,
            "daddr" => key = MeterKey::Daddr,
            "mask" if v == full => {}
            "mask" => {
                return Err("a `--connlimit-mask` shorter than the address, which counts a network's connections together".into())
            }
            "upto" => return Err("`--connlimit-upto` (at most N connections) is not in the language".into()),
            _ => return Err(format!("`--connlimit-{k}` has no equivalent in shriek yet")),
        }
    }
    let Some(n) = per.get("above").and_then(|n| n.parse::<u32>().ok()) else {
        return Err("`-m connlimit` without a `--connlimit-above` count".into());
    };
    Ok(Ext::Meter(Meter { key, test: MeterTest::CountOver(n) }))
}

fn unique(problems: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for p in problems {
        if !out.contains(&p) {
            out.push(p);
        }
    }
    out
}

/// The words of a rule, one at a time.
pub(super) struct Reader<'a> {
    args: &'a [String],
    i: usize,
}

impl Reader<'_> {
    pub fn next(&mut self) -> Option<&str> {
        let a = self.args.get(self.i)?;
        self.i += 1;
        Some(a)
    }

    /// An option's value, and whether the option is negated: before it
    /// (`neg`) or, the old way, after it (`--dport ! 22`).
    pub fn value(&mut self, neg: bool) -> (bool, String) {
        match self.next() {
            Some("!") => (!neg, self.next().unwrap_or("").to_string()),
            Some(v) => (neg, v.to_string()),
            None => (neg, String::new()),
        }
    }

    /// The values of an option that is not read: every word up to the next
    /// option.
    pub fn skip_values(&mut self) {
        while self.args.get(self.i).is_some_and(|a| !a.starts_with('-') && a != "!") {
            self.i += 1;
        }
    }
}

/// The name of the IPv6 extension header `proto` is, when ip6tables' `-p`
/// reads past it: the headers the kernel's `meta l4proto` reads past, and
/// the authentication header, where nft stops and ip6tables does not.
/// Hop-by-hop options (0) is `-p all` there.
fn ip6tables_skipped(proto: u8) -> Option<&'static str> {
    IPV6_SKIPPED_HEADERS
        .iter()
        .chain(&[(51, "authentication")])
        .find(|(p, _)| *p == proto && proto != 0)
        .map(|(_, name)| *name)
}
