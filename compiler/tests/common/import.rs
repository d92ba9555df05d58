//! What the `import` tests share: an input named `rules`, and the lines
//! of one chain in the policy an import writes.

use shriek_compiler::import::Input;

pub fn input(text: &str) -> Input {
    Input { name: "rules".into(), text: text.into(), family: None }
}

/// The lines of chain `chain` of table `table` in the policy, without
/// indentation.
pub fn chain_lines(policy: &str, table: &str, chain: &str) -> String {
    let mut out = Vec::new();
    let mut in_table = false;
    let mut in_chain = false;
    for line in policy.lines() {
        let t = line.trim();
        if line.starts_with("table ") {
            in_table = t.starts_with(&format!("table {table} "));
        } else if in_table && t.starts_with(&format!("chain {chain} ")) {
            in_chain = true;
        } else if in_chain && t == "}" {
            break;
        } else if in_chain {
            out.push(t.to_string());
        }
    }
    out.join("\n")
}
