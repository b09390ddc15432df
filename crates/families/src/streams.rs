//! Stream commands on the log itself (`t_stream.c` in Redis): XADD, XTRIM,
//! XDEL, XRANGE, XREVRANGE, XLEN and XSETID, and the helpers the other
//! stream files share (ID arguments, entry replies, look-ups).
//!
//! The other stream files: `stream_read.rs` (XREAD, XREADGROUP and their
//! blocking forms), `stream_groups.rs` (XGROUP, XACK, XPENDING, XCLAIM,
//! XAUTOCLAIM), `stream_info.rs` (XINFO). The data structure is
//! `keyspace::stream`.
//!
//! Propagation follows Redis 7.0: XADD goes out with the ID it actually
//! used (so `*` and `<ms>-*` are deterministic on replicas), and an
//! approximate trim (`~`, possibly with `LIMIT`) goes out as the exact one
//! it turned out to be (`MAXLEN = <length after>` or `MINID = <first ID
//! after>`), because where `~` stops depends on node boundaries a replica
//! or an AOF reload need not share. Everything else goes out verbatim.

use crate::lookup::value_mut;
use command_meta::Argv;
use keyspace::stream::{
    parse_id, AddError, Elem, Entry, IdSpec, IdSyntax, ParsedId, StreamId, Trim,
};
use keyspace::{Stream, Value, NO_EXPIRE};
use resp::Reply;
use server::cmd::{Ctx, Handler};
use server::errors::{self, WrongType};
use server::notify::class;

pub const COMMANDS: &[(&str, Handler)] = &[
    ("xadd", xadd),
    ("xtrim", xtrim),
    ("xdel", xdel),
    ("xrange", xrange),
    ("xrevrange", xrevrange),
    ("xlen", xlen),
    ("xsetid", xsetid),
];

// ---------------------------------------------------------------------------
// Shared helpers
// ---------------------------------------------------------------------------

/// Whether `arg`, read as a C string (up to its first NUL, as Redis's
/// `strcasecmp` reads it), is `word` in any case.
pub(crate) fn is(arg: &[u8], word: &[u8]) -> bool {
    keyspace::stream::id::c_str(arg).eq_ignore_ascii_case(word)
}

/// Whether `arg` read as a C string is exactly `s` (Redis's `strcmp`).
pub(crate) fn is_exactly(arg: &[u8], s: &[u8]) -> bool {
    keyspace::stream::id::c_str(arg) == s
}

/// An ID naming an entry (no `-`/`+`); replies the error when invalid.
pub(crate) fn strict_id(ctx: &mut Ctx, arg: &[u8]) -> Option<StreamId> {
    match parse_id(arg, IdSyntax::STRICT) {
        Some(p) => Some(p.id),
        None => {
            ctx.err(errors::STREAM_ID_INVALID);
            None
        }
    }
}

/// The IDs from argument `from` on, all checked before any is used (as
/// Redis does, so a command is not half applied); replies the error.
pub(crate) fn strict_ids(ctx: &mut Ctx, from: usize) -> Option<Vec<StreamId>> {
    let mut ids = Vec::with_capacity(ctx.argv.len().saturating_sub(from));
    for i in from..ctx.argv.len() {
        ids.push(strict_id(ctx, ctx.argv.get(i))?);
    }
    Some(ids)
}

/// A range bound: `(` makes it exclusive (and then `-`/`+` are refused);
/// a missing sequence is `missing_seq`. Replies the error when invalid.
fn interval_id(ctx: &mut Ctx, arg: &[u8], missing_seq: u64) -> Option<(StreamId, bool)> {
    let exclusive = arg.len() > 1 && arg[0] == b'(';
    let parsed = if exclusive {
        parse_id(
            &arg[1..],
            IdSyntax {
                missing_seq,
                strict: true,
                seq_star: false,
            },
        )
    } else {
        parse_id(arg, IdSyntax::bound(missing_seq))
    };
    match parsed {
        Some(p) => Some((p.id, exclusive)),
        None => {
            ctx.err(errors::STREAM_ID_INVALID);
            None
        }
    }
}

