//! Scripting's runtime: Lua 5.1 as Redis 7.0 embeds it, for EVAL scripts
//! and for function libraries (Redis's `script_lua.c`, `script.c`,
//! `eval.c` and `function_lua.c`).
//!
//! What lives here, owned by the executor thread through `Server::scripting`:
//! - `lua`: the Lua C API (vendored Lua 5.1.5 through `mlua-sys`), the
//!   allocator, and the rules every Rust-written Lua function follows.
//! - `vm`: one Lua state per engine (EVAL's, and the functions'), with the
//!   libraries Redis loads and the read-only globals.
//! - `api`: the `redis.*` helpers, Redis's `pcall` and `math.random`.
//! - `call`: `redis.call`/`redis.pcall` — Redis's `scriptCall` checks, then
//!   the command runs through `cmd::execute` as the script client, so the
//!   table, ACL and propagation apply exactly as to any client.
//! - `convert`: RESP replies to Lua values and Lua values to replies, by
//!   Redis's rules for RESP2 and RESP3.
//! - `run`: one script run (Redis's `scriptPrepareForRun`, `luaCallFunction`
//!   and `scriptResetRun`): the checks before it, KEYS/ARGV, the hook that
//!   watches the time, the error texts with their `script: ...` context.
//! - `busy`: what the event loop does while a script is past
//!   `busy-reply-threshold` (other clients get `-BUSY`; `SCRIPT KILL`,
//!   `FUNCTION KILL` and `SHUTDOWN NOSAVE` are served).
//! - `eval`: the EVAL script cache and the shebang flags.
//! - `ldb`: the Lua debugger's synchronous sessions (`SCRIPT DEBUG SYNC`).
//! - `functions`: function libraries, FUNCTION LOAD's sandbox, DUMP/RESTORE
//!   payloads; saved in RDB files and sent with full syncs.
//! - `libs`: cjson, cmsgpack, struct and bit, written here against the C API.
//!
//! The command families (`EVAL*`, `SCRIPT`, `FUNCTION`, `FCALL*`) are in the
//! families crate and call into this module.

pub mod api;
pub mod busy;
pub mod call;
pub mod convert;
pub mod eval;
pub mod functions;
pub mod ldb;
pub mod libs;
pub mod lua;
pub mod run;
pub mod vm;

use std::time::Instant;

/// Script flags, from a shebang line (`#!lua flags=...`) or from
/// `redis.register_function{flags=...}`.
pub mod flags {
    pub const NO_WRITES: u32 = 1 << 0;
    pub const ALLOW_OOM: u32 = 1 << 1;
    pub const ALLOW_STALE: u32 = 1 << 2;
    pub const NO_CLUSTER: u32 = 1 << 3;
    pub const ALLOW_CROSS_SLOT: u32 = 1 << 4;
    /// A script without a shebang: Redis 6's rules (no declared flags).
    pub const EVAL_COMPAT: u32 = 1 << 5;

    /// The flags scripts may declare, by the names Redis uses.
    pub const NAMES: &[(&str, u32)] = &[
        ("no-writes", NO_WRITES),
        ("allow-oom", ALLOW_OOM),
        ("allow-stale", ALLOW_STALE),
        ("no-cluster", NO_CLUSTER),
        ("allow-cross-slot-keys", ALLOW_CROSS_SLOT),
    ];
}

/// The script being run, as other clients' commands and the busy loop
/// see it (Redis's `curr_run_ctx` flags).
#[derive(Debug)]
pub struct Running {
    /// EVAL (as opposed to FCALL): which KILL and which BUSY text apply.
    pub eval_mode: bool,
    /// Past `busy-reply-threshold`: other clients are being answered.
    pub timed_out: bool,
    /// SCRIPT KILL / FUNCTION KILL asked for the script to stop.
    pub killed: bool,
    /// The script ran a write command: it can no longer be killed.
    pub write_dirty: bool,
    /// Sent by our master (or the AOF): never killed.
    pub from_master: bool,
    pub start: Instant,
    pub caller_id: u64,
}

/// All scripting state of the server.
pub struct Scripting {
    pub eval: eval::EvalEngine,
    pub functions: functions::Functions,
    /// The script running now, if any.
    pub running: Option<Running>,
    /// The running script's name (its sha, or the function's name); the
    /// buffer is kept between runs.
    pub running_name: String,
    /// The running function's command (FCALL and its arguments, for
    /// FUNCTION STATS): one buffer and the arguments' ranges, kept
    /// between runs.
    pub running_command: (Vec<u8>, Vec<(usize, usize)>),
    /// `redis.call`'s argument buffers, lent to each run.
    pub call_buffers: (Vec<u8>, Vec<(usize, usize)>),
    /// `DEBUG SET-DISABLE-DENY-SCRIPTS`: scripts may run `noscript`
    /// commands (a test hook, as in Redis).
    pub disable_deny_scripts: bool,
    /// `lua-enable-deprecated-api` as the states were created with.
    pub lua_enable_deprecated_api: bool,
    /// `maxmemory` was exceeded when the current command started (Redis's
    /// `pre_command_oom_state`), set by `cmd::execute`.
    pub pre_command_oom: bool,
    /// Scripts until the next step of Lua's garbage collector.
    pub gc_countdown: u32,
    /// The client scripts' commands run as, kept between runs.
    client: Option<Box<crate::client::Client>>,
    /// Wake-ups for the connections served while a script was busy.
    pub served: Vec<std::rc::Rc<tokio::sync::Notify>>,
    /// Connections accepted while a script was busy, waiting for their
    /// tasks (see `net::accept_while_busy`), and the wake-up of the task
    /// that starts them.
    pub adopted: Vec<(
        std::net::TcpStream,
        std::rc::Rc<std::cell::RefCell<crate::client::Client>>,
    )>,
    pub adopt_notify: std::rc::Rc<tokio::sync::Notify>,
}

