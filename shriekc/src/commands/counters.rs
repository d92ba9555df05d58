//! `shriekc counters`: read and reset a policy's named counters, all of
//! them or only the ones named.

use shriek_runtime::CounterValue;

use super::{front, print_out, print_shown, runtime_failure_doing, Doing, INVALID, OK};
use crate::CounterFormat;

pub fn counters(
    file: &str,
    names: &[String],
    reset: bool,
    format: CounterFormat,
    netns: Option<&str>,
) -> u8 {
    let Ok((frontend, policy)) = front(file) else { return INVALID };
    let all: Vec<(String, String)> = policy
        .tables
        .iter()
        .flat_map(|t| t.counters.iter().map(|c| (t.name.clone(), c.name.clone())))
        .collect();
    // A name may be `NAME` (in every table that has it) or `TABLE/NAME`.
    let picks = |(table, name): &(String, String), n: &str| {
        n == name || n.split_once('/').is_some_and(|(t, c)| t == table && c == name)
    };
    let unknown: Vec<&String> = names.iter().filter(|n| !all.iter().any(|c| picks(c, n))).collect();
    if !unknown.is_empty() {
        for n in unknown {
            eprintln!(
                "error: `{}` has no counter `{}`",
                shriek_grammar::visible(file),
                shriek_grammar::visible(n)
            );
        }
        let known: Vec<String> = all.iter().map(|(t, n)| format!("{t}/{n}")).collect();
        if known.is_empty() {
            eprintln!("help: the policy names no counters (add `counter NAME` to a rule)");
        } else {
            eprintln!("help: its counters are {}", known.join(", "));
        }
        return INVALID;
    }
    let wanted: Vec<(String, String)> = if names.is_empty() {
        all
    } else {
        all.into_iter().filter(|c| names.iter().any(|n| picks(c, n))).collect()
    };
    if wanted.is_empty() {
        eprintln!(
            "note: `{}` names no counters (add `counter NAME` to a rule)",
            shriek_grammar::visible(file)
        );
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
            let doc = serde_json::json!({ "counters": json_values(&values), "reset": reset });
            serde_json::to_string_pretty(&doc).expect("json values always serialize")
        }
        CounterFormat::Text => {
            let mut out = table_text(&values);
            if reset {
                out.push_str("(counters reset to zero)\n");
            }
            out
        }
    };
    match format {
        CounterFormat::Json => print_out(&text),
        CounterFormat::Text => print_shown(&text),
    }
    OK
}

/// The named counters as JSON objects (docs/json.md).
pub(crate) fn json_values(values: &[CounterValue]) -> Vec<serde_json::Value> {
    values
        .iter()
        .map(|c| {
            serde_json::json!({"table": c.table, "name": c.name, "packets": c.packets, "bytes": c.bytes})
        })
        .collect()
}

/// `TABLE  NAME  PACKETS  BYTES`, one counter a line.
pub(crate) fn table_text(values: &[CounterValue]) -> String {
    let tw = values.iter().map(|c| c.table.len()).max().unwrap_or(5).max(5);
    let nw = values.iter().map(|c| c.name.len()).max().unwrap_or(4).max(4);
    let mut out =
        format!("{:<tw$}  {:<nw$}  {:>12}  {:>14}\n", "TABLE", "NAME", "PACKETS", "BYTES");
    for c in values {
        out.push_str(&format!(
            "{:<tw$}  {:<nw$}  {:>12}  {:>14}\n",
            c.table, c.name, c.packets, c.bytes
        ));
    }
    out
}
