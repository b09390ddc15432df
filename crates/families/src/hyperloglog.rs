//! HyperLogLog commands (`hyperloglog.c` in Redis): PFADD, PFCOUNT,
//! PFMERGE, PFDEBUG, PFSELFTEST.
//!
//! An HLL is a plain string holding Redis's own byte layout (see
//! [`crate::util::hll`]), so these commands look strings up and check the
//! header before touching them. A string that is not an HLL gets
//! `WRONGTYPE Key is not a valid HyperLogLog string value.`; another type
//! gets the ordinary WRONGTYPE; an HLL whose sparse body does not add up
//! to 16384 registers gets `INVALIDOBJ`.

use crate::strings::store;
use crate::util::hll::{self, Corrupt};
use keyspace::{StrValue, Value};
use server::cmd::{Ctx, Handler};
use server::config::Directive;
use server::errors;
use server::notify::class;

pub const COMMANDS: &[(&str, Handler)] = &[
    ("pfadd", pfadd),
    ("pfcount", pfcount),
    ("pfmerge", pfmerge),
    ("pfdebug", pfdebug),
    ("pfselftest", pfselftest),
];

/// Why an HLL look-up failed, mapped to the client-visible error.
enum Refused {
    /// Not a string at all.
    WrongType,
    /// A string that is not an HLL.
    NotHll,
}

impl Refused {
    fn message(&self) -> &'static str {
        match self {
            Refused::WrongType => errors::WRONGTYPE,
            Refused::NotHll => errors::HLL_WRONGTYPE,
        }
    }
}

/// Checks that a looked-up value is an HLL, as Redis's
/// `isHLLObjectOrReply` does; an integer-encoded string never is.
fn check(value: &Value) -> Result<&[u8], Refused> {
    match value {
        Value::Str(s) => match s.bytes() {
            Some(data) if hll::looks_valid(data) => Ok(data),
            _ => Err(Refused::NotHll),
        },
        #[allow(unreachable_patterns)]
        _ => Err(Refused::WrongType),
    }
}

/// The HLL at `key` for writing (lazy expiry applied, no statistics),
/// made `raw` as Redis's `dbUnshareStringValue` leaves it.
fn write_hll<'c>(ctx: &'c mut Ctx, key: &[u8]) -> Result<Option<&'c mut Vec<u8>>, Refused> {
    let entry = ctx.lookup_write(key);
    hll_of(entry)
}

/// The bytes of a looked-up HLL, made `raw`.
fn hll_of(entry: Option<&mut keyspace::Entry>) -> Result<Option<&mut Vec<u8>>, Refused> {
    match entry {
        None => Ok(None),
        Some(e) => {
            check(&e.value)?;
            match &mut e.value {
                Value::Str(s) => Ok(Some(s.make_raw())),
                #[allow(unreachable_patterns)]
                _ => Err(Refused::WrongType),
            }
        }
    }
}

/// `hll-sparse-max-bytes`: the size past which a sparse HLL turns dense.
fn sparse_max_bytes(ctx: &Ctx) -> usize {
    ctx.srv.config.get_int(Directive::HllSparseMaxBytes).max(0) as usize
}

/// Folds the HLLs at `keys` (looked up for reading) into one unpacked
/// register array; missing keys count as empty. `Ok(true)` when one of
/// them was dense (PFMERGE then writes a dense result).
fn merge_keys<'k>(
    ctx: &mut Ctx,
    keys: impl Iterator<Item = &'k [u8]>,
    max: &mut [u8],
) -> Result<bool, &'static str> {
    let mut any_dense = false;
    for key in keys {
        let Some(e) = ctx.lookup_read(key) else {
            continue;
        };
        let data = check(&e.value).map_err(|r| r.message())?;
        any_dense |= !hll::is_sparse(data);
        hll::merge_into(max, data).map_err(|Corrupt| errors::HLL_INVALID)?;
    }
    Ok(any_dense)
}

// ---------------------------------------------------------------------------
// PFADD
// ---------------------------------------------------------------------------

