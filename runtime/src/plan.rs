//! `plan`: what `apply` would change, read from the live tables.
//!
//! Chains, sets and counters are matched by name, set elements by their
//! kernel bytes, and rules by the hash of their meaning that `apply` wrote
//! into each rule's comment: within a chain the two sequences of hashes are
//! diffed, so an inserted rule shows as one addition, not as every later
//! rule changing. A rule present on both sides at the same place with a
//! different hash is a change.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use shriek_compiler::emit;
use shriek_compiler::nft::{self, Origin};

use crate::abi::*;
use crate::encode::{self, rule_hash};
use crate::error::RuntimeError;
use crate::msg;
use crate::snapshot::{dump_table, TableDump};
use crate::socket::Socket;

/// The difference between the live tables and a compiled ruleset.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    pub changes: Vec<Change>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    AddTable {
        table: String,
    },
    AddChain {
        table: String,
        chain: String,
        rules: usize,
    },
    RemoveChain {
        table: String,
        chain: String,
        rules: usize,
    },
    /// Hook, priority, policy or type differ.
    EditChain {
        table: String,
        chain: String,
        from: String,
        to: String,
    },
    AddRule {
        table: String,
        chain: String,
        text: String,
        origin: Vec<Origin>,
    },
    /// `comment` is the live rule's comment, which names its origin.
    RemoveRule {
        table: String,
        chain: String,
        comment: String,
    },
    EditRule {
        table: String,
        chain: String,
        text: String,
        origin: Vec<Origin>,
        comment: String,
    },
    AddSet {
        table: String,
        set: String,
        elements: usize,
    },
    RemoveSet {
        table: String,
        set: String,
    },
    /// Key type or flags differ: the set is made again.
    EditSet {
        table: String,
        set: String,
    },
    EditElements {
        table: String,
        set: String,
        added: usize,
        removed: usize,
    },
    AddCounter {
        table: String,
        name: String,
    },
    RemoveCounter {
        table: String,
        name: String,
    },
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.changes.is_empty() {
            return writeln!(f, "no changes");
        }
        let mut table = "";
        for c in &self.changes {
            let t = match c {
                Change::AddTable { table }
                | Change::AddChain { table, .. }
                | Change::RemoveChain { table, .. }
                | Change::EditChain { table, .. }
                | Change::AddRule { table, .. }
                | Change::RemoveRule { table, .. }
                | Change::EditRule { table, .. }
                | Change::AddSet { table, .. }
                | Change::RemoveSet { table, .. }
                | Change::EditSet { table, .. }
                | Change::EditElements { table, .. }
                | Change::AddCounter { table, .. }
                | Change::RemoveCounter { table, .. } => table.as_str(),
            };
            if t != table {
                writeln!(f, "table inet {t}")?;
                table = t;
            }
            match c {
                Change::AddTable { .. } => writeln!(f, "  + table (new)")?,
                Change::AddChain { chain, rules, .. } => {
                    writeln!(f, "  + chain {chain} ({})", count(*rules, "rule"))?
                }
                Change::RemoveChain { chain, rules, .. } => {
                    writeln!(f, "  - chain {chain} ({})", count(*rules, "rule"))?
                }
                Change::EditChain { chain, from, to, .. } => {
                    writeln!(f, "  ~ chain {chain}: {from} -> {to}")?
                }
                Change::AddRule { chain, text, .. } => writeln!(f, "  + {chain}: {text}")?,
                Change::RemoveRule { chain, comment, .. } => {
                    writeln!(f, "  - {chain}: rule \"{comment}\"")?
                }
                Change::EditRule { chain, text, .. } => writeln!(f, "  ~ {chain}: {text}")?,
                Change::AddSet { set, elements, .. } => {
                    writeln!(f, "  + set {set} ({})", count(*elements, "element"))?
                }
                Change::RemoveSet { set, .. } => writeln!(f, "  - set {set}")?,
                Change::EditSet { set, .. } => {
                    writeln!(f, "  ~ set {set}: type or flags change, made again")?
                }
                Change::EditElements { set, added, removed, .. } => {
                    writeln!(f, "  ~ set {set}: +{added} -{removed} elements")?
                }
                Change::AddCounter { name, .. } => writeln!(f, "  + counter {name}")?,
                Change::RemoveCounter { name, .. } => writeln!(f, "  - counter {name}")?,
            }
        }
        Ok(())
    }
}

