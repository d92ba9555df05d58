//! `plan`: what `apply` would change, from the live tables read back.
//!
//! [`read_live`] reads the tables a policy names, and the tables it made
//! and no longer names (its *orphans*), back into the nft model. [`plan`]
//! decides, table by table, whether `apply` changes a table in place or
//! replaces it whole, and diffs the live model against the compiled one with
//! the structural diff engine (`shriek_compiler::diff::structural`), keyed
//! by rule identity, never by handle. The result is data: the CLI prints
//! it, and `apply` turns it into one batch.

use shriek_compiler::diff::structural::{self, Delta};
use shriek_compiler::lower::Strategy;
use shriek_compiler::nft;

use crate::abi::*;
use crate::decode::{self, LiveTable, Owner};
use crate::desired::Desired;
use crate::dump::{dump_table, dump_table_cached};
use crate::error::RuntimeError;
use crate::msg;
use crate::socket::{errno_err, Socket};

/// The live tables a policy concerns, read back at one generation.
#[derive(Clone, Debug)]
pub struct Live {
    /// The ruleset's generation when reading began: a batch made from this
    /// reading is refused if anything changed since.
    pub(crate) genid: u32,
    /// The named tables that exist, in the policy's order.
    pub tables: Vec<LiveTable>,
    /// Tables made by this policy that it no longer names.
    pub orphans: Vec<LiveTable>,
    /// The day-2 cache of each named table, where the reading took sets'
    /// elements from it: what a commit leaves a set it does not touch, so
    /// that keeping the cache again need not encode that set anew.
    pub(crate) cached: Vec<(String, crate::cache::TableCache)>,
}

impl Live {
    /// The strategy the live tables record, when they agree on one.
    pub fn recorded_strategy(&self) -> Option<Strategy> {
        recorded_strategy(&self.tables)
    }
}

/// The strategy `tables` record, when they agree on one (`stats` reads it
/// too).
pub(crate) fn recorded_strategy(tables: &[LiveTable]) -> Option<Strategy> {
    let mut found = None;
    for t in tables {
        if let Owner::Shriek { strategy, .. } = &t.owner {
            let s = Strategy::from_keyword(strategy)?;
            if found.is_some_and(|f| f != s) {
                return None;
            }
            found = Some(s);
        }
    }
    found
}

/// Reads the tables `names` and this policy's orphans.
pub fn read_live(
    names: &[String],
    policy: &str,
    netns: Option<&str>,
) -> Result<Live, RuntimeError> {
    let mut sock = Socket::open(netns)?;
    read_with(&mut sock, names, policy, netns)
}

/// [`read_live`] on an open socket (of namespace `netns`). A named table's
/// sets come from the day-2 cache when it is exact at the generation the
/// reading begins at (see `cache`).
pub(crate) fn read_with(
    sock: &mut Socket,
    names: &[String],
    policy: &str,
    netns: Option<&str>,
) -> Result<Live, RuntimeError> {
    // A table's user data names its policy by key (a hash of a long path).
    let key = crate::encode::policy_key(policy);
    let genid = sock.genid()?;
    let all =
        sock.request(NFT_MSG_GETTABLE, NLM_F_DUMP, |_| {})?.map_err(errno_err("listing tables"))?;
    let mut tables = Vec::new();
    let mut cached = Vec::new();
    for name in names {
        let cache = crate::cache::load(netns, name, genid);
        let dump = dump_table_cached(sock, name, cache.as_ref())?;
        if let Some(mut cache) = cache {
            // Only the sets read from it: what the kernel held at `genid`.
            cache.retain(|set| dump.sets.iter().any(|s| s.cached && s.name == set));
            cached.push((name.clone(), cache));
        }
        if let Some(t) = decode::table(&dump) {
            tables.push(t);
        }
    }
    let mut orphans = Vec::new();
    for t in &all {
        let name = msg::attr_str(t, NFTA_TABLE_NAME).unwrap_or_default();
        let owner = decode::owner(msg::attr(t, NFTA_TABLE_USERDATA).unwrap_or(&[]));
        let ours = matches!(&owner, Owner::Shriek { policy: p, .. } if *p == key);
        if ours && !names.contains(&name) {
            orphans.extend(decode::table(&dump_table(sock, &name)?));
        }
    }
    orphans.sort_by(|a, b| a.table.name.cmp(&b.table.name));
    Ok(Live { genid, tables, orphans, cached })
}

