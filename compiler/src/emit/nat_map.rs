//! The map a balanced translation picks its backend from, as a named map
//! of its table (`map nat_1f02a9c4 { typeof numgen inc mod 3 : ip daddr .
//! th dport; counter; elements = { 0 : 10.0.1.1 . 8080, ... } }`, looked
//! up as `numgen inc mod 3 map @nat_1f02a9c4`).
//!
//! The map counts the connections each slot's backend was given. nft
//! 1.0.6 lists an anonymous map's element counters inside the rule (`map
//! { 0 counter packets 3 bytes 180 : ... }`) and cannot read that back
//! ("missing statement in map declaration"), so a saved `nft list
//! ruleset` would not load at boot; a named map's counters it reads back.
//!
//! The name is not part of the model: `plan` reads an anonymous map (what
//! `compile --emit json` writes: nft 1.0.6 has no JSON for a map keyed by
//! `typeof`) and a named one back as the same rule. It comes from what
//! the translation does (`nat_` and a hash of it), made unique in its
//! table with a suffix (`nat_1f02a9c4_1`), so an unchanged rule keeps its
//! map under its name.
//!
//! The key is typed `typeof numgen inc mod N` (`numgen random` for
//! `random`), for `source-hash` too: nft 1.0.6 crashes listing a map typed
//! by `jhash`. Only the key's type, a 32-bit integer in host order, counts
//! when nft loads the listing.

use std::collections::HashSet;
use std::fmt::Write;
use std::net::IpAddr;

use crate::identity::{canonical, canonical_slots, fnv1a64};
use crate::nft::{self, Expr, NatStmt, NatTargetExpr, Pick};

/// The balanced translation of `rule`, if it has one.
pub fn balanced(rule: &nft::Rule) -> Option<&NatStmt> {
    rule.exprs.iter().find_map(|e| match e {
        Expr::Nat(n @ NatStmt { target: NatTargetExpr::Balanced { .. }, .. }) => Some(n),
        _ => None,
    })
}

/// The name a balanced translation's map is given, before [`fresh`] makes
/// it unique in its table: from what it does, not where it stands.
pub fn base_name(n: &NatStmt) -> String {
    let id = fnv1a64(&canonical(std::slice::from_ref(&Expr::Nat(n.clone()))));
    format!("nat_{:08x}", id >> 32)
}

/// `base`, or `base_1`, `base_2`, ...: the first that `taken` does not
/// hold, which it then holds.
pub fn fresh(base: &str, taken: &mut HashSet<String>) -> String {
    let mut name = base.to_string();
    let mut n = 1;
    while taken.contains(&name) {
        name = format!("{base}_{n}");
        n += 1;
    }
    taken.insert(name.clone());
    name
}

/// The name of each rule's map in a table written whole, per chain, per
/// rule (`None` for a rule without a balanced translation): in table
/// order, unique among the table's sets.
pub fn names(table: &nft::Table) -> Vec<Vec<Option<String>>> {
    let mut taken: HashSet<String> = table.sets.iter().map(|s| s.name.clone()).collect();
    table
        .chains
        .iter()
        .map(|c| {
            c.rules.iter().map(|r| balanced(r).map(|n| fresh(&base_name(n), &mut taken))).collect()
        })
        .collect()
}

/// A slot map's elements: one per slot, a port on each when any has one.
pub fn slot_elements(
    slots: &[(u32, u32, IpAddr, Option<u16>)],
) -> impl Iterator<Item = (u32, IpAddr, Option<u16>)> {
    canonical_slots(slots).into_iter().flat_map(|(lo, hi, a, p)| (lo..=hi).map(move |s| (s, a, p)))
}

/// The key's `typeof`: see the module docs for why `numgen` always.
pub fn key_typeof(pick: Pick, modulus: u32) -> String {
    let mode = if pick == Pick::Random { "random" } else { "inc" };
    format!("numgen {mode} mod {modulus}")
}

/// Whether the map's backends are IPv6 ones, and whether they have ports.
pub fn data_shape(n: &NatStmt) -> (bool, bool) {
    let NatTargetExpr::Balanced { slots, .. } = &n.target else { return (false, false) };
    let v6 = n.family == Some(nft::NatFamily::Ip6) || slots.iter().any(|s| s.2.is_ipv6());
    (v6, slots.iter().any(|s| s.3.is_some()))
}

/// The map's declaration in an `nft -f` script, in a table's block.
pub fn declaration(name: &str, n: &NatStmt) -> String {
    let NatTargetExpr::Balanced { pick, modulus, slots } = &n.target else { return String::new() };
    let (v6, with_port) = data_shape(n);
    let data = match (v6, with_port) {
        (false, false) => "ip daddr",
        (false, true) => "ip daddr . th dport",
        (true, false) => "ip6 daddr",
        (true, true) => "ip6 daddr . th dport",
    };
    let mut out = String::new();
    let _ = writeln!(out, "\tmap {name} {{");
    let _ = writeln!(out, "\t\ttypeof {} : {data}", key_typeof(*pick, *modulus));
    out.push_str("\t\tcounter\n");
    out.push_str("\t\telements = {");
    for (i, (slot, a, p)) in slot_elements(slots).enumerate() {
        out.push_str(if i == 0 { " " } else { ",\n\t\t\t     " });
        let _ = write!(out, "{slot} : {a}");
        if let Some(p) = p {
            let _ = write!(out, " . {p}");
        }
    }
    out.push_str(" }\n\t}\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stmt(slots: Vec<(u32, u32, IpAddr, Option<u16>)>, modulus: u32) -> NatStmt {
        NatStmt {
            kind: nft::NatKind::Dnat,
            family: Some(nft::NatFamily::Ip),
            target: NatTargetExpr::Balanced { pick: Pick::RoundRobin, modulus, slots },
        }
    }

    #[test]
    fn the_same_translation_twice_gets_two_names_and_an_edit_a_new_one() {
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let one = stmt(vec![(0, 0, a, Some(80)), (1, 2, b, Some(80))], 3);
        let other = stmt(vec![(0, 0, a, Some(80)), (1, 1, b, Some(80))], 2);
        let mut taken = HashSet::new();
        let first = fresh(&base_name(&one), &mut taken);
        assert_eq!(fresh(&base_name(&one), &mut taken), format!("{first}_1"));
        assert_ne!(base_name(&other), base_name(&one));
        assert!(first.starts_with("nat_") && first.len() == 12, "{first}");
    }

    #[test]
    fn a_declaration_has_one_element_per_slot() {
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let text = declaration("m", &stmt(vec![(0, 0, a, Some(80)), (1, 2, b, Some(81))], 3));
        assert_eq!(
            text,
            "\tmap m {\n\t\ttypeof numgen inc mod 3 : ip daddr . th dport\n\t\tcounter\n\t\t\
             elements = { 0 : 10.0.0.1 . 80,\n\t\t\t     1 : 10.0.0.2 . 81,\n\t\t\t     \
             2 : 10.0.0.2 . 81 }\n\t}\n"
        );
    }
}
