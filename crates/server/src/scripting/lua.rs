//! The Lua C API as the scripting runtime uses it: the raw bindings
//! (`mlua-sys`, which builds the vendored Lua 5.1.5 of `vendor/lua-src`),
//! the two functions our Lua adds, the allocator, and the helpers every
//! Rust-written Lua function shares.
//!
//! Why the C API rather than a high-level binding: Redis's scripting
//! semantics are defined at this level — its C functions raise *tables*
//! (`{err=...}`) that `pcall` returns as they are, replies are converted
//! with stack-depth limits scripts can observe (`reached lua stack limit`),
//! the error handler finds the script's line by counting stack levels,
//! and `redis.call` must cost no more than Redis's. A high-level binding
//! wraps every callback in its own error and reference machinery, which
//! changes all four.
//!
//! # Safety rules for the functions Lua calls (`lua_fn!`)
//! Lua reports errors with `longjmp`, which must not cross a Rust frame
//! that still owns a value with a destructor. So:
//! - a function's body runs in a closure (under `catch_unwind`) that
//!   returns [`Ret`] with everything it owned dropped; only then does the
//!   outer frame call `lua_error` for [`Ret::Raise`];
//! - inside bodies, only API calls that cannot raise are used: raw table
//!   access (`lua_rawget*`/`lua_rawset*`, never the metamethod-invoking
//!   forms), pushes (memory errors cannot happen: the allocator aborts
//!   the process instead of failing, as Rust's allocator does), and
//!   `lua_pcall` (errors are caught). The one exception, inherited from
//!   Lua 5.1, is a `__gc` metamethod raising during a collection step:
//!   only userdata have `__gc`, and scripts can create userdata only
//!   through `newproxy`, which exists only under
//!   `lua-enable-deprecated-api yes` (off by default, as in Redis).
//! - every function that may push more than `LUA_MINSTACK` values checks
//!   the stack first (`lua_checkstack`, which never raises in this Lua).

pub use mlua_sys as ffi;
use std::ffi::CStr;
use std::os::raw::{c_char, c_int, c_void};

/// A Lua thread (the main state, or a coroutine a script created).
pub type State = *mut ffi::lua_State;

unsafe extern "C-unwind" {
    // Added to the vendored Lua (see vendor/lua-src/REDOUBT.md).
    pub fn lua_enablereadonlytable(l: State, idx: c_int, enabled: c_int);
    pub fn lua_isreadonlytable(l: State, idx: c_int) -> c_int;
}

/// How a Rust-written Lua function ends: with `n` results on the stack,
/// or by raising the value on top of the stack.
pub enum Ret {
    Values(c_int),
    Raise,
}

