//! The blockers of one chain seen so far, indexed to find the few a cube
//! may meet: buckets on destination port and source address whose bounds are
//! quantiles of the chain's own values, and a bounding box ([`Hull`]) per
//! cube, compared before the exact, allocation-heavy cube tests.
//!
//! Nothing here decides anything: a candidate the index returns that does
//! not really meet the cube costs a little time in `shadow`, never a wrong
//! answer, and the index never leaves out an entry that may meet it.

use super::shadow::Class;
use crate::ir;
use crate::space::{CtState, Cube, Family, Intervals, Names, Protos};

/// One cube of one blocker; its bounding box is in [`Entries::hulls`].
pub(super) struct Entry<'a> {
    pub rule: u32,
    pub class: Class,
    pub cube: Held<'a>,
    pub volume: f64,
    /// `cube.intervals()`, read for the work budget of every comparison.
    pub intervals: usize,
}

impl<'a> Entry<'a> {
    /// Rule `rule`'s `cube`, which ends the chain as `class`.
    pub fn new(rule: u32, class: Class, cube: impl Into<Held<'a>>) -> Entry<'a> {
        let cube = cube.into();
        Entry { rule, class, volume: volume(&cube), intervals: cube.intervals(), cube }
    }
}

/// A blocker's cube: the rule's own when the rule blocks with all of its
/// packets (the usual case, borrowed: the index of 100k rules then holds no
/// second copy of them), or one made for it (a jump's part of its target,
/// a cube whose mark is left open), boxed to keep entries small.
pub(super) enum Held<'a> {
    Rule(&'a Cube),
    Made(Box<Cube>),
}

impl std::ops::Deref for Held<'_> {
    type Target = Cube;

    fn deref(&self) -> &Cube {
        match self {
            Held::Rule(c) => c,
            Held::Made(c) => c,
        }
    }
}

impl<'a> From<&'a Cube> for Held<'a> {
    fn from(c: &'a Cube) -> Self {
        Held::Rule(c)
    }
}

impl From<Cube> for Held<'_> {
    fn from(c: Cube) -> Self {
        Held::Made(Box::new(c))
    }
}

/// The blockers seen so far, in rule order, with a bucket index on
/// destination port and source address to find the ones a cube may meet.
///
/// Bucket bounds are quantiles of the chain's own values, so buckets hold
/// similar numbers of cubes whatever the address plan. A cube goes into the
/// grid cells (port bucket, address bucket) its hull spans, or else (a
/// service, `daddr VIP tcp dport P`: many share a few ports) the cells
/// (port bucket, destination address bucket), or else the port buckets, or
/// else the address buckets, or else (unrestricted in both, or spanning too
/// many buckets) the `wide` list that every query reads.
pub(super) struct Entries<'a> {
    pub all: Vec<Entry<'a>>,
    /// The bounding box of `all[i]`, dense, for fast scans; made once.
    pub hulls: Vec<Hull>,
    /// The [`Key`] of `hulls[i]`, denser still, for the first scan.
    pub keys: Vec<Key>,
    port_bounds: Vec<u128>,
    addr_bounds: Vec<u128>,
    /// Row-major: port bucket, then address bucket.
    grid: Vec<Vec<u32>>,
    daddr_bounds: Vec<u128>,
    /// Row-major: port bucket, then destination address bucket.
    grid_daddr: Vec<Vec<u32>>,
    by_port: Vec<Vec<u32>>,
    /// Finer port buckets, for the cubes that restrict the port and no
    /// address (a chain of port rules): about [`FINE`] cubes each, where
    /// `by_port` holds about the square root of the chain's. Empty when
    /// they would be no finer.
    fine_bounds: Vec<u128>,
    by_fine_port: Vec<Vec<u32>>,
    by_addr: Vec<Vec<u32>>,
    wide: Vec<u32>,
}

const MIN_BUCKETS: usize = 16;
const MAX_BUCKETS: usize = 512;
/// A cube spanning more buckets than this goes to the next index.
const MAX_SPAN: usize = 8;
/// About how many cubes a fine port bucket holds.
const FINE: usize = 32;
/// The most fine port buckets: a query over every port reads them all.
const MAX_FINE: usize = 4096;

