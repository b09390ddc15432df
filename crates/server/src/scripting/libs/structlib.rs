//! `struct`: Roberto Ierusalimschy's struct library (0.2, as Redis ships
//! it) — `struct.pack(fmt, ...)`, `struct.unpack(fmt, s [, pos])` and
//! `struct.size(fmt)` — for the x86-64 sizes and alignment Redis is built
//! with: `b`/`B` 1 byte, `h`/`H` 2, `l`/`L`/`T` 8, `i`/`I` 4 (or `iN`, up
//! to 32), `f` 4, `d` 8, `x` padding, `cN` fixed strings (`c0`: the whole
//! string, or the previous number's length when unpacking), `s`
//! NUL-terminated strings; `<`/`>` little/big endian (native: little), `!N`
//! maximum alignment (default 1; `!` alone 8), spaces ignored.

use super::super::lua::{self, ffi, lua_fn, Ret, State};
use std::os::raw::c_int;

pub const FUNCTIONS: super::Functions = &[(c"pack", pack), (c"unpack", unpack), (c"size", size)];

const MAXINTSIZE: usize = 32;
/// Alignment of a double on x86-64, `!` without a number.
const MAXALIGN: usize = 8;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Endian {
    Big,
    Little,
}

struct Header {
    endian: Endian,
    align: usize,
}

impl Default for Header {
    fn default() -> Header {
        Header {
            endian: Endian::Little,
            align: 1,
        }
    }
}

/// A format error, raised with the caller's position (`luaL_error`) or as
/// an argument error of argument `n` (`luaL_argerror`).
enum Fail {
    Msg(String),
    Arg(c_int, String),
    Raised(Ret),
}

unsafe fn raise(l: State, f: Fail) -> Ret {
    match f {
        Fail::Msg(m) => lua::raise_msg(l, m.as_bytes()),
        Fail::Arg(n, m) => lua::arg_error(l, n, &m),
        Fail::Raised(r) => r,
    }
}

/// The format string (up to its first NUL, as C reads it).
struct Fmt<'a> {
    s: &'a [u8],
    i: usize,
}

impl Fmt<'_> {
    fn peek(&self) -> u8 {
        self.s.get(self.i).copied().unwrap_or(0)
    }

    fn next_opt(&mut self) -> Option<u8> {
        let c = self.peek();
        if c == 0 {
            return None;
        }
        self.i += 1;
        Some(c)
    }

    /// An optional number after an option (`df` without one).
    fn num(&mut self, df: usize) -> Result<usize, Fail> {
        if !self.peek().is_ascii_digit() {
            return Ok(df);
        }
        let mut a: i32 = 0;
        while self.peek().is_ascii_digit() {
            let d = i32::from(self.peek() - b'0');
            if a > i32::MAX / 10 || a * 10 > i32::MAX - d {
                return Err(Fail::Msg("integral size overflow".into()));
            }
            a = a * 10 + d;
            self.i += 1;
        }
        Ok(a as usize)
    }
}

fn opt_size(opt: u8, f: &mut Fmt) -> Result<usize, Fail> {
    Ok(match opt {
        b'B' | b'b' => 1,
        b'H' | b'h' => 2,
        b'L' | b'l' | b'T' => 8,
        b'f' => 4,
        b'd' => 8,
        b'x' => 1,
        b'c' => f.num(1)?,
        b'i' | b'I' => {
            let sz = f.num(4)?;
            if sz > MAXINTSIZE {
                return Err(Fail::Msg(format!(
                    "integral size {sz} is larger than limit of {MAXINTSIZE}"
                )));
            }
            sz
        }
        _ => 0,
    })
}

/// Padding before an item of `size` at offset `len`.
fn to_align(len: usize, h: &Header, opt: u8, size: usize) -> usize {
    if size == 0 || opt == b'c' {
        return 0;
    }
    let size = size.min(h.align);
    (size - (len & (size - 1))) & (size - 1)
}

fn control(opt: u8, f: &mut Fmt, h: &mut Header) -> Result<(), Fail> {
    match opt {
        b' ' => Ok(()),
        b'>' => {
            h.endian = Endian::Big;
            Ok(())
        }
        b'<' => {
            h.endian = Endian::Little;
            Ok(())
        }
        b'!' => {
            let a = f.num(MAXALIGN)?;
            if !(a > 0 && a & (a - 1) == 0) {
                return Err(Fail::Msg(format!("alignment {a} is not a power of 2")));
            }
            h.align = a;
            Ok(())
        }
        _ => Err(Fail::Arg(
            1,
            format!("invalid format option '{}'", opt as char),
        )),
    }
}

unsafe fn check_number(l: State, n: c_int) -> Result<f64, Fail> {
    lua::check_number(l, n).map_err(Fail::Raised)
}

