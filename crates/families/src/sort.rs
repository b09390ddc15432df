//! SORT and SORT_RO (`sort.c` in Redis): order the members of a list, set
//! or sorted set numerically or by bytes, optionally by the values of
//! other keys (`BY weight_*`, `BY h_*->field`), and return (or STORE as a
//! list) the members or values looked up through `GET` patterns.
//!
//! Redis 7.0 details kept here:
//! - options are parsed before the key is looked up, so a syntax error
//!   wins over WRONGTYPE; SORT_RO does not know STORE at all;
//! - a BY pattern without `*` means "do not sort": lists and sorted sets
//!   keep their order (DESC walks it backwards), sets their own order,
//!   except with STORE, where a set is sorted ALPHA so replicas agree;
//! - numeric order breaks ties by comparing the members' bytes, so the
//!   result never depends on the set's internal order; a missing BY key
//!   weighs 0 (numeric) or sorts first (ALPHA);
//! - ALPHA compares with `strcoll`, which in the C locale Redis runs in
//!   is a byte comparison up to the first NUL (STORE compares whole
//!   strings);
//! - reading a sorted set converts it to the skiplist encoding;
//! - STORE replaces the destination with a list (no TTL) and an empty
//!   result deletes it; the command is propagated verbatim.

use crate::util::double;
use keyspace::{List, Value, NO_EXPIRE};
use server::cmd::{Ctx, Handler};
use server::errors;
use server::notify::class;
use std::cmp::Ordering;

pub const COMMANDS: &[(&str, Handler)] = &[("sort", sort), ("sort_ro", sort_ro)];

fn sort(ctx: &mut Ctx) {
    sort_generic(ctx, false);
}

fn sort_ro(ctx: &mut Ctx) {
    sort_generic(ctx, true);
}

/// The parsed options of one SORT call.
struct Opts<'a> {
    by: Option<&'a [u8]>,
    dontsort: bool,
    limit_start: i64,
    limit_count: i64,
    gets: Vec<&'a [u8]>,
    desc: bool,
    alpha: bool,
    store: Option<&'a [u8]>,
}

/// What an element is compared by.
enum Weight {
    Score(f64),
    Text(Option<Vec<u8>>),
    Own,
}

/// The part of a C string `strchr`/`strstr` and `strcoll` see.
fn c_str(s: &[u8]) -> &[u8] {
    s.iter().position(|&b| b == 0).map_or(s, |i| &s[..i])
}

fn parse_opts<'a>(ctx: &mut Ctx<'a>, readonly: bool) -> Option<Opts<'a>> {
    let argv = ctx.argv;
    let mut o = Opts {
        by: None,
        dontsort: false,
        limit_start: 0,
        limit_count: -1,
        gets: Vec::new(),
        desc: false,
        alpha: false,
        store: None,
    };
    let mut j = 2;
    while j < argv.len() {
        let a = argv.get(j);
        let left = argv.len() - j - 1;
        if a.eq_ignore_ascii_case(b"asc") {
            o.desc = false;
        } else if a.eq_ignore_ascii_case(b"desc") {
            o.desc = true;
        } else if a.eq_ignore_ascii_case(b"alpha") {
            o.alpha = true;
        } else if a.eq_ignore_ascii_case(b"limit") && left >= 2 {
            match (
                resp::parse_i64(argv.get(j + 1)),
                resp::parse_i64(argv.get(j + 2)),
            ) {
                (Some(s), Some(c)) => (o.limit_start, o.limit_count) = (s, c),
                _ => {
                    ctx.err(errors::NOT_INTEGER);
                    return None;
                }
            }
            j += 2;
        } else if !readonly && a.eq_ignore_ascii_case(b"store") && left >= 1 {
            o.store = Some(argv.get(j + 1));
            j += 1;
        } else if a.eq_ignore_ascii_case(b"by") && left >= 1 {
            let p = argv.get(j + 1);
            o.by = Some(p);
            o.dontsort = !c_str(p).contains(&b'*');
            // BY and GET read keys no key spec names: Redis allows them
            // only to users who may read every key.
            if !o.dontsort && !server::acl::may_read_all_keys(ctx.client) {
                ctx.err(errors::SORT_BY_DENIED);
                return None;
            }
            j += 1;
        } else if a.eq_ignore_ascii_case(b"get") && left >= 1 {
            if !server::acl::may_read_all_keys(ctx.client) {
                ctx.err(errors::SORT_GET_DENIED);
                return None;
            }
            o.gets.push(argv.get(j + 1));
            j += 1;
        } else {
            ctx.err(errors::SYNTAX);
            return None;
        }
        j += 1;
    }
    Some(o)
}

