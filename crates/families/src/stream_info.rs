//! XINFO STREAM [FULL [COUNT n]] | GROUPS | CONSUMERS | HELP: what a
//! stream holds, in Redis 7.0's field order (maps in RESP3, flat arrays
//! in RESP2). Clock-dependent fields (`seen-time`, delivery times,
//! `idle`) are measured from the command's cached time.

use crate::client::help_reply;
use crate::streams::{is, reply_entry, reply_id};
use keyspace::stream::{Group, StreamId};
use keyspace::Stream;
use resp::Reply;
use server::cmd::{Ctx, Handler};
use server::errors;

pub const COMMANDS: &[(&str, Handler)] = &[
    ("xinfo|stream", xinfo_stream),
    ("xinfo|groups", xinfo_groups),
    ("xinfo|consumers", xinfo_consumers),
    ("xinfo|help", xinfo_help),
];

/// `ERR unknown subcommand or wrong number of arguments for 'STREAM'. Try
/// XINFO HELP.`
fn subcommand_error(ctx: &mut Ctx) {
    let parent = String::from_utf8_lossy(ctx.argv.get(0)).into_owned();
    let msg = errors::subcommand_syntax(ctx.argv.get(1), &parent);
    ctx.err(&msg);
}

/// Runs `f` on the stream at argument 2, or replies `ERR no such key` /
/// WRONGTYPE. The key is looked up before any option is checked, as in
/// Redis.
fn with_stream(ctx: &mut Ctx, f: impl FnOnce(&Stream, &mut Reply, i64) -> Result<(), String>) {
    let key = ctx.argv.get(2);
    let now = ctx.now_ms();
    let r = crate::lookup::with_value::<Stream, _>(ctx, key, |s, out| match s {
        None => Err(errors::NO_SUCH_KEY.to_string()),
        Some(s) => f(s, out, now),
    });
    match r {
        Err(_) => ctx.err(errors::WRONGTYPE),
        Ok(Err(msg)) => ctx.err(&msg),
        Ok(Ok(())) => {}
    }
}

/// What `FULL` asks for: None for the summary, else the entry limit
/// (0: all).
fn parse_full(ctx: &mut Ctx) -> Result<Option<usize>, ()> {
    let optc = ctx.argv.len() - 3;
    if optc == 0 {
        return Ok(None);
    }
    if (optc != 1 && optc != 3) || !is(ctx.argv.get(3), b"FULL") {
        subcommand_error(ctx);
        return Err(());
    }
    if optc == 1 {
        return Ok(Some(10));
    }
    if !is(ctx.argv.get(4), b"COUNT") {
        subcommand_error(ctx);
        return Err(());
    }
    match resp::parse_i64(ctx.argv.get(5)) {
        None => {
            ctx.err(errors::NOT_INTEGER);
            Err(())
        }
        Some(n) if n < 0 => Ok(Some(10)),
        Some(n) => Ok(Some(usize::try_from(n).unwrap_or(usize::MAX))),
    }
}

fn xinfo_stream(ctx: &mut Ctx) {
    let key = ctx.argv.get(2);
    // A missing key or another type is reported before bad options (the
    // look-up counts once, below).
    let (db, master) = (ctx.client.db, ctx.client.is_master());
    let is_stream = ctx
        .srv
        .find_live(db, key, master)
        .and_then(|i| ctx.srv.dbs[db].at(i))
        .is_some_and(|e| matches!(e.value, keyspace::Value::Stream(_)));
    let full = if is_stream {
        match parse_full(ctx) {
            Ok(f) => f,
            Err(()) => return,
        }
    } else {
        None
    };
    with_stream(ctx, |s, out, _| {
        let log = s.log();
        out.map(if full.is_some() { 9 } else { 10 });
        out.bulk(b"length");
        out.int(log.len() as i64);
        out.bulk(b"radix-tree-keys");
        out.int(log.node_count() as i64);
        out.bulk(b"radix-tree-nodes");
        out.int(log.rax_nodes() as i64);
        out.bulk(b"last-generated-id");
        reply_id(out, log.last_id());
        out.bulk(b"max-deleted-entry-id");
        reply_id(out, log.max_deleted());
        out.bulk(b"entries-added");
        out.int(log.entries_added() as i64);
        out.bulk(b"recorded-first-entry-id");
        reply_id(out, log.first_id());
        match full {
            None => {
                out.bulk(b"groups");
                out.int(s.groups().len() as i64);
                out.bulk(b"first-entry");
                match log.range(StreamId::MIN, StreamId::MAX, false).next() {
                    Some(e) => reply_entry(out, &e),
                    None => out.null(),
                }
                out.bulk(b"last-entry");
                match log.range(StreamId::MIN, StreamId::MAX, true).next() {
                    Some(e) => reply_entry(out, &e),
                    None => out.null(),
                }
            }
            Some(count) => {
                out.bulk(b"entries");
                crate::streams::reply_range(out, s, StreamId::MIN, StreamId::MAX, count, false);
                out.bulk(b"groups");
                out.array(s.groups().len());
                for (name, g) in s.groups() {
                    full_group(out, s, name, g, count);
                }
            }
        }
        Ok(())
    });
}

