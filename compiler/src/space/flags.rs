//! The TCP flags byte as nft tests it: `(flags & mask) == value`, or `!=`.
//!
//! Every form of `tcp flags` the language has is one such test, and the
//! algebra keeps the exact set of bytes it admits. Going back, a set of
//! bytes is one test when it is one class of a mask (or the rest of one);
//! any other set splits into disjoint tests ([`split`]), so lowering never
//! needs a set of flag values (which nft 1.0.6 cannot list back).

use super::{Intervals, TCP_FLAGS_MAX};
use crate::nft::vocab::tcp_flag_names;

/// `(flags & mask) == value`, or `!=` when `negated`. `value` has no bit
/// outside `mask`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlagsTest {
    pub mask: u8,
    pub value: u8,
    pub negated: bool,
}

impl FlagsTest {
    /// Whether a packet with flags byte `b` passes.
    pub fn holds(self, b: u8) -> bool {
        (b & self.mask == self.value) != self.negated
    }

    /// The bytes that pass.
    pub fn bytes(self) -> Intervals {
        Intervals::from_ranges(
            (0..=u8::MAX).filter(|b| self.holds(*b)).map(|b| (b.into(), b.into())),
        )
    }
}

/// The bytes of `set` (within 0..=255), ascending.
fn members(set: &Intervals) -> Vec<u8> {
    let within = set.intersect(&Intervals::range(0, TCP_FLAGS_MAX));
    within.ranges().iter().flat_map(|&(lo, hi)| lo as u8..=hi as u8).collect()
}

/// The mask and value of the one class `(b & mask) == value` that is
/// exactly `bytes`, if there is one. The mask is then the bits on which
/// all of them agree, and the class has `256 >> popcount(mask)` bytes.
fn class(bytes: &[u8]) -> Option<(u8, u8)> {
    let first = *bytes.first()?;
    let mask = bytes.iter().fold(u8::MAX, |agree, b| agree & !(b ^ first));
    (bytes.len() == 256 >> mask.count_ones()).then_some((mask, first & mask))
}

/// The one test that admits exactly `set`, if there is one; `None` too for
/// the empty and the full set, which need no test.
pub fn test_of(set: &Intervals) -> Option<FlagsTest> {
    let bytes = members(set);
    if bytes.is_empty() || bytes.len() == 256 {
        return None;
    }
    if let Some((mask, value)) = class(&bytes) {
        // One flag set is "any of" that one flag, as nft writes it.
        if mask.count_ones() == 1 && value == mask {
            return Some(FlagsTest { mask, value: 0, negated: true });
        }
        return Some(FlagsTest { mask, value, negated: false });
    }
    let rest: Vec<u8> = (0..=u8::MAX).filter(|b| bytes.binary_search(b).is_err()).collect();
    class(&rest).map(|(mask, value)| FlagsTest { mask, value, negated: true })
}

/// Disjoint tests that together admit exactly `set`: the one test where
/// there is one, otherwise the set split on one flag at a time until each
/// part is a class. Empty for the empty and the full set.
pub fn split(set: &Intervals) -> Vec<FlagsTest> {
    if let Some(t) = test_of(set) {
        return vec![t];
    }
    let bytes = members(set);
    let mut out = Vec::new();
    if bytes.len() < 256 {
        split_on_flags(&bytes, 0, &mut out);
    }
    out
}

/// Split `bytes`, which all agree on the flags of `fixed`, into classes.
fn split_on_flags(bytes: &[u8], fixed: u8, out: &mut Vec<FlagsTest>) {
    if let Some((mask, value)) = class(bytes) {
        out.push(FlagsTest { mask, value, negated: false });
        return;
    }
    // Not a class, so there are at least two bytes and a flag outside
    // `fixed` on which they differ: the highest one.
    let Some(bit) = (0..8).rev().map(|i| 1u8 << i).find(|b| {
        fixed & b == 0 && bytes.iter().any(|x| x & b != 0) && bytes.iter().any(|x| x & b == 0)
    }) else {
        return;
    };
    let (on, off): (Vec<u8>, Vec<u8>) = bytes.iter().partition(|x| *x & bit != 0);
    split_on_flags(&on, fixed | bit, out);
    split_on_flags(&off, fixed | bit, out);
}

/// Flags as the language writes them: `syn,ack`, or `0` for none.
fn names(bits: u8) -> String {
    let names = tcp_flag_names(bits);
    if names.is_empty() {
        "0".into()
    } else {
        names.join(",")
    }
}

/// One test as a `.shr` match: `tcp flags syn,ack`, `tcp flags ! rst`,
/// `tcp flags == syn`, `tcp flags != syn / syn,ack`.
pub fn test_words(t: FlagsTest) -> String {
    let text = match t {
        FlagsTest { mask: u8::MAX, value, negated } => {
            format!("{} {}", if negated { "!=" } else { "==" }, names(value))
        }
        FlagsTest { mask, value: 0, negated: true } => names(mask),
        FlagsTest { mask, value: 0, negated: false } => format!("! {}", names(mask)),
        FlagsTest { mask, value, negated } => {
            format!("{}{} / {}", if negated { "!= " } else { "" }, names(value), names(mask))
        }
    };
    format!("tcp flags {text}")
}

/// A set of flags bytes as `.shr` matches, one per test it splits into
/// (any of them holds); none for the full set.
pub fn words(set: &Intervals) -> Vec<String> {
    split(set).into_iter().map(test_words).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn union(tests: &[FlagsTest]) -> Vec<u8> {
        (0..=u8::MAX).filter(|b| tests.iter().any(|t| t.holds(*b))).collect()
    }

    #[test]
    fn every_test_reads_back_as_itself() {
        for mask in 1..=u8::MAX {
            for value in [0, mask & 0x02, mask & 0x12, mask] {
                for negated in [false, true] {
                    let t = FlagsTest { mask, value, negated };
                    assert_eq!(test_of(&t.bytes()).map(|u| u.bytes()), Some(t.bytes()));
                }
            }
        }
    }

    #[test]
    fn any_set_splits_into_disjoint_tests_that_make_it() {
        let syn_not_only_syn: Vec<(u128, u128)> =
            (0..=255u128).filter(|b| b & 2 != 0 && *b != 2).map(|b| (b, b)).collect();
        let sets = [
            vec![(2, 3), (18, 18)],
            vec![(1, 200)],
            vec![(0, 254)],
            vec![(7, 7), (9, 250)],
            syn_not_only_syn.clone(),
        ];
        for ranges in sets {
            let set = Intervals::from_ranges(ranges);
            let tests = split(&set);
            assert_eq!(union(&tests), members(&set));
            let total: usize = tests.iter().map(|t| members(&t.bytes()).len()).sum();
            assert_eq!(total, members(&set).len(), "the tests overlap");
        }
        // Split on flags, "syn, but not only syn" is one test per other flag.
        assert_eq!(split(&Intervals::from_ranges(syn_not_only_syn)).len(), 7);
    }
}
