//! BITFIELD and BITFIELD_RO (`bitfieldGeneric` in Redis's `bitops.c`):
//! signed and unsigned integers of 1 to 64 bits (unsigned up to 63) at any
//! bit offset of a string, read, written or incremented, with a choice of
//! overflow behaviour (WRAP, SAT, FAIL) that applies to the operations that
//! follow it.
//!
//! All operations are parsed before any runs, so a bad argument anywhere
//! leaves the string untouched. Like SETBIT, the command is propagated
//! (verbatim) only when a field changed or the string was created or grown.

use crate::bitmaps::{parse_bit_offset, with_bits_for_write};
use crate::strings::with_str;
use resp::Reply;
use server::cmd::{Ctx, Handler};
use server::errors::{self, WrongType};
use server::notify::class;

pub const COMMANDS: &[(&str, Handler)] = &[("bitfield", bitfield), ("bitfield_ro", bitfield_ro)];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Overflow {
    Wrap,
    Sat,
    Fail,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OpKind {
    Get,
    Set,
    IncrBy,
}

/// The type of a field: `i1`..`i64` or `u1`..`u63`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FieldType {
    signed: bool,
    bits: u32,
}

#[derive(Debug, Clone, Copy)]
struct Op {
    kind: OpKind,
    ty: FieldType,
    offset: u64,
    /// The SET value or INCRBY increment.
    arg: i64,
    overflow: Overflow,
}

/// Parses `i16`/`u8` style types; the prefix is lower-case only, as in
/// Redis, and the width is read up to an embedded NUL as C would.
fn parse_type(raw: &[u8]) -> Option<FieldType> {
    let signed = match raw.first() {
        Some(b'i') => true,
        Some(b'u') => false,
        _ => return None,
    };
    let rest = &raw[1..];
    let digits = rest.split(|&b| b == 0).next().unwrap_or(rest);
    let bits = resp::parse_i64(digits)?;
    let max = if signed { 64 } else { 63 };
    (1..=max).contains(&bits).then_some(FieldType {
        signed,
        bits: bits as u32,
    })
}

/// Parses the operations of `argv[2..]`.
fn parse_ops(ctx: &Ctx) -> Result<Vec<Op>, &'static str> {
    let argv = ctx.argv;
    let mut ops = Vec::new();
    let mut overflow = Overflow::Wrap;
    let mut j = 2;
    while j < argv.len() {
        let remaining = argv.len() - j - 1;
        let sub = argv.get(j);
        let is = |s: &[u8]| sub.eq_ignore_ascii_case(s);
        let kind = if is(b"GET") && remaining >= 2 {
            OpKind::Get
        } else if is(b"SET") && remaining >= 3 {
            OpKind::Set
        } else if is(b"INCRBY") && remaining >= 3 {
            OpKind::IncrBy
        } else if is(b"OVERFLOW") && remaining >= 1 {
            let t = argv.get(j + 1);
            overflow = if t.eq_ignore_ascii_case(b"WRAP") {
                Overflow::Wrap
            } else if t.eq_ignore_ascii_case(b"SAT") {
                Overflow::Sat
            } else if t.eq_ignore_ascii_case(b"FAIL") {
                Overflow::Fail
            } else {
                return Err(errors::BITFIELD_OVERFLOW_TYPE);
            };
            j += 2;
            continue;
        } else {
            return Err(errors::SYNTAX);
        };
        let ty = parse_type(argv.get(j + 1)).ok_or(errors::BITFIELD_TYPE)?;
        let offset =
            parse_bit_offset(ctx, argv.get(j + 2), Some(ty.bits)).ok_or(errors::BIT_OFFSET)?;
        let arg = if kind == OpKind::Get {
            0
        } else {
            resp::parse_i64(argv.get(j + 3)).ok_or(errors::NOT_INTEGER)?
        };
        ops.push(Op {
            kind,
            ty,
            offset,
            arg,
            overflow,
        });
        j += if kind == OpKind::Get { 3 } else { 4 };
    }
    Ok(ops)
}

