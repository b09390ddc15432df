//! DUMP and RESTORE (`cluster.c` in Redis): a value serialized as a DUMP
//! payload (see `rdb::payload`), portable between Redoubt and Redis 7.0.
//!
//! Both go through `persistence::convert`, the same code that saves and
//! loads RDB files, so every type that persists also dumps and restores.
//!
//! RESTORE checks the payload as `sanitize-dump-payload` asks (see
//! `persistence::load::sanitize_policy` and `rdb`'s `sanitize` module)
//! and answers "Bad data format" for what Redis refuses, logging the
//! reason at verbose level as Redis does.
//!
//! RESTORE with a relative TTL is propagated with the absolute time and
//! `ABSTTL` appended (Redis 7.0 does the same, so replicas and the AOF do
//! not depend on when they apply it); a TTL already in the past creates
//! nothing, and is propagated as `DEL` only when `REPLACE` removed a key.

use keyspace::lru::{AccessClock, LRU_CLOCK_MAX};
use keyspace::NO_EXPIRE;
use server::cmd::{Ctx, Handler};
use server::errors;
use server::log_verbose;
use server::notify::class;
use server::persistence::convert::{dump_payload, to_value};
use server::persistence::load::sanitize_policy;

/// RESTORE-ASKING is what MIGRATE sends in cluster mode; outside a
/// cluster it is RESTORE.
pub const COMMANDS: &[(&str, Handler)] = &[
    ("dump", dump),
    ("restore", restore),
    ("restore-asking", restore),
];

/// DUMP key: the payload, or nil for a missing key.
fn dump(ctx: &mut Ctx) {
    let key = ctx.argv.get(1);
    let Some(e) = ctx.lookup_read(key) else {
        return ctx.out().null();
    };
    match dump_payload(e) {
        Ok(p) => ctx.out().bulk(&p),
        // A type the persistence layer cannot serialize yet.
        Err(e) => ctx.err(&format!("ERR {e}")),
    }
}

/// RESTORE's options.
struct RestoreArgs {
    replace: bool,
    absttl: bool,
    idle_secs: Option<i64>,
    freq: Option<i64>,
}

/// Parses the options after the payload, with Redis's checks in Redis's
/// order (IDLETIME and FREQ exclude each other as a syntax error).
fn parse_options(ctx: &mut Ctx) -> Result<RestoreArgs, ()> {
    let mut a = RestoreArgs {
        replace: false,
        absttl: false,
        idle_secs: None,
        freq: None,
    };
    let mut i = 4;
    while i < ctx.argv.len() {
        let opt = ctx.argv.get(i);
        let more = i + 1 < ctx.argv.len();
        if opt.eq_ignore_ascii_case(b"REPLACE") {
            a.replace = true;
        } else if opt.eq_ignore_ascii_case(b"ABSTTL") {
            a.absttl = true;
        } else if opt.eq_ignore_ascii_case(b"IDLETIME") && more && a.freq.is_none() {
            let Some(n) = resp::parse_i64(ctx.argv.get(i + 1)) else {
                ctx.err(errors::NOT_INTEGER);
                return Err(());
            };
            if n < 0 {
                ctx.err(errors::INVALID_IDLETIME);
                return Err(());
            }
            a.idle_secs = Some(n);
            i += 1;
        } else if opt.eq_ignore_ascii_case(b"FREQ") && more && a.idle_secs.is_none() {
            let Some(n) = resp::parse_i64(ctx.argv.get(i + 1)) else {
                ctx.err(errors::NOT_INTEGER);
                return Err(());
            };
            if !(0..=255).contains(&n) {
                ctx.err(errors::INVALID_FREQ);
                return Err(());
            }
            a.freq = Some(n);
            i += 1;
        } else {
            ctx.err(errors::SYNTAX);
            return Err(());
        }
        i += 1;
    }
    Ok(a)
}

/// The access stamp of a restored key: IDLETIME under an LRU policy and
/// FREQ under an LFU policy set it; otherwise it is a fresh key's (as
/// Redis's `objectSetLRUOrLFU`, which ignores the option that does not
/// match the policy).
fn access_stamp(ctx: &Ctx, a: &RestoreArgs) -> u32 {
    let now = ctx.srv.lru_clock;
    match ctx.srv.access_clock {
        AccessClock::Lru => match a.idle_secs {
            Some(idle) => {
                let idle = idle.min(i64::from(LRU_CLOCK_MAX)) as u32;
                if idle > now {
                    LRU_CLOCK_MAX - (idle - now)
                } else {
                    now - idle
                }
            }
            None => now,
        },
        AccessClock::Lfu { .. } => match a.freq {
            Some(f) => (now & !0xFF) | f as u32,
            None => now,
        },
    }
}

