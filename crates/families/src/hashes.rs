//! Hash commands (`t_hash.c` in Redis): HSET/HMSET/HSETNX, the readers
//! (HGET, HMGET, HGETALL, HKEYS, HVALS, HLEN, HSTRLEN, HEXISTS), HDEL,
//! the counters HINCRBY/HINCRBYFLOAT, HRANDFIELD and HSCAN.
//!
//! The encodings (listpack while small, hashtable beyond) live in
//! `keyspace::hash`; handlers pass the configured thresholds on every write.
//! Writes are propagated verbatim except HINCRBYFLOAT, which becomes
//! `HSET key field <result>` so a replica stores the exact text we computed
//! (its long double may differ). Argument errors come in Redis's order:
//! HINCRBY, HINCRBYFLOAT and HRANDFIELD parse their number before looking
//! the key up, HSCAN parses its cursor first but its options only once the
//! key is found.

use crate::keys::{parse_cursor, parse_scan_options};
use crate::util::long_double::LongDouble;
use keyspace::{EncodingLimits, Hash, Value, NO_EXPIRE};
use rand::rngs::SmallRng;
use rand::Rng;
use resp::Reply;
use server::cmd::{Ctx, Handler};
use server::errors::{self, WrongType};
use server::notify::class;
use server::server::Server;
use server::util::glob;

pub const COMMANDS: &[(&str, Handler)] = &[
    ("hset", hset),
    ("hmset", hmset),
    ("hsetnx", hsetnx),
    ("hget", hget),
    ("hmget", hmget),
    ("hgetall", hgetall),
    ("hkeys", hkeys),
    ("hvals", hvals),
    ("hlen", hlen),
    ("hstrlen", hstrlen),
    ("hexists", hexists),
    ("hdel", hdel),
    ("hincrby", hincrby),
    ("hincrbyfloat", hincrbyfloat),
    ("hrandfield", hrandfield),
    ("hscan", hscan),
];

// ---------------------------------------------------------------------------
// Look-up helpers
// ---------------------------------------------------------------------------

/// Looks `key` up for reading and hands the hash (if any) to `f` with the
/// reply buffer, so fields go into the reply without a copy.
fn with_hash<R>(
    ctx: &mut Ctx,
    key: &[u8],
    f: impl FnOnce(Option<&Hash>, &mut Reply) -> R,
) -> Result<R, WrongType> {
    super::lookup::with_value(ctx, key, f)
}

/// Looks `key` up for writing as a hash (lazy expiry applied).
fn write_hash<'c>(ctx: &'c mut Ctx, key: &[u8]) -> Result<Option<&'c mut Hash>, WrongType> {
    super::lookup::value_mut(ctx, key)
}

/// Runs `f` on the hash at `key`, or on a new empty hash that is stored
/// under `key` afterwards if `f` left it non-empty (Redis's
/// `hashTypeLookupWriteOrCreate`, without ever storing an empty hash).
fn update_hash<R>(
    ctx: &mut Ctx,
    key: &[u8],
    f: impl FnOnce(&mut Hash, &EncodingLimits) -> R,
) -> Result<R, WrongType> {
    let limits = ctx.srv.encoding_limits;
    match write_hash(ctx, key)? {
        Some(h) => Ok(f(h, &limits)),
        None => {
            let mut h = Hash::new();
            let r = f(&mut h, &limits);
            if !h.is_empty() {
                let lru = ctx.srv.lru_clock;
                ctx.db().insert(key, Value::Hash(h), NO_EXPIRE, lru);
            }
            Ok(r)
        }
    }
}

/// After a successful write: WATCH/tracking hook and keyspace event.
fn touched(ctx: &mut Ctx, key: &[u8], event: &str) {
    ctx.modified(key);
    ctx.notify(class::HASH, event, key);
}

// ---------------------------------------------------------------------------
// HSET, HMSET, HSETNX
// ---------------------------------------------------------------------------

/// Sets every field/value pair of `argv[2..]`; returns how many were new,
/// or `None` (after replying) on an error.
fn set_pairs(ctx: &mut Ctx) -> Option<i64> {
    if ctx.argv.len() % 2 == 1 {
        ctx.err_arity();
        return None;
    }
    let key = ctx.argv.get(1);
    let argv = ctx.argv;
    let added = update_hash(ctx, key, |h, limits| {
        let mut added = 0;
        let mut args = argv.from(2);
        while let (Some(f), Some(v)) = (args.next(), args.next()) {
            added += i64::from(h.set(f, v, limits));
        }
        added
    });
    match added {
        Err(WrongType) => {
            ctx.err(errors::WRONGTYPE);
            None
        }
        Ok(n) => {
            touched(ctx, key, "hset");
            ctx.dirty((ctx.argv.len() as u64 - 2) / 2);
            Some(n)
        }
    }
}