/// A plan made ahead of the send, from a reading ([`crate::plan_ahead`]), for
/// [`crate::apply_spending`]: `apply` makes it beside the analysis, so
/// that once the findings allow it only the batch is left to write.
#[derive(Clone, Debug)]
pub struct Planned {
    pub(crate) plan: Plan,
    /// The reading's day-2 cache as the batch made from the plan leaves
    /// it (`apply::carried_sets`), made ahead too.
    pub(crate) carried: Vec<(String, crate::cache::TableCache)>,
    /// The options it was planned with: `apply` uses it only with the same.
    pub(crate) opts: PlanOptions,
}

impl Planned {
    /// The plan itself.
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// Whether the batch made from it is small: no table written whole
    /// (made, rebuilt or taken over), and at most [`FEW_EDITS`] rules and
    /// elements added, changed or removed, a set made anew counting its
    /// elements. `apply` keeps the resolved policy's memory for the
    /// process to give back at its end when it is (freeing its 100,000
    /// rules one by one costs a one-rule change several milliseconds),
    /// and frees it before a large batch is written, as ever.
    pub fn small(&self, desired: &nft::Ruleset) -> bool {
        if !self.plan.whole.is_empty() {
            return false;
        }
        let mut edits = 0;
        for td in &self.plan.delta.tables {
            // A new table is written whole; one that goes is one message.
            let Some(ni) = td.new else { continue };
            if td.old.is_none() {
                return false;
            }
            for sd in &td.sets {
                edits += match (sd.action, sd.new) {
                    (Some(structural::Action::Remove), _) | (_, None) => 1,
                    (Some(_), Some(sj)) => desired.tables[ni].sets[sj].elements.len(),
                    (None, _) => sd.elements.len(),
                };
            }
            edits += td.chains.iter().map(|c| c.rules.len().max(1)).sum::<usize>();
        }
        edits <= FEW_EDITS
    }
}

/// The most edits of a [`Planned::small`] plan.
const FEW_EDITS: usize = 4096;

/// What `apply` sends from: a reading of the live tables, or a plan made
/// from one ahead of time.
#[derive(Clone, Debug)]
pub enum Reading {
    Live(Live),
    Planned(Planned),
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PlanOptions {
    /// Replace every named table whole instead of changing it in place.
    pub replace: bool,
    /// Remove the orphans too.
    pub prune: bool,
}

/// What `apply` would do, and why.
#[derive(Clone, Debug)]
pub struct Plan {
    /// The old side: the live named tables (and, with `prune`, the
    /// orphans), as the model.
    pub live: nft::Ruleset,
    /// Every difference between `live` and the desired ruleset.
    pub delta: Delta,
    /// Tables `apply` rebuilds (or, taking one over, makes again) rather
    /// than changing rule by rule.
    pub whole: Vec<Whole>,
    /// Tables this policy made and no longer names.
    pub orphans: Vec<Orphan>,
    pub prune: bool,
    /// Things worth saying that change nothing: an unmarked table, a
    /// recorded strategy that differs, what cannot be read back.
    pub notes: Vec<String>,
    /// Tables whose layout the strategy leaves as it is, of which `apply`
    /// changes only the strategy they record.
    pub records: Vec<Record>,
    /// Staged sets an interrupted `apply` left unused (see
    /// `decode::staged`), which `apply` deletes: (table, the set's kernel
    /// name).
    pub leftovers: Vec<(String, String)>,
    /// Per table of `live`: what only the kernel knows. Each one's
    /// `table` keeps only its name and named counters: its chains and sets
    /// moved into `live`.
    pub(crate) meta: Vec<LiveTable>,
    pub(crate) genid: u32,
    /// The delta as planned, where `apply` writes its batch from another
    /// (`apply/beside.rs`: maps made anew beside the old ones); see
    /// [`Plan::shown`].
    pub(crate) planned: Option<Delta>,
}

/// A table rebuilt, and why. A table of this policy's is rebuilt in place:
/// the table, each base chain whose hook stays, each named counter that
/// stays and each set whose type stays are kept, and everything else is
/// made again in the batch. A table taken over (`--replace` on a table of
/// another policy's, or one without a marker) is `remade`: deleted and
/// made again, since its user data, which names its policy, cannot change;
/// so is a table holding something shriekc cannot read back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Whole {
    pub table: String,
    pub why: String,
    pub remade: bool,
}

