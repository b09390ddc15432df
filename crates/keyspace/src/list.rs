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
//!
//! `list-compress-depth` (Redis's quicklist compression): with a depth D,
//! every chunk but the D at each end is kept LZF-compressed, when that
//! saves at least 8 bytes of a chunk of 48 or more (Redis's thresholds);
//! the ends, where pushes and pops work, stay plain. A list takes the
//! depth configured when it is created, as in Redis. Reading a compressed
//! chunk (LRANGE, LINDEX) decompresses it into a cache that the next
//! change to the list drops (Redis recompresses right after the read).

use crate::varint;
use std::cell::{Cell, OnceCell};
use std::collections::VecDeque;

/// Target size of a chunk's buffer (Redis's default quicklist node is up
/// to 8 KiB; smaller chunks keep front inserts and middle edits cheap).
pub const CHUNK_BYTES: usize = 4096;

/// One chunk: `n` elements packed in `buf`, or compressed in `lzf` (then
/// `buf` is empty).
#[derive(Debug, Clone, Default)]
struct Chunk {
    buf: Vec<u8>,
    n: u32,
    lzf: Option<Box<Compressed>>,
    /// Compression was tried and did not pay; not tried again until the
    /// chunk changes (Redis's `attempted_compress`).
    incompressible: bool,
}

/// A chunk's packed bytes, LZF-compressed.
#[derive(Debug, Clone)]
struct Compressed {
    bytes: Box<[u8]>,
    raw_len: usize,
    /// The decompressed bytes, once a read needed them.
    cache: OnceCell<Vec<u8>>,
}

