//! The replication buffer: one copy of the recent replication stream,
//! shared by the backlog and by every attached replica, as Redis 7.0
//! keeps it.
//!
//! The stream is held in blocks of at least 16 KiB, oldest first. Each
//! replica only remembers the offset of the next byte it is to be sent,
//! so N replicas cost one copy of the stream, not N. The backlog is the
//! held history itself: a replica whose link dropped asks for what it
//! missed (`PSYNC <replid> <offset>`, answered `+CONTINUE`) and is served
//! from here while the offset is still held.
//!
//! Blocks are dropped from the front once no replica still needs them and
//! what remains still covers `repl-backlog-size`; a slow replica thus
//! makes the history grow beyond that size, and other replicas may resync
//! partially from the longer history meanwhile (Redis's behaviour).
//!
//! Offsets are Redis's: the stream's first byte ever is offset 1 and
//! `master_repl_offset` is the offset of the last byte appended, so a
//! replica that processed everything asks for `master_repl_offset + 1`.

use std::collections::VecDeque;

/// Smallest block; a bigger write gets a block of its own size.
const BLOCK: usize = 16 * 1024;

/// The shared stream buffer with its offsets.
#[derive(Debug)]
pub struct Backlog {
    /// (offset of the block's first byte, bytes), oldest first.
    blocks: VecDeque<(i64, Vec<u8>)>,
    /// Bytes held (`repl_backlog_histlen`).
    histlen: usize,
    /// History to keep at least (`repl-backlog-size`).
    limit: usize,
    /// Offset of the last byte appended (`master_repl_offset`).
    pub offset: i64,
}

impl Backlog {
    /// An empty buffer whose next byte has offset `offset + 1` (Redis
    /// keeps the offset across backlog re-creation), keeping at least
    /// `size` bytes of history.
    pub fn new(size: usize, offset: i64) -> Backlog {
        Backlog {
            blocks: VecDeque::new(),
            histlen: 0,
            limit: Backlog::new_size(size),
            offset,
        }
    }

    /// The size a backlog configured with `size` keeps (Redis's minimum
    /// is 16 KiB).
    pub fn new_size(size: usize) -> usize {
        size.max(16 * 1024)
    }

    /// `repl-backlog-size` as applied.
    pub fn size(&self) -> usize {
        self.limit
    }

    /// Applies a `CONFIG SET repl-backlog-size`; the history shrinks as
    /// blocks become free ([`Backlog::trim`]).
    pub fn set_size(&mut self, size: usize) {
        self.limit = Backlog::new_size(size);
    }

    pub fn histlen(&self) -> usize {
        self.histlen
    }

    /// Bytes the buffer's blocks hold allocated, with the table of blocks
    /// itself (which grows with the stream a stopped replica has not
    /// read, as Redis's block headers do).
    pub fn memory(&self) -> usize {
        let table = self.blocks.capacity() * std::mem::size_of::<(i64, Vec<u8>)>();
        table + self.blocks.iter().map(|(_, b)| b.capacity()).sum::<usize>()
    }

    /// Offset of the oldest byte held (`repl_backlog_first_byte_offset`).
    pub fn first_byte_offset(&self) -> i64 {
        self.offset - self.histlen as i64 + 1
    }

    /// Whether the stream from offset `from` on is held (a partial resync
    /// can start there).
    pub fn holds(&self, from: i64) -> bool {
        from >= self.first_byte_offset() && from <= self.offset + 1
    }

    /// Appends stream bytes.
    pub fn append(&mut self, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        let mut rest = data;
        if let Some((_, last)) = self.blocks.back_mut() {
            let room = last.capacity() - last.len();
            let n = room.min(rest.len());
            last.extend_from_slice(&rest[..n]);
            rest = &rest[n..];
        }
        if !rest.is_empty() {
            let start = self.offset + (data.len() - rest.len()) as i64 + 1;
            let mut block = Vec::with_capacity(rest.len().max(BLOCK));
            block.extend_from_slice(rest);
            self.blocks.push_back((start, block));
        }
        self.offset += data.len() as i64;
        self.histlen += data.len();
    }

