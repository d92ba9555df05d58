//! Name resolution and typing: AST -> [`ir::Policy`].
//!
//! `load` reads the entry file and its includes through the caller's
//! [`Loader`] (this crate does no IO), then walks every `define` and `table`
//! in textual order: defines are visible from the line after them, values are
//! flattened and typed by the match that uses them, and each rule's matches
//! become one exact [`Space`](crate::space::Space). Every mistake becomes a
//! [`Diagnostic`]; a policy is produced only when there is no error.
//!
//! Errors never cascade: a value that failed once (an undefined `$name`, a
//! define with a bad element) is poisoned and stays silent afterwards.
//!
//! Codes reported here (all errors):
//!
//! | code  | name                     | meaning |
//! |-------|--------------------------|---------|
//! | E0201 | `undefined-name`         | a `$name` no define gives |
//! | E0202 | `defined-later`          | a `$name` used above its define (or inside it) |
//! | E0203 | `duplicate-define`       | a name defined twice |
//! | E0204 | `include-not-found`      | the loader could not give an included (or the entry) file |
//! | E0205 | `include-cycle`          | a file includes itself through other files |
//! | E0206 | `include-too-deep`       | includes nest deeper than [`MAX_DEPTH`] files |
//! | E0207 | `too-many-files`         | a policy loads more than [`MAX_FILES`] files |
//! | E0208 | `duplicate-table`        | two tables with one name |
//! | E0209 | `duplicate-chain`        | two chains with one name in a table |
//! | E0210 | `unknown-chain`          | a `jump`/`goto` to no chain of the table |
//! | E0211 | `jump-to-base-chain`     | a `jump`/`goto` to a chain with a hook |
//! | E0212 | `unknown-hook`           | a hook other than prerouting, input, forward, output, postrouting |
//! | E0213 | `unknown-policy`         | a chain policy other than accept, drop |
//! | E0214 | `unknown-chain-type`     | a chain type other than filter, nat, route |
//! | E0215 | `missing-hook`           | `type`, `policy` or `priority` on a chain without a hook |
//! | E0216 | `nat-outside-nat-chain`  | a NAT statement outside a `type nat` chain |
//! | E0217 | `invalid-chain-type`     | `type nat` on forward, `type route` off output |
//! | E0218 | `type-mismatch`          | a value of the wrong kind for its match |
//! | E0219 | `host-bits-set`          | a prefix with bits set after its length |
//! | E0220 | `value-out-of-range`     | a port, protocol, priority, burst or weight too large |
//! | E0221 | `reversed-range`         | a range whose start is above its end |
//! | E0222 | `mixed-family-range`     | a range from an IPv4 to an IPv6 address |
//! | E0223 | `unknown-value`          | an unknown protocol, service, conntrack state, family, rate unit or balance mode |
//! | E0224 | `invalid-interface-name` | an interface name empty or over 15 bytes |
//! | E0225 | `multiple-verdicts`      | two verdicts in one rule |
//! | E0226 | `statement-after-verdict`| anything after a verdict or NAT statement |
//! | E0227 | `zero-rate`              | `limit 0/...` |
//! | E0228 | `invalid-counter-name`   | a counter name that is not an identifier, or over 64 bytes |
//! | E0229 | `malformed-allow`        | a `# shriek:` comment not of the form `allow(NAME) reason="..."` |
//! | E0230 | `unknown-finding`        | an allow naming no finding |
//! | E0231 | `invalid-prefix`         | a prefix length beyond the address width |
//! | E0232 | `invalid-range`          | a range whose ends are not two numbers or two addresses |
//! | E0233 | `match-after-statement`  | a match written after a statement |
//! | E0234 | `nat-wrong-hook`         | a NAT statement on a hook where the kernel refuses it |
//! | E0235 | `invalid-nat-target`     | a NAT target that is not one address, or a bad weight |

mod allow;
mod include;
mod value;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::IpAddr;
use std::rc::Rc;

use shriek_grammar::ast::{self, AtomKind, Item, StmtKind, Term};
use shriek_grammar::{Diagnostic, FileId, Loc, Severity, SourceMap, Span};

use crate::ir;
use crate::space::{Cube, Family};

pub use allow::FINDINGS;
pub use include::{MemoryLoader, MAX_DEPTH, MAX_FILES};

use value::{AddrShape, Elem, ElemKind, VarUse};

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
    /// error in plain words that names the path tried.
    fn load(&mut self, path: &str, from: Option<&str>) -> Result<Loaded, String>;
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

