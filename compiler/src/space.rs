//! Exact match spaces: the algebra the analysis and the lowering share.
//!
//! A packet is a point in the product of a few finite or integer fields
//! ([`Packet`]). A [`Cube`] is a product of one set per field; a rule's match
//! space is a union of cubes ([`Space`]). Everything here is exact: no
//! sampling, no approximation.
//!
//! Two couplings between fields are kept as invariants of a well-formed cube
//! rather than in the representation:
//! - a restricted `saddr`/`daddr` only appears with a single `family`, and is
//!   read in that family's address width;
//! - a restricted `sport`/`dport` only appears with `proto` inside
//!   `{tcp, udp, sctp}`, the protocols that have ports;
//! - a restricted `icmp_type`/`icmp_code` only appears with `proto` one of
//!   icmp (and family IPv4) or icmpv6 (and family IPv6), whose type and code
//!   numbers it is read as;
//! - a restricted `tcp_flags` only appears with `proto` exactly tcp.
//!
//! `mark` couples to nothing: every packet of every family has one.
//!
//! One coupling is in the packets themselves: no IPv6 packet has an
//! extension header the kernel reads past (`IPV6_SKIPPED_HEADERS`: 0, 43,
//! 44, 60) as its protocol. A cube may still hold such points (`proto 0`
//! holds IPv4 packets, a cube of every protocol both families); they are
//! no packets, so every test here ignores them: a cube of them alone is
//! empty, and neither meets, nor needs covering by, another.
//!
//! [`Cube::subtract`] splits on `family` and `proto` before the fields that
//! depend on them, so it preserves both invariants.

mod fields;
pub mod flags;
mod names;
pub mod words;

pub use crate::nft::vocab::{PROTO_ICMP, PROTO_ICMPV6, PROTO_SCTP, PROTO_TCP, PROTO_UDP};
pub use fields::{CtState, CtStates, Families, Family, Intervals, Protos};
pub use names::{name_char, NameMatch, NamePattern, Names, NAME_MAX};

/// The largest port.
pub const PORT_MAX: u128 = 65535;
/// ICMP type and code are one byte each.
pub const ICMP_MAX: u128 = 255;
/// The TCP flags are one byte.
pub const TCP_FLAGS_MAX: u128 = 255;
/// The packet mark is 32 bits.
pub const MARK_MAX: u128 = u32::MAX as u128;

/// A product of one set per packet field. See the module docs for the two
/// invariants a well-formed cube keeps.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Cube {
    pub family: Families,
    pub proto: Protos,
    /// Read in the width of the cube's single family; `None` means any address.
    pub saddr: Option<Intervals>,
    pub daddr: Option<Intervals>,
    /// `None` means any port (and any protocol, with or without ports).
    pub sport: Option<Intervals>,
    pub dport: Option<Intervals>,
    pub iif: Names,
    pub oif: Names,
    pub ct: CtStates,
    /// `None` means any type (and any protocol, ICMP or not).
    pub icmp_type: Option<Intervals>,
    pub icmp_code: Option<Intervals>,
    /// The TCP flags bytes; `None` means any (and any protocol).
    pub tcp_flags: Option<Intervals>,
    /// The packet's mark as this chain sees it; `None` means any mark.
    pub mark: Option<Intervals>,
}

impl Cube {
    /// Every packet.
    pub fn full() -> Cube {
        Cube {
            family: Families::ALL,
            proto: Protos::ALL,
            saddr: None,
            daddr: None,
            sport: None,
            dport: None,
            iif: Names::any(),
            oif: Names::any(),
            ct: CtStates::ALL,
            icmp_type: None,
            icmp_code: None,
            tcp_flags: None,
            mark: None,
        }
    }

    /// How many intervals the cube's fields hold in all, at least one: what
    /// comparing it with another cube costs, about.
    pub fn intervals(&self) -> usize {
        let of = |f: &Option<Intervals>| f.as_ref().map_or(0, |s| s.ranges().len());
        1 + of(&self.saddr)
            + of(&self.daddr)
            + of(&self.sport)
            + of(&self.dport)
            + of(&self.icmp_type)
            + of(&self.icmp_code)
            + of(&self.tcp_flags)
            + of(&self.mark)
            + self.iif.intervals()
            + self.oif.intervals()
    }

