//! Conversion between replies and Lua values, by Redis 7.0's rules.
//!
//! RESP to Lua (what `redis.call` returns): integers become numbers, bulk
//! strings strings, arrays tables; a null bulk or null array is `false`;
//! a status is `{ok=...}` and an error `{err=...}`. Under RESP3
//! (`redis.setresp(3)`) maps become `{map={...}}`, sets `{set={k=true}}`,
//! doubles `{double=n}`, big numbers `{big_number="..."}`, verbatim strings
//! `{verbatim_string={string=..., format=...}}`, null `nil` and booleans
//! booleans; attributes are skipped.
//!
//! Lua to RESP (what the script returns): strings are bulk strings,
//! numbers integers (truncated), tables arrays up to their first nil, or
//! one of the single-field forms above; `true` is `:1` and `false` a null
//! under RESP2 (booleans under RESP3); anything else is a null.

use mlua::{Lua, Table, Value};
use resp::Reply;

/// How deep a returned table may nest before the reply is cut with
/// `-ERR reached lua stack limit`, as Redis's check of the Lua C stack
/// (8000 slots, one per level) cuts it.
const MAX_DEPTH: usize = 7990;

/// Formats `n` as C's `%.17g` (how Redis turns a Lua number into a
/// command argument, and doubles into replies).
pub fn fmt_g17(n: f64, out: &mut Vec<u8>) {
    if n.is_nan() {
        out.extend_from_slice(if n.is_sign_negative() {
            b"-nan"
        } else {
            b"nan"
        });
        return;
    }
    if n.is_infinite() {
        out.extend_from_slice(if n < 0.0 { b"-inf" } else { b"inf" });
        return;
    }
    // Integral values below 2^53 print the same as integers.
    if n == n.trunc() && n.abs() < 1e15 {
        let mut b = itoa::Buffer::new();
        out.extend_from_slice(b.format(n as i64).as_bytes());
        return;
    }
    let mut buf = [0u8; 64];
    // SAFETY: snprintf writes at most buf.len() bytes, NUL included.
    let len = unsafe {
        libc::snprintf(
            buf.as_mut_ptr() as *mut libc::c_char,
            buf.len(),
            c"%.17g".as_ptr(),
            n,
        )
    };
    let len = (len.max(0) as usize).min(buf.len() - 1);
    out.extend_from_slice(&buf[..len]);
}

/// The error table Redis builds from an error text (`luaPushErrorBuff`):
/// `-CODE msg` keeps its code, a text without `-` gets `ERR`; trailing
/// CR/LF are trimmed.
pub fn error_text(text: &[u8]) -> Vec<u8> {
    let (code, msg): (&[u8], &[u8]) = match text.strip_prefix(b"-") {
        Some(rest) => match rest.iter().position(|&b| b == b' ') {
            Some(sp) => (&rest[..sp], &rest[sp + 1..]),
            None => (b"ERR", rest),
        },
        None => (b"ERR", text),
    };
    let is_trim = |b: &u8| *b == b'\r' || *b == b'\n';
    let start = msg.iter().position(|b| !is_trim(b)).unwrap_or(msg.len());
    let end = msg
        .iter()
        .rposition(|b| !is_trim(b))
        .map_or(start, |e| e + 1);
    let mut out = Vec::with_capacity(code.len() + 1 + end - start);
    out.extend_from_slice(code);
    out.push(b' ');
    out.extend_from_slice(&msg[start..end]);
    out
}

/// `{err=<text>}`, optionally marked as already counted in the error
/// statistics (errors of commands the script ran).
pub fn error_table(lua: &Lua, text: &[u8], counted: bool) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.raw_set("err", lua.create_string(error_text(text))?)?;
    if counted {
        t.raw_set("ignore_error_stats_update", true)?;
    }
    Ok(t)
}

/// Parses one reply from `buf` into a Lua value. Returns the value, whether
/// it was an error reply, and the bytes consumed.
pub fn reply_to_lua(lua: &Lua, buf: &[u8]) -> mlua::Result<(Value, bool)> {
    let mut p = Parser { buf, pos: 0 };
    let is_err = buf.first() == Some(&b'-');
    let v = p.value(lua, true)?;
    Ok((v, is_err))
}

struct Parser<'a> {
    buf: &'a [u8],
    pos: usize,
}

fn malformed() -> mlua::Error {
    mlua::Error::runtime("malformed reply")
}

