//! `maxmemory`: key eviction as Redis 7.0 does it.
//!
//! Before every command (once `maxmemory` is set) the executor asks
//! [`perform_evictions`] to bring the allocated bytes back under the limit.
//! Victims are chosen per `maxmemory-policy` with Redis's approximation:
//! each round samples `maxmemory-samples` keys of every database into a
//! pool of the [`POOL_SIZE`] best candidates seen so far (largest idle
//! time for LRU, lowest access counter for LFU, nearest expiry for
//! `volatile-ttl`) and evicts the best one; the random policies just pick
//! a random key, visiting databases in turn. A round stops once enough
//! bytes were freed or its time budget (`maxmemory-eviction-tenacity`) is
//! spent; in the latter case a background task keeps evicting between
//! event-loop turns, and commands are still accepted meanwhile. Only when
//! nothing at all can be evicted are commands flagged `denyoom` refused
//! with the OOM error.
//!
//! Each eviction is a dataset change of its own: counted in `evicted_keys`,
//! signalled to WATCH/tracking, notified (`evicted`, class `e`) and
//! propagated as `DEL` (`UNLINK` with `lazyfree-lazy-eviction`).
//!
//! The pool logic and the scores are pure functions of their inputs (time
//! passed in) so they are tested without clocks.

use crate::config::Directive;
use crate::notify;
use crate::server::Server;
use keyspace::lru::{self, AccessClock};
use keyspace::{Db, Entry};
use rand::Rng;
use std::cell::RefCell;
use std::rc::Rc;
use std::time::Instant;

/// Candidates kept between rounds, as Redis's EVPOOL_SIZE.
pub const POOL_SIZE: usize = 16;

/// `maxmemory-policy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Policy {
    VolatileLru,
    VolatileLfu,
    VolatileRandom,
    VolatileTtl,
    AllkeysLru,
    AllkeysLfu,
    AllkeysRandom,
    #[default]
    NoEviction,
}

impl Policy {
    /// The policy named `name`; anything unknown means no eviction (the
    /// config table only accepts the eight names).
    pub fn parse(name: &str) -> Policy {
        match name {
            "volatile-lru" => Policy::VolatileLru,
            "volatile-lfu" => Policy::VolatileLfu,
            "volatile-random" => Policy::VolatileRandom,
            "volatile-ttl" => Policy::VolatileTtl,
            "allkeys-lru" => Policy::AllkeysLru,
            "allkeys-lfu" => Policy::AllkeysLfu,
            "allkeys-random" => Policy::AllkeysRandom,
            _ => Policy::NoEviction,
        }
    }

    /// Whether every key is a candidate (otherwise only keys with a TTL).
    pub fn all_keys(self) -> bool {
        matches!(
            self,
            Policy::AllkeysLru | Policy::AllkeysLfu | Policy::AllkeysRandom
        )
    }

    /// Whether victims are ranked through the pool (all but the random
    /// policies and noeviction).
    pub fn ranked(self) -> bool {
        !matches!(
            self,
            Policy::AllkeysRandom | Policy::VolatileRandom | Policy::NoEviction
        )
    }
}

/// How good a victim `e` is under `policy` at `now_ms`: higher is evicted
/// first. LRU ranks by idle time (in ms, at the LRU clock's one-second
/// resolution), LFU by 255 minus the decayed access counter, volatile-ttl
/// by how soon the key expires.
pub fn score(policy: Policy, e: &Entry, clock: AccessClock, now_ms: i64) -> u64 {
    match policy {
        Policy::VolatileTtl => u64::MAX - e.expire.max(0) as u64,
        Policy::AllkeysLfu | Policy::VolatileLfu => {
            255 - u64::from(clock.lfu_counter(e.lru, now_ms))
        }
        _ => lru::idle_secs(e.lru, lru::clock_at(now_ms)) * 1000,
    }
}

