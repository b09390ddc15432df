//! `DEBUG` (the subset test suites use: SLEEP, SET-ACTIVE-EXPIRE, OBJECT,
//! SEGFAULT, PANIC, HELP) and `MEMORY` (USAGE, STATS, DOCTOR, MALLOC-STATS, PURGE, HELP).
//!
//! DEBUG is refused unless `enable-debug-command` is `yes`, or `local` and
//! the connection comes from the loopback interface, as in Redis 7.0.

use crate::client::help_reply;
use crate::digest;
use keyspace::{Entry, Value};
use server::cmd::{Ctx, Handler};
use server::config::Directive;
use server::errors;

pub const COMMANDS: &[(&str, Handler)] = &[("debug", debug)];

fn debug_allowed(ctx: &Ctx) -> bool {
    match ctx
        .srv
        .config
        .get_str(Directive::EnableDebugCommand)
        .as_str()
    {
        "yes" => true,
        "local" => ctx.client.addr.is_none_or(server::net::is_local),
        _ => false,
    }
}

fn debug(ctx: &mut Ctx) {
    if !debug_allowed(ctx) {
        return ctx.err(errors::DEBUG_NOT_ALLOWED);
    }
    let sub = ctx.argv.get(1).to_ascii_lowercase();
    let argc = ctx.argv.len();
    match (sub.as_slice(), argc) {
        (b"help", 2) => debug_help(ctx),
        (b"sleep", 3) => {
            // Like Redis: the argument is read as a float, garbage is 0,
            // and the whole server sleeps (that is the point).
            let secs = std::str::from_utf8(ctx.argv.get(2))
                .ok()
                .and_then(|s| s.trim().parse::<f64>().ok())
                .filter(|s| s.is_finite() && *s > 0.0)
                .unwrap_or(0.0);
            std::thread::sleep(std::time::Duration::from_secs_f64(secs.min(3600.0)));
            ctx.out().ok();
        }
        (b"set-active-expire", 3) => {
            ctx.srv.active_expire_enabled = atoi(ctx.argv.get(2)) != 0;
            ctx.out().ok();
        }
        (b"object", 3) => debug_object(ctx),
        (b"populate", 3..=5) => debug_populate(ctx),
        (b"reload", _) => debug_reload(ctx),
        (b"loadaof", _) => debug_loadaof(ctx),
        (b"digest", 2) => {
            let d = digest::dataset_digest(&ctx.srv.dbs);
            ctx.out().simple(&digest::hex(&d));
        }
        (b"digest-value", _) => debug_digest_value(ctx),
        (b"protocol", 3) => debug_protocol(ctx),
        (b"error", 3) => {
            // Newlines would break the reply: Redis maps them to spaces.
            let msg: Vec<u8> = ctx
                .argv
                .get(2)
                .iter()
                .map(|&c| if c == b'\r' || c == b'\n' { b' ' } else { c })
                .collect();
            ctx.err(&String::from_utf8_lossy(&msg));
        }
        // Crashes on purpose, to check the crash report (`crash-log-enabled`,
        // `crash-memcheck-enabled`, `use-exit-on-panic`), as Redis's.
        (b"segfault", 2) => server::crash::segfault(),
        (b"panic", 2) => {
            let now = ctx.srv.now_ms / 1000;
            panic!("DEBUG PANIC called at Unix time {now}");
        }
        (b"log", 3) => {
            server::log_warning!("DEBUG LOG: {}", String::from_utf8_lossy(ctx.argv.get(2)));
            ctx.out().ok();
        }
        (b"change-repl-id", 2) => {
            server::log_warning!("Changing replication IDs after receiving DEBUG change-repl-id");
            server::replication::change_replication_id(ctx.srv);
            ctx.out().ok();
        }
        (b"set-disable-deny-scripts", 3) => {
            ctx.srv.scripting.disable_deny_scripts = atoi(ctx.argv.get(2)) != 0;
            ctx.out().ok();
        }
        (b"set-skip-checksum-validation", 3) => {
            ctx.srv.debug.skip_checksum_validation = atoi(ctx.argv.get(2)) != 0;
            ctx.out().ok();
        }
        (b"quicklist-packed-threshold", 3) => {
            let size = std::str::from_utf8(ctx.argv.get(2))
                .ok()
                .and_then(server::config::parse::parse_memory);
            // As Redis: up to 1 MB below 4 GB, and 0 restores the default.
            match size {
                Some(n) if (0..=(1 << 32) - (1 << 20)).contains(&n) => {
                    ctx.srv.debug.quicklist_packed_threshold =
                        if n == 0 { 1 << 30 } else { n as u64 };
                    ctx.out().ok();
                }
                _ => ctx
                    .err("ERR argument must be a memory value bigger than 1 and smaller than 4gb"),
            }
        }
        (b"aof-flush-sleep", 3) => {
            ctx.srv.debug.aof_flush_sleep_us = atoi(ctx.argv.get(2)).max(0) as u64;
            ctx.out().ok();
        }
        (b"pause-cron", 3) => {
            ctx.srv.debug.pause_cron = atoi(ctx.argv.get(2)) != 0;
            ctx.out().ok();
        }
        (b"replybuffer", 4) => debug_replybuffer(ctx),
        (b"listpack", 3) => debug_encoding_dump(ctx, "listpack", "Listpack"),
        (b"quicklist", 3 | 4) => debug_encoding_dump(ctx, "quicklist", "Quicklist"),
        (b"stringmatch-test", 2) => {
            ctx.out()
                .simple(b"Apparently Redis did not crash: test passed");
        }
        (b"config-rewrite-force-all", 2) => {
            let Some(path) = ctx.srv.config.file.clone() else {
                return ctx.err("ERR CONFIG-REWRITE-FORCE-ALL failed: No such file or directory");
            };
            match crate::config::rewrite_live_config(ctx, &path, true) {
                Ok(()) => ctx.out().ok(),
                Err(e) => {
                    let msg = format!(
                        "ERR CONFIG-REWRITE-FORCE-ALL failed: {}",
                        server::config::strerror(&e)
                    );
                    ctx.err(&msg);
                }
            }
        }
        (b"structsize", 2) => {
            // The sizes of Redis's structures, which clients only print:
            // ours have no counterpart, so Redis's 64-bit values are given.
            ctx.out().bulk(
                b"bits:64 robj:16 dictentry:24 sdshdr5:1 sdshdr8:3 sdshdr16:5 sdshdr32:9 sdshdr64:17 ",
            );
        }
        (b"drop-cluster-packet-filter", 3) => {
            let Some(kind) = resp::parse_i64(ctx.argv.get(2)) else {
                return ctx.err(errors::NOT_INTEGER);
            };
            if let Some(c) = ctx.srv.cluster.as_deref_mut() {
                c.drop_packet_filter = kind;
            }
            ctx.out().ok();
        }
        (b"clusterlink", 5) if ctx.argv.get(2).eq_ignore_ascii_case(b"kill") => {
            debug_clusterlink_kill(ctx);
        }
        (b"replicate", 3..) => {
            let args: Vec<&[u8]> = ctx.argv.from(2).collect();
            let db = ctx.client.db;
            server::replication::master::feed_replicas_only(ctx.srv, db, &args);
            ctx.out().ok();
        }
        _ => {
            let msg = errors::subcommand_syntax(ctx.argv.get(1), "debug");
            ctx.err(&msg);
        }
    }
}

