//! Function libraries (Redis 7.0's `functions.c` and `function_lua.c`).
//!
//! A library is Lua code whose first line names it (`#!lua name=mylib`);
//! FUNCTION LOAD runs that code once in the functions' Lua state, where
//! the globals fall back to a minimal API (`redis.register_function`,
//! `redis.log`, the version), with a 500 ms limit; the functions it
//! registers are kept by name. Functions run with the full API. Libraries
//! are part of the dataset: saved in RDB files (`FUNCTION2` records with
//! their code), loaded back by running the code again, sent with full
//! syncs, and FUNCTION LOAD/DELETE/FLUSH/RESTORE are propagated.

use super::convert::ErrorInfo;
use super::flags as sflags;
use super::lua::{self, ffi, lua_fn, Ret, State};
use super::vm::{self, Kind, Shared, Vm};
use crate::errors;
use std::collections::{BTreeMap, HashMap};
use std::os::raw::c_int;
use std::time::Instant;

/// How long a library's code may run at FUNCTION LOAD (Redis's
/// LOAD_TIMEOUT_MS); 0 for code from our master or the AOF.
pub const LOAD_TIMEOUT_MS: u64 = 500;

/// A registered function.
pub struct FunctionInfo {
    pub name: String,
    pub description: Option<String>,
    pub flags: u32,
    /// The callback's registry reference in the functions' state.
    pub func: c_int,
    pub library: String,
}

pub struct Library {
    pub name: String,
    /// The whole payload as loaded, shebang line included.
    pub code: Vec<u8>,
    /// Function names, sorted.
    pub functions: Vec<String>,
}

/// What the library code registers while FUNCTION LOAD runs it.
pub struct LoadCtx {
    pub functions: Vec<FunctionInfo>,
    pub start: Instant,
    pub timeout_ms: u64,
    pub library: String,
}

pub struct Functions {
    pub vm: Vm,
    pub libraries: BTreeMap<String, Library>,
    /// By lower-cased name: function names are case-insensitive (library
    /// names are not), as in Redis.
    pub functions: HashMap<String, FunctionInfo>,
    /// A function runs in `vm` now (see [`Functions::flush`]).
    pub in_use: bool,
    deprecated_api: bool,
}

/// Library and function names: letters, digits and underscores.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_')
}

/// The metadata line of a library: its engine and name; returns the code
/// after the line (its newline kept).
fn metadata(payload: &[u8]) -> Result<(String, String, usize), String> {
    if !payload.starts_with(b"#!") {
        return Err(errors::FN_METADATA_MISSING.into());
    }
    let Some(end) = payload.iter().position(|&b| b == b'\n') else {
        return Err(errors::FN_METADATA_INVALID.into());
    };
    let parts = match resp::split_args::split_args_owned(&payload[..end]) {
        Ok(p) if !p.is_empty() => p,
        _ => return Err(errors::FN_METADATA_INVALID.into()),
    };
    let engine = String::from_utf8_lossy(&parts[0][2..]).into_owned();
    let mut name: Option<String> = None;
    for p in &parts[1..] {
        if p.len() >= 5 && p[..5].eq_ignore_ascii_case(b"name=") {
            if name.is_some() {
                return Err(errors::FN_NAME_TWICE.into());
            }
            name = Some(String::from_utf8_lossy(&p[5..]).into_owned());
            continue;
        }
        return Err(errors::fn_metadata_value(&String::from_utf8_lossy(p)));
    }
    let Some(name) = name else {
        return Err(errors::FN_NAME_MISSING.into());
    };
    Ok((engine, name, end))
}

impl Functions {
    pub fn new(deprecated_api: bool) -> Functions {
        Functions {
            vm: new_vm(deprecated_api),
            libraries: BTreeMap::new(),
            functions: HashMap::new(),
            in_use: false,
            deprecated_api,
        }
    }

