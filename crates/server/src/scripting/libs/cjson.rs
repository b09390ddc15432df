//! `cjson`: JSON encoding and decoding with lua-cjson 2.1.0's behaviour as
//! Redis ships it: numbers with `%.14g`, `/` escaped, arrays detected from
//! positive integer keys with the sparseness rule, `cjson.null` for JSON
//! null, 1000 levels of nesting by default, the configuration functions
//! (`encode_max_depth`, `encode_invalid_numbers`, ...) and `cjson.new()`
//! for a module with its own settings, and lua-cjson's error texts.

use super::super::lua::{self, ffi, lua_fn, Ret, State};
use std::os::raw::{c_char, c_int};

/// One module's settings (lua-cjson keeps them in a userdata shared by
/// the module's functions as their upvalue).
#[derive(Debug, Clone, Copy)]
#[repr(C)]
pub struct Config {
    sparse_convert: c_int,
    sparse_ratio: c_int,
    sparse_safe: c_int,
    encode_max_depth: c_int,
    decode_max_depth: c_int,
    /// 0 refuse, 1 encode (`nan`, `inf`), 2 as `null`.
    encode_invalid_numbers: c_int,
    decode_invalid_numbers: c_int,
    keep_buffer: c_int,
    number_precision: c_int,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            sparse_convert: 0,
            sparse_ratio: 2,
            sparse_safe: 10,
            encode_max_depth: 1000,
            decode_max_depth: 1000,
            encode_invalid_numbers: 0,
            decode_invalid_numbers: 1,
            keep_buffer: 1,
            number_precision: 14,
        }
    }
}

const FUNCTIONS: super::Functions = &[
    (c"encode", encode),
    (c"decode", decode),
    (c"encode_sparse_array", encode_sparse_array),
    (c"encode_max_depth", encode_max_depth),
    (c"decode_max_depth", decode_max_depth),
    (c"encode_number_precision", encode_number_precision),
    (c"encode_keep_buffer", encode_keep_buffer),
    (c"encode_invalid_numbers", encode_invalid_numbers),
    (c"decode_invalid_numbers", decode_invalid_numbers),
    (c"new", new),
];

/// Pushes a new cjson module table with default settings.
///
/// # Safety
/// Four free slots.
pub unsafe fn open(l: State) {
    ffi::lua_createtable(l, 0, FUNCTIONS.len() as c_int + 3);
    let cfg = ffi::lua_newuserdata(l, std::mem::size_of::<Config>()) as *mut Config;
    cfg.write(Config::default());
    for (name, f) in FUNCTIONS {
        ffi::lua_pushvalue(l, -1);
        ffi::lua_pushcclosure(l, *f, 1);
        lua::raw_set_field(l, -3, name);
    }
    ffi::lua_pop(l, 1);
    ffi::lua_pushlightuserdata(l, std::ptr::null_mut());
    lua::raw_set_field(l, -2, c"null");
    lua::push_cstr(l, c"cjson");
    lua::raw_set_field(l, -2, c"_NAME");
    lua::push_cstr(l, c"2.1.0");
    lua::raw_set_field(l, -2, c"_VERSION");
}

/// The module's settings (the running function's upvalue).
unsafe fn config<'a>(l: State) -> &'a mut Config {
    &mut *(ffi::lua_touserdata(l, ffi::lua_upvalueindex(1)) as *mut Config)
}

lua_fn! {
    /// `cjson.new()`: a module with its own settings.
    fn new(l) {
        // SAFETY: called by Lua.
        unsafe {
            ffi::lua_checkstack(l, 4);
            open(l);
        }
        Ret::Values(1)
    }
}

// ----------------------------------------------------------------------
// Settings
// ----------------------------------------------------------------------

/// lua-cjson's `json_arg_init`: at most `args` arguments, padded with nil.
unsafe fn arg_init(l: State, args: c_int) -> Result<(), Ret> {
    if ffi::lua_gettop(l) > args {
        return Err(lua::arg_error(l, args + 1, "found too many arguments"));
    }
    while ffi::lua_gettop(l) < args {
        ffi::lua_pushnil(l);
    }
    Ok(())
}

