//! The ZRANGE family (`zrangeGenericCommand` in Redis): ZRANGE with
//! BYSCORE / BYLEX / REV / LIMIT / WITHSCORES, its older spellings
//! (ZREVRANGE, ZRANGEBYSCORE, ...), ZRANGESTORE, and the ZREMRANGEBY*
//! commands, which select members the same way.
//!
//! Options the command name already fixes (REV for ZREVRANGE, BYSCORE for
//! ZRANGEBYSCORE) are syntax errors, and option conflicts are reported
//! before the range itself is parsed, in Redis's order.

use super::zsets::{
    delete_if_empty, emit_range, parse_lex_range, parse_long, parse_score_range, store_result,
    with_zset, write_zset,
};
use keyspace::zset::{LexRange, ScoreRange};
use keyspace::ZSet;
use server::cmd::{Ctx, Handler};
use server::errors::{self, WrongType};
use server::notify::class;

pub const COMMANDS: &[(&str, Handler)] = &[
    ("zrange", zrange),
    ("zrangestore", zrangestore),
    ("zrevrange", zrevrange),
    ("zrangebyscore", zrangebyscore),
    ("zrevrangebyscore", zrevrangebyscore),
    ("zrangebylex", zrangebylex),
    ("zrevrangebylex", zrevrangebylex),
    ("zremrangebyrank", zremrangebyrank),
    ("zremrangebyscore", zremrangebyscore),
    ("zremrangebylex", zremrangebylex),
];

// ---------------------------------------------------------------------------
// The ZRANGE family
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RangeKind {
    Rank,
    Score,
    Lex,
}

/// A parsed range request.
enum Range {
    Rank(i64, i64),
    Score(ScoreRange),
    Lex(LexRange),
}

struct RangeReq {
    range: Range,
    rev: bool,
    withscores: bool,
    offset: i64,
    limit: i64,
}

fn zrange(ctx: &mut Ctx) {
    zrange_generic(ctx, 1, false, None, None);
}

fn zrangestore(ctx: &mut Ctx) {
    zrange_generic(ctx, 2, true, None, None);
}

fn zrevrange(ctx: &mut Ctx) {
    zrange_generic(ctx, 1, false, Some(RangeKind::Rank), Some(true));
}

fn zrangebyscore(ctx: &mut Ctx) {
    zrange_generic(ctx, 1, false, Some(RangeKind::Score), Some(false));
}

fn zrevrangebyscore(ctx: &mut Ctx) {
    zrange_generic(ctx, 1, false, Some(RangeKind::Score), Some(true));
}

fn zrangebylex(ctx: &mut Ctx) {
    zrange_generic(ctx, 1, false, Some(RangeKind::Lex), Some(false));
}

fn zrevrangebylex(ctx: &mut Ctx) {
    zrange_generic(ctx, 1, false, Some(RangeKind::Lex), Some(true));
}

/// Parses the options after `key min max` the way Redis's
/// `zrangeGenericCommand` does: options that the command name already
/// fixes (REV for ZREVRANGE, BYSCORE for ZRANGEBYSCORE, ...) are syntax
/// errors, and the conflicts are checked before the range is parsed.
fn parse_range_req(
    ctx: &Ctx,
    key_idx: usize,
    store: bool,
    kind: Option<RangeKind>,
    rev: Option<bool>,
) -> Result<RangeReq, &'static str> {
    let argv = ctx.argv;
    let (mut kind_opt, mut rev_opt) = (kind, rev);
    let (mut withscores, mut offset, mut limit) = (false, 0i64, -1i64);
    let mut j = key_idx + 3;
    while j < argv.len() {
        let a = argv.get(j);
        let left = argv.len() - j - 1;
        let is = |s: &[u8]| a.eq_ignore_ascii_case(s);
        if !store && is(b"withscores") {
            withscores = true;
        } else if is(b"limit") && left >= 2 {
            offset = parse_long(argv.get(j + 1))?;
            limit = parse_long(argv.get(j + 2))?;
            j += 2;
        } else if rev_opt.is_none() && is(b"rev") {
            rev_opt = Some(true);
        } else if kind.is_none() && kind_opt.is_none() && is(b"bylex") {
            kind_opt = Some(RangeKind::Lex);
        } else if kind.is_none() && kind_opt.is_none() && is(b"byscore") {
            kind_opt = Some(RangeKind::Score);
        } else {
            return Err(errors::SYNTAX);
        }
        j += 1;
    }
    let rev = rev_opt.unwrap_or(false);
    let kind = kind_opt.unwrap_or(RangeKind::Rank);
    if limit != -1 && kind == RangeKind::Rank {
        return Err(errors::ZRANGE_LIMIT_RANK);
    }
    if withscores && kind == RangeKind::Lex {
        return Err(errors::ZRANGE_WITHSCORES_LEX);
    }
    let (mut min, mut max) = (argv.get(key_idx + 1), argv.get(key_idx + 2));
    if rev && kind != RangeKind::Rank {
        std::mem::swap(&mut min, &mut max);
    }
    let range = match kind {
        RangeKind::Rank => Range::Rank(parse_long(min)?, parse_long(max)?),
        RangeKind::Score => Range::Score(parse_score_range(min, max)?),
        RangeKind::Lex => Range::Lex(parse_lex_range(min, max)?),
    };
    Ok(RangeReq {
        range,
        rev,
        withscores,
        offset,
        limit,
    })
}

