//! Reading values: atoms, prefixes, ranges, sets and `$name`s, flattened
//! into untyped elements, with the mistakes a value has on its own (host
//! bits set, a reversed range, an undefined name) reported where it is
//! written. What a field makes of the elements is `typing.rs`'s job.

use std::rc::Rc;

use shriek_grammar::ast::{self, AtomKind};
use shriek_grammar::{Diagnostic, FileId, Loc, Span};

use super::limits::{MAX_SET, MAX_VALUES};
use super::{codes, suggest, Ctx, Def};

/// A value with more elements than [`MAX_SET`].
struct TooLarge;
use crate::space::Family;

/// One flattened value element, untyped until a field uses it.
#[derive(Clone, Debug)]
pub(crate) struct Elem {
    pub kind: ElemKind,
    pub loc: Loc,
}

#[derive(Clone, Debug)]
pub(crate) enum ElemKind {
    /// An address, prefix or address range, as the inclusive range it covers.
    Addr {
        family: Family,
        lo: u128,
        hi: u128,
        shape: AddrShape,
    },
    /// A number or a number range.
    Num {
        lo: u64,
        hi: u64,
    },
    Name(String),
    Str(String),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AddrShape {
    Single,
    Prefix,
    Range,
}

/// How an element reached a match through a `$name`: errors about its type are
/// reported at the use, with the define as a related place.
#[derive(Clone, Debug)]
pub(crate) struct VarUse {
    pub name: String,
    pub use_loc: Loc,
    pub def_loc: Loc,
}

impl<'a> Ctx<'a> {
    /// Flatten a value into elements, reporting its intrinsic mistakes.
    /// Returns false when some part failed. A value of more than
    /// [`MAX_SET`] elements, or one past the policy's [`MAX_VALUES`], is an
    /// error; past that budget nothing more is expanded, so the work stays
    /// bounded whatever the input.
    pub(super) fn flatten(
        &mut self,
        file: FileId,
        value: &'a ast::Value,
        out: &mut Vec<(Elem, Option<Rc<VarUse>>)>,
    ) -> bool {
        if self.values > MAX_VALUES {
            return false;
        }
        let loc = Loc::new(file, value.span());
        let ok = match self.flatten_into(file, value, out) {
            Ok(ok) => ok,
            Err(TooLarge) => {
                self.error(
                    Diagnostic::new(
                        codes::SET_TOO_LARGE,
                        format!("this value holds more than {MAX_SET} elements"),
                        loc,
                        "too many elements, once sets and `$name`s are expanded",
                    )
                    .with_help(
                        "cover the elements with fewer ranges or prefixes (`10.0.0.0/8`, `1000-2000`), \
                         or split them over several rules",
                    ),
                );
                out.clear();
                return false;
            }
        };
        self.values += out.len();
        if self.values > MAX_VALUES {
            self.error(
                Diagnostic::new(
                    codes::TOO_MANY_VALUES,
                    format!("the policy's values hold more than {MAX_VALUES} elements together"),
                    loc,
                    "this value goes past the limit",
                )
                .with_help(
                    "every use of a `$name` counts its elements again: match a large set in fewer rules",
                ),
            );
            return false;
        }
        ok
    }

