//! Spellings from iptables and nft, recognised where a statement fails to
//! parse, so the error says what Shriek writes instead.
//!
//! This runs only on a statement pest has already refused, and only when the
//! word it stopped at (or the word just before it) is one of these
//! spellings: valid syntax is never read here, so a word Shriek itself comes
//! to use (`meta mark`, `icmp type`) can never be refused by it. When the
//! whole line, each foreign piece rewritten, parses as a Shriek rule, the
//! help gives that line; otherwise it gives the piece.

use super::{Rule, ShriekParser};
use pest::Parser;

/// One recognised foreign spelling in a statement.
pub(super) struct Foreign {
    /// Byte range of the foreign words in the statement's text.
    pub start: usize,
    pub end: usize,
    pub message: String,
    pub label: &'static str,
    pub help: String,
}

/// Whose habit a spelling is.
#[derive(Clone, Copy)]
enum Origin {
    Iptables,
    Nft,
    Case,
}

/// A run of words and what Shriek writes for it.
struct Piece {
    first: usize,
    last: usize,
    /// The Shriek spelling; `None` when there is none to offer for the whole line.
    shriek: Option<String>,
    /// Why, for the help line, when the piece is foreign.
    foreign: Option<(Origin, String)>,
}

/// A whitespace-separated word (a quoted string is one word) and where it starts.
struct Word<'t> {
    at: usize,
    text: &'t str,
}

fn words(text: &str) -> Vec<Word<'_>> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i].is_ascii_whitespace() || bytes[i] == b';' {
            i += 1;
            continue;
        }
        if bytes[i] == b'#' {
            break;
        }
        let start = i;
        let mut quoted = false;
        while i < bytes.len() {
            match bytes[i] {
                b'"' => quoted = !quoted,
                b'\\' if quoted => i += 1,
                b if !quoted && (b.is_ascii_whitespace() || b == b';') => break,
                _ => {}
            }
            i += 1;
        }
        let end = i.min(bytes.len());
        out.push(Word { at: start, text: &text[start..end] });
    }
    out
}

/// Keywords Shriek writes in lowercase, which iptables writes in capitals.
const LOWERCASE_KEYWORDS: &[&str] = &[
    "accept",
    "drop",
    "reject",
    "return",
    "log",
    "counter",
    "masquerade",
    "dnat",
    "snat",
    "redirect",
    "jump",
    "goto",
    "limit",
];

/// The families nft puts after `table`.
const NFT_FAMILIES: &[&str] = &["ip", "ip6", "inet", "arp", "bridge", "netdev"];

/// The foreign spelling at byte `pos` of a rule statement pest refused, if any.
pub(super) fn in_rule(text: &str, pos: usize) -> Option<Foreign> {
    let words = words(text);
    let at = failing_word(&words, pos)?;
    let pieces = pieces(&words);
    // The piece holding the failing word, or the word before it: `22 -j
    // ACCEPT` reads `22 - j` as a range and stops at `ACCEPT`.
    let piece = pieces
        .iter()
        .find(|p| p.foreign.is_some() && p.first <= at && (at <= p.last || at == p.last + 1))?;
    let (origin, why) = piece.foreign.clone().expect("found by its foreign part");
    let start = words[piece.first].at;
    let end = words[piece.last].at + words[piece.last].text.len();
    let spelled = &text[start..end];
    let message = match origin {
        Origin::Iptables => format!("`{spelled}` is iptables' spelling"),
        Origin::Nft => format!("`{spelled}` is nft's spelling"),
        Origin::Case => format!("keywords are lowercase: `{spelled}`"),
    };
    let label = match origin {
        Origin::Iptables => "iptables' spelling",
        Origin::Nft => "nft's spelling",
        Origin::Case => "in capitals",
    };
    let help = match whole_line(&pieces) {
        Some(line) if pieces.iter().filter(|p| p.foreign.is_some()).count() > 1 => {
            format!("{why}; the whole rule: `{line}`")
        }
        _ => why,
    };
    Some(Foreign { start, end, message, label, help })
}