/// Time budget of one eviction round for a tenacity (0..=100), in
/// microseconds: linear up to 500us at 10, then growing 15% per step, and
/// unbounded at 100.
pub fn time_limit_us(tenacity: u32) -> u64 {
    if tenacity <= 10 {
        50 * u64::from(tenacity)
    } else if tenacity < 100 {
        (500.0 * 1.15f64.powi(tenacity as i32 - 10)) as u64
    } else {
        u64::MAX
    }
}

/// Bytes to free to get back under `maxmemory`, or None when within it.
/// `not_counted` is memory left out of the decision (replica output and
/// AOF buffers).
pub fn to_free(used: u64, not_counted: u64, maxmemory: u64) -> Option<u64> {
    if maxmemory == 0 || used <= maxmemory {
        return None;
    }
    let logical = used.saturating_sub(not_counted);
    (logical > maxmemory).then(|| logical - maxmemory)
}

/// One candidate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub score: u64,
    pub db: usize,
    pub key: Box<[u8]>,
}

/// The eviction pool: up to [`POOL_SIZE`] candidates in ascending score
/// order. It survives between rounds, so a key that ranked well once
/// stays in the running; entries may go stale (deleted keys are skipped
/// when popped, as Redis does).
#[derive(Debug, Default)]
pub struct Pool {
    entries: Vec<Candidate>,
}

impl Pool {
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Offers a sampled key. It goes before the first entry that scores at
    /// least as much; in a full pool a key worse than every entry is
    /// dropped, otherwise the worst entry makes room.
    pub fn offer(&mut self, score: u64, db: usize, key: &[u8]) {
        let e = &mut self.entries;
        let k = e.iter().position(|c| c.score >= score).unwrap_or(e.len());
        let full = e.len() >= POOL_SIZE;
        if k == 0 && full {
            return;
        }
        let c = Candidate {
            score,
            db,
            key: key.into(),
        };
        if full {
            e.remove(0);
            e.insert(k - 1, c);
        } else {
            e.insert(k, c);
        }
    }

    /// Takes the best candidate out.
    pub fn pop_best(&mut self) -> Option<Candidate> {
        self.entries.pop()
    }

    /// The candidates, worst first (for tests).
    pub fn entries(&self) -> &[Candidate] {
        &self.entries
    }
}

/// What a sampling round needs besides the pool and the database.
#[derive(Debug, Clone, Copy)]
pub struct Sampling {
    pub policy: Policy,
    /// `maxmemory-samples`: keys looked at per database and round.
    pub samples: usize,
    pub clock: AccessClock,
    pub now_ms: i64,
}

/// Offers up to `samples` distinct keys of `db` (the candidates of the
/// policy) to the pool; a database with fewer candidates offers them all.
/// Returns how many candidates the database has.
pub fn populate<R: Rng>(pool: &mut Pool, db: &Db, dbid: usize, s: &Sampling, rng: &mut R) -> usize {
    let Sampling {
        policy,
        samples,
        clock,
        now_ms,
    } = *s;
    let all = policy.all_keys();
    let n = if all { db.len() } else { db.volatile_len() };
    if n == 0 {
        return 0;
    }
    let mut offer = |i: usize| {
        let pick = if all {
            db.key_entry_at(i)
        } else {
            db.volatile_at(i)
        };
        if let Some((k, e)) = pick {
            pool.offer(score(policy, e, clock, now_ms), dbid, k);
        }
    };
    let samples = samples.max(1);
    if n <= samples {
        (0..n).for_each(&mut offer);
    } else {
        rand::seq::index::sample(rng, n, samples)
            .into_iter()
            .for_each(&mut offer);
    }
    n
}

/// Result of one eviction round, as Redis's EVICT_OK / EVICT_RUNNING /
/// EVICT_FAIL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Within the limit (or evictions are not allowed right now).
    Ok,
    /// Over the limit, and the background task is still evicting.
    Running,
    /// Over the limit with nothing left to evict.
    Fail,
}

