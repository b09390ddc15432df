//! [`SmallBytes`]: an immutable byte string of 24 bytes that keeps up to
//! [`INLINE_MAX`] bytes inline and longer ones in one exact-size heap block.
//!
//! Keys and short string values are the bulk of a cache: with `Box<[u8]>`
//! every one of them costs a 16-byte pointer plus a heap block (glibc's
//! smallest is 32 bytes), so a 10-byte key took 48 bytes. Inline it takes
//! the 24 bytes of the slot it lives in, and no allocation. This is the
//! same trade Redis makes with `embstr` (object header and string in one
//! block) and sds type 5/8 headers, done here without a header at all.
//!
//! The type is written in safe Rust: an enum whose inline variant holds the
//! length and the bytes. Its tag byte leaves room for the niche of the
//! enums that contain it (`StrValue`, `Value`), which therefore stay 24
//! bytes too (checked by a test).

use std::borrow::Borrow;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;

/// Longest string kept inline.
pub const INLINE_MAX: usize = 22;

#[derive(Clone)]
pub enum SmallBytes {
    /// `len` bytes of `buf` are the string; the rest are zero.
    Inline {
        len: u8,
        buf: [u8; INLINE_MAX],
    },
    Heap(Box<[u8]>),
}

impl SmallBytes {
    pub fn new(b: &[u8]) -> SmallBytes {
        if b.len() <= INLINE_MAX {
            let mut buf = [0u8; INLINE_MAX];
            buf[..b.len()].copy_from_slice(b);
            SmallBytes::Inline {
                len: b.len() as u8,
                buf,
            }
        } else {
            SmallBytes::Heap(b.into())
        }
    }

    /// Takes ownership of `v` (no copy when it is too long to inline; the
    /// block is shrunk to fit).
    pub fn from_vec(v: Vec<u8>) -> SmallBytes {
        if v.len() <= INLINE_MAX {
            SmallBytes::new(&v)
        } else {
            SmallBytes::Heap(v.into_boxed_slice())
        }
    }

    #[inline]
    pub fn as_slice(&self) -> &[u8] {
        match self {
            SmallBytes::Inline { len, buf } => &buf[..usize::from(*len).min(INLINE_MAX)],
            SmallBytes::Heap(b) => b,
        }
    }

    pub fn into_vec(self) -> Vec<u8> {
        match self {
            SmallBytes::Inline { .. } => self.as_slice().to_vec(),
            SmallBytes::Heap(b) => b.into_vec(),
        }
    }

    /// Bytes this string occupies outside its 24 inline bytes.
    pub fn heap_size(&self) -> usize {
        match self {
            SmallBytes::Inline { .. } => 0,
            SmallBytes::Heap(b) => b.len(),
        }
    }
}

impl Deref for SmallBytes {
    type Target = [u8];

    #[inline]
    fn deref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl Borrow<[u8]> for SmallBytes {
    fn borrow(&self) -> &[u8] {
        self.as_slice()
    }
}

impl From<&[u8]> for SmallBytes {
    fn from(b: &[u8]) -> SmallBytes {
        SmallBytes::new(b)
    }
}

impl PartialEq for SmallBytes {
    fn eq(&self, other: &SmallBytes) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl Eq for SmallBytes {}

// Hashes exactly as `[u8]` does, so `Borrow<[u8]>` look-ups work.
impl Hash for SmallBytes {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_slice().hash(state)
    }
}

impl fmt::Debug for SmallBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(self.as_slice()))
    }
}

impl Default for SmallBytes {
    fn default() -> Self {
        SmallBytes::new(b"")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_strings_stay_inline_and_long_ones_go_to_the_heap() {
        assert_eq!(std::mem::size_of::<SmallBytes>(), 24);
        let s = SmallBytes::new(b"key:123456");
        assert!(matches!(s, SmallBytes::Inline { .. }));
        assert_eq!(&*s, b"key:123456");
        let edge = SmallBytes::new(&[b'x'; INLINE_MAX]);
        assert!(matches!(edge, SmallBytes::Inline { .. }));
        let long = SmallBytes::from_vec(vec![b'y'; INLINE_MAX + 1]);
        assert!(matches!(long, SmallBytes::Heap(_)));
        assert_eq!(long.len(), INLINE_MAX + 1);
        assert_eq!(long.heap_size(), INLINE_MAX + 1);
        assert_eq!(SmallBytes::new(b"ab"), SmallBytes::from_vec(b"ab".to_vec()));
        assert_eq!(SmallBytes::new(b"").into_vec(), Vec::<u8>::new());
    }
}
