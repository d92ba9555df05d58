//! The strategies that draw random sources and packets (`super`).

use proptest::prelude::*;
use shriek_compiler::ir::Hook;
use shriek_compiler::space::{Family, Packet};

use super::*;

pub fn ranges<T: Copy + Ord + std::fmt::Debug + 'static>(
    pool: &'static [T],
) -> impl Strategy<Value = Vec<(T, T)>> {
    let one = (prop::sample::select(pool), prop::sample::select(pool))
        .prop_map(|(a, b)| (a.min(b), a.max(b)));
    let single = prop::sample::select(pool).prop_map(|a| (a, a));
    prop::collection::vec(prop_oneof![2 => single, 1 => one], 1..=3)
}

pub fn flags_byte() -> impl Strategy<Value = u8> {
    prop_oneof![
        3 => prop::sample::select(vec![0x02u8, 0x12, 0x10, 0x11, 0x04, 0x14, 0x00, 0x03, 0x29]),
        1 => any::<u8>(),
    ]
}

pub fn a_match(domain: Domain) -> impl Strategy<Value = Match> {
    let n = addr_items().len();
    let states = prop::collection::vec(0..STATES.len(), 1..=3);
    // The kernel's connection tracking gives a packet sent alone a state
    // of its own choosing: its domain leaves `ct state` out.
    let ct = if domain == Domain::Kernel { 0 } else { 2 };
    // `oif` is known only once a packet is routed, `iif` not for the
    // host's own packets: resolve refuses neither, and the kernel reads
    // an empty name there.
    prop_oneof![
        3 => (any::<bool>(), any::<bool>(), prop::collection::vec(0..n, 1..=3))
            .prop_map(|(dst, neg, items)| Match::Addr { dst, neg, items }),
        3 => (prop::bool::weighted(0.3), prop::collection::vec(prop::sample::select(PROTOS.to_vec()), 1..=3))
            .prop_map(|(neg, items)| Match::Proto { neg, items }),
        4 => (0..3usize, any::<bool>(), prop::bool::weighted(0.3), ranges(&PORTS))
            .prop_map(|(proto, dst, neg, items)| Match::Port { proto, dst, neg, items }),
        2 => (any::<bool>(), prop::bool::weighted(0.3), prop::collection::vec(prop::sample::select(NAME_ITEMS.to_vec()), 1..=2))
            .prop_map(|(out, neg, items)| Match::Iface { out, neg, items }),
        ct => (prop::bool::weighted(0.3), states).prop_map(|(neg, states)| Match::Ct { neg, states }),
        1 => prop_oneof![Just(Family::V4), Just(Family::V6)].prop_map(Match::Family),
        2 => (prop::bool::weighted(0.3), ranges(&MARKS)).prop_map(|(neg, items)| Match::Mark { neg, items }),
        2 => (0..6u8, flags_byte(), flags_byte()).prop_map(|(form, value, mask)| {
            let mask = if mask == 0 { 0x02 } else { mask };
            // A value outside its mask never holds and is refused.
            let value = if form >= 4 { value & mask } else { value };
            Match::Flags { form, value, mask }
        }),
        2 => (any::<bool>(), any::<bool>(), prop::bool::weighted(0.3), ranges(&ICMP_VALUES))
            .prop_map(|(v6, code, neg, items)| Match::Icmp { v6, code, neg, items }),
    ]
}

