//! `shriekc`: the command line around the compiler and the runtime.
//!
//! Each verb is a plain function from parsed arguments to an exit code. The
//! exit codes are a contract scripts rely on: 0 clean, 1 error-level findings
//! (or, for `fmt --check`, files that would change), 2 invalid input or usage.

mod commands;
mod confirm;
mod git;
mod loader;
mod output;

use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

// See shriekc/Cargo.toml for why.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Hands the pages the allocator holds free back to the system now, rather
/// than when its purge delay (10 ms, pushed back by every free that
/// follows, and acted on only when the same thread allocates or frees
/// again) says: after a phase frees much at once (the syntax trees), so
/// that what the phases after it allocate does not come on top.
#[allow(unsafe_code)]
pub(crate) fn hand_back() {
    // SAFETY: `mi_collect` takes no pointer and may be called from any
    // thread at any time.
    unsafe { libmimalloc_sys::mi_collect(true) }
}

#[derive(Parser)]
#[command(
    name = "shriekc",
    version,
    about = "Declarative firewall policy compiler for Linux nftables",
    long_about = "Declarative firewall policy compiler for Linux nftables.\n\n\
        Write a policy in .shr files; shriekc checks it exactly (shadowed, redundant and\n\
        unmatchable rules), compiles it to nftables chains or hashed verdict maps, and\n\
        applies it in one atomic netlink transaction."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check policies: syntax, names, types, and exact rule analysis
    Check {
        /// How to print findings
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        /// Treat warnings as errors (`--deny warnings`)
        #[arg(long, value_name = "LEVEL", value_parser = ["warnings"])]
        deny: Vec<String>,
        #[arg(required = true, value_name = "FILE")]
        files: Vec<String>,
    },
    /// Rewrite policies in the canonical layout, keeping comments
    Fmt {
        /// Change nothing; exit 1 when a file is not formatted
        #[arg(long)]
        check: bool,
        /// Print what would change as a unified diff, change nothing
        #[arg(long)]
        diff: bool,
        #[arg(required = true, value_name = "FILE")]
        files: Vec<String>,
    },
    /// Compile a policy to nftables and print it
    Compile {
        #[arg(long, value_enum, default_value_t = StrategyArg::Auto)]
        strategy: StrategyArg,
        /// Output: `nft` (text for `nft -f`) or `json` (libnftables JSON)
        #[arg(long, value_enum, default_value_t = Emit::Nft)]
        emit: Emit,
        /// Say on stderr what the lowering chose for each run of rules, and why
        #[arg(long)]
        explain: bool,
        #[arg(value_name = "FILE")]
        file: String,
    },
    /// Follow one packet through a policy and print its path and verdict
    #[command(
        after_help = "PACKET examples:\n  'tcp 10.1.2.3:40000 -> 10.99.0.2:22 iif eth0 ct new'\n  \
        'udp [fd00::1]:5353 -> [fd00::2]:53 hook forward iif lan oif wan'\n  'icmp 10.0.0.1 -> 10.0.0.2 ct established'"
    )]
    Trace {
        /// Evaluate the lowered nftables model of this strategy instead of the IR
        #[arg(long, value_enum)]
        strategy: Option<StrategyArg>,
        #[arg(value_name = "FILE")]
        file: String,
        #[arg(value_name = "PACKET")]
        packet: String,
    },
    /// Apply a policy to the kernel in one atomic netlink transaction
    #[command(
        after_help = "Only what differs from the live tables is sent: rules, chains, sets, map elements \
        and counters that stay keep their handles and their counts. A table is replaced whole only with \
        --replace, for a change of strategy or of a chain's hook, or when shriekc cannot read it back; \
        apply says so. Nothing to change sends nothing and prints `no changes`.\n\n\
        Analysis first: apply prints the policy's findings and refuses (exit 1) one with an \
        error-level finding (a shadowed or unmatchable rule, a jump cycle) unless --force.\n\n\
        Lockout guard: apply refuses (exit 1) a policy that would drop the SSH session it runs in \
        (read from SSH_CONNECTION), or, with an input chain of policy drop, every new TCP connection to port 22 \
        from anywhere while the current ruleset lets some in. It guards the namespace shriekc runs in, not \
        another one --netns names. --confirm SECONDS applies such a policy with a way back; --force applies it \
        anyway.\n\n\
        While an `apply --confirm` waits for confirmation, another apply to the same place \
        (this host, or that --netns) is refused (exit 1): its rollback would undo the newer apply too. \
        --dry-run is not affected."
    )]
    Apply {
        /// How to lower the policy; by default the strategy the live tables
        /// record, else `auto`
        #[arg(long, value_enum)]
        strategy: Option<StrategyArg>,
        /// Replace the policy's tables whole instead of changing only what
        /// differs (and take over a table another policy made)
        #[arg(long)]
        replace: bool,
        /// Also remove the tables this policy made and no longer names
        #[arg(long)]
        prune: bool,
        /// Let the kernel validate the whole transaction, then discard it
        #[arg(long)]
        dry_run: bool,
        /// Roll back unless confirmed within SECONDS (Enter, or `shriekc apply --confirm-pending`
        /// from any session); a guard process rolls back even if shriekc is killed
        #[arg(long, value_name = "SECONDS", conflicts_with = "dry_run", value_parser = confirm_seconds)]
        confirm: Option<u64>,
        /// Apply even if the policy has error-level findings or would lock out SSH (see below)
        #[arg(long)]
        force: bool,
        /// Confirm the apply waiting for confirmation on this host (or in --netns)
        #[arg(long, conflicts_with_all = ["dry_run", "confirm", "create_netns"])]
        confirm_pending: bool,
        #[command(flatten)]
        ns: NetnsArgs,
        #[arg(value_name = "FILE", required_unless_present = "confirm_pending")]
        file: Option<String>,
    },
    /// Show what `apply` would add, remove or change in the live tables
    Plan {
        /// How to lower the policy; by default the strategy the live tables
        /// record, else `auto`
        #[arg(long, value_enum)]
        strategy: Option<StrategyArg>,
        /// Output: `text` for people, `json` for tools (see docs/json.md)
        #[arg(long, value_enum, default_value_t = PlanFormat::Text)]
        format: PlanFormat,
        /// Exit 2 when there are changes (0 when none, 1 on error)
        #[arg(long)]
        detailed_exitcode: bool,
        /// Plan as `apply --replace` would: each table replaced whole
        #[arg(long)]
        replace: bool,
        /// Plan as `apply --prune` would: orphaned tables removed
        #[arg(long)]
        prune: bool,
        #[command(flatten)]
        ns: NetnsArgs,
        #[arg(value_name = "FILE")]
        file: String,
    },
    /// Remove every table this policy made (its marker names the policy's file)
    #[command(
        after_help = "Tables other programs or other policies made are never touched, even when this \
        policy names them. FILE need not exist any more: its path names the policy."
    )]
    Destroy {
        #[command(flatten)]
        ns: NetnsArgs,
        #[arg(value_name = "FILE")]
        file: String,
    },
    /// Read (and optionally zero) the policy's named counters
    Counters {
        /// Zero the counters atomically as they are read
        #[arg(long)]
        reset: bool,
        #[arg(long, value_enum, default_value_t = CounterFormat::Text)]
        format: CounterFormat,
        #[command(flatten)]
        ns: NetnsArgs,
        #[arg(value_name = "FILE")]
        file: String,
        /// Only these counters: `NAME` (in every table) or `TABLE/NAME`
        #[arg(value_name = "NAME")]
        names: Vec<String>,
    },
    /// Every rule's packets and bytes by source line, like `iptables -L -v -n -x`
    #[command(
        after_help = "Rules are listed in policy order with their place (file:line) and their nft text;         zeros are shown, and `-` marks a rule without a counter (`counters off`). A rule that lowered to         several nft rules or map elements shows their sum.

        --reset zeroes every counter in the same step as it reads it (like `iptables -Z`) and prints the         values it zeroed. --watch SECONDS refreshes until interrupted, ranking rules by packets per second.

        For node_exporter's textfile collector, e.g. from cron every minute:
          shriekc stats --format prometheus /etc/shriek/policy.shr > /var/lib/node_exporter/shriek.prom.$$         && mv /var/lib/node_exporter/shriek.prom.$$ /var/lib/node_exporter/shriek.prom"
    )]
    Stats {
        /// Zero every counter as it is read, and print the values zeroed
        #[arg(long, conflicts_with = "watch")]
        reset: bool,
        #[arg(long, value_enum, default_value_t = StatsFormat::Text)]
        format: StatsFormat,
        /// Refresh every SECONDS with per-second rates, top rules first
        #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..))]
        watch: Option<u64>,
        #[command(flatten)]
        ns: NetnsArgs,
        #[arg(value_name = "FILE")]
        file: String,
    },
    /// The guard that `apply --confirm` starts (internal)
    #[command(name = "confirm-guard", hide = true)]
    ConfirmGuard(confirm::GuardArgs),
    /// Translate an iptables-save or nftables ruleset into a policy
    #[command(
        after_help = "The policy goes to standard output; each rule that cannot be translated stays\n\
        in it as a comment, with a warning on standard error. Exit 1 when a rule was left out."
    )]
    Import {
        /// What the input is; detected when omitted
        #[arg(long, value_enum)]
        from: Option<FromArg>,
        /// Read the host's own ruleset (runs iptables-save and ip6tables-save, or nft -j list ruleset; they only read)
        #[arg(long, conflicts_with = "file")]
        live: bool,
        /// With --live: read this network namespace's ruleset instead (a name `ip netns` knows)
        #[arg(long, value_name = "NAME", requires = "live")]
        netns: Option<String>,
        /// The ruleset to read; `-` for standard input
        #[arg(value_name = "FILE", required_unless_present = "live")]
        file: Option<String>,
    },
    /// Show what a change to a policy does to traffic, for code review
    #[command(
        after_help = "OLD and NEW are policy files, or REV:PATH read from git at that revision, includes too:\n  \
        shriekc diff origin/main:fw/policy.shr fw/policy.shr --format markdown"
    )]
    Diff {
        #[arg(long, value_enum, default_value_t = DiffFormat::Text)]
        format: DiffFormat,
        /// How both versions are lowered for the nftables part
        #[arg(long, value_enum, default_value_t = StrategyArg::Auto)]
        strategy: StrategyArg,
        /// Exit 1 when some packet's fate changes (counting and logging do not count)
        #[arg(long)]
        exit_code: bool,
        #[arg(value_name = "OLD")]
        old: String,
        #[arg(value_name = "NEW")]
        new: String,
    },
    /// Explain a finding: what it means, an example, and the fix
    Explain {
        /// A finding name, e.g. `shadowed-rule`
        name: String,
    },
}