const HOOKS: &[(&str, ir::Hook)] = &[
    ("prerouting", ir::Hook::Prerouting),
    ("input", ir::Hook::Input),
    ("forward", ir::Hook::Forward),
    ("output", ir::Hook::Output),
    ("postrouting", ir::Hook::Postrouting),
];
const KINDS: &[(&str, ir::ChainKind)] = &[
    ("filter", ir::ChainKind::Filter),
    ("nat", ir::ChainKind::Nat),
    ("route", ir::ChainKind::Route),
];
const POLICIES: &[(&str, ir::ChainPolicy)] =
    &[("accept", ir::ChainPolicy::Accept), ("drop", ir::ChainPolicy::Drop)];
const RATE_UNITS: &[(&str, ir::RateUnit)] = &[
    ("second", ir::RateUnit::Second),
    ("minute", ir::RateUnit::Minute),
    ("hour", ir::RateUnit::Hour),
    ("day", ir::RateUnit::Day),
];
const BALANCES: &[(&str, ir::Balance)] = &[
    ("round-robin", ir::Balance::RoundRobin),
    ("random", ir::Balance::Random),
    ("source-hash", ir::Balance::SourceHash),
];

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
}

struct Def {
    loc: Loc,
    /// `None` when the define's value had an error: its uses stay silent.
    elems: Option<Rc<[Elem]>>,
}

