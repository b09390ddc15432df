//! The `redis` table besides `redis.call`/`pcall` (`call.rs`): the small
//! helpers (`sha1hex`, `error_reply`, `status_reply`, `log`, `setresp`,
//! `set_repl`, `acl_check_cmd`, the debugger's no-ops), the constants,
//! Redis's `pcall`, and `math.random`/`math.randomseed` on rand48. Errors
//! are raised as Redis raises them: `{err=...}` tables from the `redis.*`
//! functions, position-prefixed strings from `math.*`.

use super::libs::rand48;
use super::lua::{self, ffi, lua_fn, Ret, State};
use super::vm::{self, Kind};
use crate::errors;
use std::ffi::CStr;
use std::os::raw::c_int;

/// Registers the API in the globals of a state being set up: `pcall`,
/// the `redis` table, `math.random`/`math.randomseed`.
///
/// # Safety
/// Only from a state's set-up.
pub unsafe fn register(l: State, kind: Kind) {
    ffi::lua_pushcclosure(l, redis_pcall_builtin, 0);
    ffi::lua_setfield(l, ffi::LUA_GLOBALSINDEX, c"pcall".as_ptr());

    // In Redis's order of registration (which decides `pairs` order).
    ffi::lua_createtable(l, 0, 32);
    lua::set_fn(l, -1, c"call", super::call::redis_call);
    lua::set_fn(l, -1, c"pcall", super::call::redis_pcall);
    register_log(l, -1);
    register_version(l, -1);
    lua::set_fn(l, -1, c"setresp", setresp);
    lua::set_fn(l, -1, c"sha1hex", sha1hex);
    lua::set_fn(l, -1, c"error_reply", error_reply);
    lua::set_fn(l, -1, c"status_reply", status_reply);
    lua::set_fn(l, -1, c"set_repl", set_repl);
    set_number(l, -1, c"REPL_NONE", 0.0);
    set_number(l, -1, c"REPL_AOF", f64::from(super::run::REPL_AOF));
    set_number(l, -1, c"REPL_SLAVE", f64::from(super::run::REPL_REPLICA));
    set_number(l, -1, c"REPL_REPLICA", f64::from(super::run::REPL_REPLICA));
    set_number(l, -1, c"REPL_ALL", f64::from(super::run::REPL_ALL));
    lua::set_fn(l, -1, c"acl_check_cmd", acl_check_cmd);
    if kind == Kind::Eval {
        lua::set_fn(l, -1, c"breakpoint", breakpoint);
        lua::set_fn(l, -1, c"debug", debug);
        lua::set_fn(l, -1, c"replicate_commands", replicate_commands);
    }
    ffi::lua_setfield(l, ffi::LUA_GLOBALSINDEX, c"redis".as_ptr());

    ffi::lua_getfield_(l, ffi::LUA_GLOBALSINDEX, c"math".as_ptr());
    lua::set_fn(l, -1, c"random", math_random);
    lua::set_fn(l, -1, c"randomseed", math_randomseed);
    ffi::lua_pop(l, 1);
}

/// `log` and the `LOG_*` levels, into the table at `t`.
///
/// # Safety
/// Only from a state's set-up.
pub unsafe fn register_log(l: State, t: c_int) {
    let t = lua::abs_index(l, t);
    lua::set_fn(l, t, c"log", log);
    set_number(l, t, c"LOG_DEBUG", 0.0);
    set_number(l, t, c"LOG_VERBOSE", 1.0);
    set_number(l, t, c"LOG_NOTICE", 2.0);
    set_number(l, t, c"LOG_WARNING", 3.0);
}

/// `REDIS_VERSION_NUM` (0x00MMmmpp) and `REDIS_VERSION`, into the table
/// at `t`.
///
/// # Safety
/// Only from a state's set-up.
pub unsafe fn register_version(l: State, t: c_int) {
    let t = lua::abs_index(l, t);
    set_number(l, t, c"REDIS_VERSION_NUM", redis_version_num() as f64);
    lua::push_bytes(l, crate::REDIS_VERSION.as_bytes());
    lua::raw_set_field(l, t, c"REDIS_VERSION");
}

unsafe fn set_number(l: State, t: c_int, name: &CStr, v: f64) {
    let t = lua::abs_index(l, t);
    ffi::lua_pushnumber(l, v);
    lua::raw_set_field(l, t, name);
}

fn redis_version_num() -> i64 {
    let mut parts = crate::REDIS_VERSION
        .split('.')
        .map(|p| p.parse::<i64>().unwrap_or(0));
    let (a, b, c) = (
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
    );
    (a << 16) | (b << 8) | c
}

/// Redis 7's `pcall`: a caught error table becomes its `err` message, so
/// scripts written for Redis 6 keep working. Only raw Lua calls here, so
/// no Rust frame is in the way of the errors (see `lua`).
unsafe extern "C-unwind" fn redis_pcall_builtin(l: State) -> c_int {
    let argc = ffi::lua_gettop(l);
    ffi::lua_pushboolean(l, 1);
    ffi::lua_insert(l, 1);
    if ffi::lua_pcall(l, argc - 1, ffi::LUA_MULTRET, 0) != 0 {
        ffi::lua_remove(l, 1);
        if ffi::lua_type(l, -1) == ffi::LUA_TTABLE {
            lua::raw_get_field(l, -1, c"err");
            if ffi::lua_isstring(l, -1) != 0 {
                ffi::lua_replace(l, -2);
            }
        }
        ffi::lua_pushboolean(l, 0);
        ffi::lua_insert(l, 1);
    }
    ffi::lua_gettop(l)
}

