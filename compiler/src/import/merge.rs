//! IPv4 and IPv6 tables into `inet` tables that mean the same.
//!
//! iptables and ip6tables keep two separate rulesets, as nft `ip` and `ip6`
//! tables do; a `.shr` table is `inet` and sees both families. A table of
//! one family becomes a table whose base chains first let the other family
//! pass (`family ipv6 accept`), which is what the missing ruleset did. Two
//! tables of one name, one per family, become one table: each chain's two
//! rule lists are aligned (a longest common subsequence of equal rules), a
//! rule both families have is written once (unless it has a `limit`: each
//! family has its own token bucket), and a rule only one family has is
//! pinned to it with `family` unless its addresses already pin it.
//!
//! Where the two families' policies of a built-in chain differ, the merged
//! chain keeps the IPv4 policy and:
//! - ends with `family ipv6 <policy>`, for packets that reach the end;
//! - turns an IPv6 `return` in it into the IPv6 policy's verdict;
//! - turns an IPv6 `goto C` in it into `jump C_then_<policy>`, a chain that
//!   jumps to `C` and then applies the policy, since `goto` leaves the
//!   packet to the base chain's policy when `C` does not decide.

use std::collections::{HashMap, HashSet};

use crate::ir::ChainPolicy;
use crate::space::Family;

use super::model::{body_text, Body, Chain, Item, Match, Rule, Stmt, Table, Verdict};

/// Above this many pairs of candidate rules the alignment is greedy rather
/// than a longest common subsequence: the table would cost too much memory.
const LCS_CELLS: usize = 4_000_000;

/// Every table as an `inet` table, with names unique.
pub fn merge(tables: Vec<Table>) -> Vec<Table> {
    let mut order: Vec<String> = Vec::new();
    let mut groups: HashMap<String, Vec<Table>> = HashMap::new();
    for t in tables {
        if !groups.contains_key(&t.name) {
            order.push(t.name.clone());
        }
        groups.entry(t.name.clone()).or_default().push(t);
    }
    let mut out: Vec<Table> = Vec::new();
    for name in order {
        let mut group = groups.remove(&name).expect("every name has its group");
        let v4 = group.iter().position(|t| t.family == Some(Family::V4));
        let v6 = group.iter().position(|t| t.family == Some(Family::V6));
        if let (Some(i), Some(j)) = (v4, v6) {
            if compatible(&group[i], &group[j]) {
                let (a, b) = if i < j {
                    let b = group.remove(j);
                    (group.remove(i), b)
                } else {
                    let a = group.remove(i);
                    (a, group.remove(j))
                };
                out.push(merge_pair(a, b));
            }
        }
        out.extend(group.into_iter().map(single));
    }
    unique_names(&mut out);
    out
}

/// Two tables can merge when every chain they share has the same hook,
/// type and priority (or is a regular chain in both).
fn compatible(a: &Table, b: &Table) -> bool {
    a.chains.iter().all(|ca| {
        b.chains.iter().find(|cb| cb.name == ca.name).is_none_or(|cb| match (&ca.base, &cb.base) {
            (None, None) => true,
            (Some(x), Some(y)) => (x.hook, x.kind, x.priority) == (y.hook, y.kind, y.priority),
            _ => false,
        })
    })
}

fn other(f: Family) -> Family {
    match f {
        Family::V4 => Family::V6,
        Family::V6 => Family::V4,
    }
}

fn family_word(f: Family) -> &'static str {
    match f {
        Family::V4 => "IPv4",
        Family::V6 => "IPv6",
    }
}

fn pass_other(f: Family, why: &str) -> Item {
    let body = Body {
        matches: vec![Match::Family(other(f))],
        stmts: vec![Stmt::Verdict(Verdict::Accept)],
    };
    Item::Rule(Rule::added(body, why))
}

/// A table of one family: its base chains let the other family pass first.
fn single(mut t: Table) -> Table {
    let Some(f) = t.family.take() else { return t };
    for c in &mut t.chains {
        if let Some(base) = &c.base {
            if !c.items.is_empty() || base.policy == ChainPolicy::Drop {
                pass_through(c, f);
            }
        }
    }
    t
}

fn pass_through(c: &mut Chain, f: Family) {
    let why = format!("the source has only {} rules here", family_word(f));
    c.items.insert(0, pass_other(f, &why));
}

