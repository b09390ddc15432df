//! Sorted set commands (`t_zset.c` in Redis): adding and scoring, ranks,
//! counts, pops and random members, ZSCAN, and the helpers the other
//! sorted-set files share. The ZRANGE family and range removal live in
//! `zranges.rs`; the multi-key algebra (ZUNION, ZINTER, ZDIFF and their
//! STORE forms, ZINTERCARD) in `zsetops.rs`; GEO in `geo.rs`.
//!
//! Scores are read with `strtod` and printed with `%.17g`, as Redis 7.0
//! does (see `util::double`). Argument errors come in Redis's order: most
//! commands parse their ranges before looking the key up, so a bad range on
//! a missing key is still an error.
//!
//! Propagation: everything is propagated verbatim except ZMPOP, which
//! Redis 7.0 rewrites as `ZPOPMIN|ZPOPMAX key count` (the number popped).

use crate::util::double;
use keyspace::zset::{LexBound, LexRange, ScoreRange};
use keyspace::{Value, ZSet, NO_EXPIRE};
use resp::Reply;
use server::cmd::{Ctx, Handler};
use server::errors::{self, WrongType};
use server::notify::class;
use server::util::glob;

pub const COMMANDS: &[(&str, Handler)] = &[
    ("zadd", zadd),
    ("zincrby", zincrby),
    ("zrem", zrem),
    ("zcard", zcard),
    ("zscore", zscore),
    ("zmscore", zmscore),
    ("zrank", zrank),
    ("zrevrank", zrevrank),
    ("zcount", zcount),
    ("zlexcount", zlexcount),
    ("zpopmin", zpopmin),
    ("zpopmax", zpopmax),
    ("zmpop", zmpop),
    ("zrandmember", zrandmember),
    ("zscan", zscan),
];

// ---------------------------------------------------------------------------
// Look-up and reply helpers (shared with zranges.rs, zsetops.rs and geo.rs)
// ---------------------------------------------------------------------------

/// Looks `key` up for reading and hands the set (if any) and the reply
/// buffer to `f`, so members go into the reply without copies.
pub fn with_zset<R>(
    ctx: &mut Ctx,
    key: &[u8],
    f: impl FnOnce(Option<&ZSet>, &mut Reply) -> R,
) -> Result<R, WrongType> {
    super::lookup::with_value(ctx, key, f)
}

/// Looks `key` up for writing as a sorted set.
pub fn write_zset<'c>(ctx: &'c mut Ctx, key: &[u8]) -> Result<Option<&'c mut ZSet>, WrongType> {
    super::lookup::value_mut(ctx, key)
}

/// Deletes `key` if the command emptied it (Redis never keeps an empty
/// collection), with the `del` event Redis sends then.
pub fn delete_if_empty(ctx: &mut Ctx, key: &[u8]) {
    let empty =
        matches!(ctx.db().get(key), Some(e) if matches!(&e.value, Value::ZSet(z) if z.is_empty()));
    if empty {
        ctx.db().remove(key);
        ctx.notify(class::GENERIC, "del", key);
    }
}

/// Stores a result set under `dst` (replacing any value, TTL dropped) or,
/// when the result is empty, deletes `dst`; replies with the cardinality.
/// This is the tail of every `*STORE` sorted-set command.
pub fn store_result(ctx: &mut Ctx, dst: &[u8], items: Vec<(f64, Box<[u8]>)>, event: &str) {
    let n = items.len();
    if n > 0 {
        let z = ZSet::from_sorted(items, &ctx.srv.encoding_limits);
        let lru = ctx.srv.lru_clock;
        let old = ctx.db().insert(dst, Value::ZSet(z), NO_EXPIRE, lru);
        ctx.srv.free_replaced(old);
        ctx.out().int(n as i64);
        ctx.modified(dst);
        ctx.notify(class::ZSET, event, dst);
        ctx.dirty(1);
    } else {
        ctx.out().int(0);
        if let Some(old) = ctx.db().remove(dst) {
            ctx.srv.free_replaced(Some(old));
            ctx.modified(dst);
            ctx.notify(class::GENERIC, "del", dst);
            ctx.dirty(1);
        }
    }
}

