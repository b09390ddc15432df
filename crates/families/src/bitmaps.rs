//! Bitmap commands (`bitops.c` in Redis): SETBIT, GETBIT, BITCOUNT,
//! BITPOS, BITOP. BITFIELD is in `bitfield.rs` and shares the offset
//! parser and the grow-on-write look-up defined here.
//!
//! A bitmap is a string; bit 0 is the most significant bit of byte 0.
//! Reading past the end reads zeros; writing past the end zero-pads the
//! string, up to `proto-max-bulk-len` bytes.

use crate::strings::{store, with_str, write_str};
use keyspace::StrValue;
use server::cmd::{Ctx, Handler};
use server::errors::{self, WrongType};
use server::notify::class;
use std::borrow::Cow;

pub const COMMANDS: &[(&str, Handler)] = &[
    ("setbit", setbit),
    ("getbit", getbit),
    ("bitcount", bitcount),
    ("bitpos", bitpos),
    ("bitop", bitop),
];

// ---------------------------------------------------------------------------
// Helpers shared with BITFIELD
// ---------------------------------------------------------------------------

/// Parses a bit offset as Redis's `getBitOffsetFromArgument` does. With
/// `hash_bits` (BITFIELD), `#n` means the n-th field of that width. The
/// offset must be non-negative and address a byte below
/// `proto-max-bulk-len` (a master's stream is trusted).
pub fn parse_bit_offset(ctx: &Ctx, raw: &[u8], hash_bits: Option<u32>) -> Option<u64> {
    let (digits, mul) = match (raw.first(), hash_bits) {
        (Some(b'#'), Some(bits)) => (&raw[1..], i64::from(bits)),
        _ => (raw, 1),
    };
    // Redis multiplies without an overflow check; a wrapped product that
    // turns negative is then refused like any negative offset.
    let n = resp::parse_i64(digits)?.wrapping_mul(mul);
    if n < 0 || (!ctx.client.is_master() && (n >> 3) >= ctx.srv.proto_max_bulk_len) {
        return None;
    }
    Some(n as u64)
}

/// Runs `f` on the bytes of the string at `key`, looked up for writing and
/// zero-padded so that bit `max_bit` exists (Redis's
/// `lookupStringForBitCommand`). A missing key is created. `f` also learns
/// whether the string was created or grown, which counts as a change even
/// when no bit flips. The value becomes `raw`, as in Redis.
pub fn with_bits_for_write<R>(
    ctx: &mut Ctx,
    key: &[u8],
    max_bit: u64,
    f: impl FnOnce(&mut [u8], bool) -> R,
) -> Result<R, WrongType> {
    let need = (max_bit >> 3) as usize + 1;
    if let Some(s) = write_str(ctx, key)? {
        let data = s.make_raw();
        let grown = data.len() < need;
        if grown {
            data.resize(need, 0);
        }
        return Ok(f(data, grown));
    }
    let mut data = vec![0u8; need];
    let r = f(&mut data, true);
    store(ctx, key, StrValue::raw(data));
    ctx.notify(class::NEW, "new", key);
    Ok(r)
}

/// The value of bit `offset` (0 past the end).
fn bit_at(b: &[u8], offset: u64) -> u8 {
    match b.get((offset >> 3) as usize) {
        Some(byte) => (byte >> (7 - (offset & 7))) & 1,
        None => 0,
    }
}

// ---------------------------------------------------------------------------
// SETBIT, GETBIT
// ---------------------------------------------------------------------------

/// SETBIT key offset 0|1: the bit's previous value. Propagated only when
/// something changed: the bit flipped, or the string was created or grown.
fn setbit(ctx: &mut Ctx) {
    let Some(offset) = parse_bit_offset(ctx, ctx.argv.get(2), None) else {
        return ctx.err(errors::BIT_OFFSET);
    };
    let on = match resp::parse_i64(ctx.argv.get(3)) {
        Some(v @ (0 | 1)) => v as u8,
        _ => return ctx.err(errors::BIT_VALUE),
    };
    let key = ctx.argv.get(1);
    let r = with_bits_for_write(ctx, key, offset, |data, grown| {
        let old = bit_at(data, offset);
        let byte = &mut data[(offset >> 3) as usize];
        let mask = 1u8 << (7 - (offset & 7));
        if on == 1 {
            *byte |= mask;
        } else {
            *byte &= !mask;
        }
        (old, grown || old != on)
    });
    match r {
        Err(WrongType) => ctx.err(errors::WRONGTYPE),
        Ok((old, changed)) => {
            if changed {
                ctx.dirty(1);
                ctx.modified(key);
                ctx.notify(class::STRING, "setbit", key);
            }
            ctx.out().int(i64::from(old));
        }
    }
}