fn merge_pair(a: Table, mut b: Table) -> Table {
    let mut chains = Vec::new();
    let mut helpers: Vec<Chain> = Vec::new();
    let taken: HashSet<String> =
        a.chains.iter().chain(b.chains.iter()).map(|c| c.name.clone()).collect();
    for mut ca in a.chains {
        let Some(k) = b.chains.iter().position(|cb| cb.name == ca.name) else {
            if ca.base.is_some() {
                pass_through(&mut ca, Family::V4);
            }
            chains.push(ca);
            continue;
        };
        let mut cb = b.chains.remove(k);
        let base = ca.base;
        let mut tail = None;
        if let (Some(pa), Some(pb)) = (ca.base, cb.base) {
            if pa.policy != pb.policy {
                let mut cx = Policies { v6: pb.policy, taken: &taken, helpers: &mut helpers };
                for item in &mut cb.items {
                    if let Item::Rule(r) = item {
                        cx.resolve(r);
                    }
                }
                let body = Body {
                    matches: vec![Match::Family(Family::V6)],
                    stmts: vec![Stmt::Verdict(Verdict::of_policy(pb.policy))],
                };
                tail = Some(Item::Rule(Rule::added(body, "the IPv6 policy of this chain")));
            }
        }
        let mut items = align(ca.items, cb.items);
        items.extend(tail);
        let mut notes = ca.notes;
        for n in cb.notes {
            if !notes.contains(&n) {
                notes.push(n);
            }
        }
        chains.push(Chain { name: ca.name, base, items, notes });
    }
    for mut cb in b.chains {
        if cb.base.is_some() {
            pass_through(&mut cb, Family::V6);
        }
        chains.push(cb);
    }
    chains.extend(helpers);
    let mut notes = a.notes;
    for n in b.notes {
        if !notes.contains(&n) {
            notes.push(n);
        }
    }
    Table { name: a.name, family: None, chains, notes }
}

/// The IPv6 half of a built-in chain whose IPv6 policy differs from the
/// merged chain's (IPv4) one.
struct Policies<'a> {
    v6: ChainPolicy,
    taken: &'a HashSet<String>,
    helpers: &'a mut Vec<Chain>,
}

impl Policies<'_> {
    fn resolve(&mut self, r: &mut Rule) {
        let policy = Verdict::of_policy(self.v6);
        let Some(v) = r.body.verdict_mut() else { return };
        match v.clone() {
            Verdict::Return => {
                *v = policy;
                r.notes.push("`return` in a built-in chain applies its IPv6 policy".into());
            }
            Verdict::Goto(target) => {
                let helper = self.helper(&target, policy);
                *v = Verdict::Jump(helper.clone());
                r.notes.push(format!(
                    "`goto {target}` ends in this chain's IPv6 policy when {target} does not decide: `{helper}` does both"
                ));
            }
            _ => {}
        }
    }

    fn helper(&mut self, target: &str, policy: Verdict) -> String {
        let word = if policy == Verdict::Accept { "accept" } else { "drop" };
        let mut name = format!("{target}_then_{word}");
        while self.taken.contains(&name) && !self.helpers.iter().any(|h| h.name == name) {
            name.push('_');
        }
        if !self.helpers.iter().any(|h| h.name == name) {
            let items = vec![
                Item::Rule(Rule::added(
                    Body {
                        matches: vec![],
                        stmts: vec![Stmt::Verdict(Verdict::Jump(target.into()))],
                    },
                    format!("as `goto {target}` from a built-in chain"),
                )),
                Item::Rule(Rule::added(
                    Body { matches: vec![], stmts: vec![Stmt::Verdict(policy)] },
                    "the IPv6 policy of the built-in chain",
                )),
            ];
            self.helpers.push(Chain { name: name.clone(), base: None, items, notes: vec![] });
        }
        name
    }
}

/// What two rules must share to be written once: their text, which says
/// everything they mean, and their comment.
type Key = (String, Option<String>);

/// A rule with a `limit` is never written once for both families: iptables
/// and ip6tables each keep a token bucket of their own, and one rule would
/// share one between them.
fn key(item: &Item) -> Option<Key> {
    match item {
        Item::Rule(r) if !r.body.has_limit() => Some((body_text(&r.body), r.comment.clone())),
        _ => None,
    }
}

