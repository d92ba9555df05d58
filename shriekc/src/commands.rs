//! The verbs. Each returns the process exit code.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use shriek_compiler::emit::{trace_model_text, trace_text};
use shriek_compiler::lower::{self, Strategy};
use shriek_compiler::resolve::{self, Frontend};
use shriek_compiler::{analysis, emit, ir, packet, render};
use shriek_grammar::{Diagnostic, Severity, SourceFile, SourceMap};

use crate::loader::FsLoader;
use crate::output::{eprint_diagnostics, merge_sources};
use crate::{CounterFormat, Emit, Format};

const OK: u8 = 0;
const FINDINGS: u8 = 1;
const INVALID: u8 = 2;

/// Load, parse and resolve a policy; print its errors when it has any.
fn front(file: &str) -> Result<(Frontend, ir::Policy), u8> {
    let mut frontend = resolve::load(file, &mut FsLoader);
    eprint_diagnostics(&frontend.diagnostics, &frontend.sources);
    match frontend.policy.take() {
        Some(policy) => Ok((frontend, policy)),
        None => Err(INVALID),
    }
}

pub fn check(files: &[String], format: Format, deny_warnings: bool) -> u8 {
    let mut sources = SourceMap::new();
    let mut all = Vec::new();
    let mut invalid = false;
    for file in files {
        let frontend = resolve::load(file, &mut FsLoader);
        let mut diags = frontend.diagnostics;
        if diags.iter().any(|d| d.severity == Severity::Error) || frontend.policy.is_none() {
            invalid = true;
        }
        if let Some(policy) = &frontend.policy {
            diags.extend(analysis::analyze(policy));
        }
        merge_sources(&mut sources, &frontend.sources, &mut diags);
        all.extend(diags);
    }
    let out = match format {
        Format::Text => {
            let text = render::render_text(&all, &sources, crate::output::color_stderr());
            eprint!("{text}");
            summary_line(&all, files.len())
        }
        Format::Json => render::render_json(&all, &sources),
        Format::Sarif => render::render_sarif(&all, &sources, &rule_descriptors()),
        Format::Github => render::render_github(&all, &sources),
    };
    print_out(&out);
    if invalid {
        return INVALID;
    }
    let counts = |d: &&Diagnostic| {
        d.suppressed.is_none()
            && (d.severity == Severity::Error || (deny_warnings && d.severity == Severity::Warning))
    };
    if all.iter().any(|d| counts(&d)) {
        FINDINGS
    } else {
        OK
    }
}

fn summary_line(diags: &[Diagnostic], files: usize) -> String {
    let live = diags.iter().filter(|d| d.suppressed.is_none());
    let (mut errors, mut warnings) = (0, 0);
    for d in live {
        match d.severity {
            Severity::Error => errors += 1,
            Severity::Warning => warnings += 1,
            Severity::Info => {}
        }
    }
    let suppressed = diags.iter().filter(|d| d.suppressed.is_some()).count();
    let files = if files == 1 { "1 file".to_string() } else { format!("{files} files") };
    let mut line = format!("checked {files}: {errors} error(s), {warnings} warning(s)");
    if suppressed > 0 {
        line.push_str(&format!(", {suppressed} suppressed"));
    }
    line.push('\n');
    line
}

fn print_out(text: &str) {
    let mut stdout = std::io::stdout().lock();
    // A closed pipe (`| head`) is not an error worth a panic.
    let _ = stdout.write_all(text.as_bytes());
    if !text.is_empty() && !text.ends_with('\n') {
        let _ = stdout.write_all(b"\n");
    }
}

pub fn fmt(files: &[String], check: bool, diff: bool) -> u8 {
    let mut code = OK;
    for file in files {
        let text = match std::fs::read_to_string(file) {
            Ok(text) => text,
            Err(e) => {
                eprintln!("error: cannot read `{file}`: {e}");
                code = INVALID;
                continue;
            }
        };
        let (ast, errors) = shriek_grammar::parse(&text);
        if !errors.is_empty() {
            let mut sources = SourceMap::new();
            let id = sources.add(SourceFile::new(file.clone(), text.clone()));
            let diags: Vec<_> = errors.into_iter().map(|e| e.at_file(id)).collect();
            eprint_diagnostics(&diags, &sources);
            eprintln!("error: `{file}` has syntax errors; not formatted");
            code = INVALID;
            continue;
        }
        let formatted = shriek_grammar::fmt::format(&ast, &text);
        if formatted == text {
            continue;
        }
        if diff {
            print_out(&unified_diff(file, &text, &formatted));
        }
        if check {
            eprintln!("would reformat {file}");
            code = code.max(FINDINGS);
        } else if !diff {
            if let Err(e) = std::fs::write(file, &formatted) {
                eprintln!("error: cannot write `{file}`: {e}");
                code = INVALID;
            }
        }
    }
    code
}