    pub fn is_empty(&self) -> bool {
        !some_packet(self.family, self.proto)
            || self.saddr.as_ref().is_some_and(Intervals::is_empty)
            || self.daddr.as_ref().is_some_and(Intervals::is_empty)
            || self.sport.as_ref().is_some_and(Intervals::is_empty)
            || self.dport.as_ref().is_some_and(Intervals::is_empty)
            || self.iif.is_empty()
            || self.oif.is_empty()
            || self.ct.is_empty()
            || self.icmp_type.as_ref().is_some_and(Intervals::is_empty)
            || self.icmp_code.as_ref().is_some_and(Intervals::is_empty)
            || self.tcp_flags.as_ref().is_some_and(Intervals::is_empty)
            || self.mark.as_ref().is_some_and(Intervals::is_empty)
    }

    /// Whether the cube holds no packet only because no IPv6 packet has an
    /// extension header as its protocol (`family ipv6 proto 0`): with any
    /// protocol it would hold some.
    pub fn only_ipv6_extension_headers(&self) -> bool {
        self.is_empty()
            && !self.proto.is_empty()
            && !Cube { proto: Protos::ALL, ..self.clone() }.is_empty()
    }

    pub fn intersect(&self, o: &Cube) -> Cube {
        Cube {
            family: self.family.intersect(o.family),
            proto: self.proto.intersect(o.proto),
            saddr: meet(&self.saddr, &o.saddr),
            daddr: meet(&self.daddr, &o.daddr),
            sport: meet(&self.sport, &o.sport),
            dport: meet(&self.dport, &o.dport),
            iif: self.iif.intersect(&o.iif),
            oif: self.oif.intersect(&o.oif),
            ct: self.ct.intersect(o.ct),
            icmp_type: meet(&self.icmp_type, &o.icmp_type),
            icmp_code: meet(&self.icmp_code, &o.icmp_code),
            tcp_flags: meet(&self.tcp_flags, &o.tcp_flags),
            mark: meet(&self.mark, &o.mark),
        }
    }

    /// Whether some packet is in both cubes. Cheap: it builds nothing.
    pub fn intersects(&self, o: &Cube) -> bool {
        some_packet(self.family.intersect(o.family), self.proto.intersect(o.proto))
            && !self.ct.intersect(o.ct).is_empty()
            && meets(&self.dport, &o.dport)
            && meets(&self.saddr, &o.saddr)
            && meets(&self.daddr, &o.daddr)
            && meets(&self.sport, &o.sport)
            && meets(&self.icmp_type, &o.icmp_type)
            && meets(&self.icmp_code, &o.icmp_code)
            && meets(&self.tcp_flags, &o.tcp_flags)
            && meets(&self.mark, &o.mark)
            && self.iif.meets(&o.iif)
            && self.oif.meets(&o.oif)
    }

    /// Whether every packet of `o` is in this cube.
    pub fn covers(&self, o: &Cube) -> bool {
        fn ivs(a: &Option<Intervals>, b: &Option<Intervals>, max: u128) -> bool {
            match (a, b) {
                (None, _) => true,
                (Some(x), None) => x.is_full(max),
                (Some(x), Some(y)) => y.is_subset(x),
            }
        }
        let addr_max = o.family.single().map_or(u128::MAX, Family::max_addr);
        // Family by family, the protocols of `o` that some packet has.
        let protos_covered = o.family.iter().all(|f| {
            let mine = o.proto.intersect(Protos::of_family(f));
            mine.is_empty() || (self.family.contains(f) && mine.subtract(self.proto).is_empty())
        });
        protos_covered
            && o.ct.subtract(self.ct).is_empty()
            && ivs(&self.dport, &o.dport, PORT_MAX)
            && ivs(&self.saddr, &o.saddr, addr_max)
            && ivs(&self.daddr, &o.daddr, addr_max)
            && ivs(&self.sport, &o.sport, PORT_MAX)
            && ivs(&self.icmp_type, &o.icmp_type, ICMP_MAX)
            && ivs(&self.icmp_code, &o.icmp_code, ICMP_MAX)
            && ivs(&self.tcp_flags, &o.tcp_flags, TCP_FLAGS_MAX)
            && ivs(&self.mark, &o.mark, MARK_MAX)
            && self.iif.covers(&o.iif)
            && self.oif.covers(&o.oif)
    }

