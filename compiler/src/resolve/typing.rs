//! Typing values: what a match field accepts, and the exact cubes a match
//! stands for.
//!
//! Values reach this module already flattened (sets and `$name`s expanded)
//! into [`Elem`]s whose intrinsic mistakes (host bits, reversed ranges) were
//! reported when they were read (`value.rs`). Here each element is checked
//! against the type its field needs, and the accepted ones become [`Cube`]s.

use std::collections::BTreeSet;
use std::rc::Rc;

use shriek_grammar::ast::{Field, IcmpPart, IcmpProto, PortProto};
use shriek_grammar::{Diagnostic, Loc, SourceMap};

use super::value::{AddrShape, Elem, ElemKind, VarUse};
use super::{codes, suggest};
use crate::nft::vocab::{icmp_codes, icmp_proto, icmp_types, value_of, PROTOCOLS, TCP_FLAGS};
use crate::space::flags::FlagsTest;
use crate::space::{
    name_char, CtState, CtStates, Cube, Families, Family, Intervals, NamePattern, Names, Protos,
    ICMP_MAX, MARK_MAX, NAME_MAX, PORT_MAX, PROTO_SCTP, PROTO_TCP, PROTO_UDP,
};

/// The kind of value a field needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ty {
    Addr,
    Port,
    Proto,
    Iface,
    Ct,
    Family,
    Icmp(IcmpProto, IcmpPart),
    TcpFlags,
    Mark,
}

impl Ty {
    pub fn of(field: Field) -> Ty {
        match field {
            Field::Saddr | Field::Daddr => Ty::Addr,
            Field::Port(..) => Ty::Port,
            Field::Proto => Ty::Proto,
            Field::Iif | Field::Oif => Ty::Iface,
            Field::CtState => Ty::Ct,
            Field::Family => Ty::Family,
            Field::Icmp(p, part) => Ty::Icmp(p, part),
            Field::TcpFlags => Ty::TcpFlags,
            Field::Mark => Ty::Mark,
        }
    }

    fn one(self) -> &'static str {
        match self {
            Ty::Addr => "an address",
            Ty::Port => "a port",
            Ty::Proto => "a protocol",
            Ty::Iface => "an interface name",
            Ty::Ct => "a conntrack state",
            Ty::Family => "an address family",
            Ty::Icmp(IcmpProto::Icmp, IcmpPart::Type) => "an ICMP type",
            Ty::Icmp(IcmpProto::Icmp, IcmpPart::Code) => "an ICMP code",
            Ty::Icmp(IcmpProto::Icmpv6, IcmpPart::Type) => "an ICMPv6 type",
            Ty::Icmp(IcmpProto::Icmpv6, IcmpPart::Code) => "an ICMPv6 code",
            Ty::TcpFlags => "a TCP flag",
            Ty::Mark => "a mark",
        }
    }

    fn many(self) -> &'static str {
        match self {
            Ty::Addr => "addresses",
            Ty::Port => "ports",
            Ty::Proto => "protocols",
            Ty::Iface => "interface names",
            Ty::Ct => "conntrack states",
            Ty::Family => "address families",
            Ty::Icmp(IcmpProto::Icmp, IcmpPart::Type) => "ICMP types",
            Ty::Icmp(IcmpProto::Icmp, IcmpPart::Code) => "ICMP codes",
            Ty::Icmp(IcmpProto::Icmpv6, IcmpPart::Type) => "ICMPv6 types",
            Ty::Icmp(IcmpProto::Icmpv6, IcmpPart::Code) => "ICMPv6 codes",
            Ty::TcpFlags => "TCP flags",
            Ty::Mark => "marks",
        }
    }
}

impl ElemKind {
    /// "a port number", "an IPv4 prefix": what the user wrote, in words.
    fn describe_one(&self) -> &'static str {
        match self {
            ElemKind::Addr { shape: AddrShape::Single, .. } => "an address",
            ElemKind::Addr { shape: AddrShape::Prefix, .. } => "a prefix",
            ElemKind::Addr { shape: AddrShape::Range, .. } => "an address range",
            ElemKind::Num { lo, hi } if lo == hi => "a port number",
            ElemKind::Num { .. } => "a port range",
            ElemKind::Name(_) => "the name",
            ElemKind::Str(_) => "the string",
        }
    }

    fn describe_many(&self) -> &'static str {
        match self {
            ElemKind::Addr { .. } => "addresses",
            ElemKind::Num { .. } => "ports",
            ElemKind::Name(_) => "names",
            ElemKind::Str(_) => "strings",
        }
    }
}

