//! The codes the runtime reports: the kernel and runtime catalogue (E05xx).
//!
//! Every [`crate::RuntimeError`] names one of these; `docs/diagnostics.md`
//! lists them, checked by `shriekc/tests/diagnostics_doc.rs`.

shriek_grammar::catalogue! {
    /// Every runtime code, in code order.
    pub CATALOGUE = "E05", "Kernel and runtime", "runtime/";
    KERNEL_REJECTED = "E0501", "kernel-rejected", Error,
        "the kernel refused a message of the batch; nothing was applied; points at the source rule";
    PERMISSION_DENIED = "E0502", "permission-denied", Error,
        "reading or changing the firewall needs root (CAP_NET_ADMIN); the message names what the verb was doing";
    RULESET_CHANGED = "E0503", "ruleset-changed", Error,
        "someone changed the ruleset between reading it and committing, twice in a row; nothing was changed";
    NETNS_UNAVAILABLE = "E0504", "netns-unavailable", Error,
        "the network namespace does not exist (pass `--create-netns`), or cannot be entered or created";
    NETLINK_FAILURE = "E0505", "netlink-failure", Error,
        "talking to the kernel failed";
    JUMP_TOO_DEEP = "E0506", "jump-too-deep", Error,
        "jumps nested deeper than the kernel's limit of 16";
    KERNEL_UNSUPPORTED = "E0507", "kernel-unsupported", Error,
        "the kernel lacks a feature the policy needs; the message names it (`limit`, `balance`, ranges over several fields, inet nat chains…), its module, and the rule";
    NFTABLES_MISSING = "E0508", "nftables-missing", Error,
        "the kernel has no nf_tables at all (not built, module not loadable)";
    TABLE_OWNED_ELSEWHERE = "E0509", "table-owned-elsewhere", Error,
        "the policy names a table that another policy made; nothing was changed (`apply --replace` takes it over)";
}
