//! A [`Delta`] for people (terraform-like text) and for machines (JSON).
//!
//! Text: one block per table, one line per change, `+` added, `-` removed,
//! `~` changed or moved. A rule is shown as nft text (the one printer,
//! [`crate::emit::rule_text`]) with where it came from (`# web.shr:14`); a
//! changed rule shows its before and after. The JSON carries the same
//! changes as objects; its shape is documented in `docs/json.md`.

use std::fmt::Write;

use serde_json::{json, Map, Value};

use super::{Action, ChainDelta, Delta, SetDelta, TableDelta};
use crate::emit::{chain_header_text, element_text, rule_text, set_type_text};
use crate::identity::identity;
use crate::nft;

/// One side of a diff, and where its rules came from.
pub struct Side<'a> {
    pub ruleset: &'a nft::Ruleset,
    /// `file:line` of a rule (for the live side, its comment), by table,
    /// chain and rule index.
    pub place: &'a dyn Fn(RuleAt) -> Option<String>,
}

/// A rule's place in its ruleset, by index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RuleAt {
    pub table: usize,
    pub chain: usize,
    pub rule: usize,
}

/// How many things a delta adds, changes and removes: each rule, element,
/// chain, set, counter and table once. A moved rule is a change.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub add: usize,
    pub change: usize,
    pub remove: usize,
}

impl Counts {
    pub fn count(&mut self, a: Action) {
        match a {
            Action::Add => self.add += 1,
            Action::Change | Action::Move => self.change += 1,
            Action::Remove => self.remove += 1,
        }
    }

    pub fn is_empty(&self) -> bool {
        *self == Counts::default()
    }

    /// `Plan: 2 to add, 1 to change, 3 to remove`
    pub fn summary(&self, what: &str) -> String {
        format!("{what}: {} to add, {} to change, {} to remove", self.add, self.change, self.remove)
    }
}

/// The delta's counts.
pub fn counts(delta: &Delta) -> Counts {
    let mut c = Counts::default();
    for t in &delta.tables {
        match (t.old, t.new) {
            (None, Some(_)) => c.count(Action::Add),
            (Some(_), None) => {
                // A removed table is one removal: what was in it goes too.
                c.count(Action::Remove);
                continue;
            }
            _ => {}
        }
        t.counters.iter().for_each(|x| c.count(x.action));
        for s in &t.sets {
            s.action.into_iter().for_each(|a| c.count(a));
            s.elements.iter().for_each(|e| c.count(e.action));
        }
        for ch in &t.chains {
            ch.action.into_iter().for_each(|a| c.count(a));
            ch.rules.iter().for_each(|e| c.count(e.action));
        }
    }
    c
}

/// Rules that are the same on both sides but come from another place now
/// (a line was added above them), kept as they are: how many, per table.
pub fn relocated(delta: &Delta, old: &Side, new: &Side) -> Vec<(String, usize)> {
    let mut out = Vec::new();
    for (nt, table) in new.ruleset.tables.iter().enumerate() {
        let mut n = 0;
        let Some(ot) = old.ruleset.tables.iter().position(|t| t.name == table.name) else {
            continue;
        };
        let td = delta.tables.iter().find(|t| t.name == table.name);
        for (nc, chain) in table.chains.iter().enumerate() {
            let Some(oc) = old.ruleset.tables[ot].chains.iter().position(|c| c.name == chain.name)
            else {
                continue;
            };
            // A chain the delta does not name is the same on both sides.
            let kept: Vec<(usize, usize)> =
                match td.and_then(|t| t.chains.iter().find(|c| c.name == chain.name)) {
                    Some(cd) => cd.kept.clone(),
                    None => (0..chain.rules.len()).map(|i| (i, i)).collect(),
                };
            for (a, b) in kept {
                let op = (old.place)(RuleAt { table: ot, chain: oc, rule: a });
                let np = (new.place)(RuleAt { table: nt, chain: nc, rule: b });
                if op.is_some() && np.is_some() && op != np {
                    n += 1;
                }
            }
        }
        if n > 0 {
            out.push((table.name.clone(), n));
        }
    }
    out
}