    /// FUNCTION LOAD: compiles and runs `payload`, and links the library.
    /// Returns the library's name, or the error text (without its code).
    pub fn load(
        &mut self,
        payload: &[u8],
        replace: bool,
        timeout_ms: u64,
    ) -> Result<String, String> {
        let (engine, name, shebang_end) = metadata(payload)?;
        if !valid_name(&name) {
            return Err(errors::FN_BAD_NAME.into());
        }
        if !engine.eq_ignore_ascii_case("lua") {
            return Err(errors::fn_engine_not_found(&engine));
        }
        if self.libraries.contains_key(&name) && !replace {
            return Err(errors::fn_library_exists(&name));
        }
        let registered = self.run_library_code(&name, &payload[shebang_end..], timeout_ms)?;
        if registered.is_empty() {
            return Err(errors::FN_NONE_REGISTERED.into());
        }
        for f in &registered {
            if let Some(existing) = self.functions.get(&f.name.to_ascii_lowercase()) {
                if existing.library != name {
                    let msg = errors::fn_function_exists(&f.name);
                    self.release(&registered);
                    return Err(msg);
                }
            }
        }
        self.delete(&name);
        let mut names: Vec<String> = registered.iter().map(|f| f.name.clone()).collect();
        names.sort();
        for f in registered {
            // Two names of one library differing only in case: the
            // server-wide (case-insensitive) lookup keeps the first.
            match self.functions.entry(f.name.to_ascii_lowercase()) {
                std::collections::hash_map::Entry::Vacant(v) => {
                    v.insert(f);
                }
                std::collections::hash_map::Entry::Occupied(_) => self.vm.unref(f.func),
            }
        }
        self.libraries.insert(
            name.clone(),
            Library {
                name: name.clone(),
                code: payload.to_vec(),
                functions: names,
            },
        );
        Ok(name)
    }

    /// Runs a library's code with the load API (Redis's `luaEngineCreate`);
    /// returns what it registered.
    fn run_library_code(
        &mut self,
        name: &str,
        code: &[u8],
        timeout_ms: u64,
    ) -> Result<Vec<FunctionInfo>, String> {
        self.vm.set_load_mode(true);
        let result = self.run_in_load_mode(name, code, timeout_ms);
        self.vm.set_load_mode(false);
        result
    }

    fn run_in_load_mode(
        &mut self,
        name: &str,
        code: &[u8],
        timeout_ms: u64,
    ) -> Result<Vec<FunctionInfo>, String> {
        let chunk = self
            .vm
            .compile(code, c"@user_function")
            .map_err(|e| errors::fn_compile(&String::from_utf8_lossy(&e)))?;
        *self.vm.shared().loading.borrow_mut() = Some(LoadCtx {
            functions: Vec::new(),
            start: Instant::now(),
            timeout_ms,
            library: name.to_string(),
        });
        let l = self.vm.state();
        // SAFETY: a protected call on our state; the stack is left as found.
        let failure = unsafe {
            ffi::lua_rawgeti_(l, ffi::LUA_REGISTRYINDEX, chunk);
            self.vm.unref(chunk);
            ffi::lua_sethook(
                l,
                Some(super::busy::hook),
                ffi::LUA_MASKCOUNT,
                super::run::HOOK_PERIOD,
            );
            let status = ffi::lua_pcall(l, 0, 0, 0);
            ffi::lua_sethook(l, None, 0, 0);
            if status != 0 {
                let info = ErrorInfo::extract(l);
                ffi::lua_pop(l, 1);
                Some(info.msg)
            } else {
                None
            }
        };
        let ctx = self.vm.shared().loading.borrow_mut().take();
        let registered = ctx.map(|c| c.functions).unwrap_or_default();
        if let Some(msg) = failure {
            self.release(&registered);
            return Err(errors::fn_registering(&String::from_utf8_lossy(&msg)));
        }
        Ok(registered)
    }

    /// Drops the Lua side of functions that will not be kept.
    fn release(&self, functions: &[FunctionInfo]) {
        for f in functions {
            self.vm.unref(f.func);
        }
    }

    /// Removes a library and its functions; whether it existed.
    pub fn delete(&mut self, name: &str) -> bool {
        let Some(lib) = self.libraries.remove(name) else {
            return false;
        };
        for f in &lib.functions {
            if let Some(info) = self.functions.remove(&f.to_ascii_lowercase()) {
                self.vm.unref(info.func);
            }
        }
        true
    }

    /// FUNCTION FLUSH: every library goes, with a fresh Lua state.
    /// Inside a running function (a `DEBUG RELOAD` with `DEBUG
    /// SET-DISABLE-DENY-SCRIPTS`), the state it runs in is kept, and the
    /// dropped libraries' callbacks with it until the next flush.
    pub fn flush(&mut self) {
        self.libraries.clear();
        self.functions.clear();
        if !self.in_use {
            self.vm = new_vm(self.deprecated_api);
        }
    }

    /// The libraries' payloads, in name order (for DUMP, RDB and AOF).
    pub fn payloads(&self) -> Vec<Vec<u8>> {
        self.libraries.values().map(|l| l.code.clone()).collect()
    }

    /// Bytes held by libraries' code and function metadata
    /// (`used_memory_functions`).
    pub fn memory(&self) -> usize {
        self.libraries
            .values()
            .map(|l| l.code.len() + l.name.len() + 64)
            .sum::<usize>()
            + self
                .functions
                .values()
                .map(|f| f.name.len() + f.description.as_ref().map_or(0, String::len) + 64)
                .sum::<usize>()
    }

