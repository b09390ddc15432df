//! LCS (`lcsCommand` in Redis's `t_string.c`): the longest common
//! subsequence of two strings, its length, or the matching ranges.
//!
//! The classic dynamic-programming table is built, then walked back from
//! the end. Which of several equally long subsequences is returned, and
//! the order of the ranges (last match first), follow from the walk's tie
//! rule — step back in the first string only when that keeps a strictly
//! longer subsequence — which is Redis's, so replies match byte for byte.
//! The table's size is bounded by `proto-max-bulk-len`, as in Redis.

use crate::strings::with_str;
use keyspace::Value;
use resp::Reply;
use server::cmd::{Ctx, Handler};
use server::errors;

pub const COMMANDS: &[(&str, Handler)] = &[("lcs", lcs)];

#[derive(Debug, Default)]
struct LcsArgs {
    len: bool,
    idx: bool,
    min_match_len: u64,
    with_match_len: bool,
}

fn parse_args(ctx: &Ctx) -> Result<LcsArgs, &'static str> {
    let argv = ctx.argv;
    let mut a = LcsArgs::default();
    let mut j = 3;
    while j < argv.len() {
        let opt = argv.get(j);
        let is = |s: &[u8]| opt.eq_ignore_ascii_case(s);
        if is(b"IDX") {
            a.idx = true;
        } else if is(b"LEN") {
            a.len = true;
        } else if is(b"WITHMATCHLEN") {
            a.with_match_len = true;
        } else if is(b"MINMATCHLEN") && j + 1 < argv.len() {
            let n = resp::parse_i64(argv.get(j + 1)).ok_or(errors::NOT_INTEGER)?;
            a.min_match_len = n.max(0) as u64;
            j += 1;
        } else {
            return Err(errors::SYNTAX);
        }
        j += 1;
    }
    if a.idx && a.len {
        return Err(errors::LCS_LEN_AND_IDX);
    }
    Ok(a)
}

/// The bytes of a string value, formatting an integer into `scratch`.
fn bytes_of<'a>(v: Option<&'a Value>, scratch: &'a mut [u8; 24]) -> &'a [u8] {
    match v {
        Some(Value::Str(s)) => s.as_bytes(scratch),
        // A missing key; other types were refused before.
        _ => &[],
    }
}

/// LCS key1 key2 [LEN] [IDX] [MINMATCHLEN len] [WITHMATCHLEN]. Missing
/// keys are empty strings.
fn lcs(ctx: &mut Ctx) {
    let argv = ctx.argv;
    // Both keys are looked up (and counted) before the options are read.
    let a_ok = with_str(ctx, argv.get(1), |_, _| ()).is_ok();
    let b_ok = with_str(ctx, argv.get(2), |_, _| ()).is_ok();
    if !a_ok || !b_ok {
        return ctx.err(errors::LCS_NOT_STRINGS);
    }
    let args = match parse_args(ctx) {
        Ok(a) => a,
        Err(e) => return ctx.err(e),
    };
    let limit = ctx.srv.proto_max_bulk_len.max(0) as u128;
    let db = &ctx.srv.dbs[ctx.client.db];
    let (mut sa, mut sb) = ([0u8; 24], [0u8; 24]);
    let a = bytes_of(db.get(argv.get(1)).map(|e| &e.value), &mut sa);
    let b = bytes_of(db.get(argv.get(2)).map(|e| &e.value), &mut sb);
    if let Err(e) = compute(a, b, &args, limit, &mut ctx.client.out) {
        ctx.err(e);
    }
}