/// Defines a Lua C function whose body is Rust code returning [`Ret`]
/// (see the module's safety rules).
macro_rules! lua_fn {
    ($(#[$m:meta])* $vis:vis fn $name:ident($l:ident) $body:block) => {
        $(#[$m])*
        ///
        /// # Safety
        /// Called by Lua only, with its arguments on the stack.
        $vis unsafe extern "C-unwind" fn $name($l: $crate::scripting::lua::State) -> std::os::raw::c_int {
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(
                || -> $crate::scripting::lua::Ret { $body },
            ));
            // SAFETY: `$l` is the state Lua called us with; nothing the
            // body owned is alive any more.
            unsafe { $crate::scripting::lua::finish($l, r) }
        }
    };
}
pub(crate) use lua_fn;

/// The end of every [`lua_fn!`] function.
///
/// # Safety
/// `l` must be the state the function was called with.
pub unsafe fn finish(l: State, r: std::thread::Result<Ret>) -> c_int {
    match r {
        Ok(Ret::Values(n)) => n,
        Ok(Ret::Raise) => ffi::lua_error(l),
        Err(payload) => {
            // A bug in our code: the script fails instead of the server.
            drop(payload);
            ffi::lua_pushstring_(l, c"internal error in a Redoubt Lua function".as_ptr());
            ffi::lua_error(l)
        }
    }
}

/// Lua's allocations: libc's `realloc`/`free`, as Lua's own default. Like
/// Redis's, they are not counted in `used_memory` (INFO reports them as
/// `used_memory_vm_*`). A failed allocation aborts the process, as Rust's
/// allocator does, so Lua never raises a memory error (see the module's
/// safety rules).
unsafe extern "C" fn alloc(
    _ud: *mut c_void,
    ptr: *mut c_void,
    _osize: usize,
    nsize: usize,
) -> *mut c_void {
    if nsize == 0 {
        libc::free(ptr);
        return std::ptr::null_mut();
    }
    let p = libc::realloc(ptr, nsize);
    if p.is_null() {
        crate::log_warning!("Out of memory allocating {nsize} bytes for Lua");
        std::process::abort();
    }
    p
}

/// Errors outside any protected call (only possible while a state is set
/// up, which runs under `lua_cpcall`): a bug, so the process stops as
/// Redis's does.
unsafe extern "C-unwind" fn panic(l: State) -> c_int {
    let msg = str_bytes(l, -1).unwrap_or(b"?");
    crate::log_warning!(
        "Lua panic (unprotected error): {}",
        String::from_utf8_lossy(msg)
    );
    std::process::abort();
}

/// A new Lua state whose allocator carries `ud` (see [`user_data`]).
///
/// # Safety
/// `ud` must outlive the state.
pub unsafe fn new_state(ud: *mut c_void) -> Option<State> {
    let l = ffi::lua_newstate(alloc, ud);
    if l.is_null() {
        return None;
    }
    ffi::lua_atpanic(l, panic);
    Some(l)
}

/// The pointer given to [`new_state`], from any thread of that state.
///
/// # Safety
/// `l` must be a live state created by [`new_state`].
#[inline]
pub unsafe fn user_data(l: State) -> *mut c_void {
    let mut ud = std::ptr::null_mut();
    ffi::lua_getallocf(l, &mut ud);
    ud
}

/// Pushes `b` as a Lua string.
///
/// # Safety
/// `l` must be live with a free stack slot.
#[inline]
pub unsafe fn push_bytes(l: State, b: &[u8]) {
    if b.is_empty() {
        ffi::lua_pushlstring_(l, c"".as_ptr(), 0);
    } else {
        ffi::lua_pushlstring_(l, b.as_ptr() as *const c_char, b.len());
    }
}

/// Pushes a C string.
///
/// # Safety
/// As [`push_bytes`].
#[inline]
pub unsafe fn push_cstr(l: State, s: &CStr) {
    ffi::lua_pushstring_(l, s.as_ptr());
}

/// The bytes of the string at `idx`, converting a number in place (Lua's
/// `lua_tolstring`); `None` for other types. Valid while the value stays
/// on the stack.
///
/// # Safety
/// `idx` must be a valid index of `l`.
#[inline]
pub unsafe fn to_bytes<'a>(l: State, idx: c_int) -> Option<&'a [u8]> {
    let mut len = 0usize;
    let p = ffi::lua_tolstring(l, idx, &mut len);
    if p.is_null() {
        None
    } else {
        Some(std::slice::from_raw_parts(p as *const u8, len))
    }
}

/// The bytes at `idx` only when it is a string (numbers stay numbers).
///
/// # Safety
/// As [`to_bytes`].
#[inline]
pub unsafe fn str_bytes<'a>(l: State, idx: c_int) -> Option<&'a [u8]> {
    if ffi::lua_type(l, idx) == ffi::LUA_TSTRING {
        to_bytes(l, idx)
    } else {
        None
    }
}

/// `t[name]` without metamethods, pushed; returns its type.
///
/// # Safety
/// `t` must index a table; one free stack slot beyond the key.
#[inline]
pub unsafe fn raw_get_field(l: State, t: c_int, name: &CStr) -> c_int {
    let t = abs_index(l, t);
    ffi::lua_pushstring_(l, name.as_ptr());
    ffi::lua_rawget_(l, t);
    ffi::lua_type(l, -1)
}

/// `t[name] = <top>` without metamethods; pops the value.
///
/// # Safety
/// `t` must index a writable table; one free slot.
#[inline]
pub unsafe fn raw_set_field(l: State, t: c_int, name: &CStr) {
    let t = abs_index(l, t);
    ffi::lua_pushstring_(l, name.as_ptr());
    ffi::lua_insert(l, -2);
    ffi::lua_rawset(l, t);
}

/// A stack index that stays valid while values are pushed.
///
/// # Safety
/// `l` must be live.
#[inline]
pub unsafe fn abs_index(l: State, idx: c_int) -> c_int {
    if idx < 0 && idx > ffi::LUA_REGISTRYINDEX {
        ffi::lua_gettop(l) + idx + 1
    } else {
        idx
    }
}

/// Registers `f` as `t[name]` for the table at `t`.
///
/// # Safety
/// `t` must index a writable table; two free slots.
pub unsafe fn set_fn(l: State, t: c_int, name: &CStr, f: ffi::lua_CFunction) {
    let t = abs_index(l, t);
    ffi::lua_pushcclosure(l, f, 0);
    raw_set_field(l, t, name);
}

/// Pushes Redis's error table for `text` (`luaPushErrorBuff`): a text
/// starting with `-` keeps its code (the word after the dash; `ERR` when
/// there is no space), any other text gets `ERR`; the message is trimmed
/// of CR/LF at both ends. `{err="CODE message"}`.
///
/// # Safety
/// `l` must be live with three free slots.
pub unsafe fn push_error_table(l: State, text: &[u8]) {
    // The C strings Redis builds this from end at the first NUL.
    let text = text.split(|&b| b == 0).next().unwrap_or_default();
    if super::ldb::enabled() {
        let mut entry = b"<error> ".to_vec();
        entry.extend_from_slice(text);
        super::ldb::log(entry);
    }
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
    ffi::lua_createtable(l, 0, 1);
    push_bytes(l, code);
    push_bytes(l, b" ");
    push_bytes(l, &msg[start..end]);
    ffi::lua_concat(l, 3);
    raw_set_field(l, -2, c"err");
}

/// Pushes `msg` with `luaL_error`'s position prefix (`user_script:3: `,
/// the Lua code that called the running C function) and returns
/// [`Ret::Raise`].
///
/// # Safety
/// Only from a Lua C function, with two free slots.
pub unsafe fn raise_msg(l: State, msg: &[u8]) -> Ret {
    ffi::luaL_where(l, 1);
    push_bytes(l, msg);
    ffi::lua_concat(l, 2);
    Ret::Raise
}

/// Pushes the error table for `text` and returns [`Ret::Raise`].
///
/// # Safety
/// As [`push_error_table`].
pub unsafe fn raise_table(l: State, text: &[u8]) -> Ret {
    push_error_table(l, text);
    Ret::Raise
}

/// The name of the running C function as `luaL_argerror` finds it, and
/// whether it was called as a method.
unsafe fn current_function_name(l: State) -> Option<(String, bool)> {
    let mut ar: ffi::lua_Debug = std::mem::zeroed();
    if ffi::lua_getstack(l, 0, &mut ar) == 0 {
        return None;
    }
    ffi::lua_getinfo(l, c"n".as_ptr(), &mut ar);
    let method = !ar.namewhat.is_null() && CStr::from_ptr(ar.namewhat).to_bytes() == b"method";
    let name = if ar.name.is_null() {
        "?".to_string()
    } else {
        CStr::from_ptr(ar.name).to_string_lossy().into_owned()
    };
    Some((name, method))
}

/// `luaL_argerror`: `bad argument #n to 'f' (extra)`, raised.
///
/// # Safety
/// As [`raise_msg`].
pub unsafe fn arg_error(l: State, narg: c_int, extra: &str) -> Ret {
    let msg = match current_function_name(l) {
        None => format!("bad argument #{narg} ({extra})"),
        Some((name, true)) if narg == 1 => format!("calling '{name}' on bad self ({extra})"),
        Some((name, method)) => {
            let n = if method { narg - 1 } else { narg };
            format!("bad argument #{n} to '{name}' ({extra})")
        }
    };
    raise_msg(l, msg.as_bytes())
}

/// `luaL_typerror`: `bad argument #n to 'f' (T expected, got U)`.
///
/// # Safety
/// As [`raise_msg`].
pub unsafe fn type_error(l: State, narg: c_int, expected: &str) -> Ret {
    let got = type_name(l, narg);
    arg_error(l, narg, &format!("{expected} expected, got {got}"))
}

/// Lua's name of the type at `idx` (`no value` past the top).
///
/// # Safety
/// `l` must be live.
pub unsafe fn type_name(l: State, idx: c_int) -> &'static str {
    match ffi::lua_type(l, idx) {
        ffi::LUA_TNONE => "no value",
        ffi::LUA_TNIL => "nil",
        ffi::LUA_TBOOLEAN => "boolean",
        ffi::LUA_TLIGHTUSERDATA | ffi::LUA_TUSERDATA => "userdata",
        ffi::LUA_TNUMBER => "number",
        ffi::LUA_TSTRING => "string",
        ffi::LUA_TTABLE => "table",
        ffi::LUA_TFUNCTION => "function",
        ffi::LUA_TTHREAD => "thread",
        _ => "?",
    }
}