pub(crate) const SERVICES: &[(&str, u16)] = &[
    ("ftp-data", 20),
    ("ftp", 21),
    ("ssh", 22),
    ("telnet", 23),
    ("smtp", 25),
    ("domain", 53),
    ("dns", 53),
    ("bootps", 67),
    ("bootpc", 68),
    ("tftp", 69),
    ("http", 80),
    ("pop3", 110),
    ("ntp", 123),
    ("imap", 143),
    ("snmp", 161),
    ("bgp", 179),
    ("ldap", 389),
    ("https", 443),
    ("syslog", 514),
    ("submission", 587),
    ("ldaps", 636),
    ("imaps", 993),
    ("pop3s", 995),
    ("mysql", 3306),
    ("rdp", 3389),
    ("postgresql", 5432),
];

const FAMILIES: &[(&str, Family)] = &[("ipv4", Family::V4), ("ipv6", Family::V6)];

/// A field's value once typed.
pub(crate) enum Typed {
    Addr([Option<Intervals>; 2]),
    Port(Intervals),
    Proto(Protos),
    Iface(BTreeSet<String>),
    Ct(CtStates),
    Family(Families),
    /// ICMP type or code numbers.
    Icmp(Intervals),
    /// TCP flag bits, or'ed together: `syn,ack` is 0x12.
    TcpFlags(u8),
    /// Packet mark numbers.
    Mark(Intervals),
}

/// The family whose ICMP an `icmp`/`icmpv6` match reads.
pub(crate) fn icmp_family(p: IcmpProto) -> Family {
    match p {
        IcmpProto::Icmp => Family::V4,
        IcmpProto::Icmpv6 => Family::V6,
    }
}

/// "ICMP type", "ICMPv6 code": what one value of the match is.
fn icmp_noun(p: IcmpProto, part: IcmpPart) -> &'static str {
    match (p, part) {
        (IcmpProto::Icmp, IcmpPart::Type) => "ICMP type",
        (IcmpProto::Icmp, IcmpPart::Code) => "ICMP code",
        (IcmpProto::Icmpv6, IcmpPart::Type) => "ICMPv6 type",
        (IcmpProto::Icmpv6, IcmpPart::Code) => "ICMPv6 code",
    }
}

/// Keeps the numbers `lo..=hi` when they are at most `max.0`; otherwise
/// reports the one out of range, with `max.1` (the range in words) as help.
fn number_in(
    diags: &mut Vec<Diagnostic>,
    loc: Loc,
    ty: Ty,
    noun: &str,
    (lo, hi): (u64, u64),
    max: (u128, &str),
    nums: &mut Vec<(u128, u128)>,
) -> bool {
    if u128::from(hi) <= max.0 {
        nums.push((u128::from(lo), u128::from(hi)));
        return true;
    }
    let bad = if u128::from(lo) > max.0 { lo } else { hi };
    diags.push(
        Diagnostic::new(
            codes::VALUE_OUT_OF_RANGE,
            format!("{noun} {bad} is out of range"),
            loc,
            format!("not {}", ty.one()),
        )
        .with_help(format!("{} go from {}", ty.many(), max.1)),
    );
    false
}

/// A mark above 32 bits, in a match or in `mark set`: in hexadecimal, as
/// marks are written everywhere else.
pub(crate) fn mark_out_of_range(loc: Loc, value: u64) -> Diagnostic {
    Diagnostic::new(
        codes::VALUE_OUT_OF_RANGE,
        format!("mark {value:#x} is out of range"),
        loc,
        "not a mark",
    )
    .with_help("marks go from 0 to 0xffffffff (32 bits)")
}

/// The names nft gives the values of an `icmp`/`icmpv6` `type`/`code` match.
pub(crate) fn icmp_names(p: IcmpProto, part: IcmpPart) -> &'static [(&'static str, u8)] {
    match part {
        IcmpPart::Type => icmp_types(icmp_family(p)),
        IcmpPart::Code => icmp_codes(icmp_family(p)),
    }
}

