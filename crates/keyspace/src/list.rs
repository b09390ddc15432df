//! Lists. Redis 7.0 reports every list as `quicklist`, and our layout is
//! of the same family: a deque of chunks, each chunk one byte buffer of
//! packed elements (a varint length, then the bytes). A short list is one
//! small allocation, a long one pays per chunk rather than per element.
//!
//! Pushes and pops at either end touch only the end chunk. Edits in the
//! middle (LSET, LINSERT, LREM) rebuild the one chunk they touch, which
//! is bounded by [`CHUNK_BYTES`] (an element larger than that gets a chunk
//! of its own), so no operation moves more than a chunk's worth of bytes
//! except the walk to reach an index, which skips whole chunks by count.

use crate::varint;
use std::collections::VecDeque;

/// Target size of a chunk's buffer (Redis's default quicklist node is up
/// to 8 KiB; smaller chunks keep front inserts and middle edits cheap).
pub const CHUNK_BYTES: usize = 4096;

/// One chunk: `n` elements packed in `buf`.
#[derive(Debug, Clone, PartialEq, Default)]
struct Chunk {
    buf: Vec<u8>,
    n: u32,
}

/// Makes room for `need` more bytes in a chunk buffer, growing it by a
/// quarter rather than doubling: a list that stays small (the common
/// case) keeps little spare room, as Redis's listpacks, which are
/// reallocated to size on every push; a chunk is bounded by
/// [`CHUNK_BYTES`], so the extra copies stay small.
fn grow(buf: &mut Vec<u8>, need: usize) {
    if buf.capacity() - buf.len() < need {
        buf.reserve_exact(need.max(buf.len() / 4));
    }
}

fn put_len(out: &mut Vec<u8>, len: usize) {
    varint::put(out, len as u64);
}

/// Bytes taken by the header of an element of `len` bytes.
fn len_size(len: usize) -> usize {
    varint::len(len as u64)
}

/// Decodes the element starting at `pos`: its bytes and the next position.
fn read_at(buf: &[u8], pos: usize) -> (&[u8], usize) {
    let (start, end) = varint::str_at(buf, pos);
    (&buf[start..end], end)
}

impl Chunk {
    fn iter(&self) -> ChunkIter<'_> {
        ChunkIter {
            buf: &self.buf,
            pos: 0,
        }
    }

    /// Start offsets of every element, for walks from the back.
    fn offsets(&self) -> Vec<usize> {
        let mut v = Vec::with_capacity(self.n as usize);
        let mut pos = 0;
        while pos < self.buf.len() {
            v.push(pos);
            pos = read_at(&self.buf, pos).1;
        }
        v
    }

    fn get(&self, i: usize) -> Option<&[u8]> {
        self.iter().nth(i)
    }
}

struct ChunkIter<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Iterator for ChunkIter<'a> {
    type Item = &'a [u8];
    fn next(&mut self) -> Option<&'a [u8]> {
        if self.pos >= self.buf.len() {
            return None;
        }
        let (e, next) = read_at(self.buf, self.pos);
        self.pos = next;
        Some(e)
    }
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct List {
    chunks: VecDeque<Chunk>,
    len: usize,
}

/// Which end of a list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    Head,
    Tail,
}

impl List {
    pub fn new() -> List {
        List::default()
    }

