//! `import` of rules cut short: every rule of the sample rulesets, and the
//! translations `nft list ruleset` shows of what `apply` makes, cut after
//! each of its words, imports (the rule left out with its reason, or a
//! located error) and never panics. `dnat ip to numgen` cut there used to
//! index past the end of the rule. Likewise each value of the sample JSON
//! ruleset's objects swapped for an odd one: `{"elem": {}}` used to be
//! read as itself, again and again, for ever.

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

/// Values nft never writes where the sample has what it writes.
const ODD: &[&str] = &[
    "null",
    "-1",
    "18446744073709551616",
    "\"\"",
    "[]",
    "{}",
    "{\"elem\": {}}",
    "{\"range\": [5, 1]}",
    "{\"set\": [{\"elem\": {}}]}",
    "{\"concat\": []}",
];

/// Every path to a value inside `v`, as JSON pointers.
fn pointers(v: &serde_json::Value, at: String, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(o) => {
            for (k, x) in o {
                let p = format!("{at}/{}", k.replace('~', "~0").replace('/', "~1"));
                out.push(p.clone());
                pointers(x, p, out);
            }
        }
        serde_json::Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                let p = format!("{at}/{i}");
                out.push(p.clone());
                pointers(x, p, out);
            }
        }
        _ => {}
    }
}

#[test]
fn json_objects_with_odd_values_import_without_a_panic_or_a_hang() {
    let sample: serde_json::Value =
        serde_json::from_str(include_str!("../../shriekc/tests/import/router.json"))
            .expect("the sample is JSON");
    let objects = sample["nftables"].as_array().expect("a list");
    let head: Vec<&serde_json::Value> =
        objects.iter().filter(|o| o.get("table").is_some()).collect();
    let chains: Vec<&serde_json::Value> =
        objects.iter().filter(|o| o.get("chain").is_some()).collect();
    let mut tried = 0;
    for o in objects
        .iter()
        .filter(|o| o.get("set").is_some() || o.get("map").is_some() || o.get("rule").is_some())
        .take(40)
    {
        let mut ptrs = Vec::new();
        pointers(o, String::new(), &mut ptrs);
        for p in ptrs {
            for odd in ODD {
                let mut changed = o.clone();
                *changed.pointer_mut(&p).expect("a path of it") =
                    serde_json::from_str(odd).expect("odd values are JSON");
                let mut list: Vec<serde_json::Value> = head.iter().map(|v| (*v).clone()).collect();
                list.extend(chains.iter().map(|v| (*v).clone()));
                list.push(changed);
                let text = serde_json::json!({ "nftables": list }).to_string();
                let out =
                    std::panic::catch_unwind(|| import::import(&[input(text)], Format::NftJson));
                assert!(out.is_ok(), "import panicked with {odd} at {p} of {o}");
                tried += 1;
            }
        }
    }
    assert!(tried > 1000, "{tried} objects");
}
