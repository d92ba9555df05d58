//! Match spaces back as short `.shr`-like text, for the labels of findings
//! ("drops tcp dport 1-1000 first").

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::ir::Nat;

use crate::space::{
    Cube, Family, Intervals, Names, Protos, PROTO_ICMP, PROTO_ICMPV6, PROTO_SCTP, PROTO_TCP,
    PROTO_UDP,
};

/// How many values of one field are written out before `...`.
const MAX_VALUES: usize = 3;

/// The packets of `space`, as `.shr` matches; `every packet` when unrestricted.
pub(super) fn space(space: &[Cube]) -> String {
    match space {
        [] => "no packet".to_string(),
        [one] => cube(one),
        [first, ..] => format!("{} and more", cube(first)),
    }
}

pub(super) fn cube(c: &Cube) -> String {
    let mut parts: Vec<String> = Vec::new();
    let family = c.family.single();
    let has_addr = c.saddr.is_some() || c.daddr.is_some();
    if let (Some(f), false) = (family, has_addr) {
        parts.push(format!("family {}", if f == Family::V4 { "ipv4" } else { "ipv6" }));
    }
    let has_ports = c.sport.is_some() || c.dport.is_some();
    let proto_word = match (has_ports, single_proto(c.proto)) {
        (true, Some(p)) => Some(proto_name(p)),
        _ => None,
    };
    if proto_word.is_none() && !c.proto.is_full() {
        parts.push(format!("proto {}", protos(c.proto)));
    }
    for (word, field) in [("saddr", &c.saddr), ("daddr", &c.daddr)] {
        if let (Some(set), Some(f)) = (field, family) {
            parts.push(format!("{word} {}", addrs(set, f)));
        }
    }
    for (word, field) in [("sport", &c.sport), ("dport", &c.dport)] {
        if let Some(set) = field {
            let values = values(set.ranges(), |v| v.to_string());
            match proto_word {
                Some(ref p) => parts.push(format!("{p} {word} {values}")),
                None => parts.push(format!("{word} {values}")),
            }
        }
    }
    for (word, names) in [("iif", &c.iif), ("oif", &c.oif)] {
        match names {
            Names::Only(s) => parts.push(format!("{word} {}", set(s.iter().cloned().collect()))),
            Names::AllBut(s) if !s.is_empty() => {
                parts.push(format!("{word} != {}", set(s.iter().cloned().collect())))
            }
            Names::AllBut(_) => {}
        }
    }
    if !c.ct.is_full() {
        let states: Vec<&str> = c.ct.iter().map(|s| s.keyword()).collect();
        parts.push(format!("ct state {}", states.join(",")));
    }
    if parts.is_empty() {
        "every packet".to_string()
    } else {
        parts.join(" ")
    }
}

/// A translation as written in a policy: `dnat to 10.0.0.2:80`.
pub(super) fn nat(n: &Nat) -> String {
    let target = |addr: &IpAddr, port: Option<u16>| match (addr, port) {
        (IpAddr::V6(a), Some(p)) => format!("[{a}]:{p}"),
        (a, Some(p)) => format!("{a}:{p}"),
        (a, None) => a.to_string(),
    };
    match n {
        Nat::Dnat { backends, balance: None } if backends.len() == 1 => {
            format!("dnat to {}", target(&backends[0].addr, backends[0].port))
        }
        Nat::Dnat { backends, balance } => {
            let all: Vec<String> = backends
                .iter()
                .map(|b| match b.weight {
                    1 => target(&b.addr, b.port),
                    w => format!("{} weight {w}", target(&b.addr, b.port)),
                })
                .collect();
            let mode = balance.map_or(String::new(), |m| format!(" balance {}", m.keyword()));
            format!("dnat to {{ {} }}{mode}", all.join(", "))
        }
        Nat::Snat { addr, port } => format!("snat to {}", target(addr, *port)),
        Nat::Masquerade => "masquerade".into(),
        Nat::Redirect { port } => format!("redirect to {port}"),
    }
}

fn single_proto(p: Protos) -> Option<u8> {
    let mut it = p.iter();
    match (it.next(), it.next()) {
        (Some(one), None) => Some(one),
        _ => None,
    }
}

pub(crate) fn proto_name(p: u8) -> String {
    match p {
        PROTO_TCP => "tcp".into(),
        PROTO_UDP => "udp".into(),
        PROTO_SCTP => "sctp".into(),
        PROTO_ICMP => "icmp".into(),
        PROTO_ICMPV6 => "icmpv6".into(),
        n => n.to_string(),
    }
}

fn protos(p: Protos) -> String {
    let all: Vec<String> = p.iter().map(proto_name).collect();
    if all.len() > 200 {
        let rest: Vec<String> = p.complement().iter().map(proto_name).collect();
        return format!("!= {}", set(rest));
    }
    set(all)
}

fn set(mut items: Vec<String>) -> String {
    if items.len() == 1 {
        return items.remove(0);
    }
    if items.len() > MAX_VALUES {
        items.truncate(MAX_VALUES);
        items.push("...".into());
    }
    format!("{{ {} }}", items.join(", "))
}

fn values(ranges: &[(u128, u128)], show: impl Fn(u128) -> String) -> String {
    let items = ranges
        .iter()
        .map(|&(lo, hi)| if lo == hi { show(lo) } else { format!("{}-{}", show(lo), show(hi)) })
        .collect();
    set(items)
}

fn addrs(set_: &Intervals, f: Family) -> String {
    let bits = if f == Family::V4 { 32 } else { 128 };
    let show = |v: u128| match f {
        Family::V4 => Ipv4Addr::from(v as u32).to_string(),
        Family::V6 => Ipv6Addr::from(v).to_string(),
    };
    let items = set_
        .ranges()
        .iter()
        .map(|&(lo, hi)| match prefix_len(lo, hi, bits) {
            Some(len) if len == bits => show(lo),
            Some(len) => format!("{}/{len}", show(lo)),
            None => format!("{}-{}", show(lo), show(hi)),
        })
        .collect();
    set(items)
}

/// The prefix length when `lo..=hi` is exactly one CIDR block.
fn prefix_len(lo: u128, hi: u128, bits: u32) -> Option<u32> {
    let size = (hi - lo).checked_add(1);
    match size {
        // The whole 128-bit space.
        None => Some(0),
        Some(size) if size.is_power_of_two() && lo & (size - 1) == 0 => {
            Some(bits - size.trailing_zeros())
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::space::Families;

    #[test]
    fn describes_ports_and_prefixes() {
        let c = Cube {
            family: Families::only(Family::V4),
            proto: Protos::only(PROTO_TCP),
            saddr: Some(Intervals::range(10 << 24, (11 << 24) - 1)),
            dport: Some(Intervals::range(1, 1000)),
            ..Cube::full()
        };
        assert_eq!(cube(&c), "saddr 10.0.0.0/8 tcp dport 1-1000");
        assert_eq!(cube(&Cube::full()), "every packet");
        let v6 = Cube {
            family: Families::only(Family::V6),
            saddr: Some(Intervals::range(0xfd00 << 112, (0xfe00 << 112) - 1)),
            ..Cube::full()
        };
        assert_eq!(cube(&v6), "saddr fd00::/8");
    }
}
