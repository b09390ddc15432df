//! Glob-style matching with Redis's semantics, for `KEYS`, `SCAN MATCH`
//! (and later `PSUBSCRIBE`, `CONFIG GET`, ACL key patterns).
//!
//! The syntax: `*` any run of bytes, `?` any one byte, `[...]` one byte of a
//! set (`^` first negates, `a-z` ranges in either order, `\x` a literal x),
//! `\x` outside a set a literal x. Redis's quirks are kept on purpose,
//! because clients observe them:
//! - an unterminated set (`[abc`) behaves as if closed at the end;
//! - `[]` matches nothing and `[^]` any byte;
//! - a range is recognised whenever a `-` follows a byte with at least one
//!   more byte after it, even if that byte is the closing `]` (`[a-]` is the
//!   range `]`..`a`, then the set is closed by the end of the pattern);
//! - range bounds compare as C `char`, which is signed on the platforms
//!   Redis ships for, so bytes >= 0x80 sort below ASCII;
//! - a trailing lone `\` matches a literal backslash;
//! - patterns nesting more than 1000 `*` are refused (no match), Redis's
//!   guard against patterns built to exhaust the stack.

/// Deepest `*` recursion allowed before a pattern is considered abusive.
const MAX_NESTING: usize = 1000;

/// Whether `string` matches the glob `pattern`.
pub fn matches(pattern: &[u8], string: &[u8], nocase: bool) -> bool {
    let mut skip_longer = false;
    match_impl(pattern, string, nocase, &mut skip_longer, 0)
}

fn fold(c: u8, nocase: bool) -> u8 {
    if nocase {
        c.to_ascii_lowercase()
    } else {
        c
    }
}

/// One step of the match. `skip_longer` is set when the rest of the pattern
/// after a `*` matched nowhere in the remaining string: then an earlier `*`
/// swallowing more bytes cannot help either, which keeps patterns like
/// `a*a*a*...b` linear instead of exponential.
fn match_impl(pat: &[u8], s: &[u8], nocase: bool, skip_longer: &mut bool, nesting: usize) -> bool {
    if nesting > MAX_NESTING {
        return false;
    }
    let (mut p, mut i) = (0usize, 0usize);
    while p < pat.len() && i < s.len() {
        match pat[p] {
            b'*' => {
                while p + 1 < pat.len() && pat[p + 1] == b'*' {
                    p += 1;
                }
                if p + 1 == pat.len() {
                    return true;
                }
                while i < s.len() {
                    if match_impl(&pat[p + 1..], &s[i..], nocase, skip_longer, nesting + 1) {
                        return true;
                    }
                    if *skip_longer {
                        return false;
                    }
                    i += 1;
                }
                *skip_longer = true;
                return false;
            }
            b'?' => i += 1,
            b'[' => {
                p += 1;
                let negate = p < pat.len() && pat[p] == b'^';
                if negate {
                    p += 1;
                }
                let c = fold(s[i], nocase);
                let mut hit = false;
                loop {
                    if p >= pat.len() {
                        // Unterminated set: step back so the advance after
                        // the set lands exactly on the end.
                        p -= 1;
                        break;
                    }
                    if pat[p] == b'\\' && pat.len() - p >= 2 {
                        p += 1;
                        if fold(pat[p], nocase) == c {
                            hit = true;
                        }
                    } else if pat[p] == b']' {
                        break;
                    } else if pat.len() - p >= 3 && pat[p + 1] == b'-' {
                        let (mut lo, mut hi) = (pat[p] as i8, pat[p + 2] as i8);
                        if lo > hi {
                            std::mem::swap(&mut lo, &mut hi);
                        }
                        let (lo, hi, ch) = (
                            fold(lo as u8, nocase) as i8,
                            fold(hi as u8, nocase) as i8,
                            c as i8,
                        );
                        if ch >= lo && ch <= hi {
                            hit = true;
                        }
                        p += 2;
                    } else if fold(pat[p], nocase) == c {
                        hit = true;
                    }
                    p += 1;
                }
                if hit == negate {
                    return false;
                }
                i += 1;
            }
            b'\\' if pat.len() - p >= 2 => {
                p += 1;
                if fold(pat[p], nocase) != fold(s[i], nocase) {
                    return false;
                }
                i += 1;
            }
            c => {
                if fold(c, nocase) != fold(s[i], nocase) {
                    return false;
                }
                i += 1;
            }
        }
        p += 1;
    }
    // The string is consumed: only trailing stars may remain.
    if i == s.len() {
        while p < pat.len() && pat[p] == b'*' {
            p += 1;
        }
    }
    p >= pat.len() && i == s.len()
}

