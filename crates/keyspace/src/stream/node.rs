//! One node of a stream: a run of consecutive entries packed in one byte
//! buffer, as Redis packs them in one listpack per radix-tree node.
//!
//! The layout follows Redis's ideas, in a tighter encoding of our own:
//!
//! - the node starts with its *master fields* (the field names of the
//!   entry that created it);
//! - each entry is a flags byte (deleted, same-fields-as-master), its ID as
//!   deltas from the node's master ID (the milliseconds, then the sequence
//!   relative to the master's when the milliseconds are equal and as is
//!   otherwise: both are small for entries added in a burst), then either
//!   the values alone (same fields as the master) or a field count and the
//!   field/value pairs;
//! - every string is one varint header and its bytes; strings that are
//!   the canonical text of an integer (what a listpack would store as an
//!   integer) are kept as that integer and formatted back when read.
//!
//! Compared with a listpack there is no per-element back-length and no
//! per-entry element count, which Redis needs to walk a listpack
//! backwards: a reverse walk here decodes the node forwards once and
//! visits the offsets in reverse (a node is bounded by
//! `stream-node-max-bytes` and `stream-node-max-entries`).
//!
//! Deleted entries stay in the node with their flag set, as in Redis, and
//! the node keeps the size Redis's listpack would have (`lp_bytes`),
//! because when a node is full — and therefore which entries `~`
//! trimming can drop together — depends on both.

use super::id::StreamId;
use crate::varint;

/// Entry flag: deleted (a tombstone).
pub const FLAG_DELETED: u8 = 1;
/// Entry flag: the entry has exactly the master fields, stored once.
pub const FLAG_SAMEFIELDS: u8 = 2;

// ---------------------------------------------------------------------------
// Elements
// ---------------------------------------------------------------------------

/// A string as stored: bytes, or the integer its text is the canonical
/// form of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Elem<'a> {
    Str(&'a [u8]),
    Int(i64),
}