lua_fn! {
    /// `redis.sha1hex(s)`.
    fn sha1hex(l) {
        // SAFETY: called by Lua.
        unsafe {
            if ffi::lua_gettop(l) != 1 {
                return lua::raise_table(l, errors::LUA_WRONG_ARGS.as_bytes());
            }
            let s = lua::to_bytes(l, 1).unwrap_or_default();
            let hex = super::eval::sha1hex(s);
            lua::push_bytes(l, &hex);
            Ret::Values(1)
        }
    }
}

/// Whether the call has exactly one argument, a string (the check of
/// `error_reply` and `status_reply`).
unsafe fn one_string(l: State) -> bool {
    ffi::lua_gettop(l) == 1 && ffi::lua_type(l, -1) == ffi::LUA_TSTRING
}

lua_fn! {
    /// `redis.error_reply(msg)`: `{err=msg}` with `-`/`ERR` handled as
    /// for any error text; wrong arguments *return* an error table.
    fn error_reply(l) {
        // SAFETY: called by Lua.
        unsafe {
            if !one_string(l) {
                lua::push_error_table(l, errors::LUA_WRONG_ARGS_OR_TYPE.as_bytes());
                return Ret::Values(1);
            }
            let s = lua::to_bytes(l, -1).unwrap_or_default();
            let s = s.split(|&b| b == 0).next().unwrap_or_default();
            if s.first() == Some(&b'-') {
                lua::push_error_table(l, s);
            } else {
                let mut text = Vec::with_capacity(s.len() + 1);
                text.push(b'-');
                text.extend_from_slice(s);
                lua::push_error_table(l, &text);
            }
            Ret::Values(1)
        }
    }
}

lua_fn! {
    /// `redis.status_reply(msg)`: `{ok=msg}`.
    fn status_reply(l) {
        // SAFETY: called by Lua.
        unsafe {
            if !one_string(l) {
                lua::push_error_table(l, errors::LUA_WRONG_ARGS_OR_TYPE.as_bytes());
                return Ret::Values(1);
            }
            ffi::lua_createtable(l, 0, 1);
            ffi::lua_pushvalue(l, -2);
            lua::raw_set_field(l, -2, c"ok");
            Ret::Values(1)
        }
    }
}

lua_fn! {
    /// `redis.log(level, ...)`: the arguments joined by spaces, at `level`.
    fn log(l) {
        // SAFETY: called by Lua.
        unsafe {
            let argc = ffi::lua_gettop(l);
            if argc < 2 {
                return lua::raise_table(l, errors::LUA_LOG_ARGS.as_bytes());
            }
            if ffi::lua_isnumber(l, 1) == 0 {
                return lua::raise_table(l, errors::LUA_LOG_LEVEL_TYPE.as_bytes());
            }
            let level = match ffi::lua_tonumber(l, 1) as c_int {
                0 => crate::log::Level::Debug,
                1 => crate::log::Level::Verbose,
                2 => crate::log::Level::Notice,
                3 => crate::log::Level::Warning,
                _ => return lua::raise_table(l, errors::LUA_LOG_LEVEL.as_bytes()),
            };
            if !crate::log::enabled(level) {
                return Ret::Values(0);
            }
            let mut line = Vec::new();
            for j in 2..=argc {
                if let Some(s) = lua::to_bytes(l, j) {
                    if j != 2 {
                        line.push(b' ');
                    }
                    line.extend_from_slice(s);
                }
            }
            crate::log::write(level, &String::from_utf8_lossy(&line));
            Ret::Values(0)
        }
    }
}

lua_fn! {
    /// `redis.setresp(2|3)`: the protocol `redis.call` replies come in.
    fn setresp(l) {
        // SAFETY: called by Lua; `run` as in `call::generic`.
        unsafe {
            let run = vm::shared(l).run.get();
            if run.is_null() {
                return lua::raise_table(l, errors::LUA_SETRESP_OUTSIDE.as_bytes());
            }
            let argc = ffi::lua_gettop(l);
            if argc != 1 {
                return lua::raise_table(l, errors::LUA_SETRESP_ARGS.as_bytes());
            }
            let v = ffi::lua_tonumber(l, -argc) as c_int;
            if v != 2 && v != 3 {
                return lua::raise_table(l, errors::LUA_SETRESP_VERSION.as_bytes());
            }
            (*run).client.out.resp3 = v == 3;
            Ret::Values(0)
        }
    }
}

