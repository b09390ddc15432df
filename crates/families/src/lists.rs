//! List commands: pushes and pops at both ends (with counts), index access
//! (LINDEX, LSET, LRANGE, LTRIM, LINSERT, LREM, LPOS), moves between lists
//! (LMOVE, RPOPLPUSH, LMPOP) and their blocking forms (BLPOP, BRPOP,
//! BLMOVE, BRPOPLPUSH, BLMPOP), which park the client through
//! [`server::blocking`] when every list they name is empty.
//!
//! Like Redis, an emptied list is deleted at once, and a blocking command
//! that finds data behaves as its non-blocking form and is propagated as
//! such (`BLPOP k 0` → `LPOP k`, `BLMOVE` → `LMOVE`, `BLMPOP`/`LMPOP` →
//! `LPOP k n` with the number actually popped), so replicas and the AOF
//! never see a blocking command.

use keyspace::list::End;
use keyspace::{List, Value};
use resp::Reply;
use server::blocking;
use server::cmd::{Ctx, Handler};
use server::errors::{self, WrongType};
use server::notify::class;

pub const COMMANDS: &[(&str, Handler)] = &[
    ("lpush", lpush),
    ("rpush", rpush),
    ("lpushx", lpushx),
    ("rpushx", rpushx),
    ("lpop", lpop),
    ("rpop", rpop),
    ("llen", llen),
    ("lindex", lindex),
    ("lset", lset),
    ("lrange", lrange),
    ("ltrim", ltrim),
    ("lrem", lrem),
    ("linsert", linsert),
    ("lpos", lpos),
    ("lmove", lmove),
    ("rpoplpush", rpoplpush),
    ("lmpop", lmpop),
    ("blpop", blpop),
    ("brpop", brpop),
    ("blmove", blmove),
    ("brpoplpush", brpoplpush),
    ("blmpop", blmpop),
];

// ---------------------------------------------------------------------------
// Look-ups
// ---------------------------------------------------------------------------

/// Looks `key` up for reading and hands the list (or `None` when missing)
/// to `f` with the reply buffer, so elements go to the reply uncopied.
fn with_list<R>(
    ctx: &mut Ctx,
    key: &[u8],
    f: impl FnOnce(Option<&List>, &mut Reply) -> R,
) -> Result<R, WrongType> {
    super::lookup::with_value(ctx, key, f)
}

/// Looks `key` up for writing as a list (lazy expiry, no statistics).
fn list_mut<'c>(ctx: &'c mut Ctx, key: &[u8]) -> Result<Option<&'c mut List>, WrongType> {
    super::lookup::value_mut(ctx, key)
}

/// The list at `key`, created empty when missing (the caller pushes at
/// once, so an empty list never outlives the command).
fn list_or_create<'c>(ctx: &'c mut Ctx, key: &[u8]) -> Result<&'c mut List, WrongType> {
    if list_mut(ctx, key)?.is_none() {
        let lru = ctx.srv.lru_clock;
        // A list keeps the compression depth it was created with, as in
        // Redis.
        let mut list = Box::<List>::default();
        list.set_compress_depth(ctx.srv.encoding_limits.list_compress_depth);
        ctx.db()
            .insert(key, Value::List(list), keyspace::NO_EXPIRE, lru);
    }
    match ctx.db().get_mut(key).map(|e| &mut e.value) {
        Some(Value::List(l)) => Ok(l),
        _ => Err(WrongType),
    }
}

/// Deletes `key` when its list is now empty, with the `del` event Redis
/// emits after the command's own.
fn delete_if_empty(ctx: &mut Ctx, key: &[u8]) -> bool {
    let empty = matches!(
        ctx.db().get(key).map(|e| &e.value),
        Some(Value::List(l)) if l.is_empty()
    );
    if empty {
        ctx.db().remove(key);
        ctx.notify(class::GENERIC, "del", key);
    }
    empty
}

fn parse_end(arg: &[u8]) -> Option<End> {
    if arg.eq_ignore_ascii_case(b"LEFT") {
        Some(End::Head)
    } else if arg.eq_ignore_ascii_case(b"RIGHT") {
        Some(End::Tail)
    } else {
        None
    }
}

fn pop_event(end: End) -> &'static str {
    match end {
        End::Head => "lpop",
        End::Tail => "rpop",
    }
}

fn push_event(end: End) -> &'static str {
    match end {
        End::Head => "lpush",
        End::Tail => "rpush",
    }
}

fn pop_verb(end: End) -> &'static [u8] {
    match end {
        End::Head => b"LPOP",
        End::Tail => b"RPOP",
    }
}

/// Resolves a Redis-style index (negative counts from the tail).
fn resolve_index(i: i64, len: usize) -> Option<usize> {
    let len = len as i64;
    let i = if i < 0 { i + len } else { i };
    (0..len).contains(&i).then_some(i as usize)
}

