//! The verbs, one module each. Each returns the process exit code; the
//! helpers here are what several verbs share.

mod apply;
mod check;
mod compile;
mod counters;
mod destroy;
mod diff;
mod early;
mod explain;
mod fmt;
mod import;
mod plan;
mod stats;
mod trace;

pub use apply::*;
pub use check::*;
pub use compile::*;
pub use counters::*;
pub use destroy::*;
pub use diff::*;
pub use explain::*;
pub use fmt::*;
pub use import::*;
pub use plan::*;
pub use stats::*;
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
    // The verbs that go on from here need the policy and the sources, not
    // the syntax trees: freeing them now lowers the peak of a large apply.
    frontend.files = Vec::new();
    crate::hand_back();
    match frontend.policy.take() {
        Some(policy) => Ok((frontend, policy)),
        None => Err(INVALID),
    }
}

/// Print a report for a person, on stdout: what the user's files or the
/// kernel's tables said (comments, names) is quoted with its hidden
/// characters escaped ([`shriek_grammar::visible`]), so that a hostile
/// policy cannot rewrite the terminal through it. Machine formats and
/// generated files go through [`print_out`] untouched.
pub(crate) fn print_shown(text: &str) {
    print_out(&shriek_grammar::visible(text));
}

pub(crate) fn print_out(text: &str) {
    let mut stdout = std::io::stdout().lock();
    // A closed pipe (`| head`) is not an error worth a panic.
    let _ = stdout.write_all(text.as_bytes());
    if !text.is_empty() && !text.ends_with('\n') {
        let _ = stdout.write_all(b"\n");
    }
}

/// What a verb was doing when the kernel refused it for lack of
/// privileges: nf_tables wants CAP_NET_ADMIN to read as much as to change,
/// and the message says which the user asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Doing {
    Changing,
    Validating,
    Reading,
    ReadingCounters,
    ResettingCounters,
}

impl Doing {
    fn words(self) -> &'static str {
        match self {
            Doing::Changing => "changing the firewall",
            Doing::Validating => "validating a policy in the kernel (`--dry-run`)",
            Doing::Reading => "reading the firewall's tables",
            Doing::ReadingCounters => "reading counters",
            Doing::ResettingCounters => "resetting counters",
        }
    }
}

/// Prints a runtime error of a verb that changes the firewall; see
/// [`runtime_failure_doing`].
pub(crate) fn runtime_failure(err: &shriek_runtime::RuntimeError, sources: &SourceMap) -> u8 {
    runtime_failure_doing(err, sources, Doing::Changing)
}

/// Prints a runtime error as one sentence (a diagnostic at the source rule
/// when the kernel refused one) and returns the exit code.
pub(crate) fn runtime_failure_doing(
    err: &shriek_runtime::RuntimeError,
    sources: &SourceMap,
    doing: Doing,
) -> u8 {
    use shriek_runtime::RuntimeError as E;
    match (err.diagnostic(), err) {
        (Some(diag), _) => eprint_diagnostics(std::slice::from_ref(&diag), sources),
        (None, E::Permission) if runs_as_root() => eprintln!(
            "error: {} needs CAP_NET_ADMIN, which this process lacks although it runs as root",
            doing.words()
        ),
        (None, E::Permission) => eprintln!("error: {} needs root (CAP_NET_ADMIN)", doing.words()),
        (None, E::NoNetns { .. }) => {
            eprintln!("error: {err}");
            eprintln!(
                "help: pass `--create-netns` to create it, or check the name with `ip netns list`"
            );
        }
        (None, E::Foreign { policy, .. }) => {
            eprintln!("error: {err}");
            eprintln!(
                "help: rename the table in this policy, remove the other policy's tables with `shriekc destroy {policy}`, or take it over with `apply --replace`"
            );
        }
        (None, _) => eprintln!("error: {err}"),
    }
    // The kernel refusing the policy, missing privileges, a missing
    // namespace or a kernel without nf_tables are invalid input or
    // environment; a conflict or an IO failure is not.
    match err {
        E::Kernel(_)
        | E::Permission
        | E::Netns { .. }
        | E::NoNetns { .. }
        | E::NoNfTables
        | E::Foreign { .. } => INVALID,
        E::Changed | E::Io { .. } => FINDINGS,
    }
}

/// Whether the effective user is root: `/proc/self` belongs to it.
fn runs_as_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// Makes the `--netns` namespace when `--create-netns` asks for it; any
/// other missing namespace is an error of the verb itself, naming it.
pub(crate) fn prepare_netns(netns: Option<&str>, create: bool) -> Result<(), u8> {
    match netns {
        Some(name) if create => shriek_runtime::ensure_netns(name)
            .map_err(|err| runtime_failure(&err, &SourceMap::default())),
        _ => Ok(()),
    }
}