/// Eviction settings and state, kept on the server.
#[derive(Debug, Default)]
pub struct Evictor {
    /// `maxmemory` in bytes (0: no limit).
    pub maxmemory: u64,
    pub policy: Policy,
    /// `maxmemory-samples`.
    pub samples: usize,
    /// `maxmemory-eviction-tenacity`.
    pub tenacity: u32,
    /// `lazyfree-lazy-eviction`.
    pub lazy: bool,
    pool: Pool,
    /// Database the random policies try next.
    next_db: usize,
    /// Set while the background task is evicting.
    pub proc_running: bool,
    /// Wakes the background task.
    pub wake: Rc<tokio::sync::Notify>,
    /// Whether the settings were read once (start-up vs CONFIG SET).
    configured: bool,
}

/// Reads the eviction settings; called by `Server::apply_config`. Like
/// Redis's `CONFIG SET maxmemory`, a new limit takes effect at once:
/// keys are evicted right away if the server is over it.
pub fn configure(srv: &mut Server) {
    let c = &srv.config;
    let maxmemory = c.get_int(Directive::Maxmemory).max(0) as u64;
    let policy = Policy::parse(&c.get_str(Directive::MaxmemoryPolicy));
    let samples = c
        .get_int(Directive::MaxmemorySamples)
        .clamp(1, i64::from(i32::MAX)) as usize;
    let tenacity = c
        .get_int(Directive::MaxmemoryEvictionTenacity)
        .clamp(0, 100) as u32;
    let lazy = c.get_bool(Directive::LazyfreeLazyEviction);
    let ev = &mut srv.evictor;
    let changed = ev.maxmemory != maxmemory;
    let first = !ev.configured;
    ev.configured = true;
    ev.maxmemory = maxmemory;
    ev.policy = policy;
    ev.samples = samples;
    ev.tenacity = tenacity;
    ev.lazy = lazy;
    if first {
        if maxmemory > 0 && maxmemory < 1024 * 1024 {
            crate::log_warning!(
                "WARNING: You specified a maxmemory value that is less than 1MB (current value is {maxmemory} bytes). Are you sure this is what you really want?"
            );
        }
        return;
    }
    if changed && maxmemory > 0 {
        let used = used_for_eviction(srv);
        if maxmemory < used {
            crate::log_warning!(
                "WARNING: the new maxmemory value set via CONFIG SET ({maxmemory}) is smaller than the current memory usage ({used}). This will result in key eviction and/or the inability to accept new write commands depending on the maxmemory-policy."
            );
        }
        perform_evictions(srv);
    }
}

/// Memory left out of eviction decisions, as Redis leaves it out: what
/// replicas still have to be sent (their output buffers) and the AOF
/// buffer not yet handed to the writer. Counting it would make a master
/// with a slow replica evict keys to pay for replication, and the
/// deletions would grow the same buffers (a feedback loop). Redis counts
/// the shared replication buffer beyond the backlog; here each replica
/// holds its own queue next to the backlog, so that queue is the extra.
pub fn not_counted(srv: &Server) -> u64 {
    let replicas = crate::replication::master::memory(srv).replica_queues;
    let aof = if srv.aof.enabled {
        srv.aof.feed.borrow().buf.capacity()
    } else {
        0
    };
    (replicas + aof) as u64
}

/// Used memory as the eviction decision sees it.
pub fn used_for_eviction(srv: &Server) -> u64 {
    (crate::alloc::allocated() as u64).saturating_sub(not_counted(srv))
}

fn over_limit(srv: &Server) -> Option<u64> {
    to_free(
        crate::alloc::allocated() as u64,
        not_counted(srv),
        srv.evictor.maxmemory,
    )
}

/// Whether evictions may run now: not on a replica (which mirrors its
/// master, `replica-ignore-maxmemory`), nor while clients are paused (the
/// dataset must then stay still).
fn may_evict(srv: &Server) -> bool {
    if srv.is_replica() && srv.config.get_int(Directive::ReplicaIgnoreMaxmemory) != 0 {
        return false;
    }
    !srv.clients_paused()
}

/// The executor's check before a command: runs evictions and tells whether
/// a command that may grow memory (`denyoom`) must be refused.
pub fn out_of_memory(srv: &mut Server) -> bool {
    perform_evictions(srv) == Outcome::Fail
}

