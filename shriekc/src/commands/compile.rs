//! `shriekc compile`: print the nftables ruleset a policy lowers to.

use shriek_compiler::emit;
use shriek_compiler::lower::{self, Strategy};

use super::{front, print_out, INVALID, OK};
use crate::Emit;

pub fn compile(file: &str, strategy: Strategy, emit: Emit, explain: bool) -> u8 {
    let Ok((frontend, policy)) = front(file) else { return INVALID };
    let lowered = lower::lower(&policy, strategy);
    let text = match emit {
        Emit::Nft => emit::emit_nft(&lowered.ruleset, &frontend.sources),
        Emit::Json => emit::emit_json(&lowered.ruleset, &frontend.sources),
    };
    print_out(&text);
    if explain {
        for line in &lowered.explain {
            eprintln!(
                "{}: {}.{}: {}",
                frontend.sources.describe(line.loc),
                line.table,
                line.chain,
                line.text
            );
        }
    }
    OK
}
