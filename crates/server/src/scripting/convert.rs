//! Conversion between replies and Lua values, by Redis 7.0's rules, done
//! directly on the Lua stack as Redis does it (so its stack limits apply
//! the same way).
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

use super::lua::{self, ffi, State};
use resp::Reply;
use std::os::raw::c_int;

/// The RESP reply in `buf` could not be converted (malformed, or deeper
/// than the Lua stack allows).
#[derive(Debug)]
pub struct Unconvertible;

/// Pushes the reply at the start of `buf` as one Lua value (Redis's
/// `redisProtocolToLuaType`).
///
/// # Safety
/// `l` must be live; the caller restores the stack on error.
pub unsafe fn push_reply(l: State, buf: &[u8]) -> Result<(), Unconvertible> {
    let mut p = Parser { buf, pos: 0 };
    p.value(l, true)
}

struct Parser<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Parser<'a> {
    fn line(&mut self) -> Result<&'a [u8], Unconvertible> {
        let rest = self.buf.get(self.pos..).ok_or(Unconvertible)?;
        let end = memchr_crlf(rest).ok_or(Unconvertible)?;
        self.pos += end + 2;
        Ok(&rest[..end])
    }

    fn int(&mut self) -> Result<i64, Unconvertible> {
        let l = self.line()?;
        resp::parse_i64(l).ok_or(Unconvertible)
    }

    fn bulk(&mut self, len: i64) -> Result<&'a [u8], Unconvertible> {
        let len = usize::try_from(len).map_err(|_| Unconvertible)?;
        let end = self.pos + len;
        let s = self.buf.get(self.pos..end).ok_or(Unconvertible)?;
        self.pos = end + 2;
        Ok(s)
    }

    /// One value; with `keep` false (attributes) it is parsed and dropped.
    unsafe fn value(&mut self, l: State, keep: bool) -> Result<(), Unconvertible> {
        let Some(&tag) = self.buf.get(self.pos) else {
            return Err(Unconvertible);
        };
        self.pos += 1;
        // Room for what one value pushes before its elements (a table,
        // a key and a nested table).
        if keep && ffi::lua_checkstack(l, 5) == 0 {
            return Err(Unconvertible);
        }
        match tag {
            b'+' => {
                let s = self.line()?;
                if keep {
                    ffi::lua_createtable(l, 0, 1);
                    lua::push_bytes(l, s);
                    lua::raw_set_field(l, -2, c"ok");
                }
            }
            b'-' => {
                let s = self.line()?;
                if keep {
                    // `-` + the text, as Redis's luaPushErrorBuff gets it.
                    push_error_reply_table(l, s);
                    ffi::lua_pushboolean(l, 1);
                    lua::raw_set_field(l, -2, c"ignore_error_stats_update");
                }
            }
            b':' => {
                let n = self.int()?;
                if keep {
                    ffi::lua_pushnumber(l, n as f64);
                }
            }
            b'$' => {
                let n = self.int()?;
                if n < 0 {
                    if keep {
                        ffi::lua_pushboolean(l, 0);
                    }
                } else {
                    let s = self.bulk(n)?;
                    if keep {
                        lua::push_bytes(l, s);
                    }
                }
            }
            b'*' | b'>' => {
                let n = self.int()?;
                if n < 0 {
                    if keep {
                        ffi::lua_pushboolean(l, 0);
                    }
                    return Ok(());
                }
                if keep {
                    ffi::lua_createtable(l, n.min(1 << 16) as c_int, 0);
                }
                for i in 0..n {
                    self.value(l, keep)?;
                    if keep {
                        ffi::lua_rawseti_(l, -2, (i + 1) as c_int);
                    }
                }
            }
            b'%' => {
                let n = self.int()?;
                if keep {
                    ffi::lua_createtable(l, 0, 1);
                    ffi::lua_createtable(l, 0, n.clamp(0, 1 << 16) as c_int);
                }
                for _ in 0..n {
                    self.value(l, keep)?;
                    self.value(l, keep)?;
                    if keep {
                        set_pair(l);
                    }
                }
                if keep {
                    lua::raw_set_field(l, -2, c"map");
                }
            }
            b'~' => {
                let n = self.int()?;
                if keep {
                    ffi::lua_createtable(l, 0, 1);
                    ffi::lua_createtable(l, 0, n.clamp(0, 1 << 16) as c_int);
                }
                for _ in 0..n {
                    self.value(l, keep)?;
                    if keep {
                        ffi::lua_pushboolean(l, 1);
                        set_pair(l);
                    }
                }
                if keep {
                    lua::raw_set_field(l, -2, c"set");
                }
            }
            b'_' => {
                self.line()?;
                if keep {
                    ffi::lua_pushnil(l);
                }
            }
            b'#' => {
                let v = self.line()? == b"t";
                if keep {
                    ffi::lua_pushboolean(l, c_int::from(v));
                }
            }
            b',' => {
                let s = self.line()?;
                if keep {
                    let d = parse_double(s).ok_or(Unconvertible)?;
                    ffi::lua_createtable(l, 0, 1);
                    ffi::lua_pushnumber(l, d);
                    lua::raw_set_field(l, -2, c"double");
                }
            }
            b'(' => {
                let s = self.line()?;
                if keep {
                    ffi::lua_createtable(l, 0, 1);
                    lua::push_bytes(l, s);
                    lua::raw_set_field(l, -2, c"big_number");
                }
            }
            b'=' => {
                let n = self.int()?;
                let s = self.bulk(n)?;
                if keep {
                    let (format, text) = if s.len() >= 4 {
                        (&s[..3], &s[4..])
                    } else {
                        (&b"txt"[..], s)
                    };
                    ffi::lua_createtable(l, 0, 1);
                    ffi::lua_createtable(l, 0, 2);
                    lua::push_bytes(l, text);
                    lua::raw_set_field(l, -2, c"string");
                    lua::push_bytes(l, format);
                    lua::raw_set_field(l, -2, c"format");
                    lua::raw_set_field(l, -2, c"verbatim_string");
                }
            }
            b'|' => {
                let n = self.int()?;
                for _ in 0..2 * n {
                    self.value(l, false)?;
                }
                return self.value(l, keep);
            }
            _ => return Err(Unconvertible),
        }
        Ok(())
    }
}

