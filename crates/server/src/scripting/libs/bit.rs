//! `bit`: LuaBitOp's operations on 32-bit integers. Arguments are
//! normalised as LuaBitOp does (the number rounded to an integer and
//! wrapped modulo 2^32), results are signed 32-bit numbers.

use super::super::vm::Shared;
use mlua::{Lua, MultiValue, Table, Value};
use std::rc::Rc;

/// LuaBitOp's argument conversion: add 2^52 + 2^51 and keep the low 32
/// bits of the double's representation (round to nearest, wrap).
fn tobit(n: f64) -> i32 {
    (n + 6_755_399_441_055_744.0).to_bits() as u32 as i32
}

fn arg(lua: &Lua, s: &Shared, args: &MultiValue, n: usize, name: &str) -> mlua::Result<i32> {
    Ok(tobit(super::check_number(lua, s, args, n, name)?))
}

type Op = fn(i32, i32) -> i32;

fn fold(lua: &Lua, s: &Shared, args: &MultiValue, name: &str, op: Op) -> mlua::Result<f64> {
    let mut acc = arg(lua, s, args, 1, name)?;
    for i in 2..=args.len() {
        acc = op(acc, arg(lua, s, args, i, name)?);
    }
    Ok(f64::from(acc))
}

fn shift(
    lua: &Lua,
    s: &Shared,
    args: &MultiValue,
    name: &str,
    op: fn(u32, u32) -> u32,
) -> mlua::Result<f64> {
    let b = arg(lua, s, args, 1, name)? as u32;
    let n = (arg(lua, s, args, 2, name)? as u32) & 31;
    Ok(f64::from(op(b, n) as i32))
}

fn tohex(lua: &Lua, s: &Shared, args: &MultiValue) -> mlua::Result<Vec<u8>> {
    let b = arg(lua, s, args, 1, "tohex")? as u32;
    let mut n = if args.len() >= 2 && !matches!(args.get(1), Some(Value::Nil)) {
        arg(lua, s, args, 2, "tohex")?
    } else {
        8
    };
    // INT32_MIN cannot be negated (Redis's fix of LuaBitOp's overflow).
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
    let mut out = vec![0u8; n];
    let mut v = b;
    for i in (0..n).rev() {
        out[i] = digits[(v & 15) as usize];
        v >>= 4;
    }
    Ok(out)
}

pub fn open(lua: &Lua, shared: &Rc<Shared>) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    macro_rules! func {
        ($name:expr, |$l:ident, $s:ident, $a:ident| $body:expr) => {{
            let $s = shared.clone();
            t.set(
                $name,
                lua.create_function(move |$l, $a: MultiValue| {
                    let $s = &*$s;
                    $body
                })?,
            )?;
        }};
    }
    func!("tobit", |l, s, a| Ok(f64::from(arg(l, s, &a, 1, "tobit")?)));
    func!("bnot", |l, s, a| Ok(f64::from(!arg(l, s, &a, 1, "bnot")?)));
    func!("band", |l, s, a| fold(l, s, &a, "band", |x, y| x & y));
    func!("bor", |l, s, a| fold(l, s, &a, "bor", |x, y| x | y));
    func!("bxor", |l, s, a| fold(l, s, &a, "bxor", |x, y| x ^ y));
    func!("lshift", |l, s, a| shift(l, s, &a, "lshift", |b, n| b << n));
    func!("rshift", |l, s, a| shift(l, s, &a, "rshift", |b, n| b >> n));
    func!("arshift", |l, s, a| shift(
        l,
        s,
        &a,
        "arshift",
        |b, n| ((b as i32) >> n) as u32
    ));
    func!("rol", |l, s, a| shift(l, s, &a, "rol", |b, n| b
        .rotate_left(n)));
    func!("ror", |l, s, a| shift(l, s, &a, "ror", |b, n| b
        .rotate_right(n)));
    func!("bswap", |l, s, a| Ok(f64::from(
        (arg(l, s, &a, 1, "bswap")? as u32).swap_bytes() as i32
    )));
    func!("tohex", |l, s, a| {
        let hex = tohex(l, s, &a)?;
        l.create_string(hex)
    });
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_wrap_like_luabitop() {
        assert_eq!(tobit(4294967295.0), -1);
        assert_eq!(tobit(2147483648.0), i32::MIN);
        assert_eq!(tobit(1.5), 2);
        assert_eq!(tobit(-1.0), -1);
    }
}
