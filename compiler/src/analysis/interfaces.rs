//! The interfaces a hook's packets lack: one to leave by before routing
//! (`prerouting`, `input`) and one they came in on when the host sends
//! them (`output`). The kernel reads the empty name there, so `oif wan0`
//! in `input` never holds and `oif != wan0` always does (held to the kernel
//! in `shriekc/tests/kernel_interfaces.rs`).
//!
//! The analysis reads each chain's rules with that known. A base chain's
//! packets are those of its hook; a regular chain's are those of every hook
//! whose base chains reach it by `jump` or `goto` (any hook when none
//! does), so it lacks an interface only when all of those hooks lack it.
//! A cube's restriction of such an interface becomes no restriction when
//! the empty name passes it, and an empty set when it does not. What a
//! chain jumped to decides is read the same way by the chain that jumps:
//! a regular chain reached from `input` and `forward` may drop the packets
//! with `oif wan0`, and none of them comes from `input`.
//!
//! The lowering writes the rules as they are; resolve warns of them in base
//! chains (`interface-not-set`).

use std::borrow::Cow;

use crate::ir::{self, Hook};
use crate::space::{Cube, Names};

/// Which interface a chain's packets lack.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Missing {
    Oif,
    Iif,
}

impl Missing {
    pub(super) fn word(self) -> &'static str {
        match self {
            Missing::Oif => "oif",
            Missing::Iif => "iif",
        }
    }
}

fn missing(hook: Hook) -> Option<Missing> {
    match hook {
        Hook::Prerouting | Hook::Input => Some(Missing::Oif),
        Hook::Output => Some(Missing::Iif),
        Hook::Forward | Hook::Postrouting => None,
    }
}

fn field(cube: &mut Cube, m: Missing) -> &mut Names {
    match m {
        Missing::Oif => &mut cube.oif,
        Missing::Iif => &mut cube.iif,
    }
}

fn restricts(c: &Cube, m: Missing) -> bool {
    match m {
        Missing::Oif => !c.oif.is_any(),
        Missing::Iif => !c.iif.is_any(),
    }
}

/// Reads `cube` as a packet that lacks `m` sees it.
fn project(cube: &mut Cube, m: Missing) {
    let names = field(cube, m);
    *names = if names.contains("") { Names::any() } else { Names::none() };
}

/// What every packet entering a chain lacks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Lacks {
    /// This interface (a chain of `input` or `prerouting`, or of `output`).
    One(Missing),
    /// One interface or the other: a chain that `output` and a hook before
    /// routing reach, and nothing else. No packet entering it has both.
    Either,
}

/// A table's chains with what their packets are known to lack.
pub(super) struct Known<'a> {
    /// The table as its hooks' packets see it: the table itself when no
    /// chain restricts an interface (nearly always), a copy otherwise.
    pub table: Cow<'a, ir::Table>,
    /// Per chain, what every packet that enters it lacks.
    pub lacks: Vec<Option<Lacks>>,
    /// Per chain, the hooks whose base chains reach it.
    pub hooks: Vec<Vec<Hook>>,
}

/// Per chain, the chains its `jump` and `goto` rules name, dead ones too.
fn targets(table: &ir::Table) -> Vec<Vec<usize>> {
    table
        .chains
        .iter()
        .map(|c| {
            c.rules
                .iter()
                .filter_map(|r| match r.verdict {
                    Some(ir::Verdict::Jump(to) | ir::Verdict::Goto(to)) => Some(to.0 as usize),
                    _ => None,
                })
                .filter(|&to| to < table.chains.len())
                .collect()
        })
        .collect()
}

/// Per chain, the hooks whose base chains reach it through any `jump` or
/// `goto` rule (a dead one too: more hooks only means less is known).
fn reaching_hooks(table: &ir::Table, targets: &[Vec<usize>]) -> Vec<Vec<Hook>> {
    let mut hooks: Vec<Vec<Hook>> = vec![Vec::new(); table.chains.len()];
    for hook in Hook::ALL {
        let mut todo: Vec<usize> = (0..table.chains.len())
            .filter(|&c| table.chains[c].base.is_some_and(|b| b.hook == hook))
            .collect();
        for &c in &todo {
            hooks[c].push(hook);
        }
        while let Some(c) = todo.pop() {
            for &to in &targets[c] {
                if hooks[to].last() != Some(&hook) {
                    hooks[to].push(hook);
                    todo.push(to);
                }
            }
        }
    }
    hooks
}

/// What every packet entering a chain reached from `hooks` lacks: nothing
/// known for a chain nothing reaches, which any packet may enter.
pub(super) fn lacked(hooks: &[Hook]) -> Option<Lacks> {
    let first = missing(*hooks.first()?)?;
    let mut out = Lacks::One(first);
    for &h in hooks {
        if missing(h)? != first {
            out = Lacks::Either;
        }
    }
    Some(out)
}

