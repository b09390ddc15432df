//! Server commands: DBSIZE, FLUSHDB, FLUSHALL, TIME, SHUTDOWN, MONITOR,
//! SLOWLOG, LATENCY. INFO, CLIENT, COMMAND and DEBUG/MEMORY have their own
//! files.
//!
//! The MONITOR feed and the latency monitor live here too: both are fed by
//! `Server::after_command` once per executed command.

use crate::client::help_reply;
use server::blocking;
use server::client::Kind;
use server::cmd::{Ctx, Handler};
use server::config::Directive;
use server::errors;
use server::shutdown::{self, Flags, Prepared};

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
    ("latency|histogram", latency_histogram),
    ("latency|graph", latency_graph),
];

fn dbsize(ctx: &mut Ctx) {
    let n = ctx.db().len() as i64;
    ctx.out().int(n);
}

/// Parses the optional ASYNC|SYNC argument of FLUSHDB/FLUSHALL: whether
/// the old data is freed on the lazy-free thread (without the argument,
/// as `lazyfree-lazy-user-flush` says).
fn flush_mode(ctx: &mut Ctx) -> Option<bool> {
    match ctx.argv.len() {
        1 => Some(ctx.srv.config.get_bool(Directive::LazyfreeLazyUserFlush)),
        2 if ctx.argv.get(1).eq_ignore_ascii_case(b"ASYNC") => Some(true),
        2 if ctx.argv.get(1).eq_ignore_ascii_case(b"SYNC") => Some(false),
        _ => {
            ctx.err(errors::SYNTAX);
            None
        }
    }
}

/// Empties database `db`, freeing its contents in the background when
/// `lazy`.
fn empty_db(srv: &mut server::server::Server, db: usize, lazy: bool) {
    if lazy {
        let old = srv.dbs[db].take_entries();
        srv.lazyfree.free_dbs(vec![old]);
    } else {
        srv.dbs[db].clear();
    }
}

fn flushdb(ctx: &mut Ctx) {
    let Some(lazy) = flush_mode(ctx) else {
        return;
    };
    let n = ctx.db().len() as u64;
    let db = ctx.client.db;
    ctx.srv.touch_all_watched_keys_in_db(db, None);
    // Readers blocked through a consumer group learn their stream went.
    server::blocking::signal_db_ready(ctx.srv, db);
    empty_db(ctx.srv, db, lazy);
    ctx.srv.tracking_invalidate_all();
    ctx.dirty(n);
    // Propagated even when empty, as Redis forces it.
    ctx.force_propagation();
    ctx.out().ok();
}

fn flushall(ctx: &mut Ctx) {
    let Some(lazy) = flush_mode(ctx) else {
        return;
    };
    let mut n = 0;
    for db in 0..ctx.srv.dbs.len() {
        ctx.srv.touch_all_watched_keys_in_db(db, None);
        server::blocking::signal_db_ready(ctx.srv, db);
    }
    for db in 0..ctx.srv.dbs.len() {
        n += ctx.srv.dbs[db].len() as u64;
        empty_db(ctx.srv, db, lazy);
    }
    ctx.srv.tracking_invalidate_all();
    ctx.dirty(n);
    // As Redis: a save (or a replica's streamed snapshot) under way is
    // abandoned, and with save points the empty dataset is saved at once
    // (which resets the change counter); the command reaches replicas and
    // the AOF even when nothing changed.
    server::persistence::save::abort_bgsave(ctx.srv);
    server::replication::fullsync::abort_transfer(ctx.srv, "the dataset was flushed");
    if !server::persistence::save::save_points(ctx.srv).is_empty() {
        let _ = server::persistence::save::save_sync(ctx.srv);
    }
    ctx.force_propagation();
    ctx.out().ok();
}

fn time(ctx: &mut Ctx) {
    let us = ctx.srv.now_us;
    let out = ctx.out();
    out.array(2);
    out.bulk_int(us / 1_000_000);
    out.bulk_int(us % 1_000_000);
}

