//! The model evaluator: what the kernel does to one packet with an
//! [`nft::Ruleset`], read straight from the model.
//!
//! It follows nf_tables' own rules: base chains on a hook run in priority
//! order, a rule's expressions run left to right and the first that fails
//! ends the rule, a selector that the packet lacks (`ip saddr` of an IPv6
//! packet, `th dport` of ICMP) fails the rule whatever the operator, a map
//! lookup that misses goes on with the next rule, `jump` pushes a return
//! point and `goto` does not, and address translation accepts.
//!
//! The property tests hold every lowering to [`crate::eval::evaluate`]
//! through this function: it must stay an honest model of the kernel, not
//! of the lowering.

use crate::eval::LimitMode;
use crate::ir::{ChainPolicy, Hook, Outcome};
use crate::nft::vocab::{ct_bit, nfproto, JUMP_STACK_DEPTH, PROTO_ICMP, PROTO_ICMPV6, PROTO_TCP};
use crate::nft::{self, CmpOp, Data, Elem, Expr, Origin, Part, Rhs, Selector, Verdict};
use crate::space::{Family, Packet};

/// One step of a packet's path through the model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelStep {
    /// What happened, in words: `filter/input rule 2: accept`.
    pub text: String,
    /// The policy rules behind the nft rule (or map element) involved.
    pub origin: Vec<Origin>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelTrace {
    pub steps: Vec<ModelStep>,
    pub outcome: Outcome,
}

/// The verdict and path of `packet` through every base chain on `hook`,
/// with every `limit` under its rate.
pub fn evaluate_model(rs: &nft::Ruleset, hook: Hook, packet: &Packet) -> (Outcome, Vec<String>) {
    let t = trace_model(rs, hook, packet, LimitMode::UnderRate);
    (t.outcome, t.steps.into_iter().map(|s| s.text).collect())
}

/// [`evaluate_model`] with a choice of how `limit` behaves and the origins
/// of each step.
pub fn trace_model(
    rs: &nft::Ruleset,
    hook: Hook,
    packet: &Packet,
    limits: LimitMode,
) -> ModelTrace {
    let mut bases: Vec<(i32, usize, usize)> = Vec::new();
    for (t, table) in rs.tables.iter().enumerate() {
        for (c, chain) in table.chains.iter().enumerate() {
            if let Some(base) = chain.base.filter(|b| b.hook == hook) {
                bases.push((base.priority, t, c));
            }
        }
    }
    bases.sort_unstable();
    let mut cx = Cx { packet, mark: packet.mark, limits, steps: Vec::new() };
    for (_, t, c) in bases {
        let outcome = cx.run_base(&rs.tables[t], c);
        if outcome != Outcome::Accept {
            return ModelTrace { steps: cx.steps, outcome };
        }
    }
    ModelTrace { steps: cx.steps, outcome: Outcome::Accept }
}

struct Cx<'a> {
    packet: &'a Packet,
    /// The packet's mark as it is now: `meta mark set` changes it for every
    /// rule after, in this chain, its callers and later base chains.
    mark: u32,
    limits: LimitMode,
    steps: Vec<ModelStep>,
}

/// What one rule did.
enum Flow {
    /// The rule ended (a match failed, a limit was over, or it ran to its
    /// end): go on with the next rule.
    Next,
    Decide(Outcome),
    Jump(String),
    Goto(String),
    Return,
}

/// A value read from the packet.
#[derive(Clone, Copy, Debug)]
enum Val<'a> {
    Int(u128),
    Str(&'a str),
}

