//! One script run, for EVAL* and FCALL* alike (Redis's
//! `scriptPrepareForRun`, `luaCallFunction` and `scriptResetRun`).
//!
//! Before: the refusals that depend on the script's declared flags (stale
//! replica, read-only replica, disk errors, `*_RO` commands, too few
//! replicas, OOM). During: the script client carries the caller's user and
//! database; the server and the caller are reached by the callbacks
//! through a [`RunCtx`] on this function's stack while the handler lends
//! them. After: the result or the error (with Redis's ` script: <name>,
//! on <source>:<line>.` context) becomes the caller's reply.

use super::flags as sflags;
use super::vm::Kind;
use super::Running;
use crate::client::Client;
use crate::cmd::Ctx;
use crate::errors;
use crate::server::Server;
use mlua::{Function, Value};
use std::time::Instant;

/// `redis.set_repl` targets (Redis's `PROPAGATE_AOF` / `PROPAGATE_REPL`).
pub const REPL_AOF: u8 = 1;
pub const REPL_REPLICA: u8 = 2;
pub const REPL_ALL: u8 = REPL_AOF | REPL_REPLICA;

/// What the callbacks of a running script reach: the server and the caller
/// (lent by the script's command for the run), the script client, and the
/// run's rules.
pub struct RunCtx {
    pub srv: *mut Server,
    pub caller: *mut Client,
    /// The client the script's commands run as.
    pub client: Box<Client>,
    pub read_only: bool,
    pub allow_oom: bool,
    /// `maxmemory` was exceeded when the script's command started.
    pub oom_at_start: bool,
    pub from_master: bool,
    /// Where the script's effects go (`redis.set_repl`).
    pub repl: u8,
    /// The arguments of the script's command (FUNCTION STATS shows them);
    /// valid for the run only.
    pub argv: command_meta::Argv<'static>,
    /// A reused buffer for the arguments of `redis.call`.
    pub args: Vec<u8>,
    pub ranges: Vec<(usize, usize)>,
}

/// A script to run.
pub struct Script<'a> {
    pub kind: Kind,
    pub func: Function,
    /// Declared flags (or `EVAL_COMPAT` without a shebang).
    pub flags: u32,
    /// EVAL_RO, EVALSHA_RO, FCALL_RO.
    pub read_only_command: bool,
    /// The sha, or the function's name, for errors and logs.
    pub name: &'a str,
}

/// The refusals before a script with declared flags runs; a script in
/// compatibility mode only stops on a stale replica.
fn refusal(srv: &mut Server, caller: &Client, s: &Script) -> Option<String> {
    let stale = crate::replication::replica::deny_stale(srv);
    if s.flags & sflags::EVAL_COMPAT != 0 {
        return stale.then(|| errors::MASTERDOWN_TEXT.to_string());
    }
    if stale && s.flags & sflags::ALLOW_STALE == 0 {
        return Some(errors::SCRIPT_STALE.to_string());
    }
    let obey = caller.is_master() || caller.loading;
    if s.flags & sflags::NO_WRITES == 0 {
        if srv.is_replica()
            && srv
                .config
                .get_bool(crate::config::Directive::ReplicaReadOnly)
            && !obey
        {
            return Some(errors::SCRIPT_READONLY_REPLICA.to_string());
        }
        if !obey && crate::persistence::save::writes_denied(srv) {
            return Some(errors::SCRIPT_MISCONF_RDB.to_string());
        }
        if !obey {
            if let Some(msg) = crate::persistence::aof::write_error(srv) {
                return Some(msg);
            }
        }
        if s.read_only_command {
            return Some(errors::SCRIPT_RO_COMMAND.to_string());
        }
        if !srv.is_replica() && crate::replication::master::too_few_good_replicas(srv) {
            return Some(errors::NOREPLICAS_TEXT.to_string());
        }
    }
    if srv.scripting.pre_command_oom
        && srv.evictor.maxmemory > 0
        && s.flags & (sflags::ALLOW_OOM | sflags::NO_WRITES) == 0
    {
        return Some(errors::SCRIPT_OOM.to_string());
    }
    None
}

