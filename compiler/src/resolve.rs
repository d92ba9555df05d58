//! Name resolution and typing: AST -> [`ir::Policy`].
//!
//! `load` reads the entry file and its includes through the caller's
//! [`Loader`] (this crate does no IO, `include.rs`), then walks every `define`
//! and `table` in textual order: defines are visible from the line after them,
//! values are read and flattened (`value.rs`) and typed by the match that uses
//! them (`typing.rs`), tables and chains are checked (`chain.rs`), and each
//! rule's matches become one exact [`Space`](crate::space::Space) (`rule.rs`,
//! with translations in `nat.rs`). Every mistake becomes a [`Diagnostic`] of
//! the catalogue [`codes`]; a policy is produced only when there is no error.
//!
//! Errors never cascade: a value that failed once (an undefined `$name`, a
//! define with a bad element) is poisoned and stays silent afterwards.

mod allow;
mod chain;
mod flags;
pub mod codes;
mod include;
pub mod limits;
mod log;
mod nat;
mod reject;
mod rule;
mod source;
mod typing;
mod value;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::rc::Rc;

use shriek_grammar::ast::{self, Item};
use shriek_grammar::{Code, Diagnostic, FileId, Loc, Severity, SourceMap};

use crate::ir;

pub use include::{include_key, MemoryLoader};
pub use limits::{MAX_DEPTH, MAX_FILES};
pub use source::{text_of, LoadError};

use value::Elem;

/// The candidate a misspelt `word` most likely meant: the nearest by edit
/// distance, or one that differs by two swapped neighbours (`inptu`), which
/// plain edit distance counts as two edits.
pub(crate) fn suggest<'c>(
    word: &str,
    candidates: impl IntoIterator<Item = &'c str> + Clone,
) -> Option<&'c str> {
    if let Some(n) = shriek_grammar::diag::nearest(word, candidates.clone()) {
        return Some(n);
    }
    let w: Vec<char> = word.chars().collect();
    candidates
        .into_iter()
        .filter(|c| {
            let c: Vec<char> = c.chars().collect();
            let diff: Vec<usize> = (0..w.len().min(c.len())).filter(|&i| w[i] != c[i]).collect();
            c.len() == w.len()
                && diff.len() == 2
                && diff[1] == diff[0] + 1
                && w[diff[0]] == c[diff[1]]
                && w[diff[1]] == c[diff[0]]
        })
        .min()
}

/// Where `load` gets file text from; the CLI reads the disk, tests use
/// [`MemoryLoader`].
pub trait Loader {
    /// Load `path` as written in an include of `from` (the key of the
    /// including file; `None` for the entry file). Returns a canonical key
    /// (for cycle detection and dedup), a display name and the text, or an
    /// error in plain words that names the path tried. A loader that reads
    /// bytes turns them into text with [`text_of`], which checks them.
    fn load(&mut self, path: &str, from: Option<&str>) -> Result<Loaded, LoadError>;
}

#[derive(Clone, Debug)]
pub struct Loaded {
    pub key: String,
    pub name: String,
    pub text: String,
}

/// Everything the front end produced: the loaded files, their trees, the
/// policy (only when no diagnostic is an error) and every diagnostic, sorted
/// by location.
#[derive(Clone, Debug)]
pub struct Frontend {
    pub sources: SourceMap,
    pub files: Vec<(FileId, ast::File)>,
    pub policy: Option<ir::Policy>,
    pub diagnostics: Vec<Diagnostic>,
}

/// Parse `entry` and its includes and resolve them into a policy.
pub fn load(entry: &str, loader: &mut dyn Loader) -> Frontend {
    let loading = include::Loading::run(entry, loader);
    let include::Loading { sources, files, mut diags, order, .. } = loading;
    let (policy, more) = resolve_items(&sources, &files, &order);
    diags.extend(more);
    let mut seen = HashSet::new();
    diags.retain(|d| seen.insert((d.code, d.primary.loc, d.message.clone())));
    diags.sort_by_key(|d| d.primary.loc);
    let policy = policy.filter(|_| !diags.iter().any(|d| d.severity == Severity::Error));
    Frontend { sources, files, policy, diagnostics: diags }
}

