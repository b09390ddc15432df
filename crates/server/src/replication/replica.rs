//! The replica side of replication: following a master.
//!
//! One long-lived task ([`link_task`]) owns the connection to the master.
//! `REPLICAOF host port` (or the `replicaof` directive) records the target
//! and bumps a generation number; the task notices, drops any link to the
//! previous master and runs the PSYNC2 handshake exactly as Redis 7.0
//! sends it: `PING`, `AUTH` (with `masteruser`/`masterauth`), `REPLCONF
//! listening-port`, `REPLCONF capa eof capa psync2`, then `PSYNC <replid>
//! <offset>` when we have a history to continue, `PSYNC ? -1` otherwise.
//!
//! After `+FULLRESYNC` the RDB (`$<len>` or the disk-less `$EOF:<mark>`
//! form) is received into memory, the dataset replaced by it, and the
//! command stream applied through `cmd::execute` by a client of kind
//! `Master` whose replies are dropped. The stream bytes are then appended
//! verbatim to our own backlog (Redis 7.0 proxies its master's stream), so
//! our offsets are the master's and our own replicas can continue
//! partially after a promotion.

use crate::client::Kind;
use crate::cmd::Ctx;
use crate::config::Directive;
use crate::server::Server;
use crate::{errors, log_notice, log_warning};
use resp::{parse_request, Limits, Parsed, Request};
use std::cell::RefCell;
use std::fmt::Write as _;
use std::rc::Rc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::Notify;

pub const COMMANDS: &[(&str, crate::cmd::Handler)] = &[
    ("replicaof", replicaof),
    ("slaveof", replicaof),
    ("failover", super::failover::failover),
];

/// Where the link to the master stands (Redis's `repl_state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkState {
    Connect,
    Connecting,
    Handshake,
    Transfer,
    Connected,
}

/// The master this server follows.
#[derive(Debug, Clone)]
pub struct MasterLink {
    pub host: String,
    pub port: u16,
    /// Bumped by every REPLICAOF so a running link knows it is obsolete.
    pub generation: u64,
    pub state: LinkState,
    pub last_io_ms: i64,
    /// Unix ms the link went down (0: never up).
    pub down_since_ms: i64,
    /// The full sync under way: payload size (0 for the `$EOF:` form,
    /// as Redis shows it), bytes read, when it started and last read.
    pub sync_total: i64,
    pub sync_read: i64,
    pub sync_start_ms: i64,
    pub sync_last_io_ms: i64,
    /// Stream bytes received but not applied yet (a paused master client):
    /// `slave_read_repl_offset` is ahead of `slave_repl_offset` by this.
    pub unapplied: i64,
}

/// Starts following `host:port` (also used for the `replicaof` directive).
pub fn set_master(srv: &mut Server, host: String, port: u16) {
    let generation = srv.repl.master.as_ref().map_or(0, |m| m.generation) + 1;
    log_notice!("Connecting to MASTER {host}:{port}");
    srv.repl.master = Some(MasterLink {
        host,
        port,
        generation,
        state: LinkState::Connect,
        last_io_ms: 0,
        down_since_ms: 0,
        sync_total: 0,
        sync_read: 0,
        sync_start_ms: 0,
        sync_last_io_ms: 0,
        unapplied: 0,
    });
    kill_master_client(srv);
    // A replica confirms nothing; a later promotion starts unfenced until
    // the sentinels grant a lease again.
    srv.repl.lease.reset();
    crate::log::set_role(b'S');
    // A replica takes the replica class of `oom-score-adj-values`.
    let _ = crate::os::apply_oom_score_adj(&srv.config, true);
    // The stream we receive is passed on verbatim; our own effects are not.
    srv.repl.feed.borrow_mut().proxy = true;
    srv.repl.link_notify.notify_one();
}

/// Follows the master named by the `replicaof` directive, if any.
/// A replica restarted from its own RDB resumes the replication history
/// saved in it (`repl-id`, `repl-offset`, `repl-stream-db`), so its first
/// PSYNC can be answered `+CONTINUE`, as Redis 7.0 does.
pub fn start_from_config(srv: &mut Server) {
    let w = srv.config.get_list(Directive::Replicaof);
    let [host, port] = w.as_slice() else {
        return;
    };
    let Ok(port) = port.parse::<u16>() else {
        return;
    };
    if let (Some(id), Some(offset)) = (srv.persist.rdb_repl_id.clone(), srv.persist.rdb_repl_offset)
    {
        if id.len() == 40 && offset >= 0 {
            log_notice!("Restored replication ID and offset from the RDB: {id}:{offset}");
            srv.master_replid = id;
            let size = srv.config.get_int(Directive::ReplBacklogSize).max(1) as usize;
            srv.repl.feed.borrow_mut().reset(size, offset);
        }
    }
    set_master(srv, host.clone(), port);
}

/// Stops following a master: our history continues under a new id, and the
/// old one stays valid up to here as `master_replid2`, so replicas that
/// followed the same master can continue with us partially.
pub fn unset_master(srv: &mut Server) {
    if srv.repl.master.take().is_none() {
        return;
    }
    let offset = srv.repl.master_repl_offset();
    srv.repl.replid2 = std::mem::take(&mut srv.master_replid);
    srv.repl.second_repl_offset = offset + 1;
    srv.master_replid = crate::util::ids::new_id40(&mut srv.rng);
    {
        let mut f = srv.repl.feed.borrow_mut();
        f.proxy = false;
        f.seldb = None;
    }
    kill_master_client(srv);
    // Our replicas learn the new id by asking again; they continue
    // partially (the old id is our replid2).
    super::master::disconnect_replicas(srv);
    srv.repl.no_replicas_since_ms = srv.now_ms;
    crate::log::set_role(b'M');
    let _ = crate::os::apply_oom_score_adj(&srv.config, false);
    srv.repl.link_notify.notify_one();
}

fn kill_master_client(srv: &mut Server) {
    for c in srv.clients.values() {
        if let Ok(mut c) = c.try_borrow_mut() {
            if c.kind == Kind::Master {
                c.killed = true;
                c.wake.notify_one();
            }
        }
    }
}

