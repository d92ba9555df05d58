//! The wording of the rule findings: their messages, and match spaces and
//! translations back as short `.shr`-like text for their labels ("drops tcp
//! dport 1-1000 first"). What is covered, and by whom, is `shadow`'s to say.

use std::net::IpAddr;

use shriek_grammar::Diagnostic;

use super::codes;
use super::shadow::{is_final, own_class, same, translation, Class, Cover};
use crate::ir::{self, Action, ChainId, Nat, Verdict};
use crate::nft::vocab::{icmp_keyword, icmp_range_text, IPV6_SKIPPED_HEADERS};
use crate::space::flags;

use crate::space::{words, Cube, Family, Intervals, NamePattern, Names, Protos};

/// How many values of one field are written out before `...`.
const MAX_VALUES: usize = 3;

/// The packets of `space`, as `.shr` matches; `every packet` when unrestricted.
pub(super) fn space(space: &[Cube]) -> String {
    let Some(first) = space.first() else { return "no packet".to_string() };
    let text = cube(first);
    // Cubes that read the same (those split by what a hook's packets
    // lack, which is not written) are one.
    let more = text != "every packet" && space[1..].iter().any(|c| cube(c) != text);
    if more {
        format!("{text} and more")
    } else {
        text
    }
}

pub(super) fn cube(c: &Cube) -> String {
    let mut parts: Vec<String> = Vec::new();
    let family = c.family.single();
    let has_addr = c.saddr.is_some() || c.daddr.is_some();
    // `icmp type` says the family and the protocol itself.
    let icmp = c.icmp_type.is_some() || c.icmp_code.is_some();
    if let (Some(f), false, false) = (family, has_addr, icmp) {
        parts.push(format!("family {}", words::family(f)));
    }
    let has_ports = c.sport.is_some() || c.dport.is_some();
    let proto_word = match (has_ports, single_proto(c.proto)) {
        (true, Some(p)) => Some(words::proto(p)),
        _ => None,
    };
    // `tcp flags` says its protocol too.
    if proto_word.is_none() && !c.proto.is_full() && !icmp && c.tcp_flags.is_none() {
        parts.push(format!("proto {}", protos(c.proto)));
    }
    for (word, field) in [("saddr", &c.saddr), ("daddr", &c.daddr)] {
        if let (Some(set), Some(f)) = (field, family) {
            parts.push(format!("{word} {}", addrs(set, f)));
        }
    }
    for (word, field) in [("sport", &c.sport), ("dport", &c.dport)] {
        if let Some(set) = field {
            let values = values(set.ranges(), |v| v.to_string());
            match proto_word {
                Some(ref p) => parts.push(format!("{p} {word} {values}")),
                None => parts.push(format!("{word} {values}")),
            }
        }
    }
    for (word, field, code) in [("type", &c.icmp_type, false), ("code", &c.icmp_code, true)] {
        if let (Some(iv), Some(f)) = (field, family) {
            let items = iv
                .ranges()
                .iter()
                .map(|&(lo, hi)| icmp_range_text(f, code, lo as u8, hi as u8))
                .collect();
            parts.push(format!("{} {word} {}", icmp_keyword(f), set(items)));
        }
    }
    if let Some(set) = &c.tcp_flags {
        match flags::words(set).as_slice() {
            [] => {}
            [one] => parts.push(one.clone()),
            several => parts.push(format!("({})", several.join(" or "))),
        }
    }
    if let Some(set) = &c.mark {
        parts.push(format!("mark {}", values(set.ranges(), |v| format!("{v:#x}"))));
    }
    let unnamed = Names::exact("");
    for (word, names) in [("iif", &c.iif), ("oif", &c.oif)] {
        // The empty name, or any other, is what a hook's packets lack or
        // have (`analysis/interfaces.rs`), never a match a user wrote.
        if *names == unnamed || *names == unnamed.complement() {
            continue;
        }
        let m = names.patterns();
        let texts = |v: &[NamePattern]| v.iter().map(NamePattern::text).collect();
        if let Some(only) = &m.only {
            parts.push(format!("{word} {}", set(texts(only))));
        }
        if !m.not.is_empty() {
            parts.push(format!("{word} != {}", set(texts(&m.not))));
        }
    }
    if !c.ct.is_full() {
        let states: Vec<&str> = c.ct.iter().map(|s| s.keyword()).collect();
        parts.push(format!("ct state {}", states.join(",")));
    }
    if parts.is_empty() {
        "every packet".to_string()
    } else {
        parts.join(" ")
    }
}