impl<'a> Entries<'a> {
    pub fn new(chain: &ir::Chain) -> Entries<'a> {
        let cubes = || chain.rules.iter().flat_map(|r| r.space.iter());
        // About sqrt(n) buckets per axis keeps both the grid and each cell
        // small as chains grow.
        let buckets = (cubes().count() as f64).sqrt() as usize;
        let buckets = buckets.clamp(MIN_BUCKETS, MAX_BUCKETS);
        let port_bounds = quantiles(
            cubes().filter_map(|c| c.dport.as_ref()?.ranges().first().map(|r| r.0)),
            buckets,
        );
        let addr_bounds = quantiles(
            cubes().filter_map(|c| c.saddr.as_ref()?.ranges().first().map(|r| r.0)),
            buckets,
        );
        let daddr_bounds = quantiles(
            cubes()
                .filter(|c| c.saddr.is_none())
                .filter_map(|c| c.daddr.as_ref()?.ranges().first().map(|r| r.0)),
            buckets,
        );
        let port_only = || {
            cubes()
                .filter(|c| c.saddr.is_none() && c.daddr.is_none())
                .filter_map(|c| c.dport.as_ref()?.ranges().first().map(|r| r.0))
        };
        let fine = (port_only().count() / FINE).min(MAX_FINE);
        let mut fine_bounds = quantiles(port_only(), fine.max(1));
        if fine_bounds.len() <= port_bounds.len() {
            fine_bounds.clear();
        }
        // A chain's blockers are about its cubes: room for them up front,
        // not the slack of doubling (a third more, at 100k rules).
        let room = cubes().count();
        Entries {
            all: Vec::with_capacity(room),
            hulls: Vec::with_capacity(room),
            keys: Vec::with_capacity(room),
            grid: vec![Vec::new(); port_bounds.len() * addr_bounds.len()],
            grid_daddr: vec![Vec::new(); port_bounds.len() * daddr_bounds.len()],
            daddr_bounds,
            by_port: vec![Vec::new(); port_bounds.len()],
            by_fine_port: vec![Vec::new(); fine_bounds.len()],
            fine_bounds,
            by_addr: vec![Vec::new(); addr_bounds.len()],
            port_bounds,
            addr_bounds,
            wide: Vec::new(),
        }
    }

    pub fn push(&mut self, e: Entry<'a>) {
        let id = self.all.len() as u32;
        let hull = Hull::of(&e.cube);
        let ports = hull.dport_bounded().then(|| span(&self.port_bounds, widen(hull.dport)));
        let addrs = hull.saddr_bounded().then(|| span(&self.addr_bounds, hull.saddr));
        let daddrs = hull.daddr_bounded().then(|| span(&self.daddr_bounds, hull.daddr));
        let fine = (hull.dport_bounded() && !self.fine_bounds.is_empty())
            .then(|| span(&self.fine_bounds, widen(hull.dport)));
        let width = self.addr_bounds.len();
        let dwidth = self.daddr_bounds.len();
        match (ports, addrs, daddrs, fine) {
            (Some(p), Some(a), _, _) if p.len() * a.len() <= MAX_SPAN * 2 => {
                for pb in p {
                    for ab in a.clone() {
                        self.grid[pb * width + ab].push(id);
                    }
                }
            }
            (Some(p), None, Some(d), _) if p.len() * d.len() <= MAX_SPAN * 2 => {
                for pb in p {
                    for db in d.clone() {
                        self.grid_daddr[pb * dwidth + db].push(id);
                    }
                }
            }
            (_, _, _, Some(f)) if f.len() <= MAX_SPAN => {
                self.by_fine_port[f].iter_mut().for_each(|b| b.push(id))
            }
            (Some(r), _, _, _) if r.len() <= MAX_SPAN => {
                self.by_port[r].iter_mut().for_each(|b| b.push(id))
            }
            (_, Some(r), _, _) if r.len() <= MAX_SPAN => {
                self.by_addr[r].iter_mut().for_each(|b| b.push(id))
            }
            _ => self.wide.push(id),
        }
        self.keys.push(Key::of(&hull));
        self.hulls.push(hull);
        self.all.push(e);
    }

    /// Every entry among the first `below` whose hull may meet one of
    /// `hulls`, in rule order.
    ///
    /// It reads the index only, so the rules of a chain, each asking for
    /// the entries before its own, can ask at the same time once every
    /// entry is in.
    pub fn query(&self, hulls: &[Hull], below: usize) -> Vec<u32> {
        let lists = self.lists(hulls, below);
        let below = u32::try_from(below).unwrap_or(u32::MAX);
        let mut out: Vec<u32> =
            lists.into_iter().flatten().copied().filter(|&i| i < below).collect();
        // A cube spanning several cells, or met by several hulls, comes
        // back more than once.
        out.sort_unstable();
        out.dedup();
        out
    }

    /// What [`Entries::query`] returns, read lazily in rule order: a caller
    /// that stops at the first blocker covering its rule (most covered rules
    /// are covered by one rule near the top) reads none of the rest.
    pub fn stream(&self, hulls: &[Hull], below: usize) -> Stream<'_> {
        Stream::new(self.lists(hulls, below), u32::try_from(below).unwrap_or(u32::MAX))
    }

    /// The index's lists that may hold an entry meeting one of `hulls`
    /// and start before `below`. Each list is in push order, so the
    /// entries before `below` are a prefix; the reader cuts it (a rule with
    /// no port or no address reads a thousand lists, and searching each
    /// for its cut was a twentieth of a 100k-rule check).
    fn lists<'s>(&'s self, hulls: &[Hull], below: usize) -> Vec<&'s [u32]> {
        let below = u32::try_from(below).unwrap_or(u32::MAX);
        let mut out: Vec<&[u32]> = Vec::new();
        let mut take = |ids: &'s [u32]| {
            if ids.first().is_some_and(|&i| i < below) {
                out.push(ids);
            }
        };
        let width = self.addr_bounds.len();
        let dwidth = self.daddr_bounds.len();
        for h in hulls {
            let addrs = span(&self.addr_bounds, h.saddr);
            let daddrs = span(&self.daddr_bounds, h.daddr);
            for pb in span(&self.port_bounds, widen(h.dport)) {
                for b in &self.grid[pb * width + addrs.start..pb * width + addrs.end] {
                    take(b);
                }
                for b in &self.grid_daddr[pb * dwidth + daddrs.start..pb * dwidth + daddrs.end] {
                    take(b);
                }
            }
            for b in &self.by_port[span(&self.port_bounds, widen(h.dport))] {
                take(b);
            }
            if !self.fine_bounds.is_empty() {
                for b in &self.by_fine_port[span(&self.fine_bounds, widen(h.dport))] {
                    take(b);
                }
            }
            for b in &self.by_addr[span(&self.addr_bounds, h.saddr)] {
                take(b);
            }
        }
        take(&self.wide);
        out
    }
}

