//! A general RESP2/RESP3 frame parser, for the side that reads replies (the
//! replica link, Sentinel, `doctor`, tests) and for property tests of the
//! encoder. Unlike the request parser it builds owned values: replies read
//! by Redoubt's own clients are small and not on the server's hot path.

use crate::request::{memchr, parse_i64};

/// Deepest nesting accepted, so a hostile peer cannot exhaust the stack.
const MAX_DEPTH: usize = 64;
/// Largest aggregate length accepted before any element is read.
const MAX_AGGREGATE: i64 = 1 << 32;
/// Largest bulk string accepted.
const MAX_BULK: i64 = 1 << 32;

#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    Simple(Vec<u8>),
    Error(Vec<u8>),
    Integer(i64),
    Bulk(Vec<u8>),
    /// RESP2 `$-1`/`*-1` and RESP3 `_`.
    Null,
    Array(Vec<Frame>),
    Double(Vec<u8>),
    Boolean(bool),
    BigNumber(Vec<u8>),
    Verbatim(Vec<u8>),
    Map(Vec<(Frame, Frame)>),
    Set(Vec<Frame>),
    Push(Vec<Frame>),
    /// A RESP3 attribute map (`|`) and the reply it annotates, which
    /// always follows it.
    Attributed(Vec<(Frame, Frame)>, Box<Frame>),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("invalid RESP type byte {0:#04x}")]
    BadType(u8),
    #[error("invalid length or number in RESP header")]
    BadNumber,
    #[error("RESP frame nested too deeply")]
    TooDeep,
    #[error("RESP frame too large")]
    TooLarge,
}

impl Frame {
    /// The frame as bytes when it is a string of any kind.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Frame::Simple(b) | Frame::Bulk(b) | Frame::Verbatim(b) | Frame::Double(b) => Some(b),
            _ => None,
        }
    }
}

/// Parses one frame from the front of `buf`. `Ok(None)` means incomplete;
/// `Ok(Some((frame, consumed)))` a complete frame.
pub fn parse_frame(buf: &[u8]) -> Result<Option<(Frame, usize)>, FrameError> {
    parse_at(buf, 0, 0)
}

fn line(buf: &[u8], pos: usize) -> Option<(&[u8], usize)> {
    let rest = buf.get(pos..)?;
    let cr = memchr(b'\r', rest)?;
    if cr + 1 >= rest.len() {
        return None;
    }
    Some((&rest[..cr], pos + cr + 2))
}

