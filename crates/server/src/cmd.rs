//! The command table and the one place where generic checks run.
//!
//! Every request goes through [`execute`]: look the name up (a precomputed
//! map on case-folded bytes), check authentication and arity, run the
//! handler, then record statistics and propagate the command's effect
//! through the journal. Nothing calls handlers around this path — the
//! replica link and AOF loading will feed commands through it too, as a
//! client marked "master" or "loading", as Redis does.
//!
//! Command metadata (arity, flags, ACL categories, key specs) is data in
//! `commands/specs.rs`, generated from Redis 7.0; family files pair names
//! with handlers. Only names with a handler are served or advertised.

use crate::client::Client;
use crate::config::Directive;

use crate::errors;
use crate::server::Server;
use command_meta::{flags, Argv, CommandMeta};
use resp::Reply;
use std::collections::HashMap;
use std::time::Instant;

/// A handler: parse arguments, run the keyspace operation, encode the reply.
pub type Handler = fn(&mut Ctx);

/// A family's handlers by command name (`parent|sub` for subcommands), as
/// each family file declares them at its top.
pub type HandlerTable = &'static [(&'static str, Handler)];

/// The engine's own commands: those that drive replication and the AOF
/// rewrite, whose state lives in the engine. Everything else is a family
/// registered at start-up.
pub const ENGINE_COMMANDS: &[HandlerTable] = &[
    crate::replication::master::COMMANDS,
    crate::replication::replica::COMMANDS,
    crate::persistence::aof::COMMANDS,
];

/// Names in `tables` that no metadata describes: they would never be
/// served (a misspelt name, or a command missing from the generated
/// specs). Start-up logs them; a test keeps the list empty.
pub fn handlers_without_spec(tables: &[HandlerTable]) -> Vec<&'static str> {
    let known = |name: &str| {
        command_meta::specs::ALL
            .iter()
            .any(|m| m.name == name || m.subcommands.iter().any(|s| s.name == name))
    };
    tables
        .iter()
        .flat_map(|t| t.iter())
        .map(|(name, _)| *name)
        .filter(|name| !known(name))
        .collect()
}

/// A served command: metadata, handler, flag bits and counters.
pub struct Command {
    pub meta: &'static CommandMeta,
    pub handler: Option<Handler>,
    pub flags: u32,
    pub subcommands: NameMap,
    /// Index into [`CommandTable::commands`] of the parent, for subcommands.
    pub parent: Option<usize>,
    /// EVAL*, FCALL*: the flags checked before the handler are the
    /// script's declared ones (see `scripting::command_flags`).
    pub runs_script: bool,
}

/// Per-command statistics for `INFO commandstats`.
#[derive(Debug, Default, Clone, Copy)]
pub struct CommandStats {
    pub calls: u64,
    pub usec: u64,
    pub rejected_calls: u64,
    pub failed_calls: u64,
}

/// All commands, with a name index on lower-cased bytes.
pub struct CommandTable {
    pub commands: Vec<Command>,
    pub stats: Vec<CommandStats>,
    by_name: NameMap,
}

/// Name → command index. Hashed with foldhash rather than SipHash: the
/// look-up runs once per request, and the table's keys are fixed at start
/// (clients only look names up, they cannot insert colliding ones), so
/// SipHash's flood resistance buys nothing here; it cost about 250
/// instructions a request (a sixth of a GET).
pub type NameMap = HashMap<Vec<u8>, usize, foldhash::fast::RandomState>;

/// Case-folds `name` into a stack buffer for look-up; names longer than the
/// buffer cannot be commands.
fn fold<'a>(name: &[u8], buf: &'a mut [u8; 64]) -> Option<&'a [u8]> {
    if name.len() > buf.len() {
        return None;
    }
    for (d, s) in buf.iter_mut().zip(name) {
        *d = s.to_ascii_lowercase();
    }
    Some(&buf[..name.len()])
}