/// SHUTDOWN [NOSAVE|SAVE] [NOW] [FORCE] [ABORT] (see `server::shutdown`).
/// The caller blocks without a reply: a master with lagging replicas
/// waits for them first. When the shutdown completes the process exits
/// and the connection closes unanswered, as Redis's; when it fails (the
/// final save, say) or `SHUTDOWN ABORT` cancels it, every client blocked
/// in SHUTDOWN gets an error and the server keeps running.
fn shutdown(ctx: &mut Ctx) {
    let mut flags = Flags::default();
    let mut abort = false;
    for a in ctx.argv.from(1) {
        if a.eq_ignore_ascii_case(b"NOSAVE") {
            flags.nosave = true;
        } else if a.eq_ignore_ascii_case(b"SAVE") {
            flags.save = true;
        } else if a.eq_ignore_ascii_case(b"NOW") {
            flags.now = true;
        } else if a.eq_ignore_ascii_case(b"FORCE") {
            flags.force = true;
        } else if a.eq_ignore_ascii_case(b"ABORT") {
            abort = true;
        } else {
            return ctx.err(errors::SYNTAX);
        }
    }
    if (flags.save && flags.nosave) || (abort && flags != Flags::default()) {
        return ctx.err(errors::SYNTAX);
    }
    if abort {
        if shutdown::abort(ctx.srv) {
            return ctx.out().ok();
        }
        return ctx.err(errors::NO_SHUTDOWN_IN_PROGRESS);
    }
    // While a script is busy only SHUTDOWN NOSAVE may stop the server
    // (the script is killed at its next hook call), and it does not wait
    // for replicas.
    if ctx.srv.scripting.timed_out() {
        if !flags.nosave {
            let msg = ctx.srv.scripting.busy_error();
            return ctx.err(msg);
        }
        flags.now = true;
    }
    if !flags.now && ctx.client.deny_blocking {
        return ctx.err(errors::SHUTDOWN_DENY_BLOCKING);
    }
    blocking::block(ctx, blocking::WaitFor::Shutdown, 0..0, 0);
    match shutdown::prepare(ctx.srv, flags) {
        Prepared::Exit => ctx.client.close_after_reply = true,
        Prepared::Waiting | Prepared::AlreadyStarted => {}
        // The other blocked clients were answered; the caller is borrowed
        // here, so it is answered here.
        Prepared::Failed => shutdown::answer_blocked(ctx.srv, ctx.client),
    }
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

/// `LATENCY GRAPH event`: an ASCII graph of the event's samples, as
/// Redis draws it (see `LatencyEvent::graph`).
fn latency_graph(ctx: &mut Ctx) {
    let name = String::from_utf8_lossy(ctx.argv.get(2)).into_owned();
    let now = server::util::time::unix_ms() / 1000;
    match ctx.srv.latency.events.get(name.as_str()) {
        Some(e) => {
            let g = e.graph(&name, now);
            ctx.out().verbatim(g.as_bytes());
        }
        None => ctx.err(&format!("ERR No samples available for event '{name}'")),
    }
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

/// `LATENCY HISTOGRAM [command ...]`: per command, its calls and the
/// cumulative distribution of its latencies in microseconds (a map of
/// maps). Unknown names are skipped; a container command stands for
/// itself and its subcommands. Only commands with recorded calls appear.
fn latency_histogram(ctx: &mut Ctx) {
    let wanted: Vec<usize> = if ctx.argv.len() == 2 {
        (0..ctx.srv.commands.commands.len()).collect()
    } else {
        let t = &ctx.srv.commands;
        let mut v = Vec::new();
        for name in ctx.argv.from(2) {
            let mut parts = name.splitn(2, |&c| c == b'|');
            let Some(top) = parts.next().and_then(|n| t.lookup(n)) else {
                continue;
            };
            match parts.next() {
                Some(sub) => v.extend(t.lookup_sub(top, sub)),
                None => {
                    v.push(top);
                    v.extend(t.commands[top].subcommands.values().copied());
                }
            }
        }
        v
    };
    let (srv, client) = ctx.parts();
    let out = &mut client.out;
    let mark = out.mark();
    let mut n = 0;
    for idx in wanted {
        let meta = srv.commands.commands[idx].meta;
        let key = server::latency::LatencyHistograms::key(meta);
        let Some(h) = srv.latency_hist.get(&key) else {
            continue;
        };
        n += 1;
        out.bulk(meta.name.as_bytes());
        out.map(2);
        out.bulk(b"calls");
        out.int(h.total() as i64);
        out.bulk(b"histogram_usec");
        let cdf = h.log_cdf();
        out.map(cdf.len());
        for (usec, count) in cdf {
            out.int(usec as i64);
            out.int(count as i64);
        }
    }
    out.insert_map_len(mark, n);
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
            "GRAPH <event>",
            "    An ASCII graph of the recent spikes of <event>.",
            "RESET [<event> ...]",
            "    Forgets the given events, or all of them.",
            "DOCTOR",
            "    A short report on the spikes seen.",
            "HISTOGRAM [<command> ...]",
            "    Per command: its calls and the cumulative distribution of its latencies",
            "    in microseconds (every command with calls when none is named).",
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
        server::monitor::repr(&mut v, b"a\"b\\c\n\x01 d");
        assert_eq!(String::from_utf8_lossy(&v), r#""a\"b\\c\n\x01 d""#);
    }

    #[test]
    fn time_is_two_bulk_strings() {
        let mut k = Kit::new();
        let t = k.run(&["TIME"]);
        assert!(t.starts_with("*2\r\n$10\r\n"), "{t}");
    }
}
