//! `redis.call` / `redis.pcall` and the small `redis.*` helpers written in
//! Rust.
//!
//! A command from a script is checked as Redis's `scriptCall` checks it
//! (arity, `noscript`, stale replica, ACL with the `lua` log context,
//! read-only scripts, first-write refusals, OOM), then runs through
//! `cmd::execute` as the script client: the same table, handlers,
//! statistics and journal as every client. Its effects stay pending in
//! the journal until the script's command ends, when they are released
//! together (wrapped in MULTI/EXEC when several) — effects replication.

use super::convert::{error_table, fmt_g17, reply_to_lua};
use super::run::RunCtx;
use super::vm::Shared;
use crate::config::Directive;
use crate::errors;
use crate::server::Server;
use command_meta::{flags, Argv};
use mlua::{Lua, MultiValue, Table, Value};
use std::rc::Rc;

/// Registers the Rust primitives of the `redis` table in `raw`.
pub fn register(lua: &Lua, raw: &Table, shared: &Rc<Shared>) -> mlua::Result<()> {
    let s = shared.clone();
    raw.set(
        "call",
        lua.create_function(move |lua, args: MultiValue| call(lua, &s, args, true))?,
    )?;
    let s = shared.clone();
    raw.set(
        "pcall",
        lua.create_function(move |lua, args: MultiValue| {
            call(lua, &s, args, false).map(|(v, e)| if e.is_nil() { v } else { e })
        })?,
    )?;
    raw.set("sha1hex", lua.create_function(sha1hex)?)?;
    raw.set("error_reply", lua.create_function(error_reply)?)?;
    raw.set("status_reply", lua.create_function(status_reply)?)?;
    raw.set("log", lua.create_function(log)?)?;
    let s = shared.clone();
    raw.set(
        "setresp",
        lua.create_function(move |lua, args: MultiValue| setresp(lua, &s, args))?,
    )?;
    let s = shared.clone();
    raw.set(
        "set_repl",
        lua.create_function(move |lua, args: MultiValue| set_repl(lua, &s, args))?,
    )?;
    let s = shared.clone();
    raw.set(
        "acl_check_cmd",
        lua.create_function(move |lua, args: MultiValue| acl_check_cmd(lua, &s, args))?,
    )?;
    let s = shared.clone();
    raw.set(
        "take_error",
        lua.create_function(move |_, ()| Ok(s.pending_error.borrow_mut().take()))?,
    )?;
    let s = shared.clone();
    raw.set(
        "killed",
        lua.create_function(move |_, ()| {
            let run = s.run.get();
            if run.is_null() {
                return Ok(false);
            }
            // SAFETY: set by `run` for the duration of the script; the
            // server outlives it.
            let srv = unsafe { &*(*run).srv };
            Ok(srv.scripting.running.as_ref().is_some_and(|r| r.killed))
        })?,
    )?;
    raw.set("version", crate::REDIS_VERSION)?;
    raw.set("version_num", redis_version_num())?;
    Ok(())
}

/// `REDIS_VERSION_NUM`: 0x00MMmmpp.
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

/// An error as the two values the Lua wrappers expect: `nil, {err=...}`.
fn fail(lua: &Lua, text: &str) -> mlua::Result<(Value, Value)> {
    Ok((
        Value::Nil,
        Value::Table(error_table(lua, text.as_bytes(), false)?),
    ))
}

/// Collects a call's arguments as Redis does: strings as they are, numbers
/// with `%.17g`; anything else is an error.
fn collect_args(args: &MultiValue, buf: &mut Vec<u8>, ranges: &mut Vec<(usize, usize)>) -> bool {
    buf.clear();
    ranges.clear();
    for v in args.iter() {
        let start = buf.len();
        match v {
            Value::String(s) => buf.extend_from_slice(&s.as_bytes()),
            Value::Integer(i) => fmt_g17(*i as f64, buf),
            Value::Number(n) => fmt_g17(*n, buf),
            _ => return false,
        }
        ranges.push((start, buf.len()));
    }
    true
}

/// Finds the command `argv` names as Redis's `lookupCommand` does: the
/// subcommand of a container when there is a second argument.
pub fn lookup(srv: &Server, argv: Argv) -> Option<usize> {
    let idx = srv.commands.lookup(argv.get(0))?;
    let cmd = &srv.commands.commands[idx];
    if argv.len() == 1 || cmd.subcommands.is_empty() {
        return Some(idx);
    }
    srv.commands.lookup_sub(idx, argv.get(1))
}

