//! `apply`: change shriek's tables in one atomic, generation-checked batch.
//!
//! `apply` reads the live tables back ([`crate::plan::read_live`]), plans
//! against them ([`crate::plan::plan`]) and sends only the delta: new,
//! deleted and replaced rules (placed by handle), chains, sets, map
//! elements and counters ([`delta`]). What stays keeps its kernel handle and
//! its counters; a rule's or element's counter made anew starts from the
//! value the one it replaces had when the tables were read ([`carry`]).
//! A table that cannot be changed rule by rule (`--replace`,
//! a strategy change, a hook change) is rebuilt in place ([`rebuild`]):
//! the table, its base chains, its named counters and the sets that stay
//! are kept, so counts go on through the commit. A table holding something
//! the model cannot read back, or taken over from another policy, is made
//! again, its named counters carried over as read. A plan with no changes
//! sends nothing at all.
//!
//! The batch is BATCH_BEGIN (with the generation id read before the live
//! tables were), the messages, then BATCH_END: the kernel applies all of it
//! or nothing, and refuses it if anything changed since the reading, in
//! which case `apply` reads and plans again, once. A dry run leaves
//! BATCH_END out, so the kernel checks every message and then throws the
//! batch away.
//!
//! The kernel only treats messages as one batch when they arrive in one
//! datagram (a batch cut in two is aborted at the cut), so the batch is
//! never sent in chunks: the socket's send buffer is raised to fit it with
//! SO_SNDBUFFORCE instead. Success is not acknowledged message by message
//! (100k acks would cost more than the rules); errors come back with the
//! refused message's sequence number, and a GETGEN request sent after the
//! batch marks the end of the answers.

mod beside;
mod carry;
mod delta;
mod jumps;
mod nat_maps;
mod rebuild;
mod settle;
mod stage;
mod sub_parts;

pub(crate) use jumps::table_jump_depth_error;

use std::time::{Duration, Instant};

use nix::errno::Errno;

use shriek_compiler::nft;

use crate::abi::*;
use crate::desired::Desired;
use crate::encode::{self, Batch};
use crate::error::{KernelError, RuntimeError};
use crate::plan::{self, Live, Plan, PlanOptions, Planned, Reading};
use crate::socket::Socket;
use delta::Model;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ApplyOptions {
    /// Send everything but the commit: the kernel validates and discards.
    pub dry_run: bool,
    /// Apply inside this named network namespace (/run/netns/NAME).
    pub netns: Option<String>,
    /// Replace every named table whole, and take over one another policy
    /// made.
    pub replace: bool,
    /// Also remove the tables this policy made and no longer names.
    pub prune: bool,
}

#[derive(Clone, Debug)]
pub struct ApplySummary {
    /// What was applied: the plan the batch was made from.
    pub plan: Plan,
    /// Netlink messages in the batch, BATCH_BEGIN and BATCH_END included;
    /// 0 when there was nothing to send.
    pub messages: usize,
    /// The whole call, reading and planning included.
    pub elapsed: Duration,
    /// From sending the batch to the kernel's answer.
    pub transaction: Duration,
    /// The same for the staging transaction that went first, when new
    /// interval sets were made in one of their own (`staged` of them, the
    /// rules' own included), or maps made anew (`beside` of them).
    pub staging: Duration,
    pub staged: usize,
    /// Maps made anew under a new name, in the staging transaction, beside
    /// the old ones, which went in the transaction after the batch
    /// (`apply/beside.rs`).
    pub beside: usize,
    /// Maps deleted in a transaction after the batch, once the packets
    /// walking the old rules were through (`apply/settle.rs`), and the
    /// time that took, the wait included.
    pub deferred: usize,
    pub settling: Duration,
    /// Of `elapsed`: reading (when not given), planning and reading the
    /// counts that leave, before anything is sent.
    pub planning: Duration,
    /// Of `elapsed`: keeping the day-2 cache after the commit.
    pub recording: Duration,
}

/// Makes the kernel hold what `desired` says, changing only what differs.
pub fn apply(desired: &Desired, opts: &ApplyOptions) -> Result<ApplySummary, RuntimeError> {
    apply_with_hook(desired, None, opts, &|| {})
}