/// The foreign spelling at byte `pos` of a top-level statement, if any.
pub(super) fn at_top(text: &str, pos: usize) -> Option<Foreign> {
    let words = words(text);
    let at = failing_word(&words, pos)?;
    let word = |i: usize| words.get(i).map(|w| w.text);
    let span =
        |first: usize, last: usize| (words[first].at, words[last].at + words[last].text.len());
    // `table inet filter {`: nft names a family; a Shriek table holds both.
    if at >= 2 && word(at - 2) == Some("table") && NFT_FAMILIES.contains(&words[at - 1].text) {
        let (start, end) = span(at - 2, at);
        let family = words[at - 1].text;
        return Some(Foreign {
            start,
            end,
            message: format!("`table {family} {}` is nft's spelling", words[at].text),
            label: "nft's spelling",
            help: format!(
                "drop `{family}`: a Shriek table holds IPv4 and IPv6 rules alike (`family ipv4` in a rule pins one): `table {} {{`",
                words[at].text
            ),
        });
    }
    if at == 0 && word(0) == Some("flush") {
        let (start, end) = span(0, words.len().min(2) - 1);
        return Some(Foreign {
            start,
            end,
            message: format!("`{}` is an nft command", &text[start..end]),
            label: "an nft command",
            help: "remove it: `shriekc apply` replaces the tables of the policy in one step".into(),
        });
    }
    let first = word(0)?;
    let iptables = matches!(first, "iptables" | "ip6tables" | "COMMIT")
        || first.starts_with('*')
        || first.starts_with(':') && first.len() > 1
        || first.starts_with("-A") && first.len() == 2;
    if at == 0 && iptables {
        let (start, end) = span(0, 0);
        return Some(Foreign {
            start,
            end,
            message: format!("`{first}` is iptables, not a Shriek policy"),
            label: "iptables",
            help: "`shriekc import FILE` translates `iptables-save` output into a policy".into(),
        });
    }
    None
}

