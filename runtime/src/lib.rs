//! Shriek's runtime: the nft model to the kernel and back, over netlink.
//!
//! `apply` replaces shriek's tables in one atomic batch; `snapshot_tables`
//! and `restore` put them back (for `apply --confirm`); `plan` diffs the
//! live tables against a compiled model; `read_counters` reads (and
//! atomically resets) named counters; `read_stats` every rule's counts and
//! every balanced backend's connections. Everything can run inside a named
//! network namespace.
//!
//! **Architecture Invariant:** this is the only crate that opens a socket,
//! and it never touches a table the ruleset does not name.

mod abi;
mod apply;
mod cache;
pub mod codes;
mod counters;
mod decode;
mod desired;
mod destroy;
mod dump;
mod encode;
mod error;
mod feature;
mod layout;
mod msg;
mod netns;
mod placement;
mod plan;
mod snapshot;
mod socket;
mod stats;

pub use apply::{
    apply, apply_carrying, apply_once, apply_spending, apply_with_hook, plan_ahead, ApplyOptions,
    ApplySummary,
};
#[doc(hidden)]
pub use cache::path as day2_cache_path;
pub use counters::{read_counters, Count, CounterValue};
pub use decode::{LiveRule, LiveTable, Owner};
pub use desired::Desired;
pub use destroy::destroy;
pub use encode::policy_key;
pub use error::{KernelError, RuntimeError};
pub use netns::{ensure_netns, is_current_netns, netns_exists};
pub use plan::{plan, read_live, Live, Orphan, Plan, PlanOptions, Planned, Reading, Record, Whole};
pub use snapshot::{restore, snapshot_tables, Snapshot};
pub use stats::{read_stats, BackendCount, Stats, Traffic};
