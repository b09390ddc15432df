//! Server commands: DBSIZE, FLUSHDB, FLUSHALL, TIME, SHUTDOWN, MONITOR,
//! SLOWLOG, LATENCY. INFO, CLIENT, COMMAND and DEBUG/MEMORY have their own
//! files.
//!
//! The MONITOR feed and the latency monitor live here too: both are fed by
//! `Server::after_command` once per executed command.

use crate::client::{Client, Kind};
use crate::cmd::{flags, Argv, CommandMeta, Ctx, Handler};
use crate::commands::client::help_reply;
use crate::errors;
use crate::log_warning;
use crate::server::Server;

pub const COMMANDS: &[(&str, Handler)] = &[
    ("dbsize", dbsize),
    ("flushdb", flushdb),
    ("flushall", flushall),
    ("time", time),
    ("shutdown", shutdown),
    ("monitor", monitor),
    ("slowlog|get", slowlog_get),
    ("slowlog|len", slowlog_len),
    ("slowlog|reset", slowlog_reset),
    ("slowlog|help", slowlog_help),
    ("latency|latest", latency_latest),
    ("latency|history", latency_history),
    ("latency|reset", latency_reset),
    ("latency|doctor", latency_doctor),
    ("latency|help", latency_help),
];

fn dbsize(ctx: &mut Ctx) {
    let n = ctx.db().len() as i64;
    ctx.out().int(n);
}

/// Parses the optional ASYNC|SYNC argument of FLUSHDB/FLUSHALL.
fn flush_mode(ctx: &mut Ctx) -> Option<()> {
    match ctx.argv.len() {
        1 => Some(()),
        2 if ctx.argv.get(1).eq_ignore_ascii_case(b"ASYNC")
            || ctx.argv.get(1).eq_ignore_ascii_case(b"SYNC") =>
        {
            Some(())
        }
        _ => {
            ctx.err(errors::SYNTAX);
            None
        }
    }
}

fn flushdb(ctx: &mut Ctx) {
    if flush_mode(ctx).is_none() {
        return;
    }
    let n = ctx.db().len() as u64;
    let db = ctx.client.db;
    ctx.srv.touch_all_watched_keys_in_db(db, None);
    ctx.db().clear();
    ctx.srv.tracking_invalidate_all();
    // Propagated even when empty, as Redis forces it.
    ctx.dirty(n.max(1));
    ctx.out().ok();
}

fn flushall(ctx: &mut Ctx) {
    if flush_mode(ctx).is_none() {
        return;
    }
    let mut n = 0;
    for db in 0..ctx.srv.dbs.len() {
        ctx.srv.touch_all_watched_keys_in_db(db, None);
    }
    for db in &mut ctx.srv.dbs {
        n += db.len() as u64;
        db.clear();
    }
    ctx.srv.tracking_invalidate_all();
    ctx.dirty(n.max(1));
    ctx.out().ok();
}

fn time(ctx: &mut Ctx) {
    let us = ctx.srv.now_us;
    let out = ctx.out();
    out.array(2);
    out.bulk_int(us / 1_000_000);
    out.bulk_int(us % 1_000_000);
}

/// SHUTDOWN [NOSAVE|SAVE] [NOW] [FORCE] [ABORT]. The final save runs
/// here, synchronously, so a failure can be reported to the caller (and
/// the server keeps running, as Redis does, unless FORCE). On success the
/// connection closes without a reply, as Redis's does when the process
/// exits.
fn shutdown(ctx: &mut Ctx) {
    let (mut save, mut nosave, mut abort, mut force) = (false, false, false, false);
    for a in ctx.argv.from(1) {
        if a.eq_ignore_ascii_case(b"NOSAVE") {
            nosave = true;
        } else if a.eq_ignore_ascii_case(b"SAVE") {
            save = true;
        } else if a.eq_ignore_ascii_case(b"NOW") {
        } else if a.eq_ignore_ascii_case(b"FORCE") {
            force = true;
        } else if a.eq_ignore_ascii_case(b"ABORT") {
            abort = true;
        } else {
            return ctx.err(errors::SYNTAX);
        }
    }
    if (save && nosave) || (abort && ctx.argv.len() > 2) {
        return ctx.err(errors::SYNTAX);
    }
    if abort {
        return ctx.err(errors::NO_SHUTDOWN_IN_PROGRESS);
    }
    log_warning!("User requested shutdown...");
    if crate::persistence::save::shutdown_save(ctx.srv, save, nosave, force).is_err() {
        return ctx.err("ERR Errors trying to SHUTDOWN. Check logs.");
    }
    ctx.srv.shutdown_requested = true;
    ctx.srv.shutdown_notify.notify_one();
    ctx.client.close_after_reply = true;
}

