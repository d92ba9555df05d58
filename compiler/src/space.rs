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
//!   `{tcp, udp, sctp}`, the protocols that have ports.
//!
//! [`Cube::subtract`] splits on `family` and `proto` before the fields that
//! depend on them, so it preserves both invariants.

use std::collections::BTreeSet;
use std::fmt;

/// A sorted set of disjoint, non-adjacent closed intervals over `u128`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Intervals(Vec<(u128, u128)>);

impl Intervals {
    pub fn empty() -> Intervals {
        Intervals(Vec::new())
    }

    pub fn range(lo: u128, hi: u128) -> Intervals {
        if lo <= hi {
            Intervals(vec![(lo, hi)])
        } else {
            Intervals::empty()
        }
    }

    pub fn from_ranges(ranges: impl IntoIterator<Item = (u128, u128)>) -> Intervals {
        let mut v: Vec<(u128, u128)> = ranges.into_iter().filter(|(a, b)| a <= b).collect();
        v.sort_unstable();
        let mut out: Vec<(u128, u128)> = Vec::with_capacity(v.len());
        for (lo, hi) in v {
            match out.last_mut() {
                Some(last) if lo <= last.1.saturating_add(1) => last.1 = last.1.max(hi),
                _ => out.push((lo, hi)),
            }
        }
        Intervals(out)
    }

    pub fn ranges(&self) -> &[(u128, u128)] {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn contains(&self, x: u128) -> bool {
        match self.0.binary_search_by(|&(lo, _)| lo.cmp(&x)) {
            Ok(_) => true,
            Err(0) => false,
            Err(i) => self.0[i - 1].1 >= x,
        }
    }

    /// Whether this set is everything in `0..=max`.
    pub fn is_full(&self, max: u128) -> bool {
        self.0 == [(0, max)]
    }

    pub fn union(&self, other: &Intervals) -> Intervals {
        Intervals::from_ranges(self.0.iter().chain(other.0.iter()).copied())
    }

    pub fn intersect(&self, other: &Intervals) -> Intervals {
        let (mut i, mut j) = (0, 0);
        let mut out = Vec::new();
        while i < self.0.len() && j < other.0.len() {
            let (a0, a1) = self.0[i];
            let (b0, b1) = other.0[j];
            let lo = a0.max(b0);
            let hi = a1.min(b1);
            if lo <= hi {
                out.push((lo, hi));
            }
            if a1 < b1 {
                i += 1;
            } else {
                j += 1;
            }
        }
        Intervals(out)
    }

    pub fn intersects(&self, other: &Intervals) -> bool {
        let (mut i, mut j) = (0, 0);
        while i < self.0.len() && j < other.0.len() {
            let (a0, a1) = self.0[i];
            let (b0, b1) = other.0[j];
            if a0.max(b0) <= a1.min(b1) {
                return true;
            }
            if a1 < b1 {
                i += 1;
            } else {
                j += 1;
            }
        }
        false
    }

    /// Everything in `0..=max` that is not in this set.
    pub fn complement(&self, max: u128) -> Intervals {
        let mut out = Vec::new();
        let mut next = Some(0u128);
        for &(lo, hi) in &self.0 {
            if let Some(n) = next {
                if lo > n {
                    out.push((n, lo - 1));
                }
            }
            next = hi.checked_add(1);
        }
        if let Some(n) = next {
            if n <= max {
                out.push((n, max));
            }
        }
        Intervals(out)
    }

    pub fn subtract(&self, other: &Intervals) -> Intervals {
        let max = self.0.last().map_or(0, |r| r.1);
        self.intersect(&other.complement(max))
    }

    pub fn is_subset(&self, other: &Intervals) -> bool {
        self.subtract(other).is_empty()
    }

    /// How many values it holds (saturating).
    pub fn count(&self) -> u128 {
        self.0.iter().fold(0u128, |acc, (lo, hi)| acc.saturating_add(hi - lo).saturating_add(1))
    }
}

impl fmt::Debug for Intervals {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(
                |&(a, b)| {
                    if a == b {
                        format!("{a}")
                    } else {
                        format!("{a}-{b}")
                    }
                },
            ))
            .finish()
    }
}

/// Address family of a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub enum Family {
    V4,
    V6,
}

impl Family {
    pub const ALL: [Family; 2] = [Family::V4, Family::V6];