impl<'a> Elem<'a> {
    /// The element's text (integers formatted into `buf`).
    pub fn bytes<'b>(&self, buf: &'b mut itoa::Buffer) -> &'b [u8]
    where
        'a: 'b,
    {
        match *self {
            Elem::Str(s) => s,
            Elem::Int(n) => buf.format(n).as_bytes(),
        }
    }

    /// The element's text, owned.
    pub fn to_vec(&self) -> Vec<u8> {
        let mut b = itoa::Buffer::new();
        self.bytes(&mut b).to_vec()
    }

    /// Whether the element's text equals `b`.
    pub fn eq_bytes(&self, b: &[u8]) -> bool {
        match *self {
            Elem::Str(s) => s == b,
            Elem::Int(n) => lp_string_to_i64(b) == Some(n),
        }
    }

    /// Length of the element's text.
    pub fn len(&self) -> usize {
        match *self {
            Elem::Str(s) => s.len(),
            Elem::Int(n) => itoa::Buffer::new().format(n).len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

// Header tags (low two bits of the varint header).
const TAG_STR: u64 = 0;
const TAG_INT: u64 = 1;
const TAG_I64: u64 = 2;
/// Integers whose zig-zag form fits in a header beside the tag.
const SMALL_INT_LIMIT: u64 = 1 << 61;

fn zigzag(n: i64) -> u64 {
    ((n << 1) ^ (n >> 63)) as u64
}

fn unzigzag(z: u64) -> i64 {
    ((z >> 1) as i64) ^ -((z & 1) as i64)
}

/// Appends `s` in element form.
pub fn put_elem(out: &mut Vec<u8>, s: &[u8]) {
    match lp_string_to_i64(s) {
        Some(n) => put_int_elem(out, n),
        None => {
            varint::put(out, ((s.len() as u64) << 2) | TAG_STR);
            out.extend_from_slice(s);
        }
    }
}

/// Appends an integer in element form.
pub fn put_int_elem(out: &mut Vec<u8>, n: i64) {
    let z = zigzag(n);
    if z < SMALL_INT_LIMIT {
        varint::put(out, (z << 2) | TAG_INT);
    } else {
        varint::put(out, TAG_I64);
        out.extend_from_slice(&n.to_le_bytes());
    }
}

/// Bytes [`put_elem`] writes for `s`.
pub fn elem_size(s: &[u8]) -> usize {
    match lp_string_to_i64(s) {
        Some(n) => int_elem_size(n),
        None => varint::len((s.len() as u64) << 2) + s.len(),
    }
}

fn int_elem_size(n: i64) -> usize {
    let z = zigzag(n);
    if z < SMALL_INT_LIMIT {
        varint::len((z << 2) | TAG_INT)
    } else {
        9
    }
}

/// Decodes the element at `at`: the element and the offset after it.
pub fn read_elem(buf: &[u8], at: usize) -> Option<(Elem<'_>, usize)> {
    let (h, at) = varint::read(buf, at)?;
    match h & 3 {
        TAG_STR => {
            let len = usize::try_from(h >> 2).ok()?;
            let end = at.checked_add(len)?;
            Some((Elem::Str(buf.get(at..end)?), end))
        }
        TAG_INT => Some((Elem::Int(unzigzag(h >> 2)), at)),
        TAG_I64 => {
            let raw = buf.get(at..at + 8)?;
            let mut b = [0u8; 8];
            b.copy_from_slice(raw);
            Some((Elem::Int(i64::from_le_bytes(b)), at + 8))
        }
        _ => None,
    }
}

/// Offset after the element at `at`.
fn skip_elem(buf: &[u8], at: usize) -> Option<usize> {
    read_elem(buf, at).map(|(_, next)| next)
}

// ---------------------------------------------------------------------------
// Redis listpack sizes
// ---------------------------------------------------------------------------

/// Redis's `lpStringToInt64`: the canonical decimal text of an i64
/// (no sign but `-`, no leading zeros, at most 20 characters).
pub fn lp_string_to_i64(s: &[u8]) -> Option<i64> {
    if s.is_empty() || s.len() >= 21 {
        return None;
    }
    crate::value::parse_canonical_i64(s)
}

/// Bytes of a listpack back-length field for an entry of `len` bytes.
fn lp_backlen(len: u64) -> u64 {
    match len {
        0..=127 => 1,
        128..=16382 => 2,
        16383..=2097150 => 3,
        2097151..=268435454 => 4,
        _ => 5,
    }
}

/// Listpack bytes of an integer element (encoding plus back-length).
pub fn lp_int_size(v: i64) -> u64 {
    let enc = match v {
        0..=127 => 1,
        -4096..=4095 => 2,
        -32768..=32767 => 3,
        -8_388_608..=8_388_607 => 4,
        -2_147_483_648..=2_147_483_647 => 5,
        _ => 9,
    };
    enc + lp_backlen(enc)
}

/// Listpack bytes of a string element as `lpAppend` stores it.
pub fn lp_str_size(s: &[u8]) -> u64 {
    if let Some(v) = lp_string_to_i64(s) {
        return lp_int_size(v);
    }
    let len = s.len() as u64;
    let enc = if len < 64 {
        1 + len
    } else if len < 4096 {
        2 + len
    } else {
        5 + len
    };
    enc + lp_backlen(enc)
}

/// Listpack bytes of one entry, as `streamAppendItem` writes it.
fn lp_entry_size(master: StreamId, id: StreamId, flags: u8, pairs: &[(&[u8], &[u8])]) -> u64 {
    let same = flags & FLAG_SAMEFIELDS != 0;
    let n = pairs.len() as i64;
    let mut size = lp_int_size(i64::from(flags))
        + lp_int_size(id.ms.wrapping_sub(master.ms) as i64)
        + lp_int_size(id.seq.wrapping_sub(master.seq) as i64);
    if !same {
        size += lp_int_size(n);
    }
    for (f, v) in pairs {
        if !same {
            size += lp_str_size(f);
        }
        size += lp_str_size(v);
    }
    let lp_count = n + 3 + if same { 0 } else { n + 1 };
    size + lp_int_size(lp_count)
}

// ---------------------------------------------------------------------------
// The node
// ---------------------------------------------------------------------------

/// A node: its entries packed in `buf` (master fields first).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Node {
    buf: Vec<u8>,
    /// Offset of the first entry.
    entries_at: u32,
    /// Live entries (Redis's `count`).
    live: u32,
    /// Entries marked deleted.
    deleted: u32,
    /// Bytes of Redis's listpack for this node, minus the two counters.
    lp_rest: u64,
}

/// One entry as found in a node: where it starts and what it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawEntry {
    pub id: StreamId,
    pub flags: u8,
    /// Offset of the flags byte.
    pub at: usize,
    /// Offset of the first value (same fields) or field.
    body: usize,
    /// Number of field/value pairs.
    pub nfields: usize,
    /// Offset after the entry.
    pub end: usize,
}