/// HSET key field value [field value ...]: the number of new fields.
fn hset(ctx: &mut Ctx) {
    if let Some(n) = set_pairs(ctx) {
        ctx.out().int(n);
    }
}

/// HMSET key field value [field value ...]: HSET replying `OK`.
fn hmset(ctx: &mut Ctx) {
    if set_pairs(ctx).is_some() {
        ctx.out().ok();
    }
}

/// HSETNX key field value: 1 when the field was new and set, 0 otherwise.
fn hsetnx(ctx: &mut Ctx) {
    let (key, field, value) = (ctx.argv.get(1), ctx.argv.get(2), ctx.argv.get(3));
    let set = update_hash(ctx, key, |h, limits| {
        !h.contains(field) && h.set(field, value, limits)
    });
    match set {
        Err(WrongType) => ctx.err(errors::WRONGTYPE),
        Ok(false) => ctx.out().int(0),
        Ok(true) => {
            touched(ctx, key, "hset");
            ctx.dirty(1);
            ctx.out().int(1);
        }
    }
}

// ---------------------------------------------------------------------------
// Readers
// ---------------------------------------------------------------------------

/// Sends the WRONGTYPE error if a reader found another type.
fn reply_read(ctx: &mut Ctx, r: Result<(), WrongType>) {
    if r.is_err() {
        ctx.err(errors::WRONGTYPE);
    }
}

fn hget(ctx: &mut Ctx) {
    let (key, field) = (ctx.argv.get(1), ctx.argv.get(2));
    let r = with_hash(ctx, key, |h, out| match h.and_then(|h| h.get(field)) {
        Some(v) => out.bulk(v),
        None => out.null(),
    });
    reply_read(ctx, r);
}

fn hmget(ctx: &mut Ctx) {
    let key = ctx.argv.get(1);
    let argv = ctx.argv;
    let r = with_hash(ctx, key, |h, out| {
        out.array(argv.len() - 2);
        for field in argv.from(2) {
            match h.and_then(|h| h.get(field)) {
                Some(v) => out.bulk(v),
                None => out.null(),
            }
        }
    });
    reply_read(ctx, r);
}

/// HGETALL: a map in RESP3, a flat field/value array in RESP2.
fn hgetall(ctx: &mut Ctx) {
    let key = ctx.argv.get(1);
    let r = with_hash(ctx, key, |h, out| match h {
        None => out.map(0),
        Some(h) => {
            out.map(h.len());
            for (f, v) in h.iter() {
                out.bulk(f);
                out.bulk(v);
            }
        }
    });
    reply_read(ctx, r);
}

/// HKEYS / HVALS: one side of every pair.
fn reply_side(ctx: &mut Ctx, values: bool) {
    let key = ctx.argv.get(1);
    let r = with_hash(ctx, key, |h, out| match h {
        None => out.array(0),
        Some(h) => {
            out.array(h.len());
            for (f, v) in h.iter() {
                out.bulk(if values { v } else { f });
            }
        }
    });
    reply_read(ctx, r);
}

fn hkeys(ctx: &mut Ctx) {
    reply_side(ctx, false);
}

fn hvals(ctx: &mut Ctx) {
    reply_side(ctx, true);
}

fn hlen(ctx: &mut Ctx) {
    let key = ctx.argv.get(1);
    let r = with_hash(ctx, key, |h, out| {
        out.int(h.map_or(0, |h| h.len() as i64));
    });
    reply_read(ctx, r);
}

fn hstrlen(ctx: &mut Ctx) {
    let (key, field) = (ctx.argv.get(1), ctx.argv.get(2));
    let r = with_hash(ctx, key, |h, out| {
        out.int(h.and_then(|h| h.get(field)).map_or(0, |v| v.len() as i64));
    });
    reply_read(ctx, r);
}

fn hexists(ctx: &mut Ctx) {
    let (key, field) = (ctx.argv.get(1), ctx.argv.get(2));
    let r = with_hash(ctx, key, |h, out| {
        out.int(i64::from(h.is_some_and(|h| h.contains(field))));
    });
    reply_read(ctx, r);
}

