//! Hand-built pieces of the nft model (`shriek_compiler::nft`), for tests
//! that make rules without a policy: the compiler's identity goldens and
//! the runtime's kernel tests.

use std::net::IpAddr;

use shriek_compiler::nft::{CmpOp, Elem, Expr, Part, Rhs, Selector};

/// `key == rhs`.
pub fn is(key: &[Selector], rhs: Rhs) -> Expr {
    Expr::Match { key: key.to_vec(), op: CmpOp::Eq, rhs }
}

/// `key != rhs`.
pub fn not(key: &[Selector], rhs: Rhs) -> Expr {
    Expr::Match { key: key.to_vec(), op: CmpOp::Ne, rhs }
}

/// One value as a part of a key.
pub fn int(v: u128) -> Part {
    Part::Int(v, v)
}

/// One value as a match's right-hand side.
pub fn val(v: u128) -> Rhs {
    Rhs::Value(Elem(vec![int(v)]))
}

/// An anonymous set of single values.
pub fn set(vs: &[u128]) -> Rhs {
    Rhs::Set(vs.iter().map(|v| Elem(vec![int(*v)])).collect())
}

/// An IPv4 or IPv6 address as the number the model holds.
pub fn addr(s: &str) -> u128 {
    match s.parse::<IpAddr>().expect("a test's address parses") {
        IpAddr::V4(a) => u32::from(a) as u128,
        IpAddr::V6(a) => u128::from(a),
    }
}