/// RESTORE key ttl payload [REPLACE] [ABSTTL] [IDLETIME s] [FREQ f].
fn restore(ctx: &mut Ctx) {
    let key = ctx.argv.get(1);
    let Ok(a) = parse_options(ctx) else {
        return;
    };
    if !a.replace && ctx.lookup_write(key).is_some() {
        return ctx.err(errors::BUSYKEY);
    }
    let Some(ttl) = resp::parse_i64(ctx.argv.get(2)) else {
        return ctx.err(errors::NOT_INTEGER);
    };
    if ttl < 0 {
        return ctx.err(errors::INVALID_TTL);
    }
    let sanitize = sanitize_policy(ctx.srv, Some(ctx.client));
    let skip_checksum = ctx.srv.debug.skip_checksum_validation;
    let value = match rdb::restore_value(ctx.argv.get(3), skip_checksum, sanitize) {
        Ok(v) => v,
        Err(rdb::PayloadError::Footer) => return ctx.err(errors::DUMP_PAYLOAD),
        Err(rdb::PayloadError::Data(e)) => {
            // Redis logs why at verbose level (an empty collection is
            // refused without a word).
            if e.kind != rdb::ErrorKind::EmptyKey {
                log_verbose!(
                    "Internal error in RDB reading offset {}: {}",
                    e.offset,
                    e.kind
                );
            }
            return ctx.err(errors::BAD_DATA_FORMAT);
        }
    };
    let value = match to_value(value, &ctx.srv.encoding_limits) {
        Ok(v) => v,
        Err(why) => {
            log_verbose!("Internal error in RDB reading offset 0: {why}");
            return ctx.err(errors::BAD_DATA_FORMAT);
        }
    };
    let old = if a.replace {
        ctx.db().remove(key)
    } else {
        None
    };
    let deleted = old.is_some();
    ctx.srv.free_replaced(old);
    let now = ctx.now_ms();
    let at = if ttl != 0 && !a.absttl {
        ttl.saturating_add(now)
    } else {
        ttl
    };
    // An expiry already past creates nothing (a replica, applying its
    // master's stream, keeps the key until the master's DEL).
    if at != 0 && at <= now && !ctx.srv.is_replica() {
        if deleted {
            ctx.modified(key);
            ctx.notify(class::GENERIC, "del", key);
            ctx.dirty(1);
            ctx.propagate(&[b"DEL", key]);
        }
        return ctx.out().ok();
    }
    let lru = access_stamp(ctx, &a);
    let expire = if at == 0 { NO_EXPIRE } else { at };
    ctx.db().insert(key, value, expire, lru);
    ctx.modified(key);
    ctx.notify(class::GENERIC, "restore", key);
    ctx.dirty(1);
    if at != 0 && !a.absttl {
        // Propagate the absolute time, as Redis 7.0 rewrites argv[2] and
        // appends ABSTTL.
        let abs = at.to_string();
        let mut args: Vec<&[u8]> = ctx.argv.iter().collect();
        args[2] = abs.as_bytes();
        args.push(b"ABSTTL");
        ctx.propagate(&args);
    }
    ctx.out().ok();
}

#[cfg(test)]
mod tests {
    use crate::testkit::Kit;

    #[test]
    fn errors_before_the_payload_is_read() {
        let mut k = Kit::new();
        k.run(&["SET", "a", "1"]);
        assert_eq!(k.run(&["DUMP", "nope"]), "$-1\r\n");
        assert_eq!(
            k.run(&["RESTORE", "a", "0", "x"]),
            "-BUSYKEY Target key name already exists.\r\n"
        );
        assert_eq!(
            k.run(&["RESTORE", "b", "-1", "x"]),
            "-ERR Invalid TTL value, must be >= 0\r\n"
        );
        assert_eq!(
            k.run(&["RESTORE", "b", "0", "x"]),
            "-ERR DUMP payload version or checksum are wrong\r\n"
        );
        assert_eq!(
            k.run(&["RESTORE", "b", "0", "x", "IDLETIME", "1", "FREQ", "2"]),
            "-ERR syntax error\r\n"
        );
        assert_eq!(
            k.run(&["RESTORE", "b", "0", "x", "FREQ", "256"]),
            "-ERR Invalid FREQ value, must be >= 0 and <= 255\r\n"
        );
        assert!(k.propagated().iter().all(|p| !p.starts_with("RESTORE")));
    }

    /// A DUMP payload that is valid UTF-8, so the text-based kit can carry
    /// it: some short string's CRC bytes all fall below 0x80.
    fn text_payload() -> (String, String) {
        for i in 0..100_000 {
            let v = format!("v{i}");
            let p = rdb::dump_value(&rdb::RdbValue::String(v.clone().into_bytes()));
            if let Ok(s) = String::from_utf8(p) {
                return (v, s);
            }
        }
        panic!("no text payload found");
    }

    #[test]
    fn relative_ttl_propagates_as_absttl_and_past_ttl_as_del() {
        let (v, p) = text_payload();
        let mut k = Kit::new();
        assert_eq!(k.run(&["RESTORE", "a", "0", &p]), "+OK\r\n");
        assert_eq!(k.run(&["GET", "a"]), format!("${}\r\n{v}\r\n", v.len()));
        assert_eq!(k.run(&["RESTORE", "b", "5000", &p, "REPLACE"]), "+OK\r\n");
        assert_eq!(
            k.run(&["RESTORE", "c", "99999999999999", &p, "ABSTTL"]),
            "+OK\r\n"
        );
        // Already expired: nothing created, nothing propagated...
        assert_eq!(k.run(&["RESTORE", "d", "1", &p, "ABSTTL"]), "+OK\r\n");
        assert_eq!(k.run(&["EXISTS", "d"]), ":0\r\n");
        // ...unless REPLACE removed a key: then it is a DEL.
        assert_eq!(
            k.run(&["RESTORE", "a", "1", &p, "ABSTTL", "REPLACE"]),
            "+OK\r\n"
        );
        assert_eq!(k.run(&["EXISTS", "a"]), ":0\r\n");
        let got = k.propagated();
        assert_eq!(got.len(), 4, "{got:?}");
        assert_eq!(got[0], format!("RESTORE a 0 {p}"));
        let b: Vec<&str> = got[1].split(' ').collect();
        assert_eq!((b[0], b[1]), ("RESTORE", "b"));
        assert!(b[2].parse::<i64>().is_ok_and(|t| t > 1_000_000_000_000));
        assert!(got[1].ends_with(" REPLACE ABSTTL"), "{}", got[1]);
        assert_eq!(got[2], format!("RESTORE c 99999999999999 {p} ABSTTL"));
        assert_eq!(got[3], "DEL a");
    }
}
