//! Blocking commands (BLPOP and friends, BZPOPMIN and BZMPOP): a client
//! waits for a key to receive data without holding anyone else up.
//!
//! How it fits together, as in Redis 7.0:
//! - A handler that finds nothing to serve calls [`block`]: the client is
//!   queued, in arrival order, on each key it named and its request is kept
//!   (`Client::blocked`). It writes no reply; its connection loop stops
//!   running its further pipelined requests until it is unblocked.
//! - Any command that changes a key calls `signal_modified_key`, which
//!   marks the key *ready* when clients wait on it ([`Server::signal_key_as_ready`]).
//!   SWAPDB marks the keys of the swapped databases ([`signal_db_ready`]).
//! - After each top-level command (after the whole EXEC for a transaction)
//!   the connection loop calls [`serve_ready`]: for each ready key, while
//!   it holds a non-empty list (sorted set), the first client waiting on it
//!   for a list (sorted set) is unblocked
//!   and its command executed again through the normal dispatch path (so
//!   its effect is propagated as the non-blocking form, and any key it
//!   fills in turn — BLMOVE's destination — is served next). Its task is
//!   then woken to write the reply.
//! - A timeout, `CLIENT UNBLOCK` or the client going away ends the wait
//!   ([`time_out`], [`unblock_with`], [`unblock`]).
//! - Stream readers (XREAD, XREADGROUP) are served differently, as in
//!   Redis: every waiter on a signalled stream whose data is now beyond
//!   what it waits for is served, in arrival order, with the one-key form
//!   of its read; the others keep their place. A reader through a group
//!   gets an error when the key stops being a stream or the group goes
//!   ([`serve_stream_waiters`]).

use crate::client::Client;
use crate::cmd::{self, Ctx};
use crate::errors;
use crate::server::Server;
use command_meta::Argv;
use keyspace::stream::StreamId;
use keyspace::Value;
use std::collections::{HashMap, HashSet, VecDeque};
use std::ops::Range;

/// The kind of data a blocked client waits for. A ready key only serves
/// waiters of its own type (a list serves BLPOP, not BZPOPMIN), as in
/// Redis; the kind is recorded when the client blocks, so serving needs
/// no knowledge of command names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitFor {
    List,
    ZSet,
    /// New stream entries (XREAD, XREADGROUP); see [`StreamWait`].
    Stream,
    /// Replica acknowledgements (`WAIT`): no key, served by replication.
    Replicas,
    /// The end of a shutdown waiting for replicas (`SHUTDOWN`): no key,
    /// answered only if the shutdown fails or is aborted.
    Shutdown,
}

/// What a blocked client waits for, and the request to run when it can.
#[derive(Debug, Clone)]
pub struct Blocked {
    pub on: WaitFor,
    pub db: usize,
    pub keys: Vec<Vec<u8>>,
    /// Unix ms after which the wait ends with a null reply; 0 = never.
    pub deadline_ms: i64,
    pub argv: Vec<Vec<u8>>,
    /// What a stream reader waits for.
    pub stream: Option<Box<StreamWait>>,
}

/// What a blocked XREAD/XREADGROUP waits for on its keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamWait {
    /// Per key, in the order of [`Blocked::keys`]: entries must be above
    /// this ID (a reader through a group always reads past the group's
    /// last delivered ID instead).
    pub after: Vec<StreamId>,
    /// XREADGROUP's group and consumer, and whether NOACK was given.
    pub group: Option<(Vec<u8>, Vec<u8>, bool)>,
    /// Entries served at most.
    pub count: u64,
}

/// The server's side of blocking: who waits on which key, and which keys
/// received data during the current command.
#[derive(Debug, Default)]
pub struct Blocking {
    waiting: HashMap<(usize, Vec<u8>), VecDeque<u64>>,
    ready: VecDeque<(usize, Vec<u8>)>,
    ready_set: HashSet<(usize, Vec<u8>)>,
    /// Clients blocked now (`blocked_clients` in INFO).
    pub blocked_clients: usize,
}

impl Blocking {
    /// Whether any key became ready since the last [`serve_ready`].
    pub fn has_ready(&self) -> bool {
        !self.ready.is_empty()
    }
}

