//! What a loaded value must satisfy, as Redis 7.0's `rdbLoadObject`
//! decides it: which corruptions it refuses, which it refuses only under
//! `sanitize-dump-payload yes` (a *deep* check), and which it accepts.
//!
//! The rule we follow, value by value:
//! - where Redis refuses a value, we refuse it, with the reason Redis
//!   logs ("Hash ziplist integrity check failed.", "Duplicate set members
//!   detected", ...);
//! - where Redis accepts a value it would later crash on (it asserts when
//!   it converts a listpack with duplicate fields, or walks into a bad
//!   element), we refuse it at load time instead, never crash;
//! - where Redis accepts a value, we accept it too. Redis keeps such a
//!   value as it is; we keep what it means to Redis's readers: the
//!   elements before the first unreadable one, and the first occurrence
//!   of a duplicate field or member (the one Redis's look-ups find).
//!
//! Redis converts a compact value past the server's encoding limits as it
//! loads it, and that conversion trusts what only a deep check proves, so
//! the verdict depends on those limits too: they travel in [`Sanitize`].

use crate::encodings::{self, Listpack};
use std::collections::HashSet;

/// How deeply loaded values are checked, and the encoding limits of the
/// server that will hold them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sanitize {
    /// Deep integrity checks (Redis's `sanitize-dump-payload yes`, or
    /// `clients` for a RESTORE from an ordinary client): every element of
    /// a listpack or intset, duplicates in small hashes.
    pub deep: bool,
    pub hash_max_listpack_entries: u64,
    pub hash_max_listpack_value: u64,
    pub zset_max_listpack_entries: u64,
    pub set_max_intset_entries: u64,
}

impl Default for Sanitize {
    /// Shallow checks and Redis 7.0's default limits.
    fn default() -> Sanitize {
        Sanitize {
            deep: false,
            hash_max_listpack_entries: 512,
            hash_max_listpack_value: 64,
            zset_max_listpack_entries: 128,
            set_max_intset_entries: 512,
        }
    }
}

/// Why a value is not loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// A collection with no elements.
    Empty,
    /// Corrupt, with the reason.
    Corrupt(String),
}

pub(crate) type Check<T> = Result<T, Refusal>;

fn corrupt<T>(why: &str) -> Check<T> {
    Err(Refusal::Corrupt(why.to_string()))
}

/// Field/value (or member/score) pairs of a flat list; an odd last
/// element is dropped.
fn pairs(items: Vec<Vec<u8>>) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut out = Vec::with_capacity(items.len() / 2);
    let mut it = items.into_iter();
    while let (Some(a), Some(b)) = (it.next(), it.next()) {
        out.push((a, b));
    }
    out
}

/// Whether two elements have the same key.
fn has_dups<T>(items: &[T], key: impl Fn(&T) -> &[u8]) -> bool {
    let mut seen = HashSet::with_capacity(items.len());
    items.iter().any(|x| !seen.insert(key(x)))
}

/// Keeps the first element of each key, in order.
fn first_of_each<T>(items: Vec<T>, key: impl Fn(&T) -> &[u8]) -> Vec<T> {
    if !has_dups(&items, &key) {
        return items;
    }
    let keep: Vec<bool> = {
        let mut seen = HashSet::with_capacity(items.len());
        items.iter().map(|x| seen.insert(key(x))).collect()
    };
    items
        .into_iter()
        .zip(keep)
        .filter_map(|(x, k)| k.then_some(x))
        .collect()
}

fn non_empty<T>(v: Vec<T>) -> Check<Vec<T>> {
    if v.is_empty() {
        Err(Refusal::Empty)
    } else {
        Ok(v)
    }
}

/// Type 2 (a set, one string per member): duplicates are always refused.
pub(crate) fn plain_set(members: Vec<Vec<u8>>) -> Check<Vec<Vec<u8>>> {
    if has_dups(&members, |m| m) {
        return corrupt("Duplicate set members detected");
    }
    non_empty(members)
}