/// `redis.call` (`raise`) and `redis.pcall`: returns `reply, nil` or
/// `nil, {err=...}`.
fn call(
    lua: &Lua,
    shared: &Shared,
    args: MultiValue,
    _raise: bool,
) -> mlua::Result<(Value, Value)> {
    let run = shared.run.get();
    if run.is_null() {
        return fail(lua, errors::LUA_NOT_IN_SCRIPT);
    }
    // SAFETY: `run` points at the RunCtx on the stack of the script's
    // command for as long as the script runs; callbacks run one at a time
    // on this thread, and the command does not touch the server or the
    // clients while Lua runs.
    let run = unsafe { &mut *run };
    if args.is_empty() {
        return fail(lua, errors::LUA_NO_ARGS);
    }
    let f = run_flags(run);
    if !collect_args(&args, &mut run.args, &mut run.ranges) {
        return fail(lua, errors::LUA_BAD_ARGS);
    }
    drop(args);
    // SAFETY: see above.
    let srv = unsafe { &mut *run.srv };
    let argv = Argv::new(&run.args, &run.ranges);
    if let Err(msg) = check(srv, f, &mut run.client, argv) {
        let text = convert_text(&msg);
        srv.stats.count_error(&text);
        if let Some(idx) = lookup(srv, argv) {
            srv.commands.stats[idx].rejected_calls += 1;
        }
        let t = error_table(lua, msg.as_bytes(), true)?;
        return Ok((Value::Nil, Value::Table(t)));
    }
    let repl = run.repl;
    let mark = srv.journal.pending_ops();
    crate::cmd::execute(srv, &mut run.client, argv);
    if repl != super::run::REPL_ALL {
        srv.journal.restrict_since(mark, repl);
    }
    let out = &mut run.client.out.buf;
    let parsed = reply_to_lua(lua, out);
    out.clear();
    let (v, is_err) = parsed?;
    // `redis.call` raises an error reply (its wrapper does), `redis.pcall`
    // returns it: both get the same `nil, {err=...}` here.
    if is_err {
        return Ok((Value::Nil, v));
    }
    Ok((v, Value::Nil))
}

/// The text of an error as it is counted: with its code.
fn convert_text(msg: &str) -> String {
    String::from_utf8_lossy(&super::convert::error_text(msg.as_bytes())).into_owned()
}

/// What the checks need from the run, copied out so the run's client can
/// be borrowed at the same time.
#[derive(Clone, Copy)]
pub struct RunFlags {
    pub read_only: bool,
    pub allow_oom: bool,
    pub oom_at_start: bool,
    pub from_master: bool,
}

fn run_flags(run: &RunCtx) -> RunFlags {
    RunFlags {
        read_only: run.read_only,
        allow_oom: run.allow_oom,
        oom_at_start: run.oom_at_start,
        from_master: run.from_master,
    }
}

/// Redis's `scriptCall` checks, in its order. The error texts are as the
/// script sees them (`-CODE msg`, or a text that gets `ERR`).
fn check(
    srv: &mut Server,
    f: RunFlags,
    client: &mut crate::client::Client,
    argv: Argv,
) -> Result<(), String> {
    let Some(idx) = lookup(srv, argv) else {
        return Err(errors::LUA_UNKNOWN_COMMAND.to_string());
    };
    let cmd = &srv.commands.commands[idx];
    let (meta, cflags) = (cmd.meta, cmd.flags);
    if cmd.handler.is_none() {
        return Err(errors::LUA_UNKNOWN_COMMAND.to_string());
    }
    let arity = meta.arity;
    let argc = argv.len() as i32;
    if (arity > 0 && argc != arity) || argc < -arity {
        return Err(errors::LUA_WRONG_ARITY.to_string());
    }
    if cflags & flags::NOSCRIPT != 0 {
        return Err(errors::LUA_NOSCRIPT_COMMAND.to_string());
    }
    if cflags & flags::STALE == 0 && crate::replication::replica::deny_stale(srv) {
        return Err(errors::LUA_STALE.to_string());
    }
    if let Some(user) = &client.acl_user {
        if !user.borrow().unrestricted {
            if let Some(msg) = crate::acl::check::script_refusal(srv, client, meta, argv) {
                return Err(msg);
            }
        }
    }
    if f.read_only && cflags & (flags::WRITE | flags::MAY_REPLICATE) != 0 {
        return Err(errors::LUA_WRITE_IN_RO.to_string());
    }
    let dirty = srv
        .scripting
        .running
        .as_ref()
        .is_some_and(|r| r.write_dirty);
    if cflags & flags::WRITE != 0 && !dirty {
        if srv.is_replica() && srv.config.get_bool(Directive::ReplicaReadOnly) && !f.from_master {
            return Err(format!("-{}", errors::READONLY_REPLICA_TEXT));
        }
        if crate::persistence::save::writes_denied(srv) {
            return Err(format!("-{}", errors::MISCONF));
        }
        if let Some(msg) = crate::persistence::aof::write_error(srv) {
            return Err(format!("-{msg}"));
        }
        if crate::replication::master::too_few_good_replicas(srv) {
            return Err(format!("-{}", errors::NOREPLICAS_TEXT));
        }
    }
    if !f.allow_oom
        && srv.evictor.maxmemory > 0
        && !f.from_master
        && !dirty
        && f.oom_at_start
        && cflags & flags::DENYOOM != 0
    {
        return Err(format!("-{}", errors::OOM));
    }
    if cflags & flags::WRITE != 0 {
        if let Some(r) = srv.scripting.running.as_mut() {
            r.write_dirty = true;
        }
    }
    Ok(())
}