/// After a write by a client of a writable replica: remembers the keys
/// it left with a TTL, to be expired here (see
/// [`super::ReplState::own_expiring_keys`]).
pub fn remember_own_expiring_keys(
    srv: &mut Server,
    db: usize,
    meta: &command_meta::CommandMeta,
    argv: command_meta::Argv,
) {
    let args: Vec<&[u8]> = argv.iter().collect();
    for i in command_meta::keys::key_positions(meta, &args) {
        let key = args[i];
        if srv.dbs[db]
            .get(key)
            .is_some_and(|e| e.expire != keyspace::NO_EXPIRE)
        {
            srv.repl.own_expiring_keys.insert((db, key.to_vec()));
        }
    }
}

/// The replica's own active expiry, for the keys in
/// [`super::ReplState::own_expiring_keys`]: deleted once past their
/// deadline (counted in `expired_keys`); forgotten once gone or
/// persistent.
pub fn expire_own_keys(srv: &mut Server) {
    if srv.repl.own_expiring_keys.is_empty() {
        return;
    }
    let now = srv.now_ms;
    let keys: Vec<(usize, Vec<u8>)> = srv.repl.own_expiring_keys.iter().cloned().collect();
    for (db, key) in keys {
        let Some(e) = srv.dbs.get(db).and_then(|d| d.get(&key)) else {
            srv.repl.own_expiring_keys.remove(&(db, key));
            continue;
        };
        if e.expire == keyspace::NO_EXPIRE {
            srv.repl.own_expiring_keys.remove(&(db, key));
        } else if e.is_expired(now) {
            srv.repl.own_expiring_keys.remove(&(db, key.clone()));
            srv.delete_expired(db, &key);
            srv.journal.end_command(false);
        }
    }
}

/// We follow a master and the link to it is not up (connecting, in the
/// handshake or in a full sync).
pub fn link_down(srv: &Server) -> bool {
    srv.repl
        .master
        .as_ref()
        .is_some_and(|m| m.state != LinkState::Connected)
}

/// `replica-serve-stale-data no` and the link to the master is not up:
/// commands without the `stale` flag are refused with MASTERDOWN.
pub fn deny_stale(srv: &Server) -> bool {
    link_down(srv) && !srv.config.get_bool(Directive::ReplicaServeStaleData)
}

/// `REPLICAOF host port` / `REPLICAOF NO ONE` (and `SLAVEOF`).
fn replicaof(ctx: &mut Ctx) {
    // In a cluster, CLUSTER REPLICATE decides who follows whom.
    if ctx.srv.cluster.is_some() {
        ctx.err("ERR REPLICAOF not allowed in cluster mode.");
        return;
    }
    let host = ctx.argv.get(1);
    let port = ctx.argv.get(2);
    if host.eq_ignore_ascii_case(b"no") && port.eq_ignore_ascii_case(b"one") {
        if ctx.srv.is_replica() {
            unset_master(ctx.srv);
            log_notice!(
                "MASTER MODE enabled (user request from 'id={}')",
                ctx.client.id
            );
        }
        ctx.out().ok();
        return;
    }
    if ctx.client.kind == Kind::Replica {
        ctx.err(errors::REPLICAOF_FROM_REPLICA);
        return;
    }
    let Some(port) = resp::parse_i64(port) else {
        ctx.err(errors::NOT_INTEGER);
        return;
    };
    let Ok(port) = u16::try_from(port) else {
        ctx.err(errors::INVALID_MASTER_PORT);
        return;
    };
    let host = String::from_utf8_lossy(host).into_owned();
    if let Some(m) = &ctx.srv.repl.master {
        if m.host.eq_ignore_ascii_case(&host) && m.port == port {
            log_notice!("REPLICAOF would result into synchronization with the master we are already connected with. No operation performed.");
            ctx.out()
                .simple(b"OK Already connected to specified master");
            return;
        }
    }
    set_master(ctx.srv, host.clone(), port);
    log_notice!(
        "REPLICAOF {host}:{port} enabled (user request from 'id={}')",
        ctx.client.id
    );
    ctx.out().ok();
}

/// Why a link attempt ended.
type LinkResult = Result<(), String>;

/// The master closed the link (as opposed to answering wrongly).
const LINK_LOST: &str = "Error reading from MASTER: connection lost";
/// The link stopped because the replica was given another master, or
/// none (not logged: the new target says what happens).
const ABANDONED: &str = "Replication target changed";

/// A disk-less load the master cut short (see [`short_read`]).
const LOAD_CUT: &str = "Failed trying to load the MASTER synchronization DB from socket";

/// Bytes read from the master but not consumed yet, and the socket.
struct Conn {
    stream: crate::net::OutStream,
    buf: Vec<u8>,
    /// Woken when the replication target changes (`link_notify`), and
    /// whether this link is no longer the current one: a handshake or a
    /// transfer waiting for its master's bytes then stops at once, as
    /// Redis closes the transfer at REPLICAOF, rather than at its timeout.
    retarget: Rc<Notify>,
    abandoned: Box<dyn Fn() -> bool>,
}

impl Conn {
    async fn send(&mut self, args: &[&[u8]]) -> LinkResult {
        let mut out = Vec::new();
        resp::encode_command(&mut out, args);
        // The flush pushes out what a TLS stream still buffers.
        let w = async {
            self.stream.write_all(&out).await?;
            self.stream.flush().await
        };
        w.await.map_err(|e| format!("Error writing to MASTER: {e}"))
    }

    async fn fill(&mut self, limit: Duration) -> LinkResult {
        self.buf.reserve(64 * 1024);
        let read = tokio::time::timeout(limit, self.stream.read_buf(&mut self.buf));
        tokio::pin!(read);
        loop {
            tokio::select! {
                r = &mut read => return match r {
                    Err(_) => Err("Timeout connecting to the MASTER...".into()),
                    Ok(Ok(0)) => Err(LINK_LOST.into()),
                    Ok(Err(e)) => Err(format!("Error reading from MASTER: {e}")),
                    Ok(Ok(_)) => Ok(()),
                },
                _ = self.retarget.notified() => {
                    if (self.abandoned)() {
                        return Err(ABANDONED.into());
                    }
                }
            }
        }
    }