impl Cx<'_> {
    fn step(&mut self, text: String, origin: &[Origin]) {
        self.steps.push(ModelStep { text, origin: origin.to_vec() });
    }

    fn run_base(&mut self, table: &nft::Table, chain: usize) -> Outcome {
        let base_name = &table.chains[chain].name;
        self.step(format!("enter {}/{base_name}", table.name), &[]);
        // Frames of (chain index, next rule).
        let mut stack: Vec<(usize, usize)> = vec![(chain, 0)];
        'frames: while let Some((current, start)) = stack.pop() {
            let ch = &table.chains[current];
            for (i, rule) in ch.rules.iter().enumerate().skip(start) {
                let flow = self.run_rule(table, &ch.name, i, rule);
                let target = match flow {
                    Flow::Next => continue,
                    Flow::Decide(o) => return o,
                    Flow::Return => continue 'frames,
                    Flow::Jump(name) => {
                        if stack.len() + 1 >= JUMP_STACK_DEPTH {
                            self.step("jump stack too deep: drop".into(), &rule.origin);
                            return Outcome::Drop;
                        }
                        stack.push((current, i + 1));
                        name
                    }
                    Flow::Goto(name) => name,
                };
                let Some(t) = table.chains.iter().position(|c| c.name == target) else {
                    self.step(
                        format!("no chain `{target}` in table {}: drop", table.name),
                        &rule.origin,
                    );
                    return Outcome::Drop;
                };
                self.step(format!("enter {}/{target}", table.name), &[]);
                stack.push((t, 0));
                continue 'frames;
            }
            self.step(format!("{}/{}: end of chain", table.name, ch.name), &[]);
        }
        let policy = table.chains[chain].base.map_or(ChainPolicy::Accept, |b| b.policy);
        let (word, outcome) = match policy {
            ChainPolicy::Accept => ("accept", Outcome::Accept),
            ChainPolicy::Drop => ("drop", Outcome::Drop),
        };
        self.step(format!("{}/{base_name}: policy {word}", table.name), &[]);
        outcome
    }

    fn run_rule(
        &mut self,
        table: &nft::Table,
        chain: &str,
        index: usize,
        rule: &nft::Rule,
    ) -> Flow {
        let here = format!("{}/{chain} rule {}", table.name, index + 1);
        for expr in &rule.exprs {
            match expr {
                Expr::Match { key, op, rhs } => {
                    if !self.holds(table, key, *op, rhs) {
                        return Flow::Next;
                    }
                }
                Expr::Counter(name) => {
                    let what =
                        name.as_ref().map_or("counter".to_string(), |n| format!("counter {n}"));
                    self.step(format!("{here}: {what}"), &rule.origin);
                }
                Expr::Log { .. } => {}
                Expr::MarkSet(v) => {
                    self.step(format!("{here}: mark set {v:#x}"), &rule.origin);
                    self.mark = *v;
                }
                Expr::Limit(_) | Expr::Meter(_) => {
                    if self.limits == LimitMode::OverRate {
                        self.step(format!("{here}: over its limit"), &rule.origin);
                        return Flow::Next;
                    }
                }
                Expr::Verdict(v) => {
                    self.step(format!("{here}: {v}"), &rule.origin);
                    return flow(v);
                }
                Expr::Vmap { key, map } => {
                    let Some(vals) = self.read_all(key) else { return Flow::Next };
                    let Some(set) = table.sets.iter().find(|s| s.name == *map) else {
                        self.step(format!("{here}: no map `{map}`"), &rule.origin);
                        return Flow::Next;
                    };
                    let Some(el) = set.elements.iter().find(|e| elem_holds(&e.key, &vals)) else {
                        return Flow::Next;
                    };
                    if set.counters {
                        self.step(format!("{here}: counter of @{map}'s element"), &el.origin);
                    }
                    let Some(Data::Verdict(v)) = &el.data else { return Flow::Next };
                    self.step(format!("{here}: @{map} -> {v}"), &el.origin);
                    return flow(v);
                }
                // Read back from the kernel only; the model cannot say
                // which packets it matches, so the rule is taken as not
                // matching.
                Expr::Raw(text) => {
                    self.step(format!("{here}: cannot evaluate `{text}`"), &rule.origin);
                    return Flow::Next;
                }
                Expr::Nat(nat) => {
                    let fam = match nat.family {
                        None => None,
                        Some(nft::NatFamily::Ip) => Some(Family::V4),
                        Some(nft::NatFamily::Ip6) => Some(Family::V6),
                    };
                    // Translation for the other family does nothing in an
                    // inet table; the rule goes on.
                    if fam.is_none_or(|f| f == self.packet.family) {
                        self.step(
                            format!("{here}: {} (accepts)", nat.kind.keyword()),
                            &rule.origin,
                        );
                        return Flow::Decide(Outcome::Accept);
                    }
                }
            }
        }
        self.step(format!("{here}: matched, no verdict"), &rule.origin);
        Flow::Next
    }

    fn read(&self, sel: Selector) -> Option<Val<'_>> {
        let p = self.packet;
        let v4 = p.family == Family::V4;
        Some(match sel {
            Selector::Nfproto => Val::Int(nfproto(p.family) as u128),
            Selector::L4proto => Val::Int(p.proto as u128),
            Selector::Ip4Saddr if v4 => Val::Int(p.saddr),
            Selector::Ip4Daddr if v4 => Val::Int(p.daddr),
            Selector::Ip6Saddr if !v4 => Val::Int(p.saddr),
            Selector::Ip6Daddr if !v4 => Val::Int(p.daddr),
            Selector::Ip4Saddr | Selector::Ip4Daddr | Selector::Ip6Saddr | Selector::Ip6Daddr => {
                return None
            }
            Selector::ThSport => Val::Int(p.sport? as u128),
            Selector::ThDport => Val::Int(p.dport? as u128),
            Selector::Iifname => Val::Str(&p.iif),
            Selector::Oifname => Val::Str(&p.oif),
            Selector::CtState => Val::Int(ct_bit(p.ct) as u128),
            // nft loads these after its protocol dependency: a packet of
            // another protocol lacks them.
            Selector::IcmpType if p.proto == PROTO_ICMP => Val::Int(p.icmp_type? as u128),
            Selector::IcmpCode if p.proto == PROTO_ICMP => Val::Int(p.icmp_code? as u128),
            Selector::Icmpv6Type if p.proto == PROTO_ICMPV6 => Val::Int(p.icmp_type? as u128),
            Selector::Icmpv6Code if p.proto == PROTO_ICMPV6 => Val::Int(p.icmp_code? as u128),
            Selector::IcmpType
            | Selector::IcmpCode
            | Selector::Icmpv6Type
            | Selector::Icmpv6Code => return None,
            Selector::TcpFlags if p.proto == PROTO_TCP => Val::Int(p.tcp_flags? as u128),
            Selector::TcpFlags => return None,
            // The model's packets are never translated: every one is the
            // first of its connection, going the original way.
            Selector::CtDirection => Val::Int(0),
            Selector::CtStatus => Val::Int(0),
            Selector::CtReplyIp4Saddr | Selector::CtReplyIp6Saddr | Selector::CtReplyProtoSrc => {
                return None
            }
            Selector::Mark => Val::Int(self.mark as u128),
            Selector::Net { field, .. } => match self.read(field.plain())? {
                Val::Int(v) => Val::Int(v & sel.net_mask()?),
                other => other,
            },
        })
    }

    fn read_all(&self, key: &[Selector]) -> Option<Vec<Val<'_>>> {
        key.iter().map(|s| self.read(*s)).collect()
    }

    fn holds(&self, table: &nft::Table, key: &[Selector], op: CmpOp, rhs: &Rhs) -> bool {
        // A selector the packet lacks fails the match, `!=` or not: nft
        // puts a protocol dependency in front of it.
        let Some(vals) = self.read_all(key) else { return false };
        let found = match rhs {
            Rhs::Value(e) => elem_holds(e, &vals),
            Rhs::Set(es) => es.iter().any(|e| elem_holds(e, &vals)),
            Rhs::Named(name) => table
                .sets
                .iter()
                .find(|s| s.name == *name)
                .is_some_and(|s| s.elements.iter().any(|e| elem_holds(&e.key, &vals))),
            Rhs::Flags(mask) => {
                matches!(vals.as_slice(), [Val::Int(v)] if v & (*mask as u128) != 0)
            }
            Rhs::Masked { mask, value } => {
                matches!(vals.as_slice(), [Val::Int(v)] if v & (*mask as u128) == *value as u128)
            }
        };
        match op {
            CmpOp::Eq => found,
            CmpOp::Ne => !found,
        }
    }
}

fn elem_holds(e: &Elem, vals: &[Val]) -> bool {
    e.0.len() == vals.len()
        && e.0.iter().zip(vals).all(|(part, val)| match (part, val) {
            (Part::Int(lo, hi), Val::Int(v)) => lo <= v && v <= hi,
            // `eth*` compares only the prefix, as the kernel does.
            (Part::Str(s), Val::Str(v)) => match s.strip_suffix('*') {
                Some(prefix) => v.starts_with(prefix),
                None => s == v,
            },
            _ => false,
        })
}

fn flow(v: &Verdict) -> Flow {
    match v {
        Verdict::Accept => Flow::Decide(Outcome::Accept),
        Verdict::Drop => Flow::Decide(Outcome::Drop),
        Verdict::Reject(_) => Flow::Decide(Outcome::Reject),
        Verdict::Jump(c) => Flow::Jump(c.clone()),
        Verdict::Goto(c) => Flow::Goto(c.clone()),
        Verdict::Return => Flow::Return,
        Verdict::Continue => Flow::Next,
    }
}
