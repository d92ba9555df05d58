//! One rule: its matches become one exact match space, its statements
//! actions, and its verdict a jump target checked against the table.
//!
//! The order of terms is part of the language: matches, then statements,
//! then at most one verdict or translation, which ends the rule. The first
//! term out of order is reported, once per rule.

use std::collections::HashSet;

use shriek_grammar::ast::{self, StmtKind, Term};
use shriek_grammar::{Diagnostic, FileId, Loc, Span};

use super::chain::ChainCx;
use super::{codes, suggest, typing, Ctx, METER_KEYS, RATE_UNITS};
use crate::identity::DEFAULT_LIMIT_BURST;
use crate::ir;
use crate::space::{Cube, Families, Family};

/// The named counters of one table, each declared where it is first used.
#[derive(Default)]
pub(super) struct Counters {
    pub decls: Vec<ir::CounterDecl>,
    seen: HashSet<String>,
}

/// A rule as it is read, term by term.
struct Parts {
    ok: bool,
    space: Vec<Cube>,
    /// `space` is still the full cube: no match has narrowed it yet.
    unrestricted: bool,
    actions: Vec<ir::Action>,
    verdict: Option<ir::Verdict>,
    verdict_loc: Option<Loc>,
    /// The statement that decided the packet (a verdict or translation), if
    /// any yet, and whether it is a verdict.
    decided: Option<(Loc, bool)>,
    first_stmt: Option<Loc>,
    /// Set once a term out of order was reported: one report per rule.
    reported_order: bool,
    /// The family a translation pins the rule to, and where its target is.
    nat_family: Option<(Family, Loc)>,
}

impl<'a> Ctx<'a> {
    pub(super) fn rule(
        &mut self,
        cx: &ChainCx,
        r: &'a ast::Rule,
        id: ir::RuleId,
        counters: &mut Counters,
    ) -> Option<ir::Rule> {
        let mut parts = Parts {
            ok: true,
            space: vec![Cube::full()],
            unrestricted: true,
            actions: Vec::new(),
            verdict: None,
            verdict_loc: None,
            decided: None,
            first_stmt: None,
            reported_order: false,
            nat_family: None,
        };
        for term in &r.terms {
            let tloc = Loc::new(cx.file, term.span());
            if let Some(decided) = parts.decided {
                self.after_decision(&mut parts, decided, term, tloc);
                continue;
            }
            match term {
                Term::Match(m) => {
                    self.interface_not_set(cx, m, tloc);
                    self.rule_match(cx.file, &mut parts, m, tloc)
                }
                Term::Stmt(s) => self.rule_stmt(cx, &mut parts, s, tloc, counters),
            }
        }
        if let Some((family, target)) = parts.nat_family {
            self.pin_family(cx.file, r, &mut parts, family, target);
        }
        if let (Some(ir::Verdict::Reject(with)), Some(at)) = (parts.verdict, parts.verdict_loc) {
            parts.ok &= self.reject_fits(cx.file, r, &parts.space, with, at);
            parts.verdict = Some(ir::Verdict::Reject(with.normal()));
        }
        let allows = self.allows_for(cx.file, r.span);
        let Parts { ok, mut space, mut actions, verdict, verdict_loc, .. } = parts;
        // The policy's rules live until it is lowered and analysed: without
        // the slack their vectors grew with (a one-cube space held room for
        // four, 1,152 bytes), 100k rules take about 55 MiB less.
        space.shrink_to_fit();
        actions.shrink_to_fit();
        ok.then(|| ir::Rule {
            id,
            loc: Loc::new(cx.file, r.span),
            space,
            actions,
            verdict,
            verdict_loc,
            allows,
        })
    }

