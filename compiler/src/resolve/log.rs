//! `log [level LEVEL] [prefix "text"]`: the level named, a prefix the
//! kernel can keep and nft's text can write, and the one combination the
//! kernel's audit log refuses to carry.

use shriek_grammar::ast::{self, Spanned};
use shriek_grammar::{Diagnostic, FileId, Loc};

use super::typing::unknown;
use super::{codes, Ctx};
use crate::ir;
use crate::nft::vocab::{value_of, LOG_AUDIT_LEVEL, LOG_DEFAULT_LEVEL, LOG_LEVELS, LOG_PREFIX_MAX};

impl Ctx<'_> {
    /// The `log` statement; `None` (reported) for an unknown level, a
    /// prefix nft's text cannot write or the kernel cannot keep, or
    /// `level audit` with a prefix.
    pub(super) fn log(
        &mut self,
        file: FileId,
        prefix: Option<&Spanned<String>>,
        level: Option<&ast::Ident>,
    ) -> Option<ir::Action> {
        let text = prefix.map(|p| p.node.clone());
        // nft's text has no way to write a `"` or a control character in a
        // string: `compile` wrote `'` and a space for them, so `nft -f` of
        // its output logged another prefix than `apply` (which sent the
        // bytes, an escape sequence reaching the kernel log as it is).
        if let Some((p, bad)) =
            prefix.and_then(|p| p.node.chars().find(|&c| !prefix_char(c)).map(|c| (p, c)))
        {
            let d = Diagnostic::new(
                codes::INVALID_LOG_PREFIX,
                format!("log prefix holds `{}`", bad.escape_debug()),
                Loc::new(file, p.span),
                "not allowed in a log prefix",
            )
            .with_help("a log prefix has no control characters and no `\"`; write `'` for a quote and a space for a tab or line break");
            self.error(d);
            return None;
        }
        if let Some(p) = prefix.filter(|p| p.node.len() > LOG_PREFIX_MAX) {
            let d = Diagnostic::new(
                codes::NAME_TOO_LONG,
                format!("log prefix of {} bytes is too long", p.node.len()),
                Loc::new(file, p.span),
                "the kernel would refuse this rule",
            )
            .with_help(format!("a log prefix has at most {LOG_PREFIX_MAX} bytes"));
            self.error(d);
            return None;
        }
        let Some(name) = level else {
            return Some(ir::Action::Log { prefix: text, level: None });
        };
        let Some(level) = value_of(LOG_LEVELS, &name.text) else {
            let known = LOG_LEVELS.iter().map(|(n, _)| *n);
            unknown(&mut self.diags, Loc::new(file, name.span), "log level", &name.text, known);
            return None;
        };
        if let (LOG_AUDIT_LEVEL, Some(p)) = (level, prefix) {
            // The audit log writes its own record; nft refuses a prefix
            // there rather than drop it silently, and so does Shriek.
            let d = Diagnostic::new(
                codes::AUDIT_LOG_PREFIX,
                "`log level audit` takes no prefix",
                Loc::new(file, p.span),
                "the audit log has no place for this",
            )
            .with_related(Loc::new(file, name.span), "writes to the audit log")
            .with_help("drop the prefix, or log at another level (`log level info prefix ...`)");
            self.error(d);
            return None;
        }
        Some(ir::Action::Log { prefix: text, level: (level != LOG_DEFAULT_LEVEL).then_some(level) })
    }
}

/// Whether `c` may be in a log prefix: nft's text can write it in a string.
fn prefix_char(c: char) -> bool {
    !(c.is_control() || c == '"')
}