    /// One line (without its CRLF); blank keep-alive lines are skipped.
    async fn line(&mut self, limit: Duration) -> Result<String, String> {
        loop {
            if let Some(p) = self.buf.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=p).collect();
                let s = String::from_utf8_lossy(&line).trim_end().to_string();
                if s.is_empty() {
                    continue;
                }
                return Ok(s);
            }
            self.fill(limit).await?;
        }
    }

    async fn command(&mut self, args: &[&[u8]], limit: Duration) -> Result<String, String> {
        self.send(args).await?;
        self.line(limit).await
    }
}

/// The task that keeps this server following its master, if any.
pub async fn link_task(srv: Rc<RefCell<Server>>) {
    let notify = srv.borrow().repl.link_notify.clone();
    let mut backoff_ms = 0u64;
    loop {
        let target = {
            let s = srv.borrow();
            s.repl
                .master
                .as_ref()
                .map(|m| (m.host.clone(), m.port, m.generation))
        };
        let Some((host, port, gen)) = target else {
            notify.notified().await;
            continue;
        };
        if backoff_ms > 0 {
            // Only a new REPLICAOF cuts the wait short; a wake-up left over
            // from an earlier one must not skip the backoff.
            let deadline = tokio::time::Instant::now() + Duration::from_millis(backoff_ms);
            let mut retarget = false;
            while !retarget {
                tokio::select! {
                    _ = tokio::time::sleep_until(deadline) => break,
                    _ = notify.notified() => retarget = !current(&srv.borrow(), gen),
                }
            }
            if retarget {
                backoff_ms = 0;
                continue;
            }
        }
        let r = run_link(&srv, &host, port, gen).await;
        let mut s = srv.borrow_mut();
        let synced = s
            .repl
            .master
            .as_ref()
            .is_some_and(|m| m.state == LinkState::Connected);
        let now = s.now_ms;
        // Whether the master answered at all (the failure came after the
        // connection was made: handshake or transfer).
        let answered = s
            .repl
            .master
            .as_ref()
            .is_some_and(|m| !matches!(m.state, LinkState::Connect | LinkState::Connecting));
        if let Some(m) = s.repl.master.as_mut().filter(|m| m.generation == gen) {
            if m.state == LinkState::Connected {
                m.down_since_ms = now;
            }
            m.state = LinkState::Connect;
            if let Err(e) = &r {
                log_warning!("{e}");
            }
            // A FAILOVER whose target cannot be reached gives up.
            if r.is_err() && super::failover::in_progress(&s) {
                super::failover::abort_failover(&mut s, "could not reach the failover target");
            }
            // A master that cannot be reached is tried again every second,
            // as Redis's replication cron does, so a replica is back within
            // a second of its master. One that answers but fails the sync
            // (a broken RDB, say) is tried with a growing delay, so a
            // broken master is not made to produce a snapshot every second.
            // A disk-less load whose link was cut (the master killed it,
            // say) is retried within a second, as Redis does; a payload
            // that is short of its announced length or does not load
            // counts as a broken master.
            let cut = r.as_ref().err().is_some_and(|e| e.starts_with(LOAD_CUT));
            backoff_ms = if synced {
                0
            } else if answered && !cut {
                (backoff_ms * 2).clamp(1000, 10_000)
            } else {
                1000
            };
        } else {
            backoff_ms = 0;
        }
        if synced {
            log_notice!("Connection with master lost.");
            log_notice!("Caching the disconnected master state.");
        }
    }
}

/// The replication offset this node announces on the cluster bus and
/// shows for itself in CLUSTER SLOTS/SHARDS (Redis's
/// `replicationGetSlaveOffset` for a replica): 0 from the start of a full
/// sync until its load is done, since Redis drops its cached master then,
/// so the other nodes see the replica as loading; otherwise our offset.
pub fn announced_offset(srv: &Server) -> i64 {
    let in_full_sync = srv
        .repl
        .master
        .as_ref()
        .is_some_and(|m| m.state == LinkState::Transfer);
    if in_full_sync {
        0
    } else {
        srv.repl.master_repl_offset().max(0)
    }
}

fn current(s: &Server, gen: u64) -> bool {
    s.repl.master.as_ref().is_some_and(|m| m.generation == gen)
}

fn set_state(srv: &Rc<RefCell<Server>>, st: LinkState) {
    if let Some(m) = srv.borrow_mut().repl.master.as_mut() {
        m.state = st;
    }
}

