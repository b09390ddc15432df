//! `bit`: LuaBitOp's operations on 32-bit integers. Arguments are
//! normalised as LuaBitOp does (the number rounded to an integer and
//! wrapped modulo 2^32), results are signed 32-bit numbers.

use super::super::lua::{self, ffi, lua_fn, Ret, State};
use std::os::raw::c_int;

pub const FUNCTIONS: super::Functions = &[
    (c"tobit", tobit),
    (c"bnot", bnot),
    (c"band", band),
    (c"bor", bor),
    (c"bxor", bxor),
    (c"lshift", lshift),
    (c"rshift", rshift),
    (c"arshift", arshift),
    (c"rol", rol),
    (c"ror", ror),
    (c"bswap", bswap),
    (c"tohex", tohex),
];

/// LuaBitOp's argument conversion: add 2^52 + 2^51 and keep the low 32
/// bits of the double's representation (round to nearest, wrap).
fn normalise(n: f64) -> u32 {
    (n + 6_755_399_441_055_744.0).to_bits() as u32
}

/// Argument `idx` as LuaBitOp reads it (a number, or a string that
/// converts to one).
unsafe fn arg(l: State, idx: c_int) -> Result<u32, Ret> {
    let n = ffi::lua_tonumber(l, idx);
    let b = normalise(n);
    if b == 0 && ffi::lua_isnumber(l, idx) == 0 {
        return Err(lua::type_error(l, idx, "number"));
    }
    Ok(b)
}

unsafe fn ret(l: State, b: u32) -> Ret {
    ffi::lua_pushnumber(l, f64::from(b as i32));
    Ret::Values(1)
}

macro_rules! unary {
    ($name:ident, |$b:ident| $e:expr) => {
        lua_fn! {
            fn $name(l) {
                // SAFETY: called by Lua.
                unsafe {
                    match arg(l, 1) {
                        Ok($b) => ret(l, $e),
                        Err(e) => e,
                    }
                }
            }
        }
    };
}

unary!(tobit, |b| b);
unary!(bnot, |b| !b);
unary!(bswap, |b| b.swap_bytes());

/// The folding operations take their arguments from the last to the
/// second, then the first (LuaBitOp's loop order, which decides which bad
/// argument is reported).
macro_rules! fold {
    ($name:ident, $op:tt) => {
        lua_fn! {
            fn $name(l) {
                // SAFETY: called by Lua.
                unsafe {
                    let mut b = match arg(l, 1) {
                        Ok(b) => b,
                        Err(e) => return e,
                    };
                    let mut i = ffi::lua_gettop(l);
                    while i > 1 {
                        match arg(l, i) {
                            Ok(x) => b $op x,
                            Err(e) => return e,
                        }
                        i -= 1;
                    }
                    ret(l, b)
                }
            }
        }
    };
}

fold!(band, &=);
fold!(bor, |=);
fold!(bxor, ^=);

macro_rules! shift {
    ($name:ident, |$b:ident, $n:ident| $e:expr) => {
        lua_fn! {
            fn $name(l) {
                // SAFETY: called by Lua.
                unsafe {
                    let $b = match arg(l, 1) {
                        Ok(b) => b,
                        Err(e) => return e,
                    };
                    let $n = match arg(l, 2) {
                        Ok(n) => n & 31,
                        Err(e) => return e,
                    };
                    ret(l, $e)
                }
            }
        }
    };
}

shift!(lshift, |b, n| b << n);
shift!(rshift, |b, n| b >> n);
shift!(arshift, |b, n| ((b as i32) >> n) as u32);
shift!(rol, |b, n| b.rotate_left(n));
shift!(ror, |b, n| b.rotate_right(n));

lua_fn! {
    /// `bit.tohex(x [, n])`: `n` hex digits (upper case when negative).
    fn tohex(l) {
        // SAFETY: called by Lua.
        unsafe {
            let mut b = match arg(l, 1) {
                Ok(b) => b,
                Err(e) => return e,
            };
            let mut n = if ffi::lua_type(l, 2) == ffi::LUA_TNONE {
                8
            } else {
                match arg(l, 2) {
                    Ok(n) => n as i32,
                    Err(e) => return e,
                }
            };
            // INT32_MIN cannot be negated (Redis's fix of LuaBitOp).
            if n == i32::MIN {
                n = i32::MIN + 1;
            }
            let digits: &[u8; 16] = if n < 0 {
                n = -n;
                b"0123456789ABCDEF"
            } else {
                b"0123456789abcdef"
            };
            let n = n.min(8) as usize;
            let mut out = [0u8; 8];
            for i in (0..n).rev() {
                out[i] = digits[(b & 15) as usize];
                b >>= 4;
            }
            lua::push_bytes(l, &out[..n]);
            Ret::Values(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_wrap_like_luabitop() {
        assert_eq!(normalise(4294967295.0) as i32, -1);
        assert_eq!(normalise(2147483648.0) as i32, i32::MIN);
        assert_eq!(normalise(1.5), 2);
        assert_eq!(normalise(-1.0) as i32, -1);
    }
}
