//! `redis.call` and `redis.pcall`.
//!
//! A command from a script is checked as Redis's `scriptCall` checks it
//! (arity, `noscript`, stale replica, ACL with the `lua` log context,
//! read-only scripts, first-write refusals, OOM), then runs through
//! `cmd::execute` as the script client: the same table, handlers,
//! statistics and journal as every client. Its effects stay pending in
//! the journal until the script's command ends, when they are released
//! together (wrapped in MULTI/EXEC when several) — effects replication.
//!
//! The arguments are read straight from the Lua stack into a buffer the
//! run keeps, and the reply is parsed from the script client's output
//! straight onto the stack: nothing is allocated per call.

use super::convert;
use super::lua::{self, ffi, lua_fn, Ret, State};
use super::run::RunCtx;
use super::vm;
use crate::config::Directive;
use crate::errors;
use crate::server::Server;
use command_meta::{flags, Argv};
use std::os::raw::c_int;

lua_fn! {
    /// `redis.call(...)`: the reply, or the error raised.
    pub fn redis_call(l) {
        // SAFETY: called by Lua.
        unsafe { generic(l, true) }
    }
}

lua_fn! {
    /// `redis.pcall(...)`: the reply, or the error as a value.
    pub fn redis_pcall(l) {
        // SAFETY: called by Lua.
        unsafe { generic(l, false) }
    }
}

/// Reads the arguments at 1..=argc as Redis does: strings as they are,
/// numbers with `%.17g`; false at the first other value.
///
/// # Safety
/// The indexes must be valid in `l`.
pub unsafe fn collect_args(
    l: State,
    argc: c_int,
    buf: &mut Vec<u8>,
    ranges: &mut Vec<(usize, usize)>,
) -> bool {
    buf.clear();
    ranges.clear();
    for i in 1..=argc {
        let start = buf.len();
        if ffi::lua_type(l, i) == ffi::LUA_TNUMBER {
            lua::fmt_g17(ffi::lua_tonumber(l, i), buf);
        } else {
            match lua::to_bytes(l, i) {
                Some(s) => buf.extend_from_slice(s),
                None => return false,
            }
        }
        ranges.push((start, buf.len()));
    }
    true
}

/// The common body: Redis's `luaRedisGenericCommand`.
unsafe fn generic(l: State, raise: bool) -> Ret {
    let run = vm::shared(l).run.get();
    if run.is_null() {
        return lua::raise_table(l, errors::LUA_NOT_IN_SCRIPT.as_bytes());
    }
    // SAFETY: `run` points at the RunCtx on the stack of the script's
    // command for as long as the script runs; Lua calls us on this thread
    // only, one call at a time, and the command touches neither the
    // server nor its clients until the script returns.
    let run: &mut RunCtx = &mut *run;
    let argc = ffi::lua_gettop(l);
    let done = || if raise { Ret::Raise } else { Ret::Values(1) };
    if argc == 0 {
        lua::push_error_table(l, errors::LUA_NO_ARGS.as_bytes());
        return done();
    }
    let ok = collect_args(l, argc, &mut run.args, &mut run.ranges);
    // The arguments are not needed any more: this also guarantees room
    // for the result.
    ffi::lua_settop(l, 0);
    if !ok {
        lua::push_error_table(l, errors::LUA_BAD_ARGS.as_bytes());
        return done();
    }
    // SAFETY: as for `run` above.
    let srv: &mut Server = &mut *run.srv;
    let argv = Argv::new(&run.args, &run.ranges);
    if super::ldb::enabled() {
        super::ldb::log_command(argv);
    }
    let rules = Rules {
        read_only: run.read_only,
        allow_oom: run.allow_oom,
        oom_at_start: run.oom_at_start,
        from_master: run.from_master,
    };
    let checked = check(srv, rules, &run.client, argv).and_then(|()| {
        if run.from_master {
            return Ok(());
        }
        check_cluster(
            srv,
            &run.client,
            argv,
            run.allow_cross_slot,
            &mut run.cluster_slot,
        )
    });
    if let Err(msg) = checked {
        // Redis's `afterErrorReply` + `incrCommandStatsOnError`: the
        // refusal counts as an error reply and a rejected call.
        let text = error_reply_text(&msg);
        srv.stats.count_error(&String::from_utf8_lossy(&text));
        if let Some(idx) = lookup(srv, argv) {
            srv.commands.stats[idx].rejected_calls += 1;
        }
        run.err_mark = srv.stats.total_error_replies;
        lua::push_error_table(l, msg.as_bytes());
        ffi::lua_pushboolean(l, 1);
        lua::raw_set_field(l, -2, c"ignore_error_stats_update");
        return done();
    }
    let repl = run.repl;
    let mark = srv.journal.pending_ops();
    crate::cmd::execute(srv, &mut run.client, argv);
    if let Some((id, keys)) = &run.track {
        let read = lookup(srv, argv)
            .is_some_and(|i| srv.commands.commands[i].flags & flags::READONLY != 0);
        if read {
            for k in keys {
                srv.tracking_remember_key(*id, k);
            }
        }
    }
    if repl != super::run::REPL_ALL {
        srv.journal.restrict_since(mark, repl);
    }
    run.err_mark = srv.stats.total_error_replies;
    let reply = &run.client.out.buf;
    let is_err = reply.first() == Some(&b'-');
    if super::ldb::enabled() {
        super::ldb::log_reply(reply);
    }
    let converted = convert::push_reply(l, reply);
    run.client.out.buf.clear();
    if converted.is_err() {
        ffi::lua_settop(l, 0);
        return lua::raise_table(l, b"reached lua stack limit");
    }
    if raise && is_err {
        Ret::Raise
    } else {
        Ret::Values(1)
    }
}

