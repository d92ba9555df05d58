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

/// A table's chains with what their packets are known to lack.
pub(super) struct Known<'a> {
    /// The table as its hooks' packets see it: the table itself when no
    /// chain restricts an interface its packets lack (nearly always), a
    /// copy otherwise.
    pub table: Cow<'a, ir::Table>,
    /// Per chain, the interface every packet that enters it lacks.
    pub missing: Vec<Option<Missing>>,
    /// Per chain, the hooks whose base chains reach it.
    pub hooks: Vec<Vec<Hook>>,
}

/// Per chain, the hooks whose base chains reach it through any `jump` or
/// `goto` rule (a dead one too: more hooks only means less is known).
fn reaching_hooks(table: &ir::Table) -> Vec<Vec<Hook>> {
    let mut hooks: Vec<Vec<Hook>> = vec![Vec::new(); table.chains.len()];
    let targets: Vec<Vec<usize>> = table
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
        .collect();
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

/// The interface every packet entering a chain reached from `hooks` lacks:
/// none for a chain nothing reaches, which any packet may enter.
fn lacked(hooks: &[Hook]) -> Option<Missing> {
    let first = missing(*hooks.first()?)?;
    hooks.iter().all(|&h| missing(h) == Some(first)).then_some(first)
}

pub(super) fn known(table: &ir::Table) -> Known<'_> {
    let hooks = reaching_hooks(table);
    let missing: Vec<Option<Missing>> = hooks.iter().map(|h| lacked(h)).collect();
    let restricted = |c: usize| {
        missing[c].filter(|&m| {
            table.chains[c].rules.iter().flat_map(|r| &r.space).any(|q| restricts(q, m))
        })
    };
    if !(0..table.chains.len()).any(|c| restricted(c).is_some()) {
        return Known { table: Cow::Borrowed(table), missing, hooks };
    }
    let mut copy = table.clone();
    for (c, chain) in copy.chains.iter_mut().enumerate() {
        let Some(m) = restricted(c) else { continue };
        for cube in chain.rules.iter_mut().flat_map(|r| &mut r.space) {
            project(cube, m);
        }
    }
    Known { table: Cow::Owned(copy), missing, hooks }
}

/// What a chain jumped to decides, as the packets of a chain that lack
/// `m` see it: cubes that need the interface go, and a restriction the
/// empty name passes goes too. `None` when nothing changes.
pub(super) fn seen_lacking(space: &[Cube], m: Missing) -> Option<Vec<Cube>> {
    if !space.iter().any(|c| restricts(c, m)) {
        return None;
    }
    let mut out = space.to_vec();
    for cube in &mut out {
        project(cube, m);
    }
    out.retain(|c| !c.is_empty());
    Some(out)
}

/// Whether the rule matches nothing only because the packets of the
/// chain it is in, which the base chains of `hooks` reach, lack the
/// interface it names: the word (`oif`, `iif`) when so.
pub(super) fn never_set(rule: &ir::Rule, hooks: &[Hook]) -> Option<&'static str> {
    let m = lacked(hooks)?;
    let lacks = |c: &Cube| match m {
        Missing::Oif => c.oif.is_empty(),
        Missing::Iif => c.iif.is_empty(),
    };
    rule.space.iter().any(lacks).then_some(m.word())
}