/// `DEBUG CLUSTERLINK KILL TO|FROM|ALL <node-id>`: closes our bus link to
/// the node, its link to us, or both (the cron reconnects).
fn debug_clusterlink_kill(ctx: &mut Ctx) {
    let Some(c) = ctx.srv.cluster.as_deref_mut() else {
        return ctx.err("ERR Debug option only available for cluster mode enabled setup!");
    };
    let id = ctx.argv.get(4);
    let Some(name) = c.state.node_by_text(id).map(|n| n.name) else {
        let msg = format!("ERR Unknown node {}", String::from_utf8_lossy(id));
        return ctx.err(&msg);
    };
    let dir = ctx.argv.get(3).to_ascii_lowercase();
    match dir.as_slice() {
        b"to" => c.kill_links(&name, true, false),
        b"from" => c.kill_links(&name, false, true),
        b"all" => c.kill_links(&name, true, true),
        _ => {
            let msg = format!("ERR Unknown direction {}", String::from_utf8_lossy(&dir));
            return ctx.err(&msg);
        }
    }
    ctx.out().ok();
}

/// C's `atoi`: leading digits with an optional sign, 0 for anything else
/// (Redis reads DEBUG's switches this way).
fn atoi(s: &[u8]) -> i64 {
    let (neg, digits) = match s.first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let mut n: i64 = 0;
    for &c in digits.iter().take_while(|c| c.is_ascii_digit()) {
        n = n.saturating_mul(10).saturating_add(i64::from(c - b'0'));
    }
    if neg {
        -n
    } else {
        n
    }
}