/// The start of a range (`(` moves it to the next ID).
pub(crate) fn range_start(ctx: &mut Ctx, arg: &[u8]) -> Option<StreamId> {
    let (id, exclusive) = interval_id(ctx, arg, 0)?;
    if !exclusive {
        return Some(id);
    }
    let next = id.next();
    if next.is_none() {
        ctx.err(errors::STREAM_START_INVALID);
    }
    next
}

/// The end of a range (`(` moves it to the previous ID).
pub(crate) fn range_end(ctx: &mut Ctx, arg: &[u8]) -> Option<StreamId> {
    let (id, exclusive) = interval_id(ctx, arg, u64::MAX)?;
    if !exclusive {
        return Some(id);
    }
    let prev = id.prev();
    if prev.is_none() {
        ctx.err(errors::STREAM_END_INVALID);
    }
    prev
}

/// An ID as a bulk string.
pub(crate) fn reply_id(out: &mut Reply, id: StreamId) {
    let mut buf = [0u8; keyspace::stream::id::ID_TEXT_MAX];
    out.bulk(id.format(&mut buf));
}

fn reply_elem(out: &mut Reply, e: Elem) {
    match e {
        Elem::Str(s) => out.bulk(s),
        Elem::Int(n) => out.bulk_int(n),
    }
}

/// An entry as Redis sends it: `[id, [field, value, ...]]`.
pub(crate) fn reply_entry(out: &mut Reply, e: &Entry) {
    out.array(2);
    reply_id(out, e.id);
    out.array(e.len() * 2);
    for (f, v) in e.pairs() {
        reply_elem(out, f);
        reply_elem(out, v);
    }
}

/// Replies entries of `stream` from `start` to `end` (at most `count`, 0
/// for all) as an array; returns how many.
pub(crate) fn reply_range(
    out: &mut Reply,
    stream: &Stream,
    start: StreamId,
    end: StreamId,
    count: usize,
    rev: bool,
) -> usize {
    let mark = out.mark();
    let mut n = 0;
    for e in stream.log().range(start, end, rev) {
        reply_entry(out, &e);
        n += 1;
        if n == count {
            break;
        }
    }
    out.insert_array_len(mark, n);
    n
}

/// Looks `key` up (for reading: statistics and key-miss events, as
/// Redis's `lookupKeyRead`; otherwise as `lookupKeyWrite`) and hands the
/// stream, changeable, to `f` together with the reply buffer.
pub(crate) fn with_stream<R>(
    ctx: &mut Ctx,
    key: &[u8],
    read: bool,
    f: impl FnOnce(Option<&mut Stream>, &mut Reply) -> R,
) -> Result<R, WrongType> {
    let (srv, client) = ctx.parts();
    let (db, master) = (client.db, client.is_master());
    let found = if read {
        srv.lookup_read(db, key, master)
    } else {
        srv.lookup_write(db, key, master)
    };
    match found {
        None => {
            // A key-miss event raised by this look-up goes before the reply.
            srv.pubsub.flush_into(&mut client.out);
            Ok(f(None, &mut client.out))
        }
        Some(e) => match &mut e.value {
            Value::Stream(s) => Ok(f(Some(s), &mut client.out)),
            _ => Err(WrongType),
        },
    }
}

/// Stores a new empty stream under `key` (with Redis's `new` event).
pub(crate) fn create_stream(ctx: &mut Ctx, key: &[u8]) {
    let lru = ctx.srv.lru_clock;
    ctx.db()
        .insert(key, Value::Stream(Box::default()), NO_EXPIRE, lru);
    ctx.notify(class::NEW, "new", key);
}

