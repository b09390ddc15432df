//! Sorted-set algebra (`zunionInterDiffGenericCommand` in Redis): ZUNION,
//! ZINTER, ZDIFF, their STORE forms, and ZINTERCARD.
//!
//! Inputs may be sorted sets or plain sets (members of a set score 1), as
//! in Redis. Keys are looked up before the options are parsed, so a
//! WRONGTYPE input wins over a syntax error, as Redis orders them.

use super::zsets::{emit_range, sort_items, store_result};
use crate::util::double;
use keyspace::{Set, Value};
use server::cmd::{Ctx, Handler};
use server::errors;
use std::collections::HashMap;

pub const COMMANDS: &[(&str, Handler)] = &[
    ("zunion", zunion),
    ("zinter", zinter),
    ("zdiff", zdiff),
    ("zunionstore", zunionstore),
    ("zinterstore", zinterstore),
    ("zdiffstore", zdiffstore),
    ("zintercard", zintercard),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Union,
    Inter,
    Diff,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Aggregate {
    Sum,
    Min,
    Max,
}

impl Aggregate {
    /// Redis's `zunionInterAggregate`: a NaN sum (inf + -inf) becomes 0.
    fn apply(self, target: &mut f64, v: f64) {
        match self {
            Aggregate::Sum => {
                *target += v;
                if target.is_nan() {
                    *target = 0.0;
                }
            }
            Aggregate::Min => {
                if v < *target {
                    *target = v;
                }
            }
            Aggregate::Max => {
                if v > *target {
                    *target = v;
                }
            }
        }
    }
}

/// One input: its members with scores, in set order, and its weight.
struct Source {
    items: Vec<(f64, Box<[u8]>)>,
    weight: f64,
}

/// The members of a plain set, each with score 1.
fn set_members(s: &Set) -> Vec<(f64, Box<[u8]>)> {
    match s {
        Set::Intset(v) => v
            .iter()
            .map(|n| (1.0, itoa::Buffer::new().format(n).as_bytes().into()))
            .collect(),
        Set::Table(t) => t.iter().map(|m| (1.0, Box::from(&**m))).collect(),
    }
}

/// Reads the input keys; `Err` means one holds neither a set nor a sorted
/// set.
fn read_sources(ctx: &mut Ctx, first: usize, n: usize, store: bool) -> Result<Vec<Source>, ()> {
    let mut v = Vec::with_capacity(n);
    for i in 0..n {
        let key = ctx.argv.get(first + i);
        let e = if store {
            ctx.lookup_write(key)
        } else {
            ctx.lookup_read(key)
        };
        let items = match e.map(|e| &e.value) {
            None => Vec::new(),
            Some(Value::ZSet(z)) => z.iter(false).map(|(s, m)| (s, m.into())).collect(),
            Some(Value::Set(s)) => set_members(s),
            Some(_) => return Err(()),
        };
        v.push(Source { items, weight: 1.0 });
    }
    Ok(v)
}

fn zunion(ctx: &mut Ctx) {
    generic(ctx, None, 1, Op::Union);
}

fn zinter(ctx: &mut Ctx) {
    generic(ctx, None, 1, Op::Inter);
}

fn zdiff(ctx: &mut Ctx) {
    generic(ctx, None, 1, Op::Diff);
}

fn zunionstore(ctx: &mut Ctx) {
    let dst = ctx.argv.get(1);
    generic(ctx, Some(dst), 2, Op::Union);
}

fn zinterstore(ctx: &mut Ctx) {
    let dst = ctx.argv.get(1);
    generic(ctx, Some(dst), 2, Op::Inter);
}

fn zdiffstore(ctx: &mut Ctx) {
    let dst = ctx.argv.get(1);
    generic(ctx, Some(dst), 2, Op::Diff);
}

fn generic(ctx: &mut Ctx, dst: Option<&[u8]>, numkeys_idx: usize, op: Op) {
    let argv = ctx.argv;
    let Some(setnum) = resp::parse_i64(argv.get(numkeys_idx)) else {
        return ctx.err(errors::NOT_INTEGER);
    };
    if setnum < 1 {
        let name = ctx.srv.commands.commands[ctx.cmd].meta.name;
        return ctx.err(&errors::zsetop_no_keys(name));
    }
    if setnum as u64 > (argv.len() - numkeys_idx - 1) as u64 {
        return ctx.err(errors::SYNTAX);
    }
    let setnum = setnum as usize;
    let Ok(mut src) = read_sources(ctx, numkeys_idx + 1, setnum, dst.is_some()) else {
        return ctx.err(errors::WRONGTYPE);
    };
    let mut agg = Aggregate::Sum;
    let mut withscores = false;
    let mut j = numkeys_idx + 1 + setnum;
    while j < argv.len() {
        let a = argv.get(j);
        let left = argv.len() - j - 1;
        if op != Op::Diff && a.eq_ignore_ascii_case(b"weights") && left >= setnum {
            for (i, s) in src.iter_mut().enumerate() {
                match double::parse(argv.get(j + 1 + i)) {
                    Some(w) => s.weight = w,
                    None => return ctx.err(errors::WEIGHT_NOT_FLOAT),
                }
            }
            j += setnum;
        } else if op != Op::Diff && a.eq_ignore_ascii_case(b"aggregate") && left >= 1 {
            let v = argv.get(j + 1);
            agg = if v.eq_ignore_ascii_case(b"sum") {
                Aggregate::Sum
            } else if v.eq_ignore_ascii_case(b"min") {
                Aggregate::Min
            } else if v.eq_ignore_ascii_case(b"max") {
                Aggregate::Max
            } else {
                return ctx.err(errors::SYNTAX);
            };
            j += 1;
        } else if dst.is_none() && a.eq_ignore_ascii_case(b"withscores") {
            withscores = true;
        } else {
            return ctx.err(errors::SYNTAX);
        }
        j += 1;
    }
    let mut result = compute(src, op, agg);
    sort_items(&mut result);
    match dst {
        Some(dst) => {
            let event = match op {
                Op::Union => "zunionstore",
                Op::Inter => "zinterstore",
                Op::Diff => "zdiffstore",
            };
            store_result(ctx, dst, result, event);
        }
        None => emit_range(
            ctx.out(),
            result.iter().map(|(s, m)| (*s, &**m)),
            withscores,
        ),
    }
}

/// A weighted score; NaN (0 * inf) becomes 0, as in Redis.
fn weighted(w: f64, s: f64) -> f64 {
    let v = w * s;
    if v.is_nan() {
        0.0
    } else {
        v
    }
}

fn compute(mut src: Vec<Source>, op: Op, agg: Aggregate) -> Vec<(f64, Box<[u8]>)> {
    match op {
        Op::Union => {
            let mut acc: HashMap<Box<[u8]>, f64> = HashMap::new();
            for s in &src {
                for (score, m) in &s.items {
                    let v = weighted(s.weight, *score);
                    match acc.get_mut(m) {
                        Some(t) => agg.apply(t, v),
                        None => {
                            acc.insert(m.clone(), v);
                        }
                    }
                }
            }
            acc.into_iter().map(|(m, s)| (s, m)).collect()
        }
        Op::Inter => {
            // Walk the smallest input, probing the others, as Redis does.
            src.sort_by_key(|s| s.items.len());
            if src.first().is_none_or(|s| s.items.is_empty()) {
                return Vec::new();
            }
            let maps: Vec<HashMap<&[u8], f64>> = src[1..]
                .iter()
                .map(|s| s.items.iter().map(|(sc, m)| (&**m, *sc)).collect())
                .collect();
            let mut out = Vec::new();
            'member: for (score, m) in &src[0].items {
                let mut t = weighted(src[0].weight, *score);
                for (k, map) in maps.iter().enumerate() {
                    match map.get(&**m) {
                        Some(v) => agg.apply(&mut t, weighted(src[k + 1].weight, *v)),
                        None => continue 'member,
                    }
                }
                out.push((t, m.clone()));
            }
            out
        }
        Op::Diff => {
            let mut it = src.into_iter();
            let Some(first) = it.next() else {
                return Vec::new();
            };
            let others: Vec<std::collections::HashSet<Box<[u8]>>> = it
                .map(|s| s.items.into_iter().map(|(_, m)| m).collect())
                .collect();
            first
                .items
                .into_iter()
                .filter(|(_, m)| !others.iter().any(|o| o.contains(m)))
                .collect()
        }
    }
}

