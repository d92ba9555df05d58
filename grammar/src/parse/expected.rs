//! Step 3 of parsing: what a statement pest could not read should have been,
//! in plain words.
//!
//! Each bad statement is re-parsed alone with the strict rule for its
//! position; pest's position and expected rules are then turned into a
//! message ("expected a value, found `}`"), with a "did you mean" where an
//! unknown word is close to a keyword.

use pest::iterators::Pair;
use pest::Parser;

use crate::ast::Span;
use crate::codes;
use crate::diag::{levenshtein, nearest};

use super::build::{Context, Cx};
use super::foreign;
use super::{Rule, ShriekParser, RULE_KEYWORDS, TOP_KEYWORDS};

impl<'a> Cx<'a> {
    pub(super) fn bad(&mut self, p: Pair<'a, Rule>, context: Context) {
        let raw = p.as_str();
        let text = raw.trim_end();
        let start = p.as_span().start();
        let span = Span::new(start.min(self.len), (start + text.len()).min(self.len));
        if self
            .suppress
            .iter()
            .any(|s| s.start < span.end.max(span.start + 1) && span.start < s.end.max(s.start + 1))
        {
            return;
        }
        let strict = match context {
            Context::Top => Rule::strict_top,
            Context::Table => Rule::strict_chain,
            Context::Rule => Rule::strict_rule,
        };
        match ShriekParser::parse(strict, text) {
            Err(err) => self.pest_error(&err, start, context, text),
            Ok(_) => self.error(
                codes::SYNTAX_ERROR,
                "this statement could not be read",
                span,
                "not a valid statement",
                None,
            ),
        }
    }

