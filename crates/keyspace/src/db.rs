//! One database: a map from key to [`Entry`], plus the set of keys that
//! carry a TTL (for the active expiry cycle, which samples only those).
//!
//! The map is a [`KeyTable`] (an `IndexMap` laid out for small keys, see
//! `table.rs`): entries sit in a dense vector, which gives
//! O(1) random keys (`RANDOMKEY`, expiry sampling) and a `SCAN` cursor that
//! keeps Redis's guarantee without Redis's reverse-binary bucket walk.
//!
//! Why the cursor is safe: removal is `swap_remove`, which moves the *last*
//! entry into the hole; insertion appends. `SCAN` walks indexes from the
//! end towards 0, and the cursor is the index it has not visited yet. An
//! entry not yet visited sits below the cursor; it can only move when it is
//! the last entry, and then it moves further down, still unvisited. So every
//! key present for the whole scan is returned; a key moved from the visited
//! tail into the unvisited part may be returned twice, which Redis allows
//! too.

use crate::slots::SlotIndex;
use crate::small::SmallBytes;
use crate::table::KeyTable;
use crate::value::Value;
use foldhash::fast::RandomState;
use indexmap::IndexSet;
use rand::Rng;
use std::cell::RefCell;
use std::rc::Rc;

/// `expire` value of an entry without a TTL.
pub const NO_EXPIRE: i64 = -1;

/// A value with its metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub value: Value,
    /// Absolute expiry in Unix milliseconds, or [`NO_EXPIRE`].
    pub expire: i64,
    /// Last access time in seconds (LRU clock), for `OBJECT IDLETIME`.
    pub lru: u32,
    /// Snapshot bookkeeping: the entry was already written to the running
    /// snapshot when this equals the database's current parity (see
    /// "Fork-less snapshots" below). Lives in what would be padding.
    mark: bool,
}

impl Entry {
    pub fn new(value: Value) -> Entry {
        Entry {
            value,
            expire: NO_EXPIRE,
            lru: 0,
            mark: false,
        }
    }

    /// Whether the entry is logically expired at `now_ms`. Like Redis, a key
    /// is expired once the clock is strictly past its expiry time.
    #[inline]
    pub fn is_expired(&self, now_ms: i64) -> bool {
        self.expire != NO_EXPIRE && now_ms > self.expire
    }
}

type Map = KeyTable<Entry>;

/// Receives the entries of a point-in-time snapshot (an RDB writer, a
/// full-sync stream, an AOF rewrite). Called with each entry as it was when
/// the snapshot began, exactly once.
pub trait SnapshotSink {
    /// `db` is the index the database had when the snapshot began (it
    /// travels with the database through `SWAPDB`). `early` is true when
    /// a write is about to change the entry before the walk reached it.
    fn entry(&mut self, db: usize, key: &[u8], entry: &Entry, early: bool);
}

/// A sink shared by all databases of one snapshot.
pub type SharedSink = Rc<RefCell<dyn SnapshotSink>>;

// Fork-less snapshots.
//
// Redis forks and lets the kernel copy pages on write. We walk each
// database instead, between commands, from the last index down (the same
// order that makes SCAN safe, see the module comment: an entry not yet
// visited can only move further down, so none is missed). Each entry has a
// `mark`; a snapshot flips the database's `parity`, which makes every
// entry unvisited at once. Before anything changes or removes an unvisited
// entry, the entry is handed to the sink first ("serialize early" rather
// than copy): the walk later skips it. Entries created during the walk are
// born visited, so they are not part of the snapshot. Total work is one
// serialization per entry, whatever the order; extra memory is only what
// the sink buffers.
struct Snap {
    db: usize,
    cursor: usize,
    sink: SharedSink,
}

impl std::fmt::Debug for Snap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Snap {{ db: {}, cursor: {} }}", self.db, self.cursor)
    }
}