/// The ids of [`Entries::stream`], window by window: the ids of every list
/// below a bound are merged (sorted, each once: a cube spanning several
/// cells is in several lists) before the bound grows fourfold, so a caller
/// that stops early has merged only a little more than it read.
///
/// A window is merged as a bitmap of its ids, from the lowest to the
/// highest it may hold: marking and reading bits in order sorts and dedups
/// without comparing ids (a sort per window was a sixth of a 100k-rule
/// check), and each list is read once, in order, searched nowhere.
pub(super) struct Stream<'s> {
    /// What is left of each list, past the windows already merged; each
    /// starts below `below`.
    lists: Vec<&'s [u32]>,
    /// No id from here on is handed out.
    below: u32,
    /// The bound of the windows merged so far.
    end: u32,
    window: u32,
    /// The current window's ids, bit `k` of word `w` for id
    /// `base + 64 * w + k`; the words before `at` are read (and zero).
    bits: Vec<u64>,
    base: u32,
    at: usize,
}

/// The first window of [`Stream`], in entries: about how far down a chain
/// the rule covering a covered rule usually is.
const FIRST_WINDOW: u32 = 512;

impl<'s> Stream<'s> {
    /// The merged ids below `below` of `lists`, each sorted ascending.
    fn new(mut lists: Vec<&'s [u32]>, below: u32) -> Stream<'s> {
        lists.retain(|l| l.first().is_some_and(|&i| i < below));
        Stream { lists, below, end: 0, window: FIRST_WINDOW, bits: Vec::new(), base: 0, at: 0 }
    }

    /// Marks the ids of the next window; false when no list holds any more.
    fn merge_window(&mut self) -> bool {
        if self.lists.is_empty() {
            return false;
        }
        let end = self.end.saturating_add(self.window).min(self.below);
        self.end = end;
        self.window = self.window.saturating_mul(4);
        self.bits.clear();
        self.at = 0;
        // The lowest id left, and the highest the window may hold.
        let lo = self.lists.iter().map(|l| l[0]).min().unwrap_or(u32::MAX);
        let last = self.lists.iter().filter_map(|l| l.last().copied()).max().unwrap_or(0);
        let hi = last.min(end.saturating_sub(1));
        if lo < end && lo <= hi {
            let base = lo & !63;
            self.base = base;
            self.bits.resize(((hi - base) / 64 + 1) as usize, 0);
            for list in &mut self.lists {
                let mut k = 0;
                while let Some(&i) = list.get(k).filter(|&&i| i < end) {
                    let off = i - base;
                    self.bits[(off / 64) as usize] |= 1 << (off % 64);
                    k += 1;
                }
                *list = &list[k..];
            }
        }
        let below = self.below;
        self.lists.retain(|l| l.first().is_some_and(|&i| i < below));
        true
    }
}

impl Iterator for Stream<'_> {
    type Item = u32;

