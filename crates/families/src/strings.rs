//! String commands (`t_string.c` in Redis): GET/SET and their variants
//! (SETNX, SETEX, PSETEX, GETSET, GETDEL, GETEX) and multi-key MGET/MSET.
//! The in-place editors (APPEND, SETRANGE, GETRANGE, STRLEN) live in
//! `string_edits.rs`, counters in `counters.rs`, LCS in `lcs.rs`, bit
//! operations in `bitmaps.rs` and `bitfield.rs`; the look-up helpers here
//! are shared by all of them.
//!
//! Handlers follow three steps: parse the arguments into a typed struct,
//! run the keyspace operation, encode the reply. Argument errors are
//! reported in the same order as Redis reports them, which is not always
//! "parse everything first" (GETRANGE parses before the look-up, GETEX
//! parses its expiry only after finding the key).

use command_meta::Argv;
use keyspace::{StrValue, Value, NO_EXPIRE};
use resp::Reply;
use server::cmd::{Ctx, Handler};
use server::errors::{self, WrongType};
use server::notify::class;

pub const COMMANDS: &[(&str, Handler)] = &[
    ("get", get),
    ("set", set),
    ("setnx", setnx),
    ("setex", setex),
    ("psetex", psetex),
    ("getset", getset),
    ("getdel", getdel),
    ("getex", getex),
    ("mget", mget),
    ("mset", mset),
    ("msetnx", msetnx),
];

// ---------------------------------------------------------------------------
// Look-up helpers shared by the string, counter and bit families
// ---------------------------------------------------------------------------

/// Writes a string value as a bulk reply.
pub fn reply_str(out: &mut resp::Reply, s: &StrValue) {
    match s {
        StrValue::Int(n) => out.bulk_int(*n),
        StrValue::Bytes(b) => out.bulk(b),
        StrValue::Raw(v) => out.bulk(v),
    }
}

/// Reads `key` as a string for a read command. `Err(WrongType)` means the
/// key holds another type (the caller sends the WRONGTYPE error).
pub fn read_str<'c>(ctx: &'c mut Ctx, key: &[u8]) -> Result<Option<&'c StrValue>, WrongType> {
    super::lookup::value_ref(ctx, key)
}

/// Looks `key` up for reading and hands its bytes (an int-encoded value is
/// formatted on the stack) to `f` together with the reply buffer, so the
/// value goes into the reply without a copy. `None` means a missing key.
pub fn with_str<R>(
    ctx: &mut Ctx,
    key: &[u8],
    f: impl FnOnce(Option<&[u8]>, &mut Reply) -> R,
) -> Result<R, WrongType> {
    super::lookup::with_value::<StrValue, R>(ctx, key, |s, out| {
        let mut scratch = [0u8; 24];
        f(s.map(|s| s.as_bytes(&mut scratch)), out)
    })
}

/// Looks `key` up for writing as a string (lazy expiry applied, no
/// statistics). The value is modified in place, so its TTL is kept.
pub fn write_str<'c>(ctx: &'c mut Ctx, key: &[u8]) -> Result<Option<&'c mut StrValue>, WrongType> {
    super::lookup::value_mut(ctx, key)
}

/// Replies with the value at `key` as GET does (null when missing).
fn reply_get(ctx: &mut Ctx, key: &[u8]) -> Result<(), WrongType> {
    with_str(ctx, key, |v, out| match v {
        Some(b) => out.bulk(b),
        None => out.null(),
    })
}

/// The longest string a command may build: `proto-max-bulk-len`, except
/// for what the master (or the AOF) sends, which is applied as is.
pub fn max_string_len(ctx: &Ctx) -> u64 {
    if ctx.client.is_master() {
        u64::MAX
    } else {
        ctx.srv.proto_max_bulk_len.max(0) as u64
    }
}

/// Redis's `checkStringLength`: growing a `len`-byte string by `add` bytes
/// must stay within `max` (see [`max_string_len`]).
pub fn check_string_length(max: u64, len: u64, add: u64) -> Result<(), &'static str> {
    match len.checked_add(add) {
        Some(total) if total <= max => Ok(()),
        _ => Err(errors::STRING_TOO_LONG),
    }
}