fn count(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

/// Reads the live state of `rs`'s tables and compares it with `rs`.
pub fn plan(rs: &nft::Ruleset, netns: Option<&str>) -> Result<Plan, RuntimeError> {
    let mut sock = Socket::open(netns)?;
    let mut plan = Plan::default();
    for t in &rs.tables {
        let live = dump_table(&mut sock, &t.name)?;
        diff_table(&mut plan.changes, t, &live);
    }
    Ok(plan)
}

struct LiveChain {
    spec: String,
    /// Each rule's hash (from its comment) and comment.
    rules: Vec<(u64, String)>,
}

fn diff_table(out: &mut Vec<Change>, t: &nft::Table, live: &TableDump) {
    let table = || t.name.clone();
    if live.table.is_none() {
        out.push(Change::AddTable { table: table() });
    }
    // Counters.
    let live_counters: BTreeSet<String> =
        live.objects.iter().filter_map(|o| msg::attr_str(o, NFTA_OBJ_NAME)).collect();
    for c in &t.counters {
        if !live_counters.contains(c) {
            out.push(Change::AddCounter { table: table(), name: c.clone() });
        }
    }
    for c in &live_counters {
        if !t.counters.contains(c) {
            out.push(Change::RemoveCounter { table: table(), name: c.clone() });
        }
    }
    // Sets.
    let live_sets: BTreeMap<&str, &crate::snapshot::SetDump> = live
        .sets
        .iter()
        .filter(|s| msg::attr_u32(&s.attrs, NFTA_SET_FLAGS).unwrap_or(0) & NFT_SET_ANONYMOUS == 0)
        .map(|s| (s.name.as_str(), s))
        .collect();
    for s in &t.sets {
        let (shape, want) = encode::set_plan(s);
        let Some(l) = live_sets.get(s.name.as_str()) else {
            out.push(Change::AddSet {
                table: table(),
                set: s.name.clone(),
                elements: s.elements.len(),
            });
            continue;
        };
        let live_shape = (
            msg::attr_u32(&l.attrs, NFTA_SET_KEY_TYPE).unwrap_or(0),
            msg::attr_u32(&l.attrs, NFTA_SET_KEY_LEN).unwrap_or(0),
            msg::attr_u32(&l.attrs, NFTA_SET_FLAGS).unwrap_or(0),
        );
        if live_shape != shape {
            out.push(Change::EditSet { table: table(), set: s.name.clone() });
            continue;
        }
        let have: Vec<String> = l
            .elements
            .iter()
            .filter_map(|m| msg::attr(m, NFTA_SET_ELEM_LIST_ELEMENTS))
            .flat_map(|list| msg::attrs(list).map(|(_, e)| encode::element_signature(e)))
            .collect();
        let want: BTreeSet<&String> = want.iter().collect();
        let have: BTreeSet<&String> = have.iter().collect();
        let added = want.difference(&have).count();
        let removed = have.difference(&want).count();
        if added + removed > 0 {
            out.push(Change::EditElements { table: table(), set: s.name.clone(), added, removed });
        }
    }
    for name in live_sets.keys() {
        if !t.sets.iter().any(|s| s.name == *name) {
            out.push(Change::RemoveSet { table: table(), set: name.to_string() });
        }
    }
    // Chains and their rules.
    let mut chains: BTreeMap<String, LiveChain> = BTreeMap::new();
    for c in &live.chains {
        let name = msg::attr_str(c, NFTA_CHAIN_NAME).unwrap_or_default();
        chains.insert(name, LiveChain { spec: live_chain_spec(c), rules: Vec::new() });
    }
    for r in &live.rules {
        let chain = msg::attr_str(r, NFTA_RULE_CHAIN).unwrap_or_default();
        let comment = msg::attr(r, NFTA_RULE_USERDATA).and_then(udata_comment).unwrap_or_default();
        let hash = comment
            .rsplit_once('#')
            .and_then(|(_, h)| u64::from_str_radix(h, 16).ok())
            .unwrap_or(u64::MAX);
        if let Some(c) = chains.get_mut(&chain) {
            c.rules.push((hash, comment));
        }
    }
    for c in &t.chains {
        let Some(l) = chains.get(&c.name) else {
            out.push(Change::AddChain {
                table: table(),
                chain: c.name.clone(),
                rules: c.rules.len(),
            });
            continue;
        };
        let spec = chain_spec(c.base.as_ref());
        if spec != l.spec {
            out.push(Change::EditChain {
                table: table(),
                chain: c.name.clone(),
                from: l.spec.clone(),
                to: spec,
            });
        }
        diff_rules(out, &t.name, c, &l.rules);
    }
    for (name, l) in &chains {
        if !t.chains.iter().any(|c| &c.name == name) {
            out.push(Change::RemoveChain {
                table: table(),
                chain: name.clone(),
                rules: l.rules.len(),
            });
        }
    }
}

fn diff_rules(out: &mut Vec<Change>, table: &str, c: &nft::Chain, live: &[(u64, String)]) {
    use similar::DiffOp;
    let old: Vec<u64> = live.iter().map(|r| r.0).collect();
    let new: Vec<u64> = c.rules.iter().map(rule_hash).collect();
    let add = |out: &mut Vec<Change>, i: usize| {
        let r = &c.rules[i];
        out.push(Change::AddRule {
            table: table.into(),
            chain: c.name.clone(),
            text: emit::rule_text(r),
            origin: r.origin.clone(),
        })
    };
    let remove = |out: &mut Vec<Change>, i: usize| {
        out.push(Change::RemoveRule {
            table: table.into(),
            chain: c.name.clone(),
            comment: live[i].1.clone(),
        })
    };
    for op in similar::capture_diff_slices(similar::Algorithm::Myers, &old, &new) {
        match op {
            DiffOp::Equal { .. } => {}
            DiffOp::Delete { old_index, old_len, .. } => {
                (old_index..old_index + old_len).for_each(|i| remove(out, i))
            }
            DiffOp::Insert { new_index, new_len, .. } => {
                (new_index..new_index + new_len).for_each(|i| add(out, i))
            }
            DiffOp::Replace { old_index, old_len, new_index, new_len } => {
                let both = old_len.min(new_len);
                for k in 0..both {
                    let r = &c.rules[new_index + k];
                    out.push(Change::EditRule {
                        table: table.into(),
                        chain: c.name.clone(),
                        text: emit::rule_text(r),
                        origin: r.origin.clone(),
                        comment: live[old_index + k].1.clone(),
                    });
                }
                (old_index + both..old_index + old_len).for_each(|i| remove(out, i));
                (new_index + both..new_index + new_len).for_each(|i| add(out, i));
            }
        }
    }
}

fn udata_comment(ud: &[u8]) -> Option<String> {
    let mut rest = ud;
    while rest.len() >= 2 {
        let (ty, len) = (rest[0], rest[1] as usize);
        let value = rest.get(2..2 + len)?;
        if ty == NFTNL_UDATA_RULE_COMMENT {
            let text = value.split(|&b| b == 0).next().unwrap_or(value);
            return Some(String::from_utf8_lossy(text).into_owned());
        }
        rest = &rest[2 + len..];
    }
    None
}

fn hook_name(n: u32) -> &'static str {
    match n {
        NF_INET_PRE_ROUTING => "prerouting",
        NF_INET_LOCAL_IN => "input",
        NF_INET_FORWARD => "forward",
        NF_INET_LOCAL_OUT => "output",
        NF_INET_POST_ROUTING => "postrouting",
        _ => "?",
    }
}

fn live_chain_spec(c: &[u8]) -> String {
    let Some(hook) = msg::attr(c, NFTA_CHAIN_HOOK) else { return "regular".into() };
    let num = msg::attr_u32(hook, NFTA_HOOK_HOOKNUM).unwrap_or(u32::MAX);
    let prio = msg::attr_u32(hook, NFTA_HOOK_PRIORITY).unwrap_or(0) as i32;
    let ty = msg::attr_str(c, NFTA_CHAIN_TYPE).unwrap_or_default();
    let policy =
        if msg::attr_u32(c, NFTA_CHAIN_POLICY) == Some(NF_DROP as u32) { "drop" } else { "accept" };
    format!("{ty} hook {} priority {prio} policy {policy}", hook_name(num))
}

fn chain_spec(base: Option<&shriek_compiler::ir::BaseChain>) -> String {
    use shriek_compiler::ir::ChainPolicy;
    let Some(b) = base else { return "regular".into() };
    let policy = if b.policy == ChainPolicy::Drop { "drop" } else { "accept" };
    format!(
        "{} hook {} priority {} policy {policy}",
        b.kind.keyword(),
        b.hook.keyword(),
        b.priority
    )
}
