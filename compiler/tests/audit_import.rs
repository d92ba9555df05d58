//! The importers on rulesets cut short or damaged, as a failed copy, a full
//! disk or an attacker leaves them: never a panic, and a cut
//! `iptables-save` file imports only where it ends right after a `COMMIT`
//! (anywhere else its last rule may read as another rule).

use proptest::prelude::*;
use shriek_compiler::import::{import, Format, Input};

fn ruleset(name: &str) -> String {
    let path = shriek_testkit::root().join("shriekc/tests/import").join(name);
    std::fs::read_to_string(&path).expect("a sample ruleset")
}

fn import_one(text: &str, format: Format) -> bool {
    let input = Input { name: "cut".into(), text: text.into(), family: None };
    import(&[input], format).is_ok()
}

/// Where a cut of `text` may still import: after its last `COMMIT` line,
/// with only comments and blank lines after it.
fn ends_committed(text: &str) -> bool {
    let last = text.lines().map(str::trim).rfind(|l| !l.is_empty() && !l.starts_with('#'));
    last.is_none_or(|l| l == "COMMIT")
}

#[test]
fn an_iptables_save_file_cut_anywhere_imports_only_after_a_commit() {
    let full = ruleset("server.rules");
    assert!(import_one(&full, Format::IptablesSave));
    let mut refused = 0;
    // Every fifth byte, and every line's end.
    let ends = full.match_indices('\n').map(|(i, _)| i + 1);
    for at in (0..full.len()).step_by(5).chain(ends).filter(|&i| full.is_char_boundary(i)) {
        let cut = &full[..at];
        let ok = import_one(cut, Format::IptablesSave);
        if ok || cut.contains("COMMIT") {
            assert_eq!(ok, ends_committed(cut), "cut at byte {at}, in {:?}", cut.lines().last());
        }
        refused += usize::from(!ok);
    }
    assert!(refused > full.len() / 10, "{refused} cuts refused");
}

#[test]
fn nft_rulesets_cut_anywhere_never_panic() {
    let text = ruleset("router.nft");
    for (at, _) in text.char_indices().step_by(7) {
        import_one(&text[..at], Format::Nft);
    }
    let json = ruleset("router.json");
    for (at, _) in json.char_indices().step_by(11) {
        // Cut JSON is never a ruleset.
        assert!(!import_one(&json[..at], Format::NftJson), "cut at byte {at}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    /// Any byte of a sample replaced by a character that matters to a
    /// reader (a quote, a brace, a digit, a bang), or a line dropped or
    /// repeated: an import or an error, never a panic.
    #[test]
    fn damaged_rulesets_never_panic(
        which in 0..3usize,
        edits in prop::collection::vec((any::<prop::sample::Index>(), 0..10usize), 1..6),
    ) {
        let (name, format) = [
            ("server.rules", Format::IptablesSave),
            ("router.nft", Format::Nft),
            ("router.json", Format::NftJson),
        ][which];
        let mut text = ruleset(name);
        for (at, what) in edits {
            if text.is_empty() {
                break;
            }
            let at = at.index(text.len());
            let at = (0..=at).rev().find(|&i| text.is_char_boundary(i)).unwrap_or(0);
            let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
            let line_end = text[at..].find('\n').map_or(text.len(), |i| at + i + 1);
            match what {
                0 => text.replace_range(line_start..line_end, ""),
                1 => {
                    let line = text[line_start..line_end].to_string();
                    text.insert_str(line_start, &line);
                }
                k => {
                    let c = ["\"", "{", "}", "9", "!", "-", "[", "/", ","][k - 2];
                    let end = text[at..].chars().next().map_or(at, |c| at + c.len_utf8());
                    text.replace_range(at..end, c);
                }
            }
        }
        import_one(&text, format);
    }
}
