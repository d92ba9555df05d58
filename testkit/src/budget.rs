//! Policies past the exact analysis's budgets, for the tests of the
//! `analysis-budget` finding (compiler and CLI): past 10,000 pieces for one
//! rule, and past the work budget of the whole policy.

/// The box `saddr 10.0.0.0/25 daddr 10.1.0.0/25 tcp sport 0-127 tcp dport
/// 0-127`, whose packets the rules below split.
const BOX: &str = "saddr 10.0.0.0/25 daddr 10.1.0.0/25 tcp sport 0-127 tcp dport 0-127";

/// Fourteen rules, each of which splits in two every piece of [`BOX`] that
/// the ones before it left (one address bit set, one port bit clear): taken
/// from the box in turn they leave 2^14 pieces, past the budget.
fn doubling_rules() -> Vec<String> {
    let values = |prefix: &str, bit: u32, set: bool| -> String {
        let vals: Vec<String> = (0..128u32)
            .filter(|v| (v >> bit & 1 == 1) == set)
            .map(|v| format!("{prefix}{v}"))
            .collect();
        format!("{{ {} }}", vals.join(", "))
    };
    let mut rules = Vec::new();
    for bit in 0..7 {
        let (saddr, sport) = (values("10.0.0.", bit, true), values("", bit, false));
        rules.push(format!(
            "saddr {saddr} daddr 10.1.0.0/25 tcp sport {sport} tcp dport 0-127 drop"
        ));
        let (daddr, dport) = (values("10.1.0.", bit, true), values("", bit, false));
        rules.push(format!(
            "saddr 10.0.0.0/25 daddr {daddr} tcp sport 0-127 tcp dport {dport} drop"
        ));
    }
    rules
}

fn chain(name: &str, header: &str, rules: &[String]) -> String {
    let body: Vec<String> = rules.iter().map(|r| format!("    {r}\n")).collect();
    format!("  chain {name}{header} {{\n{}  }}\n", body.concat())
}

/// A chain whose last rule (the whole box) is covered, but checking it
/// needs more pieces than the budget: the doubling rules, then one small rule
/// per source address that takes the rest.
pub fn covered_past_budget() -> String {
    let mut rules = doubling_rules();
    for s in 0..128u32 {
        let sports: Vec<String> =
            (0..128u32).filter(|p| p & s == s).map(|p| p.to_string()).collect();
        rules.push(format!(
            "saddr 10.0.0.{s} daddr 10.1.0.0/25 tcp sport {{ {} }} tcp dport 0-127 drop",
            sports.join(", ")
        ));
    }
    rules.push(format!("{BOX} accept"));
    format!("table t {{\n{}}}\n", chain("input", " hook input policy drop", &rules))
}

/// A jump to a chain whose decided packets cannot be computed within the
/// budget, a rule after it that the jump may decide, and one it cannot.
pub fn jump_past_budget() -> String {
    let mut big = doubling_rules();
    big.push(format!("{BOX} accept"));
    let input = ["tcp dport 0-127 jump big", "tcp dport 80 accept", "udp dport 53 accept"]
        .map(String::from);
    format!(
        "table t {{\n{}{}}}\n",
        chain("input", " hook input policy drop", &input),
        chain("big", "", &big)
    )
}

/// `n` rules in one chain, each negating three matches (`saddr !=`, `daddr
/// !=` and `tcp dport !=` a set of 30 ports), the verdicts alternating. Every
/// rule overlaps every other in many ways at once, so the exact check of one
/// rule cuts it by every rule above it, piece by piece: the analysis's work
/// grows with the square of `n` and more. Without the policy's work budget,
/// 3,000 of these took 10 s of CPU; the budget stops it early.
pub fn negations(n: usize) -> String {
    let mut rules = Vec::with_capacity(n);
    for i in 0..n {
        let (a, b) = (i % 250, i / 250 % 250);
        // 30 distinct ports in 1000-5999, a different mix for each rule.
        let ports: Vec<String> =
            (0..30).map(|k| (1000 + (i * 7919 + k * 131) % 5000).to_string()).collect();
        let verdict = if i % 2 == 1 { "accept" } else { "drop" };
        rules.push(format!(
            "saddr != 10.{b}.{a}.0/24 daddr != 192.168.{b}.{a} tcp dport != {{ {} }} {verdict}",
            ports.join(", ")
        ));
    }
    format!("table t {{\n{}}}\n", chain("input", " hook input policy drop", &rules))
}