/// `DEBUG DIGEST-VALUE key ...`: one digest per key, computed on the key
/// as stored (logically expired or not); a missing key digests as zeroes.
fn debug_digest_value(ctx: &mut Ctx) {
    let db = ctx.client.db;
    let argv = ctx.argv;
    let (srv, client) = ctx.parts();
    client.out.array(argv.len() - 2);
    for key in argv.from(2) {
        let mut d = [0u8; 20];
        if let Some(e) = srv.dbs[db].get(key) {
            digest::value_digest(&mut d, e);
        }
        client.out.simple(&digest::hex(&d));
    }
}

/// `DEBUG PROTOCOL <type>`: one reply of each RESP type, for clients to
/// test their parsers (redis-py and the test suite use it).
fn debug_protocol(ctx: &mut Ctx) {
    let name = ctx.argv.get(2).to_ascii_lowercase();
    let resp3 = ctx.client.out.resp3;
    let out = ctx.out();
    match name.as_slice() {
        b"string" => out.bulk(b"Hello World"),
        b"integer" => out.int(12345),
        // Redis's fixed sample value (not meant as pi).
        #[allow(clippy::approx_constant)]
        b"double" => crate::util::double::reply(out, 3.141),
        b"bignum" => out.big_number(b"1234567999999999999999999999999999999"),
        b"null" => out.null(),
        b"array" | b"set" => {
            if name == b"set" {
                out.set(3);
            } else {
                out.array(3);
            }
            for j in 0..3 {
                out.int(j);
            }
        }
        b"map" => {
            out.map(3);
            for j in 0..3 {
                out.int(j);
                out.boolean(j == 1);
            }
        }
        b"attrib" => {
            // RESP2 has no attributes: only the real reply follows.
            if resp3 {
                out.attribute(1);
                out.bulk(b"key-popularity");
                out.array(2);
                out.bulk(b"key:123");
                out.int(90);
            }
            out.bulk(b"Some real reply following the attribute");
        }
        b"push" => {
            if !resp3 {
                return ctx.err("ERR RESP2 is not supported by this command");
            }
            out.push(2);
            out.bulk(b"server-cpu-usage");
            out.int(42);
            out.bulk(b"Some real reply following the push reply");
        }
        b"true" => out.boolean(true),
        b"false" => out.boolean(false),
        b"verbatim" => out.verbatim(b"This is a verbatim\nstring"),
        _ => ctx.err(
            "ERR Wrong protocol type name. Please use one of the following: \
             string|integer|double|bignum|null|array|set|map|attrib|push|verbatim|true|false",
        ),
    }
}