    /// Reports the first term after the rule's verdict or translation.
    fn after_decision(&mut self, parts: &mut Parts, decided: (Loc, bool), term: &Term, tloc: Loc) {
        if std::mem::replace(&mut parts.reported_order, true) {
            return;
        }
        parts.ok = false;
        let (dloc, is_verdict) = decided;
        let is_second_verdict =
            matches!(term, Term::Stmt(ast::Stmt { kind: StmtKind::Verdict(_), .. }));
        let d = if is_second_verdict && is_verdict {
            Diagnostic::new(
                codes::MULTIPLE_VERDICTS,
                "a rule can have only one verdict",
                tloc,
                "second verdict",
            )
            .with_related(dloc, "first verdict")
            .with_help("split the rule in two, or remove one verdict")
        } else {
            let what = if is_verdict { "the verdict" } else { "the address translation" };
            Diagnostic::new(
                codes::STATEMENT_AFTER_VERDICT,
                format!("nothing can follow `{}` in a rule", self.text(dloc)),
                tloc,
                format!("this comes after {what}"),
            )
            .with_related(dloc, "the rule decides here")
            .with_help(format!(
                "move `{}` before `{}`",
                self.text(tloc),
                self.text(dloc)
            ))
        };
        self.error(d);
    }

    /// Warns of `oif` where the kernel has not routed the packet yet
    /// (prerouting, input) and of `iif` on the host's own packets (output):
    /// the kernel reads the empty name there, so the match never holds,
    /// and negated it always does.
    fn interface_not_set(&mut self, cx: &ChainCx, m: &ast::Match, tloc: Loc) {
        let Some((Some(hook), _)) = cx.base else { return };
        let (word, fix) = match (&m.field.node, hook) {
            (ast::Field::Oif, ir::Hook::Prerouting | ir::Hook::Input) => (
                "oif",
                "match `iif` for the interface the packet came in on, or move the rule to a forward, output or postrouting chain",
            ),
            (ast::Field::Iif, ir::Hook::Output) => (
                "iif",
                "match `oif` for the interface the packet leaves by, or move the rule to a prerouting, input or forward chain",
            ),
            _ => return,
        };
        let hook = hook.keyword();
        let label = if m.negated.is_some() {
            format!("this holds for every packet: in {hook} no packet has an `{word}`")
        } else {
            format!("this never holds: in {hook} no packet has an `{word}`")
        };
        self.error(
            Diagnostic::new(
                codes::IFACE_NOT_SET,
                format!("`{word}` means nothing at the {hook} hook: the kernel reads an empty name there"),
                tloc,
                label,
            )
            .with_help(fix),
        );
    }

    fn rule_match(&mut self, file: FileId, parts: &mut Parts, m: &'a ast::Match, tloc: Loc) {
        if let Some(sloc) = parts.first_stmt {
            if !std::mem::replace(&mut parts.reported_order, true) {
                parts.ok = false;
                self.error(
                    Diagnostic::new(
                        codes::MATCH_AFTER_STATEMENT,
                        "matches must come before statements",
                        tloc,
                        "this match comes after a statement",
                    )
                    .with_related(sloc, "first statement")
                    .with_help(format!(
                        "move `{}` before `{}`",
                        self.text(tloc),
                        self.text(sloc)
                    )),
                );
            }
        }
        match self.match_space(file, m) {
            // The rule's first match meets only the full cube, which
            // leaves each of its non-empty cubes as it is: they are kept
            // without building them again.
            Some(cubes) if std::mem::take(&mut parts.unrestricted) => {
                parts.space = cubes
                    .into_iter()
                    .filter(|c| !c.is_empty() || c.only_ipv6_extension_headers())
                    .collect();
            }
            Some(cubes) => parts.space = crate::space::intersect_matches(&parts.space, &cubes),
            None => parts.ok = false,
        }
    }