async fn run_link(srv: &Rc<RefCell<Server>>, host: &str, port: u16, gen: u64) -> LinkResult {
    let (timeout, my_port, user, pass) = {
        let s = srv.borrow();
        let announced = s.config.get_int(Directive::ReplicaAnnouncePort);
        let tls_port = s.config.get_int(Directive::TlsPort);
        // A replica linked over TLS announces its TLS port, as Redis's.
        let port = if announced > 0 {
            announced
        } else if s.config.get_bool(Directive::TlsReplication) && tls_port > 0 {
            tls_port
        } else {
            s.config.get_int(Directive::Port)
        };
        (
            Duration::from_secs(s.config.get_int(Directive::ReplTimeout).max(1) as u64),
            port,
            s.config.get_str(Directive::Masteruser),
            s.config.get_str(Directive::Masterauth),
        )
    };
    set_state(srv, LinkState::Connecting);
    log_notice!("MASTER <-> REPLICA sync started");
    // `tls-replication yes`: the link is TLS, with the material current
    // now (a CONFIG SET of the certificates applies at the next link).
    let tls = {
        let s = srv.borrow();
        if s.config.get_bool(Directive::TlsReplication) {
            match s.tls.clone() {
                Some(t) => Some(t),
                None => return Err("tls-replication is set but TLS is not configured".into()),
            }
        } else {
            None
        }
    };
    let stream = tokio::time::timeout(
        timeout,
        crate::net::connect_out(host, port, tls.as_deref()),
    )
    .await
    .map_err(|_| "Timeout connecting to the MASTER...".to_string())?
    .map_err(|e| {
        let hint = if tls.is_some() {
            "is the master's tls-port reachable, and does its certificate chain to our tls-ca-cert-file?"
        } else {
            "is the master reachable, and bound to an address this replica can reach?"
        };
        format!("Error condition on socket for SYNC: {e} ({hint})")
    })?;
    let retarget = srv.borrow().repl.link_notify.clone();
    let watched = srv.clone();
    let mut conn = Conn {
        stream,
        buf: Vec::new(),
        retarget,
        abandoned: Box::new(move || !current(&watched.borrow(), gen)),
    };
    log_notice!("Non blocking connect for SYNC fired the event.");
    set_state(srv, LinkState::Handshake);
    let pong = conn.command(&[b"PING"], timeout).await?;
    // -NOAUTH is fine here: AUTH follows.
    if pong.starts_with('-') && !pong.starts_with("-NOAUTH") && !pong.starts_with("-NOPERM") {
        return Err(format!("Error reply to PING from master: '{pong}'"));
    }
    log_notice!("Master replied to PING, replication can continue...");
    if !pass.is_empty() {
        let r = if user.is_empty() {
            conn.command(&[b"AUTH", pass.as_bytes()], timeout).await?
        } else {
            conn.command(&[b"AUTH", user.as_bytes(), pass.as_bytes()], timeout)
                .await?
        };
        if r.starts_with('-') {
            return Err(format!(
                "Unable to AUTH to MASTER: {r} (check masterauth/masteruser against the master's requirepass or ACL user)"
            ));
        }
    }
    let p = my_port.to_string();
    let r = conn
        .command(&[b"REPLCONF", b"listening-port", p.as_bytes()], timeout)
        .await?;
    if r.starts_with('-') {
        log_notice!("(Non critical) Master does not understand REPLCONF listening-port: {r}");
    }
    // `replica-announce-ip`: the address the master (and through its INFO,
    // Sentinel) lists for us, behind NAT or port forwarding.
    let announce_ip = srv.borrow().config.get_str(Directive::ReplicaAnnounceIp);
    if !announce_ip.is_empty() {
        let r = conn
            .command(
                &[b"REPLCONF", b"ip-address", announce_ip.as_bytes()],
                timeout,
            )
            .await?;
        if r.starts_with('-') {
            log_notice!("(Non critical) Master does not understand REPLCONF ip-address: {r}");
        }
    }
    let r = conn
        .command(&[b"REPLCONF", b"capa", b"eof", b"capa", b"psync2"], timeout)
        .await?;
    if r.starts_with('-') {
        log_notice!("(Non critical) Master does not understand REPLCONF capa: {r}");
    }
    // Continue our own history when we have one (a dropped link, or a
    // former master re-pointed), otherwise ask for everything.
    let cached = {
        let s = srv.borrow();
        let f = s.repl.feed.borrow();
        f.backlog
            .as_ref()
            .map(|b| (s.master_replid.clone(), b.offset + 1))
    };
    let failing_over = super::failover::in_progress(&srv.borrow());
    let reply = match &cached {
        Some((id, off)) if failing_over => {
            log_notice!("Trying a partial resynchronization with FAILOVER (request {id}:{off}).");
            let off = off.to_string();
            let r = conn
                .command(
                    &[b"PSYNC", id.as_bytes(), off.as_bytes(), b"FAILOVER"],
                    timeout,
                )
                .await;
            let ok = r
                .as_ref()
                .is_ok_and(|r| r.starts_with("+CONTINUE") || r.starts_with("+FULLRESYNC"));
            super::failover::switched(&mut srv.borrow_mut(), ok);
            r?
        }
        Some((id, off)) => {
            log_notice!("Trying a partial resynchronization (request {id}:{off}).");
            let off = off.to_string();
            conn.command(&[b"PSYNC", id.as_bytes(), off.as_bytes()], timeout)
                .await?
        }
        None => {
            log_notice!("Partial resynchronization not possible (no cached master)");
            conn.command(&[b"PSYNC", b"?", b"-1"], timeout).await?
        }
    };
    if let Some(rest) = reply.strip_prefix("+FULLRESYNC ") {
        let mut it = rest.split(' ');
        let id = it.next().unwrap_or("").to_string();
        let off: i64 = it.next().and_then(|o| o.parse().ok()).unwrap_or(-1);
        if id.len() != 40 || off < 0 {
            return Err(format!(
                "Master replied with wrong +FULLRESYNC syntax: {reply}"
            ));
        }
        log_notice!("Full resync from master: {id}:{off}");
        set_state(srv, LinkState::Transfer);
        // A disk-less load reads the payload as the dataset: a new history
        // (another replication id) makes the replica "loading" meanwhile
        // (clients get -LOADING); the same history keeps the old data
        // served (`async_loading`), as Redis 7.0 does with swapdb.
        let diskless = {
            let s = srv.borrow();
            let mode = s.config.get_str(Directive::ReplDisklessLoad);
            let empty = s.dbs.iter().all(|d| d.is_empty());
            mode == "swapdb" || (mode == "on-empty-db" && empty)
        };
        if diskless {
            let mut s = srv.borrow_mut();
            if s.master_replid == id {
                s.repl.async_loading = true;
            } else {
                let now = s.now_ms;
                s.persist.loading = Some(crate::persistence::load::Loading {
                    start_secs: now / 1000,
                    total_bytes: 0,
                    loaded_bytes: 0,
                    started: std::time::Instant::now(),
                    progress: Default::default(),
                });
            }
        }
        let received = receive_rdb(srv, &mut conn, timeout, diskless).await;
        if diskless {
            let mut s = srv.borrow_mut();
            s.repl.async_loading = false;
            s.persist.loading = None;
        }
        let rdb = received?;
        if !current(&srv.borrow(), gen) {
            return Ok(());
        }
        load_dataset(srv, rdb, id, off).await?;
    } else if let Some(rest) = reply.strip_prefix("+CONTINUE") {
        let new_id = rest.trim();
        log_notice!("Successful partial resynchronization with master.");
        let mut s = srv.borrow_mut();
        if !new_id.is_empty() && new_id != s.master_replid {
            // The master changed its id (it was promoted): our history up
            // to here stays valid under the old one.
            let offset = s.repl.master_repl_offset();
            s.repl.replid2 = std::mem::replace(&mut s.master_replid, new_id.to_string());
            s.repl.second_repl_offset = offset + 1;
            log_notice!("Master replication ID changed to {new_id}");
            // Our replicas learn the new id by reconnecting (partially).
            super::master::disconnect_replicas(&mut s);
        }
        log_notice!("MASTER <-> REPLICA sync: Master accepted a Partial Resynchronization.");
    } else {
        return Err(format!("Unexpected reply to PSYNC from master: {reply}"));
    }
    stream_commands(srv, conn, gen).await
}