/// PFADD key [element ...]: 1 when a register changed or the key was
/// created, else 0. Propagated verbatim only in the first case.
fn pfadd(ctx: &mut Ctx) {
    let key = ctx.argv.get(1);
    let max_bytes = sparse_max_bytes(ctx);
    let mut created = false;
    if ctx.lookup_write(key).is_none() {
        store(ctx, key, StrValue::raw(hll::new_sparse()));
        created = true;
    }
    let elements = ctx.argv.from(2);
    let data = match write_hll(ctx, key) {
        Ok(Some(d)) => d,
        Ok(None) => return ctx.out().int(0),
        Err(r) => return ctx.err(r.message()),
    };
    let mut updated = u64::from(created);
    for ele in elements {
        match hll::add(data, ele, max_bytes) {
            Ok(true) => updated += 1,
            Ok(false) => {}
            Err(Corrupt) => return ctx.err(errors::HLL_INVALID),
        }
    }
    if updated > 0 {
        hll::invalidate_cache(data);
        ctx.modified(key);
        ctx.notify(class::STRING, "pfadd", key);
        ctx.dirty(updated);
    }
    ctx.out().int(i64::from(updated > 0));
}

// ---------------------------------------------------------------------------
// PFCOUNT
// ---------------------------------------------------------------------------

/// PFCOUNT key [key ...]. With one key the cached cardinality is used, or
/// computed and stored back into the header; as in Redis 7.0 that refresh
/// counts as a change, so it is propagated (the replica's bytes stay the
/// same as ours). With several keys their union is counted and nothing is
/// written.
fn pfcount(ctx: &mut Ctx) {
    if ctx.argv.len() > 2 {
        let mut max = vec![0u8; hll::REGISTERS];
        let keys = ctx.argv.from(1);
        match merge_keys(ctx, keys, &mut max) {
            Ok(_) => {
                let n = hll::count_registers(&max);
                ctx.out().int(n as i64);
            }
            Err(msg) => ctx.err(msg),
        }
        return;
    }
    let key = ctx.argv.get(1);
    // A read look-up (hits, misses, access time) even though the cached
    // cardinality may be written back: Redis 7.0 does the same.
    let data = match hll_of(ctx.lookup_read(key)) {
        Ok(Some(d)) => d,
        Ok(None) => return ctx.out().int(0),
        Err(r) => return ctx.err(r.message()),
    };
    if let Some(card) = hll::cached_card(data) {
        return ctx.out().int(card as i64);
    }
    let Ok(card) = hll::count(data) else {
        return ctx.err(errors::HLL_INVALID);
    };
    hll::set_cached_card(data, card);
    ctx.modified(key);
    ctx.dirty(1);
    ctx.out().int(card as i64);
}

// ---------------------------------------------------------------------------
// PFMERGE
// ---------------------------------------------------------------------------

/// PFMERGE destkey [sourcekey ...]: the union of all the keys (destkey
/// included) stored in destkey, dense when any input was dense. Always a
/// change; its keyspace event is `pfadd`, as in Redis.
fn pfmerge(ctx: &mut Ctx) {
    let mut max = vec![0u8; hll::REGISTERS];
    let keys = ctx.argv.from(1);
    let any_dense = match merge_keys(ctx, keys, &mut max) {
        Ok(d) => d,
        Err(msg) => return ctx.err(msg),
    };
    let key = ctx.argv.get(1);
    let max_bytes = sparse_max_bytes(ctx);
    if ctx.lookup_write(key).is_none() {
        store(ctx, key, StrValue::raw(hll::new_sparse()));
    }
    let data = match write_hll(ctx, key) {
        Ok(Some(d)) => d,
        Ok(None) => return ctx.out().int(0),
        Err(r) => return ctx.err(r.message()),
    };
    if any_dense && hll::to_dense(data).is_err() {
        return ctx.err(errors::HLL_INVALID);
    }
    for (i, &v) in max.iter().enumerate() {
        // The destination was checked by the merge above, so a failure
        // here cannot happen; Redis ignores it too.
        if v != 0 && hll::set(data, i, v, max_bytes).is_err() {
            break;
        }
    }
    hll::invalidate_cache(data);
    ctx.modified(key);
    ctx.notify(class::STRING, "pfadd", key);
    ctx.dirty(1);
    ctx.out().ok();
}

