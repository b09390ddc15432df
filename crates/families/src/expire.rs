//! TTL commands (`expire.c` in Redis): EXPIRE, PEXPIRE, EXPIREAT,
//! PEXPIREAT with NX/XX/GT/LT, TTL, PTTL, EXPIRETIME, PEXPIRETIME, PERSIST.
//!
//! Propagation follows Redis 7.0 so that replicas and the AOF never decide
//! expiry with their own clocks: every successful expire is propagated as
//! `PEXPIREAT key <absolute ms>` with the request's flags kept, and an
//! expire time already in the past deletes the key and propagates `DEL`
//! (`UNLINK` with `lazyfree-lazy-expire yes`).

use crate::keys::lookup_notouch;
use keyspace::NO_EXPIRE;
use server::cmd::{Ctx, Handler};
use server::errors;
use server::notify::class;

pub const COMMANDS: &[(&str, Handler)] = &[
    ("expire", expire),
    ("pexpire", pexpire),
    ("expireat", expireat),
    ("pexpireat", pexpireat),
    ("ttl", ttl),
    ("pttl", pttl),
    ("expiretime", expiretime),
    ("pexpiretime", pexpiretime),
    ("persist", persist),
];

/// The condition flags of the EXPIRE family.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Flags {
    nx: bool,
    xx: bool,
    gt: bool,
    lt: bool,
}

impl Flags {
    /// Parses argv[3..]. Redis checks the flags before the time argument,
    /// so their errors win over a malformed time.
    fn parse(ctx: &Ctx) -> Result<Flags, String> {
        let mut f = Flags::default();
        for opt in ctx.argv.from(3) {
            if opt.eq_ignore_ascii_case(b"NX") {
                f.nx = true;
            } else if opt.eq_ignore_ascii_case(b"XX") {
                f.xx = true;
            } else if opt.eq_ignore_ascii_case(b"GT") {
                f.gt = true;
            } else if opt.eq_ignore_ascii_case(b"LT") {
                f.lt = true;
            } else {
                return Err(errors::unsupported_option(opt));
            }
        }
        if f.nx && (f.xx || f.gt || f.lt) {
            return Err(errors::EXPIRE_NX_CONFLICT.to_string());
        }
        if f.gt && f.lt {
            return Err(errors::EXPIRE_GT_LT_CONFLICT.to_string());
        }
        Ok(f)
    }

    /// Whether the new expiry `when` may replace `current` (NO_EXPIRE when
    /// the key has none). A key without a TTL counts as an infinite TTL:
    /// GT never applies to it and LT always does.
    fn allows(&self, current: i64, when: i64) -> bool {
        let has_ttl = current != NO_EXPIRE;
        !((self.nx && has_ttl)
            || (self.xx && !has_ttl)
            || (self.gt && (!has_ttl || when <= current))
            || (self.lt && has_ttl && when >= current))
    }
}

fn expire(ctx: &mut Ctx) {
    expire_generic(ctx, false, false, "expire");
}

fn pexpire(ctx: &mut Ctx) {
    expire_generic(ctx, true, false, "pexpire");
}

fn expireat(ctx: &mut Ctx) {
    expire_generic(ctx, false, true, "expireat");
}

fn pexpireat(ctx: &mut Ctx) {
    expire_generic(ctx, true, true, "pexpireat");
}

/// Converts the time argument to absolute milliseconds. Negative times are
/// allowed (they delete the key); only overflow is an error.
fn absolute_ms(n: i64, unit_ms: bool, absolute: bool, now_ms: i64) -> Option<i64> {
    let ms = if unit_ms { n } else { n.checked_mul(1000)? };
    let base = if absolute { 0 } else { now_ms };
    // Redis only guards the upward overflow of the addition; the base is
    // never negative, so the sum cannot underflow.
    ms.checked_add(base)
}