/// Receives the RDB payload after `+FULLRESYNC`, in either form.
async fn receive_rdb(
    srv: &Rc<RefCell<Server>>,
    conn: &mut Conn,
    timeout: Duration,
    diskless: bool,
) -> Result<Payload, String> {
    let head = conn.line(timeout).await?;
    if head.starts_with('-') {
        return Err(format!("MASTER aborted replication with an error: {head}"));
    }
    let Some(spec) = head.strip_prefix('$') else {
        return Err(format!("Bad protocol from MASTER, the first byte is not '$' (we received '{head}'), are you sure the host and port are right?"));
    };
    // Bytes counted so far in `total_net_repl_input_bytes`, the total
    // once known (0 for the EOF-marked form), and the progress lines.
    let mut counted = 0usize;
    let mut expected = 0u64;
    let mut lines = crate::persistence::progress::Progress::new();
    let mut progress = |read: usize, total: Option<usize>| {
        let mut s = srv.borrow_mut();
        let now = s.now_ms;
        s.stats.net_repl_input_bytes += read.saturating_sub(counted) as u64;
        counted = counted.max(read);
        if let Some(m) = s.repl.master.as_mut() {
            if let Some(t) = total {
                m.sync_total = t as i64;
                m.sync_start_ms = now;
                expected = t as u64;
            }
            m.sync_read = read as i64;
            m.sync_last_io_ms = now;
        }
        let what = "MASTER <-> REPLICA sync: receiving the RDB";
        if let Some(l) = lines.due(what, read as u64, expected) {
            log_notice!("{l}");
        }
    };
    if let Some(mark) = spec.strip_prefix("EOF:") {
        // Disk-less form: the payload ends with the 40-byte mark.
        let mark = mark.as_bytes().to_vec();
        if mark.len() != 40 {
            return Err(format!("Bad EOF mark from MASTER: '{head}'"));
        }
        if diskless {
            // The disk-less load starts here: the payload is taken into
            // memory as it arrives (Redis parses it from the socket).
            log_notice!("MASTER <-> REPLICA sync: Loading DB in memory");
        } else {
            log_notice!(
                "MASTER <-> REPLICA sync: receiving streamed RDB from master with EOF to disk"
            );
        }
        let mut parser = streamed_parser(srv, diskless)?;
        // Bytes handed to the parser so far.
        let mut handed = 0usize;
        progress(conn.buf.len(), Some(0));
        loop {
            if conn.buf.len() >= 40 && conn.buf.ends_with(&mark) {
                let mut rdb = std::mem::take(&mut conn.buf);
                rdb.truncate(rdb.len() - 40);
                return finish_payload(parser, rdb).await;
            }
            // The last 40 bytes may be the start of the end mark.
            if let Some(p) = parser.as_mut().filter(|_| conn.buf.len() > 40) {
                let n = conn.buf.len() - 40;
                handed += n;
                hand_over(p, conn.buf.drain(..n).collect()).await;
            }
            let filled = conn.fill(timeout).await;
            short_read(filled, diskless, handed + conn.buf.len())?;
            progress(handed + conn.buf.len(), None);
        }
    }
    let len: usize = spec
        .parse()
        .map_err(|_| format!("Bad RDB length from MASTER: '{head}'"))?;
    if diskless {
        log_notice!("MASTER <-> REPLICA sync: Loading DB in memory");
    } else {
        log_notice!("MASTER <-> REPLICA sync: receiving {len} bytes from master to disk");
    }
    let mut parser = streamed_parser(srv, diskless)?;
    let mut handed = 0usize;
    progress(conn.buf.len().min(len), Some(len));
    loop {
        if let Some(p) = parser.as_mut() {
            let n = conn.buf.len().min(len - handed);
            if n > 0 && handed + n < len {
                handed += n;
                hand_over(p, conn.buf.drain(..n).collect()).await;
            }
        }
        if handed + conn.buf.len() >= len {
            break;
        }
        let filled = conn.fill(timeout).await;
        short_read(filled, diskless, handed + conn.buf.len())?;
        progress((handed + conn.buf.len()).min(len), None);
    }
    let rest = conn.buf.split_off(len - handed);
    let tail = std::mem::replace(&mut conn.buf, rest);
    finish_payload(parser, tail).await
}

/// A full sync's payload as it was received: the RDB itself, or (a
/// disk-less load) what parsing it while it arrived gave.
pub enum Payload {
    Rdb(Vec<u8>),
    Parsed(Result<Vec<rdb::Item>, String>),
}

/// A disk-less load parses the payload while it arrives, reading from the
/// master only as fast as it parses, as Redis loads straight from the
/// socket: a master then sees a slow loader as a slow reader.
fn streamed_parser(
    srv: &Rc<RefCell<Server>>,
    diskless: bool,
) -> Result<Option<crate::persistence::load::StreamedLoad>, String> {
    if !diskless {
        return Ok(None);
    }
    crate::persistence::load::start_streamed(&srv.borrow()).map(Some)
}

