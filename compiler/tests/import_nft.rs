//! `import` of nftables rulesets: what each nft expression becomes, one
//! case per line, as `nft list ruleset` and `nft -j list ruleset` write
//! them, and the whole-ruleset behaviours (sets and maps, families, errors).

use shriek_compiler::import::{self, Format};

#[path = "common/import.rs"]
mod common;

use common::{chain_lines, input};

/// The lines rules of an inet table's base chain (a nat chain when `nat`)
/// become.
fn nft_chain(rules: &str, nat: bool) -> String {
    let head = if nat {
        "type nat hook prerouting priority dstnat; policy accept;"
    } else {
        "type filter hook input priority filter; policy accept;"
    };
    let text = format!(
        "table inet t {{\n\tchain c {{\n\t\t{head}\n{rules}\n\t}}\n\tchain other {{\n\t}}\n}}\n"
    );
    let imported =
        import::import(&[input(&text)], Format::Nft).unwrap_or_else(|e| panic!("{}", e.message));
    chain_lines(&imported.policy, "t", "c")
}

macro_rules! nft_cases {
    ($($name:ident: $rules:expr => $want:expr;)*) => {
        $(#[test] fn $name() { assert_eq!(nft_chain($rules, false), $want, "from {}", $rules); })*
    };
}

nft_cases! {
    nft_mark: "meta mark 0x00000010 accept" => "mark 0x10 accept";
    nft_mark_negated: "meta mark != 0x00000010 tcp dport 22 drop" => "mark != 0x10 tcp dport 22 drop";
    nft_mark_bare_and_decimal: "mark 16 accept" => "mark 0x10 accept";
    nft_mark_set_and_prefix: "meta mark { 0x00000001, 0x00000020/28 } drop" => "mark { 0x1, 0x20-0x2f } drop";
    nft_mark_range: "meta mark 0x00000020-0x0000002f drop" => "mark 0x20-0x2f drop";
    nft_mark_masked: "meta mark & 0xfffffffd == 0x00000001 drop" => "mark { 0x1, 0x3 } drop";
    nft_mark_masked_negated: "meta mark & 0xffff0000 != 0x00010000 drop" => "mark != 0x10000-0x1ffff drop";
    nft_mark_masked_sparse_is_left_out: "meta mark & 0x0000ff00 == 0x00000100 drop"
        => "# left out (rules:4): a masked mark match (`--mark V/M`, `meta mark & M == V`) of more than 16 ranges of marks: masked marks are not in the language yet\n# meta mark & 0x0000ff00 == 0x00000100 drop";
    nft_mark_masked_before_a_verdict_map: "meta mark & 0xfffdffff != 0x2 udp dport vmap { 53 : drop }" => "# a verdict map as one rule per element: meta mark & 0xfffdffff != 0x2 udp dport vmap { 53 : drop }\nmark != { 0x2, 0x20002 } udp dport 53 drop";
    nft_mark_set: "iifname \"wg0\" meta mark set 0x00000010" => "iif wg0 mark set 0x10";
    nft_mark_set_then_verdict: "meta mark set 0x00000010 accept" => "mark set 0x10 accept";
    nft_mark_set_of_an_expression_is_left_out: "meta mark set meta mark | 0x00000004"
        => "# left out (rules:4): `meta mark set <expression>` has no equivalent in shriek yet\n# meta mark set meta mark | 0x00000004";
    nft_ct_mark_is_left_out: "ct mark 0x00000001 drop"
        => "# left out (rules:4): `ct mark` (the connection's mark) is not in the language yet\n# ct mark 0x00000001 drop";
    nft_ct_mark_set_is_left_out: "ct mark set 0x00000001"
        => "# left out (rules:4): `ct mark set` has no equivalent in shriek yet\n# ct mark set 0x00000001";
    nft_addresses: "ip saddr 10.0.0.0/8 ip6 daddr != { fd00::/8, ::1 } accept" => "saddr 10.0.0.0/8 daddr != { fd00::/8, ::1 } accept";
    nft_ip_protocol_holds_for_ipv4_only: "ip protocol udp accept" => "family ipv4 proto udp accept";
    nft_l4proto_set: "meta l4proto { tcp, udp } accept" => "proto { tcp, udp } accept";
    nft_th_port_with_one_protocol: "meta l4proto tcp th dport 22 accept" => "tcp dport 22 accept";
    nft_th_port_with_two_protocols: "meta l4proto { tcp, udp } th dport 53 accept"
        => "# `th` ports as one rule per protocol: meta l4proto { tcp, udp } th dport 53 accept\ntcp dport 53 accept\nudp dport 53 accept";
    nft_th_port_without_protocol_is_left_out: "th dport 53 accept"
        => "# left out (rules:4): `th` ports without a match on TCP, UDP or SCTP\n# th dport 53 accept";
    nft_port_comparison: "tcp dport < 1024 drop" => "tcp dport 0-1023 drop";
    nft_interfaces: "iifname \"eth0\" oif \"lo\" accept" => "iif eth0 oif lo accept";
    nft_interface_wildcard: "iifname \"eth*\" oifname != { \"wg*\", \"br-lan\" } accept" => "iif eth* oif != { wg*, br-lan } accept";
    nft_interface_quoted: "iifname \"br@lan\" accept" => "iif \"br@lan\" accept";
    nft_interface_escaped_star_is_left_out: "iifname \"eth\\*\" accept"
        => "# left out (rules:4): an interface name with an escaped character (`\\*`)\n# iifname \"eth\\*\" accept";
    nft_icmp_type: "icmp type echo-request accept" => "icmp type echo-request accept";
    nft_icmp_as_shriekc_writes_it: "meta nfproto ipv4 meta l4proto icmp icmp type 3-5 icmp code != port-unreachable accept"
        => "icmp type 3-5 icmp code != port-unreachable accept";
    nft_icmpv6_type_set: "icmpv6 type { nd-neighbor-solicit, 130, 1-4 } icmpv6 code 0 accept"
        => "icmpv6 type { nd-neighbor-solicit, mld-listener-query, 1-4 } icmpv6 code no-route accept";
    nft_l4proto_icmp_of_the_family: "meta nfproto ipv6 meta l4proto ipv6-icmp accept" => "proto icmpv6 accept";
    nft_l4proto_icmp_in_inet_says_what_it_leaves: "meta l4proto icmp accept"
        => "# read as `proto icmp` (`icmpv6`), IPv4 (IPv6) packets only: nft's listing hides the `meta nfproto` before it, and without one nft also matches the other family's packets of that number, which no stack sends: meta l4proto icmp accept\nproto icmp accept";
    nft_l4proto_icmp_of_the_other_family_is_left_out: "meta nfproto ipv6 meta l4proto icmp accept"
        => "# left out (rules:4): `meta l4proto` of the other family's ICMP, which shriek cannot match\n# meta nfproto ipv6 meta l4proto icmp accept";
    nft_ct_state_any: "ct state established,related accept" => "ct state established,related accept";
    nft_ct_state_set: "ct state { new, invalid } drop" => "ct state new,invalid drop";
    nft_ct_state_none_of: "ct state ! established,related drop" => "ct state != established,related drop";
    nft_ct_state_not_the_bits_together_is_every_packet: "ct state != established | related drop"
        => "# `ct state != a | b` compares with the states together, which no packet has: it holds for every packet: ct state != established | related drop\ndrop";
    nft_ct_state_the_bits_together_is_no_packet: "ct state established | related drop"
        => "# left out (rules:4): `ct state a | b` holds for no packet\n# ct state established | related drop";
    nft_family: "meta nfproto ipv6 accept" => "family ipv6 accept";
    nft_counter_before_a_match: "counter tcp dport 22 accept"
        => "# statements before a match get a rule of their own: counter tcp dport 22 accept\ncounter\ntcp dport 22 accept";
    nft_counter_after_the_matches_is_the_rules_own: "tcp dport 22 counter packets 12 bytes 3400 accept" => "tcp dport 22 accept";
    nft_counter_alone_stays: "tcp dport 22 counter" => "tcp dport 22 counter";
    nft_named_counter_stays: "tcp dport 22 counter counter name \"ssh\" accept" => "tcp dport 22 counter ssh accept";
    nft_limit_default_burst: "limit rate 10/second accept" => "limit 10/second accept";
    nft_limit_burst: "limit rate 10/minute burst 20 packets accept" => "limit 10/minute burst 20 accept";
    nft_limit_per_week: "limit rate 14/week accept" => "limit 2/day accept";
    nft_limit_over_is_left_out: "limit rate over 10/second drop"
        => "# left out (rules:4): `limit rate over` is not in the language\n# limit rate over 10/second drop";
    nft_limit_before_a_match_is_left_out: "limit rate 10/second tcp dport 22 accept"
        => "# left out (rules:4): a match after a statement other than `counter` or `log`\n# limit rate 10/second tcp dport 22 accept";
    nft_log: "log prefix \"in: \" level warn" => "log prefix \"in: \"";
    nft_log_level: "log prefix \"in: \" level info" => "log level info prefix \"in: \"";
    nft_log_level_audit: "log level audit" => "log level audit";
    // nft's text cannot write the escape back: `compile` of it would log
    // another prefix than `apply` (E0256).
    nft_log_prefix_nft_cannot_write_is_left_out: "log prefix \"in: \u{1b}[31m\" drop"
        => "# left out (rules:4): shriek refuses the translation: log prefix holds `\\u{1b}`\n# log prefix \"in:  [31m\" drop";
    nft_reject: "reject" => "reject";
    nft_reject_icmp_holds_for_ipv4_only: "tcp dport 1 reject with icmp type port-unreachable" => "family ipv4 tcp dport 1 reject";
    nft_reject_icmpx: "reject with icmpx type port-unreachable" => "reject";
    nft_reject_tcp_reset: "meta l4proto tcp reject with tcp reset" => "proto tcp reject with tcp reset";
    nft_reject_tcp_reset_holds_for_tcp_only: "reject with tcp reset" => "proto tcp reject with tcp reset";
    nft_reject_icmp_code: "tcp dport 1 reject with icmp admin-prohibited" => "family ipv4 tcp dport 1 reject with icmp admin-prohibited";
    nft_reject_icmp_type_code: "reject with icmp type host-unreachable" => "family ipv4 reject with icmp host-unreachable";
    nft_reject_icmpv6_code: "reject with icmpv6 type addr-unreachable" => "family ipv6 reject with icmpv6 addr-unreachable";
    nft_reject_icmpx_code: "reject with icmpx admin-prohibited" => "reject with icmpx admin-prohibited";
    nft_reject_of_the_other_family_is_left_out: "meta nfproto ipv6 reject with icmp host-unreachable"
        => "# left out (rules:4): a reject answer of the other family, which nft never sends\n# meta nfproto ipv6 reject with icmp host-unreachable";
    nft_meter: "tcp dport 22 meter m1 size 65535 { ip saddr limit rate 3/minute burst 7 packets } accept"
        => "family ipv4 tcp dport 22 limit 3/minute burst 7 per saddr accept";
    nft_meter_count: "tcp dport 24 meter m3 size 65535 { ip6 daddr ct count over 5 } drop"
        => "family ipv6 tcp dport 24 ct count over 5 per daddr drop";
    nft_meter_timeout_short_is_left_out: "meter m2 { ip saddr timeout 30s limit rate 1/minute } accept"
        => "# left out (rules:4): a meter that forgets an address before its bucket is full again (a timeout shorter than burst / rate), which lets it in early\n# meter m2 { ip saddr timeout 30s limit rate 1/minute } accept";
    nft_meter_small_is_left_out: "meter m2 size 1000 { ip saddr limit rate 10/second } accept"
        => "# left out (rules:4): a meter with room for fewer addresses than shriek's (65535)\n# meter m2 size 1000 { ip saddr limit rate 10/second } accept";
    nft_meter_over_is_left_out: "meter m4 { ip6 daddr limit rate over 3/minute } drop"
        => "# left out (rules:4): `limit rate over` is not in the language\n# meter m4 { ip6 daddr limit rate over 3/minute } drop";
    nft_meter_of_two_keys_is_left_out: "meter m5 { ip saddr . tcp dport limit rate 3/minute } accept"
        => "# left out (rules:4): a meter keyed on something other than one address (`ip saddr`, `ip6 daddr`)\n# meter m5 { ip saddr . tcp dport limit rate 3/minute } accept";
    nft_count_at_most_is_left_out: "meter m6 { ip saddr ct count 5 } accept"
        => "# left out (rules:4): `ct count N` (at most N connections) is not in the language\n# meter m6 { ip saddr ct count 5 } accept";
    nft_verdict_map: "tcp dport vmap { 22 : accept, 80 : drop, 443 : jump other, 8080 : continue }"
        => "# a verdict map as one rule per element: tcp dport vmap { 22 : accept, 80 : drop, 443 : jump other, 8080 : continue }\ntcp dport 22 accept\ntcp dport 80 drop\ntcp dport 443 jump other";
    nft_ip6_nexthdr_is_left_out: "ip6 nexthdr tcp accept"
        => "# left out (rules:4): `ip6 nexthdr` reads only the first header, which `proto` (`meta l4proto`) does not\n# ip6 nexthdr tcp accept";
    nft_concatenation_is_left_out: "ip saddr . tcp dport { 10.0.0.1 . 22 } accept"
        => "# left out (rules:4): concatenated matches (`a . b`) are not in the language\n# ip saddr . tcp dport { 10.0.0.1 . 22 } accept";
    nft_comment: "tcp dport 22 accept comment \"ssh\"" => "tcp dport 22 accept  # ssh";
    nft_ct_status_is_left_out: "ct status dnat accept"
        => "# left out (rules:4): `ct status` has no equivalent in shriek yet\n# ct status dnat accept";
    nft_ct_direction_is_left_out: "ct direction reply accept"
        => "# left out (rules:4): `ct direction` has no equivalent in shriek yet\n# ct direction reply accept";
    nft_ct_reply_address_is_left_out: "ct reply ip saddr 10.0.0.1 accept"
        => "# left out (rules:4): `ct reply ip saddr` has no equivalent in shriek yet\n# ct reply ip saddr 10.0.0.1 accept";
    nft_ct_original_port_is_left_out: "ct original proto-dst 22 accept"
        => "# left out (rules:4): `ct original proto-dst` has no equivalent in shriek yet\n# ct original proto-dst 22 accept";
    nft_tcp_flags_masked: "tcp flags syn / fin,syn,rst,ack accept" => "tcp flags syn / fin,syn,rst,ack accept";
    nft_tcp_flags_masked_as_written: "tcp flags & (syn|ack) == syn accept" => "tcp flags syn / syn,ack accept";
    nft_tcp_flags_masked_spaced: "tcp flags & (syn | ack) != syn accept" => "tcp flags != syn / syn,ack accept";
    nft_tcp_flags_masked_numbers: "tcp flags & 0x12 == 0x12 accept" => "tcp flags syn,ack / syn,ack accept";
    nft_tcp_flags_any_of: "tcp flags syn,ack accept" => "tcp flags syn,ack accept";
    nft_tcp_flags_none_of: "tcp flags ! syn,ack accept" => "tcp flags ! syn,ack accept";
    nft_tcp_flags_exactly: "tcp flags == syn accept" => "tcp flags == syn accept";
    nft_tcp_flags_exactly_a_number: "tcp flags == 0x12 accept" => "tcp flags == syn,ack accept";
    nft_tcp_flags_exactly_or: "tcp flags == syn|ack accept" => "tcp flags == syn,ack accept";
    nft_tcp_flags_not_exactly: "tcp flags != 0x12 accept" => "tcp flags != syn,ack accept";
    nft_tcp_flags_none: "tcp flags == 0x0 drop" => "tcp flags == 0 drop";
    nft_tcp_flags_masked_negated: "tcp flags != syn / fin,syn,rst,ack drop" => "tcp flags != syn / fin,syn,rst,ack drop";
    nft_tcp_flags_one_flag_set: "tcp flags & syn == syn accept" => "tcp flags syn accept";
    nft_tcp_flags_with_port_and_state: "tcp dport 22 tcp flags syn / syn,ack ct state new accept"
        => "tcp dport 22 tcp flags syn / syn,ack ct state new accept";
    nft_tcp_flags_of_every_packet_is_the_protocol: "tcp flags ! 0x0 accept" => "proto tcp accept";
    nft_tcp_flags_of_no_packet_is_left_out: "tcp flags 0x0 accept"
        => "# left out (rules:4): a `tcp flags` test that holds for no packet\n# tcp flags 0x0 accept";
    nft_tcp_flags_set_is_left_out: "tcp flags { syn, ack } accept"
        => "# left out (rules:4): a set of `tcp flags` values (`{ syn, ack }`): each is the whole byte, which the language says one at a time\n# tcp flags { syn, ack } accept";
    nft_tcp_flags_verdict_map: "tcp flags vmap { syn : accept, 0x12 : drop }"
        => "# a verdict map as one rule per element: tcp flags vmap { syn : accept, 0x12 : drop }\ntcp flags == syn accept\ntcp flags == syn,ack drop";
}

#[test]
fn nft_address_translation() {
    let got = nft_chain(
        "tcp dport 8080 dnat ip to 10.0.0.2:80\ntcp dport 8081 dnat ip6 to [fd00::2]:80\ntcp dport 8082 redirect to :22",
        true,
    );
    assert_eq!(
        got,
        "family ipv4 tcp dport 8080 dnat to 10.0.0.2:80\nfamily ipv6 tcp dport 8081 dnat to [fd00::2]:80\ntcp dport 8082 redirect to 22"
    );
}

#[test]
fn nft_balanced_translation() {
    let got = nft_chain(
        "ip daddr 192.0.2.1 tcp dport 80 dnat ip to numgen inc mod 3 map { 0 : 10.0.1.1 . 8080, 1-2 : 10.0.1.2 . 8080 }\n\
         ip daddr 192.0.2.2 tcp dport 80 dnat ip to jhash ip saddr mod 2 seed 0x5 map { 0 : 10.0.1.1 . 8080, 1 : 10.0.1.2 . 8080 }",
        true,
    );
    assert_eq!(
        got,
        "daddr 192.0.2.1 tcp dport 80 dnat to { 10.0.1.1:8080, 10.0.1.2:8080 weight 2 } balance round-robin\n\
         # left out (rules:5): this `dnat` is not in the language yet\n\
         # ip daddr 192.0.2.2 tcp dport 80 dnat ip to jhash ip saddr mod 2 seed 0x5 map { 0 : 10.0.1.1 . 8080, 1 : 10.0.1.2 . 8080 }"
    );
}

#[test]
fn nft_named_sets_and_maps() {
    let text = "table inet t {\n\tset admins {\n\t\ttype ipv4_addr\n\t\tflags interval\n\t\telements = { 10.0.0.0/24, 10.0.1.5 }\n\t}\n\
        \tset seen {\n\t\ttype ipv4_addr\n\t\tflags dynamic,timeout\n\t}\n\
        \tmap ports {\n\t\ttype inet_service : verdict\n\t\telements = { 22 : accept, 23 : drop }\n\t}\n\
        \tchain c {\n\t\ttype filter hook input priority 0; policy drop;\n\t\tip saddr @admins tcp dport vmap @ports\n\t\tip saddr @seen drop\n\t}\n}\n";
    let imported = import::import(&[input(text)], Format::Nft).expect("imports");
    assert_eq!(
        chain_lines(&imported.policy, "t", "c"),
        "# a verdict map as one rule per element: ip saddr @admins tcp dport vmap @ports\n\
         saddr { 10.0.0.0/24, 10.0.1.5 } tcp dport 22 accept\n\
         saddr { 10.0.0.0/24, 10.0.1.5 } tcp dport 23 drop\n\
         # left out (rules:18): a set that changes at run time (`flags dynamic` or `timeout`)\n\
         # ip saddr @seen drop"
    );
}

#[test]
fn nft_tables_of_one_family_let_the_other_pass_and_merge_by_name() {
    let text = "table ip f {\n\tchain input {\n\t\ttype filter hook input priority 0; policy drop;\n\t\ttcp dport 22 accept\n\t\tudp dport 53 accept\n\t}\n}\n\
        table ip6 f {\n\tchain input {\n\t\ttype filter hook input priority 0; policy drop;\n\t\ttcp dport 22 accept\n\t}\n}\n\
        table ip g {\n\tchain output {\n\t\ttype filter hook output priority 0; policy accept;\n\t\ttcp dport 25 drop\n\t}\n}\n";
    let imported = import::import(&[input(text)], Format::Nft).expect("imports");
    assert_eq!(
        chain_lines(&imported.policy, "f", "input"),
        "tcp dport 22 accept\nfamily ipv4 udp dport 53 accept"
    );
    assert_eq!(
        chain_lines(&imported.policy, "g", "output"),
        "family ipv6 accept  # the source has only IPv4 rules here\ntcp dport 25 drop"
    );
}

#[test]
fn nft_listing_of_a_compiled_policy_reads_back() {
    // `shriekc compile` empties and deletes each table before writing it.
    let text = "#!/usr/sbin/nft -f\ntable inet f {}\ndelete table inet f\ntable inet f {\n\tchain c {\n\t\ttype filter hook input priority 0; policy drop;\n\t\ttcp dport 22 accept comment \"a.shr:3\"\n\t}\n}\n";
    let imported = import::import(&[input(text)], Format::Nft).expect("imports");
    assert_eq!(chain_lines(&imported.policy, "f", "c"), "tcp dport 22 accept  # a.shr:3");
}

#[test]
fn nft_json_reads_like_text() {
    let json = r#"{"nftables": [{"metainfo": {"version": "1.0.6"}},
        {"table": {"family": "inet", "name": "t", "handle": 1}},
        {"chain": {"family": "inet", "table": "t", "name": "c", "handle": 1, "type": "filter", "hook": "input", "prio": 0, "policy": "drop"}},
        {"rule": {"family": "inet", "table": "t", "chain": "c", "handle": 4, "expr": [
            {"match": {"op": "!", "left": {"ct": {"key": "state"}}, "right": ["established", "related"]}},
            {"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "saddr"}}, "right": {"prefix": {"addr": "10.0.0.0", "len": 8}}}},
            {"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": {"set": [22, {"range": [80, 90]}]}}},
            {"counter": {"packets": 0, "bytes": 0}}, {"limit": {"rate": 3, "per": "minute", "burst": 5}}, {"accept": null}]}},
        {"rule": {"family": "inet", "table": "t", "chain": "c", "handle": 5, "expr": [
            {"match": {"op": "==", "left": {"&": [{"payload": {"protocol": "tcp", "field": "flags"}}, ["syn", "ack"]]}, "right": "syn"}}, {"drop": null}]}}]}"#;
    let imported = import::import(&[input(json)], Format::NftJson).expect("imports");
    assert_eq!(
        chain_lines(&imported.policy, "t", "c"),
        "ct state != established,related saddr 10.0.0.0/8 tcp dport { 22, 80-90 } limit 3/minute accept\n\
         tcp flags syn / syn,ack drop"
    );
}