impl RawEntry {
    pub fn deleted(&self) -> bool {
        self.flags & FLAG_DELETED != 0
    }
    pub fn same_fields(&self) -> bool {
        self.flags & FLAG_SAMEFIELDS != 0
    }
}

impl Node {
    /// A node for the entry `id` with `pairs`, which become the master
    /// fields; `reserve` bytes are set aside for the entries to come.
    pub fn new(master: StreamId, pairs: &[(&[u8], &[u8])], reserve: usize) -> Node {
        let fields: Vec<&[u8]> = pairs.iter().map(|(f, _)| *f).collect();
        let mut n = Node::with_fields(&fields, reserve);
        n.push(master, master, FLAG_SAMEFIELDS, pairs);
        n
    }

    /// An empty node with these master fields (loading builds nodes
    /// entry by entry).
    pub fn with_fields(fields: &[&[u8]], reserve: usize) -> Node {
        let mut buf = Vec::with_capacity(reserve);
        varint::put(&mut buf, fields.len() as u64);
        // Listpack header and end byte, the field count, the fields, the
        // zero terminator of the master entry.
        let mut lp_rest = 6 + 1 + lp_int_size(fields.len() as i64) + lp_int_size(0);
        for f in fields {
            put_elem(&mut buf, f);
            lp_rest += lp_str_size(f);
        }
        Node {
            entries_at: buf.len() as u32,
            buf,
            live: 0,
            deleted: 0,
            lp_rest,
        }
    }

    /// Live entries.
    pub fn live(&self) -> u64 {
        u64::from(self.live)
    }

    /// Entries marked deleted.
    pub fn deleted(&self) -> u64 {
        u64::from(self.deleted)
    }

    /// All entries, live or deleted.
    pub fn total(&self) -> u64 {
        self.live() + self.deleted()
    }

    /// Size of Redis's listpack for this node (`lpBytes`).
    pub fn lp_bytes(&self) -> u64 {
        self.lp_rest + lp_int_size(i64::from(self.live)) + lp_int_size(i64::from(self.deleted))
    }

    /// Bytes held on the heap.
    pub fn heap_size(&self) -> usize {
        self.buf.capacity()
    }

    /// Gives back spare capacity (a full node gets no more entries).
    pub fn shrink(&mut self) {
        self.buf.shrink_to_fit();
    }