/// Stores `value` under `key` with no TTL, replacing any value of any type
/// (Redis's `setKey` without KEEPTTL).
pub fn store(ctx: &mut Ctx, key: &[u8], value: StrValue) {
    let lru = ctx.srv.lru_clock;
    let old = ctx.db().insert(key, Value::Str(value), NO_EXPIRE, lru);
    ctx.srv.free_replaced(old);
}

// ---------------------------------------------------------------------------
// GET, SET and their options
// ---------------------------------------------------------------------------

fn get(ctx: &mut Ctx) {
    let key = ctx.argv.get(1);
    if reply_get(ctx, key).is_err() {
        ctx.err(errors::WRONGTYPE);
    }
}

/// How an EX/PX/EXAT/PXAT argument is to be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpireUnit {
    Ex,
    Px,
    ExAt,
    PxAt,
}

impl ExpireUnit {
    fn in_ms(self) -> bool {
        matches!(self, ExpireUnit::Px | ExpireUnit::PxAt)
    }

    fn absolute(self) -> bool {
        matches!(self, ExpireUnit::ExAt | ExpireUnit::PxAt)
    }
}

/// The options SET and GETEX take, as given (the expiry is still text:
/// GETEX reports a bad number only once the key is found).
#[derive(Debug, Default)]
pub struct StrOptions<'a> {
    pub nx: bool,
    pub xx: bool,
    pub get: bool,
    pub keepttl: bool,
    pub persist: bool,
    pub expire: Option<(ExpireUnit, &'a [u8])>,
}

/// Which command's options are being parsed: GETEX takes PERSIST and none
/// of NX/XX/GET/KEEPTTL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OptionsFor {
    Set,
    GetEx,
}

/// Parses SET/GETEX options from `argv[start..]`. As in Redis, an option
/// may be repeated (the last expiry wins) but two that contradict each
/// other (NX and XX, EX and PX, KEEPTTL and an expiry, ...) are a syntax
/// error.
pub fn parse_options(
    argv: Argv,
    start: usize,
    cmd: OptionsFor,
) -> Result<StrOptions, &'static str> {
    let set = cmd == OptionsFor::Set;
    let mut o = StrOptions::default();
    let mut i = start;
    while i < argv.len() {
        let opt = argv.get(i);
        let is = |s: &str| opt.eq_ignore_ascii_case(s.as_bytes());
        let has_next = i + 1 < argv.len();
        let unit = if is("EX") {
            Some(ExpireUnit::Ex)
        } else if is("PX") {
            Some(ExpireUnit::Px)
        } else if is("EXAT") {
            Some(ExpireUnit::ExAt)
        } else if is("PXAT") {
            Some(ExpireUnit::PxAt)
        } else {
            None
        };
        if let Some(unit) = unit {
            let other_expiry = o.expire.is_some_and(|(u, _)| u != unit);
            if o.keepttl || o.persist || other_expiry || !has_next {
                return Err(errors::SYNTAX);
            }
            o.expire = Some((unit, argv.get(i + 1)));
            i += 2;
            continue;
        }
        if set && is("NX") && !o.xx {
            o.nx = true;
        } else if set && is("XX") && !o.nx {
            o.xx = true;
        } else if set && is("GET") {
            o.get = true;
        } else if set && is("KEEPTTL") && o.expire.is_none() {
            o.keepttl = true;
        } else if !set && is("PERSIST") && o.expire.is_none() {
            o.persist = true;
        } else {
            return Err(errors::SYNTAX);
        }
        i += 1;
    }
    Ok(o)
}