/// An integer setting at `idx` (unchanged when nil); pushes the value.
unsafe fn integer_option(
    l: State,
    idx: c_int,
    setting: &mut c_int,
    min: c_int,
    max: c_int,
) -> Result<(), Ret> {
    if ffi::lua_type(l, idx) != ffi::LUA_TNIL {
        let v = ffi::lua_tointeger_(l, idx);
        if v == 0 && ffi::lua_isnumber(l, idx) == 0 {
            return Err(lua::type_error(l, idx, "number"));
        }
        let v = v as c_int;
        if !(min <= v && v <= max) {
            // lua-cjson reports the range against argument 1 whichever
            // argument it is.
            return Err(lua::arg_error(
                l,
                1,
                &format!("expected integer between {min} and {max}"),
            ));
        }
        *setting = v;
    }
    ffi::lua_pushinteger(l, *setting as ffi::lua_Integer);
    Ok(())
}

/// An enumerated setting at `idx`: a boolean, or one of `options` by name
/// (`off`/`on` when `None`); pushes the value as a boolean when it is 0
/// or 1, by name otherwise.
unsafe fn enum_option(
    l: State,
    idx: c_int,
    setting: &mut c_int,
    options: Option<&[&str]>,
) -> Result<(), Ret> {
    let options = options.unwrap_or(&["off", "on"]);
    if ffi::lua_type(l, idx) != ffi::LUA_TNIL {
        if ffi::lua_type(l, idx) == ffi::LUA_TBOOLEAN {
            *setting = ffi::lua_toboolean(l, idx);
        } else {
            // luaL_checkoption.
            let Some(name) = lua::to_bytes(l, idx) else {
                return Err(lua::type_error(l, idx, "string"));
            };
            let name = name.split(|&b| b == 0).next().unwrap_or_default();
            match options.iter().position(|o| o.as_bytes() == name) {
                Some(i) => *setting = i as c_int,
                None => {
                    let msg = format!("invalid option '{}'", String::from_utf8_lossy(name));
                    return Err(lua::arg_error(l, idx, &msg));
                }
            }
        }
    }
    if *setting == 0 || *setting == 1 {
        ffi::lua_pushboolean(l, *setting);
    } else {
        lua::push_bytes(l, options[*setting as usize].as_bytes());
    }
    Ok(())
}

macro_rules! setting_fn {
    ($name:ident, $args:expr, |$l:ident, $cfg:ident| $body:expr) => {
        lua_fn! {
            fn $name($l) {
                // SAFETY: called by Lua as a cjson closure.
                unsafe {
                    if let Err(e) = arg_init($l, $args) {
                        return e;
                    }
                    let $cfg = config($l);
                    let r: Result<c_int, Ret> = $body;
                    match r {
                        Ok(n) => Ret::Values(n),
                        Err(e) => e,
                    }
                }
            }
        }
    };
}

setting_fn!(encode_sparse_array, 3, |l, cfg| {
    (|| {
        enum_option(l, 1, &mut cfg.sparse_convert, None)?;
        integer_option(l, 2, &mut cfg.sparse_ratio, 0, c_int::MAX)?;
        integer_option(l, 3, &mut cfg.sparse_safe, 0, c_int::MAX)?;
        Ok(3)
    })()
});
setting_fn!(encode_max_depth, 1, |l, cfg| {
    integer_option(l, 1, &mut cfg.encode_max_depth, 1, c_int::MAX).map(|_| 1)
});
setting_fn!(decode_max_depth, 1, |l, cfg| {
    integer_option(l, 1, &mut cfg.decode_max_depth, 1, c_int::MAX).map(|_| 1)
});
setting_fn!(encode_number_precision, 1, |l, cfg| {
    integer_option(l, 1, &mut cfg.number_precision, 1, 14).map(|_| 1)
});
setting_fn!(encode_keep_buffer, 1, |l, cfg| {
    enum_option(l, 1, &mut cfg.keep_buffer, None).map(|_| 1)
});
setting_fn!(encode_invalid_numbers, 1, |l, cfg| {
    enum_option(
        l,
        1,
        &mut cfg.encode_invalid_numbers,
        Some(&["off", "on", "null"]),
    )
    .map(|_| 1)
});
setting_fn!(decode_invalid_numbers, 1, |l, cfg| {
    enum_option(l, 1, &mut cfg.decode_invalid_numbers, None).map(|_| 1)
});