impl CommandTable {
    /// Builds the table from the generated metadata, the engine's own
    /// handlers and those of the `families` registered at start-up,
    /// applying `rename-command` directives. In a `mode` (Sentinel) only
    /// the mode's listed commands stay, plus the mode's own.
    pub fn build(
        renames: &[(String, String)],
        families: &[HandlerTable],
        mode: Option<&'static crate::mode::Mode>,
    ) -> CommandTable {
        let mut handlers: HashMap<&'static str, Handler> = ENGINE_COMMANDS
            .iter()
            .chain(families)
            .flat_map(|t| t.iter().copied())
            .collect();
        if let Some(m) = mode {
            handlers.extend(m.handlers.iter().copied());
        }
        let own_specs = command_meta::specs::ALL.iter().filter(|meta| match mode {
            Some(m) => m.served.contains(&meta.name),
            None => true,
        });
        let mode_specs = mode.map(|m| m.specs).unwrap_or(&[]);
        let mut metas: Vec<&'static CommandMeta> = own_specs.chain(mode_specs.iter()).collect();
        metas.sort_by_key(|m| m.name);
        let mut t = CommandTable {
            commands: Vec::new(),
            stats: Vec::new(),
            by_name: NameMap::default(),
        };
        for meta in metas {
            let own = handlers.get(meta.name).copied();
            let mut subs = NameMap::default();
            let parent_idx = t.commands.len();
            t.commands.push(Command {
                meta,
                handler: own,
                flags: flags::of(meta),
                subcommands: NameMap::default(),
                parent: None,
                runs_script: crate::scripting::RUNS_SCRIPT.contains(&meta.name),
            });
            for sub in meta.subcommands {
                if let Some(h) = handlers.get(sub.name) {
                    subs.insert(sub.short_name().as_bytes().to_vec(), t.commands.len());
                    t.commands.push(Command {
                        meta: sub,
                        handler: Some(*h),
                        flags: flags::of(sub),
                        subcommands: NameMap::default(),
                        parent: Some(parent_idx),
                        runs_script: false,
                    });
                }
            }
            if own.is_none() && subs.is_empty() {
                t.commands.pop();
                continue;
            }
            t.commands[parent_idx].subcommands = subs;
            t.by_name.insert(meta.name.as_bytes().to_vec(), parent_idx);
        }
        for (from, to) in renames {
            let from = from.to_ascii_lowercase();
            if let Some(idx) = t.by_name.remove(from.as_bytes()) {
                if !to.is_empty() {
                    t.by_name.insert(to.to_ascii_lowercase().into_bytes(), idx);
                }
            }
        }
        t.stats = vec![CommandStats::default(); t.commands.len()];
        t
    }

    /// Looks up a top-level command by name, case-insensitively.
    pub fn lookup(&self, name: &[u8]) -> Option<usize> {
        let mut buf = [0u8; 64];
        self.by_name.get(fold(name, &mut buf)?).copied()
    }

    /// Looks up a subcommand of `parent`.
    pub fn lookup_sub(&self, parent: usize, name: &[u8]) -> Option<usize> {
        let mut buf = [0u8; 64];
        self.commands[parent]
            .subcommands
            .get(fold(name, &mut buf)?)
            .copied()
    }

    /// Top-level commands in name order, for `COMMAND` and `COMMAND LIST`.
    pub fn top_level(&self) -> impl Iterator<Item = (usize, &Command)> {
        self.commands
            .iter()
            .enumerate()
            .filter(|(_, c)| c.parent.is_none())
    }

    /// Whether a top-level command is reachable under its own name (not
    /// renamed away).
    pub fn is_served(&self, idx: usize) -> bool {
        self.by_name.values().any(|&i| i == idx)
    }
}

/// Everything a handler can reach: the server, the calling client, the
/// arguments, and the command being run.
pub struct Ctx<'a> {
    pub srv: &'a mut Server,
    pub client: &'a mut Client,
    pub argv: Argv<'a>,
    pub cmd: usize,
    /// Set when the handler propagated its own effect (a rewritten form);
    /// otherwise a command that changed the dataset is propagated verbatim.
    pub(crate) custom_propagation: bool,
}

impl<'a> Ctx<'a> {
    /// The reply buffer of the calling client.
    #[inline]
    pub fn out(&mut self) -> &mut Reply {
        &mut self.client.out
    }

    /// Replies with an error and counts it in `INFO errorstats` and the
    /// command's `failed_calls`.
    pub fn err(&mut self, msg: &str) {
        self.srv.stats.count_error(msg);
        self.srv.commands.stats[self.cmd].failed_calls += 1;
        self.client.out.error(msg);
    }

