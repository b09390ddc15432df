//! The libraries Redis loads besides Lua's own (base without `loadfile`
//! and `dofile`, table, string, math): `cjson`, `cmsgpack`, `struct` and
//! `bit`, and Redis's `math.random`. They are written here against mlua
//! rather than taken from crates: the crates that exist (serde-based JSON
//! and MessagePack codecs, for instance) do not give these libraries'
//! exact behaviour — cjson's number formatting and escaping, cmsgpack's
//! choice of encodings, struct's format language, LuaBitOp's wrap-around
//! arithmetic — which scripts depend on and the differential tests check.

pub mod bit;
pub mod cjson;
pub mod cmsgpack;
pub mod rand48;
pub mod structlib;

use super::vm::Shared;
use mlua::{Lua, Table};
use std::rc::Rc;

/// Registers the libraries' tables and `math.random`'s primitives in `raw`.
pub fn register(lua: &Lua, raw: &Table, shared: &Rc<Shared>) -> mlua::Result<()> {
    raw.set("bit", bit::open(lua, shared)?)?;
    raw.set("cjson", cjson::open(lua, shared)?)?;
    raw.set("cmsgpack", cmsgpack::open(lua, shared)?)?;
    raw.set("struct", structlib::open(lua, shared)?)?;
    rand48::register(lua, raw, shared)?;
    Ok(())
}

/// Raises `msg` (a Lua error string, as `luaL_error` would build it) from
/// a Rust function: the text goes through `Shared::pending_error` so
/// `pcall` and the error handler see it rather than mlua's wrapper.
pub fn raise<T>(shared: &Shared, msg: String) -> mlua::Result<T> {
    *shared.pending_error.borrow_mut() = Some(msg.clone());
    Err(mlua::Error::runtime(msg))
}

/// `luaL_error`'s position prefix: where the calling Lua code is
/// (`user_script:3: `), empty when called from C.
pub fn position(lua: &Lua) -> String {
    lua.inspect_stack(1, |d| {
        let line = d.current_line();
        let src = d.source();
        match (line, src.short_src) {
            (Some(l), Some(s)) if l > 0 => format!("{s}:{l}: "),
            _ => String::new(),
        }
    })
    .unwrap_or_default()
}

/// `luaL_argerror`'s text: `bad argument #n to 'fname' (msg)`.
pub fn arg_error<T>(
    lua: &Lua,
    shared: &Shared,
    n: usize,
    fname: &str,
    msg: &str,
) -> mlua::Result<T> {
    raise(
        shared,
        format!("{}bad argument #{n} to '{fname}' ({msg})", position(lua)),
    )
}

/// Lua's type name of a value, as error messages print it.
pub fn type_name(v: Option<&mlua::Value>) -> &'static str {
    match v {
        None => "no value",
        Some(v) => v.type_name(),
    }
}

/// `luaL_checknumber`: the argument as a number, or the error.
pub fn check_number(
    lua: &Lua,
    shared: &Shared,
    args: &mlua::MultiValue,
    n: usize,
    fname: &str,
) -> mlua::Result<f64> {
    let v = args.get(n - 1);
    let num = match v {
        Some(mlua::Value::Integer(i)) => Some(*i as f64),
        Some(mlua::Value::Number(x)) => Some(*x),
        Some(mlua::Value::String(s)) => lua_str_to_number(&s.as_bytes()),
        _ => None,
    };
    match num {
        Some(x) => Ok(x),
        None => arg_error(
            lua,
            shared,
            n,
            fname,
            &format!("number expected, got {}", type_name(v)),
        ),
    }
}

/// Lua 5.1's string to number conversion (`luaO_str2d`): decimal or hex,
/// surrounding spaces allowed.
pub fn lua_str_to_number(s: &[u8]) -> Option<f64> {
    let t = std::str::from_utf8(s).ok()?.trim();
    if t.is_empty() {
        return None;
    }
    let (neg, body) = match t.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, t),
    };
    if let Some(hex) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
        let v = u64::from_str_radix(hex, 16).ok()? as f64;
        return Some(if neg { -v } else { v });
    }
    let lower = t.to_ascii_lowercase();
    if lower.contains("inf") || lower.contains("nan") {
        // strtod accepts them; Lua 5.1 does too.
        return t.parse::<f64>().ok();
    }
    t.parse::<f64>().ok()
}