/// Every form of `tcp flags` nft 1.0.6 lists, as it lists them in text and
/// in JSON (both captured from `nft list ruleset` and `nft -j list ruleset`
/// of the same ruleset): the two imports say the same.
#[test]
fn nft_tcp_flags_every_listed_form() {
    const LISTED: &str = "table inet t {\n\
\tchain c {\n\
\t\ttype filter hook input priority filter; policy accept;\n\
\t\ttcp flags syn / syn,ack accept\n\
\t\ttcp flags syn,ack accept\n\
\t\ttcp flags ! syn,ack drop\n\
\t\ttcp flags == syn accept\n\
\t\ttcp flags != syn drop\n\
\t\ttcp flags == 0x12 accept\n\
\t\ttcp flags != syn / fin,syn,rst,ack drop\n\
\t\ttcp flags syn accept\n\
\t\ttcp flags == 0x0 drop\n\
\t\ttcp flags syn,ack / syn,ack accept\n\
\t\ttcp flags { syn, ack } accept\n\
\t}\n\
}\n";
    const JSON: &str = r#"{"nftables": [{"metainfo": {"version": "1.0.6", "release_name": "Lester Gooch #5", "json_schema_version": 1}}, {"table": {"family": "inet", "name": "t", "handle": 3}}, {"chain": {"family": "inet", "table": "t", "name": "c", "handle": 1, "type": "filter", "hook": "input", "prio": 0, "policy": "accept"}}, {"rule": {"family": "inet", "table": "t", "chain": "c", "handle": 2, "expr": [{"match": {"op": "==", "left": {"&": [{"payload": {"protocol": "tcp", "field": "flags"}}, ["syn", "ack"]]}, "right": "syn"}}, {"accept": null}]}}, {"rule": {"family": "inet", "table": "t", "chain": "c", "handle": 3, "expr": [{"match": {"op": "in", "left": {"payload": {"protocol": "tcp", "field": "flags"}}, "right": ["syn", "ack"]}}, {"accept": null}]}}, {"rule": {"family": "inet", "table": "t", "chain": "c", "handle": 4, "expr": [{"match": {"op": "!", "left": {"payload": {"protocol": "tcp", "field": "flags"}}, "right": ["syn", "ack"]}}, {"drop": null}]}}, {"rule": {"family": "inet", "table": "t", "chain": "c", "handle": 5, "expr": [{"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "flags"}}, "right": "syn"}}, {"accept": null}]}}, {"rule": {"family": "inet", "table": "t", "chain": "c", "handle": 6, "expr": [{"match": {"op": "!=", "left": {"payload": {"protocol": "tcp", "field": "flags"}}, "right": "syn"}}, {"drop": null}]}}, {"rule": {"family": "inet", "table": "t", "chain": "c", "handle": 7, "expr": [{"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "flags"}}, "right": 18}}, {"accept": null}]}}, {"rule": {"family": "inet", "table": "t", "chain": "c", "handle": 8, "expr": [{"match": {"op": "!=", "left": {"&": [{"payload": {"protocol": "tcp", "field": "flags"}}, ["fin", "syn", "rst", "ack"]]}, "right": "syn"}}, {"drop": null}]}}, {"rule": {"family": "inet", "table": "t", "chain": "c", "handle": 9, "expr": [{"match": {"op": "in", "left": {"payload": {"protocol": "tcp", "field": "flags"}}, "right": "syn"}}, {"accept": null}]}}, {"rule": {"family": "inet", "table": "t", "chain": "c", "handle": 10, "expr": [{"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "flags"}}, "right": 0}}, {"drop": null}]}}, {"rule": {"family": "inet", "table": "t", "chain": "c", "handle": 11, "expr": [{"match": {"op": "==", "left": {"&": [{"payload": {"protocol": "tcp", "field": "flags"}}, ["syn", "ack"]]}, "right": ["syn", "ack"]}}, {"accept": null}]}}, {"rule": {"family": "inet", "table": "t", "chain": "c", "handle": 13, "expr": [{"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "flags"}}, "right": {"set": ["syn", "ack"]}}}, {"accept": null}]}}]}"#;
    let want = "tcp flags syn / syn,ack accept\n\
                tcp flags syn,ack accept\n\
                tcp flags ! syn,ack drop\n\
                tcp flags == syn accept\n\
                tcp flags != syn drop\n\
                tcp flags == syn,ack accept\n\
                tcp flags != syn / fin,syn,rst,ack drop\n\
                tcp flags syn accept\n\
                tcp flags == 0 drop\n\
                tcp flags syn,ack / syn,ack accept";
    for (text, format) in [(LISTED, Format::Nft), (JSON, Format::NftJson)] {
        let imported = import::import(&[input(text)], format).expect("imports");
        let lines = chain_lines(&imported.policy, "t", "c");
        let (rules, left_out): (Vec<&str>, Vec<&str>) =
            lines.lines().partition(|l| !l.starts_with('#'));
        assert_eq!(rules.join("\n"), want, "{format:?}");
        assert_eq!(imported.warnings.len(), 1, "{format:?}: the set of values is left out");
        assert!(left_out[0].contains("a set of `tcp flags` values"), "{format:?}: {left_out:?}");
        assert_eq!(left_out[1], "# tcp flags { syn, ack } accept", "{format:?}");
    }
}

