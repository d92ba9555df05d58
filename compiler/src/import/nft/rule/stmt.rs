//! An nft rule's statements (counter, log, limit, verdicts, reject, NAT)
//! into the policy's, the other half of `rule.rs`.

use std::net::IpAddr;

use crate::ir::{Balance, RateUnit};
use crate::space::Family;

use super::super::super::model::{self, Backend, Stmt, Verdict};
use super::super::{NItem, NNat, NVerdict, NatTo, Val};
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
                if level.as_deref().is_some_and(|l| !matches!(l, "warn" | "warning")) {
                    problem(
                        st,
                        "log levels other than warn are not in the language yet (`log level`)"
                            .into(),
                    );
                } else if let Some(o) = other {
                    problem(st, format!("`log {o}` has no equivalent in shriek yet"));
                } else {
                    st.stmts.push(Stmt::Log(prefix.clone()));
                }
            }
            NItem::Limit { rate, per, burst, over, bytes } => {
                let per = match per.as_str() {
                    "second" => Some((*rate, RateUnit::Second)),
                    "minute" => Some((*rate, RateUnit::Minute)),
                    "hour" => Some((*rate, RateUnit::Hour)),
                    "day" => Some((*rate, RateUnit::Day)),
                    // The same refill, counted per day.
                    "week" if rate % 7 == 0 => Some((rate / 7, RateUnit::Day)),
                    _ => None,
                };
                let burst = u32::try_from(burst.unwrap_or(5)).ok();
                match (per, burst) {
                    _ if *over => problem(st, "`limit rate over` is not in the language".into()),
                    _ if *bytes => problem(st, "byte rates are not in the language".into()),
                    (Some((rate, per)), Some(burst)) => {
                        st.stmts.push(Stmt::Limit { rate, per, burst })
                    }
                    _ => problem(st, "a rate the language cannot say".into()),
                }
            }
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
                let port = code.as_deref().is_none_or(|c| c == "port-unreachable");
                // In an inet table nft makes `reject with icmp ...` hold for
                // IPv4 packets only (a `meta nfproto` it does not list), and
                // `icmpv6` for IPv6 ones.
                let only = match kind.as_deref() {
                    None | Some("icmpx") => Some(None),
                    Some("icmp") => Some(Some(Family::V4)),
                    Some("icmpv6") => Some(Some(Family::V6)),
                    _ => None,
                };
                let ok = match only {
                    Some(None) => port,
                    Some(Some(f)) => port && family.is_none_or(|g| g == f),
                    None => false,
                };
                if ok {
                    if let Some(Some(f)) = only.filter(|_| family.is_none()) {
                        st.pin(f);
                    }
                    st.stmts.push(Stmt::Verdict(Verdict::Reject));
                } else if kind.as_deref() == Some("tcp reset") {
                    problem(st, "`reject with tcp reset` is not in the language yet".into());
                } else {
                    problem(st, "reject types other than port unreachable are not in the language yet (`reject with icmp ...`)".into());
                }
            }
            NItem::Nat(n) => self.nat(st, n),
            NItem::Other(what) => problem(st, format!("`{what}` has no equivalent in shriek yet")),
            NItem::Match { .. } | NItem::Vmap { .. } => {
                unreachable!("matches and maps are read elsewhere")
            }
        }
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
            ("dnat", Some(NatTo::Balanced { pick, modulus, seed, map })) => {
                balanced(pick, *modulus, *seed, map)
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
        slots.push((lo, hi, Backend { addr, port, weight: hi.checked_sub(lo)? + 1 }));
    }
    slots.sort_by_key(|s| s.0);
    let mut next = 0;
    for (lo, hi, _) in &slots {
        if *lo != next {
            return None;
        }
        next = hi + 1;
    }
    (next == modulus).then(|| Stmt::Dnat {
        backends: slots.into_iter().map(|s| s.2).collect(),
        balance: Some(balance),
    })
}
