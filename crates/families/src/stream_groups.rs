//! Consumer-group commands (`t_stream.c` in Redis): XGROUP CREATE |
//! SETID | DESTROY | CREATECONSUMER | DELCONSUMER | HELP, XACK,
//! XPENDING, XCLAIM and XAUTOCLAIM. Reading through a group (XREADGROUP)
//! is in `stream_read.rs`.
//!
//! Propagation, as Redis 7.0 does it: XGROUP and XACK go out verbatim.
//! XCLAIM and XAUTOCLAIM never do; each pending entry they change goes
//! out as the idempotent `XCLAIM key group consumer 0 id TIME <ms>
//! RETRYCOUNT <n> FORCE JUSTID LASTID <group last id>` (also for an entry
//! dropped from the PEL because the stream no longer has it: the replica,
//! not finding it either, drops it too), and an XCLAIM that only moved the
//! group's last ID (LASTID) goes out as `XGROUP SETID ... ENTRIESREAD`.

use crate::client::help_reply;
use crate::streams::{
    create_stream, is, is_exactly, range_end, range_start, reply_entry, reply_id, strict_id,
    strict_ids, with_stream,
};
use keyspace::stream::cgroup::ENTRIES_READ_UNKNOWN;
use keyspace::stream::{parse_id, ConsumerRef, Group, IdSyntax, Nack, StreamId};
use keyspace::Stream;
use server::cmd::{Ctx, Handler};
use server::errors::{self, WrongType};
use server::notify::class;

pub const COMMANDS: &[(&str, Handler)] = &[
    ("xgroup|create", xgroup),
    ("xgroup|setid", xgroup),
    ("xgroup|destroy", xgroup),
    ("xgroup|createconsumer", xgroup),
    ("xgroup|delconsumer", xgroup),
    ("xgroup|help", xgroup_help),
    ("xack", xack),
    ("xpending", xpending),
    ("xclaim", xclaim),
    ("xautoclaim", xautoclaim),
];

/// Effects a group command leaves for after its reply: commands to
/// propagate, keyspace events, dataset changes.
#[derive(Default)]
pub(crate) struct Effects {
    /// Whether propagated commands are recorded at all (no replica, no
    /// AOF: the XCLAIMs are not even spelt out).
    pub record: bool,
    pub propagate: Vec<Vec<Vec<u8>>>,
    pub events: Vec<&'static str>,
    pub dirty: u64,
}

impl Effects {
    pub fn new(ctx: &Ctx) -> Effects {
        Effects {
            record: ctx.srv.journal.wanted(),
            ..Effects::default()
        }
    }

    /// Queues a command to propagate, built only when it will be kept.
    pub fn push(&mut self, args: impl FnOnce() -> Vec<Vec<u8>>) {
        if self.record {
            self.propagate.push(args());
        }
    }

    /// Hands the effects to the engine, in the order they happened.
    pub fn apply(self, ctx: &mut Ctx, key: &[u8]) {
        for ev in self.events {
            ctx.notify(class::STREAM, ev, key);
        }
        for args in &self.propagate {
            let refs: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
            ctx.propagate(&refs);
        }
        ctx.dirty(self.dirty);
    }
}

/// The XCLAIM that recreates the state of pending entry `id` on a replica
/// (Redis's `streamPropagateXCLAIM`): owner, delivery time and count, and
/// the group's last delivered ID. `id_arg` is the ID as the client wrote
/// it, when it wrote one.
pub(crate) fn xclaim_effect(
    key: &[u8],
    group_name: &[u8],
    g: &Group,
    id_arg: &[u8],
    nack: &Nack,
) -> Vec<Vec<u8>> {
    let owner = g.owner_name(nack).to_vec();
    vec![
        b"XCLAIM".to_vec(),
        key.to_vec(),
        group_name.to_vec(),
        owner,
        b"0".to_vec(),
        id_arg.to_vec(),
        b"TIME".to_vec(),
        nack.delivery_time.to_string().into_bytes(),
        b"RETRYCOUNT".to_vec(),
        nack.delivery_count.to_string().into_bytes(),
        b"FORCE".to_vec(),
        b"JUSTID".to_vec(),
        b"LASTID".to_vec(),
        g.last_id.to_vec(),
    ]
}

