//! `cmsgpack`: MessagePack with lua-cmsgpack 0.4.0's behaviour as Redis
//! ships it: the smallest integer encoding, floats as 32-bit when exact,
//! tables as arrays when their keys are exactly 1..n (maps otherwise),
//! nesting cut at 16 levels (deeper tables become nil), several values
//! packed one after the other, and `unpack_one`/`unpack_limit` to read
//! such a stream piece by piece.

use super::super::lua::{self, ffi, lua_fn, Ret, State};
use std::os::raw::c_int;

/// Tables deeper than this are encoded as nil (so circular references
/// terminate).
const MAX_NESTING: c_int = 16;

const FUNCTIONS: super::Functions = &[
    (c"pack", pack),
    (c"unpack", unpack),
    (c"unpack_one", unpack_one),
    (c"unpack_limit", unpack_limit),
];

/// Pushes the module table.
///
/// # Safety
/// Two free slots.
pub unsafe fn open(l: State) {
    super::new_lib(l, FUNCTIONS);
    for (k, v) in [
        (c"_NAME", &b"cmsgpack"[..]),
        (c"_VERSION", b"lua-cmsgpack 0.4.0"),
        (c"_COPYRIGHT", b"Copyright (C) 2012, Salvatore Sanfilippo"),
        (c"_DESCRIPTION", b"MessagePack C implementation for Lua"),
    ] {
        lua::push_bytes(l, v);
        lua::raw_set_field(l, -2, k);
    }
}

// ----------------------------------------------------------------------
// Encoding
// ----------------------------------------------------------------------

fn encode_bytes(out: &mut Vec<u8>, s: &[u8]) {
    let len = s.len();
    if len < 32 {
        out.push(0xa0 | len as u8);
    } else if len <= 0xff {
        out.extend_from_slice(&[0xd9, len as u8]);
    } else if len <= 0xffff {
        out.push(0xda);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(0xdb);
        out.extend_from_slice(&(len as u32).to_be_bytes());
    }
    out.extend_from_slice(s);
}

fn encode_double(out: &mut Vec<u8>, d: f64) {
    let f = d as f32;
    if d == f64::from(f) {
        out.push(0xca);
        out.extend_from_slice(&f.to_be_bytes());
    } else {
        out.push(0xcb);
        out.extend_from_slice(&d.to_be_bytes());
    }
}

