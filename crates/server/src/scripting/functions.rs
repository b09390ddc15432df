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

use super::flags as sflags;
use super::vm::{Kind, Shared, Vm};
use mlua::{Lua, MultiValue, Table, Value};
use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;
use std::time::Instant;

/// How long a library's code may run at FUNCTION LOAD (Redis's
/// LOAD_TIMEOUT_MS); 0 for code from our master or the AOF.
pub const LOAD_TIMEOUT_MS: u64 = 500;

/// A registered function.
pub struct FunctionInfo {
    pub name: String,
    pub description: Option<String>,
    pub flags: u32,
    pub func: mlua::Function,
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
    deprecated_api: bool,
}

/// Library and function names: letters, digits and underscores.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_')
}

const BAD_NAME: &str = "Library names can only contain letters, numbers, or underscores(_) and must be at least one character long";

/// The metadata line of a library: its engine and name; returns the code
/// after the line (its newline kept).
fn metadata(payload: &[u8]) -> Result<(String, String, usize), String> {
    if !payload.starts_with(b"#!") {
        return Err("Missing library metadata".into());
    }
    let Some(end) = payload.iter().position(|&b| b == b'\n') else {
        return Err("Invalid library metadata".into());
    };
    let parts = match resp::split_args::split_args_owned(&payload[..end]) {
        Ok(p) if !p.is_empty() => p,
        _ => return Err("Invalid library metadata".into()),
    };
    let engine = String::from_utf8_lossy(&parts[0][2..]).into_owned();
    let mut name: Option<String> = None;
    for p in &parts[1..] {
        if p.len() >= 5 && p[..5].eq_ignore_ascii_case(b"name=") {
            if name.is_some() {
                return Err(
                    "Invalid metadata value, name argument was given multiple times".into(),
                );
            }
            name = Some(String::from_utf8_lossy(&p[5..]).into_owned());
            continue;
        }
        return Err(format!(
            "Invalid metadata value given: {}",
            String::from_utf8_lossy(p)
        ));
    }
    let Some(name) = name else {
        return Err("Library name was not given".into());
    };
    Ok((engine, name, end))
}

