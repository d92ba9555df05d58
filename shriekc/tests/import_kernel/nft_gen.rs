//! Random nftables rulesets for `nft -f`: an `inet` table (sometimes with an
//! `ip` and `ip6` table of one name beside it), base chains on several hooks
//! and priorities, regular chains reached by `jump` and `goto`, named sets,
//! verdict maps, counters before matches, limits, per-address meters
//! (`meter`, `update @set`, `add @set`), `reject with` answers, log levels,
//! NAT, marks (set before routing in a `mangle` priority chain and by
//! rules, matched plain, as ranges and sets, and under masks the language
//! says as ranges), and the matches `shriekc import` reads. As in the
//! iptables generator, a few rules use
//! what the language cannot say yet in a way no probe can meet; the import
//! must leave out exactly those.

use super::gen::{destinations, port_list, port_range, sources, Rng, TCP_PORTS, UDP_PORTS};

pub struct Ruleset {
    pub text: String,
    /// How many rules the import must leave out.
    pub inert: usize,
}

/// Every mark set is even, and no rule sets a connection's mark.
const INERT: &[&str] = &[
    "meta pkttype broadcast drop",
    "fib daddr type broadcast drop",
    "meta mark & 0x1 == 0x1 drop",
    "ct mark 0x5 drop",
];

/// Mark matches, as `meta mark` takes them; the marks set are 0x2,
/// 0x10000 and 0x20002.
const MARK_MATCHES: &[&str] = &[
    "meta mark 0x2",
    "meta mark != 0x2",
    "mark 0x0",
    "meta mark { 0x2, 0x10000-0x1ffff }",
    "meta mark & 0xffff0000 == 0x10000",
    "meta mark & 0xfffdffff != 0x2",
];
const MARK_SETS: &[&str] = &["0x2", "0x10000", "0x20002"];

struct Gen<'a> {
    rng: &'a mut Rng,
    block: u32,
    inert: usize,
    /// The regular chains of the table being written.
    chains: Vec<String>,
    /// Which families the table's packets have: `None` for `inet`.
    v6: Option<bool>,
    /// The dynamic sets the table's `update` and `add` statements use.
    meter_sets: Vec<String>,
}

/// `tcp flags` tests in the forms nft reads (see the iptables generator
/// for the packets they tell apart).
const TCP_FLAGS: &[&str] = &[
    "syn / syn,ack",
    "& (syn|ack) == syn",
    "& (fin|syn|rst|ack) != syn",
    "syn,ack",
    "! syn,ack",
    "== syn",
    "!= syn",
    "== syn|ack",
    "!= 0x12",
    "rst",
    // nft 1.0.6 cannot read a mask of one flag after `/` (`ack / ack`:
    // "expecting comma"), and lists this one as written.
    "& ack == ack",
    "! fin,syn,rst,psh,ack,urg",
];

pub fn ruleset(rng: &mut Rng, block: u32) -> Ruleset {
    let mut g = Gen { rng, block, inert: 0, chains: Vec::new(), v6: None, meter_sets: Vec::new() };
    let mut text = String::from("flush ruleset\n");
    text.push_str(&g.table("inet", "filter"));
    if g.rng.chance(35) {
        text.push_str(&g.table("ip", "extra"));
        text.push_str(&g.table("ip6", "extra"));
    } else if g.rng.chance(30) {
        text.push_str(&g.table("ip", "v4only"));
    }
    Ruleset { text, inert: g.inert }
}