/// Converts an EX/PX/EXAT/PXAT argument to absolute milliseconds with
/// Redis's checks: an integer, positive, and no overflow.
pub fn parse_expire_arg(
    raw: &[u8],
    unit_ms: bool,
    absolute: bool,
    now_ms: i64,
    cmd: &str,
) -> Result<i64, String> {
    let n = resp::parse_i64(raw).ok_or_else(|| errors::NOT_INTEGER.to_string())?;
    if n <= 0 {
        return Err(errors::invalid_expire(cmd));
    }
    let ms = if unit_ms {
        n
    } else {
        n.checked_mul(1000)
            .ok_or_else(|| errors::invalid_expire(cmd))?
    };
    if absolute {
        Ok(ms)
    } else {
        ms.checked_add(now_ms)
            .ok_or_else(|| errors::invalid_expire(cmd))
    }
}

/// What SET does to the TTL of the key it writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SetTtl {
    Clear,
    Keep,
    At(i64),
}

/// The common core of SET, SETNX, SETEX and PSETEX (Redis's
/// `setGenericCommand`), once the arguments are parsed.
struct SetOp<'a> {
    key: &'a [u8],
    val: &'a [u8],
    nx: bool,
    xx: bool,
    get: bool,
    ttl: SetTtl,
}

/// Runs a SET-like operation; returns whether the value was written. With
/// `get`, the old value has been sent as the reply; otherwise the caller
/// replies.
fn set_generic(ctx: &mut Ctx, op: &SetOp) -> Result<bool, WrongType> {
    // With GET, the old value must be a string, checked before any change.
    if op.get {
        reply_get(ctx, op.key)?;
    }
    let exists = ctx.lookup_write(op.key).is_some();
    if (op.nx && exists) || (op.xx && !exists) {
        return Ok(false);
    }
    let lru = ctx.srv.lru_clock;
    let value = Value::Str(StrValue::from_bytes(op.val));
    match op.ttl {
        SetTtl::Keep => {
            let old = ctx.db().set_keep_ttl(op.key, value, lru);
            ctx.srv.free_replaced(old);
        }
        SetTtl::At(ms) => {
            let old = ctx.db().insert(op.key, value, ms, lru);
            ctx.srv.free_replaced(old);
        }
        SetTtl::Clear => {
            let old = ctx.db().insert(op.key, value, NO_EXPIRE, lru);
            ctx.srv.free_replaced(old);
        }
    }
    ctx.dirty(1);
    ctx.modified(op.key);
    if !exists {
        ctx.notify(class::NEW, "new", op.key);
    }
    ctx.notify(class::STRING, "set", op.key);
    if let SetTtl::At(_) = op.ttl {
        ctx.notify(class::GENERIC, "expire", op.key);
    }
    // Any expiry is propagated as an absolute PXAT, so replicas and the AOF
    // expire the key at the same instant (Redis 7.0 rewrites EXAT and even
    // PXAT this way, dropping NX/XX/GET).
    if let SetTtl::At(ms) = op.ttl {
        let ms = itoa::Buffer::new().format(ms).as_bytes().to_vec();
        ctx.propagate(&[b"SET", op.key, op.val, b"PXAT", &ms]);
    }
    Ok(true)
}

/// SET key value [NX|XX] [GET] [EX s|PX ms|EXAT ts|PXAT ms-ts|KEEPTTL]
fn set(ctx: &mut Ctx) {
    let o = match parse_options(ctx.argv, 3, OptionsFor::Set) {
        Ok(o) => o,
        Err(e) => return ctx.err(e),
    };
    let ttl = match o.expire {
        Some((unit, raw)) => {
            match parse_expire_arg(raw, unit.in_ms(), unit.absolute(), ctx.now_ms(), "set") {
                Ok(ms) => SetTtl::At(ms),
                Err(e) => return ctx.err(&e),
            }
        }
        None if o.keepttl => SetTtl::Keep,
        None => SetTtl::Clear,
    };
    let op = SetOp {
        key: ctx.argv.get(1),
        val: ctx.argv.get(2),
        nx: o.nx,
        xx: o.xx,
        get: o.get,
        ttl,
    };
    let applied = match set_generic(ctx, &op) {
        Err(WrongType) => return ctx.err(errors::WRONGTYPE),
        Ok(a) => a,
    };
    if !op.get {
        if applied {
            ctx.out().ok();
        } else {
            ctx.out().null();
        }
    }
    // Without an expiry (which rewrote the command already), Redis 7.0
    // propagates SET without its GET arguments: a replica has no one to
    // reply to.
    if applied && op.get && !matches!(op.ttl, SetTtl::At(_)) {
        let argv = ctx.argv;
        let kept: Vec<&[u8]> = argv
            .iter()
            .enumerate()
            .filter(|(i, a)| *i < 3 || !a.eq_ignore_ascii_case(b"GET"))
            .map(|(_, a)| a)
            .collect();
        ctx.propagate(&kept);
    }
}

