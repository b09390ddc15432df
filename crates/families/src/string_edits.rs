//! Commands that read or edit part of a string in place (`t_string.c` in
//! Redis): APPEND, STRLEN, GETRANGE (and its old name SUBSTR), SETRANGE.
//!
//! An edited string is stored `raw`, as Redis's in-place edits leave it,
//! and keeps its TTL. Growth is bounded by `proto-max-bulk-len`.

use crate::strings::{check_string_length, max_string_len, store, with_str, write_str};
use keyspace::StrValue;
use server::cmd::{Ctx, Handler};
use server::errors::{self, WrongType};
use server::notify::class;

pub const COMMANDS: &[(&str, Handler)] = &[
    ("append", append),
    ("strlen", strlen),
    ("getrange", getrange),
    ("substr", getrange),
    ("setrange", setrange),
];

/// APPEND key value: the new length. A new key is stored as SET would
/// store it (possibly int-encoded); an appended one becomes `raw`.
fn append(ctx: &mut Ctx) {
    let (key, val) = (ctx.argv.get(1), ctx.argv.get(2));
    let max = max_string_len(ctx);
    let appended = match write_str(ctx, key) {
        Err(WrongType) => Err(errors::WRONGTYPE),
        Ok(None) => Ok(None),
        Ok(Some(s)) => check_string_length(max, s.len() as u64, val.len() as u64).map(|()| {
            let data = s.make_raw();
            data.extend_from_slice(val);
            Some(data.len())
        }),
    };
    let total = match appended {
        Err(e) => return ctx.err(e),
        Ok(Some(total)) => total,
        Ok(None) => {
            store(ctx, key, StrValue::from_bytes(val));
            ctx.notify(class::NEW, "new", key);
            val.len()
        }
    };
    ctx.dirty(1);
    ctx.modified(key);
    ctx.notify(class::STRING, "append", key);
    ctx.out().int(total as i64);
}

/// STRLEN key: 0 for a missing key.
fn strlen(ctx: &mut Ctx) {
    let key = ctx.argv.get(1);
    match with_str(ctx, key, |v, out| out.int(v.map_or(0, |b| b.len() as i64))) {
        Ok(()) => {}
        Err(WrongType) => ctx.err(errors::WRONGTYPE),
    }
}

/// Normalises an inclusive `start..=end` range over a string of `len`
/// bytes as GETRANGE does: negative indexes count from the end, both ends
/// are clamped. `None` is the empty range.
pub fn clamp_range(start: i64, end: i64, len: i64) -> Option<(usize, usize)> {
    if start < 0 && end < 0 && start > end {
        return None;
    }
    let mut s = if start < 0 {
        start.saturating_add(len)
    } else {
        start
    };
    let mut e = if end < 0 {
        end.saturating_add(len)
    } else {
        end
    };
    s = s.max(0);
    e = e.max(0);
    if e >= len {
        e = len - 1;
    }
    if s > e || len == 0 {
        None
    } else {
        Some((s as usize, e as usize))
    }
}

/// GETRANGE key start end (and its old name SUBSTR).
fn getrange(ctx: &mut Ctx) {
    let (Some(start), Some(end)) = (
        resp::parse_i64(ctx.argv.get(2)),
        resp::parse_i64(ctx.argv.get(3)),
    ) else {
        return ctx.err(errors::NOT_INTEGER);
    };
    let key = ctx.argv.get(1);
    let r = with_str(ctx, key, |v, out| {
        let b = v.unwrap_or_default();
        match clamp_range(start, end, b.len() as i64) {
            Some((s, e)) => out.bulk(&b[s..=e]),
            None => out.bulk(b""),
        }
    });
    if r.is_err() {
        ctx.err(errors::WRONGTYPE);
    }
}

/// What SETRANGE found under the key, or did to it.
enum SetRange {
    /// Nothing to write: the current length.
    Unchanged(usize),
    TooLong,
    Missing,
    /// Written in place: the new length.
    Written(usize),
}