// ---------------------------------------------------------------------------
// Pushes
// ---------------------------------------------------------------------------

fn lpush(ctx: &mut Ctx) {
    push_generic(ctx, End::Head, false);
}

fn rpush(ctx: &mut Ctx) {
    push_generic(ctx, End::Tail, false);
}

fn lpushx(ctx: &mut Ctx) {
    push_generic(ctx, End::Head, true);
}

fn rpushx(ctx: &mut Ctx) {
    push_generic(ctx, End::Tail, true);
}

/// [LR]PUSH[X] key element...: the elements go in one by one, so LPUSH
/// leaves them in reverse order. The X forms do nothing on a missing key.
fn push_generic(ctx: &mut Ctx, end: End, only_existing: bool) {
    let key = ctx.argv.get(1);
    let argv = ctx.argv;
    let exists = match list_mut(ctx, key) {
        Err(WrongType) => return ctx.err(errors::WRONGTYPE),
        Ok(l) => l.is_some(),
    };
    if !exists && only_existing {
        return ctx.out().int(0);
    }
    let Ok(list) = list_or_create(ctx, key) else {
        return ctx.err(errors::WRONGTYPE);
    };
    for v in argv.from(2) {
        list.push(end, v);
    }
    let len = list.len();
    ctx.modified(key);
    ctx.notify(class::LIST, push_event(end), key);
    ctx.dirty(argv.len() as u64 - 2);
    ctx.out().int(len as i64);
}

// ---------------------------------------------------------------------------
// Pops
// ---------------------------------------------------------------------------

fn lpop(ctx: &mut Ctx) {
    pop_generic(ctx, End::Head);
}

fn rpop(ctx: &mut Ctx) {
    pop_generic(ctx, End::Tail);
}

/// [LR]POP key [count]: without a count one element (null when missing);
/// with one an array of up to `count` (null array when missing, empty for
/// a count of 0). Propagated verbatim.
fn pop_generic(ctx: &mut Ctx, end: End) {
    if ctx.argv.len() > 3 {
        return ctx.err_arity();
    }
    let key = ctx.argv.get(1);
    let count = if ctx.argv.len() == 3 {
        match resp::parse_i64(ctx.argv.get(2)) {
            Some(n) if n >= 0 => Some(n as usize),
            _ => return ctx.err(errors::COUNT_MUST_BE_POSITIVE),
        }
    } else {
        None
    };
    let list = match list_mut(ctx, key) {
        Err(WrongType) => return ctx.err(errors::WRONGTYPE),
        Ok(None) => {
            return match count {
                Some(_) => ctx.out().null_array(),
                None => ctx.out().null(),
            }
        }
        Ok(Some(l)) => l,
    };
    match count {
        None => {
            let v = list.pop(end).unwrap_or_default();
            ctx.out().bulk(&v);
        }
        Some(0) => return ctx.out().array(0),
        Some(n) => {
            let n = n.min(list.len());
            let popped: Vec<Vec<u8>> = (0..n).filter_map(|_| list.pop(end)).collect();
            let out = ctx.out();
            out.array(popped.len());
            for v in &popped {
                out.bulk(v);
            }
        }
    }
    ctx.notify(class::LIST, pop_event(end), key);
    delete_if_empty(ctx, key);
    ctx.modified(key);
    ctx.dirty(1);
}

/// Pops up to `count` elements from the list at `key` (which exists and is
/// not empty), replies `[key, [elements]]` and propagates `[LR]POP key n`
/// with the number popped. Shared by LMPOP and BLMPOP.
fn mpop_from(ctx: &mut Ctx, key: &[u8], end: End, count: usize) {
    let popped: Vec<Vec<u8>> = match list_mut(ctx, key) {
        Ok(Some(l)) => {
            let n = count.min(l.len());
            (0..n).filter_map(|_| l.pop(end)).collect()
        }
        _ => Vec::new(),
    };
    let out = ctx.out();
    out.array(2);
    out.bulk(key);
    out.array(popped.len());
    for v in &popped {
        out.bulk(v);
    }
    ctx.notify(class::LIST, pop_event(end), key);
    delete_if_empty(ctx, key);
    ctx.modified(key);
    ctx.dirty(1);
    let mut n = [0u8; 24];
    let n = keyspace::value::fmt_i64(popped.len() as i64, &mut n);
    ctx.propagate(&[pop_verb(end), key, n]);
}

/// Parsed `numkeys key... LEFT|RIGHT [COUNT n]` of LMPOP and BLMPOP.
struct MpopArgs {
    first_key: usize,
    numkeys: usize,
    end: End,
    count: usize,
}

