//! `reject with ...`: the answer named, and checked against the packets the
//! rule can match. nft would quietly narrow such a rule (`reject with tcp
//! reset` only holds for TCP there); here the rule says so itself, or it is
//! an error with the match to add.

use shriek_grammar::ast::{self, RejectProto};
use shriek_grammar::{Diagnostic, FileId, Loc, Span};

use super::typing::unknown;
use super::{codes, Ctx};
use crate::ir::RejectWith;
use crate::nft::vocab::{value_of, ICMPV6_CODES, ICMPX_CODES, ICMP_CODES, PROTO_TCP};
use crate::space::{Cube, Family, Protos};

impl Ctx<'_> {
    /// The answer a `reject with` names; `None` (reported) for an unknown
    /// code.
    pub(super) fn reject_with(
        &mut self,
        file: FileId,
        with: &ast::RejectWith,
    ) -> Option<RejectWith> {
        let (proto, code) = match with {
            ast::RejectWith::TcpReset => return Some(RejectWith::TcpReset),
            ast::RejectWith::Icmp(proto, code) => (*proto, code),
        };
        let names = match proto {
            RejectProto::Icmp => ICMP_CODES,
            RejectProto::Icmpv6 => ICMPV6_CODES,
            RejectProto::Icmpx => ICMPX_CODES,
        };
        let Some(value) = value_of(names, &code.text) else {
            let what = format!("{} reject code", proto.keyword());
            let known = names.iter().map(|(n, _)| *n);
            unknown(&mut self.diags, Loc::new(file, code.span), &what, &code.text, known);
            return None;
        };
        Some(match proto {
            RejectProto::Icmp => RejectWith::Icmp(value),
            RejectProto::Icmpv6 => RejectWith::Icmpv6(value),
            RejectProto::Icmpx => RejectWith::Icmpx(value),
        })
    }

    /// Whether every packet of `space` can take the answer `with`; reports
    /// the rule when not. `with icmp` after a match that pins IPv6 packets
    /// only is reported too: it would answer nothing.
    pub(super) fn reject_fits(
        &mut self,
        file: FileId,
        r: &ast::Rule,
        space: &[Cube],
        with: RejectWith,
        at: Loc,
    ) -> bool {
        let fits = |c: &Cube| match with {
            RejectWith::TcpReset => c.proto == Protos::only(PROTO_TCP),
            RejectWith::Icmp(_) => c.family.single() == Some(Family::V4),
            RejectWith::Icmpv6(_) => c.family.single() == Some(Family::V6),
            RejectWith::PortUnreachable | RejectWith::Icmpx(_) => true,
        };
        if space.iter().all(fits) {
            return true;
        }
        let (message, others, help) = match with {
            RejectWith::TcpReset => (
                "`reject with tcp reset` answers TCP packets only, but this rule also matches other packets",
                "these match more than TCP",
                "add `proto tcp` (or a `tcp dport` or `tcp sport` match) to the rule; reject other packets with plain `reject`",
            ),
            RejectWith::Icmp(_) => (
                "`reject with icmp` answers IPv4 packets only, but this rule also matches IPv6 packets",
                "these match IPv6 packets too",
                "add `family ipv4` to the rule, or use `reject with icmpx ...`, which answers in either family",
            ),
            _ => (
                "`reject with icmpv6` answers IPv6 packets only, but this rule also matches IPv4 packets",
                "these match IPv4 packets too",
                "add `family ipv6` to the rule, or use `reject with icmpx ...`, which answers in either family",
            ),
        };
        let matches = r
            .terms
            .iter()
            .filter(|t| matches!(t, ast::Term::Match(_)))
            .map(|t| t.span())
            .reduce(Span::to);
        let mut d = Diagnostic::new(codes::REJECT_MISMATCH, message, at, "this answer");
        d = match matches {
            Some(m) => d.with_related(Loc::new(file, m), others),
            None => d.with_related(Loc::new(file, r.span), "this rule matches every packet"),
        };
        self.error(d.with_help(help));
        false
    }
}

/// `reject` where the kernel refuses it: in a chain on the postrouting
/// hook, or in a chain that one reaches by `jump` or `goto` (the kernel
/// checks every chain a base chain reaches, and refuses the whole batch).
/// The packet is routed out by then; there is no one to answer. One error
/// per rule, naming the postrouting chain and, for a reached chain, the
/// first jump that leads there.
pub(super) fn reject_on_postrouting(tables: &[crate::ir::Table], diags: &mut Vec<Diagnostic>) {
    use crate::ir::{Hook, Verdict};
    for t in tables {
        // For each chain: the postrouting chain that reaches it first, and
        // the jump that leads into it (none for the base chain itself).
        let mut reached: Vec<Option<(usize, Option<Loc>)>> = vec![None; t.chains.len()];
        for (base, c) in t.chains.iter().enumerate() {
            if c.base.is_none_or(|b| b.hook != Hook::Postrouting) || reached[base].is_some() {
                continue;
            }
            reached[base] = Some((base, None));
            let mut todo = vec![base];
            while let Some(ci) = todo.pop() {
                for r in &t.chains[ci].rules {
                    if let Some(Verdict::Jump(to) | Verdict::Goto(to)) = r.verdict {
                        let to = to.0 as usize;
                        if to < t.chains.len() && reached[to].is_none() {
                            reached[to] = Some((base, Some(r.loc)));
                            todo.push(to);
                        }
                    }
                }
            }
        }
        for (ci, c) in t.chains.iter().enumerate() {
            let Some((base, via)) = reached[ci] else { continue };
            for r in c.rules.iter().filter(|r| matches!(r.verdict, Some(Verdict::Reject(_)))) {
                let at = r.verdict_loc.unwrap_or(r.loc);
                let base = &t.chains[base].name;
                let label = if via.is_some() {
                    format!("chain `{}` is reached from chain `{base}` on hook postrouting", c.name)
                } else {
                    format!("in chain `{base}` on hook postrouting")
                };
                let mut d = Diagnostic::new(
                    codes::REJECT_WRONG_HOOK,
                    "`reject` does not work on the postrouting hook: the kernel refuses it there",
                    at,
                    label,
                );
                if let Some(jump) = via {
                    d = d.with_related(jump, "the first jump or goto that leads there");
                }
                diags.push(d.with_help(
                    "use `drop`, or reject in a forward or output chain, before the packet is routed out",
                ));
            }
        }
    }
}
