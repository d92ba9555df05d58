//! The codes the grammar reports: the syntax catalogue (E01xx).
//!
//! Every syntax error the parser emits is built from one of these constants;
//! `docs/diagnostics.md` lists them, checked by `shriekc/tests/diagnostics_doc.rs`.

crate::catalogue! {
    /// Every syntax code, in code order.
    pub CATALOGUE = "E01", "Syntax", "grammar/";
    SYNTAX_ERROR = "E0101", "syntax-error", Error,
        "the text is not what the language allows there; the message says what was expected, in words";
    UNKNOWN_KEYWORD = "E0102", "unknown-keyword", Error,
        "an unknown word where a keyword belongs (`acept`, `hok`, `chian`, `tabel`), with \"did you mean\"";
    UNCLOSED_BRACE = "E0103", "unclosed-brace", Error,
        "a `{` that is never closed; points at it and says where the file ends";
    UNMATCHED_BRACE = "E0104", "unmatched-brace", Error,
        "a `}` that closes nothing";
    UNTERMINATED_STRING = "E0105", "unterminated-string", Error,
        "a string with no closing `\"` on its line";
    BAD_PREFIX_LENGTH = "E0106", "bad-prefix-length", Error,
        "a prefix length above /32 (IPv4) or /128 (IPv6)";
    NUMBER_TOO_LARGE = "E0107", "number-too-large", Error,
        "a number that does not fit in 64 bits";
    BAD_ADDRESS = "E0108", "bad-address", Error,
        "text shaped like an address that is not one (`300.1.2.3`, `fd00::1::2`)";
    DUPLICATE_CHAIN_CLAUSE = "E0109", "duplicate-chain-clause", Error,
        "`hook`, `type`, `priority` or `policy` given twice in one chain header";
    STRAY_CHARACTER = "E0110", "stray-character", Error,
        "a character the language never uses (`@`, a NUL byte, ...)";
    NESTING_TOO_DEEP = "E0111", "nesting-too-deep", Error,
        "sets nested more than 64 levels deep";
    BAD_ESCAPE = "E0112", "bad-escape", Error,
        "a string escape other than `\\\"` and `\\\\`";
    MISSING_CHAIN_NAME = "E0113", "missing-chain-name", Error,
        "`chain` not followed by a name";
    UNBRACED_LIST = "E0114", "unbraced-list", Error,
        "a comma list without braces (`a, b`) anywhere but after `ct state`";
    FOREIGN_SPELLING = "E0115", "foreign-spelling", Error,
        "iptables' or nft's way of writing something (`ip saddr`, `-j DROP`, `ACCEPT`, `meta l4proto`, `table inet filter`); the help gives Shriek's";
}