/// Picks the next victim, or None when no key is a candidate.
fn select_victim(srv: &mut Server) -> Option<(usize, Box<[u8]>)> {
    let Server {
        dbs,
        evictor: ev,
        rng,
        access_clock,
        now_ms,
        ..
    } = srv;
    let policy = ev.policy;
    let all = policy.all_keys();
    if policy.ranked() {
        let sampling = Sampling {
            policy,
            samples: ev.samples,
            clock: *access_clock,
            now_ms: *now_ms,
        };
        loop {
            let mut total = 0;
            for (i, db) in dbs.iter().enumerate() {
                total += populate(&mut ev.pool, db, i, &sampling, rng);
            }
            if total == 0 {
                return None;
            }
            while let Some(c) = ev.pool.pop_best() {
                let Some(db) = dbs.get(c.db) else { continue };
                // A key deleted (or made persistent) since it was pooled is
                // a ghost: try the next one.
                let live = db
                    .get(&c.key)
                    .is_some_and(|e| all || e.expire != keyspace::NO_EXPIRE);
                if live {
                    return Some((c.db, c.key));
                }
            }
        }
    }
    if policy == Policy::NoEviction {
        return None;
    }
    let n = dbs.len();
    for _ in 0..n {
        ev.next_db = (ev.next_db + 1) % n;
        let db = &dbs[ev.next_db];
        let len = if all { db.len() } else { db.volatile_len() };
        if len == 0 {
            continue;
        }
        let i = rng.gen_range(0..len);
        let pick = if all {
            db.key_entry_at(i)
        } else {
            db.volatile_at(i)
        };
        if let Some((k, _)) = pick {
            return Some((ev.next_db, k.into()));
        }
    }
    None
}

/// Deletes `key` of `db` as an eviction; returns the bytes it freed.
fn evict(srv: &mut Server, db: usize, key: &[u8]) -> i64 {
    let before = crate::alloc::allocated() as i64;
    let t = Instant::now();
    // With `lazyfree-lazy-eviction` a big value is freed on the lazy-free
    // thread: the bytes come back later, which the loop below allows for.
    if let Some(e) = srv.dbs[db].remove(key) {
        srv.free_value(e.value, srv.evictor.lazy);
    }
    let ms = t.elapsed().as_millis() as u64;
    let freed = before - crate::alloc::allocated() as i64;
    srv.latency_sample("eviction-del", ms);
    srv.stats.evicted_keys += 1;
    srv.signal_modified_key(db, key);
    srv.notify_keyspace_event(notify::class::EVICTED, "evicted", key, db);
    let verb: &[u8] = if srv.evictor.lazy { b"UNLINK" } else { b"DEL" };
    srv.journal.propagate(db, &[verb, key]);
    // Its own unit, like an active-expiry deletion: never wrapped with the
    // command that triggered it.
    srv.journal.end_command(false);
    freed
}

/// One eviction round: frees memory until under `maxmemory`, nothing is
/// left to evict, or the tenacity budget is spent (then the background
/// task carries on).
pub fn perform_evictions(srv: &mut Server) -> Outcome {
    if !may_evict(srv) {
        return Outcome::Ok;
    }
    let Some(goal) = over_limit(srv) else {
        return update_metrics(srv, Outcome::Ok);
    };
    if srv.evictor.policy == Policy::NoEviction {
        return update_metrics(srv, Outcome::Fail);
    }
    let limit_us = time_limit_us(srv.evictor.tenacity);
    let start = Instant::now();
    let mut freed: i64 = 0;
    let mut keys_freed: u64 = 0;
    let mut result = Outcome::Ok;
    while freed < goal as i64 {
        let Some((db, key)) = select_victim(srv) else {
            result = Outcome::Fail;
            break;
        };
        freed += evict(srv, db, &key);
        keys_freed += 1;
        if keys_freed.is_multiple_of(16) {
            // Freed bytes are measured around each deletion; with lazy
            // freeing the memory may go later, so look at the total too.
            if srv.evictor.lazy && over_limit(srv).is_none() {
                break;
            }
            if start.elapsed().as_micros() as u64 > limit_us {
                start_background(srv);
                break;
            }
        }
    }
    if result != Outcome::Fail && srv.evictor.proc_running {
        result = Outcome::Running;
    }
    let ms = start.elapsed().as_millis() as u64;
    srv.latency_sample("eviction-cycle", ms);
    update_metrics(srv, result)
}