/// SETNX key value: 1 when set, 0 when the key existed.
fn setnx(ctx: &mut Ctx) {
    let op = SetOp {
        key: ctx.argv.get(1),
        val: ctx.argv.get(2),
        nx: true,
        xx: false,
        get: false,
        ttl: SetTtl::Clear,
    };
    match set_generic(ctx, &op) {
        Err(WrongType) => ctx.err(errors::WRONGTYPE),
        Ok(done) => ctx.out().int(done as i64),
    }
}

/// SETEX key seconds value / PSETEX key milliseconds value.
fn setex_generic(ctx: &mut Ctx, unit_ms: bool, cmd: &str) {
    let ms = match parse_expire_arg(ctx.argv.get(2), unit_ms, false, ctx.now_ms(), cmd) {
        Ok(ms) => ms,
        Err(e) => return ctx.err(&e),
    };
    let op = SetOp {
        key: ctx.argv.get(1),
        val: ctx.argv.get(3),
        nx: false,
        xx: false,
        get: false,
        ttl: SetTtl::At(ms),
    };
    match set_generic(ctx, &op) {
        Err(WrongType) => ctx.err(errors::WRONGTYPE),
        Ok(_) => ctx.out().ok(),
    }
}

fn setex(ctx: &mut Ctx) {
    setex_generic(ctx, false, "setex");
}

fn psetex(ctx: &mut Ctx) {
    setex_generic(ctx, true, "psetex");
}

/// GETSET key value: the old value, and the new one stored without TTL.
/// Propagated as `SET key value`, which has the same effect.
fn getset(ctx: &mut Ctx) {
    let (key, val) = (ctx.argv.get(1), ctx.argv.get(2));
    if reply_get(ctx, key).is_err() {
        return ctx.err(errors::WRONGTYPE);
    }
    let new = ctx.srv.notify_keyspace_events & class::NEW != 0 && !ctx.key_exists(key);
    store(ctx, key, StrValue::from_bytes(val));
    ctx.dirty(1);
    ctx.modified(key);
    if new {
        ctx.notify(class::NEW, "new", key);
    }
    ctx.notify(class::STRING, "set", key);
    ctx.propagate(&[b"SET", key, val]);
}

/// GETDEL key: the value, then the key is deleted (propagated as DEL, or
/// UNLINK with `lazyfree-lazy-user-del yes`).
fn getdel(ctx: &mut Ctx) {
    let key = ctx.argv.get(1);
    let found = match with_str(ctx, key, |v, out| match v {
        Some(b) => {
            out.bulk(b);
            true
        }
        None => {
            out.null();
            false
        }
    }) {
        Ok(f) => f,
        Err(WrongType) => return ctx.err(errors::WRONGTYPE),
    };
    if let Some(e) = found.then(|| ctx.db().remove(key)).flatten() {
        ctx.srv.free_value(e.value, ctx.srv.lazyfree_lazy_user_del);
        ctx.dirty(1);
        ctx.modified(key);
        ctx.notify(class::GENERIC, "del", key);
        // Propagated as the deletion a user would have asked for.
        let verb: &[u8] = if ctx.srv.lazyfree_lazy_user_del {
            b"UNLINK"
        } else {
            b"DEL"
        };
        ctx.propagate(&[verb, key]);
    }
}