    /// The generic wrong-number-of-arguments error for this command.
    pub fn err_arity(&mut self) {
        let name = self.srv.commands.commands[self.cmd].meta.name;
        let msg = errors::wrong_arity(name);
        self.err(&msg);
    }

    /// The current client's database.
    #[inline]
    pub fn db(&mut self) -> &mut keyspace::Db {
        let i = self.client.db;
        &mut self.srv.dbs[i]
    }

    /// Cached time of this command in Unix milliseconds.
    #[inline]
    pub fn now_ms(&self) -> i64 {
        self.srv.now_ms
    }

    /// Counts `n` changes to the dataset (`rdb_changes_since_last_save`).
    /// A command that counted changes and did not call
    /// [`Ctx::propagate`] is propagated verbatim.
    #[inline]
    pub fn dirty(&mut self, n: u64) {
        self.srv.dirty += n;
    }

    /// Propagates `args` as this command's effect instead of the request
    /// as it was received (e.g. `SET k v EX 10` → `SET k v PXAT <ms>`).
    /// Can be called several times for several effects.
    pub fn propagate(&mut self, args: &[&[u8]]) {
        self.custom_propagation = true;
        let db = self.client.db;
        self.srv.journal.propagate(db, args);
    }

    /// Signals that `key` was modified (breaks WATCH, invalidates client
    /// caches). Every write command calls it once per changed key.
    #[inline]
    pub fn modified(&mut self, key: &[u8]) {
        let db = self.client.db;
        self.srv.signal_modified_key(db, key);
        self.flush_pushes();
    }

    /// Emits a keyspace notification of `class` (see `notify::class`) for
    /// `event` on `key`, as the command's Redis counterpart does.
    #[inline]
    pub fn notify(&mut self, class: u32, event: &str, key: &[u8]) {
        let db = self.client.db;
        self.srv.notify_keyspace_event(class, event, key, db);
        self.flush_pushes();
    }

    /// Moves Pub/Sub messages this command produced for its own client
    /// into its output now, so they sit where Redis writes them: after
    /// whatever reply was written before the event.
    #[inline]
    pub fn flush_pushes(&mut self) {
        self.srv.pubsub.flush_into(&mut self.client.out);
    }

    /// Propagates the request as received even when it changed nothing
    /// (Redis's `forceCommandPropagation`: FLUSHALL on an empty dataset).
    pub fn force_propagation(&mut self) {
        let argv = self.argv;
        self.custom_propagation = true;
        let db = self.client.db;
        self.srv.journal.propagate_argv(db, argv);
    }

    /// [`Ctx::force_propagation`] to the replicas only, not the AOF
    /// (Redis's `PROPAGATE_REPL`: PUBLISH reaches a replica's
    /// subscribers, a reload of the AOF publishes nothing).
    pub fn force_propagation_to_replicas(&mut self) {
        let mark = self.srv.journal.pending_ops();
        self.force_propagation();
        self.srv
            .journal
            .restrict_since(mark, crate::journal::target::REPLICAS);
    }

    /// Marks the command as propagating nothing even though it counted
    /// changes.
    pub fn suppress_propagation(&mut self) {
        self.custom_propagation = true;
    }

    /// The server and the client as separate borrows, so a handler can
    /// read a value from the keyspace and write it to the reply without a
    /// copy.
    #[inline]
    pub fn parts(&mut self) -> (&mut Server, &mut Client) {
        (self.srv, self.client)
    }

    /// Looks `key` up for reading: applies lazy expiry, counts a keyspace
    /// hit or miss, refreshes the access time.
    #[inline]
    pub fn lookup_read(&mut self, key: &[u8]) -> Option<&mut keyspace::Entry> {
        let (db, master) = (self.client.db, self.client.is_master());
        if self.srv.pubsub.is_empty() {
            return self.srv.lookup_read(db, key, master);
        }
        // Events the look-up raises (keymiss, expired) reach this client
        // at this point of its reply, as in Redis (inside MGET's array).
        let found = self.srv.lookup_read(db, key, master).is_some();
        self.flush_pushes();
        if found {
            self.srv.dbs[db].get_mut(key)
        } else {
            None
        }
    }