fn unified_diff(file: &str, old: &str, new: &str) -> String {
    similar::TextDiff::from_lines(old, new)
        .unified_diff()
        .context_radius(3)
        .header(&format!("a/{file}"), &format!("b/{file}"))
        .to_string()
}

pub fn compile(file: &str, strategy: Strategy, emit: Emit, explain: bool) -> u8 {
    let Ok((frontend, policy)) = front(file) else { return INVALID };
    let lowered = lower::lower(&policy, strategy);
    let text = match emit {
        Emit::Nft => emit::emit_nft(&lowered.ruleset, &frontend.sources),
        Emit::Json => emit::emit_json(&lowered.ruleset, &frontend.sources),
    };
    print_out(&text);
    if explain {
        for line in &lowered.explain {
            eprintln!(
                "{}: {}.{}: {}",
                frontend.sources.describe(line.loc),
                line.table,
                line.chain,
                line.text
            );
        }
    }
    OK
}

pub fn trace(file: &str, spec: &str, strategy: Option<Strategy>) -> u8 {
    let Ok((frontend, policy)) = front(file) else { return INVALID };
    let (packet, hook) = match packet::parse_packet(spec) {
        Ok(parsed) => parsed,
        Err(message) => {
            eprintln!("error: cannot read the packet `{spec}`: {message}");
            return INVALID;
        }
    };
    let hook = hook.unwrap_or(ir::Hook::Input);
    let text = match strategy {
        None => trace_text(&policy, &frontend.sources, &packet, hook),
        Some(strategy) => {
            let lowered = lower::lower(&policy, strategy);
            trace_model_text(&lowered.ruleset, &frontend.sources, &packet, hook)
        }
    };
    print_out(&text);
    OK
}

fn table_names(policy: &ir::Policy) -> Vec<String> {
    policy.tables.iter().map(|t| t.name.clone()).collect()
}

fn runtime_failure(err: &shriek_runtime::RuntimeError, sources: &SourceMap) -> u8 {
    match err.diagnostic() {
        Some(diag) => eprint_diagnostics(std::slice::from_ref(&diag), sources),
        None => eprintln!("error: {err}"),
    }
    // The kernel refusing the policy, missing privileges or a missing
    // namespace are invalid input; a conflict or an IO failure is not.
    use shriek_runtime::RuntimeError as E;
    match err {
        E::Kernel(_) | E::Permission | E::Netns { .. } => INVALID,
        E::Changed | E::Io { .. } => FINDINGS,
    }
}

pub fn apply(
    file: &str,
    strategy: Strategy,
    dry_run: bool,
    confirm: Option<u64>,
    netns: Option<&str>,
) -> u8 {
    let Ok((frontend, policy)) = front(file) else { return INVALID };
    let lowered = lower::lower(&policy, strategy);
    let opts = shriek_runtime::ApplyOptions { dry_run, netns: netns.map(str::to_owned) };

    // `--netns` is a sandbox: make the namespace when it is not there yet.
    if let Some(ns) = netns {
        if let Err(err) = shriek_runtime::ensure_netns(ns) {
            return runtime_failure(&err, &frontend.sources);
        }
    }
    let before = match confirm {
        Some(_) => match shriek_runtime::snapshot_tables(&table_names(&policy), netns) {
            Ok(snapshot) => Some(snapshot),
            Err(err) => return runtime_failure(&err, &frontend.sources),
        },
        None => None,
    };
    let summary = match shriek_runtime::apply(&lowered.ruleset, &opts) {
        Ok(summary) => summary,
        Err(err) => return runtime_failure(&err, &frontend.sources),
    };
    let place = netns.map_or(String::new(), |ns| format!(" in netns {ns}"));
    let verb = if dry_run { "validated (nothing changed)" } else { "applied" };
    println!(
        "{verb}{place}: {} table(s), {} chain(s), {} rule(s), {} map element(s) in {:.1} ms",
        summary.tables,
        summary.chains,
        summary.rules,
        summary.elements,
        summary.elapsed.as_secs_f64() * 1000.0
    );
    let (Some(seconds), Some(before)) = (confirm, before) else { return OK };
    if wait_for_confirmation(Duration::from_secs(seconds), netns) {
        println!("confirmed; the new policy stays");
        return OK;
    }
    match shriek_runtime::restore(&before, netns) {
        Ok(()) => {
            eprintln!("not confirmed within {seconds} s: rolled back to the previous tables");
            FINDINGS
        }
        Err(err) => {
            eprintln!("not confirmed within {seconds} s, and the rollback failed: {err}");
            FINDINGS
        }
    }
}

