//! `shriekc import`: an existing iptables or nftables ruleset as a policy.
//!
//! ```text
//! iptables-save text ─[iptables]─┐
//!                                ├─▶ model tables, one per family ─[merge]─▶ model::Policy
//! nft text or JSON ──────[nft]───┘
//!
//! model::Policy ─[render]─▶ .shr text ─[parse, resolve]─▶ checked ─[fmt]─▶ output
//! ```
//!
//! Pure, as the rest of the crate: the caller reads the files (or runs
//! `iptables-save`) and prints the result. The output is always a valid,
//! formatted policy: it is parsed and resolved before it is returned, and a
//! rule the compiler still refuses is left out like any other. A source rule
//! the language cannot say is never dropped: it stays in the output as a
//! commented-out line with the reason, and [`Imported::warnings`] lists it.
//!
//! What "the same meaning" takes, and where iptables and nft differ from a
//! naive reading, is written next to the code that handles it: family
//! merging in `merge.rs`, the order of `-m limit` in `iptables/rule.rs`.

mod inline;
mod iptables;
mod merge;
mod model;
mod nft;

use std::collections::BTreeMap;

use shriek_grammar::Severity;

use crate::space::Family;

use model::{Item, ItemRef, LeftOut, Policy};

/// What the input is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// `iptables-save` or `ip6tables-save` output.
    IptablesSave,
    /// An nftables ruleset as `nft list ruleset` prints it.
    Nft,
    /// An nftables ruleset as `nft -j list ruleset` prints it.
    NftJson,
}

impl Format {
    pub fn keyword(self) -> &'static str {
        match self {
            Format::IptablesSave => "iptables-save",
            Format::Nft => "nft list ruleset",
            Format::NftJson => "nft -j list ruleset",
        }
    }
}

/// One text to import.
#[derive(Clone, Debug)]
pub struct Input {
    /// How warnings name it: a path, `-` for standard input, or the command
    /// that printed it.
    pub name: String,
    pub text: String,
    /// The family the caller knows the text has (it ran `ip6tables-save`).
    pub family: Option<Family>,
}

/// A finished import.
#[derive(Clone, Debug)]
pub struct Imported {
    /// The policy, formatted.
    pub policy: String,
    /// One per source rule left out, in input order.
    pub warnings: Vec<Warning>,
    pub summary: Summary,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Warning {
    /// `rules.v4:12`, or `inet filter chain input handle 7`.
    pub place: String,
    /// Why the rule was left out: one reason or more.
    pub reasons: Vec<String>,
    /// The source rule as written.
    pub source: String,
}

#[derive(Clone, Debug, Default)]
pub struct Summary {
    pub tables: usize,
    pub chains: usize,
    pub rules: usize,
    pub left_out: usize,
    /// How many rules were left out for each reason, most first (a rule
    /// left out for two reasons counts under both).
    pub reasons: Vec<(String, usize)>,
    /// Things the reader should know about the whole import.
    pub notes: Vec<String>,
}

impl Summary {
    /// The summary as the CLI prints it on standard error.
    pub fn lines(&self, format: Format) -> Vec<String> {
        let mut out = vec![format!(
            "imported {} rule(s) into {} table(s), {} chain(s) from {} output",
            self.rules,
            self.tables,
            self.chains,
            format.keyword()
        )];
        out.extend(self.notes.iter().map(|n| format!("note: {n}")));
        if self.left_out > 0 {
            out.push(format!(
                "left out {} rule(s), kept as comments in the policy; the reasons:",
                self.left_out
            ));
            for (reason, n) in &self.reasons {
                out.push(format!("  {n:>4} × {reason}"));
            }
        }
        out
    }
}

/// Input that cannot be read as a ruleset at all.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImportError {
    /// Which input and line, when one is to blame.
    pub place: Option<(usize, usize)>,
    pub message: String,
    pub help: Option<String>,
}

impl ImportError {
    pub fn new(message: impl Into<String>) -> ImportError {
        ImportError { place: None, message: message.into(), help: None }
    }

    pub fn at(input: usize, line: usize, message: impl Into<String>) -> ImportError {
        ImportError { place: Some((input, line)), message: message.into(), help: None }
    }