/// Where a verb works on the kernel: `--netns`, made by `--create-netns`.
#[derive(clap::Args)]
struct NetnsArgs {
    /// Work inside this network namespace (a name `ip netns` knows); it must exist
    #[arg(long, value_name = "NAME")]
    netns: Option<String>,
    /// Create the --netns namespace first when it does not exist
    #[arg(long, requires = "netns")]
    create_netns: bool,
}

/// The longest confirm window: a day. Past any real need, and far inside
/// what the guard's deadlines (milliseconds since 1970, an `Instant` plus
/// the window) can hold; `u64::MAX` seconds overflowed them, and the guard
/// died with the policy in and unconfirmed.
const MAX_CONFIRM_SECONDS: u64 = 86_400;

/// `--confirm SECONDS`: a whole number of seconds, at least one, since a
/// window of none would roll back before anyone could confirm, and at most
/// [`MAX_CONFIRM_SECONDS`].
fn confirm_seconds(s: &str) -> Result<u64, String> {
    match s.parse::<u64>() {
        Ok(0) => {
            Err("a confirm window of 0 seconds would roll back at once; give at least 1".into())
        }
        Ok(n) if n > MAX_CONFIRM_SECONDS => Err(format!(
            "a confirm window is at most {MAX_CONFIRM_SECONDS} seconds (a day); give a shorter one"
        )),
        Ok(n) => Ok(n),
        Err(_) => Err("expected a whole number of seconds, e.g. `--confirm 60`".into()),
    }
}

