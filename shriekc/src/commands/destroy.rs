//! `shriekc destroy`: remove every table a policy made.

use shriek_grammar::SourceMap;

use super::plan::policy_key;
use super::{print_out, runtime_failure, OK};

/// Removes the tables whose marker names the policy in `file`. The file
/// need not parse, or even exist any more: its path names the policy.
pub fn destroy(file: &str, netns: Option<&str>) -> u8 {
    let key = policy_key(file);
    match shriek_runtime::destroy(&key, netns) {
        Ok(names) if names.is_empty() => {
            print_out(&format!("no tables made by `{key}`: nothing to remove"));
            OK
        }
        Ok(names) => {
            let list: Vec<String> = names.iter().map(|n| format!("table inet {n}")).collect();
            print_out(&format!("removed {}", list.join(", ")));
            OK
        }
        Err(err) => runtime_failure(&err, &SourceMap::default()),
    }
}
