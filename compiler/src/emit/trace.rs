//! `shriekc trace`: a packet's path through the chains, by the language's
//! own evaluator ([`trace_text`]) or through a lowered model
//! ([`trace_model_text`]), with each rule's source line.

use std::fmt::Write;

use shriek_grammar::SourceMap;

use crate::eval::{self, LimitMode, Step};
use crate::ir::{ChainPolicy, Hook, Outcome, Policy};
use crate::nft;
use crate::nft::vocab::{
    icmp_codes, icmp_types, name_of, PROTO_ICMP, PROTO_ICMPV6, PROTO_SCTP, PROTO_TCP, PROTO_UDP,
};
use crate::nft_eval;
use crate::space::{Family, Packet};

use super::{addr_text, place, source_text};

/// The packet the way `parse_packet` reads it.
pub fn packet_text(p: &Packet) -> String {
    let v6 = p.family == Family::V6;
    let proto = match p.proto {
        PROTO_TCP => "tcp".to_string(),
        PROTO_UDP => "udp".to_string(),
        PROTO_SCTP => "sctp".to_string(),
        PROTO_ICMP => "icmp".to_string(),
        PROTO_ICMPV6 => "icmpv6".to_string(),
        n => n.to_string(),
    };
    let end = |a: u128, port: Option<u16>| match (v6, port) {
        (true, Some(port)) => format!("[{}]:{port}", addr_text(a, true)),
        (false, Some(port)) => format!("{}:{port}", addr_text(a, false)),
        (_, None) => addr_text(a, v6),
    };
    let mut s = format!("{proto} {} -> {}", end(p.saddr, p.sport), end(p.daddr, p.dport));
    let names_of = if p.proto == PROTO_ICMP { Family::V4 } else { Family::V6 };
    let named = |names, v: u8| name_of(names, v).map_or_else(|| v.to_string(), str::to_string);
    if let Some(t) = p.icmp_type {
        let _ = write!(s, " type {}", named(icmp_types(names_of), t));
    }
    // Code names are those of destination-unreachable; other types' codes
    // are numbers, and code 0 (the default) goes unsaid.
    let unreachable = name_of(icmp_types(names_of), p.icmp_type.unwrap_or(0))
        .is_some_and(|n| n == "destination-unreachable");
    match p.icmp_code {
        Some(c) if unreachable => {
            let _ = write!(s, " code {}", named(icmp_codes(names_of), c));
        }
        Some(c) if c != 0 => {
            let _ = write!(s, " code {c}");
        }
        _ => {}
    }
    // The flags a packet of its state gets by default go unsaid.
    if let Some(f) = p.tcp_flags.filter(|f| *f != crate::packet::default_tcp_flags(p.ct)) {
        let _ = write!(s, " flags {}", super::rule::flags_text(f.into()));
    }
    if !p.iif.is_empty() {
        let _ = write!(s, " iif {}", p.iif);
    }
    if !p.oif.is_empty() {
        let _ = write!(s, " oif {}", p.oif);
    }
    let _ = write!(s, " ct {}", p.ct.keyword());
    // The default goes unsaid, so today's snapshots keep their words.
    if p.mark != crate::packet::DEFAULT_MARK {
        let _ = write!(s, " mark {:#x}", p.mark);
    }
    s
}

fn outcome_word(o: Outcome) -> &'static str {
    match o {
        Outcome::Accept => "accept",
        Outcome::Drop => "drop",
        Outcome::Reject => "reject",
    }
}

/// The path of `packet` through the policy on `hook`, by the reference
/// evaluator, with each matched rule's place and text and the verdict.
pub fn trace_text(policy: &Policy, sources: &SourceMap, packet: &Packet, hook: Hook) -> String {
    let trace = eval::evaluate(policy, hook, packet, LimitMode::UnderRate);
    let mut out = format!("packet: {} (hook {})\n", packet_text(packet), hook.keyword());
    let chain_name = |t: u32, c: crate::ir::ChainId| {
        let table = &policy.tables[t as usize];
        format!("{}/{}", table.name, table.chains[c.0 as usize].name)
    };
    for step in &trace.steps {
        match step {
            Step::Enter { table, chain } => {
                let _ = writeln!(out, "enter {}", chain_name(*table, *chain));
            }
            Step::Matched { rule } => {
                let r = policy.rule(*rule);
                let at =
                    place(r.loc, sources).unwrap_or_else(|| format!("rule {}", rule.index + 1));
                let _ = writeln!(out, "  {at}: {}", source_text(r.loc, sources));
            }
            Step::FellThrough { table, chain } => {
                let _ = writeln!(out, "  end of {}", chain_name(*table, *chain));
            }
            Step::Policy { table, chain, policy: p } => {
                let word = match p {
                    ChainPolicy::Accept => "accept",
                    ChainPolicy::Drop => "drop",
                };
                let _ = writeln!(out, "  policy of {}: {word}", chain_name(*table, *chain));
            }
        }
    }
    let by = trace.decided_by.and_then(|id| place(policy.rule(id).loc, sources));
    match by {
        Some(at) => {
            let _ = writeln!(out, "verdict: {} (by {at})", outcome_word(trace.outcome));
        }
        None => {
            let _ = writeln!(out, "verdict: {}", outcome_word(trace.outcome));
        }
    }
    out
}

/// The path of `packet` through a lowered ruleset, as the kernel would run
/// it, with the policy rules behind each step.
pub fn trace_model_text(
    rs: &nft::Ruleset,
    sources: &SourceMap,
    packet: &Packet,
    hook: Hook,
) -> String {
    let trace = nft_eval::trace_model(rs, hook, packet, LimitMode::UnderRate);
    let mut out = format!("packet: {} (hook {})\n", packet_text(packet), hook.keyword());
    for step in &trace.steps {
        let indent = if step.text.starts_with("enter ") { "" } else { "  " };
        let _ = write!(out, "{indent}{}", step.text);
        let places: Vec<String> =
            step.origin.iter().filter_map(|o| place(o.loc, sources)).collect();
        if let [one] = places.as_slice() {
            let _ = write!(out, " ({one}: {})", source_text(step.origin[0].loc, sources));
        } else if !places.is_empty() {
            let _ = write!(out, " ({} rules from {})", places.len(), places[0]);
        }
        out.push('\n');
    }
    let _ = writeln!(out, "verdict: {}", outcome_word(trace.outcome));
    out
}