    /// A list holding `items` in order.
    pub fn from_items<'a>(items: impl IntoIterator<Item = &'a [u8]>) -> List {
        let mut l = List::new();
        for i in items {
            l.push_back(i);
        }
        l
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn encoding(&self) -> &'static str {
        "quicklist"
    }

    /// Chunks (allocations) holding the elements, Redis's quicklist nodes.
    pub fn chunk_count(&self) -> usize {
        self.chunks.len()
    }

    pub fn heap_size(&self) -> usize {
        self.chunks.capacity() * std::mem::size_of::<Chunk>()
            + self.chunks.iter().map(|c| c.buf.capacity()).sum::<usize>()
    }

    pub fn push(&mut self, end: End, v: &[u8]) {
        match end {
            End::Head => self.push_front(v),
            End::Tail => self.push_back(v),
        }
    }

    pub fn pop(&mut self, end: End) -> Option<Vec<u8>> {
        match end {
            End::Head => self.pop_front(),
            End::Tail => self.pop_back(),
        }
    }

    /// Makes room for one more chunk: exactly one while the list has at
    /// most two (most lists are one chunk, and a deque's first growth
    /// would reserve four), by doubling beyond.
    fn reserve_chunk(&mut self) {
        if self.chunks.len() < 2 {
            self.chunks.reserve_exact(1);
        }
    }

    pub fn push_back(&mut self, v: &[u8]) {
        let need = len_size(v.len()) + v.len();
        let fits = self
            .chunks
            .back()
            .is_some_and(|c| c.buf.len() + need <= CHUNK_BYTES);
        if !fits {
            self.reserve_chunk();
            self.chunks.push_back(Chunk {
                buf: Vec::with_capacity(need),
                n: 0,
            });
        }
        if let Some(c) = self.chunks.back_mut() {
            grow(&mut c.buf, need);
            put_len(&mut c.buf, v.len());
            c.buf.extend_from_slice(v);
            c.n += 1;
            self.len += 1;
        }
    }

    pub fn push_front(&mut self, v: &[u8]) {
        let need = len_size(v.len()) + v.len();
        let fits = self
            .chunks
            .front()
            .is_some_and(|c| c.buf.len() + need <= CHUNK_BYTES);
        if !fits {
            self.reserve_chunk();
            self.chunks.push_front(Chunk::default());
        }
        if let Some(c) = self.chunks.front_mut() {
            grow(&mut c.buf, need);
            let mut head = Vec::with_capacity(need);
            put_len(&mut head, v.len());
            head.extend_from_slice(v);
            c.buf.splice(0..0, head);
            c.n += 1;
            self.len += 1;
        }
    }

    pub fn pop_front(&mut self) -> Option<Vec<u8>> {
        let c = self.chunks.front_mut()?;
        let (e, next) = read_at(&c.buf, 0);
        let v = e.to_vec();
        c.buf.drain(..next);
        c.n -= 1;
        if c.n == 0 {
            self.chunks.pop_front();
        }
        self.len -= 1;
        Some(v)
    }

    pub fn pop_back(&mut self) -> Option<Vec<u8>> {
        let c = self.chunks.back_mut()?;
        // Walk to the last element's start (no back-links in the packing;
        // a chunk is small).
        let mut last = 0;
        let mut pos = 0;
        while pos < c.buf.len() {
            last = pos;
            pos = read_at(&c.buf, pos).1;
        }
        let v = read_at(&c.buf, last).0.to_vec();
        c.buf.truncate(last);
        c.n -= 1;
        if c.n == 0 {
            self.chunks.pop_back();
        }
        self.len -= 1;
        Some(v)
    }

    /// The chunk holding element `i` and the element's index in it.
    fn locate(&self, i: usize) -> Option<(usize, usize)> {
        if i >= self.len {
            return None;
        }
        if i < self.len / 2 {
            let mut skip = i;
            for (ci, c) in self.chunks.iter().enumerate() {
                if skip < c.n as usize {
                    return Some((ci, skip));
                }
                skip -= c.n as usize;
            }
        } else {
            let mut from_end = self.len - 1 - i;
            for (ci, c) in self.chunks.iter().enumerate().rev() {
                if from_end < c.n as usize {
                    return Some((ci, c.n as usize - 1 - from_end));
                }
                from_end -= c.n as usize;
            }
        }
        None
    }

    /// Element `i` (0 = head).
    pub fn get(&self, i: usize) -> Option<&[u8]> {
        let (ci, j) = self.locate(i)?;
        self.chunks.get(ci)?.get(j)
    }

    /// Replaces chunk `ci` by the elements `f` leaves in a decoded copy of
    /// it, re-packed into as many chunks as they need.
    fn rebuild(&mut self, ci: usize, f: impl FnOnce(&mut Vec<Vec<u8>>)) {
        let Some(c) = self.chunks.get(ci) else { return };
        let mut items: Vec<Vec<u8>> = c.iter().map(|e| e.to_vec()).collect();
        let before = items.len();
        f(&mut items);
        self.len = self.len + items.len() - before;
        let mut packed: Vec<Chunk> = Vec::new();
        for it in &items {
            let need = len_size(it.len()) + it.len();
            let fits = packed
                .last()
                .is_some_and(|c| c.buf.len() + need <= CHUNK_BYTES);
            if !fits {
                packed.push(Chunk::default());
            }
            if let Some(c) = packed.last_mut() {
                put_len(&mut c.buf, it.len());
                c.buf.extend_from_slice(it);
                c.n += 1;
            }
        }
        self.chunks.remove(ci);
        for (k, c) in packed.into_iter().enumerate() {
            self.chunks.insert(ci + k, c);
        }
    }

    /// Replaces element `i`; false when out of range.
    pub fn set(&mut self, i: usize, v: &[u8]) -> bool {
        let Some((ci, j)) = self.locate(i) else {
            return false;
        };
        self.rebuild(ci, |items| items[j] = v.to_vec());
        true
    }

    /// Inserts `v` so that it becomes element `i` (`i == len` appends).
    pub fn insert(&mut self, i: usize, v: &[u8]) {
        if i == 0 {
            return self.push_front(v);
        }
        if i >= self.len {
            return self.push_back(v);
        }
        if let Some((ci, j)) = self.locate(i) {
            self.rebuild(ci, |items| items.insert(j, v.to_vec()));
        }
    }

    /// Removes the elements at the given ascending indices.
    pub fn remove_indices(&mut self, idx: &[usize]) {
        // Walk backwards so earlier indices stay valid.
        let mut k = idx.len();
        while k > 0 {
            let Some((ci, _)) = self.locate(idx[k - 1]) else {
                k -= 1;
                continue;
            };
            // All indices in this chunk, removed in one rebuild.
            let first_of_chunk =
                idx[k - 1] - self.locate(idx[k - 1]).map(|(_, j)| j).unwrap_or_default();
            let mut local = Vec::new();
            while k > 0 && idx[k - 1] >= first_of_chunk {
                local.push(idx[k - 1] - first_of_chunk);
                k -= 1;
            }
            self.rebuild(ci, |items| {
                for &j in &local {
                    if j < items.len() {
                        items.remove(j);
                    }
                }
            });
        }
    }

    /// Keeps only elements `start..=end` (both in range, start <= end).
    pub fn trim(&mut self, start: usize, end: usize) {
        let drop_back = self.len.saturating_sub(end + 1);
        self.drop_front(start);
        self.drop_back(drop_back);
    }

    fn drop_front(&mut self, mut k: usize) {
        while k > 0 {
            let Some(c) = self.chunks.front() else { return };
            if (c.n as usize) <= k {
                k -= c.n as usize;
                self.len -= c.n as usize;
                self.chunks.pop_front();
            } else {
                self.pop_front();
                k -= 1;
            }
        }
    }

    fn drop_back(&mut self, mut k: usize) {
        while k > 0 {
            let Some(c) = self.chunks.back() else { return };
            if (c.n as usize) <= k {
                k -= c.n as usize;
                self.len -= c.n as usize;
                self.chunks.pop_back();
            } else {
                self.pop_back();
                k -= 1;
            }
        }
    }

    /// Elements from the head.
    pub fn iter(&self) -> impl Iterator<Item = &[u8]> + '_ {
        self.chunks.iter().flat_map(|c| c.iter())
    }

    /// Elements from index `start` on.
    pub fn iter_from(&self, start: usize) -> impl Iterator<Item = &[u8]> + '_ {
        let (ci, j) = self.locate(start).unwrap_or((self.chunks.len(), 0));
        self.chunks
            .range(ci..)
            .enumerate()
            .flat_map(move |(k, c)| c.iter().skip(if k == 0 { j } else { 0 }))
    }

    /// Elements from the tail.
    pub fn iter_rev(&self) -> impl Iterator<Item = &[u8]> + '_ {
        self.chunks.iter().rev().flat_map(|c| {
            let offs = c.offsets();
            offs.into_iter().rev().map(move |o| read_at(&c.buf, o).0)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(l: &List) -> Vec<Vec<u8>> {
        l.iter().map(|e| e.to_vec()).collect()
    }

    #[test]
    fn matches_a_vecdeque_model() {
        let mut l = List::new();
        let mut m: VecDeque<Vec<u8>> = VecDeque::new();
        let mut seed = 7u64;
        let mut rnd = |n: u64| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) % n
        };
        for step in 0..20000 {
            let v: Vec<u8> = format!("{step}-{}", "x".repeat(rnd(300) as usize)).into_bytes();
            match rnd(9) {
                0 | 1 => {
                    l.push_back(&v);
                    m.push_back(v);
                }
                2 | 3 => {
                    l.push_front(&v);
                    m.push_front(v);
                }
                4 => assert_eq!(l.pop_front(), m.pop_front()),
                5 => assert_eq!(l.pop_back(), m.pop_back()),
                6 if !m.is_empty() => {
                    let i = rnd(m.len() as u64) as usize;
                    assert!(l.set(i, &v));
                    m[i] = v;
                }
                7 => {
                    let i = rnd(m.len() as u64 + 1) as usize;
                    l.insert(i, &v);
                    m.insert(i, v);
                }
                8 if !m.is_empty() => {
                    let mut idx: Vec<usize> =
                        (0..3).map(|_| rnd(m.len() as u64) as usize).collect();
                    idx.sort();
                    idx.dedup();
                    l.remove_indices(&idx);
                    for &i in idx.iter().rev() {
                        m.remove(i);
                    }
                }
                _ => {}
            }
            assert_eq!(l.len(), m.len());
            if step % 500 == 0 {
                assert_eq!(items(&l), m.iter().cloned().collect::<Vec<_>>());
                let rev: Vec<Vec<u8>> = l.iter_rev().map(|e| e.to_vec()).collect();
                assert_eq!(rev, m.iter().rev().cloned().collect::<Vec<_>>());
                if !m.is_empty() {
                    let i = rnd(m.len() as u64) as usize;
                    assert_eq!(l.get(i), Some(&m[i][..]));
                    let tail: Vec<&[u8]> = l.iter_from(i).collect();
                    assert_eq!(tail.len(), m.len() - i);
                    assert_eq!(tail[0], &m[i][..]);
                }
            }
        }
        let n = l.len();
        if n > 10 {
            l.trim(3, n - 5);
            let want: Vec<Vec<u8>> = m.iter().skip(3).take(n - 7).cloned().collect();
            assert_eq!(items(&l), want);
        }
    }

    #[test]
    fn big_elements_get_their_own_chunk() {
        let big = vec![b'a'; 10_000];
        let mut l = List::from_items([&b"x"[..], &big[..], &b"y"[..]]);
        assert_eq!(l.get(1), Some(&big[..]));
        assert_eq!(l.pop_back(), Some(b"y".to_vec()));
        assert_eq!(l.pop_back(), Some(big));
        assert_eq!(l.len(), 1);
    }
}
