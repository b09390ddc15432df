//! How big a connection's buffers are, as Redis 7.0 sizes them, so that
//! `CLIENT LIST` (`qbuf`, `qbuf-free`, `rbs`, `rbp`, `obl`, `oll`,
//! `omem`), the output limits and `maxmemory-clients` see what Redis's
//! would, and an idle client holds little memory:
//!
//! - the query buffer starts empty, takes 16 KiB on the first read and
//!   grows as reads need; a bulk argument of 32 KiB or more is given room
//!   for exactly its length as soon as its header is read (Redis's
//!   `PROTO_MBULK_BIG_ARG` path), so a big value is not copied by
//!   repeated doubling and the memory it will take is known at once;
//! - the reply buffer (`rbs`) starts at 16 KiB; replies beyond it are
//!   Redis's reply list (`oll`, `omem`); once everything is written the
//!   buffer goes back to its size;
//! - the clients cron (`clients_cron`) shrinks a query buffer that wastes
//!   room (idle for more than two seconds, or much bigger than its recent
//!   peak) and resizes the reply buffer from its peak use, halving it when
//!   the peak stayed under half and doubling it (up to 16 KiB) when the
//!   peak filled it. `DEBUG REPLYBUFFER` tunes the latter as in Redis.

use crate::client::Client;

/// Redis's `PROTO_IOBUF_LEN`: the query buffer's first allocation and the
/// room ensured before each read.
pub const IOBUF_LEN: usize = 16 * 1024;
/// `PROTO_REPLY_CHUNK_BYTES`: a new reply buffer's size, its largest size
/// after growing, and the size of one reply-list node.
pub const REPLY_CHUNK_BYTES: usize = 16 * 1024;
/// `PROTO_REPLY_MIN_BYTES`: the smallest reply buffer.
pub const REPLY_MIN_BYTES: usize = 1024;
/// `PROTO_MBULK_BIG_ARG`: a bulk argument this long gets its own room.
pub const MBULK_BIG_ARG: usize = 32 * 1024;
/// `PROTO_RESIZE_THRESHOLD`: query buffers above this may be trimmed to
/// their recent peak.
pub const RESIZE_THRESHOLD: usize = 32 * 1024;
/// `REPLY_BUFFER_DEFAULT_PEAK_RESET_TIME`, in milliseconds.
pub const DEFAULT_PEAK_RESET_MS: i64 = 5000;

/// A client's reply buffer as Redis keeps it: its size (`rbs`), the most
/// of it used since the peak was last reset (`rbp`), and when that was.
#[derive(Debug, Clone, Copy)]
pub struct ReplyBuffer {
    pub size: usize,
    pub peak: usize,
    pub peak_reset_ms: i64,
}

impl Default for ReplyBuffer {
    fn default() -> Self {
        ReplyBuffer {
            size: REPLY_CHUNK_BYTES,
            peak: 0,
            peak_reset_ms: 0,
        }
    }
}

/// The server-wide reply-buffer knobs `DEBUG REPLYBUFFER` turns.
#[derive(Debug, Clone, Copy)]
pub struct ReplyBufferSettings {
    /// `RESIZING 0|1`.
    pub resizing: bool,
    /// `PEAK-RESET-TIME`: milliseconds between peak resets; negative for
    /// never.
    pub peak_reset_ms: i64,
}

impl Default for ReplyBufferSettings {
    fn default() -> Self {
        ReplyBufferSettings {
            resizing: true,
            peak_reset_ms: DEFAULT_PEAK_RESET_MS,
        }
    }
}

/// How the output waiting to be written splits between the reply buffer
/// and Redis's reply list: `(obl, oll, omem)` of CLIENT LIST. The buffer
/// is filled first; what does not fit is the list, in 16 KiB nodes, and
/// `omem` counts whole nodes as Redis counts their allocations. `omem` is
/// what the output limits compare.
pub fn output_split(c: &Client) -> (usize, usize, usize) {
    let pending = c.pending_output();
    let obl = pending.min(c.reply_buf.size);
    let oll = (pending - obl).div_ceil(REPLY_CHUNK_BYTES);
    (obl, oll, oll * REPLY_CHUNK_BYTES)
}

/// Room for the next read, as Redis's `readQueryFromClient` makes it:
/// exactly what a big argument still needs (so the buffer holds it and
/// nothing more), 16 KiB for a buffer smaller than that, and otherwise at
/// least 16 KiB free with the buffer growing by doubling.
pub fn prepare_read(c: &mut Client) {
    let buf = &mut c.querybuf;
    if c.pending_bulk.is_some_and(|n| n >= MBULK_BIG_ARG) && buf.capacity() > buf.len() {
        // `reserve_big_arg` made room for the whole argument; read into it.
        return;
    }
    if buf.capacity() < IOBUF_LEN {
        buf.reserve_exact(IOBUF_LEN - buf.len());
    } else if buf.capacity() - buf.len() < IOBUF_LEN {
        buf.reserve(IOBUF_LEN);
    }
}

