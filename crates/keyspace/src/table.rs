//! [`KeyTable`]: the map under each database — an insertion-ordered hash
//! map from key to value that stores entries in one dense vector and
//! removes by `swap_remove`, as `IndexMap` does (`db.rs` explains why SCAN
//! and the snapshot walk rely on exactly that), but laid out for a cache
//! with millions of small keys:
//!
//! - a slot is the key (a [`SmallBytes`], inline up to 22 bytes) and the
//!   value side by side: no heap block per key, and no stored hash (an
//!   `IndexMap` keeps a 64-bit hash per entry; we re-hash the key on the
//!   rare occasions the index needs it: growth and removal);
//! - the index is a `hashbrown` table of `u32` positions (5 bytes a
//!   bucket with its control byte, against 9 for `usize`);
//! - the slot vector grows by half its size rather than doubling, so at
//!   most a third of it is spare (untouched spare capacity costs no RSS,
//!   but it counts in `used_memory`, which `maxmemory` compares against).
//!
//! Positions are `u32`: a table holds at most 2^32 - 1 entries, which at
//! 64 bytes a keyspace slot is 256 GB of slots alone.
//!
//! A loader appends with [`KeyTable::push_unindexed`] and indexes the
//! appended entries at once with [`KeyTable::settle`], in the order of
//! their index buckets. Inserted one by one, in the file's order, each new
//! key costs two cache misses (its bucket's control bytes, then its `u32`
//! 64 MB away in a table of 10 M keys); in bucket order both walk forward
//! through memory. Until it settles, the table answers look-ups for the
//! appended keys by a scan of them, and every other change settles first.

use crate::small::SmallBytes;
use foldhash::fast::RandomState;
use hashbrown::HashTable;
use std::hash::BuildHasher;

#[derive(Clone)]
pub struct KeyTable<V> {
    slots: Vec<(SmallBytes, V)>,
    index: HashTable<u32>,
    hasher: RandomState,
}

impl<V> Default for KeyTable<V> {
    fn default() -> Self {
        KeyTable {
            slots: Vec::new(),
            index: HashTable::new(),
            hasher: RandomState::default(),
        }
    }
}

/// Map equality, whatever the order (as `IndexMap`'s).
impl<V: PartialEq> PartialEq for KeyTable<V> {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().all(|(k, v)| other.get(k) == Some(v))
    }
}

impl<V: std::fmt::Debug> std::fmt::Debug for KeyTable<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map()
            .entries(self.slots.iter().map(|(k, v)| (k, v)))
            .finish()
    }
}

/// The index's re-hash function: the hash of the key at a position (the
/// index stores no hashes; it asks when it grows or moves an entry).
fn rehash<'a, V>(
    slots: &'a [(SmallBytes, V)],
    hasher: &'a RandomState,
) -> impl Fn(&u32) -> u64 + 'a {
    move |&i| {
        slots
            .get(i as usize)
            .map_or(0, |(k, _)| hasher.hash_one(k.as_slice()))
    }
}

impl<V> KeyTable<V> {
    #[inline]
    fn hash(&self, key: &[u8]) -> u64 {
        self.hasher.hash_one(key)
    }

    /// An empty table with room for `n` entries.
    pub fn with_capacity(n: usize) -> Self {
        KeyTable {
            slots: Vec::with_capacity(n),
            index: HashTable::with_capacity(n),
            hasher: RandomState::default(),
        }
    }

    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Slots allocated (the index may hold a different number of buckets).
    pub fn capacity(&self) -> usize {
        self.slots.capacity()
    }

    /// Bytes of slots allocated and not holding an entry: room the next
    /// insertions take without allocating.
    pub fn spare_bytes(&self) -> usize {
        (self.slots.capacity() - self.slots.len()) * std::mem::size_of::<(SmallBytes, V)>()
    }

    /// Position of `key`.
    #[inline]
    pub fn get_index_of(&self, key: &[u8]) -> Option<usize> {
        let h = self.hash(key);
        let slots = &self.slots;
        let found = self
            .index
            .find(h, |&i| {
                slots
                    .get(i as usize)
                    .is_some_and(|(k, _)| k.as_slice() == key)
            })
            .map(|&i| i as usize);
        if found.is_none() && self.unsettled() > 0 {
            // Appended and not indexed yet: rare (a load in progress).
            let from = self.index.len();
            return slots
                .get(from..)
                .and_then(|tail| tail.iter().position(|(k, _)| k.as_slice() == key))
                .map(|j| from + j);
        }
        found
    }