    /// The largest address of this family.
    pub fn max_addr(self) -> u128 {
        match self {
            Family::V4 => u32::MAX as u128,
            Family::V6 => u128::MAX,
        }
    }

    fn bit(self) -> u8 {
        match self {
            Family::V4 => 1,
            Family::V6 => 2,
        }
    }
}

/// A subset of {IPv4, IPv6}.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Families(u8);

impl Families {
    pub const NONE: Families = Families(0);
    pub const ALL: Families = Families(3);

    pub fn only(f: Family) -> Families {
        Families(f.bit())
    }
    pub fn contains(self, f: Family) -> bool {
        self.0 & f.bit() != 0
    }
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
    pub fn intersect(self, o: Families) -> Families {
        Families(self.0 & o.0)
    }
    pub fn union(self, o: Families) -> Families {
        Families(self.0 | o.0)
    }
    pub fn subtract(self, o: Families) -> Families {
        Families(self.0 & !o.0)
    }
    /// The one family, when exactly one.
    pub fn single(self) -> Option<Family> {
        match self.0 {
            1 => Some(Family::V4),
            2 => Some(Family::V6),
            _ => None,
        }
    }
    pub fn iter(self) -> impl Iterator<Item = Family> {
        Family::ALL.into_iter().filter(move |f| self.contains(*f))
    }
}

/// A set of layer-4 protocol numbers (0..=255).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Protos([u128; 2]);

// Named here too because most users of the algebra build cubes from them;
// their one definition is the nft vocabulary.
pub use crate::nft::vocab::{PROTO_ICMP, PROTO_ICMPV6, PROTO_SCTP, PROTO_TCP, PROTO_UDP};

impl Protos {
    pub const NONE: Protos = Protos([0, 0]);
    pub const ALL: Protos = Protos([u128::MAX, u128::MAX]);

    pub fn only(p: u8) -> Protos {
        let mut s = Protos::NONE;
        s.insert(p);
        s
    }
    /// The protocols that carry ports: tcp, udp, sctp.
    pub fn with_ports() -> Protos {
        let mut s = Protos::only(PROTO_TCP);
        s.insert(PROTO_UDP);
        s.insert(PROTO_SCTP);
        s
    }
    pub fn insert(&mut self, p: u8) {
        self.0[(p / 128) as usize] |= 1 << (p % 128);
    }
    pub fn contains(self, p: u8) -> bool {
        self.0[(p / 128) as usize] & (1 << (p % 128)) != 0
    }
    pub fn is_empty(self) -> bool {
        self.0 == [0, 0]
    }
    pub fn is_full(self) -> bool {
        self == Protos::ALL
    }
    pub fn intersect(self, o: Protos) -> Protos {
        Protos([self.0[0] & o.0[0], self.0[1] & o.0[1]])
    }
    pub fn union(self, o: Protos) -> Protos {
        Protos([self.0[0] | o.0[0], self.0[1] | o.0[1]])
    }
    pub fn subtract(self, o: Protos) -> Protos {
        Protos([self.0[0] & !o.0[0], self.0[1] & !o.0[1]])
    }
    pub fn complement(self) -> Protos {
        Protos([!self.0[0], !self.0[1]])
    }
    pub fn iter(self) -> impl Iterator<Item = u8> {
        (0..=255u8).filter(move |p| self.contains(*p))
    }
    pub fn len(self) -> u32 {
        self.0[0].count_ones() + self.0[1].count_ones()
    }
}

impl fmt::Debug for Protos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_full() {
            return write!(f, "any");
        }
        f.debug_set().entries(self.iter()).finish()
    }
}

/// A set of interface names: the named ones, or all but the named ones.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Names {
    Only(BTreeSet<String>),
    AllBut(BTreeSet<String>),
}