    fn flatten_into(
        &mut self,
        file: FileId,
        value: &'a ast::Value,
        out: &mut Vec<(Elem, Option<Rc<VarUse>>)>,
    ) -> Result<bool, TooLarge> {
        let elem = match value {
            ast::Value::Atom(a) => {
                self.atom(file, a).map(|kind| Elem { kind, loc: Loc::new(file, a.span) })
            }
            ast::Value::Range(a, b, span) => {
                self.range(file, a, b, *span).map(|kind| Elem { kind, loc: Loc::new(file, *span) })
            }
            ast::Value::Set(items, _) => {
                let mut ok = true;
                for v in items {
                    ok &= self.flatten_into(file, v, out)?;
                }
                return Ok(ok);
            }
            ast::Value::Var(id) => {
                let name = id.text.strip_prefix('$').unwrap_or(&id.text);
                let use_loc = Loc::new(file, id.span);
                return match self.defined.get(name) {
                    Some(Def { loc, elems: Some(elems) }) => {
                        if out.len() + elems.len() > MAX_SET {
                            return Err(TooLarge);
                        }
                        let via =
                            Rc::new(VarUse { name: name.to_string(), use_loc, def_loc: *loc });
                        out.extend(elems.iter().map(|e| (e.clone(), Some(via.clone()))));
                        Ok(true)
                    }
                    Some(Def { elems: None, .. }) => Ok(false),
                    None => {
                        self.undefined(name, use_loc);
                        Ok(false)
                    }
                };
            }
        };
        let Some(elem) = elem else { return Ok(false) };
        if out.len() >= MAX_SET {
            return Err(TooLarge);
        }
        out.push((elem, None));
        Ok(true)
    }

    pub(super) fn undefined(&mut self, name: &str, at: Loc) {
        let d = match self.all_defines.get(name) {
            Some(&def) if Some(def) == self.defining => Diagnostic::new(
                codes::DEFINED_LATER,
                format!("`${name}` refers to itself"),
                at,
                "used in its own definition",
            )
            .with_help("a define can only use defines written above it"),
            Some(&def) => {
                let (line, _) = self.sources.get(def.file).line_col(def.span.start);
                Diagnostic::new(
                    codes::DEFINED_LATER,
                    format!("`${name}` is used before its definition"),
                    at,
                    format!("`${name}` is defined later, at line {line}"),
                )
                .with_related(def, "defined here")
                .with_help(format!("move the define of `${name}` above its first use"))
            }
            None => {
                let mut d = Diagnostic::new(
                    codes::UNDEFINED_NAME,
                    format!("undefined name `${name}`"),
                    at,
                    "not defined",
                );
                if let Some(n) = suggest(name, self.all_defines.keys().copied()) {
                    d.help = Some(format!("did you mean `${n}`?"));
                } else {
                    d.help = Some(format!("add `define {name} = ...` above this line"));
                }
                d
            }
        };
        self.error(d);
    }

    /// Whether the number `n` written at `loc` was too large to read: the
    /// grammar reported it (E0107) and read it as `u64::MAX`, so nothing
    /// more is said about it.
    pub(super) fn overflowed(&self, loc: Loc, n: u64) -> bool {
        n == u64::MAX && self.text(loc).parse::<u64>().is_err()
    }

    pub(super) fn atom(&mut self, file: FileId, a: &ast::Atom) -> Option<ElemKind> {
        let loc = Loc::new(file, a.span);
        Some(match &a.kind {
            AtomKind::Ipv4(ip) => {
                let v = u32::from(*ip) as u128;
                ElemKind::Addr { family: Family::V4, lo: v, hi: v, shape: AddrShape::Single }
            }
            AtomKind::Ipv6(ip) => {
                let v = u128::from(*ip);
                ElemKind::Addr { family: Family::V6, lo: v, hi: v, shape: AddrShape::Single }
            }
            AtomKind::Prefix4(ip, len) => {
                let (lo, hi) = self.prefix(loc, Family::V4, u32::from(*ip) as u128, *len, |v| {
                    std::net::Ipv4Addr::from(v as u32).to_string()
                })?;
                ElemKind::Addr { family: Family::V4, lo, hi, shape: AddrShape::Prefix }
            }
            AtomKind::Prefix6(ip, len) => {
                let (lo, hi) = self.prefix(loc, Family::V6, u128::from(*ip), *len, |v| {
                    std::net::Ipv6Addr::from(v).to_string()
                })?;
                ElemKind::Addr { family: Family::V6, lo, hi, shape: AddrShape::Prefix }
            }
            // Reported by the grammar already: one error, about what was written.
            AtomKind::Number(n) if self.overflowed(loc, *n) => return None,
            AtomKind::Number(n) => ElemKind::Num { lo: *n, hi: *n },
            AtomKind::Name(s) => ElemKind::Name(s.clone()),
            AtomKind::Str(s) => ElemKind::Str(s.clone()),
        })
    }

