//! `.shr` text -> [`ast::File`] plus every syntax error, never failing.
//!
//! Parsing runs in three steps:
//! 1. a byte scan (`parse/prescan.rs`) collects comments, finds unterminated strings,
//!    balances braces (a stray `}` is blanked, a missing `}` appended) and blanks
//!    sets nested deeper than [`MAX_DEPTH`], so the pest grammar can neither fail
//!    nor recurse deeply;
//! 2. the tolerant pest grammar (`shriek.pest`) reads the whole file, turning each
//!    statement it cannot read into a `bad_*` node, and `parse/build.rs` builds
//!    the tree from it;
//! 3. each bad node is re-parsed alone with the strict rule for its position, and
//!    pest's position and expectations are translated into plain words
//!    (`parse/expected.rs`).
//!
//! Pest costs tens of thousands of instructions per rule line, so in a file the
//! prescan found clean, `parse/fast.rs` reads the plain rule lines by hand first
//! and pest only skips them (see there); any doubt, and pest reads everything.
//!
//! Value checks a grammar cannot express (prefix lengths, number sizes, address
//! syntax, escapes, repeated chain options) happen while building the tree.
//! Everything about meaning (is `inpt` a hook?) is left to resolution.
//!
//! Every error is built from the syntax catalogue, [`crate::codes`].

use crate::ast;
use crate::LocalDiagnostic;

mod build;
mod expected;
mod fast;
mod foreign;
mod prescan;

#[derive(pest_derive::Parser)]
#[grammar = "shriek.pest"]
struct ShriekParser;

/// How deep `{` may nest. Deeper input is reported and blanked, which keeps
/// pest's recursion (and ours) far from the stack limit.
pub const MAX_DEPTH: usize = 64;

/// Words that may start a match or a statement: what "did you mean" picks from in a rule.
pub const RULE_KEYWORDS: &[&str] = &[
    "saddr",
    "daddr",
    "proto",
    "tcp",
    "udp",
    "sctp",
    "iif",
    "oif",
    "ct",
    "family",
    "mark",
    "counter",
    "log",
    "limit",
    "accept",
    "drop",
    "reject",
    "jump",
    "goto",
    "return",
    "dnat",
    "snat",
    "masquerade",
    "redirect",
];
const TOP_KEYWORDS: &[&str] = &["include", "define", "table"];
const CHAIN_OPTIONS: &[&str] = &["hook", "type", "priority", "policy"];

/// Parses one file. Never fails, never panics: returns the tree it could build
/// (statements with errors are left out) and every syntax error, in source order.
pub fn parse(text: &str) -> (ast::File, Vec<LocalDiagnostic>) {
    parse_with(text, true)
}

/// [`parse`], with the hand-written reader of plain rule lines (`fast.rs`) on
/// or off; both give the same result, which the tests of `fast.rs` check.
fn parse_with(text: &str, use_fast: bool) -> (ast::File, Vec<LocalDiagnostic>) {
    let pre = prescan::prescan(text);
    let len = text.len();
    // The fast reader relies on the prescan having changed nothing, and on the
    // marker byte not occurring in the input.
    let clean = pre.diags.is_empty() && pre.suppress.is_empty();
    let fast = (use_fast && clean && !text.as_bytes().contains(&fast::MARK))
        .then(|| fast::scan(&pre.text))
        .filter(|marked| !marked.rules.is_empty())
        .and_then(|marked| build::build(&pre, &marked.text, len, marked.rules));
    // Without fast rules `build` always succeeds.
    let (items, mut diags) =
        fast.or_else(|| build::build(&pre, &pre.text, len, Vec::new())).unwrap_or_default();
    diags.sort_by_key(|d| (d.span.start, d.span.end));
    (ast::File { items, comments: ast::Comments(pre.comments) }, diags)
}
