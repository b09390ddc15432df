//! Set commands (`t_set.c` in Redis): membership (SADD, SREM, SISMEMBER,
//! SMISMEMBER, SCARD, SMEMBERS, SMOVE), random members (SPOP, SRANDMEMBER)
//! and SSCAN. The algebra (SINTER, SUNION, SDIFF and friends) lives in
//! `set_algebra.rs`; the look-up helpers here serve both.
//!
//! Propagation follows Redis 7.0: SPOP becomes one `SREM key member` per
//! popped member (several are wrapped in MULTI/EXEC by the journal), or
//! `DEL key` when the whole set is popped; SRANDMEMBER propagates nothing;
//! everything else is verbatim.

use super::set_algebra::{sinter_generic, sunion_diff_generic, Inter, SetOp};
use crate::keys::parse_cursor;
use keyspace::set::Member;
use keyspace::{Db, Set, Value, NO_EXPIRE};
use resp::Reply;
use server::cmd::{Ctx, Handler};
use server::errors::{self, WrongType};
use server::notify::class;
use server::util::glob;

pub const COMMANDS: &[(&str, Handler)] = &[
    ("sadd", sadd),
    ("srem", srem),
    ("sismember", sismember),
    ("smismember", smismember),
    ("smembers", smembers),
    ("scard", scard),
    ("spop", spop),
    ("srandmember", srandmember),
    ("smove", smove),
    ("sscan", sscan),
];

/// SPOP with a count switches to "rebuild the remainder" when what stays is
/// this many times smaller than what goes (Redis's SPOP_MOVE_STRATEGY_MUL).
const SPOP_MOVE_STRATEGY_MUL: u64 = 5;

// ---------------------------------------------------------------------------
// Look-up helpers
// ---------------------------------------------------------------------------

pub(super) fn reply_member(out: &mut Reply, m: Member) {
    match m {
        Member::Int(n) => out.bulk_int(n),
        Member::Bytes(b) => out.bulk(b),
    }
}

/// Looks `key` up (lazy expiry; a read also counts a hit or miss and
/// refreshes the access time) and checks that it holds a set. `Ok(true)`
/// when it exists.
pub(super) fn probe(ctx: &mut Ctx, key: &[u8], write: bool) -> Result<bool, WrongType> {
    let e = if write {
        ctx.lookup_write(key)
    } else {
        ctx.lookup_read(key)
    };
    match e.map(|e| &e.value) {
        None => Ok(false),
        Some(Value::Set(_)) => Ok(true),
        Some(_) => Err(WrongType),
    }
}

/// The set stored at `key`, without any look-up side effect (call
/// [`probe`] first).
pub(super) fn set_ref<'a>(db: &'a Db, key: &[u8]) -> Option<&'a Set> {
    match db.get(key).map(|e| &e.value) {
        Some(Value::Set(s)) => Some(s),
        _ => None,
    }
}

fn set_mut<'a>(db: &'a mut Db, key: &[u8]) -> Option<&'a mut Set> {
    match db.get_mut(key).map(|e| &mut e.value) {
        Some(Value::Set(s)) => Some(s),
        _ => None,
    }
}

/// Looks `key` up for writing as a set, in one hash look-up.
fn write_set<'c>(ctx: &'c mut Ctx, key: &[u8]) -> Result<Option<&'c mut Set>, WrongType> {
    super::lookup::value_mut(ctx, key)
}

pub(super) fn max_intset(ctx: &Ctx) -> usize {
    ctx.srv.encoding_limits.set_max_intset_entries
}

/// Deletes a set its command emptied, with the `del` event Redis adds.
fn delete_emptied(ctx: &mut Ctx, key: &[u8]) {
    ctx.db().remove(key);
    ctx.notify(class::GENERIC, "del", key);
}

// ---------------------------------------------------------------------------
// Membership
// ---------------------------------------------------------------------------