// ----------------------------------------------------------------------
// Encoding
// ----------------------------------------------------------------------

/// An encoding failure: the message, raised with the caller's position.
struct Fail(String);

/// `Cannot serialise <type>: <reason>` for the value at `idx`.
unsafe fn cannot(l: State, idx: c_int, reason: &str) -> Fail {
    Fail(format!(
        "Cannot serialise {}: {reason}",
        lua::type_name(l, idx)
    ))
}

lua_fn! {
    /// `cjson.encode(value)`.
    fn encode(l) {
        // SAFETY: called by Lua as a cjson closure.
        unsafe {
            if ffi::lua_gettop(l) != 1 {
                return lua::arg_error(l, 1, "expected 1 argument");
            }
            let cfg = *config(l);
            let mut out = Vec::new();
            match append_value(l, &cfg, 0, &mut out) {
                Ok(()) => {
                    lua::push_bytes(l, &out);
                    Ret::Values(1)
                }
                Err(Fail(msg)) => lua::raise_msg(l, msg.as_bytes()),
            }
        }
    }
}

fn escape(out: &mut Vec<u8>, s: &[u8]) {
    out.reserve(s.len() + 2);
    out.push(b'"');
    for &c in s {
        match c {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'/' => out.extend_from_slice(b"\\/"),
            8 => out.extend_from_slice(b"\\b"),
            9 => out.extend_from_slice(b"\\t"),
            10 => out.extend_from_slice(b"\\n"),
            12 => out.extend_from_slice(b"\\f"),
            13 => out.extend_from_slice(b"\\r"),
            0..=31 | 127 => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.extend_from_slice(b"\\u00");
                out.push(HEX[(c >> 4) as usize]);
                out.push(HEX[(c & 15) as usize]);
            }
            _ => out.push(c),
        }
    }
    out.push(b'"');
}

unsafe fn append_number(l: State, cfg: &Config, idx: c_int, out: &mut Vec<u8>) -> Result<(), Fail> {
    let n = ffi::lua_tonumber(l, idx);
    match cfg.encode_invalid_numbers {
        0 => {
            if !n.is_finite() {
                return Err(cannot(l, idx, "must not be NaN or Inf"));
            }
        }
        1 => {
            if n.is_nan() {
                out.extend_from_slice(b"nan");
                return Ok(());
            }
        }
        _ => {
            if !n.is_finite() {
                out.extend_from_slice(b"null");
                return Ok(());
            }
        }
    }
    let p = cfg.number_precision.clamp(1, 14);
    let fmt = format!("%.{p}g\0");
    let fmt = std::ffi::CStr::from_bytes_with_nul(fmt.as_bytes()).unwrap_or(c"%.14g");
    lua::fmt_printf(fmt, n, out);
    Ok(())
}