fn encode_int(out: &mut Vec<u8>, n: i64) {
    if n >= 0 {
        if n <= 127 {
            out.push(n as u8);
        } else if n <= 0xff {
            out.extend_from_slice(&[0xcc, n as u8]);
        } else if n <= 0xffff {
            out.push(0xcd);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        } else if n <= 0xffff_ffff {
            out.push(0xce);
            out.extend_from_slice(&(n as u32).to_be_bytes());
        } else {
            out.push(0xcf);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    } else if n >= -32 {
        out.push(n as i8 as u8);
    } else if n >= -128 {
        out.extend_from_slice(&[0xd0, n as u8]);
    } else if n >= -32768 {
        out.push(0xd1);
        out.extend_from_slice(&(n as i16).to_be_bytes());
    } else if n >= -2_147_483_648 {
        out.push(0xd2);
        out.extend_from_slice(&(n as i32).to_be_bytes());
    } else {
        out.push(0xd3);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

fn encode_header(out: &mut Vec<u8>, n: usize, fix: u8, b16: u8, b32: u8) {
    if n <= 15 {
        out.push(fix | n as u8);
    } else if n <= 65535 {
        out.push(b16);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        out.push(b32);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    }
}

/// C's `(int)d` on x86-64.
fn c_to_int(d: f64) -> i32 {
    if d.is_nan() || d >= 2_147_483_648.0 || d <= -2_147_483_649.0 {
        i32::MIN
    } else {
        d as i32
    }
}

unsafe fn encode_number(l: State, out: &mut Vec<u8>) {
    let n = ffi::lua_tonumber(l, -1);
    if !n.is_infinite() && lua::c_double_to_i64(n) as f64 == n {
        encode_int(out, ffi::lua_tointeger_(l, -1) as i64);
    } else {
        encode_double(out, n);
    }
}

/// Whether the table on top has exactly the keys 1..n.
unsafe fn is_array(l: State) -> bool {
    let top = ffi::lua_gettop(l);
    let (mut count, mut max) = (0i32, 0i32);
    ffi::lua_pushnil(l);
    while ffi::lua_next(l, -2) != 0 {
        ffi::lua_pop(l, 1);
        let ok = ffi::lua_type(l, -1) == ffi::LUA_TNUMBER && {
            let n = ffi::lua_tonumber(l, -1);
            n > 0.0 && f64::from(c_to_int(n)) == n
        };
        if !ok {
            ffi::lua_settop(l, top);
            return false;
        }
        let n = ffi::lua_tonumber(l, -1);
        if n > f64::from(max) {
            max = c_to_int(n);
        }
        count += 1;
    }
    ffi::lua_settop(l, top);
    max == count
}

/// Encodes the value on top and pops it.
unsafe fn encode_value(l: State, out: &mut Vec<u8>, level: c_int) {
    let mut t = ffi::lua_type(l, -1);
    if t == ffi::LUA_TTABLE && level == MAX_NESTING {
        t = ffi::LUA_TNIL;
    }
    match t {
        ffi::LUA_TSTRING => encode_bytes(out, lua::to_bytes(l, -1).unwrap_or_default()),
        ffi::LUA_TBOOLEAN => out.push(if ffi::lua_toboolean(l, -1) != 0 {
            0xc3
        } else {
            0xc2
        }),
        ffi::LUA_TNUMBER => encode_number(l, out),
        ffi::LUA_TTABLE => {
            ffi::lua_checkstack(l, 3);
            if is_array(l) {
                let len = ffi::lua_objlen(l, -1);
                encode_header(out, len, 0x90, 0xdc, 0xdd);
                for j in 1..=len {
                    ffi::lua_pushnumber(l, j as f64);
                    ffi::lua_rawget_(l, -2);
                    encode_value(l, out, level + 1);
                }
            } else {
                let mut len = 0usize;
                ffi::lua_pushnil(l);
                while ffi::lua_next(l, -2) != 0 {
                    ffi::lua_pop(l, 1);
                    len += 1;
                }
                encode_header(out, len, 0x80, 0xde, 0xdf);
                ffi::lua_pushnil(l);
                while ffi::lua_next(l, -2) != 0 {
                    ffi::lua_pushvalue(l, -2);
                    encode_value(l, out, level + 1);
                    encode_value(l, out, level + 1);
                }
            }
        }
        _ => out.push(0xc0),
    }
    ffi::lua_pop(l, 1);
}

lua_fn! {
    /// `cmsgpack.pack(...)`: every argument encoded, one after the other.
    fn pack(l) {
        // SAFETY: called by Lua.
        unsafe {
            let nargs = ffi::lua_gettop(l);
            if nargs == 0 {
                return lua::arg_error(l, 0, "MessagePack pack needs input.");
            }
            if ffi::lua_checkstack(l, nargs) == 0 {
                return lua::arg_error(l, 0, "Too many arguments for MessagePack pack.");
            }
            let mut out = Vec::new();
            for i in 1..=nargs {
                ffi::lua_checkstack(l, 1);
                ffi::lua_pushvalue(l, i);
                encode_value(l, &mut out, 0);
            }
            lua::push_bytes(l, &out);
            Ret::Values(1)
        }
    }
}

// ----------------------------------------------------------------------
// Decoding
// ----------------------------------------------------------------------

enum DecodeError {
    /// Not enough data to complete the value.
    Eof,
    /// A type byte this library does not read.
    BadFormat,
    /// Raised as it is (a Lua error Lua itself would raise).
    Raise(&'static [u8]),
    /// The Lua stack cannot grow (raised as `luaL_checkstack` does).
    Stack,
}

struct Cursor<'a> {
    s: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn left(&self) -> usize {
        self.s.len() - self.pos
    }

    fn need(&self, n: usize) -> Result<(), DecodeError> {
        if self.left() < n {
            Err(DecodeError::Eof)
        } else {
            Ok(())
        }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        self.need(n)?;
        let b = &self.s[self.pos..self.pos + n];
        self.pos += n;
        Ok(b)
    }

    fn be(&mut self, n: usize) -> Result<u64, DecodeError> {
        Ok(self
            .take(n)?
            .iter()
            .fold(0u64, |acc, &b| (acc << 8) | u64::from(b)))
    }
}

unsafe fn decode_value(l: State, c: &mut Cursor) -> Result<(), DecodeError> {
    c.need(1)?;
    if ffi::lua_checkstack(l, 1) == 0 {
        return Err(DecodeError::Stack);
    }
    let t = c.s[c.pos];
    match t {
        // Fixed-width integers: uint 8/16/32 (0xcc..=0xce) and int 8/16/32
        // (0xd0..=0xd2), big-endian, widened to a Lua number.
        0xcc..=0xce | 0xd0..=0xd2 => {
            let width = 1usize << (t & 0x03);
            c.need(1 + width)?;
            c.pos += 1;
            let raw = c.be(width)?;
            let v = if t >= 0xd0 {
                // Sign-extend from `width` bytes.
                let shift = 64 - 8 * width as u32;
                ((raw << shift) as i64 >> shift) as f64
            } else {
                raw as f64
            };
            ffi::lua_pushnumber(l, v);
        }
        // A uint 64 is pushed as a signed Lua integer, as the C library
        // does (values above 2^63 come out negative).
        0xcf | 0xd3 => {
            c.need(9)?;
            c.pos += 1;
            ffi::lua_pushnumber(l, c.be(8)? as i64 as f64);
        }
        0xc0 => {
            c.pos += 1;
            ffi::lua_pushnil(l);
        }
        0xc3 | 0xc2 => {
            c.pos += 1;
            ffi::lua_pushboolean(l, c_int::from(t == 0xc3));
        }
        0xca => {
            c.need(5)?;
            c.pos += 1;
            let f = f32::from_bits(c.be(4)? as u32);
            ffi::lua_pushnumber(l, f64::from(f));
        }
        0xcb => {
            c.need(9)?;
            c.pos += 1;
            ffi::lua_pushnumber(l, f64::from_bits(c.be(8)?));
        }
        0xd9..=0xdb => {
            let n = match t {
                0xd9 => 1,
                0xda => 2,
                _ => 4,
            };
            c.need(1 + n)?;
            c.pos += 1;
            let len = c.be(n)? as usize;
            lua::push_bytes(l, c.take(len)?);
        }
        0xdc | 0xdd => {
            let n = if t == 0xdc { 2 } else { 4 };
            c.need(1 + n)?;
            c.pos += 1;
            let len = c.be(n)? as usize;
            decode_array(l, c, len)?;
        }
        0xde | 0xdf => {
            let n = if t == 0xde { 2 } else { 4 };
            c.need(1 + n)?;
            c.pos += 1;
            let len = c.be(n)? as usize;
            decode_map(l, c, len)?;
        }
        _ if t & 0x80 == 0 => {
            c.pos += 1;
            ffi::lua_pushnumber(l, f64::from(t));
        }
        _ if t & 0xe0 == 0xe0 => {
            c.pos += 1;
            ffi::lua_pushnumber(l, f64::from(t as i8));
        }
        _ if t & 0xe0 == 0xa0 => {
            let len = usize::from(t & 0x1f);
            c.need(1 + len)?;
            c.pos += 1;
            lua::push_bytes(l, c.take(len)?);
        }
        _ if t & 0xf0 == 0x90 => {
            c.pos += 1;
            decode_array(l, c, usize::from(t & 0xf))?;
        }
        _ if t & 0xf0 == 0x80 => {
            c.pos += 1;
            decode_map(l, c, usize::from(t & 0xf))?;
        }
        _ => return Err(DecodeError::BadFormat),
    }
    Ok(())
}

unsafe fn decode_array(l: State, c: &mut Cursor, len: usize) -> Result<(), DecodeError> {
    ffi::lua_createtable(l, 0, 0);
    ffi::lua_checkstack(l, 1);
    for i in 1..=len {
        ffi::lua_pushnumber(l, i as f64);
        decode_value(l, c)?;
        ffi::lua_rawset(l, -3);
    }
    Ok(())
}

unsafe fn decode_map(l: State, c: &mut Cursor, len: usize) -> Result<(), DecodeError> {
    ffi::lua_createtable(l, 0, 0);
    for _ in 0..len {
        decode_value(l, c)?;
        decode_value(l, c)?;
        // lua_settable's own errors for keys a table cannot hold.
        match ffi::lua_type(l, -2) {
            ffi::LUA_TNIL => return Err(DecodeError::Raise(b"table index is nil")),
            ffi::LUA_TNUMBER if ffi::lua_tonumber(l, -2).is_nan() => {
                return Err(DecodeError::Raise(b"table index is NaN"))
            }
            _ => ffi::lua_rawset(l, -3),
        }
    }
    Ok(())
}

/// Unpacks from argument 1: everything (`limit == 0 && offset == 0`), or
/// up to `limit` values from `offset`, returning the next offset first
/// (-1 at the end).
unsafe fn unpack_full(l: State, limit: i64, offset: i64) -> Ret {
    let s = match lua::check_bytes(l, 1) {
        Ok(s) => s,
        Err(e) => return e,
    };
    let len = s.len();
    let decode_all = limit == 0 && offset == 0;
    if offset < 0 || limit < 0 {
        // The C library prints the input length as the limit.
        let msg = format!(
            "Invalid request to unpack with offset of {} and limit of {}.",
            offset as c_int, len as c_int
        );
        return lua::raise_msg(l, msg.as_bytes());
    } else if offset as u64 > len as u64 {
        let msg = format!(
            "Start offset {} greater than input length {}.",
            offset as c_int, len as c_int
        );
        return lua::raise_msg(l, msg.as_bytes());
    }
    let limit = if decode_all {
        i64::from(c_int::MAX)
    } else {
        limit
    };
    let mut c = Cursor {
        s,
        pos: offset as usize,
    };
    let mut cnt: c_int = 0;
    while c.left() > 0 && i64::from(cnt) < limit {
        match decode_value(l, &mut c) {
            Ok(()) => {}
            Err(DecodeError::Eof) => return lua::raise_msg(l, b"Missing bytes in input."),
            Err(DecodeError::BadFormat) => return lua::raise_msg(l, b"Bad data format in input."),
            Err(DecodeError::Stack) => {
                return lua::raise_msg(
                    l,
                    b"stack overflow (too many return values at once; use unpack_one or unpack_limit instead.)",
                )
            }
            Err(DecodeError::Raise(msg)) => {
                lua::push_bytes(l, msg);
                return Ret::Raise;
            }
        }
        cnt += 1;
    }
    if !decode_all {
        if ffi::lua_checkstack(l, 1) == 0 {
            return lua::raise_msg(l, b"stack overflow (in function mp_unpack_full)");
        }
        let next = if c.left() == 0 { -1 } else { c.pos as i64 };
        ffi::lua_pushnumber(l, next as f64);
        ffi::lua_insert(l, 2);
        cnt += 1;
    }
    Ret::Values(cnt)
}

lua_fn! {
    /// `cmsgpack.unpack(s)`: every value in `s`.
    fn unpack(l) {
        // SAFETY: called by Lua.
        unsafe { unpack_full(l, 0, 0) }
    }
}

lua_fn! {
    /// `cmsgpack.unpack_one(s [, offset])`: the next offset and one value.
    fn unpack_one(l) {
        // SAFETY: called by Lua.
        unsafe {
            let offset = match lua::opt_int(l, 2, 0) {
                Ok(o) => o,
                Err(e) => return e,
            };
            ffi::lua_settop(l, 1);
            unpack_full(l, 1, offset)
        }
    }
}

lua_fn! {
    /// `cmsgpack.unpack_limit(s, limit [, offset])`.
    fn unpack_limit(l) {
        // SAFETY: called by Lua.
        unsafe {
            let limit = ffi::lua_tointeger_(l, 2) as i64;
            if limit == 0 && ffi::lua_isnumber(l, 2) == 0 {
                return lua::type_error(l, 2, "number");
            }
            let offset = match lua::opt_int(l, 3, 0) {
                Ok(o) => o,
                Err(e) => return e,
            };
            ffi::lua_settop(l, 1);
            unpack_full(l, limit, offset)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_take_the_smallest_encoding() {
        let enc = |n: i64| {
            let mut v = Vec::new();
            encode_int(&mut v, n);
            v
        };
        assert_eq!(enc(5), [5]);
        assert_eq!(enc(200), [0xcc, 200]);
        assert_eq!(enc(-1), [0xff]);
        assert_eq!(enc(-100), [0xd0, 0x9c]);
        assert_eq!(enc(-1099511627776), [0xd3, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0]);
        let mut v = Vec::new();
        encode_double(&mut v, 0.1);
        assert_eq!(v[0], 0xcb);
        let mut v = Vec::new();
        encode_double(&mut v, 0.5);
        assert_eq!(v, [0xca, 0x3f, 0, 0, 0]);
    }
}
