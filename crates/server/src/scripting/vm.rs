//! One Lua state set up as Redis 7.0 sets up its interpreters: the
//! libraries it loads, the `redis` table, the error handler that adds a
//! script's source and line to its errors, and the protections (globals
//! that cannot be read when undeclared or written at all, read-only
//! libraries and metatables of the basic types).
//!
//! The API functions that can fail are written in Rust and return their
//! error as a value; a thin Lua wrapper raises it, because Redis raises
//! tables (`{err="..."}`) that scripts catch with `pcall`, and a Rust
//! callback can only raise mlua's own error objects.

use super::run::RunCtx;
use mlua::{Function, Lua, LuaOptions, StdLib, Table, Value};
use std::cell::{Cell, RefCell};
use std::os::raw::c_int;
use std::rc::Rc;

unsafe extern "C-unwind" {
    // Added to the vendored Lua (see vendor/lua-src/REDOUBT.md).
    fn lua_enablereadonlytable(state: *mut mlua::ffi::lua_State, idx: c_int, enabled: c_int);
    fn lua_isreadonlytable(state: *mut mlua::ffi::lua_State, idx: c_int) -> c_int;
}

/// Which interpreter: EVAL's, or the one function libraries live in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Eval,
    Functions,
}

/// State the Rust callbacks of one Lua state share.
#[derive(Default)]
pub struct Shared {
    /// The run in progress (null between runs).
    pub run: Cell<*mut RunCtx>,
    /// The text of an error raised from Rust (a kill, a library error),
    /// which reaches Lua as an opaque mlua object: the error handler and
    /// `pcall` put this text (a Lua error string, without `ERR `) in its
    /// place.
    pub pending_error: RefCell<Option<String>>,
    /// The state of `math.random` (Redis's rand48, the same sequence for
    /// the same seed on every platform).
    pub rand48: Cell<u64>,
    /// Set while FUNCTION LOAD runs a library's code: what it registers.
    pub loading: RefCell<Option<super::functions::LoadCtx>>,
}

pub struct Vm {
    pub lua: Lua,
    pub shared: Rc<Shared>,
    /// Runs a function under the error handler: `runner(f)` for EVAL,
    /// `runner(f, keys, args)` for FCALL; returns `ok, result`.
    pub runner: Function,
    /// Functions VM only: what the globals fall back to.
    fallback: Option<Fallback>,
}

/// The functions VM's globals: an empty read-only table whose metatable
/// (`mt`) sends reads to the real globals, or to the load API while
/// FUNCTION LOAD runs a library's code.
struct Fallback {
    mt: Table,
    real: Table,
    load: Table,
}