/// The index of the word at or after byte `pos`.
fn failing_word(words: &[Word<'_>], pos: usize) -> Option<usize> {
    words.iter().position(|w| pos < w.at + w.text.len().max(1))
}

/// The rule rewritten, when every piece has a Shriek spelling and the result
/// parses as a rule.
fn whole_line(pieces: &[Piece]) -> Option<String> {
    let parts: Option<Vec<&str>> = pieces.iter().map(|p| p.shriek.as_deref()).collect();
    let line = parts?.into_iter().filter(|s| !s.is_empty()).collect::<Vec<_>>().join(" ");
    ShriekParser::parse(Rule::strict_rule, &line).ok()?;
    Some(line)
}

/// The statement cut into pieces: runs of foreign words with their Shriek
/// spelling, and single words kept as they are.
fn pieces(words: &[Word<'_>]) -> Vec<Piece> {
    let text = |i: usize| words.get(i).map_or("", |w| w.text);
    // iptables names the protocol once (`-p tcp`) and the port later.
    let proto = (0..words.len())
        .find(|&i| matches!(text(i), "-p" | "--protocol"))
        .map(|i| text(i + 1).to_ascii_lowercase());
    let has_port = words.iter().any(|w| PORT_OPTIONS.iter().any(|(o, _)| *o == w.text));
    let mut out = Vec::new();
    let mut i = 0;
    let mut negated = false;
    let mut bang = None;
    while i < words.len() {
        let w = text(i);
        let next = text(i + 1);
        let one = |shriek: String, origin: Origin, why: String| Piece {
            first: i,
            last: i,
            shriek: Some(shriek),
            foreign: Some((origin, why)),
        };
        let two = |shriek: String, origin: Origin, why: String| Piece {
            first: i,
            last: (i + 1).min(words.len() - 1),
            shriek: Some(shriek),
            foreign: Some((origin, why)),
        };
        let neg = if negated { "!= " } else { "" };
        let piece = match w {
            // ---- nft ----
            "ip" | "ip6" if matches!(next, "saddr" | "daddr") => two(
                next.into(),
                Origin::Nft,
                format!("drop `{w}`: the family comes from the address (`{next} ...`)"),
            ),
            "ip" if next == "protocol" => {
                two("proto".into(), Origin::Nft, "write `proto`, as in `proto tcp`".into())
            }
            "ip6" if next == "nexthdr" => {
                two("proto".into(), Origin::Nft, "write `proto`, as in `proto tcp`".into())
            }
            "ip" | "ip6" if i > 0 && matches!(text(i - 1), "dnat" | "snat") => one(
                String::new(),
                Origin::Nft,
                format!("drop `{w}`: the family comes from the address (`{} to ...`)", text(i - 1)),
            ),
            "meta" => match meta_field(next) {
                Some(field) => two(
                    field.into(),
                    Origin::Nft,
                    format!("write `{field}`, as in `{field} {}`", meta_example(field)),
                ),
                None => plain(i, w),
            },
            "th" if matches!(next, "dport" | "sport") => Piece {
                first: i,
                last: i + 1,
                shriek: None,
                foreign: Some((
                    Origin::Nft,
                    format!("name the protocol: `tcp {next} ...` or `udp {next} ...`, one rule for each"),
                )),
            },
            "iifname" | "oifname" => {
                let field = &w[..3];
                one(field.into(), Origin::Nft, format!("write `{field}`, as in `{field} eth0`"))
            }
            "ctstate" => one(
                "ct state".into(),
                Origin::Iptables,
                "write `ct state`, as in `ct state established,related`".into(),
            ),
            "rate" if i > 0 && text(i - 1) == "limit" => {
                let example = if next.contains('/') { next } else { "10/second" };
                one(String::new(), Origin::Nft, format!("drop `rate`: `limit {example}`"))
            }
            "packets" if i > 0 && text(i - 1) == "counter" && is_number(next) => {
                let last = if text(i + 2) == "bytes" && is_number(text(i + 3)) { i + 3 } else { i + 1 };
                Piece {
                    first: i,
                    last,
                    shriek: Some(String::new()),
                    foreign: Some((
                        Origin::Nft,
                        "drop the numbers `nft list` prints: a counter starts at zero, write `counter`".into(),
                    )),
                }
            }
            "type" | "policy" | "hook" | "priority" if i == 0 => Piece {
                first: 0,
                last: words.len() - 1,
                shriek: None,
                foreign: Some((
                    Origin::Nft,
                    format!(
                        "chain options go in the chain's header, before its `{{`: `chain NAME {} {{`",
                        words.iter().map(|w| w.text).collect::<Vec<_>>().join(" ")
                    ),
                )),
            },
            // ---- iptables ----
            "!" if next.starts_with('-') => {
                negated = true;
                bang = Some(i);
                i += 1;
                continue;
            }
            "-j" | "--jump" | "-g" | "--goto" => {
                let (shriek, last) = target(words, i);
                Piece {
                    first: i,
                    last,
                    shriek: shriek.clone(),
                    foreign: Some((
                        Origin::Iptables,
                        match shriek {
                            Some(s) => format!("write the verdict alone: `{s}`"),
                            None => "write the verdict alone, as in `accept`".into(),
                        },
                    )),
                }
            }
            "-p" | "--protocol" if !next.is_empty() => {
                let p = next.to_ascii_lowercase();
                let (shriek, why) = if has_port && matches!(p.as_str(), "tcp" | "udp" | "sctp") {
                    (String::new(), format!("the port match names the protocol: `{p} dport ...`"))
                } else {
                    (format!("proto {neg}{p}"), format!("write `proto {neg}{p}`"))
                };
                two(shriek, Origin::Iptables, why)
            }
            _ if PORT_OPTIONS.iter().any(|(o, _)| *o == w) && !next.is_empty() => {
                let dir = PORT_OPTIONS.iter().find(|(o, _)| *o == w).expect("matched above").1;
                let p = proto.clone().filter(|p| matches!(p.as_str(), "tcp" | "udp" | "sctp"));
                let ports = ports(next);
                match p {
                    Some(p) => {
                        let s = format!("{p} {dir} {neg}{ports}");
                        two(s.clone(), Origin::Iptables, format!("write `{s}`"))
                    }
                    None => Piece {
                        first: i,
                        last: i + 1,
                        shriek: None,
                        foreign: Some((
                            Origin::Iptables,
                            format!("write `tcp {dir} {neg}{ports}` (or `udp {dir} ...`)"),
                        )),
                    },
                }
            }
            _ if ADDRESS_OPTIONS.iter().any(|(o, _)| *o == w) && !next.is_empty() => {
                let field = ADDRESS_OPTIONS.iter().find(|(o, _)| *o == w).expect("matched above").1;
                let value = if matches!(field, "iif" | "oif") && next.ends_with('+') {
                    format!("{}*", next.trim_end_matches('+'))
                } else {
                    next.to_string()
                };
                let s = format!("{field} {neg}{value}");
                two(s.clone(), Origin::Iptables, format!("write `{s}`"))
            }
            "-m" | "--match" if !next.is_empty() => two(
                String::new(),
                Origin::Iptables,
                format!("drop `-m {next}`: a match needs no module"),
            ),
            "--state" | "--ctstate" if !next.is_empty() => {
                let s = format!("ct state {neg}{}", next.to_ascii_lowercase());
                two(s.clone(), Origin::Iptables, format!("write `{s}`"))
            }
            "--comment" if !next.is_empty() => two(
                String::new(),
                Origin::Iptables,
                "write a comment after `#`".into(),
            ),
            "--limit" if !next.is_empty() => {
                let mut s = format!("limit {}", rate(next));
                let mut last = i + 1;
                if text(i + 2) == "--limit-burst" && is_number(text(i + 3)) {
                    s += &format!(" burst {}", text(i + 3));
                    last = i + 3;
                }
                Piece {
                    first: i,
                    last,
                    shriek: Some(s.clone()),
                    foreign: Some((Origin::Iptables, format!("write `{s}`"))),
                }
            }
            "-A" | "--append" | "-I" | "--insert" if !next.is_empty() => {
                let last = if is_number(text(i + 2)) && w.starts_with("-I") { i + 2 } else { i + 1 };
                Piece {
                    first: i,
                    last,
                    shriek: Some(String::new()),
                    foreign: Some((
                        Origin::Iptables,
                        format!("drop `{w} {next}`: a rule goes inside its chain, `chain {next} {{ ... }}`"),
                    )),
                }
            }
            _ if is_capitalised_keyword(w) => {
                let lower = w.to_ascii_lowercase();
                one(lower.clone(), Origin::Case, format!("write `{lower}`"))
            }
            _ if w.starts_with("--") || (w.starts_with('-') && w.len() == 2 && !is_number(w)) => {
                Piece { first: i, last: i, shriek: None, foreign: None }
            }
            _ => plain(i, w),
        };
        let mut piece = piece;
        // iptables' `! -s A` is one piece with the `!`.
        if let Some(b) = bang.take() {
            piece.first = b;
        }
        negated = false;
        i = piece.last + 1;
        out.push(piece);
    }
    out
}

/// A word that stays as it is.
fn plain(i: usize, word: &str) -> Piece {
    Piece { first: i, last: i, shriek: Some(word.into()), foreign: None }
}

/// iptables' port options and the direction each names.
const PORT_OPTIONS: &[(&str, &str)] = &[
    ("--dport", "dport"),
    ("--destination-port", "dport"),
    ("--dports", "dport"),
    ("--sport", "sport"),
    ("--source-port", "sport"),
    ("--sports", "sport"),
];

/// iptables' address and interface options and the Shriek field of each.
const ADDRESS_OPTIONS: &[(&str, &str)] = &[
    ("-s", "saddr"),
    ("--source", "saddr"),
    ("--src", "saddr"),
    ("-d", "daddr"),
    ("--destination", "daddr"),
    ("--dst", "daddr"),
    ("-i", "iif"),
    ("--in-interface", "iif"),
    ("-o", "oif"),
    ("--out-interface", "oif"),
];

/// The Shriek field for nft's `meta KEY`.
fn meta_field(key: &str) -> Option<&'static str> {
    Some(match key {
        "l4proto" => "proto",
        "nfproto" => "family",
        "iifname" | "iif" => "iif",
        "oifname" | "oif" => "oif",
        _ => return None,
    })
}

fn meta_example(field: &str) -> &'static str {
    match field {
        "proto" => "tcp",
        "family" => "ipv4",
        _ => "eth0",
    }
}