/// A table that will record the strategy planned with instead of `was`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    pub table: String,
    pub was: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Orphan {
    pub table: String,
    pub chains: usize,
    pub rules: usize,
}

impl Plan {
    /// The delta as planned, to show: where `apply` made maps anew beside
    /// the old ones (`apply/beside.rs`), `delta` is what its batch wrote.
    pub fn shown(&self) -> &Delta {
        self.planned.as_ref().unwrap_or(&self.delta)
    }

    /// Whether `apply` would change nothing.
    pub fn is_empty(&self) -> bool {
        self.delta.is_empty()
            && self.whole.is_empty()
            && self.leftovers.is_empty()
            && self.records.is_empty()
    }

    /// The comment of live rule `at`: where it came from, as `file:line`.
    pub fn live_place(&self, at: structural::render::RuleAt) -> Option<String> {
        self.meta.get(at.table)?.rules.get(at.chain)?.get(at.rule)?.comment.clone()
    }
}

/// Decides how `apply` changes each table and diffs `live` against
/// `desired`. A named table that another policy made is refused (unless
/// `replace` takes it over).
///
/// The reading is taken, not borrowed: its tables become the plan's old
/// side as they are, since copying a 100,000-rule table (twice, as this
/// once did) cost a one-rule change more than planning it.
pub fn plan(desired: &Desired, live: Live, opts: &PlanOptions) -> Result<Plan, RuntimeError> {
    // What a table made by this policy holds as its owner: the path, or a
    // hash of a path too long for the table's user data; compared with the
    // path itself, a policy at a long path read its own tables as another's.
    let key = &crate::encode::policy_key(desired.policy);
    let mut notes = Vec::new();
    let mut whole = Vec::new();
    let mut meta: Vec<LiveTable> = Vec::new();
    let Live { genid, tables: live_tables, orphans: live_orphans, cached: _ } = live;
    let staged_by_table: Vec<(String, Vec<String>)> =
        live_tables.iter().map(|t| (t.table.name.clone(), t.staged.clone())).collect();
    for t in live_tables {
        let why = match &t.owner {
            Owner::Shriek { policy, .. } if policy != key => {
                if !opts.replace {
                    return Err(RuntimeError::Foreign {
                        table: t.table.name.clone(),
                        policy: policy.clone(),
                    });
                }
                Some(format!("it was made by policy `{policy}` (--replace takes it over)"))
            }
            _ if opts.replace => Some("--replace".to_string()),
            Owner::Shriek { .. } => None,
            Owner::Unmarked => {
                notes.push(format!(
                    "table `{}` carries no shriekc marker (loaded with `nft -f`?): it is changed in place; `apply --replace` marks it as this policy's",
                    t.table.name
                ));
                None
            }
        };
        let why = why.or_else(|| {
            let u = t.unmodelled.first()?;
            Some(format!("shriekc cannot read back {u}"))
        });
        if let Some(why) = why {
            // A rebuild keeps what it knows; what it cannot read back (an
            // object or set of a kind shriekc does not make, a hook it
            // does not know) it could neither keep right nor delete by
            // name, so that table is made again.
            let ours = matches!(&t.owner, Owner::Shriek { policy, .. } if policy == key);
            let remade = !ours || !t.unmodelled.is_empty();
            whole.push(Whole { table: t.table.name.clone(), why, remade });
        }
        meta.push(t);
    }
    let orphans = live_orphans
        .iter()
        .map(|t| Orphan {
            table: t.table.name.clone(),
            chains: t.table.chains.len(),
            rules: t.table.chains.iter().map(|c| c.rules.len()).sum(),
        })
        .collect();
    if opts.prune {
        meta.extend(live_orphans);
    }
    let live_rs = nft::Ruleset { tables: meta.iter_mut().map(take_contents).collect() };
    let delta = structural::diff(&live_rs, desired.ruleset);
    for td in &delta.tables {
        let (Some(oi), Some(ni)) = (td.old, td.new) else { continue };
        if whole.iter().any(|w| w.table == td.name) {
            continue;
        }
        let (old, new) = (&live_rs.tables[oi], &desired.ruleset.tables[ni]);
        // Only a base chain's policy changes in place.
        let hook = td.chains.iter().find(|c| {
            c.action == Some(structural::Action::Change)
                && !c.policy_only(&old.chains[c.old.unwrap_or(0)], &new.chains[c.new.unwrap_or(0)])
        });
        let strategy = match &meta[oi].owner {
            Owner::Shriek { strategy, .. } if strategy != desired.strategy.keyword() => {
                Some(strategy.clone())
            }
            _ => None,
        };
        // A rule that leaves its chain early would leave only its part:
        // such a chain is laid out whole again, and so is its table.
        let parted = td.chains.iter().find(|c| match (c.old, c.new) {
            (Some(ci), Some(cj)) => {
                !meta[oi].parts[ci].is_empty() && !crate::layout::runs_in_parts(&new.chains[cj])
            }
            _ => false,
        });
        // And the other way: a chain of this policy's laid out whole (it
        // held a `return`, or was shorter) that changes and would now be
        // made in parts is laid out so, as a new one would be.
        let ours = matches!(&meta[oi].owner, Owner::Shriek { policy, .. } if policy == key);
        let unparted = td.chains.iter().find(|c| match (c.old, c.new) {
            (Some(ci), Some(cj)) => {
                ours && !c.rules.is_empty()
                    && meta[oi].parts[ci].is_empty()
                    && crate::layout::split_when_made(new, &new.chains[cj])
            }
            _ => false,
        });
        // A new rule of another protocol among the rules of a keyed part,
        // where its packets never come: the table is laid out again.
        let misfit = td.chains.iter().find_map(|c| match (c.old, c.new) {
            (Some(_), Some(cj)) if !meta[oi].part_keys.is_empty() => {
                crate::placement::place(c, &new.chains[cj], &meta[oi]).err().map(|m| (c, m.0))
            }
            _ => None,
        });
        let why = match (hook, strategy, parted, unparted) {
            (Some(c), ..) => Some(format!(
                "the hook, type or priority of chain `{}` changes, which the kernel cannot change in place",
                c.name
            )),
            (None, Some(s), ..) => Some(format!("it was applied with strategy {s}")),
            (None, None, Some(c), _) => Some(format!(
                "chain `{}` is laid out in parts and now holds a `return`, `goto` or verdict map, which must not run inside a part",
                c.name
            )),
            (None, None, None, Some(c)) => Some(format!(
                "chain `{}` is laid out whole and is now to be laid out in parts",
                c.name
            )),
            (None, None, None, None) => misfit.map(|(c, j)| format!(
                "chain `{}` is laid out in parts by protocol and its rule {} would stand inside a part of another protocol",
                c.name,
                j + 1
            )),
        };
        if let Some(why) = why {
            whole.push(Whole { table: td.name.clone(), why, remade: false });
        }
    }
    // A strategy that lays a table out as it is changes only its record.
    let mut records = Vec::new();
    for t in &meta {
        if let Owner::Shriek { strategy, policy } = &t.owner {
            let replaced = whole.iter().any(|w| w.table == t.table.name);
            let named = desired.ruleset.tables.iter().any(|n| n.name == t.table.name);
            if named && !replaced && policy == key && strategy != desired.strategy.keyword() {
                records.push(Record { table: t.table.name.clone(), was: strategy.clone() });
            }
        }
    }
    // A table made again takes its leftovers with it; an orphan's stay
    // with it unless `--prune` removes it.
    let leftovers = staged_by_table
        .into_iter()
        .filter(|(t, _)| !whole.iter().any(|w| &w.table == t && w.remade))
        .flat_map(|(t, staged)| staged.into_iter().map(move |s| (t.clone(), s)))
        .collect();
    Ok(Plan {
        records,
        leftovers,
        live: live_rs,
        delta,
        whole,
        orphans,
        prune: opts.prune,
        notes,
        meta,
        genid,
        planned: None,
    })
}

