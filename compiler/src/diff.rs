//! Two versions compared.
//!
//! [`structural`] compares what the kernel holds: tables, counters, sets
//! and their elements, chains and their rules, keyed by name and by rule
//! identity (never by kernel handles), and prints the result for people
//! and for machines. `plan` and `apply` diff the live tables against the
//! compiled policy with it; `shriekc diff` diffs two compiled policies.
//!
//! [`semantic`] compares what two policies do to traffic: the packets whose
//! fate changes, exactly, with the rules responsible. [`report`] words a
//! `shriekc diff` as text, JSON or Markdown.
//!
//! Pure: rulesets and policies come in as values, whatever read them.

pub mod report;
pub mod semantic;
pub mod structural;
