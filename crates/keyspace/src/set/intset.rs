//! The `intset` encoding: a sorted array of integers stored in the narrowest
//! width that holds every member (16, 32 or 64 bits), as Redis's intset.
//!
//! The array is a boxed slice sized exactly to its contents: a set of small
//! integers costs two bytes a member plus one pointer and length. Adding a
//! member reallocates by one (Redis's intset does the same); the encoding
//! is only used up to `set-max-intset-entries` members, so the copy stays
//! short. Like Redis, the width only grows: removing the one wide member
//! does not narrow the array again.

/// A sorted set of integers in the narrowest width that holds them all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IntSet {
    W16(Box<[i16]>),
    W32(Box<[i32]>),
    W64(Box<[i64]>),
}

impl Default for IntSet {
    fn default() -> Self {
        IntSet::W16(Box::default())
    }
}

/// Inserts `v` into the sorted slice `b`, growing it by exactly one.
fn insert_sorted<T: Ord + Copy>(b: &mut Box<[T]>, v: T) -> bool {
    match b.binary_search(&v) {
        Ok(_) => false,
        Err(i) => {
            let mut vec = std::mem::take(b).into_vec();
            vec.reserve_exact(1);
            vec.insert(i, v);
            *b = vec.into_boxed_slice();
            true
        }
    }
}

/// Removes the element at `i` from `b`, shrinking it by exactly one.
fn remove_at<T: Copy>(b: &mut Box<[T]>, i: usize) {
    let mut vec = std::mem::take(b).into_vec();
    vec.remove(i);
    *b = vec.into_boxed_slice();
}

fn widen<T: Copy, U: From<T>>(b: &[T]) -> Box<[U]> {
    b.iter().map(|&x| U::from(x)).collect()
}

impl IntSet {
    pub fn len(&self) -> usize {
        match self {
            IntSet::W16(b) => b.len(),
            IntSet::W32(b) => b.len(),
            IntSet::W64(b) => b.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The member at position `i` (members are in ascending order).
    pub fn get(&self, i: usize) -> Option<i64> {
        match self {
            IntSet::W16(b) => b.get(i).map(|&x| i64::from(x)),
            IntSet::W32(b) => b.get(i).map(|&x| i64::from(x)),
            IntSet::W64(b) => b.get(i).copied(),
        }
    }

    /// Position of `v`, if it is a member.
    pub fn find(&self, v: i64) -> Option<usize> {
        match self {
            IntSet::W16(b) => i16::try_from(v).ok().and_then(|x| b.binary_search(&x).ok()),
            IntSet::W32(b) => i32::try_from(v).ok().and_then(|x| b.binary_search(&x).ok()),
            IntSet::W64(b) => b.binary_search(&v).ok(),
        }
    }

    pub fn contains(&self, v: i64) -> bool {
        self.find(v).is_some()
    }

    /// Adds `v`, widening the array first when `v` does not fit its width.
    /// Returns whether it was new.
    pub fn insert(&mut self, v: i64) -> bool {
        if let IntSet::W16(b) = self {
            match i16::try_from(v) {
                Ok(x) => return insert_sorted(b, x),
                Err(_) => *self = IntSet::W32(widen(b)),
            }
        }
        if let IntSet::W32(b) = self {
            match i32::try_from(v) {
                Ok(x) => return insert_sorted(b, x),
                Err(_) => *self = IntSet::W64(widen(b)),
            }
        }
        match self {
            IntSet::W64(b) => insert_sorted(b, v),
            // Both narrower widths were widened above.
            _ => false,
        }
    }

    /// Removes the member at position `i`.
    pub fn remove_index(&mut self, i: usize) {
        if i >= self.len() {
            return;
        }
        match self {
            IntSet::W16(b) => remove_at(b, i),
            IntSet::W32(b) => remove_at(b, i),
            IntSet::W64(b) => remove_at(b, i),
        }
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
        (0..self.len()).filter_map(move |i| self.get(i))
    }

    /// Bytes of the member array.
    pub fn heap_size(&self) -> usize {
        match self {
            IntSet::W16(b) => b.len() * 2,
            IntSet::W32(b) => b.len() * 4,
            IntSet::W64(b) => b.len() * 8,
        }
    }

    /// Width in bits of the stored integers.
    pub fn width(&self) -> u32 {
        match self {
            IntSet::W16(_) => 16,
            IntSet::W32(_) => 32,
            IntSet::W64(_) => 64,
        }
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
}
