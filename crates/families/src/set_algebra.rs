//! Set algebra (`t_set.c` in Redis): SINTER, SINTERCARD, SUNION, SDIFF and
//! their STORE forms. SMEMBERS is SINTER of one key in Redis 7.0, and SPOP
//! of the whole set replies as SUNION of one key, so both come here too.
//!
//! Reply order is observable, so the algebra follows Redis's algorithms
//! step by step: SINTER walks the smallest set (a stable sort by size, as
//! glibc's qsort behaves on short arrays) and keeps the members every other
//! set holds; SUNION and SDIFF build a new set by adding members one at a
//! time, so the result is an intset (replied in ascending order) exactly
//! when Redis's would be. SDIFF picks between Redis's two algorithms with
//! Redis's cost estimate, because they can give the result different
//! encodings. The STORE forms are propagated verbatim, also when an empty
//! result deletes the destination.

use super::sets::{max_intset, probe, reply_member, set_ref};
use command_meta::Argv;
use keyspace::set::Member;
use keyspace::{Set, Value, NO_EXPIRE};
use server::cmd::{Ctx, Handler};
use server::errors::{self, WrongType};
use server::notify::class;

pub const COMMANDS: &[(&str, Handler)] = &[
    ("sinter", sinter),
    ("sintercard", sintercard),
    ("sinterstore", sinterstore),
    ("sunion", sunion),
    ("sunionstore", sunionstore),
    ("sdiff", sdiff),
    ("sdiffstore", sdiffstore),
];

// ---------------------------------------------------------------------------
// Intersection
// ---------------------------------------------------------------------------

/// What SINTER's generic form does with the intersection.
#[derive(Clone, Copy)]
pub(super) enum Inter<'a> {
    Reply,
    Store(&'a [u8]),
    /// SINTERCARD, with its limit (0: none).
    Card(u64),
}

/// SINTER key [key ...]
fn sinter(ctx: &mut Ctx) {
    let n = ctx.argv.len();
    sinter_generic(ctx, 1, n, Inter::Reply);
}

/// SINTERSTORE destination key [key ...]
fn sinterstore(ctx: &mut Ctx) {
    let argv = ctx.argv;
    sinter_generic(ctx, 2, argv.len(), Inter::Store(argv.get(1)));
}

/// SINTERCARD numkeys key [key ...] [LIMIT limit]
fn sintercard(ctx: &mut Ctx) {
    let argv = ctx.argv;
    // Redis gives its own message for a non-number too.
    let numkeys = match resp::parse_i64(argv.get(1)) {
        Some(n) if n >= 1 => n as u64,
        _ => return ctx.err(errors::NUMKEYS_POSITIVE),
    };
    if numkeys > (argv.len() - 2) as u64 {
        return ctx.err(errors::NUMKEYS_TOO_MANY);
    }
    let end = 2 + numkeys as usize;
    let mut limit = 0;
    let mut i = end;
    while i < argv.len() {
        if argv.get(i).eq_ignore_ascii_case(b"LIMIT") && i + 1 < argv.len() {
            limit = match resp::parse_i64(argv.get(i + 1)) {
                Some(n) if n >= 0 => n as u64,
                _ => return ctx.err(errors::LIMIT_NEGATIVE),
            };
            i += 2;
        } else {
            return ctx.err(errors::SYNTAX);
        }
    }
    sinter_generic(ctx, 2, end, Inter::Card(limit));
}

/// Checks the types of the sets at `argv[first..end]` in order (stopping
/// at the first wrong one, as Redis does). Returns how many are missing.
fn probe_all(ctx: &mut Ctx, argv: Argv, first: usize, end: usize) -> Result<usize, WrongType> {
    let mut missing = 0;
    for i in first..end {
        if !probe(ctx, argv.get(i), false)? {
            missing += 1;
        }
    }
    Ok(missing)
}

/// Stores `result` at `dst` as the STORE variants do: replaces any value
/// (and TTL), or deletes `dst` when the result is empty.
fn store_result(ctx: &mut Ctx, dst: &[u8], result: Set, event: &str) {
    let n = result.len();
    if n > 0 {
        // Redis's setKey looks the destination up first (lazy expiry).
        ctx.lookup_write(dst);
        let lru = ctx.srv.lru_clock;
        let old = ctx.db().insert(dst, Value::Set(result), NO_EXPIRE, lru);
        ctx.srv.free_replaced(old);
        ctx.modified(dst);
        ctx.notify(class::SET, event, dst);
        ctx.dirty(1);
    } else if let Some(old) = ctx.db().remove(dst) {
        ctx.srv.free_replaced(Some(old));
        // Like Redis's dbDelete, this removes even a logically expired
        // key; the command itself is propagated, which deletes it on
        // replicas too.
        ctx.dirty(1);
        ctx.modified(dst);
        ctx.notify(class::GENERIC, "del", dst);
    }
    ctx.out().int(n as i64);
}