/// Parses the timeout at argument `idx` (seconds, fractions allowed) into
/// an absolute deadline in Unix ms, 0 for "forever"; replies the error
/// and returns `None` when it is invalid.
///
/// As measured against Redis 7.0.15: the value is parsed as a float,
/// scaled to milliseconds and rounded up (1e-5 waits 1 ms, -0.0005 waits
/// forever); a value too large for an i64, or infinite, ends up negative
/// (the C cast gives i64::MIN) and is refused as "negative"; a deadline
/// past the end of time means forever.
pub fn parse_timeout(ctx: &mut Ctx, idx: usize) -> Option<i64> {
    let Some(secs) = parse_seconds(ctx.argv.get(idx)) else {
        ctx.err(errors::TIMEOUT_NOT_FLOAT);
        return None;
    };
    let ms = (secs * 1000.0).ceil();
    let ms = if ms.is_finite() && ms.abs() < 9.223_372_036_854_775e18 {
        ms as i64
    } else {
        i64::MIN
    };
    if ms < 0 {
        ctx.err(errors::TIMEOUT_NEGATIVE);
        return None;
    }
    Some(match ms.checked_add(ctx.now_ms()) {
        Some(at) if ms > 0 => at,
        _ => 0,
    })
}

/// A float as `strtold` reads it for Redis: no surrounding blanks, no
/// NaN; hexadecimal integers (`0x10`) are accepted too.
fn parse_seconds(raw: &[u8]) -> Option<f64> {
    let s = std::str::from_utf8(raw).ok()?;
    if s.is_empty() || s.starts_with(|c: char| c.is_ascii_whitespace()) {
        return None;
    }
    let (neg, body) = match s.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    if let Some(hex) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
        let v = u64::from_str_radix(hex, 16).ok()? as f64;
        return Some(if neg { -v } else { v });
    }
    s.parse::<f64>().ok().filter(|f| !f.is_nan())
}

/// Whether the calling client may block. Inside MULTI/EXEC (and scripts)
/// `deny_blocking` is set and blocking commands answer as if they timed
/// out at once; the master link never blocks either.
pub fn may_block(ctx: &Ctx) -> bool {
    !ctx.client.deny_blocking && !ctx.client.in_exec && !ctx.client.is_master()
}

/// Blocks the calling client on the keys at argument positions `keys`
/// until `deadline_ms` (0 = forever). The handler writes no reply.
pub fn block(ctx: &mut Ctx, on: WaitFor, keys: Range<usize>, deadline_ms: i64) {
    let mut names: Vec<Vec<u8>> = Vec::with_capacity(keys.len());
    for i in keys {
        let k = ctx.argv.get(i);
        // BLPOP k k 0 waits once on k.
        if !names.iter().any(|n| n == k) {
            names.push(k.to_vec());
        }
    }
    enqueue(ctx, on, names, deadline_ms, None);
}

/// Blocks the calling stream reader on `keys` (distinct, in order) until
/// `deadline_ms` (0 = forever).
pub fn block_stream(ctx: &mut Ctx, keys: Vec<Vec<u8>>, deadline_ms: i64, wait: StreamWait) {
    enqueue(
        ctx,
        WaitFor::Stream,
        keys,
        deadline_ms,
        Some(Box::new(wait)),
    );
}

/// Queues the calling client on each of `keys` and records its wait.
fn enqueue(
    ctx: &mut Ctx,
    on: WaitFor,
    keys: Vec<Vec<u8>>,
    deadline_ms: i64,
    stream: Option<Box<StreamWait>>,
) {
    let db = ctx.client.db;
    let id = ctx.client.id;
    for k in &keys {
        ctx.srv
            .blocking
            .waiting
            .entry((db, k.clone()))
            .or_default()
            .push_back(id);
    }
    ctx.srv.blocking.blocked_clients += 1;
    ctx.client.blocked = Some(Blocked {
        on,
        db,
        keys,
        deadline_ms,
        argv: ctx.argv.iter().map(|a| a.to_vec()).collect(),
        stream,
    });
}