/// Whether the calling client applies what it is told without the limits
/// put on users (Redis's `mustObeyClient`: the master link, AOF loading).
pub(crate) fn must_obey(ctx: &Ctx) -> bool {
    ctx.client.is_master() || ctx.client.loading
}

// ---------------------------------------------------------------------------
// XADD and XTRIM options
// ---------------------------------------------------------------------------

/// XADD/XTRIM arguments after the key.
struct AddTrim {
    /// XADD's ID (None for `*`), and its position.
    id: Option<ParsedId>,
    id_pos: usize,
    no_mkstream: bool,
    trim: Option<Trim>,
    approx: bool,
    /// Position of the MAXLEN count or MINID ID (rewritten for
    /// propagation after an approximate trim).
    trim_arg: usize,
    /// Most entries a trim may remove, 0 for no limit.
    limit: u64,
}

/// Parses XADD's (`xadd`) or XTRIM's options, replying the error if any
/// (Redis's `streamParseAddOrTrimArgsOrReply`, checks in its order).
fn parse_add_trim(ctx: &mut Ctx, xadd: bool) -> Option<AddTrim> {
    let argc = ctx.argv.len();
    let mut a = AddTrim {
        id: None,
        id_pos: argc,
        no_mkstream: false,
        trim: None,
        approx: false,
        trim_arg: 0,
        limit: 0,
    };
    let mut limit: i64 = 0;
    let mut limit_given = false;
    let mut i = 2;
    while i < argc {
        let more = argc - 1 - i;
        let opt = ctx.argv.get(i);
        if xadd && is_exactly(opt, b"*") {
            a.id_pos = i;
            break;
        } else if (is(opt, b"MAXLEN") || is(opt, b"MINID")) && more > 0 {
            let maxlen = is(opt, b"MAXLEN");
            if a.trim.is_some() {
                ctx.err(errors::XTRIM_MAXLEN_AND_MINID);
                return None;
            }
            a.approx = false;
            let next = ctx.argv.get(i + 1);
            if more >= 2 && is_exactly(next, b"~") {
                a.approx = true;
                i += 1;
            } else if more >= 2 && is_exactly(next, b"=") {
                i += 1;
            }
            let arg = ctx.argv.get(i + 1);
            if maxlen {
                let Some(n) = resp::parse_i64(arg) else {
                    ctx.err(errors::NOT_INTEGER);
                    return None;
                };
                if n < 0 {
                    ctx.err(errors::XTRIM_MAXLEN_NEGATIVE);
                    return None;
                }
                a.trim = Some(Trim::MaxLen(n as u64));
            } else {
                a.trim = Some(Trim::MinId(strict_id(ctx, arg)?));
            }
            i += 1;
            a.trim_arg = i;
        } else if is(opt, b"LIMIT") && more > 0 {
            let Some(n) = resp::parse_i64(ctx.argv.get(i + 1)) else {
                ctx.err(errors::NOT_INTEGER);
                return None;
            };
            if n < 0 {
                ctx.err(errors::XTRIM_LIMIT_NEGATIVE);
                return None;
            }
            limit = n;
            limit_given = true;
            i += 1;
        } else if xadd && is(opt, b"NOMKSTREAM") {
            a.no_mkstream = true;
        } else if xadd {
            // Anything else is the ID, or a syntax error reported as one.
            let syntax = IdSyntax {
                seq_star: true,
                ..IdSyntax::STRICT
            };
            match parse_id(opt, syntax) {
                Some(p) => a.id = Some(p),
                None => {
                    ctx.err(errors::STREAM_ID_INVALID);
                    return None;
                }
            }
            a.id_pos = i;
            break;
        } else {
            ctx.err(errors::SYNTAX);
            return None;
        }
        i += 1;
    }
    if limit != 0 && a.trim.is_none() {
        ctx.err(errors::XTRIM_LIMIT_WITHOUT_STRATEGY);
        return None;
    }
    if !xadd && a.trim.is_none() {
        ctx.err(errors::XTRIM_WITHOUT_STRATEGY);
        return None;
    }
    a.limit = if must_obey(ctx) {
        // The master and the AOF send exact trims (see the module
        // comment): no limit applies to them.
        0
    } else if limit_given {
        if !a.approx {
            ctx.err(errors::XTRIM_LIMIT_WITHOUT_APPROX);
            return None;
        }
        limit as u64
    } else if a.approx {
        // At most 100 nodes' worth of work, within sane bounds.
        let per_node = ctx.srv.encoding_limits.stream_node.max_entries;
        match per_node.saturating_mul(100) {
            0 => 10_000,
            n => n.min(1_000_000),
        }
    } else {
        0
    };
    Some(a)
}