impl Scripting {
    pub fn new(deprecated_api: bool) -> Scripting {
        Scripting {
            eval: eval::EvalEngine::new(deprecated_api),
            functions: functions::Functions::new(deprecated_api),
            running: None,
            running_name: String::new(),
            running_command: (Vec::new(), Vec::new()),
            call_buffers: (Vec::new(), Vec::new()),
            disable_deny_scripts: false,
            lua_enable_deprecated_api: deprecated_api,
            pre_command_oom: false,
            gc_countdown: 50,
            client: None,
            served: Vec::new(),
            adopted: Vec::new(),
            adopt_notify: Default::default(),
        }
    }

    /// The script client, for a run (Redis's `lua_client`): not in the
    /// client registry, never blocks, and keeps the clock of its command.
    pub fn take_client(&mut self) -> Box<crate::client::Client> {
        self.client.take().unwrap_or_else(|| {
            let mut c = Box::new(crate::client::Client::new(u64::MAX, 0));
            c.script = true;
            c.authenticated = true;
            c.in_exec = true;
            c.deny_blocking = true;
            c
        })
    }

    /// Gives the script client back after a run.
    pub fn put_client(&mut self, c: Box<crate::client::Client>) {
        self.client = Some(c);
    }

    /// A script that went past `busy-reply-threshold` ended: the
    /// connections answered meanwhile get their tasks back.
    pub fn after_timed_out_script(&mut self) {
        busy::wake(&mut self.served);
        if !self.adopted.is_empty() {
            self.adopt_notify.notify_one();
        }
    }

    /// Whether other clients must get `-BUSY` now.
    #[inline]
    pub fn timed_out(&self) -> bool {
        self.running.as_ref().is_some_and(|r| r.timed_out)
    }

    /// The `-BUSY` text for the running script's kind.
    pub fn busy_error(&self) -> &'static str {
        match &self.running {
            Some(r) if !r.eval_mode => crate::errors::BUSY_FUNCTION,
            _ => crate::errors::BUSY_SCRIPT,
        }
    }

    /// Bytes held by the two Lua states (`used_memory_vm_*`).
    pub fn vm_memory(&self) -> (usize, usize) {
        (self.eval.vm.memory(), self.functions.vm.memory())
    }
}

/// The commands that run a script, whose pre-handler flags come from the
/// script (`Command::runs_script`).
pub const RUNS_SCRIPT: &[&str] = &[
    "eval",
    "evalsha",
    "eval_ro",
    "evalsha_ro",
    "fcall",
    "fcall_ro",
];

/// The flags `cmd::execute` checks for EVAL*/FCALL*: a script that
/// declared flags is a write (and deny-OOM) command unless `no-writes`
/// (`allow-oom`), and runs on a stale replica with `allow-stale`; one
/// without keeps the command's own flags (Redis's `evalGetCommandFlags`
/// and `fcallGetCommandFlags`).
pub fn command_flags(srv: &crate::server::Server, argv: command_meta::Argv, cflags: u32) -> u32 {
    use command_meta::flags as f;
    if argv.len() < 2 {
        return cflags;
    }
    let name = argv.get(0);
    let script_flags = if name.len() >= 4 && name[..4].eq_ignore_ascii_case(b"eval") {
        let evalsha = name.len() >= 7 && name[..7].eq_ignore_ascii_case(b"evalsha");
        let sha = if evalsha {
            match eval::parse_sha(argv.get(1)) {
                Some(s) => s,
                None => return cflags,
            }
        } else {
            eval::sha1hex(argv.get(1))
        };
        match srv.scripting.eval.scripts.get(&sha) {
            Some(s) => s.flags,
            None if evalsha => return cflags,
            None => match eval::shebang_flags(argv.get(1)) {
                Ok((fl, _)) => fl,
                Err(_) => return cflags,
            },
        }
    } else {
        let name = String::from_utf8_lossy(argv.get(1)).to_ascii_lowercase();
        match srv.scripting.functions.functions.get(&name) {
            Some(func) => func.flags,
            None => return cflags,
        }
    };
    if script_flags & flags::EVAL_COMPAT != 0 {
        return cflags;
    }
    let mut c = cflags & !(f::STALE | f::DENYOOM | f::WRITE);
    if script_flags & (flags::ALLOW_OOM | flags::NO_WRITES) == 0 {
        c |= f::DENYOOM;
    }
    if script_flags & flags::NO_WRITES == 0 {
        c |= f::WRITE;
    }
    if script_flags & flags::ALLOW_STALE != 0 {
        c |= f::STALE;
    }
    c & !f::MAY_REPLICATE
}