#[test]
fn nft_json_icmp_and_interface_wildcards() {
    // As `nft -j list ruleset` prints them (nft 1.0.6): ICMP types by
    // name, a range of names, a wildcard among names.
    let json = r#"{"nftables": [{"metainfo": {"version": "1.0.6"}},
        {"table": {"family": "inet", "name": "t", "handle": 1}},
        {"chain": {"family": "inet", "table": "t", "name": "c", "handle": 1, "type": "filter", "hook": "input", "prio": 0, "policy": "drop"}},
        {"rule": {"family": "inet", "table": "t", "chain": "c", "handle": 2, "expr": [
            {"match": {"op": "==", "left": {"payload": {"protocol": "icmp", "field": "type"}}, "right": "echo-request"}}, {"accept": null}]}},
        {"rule": {"family": "inet", "table": "t", "chain": "c", "handle": 3, "expr": [
            {"match": {"op": "==", "left": {"payload": {"protocol": "icmpv6", "field": "type"}}, "right": {"set": ["mld-listener-query", "nd-neighbor-solicit"]}}},
            {"match": {"op": "==", "left": {"payload": {"protocol": "icmpv6", "field": "code"}}, "right": "no-route"}}, {"accept": null}]}},
        {"rule": {"family": "inet", "table": "t", "chain": "c", "handle": 4, "expr": [
            {"match": {"op": "==", "left": {"payload": {"protocol": "icmp", "field": "type"}}, "right": {"range": ["destination-unreachable", "redirect"]}}}, {"accept": null}]}},
        {"rule": {"family": "inet", "table": "t", "chain": "c", "handle": 5, "expr": [
            {"match": {"op": "!=", "left": {"payload": {"protocol": "icmp", "field": "code"}}, "right": "port-unreachable"}}, {"drop": null}]}},
        {"rule": {"family": "inet", "table": "t", "chain": "c", "handle": 6, "expr": [
            {"match": {"op": "==", "left": {"meta": {"key": "iifname"}}, "right": {"set": ["eth*", "wg0"]}}}, {"accept": null}]}}]}"#;
    let imported = import::import(&[input(json)], Format::NftJson).expect("imports");
    assert_eq!(
        chain_lines(&imported.policy, "t", "c"),
        "icmp type echo-request accept\n\
         icmpv6 type { mld-listener-query, nd-neighbor-solicit } icmpv6 code no-route accept\n\
         icmp type 3-5 accept\n\
         icmp code != port-unreachable drop\n\
         iif { eth*, wg0 } accept"
    );
}