/// The array length of the table on top as lua-cjson decides it: the
/// largest positive integer key when every key is one, -1 otherwise (an
/// object), or the sparseness error.
unsafe fn array_length(l: State, cfg: &Config) -> Result<c_int, Fail> {
    let mut max: c_int = 0;
    let mut items: c_int = 0;
    ffi::lua_pushnil(l);
    while ffi::lua_next(l, -2) != 0 {
        if ffi::lua_type(l, -2) == ffi::LUA_TNUMBER {
            let k = ffi::lua_tonumber(l, -2);
            if k != 0.0 && k.floor() == k && k >= 1.0 {
                if k > f64::from(max) {
                    max = k as c_int;
                }
                items += 1;
                ffi::lua_pop(l, 1);
                continue;
            }
        }
        ffi::lua_pop(l, 2);
        return Ok(-1);
    }
    if cfg.sparse_ratio > 0
        && i64::from(max) > i64::from(items) * i64::from(cfg.sparse_ratio)
        && max > cfg.sparse_safe
    {
        if cfg.sparse_convert == 0 {
            return Err(cannot(l, -1, "excessively sparse array"));
        }
        return Ok(-1);
    }
    Ok(max)
}

unsafe fn append_value(
    l: State,
    cfg: &Config,
    depth: c_int,
    out: &mut Vec<u8>,
) -> Result<(), Fail> {
    match ffi::lua_type(l, -1) {
        ffi::LUA_TSTRING => escape(out, lua::to_bytes(l, -1).unwrap_or_default()),
        ffi::LUA_TNUMBER => append_number(l, cfg, -1, out)?,
        ffi::LUA_TBOOLEAN => out.extend_from_slice(if ffi::lua_toboolean(l, -1) != 0 {
            b"true"
        } else {
            b"false"
        }),
        ffi::LUA_TTABLE => {
            let depth = depth + 1;
            if depth > cfg.encode_max_depth || ffi::lua_checkstack(l, 3) == 0 {
                return Err(Fail(format!(
                    "Cannot serialise, excessive nesting ({depth})"
                )));
            }
            let len = array_length(l, cfg)?;
            if len > 0 {
                out.push(b'[');
                for i in 1..=len {
                    if i > 1 {
                        out.push(b',');
                    }
                    ffi::lua_rawgeti_(l, -1, i);
                    let r = append_value(l, cfg, depth, out);
                    ffi::lua_pop(l, 1);
                    r?;
                }
                out.push(b']');
            } else {
                out.push(b'{');
                let mut comma = false;
                ffi::lua_pushnil(l);
                while ffi::lua_next(l, -2) != 0 {
                    if comma {
                        out.push(b',');
                    }
                    comma = true;
                    match ffi::lua_type(l, -2) {
                        ffi::LUA_TNUMBER => {
                            out.push(b'"');
                            if let Err(e) = append_number(l, cfg, -2, out) {
                                ffi::lua_pop(l, 2);
                                return Err(e);
                            }
                            out.extend_from_slice(b"\":");
                        }
                        ffi::LUA_TSTRING => {
                            escape(out, lua::to_bytes(l, -2).unwrap_or_default());
                            out.push(b':');
                        }
                        _ => {
                            let e = cannot(l, -2, "table key must be a number or string");
                            ffi::lua_pop(l, 2);
                            return Err(e);
                        }
                    }
                    let r = append_value(l, cfg, depth, out);
                    ffi::lua_pop(l, 1);
                    if let Err(e) = r {
                        ffi::lua_pop(l, 1);
                        return Err(e);
                    }
                }
                out.push(b'}');
            }
        }
        ffi::LUA_TNIL => out.extend_from_slice(b"null"),
        ffi::LUA_TLIGHTUSERDATA if ffi::lua_touserdata(l, -1).is_null() => {
            out.extend_from_slice(b"null")
        }
        _ => return Err(cannot(l, -1, "type not supported")),
    }
    Ok(())
}

// ----------------------------------------------------------------------
// Decoding
// ----------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tok {
    ObjBegin,
    ObjEnd,
    ArrBegin,
    ArrEnd,
    Str,
    Number,
    Boolean,
    Null,
    Colon,
    Comma,
    End,
    /// An error, with lua-cjson's description.
    Error(&'static str),
}

