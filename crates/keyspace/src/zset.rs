//! Sorted sets: `listpack` while small, `skiplist` beyond, as Redis
//! reports them.
//!
//! - [`ZSet::Listpack`]: one packed, exact-size byte buffer ([`Packed`])
//!   of entries `score | member length (varint) | member` kept in order
//!   (score, then member bytes), walked linearly as Redis walks its
//!   listpack: one allocation per set. A score that is an integer of at
//!   most 53 bits is a tag byte and a zigzag varint (2 bytes for small
//!   ranks, as Redis's listpack stores integral scores as integers), any
//!   other a tag byte and 8 bytes.
//! - [`ZSet::Skiplist`]: an order-statistic sequence of `(score, member)`
//!   ([`Ordered`]: sorted chunks of at most 512 pairs, so a rank is a
//!   binary search plus a sum over chunk lengths, and a range read is a
//!   seek plus a sequential walk) and a member → score index: the roles
//!   Redis gives its skiplist (with span counts) and its dict.
//!   The index is the keyspace's own `KeyTable` (members inline up to 22
//!   bytes, as in the sequence), whose dense positions ZSCAN uses as
//!   cursors (the same guarantee SCAN gives over the keyspace).
//!
//! A set converts to the skiplist form once it has more than
//! `zset-max-listpack-entries` members or a member longer than
//! `zset-max-listpack-value` bytes, and never converts back, as in Redis.
//! Commands that build a new set from a result (ZUNIONSTORE, ZRANGESTORE,
//! ...) choose the encoding from the final contents ([`ZSet::from_sorted`]).
//!
//! Scores are never NaN (the server refuses NaN before it reaches here), so
//! ordering by `partial_cmp` is total; `-0` and `0` compare equal, as C's
//! `<` does in Redis.

use crate::small::SmallBytes;
use crate::table::KeyTable;
use crate::types::EncodingLimits;
use crate::varint;
use std::cmp::Ordering;

fn cmp_entry(s1: f64, m1: &[u8], s2: f64, m2: &[u8]) -> Ordering {
    match s1.partial_cmp(&s2) {
        Some(Ordering::Equal) | None => m1.cmp(m2),
        Some(o) => o,
    }
}

/// The small form: entries packed into one buffer, in order. A
/// `Box<[u8]>` (no spare capacity, 16 bytes inline) so the set is not
/// boxed again inside `Value`; the entry count is walked for, as the set
/// is small by construction (`zset-max-listpack-entries`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Packed {
    buf: Box<[u8]>,
}

/// Score tags: an `f64` in 8 bytes follows, or a zigzag varint.
const SCORE_F64: u8 = 0;
const SCORE_INT: u8 = 1;
/// Integral scores up to this magnitude are stored as integers (every
/// integer up to 2^53 is exactly an f64 and back).
const SCORE_INT_MAX: f64 = 9_007_199_254_740_992.0;

/// Forward iterator over a [`Packed`] buffer.
pub struct PackedIter<'a> {
    buf: &'a [u8],
    at: usize,
}

impl<'a> Iterator for PackedIter<'a> {
    type Item = (f64, &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        let (score, member, next) = read_entry(self.buf, self.at)?;
        self.at = next;
        Some((score, member))
    }
}

/// Decodes the entry at `at`: score, member, offset of the next entry.
fn read_entry(buf: &[u8], at: usize) -> Option<(f64, &[u8], usize)> {
    let (score, i) = match *buf.get(at)? {
        SCORE_INT => {
            let (z, i) = varint::read(buf, at + 1)?;
            let n = (z >> 1) as i64 ^ -((z & 1) as i64);
            (n as f64, i)
        }
        _ => (
            f64::from_le_bytes(buf.get(at + 1..at + 9)?.try_into().ok()?),
            at + 9,
        ),
    };
    let (len, i) = varint::read(buf, i)?;
    let end = i.checked_add(usize::try_from(len).ok()?)?;
    let member = buf.get(i..end)?;
    Some((score, member, end))
}

