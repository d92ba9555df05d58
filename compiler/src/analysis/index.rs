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
}

impl<'a> Entry<'a> {
    /// Rule `rule`'s `cube`, which ends the chain as `class`.
    pub fn new(rule: u32, class: Class, cube: impl Into<Held<'a>>) -> Entry<'a> {
        let cube = cube.into();
        Entry { rule, class, volume: volume(&cube), cube }
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
    port_bounds: Vec<u128>,
    addr_bounds: Vec<u128>,
    /// Row-major: port bucket, then address bucket.
    grid: Vec<Vec<u32>>,
    daddr_bounds: Vec<u128>,
    /// Row-major: port bucket, then destination address bucket.
    grid_daddr: Vec<Vec<u32>>,
    by_port: Vec<Vec<u32>>,
    by_addr: Vec<Vec<u32>>,
    wide: Vec<u32>,
}

const MIN_BUCKETS: usize = 16;
const MAX_BUCKETS: usize = 512;
/// A cube spanning more buckets than this goes to the next index.
const MAX_SPAN: usize = 8;

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
        // A chain's blockers are about its cubes: room for them up front,
        // not the slack of doubling (a third more, at 100k rules).
        let room = cubes().count();
        Entries {
            all: Vec::with_capacity(room),
            hulls: Vec::with_capacity(room),
            grid: vec![Vec::new(); port_bounds.len() * addr_bounds.len()],
            grid_daddr: vec![Vec::new(); port_bounds.len() * daddr_bounds.len()],
            daddr_bounds,
            by_port: vec![Vec::new(); port_bounds.len()],
            by_addr: vec![Vec::new(); addr_bounds.len()],
            port_bounds,
            addr_bounds,
            wide: Vec::new(),
        }
    }

    pub fn push(&mut self, e: Entry<'a>) {
        let id = self.all.len() as u32;
        let hull = Hull::of(&e.cube);
        let ports = hull.dport_bounded().then(|| span(&self.port_bounds, hull.dport));
        let addrs = hull.saddr_bounded().then(|| span(&self.addr_bounds, hull.saddr));
        let daddrs = hull.daddr_bounded().then(|| span(&self.daddr_bounds, hull.daddr));
        let width = self.addr_bounds.len();
        let dwidth = self.daddr_bounds.len();
        match (ports, addrs, daddrs) {
            (Some(p), Some(a), _) if p.len() * a.len() <= MAX_SPAN * 2 => {
                for pb in p {
                    for ab in a.clone() {
                        self.grid[pb * width + ab].push(id);
                    }
                }
            }
            (Some(p), None, Some(d)) if p.len() * d.len() <= MAX_SPAN * 2 => {
                for pb in p {
                    for db in d.clone() {
                        self.grid_daddr[pb * dwidth + db].push(id);
                    }
                }
            }
            (Some(r), _, _) if r.len() <= MAX_SPAN => {
                self.by_port[r].iter_mut().for_each(|b| b.push(id))
            }
            (_, Some(r), _) if r.len() <= MAX_SPAN => {
                self.by_addr[r].iter_mut().for_each(|b| b.push(id))
            }
            _ => self.wide.push(id),
        }
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
        let below = u32::try_from(below).unwrap_or(u32::MAX);
        let mut out = Vec::new();
        // Each list is in push order: the entries before `below` are a prefix.
        let mut take = |ids: &[u32]| {
            out.extend_from_slice(&ids[..ids.partition_point(|&i| i < below)]);
        };
        let width = self.addr_bounds.len();
        let dwidth = self.daddr_bounds.len();
        for h in hulls {
            let addrs = span(&self.addr_bounds, h.saddr);
            let daddrs = span(&self.daddr_bounds, h.daddr);
            for pb in span(&self.port_bounds, h.dport) {
                for b in &self.grid[pb * width + addrs.start..pb * width + addrs.end] {
                    take(b);
                }
                for b in &self.grid_daddr[pb * dwidth + daddrs.start..pb * dwidth + daddrs.end] {
                    take(b);
                }
            }
            for b in &self.by_port[span(&self.port_bounds, h.dport)] {
                take(b);
            }
            for b in &self.by_addr[span(&self.addr_bounds, h.saddr)] {
                take(b);
            }
        }
        take(&self.wide);
        // A cube spanning several cells, or met by several hulls, comes
        // back more than once.
        out.sort_unstable();
        out.dedup();
        out
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
    sport: (u128, u128),
    dport: (u128, u128),
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
            sport: span(&c.sport),
            dport: span(&c.dport),
        }
    }

    fn dport_bounded(&self) -> bool {
        self.dport != (0, u128::MAX)
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
            && !self.proto.intersect(o.proto).is_empty()
    }
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