/// Reads `bits` bits at bit `offset` as an unsigned number (the first bit
/// is the most significant). Bits past the end read as zero.
fn get_unsigned(b: &[u8], offset: u64, bits: u32) -> u64 {
    let mut v = 0u64;
    for i in 0..u64::from(bits) {
        let pos = offset + i;
        let bit = b
            .get((pos >> 3) as usize)
            .map_or(0, |byte| (byte >> (7 - (pos & 7))) & 1);
        v = (v << 1) | u64::from(bit);
    }
    v
}

fn get_signed(b: &[u8], offset: u64, bits: u32) -> i64 {
    sign_extend(get_unsigned(b, offset, bits), bits)
}

/// Interprets the low `bits` bits of `v` as a two's complement number.
fn sign_extend(v: u64, bits: u32) -> i64 {
    let shift = 64 - bits;
    ((v << shift) as i64) >> shift
}

/// Writes the low `bits` bits of `v` at bit `offset` (the string is long
/// enough: it was grown to the highest bit written).
fn set_bits(b: &mut [u8], offset: u64, bits: u32, v: u64) {
    for i in 0..u64::from(bits) {
        let bit = (v >> (u64::from(bits) - 1 - i)) & 1;
        let pos = offset + i;
        if let Some(byte) = b.get_mut((pos >> 3) as usize) {
            let mask = 1u8 << (7 - (pos & 7));
            if bit == 1 {
                *byte |= mask;
            } else {
                *byte &= !mask;
            }
        }
    }
}

/// What an overflow check decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Check {
    Fits,
    High,
    Low,
}

/// Resolves an overflow under `mode`: the value to store (as field bits),
/// or `None` under FAIL. `sum` is the two's complement (wrapped) sum.
fn resolve(check: Check, mode: Overflow, sum: u64, min: u64, max: u64, bits: u32) -> Option<u64> {
    let mask = u64::MAX.checked_shr(64 - bits).unwrap_or(0);
    let v = match (check, mode) {
        (Check::Fits, _) | (_, Overflow::Wrap) => sum,
        (_, Overflow::Fail) => return None,
        (Check::High, Overflow::Sat) => max,
        (Check::Low, Overflow::Sat) => min,
    };
    Some(v & mask)
}

/// Redis's `checkSignedBitfieldOverflow`, with its arithmetic kept as is:
/// the limits on the increment are computed with wrapping arithmetic
/// before the value's own range is looked at, so a SET far below the
/// minimum (e.g. `SET i23 0 -9223372036854775808`) counts as an overflow
/// *high* and saturates to the maximum, as in Redis.
fn signed_field(value: i64, incr: i64, bits: u32, mode: Overflow) -> Option<u64> {
    let max: i64 = if bits == 64 {
        i64::MAX
    } else {
        (1i64 << (bits - 1)) - 1
    };
    let min = -max - 1;
    let max_incr = (max as u64).wrapping_sub(value as u64) as i64;
    let min_incr = min.wrapping_sub(value);
    let check = if value > max
        || (bits != 64 && incr > max_incr)
        || (value >= 0 && incr > 0 && incr > max_incr)
    {
        Check::High
    } else if value < min
        || (bits != 64 && incr < min_incr)
        || (value < 0 && incr < 0 && incr < min_incr)
    {
        Check::Low
    } else {
        Check::Fits
    };
    let sum = (value as u64).wrapping_add(incr as u64);
    resolve(check, mode, sum, min as u64, max as u64, bits)
}