impl Gen<'_> {
    fn table(&mut self, family: &str, name: &str) -> String {
        self.v6 = match family {
            "ip" => Some(false),
            "ip6" => Some(true),
            _ => None,
        };
        let users = self.rng.below(3);
        self.chains = (0..users).map(|i| format!("user_{i}")).collect();
        let mut out = String::new();
        let sets = self.sets();
        self.meter_sets.clear();
        let prio = *self.rng.pick(&["filter", "0", "-10", "filter + 5"]);
        let policy = if self.rng.chance(50) { "drop" } else { "accept" };
        if self.rng.chance(40) {
            out.push_str(&self.marking());
        }
        let n = 2 + self.rng.below(7);
        out.push_str(&self.chain("input", Some(("filter", "input", prio, policy)), n, 0));
        if self.rng.chance(40) {
            let n = self.rng.below(3);
            let policy = if self.rng.chance(15) { "drop" } else { "accept" };
            out.push_str(&self.chain("output", Some(("filter", "output", "filter", policy)), n, 0));
        }
        for i in 0..users {
            let n = 1 + self.rng.below(4);
            let name = self.chains[i].clone();
            out.push_str(&self.chain(&name, None, n, i + 1));
        }
        if family != "ip6" && self.rng.chance(50) {
            out.push_str(&self.nat(family == "inet"));
        }
        out.push_str("}\n");
        format!("table {family} {name} {{\n{sets}{}{out}", self.meter_sets.concat())
    }

    /// A per-address rate or count after the rule's matches, as nft writes
    /// it (`meter`) or as `shriekc` does (`update @set`, `add @set`, with
    /// the set declared). `v6` is the rule's family; `low_rate` whether a
    /// rate that runs out may be used (UDP rules of the input chain only,
    /// see the iptables generator); `inbound` whether the rule is in the
    /// input chain with no `ct state` match of its own, where `ct state
    /// new` keeps a count of over 0 exact (see there too).
    fn meter(&mut self, v6: bool, low_rate: bool, inbound: bool) -> String {
        let ip = if v6 { "ip6" } else { "ip" };
        let key = format!("{ip} {}", if self.rng.chance(70) { "saddr" } else { "daddr" });
        let kind = if v6 { "ipv6_addr" } else { "ipv4_addr" };
        let name = format!("m{}", self.meter_sets.len() + 100 * usize::from(v6));
        if self.rng.chance(35) {
            // Over 0: every connection, on the packet that opens it; over
            // 100: none the probes make.
            let n = if inbound && self.rng.chance(50) { 0 } else { 100 };
            self.meter_sets.push(format!(
                "\tset {name} {{\n\t\ttype {kind}\n\t\tsize 65535\n\t\tflags dynamic\n\t}}\n"
            ));
            let new = if n == 0 { "ct state new " } else { "" };
            return format!("{new}add @{name} {{ {key} ct count over {n} }}");
        }
        let (rate, timeout) = if low_rate && self.rng.chance(60) {
            let burst = 1 + self.rng.below(3);
            (format!("1/hour burst {burst} packets"), format!("{burst}h"))
        } else {
            ("1000/second burst 1000 packets".to_string(), "1s".to_string())
        };
        if self.rng.chance(50) {
            self.meter_sets.push(String::new());
            return format!("meter {name} size 65535 {{ {key} limit rate {rate} }}");
        }
        self.meter_sets.push(format!(
            "\tset {name} {{\n\t\ttype {kind}\n\t\tsize 65535\n\t\tflags dynamic,timeout\n\t\ttimeout {timeout}\n\t}}\n"
        ));
        format!("update @{name} {{ {key} limit rate {rate} }}")
    }

    /// A chain that marks packets before routing, at nft's `mangle`
    /// priority.
    fn marking(&mut self) -> String {
        let prio = *self.rng.pick(&["mangle", "-150", "raw"]);
        let mut out = format!(
            "\tchain marking {{\n\t\ttype filter hook prerouting priority {prio}; policy accept;\n"
        );
        for _ in 0..1 + self.rng.below(3) {
            let set = *self.rng.pick(MARK_SETS);
            let v6 = self.family_v6();
            let src = if v6 { "ip6 saddr fd09::3" } else { "ip saddr 10.9.0.3" };
            let rule = match self.rng.below(4) {
                0 => format!("{src} meta mark set {set}"),
                1 => format!("meta l4proto udp meta mark set {set}"),
                2 => "meta mark 0x2 meta mark set 0x20002".into(),
                _ => "meta mark & 0xffff0000 == 0x10000 tcp dport 9999 drop".into(),
            };
            out.push_str(&format!("\t\t{rule}\n"));
        }
        out.push_str("\t}\n");
        out
    }

    fn sets(&mut self) -> String {
        let mut out = String::new();
        if self.v6 != Some(true) {
            out.push_str("\tset src4 {\n\t\ttype ipv4_addr\n\t\tflags interval\n\t\telements = { 10.9.0.3, 10.9.0.4/31 }\n\t}\n");
        }
        out.push_str("\tset ports {\n\t\ttype inet_service\n\t\tflags interval\n\t\telements = { 22, 8000-8100 }\n\t}\n");
        out.push_str("\tmap ports_v {\n\t\ttype inet_service : verdict\n\t\telements = { 80 : accept, 9999 : drop }\n\t}\n");
        out
    }

    fn chain(
        &mut self,
        name: &str,
        base: Option<(&str, &str, &str, &str)>,
        n: usize,
        first_user: usize,
    ) -> String {
        let mut out = format!("\tchain {name} {{\n");
        if let Some((kind, hook, prio, policy)) = base {
            out.push_str(&format!(
                "\t\ttype {kind} hook {hook} priority {prio}; policy {policy};\n"
            ));
        }
        let output = name == "output";
        for _ in 0..n {
            out.push_str(&format!("\t\t{}\n", self.rule(output, first_user)));
        }
        out.push_str("\t}\n");
        out
    }

    fn family_v6(&mut self) -> bool {
        match self.v6 {
            Some(v6) => v6,
            None => self.rng.chance(35),
        }
    }

    fn rule(&mut self, output: bool, first_user: usize) -> String {
        if !output && first_user == 0 && self.rng.chance(6) {
            self.inert += 1;
            return self.rng.pick(INERT).to_string();
        }
        let mut parts: Vec<String> = Vec::new();
        let mut stmts_first = false;
        if self.rng.chance(8) {
            // A counter before the matches: it counts every packet that reaches it.
            parts.push("counter".into());
            stmts_first = true;
        }
        let v6 = self.family_v6();
        let ip = if v6 { "ip6" } else { "ip" };
        let neg = |g: &mut Self| if g.rng.chance(20) { "!= " } else { "" };
        if self.rng.chance(35) {
            let list = sources(v6);
            let n = neg(self);
            if self.rng.chance(25) && !v6 && self.v6 != Some(true) {
                parts.push(format!("ip saddr {n}@src4"));
            } else if self.rng.chance(25) {
                let a = list[self.rng.below(list.len())];
                let b = list[self.rng.below(list.len())];
                parts.push(format!("{ip} saddr {n}{{ {a}, {b} }}"));
            } else {
                parts.push(format!("{ip} saddr {n}{}", list[self.rng.below(list.len())]));
            }
        }
        if self.rng.chance(15) {
            let list = destinations(v6);
            let n = neg(self);
            parts.push(format!("{ip} daddr {n}{}", list[self.rng.below(list.len())]));
        }
        // nft lists `meta nfproto` before `meta l4proto icmp` as if it
        // were not there, so the generator keeps the two apart.
        let nfproto = self.v6.is_none() && parts.is_empty() && self.rng.chance(15);
        if nfproto {
            parts.push(format!("meta nfproto {}", if v6 { "ipv6" } else { "ipv4" }));
        }
        if !output && self.rng.chance(15) {
            let n = neg(self);
            // Wildcards too: `v*` is every name that starts with `v`.
            let name = *self.rng.pick(&["v0", "v0", "lo", "v*", "l*"]);
            parts.push(if self.rng.chance(50) || name.ends_with('*') {
                format!("iifname {n}\"{name}\"")
            } else {
                format!("iif {n}\"{name}\"")
            });
        }
        if output && self.rng.chance(15) {
            parts.push(format!("oifname \"{}\"", if self.rng.chance(70) { "v0" } else { "lo" }));
        }
        let mut vmap = false;
        // `th` ports of two protocols are one rule per protocol, which
        // cannot share a limit: the import leaves such a rule out (tested
        // on its own), so the generator gives it none.
        let mut two_protocols = false;
        // Whether the rule matches UDP packets only (see `meter`).
        let mut udp_only = false;
        let inbound = !output && first_user == 0;
        match self.rng.below(10) {
            0..=2 => {
                let udp = self.rng.chance(40);
                udp_only = udp;
                let proto = if udp { "udp" } else { "tcp" };
                let src = output || self.rng.chance(25);
                let (lo, hi) = port_range(self.rng, udp, self.block, src && !output);
                let field = if src { "sport" } else { "dport" };
                let n = neg(self);
                let v = if lo == hi { lo.to_string() } else { format!("{lo}-{hi}") };
                parts.push(format!("{proto} {field} {n}{v}"));
            }
            3 => {
                let udp = self.rng.chance(40);
                udp_only = udp;
                let list = port_list(self.rng, udp, self.block, false);
                let v: Vec<String> = list
                    .iter()
                    .map(|(a, b)| if a == b { a.to_string() } else { format!("{a}-{b}") })
                    .collect();
                parts.push(format!(
                    "{} dport {{ {} }}",
                    if udp { "udp" } else { "tcp" },
                    v.join(", ")
                ));
            }
            4 => {
                // `th` ports need the protocol: one, or two (one rule each).
                let both = self.rng.chance(40);
                two_protocols = both;
                let l4 = if both {
                    "{ tcp, udp }".to_string()
                } else {
                    self.rng.pick(&["tcp", "udp"]).to_string()
                };
                udp_only = l4 == "udp";
                let p = if self.rng.chance(50) {
                    *self.rng.pick(TCP_PORTS)
                } else {
                    *self.rng.pick(UDP_PORTS)
                };
                parts.push(format!("meta l4proto {l4} th dport {p}"));
            }
            5 => parts.push(format!("tcp dport {}@ports", neg(self))),
            6 if !stmts_first => vmap = true,
            7 => {
                let p = self
                    .rng
                    .pick(if nfproto { &["tcp", "udp"] } else { &["tcp", "udp", "icmp"] })
                    .to_string();
                if p == "icmp" && self.rng.chance(50) {
                    // An ICMP type match: nft adds the protocol and, in an
                    // inet table, the family.
                    let (icmp, t) = if v6 {
                        ("icmpv6", *self.rng.pick(&["echo-request", "{ 1-4, 135 }"]))
                    } else {
                        ("icmp", *self.rng.pick(&["echo-request", "{ 3, 11 }"]))
                    };
                    parts.push(format!("{icmp} type {}{t}", neg(self)));
                } else if v6 || self.v6.is_none() {
                    let p = if p == "icmp" && v6 { "ipv6-icmp".to_string() } else { p };
                    parts.push(format!("meta l4proto {}{p}", neg(self)));
                } else {
                    parts.push(format!("ip protocol {}{p}", neg(self)));
                }
            }
            _ => {}
        }
        if self.rng.chance(25) {
            let states = *self.rng.pick(&[
                "new",
                "established",
                "established,related",
                "invalid",
                "{ new, invalid }",
            ]);
            parts.push(format!("ct state {}{states}", neg(self)));
        }
        if self.rng.chance(12) {
            parts.push(self.rng.pick(MARK_MATCHES).to_string());
        }
        if vmap {
            if self.rng.chance(50) {
                parts.push("tcp dport vmap @ports_v".into());
            } else {
                let target = self.jump_target(first_user).unwrap_or_else(|| "accept".into());
                parts.push(format!(
                    "udp dport vmap {{ 53 : drop, 5353 : {target}, 5000 : continue }}"
                ));
            }
            return parts.join(" ");
        }
        // Whether the rule can take `reject with tcp reset`: nft adds `meta
        // l4proto tcp` to it, which must not contradict its matches.
        let text = parts.join(" ");
        let tcp_ok = !text.contains("udp") && !text.contains("icmp") && !text.contains("l4proto");
        // `tcp flags` in every form nft reads, on rules that may see TCP.
        if tcp_ok && self.rng.chance(15) {
            parts.push(format!("tcp flags {}", self.rng.pick(TCP_FLAGS)));
        }
        let metered = !two_protocols && self.rng.chance(12);
        if metered {
            let stateless = !parts.iter().any(|p| p.starts_with("ct state"));
            let m = self.meter(v6, udp_only && inbound, inbound && stateless);
            parts.push(m);
        }
        if !stmts_first && self.rng.chance(10) {
            parts.push("counter".into());
        }
        // A rate that runs out only on UDP rules of the input chain (see
        // `meter`).
        if !two_protocols && !metered && self.rng.chance(10) {
            let burst = 1 + self.rng.below(3);
            parts.push(if udp_only && inbound && self.rng.chance(50) {
                format!("limit rate 1/hour burst {burst} packets")
            } else {
                "limit rate 1000/second burst 1000 packets".into()
            });
        }
        if self.rng.chance(8) {
            let level = *self.rng.pick(&["", "", " level info", " level debug", " level crit"]);
            parts.push(format!("log prefix \"imp: \"{level}"));
        }
        if self.rng.chance(10) {
            parts.push(format!("meta mark set {}", self.rng.pick(MARK_SETS)));
        }
        let icmp = if v6 { "icmpv6" } else { "icmp" };
        let code = if v6 {
            *self.rng.pick(&["admin-prohibited", "addr-unreachable", "no-route"])
        } else {
            *self.rng.pick(&["host-unreachable", "admin-prohibited", "net-prohibited"])
        };
        let answer = match self.rng.below(4) {
            0 if tcp_ok => "reject with tcp reset".to_string(),
            1 => format!("reject with {icmp} {code}"),
            2 => format!("reject with {icmp} type {code}"),
            // `icmpx` is for `inet` tables only.
            _ if self.v6.is_some() => format!("reject with {icmp} {code}"),
            _ => format!(
                "reject with icmpx {}",
                self.rng.pick(&["admin-prohibited", "host-unreachable", "no-route"])
            ),
        };
        let verdict = match self.rng.below(100) {
            0..=24 => Some("accept".to_string()),
            25..=44 => Some("drop".to_string()),
            45..=49 => Some("reject".to_string()),
            50..=54 => Some(answer),
            55..=59 => Some(match self.v6 {
                None => "reject with icmpx type port-unreachable".to_string(),
                Some(false) => "reject with icmp type port-unreachable".to_string(),
                Some(true) => "reject with icmpv6 type port-unreachable".to_string(),
            }),
            60..=66 => Some("return".to_string()),
            67..=86 => self.jump_target(first_user),
            _ => None,
        };
        parts.extend(verdict);
        if parts.is_empty() {
            parts.push("counter".into());
        }
        parts.join(" ")
    }

    /// `jump C` or `goto C` to a later regular chain, so that none loops.
    fn jump_target(&mut self, first_user: usize) -> Option<String> {
        if first_user >= self.chains.len() {
            return None;
        }
        let to = first_user + self.rng.below(self.chains.len() - first_user);
        let word = if self.rng.chance(75) { "jump" } else { "goto" };
        Some(format!("{word} {}", self.chains[to]))
    }

    fn nat(&mut self, inet: bool) -> String {
        let mut out = String::from(
            "\tchain pre {\n\t\ttype nat hook prerouting priority dstnat; policy accept;\n",
        );
        let fam = if inet { " ip" } else { "" };
        for _ in 0..1 + self.rng.below(3) {
            let only = if self.rng.chance(30) { "ip saddr 10.9.0.3 " } else { "" };
            let rule = match self.rng.below(4) {
                0 => format!("{only}tcp dport 8081 dnat{fam} to 10.9.0.1:80"),
                1 => format!("{only}udp dport 8083 dnat{fam} to 10.9.0.1:53"),
                2 => format!("{only}tcp dport 8082 redirect to :22"),
                _ => "ip saddr 10.9.0.3 tcp dport 8081 accept".to_string(),
            };
            out.push_str(&format!("\t\t{rule}\n"));
        }
        if inet && self.rng.chance(50) {
            out.push_str("\t\tip6 saddr fd09::3 tcp dport 8081 dnat ip6 to [fd09::1]:80\n");
        }
        out.push_str(
            "\t}\n\tchain post {\n\t\ttype nat hook postrouting priority srcnat; policy accept;\n",
        );
        out.push_str("\t\toifname \"v0\" masquerade\n\t}\n");
        out
    }
}
