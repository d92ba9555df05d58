//! The analysis catalogue: every finding (E03xx) with its code, name,
//! severity, one-line summary and the long explanation `shriekc explain`
//! prints. Findings are built from these constants only; `allow(NAME)`,
//! SARIF `driver.rules`, `shriekc explain` and `docs/diagnostics.md` (checked
//! by `shriekc/tests/diagnostics_doc.rs`) all read this list.

shriek_grammar::catalogue! {
    /// Every finding, in code order.
    pub CATALOGUE = "E03", "Analysis findings", "compiler/src/analysis.rs";
    SHADOWED_RULE = "E0301", "shadowed-rule", Error,
        "earlier rules decide every packet the rule matches, and some of them differently (another verdict or translation)",
        explain SHADOWED_RULE_TEXT;
    REDUNDANT_RULE = "E0302", "redundant-rule", Warning,
        "earlier rules decide every packet the rule matches, each as the rule would (same verdict, same translation), so removing it changes no packet's fate",
        explain REDUNDANT_RULE_TEXT;
    UNMATCHABLE_RULE = "E0303", "unmatchable-rule", Error,
        "the rule's own matches contradict each other, so it matches no packet",
        explain UNMATCHABLE_RULE_TEXT;
    UNREACHABLE_CHAIN = "E0304", "unreachable-chain", Warning,
        "no base chain reaches this regular chain through jump or goto",
        explain UNREACHABLE_CHAIN_TEXT;
    JUMP_CYCLE = "E0305", "jump-cycle", Error,
        "chains jump or go to each other in a loop",
        explain JUMP_CYCLE_TEXT;
    ANALYSIS_BUDGET = "E0306", "analysis-budget", Info,
        "the exact analysis of a rule grew past its budget (its own, or the whole policy's), so the rule was not checked; it never changes the exit code",
        explain ANALYSIS_BUDGET_TEXT;
    CHAIN_TOO_DEEP = "E0307", "chain-too-deep", Error,
        "a base chain reaches a chain through more nested jumps and gotos than the kernel allows, so the kernel would refuse the policy",
        explain CHAIN_TOO_DEEP_TEXT;
}

const SHADOWED_RULE_TEXT: &str = "\
shadowed-rule (E0301, error)

A rule is shadowed when the rules above it in the same chain already end the
chain for every packet it matches, and at least one of them does something
else with those packets than this rule would: another verdict, or another
address translation. The rule never decides a packet: what you wrote it for
does not happen. Coverage by several earlier rules together counts, and it
is exact: shriekc proves that no packet can reach the rule, it does not
guess from samples.

    chain input hook input policy accept {
      tcp dport 1-1000 drop
      tcp dport 1001-2000 drop
      tcp dport 500-1500 accept    # shadowed: the two drops take all of it
    }

Rules that end the chain are those with `accept`, `drop`, `reject`,
`return`, `goto`, or address translation (which accepts), and no `limit`
(a rule over its rate lets the packet go on). A `jump` rule counts only for
the packets its target chain gives a final verdict whatever the rates of its
`limit` rules: a `limit 3/minute return` in the target lets packets come
back, so the rules after the jump still see them.

A translation behind one to another target is shadowed too: the earlier one
decides where the packets go.

    chain pre hook prerouting type nat policy accept {
      tcp dport 80 dnat to 10.0.0.1:80
      tcp dport 80 daddr 192.0.2.1 dnat to 10.0.0.2:80   # shadowed
    }

A rule without a verdict (only `counter` or `log`) that is covered the same
way is reported as shadowed too: it never sees a packet, so its statements
never run and its counter stays at zero.

Fix: move the rule above the rules that cover it (the finding labels them),
narrow those rules, or remove the rule if the earlier verdict is the one you
want. To keep it on purpose, write above or on the rule:
    # shriek: allow(shadowed-rule) reason=\"...\"
";

const REDUNDANT_RULE_TEXT: &str = "\
redundant-rule (E0302, warning)

A rule is redundant when the rules above it in the same chain already end the
chain for every packet it matches, each doing what this rule would: the same
verdict, and the same address translation if it translates. Removing the
rule changes no packet's fate; it only makes the policy longer and the
ruleset slower.

    chain input hook input policy drop {
      saddr 10.0.0.0/8 accept
      saddr 10.1.0.0/16 tcp dport 22 accept    # redundant: the line above accepts it
    }

Coverage by several earlier rules together counts, and it is exact. Rules
that end the chain are those with `accept`, `drop`, `reject`, `return`,
`goto`, or address translation (which accepts), and no `limit`; a `jump`
rule counts for the packets its target chain gives a final verdict whatever
the rates of its `limit` rules. When a covering rule does something else
with some of the packets, the finding is `shadowed-rule` instead.

