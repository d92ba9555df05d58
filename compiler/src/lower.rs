//! Lowering: IR -> nftables model.
//!
//! Every rule's exact match space ([`crate::space::Space`]) is turned into
//! nft matches, one nft rule per cube ([`sequential`]), or runs of rules
//! that test the same key are folded into one verdict-map lookup
//! ([`dispatch`]). Whatever the [`Strategy`], every packet gets the verdict
//! [`crate::eval::evaluate`] gives it; `nft_eval` and the property tests in
//! `tests/lower_props.rs` hold the lowering to that.
//!
//! Balanced translations also get chains that count each backend's
//! packets ([`backends`]).
//!
//! Rendering the model as text or JSON is `emit`'s job; encoding it as
//! netlink is the runtime's.

use std::collections::{HashMap, HashSet};

use rayon::prelude::*;

use shriek_grammar::Loc;

use crate::ir::{self, RuleId};
use crate::nft;
use crate::space::Family;

pub(crate) mod backends;
mod dispatch;
mod sequential;

pub use sequential::cube_matches;

/// How rules become nft rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Strategy {
    /// One nft rule per policy rule (more when its space has several cubes).
    Sequential,
    /// Every run of at least two rules sharing a key becomes one map lookup.
    Dispatch,
    /// Map lookups where they pay off (runs of [`AUTO_MIN_RUN`] rules or
    /// more), one rule at a time elsewhere.
    Auto,
}

/// The shortest run of rules `auto` folds into a map.
pub const AUTO_MIN_RUN: usize = 4;

impl Strategy {
    pub const ALL: [Strategy; 3] = [Strategy::Sequential, Strategy::Dispatch, Strategy::Auto];

    pub fn keyword(self) -> &'static str {
        match self {
            Strategy::Sequential => "sequential",
            Strategy::Dispatch => "dispatch",
            Strategy::Auto => "auto",
        }
    }

    pub fn from_keyword(s: &str) -> Option<Strategy> {
        Strategy::ALL.into_iter().find(|st| st.keyword() == s)
    }

    /// The shortest run folded into a map, or `None` for no folding.
    fn min_run(self) -> Option<usize> {
        match self {
            Strategy::Sequential => None,
            Strategy::Dispatch => Some(2),
            Strategy::Auto => Some(AUTO_MIN_RUN),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lowered {
    pub ruleset: nft::Ruleset,
    /// What the lowering chose for each run of rules, and why.
    pub explain: Vec<ExplainLine>,
}

/// One decision of the lowering, for `compile --explain`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExplainLine {
    pub table: String,
    pub chain: String,
    /// The policy rules it is about, in policy order.
    pub rules: Vec<RuleId>,
    /// The first of those rules (or the chain, when none).
    pub loc: Loc,
    pub text: String,
}

/// Lower a whole policy. Never fails: every valid IR policy has an nft form.
pub fn lower(policy: &ir::Policy, strategy: Strategy) -> Lowered {
    let mut explain = Vec::new();
    let tables =
        policy.tables.iter().map(|table| lower_table(table, strategy, &mut explain)).collect();
    Lowered { ruleset: nft::Ruleset { tables }, explain }
}

/// What lowering one table needs: the names taken so far and the sets and
/// chains made up along the way.
struct TableCx<'a> {
    table: &'a ir::Table,
    taken: HashSet<String>,
    sets: Vec<nft::Set>,
    extra_chains: Vec<nft::Chain>,
    explain: &'a mut Vec<ExplainLine>,
    /// The dynamic set of each per-address statement (rule, statement
    /// index, family), shared by all of the rule's nft rules of a family.
    meters: HashMap<(RuleId, usize, Family), String>,
}

