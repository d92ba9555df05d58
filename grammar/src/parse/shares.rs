//! Work on a long list split in shares over the cores: for the steps of a
//! large policy that are many small independent pieces (reading its rule
//! lines here, resolving its rules in `compiler/src/resolve/chain.rs`).
//!
//! Plain scoped threads, one fewer than the cores, beside the calling one:
//! each takes the next share not yet taken until none is left, so a thread
//! the machine holds back takes fewer. They end with the work, so nothing
//! is left waiting for more (a pool's idle workers spin a while first, on
//! the cores the rest of the command wants).

use std::sync::atomic::{AtomicUsize, Ordering};

/// `f` of each share of `items` (`share` items each, the last one fewer),
/// with the share's number, in share order; on this thread alone when there
/// is one share or one core.
pub fn in_shares<T: Sync, R: Send>(
    items: &[T],
    share: usize,
    f: impl Fn(usize, &[T]) -> R + Sync,
) -> Vec<R> {
    let share = share.max(1);
    let shares = items.len().div_ceil(share);
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(shares);
    let next = AtomicUsize::new(0);
    let work = || {
        let mut done = Vec::new();
        loop {
            let k = next.fetch_add(1, Ordering::Relaxed);
            if k >= shares {
                return done;
            }
            let from = k * share;
            done.push((k, f(k, &items[from..(from + share).min(items.len())])));
        }
    };
    let mut done = std::thread::scope(|scope| {
        // A thread that cannot be made leaves its shares to the others.
        let helpers: Vec<_> = (1..threads)
            .filter_map(|_| std::thread::Builder::new().spawn_scoped(scope, work).ok())
            .collect();
        let mut done = work();
        for helper in helpers {
            match helper.join() {
                Ok(more) => done.extend(more),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        done
    });
    done.sort_unstable_by_key(|(k, _)| *k);
    done.into_iter().map(|(_, r)| r).collect()
}

#[cfg(test)]
mod tests {
    use super::in_shares;

    #[test]
    fn shares_come_back_in_order_whole() {
        let items: Vec<u32> = (0..1000).collect();
        for share in [1, 7, 100, 999, 1000, 5000] {
            let got = in_shares(&items, share, |k, s| (k, s.to_vec()));
            let numbers: Vec<usize> = got.iter().map(|(k, _)| *k).collect();
            assert_eq!(numbers, (0..items.len().div_ceil(share)).collect::<Vec<_>>());
            assert_eq!(got.into_iter().flat_map(|(_, s)| s).collect::<Vec<_>>(), items);
        }
        assert!(in_shares(&[] as &[u32], 10, |_, s| s.len()).is_empty());
    }
}