fn expire_generic(ctx: &mut Ctx, unit_ms: bool, absolute: bool, name: &str) {
    let flags = match Flags::parse(ctx) {
        Ok(f) => f,
        Err(e) => return ctx.err(&e),
    };
    let Some(n) = resp::parse_i64(ctx.argv.get(2)) else {
        return ctx.err(errors::NOT_INTEGER);
    };
    let Some(when) = absolute_ms(n, unit_ms, absolute, ctx.now_ms()) else {
        return ctx.err(&errors::invalid_expire(name));
    };
    let key = ctx.argv.get(1);
    let Some(current) = ctx.lookup_write(key).map(|e| e.expire) else {
        return ctx.out().int(0);
    };
    if !flags.allows(current, when) {
        return ctx.out().int(0);
    }
    // A replica applies its master's PEXPIREAT as given and waits for the
    // master's DEL, so a past time deletes only on a master; and nothing
    // expires while the dataset loads (an AOF may write to the key again).
    if when <= ctx.now_ms() && !ctx.srv.is_replica() && ctx.srv.persist.loading.is_none() {
        delete_expired_now(ctx, key);
        return ctx.out().int(1);
    }
    ctx.db().set_expire(key, when);
    ctx.dirty(1);
    // Redis replies before it signals this change.
    ctx.out().int(1);
    ctx.modified(key);
    ctx.notify(class::GENERIC, "expire", key);
    if unit_ms && absolute {
        // PEXPIREAT is already in its propagated form: verbatim, as sent.
        return;
    }
    let mut args: Vec<&[u8]> = Vec::with_capacity(ctx.argv.len());
    let mut buf = itoa::Buffer::new();
    args.push(b"PEXPIREAT");
    args.push(key);
    args.push(buf.format(when).as_bytes());
    args.extend(ctx.argv.from(3));
    ctx.propagate(&args);
}

/// What the TTL family reports.
#[derive(Clone, Copy)]
enum TtlOutput {
    /// Remaining time in seconds (rounded) or milliseconds.
    Relative { ms: bool },
    /// Absolute Unix time in seconds (rounded) or milliseconds.
    Absolute { ms: bool },
}

fn ttl(ctx: &mut Ctx) {
    ttl_generic(ctx, TtlOutput::Relative { ms: false });
}

fn pttl(ctx: &mut Ctx) {
    ttl_generic(ctx, TtlOutput::Relative { ms: true });
}

fn expiretime(ctx: &mut Ctx) {
    ttl_generic(ctx, TtlOutput::Absolute { ms: false });
}

fn pexpiretime(ctx: &mut Ctx) {
    ttl_generic(ctx, TtlOutput::Absolute { ms: true });
}

/// -2 for a missing key, -1 for a key without a TTL, else the time (never
/// negative: a key about to be deleted reports 0).
fn ttl_generic(ctx: &mut Ctx, output: TtlOutput) {
    let key = ctx.argv.get(1);
    let Some(i) = lookup_notouch(ctx, key) else {
        return ctx.out().int(-2);
    };
    let expire = ctx.db().at(i).map_or(NO_EXPIRE, |e| e.expire);
    if expire == NO_EXPIRE {
        return ctx.out().int(-1);
    }
    let (t, ms) = match output {
        TtlOutput::Relative { ms } => (expire - ctx.now_ms(), ms),
        TtlOutput::Absolute { ms } => (expire, ms),
    };
    let t = t.max(0);
    ctx.out().int(if ms { t } else { (t + 500) / 1000 });
}

/// PERSIST key: 1 when a TTL was removed. Propagated verbatim.
fn persist(ctx: &mut Ctx) {
    let key = ctx.argv.get(1);
    if ctx.lookup_write(key).is_none() {
        return ctx.out().int(0);
    }
    if ctx.db().persist(key) {
        ctx.dirty(1);
        ctx.modified(key);
        ctx.notify(class::GENERIC, "persist", key);
        ctx.out().int(1);
    } else {
        ctx.out().int(0);
    }
}

