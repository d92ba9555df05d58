//! Random rulesets and probes for the differential import tests, from a
//! seed: the same seed gives the same case.
//!
//! The values come from the test wire (`shriek_testkit::Wire`): the host is
//! 10.9.0.1 / fd09::1 with TCP servers on 22, 80, 8080, 9999 and UDP echo on
//! 53, 5353; the client has three IPv4 and two IPv6 addresses. Rules name
//! those addresses, nearby prefixes and the probes' own ports, so that they
//! match probes often.

use shriek_testkit::Probe;

/// splitmix64: small, and good enough to spread test cases.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// True with probability `percent`/100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    pub fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }
}

pub const CLIENT4: &[&str] = &["10.9.0.2", "10.9.0.3", "10.9.0.4"];
pub const CLIENT6: &[&str] = &["fd09::2", "fd09::3"];
pub const HOST4: &str = "10.9.0.1";
pub const HOST6: &str = "fd09::1";

/// Ports probed: open, closed, and the ones NAT rules translate.
pub const TCP_PORTS: &[u16] = &[22, 80, 8080, 9999, 1234, 8081, 8082];
pub const UDP_PORTS: &[u16] = &[53, 5353, 5000, 8083];

/// The first of the 40 source ports of block `block`: each case of each
/// differential test probes from a block of its own, so that no connection
/// of an earlier case is still tracked, and no two tests share a port. All
/// below 32768, out of the kernel's range of ephemeral ports.
pub fn sport_base(block: u32) -> u16 {
    let base = 20000 + block * 40;
    assert!(base + 40 <= 32768, "block {block} reaches the ephemeral ports");
    base as u16
}

/// The probes of one case, from the source ports of `block`.
pub fn probes(rng: &mut Rng, block: u32) -> Vec<Probe> {
    let base = sport_base(block);
    (0..24)
        .map(|i| {
            let v6 = rng.chance(35);
            let udp = rng.chance(35);
            let src = if v6 { *rng.pick(CLIENT6) } else { *rng.pick(CLIENT4) };
            let dport = if udp { *rng.pick(UDP_PORTS) } else { *rng.pick(TCP_PORTS) };
            Probe {
                udp,
                src: src.into(),
                sport: base + i,
                dst: if v6 { HOST6 } else { HOST4 }.into(),
                dport,
            }
        })
        .collect()
}

/// Source addresses and prefixes rules test, per family.
pub fn sources(v6: bool) -> &'static [&'static str] {
    if v6 {
        &["fd09::2", "fd09::3", "fd09::2/127", "fd09::/64", "fd09::/120", "2001:db8::/32"]
    } else {
        &[
            "10.9.0.2",
            "10.9.0.3",
            "10.9.0.4",
            "10.9.0.2/31",
            "10.9.0.0/30",
            "10.9.0.0/24",
            "192.168.0.0/16",
        ]
    }
}

pub fn destinations(v6: bool) -> &'static [&'static str] {
    if v6 {
        &["fd09::1", "fd09::/64", "fd09::2", "2001:db8::1"]
    } else {
        &["10.9.0.1", "10.9.0.0/24", "10.9.0.2", "172.16.0.0/12"]
    }
}

/// A port or a range around the probes' ports (those of `block` for a
/// source port), as `lo` and `hi`.
pub fn port_range(rng: &mut Rng, udp: bool, block: u32, source: bool) -> (u16, u16) {
    if source {
        let base = sport_base(block);
        let lo = base + rng.below(24) as u16;
        let hi = if rng.chance(50) { lo } else { (lo + rng.below(12) as u16).min(base + 39) };
        return (lo, hi);
    }
    let p = if udp { *rng.pick(UDP_PORTS) } else { *rng.pick(TCP_PORTS) };
    if rng.chance(70) {
        (p, p)
    } else {
        (p.saturating_sub(rng.below(100) as u16), p + rng.below(100) as u16)
    }
}

/// A list of ports for a multiport or set match.
pub fn port_list(rng: &mut Rng, udp: bool, block: u32, source: bool) -> Vec<(u16, u16)> {
    let n = 1 + rng.below(3);
    let mut out: Vec<(u16, u16)> = (0..n).map(|_| port_range(rng, udp, block, source)).collect();
    out.sort();
    out.dedup();
    out
}