fn write_entry(out: &mut Vec<u8>, score: f64, member: &[u8]) {
    // Redis's listpack keeps a zero score as the integer 0, so a `-0`
    // reads back as `0` while the set is small (the skiplist keeps -0).
    let score = if score == 0.0 { 0.0 } else { score };
    if score.fract() == 0.0 && score.abs() <= SCORE_INT_MAX {
        let n = score as i64;
        out.push(SCORE_INT);
        varint::put(out, ((n << 1) ^ (n >> 63)) as u64);
    } else {
        out.push(SCORE_F64);
        out.extend_from_slice(&score.to_le_bytes());
    }
    varint::put(out, member.len() as u64);
    out.extend_from_slice(member);
}

/// Bytes [`write_entry`] writes.
fn entry_len(score: f64, member: &[u8]) -> usize {
    let mut e = Vec::with_capacity(member.len() + 20);
    write_entry(&mut e, score, member);
    e.len()
}

impl Packed {
    fn iter(&self) -> PackedIter<'_> {
        PackedIter {
            buf: &self.buf,
            at: 0,
        }
    }

    fn len(&self) -> usize {
        self.iter().count()
    }

    /// Runs `f` on the buffer as a `Vec` (no copy) and stores the result
    /// back at its exact size.
    fn edit(&mut self, f: impl FnOnce(&mut Vec<u8>)) {
        let mut v = std::mem::take(&mut self.buf).into_vec();
        f(&mut v);
        self.buf = v.into_boxed_slice();
    }

    /// Entries in reverse order (collected: entries only chain forwards,
    /// and a listpack is small).
    fn rev(&self) -> std::iter::Rev<std::vec::IntoIter<(f64, &[u8])>> {
        self.iter().collect::<Vec<_>>().into_iter().rev()
    }

    /// Index, byte range and score of `member`.
    fn find(&self, member: &[u8]) -> Option<(usize, std::ops::Range<usize>, f64)> {
        let mut at = 0;
        let mut idx = 0;
        while let Some((s, m, next)) = read_entry(&self.buf, at) {
            if m == member {
                return Some((idx, at..next, s));
            }
            at = next;
            idx += 1;
        }
        None
    }

    fn insert_sorted(&mut self, score: f64, member: &[u8]) {
        let mut at = 0;
        while let Some((s, m, next)) = read_entry(&self.buf, at) {
            if cmp_entry(s, m, score, member) != Ordering::Less {
                break;
            }
            at = next;
        }
        let mut e = Vec::with_capacity(member.len() + 20);
        write_entry(&mut e, score, member);
        self.edit(|buf| {
            buf.reserve_exact(e.len());
            buf.splice(at..at, e);
        });
    }

    fn remove_range(&mut self, r: std::ops::Range<usize>) {
        self.edit(|buf| {
            buf.drain(r);
        });
    }
}

/// Pairs per chunk after a split; a chunk splits past twice this.
const CHUNK: usize = 256;

/// A member is a [`SmallBytes`]: up to 22 bytes inline, so most members
/// cost no heap block of their own in the sequence or in the index.
type Pair = (f64, SmallBytes);

/// A sorted sequence of pairs kept in chunks: inserting or removing moves
/// at most one chunk's worth of pointers, and a position is (chunk, index).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Ordered {
    chunks: Vec<Vec<Pair>>,
}

impl Ordered {
    /// The position of the first pair for which `less` is false (`less`
    /// must hold for a prefix of the sequence).
    fn lower(&self, less: impl Fn(f64, &[u8]) -> bool) -> (usize, usize) {
        let ci = self
            .chunks
            .partition_point(|c| c.last().is_none_or(|(s, m)| less(*s, m)));
        match self.chunks.get(ci) {
            None => (ci, 0),
            Some(c) => (ci, c.partition_point(|(s, m)| less(*s, m))),
        }
    }

    fn lower_entry(&self, score: f64, member: &[u8]) -> (usize, usize) {
        self.lower(|s, m| cmp_entry(s, m, score, member) == Ordering::Less)
    }

    /// The rank of a position.
    fn flat(&self, (ci, i): (usize, usize)) -> usize {
        self.chunks[..ci].iter().map(Vec::len).sum::<usize>() + i
    }