/// A rule of chain `chain` of `chains`; `reject` unless a postrouting
/// chain reaches it (the kernel refuses `reject` there: E0255).
pub fn a_rule(
    domain: Domain,
    hook: Hook,
    nat: bool,
    chain: usize,
    chains: usize,
    reject: bool,
) -> impl Strategy<Value = Rule> {
    let mut verdicts: Vec<(u32, BoxedStrategy<Option<Verdict>>)> = vec![
        (3, Just(None).boxed()),
        (3, Just(Some(Verdict::Accept)).boxed()),
        (3, Just(Some(Verdict::Drop)).boxed()),
        (1, Just(Some(Verdict::Return)).boxed()),
    ];
    if reject {
        verdicts.push((1, Just(Some(Verdict::Reject)).boxed()));
        verdicts.push((1, Just(Some(Verdict::RejectIcmpx)).boxed()));
    }
    let later: Vec<usize> = (chain + 1..chains).collect();
    if !later.is_empty() {
        let l = later.clone();
        verdicts.push((2, prop::sample::select(l).prop_map(|c| Some(Verdict::Jump(c))).boxed()));
        verdicts
            .push((1, prop::sample::select(later).prop_map(|c| Some(Verdict::Goto(c))).boxed()));
    }
    // Only a base chain of `type nat` translates.
    let translations = if nat && chain == 0 { nats(hook) } else { Vec::new() };
    let mut stmts: Vec<(u32, BoxedStrategy<Stmt>)> = vec![
        (2, Just(Stmt::Counter).boxed()),
        (2, prop::sample::select(MARKS.to_vec()).prop_map(Stmt::MarkSet).boxed()),
    ];
    // Real packets sent in a burst would run a rate out.
    if domain == Domain::Model {
        stmts.push((1, prop::sample::select(LIMITS.to_vec()).prop_map(Stmt::Limit).boxed()));
    }
    if !translations.is_empty() {
        stmts.push((
            3,
            prop::sample::select(translations).prop_map(|(t, f)| Stmt::Nat(t, f)).boxed(),
        ));
    }
    (
        prop_oneof![
            1 => Just(Vec::new()),
            6 => prop::collection::vec(a_match(domain), 1..=3),
        ],
        prop::collection::vec(prop::strategy::Union::new_weighted(stmts), 0..=2),
        prop::strategy::Union::new_weighted(verdicts),
    )
        .prop_map(|(matches, mut stmts, mut verdict)| {
            // One of each kind a rule: one `limit`, one `mark set`, one
            // translation, which decides and so takes the verdict's place.
            for kind in [0, 1, 2] {
                let of = |s: &Stmt| match s {
                    Stmt::Limit(_) => 0,
                    Stmt::MarkSet(_) => 1,
                    Stmt::Nat(..) => 2,
                    Stmt::Counter => 3,
                };
                let mut seen = false;
                stmts.retain(|s| of(s) != kind || !std::mem::replace(&mut seen, true));
            }
            // A translation goes last, as it is written in nft.
            stmts.sort_by_key(|s| matches!(s, Stmt::Nat(..)));
            if stmts.iter().any(|s| matches!(s, Stmt::Nat(..))) {
                verdict = None;
            }
            Rule { matches, stmts, verdict }
        })
}

/// The matches of a rule a dispatch map takes: a tcp or udp port alone,
/// or with one source or destination address, the ports few, so that
/// port and address rules share them (the two-level dispatch of
/// `lower/dispatch/tree.rs`).
pub fn keyed_matches() -> impl Strategy<Value = Vec<Match>> {
    let n = addr_items().len();
    (0..3u8, 0..2usize, prop::sample::select(&PORTS[1..4]), 0..n).prop_map(
        |(shape, proto, port, item)| {
            let port = Match::Port { proto, dst: true, neg: false, items: vec![(port, port)] };
            match shape {
                0 => vec![port],
                s => vec![Match::Addr { dst: s == 2, neg: false, items: vec![item] }, port],
            }
        },
    )
}

pub fn a_table(domain: Domain, hook: Hook, priority: i32) -> impl Strategy<Value = Tab> {
    let nat_hook = hook != Hook::Forward && domain == Domain::Model;
    // Another hook's base chain, for the model only (the kernel's packets
    // would meet it), when there are chains to jump to.
    let others: Vec<Hook> = HOOKS.into_iter().filter(|h| *h != hook).collect();
    let extra_hook = if domain == Domain::Model {
        prop::option::weighted(0.35, prop::sample::select(others)).boxed()
    } else {
        Just(None).boxed()
    };
    (
        (prop::bool::weighted(if nat_hook { 0.3 } else { 0.0 }), prop::bool::weighted(0.3)),
        any::<bool>(),
        1..=3usize,
        extra_hook,
    )
        .prop_flat_map(move |((nat, keyed), drop_policy, n, extra_hook)| {
            let extra_hook = extra_hook.filter(|_| n > 1);
            let chains: Vec<_> = (0..n)
                .map(|c| {
                    // The extra base chain jumps to the regular chains.
                    let postrouting = hook == Hook::Postrouting
                        || (c > 0 && extra_hook == Some(Hook::Postrouting));
                    let rule = a_rule(domain, hook, nat, c, n, !postrouting);
                    if keyed && c == 0 {
                        // A service list: rules a dispatch map takes, many
                        // sharing ports, mostly with a verdict.
                        let keyed = (rule, keyed_matches(), 0..4u8).prop_map(|(mut r, m, t)| {
                            r.matches = m;
                            if t < 3 {
                                r.stmts.retain(|s| matches!(s, Stmt::Counter));
                                if matches!(r.verdict, None | Some(Verdict::Return)) {
                                    r.verdict =
                                        Some(if t == 0 { Verdict::Drop } else { Verdict::Accept });
                                }
                            }
                            r
                        });
                        prop::collection::vec(keyed, 8..24).boxed()
                    } else {
                        prop::collection::vec(rule, if c == 0 { 2..12 } else { 0..4 }).boxed()
                    }
                })
                .collect();
            let extra = match extra_hook {
                Some(h) => {
                    let reject = h != Hook::Postrouting;
                    prop::collection::vec(a_rule(domain, h, false, 0, n, reject), 1..4)
                        .prop_map(move |rules| Some((h, rules)))
                        .boxed()
                }
                None => Just(None).boxed(),
            };
            (chains, extra).prop_map(move |(chains, extra)| Tab {
                priority,
                nat,
                drop_policy,
                chains,
                extra,
            })
        })
}

