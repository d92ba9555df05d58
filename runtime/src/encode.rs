//! The nft model as nf_tables netlink messages.
//!
//! This is libnftnl's and libnftables' job done for shriek's smaller model,
//! in four parts: the batch and what each message stands for
//! ([`batch`]), what a rule carries besides its expressions ([`identity`]),
//! sets and maps ([`set`]), and expressions ([`expr`]). This file puts them
//! together per table: counters, chains, sets, then rules.

use std::borrow::Cow;
use std::collections::HashMap;

use shriek_compiler::ir::{BaseChain, ChainKind, ChainPolicy, Hook};
use shriek_compiler::lower::Strategy;
use shriek_compiler::nft;
use shriek_grammar::SourceMap;

use crate::abi::*;
use crate::desired::Desired;
use crate::layout::{self, Laid};
use crate::msg::Attrs;

mod batch;
mod edit;
mod expr;
mod identity;
mod nat_map;
mod seed;
mod set;

pub(crate) use batch::{Batch, Subject};
pub(crate) use edit::{
    chain_policy, delete_chain, delete_counter, delete_rule, delete_set, delete_table, flush_chain,
};
pub use identity::policy_key;
pub(crate) use seed::Seeds;
pub(crate) use set::{edit_elements, element_attrs, key_bytes, named_set};

use expr::{expr, RuleCx};
use identity::{record_udata, rule_udata, table_udata, udata};

/// Writes table `t` of `desired` whole, its long chains in parts
/// ([`layout::laid_out`]): emptied if it exists, then made with its marker
/// and everything in it. `seeds` are named counters' values to carry
/// over, by name.
pub(crate) fn whole_table(
    b: &mut Batch,
    desired: &Desired,
    t: &nft::Table,
    seeds: &HashMap<String, (u64, u64)>,
) {
    write_whole(b, desired, t, &layout::laid_out(t), seeds);
}

/// [`whole_table`] with table `t`'s chains laid out as `chains`.
fn write_whole(
    b: &mut Batch,
    desired: &Desired,
    t: &nft::Table,
    chains: &[Laid],
    seeds: &HashMap<String, (u64, u64)>,
) {
    let name = t.name.as_str();
    let refs = whole_head(b, (desired.policy, desired.strategy), t, chains, seeds);
    // A rule's user data (its comment and its identity, two fifths of
    // encoding it) depends on the rule alone: a second thread makes it, a
    // slice of rules ahead, while this one writes the rules in order.
    let sources = desired.sources;
    std::thread::scope(|scope| {
        let (ahead, made) = std::sync::mpsc::sync_channel::<Vec<Vec<u8>>>(2);
        scope.spawn(move || {
            for slice in chains.iter().flat_map(|c| c.rules.chunks(UDATA_SLICE)) {
                let udata = slice.iter().map(|r| rule_udata(r, sources)).collect();
                if ahead.send(udata).is_err() {
                    return;
                }
            }
        });
        for c in chains {
            for (k, slice) in c.rules.chunks(UDATA_SLICE).enumerate() {
                let udata = made.recv().expect("the user data thread makes every slice");
                for (j, (r, udata)) in slice.iter().zip(&udata).enumerate() {
                    let index = k * UDATA_SLICE + j;
                    let at = At { table: name, chain: &c.name, index, place: Place::End };
                    rule_with_udata(b, &refs, at, r, udata);
                }
            }
        }
    });
}

/// What [`write_whole`] writes before the rules: the table emptied and
/// made, its counters, chains and sets; how the rules name the sets.
fn whole_head(
    b: &mut Batch,
    (policy, strategy): (&str, Strategy),
    t: &nft::Table,
    chains: &[Laid],
    seeds: &HashMap<String, (u64, u64)>,
) -> SetRefs {
    let name = t.name.as_str();
    b.w.reserve(whole_bound(t));
    b.clear_table(name);
    new_table(b, policy, strategy, name);
    for c in &t.counters {
        counter(b, name, c, seeds.get(c).copied().unwrap_or((0, 0)));
    }
    // Chains before sets and rules: verdict maps and jumps name them.
    for c in chains {
        laid_chain(b, name, c);
    }
    let mut refs = SetRefs::default();
    refs.nat_taken.get_mut().extend(t.sets.iter().map(|s| s.name.clone()));
    for s in &t.sets {
        let id = b.set_id();
        refs.ids.insert(s.name.clone(), id);
        named_set(b, name, s, &s.name, id);
    }
    refs
}

