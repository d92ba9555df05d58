//! `import` of rules cut short: every rule of the sample rulesets, and the
//! translations `nft list ruleset` shows of what `apply` makes, cut after
//! each of its words, imports (the rule left out with its reason, or a
//! located error) and never panics. `dnat ip to numgen` cut there used to
//! index past the end of the rule.

use shriek_compiler::import::{self, Format, Input};

/// Rules as nft lists them, besides those of the sample ruleset.
const NAT_RULES: &[&str] = &[
    "ip daddr 192.0.2.80 tcp dport 80 counter packets 0 bytes 0 dnat ip to numgen inc mod 3 map @nat_721e27aa",
    "ip daddr 192.0.2.81 tcp dport 443 dnat ip to jhash ip saddr mod 2 seed 0x0 map @nat_50cb29b5",
    "meta l4proto tcp dnat ip addr . port to numgen inc mod 3 map { 0 : 10.0.1.1 . 8080, 1-2 : 10.0.1.2 . 8080 }",
    "dnat ip6 to [fd00::1]:80",
    "redirect to :8080",
    "masquerade random,persistent",
    "snat ip to 10.0.0.1-10.0.0.9",
];

const MAP: &str = "\tmap nat_721e27aa {\n\t\ttypeof numgen inc mod 3 : ip daddr . th dport\n\t\t\
                   elements = { 0 : 10.0.1.1 . 8080, 1 : 10.0.1.2 . 8080, 2 : 10.0.1.2 . 8080 }\n\t}\n";

fn input(text: String) -> Input {
    Input { name: "cut".into(), text, family: None }
}

/// Each rule line of `text`: the indented lines of its chains that are
/// not a chain's header.
fn rule_lines(text: &str) -> Vec<&str> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.ends_with('{') && *l != "}" && !l.starts_with("type "))
        .filter(|l| !l.starts_with("elements") && !l.starts_with("flags") && !l.starts_with('#'))
        .collect()
}

/// `rule` cut after each of its words (and whole).
fn cuts(rule: &str) -> Vec<String> {
    let words: Vec<&str> = rule.split(' ').collect();
    (1..=words.len()).map(|n| words[..n].join(" ")).collect()
}

#[test]
fn nft_rules_cut_short_import_without_a_panic() {
    let sample = include_str!("../../shriekc/tests/import/router.nft");
    let mut rules: Vec<&str> = rule_lines(sample);
    rules.extend(NAT_RULES);
    let mut tried = 0;
    for rule in rules {
        for cut in cuts(rule) {
            for kind in ["filter hook input", "nat hook prerouting"] {
                let text = format!(
                    "table inet t {{\n{MAP}\tchain c {{\n\t\ttype {kind} priority 0; policy accept;\n\t\t{cut}\n\t}}\n}}\n"
                );
                let out = std::panic::catch_unwind(|| import::import(&[input(text)], Format::Nft));
                assert!(out.is_ok(), "import panicked on the rule `{cut}` ({kind})");
                tried += 1;
            }
        }
    }
    assert!(tried > 1000, "{tried} cuts");
}

#[test]
fn iptables_rules_cut_short_import_without_a_panic() {
    let sample = include_str!("../../shriekc/tests/import/server.rules");
    let mut tried = 0;
    for rule in sample.lines().filter(|l| l.starts_with("-A ")) {
        for cut in cuts(rule) {
            let text =
                format!("*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n{cut}\nCOMMIT\n");
            let out =
                std::panic::catch_unwind(|| import::import(&[input(text)], Format::IptablesSave));
            assert!(out.is_ok(), "import panicked on the rule `{cut}`");
            tried += 1;
        }
    }
    assert!(tried > 100, "{tried} cuts");
}
