use super::*;
use crate::space::{Families, PROTO_TCP, PROTO_UDP};
use proptest::prelude::*;

/// Up to two ranges, or the field left open, over a small span so that
/// cubes meet and cover each other often; some touch the family's last
/// address, where an open field and a full range are the same set.
fn field(max: u128) -> impl Strategy<Value = Option<Intervals>> {
    let edge = prop_oneof![0..=20u128, (max - 3)..=max];
    let range = (edge.clone(), edge).prop_map(|(a, b)| (a.min(b), a.max(b)));
    prop_oneof![
        Just(None),
        Just(Some(Intervals::range(0, max))),
        prop::collection::vec(range, 1..=2).prop_map(|r| Some(Intervals::from_ranges(r))),
    ]
}

fn cube() -> impl Strategy<Value = Cube> {
    let family = prop_oneof![
        Just(Families::ALL),
        Just(Families::only(Family::V4)),
        Just(Families::only(Family::V6))
    ];
    let proto = prop_oneof![
        Just(Protos::ALL),
        Just(Protos::only(PROTO_TCP)),
        Just(Protos::only(PROTO_UDP))
    ];
    let names = prop_oneof![Just(Names::any()), Just(Names::exact("eth0"))];
    let ct = prop_oneof![Just(CtState::ALL[0]), Just(CtState::ALL[1])]
        .prop_map(crate::space::CtStates::only);
    let ct = prop_oneof![Just(crate::space::CtStates::ALL), ct];
    (family, proto, field(u32::MAX.into()), field(65535), field(65535), names, ct, field(7))
        .prop_map(|(family, proto, saddr, dport, sport, iif, ct, mark)| Cube {
            family,
            proto,
            saddr: saddr.filter(|_| family == Families::only(Family::V4)),
            dport,
            sport,
            iif,
            ct,
            mark,
            ..Cube::full()
        })
        .prop_filter("a rule's cubes are not empty", |c| !c.is_empty())
}

/// `c` with some fields opened up, or widened to their whole range:
/// a cube that covers `c`, written differently.
fn widened(c: &Cube, how: [u8; 7]) -> Cube {
    let open = |f: &Option<Intervals>, how: u8, max: u128| match how % 3 {
        0 => f.clone(),
        1 => None,
        _ => Some(Intervals::range(0, max)),
    };
    let v4 = c.family == Families::only(Family::V4);
    Cube {
        family: if how[0].is_multiple_of(2) { c.family } else { Families::ALL },
        proto: if how[1].is_multiple_of(2) { c.proto } else { Protos::ALL },
        // A full range of addresses is a range of one family's.
        saddr: if v4 { open(&c.saddr, how[2], u32::MAX.into()) } else { c.saddr.clone() },
        dport: open(&c.dport, how[3], 65535),
        sport: open(&c.sport, how[4], 65535),
        mark: open(&c.mark, how[5], 7),
        iif: if how[6].is_multiple_of(2) { c.iif.clone() } else { Names::any() },
        ..c.clone()
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    /// The box tests stand in for the cube tests only where they agree:
    /// `may_cover` is never false when the cube covers, `meet_exactly`
    /// is `intersects`, and the keys say what the boxes do.
    #[test]
    fn box_tests_agree_with_the_cubes(a in cube(), b in cube(), how in any::<[u8; 7]>()) {
        let w = widened(&b, how);
        for (a, b) in [(&a, &b), (&w, &b)] {
            let (ha, hb) = (Hull::of(a), Hull::of(b));
            if a.covers(b) {
                prop_assert!(ha.may_cover(&hb), "{a:?} covers {b:?}");
            }
            prop_assert_eq!(ha.meet_exactly(a, &hb, b), a.intersects(b), "{:?} {:?}", a, b);
            let (ka, kb) = (Key::of(&ha), Key::of(&hb));
            prop_assert_eq!(ka.meets_or(&kb, &ha, &hb), ha.meets(&hb), "{:?} {:?}", ka, kb);
            prop_assert_eq!(kb.meets_or(&ka, &hb, &ha), ha.meets(&hb), "{:?} {:?}", kb, ka);
            prop_assert_eq!(hb.meet_exactly(b, &ha, a), a.intersects(b), "{:?} {:?}", b, a);
        }
    }

    /// A stream hands out what a query returns, in the same order.
    #[test]
    fn a_stream_reads_what_a_query_returns(
        lists in prop::collection::vec(prop::collection::btree_set(prop_oneof![0..3000u32, 0..200_000u32], 0..200), 0..12),
        below in prop_oneof![Just(u32::MAX), 0..3000u32, 0..200_000u32],
    ) {
        let lists: Vec<Vec<u32>> = lists.into_iter().map(|s| s.into_iter().collect()).collect();
        let mut all: Vec<u32> = lists.iter().flatten().copied().filter(|&i| i < below).collect();
        all.sort_unstable();
        all.dedup();
        let stream = Stream::new(lists.iter().map(Vec::as_slice).collect(), below);
        prop_assert_eq!(stream.collect::<Vec<u32>>(), all);
    }
}