/// Chunks smaller than this are not worth compressing (Redis's
/// `MIN_COMPRESS_BYTES`)...
const MIN_COMPRESS_BYTES: usize = 48;
/// ...nor those that compression shrinks by less than this
/// (`MIN_COMPRESS_IMPROVE`).
const MIN_COMPRESS_IMPROVE: usize = 8;

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
    /// The packed elements, decompressed (and cached) if need be.
    fn raw(&self) -> &[u8] {
        match &self.lzf {
            None => &self.buf,
            Some(z) => z.cache.get_or_init(|| {
                // Our own compressed bytes: decompression cannot fail.
                lzf::decompress(&z.bytes, z.raw_len).unwrap_or_default()
            }),
        }
    }

    /// Makes the chunk plain (before a change, or at the list's ends).
    fn decompress(&mut self) {
        if let Some(z) = self.lzf.take() {
            self.buf = match z.cache.into_inner() {
                Some(b) => b,
                None => lzf::decompress(&z.bytes, z.raw_len).unwrap_or_default(),
            };
        }
    }

    /// Compresses a plain chunk when that is worth it; drops the cache of
    /// a compressed one.
    fn compress(&mut self) {
        match &mut self.lzf {
            Some(z) => {
                z.cache.take();
            }
            None if self.buf.len() >= MIN_COMPRESS_BYTES && !self.incompressible => {
                let mut c = Vec::new();
                match lzf_compress::compress(&self.buf, &mut c) {
                    true if c.len() + MIN_COMPRESS_IMPROVE < self.buf.len() => {
                        self.lzf = Some(Box::new(Compressed {
                            bytes: c.into_boxed_slice(),
                            raw_len: self.buf.len(),
                            cache: OnceCell::new(),
                        }));
                        self.buf = Vec::new();
                    }
                    _ => self.incompressible = true,
                }
            }
            None => {}
        }
    }

    fn heap_size(&self) -> usize {
        self.buf.capacity()
            + self.lzf.as_ref().map_or(0, |z| {
                std::mem::size_of::<Compressed>()
                    + z.bytes.len()
                    + z.cache.get().map_or(0, Vec::capacity)
            })
    }

    fn iter(&self) -> ChunkIter<'_> {
        ChunkIter {
            buf: self.raw(),
            pos: 0,
        }
    }

    /// Start offsets of every element, for walks from the back.
    fn offsets(&self) -> Vec<usize> {
        let buf = self.raw();
        let mut v = Vec::with_capacity(self.n as usize);
        let mut pos = 0;
        while pos < buf.len() {
            v.push(pos);
            pos = read_at(buf, pos).1;
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

#[derive(Debug, Clone, Default)]
pub struct List {
    chunks: VecDeque<Chunk>,
    len: usize,
    /// `list-compress-depth` when the list was created (0: none).
    depth: u32,
    /// A read may have left decompressed caches behind (set by readers of
    /// a list with compressed chunks; the next change drops them all).
    read_since_change: Cell<bool>,
}

/// Lists are equal when they hold the same elements, however compressed.
impl PartialEq for List {
    fn eq(&self, other: &List) -> bool {
        self.len == other.len && self.iter().eq(other.iter())
    }
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

    /// Chunks held compressed now.
    pub fn compressed_chunks(&self) -> usize {
        self.chunks.iter().filter(|c| c.lzf.is_some()).count()
    }

    /// Keeps every chunk but the `depth` at each end compressed from now
    /// on (`list-compress-depth`; 0 turns compression off).
    pub fn set_compress_depth(&mut self, depth: u32) {
        self.depth = depth;
        self.settle();
    }

    /// Puts each chunk in the form its place asks for: plain within
    /// `depth` of either end, compressed beyond (and without a read
    /// cache). Called after every change.
    fn settle(&mut self) {
        let n = self.chunks.len();
        let d = self.depth as usize;
        if d == 0 {
            if self.chunks.iter().any(|c| c.lzf.is_some()) {
                self.chunks.iter_mut().for_each(Chunk::decompress);
            }
            return;
        }
        for (i, c) in self.chunks.iter_mut().enumerate() {
            if i < d || i + d >= n {
                c.decompress();
            } else {
                c.compress();
            }
        }
    }

    /// After a change: the chunks near the ends, the chunks in `range`
    /// (new ones), and, when reads decompressed chunks, all of them (to
    /// drop those caches).
    fn settle_after(&mut self, range: std::ops::Range<usize>) {
        if self.depth == 0 {
            return;
        }
        if self.read_since_change.replace(false) {
            return self.settle();
        }
        let n = self.chunks.len();
        let d = self.depth as usize;
        for i in range {
            if let Some(c) = self.chunks.get_mut(i) {
                if i < d || i + d >= n {
                    c.decompress();
                } else {
                    c.compress();
                }
            }
        }
        self.settle_ends();
    }

    /// Settles only the chunks near the ends, where pushes and pops move
    /// the boundary between plain and compressed chunks: `O(depth)`.
    fn settle_ends(&mut self) {
        let n = self.chunks.len();
        let d = self.depth as usize;
        if d == 0 || n <= 2 * d {
            if d > 0 {
                self.chunks.iter_mut().for_each(Chunk::decompress);
            }
            return;
        }
        for i in (0..=d).chain(n - d - 1..n) {
            if let Some(c) = self.chunks.get_mut(i) {
                if i < d || i + d >= n {
                    c.decompress();
                } else {
                    c.compress();
                }
            }
        }
    }

    pub fn heap_size(&self) -> usize {
        self.chunks.capacity() * std::mem::size_of::<Chunk>()
            + self.chunks.iter().map(Chunk::heap_size).sum::<usize>()
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
                ..Chunk::default()
            });
        }
        if let Some(c) = self.chunks.back_mut() {
            c.decompress();
            grow(&mut c.buf, need);
            put_len(&mut c.buf, v.len());
            c.buf.extend_from_slice(v);
            c.n += 1;
            self.len += 1;
        }
        self.settle_after(0..0);
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
            c.decompress();
            grow(&mut c.buf, need);
            let mut head = Vec::with_capacity(need);
            put_len(&mut head, v.len());
            head.extend_from_slice(v);
            c.buf.splice(0..0, head);
            c.n += 1;
            self.len += 1;
        }
        self.settle_after(0..0);
    }

    pub fn pop_front(&mut self) -> Option<Vec<u8>> {
        let c = self.chunks.front_mut()?;
        c.decompress();
        let (e, next) = read_at(&c.buf, 0);
        let v = e.to_vec();
        c.buf.drain(..next);
        c.n -= 1;
        if c.n == 0 {
            self.chunks.pop_front();
        }
        self.len -= 1;
        self.settle_after(0..0);
        Some(v)
    }

    pub fn pop_back(&mut self) -> Option<Vec<u8>> {
        let c = self.chunks.back_mut()?;
        c.decompress();
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
        self.settle_after(0..0);
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
        self.note_read();
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
        // The chunks that replace chunk `ci`, settled below.
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
        let k = packed.len();
        for (k, c) in packed.into_iter().enumerate() {
            self.chunks.insert(ci + k, c);
        }
        self.settle_after(ci..ci + k);
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
        self.settle_after(0..0);
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
        self.note_read();
        self.chunks.iter().flat_map(|c| c.iter())
    }

    /// Elements from index `start` on.
    pub fn iter_from(&self, start: usize) -> impl Iterator<Item = &[u8]> + '_ {
        self.note_read();
        let (ci, j) = self.locate(start).unwrap_or((self.chunks.len(), 0));
        self.chunks
            .range(ci..)
            .enumerate()
            .flat_map(move |(k, c)| c.iter().skip(if k == 0 { j } else { 0 }))
    }

    /// Elements from the tail.
    pub fn iter_rev(&self) -> impl Iterator<Item = &[u8]> + '_ {
        self.note_read();
        self.chunks.iter().rev().flat_map(|c| {
            let offs = c.offsets();
            offs.into_iter().rev().map(move |o| read_at(c.raw(), o).0)
        })
    }

    /// A read may decompress chunks into their caches: the next change
    /// drops them.
    fn note_read(&self) {
        if self.depth > 0 {
            self.read_since_change.set(true);
        }
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
        model_run(0);
    }

    #[test]
    fn compressed_lists_match_the_model_and_keep_their_ends_plain() {
        for depth in [1, 2, 3] {
            model_run(depth);
        }
    }

    /// Checks the chunks' forms against `depth`.
    fn check_forms(l: &List) {
        let n = l.chunks.len();
        let d = l.depth as usize;
        for (i, c) in l.chunks.iter().enumerate() {
            if d == 0 || i < d || i + d >= n {
                assert!(
                    c.lzf.is_none(),
                    "chunk {i} of {n} at depth {d} is compressed"
                );
            }
        }
    }

    fn model_run(depth: u32) {
        let mut l = List::new();
        l.set_compress_depth(depth);
        let mut compressed_seen = 0;
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
            compressed_seen = compressed_seen.max(l.compressed_chunks());
            if step % 97 == 0 {
                check_forms(&l);
            }
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
            check_forms(&l);
        }
        if depth > 0 {
            assert!(compressed_seen > 0, "depth {depth}: nothing was compressed");
            // Reads leave caches; the next change drops them.
            let _ = items(&l);
            l.push_back(b"x");
            assert!(l
                .chunks
                .iter()
                .all(|c| c.lzf.as_ref().is_none_or(|z| z.cache.get().is_none())));
        }
    }

    #[test]
    fn compression_saves_memory_and_keeps_equality() {
        let items: Vec<Vec<u8>> = (0..5000)
            .map(|i| format!("element:{i:08}").into_bytes())
            .collect();
        let plain = List::from_items(items.iter().map(Vec::as_slice));
        let mut packed = List::new();
        packed.set_compress_depth(1);
        for i in &items {
            packed.push_back(i);
        }
        assert!(packed.compressed_chunks() > 0);
        assert!(
            packed.heap_size() < plain.heap_size() / 2,
            "{} vs {}",
            packed.heap_size(),
            plain.heap_size()
        );
        assert_eq!(packed, plain);
        packed.set_compress_depth(0);
        assert_eq!(packed.compressed_chunks(), 0);
        assert_eq!(packed, plain);
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
