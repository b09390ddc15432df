//! Stream entry IDs: a 128-bit number, a millisecond time and a sequence
//! number, written `<ms>-<seq>` on the wire.
//!
//! The parser reproduces Redis 7.0's exactly, quirks included, because
//! clients see which arguments are accepted: a number that is not in
//! canonical form falls back to `strtoull` (leading blanks, a `+` sign,
//! leading zeros, and even a `-` sign, which wraps around, are accepted in
//! the sequence part), an argument longer than 127 bytes is refused, and
//! the text ends at the first NUL byte as for a C string.

/// An entry ID. Ordered as Redis orders them: by time, then sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct StreamId {
    pub ms: u64,
    pub seq: u64,
}

/// Longest text `<ms>-<seq>` can take: two 20-digit numbers and a dash.
pub const ID_TEXT_MAX: usize = 41;

impl StreamId {
    /// `0-0`, also what `-` stands for.
    pub const MIN: StreamId = StreamId { ms: 0, seq: 0 };
    /// The largest ID, also what `+` stands for.
    pub const MAX: StreamId = StreamId {
        ms: u64::MAX,
        seq: u64::MAX,
    };

    pub const fn new(ms: u64, seq: u64) -> StreamId {
        StreamId { ms, seq }
    }

    pub fn is_zero(self) -> bool {
        self == StreamId::MIN
    }

    /// The next ID, or None after the last one (Redis's `streamIncrID`
    /// failing).
    pub fn next(self) -> Option<StreamId> {
        if self.seq < u64::MAX {
            Some(StreamId::new(self.ms, self.seq + 1))
        } else if self.ms < u64::MAX {
            Some(StreamId::new(self.ms + 1, 0))
        } else {
            None
        }
    }

    /// The previous ID, or None before `0-0`.
    pub fn prev(self) -> Option<StreamId> {
        if self.seq > 0 {
            Some(StreamId::new(self.ms, self.seq - 1))
        } else if self.ms > 0 {
            Some(StreamId::new(self.ms - 1, u64::MAX))
        } else {
            None
        }
    }

    /// The 16-byte big-endian form Redis uses as radix-tree key and in RDB
    /// files (PEL entries), which sorts like the ID.
    pub fn to_be_bytes(self) -> [u8; 16] {
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&self.ms.to_be_bytes());
        b[8..].copy_from_slice(&self.seq.to_be_bytes());
        b
    }

    pub fn from_be_bytes(b: &[u8; 16]) -> StreamId {
        let mut ms = [0u8; 8];
        let mut seq = [0u8; 8];
        ms.copy_from_slice(&b[..8]);
        seq.copy_from_slice(&b[8..]);
        StreamId::new(u64::from_be_bytes(ms), u64::from_be_bytes(seq))
    }

    /// Writes `<ms>-<seq>` into `buf` and returns it.
    pub fn format(self, buf: &mut [u8; ID_TEXT_MAX]) -> &[u8] {
        let mut a = itoa::Buffer::new();
        let ms = a.format(self.ms).as_bytes();
        let n = ms.len();
        buf[..n].copy_from_slice(ms);
        buf[n] = b'-';
        let mut b = itoa::Buffer::new();
        let seq = b.format(self.seq).as_bytes();
        buf[n + 1..n + 1 + seq.len()].copy_from_slice(seq);
        &buf[..n + 1 + seq.len()]
    }

    /// `<ms>-<seq>` as an owned string of bytes.
    pub fn to_vec(self) -> Vec<u8> {
        let mut buf = [0u8; ID_TEXT_MAX];
        self.format(&mut buf).to_vec()
    }
}

impl std::fmt::Display for StreamId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

/// What an ID argument stood for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParsedId {
    pub id: StreamId,
    /// False for the `<ms>-*` form (XADD only), whose sequence is to be
    /// generated.
    pub seq_given: bool,
}

/// How an ID argument may be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdSyntax {
    /// The sequence used when only `<ms>` is given (0 for a start, all
    /// ones for an end).
    pub missing_seq: u64,
    /// Refuse `-` and `+` (IDs that name an entry rather than a bound).
    pub strict: bool,
    /// Accept `<ms>-*` (XADD's ID argument).
    pub seq_star: bool,
}

impl IdSyntax {
    /// An ID naming an entry: no `-`/`+`, missing sequence 0.
    pub const STRICT: IdSyntax = IdSyntax {
        missing_seq: 0,
        strict: true,
        seq_star: false,
    };
    /// A range bound where `-`/`+` are allowed.
    pub const fn bound(missing_seq: u64) -> IdSyntax {
        IdSyntax {
            missing_seq,
            strict: false,
            seq_star: false,
        }
    }
}