/// [`whole_table`] spending the model as it goes: each rule's expressions
/// and origin are freed right after the rule is written, and `spent` runs
/// every [`SPEND_SLICES`] slices of rules (to give the freed memory back),
/// so that the ruleset and its batch are never both whole. The batch is
/// the same, byte for byte; the table keeps its chains, sets and counters,
/// and its rules, emptied. Returns whether any rule was spent: a table
/// whose layout this does not follow is written as [`whole_table`] does.
pub(crate) fn whole_table_spending(
    b: &mut Batch,
    sources: &SourceMap,
    (policy, strategy): (&str, Strategy),
    t: &mut nft::Table,
    seeds: &HashMap<String, (u64, u64)>,
    spent: &dyn Fn(),
) -> bool {
    // Where each laid-out chain's rules are: a part or a whole chain
    // borrows a run of its chain's rules, a split chain's head holds its
    // own (the jumps to its parts).
    enum Run {
        Own(Vec<nft::Rule>),
        Of { chain: usize, start: usize, len: usize },
    }
    let (refs, names, runs) = {
        let chains = layout::laid_out(t);
        let mut runs = Vec::with_capacity(chains.len());
        let mut next = vec![0; t.chains.len()];
        for c in &chains {
            let run = match &c.rules {
                Cow::Owned(rules) => Run::Own(rules.clone()),
                Cow::Borrowed(rules) => {
                    let at = rules.as_ptr() as usize;
                    let size = std::mem::size_of::<nft::Rule>().max(1);
                    let of = t.chains.iter().position(|o| {
                        let start = o.rules.as_ptr() as usize;
                        at >= start && at + rules.len() * size <= start + o.rules.len() * size
                    });
                    match of {
                        Some(ci)
                            if (at - t.chains[ci].rules.as_ptr() as usize).is_multiple_of(size) =>
                        {
                            let start = (at - t.chains[ci].rules.as_ptr() as usize) / size;
                            if start < next[ci] {
                                drop(chains);
                                return whole_unspent(b, sources, (policy, strategy), t, seeds);
                            }
                            next[ci] = start + rules.len();
                            Run::Of { chain: ci, start, len: rules.len() }
                        }
                        _ => {
                            drop(chains);
                            return whole_unspent(b, sources, (policy, strategy), t, seeds);
                        }
                    }
                }
            };
            runs.push(run);
        }
        let refs = whole_head(b, (policy, strategy), t, &chains, seeds);
        let names: Vec<String> = chains.iter().map(|c| c.name.to_string()).collect();
        (refs, names, runs)
    };
    let name = t.name.as_str();
    let mut owned: Vec<Vec<nft::Rule>> = Vec::new();
    let mut order = Vec::with_capacity(runs.len());
    for run in runs {
        match run {
            Run::Own(rules) => {
                order.push(None);
                owned.push(rules);
            }
            Run::Of { chain, start, len } => order.push(Some((chain, start, len))),
        }
    }
    // The runs as disjoint mutable slices, in the laid-out order.
    let mut rest: Vec<(usize, &mut [nft::Rule])> =
        t.chains.iter_mut().map(|c| (0, c.rules.as_mut_slice())).collect();
    let mut own = owned.iter_mut();
    let mut pieces: Vec<&mut [nft::Rule]> = Vec::with_capacity(order.len());
    for o in order {
        match o {
            None => pieces.push(own.next().expect("one owned run each").as_mut_slice()),
            Some((chain, start, len)) => {
                let (at, slice) = std::mem::take(&mut rest[chain]);
                let (_, from) = slice.split_at_mut(start - at);
                let (piece, after) = from.split_at_mut(len);
                rest[chain] = (start + len, after);
                pieces.push(piece);
            }
        }
    }
    let mut any = false;
    std::thread::scope(|scope| {
        let (ahead, made) = std::sync::mpsc::sync_channel::<Slice>(2);
        scope.spawn(move || {
            for (i, piece) in pieces.into_iter().enumerate() {
                for (k, slice) in piece.chunks_mut(UDATA_SLICE).enumerate() {
                    let udata = slice.iter().map(|r| rule_udata(r, sources)).collect();
                    if ahead.send((i, k, slice, udata)).is_err() {
                        return;
                    }
                }
            }
        });
        for (n, (i, k, slice, udata)) in made.into_iter().enumerate() {
            for (j, (r, udata)) in slice.iter_mut().zip(&udata).enumerate() {
                let index = k * UDATA_SLICE + j;
                let at = At { table: name, chain: &names[i], index, place: Place::End };
                rule_with_udata(b, &refs, at, r, udata);
                r.exprs = Vec::new();
                r.origin = Vec::new();
                any = true;
            }
            if (n + 1).is_multiple_of(SPEND_SLICES) {
                spent();
            }
        }
    });
    any
}