/// Writes members (with their scores when asked) as one array: flat in
/// RESP2, `[member, score]` pairs in RESP3, as Redis 7.0 replies.
pub fn emit_range<'a>(
    out: &mut Reply,
    it: impl Iterator<Item = (f64, &'a [u8])>,
    withscores: bool,
) {
    let mark = out.mark();
    let pairs = withscores && out.resp3;
    let mut n = 0;
    for (s, m) in it {
        if pairs {
            out.array(2);
        }
        out.bulk(m);
        if withscores {
            double::reply(out, s);
        }
        n += 1;
    }
    let len = if withscores && !pairs { n * 2 } else { n };
    out.insert_array_len(mark, len);
}

/// Sorts result pairs into set order (score, then member).
pub fn sort_items(items: &mut [(f64, Box<[u8]>)]) {
    items.sort_by(|a, b| match a.0.partial_cmp(&b.0) {
        Some(std::cmp::Ordering::Equal) | None => a.1.cmp(&b.1),
        Some(o) => o,
    });
}

pub fn parse_long(s: &[u8]) -> Result<i64, &'static str> {
    resp::parse_i64(s).ok_or(errors::NOT_INTEGER)
}

/// One end of a score range: `(x` exclusive, `x` inclusive.
fn parse_score_item(s: &[u8]) -> Option<(f64, bool)> {
    match s.first() {
        Some(b'(') => double::parse_range_item(&s[1..]).map(|v| (v, true)),
        _ => double::parse_range_item(s).map(|v| (v, false)),
    }
}

/// Redis's `zslParseRange`.
pub fn parse_score_range(min: &[u8], max: &[u8]) -> Result<ScoreRange, &'static str> {
    let (Some((min, minex)), Some((max, maxex))) = (parse_score_item(min), parse_score_item(max))
    else {
        return Err(errors::MIN_MAX_NOT_FLOAT);
    };
    Ok(ScoreRange {
        min,
        max,
        minex,
        maxex,
    })
}

fn parse_lex_item(s: &[u8]) -> Option<LexBound> {
    match s.first()? {
        b'+' if s.len() == 1 => Some(LexBound::PlusInf),
        b'-' if s.len() == 1 => Some(LexBound::MinusInf),
        b'(' => Some(LexBound::Excl(s[1..].to_vec())),
        b'[' => Some(LexBound::Incl(s[1..].to_vec())),
        _ => None,
    }
}

/// Redis's `zslParseLexRange`.
pub fn parse_lex_range(min: &[u8], max: &[u8]) -> Result<LexRange, &'static str> {
    match (parse_lex_item(min), parse_lex_item(max)) {
        (Some(min), Some(max)) => Ok(LexRange { min, max }),
        _ => Err(errors::MIN_MAX_NOT_LEX),
    }
}

// ---------------------------------------------------------------------------
// ZADD, ZINCRBY, ZREM
// ---------------------------------------------------------------------------

#[derive(Debug, Default, Clone, Copy)]
pub struct AddFlags {
    nx: bool,
    xx: bool,
    gt: bool,
    lt: bool,
    ch: bool,
    incr: bool,
}

/// What adding one member did (Redis's `ZADD_OUT_*`).
enum AddOutcome {
    Added(f64),
    Updated(f64),
    /// Member present with the same score: processed, nothing changed.
    Same(f64),
    Nop,
    Nan,
}

/// Redis's `zsetAdd` for one member.
fn add_one(
    z: &mut ZSet,
    member: &[u8],
    score: f64,
    f: AddFlags,
    limits: &keyspace::EncodingLimits,
) -> AddOutcome {
    match z.score(member) {
        Some(cur) => {
            if f.nx {
                return AddOutcome::Nop;
            }
            let new = if f.incr { cur + score } else { score };
            if new.is_nan() {
                return AddOutcome::Nan;
            }
            if (f.lt && new >= cur) || (f.gt && new <= cur) {
                return AddOutcome::Nop;
            }
            if new != cur {
                z.insert(member, new, limits);
                AddOutcome::Updated(new)
            } else {
                AddOutcome::Same(new)
            }
        }
        None => {
            if f.xx {
                return AddOutcome::Nop;
            }
            z.insert(member, score, limits);
            AddOutcome::Added(score)
        }
    }
}

