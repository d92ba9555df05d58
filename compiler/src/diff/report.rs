//! `shriekc diff` as a person or a script reads it: plain text, JSON (the
//! shape is in `docs/json.md`) or Markdown for a pull-request comment.
//!
//! Two parts: what the change does to traffic ([`super::semantic`]), worded
//! here, and what it changes in the compiled tables, which is `plan`'s
//! structural diff printed by its own renderer ([`super::structural::render`]):
//! one engine and one renderer for both verbs. Every rule is named by its
//! place as `compile` writes it (`file:line`), in the version it belongs to.
//! Output depends only on the two versions: the same inputs print the same
//! bytes.

use std::fmt::Write;

use serde_json::{json, Value};
use shriek_grammar::SourceMap;

use crate::emit::{file_line, origin_comment, source_text};
use crate::ir::{ChainPolicy, Policy};
use crate::nft;

use super::semantic::{cube_lines, Class, Decider, End, Fate, SemanticDiff, Side, Tree};
use super::structural::{self, render as structure};

/// One version of the policy, as the user named it.
#[derive(Clone, Copy)]
pub struct Version<'a> {
    /// `old.shr`, or `origin/main:fw/policy.shr`.
    pub label: &'a str,
    pub policy: &'a Policy,
    /// The policy lowered, with the same strategy on both sides.
    pub ruleset: &'a nft::Ruleset,
    pub sources: &'a SourceMap,
}

impl Version<'_> {
    /// Where the rule at `at` of the compiled tables came from, as `compile`
    /// writes it in the rule's comment.
    fn place(&self, at: structure::RuleAt) -> Option<String> {
        let rule = &self.ruleset.tables[at.table].chains[at.chain].rules[at.rule];
        origin_comment(&rule.origin, self.sources)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
    Markdown,
}

/// Everything `shriekc diff` reports.
pub struct Report<'a> {
    pub old: Version<'a>,
    pub new: Version<'a>,
    pub semantic: &'a SemanticDiff,
}

/// How many packet lines one class shows in text and Markdown; JSON has all.
const MAX_LINES: usize = 20;

pub fn render(report: &Report, format: Format) -> String {
    let delta = structural::diff(report.old.ruleset, report.new.ruleset);
    let (old_place, new_place) = (|at| report.old.place(at), |at| report.new.place(at));
    let old = structure::Side { ruleset: report.old.ruleset, place: &old_place };
    let new = structure::Side { ruleset: report.new.ruleset, place: &new_place };
    let tables = Tables { text: structure::text(&delta, &old, &new), old, new };
    match format {
        Format::Text => text(report, &delta, &tables),
        Format::Json => {
            let doc = to_json(report, &delta, &tables);
            let mut s = serde_json::to_string_pretty(&doc).expect("JSON values print");
            s.push('\n');
            s
        }
        Format::Markdown => markdown(report, &delta, &tables),
    }
}

/// The structural diff of the two compiled versions, and its text.
struct Tables<'a> {
    text: String,
    old: structure::Side<'a>,
    new: structure::Side<'a>,
}

/// `nftables: 1 to add, 0 to change, 0 to remove`. Rules that only come
/// from other lines now are not counted: the two versions are different
/// files, so every place differs.
fn tables_summary(delta: &structural::Delta) -> String {
    structure::counts(delta).summary("nftables")
}

// ------------------------------------------------------------------ words

fn fate_text(t: &Tree<Fate>) -> String {
    tree_text(t, &|f: &Fate| {
        if f.nats.is_empty() {
            end_word(f.end).to_string()
        } else {
            f.nats.join(", ")
        }
    })
}

fn events_text(t: &Tree<Vec<String>>) -> String {
    tree_text(t, &|e: &Vec<String>| if e.is_empty() { "nothing".into() } else { e.join(", ") })
}