/// The text an error reply gets from a refusal message (`-CODE msg`, or
/// a message that gets `ERR`), as counted.
fn error_reply_text(msg: &str) -> Vec<u8> {
    match msg.strip_prefix('-') {
        Some(rest) => rest.as_bytes().to_vec(),
        None => format!("ERR {msg}").into_bytes(),
    }
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

/// The refusal of a Redis command Redoubt does not serve (CLUSTER on a
/// server without cluster mode, for one): Redis's checks up to
/// `noscript` come from its spec, so a script sees the same error as
/// from Redis; past them, the command is unknown here.
fn unserved(meta: &'static command_meta::CommandMeta, argv: Argv) -> String {
    let meta = if argv.len() > 1 && !meta.subcommands.is_empty() {
        match meta
            .subcommands
            .iter()
            .find(|s| s.short_name().as_bytes().eq_ignore_ascii_case(argv.get(1)))
        {
            Some(sub) => sub,
            None => return errors::LUA_UNKNOWN_COMMAND.to_string(),
        }
    } else {
        meta
    };
    let (arity, argc) = (meta.arity, argv.len() as i32);
    if (arity > 0 && argc != arity) || argc < -arity {
        return errors::LUA_WRONG_ARITY.to_string();
    }
    if meta.flags.contains(&"noscript") {
        return errors::LUA_NOSCRIPT_COMMAND.to_string();
    }
    errors::LUA_UNKNOWN_COMMAND.to_string()
}

/// Cluster mode: the command's keys must be served here, and (unless the
/// script may cross slots) share one slot with the script's other keys
/// (Redis's `scriptVerifyClusterState`, after the other checks).
fn check_cluster(
    srv: &Server,
    client: &crate::client::Client,
    argv: Argv,
    allow_cross_slot: bool,
    script_slot: &mut Option<u16>,
) -> Result<(), String> {
    use cluster::redirect::Route;
    if srv.cluster.is_none() {
        return Ok(());
    }
    let Some(idx) = lookup(srv, argv) else {
        return Ok(());
    };
    let cmd = &srv.commands.commands[idx];
    let Some((route, slot)) = crate::cluster::route(srv, client, cmd.meta, cmd.flags, argv) else {
        return Ok(());
    };
    match route {
        Route::Here => {}
        Route::DownReadOnly => return Err(errors::SCRIPT_CLUSTER_DOWN_RO.to_string()),
        Route::Down => return Err(errors::SCRIPT_CLUSTER_DOWN.to_string()),
        _ => return Err(errors::SCRIPT_NON_LOCAL_KEY.to_string()),
    }
    if let (Some(slot), false) = (slot, allow_cross_slot) {
        match *script_slot {
            None => *script_slot = Some(slot),
            Some(s) if s != slot => return Err(errors::SCRIPT_CROSS_SLOT.to_string()),
            Some(_) => {}
        }
    }
    Ok(())
}

/// The run's rules the checks need.
#[derive(Clone, Copy)]
struct Rules {
    read_only: bool,
    allow_oom: bool,
    oom_at_start: bool,
    from_master: bool,
}

/// Redis's `scriptCall` checks, in its order. The error texts are as the
/// script sees them (`-CODE msg`, or a text that gets `ERR`).
fn check(
    srv: &mut Server,
    run: Rules,
    client: &crate::client::Client,
    argv: Argv,
) -> Result<(), String> {
    let Some(idx) = lookup(srv, argv) else {
        // A command (or subcommand) Redoubt does not serve may still be
        // one of Redis's.
        let name = argv.get(0);
        return Err(
            match command_meta::specs::ALL
                .iter()
                .find(|m| m.name.as_bytes().eq_ignore_ascii_case(name))
            {
                Some(meta) => unserved(meta, argv),
                None => errors::LUA_UNKNOWN_COMMAND.to_string(),
            },
        );
    };
    let cmd = &srv.commands.commands[idx];
    let (meta, cflags) = (cmd.meta, cmd.flags);
    if cmd.handler.is_none() {
        return Err(unserved(meta, argv));
    }
    let arity = meta.arity;
    let argc = argv.len() as i32;
    if (arity > 0 && argc != arity) || argc < -arity {
        return Err(errors::LUA_WRONG_ARITY.to_string());
    }
    if cflags & flags::NOSCRIPT != 0 && !srv.scripting.disable_deny_scripts {
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
    if run.read_only && cflags & (flags::WRITE | flags::MAY_REPLICATE) != 0 {
        return Err(errors::LUA_WRITE_IN_RO.to_string());
    }
    let dirty = srv
        .scripting
        .running
        .as_ref()
        .is_some_and(|r| r.write_dirty);
    if cflags & flags::WRITE != 0 && !dirty {
        if srv.is_replica() && srv.config.get_bool(Directive::ReplicaReadOnly) && !run.from_master {
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
    if !run.allow_oom
        && srv.evictor.maxmemory > 0
        && !run.from_master
        && !dirty
        && run.oom_at_start
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
