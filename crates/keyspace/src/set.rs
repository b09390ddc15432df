//! Sets: `intset` while every member is an integer and the set is small,
//! `hashtable` otherwise, as Redis 7.0 reports them.
//!
//! The encoding follows Redis's rules exactly, because `OBJECT ENCODING`
//! and the order of replies depend on it: a set is created as an intset
//! when its first member is an integer, becomes a hashtable the first time
//! a non-integer is added or it grows past `set-max-intset-entries`, and
//! never goes back. An intset replies in ascending order.
//!
//! The hashtable is the keyspace's own compact table (`table.rs`, members
//! up to 22 bytes inline): members sit in a dense vector, which gives O(1)
//! random members (`SPOP`, `SRANDMEMBER`) and an `SSCAN` cursor with the
//! same guarantee as the keyspace's `SCAN` (see `db.rs`). It is boxed so
//! that a set is 16 bytes, like the intset it starts as.

mod intset;

pub use intset::IntSet;

use crate::small::SmallBytes;
use crate::table::KeyTable;
use crate::value::{fmt_i64, parse_canonical_i64};
use rand::Rng;

/// The `hashtable` encoding: a set of byte strings with dense positions.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Table(KeyTable<()>);

impl Table {
    pub fn with_capacity(n: usize) -> Table {
        Table(KeyTable::with_capacity(n))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn capacity(&self) -> usize {
        self.0.capacity()
    }

    pub fn contains(&self, m: &[u8]) -> bool {
        self.0.contains_key(m)
    }

    /// Adds `m`; returns whether it was new.
    pub fn insert(&mut self, m: &[u8]) -> bool {
        self.0.insert(m, ()).is_none()
    }

    /// Removes `m` (the last member takes its position); returns whether
    /// it was there.
    pub fn swap_remove(&mut self, m: &[u8]) -> bool {
        self.0.swap_remove(m).is_some()
    }

    pub fn get_index(&self, i: usize) -> Option<&SmallBytes> {
        self.0.get_index(i).map(|(k, _)| k)
    }

    pub fn swap_remove_index(&mut self, i: usize) -> Option<SmallBytes> {
        self.0.swap_remove_index(i).map(|(k, _)| k)
    }

    pub fn iter(&self) -> impl Iterator<Item = &SmallBytes> {
        self.0.iter().map(|(k, _)| k)
    }

    pub fn shrink_to_fit(&mut self) {
        self.0.shrink_to(self.0.len());
    }

    /// Bytes of the table and of members too long to be inline.
    fn heap_size(&self) -> usize {
        self.0.table_bytes() + self.iter().map(|m| m.heap_size()).sum::<usize>()
    }
}

/// Redis caps `set-max-intset-entries` at 2^30 whatever the configuration.
const INTSET_HARD_LIMIT: usize = 1 << 30;

#[derive(Debug, Clone, PartialEq)]
pub enum Set {
    Intset(IntSet),
    Table(Box<Table>),
}

impl Default for Set {
    fn default() -> Self {
        Set::Intset(IntSet::default())
    }
}

/// A member as stored: an integer of an intset, or bytes of a hashtable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Member<'a> {
    Int(i64),
    Bytes(&'a [u8]),
}

impl<'a> Member<'a> {
    /// The member's bytes, formatting an integer into `scratch`.
    pub fn as_bytes<'b>(&'b self, scratch: &'b mut [u8; 24]) -> &'b [u8] {
        match self {
            Member::Int(n) => fmt_i64(*n, scratch),
            Member::Bytes(b) => b,
        }
    }

    pub fn to_vec(&self) -> Vec<u8> {
        let mut s = [0u8; 24];
        self.as_bytes(&mut s).to_vec()
    }
}

impl Set {
    pub fn new() -> Set {
        Set::default()
    }