/// `accept while under 3/minute, else drop`; a fork inside the first branch
/// is bracketed.
fn tree_text<T>(t: &Tree<T>, leaf: &dyn Fn(&T) -> String) -> String {
    match t {
        Tree::Leaf(x) => leaf(x),
        Tree::Limit { limit, under, over } => {
            let u = tree_text(under, leaf);
            let u = if matches!(**under, Tree::Limit { .. }) { format!("({u})") } else { u };
            format!("{u} while {}, else {}", limit.condition(), tree_text(over, leaf))
        }
    }
}

fn end_word(e: End) -> &'static str {
    match e {
        End::Accept => "accept",
        End::Drop => "drop",
        End::Reject => "reject",
        End::Continue => "continue",
    }
}

/// A rule or chain policy in one version: its place, what it says.
struct Named {
    kind: &'static str,
    /// File name and line.
    at: Option<(String, usize)>,
    text: String,
    /// Why the rule dropped, when it is not its verdict.
    note: Option<&'static str>,
}

impl Named {
    /// `file:line`, as `compile` writes it.
    fn place(&self) -> Option<String> {
        self.at.as_ref().map(|(f, l)| format!("{f}:{l}"))
    }
}

fn named(v: Version, d: Decider) -> Named {
    match d {
        Decider::Rule(id) | Decider::TooDeep(id) | Decider::Loop(id) => {
            let loc = v.policy.rule(id).loc;
            let (kind, note) = match d {
                Decider::TooDeep(_) => {
                    ("jump-too-deep", Some("jumps past the kernel's jump stack: drop"))
                }
                Decider::Loop(_) => ("goto-loop", Some("goes round a loop of chains: drop")),
                _ => ("rule", None),
            };
            Named { kind, at: at(loc, v.sources), text: source_text(loc, v.sources), note }
        }
        Decider::Policy { table, chain } => {
            let c = v.policy.chain(table, chain);
            let word = match c.base.map(|b| b.policy) {
                Some(ChainPolicy::Drop) => "drop",
                _ => "accept",
            };
            let text =
                format!("policy {word} of {}/{}", v.policy.tables[table as usize].name, c.name);
            Named { kind: "policy", at: at(c.loc, v.sources), text, note: None }
        }
    }
}

fn at(loc: shriek_grammar::Loc, sources: &SourceMap) -> Option<(String, usize)> {
    file_line(loc, sources).map(|(f, l)| (f.to_string(), l))
}

/// The deciders, each with its place: ``p.shr:4 `tcp dport 22 accept` ``,
/// `policy drop of filter/input (p.shr:2)`. `none` when there are none.
fn by_text(v: Version, by: &[Decider], none: &str) -> String {
    if by.is_empty() {
        return none.into();
    }
    let parts: Vec<String> = by
        .iter()
        .map(|d| {
            let n = named(v, *d);
            let said = match (n.kind, n.place()) {
                ("policy", Some(p)) => format!("{} ({p})", n.text),
                ("policy", None) => n.text.clone(),
                (_, Some(p)) => format!("{p} `{}`", n.text),
                (_, None) => format!("`{}`", n.text),
            };
            match n.note {
                Some(note) => format!("{said} ({note})"),
                None => said,
            }
        })
        .collect();
    parts.join("; ")
}

fn hook_title(h: &super::semantic::HookDiff) -> String {
    let list = |c: &[String]| if c.is_empty() { "no base chain".to_string() } else { c.join(", ") };
    if h.old_chains == h.new_chains {
        format!("hook {} ({})", h.hook.keyword(), list(&h.new_chains))
    } else {
        format!("hook {} ({} -> {})", h.hook.keyword(), list(&h.old_chains), list(&h.new_chains))
    }
}

