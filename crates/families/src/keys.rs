//! Generic key commands (`db.c` and `object.c` in Redis): DEL, EXISTS,
//! TYPE, RENAME, COPY, MOVE, KEYS, SCAN, RANDOMKEY, TOUCH, SWAPDB, OBJECT.
//!
//! None of these look inside values, so they work for every type. The TTL
//! commands live in `expire.rs`.
//!
//! Writes are propagated verbatim when they changed something (Redis does
//! the same: `RENAME`, `MOVE`, `COPY`, `SWAPDB` carry no relative time), so
//! handlers only count `dirty` and the executor does the rest.

use command_meta::Argv;
use keyspace::lru::{self, AccessClock};
use keyspace::{Entry, StrValue, Value};
use server::cmd::{Ctx, Handler};
use server::config::Directive;
use server::errors;
use server::notify::class;
use server::util::glob;

pub const COMMANDS: &[(&str, Handler)] = &[
    ("del", del),
    ("unlink", del),
    ("exists", exists),
    ("type", type_),
    ("rename", rename),
    ("renamenx", renamenx),
    ("copy", copy),
    ("move", move_),
    ("keys", keys),
    ("scan", scan),
    ("randomkey", randomkey),
    ("touch", touch),
    ("swapdb", swapdb),
    ("object|encoding", object_encoding),
    ("object|freq", object_freq),
    ("object|idletime", object_idletime),
    ("object|refcount", object_refcount),
    ("object|help", object_help),
];

/// Looks `key` up for reading without refreshing its access time (Redis's
/// `LOOKUP_NOTOUCH`, used by TYPE, TTL, OBJECT, EXISTS): lazy expiry and
/// hit/miss statistics apply. Returns the entry's position in the current
/// database.
pub(crate) fn lookup_notouch(ctx: &mut Ctx, key: &[u8]) -> Option<usize> {
    lookup_notouch_notify(ctx, key, true)
}

/// [`lookup_notouch`]; a miss raises a `keymiss` event when `notify`
/// (OBJECT looks keys up without one, as Redis does).
fn lookup_notouch_notify(ctx: &mut Ctx, key: &[u8], notify: bool) -> Option<usize> {
    let (db, master) = (ctx.client.db, ctx.client.is_master());
    let found = ctx.srv.find_live(db, key, master);
    if found.is_some() {
        ctx.srv.stats.keyspace_hits += 1;
    } else {
        ctx.srv.stats.keyspace_misses += 1;
        if notify {
            ctx.notify(class::KEY_MISS, "keymiss", key);
        }
    }
    ctx.flush_pushes();
    found
}

/// Parses an integer that fits in a C `int` (Redis's `getIntFromObject`);
/// SWAPDB replaces both failure messages with its own.
fn parse_int(raw: &[u8]) -> Option<i32> {
    resp::parse_i64(raw).and_then(|n| i32::try_from(n).ok())
}

/// A database index given as an argument (Redis's
/// `getIntFromObjectOrReply`, whose two errors tell a non-integer from one
/// outside the `int` range), checked against `databases`.
fn parse_db_index(ctx: &mut Ctx, raw: &[u8]) -> Result<usize, ()> {
    let Some(n) = resp::parse_i64(raw) else {
        ctx.err(errors::NOT_INTEGER);
        return Err(());
    };
    let Ok(n) = i32::try_from(n) else {
        ctx.err(errors::INT_OUT_OF_RANGE);
        return Err(());
    };
    match usize::try_from(n) {
        Ok(i) if i < ctx.srv.dbs.len() => Ok(i),
        _ => {
            ctx.err(errors::INVALID_DB);
            Err(())
        }
    }
}

/// DEL / UNLINK key [key ...]: the number of keys removed. UNLINK (and DEL
/// under `lazyfree-lazy-user-del`) leaves big values to the lazy-free
/// thread.
fn del(ctx: &mut Ctx) {
    let lazy = ctx.argv.get(0).eq_ignore_ascii_case(b"unlink") || ctx.srv.lazyfree_lazy_user_del;
    let mut n = 0;
    for key in ctx.argv.from(1) {
        if ctx.key_exists(key) {
            if let Some(e) = ctx.db().remove(key) {
                ctx.srv.free_value(e.value, lazy);
            }
            ctx.modified(key);
            ctx.notify(class::GENERIC, "del", key);
            n += 1;
        }
    }
    ctx.dirty(n as u64);
    ctx.out().int(n);
}