    fn rule_stmt(
        &mut self,
        cx: &ChainCx,
        parts: &mut Parts,
        s: &'a ast::Stmt,
        tloc: Loc,
        counters: &mut Counters,
    ) {
        parts.first_stmt.get_or_insert(tloc);
        let action = match &s.kind {
            StmtKind::Verdict(v) => {
                parts.decided = Some((tloc, true));
                parts.verdict_loc = Some(tloc);
                match self.verdict(cx, v) {
                    Some(v) => parts.verdict = Some(v),
                    None => parts.ok = false,
                }
                return;
            }
            StmtKind::Counter(name) => {
                let name = name.as_ref().map(|n| {
                    parts.ok &= self.counter_name(cx.file, n, counters);
                    n.text.clone()
                });
                Some(ir::Action::Counter(name))
            }
            StmtKind::Log { prefix, level } => self.log(cx.file, prefix.as_ref(), level.as_ref()),
            StmtKind::Limit { rate, per, burst, key: None } => {
                self.limit(cx.file, rate, per, burst).map(ir::Action::Limit)
            }
            StmtKind::Limit { rate, per, burst, key: Some(key) } => {
                let limit = self.limit(cx.file, rate, per, burst);
                let key = self.keyword(cx.file, key, &METER_KEYS);
                let test = limit.map(ir::MeterTest::Rate);
                key.zip(test).map(|(key, test)| ir::Action::Meter(ir::Meter { key, test }))
            }
            StmtKind::MarkSet(n) => match u32::try_from(n.node) {
                Ok(v) => Some(ir::Action::MarkSet(v)),
                Err(_) => {
                    let loc = Loc::new(cx.file, n.span);
                    if !self.overflowed(loc, n.node) {
                        self.error(super::typing::mark_out_of_range(loc, n.node));
                    }
                    None
                }
            },
            StmtKind::CtCount { over, key } => {
                let over = match u32::try_from(over.node) {
                    Ok(v) => Some(v),
                    Err(_) => {
                        let loc = Loc::new(cx.file, over.span);
                        self.out_of_range(loc, "connection count", over.node, u32::MAX as u64);
                        None
                    }
                };
                let key = self.keyword(cx.file, key, &METER_KEYS);
                let test = over.map(ir::MeterTest::CountOver);
                key.zip(test).map(|(key, test)| ir::Action::Meter(ir::Meter { key, test }))
            }
            StmtKind::Dnat(_)
            | StmtKind::Snat(_)
            | StmtKind::Masquerade
            | StmtKind::Redirect(_) => {
                parts.decided = Some((tloc, false));
                let nat = self.nat(cx, s);
                parts.nat_family = nat.as_ref().and_then(|n| target_family(n, tloc));
                nat.map(ir::Action::Nat)
            }
        };
        match action {
            Some(a) => parts.actions.push(a),
            None => parts.ok = false,
        }
    }

    /// A rule that translates to an address matches only packets of that
    /// address's family: packets of the other family have nothing to be
    /// translated to. A rule whose matches allow only the other family is an
    /// error.
    fn pin_family(
        &mut self,
        file: FileId,
        r: &ast::Rule,
        parts: &mut Parts,
        family: Family,
        target: Loc,
    ) {
        let only = Cube { family: Families::only(family), ..Cube::full() };
        let pinned = crate::space::intersect(&parts.space, &[only]);
        if pinned.is_empty() && parts.space.iter().any(|c| !c.is_empty()) {
            let matches = r
                .terms
                .iter()
                .filter(|t| matches!(t, Term::Match(_)))
                .map(|t| t.span())
                .reduce(Span::to)
                .expect("an unrestricted rule matches packets of both families");
            let (fam, other) = match family {
                Family::V4 => ("IPv4", "IPv6"),
                Family::V6 => ("IPv6", "IPv4"),
            };
            self.error(
                Diagnostic::new(
                    codes::NAT_FAMILY_MISMATCH,
                    format!("this rule translates to an {fam} address but matches only {other} packets"),
                    target,
                    format!("an {fam} address"),
                )
                .with_related(Loc::new(file, matches), format!("these match {other} packets only"))
                .with_help(format!(
                    "a packet keeps its family through translation: translate to an {other} address, or match {fam} packets"
                )),
            );
            parts.ok = false;
        }
        parts.space = pinned;
    }

    /// The inline allows that apply to a rule spanning `span`.
    fn allows_for(&self, file: FileId, span: Span) -> Vec<ir::Allow> {
        let source = self.sources.get(file);
        let first = source.line_col(span.start).0;
        let last = source.line_col(span.end.saturating_sub(1).max(span.start)).0;
        self.allows.get(&file).map(|a| a.for_rule(first, last)).unwrap_or_default()
    }

    fn match_space(&mut self, file: FileId, m: &'a ast::Match) -> Option<Vec<Cube>> {
        if let Some(form) = &m.flags {
            return self.flags_space(file, m, form);
        }
        let mut elems = Vec::new();
        if !self.flatten(file, &m.value, &mut elems) {
            return None;
        }
        let typed = typing::type_elems(m.field.node, &elems, self.sources, &mut self.diags)?;
        Some(typing::cubes(m.field.node, m.negated.is_some(), typed))
    }