/// Redis's `checkUnsignedBitfieldOverflow`. An unsigned SET reads its
/// argument as the u64 with the same bits, so `SET u8 0 -1` overflows
/// high (255 under SAT).
fn unsigned_field(value: u64, incr: i64, bits: u32, mode: Overflow) -> Option<u64> {
    let max = u64::MAX.checked_shr(64 - bits).unwrap_or(0);
    let max_incr = max.wrapping_sub(value) as i64;
    let min_incr = (value as i64).wrapping_neg();
    let check = if value > max || (incr > 0 && incr > max_incr) {
        Check::High
    } else if incr < 0 && incr < min_incr {
        Check::Low
    } else {
        Check::Fits
    };
    let sum = value.wrapping_add(incr as u64);
    resolve(check, mode, sum, 0, max, bits)
}

/// Runs the write operations (and the GETs between them) on `data`;
/// writes the replies and returns the number of changes.
fn run_ops(ops: &[Op], data: &mut [u8], grown: bool, out: &mut Reply) -> u64 {
    let mut changes = 0;
    for op in ops {
        let FieldType { signed, bits } = op.ty;
        let old_raw = get_unsigned(data, op.offset, bits);
        let old: i64 = if signed {
            sign_extend(old_raw, bits)
        } else {
            old_raw as i64
        };
        let (value, incr) = match op.kind {
            OpKind::Get => {
                out.int(old);
                continue;
            }
            OpKind::IncrBy => (old, op.arg),
            OpKind::Set => (op.arg, 0),
        };
        let new = if signed {
            signed_field(value, incr, bits, op.overflow)
        } else {
            unsigned_field(value as u64, incr, bits, op.overflow)
        };
        let Some(new) = new else {
            out.null();
            continue;
        };
        let shown = if signed {
            sign_extend(new, bits)
        } else {
            new as i64
        };
        // SET answers the old value, INCRBY the new one.
        out.int(if op.kind == OpKind::Set { old } else { shown });
        set_bits(data, op.offset, bits, new);
        if grown || new != old_raw {
            changes += 1;
        }
    }
    changes
}

/// Replies to GET-only operations from a string read without a write
/// look-up (a missing key reads as zeros and is not created).
fn run_reads(ops: &[Op], data: &[u8], out: &mut Reply) {
    for op in ops {
        let v = if op.ty.signed {
            get_signed(data, op.offset, op.ty.bits)
        } else {
            get_unsigned(data, op.offset, op.ty.bits) as i64
        };
        out.int(v);
    }
}

fn bitfield_generic(ctx: &mut Ctx, read_only: bool) {
    let ops = match parse_ops(ctx) {
        Ok(ops) => ops,
        Err(e) => return ctx.err(e),
    };
    let key = ctx.argv.get(1);
    let highest = ops
        .iter()
        .filter(|o| o.kind != OpKind::Get)
        .map(|o| o.offset + u64::from(o.ty.bits) - 1)
        .max();
    let Some(highest) = highest else {
        let r = with_str(ctx, key, |v, out| {
            out.array(ops.len());
            run_reads(&ops, v.unwrap_or_default(), out);
        });
        if r.is_err() {
            ctx.err(errors::WRONGTYPE);
        }
        return;
    };
    if read_only {
        return ctx.err(errors::BITFIELD_RO_GET_ONLY);
    }
    // The replies are collected apart: the string and the reply buffer
    // cannot be borrowed from the context at once.
    let mut out = Reply::with_buf(Vec::new(), ctx.client.out.resp3);
    out.array(ops.len());
    match with_bits_for_write(ctx, key, highest, |data, grown| {
        run_ops(&ops, data, grown, &mut out)
    }) {
        Err(WrongType) => ctx.err(errors::WRONGTYPE),
        Ok(changes) => {
            ctx.dirty(changes);
            ctx.out().raw(&out.buf);
            // After the replies, where Redis emits it.
            if changes > 0 {
                ctx.modified(key);
                ctx.notify(class::STRING, "setbit", key);
            }
        }
    }
}

/// BITFIELD key [GET type offset] [SET type offset value]
/// [INCRBY type offset increment] [OVERFLOW WRAP|SAT|FAIL] ...
fn bitfield(ctx: &mut Ctx) {
    bitfield_generic(ctx, false);
}