/// Types 3 and 5 (a sorted set, member and score): NaN scores and
/// duplicate members are always refused.
pub(crate) fn plain_zset(items: Vec<(Vec<u8>, f64)>) -> Check<Vec<(Vec<u8>, f64)>> {
    if items.iter().any(|(_, s)| s.is_nan()) {
        return corrupt("Zset with NAN score detected");
    }
    if has_dups(&items, |(m, _)| m) {
        return corrupt("Duplicate zset fields detected");
    }
    non_empty(items)
}

/// Type 4 (a hash, field and value strings). Redis builds a listpack while
/// the hash is small and checks duplicates only when it sanitizes deeply;
/// past the entry limit, or from the first field or value longer than the
/// value limit, it builds a hash table, which refuses duplicates.
pub(crate) fn plain_hash(
    items: Vec<(Vec<u8>, Vec<u8>)>,
    s: &Sanitize,
) -> Check<Vec<(Vec<u8>, Vec<u8>)>> {
    let big = items.len() as u64 > s.hash_max_listpack_entries;
    let long = |x: &[u8]| x.len() as u64 > s.hash_max_listpack_value;
    let table = big || items.iter().any(|(f, v)| long(f) || long(v));
    if (s.deep || table) && has_dups(&items, |(f, _)| f) {
        return corrupt(if s.deep && !table {
            "Hash with dup elements"
        } else {
            "Duplicate hash fields detected"
        });
    }
    non_empty(first_of_each(items, |(f, _)| f))
}

/// Type 9 (zipmap, Redis ≤ 2.4 hashes): always checked deeply, and
/// duplicate fields refused, as Redis converts it to a listpack.
pub(crate) fn zipmap_hash(blob: &[u8]) -> Check<Vec<(Vec<u8>, Vec<u8>)>> {
    let Ok(items) = encodings::decode_zipmap(blob) else {
        return corrupt("Zipmap integrity check failed.");
    };
    let items = pairs(items);
    // The listpack Redis builds may not pass 1 GB (`lpSafeToAdd`).
    let mut size = 7u64;
    let mut seen = HashSet::with_capacity(items.len());
    for (f, v) in &items {
        size += (f.len() + v.len()) as u64 + 2 * 10;
        if size > 1 << 30 || !seen.insert(f.as_slice()) {
            return Err(Refusal::Corrupt(format!(
                "Hash zipmap with dup elements, or big length ({})",
                f.len()
            )));
        }
    }
    Ok(items)
}

/// Type 10 (a list as one ziplist).
pub(crate) fn ziplist_list(blob: &[u8]) -> Check<Vec<Vec<u8>>> {
    match encodings::decode_ziplist(blob) {
        Ok(items) => non_empty(items),
        Err(_) => corrupt("List ziplist integrity check failed."),
    }
}

/// Type 11 (an intset). Without a deep check Redis accepts members out of
/// order or repeated, and only trips over a repeat when it converts the
/// set to a hash table (more members than `set-max-intset-entries`).
pub(crate) fn intset_set(blob: &[u8], s: &Sanitize) -> Check<Vec<Vec<u8>>> {
    let Ok(v) = encodings::intset(blob, s.deep) else {
        return corrupt("Intset integrity check failed.");
    };
    let members: Vec<Vec<u8>> = v.into_iter().map(|n| n.to_string().into_bytes()).collect();
    if members.len() as u64 > s.set_max_intset_entries && has_dups(&members, |m| m) {
        return corrupt("Intset with duplicate members");
    }
    Ok(first_of_each(members, |m| m))
}

/// Types 12 and 13 (a sorted set or hash as one ziplist): always checked
/// deeply, with an even count and no duplicate member or field, as Redis
/// converts it to a listpack.
pub(crate) fn ziplist_pairs(blob: &[u8], why: &'static str) -> Check<Vec<(Vec<u8>, Vec<u8>)>> {
    match encodings::decode_ziplist(blob) {
        Ok(items) if items.len() % 2 == 0 => {
            let p = pairs(items);
            if has_dups(&p, |(k, _)| k) {
                return corrupt(why);
            }
            non_empty(p)
        }
        _ => corrupt(why),
    }
}