/// The changes as text, one block per table; empty for an empty delta.
pub fn text(delta: &Delta, old: &Side, new: &Side) -> String {
    let mut out = String::new();
    for t in &delta.tables {
        table_text(&mut out, t, old, new);
    }
    out
}

fn with_place(text: String, place: Option<String>) -> String {
    match place {
        Some(p) => format!("{text}  # {p}"),
        None => text,
    }
}

fn table_text(out: &mut String, t: &TableDelta, old: &Side, new: &Side) {
    let ot = t.old.map(|i| &old.ruleset.tables[i]);
    let nt = t.new.map(|i| &new.ruleset.tables[i]);
    match (ot, nt) {
        (Some(o), None) => {
            let rules: usize = o.chains.iter().map(|c| c.rules.len()).sum();
            let _ = writeln!(
                out,
                "- table inet {} ({}, {}, {})",
                t.name,
                count(o.chains.len(), "chain"),
                count(rules, "rule"),
                count(o.sets.len(), "set")
            );
            return;
        }
        (None, Some(_)) => {
            let _ = writeln!(out, "+ table inet {}", t.name);
        }
        _ => {
            let _ = writeln!(out, "table inet {}", t.name);
        }
    }
    for c in &t.counters {
        let _ = writeln!(out, "  {} counter {}", sign(c.action), c.name);
    }
    for s in &t.sets {
        set_text(out, s, ot, nt);
    }
    for c in &t.chains {
        chain_text(out, t, c, old, new);
    }
}

fn set_text(out: &mut String, s: &SetDelta, ot: Option<&nft::Table>, nt: Option<&nft::Table>) {
    let os = s.old.and_then(|i| ot.map(|t| &t.sets[i]));
    let ns = s.new.and_then(|i| nt.map(|t| &t.sets[i]));
    let what = |set: &nft::Set| {
        let kind = if set.data.is_some() { "map" } else { "set" };
        let flags = if set.interval { ", flags interval" } else { "" };
        format!(
            "{kind} {}: {}{flags}, {}",
            set.name,
            set_type_text(set),
            count(set.elements.len(), "element")
        )
    };
    match (s.action, os, ns) {
        (Some(Action::Add), _, Some(n)) => {
            let _ = writeln!(out, "  + {}", what(n));
        }
        (Some(Action::Remove), Some(o), _) => {
            let _ = writeln!(out, "  - {}", what(o));
        }
        (Some(_), Some(o), Some(n)) => {
            let _ = writeln!(out, "  ~ set {}: made again", s.name);
            let _ = writeln!(out, "      - {}", what(o));
            let _ = writeln!(out, "      + {}", what(n));
        }
        (_, Some(o), Some(n)) => {
            let _ = writeln!(out, "  ~ set {}", s.name);
            for e in &s.elements {
                let before = e.old.map(|i| element_text(o, &o.elements[i]));
                let after = e.new.map(|i| element_text(n, &n.elements[i]));
                match (before, after) {
                    (Some(b), Some(a)) => {
                        let _ = writeln!(out, "      ~ {b} -> {a}");
                    }
                    (Some(b), None) => {
                        let _ = writeln!(out, "      - {b}");
                    }
                    (None, Some(a)) => {
                        let _ = writeln!(out, "      + {a}");
                    }
                    (None, None) => {}
                }
            }
        }
        _ => {}
    }
}

