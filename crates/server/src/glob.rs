//! Glob-style pattern matching with Redis's rules (`stringmatchlen`):
//! `*`, `?`, `[...]` classes with ranges and `^` negation, `\\` escapes.
//! Used wherever Redis takes a pattern (COMMAND LIST, KEYS, SCAN MATCH,
//! CONFIG GET, PSUBSCRIBE).

/// Glob matching as Redis's `stringmatchlen` (`*`, `?`, `[...]`, `\`),
/// optionally case-insensitive.
pub fn glob_match(pat: &[u8], s: &[u8], nocase: bool) -> bool {
    let eq = |a: u8, b: u8| {
        if nocase {
            a.eq_ignore_ascii_case(&b)
        } else {
            a == b
        }
    };
    let (mut p, mut i) = (0, 0);
    let (mut star_p, mut star_i) = (None, 0);
    while i < s.len() {
        if p < pat.len() {
            match pat[p] {
                b'*' => {
                    star_p = Some(p);
                    star_i = i;
                    p += 1;
                    continue;
                }
                b'?' => {
                    p += 1;
                    i += 1;
                    continue;
                }
                b'[' => {
                    if let Some((matched, next)) = class_match(pat, p, s[i], nocase) {
                        if matched {
                            p = next;
                            i += 1;
                            continue;
                        }
                    }
                }
                b'\\' if p + 1 < pat.len() => {
                    if eq(pat[p + 1], s[i]) {
                        p += 2;
                        i += 1;
                        continue;
                    }
                }
                c => {
                    if eq(c, s[i]) {
                        p += 1;
                        i += 1;
                        continue;
                    }
                }
            }
        }
        match star_p {
            Some(sp) => {
                p = sp + 1;
                star_i += 1;
                i = star_i;
            }
            None => return false,
        }
    }
    pat[p..].iter().all(|&c| c == b'*')
}

/// Matches `c` against the class starting at `pat[p] == '['`; returns
/// whether it matched and the index after the class.
fn class_match(pat: &[u8], p: usize, c: u8, nocase: bool) -> Option<(bool, usize)> {
    let mut j = p + 1;
    let negate = pat.get(j) == Some(&b'^');
    if negate {
        j += 1;
    }
    let lc = |x: u8| if nocase { x.to_ascii_lowercase() } else { x };
    let mut matched = false;
    while j < pat.len() && pat[j] != b']' {
        if pat[j] == b'\\' && j + 1 < pat.len() {
            matched |= lc(pat[j + 1]) == lc(c);
            j += 2;
        } else if j + 2 < pat.len() && pat[j + 1] == b'-' && pat[j + 2] != b']' {
            let (mut a, mut b) = (lc(pat[j]), lc(pat[j + 2]));
            if a > b {
                std::mem::swap(&mut a, &mut b);
            }
            matched |= (a..=b).contains(&lc(c));
            j += 3;
        } else {
            matched |= lc(pat[j]) == lc(c);
            j += 1;
        }
    }
    if j >= pat.len() {
        return None;
    }
    Some((matched != negate, j + 1))
}

#[cfg(test)]
mod tests {
    use super::glob_match;

    #[test]
    fn globs() {
        assert!(glob_match(b"cl*", b"client|list", true));
        assert!(glob_match(b"h?llo", b"HELLO", true));
        assert!(glob_match(b"h[a-e]llo", b"hello", false));
        assert!(!glob_match(b"h[^e]llo", b"hello", false));
        assert!(glob_match(b"a\\*b", b"a*b", false));
        assert!(!glob_match(b"a*c", b"abd", false));
    }
}