impl Vm {
    pub fn new(kind: Kind, deprecated_api: bool) -> mlua::Result<Vm> {
        // `debug` is loaded only to build the error handler, then removed
        // from the globals, as Redis does.
        let libs = StdLib::TABLE | StdLib::STRING | StdLib::MATH | StdLib::DEBUG;
        let options = LuaOptions::new().catch_rust_panics(false);
        // SAFETY: the debug library is needed by the error handler only;
        // scripts never see it (it is removed below).
        let lua = unsafe { Lua::unsafe_new_with(libs, options) };
        let shared = Rc::new(Shared::default());
        shared.rand48.set(super::libs::rand48::seed(0));
        let hook_shared = shared.clone();
        lua.set_hook(
            mlua::HookTriggers::new().every_nth_instruction(super::busy::HOOK_PERIOD),
            move |_, _| super::busy::hook(&hook_shared),
        )?;
        let raw = lua.create_table()?;
        raw.set(
            "raising",
            lua.create_function(|lua, f: Function| raising(lua, f))?,
        )?;
        super::call::register(&lua, &raw, &shared)?;
        super::libs::register(&lua, &raw, &shared)?;
        raw.set("deprecated_api", deprecated_api)?;
        raw.set("functions", kind == Kind::Functions)?;
        if kind == Kind::Functions {
            super::functions::register_api(&lua, &raw, &shared)?;
        }
        let exports: Table = lua.load(PRELUDE).set_name("=redoubt").call(raw)?;
        let runner: Function = exports.get("runner")?;
        // Everything reachable from the globals becomes read-only, and so
        // do the metatables of strings and the other basic types.
        let globals = lua.globals();
        let load_api: Value = exports.get("load_api")?;
        // SAFETY: plain stack operations on the state mlua owns; the closure
        // runs inside mlua's protected call.
        unsafe {
            lua.exec_raw::<()>((globals, load_api), |state| {
                protect_recursively(state, -2);
                if mlua::ffi::lua_istable(state, -1) != 0 {
                    protect_recursively(state, -1);
                }
                protect_basic_types(state);
            })?;
        }
        let mut fallback = None;
        if kind == Kind::Functions {
            // The globals library code and functions see: an empty
            // read-only table whose fallback (`__index`) is switched
            // between the load API and the real globals.
            let real: Table = exports.get("real_globals")?;
            let load: Table = exports.get("load_api")?;
            let mt = lua.create_table()?;
            mt.raw_set("__index", real.clone())?;
            let new_globals = lua.create_table()?;
            new_globals.set_metatable(Some(mt.clone()))?;
            // SAFETY: stack operations inside mlua's protected call.
            unsafe {
                lua.exec_raw::<()>((new_globals, mt.clone()), |state| {
                    lua_enablereadonlytable(state, -1, 1);
                    lua_enablereadonlytable(state, -2, 1);
                    mlua::ffi::lua_pushvalue(state, -2);
                    mlua::ffi::lua_replace(state, mlua::ffi::LUA_GLOBALSINDEX);
                })?;
            }
            fallback = Some(Fallback { mt, real, load });
        }
        Ok(Vm {
            lua,
            shared,
            runner,
            fallback,
        })
    }

    /// Bytes the Lua state holds (`used_memory_vm_*`).
    pub fn memory(&self) -> usize {
        self.lua.used_memory()
    }

    /// Sets `KEYS` and `ARGV` for an EVAL script: the only writes to the
    /// globals, done with the protection lifted for the moment.
    pub fn set_keys_argv<'a>(
        &self,
        keys: impl ExactSizeIterator<Item = &'a [u8]>,
        args: impl ExactSizeIterator<Item = &'a [u8]>,
    ) -> mlua::Result<()> {
        // SAFETY: stack operations on the state mlua owns, inside its
        // protected call; strings are copied by Lua.
        unsafe {
            self.lua.exec_raw::<()>((), |state| {
                use mlua::ffi;
                ffi::lua_createtable(state, keys.len() as c_int, 0);
                for (i, k) in keys.enumerate() {
                    ffi::lua_pushlstring(state, k.as_ptr() as *const _, k.len());
                    ffi::lua_rawseti(state, -2, i as i64 + 1);
                }
                ffi::lua_createtable(state, args.len() as c_int, 0);
                for (i, a) in args.enumerate() {
                    ffi::lua_pushlstring(state, a.as_ptr() as *const _, a.len());
                    ffi::lua_rawseti(state, -2, i as i64 + 1);
                }
                lua_enablereadonlytable(state, ffi::LUA_GLOBALSINDEX, 0);
                ffi::lua_setfield(state, ffi::LUA_GLOBALSINDEX, c"ARGV".as_ptr());
                ffi::lua_setfield(state, ffi::LUA_GLOBALSINDEX, c"KEYS".as_ptr());
                lua_enablereadonlytable(state, ffi::LUA_GLOBALSINDEX, 1);
            })
        }
    }

    /// Functions VM: library code sees the load API (`true`), functions
    /// the real globals (`false`).
    pub fn set_load_mode(&self, on: bool) -> mlua::Result<()> {
        let Some(f) = &self.fallback else {
            return Ok(());
        };
        let target = if on { f.load.clone() } else { f.real.clone() };
        // SAFETY: stack operations inside mlua's protected call.
        unsafe {
            self.lua.exec_raw::<()>((f.mt.clone(), target), |state| {
                lua_enablereadonlytable(state, -2, 0);
                mlua::ffi::lua_setfield(state, -2, c"__index".as_ptr());
                lua_enablereadonlytable(state, -1, 1);
            })
        }
    }

    /// Takes the text of an error raised from Rust, if any.
    pub fn take_pending_error(&self) -> Option<String> {
        self.shared.pending_error.borrow_mut().take()
    }
}