/// Redis's `lookupKeyByPattern`: `#` is the element itself; otherwise the
/// first `*` is replaced by the element and the key read as a string, or,
/// with `->field` after the `*`, as a hash field. No `*`: nothing.
fn lookup_pattern(ctx: &mut Ctx, pat: &[u8], elem: &[u8]) -> Option<Vec<u8>> {
    if c_str(pat) == b"#" {
        return Some(elem.to_vec());
    }
    let cpat = c_str(pat);
    let star = cpat.iter().position(|&b| b == b'*')?;
    let field = cpat[star + 1..]
        .windows(2)
        .position(|w| w == b"->")
        .map(|i| star + 1 + i)
        .filter(|&f| f + 2 < cpat.len())
        .map(|f| &pat[f + 2..]);
    let post_end = pat.len() - field.map_or(0, |f| f.len() + 2);
    let mut key = Vec::with_capacity(pat.len() + elem.len());
    key.extend_from_slice(&pat[..star]);
    key.extend_from_slice(elem);
    key.extend_from_slice(&pat[star + 1..post_end]);
    let e = ctx.lookup_read(&key)?;
    match (&e.value, field) {
        (Value::Str(s), None) => {
            let mut buf = [0u8; 24];
            Some(s.as_bytes(&mut buf).to_vec())
        }
        (Value::Hash(h), Some(f)) => h.get(f).map(<[u8]>::to_vec),
        _ => None,
    }
}

/// `strtod` as SORT applies it: leading blanks and the empty string (0)
/// pass; trailing garbage, out-of-range values and NaN do not.
fn sort_score(s: &[u8]) -> Option<f64> {
    double::parse_strtod_strict(s)
}

fn sort_generic(ctx: &mut Ctx, readonly: bool) {
    let Some(mut o) = parse_opts(ctx, readonly) else {
        return;
    };
    let key = ctx.argv.get(1);
    // The elements, and whether their order is the type's own (list,
    // sorted set) rather than a set's.
    let (mut elems, ordered, is_set): (Vec<Vec<u8>>, bool, bool) = match ctx.lookup_read(key) {
        None => (Vec::new(), true, false),
        Some(e) => match &mut e.value {
            Value::List(l) => (l.iter().map(<[u8]>::to_vec).collect(), true, false),
            Value::Set(s) => (s.iter().map(|m| m.to_vec()).collect(), false, true),
            Value::ZSet(z) => {
                z.convert();
                (
                    z.iter(false).map(|(_, m)| m.to_vec()).collect(),
                    true,
                    false,
                )
            }
            _ => return ctx.err(errors::WRONGTYPE),
        },
    };
    if o.dontsort && is_set && (o.store.is_some() || ctx.client.script) {
        // A set's own order differs between servers: what is stored (and
        // replicated), or returned to a script, is sorted by bytes
        // instead, as Redis does.
        o.dontsort = false;
        o.alpha = true;
        o.by = None;
    }
    let n = elems.len() as i64;
    let mut start = o.limit_start.max(0);
    let mut end = if o.limit_count < 0 {
        n - 1
    } else {
        start.wrapping_add(o.limit_count).wrapping_sub(1)
    };
    if start >= n {
        start = n - 1;
        end = n - 2;
    }
    if end >= n {
        end = n - 1;
    }
    if ordered && o.dontsort && end >= start {
        // The range is taken straight from the list or set order, walked
        // backwards from the end for DESC.
        let (s, e) = (start as usize, end as usize);
        elems = if o.desc {
            let len = elems.len();
            (s..=e)
                .map(|i| std::mem::take(&mut elems[len - 1 - i]))
                .collect()
        } else {
            elems.drain(s..=e).collect()
        };
        end -= start;
        start = 0;
    }
    let mut bad_score = false;
    if !o.dontsort {
        let mut weights = Vec::with_capacity(elems.len());
        for el in &elems {
            let w = match o.by {
                Some(p) => {
                    let v = lookup_pattern(ctx, p, el);
                    if o.alpha {
                        Weight::Text(v)
                    } else {
                        match v {
                            None => Weight::Score(0.0),
                            Some(v) => Weight::Score(sort_score(&v).unwrap_or_else(|| {
                                bad_score = true;
                                0.0
                            })),
                        }
                    }
                }
                None if o.alpha => Weight::Own,
                None => Weight::Score(sort_score(el).unwrap_or_else(|| {
                    bad_score = true;
                    0.0
                })),
            };
            weights.push(w);
        }
        let store = o.store.is_some();
        let mut v: Vec<(Weight, Vec<u8>)> = weights.into_iter().zip(elems).collect();
        v.sort_by(|a, b| {
            let c = compare(a, b, store);
            if o.desc {
                c.reverse()
            } else {
                c
            }
        });
        elems = v.into_iter().map(|(_, e)| e).collect();
    }
    if bad_score {
        return ctx.err(errors::SORT_NOT_DOUBLE);
    }
    let range: &[Vec<u8>] = if end >= start {
        &elems[start as usize..=end as usize]
    } else {
        &[]
    };
    let gets = o.gets;
    match o.store {
        None => {
            let total = if gets.is_empty() {
                range.len()
            } else {
                gets.len() * range.len()
            };
            ctx.out().array(total);
            for el in range {
                if gets.is_empty() {
                    ctx.out().bulk(el);
                }
                for g in &gets {
                    match lookup_pattern(ctx, g, el) {
                        Some(v) => ctx.out().bulk(&v),
                        None => ctx.out().null(),
                    }
                }
            }
        }
        Some(dst) => {
            let mut items: Vec<Vec<u8>> = Vec::new();
            for el in range {
                if gets.is_empty() {
                    items.push(el.clone());
                }
                for g in &gets {
                    items.push(lookup_pattern(ctx, g, el).unwrap_or_default());
                }
            }
            let n = items.len();
            if n > 0 {
                let mut list = List::from_items(items.iter().map(Vec::as_slice));
                list.set_compress_depth(ctx.srv.encoding_limits.list_compress_depth);
                let lru = ctx.srv.lru_clock;
                let old = ctx
                    .db()
                    .insert(dst, Value::List(Box::new(list)), NO_EXPIRE, lru);
                ctx.srv.free_replaced(old);
                ctx.modified(dst);
                ctx.notify(class::LIST, "sortstore", dst);
                ctx.dirty(n as u64);
            } else if let Some(old) = ctx.db().remove(dst) {
                ctx.srv.free_replaced(Some(old));
                ctx.modified(dst);
                ctx.notify(class::GENERIC, "del", dst);
                ctx.dirty(1);
            }
            ctx.out().int(n as i64);
        }
    }
}