/// Reads the counts of the elements that leave the counting sets a cached
/// reading holds without counts (see `cache`), as a dump would have given
/// them: the elements the batch deletes, which are the delta's removed and
/// changed elements of a set that stays (the plan already found them, so
/// nothing is compared again here), or every element of a set made again
/// or removed (or in a table rebuilt or made again), asked for by key, in
/// a request or a few. A set the kernel will not answer so is dumped
/// whole.
pub(crate) fn count_leaving(sock: &mut Socket, plan: &mut Plan) -> Result<(), RuntimeError> {
    use std::collections::HashMap;
    for (oi, meta) in plan.meta.iter_mut().enumerate() {
        if meta.uncounted.is_empty() {
            continue;
        }
        let old_table = &plan.live.tables[oi];
        // A table rebuilt or made again may make any set again: every
        // element may leave.
        let whole = plan.whole.iter().any(|w| w.table == old_table.name);
        let delta = plan.delta.tables.iter().find(|t| t.old == Some(oi));
        let mut uncounted: Vec<(String, Vec<u8>)> =
            std::mem::take(&mut meta.uncounted).into_iter().collect();
        uncounted.sort();
        for (name, header) in uncounted {
            let Some(si) = old_table.sets.iter().position(|s| s.name == name) else { continue };
            let old = &old_table.sets[si];
            let edits = delta.and_then(|t| t.sets.iter().find(|s| s.old == Some(si)));
            // `None`: every element leaves (the set is made again or goes).
            let leaving: Option<Vec<&nft::Element>> = match edits {
                _ if whole => None,
                None => Some(Vec::new()),
                Some(sd) if sd.action.is_some() => None,
                Some(sd) => Some(
                    sd.elements
                        .iter()
                        .filter(|e| {
                            matches!(
                                e.action,
                                structural::Action::Remove | structural::Action::Change
                            )
                        })
                        .filter_map(|e| e.old.map(|i| &old.elements[i]))
                        .collect(),
                ),
            };
            if leaving.as_ref().is_some_and(Vec::is_empty) {
                meta.element_counts.insert(name, HashMap::new());
                continue;
            }
            let kernel = meta.kernel_set(&name).to_string();
            // Every element of a set made again: still asked for by key,
            // which costs the kernel a lookup each, where a dump of a
            // hashed set walks it from its start for every 32 KiB piece.
            let leaving = leaving.unwrap_or_else(|| old.elements.iter().collect());
            let answers = match elements_by_key(sock, &old_table.name, old, &kernel, &leaving)? {
                Some(answers) => answers,
                None => sock
                    .request(NFT_MSG_GETSETELEM, NLM_F_DUMP, |a| {
                        a.str(NFTA_SET_ELEM_LIST_TABLE, &old_table.name);
                        a.str(NFTA_SET_ELEM_LIST_SET, &kernel);
                    })?
                    .map_err(errno_err("dump"))?,
            };
            meta.element_counts.insert(name, decode::element_counts(&header, &answers));
        }
    }
    Ok(())
}