fn zadd(ctx: &mut Ctx) {
    zadd_generic(ctx, AddFlags::default());
}

/// ZINCRBY is ZADD INCR with no options, as in Redis.
fn zincrby(ctx: &mut Ctx) {
    zadd_generic(
        ctx,
        AddFlags {
            incr: true,
            ..AddFlags::default()
        },
    );
}

fn zadd_generic(ctx: &mut Ctx, f: AddFlags) {
    let argv = ctx.argv;
    let args: Vec<&[u8]> = argv.iter().collect();
    zadd_args(ctx, &args, f);
}

/// ZADD over an argument vector (`args[0]` is the command name), so that
/// GEOADD can run it on the vector it builds, as Redis does. Returns the
/// number of members added or updated.
pub fn zadd_args(ctx: &mut Ctx, args: &[&[u8]], mut f: AddFlags) -> u64 {
    let key = args[1];
    let mut idx = 2;
    if !f.incr {
        while idx < args.len() {
            let a = args[idx];
            let is = |s: &[u8]| a.eq_ignore_ascii_case(s);
            if is(b"nx") {
                f.nx = true;
            } else if is(b"xx") {
                f.xx = true;
            } else if is(b"ch") {
                f.ch = true;
            } else if is(b"incr") {
                f.incr = true;
            } else if is(b"gt") {
                f.gt = true;
            } else if is(b"lt") {
                f.lt = true;
            } else {
                break;
            }
            idx += 1;
        }
    }
    let rest = args.len() - idx;
    if rest == 0 || !rest.is_multiple_of(2) {
        {
            ctx.err(errors::SYNTAX);
            return 0;
        }
    }
    let elements = rest / 2;
    if f.nx && f.xx {
        {
            ctx.err(errors::ZADD_XX_NX);
            return 0;
        }
    }
    if ((f.gt || f.lt) && f.nx) || (f.gt && f.lt) {
        {
            ctx.err(errors::ZADD_GT_LT_NX);
            return 0;
        }
    }
    if f.incr && elements > 1 {
        {
            ctx.err(errors::ZADD_INCR_PAIRS);
            return 0;
        }
    }
    let mut pairs: Vec<(f64, &[u8])> = Vec::with_capacity(elements);
    let mut max_len = 0;
    for j in 0..elements {
        let Some(s) = double::parse(args[idx + 2 * j]) else {
            {
                ctx.err(errors::NOT_FLOAT);
                return 0;
            }
        };
        let m = args[idx + 2 * j + 1];
        max_len = max_len.max(m.len());
        pairs.push((s, m));
    }
    let limits = ctx.srv.encoding_limits;
    let exists = match write_zset(ctx, key) {
        Err(WrongType) => {
            ctx.err(errors::WRONGTYPE);
            return 0;
        }
        Ok(z) => z.is_some(),
    };
    if !exists {
        if f.xx {
            reply_zadd(ctx, f, 0, 0, None);
            return 0;
        }
        let z = ZSet::with_hint(elements, max_len, &limits);
        let lru = ctx.srv.lru_clock;
        ctx.db().insert(key, Value::ZSet(z), NO_EXPIRE, lru);
    }
    let (mut added, mut updated) = (0, 0);
    let mut last = None;
    let mut nan = false;
    if let Ok(Some(z)) = write_zset(ctx, key) {
        for (s, m) in pairs {
            match add_one(z, m, s, f, &limits) {
                AddOutcome::Added(v) => {
                    added += 1;
                    last = Some(v);
                }
                AddOutcome::Updated(v) => {
                    updated += 1;
                    last = Some(v);
                }
                AddOutcome::Same(v) => last = Some(v),
                AddOutcome::Nop => {}
                AddOutcome::Nan => {
                    nan = true;
                    break;
                }
            }
        }
    }
    if nan {
        ctx.err(errors::SCORE_NAN);
    } else {
        reply_zadd(ctx, f, added, updated, last);
    }
    if added + updated > 0 {
        ctx.modified(key);
        ctx.notify(class::ZSET, if f.incr { "zincr" } else { "zadd" }, key);
        ctx.dirty(added + updated);
    }
    added + updated
}