fn chain_text(out: &mut String, t: &TableDelta, c: &ChainDelta, old: &Side, new: &Side) {
    let oc = c.old.and_then(|i| t.old.map(|ti| &old.ruleset.tables[ti].chains[i]));
    let nc = c.new.and_then(|i| t.new.map(|ti| &new.ruleset.tables[ti].chains[i]));
    let spec = |ch: &nft::Chain| match &ch.base {
        Some(b) => chain_header_text(b),
        None => "regular chain".to_string(),
    };
    let header = |ch: &nft::Chain| match &ch.base {
        Some(b) => format!("chain {}: {}", ch.name, chain_header_text(b)),
        None => format!("chain {}", ch.name),
    };
    match (c.action, oc, nc) {
        (Some(Action::Add), _, Some(n)) => {
            let _ = writeln!(out, "  + {}", header(n));
        }
        (Some(Action::Remove), Some(o), _) => {
            let _ = writeln!(out, "  - {} ({})", header(o), count(o.rules.len(), "rule"));
        }
        (Some(_), Some(o), Some(n)) => {
            let _ = writeln!(out, "  ~ chain {}", c.name);
            let _ = writeln!(out, "      - {}", spec(o));
            let _ = writeln!(out, "      + {}", spec(n));
        }
        _ => {}
    }
    let old_rule = |i: usize| {
        let (ti, ci, ch) = (t.old?, c.old?, oc?);
        let place = (old.place)(RuleAt { table: ti, chain: ci, rule: i });
        Some((rule_text(&ch.rules[i]), place))
    };
    let new_rule = |j: usize| {
        let (ti, ci, ch) = (t.new?, c.new?, nc?);
        let place = (new.place)(RuleAt { table: ti, chain: ci, rule: j });
        Some((rule_text(&ch.rules[j]), place))
    };
    let restarts = |e: &super::Edit| counter_restarts(e, oc, nc);
    for e in &c.rules {
        let before = e.old.and_then(old_rule);
        let after = e.new.and_then(new_rule);
        let restart = if restarts(e) { " (its counter starts again)" } else { "" };
        match (e.action, before, after) {
            (Action::Add, _, Some((text, place))) => {
                let _ = writeln!(out, "  + {}: {}", c.name, with_place(text, place));
            }
            (Action::Remove, Some((text, place)), _) => {
                let _ = writeln!(out, "  - {}: {}", c.name, with_place(text, place));
            }
            (Action::Move, Some((_, was)), Some((text, place))) => {
                let note = match was {
                    Some(w) if Some(&w) != place.as_ref() => format!(" (moved, was {w})"),
                    _ => " (moved)".into(),
                };
                let _ = writeln!(out, "  ~ {}: {}{note}{restart}", c.name, with_place(text, place));
            }
            (Action::Change, Some((b, bp)), Some((a, ap))) if b == a => {
                // Same rule, made again because a set it uses is.
                let _ = writeln!(
                    out,
                    "  ~ {}: {} (made again with its set){restart}",
                    c.name,
                    with_place(a, ap.or(bp))
                );
            }
            (Action::Change, Some((b, bp)), Some((a, ap))) => {
                let _ = writeln!(out, "  ~ {}:{restart}", c.name);
                let _ = writeln!(out, "      - {}", with_place(b, bp));
                let _ = writeln!(out, "      + {}", with_place(a, ap));
            }
            _ => {}
        }
    }
}

/// Whether an edit makes a rule that had a counter of its own into
/// another rule, whose count starts again. A rule moved, or made again
/// with a set it uses, is the same rule: `apply` gives the new one the
/// count the old one had (issue 9). Named counters are objects and keep
/// counting.
pub fn counter_restarts(
    e: &super::Edit,
    old_chain: Option<&nft::Chain>,
    new_chain: Option<&nft::Chain>,
) -> bool {
    let (Some(old), Some(new)) = (e.old.zip(old_chain), e.new.zip(new_chain)) else {
        return false;
    };
    let (old, new) = (&old.1.rules[old.0], &new.1.rules[new.0]);
    e.action == Action::Change
        && old.exprs.iter().any(|x| matches!(x, nft::Expr::Counter(None)))
        && identity(old) != identity(new)
}

fn sign(a: Action) -> char {
    match a {
        Action::Add => '+',
        Action::Remove => '-',
        Action::Change | Action::Move => '~',
    }
}

fn count(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

/// The changes as JSON objects, in the order [`text`] prints them.
pub fn json(delta: &Delta, old: &Side, new: &Side) -> Vec<Value> {
    let mut out = Vec::new();
    for t in &delta.tables {
        table_json(&mut out, t, old, new);
    }
    out
}

fn change(action: Action, kind: &str, table: &str) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("action".into(), json!(action.keyword()));
    m.insert("kind".into(), json!(kind));
    m.insert("table".into(), json!(table));
    m
}