impl Server {
    /// Marks `key` of `db` ready when clients wait on it (Redis's
    /// `signalKeyAsReady`); they are served after the current command.
    pub fn signal_key_as_ready(&mut self, db: usize, key: &[u8]) {
        let b = &mut self.blocking;
        if b.waiting.is_empty() {
            return;
        }
        let k = (db, key.to_vec());
        if b.waiting.contains_key(&k) && b.ready_set.insert(k.clone()) {
            b.ready.push_back(k);
        }
    }
}

/// Marks every key waited on in `db` as ready (after SWAPDB brought other
/// data under the same names).
pub fn signal_db_ready(srv: &mut Server, db: usize) {
    let keys: Vec<Vec<u8>> = srv
        .blocking
        .waiting
        .keys()
        .filter(|(d, _)| *d == db)
        .map(|(_, k)| k.clone())
        .collect();
    for k in keys {
        srv.signal_key_as_ready(db, &k);
    }
}

/// Takes `c` out of every wait queue; returns what it waited for (None if
/// it was not blocked).
pub fn unblock(srv: &mut Server, c: &mut Client) -> Option<Blocked> {
    let b = c.blocked.take()?;
    for k in &b.keys {
        let slot = (b.db, k.clone());
        if let Some(q) = srv.blocking.waiting.get_mut(&slot) {
            q.retain(|&id| id != c.id);
            if q.is_empty() {
                srv.blocking.waiting.remove(&slot);
            }
        }
    }
    srv.blocking.blocked_clients = srv.blocking.blocked_clients.saturating_sub(1);
    Some(b)
}

/// Ends the wait of `c` from outside (CLIENT UNBLOCK): with the timeout
/// reply, or with the UNBLOCKED error. False when `c` was not blocked.
pub fn unblock_with(srv: &mut Server, c: &mut Client, error: bool) -> bool {
    let Some(b) = unblock(srv, c) else {
        return false;
    };
    count_call(srv, &b, error);
    if error {
        srv.stats.count_error(errors::UNBLOCKED);
        c.out.error(errors::UNBLOCKED);
    } else {
        c.out.null_array();
    }
    c.wake.notify_one();
    true
}

/// Ends the wait of `c` with `error` (a cluster redirection: the slot of
/// its keys moved, or the cluster went down).
pub fn unblock_with_error(srv: &mut Server, c: &mut Client, error: &str) {
    if let Some(b) = unblock(srv, c) {
        count_call(srv, &b, true);
        srv.stats.count_error(error);
        c.out.error(error);
        c.wake.notify_one();
    }
}

/// Ends the wait of `c` if its deadline has passed, with the null-array
/// reply Redis sends on a timeout. Returns whether it did.
pub fn time_out(srv: &mut Server, c: &mut Client) -> bool {
    let due = c
        .blocked
        .as_ref()
        .is_some_and(|b| b.deadline_ms != 0 && b.deadline_ms <= srv.now_ms);
    if due {
        let b = unblock(srv, c);
        if let Some(b) = &b {
            count_call(srv, b, false);
        }
        // WAIT answers how many replicas acknowledged, even when late.
        if b.as_ref().is_some_and(crate::replication::master::is_wait) {
            crate::replication::master::wait_timed_out(srv, c);
        } else {
            c.out.null_array();
        }
    }
    due
}

/// A wait that ends without the command running again still counts as
/// one call of it (and a failed one for CLIENT UNBLOCK .. ERROR), as in
/// Redis's `INFO commandstats`.
fn count_call(srv: &mut Server, b: &Blocked, failed: bool) {
    let name = b.argv.first().map_or(&[][..], |a| a.as_slice());
    if let Some(i) = srv.commands.lookup(name) {
        let st = &mut srv.commands.stats[i];
        st.calls += 1;
        st.failed_calls += u64::from(failed);
    }
}

/// Milliseconds until the deadline of `c`'s wait (None: no deadline).
pub fn remaining_ms(c: &Client, now_ms: i64) -> Option<u64> {
    let b = c.blocked.as_ref()?;
    (b.deadline_ms != 0).then(|| b.deadline_ms.saturating_sub(now_ms).max(0) as u64)
}

