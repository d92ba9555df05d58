//! The sets of values of each packet field: address and port intervals,
//! families, protocols, conntrack states (interface names are in
//! `names.rs`). Each is exact and
//! closed under intersection, union and subtraction, so a [`super::Cube`] of
//! them is too.

use std::fmt;

use super::{PROTO_SCTP, PROTO_TCP, PROTO_UDP};
use crate::nft::vocab::IPV6_SKIPPED_HEADERS;

/// A sorted set of disjoint, non-adjacent closed intervals over `u128`.
///
/// A boxed slice, not a vector: 16 bytes instead of 24, and a cube holds
/// ten of these (a policy's 100k rules keep one cube each while they are
/// analysed and lowered).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Intervals(Box<[(u128, u128)]>);

impl Intervals {
    pub fn empty() -> Intervals {
        Intervals(Box::default())
    }

    pub fn range(lo: u128, hi: u128) -> Intervals {
        if lo <= hi {
            Intervals(Box::new([(lo, hi)]))
        } else {
            Intervals::empty()
        }
    }

    pub fn from_ranges(ranges: impl IntoIterator<Item = (u128, u128)>) -> Intervals {
        let mut v: Vec<(u128, u128)> = ranges.into_iter().filter(|(a, b)| a <= b).collect();
        v.sort_unstable();
        // Merge in place: one allocation per set, which every rule makes
        // several of.
        let mut kept: usize = 0;
        for i in 0..v.len() {
            let (lo, hi) = v[i];
            match kept.checked_sub(1).map(|k| &mut v[k]) {
                Some(last) if lo <= last.1.saturating_add(1) => last.1 = last.1.max(hi),
                _ => {
                    v[kept] = (lo, hi);
                    kept += 1;
                }
            }
        }
        v.truncate(kept);
        // The caller's vector may have grown with room to spare; a rule keeps
        // its sets for the whole run (a boxed slice has none).
        Intervals(v.into_boxed_slice())
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
        *self.0 == [(0, max)]
    }

    pub fn union(&self, other: &Intervals) -> Intervals {
        Intervals::from_ranges(self.0.iter().chain(other.0.iter()).copied())
    }

    pub fn intersect(&self, other: &Intervals) -> Intervals {
        let (mut i, mut j) = (0, 0);
        // At most this many pieces: a rule's sets stay in its cube for the
        // whole run, and a growing vector would keep room for four.
        let most = (self.0.len() + other.0.len()).saturating_sub(1);
        let mut out = Vec::new();
        while i < self.0.len() && j < other.0.len() {
            let (a0, a1) = self.0[i];
            let (b0, b1) = other.0[j];
            let lo = a0.max(b0);
            let hi = a1.min(b1);
            if lo <= hi {
                push_sized(&mut out, most, (lo, hi));
            }
            if a1 < b1 {
                i += 1;
            } else {
                j += 1;
            }
        }
        Intervals(out.into_boxed_slice())
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
        let most = self.0.len() + 1;
        let mut out = Vec::new();
        let mut next = Some(0u128);
        for &(lo, hi) in &self.0 {
            if let Some(n) = next {
                if lo > n {
                    push_sized(&mut out, most, (n, lo - 1));
                }
            }
            next = hi.checked_add(1);
        }
        if let Some(n) = next {
            if n <= max {
                push_sized(&mut out, most, (n, max));
            }
        }
        Intervals(out.into_boxed_slice())
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

/// Pushes `r`, first making room for `most` pieces (no more than four, as a
/// growing vector would) when `out` has none: a result that can hold only one
/// piece, as most of a policy's do, then takes room for one, not four.
fn push_sized(out: &mut Vec<(u128, u128)>, most: usize, r: (u128, u128)) {
    if out.capacity() == 0 {
        out.reserve_exact(most.clamp(1, 4));
    }
    out.push(r);
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

/// Every protocol but [`IPV6_SKIPPED_HEADERS`], all of them below 128.
const IPV6_PROTOS: Protos = {
    let mut low = u128::MAX;
    let mut i = 0;
    while i < IPV6_SKIPPED_HEADERS.len() {
        let header = IPV6_SKIPPED_HEADERS[i].0;
        assert!(header < 128, "the extension headers are below 128");
        low &= !(1 << header);
        i += 1;
    }
    Protos([low, u128::MAX])
};

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
    /// The protocols a packet of family `f` can have, as the kernel reads
    /// it (`meta l4proto`): every number for IPv4; for IPv6 every number
    /// but the extension headers it reads past ([`IPV6_SKIPPED_HEADERS`]).
    /// The algebra asks this of every cube it tests for emptiness, so it
    /// is a constant.
    pub fn of_family(f: Family) -> Protos {
        match f {
            Family::V4 => Protos::ALL,
            Family::V6 => IPV6_PROTOS,
        }
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
    /// The protocols in ascending order. It visits set bits only: the
    /// lowering asks this of every piece of every rule, and testing all 256
    /// numbers was 9% of an `auto` compile's instructions.
    pub fn iter(self) -> impl Iterator<Item = u8> {
        let [low, high] = self.0;
        set_bits(low, 0).chain(set_bits(high, 128))
    }
    pub fn len(self) -> u32 {
        self.0[0].count_ones() + self.0[1].count_ones()
    }
    /// The set folded onto 32 bits, protocol `p` on bit `p % 32`: two sets
    /// that share a protocol share a bit (the analysis's cheap box test).
    pub fn folded(self) -> u32 {
        let w = self.0[0] | self.0[1];
        let w = w as u64 | (w >> 64) as u64;
        w as u32 | (w >> 32) as u32
    }
}

/// The positions of the set bits of `word`, ascending, plus `base`.
fn set_bits(mut word: u128, base: u16) -> impl Iterator<Item = u8> {
    std::iter::from_fn(move || {
        (word != 0).then(|| {
            let bit = word.trailing_zeros() as u16;
            word &= word - 1;
            u8::try_from(base + bit).expect("a protocol number is below 256")
        })
    })
}

impl fmt::Debug for Protos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_full() {
            return write!(f, "any");
        }
        f.debug_set().entries(self.iter()).finish()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protos_iter_gives_exactly_the_members_in_order() {
        for members in [vec![], vec![0], vec![6, 17, 132], vec![0, 127, 128, 255]] {
            let mut set = Protos::NONE;
            members.iter().for_each(|&p| set.insert(p));
            assert_eq!(set.iter().collect::<Vec<_>>(), members);
        }
        assert_eq!(Protos::ALL.iter().collect::<Vec<_>>(), (0..=255).collect::<Vec<u8>>());
    }
}
