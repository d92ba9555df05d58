//! Findings about a resolved policy: rules that never decide a packet, rules
//! whose matches contradict, chains nothing reaches, jumps that loop and
//! chains nested deeper than the kernel allows.
//!
//! Everything here is exact, over the match spaces of [`crate::space`]: a
//! rule is reported as shadowed or redundant only when earlier rules provably
//! decide every packet it matches, never from a sample. When the exact
//! computation would grow too large for one rule (see [`shadow`]), that rule
//! gets the info-level `analysis-budget` finding instead of a guessed one, so
//! nothing is left out silently. A work budget over the whole policy
//! ([`budget`]) keeps the analysis bounded on any input the same way.
//!
//! The phase reads an [`ir::Policy`] and returns plain [`Diagnostic`]s; it
//! leaves rendering to `render` and the exit code to the CLI. Inline
//! `# shriek: allow(NAME) reason="..."` comments do not remove a finding: they
//! mark it [`Diagnostic::suppressed`], so SARIF can still list it.

pub mod budget;
pub mod codes;
mod describe;
mod graph;
mod index;
mod interfaces;
pub mod shadow;

/// How a protocol number reads in a policy; `import` prints with it too.
use shriek_grammar::Diagnostic;

use crate::ir;
pub use budget::Budget;
use budget::Meter;

/// The long explanation of the finding called `name` (or with code `name`,
/// e.g. `E0301`): what it means, a minimal example and the fix. Plain text.
pub fn explain(name: &str) -> Option<&'static str> {
    codes::CATALOGUE.find(name)?.explain
}

/// The findings as SARIF `driver.rules` entries.
pub fn descriptors() -> Vec<crate::render::RuleDescriptor> {
    codes::CATALOGUE
        .codes
        .iter()
        .map(|f| crate::render::RuleDescriptor { code: f.code, name: f.name, summary: f.summary })
        .collect()
}

/// Every finding about `policy`, in source order of the place it points at,
/// with inline allows applied.
pub fn analyze(policy: &ir::Policy) -> Vec<Diagnostic> {
    analyze_within(policy, Budget::DEFAULT)
}

/// [`analyze`] with another work budget: rules past it get `analysis-budget`
/// instead of their exact findings (for tests of that finding).
pub fn analyze_within(policy: &ir::Policy, budget: Budget) -> Vec<Diagnostic> {
    analyze_in_groups(policy, budget, budget::GROUP)
}

/// [`analyze_within`], checking at most `group` batches of rules at once
/// (`analysis/budget.rs`): the findings are the same for any `group`, which
/// the tests check against one batch at a time.
#[doc(hidden)]
pub fn analyze_in_groups(policy: &ir::Policy, budget: Budget, group: usize) -> Vec<Diagnostic> {
    let group = group.max(1);
    let work = Meter::new(budget.units(policy.rules().count()));
    let mut out = Vec::new();
    for table in &policy.tables {
        let found = graph::check(table);
        // A table the kernel would refuse waits for its other findings;
        // chains nested that deep would also make each chain's decided
        // packets hold those of every chain below it, memory that grows
        // with the square of the depth.
        let deep = found.iter().any(|d| d.code == codes::CHAIN_TOO_DEEP.code);
        out.extend(found);
        if !deep {
            out.extend(shadow::check_table(table, &work, group));
        }
    }
    out.sort_by_key(|d| (d.primary.loc, d.code));
    out
}

/// Marks `diag` suppressed when one of `allows` names it.
fn apply_allows(mut diag: Diagnostic, allows: &[ir::Allow]) -> Diagnostic {
    if let Some(allow) = allows.iter().find(|a| a.name == diag.name) {
        diag.suppressed = Some(allow.reason.clone());
    }
    diag
}
