//! parse -> resolve -> analysis -> every lowering -> nft text, and rendering
//! the diagnostics: never a panic, whatever the text.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shriek_compiler::lower::{lower, Strategy};
use shriek_compiler::{analysis, emit, render, resolve};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let fe = resolve::resolve_str("fuzz.shr", text);
    let mut diags = fe.diagnostics.clone();
    if let Some(policy) = &fe.policy {
        diags.extend(analysis::analyze(policy));
        for strategy in Strategy::ALL {
            let lowered = lower(policy, strategy);
            let _ = emit::emit_nft(&lowered.ruleset, &fe.sources);
        }
    }
    let _ = render::render_text(&diags, &fe.sources, false);
    let _ = render::render_json(&diags, &fe.sources);
});