/// One slice of rules for [`whole_table_spending`] and their user data:
/// which laid-out chain, which slice of it.
type Slice<'r> = (usize, usize, &'r mut [nft::Rule], Vec<Vec<u8>>);

/// How many slices of rules [`whole_table_spending`] writes between two
/// calls of its `spent`.
const SPEND_SLICES: usize = 8;

/// [`whole_table`] from [`whole_table_spending`]'s arguments.
fn whole_unspent(
    b: &mut Batch,
    sources: &SourceMap,
    (policy, strategy): (&str, Strategy),
    t: &nft::Table,
    seeds: &HashMap<String, (u64, u64)>,
) -> bool {
    let ruleset = nft::Ruleset::default();
    let desired = Desired { ruleset: &ruleset, sources, policy, strategy };
    whole_table(b, &desired, t, seeds);
    false
}

/// More bytes than table `t` written whole takes: a rule of the 100k
/// blended bench takes about 500 bytes (header, user data, nine
/// expressions) against the 1,408 counted here, a map element well under
/// 128. Only the pages written become resident.
fn whole_bound(t: &nft::Table) -> usize {
    let rules: usize =
        t.chains.iter().flat_map(|c| &c.rules).map(|r| 256 + 128 * r.exprs.len()).sum();
    let elements: usize = t.sets.iter().map(|s| 256 + 128 * s.elements.len()).sum();
    rules + elements
}

/// How many rules' user data [`whole_table`] makes at a time.
const UDATA_SLICE: usize = 1024;

/// How a batch's rules name the named sets they use: by the kernel's name
/// of each (a staged set's differs from the policy's, see
/// `decode::staged`) and, for a set made in the same batch, by its id too.
#[derive(Clone, Debug, Default)]
pub(crate) struct SetRefs {
    /// The ids of the sets made in this batch, by the policy's names.
    pub ids: HashMap<String, u32>,
    /// The kernel's names that are not the policy's, by the policy's.
    pub kernel: HashMap<String, String>,
    /// The names a new balanced translation's map cannot take: the
    /// table's sets, and the maps that stay or are made in this batch
    /// (`shriek_compiler::emit::nat_map`).
    pub nat_taken: std::cell::RefCell<std::collections::HashSet<String>>,
}

impl SetRefs {
    /// The name of a new map for balanced translation `n`.
    pub fn nat_map_name(&self, n: &nft::NatStmt) -> String {
        use shriek_compiler::emit::nat_map::{base_name, fresh};
        fresh(&base_name(n), &mut self.nat_taken.borrow_mut())
    }

    pub fn id(&self, model: &str) -> Option<u32> {
        self.ids.get(model).copied()
    }

    pub fn name<'a>(&'a self, model: &'a str) -> &'a str {
        self.kernel.get(model).map_or(model, String::as_str)
    }
}

/// Where a new rule goes: its table and chain, its index in the new chain
/// (for errors), and its place among the rules already there.
#[derive(Clone, Copy, Debug)]
pub(crate) struct At<'a> {
    pub table: &'a str,
    pub chain: &'a str,
    pub index: usize,
    pub place: Place,
}

/// Where a new rule goes in its chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Place {
    End,
    /// Just before the rule with this handle.
    Before(u64),
}

