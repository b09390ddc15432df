//! Reply encoding into a connection's output buffer.
//!
//! [`Reply`] wraps the buffer with the connection's protocol version, so
//! handlers write `null()` or `map(n)` once and get `$-1`/`_` or `*2n`/`%n`
//! as the client negotiated. Numbers are formatted with `itoa` straight into
//! the buffer: no intermediate `String` per reply.

/// An output buffer plus the protocol version it speaks (2 or 3).
#[derive(Debug)]
pub struct Reply {
    pub buf: Vec<u8>,
    pub resp3: bool,
    /// While `track_pushes` is set, the byte ranges of `buf` written as
    /// out-of-band messages (Pub/Sub and tracking messages, subscription
    /// confirmations): `CLIENT REPLY OFF|SKIP` drops a command's reply but
    /// keeps these, as Redis's `CLIENT_PUSHING` does.
    pub track_pushes: bool,
    pub pushes: Vec<std::ops::Range<usize>>,
}

impl Default for Reply {
    fn default() -> Self {
        Self::new()
    }
}

impl Reply {
    pub fn new() -> Self {
        Reply {
            buf: Vec::with_capacity(16 * 1024),
            resp3: false,
            track_pushes: false,
            pushes: Vec::new(),
        }
    }

    /// A reply writing into `buf` (which may start empty, unallocated).
    pub fn with_buf(buf: Vec<u8>, resp3: bool) -> Self {
        Reply {
            buf,
            resp3,
            track_pushes: false,
            pushes: Vec::new(),
        }
    }

    /// Records `buf[start..]` (just written) as an out-of-band message.
    #[inline]
    pub fn mark_push(&mut self, start: usize) {
        if self.track_pushes {
            self.pushes.push(start..self.buf.len());
        }
    }

    /// Inserts `bytes` (messages) at `at`, shifting the recorded messages
    /// after it and recording the inserted ones.
    pub fn insert_pushes(&mut self, at: usize, bytes: Vec<u8>) {
        let n = bytes.len();
        self.buf.splice(at..at, bytes);
        if self.track_pushes {
            for r in &mut self.pushes {
                if r.start >= at {
                    *r = r.start + n..r.end + n;
                }
            }
            self.pushes.push(at..at + n);
        }
    }

    /// Drops everything written from `mark` on except the recorded
    /// messages (`CLIENT REPLY OFF|SKIP`), and stops recording.
    pub fn drop_replies_from(&mut self, mark: usize) {
        let mut kept = Vec::new();
        self.pushes.sort_by_key(|r| r.start);
        for r in self.pushes.drain(..) {
            if r.start >= mark && r.end <= self.buf.len() {
                kept.extend_from_slice(&self.buf[r]);
            }
        }
        self.buf.truncate(mark);
        self.buf.extend_from_slice(&kept);
        self.track_pushes = false;
    }

    #[inline]
    fn header(&mut self, prefix: u8, n: i64) {
        self.buf.push(prefix);
        let mut b = itoa::Buffer::new();
        self.buf.extend_from_slice(b.format(n).as_bytes());
        self.buf.extend_from_slice(b"\r\n");
    }

    /// `+OK`-style status reply. `s` must not contain CR or LF.
    #[inline]
    pub fn simple(&mut self, s: &[u8]) {
        self.buf.push(b'+');
        self.buf.extend_from_slice(s);
        self.buf.extend_from_slice(b"\r\n");
    }

    #[inline]
    pub fn ok(&mut self) {
        self.buf.extend_from_slice(b"+OK\r\n");
    }

    /// An error reply; `msg` is the full text after the `-`, code included
    /// (`ERR ...`, `WRONGTYPE ...`). Newlines would break the protocol, so
    /// they are replaced with spaces, as Redis does.
    pub fn error(&mut self, msg: &str) {
        self.buf.push(b'-');
        let start = self.buf.len();
        self.buf.extend_from_slice(msg.as_bytes());
        for b in &mut self.buf[start..] {
            if *b == b'\r' || *b == b'\n' {
                *b = b' ';
            }
        }
        self.buf.extend_from_slice(b"\r\n");
    }

    #[inline]
    pub fn int(&mut self, n: i64) {
        self.header(b':', n);
    }

    #[inline]
    pub fn bulk(&mut self, s: &[u8]) {
        self.header(b'$', s.len() as i64);
        self.buf.extend_from_slice(s);
        self.buf.extend_from_slice(b"\r\n");
    }

    /// A bulk string holding a decimal integer (e.g. `GET` of an int-encoded
    /// value).
    pub fn bulk_int(&mut self, n: i64) {
        let mut b = itoa::Buffer::new();
        let s = b.format(n);
        self.bulk(s.as_bytes());
    }

