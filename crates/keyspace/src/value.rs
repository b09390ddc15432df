//! Value types and their encodings.
//!
//! Strings keep the three encodings Redis reports through `OBJECT ENCODING`,
//! because clients and tests observe them: `int` (a decimal integer stored
//! as an `i64`), `embstr` (short strings created whole) and `raw` (strings
//! that were modified in place, or longer than 44 bytes).

use crate::small::SmallBytes;

/// Longest string Redis stores with the `embstr` encoding.
pub const EMBSTR_MAX: usize = 44;

/// A string value: 24 bytes, like the key beside it (see `small.rs`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StrValue {
    /// A string that is the canonical decimal form of an `i64`.
    Int(i64),
    /// Bytes as created whole (`SET`): inline up to 22 bytes, else one
    /// exact-size block. Redis reports `embstr` up to [`EMBSTR_MAX`] bytes
    /// and `raw` beyond.
    Bytes(SmallBytes),
    /// A string modified in place (`APPEND`, `SETRANGE`, `SETBIT`): Redis
    /// reports `raw` whatever its length. It keeps its spare capacity, as
    /// sds does, so repeated appends stay amortised O(1).
    Raw(Box<Vec<u8>>),
}

impl StrValue {
    /// Builds a string as `SET` does: integers are stored as such when the
    /// text is their canonical form.
    pub fn from_bytes(b: &[u8]) -> StrValue {
        if b.len() <= 20 {
            if let Some(n) = parse_canonical_i64(b) {
                return StrValue::Int(n);
            }
        }
        StrValue::Bytes(SmallBytes::new(b))
    }

    /// Like [`StrValue::from_bytes`], taking ownership of the bytes.
    pub fn from_vec(v: Vec<u8>) -> StrValue {
        if v.len() <= 20 {
            if let Some(n) = parse_canonical_i64(&v) {
                return StrValue::Int(n);
            }
        }
        StrValue::Bytes(SmallBytes::from_vec(v))
    }

    /// A string kept as text even when it looks like an integer (Redis's
    /// `createStringObject` without `tryObjectEncoding`, e.g. the result of
    /// `INCRBYFLOAT`).
    pub fn text(b: &[u8]) -> StrValue {
        StrValue::Bytes(SmallBytes::new(b))
    }

    /// A string built by an in-place modification (`APPEND`, `SETRANGE`,
    /// `SETBIT`): Redis reports these as `raw` whatever their length.
    pub fn raw(data: Vec<u8>) -> StrValue {
        StrValue::Raw(Box::new(data))
    }