#[test]
fn nft_unreadable_input_names_its_line() {
    let e = import::import(&[input("table inet t {\n\tinclude \"x\"\n}\n")], Format::Nft);
    assert!(e.is_ok(), "an unknown statement inside a table is an object left out");
    let e = import::import(&[input("include \"rules.nft\"\n")], Format::Nft).expect_err("refused");
    assert_eq!(e.describe(&[input("")]), "rules:1: `include` is not read");
    let e = import::import(&[input("table inet t {\n\tchain c {\n")], Format::Nft)
        .expect_err("refused");
    assert_eq!(e.message, "a chain that is never closed with `}`");
    let e = import::import(&[input("{\"nftables\": [}")], Format::NftJson).expect_err("refused");
    assert!(e.message.starts_with("this is not JSON as `nft -j` prints it"), "{}", e.message);
}

/// A balanced `dnat` and the chains `shriekc compile` adds to count its
/// backends, as it writes them.
const COUNTED: &str = "table inet lb {
	set backends_ip_port {
		type ipv4_addr . inet_service . ct_dir
		counter
		elements = { 10.0.1.1 . 8080 . original, 10.0.1.1 . 8080 . reply }
	}
	chain prerouting {
		type nat hook prerouting priority -100; policy accept;
		meta l4proto tcp ip daddr 192.0.2.80 th dport 80 dnat ip addr . port to numgen inc mod 2 map { 0 : 10.0.1.1 . 8080, 1 : 10.0.1.1 . 8080 }
	}
	chain backends_prerouting {
		type filter hook prerouting priority -99; policy accept;
		meta l4proto tcp iifname != \"lo\" ct status dnat ct reply ip saddr . ct reply proto-src . ct direction @backends_ip_port
	}
	chain backends_output {
		type filter hook output priority -99; policy accept;
		meta l4proto tcp ct status dnat ct reply ip saddr . ct reply proto-src . ct direction @backends_ip_port
	}
}
";

