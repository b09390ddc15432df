//! Hashes, with the two encodings Redis 7.0 reports through `OBJECT
//! ENCODING`:
//!
//! - `listpack`: while the hash has at most `hash-max-listpack-entries`
//!   fields and every field and value is at most `hash-max-listpack-value`
//!   bytes. Like Redis's listpack it is one byte buffer of length-prefixed
//!   strings (field, value, field, value, ...) in insertion order, searched
//!   linearly: no per-field allocation, a few bytes of overhead per string.
//!   Clients observe the order (HGETALL, HKEYS, HSCAN, HRANDFIELD), so it
//!   must be Redis's: new fields are appended, updated values stay in place,
//!   deleted fields close the gap.
//! - `hashtable`: beyond either threshold. Once converted a hash never goes
//!   back, as in Redis. Its order is ours, not Redis's.
//!
//! This module knows nothing of commands: the thresholds are passed in by
//! every operation that may grow the hash.

use crate::small::SmallBytes;
use crate::table::KeyTable;
use crate::types::EncodingLimits;
use crate::varint;

/// The hashtable encoding: field → value, in the keyspace's own compact
/// table (fields and values up to 22 bytes inline, no heap block per
/// string). Removal is `swap_remove`, which keeps [`Hash::scan`]'s cursor
/// safe (see `db.rs` for the argument).
pub type Table = KeyTable<SmallBytes>;

/// A hash value: 16 bytes. The table is boxed so that a small hash (the
/// common case) pays only for the packed buffer's pointer.
#[derive(Debug, Clone, PartialEq)]
pub enum Hash {
    Listpack(Packed),
    Table(Box<Table>),
}

impl Default for Hash {
    fn default() -> Self {
        Hash::Listpack(Packed::default())
    }
}

impl Hash {
    pub fn new() -> Hash {
        Hash::default()
    }

    pub fn len(&self) -> usize {
        match self {
            Hash::Listpack(p) => p.len(),
            Hash::Table(m) => m.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn encoding(&self) -> &'static str {
        match self {
            Hash::Listpack(_) => "listpack",
            Hash::Table(_) => "hashtable",
        }
    }

    /// Bytes on the heap, for `MEMORY USAGE`.
    pub fn heap_size(&self) -> usize {
        match self {
            Hash::Listpack(p) => p.heap_size(),
            Hash::Table(m) => {
                let strings: usize = m.iter().map(|(f, v)| f.heap_size() + v.heap_size()).sum();
                std::mem::size_of::<Table>() + strings + m.table_bytes()
            }
        }
    }

    pub fn get(&self, field: &[u8]) -> Option<&[u8]> {
        match self {
            Hash::Listpack(p) => p.find(field).map(|at| p.value_at(at)),
            Hash::Table(m) => m.get(field).map(|v| &**v),
        }
    }

    pub fn contains(&self, field: &[u8]) -> bool {
        match self {
            Hash::Listpack(p) => p.find(field).is_some(),
            Hash::Table(m) => m.contains_key(field),
        }
    }

    /// Sets `field` to `value`; returns true when the field is new. A field
    /// or value longer than `hash-max-listpack-value`, or one field more
    /// than `hash-max-listpack-entries`, converts a listpack to a hashtable.
    pub fn set(&mut self, field: &[u8], value: &[u8], limits: &EncodingLimits) -> bool {
        let max = limits.hash_max_listpack_value;
        if field.len() > max || value.len() > max {
            self.convert();
        }
        let added = match self {
            Hash::Listpack(p) => p.set(field, value),
            Hash::Table(m) => m.insert(field, SmallBytes::new(value)).is_none(),
        };
        if self.len() > limits.hash_max_listpack_entries {
            self.convert();
        }
        added
    }

    /// Removes `field`; returns whether it was there.
    pub fn remove(&mut self, field: &[u8]) -> bool {
        match self {
            Hash::Listpack(p) => p.remove(field),
            Hash::Table(m) => m.swap_remove(field).is_some(),
        }
    }

    /// Field/value pairs: insertion order for a listpack, ours for a table.
    pub fn iter(&self) -> Iter<'_> {
        match self {
            Hash::Listpack(p) => Iter::Listpack(p.iter()),
            Hash::Table(m) => Iter::Table(m.slots()),
        }
    }

