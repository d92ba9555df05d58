//! Shriek's compiler: AST -> IR -> findings, and IR -> nftables model.
//!
//! **Architecture Invariant:** this crate does no IO. It reads files only
//! through the [`resolve::Loader`] its caller passes in, and never opens a
//! socket; `shriek_runtime` does that.

pub mod analysis;
pub mod diff;
pub mod emit;
pub mod eval;
pub mod identity;
pub mod import;
pub mod ir;
pub mod lockout;
pub mod lower;
pub mod nft;
pub mod nft_eval;
pub mod packet;
pub mod render;
pub mod resolve;
pub mod space;
