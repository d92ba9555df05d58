//! The verbs, one module each. Each returns the process exit code; the
//! helpers here are what several verbs share.

mod apply;
mod check;
mod compile;
mod counters;
mod explain;
mod fmt;
mod plan;
mod trace;

pub use apply::*;
pub use check::*;
pub use compile::*;
pub use counters::*;
pub use explain::*;
pub use fmt::*;
pub use plan::*;
pub use trace::*;

use std::io::Write;

use shriek_compiler::ir;
use shriek_compiler::resolve::{self, Frontend};
use shriek_grammar::SourceMap;

use crate::loader::FsLoader;
use crate::output::eprint_diagnostics;

pub(crate) const OK: u8 = 0;
pub(crate) const FINDINGS: u8 = 1;
pub(crate) const INVALID: u8 = 2;

/// Load, parse and resolve a policy; print its errors when it has any.
pub(crate) fn front(file: &str) -> Result<(Frontend, ir::Policy), u8> {
    let mut frontend = resolve::load(file, &mut FsLoader);
    eprint_diagnostics(&frontend.diagnostics, &frontend.sources);
    match frontend.policy.take() {
        Some(policy) => Ok((frontend, policy)),
        None => Err(INVALID),
    }
}

pub(crate) fn print_out(text: &str) {
    let mut stdout = std::io::stdout().lock();
    // A closed pipe (`| head`) is not an error worth a panic.
    let _ = stdout.write_all(text.as_bytes());
    if !text.is_empty() && !text.ends_with('\n') {
        let _ = stdout.write_all(b"\n");
    }
}

pub(crate) fn runtime_failure(err: &shriek_runtime::RuntimeError, sources: &SourceMap) -> u8 {
    match err.diagnostic() {
        Some(diag) => eprint_diagnostics(std::slice::from_ref(&diag), sources),
        None => eprintln!("error: {err}"),
    }
    // The kernel refusing the policy, missing privileges or a missing
    // namespace are invalid input; a conflict or an IO failure is not.
    use shriek_runtime::RuntimeError as E;
    match err {
        E::Kernel(_) | E::Permission | E::Netns { .. } => INVALID,
        E::Changed | E::Io { .. } => FINDINGS,
    }
}