/// The contents of a database taken out of it ([`Db::take_entries`]):
/// plain data that can be dropped on another thread.
#[derive(Debug, Default)]
pub struct Detached {
    map: Map,
    /// Held only to be dropped with the map.
    _volatile: IndexSet<SmallBytes, RandomState>,
}

impl Detached {
    /// Keys it holds.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

#[derive(Debug, Default)]
pub struct Db {
    map: Map,
    volatile: IndexSet<SmallBytes, RandomState>,
    /// Average TTL of keys sampled by the active expiry cycle, for `INFO
    /// keyspace` (`avg_ttl`), as a running estimate like Redis's.
    pub avg_ttl: i64,
    parity: bool,
    snap: Option<Snap>,
    /// Keys by hash slot, kept only in cluster mode
    /// ([`Db::enable_slot_index`]).
    slots: Option<Box<SlotIndex>>,
}

impl Db {
    pub fn new() -> Db {
        Db::default()
    }

    /// Starts keeping the per-slot key index (cluster mode), indexing the
    /// keys already present.
    pub fn enable_slot_index(&mut self) {
        let mut ix = SlotIndex::default();
        for (k, _) in self.map.iter() {
            ix.add(k);
        }
        self.slots = Some(Box::new(ix));
    }

    /// The per-slot key index, when cluster mode keeps one.
    pub fn slot_index(&self) -> Option<&SlotIndex> {
        self.slots.as_deref()
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Number of keys with a TTL.
    pub fn volatile_len(&self) -> usize {
        self.volatile.len()
    }

    #[inline]
    pub fn get(&self, key: &[u8]) -> Option<&Entry> {
        self.map.get(key)
    }

    #[inline]
    pub fn get_mut(&mut self, key: &[u8]) -> Option<&mut Entry> {
        if self.snap.is_some() {
            let i = self.map.get_index_of(key)?;
            self.preserve_at(i);
        }
        self.map.get_mut(key)
    }

    /// Position of `key` in the map, for a look-up that may then read,
    /// modify or remove the entry without hashing the key again.
    #[inline]
    pub fn find(&self, key: &[u8]) -> Option<usize> {
        self.map.get_index_of(key)
    }

    #[inline]
    pub fn at(&self, i: usize) -> Option<&Entry> {
        self.map.get_index(i).map(|(_, e)| e)
    }

    #[inline]
    pub fn at_mut(&mut self, i: usize) -> Option<&mut Entry> {
        self.preserve_at(i);
        self.map.get_index_mut(i).map(|(_, e)| e)
    }

    /// Removes the entry at position `i` (as found by [`Db::find`]).
    pub fn remove_at(&mut self, i: usize) -> Option<(SmallBytes, Entry)> {
        self.preserve_at(i);
        let (k, e) = self.map.swap_remove_index(i)?;
        if e.expire != NO_EXPIRE {
            self.volatile.swap_remove(&k);
        }
        if let Some(ix) = &mut self.slots {
            ix.remove(&k);
        }
        Some((k, e))
    }

    pub fn contains(&self, key: &[u8]) -> bool {
        self.map.contains_key(key)
    }

    /// Whether `key` exists and is logically expired at `now_ms`.
    pub fn is_expired(&self, key: &[u8], now_ms: i64) -> bool {
        self.map.get(key).is_some_and(|e| e.is_expired(now_ms))
    }

    /// Inserts or replaces `key`. `expire` is the new absolute expiry (or
    /// [`NO_EXPIRE`]). Returns the previous entry.
    pub fn insert(&mut self, key: &[u8], value: Value, expire: i64, lru: u32) -> Option<Entry> {
        let entry = Entry {
            value,
            expire,
            lru,
            mark: self.parity,
        };
        if self.snap.is_some() {
            if let Some(i) = self.map.get_index_of(key) {
                self.preserve_at(i);
            }
        }
        let old = self.map.insert(key, entry);
        if old.is_none() {
            if let Some(ix) = &mut self.slots {
                ix.add(key);
            }
        }
        let was_volatile = old.as_ref().is_some_and(|e| e.expire != NO_EXPIRE);
        if expire != NO_EXPIRE && !was_volatile {
            self.volatile.insert(key.into());
        } else if expire == NO_EXPIRE && was_volatile {
            self.volatile.swap_remove(key);
        }
        old
    }

    /// [`Db::insert`] for a loader: the key is appended and indexed with
    /// the rest of the load at [`Db::settle_load`] (see `table.rs`). Keys
    /// the walk of a snapshot or the cluster's slot index must see at once
    /// take the plain path.
    pub fn load_push(&mut self, key: &[u8], value: Value, expire: i64, lru: u32) {
        if self.snap.is_some() || self.slots.is_some() {
            self.insert(key, value, expire, lru);
            return;
        }
        self.map.push_unindexed(
            key,
            Entry {
                value,
                expire,
                lru,
                mark: self.parity,
            },
        );
        if expire != NO_EXPIRE {
            self.volatile.insert(key.into());
        }
    }

    /// Indexes what [`Db::load_push`] appended. A key the load named twice
    /// keeps its last value; it stays volatile only if that value has a TTL.
    pub fn settle_load(&mut self) {
        for (key, _old) in self.map.settle() {
            let volatile = self.map.get(&key).is_some_and(|e| e.expire != NO_EXPIRE);
            if !volatile {
                self.volatile.swap_remove(key.as_slice());
            }
        }
    }

    /// Inserts or replaces `key` with a whole entry (value, TTL and access
    /// time travel together on `RENAME`, `MOVE`, `SWAPDB`).
    pub fn insert_entry(&mut self, key: &[u8], entry: Entry) -> Option<Entry> {
        self.insert(key, entry.value, entry.expire, entry.lru)
    }

    /// Replaces the value of `key` keeping its TTL, or inserts it without
    /// one (the `KEEPTTL` rule).
    pub fn set_keep_ttl(&mut self, key: &[u8], value: Value, lru: u32) -> Option<Entry> {
        let expire = self.map.get(key).map_or(NO_EXPIRE, |e| e.expire);
        self.insert(key, value, expire, lru)
    }

    pub fn remove(&mut self, key: &[u8]) -> Option<Entry> {
        if self.snap.is_some() {
            let i = self.map.get_index_of(key)?;
            self.preserve_at(i);
        }
        let e = self.map.swap_remove(key)?;
        if e.expire != NO_EXPIRE {
            self.volatile.swap_remove(key);
        }
        if let Some(ix) = &mut self.slots {
            ix.remove(key);
        }
        Some(e)
    }

    /// Sets the absolute expiry of an existing key. Returns false when the
    /// key does not exist.
    pub fn set_expire(&mut self, key: &[u8], at_ms: i64) -> bool {
        let Some(i) = self.map.get_index_of(key) else {
            return false;
        };
        self.preserve_at(i);
        let Some((_, e)) = self.map.get_index_mut(i) else {
            return false;
        };
        if e.expire == NO_EXPIRE {
            self.volatile.insert(key.into());
        }
        e.expire = at_ms;
        true
    }

    /// Removes the TTL of `key`. Returns whether it had one.
    pub fn persist(&mut self, key: &[u8]) -> bool {
        if let Some(i) = self.map.get_index_of(key) {
            self.preserve_at(i);
        }
        match self.map.get_mut(key) {
            Some(e) if e.expire != NO_EXPIRE => {
                e.expire = NO_EXPIRE;
                self.volatile.swap_remove(key);
                true
            }
            _ => false,
        }
    }

    /// Makes room for `keys` keys, `volatile` of them with a TTL: the
    /// `RESIZEDB` hint of an RDB file being loaded, which Redis uses the
    /// same way (`dictTryExpand`). A hint too large to honour is ignored.
    pub fn reserve(&mut self, keys: usize, volatile: usize) {
        // No more than the file could describe in a sane size: a corrupt
        // hint must not take the memory of the machine.
        const MAX_HINT: usize = 1 << 28;
        let _ = self.map.try_reserve_total(keys.min(MAX_HINT));
        let more = volatile.min(MAX_HINT).saturating_sub(self.volatile.len());
        let _ = self.volatile.try_reserve(more);
    }

    /// Removes everything.
    pub fn clear(&mut self) {
        self.snapshot_flush();
        self.map = Map::default();
        self.volatile = IndexSet::default();
        self.avg_ttl = 0;
        if let Some(ix) = &mut self.slots {
            ix.clear();
        }
    }

    /// Bytes the tables hold allocated for entries they do not have (see
    /// `KeyTable::spare_bytes`; the TTL index too). A deleted key's slot
    /// stays allocated for the next one, so this is what a deletion frees
    /// as far as `used_memory` is concerned, as Redis frees the entry.
    pub fn spare_bytes(&self) -> usize {
        let volatile_entry = std::mem::size_of::<SmallBytes>() + std::mem::size_of::<u64>();
        self.map.spare_bytes() + (self.volatile.capacity() - self.volatile.len()) * volatile_entry
    }

    /// Gives back the memory of a mostly empty map: one under a tenth full
    /// is shrunk to fit, as Redis resizes its dicts from the cron. Without
    /// it, a keyspace emptied by eviction would keep its peak-size tables
    /// and could stay over `maxmemory` for good. Returns whether it shrank.
    pub fn shrink_if_sparse(&mut self) -> bool {
        let mut shrunk = false;
        if self.map.capacity() > 64 && self.map.len() * 10 < self.map.capacity() {
            self.map.shrink_to(self.map.len());
            shrunk = true;
        }
        if self.volatile.capacity() > 64 && self.volatile.len() * 10 < self.volatile.capacity() {
            self.volatile.shrink_to(self.volatile.len());
            shrunk = true;
        }
        shrunk
    }

    /// Takes the contents out, leaving the database empty (for
    /// `FLUSHDB ASYNC`, whose memory is freed on another thread). A running
    /// snapshot gets the entries it has not written yet first.
    pub fn take_entries(&mut self) -> Detached {
        self.snapshot_flush();
        self.avg_ttl = 0;
        if let Some(ix) = &mut self.slots {
            ix.clear();
        }
        Detached {
            map: std::mem::take(&mut self.map),
            _volatile: std::mem::take(&mut self.volatile),
        }
    }

    /// Hands entry `i` to the running snapshot if it has not been written
    /// yet. Called before anything changes or removes it.
    #[inline]
    fn preserve_at(&mut self, i: usize) {
        let Some(snap) = &self.snap else {
            return;
        };
        let parity = self.parity;
        if let Some((k, e)) = self.map.get_index_mut(i) {
            if e.mark != parity {
                snap.sink.borrow_mut().entry(snap.db, k, e, true);
                e.mark = parity;
            }
        }
    }

    /// Starts a point-in-time snapshot of this database (whose index is
    /// `db`) into `sink`. Any snapshot still running is finished first.
    pub fn snapshot_begin(&mut self, db: usize, sink: SharedSink) {
        self.snapshot_flush();
        self.parity = !self.parity;
        self.snap = Some(Snap {
            db,
            cursor: self.map.len(),
            sink,
        });
    }

    /// Whether a snapshot of this database is still being written.
    pub fn snapshot_active(&self) -> bool {
        self.snap.is_some()
    }

    /// Advances the snapshot walk by up to `max` slots. Returns true (and
    /// ends the snapshot) when every entry has been written.
    pub fn snapshot_step(&mut self, max: usize) -> bool {
        let Some(snap) = &mut self.snap else {
            return true;
        };
        let mut n = 0;
        snap.cursor = snap.cursor.min(self.map.len());
        while snap.cursor > 0 && n < max {
            snap.cursor -= 1;
            // Every slot visited counts, written or already handed over
            // by a write before the walk got there: a paced walk
            // (`rdb-key-save-delay`) then takes as long per key as a
            // forked child would, however many keys writes preserved.
            n += 1;
            if let Some((k, e)) = self.map.get_index_mut(snap.cursor) {
                if e.mark != self.parity {
                    snap.sink.borrow_mut().entry(snap.db, k, e, false);
                    e.mark = self.parity;
                }
            }
        }
        if snap.cursor == 0 {
            self.snap = None;
            return true;
        }
        false
    }

    /// Writes everything the snapshot still lacks and ends it.
    pub fn snapshot_flush(&mut self) {
        while !self.snapshot_step(usize::MAX) {}
    }

    /// Abandons a running snapshot (the consumer went away).
    ///
    /// The entries the walk did not reach still carry the previous parity,
    /// and the next snapshot flips the parity back to it: they would look
    /// visited and be left out of it. So they are marked visited now, and
    /// every entry agrees again, as after a complete walk.
    pub fn snapshot_abort(&mut self) {
        let Some(snap) = self.snap.take() else {
            return;
        };
        let parity = self.parity;
        for i in 0..snap.cursor.min(self.map.len()) {
            if let Some((_, e)) = self.map.get_index_mut(i) {
                e.mark = parity;
            }
        }
    }

    /// A uniformly random key (with the entry), or None when empty.
    pub fn random_entry<R: Rng>(&self, rng: &mut R) -> Option<(&[u8], &Entry)> {
        if self.map.is_empty() {
            return None;
        }
        let i = rng.gen_range(0..self.map.len());
        self.map.get_index(i).map(|(k, e)| (&**k, e))
    }

    /// The key and entry at position `i` of the map (`0..len()`), for
    /// sampling by index (eviction).
    pub fn key_entry_at(&self, i: usize) -> Option<(&[u8], &Entry)> {
        self.map.get_index(i).map(|(k, e)| (&**k, e))
    }

    /// The key at position `i` of the set of keys with a TTL
    /// (`0..volatile_len()`) and its entry: the candidates of the
    /// `volatile-*` eviction policies.
    pub fn volatile_at(&self, i: usize) -> Option<(&[u8], &Entry)> {
        let key = self.volatile.get_index(i)?;
        self.map.get_key_value(key).map(|(k, e)| (&**k, e))
    }

    /// All entries, in storage order.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &Entry)> {
        self.map.iter().map(|(k, e)| (&**k, e))
    }

