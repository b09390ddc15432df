//! One Lua state set up as Redis 7.0 sets up its two interpreters (EVAL's
//! and the functions'): the libraries it loads, the `redis` table, the
//! error handler that adds a script's source and line to its errors, and
//! the protections — reading an undeclared global is an error, and the
//! globals, every table reachable from them and the basic types'
//! metatables are read-only.
//!
//! The functions state differs in three ways, as in Redis: its globals
//! are an empty read-only table whose metatable sends reads to the real
//! globals, or, while FUNCTION LOAD runs a library's code, to a small API
//! (`redis.register_function`, `redis.log`, the log levels and the
//! version); its error handler lives in the registry rather than in a
//! global; and `redis.breakpoint`/`debug`/`replicate_commands` are EVAL's
//! only.

use super::lua::{self, ffi, lua_fn, Ret, State};
use super::run::RunCtx;
use std::cell::{Cell, RefCell};
use std::ffi::CStr;
use std::os::raw::c_int;

/// Which interpreter: EVAL's, or the one function libraries live in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Eval,
    Functions,
}

/// What the Rust functions of one Lua state share; reached from any of
/// its threads through the allocator's user data ([`shared`]).
pub struct Shared {
    pub kind: Kind,
    /// The run in progress (null between runs): see `run::RunCtx`.
    pub run: Cell<*mut RunCtx>,
    /// Set while FUNCTION LOAD runs a library's code: what it registers.
    pub loading: RefCell<Option<super::functions::LoadCtx>>,
    /// `cjson`'s settings (`cjson.encode_max_depth(...)` and friends),
    /// per state as lua-cjson keeps them.
    pub cjson: Cell<super::libs::cjson::Config>,
    /// Registry references: the error handler; for the functions state,
    /// the library-loading globals and the real globals.
    handler: Cell<c_int>,
    library_api: Cell<c_int>,
    real_globals: Cell<c_int>,
    deprecated_api: bool,
}

/// The [`Shared`] of the state `l` belongs to.
///
/// # Safety
/// `l` must be a thread of a state created by [`Vm::new`], which keeps
/// its `Shared` alive as long as the state.
#[inline]
pub unsafe fn shared<'a>(l: State) -> &'a Shared {
    &*(lua::user_data(l) as *const Shared)
}

pub struct Vm {
    l: State,
    shared: Box<Shared>,
}

impl Drop for Vm {
    fn drop(&mut self) {
        // SAFETY: the state is ours and no script runs (a run borrows the
        // engine that owns this Vm).
        unsafe { ffi::lua_close(self.l) };
    }
}

/// The globals scripts may see after set-up, besides the libraries and
/// `redis` (Lua's base library minus `print`, `dofile` and `loadfile`;
/// `newproxy`, `setfenv` and `getfenv` only with
/// `lua-enable-deprecated-api`).
const DEPRECATED: [&CStr; 3] = [c"newproxy", c"setfenv", c"getfenv"];
const DENIED: [&CStr; 3] = [c"print", c"dofile", c"loadfile"];

impl Vm {
    pub fn new(kind: Kind, deprecated_api: bool) -> Result<Vm, String> {
        let shared = Box::new(Shared {
            kind,
            run: Cell::new(std::ptr::null_mut()),
            loading: RefCell::new(None),
            cjson: Cell::new(super::libs::cjson::Config::default()),
            handler: Cell::new(0),
            library_api: Cell::new(0),
            real_globals: Cell::new(0),
            deprecated_api,
        });
        let ud = &*shared as *const Shared as *mut std::os::raw::c_void;
        // SAFETY: `shared` is boxed and moved into the Vm with the state,
        // so it outlives it.
        let l = unsafe { lua::new_state(ud) }.ok_or("cannot create a Lua state")?;
        let vm = Vm { l, shared };
        // SAFETY: set-up runs in a protected call on the fresh state.
        let status = unsafe { ffi::lua_cpcall(l, setup, std::ptr::null_mut()) };
        if status != 0 {
            // SAFETY: the error message is on top of the stack.
            let msg = unsafe { lua::to_bytes(l, -1) }.unwrap_or(b"?");
            return Err(String::from_utf8_lossy(msg).into_owned());
        }
        Ok(vm)
    }

    #[inline]
    pub fn state(&self) -> State {
        self.l
    }

    #[inline]
    pub fn shared(&self) -> &Shared {
        &self.shared
    }

    /// The registry reference of the error handler.
    #[inline]
    pub fn handler_ref(&self) -> c_int {
        self.shared.handler.get()
    }

    /// Bytes the state holds, as Redis counts them (`used_memory_vm_*`,
    /// `used_memory_lua`): Lua's own count, in whole kilobytes.
    pub fn memory(&self) -> usize {
        // SAFETY: a query on our state.
        unsafe { ffi::lua_gc(self.l, ffi::LUA_GCCOUNT, 0) as usize * 1024 }
    }