    /// Entries appended by [`KeyTable::push_unindexed`] and not indexed yet.
    #[inline]
    pub fn unsettled(&self) -> usize {
        self.slots.len() - self.index.len()
    }

    /// Appends `key` without indexing it (see the module's note); a key
    /// already present is resolved when the table settles, as
    /// [`KeyTable::insert`] would have resolved it.
    pub fn push_unindexed(&mut self, key: &[u8], value: V) {
        if self.slots.len() == self.slots.capacity() {
            self.slots.reserve_exact((self.slots.len() / 2).max(16));
        }
        self.slots.push((SmallBytes::new(key), value));
    }

    /// Indexes the entries [`KeyTable::push_unindexed`] appended, in the
    /// order of their buckets. When a key turns out to be present twice,
    /// the appended entries are inserted again one by one in their order,
    /// so the first position keeps the last value, as with `insert`; the
    /// values so replaced are returned with their keys.
    pub fn settle(&mut self) -> Vec<(SmallBytes, V)> {
        let start = self.index.len();
        let n = self.slots.len() - start;
        if n == 0 {
            return Vec::new();
        }
        {
            let (slots, hasher) = (&self.slots, &self.hasher);
            self.index.reserve(n, rehash(slots, hasher));
        }
        // hashbrown places a hash at bucket `hash & (buckets - 1)`, and
        // has 7/8 of its buckets as capacity once past 8. A counting sort
        // on the top bits of that bucket number (at most 2,048 runs, each
        // a few kB of the index) orders the entries by where they go.
        let buckets = (self.index.capacity() / 7 * 8).max(1).next_power_of_two();
        let bits = buckets.trailing_zeros();
        let shift = bits - bits.min(11);
        let runs = 1usize << (bits - shift);
        let run_of = |h: u64| ((h as usize) & (buckets - 1)) >> shift;
        let mut starts = vec![0usize; runs + 1];
        for (k, _) in &self.slots[start..] {
            starts[run_of(self.hasher.hash_one(k.as_slice())) + 1] += 1;
        }
        for r in 0..runs {
            starts[r + 1] += starts[r];
        }
        let mut sorted = vec![(0u64, 0u32); n];
        for (j, (k, _)) in self.slots[start..].iter().enumerate() {
            let h = self.hasher.hash_one(k.as_slice());
            let at = &mut starts[run_of(h)];
            sorted[*at] = (h, (start + j) as u32);
            *at += 1;
        }
        let mut duplicate = false;
        for &(h, pos) in &sorted {
            let (slots, hasher) = (&self.slots, &self.hasher);
            let key = slots[pos as usize].0.as_slice();
            let present = self
                .index
                .find(h, |&i| {
                    slots
                        .get(i as usize)
                        .is_some_and(|(k, _)| k.as_slice() == key)
                })
                .is_some();
            if present {
                duplicate = true;
                break;
            }
            self.index.insert_unique(h, pos, rehash(slots, hasher));
        }
        if !duplicate {
            return Vec::new();
        }
        // Rare (a file that names a key twice): index the entries that
        // were there before, then insert the appended ones in order.
        drop(sorted);
        let appended = self.slots.split_off(start);
        self.index.clear();
        for pos in 0..start {
            let (slots, hasher) = (&self.slots, &self.hasher);
            let h = hasher.hash_one(slots[pos].0.as_slice());
            self.index
                .insert_unique(h, pos as u32, rehash(slots, hasher));
        }
        let mut replaced = Vec::new();
        for (k, v) in appended {
            if let Some(old) = self.insert(k.as_slice(), v) {
                replaced.push((k, old));
            }
        }
        replaced
    }

    /// Settles before a change; what a duplicate replaced is dropped (the
    /// loader settles explicitly and sees it).
    #[inline]
    fn settle_first(&mut self) {
        if self.unsettled() > 0 {
            drop(self.settle());
        }
    }

    #[inline]
    pub fn get(&self, key: &[u8]) -> Option<&V> {
        let i = self.get_index_of(key)?;
        self.slots.get(i).map(|(_, v)| v)
    }

    #[inline]
    pub fn get_mut(&mut self, key: &[u8]) -> Option<&mut V> {
        self.settle_first();
        let i = self.get_index_of(key)?;
        self.slots.get_mut(i).map(|(_, v)| v)
    }

    pub fn get_key_value(&self, key: &[u8]) -> Option<(&SmallBytes, &V)> {
        let i = self.get_index_of(key)?;
        self.get_index(i)
    }

    pub fn contains_key(&self, key: &[u8]) -> bool {
        self.get_index_of(key).is_some()
    }