/// BITFIELD_RO key [GET type offset ...]: the read-only variant, usable on
/// replicas; any write operation is refused after parsing.
fn bitfield_ro(ctx: &mut Ctx) {
    bitfield_generic(ctx, true);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::Kit;

    #[test]
    fn overflow_modes_match_redis_arithmetic() {
        use Overflow::*;
        assert_eq!(unsigned_field(250, 10, 8, Wrap), Some(4));
        assert_eq!(unsigned_field(250, 10, 8, Sat), Some(255));
        assert_eq!(unsigned_field(250, 10, 8, Fail), None);
        assert_eq!(unsigned_field(5, -10, 8, Sat), Some(0));
        assert_eq!(unsigned_field(u64::MAX, 0, 8, Sat), Some(255));
        assert_eq!(signed_field(120, 10, 8, Wrap), Some(0x82));
        assert_eq!(signed_field(-120, -10, 8, Sat), Some(0x80));
        assert_eq!(signed_field(-200, 0, 8, Sat), Some(0x80));
        // Redis's quirk: far below the minimum saturates to the maximum.
        assert_eq!(signed_field(i64::MIN, 0, 23, Sat), Some(0x3f_ffff));
        assert_eq!(signed_field(i64::MAX, 1, 64, Wrap), Some(i64::MIN as u64));
        assert_eq!(signed_field(i64::MIN, -1, 64, Sat), Some(i64::MIN as u64));
        assert_eq!(parse_type(b"u64"), None);
        assert_eq!(parse_type(b"I8"), None);
        assert_eq!(parse_type(b"i64").map(|t| t.bits), Some(64));
    }

    #[test]
    fn fields_round_trip_at_odd_offsets() {
        let mut b = vec![0u8; 4];
        set_bits(&mut b, 5, 13, 0x1abc);
        assert_eq!(get_unsigned(&b, 5, 13), 0x1abc);
        assert_eq!(get_signed(&b, 5, 13), 0x1abc - 0x2000);
        assert_eq!(get_unsigned(&b, 30, 8), 0);
    }

    #[test]
    fn bitfield_propagates_only_when_a_field_changed() {
        let mut k = Kit::new();
        assert_eq!(
            k.run(&["BITFIELD", "bf", "INCRBY", "u8", "0", "0"]),
            "*1\r\n:0\r\n"
        );
        assert_eq!(
            k.run(&["BITFIELD", "bf", "INCRBY", "u8", "0", "0"]),
            "*1\r\n:0\r\n"
        );
        assert_eq!(
            k.run(&["BITFIELD", "bf", "SET", "u8", "0", "1"]),
            "*1\r\n:0\r\n"
        );
        assert_eq!(
            k.run(&["BITFIELD", "bf", "SET", "u8", "0", "1"]),
            "*1\r\n:1\r\n"
        );
        assert_eq!(
            k.run(&["BITFIELD", "bf", "OVERFLOW", "FAIL", "INCRBY", "u8", "0", "300"]),
            "*1\r\n$-1\r\n"
        );
        assert_eq!(
            k.run(&["BITFIELD", "nokey", "GET", "u8", "0"]),
            "*1\r\n:0\r\n"
        );
        assert!(k.srv.dbs[0].get(b"nokey").is_none());
        assert_eq!(
            k.propagated(),
            vec!["BITFIELD bf INCRBY u8 0 0", "BITFIELD bf SET u8 0 1"]
        );
        assert_eq!(
            k.run(&["BITFIELD_RO", "bf", "SET", "u8", "0", "1"]),
            "-ERR BITFIELD_RO only supports the GET subcommand\r\n"
        );
        assert_eq!(
            k.run(&["BITFIELD_RO", "bf", "GET", "u8", "#0"]),
            "*1\r\n:1\r\n"
        );
    }
}
