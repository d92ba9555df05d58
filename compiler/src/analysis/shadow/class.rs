//! How a rule ends its chain for the packets it takes ([`Class`]), and when
//! two rules end a packet the same way: what tells a shadowed rule from a
//! redundant one.

use crate::ir::{self, Action, ChainId, Verdict};

/// How a blocker ends the chain for the packets it takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Class {
    Accept,
    Drop,
    /// Rejects, with this answer ([`ir::RejectWith::canonical`]): two
    /// rejects differ when their answers do.
    Reject(ir::RejectWith),
    /// Accepts with the address translation of this rule. Two of these are
    /// the same end when their translations are ([`same_translation`]).
    Translate(ir::RuleId),
    /// Ends this chain without a final verdict: `return`.
    Return,
    /// Ends this chain in another one that may fall through: `goto C`.
    Goto(ChainId),
    /// Only for the rule being checked: `jump C`.
    Jump(ChainId),
}

/// Whether a class is a final verdict, rather than leaving the chain for
/// its caller to go on.
pub fn is_final(class: Class) -> bool {
    !matches!(class, Class::Return | Class::Goto(_) | Class::Jump(_))
}

/// The class the rule being checked would give its packets, when it decides.
pub fn own_class(rule: &ir::Rule) -> Option<Class> {
    if rule.actions.iter().any(|a| matches!(a, Action::Nat(_))) {
        return Some(Class::Translate(rule.id));
    }
    Some(match rule.verdict? {
        Verdict::Accept => Class::Accept,
        Verdict::Drop => Class::Drop,
        Verdict::Reject(w) => Class::Reject(w.canonical()),
        Verdict::Return => Class::Return,
        Verdict::Jump(c) => Class::Jump(c),
        Verdict::Goto(c) => Class::Goto(c),
    })
}

/// Whether a blocker's piece does to a packet what `rule` would have done:
/// the same verdict statement and translation, or the same end.
pub fn same(table: &ir::Table, blocker: &ir::Rule, class: Class, rule: &ir::Rule) -> bool {
    let statement = blocker.verdict == rule.verdict
        && match (translation(blocker), translation(rule)) {
            (None, None) => true,
            (Some(a), Some(b)) => same_translation(a, b),
            _ => false,
        };
    statement || own_class(rule).is_some_and(|own| same_class(table, own, class))
}

/// Whether two classes end a packet the same way.
fn same_class(table: &ir::Table, a: Class, b: Class) -> bool {
    let nat = |r: ir::RuleId| {
        let rule = table.chains.get(r.chain.0 as usize)?.rules.get(r.index as usize)?;
        translation(rule)
    };
    match (a, b) {
        (Class::Translate(x), Class::Translate(y)) => match (nat(x), nat(y)) {
            (Some(x), Some(y)) => same_translation(x, y),
            _ => x == y,
        },
        _ => a == b,
    }
}

pub fn translation(rule: &ir::Rule) -> Option<&ir::Nat> {
    crate::eval::translation(rule)
}

/// Whether two translations send packets to the same place, wherever each
/// is written.
pub fn same_translation(a: &ir::Nat, b: &ir::Nat) -> bool {
    use ir::Nat::Dnat;
    match (a, b) {
        (Dnat { backends: x, balance: bx }, Dnat { backends: y, balance: by }) => {
            let target = |b: &ir::NatBackend| (b.addr, b.port, b.weight);
            bx == by && x.len() == y.len() && x.iter().map(target).eq(y.iter().map(target))
        }
        _ => a == b,
    }
}