    fn next(&mut self) -> Option<u32> {
        loop {
            while let Some(w) = self.bits.get_mut(self.at) {
                if *w != 0 {
                    let k = w.trailing_zeros();
                    *w &= *w - 1;
                    return Some(self.base + 64 * self.at as u32 + k);
                }
                self.at += 1;
            }
            if !self.merge_window() {
                return None;
            }
        }
    }
}

/// Up to `buckets` bucket starts, the first 0, from sample values.
fn quantiles(values: impl Iterator<Item = u128>, buckets: usize) -> Vec<u128> {
    let mut v: Vec<u128> = values.collect();
    v.sort_unstable();
    let step = (v.len() / buckets).max(1);
    let mut bounds = vec![0];
    for x in v.into_iter().step_by(step) {
        if x > *bounds.last().expect("starts with 0") {
            bounds.push(x);
        }
    }
    bounds
}

/// The buckets a closed range `(lo, hi)` falls into.
fn span(bounds: &[u128], (lo, hi): (u128, u128)) -> std::ops::Range<usize> {
    let at = |v: u128| bounds.partition_point(|&b| b <= v).saturating_sub(1);
    if lo > hi {
        return 0..0;
    }
    at(lo)..at(hi) + 1
}

/// A hull's port bounds as the index's bounds are kept.
fn widen((lo, hi): (u32, u32)) -> (u128, u128) {
    let w = |v: u32| if v == u32::MAX { u128::MAX } else { u128::from(v) };
    (w(lo), w(hi))
}

/// A cube's bounding box in its integer fields, compared before the exact,
/// allocation-heavy cube tests.
#[derive(Clone, Copy, Debug)]
pub(super) struct Hull {
    family: u8,
    proto: Protos,
    ct: u8,
    /// `(lo, hi)`; the whole range when unrestricted.
    saddr: (u128, u128),
    daddr: (u128, u128),
    /// Ports in 32 bits, `(0, u32::MAX)` when unrestricted: a port is
    /// below 2^16, and u128 pairs made a hull 176 bytes where 128 do (5
    /// MiB of the index of 100k rules, held while the lowering runs).
    sport: (u32, u32),
    dport: (u32, u32),
    /// Whether the box is the cube: no field holds more than one interval,
    /// and the fields the box leaves out (interfaces, icmp, tcp flags, mark)
    /// are unrestricted. Two such cubes meet exactly when their boxes do.
    pub exact: bool,
}

impl Hull {
    pub fn of(c: &Cube) -> Hull {
        let span = |f: &Option<Intervals>| match f {
            Some(s) => match (s.ranges().first(), s.ranges().last()) {
                (Some(a), Some(b)) => (a.0, b.1),
                _ => (1, 0),
            },
            None => (0, u128::MAX),
        };
        // Order kept, so boxes meet as before; a bound at 2^32 or above
        // (never a port's) would merge values, so such a box is not exact.
        let port = |f: &Option<Intervals>| {
            let (lo, hi) = span(f);
            let narrow = |v: u128| u32::try_from(v).unwrap_or(u32::MAX);
            (narrow(lo), narrow(hi))
        };
        let lossless = |f: &Option<Intervals>| {
            f.as_ref().is_none_or(|s| s.ranges().last().is_none_or(|r| r.1 < u128::from(u32::MAX)))
        };
        Hull {
            family: u8::from(c.family.contains(Family::V4))
                | (u8::from(c.family.contains(Family::V6)) << 1),
            proto: c.proto,
            ct: CtState::ALL
                .iter()
                .enumerate()
                .fold(0, |m, (i, s)| m | (u8::from(c.ct.contains(*s)) << i)),
            saddr: span(&c.saddr),
            daddr: span(&c.daddr),
            sport: port(&c.sport),
            dport: port(&c.dport),
            exact: [&c.saddr, &c.daddr, &c.sport, &c.dport]
                .iter()
                .all(|f| f.as_ref().is_none_or(|s| s.ranges().len() <= 1))
                && lossless(&c.sport)
                && lossless(&c.dport)
                && [&c.icmp_type, &c.icmp_code, &c.tcp_flags, &c.mark].iter().all(|f| f.is_none())
                && c.iif.is_any()
                && c.oif.is_any(),
        }
    }