/// [`apply`] from a reading of the live tables the caller already made
/// (`live`, e.g. to pick the recorded strategy), running `between` after
/// the tables are read and before the batch is sent: tests use it to change
/// the ruleset concurrently.
#[doc(hidden)]
pub fn apply_with_hook(
    desired: &Desired,
    live: Option<Live>,
    opts: &ApplyOptions,
    between: &dyn Fn(),
) -> Result<ApplySummary, RuntimeError> {
    apply_carrying(desired, None, live, opts, between)
}

/// [`apply_with_hook`], told how the same policy lowers with the strategy
/// the live tables record (`previous`, when that is not `desired`'s), so
/// that the per-rule counts of rules whose lowering changes with the
/// strategy are carried over too (`apply/carry.rs`). Without it, counts
/// are carried where the old and the new lowering hold the same rule or
/// element.
#[doc(hidden)]
pub fn apply_carrying(
    desired: &Desired,
    previous: Option<&nft::Ruleset>,
    live: Option<Live>,
    opts: &ApplyOptions,
    between: &dyn Fn(),
) -> Result<ApplySummary, RuntimeError> {
    apply_kept(desired, previous, live, opts, between, 2)
}

/// [`apply_carrying`] spending `ruleset` as the batch is written (from a
/// reading or a plan made ahead, [`crate::plan_ahead`]): the
/// rules of the tables written whole (new or made again) are freed as they
/// are encoded, and `spent` runs as they go, to give the memory back
/// (`encode::whole_table_spending`). `desired` says the rest (its ruleset
/// is not read). `Ok(None)`: the tables changed after the ruleset was
/// spent, so it cannot be planned again: nothing was changed, and the
/// caller makes the ruleset again and applies it once more with
/// [`apply_once`] (a second change is an error, as here).
#[doc(hidden)]
#[allow(clippy::too_many_arguments)]
pub fn apply_spending(
    ruleset: &mut nft::Ruleset,
    desired: &Desired,
    previous: Option<&nft::Ruleset>,
    live: Option<Reading>,
    opts: &ApplyOptions,
    between: &dyn Fn(),
    spent: &dyn Fn(),
) -> Result<Option<ApplySummary>, RuntimeError> {
    let mut model = Model::Spent { ruleset, spent, any: false };
    apply_model(&mut model, desired, previous, live, opts, between, 2)
}

/// [`apply_carrying`] tried once: a changed generation is an error.
#[doc(hidden)]
pub fn apply_once(
    desired: &Desired,
    previous: Option<&nft::Ruleset>,
    live: Option<Live>,
    opts: &ApplyOptions,
    between: &dyn Fn(),
) -> Result<ApplySummary, RuntimeError> {
    apply_kept(desired, previous, live, opts, between, 1)
}

/// [`apply_model`] of `desired`'s ruleset, kept whole: it can always be
/// planned again, so every try ends with a summary or an error.
fn apply_kept(
    desired: &Desired,
    previous: Option<&nft::Ruleset>,
    live: Option<Live>,
    opts: &ApplyOptions,
    between: &dyn Fn(),
    attempts: usize,
) -> Result<ApplySummary, RuntimeError> {
    let mut model = Model::Kept(desired.ruleset);
    apply_model(&mut model, desired, previous, live.map(Reading::Live), opts, between, attempts)
        .map(|done| done.expect("a kept ruleset is never spent"))
}

