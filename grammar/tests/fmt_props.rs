//! The laws of `fmt`, over random policies written in random layouts:
//! the text parses cleanly, `format(parse(format(x))) == format(x)`,
//! `parse(format(x)) == parse(x)` (trees compare without spans and comments),
//! and every comment survives in order.

use proptest::prelude::*;
use shriek_grammar::{ast, fmt::format, parse};

/// A tiny deterministic generator: proptest picks the seed, this picks the rest.
struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[self.below(xs.len() as u64) as usize]
    }
    fn ws(&mut self) -> &'static str {
        self.pick(&[" ", " ", "  ", "\t"])
    }
    /// Space that may be left out next to punctuation.
    fn opt_ws(&mut self) -> &'static str {
        self.pick(&["", " ", "  "])
    }
}

const NAMES: &[&str] = &[
    "eth0",
    "veth-a",
    "eth0.10",
    "lo",
    "tcp",
    "icmp",
    "established",
    "related",
    "new",
    "ipv4",
    "x_1",
    "round-robin",
];
const VARS: &[&str] = &["web", "mgmt", "ops_net", "a.b", "v-1"];
const CHAINS: &[&str] = &["input", "fwd", "c1", "audit", "my-chain"];

fn ipv4(g: &mut Gen) -> String {
    std::net::Ipv4Addr::from(g.next() as u32).to_string()
}

fn ipv6(g: &mut Gen) -> String {
    let mut segs = [0u16; 8];
    for s in &mut segs {
        if g.chance(50) {
            *s = g.next() as u16;
        }
    }
    let addr = std::net::Ipv6Addr::from(segs);
    if g.chance(30) {
        // A non-canonical spelling: every group written out, some in capitals.
        let full = segs.iter().map(|s| format!("{s:04x}")).collect::<Vec<_>>().join(":");
        if g.chance(50) {
            full.to_uppercase()
        } else {
            full
        }
    } else {
        addr.to_string()
    }
}

fn string(g: &mut Gen) -> String {
    let mut s = String::from("\"");
    for _ in 0..g.below(8) {
        s += g.pick(&["a", " ", "#", "{", "}", ";", "\\\"", "\\\\", "é", ":"]);
    }
    s + "\""
}

fn atom(g: &mut Gen) -> String {
    match g.below(9) {
        0 => ipv4(g),
        1 => ipv6(g),
        2 => format!("{}/{}", ipv4(g), g.below(33)),
        3 => format!("{}/{}", ipv6(g), g.below(129)),
        4 => g.below(70000).to_string(),
        5 => g.pick(NAMES).to_string(),
        6 => string(g),
        7 => format!("{}{}-{}{}", g.below(1000), g.opt_ws(), g.opt_ws(), 1000 + g.below(1000)),
        _ => format!("{}-{}", ipv4(g), ipv4(g)),
    }
}

fn value(g: &mut Gen, depth: u32) -> String {
    match g.below(6) {
        0 => format!("${}", g.pick(VARS)),
        1 if depth < 3 => {
            let n = g.below(4);
            let mut s = String::from("{");
            for i in 0..n {
                s += if g.chance(20) { "\n" } else { g.opt_ws() };
                s += &value(g, depth + 1);
                if i + 1 < n || g.chance(30) {
                    s += g.opt_ws();
                    s += ",";
                }
                if g.chance(10) {
                    s += &format!("  # in a set {i}\n");
                }
            }
            s += g.ws();
            s + "}"
        }
        _ => atom(g),
    }
}

fn term(g: &mut Gen) -> String {
    let neg = |g: &mut Gen| {
        if g.chance(20) {
            format!("{}!={}", g.opt_ws(), g.ws())
        } else {
            g.ws().to_string()
        }
    };
    match g.below(16) {
        0 => format!("saddr{}{}", neg(g), value(g, 0)),
        1 => format!("daddr{}{}", neg(g), value(g, 0)),
        2 => format!("proto{}{}", neg(g), value(g, 0)),
        3 => {
            let p = g.pick(&["tcp", "udp", "sctp"]);
            let d = g.pick(&["sport", "dport"]);
            format!("{p}{}{d}{}{}", g.ws(), neg(g), value(g, 0))
        }
        4 => format!("{}{}{}", g.pick(&["iif", "oif", "family", "mark"]), neg(g), value(g, 0)),
        5 => {
            let v = if g.chance(50) {
                (0..1 + g.below(3))
                    .map(|_| g.pick(&["new", "established", "related"]))
                    .collect::<Vec<_>>()
                    .join(",")
            } else {
                value(g, 0)
            };
            format!("ct{}state{}{v}", g.ws(), neg(g))
        }
        6 => {
            if g.chance(50) {
                "counter".into()
            } else {
                format!("counter {}", g.pick(&["redis_in", "c-1", "x.y"]))
            }
        }
        7 => {
            let level = g.pick(&["info", "crit", "warn", "debug"]);
            match g.below(4) {
                0 => "log".into(),
                1 => format!("log prefix {}", string(g)),
                2 => format!("log level {level} prefix {}", string(g)),
                _ => format!("log prefix {} level {level}", string(g)),
            }
        }
        8 => {
            let unit = g.pick(&["second", "minute", "hour", "day"]);
            let burst =
                if g.chance(50) { format!(" burst {}", g.below(100)) } else { String::new() };
            format!("limit {}{}/{}{unit}{burst}", g.below(1000), g.opt_ws(), g.opt_ws())
        }
        9 => g
            .pick(&[
                "accept",
                "drop",
                "reject",
                "return",
                "masquerade",
                "reject with tcp reset",
                "reject with icmpx admin-prohibited",
                "reject with icmpv6 no-route",
                "tcp flags syn",
                "tcp flags ! syn,ack",
                "tcp flags == syn,ack",
                "tcp flags != 0",
                "tcp flags syn / syn,ack,rst,fin",
                "tcp  flags != syn/syn , ack",
            ])
            .into(),
        10 => format!("{} {}", g.pick(&["jump", "goto"]), g.pick(CHAINS)),
        11 | 12 => format!("{} to {}", g.pick(&["dnat", "snat"]), nat_target(g)),
        13 => format!("redirect to {}", g.below(65536)),
        _ => format!("tcp dport {}", value(g, 0)),
    }
}