    /// The position of rank `r` (the end position when `r` is the length).
    fn at_rank(&self, mut r: usize) -> (usize, usize) {
        for (ci, c) in self.chunks.iter().enumerate() {
            if r < c.len() {
                return (ci, r);
            }
            r -= c.len();
        }
        (self.chunks.len(), 0)
    }

    fn insert(&mut self, score: f64, member: SmallBytes) {
        let (mut ci, mut i) = self.lower_entry(score, &member);
        if self.chunks.is_empty() {
            self.chunks.push(Vec::new());
            (ci, i) = (0, 0);
        } else if ci == self.chunks.len() {
            ci -= 1;
            i = self.chunks[ci].len();
        }
        let c = &mut self.chunks[ci];
        c.insert(i, (score, member));
        if c.len() > 2 * CHUNK {
            let tail = c.split_off(CHUNK);
            self.chunks.insert(ci + 1, tail);
        }
    }

    fn remove(&mut self, score: f64, member: &[u8]) -> bool {
        let (ci, i) = self.lower_entry(score, member);
        let Some(c) = self.chunks.get_mut(ci) else {
            return false;
        };
        match c.get(i) {
            Some((s, m)) if *s == score && &**m == member => {
                c.remove(i);
                if c.is_empty() {
                    self.chunks.remove(ci);
                }
                true
            }
            _ => false,
        }
    }

    /// Pairs from position `p` to the end.
    fn iter_from(&self, (ci, i): (usize, usize)) -> impl Iterator<Item = &Pair> {
        let first = self.chunks.get(ci).map(|c| &c[i.min(c.len())..]);
        let rest = self.chunks.get(ci + 1..).unwrap_or(&[]);
        first
            .into_iter()
            .flatten()
            .chain(rest.iter().flat_map(|c| c.iter()))
    }

    /// Pairs before position `p`, from the nearest one backwards.
    fn iter_rev_before(&self, (ci, i): (usize, usize)) -> impl Iterator<Item = &Pair> {
        let ci = ci.min(self.chunks.len());
        let first = self.chunks.get(ci).map(|c| &c[..i.min(c.len())]);
        first
            .into_iter()
            .flat_map(|c| c.iter().rev())
            .chain(self.chunks[..ci].iter().rev().flat_map(|c| c.iter().rev()))
    }
}

/// The large form: the ordered sequence and the member index.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Skiplist {
    order: Ordered,
    dict: KeyTable<f64>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ZSet {
    /// `(score, member)` pairs in order.
    Listpack(Packed),
    Skiplist(Box<Skiplist>),
}

impl Default for ZSet {
    fn default() -> Self {
        ZSet::Listpack(Packed::default())
    }
}

/// One end of a score range (`(1.5` is exclusive, `1.5` inclusive).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScoreRange {
    pub min: f64,
    pub max: f64,
    pub minex: bool,
    pub maxex: bool,
}

impl ScoreRange {
    pub fn gte_min(&self, s: f64) -> bool {
        if self.minex {
            s > self.min
        } else {
            s >= self.min
        }
    }

    pub fn lte_max(&self, s: f64) -> bool {
        if self.maxex {
            s < self.max
        } else {
            s <= self.max
        }
    }

    /// Whether no score can be in range (Redis checks this first).
    pub fn is_empty(&self) -> bool {
        self.min > self.max || (self.min == self.max && (self.minex || self.maxex))
    }
}