/// [`apply_carrying`] of `model`, tried up to `attempts` times; `None`
/// when the tables changed after `model` was spent (see
/// [`apply_spending`]).
fn apply_model(
    model: &mut Model,
    meta: &Desired,
    previous: Option<&nft::Ruleset>,
    live: Option<Reading>,
    opts: &ApplyOptions,
    between: &dyn Fn(),
    attempts: usize,
) -> Result<Option<ApplySummary>, RuntimeError> {
    let desired = &Desired { ruleset: model.ruleset(), ..*meta };
    let start = Instant::now();
    if let Some(e) = refuse_unmodelled(desired) {
        return Err(e);
    }
    if opts.dry_run {
        if let Some(e) = jumps::jump_depth_error(desired.ruleset) {
            return Err(e);
        }
    }
    let mut sock = Socket::open(opts.netns.as_deref())?;
    let popts = PlanOptions { replace: opts.replace, prune: opts.prune };
    let mut given = live;
    // A changed generation means someone else committed after the tables
    // were read: read and plan again; a second change in a row is reported.
    for attempt in 0..attempts {
        let last = attempt + 1 == attempts;
        let desired = &Desired { ruleset: model.ruleset(), ..*meta };
        // The caller's reading becomes the plan's old side, never cloned;
        // a plan the caller made from one (with these options) is used as
        // it is.
        let (plan, cached) = match given.take() {
            Some(Reading::Planned(p)) if p.opts == popts => (p.plan, Cached::Carried(p.carried)),
            given => {
                let mut reading = match given {
                    Some(Reading::Live(l)) => l,
                    _ => plan::read_with(
                        &mut sock,
                        &desired.table_names(),
                        desired.policy,
                        opts.netns.as_deref(),
                    )?,
                };
                let cached = std::mem::take(&mut reading.cached);
                let mut plan = plan::plan(desired, reading, &popts)?;
                // As `plan_ahead` does: a dry run validates the maps made
                // anew too (under their own names: nothing is staged).
                plan.planned = beside::mark(&mut plan, desired);
                // A cached reading holds no element counts: those that
                // move are read.
                plan::count_leaving(&mut sock, &mut plan)?;
                (plan, Cached::Read(cached))
            }
        };
        between();
        let planning = start.elapsed();
        // With --prune, removing orphans is part of the delta.
        if plan.is_empty() {
            return Ok(Some(ApplySummary {
                plan,
                messages: 0,
                elapsed: start.elapsed(),
                transaction: Duration::ZERO,
                staging: Duration::ZERO,
                staged: 0,
                beside: 0,
                deferred: 0,
                settling: Duration::ZERO,
                planning,
                recording: Duration::ZERO,
            }));
        }
        // New interval sets go in first, in a transaction of their own
        // (`stage`); a dry run makes them in its one batch, which the
        // kernel discards.
        let staged = if opts.dry_run { Default::default() } else { stage::sets(desired, &plan) };
        let beside = beside::made_anew(&plan, &staged);
        // The values read for this plan, at its generation: a retry reads
        // and carries them again.
        let seeds = carry::seeds(desired, previous, &plan);
        let mut genid = plan.genid;
        let mut staging = Duration::ZERO;
        let mut messages = 0;
        // The main batch is written first: it finds the rules' own
        // interval sets that go in with the staged sets.
        let mut batch = Batch::begin(sock.next_seq(), Some(genid));
        batch.seeds = seeds;
        if !opts.dry_run {
            batch.deferred = Some(encode::Deferred::default());
            batch.own = Some(encode::OwnSets {
                tables: stage::own_set_tables(&plan),
                genid,
                made: Vec::new(),
            });
        }
        delta::write_model(&mut batch, model, meta, &plan, &staged);
        let own = batch.own.take().map(|o| o.made).unwrap_or_default();
        if !staged.is_empty() || !own.is_empty() {
            // After the main batch's sequence numbers, which it keeps.
            for _ in 0..batch.subjects.len() {
                sock.next_seq();
            }
            let mut first = Batch::begin(sock.next_seq(), Some(genid));
            first.seeds = std::mem::take(&mut batch.seeds);
            let desired = &Desired { ruleset: model.ruleset(), ..*meta };
            stage::batch(&mut first, desired, &staged, &own);
            let sent = Instant::now();
            match send_batch(&mut sock, &first) {
                Ok(()) => {}
                Err(RuntimeError::Changed) if !last && model.is_spent() => return Ok(None),
                Err(RuntimeError::Changed) if !last => continue,
                Err(e) => return Err(e),
            }
            staging = sent.elapsed();
            messages = first.w.count;
            genid = stage::next_genid(genid);
            batch.guard(genid);
        }
        let desired = &Desired { ruleset: model.ruleset(), ..*meta };
        if !opts.dry_run {
            batch.end();
        }
        let sent = Instant::now();
        let result = send_batch(&mut sock, &batch);
        let transaction = sent.elapsed();
        if result.is_err() {
            stage::unstage(&mut sock, &staged, &own);
        }
        match result {
            Ok(()) => {
                // The maps the new rules no longer use, once the packets
                // that walk the old ones are through (`settle`).
                let deferred = batch.deferred.take().unwrap_or_default();
                let mut after = stage::next_genid(genid);
                let mut settling = Duration::ZERO;
                if !deferred.is_empty() {
                    let (one, took) = settle::settle(&mut sock, &deferred);
                    settling = took;
                    if one {
                        after = stage::next_genid(after);
                    }
                }
                let recorded = Instant::now();
                if !opts.dry_run {
                    // What the commit left, for the next reading (`cache`).
                    let untouched = match cached {
                        Cached::Read(cached) => carried_sets(cached, desired, &plan),
                        Cached::Carried(carried) => carried,
                    };
                    crate::cache::record(
                        &mut sock,
                        opts.netns.as_deref(),
                        desired,
                        after,
                        untouched,
                    );
                    if plan.prune {
                        // The orphans went in this batch: so do their files.
                        let gone: Vec<String> =
                            plan.orphans.iter().map(|o| o.table.clone()).collect();
                        crate::cache::forget(opts.netns.as_deref(), &gone);
                    }
                }
                return Ok(Some(ApplySummary {
                    plan,
                    messages: messages + batch.w.count,
                    elapsed: start.elapsed(),
                    transaction,
                    staging,
                    staged: staged.sets.len() - beside + own.len(),
                    beside,
                    deferred: deferred.sets.len(),
                    settling,
                    planning,
                    recording: recorded.elapsed(),
                }));
            }
            // Spent, the ruleset cannot be planned again: the caller
            // makes it again.
            Err(RuntimeError::Changed) if !last && model.is_spent() => return Ok(None),
            Err(RuntimeError::Changed) if !last => continue,
            Err(e) => return Err(e),
        }
    }
    Err(RuntimeError::Changed)
}