/// The request with the approximate trim written as the exact trim it
/// turned out to be (and the generated ID in place of `*`), as Redis
/// rewrites its argument vector before propagating.
fn rewritten(argv: Argv, stream: &Stream, a: &AddTrim, new_id: Option<StreamId>) -> Vec<Vec<u8>> {
    let mut args: Vec<Vec<u8>> = argv.iter().map(<[u8]>::to_vec).collect();
    if a.approx {
        args[a.trim_arg - 1] = b"=".to_vec();
        args[a.trim_arg] = match a.trim {
            Some(Trim::MinId(_)) => stream
                .log()
                .first_entry_id(false)
                .unwrap_or(StreamId::MAX)
                .to_vec(),
            _ => itoa::Buffer::new().format(stream.len()).as_bytes().to_vec(),
        };
    }
    if let Some(id) = new_id {
        args[a.id_pos] = id.to_vec();
    }
    args
}

// ---------------------------------------------------------------------------
// Commands
// ---------------------------------------------------------------------------

/// XADD key [NOMKSTREAM] [MAXLEN|MINID [=|~] threshold [LIMIT n]] *|id
/// field value [field value ...]
fn xadd(ctx: &mut Ctx) {
    let Some(a) = parse_add_trim(ctx, true) else {
        return;
    };
    let argc = ctx.argv.len();
    let fields_at = a.id_pos + 1;
    if argc < fields_at + 2 || !(argc - fields_at).is_multiple_of(2) {
        return ctx.err_arity();
    }
    if let Some(p) = a.id {
        if p.seq_given && p.id.is_zero() {
            return ctx.err(errors::XADD_ID_ZERO);
        }
    }
    let key = ctx.argv.get(1);
    match value_mut::<Stream>(ctx, key) {
        Err(WrongType) => return ctx.err(errors::WRONGTYPE),
        Ok(None) if a.no_mkstream => return ctx.out().null(),
        Ok(None) => create_stream(ctx, key),
        Ok(Some(_)) => {}
    }
    let argv = ctx.argv;
    let pairs: Vec<(&[u8], &[u8])> = (fields_at..argc)
        .step_by(2)
        .map(|i| (argv.get(i), argv.get(i + 1)))
        .collect();
    let spec = match a.id {
        None => IdSpec::Auto,
        Some(p) if !p.seq_given => IdSpec::Ms(p.id.ms),
        Some(p) => IdSpec::Exact(p.id),
    };
    let now = ctx.now_ms().max(0) as u64;
    let limits = ctx.srv.encoding_limits.stream_node;
    let generated_id = !matches!(a.id, Some(p) if p.seq_given);
    // The request is rewritten for replicas and the AOF when the ID was
    // generated or the trim approximate (and only spelt out when kept).
    let rewrite = (a.approx || generated_id) && ctx.srv.journal.wanted();
    // Append, then trim, in one look-up; the rewritten request is built
    // from the stream as the trim left it.
    let done = match value_mut::<Stream>(ctx, key) {
        Ok(Some(s)) if s.log().last_id() == StreamId::MAX => Err(errors::XADD_EXHAUSTED),
        Ok(Some(s)) => {
            let log = s.log_mut();
            match log
                .next_id(spec, now)
                .and_then(|id| log.append(id, &pairs, limits).map(|_| id))
            {
                Err(AddError::NotGreater) => Err(errors::XADD_ID_NOT_GREATER),
                Err(AddError::TooLarge) => Err(errors::XADD_TOO_LARGE),
                Ok(id) => {
                    let trimmed = a.trim.map_or(0, |how| log.trim(how, a.approx, a.limit));
                    let args = rewrite.then(|| rewritten(argv, s, &a, generated_id.then_some(id)));
                    Ok((id, trimmed, args))
                }
            }
        }
        _ => Err(errors::WRONGTYPE),
    };
    let (id, trimmed, args) = match done {
        Ok(x) => x,
        Err(msg) => return ctx.err(msg),
    };
    reply_id(ctx.out(), id);
    ctx.modified(key);
    ctx.notify(class::STREAM, "xadd", key);
    ctx.dirty(1);
    if trimmed > 0 {
        ctx.notify(class::STREAM, "xtrim", key);
    }
    if let Some(args) = args {
        let refs: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
        ctx.propagate(&refs);
    } else if a.approx || generated_id {
        // Nothing records effects: the request is not propagated as is
        // either.
        ctx.suppress_propagation();
    }
}