fn reply_zadd(ctx: &mut Ctx, f: AddFlags, added: u64, updated: u64, last: Option<f64>) {
    let out = ctx.out();
    if f.incr {
        match last {
            Some(v) => double::reply(out, v),
            None => out.null(),
        }
    } else {
        out.int((if f.ch { added + updated } else { added }) as i64);
    }
}

fn zrem(ctx: &mut Ctx) {
    let key = ctx.argv.get(1);
    let argv = ctx.argv;
    let deleted: u64 = match write_zset(ctx, key) {
        Err(WrongType) => return ctx.err(errors::WRONGTYPE),
        Ok(None) => 0,
        Ok(Some(z)) => {
            let mut n = 0;
            for m in argv.from(2) {
                if z.remove(m).is_some() {
                    n += 1;
                    if z.is_empty() {
                        break;
                    }
                }
            }
            n
        }
    };
    if deleted > 0 {
        ctx.notify(class::ZSET, "zrem", key);
        delete_if_empty(ctx, key);
        ctx.modified(key);
        ctx.dirty(deleted);
    }
    ctx.out().int(deleted as i64);
}

// ---------------------------------------------------------------------------
// Reads: ZCARD, ZSCORE, ZMSCORE, ZRANK, ZCOUNT, ZLEXCOUNT
// ---------------------------------------------------------------------------

fn zcard(ctx: &mut Ctx) {
    let key = ctx.argv.get(1);
    if with_zset(ctx, key, |z, out| out.int(z.map_or(0, |z| z.len()) as i64)).is_err() {
        ctx.err(errors::WRONGTYPE);
    }
}

fn zscore(ctx: &mut Ctx) {
    let (key, m) = (ctx.argv.get(1), ctx.argv.get(2));
    let r = with_zset(ctx, key, |z, out| match z.and_then(|z| z.score(m)) {
        Some(s) => double::reply(out, s),
        None => out.null(),
    });
    if r.is_err() {
        ctx.err(errors::WRONGTYPE);
    }
}

fn zmscore(ctx: &mut Ctx) {
    let key = ctx.argv.get(1);
    let argv = ctx.argv;
    let r = with_zset(ctx, key, |z, out| {
        out.array(argv.len() - 2);
        for m in argv.from(2) {
            match z.and_then(|z| z.score(m)) {
                Some(s) => double::reply(out, s),
                None => out.null(),
            }
        }
    });
    if r.is_err() {
        ctx.err(errors::WRONGTYPE);
    }
}

fn zrank(ctx: &mut Ctx) {
    zrank_generic(ctx, false);
}

fn zrevrank(ctx: &mut Ctx) {
    zrank_generic(ctx, true);
}

fn zrank_generic(ctx: &mut Ctx, rev: bool) {
    let (key, m) = (ctx.argv.get(1), ctx.argv.get(2));
    let r = with_zset(ctx, key, |z, out| match z.and_then(|z| z.rank(m, rev)) {
        Some(r) => out.int(r as i64),
        None => out.null(),
    });
    if r.is_err() {
        ctx.err(errors::WRONGTYPE);
    }
}

fn zcount(ctx: &mut Ctx) {
    let key = ctx.argv.get(1);
    let range = match parse_score_range(ctx.argv.get(2), ctx.argv.get(3)) {
        Ok(r) => r,
        Err(e) => return ctx.err(e),
    };
    let r = with_zset(ctx, key, |z, out| {
        out.int(z.map_or(0, |z| z.iter_score(range, false).count()) as i64)
    });
    if r.is_err() {
        ctx.err(errors::WRONGTYPE);
    }
}