    /// `self - o` as disjoint well-formed cubes (at most one per field).
    pub fn subtract(&self, o: &Cube) -> Vec<Cube> {
        if self.is_empty() {
            return Vec::new();
        }
        if !self.intersects(o) {
            return vec![self.clone()];
        }
        let mut out = Vec::new();
        let mut rest = self.clone();
        // Family and proto first: the address and port fields depend on them.
        let fam_out = rest.family.subtract(o.family);
        if !fam_out.is_empty() {
            out.push(Cube { family: fam_out, ..rest.clone() });
            rest.family = rest.family.intersect(o.family);
        }
        let proto_out = rest.proto.subtract(o.proto);
        if !proto_out.is_empty() {
            out.push(Cube { proto: proto_out, ..rest.clone() });
            rest.proto = rest.proto.intersect(o.proto);
        }
        let fam = rest.family.single();
        let addr_max = fam.map_or(u128::MAX, Family::max_addr);
        split_intervals(&mut out, &mut rest, o, addr_max, |c| &mut c.saddr, |c| &c.saddr);
        split_intervals(&mut out, &mut rest, o, addr_max, |c| &mut c.daddr, |c| &c.daddr);
        split_intervals(&mut out, &mut rest, o, PORT_MAX, |c| &mut c.sport, |c| &c.sport);
        split_intervals(&mut out, &mut rest, o, PORT_MAX, |c| &mut c.dport, |c| &c.dport);
        split_intervals(&mut out, &mut rest, o, ICMP_MAX, |c| &mut c.icmp_type, |c| &c.icmp_type);
        split_intervals(&mut out, &mut rest, o, ICMP_MAX, |c| &mut c.icmp_code, |c| &c.icmp_code);
        split_intervals(
            &mut out,
            &mut rest,
            o,
            TCP_FLAGS_MAX,
            |c| &mut c.tcp_flags,
            |c| &c.tcp_flags,
        );
        split_intervals(&mut out, &mut rest, o, MARK_MAX, |c| &mut c.mark, |c| &c.mark);
        let iif_out = rest.iif.subtract(&o.iif);
        if !iif_out.is_empty() {
            out.push(Cube { iif: iif_out, ..rest.clone() });
            rest.iif = rest.iif.intersect(&o.iif);
        }
        let oif_out = rest.oif.subtract(&o.oif);
        if !oif_out.is_empty() {
            out.push(Cube { oif: oif_out, ..rest.clone() });
            rest.oif = rest.oif.intersect(&o.oif);
        }
        let ct_out = rest.ct.subtract(o.ct);
        if !ct_out.is_empty() {
            out.push(Cube { ct: ct_out, ..rest });
        }
        // A piece split off on family or protocol may hold no packet (IPv6
        // and an extension header's number only).
        out.retain(|c| !c.is_empty());
        out
    }

    pub fn contains(&self, p: &Packet) -> bool {
        self.family.contains(p.family)
            && self.proto.contains(p.proto)
            && self.saddr.as_ref().is_none_or(|s| s.contains(p.saddr))
            && self.daddr.as_ref().is_none_or(|s| s.contains(p.daddr))
            && self.sport.as_ref().is_none_or(|s| p.sport.is_some_and(|v| s.contains(v as u128)))
            && self.dport.as_ref().is_none_or(|s| p.dport.is_some_and(|v| s.contains(v as u128)))
            && self.iif.contains(&p.iif)
            && self.oif.contains(&p.oif)
            && self.ct.contains(p.ct)
            && byte_in(&self.icmp_type, p.icmp_type)
            && byte_in(&self.icmp_code, p.icmp_code)
            && byte_in(&self.tcp_flags, p.tcp_flags)
            && self.mark.as_ref().is_none_or(|s| s.contains(p.mark as u128))
    }

