//! What an iptables or nft user types in the first hour, and the error they
//! read: the spelling named as iptables' or nft's, and Shriek's in the help
//! line. Each case is snapshotted as rendered, in `snapshots/foreign/`.

use shriek_compiler::render::render_text;
use shriek_compiler::resolve;

/// Resolves `source` and snapshots what the user reads.
fn check(name: &str, source: &str) {
    let fe = resolve::resolve_str("main.shr", source);
    let errors = render_text(&fe.diagnostics, &fe.sources, false);
    shriek_testkit::snapshot!(
        "foreign",
        name,
        format!("--- SOURCE ---\n{source}\n--- ERRORS ---\n{errors}")
    );
}

/// `line` as the one rule of an input chain.
fn rule(line: &str) -> String {
    format!("table filter {{\n  chain input hook input policy drop {{\n    {line}\n  }}\n}}\n")
}

/// One test per line: `name: "rule";` puts the rule in a chain.
macro_rules! rules {
    ($($name:ident: $line:expr;)*) => {
        $(#[test] fn $name() { check(stringify!($name), &rule($line)) })*
    };
}

/// One test per line: `name: "file";` checks a whole file.
macro_rules! files {
    ($($name:ident: $src:expr;)*) => {
        $(#[test] fn $name() { check(stringify!($name), $src) })*
    };
}

// nft's spellings.
rules! {
    nft_ip_saddr: "ip saddr 10.0.0.0/8 accept";
    nft_ip6_daddr: "ip6 daddr 2001:db8::1 tcp dport 443 accept";
    nft_ip_protocol: "ip protocol icmp accept";
    nft_th_dport: "th dport 53 accept";
    nft_meta_l4proto: "meta l4proto udp accept";
    nft_meta_nfproto: "meta nfproto ipv6 drop";
    nft_iifname: "iifname \"lo\" accept";
    nft_oifname_after_a_match: "tcp dport 22 oifname eth0 accept";
    nft_limit_rate: "tcp dport 22 limit rate 3/minute accept";
    nft_counter_from_list_output: "tcp dport 22 counter packets 12 bytes 720 accept";
    nft_chain_options_in_the_body: "type filter hook input priority 0; policy drop;";
    nft_several_at_once: "ip saddr 10.0.0.0/8 meta l4proto tcp iifname eth0 accept";
}

// iptables' spellings.
rules! {
    iptables_jump_drop: "-j DROP";
    iptables_dport: "tcp --dport 22 accept";
    iptables_whole_rule: "-p tcp --dport 22 -j ACCEPT";
    iptables_after_a_match: "tcp dport 22 -j ACCEPT";
    iptables_source_and_interface: "-i eth0 -s 10.0.0.0/8 -j DROP";
    iptables_negated_source: "! -s 10.0.0.0/8 -j REJECT";
    iptables_ctstate: "-m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT";
    iptables_ctstate_as_a_word: "ctstate established accept";
    iptables_multiport: "-p tcp -m multiport --dports 80,443,8000:8080 -j ACCEPT";
    iptables_limit: "-p tcp --dport 22 -m limit --limit 3/min --limit-burst 5 -j ACCEPT";
    iptables_port_without_protocol: "--dport 22 -j ACCEPT";
    iptables_append: "-A INPUT -p udp --dport 53 -j ACCEPT";
    iptables_dnat: "-p tcp --dport 80 -j DNAT --to-destination 10.0.0.2:8080";
    iptables_user_chain: "-s 10.0.0.0/8 -j ssh_guard";
}

// Keywords in capitals.
rules! {
    capital_accept: "tcp dport 22 ACCEPT";
    capital_drop_alone: "DROP";
    mixed_case_reject: "udp dport 53 Reject";
    jump_to_a_verdict: "tcp dport 22 jump ACCEPT";
}

// Whole files.
files! {
    nft_table_family: "table inet filter {\n  chain input hook input {\n    accept\n  }\n}\n";
    nft_flush_ruleset: "flush ruleset\n\ntable filter {\n  chain input hook input {\n    accept\n  }\n}\n";
    iptables_save_file: "*filter\n:INPUT DROP [0:0]\n-A INPUT -p tcp --dport 22 -j ACCEPT\nCOMMIT\n";
    capital_policy: "table filter {\n  chain input hook input policy DROP {\n    ct state ESTABLISHED accept\n  }\n}\n";
}

/// The words Shriek itself uses next to the foreign ones stay valid: the
/// foreign reader only ever sees statements that failed to parse.
#[test]
fn shriek_spellings_next_to_foreign_ones_stay_valid() {
    let policy = rule(
        "iif eth0 saddr 10.0.0.0/8 proto tcp tcp dport { 80, 443 } ct state established,related limit 3/minute counter accept",
    );
    let fe = resolve::resolve_str("main.shr", &policy);
    assert!(fe.diagnostics.is_empty(), "{}", render_text(&fe.diagnostics, &fe.sources, false));
}