/// The members a range request selects, in reply order.
fn select<'a>(z: &'a ZSet, req: &'a RangeReq) -> keyspace::zset::Iter<'a> {
    let len = z.len() as i64;
    let paged = |it: keyspace::zset::Iter<'a>| -> keyspace::zset::Iter<'a> {
        // Redis skips `offset` entries (a negative offset skips them all)
        // and a negative limit means no limit.
        if req.offset < 0 || (req.offset > 0 && req.offset >= len) {
            return Box::new(std::iter::empty());
        }
        let it = it.skip(req.offset as usize);
        if req.limit < 0 {
            Box::new(it)
        } else {
            Box::new(it.take(req.limit as usize))
        }
    };
    match &req.range {
        Range::Rank(start, end) => {
            let (mut start, mut end) = (*start, *end);
            if start < 0 {
                start += len;
            }
            if end < 0 {
                end += len;
            }
            if start < 0 {
                start = 0;
            }
            if start > end || start >= len {
                return Box::new(std::iter::empty());
            }
            if end >= len {
                end = len - 1;
            }
            Box::new(
                z.iter_from_rank(start as usize, req.rev)
                    .take((end - start + 1) as usize),
            )
        }
        Range::Score(r) => paged(z.iter_score(*r, req.rev)),
        Range::Lex(r) => paged(z.iter_lex(r, req.rev)),
    }
}

fn zrange_generic(
    ctx: &mut Ctx,
    key_idx: usize,
    store: bool,
    kind: Option<RangeKind>,
    rev: Option<bool>,
) {
    let req = match parse_range_req(ctx, key_idx, store, kind, rev) {
        Ok(r) => r,
        Err(e) => return ctx.err(e),
    };
    let src = ctx.argv.get(key_idx);
    if store {
        let dst = ctx.argv.get(1);
        let selected = with_zset(ctx, src, |z, _| {
            z.map(|z| {
                select(z, &req)
                    .map(|(s, m)| (s, Box::<[u8]>::from(m)))
                    .collect::<Vec<_>>()
            })
        });
        let mut items = match selected {
            Err(WrongType) => return ctx.err(errors::WRONGTYPE),
            Ok(v) => v.unwrap_or_default(),
        };
        if req.rev {
            items.reverse();
        }
        return store_result(ctx, dst, items, "zrangestore");
    }
    let r = with_zset(ctx, src, |z, out| match z {
        None => out.array(0),
        Some(z) => emit_range(out, select(z, &req), req.withscores),
    });
    if r.is_err() {
        ctx.err(errors::WRONGTYPE);
    }
}

// ---------------------------------------------------------------------------
// ZREMRANGEBY*
// ---------------------------------------------------------------------------

fn zremrangebyrank(ctx: &mut Ctx) {
    zremrange_generic(ctx, RangeKind::Rank);
}

fn zremrangebyscore(ctx: &mut Ctx) {
    zremrange_generic(ctx, RangeKind::Score);
}

fn zremrangebylex(ctx: &mut Ctx) {
    zremrange_generic(ctx, RangeKind::Lex);
}

fn zremrange_generic(ctx: &mut Ctx, kind: RangeKind) {
    let (key, min, max) = (ctx.argv.get(1), ctx.argv.get(2), ctx.argv.get(3));
    let parsed = match kind {
        RangeKind::Rank => parse_long(min).and_then(|a| Ok(Range::Rank(a, parse_long(max)?))),
        RangeKind::Score => parse_score_range(min, max).map(Range::Score),
        RangeKind::Lex => parse_lex_range(min, max).map(Range::Lex),
    };
    let range = match parsed {
        Ok(r) => r,
        Err(e) => return ctx.err(e),
    };
    let req = RangeReq {
        range,
        rev: false,
        withscores: false,
        offset: 0,
        limit: -1,
    };
    let deleted = match write_zset(ctx, key) {
        Err(WrongType) => return ctx.err(errors::WRONGTYPE),
        Ok(None) => 0,
        Ok(Some(z)) => {
            let doomed: Vec<Box<[u8]>> = select(z, &req).map(|(_, m)| m.into()).collect();
            z.remove_all(&doomed)
        }
    };
    if deleted > 0 {
        let event = match kind {
            RangeKind::Rank => "zremrangebyrank",
            RangeKind::Score => "zremrangebyscore",
            RangeKind::Lex => "zremrangebylex",
        };
        ctx.modified(key);
        ctx.notify(class::ZSET, event, key);
        delete_if_empty(ctx, key);
        ctx.dirty(deleted as u64);
    }
    ctx.out().int(deleted as i64);
}