/// The chains count and decide nothing, and compiling the imported
/// `balance` rule makes them again: they are not imported. A chain that
/// only looks like one (a verdict added, the loopback test missing on
/// `prerouting`, a set that is not there) is imported as any chain is,
/// its rules left out with their reasons.
#[test]
fn nft_backend_counting_chains_are_made_again_not_imported() {
    let policy = |text: &str| {
        import::import(&[input(text)], Format::Nft).unwrap_or_else(|e| panic!("{}", e.message))
    };
    let clean = policy(COUNTED);
    assert!(clean.warnings.is_empty(), "{:?}", clean.warnings);
    assert!(!clean.policy.contains("backends_"), "{}", clean.policy);
    assert!(clean.policy.contains("balance round-robin"), "{}", clean.policy);
    let lookalikes = [
        (
            "a verdict",
            "@backends_ip_port\n\t}\n\tchain backends_output",
            "@backends_ip_port drop\n\t}\n\tchain backends_output",
        ),
        ("no loopback test", "iifname != \"lo\" ", ""),
        ("an undeclared set", "set backends_ip_port {", "set other {"),
    ];
    for (what, from, to) in lookalikes {
        let text = COUNTED.replacen(from, to, 1);
        assert_ne!(text, COUNTED, "{what}: the edit applies");
        let imported = policy(&text);
        assert!(
            imported.policy.contains("chain backends_prerouting"),
            "{what}\n{}",
            imported.policy
        );
        assert!(
            imported.warnings.iter().any(|w| w.reasons.iter().any(|r| r.contains("concatenated"))),
            "{what}: {:?}",
            imported.warnings
        );
    }
}