/// Resolve one in-memory file; includes are looked up among no other files.
pub fn resolve_str(name: &str, text: &str) -> Frontend {
    let mut loader = MemoryLoader(BTreeMap::from([(name.to_string(), text.to_string())]));
    load(name, &mut loader)
}

/// The words one keyword position accepts, and the code for any other word.
struct Words<T: 'static> {
    /// What the position is called in messages: "hook", "rate unit".
    what: &'static str,
    code: &'static Code,
    known: &'static [(&'static str, T)],
}

const HOOKS: Words<ir::Hook> = Words {
    what: "hook",
    code: codes::UNKNOWN_HOOK,
    known: &[
        ("prerouting", ir::Hook::Prerouting),
        ("input", ir::Hook::Input),
        ("forward", ir::Hook::Forward),
        ("output", ir::Hook::Output),
        ("postrouting", ir::Hook::Postrouting),
    ],
};
const KINDS: Words<ir::ChainKind> = Words {
    what: "chain type",
    code: codes::UNKNOWN_CHAIN_TYPE,
    known: &[
        ("filter", ir::ChainKind::Filter),
        ("nat", ir::ChainKind::Nat),
        ("route", ir::ChainKind::Route),
    ],
};
const POLICIES: Words<ir::ChainPolicy> = Words {
    what: "chain policy",
    code: codes::UNKNOWN_POLICY,
    known: &[("accept", ir::ChainPolicy::Accept), ("drop", ir::ChainPolicy::Drop)],
};
const RATE_UNITS: Words<ir::RateUnit> = Words {
    what: "rate unit",
    code: codes::UNKNOWN_VALUE,
    known: &[
        ("second", ir::RateUnit::Second),
        ("minute", ir::RateUnit::Minute),
        ("hour", ir::RateUnit::Hour),
        ("day", ir::RateUnit::Day),
    ],
};
/// `per saddr`: whose address a per-address limit or count keeps apart.
const METER_KEYS: Words<ir::MeterKey> = Words {
    what: "`per` address",
    code: codes::UNKNOWN_VALUE,
    known: &[("saddr", ir::MeterKey::Saddr), ("daddr", ir::MeterKey::Daddr)],
};
/// `counters on|off`: per-rule counters, on unless a table or the policy
/// says off.
const COUNTER_SETTINGS: Words<bool> = Words {
    what: "counters setting",
    code: codes::UNKNOWN_VALUE,
    known: &[("on", true), ("off", false)],
};
const BALANCES: Words<ir::Balance> = Words {
    what: "balance mode",
    code: codes::UNKNOWN_VALUE,
    known: &[
        ("round-robin", ir::Balance::RoundRobin),
        ("random", ir::Balance::Random),
        ("source-hash", ir::Balance::SourceHash),
    ],
};

struct Ctx<'a> {
    sources: &'a SourceMap,
    diags: Vec<Diagnostic>,
    /// The first `define` of every name in any file, for "defined later".
    all_defines: HashMap<&'a str, Loc>,
    /// The defines seen so far in textual order.
    defined: HashMap<&'a str, Def>,
    /// The name being defined, so `define a = $a` says what it is.
    defining: Option<Loc>,
    allows: HashMap<FileId, allow::FileAllows>,
    table_names: HashMap<&'a str, Loc>,
    /// Elements flattened so far, for [`limits::MAX_VALUES`].
    values: usize,
    /// Rules read so far, for [`limits::MAX_RULES`].
    rules: usize,
}

struct Def {
    loc: Loc,
    /// `None` when the define's value had an error: its uses stay silent.
    elems: Option<Rc<[Elem]>>,
}