impl Names {
    pub fn any() -> Names {
        Names::AllBut(BTreeSet::new())
    }
    pub fn is_any(&self) -> bool {
        matches!(self, Names::AllBut(s) if s.is_empty())
    }
    pub fn is_empty(&self) -> bool {
        matches!(self, Names::Only(s) if s.is_empty())
    }
    pub fn contains(&self, name: &str) -> bool {
        match self {
            Names::Only(s) => s.contains(name),
            Names::AllBut(s) => !s.contains(name),
        }
    }
    pub fn complement(&self) -> Names {
        match self {
            Names::Only(s) => Names::AllBut(s.clone()),
            Names::AllBut(s) => Names::Only(s.clone()),
        }
    }
    pub fn intersect(&self, o: &Names) -> Names {
        use Names::*;
        match (self, o) {
            (Only(a), Only(b)) => Only(a.intersection(b).cloned().collect()),
            (Only(a), AllBut(b)) | (AllBut(b), Only(a)) => Only(a.difference(b).cloned().collect()),
            (AllBut(a), AllBut(b)) => AllBut(a.union(b).cloned().collect()),
        }
    }
    pub fn union(&self, o: &Names) -> Names {
        self.complement().intersect(&o.complement()).complement()
    }
    pub fn subtract(&self, o: &Names) -> Names {
        self.intersect(&o.complement())
    }
}

/// Conntrack states, a complete finite domain.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub enum CtState {
    New,
    Established,
    Related,
    Invalid,
    Untracked,
}

impl CtState {
    pub const ALL: [CtState; 5] = [
        CtState::New,
        CtState::Established,
        CtState::Related,
        CtState::Invalid,
        CtState::Untracked,
    ];

    pub fn keyword(self) -> &'static str {
        match self {
            CtState::New => "new",
            CtState::Established => "established",
            CtState::Related => "related",
            CtState::Invalid => "invalid",
            CtState::Untracked => "untracked",
        }
    }
}

/// A subset of conntrack states.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CtStates(u8);

impl CtStates {
    pub const NONE: CtStates = CtStates(0);
    pub const ALL: CtStates = CtStates(0b11111);

    pub fn only(s: CtState) -> CtStates {
        CtStates(1 << s as u8)
    }
    pub fn contains(self, s: CtState) -> bool {
        self.0 & (1 << s as u8) != 0
    }
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
    pub fn is_full(self) -> bool {
        self == CtStates::ALL
    }
    pub fn intersect(self, o: CtStates) -> CtStates {
        CtStates(self.0 & o.0)
    }
    pub fn union(self, o: CtStates) -> CtStates {
        CtStates(self.0 | o.0)
    }
    pub fn subtract(self, o: CtStates) -> CtStates {
        CtStates(self.0 & !o.0)
    }
    pub fn complement(self) -> CtStates {
        CtStates(!self.0 & 0b11111)
    }
    pub fn iter(self) -> impl Iterator<Item = CtState> {
        CtState::ALL.into_iter().filter(move |s| self.contains(*s))
    }
}

impl fmt::Debug for CtStates {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter().map(CtState::keyword)).finish()
    }
}

pub const PORT_MAX: u128 = 65535;

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
        }
    }

    pub fn is_empty(&self) -> bool {
        self.family.is_empty()
            || self.proto.is_empty()
            || self.saddr.as_ref().is_some_and(Intervals::is_empty)
            || self.daddr.as_ref().is_some_and(Intervals::is_empty)
            || self.sport.as_ref().is_some_and(Intervals::is_empty)
            || self.dport.as_ref().is_some_and(Intervals::is_empty)
            || self.iif.is_empty()
            || self.oif.is_empty()
            || self.ct.is_empty()
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
        }
    }

    pub fn intersects(&self, o: &Cube) -> bool {
        !self.family.intersect(o.family).is_empty()
            && !self.proto.intersect(o.proto).is_empty()
            && meets(&self.saddr, &o.saddr)
            && meets(&self.daddr, &o.daddr)
            && meets(&self.sport, &o.sport)
            && meets(&self.dport, &o.dport)
            && !self.iif.intersect(&o.iif).is_empty()
            && !self.oif.intersect(&o.oif).is_empty()
            && !self.ct.intersect(o.ct).is_empty()
    }

    /// `self - o` as disjoint well-formed cubes (at most one per field).
    pub fn subtract(&self, o: &Cube) -> Vec<Cube> {
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
    }
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
    fn interval_complement_and_subset() {
        let s = Intervals::from_ranges([(5, 9), (0, 2), (10, 12)]);
        assert_eq!(s.ranges(), &[(0, 2), (5, 12)]);
        assert_eq!(s.complement(20).ranges(), &[(3, 4), (13, 20)]);
        assert!(Intervals::range(6, 11).is_subset(&s));
        assert!(!Intervals::range(2, 5).is_subset(&s));
    }
}
