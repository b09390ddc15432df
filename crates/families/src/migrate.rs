//! MIGRATE (`cluster.c` in Redis): moves (or with COPY, copies) keys to
//! another server by sending it `RESTORE` commands built from DUMP
//! payloads, then deletes the keys the target acknowledged.
//!
//! `MIGRATE host port key|"" db timeout [COPY] [REPLACE] [AUTH pw]
//! [AUTH2 user pw] [KEYS key ...]`
//!
//! The conversation with the target runs in the engine
//! (`server::migrate`, which caches one connection per target); it blocks
//! the server, as Redis does, so the keys cannot change between their dump
//! and their deletion. What is propagated is what happened here: a `DEL`
//! of the keys the target acknowledged (nothing with COPY), as Redis
//! rewrites the command.

use server::cmd::{Ctx, Handler};
use server::config::Directive;
use server::errors;
use server::migrate::{Exchange, Failure};
use server::notify::class;
use server::persistence::convert::dump_payload;
use std::time::Duration;

pub const COMMANDS: &[(&str, Handler)] = &[("migrate", migrate)];

/// MIGRATE's arguments.
struct MigrateArgs<'a> {
    copy: bool,
    replace: bool,
    user: Option<&'a [u8]>,
    password: Option<&'a [u8]>,
    /// Index of the first key, and how many.
    first_key: usize,
    num_keys: usize,
    timeout_ms: i64,
    db: i64,
}

/// Parses the options in Redis's order of checks: options (syntax, then
/// KEYS with a non-empty key argument), then the timeout and the
/// database as integers.
fn parse<'a>(ctx: &mut Ctx<'a>) -> Option<MigrateArgs<'a>> {
    let argv = ctx.argv;
    let mut a = MigrateArgs {
        copy: false,
        replace: false,
        user: None,
        password: None,
        first_key: 3,
        num_keys: 1,
        timeout_ms: 0,
        db: 0,
    };
    let mut j = 6;
    while j < argv.len() {
        let opt = argv.get(j);
        let more = argv.len() - 1 - j;
        if opt.eq_ignore_ascii_case(b"COPY") {
            a.copy = true;
        } else if opt.eq_ignore_ascii_case(b"REPLACE") {
            a.replace = true;
        } else if opt.eq_ignore_ascii_case(b"AUTH") && more >= 1 {
            a.password = Some(argv.get(j + 1));
            j += 1;
        } else if opt.eq_ignore_ascii_case(b"AUTH2") && more >= 2 {
            a.user = Some(argv.get(j + 1));
            a.password = Some(argv.get(j + 2));
            j += 2;
        } else if opt.eq_ignore_ascii_case(b"KEYS") {
            if !argv.get(3).is_empty() {
                ctx.err(errors::MIGRATE_KEYS_KEY_NOT_EMPTY);
                return None;
            }
            a.first_key = j + 1;
            a.num_keys = argv.len() - j - 1;
            break;
        } else {
            ctx.err(errors::SYNTAX);
            return None;
        }
        j += 1;
    }
    let (Some(timeout), Some(db)) = (resp::parse_i64(argv.get(5)), resp::parse_i64(argv.get(4)))
    else {
        ctx.err(errors::NOT_INTEGER);
        return None;
    };
    a.timeout_ms = if timeout <= 0 { 1000 } else { timeout };
    a.db = db;
    Some(a)
}

/// The port as Redis reads it (`atoi`: leading digits, else 0).
fn port(b: &[u8]) -> u16 {
    let digits = b.iter().take_while(|c| c.is_ascii_digit());
    digits.fold(0u64, |n, &c| {
        (n * 10 + u64::from(c - b'0')).min(u64::from(u32::MAX))
    }) as u16
}

/// The `RESTORE` commands for the keys still live, and those keys.
fn restore_commands(ctx: &mut Ctx, a: &MigrateArgs, keys: &[&[u8]]) -> (Vec<u8>, Vec<Vec<u8>>) {
    let now = server::util::time::unix_ms();
    let mut out = Vec::new();
    let mut sent = Vec::with_capacity(keys.len());
    let cluster_mode = ctx.srv.cluster.is_some();
    for &key in keys {
        let Some(e) = ctx.db().get(key) else {
            continue;
        };
        let mut ttl = 0;
        if e.expire != keyspace::NO_EXPIRE {
            ttl = e.expire - now;
            // Expired since it was looked up: not sent.
            if ttl < 0 {
                continue;
            }
            ttl = ttl.max(1);
        }
        let Ok(payload) = dump_payload(e) else {
            continue;
        };
        let ttl = ttl.to_string();
        // In a cluster the target is importing the slot: RESTORE-ASKING
        // is served there without an ASKING first, as Redis sends it.
        let verb: &[u8] = if cluster_mode {
            b"RESTORE-ASKING"
        } else {
            b"RESTORE"
        };
        let mut args: Vec<&[u8]> = vec![verb, key, ttl.as_bytes(), &payload];
        if a.replace {
            args.push(b"REPLACE");
        }
        resp::encode_command(&mut out, &args);
        sent.push(key.to_vec());
    }
    (out, sent)
}

