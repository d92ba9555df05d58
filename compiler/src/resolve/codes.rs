//! The codes resolution reports: names, types and values (E02xx).
//!
//! Every error `resolve` emits is built from one of these constants;
//! `docs/diagnostics.md` lists them, checked by `shriekc/tests/diagnostics_doc.rs`.

shriek_grammar::catalogue! {
    /// Every resolution code, in code order.
    pub CATALOGUE = "E02", "Names, types and values", "compiler/src/resolve.rs";
    UNDEFINED_NAME = "E0201", "undefined-name", Error,
        "a `$name` that no `define` gives; suggests the nearest defined name";
    DEFINED_LATER = "E0202", "defined-later", Error,
        "a `$name` used above its `define`, or inside its own definition";
    DUPLICATE_DEFINE = "E0203", "duplicate-define", Error,
        "a name defined twice; both places are labelled";
    INCLUDE_NOT_FOUND = "E0204", "include-not-found", Error,
        "the entry file or an included file cannot be read";
    INCLUDE_CYCLE = "E0205", "include-cycle", Error,
        "files include each other in a loop; both ends are labelled";
    INCLUDE_TOO_DEEP = "E0206", "include-too-deep", Error,
        "includes nested more than 16 files deep";
    TOO_MANY_FILES = "E0207", "too-many-files", Error,
        "a policy that loads more than 256 files";
    DUPLICATE_TABLE = "E0208", "duplicate-table", Error,
        "two tables with one name";
    DUPLICATE_CHAIN = "E0209", "duplicate-chain", Error,
        "two chains with one name in one table";
    UNKNOWN_CHAIN = "E0210", "unknown-chain", Error,
        "a `jump` or `goto` to a chain the table does not have";
    JUMP_TO_BASE_CHAIN = "E0211", "jump-to-base-chain", Error,
        "a `jump` or `goto` to a chain with a hook";
    UNKNOWN_HOOK = "E0212", "unknown-hook", Error,
        "a hook other than prerouting, input, forward, output, postrouting";
    UNKNOWN_POLICY = "E0213", "unknown-policy", Error,
        "a chain policy other than accept, drop";
    UNKNOWN_CHAIN_TYPE = "E0214", "unknown-chain-type", Error,
        "a chain type other than filter, nat, route";
    MISSING_HOOK = "E0215", "missing-hook", Error,
        "`type`, `policy` or `priority` on a chain without a hook";
    NAT_OUTSIDE_NAT_CHAIN = "E0216", "nat-outside-nat-chain", Error,
        "address translation in a chain without `type nat`";
    INVALID_CHAIN_TYPE = "E0217", "invalid-chain-type", Error,
        "`type nat` on the forward hook, or `type route` on any hook but output";
    TYPE_MISMATCH = "E0218", "type-mismatch", Error,
        "a value of the wrong kind for its match (a port where an address belongs, ...)";
    HOST_BITS_SET = "E0219", "host-bits-set", Error,
        "a prefix with bits set after its length; the help gives the fixed prefix";
    VALUE_OUT_OF_RANGE = "E0220", "value-out-of-range", Error,
        "a port, protocol number, priority, burst or weight out of range, or a limit whose rate and burst the kernel cannot keep";
    REVERSED_RANGE = "E0221", "reversed-range", Error,
        "a range whose start is above its end";
    MIXED_FAMILY_RANGE = "E0222", "mixed-family-range", Error,
        "a range from an IPv4 to an IPv6 address";
    UNKNOWN_VALUE = "E0223", "unknown-value", Error,
        "an unknown protocol, service, conntrack state, family, rate unit, balance mode or `per` address (`per saddr`)";
    INVALID_INTERFACE_NAME = "E0224", "invalid-interface-name", Error,
        "an interface name that is empty, longer than 15 bytes, or holds a space, a control character, `/`, `:`, `\"` or a `*` before its end";
    MULTIPLE_VERDICTS = "E0225", "multiple-verdicts", Error,
        "two verdicts in one rule";
    STATEMENT_AFTER_VERDICT = "E0226", "statement-after-verdict", Error,
        "anything written after a rule's verdict or address translation";
    ZERO_RATE = "E0227", "zero-rate", Error,
        "`limit 0/...`, which never holds";
    INVALID_COUNTER_NAME = "E0228", "invalid-counter-name", Error,
        "a counter name that is not a letter or `_` then letters, digits, `_` and `-`, or is over 64 bytes";
    MALFORMED_ALLOW = "E0229", "malformed-allow", Error,
        "a `# shriek:` comment not of the form `allow(NAME) reason=\"...\"`";
    UNKNOWN_FINDING = "E0230", "unknown-finding", Error,
        "`allow(NAME)` with a name no finding has";
    INVALID_PREFIX = "E0231", "invalid-prefix", Error,
        "a prefix length longer than its address (over /32 for IPv4, /128 for IPv6)";
    INVALID_RANGE = "E0232", "invalid-range", Error,
        "a range whose ends are not two numbers or two single addresses of one family";
    MATCH_AFTER_STATEMENT = "E0233", "match-after-statement", Error,
        "a match written after a statement";
    NAT_WRONG_HOOK = "E0234", "nat-wrong-hook", Error,
        "a translation the hook cannot do (`dnat` on postrouting, `masquerade` on prerouting, ...)";
    INVALID_NAT_TARGET = "E0235", "invalid-nat-target", Error,
        "a translation target that is not one address, a weight outside balancing, or weight 0";
    FILE_TOO_LARGE = "E0236", "file-too-large", Error,
        "a policy file over 16 MiB, or a policy whose files hold over 64 MiB together";
    NOT_A_FILE = "E0237", "not-a-file", Error,
        "a path that names a directory, a FIFO, a device or a socket, not a policy file";
    NOT_UTF8 = "E0238", "not-utf8", Error,
        "a file that is not UTF-8 text; names the line and column of the first bad byte";
    MIXED_FAMILY_NAT = "E0239", "mixed-family-nat", Error,
        "a `dnat` that balances over IPv4 and IPv6 backends at once; both are labelled";
    NAT_FAMILY_MISMATCH = "E0240", "nat-family-mismatch", Error,
        "a translation to an address of one family in a rule that matches only the other";
    AMBIGUOUS_IPV6_PORT = "E0241", "ambiguous-ipv6-port", Warning,
        "`dnat to 2001:db8::1:8080` reads the last group as part of the address, not as a port";
    SET_TOO_LARGE = "E0242", "set-too-large", Error,
        "a value of more than 65,536 elements once its sets and `$name`s are expanded";
    TOO_MANY_VALUES = "E0243", "too-many-values", Error,
        "matches and defines holding more than 4,000,000 elements together";
    TOO_MANY_RULES = "E0244", "too-many-rules", Error,
        "a policy of more than 250,000 rules";
    REJECT_MISMATCH = "E0250", "reject-mismatch", Error,
        "`reject with tcp reset` in a rule that can match other packets than TCP, or `reject with icmp` (`icmpv6`) in one that can match IPv6 (IPv4) packets";
    AUDIT_LOG_PREFIX = "E0251", "audit-log-prefix", Error,
        "`log level audit` with a prefix, which the audit log does not carry";
    TCP_FLAGS_FORM = "E0252", "tcp-flags-form", Error,
        "a `tcp flags` match nft would read otherwise or that never holds: braces (`{ syn, ack }`), flags outside the mask, `==` or `!` before a mask, no flag";
    NAME_TOO_LONG = "E0253", "name-too-long", Error,
        "a table or chain name, or a log prefix, longer than the kernel keeps";
    IFACE_NOT_SET = "E0254", "interface-not-set", Warning,
        "`oif` in a prerouting or input chain, or `iif` in an output chain, where the kernel has no such interface: the match never holds there, or, negated, always";
    REJECT_WRONG_HOOK = "E0255", "reject-wrong-hook", Error,
        "`reject` in a postrouting chain, or in a chain one reaches by `jump` or `goto`, where the kernel refuses it";
    INVALID_LOG_PREFIX = "E0256", "invalid-log-prefix", Error,
        "a log prefix holding a control character or a `\"`, which nft's text cannot write";
}