/// `DEBUG REPLYBUFFER PEAK-RESET-TIME <ms|never|reset>` and `RESIZING
/// <0|1>`: how often the clients cron forgets a reply buffer's peak use,
/// and whether it resizes reply buffers at all (see
/// `server::client_buffers`).
fn debug_replybuffer(ctx: &mut Ctx) {
    let what = ctx.argv.get(2);
    let v = ctx.argv.get(3);
    let set = &mut ctx.srv.reply_buffer;
    if what.eq_ignore_ascii_case(b"peak-reset-time") {
        if v.eq_ignore_ascii_case(b"never") {
            set.peak_reset_ms = -1;
        } else if v.eq_ignore_ascii_case(b"reset") {
            set.peak_reset_ms = server::client_buffers::DEFAULT_PEAK_RESET_MS;
        } else {
            match resp::parse_i64(v) {
                Some(ms) => set.peak_reset_ms = ms,
                None => return ctx.err(errors::NOT_INTEGER),
            }
        }
    } else if what.eq_ignore_ascii_case(b"resizing") {
        // Redis reads the flag with atoi: anything but a number is 0.
        set.resizing = atoi(v) != 0;
    } else {
        let msg = errors::subcommand_syntax(ctx.argv.get(1), "debug");
        return ctx.err(&msg);
    }
    ctx.out().ok();
}

/// `DEBUG LISTPACK key` / `DEBUG QUICKLIST key [full]`: Redis prints the
/// structure on its standard output; we write a summary to the log, with
/// Redis's replies and errors.
fn debug_encoding_dump(ctx: &mut Ctx, encoding: &str, title: &str) {
    let db = ctx.client.db;
    let Some(e) = ctx.srv.dbs[db].get(ctx.argv.get(2)) else {
        return ctx.err(errors::NO_SUCH_KEY);
    };
    if e.value.encoding() != encoding {
        return ctx.err(&format!("ERR Not a {encoding} encoded object."));
    }
    server::log_notice!(
        "{title} of a {} with {} bytes of data",
        e.value.type_name(),
        e.value.heap_size()
    );
    ctx.out()
        .simple(format!("{title} structure printed on stdout").as_bytes());
}

/// Bytes of the length prefix RDB writes before a string of `len` bytes.
fn rdb_len_bytes(len: usize) -> usize {
    if len < 1 << 6 {
        1
    } else if len < 1 << 14 {
        2
    } else if len <= u32::MAX as usize {
        5
    } else {
        9
    }
}

/// Size of a value in an RDB file, without compression (Redis's
/// `serializedlength`).
fn serialized_len(e: &Entry) -> usize {
    let mut scratch = [0u8; 24];
    // Other value types arrive with their own families.
    #[allow(unreachable_patterns)]
    match &e.value {
        Value::Str(s) => {
            if let keyspace::StrValue::Int(n) = s {
                // Integers are stored in 1, 2 or 4 bytes after a type byte.
                if i8::try_from(*n).is_ok() {
                    return 2;
                } else if i16::try_from(*n).is_ok() {
                    return 3;
                } else if i32::try_from(*n).is_ok() {
                    return 5;
                }
            }
            let len = s.as_bytes(&mut scratch).len();
            rdb_len_bytes(len) + len
        }
        other => other.heap_size() + 1,
    }
}

fn debug_object(ctx: &mut Ctx) {
    let key = ctx.argv.get(2);
    let lru_clock = ctx.srv.lru_clock;
    // The key as stored, expired or not (Redis looks in the dictionary
    // directly).
    let db = ctx.client.db;
    let Some(i) = ctx.srv.dbs[db].find(key) else {
        return ctx.err(errors::NO_SUCH_KEY);
    };
    let Some(e) = ctx.srv.dbs[db].at(i) else {
        return ctx.err(errors::NO_SUCH_KEY);
    };
    // Small integers are shared objects in Redis, reported with the
    // "immortal" reference count.
    let shared =
        matches!(&e.value, Value::Str(keyspace::StrValue::Int(n)) if (0..10000).contains(n));
    let refcount: i64 = if shared { i32::MAX as i64 } else { 1 };
    let idle = lru_clock.wrapping_sub(e.lru) & 0xFF_FFFF;
    let line = format!(
        "Value at:{:p} refcount:{refcount} encoding:{} serializedlength:{} lru:{} lru_seconds_idle:{idle}",
        e as *const Entry,
        e.value.encoding(),
        serialized_len(e),
        e.lru,
    );
    ctx.out().simple(line.as_bytes());
}