/// NEWTABLE with the marker: a table `policy` made, lowered with `strategy`.
fn new_table(b: &mut Batch, policy: &str, strategy: Strategy, name: &str) {
    let seq = b.seq(Subject::Table { table: name.into() });
    b.w.nft(NFT_MSG_NEWTABLE, NLM_F_CREATE, seq, |a| {
        a.str(NFTA_TABLE_NAME, name);
        a.u32(NFTA_TABLE_FLAGS, 0);
        a.bytes(NFTA_TABLE_USERDATA, &table_udata(policy, strategy));
    });
    b.tables += 1;
}

/// The table's record object ([`crate::decode::RECORD_OBJECT`]): the
/// policy and the strategy, in user data of the shape a table's has.
pub(crate) fn record(b: &mut Batch, desired: &Desired, table: &str) {
    let ud = record_udata(desired.policy, desired.strategy);
    counter_object(b, table, crate::decode::RECORD_OBJECT, (0, 0), Some(&ud));
}

/// A named counter object starting from `(packets, bytes)`.
pub(crate) fn counter(b: &mut Batch, table: &str, name: &str, value: (u64, u64)) {
    counter_object(b, table, name, value, None);
}

fn counter_object(
    b: &mut Batch,
    table: &str,
    name: &str,
    (packets, bytes): (u64, u64),
    userdata: Option<&[u8]>,
) {
    let seq = b.seq(Subject::Counter { table: table.into(), name: name.into() });
    b.w.nft(NFT_MSG_NEWOBJ, NLM_F_CREATE, seq, |a| {
        a.str(NFTA_OBJ_TABLE, table);
        a.str(NFTA_OBJ_NAME, name);
        a.u32(NFTA_OBJ_TYPE, NFT_OBJECT_COUNTER);
        a.nest(NFTA_OBJ_DATA, |d| {
            d.u64(NFTA_COUNTER_BYTES, bytes);
            d.u64(NFTA_COUNTER_PACKETS, packets);
        });
        if let Some(ud) = userdata {
            a.bytes(NFTA_OBJ_USERDATA, ud);
        }
    });
}

pub(crate) fn chain(b: &mut Batch, table: &str, c: &nft::Chain) {
    laid_chain(b, table, &Laid::whole(c));
}

fn laid_chain(b: &mut Batch, table: &str, c: &Laid) {
    let seq = b.seq(Subject::Chain { table: table.into(), chain: c.name.to_string() });
    b.w.nft(NFT_MSG_NEWCHAIN, NLM_F_CREATE, seq, |a| {
        a.str(NFTA_CHAIN_TABLE, table);
        a.str(NFTA_CHAIN_NAME, &c.name);
        if let Some(base) = c.base {
            base_chain(a, base);
        }
        if let Some(comment) = &c.comment {
            a.bytes(NFTA_CHAIN_USERDATA, &udata(NFTNL_UDATA_CHAIN_COMMENT, comment));
        }
    });
    b.chains += 1;
}

fn base_chain(a: &mut Attrs, base: &BaseChain) {
    let hook = match base.hook {
        Hook::Prerouting => NF_INET_PRE_ROUTING,
        Hook::Input => NF_INET_LOCAL_IN,
        Hook::Forward => NF_INET_FORWARD,
        Hook::Output => NF_INET_LOCAL_OUT,
        Hook::Postrouting => NF_INET_POST_ROUTING,
    };
    a.nest(NFTA_CHAIN_HOOK, |h| {
        h.u32(NFTA_HOOK_HOOKNUM, hook);
        h.u32(NFTA_HOOK_PRIORITY, base.priority as u32);
    });
    a.u32(
        NFTA_CHAIN_POLICY,
        match base.policy {
            ChainPolicy::Accept => NF_ACCEPT as u32,
            ChainPolicy::Drop => NF_DROP as u32,
        },
    );
    a.str(
        NFTA_CHAIN_TYPE,
        match base.kind {
            ChainKind::Filter => "filter",
            ChainKind::Nat => "nat",
            ChainKind::Route => "route",
        },
    );
}