/// [`plan::plan`] of `live` against `desired`, with the counts of the
/// elements that leave read as `apply` reads them (`plan::count_leaving`)
/// and the day-2 cache as the batch will leave it ([`carried_sets`]), for
/// [`apply_spending`] to send later ([`Planned`]). Reads only: `apply`
/// makes it beside the analysis.
pub fn plan_ahead(
    desired: &Desired,
    mut live: Live,
    opts: &PlanOptions,
    netns: Option<&str>,
) -> Result<Planned, RuntimeError> {
    let cached = std::mem::take(&mut live.cached);
    let mut plan = plan::plan(desired, live, opts)?;
    plan.planned = beside::mark(&mut plan, desired);
    let mut sock = Socket::open(netns)?;
    plan::count_leaving(&mut sock, &mut plan)?;
    let carried = carried_sets(cached, desired, &plan);
    Ok(Planned { plan, carried, opts: *opts })
}

/// A reading's day-2 cache: as read, or as the batch leaves it.
enum Cached {
    Read(Vec<(String, crate::cache::TableCache)>),
    Carried(Vec<(String, crate::cache::TableCache)>),
}

/// The cached sets of a reading as the batch made from it leaves them, so
/// that keeping the cache again (`cache::record`) need not encode them
/// anew: a set the batch does not name, as it was read; a set that stays,
/// in a table changed in place, less the elements the batch deletes and
/// with those it adds (`edited_set`). Not the sets of a table rebuilt or
/// made again, nor a set made again, added or removed.
fn carried_sets(
    cached: Vec<(String, crate::cache::TableCache)>,
    desired: &Desired,
    plan: &Plan,
) -> Vec<(String, crate::cache::TableCache)> {
    cached
        .into_iter()
        .filter(|(table, _)| !plan.whole.iter().any(|w| w.table == *table))
        .map(|(table, mut cache)| {
            let meta = plan.meta.iter().find(|m| m.table.name == table);
            for td in plan.delta.tables.iter().filter(|t| t.name == table) {
                for sd in &td.sets {
                    if !edited_set(&mut cache, desired, plan, td, sd) {
                        // By the kernel's name, as the cache keeps it.
                        let kernel = meta.map_or(sd.name.as_str(), |m| m.kernel_set(&sd.name));
                        cache.retain(|set| set != sd.name && set != kernel);
                    }
                }
            }
            (table, cache)
        })
        .collect()
}