    /// One `SCAN` step: visits up to `count` entries below `cursor` and
    /// calls `f` for each; returns the next cursor (0 when done).
    /// See the module comment for why no key present throughout is missed.
    /// Cursor 0 starts a new scan; a cursor past the end is clamped.
    pub fn scan(&self, cursor: u64, count: usize, mut f: impl FnMut(&[u8], &Entry)) -> u64 {
        let len = self.map.len() as u64;
        let mut next = if cursor == 0 { len } else { cursor.min(len) };
        let mut visited = 0;
        while next > 0 && visited < count.max(1) {
            next -= 1;
            if let Some((k, e)) = self.map.get_index(next as usize) {
                f(k, e);
            }
            visited += 1;
        }
        next
    }

    /// Samples up to `samples` keys with a TTL and removes the expired ones,
    /// calling `on_expired` with each removed key and its entry (the
    /// executor propagates a `DEL` and frees the value, maybe lazily).
    /// Returns `(sampled, expired)`.
    pub fn expire_sample<R: Rng>(
        &mut self,
        now_ms: i64,
        samples: usize,
        rng: &mut R,
        mut on_expired: impl FnMut(&[u8], Entry),
    ) -> (usize, usize) {
        let mut sampled = 0;
        let mut expired = 0;
        let mut ttl_sum: i64 = 0;
        let mut ttl_samples: i64 = 0;
        for _ in 0..samples {
            if self.volatile.is_empty() {
                break;
            }
            let i = rng.gen_range(0..self.volatile.len());
            let Some(key) = self.volatile.get_index(i) else {
                break;
            };
            sampled += 1;
            let exp = self.map.get(key).map_or(NO_EXPIRE, |e| e.expire);
            if exp != NO_EXPIRE && now_ms > exp {
                let key = key.clone();
                if let Some(e) = self.remove(&key) {
                    on_expired(&key, e);
                }
                expired += 1;
            } else if exp != NO_EXPIRE {
                ttl_sum += exp - now_ms;
                ttl_samples += 1;
            }
        }
        if ttl_samples > 0 {
            let avg = ttl_sum / ttl_samples;
            // Running average weighted like Redis's: 2% of the new sample.
            self.avg_ttl = if self.avg_ttl == 0 {
                avg
            } else {
                (self.avg_ttl / 50) * 49 + avg / 50
            };
        }
        (sampled, expired)
    }
}

/// The adaptive active-expiry cycle's decision rule, kept free of clocks and
/// sockets so it can be tested alone.
///
/// Like Redis's `activeExpireCycle`, each loop samples a fixed number of
/// volatile keys per database; it keeps looping on a database while more
/// than `acceptable_stale_percent` of the sample was expired, and stops
/// when its time budget (a fraction of the `hz` period) is spent.
#[derive(Debug, Clone, Copy)]
pub struct ExpireCycle {
    pub keys_per_loop: usize,
    pub acceptable_stale_percent: usize,
}

impl Default for ExpireCycle {
    fn default() -> Self {
        ExpireCycle {
            keys_per_loop: 20,
            acceptable_stale_percent: 10,
        }
    }
}

impl ExpireCycle {
    /// Whether another loop on the same database is worth it.
    pub fn repeat(&self, sampled: usize, expired: usize) -> bool {
        sampled > 0 && expired * 100 > sampled * self.acceptable_stale_percent
    }

