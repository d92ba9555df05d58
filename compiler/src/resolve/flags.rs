//! `tcp flags`: nft's four forms, each the exact set of flags bytes it
//! admits (`space::flags`), and the spellings nft would read otherwise.
//!
//! - `tcp flags syn,ack`: any of them is set;
//! - `tcp flags ! syn,ack`: none of them is;
//! - `tcp flags == syn,ack` (`!=`): the byte is exactly these flags (or not);
//! - `tcp flags syn / syn,ack,rst,fin` (`!=`): the byte masked with the
//!   flags after `/` is exactly the flags before it (or not).

use shriek_grammar::ast::{self, FlagsOp};
use shriek_grammar::{Diagnostic, FileId, Loc};

use super::{codes, typing, Ctx};
use crate::space::flags::FlagsTest;
use crate::space::{Cube, Protos, PROTO_TCP};

impl<'a> Ctx<'a> {
    /// The cubes of a `tcp flags` match; `None` when it was reported.
    pub(super) fn flags_space(
        &mut self,
        file: FileId,
        m: &'a ast::Match,
        form: &'a ast::FlagsForm,
    ) -> Option<Vec<Cube>> {
        let value = self.flag_bits(file, &m.value);
        let mask = form.mask.as_ref().map(|v| (v, self.flag_bits(file, v)));
        let value = value?;
        let negated = m.negated.is_some();
        let test = match (form.op, mask) {
            (_, Some((_, None))) => return None,
            (FlagsOp::AnyOf, Some((mask_value, Some(mask)))) => {
                if value & !mask != 0 {
                    let outside = crate::nft::vocab::tcp_flag_names(value & !mask).join(",");
                    self.error(
                        Diagnostic::new(
                            codes::TCP_FLAGS_FORM,
                            format!("`{outside}` is outside the mask: this match never holds"),
                            Loc::new(file, m.value.span()),
                            "flags the mask clears",
                        )
                        .with_related(Loc::new(file, mask_value.span()), "the mask")
                        .with_help(format!(
                            "add `{outside}` to the mask, or leave it out of the flags"
                        )),
                    );
                    return None;
                }
                FlagsTest { mask, value, negated }
            }
            (FlagsOp::Exact(at) | FlagsOp::NoneOf(at), Some(_)) => {
                self.error(
                    Diagnostic::new(
                        codes::TCP_FLAGS_FORM,
                        "a masked `tcp flags` match takes no `==` or `!`",
                        Loc::new(file, at),
                        "not with a mask",
                    )
                    .with_help("write `tcp flags syn / syn,ack` (or `!=` for the opposite)"),
                );
                return None;
            }
            (FlagsOp::AnyOf, None) if negated => FlagsTest { mask: u8::MAX, value, negated: true },
            (FlagsOp::AnyOf, None) => {
                if value == 0 {
                    // `tcp flags 0` would be any of no flag: never.
                    self.never_holds(file, m);
                    return None;
                }
                FlagsTest { mask: value, value: 0, negated: true }
            }
            (FlagsOp::Exact(_), None) => FlagsTest { mask: u8::MAX, value, negated: false },
            (FlagsOp::NoneOf(_), None) => {
                if value == 0 {
                    self.never_holds(file, m);
                    return None;
                }
                FlagsTest { mask: value, value: 0, negated: false }
            }
        };
        Some(vec![flags_cube(test)])
    }

    /// The flags of a `tcp flags` value or mask or'ed together; `None`
    /// when reported. A braced set is refused: nft reads `tcp flags { syn,
    /// ack }` as "exactly syn or exactly ack", the language's comma list
    /// as "syn or ack set".
    fn flag_bits(&mut self, file: FileId, value: &'a ast::Value) -> Option<u8> {
        let loc = Loc::new(file, value.span());
        if self.text(loc).starts_with('{') {
            let inner =
                self.text(loc).trim_matches(|c: char| c == '{' || c == '}' || c.is_whitespace());
            let list: Vec<&str> = inner.split(',').map(str::trim).collect();
            self.error(
                Diagnostic::new(
                    codes::TCP_FLAGS_FORM,
                    "`tcp flags` takes its flags as a list, not a set",
                    loc,
                    "braces would mean one of these exact bytes in nft",
                )
                .with_help(format!(
                    "write `tcp flags {}` for any of them set, or `== {}` for exactly these",
                    list.join(","),
                    list.join(",")
                )),
            );
            return None;
        }
        let mut elems = Vec::new();
        if !self.flatten(file, value, &mut elems) {
            return None;
        }
        match typing::type_elems(ast::Field::TcpFlags, &elems, self.sources, &mut self.diags)? {
            typing::Typed::TcpFlags(bits) => Some(bits),
            _ => None,
        }
    }

    fn never_holds(&mut self, file: FileId, m: &ast::Match) {
        self.error(
            Diagnostic::new(
                codes::TCP_FLAGS_FORM,
                "a flags byte of 0 has no flag to test: this match never holds",
                Loc::new(file, m.value.span()),
                "no flag",
            )
            .with_help("for packets without any flag write `tcp flags == 0`"),
        );
    }
}

/// The TCP packets whose flags byte passes `test`.
pub(super) fn flags_cube(test: FlagsTest) -> Cube {
    Cube { proto: Protos::only(PROTO_TCP), tcp_flags: Some(test.bytes()), ..Cube::full() }
}