/// EXISTS key [key ...]: counts repeated keys repeatedly, as Redis does.
fn exists(ctx: &mut Ctx) {
    let mut n = 0;
    for key in ctx.argv.from(1) {
        if lookup_notouch(ctx, key).is_some() {
            n += 1;
        }
    }
    ctx.out().int(n);
}

/// TYPE key: the type name as a status reply, `none` when missing.
fn type_(ctx: &mut Ctx) {
    let key = ctx.argv.get(1);
    let name = match lookup_notouch(ctx, key) {
        Some(i) => ctx.db().at(i).map_or("none", |e| e.value.type_name()),
        None => "none",
    };
    ctx.out().simple(name.as_bytes());
}

fn rename(ctx: &mut Ctx) {
    rename_generic(ctx, false);
}

fn renamenx(ctx: &mut Ctx) {
    rename_generic(ctx, true);
}

/// RENAME / RENAMENX src dst. The entry moves whole: value, TTL and access
/// time. Renaming a key to itself changes nothing (and propagates nothing)
/// but still fails when the key is missing.
fn rename_generic(ctx: &mut Ctx, nx: bool) {
    let src = ctx.argv.get(1);
    let dst = ctx.argv.get(2);
    if ctx.lookup_write(src).is_none() {
        return ctx.err(errors::NO_SUCH_KEY);
    }
    if src == dst {
        if nx {
            ctx.out().int(0);
        } else {
            ctx.out().ok();
        }
        return;
    }
    if ctx.lookup_write(dst).is_some() && nx {
        return ctx.out().int(0);
    }
    if let Some(entry) = ctx.db().remove(src) {
        let old = ctx.db().insert_entry(dst, entry);
        ctx.srv.free_replaced(old);
    }
    ctx.dirty(1);
    ctx.notify(class::NEW, "new", dst);
    ctx.modified(src);
    ctx.modified(dst);
    ctx.notify(class::GENERIC, "rename_from", src);
    ctx.notify(class::GENERIC, "rename_to", dst);
    if nx {
        ctx.out().int(1);
    } else {
        ctx.out().ok();
    }
}

/// COPY src dst [DB index] [REPLACE]: the copy keeps the TTL and gets a
/// fresh access time, as a newly created object does in Redis.
fn copy(ctx: &mut Ctx) {
    let src = ctx.argv.get(1);
    let dst = ctx.argv.get(2);
    let src_db = ctx.client.db;
    let mut dst_db = src_db;
    let mut replace = false;
    let mut i = 3;
    while i < ctx.argv.len() {
        let opt = ctx.argv.get(i);
        if opt.eq_ignore_ascii_case(b"REPLACE") {
            replace = true;
        } else if opt.eq_ignore_ascii_case(b"DB") && i + 1 < ctx.argv.len() {
            let raw = ctx.argv.get(i + 1);
            match parse_db_index(ctx, raw) {
                Ok(d) => dst_db = d,
                Err(()) => return,
            }
            i += 1;
        } else {
            return ctx.err(errors::SYNTAX);
        }
        i += 1;
    }
    if ctx.srv.cluster.is_some() && (src_db != 0 || dst_db != 0) {
        return ctx.err("ERR Copying to another database is not allowed in cluster mode");
    }
    if src_db == dst_db && src == dst {
        return ctx.err(errors::SAME_OBJECT);
    }
    let Some(e) = ctx.lookup_read(src) else {
        return ctx.out().int(0);
    };
    let (value, expire) = (e.value.clone(), e.expire);
    let master = ctx.client.is_master();
    if ctx.srv.lookup_write(dst_db, dst, master).is_some() && !replace {
        return ctx.out().int(0);
    }
    let lru = ctx.srv.lru_clock;
    let old = ctx.srv.dbs[dst_db].insert(dst, value, expire, lru);
    ctx.srv.free_replaced(old);
    ctx.dirty(1);
    ctx.srv
        .notify_keyspace_event(class::NEW, "new", dst, dst_db);
    ctx.srv.signal_modified_key(dst_db, dst);
    ctx.srv
        .notify_keyspace_event(class::GENERIC, "copy_to", dst, dst_db);
    ctx.flush_pushes();
    ctx.out().int(1);
}