#[cfg(test)]
mod tests {
    use super::matches;

    fn m(p: &str, s: &str) -> bool {
        matches(p.as_bytes(), s.as_bytes(), false)
    }

    #[test]
    fn stars_and_question_marks() {
        assert!(m("*", ""));
        assert!(m("*", "anything"));
        assert!(m("h?llo", "hello"));
        assert!(!m("h?llo", "hllo"));
        assert!(m("h*llo", "hllo"));
        assert!(m("h*llo", "heeeello"));
        assert!(m("a**b", "axxb"));
        assert!(m("*a*", "bab"));
        assert!(!m("*a*", "bbb"));
        assert!(m("a*", "a"));
        assert!(!m("a?", "a"));
        assert!(m("", ""));
        assert!(!m("", "a"));
        assert!(!m("abc", "ab"));
        assert!(m("ab**", "ab"));
    }

    #[test]
    fn sets_ranges_and_negation() {
        assert!(m("h[ae]llo", "hello"));
        assert!(!m("h[ae]llo", "hillo"));
        assert!(m("h[^e]llo", "hallo"));
        assert!(!m("h[^e]llo", "hello"));
        assert!(m("h[a-b]llo", "hbllo"));
        assert!(m("h[b-a]llo", "hbllo"));
        assert!(!m("h[a-b]llo", "hcllo"));
        assert!(m("[^a-c]*", "-"));
        assert!(!m("[^a-c]*", "b"));
    }

    #[test]
    fn redis_quirks_observed_on_7_0() {
        // Checked against redis-server 7.0.15 with KEYS.
        assert!(!m("[]", "]"));
        assert!(m("[^]", "-"));
        assert!(!m("[a-]", "-"));
        assert!(!m("[a-]", "b"));
        assert!(m("[a-", "-"));
        assert!(m("[a-", "a"));
        assert!(!m("[", "b"));
        assert!(m("[\\", "\\"));
        assert!(m("\\", "\\"));
        assert!(m("a\\]", "a]"));
        assert!(m("[\\]]*", "]x"));
        assert!(!m("a[]]", "a]"));
        assert!(m("*]", "a]"));
        assert!(m("[abc", "c"));
    }

    #[test]
    fn escapes_are_literal() {
        assert!(m("\\*", "*"));
        assert!(!m("\\*", "a"));
        assert!(m("\\?x", "?x"));
        assert!(m("[\\-]", "-"));
        assert!(m("a\\[b", "a[b"));
    }

    #[test]
    fn nocase() {
        assert!(matches(b"HeLLo", b"hello", true));
        assert!(matches(b"[A-C]x", b"bX", true));
        assert!(!matches(b"HeLLo", b"hello", false));
    }

    #[test]
    fn high_bytes_compare_signed_like_c_char() {
        // 0xff is -1 as a signed char, so it lies in the range \x80..a.
        assert!(matches(b"[\x80-a]", b"\xff", false));
        assert!(matches(b"[\x80-a]", b"0", false));
        assert!(!matches(b"[\x80-a]", b"b", false));
    }

    #[test]
    fn star_nesting_limit_matches_redis() {
        // 1001 `a*` pairs still match, 1002 do not (checked on 7.0.15).
        for (n, want) in [(1001, true), (1002, false)] {
            let key = "a".repeat(n);
            let pat = "a*".repeat(n);
            assert_eq!(m(&pat, &key), want, "n={n}");
        }
    }

    #[test]
    fn pathological_pattern_is_fast() {
        let pat = "a*".repeat(30) + "b";
        let key = "a".repeat(5000);
        assert!(!m(&pat, &key));
    }
}
