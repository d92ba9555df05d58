//! `shriekc import`: an iptables or nftables ruleset as a `.shr` policy.
//!
//! This module reads the input (a file, standard input, or the host's
//! ruleset through `iptables-save`, `ip6tables-save` and `nft`, which only
//! read, run inside `--netns` through `ip netns exec`) and prints; the translation itself is `shriek_compiler::import`,
//! which does no IO.

use std::process::Command;

use shriek_compiler::import::{self, Format, Input};
use shriek_compiler::space::Family;
use shriek_grammar::visible;

use super::{print_out, FINDINGS, INVALID, OK};
use crate::loader::{read_ruleset, STDIN_NAME, STDIN_PATH};
use crate::FromArg;

/// Larger inputs are refused before reading: no ruleset is this large.
const MAX_INPUT_BYTES: u64 = 256 * 1024 * 1024;

/// `--live`, and where.
#[derive(Clone, Copy)]
pub struct Live<'a> {
    /// The network namespace to read (`--netns`); this process's own when
    /// `None`.
    pub netns: Option<&'a str>,
}

pub fn import(file: Option<&str>, from: Option<FromArg>, live: Option<Live>) -> u8 {
    let read = match live {
        Some(live) => read_live(from, live),
        None => read_file(file.unwrap_or("-"), from),
    };
    let (inputs, format) = match read {
        Ok(x) => x,
        Err(message) => {
            eprintln!("error: {}", visible(&message));
            return INVALID;
        }
    };
    let imported = match import::import(&inputs, format) {
        Ok(x) => x,
        Err(err) => {
            eprintln!("error: {}", visible(&err.describe(&inputs)));
            if let Some(help) = &err.help {
                eprintln!("  help: {}", visible(help));
            }
            return INVALID;
        }
    };
    print_out(&imported.policy);
    for w in &imported.warnings {
        let reasons = w.reasons.join("; ");
        eprintln!("warning: {}: rule left out: {}", visible(&w.place), visible(&reasons));
        eprintln!("  {}", visible(&w.source));
    }
    for line in imported.summary.lines(format) {
        eprintln!("{line}");
    }
    if imported.summary.left_out > 0 {
        FINDINGS
    } else {
        OK
    }
}

fn format_of(from: FromArg, text: &str) -> Format {
    match from {
        FromArg::IptablesSave => Format::IptablesSave,
        FromArg::Nft if text.trim_start().starts_with('{') => Format::NftJson,
        FromArg::Nft => Format::Nft,
    }
}

fn read_file(path: &str, from: Option<FromArg>) -> Result<(Vec<Input>, Format), String> {
    let name = if path == STDIN_PATH { STDIN_NAME.to_string() } else { path.to_string() };
    let bytes = read_ruleset(path, &name, MAX_INPUT_BYTES)?;
    let text = String::from_utf8(bytes).map_err(|e| {
        format!(
            "`{name}` is not UTF-8 text (invalid byte at offset {})",
            e.utf8_error().valid_up_to()
        )
    })?;
    let format = match from {
        Some(f) => format_of(f, &text),
        None if text.trim().is_empty() => {
            return Err(format!("`{name}` is empty: there is no ruleset in it to import"))
        }
        None => import::detect(&text).ok_or_else(|| {
            format!(
                "cannot tell what `{name}` holds: it looks like neither iptables-save output nor an nftables ruleset\n  help: say which with `--from iptables-save` or `--from nft`"
            )
        })?,
    };
    Ok((vec![Input { name, text, family: None }], format))
}

/// The host's ruleset, read by the tools that print it. Without `--from`,
/// iptables' rules when it has any, nftables' otherwise.
fn read_live(from: Option<FromArg>, live: Live) -> Result<(Vec<Input>, Format), String> {
    if let Some(ns) = live.netns {
        // Checked first: otherwise each tool's failure would say it, less
        // clearly, and iptables' would send the import on to nft's.
        shriek_runtime::netns_exists(ns)
            .map_err(|e| format!("{e}\n  help: check the name with `ip netns list`"))?;
    }
    match from {
        Some(FromArg::IptablesSave) => live_iptables(live),
        Some(FromArg::Nft) => live_nft(live),
        None => match live_iptables(live) {
            Ok((inputs, format)) if inputs.iter().any(|i| has_rules(&i.text)) => {
                eprintln!("note: read iptables-save and ip6tables-save; `--from nft` reads nftables' own tables");
                Ok((inputs, format))
            }
            Ok(_) | Err(_) => live_nft(live),
        },
    }
}

/// Whether iptables-save output holds a rule or a DROP policy: anything
/// that changes a packet's fate.
fn has_rules(text: &str) -> bool {
    text.lines().any(|l| l.starts_with("-A ") || (l.starts_with(':') && l.contains(" DROP ")))
}

fn live_iptables(live: Live) -> Result<(Vec<Input>, Format), String> {
    let mut inputs = Vec::new();
    let mut failures = Vec::new();
    for (tool, family) in [("iptables-save", Family::V4), ("ip6tables-save", Family::V6)] {
        match run(tool, &[], live) {
            Ok(text) => inputs.push(Input { name: tool.to_string(), text, family: Some(family) }),
            Err(e) => failures.push(e),
        }
    }
    if inputs.is_empty() {
        return Err(failures.join("; "));
    }
    for f in failures {
        eprintln!("note: {}", visible(&f));
    }
    Ok((inputs, Format::IptablesSave))
}

fn live_nft(live: Live) -> Result<(Vec<Input>, Format), String> {
    let text = run("nft", &["-j", "list", "ruleset"], live)?;
    Ok((vec![Input { name: "nft -j list ruleset".into(), text, family: None }], Format::NftJson))
}

/// Runs `tool` (in `live.netns`, when given): its standard output.
fn run(tool: &str, args: &[&str], live: Live) -> Result<String, String> {
    let mut cmd = match live.netns {
        Some(ns) => {
            let mut cmd = Command::new("ip");
            cmd.args(["netns", "exec", ns, tool]);
            cmd
        }
        None => Command::new(tool),
    };
    let out = cmd.args(args).output().map_err(|e| match (e.kind(), live.netns) {
        (std::io::ErrorKind::NotFound, Some(_)) => "`ip` is not installed".to_string(),
        (std::io::ErrorKind::NotFound, None) => format!("`{tool}` is not installed"),
        _ => format!("cannot run `{tool}`: {e}"),
    })?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(format!("`{tool}` failed: {}", err.trim()));
    }
    String::from_utf8(out.stdout).map_err(|_| format!("`{tool}` printed text that is not UTF-8"))
}