/// MOVE key db: moves the entry whole; 0 when the key is missing here or
/// already present there.
fn move_(ctx: &mut Ctx) {
    if ctx.srv.cluster.is_some() {
        return ctx.err("ERR MOVE is not allowed in cluster mode");
    }
    let key = ctx.argv.get(1);
    let src_db = ctx.client.db;
    let raw = ctx.argv.get(2);
    let Ok(dst_db) = parse_db_index(ctx, raw) else {
        return;
    };
    if src_db == dst_db {
        return ctx.err(errors::SAME_OBJECT);
    }
    if ctx.lookup_write(key).is_none() {
        return ctx.out().int(0);
    }
    let master = ctx.client.is_master();
    if ctx.srv.lookup_write(dst_db, key, master).is_some() {
        return ctx.out().int(0);
    }
    if let Some(entry) = ctx.db().remove(key) {
        ctx.srv.dbs[dst_db].insert_entry(key, entry);
    }
    ctx.dirty(1);
    ctx.srv
        .notify_keyspace_event(class::NEW, "new", key, dst_db);
    ctx.modified(key);
    ctx.srv.signal_modified_key(dst_db, key);
    ctx.notify(class::GENERIC, "move_from", key);
    ctx.srv
        .notify_keyspace_event(class::GENERIC, "move_to", key, dst_db);
    ctx.flush_pushes();
    ctx.out().int(1);
}

/// KEYS pattern: logically expired keys are skipped but not deleted (a
/// read-only walk), as Redis 7.0 does.
fn keys(ctx: &mut Ctx) {
    let pattern = ctx.argv.get(1);
    let all = pattern == b"*";
    let (srv, client) = ctx.parts();
    let now = srv.now_ms;
    let out = &mut client.out;
    let mark = out.mark();
    let mut n = 0;
    for (k, e) in srv.dbs[client.db].iter() {
        if (all || glob::matches(pattern, k, false)) && !e.is_expired(now) {
            out.bulk(k);
            n += 1;
        }
    }
    out.insert_array_len(mark, n);
}

/// Parses a SCAN cursor as C's `strtoul` does in Redis: optional sign,
/// decimal digits, no leading space, nothing after; an empty string is 0
/// and `-n` wraps around. Anything else is "invalid cursor".
pub(crate) fn parse_cursor(raw: &[u8]) -> Option<u64> {
    let (neg, digits) = match raw.first() {
        Some(b'-') => (true, &raw[1..]),
        Some(b'+') => (false, &raw[1..]),
        _ => (false, raw),
    };
    if digits.is_empty() {
        // strtoul consumed nothing: the whole string must have been empty.
        return raw.is_empty().then_some(0);
    }
    let mut v: u64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
    }
    Some(if neg { v.wrapping_neg() } else { v })
}

/// The options of SCAN and of the per-type scans (HSCAN, SSCAN, ZSCAN).
pub(crate) struct ScanOptions<'a> {
    pub count: usize,
    /// `None` for no pattern (or `*`, which matches everything).
    pub pattern: Option<&'a [u8]>,
    pub type_name: Option<&'a [u8]>,
}

/// Parses `[MATCH pattern] [COUNT n] [TYPE type]` from `argv[start..]`,
/// as Redis's `scanGenericCommand` does: options may repeat (the last one
/// wins), COUNT must be at least 1, TYPE only for SCAN itself.
pub(crate) fn parse_scan_options<'a>(
    argv: Argv<'a>,
    start: usize,
    allow_type: bool,
) -> Result<ScanOptions<'a>, &'static str> {
    let mut o = ScanOptions {
        count: 10,
        pattern: None,
        type_name: None,
    };
    let mut i = start;
    while i < argv.len() {
        let opt = argv.get(i);
        let has_value = i + 1 < argv.len();
        if opt.eq_ignore_ascii_case(b"COUNT") && has_value {
            match resp::parse_i64(argv.get(i + 1)) {
                None => return Err(errors::NOT_INTEGER),
                Some(n) if n < 1 => return Err(errors::SYNTAX),
                Some(n) => o.count = usize::try_from(n).unwrap_or(usize::MAX),
            }
        } else if opt.eq_ignore_ascii_case(b"MATCH") && has_value {
            let p = argv.get(i + 1);
            o.pattern = (p != b"*").then_some(p);
        } else if allow_type && opt.eq_ignore_ascii_case(b"TYPE") && has_value {
            o.type_name = Some(argv.get(i + 1));
        } else {
            return Err(errors::SYNTAX);
        }
        i += 2;
    }
    Ok(o)
}