    fn verdict(&mut self, cx: &ChainCx, v: &ast::Verdict) -> Option<ir::Verdict> {
        let (target, goto) = match v {
            ast::Verdict::Accept => return Some(ir::Verdict::Accept),
            ast::Verdict::Drop => return Some(ir::Verdict::Drop),
            ast::Verdict::Reject => {
                return Some(ir::Verdict::Reject(ir::RejectWith::PortUnreachable))
            }
            ast::Verdict::RejectWith(with) => {
                return self.reject_with(cx.file, with).map(ir::Verdict::Reject)
            }
            ast::Verdict::Return => return Some(ir::Verdict::Return),
            ast::Verdict::Jump(t) => (t, false),
            ast::Verdict::Goto(t) => (t, true),
        };
        let loc = Loc::new(cx.file, target.span);
        let word = if goto { "goto" } else { "jump" };
        match cx.chains.get(target.text.as_str()) {
            Some(&(_, true)) => {
                self.error(
                    Diagnostic::new(
codes::JUMP_TO_BASE_CHAIN,
                        if goto {
                            format!("cannot `goto` base chain `{}`", target.text)
                        } else {
                            format!("cannot `jump` to base chain `{}`", target.text)
                        },
                        loc,
                        "this chain has a hook",
                    )
                    .with_help(format!(
                        "base chains are entered from their hook; `{word}` to a chain without `hook`"
                    )),
                );
                None
            }
            Some(&(id, false)) => {
                Some(if goto { ir::Verdict::Goto(id) } else { ir::Verdict::Jump(id) })
            }
            None => {
                let mut d = Diagnostic::new(
                    codes::UNKNOWN_CHAIN,
                    format!("no chain `{}` in table `{}`", target.text, cx.table),
                    loc,
                    "unknown chain",
                );
                let names = cx.chains.keys().copied().filter(|n| *n != cx.chain);
                let verdict = target.text.to_ascii_lowercase();
                d.help = Some(match suggest(&target.text, names) {
                    Some(n) => format!("did you mean `{n}`?"),
                    // iptables' `-j ACCEPT` written as `jump ACCEPT`.
                    None if matches!(verdict.as_str(), "accept" | "drop" | "reject" | "return") => {
                        format!("`{}` is a verdict, not a chain: write `{verdict}`", target.text)
                    }
                    None => {
                        format!("add `chain {} {{ ... }}` to table `{}`", target.text, cx.table)
                    }
                });
                self.error(d);
                None
            }
        }
    }

    fn counter_name(&mut self, file: FileId, name: &ast::Ident, counters: &mut Counters) -> bool {
        let loc = Loc::new(file, name.span);
        let mut chars = name.text.chars();
        let valid = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        let problem = if !valid {
            Some((
                format!("`{}` is not a valid counter name", name.text),
                "start with a letter or `_`, then use only letters, digits, `_` and `-`",
            ))
        } else if name.text.len() > 64 {
            Some((
                format!("counter name `{}` is longer than 64 bytes", name.text),
                "use a shorter name",
            ))
        } else {
            None
        };
        if let Some((message, help)) = problem {
            self.error(
                Diagnostic::new(codes::INVALID_COUNTER_NAME, message, loc, "invalid name")
                    .with_help(help),
            );
            return false;
        }
        if counters.seen.insert(name.text.clone()) {
            counters.decls.push(ir::CounterDecl { name: name.text.clone(), loc });
        }
        true
    }

    fn limit(
        &mut self,
        file: FileId,
        rate: &ast::Spanned<u64>,
        per: &ast::Ident,
        burst: &Option<ast::Spanned<u64>>,
    ) -> Option<ir::Limit> {
        let mut ok = true;
        if rate.node == 0 {
            self.error(
                Diagnostic::new(
                    codes::ZERO_RATE,
                    "a limit of 0 never holds",
                    Loc::new(file, rate.span),
                    "rate 0",
                )
                .with_help("give a rate above 0, or use `drop` to stop every packet"),
            );
            ok = false;
        }
        let unit = self.keyword(file, per, &RATE_UNITS);
        let burst_at = burst.as_ref().map(|b| b.span);
        let burst = match burst {
            Some(b) => match u32::try_from(b.node) {
                Ok(v) => Some(v),
                Err(_) => {
                    self.out_of_range(Loc::new(file, b.span), "burst", b.node, u32::MAX as u64);
                    ok = false;
                    None
                }
            },
            None => None,
        };
        let per = unit?;
        let limit = ir::Limit { rate: rate.node, per, burst };
        if ok {
            ok = self.kernel_keeps(file, &limit, rate, burst_at);
        }
        ok.then_some(limit)
    }