/// iptables' ports (`80,443`, `1000:2000`) as a Shriek value.
fn ports(list: &str) -> String {
    let items: Vec<String> = list.split(',').map(|p| p.replace(':', "-")).collect();
    if items.len() == 1 {
        items.into_iter().next().expect("one item")
    } else {
        format!("{{ {} }}", items.join(", "))
    }
}

/// iptables' `3/min` as Shriek's `3/minute`.
fn rate(r: &str) -> String {
    let (n, unit) = r.split_once('/').unwrap_or((r, "second"));
    let unit = match unit {
        u if "second".starts_with(u) => "second",
        u if "minute".starts_with(u) => "minute",
        u if "hour".starts_with(u) => "hour",
        u if "day".starts_with(u) => "day",
        u => u,
    };
    format!("{n}/{unit}")
}

/// The Shriek spelling of iptables' `-j TARGET ...` at word `i`, and the last
/// word it takes.
fn target(words: &[Word<'_>], i: usize) -> (Option<String>, usize) {
    let text = |i: usize| words.get(i).map_or("", |w| w.text);
    let goto = matches!(text(i), "-g" | "--goto");
    let t = text(i + 1);
    let last = (i + 1).min(words.len() - 1);
    if t.is_empty() {
        return (None, last);
    }
    let option = |name: &str| (text(i + 2) == name && !text(i + 3).is_empty()).then(|| text(i + 3));
    let verdict = match t {
        _ if goto => format!("goto {t}"),
        "ACCEPT" | "DROP" | "REJECT" | "RETURN" | "MASQUERADE" => t.to_ascii_lowercase(),
        "LOG" => match option("--log-prefix") {
            Some(p) => return (Some(format!("log prefix {p}")), i + 3),
            None => "log".into(),
        },
        "DNAT" | "SNAT" => {
            let to = if t == "DNAT" { "--to-destination" } else { "--to-source" };
            return match option(to) {
                Some(a) => (Some(format!("{} to {a}", t.to_ascii_lowercase())), i + 3),
                None => (None, last),
            };
        }
        "REDIRECT" => {
            return match option("--to-ports") {
                Some(p) => (Some(format!("redirect to {p}")), i + 3),
                None => (None, last),
            }
        }
        _ if t.chars().all(|c| c.is_ascii_uppercase()) => return (None, last),
        _ => format!("jump {t}"),
    };
    (Some(verdict), last)
}

fn is_number(w: &str) -> bool {
    !w.is_empty() && w.bytes().all(|b| b.is_ascii_digit())
}

/// `ACCEPT`, `Drop`: a keyword in the wrong case.
fn is_capitalised_keyword(w: &str) -> bool {
    w.bytes().any(|b| b.is_ascii_uppercase())
        && LOWERCASE_KEYWORDS.contains(&w.to_ascii_lowercase().as_str())
}