    /// Whether the cubes of two boxes meet, reading the cubes only when
    /// the boxes alone cannot tell.
    pub fn meet_exactly(&self, a: &Cube, o: &Hull, b: &Cube) -> bool {
        self.meets(o) && (self.exact && o.exact || a.intersects(b))
    }

    /// False when this box's cube cannot cover `o`'s: a field `o` bounds
    /// reaches outside this box, or `o` holds a family, protocol or ct
    /// state this box lacks. True says nothing; [`Cube::covers`] decides.
    pub fn may_cover(&self, o: &Hull) -> bool {
        fn within<T: Ord + Copy>(outer: (T, T), inner: (T, T), open: (T, T)) -> bool {
            // An unrestricted field of `inner` may still be covered by an
            // interval reaching its family's last address.
            inner == open || (outer.0 <= inner.0 && inner.1 <= outer.1)
        }
        o.family & !self.family == 0
            && o.ct & !self.ct == 0
            && within(self.dport, o.dport, (0, u32::MAX))
            && within(self.saddr, o.saddr, (0, u128::MAX))
            && within(self.daddr, o.daddr, (0, u128::MAX))
            && within(self.sport, o.sport, (0, u32::MAX))
            && covers_protos(self.proto, o.family, o.proto)
    }

    fn dport_bounded(&self) -> bool {
        self.dport != (0, u32::MAX)
    }

    fn saddr_bounded(&self) -> bool {
        self.saddr != (0, u128::MAX)
    }

    fn daddr_bounded(&self) -> bool {
        self.daddr != (0, u128::MAX)
    }

    pub fn meets(&self, o: &Hull) -> bool {
        fn over<T: Ord + Copy>(a: (T, T), b: (T, T)) -> bool {
            a.0.max(b.0) <= a.1.min(b.1)
        }
        self.family & o.family != 0
            && self.ct & o.ct != 0
            && over(self.dport, o.dport)
            && over(self.saddr, o.saddr)
            && over(self.daddr, o.daddr)
            && over(self.sport, o.sport)
            && some_packet(self.family & o.family, self.proto.intersect(o.proto))
    }
}

/// A [`Hull`] in 32 bytes, for the scan of every candidate a rule's
/// query returns: a hull is 176 bytes (three cache lines), and reading them
/// at random among 100k was a fifth of a 100k-rule check.
///
/// Each field is clamped into a narrower integer, a map that keeps the
/// order of its values, so two boxes that overlap still do here, and the
/// protocol bits are folded onto 16: [`Key::meets`] never says no where
/// [`Hull::meets`] says yes. Two keys that lost nothing (every low end
/// below the clamp, so no two values merged that decide an overlap; one
/// protocol or all of them) also say yes exactly where the hulls do, and
/// the hulls need not be read at all: IPv4 addresses and ports always fit.
#[derive(Clone, Copy, Debug)]
#[repr(C, align(32))]
pub(super) struct Key {
    saddr: (u32, u32),
    daddr: (u32, u32),
    dport: (u16, u16),
    sport: (u16, u16),
    /// [`Protos::folded`], folded again onto 16 bits.
    proto: u16,
    /// The box's one protocol, [`EVERY_PROTO`] for all of them, or
    /// [`SOME_PROTOS`].
    one: u16,
    family: u8,
    ct: u8,
    /// Whether this key tells what its hull does (see above).
    lossless: bool,
}

const EVERY_PROTO: u16 = 256;
const SOME_PROTOS: u16 = 257;