/// GETBIT key offset
fn getbit(ctx: &mut Ctx) {
    let Some(offset) = parse_bit_offset(ctx, ctx.argv.get(2), None) else {
        return ctx.err(errors::BIT_OFFSET);
    };
    let key = ctx.argv.get(1);
    let r = with_str(ctx, key, |v, out| {
        out.int(i64::from(bit_at(v.unwrap_or_default(), offset)));
    });
    if r.is_err() {
        ctx.err(errors::WRONGTYPE);
    }
}

// ---------------------------------------------------------------------------
// BITCOUNT, BITPOS
// ---------------------------------------------------------------------------

/// BYTE or BIT, the unit of BITCOUNT's and BITPOS's range.
fn parse_unit(raw: &[u8]) -> Result<bool, &'static str> {
    if raw.eq_ignore_ascii_case(b"BIT") {
        Ok(true)
    } else if raw.eq_ignore_ascii_case(b"BYTE") {
        Ok(false)
    } else {
        Err(errors::SYNTAX)
    }
}

fn parse_int(raw: &[u8]) -> Result<i64, &'static str> {
    resp::parse_i64(raw).ok_or(errors::NOT_INTEGER)
}

/// Makes a `start..=end` range absolute over `total` units: negative ends
/// count from the end, then both are clamped into the string. The result
/// may be empty (`start > end`).
fn normalise(start: i64, end: i64, total: i64) -> (i64, i64) {
    let start = if start < 0 { start + total } else { start }.max(0);
    let end = if end < 0 { end + total } else { end }.max(0);
    (start, end.min(total - 1))
}

/// Converts a normalised, non-empty range to inclusive bit positions.
fn bit_span(start: i64, end: i64, in_bits: bool) -> (u64, u64) {
    if in_bits {
        (start as u64, end as u64)
    } else {
        (start as u64 * 8, end as u64 * 8 + 7)
    }
}

/// Mask of the bits of a byte at or after bit `k` (0 = most significant).
fn from_bit(k: u64) -> u8 {
    0xffu8.checked_shr(k as u32).unwrap_or(0)
}

/// Mask of the bits of a byte at or before bit `k`.
fn to_bit(k: u64) -> u8 {
    !0xffu8.checked_shr(k as u32 + 1).unwrap_or(0)
}

/// Number of set bits between bit positions `first..=last`.
fn count_bits(b: &[u8], first: u64, last: u64) -> i64 {
    let (s, e) = ((first >> 3) as usize, (last >> 3) as usize);
    let whole: u64 = b[s..=e].iter().map(|x| u64::from(x.count_ones())).sum();
    let head = b[s] & !from_bit(first & 7);
    let tail = b[e] & !to_bit(last & 7);
    whole as i64 - i64::from(head.count_ones()) - i64::from(tail.count_ones())
}

/// BITCOUNT key [start end [BYTE|BIT]]. The key is looked up before the
/// range is parsed, so a missing key answers 0 whatever the arguments.
fn bitcount(ctx: &mut Ctx) {
    let argv = ctx.argv;
    let r = with_str(ctx, argv.get(1), |v, _| -> Result<i64, &'static str> {
        let Some(b) = v else { return Ok(0) };
        let (start, end, in_bits) = match argv.len() {
            2 => (0, b.len() as i64 - 1, false),
            4 | 5 => {
                let start = parse_int(argv.get(2))?;
                let end = parse_int(argv.get(3))?;
                let in_bits = argv.len() == 5 && parse_unit(argv.get(4))?;
                let total = b.len() as i64 * if in_bits { 8 } else { 1 };
                if start < 0 && end < 0 && start > end {
                    return Ok(0);
                }
                let (s, e) = normalise(start, end, total);
                (s, e, in_bits)
            }
            _ => return Err(errors::SYNTAX),
        };
        if start > end {
            return Ok(0);
        }
        let (first, last) = bit_span(start, end, in_bits);
        Ok(count_bits(b, first, last))
    });
    match r {
        Err(WrongType) => ctx.err(errors::WRONGTYPE),
        Ok(Err(e)) => ctx.err(e),
        Ok(Ok(n)) => ctx.out().int(n),
    }
}

