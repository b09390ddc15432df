//! The libraries Redis loads besides Lua's own (base without `loadfile`,
//! `dofile` and `print`, table, string, math): `cjson`, `struct`,
//! `cmsgpack` and `bit`, and the generator behind Redis's `math.random`.
//! They are written here, against the Lua C API, from the documented
//! behaviour of the C libraries Redis bundles (lua-cjson 2.1.0,
//! lua-struct 0.2, lua-cmsgpack 0.4.0, LuaBitOp 1.0.2): scripts depend on
//! their exact output — cjson's number formatting and escaping, cmsgpack's
//! choice of encodings, struct's format language, LuaBitOp's wrap-around
//! arithmetic — and on their error messages, which the differential tests
//! compare with Redis's.

pub mod bit;
pub mod cjson;
pub mod cmsgpack;
pub mod rand48;
pub mod structlib;

use super::lua::{self, ffi, State};
use std::ffi::CStr;

/// Opens the four libraries as globals, in Redis's order.
///
/// # Safety
/// Only from a state's set-up.
pub unsafe fn open_all(l: State) {
    cjson::open(l);
    ffi::lua_setfield(l, ffi::LUA_GLOBALSINDEX, c"cjson".as_ptr());
    new_lib(l, structlib::FUNCTIONS);
    ffi::lua_setfield(l, ffi::LUA_GLOBALSINDEX, c"struct".as_ptr());
    cmsgpack::open(l);
    ffi::lua_setfield(l, ffi::LUA_GLOBALSINDEX, c"cmsgpack".as_ptr());
    new_lib(l, bit::FUNCTIONS);
    ffi::lua_setfield(l, ffi::LUA_GLOBALSINDEX, c"bit".as_ptr());
}

/// A library's functions, by name, in registration order.
pub type Functions = &'static [(&'static CStr, ffi::lua_CFunction)];

/// Pushes a new table holding `fns`.
///
/// # Safety
/// Two free stack slots.
pub unsafe fn new_lib(l: State, fns: Functions) {
    ffi::lua_createtable(l, 0, fns.len() as i32);
    for (name, f) in fns {
        lua::set_fn(l, -1, name, *f);
    }
}