// ---------------------------------------------------------------------------
// HDEL
// ---------------------------------------------------------------------------

/// HDEL key field [field ...]: the number of fields removed. A hash left
/// empty is deleted (event `del` after `hdel`); the command is propagated
/// verbatim either way, as Redis does.
fn hdel(ctx: &mut Ctx) {
    let key = ctx.argv.get(1);
    let argv = ctx.argv;
    let outcome = match write_hash(ctx, key) {
        Err(WrongType) => return ctx.err(errors::WRONGTYPE),
        Ok(None) => None,
        Ok(Some(h)) => {
            let mut n = 0;
            for field in argv.from(2) {
                if h.remove(field) {
                    n += 1;
                    if h.is_empty() {
                        // Redis stops at the first field that empties the
                        // hash; the rest cannot be there.
                        break;
                    }
                }
            }
            Some((n, h.is_empty()))
        }
    };
    let Some((n, emptied)) = outcome else {
        return ctx.out().int(0);
    };
    if n > 0 {
        if emptied {
            ctx.db().remove(key);
        }
        touched(ctx, key, "hdel");
        if emptied {
            ctx.notify(class::GENERIC, "del", key);
        }
        ctx.dirty(n as u64);
    }
    ctx.out().int(n);
}

// ---------------------------------------------------------------------------
// HINCRBY, HINCRBYFLOAT
// ---------------------------------------------------------------------------

/// HINCRBY key field increment: the new value. The stored value must be
/// the text of an i64 (Redis's `string2ll`); the sum must not overflow.
fn hincrby(ctx: &mut Ctx) {
    let (key, field) = (ctx.argv.get(1), ctx.argv.get(2));
    let Some(incr) = resp::parse_i64(ctx.argv.get(3)) else {
        return ctx.err(errors::NOT_INTEGER);
    };
    let outcome = update_hash(ctx, key, |h, limits| {
        let cur = match h.get(field) {
            None => 0,
            Some(v) => resp::parse_i64(v).ok_or(errors::HASH_NOT_INTEGER)?,
        };
        let n = cur.checked_add(incr).ok_or(errors::OVERFLOW)?;
        h.set(field, itoa::Buffer::new().format(n).as_bytes(), limits);
        Ok(n)
    });
    match outcome {
        Err(WrongType) => ctx.err(errors::WRONGTYPE),
        Ok(Err(e)) => ctx.err(e),
        Ok(Ok(n)) => {
            touched(ctx, key, "hincrby");
            ctx.dirty(1);
            ctx.out().int(n);
        }
    }
}

/// HINCRBYFLOAT key field increment: the new value as text, computed in
/// long double like INCRBYFLOAT and propagated as `HSET key field <text>`.
fn hincrbyfloat(ctx: &mut Ctx) {
    let (key, field) = (ctx.argv.get(1), ctx.argv.get(2));
    let Some(incr) = LongDouble::parse(ctx.argv.get(3)) else {
        return ctx.err(errors::NOT_FLOAT);
    };
    // The parser accepts "inf"; Redis refuses an infinite increment before
    // looking at the key. Adding zero keeps only finite values.
    if incr.checked_add(&LongDouble::from_i64(0)).is_none() {
        return ctx.err(errors::HASH_INCR_NAN);
    }
    let outcome = update_hash(ctx, key, |h, limits| {
        let cur = match h.get(field) {
            None => LongDouble::from_i64(0),
            Some(v) => LongDouble::parse(v).ok_or(errors::HASH_NOT_FLOAT)?,
        };
        let sum = cur.checked_add(&incr).ok_or(errors::INCR_NAN)?;
        let text = sum.to_human();
        h.set(field, &text, limits);
        Ok(text)
    });
    match outcome {
        Err(WrongType) => ctx.err(errors::WRONGTYPE),
        Ok(Err(e)) => ctx.err(e),
        Ok(Ok(text)) => {
            touched(ctx, key, "hincrbyfloat");
            ctx.dirty(1);
            ctx.out().bulk(&text);
            ctx.propagate(&[b"HSET", key, field, &text]);
        }
    }
}

// ---------------------------------------------------------------------------
// HRANDFIELD
// ---------------------------------------------------------------------------

/// Writes one HRANDFIELD element: the field, or with values a pair (a
/// nested array in RESP3, two flat elements in RESP2).
fn reply_pick(out: &mut Reply, f: &[u8], v: &[u8], withvalues: bool) {
    if withvalues && out.resp3 {
        out.array(2);
    }
    out.bulk(f);
    if withvalues {
        out.bulk(v);
    }
}