fn resolve_items(
    sources: &SourceMap,
    files: &[(FileId, ast::File)],
    order: &[(usize, usize)],
) -> (Option<ir::Policy>, Vec<Diagnostic>) {
    let mut cx = Ctx {
        sources,
        diags: Vec::new(),
        all_defines: HashMap::new(),
        defined: HashMap::new(),
        defining: None,
        allows: HashMap::new(),
        table_names: HashMap::new(),
        values: 0,
        rules: 0,
    };
    for (id, file) in files {
        let allows = allow::FileAllows::new(*id, sources.get(*id), &file.comments.0, &mut cx.diags);
        cx.allows.insert(*id, allows);
    }
    for &(f, i) in order {
        if let Item::Define(d) = &files[f].1.items[i] {
            cx.all_defines.entry(&d.name.text).or_insert(Loc::new(files[f].0, d.name.span));
        }
    }
    let mut tables = Vec::new();
    // Tables without a `counters` setting of their own, which take the
    // policy's (the last top-level `counters`, in resolution order).
    let mut unset = Vec::new();
    let mut policy_counters = true;
    let mut ok = true;
    for &(f, i) in order {
        let file = files[f].0;
        match &files[f].1.items[i] {
            Item::Define(d) => cx.define(file, d),
            Item::Table(t) => match cx.table(file, t, tables.len() as u32) {
                Some(mut table) => {
                    match &t.counters {
                        Some(c) => match cx.keyword(file, &c.value, &COUNTER_SETTINGS) {
                            Some(on) => table.rule_counters = on,
                            None => ok = false,
                        },
                        None => unset.push(tables.len()),
                    }
                    tables.push(table)
                }
                None => ok = false,
            },
            Item::Counters(c) => match cx.keyword(file, &c.value, &COUNTER_SETTINGS) {
                Some(on) => policy_counters = on,
                None => ok = false,
            },
            Item::Include(_) => {}
        }
    }
    for i in unset {
        tables[i].rule_counters = policy_counters;
    }
    reject::reject_on_postrouting(&tables, &mut cx.diags);
    (ok.then_some(ir::Policy { tables }), cx.diags)
}

impl<'a> Ctx<'a> {
    fn error(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }

    fn text(&self, loc: Loc) -> &'a str {
        self.sources.get(loc.file).slice(loc.span)
    }

    fn define(&mut self, file: FileId, d: &'a ast::Define) {
        let loc = Loc::new(file, d.name.span);
        if let Some(first) = self.defined.get(d.name.text.as_str()) {
            let first = first.loc;
            self.error(
                Diagnostic::new(
                    codes::DUPLICATE_DEFINE,
                    format!("`${}` is defined twice", d.name.text),
                    loc,
                    "defined again here",
                )
                .with_related(first, "first defined here")
                .with_help("rename one of them or remove one"),
            );
            return;
        }
        self.defining = Some(loc);
        let mut out = Vec::new();
        let ok = self.flatten(file, &d.value, &mut out);
        self.defining = None;
        let elems = ok.then(|| out.into_iter().map(|(e, _)| e).collect());
        self.defined.insert(&d.name.text, Def { loc, elems });
    }

    /// Look a keyword up, with a did-you-mean when it is unknown.
    fn keyword<T: Copy>(&mut self, file: FileId, word: &ast::Ident, words: &Words<T>) -> Option<T> {
        if let Some((_, v)) = words.known.iter().find(|(k, _)| *k == word.text) {
            return Some(*v);
        }
        let what = words.what;
        let names = words.known.iter().map(|(k, _)| *k);
        let help = match suggest(&word.text, names.clone()) {
            Some(n) => format!("did you mean `{n}`?"),
            None => {
                let list: Vec<String> = names.map(|w| format!("`{w}`")).collect();
                format!("expected one of {}", list.join(", "))
            }
        };
        self.error(
            Diagnostic::new(
                words.code,
                format!("unknown {what} `{}`", word.text),
                Loc::new(file, word.span),
                format!("not a {what}"),
            )
            .with_help(help),
        );
        None
    }
}
