//! Incremental parser for client requests: RESP multibulk arrays and inline
//! commands, as a Redis 7.0 server accepts them.
//!
//! The parser never copies argument bytes for multibulk requests: it records
//! `(start, end)` ranges into the caller's read buffer, and the caller reads
//! the arguments as slices of that buffer. Inline commands (`nc`, telnet) may
//! contain quotes and escapes, so their unescaped arguments are written to a
//! scratch buffer owned by the [`Request`] instead.
//!
//! The parser is resumable: when a request is incomplete it returns
//! [`Parsed::Incomplete`] and the caller reads more bytes and calls it again
//! from the same position. For a very large bulk argument it would be
//! wasteful to rescan the headers each time; the cost is bounded because the
//! headers are short and a partial request is only reparsed once per read.
//!
//! Error messages follow `networking.c` word for word, since clients and
//! tests see them as `-ERR Protocol error: ...` replies.

use crate::split_args::split_args;

/// Longest inline request or header line Redis accepts before it declares
/// the request too big (PROTO_INLINE_MAX_SIZE).
pub const INLINE_MAX_SIZE: usize = 64 * 1024;

/// Limits applied while parsing; they come from the server's configuration.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// `proto-max-bulk-len`: the longest single argument.
    pub max_bulk_len: i64,
    /// The client has not authenticated yet: Redis then allows at most 10
    /// arguments of at most 16 KiB each, so an unauthenticated peer cannot
    /// make the server buffer large requests.
    pub unauthenticated: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bulk_len: 512 * 1024 * 1024,
            unauthenticated: false,
        }
    }
}

/// Where the bytes of a parsed request's arguments live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArgSource {
    /// Ranges index the read buffer passed to [`parse_request`].
    Buffer,
    /// Ranges index [`Request::scratch`] (inline commands).
    Scratch,
}

/// A parsed request: argument ranges plus, for inline commands, the
/// unescaped bytes. Reused across requests so that parsing allocates only
/// when a request has more arguments than any before it.
#[derive(Debug, Default)]
pub struct Request {
    pub ranges: Vec<(usize, usize)>,
    pub scratch: Vec<u8>,
    pub source: Option<ArgSource>,
    /// After [`Parsed::Incomplete`] on a multibulk request: how far it got
    /// (`ranges` then holds the arguments already complete).
    pub partial: Partial,
}

/// Where an incomplete multibulk request stands, in Redis's terms: what
/// Redis would already have consumed from its query buffer (the headers
/// and the complete arguments, which it holds as `argv`), and the length
/// of the bulk argument being received once its header is complete
/// (Redis's `bulklen`, which sizes the buffer for a big argument).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Partial {
    pub consumed: usize,
    pub bulk_len: Option<usize>,
}

impl Request {
    pub fn clear(&mut self) {
        self.ranges.clear();
        self.scratch.clear();
        self.source = None;
        self.partial = Partial::default();
    }

    pub fn len(&self) -> usize {
        self.ranges.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// The bytes the ranges point into, given the read buffer the request
    /// was parsed from.
    pub fn backing<'a>(&'a self, buf: &'a [u8]) -> &'a [u8] {
        match self.source {
            Some(ArgSource::Scratch) => &self.scratch,
            _ => buf,
        }
    }
}

/// Outcome of one parse step.
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    /// A complete request was parsed; `consumed` bytes of the buffer belong
    /// to it. The request may be empty (an empty inline line or `*0`), in
    /// which case there is nothing to execute.
    Complete { consumed: usize },
    /// More bytes are needed.
    Incomplete,
    /// The input is not valid RESP. The message is the text after `-ERR `.
    Error(ProtocolError),
}

/// A protocol violation. The server replies `-ERR Protocol error: <msg>` and
/// closes the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    #[error("Protocol error: too big inline request")]
    TooBigInline,
    #[error("Protocol error: unbalanced quotes in request")]
    UnbalancedQuotes,
    #[error("Protocol error: too big mbulk count string")]
    TooBigMbulkCount,
    #[error("Protocol error: invalid multibulk length")]
    InvalidMultibulkLength,
    #[error("Protocol error: unauthenticated multibulk length")]
    UnauthenticatedMultibulkLength,
    #[error("Protocol error: too big bulk count string")]
    TooBigBulkCount,
    #[error("Protocol error: expected '$', got '{}'", *.0 as char)]
    ExpectedDollar(u8),
    #[error("Protocol error: invalid bulk length")]
    InvalidBulkLength,
    #[error("Protocol error: unauthenticated bulk length")]
    UnauthenticatedBulkLength,
}