impl NetnsArgs {
    /// The namespace, once it exists; the exit code when it cannot be made.
    fn ready(&self) -> Result<Option<&str>, u8> {
        commands::prepare_netns(self.netns.as_deref(), self.create_netns)?;
        Ok(self.netns.as_deref())
    }
}

#[derive(Clone, Copy, ValueEnum)]
pub enum Format {
    Text,
    Json,
    Sarif,
    Github,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum DiffFormat {
    Text,
    Json,
    Markdown,
}

impl DiffFormat {
    fn format(self) -> shriek_compiler::diff::report::Format {
        use shriek_compiler::diff::report::Format;
        match self {
            DiffFormat::Text => Format::Text,
            DiffFormat::Json => Format::Json,
            DiffFormat::Markdown => Format::Markdown,
        }
    }
}

#[derive(Clone, Copy, ValueEnum)]
pub enum PlanFormat {
    Text,
    Json,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum StatsFormat {
    Text,
    Json,
    /// The Prometheus text exposition format
    Prometheus,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum CounterFormat {
    Text,
    Json,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum FromArg {
    /// iptables-save or ip6tables-save output
    IptablesSave,
    /// an nftables ruleset: `nft list ruleset` text or `nft -j list ruleset` JSON
    Nft,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum Emit {
    Nft,
    Json,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum StrategyArg {
    Sequential,
    Dispatch,
    Auto,
}

impl StrategyArg {
    fn strategy(self) -> shriek_compiler::lower::Strategy {
        use shriek_compiler::lower::Strategy;
        match self {
            StrategyArg::Sequential => Strategy::Sequential,
            StrategyArg::Dispatch => Strategy::Dispatch,
            StrategyArg::Auto => Strategy::Auto,
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let applying = matches!(cli.command, Command::Apply { .. });
    let code = match cli.command {
        Command::Check { format, deny, files } => {
            commands::check(&files, format, deny.iter().any(|d| d == "warnings"))
        }
        Command::Fmt { check, diff, files } => commands::fmt(&files, check, diff),
        Command::Compile { strategy, emit, explain, file } => {
            commands::compile(&file, strategy.strategy(), emit, explain)
        }
        Command::Trace { strategy, file, packet } => {
            commands::trace(&file, &packet, strategy.map(StrategyArg::strategy))
        }
        Command::Apply {
            strategy,
            replace,
            prune,
            dry_run,
            confirm,
            force,
            confirm_pending,
            ns,
            file,
        } => {
            if confirm_pending {
                commands::confirm_pending(ns.netns.as_deref())
            } else {
                let file = file.expect("clap requires FILE unless --confirm-pending");
                let how = commands::How {
                    strategy: strategy.map(StrategyArg::strategy),
                    plan: shriek_runtime::PlanOptions { replace, prune },
                    dry_run,
                    force,
                };
                match ns.ready() {
                    Ok(netns) => commands::apply(&file, how, confirm, netns),
                    Err(code) => code,
                }
            }
        }
        Command::Plan { strategy, format, detailed_exitcode, replace, prune, ns, file } => {
            match ns.ready() {
                Ok(netns) => commands::plan(
                    &file,
                    strategy.map(StrategyArg::strategy),
                    format,
                    detailed_exitcode,
                    shriek_runtime::PlanOptions { replace, prune },
                    netns,
                ),
                // Under --detailed-exitcode, 2 means "changes", so errors are 1.
                Err(code) if detailed_exitcode => code.min(1),
                Err(code) => code,
            }
        }
        Command::Destroy { ns, file } => match ns.ready() {
            Ok(netns) => commands::destroy(&file, netns),
            Err(code) => code,
        },
        Command::Counters { reset, format, ns, file, names } => match ns.ready() {
            Ok(netns) => commands::counters(&file, &names, reset, format, netns),
            Err(code) => code,
        },
        Command::Stats { reset, format, watch, ns, file } => match ns.ready() {
            Ok(netns) => commands::stats(&file, reset, format, watch, netns),
            Err(code) => code,
        },
        Command::ConfirmGuard(args) => confirm::guard(args),
        Command::Import { from, live, netns, file } => {
            let live = live.then_some(commands::Live { netns: netns.as_deref() });
            commands::import(file.as_deref(), from, live)
        }
        Command::Diff { format, strategy, exit_code, old, new } => {
            commands::diff(&old, &new, format.format(), exit_code, strategy.strategy())
        }
        Command::Explain { name } => commands::explain(&name),
    };
    if applying {
        end_now(code);
    }
    ExitCode::from(code)
}

/// Ends the process with `code` once its output is out, skipping what an
/// ordinary exit runs after `main`: mimalloc's exit handler gives every
/// freed page back to the kernel one purge at a time (12-17 ms of a
/// one-rule change to 100k rules), which the end of the process does at
/// once. Only for `apply`, whose work (the commit, the day-2 cache, the
/// confirm window's guard process) is all done, and whose guards are all
/// dropped, when it returns.
#[allow(unsafe_code)]
fn end_now(code: u8) -> ! {
    use std::io::Write;
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
    // SAFETY: `_exit` only ends the process; no destructor is owed by it.
    unsafe { nix::libc::_exit(i32::from(code)) }
}