    /// Loads a set of payloads as a unit (RESTORE, RDB loading): all or
    /// nothing. `policy` is how collisions with loaded libraries resolve.
    pub fn restore(&mut self, payloads: &[Vec<u8>], policy: RestorePolicy) -> Result<(), String> {
        let saved_libs: Vec<Vec<u8>> = self.payloads();
        if policy == RestorePolicy::Flush {
            self.flush();
        }
        let mut loaded = Vec::new();
        for p in payloads {
            let (_, name, _) = match metadata(p) {
                Ok(m) => m,
                Err(e) => {
                    self.rollback(&saved_libs);
                    return Err(e);
                }
            };
            if loaded.contains(&name)
                || (policy == RestorePolicy::Append && self.libraries.contains_key(&name))
            {
                self.rollback(&saved_libs);
                return Err(errors::fn_restore_library_exists(&name));
            }
            if let Err(e) = self.load(p, true, 0) {
                self.rollback(&saved_libs);
                return Err(e);
            }
            loaded.push(name);
        }
        Ok(())
    }

    fn rollback(&mut self, payloads: &[Vec<u8>]) {
        self.flush();
        for p in payloads {
            let _ = self.load(p, true, 0);
        }
    }
}

/// FUNCTION RESTORE's policy for libraries already loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestorePolicy {
    Flush,
    Append,
    Replace,
}

fn new_vm(deprecated_api: bool) -> Vm {
    match Vm::new(Kind::Functions, deprecated_api) {
        Ok(vm) => vm,
        Err(e) => {
            crate::log_warning!("Failed creating the Lua VM: {e}");
            std::process::abort()
        }
    }
}

/// A string argument as Redis's `luaGetStringSds` takes it (numbers
/// convert).
unsafe fn string_arg(l: State, idx: c_int) -> Option<String> {
    if ffi::lua_isstring(l, idx) == 0 {
        return None;
    }
    lua::to_bytes(l, idx).map(|b| String::from_utf8_lossy(b).into_owned())
}

/// What `redis.register_function` was given.
struct Registration {
    name: String,
    description: Option<String>,
    func: c_int,
    flags: u32,
}

/// The flags table at the top of the stack (`{'no-writes', ...}`).
unsafe fn read_flags(l: State) -> Option<u32> {
    let mut flags = 0;
    let mut j = 1;
    loop {
        ffi::lua_rawgeti_(l, -1, j);
        j += 1;
        if ffi::lua_type(l, -1) == ffi::LUA_TNIL {
            ffi::lua_pop(l, 1);
            return Some(flags);
        }
        let name = if ffi::lua_isstring(l, -1) != 0 {
            lua::to_bytes(l, -1)
        } else {
            None
        };
        let bit = name.and_then(|n| {
            sflags::NAMES
                .iter()
                .find(|(f, _)| f.as_bytes().eq_ignore_ascii_case(n))
                .map(|(_, b)| *b)
        });
        ffi::lua_pop(l, 1);
        flags |= bit?;
    }
}

