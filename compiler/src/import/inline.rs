//! Regular chains that translate addresses, written into their callers.
//!
//! iptables and nft let a `jump` reach a chain of DNAT rules (Docker's
//! `DOCKER` chain, `shriekc`'s own dispatch maps); the language keeps
//! address translation in `type nat` base chains. A regular chain can be
//! written in place of each `jump` to it when the `jump` rule has only
//! matches and the chain has no `return` or `goto`: then its rules, each
//! with the caller's matches added, do exactly what the jump did (a packet
//! the caller's matches refuse meets none of them; one they admit meets the
//! chain's rules in order, then the rules after the jump). Where that does
//! not hold, the translating rules are left out.

use super::model::{Body, Chain, Item, LeftOut, Rule, Stmt, Table, Verdict};

const LEFT_OUT: &str = "address translation in a regular chain is not in the language yet";

/// Writes every regular chain that translates addresses into its callers,
/// or leaves its translating rules out.
pub fn inline_nat_chains(table: &mut Table) {
    // Each pass removes one chain; a chain that cannot be written in place
    // stops translating, so the loop ends.
    while let Some(x) = table.chains.iter().position(|c| c.base.is_none() && translates(c)) {
        let name = table.chains[x].name.clone();
        if !inlinable(table, x) {
            leave_out(&mut table.chains[x]);
            continue;
        }
        let chain = table.chains.remove(x);
        for c in &mut table.chains {
            let mut items = Vec::with_capacity(c.items.len());
            for item in std::mem::take(&mut c.items) {
                match item {
                    Item::Rule(r) if jumps_to(&r, &name) => items.extend(written_in(&r, &chain)),
                    other => items.push(other),
                }
            }
            c.items = items;
        }
    }
}

fn translates(c: &Chain) -> bool {
    c.items.iter().any(|i| matches!(i, Item::Rule(r) if r.body.translates()))
}

fn jumps_to(r: &Rule, name: &str) -> bool {
    matches!(r.body.verdict(), Some(Verdict::Jump(t) | Verdict::Goto(t)) if t == name)
}

/// Whether chain `x` can be written in place of every rule that reaches it.
fn inlinable(table: &Table, x: usize) -> bool {
    let chain = &table.chains[x];
    let own_exit = chain.items.iter().any(|i| {
        matches!(i, Item::Rule(r) if matches!(r.body.verdict(), Some(Verdict::Return | Verdict::Goto(_)) )
            || (matches!(r.body.verdict(), Some(Verdict::Jump(t)) if *t == chain.name)))
    });
    let callers: Vec<&Rule> = table
        .chains
        .iter()
        .flat_map(|c| c.items.iter())
        .filter_map(|i| match i {
            Item::Rule(r) if jumps_to(r, &chain.name) => Some(r),
            _ => None,
        })
        .collect();
    !own_exit
        && !callers.is_empty()
        && callers
            .iter()
            .all(|r| matches!(r.body.stmts.as_slice(), [Stmt::Verdict(Verdict::Jump(_))]))
}

/// The chain's items for one caller: its rules with the caller's matches.
fn written_in(caller: &Rule, chain: &Chain) -> Vec<Item> {
    let mut out = Vec::new();
    for (i, item) in chain.items.iter().enumerate() {
        match item {
            Item::Rule(r) => {
                let mut matches = caller.body.matches.clone();
                matches.extend(r.body.matches.iter().cloned());
                let mut rule = r.clone();
                rule.body = Body { matches, stmts: r.body.stmts.clone() };
                if i == 0 {
                    rule.notes.insert(
                        0,
                        format!(
                            "chain {} written in place of its `jump` (NAT stays in base chains)",
                            chain.name
                        ),
                    );
                }
                out.push(Item::Rule(rule));
            }
            other => out.push(other.clone()),
        }
    }
    out
}

fn leave_out(chain: &mut Chain) {
    for item in &mut chain.items {
        if let Item::Rule(r) = item {
            if r.body.translates() {
                let reasons = vec![LEFT_OUT.to_string()];
                let origins = std::mem::take(&mut r.origins);
                *item = match origins.into_iter().next() {
                    Some(origin) => Item::LeftOut(LeftOut { reasons, origin }),
                    None => continue,
                };
            }
        }
    }
}
