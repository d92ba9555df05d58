//! The parser on any bytes: never a panic, every span inside the text, and
//! formatting a file without errors gives one that parses to the same tree.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let (file, diags) = shriek_grammar::parse(text);
    for d in &diags {
        assert!(d.span.start <= d.span.end && d.span.end as usize <= text.len(), "{d:?}");
        assert!(text.is_char_boundary(d.span.start as usize), "{d:?}");
        assert!(text.is_char_boundary(d.span.end as usize), "{d:?}");
    }
    if diags.is_empty() {
        let formatted = shriek_grammar::fmt::format(&file, text);
        let (again, errors) = shriek_grammar::parse(&formatted);
        assert!(errors.is_empty(), "formatted text has errors: {errors:?}\n{formatted}");
        assert!(again == file, "formatting changed the tree:\n{formatted}");
    }
});
