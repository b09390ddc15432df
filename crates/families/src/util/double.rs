//! Doubles as Redis 7.0 reads and prints them: parsing is C's `strtod`
//! (so `inf`, `1e5`, hex floats and leading blanks in ranges behave the
//! same) and printing is `%.17g`, which is what 7.0's `addReplyDouble`
//! sends (7.2 moved to shortest round-trip; 7.0 prints `0.1` as
//! `0.10000000000000001`).

/// Runs `strtod` over `s`; returns the value and whether the parse stopped
/// at a NUL byte (the terminator, or an embedded NUL: Redis checks
/// `*eptr == '\0'`, so `"1\0x"` reads as 1 there too), and whether it
/// overflowed or underflowed (`ERANGE`).
fn strtod(s: &[u8]) -> (f64, bool, bool) {
    let mut buf = Vec::with_capacity(s.len() + 1);
    buf.extend_from_slice(s);
    buf.push(0);
    let mut end: *mut libc::c_char = std::ptr::null_mut();
    // SAFETY: `buf` is NUL-terminated and outlives the call; `end` is
    // written by strtod to point inside `buf`.
    let (v, erange, at_nul) = unsafe {
        *libc::__errno_location() = 0;
        let v = libc::strtod(buf.as_ptr().cast(), &mut end);
        let erange = *libc::__errno_location() == libc::ERANGE;
        (v, erange, !end.is_null() && *end == 0)
    };
    (v, at_nul, erange)
}

/// Redis's `getDoubleFromObject`: the whole string must be a number, no
/// leading blank, no overflow, not NaN.
pub fn parse(s: &[u8]) -> Option<f64> {
    if s.is_empty() || s[0].is_ascii_whitespace() || s[0] == 0x0b {
        return None;
    }
    let (v, at_nul, erange) = strtod(s);
    if !at_nul || (erange && (v.is_infinite() || v == 0.0)) || v.is_nan() {
        return None;
    }
    Some(v)
}

/// The number part of a score range item (`zslParseRange`): plain
/// `strtod`, so leading blanks and even the empty string (0) pass; only
/// trailing garbage and NaN are refused.
pub fn parse_range_item(s: &[u8]) -> Option<f64> {
    let (v, at_nul, _) = strtod(s);
    if !at_nul || v.is_nan() {
        return None;
    }
    Some(v)
}

/// SORT's reading of a weight: plain `strtod` (leading blanks and the
/// empty string, as 0, pass) refusing trailing garbage, NaN and any
/// `ERANGE`, underflow included.
pub fn parse_strtod_strict(s: &[u8]) -> Option<f64> {
    let (v, at_nul, erange) = strtod(s);
    if !at_nul || erange || v.is_nan() {
        return None;
    }
    Some(v)
}

/// Formats `d` as `%.17g` into `buf`; returns the written bytes.
pub fn fmt(d: f64, buf: &mut [u8; 32]) -> &[u8] {
    if d.is_infinite() {
        return if d > 0.0 { b"inf" } else { b"-inf" };
    }
    // SAFETY: the format takes exactly one double; snprintf writes at most
    // `buf.len()` bytes including the NUL.
    let n = unsafe { libc::snprintf(buf.as_mut_ptr().cast(), buf.len(), c"%.17g".as_ptr(), d) };
    let n = usize::try_from(n).unwrap_or(0).min(buf.len() - 1);
    &buf[..n]
}

/// Formats `d` with `%.*f` (GEODIST's four decimals).
pub fn fmt_fixed(d: f64, decimals: i32, buf: &mut [u8; 400]) -> &[u8] {
    // SAFETY: as in `fmt`.
    let n = unsafe {
        libc::snprintf(
            buf.as_mut_ptr().cast(),
            buf.len(),
            c"%.*f".as_ptr(),
            decimals as libc::c_int,
            d,
        )
    };
    let n = usize::try_from(n).unwrap_or(0).min(buf.len() - 1);
    &buf[..n]
}

/// Writes a score reply: RESP2 bulk string, RESP3 double.
pub fn reply(out: &mut resp::Reply, d: f64) {
    let mut b = [0u8; 32];
    out.double_str(fmt(d, &mut b));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prints_like_redis_7_0() {
        let mut b = [0u8; 32];
        for (d, s) in [
            (0.1, "0.10000000000000001"),
            (1e100, "1e+100"),
            (3.0, "3"),
            (f64::INFINITY, "inf"),
            (f64::NEG_INFINITY, "-inf"),
            (1.5e-7, "1.4999999999999999e-07"),
        ] {
            assert_eq!(fmt(d, &mut b), s.as_bytes());
        }
    }

    #[test]
    fn parses_like_strtod() {
        assert_eq!(parse(b"1.5"), Some(1.5));
        assert_eq!(parse(b"+inf"), Some(f64::INFINITY));
        assert_eq!(parse(b" 1"), None);
        assert_eq!(parse(b"1 "), None);
        assert_eq!(parse(b"nan"), None);
        assert_eq!(parse(b"1e999"), None);
        assert_eq!(parse_range_item(b" 2"), Some(2.0));
        assert_eq!(parse_range_item(b""), Some(0.0));
        assert_eq!(parse_range_item(b"x"), None);
    }
}
