//! Interface names as the kernel compares them: the 16 bytes of the name,
//! padded with NULs, read as one big-endian number. A set of names is a set
//! of intervals over those numbers, so an exact name is one point and a
//! wildcard `eth*` the interval from `eth` followed by NULs to `eth`
//! followed by 0xff bytes: shadowing among `eth*`, `eth0` and `*` is exact
//! interval algebra.
//!
//! Some numbers are no interface's name (a NUL inside the name, a 16th
//! byte). The algebra keeps them, which can only make a set look bigger
//! than the names it holds: a coverage question may then miss a finding,
//! never make one up. [`Names::patterns`] writes a set back as the exact
//! names and wildcards nft compares, leaving those numbers out.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::LazyLock;

use super::Intervals;

/// The bytes the kernel compares (`IFNAMSIZ`).
const WIDTH: usize = 16;

/// The longest interface name Linux allows: `IFNAMSIZ` less the NUL.
pub const NAME_MAX: usize = WIDTH - 1;

/// Whether `c` may be in an interface name of a policy: Linux refuses
/// white space, `/` and `:` (`dev_valid_name`); `*` is the language's
/// wildcard; and nft's text cannot hold a `"` or a control character in a
/// name (`compile` once wrote a space for each, so `nft -f` of its output
/// matched another interface than `apply` did).
pub fn name_char(c: char) -> bool {
    !(c.is_whitespace() || c.is_control() || matches!(c, '/' | ':' | '*' | '"'))
}

/// A set of interface names. `None` is every name, the set of nearly every
/// cube, kept without an allocation of its own (a cube lives as long as its
/// rule, and the lowering and the analysis copy cubes). Equality, order and
/// hash are those of the set, whichever way it is kept.
#[derive(Clone)]
pub struct Names(Option<Intervals>);

/// Every name, for the operations that read a set's intervals.
static EVERY: LazyLock<Intervals> = LazyLock::new(|| Intervals::range(0, u128::MAX));

impl PartialEq for Names {
    fn eq(&self, other: &Self) -> bool {
        self.set() == other.set()
    }
}
impl Eq for Names {}
impl Hash for Names {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.set().hash(state)
    }
}
impl PartialOrd for Names {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Names {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.set().cmp(other.set())
    }
}

/// One name as a user writes it: exact, or a prefix ending in `*`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum NamePattern {
    Exact(String),
    /// The names that start with this text: `eth*`.
    Prefix(String),
}

impl NamePattern {
    /// `eth*` is a prefix, anything else an exact name.
    pub fn parse(text: &str) -> NamePattern {
        match text.strip_suffix('*') {
            Some(p) => NamePattern::Prefix(p.to_string()),
            None => NamePattern::Exact(text.to_string()),
        }
    }

    /// As nft writes it: `eth0`, `eth*`.
    pub fn text(&self) -> String {
        match self {
            NamePattern::Exact(n) => n.clone(),
            NamePattern::Prefix(p) => format!("{p}*"),
        }
    }

    /// The numbers of its names.
    fn range(&self) -> (u128, u128) {
        match self {
            NamePattern::Exact(n) => (value(n), value(n)),
            NamePattern::Prefix(p) => {
                let free = WIDTH.saturating_sub(p.len());
                let low = value(p);
                let high =
                    if free == WIDTH { u128::MAX } else { low | ((1u128 << (8 * free)) - 1) };
                (low, high)
            }
        }
    }
}

/// What nft compares a name against: `only` (when some) any of these, and
/// none of `not`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NameMatch {
    pub only: Option<Vec<NamePattern>>,
    pub not: Vec<NamePattern>,
}

/// The number of a name: its first 16 bytes, NUL-padded, big-endian.
fn value(name: &str) -> u128 {
    let mut b = [0u8; WIDTH];
    let bytes = name.as_bytes();
    let n = bytes.len().min(WIDTH);
    b[..n].copy_from_slice(&bytes[..n]);
    u128::from_be_bytes(b)
}

/// The most patterns one way of writing a set may take before another is
/// preferred; past it in every way, the set is written pattern by pattern.
const MAX_PATTERNS: usize = 64;

