//! Address translation statements: `dnat`, `snat`, `masquerade` and
//! `redirect`, the chains and hooks they work in, and their targets.

use std::net::IpAddr;

use shriek_grammar::ast::{self, StmtKind};
use shriek_grammar::{Diagnostic, FileId, Loc};

use super::chain::ChainCx;
use super::value::{AddrShape, Elem, ElemKind};
use super::{codes, Ctx, BALANCES};
use crate::ir;
use crate::space::Family;

/// The most the weights of one balanced translation may add up to: the
/// elements of its map, one per unit of weight.
pub const MAX_TOTAL_WEIGHT: u64 = 65_536;

impl<'a> Ctx<'a> {
    pub(super) fn nat(&mut self, cx: &ChainCx, s: &'a ast::Stmt) -> Option<ir::Nat> {
        let file = cx.file;
        let loc = Loc::new(file, s.span);
        let (word, hooks): (&str, &[ir::Hook]) = match &s.kind {
            StmtKind::Dnat(_) => ("dnat", &[ir::Hook::Prerouting, ir::Hook::Output]),
            StmtKind::Redirect(_) => ("redirect", &[ir::Hook::Prerouting, ir::Hook::Output]),
            StmtKind::Snat(_) => ("snat", &[ir::Hook::Postrouting, ir::Hook::Input]),
            _ => ("masquerade", &[ir::Hook::Postrouting]),
        };
        let mut ok = true;
        match cx.base {
            Some((hook, Some(ir::ChainKind::Nat))) => {
                if let Some(h) = hook.filter(|h| !hooks.contains(h)) {
                    let list: Vec<&str> = hooks.iter().map(|h| h.keyword()).collect();
                    self.error(
                        Diagnostic::new(
                            codes::NAT_WRONG_HOOK,
                            format!("`{word}` does not work on the {} hook", h.keyword()),
                            loc,
                            format!("in a chain on hook `{}`", h.keyword()),
                        )
                        .with_help(format!("`{word}` works on the {} hooks", list.join(" and "))),
                    );
                    ok = false;
                }
            }
            Some(_) => {
                self.error(
                    Diagnostic::new(
                        codes::NAT_OUTSIDE_NAT_CHAIN,
                        format!("`{word}` needs a chain with `type nat`"),
                        loc,
                        format!("chain `{}` is a filter chain", cx.chain),
                    )
                    .with_help(format!("add `type nat` to chain `{}`", cx.chain)),
                );
                ok = false;
            }
            None => {
                self.error(
                    Diagnostic::new(
                        codes::NAT_OUTSIDE_NAT_CHAIN,
                        format!("`{word}` needs a chain with `type nat`"),
                        loc,
                        format!("chain `{}` is a regular chain", cx.chain),
                    )
                    .with_help(format!(
                        "translate in a base chain with `type nat`, such as `hook {} type nat`",
                        hooks[0].keyword()
                    )),
                );
                ok = false;
            }
        }
        let nat = match &s.kind {
            StmtKind::Dnat(ast::NatTarget::One(b)) => {
                let b = self.backend(file, b, false)?;
                ir::Nat::Dnat { backends: vec![b], balance: None }
            }
            StmtKind::Dnat(ast::NatTarget::Balance { backends, mode, span }) => {
                let balance = self.keyword(file, mode, &BALANCES);
                let mut out = Vec::new();
                for b in backends {
                    match self.backend(file, b, true) {
                        Some(b) => out.push(b),
                        None => ok = false,
                    }
                }
                ok &= self.one_family(&out);
                ok &= self.total_weight(Loc::new(file, *span), &out);
                ir::Nat::Dnat { backends: out, balance: Some(balance?) }
            }
            StmtKind::Snat(ast::NatTarget::One(b)) => {
                let b = self.backend(file, b, false)?;
                ir::Nat::Snat { addr: b.addr, port: b.port }
            }
            StmtKind::Snat(ast::NatTarget::Balance { span, .. }) => {
                self.error(
                    Diagnostic::new(
                        codes::INVALID_NAT_TARGET,
                        "`snat` takes one address",
                        Loc::new(file, *span),
                        "a set of backends",
                    )
                    .with_help("write `snat to ADDR`; only `dnat` balances over backends"),
                );
                return None;
            }
            StmtKind::Redirect(p) => match self.port(file, &Some(*p)) {
                Ok(Some(port)) => ir::Nat::Redirect { port },
                _ => return None,
            },
            _ => ir::Nat::Masquerade,
        };
        ok.then_some(nat)
    }

