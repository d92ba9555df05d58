//! The reference evaluator: what a policy does to one packet, by the
//! language's own rules, straight from the IR.
//!
//! `trace` prints its path; the property tests hold the analysis and every
//! lowering to its verdicts. `limit` is taken as "under the rate" unless the
//! caller says otherwise, since the rate state is not part of a packet.

use crate::ir::{Action, ChainId, ChainPolicy, Hook, Outcome, Policy, RuleId, Verdict};
use crate::nft::vocab::JUMP_STACK_DEPTH;
use crate::space::Packet;

/// How evaluation should treat `limit` statements.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum LimitMode {
    /// Every `limit` holds (the packet is under the rate).
    #[default]
    UnderRate,
    /// Every `limit` fails (the packet is over the rate).
    OverRate,
}

/// One step of a packet's path through the chains.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Evaluation entered a chain (base chain, jump or goto).
    Enter { table: u32, chain: ChainId },
    /// A rule's matches held; its statements ran.
    Matched { rule: RuleId },
    /// The end of a chain was reached without a decision.
    FellThrough { table: u32, chain: ChainId },
    /// A base chain's policy decided.
    Policy { table: u32, chain: ChainId, policy: ChainPolicy },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Trace {
    pub steps: Vec<Step>,
    pub outcome: Outcome,
    /// The rule that decided, or `None` when a chain policy (or no table) did.
    pub decided_by: Option<RuleId>,
}

/// Run a packet through every base chain on `hook`, in priority order across
/// tables, as the kernel does: a drop or reject anywhere is final, an accept
/// passes the packet on to the next base chain.
pub fn evaluate(policy: &Policy, hook: Hook, packet: &Packet, limits: LimitMode) -> Trace {
    let mut bases: Vec<(i32, u32, ChainId)> = Vec::new();
    for (t, table) in policy.tables.iter().enumerate() {
        for (c, chain) in table.chains.iter().enumerate() {
            if let Some(base) = chain.base.filter(|b| b.hook == hook) {
                bases.push((base.priority, t as u32, ChainId(c as u32)));
            }
        }
    }
    bases.sort_by_key(|&(prio, t, c)| (prio, t, c));

    let mut steps = Vec::new();
    let mut decided_by = None;
    for (_, table, chain) in bases {
        let (outcome, rule) = run_base(policy, table, chain, packet, limits, &mut steps);
        decided_by = rule;
        if outcome != Outcome::Accept {
            return Trace { steps, outcome, decided_by };
        }
    }
    Trace { steps, outcome: Outcome::Accept, decided_by }
}

/// Run one base chain to its decision.
pub fn run_base(
    policy: &Policy,
    table: u32,
    chain: ChainId,
    packet: &Packet,
    limits: LimitMode,
    steps: &mut Vec<Step>,
) -> (Outcome, Option<RuleId>) {
    // Each frame is a chain and the index of the next rule to run in it.
    let mut stack: Vec<(ChainId, usize)> = vec![(chain, 0)];
    steps.push(Step::Enter { table, chain });
    while let Some((current, start)) = stack.pop() {
        let rules = &policy.chain(table, current).rules;
        let mut next = None;
        for (i, rule) in rules.iter().enumerate().skip(start) {
            if !crate::ir::matches(rule, packet) {
                continue;
            }
            let held = rule.actions.iter().all(|a| match a {
                Action::Limit(_) => limits == LimitMode::UnderRate,
                _ => true,
            });
            if !held {
                continue;
            }
            steps.push(Step::Matched { rule: rule.id });
            if rule.actions.iter().any(|a| matches!(a, Action::Nat(_))) {
                return (Outcome::Accept, Some(rule.id));
            }
            match rule.verdict {
                None => continue,
                Some(Verdict::Accept) => return (Outcome::Accept, Some(rule.id)),
                Some(Verdict::Drop) => return (Outcome::Drop, Some(rule.id)),
                Some(Verdict::Reject) => return (Outcome::Reject, Some(rule.id)),
                Some(Verdict::Return) => {
                    next = Some(None);
                    break;
                }
                Some(Verdict::Jump(target)) => {
                    // The kernel's jump stack: deeper paths count as drops.
                    if stack.len() + 1 >= JUMP_STACK_DEPTH {
                        return (Outcome::Drop, Some(rule.id));
                    }
                    stack.push((current, i + 1));
                    next = Some(Some(target));
                    break;
                }
                Some(Verdict::Goto(target)) => {
                    next = Some(Some(target));
                    break;
                }
            }
        }
        match next {
            Some(Some(target)) => {
                steps.push(Step::Enter { table, chain: target });
                stack.push((target, 0));
            }
            // `return`: resume the caller, which is already on the stack.
            Some(None) => {}
            None => steps.push(Step::FellThrough { table, chain: current }),
        }
    }
    let base = policy.chain(table, chain).base.expect("evaluation starts at a base chain");
    steps.push(Step::Policy { table, chain, policy: base.policy });
    let outcome = match base.policy {
        ChainPolicy::Accept => Outcome::Accept,
        ChainPolicy::Drop => Outcome::Drop,
    };
    (outcome, None)
}
