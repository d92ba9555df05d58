//! An nft rule's statements (counter, log, limit, verdicts, reject, NAT)
//! into the policy's, the other half of `rule.rs`.

use std::net::IpAddr;

use crate::identity::DEFAULT_LIMIT_BURST;
use crate::ir::{Balance, Meter, MeterKey, MeterTest, RateUnit, RejectWith};
use crate::nft::vocab::{
    value_of, ICMPV6_CODES, ICMPX_CODES, ICMP_CODES, LOG_DEFAULT_LEVEL, LOG_LEVELS, METER_SIZE,
};
use shriek_grammar::ast::PortProto;

use crate::space::{Family, PROTO_TCP};

use super::super::super::model::{self, full_again, meter_rate, Backend, Match, Stmt, Verdict};
use super::super::text::nat_value;
use super::super::{NItem, NMeter, NNat, NVerdict, NatTo, Sel, Val};
use super::{word, Cx, State};

impl Cx<'_> {
    pub(super) fn statement(&self, st: &mut State, item: &NItem) {
        let problem = |st: &mut State, e: String| st.problems.push(e);
        match item {
            NItem::Counter(None) => st.stmts.push(Stmt::Counter(None)),
            NItem::Counter(Some(name))
                if model::name_fits(name, "table t {\nchain c {\ncounter NAME\n}\n}\n") =>
            {
                st.stmts.push(Stmt::Counter(Some(name.clone())))
            }
            NItem::Counter(Some(_)) => {
                problem(st, "a counter name the language cannot write".into())
            }
            NItem::Log { prefix, level, other } => {
                let level = match level.as_deref() {
                    None => Some(LOG_DEFAULT_LEVEL),
                    Some("warning") => Some(LOG_DEFAULT_LEVEL),
                    Some(l) => value_of(LOG_LEVELS, l),
                };
                match (level, other) {
                    (_, Some(o)) => {
                        problem(st, format!("`log {o}` has no equivalent in shriek yet"))
                    }
                    (None, None) => problem(st, "a log level nft does not name".into()),
                    (Some(level), None) => st.stmts.push(Stmt::log(prefix.clone(), level)),
                }
            }
            NItem::Limit { .. } => match rate(item) {
                Ok((rate, per, burst)) => st.stmts.push(Stmt::Limit { rate, per, burst }),
                Err(e) => problem(st, e),
            },
            NItem::Meter(m) => self.meter(st, m),
            NItem::CtCount { .. } => problem(
                st,
                "`ct count` outside a meter, which counts every connection together".into(),
            ),
            NItem::Verdict(v) => match v {
                NVerdict::Accept => st.stmts.push(Stmt::Verdict(Verdict::Accept)),
                NVerdict::Drop => st.stmts.push(Stmt::Verdict(Verdict::Drop)),
                NVerdict::Return => st.stmts.push(Stmt::Verdict(Verdict::Return)),
                NVerdict::Continue => {}
                NVerdict::Jump(c) | NVerdict::Goto(c) => match self.names.get(c) {
                    Some(name) if matches!(v, NVerdict::Jump(_)) => {
                        st.stmts.push(Stmt::Verdict(Verdict::Jump(name.clone())))
                    }
                    Some(name) => st.stmts.push(Stmt::Verdict(Verdict::Goto(name.clone()))),
                    None => problem(st, "a jump to a chain not in the table".into()),
                },
                NVerdict::Other(what) => {
                    problem(st, format!("`{what}` has no equivalent in shriek yet"))
                }
            },
            NItem::Reject { kind, code } => {
                let family = self.family.or_else(|| st.family());
                let code_of = |names| {
                    let c = code.as_deref().unwrap_or("port-unreachable");
                    c.parse::<u8>().ok().or_else(|| value_of(names, c))
                };
                // In an inet table nft makes `reject with icmp ...` hold for
                // IPv4 packets only (a `meta nfproto` it does not list), and
                // `icmpv6` for IPv6 ones.
                let (with, only) = match kind.as_deref() {
                    None => (Some(RejectWith::PortUnreachable), None),
                    Some("tcp reset") => (Some(RejectWith::TcpReset), None),
                    Some("icmpx") => (code_of(ICMPX_CODES).map(RejectWith::Icmpx), None),
                    Some("icmp") => (code_of(ICMP_CODES).map(RejectWith::Icmp), Some(Family::V4)),
                    Some("icmpv6") => {
                        (code_of(ICMPV6_CODES).map(RejectWith::Icmpv6), Some(Family::V6))
                    }
                    Some(_) => (None, None),
                };
                match (with, only) {
                    (None, _) => problem(st, "a reject answer nft does not name".into()),
                    (Some(_), Some(f)) if family.is_some_and(|g| g != f) => problem(
                        st,
                        "a reject answer of the other family, which nft never sends".into(),
                    ),
                    (Some(with), only) => {
                        // The rule says its family wherever it ends up (a
                        // user chain, a table of one family).
                        if let Some(f) = only.filter(|_| st.family().is_none()) {
                            st.pin(f);
                        }
                        // nft holds `reject with tcp reset` to TCP packets
                        // (a `meta l4proto tcp` it adds when the rule has
                        // no TCP match).
                        let tcp = st.matches.iter().any(|m| match m {
                            Match::Proto { neg: false, protos } => protos == &[PROTO_TCP],
                            Match::Port { proto, .. } => *proto == PortProto::Tcp,
                            _ => false,
                        }) || st.l4.as_ref().is_some_and(|(ps, _)| ps == &[PROTO_TCP]);
                        if with == RejectWith::TcpReset && !tcp {
                            st.matches.push(Match::Proto { neg: false, protos: vec![PROTO_TCP] });
                        }
                        st.stmts.push(Stmt::Verdict(Verdict::Reject(with.normal())));
                    }
                }
            }
            NItem::Nat(n) => self.nat(st, n),
            NItem::MarkSet(v) => match word(v).and_then(model::mark_number) {
                Some(m) => st.stmts.push(Stmt::MarkSet(m)),
                None => problem(st, "cannot read the mark of `meta mark set`".into()),
            },
            NItem::Other(what) => problem(st, format!("`{what}` has no equivalent in shriek yet")),
            NItem::Match { .. }
            | NItem::TcpFlags { .. }
            | NItem::MaskedMark { .. }
            | NItem::Vmap { .. } => {
                unreachable!("matches and maps are read elsewhere")
            }
        }
    }

    /// A meter, an `update` or an `add` keyed on one address: the
    /// language's per-address rate or count, when it keeps the same state.
    fn meter(&self, st: &mut State, m: &NMeter) {
        let problem = |st: &mut State, e: &str| st.problems.push(e.to_string());
        let (fam, key) = match m.key.as_slice() {
            [Sel::Payload(p, f)] => {
                let fam = match p.as_str() {
                    "ip" => Some(Family::V4),
                    "ip6" => Some(Family::V6),
                    _ => None,
                };
                let key = match f.as_str() {
                    "saddr" => Some(MeterKey::Saddr),
                    "daddr" => Some(MeterKey::Daddr),
                    _ => None,
                };
                match (fam, key) {
                    (Some(fam), Some(key)) => (fam, key),
                    _ => return problem(st, "a meter keyed on something other than one address (`ip saddr`, `ip6 daddr`)"),
                }
            }
            _ => {
                return problem(
                    st,
                    "a meter keyed on something other than one address (`ip saddr`, `ip6 daddr`)",
                )
            }
        };
        if self.meter_uses.get(m.set.as_str()).copied().unwrap_or(0) > 1 {
            return problem(st, "a set or meter that several rules update, and so share");
        }
        let (timeout, size) = if m.op == "meter" {
            (m.timeout_ms, m.size)
        } else {
            match self.sets.get(m.set.as_str()) {
                Some(set) => (m.timeout_ms.or(set.timeout_ms), set.size),
                None => return problem(st, "a meter whose set is not in the table"),
            }
        };
        if size.is_some_and(|s| s < u64::from(METER_SIZE)) {
            return problem(st, "a meter with room for fewer addresses than shriek's (65535)");
        }
        let test = match m.stmt.as_ref() {
            limit @ NItem::Limit { .. } => match rate(limit) {
                Ok((rate, per, burst)) => {
                    if timeout.is_some() && m.op == "add" {
                        return problem(
                            st,
                            "an `add` with a timeout, which packets do not refresh",
                        );
                    }
                    if timeout.is_some_and(|t| !full_again(rate, per, burst, t)) {
                        return problem(st, "a meter that forgets an address before its bucket is full again (a timeout shorter than burst / rate), which lets it in early");
                    }
                    meter_rate(key, rate, per, burst).test
                }
                Err(e) => return st.problems.push(e),
            },
            NItem::CtCount { over: false, .. } => {
                return problem(st, "`ct count N` (at most N connections) is not in the language")
            }
            NItem::CtCount { count, over: true } => {
                if timeout.is_some() {
                    return problem(
                        st,
                        "a count whose addresses time out, forgetting their connections",
                    );
                }
                match u32::try_from(*count) {
                    Ok(n) => MeterTest::CountOver(n),
                    Err(_) => return problem(st, "a connection count the language cannot say"),
                }
            }
            _ => return problem(st, "a meter with a statement other than `limit` or `ct count`"),
        };
        match self.family.or_else(|| st.family()) {
            Some(f) if f != fam => {
                return problem(st, "a meter keyed on the other family's addresses")
            }
            Some(_) => {}
            // nft holds the rule to the key's family.
            None => st.pin(fam),
        }
        st.stmts.push(Stmt::Meter(Meter { key, test }));
    }

    fn nat(&self, st: &mut State, n: &NNat) {
        let problem = |st: &mut State, e: String| st.problems.push(e);
        if let Some(f) = n.flags.first() {
            return problem(st, format!("NAT flags (`{f}`) are not in the language yet"));
        }
        let stmt = match (n.kind.as_str(), &n.to) {
            ("masquerade", None) => Some(Stmt::Masquerade),
            ("redirect", Some(NatTo::Fixed { addr: None, port: Some(p) })) => {
                p.parse().ok().map(Stmt::Redirect)
            }
            ("dnat" | "snat", Some(NatTo::Fixed { addr: Some(a), port })) => {
                let addr: Option<IpAddr> = a.parse().ok();
                let port = match port {
                    None => Some(None),
                    Some(p) => p.parse::<u16>().ok().map(Some),
                };
                match (addr, port) {
                    (Some(addr), Some(port)) => {
                        let b = Backend { addr, port, weight: 1 };
                        Some(if n.kind == "dnat" {
                            Stmt::Dnat { backends: vec![b], balance: None }
                        } else {
                            Stmt::Snat(b)
                        })
                    }
                    _ => None,
                }
            }
            ("dnat", Some(NatTo::Balanced { pick, modulus, seed, map, named: None })) => {
                balanced(pick, *modulus, *seed, map)
            }
            ("dnat", Some(NatTo::Balanced { pick, modulus, seed, named: Some(name), .. })) => {
                self.sets.get(name.as_str()).and_then(|set| {
                    let map: Vec<(Val, Val)> = set
                        .elements
                        .iter()
                        .map(|(k, v)| Some((k.clone(), nat_value(v.clone()?))))
                        .collect::<Option<_>>()?;
                    balanced(pick, *modulus, *seed, &map)
                })
            }
            _ => None,
        };
        let Some(stmt) = stmt else {
            return problem(st, format!("this `{}` is not in the language yet", n.kind));
        };
        // nft translates only packets of the statement's family and lets
        // the others go on to the next rule; the rule says which.
        let fam = match &stmt {
            Stmt::Dnat { backends, .. } => backends.first().map(|b| model::family_of(&b.addr)),
            Stmt::Snat(b) => Some(model::family_of(&b.addr)),
            _ => None,
        };
        if let Some(f) = fam.filter(|_| self.family.is_none() && st.family().is_none()) {
            st.pin(f);
        }
        st.stmts.push(stmt);
    }
}

