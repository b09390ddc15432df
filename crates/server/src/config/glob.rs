//! Glob-style matching as Redis's `stringmatchlen`: `*`, `?`, `[abc]`,
//! `[^a-z]` and `\` escapes, optionally case-insensitive. `CONFIG GET`
//! matches parameter names with it (case-insensitively).

/// Whether `s` matches `pattern`.
pub fn matches(pattern: &[u8], s: &[u8], nocase: bool) -> bool {
    let eq = |a: u8, b: u8| {
        if nocase {
            a.eq_ignore_ascii_case(&b)
        } else {
            a == b
        }
    };
    let (mut p, mut i) = (0, 0);
    // Backtracking point for the last `*`: (pattern index after it, string
    // index it currently covers up to).
    let mut star: Option<(usize, usize)> = None;
    loop {
        if p < pattern.len() {
            let here = i < s.len();
            // How far the pattern advances when byte `s[i]` matches.
            let step = match pattern[p] {
                b'*' => {
                    star = Some((p + 1, i));
                    p += 1;
                    continue;
                }
                b'?' => here.then_some(1),
                b'[' if here => match class(pattern, p, s[i], nocase) {
                    Some((true, next)) => Some(next - p),
                    _ => None,
                },
                b'[' => None,
                b'\\' if p + 1 < pattern.len() => (here && eq(pattern[p + 1], s[i])).then_some(2),
                c => (here && eq(c, s[i])).then_some(1),
            };
            if let Some(n) = step {
                p += n;
                i += 1;
                continue;
            }
        } else if i == s.len() {
            return true;
        }
        // Mismatch: let the last `*` swallow one more byte.
        match star {
            Some((sp, si)) if si < s.len() => {
                star = Some((sp, si + 1));
                p = sp;
                i = si + 1;
            }
            _ => return false,
        }
    }
}

/// Matches one `[...]` class starting at `pattern[p] == '['`; returns
/// whether `c` is in it and the pattern index after it.
fn class(pattern: &[u8], p: usize, c: u8, nocase: bool) -> Option<(bool, usize)> {
    let fold = |x: u8| if nocase { x.to_ascii_lowercase() } else { x };
    let c = fold(c);
    let mut j = p + 1;
    let negate = pattern.get(j) == Some(&b'^');
    if negate {
        j += 1;
    }
    let mut hit = false;
    loop {
        let &ch = pattern.get(j)?;
        if ch == b']' {
            break;
        }
        if ch == b'\\' && j + 1 < pattern.len() {
            hit |= fold(pattern[j + 1]) == c;
            j += 2;
        } else if pattern.get(j + 1) == Some(&b'-') && j + 2 < pattern.len() {
            let (mut lo, mut hi) = (fold(ch), fold(pattern[j + 2]));
            if lo > hi {
                std::mem::swap(&mut lo, &mut hi);
            }
            hit |= (lo..=hi).contains(&c);
            j += 3;
        } else {
            hit |= fold(ch) == c;
            j += 1;
        }
    }
    Some((hit != negate, j + 1))
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn globs() {
        assert!(matches(b"*", b"port", true));
        assert!(matches(b"p*t", b"port", true));
        assert!(matches(b"P*T", b"port", true));
        assert!(!matches(b"p*x", b"port", true));
        assert!(matches(b"?ort", b"port", true));
        assert!(matches(b"[pq]ort", b"port", true));
        assert!(matches(b"[^q]ort", b"port", true));
        assert!(matches(b"[a-z]ort", b"port", true));
        assert!(!matches(b"[^p]ort", b"port", true));
        assert!(matches(b"*max*", b"maxmemory", true));
        assert!(matches(b"\\*", b"*", true));
        assert!(!matches(b"", b"a", true));
        assert!(matches(b"a*b*c", b"aXbYbZc", false));
    }
}