/// Type every element for `field`; `None` when any was rejected (and reported).
pub(crate) fn type_elems(
    field: Field,
    elems: &[(Elem, Option<Rc<VarUse>>)],
    sources: &SourceMap,
    diags: &mut Vec<Diagnostic>,
) -> Option<Typed> {
    let ty = Ty::of(field);
    let field_name = field.keyword();
    let mut ok = true;
    // One type error per `$name` use, not one per element it holds.
    let mut reported_vars: Vec<Loc> = Vec::new();
    let mut v4 = Vec::new();
    let mut v6 = Vec::new();
    let mut nums = Vec::new();
    let mut protos = Protos::NONE;
    let mut names = BTreeSet::new();
    let mut ct = CtStates::NONE;
    let mut fams = Families::NONE;
    let mut flag_bits = 0u8;
    for (elem, via) in elems {
        let text = sources.get(elem.loc.file).slice(elem.loc.span);
        let mismatch = match (&elem.kind, ty) {
            (ElemKind::Addr { family, lo, hi, .. }, Ty::Addr) => {
                match family {
                    Family::V4 => v4.push((*lo, *hi)),
                    Family::V6 => v6.push((*lo, *hi)),
                }
                false
            }
            (ElemKind::Num { lo, hi }, Ty::Port) => {
                if *hi > PORT_MAX as u64 {
                    let bad = if *lo > PORT_MAX as u64 { lo } else { hi };
                    diags.push(
                        Diagnostic::new(
                            codes::VALUE_OUT_OF_RANGE,
                            format!("port {bad} is out of range"),
                            elem.loc,
                            "not a port",
                        )
                        .with_help("ports go from 0 to 65535"),
                    );
                    ok = false;
                } else {
                    nums.push((*lo as u128, *hi as u128));
                }
                false
            }
            (ElemKind::Name(name), Ty::Port) => {
                match SERVICES.iter().find(|(n, _)| n == name) {
                    Some((_, port)) => nums.push((*port as u128, *port as u128)),
                    None => {
                        let mut d = Diagnostic::new(
                            codes::UNKNOWN_VALUE,
                            format!("unknown service name `{name}`"),
                            elem.loc,
                            "not a known service",
                        );
                        d.help = Some(match suggest(name, SERVICES.iter().map(|(n, _)| *n)) {
                            Some(n) => format!("did you mean `{n}`?"),
                            None => "write the port number instead".into(),
                        });
                        diags.push(d);
                        ok = false;
                    }
                }
                false
            }
            (ElemKind::Num { lo, hi }, Ty::Proto) => {
                if *hi > 255 {
                    let bad = if *lo > 255 { lo } else { hi };
                    diags.push(
                        Diagnostic::new(
                            codes::VALUE_OUT_OF_RANGE,
                            format!("protocol number {bad} is out of range"),
                            elem.loc,
                            "not a protocol number",
                        )
                        .with_help("protocol numbers go from 0 to 255"),
                    );
                    ok = false;
                } else {
                    for p in *lo..=*hi {
                        protos.insert(p as u8);
                    }
                }
                false
            }
            (ElemKind::Name(name), Ty::Proto) => {
                match PROTOCOLS.iter().find(|(n, _)| n == name) {
                    Some((_, p)) => protos.insert(*p),
                    None => {
                        unknown(diags, elem.loc, "protocol", name, PROTOCOLS.iter().map(|p| p.0));
                        ok = false;
                    }
                }
                false
            }
            (ElemKind::Name(name) | ElemKind::Str(name), Ty::Iface) => {
                // `eth*` is every name that starts with `eth`; `*` alone, every name.
                let fixed = name.strip_suffix('*').unwrap_or(name);
                if let Some(bad) = fixed.chars().find(|c| !name_char(*c)) {
                    diags.push(
                        Diagnostic::new(
                            codes::INVALID_INTERFACE_NAME,
                            format!("interface name `{name}` holds `{}`", bad.escape_debug()),
                            elem.loc,
                            "not allowed in an interface name",
                        )
                        .with_help(
                            "interface names have no spaces, control characters, `/`, `:`, `\"` or `*` (a `*` only at the end means any rest: `eth*`)",
                        ),
                    );
                    ok = false;
                } else if name != "*" && fixed.is_empty() || fixed.len() > NAME_MAX {
                    let what = if name.is_empty() { "empty" } else { "too long" };
                    diags.push(
                        Diagnostic::new(
                            codes::INVALID_INTERFACE_NAME,
                            format!("interface name `{name}` is {what}"),
                            elem.loc,
                            format!("{} bytes", name.len()),
                        )
                        .with_help("Linux interface names have 1 to 15 bytes"),
                    );
                    ok = false;
                } else {
                    names.insert(name.clone());
                }
                false
            }
            (ElemKind::Name(name), Ty::Ct) => {
                match CtState::ALL.into_iter().find(|s| s.keyword() == name) {
                    Some(s) => ct = ct.union(CtStates::only(s)),
                    None => {
                        let all = CtState::ALL.map(CtState::keyword);
                        unknown(diags, elem.loc, "conntrack state", name, all);
                        ok = false;
                    }
                }
                false
            }
            (ElemKind::Num { lo, hi }, Ty::Icmp(p, part)) => {
                let noun = icmp_noun(p, part);
                let range = (ICMP_MAX, "0 to 255");
                ok &= number_in(diags, elem.loc, ty, noun, (*lo, *hi), range, &mut nums);
                false
            }
            (ElemKind::Num { lo, hi }, Ty::Mark) => {
                if u128::from(*hi) <= MARK_MAX {
                    nums.push((u128::from(*lo), u128::from(*hi)));
                } else {
                    let bad = if u128::from(*lo) > MARK_MAX { *lo } else { *hi };
                    diags.push(mark_out_of_range(elem.loc, bad));
                    ok = false;
                }
                false
            }
            (ElemKind::Name(name), Ty::Icmp(p, part)) => {
                let table = icmp_names(p, part);
                match value_of(table, name) {
                    Some(v) => nums.push((v as u128, v as u128)),
                    None => {
                        let what = icmp_noun(p, part);
                        unknown(diags, elem.loc, what, name, table.iter().map(|(n, _)| *n));
                        ok = false;
                    }
                }
                false
            }
            (ElemKind::Name(name), Ty::TcpFlags) => {
                match value_of(TCP_FLAGS, name) {
                    Some(bit) => flag_bits |= bit,
                    None => {
                        let known = TCP_FLAGS.iter().map(|(n, _)| *n);
                        unknown(diags, elem.loc, "TCP flag", name, known);
                        ok = false;
                    }
                }
                false
            }
            // A whole flags byte, as nft lists one (`tcp flags == 0x12`).
            (ElemKind::Num { lo, hi }, Ty::TcpFlags) if lo == hi => {
                match u8::try_from(*lo) {
                    Ok(b) => flag_bits |= b,
                    Err(_) => {
                        diags.push(
                            Diagnostic::new(
                                codes::VALUE_OUT_OF_RANGE,
                                format!("TCP flags {lo} is out of range"),
                                elem.loc,
                                "not a flags byte",
                            )
                            .with_help(
                                "the flags byte goes from 0 to 255; or name the flags: `syn,ack`",
                            ),
                        );
                        ok = false;
                    }
                }
                false
            }
            (ElemKind::Name(name), Ty::Family) => {
                match FAMILIES.iter().find(|(n, _)| n == name) {
                    Some((_, f)) => fams = fams.union(Families::only(*f)),
                    None => {
                        unknown(
                            diags,
                            elem.loc,
                            "address family",
                            name,
                            FAMILIES.iter().map(|f| f.0),
                        );
                        ok = false;
                    }
                }
                false
            }
            _ => true,
        };
        if !mismatch {
            continue;
        }
        ok = false;
        match via {
            Some(var) => {
                if reported_vars.contains(&var.use_loc) {
                    continue;
                }
                reported_vars.push(var.use_loc);
                diags.push(
                    Diagnostic::new(
                        codes::TYPE_MISMATCH,
                        format!(
                            "`${}` holds {}, but `{field_name}` needs {}",
                            var.name,
                            elem.kind.describe_many(),
                            ty.many()
                        ),
                        var.use_loc,
                        format!("this holds {}", elem.kind.describe_many()),
                    )
                    .with_related(var.def_loc, format!("`${}` is defined here", var.name)),
                );
            }
            None => {
                let mut d = Diagnostic::new(
                    codes::TYPE_MISMATCH,
                    format!("expected {}, found {} `{text}`", ty.one(), elem.kind.describe_one()),
                    elem.loc,
                    format!("`{field_name}` needs {}", ty.many()),
                );
                match (&elem.kind, ty) {
                    (ElemKind::Num { .. }, Ty::Iface) => {
                        d.help = Some(format!("write it as a string: `\"{text}\"`"));
                    }
                    // `mark set` with no mark after it reads as a match.
                    (ElemKind::Name(name), Ty::Mark) if name == "set" => {
                        d.help = Some("`mark set` needs the mark to set: `mark set 0x1`".into());
                    }
                    _ => {}
                }
                diags.push(d);
            }
        }
    }
    if !ok {
        return None;
    }
    Some(match ty {
        Ty::Addr => Typed::Addr([
            (!v4.is_empty()).then(|| Intervals::from_ranges(v4)),
            (!v6.is_empty()).then(|| Intervals::from_ranges(v6)),
        ]),
        Ty::Port => Typed::Port(Intervals::from_ranges(nums)),
        Ty::Proto => Typed::Proto(protos),
        Ty::Iface => Typed::Iface(names),
        Ty::Ct => Typed::Ct(ct),
        Ty::Family => Typed::Family(fams),
        Ty::Icmp(..) => Typed::Icmp(Intervals::from_ranges(nums)),
        Ty::TcpFlags => Typed::TcpFlags(flag_bits),
        Ty::Mark => Typed::Mark(Intervals::from_ranges(nums)),
    })
}