fn debug_help(ctx: &mut Ctx) {
    help_reply(
        ctx,
        "DEBUG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        &[
            "AOF-FLUSH-SLEEP <microsec>",
            "    Waits this long before each flush of the AOF.",
            "CHANGE-REPL-ID",
            "    Starts a new replication history (new id, no previous one).",
            "CLUSTERLINK KILL <to|from|all> <node-id>",
            "    Closes the cluster bus links to or from a node (cluster mode).",
            "DIGEST",
            "    A fingerprint of the whole dataset (40 zeroes when empty).",
            "DIGEST-VALUE <key> [<key> ...]",
            "    A fingerprint of each value, comparable with Redis's.",
            "DROP-CLUSTER-PACKET-FILTER <message-type>",
            "    Ignores incoming cluster bus messages of that type (-1: none).",
            "ERROR <string>",
            "    Replies with <string> as an error.",
            "LISTPACK <key>, QUICKLIST <key> [<0|1>]",
            "    Logs the layout of a listpack or quicklist encoded value.",
            "LOADAOF",
            "    Empties the dataset and loads it again from the AOF files.",
            "LOG <message>",
            "    Writes <message> to the server log.",
            "OBJECT <key>",
            "    Internal details of the value at <key> (encoding, sizes, access time).",
            "PANIC",
            "    Crashes the server as a broken invariant does (a crash report in the log).",
            "PAUSE-CRON <0|1>",
            "    Stops or restarts the periodic tasks.",
            "POPULATE <count> [<prefix>] [<size>]",
            "    Creates <count> string keys named <prefix>:<n> (default prefix \"key\").",
            "PROTOCOL <type>",
            "    One reply of a RESP type: string, integer, double, bignum, null, array,",
            "    set, map, attrib, push, verbatim, true or false.",
            "QUICKLIST-PACKED-THRESHOLD <size>",
            "    List elements from <size> bytes on are stored as plain nodes.",
            "RELOAD [MERGE] [NOFLUSH] [NOSAVE]",
            "    Saves the RDB, empties the dataset and loads the RDB back.",
            "REPLICATE <command> [<arg> ...]",
            "    Sends a command to the replicas only.",
            "REPLYBUFFER PEAK-RESET-TIME <never|reset|<ms>>, REPLYBUFFER RESIZING <0|1>",
            "    Reply buffer tuning (accepted; our buffers need none).",
            "SEGFAULT",
            "    Crashes the server with SIGSEGV (a crash report in the log).",
            "SET-ACTIVE-EXPIRE <0|1>",
            "    Turns the periodic expiry of keys off or on (lazy expiry stays on).",
            "SET-DISABLE-DENY-SCRIPTS <0|1>",
            "    Lets scripts run the commands normally refused to them (for tests).",
            "SET-SKIP-CHECKSUM-VALIDATION <0|1>",
            "    Takes RESTORE payloads without checking their checksum.",
            "SLEEP <seconds>",
            "    Blocks the whole server for <seconds> (a float).",
            "STRUCTSIZE",
            "    Sizes of Redis's internal structures.",
        ],
    );
}

/// DEBUG POPULATE count [prefix] [size]: creates `prefix:N` keys holding
/// `value:N` (cut or zero-padded to `size`), skipping existing keys, as
/// Redis's test helper does.
fn debug_populate(ctx: &mut Ctx) {
    let Some(count) = resp::parse_i64(ctx.argv.get(2)).filter(|n| *n >= 0) else {
        return ctx.err("ERR value is out of range, must be positive");
    };
    let prefix: Vec<u8> = if ctx.argv.len() > 3 {
        ctx.argv.get(3).to_vec()
    } else {
        b"key".to_vec()
    };
    let size = if ctx.argv.len() > 4 {
        match resp::parse_i64(ctx.argv.get(4)).filter(|n| *n >= 0) {
            Some(n) => Some(n as usize),
            None => return ctx.err(errors::NOT_INTEGER),
        }
    } else {
        None
    };
    let lru = ctx.srv.lru_clock;
    let mut key = Vec::with_capacity(prefix.len() + 21);
    for j in 0..count {
        key.clear();
        key.extend_from_slice(&prefix);
        key.push(b':');
        key.extend_from_slice(j.to_string().as_bytes());
        if ctx.db().contains(&key) {
            continue;
        }
        let mut val = format!("value:{j}").into_bytes();
        if let Some(n) = size {
            val.resize(n, 0);
        }
        let v = keyspace::Value::Str(keyspace::StrValue::from_bytes(&val));
        ctx.db().insert(&key, v, keyspace::NO_EXPIRE, lru);
    }
    ctx.out().ok();
}

