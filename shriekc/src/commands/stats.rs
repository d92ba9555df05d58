//! `shriekc stats`: every rule's packets and bytes, by source line, as
//! `iptables -L -v -n -x` shows them; `--reset` zeroes them as `-Z` does;
//! `--watch` refreshes with per-second rates. Text, JSON (docs/json.md) or
//! the Prometheus text exposition format. Balanced translations show their
//! connections, packets and bytes per backend, each way, as `ipvsadm -Ln
//! --stats` does.

use std::cell::OnceCell;
use std::collections::{BTreeMap, HashMap};
use std::io::IsTerminal;
use std::time::{Duration, Instant};

use shriek_compiler::ir::{self, RuleId};
use shriek_compiler::lower::{self, Strategy};
use shriek_compiler::{emit, nft};
use shriek_grammar::SourceMap;
use shriek_runtime::{BackendCount, Count, CounterValue, Traffic};

use super::{front, print_out, runtime_failure_doing, Doing, INVALID, OK};
use crate::StatsFormat;

/// One source rule, as every format shows it.
struct Row {
    file: String,
    line: usize,
    table: String,
    chain: String,
    /// The rule as nft runs it, one rule at a time (`emit::rule_text`).
    rule: String,
    /// `None` when the rule has no counter (per-rule counters off).
    count: Option<Count>,
}

/// One backend of a balanced translation, as every format shows it.
struct Backend {
    file: String,
    line: usize,
    table: String,
    chain: String,
    /// `A`, `A:P` or `[A6]:P`.
    backend: String,
    /// `None` when the live map does not count.
    connections: Option<u64>,
    /// `None` when not counted, or `shared`.
    traffic: Option<Traffic>,
    /// Another translation of the policy sends to this backend too.
    shared: bool,
}

pub fn stats(
    file: &str,
    reset: bool,
    format: StatsFormat,
    watch: Option<u64>,
    netns: Option<&str>,
) -> u8 {
    let Ok((frontend, policy)) = front(file) else { return INVALID };
    let sequential = lower::lower(&policy, Strategy::Sequential).ruleset;
    let texts = rule_texts(&sequential);
    let names: Vec<String> = sequential.tables.iter().map(|t| t.name.clone()).collect();
    // The live tables are matched against the lowering with the strategy
    // they record, so stats needs no `--strategy` of its own. Each
    // strategy is lowered at most once, when a read first asks for it.
    let lowered: [(Strategy, OnceCell<nft::Ruleset>); 3] =
        Strategy::ALL.map(|s| (s, OnceCell::new()));
    let lowered = &lowered;
    let policy = &policy;
    let lower = |s: Strategy| -> &nft::Ruleset {
        let (_, cell) = lowered.iter().find(|(k, _)| *k == s).expect("every strategy has a cell");
        cell.get_or_init(|| lower::lower(policy, s).ruleset)
    };
    let read = |reset: bool| {
        shriek_runtime::read_stats(&names, lower, reset, netns).map_err(|err| {
            let doing = if reset { Doing::ResettingCounters } else { Doing::ReadingCounters };
            runtime_failure_doing(&err, &frontend.sources, doing)
        })
    };
    let Some(seconds) = watch else {
        let stats = match read(reset) {
            Ok(s) => s,
            Err(code) => return code,
        };
        let rows = rows(policy, &stats.rules, &texts, &frontend.sources);
        let backends = backends(policy, &stats.backends, &frontend.sources);
        let text = match format {
            StatsFormat::Text => {
                shriek_grammar::visible(&text(&rows, &backends, &stats.counters, reset))
                    .into_owned()
            }
            StatsFormat::Json => json(&rows, &backends, &stats.counters, reset),
            StatsFormat::Prometheus => prometheus(&rows, &backends, &stats.counters),
        };
        print_out(&text);
        return OK;
    };
    let tty = std::io::stdout().is_terminal();
    let mut last: Option<(Instant, Vec<Row>, Vec<Backend>)> = None;
    loop {
        let stats = match read(false) {
            Ok(s) => s,
            Err(code) => return code,
        };
        let now = Instant::now();
        let rows = rows(policy, &stats.rules, &texts, &frontend.sources);
        let backends = backends(policy, &stats.backends, &frontend.sources);
        let mut out = String::new();
        if tty {
            // Clear the screen and go home, as `watch` does.
            out.push_str("\x1b[2J\x1b[H");
        }
        let before = last.as_ref().map(|(t, r, b)| (now - *t, r.as_slice(), b.as_slice()));
        out.push_str(&shriek_grammar::visible(&watch_text(&rows, &backends, before)));
        print_out(&out);
        last = Some((now, rows, backends));
        std::thread::sleep(Duration::from_secs(seconds));
    }
}