    /// The master field names.
    pub fn master_fields(&self) -> MasterFields<'_> {
        let (n, at) = varint::read(&self.buf, 0).unwrap_or((0, self.buf.len()));
        MasterFields {
            buf: &self.buf[..self.entries_at as usize],
            at,
            left: n as usize,
        }
    }

    fn master_count(&self) -> usize {
        varint::read(&self.buf, 0).map_or(0, |(n, _)| n as usize)
    }

    /// Whether `pairs` has exactly the master fields, in order.
    pub fn has_master_fields(&self, pairs: &[(&[u8], &[u8])]) -> bool {
        let mut fields = self.master_fields();
        if fields.len() != pairs.len() {
            return false;
        }
        pairs
            .iter()
            .all(|(f, _)| fields.next().is_some_and(|m| m.eq_bytes(f)))
    }

    /// Appends an entry (`master` is this node's key).
    pub fn push(&mut self, master: StreamId, id: StreamId, flags: u8, pairs: &[(&[u8], &[u8])]) {
        let ms_delta = id.ms.wrapping_sub(master.ms);
        let seq = if ms_delta == 0 {
            id.seq.wrapping_sub(master.seq)
        } else {
            id.seq
        };
        let same = flags & FLAG_SAMEFIELDS != 0;
        let mut need = 1 + varint::len(ms_delta) + varint::len(seq);
        if !same {
            need += varint::len(pairs.len() as u64);
        }
        for (f, v) in pairs {
            if !same {
                need += elem_size(f);
            }
            need += elem_size(v);
        }
        // Grow by half again rather than doubling: the last node keeps
        // the spare room, every full one is shrunk.
        if self.buf.capacity() - self.buf.len() < need {
            self.buf.reserve(need.max(self.buf.len() / 2));
        }
        self.buf.push(flags);
        varint::put(&mut self.buf, ms_delta);
        varint::put(&mut self.buf, seq);
        if !same {
            varint::put(&mut self.buf, pairs.len() as u64);
        }
        for (f, v) in pairs {
            if !same {
                put_elem(&mut self.buf, f);
            }
            put_elem(&mut self.buf, v);
        }
        self.lp_rest += lp_entry_size(master, id, flags, pairs);
        if flags & FLAG_DELETED != 0 {
            self.deleted += 1;
        } else {
            self.live += 1;
        }
    }

    /// Decodes the entry at `at`.
    pub fn entry_at(&self, master: StreamId, at: usize) -> Option<RawEntry> {
        let buf = &self.buf;
        let flags = *buf.get(at)?;
        let (ms_delta, p) = varint::read(buf, at + 1)?;
        let (seq, mut p) = varint::read(buf, p)?;
        let id = if ms_delta == 0 {
            StreamId::new(master.ms, master.seq.wrapping_add(seq))
        } else {
            StreamId::new(master.ms.wrapping_add(ms_delta), seq)
        };
        let same = flags & FLAG_SAMEFIELDS != 0;
        let nfields = if same {
            self.master_count()
        } else {
            let (n, q) = varint::read(buf, p)?;
            p = q;
            usize::try_from(n).ok()?
        };
        let body = p;
        let per = if same { 1 } else { 2 };
        for _ in 0..nfields.checked_mul(per)? {
            p = skip_elem(buf, p)?;
        }
        Some(RawEntry {
            id,
            flags,
            at,
            body,
            nfields,
            end: p,
        })
    }

    /// Offset of the first entry.
    pub fn first_at(&self) -> usize {
        self.entries_at as usize
    }

    /// Offset past the last entry.
    pub fn end(&self) -> usize {
        self.buf.len()
    }

    /// Every entry, deleted or not, in order.
    pub fn entries(&self, master: StreamId) -> impl Iterator<Item = RawEntry> + '_ {
        let mut at = self.first_at();
        std::iter::from_fn(move || {
            if at >= self.buf.len() {
                return None;
            }
            let e = self.entry_at(master, at)?;
            at = e.end;
            Some(e)
        })
    }

    /// Offsets of every entry, in order (for walks from the back).
    pub fn offsets(&self, master: StreamId) -> Vec<usize> {
        let mut v = Vec::with_capacity(self.total() as usize);
        let mut at = self.first_at();
        while at < self.buf.len() {
            let Some(e) = self.entry_at(master, at) else {
                break;
            };
            v.push(at);
            at = e.end;
        }
        v
    }

    /// The field/value pairs of `e`.
    pub fn pairs<'a>(&'a self, e: &RawEntry) -> Pairs<'a> {
        Pairs {
            buf: &self.buf,
            master: if e.same_fields() {
                Some(self.master_fields())
            } else {
                None
            },
            at: e.body,
            left: e.nfields,
        }
    }

    /// Marks the live entry at `at` deleted.
    pub fn mark_deleted(&mut self, at: usize) {
        if let Some(f) = self.buf.get_mut(at) {
            if *f & FLAG_DELETED == 0 {
                *f |= FLAG_DELETED;
                self.live = self.live.saturating_sub(1);
                self.deleted += 1;
            }
        }
    }

    /// The ID of the last entry, deleted or not (Redis's
    /// `lpGetEdgeStreamID` from the end).
    pub fn last_entry_id(&self, master: StreamId) -> Option<StreamId> {
        let mut at = self.first_at();
        let mut last = None;
        while at < self.buf.len() {
            let e = self.entry_at(master, at)?;
            last = Some(e.id);
            at = e.end;
        }
        last
    }
}

/// Iterator over a node's master fields.
#[derive(Debug, Clone)]
pub struct MasterFields<'a> {
    buf: &'a [u8],
    at: usize,
    left: usize,
}

impl<'a> Iterator for MasterFields<'a> {
    type Item = Elem<'a>;
    fn next(&mut self) -> Option<Elem<'a>> {
        if self.left == 0 {
            return None;
        }
        let (e, next) = read_elem(self.buf, self.at)?;
        self.at = next;
        self.left -= 1;
        Some(e)
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl ExactSizeIterator for MasterFields<'_> {}

/// Iterator over an entry's field/value pairs.
#[derive(Debug, Clone)]
pub struct Pairs<'a> {
    buf: &'a [u8],
    master: Option<MasterFields<'a>>,
    at: usize,
    left: usize,
}