    pub fn len(&self) -> usize {
        match self {
            Set::Intset(v) => v.len(),
            Set::Table(s) => s.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn encoding(&self) -> &'static str {
        match self {
            Set::Intset(_) => "intset",
            Set::Table(_) => "hashtable",
        }
    }

    pub fn heap_size(&self) -> usize {
        match self {
            Set::Intset(v) => v.heap_size(),
            Set::Table(s) => std::mem::size_of::<Table>() + s.heap_size(),
        }
    }

    /// Converts an intset to a hashtable, sized for its members.
    fn convert(&mut self) {
        if let Set::Intset(is) = self {
            let mut t = Table::with_capacity(is.len() + 1);
            let mut scratch = [0u8; 24];
            for v in is.iter() {
                t.insert(fmt_i64(v, &mut scratch));
            }
            *self = Set::Table(Box::new(t));
        }
    }

    /// Adds `m`; `max_intset` is `set-max-intset-entries`. Returns whether
    /// the member was new.
    pub fn add(&mut self, m: &[u8], max_intset: usize) -> bool {
        match self {
            Set::Table(t) => t.insert(m),
            Set::Intset(_) => match parse_canonical_i64(m) {
                Some(v) => self.add_int(v, max_intset),
                None => {
                    self.convert();
                    self.add(m, max_intset)
                }
            },
        }
    }

    /// Adds an integer member.
    pub fn add_int(&mut self, v: i64, max_intset: usize) -> bool {
        match self {
            Set::Intset(is) => {
                if !is.insert(v) {
                    return false;
                }
                if is.len() > max_intset.min(INTSET_HARD_LIMIT) {
                    self.convert();
                }
                true
            }
            Set::Table(_) => {
                let mut scratch = [0u8; 24];
                self.add(fmt_i64(v, &mut scratch), max_intset)
            }
        }
    }

    /// Adds a member read from another set.
    pub fn add_member(&mut self, m: Member, max_intset: usize) -> bool {
        match m {
            Member::Int(v) => self.add_int(v, max_intset),
            Member::Bytes(b) => self.add(b, max_intset),
        }
    }

    /// Removes `m`; returns whether it was a member.
    pub fn remove(&mut self, m: &[u8]) -> bool {
        match self {
            Set::Intset(is) => parse_canonical_i64(m).is_some_and(|v| is.remove(v)),
            Set::Table(t) => {
                let removed = t.swap_remove(m);
                if removed {
                    Self::maybe_shrink(t);
                }
                removed
            }
        }
    }

    /// Removes a member read from another set.
    pub fn remove_member(&mut self, m: Member) -> bool {
        let mut scratch = [0u8; 24];
        match (m, &mut *self) {
            (Member::Int(v), Set::Intset(is)) => is.remove(v),
            (m, _) => self.remove(m.as_bytes(&mut scratch)),
        }
    }

    /// Gives memory back when a table is mostly empty, as Redis resizes
    /// a dict that fell under 10% fill.
    fn maybe_shrink(t: &mut Table) {
        if t.capacity() > 64 && t.len() * 10 < t.capacity() {
            t.shrink_to_fit();
        }
    }

    pub fn contains(&self, m: &[u8]) -> bool {
        match self {
            Set::Intset(is) => parse_canonical_i64(m).is_some_and(|v| is.contains(v)),
            Set::Table(t) => t.contains(m),
        }
    }

    pub fn contains_member(&self, m: Member) -> bool {
        match (m, self) {
            (Member::Int(v), Set::Intset(is)) => is.contains(v),
            (m, _) => {
                let mut scratch = [0u8; 24];
                self.contains(m.as_bytes(&mut scratch))
            }
        }
    }

    /// The member at position `i` of the storage order.
    pub fn get_index(&self, i: usize) -> Option<Member<'_>> {
        match self {
            Set::Intset(is) => is.get(i).map(Member::Int),
            Set::Table(t) => t.get_index(i).map(|b| Member::Bytes(b)),
        }
    }

    /// Members in storage order: ascending for an intset.
    pub fn iter(&self) -> impl Iterator<Item = Member<'_>> + '_ {
        (0..self.len()).filter_map(move |i| self.get_index(i))
    }

    /// A uniformly random member, or None when empty.
    pub fn random<R: Rng>(&self, rng: &mut R) -> Option<Member<'_>> {
        if self.is_empty() {
            return None;
        }
        self.get_index(rng.gen_range(0..self.len()))
    }

    /// Removes the member at position `i` and returns its bytes.
    pub fn remove_index(&mut self, i: usize) -> Option<Vec<u8>> {
        match self {
            Set::Intset(is) => {
                let v = is.get(i)?;
                is.remove_index(i);
                Some(Member::Int(v).to_vec())
            }
            Set::Table(t) => {
                let m = t.swap_remove_index(i)?;
                Self::maybe_shrink(t);
                Some(m.into_vec())
            }
        }
    }