/// XTRIM key MAXLEN|MINID [=|~] threshold [LIMIT n]
fn xtrim(ctx: &mut Ctx) {
    let Some(a) = parse_add_trim(ctx, false) else {
        return;
    };
    let key = ctx.argv.get(1);
    let Some(how) = a.trim else { return };
    let deleted = match value_mut::<Stream>(ctx, key) {
        Err(WrongType) => return ctx.err(errors::WRONGTYPE),
        Ok(None) => 0,
        Ok(Some(s)) => s.log_mut().trim(how, a.approx, a.limit),
    };
    if deleted > 0 {
        ctx.notify(class::STREAM, "xtrim", key);
        if a.approx {
            let argv = ctx.argv;
            if let Ok(Some(s)) = value_mut::<Stream>(ctx, key) {
                let args = rewritten(argv, s, &a, None);
                let refs: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
                ctx.propagate(&refs);
            }
        }
        ctx.modified(key);
        ctx.dirty(deleted);
    }
    ctx.out().int(deleted as i64);
}

/// XDEL key id [id ...]
fn xdel(ctx: &mut Ctx) {
    let key = ctx.argv.get(1);
    // The key is looked up before the IDs are parsed, as in Redis.
    match value_mut::<Stream>(ctx, key) {
        Err(WrongType) => return ctx.err(errors::WRONGTYPE),
        Ok(None) => return ctx.out().int(0),
        Ok(Some(_)) => {}
    }
    let Some(ids) = strict_ids(ctx, 2) else {
        return;
    };
    let mut deleted = 0u64;
    if let Ok(Some(s)) = value_mut::<Stream>(ctx, key) {
        let log = s.log_mut();
        let mut first_went = false;
        for id in ids {
            if log.delete(id) {
                first_went |= id == log.first_id();
                log.note_deleted(id);
                deleted += 1;
            }
        }
        if deleted > 0 && (log.is_empty() || first_went) {
            log.refresh_first_id();
        }
    }
    if deleted > 0 {
        ctx.modified(key);
        ctx.notify(class::STREAM, "xdel", key);
        ctx.dirty(deleted);
    }
    ctx.out().int(deleted as i64);
}

fn xrange(ctx: &mut Ctx) {
    range_generic(ctx, false);
}

fn xrevrange(ctx: &mut Ctx) {
    range_generic(ctx, true);
}