/// Builds the table and writes the reply; an error is returned before
/// anything is written.
fn compute(
    a: &[u8],
    b: &[u8],
    args: &LcsArgs,
    limit: u128,
    out: &mut Reply,
) -> Result<(), &'static str> {
    if a.len() as u64 >= u64::from(u32::MAX - 1) || b.len() as u64 >= u64::from(u32::MAX - 1) {
        return Err(errors::LCS_TOO_LONG);
    }
    let (alen, blen) = (a.len(), b.len());
    let cells = (alen as u128 + 1) * (blen as u128 + 1);
    if cells * 4 > limit {
        return Err(errors::LCS_OVER_LIMIT);
    }
    let cells = cells as usize;
    let mut table: Vec<u32> = Vec::new();
    if table.try_reserve_exact(cells).is_err() {
        return Err(errors::LCS_ALLOC_FAILED);
    }
    table.resize(cells, 0);
    let w = blen + 1;
    // table[i * w + j]: LCS length of a[..i] and b[..j].
    for i in 1..=alen {
        for j in 1..=blen {
            table[i * w + j] = if a[i - 1] == b[j - 1] {
                table[(i - 1) * w + j - 1] + 1
            } else {
                table[(i - 1) * w + j].max(table[i * w + j - 1])
            };
        }
    }
    let total = table[alen * w + blen] as usize;
    if args.len {
        out.int(total as i64);
        return Ok(());
    }

    let mut result = vec![0u8; total];
    let mut k = total;
    let mut mark = 0;
    let mut ranges = 0;
    if args.idx {
        out.map(2);
        out.bulk(b"matches");
        mark = out.mark();
    }
    // The match being extended backwards: (a_start, a_end, b_start, b_end).
    let mut open: Option<(usize, usize, usize, usize)> = None;
    let (mut i, mut j) = (alen, blen);
    while i > 0 && j > 0 {
        let close;
        if a[i - 1] == b[j - 1] {
            k -= 1;
            result[k] = a[i - 1];
            // Consecutive matches are always contiguous: each one extends
            // the open range by a byte on both sides.
            open = Some(match open {
                None => (i - 1, i - 1, j - 1, j - 1),
                Some((_, ae, _, be)) => (i - 1, ae, j - 1, be),
            });
            // At the start of either string the walk ends: close it now.
            close = i == 1 || j == 1;
            i -= 1;
            j -= 1;
        } else {
            if table[(i - 1) * w + j] > table[i * w + j - 1] {
                i -= 1;
            } else {
                j -= 1;
            }
            close = open.is_some();
        }
        if !close {
            continue;
        }
        if let Some((as_, ae, bs, be)) = open.take() {
            let match_len = (ae - as_ + 1) as u64;
            if args.idx && (args.min_match_len == 0 || match_len >= args.min_match_len) {
                out.array(2 + usize::from(args.with_match_len));
                out.array(2);
                out.int(as_ as i64);
                out.int(ae as i64);
                out.array(2);
                out.int(bs as i64);
                out.int(be as i64);
                if args.with_match_len {
                    out.int(match_len as i64);
                }
                ranges += 1;
            }
        }
    }
    if args.idx {
        out.bulk(b"len");
        out.int(total as i64);
        out.insert_array_len(mark, ranges);
    } else {
        out.bulk(&result);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::testkit::Kit;

    #[test]
    fn lcs_string_len_and_ranges() {
        let mut k = Kit::new();
        k.run(&["MSET", "key1", "ohmytext", "key2", "mynewtext"]);
        assert_eq!(k.run(&["LCS", "key1", "key2"]), "$6\r\nmytext\r\n");
        assert_eq!(k.run(&["LCS", "key1", "key2", "LEN"]), ":6\r\n");
        assert_eq!(
            k.run(&["LCS", "key1", "key2", "IDX", "MINMATCHLEN", "4", "WITHMATCHLEN"]),
            "*4\r\n$7\r\nmatches\r\n*1\r\n*3\r\n*2\r\n:4\r\n:7\r\n*2\r\n:5\r\n:8\r\n:4\r\n$3\r\nlen\r\n:6\r\n"
        );
        assert_eq!(k.run(&["LCS", "key1", "nokey"]), "$0\r\n\r\n");
        assert_eq!(
            k.run(&["LCS", "key1", "key2", "LEN", "IDX"]),
            "-ERR If you want both the length and indexes, please just use IDX.\r\n"
        );
        assert!(k.propagated().len() == 1);
    }
}