/// The patterns of the real names in `lo..=hi`: the interval cut into
/// byte-aligned blocks (like CIDR prefixes, a byte at a time), each block
/// a wildcard, an exact name, or nothing real. `None` past `cap` blocks.
fn block_patterns(lo: u128, hi: u128, cap: usize, out: &mut Vec<NamePattern>) -> Option<()> {
    let mut lo = lo;
    let mut blocks = 0;
    loop {
        // The most trailing bytes `free` that lo is aligned to and that fit.
        let mut free = 0;
        while free < WIDTH {
            let bits = 8 * (free as u32 + 1);
            let mask = if bits == 128 { u128::MAX } else { (1u128 << bits) - 1 };
            if lo & mask != 0 || lo | mask > hi {
                break;
            }
            free += 1;
        }
        let mask = if free == WIDTH { u128::MAX } else { (1u128 << (8 * free)) - 1 };
        blocks += 1;
        if blocks > cap {
            return None;
        }
        out.extend(block_pattern(lo, free));
        let end = lo | mask;
        if end >= hi {
            return Some(());
        }
        lo = end + 1;
    }
}

/// Whether a name with byte `b` can be written for nft and read back as
/// itself. Linux refuses whitespace, `/` and `:` in a name; nft's text
/// turns a control character or `"` into another, and reads a backslash
/// before the wildcard's `*` as an escape (`"a\*"` is the exact name
/// `a*`; a wildcard ending in a backslash has no spelling at all). Such
/// names are left out of the patterns as names that are not UTF-8 are:
/// the oracle's seed 11 found `a\` among the wildcards of `{ a*, b }`
/// less `ab`, which `compile | nft -f` loaded as the exact name `a*`.
fn writable(b: u8) -> bool {
    !(b.is_ascii_control() || b.is_ascii_whitespace() || matches!(b, b'/' | b':' | b'"' | b'\\'))
}

/// The real names of one block, `free` trailing bytes left open.
fn block_pattern(lo: u128, free: usize) -> Option<NamePattern> {
    let bytes = lo.to_be_bytes();
    let fixed = &bytes[..WIDTH - free];
    let name_len = fixed.iter().position(|&b| b == 0).unwrap_or(fixed.len());
    if !fixed[..name_len].iter().all(|&b| writable(b)) {
        return None;
    }
    match fixed.iter().position(|&b| b == 0) {
        // After a NUL a real name has only NULs: one exact name, or none.
        Some(z) if fixed[z..].iter().all(|&b| b == 0) => {
            String::from_utf8(fixed[..z].to_vec()).ok().map(NamePattern::Exact)
        }
        Some(_) => None,
        // Sixteen bytes without a NUL are no name.
        None if free == 0 => None,
        // Fifteen: only the name itself is real (its 16th byte is the
        // NUL), and nft refuses a wildcard that long ("String exceeds
        // maximum length of 16"), in a saved listing too.
        None if free == 1 => String::from_utf8(fixed.to_vec()).ok().map(NamePattern::Exact),
        None => String::from_utf8(fixed.to_vec()).ok().map(NamePattern::Prefix),
    }
}

impl Names {
    pub fn any() -> Names {
        Names(None)
    }

    pub fn none() -> Names {
        Names(Some(Intervals::empty()))
    }

    /// The set's intervals.
    fn set(&self) -> &Intervals {
        self.0.as_ref().unwrap_or(&EVERY)
    }

    /// A set of these intervals, every name kept as `None`.
    fn from_set(set: Intervals) -> Names {
        if set.is_full(u128::MAX) {
            Names(None)
        } else {
            Names(Some(set))
        }
    }

