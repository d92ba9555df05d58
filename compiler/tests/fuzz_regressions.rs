//! Every input kept in `fuzz/regressions/` (each one something the fuzzers
//! found, once fixed) goes through what the fuzz targets do: parse, format,
//! resolve, analyse, every lowering, emitting and rendering, without a panic.

use shriek_compiler::lower::{lower, Strategy};
use shriek_compiler::{analysis, emit, render, resolve};

#[test]
fn fuzz_findings_stay_fixed() {
    let dir = shriek_testkit::root().join("fuzz/regressions");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).expect("fuzz/regressions").flatten() {
        let path = entry.path();
        let Ok(text) = std::fs::read_to_string(&path) else { continue };
        seen += 1;
        let (file, diags) = shriek_grammar::parse(&text);
        if diags.is_empty() {
            let formatted = shriek_grammar::fmt::format(&file, &text);
            let (again, errors) = shriek_grammar::parse(&formatted);
            assert!(errors.is_empty() && again == file, "{}: fmt changed it", path.display());
        }
        let fe = resolve::resolve_str("fuzz.shr", &text);
        let mut all = fe.diagnostics.clone();
        if let Some(policy) = &fe.policy {
            all.extend(analysis::analyze(policy));
            for strategy in Strategy::ALL {
                let _ = emit::emit_nft(&lower(policy, strategy).ruleset, &fe.sources);
            }
        }
        let _ = render::render_text(&all, &fe.sources, false);
        let _ = render::render_json(&all, &fe.sources);
    }
    assert!(seen > 0, "no inputs in {}", dir.display());
}