    /// The cube's lowest (or highest) packet in every field: two packets
    /// that, when no cube of a set holds one of them, prove the set does
    /// not cover this cube.
    pub fn corner(&self, high: bool) -> Packet {
        let pick = |lo: Option<u128>, hi: Option<u128>| if high { hi } else { lo };
        let ends =
            |s: &Intervals| pick(s.ranges().first().map(|r| r.0), s.ranges().last().map(|r| r.1));
        // A family and a protocol that some packet has together.
        let real = |f: &Family| some_packet(Families::only(*f), self.proto);
        let family = if high {
            self.family.iter().filter(real).last()
        } else {
            self.family.iter().find(real)
        };
        let family = family.unwrap_or(Family::V4);
        let protos = self.proto.intersect(Protos::of_family(family));
        let proto = if high { protos.iter().last() } else { protos.iter().next() };
        let proto = proto.unwrap_or(0);
        let addr = |f: &Option<Intervals>| match f {
            Some(s) => ends(s).unwrap_or(0),
            None if high => family.max_addr(),
            None => 0,
        };
        let has_ports = Protos::with_ports().contains(proto);
        let port = |f: &Option<Intervals>| {
            has_ports.then(|| match f {
                Some(s) => ends(s).unwrap_or(0) as u16,
                None if high => PORT_MAX as u16,
                None => 0,
            })
        };
        let name = |n: &Names| n.sample(high);
        let ct = if high { self.ct.iter().last() } else { self.ct.iter().next() };
        let icmp = proto == PROTO_ICMP || proto == PROTO_ICMPV6;
        let byte = |f: &Option<Intervals>| {
            icmp.then(|| match f {
                Some(s) => ends(s).unwrap_or(0) as u8,
                None if high => u8::MAX,
                None => 0,
            })
        };
        let tcp = proto == PROTO_TCP;
        let flags = tcp.then(|| match &self.tcp_flags {
            Some(s) => ends(s).unwrap_or(0) as u8,
            None if high => u8::MAX,
            None => 0,
        });
        Packet {
            family,
            proto,
            saddr: addr(&self.saddr),
            daddr: addr(&self.daddr),
            sport: port(&self.sport),
            dport: port(&self.dport),
            iif: name(&self.iif),
            oif: name(&self.oif),
            ct: ct.unwrap_or(CtState::New),
            icmp_type: byte(&self.icmp_type),
            icmp_code: byte(&self.icmp_code),
            tcp_flags: flags,
            mark: match &self.mark {
                Some(s) => ends(s).unwrap_or(0) as u32,
                None if high => u32::MAX,
                None => 0,
            },
        }
    }
}

/// Whether some packet has a family of `family` and a protocol of `proto`.
fn some_packet(family: Families, proto: Protos) -> bool {
    family.iter().any(|f| !proto.intersect(Protos::of_family(f)).is_empty())
}

/// Whether a packet's optional byte field is in an optional set: any
/// packet when unrestricted, only packets that have the field otherwise.
fn byte_in(set: &Option<Intervals>, v: Option<u8>) -> bool {
    set.as_ref().is_none_or(|s| v.is_some_and(|v| s.contains(v as u128)))
}

fn meet(a: &Option<Intervals>, b: &Option<Intervals>) -> Option<Intervals> {
    match (a, b) {
        (None, x) | (x, None) => x.clone(),
        (Some(a), Some(b)) => Some(a.intersect(b)),
    }
}

fn meets(a: &Option<Intervals>, b: &Option<Intervals>) -> bool {
    match (a, b) {
        (None, None) => true,
        (None, Some(x)) | (Some(x), None) => !x.is_empty(),
        (Some(a), Some(b)) => a.intersects(b),
    }
}

/// One step of box subtraction on an optional interval field.
fn split_intervals(
    out: &mut Vec<Cube>,
    rest: &mut Cube,
    o: &Cube,
    max: u128,
    field: impl Fn(&mut Cube) -> &mut Option<Intervals>,
    other: impl Fn(&Cube) -> &Option<Intervals>,
) {
    let Some(theirs) = other(o) else { return };
    let mine = field(rest).clone().unwrap_or_else(|| Intervals::range(0, max));
    let outside = mine.subtract(theirs);
    if !outside.is_empty() {
        let mut piece = rest.clone();
        *field(&mut piece) = Some(outside);
        out.push(piece);
    }
    *field(rest) = Some(mine.intersect(theirs));
}

/// A union of cubes: the exact set of packets a rule matches.
pub type Space = Vec<Cube>;

/// The ICMP of each family: `icmp` (1) belongs to IPv4 and `icmpv6` (58) to
/// IPv6 (docs/language.md, protocol names).
pub fn icmp_of(f: Family) -> u8 {
    match f {
        Family::V4 => PROTO_ICMP,
        Family::V6 => PROTO_ICMPV6,
    }
}