fn monitor(ctx: &mut Ctx) {
    // A replica link cannot become a monitor; a monitor asking again is a
    // no-op without reply, as in Redis.
    match ctx.client.kind {
        Kind::Monitor => return,
        Kind::Master | Kind::Replica => return,
        Kind::Normal => {}
    }
    ctx.client.kind = Kind::Monitor;
    let id = ctx.client.id;
    ctx.srv.monitors.push(id);
    ctx.out().ok();
}

/// Appends `a` quoted as Redis's `sdscatrepr` does: printable bytes as
/// they are, `\"` `\\` `\n` `\r` `\t` `\a` `\b`, anything else `\xHH`.
pub fn repr(out: &mut Vec<u8>, a: &[u8]) {
    out.push(b'"');
    for &c in a {
        match c {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'"' => out.extend_from_slice(b"\\\""),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            7 => out.extend_from_slice(b"\\a"),
            8 => out.extend_from_slice(b"\\b"),
            c if c.is_ascii_graphic() || c == b' ' => out.push(c),
            c => out.extend_from_slice(format!("\\x{c:02x}").as_bytes()),
        }
    }
    out.push(b'"');
}

/// What MONITOR and SLOWLOG show instead of a secret.
pub const REDACTED: &[u8] = b"(redacted)";

/// Which arguments of `argv` are secrets that MONITOR and SLOWLOG show as
/// `(redacted)`, as Redis 7.0 does: passwords of AUTH, HELLO ... AUTH,
/// MIGRATE ... AUTH/AUTH2 and sensitive CONFIG SET values. None when the
/// command carries no secret (the common case, checked cheaply).
pub fn redaction_mask(argv: Argv) -> Option<Vec<bool>> {
    let name = argv.get(0);
    let is = |n: &[u8]| name.eq_ignore_ascii_case(n);
    if !(is(b"auth") || is(b"hello") || is(b"migrate") || is(b"config") || is(b"acl")) {
        return None;
    }
    let mut mask = vec![false; argv.len()];
    let mut i = 1;
    if is(b"acl") {
        // ACL SETUSER: the user name and every rule (passwords among them).
        if !argv.get(1).eq_ignore_ascii_case(b"setuser") {
            return None;
        }
        mask.iter_mut().skip(2).for_each(|m| *m = true);
    } else if is(b"auth") {
        mask.iter_mut().skip(1).for_each(|m| *m = true);
    } else if is(b"hello") {
        i = 2;
        while i < argv.len() {
            let opt = argv.get(i);
            let more = argv.len() - i - 1;
            if opt.eq_ignore_ascii_case(b"AUTH") && more >= 2 {
                mask[i + 1] = true;
                mask[i + 2] = true;
                i += 3;
            } else if opt.eq_ignore_ascii_case(b"SETNAME") && more >= 1 {
                i += 2;
            } else {
                break;
            }
        }
    } else if is(b"migrate") {
        while i < argv.len() {
            let opt = argv.get(i);
            if opt.eq_ignore_ascii_case(b"AUTH") && i + 1 < argv.len() {
                mask[i + 1] = true;
                i += 2;
            } else if opt.eq_ignore_ascii_case(b"AUTH2") && i + 2 < argv.len() {
                mask[i + 1] = true;
                mask[i + 2] = true;
                i += 3;
            } else {
                i += 1;
            }
        }
    } else if argv.get(1).eq_ignore_ascii_case(b"SET") {
        i = 2;
        while i + 1 < argv.len() {
            let name = String::from_utf8_lossy(argv.get(i));
            if crate::config::table::is_sensitive(&name) {
                mask[i + 1] = true;
            }
            i += 2;
        }
    }
    Some(mask)
}

/// Sends the command just executed to every MONITOR client, in Redis's
/// format: `+<secs>.<usecs> [<db> <addr>] "ARG" "ARG"...`. Admin commands
/// and those flagged skip_monitor are not shown, as in Redis 7.0.
pub fn feed_monitors(srv: &mut Server, client: &Client, meta: &CommandMeta, argv: Argv) {
    if srv.monitors.is_empty() {
        return;
    }
    let f = flags::from_names(meta.flags);
    if f & (flags::SKIP_MONITOR | flags::ADMIN) != 0 {
        return;
    }
    let us = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(srv.now_us);
    let addr = client.addr.map(|a| a.to_string()).unwrap_or_default();
    let mut line = format!(
        "+{}.{:06} [{} {}]",
        us / 1_000_000,
        us % 1_000_000,
        client.db,
        addr
    )
    .into_bytes();
    let mask = redaction_mask(argv);
    for (i, a) in argv.iter().enumerate() {
        line.push(b' ');
        let hidden = mask.as_ref().is_some_and(|m| m[i]);
        repr(&mut line, if hidden { REDACTED } else { a });
    }
    line.extend_from_slice(b"\r\n");
    for id in &srv.monitors {
        if let Some(rc) = srv.clients.get(id) {
            // The caller is borrowed already, so it never feeds itself.
            if let Ok(mut m) = rc.try_borrow_mut() {
                m.out.raw(&line);
                m.wake.notify_one();
                crate::net::enforce_output_limit(srv, &mut m);
            }
        }
    }
}