    #[inline]
    pub fn get_index(&self, i: usize) -> Option<(&SmallBytes, &V)> {
        self.slots.get(i).map(|(k, v)| (k, v))
    }

    #[inline]
    pub fn get_index_mut(&mut self, i: usize) -> Option<(&SmallBytes, &mut V)> {
        self.slots.get_mut(i).map(|(k, v)| (&*k, v))
    }

    /// Inserts `key` or replaces its value; returns the previous value.
    /// A new key goes to the end (the position SCAN's argument needs).
    pub fn insert(&mut self, key: &[u8], value: V) -> Option<V> {
        self.settle_first();
        let h = self.hash(key);
        let slots = &mut self.slots;
        if let Some(&i) = self.index.find(h, |&i| {
            slots
                .get(i as usize)
                .is_some_and(|(k, _)| k.as_slice() == key)
        }) {
            if let Some((_, v)) = slots.get_mut(i as usize) {
                return Some(std::mem::replace(v, value));
            }
        }
        if slots.len() == slots.capacity() {
            slots.reserve_exact((slots.len() / 2).max(16));
        }
        let pos = slots.len() as u32;
        slots.push((SmallBytes::new(key), value));
        let (slots, hasher) = (&self.slots, &self.hasher);
        self.index.insert_unique(h, pos, rehash(slots, hasher));
        None
    }

    /// Removes the entry at position `i`; the last entry takes its place.
    pub fn swap_remove_index(&mut self, i: usize) -> Option<(SmallBytes, V)> {
        self.settle_first();
        let last = self.slots.len().checked_sub(1)?;
        let h = self.hash(self.slots.get(i)?.0.as_slice());
        if let Ok(e) = self.index.find_entry(h, |&x| x as usize == i) {
            e.remove();
        }
        if i != last {
            let hl = self.hash(self.slots[last].0.as_slice());
            if let Some(x) = self.index.find_mut(hl, |&x| x as usize == last) {
                *x = i as u32;
            }
        }
        Some(self.slots.swap_remove(i))
    }

    pub fn swap_remove(&mut self, key: &[u8]) -> Option<V> {
        self.settle_first();
        let i = self.get_index_of(key)?;
        self.swap_remove_index(i).map(|(_, v)| v)
    }

    /// Entries the index holds before it must grow.
    pub fn index_capacity(&self) -> usize {
        self.index.capacity()
    }

    /// Makes room for `n` entries in all (a loader's size hint). Returns
    /// false, having reserved at most the slots, when that much memory
    /// cannot be had.
    pub fn try_reserve_total(&mut self, n: usize) -> bool {
        let more = n.saturating_sub(self.slots.len());
        if more == 0 {
            return true;
        }
        if self.slots.try_reserve_exact(more).is_err() {
            return false;
        }
        let (slots, hasher) = (&self.slots, &self.hasher);
        self.index
            .try_reserve(n.saturating_sub(self.index.len()), rehash(slots, hasher))
            .is_ok()
    }

    /// Shrinks both the slots and the index to hold `min` entries.
    pub fn shrink_to(&mut self, min: usize) {
        self.settle_first();
        self.slots.shrink_to(min);
        let (slots, hasher) = (&self.slots, &self.hasher);
        self.index.shrink_to(min, rehash(slots, hasher));
    }

    pub fn iter(&self) -> impl Iterator<Item = (&SmallBytes, &V)> {
        self.slots.iter().map(|(k, v)| (k, v))
    }

