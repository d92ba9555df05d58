//! `import` of balanced translations as `nft list ruleset` lists what
//! `apply` makes: the backend is picked from a named map of the table,
//! one element per slot, each with its counter (`emit::nat_map`).

use shriek_compiler::import::{self, Format};

#[path = "common/import.rs"]
mod common;

use common::{chain_lines, input};

/// examples/load-balancer.shr's translations, listed by nft 1.0.6 after
/// `apply`, in text.
const LISTED: &str = "table inet lb {
\tmap nat_721e27aa {
\t\ttypeof numgen inc mod 3 : ip daddr . th dport
\t\tcounter
\t\telements = { 0 counter packets 4 bytes 240 : 10.0.1.1 . 8080, 1 counter packets 3 bytes 180 : 10.0.1.2 . 8080, 2 counter packets 3 bytes 180 : 10.0.1.2 . 8080 }
\t}

\tmap nat_50cb29b5 {
\t\ttypeof numgen inc mod 2 : ip daddr . th dport
\t\tcounter
\t\telements = { 0 counter packets 0 bytes 0 : 10.0.2.1 . 8443, 1 counter packets 0 bytes 0 : 10.0.2.2 . 8443 }
\t}

\tchain prerouting {
\t\ttype nat hook prerouting priority dstnat; policy accept;
\t\tip daddr 192.0.2.80 tcp dport 80 counter packets 0 bytes 0 dnat ip to numgen inc mod 3 map @nat_721e27aa
\t\tip daddr 192.0.2.81 tcp dport 443 counter packets 0 bytes 0 dnat ip to jhash ip saddr mod 2 seed 0x0 map @nat_50cb29b5
\t}
}
";

/// The same, as `nft -j list ruleset` lists it.
const LISTED_JSON: &str = r#"{"nftables": [{"metainfo": {"version": "1.0.6"}},
{"table": {"family": "inet", "name": "lb", "handle": 1}},
{"map": {"family": "inet", "name": "nat_721e27aa", "table": "lb", "type": "integer", "handle": 7, "map": "ipv4_addr . inet_service", "elem": [[{"elem": {"val": 0, "counter": {"packets": 4, "bytes": 240}}}, {"concat": ["10.0.1.1", 8080]}], [{"elem": {"val": 1, "counter": {"packets": 3, "bytes": 180}}}, {"concat": ["10.0.1.2", 8080]}], [{"elem": {"val": 2, "counter": {"packets": 3, "bytes": 180}}}, {"concat": ["10.0.1.2", 8080]}]], "stmt": [{"counter": null}]}},
{"map": {"family": "inet", "name": "nat_50cb29b5", "table": "lb", "type": "integer", "handle": 9, "map": "ipv4_addr . inet_service", "elem": [[{"elem": {"val": 0, "counter": {"packets": 0, "bytes": 0}}}, {"concat": ["10.0.2.1", 8443]}], [{"elem": {"val": 1, "counter": {"packets": 0, "bytes": 0}}}, {"concat": ["10.0.2.2", 8443]}]], "stmt": [{"counter": null}]}},
{"chain": {"family": "inet", "table": "lb", "name": "prerouting", "handle": 2, "type": "nat", "hook": "prerouting", "prio": -100, "policy": "accept"}},
{"rule": {"family": "inet", "table": "lb", "chain": "prerouting", "handle": 8, "expr": [{"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "daddr"}}, "right": "192.0.2.80"}}, {"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 80}}, {"counter": {"packets": 0, "bytes": 0}}, {"dnat": {"family": "ip", "addr": {"map": {"key": {"numgen": {"mode": "inc", "mod": 3, "offset": 0}}, "data": "@nat_721e27aa"}}}}]}},
{"rule": {"family": "inet", "table": "lb", "chain": "prerouting", "handle": 10, "expr": [{"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "daddr"}}, "right": "192.0.2.81"}}, {"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 443}}, {"counter": {"packets": 0, "bytes": 0}}, {"dnat": {"family": "ip", "addr": {"map": {"key": {"jhash": {"mod": 2, "seed": 0, "expr": {"payload": {"protocol": "ip", "field": "saddr"}}}}, "data": "@nat_50cb29b5"}}}}]}}]}"#;

const WANT: &str = "daddr 192.0.2.80 tcp dport 80 dnat to { 10.0.1.1:8080, 10.0.1.2:8080 weight 2 } balance round-robin\n\
                    daddr 192.0.2.81 tcp dport 443 dnat to { 10.0.2.1:8443, 10.0.2.2:8443 } balance source-hash";

#[test]
fn a_balanced_translations_named_map_imports_with_its_weights() {
    for (what, format) in [(LISTED, Format::Nft), (LISTED_JSON, Format::NftJson)] {
        let out = import::import(&[input(what)], format).expect("imports");
        assert_eq!(
            chain_lines(&out.policy, "lb", "prerouting"),
            WANT,
            "{format:?}\n{}",
            out.policy
        );
    }
}

/// A named map that is not one the language can say (a slot left out, a
/// map that is not there) leaves the rule out with its reason, and a
/// slot range as wide as 32 bits is not a weight: never a panic.
#[test]
fn a_named_map_the_language_cannot_say_leaves_the_rule_out() {
    let cases = [
        ("0 : 10.0.1.1 . 8080, 2 : 10.0.1.2 . 8080", "@m"),
        ("0 : 10.0.1.1 . 8080", "@absent"),
        ("0-4294967295 : 10.0.1.1 . 8080", "@m"),
        ("0-4294967294 : 10.0.1.1 . 8080, 4294967295 : 10.0.1.1 . 8080", "@m"),
        // Written in the rule, as nft lists an anonymous map.
        ("", "{ 0-4294967295 : 10.0.1.1 . 8080 }"),
        ("", "{ 0-2 : 10.0.1.1 . 8080, 3-4294967295 : 10.0.1.1 . 8080 }"),
    ];
    for (elements, map) in cases {
        let text = format!(
            "table inet lb {{\n\tmap m {{\n\t\ttypeof numgen inc mod 3 : ip daddr . th dport\n\t\t\
             elements = {{ {elements} }}\n\t}}\n\tchain prerouting {{\n\t\t\
             type nat hook prerouting priority dstnat; policy accept;\n\t\t\
             tcp dport 80 dnat ip to numgen inc mod 3 map {map}\n\t}}\n}}\n"
        );
        let out = import::import(&[input(&text)], Format::Nft).expect("imports");
        let lines = chain_lines(&out.policy, "lb", "prerouting");
        assert!(lines.contains("# left out"), "{elements} {map}:\n{}", out.policy);
    }
}