impl<'a> Iterator for Pairs<'a> {
    type Item = (Elem<'a>, Elem<'a>);
    fn next(&mut self) -> Option<(Elem<'a>, Elem<'a>)> {
        if self.left == 0 {
            return None;
        }
        let field = match &mut self.master {
            Some(m) => m.next()?,
            None => {
                let (f, next) = read_elem(self.buf, self.at)?;
                self.at = next;
                f
            }
        };
        let (value, next) = read_elem(self.buf, self.at)?;
        self.at = next;
        self.left -= 1;
        Some((field, value))
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl ExactSizeIterator for Pairs<'_> {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elements_round_trip_and_keep_integers_small() {
        for s in [
            &b""[..],
            b"a",
            b"0",
            b"-0",
            b"007",
            b"12",
            b"-4096",
            b"1700000000000",
            b"9223372036854775807",
            b"-9223372036854775808",
            b"99999999999999999999",
            &[b'x'; 300],
        ] {
            let mut b = vec![];
            put_elem(&mut b, s);
            assert_eq!(b.len(), elem_size(s), "{s:?}");
            let (e, end) = read_elem(&b, 0).unwrap_or((Elem::Int(-1), 0));
            assert_eq!(end, b.len());
            assert_eq!(e.to_vec(), s.to_vec());
            assert!(e.eq_bytes(s));
        }
        let mut b = vec![];
        put_elem(&mut b, b"17");
        assert_eq!(b.len(), 2);
        assert_eq!(read_elem(&b, 0).map(|e| e.0), Some(Elem::Int(17)));
        assert_eq!(read_elem(&b[..0], 0), None);
    }

    #[test]
    fn listpack_sizes_follow_redis() {
        assert_eq!(lp_int_size(0), 2);
        assert_eq!(lp_int_size(127), 2);
        assert_eq!(lp_int_size(128), 3);
        assert_eq!(lp_int_size(-1), 3);
        assert_eq!(lp_int_size(40000), 5);
        assert_eq!(lp_int_size(1 << 40), 10);
        assert_eq!(lp_str_size(b"v"), 3);
        assert_eq!(lp_str_size(b"100"), 2);
        assert_eq!(lp_str_size(&[b'a'; 63]), 65);
        assert_eq!(lp_str_size(&[b'a'; 64]), 67);
        // The node of one `XADD s 1-1 f v`: header 6, count 2, deleted 2,
        // num-fields 2, "f" 3, terminator 2, flags 2, deltas 2+2, "v" 3,
        // lp-count 2, end 1.
        let id = StreamId::new(1, 1);
        let n = Node::new(id, &[(b"f", b"v")], 64);
        assert_eq!(n.lp_bytes(), 29);
    }

    #[test]
    fn entries_decode_with_and_without_master_fields() {
        let m = StreamId::new(100, 5);
        let mut n = Node::new(m, &[(b"a", b"1"), (b"b", b"two")], 0);
        n.push(
            m,
            StreamId::new(100, 9),
            FLAG_SAMEFIELDS,
            &[(b"a", b"x"), (b"b", b"y")],
        );
        n.push(m, StreamId::new(130, 0), 0, &[(b"c", b"z")]);
        assert!(n.has_master_fields(&[(b"a", b""), (b"b", b"")]));
        assert!(!n.has_master_fields(&[(b"a", b"")]));
        let offs = n.offsets(m);
        assert_eq!(offs.len(), 3);
        type Pairs = Vec<(Vec<u8>, Vec<u8>)>;
        let got: Vec<(StreamId, Pairs)> = offs
            .iter()
            .filter_map(|&at| n.entry_at(m, at))
            .map(|e| {
                let pairs = n.pairs(&e).map(|(f, v)| (f.to_vec(), v.to_vec())).collect();
                (e.id, pairs)
            })
            .collect();
        assert_eq!(got[0].0, m);
        assert_eq!(got[1].1[1], (b"b".to_vec(), b"y".to_vec()));
        assert_eq!(
            got[2],
            (StreamId::new(130, 0), vec![(b"c".to_vec(), b"z".to_vec())])
        );
        assert_eq!(n.last_entry_id(m), Some(StreamId::new(130, 0)));
        n.mark_deleted(offs[1]);
        n.mark_deleted(offs[1]);
        assert_eq!((n.live(), n.deleted()), (2, 1));
        assert!(n.entry_at(m, offs[1]).is_some_and(|e| e.deleted()));
    }
}
