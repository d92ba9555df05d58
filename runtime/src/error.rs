//! What can go wrong talking to the kernel, and how to say it.
//!
//! A kernel error is mapped back, by the sequence number of the message the
//! kernel refused, to the table, chain, set or rule it came from and to the
//! policy rules behind it, so the CLI can point at the source line.

use shriek_compiler::nft::Origin;
use shriek_grammar::{Diagnostic, Label, Loc};

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("changing the firewall needs root (CAP_NET_ADMIN)")]
    Permission,
    #[error("cannot use network namespace `{name}`: {reason}")]
    Netns { name: String, reason: String },
    #[error("netlink {what} failed: {reason}")]
    Io { what: &'static str, reason: String },
    #[error("the ruleset changed while applying; nothing was changed")]
    Changed,
    #[error("{0}")]
    Kernel(Box<KernelError>),
}

/// The kernel refused one message of a batch; nothing was applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelError {
    /// The positive errno the kernel answered.
    pub errno: i32,
    /// The kernel's answer in plain words.
    pub reason: String,
    /// What the refused message was, e.g. "rule 3 of chain `input` in table `main`".
    pub subject: String,
    /// The policy rules behind the refused message, when it came from rules.
    pub origin: Vec<Origin>,
    pub help: Option<String>,
}

impl std::fmt::Display for KernelError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the kernel rejected {}: {}", self.subject, self.reason)
    }
}

impl RuntimeError {
    /// Stable code, as documented in docs/diagnostics.md.
    pub fn code(&self) -> &'static str {
        match self {
            RuntimeError::Permission => "E0502",
            RuntimeError::Netns { .. } => "E0504",
            RuntimeError::Io { .. } => "E0505",
            RuntimeError::Changed => "E0503",
            RuntimeError::Kernel(k) if matches!(k.errno, ELOOP | EMLINK) => "E0506",
            RuntimeError::Kernel(k) if k.errno == EOPNOTSUPP => "E0507",
            RuntimeError::Kernel(_) => "E0501",
        }
    }

    /// Stable kebab-case name.
    pub fn name(&self) -> &'static str {
        match self.code() {
            "E0502" => "permission-denied",
            "E0504" => "netns-unavailable",
            "E0505" => "netlink-failure",
            "E0503" => "ruleset-changed",
            "E0506" => "jump-too-deep",
            "E0507" => "kernel-unsupported",
            _ => "kernel-rejected",
        }
    }

    /// A diagnostic at the source of the refused message, when there is one.
    pub fn diagnostic(&self) -> Option<Diagnostic> {
        let RuntimeError::Kernel(k) = self else { return None };
        let first = k.origin.first()?;
        let mut d = Diagnostic::error(
            self.code(),
            self.name(),
            format!("the kernel rejected {}: {}", k.subject, k.reason),
            first.loc,
            "this rule",
        );
        d.related = k.origin[1..]
            .iter()
            .map(|o| Label { loc: o.loc, message: "also lowered into it".into() })
            .collect();
        d.help = k.help.clone();
        Some(d)
    }

    /// Where the refused message came from, if anywhere.
    pub fn loc(&self) -> Option<Loc> {
        match self {
            RuntimeError::Kernel(k) => k.origin.first().map(|o| o.loc),
            _ => None,
        }
    }

    pub(crate) fn io(what: &'static str, e: impl std::fmt::Display) -> RuntimeError {
        RuntimeError::Io { what, reason: e.to_string() }
    }
}

pub(crate) const EPERM: i32 = 1;
pub(crate) const ENOENT: i32 = 2;
pub(crate) const E2BIG: i32 = 7;
pub(crate) const EBUSY: i32 = 16;
pub(crate) const EEXIST: i32 = 17;
pub(crate) const EINVAL: i32 = 22;
pub(crate) const ENOSPC: i32 = 28;
pub(crate) const EMLINK: i32 = 31;
pub(crate) const ERANGE: i32 = 34;
pub(crate) const ELOOP: i32 = 40;
pub(crate) const ERESTART: i32 = 85;
pub(crate) const EOPNOTSUPP: i32 = 95;

/// The kernel's errno in plain words, and a fix when one is known.
pub(crate) fn explain(errno: i32) -> (String, Option<String>) {
    let (reason, help): (&str, Option<&str>) = match errno {
        EMLINK => (
            "jumps nested deeper than the kernel's limit of 16",
            Some("flatten the chain of jumps, e.g. with goto or by merging chains"),
        ),
        ELOOP => (
            "jumps loop or nest deeper than the kernel's limit of 16",
            Some("flatten the chain of jumps, e.g. with goto or by merging chains"),
        ),
        ENOENT => (
            "the kernel does not know something it names (a chain, set, counter, or an expression whose module is missing)",
            Some("check that the kernel has the nf_tables modules this rule needs"),
        ),
        EOPNOTSUPP => (
            "the kernel does not support this here (a statement in the wrong hook or chain type, or a missing module)",
            None,
        ),
        EPERM => ("operation not permitted", Some("run as root or with CAP_NET_ADMIN")),
        EEXIST => ("it already exists (overlapping set elements or a duplicate name)", None),
        EINVAL => ("invalid argument", None),
        EBUSY => ("it is in use", None),
        ENOSPC => ("no space left (a set or map is full)", None),
        E2BIG => ("too big for the kernel", None),
        ERANGE => ("a value is out of the kernel's range", None),
        _ => return (std::io::Error::from_raw_os_error(errno).to_string().to_lowercase(), None),
    };
    (reason.to_string(), help.map(str::to_string))
}
