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