/// Entries-read, or null when unknown.
fn reply_entries_read(out: &mut Reply, g: &Group) {
    if g.entries_read == keyspace::stream::cgroup::ENTRIES_READ_UNKNOWN {
        out.null();
    } else {
        out.int(g.entries_read);
    }
}

fn reply_lag(out: &mut Reply, s: &Stream, g: &Group) {
    match g.lag(s.log()) {
        Some(n) => out.int(n),
        None => out.null(),
    }
}

/// One group of XINFO STREAM FULL (at most `count` pending entries per
/// list, 0: all).
fn full_group(out: &mut Reply, s: &Stream, name: &[u8], g: &Group, count: usize) {
    let limit = if count == 0 { usize::MAX } else { count };
    out.map(7);
    out.bulk(b"name");
    out.bulk(name);
    out.bulk(b"last-delivered-id");
    reply_id(out, g.last_id);
    out.bulk(b"entries-read");
    reply_entries_read(out, g);
    out.bulk(b"lag");
    reply_lag(out, s, g);
    out.bulk(b"pel-count");
    out.int(g.pending_count() as i64);
    out.bulk(b"pending");
    let pel: Vec<_> = g.pel().iter().take(limit).collect();
    out.array(pel.len());
    for (id, n) in pel {
        out.array(4);
        reply_id(out, *id);
        out.bulk(g.owner_name(n));
        out.int(n.delivery_time);
        out.int(n.delivery_count as i64);
    }
    out.bulk(b"consumers");
    out.array(g.consumer_count());
    for c in g.consumers() {
        out.map(4);
        out.bulk(b"name");
        out.bulk(&c.name);
        out.bulk(b"seen-time");
        out.int(c.seen_time);
        out.bulk(b"pel-count");
        out.int(c.pending().len() as i64);
        out.bulk(b"pending");
        let owned: Vec<_> = c.pending().iter().take(limit).collect();
        out.array(owned.len());
        for id in owned {
            out.array(3);
            reply_id(out, *id);
            let n = g.nack(*id);
            out.int(n.map_or(0, |n| n.delivery_time));
            out.int(n.map_or(0, |n| n.delivery_count as i64));
        }
    }
}

fn xinfo_groups(ctx: &mut Ctx) {
    with_stream(ctx, |s, out, _| {
        out.array(s.groups().len());
        for (name, g) in s.groups() {
            out.map(6);
            out.bulk(b"name");
            out.bulk(name);
            out.bulk(b"consumers");
            out.int(g.consumer_count() as i64);
            out.bulk(b"pending");
            out.int(g.pending_count() as i64);
            out.bulk(b"last-delivered-id");
            reply_id(out, g.last_id);
            out.bulk(b"entries-read");
            reply_entries_read(out, g);
            out.bulk(b"lag");
            reply_lag(out, s, g);
        }
        Ok(())
    });
}

fn xinfo_consumers(ctx: &mut Ctx) {
    let group = ctx.argv.get(3);
    let key = ctx.argv.get(2);
    with_stream(ctx, |s, out, now| {
        let Some(g) = s.group(group) else {
            return Err(errors::no_group_for_key(group, key));
        };
        out.array(g.consumer_count());
        for c in g.consumers() {
            out.map(3);
            out.bulk(b"name");
            out.bulk(&c.name);
            out.bulk(b"pending");
            out.int(c.pending().len() as i64);
            out.bulk(b"idle");
            out.int(now.saturating_sub(c.seen_time).max(0));
        }
        Ok(())
    });
}

fn xinfo_help(ctx: &mut Ctx) {
    help_reply(
        ctx,
        "XINFO <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        &[
            "CONSUMERS <key> <groupname>",
            "    The consumers of a group, with their pending entries and idle times.",
            "GROUPS <key>",
            "    The consumer groups of a stream.",
            "STREAM <key> [FULL [COUNT <count>]",
            "    A summary of the stream, or (FULL) its entries and groups in detail.",
        ],
    );
}
