//! What can go wrong talking to the kernel, and how to say it.
//!
//! A kernel error is mapped back, by the sequence number of the message the
//! kernel refused, to the table, chain, set or rule it came from and to the
//! policy rules behind it, so the CLI can point at the source line.

use nix::errno::Errno;
use shriek_compiler::nft::Origin;
use shriek_grammar::{Code, Diagnostic, Label, Loc};

use crate::codes;

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The kernel refused nf_tables access. Reading needs it as much as
    /// changing, so the CLI says which one its verb was doing.
    #[error("talking to nf_tables needs root (CAP_NET_ADMIN)")]
    Permission,
    #[error("this kernel has no nf_tables (CONFIG_NF_TABLES, module nf_tables)")]
    NoNfTables,
    #[error("network namespace `{name}` does not exist")]
    NoNetns { name: String },
    #[error("cannot use network namespace `{name}`: {reason}")]
    Netns { name: String, reason: String },
    #[error("netlink {what} failed: {reason}")]
    Io { what: &'static str, reason: String },
    #[error("the ruleset changed while applying; nothing was changed")]
    Changed,
    #[error("{0}")]
    Kernel(Box<KernelError>),
    #[error("table `{table}` was made by another policy, `{policy}`; nothing was changed")]
    Foreign { table: String, policy: String },
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

impl KernelError {
    pub(crate) fn errno(&self) -> Errno {
        Errno::from_raw(self.errno)
    }
}

impl std::fmt::Display for KernelError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the kernel rejected {}: {}", self.subject, self.reason)
    }
}

impl RuntimeError {
    /// What kind of error it is, from the runtime's catalogue.
    pub fn kind(&self) -> &'static Code {
        match self {
            RuntimeError::Permission => codes::PERMISSION_DENIED,
            RuntimeError::Netns { .. } | RuntimeError::NoNetns { .. } => codes::NETNS_UNAVAILABLE,
            RuntimeError::NoNfTables => codes::NFTABLES_MISSING,
            RuntimeError::Io { .. } => codes::NETLINK_FAILURE,
            RuntimeError::Changed => codes::RULESET_CHANGED,
            RuntimeError::Kernel(k) if matches!(k.errno(), Errno::ELOOP | Errno::EMLINK) => {
                codes::JUMP_TOO_DEEP
            }
            RuntimeError::Kernel(k) if k.errno() == Errno::EOPNOTSUPP => codes::KERNEL_UNSUPPORTED,
            RuntimeError::Kernel(_) => codes::KERNEL_REJECTED,
            RuntimeError::Foreign { .. } => codes::TABLE_OWNED_ELSEWHERE,
        }
    }

    /// Stable code, as documented in docs/diagnostics.md.
    pub fn code(&self) -> &'static str {
        self.kind().code
    }

    /// Stable kebab-case name.
    pub fn name(&self) -> &'static str {
        self.kind().name
    }

    /// A diagnostic at the source of the refused message, when there is one.
    pub fn diagnostic(&self) -> Option<Diagnostic> {
        let RuntimeError::Kernel(k) = self else { return None };
        let first = k.origin.first()?;
        let mut d = Diagnostic::new(
            self.kind(),
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

impl From<crate::msg::TooLong> for RuntimeError {
    fn from(crate::msg::TooLong(n): crate::msg::TooLong) -> RuntimeError {
        RuntimeError::io(
            "encoding",
            format!("a part of {n} bytes does not fit netlink's 16-bit length; nothing was sent"),
        )
    }
}

/// The kernel's errno in plain words, and a fix when one is known.
pub(crate) fn explain(errno: Errno) -> (String, Option<String>) {
    let (reason, help): (&str, Option<&str>) = match errno {
        Errno::EMLINK => (
            "jumps nested deeper than the kernel's limit of 16",
            Some("flatten the chain of jumps, e.g. with goto or by merging chains"),
        ),
        Errno::ELOOP => (
            "jumps loop or nest deeper than the kernel's limit of 16",
            Some("flatten the chain of jumps, e.g. with goto or by merging chains"),
        ),
        Errno::ENOENT => (
            "the kernel does not know something it names (a chain, set, counter, or an expression whose module is missing)",
            Some("check that the kernel has the nf_tables modules this rule needs"),
        ),
        Errno::EOPNOTSUPP => (
            "the kernel does not support this here (a statement in the wrong hook or chain type, or a missing module)",
            None,
        ),
        Errno::EPERM => ("operation not permitted", Some("run as root or with CAP_NET_ADMIN")),
        Errno::EEXIST => ("it already exists (overlapping set elements or a duplicate name)", None),
        Errno::EINVAL => ("invalid argument", None),
        Errno::EBUSY => ("it is in use", None),
        Errno::ENOSPC => ("no space left (a set or map is full)", None),
        Errno::E2BIG => ("too big for the kernel", None),
        Errno::ERANGE => ("a value is out of the kernel's range", None),
        e => return (e.desc().to_lowercase(), None),
    };
    (reason.to_string(), help.map(str::to_string))
}