    /// The `i`-th pair in [`Hash::iter`] order (linear for a listpack,
    /// which is small by construction).
    pub fn nth(&self, i: usize) -> Option<(&[u8], &[u8])> {
        match self {
            Hash::Listpack(p) => p.iter().nth(i),
            Hash::Table(m) => m.get_index(i).map(|(f, v)| (&**f, &**v)),
        }
    }

    /// One `HSCAN` step: calls `f` for the pairs visited and returns the
    /// next cursor (0 when done). A listpack is returned whole in one call
    /// with cursor 0, as Redis does; a table is walked like `Db::scan`,
    /// from the last index down, `count` pairs at a time.
    pub fn scan<'a>(
        &'a self,
        cursor: u64,
        count: usize,
        mut f: impl FnMut(&'a [u8], &'a [u8]),
    ) -> u64 {
        match self {
            Hash::Listpack(p) => {
                for (k, v) in p.iter() {
                    f(k, v);
                }
                0
            }
            Hash::Table(m) => {
                let len = m.len() as u64;
                let mut next = if cursor == 0 { len } else { cursor.min(len) };
                let mut visited = 0;
                while next > 0 && visited < count.max(1) {
                    next -= 1;
                    if let Some((k, v)) = m.get_index(next as usize) {
                        f(k, v);
                    }
                    visited += 1;
                }
                next
            }
        }
    }

    /// Converts a listpack to a hashtable (no-op for a table).
    fn convert(&mut self) {
        if let Hash::Listpack(p) = self {
            let mut m = Table::with_capacity(p.len());
            for (k, v) in p.iter() {
                m.insert(k, SmallBytes::new(v));
            }
            *self = Hash::Table(Box::new(m));
        }
    }
}

/// Iterator over a hash's field/value pairs.
pub enum Iter<'a> {
    Listpack(PackedIter<'a>),
    Table(std::slice::Iter<'a, (SmallBytes, SmallBytes)>),
}

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a [u8], &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        match self {
            Iter::Listpack(it) => it.next(),
            Iter::Table(it) => it.next().map(|(k, v)| (&**k, &**v)),
        }
    }
}

// ---------------------------------------------------------------------------
// The packed (listpack) encoding
// ---------------------------------------------------------------------------

/// Field/value strings packed into one exact-size buffer, each preceded by
/// its length as a LEB128 varint (one byte up to 127 bytes, which covers
/// the default 64-byte limit). A non-empty buffer starts with the number of
/// pairs as a little-endian u16 (`u16::MAX`: count by walking, for the rare
/// listpack configured past 65534 entries), as Redis's listpack header
/// holds its element count. The buffer is a `Box<[u8]>`, not a `Vec`, so
/// a small hash costs the keyspace 16 bytes inline and no spare capacity.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Packed {
    buf: Box<[u8]>,
}

/// Bytes before the first pair of a non-empty buffer.
const HEADER: usize = 2;
const COUNT_UNKNOWN: u16 = u16::MAX;

/// Where a pair sits in the buffer: the pair's start, the value's length
/// prefix, and the end of the pair.
#[derive(Debug, Clone, Copy)]
struct PairAt {
    start: usize,
    value: usize,
    end: usize,
}

fn put_varint(buf: &mut Vec<u8>, n: usize) {
    varint::put(buf, n as u64);
}

fn varint_len(n: usize) -> usize {
    varint::len(n as u64)
}

/// Reads the string at `at`: returns its bytes' range start and end.
fn read_str(buf: &[u8], at: usize) -> (usize, usize) {
    varint::str_at(buf, at)
}

impl Packed {
    pub fn len(&self) -> usize {
        match self.buf.get(..HEADER) {
            None => 0,
            Some(h) => match u16::from_le_bytes([h[0], h[1]]) {
                COUNT_UNKNOWN => self.iter().count(),
                n => usize::from(n),
            },
        }
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    pub fn iter(&self) -> PackedIter<'_> {
        PackedIter {
            buf: &self.buf,
            at: HEADER,
        }
    }