    /// Looks `key` up for writing: applies lazy expiry only.
    #[inline]
    pub fn lookup_write(&mut self, key: &[u8]) -> Option<&mut keyspace::Entry> {
        let (db, master) = (self.client.db, self.client.is_master());
        if self.srv.pubsub.is_empty() {
            return self.srv.lookup_write(db, key, master);
        }
        // As in `lookup_read`: an `expired` event goes out here.
        let found = self.srv.lookup_write(db, key, master).is_some();
        self.flush_pushes();
        if found {
            self.srv.dbs[db].get_mut(key)
        } else {
            None
        }
    }

    /// Whether `key` exists and is live (lazy expiry applied), without
    /// touching statistics or access times.
    pub fn key_exists(&mut self, key: &[u8]) -> bool {
        let (db, master) = (self.client.db, self.client.is_master());
        self.srv.find_live(db, key, master).is_some()
    }
}

/// Outcome of executing one request, for the connection loop.
#[derive(Debug, PartialEq, Eq)]
pub enum Flow {
    Continue,
    /// Reply, then close (`QUIT`, protocol errors, `CLIENT KILL` of self).
    CloseAfterReply,
}

/// Executes one request for `client`, writing the reply to its buffer.
pub fn execute(srv: &mut Server, client: &mut Client, argv: Argv) -> Flow {
    let flow = execute_checked(srv, client, argv);
    // Cluster mode: ASKING lasts one command (kept through MULTI, as Redis
    // keeps CLIENT_ASKING until the transaction ends).
    if client.cluster_asking && !client.cluster_asking_set_now && client.multi.is_none() {
        client.cluster_asking = false;
    }
    client.cluster_asking_set_now = false;
    flow
}