/// Which waiters `key` of `db` can serve: a non-empty list or sorted set
/// that is live. A key found expired here is deleted (and the deletion
/// propagated) as Redis's look-up does while serving blocked clients;
/// its waiters stay blocked.
fn ready_kind(srv: &mut Server, db: usize, key: &[u8]) -> Option<WaitFor> {
    let i = srv.find_live(db, key, false);
    srv.journal.end_command(false);
    let e = srv.dbs[db].at(i?)?;
    match &e.value {
        Value::List(l) if !l.is_empty() => Some(WaitFor::List),
        Value::ZSet(z) if !z.is_empty() => Some(WaitFor::ZSet),
        _ => None,
    }
}

/// The first client waiting on `slot` for data of the `kind` the key
/// holds: as in Redis, a list only serves list waiters and a sorted
/// set only sorted-set waiters; the others keep their place. Clients gone
/// without cleanup are dropped from the queue on the way.
fn first_waiter(srv: &mut Server, slot: &(usize, Vec<u8>), kind: WaitFor) -> Option<u64> {
    let ids: Vec<u64> = srv.blocking.waiting.get(slot)?.iter().copied().collect();
    for id in ids {
        let Some(rc) = srv.clients.get(&id) else {
            if let Some(q) = srv.blocking.waiting.get_mut(slot) {
                q.retain(|&x| x != id);
            }
            continue;
        };
        let Ok(c) = rc.try_borrow() else { continue };
        if c.blocked.as_ref().is_some_and(|b| b.on == kind) {
            return Some(id);
        }
    }
    None
}

/// Runs `argv` for the unblocked client `c` through the dispatch path and
/// wakes its task to write the reply. MONITOR saw the command when it
/// first ran, as in Redis, so the monitors are set aside for the re-run.
fn rerun(srv: &mut Server, c: &mut Client, argv: &[Vec<u8>]) {
    let mut buf = Vec::new();
    let mut ranges = Vec::with_capacity(argv.len());
    for a in argv {
        let s = buf.len();
        buf.extend_from_slice(a);
        ranges.push((s, buf.len()));
    }
    let monitors = std::mem::take(&mut srv.monitors);
    cmd::execute(srv, c, Argv::new(&buf, &ranges));
    srv.monitors = monitors;
    c.wake.notify_one();
}

/// Serves the clients waiting on keys that became ready, in FIFO order
/// per key, until the ready list is empty (serving may fill other keys).
/// Called after each top-level command, never from inside a handler.
pub fn serve_ready(srv: &mut Server) {
    if srv.blocking.ready.is_empty() {
        return;
    }
    // Serving runs outside any command: expiry is judged on the clock now
    // (after an EXEC, whose clock stood still, time has moved on).
    srv.refresh_time();
    while let Some(slot) = srv.blocking.ready.pop_front() {
        srv.blocking.ready_set.remove(&slot);
        serve_stream_waiters(srv, slot.0, &slot.1);
        let (db, key) = slot;
        while let Some(kind) = ready_kind(srv, db, &key) {
            let Some(id) = first_waiter(srv, &(db, key.clone()), kind) else {
                break;
            };
            let Some(rc) = srv.clients.get(&id).cloned() else {
                break;
            };
            // The calling client is never blocked, so this borrow cannot
            // clash with the one held by the running command.
            let Ok(mut c) = rc.try_borrow_mut() else {
                break;
            };
            let Some(b) = unblock(srv, &mut c) else { break };
            c.db = b.db;
            // Redis re-executes the command: now that the key has data it
            // pops (and propagates) exactly as a non-blocking call would.
            rerun(srv, &mut c, &b.argv);
            if c.blocked.is_some() {
                // Blocked again (another of its keys had the wrong type
                // to serve it): leave this key for the next command.
                break;
            }
        }
    }
}

