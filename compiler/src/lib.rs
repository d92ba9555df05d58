//! Shriek's compiler: AST -> IR -> findings, and IR -> nftables model.
//!
//! The modules are listed in the order a policy flows through them:
//!
//! ```text
//! ast ─resolve─▶ ir (rules as exact spaces) ─analysis─▶ findings ─render─▶ text/JSON/SARIF
//!                 └─lower─▶ nft model ─emit─▶ nft text/JSON    (─▶ shriek_runtime)
//! ```
//!
//! **Architecture Invariant:** this crate does no IO. It reads files only
//! through the [`resolve::Loader`] its caller passes in, and never opens a
//! socket; `shriek_runtime` does that.

// The front: source to the resolved policy.
pub mod resolve;
pub mod ir;
pub mod space;

// What a policy means: the reference evaluator, and the findings.
pub mod eval;
pub mod analysis;
pub mod render;

// The back: the nftables model, how it is made, run, named and printed.
pub mod nft;
pub mod lower;
pub mod nft_eval;
pub mod identity;
pub mod emit;

// Built on both: comparing versions, the lockout guard, `trace`'s packets,
// and `import`, which runs the pipeline the other way.
pub mod diff;
pub mod lockout;
pub mod packet;
pub mod import;
