//! The engine's view of its connections beyond the registry in
//! [`Server::clients`]: `CLIENT PAUSE` state and which requests it holds
//! back, and the one-line description of a client that `CLIENT LIST`,
//! `CLIENT INFO`, the ACL log and the connection-closed log lines share.

use crate::client::{Client, Kind};
use crate::server::Server;
use command_meta::{flags, Argv};
use std::fmt::Write;

/// `CLIENT PAUSE` state: until when (Unix ms) and whether every command or
/// only writes wait.
#[derive(Debug, Default, Clone, Copy)]
pub struct Pause {
    pub until_ms: i64,
    pub all: bool,
}

/// Whether `argv` from `client` must wait for a `CLIENT PAUSE` to end.
/// Like Redis 7.0: replicas are never paused, the master link is (a
/// paused replica applies nothing); in WRITE mode only commands that may
/// change the dataset or replicate wait (for a script, by its declared
/// flags).
pub fn must_wait(srv: &mut Server, client: &Client, argv: Argv) -> bool {
    let pause = srv.pause;
    if pause.until_ms == 0 || client.kind == Kind::Replica {
        return false;
    }
    if crate::util::time::unix_ms() >= pause.until_ms {
        // Over: forget it, so later requests skip the clock read.
        srv.pause = Pause::default();
        return false;
    }
    let Some(mut idx) = srv.commands.lookup(argv.get(0)) else {
        return false;
    };
    if argv.len() > 1 {
        if let Some(sub) = srv.commands.lookup_sub(idx, argv.get(1)) {
            idx = sub;
        }
    }
    let writes = flags::WRITE | flags::MAY_REPLICATE;
    // EXEC waits when its transaction holds a write.
    let queued = match &client.multi {
        Some(m) if srv.commands.commands[idx].meta.name == "exec" => m.cmd_flags,
        _ => 0,
    };
    let cmd = &srv.commands.commands[idx];
    // Requests refused before Redis's pause check (wrong arity, not
    // authenticated) get their error at once.
    let arity = cmd.meta.arity;
    let argc = argv.len() as i32;
    if (arity > 0 && argc != arity) || (arity < 0 && argc < -arity) {
        return false;
    }
    if !client.authenticated && cmd.flags & flags::NOAUTH == 0 && srv.auth_required() {
        return false;
    }
    if pause.all {
        return true;
    }
    // A script that declared flags is judged by them (Redis's
    // getCommandFlags): `#!lua flags=no-writes` runs during a WRITE pause.
    let own = if cmd.runs_script {
        crate::scripting::command_flags(srv, argv, cmd.flags)
    } else {
        cmd.flags
    };
    (own | queued) & writes != 0
}

/// A request of `client` waits for the pause: like Redis 7.0, the client
/// counts as blocked (INFO's `blocked_clients`, flag `b`) until it resumes.
pub fn start_pause_wait(srv: &mut Server, client: &mut Client) {
    if !client.paused {
        client.paused = true;
        srv.blocking.blocked_clients += 1;
    }
}

/// The client resumed (or is gone) after waiting for a pause.
pub fn end_pause_wait(srv: &mut Server, client: &mut Client) {
    if std::mem::take(&mut client.paused) {
        srv.blocking.blocked_clients = srv.blocking.blocked_clients.saturating_sub(1);
    }
}

/// Milliseconds left in the current pause (0 when none).
pub fn pause_remaining_ms(srv: &Server) -> u64 {
    (srv.pause.until_ms - crate::util::time::unix_ms()).max(0) as u64
}

/// One `CLIENT LIST` line, fields in Redis 7.0's order. `current` is the
/// command being run when `c` is the caller (Redis shows it in `cmd=`).
pub fn describe(srv: &Server, c: &Client, current: Option<(&str, usize)>, out: &mut String) {
    let addr = c.peer_id();
    let laddr = if c.unix_socket {
        crate::net::UNIX_ADDR.to_string()
    } else {
        c.laddr.map(|a| a.to_string()).unwrap_or_default()
    };
    let name = c
        .name
        .as_deref()
        .map(String::from_utf8_lossy)
        .unwrap_or_default();
    let age = (srv.now_ms - c.created_ms).max(0) / 1000;
    let idle = (srv.now_ms - c.last_interaction_ms).max(0) / 1000;
    let mut fl = String::new();
    match c.kind {
        Kind::Master => fl.push('M'),
        Kind::Replica => fl.push('S'),
        Kind::Monitor => fl.push('O'),
        Kind::Normal => {}
    }
    if c.subs.is_subscribed() {
        fl.push('P');
    }
    if c.multi.is_some() {
        fl.push('x');
    }
    if c.blocked.is_some() || c.paused {
        fl.push('b');
    }
    if c.tracking.on {
        fl.push('t');
    }
    if c.tracking.broken_redirect {
        fl.push('R');
    }
    if c.tracking.bcast {
        fl.push('B');
    }
    // A watched key was touched: the next EXEC fails.
    if srv.watches.is_dirty(c.id) {
        fl.push('d');
    }
    if c.close_after_reply {
        fl.push('A');
    }
    if c.no_evict {
        fl.push('e');
    }
    if fl.is_empty() {
        fl.push('N');
    }
    // While EXEC runs the queue, Redis reports EXEC itself as the current
    // command (its only argument is the four bytes of its name).
    let current = if c.in_exec {
        Some(("exec", 4))
    } else {
        current
    };
    let (cmd, argv_mem) = match current {
        Some((name, mem)) => (name, mem),
        None => (c.last_cmd, 0),
    };
    let (multi, multi_mem) = match &c.multi {
        Some(m) => (m.queued as i64, m.mem),
        None => (-1, 0),
    };
    let obl = c.out.buf.len();
    let rbs = c.out.buf.capacity().max(1024);
    let tot = c.qbuf + c.qbuf_free + rbs + argv_mem + multi_mem + std::mem::size_of::<Client>();
    let events = if obl > 0 { "rw" } else { "r" };
    let _ = writeln!(
        out,
        "id={} addr={addr} laddr={laddr} fd={} name={name} age={age} idle={idle} flags={fl} \
         db={} sub={} psub={} ssub={} multi={multi} qbuf={} qbuf-free={} argv-mem={argv_mem} \
         multi-mem={multi_mem} rbs={rbs} rbp={rbs} obl={obl} oll=0 omem=0 tot-mem={tot} events={events} \
         cmd={cmd} user={} redir={} resp={}",
        c.id,
        c.fd,
        c.db,
        c.subs.channels.len(),
        c.subs.patterns.len(),
        c.subs.shard.len(),
        c.qbuf,
        c.qbuf_free,
        c.user,
        if c.tracking.on {
            c.tracking.redirect as i64
        } else {
            -1
        },
        c.resp()
    );
}