/// The format at argument 1 (`luaL_checkstring`).
unsafe fn format_arg<'a>(l: State) -> Result<Fmt<'a>, Ret> {
    let s = lua::check_bytes(l, 1)?;
    let s = s.split(|&b| b == 0).next().unwrap_or_default();
    Ok(Fmt { s, i: 0 })
}

/// C's conversions of a double to `long` and `unsigned long` on x86-64.
fn to_u64(n: f64) -> u64 {
    if n < 0.0 {
        lua::c_double_to_i64(n) as u64
    } else if n.is_nan() || n >= 18_446_744_073_709_551_616.0 {
        0
    } else {
        n as u64
    }
}

unsafe fn pack_items(l: State, f: &mut Fmt, out: &mut Vec<u8>) -> Result<(), Fail> {
    let mut h = Header::default();
    let mut arg: c_int = 2;
    let mut total = 0usize;
    while let Some(opt) = f.next_opt() {
        let mut size = opt_size(opt, f)?;
        let pad = to_align(total, &h, opt, size);
        total += pad;
        out.resize(out.len() + pad, 0);
        match opt {
            b'b' | b'B' | b'h' | b'H' | b'l' | b'L' | b'T' | b'i' | b'I' => {
                let mut v = to_u64(check_number(l, arg)?);
                arg += 1;
                let mut buf = [0u8; MAXINTSIZE];
                for b in buf.iter_mut().take(size) {
                    *b = v as u8;
                    v >>= 8;
                }
                if h.endian == Endian::Big {
                    buf[..size].reverse();
                }
                out.extend_from_slice(&buf[..size]);
            }
            b'x' => out.push(0),
            b'f' => {
                let v = check_number(l, arg)? as f32;
                arg += 1;
                out.extend_from_slice(&match h.endian {
                    Endian::Big => v.to_be_bytes(),
                    Endian::Little => v.to_le_bytes(),
                });
            }
            b'd' => {
                let v = check_number(l, arg)?;
                arg += 1;
                out.extend_from_slice(&match h.endian {
                    Endian::Big => v.to_be_bytes(),
                    Endian::Little => v.to_le_bytes(),
                });
            }
            b'c' | b's' => {
                let s = lua::check_bytes(l, arg).map_err(Fail::Raised)?;
                arg += 1;
                if size == 0 {
                    size = s.len();
                }
                if s.len() < size {
                    // Reported against the next argument, as the C code
                    // does after its increment.
                    return Err(Fail::Arg(arg, "string too short".into()));
                }
                out.extend_from_slice(&s[..size]);
                if opt == b's' {
                    out.push(0);
                    size += 1;
                }
            }
            _ => control(opt, f, &mut h)?,
        }
        total += size;
    }
    Ok(())
}

lua_fn! {
    /// `struct.pack(fmt, ...)`.
    fn pack(l) {
        // SAFETY: called by Lua.
        unsafe {
            let mut f = match format_arg(l) {
                Ok(f) => f,
                Err(e) => return e,
            };
            // The C library pushes a nil after the arguments (a mark for
            // its buffer): a missing argument right after the last one
            // reads as nil.
            ffi::lua_pushnil(l);
            let mut out = Vec::new();
            match pack_items(l, &mut f, &mut out) {
                Ok(()) => {
                    lua::push_bytes(l, &out);
                    Ret::Values(1)
                }
                Err(e) => raise(l, e),
            }
        }
    }
}

fn get_integer(b: &[u8], endian: Endian, signed: bool) -> f64 {
    let mut v: u64 = 0;
    let size = b.len();
    let mut push = |byte: u8| v = (v << 8) | u64::from(byte);
    match endian {
        Endian::Big => b.iter().for_each(|&x| push(x)),
        Endian::Little => b.iter().rev().for_each(|&x| push(x)),
    }
    if !signed {
        return v as f64;
    }
    // x86 masks the shift count, as the C code's shift does.
    let mask = u64::MAX.wrapping_shl((size * 8).wrapping_sub(1) as u32);
    if v & mask != 0 {
        v |= mask;
    }
    v as i64 as f64
}