/// Where a waiting `apply --confirm` looks for `apply --confirm-pending`.
fn pending_path(netns: Option<&str>) -> PathBuf {
    let dir = std::env::var_os("SHRIEKC_RUN_DIR")
        .map_or_else(|| PathBuf::from("/run/shriekc"), PathBuf::from);
    dir.join(format!("confirm-{}", netns.unwrap_or("host")))
}

fn wait_for_confirmation(limit: Duration, netns: Option<&str>) -> bool {
    let path = pending_path(netns);
    let marker_ok = path.parent().map(std::fs::create_dir_all).is_some_and(|r| r.is_ok())
        && std::fs::write(&path, format!("waiting {}\n", std::process::id())).is_ok();
    let (tx, rx) = std::sync::mpsc::channel();
    if std::io::stdin().is_terminal() {
        eprintln!(
            "press Enter within {} s to keep the new policy (or run `shriekc apply --confirm-pending`); otherwise it is rolled back",
            limit.as_secs()
        );
        std::thread::spawn(move || {
            let mut line = String::new();
            if std::io::stdin().lock().read_line(&mut line).is_ok() {
                let _ = tx.send(());
            }
        });
    } else {
        drop(tx);
        eprintln!(
            "run `shriekc apply --confirm-pending{}` within {} s to keep the new policy; otherwise it is rolled back",
            netns.map_or(String::new(), |ns| format!(" --netns {ns}")),
            limit.as_secs()
        );
    }
    let start = Instant::now();
    let confirmed = loop {
        if rx.try_recv().is_ok() {
            break true;
        }
        if marker_ok && std::fs::read_to_string(&path).is_ok_and(|s| s.starts_with("confirmed")) {
            break true;
        }
        if start.elapsed() >= limit {
            break false;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let _ = std::fs::remove_file(&path);
    confirmed
}

pub fn confirm_pending(netns: Option<&str>) -> u8 {
    let path = pending_path(netns);
    match std::fs::read_to_string(&path) {
        Ok(s) if s.starts_with("waiting") => match std::fs::write(&path, "confirmed\n") {
            Ok(()) => {
                println!("confirmed the pending apply");
                OK
            }
            Err(e) => {
                eprintln!("error: cannot confirm: {e}");
                INVALID
            }
        },
        _ => {
            eprintln!("error: no apply is waiting for confirmation");
            INVALID
        }
    }
}

pub fn plan(file: &str, strategy: Strategy, detailed: bool, netns: Option<&str>) -> u8 {
    let invalid = if detailed { FINDINGS } else { INVALID };
    let Ok((frontend, policy)) = front(file) else { return invalid };
    let lowered = lower::lower(&policy, strategy);
    match shriek_runtime::plan(&lowered.ruleset, netns) {
        Ok(plan) => {
            print_out(&plan.to_string());
            if detailed && !plan.is_empty() {
                2
            } else {
                OK
            }
        }
        Err(err) => {
            let code = runtime_failure(&err, &frontend.sources);
            // Under --detailed-exitcode, 2 means "changes", so errors are 1.
            if detailed {
                FINDINGS
            } else {
                code
            }
        }
    }
}

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
        Err(err) => return runtime_failure(&err, &frontend.sources),
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

pub fn explain(name: &str) -> u8 {
    match analysis::explain(name) {
        Some(text) => {
            print_out(text);
            OK
        }
        None => {
            let names = analysis::FINDINGS;
            let nearest = shriek_grammar::diag::nearest(name, names.iter().map(|r| r.name));
            eprintln!("error: no finding is called `{name}`");
            match nearest {
                Some(n) => eprintln!("  help: did you mean `{n}`?"),
                None => {
                    let all: Vec<_> = names.iter().map(|r| r.name).collect();
                    eprintln!("  help: the findings are {}", all.join(", "));
                }
            }
            INVALID
        }
    }
}

fn rule_descriptors() -> Vec<render::RuleDescriptor> {
    analysis::FINDINGS
        .iter()
        .map(|f| render::RuleDescriptor { code: f.code, name: f.name, summary: f.summary })
        .collect()
}