/// Position of the first bit equal to `bit` between `first..=last`.
fn find_bit(b: &[u8], bit: u8, first: u64, last: u64) -> Option<u64> {
    let (s, e) = ((first >> 3) as usize, (last >> 3) as usize);
    // Looking for a 0 is looking for a 1 in the complement.
    let flip = if bit == 1 { 0 } else { 0xff };
    let hit = |i: usize, mask: u8| {
        let x = (b[i] ^ flip) & mask;
        (x != 0).then(|| i as u64 * 8 + u64::from(x.leading_zeros()))
    };
    if s == e {
        return hit(s, from_bit(first & 7) & to_bit(last & 7));
    }
    if let Some(p) = hit(s, from_bit(first & 7)) {
        return Some(p);
    }
    if let Some(i) = b[s + 1..e].iter().position(|&x| x != flip) {
        return hit(s + 1 + i, 0xff);
    }
    hit(e, to_bit(last & 7))
}

/// BITPOS key 0|1 [start [end [BYTE|BIT]]]: the first bit set (or clear).
/// A missing key is all zeros. Looking for a 0 without an explicit end
/// treats the string as zero-padded on the right, so a string of all ones
/// answers the bit just past its end; with an end given, -1.
fn bitpos(ctx: &mut Ctx) {
    let argv = ctx.argv;
    let bit = match resp::parse_i64(argv.get(2)) {
        Some(b @ (0 | 1)) => b as u8,
        Some(_) => return ctx.err(errors::BIT_ARG),
        None => return ctx.err(errors::NOT_INTEGER),
    };
    let r = with_str(ctx, argv.get(1), |v, _| -> Result<i64, &'static str> {
        let Some(b) = v else {
            return Ok(if bit == 1 { -1 } else { 0 });
        };
        let len = b.len() as i64;
        let (start, end, in_bits, end_given) = match argv.len() {
            3 => (0, len - 1, false, false),
            4..=6 => {
                let start = parse_int(argv.get(3))?;
                // Redis reads the unit before the end argument.
                let in_bits = argv.len() == 6 && parse_unit(argv.get(5))?;
                let total = len * if in_bits { 8 } else { 1 };
                let end = if argv.len() >= 5 {
                    parse_int(argv.get(4))?
                } else {
                    total - 1
                };
                let (s, e) = normalise(start, end, total);
                (s, e, in_bits, argv.len() >= 5)
            }
            _ => return Err(errors::SYNTAX),
        };
        if start > end {
            return Ok(-1);
        }
        let (first, last) = bit_span(start, end, in_bits);
        Ok(match find_bit(b, bit, first, last) {
            Some(p) => p as i64,
            None if bit == 1 || end_given => -1,
            None => last as i64 + 1,
        })
    });
    match r {
        Err(WrongType) => ctx.err(errors::WRONGTYPE),
        Ok(Err(e)) => ctx.err(e),
        Ok(Ok(n)) => ctx.out().int(n),
    }
}

// ---------------------------------------------------------------------------
// BITOP
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BitOp {
    And,
    Or,
    Xor,
    Not,
}

impl BitOp {
    fn parse(raw: &[u8]) -> Option<BitOp> {
        [
            (&b"AND"[..], BitOp::And),
            (b"OR", BitOp::Or),
            (b"XOR", BitOp::Xor),
            (b"NOT", BitOp::Not),
        ]
        .into_iter()
        .find(|(n, _)| raw.eq_ignore_ascii_case(n))
        .map(|(_, op)| op)
    }
}

/// Combines the sources; a source shorter than the longest reads as
/// zero-padded.
fn combine(op: BitOp, srcs: &[Cow<[u8]>]) -> Vec<u8> {
    let len = srcs.iter().map(|s| s.len()).max().unwrap_or(0);
    let Some((first, rest)) = srcs.split_first() else {
        return Vec::new();
    };
    let mut res = vec![0u8; len];
    res[..first.len()].copy_from_slice(first);
    if op == BitOp::Not {
        res.iter_mut().for_each(|b| *b = !*b);
        return res;
    }
    for src in rest {
        // Past the end of a shorter source, AND clears and OR/XOR keep.
        if op == BitOp::And {
            res[src.len()..].fill(0);
        }
        for (r, &b) in res.iter_mut().zip(src.iter()) {
            match op {
                BitOp::And => *r &= b,
                BitOp::Or => *r |= b,
                _ => *r ^= b,
            }
        }
    }
    res
}