pub(super) fn sinter_generic(ctx: &mut Ctx, first: usize, end: usize, what: Inter) {
    let argv = ctx.argv;
    let missing = match probe_all(ctx, argv, first, end) {
        Ok(m) => m,
        Err(WrongType) => return ctx.err(errors::WRONGTYPE),
    };
    if missing > 0 {
        // Intersecting with an empty set.
        return match what {
            Inter::Store(dst) => store_result(ctx, dst, Set::new(), "sinterstore"),
            Inter::Card(_) => ctx.out().int(0),
            Inter::Reply => ctx.out().set(0),
        };
    }
    let max = max_intset(ctx);
    let db = ctx.client.db;
    let srv = &*ctx.srv;
    let mut sets: Vec<&Set> = (first..end)
        .filter_map(|i| set_ref(&srv.dbs[db], argv.get(i)))
        .collect();
    // Smallest first; stable, so equal sizes keep their argument order.
    sets.sort_by_key(|s| s.len());
    let Some((&smallest, others)) = sets.split_first() else {
        return ctx.out().set(0);
    };
    let in_all = |m: Member| {
        others
            .iter()
            .all(|&s| std::ptr::eq(s, smallest) || s.contains_member(m))
    };
    match what {
        Inter::Card(limit) => {
            let mut n = 0;
            for m in smallest.iter() {
                if in_all(m) {
                    n += 1;
                    if limit != 0 && n >= limit {
                        break;
                    }
                }
            }
            ctx.client.out.int(n as i64);
        }
        Inter::Reply if others.is_empty() => {
            // SMEMBERS: the length is known up front.
            let out = &mut ctx.client.out;
            out.set(smallest.len());
            smallest.iter().for_each(|m| reply_member(out, m));
        }
        Inter::Reply => {
            let out = &mut ctx.client.out;
            let mark = out.mark();
            let mut n = 0;
            for m in smallest.iter().filter(|&m| in_all(m)) {
                reply_member(out, m);
                n += 1;
            }
            out.insert_set_len(mark, n);
        }
        Inter::Store(dst) => {
            let mut result = Set::new();
            for m in smallest.iter().filter(|&m| in_all(m)) {
                result.add_member(m, max);
            }
            store_result(ctx, dst, result, "sinterstore");
        }
    }
}

// ---------------------------------------------------------------------------
// Union and difference
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum SetOp {
    Union,
    Diff,
}

/// SUNION key [key ...]
fn sunion(ctx: &mut Ctx) {
    let n = ctx.argv.len();
    sunion_diff_generic(ctx, 1, n, SetOp::Union, None);
}

/// SUNIONSTORE destination key [key ...]
fn sunionstore(ctx: &mut Ctx) {
    let argv = ctx.argv;
    sunion_diff_generic(ctx, 2, argv.len(), SetOp::Union, Some(argv.get(1)));
}

/// SDIFF key [key ...]
fn sdiff(ctx: &mut Ctx) {
    let n = ctx.argv.len();
    sunion_diff_generic(ctx, 1, n, SetOp::Diff, None);
}

/// SDIFFSTORE destination key [key ...]
fn sdiffstore(ctx: &mut Ctx) {
    let argv = ctx.argv;
    sunion_diff_generic(ctx, 2, argv.len(), SetOp::Diff, Some(argv.get(1)));
}

/// Computes the union or difference of `sets` (None: a missing key) into a
/// new set built as Redis builds it, so its encoding matches.
fn union_or_diff(sets: &mut [Option<&Set>], op: SetOp, max: usize) -> Set {
    let mut result = Set::new();
    if op == SetOp::Union {
        for s in sets.iter().flatten() {
            s.iter().for_each(|m| {
                result.add_member(m, max);
            });
        }
        return result;
    }
    let Some(first) = sets.first().copied().flatten() else {
        return result;
    };
    // The same key given again: the difference is empty.
    if sets[1..].iter().flatten().any(|&s| std::ptr::eq(s, first)) {
        return result;
    }
    // Redis's cost estimate: walking the first set against every other
    // (halved, it has better constants) or adding it whole and removing
    // every other set's members.
    let present = sets.iter().flatten().count() as u64;
    let walk_cost = first.len() as u64 * present / 2;
    let bulk_cost: u64 = sets.iter().flatten().map(|s| s.len() as u64).sum();
    if walk_cost <= bulk_cost {
        // Largest sets first, to find a common member sooner.
        sets[1..].sort_by_key(|s| std::cmp::Reverse(s.map_or(0, |s| s.len())));
        let others = &sets[1..];
        for m in first.iter() {
            if !others.iter().flatten().any(|s| s.contains_member(m)) {
                result.add_member(m, max);
            }
        }
    } else {
        first.iter().for_each(|m| {
            result.add_member(m, max);
        });
        for s in sets[1..].iter().flatten() {
            if result.is_empty() {
                break;
            }
            s.iter().for_each(|m| {
                result.remove_member(m);
            });
        }
    }
    result
}