    /// Translates pest's failure on `text` (which starts at `offset` in the file) into words.
    pub(super) fn pest_error(
        &mut self,
        err: &pest::error::Error<Rule>,
        offset: usize,
        context: Context,
        text: &str,
    ) {
        let pos = match err.location {
            pest::error::InputLocation::Pos(p) => p,
            pest::error::InputLocation::Span((p, _)) => p,
        }
        .min(text.len());
        let positives: &[Rule] = match &err.variant {
            pest::error::ErrorVariant::ParsingError { positives, .. } => positives,
            pest::error::ErrorVariant::CustomError { .. } => &[],
        };
        let rest = &text[pos..];
        let found = found_token(rest);
        let at = offset + pos;
        let span = Span::new(at.min(self.len), (at + found.len()).min(self.len));
        let expects = |r: &[Rule]| positives.iter().any(|p| r.contains(p));
        let word = starts_word(found).then_some(found);

        let foreign = match context {
            Context::Rule => foreign::in_rule(text, pos),
            Context::Top => foreign::at_top(text, pos),
            Context::Table => None,
        };
        if let Some(f) = foreign {
            let span = Span::new((offset + f.start).min(self.len), (offset + f.end).min(self.len));
            self.error(codes::FOREIGN_SPELLING, f.message, span, f.label, Some(f.help));
            return;
        }

        if let Some(word) = word {
            if context == Context::Rule && (expects(TERM_RULES) || positives.is_empty()) {
                let help = if word == "chain" {
                    "a chain cannot sit inside another chain; is a `}` missing above?".to_string()
                } else if word == "sport" || word == "dport" {
                    format!("a port match names its protocol first: `tcp {word} 22`")
                } else if let Some(near) = suggest(word, RULE_KEYWORDS) {
                    format!("did you mean `{near}`?")
                } else {
                    "a rule is made of matches (`saddr`, `tcp dport`, `ct state`, ...) and statements (`accept`, `counter`, `log`, ...)".into()
                };
                let label = if pos == 0 {
                    "not a match or a statement"
                } else {
                    "expected a match or a statement here"
                };
                self.error(
                    codes::UNKNOWN_KEYWORD,
                    format!("unknown word `{word}` in a rule"),
                    span,
                    label,
                    Some(help),
                );
                return;
            }
            if context == Context::Top
                && expects(&[
                    Rule::kw_include,
                    Rule::kw_define,
                    Rule::kw_table,
                    Rule::include,
                    Rule::define,
                    Rule::table,
                    Rule::strict_top,
                ])
            {
                let help = if word == "chain" {
                    "a chain belongs inside a table: `table NAME { chain ... }`".to_string()
                } else if RULE_KEYWORDS.contains(&word) {
                    "rules belong inside a chain, inside a table".to_string()
                } else if let Some(near) = suggest(word, TOP_KEYWORDS) {
                    format!("did you mean `{near}`?")
                } else {
                    "a file holds `include`, `define` and `table` items".into()
                };
                self.error(
                    codes::UNKNOWN_KEYWORD,
                    format!("unknown word `{word}` at the top level"),
                    span,
                    "not `include`, `define` or `table`",
                    Some(help),
                );
                return;
            }
            if context == Context::Table
                && expects(&[Rule::kw_chain, Rule::chain, Rule::strict_chain])
            {
                let help = if RULE_KEYWORDS.contains(&word) {
                    "rules belong inside a chain: `chain NAME { ... }`".to_string()
                } else if let Some(near) = suggest(word, &["chain"]) {
                    format!("did you mean `{near}`?")
                } else {
                    "a table holds only `chain NAME { ... }` blocks".into()
                };
                self.error(
                    codes::UNKNOWN_KEYWORD,
                    format!("unknown word `{word}` in a table"),
                    span,
                    "not `chain`",
                    Some(help),
                );
                return;
            }
        }
        if let Some(c) = rest.chars().next() {
            if !is_language_char(c) {
                self.error(
                    codes::STRAY_CHARACTER,
                    format!("unexpected character `{}`", c.escape_debug()),
                    Span::new(at.min(self.len), (at + c.len_utf8()).min(self.len)),
                    "not part of the language",
                    Some("remove it".into()),
                );
                return;
            }
        }
        // `tcp flag syn`: pest names only the port words after `tcp`, since
        // `tcp flags` is read as one token; the user needs all three.
        let before = text[..pos].trim_end();
        let after_tcp = expects(&[Rule::port_dir])
            && before.ends_with("tcp")
            && !before[..before.len() - 3]
                .ends_with(|c: char| c.is_ascii_alphanumeric() || c == '_');
        // `ct count over 20 drop`: the count is kept per address, which
        // the rule must name.
        if expects(&[Rule::kw_per, Rule::per_key]) && before.contains("count") {
            self.error(
                codes::SYNTAX_ERROR,
                "`ct count` counts the connections of each address, which it must name",
                span,
                "expected `per saddr` or `per daddr` here",
                Some(format!("write `{before} per saddr` (or `per daddr`)")),
            );
            return;
        }
        let expected = if after_tcp {
            "`sport`, `dport` or `flags`".to_string()
        } else {
            expected_words(positives)
        };
        let found_text = if found.is_empty() {
            "the end of the statement".to_string()
        } else {
            format!("`{found}`")
        };
        let label = if found.is_empty() {
            "the statement ends here".to_string()
        } else {
            "unexpected here".into()
        };
        let message = if expected.is_empty() {
            format!("unexpected {found_text}")
        } else {
            format!("expected {expected}, found {found_text}")
        };
        let help = if found.is_empty() && expected.contains("`{`") {
            Some(
                "a block opens on the line of its header: put the `{` at the end of this line"
                    .to_string(),
            )
        } else if after_tcp {
            word.and_then(|w| suggest(w, &["flags", "sport", "dport"]))
                .map(|near| format!("did you mean `tcp {near}`?"))
        } else {
            None
        };
        self.error(codes::SYNTAX_ERROR, message, span, label, help);
    }
}

/// Rules whose presence among pest's expectations means "a match or a statement could go here".
const TERM_RULES: &[Rule] = &[
    Rule::strict_rule,
    Rule::rule,
    Rule::match_term,
    Rule::simple_field,
    Rule::simple_verdict,
    Rule::port_field,
    Rule::port_proto,
    Rule::icmp_field,
    Rule::icmp_proto,
    Rule::tcp_flags,
    Rule::ct_state,
    Rule::kw_ct,
    Rule::counter,
    Rule::log,
    Rule::limit,
    Rule::ct_count,
    Rule::mark_set,
    Rule::kw_mark_set,
    Rule::meta_mark,
    Rule::verdict,
    Rule::dnat,
    Rule::snat,
    Rule::masquerade,
    Rule::redirect,
    Rule::kw_masquerade,
    Rule::kw_redirect,
];