/// SCAN cursor [MATCH pattern] [COUNT n] [TYPE type].
///
/// The cursor is a position in the database's dense entry vector (see
/// `keyspace::db`), which keeps Redis's guarantee: every key present for the
/// whole iteration is returned at least once. Expired keys met on the way
/// are deleted, as Redis's SCAN does.
fn scan(ctx: &mut Ctx) {
    let Some(cursor) = parse_cursor(ctx.argv.get(1)) else {
        return ctx.err(errors::INVALID_CURSOR);
    };
    let (count, pattern, type_name) = match parse_scan_options(ctx.argv, 2, true) {
        Err(e) => return ctx.err(e),
        Ok(o) => (o.count, o.pattern, o.type_name),
    };
    let db = ctx.client.db;
    let now = ctx.now_ms();
    let mut found: Vec<Box<[u8]>> = Vec::new();
    let mut expired: Vec<Box<[u8]>> = Vec::new();
    let next = ctx.srv.dbs[db].scan(cursor, count, |k, e| {
        if pattern.is_some_and(|p| !glob::matches(p, k, false)) {
            return;
        }
        // As in Redis 7.0, an expired key is deleted once it passed MATCH,
        // whatever TYPE says.
        if e.is_expired(now) {
            expired.push(k.into());
            return;
        }
        if type_name.is_some_and(|t| !t.eq_ignore_ascii_case(e.value.type_name().as_bytes())) {
            return;
        }
        found.push(k.into());
    });
    for k in &expired {
        // Goes through the lazy-expiry path, which knows not to delete on a
        // replica.
        ctx.key_exists(k);
    }
    let out = ctx.out();
    out.array(2);
    out.bulk(itoa::Buffer::new().format(next).as_bytes());
    out.array(found.len());
    for k in &found {
        out.bulk(k);
    }
}

/// RANDOMKEY: a random live key. Expired keys drawn on the way are deleted
/// and another is drawn. A replica cannot delete them, so it gives up after
/// a number of tries and returns an expired key when every key is volatile,
/// as Redis does, rather than loop forever.
fn randomkey(ctx: &mut Ctx) {
    let db = ctx.client.db;
    let now = ctx.now_ms();
    let mut tries = 100;
    loop {
        let srv = &mut *ctx.srv;
        let Some((key, expired)) = srv.dbs[db]
            .random_entry(&mut srv.rng)
            .map(|(k, e)| (Box::<[u8]>::from(k), e.is_expired(now)))
        else {
            return ctx.out().null();
        };
        if expired {
            if srv.is_replica() {
                tries -= 1;
                if tries == 0 {
                    return ctx.out().bulk(&key);
                }
                continue;
            }
            srv.delete_expired(db, &key);
            continue;
        }
        return ctx.out().bulk(&key);
    }
}

/// TOUCH key [key ...]: refreshes access times; the number of keys found.
fn touch(ctx: &mut Ctx) {
    let mut n = 0;
    for key in ctx.argv.from(1) {
        if ctx.lookup_read(key).is_some() {
            n += 1;
        }
    }
    ctx.out().int(n);
}

/// SWAPDB a b: clients stay on their database number and see the other
/// data. Swapping a database with itself is accepted and propagated.
fn swapdb(ctx: &mut Ctx) {
    if ctx.srv.cluster.is_some() {
        return ctx.err("ERR SWAPDB is not allowed in cluster mode");
    }
    let Some(a) = parse_int(ctx.argv.get(1)) else {
        return ctx.err(errors::INVALID_FIRST_DB);
    };
    let Some(b) = parse_int(ctx.argv.get(2)) else {
        return ctx.err(errors::INVALID_SECOND_DB);
    };
    let n = ctx.srv.dbs.len();
    let (Ok(a), Ok(b)) = (usize::try_from(a), usize::try_from(b)) else {
        return ctx.err(errors::INVALID_DB);
    };
    if a >= n || b >= n {
        return ctx.err(errors::INVALID_DB);
    }
    ctx.srv.touch_all_watched_keys_in_db(a, Some(b));
    ctx.srv.touch_all_watched_keys_in_db(b, Some(a));
    ctx.srv.dbs.swap(a, b);
    // Clients blocked on either database may now find data.
    server::blocking::signal_db_ready(ctx.srv, a);
    server::blocking::signal_db_ready(ctx.srv, b);
    ctx.dirty(1);
    ctx.out().ok();
}

