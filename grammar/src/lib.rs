//! The front end of Shriek: `.shr` text -> typed AST with exact spans.
//!
//! This is the only crate that imports pest. It never fails: [`parse`] returns
//! the tree it could build and every syntax error it found.

pub mod ast;
pub mod codes;
pub mod diag;
pub mod fmt;
mod parse;
pub mod span;
pub mod visible;

pub use diag::{Catalogue, Code, Diagnostic, Label, LocalDiagnostic, Severity};
pub use parse::parse;
pub use span::{FileId, Loc, SourceFile, SourceMap, Span, Spanned};
pub use visible::visible;