fn rule_words(r: Rule) -> Option<&'static str> {
    if TERM_RULES.contains(&r) {
        return Some("a match or a statement");
    }
    Some(match r {
        Rule::value | Rule::atom | Rule::set | Rule::var | Rule::addr => "a value",
        Rule::ipv4 | Rule::ipv6 | Rule::name => "a value",
        Rule::backend
        | Rule::backend_one
        | Rule::backend_addr
        | Rule::nat_target
        | Rule::balance => "an address, `[IPv6]` or a `{ ... }` of backends",
        Rule::number | Rule::int | Rule::prefix_len => "a number",
        Rule::string => "a quoted string",
        Rule::ident => "a name",
        Rule::chain_name => "a chain name",
        Rule::counter_name => "a counter name",
        Rule::lbrace => "`{`",
        Rule::rbrace => "`}`",
        Rule::lbracket => "`[`",
        Rule::rbracket => "`]`",
        Rule::comma => "`,`",
        Rule::eq => "`=`",
        Rule::neg => "`!=`",
        Rule::dash => "`-`",
        Rule::slash => "`/`",
        Rule::colon => "`:`",
        Rule::kw_include
        | Rule::kw_define
        | Rule::kw_table
        | Rule::include
        | Rule::define
        | Rule::table => "`include`, `define` or `table`",
        Rule::kw_chain | Rule::chain => "`chain`",
        Rule::kw_hook
        | Rule::kw_type
        | Rule::kw_priority
        | Rule::kw_policy
        | Rule::clause
        | Rule::bad_word => "a chain option (`hook`, `type`, `priority`, `policy`)",
        Rule::chain_head => "a chain name",
        Rule::chain_body => "`{`",
        Rule::port_dir => "`sport` or `dport`",
        Rule::icmp_part => "`type` or `code`",
        Rule::tcp_reset | Rule::reject_proto => "`tcp reset`, `icmp`, `icmpv6` or `icmpx`",
        Rule::kw_state => "`state`",
        Rule::kw_prefix => "`prefix`",
        Rule::kw_level => "`level`",
        Rule::log_level => "a log level",
        Rule::kw_burst => "`burst`",
        Rule::kw_per | Rule::per_key => "`per`",
        Rule::kw_count => "`count`",
        Rule::kw_over => "`over`",
        Rule::kw_to => "`to`",
        Rule::kw_balance => "`balance`",
        Rule::kw_weight => "`weight`",
        Rule::EOI => "the end of the statement",
        _ => return None,
    })
}

/// "a, b or c", with the noisy continuations (`-` of a range, `/` of a prefix)
/// left out when something more telling is expected too.
fn expected_words(positives: &[Rule]) -> String {
    let mut words: Vec<&str> = Vec::new();
    for &p in positives {
        if let Some(w) = rule_words(p) {
            if !words.contains(&w) {
                words.push(w);
            }
        }
    }
    if words.len() > 1 {
        words.retain(|w| *w != "`-`" && *w != "`/`");
    }
    if words.contains(&"a value") {
        words.retain(|w| *w != "a number" && *w != "a quoted string");
    }
    match words.split_last() {
        None => String::new(),
        Some((last, [])) => last.to_string(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
    }
}

/// The token at the start of `rest`, for messages: a word-like run, or one character.
fn found_token(rest: &str) -> &str {
    let end = rest
        .char_indices()
        .find(|&(_, c)| {
            !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-' | ':' | '/' | '$'))
        })
        .map_or(rest.len(), |(i, _)| i);
    if end > 0 {
        return &rest[..end];
    }
    match rest.chars().next() {
        Some('\n') | None => "",
        Some(c) => &rest[..c.len_utf8()],
    }
}

/// The keyword `word` most likely misspells: [`nearest`], plus one swap of
/// neighbouring letters (`chian`, `tabel`), the commonest typo of all.
pub(super) fn suggest(word: &str, candidates: &[&'static str]) -> Option<&'static str> {
    nearest(word, candidates.iter().copied()).or_else(|| {
        let w: Vec<char> = word.chars().collect();
        candidates.iter().copied().find(|c| {
            let c: Vec<char> = c.chars().collect();
            c.len() == w.len()
                && levenshtein(word, &c.iter().collect::<String>()) == 2
                && (0..w.len().saturating_sub(1)).any(|i| {
                    let mut swapped = w.clone();
                    swapped.swap(i, i + 1);
                    swapped == c
                })
        })
    })
}

pub(super) fn starts_word(s: &str) -> bool {
    s.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
}

fn is_language_char(c: char) -> bool {
    c.is_ascii_alphanumeric()
        || matches!(c, ' ' | '\t' | '\r' | '\n' | '_' | '.' | '-' | ':' | '/' | '$' | '"' | '#')
        || matches!(c, '{' | '}' | '[' | ']' | ',' | ';' | '=' | '!' | '*')
}

pub(super) fn option_value(word: &str) -> Option<&'static str> {
    Some(match word {
        "hook" => "a hook name",
        "type" => "a chain type",
        "priority" => "a priority number",
        "policy" => "a policy",
        _ => return None,
    })
}

pub(super) fn option_example(word: &str) -> &'static str {
    match word {
        "hook" => "input",
        "type" => "filter",
        "priority" => "0",
        _ => "drop",
    }
}