A rule that is reached but only repeats what would happen anyway (a `drop`
just before the chain's `policy drop`) is not reported: the rules after it
and the policy decide its packets, not earlier rules.

Fix: remove the rule. If it documents intent, keep it with
    # shriek: allow(redundant-rule) reason=\"...\"
";

const UNMATCHABLE_RULE_TEXT: &str = "\
unmatchable-rule (E0303, error)

The rule's own matches contradict each other, so no packet can satisfy all
of them and the rule never does anything. Common causes are two different
protocols, or an IPv4 address next to an IPv6 one (a match against IPv4
values only matches IPv4 packets):

    chain input hook input policy drop {
      proto udp tcp dport 22 accept          # udp and tcp at once
      saddr 10.0.0.0/8 daddr fd00::1 accept  # IPv4 and IPv6 at once
    }

The kernel reads past IPv6 extension headers to the protocol after them,
so no IPv6 packet has protocol 0 (hop-by-hop options), 43 (routing), 44
(fragment) or 60 (destination options): `family ipv6 proto 0` matches
nothing either.

Fix: remove the match that is wrong, or split the rule in two, one per
protocol or address family.
";

const UNREACHABLE_CHAIN_TEXT: &str = "\
unreachable-chain (E0304, warning)

A regular chain (one without `hook`) only runs when a rule sends packets to
it with `jump` or `goto`. This chain is not reached from any base chain of
its table, directly or through other chains, so none of its rules ever run.

    table filter {
      chain input hook input policy drop {
        tcp dport 22 accept
      }
      chain audit {                # unreachable: nothing jumps here
        log prefix \"audit: \"
      }
    }

Every `jump` and `goto` rule counts as a way in, even one that can never
match (that rule gets its own finding).

Fix: add a rule such as `saddr 203.0.113.0/24 jump audit` to a base chain,
or remove the chain.
";

const JUMP_CYCLE_TEXT: &str = "\
jump-cycle (E0305, error)

Chains that jump (or go) into each other in a loop: a packet that follows the
loop never comes back. The kernel refuses such a ruleset when loading it.
The finding labels every jump of the loop.

    table filter {
      chain input hook input policy drop { jump a }
      chain a { tcp dport 22 jump b }
      chain b { jump a }              # a -> b -> a
    }

Fix: break the loop. Remove one of the labelled jumps, or move the rules of
the chain it targets into the chain that jumps.
";

const ANALYSIS_BUDGET_TEXT: &str = "\
analysis-budget (E0306, info)

The analysis is exact: to decide whether a rule is reached, it subtracts the
rules before it from the rule's match space, piece by piece. For a few rules
(many overlapping address and port ranges before them) the pieces can grow
past a budget of 10,000. The analysis then stops for that rule rather than
guess, and says so with this finding: the rule was not checked, so it may be
shadowed or redundant without a finding saying it.

The same budget holds for what a regular chain decides: when it runs out
there, the finding points at the rule of that chain where it stopped, and
`jump`s to the chain are taken as deciding nothing (which can only hide a
finding, never make a false one).

A second budget holds for the whole policy, so that `check` stays bounded
whatever it is given: a count of work (about one unit per interval of a
cube compared) that grows with the number of rules, so the work grows no
faster than the policy. Realistic policies use a small part of it. Rules that overlap each other in many ways at once
(thousands of rules with several `!=` matches each, say) can use it up;
the rules after that point (those whose check the rest of the budget cannot
pay for) get this finding, with the message `the analysis's work budget for
the whole policy ran out`. The rules before it were checked in full. It is
counted in work, never in time, so the same policy gets the same findings
on every machine. Unmatchable rules, jump cycles, unreachable chains and
chains nested too deep need no budget and are always reported.

The finding is information: it never changes the exit code.

Fix: nothing is wrong with the policy. Splitting a long chain into chains
reached by `jump`, by address or port, keeps each check small.
";

const CHAIN_TOO_DEEP_TEXT: &str = "\
chain-too-deep (E0307, error)

The kernel keeps a packet's way through the chains on a stack 16 deep: a
base chain and at most 15 chains below it, each reached with `jump` or
`goto` from the one above. It checks every path of jumps and gotos when it
loads a ruleset, whether their rules can match a packet or not, and refuses
the whole ruleset when one goes deeper. The finding labels the jump or goto
that goes past the limit.

    table filter {
      chain input hook input policy drop { jump c1 }
      chain c1 { jump c2 }
      ...
      chain c15 { jump c16 }          # the 17th chain of the path
      chain c16 { accept }
    }

The other findings of the table wait until this one is fixed: the policy
cannot be loaded as it is.

Fix: flatten the path. Move the rules of a chain into the chain that jumps
to it, or jump to it from a chain higher up.
";