/// Parses an ID argument as Redis's `streamGenericParseIDOrReply` does.
/// None means "Invalid stream ID specified as stream command argument".
pub fn parse_id(arg: &[u8], syntax: IdSyntax) -> Option<ParsedId> {
    // Redis copies the argument into a 128-byte buffer first.
    if arg.len() > 127 {
        return None;
    }
    let text = c_str(arg);
    if syntax.strict && (text == b"-" || text == b"+") {
        return None;
    }
    if text == b"-" {
        return Some(ParsedId {
            id: StreamId::MIN,
            seq_given: true,
        });
    }
    if text == b"+" {
        return Some(ParsedId {
            id: StreamId::MAX,
            seq_given: true,
        });
    }
    let (ms_part, seq_part) = match text.iter().position(|&c| c == b'-') {
        Some(i) => (&text[..i], Some(&text[i + 1..])),
        None => (text, None),
    };
    let ms = string2ull(ms_part)?;
    let (seq, seq_given) = match seq_part {
        None => (syntax.missing_seq, true),
        Some(b"*") if syntax.seq_star => (0, false),
        Some(s) => (string2ull(s)?, true),
    };
    Some(ParsedId {
        id: StreamId::new(ms, seq),
        seq_given,
    })
}

/// The bytes of `arg` up to its first NUL, as C string functions see it.
pub fn c_str(arg: &[u8]) -> &[u8] {
    match arg.iter().position(|&c| c == 0) {
        Some(i) => &arg[..i],
        None => arg,
    }
}

/// Redis's `string2ull`: a canonical non-negative integer, else whatever
/// `strtoull(s, &end, 10)` accepts when it consumes the whole text.
fn string2ull(s: &[u8]) -> Option<u64> {
    if let Some(v) = crate::value::parse_canonical_i64(s) {
        return u64::try_from(v).ok();
    }
    strtoull(s)
}

/// `strtoull` in base 10, requiring the whole text to be consumed:
/// leading white space, an optional sign (a minus negates modulo 2^64),
/// at least one digit, no overflow.
fn strtoull(s: &[u8]) -> Option<u64> {
    let mut i = 0;
    while i < s.len() && matches!(s[i], b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r') {
        i += 1;
    }
    let mut neg = false;
    if i < s.len() && (s[i] == b'+' || s[i] == b'-') {
        neg = s[i] == b'-';
        i += 1;
    }
    let digits = &s[i..];
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut v: u64 = 0;
    for &d in digits {
        v = v.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
    }
    Some(if neg { v.wrapping_neg() } else { v })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Option<StreamId> {
        parse_id(s.as_bytes(), IdSyntax::bound(0)).map(|p| p.id)
    }

    #[test]
    fn parses_as_redis_does() {
        assert_eq!(p("5"), Some(StreamId::new(5, 0)));
        assert_eq!(p("5-3"), Some(StreamId::new(5, 3)));
        assert_eq!(p("-"), Some(StreamId::MIN));
        assert_eq!(p("+"), Some(StreamId::MAX));
        assert_eq!(p("007-1"), Some(StreamId::new(7, 1)));
        assert_eq!(p(" 5-+2"), Some(StreamId::new(5, 2)));
        assert_eq!(p("5--01"), Some(StreamId::new(5, u64::MAX)));
        assert_eq!(p("5--1"), None);
        assert_eq!(p("-1"), None);
        assert_eq!(p("5-"), None);
        assert_eq!(p(""), None);
        assert_eq!(p("abc"), None);
        assert_eq!(p("18446744073709551616"), None);
        assert_eq!(
            p("18446744073709551615-18446744073709551615"),
            Some(StreamId::MAX)
        );
        assert_eq!(p("5\0-9"), Some(StreamId::new(5, 0)));
        assert_eq!(p(&"1".repeat(128)), None);
        assert_eq!(
            parse_id(b"+", IdSyntax::STRICT),
            None,
            "strict IDs refuse the bounds"
        );
        let star = IdSyntax {
            seq_star: true,
            ..IdSyntax::STRICT
        };
        assert_eq!(
            parse_id(b"7-*", star),
            Some(ParsedId {
                id: StreamId::new(7, 0),
                seq_given: false
            })
        );
        assert_eq!(parse_id(b"7-*", IdSyntax::STRICT), None);
        assert_eq!(
            parse_id(b"9", IdSyntax::bound(u64::MAX)).map(|p| p.id),
            Some(StreamId::new(9, u64::MAX))
        );
    }

    #[test]
    fn neighbours_and_text() {
        assert_eq!(StreamId::new(1, u64::MAX).next(), Some(StreamId::new(2, 0)));
        assert_eq!(StreamId::MAX.next(), None);
        assert_eq!(StreamId::new(2, 0).prev(), Some(StreamId::new(1, u64::MAX)));
        assert_eq!(StreamId::MIN.prev(), None);
        let mut b = [0u8; ID_TEXT_MAX];
        assert_eq!(StreamId::MAX.format(&mut b).len(), ID_TEXT_MAX);
        assert_eq!(StreamId::new(12, 3).to_vec(), b"12-3");
        let id = StreamId::new(0x0102, 7);
        assert_eq!(StreamId::from_be_bytes(&id.to_be_bytes()), id);
    }
}
