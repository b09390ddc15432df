//! LEB128 varints, the length prefix of every packed encoding in this
//! crate (hash and sorted-set listpacks, list chunks): 7 bits a byte, low
//! bits first, so lengths up to 127 take one byte.
//!
//! The buffers are only ever written by this crate, so a malformed one is
//! a bug; readers stop at the end of the buffer rather than panic.

/// Appends the encoding of `n`.
pub fn put(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8 & 0x7f) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

/// Bytes [`put`] writes for `n`.
pub fn len(mut n: u64) -> usize {
    let mut len = 1;
    while n >= 0x80 {
        n >>= 7;
        len += 1;
    }
    len
}

/// Decodes the varint at `at`: its value and the offset after it.
pub fn read(buf: &[u8], mut at: usize) -> Option<(u64, usize)> {
    let mut v = 0u64;
    let mut shift = 0;
    loop {
        let b = *buf.get(at)?;
        at += 1;
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Some((v, at));
        }
        shift += 7;
        if shift > 63 {
            return None;
        }
    }
}

/// The length-prefixed string at `at`: the range of its bytes, clamped to
/// the buffer (`(len, len)` past the end).
pub fn str_at(buf: &[u8], at: usize) -> (usize, usize) {
    match read(buf, at) {
        Some((n, start)) => {
            let end =
                usize::try_from(n).map_or(buf.len(), |n| start.saturating_add(n).min(buf.len()));
            (start, end)
        }
        None => (buf.len(), buf.len()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_sizes() {
        for n in [0u64, 1, 127, 128, 300, 1 << 20, u64::MAX] {
            let mut b = vec![9];
            put(&mut b, n);
            assert_eq!(b.len(), 1 + len(n));
            assert_eq!(read(&b, 1), Some((n, b.len())));
        }
        let mut b = Vec::new();
        put(&mut b, 3);
        b.extend_from_slice(b"abc");
        assert_eq!(str_at(&b, 0), (1, 4));
        // Truncated: clamped, never out of bounds.
        assert_eq!(str_at(&b[..3], 0), (1, 3));
        assert_eq!(str_at(&b, 4), (4, 4));
    }
}