fn execute_checked(srv: &mut Server, client: &mut Client, argv: Argv) -> Flow {
    if argv.is_empty() {
        return Flow::Continue;
    }
    // After the final save of a shutdown nothing runs: a write
    // acknowledged now would be lost with the process.
    if srv.shutdown_requested {
        return Flow::CloseAfterReply;
    }
    // Inside EXEC the clock stands still, as in Redis: a key cannot
    // expire between two commands of one transaction.
    if !client.in_exec {
        srv.refresh_time();
    }
    let name = argv.get(0);
    let Some(mut idx) = srv.commands.lookup(name) else {
        let msg = errors::unknown_command(name, argv);
        srv.stats.count_error(&msg);
        srv.stats.unknown_commands += 1;
        client.out.error(&msg);
        crate::multi::flag_transaction(client);
        return Flow::Continue;
    };
    // Container commands (CONFIG, CLIENT, ...) dispatch on the subcommand.
    if !srv.commands.commands[idx].subcommands.is_empty()
        || srv.commands.commands[idx].handler.is_none()
    {
        let parent = idx;
        let parent_meta = srv.commands.commands[parent].meta;
        // A container with its own handler (COMMAND) also runs bare.
        if argv.len() < 2 && srv.commands.commands[parent].handler.is_none() {
            // Redis checks the container's own arity (-2) first.
            let msg = errors::wrong_arity(parent_meta.name);
            srv.stats.count_error(&msg);
            srv.commands.stats[parent].rejected_calls += 1;
            client.out.error(&msg);
            crate::multi::flag_transaction(client);
            return Flow::Continue;
        }
        match srv.commands.lookup_sub(parent, argv.get(1)) {
            Some(sub) => idx = sub,
            None if srv.commands.commands[parent].handler.is_some() => {}
            None => {
                let msg = errors::unknown_subcommand(argv.get(1), parent_meta.name);
                srv.stats.count_error(&msg);
                srv.commands.stats[parent].rejected_calls += 1;
                client.out.error(&msg);
                crate::multi::flag_transaction(client);
                return Flow::Continue;
            }
        }
    }
    let cmd = &srv.commands.commands[idx];
    let mut cflags = cmd.flags;
    let meta = cmd.meta;
    let runs_script = cmd.runs_script;
    let Some(handler) = cmd.handler else {
        return Flow::Continue;
    };
    // A script's `redis.call`: the script runtime made Redis's checks for
    // scripts (`scripting::call`).
    if client.script {
        return call(srv, client, argv, idx, cflags, meta, handler);
    }
    if runs_script {
        cflags = crate::scripting::command_flags(srv, argv, cflags);
    }

    let arity = meta.arity;
    let argc = argv.len() as i32;
    if (arity > 0 && argc != arity) || (arity < 0 && argc < -arity) {
        let msg = errors::wrong_arity(meta.name);
        reject(srv, client, idx, &msg);
        return Flow::Continue;
    }
    // As in Redis 7.0's processCommand: existence and arity are checked
    // before authentication, so even an unauthenticated client learns
    // about a wrong argument count.
    if !client.authenticated && cflags & flags::NOAUTH == 0 && srv.auth_required() {
        reject(srv, client, idx, errors::NOAUTH);
        return Flow::Continue;
    }
    // ACL: may this user run this command on these keys and channels? A
    // user allowed everything (the default one, out of the box) costs one
    // flag test.
    if let Some(user) = &client.acl_user {
        if !user.borrow().unrestricted {
            if let Some(msg) = crate::acl::refusal(srv, client, meta, argv) {
                reject(srv, client, idx, &msg);
                return Flow::Continue;
            }
        }
    }
    // Cluster mode: a command whose keys another node serves (or that the
    // cluster cannot serve now) is redirected before anything else runs
    // (Redis's processCommand order: after ACL, before OOM). A refused
    // EXEC discards its transaction; a refused command in MULTI makes EXEC
    // fail.
    if srv.cluster.is_some() && !client.in_exec {
        if let Some(msg) = crate::cluster::redirection(srv, client, meta, cflags, argv) {
            if meta.name == "exec" {
                // The redirection itself is the reply (no EXECABORT).
                client.multi = None;
                srv.watches.unwatch_all(client.id);
                srv.commands.stats[idx].rejected_calls += 1;
                srv.stats.count_error(&msg);
                client.out.error(&msg);
            } else {
                reject(srv, client, idx, &msg);
            }
            return Flow::Continue;
        }
    }
    // The state checks below run when a command arrives, never again for
    // the commands EXEC runs (as in Redis, where they ran when queued and
    // EXEC itself is judged on what it queued: a transaction holding a
    // write is a write).
    let checked = !client.in_exec;
    let eff = if meta.name == "exec" {
        cflags | client.multi.as_ref().map_or(0, |m| m.cmd_flags)
    } else {
        cflags
    };
    let is_write = eff & flags::WRITE != 0;
    // As Redis: with a memory limit, every command first evicts what it
    // must; only commands that may grow memory are refused when nothing
    // could be evicted — and inside MULTI every command but the ones that
    // end the transaction, since queuing itself takes memory.
    if checked && srv.evictor.maxmemory > 0 && !client.is_master() {
        // `evicted` events for this very client land in its own output
        // (it is borrowed here, so it cannot be reached via the registry).
        let outer_current = srv.pubsub.current;
        srv.pubsub.current = client.id;
        srv.pubsub.to_current.resp3 = client.out.resp3;
        let oom = crate::evict::out_of_memory(srv);
        srv.scripting.pre_command_oom = oom;
        srv.pubsub.flush_into(&mut client.out);
        // Keys this client tracked that eviction removed: told before the
        // command runs (and before its reply), as in Redis, where eviction
        // precedes the command's execution.
        srv.tracking_send_pending(client);
        srv.pubsub.current = outer_current;
        let queuing =
            client.multi.is_some() && !matches!(meta.name, "exec" | "discard" | "quit" | "reset");
        if oom && (eff & flags::DENYOOM != 0 || queuing) {
            reject(srv, client, idx, errors::OOM);
            return Flow::Continue;
        }
    }
    // Client-side caching's table kept under `tracking-table-max-keys`
    // before each command (the cron does it too); this client's dropped
    // keys are told now, ahead of its reply, as Redis does.
    if checked && srv.tracking.clients > 0 {
        let outer_current = srv.pubsub.current;
        srv.pubsub.current = client.id;
        srv.tracking_limit_used_slots();
        srv.tracking_send_pending(client);
        srv.pubsub.current = outer_current;
    }
    if checked
        && (is_write || meta.name == "ping")
        && client.is_master()
        && (crate::persistence::save::writes_denied(srv)
            || crate::persistence::aof::write_error(srv).is_some())
    {
        master_command_despite_disk_error(srv, meta.name == "ping");
    }
    // A failed background save stops writes (and PING, as in Redis) when
    // stop-writes-on-bgsave-error is set, so nobody believes data is safe.
    if checked
        && (is_write || meta.name == "ping")
        && !client.is_master()
        && crate::persistence::save::writes_denied(srv)
    {
        reject(srv, client, idx, errors::MISCONF);
        return Flow::Continue;
    }
    // The same when the AOF cannot be written (Redis's MISCONF for AOF).
    if checked && (is_write || meta.name == "ping") && !client.is_master() {
        if let Some(msg) = crate::persistence::aof::write_error(srv) {
            reject(srv, client, idx, &msg);
            return Flow::Continue;
        }
    }
    // min-replicas-to-write: refuse writes that too few replicas would get.
    if checked
        && is_write
        && !client.is_master()
        && crate::replication::master::too_few_good_replicas(srv)
    {
        reject(srv, client, idx, errors::NOREPLICAS);
        return Flow::Continue;
    }
    // A read-only replica takes writes from its master only.
    if checked
        && is_write
        && !client.is_master()
        && srv.is_replica()
        && srv.config.get_bool(Directive::ReplicaReadOnly)
    {
        reject(srv, client, idx, errors::READONLY);
        return Flow::Continue;
    }
    // (Redis checks this after MISCONF and before LOADING.)
    // A RESP2 connection in Pub/Sub mode only carries subscription
    // traffic; RESP3 can interleave pushes with any reply.
    // Commands EXEC runs skip it, as Redis's call() does.
    if !client.out.resp3
        && !client.in_exec
        && client.subs.is_subscribed()
        && !crate::pubsub::allowed_in_subscribed_context(meta.name)
    {
        let msg = errors::subscribed_context_error(meta.name);
        reject(srv, client, idx, &msg);
        return Flow::Continue;
    }
    // replica-serve-stale-data no: while the link to the master is down,
    // only commands flagged `stale` run (EXEC too, unless it queued others).
    let non_stale = cflags & flags::STALE == 0
        || (meta.name == "exec" && client.multi.as_ref().is_some_and(|m| m.has_non_stale));
    if non_stale && !client.in_exec && crate::replication::replica::deny_stale(srv) {
        reject(srv, client, idx, errors::MASTERDOWN);
        return Flow::Continue;
    }
    // While the dataset loads, only commands flagged `loading` run.
    if checked && srv.persist.loading.is_some() && cflags & flags::LOADING == 0 && !client.loading {
        reject(srv, client, idx, errors::LOADING);
        return Flow::Continue;
    }
    // While a replica loads its master's snapshot behind the old dataset
    // (`async_loading`), the old one is served but commands that would
    // change what is being replaced (REPLICAOF, FLUSHALL, DEBUG RELOAD,
    // ...) are refused, as Redis refuses its `no-async-loading` commands
    // (EXEC too when it queued one).
    let no_async = cflags & flags::NO_ASYNC_LOADING != 0
        || (meta.name == "exec"
            && client
                .multi
                .as_ref()
                .is_some_and(|m| m.cmd_flags & flags::NO_ASYNC_LOADING != 0));
    if checked && no_async && srv.repl.async_loading && !client.loading {
        reject(srv, client, idx, errors::LOADING);
        return Flow::Continue;
    }
    // While a script runs past busy-reply-threshold, only commands flagged
    // `allow-busy` run (SCRIPT KILL, FUNCTION KILL, SHUTDOWN, ...).
    if cflags & flags::ALLOW_BUSY == 0 && srv.scripting.timed_out() {
        let msg = srv.scripting.busy_error();
        reject(srv, client, idx, msg);
        return Flow::Continue;
    }
    // A replica's link carries acknowledgements, not requests: one that
    // reads or changes keys is refused, as Redis refuses it (replicas are
    // exempt from CLIENT PAUSE, so this link must not be a way around it).
    if client.kind == crate::client::Kind::Replica
        && eff & (flags::WRITE | flags::READONLY | flags::MAY_REPLICATE) != 0
    {
        reject(srv, client, idx, errors::REPLICA_KEYSPACE);
        return Flow::Continue;
    }
    // Inside MULTI, commands that passed the checks above are queued
    // (Redis's processCommand order), except the few that act on the
    // transaction itself.
    if client.multi.is_some() && !client.in_exec {
        if cflags & flags::NO_MULTI != 0 {
            reject(srv, client, idx, errors::NOT_IN_MULTI);
            return Flow::Continue;
        }
        if !crate::multi::runs_inside_multi(meta.name) {
            srv.queue_multi_command(client, argv, cflags);
            client.last_cmd = meta.name;
            client.out.simple(b"QUEUED");
            return Flow::Continue;
        }
    }
    call(srv, client, argv, idx, cflags, meta, handler)
}