/// Parses one request from the front of `buf` into `req`.
pub fn parse_request(buf: &[u8], limits: &Limits, req: &mut Request) -> Parsed {
    req.clear();
    match buf.first() {
        None => Parsed::Incomplete,
        Some(b'*') => parse_multibulk(buf, limits, req),
        Some(_) => parse_inline(buf, req),
    }
}

fn parse_inline(buf: &[u8], req: &mut Request) -> Parsed {
    let Some(nl) = memchr(b'\n', buf) else {
        if buf.len() > INLINE_MAX_SIZE {
            return Parsed::Error(ProtocolError::TooBigInline);
        }
        return Parsed::Incomplete;
    };
    let mut line = &buf[..nl];
    if line.last() == Some(&b'\r') {
        line = &line[..line.len() - 1];
    }
    req.source = Some(ArgSource::Scratch);
    if split_args(line, &mut req.scratch, &mut req.ranges).is_err() {
        req.clear();
        return Parsed::Error(ProtocolError::UnbalancedQuotes);
    }
    Parsed::Complete { consumed: nl + 1 }
}

/// Reads a header line (`*<n>` or `$<n>`) starting at `pos`, which points at
/// the type byte. Returns the number and the position after `\r\n`.
/// Like Redis, the line ends at the first `\r` and the byte after it is
/// skipped without being checked.
fn header_line(buf: &[u8], pos: usize) -> Option<(&[u8], usize)> {
    let rest = &buf[pos + 1..];
    let cr = memchr(b'\r', rest)?;
    if cr + 2 > rest.len() {
        return None;
    }
    Some((&rest[..cr], pos + 1 + cr + 2))
}

fn parse_multibulk(buf: &[u8], limits: &Limits, req: &mut Request) -> Parsed {
    let (count_str, mut pos) = match header_line(buf, 0) {
        Some(x) => x,
        None => {
            if buf.len() > INLINE_MAX_SIZE {
                return Parsed::Error(ProtocolError::TooBigMbulkCount);
            }
            return Parsed::Incomplete;
        }
    };
    let count = match parse_i64(count_str) {
        Some(n) if n <= i32::MAX as i64 => n,
        _ => return Parsed::Error(ProtocolError::InvalidMultibulkLength),
    };
    if limits.unauthenticated && count > 10 {
        return Parsed::Error(ProtocolError::UnauthenticatedMultibulkLength);
    }
    req.source = Some(ArgSource::Buffer);
    if count <= 0 {
        return Parsed::Complete { consumed: pos };
    }
    // Reserve at most a modest amount up front: the count is untrusted.
    req.ranges.reserve((count as usize).min(1024));
    for _ in 0..count {
        req.partial = Partial {
            consumed: pos,
            bulk_len: None,
        };
        if pos >= buf.len() {
            return Parsed::Incomplete;
        }
        if buf[pos] != b'$' {
            return Parsed::Error(ProtocolError::ExpectedDollar(buf[pos]));
        }
        let (len_str, after) = match header_line(buf, pos) {
            Some(x) => x,
            None => {
                if buf.len() - pos > INLINE_MAX_SIZE {
                    return Parsed::Error(ProtocolError::TooBigBulkCount);
                }
                return Parsed::Incomplete;
            }
        };
        let len = match parse_i64(len_str) {
            Some(n) if n >= 0 && n <= limits.max_bulk_len => n as usize,
            _ => return Parsed::Error(ProtocolError::InvalidBulkLength),
        };
        if limits.unauthenticated && len > 16384 {
            return Parsed::Error(ProtocolError::UnauthenticatedBulkLength);
        }
        let Some(end) = after.checked_add(len) else {
            return Parsed::Error(ProtocolError::InvalidBulkLength);
        };
        if end + 2 > buf.len() {
            req.partial = Partial {
                consumed: after,
                bulk_len: Some(len),
            };
            return Parsed::Incomplete;
        }
        req.ranges.push((after, end));
        pos = end + 2;
    }
    req.partial = Partial::default();
    Parsed::Complete { consumed: pos }
}