/// Wraps `f` (which returns `value, nil` or `nil, error`) in a C function
/// that returns the value or raises the error, as Redis's C functions do.
/// Being a C function matters: a Lua wrapper would replace the script's
/// frame in `return redis.call(...)` (a tail call), and the error would
/// lose the script's line.
fn raising(lua: &Lua, f: Function) -> mlua::Result<Function> {
    // SAFETY: stack operations inside mlua's protected call; the closure
    // keeps `f` as its upvalue.
    unsafe {
        lua.exec_raw::<Function>(f, |state| {
            mlua::ffi::lua_pushcclosure(state, raise_or_return, 1);
        })
    }
}

/// The body of [`raising`]'s closures. It holds no Rust values with
/// destructors, so `lua_error`'s jump out of it skips nothing.
unsafe extern "C-unwind" fn raise_or_return(state: *mut mlua::ffi::lua_State) -> c_int {
    use mlua::ffi;
    let n = ffi::lua_gettop(state);
    ffi::lua_pushvalue(state, ffi::lua_upvalueindex(1));
    ffi::lua_insert(state, 1);
    ffi::lua_call(state, n, 2);
    if ffi::lua_type(state, -1) != ffi::LUA_TNIL {
        ffi::lua_error(state);
    }
    ffi::lua_pop(state, 1);
    1
}

/// Marks the table at `idx` read-only, and every table reachable from it
/// (values and metatables), as Redis's `luaSetTableProtectionRecursively`.
unsafe fn protect_recursively(state: *mut mlua::ffi::lua_State, idx: c_int) {
    use mlua::ffi;
    let idx = if idx < 0 {
        ffi::lua_gettop(state) + idx + 1
    } else {
        idx
    };
    if lua_isreadonlytable(state, idx) != 0 {
        return;
    }
    lua_enablereadonlytable(state, idx, 1);
    ffi::lua_pushnil(state);
    while ffi::lua_next(state, idx) != 0 {
        if ffi::lua_istable(state, -1) != 0 {
            protect_recursively(state, -1);
        }
        ffi::lua_pop(state, 1);
    }
    if ffi::lua_getmetatable(state, idx) != 0 {
        protect_recursively(state, -1);
        ffi::lua_pop(state, 1);
    }
}

/// Read-only metatables for the basic types that have one (strings).
unsafe fn protect_basic_types(state: *mut mlua::ffi::lua_State) {
    use mlua::ffi;
    ffi::lua_pushstring(state, c"".as_ptr());
    ffi::lua_pushnumber(state, 0.0);
    ffi::lua_pushboolean(state, 0);
    ffi::lua_pushnil(state);
    for _ in 0..4 {
        if ffi::lua_getmetatable(state, -1) != 0 {
            protect_recursively(state, -1);
            ffi::lua_pop(state, 1);
        }
        ffi::lua_pop(state, 1);
    }
}

/// The Lua side of the set-up, run once per state with the Rust
/// primitives in `raw`. Its chunk name (`=redoubt`) marks its frames, which
/// the error handler skips when it looks for the script's line.
const PRELUDE: &str = r#"
local raw = ...
local dbg = debug
local getinfo = dbg.getinfo
local type, tostring, error, rawget, setmetatable = type, tostring, error, rawget, setmetatable
local builtin_pcall, builtin_xpcall = pcall, xpcall
local take_error, killed = raw.take_error, raw.killed