    pub fn with_help(mut self, help: impl Into<String>) -> ImportError {
        self.help = Some(help.into());
        self
    }

    /// `rules.v4:12: message`, naming the input as the caller named it.
    pub fn describe(&self, inputs: &[Input]) -> String {
        match self.place {
            Some((i, line)) => {
                let name = inputs.get(i).map_or("-", |x| x.name.as_str());
                format!("{name}:{line}: {}", self.message)
            }
            None => self.message.clone(),
        }
    }
}

/// What the importers fill: tables of one family each (or `inet`), and
/// rules of tables that are not imported.
#[derive(Default)]
pub(crate) struct Collect {
    pub tables: Vec<model::Table>,
    pub left_out: Vec<LeftOut>,
    pub notes: Vec<String>,
}

/// The format of `text`, when it is clear from its first lines.
pub fn detect(text: &str) -> Option<Format> {
    if text.trim_start().starts_with('{') {
        Some(Format::NftJson)
    } else if iptables::looks_like(text) {
        Some(Format::IptablesSave)
    } else if nft::looks_like(text) {
        Some(Format::Nft)
    } else {
        None
    }
}

/// Protocol names as iptables and nft print them (`/etc/protocols`), and
/// numbers.
pub(crate) fn protocol_number(name: &str) -> Option<u8> {
    const NAMES: &[(&str, u8)] = &[
        ("icmp", 1),
        ("igmp", 2),
        ("ipencap", 4),
        ("tcp", 6),
        ("egp", 8),
        ("udp", 17),
        ("ipv6", 41),
        ("ipv6-route", 43),
        ("ipv6-frag", 44),
        ("rsvp", 46),
        ("gre", 47),
        ("esp", 50),
        ("ah", 51),
        ("icmpv6", 58),
        ("ipv6-icmp", 58),
        ("ipv6-nonxt", 59),
        ("ipv6-opts", 60),
        ("ospf", 89),
        ("pim", 103),
        ("vrrp", 112),
        ("l2tp", 115),
        ("sctp", 132),
        ("udplite", 136),
    ];
    NAMES.iter().find(|(n, _)| *n == name).map(|(_, p)| *p).or_else(|| name.parse().ok())
}

/// Imports `inputs` (all of one format) as one policy.
pub fn import(inputs: &[Input], format: Format) -> Result<Imported, ImportError> {
    let mut collect = Collect::default();
    for (i, input) in inputs.iter().enumerate() {
        match format {
            Format::IptablesSave => iptables::import(i, &input.text, input.family, &mut collect)?,
            Format::Nft => nft::import(i, &input.text, false, &mut collect)?,
            Format::NftJson => nft::import(i, &input.text, true, &mut collect)?,
        }
    }
    names_fit(&collect.tables)?;
    let mut policy = Policy {
        defines: Vec::new(),
        tables: merge::merge(collect.tables),
        left_out: collect.left_out,
    };
    let names: Vec<String> = inputs.iter().map(|i| i.name.clone()).collect();
    let text = checked(&mut policy, &names, format)?;
    let (warnings, summary) = account(&policy, &names, collect.notes);
    Ok(Imported { policy: text, warnings, summary })
}

/// Refuses a table or chain name longer than the kernel keeps: no ruleset
/// nft lists holds one, and the policy could not name it either (only a
/// rule can be left out).
fn names_fit(tables: &[model::Table]) -> Result<(), ImportError> {
    use crate::nft::vocab::NAME_MAX;
    let mut names = tables.iter().flat_map(|t| {
        std::iter::once(("table", &t.name)).chain(t.chains.iter().map(|c| ("chain", &c.name)))
    });
    if let Some((what, name)) = names.find(|(_, n)| n.len() > NAME_MAX) {
        let start: String = name.chars().take(20).collect();
        return Err(ImportError::new(format!(
            "{what} name of {} bytes is longer than nftables keeps ({NAME_MAX}): `{start}…` is \
             in no ruleset nft lists",
            name.len()
        )));
    }
    Ok(())
}