impl TableCx<'_> {
    /// A chain or set name not used yet in this table, based on `base`.
    fn fresh(&mut self, base: &str) -> String {
        let mut name = base.to_string();
        let mut n = 1;
        while self.taken.contains(&name) {
            name = format!("{base}_{n}");
            n += 1;
        }
        self.taken.insert(name.clone());
        name
    }

    fn chain_name(&self, id: ir::ChainId) -> &str {
        &self.table.chains[id.0 as usize].name
    }

    fn note(&mut self, chain: &ir::Chain, rules: Vec<RuleId>, text: String) {
        let loc = rules.first().map(|id| chain.rules[id.index as usize].loc).unwrap_or(chain.loc);
        self.explain.push(ExplainLine {
            table: self.table.name.clone(),
            chain: chain.name.clone(),
            rules,
            loc,
            text,
        });
    }
}

fn lower_table(
    table: &ir::Table,
    strategy: Strategy,
    explain: &mut Vec<ExplainLine>,
) -> nft::Table {
    let mut cx = TableCx {
        table,
        taken: table.chains.iter().map(|c| c.name.clone()).collect(),
        sets: Vec::new(),
        extra_chains: Vec::new(),
        explain,
        meters: HashMap::new(),
    };
    let mut chains = Vec::new();
    for chain in &table.chains {
        let rules = match strategy.min_run() {
            None => {
                // The pieces and matches of every rule depend on the rule
                // alone, so they are made on every core; naming the chains
                // and sets some rules need goes in order after. A run of
                // rules at a time: the cuts of a whole chain (48 bytes a
                // rule, 4.8 MiB of 100k) were alive beside the finished
                // rules, at the peak of a sequential apply.
                let mut out = Vec::new();
                for run in chain.rules.chunks(CUT_RUN) {
                    let cuts: Vec<sequential::Cut> =
                        run.par_iter().map(sequential::Cut::of).collect();
                    for (rule, cut) in run.iter().zip(cuts) {
                        sequential::lower_rule(&mut cx, chain, rule, cut, &mut out);
                    }
                }
                sequential::by_proto::group(&mut out);
                cx.note(
                    chain,
                    chain.rules.iter().map(|r| r.id).collect(),
                    format!(
                        "{} lowered one rule at a time (sequential)",
                        count(chain.rules.len(), "rule")
                    ),
                );
                out
            }
            Some(min_run) => dispatch::lower_rules(&mut cx, chain, min_run),
        };
        chains.push(nft::Chain {
            name: chain.name.clone(),
            base: chain.base,
            rules,
            comment: None,
        });
    }
    chains.append(&mut cx.extra_chains);
    backends::add(&mut cx, &mut chains);
    nft::Table {
        name: table.name.clone(),
        sets: cx.sets,
        counters: table.counters.iter().map(|c| c.name.clone()).collect(),
        chains,
    }
}

/// Rules whose cuts are made at once, in parallel, when lowering one rule
/// at a time: enough for every core to have work, few enough that the
/// cuts take little room beside the rules already lowered.
const CUT_RUN: usize = 4096;

fn count(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

/// `n` in decimal, without the formatting machinery (a list of 100k rule
/// numbers is written for each map's comment).
fn push_number(out: &mut String, n: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    let mut n = n;
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend(digits[at..].iter().map(|&d| char::from(d)));
}

/// `rules 3, 5-9` for 0-based rule indices, printed 1-based.
fn rule_list(indices: &[u32]) -> String {
    let mut sorted = indices.to_vec();
    sorted.sort_unstable();
    let word = if sorted.len() == 1 { "rule" } else { "rules" };
    // One string written in place: a map of 100k rules lists them all.
    let mut out = String::with_capacity(8 + 8 * sorted.len());
    out.push_str(word);
    let mut i = 0;
    while i < sorted.len() {
        let start = sorted[i];
        let mut end = start;
        while i + 1 < sorted.len() && sorted[i + 1] == end + 1 {
            i += 1;
            end = sorted[i];
        }
        out.push_str(if out.len() == word.len() { " " } else { ", " });
        push_number(&mut out, u64::from(start) + 1);
        if start != end {
            out.push('-');
            push_number(&mut out, u64::from(end) + 1);
        }
        i += 1;
    }
    if sorted.is_empty() {
        out.push(' ');
    }
    out
}
