//! Tables and chains: unique names, chain headers (hook, type, priority,
//! policy) and the combinations the kernel refuses, then each chain's rules.
//!
//! A chain whose header has a mistake still has its rules checked, with
//! whatever of the header could be read, so one run reports everything.

use std::collections::HashMap;

use shriek_grammar::ast;
use shriek_grammar::{Diagnostic, FileId, Loc};

use super::limits::MAX_RULES;
use super::rule::Counters;
use super::{codes, Ctx, HOOKS, KINDS, POLICIES};
use crate::ir;
use crate::nft::vocab::NAME_MAX;

/// What the rules of one table need to know about it.
struct TableCx<'t> {
    name: &'t str,
    file: FileId,
    index: u32,
    /// Chains by name: id and whether it is a base chain.
    chains: HashMap<&'t str, (ir::ChainId, bool)>,
}

/// What a chain's rules need to know about their chain.
pub(super) struct ChainCx<'c> {
    pub table: &'c str,
    pub chain: &'c str,
    pub file: FileId,
    /// For a base chain, its hook and type, as far as they could be read.
    pub base: Option<(Option<ir::Hook>, Option<ir::ChainKind>)>,
    /// Chains of the table by name: id and whether it is a base chain.
    pub chains: &'c HashMap<&'c str, (ir::ChainId, bool)>,
}

/// A chain header, as far as it could be read.
struct Header {
    hook: Option<ir::Hook>,
    kind: Option<ir::ChainKind>,
    policy: Option<ir::ChainPolicy>,
    priority: Option<i32>,
}

impl Header {
    /// The base chain a header with a hook makes, with the kernel's defaults
    /// for what it leaves out.
    fn base(&self) -> Option<ir::BaseChain> {
        let hook = self.hook?;
        let kind = self.kind.unwrap_or(ir::ChainKind::Filter);
        let default_priority = match (kind, hook) {
            (ir::ChainKind::Nat, ir::Hook::Prerouting | ir::Hook::Output) => -100,
            (ir::ChainKind::Nat, _) => 100,
            _ => 0,
        };
        Some(ir::BaseChain {
            hook,
            kind,
            priority: self.priority.unwrap_or(default_priority),
            policy: self.policy.unwrap_or(ir::ChainPolicy::Accept),
        })
    }
}

impl<'a> Ctx<'a> {
    pub(super) fn table(
        &mut self,
        file: FileId,
        t: &'a ast::Table,
        index: u32,
    ) -> Option<ir::Table> {
        let loc = Loc::new(file, t.name.span);
        let mut ok = self.table_name(loc, t) & self.name_fits(loc, "table", &t.name.text);
        for c in &t.chains {
            ok &= self.name_fits(Loc::new(file, c.name.span), "chain", &c.name.text);
        }
        let (chains, unique) = self.chain_names(file, t);
        ok &= unique.iter().all(|u| *u);
        let cx = TableCx { name: &t.name.text, file, index, chains };
        let mut out = ir::Table {
            name: t.name.text.clone(),
            loc,
            chains: Vec::new(),
            counters: Vec::new(),
            rule_counters: true,
        };
        let mut counters = Counters::default();
        for (c, is_unique) in t.chains.iter().zip(unique) {
            let id = ir::ChainId(out.chains.len() as u32);
            match self.chain(&cx, c, id, &mut counters) {
                Some(chain) if is_unique => out.chains.push(chain),
                _ => ok = false,
            }
        }
        out.counters = counters.decls;
        ok.then_some(out)
    }

    /// Whether a table or chain name fits the kernel's; reported when not.
    fn name_fits(&mut self, loc: Loc, what: &str, name: &str) -> bool {
        if name.len() <= NAME_MAX {
            return true;
        }
        self.error(
            Diagnostic::new(
                codes::NAME_TOO_LONG,
                format!("{what} name of {} bytes is too long", name.len()),
                loc,
                "the kernel would refuse this name",
            )
            .with_help(format!("a {what} name has at most {NAME_MAX} bytes")),
        );
        false
    }

    /// Records the table's name; false when another table has it.
    fn table_name(&mut self, loc: Loc, t: &'a ast::Table) -> bool {
        let Some(&first) = self.table_names.get(t.name.text.as_str()) else {
            self.table_names.insert(&t.name.text, loc);
            return true;
        };
        self.error(
            Diagnostic::new(
                codes::DUPLICATE_TABLE,
                format!("table `{}` is defined twice", t.name.text),
                loc,
                "defined again here",
            )
            .with_related(first, "first defined here")
            .with_help("merge the two tables or rename one"),
        );
        false
    }

    /// The table's chains by name, and for each chain whether it is the first
    /// with its name (a later one is reported).
    fn chain_names(
        &mut self,
        file: FileId,
        t: &'a ast::Table,
    ) -> (HashMap<&'a str, (ir::ChainId, bool)>, Vec<bool>) {
        let mut chains: HashMap<&str, (ir::ChainId, bool)> = HashMap::new();
        let mut locs: HashMap<&str, Loc> = HashMap::new();
        let mut unique = Vec::new();
        for c in &t.chains {
            let cloc = Loc::new(file, c.name.span);
            if let Some(&first) = locs.get(c.name.text.as_str()) {
                self.error(
                    Diagnostic::new(
                        codes::DUPLICATE_CHAIN,
                        format!(
                            "chain `{}` is defined twice in table `{}`",
                            c.name.text, t.name.text
                        ),
                        cloc,
                        "defined again here",
                    )
                    .with_related(first, "first defined here")
                    .with_help("merge the two chains or rename one"),
                );
                unique.push(false);
                continue;
            }
            locs.insert(&c.name.text, cloc);
            chains.insert(&c.name.text, (ir::ChainId(chains.len() as u32), c.hook.is_some()));
            unique.push(true);
        }
        (chains, unique)
    }