impl Tok {
    /// How an unexpected token is named in errors.
    fn name(self) -> &'static str {
        match self {
            Tok::ObjBegin => "T_OBJ_BEGIN",
            Tok::ObjEnd => "T_OBJ_END",
            Tok::ArrBegin => "T_ARR_BEGIN",
            Tok::ArrEnd => "T_ARR_END",
            Tok::Str => "T_STRING",
            Tok::Number => "T_NUMBER",
            Tok::Boolean => "T_BOOLEAN",
            Tok::Null => "T_NULL",
            Tok::Colon => "T_COLON",
            Tok::Comma => "T_COMMA",
            Tok::End => "T_END",
            Tok::Error(e) => e,
        }
    }
}

struct Token {
    kind: Tok,
    /// Where it starts (0-based), or where the error is.
    index: usize,
    number: f64,
    boolean: bool,
}

struct Decoder<'a> {
    /// The text, NUL-terminated (a Lua string is).
    data: &'a [u8],
    ptr: usize,
    tmp: Vec<u8>,
    cfg: Config,
    depth: c_int,
}

impl Decoder<'_> {
    #[inline]
    fn at(&self, i: usize) -> u8 {
        self.data.get(i).copied().unwrap_or(0)
    }

    fn hex4(&self, at: usize) -> Option<u32> {
        let mut v = 0u32;
        for i in 0..4 {
            let d = (self.at(at + i) as char).to_digit(16)?;
            v = (v << 4) | d;
        }
        Some(v)
    }

    /// A `\uXXXX` escape (with its low surrogate) at `ptr`, appended as
    /// UTF-8.
    fn unicode_escape(&mut self) -> bool {
        let Some(mut cp) = self.hex4(self.ptr + 2) else {
            return false;
        };
        let mut len = 6;
        if cp & 0xF800 == 0xD800 {
            if cp & 0x400 != 0 {
                return false;
            }
            if self.at(self.ptr + 6) != b'\\' || self.at(self.ptr + 7) != b'u' {
                return false;
            }
            let Some(low) = self.hex4(self.ptr + 8) else {
                return false;
            };
            if low & 0xFC00 != 0xDC00 {
                return false;
            }
            cp = (((cp & 0x3FF) << 10) | (low & 0x3FF)) + 0x10000;
            len = 12;
        }
        let mut b = [0u8; 4];
        let n = if cp <= 0x7F {
            b[0] = cp as u8;
            1
        } else if cp <= 0x7FF {
            b[0] = ((cp >> 6) | 0xC0) as u8;
            b[1] = ((cp & 0x3F) | 0x80) as u8;
            2
        } else if cp <= 0xFFFF {
            b[0] = ((cp >> 12) | 0xE0) as u8;
            b[1] = (((cp >> 6) & 0x3F) | 0x80) as u8;
            b[2] = ((cp & 0x3F) | 0x80) as u8;
            3
        } else {
            b[0] = ((cp >> 18) | 0xF0) as u8;
            b[1] = (((cp >> 12) & 0x3F) | 0x80) as u8;
            b[2] = (((cp >> 6) & 0x3F) | 0x80) as u8;
            b[3] = ((cp & 0x3F) | 0x80) as u8;
            4
        };
        self.tmp.extend_from_slice(&b[..n]);
        self.ptr += len;
        true
    }

    fn error(&self, t: &mut Token, what: &'static str) {
        t.kind = Tok::Error(what);
        t.index = self.ptr;
    }

    fn string_token(&mut self, t: &mut Token) {
        self.ptr += 1;
        self.tmp.clear();
        loop {
            let c = self.at(self.ptr);
            if c == b'"' {
                break;
            }
            if c == 0 {
                return self.error(t, "unexpected end of string");
            }
            let mut ch = c;
            if c == b'\\' {
                let e = self.at(self.ptr + 1);
                ch = match e {
                    b'"' => b'"',
                    b'\\' => b'\\',
                    b'/' => b'/',
                    b'b' => 8,
                    b't' => b'\t',
                    b'n' => b'\n',
                    b'f' => 12,
                    b'r' => b'\r',
                    b'u' => {
                        if self.unicode_escape() {
                            continue;
                        }
                        return self.error(t, "invalid unicode escape code");
                    }
                    _ => return self.error(t, "invalid escape code"),
                };
                self.ptr += 1;
            }
            self.tmp.push(ch);
            self.ptr += 1;
        }
        self.ptr += 1;
        t.kind = Tok::Str;
    }

    /// Numbers strict JSON refuses but `strtod` takes: a leading `+`,
    /// hex, leading zeros, inf and nan.
    fn is_invalid_number(&self) -> bool {
        let mut p = self.ptr;
        if self.at(p) == b'+' {
            return true;
        }
        if self.at(p) == b'-' {
            p += 1;
        }
        let c = self.at(p);
        if c == b'0' {
            let c2 = self.at(p + 1);
            return (c2 | 0x20) == b'x' || c2.is_ascii_digit();
        } else if c <= b'9' {
            return false;
        }
        let rest = &self.data[p.min(self.data.len())..];
        let starts = |w: &[u8]| rest.len() >= 3 && rest[..3].eq_ignore_ascii_case(w);
        starts(b"inf") || starts(b"nan")
    }

    fn number_token(&mut self, t: &mut Token) {
        t.kind = Tok::Number;
        // SAFETY: `data` ends with the NUL of the Lua string it borrows,
        // so strtod stops inside it.
        let (n, used) = unsafe {
            let start = self.data.as_ptr().add(self.ptr) as *const c_char;
            let mut end: *mut c_char = std::ptr::null_mut();
            let n = libc::strtod(start, &mut end);
            (n, end.offset_from(start) as usize)
        };
        if used == 0 {
            return self.error(t, "invalid number");
        }
        t.number = n;
        self.ptr += used;
    }

    fn next(&mut self, t: &mut Token) {
        while let b' ' | b'\t' | b'\n' | b'\r' = self.at(self.ptr) {
            self.ptr += 1;
        }
        t.index = self.ptr;
        let c = self.at(self.ptr);
        let single = match c {
            b'{' => Some(Tok::ObjBegin),
            b'}' => Some(Tok::ObjEnd),
            b'[' => Some(Tok::ArrBegin),
            b']' => Some(Tok::ArrEnd),
            b',' => Some(Tok::Comma),
            b':' => Some(Tok::Colon),
            _ => None,
        };
        if let Some(k) = single {
            t.kind = k;
            self.ptr += 1;
            return;
        }
        if c == 0 {
            t.kind = Tok::End;
            return;
        }
        let rest = &self.data[self.ptr..];
        if c == b'"' {
            self.string_token(t);
        } else if c == b'-' || c.is_ascii_digit() {
            if self.cfg.decode_invalid_numbers == 0 && self.is_invalid_number() {
                return self.error(t, "invalid number");
            }
            self.number_token(t);
        } else if !matches!(c, b'f' | b'i' | b'I' | b'n' | b'N' | b't' | b'+') {
            self.error(t, "invalid token");
        } else if rest.starts_with(b"true") {
            t.kind = Tok::Boolean;
            t.boolean = true;
            self.ptr += 4;
        } else if rest.starts_with(b"false") {
            t.kind = Tok::Boolean;
            t.boolean = false;
            self.ptr += 5;
        } else if rest.starts_with(b"null") {
            t.kind = Tok::Null;
            self.ptr += 4;
        } else if self.cfg.decode_invalid_numbers != 0 && self.is_invalid_number() {
            self.number_token(t);
        } else {
            self.error(t, "invalid token");
        }
    }

    fn expected(&self, what: &str, t: &Token) -> String {
        format!(
            "Expected {what} but found {} at character {}",
            t.kind.name(),
            t.index + 1
        )
    }

    unsafe fn descend(&mut self, l: State, slots: c_int) -> Result<(), String> {
        self.depth += 1;
        if self.depth <= self.cfg.decode_max_depth && ffi::lua_checkstack(l, slots) != 0 {
            return Ok(());
        }
        Err(format!(
            "Found too many nested data structures ({}) at character {}",
            self.depth, self.ptr
        ))
    }

    unsafe fn object(&mut self, l: State) -> Result<(), String> {
        self.descend(l, 3)?;
        ffi::lua_createtable(l, 0, 0);
        let mut t = Token::default();
        self.next(&mut t);
        if t.kind == Tok::ObjEnd {
            self.depth -= 1;
            return Ok(());
        }
        loop {
            if t.kind != Tok::Str {
                return Err(self.expected("object key string", &t));
            }
            lua::push_bytes(l, &self.tmp);
            self.next(&mut t);
            if t.kind != Tok::Colon {
                return Err(self.expected("colon", &t));
            }
            self.next(&mut t);
            self.value(l, &t)?;
            ffi::lua_rawset(l, -3);
            self.next(&mut t);
            if t.kind == Tok::ObjEnd {
                self.depth -= 1;
                return Ok(());
            }
            if t.kind != Tok::Comma {
                return Err(self.expected("comma or object end", &t));
            }
            self.next(&mut t);
        }
    }

    unsafe fn array(&mut self, l: State) -> Result<(), String> {
        self.descend(l, 2)?;
        ffi::lua_createtable(l, 0, 0);
        let mut t = Token::default();
        self.next(&mut t);
        if t.kind == Tok::ArrEnd {
            self.depth -= 1;
            return Ok(());
        }
        let mut i: c_int = 1;
        loop {
            self.value(l, &t)?;
            ffi::lua_rawseti_(l, -2, i);
            i = i.wrapping_add(1);
            self.next(&mut t);
            if t.kind == Tok::ArrEnd {
                self.depth -= 1;
                return Ok(());
            }
            if t.kind != Tok::Comma {
                return Err(self.expected("comma or array end", &t));
            }
            self.next(&mut t);
        }
    }

    unsafe fn value(&mut self, l: State, t: &Token) -> Result<(), String> {
        match t.kind {
            Tok::Str => lua::push_bytes(l, &self.tmp),
            Tok::Number => ffi::lua_pushnumber(l, t.number),
            Tok::Boolean => ffi::lua_pushboolean(l, c_int::from(t.boolean)),
            Tok::ObjBegin => self.object(l)?,
            Tok::ArrBegin => self.array(l)?,
            Tok::Null => ffi::lua_pushlightuserdata(l, std::ptr::null_mut()),
            _ => return Err(self.expected("value", t)),
        }
        Ok(())
    }
}