/// Tracks for how long memory stayed over the limit
/// (`total_eviction_exceeded_time`, `current_eviction_exceeded_time`).
fn update_metrics(srv: &mut Server, result: Outcome) -> Outcome {
    let st = &mut srv.stats;
    match result {
        Outcome::Ok => {
            if let Some(since) = st.eviction_exceeded_since.take() {
                st.eviction_exceeded_us += since.elapsed().as_micros() as u64;
            }
        }
        Outcome::Running | Outcome::Fail => {
            if st.eviction_exceeded_since.is_none() {
                st.eviction_exceeded_since = Some(Instant::now());
            }
        }
    }
    result
}

/// `(total, current)` milliseconds spent over `maxmemory`, for INFO.
pub fn exceeded_time_ms(srv: &Server) -> (u64, u64) {
    let st = &srv.stats;
    let current = st
        .eviction_exceeded_since
        .map_or(0, |s| s.elapsed().as_micros() as u64);
    ((st.eviction_exceeded_us + current) / 1000, current / 1000)
}

fn start_background(srv: &mut Server) {
    if !srv.evictor.proc_running {
        srv.evictor.proc_running = true;
        srv.evictor.wake.notify_one();
    }
}

/// The background eviction task: once woken by a round that ran out of
/// time, it keeps running rounds between event-loop turns until memory is
/// within the limit or nothing is left to evict.
pub async fn eviction_task(srv: Rc<RefCell<Server>>) {
    let wake = srv.borrow().evictor.wake.clone();
    loop {
        wake.notified().await;
        loop {
            let done = {
                let mut s = srv.borrow_mut();
                s.refresh_time();
                let r = perform_evictions(&mut s);
                if r != Outcome::Running {
                    s.evictor.proc_running = false;
                }
                r != Outcome::Running
            };
            if done {
                break;
            }
            tokio::task::yield_now().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use keyspace::{StrValue, Value, NO_EXPIRE};
    use rand::rngs::SmallRng;
    use rand::SeedableRng;

    const NOW: i64 = 1_700_000_000_000;

    fn val() -> Value {
        Value::Str(StrValue::from_bytes(b"v"))
    }

    fn keys(pool: &Pool) -> Vec<String> {
        pool.entries()
            .iter()
            .map(|c| String::from_utf8_lossy(&c.key).into_owned())
            .collect()
    }

    #[test]
    fn policy_names_and_kinds() {
        assert_eq!(Policy::parse("allkeys-lru"), Policy::AllkeysLru);
        assert_eq!(Policy::parse("volatile-ttl"), Policy::VolatileTtl);
        assert_eq!(Policy::parse("noeviction"), Policy::NoEviction);
        assert!(Policy::AllkeysRandom.all_keys() && !Policy::AllkeysRandom.ranked());
        assert!(!Policy::VolatileLfu.all_keys() && Policy::VolatileLfu.ranked());
        assert!(!Policy::NoEviction.ranked());
    }

    #[test]
    fn pool_keeps_the_best_sixteen_in_order() {
        let mut p = Pool::default();
        for s in [5u64, 1, 9, 3] {
            p.offer(s, 0, format!("k{s}").as_bytes());
        }
        assert_eq!(keys(&p), ["k1", "k3", "k5", "k9"]);
        for s in 10..30u64 {
            p.offer(s, 0, format!("k{s}").as_bytes());
        }
        assert_eq!(p.len(), POOL_SIZE);
        // Full: the worst entries were pushed out at the bottom.
        assert_eq!(p.entries()[0].score, 14);
        // A candidate worse than every entry is dropped...
        p.offer(2, 0, b"low");
        assert!(!keys(&p).contains(&"low".to_string()));
        // ...a middling one displaces the worst.
        p.offer(20, 1, b"mid");
        assert_eq!(p.entries()[0].score, 15);
        assert!(keys(&p).contains(&"mid".to_string()));
        // Equal scores go below the existing entry.
        let best = p.pop_best().map(|c| c.score);
        assert_eq!(best, Some(29));
        p.offer(28, 0, b"tie");
        assert_eq!(keys(&p)[POOL_SIZE - 2], "tie");
        assert_eq!(keys(&p)[POOL_SIZE - 1], "k28");
    }

    #[test]
    fn scores_rank_idle_rare_and_soon_expiring_keys_first() {
        let clock = AccessClock::Lru;
        let mut old = Entry::new(val());
        old.lru = lru::clock_at(NOW - 30_000);
        let mut fresh = Entry::new(val());
        fresh.lru = lru::clock_at(NOW);
        let p = Policy::AllkeysLru;
        assert_eq!(score(p, &old, clock, NOW), 30_000);
        assert_eq!(score(p, &fresh, clock, NOW), 0);

        let lfu = AccessClock::Lfu {
            log_factor: 10,
            decay_minutes: 1,
        };
        let mut rare = Entry::new(val());
        rare.lru = lfu.new_stamp(NOW);
        let mut hot = rare.clone();
        hot.lru = (hot.lru & !0xFF) | 40;
        let p = Policy::AllkeysLfu;
        assert_eq!(score(p, &rare, lfu, NOW), 255 - 5);
        assert!(score(p, &rare, lfu, NOW) > score(p, &hot, lfu, NOW));
        // Decay: ten idle minutes take ten off the counter.
        assert_eq!(score(p, &hot, lfu, NOW + 600_000), 255 - 30);

        let mut soon = Entry::new(val());
        soon.expire = NOW + 1_000;
        let mut late = soon.clone();
        late.expire = NOW + 100_000;
        let p = Policy::VolatileTtl;
        assert!(score(p, &soon, clock, NOW) > score(p, &late, clock, NOW));
    }

    #[test]
    fn tenacity_budget_and_limit_arithmetic() {
        assert_eq!(time_limit_us(0), 0);
        assert_eq!(time_limit_us(10), 500);
        assert_eq!(time_limit_us(11), 575);
        assert!(time_limit_us(99) > 100_000_000);
        assert_eq!(time_limit_us(100), u64::MAX);
        assert_eq!(to_free(100, 0, 0), None);
        assert_eq!(to_free(100, 0, 100), None);
        assert_eq!(to_free(150, 0, 100), Some(50));
        assert_eq!(to_free(150, 60, 100), None);
    }

    #[test]
    fn populate_offers_every_candidate_of_a_small_db_and_samples_a_big_one() {
        let mut rng = SmallRng::seed_from_u64(3);
        let mut db = Db::new();
        for i in 0..3 {
            db.insert(format!("t{i}").as_bytes(), val(), NOW + 1000 * i, 0);
        }
        db.insert(b"persistent", val(), NO_EXPIRE, 0);
        let mut pool = Pool::default();
        let sampling = |policy| Sampling {
            policy,
            samples: 5,
            clock: AccessClock::Lru,
            now_ms: NOW,
        };
        let n = populate(&mut pool, &db, 0, &sampling(Policy::VolatileTtl), &mut rng);
        assert_eq!(n, 3);
        assert_eq!(keys(&pool), ["t2", "t1", "t0"]);

        let mut big = Db::new();
        for i in 0..1000 {
            // Key i was last touched i seconds ago.
            big.insert(
                format!("k{i}").as_bytes(),
                val(),
                NO_EXPIRE,
                lru::clock_at(NOW - 1000 * i),
            );
        }
        let mut pool = Pool::default();
        for _ in 0..50 {
            populate(&mut pool, &big, 2, &sampling(Policy::AllkeysLru), &mut rng);
        }
        // 250 samples out of 1000: the pool's best is among the oldest.
        let best = pool.pop_best().map(|c| (c.db, c.score / 1000));
        assert!(matches!(best, Some((2, s)) if s > 950), "{best:?}");
    }
}