    /// The null bulk string (RESP2 `$-1`, RESP3 `_`).
    #[inline]
    pub fn null(&mut self) {
        if self.resp3 {
            self.buf.extend_from_slice(b"_\r\n");
        } else {
            self.buf.extend_from_slice(b"$-1\r\n");
        }
    }

    /// The null array (RESP2 `*-1`, RESP3 `_`).
    pub fn null_array(&mut self) {
        if self.resp3 {
            self.buf.extend_from_slice(b"_\r\n");
        } else {
            self.buf.extend_from_slice(b"*-1\r\n");
        }
    }

    #[inline]
    pub fn array(&mut self, n: usize) {
        self.header(b'*', n as i64);
    }

    /// A map of `n` pairs (RESP2: a flat array of 2n elements).
    pub fn map(&mut self, n: usize) {
        if self.resp3 {
            self.header(b'%', n as i64);
        } else {
            self.header(b'*', 2 * n as i64);
        }
    }

    /// A set of `n` elements (RESP2: an array).
    pub fn set(&mut self, n: usize) {
        if self.resp3 {
            self.header(b'~', n as i64);
        } else {
            self.header(b'*', n as i64);
        }
    }

    /// An out-of-band push of `n` elements (RESP2: an array).
    pub fn push(&mut self, n: usize) {
        if self.resp3 {
            self.header(b'>', n as i64);
        } else {
            self.header(b'*', n as i64);
        }
    }

    /// A double already formatted by the caller (RESP3 `,`, RESP2 bulk).
    pub fn double_str(&mut self, s: &[u8]) {
        if self.resp3 {
            self.buf.push(b',');
            self.buf.extend_from_slice(s);
            self.buf.extend_from_slice(b"\r\n");
        } else {
            self.bulk(s);
        }
    }

    /// A boolean (RESP3 `#t`/`#f`, RESP2 `:1`/`:0`).
    pub fn boolean(&mut self, v: bool) {
        if self.resp3 {
            self.buf
                .extend_from_slice(if v { b"#t\r\n" } else { b"#f\r\n" });
        } else {
            self.int(v as i64);
        }
    }

    /// A big number given as its decimal digits (RESP3 `(`, RESP2 a bulk
    /// string).
    pub fn big_number(&mut self, digits: &[u8]) {
        if self.resp3 {
            self.buf.push(b'(');
            self.buf.extend_from_slice(digits);
            self.buf.extend_from_slice(b"\r\n");
        } else {
            self.bulk(digits);
        }
    }

    /// The header of an attribute map of `n` pairs (RESP3 only: callers
    /// write no attribute at all in RESP2, as Redis does).
    pub fn attribute(&mut self, n: usize) {
        self.header(b'|', n as i64);
    }

    /// Verbatim text (RESP3 `=len\r\ntxt:...`, RESP2 a bulk string), used by
    /// `INFO`, `CLIENT LIST` and friends.
    pub fn verbatim(&mut self, s: &[u8]) {
        if self.resp3 {
            self.header(b'=', s.len() as i64 + 4);
            self.buf.extend_from_slice(b"txt:");
            self.buf.extend_from_slice(s);
            self.buf.extend_from_slice(b"\r\n");
        } else {
            self.bulk(s);
        }
    }

    /// Current length, to come back to with [`Reply::insert_array_len`]
    /// when the number of elements is only known after writing them.
    pub fn mark(&self) -> usize {
        self.buf.len()
    }

    /// Inserts an array header at `mark` (Redis's deferred length).
    pub fn insert_array_len(&mut self, mark: usize, n: usize) {
        self.insert_header(mark, b'*', n as i64);
    }

    /// Inserts a map header at `mark` for `n` pairs.
    pub fn insert_map_len(&mut self, mark: usize, n: usize) {
        if self.resp3 {
            self.insert_header(mark, b'%', n as i64);
        } else {
            self.insert_header(mark, b'*', 2 * n as i64);
        }
    }

    /// Inserts a set header at `mark`.
    pub fn insert_set_len(&mut self, mark: usize, n: usize) {
        let p = if self.resp3 { b'~' } else { b'*' };
        self.insert_header(mark, p, n as i64);
    }

    fn insert_header(&mut self, mark: usize, prefix: u8, n: i64) {
        let mut b = itoa::Buffer::new();
        let digits = b.format(n).as_bytes();
        let mut h = [0u8; 24];
        h[0] = prefix;
        h[1..1 + digits.len()].copy_from_slice(digits);
        h[1 + digits.len()..3 + digits.len()].copy_from_slice(b"\r\n");
        let hl = 3 + digits.len();
        let mark = mark.min(self.buf.len());
        self.buf.splice(mark..mark, h[..hl].iter().copied());
    }

    /// Raw bytes already in RESP form.
    pub fn raw(&mut self, s: &[u8]) {
        self.buf.extend_from_slice(s);
    }
}