/// One end of a lexicographic range: `-`, `+`, `[x` or `(x`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LexBound {
    MinusInf,
    PlusInf,
    Incl(Vec<u8>),
    Excl(Vec<u8>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LexRange {
    pub min: LexBound,
    pub max: LexBound,
}

impl LexRange {
    pub fn gte_min(&self, m: &[u8]) -> bool {
        match &self.min {
            LexBound::MinusInf => true,
            LexBound::PlusInf => false,
            LexBound::Incl(b) => m >= b.as_slice(),
            LexBound::Excl(b) => m > b.as_slice(),
        }
    }

    pub fn lte_max(&self, m: &[u8]) -> bool {
        match &self.max {
            LexBound::MinusInf => false,
            LexBound::PlusInf => true,
            LexBound::Incl(b) => m <= b.as_slice(),
            LexBound::Excl(b) => m < b.as_slice(),
        }
    }

    /// Whether no member can be in range (Redis's `zslIsInLexRange` test).
    pub fn is_empty(&self) -> bool {
        let cmp = match (&self.min, &self.max) {
            (LexBound::PlusInf, _) | (_, LexBound::MinusInf) => return true,
            (LexBound::MinusInf, _) | (_, LexBound::PlusInf) => return false,
            (LexBound::Incl(a) | LexBound::Excl(a), LexBound::Incl(b) | LexBound::Excl(b)) => {
                a.cmp(b)
            }
        };
        let either_ex =
            matches!(self.min, LexBound::Excl(_)) || matches!(self.max, LexBound::Excl(_));
        cmp == Ordering::Greater || (cmp == Ordering::Equal && either_ex)
    }
}

/// An iterator over `(score, member)` in one direction.
pub type Iter<'a> = Box<dyn Iterator<Item = (f64, &'a [u8])> + 'a>;

impl ZSet {
    pub fn new() -> ZSet {
        ZSet::default()
    }

    /// An empty set in the encoding Redis's `zsetTypeCreate` picks for
    /// `size_hint` members of which the longest is `max_len` bytes.
    pub fn with_hint(size_hint: usize, max_len: usize, limits: &EncodingLimits) -> ZSet {
        if size_hint <= limits.zset_max_listpack_entries
            && max_len <= limits.zset_max_listpack_value
        {
            ZSet::Listpack(Packed::default())
        } else {
            ZSet::Skiplist(Box::default())
        }
    }

    /// Builds a set from pairs already in order and without duplicates,
    /// choosing the encoding from the final contents.
    pub fn from_sorted(items: Vec<(f64, Box<[u8]>)>, limits: &EncodingLimits) -> ZSet {
        let max_len = items.iter().map(|(_, m)| m.len()).max().unwrap_or(0);
        if items.len() <= limits.zset_max_listpack_entries
            && max_len <= limits.zset_max_listpack_value
        {
            let size = items.iter().map(|(s, m)| entry_len(*s, m)).sum();
            let mut buf = Vec::with_capacity(size);
            for (s, m) in &items {
                write_entry(&mut buf, *s, m);
            }
            ZSet::Listpack(Packed {
                buf: buf.into_boxed_slice(),
            })
        } else {
            let mut sl = Skiplist::default();
            for (s, m) in items {
                sl.dict.insert(&m, s);
                sl.order.insert(s, SmallBytes::from_vec(m.into_vec()));
            }
            ZSet::Skiplist(Box::new(sl))
        }
    }