impl Default for Token {
    fn default() -> Token {
        Token {
            kind: Tok::End,
            index: 0,
            number: 0.0,
            boolean: false,
        }
    }
}

lua_fn! {
    /// `cjson.decode(text)`.
    fn decode(l) {
        // SAFETY: called by Lua as a cjson closure.
        unsafe {
            if ffi::lua_gettop(l) != 1 {
                return lua::arg_error(l, 1, "expected 1 argument");
            }
            let cfg = *config(l);
            let mut len = 0usize;
            let p = ffi::lua_tolstring(l, 1, &mut len);
            if p.is_null() {
                return lua::type_error(l, 1, "string");
            }
            // The string and its terminating NUL.
            let data = std::slice::from_raw_parts(p as *const u8, len + 1);
            if len >= 2 && (data[0] == 0 || data[1] == 0) {
                return lua::raise_msg(l, b"JSON parser does not support UTF-16 or UTF-32");
            }
            let mut d = Decoder {
                data,
                ptr: 0,
                tmp: Vec::new(),
                cfg,
                depth: 0,
            };
            let top = ffi::lua_gettop(l);
            let mut t = Token::default();
            d.next(&mut t);
            let r = d.value(l, &t).and_then(|()| {
                d.next(&mut t);
                if t.kind != Tok::End {
                    return Err(d.expected("the end", &t));
                }
                Ok(())
            });
            match r {
                Ok(()) => Ret::Values(1),
                Err(msg) => {
                    ffi::lua_settop(l, top);
                    lua::raise_msg(l, msg.as_bytes())
                }
            }
        }
    }
}