fn zlexcount(ctx: &mut Ctx) {
    let key = ctx.argv.get(1);
    let range = match parse_lex_range(ctx.argv.get(2), ctx.argv.get(3)) {
        Ok(r) => r,
        Err(e) => return ctx.err(e),
    };
    let r = with_zset(ctx, key, |z, out| {
        out.int(z.map_or(0, |z| z.iter_lex(&range, false).count()) as i64)
    });
    if r.is_err() {
        ctx.err(errors::WRONGTYPE);
    }
}

// ---------------------------------------------------------------------------
// Pops: ZPOPMIN, ZPOPMAX, ZMPOP
// ---------------------------------------------------------------------------

/// Pops up to `count` members from one end of the set at `key`; sends the
/// events and deletes an emptied key.
pub fn pop_members(ctx: &mut Ctx, key: &[u8], max: bool, count: usize) -> Vec<(f64, Box<[u8]>)> {
    let mut popped: Vec<(f64, Box<[u8]>)> = Vec::new();
    if let Ok(Some(z)) = write_zset(ctx, key) {
        popped = z
            .iter(max)
            .take(count)
            .map(|(s, m)| (s, m.into()))
            .collect();
        for (_, m) in &popped {
            z.remove(m);
        }
    }
    if !popped.is_empty() {
        ctx.notify(class::ZSET, if max { "zpopmax" } else { "zpopmin" }, key);
        delete_if_empty(ctx, key);
        ctx.modified(key);
        ctx.dirty(popped.len() as u64);
    }
    popped
}

fn zpopmin(ctx: &mut Ctx) {
    zpop_generic(ctx, false);
}

fn zpopmax(ctx: &mut Ctx) {
    zpop_generic(ctx, true);
}

fn zpop_generic(ctx: &mut Ctx, max: bool) {
    let key = ctx.argv.get(1);
    let count = if ctx.argv.len() > 2 {
        match resp::parse_i64(ctx.argv.get(2)) {
            None => return ctx.err(errors::MUST_BE_POSITIVE),
            Some(n) if n < 0 => return ctx.err(errors::MUST_BE_POSITIVE),
            Some(n) => Some(n as usize),
        }
    } else {
        None
    };
    match write_zset(ctx, key) {
        Err(WrongType) => return ctx.err(errors::WRONGTYPE),
        Ok(None) => return ctx.out().array(0),
        Ok(Some(_)) => {}
    }
    if count == Some(0) {
        return ctx.out().array(0);
    }
    let popped = pop_members(ctx, key, max, count.unwrap_or(1));
    let out = ctx.out();
    // Redis 7.0 nests [member, score] pairs in RESP3 only when a count was
    // given; without one the reply is flat.
    let nested = out.resp3 && count.is_some();
    out.array(if nested {
        popped.len()
    } else {
        popped.len() * 2
    });
    for (s, m) in &popped {
        if nested {
            out.array(2);
        }
        out.bulk(m);
        double::reply(out, *s);
    }
}

/// The arguments shared by ZMPOP and BZMPOP: `numkeys key [key ...]
/// MIN|MAX [COUNT count]`, starting with numkeys at `numkeys_at`.
pub(crate) struct MpopArgs {
    /// Positions of the keys in argv.
    pub keys: std::ops::Range<usize>,
    pub max: bool,
    pub count: usize,
}