/// Each rule's nft text as `sequential` lowers it (`sequential`), `; `
/// between the nft rules of a rule that needs several.
fn rule_texts(sequential: &nft::Ruleset) -> HashMap<RuleId, String> {
    let mut out: HashMap<RuleId, Vec<String>> = HashMap::new();
    for t in &sequential.tables {
        for c in &t.chains {
            for r in &c.rules {
                if let [o] = r.origin.as_slice() {
                    out.entry(o.rule).or_default().push(emit::rule_text(r));
                }
            }
        }
    }
    out.into_iter().map(|(k, v)| (k, v.join("; "))).collect()
}

fn rows(
    policy: &ir::Policy,
    counts: &HashMap<RuleId, Count>,
    texts: &HashMap<RuleId, String>,
    sources: &SourceMap,
) -> Vec<Row> {
    let mut out = Vec::new();
    for t in &policy.tables {
        for c in &t.chains {
            for r in &c.rules {
                let (file, line) = emit::file_line(r.loc, sources).unwrap_or(("?", 0));
                out.push(Row {
                    file: file.to_string(),
                    line,
                    table: t.name.clone(),
                    chain: c.name.clone(),
                    rule: texts.get(&r.id).cloned().unwrap_or_default(),
                    count: counts.get(&r.id).copied(),
                });
            }
        }
    }
    out
}

/// Each balanced translation's backends, in policy order, with the place
/// of the rule they belong to.
fn backends(policy: &ir::Policy, counts: &[BackendCount], sources: &SourceMap) -> Vec<Backend> {
    let mut out = Vec::new();
    for t in &policy.tables {
        for c in &t.chains {
            for r in &c.rules {
                let (file, line) = emit::file_line(r.loc, sources).unwrap_or(("?", 0));
                for b in counts.iter().filter(|b| b.rule == r.id) {
                    let backend = match (b.addr, b.port) {
                        (std::net::IpAddr::V6(a), Some(p)) => format!("[{a}]:{p}"),
                        (a, Some(p)) => format!("{a}:{p}"),
                        (a, None) => a.to_string(),
                    };
                    out.push(Backend {
                        file: file.to_string(),
                        line,
                        table: t.name.clone(),
                        chain: c.name.clone(),
                        backend,
                        connections: b.connections,
                        traffic: b.traffic,
                        shared: b.shared,
                    });
                }
            }
        }
    }
    out
}