/// Deletes `key` because a command set its expiry in the past (EXPIRE,
/// GETEX EXAT, ...): Redis deletes at once and propagates the deletion,
/// as `DEL` or, with `lazyfree-lazy-expire`, `UNLINK`.
pub fn delete_expired_now(ctx: &mut Ctx, key: &[u8]) {
    if let Some(e) = ctx.db().remove(key) {
        ctx.srv.free_value(e.value, ctx.srv.lazyfree_lazy_expire);
    }
    ctx.dirty(1);
    ctx.modified(key);
    ctx.notify(class::GENERIC, "del", key);
    let verb: &[u8] = if ctx.srv.lazyfree_lazy_expire {
        b"UNLINK"
    } else {
        b"DEL"
    };
    ctx.propagate(&[verb, key]);
}

#[cfg(test)]
mod tests {
    use crate::testkit::Kit;

    fn at_of(p: &str) -> i64 {
        p.split(' ')
            .nth(2)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0)
    }

    #[test]
    fn relative_expires_propagate_as_absolute_pexpireat_with_flags() {
        let mut k = Kit::new();
        k.run(&["SET", "k", "v"]);
        k.propagated();
        assert_eq!(k.run(&["EXPIRE", "k", "100"]), ":1\r\n");
        assert_eq!(k.run(&["PEXPIRE", "k", "200000", "GT"]), ":1\r\n");
        assert_eq!(k.run(&["EXPIREAT", "k", "99999999999", "xx"]), ":1\r\n");
        assert_eq!(k.run(&["PEXPIREAT", "k", "99999999999000", "LT"]), ":0\r\n");
        assert_eq!(k.run(&["PEXPIREAT", "k", "99999999998000", "LT"]), ":1\r\n");
        let p = k.propagated();
        assert_eq!(p.len(), 4);
        let now = k.srv.now_ms;
        assert!(p[0].starts_with("PEXPIREAT k "));
        assert!((at_of(&p[0]) - now - 100_000).abs() < 5_000);
        assert!(p[1].ends_with(" GT"));
        assert!((at_of(&p[1]) - now - 200_000).abs() < 5_000);
        assert_eq!(p[2], "PEXPIREAT k 99999999999000 xx");
        assert_eq!(p[3], "PEXPIREAT k 99999999998000 LT");
        // Redis keeps PEXPIREAT exactly as received (case included).
        k.run(&["pexpireat", "k", "99999999997000"]);
        assert_eq!(k.propagated(), vec!["pexpireat k 99999999997000"]);
    }

    #[test]
    fn expire_in_the_past_deletes_and_propagates_del_or_unlink() {
        let mut k = Kit::new();
        k.run(&["SET", "k", "v"]);
        k.run(&["SET", "j", "v"]);
        k.propagated();
        assert_eq!(k.run(&["EXPIRE", "k", "-1"]), ":1\r\n");
        assert_eq!(k.run(&["EXISTS", "k"]), ":0\r\n");
        assert_eq!(k.propagated(), vec!["DEL k"]);
        k.srv.lazyfree_lazy_expire = true;
        assert_eq!(k.run(&["PEXPIREAT", "j", "0"]), ":1\r\n");
        assert_eq!(k.propagated(), vec!["UNLINK j"]);
        assert_eq!(k.run(&["EXPIRE", "missing", "10"]), ":0\r\n");
        assert!(k.propagated().is_empty());
    }

    #[test]
    fn flag_rules_follow_redis() {
        let mut k = Kit::new();
        k.run(&["SET", "k", "v"]);
        assert_eq!(k.run(&["EXPIRE", "k", "10", "XX"]), ":0\r\n");
        assert_eq!(k.run(&["EXPIRE", "k", "10", "GT"]), ":0\r\n");
        assert_eq!(k.run(&["EXPIRE", "k", "10", "LT"]), ":1\r\n");
        assert_eq!(k.run(&["EXPIRE", "k", "10", "NX"]), ":0\r\n");
        assert_eq!(k.run(&["EXPIRE", "k", "20", "GT"]), ":1\r\n");
        assert_eq!(k.run(&["EXPIRE", "k", "15", "GT"]), ":0\r\n");
        assert_eq!(
            k.run(&["EXPIRE", "k", "abc", "NX", "GT"]),
            "-ERR NX and XX, GT or LT options at the same time are not compatible\r\n"
        );
        assert_eq!(
            k.run(&["EXPIRE", "k", "1", "GT", "LT"]),
            "-ERR GT and LT options at the same time are not compatible\r\n"
        );
        assert_eq!(
            k.run(&["EXPIRE", "k", "1", "foo"]),
            "-ERR Unsupported option foo\r\n"
        );
        assert_eq!(
            k.run(&["EXPIRE", "k", "9223372036854775807"]),
            "-ERR invalid expire time in 'expire' command\r\n"
        );
        assert_eq!(
            k.run(&["PEXPIRE", "k", "9223372036854775807"]),
            "-ERR invalid expire time in 'pexpire' command\r\n"
        );
    }

    #[test]
    fn ttl_family_and_persist() {
        let mut k = Kit::new();
        assert_eq!(k.run(&["TTL", "k"]), ":-2\r\n");
        k.run(&["SET", "k", "v"]);
        assert_eq!(k.run(&["PTTL", "k"]), ":-1\r\n");
        assert_eq!(k.run(&["EXPIRETIME", "k"]), ":-1\r\n");
        k.run(&["PEXPIREAT", "k", "99999999999499"]);
        assert_eq!(k.run(&["EXPIRETIME", "k"]), ":99999999999\r\n");
        assert_eq!(k.run(&["PEXPIRETIME", "k"]), ":99999999999499\r\n");
        k.propagated();
        assert_eq!(k.run(&["PERSIST", "k"]), ":1\r\n");
        assert_eq!(k.run(&["PERSIST", "k"]), ":0\r\n");
        assert_eq!(k.run(&["TTL", "k"]), ":-1\r\n");
        assert_eq!(k.propagated(), vec!["PERSIST k"]);
    }

    #[test]
    fn active_expiry_deletes_untouched_keys_unless_disabled() {
        let mut k = Kit::new();
        for i in 0..50 {
            k.run(&["SET", &format!("k{i}"), "v", "PXAT", "1"]);
        }
        k.run(&["SET", "live", "v", "EX", "1000"]);
        k.propagated();
        // What `DEBUG SET-ACTIVE-EXPIRE 0` switches off.
        k.srv.active_expire_enabled = false;
        k.srv.active_expire_cycle();
        assert_eq!(k.srv.dbs[0].len(), 51);
        k.srv.active_expire_enabled = true;
        for _ in 0..100 {
            if k.srv.dbs[0].len() == 1 {
                break;
            }
            k.srv.active_expire_cycle();
        }
        assert_eq!(k.srv.dbs[0].len(), 1);
        assert_eq!(k.srv.stats.expired_keys, 50);
        let p = k.propagated();
        assert_eq!(p.len(), 50);
        assert!(p.iter().all(|c| c.starts_with("DEL k")));
    }

    #[test]
    fn del_and_unlink_propagate_verbatim_when_they_removed_something() {
        let mut k = Kit::new();
        k.run(&["SET", "a", "1"]);
        k.run(&["SET", "b", "1"]);
        k.propagated();
        assert_eq!(k.run(&["DEL", "a", "nokey"]), ":1\r\n");
        assert_eq!(k.run(&["DEL", "nokey"]), ":0\r\n");
        assert_eq!(k.run(&["UNLINK", "b", "b"]), ":1\r\n");
        assert_eq!(k.propagated(), vec!["DEL a nokey", "UNLINK b b"]);
    }
}