    /// The names any of `patterns` matches (`negated`: none of them).
    pub fn of<'a>(patterns: impl IntoIterator<Item = &'a NamePattern>, negated: bool) -> Names {
        let set =
            Names::from_set(Intervals::from_ranges(patterns.into_iter().map(NamePattern::range)));
        if negated {
            set.complement()
        } else {
            set
        }
    }

    pub fn exact(name: &str) -> Names {
        Names::of(&[NamePattern::Exact(name.to_string())], false)
    }

    /// How many intervals of names the set holds: what comparing it costs.
    pub fn intervals(&self) -> usize {
        self.set().ranges().len()
    }

    pub fn is_any(&self) -> bool {
        self.0.is_none()
    }
    pub fn is_empty(&self) -> bool {
        self.set().is_empty()
    }
    pub fn contains(&self, name: &str) -> bool {
        name.len() < WIDTH && self.set().contains(value(name))
    }
    pub fn complement(&self) -> Names {
        Names::from_set(self.set().complement(u128::MAX))
    }
    pub fn intersect(&self, o: &Names) -> Names {
        match (&self.0, &o.0) {
            (None, _) => o.clone(),
            (_, None) => self.clone(),
            (Some(a), Some(b)) => Names::from_set(a.intersect(b)),
        }
    }
    pub fn union(&self, o: &Names) -> Names {
        match (&self.0, &o.0) {
            (None, _) | (_, None) => Names(None),
            (Some(a), Some(b)) => Names::from_set(a.union(b)),
        }
    }
    pub fn subtract(&self, o: &Names) -> Names {
        match &o.0 {
            None => Names::none(),
            Some(b) => Names::from_set(self.set().intersect(&b.complement(u128::MAX))),
        }
    }
    /// Whether some name is in both, without building the intersection.
    pub fn meets(&self, o: &Names) -> bool {
        self.set().intersects(o.set())
    }
    /// Whether every name of `o` is in this set.
    pub fn covers(&self, o: &Names) -> bool {
        self.is_any() || o.set().is_subset(self.set())
    }

    /// A rough size, only to order blockers by how much they cover.
    pub fn volume(&self) -> f64 {
        self.set().ranges().iter().map(|&(lo, hi)| (hi - lo) as f64 + 1.0).sum()
    }

    /// The set as nft compares it, exact on every real name: any of some
    /// patterns, none of others, or both (`eth*` but not `eth0`), the
    /// shortest of the three.
    pub fn patterns(&self) -> NameMatch {
        if self.is_any() {
            return NameMatch { only: None, not: Vec::new() };
        }
        let cut = |s: &Intervals, cap: usize| -> Option<Vec<NamePattern>> {
            let mut out = Vec::new();
            for &(lo, hi) in s.ranges() {
                block_patterns(lo, hi, cap, &mut out)?;
                if out.len() > cap {
                    return None;
                }
            }
            Some(out)
        };
        let mut ways: Vec<NameMatch> = Vec::new();
        let set = self.set();
        if let Some(only) = cut(set, MAX_PATTERNS) {
            ways.push(NameMatch { only: Some(only), not: Vec::new() });
        }
        let outside = set.complement(u128::MAX);
        if let Some(not) = cut(&outside, MAX_PATTERNS) {
            ways.push(NameMatch { only: None, not });
        }
        // Each run of names inside the smallest wildcard around it, less
        // what that wildcard holds besides.
        let hull =
            Intervals::from_ranges(set.ranges().iter().map(|&(lo, hi)| smallest_block(lo, hi)));
        if let (Some(only), Some(not)) =
            (cut(&hull, MAX_PATTERNS), cut(&hull.subtract(set), MAX_PATTERNS))
        {
            let only = (!hull.is_full(u128::MAX)).then_some(only);
            ways.push(NameMatch { only, not });
        }
        let size = |m: &NameMatch| m.only.as_ref().map_or(0, Vec::len) + m.not.len();
        ways.into_iter()
            .min_by_key(size)
            .unwrap_or_else(|| NameMatch { only: cut(set, usize::MAX), not: Vec::new() })
    }

    /// A real name of the set, its lowest (or highest) that is easy to
    /// find; the empty name when none is.
    pub fn sample(&self, high: bool) -> String {
        // Every name: the empty one is the first candidate either way, and
        // the corner probes of the analysis ask this of nearly every cube
        // (building forty names to find it was a fifth of a 30k-rule check).
        if self.is_any() {
            return String::new();
        }
        let m = self.patterns();
        let mut candidates: Vec<String> = Vec::new();
        match &m.only {
            Some(only) => {
                let list: Box<dyn Iterator<Item = &NamePattern>> =
                    if high { Box::new(only.iter().rev()) } else { Box::new(only.iter()) };
                for p in list {
                    match p {
                        NamePattern::Exact(n) => candidates.push(n.clone()),
                        NamePattern::Prefix(p) => candidates.extend(extensions(p)),
                    }
                }
            }
            None => candidates.extend(extensions("")),
        }
        candidates.into_iter().find(|n| self.contains(n)).unwrap_or_default()
    }
}

/// The smallest byte-aligned block around `lo..=hi`: the wildcard of their
/// common leading bytes.
fn smallest_block(lo: u128, hi: u128) -> (u128, u128) {
    let differ = (lo ^ hi).leading_zeros() as usize / 8;
    if differ >= WIDTH {
        return (lo, hi);
    }
    let free = WIDTH - differ;
    let mask = if free == WIDTH { u128::MAX } else { (1u128 << (8 * free)) - 1 };
    (lo & !mask, lo | mask)
}

