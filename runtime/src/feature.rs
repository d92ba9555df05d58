//! A kernel too old (or built without a module) for a feature the policy
//! uses, said in the policy's words.
//!
//! nf_tables answers ENOENT for an expression type, chain type or object
//! type it does not know (after trying to load its module), and EOPNOTSUPP
//! for a set it has no backend for or a chain type it cannot hook. The
//! errno alone says neither which feature nor how to get it, so the
//! refused message is read back from the batch: a rule's expressions, a
//! set's flags, a chain's type. Everything else falls back to
//! [`crate::error::explain`].

use crate::abi::*;
use nix::errno::Errno;

use crate::error::explain;
use crate::msg;

/// An expression that lives in a module of its own: what the policy wrote
/// to get it, the module, and since when Linux has it where it is not old.
struct Module {
    expr: &'static str,
    written: &'static str,
    module: &'static str,
    since: Option<&'static str>,
}

/// Expressions outside nf_tables' core (immediate, cmp, lookup, bitwise,
/// payload, range, meta and counter objects' `objref` are built in).
const MODULES: &[Module] = &[
    Module { expr: "ct", written: "`ct state`", module: "nft_ct", since: None },
    Module { expr: "limit", written: "`limit`", module: "nft_limit", since: None },
    Module { expr: "log", written: "`log`", module: "nft_log", since: None },
    Module { expr: "counter", written: "`counter`", module: "nft_counter", since: None },
    Module { expr: "reject", written: "`reject`", module: "nft_reject_inet", since: Some("3.14") },
    Module { expr: "nat", written: "`dnat`/`snat`", module: "nft_nat", since: Some("5.2") },
    Module { expr: "masq", written: "`masquerade`", module: "nft_masq", since: Some("5.2") },
    Module { expr: "redir", written: "`redirect`", module: "nft_redir", since: Some("5.2") },
    Module {
        expr: "numgen",
        written: "`balance round-robin`/`balance random`",
        module: "nft_numgen",
        since: Some("4.9"),
    },
    Module {
        expr: "hash",
        written: "`balance source-hash`",
        module: "nft_hash",
        since: Some("4.9"),
    },
];

/// The kernel's refusal of the batch message with sequence number `seq`,
/// in plain words and with a fix when one is known: the feature it lacks
/// where the errno and the message say which, [`explain`] otherwise.
pub(crate) fn explain_refusal(errno: Errno, batch: &[u8], seq: u32) -> (String, Option<String>) {
    if errno == Errno::ENOENT || errno == Errno::EOPNOTSUPP {
        if let Some(found) = refused(batch, seq).and_then(|(ty, attrs)| missing(ty, attrs)) {
            return found;
        }
    }
    explain(errno)
}

/// The nf_tables message type and attributes of message `seq` in `batch`.
fn refused(batch: &[u8], seq: u32) -> Option<(u16, &[u8])> {
    let m = msg::messages(batch).find(|m| m.seq == seq)?;
    // The attributes follow the 4-byte nfgenmsg.
    let attrs = m.payload.get(4..)?;
    (m.ty >> 8 == NFNL_SUBSYS_NFTABLES).then_some((m.ty & 0xff, attrs))
}

fn missing(ty: u16, attrs: &[u8]) -> Option<(String, Option<String>)> {
    match ty {
        NFT_MSG_NEWRULE => missing_expr(attrs),
        NFT_MSG_NEWSET => Some(missing_set(attrs)),
        NFT_MSG_NEWCHAIN => missing_chain(attrs),
        NFT_MSG_NEWOBJ => Some((
            "this kernel has no named counter objects (`counter NAME` needs Linux 4.10)".into(),
            Some("use a newer kernel".into()),
        )),
        _ => None,
    }
}

/// The rule's expressions that need a module; one is named outright,
/// several are listed, since the errno does not say which one failed.
fn missing_expr(attrs: &[u8]) -> Option<(String, Option<String>)> {
    let list = msg::attr(attrs, NFTA_RULE_EXPRESSIONS)?;
    let mut found: Vec<&Module> = Vec::new();
    for (_, e) in msg::attrs(list) {
        let name = msg::attr_str(e, NFTA_EXPR_NAME).unwrap_or_default();
        if let Some(m) = MODULES.iter().find(|m| m.expr == name) {
            if !found.iter().any(|f| f.expr == m.expr) {
                found.push(m);
            }
        }
    }
    match found.as_slice() {
        [] => None,
        [m] => Some((
            format!("this kernel lacks {} (module {}{})", m.written, m.module, since(m.since)),
            Some(format!("load it with `modprobe {}`, or use a kernel that has it", m.module)),
        )),
        several => {
            let list: Vec<String> = several
                .iter()
                .map(|m| format!("{} (module {}{})", m.written, m.module, since(m.since)))
                .collect();
            Some((
                format!("this kernel lacks a feature this rule uses, one of {}", list.join(", ")),
                Some("load the modules with `modprobe`, or use a kernel that has them".into()),
            ))
        }
    }
}

fn since(v: Option<&str>) -> String {
    v.map_or(String::new(), |v| format!(", Linux {v} or newer in an inet table"))
}