fn parse_mpop(ctx: &mut Ctx, numkeys_idx: usize) -> Option<MpopArgs> {
    let numkeys = match resp::parse_i64(ctx.argv.get(numkeys_idx)) {
        Some(n) if n > 0 => n as usize,
        _ => {
            ctx.err(errors::NUMKEYS_POSITIVE);
            return None;
        }
    };
    let where_idx = numkeys_idx.saturating_add(numkeys).saturating_add(1);
    if where_idx >= ctx.argv.len() {
        ctx.err(errors::SYNTAX);
        return None;
    }
    let Some(end) = parse_end(ctx.argv.get(where_idx)) else {
        ctx.err(errors::SYNTAX);
        return None;
    };
    let mut count = None;
    let mut j = where_idx + 1;
    while j < ctx.argv.len() {
        let more = j + 1 < ctx.argv.len();
        if count.is_none() && more && ctx.argv.get(j).eq_ignore_ascii_case(b"COUNT") {
            j += 1;
            match resp::parse_i64(ctx.argv.get(j)) {
                Some(n) if n > 0 => count = Some(n as usize),
                _ => {
                    ctx.err(errors::COUNT_POSITIVE);
                    return None;
                }
            }
        } else {
            ctx.err(errors::SYNTAX);
            return None;
        }
        j += 1;
    }
    Some(MpopArgs {
        first_key: numkeys_idx + 1,
        numkeys,
        end,
        count: count.unwrap_or(1),
    })
}

/// The first key of `keys` holding a list, or an error reply for a key of
/// another type met on the way.
fn first_nonempty(ctx: &mut Ctx, first: usize, n: usize) -> Result<Option<usize>, WrongType> {
    for i in first..first + n {
        let key = ctx.argv.get(i);
        if list_mut(ctx, key)?.is_some() {
            return Ok(Some(i));
        }
    }
    Ok(None)
}

/// LMPOP numkeys key... LEFT|RIGHT [COUNT n].
fn lmpop(ctx: &mut Ctx) {
    let Some(a) = parse_mpop(ctx, 1) else { return };
    match first_nonempty(ctx, a.first_key, a.numkeys) {
        Err(WrongType) => ctx.err(errors::WRONGTYPE),
        Ok(None) => ctx.out().null_array(),
        Ok(Some(i)) => {
            let key = ctx.argv.get(i);
            mpop_from(ctx, key, a.end, a.count)
        }
    }
}

// ---------------------------------------------------------------------------
// Reads
// ---------------------------------------------------------------------------

fn llen(ctx: &mut Ctx) {
    let key = ctx.argv.get(1);
    if with_list(ctx, key, |l, out| out.int(l.map_or(0, |l| l.len() as i64))).is_err() {
        ctx.err(errors::WRONGTYPE);
    }
}

/// LINDEX key index: the key is looked up before the index is parsed, as
/// in Redis (a missing key answers null whatever the index).
fn lindex(ctx: &mut Ctx) {
    let key = ctx.argv.get(1);
    let raw = ctx.argv.get(2);
    let r = with_list(ctx, key, |l, out| {
        let Some(l) = l else {
            out.null();
            return true;
        };
        let Some(i) = resp::parse_i64(raw) else {
            return false;
        };
        match resolve_index(i, l.len()).and_then(|i| l.get(i)) {
            Some(v) => out.bulk(v),
            None => out.null(),
        }
        true
    });
    match r {
        Err(WrongType) => ctx.err(errors::WRONGTYPE),
        Ok(false) => ctx.err(errors::NOT_INTEGER),
        Ok(true) => {}
    }
}

/// Clamps Redis's inclusive `start`/`end` (negative from the tail) to a
/// range of `len`; `None` when it selects nothing.
fn clamp_range(start: i64, end: i64, len: usize) -> Option<(usize, usize)> {
    let len = len as i64;
    let mut start = if start < 0 { start + len } else { start };
    let mut end = if end < 0 { end + len } else { end };
    if start < 0 {
        start = 0;
    }
    if start > end || start >= len {
        return None;
    }
    if end >= len {
        end = len - 1;
    }
    Some((start as usize, end as usize))
}

fn lrange(ctx: &mut Ctx) {
    let key = ctx.argv.get(1);
    let (Some(start), Some(end)) = (
        resp::parse_i64(ctx.argv.get(2)),
        resp::parse_i64(ctx.argv.get(3)),
    ) else {
        return ctx.err(errors::NOT_INTEGER);
    };
    let r = with_list(ctx, key, |l, out| {
        let Some(l) = l else { return out.array(0) };
        match clamp_range(start, end, l.len()) {
            None => out.array(0),
            Some((s, e)) => {
                out.array(e - s + 1);
                for v in l.iter_from(s).take(e - s + 1) {
                    out.bulk(v);
                }
            }
        }
    });
    if r.is_err() {
        ctx.err(errors::WRONGTYPE);
    }
}

