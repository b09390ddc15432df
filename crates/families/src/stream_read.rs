//! XREAD and XREADGROUP (`xreadCommand` in Redis's `t_stream.c`), with
//! their blocking forms.
//!
//! A read that finds nothing and was given `BLOCK` waits through the
//! engine's `blocking` module: the client is queued on every key it named
//! with, per key, the ID entries must be above (`$` resolved to the
//! stream's last ID at that moment), the group and consumer, and the
//! count (1000 when none was given, as Redis caps a blocked read). When a
//! key is signalled, the engine serves the waiters whose stream now has
//! something for them by running the one-key form of the read
//! (`XREAD COUNT n STREAMS key id`, `XREADGROUP GROUP g c COUNT n [NOACK]
//! STREAMS key >`), whose reply is the one Redis sends a served client.
//!
//! XREADGROUP is never propagated as such: each delivery goes out as the
//! XCLAIM that creates its pending entry on a replica, a NOACK read as
//! `XGROUP SETID ... ENTRIESREAD` (and `XGROUP CREATECONSUMER` when it
//! created the consumer), as Redis 7.0 does.

use crate::stream_groups::{consumer_for, setid_effect, xclaim_effect, Effects};
use crate::streams::{is, is_exactly, reply_entry, reply_id, with_stream};
use command_meta::Argv;
use keyspace::stream::{parse_id, IdSyntax, StreamId};
use keyspace::Stream;
use resp::Reply;
use server::blocking::{self, StreamWait};
use server::cmd::{Ctx, Handler};
use server::errors::{self, WrongType};

pub const COMMANDS: &[(&str, Handler)] = &[("xread", xread), ("xreadgroup", xreadgroup)];

/// What Redis serves a blocked read at most when it named no COUNT.
const BLOCKED_DEFAULT_COUNT: u64 = 1000;

/// A parsed XREAD/XREADGROUP.
struct ReadArgs<'a> {
    /// Milliseconds to block (0: forever), None without BLOCK.
    block_ms: Option<i64>,
    count: u64,
    group: Option<(&'a [u8], &'a [u8])>,
    noack: bool,
    /// Position of the first key, and how many keys.
    keys_at: usize,
    nkeys: usize,
}

fn xread(ctx: &mut Ctx) {
    read_generic(ctx, false);
}

fn xreadgroup(ctx: &mut Ctx) {
    read_generic(ctx, true);
}

/// Parses the options up to STREAMS, with Redis's errors in its order.
fn parse<'a>(ctx: &mut Ctx<'a>, group_form: bool) -> Option<ReadArgs<'a>> {
    let argv: Argv<'a> = ctx.argv;
    let argc = argv.len();
    let mut a = ReadArgs {
        block_ms: None,
        count: 0,
        group: None,
        noack: false,
        keys_at: 0,
        nkeys: 0,
    };
    let mut i = 1;
    while i < argc {
        let more = argc - i - 1;
        let o = ctx.argv.get(i);
        if is(o, b"BLOCK") && more > 0 {
            // Scripts may not block (Redis refuses the option itself).
            if ctx.client.script {
                let msg = errors::block_in_script(ctx.argv.get(0));
                ctx.err(&msg);
                return None;
            }
            i += 1;
            let Some(ms) = resp::parse_i64(ctx.argv.get(i)) else {
                ctx.err(errors::TIMEOUT_NOT_INTEGER);
                return None;
            };
            if ms < 0 {
                ctx.err(errors::TIMEOUT_NEGATIVE);
                return None;
            }
            a.block_ms = Some(ms);
        } else if is(o, b"COUNT") && more > 0 {
            i += 1;
            let Some(n) = resp::parse_i64(ctx.argv.get(i)) else {
                ctx.err(errors::NOT_INTEGER);
                return None;
            };
            a.count = n.max(0) as u64;
        } else if is(o, b"STREAMS") && more > 0 {
            a.keys_at = i + 1;
            let n = argc - a.keys_at;
            if !n.is_multiple_of(2) {
                ctx.err(errors::XREAD_UNBALANCED);
                return None;
            }
            a.nkeys = n / 2;
            break;
        } else if is(o, b"GROUP") && more >= 2 {
            if !group_form {
                ctx.err(errors::XREAD_GROUP_OPTION);
                return None;
            }
            a.group = Some((argv.get(i + 1), argv.get(i + 2)));
            i += 2;
        } else if is(o, b"NOACK") {
            if !group_form {
                ctx.err(errors::XREAD_NOACK_OPTION);
                return None;
            }
            a.noack = true;
        } else {
            ctx.err(errors::SYNTAX);
            return None;
        }
        i += 1;
    }
    if a.keys_at == 0 {
        ctx.err(errors::SYNTAX);
        return None;
    }
    Some(a)
}