/// An unknown name of `what`, with the nearest known name or the list.
pub(super) fn unknown<'a>(
    diags: &mut Vec<Diagnostic>,
    loc: Loc,
    what: &str,
    name: &str,
    known: impl IntoIterator<Item = &'a str> + Clone,
) {
    let mut d = Diagnostic::new(
        codes::UNKNOWN_VALUE,
        format!("unknown {what} `{name}`"),
        loc,
        format!("not a known {what}"),
    );
    d.help = Some(match suggest(name, known.clone()) {
        Some(n) => format!("did you mean `{n}`?"),
        None => {
            let list: Vec<String> = known.into_iter().map(|k| format!("`{k}`")).collect();
            format!("expected one of {}", list.join(", "))
        }
    });
    diags.push(d);
}

/// The union of cubes a match stands for.
pub(crate) fn cubes(field: Field, negated: bool, typed: Typed) -> Vec<Cube> {
    let full = Cube::full();
    let out = match typed {
        Typed::Addr(per_family) => {
            let present: Vec<(Family, Intervals)> = Family::ALL
                .into_iter()
                .zip(per_family)
                .filter_map(|(f, iv)| iv.map(|iv| (f, iv)))
                .collect();
            if present.is_empty() {
                // An empty set: nothing matches it, so everything matches its negation.
                return if negated { vec![full] } else { Vec::new() };
            }
            present
                .into_iter()
                .map(|(family, iv)| {
                    let iv = if negated { iv.complement(family.max_addr()) } else { iv };
                    let mut cube = Cube { family: Families::only(family), ..full.clone() };
                    match field {
                        Field::Daddr => cube.daddr = Some(iv),
                        _ => cube.saddr = Some(iv),
                    }
                    cube
                })
                .collect()
        }
        Typed::Port(iv) => {
            let Field::Port(proto, dir) = field else {
                unreachable!("ports only type port fields")
            };
            let proto = match proto {
                PortProto::Tcp => PROTO_TCP,
                PortProto::Udp => PROTO_UDP,
                PortProto::Sctp => PROTO_SCTP,
            };
            let iv = if negated { iv.complement(PORT_MAX) } else { iv };
            let mut cube = Cube { proto: Protos::only(proto), ..full };
            match dir {
                shriek_grammar::ast::PortDir::Sport => cube.sport = Some(iv),
                shriek_grammar::ast::PortDir::Dport => cube.dport = Some(iv),
            }
            vec![cube]
        }
        Typed::Proto(p) => crate::space::proto_space(p, negated),
        Typed::Iface(set) => {
            let patterns: Vec<NamePattern> = set.iter().map(|n| NamePattern::parse(n)).collect();
            let names = Names::of(&patterns, negated);
            match field {
                Field::Oif => vec![Cube { oif: names, ..full }],
                _ => vec![Cube { iif: names, ..full }],
            }
        }
        Typed::Ct(s) => vec![Cube { ct: if negated { s.complement() } else { s }, ..full }],
        Typed::Icmp(iv) => {
            let Field::Icmp(proto, part) = field else {
                unreachable!("ICMP values only type ICMP fields")
            };
            let family = icmp_family(proto);
            let iv = if negated { iv.complement(ICMP_MAX) } else { iv };
            let mut cube = Cube {
                family: Families::only(family),
                proto: Protos::only(icmp_proto(family)),
                ..full
            };
            match part {
                IcmpPart::Type => cube.icmp_type = Some(iv),
                IcmpPart::Code => cube.icmp_code = Some(iv),
            }
            vec![cube]
        }
        // Only reached without the match's form (`resolve/flags.rs` has
        // it): read as `tcp flags F` (`!=`: not exactly F).
        Typed::TcpFlags(bits) => {
            let test = if negated {
                FlagsTest { mask: u8::MAX, value: bits, negated: true }
            } else {
                FlagsTest { mask: bits, value: 0, negated: true }
            };
            vec![super::flags::flags_cube(test)]
        }
        Typed::Mark(iv) => {
            // Every packet has a mark, whatever its family or protocol.
            let iv = if negated { iv.complement(MARK_MAX) } else { iv };
            vec![Cube { mark: Some(iv), ..full }]
        }
        Typed::Family(f) => {
            vec![Cube { family: if negated { Families::ALL.subtract(f) } else { f }, ..full }]
        }
    };
    out.into_iter().filter(|c| !c.is_empty()).collect()
}
