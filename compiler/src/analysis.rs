//! Findings about a resolved policy: rules that never decide a packet, rules
//! whose matches contradict, chains nothing reaches and jumps that loop.
//!
//! Everything here is exact, over the match spaces of [`crate::space`]: a
//! rule is reported as shadowed or redundant only when earlier rules provably
//! decide every packet it matches, never from a sample. When the exact
//! computation would grow too large for one rule (see [`shadow`]), that rule
//! gets no finding rather than a guessed one.
//!
//! The phase reads an [`ir::Policy`] and returns plain [`Diagnostic`]s; it
//! leaves rendering to `render` and the exit code to the CLI. Inline
//! `# shriek: allow(NAME) reason="..."` comments do not remove a finding: they
//! mark it [`Diagnostic::suppressed`], so SARIF can still list it.

mod describe;
mod explain;
mod graph;
pub mod shadow;

/// How a protocol number reads in a policy; `import` prints with it too.
pub(crate) use describe::proto_name;

use shriek_grammar::{Diagnostic, Severity};

use crate::ir;

pub use explain::explain;

/// One kind of finding, as `shriekc explain` and SARIF `driver.rules` list it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Finding {
    pub code: &'static str,
    pub name: &'static str,
    pub severity: Severity,
    /// One line, lowercase, no final period.
    pub summary: &'static str,
}

pub const SHADOWED_RULE: Finding = Finding {
    code: "E0301",
    name: "shadowed-rule",
    severity: Severity::Error,
    summary: "earlier rules with a different verdict decide every packet this rule matches",
};

pub const REDUNDANT_RULE: Finding = Finding {
    code: "E0302",
    name: "redundant-rule",
    severity: Severity::Warning,
    summary: "earlier rules with the same verdict decide every packet this rule matches",
};

pub const UNMATCHABLE_RULE: Finding = Finding {
    code: "E0303",
    name: "unmatchable-rule",
    severity: Severity::Error,
    summary: "the rule's own matches contradict each other, so it matches no packet",
};

pub const UNREACHABLE_CHAIN: Finding = Finding {
    code: "E0304",
    name: "unreachable-chain",
    severity: Severity::Warning,
    summary: "no base chain reaches this regular chain through jump or goto",
};

pub const JUMP_CYCLE: Finding = Finding {
    code: "E0305",
    name: "jump-cycle",
    severity: Severity::Error,
    summary: "chains jump or go to each other in a loop",
};

/// Every finding this phase can report, in code order.
pub const FINDINGS: &[Finding] =
    &[SHADOWED_RULE, REDUNDANT_RULE, UNMATCHABLE_RULE, UNREACHABLE_CHAIN, JUMP_CYCLE];

/// [`FINDINGS`] as SARIF `driver.rules` entries.
pub fn descriptors() -> Vec<crate::render::RuleDescriptor> {
    FINDINGS
        .iter()
        .map(|f| crate::render::RuleDescriptor { code: f.code, name: f.name, summary: f.summary })
        .collect()
}

/// The finding called `name`, if there is one.
pub fn finding(name: &str) -> Option<&'static Finding> {
    FINDINGS.iter().find(|f| f.name == name)
}

impl Finding {
    fn diagnostic(
        &self,
        message: impl Into<String>,
        loc: shriek_grammar::Loc,
        label: impl Into<String>,
    ) -> Diagnostic {
        Diagnostic {
            severity: self.severity,
            ..Diagnostic::error(self.code, self.name, message, loc, label)
        }
    }
}

/// Every finding about `policy`, in source order of the place it points at,
/// with inline allows applied.
pub fn analyze(policy: &ir::Policy) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for (t, table) in policy.tables.iter().enumerate() {
        out.extend(graph::check(policy, t as u32, table));
        out.extend(shadow::check_table(policy, t as u32, table));
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