/// Like `iptables -L -v -n -x`: per table and chain, every rule with its
/// exact packets and bytes (zeros shown), its place and its text; then,
/// like `ipvsadm -Ln --stats`, each balanced backend's connections.
fn text(rows: &[Row], backends: &[Backend], counters: &[CounterValue], reset: bool) -> String {
    let place = |r: &Row| format!("{}:{}", r.file, r.line);
    let pw = rows.iter().map(|r| num(r.count.map(|c| c.packets)).len()).max().unwrap_or(0).max(7);
    let bw = rows.iter().map(|r| num(r.count.map(|c| c.bytes)).len()).max().unwrap_or(0).max(5);
    let lw = rows.iter().map(|r| place(r).len()).max().unwrap_or(0).max(5);
    let mut out = String::new();
    let mut at: Option<(&str, &str)> = None;
    for r in rows {
        if at != Some((&r.table, &r.chain)) {
            if at.is_some() {
                out.push('\n');
            }
            out.push_str(&format!("table {} chain {}\n", r.table, r.chain));
            out.push_str(&format!("{:>pw$} {:>bw$}  {:<lw$}  RULE\n", "PACKETS", "BYTES", "WHERE"));
            at = Some((&r.table, &r.chain));
        }
        out.push_str(&format!(
            "{:>pw$} {:>bw$}  {:<lw$}  {}\n",
            num(r.count.map(|c| c.packets)),
            num(r.count.map(|c| c.bytes)),
            place(r),
            r.rule
        ));
    }
    out.push_str(&backends_text(backends));
    if !counters.is_empty() {
        out.push('\n');
        out.push_str(&super::counters::table_text(counters));
    }
    if reset {
        out.push_str("(counters reset to zero; the values above are the ones zeroed)\n");
    }
    out
}

/// Like `ipvsadm -Ln --stats`: each balanced backend's connections, and
/// its packets and bytes from clients (`IN`) and back to them (`OUT`).
fn backends_text(backends: &[Backend]) -> String {
    if backends.is_empty() {
        return String::new();
    }
    const HEAD: [&str; 7] =
        ["CONNS", "INPKTS", "OUTPKTS", "INBYTES", "OUTBYTES", "WHERE", "TABLE/CHAIN"];
    let cells: Vec<[String; 7]> = backends
        .iter()
        .map(|b| {
            let t = b.traffic;
            [
                num(b.connections),
                num(t.map(|t| t.inbound.packets)),
                num(t.map(|t| t.outbound.packets)),
                num(t.map(|t| t.inbound.bytes)),
                num(t.map(|t| t.outbound.bytes)),
                format!("{}:{}", b.file, b.line),
                format!("{}/{}", b.table, b.chain),
            ]
        })
        .collect();
    let w: Vec<usize> = (0..HEAD.len())
        .map(|i| cells.iter().map(|c| c[i].len()).max().unwrap_or(0).max(HEAD[i].len()))
        .collect();
    let line = |c: [&str; 7], backend: &str| {
        format!(
            "{:>w0$} {:>w1$} {:>w2$} {:>w3$} {:>w4$}  {:<w5$}  {:<w6$}  {backend}\n",
            c[0],
            c[1],
            c[2],
            c[3],
            c[4],
            c[5],
            c[6],
            w0 = w[0],
            w1 = w[1],
            w2 = w[2],
            w3 = w[3],
            w4 = w[4],
            w5 = w[5],
            w6 = w[6],
        )
    };
    let mut out = String::from("\nbalanced translations: per backend, like ipvsadm -Ln --stats\n");
    out.push_str(&line(HEAD, "BACKEND"));
    for (c, b) in cells.iter().zip(backends) {
        out.push_str(&line(c.each_ref().map(String::as_str), &b.backend));
    }
    if backends.iter().any(|b| b.shared) {
        out.push_str(
            "(a backend another translation also sends to shows `-` for its traffic: \
             the kernel counts the backend's packets once, for all of them)\n",
        );
    }
    out
}

fn num(v: Option<u64>) -> String {
    v.map_or("-".to_string(), |v| v.to_string())
}