// ---------------------------------------------------------------------------
// PFDEBUG, PFSELFTEST
// ---------------------------------------------------------------------------

/// PFDEBUG GETREG|DECODE|ENCODING|TODENSE key: introspection used by
/// Redis's own tests. GETREG and TODENSE convert a sparse value to dense,
/// which is a change (propagated verbatim).
fn pfdebug(ctx: &mut Ctx) {
    // Every subcommand takes exactly a key; Redis checks that first, with
    // the command's generic arity error.
    if ctx.argv.len() != 3 {
        return ctx.err_arity();
    }
    let sub = ctx.argv.get(1);
    let key = ctx.argv.get(2);
    let data = match write_hll(ctx, key) {
        Ok(Some(d)) => d,
        Ok(None) => return ctx.err(errors::HLL_NO_KEY),
        Err(r) => return ctx.err(r.message()),
    };
    let name = sub.to_ascii_lowercase();
    match name.as_slice() {
        b"getreg" | b"todense" => {
            let converted = match hll::to_dense(data) {
                Ok(c) => c,
                Err(Corrupt) => return ctx.err(errors::HLL_INVALID),
            };
            if name == b"getreg" {
                let (srv, client) = ctx.parts();
                let db = client.db;
                let out = &mut client.out;
                out.array(hll::REGISTERS);
                if let Some(data) = srv.dbs[db].get(key).and_then(|e| match &e.value {
                    Value::Str(s) => s.bytes(),
                    _ => None,
                }) {
                    for r in hll::dense_registers(data) {
                        out.int(i64::from(r));
                    }
                }
            } else {
                ctx.out().int(i64::from(converted));
            }
            if converted {
                ctx.dirty(1);
            }
        }
        b"decode" => {
            if !hll::is_sparse(data) {
                return ctx.err(errors::HLL_NOT_SPARSE);
            }
            match hll::decode_sparse(data) {
                Ok(text) => ctx.out().bulk(text.as_bytes()),
                Err(Corrupt) => ctx.err(errors::HLL_INVALID),
            }
        }
        b"encoding" => {
            let enc: &[u8] = if hll::is_sparse(data) {
                b"sparse"
            } else {
                b"dense"
            };
            ctx.out().simple(enc);
        }
        _ => {
            let msg = errors::pfdebug_unknown(sub);
            ctx.err(&msg);
        }
    }
}

/// PFSELFTEST: runs our own consistency checks of the HLL code (sparse
/// and dense forms agree, promotion keeps registers, estimates stay near
/// the truth) and replies OK, or an error naming the failed check.
fn pfselftest(ctx: &mut Ctx) {
    match selftest() {
        Ok(()) => ctx.out().ok(),
        Err(what) => {
            let msg = format!("ERR TESTFAILED {what}");
            ctx.err(&msg);
        }
    }
}