/// What a key's ID argument asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum From {
    /// Entries above this ID (an explicit ID, or `$` resolved).
    After(StreamId),
    /// `>`: entries never delivered to the group.
    New,
}

fn read_generic(ctx: &mut Ctx, group_form: bool) {
    ctx.suppress_propagation();
    let Some(a) = parse(ctx, group_form) else {
        return;
    };
    if group_form && a.group.is_none() {
        return ctx.err(errors::XREADGROUP_WITHOUT_GROUP);
    }
    // Resolve each key's ID, checking types and groups as Redis does.
    let mut from = Vec::with_capacity(a.nkeys);
    for k in 0..a.nkeys {
        let key = ctx.argv.get(a.keys_at + k);
        let arg = ctx.argv.get(a.keys_at + a.nkeys + k);
        let group = a.group.map(|(g, _)| g);
        let seen = with_stream(ctx, key, true, |s, _| {
            let s = s.as_deref();
            let has_group = group.is_none_or(|g| s.is_some_and(|s| s.group(g).is_some()));
            (s.map(|s| s.log().last_id()), has_group)
        });
        let (last, has_group) = match seen {
            Err(WrongType) => return ctx.err(errors::WRONGTYPE),
            Ok(x) => x,
        };
        if !has_group {
            let g = a.group.map_or(&b""[..], |(g, _)| g);
            return ctx.err(&errors::xreadgroup_no_group(key, g));
        }
        if is_exactly(arg, b"$") {
            if group_form {
                return ctx.err(errors::XREADGROUP_DOLLAR);
            }
            from.push(From::After(last.unwrap_or(StreamId::MIN)));
        } else if is_exactly(arg, b">") {
            if !group_form {
                return ctx.err(errors::XREAD_GREATER_ID);
            }
            from.push(From::New);
        } else {
            match parse_id(arg, IdSyntax::STRICT) {
                // The largest ID is how Redis marks `>`, and reads as one.
                Some(p) if p.id == StreamId::MAX && group_form => from.push(From::New),
                Some(p) => from.push(From::After(p.id)),
                None => return ctx.err(errors::STREAM_ID_INVALID),
            }
        }
    }
    let now = ctx.now_ms();
    let mut served = 0;
    let mark = ctx.out().mark();
    for (k, f) in from.iter().enumerate() {
        let key = ctx.argv.get(a.keys_at + k);
        let mut fx = Effects::new(ctx);
        let r = with_stream(ctx, key, true, |s, out| {
            let Some(s) = s else { return false };
            serve_key(s, out, key, *f, &a, now, &mut fx)
        });
        if r == Ok(true) {
            served += 1;
            if a.group.is_some() {
                fx.dirty += 1;
            }
        }
        fx.apply(ctx, key);
    }
    if served > 0 {
        let out = ctx.out();
        if out.resp3 {
            out.insert_map_len(mark, served);
        } else {
            out.insert_array_len(mark, served);
        }
        return;
    }
    let Some(ms) = a.block_ms else {
        return ctx.out().null_array();
    };
    if !blocking::may_block(ctx) {
        return ctx.out().null_array();
    }
    block(ctx, &a, &from, ms);
}