unsafe fn unpack_items(l: State, f: &mut Fmt, data: &[u8], mut pos: usize) -> Result<c_int, Fail> {
    let mut h = Header::default();
    let ld = data.len();
    let mut n: c_int = 0;
    let too_short = || Fail::Arg(2, "data string too short".into());
    while let Some(opt) = f.next_opt() {
        let mut size = opt_size(opt, f)?;
        pos += to_align(pos, &h, opt, size);
        if !(size <= ld && pos <= ld - size) {
            return Err(too_short());
        }
        if ffi::lua_checkstack(l, 2) == 0 {
            return Err(Fail::Msg("stack overflow (too many results)".into()));
        }
        match opt {
            b'b' | b'B' | b'h' | b'H' | b'l' | b'L' | b'T' | b'i' | b'I' => {
                let v = get_integer(&data[pos..pos + size], h.endian, opt.is_ascii_lowercase());
                ffi::lua_pushnumber(l, v);
                n += 1;
            }
            b'x' => {}
            b'f' => {
                let mut b = [0u8; 4];
                b.copy_from_slice(&data[pos..pos + 4]);
                let v = match h.endian {
                    Endian::Big => f32::from_be_bytes(b),
                    Endian::Little => f32::from_le_bytes(b),
                };
                ffi::lua_pushnumber(l, f64::from(v));
                n += 1;
            }
            b'd' => {
                let mut b = [0u8; 8];
                b.copy_from_slice(&data[pos..pos + 8]);
                let v = match h.endian {
                    Endian::Big => f64::from_be_bytes(b),
                    Endian::Little => f64::from_le_bytes(b),
                };
                ffi::lua_pushnumber(l, v);
                n += 1;
            }
            b'c' => {
                if size == 0 {
                    if n == 0 || ffi::lua_isnumber(l, -1) == 0 {
                        return Err(Fail::Msg("format 'c0' needs a previous size".into()));
                    }
                    size = to_u64(ffi::lua_tonumber(l, -1)) as usize;
                    ffi::lua_pop(l, 1);
                    n -= 1;
                    if !(size <= ld && pos <= ld - size) {
                        return Err(too_short());
                    }
                }
                lua::push_bytes(l, &data[pos..pos + size]);
                n += 1;
            }
            b's' => {
                let Some(e) = data[pos..].iter().position(|&b| b == 0) else {
                    return Err(Fail::Msg("unfinished string in data".into()));
                };
                size = e + 1;
                lua::push_bytes(l, &data[pos..pos + e]);
                n += 1;
            }
            _ => control(opt, f, &mut h)?,
        }
        pos += size;
    }
    ffi::lua_pushnumber(l, (pos + 1) as f64);
    Ok(n + 1)
}

lua_fn! {
    /// `struct.unpack(fmt, s [, pos])`: the values, then the position
    /// after them.
    fn unpack(l) {
        // SAFETY: called by Lua.
        unsafe {
            let mut f = match format_arg(l) {
                Ok(f) => f,
                Err(e) => return e,
            };
            let data = match lua::check_bytes(l, 2) {
                Ok(d) => d,
                Err(e) => return e,
            };
            let pos = match lua::opt_int(l, 3, 1) {
                Ok(p) => p as usize,
                Err(e) => return e,
            };
            if pos == 0 {
                return lua::arg_error(l, 3, "offset must be 1 or greater");
            }
            match unpack_items(l, &mut f, data, pos - 1) {
                Ok(n) => Ret::Values(n),
                Err(e) => raise(l, e),
            }
        }
    }
}

lua_fn! {
    /// `struct.size(fmt)`: the packed size of a fixed-size format.
    fn size(l) {
        // SAFETY: called by Lua.
        unsafe {
            let mut f = match format_arg(l) {
                Ok(f) => f,
                Err(e) => return e,
            };
            let mut h = Header::default();
            let mut pos = 0usize;
            let r = (|| -> Result<(), Fail> {
                while let Some(opt) = f.next_opt() {
                    let size = opt_size(opt, &mut f)?;
                    pos += to_align(pos, &h, opt, size);
                    if opt == b's' {
                        return Err(Fail::Arg(1, "option 's' has no fixed size".into()));
                    } else if opt == b'c' && size == 0 {
                        return Err(Fail::Arg(1, "option 'c0' has no fixed size".into()));
                    }
                    if !opt.is_ascii_alphanumeric() {
                        control(opt, &mut f, &mut h)?;
                    }
                    pos += size;
                }
                Ok(())
            })();
            match r {
                Ok(()) => {
                    ffi::lua_pushnumber(l, pos as f64);
                    Ret::Values(1)
                }
                Err(e) => raise(l, e),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_read_back_with_sign_extension() {
        assert_eq!(get_integer(&[0xff, 0xff], Endian::Little, true), -1.0);
        assert_eq!(get_integer(&[0xff, 0xff], Endian::Little, false), 65535.0);
        assert_eq!(get_integer(&[0x01, 0x00], Endian::Big, false), 256.0);
    }

    #[test]
    fn alignment_pads_to_the_smaller_of_size_and_limit() {
        let h = Header {
            endian: Endian::Little,
            align: 8,
        };
        assert_eq!(to_align(1, &h, b'i', 4), 3);
        assert_eq!(to_align(1, &h, b'c', 4), 0);
        let h1 = Header::default();
        assert_eq!(to_align(1, &h1, b'd', 8), 0);
    }
}
