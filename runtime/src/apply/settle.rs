//! The transaction after the batch: the maps no rule of the new generation
//! uses any more, and the chains only their elements jumped to, deleted
//! once the packets that started walking the old rules are through.
//!
//! Deleting a map deactivates its elements at the generation switch
//! (`nft_map_deactivate` in Linux's `nf_tables_api.c`), while a packet
//! keeps the generation it started its walk in for its rules but looks a
//! set up with the generation current at the lookup. A packet that started
//! just before the switch and reached the map's lookup just after found
//! nothing, and fell through the old rules (measured: 6 and 7 of about
//! 3,000,000 datagrams in 100 switches from `auto` to `sequential` at
//! about 400,000 a second). So the batch leaves them be
//! (`encode::Deferred`), and they go here, after an RCU grace period:
//! every packet's walk is inside one RCU read-side section, and
//! `membarrier(MEMBARRIER_CMD_GLOBAL)` returns only after a grace period
//! (`synchronize_rcu`). Nothing of the new generation uses them, so the
//! time between changes no verdict; a process killed in between leaves
//! them unused, and the next `plan` lists them to go.

use std::time::{Duration, Instant};

use rustix::thread::{membarrier, MembarrierCommand};

use crate::encode::{self, Batch, Deferred};
use crate::socket::Socket;

/// Waits for the packets in flight, then deletes what `deferred` holds;
/// whether it went in one transaction (the generation then moved on by
/// one), and how long it took.
pub(super) fn settle(sock: &mut Socket, deferred: &Deferred) -> (bool, Duration) {
    let start = Instant::now();
    if membarrier(MembarrierCommand::Global).is_err() {
        // A kernel that refuses it (`nohz_full`): a pause far longer than
        // any packet's walk of the rules.
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut b = Batch::begin(sock.next_seq(), None);
    write(&mut b, deferred);
    b.end();
    if super::send_batch(sock, &b).is_ok() {
        return (true, start.elapsed());
    }
    // One already gone (an `apply` beside this one): each on its own.
    let sets = deferred.sets.iter().map(|(t, s)| (t.as_str(), s.as_str(), true));
    let chains = deferred.chains.iter().map(|(t, c)| (t.as_str(), c.as_str(), false));
    super::stage::delete_each(sock, sets.chain(chains));
    (false, start.elapsed())
}

/// The deletions: the maps, then the chains they jumped to.
fn write(b: &mut Batch, deferred: &Deferred) {
    for (table, set) in &deferred.sets {
        encode::delete_set(b, table, set);
    }
    for (table, chain) in &deferred.chains {
        encode::delete_chain(b, table, chain);
    }
}