/// What a chain's rules need to know about it.
struct ChainCx<'c> {
    table: &'c str,
    chain: &'c str,
    file: FileId,
    base: Option<(Option<ir::Hook>, Option<ir::ChainKind>)>,
    /// Chains of the table by name: id and whether it is a base chain.
    chains: &'c HashMap<&'c str, (ir::ChainId, bool)>,
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
    let mut ok = true;
    for &(f, i) in order {
        let file = files[f].0;
        match &files[f].1.items[i] {
            Item::Define(d) => cx.define(file, d),
            Item::Table(t) => match cx.table(file, t, tables.len() as u32) {
                Some(t) => tables.push(t),
                None => ok = false,
            },
            Item::Include(_) => {}
        }
    }
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
                Diagnostic::error(
                    "E0203",
                    "duplicate-define",
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

    /// Flatten a value into elements, reporting its intrinsic mistakes.
    /// Returns false when some part failed.
    fn flatten(
        &mut self,
        file: FileId,
        value: &'a ast::Value,
        out: &mut Vec<(Elem, Option<Rc<VarUse>>)>,
    ) -> bool {
        match value {
            ast::Value::Atom(a) => match self.atom(file, a) {
                Some(kind) => {
                    out.push((Elem { kind, loc: Loc::new(file, a.span) }, None));
                    true
                }
                None => false,
            },
            ast::Value::Range(a, b, span) => match self.range(file, a, b, *span) {
                Some(kind) => {
                    out.push((Elem { kind, loc: Loc::new(file, *span) }, None));
                    true
                }
                None => false,
            },
            ast::Value::Set(items, _) => {
                let mut ok = true;
                for v in items {
                    ok &= self.flatten(file, v, out);
                }
                ok
            }
            ast::Value::Var(id) => {
                let name = id.text.strip_prefix('$').unwrap_or(&id.text);
                let use_loc = Loc::new(file, id.span);
                match self.defined.get(name) {
                    Some(Def { loc, elems: Some(elems) }) => {
                        let via =
                            Rc::new(VarUse { name: name.to_string(), use_loc, def_loc: *loc });
                        out.extend(elems.iter().map(|e| (e.clone(), Some(via.clone()))));
                        true
                    }
                    Some(Def { elems: None, .. }) => false,
                    None => {
                        self.undefined(name, use_loc);
                        false
                    }
                }
            }
        }
    }

    fn undefined(&mut self, name: &str, at: Loc) {
        let d = match self.all_defines.get(name) {
            Some(&def) if Some(def) == self.defining => Diagnostic::error(
                "E0202",
                "defined-later",
                format!("`${name}` refers to itself"),
                at,
                "used in its own definition",
            )
            .with_help("a define can only use defines written above it"),
            Some(&def) => {
                let (line, _) = self.sources.get(def.file).line_col(def.span.start);
                Diagnostic::error(
                    "E0202",
                    "defined-later",
                    format!("`${name}` is used before its definition"),
                    at,
                    format!("`${name}` is defined later, at line {line}"),
                )
                .with_related(def, "defined here")
                .with_help(format!("move the define of `${name}` above its first use"))
            }
            None => {
                let mut d = Diagnostic::error(
                    "E0201",
                    "undefined-name",
                    format!("undefined name `${name}`"),
                    at,
                    "not defined",
                );
                if let Some(n) = suggest(name, self.all_defines.keys().copied()) {
                    d.help = Some(format!("did you mean `${n}`?"));
                } else {
                    d.help = Some(format!("add `define {name} = ...` above this line"));
                }
                d
            }
        };
        self.error(d);
    }

    fn atom(&mut self, file: FileId, a: &ast::Atom) -> Option<ElemKind> {
        let loc = Loc::new(file, a.span);
        Some(match &a.kind {
            AtomKind::Ipv4(ip) => {
                let v = u32::from(*ip) as u128;
                ElemKind::Addr { family: Family::V4, lo: v, hi: v, shape: AddrShape::Single }
            }
            AtomKind::Ipv6(ip) => {
                let v = u128::from(*ip);
                ElemKind::Addr { family: Family::V6, lo: v, hi: v, shape: AddrShape::Single }
            }
            AtomKind::Prefix4(ip, len) => {
                let (lo, hi) = self.prefix(loc, Family::V4, u32::from(*ip) as u128, *len, |v| {
                    std::net::Ipv4Addr::from(v as u32).to_string()
                })?;
                ElemKind::Addr { family: Family::V4, lo, hi, shape: AddrShape::Prefix }
            }
            AtomKind::Prefix6(ip, len) => {
                let (lo, hi) = self.prefix(loc, Family::V6, u128::from(*ip), *len, |v| {
                    std::net::Ipv6Addr::from(v).to_string()
                })?;
                ElemKind::Addr { family: Family::V6, lo, hi, shape: AddrShape::Prefix }
            }
            AtomKind::Number(n) => ElemKind::Num { lo: *n, hi: *n },
            AtomKind::Name(s) => ElemKind::Name(s.clone()),
            AtomKind::Str(s) => ElemKind::Str(s.clone()),
        })
    }

    /// The range a prefix covers; host bits set are an error, with the fix.
    fn prefix(
        &mut self,
        loc: Loc,
        family: Family,
        addr: u128,
        len: u8,
        show: impl Fn(u128) -> String,
    ) -> Option<(u128, u128)> {
        let width: u32 = match family {
            Family::V4 => 32,
            Family::V6 => 128,
        };
        if u32::from(len) > width {
            let fam = if family == Family::V4 { "IPv4" } else { "IPv6" };
            self.error(
                Diagnostic::error(
                    "E0231",
                    "invalid-prefix",
                    format!("prefix length {len} is too long for an {fam} address"),
                    loc,
                    format!("at most /{width}"),
                )
                .with_help(format!("{fam} prefixes go from /0 to /{width}")),
            );
            return None;
        }
        let host_bits = u32::from(len).abs_diff(width);
        let host_mask = if host_bits == 128 { u128::MAX } else { (1u128 << host_bits) - 1 };
        let lo = addr & !host_mask;
        let hi = lo | host_mask;
        if lo != addr {
            self.error(
                Diagnostic::error(
                    "E0219",
                    "host-bits-set",
                    format!("prefix `{}` has host bits set", self.text(loc)),
                    loc,
                    format!("the bits after the first {len} must be zero"),
                )
                .with_help(format!("did you mean `{}/{len}`?", show(lo))),
            );
        }
        Some((lo, hi))
    }

    fn range(
        &mut self,
        file: FileId,
        a: &ast::Atom,
        b: &ast::Atom,
        span: Span,
    ) -> Option<ElemKind> {
        let loc = Loc::new(file, span);
        let ends = (self.atom(file, a)?, self.atom(file, b)?);
        let (lo, hi, kind) = match ends {
            (ElemKind::Num { lo, .. }, ElemKind::Num { hi, .. }) => {
                (lo as u128, hi as u128, ElemKind::Num { lo, hi })
            }
            (
                ElemKind::Addr { family: fa, lo, shape: AddrShape::Single, .. },
                ElemKind::Addr { family: fb, hi, shape: AddrShape::Single, .. },
            ) if fa == fb => {
                (lo, hi, ElemKind::Addr { family: fa, lo, hi, shape: AddrShape::Range })
            }
            (
                ElemKind::Addr { family: fa, shape: AddrShape::Single, .. },
                ElemKind::Addr { shape: AddrShape::Single, .. },
            ) => {
                let (x, y) = if fa == Family::V4 { ("IPv4", "IPv6") } else { ("IPv6", "IPv4") };
                self.error(
                    Diagnostic::error(
                        "E0222",
                        "mixed-family-range",
                        "a range cannot go from one address family to another",
                        loc,
                        format!("from an {x} to an {y} address"),
                    )
                    .with_help("write one range per family, in a set: `{ a-b, c-d }`"),
                );
                return None;
            }
            _ => {
                self.error(
                    Diagnostic::error(
                        "E0232",
                        "invalid-range",
                        format!("`{}` is not a range of numbers or of addresses", self.text(loc)),
                        loc,
                        "both ends must be numbers, or addresses of one family",
                    )
                    .with_help("write ranges as `1000-2000` or `10.0.0.1-10.0.0.9`"),
                );
                return None;
            }
        };
        if lo > hi {
            let (ta, tb) = (self.text(Loc::new(file, a.span)), self.text(Loc::new(file, b.span)));
            self.error(
                Diagnostic::error(
                    "E0221",
                    "reversed-range",
                    format!("range `{}` goes from high to low", self.text(loc)),
                    loc,
                    "its start is above its end",
                )
                .with_help(format!("did you mean `{tb}-{ta}`?")),
            );
            return None;
        }
        Some(kind)
    }

    fn table(&mut self, file: FileId, t: &'a ast::Table, index: u32) -> Option<ir::Table> {
        let loc = Loc::new(file, t.name.span);
        let mut ok = true;
        if let Some(&first) = self.table_names.get(t.name.text.as_str()) {
            self.error(
                Diagnostic::error(
                    "E0208",
                    "duplicate-table",
                    format!("table `{}` is defined twice", t.name.text),
                    loc,
                    "defined again here",
                )
                .with_related(first, "first defined here")
                .with_help("merge the two tables or rename one"),
            );
            ok = false;
        } else {
            self.table_names.insert(&t.name.text, loc);
        }
        let mut chains: HashMap<&str, (ir::ChainId, bool)> = HashMap::new();
        let mut chain_locs: HashMap<&str, Loc> = HashMap::new();
        let mut unique = Vec::new();
        for c in &t.chains {
            let cloc = Loc::new(file, c.name.span);
            if let Some(&first) = chain_locs.get(c.name.text.as_str()) {
                self.error(
                    Diagnostic::error(
                        "E0209",
                        "duplicate-chain",
                        format!(
                            "chain `{}` is defined twice in table `{}`",
                            c.name.text, t.name.text
                        ),
                        cloc,
                        "defined again here",
                    )
                    .with_related(first, "first defined here")
                    .with_help("merge the two chains or rename one"),
                );
                ok = false;
                unique.push(false);
                continue;
            }
            chain_locs.insert(&c.name.text, cloc);
            chains.insert(&c.name.text, (ir::ChainId(chains.len() as u32), c.hook.is_some()));
            unique.push(true);
        }
        let mut out =
            ir::Table { name: t.name.text.clone(), loc, chains: Vec::new(), counters: Vec::new() };
        let mut counter_index: HashMap<String, usize> = HashMap::new();
        for (c, is_unique) in t.chains.iter().zip(unique) {
            let id = ir::ChainId(out.chains.len() as u32);
            let chain = self.chain(
                file,
                &t.name.text,
                c,
                &chains,
                index,
                id,
                &mut out.counters,
                &mut counter_index,
            );
            match chain {
                Some(chain) if is_unique => out.chains.push(chain),
                _ => ok = false,
            }
        }
        ok.then_some(out)
    }

    #[allow(clippy::too_many_arguments)]
    fn chain(
        &mut self,
        file: FileId,
        table: &str,
        c: &'a ast::Chain,
        chains: &HashMap<&str, (ir::ChainId, bool)>,
        table_index: u32,
        id: ir::ChainId,
        counters: &mut Vec<ir::CounterDecl>,
        counter_index: &mut HashMap<String, usize>,
    ) -> Option<ir::Chain> {
        let mut ok = true;
        let hook = c.hook.as_ref().map(|h| self.keyword(file, h, "hook", HOOKS));
        let kind = c.kind.as_ref().map(|k| self.keyword(file, k, "chain type", KINDS));
        let policy = c.policy.as_ref().map(|p| self.keyword(file, p, "chain policy", POLICIES));
        for part in
            [hook.map(|h| h.is_some()), kind.map(|k| k.is_some()), policy.map(|p| p.is_some())]
        {
            ok &= part != Some(false);
        }
        let priority = match c.priority {
            Some(p) => match i32::try_from(p.node) {
                Ok(v) => Some(v),
                Err(_) => {
                    self.error(
                        Diagnostic::error(
                            "E0220",
                            "value-out-of-range",
                            format!("priority {} is out of range", p.node),
                            Loc::new(file, p.span),
                            "too large for a chain priority",
                        )
                        .with_help("priorities are 32-bit signed numbers; the usual ones lie between -400 and 400"),
                    );
                    ok = false;
                    None
                }
            },
            None => None,
        };
        if hook.is_none() {
            let clause = [
                c.kind.as_ref().map(|k| (k.span, format!("type {}", k.text))),
                c.policy.as_ref().map(|p| (p.span, format!("policy {}", p.text))),
                c.priority.map(|p| (p.span, format!("priority {}", p.node))),
            ]
            .into_iter()
            .flatten()
            .min_by_key(|(s, _)| *s);
            if let Some((span, text)) = clause {
                self.error(
                    Diagnostic::error(
                        "E0215",
                        "missing-hook",
                        format!("chain `{}` has `{text}` but no hook", c.name.text),
                        Loc::new(file, span),
                        "only base chains take this",
                    )
                    .with_help(format!(
                        "add `hook input` (or another hook) to make `{}` a base chain, or remove `{text}`",
                        c.name.text
                    )),
                );
                ok = false;
            }
        }
        let hook = hook.flatten();
        let kind = kind.flatten();
        if let (Some(h), Some(k), Some(kident)) = (hook, kind, c.kind.as_ref()) {
            let bad = match k {
                ir::ChainKind::Nat if h == ir::Hook::Forward => Some((
                    "`type nat` cannot be used on the forward hook",
                    "translate destinations in prerouting (dnat) and sources in postrouting (snat)",
                )),
                ir::ChainKind::Route if h != ir::Hook::Output => Some((
                    "`type route` only works on the output hook",
                    "use `type filter` here, or `hook output`",
                )),
                _ => None,
            };
            if let Some((msg, help)) = bad {
                self.error(
                    Diagnostic::error(
                        "E0217",
                        "invalid-chain-type",
                        msg,
                        Loc::new(file, kident.span),
                        format!("on hook `{}`", h.keyword()),
                    )
                    .with_help(help),
                );
                ok = false;
            }
        }
        let cx = ChainCx {
            table,
            chain: &c.name.text,
            file,
            base: c.hook.as_ref().map(|_| (hook, kind.or(Some(ir::ChainKind::Filter)))),
            chains,
        };
        let mut rules = Vec::with_capacity(c.rules.len());
        for (i, r) in c.rules.iter().enumerate() {
            let rid = ir::RuleId { table: table_index, chain: id, index: i as u32 };
            match self.rule(&cx, r, rid, counters, counter_index) {
                Some(rule) => rules.push(rule),
                None => ok = false,
            }
        }
        if !ok {
            return None;
        }
        let base = match hook {
            Some(hook) => {
                let kind = kind.unwrap_or(ir::ChainKind::Filter);
                let default_priority = match (kind, hook) {
                    (ir::ChainKind::Nat, ir::Hook::Prerouting | ir::Hook::Output) => -100,
                    (ir::ChainKind::Nat, _) => 100,
                    _ => 0,
                };
                Some(ir::BaseChain {
                    hook,
                    kind,
                    priority: priority.unwrap_or(default_priority),
                    policy: policy.flatten().unwrap_or(ir::ChainPolicy::Accept),
                })
            }
            None => None,
        };
        Some(ir::Chain {
            name: c.name.text.clone(),
            loc: Loc::new(file, c.header_span),
            base,
            rules,
        })
    }

    /// Look a keyword up in a table, with a did-you-mean when it is unknown.
    fn keyword<T: Copy>(
        &mut self,
        file: FileId,
        word: &ast::Ident,
        what: &str,
        known: &[(&str, T)],
    ) -> Option<T> {
        if let Some((_, v)) = known.iter().find(|(k, _)| *k == word.text) {
            return Some(*v);
        }
        let (code, name) = match what {
            "hook" => ("E0212", "unknown-hook"),
            "chain policy" => ("E0213", "unknown-policy"),
            "chain type" => ("E0214", "unknown-chain-type"),
            _ => ("E0223", "unknown-value"),
        };
        let words: Vec<&str> = known.iter().map(|(k, _)| *k).collect();
        let help = match suggest(&word.text, words.iter().copied()) {
            Some(n) => format!("did you mean `{n}`?"),
            None => {
                let list: Vec<String> = words.iter().map(|w| format!("`{w}`")).collect();
                format!("expected one of {}", list.join(", "))
            }
        };
        self.error(
            Diagnostic::error(
                code,
                name,
                format!("unknown {what} `{}`", word.text),
                Loc::new(file, word.span),
                format!("not a {what}"),
            )
            .with_help(help),
        );
        None
    }

    fn rule(
        &mut self,
        cx: &ChainCx,
        r: &'a ast::Rule,
        id: ir::RuleId,
        counters: &mut Vec<ir::CounterDecl>,
        counter_index: &mut HashMap<String, usize>,
    ) -> Option<ir::Rule> {
        let file = cx.file;
        let mut ok = true;
        let mut space = vec![Cube::full()];
        let mut actions = Vec::new();
        let mut verdict = None;
        let mut verdict_loc = None;
        // The statement that decided the packet (a verdict or NAT), if any yet.
        let mut decided: Option<(Loc, bool)> = None;
        let mut first_stmt: Option<Loc> = None;
        let mut reported_order = false;
        for term in &r.terms {
            let tloc = Loc::new(file, term.span());
            if let Some((dloc, is_verdict)) = decided {
                if !reported_order {
                    reported_order = true;
                    ok = false;
                    let is_second_verdict =
                        matches!(term, Term::Stmt(ast::Stmt { kind: StmtKind::Verdict(_), .. }));
                    let d = if is_second_verdict && is_verdict {
                        Diagnostic::error(
                            "E0225",
                            "multiple-verdicts",
                            "a rule can have only one verdict",
                            tloc,
                            "second verdict",
                        )
                        .with_related(dloc, "first verdict")
                        .with_help("split the rule in two, or remove one verdict")
                    } else {
                        let what =
                            if is_verdict { "the verdict" } else { "the address translation" };
                        Diagnostic::error(
                            "E0226",
                            "statement-after-verdict",
                            format!("nothing can follow `{}` in a rule", self.text(dloc)),
                            tloc,
                            format!("this comes after {what}"),
                        )
                        .with_related(dloc, "the rule decides here")
                        .with_help(format!(
                            "move `{}` before `{}`",
                            self.text(tloc),
                            self.text(dloc)
                        ))
                    };
                    self.error(d);
                }
                continue;
            }
            match term {
                Term::Match(m) => {
                    if let Some(sloc) = first_stmt {
                        if !reported_order {
                            reported_order = true;
                            ok = false;
                            self.error(
                                Diagnostic::error(
                                    "E0233",
                                    "match-after-statement",
                                    "matches must come before statements",
                                    tloc,
                                    "this match comes after a statement",
                                )
                                .with_related(sloc, "first statement")
                                .with_help(format!(
                                    "move `{}` before `{}`",
                                    self.text(tloc),
                                    self.text(sloc)
                                )),
                            );
                        }
                    }
                    match self.match_space(file, m) {
                        Some(cubes) => space = value::intersect(&space, &cubes),
                        None => ok = false,
                    }
                }
                Term::Stmt(s) => {
                    first_stmt.get_or_insert(tloc);
                    match &s.kind {
                        StmtKind::Verdict(v) => {
                            decided = Some((tloc, true));
                            verdict_loc = Some(tloc);
                            match self.verdict(cx, v) {
                                Some(v) => verdict = Some(v),
                                None => ok = false,
                            }
                        }
                        StmtKind::Counter(name) => {
                            let name = name.as_ref().map(|n| {
                                ok &= self.counter_name(file, n, counters, counter_index);
                                n.text.clone()
                            });
                            actions.push(ir::Action::Counter(name));
                        }
                        StmtKind::Log { prefix } => actions.push(ir::Action::Log {
                            prefix: prefix.as_ref().map(|p| p.node.clone()),
                        }),
                        StmtKind::Limit { rate, per, burst } => {
                            match self.limit(file, rate, per, burst) {
                                Some(l) => actions.push(ir::Action::Limit(l)),
                                None => ok = false,
                            }
                        }
                        StmtKind::Dnat(_)
                        | StmtKind::Snat(_)
                        | StmtKind::Masquerade
                        | StmtKind::Redirect(_) => {
                            decided = Some((tloc, false));
                            match self.nat(cx, s) {
                                Some(n) => actions.push(ir::Action::Nat(n)),
                                None => ok = false,
                            }
                        }
                    }
                }
            }
        }
        let allows = {
            let source = self.sources.get(file);
            let first = source.line_col(r.span.start).0;
            let last = source.line_col(r.span.end.saturating_sub(1).max(r.span.start)).0;
            self.allows.get(&file).map(|a| a.for_rule(first, last)).unwrap_or_default()
        };
        ok.then(|| ir::Rule {
            id,
            loc: Loc::new(file, r.span),
            space,
            actions,
            verdict,
            verdict_loc,
            allows,
        })
    }

    fn match_space(&mut self, file: FileId, m: &'a ast::Match) -> Option<Vec<Cube>> {
        let mut elems = Vec::new();
        if !self.flatten(file, &m.value, &mut elems) {
            return None;
        }
        let typed = value::type_elems(m.field.node, &elems, self.sources, &mut self.diags)?;
        Some(value::cubes(m.field.node, m.negated.is_some(), typed))
    }

    fn verdict(&mut self, cx: &ChainCx, v: &ast::Verdict) -> Option<ir::Verdict> {
        let (target, goto) = match v {
            ast::Verdict::Accept => return Some(ir::Verdict::Accept),
            ast::Verdict::Drop => return Some(ir::Verdict::Drop),
            ast::Verdict::Reject => return Some(ir::Verdict::Reject),
            ast::Verdict::Return => return Some(ir::Verdict::Return),
            ast::Verdict::Jump(t) => (t, false),
            ast::Verdict::Goto(t) => (t, true),
        };
        let loc = Loc::new(cx.file, target.span);
        let word = if goto { "goto" } else { "jump" };
        match cx.chains.get(target.text.as_str()) {
            Some(&(_, true)) => {
                self.error(
                    Diagnostic::error(
                        "E0211",
                        "jump-to-base-chain",
                        if goto {
                            format!("cannot `goto` base chain `{}`", target.text)
                        } else {
                            format!("cannot `jump` to base chain `{}`", target.text)
                        },
                        loc,
                        "this chain has a hook",
                    )
                    .with_help(format!(
                        "base chains are entered from their hook; `{word}` to a chain without `hook`"
                    )),
                );
                None
            }
            Some(&(id, false)) => {
                Some(if goto { ir::Verdict::Goto(id) } else { ir::Verdict::Jump(id) })
            }
            None => {
                let mut d = Diagnostic::error(
                    "E0210",
                    "unknown-chain",
                    format!("no chain `{}` in table `{}`", target.text, cx.table),
                    loc,
                    "unknown chain",
                );
                let names = cx.chains.keys().copied().filter(|n| *n != cx.chain);
                d.help = Some(match suggest(&target.text, names) {
                    Some(n) => format!("did you mean `{n}`?"),
                    None => {
                        format!("add `chain {} {{ ... }}` to table `{}`", target.text, cx.table)
                    }
                });
                self.error(d);
                None
            }
        }
    }

    fn counter_name(
        &mut self,
        file: FileId,
        name: &ast::Ident,
        counters: &mut Vec<ir::CounterDecl>,
        index: &mut HashMap<String, usize>,
    ) -> bool {
        let loc = Loc::new(file, name.span);
        let mut chars = name.text.chars();
        let valid = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        let problem = if !valid {
            Some((
                format!("`{}` is not a valid counter name", name.text),
                "start with a letter or `_`, then use only letters, digits, `_` and `-`",
            ))
        } else if name.text.len() > 64 {
            Some((
                format!("counter name `{}` is longer than 64 bytes", name.text),
                "use a shorter name",
            ))
        } else {
            None
        };
        if let Some((message, help)) = problem {
            self.error(
                Diagnostic::error("E0228", "invalid-counter-name", message, loc, "invalid name")
                    .with_help(help),
            );
            return false;
        }
        if !index.contains_key(&name.text) {
            index.insert(name.text.clone(), counters.len());
            counters.push(ir::CounterDecl { name: name.text.clone(), loc });
        }
        true
    }

    fn limit(
        &mut self,
        file: FileId,
        rate: &ast::Spanned<u64>,
        per: &ast::Ident,
        burst: &Option<ast::Spanned<u64>>,
    ) -> Option<ir::Limit> {
        let mut ok = true;
        if rate.node == 0 {
            self.error(
                Diagnostic::error(
                    "E0227",
                    "zero-rate",
                    "a limit of 0 never holds",
                    Loc::new(file, rate.span),
                    "rate 0",
                )
                .with_help("give a rate above 0, or use `drop` to stop every packet"),
            );
            ok = false;
        }
        let unit = self.keyword(file, per, "rate unit", RATE_UNITS);
        let burst = match burst {
            Some(b) => match u32::try_from(b.node) {
                Ok(v) => Some(v),
                Err(_) => {
                    self.out_of_range(Loc::new(file, b.span), "burst", b.node, u32::MAX as u64);
                    ok = false;
                    None
                }
            },
            None => None,
        };
        let per = unit?;
        ok.then_some(ir::Limit { rate: rate.node, per, burst })
    }

    fn out_of_range(&mut self, loc: Loc, what: &str, value: u64, max: u64) {
        self.error(
            Diagnostic::error(
                "E0220",
                "value-out-of-range",
                format!("{what} {value} is out of range"),
                loc,
                format!("at most {max}"),
            )
            .with_help(format!("a {what} goes from 0 to {max}")),
        );
    }

    fn port(&mut self, file: FileId, p: &Option<ast::Spanned<u64>>) -> Result<Option<u16>, ()> {
        match p {
            None => Ok(None),
            Some(p) => match u16::try_from(p.node) {
                Ok(v) => Ok(Some(v)),
                Err(_) => {
                    self.out_of_range(Loc::new(file, p.span), "port", p.node, 65535);
                    Err(())
                }
            },
        }
    }

    fn nat(&mut self, cx: &ChainCx, s: &'a ast::Stmt) -> Option<ir::Nat> {
        let file = cx.file;
        let loc = Loc::new(file, s.span);
        let (word, hooks): (&str, &[ir::Hook]) = match &s.kind {
            StmtKind::Dnat(_) => ("dnat", &[ir::Hook::Prerouting, ir::Hook::Output]),
            StmtKind::Redirect(_) => ("redirect", &[ir::Hook::Prerouting, ir::Hook::Output]),
            StmtKind::Snat(_) => ("snat", &[ir::Hook::Postrouting, ir::Hook::Input]),
            _ => ("masquerade", &[ir::Hook::Postrouting]),
        };
        let mut ok = true;
        match cx.base {
            Some((hook, Some(ir::ChainKind::Nat))) => {
                if let Some(h) = hook.filter(|h| !hooks.contains(h)) {
                    let list: Vec<&str> = hooks.iter().map(|h| h.keyword()).collect();
                    self.error(
                        Diagnostic::error(
                            "E0234",
                            "nat-wrong-hook",
                            format!("`{word}` does not work on the {} hook", h.keyword()),
                            loc,
                            format!("in a chain on hook `{}`", h.keyword()),
                        )
                        .with_help(format!("`{word}` works on the {} hooks", list.join(" and "))),
                    );
                    ok = false;
                }
            }
            Some(_) => {
                self.error(
                    Diagnostic::error(
                        "E0216",
                        "nat-outside-nat-chain",
                        format!("`{word}` needs a chain with `type nat`"),
                        loc,
                        format!("chain `{}` is a filter chain", cx.chain),
                    )
                    .with_help(format!("add `type nat` to chain `{}`", cx.chain)),
                );
                ok = false;
            }
            None => {
                self.error(
                    Diagnostic::error(
                        "E0216",
                        "nat-outside-nat-chain",
                        format!("`{word}` needs a chain with `type nat`"),
                        loc,
                        format!("chain `{}` is a regular chain", cx.chain),
                    )
                    .with_help(format!(
                        "translate in a base chain with `type nat`, such as `hook {} type nat`",
                        hooks[0].keyword()
                    )),
                );
                ok = false;
            }
        }
        let nat = match &s.kind {
            StmtKind::Dnat(ast::NatTarget::One(b)) => {
                let b = self.backend(file, b, false)?;
                ir::Nat::Dnat { backends: vec![b], balance: None }
            }
            StmtKind::Dnat(ast::NatTarget::Balance { backends, mode, .. }) => {
                let balance = self.keyword(file, mode, "balance mode", BALANCES);
                let mut out = Vec::new();
                for b in backends {
                    match self.backend(file, b, true) {
                        Some(b) => out.push(b),
                        None => ok = false,
                    }
                }
                ir::Nat::Dnat { backends: out, balance: Some(balance?) }
            }
            StmtKind::Snat(ast::NatTarget::One(b)) => {
                let b = self.backend(file, b, false)?;
                ir::Nat::Snat { addr: b.addr, port: b.port }
            }
            StmtKind::Snat(ast::NatTarget::Balance { span, .. }) => {
                self.error(
                    Diagnostic::error(
                        "E0235",
                        "invalid-nat-target",
                        "`snat` takes one address",
                        Loc::new(file, *span),
                        "a set of backends",
                    )
                    .with_help("write `snat to ADDR`; only `dnat` balances over backends"),
                );
                return None;
            }
            StmtKind::Redirect(p) => match self.port(file, &Some(*p)) {
                Ok(Some(port)) => ir::Nat::Redirect { port },
                _ => return None,
            },
            _ => ir::Nat::Masquerade,
        };
        ok.then_some(nat)
    }

    fn backend(
        &mut self,
        file: FileId,
        b: &'a ast::Backend,
        weighted: bool,
    ) -> Option<ir::NatBackend> {
        let loc = Loc::new(file, b.span);
        let mut elems = Vec::new();
        if !self.flatten(file, &b.addr, &mut elems) {
            return None;
        }
        let addr = match elems.as_slice() {
            [(Elem { kind: ElemKind::Addr { family, lo, shape: AddrShape::Single, .. }, .. }, _)] => {
                match family {
                    Family::V4 => IpAddr::from(std::net::Ipv4Addr::from(*lo as u32)),
                    Family::V6 => IpAddr::from(std::net::Ipv6Addr::from(*lo)),
                }
            }
            _ => {
                let aloc = Loc::new(file, b.addr.span());
                self.error(
                    Diagnostic::error(
                        "E0235",
                        "invalid-nat-target",
                        format!("expected one address, found `{}`", self.text(aloc)),
                        aloc,
                        "not a single address",
                    )
                    .with_help("translate to one address, such as `10.0.0.1` or `[fd00::1]:8080`"),
                );
                return None;
            }
        };
        let port = self.port(file, &b.port).ok()?;
        let weight = match b.weight {
            None => 1,
            Some(w) if !weighted => {
                self.error(
                    Diagnostic::error(
                        "E0235",
                        "invalid-nat-target",
                        "a weight only makes sense among balanced backends",
                        Loc::new(file, w.span),
                        "weight of a single target",
                    )
                    .with_help("remove the weight"),
                );
                return None;
            }
            Some(w) if w.node == 0 => {
                self.error(
                    Diagnostic::error(
                        "E0235",
                        "invalid-nat-target",
                        "a backend weight must be at least 1",
                        Loc::new(file, w.span),
                        "weight 0",
                    )
                    .with_help("remove the backend instead of giving it weight 0"),
                );
                return None;
            }
            Some(w) => match u32::try_from(w.node) {
                Ok(v) => v,
                Err(_) => {
                    self.out_of_range(Loc::new(file, w.span), "weight", w.node, u32::MAX as u64);
                    return None;
                }
            },
        };
        Some(ir::NatBackend { addr, port, weight, loc })
    }
}