/// Writes rule `index` of `chain`: its anonymous sets first, as its
/// matches make them, then the rule that binds them by id.
pub(crate) fn rule(b: &mut Batch, sources: &SourceMap, refs: &SetRefs, at: At, r: &nft::Rule) {
    rule_with_udata(b, refs, at, r, &rule_udata(r, sources));
}

/// [`rule`], with its user data ([`rule_udata`]) already made.
fn rule_with_udata(b: &mut Batch, refs: &SetRefs, at: At, r: &nft::Rule, udata: &[u8]) {
    let At { table, chain, index, place } = at;
    // The expressions go into the batch's scratch buffer first: a match
    // writes its anonymous set into the batch ahead of the rule.
    let mut exprs = std::mem::take(&mut b.scratch);
    let mut cx = RuleCx { b, table, refs, origin: &r.origin, nfproto: None, counted: false };
    exprs.rebuild(|x| {
        for e in &r.exprs {
            expr(x, &mut cx, e);
        }
    });
    let seq = b.rule_seq(table, chain, index, &r.origin);
    // With a position and without APPEND, the kernel puts the rule before
    // that one; with APPEND and none, at the end.
    let flags = match place {
        Place::End => NLM_F_CREATE | NLM_F_APPEND,
        Place::Before(_) => NLM_F_CREATE,
    };
    b.w.nft(NFT_MSG_NEWRULE, flags, seq, |a| {
        a.str(NFTA_RULE_TABLE, table);
        a.str(NFTA_RULE_CHAIN, chain);
        if let Place::Before(handle) = place {
            a.u64(NFTA_RULE_POSITION, handle);
        }
        a.nest(NFTA_RULE_EXPRESSIONS, |x| x.append(&exprs));
        a.bytes(NFTA_RULE_USERDATA, udata);
    });
    b.scratch = exprs;
    b.rules += 1;
}

#[cfg(test)]
mod tests {
    //! Encodings checked without a kernel: each rule's expressions printed
    //! the way `nft --debug=netlink` lists them, as nested attributes.

    use super::*;
    use crate::msg;
    use shriek_compiler::ir::{ChainId, Limit, RuleId};
    use shriek_compiler::nft::{CmpOp, Elem, Expr, Origin, Part, Rhs, Selector, Verdict};
    use shriek_grammar::{FileId, Loc, Span};

    /// One attribute tree as text: integers of 4 and 8 bytes in decimal
    /// (big-endian), printable NUL-terminated strings quoted, nests in
    /// parentheses, the rest in hex.
    fn show(buf: &[u8]) -> String {
        let mut parts = Vec::new();
        for (ty, d) in msg::attrs(buf) {
            let printable = d.last() == Some(&0)
                && d.len() > 1
                && d[..d.len() - 1].iter().all(|b| b.is_ascii_graphic() || *b == b' ');
            let nested = d.len() >= 4
                && (|| {
                    // Type 0 is never used, so a child of type 0 means raw bytes.
                    let mut total = 0;
                    for (t, x) in msg::attrs(d) {
                        if t == 0 {
                            return false;
                        }
                        total += (4 + x.len() + 3) & !3;
                    }
                    total == d.len()
                })();
            let v = if printable {
                format!("{:?}", String::from_utf8_lossy(&d[..d.len() - 1]))
            } else if nested {
                format!("({})", show(d))
            } else if d.len() == 4 {
                (u32::from_be_bytes(d.try_into().unwrap()) as i32).to_string()
            } else if d.len() == 8 && u64::from_be_bytes(d.try_into().unwrap()) < 1 << 32 {
                u64::from_be_bytes(d.try_into().unwrap()).to_string()
            } else {
                d.iter().map(|b| format!("{b:02x}")).collect()
            };
            parts.push(format!("{ty}={v}"));
        }
        parts.join(" ")
    }