/// Set `sd`'s cached elements edited as `delta::write_model` edits the set in
/// the kernel (`sets_going`, `sets_coming`): each element removed or
/// changed deleted by its key, each one added or changed added. False for a
/// set it does not edit in place (under the policy's name or the staged
/// one the set has, by which the cache keeps it).
fn edited_set(
    cache: &mut crate::cache::TableCache,
    desired: &Desired,
    plan: &Plan,
    td: &shriek_compiler::diff::structural::TableDelta,
    sd: &shriek_compiler::diff::structural::SetDelta,
) -> bool {
    use shriek_compiler::diff::structural::Action;
    let (None, Some(si), Some(sj), Some(ni)) = (sd.action, sd.old, sd.new, td.new) else {
        return false;
    };
    let Some(oi) = plan.meta.iter().position(|m| m.table.name == td.name) else { return false };
    let kernel = plan.meta[oi].kernel_set(&sd.name);
    let (old, new) = (&plan.live.tables[oi].sets[si], &desired.ruleset.tables[ni].sets[sj]);
    let gone: std::collections::HashSet<Vec<u8>> = sd
        .elements
        .iter()
        .filter(|e| matches!(e.action, Action::Remove | Action::Change))
        .filter_map(|e| e.old)
        .map(|i| encode::key_bytes(&old.key, &old.elements[i].key, false))
        .collect();
    let came: Vec<&nft::Element> = sd
        .elements
        .iter()
        .filter(|e| matches!(e.action, Action::Add | Action::Change))
        .filter_map(|e| e.new.map(|j| &new.elements[j]))
        .collect();
    let Some(came) = crate::cache::element_messages(&td.name, new, &came) else { return false };
    cache.edit(kernel, &gone, came);
    true
}

/// Lowering never makes an expression the model cannot encode; a ruleset
/// read back from the kernel may hold one, and is never applied.
fn refuse_unmodelled(desired: &Desired) -> Option<RuntimeError> {
    for t in &desired.ruleset.tables {
        for c in &t.chains {
            for r in &c.rules {
                if let Some(nft::Expr::Raw(text)) =
                    r.exprs.iter().find(|e| matches!(e, nft::Expr::Raw(_)))
                {
                    return Some(RuntimeError::io(
                        "encoding",
                        format!(
                            "chain `{}` of table `{}` holds `{text}`, which shriekc cannot encode",
                            c.name, t.name
                        ),
                    ));
                }
            }
        }
    }
    None
}

/// Sends a batch in one datagram and waits for the kernel's verdict on it.
pub(crate) fn send_batch(sock: &mut Socket, batch: &Batch) -> Result<(), RuntimeError> {
    // Skip the sequence numbers the batch used.
    for _ in 0..batch.subjects.len() {
        sock.next_seq();
    }
    let bytes = batch.w.bytes()?;
    sock.reserve(bytes.len())?;
    sock.send(bytes)?;
    // The kernel handles a datagram inside `send`, so its errors are
    // already queued; a GETGEN request behind them marks their end.
    let errors = collect_errors(sock, batch)?;
    match errors.first() {
        None => Ok(()),
        Some(&(errno, seq)) => Err(translate(batch, errno, seq)),
    }
}

fn collect_errors(sock: &mut Socket, batch: &Batch) -> Result<Vec<(i32, u32)>, RuntimeError> {
    let barrier = sock.next_seq();
    let mut w = crate::msg::Writer::default();
    w.nft(NFT_MSG_GETGEN, NLM_F_ACK, barrier, |_| {});
    sock.send(w.bytes()?)?;
    let mut errors = Vec::new();
    loop {
        let done = sock.recv(|m| {
            if let Some((errno, seq)) = m.error() {
                if seq == barrier {
                    return true;
                }
                if errno != 0 && batch.subject(seq).is_some() {
                    errors.push((errno, seq));
                }
            }
            false
        })?;
        if done {
            break;
        }
    }
    // The first refused message is the cause; later ones often follow
    // from it (a rule naming a chain that failed).
    errors.sort_by_key(|&(_, seq)| seq.wrapping_sub(batch.first_seq));
    Ok(errors)
}

fn translate(batch: &Batch, errno: i32, seq: u32) -> RuntimeError {
    let errno = Errno::from_raw(errno);
    if errno == Errno::EPERM {
        return RuntimeError::Permission;
    }
    if errno == Errno::ERESTART && seq == batch.first_seq {
        return RuntimeError::Changed;
    }
    let subject = batch.subject(seq).cloned().unwrap_or(encode::Subject::Batch);
    let (reason, help) =
        crate::feature::explain_refusal(errno, batch.w.bytes().unwrap_or(&[]), seq);
    RuntimeError::Kernel(Box::new(KernelError {
        errno: errno as i32,
        reason,
        subject: subject.describe(),
        origin: subject.origin(),
        help,
    }))
}