/// Strict integer parsing as Redis's `string2ll`: an optional `-`, digits,
/// no leading zeros (except "0" itself), no spaces or `+`, no overflow.
pub fn parse_i64(s: &[u8]) -> Option<i64> {
    if s.is_empty() || s.len() > 20 {
        return None;
    }
    if s == b"0" {
        return Some(0);
    }
    let (neg, digits) = match s[0] {
        b'-' => (true, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() || digits[0] == b'0' {
        return None;
    }
    let mut v: u64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add((c - b'0') as u64)?;
    }
    if neg {
        if v > (i64::MAX as u64) + 1 {
            None
        } else {
            Some((v as i64).wrapping_neg())
        }
    } else if v > i64::MAX as u64 {
        None
    } else {
        Some(v as i64)
    }
}

#[inline]
pub(crate) fn memchr(needle: u8, hay: &[u8]) -> Option<usize> {
    hay.iter().position(|&b| b == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(buf: &[u8]) -> (Parsed, Vec<Vec<u8>>) {
        let mut req = Request::default();
        let p = parse_request(buf, &Limits::default(), &mut req);
        let backing = req.backing(buf);
        let a = req
            .ranges
            .iter()
            .map(|&(s, e)| backing[s..e].to_vec())
            .collect();
        (p, a)
    }

    #[test]
    fn multibulk_complete_and_partial() {
        let full = b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n";
        let (p, a) = args(full);
        assert_eq!(
            p,
            Parsed::Complete {
                consumed: full.len()
            }
        );
        assert_eq!(a, vec![b"GET".to_vec(), b"k".to_vec()]);
        for cut in 0..full.len() {
            assert_eq!(args(&full[..cut]).0, Parsed::Incomplete, "cut at {cut}");
        }
    }

    #[test]
    fn an_incomplete_request_says_what_redis_would_have_consumed() {
        let mut req = Request::default();
        let lim = Limits::default();
        let head = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$100000\r\nvvv";
        assert_eq!(parse_request(head, &lim, &mut req), Parsed::Incomplete);
        // Headers and the two complete arguments are consumed; the bulk
        // being received is announced.
        assert_eq!(
            req.partial,
            Partial {
                consumed: head.len() - 3,
                bulk_len: Some(100_000)
            }
        );
        assert_eq!(req.ranges.len(), 2);
        assert_eq!(
            parse_request(b"*2\r\n$3\r\nGET\r\n", &lim, &mut req),
            Parsed::Incomplete
        );
        assert_eq!(
            req.partial,
            Partial {
                consumed: 13,
                bulk_len: None
            }
        );
        // A complete request leaves nothing partial behind.
        let full = b"*1\r\n$4\r\nPING\r\n";
        assert!(matches!(
            parse_request(full, &lim, &mut req),
            Parsed::Complete { .. }
        ));
        assert_eq!(req.partial, Partial::default());
    }

    #[test]
    fn inline_with_quotes() {
        let (p, a) = args(b"set k \"a b\\x41\"\r\n");
        assert_eq!(p, Parsed::Complete { consumed: 17 });
        assert_eq!(a, vec![b"set".to_vec(), b"k".to_vec(), b"a bA".to_vec()]);
        let (p, _) = args(b"set k \"ab\r\n");
        assert_eq!(p, Parsed::Error(ProtocolError::UnbalancedQuotes));
    }

    #[test]
    fn protocol_errors_match_redis_text() {
        assert_eq!(
            args(b"*x\r\n").0,
            Parsed::Error(ProtocolError::InvalidMultibulkLength)
        );
        let (p, _) = args(b"*1\r\n+x\r\n");
        assert_eq!(
            p.clone_err().map(|e| e.to_string()),
            Some("Protocol error: expected '$', got '+'".to_string())
        );
        assert_eq!(
            args(b"*1\r\n$-1\r\n").0,
            Parsed::Error(ProtocolError::InvalidBulkLength)
        );
    }

    impl Parsed {
        fn clone_err(&self) -> Option<ProtocolError> {
            match self {
                Parsed::Error(e) => Some(*e),
                _ => None,
            }
        }
    }

    #[test]
    fn string2ll_rules() {
        assert_eq!(parse_i64(b"0"), Some(0));
        assert_eq!(parse_i64(b"-0"), None);
        assert_eq!(parse_i64(b"01"), None);
        assert_eq!(parse_i64(b"+1"), None);
        assert_eq!(parse_i64(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(parse_i64(b"-9223372036854775808"), Some(i64::MIN));
        assert_eq!(parse_i64(b"9223372036854775808"), None);
    }
}
