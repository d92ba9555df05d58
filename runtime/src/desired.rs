//! [`Desired`]: what a policy wants the kernel to hold, the compiled
//! ruleset with what its tables record about it. `encode` writes it and
//! `plan` compares the live tables with it; it stands below both.

use shriek_compiler::lower::Strategy;
use shriek_compiler::nft;
use shriek_grammar::SourceMap;

/// What a policy wants the kernel to hold.
#[derive(Clone, Copy)]
pub struct Desired<'a> {
    pub ruleset: &'a nft::Ruleset,
    /// Where the policy's rules come from, for their comments.
    pub sources: &'a SourceMap,
    /// The policy as its tables record it: its entry file's absolute path.
    pub policy: &'a str,
    /// The strategy `ruleset` was lowered with, recorded in each table.
    pub strategy: Strategy,
}

impl Desired<'_> {
    pub fn table_names(&self) -> Vec<String> {
        self.ruleset.tables.iter().map(|t| t.name.clone()).collect()
    }
}
