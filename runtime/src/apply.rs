//! `apply`: replace shriek's tables in one atomic, generation-checked batch.
//!
//! The batch is BATCH_BEGIN (with the generation id read just before),
//! then per table NEWTABLE + DELTABLE (so a missing table is no error),
//! NEWTABLE and its contents, then BATCH_END. The kernel applies all of it
//! or nothing. A dry run leaves BATCH_END out, so the kernel checks every
//! message and then throws the batch away.
//!
//! The kernel only treats messages as one batch when they arrive in one
//! datagram (a batch cut in two is aborted at the cut), so the batch is
//! never sent in chunks: the socket's send buffer is raised to fit it with
//! SO_SNDBUFFORCE instead. Success is not acknowledged message by message
//! (100k acks would cost more than the rules); errors come back with the
//! refused message's sequence number, and a GETGEN request sent after the
//! batch marks the end of the answers.

use std::time::{Duration, Instant};

use shriek_compiler::nft;

use crate::abi::*;
use crate::encode::{self, Batch};
use nix::errno::Errno;

use crate::error::{explain, KernelError, RuntimeError};
use crate::socket::Socket;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ApplyOptions {
    /// Send everything but the commit: the kernel validates and discards.
    pub dry_run: bool,
    /// Apply inside this named network namespace (/run/netns/NAME).
    pub netns: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApplySummary {
    pub tables: usize,
    pub chains: usize,
    pub rules: usize,
    pub elements: usize,
    /// Netlink messages in the batch, BATCH_BEGIN and BATCH_END included.
    pub messages: usize,
    pub elapsed: Duration,
}

/// Replaces the ruleset's tables in the kernel, all or nothing.
pub fn apply(rs: &nft::Ruleset, opts: &ApplyOptions) -> Result<ApplySummary, RuntimeError> {
    apply_with_hook(rs, opts, &|| {})
}

/// [`apply`], running `between` after the generation id is read and before
/// the batch is sent: tests use it to change the ruleset concurrently.
#[doc(hidden)]
pub fn apply_with_hook(
    rs: &nft::Ruleset,
    opts: &ApplyOptions,
    between: &dyn Fn(),
) -> Result<ApplySummary, RuntimeError> {
    let start = Instant::now();
    if opts.dry_run {
        if let Some(e) = jump_depth_error(rs) {
            return Err(e);
        }
    }
    let mut sock = Socket::open(opts.netns.as_deref())?;
    // A changed generation means someone else committed in between. Our
    // batch replaces whole tables, so building it again on the new
    // generation is safe; a second change in a row is reported.
    for attempt in 0..2 {
        let genid = sock.genid()?;
        between();
        let mut batch = Batch::begin(sock.next_seq(), Some(genid));
        encode::ruleset(&mut batch, rs);
        if !opts.dry_run {
            batch.end();
        }
        match send_batch(&mut sock, &batch) {
            Ok(()) => {
                return Ok(ApplySummary {
                    tables: batch.tables,
                    chains: batch.chains,
                    rules: batch.rules,
                    elements: batch.elements,
                    messages: batch.w.count,
                    elapsed: start.elapsed(),
                })
            }
            Err(RuntimeError::Changed) if attempt == 0 => continue,
            Err(e) => return Err(e),
        }
    }
    Err(RuntimeError::Changed)
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

/// What the kernel's commit-time validation would say about jumps: a chain
/// reached 16 jumps deep from a base chain (EMLINK) or a loop (ELOOP),
/// blamed on the rule that jumps, as the kernel does. A dry run needs this
/// because the kernel only validates jumps when the batch is committed.
fn jump_depth_error(rs: &nft::Ruleset) -> Option<RuntimeError> {
    use std::collections::HashMap;
    for t in &rs.tables {
        let chains: HashMap<&str, &nft::Chain> =
            t.chains.iter().map(|c| (c.name.as_str(), c)).collect();
        let maps: HashMap<&str, &nft::Set> = t.sets.iter().map(|s| (s.name.as_str(), s)).collect();
        for base in t.chains.iter().filter(|c| c.base.is_some()) {
            let mut path = vec![base.name.as_str()];
            if let Some(e) = walk(&t.name, base, 0, &chains, &maps, &mut path) {
                return Some(e);
            }
        }
    }
    None
}

fn walk<'a>(
    table: &str,
    chain: &'a nft::Chain,
    level: usize,
    chains: &std::collections::HashMap<&str, &'a nft::Chain>,
    maps: &std::collections::HashMap<&str, &'a nft::Set>,
    path: &mut Vec<&'a str>,
) -> Option<RuntimeError> {
    use nft::{Data, Expr, Verdict};
    for (index, rule) in chain.rules.iter().enumerate() {
        let mut targets: Vec<&str> = Vec::new();
        for e in &rule.exprs {
            match e {
                Expr::Verdict(Verdict::Jump(c) | Verdict::Goto(c)) => targets.push(c),
                Expr::Vmap { map, .. } => {
                    for el in maps.get(map.as_str()).map(|m| m.elements.as_slice()).unwrap_or(&[]) {
                        if let Some(Data::Verdict(Verdict::Jump(c) | Verdict::Goto(c))) = &el.data {
                            targets.push(c);
                        }
                    }
                }
                _ => {}
            }
        }
        for target in targets {
            let errno = if path.contains(&target) {
                Errno::ELOOP
            } else if level + 1 >= shriek_compiler::nft::vocab::JUMP_STACK_DEPTH {
                Errno::EMLINK
            } else {
                let Some(next) = chains.get(target) else { continue };
                path.push(target);
                let found = walk(table, next, level + 1, chains, maps, path);
                path.pop();
                match found {
                    Some(e) => return Some(e),
                    None => continue,
                }
            };
            let subject = encode::Subject::Rule {
                table: table.into(),
                chain: chain.name.clone(),
                index,
                origin: rule.origin.clone(),
            };
            let (reason, help) = explain(errno);
            return Some(RuntimeError::Kernel(Box::new(KernelError {
                errno: errno as i32,
                reason,
                subject: subject.describe(),
                origin: subject.origin(),
                help,
            })));
        }
    }
    None
}
