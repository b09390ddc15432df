//! BITFIELD and BITFIELD_RO (`bitfieldGeneric` in Redis's `bitops.c`):
//! signed and unsigned integers of 1 to 64 bits (unsigned up to 63) at any
//! bit offset of a string, read, written or incremented, with a choice of
//! overflow behaviour (WRAP, SAT, FAIL) that applies to the operations that
//! follow it.
//!
//! All operations are parsed before any runs, so a bad argument anywhere
//! leaves the string untouched. Like SETBIT, the command is propagated
//! (verbatim) only when a field changed or the string was created or grown.

use crate::cmd::{Ctx, Handler};
use crate::commands::bitmaps::{parse_bit_offset, with_bits_for_write};
use crate::commands::strings::with_str;
use crate::errors::{self, WrongType};
use resp::Reply;

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

/// The value a SET or INCRBY stores, as raw field bits, or `None` when
/// the result overflows under FAIL.
///
/// `value` is the old field value for INCRBY and the argument for SET
/// (with `incr` 0); an unsigned SET reads its argument as the u64 with the
/// same bits, so `SET u8 0 -1` overflows high (255 under SAT), as in Redis.
fn apply_overflow(ty: FieldType, value: i128, incr: i128, mode: Overflow) -> Option<u64> {
    let bits = ty.bits;
    let (min, max): (i128, i128) = if ty.signed {
        (-(1i128 << (bits - 1)), (1i128 << (bits - 1)) - 1)
    } else {
        (0, (1i128 << bits) - 1)
    };
    let sum = value + incr;
    let high = value > max || (value >= min && sum > max);
    let low = !high && sum < min;
    let result = if high || low {
        match mode {
            Overflow::Fail => return None,
            Overflow::Sat => {
                if high {
                    max
                } else {
                    min
                }
            }
            // The low `bits` bits of the two's complement sum.
            Overflow::Wrap => sum,
        }
    } else {
        sum
    };
    let mask = if bits == 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    };
    Some(result as u64 & mask)
}

/// Runs the write operations (and the GETs between them) on `data`;
/// writes the replies and returns the number of changes.
fn run_ops(ops: &[Op], data: &mut [u8], grown: bool, out: &mut Reply) -> u64 {
    let mut changes = 0;
    for op in ops {
        let FieldType { signed, bits } = op.ty;
        let old_raw = get_unsigned(data, op.offset, bits);
        let old: i128 = if signed {
            i128::from(sign_extend(old_raw, bits))
        } else {
            i128::from(old_raw)
        };
        let new = match op.kind {
            OpKind::Get => {
                out.int(old as i64);
                continue;
            }
            OpKind::IncrBy => apply_overflow(op.ty, old, i128::from(op.arg), op.overflow),
            OpKind::Set => {
                let v = if signed {
                    i128::from(op.arg)
                } else {
                    i128::from(op.arg as u64)
                };
                apply_overflow(op.ty, v, 0, op.overflow)
            }
        };
        let Some(new) = new else {
            out.null();
            continue;
        };
        let shown = if signed {
            i128::from(sign_extend(new, bits))
        } else {
            i128::from(new)
        };
        // SET answers the old value, INCRBY the new one.
        out.int(if op.kind == OpKind::Set { old } else { shown } as i64);
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
    let mut out = Reply {
        buf: Vec::new(),
        resp3: ctx.client.out.resp3,
    };
    out.array(ops.len());
    match with_bits_for_write(ctx, key, highest, |data, grown| {
        run_ops(&ops, data, grown, &mut out)
    }) {
        Err(WrongType) => ctx.err(errors::WRONGTYPE),
        Ok(changes) => {
            ctx.dirty(changes);
            ctx.out().raw(&out.buf);
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

    const U8: FieldType = FieldType {
        signed: false,
        bits: 8,
    };
    const I8: FieldType = FieldType {
        signed: true,
        bits: 8,
    };

    #[test]
    fn overflow_modes_match_redis_arithmetic() {
        assert_eq!(apply_overflow(U8, 250, 10, Overflow::Wrap), Some(4));
        assert_eq!(apply_overflow(U8, 250, 10, Overflow::Sat), Some(255));
        assert_eq!(apply_overflow(U8, 250, 10, Overflow::Fail), None);
        assert_eq!(apply_overflow(U8, 5, -10, Overflow::Sat), Some(0));
        assert_eq!(
            apply_overflow(U8, u64::MAX as i128, 0, Overflow::Sat),
            Some(255)
        );
        assert_eq!(apply_overflow(I8, 120, 10, Overflow::Wrap), Some(0x82));
        assert_eq!(apply_overflow(I8, -120, -10, Overflow::Sat), Some(0x80));
        let i64t = FieldType {
            signed: true,
            bits: 64,
        };
        assert_eq!(
            apply_overflow(i64t, i128::from(i64::MAX), 1, Overflow::Wrap),
            Some(i64::MIN as u64)
        );
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