/// Hands received bytes to the parser; waits while it is behind. A parser
/// that stopped (a corrupt payload) takes nothing more: its error comes
/// with the result.
async fn hand_over(p: &mut crate::persistence::load::StreamedLoad, bytes: Vec<u8>) {
    let _ = p.bytes.send(bytes).await;
}

/// The payload's last bytes: kept, or handed to the parser, whose result
/// is then awaited.
async fn finish_payload(
    parser: Option<crate::persistence::load::StreamedLoad>,
    tail: Vec<u8>,
) -> Result<Payload, String> {
    let Some(mut p) = parser else {
        return Ok(Payload::Rdb(tail));
    };
    if !tail.is_empty() {
        hand_over(&mut p, tail).await;
    }
    let crate::persistence::load::StreamedLoad { bytes, result } = p;
    drop(bytes);
    let parsed = result
        .await
        .unwrap_or_else(|_| Err("the RDB loader thread stopped".to_string()));
    Ok(Payload::Parsed(parsed))
}

/// A disk-less load whose payload ends early failed as an RDB load, and
/// says so in Redis's words ("Internal error in RDB ...", which tools and
/// Redis's tests look for); a disk-based one only lost its transfer.
fn short_read(filled: LinkResult, diskless: bool, read: usize) -> LinkResult {
    match filled {
        Err(e) if diskless && e != ABANDONED => {
            log_warning!(
                "Internal error in RDB reading offset {read}, loading from the MASTER's socket -> Unexpected EOF reading RDB file ({e})"
            );
            Err(format!("{LOAD_CUT}: {e}"))
        }
        r => r,
    }
}

/// Replaces the dataset with the master's RDB; our history restarts at the
/// master's `offset` under its id.
async fn load_dataset(
    srv: &Rc<RefCell<Server>>,
    rdb: Payload,
    id: String,
    offset: i64,
) -> LinkResult {
    let (old, old_functions) = set_old_dataset_aside(&mut srv.borrow_mut());
    // `repl-diskless-load`: `swapdb` loads from the socket while the old
    // dataset is kept aside (above) until the new one is complete;
    // `on-empty-db` loads from the socket only when we held no data, else
    // it goes through a file like `disabled` (the default), which writes
    // the payload to a temp file in `dir`, fsyncs it and loads from it.
    // Unlike Redis, every mode keeps the old dataset if the load fails.
    // (The mode was decided when the transfer began: a disk-less load
    // arrives parsed.)
    let loaded = match rdb {
        Payload::Rdb(rdb) => load_through_file(srv, &rdb).await,
        Payload::Parsed(items) => items
            .and_then(|items| crate::persistence::load::load_items(&mut srv.borrow_mut(), items))
            .map_err(|e| {
                format!("Failed trying to load the MASTER synchronization DB from socket: {e}")
            }),
    };
    finish_load(
        &mut srv.borrow_mut(),
        loaded,
        old,
        old_functions,
        id,
        offset,
    )
}

/// The old dataset and function libraries, set aside before a full sync's
/// load (fresh databases take their place).
fn set_old_dataset_aside(srv: &mut Server) -> (Vec<keyspace::Db>, Vec<Vec<u8>>) {
    log_notice!("MASTER <-> REPLICA sync: Flushing old data");
    crate::persistence::save::abort_bgsave(srv);
    // The old dataset is set aside, not dropped: a payload that fails to
    // load (garbage, truncated) must not leave half a dataset served, and
    // the data we had is better than none until the next attempt.
    let old: Vec<keyspace::Db> = srv.dbs.iter_mut().map(std::mem::take).collect();
    // In a cluster the fresh db 0 keeps its keys by slot too.
    if srv.cluster.is_some() {
        if let Some(db) = srv.dbs.first_mut() {
            db.enable_slot_index();
        }
    }
    // The master's libraries replace ours, as its keys replace ours.
    let old_functions = srv.scripting.functions.payloads();
    srv.scripting.functions.flush();
    (old, old_functions)
}

/// After a full sync's load: the old dataset back if it failed, else
/// dropped, and our history restarting at the master's `offset`.
fn finish_load(
    srv: &mut Server,
    loaded: Result<(), String>,
    old: Vec<keyspace::Db>,
    old_functions: Vec<Vec<u8>>,
    id: String,
    offset: i64,
) -> LinkResult {
    if let Err(e) = loaded {
        srv.dbs = old;
        srv.scripting.functions.flush();
        for code in &old_functions {
            let _ = srv.scripting.functions.load(code, true, 0);
        }
        return Err(format!(
            "{e} (the previous dataset is kept; is the master a Redis 7.0-compatible server?)"
        ));
    }
    // `replica-lazy-flush`: the old data is freed on the lazy-free thread.
    if srv.config.get_bool(Directive::ReplicaLazyFlush) {
        let old = old.into_iter().map(|mut d| d.take_entries()).collect();
        srv.lazyfree.free_dbs(old);
    } else {
        drop(old);
    }
    srv.master_replid = id;
    srv.repl.replid2 = "0".repeat(40);
    srv.repl.second_repl_offset = -1;
    let size = srv.config.get_int(Directive::ReplBacklogSize).max(1) as usize;
    {
        let mut f = srv.repl.feed.borrow_mut();
        f.reset(size, offset);
    }
    // Our own replicas hold a history that just ended: they resync.
    super::master::disconnect_replicas(srv);
    log_notice!("MASTER <-> REPLICA sync: Finished with success");
    crate::persistence::aof::after_full_sync(srv);
    Ok(())
}