pub(super) fn sunion_diff_generic(
    ctx: &mut Ctx,
    first: usize,
    end: usize,
    op: SetOp,
    dst: Option<&[u8]>,
) {
    let argv = ctx.argv;
    if probe_all(ctx, argv, first, end).is_err() {
        return ctx.err(errors::WRONGTYPE);
    }
    let max = max_intset(ctx);
    let db = ctx.client.db;
    let srv = &*ctx.srv;
    let mut sets: Vec<Option<&Set>> = (first..end)
        .map(|i| set_ref(&srv.dbs[db], argv.get(i)))
        .collect();
    let result = union_or_diff(&mut sets, op, max);
    match dst {
        Some(dst) => {
            let event = if op == SetOp::Union {
                "sunionstore"
            } else {
                "sdiffstore"
            };
            store_result(ctx, dst, result, event);
        }
        None => {
            let out = ctx.out();
            out.set(result.len());
            result.iter().for_each(|m| reply_member(out, m));
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::testkit::Kit;

    #[test]
    fn set_max_intset_entries_bounds_the_intset() {
        let mut k = Kit::new();
        k.srv.encoding_limits.set_max_intset_entries = 4;
        let enc = |k: &mut Kit, key: &str| k.run(&["OBJECT", "ENCODING", key]);
        k.run(&["SADD", "lim", "1", "2", "3", "4"]);
        assert_eq!(enc(&mut k, "lim"), "$6\r\nintset\r\n");
        k.run(&["SADD", "lim", "5"]);
        assert_eq!(enc(&mut k, "lim"), "$9\r\nhashtable\r\n");
        k.run(&["SADD", "lim2", "1", "2", "3", "4", "5"]);
        assert_eq!(enc(&mut k, "lim2"), "$9\r\nhashtable\r\n");
        // A result is built member by member: too big for an intset.
        k.run(&["SUNIONSTORE", "lim3", "lim"]);
        assert_eq!(enc(&mut k, "lim3"), "$9\r\nhashtable\r\n");
        // A hashtable of few integers copies into an intset again, which
        // replies in ascending order.
        k.run(&["SREM", "lim", "5"]);
        assert_eq!(enc(&mut k, "lim"), "$9\r\nhashtable\r\n");
        k.run(&["SUNIONSTORE", "lim4", "lim"]);
        assert_eq!(enc(&mut k, "lim4"), "$6\r\nintset\r\n");
        assert_eq!(
            k.run(&["SMEMBERS", "lim4"]),
            "*4\r\n$1\r\n1\r\n$1\r\n2\r\n$1\r\n3\r\n$1\r\n4\r\n"
        );
    }

    #[test]
    fn store_replaces_value_and_ttl() {
        let mut k = Kit::new();
        k.run(&["SET", "d", "v", "EX", "100"]);
        k.run(&["SADD", "a", "1"]);
        assert_eq!(k.run(&["SUNIONSTORE", "d", "a"]), ":1\r\n");
        assert_eq!(k.run(&["TTL", "d"]), ":-1\r\n");
        assert_eq!(k.run(&["TYPE", "d"]), "+set\r\n");
    }

    #[test]
    fn sdiff_encoding_follows_the_chosen_algorithm() {
        let mut k = Kit::new();
        // First set small against a big one: walk (algorithm 1), only the
        // integers are added, the result is an intset.
        k.run(&["SADD", "a", "1", "2", "x"]);
        k.run(&["SADD", "b", "x", "p", "q", "r", "s"]);
        k.run(&["SDIFFSTORE", "r1", "a", "b"]);
        assert_eq!(k.run(&["OBJECT", "ENCODING", "r1"]), "$6\r\nintset\r\n");
        // First set big against a small one: bulk (algorithm 2), the copy
        // of the first set became a hashtable before "x" was removed.
        k.run(&[
            "SADD", "big", "1", "2", "3", "4", "5", "6", "7", "8", "x", "y",
        ]);
        k.run(&["SADD", "c", "x"]);
        k.run(&["SADD", "d", "y"]);
        assert_eq!(k.run(&["SDIFFSTORE", "r2", "big", "c", "d"]), ":8\r\n");
        assert_eq!(k.run(&["OBJECT", "ENCODING", "r2"]), "$9\r\nhashtable\r\n");
    }
}
