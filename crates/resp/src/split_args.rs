//! Splitting of a text line into arguments with Redis's quoting rules
//! (`sdssplitargs`): used by inline commands and by redis.conf lines.
//!
//! - arguments are separated by spaces, tabs, `\r`, `\n`, NUL and vertical
//!   tab/form feed;
//! - `"..."` accepts the escapes `\n \r \t \b \a \\ \"` and `\xHH`;
//! - `'...'` accepts only `\'`;
//! - a closing quote must be followed by a space or the end of the line,
//!   otherwise the line is rejected (unbalanced quotes).

/// Error for a line with unbalanced quotes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unbalanced;

fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\n' | b'\r' | b'\t' | 0x0b | 0x0c | 0)
}

fn hex_val(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

/// Splits `line`, appending unescaped argument bytes to `out` and one
/// `(start, end)` range per argument (into `out`) to `ranges`.
pub fn split_args(
    line: &[u8],
    out: &mut Vec<u8>,
    ranges: &mut Vec<(usize, usize)>,
) -> Result<(), Unbalanced> {
    let mut i = 0;
    let n = line.len();
    loop {
        while i < n && is_space(line[i]) {
            i += 1;
        }
        if i >= n {
            return Ok(());
        }
        let start = out.len();
        let mut in_dq = false;
        let mut in_sq = false;
        loop {
            if in_dq {
                if i >= n {
                    return Err(Unbalanced);
                }
                let c = line[i];
                if c == b'\\'
                    && i + 3 < n
                    && line[i + 1] == b'x'
                    && hex_val(line[i + 2]).is_some()
                    && hex_val(line[i + 3]).is_some()
                {
                    let h = hex_val(line[i + 2]).unwrap_or(0);
                    let l = hex_val(line[i + 3]).unwrap_or(0);
                    out.push(h * 16 + l);
                    i += 3;
                } else if c == b'\\' && i + 1 < n {
                    i += 1;
                    out.push(match line[i] {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 0x08,
                        b'a' => 0x07,
                        other => other,
                    });
                } else if c == b'"' {
                    // The closing quote must be followed by a space or the end.
                    if i + 1 < n && !is_space(line[i + 1]) {
                        return Err(Unbalanced);
                    }
                    i += 1;
                    break;
                } else {
                    out.push(c);
                }
            } else if in_sq {
                if i >= n {
                    return Err(Unbalanced);
                }
                let c = line[i];
                if c == b'\\' && i + 1 < n && line[i + 1] == b'\'' {
                    i += 1;
                    out.push(b'\'');
                } else if c == b'\'' {
                    if i + 1 < n && !is_space(line[i + 1]) {
                        return Err(Unbalanced);
                    }
                    i += 1;
                    break;
                } else {
                    out.push(c);
                }
            } else {
                if i >= n {
                    break;
                }
                match line[i] {
                    b' ' | b'\n' | b'\r' | b'\t' | 0 => break,
                    b'"' => in_dq = true,
                    b'\'' => in_sq = true,
                    c => out.push(c),
                }
            }
            i += 1;
        }
        ranges.push((start, out.len()));
    }
}

/// Convenience for callers that want owned arguments (config files).
pub fn split_args_owned(line: &[u8]) -> Result<Vec<Vec<u8>>, Unbalanced> {
    let mut out = Vec::new();
    let mut ranges = Vec::new();
    split_args(line, &mut out, &mut ranges)?;
    Ok(ranges.iter().map(|&(s, e)| out[s..e].to_vec()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_like_sdssplitargs() {
        let v = split_args_owned(br#"a "b c" 'd\'e' "\x41\n" """#).unwrap_or_default();
        assert_eq!(
            v,
            vec![
                b"a".to_vec(),
                b"b c".to_vec(),
                b"d'e".to_vec(),
                b"A\n".to_vec(),
                b"".to_vec()
            ]
        );
        assert!(split_args_owned(br#""a"b"#).is_err());
        assert!(split_args_owned(br#"'a"#).is_err());
        assert_eq!(split_args_owned(b"   ").unwrap_or_default().len(), 0);
    }
}
