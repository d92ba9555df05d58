//! The reference evaluator: what a policy does to one packet, by the
//! language's own rules, straight from the IR.
//!
//! `trace` prints its path; the property tests hold the analysis and every
//! lowering to its verdicts. The rate state is not part of a packet, so the
//! caller says how each `limit` comes out ([`Limits`]): `trace` takes every
//! limit as under the rate, and the analysis's property test tries every
//! sequence of outcomes.

use crate::ir::{Action, ChainId, ChainPolicy, Hook, Nat, Outcome, Policy, RuleId, Verdict};
use crate::nft::vocab::JUMP_STACK_DEPTH;
use crate::space::Packet;

/// How evaluation should treat every `limit` statement at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum LimitMode {
    /// Every `limit` holds (the packet is under the rate).
    #[default]
    UnderRate,
    /// Every `limit` fails (the packet is over the rate).
    OverRate,
}

/// Whether a `limit` holds, asked once each time a rule with one is
/// evaluated. Each evaluation may come out differently, as in the kernel:
/// a rate can run out between two evaluations of one rule (a chain jumped
/// to twice). A closure `FnMut(RuleId) -> bool` chooses per evaluation.
pub trait Limits {
    fn under_rate(&mut self, rule: RuleId) -> bool;
}

impl Limits for LimitMode {
    fn under_rate(&mut self, _rule: RuleId) -> bool {
        *self == LimitMode::UnderRate
    }
}

impl<F: FnMut(RuleId) -> bool> Limits for F {
    fn under_rate(&mut self, rule: RuleId) -> bool {
        self(rule)
    }
}

impl Limits for &mut dyn Limits {
    fn under_rate(&mut self, rule: RuleId) -> bool {
        (**self).under_rate(rule)
    }
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

/// How one chain, entered at its top, ends for a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChainEnd {
    /// Rule `by` gave the packet a final verdict. `via` is the rule of the
    /// entered chain that led there: `by` itself, or the `jump` or `goto`
    /// on the way to it.
    Decided { outcome: Outcome, by: RuleId, via: RuleId },
    /// The chain ended without one: at its `return` or `goto` rule `via`
    /// (when the chain gone to ran off its end), or off its own end (`via`
    /// is `None`). Evaluation goes on in the caller.
    Returned { via: Option<RuleId> },
}