/// Redis's `sortCompare` (before DESC is applied).
fn compare(a: &(Weight, Vec<u8>), b: &(Weight, Vec<u8>), store: bool) -> Ordering {
    let text = |x: &[u8], y: &[u8]| {
        if store {
            x.cmp(y)
        } else {
            c_str(x).cmp(c_str(y))
        }
    };
    match (&a.0, &b.0) {
        (Weight::Score(x), Weight::Score(y)) => match x.partial_cmp(y) {
            Some(Ordering::Equal) | None => a.1.cmp(&b.1),
            Some(c) => c,
        },
        (Weight::Text(x), Weight::Text(y)) => match (x, y) {
            (None, None) => Ordering::Equal,
            (None, Some(_)) => Ordering::Less,
            (Some(_), None) => Ordering::Greater,
            (Some(x), Some(y)) => text(x, y),
        },
        _ => text(&a.1, &b.1),
    }
}

#[cfg(test)]
mod tests {
    use crate::testkit::Kit;

    #[test]
    fn store_propagates_verbatim_and_an_empty_result_deletes() {
        let mut k = Kit::new();
        k.run(&["RPUSH", "l", "3", "1", "2"]);
        assert_eq!(k.run(&["SORT", "l", "STORE", "d"]), ":3\r\n");
        assert_eq!(
            k.run(&["LRANGE", "d", "0", "-1"]),
            "*3\r\n$1\r\n1\r\n$1\r\n2\r\n$1\r\n3\r\n"
        );
        assert_eq!(
            k.run(&["SORT", "l", "DESC"]),
            "*3\r\n$1\r\n3\r\n$1\r\n2\r\n$1\r\n1\r\n"
        );
        assert_eq!(k.run(&["SORT", "nokey", "STORE", "d"]), ":0\r\n");
        assert_eq!(k.run(&["SORT", "nokey", "STORE", "d"]), ":0\r\n");
        assert_eq!(k.run(&["EXISTS", "d"]), ":0\r\n");
        assert_eq!(
            k.propagated(),
            vec!["RPUSH l 3 1 2", "SORT l STORE d", "SORT nokey STORE d"]
        );
    }

    #[test]
    fn patterns_weigh_and_fetch() {
        let mut k = Kit::new();
        k.run(&["RPUSH", "ids", "1", "2", "3"]);
        k.run(&["MSET", "w_1", "3", "w_2", "1"]);
        k.run(&["HSET", "h_3", "f", "x"]);
        assert_eq!(
            k.run(&["SORT", "ids", "BY", "w_*", "GET", "#", "GET", "h_*->f"]),
            "*6\r\n$1\r\n3\r\n$1\r\nx\r\n$1\r\n2\r\n$-1\r\n$1\r\n1\r\n$-1\r\n"
        );
        assert_eq!(
            k.run(&["SORT_RO", "ids", "STORE", "d"]),
            "-ERR syntax error\r\n"
        );
        k.run(&["RPUSH", "bad", "x"]);
        assert_eq!(
            k.run(&["SORT", "bad"]),
            "-ERR One or more scores can't be converted into double\r\n"
        );
    }
}