fn missing_set(attrs: &[u8]) -> (String, Option<String>) {
    let flags = msg::attr_u32(attrs, NFTA_SET_FLAGS).unwrap_or(0);
    let kind = if flags & NFT_SET_MAP != 0 { "map" } else { "set" };
    let what = match (flags & NFT_SET_INTERVAL != 0, flags & NFT_SET_CONCAT != 0) {
        (true, true) => format!("a {kind} of ranges over several fields (Linux 5.6 or newer)"),
        (true, false) => format!("a {kind} of ranges (Linux 3.19 or newer)"),
        _ => format!("this kind of {kind}"),
    };
    (
        format!("this kernel has no set backend for {what}"),
        Some("use a newer kernel, or `--strategy sequential`, which needs no maps".into()),
    )
}

fn missing_chain(attrs: &[u8]) -> Option<(String, Option<String>)> {
    let ty = msg::attr_str(attrs, NFTA_CHAIN_TYPE)?;
    let (what, module) = match ty.as_str() {
        "nat" => ("nat chains in an inet table (Linux 5.2 or newer)", "nft_chain_nat"),
        "route" => ("route chains", "nft_chain_route_ipv4 and nft_chain_route_ipv6"),
        _ => return None,
    };
    Some((
        format!("this kernel lacks {what}"),
        Some(format!("load {module} with `modprobe`, or use a kernel that has it")),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::msg::Writer;
    use Errno::{ENOENT, EOPNOTSUPP};

    /// A batch of one NEWRULE (sequence 7) whose expressions are named.
    fn rule(exprs: &[&str]) -> Vec<u8> {
        let mut w = Writer::default();
        w.nft(NFT_MSG_NEWRULE, 0, 7, |a| {
            a.str(NFTA_RULE_TABLE, "t");
            a.nest(NFTA_RULE_EXPRESSIONS, |l| {
                for e in exprs {
                    l.nest(NFTA_LIST_ELEM, |x| x.str(NFTA_EXPR_NAME, e));
                }
            });
        });
        w.raw().to_vec()
    }

    fn set(flags: u32) -> Vec<u8> {
        let mut w = Writer::default();
        w.nft(NFT_MSG_NEWSET, 0, 7, |a| a.u32(NFTA_SET_FLAGS, flags));
        w.raw().to_vec()
    }

    fn chain(ty: &str) -> Vec<u8> {
        let mut w = Writer::default();
        w.nft(NFT_MSG_NEWCHAIN, 0, 7, |a| a.str(NFTA_CHAIN_TYPE, ty));
        w.raw().to_vec()
    }

    fn said(errno: Errno, batch: &[u8]) -> String {
        let (reason, help) = explain_refusal(errno, batch, 7);
        format!("{reason} | {}", help.unwrap_or_default())
    }

    #[test]
    fn one_module_expression_is_named_with_its_module() {
        assert_eq!(
            said(ENOENT, &rule(&["payload", "cmp", "limit", "immediate"])),
            "this kernel lacks `limit` (module nft_limit) | load it with `modprobe nft_limit`, or use a kernel that has it"
        );
        assert_eq!(
            said(EOPNOTSUPP, &rule(&["numgen", "numgen", "lookup"])),
            "this kernel lacks `balance round-robin`/`balance random` (module nft_numgen, Linux 4.9 or newer in an inet table) | load it with `modprobe nft_numgen`, or use a kernel that has it"
        );
    }

    #[test]
    fn several_module_expressions_are_listed() {
        assert_eq!(
            said(ENOENT, &rule(&["ct", "cmp", "limit"])),
            "this kernel lacks a feature this rule uses, one of `ct state` (module nft_ct), `limit` (module nft_limit) | load the modules with `modprobe`, or use a kernel that has them"
        );
    }

    #[test]
    fn core_expressions_fall_back_to_the_errno() {
        assert_eq!(said(ENOENT, &rule(&["payload", "cmp"])), said(ENOENT, &[]));
        assert!(said(ENOENT, &[]).starts_with("the kernel does not know something it names"));
    }

    #[test]
    fn sets_say_which_backend_is_missing() {
        assert_eq!(
            said(EOPNOTSUPP, &set(NFT_SET_MAP | NFT_SET_INTERVAL | NFT_SET_CONCAT)),
            "this kernel has no set backend for a map of ranges over several fields (Linux 5.6 or newer) | use a newer kernel, or `--strategy sequential`, which needs no maps"
        );
        assert!(said(EOPNOTSUPP, &set(NFT_SET_INTERVAL)).contains("a set of ranges"));
    }

    #[test]
    fn chain_types_and_objects() {
        assert!(said(EOPNOTSUPP, &chain("nat"))
            .starts_with("this kernel lacks nat chains in an inet table (Linux 5.2"));
        assert_eq!(said(EOPNOTSUPP, &chain("filter")), said(EOPNOTSUPP, &[]));
        let mut w = Writer::default();
        w.nft(NFT_MSG_NEWOBJ, 0, 7, |a| a.u32(NFTA_OBJ_TYPE, NFT_OBJECT_COUNTER));
        assert!(said(ENOENT, w.raw()).contains("Linux 4.10"));
    }

    #[test]
    fn other_errnos_and_other_messages_are_left_to_explain() {
        let batch = rule(&["limit"]);
        assert_eq!(said(Errno::EEXIST, &batch), said(Errno::EEXIST, &[]));
        let (reason, _) = explain_refusal(ENOENT, &batch, 8);
        assert_eq!(reason, explain(ENOENT).0, "another sequence number is not this rule");
    }
}