/// After a read: the query buffer's peak for the cron.
pub fn note_read(c: &mut Client) {
    c.querybuf_peak = c.querybuf_peak.max(c.querybuf.len());
}

/// A bulk argument of `len` bytes starts at `start` of the (lent) query
/// buffer `buf` and has not fully arrived: a big one gets room for all of
/// it and its CRLF now.
pub fn reserve_big_arg(buf: &mut Vec<u8>, start: usize, len: usize) {
    if len < MBULK_BIG_ARG {
        return;
    }
    let need = start.saturating_add(len).saturating_add(2);
    if need > buf.capacity() {
        buf.reserve_exact(need - buf.len());
    }
}

/// Before writing: the reply buffer's peak use (what is waiting, up to
/// the buffer's size).
pub fn note_reply_peak(c: &mut Client) {
    let used = c.pending_output().min(c.reply_buf.size);
    c.reply_buf.peak = c.reply_buf.peak.max(used);
}

/// Everything queued was written: the buffer is emptied and keeps the
/// reply buffer's size, giving back what a big reply took (Redis frees
/// its reply-list nodes once written). A replica with more of the stream
/// to be sent (`streaming`) keeps room for the next slice it is sent in;
/// one that caught up, or waits for its snapshot, gives it back: its
/// stream is in the shared replication buffer meanwhile, as in Redis,
/// where a replica's own output buffer holds no copy of it.
pub fn after_output_written(c: &mut Client, streaming: bool) {
    c.out.buf.clear();
    c.out_sent = 0;
    let keep = if c.kind == crate::client::Kind::Replica && streaming {
        c.reply_buf.size.max(crate::replication::STREAM_SLICE)
    } else {
        c.reply_buf.size
    };
    if c.out.buf.capacity() != keep {
        c.out.buf = Vec::with_capacity(keep);
    }
}

/// Part of the output was written while more keeps coming (a slow reader
/// of Pub/Sub messages): the written prefix is dropped once it is most of
/// the buffer, so the buffer does not grow with what was already sent.
pub fn compact_output(c: &mut Client) {
    if c.out_sent >= REPLY_CHUNK_BYTES && c.out_sent * 2 >= c.out.buf.len() {
        c.out.buf.drain(..c.out_sent);
        c.out_sent = 0;
    }
}

/// Redis's `clientsCronResizeQueryBuffer`: a query buffer wasting more
/// than 4 KiB is trimmed — to what it holds when the client has been idle
/// for more than two seconds, or, when it is over 32 KiB and more than
/// twice its recent peak, to that peak (never below what it holds or the
/// argument being received). The peak restarts from the current use.
pub fn cron_resize_querybuf(c: &mut Client, now_ms: i64) {
    let idle_secs = now_ms / 1000 - c.last_interaction_ms / 1000;
    let buf = &mut c.querybuf;
    let size = buf.capacity();
    if size - buf.len() > 4 * 1024 {
        if idle_secs > 2 {
            buf.shrink_to_fit();
        } else if size > RESIZE_THRESHOLD && size / 2 > c.querybuf_peak {
            let target = buf
                .len()
                .max(c.querybuf_peak)
                .max(c.pending_bulk.unwrap_or(0));
            buf.shrink_to(target);
        }
    }
    c.querybuf_peak = buf.len().max(c.pending_bulk.unwrap_or(0));
}