/// The disk-based load of a full sync: the payload goes to
/// `temp-<unixtime>.<pid>.rdb` in `dir` (our working directory), is
/// fsynced and loaded back from the file. Once loaded it becomes our
/// `dbfilename`, as in Redis (a restart finds the master's data and its
/// replication history), unless `rdb-del-sync-files yes` and this replica
/// persists nothing (no save points, no AOF): then no copy of the data
/// stays on disk. A payload that fails to load is removed (Redis would
/// keep it as `dbfilename`; the dataset in memory is the old one here).
///
/// The load holds the event loop but lets it turn after every
/// `loading-process-events-interval-bytes` of the file, as Redis loads
/// with `processEventsWhileBlocked`: meanwhile clients get `-LOADING` and
/// INFO's `loading:1` with its progress, and the cluster bus keeps
/// answering, announcing offset 0 until the load is done, so the other
/// nodes hide this replica from CLUSTER SLOTS and show it `loading` in
/// CLUSTER SHARDS.
async fn load_through_file(srv: &Rc<RefCell<Server>>, rdb: &[u8]) -> Result<(), String> {
    use std::io::Write;
    let path = format!(
        "temp-{}.{}.rdb",
        srv.borrow().now_ms / 1000,
        std::process::id()
    );
    let written = std::fs::File::create(&path).and_then(|mut f| {
        f.write_all(rdb)?;
        f.sync_all()
    });
    if let Err(e) = written {
        let _ = std::fs::remove_file(&path);
        return Err(format!(
            "Failed trying to write the temp RDB file {path} for the MASTER synchronization: {e}"
        ));
    }
    log_notice!("MASTER <-> REPLICA sync: Loading DB in memory");
    let kind = crate::persistence::load::LoadKind::Reload;
    let total = rdb.len() as u64;
    let pacing = crate::persistence::load::Pacing::Blocking;
    let result = crate::persistence::load::load_rdb_paced(
        srv,
        std::path::Path::new(&path),
        total,
        kind,
        pacing,
    )
    .await
    .map(|_| ())
    .map_err(|e| format!("Failed trying to load the MASTER synchronization DB from disk: {e}"));
    let srv = &mut *srv.borrow_mut();
    let del_sync_files = srv.config.get_bool(Directive::RdbDelSyncFiles)
        && crate::persistence::save::save_points(srv).is_empty()
        && !srv.aof.enabled;
    if result.is_ok() && del_sync_files {
        log_notice!(
            "Removing the RDB file obtained from the master. This replica has persistence disabled"
        );
    }
    if result.is_ok() && !del_sync_files {
        let target = srv.config.get_str(Directive::Dbfilename);
        match std::fs::rename(&path, &target) {
            Ok(()) => {
                crate::persistence::snapshot::fsync_dir(std::path::Path::new(&target));
                return result;
            }
            Err(e) => log_warning!(
                "Failed trying to rename the temp DB into {target} in MASTER <-> REPLICA synchronization: {e}"
            ),
        }
    }
    if let Err(e) = std::fs::remove_file(&path) {
        log_warning!("Unable to remove the temp RDB file {path}: {e}");
    }
    result
}

/// Applies the master's command stream until the link drops, acknowledging
/// the processed offset every second and on `REPLCONF GETACK`.
async fn stream_commands(srv: &Rc<RefCell<Server>>, mut conn: Conn, gen: u64) -> LinkResult {
    let client = {
        let mut s = srv.borrow_mut();
        let c = s.new_client();
        {
            let mut cb = c.borrow_mut();
            cb.kind = Kind::Master;
            cb.authenticated = true;
            cb.db = s.repl.stream_db.min(s.dbs.len().saturating_sub(1));
            cb.addr = conn.stream.tcp().peer_addr().ok();
            cb.laddr = conn.stream.tcp().local_addr().ok();
            cb.fd = std::os::fd::AsRawFd::as_raw_fd(conn.stream.tcp());
        }
        let now = s.now_ms;
        if let Some(m) = s.repl.master.as_mut() {
            m.state = LinkState::Connected;
            m.unapplied = 0;
            m.last_io_ms = now;
        }
        c
    };
    let id = client.borrow().id;
    let wake = client.borrow().wake.clone();
    let timeout =
        Duration::from_secs(srv.borrow().config.get_int(Directive::ReplTimeout).max(1) as u64);
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut req = Request::default();
    let mut rbuf = std::mem::take(&mut conn.buf);
    let result = loop {
        let mut need_ack = false;
        let mut idle = false;
        let paused;
        {
            let mut s = srv.borrow_mut();
            let mut c = client.borrow_mut();
            if c.killed || !current(&s, gen) {
                break Ok(());
            }
            let mut pos = 0;
            while pos < rbuf.len() {
                let limits = Limits {
                    max_bulk_len: i64::MAX,
                    unauthenticated: false,
                };
                match parse_request(&rbuf[pos..], &limits, &mut req) {
                    Parsed::Incomplete => break,
                    Parsed::Error(e) => {
                        rbuf.clear();
                        pos = 0;
                        c.killed = true;
                        log_warning!("Protocol error from MASTER: {e}");
                        break;
                    }
                    Parsed::Complete { consumed } => {
                        let base = pos;
                        pos += consumed;
                        if !req.is_empty() {
                            let backing = req.backing(&rbuf[base..pos]);
                            let argv = command_meta::Argv::new(backing, &req.ranges);
                            // A paused replica applies nothing more (as in
                            // Redis 7.0, its master client waits too).
                            if crate::clients::must_wait(&mut s, &c, argv) {
                                crate::clients::start_pause_wait(&mut s, &mut c);
                                pos = base;
                                break;
                            }
                            if argv.get(0).eq_ignore_ascii_case(b"replconf")
                                && argv.get(1).eq_ignore_ascii_case(b"getack")
                            {
                                need_ack = true;
                            } else {
                                let errors = s.stats.total_error_replies;
                                crate::cmd::execute(&mut s, &mut c, argv);
                                if s.stats.total_error_replies != errors {
                                    let name = c.last_cmd;
                                    let out = std::mem::take(&mut c.out.buf);
                                    crate::cmd::error_to_master(
                                        &mut s,
                                        crate::cmd::ErrorTo::Master,
                                        &out,
                                        name,
                                    );
                                    c.out.buf = out;
                                }
                                c.out.buf.clear();
                                if s.blocking.has_ready() {
                                    crate::blocking::serve_ready(&mut s);
                                }
                            }
                        }
                        // Passed on verbatim: our offset is the master's.
                        s.repl.feed.borrow_mut().feed(&rbuf[base..pos]);
                    }
                }
            }
            rbuf.drain(..pos.min(rbuf.len()));
            // Kept across links: a partial resync continues in this db.
            s.repl.stream_db = c.db;
            if let Some(m) = s.repl.master.as_mut() {
                m.unapplied = rbuf.len() as i64;
            }
            if c.killed {
                break Ok(());
            }
            paused = c.paused.then(|| {
                (
                    crate::clients::pause_remaining_ms(&s),
                    s.pause_notify.clone(),
                )
            });
        }
        if need_ack {
            send_ack(srv, &mut conn).await?;
        }
        tokio::select! {
            r = tokio::time::timeout(timeout, conn.stream.read_buf(&mut rbuf)) => match r {
                Err(_) => break Err("MASTER timeout: no data nor PING received...".into()),
                Ok(Ok(0)) | Ok(Err(_)) => break Err("Connection with master lost.".into()),
                Ok(Ok(n)) => {
                    let mut s = srv.borrow_mut();
                    s.stats.net_repl_input_bytes += n as u64;
                    let now = s.now_ms;
                    if let Some(m) = s.repl.master.as_mut() {
                        m.last_io_ms = now;
                        m.unapplied = rbuf.len() as i64;
                    }
                }
            },
            _ = tick.tick() => idle = true,
            _ = wake.notified() => {}
            _ = pause_over(&paused) => {}
        }
        if paused.is_some() {
            crate::clients::end_pause_wait(&mut srv.borrow_mut(), &mut client.borrow_mut());
        }
        if idle {
            send_ack(srv, &mut conn).await?;
        }
        if rbuf.capacity() - rbuf.len() < 16 * 1024 {
            rbuf.reserve(64 * 1024);
        }
    };
    srv.borrow_mut().remove_client(id);
    result
}

