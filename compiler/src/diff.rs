//! Differences between two nft rulesets.
//!
//! [`structural`] compares what the kernel holds: tables, counters, sets
//! and their elements, chains and their rules, keyed by name and by rule
//! identity (never by kernel handles), and prints the result for people
//! and for machines. `plan` and `apply` diff the live tables against the
//! compiled policy with it; `shriekc diff` diffs two compiled policies.
//!
//! Pure: both sides come in as [`crate::nft::Ruleset`]s, whatever read them.

pub mod structural;