/// `XGROUP SETID key group <last id> ENTRIESREAD <n>` (Redis's
/// `streamPropagateGroupID`).
pub(crate) fn setid_effect(key: &[u8], group_name: &[u8], g: &Group) -> Vec<Vec<u8>> {
    vec![
        b"XGROUP".to_vec(),
        b"SETID".to_vec(),
        key.to_vec(),
        group_name.to_vec(),
        g.last_id.to_vec(),
        b"ENTRIESREAD".to_vec(),
        g.entries_read.to_string().into_bytes(),
    ]
}

/// Whether the stream at `key` has the group (a read look-up, as Redis's
/// group commands make first).
fn has_group(ctx: &mut Ctx, key: &[u8], group: &[u8]) -> Result<bool, WrongType> {
    with_stream(ctx, key, true, |s, _| {
        s.is_some_and(|s| s.group(group).is_some())
    })
}

/// The consumer `name` of `g`, created if missing (with Redis's
/// `xgroup-createconsumer` event and a dataset change); looking it up
/// marks it active.
pub(crate) fn consumer_for(g: &mut Group, name: &[u8], now: i64, fx: &mut Effects) -> ConsumerRef {
    if let Some(r) = g.find_consumer(name) {
        g.touch(r, now);
        return r;
    }
    fx.events.push("xgroup-createconsumer");
    fx.dirty += 1;
    g.create_consumer(name, now).unwrap_or(ConsumerRef::MAX)
}

// ---------------------------------------------------------------------------
// XGROUP
// ---------------------------------------------------------------------------

fn subcommand_error(ctx: &mut Ctx) {
    let parent = String::from_utf8_lossy(ctx.argv.get(0)).into_owned();
    let msg = errors::subcommand_syntax(ctx.argv.get(1), &parent);
    ctx.err(&msg);
}

/// XGROUP CREATE|SETID|DESTROY|CREATECONSUMER|DELCONSUMER: one handler,
/// as in Redis, so its checks come in Redis's order (options, key,
/// group, then the subcommand's own).
fn xgroup(ctx: &mut Ctx) {
    let argc = ctx.argv.len();
    let sub = ctx.argv.get(1);
    let create = is(sub, b"CREATE");
    let setid = is(sub, b"SETID");
    let mut mkstream = false;
    let mut entries_read = ENTRIES_READ_UNKNOWN;
    let mut i = 5;
    while i < argc {
        let opt = ctx.argv.get(i);
        if create && is(opt, b"MKSTREAM") {
            mkstream = true;
            i += 1;
        } else if (create || setid) && is(opt, b"ENTRIESREAD") && i + 1 < argc {
            let Some(n) = resp::parse_i64(ctx.argv.get(i + 1)) else {
                return ctx.err(errors::NOT_INTEGER);
            };
            if n < 0 && n != ENTRIES_READ_UNKNOWN {
                return ctx.err(errors::XGROUP_ENTRIES_READ);
            }
            entries_read = n;
            i += 2;
        } else {
            return subcommand_error(ctx);
        }
    }
    let key = ctx.argv.get(2);
    let group = ctx.argv.get(3);
    // What the key holds: (exists, last ID, has the group).
    let found = match crate::lookup::value_mut::<Stream>(ctx, key) {
        Err(WrongType) => return ctx.err(errors::WRONGTYPE),
        Ok(s) => s.map(|s| (s.log().last_id(), s.group(group).is_some())),
    };
    if !mkstream {
        let Some((_, has_group)) = found else {
            return ctx.err(errors::XGROUP_NO_KEY);
        };
        let needs_group = setid || is(sub, b"CREATECONSUMER") || is(sub, b"DELCONSUMER");
        if needs_group && !has_group {
            return ctx.err(&errors::no_group_for_key(group, key));
        }
    }
    let last_id = found.map_or(StreamId::MIN, |(id, _)| id);
    if create && (5..=8).contains(&argc) {
        let id = if is_exactly(ctx.argv.get(4), b"$") {
            last_id
        } else {
            match strict_id(ctx, ctx.argv.get(4)) {
                Some(id) => id,
                None => return,
            }
        };
        if found.is_none() {
            create_stream(ctx, key);
            ctx.modified(key);
        }
        let created = crate::lookup::value_mut::<Stream>(ctx, key)
            .is_ok_and(|s| s.is_some_and(|s| s.create_group(group, id, entries_read)));
        if !created {
            return ctx.err(errors::BUSYGROUP);
        }
        ctx.out().ok();
        ctx.dirty(1);
        ctx.notify(class::STREAM, "xgroup-create", key);
    } else if setid && (argc == 5 || argc == 7) {
        let id = if is_exactly(ctx.argv.get(4), b"$") {
            last_id
        } else {
            match parse_id(ctx.argv.get(4), IdSyntax::bound(0)) {
                Some(p) => p.id,
                None => return ctx.err(errors::STREAM_ID_INVALID),
            }
        };
        if let Ok(Some(g)) =
            crate::lookup::value_mut::<Stream>(ctx, key).map(|s| s.and_then(|s| s.group_mut(group)))
        {
            g.last_id = id;
            g.entries_read = entries_read;
        }
        ctx.out().ok();
        ctx.dirty(1);
        ctx.notify(class::STREAM, "xgroup-setid", key);
    } else if is(sub, b"DESTROY") && argc == 4 {
        let destroyed = crate::lookup::value_mut::<Stream>(ctx, key)
            .is_ok_and(|s| s.is_some_and(|s| s.destroy_group(group)));
        if destroyed {
            ctx.out().int(1);
            ctx.dirty(1);
            ctx.notify(class::STREAM, "xgroup-destroy", key);
            // Clients blocked reading through the group get -NOGROUP.
            let db = ctx.client.db;
            ctx.srv.signal_key_as_ready(db, key);
        } else {
            ctx.out().int(0);
        }
    } else if is(sub, b"CREATECONSUMER") && argc == 5 {
        let name = ctx.argv.get(4);
        let now = ctx.now_ms();
        let created = crate::lookup::value_mut::<Stream>(ctx, key).is_ok_and(|s| {
            s.and_then(|s| s.group_mut(group))
                .and_then(|g| g.create_consumer(name, now))
                .is_some()
        });
        ctx.out().int(i64::from(created));
        if created {
            ctx.dirty(1);
            ctx.notify(class::STREAM, "xgroup-createconsumer", key);
        }
    } else if is(sub, b"DELCONSUMER") && argc == 5 {
        let name = ctx.argv.get(4);
        let pending = match crate::lookup::value_mut::<Stream>(ctx, key) {
            Ok(Some(s)) => s.group_mut(group).and_then(|g| g.delete_consumer(name)),
            _ => None,
        };
        ctx.out().int(pending.unwrap_or(0) as i64);
        if pending.is_some() {
            ctx.dirty(1);
            ctx.notify(class::STREAM, "xgroup-delconsumer", key);
        }
    } else {
        subcommand_error(ctx);
    }
}