    fn backend(
        &mut self,
        file: FileId,
        b: &'a ast::Backend,
        weighted: bool,
    ) -> Option<ir::NatBackend> {
        let loc = Loc::new(file, b.span);
        let mut elems = Vec::new();
        if !self.flatten(file, &b.addr, &mut elems) {
            return None;
        }
        let addr = match elems.as_slice() {
            [(Elem { kind: ElemKind::Addr { family, lo, shape: AddrShape::Single, .. }, .. }, _)] => {
                match family {
                    Family::V4 => IpAddr::from(std::net::Ipv4Addr::from(*lo as u32)),
                    Family::V6 => IpAddr::from(std::net::Ipv6Addr::from(*lo)),
                }
            }
            _ => {
                let aloc = Loc::new(file, b.addr.span());
                self.error(
                    Diagnostic::new(
                        codes::INVALID_NAT_TARGET,
                        format!("expected one address, found `{}`", self.text(aloc)),
                        aloc,
                        "not a single address",
                    )
                    .with_help("translate to one address, such as `10.0.0.1` or `[fd00::1]:8080`"),
                );
                return None;
            }
        };
        if b.port.is_none() {
            self.port_in_address(file, &b.addr);
        }
        let port = self.port(file, &b.port).ok()?;
        let weight = match b.weight {
            None => 1,
            Some(w) if !weighted => {
                self.error(
                    Diagnostic::new(
                        codes::INVALID_NAT_TARGET,
                        "a weight only makes sense among balanced backends",
                        Loc::new(file, w.span),
                        "weight of a single target",
                    )
                    .with_help("remove the weight"),
                );
                return None;
            }
            Some(w) if w.node == 0 => {
                self.error(
                    Diagnostic::new(
                        codes::INVALID_NAT_TARGET,
                        "a backend weight must be at least 1",
                        Loc::new(file, w.span),
                        "weight 0",
                    )
                    .with_help("remove the backend instead of giving it weight 0"),
                );
                return None;
            }
            Some(w) => match u32::try_from(w.node) {
                Ok(v) => v,
                Err(_) => {
                    self.out_of_range(Loc::new(file, w.span), "weight", w.node, u32::MAX as u64);
                    return None;
                }
            },
        };
        Some(ir::NatBackend { addr, port, weight, loc })
    }

    /// The kernel picks a backend by a number modulo the sum of the
    /// weights, from a map with one element per unit of weight
    /// (`emit::nat_map`): a sum past [`MAX_TOTAL_WEIGHT`] is refused, at
    /// the backends (4 billion elements took apply, and now compile, until
    /// memory ran out).
    fn total_weight(&mut self, loc: Loc, backends: &[ir::NatBackend]) -> bool {
        let total: u64 = backends.iter().map(|b| u64::from(b.weight)).sum();
        if total <= MAX_TOTAL_WEIGHT {
            return true;
        }
        self.error(
            Diagnostic::new(
                codes::VALUE_OUT_OF_RANGE,
                format!("the backends' weights add up to {total}, too many map slots"),
                loc,
                format!("one slot per unit of weight, at most {MAX_TOTAL_WEIGHT} in all"),
            )
            .with_help("divide the weights by a common factor: only their ratios matter"),
        );
        false
    }

    /// Balanced backends must share one family: a packet keeps its family
    /// through translation, so the other family's backends would silently
    /// never be used.
    fn one_family(&mut self, backends: &[ir::NatBackend]) -> bool {
        let first = |v4: bool| backends.iter().find(|b| b.addr.is_ipv4() == v4);
        let (Some(v4), Some(v6)) = (first(true), first(false)) else { return true };
        let (primary, other) = if v4.loc < v6.loc { (v6, v4) } else { (v4, v6) };
        let family = |b: &ir::NatBackend| if b.addr.is_ipv4() { "IPv4" } else { "IPv6" };
        self.error(
            Diagnostic::new(
                codes::MIXED_FAMILY_NAT,
                "`dnat` balances over IPv4 and IPv6 backends at once",
                primary.loc,
                format!("an {} backend", family(primary)),
            )
            .with_related(other.loc, format!("an {} backend", family(other)))
            .with_help(
                "a packet keeps its address family through translation: balance each family in a rule \
                 of its own, such as `family ipv4 dnat to { ... } balance round-robin`",
            ),
        );
        false
    }

    /// Warns about `dnat to 2001:db8::1:8080`: an IPv6 address whose last
    /// group reads like a port. The address is what the language says it is;
    /// the warning names both readings and how to write each.
    fn port_in_address(&mut self, file: FileId, addr: &ast::Value) {
        let ast::Value::Atom(ast::Atom { kind: ast::AtomKind::Ipv6(_), span }) = addr else {
            return;
        };
        let loc = Loc::new(file, *span);
        let text = self.text(loc);
        let source = &self.sources.get(file).text;
        let bracketed = span.start > 0 && source.as_bytes()[span.start as usize - 1] == b'[';
        let Some((head, last)) = text.rsplit_once(':') else { return };
        let looks_like_port = !last.is_empty()
            && last.len() <= 5
            && last.bytes().all(|c| c.is_ascii_digit())
            && last.parse::<u32>().is_ok_and(|p| p <= 65535);
        if bracketed || !looks_like_port || head.parse::<std::net::Ipv6Addr>().is_err() {
            return;
        }
        self.error(
            Diagnostic::new(
                codes::AMBIGUOUS_IPV6_PORT,
                format!("`{text}` is read as an IPv6 address without a port"),
                loc,
                format!("all of this is the address; `{last}` is not a port"),
            )
            .with_help(format!(
                "to translate to port {last}, write `[{head}]:{last}`; to mean this address, write `[{text}]`"
            )),
        );
    }
}
