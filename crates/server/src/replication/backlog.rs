//! The replication backlog: the last `repl-backlog-size` bytes of the
//! replication stream, kept so that a replica whose link dropped can ask
//! for what it missed (`PSYNC <replid> <offset>` answered `+CONTINUE`)
//! instead of a full resynchronisation.
//!
//! Offsets are Redis's: the stream's first byte ever is offset 1 and
//! `master_repl_offset` is the offset of the last byte appended, so a
//! replica that processed everything asks for `master_repl_offset + 1`.

/// A fixed-size ring buffer of stream bytes with their offsets.
#[derive(Debug)]
pub struct Backlog {
    buf: Vec<u8>,
    /// Where the next byte goes in `buf`.
    idx: usize,
    /// Bytes held (at most `buf.len()`).
    histlen: usize,
    /// Offset of the last byte appended (`master_repl_offset`).
    pub offset: i64,
}

impl Backlog {
    /// An empty backlog of `size` bytes whose next byte has offset
    /// `offset + 1` (Redis keeps the offset across backlog re-creation).
    pub fn new(size: usize, offset: i64) -> Backlog {
        Backlog {
            buf: vec![0; Backlog::new_size(size)],
            idx: 0,
            histlen: 0,
            offset,
        }
    }

    /// The size a backlog configured with `size` gets (Redis's minimum
    /// is 16 KiB).
    pub fn new_size(size: usize) -> usize {
        size.max(16 * 1024)
    }

    pub fn size(&self) -> usize {
        self.buf.len()
    }

    pub fn histlen(&self) -> usize {
        self.histlen
    }

    /// Offset of the oldest byte held (`repl_backlog_first_byte_offset`).
    pub fn first_byte_offset(&self) -> i64 {
        self.offset - self.histlen as i64 + 1
    }

    /// Appends stream bytes, overwriting the oldest ones when full.
    pub fn append(&mut self, mut data: &[u8]) {
        self.offset += data.len() as i64;
        let size = self.buf.len();
        // Only the last `size` bytes can be kept.
        if data.len() > size {
            data = &data[data.len() - size..];
        }
        while !data.is_empty() {
            let n = (size - self.idx).min(data.len());
            self.buf[self.idx..self.idx + n].copy_from_slice(&data[..n]);
            self.idx = (self.idx + n) % size;
            data = &data[n..];
            self.histlen = (self.histlen + n).min(size);
        }
    }

    /// The bytes from offset `from` to the end of the stream, or None when
    /// `from` is not held (too old, or in the future).
    pub fn since(&self, from: i64) -> Option<Vec<u8>> {
        if from < self.first_byte_offset() || from > self.offset + 1 {
            return None;
        }
        let len = (self.offset + 1 - from) as usize;
        let size = self.buf.len();
        // `idx` is one past the newest byte; walk back `len` bytes.
        let start = (self.idx + size - len % size) % size;
        let mut out = Vec::with_capacity(len);
        if len == 0 {
            return Some(out);
        }
        if start + len <= size {
            out.extend_from_slice(&self.buf[start..start + len]);
        } else {
            out.extend_from_slice(&self.buf[start..]);
            out.extend_from_slice(&self.buf[..len - (size - start)]);
        }
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::Backlog;

    #[test]
    fn offsets_and_wrap_around() {
        let mut b = Backlog::new(16 * 1024, 0);
        b.append(b"hello");
        assert_eq!(b.offset, 5);
        assert_eq!(b.first_byte_offset(), 1);
        assert_eq!(b.since(1).as_deref(), Some(&b"hello"[..]));
        assert_eq!(b.since(4).as_deref(), Some(&b"lo"[..]));
        assert_eq!(b.since(6).as_deref(), Some(&b""[..]));
        assert_eq!(b.since(7), None);
        let big: Vec<u8> = (0..40_000u32).map(|i| (i % 251) as u8).collect();
        b.append(&big);
        let size = b.size() as i64;
        assert_eq!(b.offset, 40_005);
        assert_eq!(b.first_byte_offset(), 40_005 - size + 1);
        assert_eq!(b.since(b.first_byte_offset() - 1), None);
        let tail = b.since(40_001).unwrap_or_default();
        assert_eq!(tail, &big[big.len() - 5..]);
        let all = b.since(b.first_byte_offset()).unwrap_or_default();
        assert_eq!(all, &big[big.len() - size as usize..]);
        // Small appends across the wrap point.
        for _ in 0..1000 {
            b.append(b"0123456789abc");
        }
        assert_eq!(
            b.since(b.offset - 12).as_deref(),
            Some(&b"0123456789abc"[..])
        );
    }

    #[test]
    fn resizing_keeps_the_newest_bytes() {
        let mut f = crate::replication::master::Feed::default();
        f.reset(16 * 1024, 100);
        f.feed(&[7u8; 20_000]);
        f.resize_backlog(32 * 1024);
        let b = f
            .backlog
            .as_ref()
            .map(|b| (b.size(), b.offset, b.first_byte_offset()));
        assert_eq!(b, Some((32 * 1024, 20_100, 20_100 - 16 * 1024 + 1)));
    }
}