/// `luaL_checknumber`: the number at `narg` (strings convert), or the
/// raised error.
///
/// # Safety
/// As [`raise_msg`].
pub unsafe fn check_number(l: State, narg: c_int) -> Result<f64, Ret> {
    let n = ffi::lua_tonumber(l, narg);
    if n == 0.0 && ffi::lua_isnumber(l, narg) == 0 {
        return Err(type_error(l, narg, "number"));
    }
    Ok(n)
}

/// `luaL_checkint`: as [`check_number`], truncated to a C `int` the way
/// `lua_tointeger` does it on x86-64.
///
/// # Safety
/// As [`raise_msg`].
pub unsafe fn check_int(l: State, narg: c_int) -> Result<c_int, Ret> {
    let n = ffi::lua_tointeger_(l, narg);
    if n == 0 && ffi::lua_isnumber(l, narg) == 0 {
        return Err(type_error(l, narg, "number"));
    }
    Ok(n as c_int)
}

/// `luaL_checklstring`: the string at `narg` (numbers convert in place).
///
/// # Safety
/// As [`raise_msg`].
pub unsafe fn check_bytes<'a>(l: State, narg: c_int) -> Result<&'a [u8], Ret> {
    match to_bytes(l, narg) {
        Some(b) => Ok(b),
        None => Err(type_error(l, narg, "string")),
    }
}