    /// One step of the collector (Redis's LUA_GC_CYCLE_PERIOD step).
    pub fn gc_step(&self, size: c_int) {
        // SAFETY: no `__gc` can raise unless the deprecated API is on (see
        // `lua`), and then the error stops at the panic handler.
        unsafe { ffi::lua_gc(self.l, ffi::LUA_GCSTEP, size) };
    }

    /// Compiles `code` as a chunk named `name` (`@user_script`,
    /// `@user_function`) and keeps it in the registry; returns its
    /// reference, or Lua's message.
    pub fn compile(&self, code: &[u8], name: &CStr) -> Result<c_int, Vec<u8>> {
        // SAFETY: `luaL_loadbuffer` catches its own errors; the stack is
        // left as found.
        unsafe {
            let l = self.l;
            if ffi::luaL_loadbuffer(l, code.as_ptr() as *const _, code.len(), name.as_ptr()) != 0 {
                let msg = lua::to_bytes(l, -1).unwrap_or_default().to_vec();
                ffi::lua_pop(l, 1);
                return Err(msg);
            }
            Ok(ffi::luaL_ref(l, ffi::LUA_REGISTRYINDEX))
        }
    }

    /// Releases a registry reference from [`Vm::compile`] or a registered
    /// function.
    pub fn unref(&self, r: c_int) {
        // SAFETY: plain registry operation on our state.
        unsafe { ffi::luaL_unref(self.l, ffi::LUA_REGISTRYINDEX, r) };
    }

    /// Functions state: library code sees the load API (`true`),
    /// functions the real globals (`false`).
    pub fn set_load_mode(&self, on: bool) {
        if self.shared.kind != Kind::Functions {
            return;
        }
        let target = if on {
            self.shared.library_api.get()
        } else {
            self.shared.real_globals.get()
        };
        // SAFETY: raw operations on tables we created; the stack is left
        // as found.
        unsafe {
            let l = self.l;
            ffi::lua_getmetatable(l, ffi::LUA_GLOBALSINDEX);
            lua::lua_enablereadonlytable(l, -1, 0);
            ffi::lua_rawgeti_(l, ffi::LUA_REGISTRYINDEX, target);
            lua::raw_set_field(l, -2, c"__index");
            lua::lua_enablereadonlytable(l, -1, 1);
            ffi::lua_pop(l, 1);
        }
    }
}

/// The error handler, in Lua: the error becomes a table `{err=...}` (a
/// string gets `ERR `), with the source and line of the code that raised
/// it — level 2 is where the error was raised, and when that is a C
/// function (`redis.call`), level 3 is the script calling it. It also
/// takes the `debug` library away from scripts.
const HANDLER: &str = "\
local getinfo = debug.getinfo
debug = nil
local function handle(e)
  local at = getinfo(2, 'nSl')
  if at and at.what == 'C' then at = getinfo(3, 'nSl') end
  if type(e) ~= 'table' then e = {err = 'ERR ' .. tostring(e)} end
  if at then
    e['source'] = at.source
    e['line'] = at.currentline
  end
  return e
end
return handle
";

lua_fn! {
    /// Builds a state (run under `lua_cpcall`: an error here is a bug and
    /// comes back as the call's status).
    fn setup(l) {
        // SAFETY: runs on a fresh state inside a protected call; every
        // step uses our own tables and code.
        unsafe {
            let sh = shared(l);
            ffi::lua_settop(l, 0);
            for (open, name) in [
                (ffi::luaopen_base as ffi::lua_CFunction, c""),
                (ffi::luaopen_table, c"table"),
                (ffi::luaopen_string, c"string"),
                (ffi::luaopen_math, c"math"),
                (ffi::luaopen_debug, c"debug"),
            ] {
                ffi::lua_pushcclosure(l, open, 0);
                lua::push_cstr(l, name);
                ffi::lua_call(l, 1, 0);
            }
            super::libs::open_all(l);
            for name in DENIED {
                ffi::lua_pushnil(l);
                ffi::lua_setfield(l, ffi::LUA_GLOBALSINDEX, name.as_ptr());
            }
            if !sh.deprecated_api {
                for name in DEPRECATED {
                    ffi::lua_pushnil(l);
                    ffi::lua_setfield(l, ffi::LUA_GLOBALSINDEX, name.as_ptr());
                }
            }
            super::api::register(l, sh.kind);

            // The error handler (this also removes `debug`).
            if ffi::luaL_loadbuffer(l, HANDLER.as_ptr() as *const _, HANDLER.len(), c"@err_handler_def".as_ptr()) != 0 {
                return Ret::Raise;
            }
            ffi::lua_call(l, 0, 1);
            if sh.kind == Kind::Eval {
                ffi::lua_pushvalue(l, -1);
                ffi::lua_setfield(l, ffi::LUA_GLOBALSINDEX, c"__redis__err__handler".as_ptr());
            }
            sh.handler.set(ffi::luaL_ref(l, ffi::LUA_REGISTRYINDEX));

            if sh.kind == Kind::Functions {
                // What library code sees while FUNCTION LOAD runs it.
                ffi::lua_createtable(l, 0, 1);
                ffi::lua_createtable(l, 0, 8);
                lua::set_fn(l, -1, c"register_function", super::functions::register_function);
                super::api::register_log(l, -1);
                super::api::register_version(l, -1);
                error_metatable(l, -1);
                lua::raw_set_field(l, -2, c"redis");
                error_metatable(l, -1);
                protect_recursively(l, -1);
                sh.library_api.set(ffi::luaL_ref(l, ffi::LUA_REGISTRYINDEX));
            }

            error_metatable(l, ffi::LUA_GLOBALSINDEX);
            ffi::lua_pushvalue(l, ffi::LUA_GLOBALSINDEX);
            protect_recursively(l, -1);
            ffi::lua_pop(l, 1);

            if sh.kind == Kind::Functions {
                ffi::lua_pushvalue(l, ffi::LUA_GLOBALSINDEX);
                sh.real_globals.set(ffi::luaL_ref(l, ffi::LUA_REGISTRYINDEX));
                // The globals functions and library code run with: empty,
                // read-only, reads going to the real globals (or to the
                // load API while a library loads).
                ffi::lua_createtable(l, 0, 0);
                ffi::lua_createtable(l, 0, 1);
                ffi::lua_pushvalue(l, ffi::LUA_GLOBALSINDEX);
                lua::raw_set_field(l, -2, c"__index");
                lua::lua_enablereadonlytable(l, -1, 1);
                ffi::lua_setmetatable(l, -2);
                lua::lua_enablereadonlytable(l, -1, 1);
                ffi::lua_replace(l, ffi::LUA_GLOBALSINDEX);
            }
            protect_basic_types(l);
            ffi::lua_settop(l, 0);
        }
        Ret::Values(0)
    }
}