/// SETRANGE key offset value: the new length. Writing nothing changes
/// nothing (and creates no key); the string is zero-padded up to
/// `offset` and becomes `raw`.
fn setrange(ctx: &mut Ctx) {
    let (key, val) = (ctx.argv.get(1), ctx.argv.get(3));
    let Some(offset) = resp::parse_i64(ctx.argv.get(2)) else {
        return ctx.err(errors::NOT_INTEGER);
    };
    if offset < 0 {
        return ctx.err(errors::OFFSET_OUT_OF_RANGE);
    }
    let max = max_string_len(ctx);
    // Writes `val` at `offset` of `data`, zero-padding as needed.
    let write_at = |data: &mut Vec<u8>, offset: usize| {
        let end = offset + val.len();
        if data.len() < end {
            data.resize(end, 0);
        }
        data[offset..end].copy_from_slice(val);
        data.len()
    };
    let fits = check_string_length(max, offset as u64, val.len() as u64).is_ok();
    let offset = offset as usize;
    // Checked in Redis's order: type, empty value, resulting size.
    let outcome = match write_str(ctx, key) {
        Err(WrongType) => return ctx.err(errors::WRONGTYPE),
        Ok(cur) if val.is_empty() => SetRange::Unchanged(cur.map_or(0, |s| s.len())),
        Ok(_) if !fits => SetRange::TooLong,
        Ok(None) => SetRange::Missing,
        Ok(Some(s)) => SetRange::Written(write_at(s.make_raw(), offset)),
    };
    let total = match outcome {
        SetRange::Unchanged(len) => return ctx.out().int(len as i64),
        SetRange::TooLong => return ctx.err(errors::STRING_TOO_LONG),
        SetRange::Written(total) => total,
        SetRange::Missing => {
            let mut data = Vec::new();
            let total = write_at(&mut data, offset);
            store(ctx, key, StrValue::raw(data));
            ctx.notify(class::NEW, "new", key);
            total
        }
    };
    ctx.dirty(1);
    ctx.modified(key);
    ctx.notify(class::STRING, "setrange", key);
    ctx.out().int(total as i64);
}

#[cfg(test)]
mod tests {
    use crate::testkit::Kit;
    use keyspace::Value;

    fn expire(k: &Kit, key: &str) -> i64 {
        k.srv.dbs[0].get(key.as_bytes()).map_or(-2, |e| e.expire)
    }

    fn encoding(k: &Kit, key: &str) -> &'static str {
        k.srv.dbs[0]
            .get(key.as_bytes())
            .map_or("none", |e| e.value.encoding())
    }

    #[test]
    fn append_and_setrange_make_raw_strings() {
        let mut k = Kit::new();
        assert_eq!(k.run(&["APPEND", "n", "12"]), ":2\r\n");
        assert_eq!(encoding(&k, "n"), "int");
        assert_eq!(k.run(&["APPEND", "n", "3"]), ":3\r\n");
        assert_eq!(encoding(&k, "n"), "raw");
        assert_eq!(k.run(&["GET", "n"]), "$3\r\n123\r\n");
        assert_eq!(k.run(&["SETRANGE", "s", "2", "ab"]), ":4\r\n");
        assert_eq!(k.run(&["GET", "s"]), "$4\r\n\0\0ab\r\n");
        assert_eq!(encoding(&k, "s"), "raw");
        assert_eq!(k.run(&["SETRANGE", "none", "5", ""]), ":0\r\n");
        assert_eq!(k.run(&["SETRANGE", "s", "1", ""]), ":4\r\n");
        assert_eq!(k.run(&["APPEND", "e", ""]), ":0\r\n");
        assert_eq!(
            k.propagated(),
            vec!["APPEND n 12", "APPEND n 3", "SETRANGE s 2 ab", "APPEND e "]
        );
        assert!(k.srv.dbs[0].get(b"none").is_none());
        assert_eq!(
            k.run(&["SETRANGE", "s", "536870911", "ab"]),
            "-ERR string exceeds maximum allowed size (proto-max-bulk-len)\r\n"
        );
    }

    #[test]
    fn setrange_keeps_the_ttl() {
        let mut k = Kit::new();
        k.run(&["SET", "s", "hello", "PXAT", "99999999999999"]);
        k.run(&["SETRANGE", "s", "0", "J"]);
        k.run(&["APPEND", "s", "!"]);
        assert_eq!(expire(&k, "s"), 99999999999999);
        assert!(matches!(
            k.srv.dbs[0].get(b"s").map(|e| &e.value),
            Some(Value::Str(_))
        ));
        assert_eq!(k.run(&["GET", "s"]), "$6\r\nJello!\r\n");
    }

    #[test]
    fn getrange_clamps_like_redis() {
        let mut k = Kit::new();
        k.run(&["SET", "s", "Hello World"]);
        assert_eq!(k.run(&["GETRANGE", "s", "0", "4"]), "$5\r\nHello\r\n");
        assert_eq!(k.run(&["GETRANGE", "s", "-5", "-1"]), "$5\r\nWorld\r\n");
        assert_eq!(k.run(&["GETRANGE", "s", "-1", "-5"]), "$0\r\n\r\n");
        assert_eq!(
            k.run(&[
                "GETRANGE",
                "s",
                "-9223372036854775808",
                "9223372036854775807"
            ]),
            "$11\r\nHello World\r\n"
        );
        assert_eq!(k.run(&["SUBSTR", "s", "6", "100"]), "$5\r\nWorld\r\n");
        k.run(&["SET", "n", "-12345"]);
        assert_eq!(k.run(&["GETRANGE", "n", "1", "2"]), "$2\r\n12\r\n");
        assert_eq!(k.run(&["GETRANGE", "missing", "0", "-1"]), "$0\r\n\r\n");
    }
}
