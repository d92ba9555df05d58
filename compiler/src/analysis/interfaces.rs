//! The interfaces a hook's packets lack: one to leave by before routing
//! (`prerouting`, `input`) and one they came in on when the host sends
//! them (`output`). The kernel reads the empty name there, so `oif wan0`
//! in `input` never holds and `oif != wan0` always does (held to the kernel
//! in `shriekc/tests/kernel_interfaces.rs`).
//!
//! The analysis reads each base chain's rules with that known: a cube's
//! restriction of such an interface becomes no restriction when the empty
//! name passes it, and an empty set when it does not. The lowering writes
//! the rules as they are; resolve warns of them (`interface-not-set`).

use std::borrow::Cow;

use crate::ir::{self, Hook};
use crate::space::{Cube, Names};

/// Which interface a hook's packets lack.
#[derive(Clone, Copy)]
enum Missing {
    Oif,
    Iif,
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

/// The base chain's hook and the interface its packets lack, when one of
/// its rules restricts it.
fn restricted(chain: &ir::Chain) -> Option<Missing> {
    let m = missing(chain.base?.hook)?;
    let restricts = |c: &Cube| match m {
        Missing::Oif => !c.oif.is_any(),
        Missing::Iif => !c.iif.is_any(),
    };
    chain.rules.iter().flat_map(|r| &r.space).any(restricts).then_some(m)
}

/// The table as its hooks' packets see it: the table itself when no base
/// chain restricts an interface its packets lack (nearly always), a copy
/// otherwise.
pub(super) fn known(table: &ir::Table) -> Cow<'_, ir::Table> {
    if !table.chains.iter().any(|c| restricted(c).is_some()) {
        return Cow::Borrowed(table);
    }
    let mut table = table.clone();
    for chain in &mut table.chains {
        let Some(m) = restricted(chain) else { continue };
        for cube in chain.rules.iter_mut().flat_map(|r| &mut r.space) {
            let names = field(cube, m);
            *names = if names.contains("") { Names::any() } else { Names::none() };
        }
    }
    Cow::Owned(table)
}

/// Whether the rule matches nothing only because its chain's packets lack
/// the interface it names: the word (`oif`, `iif`) when so.
pub(super) fn never_set(rule: &ir::Rule) -> Option<&'static str> {
    let lacks = |c: &Cube| {
        if c.oif.is_empty() {
            Some("oif")
        } else if c.iif.is_empty() {
            Some("iif")
        } else {
            None
        }
    };
    rule.space.iter().find_map(lacks)
}