fn sha1hex(lua: &Lua, args: MultiValue) -> mlua::Result<(Value, Value)> {
    if args.len() != 1 {
        return fail(lua, errors::LUA_WRONG_ARGS);
    }
    let bytes: Vec<u8> = match args.front() {
        Some(Value::String(s)) => s.as_bytes().to_vec(),
        Some(Value::Integer(i)) => {
            let mut b = Vec::new();
            fmt_lua_number(*i as f64, &mut b);
            b
        }
        Some(Value::Number(n)) => {
            let mut b = Vec::new();
            fmt_lua_number(*n, &mut b);
            b
        }
        _ => Vec::new(),
    };
    let hex = super::eval::sha1hex(&bytes);
    Ok((Value::String(lua.create_string(hex)?), Value::Nil))
}

/// Lua's own number to string conversion (`%.14g`), as `lua_tolstring`
/// gives it.
pub fn fmt_lua_number(n: f64, out: &mut Vec<u8>) {
    let mut buf = [0u8; 64];
    // SAFETY: snprintf writes at most buf.len() bytes, NUL included.
    let len = unsafe {
        libc::snprintf(
            buf.as_mut_ptr() as *mut libc::c_char,
            buf.len(),
            c"%.14g".as_ptr(),
            n,
        )
    };
    let len = (len.max(0) as usize).min(buf.len() - 1);
    out.extend_from_slice(&buf[..len]);
}

/// `redis.error_reply(msg)`: `{err=msg}`, with `-` and a code added as
/// Redis adds them; wrong arguments return (not raise) an error table.
fn error_reply(lua: &Lua, args: MultiValue) -> mlua::Result<Value> {
    match (args.len(), args.front()) {
        (1, Some(Value::String(s))) => {
            let s = s.as_bytes();
            let mut text = Vec::with_capacity(s.len() + 1);
            if s.first() != Some(&b'-') {
                text.push(b'-');
            }
            text.extend_from_slice(&s);
            Ok(Value::Table(error_table(lua, &text, false)?))
        }
        _ => Ok(Value::Table(error_table(
            lua,
            errors::LUA_WRONG_ARGS_OR_TYPE.as_bytes(),
            false,
        )?)),
    }
}

/// `redis.status_reply(msg)`: `{ok=msg}`.
fn status_reply(lua: &Lua, args: MultiValue) -> mlua::Result<Value> {
    match (args.len(), args.front()) {
        (1, Some(v @ Value::String(_))) => {
            let t = lua.create_table()?;
            t.raw_set("ok", v.clone())?;
            Ok(Value::Table(t))
        }
        _ => Ok(Value::Table(error_table(
            lua,
            errors::LUA_WRONG_ARGS_OR_TYPE.as_bytes(),
            false,
        )?)),
    }
}

fn as_number(v: Option<&Value>) -> Option<f64> {
    match v? {
        Value::Integer(i) => Some(*i as f64),
        Value::Number(n) => Some(*n),
        Value::String(s) => std::str::from_utf8(&s.as_bytes()).ok()?.trim().parse().ok(),
        _ => None,
    }
}

