//! Lazy freeing (Redis's `lazyfree.c` and its `bio_lazy_free` thread):
//! values and emptied databases are dropped on a background thread, so
//! `UNLINK`, `FLUSHALL ASYNC` and the `lazyfree-lazy-*` settings do not
//! stall the executor while a big value's allocations are given back.
//!
//! Which deletions go here is decided where they happen, as in Redis:
//! `UNLINK` and `FLUSH* ASYNC` always; `DEL`/`GETDEL` under
//! `lazyfree-lazy-user-del`; expiry under `lazyfree-lazy-expire`; eviction
//! under `lazyfree-lazy-eviction`; a value the server deletes or overwrites
//! as a side effect (`SET` over a big hash, `RENAME` onto a key, `*STORE`)
//! under `lazyfree-lazy-server-del`; a flush without `ASYNC`/`SYNC` under
//! `lazyfree-lazy-user-flush`; a replica's flush before a full sync under
//! `replica-lazy-flush`. The counters are INFO's
//! `lazyfree_pending_objects` and `lazyfreed_objects`.

use keyspace::{Detached, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};

/// A value is freed in the background only when freeing it is more work
/// than handing it over ([`Value::free_effort`] above this, Redis's
/// `LAZYFREE_THRESHOLD`); small values are dropped at once.
pub const THRESHOLD: usize = 64;

enum Job {
    Value(Value),
    /// Emptied databases, and how many keys they held.
    Dbs(Vec<Detached>, u64),
}

#[derive(Default)]
struct Counters {
    /// Objects handed over and not freed yet.
    pending: AtomicU64,
    /// Objects freed in the background since start (or `CONFIG RESETSTAT`).
    freed: AtomicU64,
}

/// The lazy-free thread's queue and counters. The thread starts with the
/// first job, so a server that never frees lazily has none.
#[derive(Default)]
pub struct LazyFree {
    tx: Option<mpsc::Sender<Job>>,
    counters: Arc<Counters>,
}

impl LazyFree {
    /// Frees a value taken out of the keyspace: in the background when
    /// that is worth it, here otherwise.
    pub fn free_value(&mut self, v: Value) {
        if v.free_effort() > THRESHOLD {
            self.send(Job::Value(v), 1);
        }
    }

    /// Frees emptied databases in the background, each key counting as
    /// one object (`FLUSHALL ASYNC`).
    pub fn free_dbs(&mut self, dbs: Vec<Detached>) {
        let n: u64 = dbs.iter().map(|d| d.len() as u64).sum();
        if n > 0 {
            self.send(Job::Dbs(dbs, n), n);
        }
    }

    fn send(&mut self, job: Job, n: u64) {
        self.counters.pending.fetch_add(n, Ordering::Relaxed);
        let job = match &self.tx {
            Some(tx) => match tx.send(job) {
                Ok(()) => return,
                Err(mpsc::SendError(job)) => job,
            },
            None => job,
        };
        match self.start() {
            Some(tx) => {
                if let Err(mpsc::SendError(job)) = tx.send(job) {
                    free_job(job, &self.counters);
                }
            }
            // No thread: the work is done here, and still counted.
            None => free_job(job, &self.counters),
        }
    }

    fn start(&mut self) -> Option<&mpsc::Sender<Job>> {
        let (tx, rx) = mpsc::channel::<Job>();
        let counters = self.counters.clone();
        let spawned = std::thread::Builder::new()
            .name("bio_lazy_free".into())
            .spawn(move || {
                crate::os::background_thread_started(crate::os::ThreadKind::Bio);
                while let Ok(job) = rx.recv() {
                    free_job(job, &counters);
                }
            });
        match spawned {
            Ok(_) => {
                self.tx = Some(tx);
                self.tx.as_ref()
            }
            Err(e) => {
                crate::log_warning!("Can't create the lazy free thread: {e}");
                None
            }
        }
    }

    /// `lazyfree_pending_objects`.
    pub fn pending(&self) -> u64 {
        self.counters.pending.load(Ordering::Relaxed)
    }

    /// `lazyfreed_objects`.
    pub fn freed(&self) -> u64 {
        self.counters.freed.load(Ordering::Relaxed)
    }

    /// `CONFIG RESETSTAT`: the freed count starts again (the pending one is
    /// a gauge and stays).
    pub fn reset_stats(&self) {
        self.counters.freed.store(0, Ordering::Relaxed);
    }
}

fn free_job(job: Job, counters: &Counters) {
    let n = match job {
        Job::Value(v) => {
            drop(v);
            1
        }
        Job::Dbs(dbs, n) => {
            drop(dbs);
            n
        }
    };
    counters.pending.fetch_sub(n, Ordering::Relaxed);
    counters.freed.fetch_add(n, Ordering::Relaxed);
}

#[cfg(test)]
mod tests {
    use super::*;
    use keyspace::{Db, Set};

    fn wait_done(l: &LazyFree) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while l.pending() > 0 && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert_eq!(l.pending(), 0, "lazy free thread did not drain");
    }

    fn big_set() -> Value {
        let mut s = Set::new();
        for i in 0..1000 {
            s.add(format!("m{i}").as_bytes(), 512);
        }
        Value::Set(s)
    }

    #[test]
    fn only_costly_values_go_to_the_thread() {
        let mut l = LazyFree::default();
        l.free_value(Value::Set(Set::new()));
        assert_eq!(l.freed(), 0);
        assert!(l.tx.is_none(), "no thread for cheap values");
        l.free_value(big_set());
        wait_done(&l);
        assert_eq!(l.freed(), 1);
        l.reset_stats();
        assert_eq!(l.freed(), 0);
    }

    #[test]
    fn emptied_databases_count_their_keys() {
        let mut l = LazyFree::default();
        let mut db = Db::new();
        for i in 0..10 {
            db.insert(format!("k{i}").as_bytes(), big_set(), -1, 0);
        }
        l.free_dbs(vec![db.take_entries(), Db::new().take_entries()]);
        assert!(db.is_empty());
        wait_done(&l);
        assert_eq!(l.freed(), 10);
    }
}