/// LPOS key element [RANK r] [COUNT n] [MAXLEN m].
fn lpos(ctx: &mut Ctx) {
    let mut rank: i64 = 1;
    let mut count: Option<i64> = None;
    let mut maxlen: i64 = 0;
    let mut j = 3;
    while j < ctx.argv.len() {
        let opt = ctx.argv.get(j);
        if j + 1 >= ctx.argv.len() {
            return ctx.err(errors::SYNTAX);
        }
        // COUNT and MAXLEN are read as non-negative numbers: anything
        // else gets their "can't be negative" error, as in Redis.
        let Some(v) = resp::parse_i64(ctx.argv.get(j + 1)) else {
            let msg = if opt.eq_ignore_ascii_case(b"RANK") {
                errors::NOT_INTEGER
            } else if opt.eq_ignore_ascii_case(b"COUNT") {
                errors::LPOS_COUNT_NEGATIVE
            } else if opt.eq_ignore_ascii_case(b"MAXLEN") {
                errors::LPOS_MAXLEN_NEGATIVE
            } else {
                errors::SYNTAX
            };
            return ctx.err(msg);
        };
        if opt.eq_ignore_ascii_case(b"RANK") {
            if v == 0 {
                return ctx.err(errors::LPOS_RANK_ZERO);
            }
            rank = v;
        } else if opt.eq_ignore_ascii_case(b"COUNT") {
            if v < 0 {
                return ctx.err(errors::LPOS_COUNT_NEGATIVE);
            }
            count = Some(v);
        } else if opt.eq_ignore_ascii_case(b"MAXLEN") {
            if v < 0 {
                return ctx.err(errors::LPOS_MAXLEN_NEGATIVE);
            }
            maxlen = v;
        } else {
            return ctx.err(errors::SYNTAX);
        }
        j += 2;
    }
    // A negative rank walks from the tail. Like Redis 7.0 the rank is
    // negated with wrap-around, so i64::MIN stays negative and, compared
    // below, accepts the first match (it acts as -1).
    let from_tail = rank < 0;
    if from_tail {
        rank = rank.wrapping_neg();
    }
    let key = ctx.argv.get(1);
    let elem = ctx.argv.get(2);
    let r = with_list(ctx, key, |l, out| {
        let Some(l) = l else {
            return match count {
                Some(_) => out.array(0),
                None => out.null(),
            };
        };
        let len = l.len();
        let limit = if maxlen == 0 {
            usize::MAX
        } else {
            maxlen as usize
        };
        let want = match count {
            Some(0) => usize::MAX,
            Some(n) => n as usize,
            None => 1,
        };
        let mut found: Vec<usize> = Vec::new();
        let mut matches: i64 = 0;
        let mut scan = |pos: usize, v: &[u8]| {
            if v == elem {
                matches += 1;
                if matches >= rank {
                    found.push(pos);
                }
            }
            found.len() < want
        };
        if from_tail {
            for (k, v) in l.iter_rev().take(limit).enumerate() {
                if !scan(len - 1 - k, v) {
                    break;
                }
            }
        } else {
            for (k, v) in l.iter().take(limit).enumerate() {
                if !scan(k, v) {
                    break;
                }
            }
        }
        match count {
            Some(_) => {
                out.array(found.len());
                for p in found {
                    out.int(p as i64);
                }
            }
            None => match found.first() {
                Some(&p) => out.int(p as i64),
                None => out.null(),
            },
        }
    });
    if r.is_err() {
        ctx.err(errors::WRONGTYPE);
    }
}

// ---------------------------------------------------------------------------
// Edits
// ---------------------------------------------------------------------------

/// LSET key index element: the key is looked up before the index parsed.
fn lset(ctx: &mut Ctx) {
    let key = ctx.argv.get(1);
    let elem = ctx.argv.get(3);
    let raw = ctx.argv.get(2);
    let list = match list_mut(ctx, key) {
        Err(WrongType) => return ctx.err(errors::WRONGTYPE),
        Ok(None) => return ctx.err(errors::NO_SUCH_KEY),
        Ok(Some(l)) => l,
    };
    let Some(i) = resp::parse_i64(raw) else {
        return ctx.err(errors::NOT_INTEGER);
    };
    let ok = resolve_index(i, list.len()).is_some_and(|i| list.set(i, elem));
    if !ok {
        return ctx.err(errors::INDEX_OUT_OF_RANGE);
    }
    ctx.modified(key);
    ctx.notify(class::LIST, "lset", key);
    ctx.dirty(1);
    ctx.out().ok();
}