    /// The messages of a one-rule table after the table setup, one a line,
    /// rule expressions one a line.
    fn encode(exprs: Vec<Expr>) -> String {
        let origin = Origin {
            rule: RuleId { table: 0, chain: ChainId(0), index: 0 },
            loc: Loc::new(FileId(0), Span::new(0, 5)),
        };
        let table = nft::Table {
            name: "t".into(),
            sets: vec![],
            counters: vec![],
            chains: vec![nft::Chain {
                name: "c".into(),
                base: None,
                rules: vec![nft::Rule { exprs, origin: vec![origin] }],
                comment: None,
            }],
        };
        let (raw, _) = whole_bytes(&table, None);
        let mut out = String::new();
        // Skip BATCH_BEGIN, NEWTABLE, DELTABLE, NEWTABLE and NEWCHAIN.
        for m in msg::messages(&raw).skip(5) {
            let attrs = m.nft_attrs();
            out.push_str(&format!("msg {}\n", m.ty & 0xff));
            match msg::attr(attrs, NFTA_RULE_EXPRESSIONS).filter(|_| m.ty & 0xff == NFT_MSG_NEWRULE)
            {
                Some(exprs) => {
                    for (_, e) in msg::attrs(exprs) {
                        let name = msg::attr_str(e, NFTA_EXPR_NAME).unwrap_or_default();
                        let data = msg::attr(e, NFTA_EXPR_DATA).map(show).unwrap_or_default();
                        out.push_str(&format!("  [ {name} {data} ]\n"));
                    }
                }
                None => out.push_str(&format!("  {}\n", show(attrs))),
            }
        }
        out
    }

    fn check(name: &str, exprs: Vec<Expr>) {
        shriek_testkit::snapshot!("runtime", name, encode(exprs));
    }

    fn is(key: &[Selector], rhs: Rhs) -> Expr {
        Expr::Match { key: key.to_vec(), op: CmpOp::Eq, rhs }
    }

    fn one(lo: u128, hi: u128) -> Rhs {
        Rhs::Value(Elem(vec![Part::Int(lo, hi)]))
    }

    /// The layout as it was made before [`layout::laid_out`]: a copy of
    /// the table with every long chain split, unless the parts would go
    /// past the kernel's jump depth (judged on the whole copy).
    fn copied_layout(t: &nft::Table) -> nft::Table {
        if !t.chains.iter().any(|c| layout::splittable(t, c)) {
            return t.clone();
        }
        let mut parted = nft::Table { chains: Vec::new(), ..t.clone() };
        for c in &t.chains {
            if layout::splittable(t, c) {
                parted.chains.extend(layout::split(c));
            } else {
                parted.chains.push(c.clone());
            }
        }
        let whole_fails = crate::apply::table_jump_depth_error(t).is_some();
        if whole_fails || crate::apply::table_jump_depth_error(&parted).is_none() {
            parted
        } else {
            t.clone()
        }
    }

    /// A table of `depth + 1` chains, each but the last jumping to the
    /// next, with `lens[i]` port rules in chain `i` (a `return` among them
    /// where `returns[i]`, which keeps the chain whole).
    fn chained_table(depth: usize, lens: &[usize], returns: &[bool]) -> nft::Table {
        let origin = Origin {
            rule: RuleId { table: 0, chain: ChainId(0), index: 0 },
            loc: Loc::new(FileId(0), Span::new(0, 5)),
        };
        let chains = (0..=depth)
            .map(|i| {
                let mut rules: Vec<nft::Rule> = (0..lens[i % lens.len()])
                    .map(|p| nft::Rule {
                        exprs: vec![
                            is(&[Selector::ThDport], one(p as u128, p as u128)),
                            Expr::Counter(None),
                            Expr::Verdict(if p % 3 == 0 { Verdict::Drop } else { Verdict::Accept }),
                        ],
                        origin: vec![origin],
                    })
                    .collect();
                if returns[i % returns.len()] && !rules.is_empty() {
                    let at = rules.len() / 2;
                    rules[at].exprs[2] = Expr::Verdict(Verdict::Return);
                }
                if i < depth {
                    rules.insert(0, layout::link(&format!("c{}", i + 1)));
                }
                nft::Chain {
                    name: format!("c{i}"),
                    base: (i == 0).then_some(BaseChain {
                        hook: Hook::Input,
                        kind: ChainKind::Filter,
                        priority: 0,
                        policy: ChainPolicy::Accept,
                    }),
                    rules,
                    comment: None,
                }
            })
            .collect();
        nft::Table { name: "t".into(), sets: vec![], counters: vec![], chains }
    }