/// Serves one key if it has something for the reader, writing
/// `key, [entries]` (inside a two-element array in RESP2); returns
/// whether it did.
fn serve_key(
    s: &mut Stream,
    out: &mut Reply,
    key: &[u8],
    f: From,
    a: &ReadArgs,
    now: i64,
    fx: &mut Effects,
) -> bool {
    let (group, consumer_name) = match a.group {
        Some((g, c)) => (Some(g), c),
        None => (None, &b""[..]),
    };
    // From which ID, and whether it is the consumer's own history.
    let (after, history) = match (f, group) {
        (From::After(id), Some(_)) => (id, true),
        (From::After(id), None) => {
            if s.is_empty() || s.log().last_valid_id().is_none_or(|top| top <= id) {
                return false;
            }
            (id, false)
        }
        (From::New, _) => {
            let Some(g) = group.and_then(|g| s.group(g)) else {
                return false;
            };
            if s.is_empty() || s.log().last_valid_id().is_none_or(|top| top <= g.last_id) {
                return false;
            }
            (g.last_id, false)
        }
    };
    if !out.resp3 {
        out.array(2);
    }
    out.bulk(key);
    let start = after.next().unwrap_or(StreamId::MAX);
    let Some(gname) = group else {
        crate::streams::reply_range(out, s, start, StreamId::MAX, a.count as usize, false);
        return true;
    };
    let (log, groups) = s.parts_mut();
    let Some(g) = groups.get_mut(gname) else {
        out.array(0);
        return true;
    };
    let created = g.find_consumer(consumer_name).is_none();
    let consumer = consumer_for(g, consumer_name, now, fx);
    if created && a.noack {
        fx.push(|| {
            vec![
                b"XGROUP".to_vec(),
                b"CREATECONSUMER".to_vec(),
                key.to_vec(),
                gname.to_vec(),
                consumer_name.to_vec(),
            ]
        });
    }
    let limit = if a.count == 0 { u64::MAX } else { a.count };
    let mark = out.mark();
    let mut n = 0u64;
    if history {
        // The consumer's own pending entries from `start`: each one
        // delivered again, or `[id, nil]` when the stream lost it.
        let owned: Vec<StreamId> = g
            .consumer(consumer)
            .map(|c| {
                c.pending()
                    .range(start..)
                    .copied()
                    .take(limit as usize)
                    .collect()
            })
            .unwrap_or_default();
        for id in owned {
            match log.range(id, id, false).next() {
                Some(e) => {
                    reply_entry(out, &e);
                    g.redeliver(id, now);
                }
                None => {
                    out.array(2);
                    reply_id(out, id);
                    out.null_array();
                }
            }
            n += 1;
        }
    } else {
        let mut moved = false;
        for e in log.range(start, StreamId::MAX, false) {
            if g.advance(log, e.id) && a.noack {
                moved = true;
            }
            reply_entry(out, &e);
            if !a.noack {
                let nack = g.deliver(e.id, consumer, now);
                fx.push(|| xclaim_effect(key, gname, g, &e.id.to_vec(), &nack));
            }
            n += 1;
            if n == limit {
                break;
            }
        }
        if moved {
            fx.push(|| setid_effect(key, gname, g));
        }
    }
    out.insert_array_len(mark, n as usize);
    true
}

/// Blocks the caller on its keys (each once, with the ID of its first
/// mention, as Redis keeps them).
fn block(ctx: &mut Ctx, a: &ReadArgs, from: &[From], ms: i64) {
    let deadline = if ms == 0 {
        0
    } else {
        ctx.now_ms().saturating_add(ms)
    };
    let mut keys: Vec<Vec<u8>> = Vec::with_capacity(from.len());
    let mut after = Vec::with_capacity(from.len());
    for (k, f) in from.iter().enumerate() {
        let key = ctx.argv.get(a.keys_at + k);
        if keys.iter().any(|x| x == key) {
            continue;
        }
        keys.push(key.to_vec());
        after.push(match f {
            From::After(id) => *id,
            From::New => StreamId::MAX,
        });
    }
    let wait = StreamWait {
        after,
        group: a.group.map(|(g, c)| (g.to_vec(), c.to_vec(), a.noack)),
        count: if a.count == 0 {
            BLOCKED_DEFAULT_COUNT
        } else {
            a.count
        },
    };
    blocking::block_stream(ctx, keys, deadline, wait);
}