    /// Bytes of the buffer, for `MEMORY USAGE`.
    fn heap_size(&self) -> usize {
        self.buf.len()
    }

    fn find(&self, field: &[u8]) -> Option<PairAt> {
        let mut at = HEADER;
        while at < self.buf.len() {
            let (fs, fe) = read_str(&self.buf, at);
            let (_, ve) = read_str(&self.buf, fe);
            if &self.buf[fs..fe] == field {
                return Some(PairAt {
                    start: at,
                    value: fe,
                    end: ve,
                });
            }
            at = ve;
        }
        None
    }

    fn value_at(&self, p: PairAt) -> &[u8] {
        let (s, e) = read_str(&self.buf, p.value);
        &self.buf[s..e]
    }

    /// Runs `f` on the buffer as a `Vec` (no copy) and stores the result
    /// back at its exact size, with the pair count moved by `delta`.
    fn edit(&mut self, delta: isize, f: impl FnOnce(&mut Vec<u8>)) {
        let count = self.len();
        let mut v = std::mem::take(&mut self.buf).into_vec();
        f(&mut v);
        let count = count.saturating_add_signed(delta);
        if count == 0 {
            v = Vec::new();
        } else if v.len() >= HEADER {
            let c = u16::try_from(count)
                .ok()
                .filter(|&c| c != COUNT_UNKNOWN)
                .unwrap_or(COUNT_UNKNOWN);
            v[..HEADER].copy_from_slice(&c.to_le_bytes());
        }
        self.buf = v.into_boxed_slice();
    }

    fn set(&mut self, field: &[u8], value: &[u8]) -> bool {
        match self.find(field) {
            Some(p) => {
                // Update in place: the field keeps its position.
                let mut enc = Vec::with_capacity(value.len() + 4);
                put_varint(&mut enc, value.len());
                enc.extend_from_slice(value);
                self.edit(0, |buf| {
                    if enc.len() > p.end - p.value {
                        buf.reserve_exact(enc.len() - (p.end - p.value));
                    }
                    buf.splice(p.value..p.end, enc);
                });
                false
            }
            None => {
                // Exact growth, as a listpack reallocates on every insert:
                // a small hash should not carry up to twice its size.
                let need =
                    varint_len(field.len()) + field.len() + varint_len(value.len()) + value.len();
                self.edit(1, |buf| {
                    let header = if buf.is_empty() { HEADER } else { 0 };
                    buf.reserve_exact(header + need);
                    buf.resize(buf.len() + header, 0);
                    put_varint(buf, field.len());
                    buf.extend_from_slice(field);
                    put_varint(buf, value.len());
                    buf.extend_from_slice(value);
                });
                true
            }
        }
    }

    fn remove(&mut self, field: &[u8]) -> bool {
        match self.find(field) {
            Some(p) => {
                self.edit(-1, |buf| {
                    buf.drain(p.start..p.end);
                });
                true
            }
            None => false,
        }
    }
}

pub struct PackedIter<'a> {
    buf: &'a [u8],
    at: usize,
}