    pub fn len(&self) -> usize {
        match self {
            StrValue::Int(n) => {
                let mut b = itoa_buf();
                fmt_i64(*n, &mut b).len()
            }
            StrValue::Bytes(b) => b.len(),
            StrValue::Raw(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The string's bytes, formatting an integer into `scratch` if needed.
    #[inline]
    pub fn as_bytes<'a>(&'a self, scratch: &'a mut [u8; 24]) -> &'a [u8] {
        match self {
            StrValue::Int(n) => fmt_i64(*n, scratch),
            StrValue::Bytes(b) => b,
            StrValue::Raw(v) => v,
        }
    }

    /// The stored bytes, or None for an integer (which has no bytes until
    /// formatted; see [`StrValue::as_bytes`]).
    #[inline]
    pub fn bytes(&self) -> Option<&[u8]> {
        match self {
            StrValue::Int(_) => None,
            StrValue::Bytes(b) => Some(b),
            StrValue::Raw(v) => Some(v),
        }
    }

    /// Takes the bytes out, converting an integer to text.
    pub fn into_vec(self) -> Vec<u8> {
        match self {
            StrValue::Int(n) => {
                let mut b = itoa_buf();
                fmt_i64(n, &mut b).to_vec()
            }
            StrValue::Bytes(b) => b.into_vec(),
            StrValue::Raw(v) => *v,
        }
    }

    /// Gives mutable access to the bytes for an in-place change; the string
    /// becomes `raw`, as in Redis.
    pub fn make_raw(&mut self) -> &mut Vec<u8> {
        if !matches!(self, StrValue::Raw(_)) {
            let data = std::mem::replace(self, StrValue::Int(0)).into_vec();
            *self = StrValue::raw(data);
        }
        match self {
            StrValue::Raw(v) => v,
            // Made `Raw` just above.
            _ => unreachable!("make_raw just stored a raw string"),
        }
    }

    pub fn encoding(&self) -> &'static str {
        match self {
            StrValue::Int(_) => "int",
            StrValue::Bytes(b) if b.len() <= EMBSTR_MAX => "embstr",
            StrValue::Bytes(_) | StrValue::Raw(_) => "raw",
        }
    }

    /// Whether Redis would report `raw` (see [`StrValue::encoding`]).
    pub fn is_raw(&self) -> bool {
        self.encoding() == "raw"
    }

    /// Capacity of the string's buffer as Redis's sds would have it: the
    /// length, plus spare room for a string grown in place. For `MEMORY
    /// USAGE`, whose figures follow Redis's object sizes.
    pub fn capacity(&self) -> usize {
        match self {
            StrValue::Raw(v) => v.capacity().max(v.len()),
            other => other.len(),
        }
    }

    /// Bytes this value occupies on the heap, for `MEMORY USAGE`.
    pub fn heap_size(&self) -> usize {
        match self {
            StrValue::Int(_) => 0,
            StrValue::Bytes(b) => b.heap_size(),
            StrValue::Raw(v) => v.capacity(),
        }
    }
}

fn itoa_buf() -> [u8; 24] {
    [0u8; 24]
}

/// Formats `n` in decimal into `buf` and returns the written slice.
pub fn fmt_i64(n: i64, buf: &mut [u8; 24]) -> &[u8] {
    let mut i = buf.len();
    let neg = n < 0;
    let mut v = n.unsigned_abs();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    if neg {
        i -= 1;
        buf[i] = b'-';
    }
    &buf[i..]
}

/// Parses the canonical decimal form of an i64 (Redis's `string2ll`).
pub fn parse_canonical_i64(s: &[u8]) -> Option<i64> {
    if s.is_empty() || s.len() > 20 {
        return None;
    }
    if s == b"0" {
        return Some(0);
    }
    let (neg, d) = if s[0] == b'-' {
        (true, &s[1..])
    } else {
        (false, s)
    };
    if d.is_empty() || d[0] == b'0' {
        return None;
    }
    let mut v: u64 = 0;
    for &c in d {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add((c - b'0') as u64)?;
    }
    if neg {
        if v > i64::MAX as u64 + 1 {
            None
        } else {
            Some((v as i64).wrapping_neg())
        }
    } else {
        i64::try_from(v).ok()
    }
}

/// A value stored under a key: 24 bytes. Collections are boxed so that
/// every entry of the keyspace pays only for a string-sized value inline;
/// hashes, sets and sorted sets are not, because their small form
/// (listpack, intset) is one exact-size buffer (16 bytes inline) already,
/// and small ones are the common case: a box would add a heap block to each.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Str(StrValue),
    List(Box<crate::list::List>),
    Hash(crate::hash::Hash),
    Set(crate::set::Set),
    ZSet(crate::zset::ZSet),
    Stream(Box<crate::stream::Stream>),
}

impl Value {
    /// The name `TYPE` reports.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Str(_) => "string",
            Value::List(_) => "list",
            Value::Hash(_) => "hash",
            Value::Set(_) => "set",
            Value::ZSet(_) => "zset",
            Value::Stream(_) => "stream",
        }
    }

    /// The name `OBJECT ENCODING` reports.
    pub fn encoding(&self) -> &'static str {
        match self {
            Value::Str(s) => s.encoding(),
            Value::List(l) => l.encoding(),
            Value::Hash(h) => h.encoding(),
            Value::Set(s) => s.encoding(),
            Value::ZSet(z) => z.encoding(),
            Value::Stream(s) => s.encoding(),
        }
    }

    pub fn heap_size(&self) -> usize {
        match self {
            Value::Str(s) => s.heap_size(),
            Value::List(l) => l.heap_size(),
            Value::Hash(h) => h.heap_size(),
            Value::Set(s) => s.heap_size(),
            Value::ZSet(z) => z.heap_size(),
            Value::Stream(s) => s.heap_size(),
        }
    }

    /// How much work freeing this value is, counted as Redis's
    /// `lazyfreeGetFreeEffort` counts allocations: a list's nodes, the
    /// elements of a hash table or skiplist, a stream's radix-tree nodes
    /// plus its groups times the first group's pending entries; 1 for a
    /// value held in one buffer. Above a threshold a deleted value is
    /// dropped on a background thread.
    pub fn free_effort(&self) -> usize {
        match self {
            Value::Str(_) => 1,
            Value::List(l) => l.chunk_count(),
            Value::Hash(h) if h.encoding() == "hashtable" => h.len(),
            Value::Set(s) if s.encoding() == "hashtable" => s.len(),
            Value::ZSet(z) if z.encoding() == "skiplist" => z.len(),
            Value::Stream(s) => {
                let groups = s.groups();
                let pel = groups.values().next().map_or(0, |g| g.pel().len());
                s.log().rax_nodes() + groups.len() * (1 + pel)
            }
            _ => 1,
        }
    }
}

// Values are freed on the lazy-free thread.
const _: () = {
    const fn is_send<T: Send>() {}
    is_send::<Value>()
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_as_small_as_a_key() {
        // A keyspace slot is the key (24 bytes), the value and its
        // metadata; these sizes are what bench/memory.sh's figures rest on.
        assert_eq!(std::mem::size_of::<StrValue>(), 24);
        assert_eq!(std::mem::size_of::<Value>(), 24);
        assert_eq!(std::mem::size_of::<crate::Entry>(), 40);
        let short = StrValue::from_bytes(b"value:1234\0\0\0\0\0\0");
        assert_eq!(short.heap_size(), 0);
        assert_eq!(short.encoding(), "embstr");
        assert_eq!(StrValue::from_bytes(&[b'x'; 30]).encoding(), "embstr");
        assert_eq!(StrValue::from_vec(vec![b'x'; 45]).encoding(), "raw");
        assert_eq!(StrValue::from_vec(b"-17".to_vec()), StrValue::Int(-17));
        assert_eq!(StrValue::text(b"17").encoding(), "embstr");
    }

    #[test]
    fn encodings_follow_redis() {
        assert_eq!(StrValue::from_bytes(b"123").encoding(), "int");
        assert_eq!(StrValue::from_bytes(b"0123").encoding(), "embstr");
        assert_eq!(StrValue::from_bytes(&[b'a'; 44]).encoding(), "embstr");
        assert_eq!(StrValue::from_bytes(&[b'a'; 45]).encoding(), "raw");
        let mut s = StrValue::from_bytes(b"12");
        s.make_raw().push(b'3');
        assert_eq!(s.encoding(), "raw");
        let mut b = [0u8; 24];
        assert_eq!(s.as_bytes(&mut b), b"123");
        assert_eq!(fmt_i64(i64::MIN, &mut b), b"-9223372036854775808");
    }
}
