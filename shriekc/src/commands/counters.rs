//! `shriekc counters`: read and reset a policy's named counters.

use super::{front, print_out, runtime_failure_doing, Doing, INVALID, OK};
use crate::CounterFormat;

pub fn counters(file: &str, reset: bool, format: CounterFormat, netns: Option<&str>) -> u8 {
    let Ok((frontend, policy)) = front(file) else { return INVALID };
    let wanted: Vec<(String, String)> = policy
        .tables
        .iter()
        .flat_map(|t| t.counters.iter().map(|c| (t.name.clone(), c.name.clone())))
        .collect();
    if wanted.is_empty() {
        eprintln!("note: `{file}` names no counters (add `counter NAME` to a rule)");
    }
    let values = match shriek_runtime::read_counters(&wanted, reset, netns) {
        Ok(values) => values,
        Err(err) => {
            let doing = if reset { Doing::ResettingCounters } else { Doing::ReadingCounters };
            return runtime_failure_doing(&err, &frontend.sources, doing);
        }
    };
    let text = match format {
        CounterFormat::Json => {
            let counters: Vec<_> = values
                .iter()
                .map(|c| {
                    serde_json::json!({"table": c.table, "name": c.name, "packets": c.packets, "bytes": c.bytes})
                })
                .collect();
            let doc = serde_json::json!({ "counters": counters, "reset": reset });
            serde_json::to_string_pretty(&doc).expect("json values always serialize")
        }
        CounterFormat::Text => {
            let width = values.iter().map(|c| c.name.len()).max().unwrap_or(4).max(4);
            let mut out = format!("{:<width$}  {:>12}  {:>14}\n", "NAME", "PACKETS", "BYTES");
            for c in &values {
                out.push_str(&format!("{:<width$}  {:>12}  {:>14}\n", c.name, c.packets, c.bytes));
            }
            if reset {
                out.push_str("(counters reset to zero)\n");
            }
            out
        }
    };
    print_out(&text);
    OK
}
