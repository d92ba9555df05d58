//! A rule's target (`-j`, `-g`) and its options into statements.

use std::net::IpAddr;

use super::super::model::{self, Backend, Match, Stmt, Verdict};
use super::rule::{Cx, Ext, Parsed, Reader};
use super::value::{log_level, mark_and_mask, reject_with};
use crate::nft::vocab::LOG_DEFAULT_LEVEL;

pub(super) enum Target {
    Verdict(Verdict),
    Jump {
        chain: String,
        goto: bool,
    },
    Reject(Option<String>),
    Log {
        prefix: Option<String>,
        level: Option<String>,
        flags: Vec<String>,
    },
    Dnat {
        to: Option<String>,
        flags: Vec<String>,
    },
    Snat {
        to: Option<String>,
        flags: Vec<String>,
    },
    Masquerade {
        flags: Vec<String>,
    },
    Redirect {
        to: Option<String>,
        flags: Vec<String>,
    },
    /// `-j MARK`: the change as `--set-xmark` says it, the new mark being
    /// `(mark & !mask) ^ value`; `None` until an option gives it.
    Mark {
        xmark: Option<Result<(u32, u32), String>>,
    },
    Other(String),
}

impl Cx<'_> {
    pub(super) fn target(&self, name: &str, goto: bool) -> Target {
        match name {
            "ACCEPT" if !goto => Target::Verdict(Verdict::Accept),
            "DROP" if !goto => Target::Verdict(Verdict::Drop),
            "RETURN" if !goto => Target::Verdict(Verdict::Return),
            "REJECT" if !goto => Target::Reject(None),
            "LOG" if !goto => Target::Log { prefix: None, level: None, flags: vec![] },
            "DNAT" if !goto => Target::Dnat { to: None, flags: vec![] },
            "SNAT" if !goto => Target::Snat { to: None, flags: vec![] },
            "MASQUERADE" if !goto => Target::Masquerade { flags: vec![] },
            "REDIRECT" if !goto => Target::Redirect { to: None, flags: vec![] },
            "MARK" if !goto => Target::Mark { xmark: None },
            chain
                if self.names.contains_key(chain)
                    && !self.builtin.iter().any(|(n, ..)| *n == chain) =>
            {
                Target::Jump { chain: self.names[chain].clone(), goto }
            }
            other => Target::Other(other.to_string()),
        }
    }

    /// The statements the target becomes, after the rule's limits; `None`
    /// (with a problem noted) when it cannot be said.
    pub(super) fn statements(&self, p: &mut Parsed) -> Option<Vec<Stmt>> {
        let mut stmts: Vec<Stmt> = p
            .ext
            .iter()
            .filter_map(|e| match e {
                Ext::Limit { rate, per, burst } => {
                    Some(Stmt::Limit { rate: *rate, per: *per, burst: *burst })
                }
                Ext::Meter(m) => Some(Stmt::Meter(*m)),
                _ => None,
            })
            .collect();
        let stmt = match p.target.take() {
            None => Some(Stmt::Counter(None)),
            Some(Target::Verdict(v)) => Some(Stmt::Verdict(v)),
            Some(Target::Jump { chain, goto: false }) => Some(Stmt::Verdict(Verdict::Jump(chain))),
            Some(Target::Jump { chain, goto: true }) => Some(Stmt::Verdict(Verdict::Goto(chain))),
            Some(Target::Reject(with)) => {
                let with = with.unwrap_or_else(|| "icmp-port-unreachable".into());
                match reject_with(&with, self.family) {
                    Some(w) => Some(Stmt::Verdict(Verdict::Reject(w))),
                    None => {
                        p.problems.push(format!("`--reject-with {with}` is not an answer iptables knows for this family"));
                        None
                    }
                }
            }
            Some(Target::Log { prefix, level, flags }) => {
                let level = match level.as_deref() {
                    None => Some(LOG_DEFAULT_LEVEL),
                    Some(l) => log_level(l),
                };
                match (level, flags.first()) {
                    (None, _) => {
                        p.problems.push("a LOG level that is not a syslog level".into());
                        None
                    }
                    (_, Some(f)) => {
                        p.problems.push(format!("LOG `{f}` has no equivalent in shriek yet"));
                        None
                    }
                    (Some(level), None) => Some(Stmt::log(prefix, level)),
                }
            }
            Some(Target::Dnat { to, flags }) => self
                .nat_target(to.as_deref(), &flags, "--to-destination", p)
                .map(|b| Stmt::Dnat { backends: vec![b], balance: None }),
            Some(Target::Snat { to, flags }) => {
                self.nat_target(to.as_deref(), &flags, "--to-source", p).map(Stmt::Snat)
            }
            Some(Target::Masquerade { flags }) => match flags.first() {
                Some(f) => {
                    p.problems.push(format!("MASQUERADE `{f}` is not in the language yet"));
                    None
                }
                None => Some(Stmt::Masquerade),
            },
            Some(Target::Redirect { to, flags }) => {
                let port = to.as_deref().and_then(|t| t.parse::<u16>().ok());
                match (port, flags.first()) {
                    (Some(port), None) => Some(Stmt::Redirect(port)),
                    (_, Some(f)) => {
                        p.problems.push(format!("REDIRECT `{f}` is not in the language yet"));
                        None
                    }
                    (None, None) => {
                        p.problems.push(
                            "REDIRECT without one `--to-ports` port is not in the language yet"
                                .into(),
                        );
                        None
                    }
                }
            }
            Some(Target::Mark { xmark }) => match xmark {
                Some(Ok((value, mask))) => match mark_set(&p.ext, value, mask) {
                    Some(v) => Some(Stmt::MarkSet(v)),
                    None => {
                        p.problems.push("`-j MARK` that changes only some bits of the mark (`--set-xmark V/M`, `--or-mark`, `--and-mark`), which `mark set` cannot say unless the rule matches one mark".into());
                        None
                    }
                },
                Some(Err(e)) => {
                    p.problems.push(e);
                    None
                }
                None => {
                    p.problems.push("`-j MARK` without a mark to set".into());
                    None
                }
            },
            Some(Target::Other(name)) => {
                p.problems.push(format!("target `{name}` has no equivalent in shriek yet"));
                None
            }
        };
        stmts.push(stmt?);
        Some(stmts)
    }

    fn nat_target(
        &self,
        to: Option<&str>,
        flags: &[String],
        opt: &str,
        p: &mut Parsed,
    ) -> Option<Backend> {
        if let Some(f) = flags.first() {
            p.problems.push(format!("NAT `{f}` is not in the language yet"));
            return None;
        }
        let Some(to) = to else {
            p.problems.push(format!("NAT without `{opt}`"));
            return None;
        };
        let (addr, port) = match to.strip_prefix('[') {
            Some(rest) => match rest.split_once("]:") {
                Some((a, port)) => (a, Some(port)),
                None => (rest.trim_end_matches(']'), None),
            },
            None => match to.rsplit_once(':') {
                Some((a, port)) if !a.contains(':') => (a, Some(port)),
                _ => (to, None),
            },
        };
        let addr = addr.parse::<IpAddr>().ok().filter(|a| model::family_of(a) == self.family);
        let port = match port {
            None => Some(None),
            Some(p) => p.parse::<u16>().ok().map(Some),
        };
        match (addr, port) {
            (Some(addr), Some(port)) => Some(Backend { addr, port, weight: 1 }),
            _ => {
                p.problems.push(format!(
                    "NAT to `{to}`: only one address (and one port) is in the language"
                ));
                None
            }
        }
    }
}

