//! `shriekc import` of iptables-save text, nft text and nft JSON: never a
//! panic, whatever the text, and what it returns is a policy the compiler
//! takes (import's own promise: a rule the compiler refuses is left out).
#![no_main]

use libfuzzer_sys::fuzz_target;
use shriek_compiler::import::{self, Format, Input};
use shriek_compiler::resolve;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let inputs = [Input { name: "fuzz".into(), text: text.into(), family: None }];
    let _ = import::detect(text);
    for format in [Format::IptablesSave, Format::Nft, Format::NftJson] {
        match import::import(&inputs, format) {
            Ok(imported) => {
                let fe = resolve::resolve_str("imported.shr", &imported.policy);
                assert!(
                    fe.policy.is_some(),
                    "import returned a policy the compiler refuses:\n{}",
                    imported.policy
                );
                let _ = imported.summary.lines(format);
            }
            Err(e) => {
                let _ = e.describe(&inputs);
            }
        }
    }
});