/// The packets `proto P` matches (`negated`: `proto != P`).
///
/// Each ICMP pins the family to its own: `proto icmp` matches IPv4 packets
/// of protocol 1 and no IPv6 packet, even one whose next header is 1 (which
/// nft's bare `meta l4proto icmp` would match in an `inet` table, so the
/// lowering says `meta nfproto ipv4` from the cube's family). `proto != P`
/// matches exactly the packets `proto P` does not: `proto != icmp` matches
/// that IPv6 packet. Every other protocol matches in both families.
pub fn proto_space(p: Protos, negated: bool) -> Space {
    let mut icmps = Protos::NONE;
    for f in Family::ALL {
        icmps.insert(icmp_of(f));
    }
    let either = if negated { p.complement() } else { p.subtract(icmps) };
    let mut out = vec![Cube { proto: either, ..Cube::full() }];
    for f in Family::ALL {
        // Its own ICMP when `P` holds it; negated, the other family's,
        // which `proto P` never matches in this family.
        let other = icmp_of(if f == Family::V4 { Family::V6 } else { Family::V4 });
        let pick = if negated { other } else { icmp_of(f) };
        if p.contains(pick) {
            out.push(Cube { family: Families::only(f), proto: Protos::only(pick), ..Cube::full() });
        }
    }
    out.retain(|c| !c.is_empty());
    out
}

/// The packets in both unions, as a union of their cubes' intersections.
pub fn intersect(a: &[Cube], b: &[Cube]) -> Space {
    let mut out = Vec::new();
    for x in a {
        for y in b {
            if x.intersects(y) {
                out.push(x.intersect(y));
            }
        }
    }
    out
}

/// [`intersect`] for the matches of one rule: it also keeps the pieces
/// that hold no packet only because no IPv6 packet has an extension header
/// as its protocol ([`Cube::only_ipv6_extension_headers`]), so that the
/// analysis can say why such a rule matches nothing. Every user of a
/// rule's space skips empty cubes.
pub fn intersect_matches(a: &[Cube], b: &[Cube]) -> Space {
    let mut out = Vec::new();
    for x in a {
        for y in b {
            if x.intersects(y) {
                out.push(x.intersect(y));
            } else if !some_packet(x.family.intersect(y.family), x.proto.intersect(y.proto)) {
                let piece = x.intersect(y);
                if piece.only_ipv6_extension_headers() {
                    out.push(piece);
                }
            }
        }
    }
    out
}

/// `a - b` as disjoint cubes (when `a`'s are), or `None` once the pieces
/// would pass `cap`: subtraction can split a cube into one piece per field
/// for every cube it takes away.
pub fn subtract(a: &[Cube], b: &[Cube], cap: usize) -> Option<Space> {
    subtract_within(a, b, cap, &mut |_, _| true)
}

/// [`subtract`], asking `afford(left, o)` before each step that compares
/// the pieces `left` with the cube `o` of `b`: `None` also when it says no.
/// The analysis counts its work this way (`analysis/budget.rs`).
pub fn subtract_within(
    a: &[Cube],
    b: &[Cube],
    cap: usize,
    afford: &mut dyn FnMut(&[Cube], &Cube) -> bool,
) -> Option<Space> {
    let mut left: Space = a.iter().filter(|c| !c.is_empty()).cloned().collect();
    for o in b {
        if !afford(&left, o) {
            return None;
        }
        if !left.iter().any(|f| f.intersects(o)) {
            continue;
        }
        let mut next = Vec::with_capacity(left.len());
        for f in left {
            if f.intersects(o) {
                next.extend(f.subtract(o));
            } else {
                next.push(f);
            }
        }
        if next.len() > cap {
            return None;
        }
        left = next;
        if left.is_empty() {
            break;
        }
    }
    Some(left)
}