/// Types 16 and 17 (a hash or sorted set as one listpack). Checked deeply
/// (elements, even count, no duplicates) only when sanitizing; otherwise
/// the header alone, and the element count is the header's. Past
/// `max_entries` pairs Redis converts the value, which asserts on an
/// unreadable element or a duplicate: we refuse those.
pub(crate) fn listpack_pairs(
    blob: &[u8],
    s: &Sanitize,
    max_entries: u64,
    why: &'static str,
) -> Check<Vec<(Vec<u8>, Vec<u8>)>> {
    let Ok(lp) = encodings::listpack(blob, s.deep) else {
        return corrupt(why);
    };
    let whole = lp.whole;
    let length = length(&lp, why)?;
    let p = pairs(lp.items);
    if s.deep && (length % 2 != 0 || has_dups(&p, |(k, _)| k)) {
        return corrupt(why);
    }
    if length / 2 == 0 {
        return Err(Refusal::Empty);
    }
    if (length / 2) as u64 > max_entries {
        if !whole {
            return corrupt(why);
        }
        if has_dups(&p, |(k, _)| k) {
            return corrupt("listpack with dup elements");
        }
    }
    non_empty(first_of_each(p, |(k, _)| k))
}

/// Redis's `lpLength`: the header's count, or a walk when the header says
/// "unknown" — which asserts on an unreadable element.
fn length(lp: &Listpack, why: &str) -> Check<usize> {
    if lp.header_count == u16::MAX && !lp.whole {
        return corrupt(why);
    }
    Ok(lp.length())
}

/// Type 20 (a set as one listpack, Redis 7.2).
pub(crate) fn listpack_set(blob: &[u8], s: &Sanitize) -> Check<Vec<Vec<u8>>> {
    const WHY: &str = "Set listpack integrity check failed.";
    let Ok(lp) = encodings::listpack(blob, s.deep) else {
        return corrupt(WHY);
    };
    if length(&lp, WHY)? == 0 {
        return Err(Refusal::Empty);
    }
    if s.deep && has_dups(&lp.items, |m| m) {
        return corrupt(WHY);
    }
    non_empty(first_of_each(lp.items, |m| m))
}

/// Quicklist node containers (type 18).
pub(crate) const NODE_PLAIN: u64 = 1;
pub(crate) const NODE_PACKED: u64 = 2;

/// One node of a quicklist (types 14 and 18): its elements, possibly none
/// (Redis skips an empty node; a list of empty nodes is an empty key).
pub(crate) fn quicklist_node(
    blob: Vec<u8>,
    container: u64,
    ziplist: bool,
    s: &Sanitize,
) -> Check<Vec<Vec<u8>>> {
    if blob.is_empty() {
        return corrupt("Quicklist node is empty");
    }
    if container == NODE_PLAIN {
        return Ok(vec![blob]);
    }
    if ziplist {
        return encodings::decode_ziplist(&blob)
            .or_else(|_| corrupt("Ziplist integrity check failed."));
    }
    const WHY: &str = "Listpack integrity check failed.";
    let Ok(lp) = encodings::listpack(&blob, s.deep) else {
        return corrupt(WHY);
    };
    if length(&lp, WHY)? == 0 {
        return Ok(Vec::new());
    }
    Ok(lp.items)
}

/// A score as Redis reads it from a listpack or ziplist element
/// (`zzlStrtod`): the longest number at the start of at most 127 bytes,
/// 0 when there is none.
pub(crate) fn packed_score(b: &[u8]) -> f64 {
    strtod(&b[..b.len().min(127)]).unwrap_or(0.0)
}

