//! `docs/diagnostics.md` is rendered from the diagnostic catalogues: each
//! phase's table sits between `<!-- catalogue EXX -->` markers and must be
//! exactly what its catalogue says. After changing a catalogue, run
//! `SHRIEK_BLESS=1 cargo test -p shriekc --test diagnostics_doc` and review
//! the change to the doc.
//!
//! Also here: the laws every catalogue keeps (unique codes and names, a
//! summary for each), and that no source file outside a catalogue spells a
//! code as a string literal.

use std::collections::HashSet;
use std::path::Path;

use shriek_grammar::Catalogue;

/// Every catalogue, in code order. A phase that gets one adds one line here,
/// and a `<!-- catalogue EXX -->` section to the doc (blessing writes its table).
fn catalogues() -> Vec<Catalogue> {
    vec![
        shriek_grammar::codes::CATALOGUE,
        shriek_compiler::resolve::codes::CATALOGUE,
        shriek_compiler::analysis::codes::CATALOGUE,
        shriek_runtime::codes::CATALOGUE,
    ]
}

fn doc_path() -> std::path::PathBuf {
    shriek_testkit::root().join("docs/diagnostics.md")
}

fn begin(c: &Catalogue) -> String {
    format!("<!-- catalogue {} -->", c.prefix)
}

fn end(c: &Catalogue) -> String {
    format!("<!-- end catalogue {} -->", c.prefix)
}

/// One catalogue's section of the doc, markers included.
fn section(c: &Catalogue) -> String {
    let mut out = format!("{}\n## {} ({}xx, `{}`)\n\n", begin(c), c.title, c.prefix, c.home);
    out += "| code | name | severity | meaning |\n|---|---|---|---|\n";
    for code in c.codes {
        out += &format!(
            "| {} | `{}` | {} | {} |\n",
            code.code,
            code.name,
            code.severity.as_str(),
            code.summary.replace('|', "\\|")
        );
    }
    out + &end(c)
}

/// The doc with every catalogue's section rendered afresh.
fn rendered(doc: &str, catalogues: &[Catalogue]) -> Result<String, String> {
    let mut out = doc.to_string();
    for c in catalogues {
        let (b, e) = (begin(c), end(c));
        let start = out.find(&b).ok_or_else(|| {
            format!("docs/diagnostics.md has no `{b}` section; add `{b}` and `{e}` lines where it belongs, then bless")
        })?;
        let stop = out[start..]
            .find(&e)
            .map(|i| start + i + e.len())
            .ok_or_else(|| format!("docs/diagnostics.md opens `{b}` but never has `{e}`"))?;
        out.replace_range(start..stop, &section(c));
    }
    Ok(out)
}

#[test]
fn diagnostics_doc_matches_the_catalogues() {
    let catalogues = catalogues();
    let doc = std::fs::read_to_string(doc_path()).expect("docs/diagnostics.md");
    let want = rendered(&doc, &catalogues).unwrap_or_else(|e| panic!("{e}"));
    if want == doc {
        return;
    }
    if std::env::var_os("SHRIEK_BLESS").is_some() {
        std::fs::write(doc_path(), &want).expect("write docs/diagnostics.md");
        return;
    }
    let diff = similar::TextDiff::from_lines(&doc, &want)
        .unified_diff()
        .header("docs/diagnostics.md", "from the catalogues")
        .to_string();
    panic!(
        "docs/diagnostics.md differs from the diagnostic catalogues; run \
         `SHRIEK_BLESS=1 cargo test -p shriekc --test diagnostics_doc` and review:\n{diff}"
    );
}

#[test]
fn no_catalogued_code_is_documented_twice() {
    let catalogues = catalogues();
    let doc = std::fs::read_to_string(doc_path()).expect("docs/diagnostics.md");
    // Outside the generated sections, no table row may describe a catalogued code.
    let mut outside = doc.clone();
    for c in &catalogues {
        if let (Some(s), Some(e)) = (outside.find(&begin(c)), outside.find(&end(c))) {
            outside.replace_range(s..e, "");
        }
    }
    for c in &catalogues {
        for code in c.codes {
            assert!(
                !outside.contains(&format!("| {} |", code.code)),
                "{} is described outside its generated section",
                code.code
            );
        }
    }
}

#[test]
fn every_code_is_unique_and_documented() {
    let mut codes = HashSet::new();
    let mut names = HashSet::new();
    for c in catalogues() {
        let mut last = "";
        for code in c.codes {
            assert!(code.code.starts_with(c.prefix), "{} is not in {}xx", code.code, c.prefix);
            assert!(code.code > last, "{} is out of order in {}xx", code.code, c.prefix);
            last = code.code;
            assert!(codes.insert(code.code), "code {} is declared twice", code.code);
            assert!(names.insert(code.name), "name {} is declared twice", code.name);
            assert!(
                code.name.starts_with(|ch: char| ch.is_ascii_lowercase())
                    && code
                        .name
                        .chars()
                        .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '-'),
                "{} is not kebab-case",
                code.name
            );
            let summary = code.summary.trim();
            assert!(!summary.is_empty(), "{} has no summary", code.code);
            assert!(
                !summary.ends_with('.') && !summary.starts_with(|ch: char| ch.is_uppercase()),
                "{}: summaries are lowercase without a final period: {summary:?}",
                code.code
            );
        }
    }
}

/// Every phase has a catalogue, and every diagnostic is built from one of
/// its constants: a `"E0..."` literal in any crate's source, outside a
/// catalogue file, is a second spelling of a code.
#[test]
fn no_code_is_spelt_as_a_string() {
    let root = shriek_testkit::root();
    let mut files = Vec::new();
    for krate in ["grammar", "compiler", "runtime", "shriekc", "testkit"] {
        collect_rs(&root.join(krate).join("src"), &mut files);
    }
    collect_rs(&root.join("runtime/src"), &mut files);
    let mut offenders = Vec::new();
    for file in files {
        if file.file_name().is_some_and(|n| n == "codes.rs") {
            continue;
        }
        let text = std::fs::read_to_string(&file).expect("source file");
        for (i, line) in text.lines().enumerate() {
            // Comments may show a code; code may not spell one.
            if line.contains("\"E0") && !line.trim_start().starts_with("//") {
                offenders.push(format!("{}:{}: {}", file.display(), i + 1, line.trim()));
            }
        }
    }
    assert!(offenders.is_empty(), "use the catalogue's constants:\n{}", offenders.join("\n"));
}

fn collect_rs(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("source folder").flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect_rs(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}