debug = nil
loadfile, dofile, print = nil, nil, nil
if not raw.deprecated_api then setfenv, getfenv, newproxy = nil, nil, nil end

-- Redis's error handler: the error becomes a table {err=...} with the
-- source and line of the script code that raised it.
local function handler(err)
  local t = type(err)
  if t == 'userdata' then
    local text = take_error()
    err = {err = 'ERR ' .. (text or tostring(err))}
  elseif t ~= 'table' then
    err = {err = 'ERR ' .. tostring(err)}
  end
  local level = 2
  while true do
    local i = getinfo(level, 'nSl')
    if not i then break end
    if i.what ~= 'C' and i.source ~= '=redoubt' then
      err['source'] = i.source
      err['line'] = i.currentline
      break
    end
    level = level + 1
  end
  return err
end

local exports = {}
function exports.runner(f, keys, args)
  if keys == nil then return builtin_xpcall(f, handler) end
  return builtin_xpcall(function() return f(keys, args) end, handler)
end

-- Redis 7's pcall: a caught error table becomes its message, so scripts
-- written for Redis 6 keep working. A killed script is not caught.
local function caught(ok, ...)
  if ok then return ok, ... end
  local e = ...
  if killed() then error(e, 0) end
  local t = type(e)
  if t == 'table' then
    local m = e.err
    if type(m) == 'string' or type(m) == 'number' then e = m end
  elseif t == 'userdata' then
    local text = take_error()
    if text then e = text end
  end
  return false, e
end
pcall = function(...) return caught(builtin_pcall(...)) end
local function xcaught(ok, ...)
  if not ok and killed() then error((...), 0) end
  return ok, ...
end
xpcall = function(f, h) return xcaught(builtin_xpcall(f, h)) end

local raising = raw.raising

local redis = {}
redis.call = raising(raw.call)
redis.pcall = raw.pcall
redis.sha1hex = raising(raw.sha1hex)
redis.error_reply = raw.error_reply
redis.status_reply = raw.status_reply
redis.log = raising(raw.log)
redis.setresp = raising(raw.setresp)
redis.set_repl = raising(raw.set_repl)
redis.acl_check_cmd = raising(raw.acl_check_cmd)
redis.replicate_commands = function() return true end
redis.breakpoint = function() return false end
redis.debug = function() end
redis.LOG_DEBUG, redis.LOG_VERBOSE, redis.LOG_NOTICE, redis.LOG_WARNING = 0, 1, 2, 3
redis.REPL_NONE, redis.REPL_AOF, redis.REPL_SLAVE, redis.REPL_REPLICA, redis.REPL_ALL = 0, 1, 2, 2, 3
redis.REDIS_VERSION = raw.version
redis.REDIS_VERSION_NUM = raw.version_num

math.random = raising(raw.random)
math.randomseed = raising(raw.randomseed)

cjson = raw.cjson
struct = raw.struct
cmsgpack = raw.cmsgpack
bit = raw.bit

-- Reading an undeclared global is an error.
local function undeclared(_, name)
  error("Script attempted to access nonexistent global variable '" .. tostring(name) .. "'", 2)
end

if not raw.functions then
  _G.redis = redis
  setmetatable(_G, {__index = undeclared})
  return exports
end

-- Functions: library code runs with a minimal API (register_function,
-- log and the version), functions with everything above.
local load_api = {
  register_function = raising(raw.register_function),
  log = redis.log,
  LOG_DEBUG = 0, LOG_VERBOSE = 1, LOG_NOTICE = 2, LOG_WARNING = 3,
  REDIS_VERSION = raw.version,
  REDIS_VERSION_NUM = raw.version_num,
}
setmetatable(load_api, {__index = undeclared})
local load_globals = setmetatable({redis = load_api}, {__index = undeclared})
exports.load_api = load_globals
_G.redis = redis
setmetatable(_G, {__index = undeclared})
exports.real_globals = _G
return exports
"#;