/// ZINTERCARD numkeys key [key ...] [LIMIT limit]
fn zintercard(ctx: &mut Ctx) {
    let argv = ctx.argv;
    let numkeys = match resp::parse_i64(argv.get(1)) {
        None => return ctx.err(errors::NOT_INTEGER),
        Some(n) if n < 1 => return ctx.err(&errors::zsetop_no_keys("zintercard")),
        Some(n) => n as u64,
    };
    if numkeys > (argv.len() - 2) as u64 {
        return ctx.err(errors::SYNTAX);
    }
    let numkeys = numkeys as usize;
    let mut limit = 0usize;
    let mut j = 2 + numkeys;
    while j < argv.len() {
        if argv.get(j).eq_ignore_ascii_case(b"limit") && j + 1 < argv.len() {
            match resp::parse_i64(argv.get(j + 1)) {
                None => return ctx.err(errors::LIMIT_NEGATIVE),
                Some(n) if n < 0 => return ctx.err(errors::LIMIT_NEGATIVE),
                Some(n) => limit = n as usize,
            }
            j += 2;
        } else {
            return ctx.err(errors::SYNTAX);
        }
    }
    let Ok(src) = read_sources(ctx, 2, numkeys, false) else {
        return ctx.err(errors::WRONGTYPE);
    };
    let mut n = compute(src, Op::Inter, Aggregate::Sum).len();
    if limit > 0 {
        n = n.min(limit);
    }
    ctx.out().int(n as i64);
}

#[cfg(test)]
mod tests {
    use crate::testkit::Kit;

    #[test]
    fn store_forms_propagate_verbatim() {
        let mut k = Kit::new();
        k.run(&["ZADD", "a", "1", "x", "2", "y"]);
        k.run(&["ZADD", "b", "3", "y"]);
        k.propagated();
        assert_eq!(k.run(&["ZINTERSTORE", "d", "2", "a", "b"]), ":1\r\n");
        assert_eq!(
            k.run(&["ZRANGE", "d", "0", "-1", "WITHSCORES"]),
            "*2\r\n$1\r\ny\r\n$1\r\n5\r\n"
        );
        assert_eq!(k.run(&["ZDIFFSTORE", "d", "2", "b", "a"]), ":0\r\n");
        assert_eq!(k.run(&["EXISTS", "d"]), ":0\r\n");
        assert_eq!(
            k.propagated(),
            vec!["ZINTERSTORE d 2 a b", "ZDIFFSTORE d 2 b a"]
        );
    }
}