/// The contract in docs/json.md: one entry per source rule, one per
/// balanced backend.
fn json(rows: &[Row], backends: &[Backend], counters: &[CounterValue], reset: bool) -> String {
    let rules: Vec<_> = rows
        .iter()
        .map(|r| {
            serde_json::json!({
                "file": r.file,
                "line": r.line,
                "table": r.table,
                "chain": r.chain,
                "rule": r.rule,
                "packets": r.count.map(|c| c.packets),
                "bytes": r.count.map(|c| c.bytes),
            })
        })
        .collect();
    let backends: Vec<_> = backends
        .iter()
        .map(|b| {
            serde_json::json!({
                "file": b.file,
                "line": b.line,
                "table": b.table,
                "chain": b.chain,
                "backend": b.backend,
                "connections": b.connections,
                "in_packets": b.traffic.map(|t| t.inbound.packets),
                "in_bytes": b.traffic.map(|t| t.inbound.bytes),
                "out_packets": b.traffic.map(|t| t.outbound.packets),
                "out_bytes": b.traffic.map(|t| t.outbound.bytes),
                "shared": b.shared,
            })
        })
        .collect();
    let doc = serde_json::json!({
        "rules": rules,
        "backends": backends,
        "counters": super::counters::json_values(counters),
        "reset": reset,
    });
    serde_json::to_string_pretty(&doc).expect("json values always serialize")
}

/// The Prometheus text exposition format (version 0.0.4), for
/// node_exporter's textfile collector. Rules without a counter are left
/// out; rules written on one line share their series (summed), since a
/// series is named by table, chain, file and line.
fn prometheus(rows: &[Row], backends: &[Backend], counters: &[CounterValue]) -> String {
    let mut series: BTreeMap<(String, String, String, usize), Count> = BTreeMap::new();
    for r in rows {
        if let Some(c) = r.count {
            *series
                .entry((r.table.clone(), r.chain.clone(), r.file.clone(), r.line))
                .or_default() += c;
        }
    }
    let mut out = String::new();
    let family = |out: &mut String, name: &str, help: &str| {
        out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} counter\n"));
    };
    for (name, help, bytes) in [
        ("shriek_rule_packets_total", "Packets matched by each policy rule.", false),
        ("shriek_rule_bytes_total", "Bytes matched by each policy rule.", true),
    ] {
        family(&mut out, name, help);
        for ((table, chain, file, line), c) in &series {
            out.push_str(&format!(
                "{name}{{table=\"{}\",chain=\"{}\",file=\"{}\",line=\"{line}\"}} {}\n",
                label(table),
                label(chain),
                label(file),
                if bytes { c.bytes } else { c.packets }
            ));
        }
    }
    let backend_labels = |b: &Backend| {
        format!(
            "table=\"{}\",chain=\"{}\",file=\"{}\",line=\"{}\",backend=\"{}\"",
            label(&b.table),
            label(&b.chain),
            label(&b.file),
            b.line,
            label(&b.backend)
        )
    };
    let name = "shriek_backend_connections_total";
    family(&mut out, name, "New connections each balanced translation gave each backend.");
    for b in backends {
        if let Some(n) = b.connections {
            out.push_str(&format!("{name}{{{}}} {n}\n", backend_labels(b)));
        }
    }
    for (name, help, bytes) in [
        (
            "shriek_backend_packets_total",
            "Packets of each balanced backend's connections, to it (in) and from it (out).",
            false,
        ),
        (
            "shriek_backend_bytes_total",
            "Bytes of each balanced backend's connections, to it (in) and from it (out).",
            true,
        ),
    ] {
        family(&mut out, name, help);
        for b in backends {
            let Some(t) = b.traffic else { continue };
            for (direction, c) in [("in", t.inbound), ("out", t.outbound)] {
                out.push_str(&format!(
                    "{name}{{{},direction=\"{direction}\"}} {}\n",
                    backend_labels(b),
                    if bytes { c.bytes } else { c.packets }
                ));
            }
        }
    }
    for (name, help, bytes) in [
        ("shriek_counter_packets_total", "Packets counted by each named counter.", false),
        ("shriek_counter_bytes_total", "Bytes counted by each named counter.", true),
    ] {
        family(&mut out, name, help);
        for c in counters {
            out.push_str(&format!(
                "{name}{{table=\"{}\",name=\"{}\"}} {}\n",
                label(&c.table),
                label(&c.name),
                if bytes { c.bytes } else { c.packets }
            ));
        }
    }
    out
}