/// What a stream reader blocked on `key` can get now.
enum StreamTurn {
    /// Nothing yet: it keeps waiting, in its place.
    Wait,
    /// Served by running this read.
    Serve(Vec<Vec<u8>>),
    /// Its wait ends with this error.
    Fail(&'static str),
}

/// Decides what the stream reader `b` gets from `key` of `db`, as Redis's
/// `serveClientsBlockedOnStreamKey` (and, for a key that is gone or no
/// longer a stream, `unblockDeletedStreamReadgroupClients`) decide.
fn stream_turn(srv: &Server, db: usize, key: &[u8], b: &Blocked) -> StreamTurn {
    let Some(w) = &b.stream else {
        return StreamTurn::Wait;
    };
    let stream = srv.dbs[db]
        .get(key)
        .filter(|e| !e.is_expired(srv.now_ms))
        .and_then(|e| match &e.value {
            Value::Stream(s) => Some(s),
            _ => None,
        });
    let Some(s) = stream else {
        return match w.group {
            Some(_) => StreamTurn::Fail(errors::XREADGROUP_KEY_GONE),
            None => StreamTurn::Wait,
        };
    };
    let after = match &w.group {
        Some((g, _, _)) => match s.group(g) {
            Some(g) => g.last_id,
            None => return StreamTurn::Fail(errors::XREADGROUP_GROUP_GONE),
        },
        None => {
            let i = b.keys.iter().position(|k| k == key);
            match i.and_then(|i| w.after.get(i)) {
                Some(id) => *id,
                None => return StreamTurn::Wait,
            }
        }
    };
    // Redis compares with the last ID ever added; the read that serves
    // checks again for a live entry beyond `after`.
    if s.log().last_id() <= after || s.log().last_valid_id().is_none_or(|top| top <= after) {
        return StreamTurn::Wait;
    }
    let count = w.count.to_string().into_bytes();
    let name = b.argv.first().cloned().unwrap_or_default();
    let argv = match &w.group {
        Some((g, c, noack)) => {
            let mut a = vec![
                name,
                b"GROUP".to_vec(),
                g.clone(),
                c.clone(),
                b"COUNT".to_vec(),
                count,
            ];
            if *noack {
                a.push(b"NOACK".to_vec());
            }
            a.extend([b"STREAMS".to_vec(), key.to_vec(), b">".to_vec()]);
            a
        }
        None => vec![
            name,
            b"COUNT".to_vec(),
            count,
            b"STREAMS".to_vec(),
            key.to_vec(),
            after.to_vec(),
        ],
    };
    StreamTurn::Serve(argv)
}

/// Serves (or fails) the stream readers blocked on `key` of `db`, in
/// arrival order.
pub fn serve_stream_waiters(srv: &mut Server, db: usize, key: &[u8]) {
    let slot = (db, key.to_vec());
    let Some(queue) = srv.blocking.waiting.get(&slot) else {
        return;
    };
    let ids: Vec<u64> = queue.iter().copied().collect();
    let readers = ids.iter().any(|id| {
        srv.clients.get(id).is_some_and(|rc| {
            rc.try_borrow()
                .is_ok_and(|c| c.blocked.as_ref().is_some_and(|b| b.on == WaitFor::Stream))
        })
    });
    if !readers {
        return;
    }
    // As for the other waiters: a key found expired goes first (and its
    // deletion is propagated), so group readers see it gone.
    srv.find_live(db, key, false);
    srv.journal.end_command(false);
    for id in ids {
        let Some(rc) = srv.clients.get(&id).cloned() else {
            continue;
        };
        let Ok(mut c) = rc.try_borrow_mut() else {
            continue;
        };
        let turn = match &c.blocked {
            Some(b) if b.on == WaitFor::Stream && b.db == db => stream_turn(srv, db, key, b),
            _ => continue,
        };
        match turn {
            StreamTurn::Wait => {}
            StreamTurn::Fail(msg) => {
                if let Some(b) = unblock(srv, &mut c) {
                    count_call(srv, &b, true);
                }
                srv.stats.count_error(msg);
                c.out.error(msg);
                c.wake.notify_one();
            }
            StreamTurn::Serve(argv) => {
                if unblock(srv, &mut c).is_none() {
                    continue;
                }
                c.db = db;
                // The read runs through the normal path (its deliveries
                // are propagated).
                rerun(srv, &mut c, &argv);
            }
        }
    }
}