/// `luaL_optinteger`/`luaL_optint`: `def` when the argument is absent or
/// nil.
///
/// # Safety
/// As [`raise_msg`].
pub unsafe fn opt_int(l: State, narg: c_int, def: i64) -> Result<i64, Ret> {
    if ffi::lua_type(l, narg) <= ffi::LUA_TNIL {
        return Ok(def);
    }
    let n = ffi::lua_tointeger_(l, narg);
    if n == 0 && ffi::lua_isnumber(l, narg) == 0 {
        return Err(type_error(l, narg, "number"));
    }
    Ok(n as i64)
}

/// 2^63, the first double out of `i64`'s range.
const TWO_POW_63: f64 = (1u64 << 63) as f64;

/// C's `(long long)d` on x86-64: out of range and NaN give the minimum.
pub fn c_double_to_i64(d: f64) -> i64 {
    if (-TWO_POW_63..TWO_POW_63).contains(&d) {
        d as i64
    } else {
        i64::MIN
    }
}

/// Lua's number to string conversion (`%.14g`), as `lua_tolstring` and
/// `tostring` give it.
pub fn fmt_lua_number(n: f64, out: &mut Vec<u8>) {
    fmt_printf(c"%.14g", n, out);
}

/// C's `%.17g`: how Redis turns a Lua number into a command argument, and
/// doubles into replies.
pub fn fmt_g17(n: f64, out: &mut Vec<u8>) {
    // Integral values below 2^53 print the same as integers, without the
    // cost of printf.
    if n == n.trunc() && n.abs() < 1e15 && !(n == 0.0 && n.is_sign_negative()) {
        let mut b = itoa::Buffer::new();
        out.extend_from_slice(b.format(n as i64).as_bytes());
        return;
    }
    fmt_printf(c"%.17g", n, out);
}

/// `snprintf(fmt, n)` for a format with one double conversion.
pub fn fmt_printf(fmt: &CStr, n: f64, out: &mut Vec<u8>) {
    let mut buf = [0u8; 64];
    // SAFETY: snprintf writes at most buf.len() bytes, NUL included; the
    // format takes exactly one double.
    let len =
        unsafe { libc::snprintf(buf.as_mut_ptr() as *mut c_char, buf.len(), fmt.as_ptr(), n) };
    let len = (len.max(0) as usize).min(buf.len() - 1);
    out.extend_from_slice(&buf[..len]);
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
        assert_eq!(f(-0.0), "-0");
        assert_eq!(f(0.1), "0.10000000000000001");
        assert_eq!(f(1e17), "1e+17");
        assert_eq!(f(1.5), "1.5");
        assert_eq!(f(f64::INFINITY), "inf");
        let mut v = Vec::new();
        fmt_lua_number(0.1, &mut v);
        assert_eq!(v, b"0.1");
    }
}