/// Looks `key` up for reading (statistics, lazy expiry) and returns the
/// hash together with the server's random generator, for HRANDFIELD.
fn hash_and_rng<'s>(
    srv: &'s mut Server,
    db: usize,
    master: bool,
    key: &[u8],
) -> Result<Option<(&'s Hash, &'s mut SmallRng)>, WrongType> {
    match srv.lookup_read(db, key, master) {
        None => return Ok(None),
        Some(e) if !matches!(e.value, Value::Hash(_)) => return Err(WrongType),
        Some(_) => {}
    }
    match srv.dbs[db].get(key).map(|e| &e.value) {
        Some(Value::Hash(h)) => Ok(Some((h, &mut srv.rng))),
        _ => Ok(None),
    }
}

/// HRANDFIELD key [count [WITHVALUES]].
///
/// Without a count: one random field (null when missing). A positive count
/// returns that many distinct fields, the whole hash (in its order) when
/// the count reaches its size; a negative count returns |count| fields
/// drawn independently, repeats allowed.
fn hrandfield(ctx: &mut Ctx) {
    let key = ctx.argv.get(1);
    if ctx.argv.len() == 2 {
        let (srv, client) = ctx.parts();
        let (db, master) = (client.db, client.is_master());
        let out = &mut client.out;
        let r = match hash_and_rng(srv, db, master, key) {
            Err(WrongType) => Err(WrongType),
            Ok(None) => {
                out.null();
                Ok(())
            }
            Ok(Some((h, rng))) => {
                match h.nth(rng.gen_range(0..h.len().max(1))) {
                    Some((f, _)) => out.bulk(f),
                    None => out.null(),
                }
                Ok(())
            }
        };
        return reply_read(ctx, r);
    }
    // Redis reads the count in [-LONG_MAX, LONG_MAX] first, then the
    // option, and bounds the count by half that range with WITHVALUES (its
    // reply would have twice as many elements).
    let count = match resp::parse_i64(ctx.argv.get(2)) {
        None => return ctx.err(errors::NOT_INTEGER),
        Some(i64::MIN) => return ctx.err(errors::LONG_OUT_OF_RANGE),
        Some(n) => n,
    };
    let withvalues = match ctx.argv.len() {
        3 => false,
        4 if ctx.argv.get(3).eq_ignore_ascii_case(b"WITHVALUES") => {
            if !(-i64::MAX / 2..=i64::MAX / 2).contains(&count) {
                return ctx.err(errors::VALUE_OUT_OF_RANGE);
            }
            true
        }
        _ => return ctx.err(errors::SYNTAX),
    };
    let (srv, client) = ctx.parts();
    let (db, master) = (client.db, client.is_master());
    let out = &mut client.out;
    let (h, rng) = match hash_and_rng(srv, db, master, key) {
        Err(WrongType) => return reply_read(ctx, Err(WrongType)),
        Ok(None) => return out.array(0),
        Ok(Some(found)) => found,
    };
    let size = h.len();
    let wanted = count.unsigned_abs();
    let flat = if withvalues && !out.resp3 { 2 } else { 1 };
    if wanted == 0 {
        return out.array(0);
    }
    // Negative count (or 1): independent draws, repeats allowed.
    if count < 0 || wanted == 1 {
        let n = usize::try_from(wanted).unwrap_or(usize::MAX);
        out.array(n.saturating_mul(flat));
        for _ in 0..n {
            if let Some((f, v)) = h.nth(rng.gen_range(0..size.max(1))) {
                reply_pick(out, f, v, withvalues);
            }
        }
        return;
    }
    // A count reaching the size: the whole hash, in its own order.
    if wanted >= size as u64 {
        out.array(size * flat);
        for (f, v) in h.iter() {
            reply_pick(out, f, v, withvalues);
        }
        return;
    }
    // Fewer distinct fields than the hash holds: a uniform sample, replied
    // in the hash's order as Redis does for a listpack.
    let n = wanted as usize;
    let mut picks = rand::seq::index::sample(rng, size, n).into_vec();
    picks.sort_unstable();
    out.array(n * flat);
    for i in picks {
        if let Some((f, v)) = h.nth(i) {
            reply_pick(out, f, v, withvalues);
        }
    }
}

// ---------------------------------------------------------------------------
// HSCAN
// ---------------------------------------------------------------------------