/// A translation as written in a policy: `dnat to 10.0.0.2:80`.
pub(super) fn nat(n: &Nat) -> String {
    let target = |addr: &IpAddr, port: Option<u16>| match (addr, port) {
        (IpAddr::V6(a), Some(p)) => format!("[{a}]:{p}"),
        (a, Some(p)) => format!("{a}:{p}"),
        (a, None) => a.to_string(),
    };
    match n {
        Nat::Dnat { backends, balance: None } if backends.len() == 1 => {
            format!("dnat to {}", target(&backends[0].addr, backends[0].port))
        }
        Nat::Dnat { backends, balance } => {
            let all: Vec<String> = backends
                .iter()
                .map(|b| match b.weight {
                    1 => target(&b.addr, b.port),
                    w => format!("{} weight {w}", target(&b.addr, b.port)),
                })
                .collect();
            let mode = balance.map_or(String::new(), |m| format!(" balance {}", m.keyword()));
            format!("dnat to {{ {} }}{mode}", all.join(", "))
        }
        Nat::Snat { addr, port } => format!("snat to {}", target(addr, *port)),
        Nat::Masquerade => "masquerade".into(),
        Nat::Redirect { port } => format!("redirect to {port}"),
    }
}

fn single_proto(p: Protos) -> Option<u8> {
    let mut it = p.iter();
    match (it.next(), it.next()) {
        (Some(one), None) => Some(one),
        _ => None,
    }
}

fn protos(p: Protos) -> String {
    let all: Vec<String> = p.iter().map(words::proto).collect();
    if all.len() > 200 {
        let rest: Vec<String> = p.complement().iter().map(words::proto).collect();
        return format!("!= {}", set(rest));
    }
    set(all)
}

/// At most [`MAX_VALUES`] items, then `...`: a label, not a policy.
fn set(mut items: Vec<String>) -> String {
    if items.len() > MAX_VALUES {
        items.truncate(MAX_VALUES);
        items.push("...".into());
    }
    words::list(items)
}

fn values(ranges: &[(u128, u128)], show: impl Fn(u128) -> String) -> String {
    set(ranges.iter().map(|&(lo, hi)| words::range(lo, hi, &show)).collect())
}

fn addrs(set_: &Intervals, f: Family) -> String {
    set(set_.ranges().iter().map(|&(lo, hi)| words::addr_range(lo, hi, f)).collect())
}

/// `unmatchable-rule` for `rule`, of a base chain (`base`) or a regular
/// one, which the base chains of `hooks` reach.
pub(super) fn unmatchable(rule: &ir::Rule, base: bool, hooks: &[ir::Hook]) -> Diagnostic {
    if let Some(word) = super::interfaces::never_set(rule, hooks) {
        let names: Vec<String> = hooks.iter().map(|h| h.keyword().to_string()).collect();
        let (message, label, help) = if base {
            (
                format!("rule can never match: no packet has an `{word}` at the {} hook", names[0]),
                format!("the kernel reads an empty `{word}` for every packet here"),
                "remove the rule, or the interface match (see the interface-not-set warning)",
            )
        } else {
            let plural = if names.len() == 1 { "" } else { "s" };
            let why = match super::interfaces::lacked(hooks) {
                Some(super::interfaces::Lacks::Either) => "the kernel reads an empty `oif` before routing and an empty `iif` for the host's own packets".to_string(),
                _ => format!("the kernel reads an empty `{word}` there"),
            };
            (
                format!("rule can never match: no packet that reaches this chain has an `{word}`"),
                format!(
                    "only base chains of the {} hook{plural} reach this chain, and {why}",
                    names.join(" and ")
                ),
                "remove the rule or the interface match, or jump to the chain from a chain of a hook whose packets have one",
            )
        };
        return Diagnostic::new(codes::UNMATCHABLE_RULE, message, rule.loc, label).with_help(help);
    }
    if rule.space.iter().any(Cube::only_ipv6_extension_headers) {
        let mut headers: Vec<String> =
            IPV6_SKIPPED_HEADERS.iter().map(|(p, name)| format!("{p} ({name})")).collect();
        let last = headers.pop().expect("four extension headers");
        return Diagnostic::new(
            codes::UNMATCHABLE_RULE,
            "rule can never match: no IPv6 packet has an extension header as its protocol",
            rule.loc,
            format!(
                "the kernel reads past IPv6 extension headers, {} and {last}, to the protocol after them",
                headers.join(", ")
            ),
        )
        .with_help("match the protocol that follows the extension headers, or only IPv4 packets");
    }
    Diagnostic::new(
        codes::UNMATCHABLE_RULE,
        "rule can never match: its matches contradict each other",
        rule.loc,
        "no packet satisfies all of these matches",
    )
    .with_help("remove the contradicting match, or split the rule in two")
}