/// Marks in nft's JSON: numbers in decimal, a prefix of marks, a masked
/// compare, `mangle` statements; an expression and `ct mark` are left out.
#[test]
fn nft_json_marks() {
    let rule = |handle: u32, expr: &str| {
        format!(
            r#"{{"rule": {{"family": "inet", "table": "t", "chain": "c", "handle": {handle}, "expr": {expr}}}}}"#
        )
    };
    let rules = [
        rule(
            2,
            r#"[{"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "saddr"}}, "right": "10.9.0.3"}}, {"mangle": {"key": {"meta": {"key": "mark"}}, "value": 2}}]"#,
        ),
        rule(
            3,
            r#"[{"mangle": {"key": {"meta": {"key": "mark"}}, "value": {"|": [{"meta": {"key": "mark"}}, 4]}}}]"#,
        ),
        rule(4, r#"[{"mangle": {"key": {"ct": {"key": "mark"}}, "value": 3}}]"#),
        rule(
            5,
            r#"[{"match": {"op": "!=", "left": {"meta": {"key": "mark"}}, "right": 2}}, {"drop": null}]"#,
        ),
        rule(
            6,
            r#"[{"match": {"op": "==", "left": {"meta": {"key": "mark"}}, "right": {"set": [1, {"prefix": {"addr": 32, "len": 28}}]}}}, {"drop": null}]"#,
        ),
        rule(
            7,
            r#"[{"match": {"op": "==", "left": {"&": [{"meta": {"key": "mark"}}, 4294967293]}, "right": 1}}, {"accept": null}]"#,
        ),
        rule(
            8,
            r#"[{"match": {"op": "==", "left": {"ct": {"key": "mark"}}, "right": 3}}, {"accept": null}]"#,
        ),
    ];
    let json = format!(
        r#"{{"nftables": [{{"metainfo": {{"version": "1.0.6"}}}}, {{"table": {{"family": "inet", "name": "t", "handle": 1}}}}, {{"chain": {{"family": "inet", "table": "t", "name": "c", "handle": 1, "type": "filter", "hook": "prerouting", "prio": -150, "policy": "accept"}}}}, {}]}}"#,
        rules.join(", ")
    );
    let imported = import::import(&[input(&json)], Format::NftJson).expect("imports");
    let kept: Vec<String> = chain_lines(&imported.policy, "t", "c")
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(str::to_string)
        .collect();
    assert_eq!(
        kept,
        [
            "saddr 10.9.0.3 mark set 0x2",
            "mark != 0x2 drop",
            "mark { 0x1, 0x20-0x2f } drop",
            "mark { 0x1, 0x3 } accept"
        ],
        "{}",
        imported.policy
    );
    let reasons: Vec<&str> =
        imported.warnings.iter().flat_map(|w| w.reasons.iter().map(String::as_str)).collect();
    assert_eq!(
        reasons,
        [
            "`meta mark set <expression>` has no equivalent in shriek yet",
            "`ct mark set` has no equivalent in shriek yet",
            "`ct mark` (the connection's mark) is not in the language yet",
        ]
    );
}

/// A map whose elements count, as `nft list ruleset` and `nft -j list
/// ruleset` list it live (each element's counter between its key and its
/// verdict): every element is a rule. `shriekc apply` makes such maps, so
/// importing a live shriekc table used to leave every map's rule out.
#[test]
fn nft_counting_map_as_listed_live() {
    let text = "table inet t {\n\tmap ports {\n\t\ttype inet_proto . inet_service : verdict\n\t\tcounter\n\t\t\
        elements = { tcp . 80 counter packets 3 bytes 180 : accept, udp . 53 counter packets 0 bytes 0 : drop,\n\t\t\t     \
        tcp . 22 counter packets 7 bytes 420 : jump admin }\n\t}\n\
        \tmap nets {\n\t\ttype ipv4_addr : verdict\n\t\tflags interval\n\t\tcounter\n\t\t\
        elements = { 10.0.0.0/24 counter packets 1 bytes 60 : accept, 10.1.0.1-10.1.0.9 counter packets 0 bytes 0 : drop }\n\t}\n\
        \tchain c {\n\t\ttype filter hook input priority 0; policy drop;\n\t\tmeta l4proto . th dport vmap @ports\n\t\tip saddr vmap @nets\n\t}\n\
        \tchain admin {\n\t\tip saddr 10.9.9.9 accept\n\t}\n}\n";
    let json = r#"{"nftables": [{"metainfo": {"version": "1.0.6"}},
        {"table": {"family": "inet", "name": "t", "handle": 1}},
        {"map": {"family": "inet", "name": "ports", "table": "t", "type": ["inet_proto", "inet_service"], "handle": 2, "map": "verdict",
          "elem": [[{"elem": {"val": {"concat": ["tcp", 80]}, "counter": {"packets": 3, "bytes": 180}}}, {"accept": null}],
                   [{"elem": {"val": {"concat": ["udp", 53]}, "counter": {"packets": 0, "bytes": 0}}}, {"drop": null}],
                   [{"elem": {"val": {"concat": ["tcp", 22]}, "counter": {"packets": 7, "bytes": 420}}}, {"jump": {"target": "admin"}}]],
          "stmt": [{"counter": null}]}},
        {"map": {"family": "inet", "name": "nets", "table": "t", "type": "ipv4_addr", "handle": 3, "map": "verdict", "flags": ["interval"],
          "elem": [[{"elem": {"val": {"prefix": {"addr": "10.0.0.0", "len": 24}}, "counter": {"packets": 1, "bytes": 60}}}, {"accept": null}],
                   [{"elem": {"val": {"range": ["10.1.0.1", "10.1.0.9"]}, "counter": {"packets": 0, "bytes": 0}}}, {"drop": null}]],
          "stmt": [{"counter": null}]}},
        {"chain": {"family": "inet", "table": "t", "name": "c", "handle": 4, "type": "filter", "hook": "input", "prio": 0, "policy": "drop"}},
        {"chain": {"family": "inet", "table": "t", "name": "admin", "handle": 5}},
        {"rule": {"family": "inet", "table": "t", "chain": "c", "handle": 6, "expr": [
            {"vmap": {"key": {"concat": [{"meta": {"key": "l4proto"}}, {"payload": {"protocol": "th", "field": "dport"}}]}, "data": "@ports"}}]}},
        {"rule": {"family": "inet", "table": "t", "chain": "c", "handle": 7, "expr": [
            {"vmap": {"key": {"payload": {"protocol": "ip", "field": "saddr"}}, "data": "@nets"}}]}},
        {"rule": {"family": "inet", "table": "t", "chain": "admin", "handle": 8, "expr": [
            {"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "saddr"}}, "right": "10.9.9.9"}}, {"accept": null}]}}]}"#;
    let rules = |policy: &str| {
        chain_lines(policy, "t", "c")
            .lines()
            .filter(|l| !l.starts_with('#'))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let from_text = import::import(&[input(text)], Format::Nft).expect("imports");
    let from_json = import::import(&[input(json)], Format::NftJson).expect("imports");
    let want = "tcp dport 80 accept\nudp dport 53 drop\ntcp dport 22 jump admin\n\
                saddr 10.0.0.0/24 accept\nsaddr 10.1.0.1-10.1.0.9 drop";
    assert_eq!(rules(&from_text.policy), want, "{}", from_text.policy);
    assert_eq!(rules(&from_json.policy), want, "{}", from_json.policy);
    assert!(!from_text.policy.contains("left out"), "{}", from_text.policy);
}

/// A chain `apply` laid out in parts (more than 1,024 rules), as
/// `nft list ruleset` lists it: the chain jumps to `c/part1`, `c/part2`,
/// which hold its rules.
const PARTED: &str = "table inet t {\n\tchain c {\n\t\ttype filter hook input priority filter; policy drop;\n\t\tjump c/part1\n\t\tjump c/part2\n\t}\n\tchain c/part1 {\n\t\tcomment \"part 1 of chain c, laid out by shriekc\"\n\t\ttcp dport 22 counter packets 0 bytes 0 accept comment \"a.shr:3\"\n\t\tudp dport 53 counter packets 0 bytes 0 accept comment \"a.shr:4\"\n\t}\n\tchain c/part2 {\n\t\tcomment \"part 2 of chain c, laid out by shriekc\"\n\t\ttcp dport 80 counter packets 0 bytes 0 drop comment \"a.shr:5\"\n\t}\n}\n";

#[test]
fn nft_a_chain_laid_out_in_parts_reads_back_as_one_chain() {
    let want = "tcp dport 22 accept  # a.shr:3\nudp dport 53 accept  # a.shr:4\ntcp dport 80 drop  # a.shr:5";
    let imported = import::import(&[input(PARTED)], Format::Nft).expect("imports");
    assert_eq!(chain_lines(&imported.policy, "t", "c"), want, "{}", imported.policy);
    assert!(!imported.policy.contains("part1"), "{}", imported.policy);
    let json = r#"{"nftables": [{"metainfo": {"version": "1.0.6"}},
        {"table": {"family": "inet", "name": "t", "handle": 1}},
        {"chain": {"family": "inet", "table": "t", "name": "c", "handle": 1, "type": "filter", "hook": "input", "prio": 0, "policy": "drop"}},
        {"chain": {"family": "inet", "table": "t", "name": "c/part1", "handle": 2}},
        {"chain": {"family": "inet", "table": "t", "name": "c/part2", "handle": 3}},
        {"rule": {"family": "inet", "table": "t", "chain": "c", "handle": 4, "expr": [{"jump": {"target": "c/part1"}}]}},
        {"rule": {"family": "inet", "table": "t", "chain": "c", "handle": 5, "expr": [{"jump": {"target": "c/part2"}}]}},
        {"rule": {"family": "inet", "table": "t", "chain": "c/part1", "handle": 6, "comment": "a.shr:3", "expr": [
            {"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 22}}, {"accept": null}]}},
        {"rule": {"family": "inet", "table": "t", "chain": "c/part1", "handle": 7, "comment": "a.shr:4", "expr": [
            {"match": {"op": "==", "left": {"payload": {"protocol": "udp", "field": "dport"}}, "right": 53}}, {"accept": null}]}},
        {"rule": {"family": "inet", "table": "t", "chain": "c/part2", "handle": 8, "comment": "a.shr:5", "expr": [
            {"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 80}}, {"drop": null}]}}]}"#;
    let imported = import::import(&[input(json)], Format::NftJson).expect("imports");
    assert_eq!(chain_lines(&imported.policy, "t", "c"), want, "{}", imported.policy);
}

/// A run of rules new in one place of a part sits in a sub-part of it,
/// reached by a `jump` where the run stands: it reads back in place.
#[test]
fn nft_sub_parts_read_back_where_they_stand() {
    let text = PARTED
        .replace(
            "\t\tudp dport 53 counter",
            "\t\tjump c/part1/part1\n\t\tudp dport 53 counter",
        )
        .replace(
            "\tchain c/part2 {",
            "\tchain c/part1/part1 {\n\t\ttcp dport 25 accept comment \"a.shr:9\"\n\t}\n\tchain c/part2 {",
        );
    let imported = import::import(&[input(&text)], Format::Nft).expect("imports");
    assert_eq!(
        chain_lines(&imported.policy, "t", "c"),
        "tcp dport 22 accept  # a.shr:3\ntcp dport 25 accept  # a.shr:9\nudp dport 53 accept  # a.shr:4\ntcp dport 80 drop  # a.shr:5",
        "{}",
        imported.policy
    );
}

/// Parts that could tell themselves from their chain stay chains of their
/// own, reached by `jump` as before: one that returns, one that another
/// rule jumps to as well, one whose number is not how parts are written.
#[test]
fn nft_parts_that_would_act_otherwise_in_their_chain_stay_apart() {
    let cases = [
        ("a return", "tcp dport 80 counter packets 0 bytes 0 drop", "return"),
        (
            "another jump",
            "\t}\n\tchain c/part1 {",
            "\t}\n\tchain other {\n\t\tjump c/part2\n\t}\n\tchain c/part1 {",
        ),
        ("a number written otherwise", "c/part2", "c/part02"),
    ];
    for (what, from, to) in cases {
        let text = PARTED.replace(from, to);
        assert_ne!(text, PARTED, "{what}: the edit applies");
        let imported = import::import(&[input(&text)], Format::Nft).expect("imports");
        assert!(
            chain_lines(&imported.policy, "t", "c").contains("jump c_part"),
            "{what}:\n{}",
            imported.policy
        );
    }
}