/// A few names that start with `p`: `p` itself, then `p` and one more
/// character.
fn extensions(p: &str) -> Vec<String> {
    let mut out = vec![p.to_string()];
    if p.len() + 1 < WIDTH {
        out.extend("0123456789abcdefghijklmnopqrstuvwxyz_-.".chars().map(|c| format!("{p}{c}")));
    }
    out
}

impl fmt::Debug for Names {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = self.patterns();
        let texts = |v: &[NamePattern]| v.iter().map(NamePattern::text).collect::<Vec<_>>();
        match (&m.only, m.not.is_empty()) {
            (None, true) => write!(f, "any"),
            (Some(only), true) => write!(f, "{:?}", texts(only)),
            (None, false) => write!(f, "not {:?}", texts(&m.not)),
            (Some(only), false) => write!(f, "{:?} not {:?}", texts(only), texts(&m.not)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(t: &str) -> NamePattern {
        NamePattern::parse(t)
    }

    fn names(ts: &[&str]) -> Names {
        Names::of(&ts.iter().map(|t| p(t)).collect::<Vec<_>>(), false)
    }

    #[test]
    fn wildcards_nest_and_cover_exactly() {
        let (eth, eth0, all) = (names(&["eth*"]), names(&["eth0"]), names(&["*"]));
        assert!(all.is_any());
        assert!(eth.covers(&eth0) && !eth0.covers(&eth) && all.covers(&eth));
        assert!(eth.contains("eth") && eth.contains("eth0") && !eth.contains("et"));
        assert!(!eth.meets(&names(&["wg*"])));
        assert!(names(&["e*"]).covers(&names(&["eth*", "en0"])));
        assert!(eth.subtract(&names(&["eth*"])).is_empty());
    }

    #[test]
    fn sets_are_written_back_as_patterns() {
        let text = |n: &Names| format!("{n:?}");
        assert_eq!(text(&names(&["eth*", "wg0", "lo"])), r#"["eth*", "lo", "wg0"]"#);
        assert_eq!(text(&names(&["eth*"]).complement()), r#"not ["eth*"]"#);
        assert_eq!(text(&names(&["eth*"]).subtract(&names(&["eth0"]))), r#"["eth*"] not ["eth0"]"#);
        assert_eq!(text(&names(&["a*", "b*"])), r#"["a*", "b*"]"#);
        assert_eq!(text(&names(&["eth*", "wg*"]).complement()), r#"not ["eth*", "wg*"]"#);
        assert_eq!(text(&Names::any()), "any");
        // Fifteen bytes and a wildcard: only the name itself is real, and
        // nft cannot load the wildcard.
        assert_eq!(text(&names(&["abcdefghijklmno*"])), r#"["abcdefghijklmno"]"#);
    }

    /// A wildcard ending in a backslash (`a\` then anything) cannot be
    /// written for nft, which reads `"a\*"` as the exact name `a*`, nor can
    /// a control character or a quote: the set of `a*` and `b` less `ab`
    /// (the oracle's seed 11, round 32) is written without them, and its
    /// patterns are the set's names less those.
    #[test]
    fn patterns_are_names_nft_reads_back() {
        let set = names(&["a*", "b"]).subtract(&names(&["ab"]));
        let m = set.patterns();
        let all: Vec<&NamePattern> = m.only.iter().flatten().chain(&m.not).collect();
        for p in &all {
            let t = p.text();
            assert!(t.bytes().all(|b| b == b'*' || writable(b)), "{set:?}: {t:?}");
            assert!(!t.ends_with("\\*"), "{set:?}: {t:?}");
        }
        let back = match &m.only {
            Some(only) => Names::of(only, false).subtract(&Names::of(&m.not, false)),
            None => Names::of(&m.not, true),
        };
        for name in ["a", "ac", "a0", "b", "ab0", "ab", "a\\", "a\\x", "a\"x", "a\u{1}"] {
            let want = set.contains(name) && name.bytes().all(writable);
            assert_eq!(back.contains(name), want, "{name:?} in {set:?}");
        }
    }

    #[test]
    fn samples_are_members() {
        for set in [
            names(&["eth*"]),
            names(&["eth*"]).subtract(&names(&["eth"])),
            names(&["lo"]).complement(),
            Names::any(),
        ] {
            for high in [false, true] {
                let s = set.sample(high);
                assert!(set.contains(&s), "{set:?} {s:?}");
            }
        }
    }
}