fn xgroup_help(ctx: &mut Ctx) {
    help_reply(
        ctx,
        "XGROUP <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        &[
            "CREATE <key> <groupname> <id|$> [option]",
            "    Creates a consumer group reading from <id> on. Options:",
            "    * MKSTREAM",
            "      Creates an empty stream when the key does not exist.",
            "    * ENTRIESREAD entries_read",
            "      Sets the group's read counter (for replication and AOF).",
            "CREATECONSUMER <key> <groupname> <consumer>",
            "    Adds a consumer to a group.",
            "DELCONSUMER <key> <groupname> <consumer>",
            "    Removes a consumer and its pending entries.",
            "DESTROY <key> <groupname>",
            "    Removes a group.",
            "SETID <key> <groupname> <id|$> [ENTRIESREAD entries_read]",
            "    Moves the group's last delivered ID (and read counter).",
        ],
    );
}

// ---------------------------------------------------------------------------
// XACK, XPENDING
// ---------------------------------------------------------------------------

/// XACK key group id [id ...]
fn xack(ctx: &mut Ctx) {
    let key = ctx.argv.get(1);
    let group = ctx.argv.get(2);
    // No key or no group: nothing to acknowledge, IDs unchecked.
    match has_group(ctx, key, group) {
        Err(WrongType) => return ctx.err(errors::WRONGTYPE),
        Ok(false) => return ctx.out().int(0),
        Ok(true) => {}
    }
    let Some(ids) = strict_ids(ctx, 3) else {
        return;
    };
    let mut acked = 0u64;
    if let Ok(Some(g)) =
        crate::lookup::value_mut::<Stream>(ctx, key).map(|s| s.and_then(|s| s.group_mut(group)))
    {
        acked = ids.into_iter().filter(|&id| g.ack(id)).count() as u64;
    }
    ctx.dirty(acked);
    ctx.out().int(acked as i64);
}