/// SADD key member [member ...]
fn sadd(ctx: &mut Ctx) {
    let argv = ctx.argv;
    let key = argv.get(1);
    let max = max_intset(ctx);
    let added = match write_set(ctx, key) {
        Err(WrongType) => return ctx.err(errors::WRONGTYPE),
        Ok(Some(set)) => argv.from(2).filter(|m| set.add(m, max)).count(),
        Ok(None) => {
            let mut set = Set::new();
            let n = argv.from(2).filter(|m| set.add(m, max)).count();
            let lru = ctx.srv.lru_clock;
            ctx.db().insert(key, Value::Set(set), NO_EXPIRE, lru);
            n
        }
    };
    if added > 0 {
        ctx.modified(key);
        ctx.notify(class::SET, "sadd", key);
        ctx.dirty(added as u64);
    }
    ctx.out().int(added as i64);
}

/// SREM key member [member ...]
fn srem(ctx: &mut Ctx) {
    let argv = ctx.argv;
    let key = argv.get(1);
    let (deleted, emptied) = match write_set(ctx, key) {
        Err(WrongType) => return ctx.err(errors::WRONGTYPE),
        Ok(None) => (0, false),
        Ok(Some(set)) => {
            let mut n = 0;
            for m in argv.from(2) {
                if set.remove(m) {
                    n += 1;
                    if set.is_empty() {
                        break;
                    }
                }
            }
            (n, set.is_empty())
        }
    };
    if deleted > 0 {
        if emptied {
            ctx.db().remove(key);
        }
        ctx.modified(key);
        ctx.notify(class::SET, "srem", key);
        if emptied {
            ctx.notify(class::GENERIC, "del", key);
        }
        ctx.dirty(deleted);
    }
    ctx.out().int(deleted as i64);
}

/// SMOVE source destination member
fn smove(ctx: &mut Ctx) {
    let argv = ctx.argv;
    let (src, dst, member) = (argv.get(1), argv.get(2), argv.get(3));
    let src_type = probe(ctx, src, true);
    let dst_type = probe(ctx, dst, true);
    // A missing source answers 0 before any type check, as in Redis.
    if src_type == Ok(false) {
        return ctx.out().int(0);
    }
    let dst_exists = match (src_type, dst_type) {
        (Ok(_), Ok(d)) => d,
        _ => return ctx.err(errors::WRONGTYPE),
    };
    let db = ctx.client.db;
    if src == dst {
        let is_member = set_ref(&ctx.srv.dbs[db], src).is_some_and(|s| s.contains(member));
        return ctx.out().int(i64::from(is_member));
    }
    let removed = set_mut(&mut ctx.srv.dbs[db], src).map(|s| (s.remove(member), s.is_empty()));
    let Some((true, emptied)) = removed else {
        return ctx.out().int(0);
    };
    ctx.notify(class::SET, "srem", src);
    if emptied {
        delete_emptied(ctx, src);
    }
    let max = max_intset(ctx);
    let added = if dst_exists {
        set_mut(&mut ctx.srv.dbs[db], dst).is_some_and(|s| s.add(member, max))
    } else {
        let mut set = Set::new();
        set.add(member, max);
        let lru = ctx.srv.lru_clock;
        ctx.db().insert(dst, Value::Set(set), NO_EXPIRE, lru);
        true
    };
    ctx.modified(src);
    ctx.dirty(1);
    if added {
        ctx.dirty(1);
        ctx.modified(dst);
        ctx.notify(class::SET, "sadd", dst);
    }
    ctx.out().int(1);
}

/// SISMEMBER key member
fn sismember(ctx: &mut Ctx) {
    let argv = ctx.argv;
    let (srv, client) = ctx.parts();
    let (db, master) = (client.db, client.is_master());
    let found = match srv.lookup_read(db, argv.get(1), master).map(|e| &e.value) {
        None => false,
        Some(Value::Set(s)) => s.contains(argv.get(2)),
        Some(_) => return ctx.err(errors::WRONGTYPE),
    };
    ctx.out().int(i64::from(found));
}