    pub fn len(&self) -> usize {
        match self {
            ZSet::Listpack(p) => p.len(),
            ZSet::Skiplist(s) => s.dict.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn encoding(&self) -> &'static str {
        match self {
            ZSet::Listpack(_) => "listpack",
            ZSet::Skiplist(_) => "skiplist",
        }
    }

    pub fn heap_size(&self) -> usize {
        match self {
            ZSet::Listpack(p) => p.buf.len(),
            ZSet::Skiplist(s) => s.dict.iter().map(|(m, _)| 2 * m.len() + 80).sum(),
        }
    }

    pub fn score(&self, member: &[u8]) -> Option<f64> {
        match self {
            ZSet::Listpack(p) => p.find(member).map(|(_, _, s)| s),
            ZSet::Skiplist(s) => s.dict.get(member).copied(),
        }
    }

    /// Moves a listpack set to the skiplist encoding (SORT does this to
    /// the set it reads, as Redis 7.0 does).
    pub fn convert(&mut self) {
        if let ZSet::Listpack(p) = self {
            let mut sl = Skiplist::default();
            for (s, m) in p.iter() {
                sl.dict.insert(m, s);
                sl.order.insert(s, m.into());
            }
            *self = ZSet::Skiplist(Box::new(sl));
        }
    }

    /// Sets `member`'s score, adding it if missing (converting to the
    /// skiplist form when a threshold is passed). Returns the old score.
    pub fn insert(&mut self, member: &[u8], score: f64, limits: &EncodingLimits) -> Option<f64> {
        if let ZSet::Listpack(p) = self {
            if let Some((_, range, old)) = p.find(member) {
                if old.to_bits() != score.to_bits() {
                    p.remove_range(range);
                    p.insert_sorted(score, member);
                }
                return Some(old);
            }
            if p.len() < limits.zset_max_listpack_entries
                && member.len() <= limits.zset_max_listpack_value
            {
                p.insert_sorted(score, member);
                return None;
            }
            self.convert();
        }
        match self {
            ZSet::Skiplist(sl) => match sl.dict.get_mut(member) {
                Some(s) => {
                    let old = *s;
                    *s = score;
                    if old.to_bits() != score.to_bits() {
                        sl.order.remove(old, member);
                        sl.order.insert(score, member.into());
                    }
                    Some(old)
                }
                None => {
                    sl.dict.insert(member, score);
                    sl.order.insert(score, member.into());
                    None
                }
            },
            ZSet::Listpack(_) => None,
        }
    }

    /// Removes `member`; returns its score.
    pub fn remove(&mut self, member: &[u8]) -> Option<f64> {
        match self {
            ZSet::Listpack(p) => {
                let (_, range, s) = p.find(member)?;
                p.remove_range(range);
                Some(s)
            }
            ZSet::Skiplist(sl) => {
                let s = sl.dict.swap_remove(member)?;
                sl.order.remove(s, member);
                Some(s)
            }
        }
    }

    /// 0-based rank of `member` (from the highest score when `rev`).
    pub fn rank(&self, member: &[u8], rev: bool) -> Option<usize> {
        let r = match self {
            ZSet::Listpack(p) => p.find(member)?.0,
            ZSet::Skiplist(sl) => {
                let s = *sl.dict.get(member)?;
                sl.order.flat(sl.order.lower_entry(s, member))
            }
        };
        Some(if rev { self.len() - 1 - r } else { r })
    }

    /// All members in order (or reverse order).
    pub fn iter(&self, rev: bool) -> Iter<'_> {
        match (self, rev) {
            (ZSet::Listpack(p), false) => Box::new(p.iter()),
            (ZSet::Listpack(p), true) => Box::new(p.rev()),
            (ZSet::Skiplist(sl), false) => {
                Box::new(sl.order.iter_from((0, 0)).map(|(s, m)| (*s, &**m)))
            }
            (ZSet::Skiplist(sl), true) => Box::new(
                sl.order
                    .iter_rev_before((sl.order.chunks.len(), 0))
                    .map(|(s, m)| (*s, &**m)),
            ),
        }
    }