/// GETEX key [EX s|PX ms|EXAT ts|PXAT ms-ts|PERSIST]: the value, and its
/// TTL changed. Never propagated verbatim: a new expiry becomes
/// `PEXPIREAT key ms`, PERSIST becomes `PERSIST key` (only when a TTL was
/// removed), and an absolute time already past deletes the key (`DEL`).
fn getex(ctx: &mut Ctx) {
    let o = match parse_options(ctx.argv, 2, OptionsFor::GetEx) {
        Ok(o) => o,
        Err(e) => return ctx.err(e),
    };
    let key = ctx.argv.get(1);
    match with_str(ctx, key, |v, _| v.is_some()) {
        Err(WrongType) => return ctx.err(errors::WRONGTYPE),
        Ok(false) => return ctx.out().null(),
        Ok(true) => {}
    }
    let mut at = None;
    if let Some((unit, raw)) = o.expire {
        match parse_expire_arg(raw, unit.in_ms(), unit.absolute(), ctx.now_ms(), "getex") {
            Ok(ms) => at = Some((ms, unit.absolute())),
            Err(e) => return ctx.err(&e),
        }
    }
    // The key is known to exist and be a string; reply before changing
    // its TTL (read straight from the database: the look-up was counted).
    let db = ctx.client.db;
    if let Some(Value::Str(s)) = ctx.srv.dbs[db].get(key).map(|e| &e.value) {
        reply_str(&mut ctx.client.out, s);
    }
    match at {
        // A replica never deletes on its own: it waits for its master's DEL.
        Some((ms, true)) if ms <= ctx.now_ms() && !ctx.srv.is_replica() => {
            crate::expire::delete_expired_now(ctx, key);
        }
        Some((ms, _)) => {
            ctx.db().set_expire(key, ms);
            ctx.dirty(1);
            ctx.modified(key);
            ctx.notify(class::GENERIC, "expire", key);
            let ms = itoa::Buffer::new().format(ms).as_bytes().to_vec();
            ctx.propagate(&[b"PEXPIREAT", key, &ms]);
        }
        // PERSIST is an effect only when there was a TTL to remove.
        None if o.persist && ctx.db().persist(key) => {
            ctx.dirty(1);
            ctx.modified(key);
            ctx.notify(class::GENERIC, "persist", key);
            ctx.propagate(&[b"PERSIST", key]);
        }
        None => {}
    }
}

// ---------------------------------------------------------------------------
// Multi-key commands
// ---------------------------------------------------------------------------

/// MGET key [key ...]: values in order; a missing key or one of another
/// type is a null, never an error.
fn mget(ctx: &mut Ctx) {
    let argv = ctx.argv;
    ctx.out().array(argv.len() - 1);
    for key in argv.from(1) {
        let r = with_str(ctx, key, |v, out| match v {
            Some(b) => out.bulk(b),
            None => out.null(),
        });
        if r.is_err() {
            ctx.out().null();
        }
    }
}

/// MSET / MSETNX key value [key value ...]. An even argument count is an
/// arity error reported by the handler, as Redis does.
fn mset_generic(ctx: &mut Ctx, nx: bool) {
    let argv = ctx.argv;
    if argv.len().is_multiple_of(2) {
        return ctx.err_arity();
    }
    if nx {
        let any = (1..argv.len())
            .step_by(2)
            .any(|i| ctx.lookup_write(argv.get(i)).is_some());
        if any {
            return ctx.out().int(0);
        }
    }
    for i in (1..argv.len()).step_by(2) {
        let key = argv.get(i);
        let new = ctx.srv.notify_keyspace_events & class::NEW != 0 && !ctx.key_exists(key);
        store(ctx, key, StrValue::from_bytes(argv.get(i + 1)));
        ctx.modified(key);
        if new {
            ctx.notify(class::NEW, "new", key);
        }
        ctx.notify(class::STRING, "set", key);
    }
    ctx.dirty((argv.len() as u64 - 1) / 2);
    if nx {
        ctx.out().int(1);
    } else {
        ctx.out().ok();
    }
}

fn mset(ctx: &mut Ctx) {
    mset_generic(ctx, false);
}