    /// Whether the kernel takes `limit`: it keeps a packet limit as whole
    /// nanoseconds per packet times the burst, and the rate plus the burst,
    /// in 64 bits, and refuses a limit whose numbers overflow either
    /// (`nft_limit_init`, EOVERFLOW). Said here, at the numbers, rather than
    /// by `apply` after `check` passed the policy.
    fn kernel_keeps(
        &mut self,
        file: FileId,
        limit: &ir::Limit,
        rate: &ast::Spanned<u64>,
        burst_at: Option<Span>,
    ) -> bool {
        if self.overflowed(Loc::new(file, rate.span), limit.rate) {
            // Already an error of its own: the number does not fit in 64 bits.
            return true;
        }
        let nanos_per_packet = limit.per.seconds() * 1_000_000_000 / limit.rate;
        // The kernel reads a burst of 0 as its default, as nft does.
        let burst = match limit.burst.unwrap_or(DEFAULT_LIMIT_BURST) {
            0 => DEFAULT_LIMIT_BURST,
            b => b,
        };
        let unit = limit.per.keyword();
        if limit.rate.checked_add(u64::from(burst)).is_none() {
            let max = u64::MAX - u64::from(burst);
            self.error(
                Diagnostic::new(
                    codes::VALUE_OUT_OF_RANGE,
                    format!("rate {} is out of range", limit.rate),
                    Loc::new(file, rate.span),
                    format!("at most {max} with a burst of {burst}"),
                )
                .with_help(format!(
                    "the kernel keeps the rate plus the burst in 64 bits: the rate may be at most {max}/{unit}"
                )),
            );
            return false;
        }
        if nanos_per_packet.checked_mul(u64::from(burst)).is_none() {
            let max = u64::MAX / nanos_per_packet;
            self.error(
                Diagnostic::new(
                    codes::VALUE_OUT_OF_RANGE,
                    format!("burst {burst} is out of range at {}/{unit}", limit.rate),
                    Loc::new(file, burst_at.unwrap_or(rate.span)),
                    format!("at most {max} at this rate"),
                )
                .with_help(format!(
                    "the kernel keeps a burst as the time it takes at the rate, in 64-bit nanoseconds: at {}/{unit} a burst may be at most {max}",
                    limit.rate
                )),
            );
            return false;
        }
        true
    }

    pub(super) fn out_of_range(&mut self, loc: Loc, what: &str, value: u64, max: u64) {
        if self.overflowed(loc, value) {
            return;
        }
        self.error(
            Diagnostic::new(
                codes::VALUE_OUT_OF_RANGE,
                format!("{what} {value} is out of range"),
                loc,
                format!("at most {max}"),
            )
            .with_help(format!("a {what} goes from 0 to {max}")),
        );
    }

    pub(super) fn port(
        &mut self,
        file: FileId,
        p: &Option<ast::Spanned<u64>>,
    ) -> Result<Option<u16>, ()> {
        match p {
            None => Ok(None),
            Some(p) => match u16::try_from(p.node) {
                Ok(v) => Ok(Some(v)),
                Err(_) => {
                    self.out_of_range(Loc::new(file, p.span), "port", p.node, 65535);
                    Err(())
                }
            },
        }
    }
}

/// The family a translation's target pins its rule to, and where the target
/// is; `None` for `masquerade` and `redirect`, which keep the packet's
/// family, and for backends of both families (an error of their own).
fn target_family(nat: &ir::Nat, stmt: Loc) -> Option<(Family, Loc)> {
    let family = |a: &std::net::IpAddr| if a.is_ipv4() { Family::V4 } else { Family::V6 };
    match nat {
        ir::Nat::Dnat { backends, .. } => {
            let first = backends.first()?;
            let f = family(&first.addr);
            backends.iter().all(|b| family(&b.addr) == f).then_some((f, first.loc))
        }
        ir::Nat::Snat { addr, .. } => Some((family(addr), stmt)),
        ir::Nat::Masquerade | ir::Nat::Redirect { .. } => None,
    }
}