fn migrate(ctx: &mut Ctx) {
    let Some(a) = parse(ctx) else {
        return;
    };
    // Keys that exist (lazy expiry applied); none at all is not an error.
    let keys: Vec<&[u8]> = (a.first_key..a.first_key + a.num_keys)
        .map(|i| ctx.argv.get(i))
        .collect();
    let live: Vec<&[u8]> = keys
        .into_iter()
        .filter(|k| ctx.lookup_read(k).is_some())
        .collect();
    if live.is_empty() {
        return ctx.out().simple(b"NOKEY");
    }
    let (restores, sent) = restore_commands(ctx, &a, &live);
    let auth = a.password.map(|pw| {
        let mut b = Vec::new();
        match a.user {
            Some(u) => resp::encode_command(&mut b, &[&b"AUTH"[..], u, pw]),
            None => resp::encode_command(&mut b, &[&b"AUTH"[..], pw]),
        }
        b
    });
    let tls = if ctx.srv.config.get_bool(Directive::TlsCluster) {
        ctx.srv.tls.clone()
    } else {
        None
    };
    let host = String::from_utf8_lossy(ctx.argv.get(1)).into_owned();
    let outcome = ctx.srv.migrate.exchange(Exchange {
        host,
        port: port(ctx.argv.get(2)),
        timeout: Duration::from_millis(a.timeout_ms as u64),
        tls,
        auth,
        db: a.db,
        restores,
        count: sent.len(),
    });
    if outcome.failure == Some(Failure::Connect) {
        return ctx.err(errors::MIGRATE_IOERR_CONNECT);
    }
    if outcome.failure == Some(Failure::Write) {
        return ctx.err(errors::MIGRATE_IOERR_WRITE);
    }
    // A refused AUTH or SELECT fails every key; the first error line is
    // the one reported.
    let refused = |l: &Option<Vec<u8>>| l.as_ref().filter(|l| l.first() == Some(&b'-')).cloned();
    let early = refused(&outcome.auth).or_else(|| refused(&outcome.select));
    let mut target_error: Option<Vec<u8>> = None;
    let mut moved: Vec<&[u8]> = Vec::new();
    for (key, reply) in sent.iter().zip(&outcome.restores) {
        let err = early
            .clone()
            .or_else(|| (reply.first() == Some(&b'-')).then(|| reply.clone()));
        match err {
            Some(e) => {
                target_error.get_or_insert(e);
            }
            None if !a.copy => {
                ctx.db().remove(key);
                ctx.modified(key);
                ctx.notify(class::GENERIC, "del", key);
                ctx.dirty(1);
                moved.push(key);
            }
            None => {}
        }
    }
    if !moved.is_empty() {
        let mut del: Vec<&[u8]> = vec![b"DEL"];
        del.extend(moved);
        ctx.propagate(&del);
    }
    match (target_error, outcome.failure) {
        (Some(e), _) => ctx.err(&errors::migrate_target_error(&e[1..])),
        (None, Some(_)) => ctx.err(errors::MIGRATE_IOERR_READ),
        (None, None) => ctx.out().ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::port;
    use crate::testkit::Kit;

    #[test]
    fn port_reads_as_atoi() {
        assert_eq!(port(b"6379"), 6379);
        assert_eq!(port(b"12abc"), 12);
        assert_eq!(port(b"abc"), 0);
    }

    #[test]
    fn argument_errors_in_redis_order() {
        let mut k = Kit::new();
        k.run(&["SET", "a", "1"]);
        assert_eq!(
            k.run(&["MIGRATE", "127.0.0.1", "1", "a", "0", "10", "BOGUS"]),
            "-ERR syntax error\r\n"
        );
        assert_eq!(
            k.run(&["MIGRATE", "127.0.0.1", "1", "a", "0", "10", "AUTH"]),
            "-ERR syntax error\r\n"
        );
        assert_eq!(
            k.run(&["MIGRATE", "127.0.0.1", "1", "a", "0", "10", "KEYS", "a"]),
            "-ERR When using MIGRATE KEYS option, the key argument must be set to the empty string\r\n"
        );
        assert_eq!(
            k.run(&["MIGRATE", "127.0.0.1", "1", "a", "x", "10"]),
            "-ERR value is not an integer or out of range\r\n"
        );
        assert_eq!(
            k.run(&["MIGRATE", "127.0.0.1", "1", "nokey", "0", "10"]),
            "+NOKEY\r\n"
        );
        assert_eq!(
            k.run(&["MIGRATE", "127.0.0.1", "1", "", "0", "10", "KEYS", "x", "y"]),
            "+NOKEY\r\n"
        );
        assert_eq!(k.propagated(), vec!["SET a 1".to_string()]);
    }
}