    /// Time budget in microseconds for one slow cycle at `hz`: 25% of the
    /// period, as Redis's ACTIVE_EXPIRE_CYCLE_SLOW_TIME_PERC.
    pub fn budget_us(hz: u32) -> u64 {
        1_000_000 * 25 / 100 / u64::from(hz.max(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::StrValue;
    use rand::rngs::SmallRng;
    use rand::SeedableRng;
    use std::collections::HashSet;

    fn s(v: &str) -> Value {
        Value::Str(StrValue::from_bytes(v.as_bytes()))
    }

    #[test]
    fn scan_returns_every_key_present_throughout_despite_deletes_and_inserts() {
        let mut db = Db::new();
        for i in 0..1000 {
            db.insert(format!("k{i}").as_bytes(), s("v"), NO_EXPIRE, 0);
        }
        let mut seen = HashSet::new();
        let mut cursor = 0;
        let mut round = 0;
        loop {
            cursor = db.scan(cursor, 10, |k, _| {
                seen.insert(k.to_vec());
            });
            // Mutate between steps: delete some keys, add new ones.
            round += 1;
            db.remove(format!("k{}", round * 7 % 1000).as_bytes());
            db.insert(format!("new{round}").as_bytes(), s("v"), NO_EXPIRE, 0);
            if cursor == 0 {
                break;
            }
        }
        for i in 0..1000 {
            let k = format!("k{i}");
            if db.contains(k.as_bytes()) {
                assert!(seen.contains(k.as_bytes()), "missed {k}");
            }
        }
    }

    struct Count(usize);
    impl SnapshotSink for Count {
        fn entry(&mut self, _: usize, _: &[u8], _: &Entry, _: bool) {
            self.0 += 1;
        }
    }

    #[test]
    fn snapshot_after_an_abandoned_one_has_every_key() {
        let mut db = Db::new();
        for i in 0..1000 {
            db.insert(format!("k{i}").as_bytes(), s("v"), NO_EXPIRE, 0);
        }
        let first = Rc::new(RefCell::new(Count(0)));
        db.snapshot_begin(0, first.clone());
        assert!(!db.snapshot_step(300));
        db.snapshot_abort();
        assert_eq!(first.borrow().0, 300);
        let second = Rc::new(RefCell::new(Count(0)));
        db.snapshot_begin(0, second.clone());
        db.snapshot_flush();
        assert_eq!(second.borrow().0, 1000);
    }

    /// A loaded key named twice keeps its last value, and is volatile
    /// only when that value has a TTL.
    #[test]
    fn settled_load_keeps_the_last_value_and_its_ttl() {
        let mut db = Db::new();
        db.load_push(b"a", s("1"), 5_000, 0);
        db.load_push(b"b", s("2"), NO_EXPIRE, 0);
        db.load_push(b"c", s("3"), 7_000, 0);
        db.load_push(b"a", s("4"), NO_EXPIRE, 0);
        db.load_push(b"b", s("5"), 9_000, 0);
        db.settle_load();
        assert_eq!(db.len(), 3);
        assert_eq!(
            db.get(b"a").map(|e| (e.value.clone(), e.expire)),
            Some((s("4"), NO_EXPIRE))
        );
        assert_eq!(
            db.get(b"b").map(|e| (e.value.clone(), e.expire)),
            Some((s("5"), 9_000))
        );
        assert_eq!(db.volatile_len(), 2);
        let volatile: HashSet<Vec<u8>> = (0..db.volatile_len())
            .filter_map(|i| db.volatile_at(i).map(|(k, _)| k.to_vec()))
            .collect();
        assert_eq!(volatile, HashSet::from([b"b".to_vec(), b"c".to_vec()]));
    }

    #[test]
    fn volatile_set_tracks_ttls() {
        let mut db = Db::new();
        db.insert(b"a", s("1"), 100, 0);
        db.insert(b"b", s("1"), NO_EXPIRE, 0);
        assert_eq!(db.volatile_len(), 1);
        db.set_expire(b"b", 50);
        assert_eq!(db.volatile_len(), 2);
        db.persist(b"a");
        assert_eq!(db.volatile_len(), 1);
        db.set_keep_ttl(b"b", s("2"), 0);
        assert_eq!(db.get(b"b").map(|e| e.expire), Some(50));
        db.insert(b"b", s("3"), NO_EXPIRE, 0);
        assert_eq!(db.volatile_len(), 0);
    }

    #[test]
    fn expire_sample_removes_only_expired() {
        let mut db = Db::new();
        let mut rng = SmallRng::seed_from_u64(1);
        for i in 0..100 {
            let exp = if i % 2 == 0 { 10 } else { 1_000_000 };
            db.insert(format!("k{i}").as_bytes(), s("v"), exp, 0);
        }
        let mut removed = 0;
        for _ in 0..200 {
            db.expire_sample(100, 20, &mut rng, |_, _| removed += 1);
        }
        assert_eq!(removed, 50);
        assert_eq!(db.len(), 50);
        let c = ExpireCycle::default();
        assert!(c.repeat(20, 3));
        assert!(!c.repeat(20, 2));
    }

    #[test]
    fn a_size_hint_sizes_the_table_once() {
        let mut db = Db::new();
        db.reserve(10_000, 0);
        let cap = db.map.capacity();
        let buckets = db.map.index_capacity();
        assert!(cap >= 10_000);
        for i in 0..10_000 {
            db.insert(format!("k{i}").as_bytes(), s("v"), NO_EXPIRE, 0);
        }
        assert_eq!(db.map.capacity(), cap);
        assert_eq!(db.map.index_capacity(), buckets);
        // An absurd hint is not honoured.
        db.reserve(usize::MAX, usize::MAX);
        assert_eq!(db.len(), 10_000);
    }

    #[test]
    fn a_mostly_empty_map_gives_its_memory_back() {
        let mut db = Db::new();
        for i in 0..10_000 {
            db.insert(format!("k{i}").as_bytes(), s("v"), 1_000 + i, 0);
        }
        assert!(!db.shrink_if_sparse());
        for i in 0..9_950 {
            db.remove(format!("k{i}").as_bytes());
        }
        assert!(db.shrink_if_sparse());
        assert!(db.map.capacity() < 1_000);
        assert!(db.volatile.capacity() < 1_000);
        assert_eq!(db.len(), 50);
        assert!(!db.shrink_if_sparse());
    }
}