/// XPENDING key group [[IDLE min-idle] start end count [consumer]]
fn xpending(ctx: &mut Ctx) {
    let argc = ctx.argv.len();
    let key = ctx.argv.get(1);
    let group = ctx.argv.get(2);
    if argc != 3 && !(6..=9).contains(&argc) {
        return ctx.err(errors::SYNTAX);
    }
    let mut detail = None;
    if argc >= 6 {
        let mut at = 3;
        let mut min_idle = 0;
        if is(ctx.argv.get(3), b"IDLE") {
            let Some(n) = resp::parse_i64(ctx.argv.get(4)) else {
                return ctx.err(errors::NOT_INTEGER);
            };
            if argc < 8 {
                return ctx.err(errors::SYNTAX);
            }
            min_idle = n;
            at += 2;
        }
        let Some(count) = resp::parse_i64(ctx.argv.get(at + 2)) else {
            return ctx.err(errors::NOT_INTEGER);
        };
        let Some(start) = range_start(ctx, ctx.argv.get(at)) else {
            return;
        };
        let Some(end) = range_end(ctx, ctx.argv.get(at + 1)) else {
            return;
        };
        let consumer = (at + 3 < argc).then(|| ctx.argv.get(at + 3));
        detail = Some((min_idle, start, end, count.max(0) as u64, consumer));
    }
    let now = ctx.now_ms();
    let r = with_stream(ctx, key, true, |s, out| {
        let Some(g) = s.and_then(|s| s.group(group)) else {
            return false;
        };
        let Some((min_idle, start, end, mut count, consumer)) = detail else {
            out.array(4);
            out.int(g.pending_count() as i64);
            let (Some((first, _)), Some((last, _))) =
                (g.pel().first_key_value(), g.pel().last_key_value())
            else {
                out.null();
                out.null();
                out.null_array();
                return true;
            };
            reply_id(out, *first);
            reply_id(out, *last);
            let owners: Vec<_> = g.consumers().filter(|c| !c.pending().is_empty()).collect();
            out.array(owners.len());
            for c in owners {
                out.array(2);
                out.bulk(&c.name);
                out.bulk_int(c.pending().len() as i64);
            }
            return true;
        };
        let ids: Vec<StreamId> = match consumer {
            Some(name) => match g.find_consumer(name).and_then(|r| g.consumer(r)) {
                None => {
                    out.array(0);
                    return true;
                }
                Some(c) => c.pending().range(start..).copied().collect(),
            },
            None => g.pel().range(start..).map(|(id, _)| *id).collect(),
        };
        let mark = out.mark();
        let mut n = 0;
        for id in ids {
            if count == 0 || id > end {
                break;
            }
            let Some(nack) = g.nack(id) else { continue };
            let idle = now - nack.delivery_time;
            if min_idle != 0 && idle < min_idle {
                continue;
            }
            n += 1;
            count -= 1;
            out.array(4);
            reply_id(out, id);
            out.bulk(g.owner_name(nack));
            out.int(idle.max(0));
            out.int(nack.delivery_count as i64);
        }
        out.insert_array_len(mark, n);
        true
    });
    match r {
        Err(WrongType) => ctx.err(errors::WRONGTYPE),
        Ok(false) => ctx.err(&errors::no_key_or_group(key, group)),
        Ok(true) => {}
    }
}

// ---------------------------------------------------------------------------
// XCLAIM, XAUTOCLAIM
// ---------------------------------------------------------------------------

/// XCLAIM's options after the IDs.
struct ClaimOpts {
    force: bool,
    justid: bool,
    /// Delivery time to set (IDLE or TIME), -1: now.
    delivery_time: i64,
    retrycount: i64,
    last_id: StreamId,
}