    /// The entries in storage order, as a nameable iterator type.
    pub fn slots(&self) -> std::slice::Iter<'_, (SmallBytes, V)> {
        self.slots.iter()
    }

    /// Bytes allocated by the table itself (slots and index), not by what
    /// the values point to.
    pub fn table_bytes(&self) -> usize {
        self.slots.capacity() * std::mem::size_of::<(SmallBytes, V)>()
            + self.index.capacity() * (std::mem::size_of::<u32>() + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn behaves_like_a_map_under_random_inserts_and_removes() {
        let mut t: KeyTable<u64> = KeyTable::default();
        let mut model: HashMap<Vec<u8>, u64> = HashMap::new();
        let mut x: u64 = 7;
        for step in 0..20_000u64 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let key = format!("k{}{}", x >> 60, "p".repeat((x >> 56 & 31) as usize));
            match x >> 40 & 3 {
                0 | 1 => assert_eq!(
                    t.insert(key.as_bytes(), step),
                    model.insert(key.into_bytes(), step)
                ),
                2 => assert_eq!(t.swap_remove(key.as_bytes()), model.remove(key.as_bytes())),
                _ => {
                    if !t.is_empty() {
                        let i = (x as usize) % t.len();
                        let (k, v) = t.swap_remove_index(i).unwrap();
                        assert_eq!(model.remove(&*k), Some(v));
                    }
                }
            }
            assert_eq!(t.len(), model.len());
        }
        for (k, v) in &model {
            assert_eq!(t.get(k), Some(v));
        }
        for (i, (k, _)) in t.iter().enumerate() {
            assert_eq!(t.get_index_of(k), Some(i));
        }
        t.shrink_to(0);
        for (k, v) in &model {
            assert_eq!(t.get(k), Some(v));
        }
    }

    /// Appending then settling ends where inserting one by one ends: the
    /// same positions, the last value for a repeated key, the replaced
    /// values returned; look-ups find appended keys before the settle.
    #[test]
    fn settling_appended_keys_matches_inserting_them_one_by_one() {
        for (n, repeat_every) in [
            (0usize, 0usize),
            (1, 0),
            (5_000, 0),
            (20_000, 0),
            (3_000, 97),
        ] {
            let mut t: KeyTable<usize> = KeyTable::default();
            let mut model: KeyTable<usize> = KeyTable::default();
            for i in 0..100 {
                let k = format!("pre{i}");
                t.insert(k.as_bytes(), i);
                model.insert(k.as_bytes(), i);
            }
            let mut expect_replaced = Vec::new();
            for i in 0..n {
                let k = if repeat_every > 0 && i % repeat_every == 5 {
                    format!("pre{}", i % 100)
                } else if repeat_every > 0 && i % repeat_every == 7 && i > 10 {
                    format!("key:{}", i - 3)
                } else {
                    format!("key:{i}")
                };
                t.push_unindexed(k.as_bytes(), 1000 + i);
                if let Some(old) = model.insert(k.as_bytes(), 1000 + i) {
                    expect_replaced.push((k.into_bytes(), old));
                }
            }
            if n > 0 && repeat_every == 0 {
                assert_eq!(t.unsettled(), n);
                let k = format!("key:{}", n / 2);
                assert_eq!(t.get(k.as_bytes()), Some(&(1000 + n / 2)));
                assert_eq!(t.get_index_of(k.as_bytes()), Some(100 + n / 2));
                assert_eq!(t.get(b"pre3"), Some(&3));
                assert_eq!(t.get(b"absent"), None);
            }
            let mut replaced: Vec<(Vec<u8>, usize)> = t
                .settle()
                .into_iter()
                .map(|(k, v)| (k.to_vec(), v))
                .collect();
            assert_eq!(t.unsettled(), 0);
            replaced.sort();
            expect_replaced.sort();
            assert_eq!(replaced, expect_replaced, "n={n}");
            assert_eq!(t.len(), model.len());
            for (i, (k, v)) in model.iter().enumerate() {
                assert_eq!(
                    t.get_index(i).map(|(k, v)| (k.to_vec(), *v)),
                    Some((k.to_vec(), *v))
                );
                assert_eq!(t.get_index_of(k), Some(i));
            }
        }
    }

    /// A change while appended keys wait settles them first.
    #[test]
    fn a_change_settles_appended_keys_first() {
        let mut t: KeyTable<u8> = KeyTable::default();
        t.push_unindexed(b"a", 1);
        t.push_unindexed(b"b", 2);
        assert_eq!(t.swap_remove(b"a"), Some(1));
        assert_eq!(t.unsettled(), 0);
        assert_eq!(t.get_index_of(b"b"), Some(0));
        t.push_unindexed(b"c", 3);
        t.push_unindexed(b"c", 4);
        assert_eq!(t.insert(b"d", 5), None);
        assert_eq!(t.get(b"c"), Some(&4));
        assert_eq!(t.len(), 3);
    }

    #[test]
    fn new_keys_are_appended_and_removal_moves_the_last_into_the_hole() {
        let mut t: KeyTable<u8> = KeyTable::default();
        for (i, k) in [b"a", b"b", b"c", b"d"].iter().enumerate() {
            t.insert(*k, i as u8);
        }
        assert_eq!(t.get_index(3).map(|(k, _)| k.to_vec()), Some(b"d".to_vec()));
        t.swap_remove(b"b");
        assert_eq!(t.get_index(1).map(|(k, _)| k.to_vec()), Some(b"d".to_vec()));
        assert_eq!(t.get_index_of(b"d"), Some(1));
        // Replacing a value keeps the position.
        t.insert(b"a", 9);
        assert_eq!(t.get_index(0).map(|(_, v)| *v), Some(9));
    }
}