lua_fn! {
    /// `__index` of the protected tables: reading a missing name is an
    /// error (Redis's `luaProtectedTableError`).
    fn undeclared_global(l) {
        // SAFETY: called by Lua as a metamethod with (table, key).
        unsafe {
            if ffi::lua_gettop(l) != 2 {
                return lua::raise_msg(l, b"Wrong number of arguments to luaProtectedTableError");
            }
            let Some(name) = lua::to_bytes(l, -1) else {
                return lua::raise_msg(
                    l,
                    b"Second argument to luaProtectedTableError must be a string or number",
                );
            };
            let mut msg = b"Script attempted to access nonexistent global variable '".to_vec();
            // `%s` in Redis's format: the name up to a NUL.
            msg.extend(name.iter().take_while(|&&b| b != 0));
            msg.push(b'\'');
            lua::raise_msg(l, &msg)
        }
    }
}

/// Gives the table at `idx` a metatable whose `__index` raises for
/// missing names.
///
/// # Safety
/// `idx` must index a writable table; three free slots.
unsafe fn error_metatable(l: State, idx: c_int) {
    let idx = lua::abs_index(l, idx);
    ffi::lua_createtable(l, 0, 1);
    ffi::lua_pushcclosure(l, undeclared_global, 0);
    lua::raw_set_field(l, -2, c"__index");
    ffi::lua_setmetatable(l, idx);
}

/// Marks the table at `idx` read-only, and every table reachable from it
/// (values and metatables), as Redis's `luaSetTableProtectionRecursively`.
///
/// # Safety
/// `idx` must index a table; the stack must have room for three values
/// per level of nesting.
unsafe fn protect_recursively(l: State, idx: c_int) {
    let idx = lua::abs_index(l, idx);
    if lua::lua_isreadonlytable(l, idx) != 0 {
        return;
    }
    lua::lua_enablereadonlytable(l, idx, 1);
    ffi::lua_checkstack(l, 3);
    ffi::lua_pushnil(l);
    while ffi::lua_next(l, idx) != 0 {
        if ffi::lua_type(l, -1) == ffi::LUA_TTABLE {
            protect_recursively(l, -1);
        }
        ffi::lua_pop(l, 1);
    }
    if ffi::lua_getmetatable(l, idx) != 0 {
        protect_recursively(l, -1);
        ffi::lua_pop(l, 1);
    }
}

/// Read-only metatables for the basic types that have one (strings, in
/// Lua 5.1).
///
/// # Safety
/// Two free slots.
unsafe fn protect_basic_types(l: State) {
    ffi::lua_pushstring_(l, c"".as_ptr());
    ffi::lua_pushnumber(l, 0.0);
    ffi::lua_pushboolean(l, 0);
    ffi::lua_pushnil(l);
    ffi::lua_pushlightuserdata(l, l as *mut _);
    for _ in 0..5 {
        if ffi::lua_getmetatable(l, -1) != 0 {
            protect_recursively(l, -1);
            ffi::lua_pop(l, 1);
        }
        ffi::lua_pop(l, 1);
    }
}
