//! The C `long double` type, for INCRBYFLOAT and HINCRBYFLOAT.
//!
//! Redis 7.0 parses, adds and prints these increments in `long double`
//! (80-bit extended precision on x86-64), and clients see the printed text.
//! Rust has no such type and f64 prints different digits, so the three
//! operations are done by a C shim (`long_double.c`, built by `build.rs`)
//! through the platform's own `strtold` and `snprintf`.

use std::os::raw::{c_char, c_int, c_longlong};

/// Longest accepted text and formatting buffer size (Redis's
/// `MAX_LONG_DOUBLE_CHARS`).
const MAX_CHARS: usize = 5 * 1024;

/// Storage for one C `long double`, opaque to Rust: 16 bytes, 16-aligned,
/// which holds the type on every platform we build for (the C side checks
/// the size at compile time).
#[repr(C, align(16))]
#[derive(Clone, Copy)]
pub struct LongDouble([u8; 16]);

extern "C" {
    fn redoubt_ld_parse(s: *const c_char, len: usize, out: *mut LongDouble) -> c_int;
    fn redoubt_ld_from_i64(n: c_longlong, out: *mut LongDouble);
    fn redoubt_ld_add(a: *const LongDouble, b: *const LongDouble, out: *mut LongDouble) -> c_int;
    fn redoubt_ld_format_human(v: *const LongDouble, buf: *mut c_char, cap: usize) -> usize;
}

impl LongDouble {
    const ZERO: LongDouble = LongDouble([0; 16]);

    /// Parses text with Redis's `string2ld` rules (no surrounding spaces,
    /// no NaN, no overflow to infinity); `None` is "not a valid float".
    pub fn parse(s: &[u8]) -> Option<LongDouble> {
        let mut out = LongDouble::ZERO;
        // SAFETY: `s` is valid for `len` bytes (the shim copies at most that
        // many and rejects longer input); `out` is a valid, aligned buffer
        // large enough for a long double.
        let ok = unsafe { redoubt_ld_parse(s.as_ptr().cast(), s.len(), &mut out) };
        (ok == 1).then_some(out)
    }

    pub fn from_i64(n: i64) -> LongDouble {
        let mut out = LongDouble::ZERO;
        // SAFETY: `out` is a valid, aligned long double buffer.
        unsafe { redoubt_ld_from_i64(n, &mut out) };
        out
    }

    /// `self + other`, or `None` when the sum is NaN or infinite.
    pub fn checked_add(&self, other: &LongDouble) -> Option<LongDouble> {
        let mut out = LongDouble::ZERO;
        // SAFETY: all three pointers refer to valid, aligned buffers that
        // were filled by the shim (or are the zero value).
        let ok = unsafe { redoubt_ld_add(self, other, &mut out) };
        (ok == 1).then_some(out)
    }

    /// The "human friendly" text Redis stores and replies with:
    /// `%.17Lf` with trailing zeros (and a bare point) removed.
    pub fn to_human(&self) -> Vec<u8> {
        let mut buf = vec![0u8; MAX_CHARS];
        // SAFETY: `buf` is writable for `MAX_CHARS` bytes and the shim
        // writes at most `cap` bytes including the terminating NUL.
        let n = unsafe { redoubt_ld_format_human(self, buf.as_mut_ptr().cast(), buf.len()) };
        buf.truncate(n);
        buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn add(a: &str, b: &str) -> Option<String> {
        let a = LongDouble::parse(a.as_bytes())?;
        let b = LongDouble::parse(b.as_bytes())?;
        Some(String::from_utf8_lossy(&a.checked_add(&b)?.to_human()).into_owned())
    }

    #[test]
    fn sums_print_as_redis_prints_them() {
        assert_eq!(add("10.5", "0.1").as_deref(), Some("10.6"));
        assert_eq!(add("3.0e3", "200").as_deref(), Some("3200"));
        assert_eq!(add("5.0e3", "-5000").as_deref(), Some("0"));
        assert_eq!(add("-0.0", "0").as_deref(), Some("0"));
        assert_eq!(add("0x10", "1").as_deref(), Some("17"));
        assert_eq!(add("1.1", "-2.2").as_deref(), Some("-1.1"));
    }

    #[test]
    fn rejects_what_redis_rejects() {
        for bad in [
            "", " 1", "1 ", "abc", "nan", "1e5000", "1e-5000", "1.5x", "1\u{0}2", "\u{0}",
        ] {
            assert!(LongDouble::parse(bad.as_bytes()).is_none(), "{bad}");
        }
        assert!(LongDouble::parse(b"inf").is_some());
        assert!(add("inf", "1").is_none());
        let big = LongDouble::parse(b"1e4932");
        assert!(big.is_some());
        assert_eq!(LongDouble::from_i64(-42).to_human(), b"-42");
    }
}