/// Parses [`MpopArgs`] with Redis's checks and messages, in its order.
pub(crate) fn parse_mpop(
    argv: command_meta::Argv,
    numkeys_at: usize,
) -> Result<MpopArgs, &'static str> {
    // Redis's range-checked parse sends its own message for a bad number
    // too, not only for one out of range.
    let numkeys = match resp::parse_i64(argv.get(numkeys_at)) {
        Some(n) if n >= 1 => n as u64,
        _ => return Err(errors::NUMKEYS_POSITIVE),
    };
    let where_idx = numkeys_at as u64 + 1 + numkeys;
    if where_idx >= argv.len() as u64 {
        return Err(errors::SYNTAX);
    }
    let where_idx = where_idx as usize;
    let w = argv.get(where_idx);
    let max = if w.eq_ignore_ascii_case(b"min") {
        false
    } else if w.eq_ignore_ascii_case(b"max") {
        true
    } else {
        return Err(errors::SYNTAX);
    };
    let mut count: Option<usize> = None;
    let mut j = where_idx + 1;
    while j < argv.len() {
        if count.is_none() && argv.get(j).eq_ignore_ascii_case(b"count") && j + 1 < argv.len() {
            match resp::parse_i64(argv.get(j + 1)) {
                Some(n) if n >= 1 => count = Some(n as usize),
                _ => return Err(errors::COUNT_POSITIVE),
            }
            j += 2;
        } else {
            return Err(errors::SYNTAX);
        }
    }
    Ok(MpopArgs {
        keys: numkeys_at + 1..where_idx,
        max,
        count: count.unwrap_or(1),
    })
}

/// Pops up to `count` members of `key` for ZMPOP/BZMPOP: replies `[key,
/// [[member, score], ...]]` and propagates `ZPOPMIN|ZPOPMAX key n` with
/// the number actually popped, as Redis 7.0 does.
pub(crate) fn mpop_from(ctx: &mut Ctx, key: &[u8], max: bool, count: usize) {
    let popped = pop_members(ctx, key, max, count);
    let out = ctx.out();
    out.array(2);
    out.bulk(key);
    out.array(popped.len());
    for (s, m) in &popped {
        out.array(2);
        out.bulk(m);
        double::reply(out, *s);
    }
    let verb: &[u8] = if max { b"ZPOPMAX" } else { b"ZPOPMIN" };
    let mut nb = itoa::Buffer::new();
    let n = nb.format(popped.len()).as_bytes();
    ctx.propagate(&[verb, key, n]);
}

/// ZMPOP numkeys key [key ...] MIN|MAX [COUNT count]
fn zmpop(ctx: &mut Ctx) {
    let argv = ctx.argv;
    let a = match parse_mpop(argv, 1) {
        Ok(a) => a,
        Err(e) => return ctx.err(e),
    };
    for i in a.keys {
        let key = argv.get(i);
        let found = match write_zset(ctx, key) {
            Err(WrongType) => return ctx.err(errors::WRONGTYPE),
            Ok(z) => z.is_some_and(|z| !z.is_empty()),
        };
        if found {
            return mpop_from(ctx, key, a.max, a.count);
        }
    }
    ctx.out().null_array();
}

// ---------------------------------------------------------------------------
// ZRANDMEMBER, ZSCAN
// ---------------------------------------------------------------------------