/// SMISMEMBER key member [member ...]: a missing key is an empty set.
fn smismember(ctx: &mut Ctx) {
    let argv = ctx.argv;
    let (srv, client) = ctx.parts();
    let (db, master) = (client.db, client.is_master());
    let set = match srv.lookup_read(db, argv.get(1), master).map(|e| &e.value) {
        None => None,
        Some(Value::Set(s)) => Some(s),
        Some(_) => return ctx.err(errors::WRONGTYPE),
    };
    let out = &mut client.out;
    out.array(argv.len() - 2);
    for m in argv.from(2) {
        out.int(i64::from(set.is_some_and(|s| s.contains(m))));
    }
}

/// SCARD key
fn scard(ctx: &mut Ctx) {
    let key = ctx.argv.get(1);
    let (srv, client) = ctx.parts();
    let (db, master) = (client.db, client.is_master());
    let n = match srv.lookup_read(db, key, master).map(|e| &e.value) {
        None => 0,
        Some(Value::Set(s)) => s.len(),
        Some(_) => return ctx.err(errors::WRONGTYPE),
    };
    ctx.out().int(n as i64);
}

/// SMEMBERS key: in Redis 7.0 this is SINTER of one key (so a set reply).
fn smembers(ctx: &mut Ctx) {
    sinter_generic(ctx, 1, 2, Inter::Reply);
}

// ---------------------------------------------------------------------------
// Random members
// ---------------------------------------------------------------------------

/// SPOP key [count]
fn spop(ctx: &mut Ctx) {
    match ctx.argv.len() {
        2 => spop_one(ctx),
        3 => spop_count(ctx),
        _ => ctx.err(errors::SYNTAX),
    }
}

fn spop_one(ctx: &mut Ctx) {
    let key = ctx.argv.get(1);
    match probe(ctx, key, true) {
        Err(WrongType) => return ctx.err(errors::WRONGTYPE),
        Ok(false) => return ctx.out().null(),
        Ok(true) => {}
    }
    let db = ctx.client.db;
    let srv = &mut *ctx.srv;
    let Some(set) = set_mut(&mut srv.dbs[db], key) else {
        return ctx.out().null();
    };
    let Some(member) = set.pop_random(&mut srv.rng) else {
        return ctx.out().null();
    };
    let emptied = set.is_empty();
    ctx.notify(class::SET, "spop", key);
    ctx.propagate(&[b"SREM", key, &member]);
    ctx.out().bulk(&member);
    if emptied {
        delete_emptied(ctx, key);
    }
    ctx.modified(key);
    ctx.dirty(1);
}

fn spop_count(ctx: &mut Ctx) {
    let key = ctx.argv.get(1);
    let count = match resp::parse_i64(ctx.argv.get(2)) {
        // Redis gives the same message for a non-number.
        Some(n) if n >= 0 => n as u64,
        _ => return ctx.err(errors::MUST_BE_POSITIVE),
    };
    match probe(ctx, key, true) {
        Err(WrongType) => return ctx.err(errors::WRONGTYPE),
        Ok(false) => return ctx.out().set(0),
        Ok(true) => {}
    }
    if count == 0 {
        return ctx.out().set(0);
    }
    let db = ctx.client.db;
    let size = set_ref(&ctx.srv.dbs[db], key).map_or(0, |s| s.len()) as u64;
    ctx.notify(class::SET, "spop", key);
    ctx.dirty(count.min(size));

    if count >= size {
        // The whole set goes: reply as SUNION of the one key would (Redis
        // runs exactly that, look-up included), delete, propagate a DEL.
        sunion_diff_generic(ctx, 1, 2, SetOp::Union, None);
        delete_emptied(ctx, key);
        ctx.propagate(&[b"DEL", key]);
        ctx.modified(key);
        return;
    }

    let max = max_intset(ctx);
    let srv = &mut *ctx.srv;
    let Some(set) = set_mut(&mut srv.dbs[db], key) else {
        return ctx.out().set(0);
    };
    let remaining = size - count;
    let popped: Vec<Vec<u8>> = if remaining * SPOP_MOVE_STRATEGY_MUL > count {
        // Few to pop: draw them one by one.
        (0..count)
            .filter_map(|_| set.pop_random(&mut srv.rng))
            .collect()
    } else {
        // Most of the set goes: draw the members that stay into a new set,
        // return what is left of the old one, keep the new one (same TTL).
        let mut kept = Set::new();
        for _ in 0..remaining {
            if let Some(m) = set.pop_random(&mut srv.rng) {
                kept.add(&m, max);
            }
        }
        let old = std::mem::replace(set, kept);
        old.iter().map(|m| m.to_vec()).collect()
    };
    ctx.out().set(popped.len());
    for m in &popped {
        ctx.out().bulk(m);
    }
    for m in &popped {
        ctx.propagate(&[b"SREM", key, m]);
    }
    ctx.modified(key);
}