/// The mark a rule's `-j MARK` leaves, `(mark & !mask) ^ value`, when the
/// language can say it: every bit changes (a mask of all 32), or the rule
/// matches one mark (`-m mark --mark 0x1 -j MARK --or-mark 0x4` sets 0x5).
fn mark_set(ext: &[Ext], value: u32, mask: u32) -> Option<u32> {
    if mask == u32::MAX {
        return Some(value);
    }
    let one = ext.iter().find_map(|e| match e {
        Ext::Match(Match::Mark { neg: false, ranges }) => match ranges.as_slice() {
            [(lo, hi)] if lo == hi => Some(*lo),
            _ => None,
        },
        _ => None,
    })?;
    Some((one & !mask) ^ value)
}

/// A `-j MARK` option as `--set-xmark` says it: the value and the mask of
/// the bits it changes.
fn xmark(opt: &str, v: &str) -> Result<(u32, u32), String> {
    let bad = || format!("cannot read the mark `{v}` of `{opt}`");
    let bits = || model::mark_number(v).ok_or_else(bad);
    match opt {
        "--set-xmark" => mark_and_mask(v).ok_or_else(bad),
        // Zeroes the mask's bits and sets the value's: the value's bits are
        // changed too.
        "--set-mark" => mark_and_mask(v).map(|(value, mask)| (value, mask | value)).ok_or_else(bad),
        "--and-mark" => Ok((0, !bits()?)),
        "--or-mark" => Ok((bits()?, bits()?)),
        "--xor-mark" => Ok((bits()?, 0)),
        _ => Err(format!("MARK `{opt}` has no equivalent in shriek yet")),
    }
}

pub(super) fn target_option(opt: &str, neg: bool, r: &mut Reader, p: &mut Parsed) {
    let Some(target) = p.target.as_mut() else { return };
    if neg {
        p.problems.push(format!("`! {opt}` cannot be negated"));
    }
    match (target, opt) {
        (Target::Reject(with), "--reject-with") => *with = Some(r.value(false).1),
        (Target::Log { prefix, .. }, "--log-prefix") => *prefix = Some(r.value(false).1),
        (Target::Log { level, .. }, "--log-level") => *level = Some(r.value(false).1),
        (Target::Log { flags, .. }, _) if opt.starts_with("--log-") => flags.push(opt.to_string()),
        (Target::Dnat { to, .. }, "--to-destination")
        | (Target::Snat { to, .. }, "--to-source") => *to = Some(r.value(false).1),
        (Target::Redirect { to, .. }, "--to-ports") => *to = Some(r.value(false).1),
        (Target::Mark { xmark: x }, _) => {
            let v = r.value(false).1;
            *x = Some(xmark(opt, &v));
        }
        (
            Target::Dnat { flags, .. }
            | Target::Snat { flags, .. }
            | Target::Masquerade { flags }
            | Target::Redirect { flags, .. },
            _,
        ) => {
            flags.push(opt.to_string());
            r.skip_values();
        }
        (Target::Other(_), _) => r.skip_values(),
        (_, _) => {
            p.problems.push(format!("target option `{opt}` has no equivalent in shriek yet"));
            r.skip_values();
        }
    }
}