/// Renders the policy, leaving out every rule the compiler refuses, and
/// formats it.
fn checked(policy: &mut Policy, names: &[String], format: Format) -> Result<String, ImportError> {
    let header = vec![format!(
        "Imported by `shriekc import` from {} ({} output).",
        names.join(", "),
        format.keyword()
    )];
    // Each round leaves out the rules refused in the round before; a rule
    // refused for a reason of its own cannot cause a new refusal elsewhere
    // more than a few times over.
    for _ in 0..4 {
        let (text, map) = model::render(policy, &header, names);
        let (file, errors) = shriek_grammar::parse(&text);
        let mut refused: Vec<(usize, String)> =
            errors.iter().map(|e| (e.span.start as usize, e.message.clone())).collect();
        if refused.is_empty() {
            let front = crate::resolve::resolve_str("import.shr", &text);
            refused = front
                .diagnostics
                .iter()
                .filter(|d| d.severity == Severity::Error)
                .map(|d| (d.primary.loc.span.start as usize, d.message.clone()))
                .collect();
        }
        if refused.is_empty() {
            return Ok(shriek_grammar::fmt::format(&file, &text));
        }
        let mut targets: BTreeMap<(usize, usize, usize), String> = BTreeMap::new();
        for (offset, message) in refused {
            let line = text[..offset.min(text.len())].matches('\n').count();
            match map.get(line).copied().flatten() {
                Some(ItemRef { table, chain, item }) => {
                    targets.entry((table, chain, item)).or_insert(message);
                }
                None => return Err(internal(&text, line, &message)),
            }
        }
        // Back to front, so that the indices of the earlier items hold.
        for ((t, c, i), message) in targets.into_iter().rev() {
            let items = &mut policy.tables[t].chains[c].items;
            let Item::Rule(rule) = items[i].clone() else { continue };
            if rule.origins.is_empty() {
                return Err(internal(&text, 0, &message));
            }
            let reason = format!("shriek refuses the translation: {message}");
            let reasons = vec![reason];
            let out: Vec<Item> = rule
                .origins
                .into_iter()
                .map(|origin| Item::LeftOut(LeftOut { reasons: reasons.clone(), origin }))
                .collect();
            items.splice(i..=i, out);
        }
    }
    Err(ImportError::new("the imported policy does not compile; this is a bug in `shriekc import`"))
}

fn internal(text: &str, line: usize, message: &str) -> ImportError {
    let at = text.lines().nth(line).unwrap_or("").trim();
    ImportError::new(format!(
        "the imported policy does not compile ({message}, at `{at}`); this is a bug in `shriekc import`"
    ))
}

/// The warnings (one per rule left out) and the summary.
fn account(policy: &Policy, names: &[String], notes: Vec<String>) -> (Vec<Warning>, Summary) {
    let mut left: Vec<&LeftOut> = Vec::new();
    let mut translated = std::collections::BTreeSet::new();
    let mut summary = Summary { tables: policy.tables.len(), notes, ..Summary::default() };
    for t in &policy.tables {
        summary.chains += t.chains.len();
        for c in &t.chains {
            for item in &c.items {
                match item {
                    Item::Rule(r) => translated.extend(r.origins.iter().map(|o| &o.place)),
                    Item::LeftOut(l) => left.push(l),
                }
            }
        }
    }
    summary.rules = translated.len();
    left.extend(policy.left_out.iter());
    left.sort_by(|a, b| a.origin.place.cmp(&b.origin.place));
    // A chain written into several callers repeats its rules left out.
    left.dedup_by(|a, b| a.origin.place == b.origin.place);
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for l in &left {
        for r in &l.reasons {
            *counts.entry(r.as_str()).or_default() += 1;
        }
    }
    let mut reasons: Vec<(String, usize)> =
        counts.into_iter().map(|(r, n)| (r.to_string(), n)).collect();
    reasons.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    summary.left_out = left.len();
    summary.reasons = reasons;
    let warnings = left
        .into_iter()
        .map(|l| Warning {
            place: model::place(&l.origin, names),
            reasons: l.reasons.clone(),
            source: l.origin.text.clone(),
        })
        .collect();
    (warnings, summary)
}
