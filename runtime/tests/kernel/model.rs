//! Hand-built pieces of the nft model: rules, matches, chains, tables, and
//! the small rulesets several tests apply.

use shriek_compiler::ir::{BaseChain, ChainId, ChainKind, ChainPolicy, Hook, RuleId};
use shriek_compiler::nft::{
    Chain, Expr, Origin, Part, Rhs, Rule, Ruleset, Selector, Table, Verdict,
};
use shriek_grammar::{FileId, Loc, Span};
pub use shriek_testkit::model::{addr, int, is, not, val};

pub fn origin(index: u32, start: usize) -> Origin {
    Origin {
        rule: RuleId { table: 0, chain: ChainId(0), index },
        loc: Loc::new(FileId(0), Span::new(start, start + 10)),
    }
}

pub fn rule(index: u32, exprs: Vec<Expr>) -> Rule {
    Rule { exprs, origin: vec![origin(index, index as usize * 100)] }
}

/// An address prefix as a range part.
pub fn net(s: &str, len: u32) -> Part {
    let a = addr(s);
    let width = if s.contains(':') { 128 } else { 32 };
    let host = if len == 0 { (u128::MAX) >> (128 - width) } else { (1u128 << (width - len)) - 1 };
    Part::Int(a & !host, a | host)
}

pub fn input(policy: ChainPolicy, rules: Vec<Rule>) -> Chain {
    Chain {
        name: "input".into(),
        base: Some(BaseChain { hook: Hook::Input, kind: ChainKind::Filter, priority: 0, policy }),
        rules,
        comment: None,
    }
}

pub fn table(name: &str, chains: Vec<Chain>) -> Table {
    Table { name: name.into(), sets: vec![], counters: vec![], chains }
}

pub const TCP: u128 = 6;
pub const UDP: u128 = 17;
pub const ESTABLISHED: u32 = 2;
pub const RELATED: u32 = 4;

/// `ct state established,related accept`
pub fn established(index: u32) -> Rule {
    rule(
        index,
        vec![
            is(&[Selector::CtState], Rhs::Flags(ESTABLISHED | RELATED)),
            Expr::Verdict(Verdict::Accept),
        ],
    )
}

/// `meta l4proto P th dport N VERDICT`
pub fn port_rule(index: u32, proto: u128, port: u128, v: Verdict) -> Rule {
    rule(
        index,
        vec![
            is(&[Selector::L4proto], val(proto)),
            is(&[Selector::ThDport], val(port)),
            Expr::Verdict(v),
        ],
    )
}

/// input: jump c0; c0: jump c1; ... c{n-1}: accept.
pub fn deep_jumps(n: usize) -> Ruleset {
    let mut chains = vec![input(
        ChainPolicy::Accept,
        vec![rule(0, vec![Expr::Verdict(Verdict::Jump("c0".into()))])],
    )];
    for i in 0..n {
        let v = if i + 1 < n { Verdict::Jump(format!("c{}", i + 1)) } else { Verdict::Accept };
        chains.push(Chain {
            name: format!("c{i}"),
            base: None,
            rules: vec![rule(100 + i as u32, vec![Expr::Verdict(v)])],
            comment: None,
        });
    }
    Ruleset { tables: vec![table("shriek_deep", chains)] }
}

pub fn small(name: &str, port: u128) -> Ruleset {
    Ruleset {
        tables: vec![table(
            name,
            vec![input(ChainPolicy::Accept, vec![port_rule(0, TCP, port, Verdict::Accept)])],
        )],
    }
}