/// Looks the key of an OBJECT subcommand up; replies null when missing.
fn object_lookup(ctx: &mut Ctx) -> Option<usize> {
    let key = ctx.argv.get(2);
    let found = lookup_notouch_notify(ctx, key, false);
    if found.is_none() {
        ctx.out().null();
    }
    found
}

fn lfu_policy(ctx: &Ctx) -> bool {
    matches!(ctx.srv.access_clock, AccessClock::Lfu { .. })
}

fn object_encoding(ctx: &mut Ctx) {
    let Some(i) = object_lookup(ctx) else { return };
    let enc = ctx.db().at(i).map_or("", |e| e.value.encoding());
    ctx.out().bulk(enc.as_bytes());
}

/// OBJECT FREQ: the decayed logarithmic access counter; only tracked
/// under an LFU policy.
fn object_freq(ctx: &mut Ctx) {
    let Some(i) = object_lookup(ctx) else { return };
    if !lfu_policy(ctx) {
        return ctx.err(errors::LFU_NOT_SELECTED);
    }
    let (clock, now) = (ctx.srv.access_clock, ctx.now_ms());
    let freq = ctx.db().at(i).map_or(0, |e| clock.lfu_counter(e.lru, now));
    ctx.out().int(i64::from(freq));
}

fn object_idletime(ctx: &mut Ctx) {
    let Some(i) = object_lookup(ctx) else { return };
    if lfu_policy(ctx) {
        return ctx.err(errors::LFU_SELECTED_NO_IDLE);
    }
    let clock = lru::clock_at(ctx.now_ms());
    let idle = ctx.db().at(i).map_or(0, |e| lru::idle_secs(e.lru, clock));
    ctx.out().int(idle as i64);
}

/// Integers Redis keeps as shared objects (0..OBJ_SHARED_INTEGERS).
const SHARED_INTEGERS: i64 = 10000;
/// The refcount Redis reports for a shared object.
const SHARED_REFCOUNT: i64 = i32::MAX as i64;

/// OBJECT REFCOUNT: values are never shared between keys here, but Redis
/// shares small integers and clients see that, so report what it would:
/// shared unless a maxmemory LRU/LFU policy forbids sharing.
fn object_refcount(ctx: &mut Ctx) {
    let Some(i) = object_lookup(ctx) else { return };
    let small_int = matches!(
        ctx.db().at(i),
        Some(Entry { value: Value::Str(StrValue::Int(n)), .. }) if (0..SHARED_INTEGERS).contains(n)
    );
    let policy = ctx.srv.config.get_str(Directive::MaxmemoryPolicy);
    let no_sharing = ctx.srv.config.get_int(Directive::Maxmemory) != 0
        && (policy.contains("lru") || policy.contains("lfu"));
    let rc = if small_int && !no_sharing {
        SHARED_REFCOUNT
    } else {
        1
    };
    ctx.out().int(rc);
}

// Help text is our own wording (the format, one status line per entry,
// follows Redis's HELP convention).
const OBJECT_HELP: &[&str] = &[
    "OBJECT <subcommand> [<arg> ...]. Subcommands:",
    "ENCODING <key>",
    "    How the value stored at <key> is represented internally.",
    "FREQ <key>",
    "    Logarithmic access-frequency counter of <key> (LFU policies only).",
    "IDLETIME <key>",
    "    Seconds since <key> was last read or written.",
    "REFCOUNT <key>",
    "    Number of references to the value stored at <key>.",
    "HELP",
    "    Show this text.",
];