/// One concrete packet, as the evaluators and `trace` see it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Packet {
    pub family: Family,
    pub proto: u8,
    /// In the family's width: an IPv4 address is a value below 2^32.
    pub saddr: u128,
    pub daddr: u128,
    /// `None` for protocols without ports.
    pub sport: Option<u16>,
    pub dport: Option<u16>,
    /// Interface names; empty where the hook has none (no `oif` on input).
    pub iif: String,
    pub oif: String,
    pub ct: CtState,
    /// ICMP type and code, for icmp and icmpv6 packets; `None` otherwise.
    pub icmp_type: Option<u8>,
    pub icmp_code: Option<u8>,
    /// The TCP flags byte, for tcp packets; `None` otherwise.
    pub tcp_flags: Option<u8>,
    /// The packet's mark (`meta mark`): 0 unless a rule or a program set one.
    pub mark: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ports(lo: u128, hi: u128) -> Cube {
        Cube {
            proto: Protos::only(PROTO_TCP),
            dport: Some(Intervals::range(lo, hi)),
            ..Cube::full()
        }
    }

    #[test]
    fn union_of_two_ranges_covers_a_third() {
        let third = ports(500, 1500);
        let mut left = vec![third];
        for blocker in [ports(1, 1000), ports(1001, 2000)] {
            left = left.iter().flat_map(|c| c.subtract(&blocker)).collect();
        }
        assert!(left.is_empty(), "{left:?}");
    }

    #[test]
    fn partial_overlap_leaves_the_rest() {
        let left = ports(500, 1500).subtract(&ports(1, 1000));
        assert_eq!(left, vec![ports(1001, 1500)]);
    }

    #[test]
    fn subtracting_a_v4_prefix_keeps_v6_whole() {
        let v4 = Cube {
            family: Families::only(Family::V4),
            saddr: Some(Intervals::range(10 << 24, (11 << 24) - 1)),
            ..Cube::full()
        };
        let left = Cube::full().subtract(&v4);
        assert_eq!(left.len(), 2);
        assert_eq!(left[0].family, Families::only(Family::V6));
        assert_eq!(left[0].saddr, None);
        assert_eq!(left[1].family, Families::only(Family::V4));
        assert_eq!(left[1].saddr.as_ref().map(Intervals::count), Some((1u128 << 32) - (1 << 24)));
    }

    #[test]
    fn covers_and_intersects_agree_with_subtract() {
        let wide = ports(1, 1000);
        let narrow = Cube { iif: Names::exact("eth0"), ..ports(10, 20) };
        assert!(wide.covers(&narrow) && !narrow.covers(&wide));
        assert!(wide.intersects(&narrow) && narrow.subtract(&wide).is_empty());
        let apart = ports(2000, 3000);
        assert!(!wide.intersects(&apart) && !wide.covers(&apart));
        let (wide, apart) = (std::slice::from_ref(&wide), std::slice::from_ref(&apart));
        assert_eq!(intersect(wide, apart), Vec::<Cube>::new());
        assert_eq!(subtract(wide, apart, 10), Some(wide.to_vec()));
    }

    #[test]
    fn no_ipv6_packet_has_an_extension_header_as_its_protocol() {
        let v6 = |proto: Protos| Cube { family: Families::only(Family::V6), proto, ..Cube::full() };
        let mut headers = Protos::NONE;
        [0, 43, 44, 60].into_iter().for_each(|p| headers.insert(p));
        assert!(v6(headers).is_empty() && v6(headers).only_ipv6_extension_headers());
        let v4_too = Cube { proto: headers, ..Cube::full() };
        assert!(!v4_too.is_empty() && !v4_too.intersects(&v6(Protos::ALL)));
        // Every other protocol covers every IPv6 packet, and leaves none.
        let rest = v6(headers.complement());
        assert!(rest.covers(&v6(Protos::ALL)));
        assert_eq!(v6(Protos::ALL).subtract(&rest), Vec::<Cube>::new());
        // What is left of both families is IPv4 packets of those protocols.
        assert_eq!(v4_too.subtract(&rest), vec![v4_too.clone()]);
        assert_eq!(Cube::full().subtract(&rest).len(), 1);
        // A witness packet is one that exists.
        assert_eq!(v6(Protos::ALL).corner(false).proto, 1);
        assert_eq!(v4_too.corner(true).family, Family::V4);
    }

    #[test]
    fn subtract_stops_at_its_cap() {
        // Each hole (one port on one interface) splits off one more piece:
        // that port on the other interfaces.
        let hole = |i: u128| Cube { iif: Names::exact(&format!("if{i}")), ..ports(i, i) };
        let holes: Vec<Cube> = (0..20).map(hole).collect();
        assert_eq!(subtract(&[ports(0, 100)], &holes, 100).map(|s| s.len()), Some(21));
        assert_eq!(subtract(&[ports(0, 100)], &holes, 10), None);
    }

    #[test]
    fn interval_complement_and_subset() {
        let s = Intervals::from_ranges([(5, 9), (0, 2), (10, 12)]);
        assert_eq!(s.ranges(), &[(0, 2), (5, 12)]);
        assert_eq!(s.complement(20).ranges(), &[(3, 4), (13, 20)]);
        assert!(Intervals::range(6, 11).is_subset(&s));
        assert!(!Intervals::range(2, 5).is_subset(&s));
    }
}