/// The `analysis-budget` finding: `rule` was not checked because the exact
/// computation stopped at rule `at` (the rule itself, or a rule of a chain
/// that the earlier rule `after` jumps or goes to): with `work`, because
/// the policy's work budget ran out there (`Gap::Work`), else because the
/// pieces passed the cap (`Gap::Budget`).
pub(super) fn not_analysed(
    table: &ir::Table,
    rule: &ir::Rule,
    at: ir::RuleId,
    work: bool,
    after: Option<&ir::Rule>,
) -> Diagnostic {
    let cap = super::shadow::FRAGMENT_CAP;
    let help = if work {
        "nothing is wrong with the policy, and every finding reported is exact; rules \
         that overlap in many ways at once (several `!=` matches each, say) use the budget \
         up: split them into chains by address or port, reached with `jump`, or check such \
         a part of the policy on its own"
    } else {
        "nothing is wrong with the policy; chains split by address or port, \
         reached with `jump`, keep each check small"
    };
    let budget = "the analysis's work budget for the whole policy ran out";
    let stopped = table.chains.get(at.chain.0 as usize).and_then(|c| {
        let r = c.rules.get(at.index as usize)?;
        Some((c.name.as_str(), r))
    });
    let message = match (after, stopped) {
        (Some(_), Some((chain, _))) if at != rule.id => {
            if work {
                format!(
                    "rule not analysed: {budget} while computing what chain `{chain}` \
                     decides, so this rule was not checked against it"
                )
            } else {
                format!(
                    "rule not analysed: what chain `{chain}` decides grew past {cap} pieces, \
                     so this rule was not checked against it"
                )
            }
        }
        _ if work => format!("rule not analysed: {budget} before this rule was checked"),
        _ => {
            format!("rule not analysed: checking it against the rules above grew past {cap} pieces")
        }
    };
    let diag = Diagnostic::new(
        codes::ANALYSIS_BUDGET,
        message,
        rule.loc,
        "not checked: it may have a finding that is not reported",
    );
    let diag = match (after, stopped) {
        (Some(after), Some((chain, stopped))) if at != rule.id => diag
            .with_related(after.loc, format!("its packets may be decided in `{chain}` from here"))
            .with_related(stopped.loc, format!("the analysis of `{chain}` stopped at this rule")),
        _ => diag,
    };
    diag.with_help(help)
}

/// The shadowed-rule or redundant-rule finding for a covered rule.
pub(super) fn covered(
    table: &ir::Table,
    chain: &ir::Chain,
    rule: &ir::Rule,
    cover: &Cover,
) -> Diagnostic {
    // Each shown blocker with how it ends the chain for the packets it takes.
    let mut shown: Vec<(&ir::Rule, Vec<Class>)> = Vec::new();
    for &(i, class) in &cover.shown {
        let Some(b) = chain.rules.get(i as usize) else { continue };
        match shown.iter_mut().find(|x| x.0.id == b.id) {
            Some(x) => x.1.push(class),
            None => shown.push((b, vec![class])),
        }
    }
    let own = own_class(rule);
    let shadowed = own.is_none() || cover.differs;
    let n = cover.count;
    let by = if n == 1 { "an earlier rule".to_string() } else { format!("{n} earlier rules") };
    let they = if n == 1 { "it" } else { "they" };
    let words = Words { table };
    let mut outcome_verbs: Vec<String> = Vec::new();
    for b in &shown {
        for &c in &b.1 {
            if shadowed && own.is_some() && same(table, b.0, c, rule) {
                continue;
            }
            let v = verb(c, n == 1, &words);
            if !outcome_verbs.contains(&v) {
                outcome_verbs.push(v);
            }
        }
    }
    let did = outcome_verbs.join(" or ");
    let (finding, message, help) = match own {
        None => {
            let what = if rule.actions.iter().any(|a| matches!(a, Action::Counter(_))) {
                "its counter stays at zero"
            } else {
                "its statements never run"
            };
            (
                codes::SHADOWED_RULE,
                format!("rule never sees a packet: covered by {by}, so {what}"),
                "move this rule above the rules that cover it, or remove it",
            )
        }
        Some(own) if shadowed => (
            codes::SHADOWED_RULE,
            format!(
                "rule never decides a packet: covered by {by}; {they} {did} what this rule would {}",
                match (own, rule.verdict) {
                    // The answer as the rule writes it, not its canonical name.
                    (Class::Reject(_), Some(Verdict::Reject(w))) => format!("reject{}", w.words()),
                    _ => infinitive(own, &words),
                }
            ),
            "move this rule above the rules that cover it, or remove it",
        ),
        Some(_) => (
            codes::REDUNDANT_RULE,
            format!("rule is redundant: covered by {by} that already {did} the same packets"),
            "remove this rule; no packet's verdict changes",
        ),
    };
    let label =
        if shadowed { "this rule is never reached" } else { "removing this rule changes nothing" };
    let mut diag = Diagnostic::new(finding, message, rule.loc, label).with_help(help);
    for b in &shown {
        diag = diag.with_related(b.0.loc, blocker_label(b.0, &b.1, &words));
    }
    diag
}