/// C's `strtod` on the bytes up to the first NUL: leading white space, a
/// sign, then a decimal number, `inf`/`infinity` or `nan`; None when no
/// number starts there. (Hexadecimal floats are not read.)
pub(crate) fn strtod(b: &[u8]) -> Option<f64> {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    let b = &b[..end];
    let mut i = b
        .iter()
        .position(|c| !matches!(c, b' ' | b'\t' | b'\n' | 0x0B | 0x0C | b'\r'))
        .unwrap_or(b.len());
    let start = i;
    if matches!(b.get(i), Some(b'+' | b'-')) {
        i += 1;
    }
    let negative = b.get(start) == Some(&b'-');
    let word = |w: &[u8], at: usize| {
        b.len() >= at + w.len() && b[at..at + w.len()].eq_ignore_ascii_case(w)
    };
    if word(b"inf", i) {
        return Some(if negative {
            f64::NEG_INFINITY
        } else {
            f64::INFINITY
        });
    }
    if word(b"nan", i) {
        return Some(f64::NAN);
    }
    let digits = |mut j: usize| {
        while b.get(j).is_some_and(u8::is_ascii_digit) {
            j += 1;
        }
        j
    };
    let int_end = digits(i);
    let mut j = int_end;
    let mut any = int_end > i;
    if b.get(j) == Some(&b'.') {
        let frac_end = digits(j + 1);
        any |= frac_end > j + 1;
        j = frac_end;
    }
    if !any {
        return None;
    }
    if matches!(b.get(j), Some(b'e' | b'E')) {
        let mut k = j + 1;
        if matches!(b.get(k), Some(b'+' | b'-')) {
            k += 1;
        }
        let exp_end = digits(k);
        if exp_end > k {
            j = exp_end;
        }
    }
    std::str::from_utf8(&b[start..j]).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strtod_reads_the_longest_number_at_the_start() {
        assert_eq!(strtod(b"1.5"), Some(1.5));
        assert_eq!(strtod(b"  -2e3xyz"), Some(-2000.0));
        assert_eq!(strtod(b"7."), Some(7.0));
        assert_eq!(strtod(b".5"), Some(0.5));
        assert_eq!(strtod(b"1e"), Some(1.0));
        assert_eq!(strtod(b"-inf"), Some(f64::NEG_INFINITY));
        assert_eq!(strtod(b"Infinity"), Some(f64::INFINITY));
        assert!(strtod(b"nan").is_some_and(f64::is_nan));
        assert_eq!(strtod(b"abc"), None);
        assert_eq!(strtod(b"."), None);
        assert_eq!(strtod(b"-"), None);
        assert_eq!(strtod(b"12\x0034"), Some(12.0));
        assert_eq!(packed_score(b"x"), 0.0);
    }

    #[test]
    fn duplicates_keep_the_first_occurrence() {
        let v = vec![
            (b"a".to_vec(), b"1".to_vec()),
            (b"b".to_vec(), b"2".to_vec()),
            (b"a".to_vec(), b"3".to_vec()),
        ];
        let kept = first_of_each(v, |(k, _)| k);
        assert_eq!(kept.len(), 2);
        assert_eq!(kept[0].1, b"1");
    }

    #[test]
    fn plain_hash_refuses_duplicates_where_redis_builds_a_table() {
        let dup = || {
            vec![
                (b"a".to_vec(), b"1".to_vec()),
                (b"a".to_vec(), b"2".to_vec()),
            ]
        };
        let shallow = Sanitize::default();
        assert_eq!(plain_hash(dup(), &shallow).map(|v| v.len()), Ok(1));
        let deep = Sanitize {
            deep: true,
            ..shallow
        };
        assert!(plain_hash(dup(), &deep).is_err());
        let one_entry = Sanitize {
            hash_max_listpack_entries: 1,
            ..shallow
        };
        assert!(plain_hash(dup(), &one_entry).is_err());
        let short_values = Sanitize {
            hash_max_listpack_value: 0,
            ..shallow
        };
        assert!(plain_hash(dup(), &short_values).is_err());
        assert_eq!(plain_hash(vec![], &shallow), Err(Refusal::Empty));
    }
}
