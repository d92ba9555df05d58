//! `shriekc trace`: follow one packet through a policy.

use shriek_compiler::emit::{trace_model_text, trace_text};
use shriek_compiler::lower::{self, Strategy};
use shriek_compiler::{ir, packet};

use super::{front, print_out, INVALID, OK};

pub fn trace(file: &str, spec: &str, strategy: Option<Strategy>) -> u8 {
    let Ok((frontend, policy)) = front(file) else { return INVALID };
    let (packet, hook) = match packet::parse_packet(spec) {
        Ok(parsed) => parsed,
        Err(message) => {
            eprintln!("error: cannot read the packet `{spec}`: {message}");
            return INVALID;
        }
    };
    let hook = hook.unwrap_or(ir::Hook::Input);
    let text = match strategy {
        None => trace_text(&policy, &frontend.sources, &packet, hook),
        Some(strategy) => {
            let lowered = lower::lower(&policy, strategy);
            trace_model_text(&lowered.ruleset, &frontend.sources, &packet, hook)
        }
    };
    print_out(&text);
    OK
}