    /// Members from rank `start` on (ranks counted from the end when
    /// `rev`).
    pub fn iter_from_rank(&self, start: usize, rev: bool) -> Iter<'_> {
        match (self, rev) {
            (ZSet::Listpack(p), false) => Box::new(p.iter().skip(start)),
            (ZSet::Listpack(p), true) => Box::new(p.rev().skip(start)),
            (ZSet::Skiplist(sl), false) => Box::new(
                sl.order
                    .iter_from(sl.order.at_rank(start))
                    .map(|(s, m)| (*s, &**m)),
            ),
            (ZSet::Skiplist(sl), true) => {
                let len = self.len();
                if start >= len {
                    return Box::new(std::iter::empty());
                }
                Box::new(
                    sl.order
                        .iter_rev_before(sl.order.at_rank(len - start))
                        .map(|(s, m)| (*s, &**m)),
                )
            }
        }
    }

    /// Members whose score is in `r`, in order (from the top when `rev`).
    pub fn iter_score<'a>(&'a self, r: ScoreRange, rev: bool) -> Iter<'a> {
        match self {
            ZSet::Listpack(p) => {
                if rev {
                    Box::new(
                        p.rev()
                            .skip_while(move |(s, _)| !r.lte_max(*s))
                            .take_while(move |(s, _)| r.gte_min(*s)),
                    )
                } else {
                    Box::new(
                        p.iter()
                            .skip_while(move |(s, _)| !r.gte_min(*s))
                            .take_while(move |(s, _)| r.lte_max(*s)),
                    )
                }
            }
            ZSet::Skiplist(sl) => {
                if r.is_empty() {
                    return Box::new(std::iter::empty());
                }
                if rev {
                    let hi = sl.order.lower(|s, _| r.lte_max(s));
                    Box::new(
                        sl.order
                            .iter_rev_before(hi)
                            .take_while(move |(s, _)| r.gte_min(*s))
                            .map(|(s, m)| (*s, &**m)),
                    )
                } else {
                    let lo = sl.order.lower(|s, _| !r.gte_min(s));
                    Box::new(
                        sl.order
                            .iter_from(lo)
                            .take_while(move |(s, _)| r.lte_max(*s))
                            .map(|(s, m)| (*s, &**m)),
                    )
                }
            }
        }
    }

    /// Members in the lexicographic range `r` (meaningful when all scores
    /// are equal, as Redis documents), in order or from the top.
    pub fn iter_lex<'a>(&'a self, r: &'a LexRange, rev: bool) -> Iter<'a> {
        if r.is_empty() {
            return Box::new(std::iter::empty());
        }
        if rev {
            Box::new(
                self.iter(true)
                    .skip_while(move |(_, m)| !r.lte_max(m))
                    .take_while(move |(_, m)| r.gte_min(m)),
            )
        } else {
            Box::new(
                self.iter(false)
                    .skip_while(move |(_, m)| !r.gte_min(m))
                    .take_while(move |(_, m)| r.lte_max(m)),
            )
        }
    }

    /// Removes each of `members` present; returns how many were removed.
    pub fn remove_all(&mut self, members: &[Box<[u8]>]) -> usize {
        members.iter().filter(|m| self.remove(m).is_some()).count()
    }

    /// The member at dense position `i` (for ZSCAN and random picks).
    pub fn at(&self, i: usize) -> Option<(f64, &[u8])> {
        match self {
            ZSet::Listpack(p) => p.iter().nth(i),
            ZSet::Skiplist(sl) => sl.dict.get_index(i).map(|(m, s)| (*s, &**m)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listpack_scores_round_trip_exactly_whatever_their_form() {
        let l = EncodingLimits::default();
        let scores = [
            0.0,
            1.0,
            -1.0,
            42.0,
            -1e15,
            SCORE_INT_MAX,
            -SCORE_INT_MAX,
            SCORE_INT_MAX * 2.0,
            0.5,
            -3.25,
            1e300,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::MIN_POSITIVE,
        ];
        let mut z = ZSet::default();
        for (i, s) in scores.iter().enumerate() {
            z.insert(format!("m{i}").as_bytes(), *s, &l);
        }
        assert_eq!(z.encoding(), "listpack");
        assert_eq!(z.len(), scores.len());
        for (i, s) in scores.iter().enumerate() {
            assert_eq!(
                z.score(format!("m{i}").as_bytes()).map(f64::to_bits),
                Some(s.to_bits())
            );
        }
        // Small integral scores cost two bytes, others nine.
        let mut small = ZSet::default();
        small.insert(b"a", 7.0, &l);
        assert_eq!(small.heap_size(), 2 + 1 + 1);
        let mut frac = ZSet::default();
        frac.insert(b"a", 7.5, &l);
        assert_eq!(frac.heap_size(), 9 + 1 + 1);
        assert_eq!(std::mem::size_of::<ZSet>(), 16);
    }

    fn limits(entries: usize) -> EncodingLimits {
        EncodingLimits {
            zset_max_listpack_entries: entries,
            ..EncodingLimits::default()
        }
    }

    fn members(z: &ZSet, rev: bool) -> Vec<String> {
        z.iter(rev)
            .map(|(_, m)| String::from_utf8_lossy(m).into_owned())
            .collect()
    }

    #[test]
    fn both_encodings_agree_on_order_rank_and_ranges() {
        for entries in [128, 2] {
            let l = limits(entries);
            let mut z = ZSet::new();
            for (s, m) in [(2.0, "b"), (1.0, "z"), (2.0, "a"), (3.0, "c")] {
                assert_eq!(z.insert(m.as_bytes(), s, &l), None);
            }
            assert_eq!(z.insert(b"z", 5.0, &l), Some(1.0));
            assert_eq!(members(&z, false), ["a", "b", "c", "z"]);
            assert_eq!(z.rank(b"c", false), Some(2));
            assert_eq!(z.rank(b"c", true), Some(1));
            let r = ScoreRange {
                min: 2.0,
                max: 3.0,
                minex: false,
                maxex: true,
            };
            let got: Vec<&[u8]> = z.iter_score(r, false).map(|(_, m)| m).collect();
            assert_eq!(got, vec![&b"a"[..], b"b"]);
            let got: Vec<&[u8]> = z.iter_score(r, true).map(|(_, m)| m).collect();
            assert_eq!(got, vec![&b"b"[..], b"a"]);
            assert_eq!(z.remove(b"a"), Some(2.0));
            assert_eq!(z.len(), 3);
            assert_eq!(
                z.encoding(),
                if entries == 2 { "skiplist" } else { "listpack" }
            );
        }
    }

    #[test]
    fn chunked_order_matches_a_sorted_model_through_splits_and_removals() {
        let l = limits(0);
        let mut z = ZSet::new();
        let mut model: Vec<(f64, Vec<u8>)> = Vec::new();
        let mut seed: u64 = 42;
        let mut next = || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            seed >> 33
        };
        for round in 0..6000 {
            let m = format!("m{}", next() % 1500).into_bytes();
            let score = (next() % 200) as f64 / 4.0;
            if round % 3 == 2 {
                let had = model.iter().position(|(_, x)| *x == m);
                assert_eq!(z.remove(&m).is_some(), had.is_some());
                if let Some(i) = had {
                    model.remove(i);
                }
            } else {
                z.insert(&m, score, &l);
                model.retain(|(_, x)| *x != m);
                model.push((score, m));
            }
        }
        model.sort_by(|a, b| cmp_entry(a.0, &a.1, b.0, &b.1));
        let got: Vec<(f64, Vec<u8>)> = z.iter(false).map(|(s, m)| (s, m.to_vec())).collect();
        assert_eq!(got, model);
        assert_eq!(z.len(), model.len());
        for (i, (_, m)) in model.iter().enumerate().step_by(37) {
            assert_eq!(z.rank(m, false), Some(i));
            assert_eq!(
                z.iter_from_rank(i, false).next().map(|(_, x)| x.to_vec()),
                Some(m.clone())
            );
            let r = model.len() - 1 - i;
            assert_eq!(
                z.iter_from_rank(r, true).next().map(|(_, x)| x.to_vec()),
                Some(m.clone())
            );
        }
        let r = ScoreRange {
            min: 10.0,
            max: 20.0,
            minex: true,
            maxex: false,
        };
        let want: Vec<&[u8]> = model
            .iter()
            .filter(|(s, _)| r.gte_min(*s) && r.lte_max(*s))
            .map(|(_, m)| m.as_slice())
            .collect();
        let fwd: Vec<&[u8]> = z.iter_score(r, false).map(|(_, m)| m).collect();
        assert_eq!(fwd, want);
        let mut back: Vec<&[u8]> = z.iter_score(r, true).map(|(_, m)| m).collect();
        back.reverse();
        assert_eq!(back, want);
    }

    #[test]
    fn packed_entries_take_long_members_and_keep_order() {
        let l = EncodingLimits {
            zset_max_listpack_value: 1000,
            ..EncodingLimits::default()
        };
        let mut z = ZSet::new();
        let long = vec![b'x'; 300];
        z.insert(&long, 2.0, &l);
        z.insert(b"a", 3.0, &l);
        z.insert(b"b", -1.0, &l);
        z.insert(&long, 5.0, &l);
        assert_eq!(z.encoding(), "listpack");
        assert_eq!(members(&z, false), ["b", "a", &"x".repeat(300)]);
        assert_eq!(z.score(&long), Some(5.0));
        assert_eq!(z.rank(b"a", true), Some(1));
        assert_eq!(z.remove(b"a"), Some(3.0));
        assert_eq!(members(&z, true), [&"x".repeat(300), "b"]);
        assert!(z.heap_size() < 1024);
    }
}