/// LTRIM key start stop. Redis counts one change per removed element, so
/// a trim that removes nothing is not propagated.
fn ltrim(ctx: &mut Ctx) {
    let key = ctx.argv.get(1);
    let (Some(start), Some(end)) = (
        resp::parse_i64(ctx.argv.get(2)),
        resp::parse_i64(ctx.argv.get(3)),
    ) else {
        return ctx.err(errors::NOT_INTEGER);
    };
    let list = match list_mut(ctx, key) {
        Err(WrongType) => return ctx.err(errors::WRONGTYPE),
        Ok(None) => return ctx.out().ok(),
        Ok(Some(l)) => l,
    };
    let before = list.len();
    match clamp_range(start, end, before) {
        Some((s, e)) => list.trim(s, e),
        None => list.trim(before, before),
    }
    let removed = before - list.len();
    ctx.notify(class::LIST, "ltrim", key);
    delete_if_empty(ctx, key);
    ctx.modified(key);
    ctx.dirty(removed as u64);
    ctx.out().ok();
}

/// LREM key count element: count > 0 from the head, < 0 from the tail,
/// 0 all.
fn lrem(ctx: &mut Ctx) {
    let key = ctx.argv.get(1);
    let Some(count) = resp::parse_i64(ctx.argv.get(2)) else {
        return ctx.err(errors::NOT_INTEGER);
    };
    let elem = ctx.argv.get(3);
    let list = match list_mut(ctx, key) {
        Err(WrongType) => return ctx.err(errors::WRONGTYPE),
        Ok(None) => return ctx.out().int(0),
        Ok(Some(l)) => l,
    };
    let want = if count == 0 {
        usize::MAX
    } else {
        count.unsigned_abs().min(usize::MAX as u64) as usize
    };
    let len = list.len();
    let mut idx: Vec<usize> = if count < 0 {
        list.iter_rev()
            .enumerate()
            .filter(|(_, v)| *v == elem)
            .map(|(k, _)| len - 1 - k)
            .take(want)
            .collect()
    } else {
        list.iter()
            .enumerate()
            .filter(|(_, v)| *v == elem)
            .map(|(k, _)| k)
            .take(want)
            .collect()
    };
    idx.sort_unstable();
    list.remove_indices(&idx);
    let removed = idx.len();
    if removed > 0 {
        ctx.notify(class::LIST, "lrem", key);
        delete_if_empty(ctx, key);
        ctx.modified(key);
        ctx.dirty(removed as u64);
    }
    ctx.out().int(removed as i64);
}

/// LINSERT key BEFORE|AFTER pivot element: the new length, 0 when the key
/// is missing, -1 when the pivot is not found.
fn linsert(ctx: &mut Ctx) {
    let key = ctx.argv.get(1);
    let w = ctx.argv.get(2);
    let after = if w.eq_ignore_ascii_case(b"AFTER") {
        true
    } else if w.eq_ignore_ascii_case(b"BEFORE") {
        false
    } else {
        return ctx.err(errors::SYNTAX);
    };
    let pivot = ctx.argv.get(3);
    let elem = ctx.argv.get(4);
    let list = match list_mut(ctx, key) {
        Err(WrongType) => return ctx.err(errors::WRONGTYPE),
        Ok(None) => return ctx.out().int(0),
        Ok(Some(l)) => l,
    };
    let Some(pos) = list.iter().position(|v| v == pivot) else {
        return ctx.out().int(-1);
    };
    list.insert(pos + usize::from(after), elem);
    let len = list.len();
    ctx.modified(key);
    ctx.notify(class::LIST, "linsert", key);
    ctx.dirty(1);
    ctx.out().int(len as i64);
}

// ---------------------------------------------------------------------------
// Moves
// ---------------------------------------------------------------------------

fn lmove(ctx: &mut Ctx) {
    let (Some(from), Some(to)) = (parse_end(ctx.argv.get(3)), parse_end(ctx.argv.get(4))) else {
        return ctx.err(errors::SYNTAX);
    };
    lmove_generic(ctx, from, to, None);
}

fn rpoplpush(ctx: &mut Ctx) {
    lmove_generic(ctx, End::Tail, End::Head, None);
}