/// Runs a command that passed the checks: the handler, then propagation,
/// statistics, the slow log, MONITOR and tracking (Redis's `call()`).
fn call(
    srv: &mut Server,
    client: &mut Client,
    argv: Argv,
    idx: usize,
    cflags: u32,
    meta: &'static CommandMeta,
    handler: Handler,
) -> Flow {
    let start = Instant::now();
    let dirty_before = srv.dirty;
    // Pub/Sub messages for this client produced by its own command go
    // before its reply (see `crate::pubsub`).
    let reply_mark = client.out.buf.len();
    // Saved and restored, so a command run inside another (EXEC) hands
    // the role back.
    let outer_current = srv.pubsub.current;
    srv.pubsub.current = client.id;
    srv.pubsub.current_subscribed = client.subs.is_subscribed();
    srv.pubsub.to_current.resp3 = client.out.resp3;
    let repl_offset_before = srv.repl.master_repl_offset();
    let mut ctx = Ctx {
        srv,
        client,
        argv,
        cmd: idx,
        custom_propagation: false,
    };
    handler(&mut ctx);
    let custom = ctx.custom_propagation;
    let Ctx { srv, client, .. } = ctx;
    let elapsed = start.elapsed();
    if !srv.pubsub.to_current.buf.is_empty() {
        let mark = reply_mark.min(client.out.buf.len());
        let pushed = std::mem::take(&mut srv.pubsub.to_current.buf);
        client.out.insert_pushes(mark, pushed);
    }

    if srv.dirty > dirty_before && !custom {
        let db = client.db;
        srv.journal.propagate_argv(db, argv);
    }
    if srv.dirty > dirty_before && !client.is_master() && srv.is_replica() {
        crate::replication::replica::remember_own_expiring_keys(srv, client.db, meta, argv);
    }
    // A transaction's commands are released together when EXEC ends.
    if !client.in_exec {
        let arbitrary = cflags & flags::TOUCHES_ARBITRARY_KEYS != 0;
        srv.journal.end_command(!arbitrary);
        // What WAIT waits for: the stream offset right after the last
        // command of this client that produced stream bytes.
        let off = srv.repl.master_repl_offset();
        if off != repl_offset_before {
            client.woff = off;
        }
    }

    let usec = elapsed.as_micros() as u64;
    // A command that blocked is counted (and slow-logged) once, when it is
    // served and runs again (see `blocking`), as Redis counts it once.
    let blocked = client.blocked.is_some();
    let st = &mut srv.commands.stats[idx];
    if !blocked {
        st.calls += 1;
        st.usec += usec;
    }
    srv.stats.total_commands += 1;
    if cflags & flags::SKIP_SLOWLOG == 0 && !blocked {
        srv.slowlog_push(client, argv, usec);
    }
    srv.after_command(client, meta, argv, usec);
    if srv.tracking.needs_after_command() {
        let args: Vec<&[u8]> = argv.iter().collect();
        // EVAL_RO and the like remember keys only through the read
        // commands their script runs (`scripting::call`).
        let readonly = cflags & flags::READONLY != 0 && !srv.commands.commands[idx].runs_script;
        srv.tracking_after_command(client, meta, readonly, &args);
        // Broadcasts to this client queued behind its reply.
        let pushed = std::mem::take(&mut srv.pubsub.to_current.buf);
        let at = client.out.buf.len();
        client.out.insert_pushes(at, pushed);
    }
    srv.pubsub.current = outer_current;
    if client.close_after_reply {
        Flow::CloseAfterReply
    } else {
        Flow::Continue
    }
}