/// Redis's `clientsCronResizeOutputBuffer`: halves the reply buffer (to
/// no less than 1 KiB, and just above the peak) when its peak stayed under
/// half of it, doubles it (up to 16 KiB) when the peak filled it, and
/// resets the peak every `peak_reset_ms`. Returns +1 for a growth, -1 for
/// a shrink (INFO's `reply_buffer_expands` / `_shrinks`).
pub fn cron_resize_reply_buffer(c: &mut Client, set: ReplyBufferSettings, now_ms: i64) -> i32 {
    if !set.resizing {
        return 0;
    }
    let waiting = c.pending_output();
    let rb = &mut c.reply_buf;
    let shrink_to = rb.size / 2;
    let grow_to = rb.size * 2;
    let (new_size, change) = if shrink_to >= REPLY_MIN_BYTES && rb.peak < shrink_to {
        (REPLY_MIN_BYTES.max(rb.peak + 1), -1)
    } else if grow_to < REPLY_CHUNK_BYTES * 2 && rb.peak == rb.size {
        (REPLY_CHUNK_BYTES.min(grow_to), 1)
    } else {
        (0, 0)
    };
    if set.peak_reset_ms >= 0 && now_ms - rb.peak_reset_ms >= set.peak_reset_ms {
        rb.peak = waiting.min(rb.size);
        rb.peak_reset_ms = now_ms;
    }
    if new_size > 0 {
        c.reply_buf.size = new_size;
        // With output waiting, the buffer takes its new size once that is
        // written (`after_output_written`).
        if c.out.buf.is_empty() {
            c.out.buf = Vec::with_capacity(new_size);
        }
    }
    change
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_idle_reply_buffer_shrinks_to_its_floor_and_a_busy_one_doubles_back() {
        let set = ReplyBufferSettings {
            resizing: true,
            peak_reset_ms: 100,
        };
        let mut c = Client::new(1, 0);
        c.reply_buf.peak = 5;
        assert_eq!(cron_resize_reply_buffer(&mut c, set, 1000), -1);
        assert_eq!(c.reply_buf.size, REPLY_MIN_BYTES);
        assert_eq!(c.out.buf.capacity(), REPLY_MIN_BYTES);
        // A reply bigger than the buffer fills it: it doubles per pass.
        let mut sizes = Vec::new();
        for t in 0..5 {
            c.out.buf.extend_from_slice(&[b'x'; 40_000]);
            note_reply_peak(&mut c);
            after_output_written(&mut c, false);
            let never = ReplyBufferSettings {
                peak_reset_ms: -1,
                ..set
            };
            cron_resize_reply_buffer(&mut c, never, 2000 + t);
            sizes.push(c.reply_buf.size);
        }
        assert_eq!(sizes, [2048, 4096, 8192, 16384, 16384]);
        // Resizing off: nothing moves.
        let off = ReplyBufferSettings {
            resizing: false,
            ..set
        };
        c.reply_buf.peak = 0;
        assert_eq!(cron_resize_reply_buffer(&mut c, off, 9000), 0);
        assert_eq!(c.reply_buf.size, 16384);
    }

    #[test]
    fn output_beyond_the_reply_buffer_is_the_reply_list() {
        let mut c = Client::new(1, 0);
        c.out.buf.extend_from_slice(&[b'x'; 100]);
        assert_eq!(output_split(&c), (100, 0, 0));
        c.out.buf.extend_from_slice(&[b'x'; 40_000]);
        assert_eq!(output_split(&c), (16384, 2, 2 * 16384));
        c.out_sent = 30_000;
        assert_eq!(output_split(&c), (10_100, 0, 0));
        compact_output(&mut c);
        assert_eq!((c.out_sent, c.out.buf.len()), (0, 10_100));
    }

    #[test]
    fn query_buffer_takes_16k_then_exact_room_for_a_big_argument() {
        let mut c = Client::new(1, 0);
        assert_eq!(c.querybuf.capacity(), 0);
        prepare_read(&mut c);
        assert_eq!(c.querybuf.capacity(), IOBUF_LEN);
        let mut buf = std::mem::take(&mut c.querybuf);
        buf.extend_from_slice(b"*1\r\n$100000\r\n");
        reserve_big_arg(&mut buf, 14, 100_000);
        assert_eq!(buf.capacity(), 14 + 100_002);
        c.querybuf = buf;
        c.pending_bulk = Some(100_000);
        prepare_read(&mut c);
        assert_eq!(c.querybuf.capacity(), 14 + 100_002);
    }

    #[test]
    fn cron_frees_an_idle_query_buffer_and_trims_one_far_above_its_peak() {
        let mut c = Client::new(1, 0);
        c.querybuf.reserve_exact(IOBUF_LEN);
        cron_resize_querybuf(&mut c, 2_500);
        assert_eq!(c.querybuf.capacity(), IOBUF_LEN);
        cron_resize_querybuf(&mut c, 3_000);
        assert_eq!(c.querybuf.capacity(), 0);

        c.querybuf.reserve_exact(400_000);
        c.last_interaction_ms = 10_000;
        c.querybuf_peak = 400_000;
        cron_resize_querybuf(&mut c, 10_000);
        assert_eq!(c.querybuf.capacity(), 400_000);
        c.querybuf_peak = 130;
        cron_resize_querybuf(&mut c, 10_100);
        assert!(c.querybuf.capacity() >= 130 && c.querybuf.capacity() < 4096);
    }
}