/// Moves one element from `src` to `dst` (which may be the same list: a
/// rotation). Replies null when `src` is missing; a `dst` of another type
/// is refused before anything is popped. `rewrite` is the propagated form
/// for the blocking variants (LMOVE / RPOPLPUSH); the others propagate
/// verbatim.
fn lmove_generic(ctx: &mut Ctx, from: End, to: End, rewrite: Option<&[&[u8]]>) {
    let src = ctx.argv.get(1);
    let dst = ctx.argv.get(2);
    match list_mut(ctx, src) {
        Err(WrongType) => return ctx.err(errors::WRONGTYPE),
        Ok(None) => return ctx.out().null(),
        Ok(Some(_)) => {}
    }
    if list_mut(ctx, dst).is_err() {
        return ctx.err(errors::WRONGTYPE);
    }
    let Ok(Some(l)) = list_mut(ctx, src) else {
        return;
    };
    let Some(v) = l.pop(from) else { return };
    match list_or_create(ctx, dst) {
        Ok(d) => d.push(to, &v),
        Err(WrongType) => return ctx.err(errors::WRONGTYPE),
    }
    ctx.modified(dst);
    ctx.notify(class::LIST, push_event(to), dst);
    ctx.out().bulk(&v);
    ctx.notify(class::LIST, pop_event(from), src);
    delete_if_empty(ctx, src);
    ctx.modified(src);
    ctx.dirty(1);
    if let Some(args) = rewrite {
        ctx.propagate(args);
    }
}

// ---------------------------------------------------------------------------
// Blocking forms
// ---------------------------------------------------------------------------

fn blpop(ctx: &mut Ctx) {
    bpop_generic(ctx, End::Head);
}

fn brpop(ctx: &mut Ctx) {
    bpop_generic(ctx, End::Tail);
}

/// B[LR]POP key... timeout: pops from the first non-empty list, replying
/// `[key, element]`; otherwise blocks (or, where blocking is not allowed,
/// answers as a timeout at once).
fn bpop_generic(ctx: &mut Ctx, end: End) {
    let last = ctx.argv.len() - 1;
    let Some(deadline) = blocking::parse_timeout(ctx, last) else {
        return;
    };
    match first_nonempty(ctx, 1, last - 1) {
        Err(WrongType) => ctx.err(errors::WRONGTYPE),
        Ok(Some(i)) => {
            let key = ctx.argv.get(i);
            let v = match list_mut(ctx, key) {
                Ok(Some(l)) => l.pop(end).unwrap_or_default(),
                _ => return,
            };
            let out = ctx.out();
            out.array(2);
            out.bulk(key);
            out.bulk(&v);
            ctx.notify(class::LIST, pop_event(end), key);
            delete_if_empty(ctx, key);
            ctx.modified(key);
            ctx.dirty(1);
            ctx.propagate(&[pop_verb(end), key]);
        }
        Ok(None) => {
            if !blocking::may_block(ctx) {
                return ctx.out().null_array();
            }
            blocking::block(ctx, blocking::WaitFor::List, 1..last, deadline);
        }
    }
}

fn blmove(ctx: &mut Ctx) {
    let (Some(from), Some(to)) = (parse_end(ctx.argv.get(3)), parse_end(ctx.argv.get(4))) else {
        return ctx.err(errors::SYNTAX);
    };
    blmove_generic(ctx, from, to, 5);
}

fn brpoplpush(ctx: &mut Ctx) {
    blmove_generic(ctx, End::Tail, End::Head, 3);
}

/// BLMOVE / BRPOPLPUSH: an LMOVE when the source has data, else blocks on
/// the source. Inside MULTI it answers a null bulk, as Redis does.
fn blmove_generic(ctx: &mut Ctx, from: End, to: End, timeout_idx: usize) {
    let Some(deadline) = blocking::parse_timeout(ctx, timeout_idx) else {
        return;
    };
    let src = ctx.argv.get(1);
    match list_mut(ctx, src) {
        Err(WrongType) => ctx.err(errors::WRONGTYPE),
        Ok(Some(_)) => {
            let dst = ctx.argv.get(2);
            if timeout_idx == 3 {
                lmove_generic(ctx, from, to, Some(&[b"RPOPLPUSH", src, dst]));
            } else {
                let (wf, wt) = (ctx.argv.get(3), ctx.argv.get(4));
                lmove_generic(ctx, from, to, Some(&[b"LMOVE", src, dst, wf, wt]));
            }
        }
        Ok(None) => {
            if !blocking::may_block(ctx) {
                return ctx.out().null();
            }
            blocking::block(ctx, blocking::WaitFor::List, 1..2, deadline);
        }
    }
}