/// Who received an error that should not happen: the master whose stream
/// a replica applies, or the loader of the AOF.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorTo {
    Master,
    AofLoader,
    /// A replica of ours, on its link (see `net`'s check for replies
    /// there): logged, never a reason to stop.
    Replica,
}

/// Checks the reply of a command our master sent (or the AOF loader
/// replayed) for error replies, as Redis's `afterErrorReply` does for
/// these clients: each is logged as CRITICAL and counted in
/// `unexpected_error_replies`; then, per `propagation-error-behavior`, the
/// server goes on (`ignore`) or panics — a read-only replica under
/// `panic` and `panic-on-replicas`, the AOF loader under `panic` — since
/// its dataset no longer follows the master's (or the file's).
pub fn error_to_master(srv: &mut Server, to: ErrorTo, reply: &[u8], command: &str) {
    fn errors_in(f: &resp::Frame, out: &mut Vec<String>) {
        match f {
            resp::Frame::Error(e) => out.push(String::from_utf8_lossy(e).into_owned()),
            resp::Frame::Array(v) | resp::Frame::Set(v) | resp::Frame::Push(v) => {
                v.iter().for_each(|f| errors_in(f, out))
            }
            _ => {}
        }
    }
    let mut found = Vec::new();
    let mut at = 0;
    while let Ok(Some((f, n))) = resp::frame::parse_frame(&reply[at..]) {
        errors_in(&f, &mut found);
        at += n;
    }
    if found.is_empty() {
        return;
    }
    let (from, to_name) = match to {
        ErrorTo::Master => ("replica", "master"),
        ErrorTo::AofLoader => ("server", "AOF-loading-client"),
        ErrorTo::Replica => ("master", "replica"),
    };
    for e in &found {
        let e = if e.len() > 4096 {
            &e[..4096]
        } else {
            e.as_str()
        };
        crate::log_warning!(
            "== CRITICAL == This {from} is sending an error to its {to_name}: '{e}' after processing the command '{command}'"
        );
        srv.stats.unexpected_error_replies += 1;
    }
    let behavior = srv.config.get_str(Directive::PropagationErrorBehavior);
    let panic = match to {
        ErrorTo::Master => {
            srv.config.get_bool(Directive::ReplicaReadOnly)
                && (behavior == "panic" || behavior == "panic-on-replicas")
        }
        ErrorTo::AofLoader => behavior == "panic",
        ErrorTo::Replica => false,
    };
    if panic {
        panic!(
            "This {from} panicked sending an error to its {to_name} after processing the command '{command}'"
        );
    }
}