/// XCLAIM key group consumer min-idle-time id [id ...] [IDLE ms]
/// [TIME unix-ms] [RETRYCOUNT n] [FORCE] [JUSTID] [LASTID id]
fn xclaim(ctx: &mut Ctx) {
    let key = ctx.argv.get(1);
    let group = ctx.argv.get(2);
    match has_group(ctx, key, group) {
        Err(WrongType) => return ctx.err(errors::WRONGTYPE),
        Ok(false) => return ctx.err(&errors::no_key_or_group(key, group)),
        Ok(true) => {}
    }
    let Some(min_idle) = resp::parse_i64(ctx.argv.get(4)) else {
        return ctx.err(errors::XCLAIM_MIN_IDLE);
    };
    let min_idle = min_idle.max(0);
    let argc = ctx.argv.len();
    // IDs until the first argument that is not one: the options follow.
    let mut ids = Vec::new();
    let mut j = 5;
    while j < argc {
        match parse_id(ctx.argv.get(j), IdSyntax::STRICT) {
            Some(p) => ids.push((p.id, ctx.argv.get(j))),
            None => break,
        }
        j += 1;
    }
    let now = ctx.now_ms();
    let mut o = ClaimOpts {
        force: false,
        justid: false,
        delivery_time: -1,
        retrycount: -1,
        last_id: StreamId::MIN,
    };
    while j < argc {
        let more = j + 1 < argc;
        let opt = ctx.argv.get(j);
        if is(opt, b"FORCE") {
            o.force = true;
        } else if is(opt, b"JUSTID") {
            o.justid = true;
        } else if is(opt, b"IDLE") && more {
            j += 1;
            let Some(n) = resp::parse_i64(ctx.argv.get(j)) else {
                return ctx.err(errors::XCLAIM_IDLE);
            };
            o.delivery_time = now.wrapping_sub(n);
        } else if is(opt, b"TIME") && more {
            j += 1;
            let Some(n) = resp::parse_i64(ctx.argv.get(j)) else {
                return ctx.err(errors::XCLAIM_TIME);
            };
            o.delivery_time = n;
        } else if is(opt, b"RETRYCOUNT") && more {
            j += 1;
            let Some(n) = resp::parse_i64(ctx.argv.get(j)) else {
                return ctx.err(errors::XCLAIM_RETRYCOUNT);
            };
            o.retrycount = n;
        } else if is(opt, b"LASTID") && more {
            j += 1;
            let Some(id) = strict_id(ctx, ctx.argv.get(j)) else {
                return;
            };
            o.last_id = id;
        } else {
            return ctx.err(&errors::xclaim_unrecognized(opt));
        }
        j += 1;
    }
    // A bogus delivery time (negative, or in the future) means now.
    let time = if o.delivery_time < 0 || o.delivery_time > now {
        now
    } else {
        o.delivery_time
    };
    let consumer_name = ctx.argv.get(3);
    let mut fx = Effects::new(ctx);
    let _ = with_stream(ctx, key, false, |s, out| {
        let Some(s) = s else { return };
        let (log, groups) = s.parts_mut();
        let Some(g) = groups.get_mut(group) else {
            return;
        };
        let mut propagate_last_id = false;
        if o.last_id > g.last_id {
            g.last_id = o.last_id;
            propagate_last_id = true;
        }
        let mark = out.mark();
        let mut n = 0;
        let mut consumer = None;
        for (id, arg) in ids {
            if !log.contains(id) {
                // Gone from the stream: dropped from the PEL too.
                if let Some(nack) = g.nack(id).copied() {
                    fx.push(|| xclaim_effect(key, group, g, arg, &nack));
                    propagate_last_id = false;
                    fx.dirty += 1;
                    g.ack(id);
                }
                continue;
            }
            if o.force {
                g.force_pending(id, now);
            }
            let Some(nack) = g.nack(id).copied() else {
                continue;
            };
            if nack.consumer.is_some() && min_idle != 0 && now - nack.delivery_time < min_idle {
                continue;
            }
            let to = match consumer {
                Some(r) => r,
                None => {
                    let r = consumer_for(g, consumer_name, now, &mut fx);
                    consumer = Some(r);
                    r
                }
            };
            let count = if o.retrycount >= 0 {
                o.retrycount as u64
            } else if !o.justid {
                nack.delivery_count + 1
            } else {
                nack.delivery_count
            };
            let Some(nack) = g.claim(id, to, time, count) else {
                continue;
            };
            if o.justid {
                reply_id(out, id);
            } else if let Some(e) = log.range(id, id, false).next() {
                reply_entry(out, &e);
            }
            n += 1;
            fx.push(|| xclaim_effect(key, group, g, arg, &nack));
            propagate_last_id = false;
            fx.dirty += 1;
        }
        if propagate_last_id {
            fx.push(|| setid_effect(key, group, g));
            fx.dirty += 1;
        }
        out.insert_array_len(mark, n);
    });
    ctx.suppress_propagation();
    fx.apply(ctx, key);
}