/// GETSETELEM answers for `elements` of set `set` (`kernel` to the
/// kernel), asked for by key; `None` when the kernel refuses (one is
/// missing, or it is too old to answer a list).
fn elements_by_key(
    sock: &mut Socket,
    table: &str,
    set: &nft::Set,
    kernel: &str,
    elements: &[&nft::Element],
) -> Result<Option<Vec<Vec<u8>>>, RuntimeError> {
    // A deletion names each element by its key alone: the same list.
    let mut b = crate::encode::Batch::begin(0, None);
    crate::encode::edit_elements(&mut b, table, set, kernel, elements, false);
    let Ok(bytes) = b.w.bytes() else { return Ok(None) };
    let mut answers = Vec::new();
    for m in msg::messages(bytes).filter(|m| m.ty & 0xff == NFT_MSG_DELSETELEM) {
        match sock.request(NFT_MSG_GETSETELEM, 0, |a| a.copy_from(m.nft_attrs(), &[]))? {
            Ok(got) => answers.extend(got),
            Err(_) => return Ok(None),
        }
    }
    Ok(Some(answers))
}

/// Moves a live table's chains and sets out, for the plan's old side,
/// and leaves the rest (its name, its named counters) where they were:
/// what `apply` reads of [`Plan::meta`] besides what only the kernel knows
/// is the table's name.
fn take_contents(t: &mut LiveTable) -> nft::Table {
    nft::Table {
        name: t.table.name.clone(),
        sets: std::mem::take(&mut t.table.sets),
        counters: t.table.counters.clone(),
        chains: std::mem::take(&mut t.table.chains),
    }
}

#[cfg(test)]
#[path = "plan/leaving_tests.rs"]
mod leaving_tests;