/// `t[k] = v` for the table under the pair on top; a pair whose key Lua
/// cannot index by (nil, NaN) is dropped rather than raised.
unsafe fn set_pair(l: State) {
    let bad_key = match ffi::lua_type(l, -2) {
        ffi::LUA_TNIL => true,
        ffi::LUA_TNUMBER => ffi::lua_tonumber(l, -2).is_nan(),
        _ => false,
    };
    if bad_key {
        ffi::lua_pop(l, 2);
    } else {
        ffi::lua_rawset(l, -3);
    }
}

/// The error table of an error reply line (`CODE message`, without the
/// dash): the code is kept.
unsafe fn push_error_reply_table(l: State, line: &[u8]) {
    let mut text = Vec::with_capacity(line.len() + 1);
    text.push(b'-');
    text.extend_from_slice(line);
    lua::push_error_table(l, &text);
}

fn memchr_crlf(s: &[u8]) -> Option<usize> {
    let mut from = 0;
    while let Some(i) = s[from..].iter().position(|&b| b == b'\r') {
        let at = from + i;
        if s.get(at + 1) == Some(&b'\n') {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

/// `strtod` on a RESP3 double line (`inf`, `-inf`, `nan` included).
fn parse_double(s: &[u8]) -> Option<f64> {
    std::str::from_utf8(s).ok()?.parse::<f64>().ok()
}

/// Where error replies written by [`write_reply`] are accounted.
pub trait ErrorSink {
    /// An error reply `text` (dash included) was written; `counted` is
    /// false for errors already counted when a command failed.
    fn error(&mut self, text: &[u8], counted: bool);
}

/// Writes the value on top of the stack as a reply and pops it (Redis's
/// `luaReplyToRedisReply`). `script_resp3` is the protocol the script
/// chose with `redis.setresp`, which decides how booleans are returned.
///
/// # Safety
/// `l` must be live with a value on top.
pub unsafe fn write_reply(l: State, out: &mut Reply, script_resp3: bool, sink: &mut dyn ErrorSink) {
    let t = ffi::lua_type(l, -1);
    // Four slots at most are pushed at one level (a map's key and value).
    if ffi::lua_checkstack(l, 4) == 0 {
        write_error(out, b"-ERR reached lua stack limit", sink, true);
        ffi::lua_pop(l, 1);
        return;
    }
    match t {
        ffi::LUA_TSTRING => out.bulk(lua::to_bytes(l, -1).unwrap_or_default()),
        ffi::LUA_TBOOLEAN => {
            let b = ffi::lua_toboolean(l, -1) != 0;
            if !script_resp3 {
                if b {
                    out.int(1);
                } else {
                    out.null();
                }
            } else {
                out.boolean(b);
            }
        }
        ffi::LUA_TNUMBER => out.int(lua::c_double_to_i64(ffi::lua_tonumber(l, -1))),
        ffi::LUA_TTABLE => return write_table(l, out, script_resp3, sink),
        _ => out.null(),
    }
    ffi::lua_pop(l, 1);
}

/// The table forms, in Redis's order: err, ok, double, big_number,
/// verbatim_string, map, set, then an array. Pops the table.
unsafe fn write_table(l: State, out: &mut Reply, resp3: bool, sink: &mut dyn ErrorSink) {
    if lua::raw_get_field(l, -1, c"err") == ffi::LUA_TSTRING {
        ffi::lua_pop(l, 1);
        let info = ErrorInfo::extract(l);
        let mut text = Vec::with_capacity(info.msg.len() + 1);
        text.push(b'-');
        text.extend_from_slice(&info.msg);
        write_error(out, &text, sink, !info.ignore_stats);
        ffi::lua_pop(l, 1);
        return;
    }
    ffi::lua_pop(l, 1);
    if lua::raw_get_field(l, -1, c"ok") == ffi::LUA_TSTRING {
        // `addReplyStatusSafe` of a C string: up to a NUL, CR/LF as spaces.
        let s = lua::to_bytes(l, -1).unwrap_or_default();
        let s = s.split(|&b| b == 0).next().unwrap_or_default();
        out.buf.push(b'+');
        out.buf.extend(
            s.iter()
                .map(|&b| if b == b'\r' || b == b'\n' { b' ' } else { b }),
        );
        out.buf.extend_from_slice(b"\r\n");
        ffi::lua_pop(l, 2);
        return;
    }
    ffi::lua_pop(l, 1);
    if lua::raw_get_field(l, -1, c"double") == ffi::LUA_TNUMBER {
        write_double(out, ffi::lua_tonumber(l, -1));
        ffi::lua_pop(l, 2);
        return;
    }
    ffi::lua_pop(l, 1);
    if lua::raw_get_field(l, -1, c"big_number") == ffi::LUA_TSTRING {
        let s = lua::to_bytes(l, -1).unwrap_or_default();
        let mapped: Vec<u8> = s
            .iter()
            .map(|&b| if b == b'\r' || b == b'\n' { b' ' } else { b })
            .collect();
        out.big_number(&mapped);
        ffi::lua_pop(l, 2);
        return;
    }
    ffi::lua_pop(l, 1);
    if lua::raw_get_field(l, -1, c"verbatim_string") == ffi::LUA_TTABLE {
        if lua::raw_get_field(l, -1, c"format") == ffi::LUA_TSTRING {
            if lua::raw_get_field(l, -2, c"string") == ffi::LUA_TSTRING {
                let format = lua::to_bytes(l, -2).unwrap_or_default();
                let s = lua::to_bytes(l, -1).unwrap_or_default();
                write_verbatim(out, s, format);
                ffi::lua_pop(l, 4);
                return;
            }
            ffi::lua_pop(l, 1);
        }
        ffi::lua_pop(l, 1);
    }
    ffi::lua_pop(l, 1);
    if lua::raw_get_field(l, -1, c"map") == ffi::LUA_TTABLE {
        let mark = out.mark();
        let mut n = 0;
        ffi::lua_pushnil(l);
        while ffi::lua_next(l, -2) != 0 {
            ffi::lua_pushvalue(l, -2);
            write_reply(l, out, resp3, sink);
            write_reply(l, out, resp3, sink);
            n += 1;
        }
        out.insert_map_len(mark, n);
        ffi::lua_pop(l, 2);
        return;
    }
    ffi::lua_pop(l, 1);
    if lua::raw_get_field(l, -1, c"set") == ffi::LUA_TTABLE {
        let mark = out.mark();
        let mut n = 0;
        ffi::lua_pushnil(l);
        while ffi::lua_next(l, -2) != 0 {
            ffi::lua_pop(l, 1);
            ffi::lua_pushvalue(l, -1);
            write_reply(l, out, resp3, sink);
            n += 1;
        }
        out.insert_set_len(mark, n);
        ffi::lua_pop(l, 2);
        return;
    }
    ffi::lua_pop(l, 1);
    let mark = out.mark();
    let mut n = 0;
    loop {
        ffi::lua_pushnumber(l, (n + 1) as f64);
        ffi::lua_rawget_(l, -2);
        if ffi::lua_type(l, -1) == ffi::LUA_TNIL {
            ffi::lua_pop(l, 1);
            break;
        }
        write_reply(l, out, resp3, sink);
        n += 1;
    }
    out.insert_array_len(mark, n);
    ffi::lua_pop(l, 1);
}

/// An error reply as Redis's `addReplyErrorFormat*` writes it: CR/LF
/// trimmed at both ends and turned into spaces inside; `-ERR ` added
/// when the text has no dash.
pub fn write_error(out: &mut Reply, text: &[u8], sink: &mut dyn ErrorSink, counted: bool) {
    let is_trim = |b: &u8| *b == b'\r' || *b == b'\n';
    let start = text.iter().position(|b| !is_trim(b)).unwrap_or(text.len());
    let end = text
        .iter()
        .rposition(|b| !is_trim(b))
        .map_or(start, |e| e + 1);
    write_error_raw(out, &text[start..end], sink, counted);
}

/// As [`write_error`] without the trimming (Redis's
/// `addReplyErrorSdsExSafe`).
pub fn write_error_raw(out: &mut Reply, text: &[u8], sink: &mut dyn ErrorSink, counted: bool) {
    let start = out.buf.len();
    if text.first() != Some(&b'-') {
        out.buf.extend_from_slice(b"-ERR ");
    }
    out.buf.extend(
        text.iter()
            .map(|&b| if b == b'\r' || b == b'\n' { b' ' } else { b }),
    );
    let written = out.buf[start..].to_vec();
    out.buf.extend_from_slice(b"\r\n");
    sink.error(&written, counted);
}

/// The error code Redis's error statistics file `text` under (text with
/// its dash): the word before the first space within 32 bytes, else ERR.
pub fn error_code(text: &[u8]) -> &[u8] {
    if text.first() != Some(&b'-') {
        return b"ERR";
    }
    let window = &text[..text.len().min(32)];
    match window.iter().position(|&b| b == b' ') {
        Some(sp) => &text[1..sp],
        None => b"ERR",
    }
}

/// `addReplyDouble`: `%.17g` (inf as `inf`), a bulk string in RESP2.
fn write_double(out: &mut Reply, d: f64) {
    let mut s = Vec::with_capacity(24);
    if d.is_infinite() {
        s.extend_from_slice(if d > 0.0 { b"inf" } else { b"-inf" });
    } else {
        lua::fmt_printf(c"%.17g", d, &mut s);
    }
    out.double_str(&s);
}

/// `addReplyVerbatim`: `=len\r\nfmt:text` with the format padded to three
/// characters; a bulk string in RESP2.
fn write_verbatim(out: &mut Reply, s: &[u8], format: &[u8]) {
    if !out.resp3 {
        out.bulk(s);
        return;
    }
    out.buf.push(b'=');
    let mut n = itoa::Buffer::new();
    out.buf.extend_from_slice(n.format(s.len() + 4).as_bytes());
    out.buf.extend_from_slice(b"\r\n");
    let format = format.split(|&b| b == 0).next().unwrap_or_default();
    let mut fmt = [b' '; 3];
    for (d, c) in fmt.iter_mut().zip(format.iter()) {
        *d = *c;
    }
    out.buf.extend_from_slice(&fmt);
    out.buf.push(b':');
    out.buf.extend_from_slice(s);
    out.buf.extend_from_slice(b"\r\n");
}

/// What Redis reads from an error object (`luaExtractErrorInformation`):
/// the message (a string error becomes `ERR <text>`; a table's `err`),
/// the source and line the error handler added, and whether the error was
/// already counted. Fields are read without metamethods.
pub struct ErrorInfo {
    pub msg: Vec<u8>,
    pub source: Option<Vec<u8>>,
    pub line: Option<Vec<u8>>,
    pub ignore_stats: bool,
}

impl ErrorInfo {
    /// From the error object on top of the stack (left there).
    ///
    /// # Safety
    /// `l` must be live with a value on top and two free slots.
    pub unsafe fn extract(l: State) -> ErrorInfo {
        let mut info = ErrorInfo {
            msg: Vec::new(),
            source: None,
            line: None,
            ignore_stats: false,
        };
        // C strings: each ends at its first NUL.
        let cstr = |b: &[u8]| b.split(|&c| c == 0).next().unwrap_or_default().to_vec();
        if ffi::lua_isstring(l, -1) != 0 {
            let s = lua::to_bytes(l, -1).unwrap_or_default();
            info.msg = b"ERR ".to_vec();
            info.msg.extend(cstr(s));
            return info;
        }
        if ffi::lua_type(l, -1) != ffi::LUA_TTABLE {
            return info;
        }
        let field = |name: &std::ffi::CStr| -> Option<Vec<u8>> {
            lua::raw_get_field(l, -1, name);
            let v = if ffi::lua_isstring(l, -1) != 0 {
                lua::to_bytes(l, -1).map(cstr)
            } else {
                None
            };
            ffi::lua_pop(l, 1);
            v
        };
        if let Some(m) = field(c"err") {
            info.msg = m;
        }
        info.source = field(c"source");
        info.line = field(c"line");
        if lua::raw_get_field(l, -1, c"ignore_error_stats_update") == ffi::LUA_TBOOLEAN {
            info.ignore_stats = ffi::lua_toboolean(l, -1) != 0;
        }
        ffi::lua_pop(l, 1);
        info
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_as_redis_counts_them() {
        assert_eq!(error_code(b"-WRONGTYPE bad"), b"WRONGTYPE");
        assert_eq!(error_code(b"-oops"), b"ERR");
        assert_eq!(error_code(b"oops"), b"ERR");
        assert_eq!(
            error_code(b"-ABCDEFGHIJKLMNOPQRSTUVWXYZABCDEFGHIJ x"),
            b"ERR"
        );
    }
}