/// SRANDMEMBER key [count]
fn srandmember(ctx: &mut Ctx) {
    match ctx.argv.len() {
        2 => srandmember_one(ctx),
        3 => srandmember_count(ctx),
        _ => ctx.err(errors::SYNTAX),
    }
}

fn srandmember_one(ctx: &mut Ctx) {
    let key = ctx.argv.get(1);
    match probe(ctx, key, false) {
        Err(WrongType) => return ctx.err(errors::WRONGTYPE),
        Ok(false) => return ctx.out().null(),
        Ok(true) => {}
    }
    let db = ctx.client.db;
    let srv = &mut *ctx.srv;
    let out = &mut ctx.client.out;
    match set_ref(&srv.dbs[db], key).and_then(|s| s.random(&mut srv.rng)) {
        Some(m) => reply_member(out, m),
        None => out.null(),
    }
}

fn srandmember_count(ctx: &mut Ctx) {
    let key = ctx.argv.get(1);
    let (count, unique) = match resp::parse_i64(ctx.argv.get(2)) {
        None => return ctx.err(errors::NOT_INTEGER),
        Some(i64::MIN) => return ctx.err(errors::SRANDMEMBER_RANGE),
        Some(n) => (n.unsigned_abs(), n >= 0),
    };
    match probe(ctx, key, false) {
        Err(WrongType) => return ctx.err(errors::WRONGTYPE),
        // An empty array, not an empty set, in both protocols.
        Ok(false) => return ctx.out().array(0),
        Ok(true) => {}
    }
    if count == 0 {
        return ctx.out().array(0);
    }
    let db = ctx.client.db;
    let srv = &mut *ctx.srv;
    let out = &mut ctx.client.out;
    let Some(set) = set_ref(&srv.dbs[db], key) else {
        return out.array(0);
    };
    let size = set.len() as u64;
    if !unique || count == 1 {
        // With repetitions: independent draws.
        out.array(count as usize);
        for _ in 0..count {
            if let Some(m) = set.random(&mut srv.rng) {
                reply_member(out, m);
            }
        }
    } else if count >= size {
        out.array(set.len());
        set.iter().for_each(|m| reply_member(out, m));
    } else {
        // Distinct members in random order (Redis's auxiliary dict has no
        // defined order either).
        let picks = rand::seq::index::sample(&mut srv.rng, set.len(), count as usize);
        out.array(picks.len());
        for i in picks {
            if let Some(m) = set.get_index(i) {
                reply_member(out, m);
            }
        }
    }
}

// ---------------------------------------------------------------------------
// SSCAN
// ---------------------------------------------------------------------------

/// SSCAN key cursor [MATCH pattern] [COUNT count]
fn sscan(ctx: &mut Ctx) {
    let argv = ctx.argv;
    let key = argv.get(1);
    let Some(cursor) = parse_cursor(argv.get(2)) else {
        return ctx.err(errors::INVALID_CURSOR);
    };
    match probe(ctx, key, false) {
        Err(WrongType) => return ctx.err(errors::WRONGTYPE),
        Ok(false) => {
            let out = ctx.out();
            out.array(2);
            out.bulk(b"0");
            return out.array(0);
        }
        Ok(true) => {}
    }
    let (count, pattern) = match crate::keys::parse_scan_options(argv, 3, false) {
        Err(e) => return ctx.err(e),
        Ok(o) => (o.count, o.pattern),
    };
    let db = ctx.client.db;
    let srv = &*ctx.srv;
    let out = &mut ctx.client.out;
    let Some(set) = set_ref(&srv.dbs[db], key) else {
        return out.array(0);
    };
    let mut found: Vec<Member> = Vec::new();
    let next = set.scan(cursor, count, |m| {
        let mut scratch = [0u8; 24];
        if pattern.is_none_or(|p| glob::matches(p, m.as_bytes(&mut scratch), false)) {
            found.push(m);
        }
    });
    out.array(2);
    out.bulk(itoa::Buffer::new().format(next).as_bytes());
    out.array(found.len());
    for m in found {
        reply_member(out, m);
    }
}