/// A label value as the exposition format escapes it.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// The rules ranked by packets per second since the last read, then each
/// balanced backend's connections, packets and bytes per second.
fn watch_text(
    rows: &[Row],
    backends: &[Backend],
    last: Option<(Duration, &[Row], &[Backend])>,
) -> String {
    const TOP: usize = 20;
    let Some((elapsed, before, backends_before)) = last else {
        let total: u64 = rows.iter().filter_map(|r| r.count).map(|c| c.packets).sum();
        return format!(
            "{} rules, {total} packets counted so far; rates from the next refresh\n",
            rows.len()
        );
    };
    let secs = elapsed.as_secs_f64().max(1e-3);
    let rate = |now: u64, then: u64| now.saturating_sub(then) as f64 / secs;
    let mut rates: Vec<(f64, f64, &Row)> = rows
        .iter()
        .zip(before)
        .filter_map(|(r, b)| {
            let (now, then) = (r.count?, b.count.unwrap_or_default());
            Some((rate(now.packets, then.packets), rate(now.bytes, then.bytes), r))
        })
        .collect();
    rates.sort_by(|a, b| b.0.total_cmp(&a.0).then(b.1.total_cmp(&a.1)));
    let mut out = format!("top rules by packets per second, over the last {secs:.1} s\n");
    out.push_str(&format!("{:>12} {:>14}  {:<24}  RULE\n", "PKT/S", "BYTES/S", "WHERE"));
    for (pps, bps, r) in rates.into_iter().take(TOP) {
        out.push_str(&format!(
            "{pps:>12.1} {bps:>14.1}  {:<24}  {}/{}: {}\n",
            format!("{}:{}", r.file, r.line),
            r.table,
            r.chain,
            r.rule
        ));
    }
    if backends.is_empty() {
        return out;
    }
    out.push_str("\nbalanced backends, per second\n");
    out.push_str(&format!(
        "{:>9} {:>10} {:>10} {:>12} {:>12}  {:<24}  BACKEND\n",
        "CONNS/S", "INPKTS/S", "OUTPKTS/S", "INBYTES/S", "OUTBYTES/S", "WHERE"
    ));
    let per_second = |now: Option<u64>, then: Option<u64>| {
        now.map_or("-".to_string(), |n| format!("{:.1}", rate(n, then.unwrap_or(0))))
    };
    for (b, then) in backends.iter().zip(backends_before) {
        let traffic = |pick: fn(&Traffic) -> u64| {
            per_second(b.traffic.as_ref().map(pick), then.traffic.as_ref().map(pick))
        };
        out.push_str(&format!(
            "{:>9} {:>10} {:>10} {:>12} {:>12}  {:<24}  {}/{}: {}\n",
            per_second(b.connections, then.connections),
            traffic(|t| t.inbound.packets),
            traffic(|t| t.outbound.packets),
            traffic(|t| t.inbound.bytes),
            traffic(|t| t.outbound.bytes),
            format!("{}:{}", b.file, b.line),
            b.table,
            b.chain,
            b.backend
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(line: usize, count: Option<(u64, u64)>) -> Row {
        Row {
            file: "p.shr".into(),
            line,
            table: "filter".into(),
            chain: "input".into(),
            rule: "meta l4proto tcp th dport 22 counter accept".into(),
            count: count.map(|(packets, bytes)| Count { packets, bytes }),
        }
    }

    #[test]
    fn prometheus_sums_rules_of_one_line_and_leaves_out_uncounted_ones() {
        let out =
            prometheus(&[row(3, Some((1, 60))), row(3, Some((2, 80))), row(4, None)], &[], &[]);
        assert!(out.contains(
            "shriek_rule_packets_total{table=\"filter\",chain=\"input\",file=\"p.shr\",line=\"3\"} 3\n"
        ));
        assert!(!out.contains("line=\"4\""));
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