/// XRANGE key start end [COUNT n] / XREVRANGE key end start [COUNT n].
fn range_generic(ctx: &mut Ctx, rev: bool) {
    let (start_at, end_at) = if rev { (3, 2) } else { (2, 3) };
    let Some(start) = range_start(ctx, ctx.argv.get(start_at)) else {
        return;
    };
    let Some(end) = range_end(ctx, ctx.argv.get(end_at)) else {
        return;
    };
    let mut count: i64 = -1;
    let mut j = 4;
    while j < ctx.argv.len() {
        if is(ctx.argv.get(j), b"COUNT") && j + 1 < ctx.argv.len() {
            let Some(n) = resp::parse_i64(ctx.argv.get(j + 1)) else {
                return ctx.err(errors::NOT_INTEGER);
            };
            count = n.max(0);
            j += 2;
        } else {
            return ctx.err(errors::SYNTAX);
        }
    }
    let key = ctx.argv.get(1);
    let r = crate::lookup::with_value::<Stream, _>(ctx, key, |s, out| {
        match s {
            None => out.array(0),
            Some(_) if count == 0 => out.null_array(),
            Some(s) => {
                let limit = if count < 0 { 0 } else { count as usize };
                reply_range(out, s, start, end, limit, rev);
            }
        };
    });
    if r.is_err() {
        ctx.err(errors::WRONGTYPE);
    }
}

/// XLEN key
fn xlen(ctx: &mut Ctx) {
    let key = ctx.argv.get(1);
    let r = crate::lookup::with_value::<Stream, _>(ctx, key, |s, out| {
        out.int(s.map_or(0, |s| s.len() as i64));
    });
    if r.is_err() {
        ctx.err(errors::WRONGTYPE);
    }
}

/// XSETID key last-id [ENTRIESADDED n] [MAXDELETEDID id]
fn xsetid(ctx: &mut Ctx) {
    let Some(id) = strict_id(ctx, ctx.argv.get(2)) else {
        return;
    };
    let mut entries_added: i64 = -1;
    let mut max_deleted = StreamId::MIN;
    let argc = ctx.argv.len();
    let mut i = 3;
    while i < argc {
        let more = i + 1 < argc;
        let opt = ctx.argv.get(i);
        if is(opt, b"ENTRIESADDED") && more {
            let Some(n) = resp::parse_i64(ctx.argv.get(i + 1)) else {
                return ctx.err(errors::NOT_INTEGER);
            };
            if n < 0 {
                return ctx.err(errors::XSETID_ENTRIES_ADDED_NEGATIVE);
            }
            entries_added = n;
        } else if is(opt, b"MAXDELETEDID") && more {
            let Some(m) = strict_id(ctx, ctx.argv.get(i + 1)) else {
                return;
            };
            if id < m {
                return ctx.err(errors::XSETID_BELOW_MAX_DELETED);
            }
            max_deleted = m;
        } else {
            return ctx.err(errors::SYNTAX);
        }
        i += 2;
    }
    let key = ctx.argv.get(1);
    let refused = match value_mut::<Stream>(ctx, key) {
        Err(WrongType) => Some(errors::WRONGTYPE),
        Ok(None) => Some(errors::NO_SUCH_KEY),
        Ok(Some(s)) => {
            let log = s.log_mut();
            let below_top = log.last_valid_id().is_some_and(|top| id < top);
            if !log.is_empty() && below_top {
                Some(errors::XSETID_BELOW_TOP)
            } else if !log.is_empty() && entries_added != -1 && log.len() > entries_added as u64 {
                Some(errors::XSETID_ENTRIES_ADDED_BELOW_LENGTH)
            } else {
                log.set_last_id(id);
                if entries_added != -1 {
                    log.set_entries_added(entries_added as u64);
                }
                if !max_deleted.is_zero() {
                    log.set_max_deleted(max_deleted);
                }
                None
            }
        }
    };
    if let Some(msg) = refused {
        return ctx.err(msg);
    }
    ctx.out().ok();
    ctx.dirty(1);
    ctx.notify(class::STREAM, "xsetid", key);
}