// ---------------------------------------------------------------- SLOWLOG

fn slowlog_get(ctx: &mut Ctx) {
    let mut count = 10usize;
    if ctx.argv.len() > 3 {
        return ctx.err_arity();
    }
    if ctx.argv.len() == 3 {
        match resp::parse_i64(ctx.argv.get(2)) {
            Some(-1) => count = usize::MAX,
            Some(n) if n >= 0 => count = n as usize,
            _ => return ctx.err(errors::SLOWLOG_COUNT),
        }
    }
    let (srv, client) = ctx.parts();
    let n = count.min(srv.slowlog.len());
    let out = &mut client.out;
    out.array(n);
    for e in srv.slowlog.iter().take(n) {
        out.array(6);
        out.int(e.id as i64);
        out.int(e.time);
        out.int(e.duration_us as i64);
        out.array(e.args.len());
        for a in &e.args {
            out.bulk(a);
        }
        out.bulk(e.client_addr.as_bytes());
        out.bulk(&e.client_name);
    }
}

fn slowlog_len(ctx: &mut Ctx) {
    let n = ctx.srv.slowlog.len() as i64;
    ctx.out().int(n);
}

fn slowlog_reset(ctx: &mut Ctx) {
    ctx.srv.slowlog.clear();
    ctx.out().ok();
}

fn slowlog_help(ctx: &mut Ctx) {
    help_reply(
        ctx,
        "SLOWLOG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        &[
            "GET [<count>]",
            "    The newest <count> entries (default 10, -1 for all). Each entry is:",
            "    id, unix time, duration in microseconds, arguments, client address, client name.",
            "LEN",
            "    Number of entries kept.",
            "RESET",
            "    Drops every entry.",
        ],
    );
}

// ---------------------------------------------------------------- LATENCY

/// Feeds the latency monitor after a command: `fast-command` for commands
/// flagged fast, `command` for the rest.
pub fn latency_sample(srv: &mut Server, meta: &'static CommandMeta, usec: u64) {
    // Per-command histogram for INFO latencystats (Redis 7.0's
    // latency-tracking, on by default).
    srv.latency_hist.record(meta, usec);
    let threshold = srv.latency_threshold_ms;
    if threshold <= 0 {
        return;
    }
    let ms = usec / 1000;
    if (ms as i64) < threshold {
        return;
    }
    let event = if meta.flags.contains(&"fast") {
        "fast-command"
    } else {
        "command"
    };
    let now = srv.now_ms / 1000;
    srv.latency.add(event, now, ms);
}

fn latency_latest(ctx: &mut Ctx) {
    let (srv, client) = ctx.parts();
    let out = &mut client.out;
    out.array(srv.latency.events.len());
    for (name, e) in &srv.latency.events {
        let (t, ms) = e.samples.back().copied().unwrap_or((0, 0));
        out.array(4);
        out.bulk(name.as_bytes());
        out.int(t);
        out.int(ms as i64);
        out.int(e.max as i64);
    }
}

fn latency_history(ctx: &mut Ctx) {
    let name = String::from_utf8_lossy(ctx.argv.get(2)).into_owned();
    let (srv, client) = ctx.parts();
    let out = &mut client.out;
    match srv.latency.events.get(name.as_str()) {
        None => out.array(0),
        Some(e) => {
            out.array(e.samples.len());
            for &(t, ms) in &e.samples {
                out.array(2);
                out.int(t);
                out.int(ms as i64);
            }
        }
    }
}

fn latency_reset(ctx: &mut Ctx) {
    let n = if ctx.argv.len() == 2 {
        let n = ctx.srv.latency.events.len();
        ctx.srv.latency.events.clear();
        n
    } else {
        let names: Vec<String> = ctx
            .argv
            .from(2)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        names
            .iter()
            .filter(|n| ctx.srv.latency.events.remove(n.as_str()).is_some())
            .count()
    };
    ctx.out().int(n as i64);
}