impl Key {
    pub fn of(h: &Hull) -> Key {
        let mut lossless = true;
        let mut c32 = |(lo, hi): (u128, u128)| {
            lossless &= lo < u128::from(u32::MAX);
            let c = |v: u128| u32::try_from(v).unwrap_or(u32::MAX);
            (c(lo), c(hi))
        };
        let (saddr, daddr) = (c32(h.saddr), c32(h.daddr));
        let mut c16 = |(lo, hi): (u32, u32)| {
            lossless &= lo < u32::from(u16::MAX);
            let c = |v: u32| u16::try_from(v).unwrap_or(u16::MAX);
            (c(lo), c(hi))
        };
        let (dport, sport) = (c16(h.dport), c16(h.sport));
        let one = match h.proto.len() {
            256 => EVERY_PROTO,
            1 => h.proto.iter().next().map_or(SOME_PROTOS, u16::from),
            _ => SOME_PROTOS,
        };
        let folded = h.proto.folded();
        Key {
            saddr,
            daddr,
            dport,
            sport,
            proto: folded as u16 | (folded >> 16) as u16,
            one,
            family: h.family,
            ct: h.ct,
            lossless: lossless && one != SOME_PROTOS,
        }
    }

    /// Whether the boxes of these keys meet: `Some(false)` when they
    /// cannot, `Some(true)` when both keys are lossless and they do, `None`
    /// when only [`Hull::meets`] can tell.
    #[inline]
    pub fn meets(&self, o: &Key) -> Option<bool> {
        #[inline]
        fn over<T: Ord + Copy>(a: (T, T), b: (T, T)) -> bool {
            a.0.max(b.0) <= a.1.min(b.1)
        }
        let family = self.family & o.family;
        if family == 0
            || self.ct & o.ct == 0
            || self.proto & o.proto == 0
            || !over(self.dport, o.dport)
            || !over(self.saddr, o.saddr)
            || !over(self.daddr, o.daddr)
            || !over(self.sport, o.sport)
        {
            return Some(false);
        }
        if !(self.lossless && o.lossless) {
            return None;
        }
        // The protocols both hold: one, all, or none.
        let proto = match (self.one, o.one) {
            (EVERY_PROTO, p) | (p, EVERY_PROTO) => p,
            (p, q) if p == q => p,
            _ => return Some(false),
        };
        // As [`some_packet`]: no IPv6 packet has an extension header as its
        // protocol.
        let v6 = || u8::try_from(proto).map_or(true, |p| Protos::of_family(Family::V6).contains(p));
        Some(family & V4 != 0 || (family & V6 != 0 && v6()))
    }

    /// [`Key::meets`], asking the hulls when the keys cannot tell.
    #[inline]
    pub fn meets_or(&self, o: &Key, h: &Hull, oh: &Hull) -> bool {
        self.meets(o).unwrap_or_else(|| h.meets(oh))
    }
}

/// The family bits of a box.
const V4: u8 = 1;
const V6: u8 = 2;

/// Whether some packet has a family of `family` (bits) and a protocol of
/// `proto`: no IPv6 packet has an extension header as its protocol, as in
/// [`Cube::is_empty`].
fn some_packet(family: u8, proto: Protos) -> bool {
    (family & V4 != 0 && !proto.is_empty())
        || (family & V6 != 0 && !proto.intersect(Protos::of_family(Family::V6)).is_empty())
}

/// Whether `mine` holds every protocol a packet of `family` (bits) and of
/// `theirs` has, as [`Cube::covers`] reads protocols.
fn covers_protos(mine: Protos, family: u8, theirs: Protos) -> bool {
    let missing = theirs.subtract(mine);
    missing.is_empty()
        || (family & V4 == 0 && missing.intersect(Protos::of_family(Family::V6)).is_empty())
}

/// A rough size of a cube, only to order blockers by how much they cover.
fn volume(c: &Cube) -> f64 {
    let fam = c.family.iter().count() as f64;
    let addr = |f: &Option<Intervals>| match f {
        Some(s) => s.count() as f64,
        None => c.family.iter().map(|f| f.max_addr() as f64 + 1.0).sum::<f64>() / fam.max(1.0),
    };
    let port = |f: &Option<Intervals>| f.as_ref().map_or(65536.0, |s| s.count() as f64);
    let names = |n: &Names| n.volume();
    fam * f64::from(c.proto.len())
        * addr(&c.saddr)
        * addr(&c.daddr)
        * port(&c.sport)
        * port(&c.dport)
        * names(&c.iif)
        * names(&c.oif)
        * c.ct.iter().count() as f64
}

#[cfg(test)]
mod tests;
