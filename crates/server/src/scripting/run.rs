//! One script run, for EVAL* and FCALL* alike (Redis's
//! `scriptPrepareForRun`, `luaCallFunction` and `scriptResetRun`).
//!
//! Before: the refusals that depend on the script's declared flags (stale
//! replica, read-only replica, disk errors, `*_RO` commands, too few
//! replicas, OOM). During: the script client carries the caller's user and
//! database; the server is reached by the Lua callbacks through a
//! [`RunCtx`] on this function's stack while the command lends it. After:
//! the result or the error (with Redis's ` script: <name>, on
//! <source>:<line>.` context) becomes the caller's reply, and the error
//! statistics are kept as Redis keeps them.

use super::convert::{self, ErrorInfo, ErrorSink};
use super::flags as sflags;
use super::lua::{self, ffi};
use super::vm::Kind;
use super::Running;
use crate::client::Client;
use crate::cmd::Ctx;
use crate::config::Directive;
use crate::errors;
use crate::server::Server;
use std::os::raw::c_int;
use std::time::Instant;

/// `redis.set_repl` targets (Redis's `PROPAGATE_AOF` / `PROPAGATE_REPL`).
pub const REPL_AOF: u8 = 1;
pub const REPL_REPLICA: u8 = 2;
pub const REPL_ALL: u8 = REPL_AOF | REPL_REPLICA;

/// Instructions between two calls of the busy hook (Redis's count hook
/// period).
pub const HOOK_PERIOD: c_int = 100_000;

/// What the Lua callbacks of a running script reach: the server (lent by
/// the script's command for the run), the script client, and the run's
/// rules.
pub struct RunCtx {
    pub srv: *mut Server,
    /// The client the script's commands run as.
    pub client: Box<Client>,
    pub read_only: bool,
    pub allow_oom: bool,
    /// `maxmemory` was exceeded when the script's command started.
    pub oom_at_start: bool,
    pub from_master: bool,
    /// Where the script's effects go (`redis.set_repl`).
    pub repl: u8,
    /// The arguments of the current `redis.call`, read from the stack.
    pub args: Vec<u8>,
    pub ranges: Vec<(usize, usize)>,
    /// `total_error_replies` after the last command the script ran: error
    /// replies counted after it make the script's command a failed call
    /// (Redis's `prev_err_count`, reset by every nested call).
    pub err_mark: u64,
    /// A caller with client-side caching on (default mode): each
    /// read-only command the script runs makes it track the script's
    /// declared keys (Redis's call(): the script caller's keys, not the
    /// command's).
    pub track: Option<(u64, Vec<Vec<u8>>)>,
    /// Cluster mode: the slot the script's keys must share (the declared
    /// keys', else the first key a command of the script touched), unless
    /// the script may cross slots (`allow-cross-slot-keys`, or an EVAL
    /// without a shebang), as Redis's `scriptVerifyClusterState` keeps it.
    pub cluster_slot: Option<u16>,
    pub allow_cross_slot: bool,
}

/// A script to run.
pub struct Script<'a> {
    pub kind: Kind,
    /// The compiled function's registry reference.
    pub func: c_int,
    /// Declared flags (or `EVAL_COMPAT` without a shebang).
    pub flags: u32,
    /// EVAL_RO, EVALSHA_RO, FCALL_RO.
    pub read_only_command: bool,
    /// The sha, or the function's name, for errors and logs.
    pub name: &'a [u8],
}