/// Per chain, whether it or a chain it reaches restricts an interface.
fn restricts_below(table: &ir::Table, targets: &[Vec<usize>]) -> Vec<bool> {
    let mut callers: Vec<Vec<usize>> = vec![Vec::new(); table.chains.len()];
    for (c, ts) in targets.iter().enumerate() {
        for &t in ts {
            callers[t].push(c);
        }
    }
    let mut below: Vec<bool> = table
        .chains
        .iter()
        .map(|c| {
            c.rules
                .iter()
                .flat_map(|r| &r.space)
                .any(|q| restricts(q, Missing::Oif) || restricts(q, Missing::Iif))
        })
        .collect();
    let mut todo: Vec<usize> = (0..below.len()).filter(|&c| below[c]).collect();
    while let Some(c) = todo.pop() {
        for &k in &callers[c] {
            if !below[k] {
                below[k] = true;
                todo.push(k);
            }
        }
    }
    below
}

/// `space` as packets that lack `l` see it. For one interface, a
/// restriction of it becomes none or the empty set, as the empty name
/// passes it or not; for either, each cube splits in two, one for the
/// packets without an `oif` and one for those with one but no `iif`. Cubes
/// that become empty stay, so `never_set` can tell why.
pub(super) fn project_space(space: &[Cube], l: Lacks) -> Vec<Cube> {
    match l {
        Lacks::One(m) => {
            let mut out = space.to_vec();
            for cube in &mut out {
                project(cube, m);
            }
            out
        }
        Lacks::Either => {
            let none = Names::exact("");
            let some = none.complement();
            let mut out = Vec::with_capacity(2 * space.len());
            for cube in space {
                let mut a = cube.clone();
                a.oif = a.oif.intersect(&none);
                let mut b = cube.clone();
                b.oif = b.oif.intersect(&some);
                b.iif = b.iif.intersect(&none);
                out.extend([a, b]);
            }
            out
        }
    }
}

pub(super) fn known(table: &ir::Table) -> Known<'_> {
    let targets = targets(table);
    let hooks = reaching_hooks(table, &targets);
    let lacks: Vec<Option<Lacks>> = hooks.iter().map(|h| lacked(h)).collect();
    let below = restricts_below(table, &targets);
    // A chain is read anew when it restricts what its packets lack, or,
    // entered from `output` and before routing, when it or a chain it
    // reaches restricts an interface: what those decide is read exactly
    // through its own rules' spaces.
    let rewrite = |c: usize| match lacks[c] {
        Some(Lacks::One(m)) => {
            table.chains[c].rules.iter().flat_map(|r| &r.space).any(|q| restricts(q, m))
        }
        Some(Lacks::Either) => below[c],
        None => false,
    };
    if !(0..table.chains.len()).any(rewrite) {
        return Known { table: Cow::Borrowed(table), lacks, hooks };
    }
    let mut copy = table.clone();
    for (c, chain) in copy.chains.iter_mut().enumerate() {
        let Some(l) = lacks[c].filter(|_| rewrite(c)) else { continue };
        for rule in &mut chain.rules {
            rule.space = project_space(&rule.space, l);
        }
    }
    Known { table: Cow::Owned(copy), lacks, hooks }
}

/// What a chain jumped to decides, as the packets of a chain that lack
/// `m` see it: cubes that need the interface go, and a restriction the
/// empty name passes goes too. `None` when nothing changes. (A chain that
/// lacks either interface reads its own rules exactly: what it takes from
/// a chain it jumps to is already within them.)
pub(super) fn seen_lacking(space: &[Cube], m: Missing) -> Option<Vec<Cube>> {
    if !space.iter().any(|c| restricts(c, m)) {
        return None;
    }
    let mut out = project_space(space, Lacks::One(m));
    out.retain(|c| !c.is_empty());
    Some(out)
}

/// Whether the rule matches nothing only because the packets of the
/// chain it is in, which the base chains of `hooks` reach, lack the
/// interface it names: the words (`oif`, `iif`, `iif` and `oif`) when so.
pub(super) fn never_set(rule: &ir::Rule, hooks: &[Hook]) -> Option<&'static str> {
    let l = lacked(hooks)?;
    // Each cube empty only for its interfaces, and one such at least.
    let by_names = |c: &Cube| {
        let free = Cube { iif: Names::any(), oif: Names::any(), ..c.clone() };
        !free.is_empty() && (c.iif.is_empty() || c.oif.is_empty())
    };
    if !rule.space.iter().any(by_names) || rule.space.iter().any(|c| !c.is_empty()) {
        return None;
    }
    Some(match l {
        Lacks::One(m) => m.word(),
        Lacks::Either => "iif` and an `oif",
    })
}