fn zrandmember(ctx: &mut Ctx) {
    let argv = ctx.argv;
    let key = argv.get(1);
    if argv.len() == 2 {
        let len = match with_zset(ctx, key, |z, _| z.map_or(0, |z| z.len())) {
            Err(WrongType) => return ctx.err(errors::WRONGTYPE),
            Ok(n) => n,
        };
        if len == 0 {
            return ctx.out().null();
        }
        let i = rand::Rng::gen_range(&mut ctx.srv.rng, 0..len);
        let _ = with_zset(ctx, key, |z, out| {
            match z.and_then(|z| z.iter(false).nth(i)) {
                Some((_, m)) => out.bulk(m),
                None => out.null(),
            }
        });
        return;
    }
    let l = match resp::parse_i64(argv.get(2)) {
        None => return ctx.err(errors::NOT_INTEGER),
        Some(i64::MIN) => return ctx.err(errors::RANDMEMBER_COUNT_RANGE),
        Some(n) => n,
    };
    let mut withscores = false;
    if argv.len() == 4 && argv.get(3).eq_ignore_ascii_case(b"withscores") {
        withscores = true;
    } else if argv.len() > 3 {
        return ctx.err(errors::SYNTAX);
    }
    if withscores && l < -(i64::MAX / 2) {
        return ctx.err(errors::OUT_OF_RANGE);
    }
    let len = match with_zset(ctx, key, |z, _| z.map_or(0, |z| z.len())) {
        Err(WrongType) => return ctx.err(errors::WRONGTYPE),
        Ok(n) => n,
    };
    if len == 0 || l == 0 {
        return ctx.out().array(0);
    }
    // Pick the ranks first (the generator lives in the server), then
    // write the members out.
    let picks: Vec<usize> = if l < 0 {
        let n = l.unsigned_abs() as usize;
        (0..n)
            .map(|_| rand::Rng::gen_range(&mut ctx.srv.rng, 0..len))
            .collect()
    } else if l as usize >= len {
        // The whole set, in the order Redis's set-operation iterator walks
        // it: from the tail.
        (0..len).rev().collect()
    } else {
        let mut all: Vec<usize> = (0..len).collect();
        let (chosen, _) =
            rand::seq::SliceRandom::partial_shuffle(&mut all[..], &mut ctx.srv.rng, l as usize);
        chosen.to_vec()
    };
    let _ = with_zset(ctx, key, |z, out| {
        let Some(z) = z else {
            return out.array(0);
        };
        let items: Vec<(f64, &[u8])> = z.iter(false).collect();
        emit_range(
            out,
            picks.iter().filter_map(|&i| items.get(i).copied()),
            withscores,
        );
    });
}

fn zscan(ctx: &mut Ctx) {
    let argv = ctx.argv;
    let key = argv.get(1);
    let Some(cursor) = crate::keys::parse_cursor(argv.get(2)) else {
        return ctx.err(errors::INVALID_CURSOR);
    };
    let exists = match with_zset(ctx, key, |z, _| z.is_some()) {
        Err(WrongType) => return ctx.err(errors::WRONGTYPE),
        Ok(e) => e,
    };
    if !exists {
        let out = ctx.out();
        out.array(2);
        out.bulk(b"0");
        return out.array(0);
    }
    let (count, pattern) = match crate::keys::parse_scan_options(argv, 3, false) {
        Err(e) => return ctx.err(e),
        Ok(o) => (o.count, o.pattern),
    };
    let _ = with_zset(ctx, key, |z, out| {
        let Some(z) = z else { return };
        // A listpack is returned whole in one call with cursor 0, as Redis
        // does; a skiplist is walked by dense index position from the end,
        // so removals while scanning never skip a member present
        // throughout.
        let (next, picked): (u64, Vec<(f64, &[u8])>) = match z {
            ZSet::Listpack(_) => (0, z.iter(false).collect()),
            ZSet::Skiplist(_) => {
                let len = z.len() as u64;
                let mut next = if cursor == 0 { len } else { cursor.min(len) };
                let mut v = Vec::new();
                while next > 0 && v.len() < count {
                    next -= 1;
                    if let Some(e) = z.at(next as usize) {
                        v.push(e);
                    }
                }
                (next, v)
            }
        };
        let picked: Vec<(f64, &[u8])> = picked
            .into_iter()
            .filter(|(_, m)| pattern.is_none_or(|p| glob::matches(p, m, false)))
            .collect();
        out.array(2);
        out.bulk(itoa::Buffer::new().format(next).as_bytes());
        out.array(picked.len() * 2);
        let mut b = [0u8; 32];
        for (s, m) in picked {
            out.bulk(m);
            out.bulk(double::fmt(s, &mut b));
        }
    });
}

#[cfg(test)]
mod tests {
    use crate::testkit::Kit;