    /// The range a prefix covers; host bits set are an error, with the fix.
    pub(super) fn prefix(
        &mut self,
        loc: Loc,
        family: Family,
        addr: u128,
        len: u8,
        show: impl Fn(u128) -> String,
    ) -> Option<(u128, u128)> {
        let width: u32 = match family {
            Family::V4 => 32,
            Family::V6 => 128,
        };
        if u32::from(len) > width {
            let fam = if family == Family::V4 { "IPv4" } else { "IPv6" };
            self.error(
                Diagnostic::new(
                    codes::INVALID_PREFIX,
                    format!("prefix length {len} is too long for an {fam} address"),
                    loc,
                    format!("at most /{width}"),
                )
                .with_help(format!("{fam} prefixes go from /0 to /{width}")),
            );
            return None;
        }
        let host_bits = u32::from(len).abs_diff(width);
        let host_mask = if host_bits == 128 { u128::MAX } else { (1u128 << host_bits) - 1 };
        let lo = addr & !host_mask;
        let hi = lo | host_mask;
        if lo != addr {
            self.error(
                Diagnostic::new(
                    codes::HOST_BITS_SET,
                    format!("prefix `{}` has host bits set", self.text(loc)),
                    loc,
                    format!("the bits after the first {len} must be zero"),
                )
                .with_help(format!("did you mean `{}/{len}`?", show(lo))),
            );
        }
        Some((lo, hi))
    }

    pub(super) fn range(
        &mut self,
        file: FileId,
        a: &ast::Atom,
        b: &ast::Atom,
        span: Span,
    ) -> Option<ElemKind> {
        let loc = Loc::new(file, span);
        let ends = (self.atom(file, a)?, self.atom(file, b)?);
        let (lo, hi, kind) = match ends {
            (ElemKind::Num { lo, .. }, ElemKind::Num { hi, .. }) => {
                (lo as u128, hi as u128, ElemKind::Num { lo, hi })
            }
            (
                ElemKind::Addr { family: fa, lo, shape: AddrShape::Single, .. },
                ElemKind::Addr { family: fb, hi, shape: AddrShape::Single, .. },
            ) if fa == fb => {
                (lo, hi, ElemKind::Addr { family: fa, lo, hi, shape: AddrShape::Range })
            }
            (
                ElemKind::Addr { family: fa, shape: AddrShape::Single, .. },
                ElemKind::Addr { shape: AddrShape::Single, .. },
            ) => {
                let (x, y) = if fa == Family::V4 { ("IPv4", "IPv6") } else { ("IPv6", "IPv4") };
                self.error(
                    Diagnostic::new(
                        codes::MIXED_FAMILY_RANGE,
                        "a range cannot go from one address family to another",
                        loc,
                        format!("from an {x} to an {y} address"),
                    )
                    .with_help("write one range per family, in a set: `{ a-b, c-d }`"),
                );
                return None;
            }
            _ => {
                self.error(
                    Diagnostic::new(
                        codes::INVALID_RANGE,
                        format!("`{}` is not a range of numbers or of addresses", self.text(loc)),
                        loc,
                        "both ends must be numbers, or addresses of one family",
                    )
                    .with_help("write ranges as `1000-2000` or `10.0.0.1-10.0.0.9`"),
                );
                return None;
            }
        };
        if lo > hi {
            let (ta, tb) = (self.text(Loc::new(file, a.span)), self.text(Loc::new(file, b.span)));
            self.error(
                Diagnostic::new(
                    codes::REVERSED_RANGE,
                    format!("range `{}` goes from high to low", self.text(loc)),
                    loc,
                    "its start is above its end",
                )
                .with_help(format!("did you mean `{tb}-{ta}`?")),
            );
            return None;
        }
        Some(kind)
    }
}