fn object_help(ctx: &mut Ctx) {
    let out = ctx.out();
    out.array(OBJECT_HELP.len());
    for line in OBJECT_HELP {
        out.simple(line.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::parse_cursor;
    use crate::testkit::Kit;

    #[test]
    fn cursor_parsing_follows_strtoul() {
        assert_eq!(parse_cursor(b""), Some(0));
        assert_eq!(parse_cursor(b"0"), Some(0));
        assert_eq!(parse_cursor(b"+12"), Some(12));
        assert_eq!(parse_cursor(b"-1"), Some(u64::MAX));
        assert_eq!(parse_cursor(b" 1"), None);
        assert_eq!(parse_cursor(b"1x"), None);
        assert_eq!(parse_cursor(b"-"), None);
        assert_eq!(parse_cursor(b"99999999999999999999999"), None);
    }

    #[test]
    fn rename_moves_value_and_ttl_and_propagates_verbatim() {
        let mut k = Kit::new();
        k.run(&["SET", "a", "1", "PXAT", "99999999999999"]);
        k.propagated();
        assert_eq!(k.run(&["RENAME", "a", "b"]), "+OK\r\n");
        assert_eq!(k.run(&["PEXPIRETIME", "b"]), ":99999999999999\r\n");
        assert_eq!(k.run(&["RENAME", "b", "b"]), "+OK\r\n");
        assert_eq!(k.run(&["RENAME", "a", "b"]), "-ERR no such key\r\n");
        assert_eq!(k.run(&["SET", "c", "x"]), "+OK\r\n");
        assert_eq!(k.run(&["RENAMENX", "b", "c"]), ":0\r\n");
        assert_eq!(k.run(&["RENAMENX", "b", "d"]), ":1\r\n");
        assert_eq!(
            k.propagated(),
            vec!["RENAME a b", "SET c x", "RENAMENX b d"]
        );
    }

    #[test]
    fn copy_move_swapdb_propagate_verbatim_only_when_they_change_something() {
        let mut k = Kit::new();
        k.run(&["SET", "a", "1"]);
        k.propagated();
        assert_eq!(k.run(&["COPY", "a", "b"]), ":1\r\n");
        assert_eq!(k.run(&["COPY", "a", "b"]), ":0\r\n");
        assert_eq!(k.run(&["COPY", "a", "b", "REPLACE"]), ":1\r\n");
        assert_eq!(k.run(&["COPY", "a", "a", "DB", "1"]), ":1\r\n");
        assert_eq!(k.run(&["MOVE", "b", "2"]), ":1\r\n");
        assert_eq!(k.run(&["MOVE", "b", "2"]), ":0\r\n");
        assert_eq!(k.run(&["SWAPDB", "0", "2"]), "+OK\r\n");
        assert_eq!(k.run(&["GET", "b"]), "$1\r\n1\r\n");
        assert_eq!(
            k.propagated(),
            vec![
                "COPY a b",
                "COPY a b REPLACE",
                "COPY a a DB 1",
                "MOVE b 2",
                "SWAPDB 0 2"
            ]
        );
    }

    #[test]
    fn errors_match_redis() {
        let mut k = Kit::new();
        k.run(&["SET", "a", "1"]);
        assert_eq!(
            k.run(&["MOVE", "a", "0"]),
            "-ERR source and destination objects are the same\r\n"
        );
        assert_eq!(
            k.run(&["MOVE", "a", "16"]),
            "-ERR DB index is out of range\r\n"
        );
        assert_eq!(
            k.run(&["COPY", "a", "b", "DB", "x"]),
            "-ERR value is not an integer or out of range\r\n"
        );
        assert_eq!(
            k.run(&["SWAPDB", "x", "1"]),
            "-ERR invalid first DB index\r\n"
        );
        assert_eq!(
            k.run(&["SWAPDB", "1", "x"]),
            "-ERR invalid second DB index\r\n"
        );
        assert_eq!(
            k.run(&["SWAPDB", "1", "-1"]),
            "-ERR DB index is out of range\r\n"
        );
        assert_eq!(k.run(&["SCAN", "x"]), "-ERR invalid cursor\r\n");
        assert_eq!(k.run(&["SCAN", "0", "COUNT", "0"]), "-ERR syntax error\r\n");
        assert_eq!(k.run(&["TYPE", "a"]), "+string\r\n");
        assert_eq!(k.run(&["TYPE", "zz"]), "+none\r\n");
        assert!(k.propagated().iter().all(|p| p.starts_with("SET")));
    }

    #[test]
    fn scan_and_keys_skip_expired_keys_and_scan_deletes_them() {
        let mut k = Kit::new();
        k.run(&["SET", "live", "1"]);
        k.run(&["SET", "dead", "1", "PXAT", "1"]);
        k.propagated();
        assert_eq!(k.run(&["KEYS", "*"]), "*1\r\n$4\r\nlive\r\n");
        assert_eq!(k.srv.dbs[0].len(), 2);
        assert_eq!(
            k.run(&["SCAN", "0", "COUNT", "100"]),
            "*2\r\n$1\r\n0\r\n*1\r\n$4\r\nlive\r\n"
        );
        assert_eq!(k.srv.dbs[0].len(), 1);
        assert_eq!(k.propagated(), vec!["DEL dead"]);
    }

    #[test]
    fn object_freq_tracks_access_only_under_an_lfu_policy() {
        let mut k = Kit::new();
        let lfu = "-ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.\r\n";
        k.run(&["SET", "s", "hello"]);
        assert_eq!(k.run(&["OBJECT", "FREQ", "s"]), lfu);
        assert_eq!(k.run(&["OBJECT", "FREQ", "nokey"]), "$-1\r\n");
        assert_eq!(k.run(&["OBJECT", "IDLETIME", "s"]), ":0\r\n");
        let set_policy = |k: &mut Kit, p: &str| {
            k.srv
                .config
                .set("maxmemory-policy", &[p.to_string()])
                .unwrap();
            k.srv.apply_config();
        };
        set_policy(&mut k, "allkeys-lfu");
        // Past the first read, increments are random (1 in 11 at 6 with
        // the default factor): a huge factor makes COPY's read of `s`
        // leave the counter alone, so the test is deterministic.
        k.srv.access_clock = super::AccessClock::Lfu {
            log_factor: u32::MAX,
            decay_minutes: 1,
        };
        k.run(&["SET", "s", "hello"]);
        // Checked against redis-server 7.0.15: a new key starts at 5, the
        // first read always counts, a copy is new, a rename keeps it.
        assert_eq!(k.run(&["OBJECT", "FREQ", "s"]), ":5\r\n");
        k.run(&["GET", "s"]);
        assert_eq!(k.run(&["OBJECT", "FREQ", "s"]), ":6\r\n");
        k.run(&["COPY", "s", "s2"]);
        assert_eq!(k.run(&["OBJECT", "FREQ", "s2"]), ":5\r\n");
        k.run(&["RENAME", "s", "s3"]);
        // RENAME's write look-up is an access too: from 6, the logarithmic
        // counter grows with probability 1/11, as in Redis.
        let f = k.run(&["OBJECT", "FREQ", "s3"]);
        assert!(f == ":6\r\n" || f == ":7\r\n", "{f}");
        assert!(k
            .run(&["OBJECT", "IDLETIME", "s3"])
            .starts_with("-ERR An LFU maxmemory policy is selected, idle time not tracked."));
        set_policy(&mut k, "volatile-lru");
        assert_eq!(k.run(&["OBJECT", "FREQ", "s3"]), lfu);
    }

    #[test]
    fn reads_propagate_nothing_but_the_expired_keys_they_delete() {
        let mut k = Kit::new();
        k.run(&["SET", "a", "1"]);
        k.run(&["SET", "dead", "1", "PXAT", "1"]);
        k.propagated();
        assert_eq!(k.run(&["TOUCH", "a", "b"]), ":1\r\n");
        assert_eq!(k.run(&["EXISTS", "a"]), ":1\r\n");
        assert_eq!(k.run(&["TYPE", "a"]), "+string\r\n");
        assert_eq!(k.run(&["OBJECT", "ENCODING", "a"]), "$3\r\nint\r\n");
        assert!(k.propagated().is_empty());
        // RANDOMKEY deletes the expired keys it draws until a live one.
        // (200 draws: the chance of never drawing "dead" is 2^-200.)
        for _ in 0..200 {
            assert_eq!(k.run(&["RANDOMKEY"]), "$1\r\na\r\n");
        }
        assert_eq!(k.srv.dbs[0].len(), 1);
        assert_eq!(k.propagated(), vec!["DEL dead"]);
    }

    #[test]
    fn move_over_an_expired_key_deletes_it_first_atomically() {
        let mut k = Kit::new();
        k.run(&["SELECT", "1"]);
        k.run(&["SET", "m", "old", "PXAT", "1"]);
        k.run(&["SELECT", "0"]);
        k.run(&["SET", "m", "new"]);
        k.propagated();
        assert_eq!(k.run(&["MOVE", "m", "1"]), ":1\r\n");
        assert_eq!(k.propagated(), vec!["MULTI", "DEL m", "MOVE m 1", "EXEC"]);
        k.run(&["SELECT", "1"]);
        assert_eq!(k.run(&["GET", "m"]), "$3\r\nnew\r\n");
    }
}
