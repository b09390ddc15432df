//! The `intset` encoding: a sorted array of integers stored in the narrowest
//! width that holds every member (16, 32 or 64 bits), as Redis's intset.
//!
//! The array is one exact-size byte buffer: a width byte (2, 4 or 8), then
//! the members little-endian. A set of small integers costs two bytes a
//! member plus one byte, and the whole set is 16 bytes inline, so a set
//! value needs no box of its own in the keyspace. Adding a member
//! reallocates by one (Redis's intset does the same); the encoding is only
//! used up to `set-max-intset-entries` members, so the copy stays short.
//! Like Redis, the width only grows: removing the one wide member does not
//! narrow the array again.

/// A sorted set of integers in the narrowest width that holds them all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IntSet {
    /// Empty (width 2, no members), or the width byte then the members.
    buf: Box<[u8]>,
}

/// Bytes needed to store `v`.
fn width_for(v: i64) -> usize {
    if i16::try_from(v).is_ok() {
        2
    } else if i32::try_from(v).is_ok() {
        4
    } else {
        8
    }
}

fn read(b: &[u8], w: usize) -> i64 {
    match (w, b) {
        (2, &[a, b, ..]) => i64::from(i16::from_le_bytes([a, b])),
        (4, &[a, b, c, d, ..]) => i64::from(i32::from_le_bytes([a, b, c, d])),
        (_, &[a, b, c, d, e, f, g, h, ..]) => i64::from_le_bytes([a, b, c, d, e, f, g, h]),
        // Members are written whole by this module; never reached.
        _ => 0,
    }
}

fn write(out: &mut Vec<u8>, v: i64, w: usize) {
    out.extend_from_slice(&v.to_le_bytes()[..w]);
}

impl IntSet {
    fn w(&self) -> usize {
        self.buf.first().map_or(2, |&w| usize::from(w))
    }

    pub fn len(&self) -> usize {
        self.buf.len().saturating_sub(1) / self.w()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The member at position `i` (members are in ascending order).
    pub fn get(&self, i: usize) -> Option<i64> {
        let w = self.w();
        let at = 1 + i.checked_mul(w)?;
        self.buf.get(at..at + w).map(|b| read(b, w))
    }

    /// Where `v` is, or where it would go.
    fn search(&self, v: i64) -> Result<usize, usize> {
        let (mut lo, mut hi) = (0, self.len());
        while lo < hi {
            let mid = (lo + hi) / 2;
            match self.get(mid).map(|m| m.cmp(&v)) {
                Some(std::cmp::Ordering::Less) => lo = mid + 1,
                Some(std::cmp::Ordering::Equal) => return Ok(mid),
                _ => hi = mid,
            }
        }
        Err(lo)
    }

    /// Position of `v`, if it is a member.
    pub fn find(&self, v: i64) -> Option<usize> {
        if width_for(v) > self.w() {
            return None;
        }
        self.search(v).ok()
    }

    pub fn contains(&self, v: i64) -> bool {
        self.find(v).is_some()
    }

    /// Adds `v`, widening the array first when `v` does not fit its width.
    /// Returns whether it was new.
    pub fn insert(&mut self, v: i64) -> bool {
        let (old_w, new_w) = (self.w(), self.w().max(width_for(v)));
        let i = if new_w == old_w {
            match self.search(v) {
                Ok(_) => return false,
                Err(i) => i,
            }
        } else {
            // Wider than every member: it goes first or last.
            if v < 0 {
                0
            } else {
                self.len()
            }
        };
        let mut out = Vec::with_capacity(1 + (self.len() + 1) * new_w);
        out.push(new_w as u8);
        for (j, m) in self.iter().enumerate() {
            if j == i {
                write(&mut out, v, new_w);
            }
            write(&mut out, m, new_w);
        }
        if i == self.len() {
            write(&mut out, v, new_w);
        }
        self.buf = out.into_boxed_slice();
        true
    }

    /// Removes the member at position `i`.
    pub fn remove_index(&mut self, i: usize) {
        if i >= self.len() {
            return;
        }
        let w = self.w();
        let mut v = std::mem::take(&mut self.buf).into_vec();
        v.drain(1 + i * w..1 + (i + 1) * w);
        self.buf = v.into_boxed_slice();
    }

    /// Removes `v`; returns whether it was a member.
    pub fn remove(&mut self, v: i64) -> bool {
        match self.find(v) {
            Some(i) => {
                self.remove_index(i);
                true
            }
            None => false,
        }
    }

    /// Members in ascending order.
    pub fn iter(&self) -> impl Iterator<Item = i64> + '_ {
        let w = self.w();
        self.buf
            .get(1..)
            .unwrap_or_default()
            .chunks_exact(w)
            .map(move |b| read(b, w))
    }

    /// Bytes of the member array.
    pub fn heap_size(&self) -> usize {
        self.len() * self.w()
    }

    /// Width in bits of the stored integers.
    pub fn width(&self) -> u32 {
        (self.w() * 8) as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widens_on_demand_and_stays_sorted() {
        let mut s = IntSet::default();
        assert!(s.insert(5));
        assert!(s.insert(-3));
        assert!(!s.insert(5));
        assert_eq!(s.width(), 16);
        assert!(s.insert(70_000));
        assert_eq!(s.width(), 32);
        assert!(s.insert(i64::MIN));
        assert_eq!(s.width(), 64);
        assert_eq!(s.iter().collect::<Vec<_>>(), vec![i64::MIN, -3, 5, 70_000]);
        assert!(s.remove(i64::MIN));
        assert!(!s.remove(i64::MIN));
        // The width never shrinks, as in Redis.
        assert_eq!(s.width(), 64);
        assert!(s.contains(70_000) && !s.contains(4));
        assert_eq!(s.heap_size(), 24);
    }

    #[test]
    fn lookups_outside_the_width_miss() {
        let mut s = IntSet::default();
        s.insert(1);
        assert!(!s.contains(1 << 40));
        assert_eq!(s.find(1), Some(0));
    }

    #[test]
    fn matches_a_sorted_model_across_widths() {
        let mut s = IntSet::default();
        let mut model = std::collections::BTreeSet::new();
        let mut x: u64 = 3;
        for step in 0..3000 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let v = match step % 7 {
                0 => (x >> 1) as i64 - (1 << 62),
                1 | 2 => i64::from((x >> 40) as i32),
                _ => i64::from((x >> 50) as i16),
            };
            if x >> 63 == 0 || step < 1500 {
                assert_eq!(s.insert(v), model.insert(v));
            } else {
                assert_eq!(s.remove(v), model.remove(&v));
            }
            assert_eq!(s.len(), model.len());
        }
        assert_eq!(
            s.iter().collect::<Vec<_>>(),
            model.iter().copied().collect::<Vec<_>>()
        );
        assert_eq!(std::mem::size_of::<IntSet>(), 16);
    }
}