    fn chain(
        &mut self,
        table: &TableCx,
        c: &'a ast::Chain,
        id: ir::ChainId,
        counters: &mut Counters,
    ) -> Option<ir::Chain> {
        let file = table.file;
        let (header, mut ok) = self.chain_header(file, c);
        let cx = ChainCx {
            table: table.name,
            chain: &c.name.text,
            file,
            base: c
                .hook
                .as_ref()
                .map(|_| (header.hook, header.kind.or(Some(ir::ChainKind::Filter)))),
            chains: &table.chains,
        };
        let mut rules = Vec::with_capacity(c.rules.len());
        for (i, r) in c.rules.iter().enumerate() {
            if !self.count_rule(file, r) {
                ok = false;
                break;
            }
            let rid = ir::RuleId { table: table.index, chain: id, index: i as u32 };
            match self.rule(&cx, r, rid, counters) {
                Some(rule) => rules.push(rule),
                None => ok = false,
            }
        }
        ok.then(|| ir::Chain {
            name: c.name.text.clone(),
            loc: Loc::new(file, c.header_span),
            base: header.base(),
            rules,
        })
    }

    /// Counts a rule against [`MAX_RULES`]; false past it (reported once).
    fn count_rule(&mut self, file: FileId, r: &ast::Rule) -> bool {
        self.rules += 1;
        if self.rules == MAX_RULES + 1 {
            self.error(
                Diagnostic::new(
                    codes::TOO_MANY_RULES,
                    format!("a policy may hold at most {MAX_RULES} rules"),
                    Loc::new(file, r.span),
                    "this rule is one too many",
                )
                .with_help("merge rules that differ in one value into one rule with a set"),
            );
        }
        self.rules <= MAX_RULES
    }

    /// Reads a chain header; the flag is false when any part was reported.
    fn chain_header(&mut self, file: FileId, c: &'a ast::Chain) -> (Header, bool) {
        let hook = c.hook.as_ref().map(|h| self.keyword(file, h, &HOOKS));
        let kind = c.kind.as_ref().map(|k| self.keyword(file, k, &KINDS));
        let policy = c.policy.as_ref().map(|p| self.keyword(file, p, &POLICIES));
        let mut ok =
            [hook.map(|h| h.is_some()), kind.map(|k| k.is_some()), policy.map(|p| p.is_some())]
                .into_iter()
                .all(|part| part != Some(false));
        let priority = self.priority(file, c.priority);
        ok &= priority.is_ok();
        if hook.is_none() {
            ok &= self.hookless(file, c);
        }
        let header = Header {
            hook: hook.flatten(),
            kind: kind.flatten(),
            policy: policy.flatten(),
            priority: priority.unwrap_or(None),
        };
        ok &= self.chain_type_fits(file, c, &header);
        (header, ok)
    }

    fn priority(&mut self, file: FileId, p: Option<ast::Spanned<i64>>) -> Result<Option<i32>, ()> {
        let Some(p) = p else { return Ok(None) };
        i32::try_from(p.node).map(Some).map_err(|_| {
            self.error(
                Diagnostic::new(
                    codes::VALUE_OUT_OF_RANGE,
                    format!("priority {} is out of range", p.node),
                    Loc::new(file, p.span),
                    "too large for a chain priority",
                )
                .with_help(
                    "priorities are 32-bit signed numbers; the usual ones lie between -400 and 400",
                ),
            );
        })
    }

    /// A chain without a hook may not take base-chain options; false when it does.
    fn hookless(&mut self, file: FileId, c: &'a ast::Chain) -> bool {
        let clause = [
            c.kind.as_ref().map(|k| (k.span, format!("type {}", k.text))),
            c.policy.as_ref().map(|p| (p.span, format!("policy {}", p.text))),
            c.priority.map(|p| (p.span, format!("priority {}", p.node))),
        ]
        .into_iter()
        .flatten()
        .min_by_key(|(s, _)| *s);
        let Some((span, text)) = clause else { return true };
        self.error(
            Diagnostic::new(
                codes::MISSING_HOOK,
                format!("chain `{}` has `{text}` but no hook", c.name.text),
                Loc::new(file, span),
                "only base chains take this",
            )
            .with_help(format!(
                "add `hook input` (or another hook) to make `{}` a base chain, or remove `{text}`",
                c.name.text
            )),
        );
        false
    }

    /// Whether the chain type works on the hook; false when it was reported.
    fn chain_type_fits(&mut self, file: FileId, c: &'a ast::Chain, header: &Header) -> bool {
        let (Some(h), Some(k), Some(kident)) = (header.hook, header.kind, c.kind.as_ref()) else {
            return true;
        };
        let (msg, help) = match k {
            ir::ChainKind::Nat if h == ir::Hook::Forward => (
                "`type nat` cannot be used on the forward hook",
                "translate destinations in prerouting (dnat) and sources in postrouting (snat)",
            ),
            ir::ChainKind::Route if h != ir::Hook::Output => (
                "`type route` only works on the output hook",
                "use `type filter` here, or `hook output`",
            ),
            _ => return true,
        };
        self.error(
            Diagnostic::new(
                codes::INVALID_CHAIN_TYPE,
                msg,
                Loc::new(file, kident.span),
                format!("on hook `{}`", h.keyword()),
            )
            .with_help(help),
        );
        false
    }
}