#[cfg(test)]
mod tests {
    use crate::testkit::Kit;

    #[test]
    fn sadd_keeps_an_intset_until_a_string_arrives() {
        let mut k = Kit::new();
        assert_eq!(k.run(&["SADD", "s", "3", "1", "2", "1"]), ":3\r\n");
        assert_eq!(k.run(&["OBJECT", "ENCODING", "s"]), "$6\r\nintset\r\n");
        assert_eq!(
            k.run(&["SMEMBERS", "s"]),
            "*3\r\n$1\r\n1\r\n$1\r\n2\r\n$1\r\n3\r\n"
        );
        k.run(&["SADD", "s", "x"]);
        assert_eq!(k.run(&["OBJECT", "ENCODING", "s"]), "$9\r\nhashtable\r\n");
        assert_eq!(
            k.propagated(),
            vec!["SADD s 3 1 2 1", "SADD s x"],
            "SADD is propagated verbatim"
        );
        // Adding nothing new propagates nothing.
        k.run(&["SADD", "s", "x"]);
        assert!(k.propagated().is_empty());
    }

    #[test]
    fn srem_deletes_the_emptied_key() {
        let mut k = Kit::new();
        k.run(&["SADD", "s", "a", "b"]);
        assert_eq!(k.run(&["SREM", "s", "a", "b", "c"]), ":2\r\n");
        assert_eq!(k.run(&["EXISTS", "s"]), ":0\r\n");
        assert_eq!(k.run(&["SREM", "s", "a"]), ":0\r\n");
        assert_eq!(k.propagated(), vec!["SADD s a b", "SREM s a b c"]);
    }

    #[test]
    fn spop_propagates_srem_per_member_or_del_for_all() {
        let mut k = Kit::new();
        k.run(&[
            "SADD", "s", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10",
        ]);
        k.propagated();
        let r = k.run(&["SPOP", "s"]);
        let p = k.propagated();
        assert_eq!(p.len(), 1);
        let member = r.lines().nth(1).unwrap_or_default().to_string();
        assert_eq!(p[0], format!("SREM s {member}"));
        // Several members: one SREM each, wrapped in MULTI/EXEC.
        k.run(&["SPOP", "s", "3"]);
        let p = k.propagated();
        assert_eq!(p.len(), 5);
        assert_eq!(p[0], "MULTI");
        assert!(p[1..4].iter().all(|c| c.starts_with("SREM s ")));
        assert_eq!(p[4], "EXEC");
        // Most of the set (the rebuild strategy): still one SREM each.
        assert_eq!(k.run(&["SCARD", "s"]), ":6\r\n");
        k.run(&["SPOP", "s", "5"]);
        let p = k.propagated();
        assert_eq!(p.len(), 7);
        assert_eq!(k.run(&["SCARD", "s"]), ":1\r\n");
        // One member popped by count: a single SREM, no MULTI.
        k.run(&["SADD", "s", "a", "b", "c", "d", "e", "f", "g"]);
        k.propagated();
        k.run(&["SPOP", "s", "1"]);
        let p = k.propagated();
        assert_eq!(p.len(), 1);
        assert!(p[0].starts_with("SREM s "));
        // Everything: DEL.
        k.run(&["SPOP", "s", "100"]);
        assert_eq!(k.propagated(), vec!["DEL s"]);
        assert_eq!(k.run(&["EXISTS", "s"]), ":0\r\n");
        // Nothing to pop: nothing propagated.
        k.run(&["SPOP", "s"]);
        k.run(&["SPOP", "s", "3"]);
        assert!(k.propagated().is_empty());
    }