    fn whole_bytes(t: &nft::Table, laid: Option<&[Laid]>) -> (Vec<u8>, Vec<Subject>) {
        let rs = nft::Ruleset { tables: vec![t.clone()] };
        let sources = SourceMap::default();
        let desired = Desired {
            ruleset: &rs,
            sources: &sources,
            policy: "/t.shr",
            strategy: shriek_compiler::lower::Strategy::Sequential,
        };
        let mut b = Batch::begin(1, None);
        match laid {
            Some(laid) => write_whole(&mut b, &desired, t, laid, &HashMap::new()),
            None => whole_table(&mut b, &desired, t, &HashMap::new()),
        }
        let subjects = (0..b.subjects.len() as u32)
            .map(|i| b.subject(b.first_seq.wrapping_add(i)).cloned().expect("said"))
            .collect();
        (b.w.raw().to_vec(), subjects)
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(24))]

        /// Encoding a table whole from its layout's borrowed rules sends
        /// the bytes a copy of its layout sends, message for message:
        /// long chains in parts, chains that return or would go past the
        /// jump depth whole.
        #[test]
        fn borrowed_layout_encodes_as_the_copied_one(
            depth in 0usize..17,
            lens in proptest::collection::vec(
                proptest::sample::select(vec![0usize, 3, 1024, 1025, 2049, 3100]), 1..4),
            returns in proptest::collection::vec(proptest::bool::weighted(0.2), 1..3),
        ) {
            let t = chained_table(depth, &lens, &returns);
            let copied = copied_layout(&t);
            let laid: Vec<Laid> = copied.chains.iter().map(Laid::whole).collect();
            let (want, want_subjects) = whole_bytes(&copied, Some(&laid));
            let (got, got_subjects) = whole_bytes(&t, None);
            proptest::prop_assert!(got == want, "the batch bytes differ");
            proptest::prop_assert_eq!(got_subjects, want_subjects);
        }
    }

    /// The cases the property must reach: a long chain in parts, and one
    /// kept whole at the kernel's jump depth.
    #[test]
    fn the_layout_property_sees_parts_and_whole_chains() {
        let parted = chained_table(0, &[3100], &[false]);
        assert_eq!(copied_layout(&parted).chains.len(), 5);
        let deep = chained_table(15, &[3100], &[false]);
        assert_eq!(copied_layout(&deep).chains.len(), 16);
        assert_eq!(layout::laid_out(&deep).len(), 16);
    }

    #[test]
    fn prefix_and_port() {
        check(
            "encode_prefix_and_port",
            vec![
                is(&[Selector::Ip4Saddr], one(0x0a00_0000, 0x0aff_ffff)),
                is(&[Selector::L4proto], one(6, 6)),
                is(&[Selector::ThDport], one(1000, 2000)),
                Expr::Limit(Limit {
                    rate: 5,
                    per: shriek_compiler::ir::RateUnit::Minute,
                    burst: Some(10),
                }),
                Expr::Verdict(Verdict::Jump("other".into())),
            ],
        );
    }

    #[test]
    fn negated_concatenated_set() {
        check(
            "encode_negated_concat_set",
            vec![
                Expr::Match {
                    key: vec![Selector::L4proto, Selector::ThDport],
                    op: CmpOp::Ne,
                    rhs: Rhs::Set(vec![
                        Elem(vec![Part::Int(6, 6), Part::Int(22, 22)]),
                        Elem(vec![Part::Int(17, 17), Part::Int(5000, 5100)]),
                    ]),
                },
                Expr::Counter(Some("c".into())),
                Expr::Verdict(Verdict::Reject(shriek_compiler::ir::RejectWith::PortUnreachable)),
            ],
        );
    }

    #[test]
    fn ifname_wildcard_and_ct_state() {
        check(
            "encode_ifname_ct",
            vec![
                is(&[Selector::Iifname], Rhs::Value(Elem(vec![Part::Str("eth*".into())]))),
                is(&[Selector::CtState], Rhs::Flags(8)),
                Expr::Log { prefix: Some("new: ".into()), level: None },
                Expr::Verdict(Verdict::Accept),
            ],
        );
    }
}