/// The refusals before a script with declared flags runs; a script in
/// compatibility mode only stops on a stale replica.
fn refusal(srv: &mut Server, caller: &Client, s: &Script) -> Option<String> {
    let stale = crate::replication::replica::deny_stale(srv);
    if s.flags & sflags::EVAL_COMPAT != 0 {
        return stale.then(|| errors::MASTERDOWN_TEXT.to_string());
    }
    if s.flags & sflags::NO_CLUSTER != 0 && srv.config.get_bool(Directive::ClusterEnabled) {
        return Some(errors::SCRIPT_NO_CLUSTER.to_string());
    }
    if stale && s.flags & sflags::ALLOW_STALE == 0 {
        return Some(errors::SCRIPT_STALE.to_string());
    }
    let obey = caller.is_master() || caller.loading;
    if s.flags & sflags::NO_WRITES == 0 {
        if srv.is_replica() && srv.config.get_bool(Directive::ReplicaReadOnly) && !obey {
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

/// Error replies written for the caller: counted in the error statistics,
/// or (already counted when a command failed) only making the script's
/// command a failed call, as Redis's `afterErrorReply` does.
struct Sink<'a> {
    stats: &'a mut crate::stats::Stats,
    failed: u64,
}

impl ErrorSink for Sink<'_> {
    fn error(&mut self, text: &[u8], counted: bool) {
        if counted {
            let code = convert::error_code(text);
            self.stats.count_error_code(&String::from_utf8_lossy(code));
        } else {
            self.failed += 1;
        }
    }
}

/// Runs `s` for the command in `ctx` with the keys `argv[first..first +
/// numkeys]` and the arguments after them, and writes its result (or
/// error) as the reply.
pub fn run(ctx: &mut Ctx, s: Script, first: usize, numkeys: usize) {
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
    client.acl_user.clone_from(&ctx.client.acl_user);
    client.user.clone_from(&ctx.client.user);
    // Its commands are routed as the caller's would be.
    client.cluster_readonly = ctx.client.cluster_readonly;
    client.cluster_asking = ctx.client.cluster_asking;
    let cluster_slot = (srv.cluster.is_some() && numkeys > 0)
        .then(|| keyspace::key_hash_slot(ctx.argv.get(first)));
    let sc = &mut srv.scripting;
    sc.running = Some(Running {
        eval_mode,
        timed_out: false,
        killed: false,
        write_dirty: false,
        from_master,
        start: Instant::now(),
        caller_id: ctx.client.id,
    });
    sc.running_name.clear();
    sc.running_name.push_str(&String::from_utf8_lossy(s.name));
    if !eval_mode {
        // What FUNCTION STATS shows while the function runs.
        let (buf, ranges) = &mut sc.running_command;
        buf.clear();
        ranges.clear();
        for a in ctx.argv.iter() {
            ranges.push((buf.len(), buf.len() + a.len()));
            buf.extend_from_slice(a);
        }
    }
    let (args, ranges) = std::mem::take(&mut sc.call_buffers);
    match s.kind {
        Kind::Eval => sc.eval.in_use = true,
        Kind::Functions => sc.functions.in_use = true,
    }
    let vm = match s.kind {
        Kind::Eval => &sc.eval.vm,
        Kind::Functions => &sc.functions.vm,
    };
    let l = vm.state();
    let handler = vm.handler_ref();
    let shared: *const super::vm::Shared = vm.shared();
    let threshold = srv.config.get_int(Directive::BusyReplyThreshold);
    let track = (numkeys > 0 && ctx.client.tracking.remembers_reads()).then(|| {
        let keys = (first..first + numkeys).map(|i| ctx.argv.get(i).to_vec());
        (ctx.client.id, keys.collect())
    });
    let mut rc = RunCtx {
        srv: std::ptr::null_mut(),
        client,
        read_only: s.read_only_command || (!compat && s.flags & sflags::NO_WRITES != 0),
        allow_oom: !compat && s.flags & sflags::ALLOW_OOM != 0,
        oom_at_start: srv.scripting.pre_command_oom,
        from_master,
        repl: REPL_ALL,
        args,
        ranges,
        err_mark: srv.stats.total_error_replies,
        track,
        cluster_slot,
        allow_cross_slot: compat || s.flags & sflags::ALLOW_CROSS_SLOT != 0,
    };
    let argc = ctx.argv.len();
    let keys = first..first + numkeys;
    let others = first + numkeys..argc;
    // SAFETY: stack operations on the state of the engine that owns it;
    // the stack has LUA_MINSTACK free slots at its base, more than the
    // five used here. `shared` lives as long as the state. While Lua runs,
    // the server is reached only through `rc.srv`, made from `ctx.srv`
    // right before the call and not used after it; `ctx.srv` is not used
    // until the call returns.
    let status = unsafe {
        ffi::lua_rawgeti_(l, ffi::LUA_REGISTRYINDEX, handler);
        ffi::lua_rawgeti_(l, ffi::LUA_REGISTRYINDEX, s.func);
        push_array(l, ctx, keys);
        if eval_mode {
            set_global(l, c"KEYS");
        }
        push_array(l, ctx, others);
        if eval_mode {
            set_global(l, c"ARGV");
        }
        let debugging = eval_mode && super::ldb::active();
        if debugging {
            ffi::lua_sethook(
                l,
                Some(super::ldb::hook),
                ffi::LUA_MASKLINE | ffi::LUA_MASKCOUNT,
                HOOK_PERIOD,
            );
        } else if threshold > 0 {
            ffi::lua_sethook(l, Some(super::busy::hook), ffi::LUA_MASKCOUNT, HOOK_PERIOD);
        }
        rc.srv = ctx.srv as *mut Server;
        (*shared).run.set(&mut rc);
        let status = if eval_mode {
            ffi::lua_pcall(l, 0, 1, -2)
        } else {
            ffi::lua_pcall(l, 2, 1, -4)
        };
        (*shared).run.set(std::ptr::null_mut());
        if debugging || threshold > 0 {
            ffi::lua_sethook(l, None, 0, 0);
        }
        status
    };
    let script_resp3 = rc.client.out.resp3;
    let err_mark = rc.err_mark;
    let srv: &mut Server = ctx.srv;
    srv.scripting.call_buffers = (std::mem::take(&mut rc.args), std::mem::take(&mut rc.ranges));
    srv.scripting.put_client(rc.client);
    let running = srv.scripting.running.take();
    srv.scripting.eval.in_use = false;
    srv.scripting.functions.in_use = false;

    // Lua's collector runs a step every 50 scripts, so its full cycles do
    // not land on one unlucky call (Redis's LUA_GC_CYCLE_PERIOD).
    let sc = &mut srv.scripting;
    sc.gc_countdown = sc.gc_countdown.saturating_sub(1);
    if sc.gc_countdown == 0 {
        sc.gc_countdown = 50;
        match s.kind {
            Kind::Eval => sc.eval.vm.gc_step(50),
            Kind::Functions => sc.functions.vm.gc_step(50),
        }
    }

    let mut sink = Sink {
        stats: &mut srv.stats,
        failed: 0,
    };
    let out = &mut ctx.client.out;
    // SAFETY: the result (or error) and the handler are on the stack.
    unsafe {
        if status != 0 {
            if ffi::lua_type(l, -1) != ffi::LUA_TTABLE {
                let msg = lua::to_bytes(l, -1).unwrap_or(b"execution failure");
                let msg = msg.split(|&b| b == 0).next().unwrap_or_default();
                let mut text = b"Error running script ".to_vec();
                text.extend_from_slice(s.name);
                text.extend_from_slice(b", ");
                text.extend_from_slice(&msg[..msg.len().min(100)]);
                convert::write_error(out, &text, &mut sink, true);
            } else {
                let info = ErrorInfo::extract(l);
                let mut text = b"-".to_vec();
                text.extend_from_slice(&info.msg);
                if let (Some(line), Some(source)) = (&info.line, &info.source) {
                    text.extend_from_slice(b" script: ");
                    text.extend_from_slice(s.name);
                    text.extend_from_slice(b", on ");
                    text.extend_from_slice(source);
                    text.push(b':');
                    text.extend_from_slice(line);
                    text.push(b'.');
                }
                convert::write_error_raw(out, &text, &mut sink, !info.ignore_stats);
            }
            ffi::lua_pop(l, 1);
        } else {
            convert::write_reply(l, out, script_resp3, &mut sink);
        }
        // The error handler.
        ffi::lua_pop(l, 1);
    }
    let failed = sink.failed;
    let st = &mut srv.commands.stats[ctx.cmd];
    st.failed_calls += failed;
    if srv.stats.total_error_replies > err_mark {
        st.failed_calls += 1;
    }
    if running.as_ref().is_some_and(|r| r.timed_out) {
        srv.scripting.after_timed_out_script();
    }
}

/// Pushes `argv[range]` as a Lua array.
///
/// # Safety
/// One free slot beyond the table.
unsafe fn push_array(l: lua::State, ctx: &Ctx, range: std::ops::Range<usize>) {
    ffi::lua_createtable(l, range.len() as c_int, 0);
    for (i, a) in range.enumerate() {
        lua::push_bytes(l, ctx.argv.get(a));
        ffi::lua_rawseti_(l, -2, (i + 1) as c_int);
    }
}

/// Pops the value on top into the global `name`, lifting the globals'
/// protection for the moment (EVAL's KEYS and ARGV).
///
/// # Safety
/// A value on top; the globals have no `__newindex`.
unsafe fn set_global(l: lua::State, name: &std::ffi::CStr) {
    lua::lua_enablereadonlytable(l, ffi::LUA_GLOBALSINDEX, 0);
    ffi::lua_pushvalue(l, ffi::LUA_GLOBALSINDEX);
    ffi::lua_insert(l, -2);
    lua::raw_set_field(l, -2, name);
    ffi::lua_pop(l, 1);
    lua::lua_enablereadonlytable(l, ffi::LUA_GLOBALSINDEX, 1);
}
