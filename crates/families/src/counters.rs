//! Counters on string values (`incr*Command` in Redis's `t_string.c`):
//! INCR, DECR, INCRBY, DECRBY and INCRBYFLOAT.
//!
//! Integer counters are stored int-encoded and propagated verbatim: the
//! arithmetic is exact, so a replica computes the same value. INCRBYFLOAT
//! is computed in C `long double` (see `util::long_double`) and propagated
//! as `SET key <result> KEEPTTL`, so that a replica or an AOF reload on a
//! platform with another float format still ends with the same text.

use crate::strings::write_str;
use crate::util::long_double::LongDouble;
use keyspace::{StrValue, Value, NO_EXPIRE};
use server::cmd::{Ctx, Handler};
use server::errors::{self, WrongType};
use server::notify::class;

pub const COMMANDS: &[(&str, Handler)] = &[
    ("incr", incr),
    ("decr", decr),
    ("incrby", incrby),
    ("decrby", decrby),
    ("incrbyfloat", incrbyfloat),
];

fn incr(ctx: &mut Ctx) {
    incr_by(ctx, 1);
}

fn decr(ctx: &mut Ctx) {
    incr_by(ctx, -1);
}

fn incrby(ctx: &mut Ctx) {
    match resp::parse_i64(ctx.argv.get(2)) {
        Some(n) => incr_by(ctx, n),
        None => ctx.err(errors::NOT_INTEGER),
    }
}

fn decrby(ctx: &mut Ctx) {
    match resp::parse_i64(ctx.argv.get(2)) {
        // Negating i64::MIN would overflow before any value is read.
        Some(i64::MIN) => ctx.err(errors::DECREMENT_OVERFLOW),
        Some(n) => incr_by(ctx, -n),
        None => ctx.err(errors::NOT_INTEGER),
    }
}

/// The integer value of a string, as Redis's `string2ll` reads it.
fn as_i64(s: &StrValue) -> Option<i64> {
    match s {
        StrValue::Int(n) => Some(*n),
        other => other.bytes().and_then(resp::parse_i64),
    }
}

/// Adds `delta` to the integer at `key` (0 when missing); the TTL is kept.
fn incr_by(ctx: &mut Ctx, delta: i64) {
    let key = ctx.argv.get(1);
    let result = match write_str(ctx, key) {
        Err(WrongType) => Err(errors::WRONGTYPE),
        Ok(None) => Ok((delta, false)),
        Ok(Some(s)) => match as_i64(s) {
            None => Err(errors::NOT_INTEGER),
            Some(cur) => match cur.checked_add(delta) {
                None => Err(errors::OVERFLOW),
                Some(n) => {
                    *s = StrValue::Int(n);
                    Ok((n, true))
                }
            },
        },
    };
    match result {
        Err(e) => ctx.err(e),
        Ok((n, existed)) => {
            if !existed {
                let lru = ctx.srv.lru_clock;
                ctx.db()
                    .insert(key, Value::Str(StrValue::Int(n)), NO_EXPIRE, lru);
                ctx.notify(class::NEW, "new", key);
            }
            ctx.dirty(1);
            ctx.modified(key);
            ctx.notify(class::STRING, "incrby", key);
            ctx.out().int(n);
        }
    }
}

/// The value INCRBYFLOAT stores: text (embstr/raw), never int-encoded,
/// as Redis stores it.
fn float_text(text: &[u8]) -> StrValue {
    StrValue::text(text)
}

/// INCRBYFLOAT key increment: the new value as text; the TTL is kept. A
/// value or an increment that is not a float gets the same error, so the
/// order in which they are checked does not show.
fn incrbyfloat(ctx: &mut Ctx) {
    let (key, incr_raw) = (ctx.argv.get(1), ctx.argv.get(2));
    let incr = LongDouble::parse(incr_raw);
    let outcome = match write_str(ctx, key) {
        Err(WrongType) => Err(errors::WRONGTYPE),
        Ok(cur) => {
            let value = match cur.as_deref() {
                None => Some(LongDouble::from_i64(0)),
                Some(StrValue::Int(n)) => Some(LongDouble::from_i64(*n)),
                Some(other) => other.bytes().and_then(LongDouble::parse),
            };
            match (value, incr) {
                (Some(v), Some(i)) => match v.checked_add(&i) {
                    None => Err(errors::INCR_NAN),
                    Some(sum) => {
                        let text = sum.to_human();
                        let existed = cur.map(|s| *s = float_text(&text)).is_some();
                        Ok((text, existed))
                    }
                },
                _ => Err(errors::NOT_FLOAT),
            }
        }
    };
    let (text, existed) = match outcome {
        Err(e) => return ctx.err(e),
        Ok(o) => o,
    };
    if !existed {
        let lru = ctx.srv.lru_clock;
        ctx.db()
            .insert(key, Value::Str(float_text(&text)), NO_EXPIRE, lru);
        ctx.notify(class::NEW, "new", key);
    }
    ctx.dirty(1);
    ctx.modified(key);
    ctx.notify(class::STRING, "incrbyfloat", key);
    ctx.out().bulk(&text);
    ctx.propagate(&[b"SET", key, &text, b"KEEPTTL"]);
}