/// Our own short report: per event, the number of spikes, their average
/// and the worst, plus the settings that matter.
fn latency_doctor(ctx: &mut Ctx) {
    let srv = &*ctx.srv;
    let mut t = String::new();
    if srv.latency_threshold_ms <= 0 {
        t.push_str(
            "Latency monitoring is disabled. Enable it with \
             CONFIG SET latency-monitor-threshold <milliseconds>.\n",
        );
    } else if srv.latency.events.is_empty() {
        t.push_str("No latency spikes above the threshold were observed.\n");
    } else {
        t.push_str("Latency spikes observed:\n\n");
        for (i, (name, e)) in srv.latency.events.iter().enumerate() {
            let n = e.samples.len() as u64;
            let avg = e.samples.iter().map(|s| s.1).sum::<u64>() / n.max(1);
            t.push_str(&format!(
                "{}. {name}: {n} latency spikes (average {avg}ms). Worst all time event {}ms.\n",
                i + 1,
                e.max
            ));
        }
        t.push_str(
            "\nCheck SLOWLOG GET for the commands involved; large keys deleted or expired \
             in one go are a common cause.\n",
        );
    }
    ctx.out().verbatim(t.as_bytes());
}

fn latency_help(ctx: &mut Ctx) {
    help_reply(
        ctx,
        "LATENCY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        &[
            "LATEST",
            "    For every event: name, time of the latest spike, its latency, the worst.",
            "HISTORY <event>",
            "    Time and latency of the recent spikes of <event>.",
            "RESET [<event> ...]",
            "    Forgets the given events, or all of them.",
            "DOCTOR",
            "    A short report on the spikes seen.",
        ],
    );
}

#[cfg(test)]
mod tests {
    use crate::testkit::Kit;

    #[test]
    fn slowlog_records_with_threshold_zero() {
        let mut k = Kit::new();
        k.srv.slowlog_slower_than = 0;
        k.run(&["SET", "k", "v"]);
        assert_eq!(k.run(&["SLOWLOG", "LEN"]), ":1\r\n");
        let t = k.run(&["SLOWLOG", "GET"]);
        assert!(t.starts_with("*2\r\n*6\r\n:1\r\n"), "{t}");
        assert!(
            t.contains("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n"),
            "{t}"
        );
        assert_eq!(k.run(&["SLOWLOG", "GET", "0"]), "*0\r\n");
        assert_eq!(
            k.run(&["SLOWLOG", "GET", "-2"]),
            "-ERR count should be greater than or equal to -1\r\n"
        );
        k.srv.slowlog_slower_than = -1;
        assert_eq!(k.run(&["SLOWLOG", "RESET"]), "+OK\r\n");
        assert_eq!(k.run(&["SLOWLOG", "LEN"]), ":0\r\n");
    }

    #[test]
    fn shutdown_abort_and_bad_flags() {
        let mut k = Kit::new();
        assert_eq!(
            k.run(&["SHUTDOWN", "ABORT"]),
            "-ERR No shutdown in progress.\r\n"
        );
        assert_eq!(
            k.run(&["SHUTDOWN", "ABORT", "NOSAVE"]),
            "-ERR syntax error\r\n"
        );
        assert_eq!(
            k.run(&["SHUTDOWN", "NOSAVE", "SAVE"]),
            "-ERR syntax error\r\n"
        );
        assert_eq!(k.run(&["SHUTDOWN", "NOSAVE", "NOW"]), "");
        assert!(k.srv.shutdown_requested);
    }

    #[test]
    fn secrets_are_redacted_in_the_slowlog() {
        let mut k = Kit::new();
        k.srv.slowlog_slower_than = 0;
        k.run(&["AUTH", "default", "pw"]);
        k.run(&["HELLO", "2", "SETNAME", "x", "AUTH", "default", "pw"]);
        let t = k.run(&["SLOWLOG", "GET"]);
        assert!(!t.contains("$2\r\npw\r\n"), "{t}");
        assert!(t.contains("$7\r\nSETNAME\r\n$1\r\nx\r\n$4\r\nAUTH\r\n$10\r\n(redacted)\r\n$10\r\n(redacted)\r\n"), "{t}");
        assert!(
            t.contains("$4\r\nAUTH\r\n$10\r\n(redacted)\r\n$10\r\n(redacted)\r\n"),
            "{t}"
        );
    }

    #[test]
    fn monitor_lines_quote_like_redis() {
        let mut v = Vec::new();
        super::repr(&mut v, b"a\"b\\c\n\x01 d");
        assert_eq!(String::from_utf8_lossy(&v), r#""a\"b\\c\n\x01 d""#);
    }

    #[test]
    fn time_is_two_bulk_strings() {
        let mut k = Kit::new();
        let t = k.run(&["TIME"]);
        assert!(t.starts_with("*2\r\n$10\r\n"), "{t}");
    }
}