/// A replica whose disk fails must still apply what its master sends (it
/// cannot refuse it): with `replica-ignore-disk-write-errors no` (the
/// default) it stops, since its RDB or AOF would silently miss writes;
/// with `yes` it goes on, saying so at most every ten seconds. A PING
/// never stops it.
fn master_command_despite_disk_error(srv: &mut Server, ping: bool) {
    if !ping && !srv.config.get_bool(Directive::ReplicaIgnoreDiskWriteErrors) {
        panic!("Replica was unable to write command to disk.");
    }
    if srv.now_ms > srv.repl.disk_error_logged_ms + 10_000 {
        srv.repl.disk_error_logged_ms = srv.now_ms;
        crate::log_warning!(
            "Replica is applying a command even though it is unable to write to disk."
        );
    }
}

/// Refuses a command before its handler runs. Inside MULTI this dooms the
/// transaction; a refused EXEC ends it at once and says why (with
/// EXECABORT even outside MULTI, as Redis 7.0 does).
fn reject(srv: &mut Server, client: &mut Client, idx: usize, msg: &str) {
    srv.commands.stats[idx].rejected_calls += 1;
    // Redis records the command as the client's last one as soon as it is
    // looked up, refused or not (CLIENT LIST's `cmd=`, the logs).
    client.last_cmd = srv.commands.commands[idx].meta.name;
    if srv.commands.commands[idx].meta.name == "exec" {
        client.multi = None;
        srv.watches.unwatch_all(client.id);
        let msg = errors::exec_abort_because(msg);
        srv.stats.count_error(&msg);
        client.out.error(&msg);
        return;
    }
    crate::multi::flag_transaction(client);
    srv.stats.count_error(msg);
    client.out.error(msg);
}