lua_fn! {
    /// `redis.set_repl(flags)`: where the script's next effects go.
    fn set_repl(l) {
        // SAFETY: called by Lua; `run` as in `call::generic`.
        unsafe {
            let run = vm::shared(l).run.get();
            if run.is_null() {
                return lua::raise_table(l, errors::LUA_SET_REPL_OUTSIDE.as_bytes());
            }
            if ffi::lua_gettop(l) != 1 {
                return lua::raise_table(l, errors::LUA_SET_REPL_ARGS.as_bytes());
            }
            let v = ffi::lua_tonumber(l, -1) as c_int;
            if v & !c_int::from(super::run::REPL_ALL) != 0 {
                return lua::raise_table(l, errors::LUA_SET_REPL_FLAGS.as_bytes());
            }
            (*run).repl = v as u8;
            Ret::Values(0)
        }
    }
}

lua_fn! {
    /// `redis.acl_check_cmd(cmd, ...)`: whether the caller's user may run
    /// the command with these arguments.
    fn acl_check_cmd(l) {
        // SAFETY: called by Lua; `run` as in `call::generic`.
        unsafe {
            let run = vm::shared(l).run.get();
            if run.is_null() {
                return lua::raise_table(l, errors::LUA_ACL_CHECK_OUTSIDE.as_bytes());
            }
            let argc = ffi::lua_gettop(l);
            if argc == 0 {
                return lua::raise_table(l, errors::LUA_NO_ARGS.as_bytes());
            }
            let mut buf = Vec::new();
            let mut ranges = Vec::new();
            let ok = super::call::collect_args(l, argc, &mut buf, &mut ranges);
            ffi::lua_settop(l, 0);
            if !ok {
                return lua::raise_table(l, errors::LUA_BAD_ARGS.as_bytes());
            }
            let srv = &*(*run).srv;
            let argv = command_meta::Argv::new(&buf, &ranges);
            let Some(idx) = super::call::lookup(srv, argv) else {
                return lua::raise_table(l, errors::LUA_ACL_CHECK_INVALID.as_bytes());
            };
            let meta = srv.commands.commands[idx].meta;
            let allowed = match &(*run).client.acl_user {
                Some(u) => {
                    let args: Vec<&[u8]> = argv.iter().collect();
                    crate::acl::check::check(&u.borrow(), meta, &args).is_ok()
                }
                None => true,
            };
            ffi::lua_pushboolean(l, c_int::from(allowed));
            Ret::Values(1)
        }
    }
}

lua_fn! {
    /// `redis.breakpoint()`: in a debugging session, stop at the next
    /// line (true); false otherwise.
    fn breakpoint(l) {
        let stops = super::ldb::breakpoint_call();
        // SAFETY: called by Lua.
        unsafe { ffi::lua_pushboolean(l, c_int::from(stops)) };
        Ret::Values(1)
    }
}

lua_fn! {
    /// `redis.debug(...)`: its arguments, logged to the debugging session
    /// (nothing without one).
    fn debug(l) {
        // SAFETY: called by Lua with its arguments on the stack.
        unsafe { super::ldb::debug_call(l) };
        Ret::Values(0)
    }
}

lua_fn! {
    /// `redis.replicate_commands()`: effects are always replicated in 7.0.
    fn replicate_commands(l) {
        // SAFETY: called by Lua.
        unsafe { ffi::lua_pushboolean(l, 1) };
        Ret::Values(1)
    }
}

lua_fn! {
    /// `math.random([m [, n]])`, Lua's own algorithm on Redis's rand48.
    fn math_random(l) {
        // SAFETY: called by Lua.
        unsafe {
            let sh = vm::shared(l);
            if sh.run.get().is_null() {
                return lua::raise_msg(l, b"math.random can only be called inside a script invocation");
            }
            let r = (rand48::next() % rand48::MAX) as f64 / rand48::MAX as f64;
            let v = match ffi::lua_gettop(l) {
                0 => r,
                1 => {
                    let u = match lua::check_int(l, 1) {
                        Ok(u) => u,
                        Err(e) => return e,
                    };
                    if u < 1 {
                        return lua::arg_error(l, 1, "interval is empty");
                    }
                    (r * f64::from(u)).floor() + 1.0
                }
                2 => {
                    let lo = match lua::check_int(l, 1) {
                        Ok(v) => v,
                        Err(e) => return e,
                    };
                    let up = match lua::check_int(l, 2) {
                        Ok(v) => v,
                        Err(e) => return e,
                    };
                    if lo > up {
                        return lua::arg_error(l, 2, "interval is empty");
                    }
                    (r * (f64::from(up) - f64::from(lo) + 1.0)).floor() + f64::from(lo)
                }
                _ => return lua::raise_msg(l, b"wrong number of arguments"),
            };
            ffi::lua_pushnumber(l, v);
            Ret::Values(1)
        }
    }
}

lua_fn! {
    /// `math.randomseed(n)`.
    fn math_randomseed(l) {
        // SAFETY: called by Lua.
        unsafe {
            let sh = vm::shared(l);
            if sh.run.get().is_null() {
                return lua::raise_msg(
                    l,
                    b"math.randomseed can only be called inside a script invocation",
                );
            }
            match lua::check_int(l, 1) {
                Ok(n) => rand48::seed(n),
                Err(e) => return e,
            }
            Ret::Values(0)
        }
    }
}