impl<'a> Iterator for PackedIter<'a> {
    type Item = (&'a [u8], &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        if self.at >= self.buf.len() {
            return None;
        }
        let (fs, fe) = read_str(self.buf, self.at);
        let (vs, ve) = read_str(self.buf, fe);
        self.at = ve;
        Some((&self.buf[fs..fe], &self.buf[vs..ve]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(entries: usize, value: usize) -> EncodingLimits {
        EncodingLimits {
            hash_max_listpack_entries: entries,
            hash_max_listpack_value: value,
            ..EncodingLimits::default()
        }
    }

    fn pairs(h: &Hash) -> Vec<(Vec<u8>, Vec<u8>)> {
        h.iter().map(|(f, v)| (f.to_vec(), v.to_vec())).collect()
    }

    #[test]
    fn listpack_keeps_insertion_order_and_updates_in_place() {
        let l = EncodingLimits::default();
        let mut h = Hash::new();
        assert!(h.set(b"a", b"1", &l));
        assert!(h.set(b"b", b"2", &l));
        assert!(h.set(b"c", b"3", &l));
        assert!(!h.set(b"a", &[b'x'; 60], &l));
        assert_eq!(h.get(b"a"), Some(&[b'x'; 60][..]));
        assert!(h.remove(b"b"));
        assert!(!h.remove(b"b"));
        assert!(h.set(b"b", b"", &l));
        let fields: Vec<Vec<u8>> = pairs(&h).into_iter().map(|p| p.0).collect();
        assert_eq!(fields, vec![b"a".to_vec(), b"c".to_vec(), b"b".to_vec()]);
        assert_eq!(h.get(b"b"), Some(&b""[..]));
        assert_eq!(h.nth(1), Some((&b"c"[..], &b"3"[..])));
        assert_eq!(h.len(), 3);
        assert_eq!(h.encoding(), "listpack");
    }

    #[test]
    fn a_small_hash_is_one_compact_buffer() {
        assert_eq!(std::mem::size_of::<Hash>(), 16);
        let l = EncodingLimits::default();
        let mut h = Hash::new();
        for i in 0..100 {
            h.set(format!("field:{i}").as_bytes(), b"value", &l);
        }
        // Two one-byte length prefixes per pair, over the strings' bytes.
        let strings: usize = h.iter().map(|(f, v)| f.len() + v.len()).sum();
        assert_eq!(h.heap_size(), strings + 2 * 100 + HEADER);
    }

    #[test]
    fn long_strings_use_multi_byte_lengths() {
        let l = limits(10, 100_000);
        let mut h = Hash::new();
        let big = vec![b'z'; 20_000];
        h.set(&big, b"v", &l);
        h.set(b"k", &big, &l);
        assert_eq!(h.get(&big), Some(&b"v"[..]));
        assert_eq!(h.get(b"k").map(|v| v.len()), Some(20_000));
        assert_eq!(h.encoding(), "listpack");
    }

    #[test]
    fn converts_to_hashtable_at_the_entry_count_threshold() {
        let l = limits(4, 64);
        let mut h = Hash::new();
        for i in 0..4 {
            h.set(format!("f{i}").as_bytes(), b"v", &l);
        }
        assert_eq!(h.encoding(), "listpack");
        // Updating an existing field does not grow the hash.
        h.set(b"f0", b"w", &l);
        assert_eq!(h.encoding(), "listpack");
        h.set(b"f4", b"v", &l);
        assert_eq!(h.encoding(), "hashtable");
        assert_eq!(h.len(), 5);
        assert_eq!(h.get(b"f0"), Some(&b"w"[..]));
        // Never converted back, even when small again.
        for i in 0..5 {
            h.remove(format!("f{i}").as_bytes());
        }
        h.set(b"x", b"y", &l);
        assert_eq!(h.encoding(), "hashtable");
    }

    #[test]
    fn converts_to_hashtable_at_the_value_size_threshold() {
        let l = limits(512, 8);
        let mut h = Hash::new();
        h.set(b"f", &[b'v'; 8], &l);
        h.set(&[b'k'; 8], b"v", &l);
        assert_eq!(h.encoding(), "listpack");
        h.set(b"g", &[b'v'; 9], &l);
        assert_eq!(h.encoding(), "hashtable");
        let mut h = Hash::new();
        h.set(b"f", b"v", &l);
        h.set(&[b'k'; 9], b"v", &l);
        assert_eq!(h.encoding(), "hashtable");
        assert_eq!(h.get(b"f"), Some(&b"v"[..]));
        assert_eq!(h.len(), 2);
    }

    #[test]
    fn table_scan_visits_every_pair() {
        let l = limits(2, 64);
        let mut h = Hash::new();
        for i in 0..50 {
            h.set(format!("f{i}").as_bytes(), b"v", &l);
        }
        let mut seen = std::collections::BTreeSet::new();
        let mut cursor = 0;
        loop {
            cursor = h.scan(cursor, 7, |f, _| {
                seen.insert(f.to_vec());
            });
            if cursor == 0 {
                break;
            }
        }
        assert_eq!(seen.len(), 50);
    }
}