fn table_json(out: &mut Vec<Value>, t: &TableDelta, old: &Side, new: &Side) {
    let ot = t.old.map(|i| &old.ruleset.tables[i]);
    let nt = t.new.map(|i| &new.ruleset.tables[i]);
    match (ot, nt) {
        (Some(_), None) => {
            out.push(Value::Object(change(Action::Remove, "table", &t.name)));
            return;
        }
        (None, Some(_)) => out.push(Value::Object(change(Action::Add, "table", &t.name))),
        _ => {}
    }
    for c in &t.counters {
        let mut m = change(c.action, "counter", &t.name);
        m.insert("counter".into(), json!(c.name));
        out.push(Value::Object(m));
    }
    let set_json = |set: &nft::Set| {
        json!({
            "type": set_type_text(set),
            "interval": set.interval,
            "elements": set.elements.len(),
        })
    };
    for s in &t.sets {
        let os = s.old.and_then(|i| ot.map(|t| &t.sets[i]));
        let ns = s.new.and_then(|i| nt.map(|t| &t.sets[i]));
        if let Some(a) = s.action {
            let mut m = change(a, "set", &t.name);
            m.insert("set".into(), json!(s.name));
            if let Some(o) = os {
                m.insert("before".into(), set_json(o));
            }
            if let Some(n) = ns {
                m.insert("after".into(), set_json(n));
            }
            out.push(Value::Object(m));
        }
        for e in &s.elements {
            let mut m = change(e.action, "element", &t.name);
            m.insert("set".into(), json!(s.name));
            if let (Some(i), Some(o)) = (e.old, os) {
                m.insert("before".into(), json!({ "element": element_text(o, &o.elements[i]) }));
            }
            if let (Some(j), Some(n)) = (e.new, ns) {
                m.insert("after".into(), json!({ "element": element_text(n, &n.elements[j]) }));
            }
            out.push(Value::Object(m));
        }
    }
    for c in &t.chains {
        let oc = c.old.and_then(|i| ot.map(|t| &t.chains[i]));
        let nc = c.new.and_then(|i| nt.map(|t| &t.chains[i]));
        let chain_json = |ch: &nft::Chain| match &ch.base {
            Some(b) => json!({ "header": chain_header_text(b), "rules": ch.rules.len() }),
            None => json!({ "header": null, "rules": ch.rules.len() }),
        };
        if let Some(a) = c.action {
            let mut m = change(a, "chain", &t.name);
            m.insert("chain".into(), json!(c.name));
            if let Some(o) = oc {
                m.insert("before".into(), chain_json(o));
            }
            if let Some(n) = nc {
                m.insert("after".into(), chain_json(n));
            }
            out.push(Value::Object(m));
        }
        for e in &c.rules {
            let mut m = change(e.action, "rule", &t.name);
            m.insert("chain".into(), json!(c.name));
            let rule_json =
                |side: &Side, ti: Option<usize>, ci: Option<usize>, ch: &nft::Chain, i| {
                    let place = match (ti, ci) {
                        (Some(table), Some(chain)) => {
                            (side.place)(RuleAt { table, chain, rule: i })
                        }
                        _ => None,
                    };
                    let r = &ch.rules[i];
                    json!({
                        "rule": rule_text(r),
                        "place": place,
                        "identity": identity(r).to_string(),
                    })
                };
            if let (Some(i), Some(o)) = (e.old, oc) {
                m.insert("before".into(), rule_json(old, t.old, c.old, o, i));
            }
            if counter_restarts(e, oc, nc) {
                m.insert("counter_restarts".into(), json!(true));
            }
            if let (Some(j), Some(n)) = (e.new, nc) {
                m.insert("after".into(), rule_json(new, t.new, c.new, n, j));
            }
            out.push(Value::Object(m));
        }
    }
}