fn selftest() -> Result<(), &'static str> {
    let mut sparse = hll::new_sparse();
    let mut dense = hll::new_sparse();
    hll::to_dense(&mut dense).map_err(|_| "todense")?;
    let mut truth = vec![0u8; hll::REGISTERS];
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    for n in 1..=20_000u64 {
        // xorshift: any deterministic spread of inputs will do.
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let ele = seed.to_le_bytes();
        let (i, c) = hll::pattern(&ele);
        truth[i] = truth[i].max(c);
        let a = hll::add(&mut sparse, &ele, usize::MAX).map_err(|_| "sparse add")?;
        let b = hll::add(&mut dense, &ele, 0).map_err(|_| "dense add")?;
        if a != b {
            return Err("sparse and dense disagree on a change");
        }
        if n % 1000 == 0 {
            let est = hll::count(&dense).map_err(|_| "count")?;
            if hll::count(&sparse) != Ok(est) || hll::count_registers(&truth) != est {
                return Err("estimates differ between encodings");
            }
            let err = (est as f64 - n as f64).abs() / n as f64;
            if err > 0.05 {
                return Err("estimate too far from the true cardinality");
            }
        }
    }
    if !hll::dense_registers(&dense).eq(truth.iter().copied()) {
        return Err("dense registers differ from the reference");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::testkit::Kit;

    #[test]
    fn pfadd_propagates_only_when_it_changed_something() {
        let mut k = Kit::new();
        assert_eq!(k.run(&["PFADD", "h"]), ":1\r\n");
        assert_eq!(k.run(&["PFADD", "h"]), ":0\r\n");
        assert_eq!(k.run(&["PFADD", "h", "a", "b"]), ":1\r\n");
        assert_eq!(k.run(&["PFADD", "h", "a", "b"]), ":0\r\n");
        assert_eq!(k.propagated(), vec!["PFADD h", "PFADD h a b"]);
        k.run(&["SET", "s", "x"]);
        k.propagated();
        assert_eq!(
            k.run(&["PFADD", "s", "a"]),
            "-WRONGTYPE Key is not a valid HyperLogLog string value.\r\n"
        );
        assert!(k.propagated().is_empty());
    }

    #[test]
    fn pfcount_propagates_a_cache_refresh_like_redis_7_0() {
        let mut k = Kit::new();
        k.run(&["PFADD", "h", "a", "b", "c"]);
        k.run(&["PFADD", "g", "c", "d"]);
        k.propagated();
        assert_eq!(k.run(&["PFCOUNT", "h"]), ":3\r\n");
        assert_eq!(k.run(&["PFCOUNT", "h"]), ":3\r\n");
        assert_eq!(k.run(&["PFCOUNT", "h", "g"]), ":4\r\n");
        assert_eq!(k.run(&["PFCOUNT", "missing"]), ":0\r\n");
        // Only the first count wrote the cached cardinality.
        assert_eq!(k.propagated(), vec!["PFCOUNT h"]);
    }

    #[test]
    fn pfmerge_and_pfdebug_conversions_propagate_verbatim() {
        let mut k = Kit::new();
        k.run(&["PFADD", "a", "x", "y"]);
        k.propagated();
        assert_eq!(k.run(&["PFMERGE", "d", "a", "missing"]), "+OK\r\n");
        assert_eq!(k.run(&["PFMERGE", "d"]), "+OK\r\n");
        assert_eq!(k.run(&["PFCOUNT", "d"]), ":2\r\n");
        assert_eq!(k.run(&["PFDEBUG", "TODENSE", "d"]), ":1\r\n");
        assert_eq!(k.run(&["PFDEBUG", "TODENSE", "d"]), ":0\r\n");
        assert_eq!(k.run(&["PFDEBUG", "ENCODING", "d"]), "+dense\r\n");
        assert_eq!(
            k.propagated(),
            vec![
                "PFMERGE d a missing",
                "PFMERGE d",
                "PFCOUNT d",
                "PFDEBUG TODENSE d"
            ]
        );
        k.run(&["RPUSH", "l", "v"]);
        k.propagated();
        assert_eq!(
            k.run(&["PFMERGE", "d", "l"]),
            "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"
        );
        assert!(k.propagated().is_empty());
    }

    #[test]
    fn writes_break_watch_and_corruption_is_reported() {
        let mut k = Kit::new();
        k.run(&["PFADD", "h", "a"]);
        k.run(&["WATCH", "h"]);
        k.run(&["PFADD", "h", "b"]);
        k.run(&["MULTI"]);
        k.run(&["PING"]);
        assert_eq!(k.run(&["EXEC"]), "*-1\r\n");
        k.run(&["SETRANGE", "h", "16", "\0"]);
        assert_eq!(
            k.run(&["PFCOUNT", "h"]),
            "-INVALIDOBJ Corrupted HLL object detected\r\n"
        );
    }

    #[test]
    fn selftest_passes() {
        assert_eq!(super::selftest(), Ok(()));
    }
}