/// BITOP AND|OR|XOR|NOT destkey key [key ...]: the length of the result.
/// Missing sources are empty strings; an empty result deletes the
/// destination. The destination is overwritten whatever its type, without
/// a TTL.
fn bitop(ctx: &mut Ctx) {
    let argv = ctx.argv;
    let Some(op) = BitOp::parse(argv.get(1)) else {
        return ctx.err(errors::SYNTAX);
    };
    if op == BitOp::Not && argv.len() != 4 {
        return ctx.err(errors::BITOP_NOT_ONE_KEY);
    }
    // Look every source up (lazy expiry, statistics) and stop at the first
    // one of another type, as Redis does.
    for key in argv.from(3) {
        if with_str(ctx, key, |_, _| ()).is_err() {
            return ctx.err(errors::WRONGTYPE);
        }
    }
    let res = {
        let db = &ctx.srv.dbs[ctx.client.db];
        let srcs: Vec<Cow<[u8]>> = argv
            .from(3)
            .map(|key| match db.get(key).map(|e| &e.value) {
                Some(keyspace::Value::Str(StrValue::Int(n))) => {
                    Cow::Owned(n.to_string().into_bytes())
                }
                Some(keyspace::Value::Str(s)) => Cow::Borrowed(s.bytes().unwrap_or_default()),
                #[allow(unreachable_patterns)]
                _ => Cow::Borrowed(&[][..]),
            })
            .collect();
        combine(op, &srcs)
    };
    let dest = argv.get(2);
    let len = res.len();
    if len > 0 {
        let new = ctx.srv.notify_keyspace_events & class::NEW != 0 && !ctx.key_exists(dest);
        store(ctx, dest, StrValue::raw(res));
        if new {
            ctx.notify(class::NEW, "new", dest);
        }
        ctx.dirty(1);
        ctx.modified(dest);
        ctx.notify(class::STRING, "set", dest);
    } else if ctx.key_exists(dest) {
        ctx.db().remove(dest);
        ctx.dirty(1);
        ctx.modified(dest);
        ctx.notify(class::GENERIC, "del", dest);
    }
    ctx.out().int(len as i64);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::Kit;

    #[test]
    fn masks_select_bit_ranges() {
        assert_eq!(from_bit(0), 0xff);
        assert_eq!(from_bit(3), 0x1f);
        assert_eq!(to_bit(7), 0xff);
        assert_eq!(to_bit(0), 0x80);
        let b = [0xffu8, 0x0f];
        assert_eq!(count_bits(&b, 0, 15), 12);
        assert_eq!(count_bits(&b, 3, 13), 5 + 2);
        assert_eq!(find_bit(&b, 0, 0, 15), Some(8));
        assert_eq!(find_bit(&b, 1, 9, 15), Some(12));
        assert_eq!(find_bit(&b, 0, 12, 15), None);
        assert_eq!(find_bit(&[0, 0, 0, 1], 1, 0, 31), Some(31));
    }

    #[test]
    fn setbit_propagates_only_changes() {
        let mut k = Kit::new();
        assert_eq!(k.run(&["SETBIT", "b", "7", "1"]), ":0\r\n");
        assert_eq!(k.run(&["SETBIT", "b", "7", "1"]), ":1\r\n");
        assert_eq!(k.run(&["SETBIT", "b", "100", "0"]), ":0\r\n");
        assert_eq!(k.run(&["SETBIT", "b", "100", "0"]), ":0\r\n");
        assert_eq!(k.propagated(), vec!["SETBIT b 7 1", "SETBIT b 100 0"]);
        assert_eq!(
            k.run(&["SETBIT", "b", "4294967296", "1"]),
            "-ERR bit offset is not an integer or out of range\r\n"
        );
        assert_eq!(
            k.run(&["SETBIT", "b", "1", "2"]),
            "-ERR bit is not an integer or out of range\r\n"
        );
        k.run(&["SET", "n", "12"]);
        k.run(&["SETBIT", "n", "0", "0"]);
        assert_eq!(
            k.srv.dbs[0].get(b"n").map(|e| e.value.encoding()),
            Some("raw")
        );
    }

    #[test]
    fn bitop_propagates_when_it_stores_or_deletes() {
        let mut k = Kit::new();
        k.run(&["SET", "a", "abc"]);
        k.propagated();
        assert_eq!(k.run(&["BITOP", "AND", "d", "a", "missing"]), ":3\r\n");
        assert_eq!(k.run(&["GET", "d"]), "$3\r\n\0\0\0\r\n");
        assert_eq!(k.run(&["BITOP", "NOT", "d", "missing"]), ":0\r\n");
        assert_eq!(k.run(&["BITOP", "NOT", "d", "missing"]), ":0\r\n");
        assert_eq!(
            k.propagated(),
            vec!["BITOP AND d a missing", "BITOP NOT d missing"]
        );
    }
}