/// One chain's items from its IPv4 items `a` and IPv6 items `b`.
fn align(a: Vec<Item>, b: Vec<Item>) -> Vec<Item> {
    let pairs = {
        let ka: Vec<Option<Key>> = a.iter().map(key).collect();
        let kb: Vec<Option<Key>> = b.iter().map(key).collect();
        common_subsequence(&ka, &kb)
    };
    let mut out = Vec::with_capacity(a.len() + b.len());
    let mut a = a.into_iter().enumerate().peekable();
    let mut b = b.into_iter().enumerate().peekable();
    for (i, j) in pairs {
        while let Some((_, item)) = a.next_if(|(k, _)| *k < i) {
            out.push(pin(item, Family::V4));
        }
        while let Some((_, item)) = b.next_if(|(k, _)| *k < j) {
            out.push(pin(item, Family::V6));
        }
        let (_, x) = a.next().expect("the pair's IPv4 rule");
        let (_, y) = b.next().expect("the pair's IPv6 rule");
        out.push(join(x, y));
    }
    out.extend(a.map(|(_, item)| pin(item, Family::V4)));
    out.extend(b.map(|(_, item)| pin(item, Family::V6)));
    out
}

/// A rule of one family only, in a chain both families reach.
fn pin(item: Item, f: Family) -> Item {
    match item {
        Item::Rule(mut r) => {
            if r.body.family().is_none() {
                r.body.matches.insert(0, Match::Family(f));
            }
            Item::Rule(r)
        }
        other => other,
    }
}

fn join(x: Item, y: Item) -> Item {
    match (x, y) {
        (Item::Rule(mut r), Item::Rule(s)) => {
            r.origins.extend(s.origins);
            for n in s.notes {
                if !r.notes.contains(&n) {
                    r.notes.push(n);
                }
            }
            Item::Rule(r)
        }
        (x, _) => x,
    }
}

/// Index pairs of a longest common subsequence of the keys that are
/// `Some` (greedy past [`LCS_CELLS`]).
fn common_subsequence(a: &[Option<Key>], b: &[Option<Key>]) -> Vec<(usize, usize)> {
    let in_b: HashSet<&Key> = b.iter().flatten().collect();
    let in_a: HashSet<&Key> = a.iter().flatten().collect();
    let ia: Vec<usize> =
        (0..a.len()).filter(|&i| a[i].as_ref().is_some_and(|k| in_b.contains(k))).collect();
    let ib: Vec<usize> =
        (0..b.len()).filter(|&j| b[j].as_ref().is_some_and(|k| in_a.contains(k))).collect();
    let same = |i: usize, j: usize| a[ia[i]] == b[ib[j]];
    let (n, m) = (ia.len(), ib.len());
    if n == 0 || m == 0 {
        return Vec::new();
    }
    if n.saturating_mul(m) > LCS_CELLS {
        let mut out = Vec::new();
        let mut j = 0;
        for (i, &a_index) in ia.iter().enumerate() {
            if let Some(k) = (j..m).find(|&k| same(i, k)) {
                out.push((a_index, ib[k]));
                j = k + 1;
            }
        }
        return out;
    }
    // table[i][j]: the longest common subsequence of ia[i..] and ib[j..].
    let w = m + 1;
    let mut table = vec![0u32; (n + 1) * w];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            table[i * w + j] = if same(i, j) {
                table[(i + 1) * w + j + 1] + 1
            } else {
                table[(i + 1) * w + j].max(table[i * w + j + 1])
            };
        }
    }
    let (mut i, mut j) = (0, 0);
    let mut out = Vec::new();
    while i < n && j < m {
        if same(i, j) {
            out.push((ia[i], ib[j]));
            i += 1;
            j += 1;
        } else if table[(i + 1) * w + j] >= table[i * w + j + 1] {
            i += 1;
        } else {
            j += 1;
        }
    }
    out
}

/// Later tables that share a name with an earlier one get a suffix naming
/// their family.
fn unique_names(tables: &mut [Table]) {
    let mut seen: HashSet<String> = HashSet::new();
    for t in tables.iter_mut() {
        if seen.contains(&t.name) {
            let base = t.name.clone();
            let mut n = 2;
            let mut name = format!("{base}_{n}");
            while seen.contains(&name) {
                n += 1;
                name = format!("{base}_{n}");
            }
            t.notes.push(format!("renamed from `{base}`: another table has that name"));
            t.name = name;
        }
        seen.insert(t.name.clone());
    }
}