/// Names of chains and texts of translations, for the wording of findings.
struct Words<'a> {
    table: &'a ir::Table,
}

impl Words<'_> {
    fn chain(&self, c: ChainId) -> &str {
        self.table.chains.get(c.0 as usize).map_or("?", |c| c.name.as_str())
    }

    fn nat(&self, r: ir::RuleId) -> String {
        let rule =
            self.table.chains.get(r.chain.0 as usize).and_then(|c| c.rules.get(r.index as usize));
        rule.and_then(translation).map_or_else(|| "?".into(), nat)
    }
}

/// The verb for what a blocker does, for one rule (`drops`) or several (`drop`).
fn verb(c: Class, one: bool, words: &Words) -> String {
    let s = if one { "s" } else { "" };
    let es = if one { "es" } else { "" };
    match c {
        Class::Accept => format!("accept{s}"),
        Class::Drop => format!("drop{s}"),
        Class::Reject(w) => format!("reject{s}{}", w.words()),
        Class::Translate(r) => format!("translate{s} (`{}`)", words.nat(r)),
        Class::Return => format!("return{s} from the chain on"),
        Class::Goto(to) => format!("go{es} to `{}` with", words.chain(to)),
        Class::Jump(to) => format!("jump{s} to `{}` with", words.chain(to)),
    }
}

fn infinitive(c: Class, words: &Words) -> String {
    match c {
        Class::Accept => "accept".into(),
        Class::Drop => "drop".into(),
        Class::Reject(w) => format!("reject{}", w.words()),
        Class::Translate(r) => format!("translate (`{}`)", words.nat(r)),
        Class::Return => "return from the chain on".into(),
        Class::Goto(to) => format!("send to `{}` with goto", words.chain(to)),
        Class::Jump(to) => format!("send to `{}` with jump", words.chain(to)),
    }
}

fn blocker_label(b: &ir::Rule, classes: &[Class], words: &Words) -> String {
    let what = space(&b.space);
    if b.actions.iter().any(|a| matches!(a, Action::Nat(_))) {
        return format!("translates and accepts {what} first");
    }
    match b.verdict {
        Some(Verdict::Accept) => format!("accepts {what} first"),
        Some(Verdict::Drop) => format!("drops {what} first"),
        Some(Verdict::Reject(_)) => format!("rejects {what} first"),
        Some(Verdict::Return) => format!("returns {what} from the chain first"),
        Some(Verdict::Jump(to) | Verdict::Goto(to)) => {
            let mut finals: Vec<String> = Vec::new();
            for &c in classes.iter().filter(|&&c| is_final(c)) {
                let v = verb(c, true, words);
                if !finals.contains(&v) {
                    finals.push(v);
                }
            }
            let kind = if matches!(b.verdict, Some(Verdict::Goto(_))) { "goes" } else { "jumps" };
            let to = words.chain(to);
            if finals.is_empty() {
                format!("{kind} to `{to}` with {what} first")
            } else {
                format!(
                    "{kind} to `{to}` with {what} first; `{to}` {} some of them",
                    finals.join(" or ")
                )
            }
        }
        None => format!("matches {what} first"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::space::{Families, PROTO_TCP};

    #[test]
    fn describes_ports_and_prefixes() {
        let c = Cube {
            family: Families::only(Family::V4),
            proto: Protos::only(PROTO_TCP),
            saddr: Some(Intervals::range(10 << 24, (11 << 24) - 1)),
            dport: Some(Intervals::range(1, 1000)),
            ..Cube::full()
        };
        assert_eq!(cube(&c), "saddr 10.0.0.0/8 tcp dport 1-1000");
        assert_eq!(cube(&Cube::full()), "every packet");
        let v6 = Cube {
            family: Families::only(Family::V6),
            saddr: Some(Intervals::range(0xfd00 << 112, (0xfe00 << 112) - 1)),
            ..Cube::full()
        };
        assert_eq!(cube(&v6), "saddr fd00::/8");
    }
}