/// HSCAN key cursor [MATCH pattern] [COUNT count]: field/value pairs. A
/// listpack hash comes back whole with cursor 0, as in Redis.
fn hscan(ctx: &mut Ctx) {
    let key = ctx.argv.get(1);
    let Some(cursor) = parse_cursor(ctx.argv.get(2)) else {
        return ctx.err(errors::INVALID_CURSOR);
    };
    // A missing key is an empty scan before the options are looked at.
    let found = match with_hash(ctx, key, |h, _| h.is_some()) {
        Err(WrongType) => return ctx.err(errors::WRONGTYPE),
        Ok(found) => found,
    };
    if !found {
        let out = ctx.out();
        out.array(2);
        out.bulk(b"0");
        return out.array(0);
    }
    let (count, pattern) = match parse_scan_options(ctx.argv, 3, false) {
        Err(e) => return ctx.err(e),
        Ok(o) => (o.count, o.pattern),
    };
    let (srv, client) = ctx.parts();
    let Some(Value::Hash(h)) = srv.dbs[client.db].get(key).map(|e| &e.value) else {
        return;
    };
    let out = &mut client.out;
    let mut found: Vec<(&[u8], &[u8])> = Vec::new();
    let next = h.scan(cursor, count, |f, v| {
        if pattern.is_none_or(|p| glob::matches(p, f, false)) {
            found.push((f, v));
        }
    });
    out.array(2);
    out.bulk(itoa::Buffer::new().format(next).as_bytes());
    out.array(found.len() * 2);
    for (f, v) in found {
        out.bulk(f);
        out.bulk(v);
    }
}

#[cfg(test)]
mod tests {
    use crate::testkit::Kit;

