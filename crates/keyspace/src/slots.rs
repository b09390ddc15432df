//! Redis Cluster's hash slots: which of the 16384 slots a key belongs to,
//! and the per-slot key index a database keeps in cluster mode.
//!
//! A key's slot is CRC16 (the XMODEM variant: polynomial 0x1021, initial
//! value 0) of the key modulo 16384. When the key holds a `{...}` with at
//! least one byte between the first `{` and the next `}`, only those bytes
//! are hashed ("hash tags"), so `{user1}.name` and `{user1}.mail` share a
//! slot. The index answers `CLUSTER COUNTKEYSINSLOT` in O(1) and `CLUSTER
//! GETKEYSINSLOT` in the size of its answer; [`crate::Db`] updates it on
//! every insert and removal, so it is exact by construction.

use std::collections::{BTreeMap, HashMap};

/// Number of hash slots.
pub const SLOTS: usize = 16384;

/// CRC16-CCITT (XMODEM) table, built at compile time.
const CRC16_TABLE: [u16; 256] = {
    let mut table = [0u16; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = (i as u16) << 8;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
            bit += 1;
        }
        table[i] = crc;
        i += 1;
    }
    table
};

/// CRC16 as Redis Cluster uses it (XMODEM).
pub fn crc16(bytes: &[u8]) -> u16 {
    bytes.iter().fold(0u16, |crc, &b| {
        (crc << 8) ^ CRC16_TABLE[(((crc >> 8) as u8) ^ b) as usize]
    })
}

/// The hash slot of `key`, honouring hash tags.
pub fn key_hash_slot(key: &[u8]) -> u16 {
    let hashed = match key.iter().position(|&b| b == b'{') {
        Some(open) => match key[open + 1..].iter().position(|&b| b == b'}') {
            // `{}` (nothing between): the whole key is hashed.
            Some(len) if len > 0 => &key[open + 1..open + 1 + len],
            _ => key,
        },
        None => key,
    };
    crc16(hashed) & (SLOTS as u16 - 1)
}

/// Keys of one database grouped by slot. Within a slot, keys are listed
/// newest first, as Redis's per-slot lists (new keys go to the head), so
/// `GETKEYSINSLOT` answers as Redis does.
#[derive(Debug, Clone)]
pub struct SlotIndex {
    counts: Vec<u32>,
    /// (slot, !insertion sequence) → key: a slot's keys, newest first.
    by_slot: BTreeMap<(u16, u64), Box<[u8]>>,
    /// key → its insertion sequence.
    seq_of: HashMap<Box<[u8]>, u64>,
    next_seq: u64,
}

impl Default for SlotIndex {
    fn default() -> Self {
        SlotIndex {
            counts: vec![0; SLOTS],
            by_slot: BTreeMap::new(),
            seq_of: HashMap::new(),
            next_seq: 0,
        }
    }
}

impl SlotIndex {
    pub fn add(&mut self, key: &[u8]) {
        if self.seq_of.contains_key(key) {
            return;
        }
        let slot = key_hash_slot(key);
        let seq = self.next_seq;
        self.next_seq += 1;
        self.seq_of.insert(key.into(), seq);
        self.by_slot.insert((slot, !seq), key.into());
        self.counts[slot as usize] += 1;
    }

    pub fn remove(&mut self, key: &[u8]) {
        if let Some(seq) = self.seq_of.remove(key) {
            let slot = key_hash_slot(key);
            self.by_slot.remove(&(slot, !seq));
            self.counts[slot as usize] -= 1;
        }
    }

    pub fn clear(&mut self) {
        self.counts.iter_mut().for_each(|c| *c = 0);
        self.by_slot.clear();
        self.seq_of.clear();
    }

    /// Keys in `slot`.
    pub fn count(&self, slot: u16) -> u32 {
        self.counts.get(slot as usize).copied().unwrap_or(0)
    }

    /// Up to `max` keys of `slot`, newest first.
    pub fn keys_in(&self, slot: u16, max: usize) -> impl Iterator<Item = &[u8]> {
        self.by_slot
            .range((slot, 0)..=(slot, u64::MAX))
            .take(max)
            .map(|(_, k)| &k[..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_match_redis() {
        // Values from Redis 7.0.15's CLUSTER KEYSLOT.
        assert_eq!(crc16(b"123456789"), 0x31c3);
        assert_eq!(key_hash_slot(b"foo"), 12182);
        assert_eq!(key_hash_slot(b"bar"), 5061);
        assert_eq!(key_hash_slot(b"{user1}.name"), key_hash_slot(b"user1"));
        assert_eq!(key_hash_slot(b"{}foo"), key_hash_slot(b"{}foo"));
        assert_ne!(key_hash_slot(b"{}foo"), key_hash_slot(b"foo"));
        assert_eq!(key_hash_slot(b"foo{}{bar}"), key_hash_slot(b"foo{}{bar}"));
        assert_eq!(key_hash_slot(b"foo{{bar}}zap"), key_hash_slot(b"{bar"));
        assert_eq!(key_hash_slot(b"foo{bar}{zap}"), key_hash_slot(b"bar"));
        assert_eq!(key_hash_slot(b""), 0);
    }

    #[test]
    fn index_counts_and_lists_keys_per_slot() {
        let mut ix = SlotIndex::default();
        ix.add(b"{a}1");
        ix.add(b"{a}2");
        ix.add(b"{a}2");
        ix.add(b"b");
        let s = key_hash_slot(b"a");
        assert_eq!(ix.count(s), 2);
        assert_eq!(
            ix.keys_in(s, 10).collect::<Vec<_>>(),
            vec![&b"{a}2"[..], b"{a}1"]
        );
        assert_eq!(ix.keys_in(s, 1).count(), 1);
        ix.remove(b"{a}1");
        ix.remove(b"{a}1");
        assert_eq!(ix.count(s), 1);
        ix.clear();
        assert_eq!(ix.count(key_hash_slot(b"b")), 0);
    }
}