fn backend(g: &mut Gen, weight: bool) -> String {
    let mut s = match g.below(4) {
        0 => format!("[{}]:{}", ipv6(g), g.below(65536)),
        1 => ipv6(g),
        2 => format!("${}", g.pick(VARS)),
        _ => ipv4(g),
    };
    if !s.starts_with('[') && !s.contains("::") && s.matches(':').count() < 2 && g.chance(50) {
        s += &format!(":{}", g.below(65536));
    }
    if weight && g.chance(40) {
        s += &format!(" weight {}", g.below(10));
    }
    s
}

fn nat_target(g: &mut Gen) -> String {
    if g.chance(60) {
        return backend(g, false);
    }
    let n = 1 + g.below(3);
    let items = (0..n).map(|_| backend(g, true)).collect::<Vec<_>>().join(", ");
    format!("{{ {items} }} balance {}", g.pick(&["round-robin", "random", "source-hash"]))
}

fn comment(g: &mut Gen) -> String {
    format!("# note {} {{ \"", g.below(100))
}

fn sep(g: &mut Gen) -> String {
    match g.below(6) {
        0 => format!("{};{}", g.opt_ws(), g.opt_ws()),
        1 => "\n\n\n".into(),
        2 => format!("  {}\n", comment(g)),
        3 => format!("\n{}\n", comment(g)),
        _ => "\n".into(),
    }
}

fn policy(g: &mut Gen) -> String {
    let mut s = String::new();
    if g.chance(30) {
        s += &comment(g);
        s += "\n\n";
    }
    for _ in 0..1 + g.below(4) {
        match g.below(10) {
            0 => s += &format!("include {}", string(g)),
            1..=3 => {
                s += &format!("define {}{}={}{}", g.pick(VARS), g.opt_ws(), g.opt_ws(), value(g, 0))
            }
            _ => {
                s += &format!("table {} {{", g.pick(&["filter", "nat", "t-1"]));
                s += &sep(g);
                for _ in 0..g.below(4) {
                    s += &format!("chain {}", g.pick(CHAINS));
                    let mut clauses = [
                        format!("hook {}", g.pick(&["input", "output", "prerouting", "inpt"])),
                        format!("type {}", g.pick(&["filter", "nat"])),
                        format!("priority {}", g.below(400) as i64 - 200),
                        format!("policy {}", g.pick(&["accept", "drop"])),
                    ];
                    for _ in 0..4 {
                        let i = g.below(4) as usize;
                        clauses.swap(0, i);
                    }
                    for c in clauses.iter().take(g.below(5) as usize) {
                        s += g.ws();
                        s += c;
                    }
                    s += &format!("{}{{", g.opt_ws());
                    s += &sep(g);
                    for _ in 0..g.below(6) {
                        let terms = (0..1 + g.below(4)).map(|_| term(g)).collect::<Vec<_>>();
                        s += &terms.join(g.ws());
                        s += &sep(g);
                    }
                    if g.chance(20) {
                        s += &format!("  {}\n", comment(g));
                    }
                    s += "}";
                    s += &sep(g);
                }
                s += "}";
            }
        }
        s += &sep(g);
    }
    s
}

fn comment_texts(f: &ast::File) -> Vec<String> {
    f.comments.0.iter().map(|c| c.text.trim_end().to_string()).collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn format_laws(seed in any::<u64>()) {
        let src = policy(&mut Gen(seed | 1));
        let (tree, diags) = parse(&src);
        prop_assert!(diags.is_empty(), "generated text has errors: {diags:?}\n{src}");
        let once = format(&tree, &src);
        let (again, diags) = parse(&once);
        prop_assert!(diags.is_empty(), "formatted text has errors: {diags:?}\n{once}");
        prop_assert_eq!(&again, &tree, "the tree changed:\n{}\n---\n{}", src, once);
        prop_assert_eq!(format(&again, &once), once.clone(), "not idempotent:\n{}", src);
        prop_assert_eq!(comment_texts(&again), comment_texts(&tree));
    }
}

/// Guards the generator itself: it must produce real policies, not trivia.
#[test]
fn generator_makes_substantial_policies() {
    let mut rules = 0;
    let mut comments = 0;
    for seed in 1..60u64 {
        let src = policy(&mut Gen(seed * 2 + 1));
        let (tree, diags) = parse(&src);
        assert!(diags.is_empty(), "{diags:?}\n{src}");
        comments += tree.comments.0.len();
        for item in &tree.items {
            if let ast::Item::Table(t) = item {
                rules += t.chains.iter().map(|c| c.rules.len()).sum::<usize>();
            }
        }
    }
    assert!(rules > 100, "only {rules} rules");
    assert!(comments > 30, "only {comments} comments");
}