    /// Removes a uniformly random member and returns its bytes.
    pub fn pop_random<R: Rng>(&mut self, rng: &mut R) -> Option<Vec<u8>> {
        if self.is_empty() {
            return None;
        }
        let i = rng.gen_range(0..self.len());
        self.remove_index(i)
    }

    /// One `SSCAN` step: calls `f` for up to `count` members below
    /// `cursor` and returns the next cursor (0 when done). An intset is
    /// returned whole in one step, as Redis does for its compact encodings.
    /// A table is walked from the end of its dense vector towards 0, which
    /// returns every member present for the whole scan (see `db.rs`).
    pub fn scan<'s>(&'s self, cursor: u64, count: usize, mut f: impl FnMut(Member<'s>)) -> u64 {
        match self {
            Set::Intset(is) => {
                is.iter().for_each(|v| f(Member::Int(v)));
                0
            }
            Set::Table(t) => {
                let len = t.len() as u64;
                let mut next = if cursor == 0 { len } else { cursor.min(len) };
                let mut visited = 0;
                while next > 0 && visited < count.max(1) {
                    next -= 1;
                    if let Some(m) = t.get_index(next as usize) {
                        f(Member::Bytes(m));
                    }
                    visited += 1;
                }
                next
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::SmallRng;
    use rand::SeedableRng;

    fn members(s: &Set) -> Vec<Vec<u8>> {
        s.iter().map(|m| m.to_vec()).collect()
    }

    #[test]
    fn intset_until_a_string_or_too_many_members() {
        let mut s = Set::new();
        assert!(s.add(b"3", 4));
        assert!(s.add(b"-1", 4));
        assert!(!s.add(b"3", 4));
        assert_eq!(s.encoding(), "intset");
        assert_eq!(members(&s), vec![b"-1".to_vec(), b"3".to_vec()]);
        // Not canonical integers: stored as strings.
        let mut t = s.clone();
        assert!(t.add(b"03", 4));
        assert_eq!(t.encoding(), "hashtable");
        assert!(t.contains(b"3") && t.contains(b"03"));
        // Past the limit.
        s.add(b"4", 4);
        s.add(b"5", 4);
        assert_eq!(s.encoding(), "intset");
        s.add(b"6", 4);
        assert_eq!(s.encoding(), "hashtable");
        assert_eq!(s.len(), 5);
        // Removing never converts back.
        s.remove(b"6");
        assert_eq!(s.encoding(), "hashtable");
    }

    #[test]
    fn a_set_header_is_two_words() {
        // The table is boxed and the intset is one pointer and length: a
        // set lives in the keyspace slot unboxed, and a small set costs
        // its members and 16 bytes.
        assert_eq!(std::mem::size_of::<Set>(), 16);
    }

    #[test]
    fn members_compare_across_encodings() {
        let mut a = Set::new();
        a.add(b"10", 512);
        let mut b = Set::new();
        b.add(b"x", 512);
        b.add(b"10", 512);
        let m = a.get_index(0).unwrap_or(Member::Int(0));
        assert!(b.contains_member(m));
        assert!(b.remove_member(m));
        assert!(!b.contains(b"10"));
        assert!(a.contains_member(Member::Bytes(b"10")));
        assert!(!a.contains_member(Member::Bytes(b"+10")));
    }

    #[test]
    fn pop_and_scan() {
        let mut rng = SmallRng::seed_from_u64(7);
        let mut s = Set::new();
        for i in 0..100 {
            s.add(format!("m{i}").as_bytes(), 512);
        }
        let mut seen = std::collections::HashSet::new();
        let mut cursor = 0;
        loop {
            cursor = s.scan(cursor, 7, |m| {
                seen.insert(m.to_vec());
            });
            if cursor == 0 {
                break;
            }
        }
        assert_eq!(seen.len(), 100);
        let mut popped = 0;
        while s.pop_random(&mut rng).is_some() {
            popped += 1;
        }
        assert_eq!(popped, 100);
        assert!(s.is_empty());
    }
}