impl<'a> Parser<'a> {
    fn line(&mut self) -> mlua::Result<&'a [u8]> {
        let rest = &self.buf[self.pos.min(self.buf.len())..];
        let end = rest
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or_else(malformed)?;
        self.pos += end + 2;
        Ok(&rest[..end])
    }

    fn int(&mut self) -> mlua::Result<i64> {
        let l = self.line()?;
        resp::parse_i64(l).ok_or_else(malformed)
    }

    fn bulk(&mut self, len: i64) -> mlua::Result<&'a [u8]> {
        let len = usize::try_from(len).map_err(|_| malformed())?;
        let end = self.pos + len;
        let s = self.buf.get(self.pos..end).ok_or_else(malformed)?;
        self.pos = end + 2;
        Ok(s)
    }

    /// One value; `keep` is false for values that are skipped
    /// (attributes), which are parsed and dropped.
    fn value(&mut self, lua: &Lua, keep: bool) -> mlua::Result<Value> {
        let Some(&tag) = self.buf.get(self.pos) else {
            return Err(malformed());
        };
        self.pos += 1;
        Ok(match tag {
            b'+' => {
                let s = self.line()?;
                let t = lua.create_table()?;
                t.raw_set("ok", lua.create_string(s)?)?;
                Value::Table(t)
            }
            b'-' => {
                let s = self.line()?;
                let mut text = Vec::with_capacity(s.len() + 1);
                text.push(b'-');
                text.extend_from_slice(s);
                Value::Table(error_table(lua, &text, true)?)
            }
            b':' => Value::Number(self.int()? as f64),
            b'$' => {
                let n = self.int()?;
                if n < 0 {
                    Value::Boolean(false)
                } else {
                    Value::String(lua.create_string(self.bulk(n)?)?)
                }
            }
            b'*' | b'>' => {
                let n = self.int()?;
                if n < 0 {
                    return Ok(Value::Boolean(false));
                }
                let t = lua.create_table_with_capacity(n.min(1024) as usize, 0)?;
                for i in 0..n {
                    let v = self.value(lua, keep)?;
                    t.raw_set(i + 1, v)?;
                }
                Value::Table(t)
            }
            b'%' => {
                let n = self.int()?;
                let inner = lua.create_table()?;
                for _ in 0..n {
                    let k = self.value(lua, keep)?;
                    let v = self.value(lua, keep)?;
                    inner.raw_set(k, v)?;
                }
                let t = lua.create_table()?;
                t.raw_set("map", inner)?;
                Value::Table(t)
            }
            b'~' => {
                let n = self.int()?;
                let inner = lua.create_table()?;
                for _ in 0..n {
                    let k = self.value(lua, keep)?;
                    inner.raw_set(k, true)?;
                }
                let t = lua.create_table()?;
                t.raw_set("set", inner)?;
                Value::Table(t)
            }
            b'_' => {
                self.line()?;
                Value::Nil
            }
            b'#' => Value::Boolean(self.line()? == b"t"),
            b',' => {
                let l = self.line()?;
                let d = std::str::from_utf8(l)
                    .ok()
                    .and_then(|s| s.parse::<f64>().ok())
                    .ok_or_else(malformed)?;
                let t = lua.create_table()?;
                t.raw_set("double", d)?;
                Value::Table(t)
            }
            b'(' => {
                let l = self.line()?;
                let t = lua.create_table()?;
                t.raw_set("big_number", lua.create_string(l)?)?;
                Value::Table(t)
            }
            b'=' => {
                let n = self.int()?;
                let s = self.bulk(n)?;
                let (format, text) = if s.len() >= 4 {
                    (&s[..3], &s[4..])
                } else {
                    (&b"txt"[..], s)
                };
                let inner = lua.create_table()?;
                inner.raw_set("string", lua.create_string(text)?)?;
                inner.raw_set("format", lua.create_string(format)?)?;
                let t = lua.create_table()?;
                t.raw_set("verbatim_string", inner)?;
                Value::Table(t)
            }
            b'|' => {
                let n = self.int()?;
                for _ in 0..2 * n {
                    self.value(lua, false)?;
                }
                return self.value(lua, keep);
            }
            _ => return Err(malformed()),
        })
    }
}

/// Truncates a Lua number to an integer reply as C's `(long long)` cast
/// does on x86-64: out of range and NaN become the minimum.
fn number_to_i64(n: f64) -> i64 {
    if n.is_nan() || n >= 9.223_372_036_854_775_807e18 || n < -9.223_372_036_854_775_808e18 {
        i64::MIN
    } else {
        n as i64
    }
}

/// Writes a script's return value as a reply to `out`. `script_resp3`
/// is the protocol the script chose with `redis.setresp`, which decides
/// how booleans are returned. Returns the error replies written (at any
/// depth) that the error statistics have not counted yet: those of
/// commands the script ran were counted when they failed.
pub fn lua_to_reply(out: &mut Reply, v: &Value, script_resp3: bool) -> Vec<String> {
    let mut uncounted = Vec::new();
    write_value(out, v, script_resp3, 0, &mut uncounted);
    uncounted
}

fn write_value(out: &mut Reply, v: &Value, resp3: bool, depth: usize, err: &mut Vec<String>) {
    if depth > MAX_DEPTH {
        out.error(crate::errors::LUA_STACK_LIMIT);
        err.push(crate::errors::LUA_STACK_LIMIT.to_string());
        return;
    }
    match v {
        Value::String(s) => out.bulk(&s.as_bytes()),
        Value::Boolean(b) => {
            if !resp3 {
                if *b {
                    out.int(1);
                } else {
                    out.null();
                }
            } else {
                out.boolean(*b);
            }
        }
        Value::Integer(i) => out.int(*i),
        Value::Number(n) => out.int(number_to_i64(*n)),
        Value::Table(t) => write_table(out, t, resp3, depth, err),
        _ => out.null(),
    }
}