#[cfg(test)]
mod tests {
    use crate::testkit::Kit;

    #[test]
    fn incr_family_checks_overflow_and_propagates_verbatim() {
        let mut k = Kit::new();
        assert_eq!(k.run(&["INCR", "n"]), ":1\r\n");
        assert_eq!(k.run(&["INCRBY", "n", "9"]), ":10\r\n");
        assert_eq!(k.run(&["DECR", "n"]), ":9\r\n");
        assert_eq!(k.run(&["DECRBY", "n", "10"]), ":-1\r\n");
        assert_eq!(
            k.propagated(),
            vec!["INCR n", "INCRBY n 9", "DECR n", "DECRBY n 10"]
        );
        k.run(&["SET", "m", "9223372036854775807"]);
        k.propagated();
        assert_eq!(
            k.run(&["INCR", "m"]),
            "-ERR increment or decrement would overflow\r\n"
        );
        assert_eq!(
            k.run(&["DECRBY", "m", "-9223372036854775808"]),
            "-ERR decrement would overflow\r\n"
        );
        assert_eq!(
            k.run(&["INCRBY", "m", "x"]),
            "-ERR value is not an integer or out of range\r\n"
        );
        k.run(&["SET", "s", " 1"]);
        k.propagated();
        assert_eq!(
            k.run(&["INCR", "s"]),
            "-ERR value is not an integer or out of range\r\n"
        );
        assert!(k.propagated().is_empty());
    }

    #[test]
    fn incr_keeps_ttl_and_int_encoding() {
        let mut k = Kit::new();
        k.run(&["SET", "n", "5", "PXAT", "99999999999999"]);
        k.run(&["APPEND", "n", "0"]);
        k.run(&["INCR", "n"]);
        let e = k.srv.dbs[0]
            .get(b"n")
            .map(|e| (e.expire, e.value.encoding()));
        assert_eq!(e, Some((99999999999999, "int")));
        assert_eq!(k.run(&["GET", "n"]), "$2\r\n51\r\n");
    }

    #[test]
    fn incrbyfloat_uses_long_double_and_propagates_set_keepttl() {
        let mut k = Kit::new();
        k.run(&["SET", "f", "10.5", "PXAT", "99999999999999"]);
        k.propagated();
        assert_eq!(k.run(&["INCRBYFLOAT", "f", "0.1"]), "$4\r\n10.6\r\n");
        assert_eq!(k.propagated(), vec!["SET f 10.6 KEEPTTL"]);
        assert_eq!(
            k.srv.dbs[0].get(b"f").map(|e| e.expire),
            Some(99999999999999)
        );
        assert_eq!(k.run(&["INCRBYFLOAT", "g", "3"]), "$1\r\n3\r\n");
        assert_eq!(
            k.srv.dbs[0].get(b"g").map(|e| e.value.encoding()),
            Some("embstr")
        );
        assert_eq!(k.run(&["INCRBYFLOAT", "g", "5.0e3"]), "$4\r\n5003\r\n");
        assert_eq!(
            k.run(&["INCRBYFLOAT", "g", "abc"]),
            "-ERR value is not a valid float\r\n"
        );
        assert_eq!(
            k.run(&["INCRBYFLOAT", "g", "inf"]),
            "-ERR increment would produce NaN or Infinity\r\n"
        );
        assert_eq!(
            k.propagated(),
            vec!["SET g 3 KEEPTTL", "SET g 5003 KEEPTTL"]
        );
    }
}
