//! Inline suppressions: `# shriek: allow(NAME) reason="why"` comments.
//!
//! A suppression belongs to the rule on its own line (a trailing comment) or
//! to the rule right below a block of comment lines. Every `# shriek:` comment
//! is checked, attached or not, so a typo never silently suppresses nothing.
//! The names an allow may give are the analysis catalogue's.

use std::collections::HashMap;

use super::{codes, suggest};
use shriek_grammar::ast::Comment;
use shriek_grammar::{Diagnostic, FileId, Loc, SourceFile, Span};

use crate::analysis::codes::CATALOGUE;
use crate::ir::Allow;

const FORM: &str = "write it as `# shriek: allow(redundant-rule) reason=\"why this is fine\"`";

/// The valid allows of one file, by the line they sit on, and which lines
/// hold nothing but a comment.
pub(crate) struct FileAllows {
    by_line: HashMap<usize, Vec<Allow>>,
    comment_lines: HashMap<usize, bool>,
}

impl FileAllows {
    pub fn new(
        file: FileId,
        source: &SourceFile,
        comments: &[Comment],
        diags: &mut Vec<Diagnostic>,
    ) -> FileAllows {
        let mut by_line: HashMap<usize, Vec<Allow>> = HashMap::new();
        let mut comment_lines = HashMap::new();
        for c in comments {
            let (line, _) = source.line_col(c.span.start);
            let before = source.text.get(..c.span.start as usize).unwrap_or("");
            let own_line =
                before.rsplit('\n').next().is_some_and(|s| s.chars().all(char::is_whitespace));
            comment_lines.insert(line, own_line);
            if let Some(allow) = parse(file, c, diags) {
                by_line.entry(line).or_default().push(allow);
            }
        }
        FileAllows { by_line, comment_lines }
    }

    /// The allows for a rule spanning lines `first..=last`.
    pub fn for_rule(&self, first: usize, last: usize) -> Vec<Allow> {
        let mut out = Vec::new();
        let mut line = first;
        while line > 1 && self.comment_lines.get(&(line - 1)) == Some(&true) {
            line -= 1;
        }
        for l in line..=last {
            if let Some(a) = self.by_line.get(&l) {
                out.extend(a.iter().cloned());
            }
        }
        out
    }
}

/// Parse one comment; `None` when it is not a `shriek:` comment or is malformed.
fn parse(file: FileId, c: &Comment, diags: &mut Vec<Diagnostic>) -> Option<Allow> {
    let body = c.text.strip_prefix('#')?.trim_start();
    let rest = body.strip_prefix("shriek:")?;
    let loc = Loc::new(file, c.span);
    let malformed = |msg: &str| {
        Diagnostic::new(codes::MALFORMED_ALLOW, msg, loc, "in this comment").with_help(FORM)
    };
    let rest = rest.trim();
    let Some(rest) = rest.strip_prefix("allow(") else {
        diags.push(malformed("a `shriek:` comment must say `allow(NAME)`"));
        return None;
    };
    let Some(close) = rest.find(')') else {
        diags.push(malformed("`allow(` is missing its `)`"));
        return None;
    };
    let name = rest[..close].trim();
    let after = rest[close + 1..].trim();
    let name_start = c.text.find(name).unwrap_or(0);
    let name_loc = Loc::new(
        file,
        Span::new(
            c.span.start as usize + name_start,
            c.span.start as usize + name_start + name.len(),
        ),
    );
    let mut bad = false;
    let findings = || CATALOGUE.codes.iter().map(|c| c.name);
    if !findings().any(|f| f == name) {
        let mut d = Diagnostic::new(
            codes::UNKNOWN_FINDING,
            format!("unknown finding `{name}`"),
            name_loc,
            "not a finding shriekc reports",
        );
        d.help = Some(match suggest(name, findings()) {
            Some(n) => format!("did you mean `{n}`?"),
            None => {
                let all: Vec<&str> = findings().collect();
                format!("findings that can be allowed: {}", all.join(", "))
            }
        });
        diags.push(d);
        bad = true;
    }
    let reason = after
        .strip_prefix("reason")
        .map(str::trim_start)
        .and_then(|r| r.strip_prefix('='))
        .map(str::trim_start)
        .and_then(|r| r.strip_prefix('"'))
        .and_then(|r| r.strip_suffix('"'));
    let reason = match reason {
        Some(r) if !r.trim().is_empty() => r.to_string(),
        Some(_) => {
            diags.push(malformed("the reason of an allow must not be empty"));
            return None;
        }
        None if after.is_empty() => {
            diags.push(malformed("an allow needs a reason"));
            return None;
        }
        None => {
            diags.push(malformed("expected `reason=\"...\"` after `allow(NAME)`"));
            return None;
        }
    };
    if bad {
        return None;
    }
    Some(Allow { name: name.to_string(), reason, loc })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_one(text: &str) -> (Option<Allow>, Vec<Diagnostic>) {
        let comment = Comment { span: Span::new(0, text.len()), text: text.to_string() };
        let mut diags = Vec::new();
        (parse(FileId(0), &comment, &mut diags), diags)
    }

    /// Every finding of the analysis catalogue can be allowed, and nothing else.
    #[test]
    fn allow_names_are_the_analysis_catalogue() {
        for code in CATALOGUE.codes {
            let (allow, diags) =
                parse_one(&format!("# shriek: allow({}) reason=\"why\"", code.name));
            assert_eq!(diags, vec![], "{}", code.name);
            assert_eq!(allow.map(|a| a.name), Some(code.name.to_string()));
        }
        let (allow, diags) = parse_one("# shriek: allow(no-such-finding) reason=\"why\"");
        assert_eq!(allow, None);
        let names: Vec<&str> = CATALOGUE.codes.iter().map(|c| c.name).collect();
        let help = diags.first().and_then(|d| d.help.clone());
        assert_eq!(help, Some(format!("findings that can be allowed: {}", names.join(", "))));
    }
}