    /// Appends to `out` up to `max` bytes of the stream from offset `from`
    /// on; returns how many. Nothing when `from` is not held.
    pub fn copy_from(&self, from: i64, max: usize, out: &mut Vec<u8>) -> usize {
        if !self.holds(from) || from > self.offset {
            return 0;
        }
        // The block holding `from`: the last one starting at or before it.
        let i = match self.blocks.binary_search_by(|(s, _)| s.cmp(&from)) {
            Ok(i) => i,
            Err(i) => i.saturating_sub(1),
        };
        let mut copied = 0;
        let mut at = from;
        for (start, block) in self.blocks.iter().skip(i) {
            if copied >= max {
                break;
            }
            let skip = (at - start) as usize;
            let part = &block[skip.min(block.len())..];
            let n = part.len().min(max - copied);
            out.extend_from_slice(&part[..n]);
            copied += n;
            at += n as i64;
        }
        copied
    }

    /// The bytes from offset `from` to the end of the stream, or None when
    /// `from` is not held (too old, or in the future).
    pub fn since(&self, from: i64) -> Option<Vec<u8>> {
        if !self.holds(from) {
            return None;
        }
        let mut out = Vec::with_capacity((self.offset + 1 - from) as usize);
        self.copy_from(from, usize::MAX, &mut out);
        Some(out)
    }

    /// Drops the oldest blocks that no replica still needs (`oldest_ref`:
    /// the smallest offset a replica is yet to be sent) while what remains
    /// is more than `repl-backlog-size`. The newest block always stays.
    pub fn trim(&mut self, oldest_ref: Option<i64>) {
        while self.blocks.len() > 1 && self.histlen > self.limit {
            let Some((start, first)) = self.blocks.front() else {
                break;
            };
            let len = first.len();
            if self.histlen - len <= self.limit {
                break;
            }
            if oldest_ref.is_some_and(|r| r < start + len as i64) {
                break;
            }
            self.histlen -= len;
            self.blocks.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Backlog;

    #[test]
    fn offsets_and_history_beyond_a_block() {
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
        b.trim(None);
        assert_eq!(b.offset, 40_005);
        // At least the configured size is kept, in whole blocks.
        assert!(b.histlen() >= 16 * 1024);
        assert_eq!(b.since(b.first_byte_offset() - 1), None);
        let tail = b.since(40_001).unwrap_or_default();
        assert_eq!(tail, &big[big.len() - 5..]);
        let all = b.since(b.first_byte_offset()).unwrap_or_default();
        assert_eq!(all.len(), b.histlen());
        assert_eq!(&all[all.len() - 100..], &big[big.len() - 100..]);
        for _ in 0..1000 {
            b.append(b"0123456789abc");
        }
        b.trim(None);
        assert_eq!(
            b.since(b.offset - 12).as_deref(),
            Some(&b"0123456789abc"[..])
        );
    }

    #[test]
    fn a_lagging_replica_keeps_the_history_it_needs() {
        let mut b = Backlog::new(16 * 1024, 100);
        let chunk = vec![b'x'; 10_000];
        for _ in 0..10 {
            b.append(&chunk);
        }
        // A replica still at offset 101 holds everything.
        b.trim(Some(101));
        assert_eq!(b.histlen(), 100_000);
        assert!(b.holds(101));
        // Once it moved on, the history shrinks back to the limit.
        b.trim(Some(b.offset + 1));
        assert!(b.histlen() < 100_000 && b.histlen() >= 16 * 1024);
        let mut out = Vec::new();
        let n = b.copy_from(b.offset - 9, 4, &mut out);
        assert_eq!((n, out.as_slice()), (4, &b"xxxx"[..]));
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
        assert_eq!(b, Some((32 * 1024, 20_100, 101)));
    }
}