/// A `limit` as a rate, a unit and a burst.
fn rate(item: &NItem) -> Result<(u64, RateUnit, u32), String> {
    let NItem::Limit { rate, per, burst, over, bytes } = item else {
        return Err("not a limit".into());
    };
    let per = match per.as_str() {
        "second" => Some((*rate, RateUnit::Second)),
        "minute" => Some((*rate, RateUnit::Minute)),
        "hour" => Some((*rate, RateUnit::Hour)),
        "day" => Some((*rate, RateUnit::Day)),
        // The same refill, counted per day.
        "week" if rate % 7 == 0 => Some((rate / 7, RateUnit::Day)),
        _ => None,
    };
    let burst = u32::try_from(burst.unwrap_or(u64::from(DEFAULT_LIMIT_BURST))).ok();
    match (per, burst) {
        _ if *over => Err("`limit rate over` is not in the language".into()),
        _ if *bytes => Err("byte rates are not in the language".into()),
        (Some((rate, per)), Some(burst)) => Ok((rate, per, burst)),
        _ => Err("a rate the language cannot say".into()),
    }
}

/// `dnat to numgen inc mod N map { 0 : A . P, 1-2 : B . P }`: the backends
/// with their weights (the slots each owns), when every backend owns one
/// run of slots and the runs cover `0..N`.
fn balanced(pick: &str, modulus: u32, seed: Option<u32>, map: &[(Val, Val)]) -> Option<Stmt> {
    let balance = match pick {
        "numgen inc" => Balance::RoundRobin,
        "numgen random" => Balance::Random,
        "jhash ip saddr" | "jhash ip6 saddr" if seed.unwrap_or(0) == 0 => Balance::SourceHash,
        _ => return None,
    };
    let mut slots: Vec<(u32, u32, Backend)> = Vec::new();
    for (k, v) in map {
        let (lo, hi) = match k {
            Val::Range(a, b) => (a.parse().ok()?, b.parse().ok()?),
            Val::Word(w) => match w.split_once('-') {
                Some((a, b)) => (a.parse().ok()?, b.parse().ok()?),
                None => (w.parse().ok()?, w.parse().ok()?),
            },
            _ => return None,
        };
        let (addr, port) = match v {
            Val::Concat(parts) => match parts.as_slice() {
                [a, p] => (word(a)?.parse().ok()?, Some(word(p)?.parse().ok()?)),
                _ => return None,
            },
            other => (word(other)?.parse().ok()?, None),
        };
        slots.push((lo, hi, Backend { addr, port, weight: hi.checked_sub(lo)?.checked_add(1)? }));
    }
    slots.sort_by_key(|s| s.0);
    // A named map (what `apply` makes) holds one slot per element: a
    // backend's run of slots is one backend of that weight.
    let mut runs: Vec<(u32, u32, Backend)> = Vec::new();
    for (lo, hi, b) in slots {
        match runs.last_mut() {
            Some((_, last_hi, last))
                if (last.addr, last.port) == (b.addr, b.port)
                    && last_hi.checked_add(1) == Some(lo) =>
            {
                *last_hi = hi;
                last.weight = last.weight.checked_add(b.weight)?;
            }
            _ => runs.push((lo, hi, b)),
        }
    }
    let slots = runs;
    let mut next = 0u64;
    for (lo, hi, _) in &slots {
        if u64::from(*lo) != next {
            return None;
        }
        next = u64::from(*hi) + 1;
    }
    (next == u64::from(modulus)).then(|| Stmt::Dnat {
        backends: slots.into_iter().map(|s| s.2).collect(),
        balance: Some(balance),
    })
}