    fn encoding(k: &Kit, key: &str) -> Option<&'static str> {
        k.srv.dbs[0].get(key.as_bytes()).map(|e| e.value.encoding())
    }

    #[test]
    fn writes_propagate_verbatim_and_incrbyfloat_as_hset() {
        let mut k = Kit::new();
        assert_eq!(k.run(&["HSET", "h", "a", "1", "b", "2"]), ":2\r\n");
        assert_eq!(k.run(&["HMSET", "h", "a", "3"]), "+OK\r\n");
        assert_eq!(k.run(&["HSETNX", "h", "a", "9"]), ":0\r\n");
        assert_eq!(k.run(&["HSETNX", "h", "c", "9"]), ":1\r\n");
        assert_eq!(k.run(&["HINCRBY", "h", "a", "10"]), ":13\r\n");
        assert_eq!(k.run(&["HINCRBYFLOAT", "h", "b", "0.5"]), "$3\r\n2.5\r\n");
        assert_eq!(k.run(&["HDEL", "h", "zz"]), ":0\r\n");
        assert_eq!(k.run(&["HDEL", "h", "a", "zz"]), ":1\r\n");
        assert_eq!(
            k.propagated(),
            vec![
                "HSET h a 1 b 2",
                "HMSET h a 3",
                "HSETNX h c 9",
                "HINCRBY h a 10",
                "HSET h b 2.5",
                "HDEL h a zz",
            ]
        );
    }

    #[test]
    fn failed_writes_propagate_nothing_and_create_nothing() {
        let mut k = Kit::new();
        k.run(&["SET", "s", "x"]);
        k.propagated();
        let wrongtype = "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n";
        assert_eq!(k.run(&["HSET", "s", "a", "1"]), wrongtype);
        assert_eq!(k.run(&["HGET", "s", "a"]), wrongtype);
        assert_eq!(
            k.run(&["HSET", "h", "a"]),
            "-ERR wrong number of arguments for 'hset' command\r\n"
        );
        assert_eq!(
            k.run(&["HMSET", "h", "a", "1", "b"]),
            "-ERR wrong number of arguments for 'hmset' command\r\n"
        );
        k.run(&["HSET", "h", "i", "9223372036854775807", "f", "x"]);
        k.propagated();
        assert_eq!(
            k.run(&["HINCRBY", "h", "i", "1"]),
            "-ERR increment or decrement would overflow\r\n"
        );
        assert_eq!(
            k.run(&["HINCRBY", "h", "f", "1"]),
            "-ERR hash value is not an integer\r\n"
        );
        assert_eq!(
            k.run(&["HINCRBYFLOAT", "h", "f", "1"]),
            "-ERR hash value is not a float\r\n"
        );
        assert_eq!(
            k.run(&["HINCRBYFLOAT", "h", "n", "inf"]),
            "-ERR value is NaN or Infinity\r\n"
        );
        assert_eq!(k.run(&["HSETNX", "h", "f", "y"]), ":0\r\n");
        assert!(k.propagated().is_empty());
        assert_eq!(k.run(&["HDEL", "nokey", "a"]), ":0\r\n");
        assert_eq!(k.run(&["EXISTS", "nokey"]), ":0\r\n");
        assert!(k.propagated().is_empty());
    }

    #[test]
    fn hdel_of_the_last_field_deletes_the_key() {
        let mut k = Kit::new();
        k.run(&["HSET", "h", "a", "1", "b", "2"]);
        assert_eq!(k.run(&["HDEL", "h", "a", "b", "c"]), ":2\r\n");
        assert_eq!(k.run(&["EXISTS", "h"]), ":0\r\n");
        assert_eq!(k.propagated(), vec!["HSET h a 1 b 2", "HDEL h a b c"]);
    }

    #[test]
    fn encoding_converts_at_both_thresholds_and_stays_converted() {
        let mut k = Kit::new();
        k.srv.encoding_limits.hash_max_listpack_entries = 3;
        k.srv.encoding_limits.hash_max_listpack_value = 10;
        k.run(&["HSET", "n", "a", "1", "b", "2", "c", "3"]);
        assert_eq!(encoding(&k, "n"), Some("listpack"));
        k.run(&["HSET", "n", "d", "4"]);
        assert_eq!(encoding(&k, "n"), Some("hashtable"));
        k.run(&["HDEL", "n", "a", "b", "c"]);
        assert_eq!(encoding(&k, "n"), Some("hashtable"));

        k.run(&["HSET", "v", "a", "0123456789"]);
        assert_eq!(encoding(&k, "v"), Some("listpack"));
        k.run(&["HSET", "v", "b", "0123456789x"]);
        assert_eq!(encoding(&k, "v"), Some("hashtable"));
        assert_eq!(k.run(&["HGET", "v", "a"]), "$10\r\n0123456789\r\n");

        // A long field converts too, and so does a long HINCRBYFLOAT result.
        k.run(&["HINCRBY", "w", "0123456789x", "1"]);
        assert_eq!(encoding(&k, "w"), Some("hashtable"));
        k.run(&["HINCRBYFLOAT", "x", "f", "1e20"]);
        assert_eq!(encoding(&k, "x"), Some("hashtable"));
    }

    #[test]
    fn hrandfield_with_count_covering_the_hash_returns_it_in_order() {
        let mut k = Kit::new();
        k.run(&["HSET", "h", "a", "1", "b", "2"]);
        assert_eq!(
            k.run(&["HRANDFIELD", "h", "5", "WITHVALUES"]),
            "*4\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$1\r\n2\r\n"
        );
        assert_eq!(k.run(&["HRANDFIELD", "h", "-3"]).len(), 4 + 3 * 7);
        assert_eq!(k.run(&["HRANDFIELD", "h", "0"]), "*0\r\n");
        assert_eq!(
            k.run(&["HRANDFIELD", "h", "1", "WITHVALUES", "x"]),
            "-ERR syntax error\r\n"
        );
        k.run(&["HELLO", "3"]);
        assert_eq!(
            k.run(&["HRANDFIELD", "h", "2", "WITHVALUES"]),
            "*2\r\n*2\r\n$1\r\na\r\n$1\r\n1\r\n*2\r\n$1\r\nb\r\n$1\r\n2\r\n"
        );
        assert_eq!(k.run(&["HRANDFIELD", "nokey"]), "_\r\n");
    }

    #[test]
    fn hscan_walks_a_hashtable_with_its_cursor() {
        let mut k = Kit::new();
        k.srv.encoding_limits.hash_max_listpack_entries = 4;
        for i in 0..40 {
            k.run(&["HSET", "h", &format!("f{i}"), &i.to_string()]);
        }
        assert_eq!(encoding(&k, "h"), Some("hashtable"));
        let mut cursor = "0".to_string();
        let mut fields = 0;
        loop {
            let r = k.run(&["HSCAN", "h", &cursor, "COUNT", "7", "MATCH", "f1*"]);
            let lines: Vec<&str> = r.split("\r\n").collect();
            cursor = lines[2].to_string();
            fields += lines.iter().filter(|l| l.starts_with("f1")).count();
            if cursor == "0" {
                break;
            }
        }
        // f1 and f10..f19
        assert_eq!(fields, 11);
    }
}