/// `DEBUG RELOAD [MERGE] [NOFLUSH] [NOSAVE]`: save the dataset, empty it
/// and load it back (each step can be left out), which exercises both
/// directions of the RDB code in one command.
fn debug_reload(ctx: &mut Ctx) {
    let (mut flush, mut save, mut merge) = (true, true, false);
    for opt in ctx.argv.from(2) {
        if opt.eq_ignore_ascii_case(b"MERGE") {
            // Libraries (and keys: loading over existing keys replaces
            // them) may be replaced by the file's.
            merge = true;
        } else if opt.eq_ignore_ascii_case(b"NOFLUSH") {
            flush = false;
        } else if opt.eq_ignore_ascii_case(b"NOSAVE") {
            save = false;
        } else {
            return ctx
                .err("ERR DEBUG RELOAD only supports the MERGE, NOFLUSH and NOSAVE options.");
        }
    }
    if save && server::persistence::save::save_sync(ctx.srv).is_err() {
        return ctx.err("ERR");
    }
    if flush {
        for db in &mut ctx.srv.dbs {
            db.clear();
        }
        ctx.srv.scripting.functions.flush();
    }
    match server::persistence::load::load_file_merging(ctx.srv, merge) {
        Ok(()) => {
            server::log_warning!("DB reloaded by DEBUG RELOAD");
            ctx.out().ok()
        }
        Err(e) => {
            server::log_warning!("{e}");
            ctx.err("ERR Error trying to load the RDB dump, check server logs.")
        }
    }
}

/// `DEBUG LOADAOF`: the dataset emptied and loaded again from the AOF
/// files. Redis exits when they cannot be loaded; so do we, with the
/// reason in the log.
fn debug_loadaof(ctx: &mut Ctx) {
    match server::persistence::aof::load::reload_sync(ctx.srv) {
        Ok(()) => {
            server::log_warning!("Append Only File loaded by DEBUG LOADAOF");
            ctx.out().ok();
        }
        // The loader logged why, as Redis does before it exits.
        Err(_) => std::process::exit(1),
    }
}

#[cfg(test)]
mod tests {
    use crate::testkit::Kit;

    #[test]
    fn debug_refused_unless_enabled() {
        let mut k = Kit::new();
        let _ = k.srv.config.set("enable-debug-command", &["no".into()]);
        let r = k.run(&["DEBUG", "SLEEP", "0"]);
        assert!(r.starts_with("-ERR DEBUG command not allowed."), "{r}");
        let _ = k.srv.config.set("enable-debug-command", &["local".into()]);
        assert_eq!(k.run(&["DEBUG", "SLEEP", "0"]), "+OK\r\n");
    }

    #[test]
    fn debug_object_and_errors() {
        let mut k = Kit::new();
        let _ = k.srv.config.set("enable-debug-command", &["yes".into()]);
        k.run(&["SET", "k", "hello"]);
        let r = k.run(&["DEBUG", "OBJECT", "k"]);
        assert!(r.starts_with("+Value at:0x"), "{r}");
        assert!(
            r.contains(" refcount:1 encoding:embstr serializedlength:6 lru:"),
            "{r}"
        );
        assert_eq!(k.run(&["DEBUG", "OBJECT", "nokey"]), "-ERR no such key\r\n");
        assert_eq!(
            k.run(&["DEBUG", "OBJECT"]),
            "-ERR unknown subcommand or wrong number of arguments for 'OBJECT'. Try DEBUG HELP.\r\n"
        );
        assert_eq!(k.run(&["DEBUG", "SET-ACTIVE-EXPIRE", "0"]), "+OK\r\n");
        assert!(!k.srv.active_expire_enabled);
    }
}