/// `redis.log(level, ...)`: the arguments joined by spaces, at `level`.
fn log(lua: &Lua, args: MultiValue) -> mlua::Result<(Value, Value)> {
    if args.len() < 2 {
        return fail(lua, errors::LUA_LOG_ARGS);
    }
    let Some(level) = as_number(args.front()) else {
        return fail(lua, errors::LUA_LOG_LEVEL_TYPE);
    };
    let level = level as i64;
    let level = match level {
        0 => crate::log::Level::Debug,
        1 => crate::log::Level::Verbose,
        2 => crate::log::Level::Notice,
        3 => crate::log::Level::Warning,
        _ => return fail(lua, errors::LUA_LOG_LEVEL),
    };
    if !crate::log::enabled(level) {
        return Ok((Value::Nil, Value::Nil));
    }
    let mut line = Vec::new();
    for (i, v) in args.iter().enumerate().skip(1) {
        let piece: Option<Vec<u8>> = match v {
            Value::String(s) => Some(s.as_bytes().to_vec()),
            Value::Integer(n) => {
                let mut b = Vec::new();
                fmt_lua_number(*n as f64, &mut b);
                Some(b)
            }
            Value::Number(n) => {
                let mut b = Vec::new();
                fmt_lua_number(*n, &mut b);
                Some(b)
            }
            _ => None,
        };
        if let Some(p) = piece {
            if i != 1 {
                line.push(b' ');
            }
            line.extend_from_slice(&p);
        }
    }
    crate::log::write(level, &String::from_utf8_lossy(&line));
    Ok((Value::Nil, Value::Nil))
}

fn setresp(lua: &Lua, shared: &Shared, args: MultiValue) -> mlua::Result<(Value, Value)> {
    let run = shared.run.get();
    if run.is_null() {
        return fail(lua, errors::LUA_SETRESP_OUTSIDE);
    }
    if args.len() != 1 {
        return fail(lua, errors::LUA_SETRESP_ARGS);
    }
    let v = as_number(args.front()).unwrap_or(0.0) as i64;
    if v != 2 && v != 3 {
        return fail(lua, errors::LUA_SETRESP_VERSION);
    }
    // SAFETY: as in `call`.
    unsafe { (*run).client.out.resp3 = v == 3 };
    Ok((Value::Nil, Value::Nil))
}

fn set_repl(lua: &Lua, shared: &Shared, args: MultiValue) -> mlua::Result<(Value, Value)> {
    let run = shared.run.get();
    if run.is_null() {
        return fail(lua, errors::LUA_SET_REPL_OUTSIDE);
    }
    if args.len() != 1 {
        return fail(lua, errors::LUA_SET_REPL_ARGS);
    }
    let v = as_number(args.back()).unwrap_or(0.0) as i64;
    if v & !i64::from(super::run::REPL_ALL) != 0 {
        return fail(lua, errors::LUA_SET_REPL_FLAGS);
    }
    // SAFETY: as in `call`.
    unsafe { (*run).repl = v as u8 };
    Ok((Value::Nil, Value::Nil))
}

fn acl_check_cmd(lua: &Lua, shared: &Shared, args: MultiValue) -> mlua::Result<(Value, Value)> {
    let run = shared.run.get();
    if run.is_null() {
        return fail(lua, errors::LUA_ACL_CHECK_OUTSIDE);
    }
    // SAFETY: as in `call`.
    let run = unsafe { &mut *run };
    if args.is_empty() {
        return fail(lua, errors::LUA_NO_ARGS);
    }
    let mut buf = Vec::new();
    let mut ranges = Vec::new();
    if !collect_args(&args, &mut buf, &mut ranges) {
        return fail(lua, errors::LUA_BAD_ARGS);
    }
    // SAFETY: as in `call`.
    let srv = unsafe { &*run.srv };
    let argv = Argv::new(&buf, &ranges);
    let Some(idx) = lookup(srv, argv) else {
        return fail(lua, errors::LUA_ACL_CHECK_INVALID);
    };
    let meta = srv.commands.commands[idx].meta;
    let allowed = match &run.client.acl_user {
        Some(u) => {
            let args: Vec<&[u8]> = argv.iter().collect();
            crate::acl::check::check(&u.borrow(), meta, &args).is_ok()
        }
        None => true,
    };
    Ok((Value::Boolean(allowed), Value::Nil))
}