fn msetnx(ctx: &mut Ctx) {
    mset_generic(ctx, true);
}

#[cfg(test)]
mod tests {
    use crate::testkit::Kit;
    use keyspace::NO_EXPIRE;

    fn encoding(k: &Kit, key: &str) -> &'static str {
        k.srv.dbs[0]
            .get(key.as_bytes())
            .map_or("none", |e| e.value.encoding())
    }

    fn expire(k: &Kit, key: &str) -> i64 {
        k.srv.dbs[0].get(key.as_bytes()).map_or(-2, |e| e.expire)
    }

    /// Splits `SET k v PXAT <ms>` into its fixed part and the number.
    fn split_at_ms(line: &str) -> (String, i64) {
        let (head, ms) = line.rsplit_once(' ').unwrap_or((line, "0"));
        (head.to_string(), ms.parse().unwrap_or(0))
    }

    #[test]
    fn set_options_repeat_but_do_not_conflict() {
        let mut k = Kit::new();
        assert_eq!(k.run(&["SET", "k", "v", "NX", "NX"]), "+OK\r\n");
        assert_eq!(k.run(&["SET", "k", "v", "EX", "10", "EX", "20"]), "+OK\r\n");
        assert!((expire(&k, "k") - k.srv.now_ms - 20_000).abs() < 2_000);
        assert_eq!(
            k.run(&["SET", "k", "v", "PX", "10", "EX", "20"]),
            "-ERR syntax error\r\n"
        );
        assert_eq!(
            k.run(&["SET", "k", "v", "NX", "XX"]),
            "-ERR syntax error\r\n"
        );
        assert_eq!(
            k.run(&["SET", "k", "v", "KEEPTTL", "EX", "1"]),
            "-ERR syntax error\r\n"
        );
        assert_eq!(k.run(&["SET", "k", "v", "EX"]), "-ERR syntax error\r\n");
        assert_eq!(
            k.run(&["SET", "k", "v", "PERSIST"]),
            "-ERR syntax error\r\n"
        );
        assert_eq!(k.run(&["GETEX", "k", "KEEPTTL"]), "-ERR syntax error\r\n");
    }

    #[test]
    fn set_propagation_drops_get_and_rewrites_every_expiry() {
        let mut k = Kit::new();
        k.run(&["SET", "k", "v", "GET", "keepttl", "get"]);
        k.run(&["SET", "k", "v", "PXAT", "99999999999999", "NX"]);
        k.run(&["SET", "k", "v", "PXAT", "99999999999999", "XX", "GET"]);
        k.run(&["SET", "k", "v", "EXAT", "99999999999"]);
        k.run(&["SET", "k", "v2"]);
        assert_eq!(
            k.propagated(),
            vec![
                "SET k v keepttl",
                "SET k v PXAT 99999999999999",
                "SET k v PXAT 99999999999000",
                "SET k v2",
            ]
        );
        k.run(&["SET", "k", "v", "NX", "GET"]);
        assert!(k.propagated().is_empty());
    }

    #[test]
    fn setnx_setex_psetex_propagate_as_redis_does() {
        let mut k = Kit::new();
        assert_eq!(k.run(&["SETNX", "a", "1"]), ":1\r\n");
        assert_eq!(k.run(&["SETNX", "a", "2"]), ":0\r\n");
        assert_eq!(k.propagated(), vec!["SETNX a 1"]);
        assert_eq!(k.run(&["SETEX", "b", "100", "v"]), "+OK\r\n");
        let p = k.propagated();
        let (head, ms) = split_at_ms(&p[0]);
        assert_eq!(head, "SET b v PXAT");
        assert!((ms - k.srv.now_ms - 100_000).abs() < 2_000);
        assert_eq!(k.run(&["PSETEX", "c", "5000", "v"]), "+OK\r\n");
        let p = k.propagated();
        let (head, ms) = split_at_ms(&p[0]);
        assert_eq!(head, "SET c v PXAT");
        assert!((ms - k.srv.now_ms - 5_000).abs() < 2_000);
        assert_eq!(
            k.run(&["SETEX", "b", "0", "v"]),
            "-ERR invalid expire time in 'setex' command\r\n"
        );
        assert_eq!(
            k.run(&["PSETEX", "b", "-5", "v"]),
            "-ERR invalid expire time in 'psetex' command\r\n"
        );
        assert!(k.propagated().is_empty());
    }

    #[test]
    fn getset_getdel_propagate_set_and_del() {
        let mut k = Kit::new();
        k.run(&["SET", "a", "1", "EX", "100"]);
        k.propagated();
        assert_eq!(k.run(&["GETSET", "a", "2"]), "$1\r\n1\r\n");
        assert_eq!(expire(&k, "a"), NO_EXPIRE);
        assert_eq!(k.run(&["GETSET", "new", "x"]), "$-1\r\n");
        assert_eq!(k.propagated(), vec!["SET a 2", "SET new x"]);
        assert_eq!(k.run(&["GETDEL", "a"]), "$1\r\n2\r\n");
        assert_eq!(k.run(&["GETDEL", "a"]), "$-1\r\n");
        assert_eq!(k.propagated(), vec!["DEL a"]);
        k.run(&["SET", "a", "1"]);
        k.srv.lazyfree_lazy_user_del = true;
        k.run(&["GETDEL", "a"]);
        assert_eq!(k.propagated(), vec!["SET a 1", "UNLINK a"]);
    }

    #[test]
    fn getex_propagates_pexpireat_persist_or_del() {
        let mut k = Kit::new();
        k.run(&["SET", "c", "1"]);
        k.propagated();
        assert_eq!(k.run(&["GETEX", "c"]), "$1\r\n1\r\n");
        assert_eq!(k.run(&["GETEX", "c", "PERSIST"]), "$1\r\n1\r\n");
        assert!(k.propagated().is_empty());
        k.run(&["GETEX", "c", "EX", "100"]);
        let p = k.propagated();
        let (head, ms) = split_at_ms(&p[0]);
        assert_eq!(head, "PEXPIREAT c");
        assert!((ms - k.srv.now_ms - 100_000).abs() < 2_000);
        k.run(&["GETEX", "c", "PXAT", "99999999999998"]);
        k.run(&["GETEX", "c", "PERSIST"]);
        k.run(&["GETEX", "c", "EXAT", "1"]);
        assert_eq!(
            k.propagated(),
            vec!["PEXPIREAT c 99999999999998", "PERSIST c", "DEL c"]
        );
        k.run(&["SET", "c", "1"]);
        k.srv.lazyfree_lazy_expire = true;
        k.run(&["GETEX", "c", "PXAT", "1"]);
        assert_eq!(k.propagated(), vec!["SET c 1", "UNLINK c"]);
        assert_eq!(k.run(&["GETEX", "c", "EX", "abc"]), "$-1\r\n");
        k.run(&["SET", "c", "1"]);
        assert_eq!(
            k.run(&["GETEX", "c", "EX", "abc"]),
            "-ERR value is not an integer or out of range\r\n"
        );
    }

    #[test]
    fn mset_msetnx_propagate_verbatim_only_when_applied() {
        let mut k = Kit::new();
        assert_eq!(k.run(&["MSET", "a", "1", "b", "2"]), "+OK\r\n");
        assert_eq!(k.run(&["MSETNX", "a", "1", "z", "2"]), ":0\r\n");
        assert_eq!(k.run(&["MSETNX", "x", "1", "y", "2"]), ":1\r\n");
        assert_eq!(
            k.run(&["MSET", "a", "1", "b"]),
            "-ERR wrong number of arguments for 'mset' command\r\n"
        );
        assert_eq!(k.propagated(), vec!["MSET a 1 b 2", "MSETNX x 1 y 2"]);
        assert_eq!(k.srv.dirty, 4);
    }

    #[test]
    fn set_family_stores_values_as_redis_encodes_them() {
        let mut k = Kit::new();
        k.run(&["SET", "i", "123"]);
        k.run(&["SETEX", "e", "100", "0123"]);
        k.run(&["MSET", "m", "-5", "r", &"x".repeat(45)]);
        k.run(&["GETSET", "g", "42"]);
        let got: Vec<_> = ["i", "e", "m", "r", "g"]
            .iter()
            .map(|key| encoding(&k, key))
            .collect();
        assert_eq!(got, ["int", "embstr", "int", "raw", "int"]);
    }

    /// Replays what the journal recorded into a fresh server: the dataset
    /// (values and TTLs) must come out the same. Replicas and the AOF rely
    /// on exactly this.
    #[test]
    fn replaying_the_journal_rebuilds_the_same_dataset() {
        let script: &[&[&str]] = &[
            &["SET", "a", "1"],
            &["SET", "b", "hello", "EX", "100"],
            &["SET", "c", "v", "PX", "5000", "GET"],
            &["SET", "b", "world", "KEEPTTL", "GET"],
            &["SET", "k", "v", "EXAT", "99999999999", "NX"],
            &["SETNX", "d", "x"],
            &["SETNX", "d", "y"],
            &["SETEX", "e", "100", "v"],
            &["PSETEX", "f", "100000", "v"],
            &["GETSET", "a", "2"],
            &["GETDEL", "c"],
            &["GETEX", "b", "EX", "50"],
            &["GETEX", "e", "PERSIST"],
            &["GETEX", "f", "PXAT", "1"],
            &["MSET", "g", "1", "h", "2"],
            &["MSETNX", "i", "1", "j", "2"],
            &["MSETNX", "i", "1", "z", "2"],
            &["APPEND", "g", "34"],
            &["APPEND", "new", "abc"],
            &["SETRANGE", "h", "3", "xy"],
            &["INCR", "a"],
            &["INCRBY", "g", "-5"],
            &["DECR", "i"],
            &["DECRBY", "j", "10"],
            &["INCRBYFLOAT", "fl", "1.5"],
            &["INCRBYFLOAT", "fl", "0.1"],
            &["INCRBYFLOAT", "b", "1"],
            &["SETBIT", "bits", "77", "1"],
            &["SETBIT", "bits", "3", "1"],
            &["BITOP", "NOT", "nb", "bits"],
            &["BITOP", "XOR", "x2", "bits", "nb", "missing"],
            &[
                "BITFIELD", "bf", "SET", "i8", "0", "-5", "INCRBY", "u4", "12", "3",
            ],
            &[
                "BITFIELD", "bf", "OVERFLOW", "FAIL", "INCRBY", "u2", "0", "9",
            ],
        ];
        let mut master = Kit::new();
        for cmd in script {
            master.run(cmd);
        }
        let mut replica = Kit::new();
        for effect in master.propagated() {
            let args: Vec<&str> = effect.split(' ').collect();
            // Transaction markers and the key-space commands of another
            // family are applied by hand.
            match args[..] {
                ["MULTI"] | ["EXEC"] => {}
                ["PEXPIREAT", key, ms] => {
                    let ms = ms.parse().unwrap_or(0);
                    replica.srv.dbs[0].set_expire(key.as_bytes(), ms);
                }
                ["PERSIST", key] => {
                    replica.srv.dbs[0].persist(key.as_bytes());
                }
                _ => {
                    let reply = replica.run(&args);
                    assert!(!reply.starts_with('-'), "{effect}: {reply}");
                }
            }
        }
        let dump = |k: &Kit| {
            let mut v: Vec<(Vec<u8>, Vec<u8>, i64)> = k.srv.dbs[0]
                .iter()
                .map(|(key, e)| {
                    let bytes = match &e.value {
                        keyspace::Value::Str(s) => s.clone().into_vec(),
                        #[allow(unreachable_patterns)]
                        _ => Vec::new(),
                    };
                    (key.to_vec(), bytes, e.expire)
                })
                .collect();
            v.sort();
            v
        };
        assert_eq!(dump(&master), dump(&replica));
        assert_eq!(dump(&master).len(), 15);
    }
}