/// Resolves when the pause a stream waits for is over (never when none).
async fn pause_over(paused: &Option<(u64, Rc<tokio::sync::Notify>)>) {
    match paused {
        Some((ms, unpause)) => {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(*ms)) => {}
                _ = unpause.notified() => {}
            }
        }
        None => std::future::pending().await,
    }
}

async fn send_ack(srv: &Rc<RefCell<Server>>, conn: &mut Conn) -> LinkResult {
    let off = srv.borrow().repl.master_repl_offset().to_string();
    conn.send(&[b"REPLCONF", b"ACK", off.as_bytes()]).await
}

/// The `INFO replication` lines of a replica, up to `connected_slaves`
/// (exclusive), in Redis 7.0's order.
pub fn info(srv: &Server, m: &MasterLink, b: &mut String) {
    let up = m.state == LinkState::Connected;
    let offset = srv.repl.master_repl_offset();
    let now = srv.now_ms;
    let last_io = if up {
        (now - m.last_io_ms).max(0) / 1000
    } else {
        -1
    };
    let syncing = m.state == LinkState::Transfer;
    let _ = write!(
        b,
        "role:slave\r\n\
         master_host:{}\r\n\
         master_port:{}\r\n\
         master_link_status:{}\r\n\
         master_last_io_seconds_ago:{last_io}\r\n\
         master_sync_in_progress:{}\r\n\
         slave_read_repl_offset:{}\r\n\
         slave_repl_offset:{offset}\r\n",
        m.host,
        m.port,
        if up { "up" } else { "down" },
        u8::from(syncing),
        offset + m.unapplied,
    );
    if syncing {
        // As Redis: the `$EOF:` form has no size, shown as 0, so the bytes
        // left go negative.
        let left = m.sync_total - m.sync_read;
        let perc = if m.sync_total > 0 {
            m.sync_read as f64 * 100.0 / m.sync_total as f64
        } else {
            0.0
        };
        let _ = write!(
            b,
            "master_sync_total_bytes:{}\r\n\
             master_sync_read_bytes:{}\r\n\
             master_sync_left_bytes:{left}\r\n\
             master_sync_perc:{perc:.2}\r\n\
             master_sync_last_io_seconds_ago:{}\r\n",
            m.sync_total,
            m.sync_read,
            (now - m.sync_last_io_ms).max(0) / 1000
        );
    }
    if !up {
        let down = if m.down_since_ms > 0 {
            (now - m.down_since_ms) / 1000
        } else {
            -1
        };
        let _ = write!(b, "master_link_down_since_seconds:{down}\r\n");
    }
    let _ = write!(
        b,
        "slave_priority:{}\r\n\
         slave_read_only:{}\r\n\
         replica_announced:{}\r\n",
        srv.config.get_int(Directive::ReplicaPriority),
        u8::from(srv.config.get_bool(Directive::ReplicaReadOnly)),
        u8::from(srv.config.get_bool(Directive::ReplicaAnnounced)),
    );
}

/// Our extras at the end of `INFO replication` on a replica (Redis has no
/// such fields; tools that parse Redis's ignore unknown ones):
/// - `master_link_lag_ms`: milliseconds since the last byte from the
///   master (it pings every `repl-ping-replica-period`, so on a live link
///   this bounds how stale the data can be); -1 while the link is down.
/// - while a full sync is under way, `master_sync_elapsed_ms` and
///   `master_sync_eta_seconds` (-1 when the size is unknown: `$EOF:`).
pub fn info_extras(srv: &Server, m: &MasterLink, b: &mut String) {
    let now = srv.now_ms;
    let lag = if m.state == LinkState::Connected {
        (now - m.last_io_ms).max(0)
    } else {
        -1
    };
    let _ = write!(b, "master_link_lag_ms:{lag}\r\n");
    if m.state == LinkState::Transfer {
        let elapsed = (now - m.sync_start_ms).max(0);
        let eta = if m.sync_total > 0 && m.sync_read > 0 {
            let left = (m.sync_total - m.sync_read).max(0) as f64;
            (left * elapsed as f64 / m.sync_read as f64 / 1000.0).ceil() as i64
        } else {
            -1
        };
        let _ = write!(
            b,
            "master_sync_elapsed_ms:{elapsed}\r\n\
             master_sync_eta_seconds:{eta}\r\n"
        );
    }
}