/// Run a packet through every base chain on `hook`, in priority order across
/// tables, as the kernel does: a drop or reject anywhere is final, an accept
/// passes the packet on to the next base chain.
pub fn evaluate(policy: &Policy, hook: Hook, packet: &Packet, mut limits: impl Limits) -> Trace {
    let mut steps = Vec::new();
    let mut decided_by = None;
    // A mark set in one base chain is the mark the next one reads.
    let mut packet = packet.clone();
    for (table, chain) in policy.bases(hook) {
        let limits = &mut limits as &mut dyn Limits;
        let (outcome, rule) = run_base_in(policy, table, chain, &mut packet, limits, &mut steps);
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
    limits: impl Limits,
    steps: &mut Vec<Step>,
) -> (Outcome, Option<RuleId>) {
    run_base_in(policy, table, chain, &mut packet.clone(), limits, steps)
}

/// [`run_base`] on a packet whose mark the chain may change.
fn run_base_in(
    policy: &Policy,
    table: u32,
    chain: ChainId,
    packet: &mut Packet,
    mut limits: impl Limits,
    steps: &mut Vec<Step>,
) -> (Outcome, Option<RuleId>) {
    if let ChainEnd::Decided { outcome, by, .. } =
        run_chain_in(policy, table, chain, packet, &mut limits as &mut dyn Limits, steps)
    {
        return (outcome, Some(by));
    }
    let base = policy.chain(table, chain).base.expect("evaluation starts at a base chain");
    steps.push(Step::Policy { table, chain, policy: base.policy });
    let outcome = match base.policy {
        ChainPolicy::Accept => Outcome::Accept,
        ChainPolicy::Drop => Outcome::Drop,
    };
    (outcome, None)
}

/// Run one chain from its top, as a base chain or as the target of a jump,
/// until a rule decides or the chain ends without a decision.
pub fn run_chain(
    policy: &Policy,
    table: u32,
    chain: ChainId,
    packet: &Packet,
    limits: impl Limits,
    steps: &mut Vec<Step>,
) -> ChainEnd {
    run_chain_in(policy, table, chain, &mut packet.clone(), limits, steps)
}

/// [`run_chain`] on a packet whose mark its rules may change (`mark set`):
/// each rule after reads the mark as it is then.
fn run_chain_in(
    policy: &Policy,
    table: u32,
    chain: ChainId,
    packet: &mut Packet,
    mut limits: impl Limits,
    steps: &mut Vec<Step>,
) -> ChainEnd {
    let limits: &mut dyn Limits = &mut limits;
    let chains = policy.tables[table as usize].chains.len();
    // Each frame is a chain, the index of the next rule to run in it, and
    // how many `goto`s led to it since its level was entered: more than
    // there are chains means a loop.
    let mut stack: Vec<(ChainId, usize, usize)> = vec![(chain, 0, 0)];
    steps.push(Step::Enter { table, chain });
    // Whether the entered chain's own frame is still on the stack (a `goto`
    // from it replaces it), and its rule that last passed control on.
    let mut entered_alive = true;
    let mut via: Option<RuleId> = None;
    while let Some((current, start, gotos)) = stack.pop() {
        let own = entered_alive && stack.is_empty();
        let rules = &policy.chain(table, current).rules;
        let mut next = None;
        for (i, rule) in rules.iter().enumerate().skip(start) {
            if !crate::ir::matches(rule, packet) {
                continue;
            }
            if rule.conditional() && !limits.under_rate(rule.id) {
                continue;
            }
            steps.push(Step::Matched { rule: rule.id });
            // Once the rule's limits hold, its statements run; the
            // lowering writes `mark set` after them so nft does the same.
            for action in &rule.actions {
                if let Action::MarkSet(m) = action {
                    packet.mark = *m;
                }
            }
            let outcome = match rule.verdict {
                _ if translation(rule).is_some() => Outcome::Accept,
                None => continue,
                Some(Verdict::Accept) => Outcome::Accept,
                Some(Verdict::Drop) => Outcome::Drop,
                Some(Verdict::Reject(_)) => Outcome::Reject,
                Some(Verdict::Return) => {
                    if own {
                        via = Some(rule.id);
                    }
                    next = Some(None);
                    break;
                }
                Some(Verdict::Jump(target) | Verdict::Goto(target)) => {
                    if own {
                        via = Some(rule.id);
                    }
                    let jump = matches!(rule.verdict, Some(Verdict::Jump(_)));
                    // The kernel refuses jumps nested too deep and loops
                    // when it loads a ruleset; here such a path drops.
                    let too_deep = jump && stack.len() + 1 >= JUMP_STACK_DEPTH;
                    if too_deep || (!jump && gotos >= chains) {
                        Outcome::Drop
                    } else if jump {
                        stack.push((current, i + 1, gotos));
                        next = Some(Some((target, 0)));
                        break;
                    } else {
                        entered_alive &= !own;
                        next = Some(Some((target, gotos + 1)));
                        break;
                    }
                }
            };
            let via = if own { rule.id } else { via.expect("a jump or goto led out of the chain") };
            return ChainEnd::Decided { outcome, by: rule.id, via };
        }
        match next {
            Some(Some((target, gotos))) => {
                steps.push(Step::Enter { table, chain: target });
                stack.push((target, 0, gotos));
            }
            // `return`: resume the caller, which is already on the stack.
            Some(None) => {}
            None => {
                if own {
                    via = None;
                }
                steps.push(Step::FellThrough { table, chain: current });
            }
        }
    }
    ChainEnd::Returned { via }
}

/// The address translation a rule performs when it decides, if any: such a
/// rule accepts the packet, translated.
pub fn translation(rule: &crate::ir::Rule) -> Option<&Nat> {
    rule.actions.iter().find_map(|a| match a {
        Action::Nat(nat) => Some(nat),
        _ => None,
    })
}
