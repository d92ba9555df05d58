//! `shriekc diff OLD NEW`: what a change to a policy does to traffic, for
//! code review. Either side may be `REV:PATH`, read from git.

use std::path::Path;

use shriek_compiler::diff::report::{self, Report, Version};
use shriek_compiler::diff::semantic::semantic_diff;
use shriek_compiler::lower::{self, Strategy};
use shriek_compiler::resolve::{self, Frontend};

use super::{print_out, print_shown, FINDINGS, INVALID, OK};
use crate::git::{rev_path, GitLoader};
use crate::loader::{FsLoader, STDIN_PATH};
use crate::output::eprint_diagnostics;

/// Exit 0, or with `exit_code` 1 when some packet's fate changes (or the
/// diff could not tell); 2 when either side is not a valid policy. Both
/// sides are lowered with `strategy` for the nftables part.
pub fn diff(
    old: &str,
    new: &str,
    format: report::Format,
    exit_code: bool,
    strategy: Strategy,
) -> u8 {
    if old == STDIN_PATH && new == STDIN_PATH {
        // The second read would find standard input empty and report
        // every table as removed.
        eprintln!("error: both sides are `-`, but standard input can be read only once");
        eprintln!("help: give one side as a file or as `REV:PATH`");
        return INVALID;
    }
    let (old_front, new_front) = (load(old), load(new));
    eprint_diagnostics(&old_front.diagnostics, &old_front.sources);
    eprint_diagnostics(&new_front.diagnostics, &new_front.sources);
    let (Some(old_policy), Some(new_policy)) = (&old_front.policy, &new_front.policy) else {
        return INVALID;
    };
    let semantic = semantic_diff(old_policy, new_policy);
    let (old_rs, new_rs) =
        (lower::lower(old_policy, strategy).ruleset, lower::lower(new_policy, strategy).ruleset);
    let report = Report {
        old: Version {
            label: old,
            policy: old_policy,
            ruleset: &old_rs,
            sources: &old_front.sources,
        },
        new: Version {
            label: new,
            policy: new_policy,
            ruleset: &new_rs,
            sources: &new_front.sources,
        },
        semantic: &semantic,
    };
    match format {
        report::Format::Json => print_out(&report::render(&report, format)),
        _ => print_shown(&report::render(&report, format)),
    }
    if exit_code && semantic.changes_traffic() {
        FINDINGS
    } else {
        OK
    }
}

/// A file on disk, or `REV:PATH` from git when no such file exists.
fn load(arg: &str) -> Frontend {
    match rev_path(arg) {
        Some((rev, path)) if !Path::new(arg).exists() => {
            resolve::load(path, &mut GitLoader::new(rev))
        }
        _ => resolve::load(arg, &mut FsLoader),
    }
}