    #[test]
    fn srandmember_propagates_nothing_and_checks_its_range() {
        let mut k = Kit::new();
        k.run(&["SADD", "s", "a"]);
        k.propagated();
        assert_eq!(
            k.run(&["SRANDMEMBER", "s", "-3"]),
            "*3\r\n$1\r\na\r\n$1\r\na\r\n$1\r\na\r\n"
        );
        assert_eq!(
            k.run(&["SRANDMEMBER", "s", "-9223372036854775808"]),
            "-ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807\r\n"
        );
        assert!(k.propagated().is_empty());
    }

    #[test]
    fn smove_and_store_variants_propagate_verbatim() {
        let mut k = Kit::new();
        k.run(&["SADD", "a", "1", "2"]);
        k.run(&["SADD", "b", "2", "3"]);
        k.propagated();
        assert_eq!(k.run(&["SMOVE", "a", "c", "1"]), ":1\r\n");
        assert_eq!(k.run(&["SMOVE", "a", "c", "9"]), ":0\r\n");
        assert_eq!(k.run(&["SINTERSTORE", "d", "a", "b"]), ":1\r\n");
        assert_eq!(k.run(&["SUNIONSTORE", "e", "a", "b"]), ":2\r\n");
        assert_eq!(k.run(&["SDIFFSTORE", "f", "b", "a"]), ":1\r\n");
        // An empty result deletes an existing destination (propagated
        // verbatim) and propagates nothing when there was none.
        assert_eq!(k.run(&["SINTERSTORE", "d", "a", "nokey"]), ":0\r\n");
        assert_eq!(k.run(&["SINTERSTORE", "g", "a", "nokey"]), ":0\r\n");
        assert_eq!(
            k.propagated(),
            vec![
                "SMOVE a c 1",
                "SINTERSTORE d a b",
                "SUNIONSTORE e a b",
                "SDIFFSTORE f b a",
                "SINTERSTORE d a nokey",
            ]
        );
        assert_eq!(k.run(&["EXISTS", "d"]), ":0\r\n");
    }

    #[test]
    fn replaying_the_journal_rebuilds_the_same_sets() {
        let script: &[&[&str]] = &[
            &[
                "SADD", "a", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10",
            ],
            &["SADD", "b", "x", "y", "z", "1", "2", "3"],
            &["SADD", "c", "p", "q"],
            &["SPOP", "a"],
            &["SPOP", "a", "2"],
            &["SPOP", "a", "6"],
            &["SPOP", "b", "5"],
            &["SPOP", "c", "10"],
            &["SREM", "b", "nothing"],
            &["SADD", "d", "1", "x", "2"],
            &["SMOVE", "d", "e", "x"],
            &["SMOVE", "d", "d", "1"],
            &["SINTERSTORE", "f", "d", "a"],
            &["SUNIONSTORE", "g", "a", "b", "d", "e"],
            &["SDIFFSTORE", "h", "g", "e"],
            &["SDIFFSTORE", "e", "missing", "g"],
            &["SRANDMEMBER", "g", "-5"],
            &["SPOP", "g"],
        ];
        let mut master = Kit::new();
        for cmd in script {
            master.run(cmd);
        }
        let mut replica = Kit::new();
        for effect in master.propagated() {
            let args: Vec<&str> = effect.split(' ').collect();
            if args[..] == ["MULTI"] || args[..] == ["EXEC"] {
                continue;
            }
            let reply = replica.run(&args);
            assert!(!reply.starts_with('-'), "{effect}: {reply}");
        }
        // Members only: a replica may encode a set differently, as Redis's
        // does (SPOP's rebuild can turn a hashtable back into an intset).
        let dump = |k: &Kit| {
            let mut v: Vec<(Vec<u8>, Vec<Vec<u8>>)> = k.srv.dbs[0]
                .iter()
                .map(|(key, e)| {
                    let mut members = match &e.value {
                        keyspace::Value::Set(s) => s.iter().map(|m| m.to_vec()).collect(),
                        _ => Vec::new(),
                    };
                    members.sort();
                    (key.to_vec(), members)
                })
                .collect();
            v.sort();
            v
        };
        assert_eq!(dump(&master), dump(&replica));
        assert!(!dump(&master).is_empty());
    }
}