    #[test]
    fn zadd_and_zincrby_propagate_verbatim_and_report_scores() {
        let mut k = Kit::new();
        assert_eq!(k.run(&["ZADD", "z", "1", "a", "0.1", "b"]), ":2\r\n");
        assert_eq!(
            k.run(&["ZINCRBY", "z", "1", "b"]),
            "$18\r\n1.1000000000000001\r\n"
        );
        assert_eq!(k.run(&["ZADD", "z", "NX", "5", "a"]), ":0\r\n");
        assert_eq!(k.propagated(), vec!["ZADD z 1 a 0.1 b", "ZINCRBY z 1 b"]);
        assert_eq!(k.run(&["ZADD", "z", "INCR", "-inf", "a"]), "$4\r\n-inf\r\n");
        assert_eq!(
            k.run(&["ZADD", "z", "INCR", "inf", "a"]),
            "-ERR resulting score is not a number (NaN)\r\n"
        );
        assert_eq!(k.propagated(), vec!["ZADD z INCR -inf a"]);
    }

    #[test]
    fn zmpop_propagates_as_zpop_with_the_number_popped() {
        let mut k = Kit::new();
        k.run(&["ZADD", "z", "1", "a", "2", "b", "3", "c"]);
        k.propagated();
        k.run(&["ZMPOP", "2", "nokey", "z", "MAX", "COUNT", "5"]);
        // The count propagated is the number popped, not the one asked.
        assert_eq!(k.propagated(), vec!["ZPOPMAX z 3"]);
        assert_eq!(k.run(&["EXISTS", "z"]), ":0\r\n");
        k.run(&["ZADD", "z", "1", "a"]);
        k.propagated();
        k.run(&["ZPOPMIN", "z", "0"]);
        assert!(k.propagated().is_empty());
        k.run(&["ZPOPMIN", "z"]);
        assert_eq!(k.propagated(), vec!["ZPOPMIN z"]);
    }

    #[test]
    fn store_commands_propagate_verbatim_and_an_empty_result_deletes() {
        let mut k = Kit::new();
        k.run(&["ZADD", "z", "1", "a", "2", "b"]);
        k.run(&["SET", "d", "x"]);
        k.propagated();
        assert_eq!(k.run(&["ZRANGESTORE", "d", "z", "0", "0"]), ":1\r\n");
        assert_eq!(k.run(&["ZRANGESTORE", "d", "z", "5", "9"]), ":0\r\n");
        assert_eq!(k.run(&["ZRANGESTORE", "d", "z", "5", "9"]), ":0\r\n");
        assert_eq!(
            k.propagated(),
            vec!["ZRANGESTORE d z 0 0", "ZRANGESTORE d z 5 9"]
        );
        assert_eq!(k.run(&["ZREMRANGEBYSCORE", "z", "-inf", "+inf"]), ":2\r\n");
        assert_eq!(k.propagated(), vec!["ZREMRANGEBYSCORE z -inf +inf"]);
    }

    #[test]
    fn writes_propagate_only_when_they_change_something() {
        let mut k = Kit::new();
        k.run(&["ZADD", "q", "1", "a", "2", "b", "3", "c"]);
        k.run(&["ZADD", "q", "1", "a"]);
        k.run(&["ZADD", "q", "XX", "CH", "INCR", "1", "zz"]);
        k.run(&["ZINCRBY", "q", "0", "a"]);
        k.run(&["ZREM", "q", "nope"]);
        k.run(&["ZREMRANGEBYRANK", "q", "5", "9"]);
        k.run(&["ZPOPMAX", "nokey", "2"]);
        assert_eq!(k.propagated(), vec!["ZADD q 1 a 2 b 3 c"]);
        k.run(&["ZREM", "q", "a"]);
        k.run(&["ZPOPMAX", "q", "2"]);
        assert_eq!(k.propagated(), vec!["ZREM q a", "ZPOPMAX q 2"]);
        assert_eq!(k.run(&["EXISTS", "q"]), ":0\r\n");
        // Storing an empty result over an existing key deletes it: that is
        // a change, propagated verbatim.
        k.run(&["SET", "d", "x"]);
        k.propagated();
        k.run(&["ZUNIONSTORE", "d", "1", "nokey"]);
        k.run(&["ZUNIONSTORE", "d", "1", "nokey"]);
        assert_eq!(k.propagated(), vec!["ZUNIONSTORE d 1 nokey"]);
    }
}