fn parse_at(buf: &[u8], pos: usize, depth: usize) -> Result<Option<(Frame, usize)>, FrameError> {
    if depth > MAX_DEPTH {
        return Err(FrameError::TooDeep);
    }
    let Some(&t) = buf.get(pos) else {
        return Ok(None);
    };
    let Some((l, next)) = line(buf, pos + 1) else {
        return Ok(None);
    };
    let num = || parse_i64(l).ok_or(FrameError::BadNumber);
    let frame = match t {
        b'+' => (Frame::Simple(l.to_vec()), next),
        b'-' => (Frame::Error(l.to_vec()), next),
        b':' => (Frame::Integer(num()?), next),
        b',' => (Frame::Double(l.to_vec()), next),
        b'(' => (Frame::BigNumber(l.to_vec()), next),
        b'_' => (Frame::Null, next),
        b'#' => match l {
            b"t" => (Frame::Boolean(true), next),
            b"f" => (Frame::Boolean(false), next),
            _ => return Err(FrameError::BadNumber),
        },
        b'$' | b'=' | b'!' => {
            let n = num()?;
            if n == -1 && t == b'$' {
                (Frame::Null, next)
            } else if !(0..=MAX_BULK).contains(&n) {
                return Err(FrameError::TooLarge);
            } else {
                let end = next + n as usize;
                if end + 2 > buf.len() {
                    return Ok(None);
                }
                let body = buf[next..end].to_vec();
                let f = match t {
                    b'$' => Frame::Bulk(body),
                    b'=' => Frame::Verbatim(body),
                    _ => Frame::Error(body),
                };
                (f, end + 2)
            }
        }
        b'|' => {
            let n = num()?;
            if !(0..=MAX_AGGREGATE).contains(&n) {
                return Err(FrameError::TooLarge);
            }
            let mut pairs = Vec::with_capacity((n as usize).min(1024));
            let mut p = next;
            for _ in 0..n {
                let Some((k, np)) = parse_at(buf, p, depth + 1)? else {
                    return Ok(None);
                };
                let Some((v, np)) = parse_at(buf, np, depth + 1)? else {
                    return Ok(None);
                };
                pairs.push((k, v));
                p = np;
            }
            match parse_at(buf, p, depth + 1)? {
                Some((reply, np)) => (Frame::Attributed(pairs, Box::new(reply)), np),
                None => return Ok(None),
            }
        }
        b'*' | b'~' | b'>' | b'%' => {
            let n = num()?;
            if n == -1 && t == b'*' {
                return Ok(Some((Frame::Null, next)));
            }
            if !(0..=MAX_AGGREGATE).contains(&n) {
                return Err(FrameError::TooLarge);
            }
            let items = if t == b'%' { 2 * n } else { n } as usize;
            let mut v = Vec::with_capacity(items.min(1024));
            let mut p = next;
            for _ in 0..items {
                match parse_at(buf, p, depth + 1)? {
                    Some((f, np)) => {
                        v.push(f);
                        p = np;
                    }
                    None => return Ok(None),
                }
            }
            let f = match t {
                b'*' => Frame::Array(v),
                b'~' => Frame::Set(v),
                b'>' => Frame::Push(v),
                _ => {
                    let mut pairs = Vec::with_capacity(v.len() / 2);
                    let mut it = v.into_iter();
                    while let (Some(k), Some(val)) = (it.next(), it.next()) {
                        pairs.push((k, val));
                    }
                    Frame::Map(pairs)
                }
            };
            (f, p)
        }
        other => return Err(FrameError::BadType(other)),
    };
    Ok(Some(frame))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reply::Reply;
    use proptest::prelude::*;

    #[test]
    fn parses_nested_resp3() {
        let b = b"%1\r\n+a\r\n*2\r\n:1\r\n_\r\n";
        let (f, n) = parse_frame(b).ok().flatten().unwrap_or((Frame::Null, 0));
        assert_eq!(n, b.len());
        assert_eq!(
            f,
            Frame::Map(vec![(
                Frame::Simple(b"a".to_vec()),
                Frame::Array(vec![Frame::Integer(1), Frame::Null])
            )])
        );
    }

    #[test]
    fn nesting_is_bounded() {
        // A peer nesting aggregates deeper than MAX_DEPTH gets an error,
        // not a stack overflow, whatever the aggregate type.
        for t in ["*1\r\n", "%1\r\n", "~1\r\n", ">1\r\n"] {
            let mut deep = t.repeat(MAX_DEPTH + 2);
            deep.push_str(":1\r\n");
            assert_eq!(parse_frame(deep.as_bytes()), Err(FrameError::TooDeep));
        }
        let mut ok = "*1\r\n".repeat(MAX_DEPTH);
        ok.push_str(":1\r\n");
        assert!(matches!(parse_frame(ok.as_bytes()), Ok(Some(_))));
        // Also when the input is a million levels deep.
        assert_eq!(
            parse_frame("*1\r\n".repeat(1 << 20).as_bytes()),
            Err(FrameError::TooDeep)
        );
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = parse_frame(&data);
        }

        #[test]
        fn encoded_bulks_round_trip(items in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..64), 0..16), n in any::<i64>()) {
            let mut r = Reply::new();
            r.array(items.len() + 1);
            for it in &items { r.bulk(it); }
            r.int(n);
            let parsed = parse_frame(&r.buf).ok().flatten();
            let mut expect: Vec<Frame> = items.iter().map(|i| Frame::Bulk(i.clone())).collect();
            expect.push(Frame::Integer(n));
            prop_assert_eq!(parsed, Some((Frame::Array(expect), r.buf.len())));
        }
    }
}