/// XAUTOCLAIM key group consumer min-idle-time start [COUNT n] [JUSTID]
fn xautoclaim(ctx: &mut Ctx) {
    let key = ctx.argv.get(1);
    let group = ctx.argv.get(2);
    let Some(min_idle) = resp::parse_i64(ctx.argv.get(4)) else {
        return ctx.err(errors::XAUTOCLAIM_MIN_IDLE);
    };
    let min_idle = min_idle.max(0);
    let Some(start) = range_start(ctx, ctx.argv.get(5)) else {
        return;
    };
    // Redis sizes a buffer of `count` IDs up front and caps COUNT so that
    // the buffer (16 bytes an ID) and the attempts (10 per entry) fit.
    const MAX_COUNT: i64 = i64::MAX / 16;
    let mut count: i64 = 100;
    let mut justid = false;
    let argc = ctx.argv.len();
    let mut j = 6;
    while j < argc {
        let opt = ctx.argv.get(j);
        if is(opt, b"COUNT") && j + 1 < argc {
            match resp::parse_i64(ctx.argv.get(j + 1)) {
                Some(n) if (1..=MAX_COUNT).contains(&n) => count = n,
                _ => return ctx.err(errors::XAUTOCLAIM_COUNT),
            }
            j += 1;
        } else if is(opt, b"JUSTID") {
            justid = true;
        } else {
            return ctx.err(errors::SYNTAX);
        }
        j += 1;
    }
    match has_group(ctx, key, group) {
        Err(WrongType) => return ctx.err(errors::WRONGTYPE),
        Ok(false) => return ctx.err(&errors::no_key_or_group(key, group)),
        Ok(true) => {}
    }
    // Where Redis's allocation of that buffer would fail.
    if count > (1 << 40) {
        return ctx.err(errors::XAUTOCLAIM_NO_MEMORY);
    }
    let now = ctx.now_ms();
    let consumer_name = ctx.argv.get(3);
    let mut fx = Effects::new(ctx);
    let _ = with_stream(ctx, key, false, |s, out| {
        let Some(s) = s else { return };
        let (log, groups) = s.parts_mut();
        let Some(g) = groups.get_mut(group) else {
            return;
        };
        let mut attempts = count.saturating_mul(10);
        let mut left = count;
        let mut next = Some(start);
        let mut deleted = Vec::new();
        let mut consumer = None;
        out.array(3);
        let cursor_mark = out.mark();
        let claimed_mark = out.mark();
        let mut n = 0;
        while attempts > 0 && left > 0 {
            attempts -= 1;
            let Some(from) = next else { break };
            let Some((&id, &nack)) = g.pel().range(from..).next() else {
                next = None;
                break;
            };
            next = id.next();
            if !log.contains(id) {
                fx.push(|| xclaim_effect(key, group, g, &id.to_vec(), &nack));
                fx.dirty += 1;
                g.ack(id);
                deleted.push(id);
                left -= 1;
                continue;
            }
            if min_idle != 0 && now - nack.delivery_time < min_idle {
                continue;
            }
            let to = match consumer {
                Some(r) => r,
                None => {
                    let r = consumer_for(g, consumer_name, now, &mut fx);
                    consumer = Some(r);
                    r
                }
            };
            let bumped = nack.delivery_count + u64::from(!justid);
            let Some(nack) = g.claim(id, to, now, bumped) else {
                continue;
            };
            if justid {
                reply_id(out, id);
            } else if let Some(e) = log.range(id, id, false).next() {
                reply_entry(out, &e);
            }
            n += 1;
            left -= 1;
            fx.push(|| xclaim_effect(key, group, g, &id.to_vec(), &nack));
            fx.dirty += 1;
        }
        out.insert_array_len(claimed_mark, n);
        // The cursor: the next pending entry not looked at, or 0-0.
        let cursor = next
            .and_then(|from| g.pel().range(from..).next().map(|(id, _)| *id))
            .unwrap_or(StreamId::MIN);
        let mut head = resp::Reply::new();
        head.resp3 = out.resp3;
        reply_id(&mut head, cursor);
        out.buf.splice(cursor_mark..cursor_mark, head.buf);
        out.array(deleted.len());
        for id in deleted {
            reply_id(out, id);
        }
    });
    ctx.suppress_propagation();
    fx.apply(ctx, key);
}