fn write_table(out: &mut Reply, t: &Table, resp3: bool, depth: usize, err: &mut Vec<String>) {
    if let Ok(Value::String(e)) = t.raw_get::<Value>("err") {
        let counted = matches!(
            t.raw_get::<Value>("ignore_error_stats_update"),
            Ok(Value::Boolean(true))
        );
        out.buf.push(b'-');
        let start = out.buf.len();
        out.buf.extend_from_slice(&e.as_bytes());
        for b in &mut out.buf[start..] {
            if *b == b'\r' || *b == b'\n' {
                *b = b' ';
            }
        }
        out.buf.extend_from_slice(b"\r\n");
        if !counted {
            err.push(String::from_utf8_lossy(&e.as_bytes()).into_owned());
        }
        return;
    }
    if let Ok(Value::String(s)) = t.raw_get::<Value>("ok") {
        out.buf.push(b'+');
        let start = out.buf.len();
        out.buf.extend_from_slice(&s.as_bytes());
        for b in &mut out.buf[start..] {
            if *b == b'\r' || *b == b'\n' {
                *b = b' ';
            }
        }
        out.buf.extend_from_slice(b"\r\n");
        return;
    }
    if let Ok(d) = t.raw_get::<Value>("double") {
        if let Some(n) = match d {
            Value::Number(n) => Some(n),
            Value::Integer(i) => Some(i as f64),
            _ => None,
        } {
            let mut s = Vec::new();
            fmt_g17(n, &mut s);
            out.double_str(&s);
            return;
        }
    }
    if let Ok(Value::String(s)) = t.raw_get::<Value>("big_number") {
        let mut b = s.as_bytes().to_vec();
        for c in &mut b {
            if *c == b'\r' || *c == b'\n' {
                *c = b' ';
            }
        }
        if out.resp3 {
            out.buf.push(b'(');
            out.buf.extend_from_slice(&b);
            out.buf.extend_from_slice(b"\r\n");
        } else {
            out.bulk(&b);
        }
        return;
    }
    if let Ok(Value::Table(vt)) = t.raw_get::<Value>("verbatim_string") {
        if let (Ok(Value::String(f)), Ok(Value::String(s))) =
            (vt.raw_get::<Value>("format"), vt.raw_get::<Value>("string"))
        {
            let (f, s) = (f.as_bytes(), s.as_bytes());
            if out.resp3 {
                out.buf.push(b'=');
                let mut n = itoa::Buffer::new();
                out.buf.extend_from_slice(n.format(s.len() + 4).as_bytes());
                out.buf.extend_from_slice(b"\r\n");
                let mut fmt = [b' '; 3];
                for (d, c) in fmt.iter_mut().zip(f.iter()) {
                    *d = *c;
                }
                out.buf.extend_from_slice(&fmt);
                out.buf.push(b':');
                out.buf.extend_from_slice(&s);
                out.buf.extend_from_slice(b"\r\n");
            } else {
                out.bulk(&s);
            }
            return;
        }
    }
    if let Ok(Value::Table(m)) = t.raw_get::<Value>("map") {
        let mark = out.mark();
        let mut n = 0;
        for (k, v) in m.pairs::<Value, Value>().flatten() {
            write_value(out, &k, resp3, depth + 1, err);
            write_value(out, &v, resp3, depth + 1, err);
            n += 1;
        }
        out.insert_map_len(mark, n);
        return;
    }
    if let Ok(Value::Table(s)) = t.raw_get::<Value>("set") {
        let mark = out.mark();
        let mut n = 0;
        for (k, _) in s.pairs::<Value, Value>().flatten() {
            write_value(out, &k, resp3, depth + 1, err);
            n += 1;
        }
        out.insert_set_len(mark, n);
        return;
    }
    let mark = out.mark();
    let mut n = 0;
    loop {
        let v: Value = t.raw_get(n + 1).unwrap_or(Value::Nil);
        if v.is_nil() {
            break;
        }
        write_value(out, &v, resp3, depth + 1, err);
        n += 1;
    }
    out.insert_array_len(mark, n as usize);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_format_as_c_does() {
        let f = |n: f64| {
            let mut v = Vec::new();
            fmt_g17(n, &mut v);
            String::from_utf8(v).unwrap()
        };
        assert_eq!(f(1.0), "1");
        assert_eq!(f(-3.0), "-3");
        assert_eq!(f(0.1), "0.10000000000000001");
        assert_eq!(f(1e17), "1e+17");
        assert_eq!(f(1.5), "1.5");
        assert_eq!(f(f64::INFINITY), "inf");
    }

    #[test]
    fn error_texts_keep_or_add_their_code() {
        assert_eq!(error_text(b"-WRONGTYPE bad\r\n"), b"WRONGTYPE bad");
        assert_eq!(error_text(b"My Error"), b"ERR My Error");
        assert_eq!(error_text(b"-"), b"ERR ");
        assert_eq!(error_text(b"-FOO"), b"ERR FOO");
    }
}