/// BLMPOP timeout numkeys key... LEFT|RIGHT [COUNT n]: the arguments are
/// checked before the timeout, as in Redis.
fn blmpop(ctx: &mut Ctx) {
    let Some(a) = parse_mpop(ctx, 2) else { return };
    let Some(deadline) = blocking::parse_timeout(ctx, 1) else {
        return;
    };
    match first_nonempty(ctx, a.first_key, a.numkeys) {
        Err(WrongType) => ctx.err(errors::WRONGTYPE),
        Ok(Some(i)) => {
            let key = ctx.argv.get(i);
            mpop_from(ctx, key, a.end, a.count)
        }
        Ok(None) => {
            if !blocking::may_block(ctx) {
                return ctx.out().null_array();
            }
            blocking::block(
                ctx,
                blocking::WaitFor::List,
                a.first_key..a.first_key + a.numkeys,
                deadline,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::testkit::Kit;

    #[test]
    fn pushes_and_pops_reply_and_propagate_as_redis() {
        let mut k = Kit::new();
        assert_eq!(k.run(&["RPUSH", "l", "a", "b", "c"]), ":3\r\n");
        assert_eq!(k.run(&["LPUSH", "l", "x", "y"]), ":5\r\n");
        assert_eq!(k.run(&["LPUSHX", "nol", "x"]), ":0\r\n");
        assert_eq!(k.run(&["RPUSHX", "l", "z"]), ":6\r\n");
        assert_eq!(
            k.propagated(),
            vec!["RPUSH l a b c", "LPUSH l x y", "RPUSHX l z"]
        );
        assert_eq!(k.run(&["LPOP", "l"]), "$1\r\ny\r\n");
        assert_eq!(k.run(&["RPOP", "l", "2"]), "*2\r\n$1\r\nz\r\n$1\r\nc\r\n");
        assert_eq!(k.run(&["LPOP", "nol", "2"]), "*-1\r\n");
        assert_eq!(k.run(&["LPOP", "l", "0"]), "*0\r\n");
        assert_eq!(
            k.run(&["LPOP", "l", "-1"]),
            "-ERR value is out of range, must be positive\r\n"
        );
        assert_eq!(k.propagated(), vec!["LPOP l", "RPOP l 2"]);
    }

    #[test]
    fn edits_propagate_only_when_they_change_something() {
        let mut k = Kit::new();
        k.run(&["RPUSH", "l", "a", "b", "a", "c"]);
        k.propagated();
        assert_eq!(k.run(&["LSET", "l", "-1", "d"]), "+OK\r\n");
        assert_eq!(k.run(&["LINSERT", "l", "AFTER", "b", "x"]), ":5\r\n");
        assert_eq!(k.run(&["LINSERT", "l", "AFTER", "zz", "x"]), ":-1\r\n");
        assert_eq!(k.run(&["LREM", "l", "-1", "a"]), ":1\r\n");
        assert_eq!(k.run(&["LREM", "l", "0", "zz"]), ":0\r\n");
        assert_eq!(k.run(&["LTRIM", "l", "0", "-1"]), "+OK\r\n");
        assert_eq!(k.run(&["LTRIM", "l", "1", "-1"]), "+OK\r\n");
        assert_eq!(
            k.propagated(),
            vec![
                "LSET l -1 d",
                "LINSERT l AFTER b x",
                "LREM l -1 a",
                "LTRIM l 1 -1"
            ]
        );
        assert_eq!(
            k.run(&["LRANGE", "l", "0", "-1"]),
            "*3\r\n$1\r\nb\r\n$1\r\nx\r\n$1\r\nd\r\n"
        );
        assert_eq!(k.run(&["LTRIM", "l", "5", "1"]), "+OK\r\n");
        assert_eq!(k.run(&["EXISTS", "l"]), ":0\r\n");
        assert_eq!(k.propagated(), vec!["LTRIM l 5 1"]);
    }

    #[test]
    fn moves_and_mpop_propagate_their_effect() {
        let mut k = Kit::new();
        k.run(&["RPUSH", "s", "1", "2", "3"]);
        k.propagated();
        assert_eq!(k.run(&["LMOVE", "s", "d", "LEFT", "RIGHT"]), "$1\r\n1\r\n");
        assert_eq!(k.run(&["RPOPLPUSH", "s", "s"]), "$1\r\n3\r\n");
        assert_eq!(k.run(&["LMOVE", "nos", "d", "LEFT", "RIGHT"]), "$-1\r\n");
        assert_eq!(
            k.run(&["LMPOP", "2", "nos", "s", "RIGHT", "COUNT", "5"]),
            "*2\r\n$1\r\ns\r\n*2\r\n$1\r\n2\r\n$1\r\n3\r\n"
        );
        assert_eq!(
            k.run(&["BLMPOP", "0", "1", "d", "LEFT"]),
            "*2\r\n$1\r\nd\r\n*1\r\n$1\r\n1\r\n"
        );
        assert_eq!(
            k.propagated(),
            vec![
                "LMOVE s d LEFT RIGHT",
                "RPOPLPUSH s s",
                "RPOP s 2",
                "LPOP d 1"
            ]
        );
        k.run(&["RPUSH", "a", "x", "y"]);
        k.propagated();
        assert_eq!(
            k.run(&["BLPOP", "none", "a", "0"]),
            "*2\r\n$1\r\na\r\n$1\r\nx\r\n"
        );
        assert_eq!(k.run(&["BRPOPLPUSH", "a", "b", "0"]), "$1\r\ny\r\n");
        k.run(&["RPUSH", "a", "z"]);
        assert_eq!(
            k.run(&["BLMOVE", "a", "b", "RIGHT", "LEFT", "0"]),
            "$1\r\nz\r\n"
        );
        assert_eq!(
            k.run(&["BRPOP", "b", "1.5"]),
            "*2\r\n$1\r\nb\r\n$1\r\ny\r\n"
        );
        assert_eq!(
            k.propagated(),
            vec![
                "LPOP a",
                "RPOPLPUSH a b",
                "RPUSH a z",
                "LMOVE a b RIGHT LEFT",
                "RPOP b"
            ]
        );
    }

    #[test]
    fn timeouts_are_parsed_like_redis() {
        let mut k = Kit::new();
        assert_eq!(
            k.run(&["BLPOP", "l", "x"]),
            "-ERR timeout is not a float or out of range\r\n"
        );
        assert_eq!(k.run(&["BLPOP", "l", "-1"]), "-ERR timeout is negative\r\n");
        assert_eq!(
            k.run(&["BLPOP", "l", "inf"]),
            "-ERR timeout is negative\r\n"
        );
        assert_eq!(
            k.run(&["BLPOP", "l", "nan"]),
            "-ERR timeout is not a float or out of range\r\n"
        );
        assert_eq!(
            k.run(&["BLPOP", "l", "1e16"]),
            "-ERR timeout is negative\r\n"
        );
        assert_eq!(
            k.run(&["BLPOP", "l", " 1"]),
            "-ERR timeout is not a float or out of range\r\n"
        );
    }

    #[test]
    fn lpos_ranks_counts_and_maxlen() {
        let mut k = Kit::new();
        k.run(&["RPUSH", "l", "a", "b", "a", "c", "a"]);
        assert_eq!(k.run(&["LPOS", "l", "a"]), ":0\r\n");
        assert_eq!(k.run(&["LPOS", "l", "a", "RANK", "-1"]), ":4\r\n");
        assert_eq!(
            k.run(&["LPOS", "l", "a", "RANK", "2", "COUNT", "0"]),
            "*2\r\n:2\r\n:4\r\n"
        );
        assert_eq!(
            k.run(&["LPOS", "l", "a", "COUNT", "0", "MAXLEN", "3"]),
            "*2\r\n:0\r\n:2\r\n"
        );
        assert_eq!(
            k.run(&["LPOS", "l", "a", "RANK", "-9223372036854775808"]),
            ":4\r\n"
        );
        assert_eq!(k.run(&["LPOS", "l", "zz"]), "$-1\r\n");
    }
}

#[cfg(test)]
mod compression_tests {
    use crate::testkit::Kit;
    use keyspace::Value;

    fn compressed_chunks(k: &mut Kit, key: &str) -> usize {
        match k.srv.dbs[0].get(key.as_bytes()).map(|e| &e.value) {
            Some(Value::List(l)) => l.compressed_chunks(),
            _ => usize::MAX,
        }
    }

    #[test]
    fn lists_created_under_list_compress_depth_keep_their_middle_compressed() {
        let mut k = Kit::new();
        let items: Vec<String> = (0..3000).map(|i| format!("item:{i:06}")).collect();
        let push = |k: &mut Kit, key: &str| {
            for chunk in items.chunks(500) {
                let mut a = vec!["RPUSH", key];
                a.extend(chunk.iter().map(String::as_str));
                k.run(&a);
            }
        };
        push(&mut k, "plain");
        k.run(&["CONFIG", "SET", "list-compress-depth", "1"]);
        push(&mut k, "packed");
        assert_eq!(
            compressed_chunks(&mut k, "plain"),
            0,
            "created before the change"
        );
        assert!(compressed_chunks(&mut k, "packed") > 0);
        assert_eq!(
            k.run(&["LRANGE", "plain", "0", "-1"]),
            k.run(&["LRANGE", "packed", "0", "-1"])
        );
        assert_eq!(
            k.run(&["LINDEX", "packed", "1500"]),
            "$11\r\nitem:001500\r\n"
        );
        assert_eq!(k.run(&["LSET", "packed", "1500", "x"]), "+OK\r\n");
        assert_eq!(k.run(&["LINDEX", "packed", "1500"]), "$1\r\nx\r\n");
        let usage = |k: &mut Kit, key: &str| -> i64 {
            let r = k.run(&["MEMORY", "USAGE", key]);
            r.trim_start_matches(':').trim().parse().unwrap_or(0)
        };
        assert!(usage(&mut k, "packed") < usage(&mut k, "plain"));
    }
}
