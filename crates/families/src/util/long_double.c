/*
 * Arithmetic on the C `long double` type, for the commands whose results
 * Redis 7.0 computes and prints in that type (INCRBYFLOAT, HINCRBYFLOAT).
 *
 * Why C: on x86-64 `long double` is the 80-bit x87 extended format (64-bit
 * mantissa), elsewhere often IEEE quad. Rust has no such type, and an f64
 * gives different text for ordinary inputs (10.5 + 0.1 prints "10.6" here
 * but "10.59999999999999964" through f64 with the same "%.17Lf" rule).
 * Replies and the propagated `SET` must be byte-identical to Redis, so the
 * parse (strtold), the addition and the formatting (snprintf "%.17Lf") all
 * go through the platform's C library, exactly as the server we mimic does.
 *
 * Values cross the FFI boundary as an opaque 16-byte, 16-aligned buffer.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(sizeof(long double) <= 16, "long double must fit 16 bytes");

/* Longest textual long double accepted, as Redis's MAX_LONG_DOUBLE_CHARS;
 * also the size of the formatting buffer. */
#define RD_LD_MAX_CHARS (5 * 1024)

/* Parses `len` bytes. Rules of Redis's string2ld: no leading space, the
 * whole text consumed, no overflow to +/-inf or underflow
 * to zero, no NaN. Returns 1 on success. */
int redoubt_ld_parse(const char *s, size_t len, long double *out) {
    char buf[RD_LD_MAX_CHARS];
    char *end;
    long double v;

    if (len == 0 || len >= sizeof(buf)) return 0;
    memcpy(buf, s, len);
    buf[len] = '\0';
    errno = 0;
    v = strtold(buf, &end);
    /* All of the input must be consumed: an embedded NUL stops strtold
     * early, and that is not a number either. */
    if (isspace((unsigned char)buf[0]) || *end != '\0' || (size_t)(end - buf) != len)
        return 0;
    if (errno == ERANGE &&
        (v == HUGE_VALL || v == -HUGE_VALL || fpclassify(v) == FP_ZERO))
        return 0;
    if (isnan(v)) return 0;
    *out = v;
    return 1;
}

void redoubt_ld_from_i64(long long n, long double *out) { *out = (long double)n; }

/* out = a + b; returns 0 when the result is NaN or infinite. */
int redoubt_ld_add(const long double *a, const long double *b, long double *out) {
    long double r = *a + *b;
    if (isnan(r) || isinf(r)) return 0;
    *out = r;
    return 1;
}

/* Formats in Redis's "human friendly" form: "%.17Lf", trailing zeros of the
 * fraction and a bare '.' removed, "-0" printed as "0". Returns the length
 * written (no NUL counted) or 0 when `cap` is too small. */
size_t redoubt_ld_format_human(const long double *v, char *buf, size_t cap) {
    int n;
    size_t l;

    if (isinf(*v)) {
        const char *t = *v > 0 ? "inf" : "-inf";
        l = strlen(t);
        if (l + 1 > cap) return 0;
        memcpy(buf, t, l + 1);
        return l;
    }
    n = snprintf(buf, cap, "%.17Lf", *v);
    if (n < 0 || (size_t)n + 1 > cap) return 0;
    l = (size_t)n;
    if (memchr(buf, '.', l) != NULL) {
        while (l > 0 && buf[l - 1] == '0') l--;
        if (l > 0 && buf[l - 1] == '.') l--;
    }
    if (l == 2 && buf[0] == '-' && buf[1] == '0') {
        buf[0] = '0';
        l = 1;
    }
    return l;
}