impl Functions {
    pub fn new(deprecated_api: bool) -> Functions {
        Functions {
            vm: new_vm(deprecated_api),
            libraries: BTreeMap::new(),
            functions: HashMap::new(),
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
            return Err(BAD_NAME.into());
        }
        if !engine.eq_ignore_ascii_case("lua") {
            return Err(format!("Engine '{engine}' not found"));
        }
        if self.libraries.contains_key(&name) && !replace {
            return Err(format!("Library '{name}' already exists"));
        }
        let registered = self.run_library_code(&name, &payload[shebang_end..], timeout_ms)?;
        if registered.is_empty() {
            return Err("No functions registered".into());
        }
        for f in &registered {
            if let Some(existing) = self.functions.get(&f.name.to_ascii_lowercase()) {
                if existing.library != name {
                    return Err(format!("Function {} already exists", f.name));
                }
            }
        }
        self.delete(&name);
        let mut names: Vec<String> = registered.iter().map(|f| f.name.clone()).collect();
        names.sort();
        for f in registered {
            self.functions.insert(f.name.to_ascii_lowercase(), f);
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

    /// Runs a library's code with the load API; returns what it registered.
    fn run_library_code(
        &mut self,
        name: &str,
        code: &[u8],
        timeout_ms: u64,
    ) -> Result<Vec<FunctionInfo>, String> {
        let func = self
            .vm
            .lua
            .load(code)
            .set_name("@user_function")
            .into_function()
            .map_err(|e| {
                format!(
                    "Error compiling function: {}",
                    super::run::lua_error_text(&e)
                )
            })?;
        *self.vm.shared.loading.borrow_mut() = Some(LoadCtx {
            functions: Vec::new(),
            start: Instant::now(),
            timeout_ms,
            library: name.to_string(),
        });
        let mode = self.vm.set_load_mode(true);
        let result: mlua::Result<(bool, Value)> = match mode {
            Ok(()) => self.vm.runner.call((func,)),
            Err(e) => Err(e),
        };
        let _ = self.vm.set_load_mode(false);
        let ctx = self.vm.shared.loading.borrow_mut().take();
        match result {
            Ok((true, _)) => Ok(ctx.map(|c| c.functions).unwrap_or_default()),
            Ok((false, Value::Table(t))) => {
                let msg: String = match t.raw_get::<Value>("err") {
                    Ok(Value::String(s)) => String::from_utf8_lossy(&s.as_bytes()).into_owned(),
                    _ => String::new(),
                };
                Err(format!("Error registering functions: {msg}"))
            }
            Ok((false, _)) => Err("Error registering functions: ".into()),
            Err(e) => Err(format!(
                "Error registering functions: {}",
                super::run::lua_error_text(&e)
            )),
        }
    }

    /// Removes a library and its functions; whether it existed.
    pub fn delete(&mut self, name: &str) -> bool {
        let Some(lib) = self.libraries.remove(name) else {
            return false;
        };
        for f in &lib.functions {
            self.functions.remove(&f.to_ascii_lowercase());
        }
        true
    }

    /// FUNCTION FLUSH: every library goes, with a fresh Lua state.
    pub fn flush(&mut self) {
        self.libraries.clear();
        self.functions.clear();
        self.vm = new_vm(self.deprecated_api);
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
                return Err(format!("Library {name} already exists"));
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

/// `redis.register_function` (load API only).
pub fn register_api(lua: &Lua, raw: &Table, shared: &Rc<Shared>) -> mlua::Result<()> {
    let s = shared.clone();
    raw.set(
        "register_function",
        lua.create_function(move |lua, args: MultiValue| register_function(lua, &s, args))?,
    )?;
    Ok(())
}

fn fail(lua: &Lua, text: &str) -> mlua::Result<(Value, Value)> {
    Ok((
        Value::Nil,
        Value::Table(super::convert::error_table(lua, text.as_bytes(), false)?),
    ))
}

fn lua_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(String::from_utf8_lossy(&s.as_bytes()).into_owned()),
        Value::Integer(i) => Some(i.to_string()),
        Value::Number(n) => {
            let mut b = Vec::new();
            super::call::fmt_lua_number(*n, &mut b);
            Some(String::from_utf8_lossy(&b).into_owned())
        }
        _ => None,
    }
}

fn register_function(lua: &Lua, shared: &Shared, args: MultiValue) -> mlua::Result<(Value, Value)> {
    if shared.loading.borrow().is_none() {
        return fail(
            lua,
            "redis.register_function can only be called on FUNCTION LOAD command",
        );
    }
    let (name, desc, func, flags) = match args.len() {
        1 => {
            let Some(Value::Table(t)) = args.front() else {
                return fail(lua, "calling redis.register_function with a single argument is only applicable to Lua table (representing named arguments).");
            };
            let (mut name, mut desc, mut func, mut flags) = (None, None, None, 0u32);
            for pair in t.clone().pairs::<Value, Value>() {
                let (k, v) = pair?;
                let Some(key) = lua_text(&k) else {
                    return fail(
                        lua,
                        "named argument key given to redis.register_function is not a string",
                    );
                };
                match key.to_ascii_lowercase().as_str() {
                    "function_name" => match lua_text(&v) {
                        Some(n) => name = Some(n),
                        None => return fail(lua, "function_name argument given to redis.register_function must be a string"),
                    },
                    "description" => match lua_text(&v) {
                        Some(d) => desc = Some(d),
                        None => return fail(lua, "description argument given to redis.register_function must be a string"),
                    },
                    "callback" => match v {
                        Value::Function(f) => func = Some(f),
                        _ => return fail(lua, "callback argument given to redis.register_function must be a function"),
                    },
                    "flags" => {
                        let Value::Table(ft) = v else {
                            return fail(lua, "flags argument to redis.register_function must be a table representing function flags");
                        };
                        for fv in ft.sequence_values::<Value>() {
                            let fv = fv?;
                            let bit = lua_text(&fv).and_then(|n| {
                                sflags::NAMES.iter().find(|(name, _)| *name == n).map(|(_, b)| *b)
                            });
                            match bit {
                                Some(b) => flags |= b,
                                None => return fail(lua, "unknown flag given"),
                            }
                        }
                    }
                    _ => return fail(lua, "unknown argument given to redis.register_function"),
                }
            }
            let Some(name) = name else {
                return fail(
                    lua,
                    "redis.register_function must get a function name argument",
                );
            };
            let Some(func) = func else {
                return fail(lua, "redis.register_function must get a callback argument");
            };
            (name, desc, func, flags)
        }
        2 => {
            let mut it = args.iter();
            let Some(name) = it.next().and_then(lua_text) else {
                return fail(
                    lua,
                    "first argument to redis.register_function must be a string",
                );
            };
            let Some(Value::Function(func)) = it.next() else {
                return fail(
                    lua,
                    "second argument to redis.register_function must be a function",
                );
            };
            (name, None, func.clone(), 0)
        }
        _ => return fail(lua, "wrong number of arguments to redis.register_function"),
    };
    if !valid_name(&name) {
        return fail(lua, BAD_NAME);
    }
    let mut loading = shared.loading.borrow_mut();
    let Some(ctx) = loading.as_mut() else {
        return fail(
            lua,
            "redis.register_function can only be called on FUNCTION LOAD command",
        );
    };
    if ctx
        .functions
        .iter()
        .any(|f| f.name.eq_ignore_ascii_case(&name))
    {
        return fail(lua, "Function already exists in the library");
    }
    let library = ctx.library.clone();
    ctx.functions.push(FunctionInfo {
        name,
        description: desc,
        flags,
        func,
        library,
    });
    Ok((Value::Nil, Value::Nil))
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