fn count(n: usize, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

/// One line saying what changed.
fn headline(s: &SemanticDiff) -> String {
    if s.same_rules {
        return "no semantic change: the rules are the same, only comments, layout or places differ".into();
    }
    let gave_up = s.hooks.iter().filter(|h| h.changes.is_err()).count();
    let mut parts = Vec::new();
    match s.traffic_classes() {
        0 if gave_up == 0 => parts.push("no packet changes fate".to_string()),
        0 => {}
        1 => parts.push("1 class of packets changes fate".to_string()),
        n => parts.push(format!("{n} classes of packets change fate")),
    }
    match s.observed_classes() {
        0 => {}
        n => parts.push(format!("{} counted or logged differently", count(n, "class", "classes"))),
    }
    if gave_up > 0 {
        parts.push(format!("{} not compared", count(gave_up, "hook", "hooks")));
    }
    let quiet = s.traffic_classes() == 0 && gave_up == 0;
    let reordered = s.reordered.join(", ");
    if quiet && !s.reordered.is_empty() {
        // Say first what the reviewer sees in the text: rules that moved.
        parts[0] = format!("rules of {reordered} reordered, which changes no packet's fate");
    }
    let mut line = parts.join("; ");
    if !quiet && !s.reordered.is_empty() {
        let _ = write!(line, " (rules of {reordered} reordered)");
    }
    line
}

/// The lines of a class's packets, capped at [`MAX_LINES`].
fn packet_lines<T>(class: &Class<T>) -> (Vec<String>, usize) {
    let all: Vec<String> = class.cubes.iter().flat_map(cube_lines).collect();
    let more = all.len().saturating_sub(MAX_LINES);
    (all.into_iter().take(MAX_LINES).collect(), more)
}

// ------------------------------------------------------------------- text

fn text(r: &Report, delta: &structural::Delta, tables: &Tables) -> String {
    let s = r.semantic;
    let mut out = format!("diff {} -> {}\n{}\n", r.old.label, r.new.label, headline(s));
    text_semantic(&mut out, r);
    let _ = writeln!(out, "\n{}", tables_summary(delta));
    for line in tables.text.lines() {
        let _ = writeln!(out, "  {line}");
    }
    out
}

fn text_semantic(out: &mut String, r: &Report) {
    let s = r.semantic;
    if s.same_rules {
        return;
    }
    let section = |out: &mut String,
                   title: &str,
                   pick: &dyn Fn(&super::semantic::Changes) -> Vec<Entry>| {
        let mut body = String::new();
        for h in &s.hooks {
            let entries = match &h.changes {
                Err(g) => {
                    let _ = writeln!(body, "  {}: {}; nothing is claimed", hook_title(h), g.why());
                    continue;
                }
                Ok(c) => pick(c),
            };
            if entries.is_empty() {
                continue;
            }
            let _ = writeln!(body, "  {}", hook_title(h));
            for e in entries {
                text_entry(&mut body, &e);
            }
        }
        if !body.is_empty() {
            let _ = writeln!(out, "\n{title}\n{body}");
            out.pop();
        }
    };
    section(out, "traffic:", &|c| c.traffic.iter().map(|cl| traffic_entry(r, cl)).collect());
    section(out, "counting and logging:", &|c| {
        c.observed.iter().map(|cl| observed_entry(r, cl)).collect()
    });
}

/// One class, worded for text and Markdown.
struct Entry {
    lines: Vec<String>,
    more: usize,
    old: String,
    new: String,
    old_by: String,
    new_by: String,
}

fn traffic_entry(r: &Report, c: &Class<Fate>) -> Entry {
    let (lines, more) = packet_lines(c);
    Entry {
        lines,
        more,
        old: fate_text(&c.old.fate),
        new: fate_text(&c.new.fate),
        old_by: by_text(r.old, &c.old.by, "no rule"),
        new_by: by_text(r.new, &c.new.by, "no rule"),
    }
}

fn observed_entry(r: &Report, c: &Class<Vec<String>>) -> Entry {
    let (lines, more) = packet_lines(c);
    Entry {
        lines,
        more,
        old: events_text(&c.old.fate),
        new: events_text(&c.new.fate),
        old_by: by_text(r.old, &c.old.by, "no rule counts or logs them"),
        new_by: by_text(r.new, &c.new.by, "no rule counts or logs them"),
    }
}

fn text_entry(out: &mut String, e: &Entry) {
    let change = format!("{} -> {}", e.old, e.new);
    match e.lines.as_slice() {
        [one] if e.more == 0 => {
            let _ = writeln!(out, "    {one}: {change}");
        }
        lines => {
            let _ = writeln!(out, "    {change}, for:");
            for l in lines {
                let _ = writeln!(out, "      {l}");
            }
            if e.more > 0 {
                let _ = writeln!(out, "      ... and {} more", e.more);
            }
        }
    }
    let _ = writeln!(out, "      old: {}", e.old_by);
    let _ = writeln!(out, "      new: {}", e.new_by);
}

// --------------------------------------------------------------- markdown

fn markdown(r: &Report, delta: &structural::Delta, tables: &Tables) -> String {
    let s = r.semantic;
    let mut out = format!(
        "### shriekc diff: {} → {}\n\n**{}**\n\n{}\n",
        code(r.old.label),
        code(r.new.label),
        md_escape(&headline(s)),
        md_escape(&tables_summary(delta))
    );
    markdown_semantic(&mut out, r);
    if !tables.text.is_empty() {
        let changes = structure::counts(delta);
        let n = changes.add + changes.change + changes.remove;
        let fence = "`".repeat(longest_backticks(&tables.text).max(2) + 1);
        let _ = write!(
            out,
            "\n<details><summary>nftables changes ({n})</summary>\n\n{fence}diff\n{}{fence}\n\n</details>\n",
            tables.text
        );
    }
    out
}

fn markdown_semantic(out: &mut String, r: &Report) {
    let s = r.semantic;
    if s.same_rules {
        return;
    }
    let mut rows = Vec::new();
    for h in &s.hooks {
        if let Ok(c) = &h.changes {
            for cl in &c.traffic {
                let (lines, more) = packet_lines(cl);
                let mut packets: Vec<String> = lines.iter().map(|l| code(l)).collect();
                if more > 0 {
                    packets.push(format!("… and {more} more"));
                }
                rows.push(format!(
                    "| {} | {} | {} | {} |",
                    h.hook.keyword(),
                    packets.join("<br>"),
                    md_escape(&fate_text(&cl.old.fate)),
                    md_escape(&fate_text(&cl.new.fate))
                ));
            }
        }
    }
    if !rows.is_empty() {
        out.push_str("\n| hook | packets | old | new |\n|---|---|---|---|\n");
        for row in rows {
            out.push_str(&row);
            out.push('\n');
        }
    }
    let details = |out: &mut String,
                   title: &str,
                   pick: &dyn Fn(&super::semantic::Changes) -> Vec<Entry>| {
        let mut body = String::new();
        let mut n = 0;
        for h in &s.hooks {
            let Ok(c) = &h.changes else { continue };
            let entries = pick(c);
            if entries.is_empty() {
                continue;
            }
            let _ = writeln!(body, "\n**{}**\n", md_escape(&hook_title(h)));
            for e in entries {
                n += 1;
                let packets: Vec<String> = e.lines.iter().map(|l| code(l)).collect();
                let more = if e.more > 0 { format!(" and {} more", e.more) } else { String::new() };
                let _ = writeln!(
                    body,
                    "- {}{more}: {} → {}\n  - old: {}\n  - new: {}",
                    packets.join(", "),
                    md_escape(&e.old),
                    md_escape(&e.new),
                    md_by(&e.old_by),
                    md_by(&e.new_by)
                );
            }
        }
        if n > 0 {
            let _ =
                write!(out, "\n<details><summary>{title} ({n})</summary>\n{body}\n</details>\n");
        }
    };
    details(out, "Traffic changes", &|c| c.traffic.iter().map(|cl| traffic_entry(r, cl)).collect());
    details(out, "Counting and logging", &|c| {
        c.observed.iter().map(|cl| observed_entry(r, cl)).collect()
    });
    for h in &s.hooks {
        if let Err(g) = &h.changes {
            let _ = writeln!(
                out,
                "\n> hook {}: {}; nothing is claimed for it",
                h.hook.keyword(),
                g.why()
            );
        }
    }
}

fn longest_backticks(s: &str) -> usize {
    s.split(|c| c != '`').map(str::len).max().unwrap_or(0)
}

/// Inline code that survives any backticks inside it.
fn code(s: &str) -> String {
    let fence = "`".repeat(longest_backticks(s) + 1);
    let pad = if s.starts_with('`') || s.ends_with('`') { " " } else { "" };
    format!("{fence}{pad}{}{pad}{fence}", s.replace('|', "\\|"))
}

/// Plain words in Markdown: characters it would read as markup escaped.
fn md_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if "\\`*_[]<>|#".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// `by_text` keeps rule text in backticks already; only table pipes need escaping.
fn md_by(s: &str) -> String {
    s.replace('|', "\\|")
}

// ------------------------------------------------------------------- JSON

fn to_json(r: &Report, delta: &structural::Delta, tables: &Tables) -> Value {
    let s = r.semantic;
    let hooks: Vec<Value> = s
        .hooks
        .iter()
        .map(|h| {
            let (traffic, observed) = match &h.changes {
                Ok(c) => (
                    Value::Array(
                        c.traffic
                            .iter()
                            .map(|cl| class_json(r, cl, &fate_json, &fate_text))
                            .collect(),
                    ),
                    Value::Array(
                        c.observed
                            .iter()
                            .map(|cl| class_json(r, cl, &events_json, &events_text))
                            .collect(),
                    ),
                ),
                Err(_) => (Value::Null, Value::Null),
            };
            json!({
                "hook": h.hook.keyword(),
                "old_chains": h.old_chains,
                "new_chains": h.new_chains,
                "complete": h.changes.is_ok(),
                "not_compared": h.changes.as_ref().err().map(|g| g.keyword()),
                "traffic": traffic,
                "observed": observed,
            })
        })
        .collect();
    let changes = structure::counts(delta);
    json!({
        "old": r.old.label,
        "new": r.new.label,
        "summary": {
            "text": headline(s),
            "traffic_changes": s.changes_traffic(),
            "traffic_classes": s.traffic_classes(),
            "observed_classes": s.observed_classes(),
        },
        "semantic": {
            "same_rules": s.same_rules,
            "reordered": s.reordered,
            "hooks": hooks,
        },
        "structural": {
            "summary": {
                "add": changes.add,
                "change": changes.change,
                "remove": changes.remove,
            },
            "changes": structure::json(delta, &tables.old, &tables.new),
        },
    })
}

fn class_json<T>(
    r: &Report,
    c: &Class<T>,
    fate: &dyn Fn(&Tree<T>) -> Value,
    words: &dyn Fn(&Tree<T>) -> String,
) -> Value {
    let side = |v: Version, s: &Side<T>| {
        json!({
            "fate": fate(&s.fate),
            "text": words(&s.fate),
            "by": s.by.iter().map(|d| by_json(v, *d)).collect::<Vec<_>>(),
        })
    };
    json!({
        "packets": c.cubes.iter().flat_map(cube_lines).collect::<Vec<_>>(),
        "old": side(r.old, &c.old),
        "new": side(r.new, &c.new),
    })
}

fn tree_json<T>(t: &Tree<T>, leaf: &dyn Fn(&T) -> Value) -> Value {
    match t {
        Tree::Leaf(x) => leaf(x),
        Tree::Limit { limit, under, over } => json!({
            "limit": limit.0,
            "under": tree_json(under, leaf),
            "over": tree_json(over, leaf),
        }),
    }
}

fn fate_json(t: &Tree<Fate>) -> Value {
    tree_json(t, &|f: &Fate| json!({"verdict": end_word(f.end), "nat": f.nats}))
}

fn events_json(t: &Tree<Vec<String>>) -> Value {
    tree_json(t, &|e: &Vec<String>| json!({"events": e}))
}

fn by_json(v: Version, d: Decider) -> Value {
    let n = named(v, d);
    let (file, line) = match &n.at {
        Some((f, l)) => (json!(f), json!(l)),
        None => (Value::Null, Value::Null),
    };
    json!({"kind": n.kind, "file": file, "line": line, "text": n.text})
}