pub fn a_source(domain: Domain) -> impl Strategy<Value = Source> {
    // The kernel's packets are the host's own, sent from a raw socket.
    let hooks = match domain {
        Domain::Model => HOOKS.to_vec(),
        Domain::Kernel => vec![Hook::Output],
    };
    let other = prop::option::weighted(0.25, prop_oneof![Just(-10), Just(10)]);
    (prop::sample::select(hooks), other, prop::bool::weighted(0.3)).prop_flat_map(
        move |(hook, other, defines)| {
            let mut tables = vec![a_table(domain, hook, 0).boxed()];
            if let Some(priority) = other {
                tables.push(a_table(domain, hook, priority).boxed());
            }
            tables.prop_map(move |mut tables| {
                tables.sort_by_key(|t| t.priority);
                Source { hook, tables, defines }
            })
        },
    )
}

pub fn a_packet(domain: Domain, hook: Hook) -> impl Strategy<Value = Packet> {
    let iface = || prop::sample::select(IFACES.to_vec());
    // A raw socket's route needs a destination that is one host, and
    // the kernel fills in an IPv4 source of 0.0.0.0.
    let (saddrs, daddrs) = match domain {
        Domain::Model => (0..V4.len(), 0..V4.len()),
        Domain::Kernel => (1..V4.len(), 1..5),
    };
    (
        any::<bool>(),
        prop::sample::select(PROTOS.to_vec()),
        (saddrs, daddrs),
        (prop::sample::select(PORTS.to_vec()), prop::sample::select(PORTS.to_vec())),
        (iface(), iface()),
        prop::sample::select(STATES.to_vec()),
        (
            (
                prop::sample::select(ICMP_VALUES.to_vec()),
                prop::sample::select(ICMP_VALUES.to_vec()),
            ),
            flags_byte(),
            prop::sample::select(MARKS.to_vec()),
        ),
    )
        .prop_map(
            move |(
                v6,
                proto,
                (s, d),
                (sport, dport),
                (iif, oif),
                (_, ct),
                ((icmp_type, icmp_code), flags, mark),
            )| {
                let family = if v6 { Family::V6 } else { Family::V4 };
                let addr = |i: usize| if v6 { V6[i] } else { V4[i] as u128 };
                // An IPv6 packet's protocol is never an extension header:
                // the kernel reads past them to find it.
                let skipped = IPV6_EXTENSION_HEADERS.contains(&proto);
                let proto = if v6 && skipped { 59 } else { proto };
                // The kernel's routes: 10.0.1.0 and fd00::1:0 leave by `b`,
                // the rest by `ab`.
                let oif = match domain {
                    Domain::Model => oif,
                    Domain::Kernel if d == 4 => "b",
                    Domain::Kernel => "ab",
                };
                let ports = [6, 17, 132].contains(&proto);
                let icmp = proto == 1 || proto == 58;
                Packet {
                    family,
                    proto,
                    saddr: addr(s),
                    daddr: addr(d),
                    sport: ports.then_some(sport),
                    dport: ports.then_some(dport),
                    // No `oif` before routing, no `iif` on the host's own packets.
                    iif: if hook == Hook::Output { String::new() } else { iif.to_string() },
                    oif: if matches!(hook, Hook::Prerouting | Hook::Input) {
                        String::new()
                    } else {
                        oif.to_string()
                    },
                    ct,
                    icmp_type: icmp.then_some(icmp_type),
                    icmp_code: icmp.then_some(icmp_code),
                    tcp_flags: (proto == 6).then_some(flags),
                    mark,
                }
            },
        )
}

/// A source and `packets` packets for it.
pub fn source_and_packets(
    domain: Domain,
    packets: usize,
) -> impl Strategy<Value = (Source, Vec<Packet>)> {
    a_source(domain).prop_flat_map(move |s| {
        let hook = s.hook;
        (Just(s), prop::collection::vec(a_packet(domain, hook), packets))
    })
}