/// `redis.register_function{function_name=..., callback=..., flags=...,
/// description=...}`, the table at index 1.
unsafe fn read_named(l: State) -> Result<Registration, &'static str> {
    if ffi::lua_type(l, 1) != ffi::LUA_TTABLE {
        return Err(errors::FN_REGISTER_TABLE_ONLY);
    }
    let (mut name, mut description, mut func, mut flags) = (None, None, None, 0);
    let fail = |l: State, func: Option<c_int>, msg: &'static str| {
        if let Some(r) = func {
            ffi::luaL_unref(l, ffi::LUA_REGISTRYINDEX, r);
        }
        Err(msg)
    };
    ffi::lua_pushnil(l);
    while ffi::lua_next(l, 1) != 0 {
        // Only string keys name arguments (a number key matches none).
        let key = if ffi::lua_type(l, -2) == ffi::LUA_TSTRING {
            lua::to_bytes(l, -2).unwrap_or_default()
        } else if ffi::lua_type(l, -2) == ffi::LUA_TNUMBER {
            &b""[..]
        } else {
            return fail(l, func, errors::FN_REGISTER_KEY_NOT_STRING);
        };
        if key.eq_ignore_ascii_case(b"function_name") {
            match string_arg(l, -1) {
                Some(n) => name = Some(n),
                None => return fail(l, func, errors::FN_REGISTER_NAME_NOT_STRING),
            }
        } else if key.eq_ignore_ascii_case(b"description") {
            match string_arg(l, -1) {
                Some(d) => description = Some(d),
                None => return fail(l, func, errors::FN_REGISTER_DESC_NOT_STRING),
            }
        } else if key.eq_ignore_ascii_case(b"callback") {
            if ffi::lua_type(l, -1) != ffi::LUA_TFUNCTION {
                return fail(l, func, errors::FN_REGISTER_CALLBACK_NOT_FUNCTION);
            }
            if let Some(old) = func {
                ffi::luaL_unref(l, ffi::LUA_REGISTRYINDEX, old);
            }
            // Pops the value.
            func = Some(ffi::luaL_ref(l, ffi::LUA_REGISTRYINDEX));
            continue;
        } else if key.eq_ignore_ascii_case(b"flags") {
            if ffi::lua_type(l, -1) != ffi::LUA_TTABLE {
                return fail(l, func, errors::FN_REGISTER_FLAGS_NOT_TABLE);
            }
            match read_flags(l) {
                Some(f) => flags = f,
                None => return fail(l, func, errors::FN_REGISTER_UNKNOWN_FLAG),
            }
        } else {
            return fail(l, func, errors::FN_REGISTER_UNKNOWN_ARGUMENT);
        }
        ffi::lua_pop(l, 1);
    }
    let Some(name) = name else {
        return fail(l, func, errors::FN_REGISTER_NAME_MISSING);
    };
    let Some(func) = func else {
        return Err(errors::FN_REGISTER_CALLBACK_MISSING);
    };
    Ok(Registration {
        name,
        description,
        func,
        flags,
    })
}

/// `redis.register_function(name, callback)`.
unsafe fn read_positional(l: State) -> Result<Registration, &'static str> {
    let Some(name) = string_arg(l, 1) else {
        return Err(errors::FN_REGISTER_FIRST_NOT_STRING);
    };
    if ffi::lua_type(l, 2) != ffi::LUA_TFUNCTION {
        return Err(errors::FN_REGISTER_SECOND_NOT_FUNCTION);
    }
    Ok(Registration {
        name,
        description: None,
        func: ffi::luaL_ref(l, ffi::LUA_REGISTRYINDEX),
        flags: 0,
    })
}

lua_fn! {
    /// `redis.register_function`, available to library code while
    /// FUNCTION LOAD runs it (Redis's `luaRegisterFunction`).
    pub fn register_function(l) {
        // SAFETY: called by Lua.
        unsafe {
            let sh = vm::shared(l);
            if sh.loading.borrow().is_none() {
                return lua::raise_table(
                    l,
                    errors::FN_REGISTER_OUTSIDE_LOAD.as_bytes(),
                );
            }
            let reg = match ffi::lua_gettop(l) {
                1 => read_named(l),
                2 => read_positional(l),
                _ => Err(errors::FN_REGISTER_ARGS),
            };
            let reg = match reg {
                Ok(r) => r,
                Err(msg) => return lua::raise_table(l, msg.as_bytes()),
            };
            let mut loading = sh.loading.borrow_mut();
            let Some(ctx) = loading.as_mut() else {
                return Ret::Values(0);
            };
            let refusal = if !valid_name(&reg.name) {
                // Redis's text, which says "Library" for function names too.
                Some(errors::FN_BAD_NAME)
            } else if ctx.functions.iter().any(|f| f.name == reg.name) {
                // A library's own names are case-sensitive (only the
                // server-wide lookup is not), as in Redis.
                Some(errors::FN_EXISTS_IN_LIBRARY)
            } else {
                None
            };
            if let Some(msg) = refusal {
                drop(loading);
                ffi::luaL_unref(l, ffi::LUA_REGISTRYINDEX, reg.func);
                return lua::raise_table(l, msg.as_bytes());
            }
            let library = ctx.library.clone();
            ctx.functions.push(FunctionInfo {
                name: reg.name,
                description: reg.description,
                flags: reg.flags,
                func: reg.func,
                library,
            });
            Ret::Values(0)
        }
    }
}

/// FUNCTION LOAD's time limit, checked by the instruction hook while a
/// library's code runs.
pub fn load_timed_out(shared: &Shared) -> bool {
    shared
        .loading
        .borrow()
        .as_ref()
        .is_some_and(|c| c.timeout_ms > 0 && c.start.elapsed().as_millis() as u64 > c.timeout_ms)
}

/// Flags as `FUNCTION LIST` names them.
pub fn flag_names(flags: u32) -> Vec<&'static str> {
    sflags::NAMES
        .iter()
        .filter(|(_, b)| flags & b != 0)
        .map(|(n, _)| *n)
        .collect()
}