/// Runs `s` for the command in `ctx`, with `keys` and `args`, and writes
/// its result (or error) as the reply.
pub fn run(ctx: &mut Ctx, s: Script, keys: &[&[u8]], args: &[&[u8]]) {
    if let Some(msg) = refusal(ctx.srv, ctx.client, &s) {
        return ctx.err(&msg);
    }
    let compat = s.flags & sflags::EVAL_COMPAT != 0;
    let from_master = ctx.client.is_master() || ctx.client.loading;
    let eval_mode = s.kind == Kind::Eval;
    let srv: &mut Server = ctx.srv;
    let mut client = srv.scripting.take_client();
    client.db = ctx.client.db;
    client.out.resp3 = false;
    client.out.buf.clear();
    client.acl_user = ctx.client.acl_user.clone();
    client.user.clone_from(&ctx.client.user);
    srv.scripting.running = Some(Running {
        eval_mode,
        timed_out: false,
        killed: false,
        write_dirty: false,
        from_master,
        start: Instant::now(),
        funcname: s.name.to_string(),
        caller_id: ctx.client.id,
    });
    let vm = match s.kind {
        Kind::Eval => &srv.scripting.eval.vm,
        Kind::Functions => &srv.scripting.functions.vm,
    };
    let (lua, runner, shared) = (vm.lua.clone(), vm.runner.clone(), vm.shared.clone());
    let prepared = match s.kind {
        Kind::Eval => vm
            .set_keys_argv(keys.iter().copied(), args.iter().copied())
            .map(|_| None),
        Kind::Functions => (|| {
            let k = lua.create_sequence_from(
                keys.iter()
                    .map(|k| lua.create_string(k))
                    .collect::<mlua::Result<Vec<_>>>()?,
            )?;
            let a = lua.create_sequence_from(
                args.iter()
                    .map(|a| lua.create_string(a))
                    .collect::<mlua::Result<Vec<_>>>()?,
            )?;
            Ok(Some((k, a)))
        })(),
    };
    let mut rc = RunCtx {
        srv: std::ptr::null_mut(),
        caller: std::ptr::null_mut(),
        client,
        read_only: s.read_only_command || (!compat && s.flags & sflags::NO_WRITES != 0),
        allow_oom: !compat && s.flags & sflags::ALLOW_OOM != 0,
        oom_at_start: srv.scripting.pre_command_oom,
        from_master,
        repl: REPL_ALL,
        // SAFETY: the request buffer behind `ctx.argv` outlives the run,
        // and the copy is dropped with `rc` at the end of this function.
        argv: unsafe {
            std::mem::transmute::<command_meta::Argv<'_>, command_meta::Argv<'static>>(ctx.argv)
        },
        args: Vec::new(),
        ranges: Vec::new(),
    };
    let result: mlua::Result<(bool, Value)> = match prepared {
        Err(e) => Err(e),
        Ok(tables) => {
            // From here until the call returns, the server and the caller
            // are reached only through these pointers.
            rc.srv = ctx.srv as *mut Server;
            rc.caller = ctx.client as *mut Client;
            shared.run.set(&mut rc);
            let r = match tables {
                None => runner.call((s.func.clone(),)),
                Some((k, a)) => runner.call((s.func.clone(), k, a)),
            };
            shared.run.set(std::ptr::null_mut());
            r
        }
    };
    let script_resp3 = rc.client.out.resp3;
    let srv: &mut Server = ctx.srv;
    let running = srv.scripting.running.take();
    srv.scripting.put_client(rc.client);
    let killed = running.as_ref().is_some_and(|r| r.killed);
    if running.as_ref().is_some_and(|r| r.timed_out) {
        srv.scripting.after_timed_out_script();
    }
    let _ = killed;
    let name = s.name;
    match result {
        Ok((true, v)) => {
            let uncounted = super::convert::lua_to_reply(&mut ctx.client.out, &v, script_resp3);
            if !uncounted.is_empty() {
                for e in &uncounted {
                    ctx.srv.stats.count_error(e);
                }
                ctx.srv.commands.stats[ctx.cmd].failed_calls += 1;
            }
        }
        Ok((false, Value::Table(t))) => {
            let text = |k: &str| match t.raw_get::<Value>(k) {
                Ok(Value::String(s)) => Some(String::from_utf8_lossy(&s.as_bytes()).into_owned()),
                Ok(Value::Integer(i)) => Some(i.to_string()),
                Ok(Value::Number(n)) => {
                    let mut b = Vec::new();
                    super::call::fmt_lua_number(n, &mut b);
                    Some(String::from_utf8_lossy(&b).into_owned())
                }
                _ => None,
            };
            let mut msg = text("err").unwrap_or_default();
            if let (Some(source), Some(line)) = (text("source"), text("line")) {
                msg.push_str(&format!(" script: {name}, on {source}:{line}."));
            }
            let counted = matches!(
                t.raw_get::<Value>("ignore_error_stats_update"),
                Ok(Value::Boolean(true))
            );
            if counted {
                ctx.client.out.error(&msg);
            } else {
                ctx.err(&msg);
            }
        }
        Ok((false, other)) => {
            let msg = match &other {
                Value::String(s) => String::from_utf8_lossy(&s.as_bytes()).into_owned(),
                _ => "execution failure".to_string(),
            };
            ctx.err(&errors::script_run_failure(name, &msg));
        }
        Err(e) => {
            let msg = lua_error_text(&e);
            ctx.err(&errors::script_run_failure(name, &msg));
        }
    }
    // Lua's collector runs a step every 50 scripts, so its full cycles do
    // not land on one unlucky call (Redis's LUA_GC_CYCLE_PERIOD).
    let sc = &mut ctx.srv.scripting;
    sc.gc_countdown = sc.gc_countdown.saturating_sub(1);
    if sc.gc_countdown == 0 {
        sc.gc_countdown = 50;
        let _ = lua.gc_step();
    }
}

/// The text of an mlua error as Lua would print it.
pub fn lua_error_text(e: &mlua::Error) -> String {
    match e {
        mlua::Error::RuntimeError(m) | mlua::Error::MemoryError(m) => m.clone(),
        mlua::Error::SyntaxError { message, .. } => message.clone(),
        mlua::Error::CallbackError { cause, .. } => lua_error_text(cause),
        other => other.to_string(),
    }
}
