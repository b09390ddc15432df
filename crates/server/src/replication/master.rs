//! The master side of replication.
//!
//! Every effect the journal releases becomes bytes of the replication
//! stream: appended to the backlog (so `master_repl_offset` counts them)
//! and to the pending output of each attached replica. As in Redis, a
//! `SELECT` is emitted before a command whose database differs from the
//! stream's current one, and nothing is produced at all until the first
//! replica attaches (no backlog, offset unchanged).
//!
//! A full sync takes a snapshot of the dataset at the current offset
//! through the fork-less snapshot pipeline, sends it after
//! `+FULLRESYNC <replid> <offset>`, and every later effect follows it on
//! the same connection. The snapshot is walked to completion in one go
//! before any other command runs, so nothing has to be buffered between
//! the snapshot point and the end of the transfer.

use super::backlog::Backlog;
use super::fullsync::{self, SyncState};
use super::Handshake;
use crate::client::{Client, Kind};
use crate::cmd::{Ctx, Handler};
use crate::config::Directive;
use crate::errors;
use crate::journal::JournalSink;
use crate::persistence::snapshot::{Aux, Snapshot};
use crate::server::Server;
use crate::{log_notice, log_warning};
use std::cell::RefCell;
use std::fmt::Write as _;
use std::rc::Rc;
use tokio::sync::Notify;

pub const COMMANDS: &[(&str, Handler)] = &[
    ("replconf", replconf),
    ("psync", psync),
    ("sync", sync),
    ("wait", wait),
    ("role", role),
];

/// A replica attached to this master.
pub struct Replica {
    pub id: u64,
    pub ip: String,
    pub port: u16,
    /// Offset acknowledged with `REPLCONF ACK`, and when (Unix ms).
    pub ack_offset: i64,
    pub ack_ms: i64,
    /// Offset of the next stream byte to hand to its connection (the
    /// bytes themselves are in the shared buffer, `Feed::backlog`); None
    /// while it waits for a snapshot to start.
    pub pos: Option<i64>,
    /// Snapshot bytes not yet handed to its connection; they go out
    /// before any stream byte.
    pub bulk: Vec<u8>,
    pub sync: SyncState,
    /// Its snapshot failed: the connection is closed.
    pub failed: bool,
    /// After an `$EOF:` transfer the stream waits for the replica's first
    /// ACK: it recognises the end mark only as the last bytes it read, so
    /// nothing may follow the mark before it has loaded (Redis 7.0 does
    /// the same).
    pub await_ack: bool,
    pub wake: Rc<Notify>,
    /// Unix ms it attached (a `wait_bgsave` replica waits for
    /// `repl-diskless-sync-delay` from here for others to join).
    pub since_ms: i64,
    /// Unix ms its output went over the soft `client-output-buffer-limit`
    /// (0: under it).
    pub soft_since_ms: i64,
    /// Unix ms its connection last took the snapshot bytes handed to it:
    /// a replica that takes none for `repl-timeout` while its snapshot
    /// streams holds the transfer up for every other replica, and is
    /// dropped (Redis's `repl_last_partial_write`).
    pub bulk_taken_ms: i64,
    /// It asked with PSYNC, so a full sync starts with `+FULLRESYNC`
    /// (SYNC, the old protocol, gets the payload alone).
    pub fullresync_reply: bool,
    /// Under a sentinel lease: acknowledgements (`lease::clock`, offset)
    /// not yet certified by a majority of the sentinels, and the offset up
    /// to which they are (see `lease`; `WAIT` counts that one).
    pub ack_log: std::collections::VecDeque<(i64, i64)>,
    pub certified_offset: i64,
}

/// What the journal sink shares with the server.
#[derive(Default)]
pub struct Feed {
    pub backlog: Option<Backlog>,
    /// `master_repl_offset` while there is no backlog.
    base_offset: i64,
    /// Database the stream last selected (None: emit SELECT next).
    pub seldb: Option<usize>,
    pub replicas: Vec<Replica>,
    /// Set on a replica: the master's stream is passed on verbatim (see
    /// `replica`), so the effects of applying it are not fed again.
    pub proxy: bool,
}

impl Feed {
    pub fn offset(&self) -> i64 {
        self.backlog.as_ref().map_or(self.base_offset, |b| b.offset)
    }

    /// Appends raw stream bytes to the shared buffer, for the backlog and
    /// every replica.
    pub fn feed(&mut self, bytes: &[u8]) {
        let Some(b) = self.backlog.as_mut() else {
            return;
        };
        b.append(bytes);
        for r in &self.replicas {
            r.wake.notify_one();
        }
        self.trim();
    }

    /// The smallest offset a replica is still to be sent.
    fn oldest_ref(&self) -> Option<i64> {
        self.replicas.iter().filter_map(|r| r.pos).min()
    }

    /// Frees the buffer's oldest blocks no replica needs any more (the
    /// backlog keeps `repl-backlog-size`).
    pub fn trim(&mut self) {
        let oldest = self.oldest_ref();
        if let Some(b) = self.backlog.as_mut() {
            b.trim(oldest);
        }
    }

    /// Stream bytes replica `r` is still to be sent.
    pub fn unsent(&self, r: &Replica) -> usize {
        match (r.pos, self.backlog.as_ref()) {
            (Some(pos), Some(b)) => (b.offset + 1 - pos).max(0) as usize,
            _ => 0,
        }
    }

    /// Appends a command for database `db`, selecting it first if needed.
    pub fn feed_command(&mut self, db: usize, command: &[u8]) {
        if self.backlog.is_none() || self.proxy {
            return;
        }
        if self.seldb != Some(db) {
            let mut sel = Vec::with_capacity(24);
            resp::encode_select(&mut sel, db);
            self.feed(&sel);
            self.seldb = Some(db);
        }
        self.feed(command);
    }

    /// Creates the backlog when the first replica attaches.
    pub fn ensure_backlog(&mut self, size: usize) {
        if self.backlog.is_none() {
            self.backlog = Some(Backlog::new(size, self.base_offset));
        }
    }

    /// Applies a `CONFIG SET repl-backlog-size`: a bigger size keeps more
    /// history from now on, a smaller one lets the oldest blocks go.
    pub fn resize_backlog(&mut self, size: usize) {
        if let Some(b) = self.backlog.as_mut() {
            if Backlog::new_size(size) != b.size() {
                b.set_size(size);
                self.trim();
            }
        }
    }

    /// Drops the backlog (`repl-backlog-ttl` passed without replicas);
    /// `master_repl_offset` keeps its value.
    pub fn free_backlog(&mut self) {
        if let Some(b) = self.backlog.take() {
            self.base_offset = b.offset;
        }
        self.seldb = None;
    }

    /// Starts a new history at `offset` (after a full sync from a master).
    pub fn reset(&mut self, size: usize, offset: i64) {
        self.base_offset = offset;
        self.backlog = Some(Backlog::new(size, offset));
        self.seldb = None;
    }

    /// Replicas whose acknowledged offset reaches `offset`.
    pub fn acked(&self, offset: i64) -> usize {
        self.replicas
            .iter()
            .filter(|r| r.ack_offset >= offset)
            .count()
    }

    /// Replicas whose acknowledgement of `offset` is certified (under a
    /// sentinel lease, see `lease`).
    pub fn certified(&self, offset: i64) -> usize {
        self.replicas
            .iter()
            .filter(|r| r.certified_offset >= offset)
            .count()
    }

    /// Certifies every acknowledgement received at `t` or before
    /// (`lease::ack_time`).
    pub fn certify(&mut self, t: i64) {
        for r in self.replicas.iter_mut() {
            while let Some(&(at, off)) = r.ack_log.front() {
                if at > t {
                    break;
                }
                r.certified_offset = r.certified_offset.max(off);
                r.ack_log.pop_front();
            }
        }
    }
}

/// Acknowledgements kept per replica for certification; past this the
/// oldest go (a newer one, with a larger offset, covers them).
const ACK_LOG_MAX: usize = 1024;

/// A master restarting from its own snapshot, which names the history it
/// belonged to (`repl-id`, `repl-offset`): that history stays valid as
/// `master_replid2` up to the saved offset, the backlog starts there, so
/// replicas that followed it continue with a partial resync (Redis 7.0).
pub fn resume_history_from_snapshot(srv: &mut Server) {
    let (Some(id), Some(offset)) = (srv.persist.rdb_repl_id.clone(), srv.persist.rdb_repl_offset)
    else {
        return;
    };
    if id.len() != 40 || offset < 0 {
        return;
    }
    srv.repl.replid2 = id;
    srv.repl.second_repl_offset = offset + 1;
    let size = srv.config.get_int(Directive::ReplBacklogSize).max(1) as usize;
    srv.repl.feed.borrow_mut().reset(size, offset);
    srv.repl.no_replicas_since_ms = srv.now_ms;
}

/// The journal's handle on the feed.
pub struct FeedSink(pub Rc<RefCell<Feed>>);

impl JournalSink for FeedSink {
    fn append(&mut self, db: usize, command: &[u8]) {
        self.0.borrow_mut().feed_command(db, command);
    }

    /// `feed_command` drops everything until the first replica creates
    /// the backlog, and while this server proxies its master's stream.
    fn target(&self) -> u8 {
        crate::journal::target::REPLICAS
    }

    fn active(&self) -> bool {
        self.0
            .try_borrow()
            .map_or(true, |f| f.backlog.is_some() && !f.proxy)
    }
}

/// A client blocked in `WAIT` for `numreplicas` acknowledgements of
/// offset `offset`.
pub struct Waiter {
    pub client: u64,
    pub offset: i64,
    pub numreplicas: usize,
}

pub const GETACK: &[u8] = b"*3\r\n$8\r\nREPLCONF\r\n$6\r\nGETACK\r\n$1\r\n*\r\n";
const PING: &[u8] = b"*1\r\n$4\r\nPING\r\n";

/// `REPLCONF <option> <value> ...`: the handshake details a replica sends
/// before PSYNC, and its `ACK`s afterwards.
fn replconf(ctx: &mut Ctx) {
    if ctx.argv.len().is_multiple_of(2) {
        ctx.err(errors::SYNTAX);
        return;
    }
    let id = ctx.client.id;
    let mut i = 1;
    while i < ctx.argv.len() {
        let opt = ctx.argv.get(i).to_ascii_lowercase();
        let val = ctx.argv.get(i + 1);
        match opt.as_slice() {
            b"listening-port" => {
                let Some(p) = resp::parse_i64(val).and_then(|p| u16::try_from(p).ok()) else {
                    ctx.err(errors::NOT_INTEGER);
                    return;
                };
                ctx.srv
                    .repl
                    .handshakes
                    .entry(id)
                    .or_default()
                    .listening_port = p;
            }
            b"ip-address" => {
                let ip = String::from_utf8_lossy(val).into_owned();
                ctx.srv.repl.handshakes.entry(id).or_default().ip_address = Some(ip);
            }
            b"capa" => {
                let h = ctx.srv.repl.handshakes.entry(id).or_default();
                if val.eq_ignore_ascii_case(b"eof") {
                    h.capa_eof = true;
                } else if val.eq_ignore_ascii_case(b"psync2") {
                    h.capa_psync2 = true;
                }
            }
            b"ack" => {
                // Only an attached replica acknowledges; never a reply, as
                // anything written to a replica is stream.
                if ctx.client.kind == Kind::Replica {
                    if let Some(off) = resp::parse_i64(val) {
                        ack(ctx.srv, id, off);
                    }
                }
                return;
            }
            b"sentinel-lease" => {
                // From a Redoubt sentinel (see `lease`): the reply is our
                // clock, which real Redis never sends (it refuses the
                // option, and the sentinel stops asking).
                match super::lease::on_request(ctx.srv, val) {
                    Some(now) => ctx.out().int(now),
                    None => ctx.err(errors::SYNTAX),
                }
                return;
            }
            b"getack" => {
                // Only meaningful on a replica, from its master.
                return;
            }
            b"rdb-only" => {
                let Some(v) = resp::parse_i64(val).filter(|v| (0..=1).contains(v)) else {
                    ctx.err("ERR value is out of range, must be between 0 and 1");
                    return;
                };
                ctx.srv.repl.handshakes.entry(id).or_default().rdb_only = v == 1;
            }
            b"rdb-filter-only" => {
                // Every part is left out but those named (only
                // `functions` exists in Redis 7.0).
                let text = String::from_utf8_lossy(val).into_owned();
                let mut functions = false;
                for f in text.split_ascii_whitespace() {
                    if f.eq_ignore_ascii_case("functions") {
                        functions = true;
                    } else {
                        let msg = format!("ERR Unsupported rdb-filter-only option: {f}");
                        ctx.err(&msg);
                        return;
                    }
                }
                let h = ctx.srv.repl.handshakes.entry(id).or_default();
                h.exclude_data = true;
                h.exclude_functions = !functions;
            }
            _ => {
                let msg = format!(
                    "ERR Unrecognized REPLCONF option: {}",
                    String::from_utf8_lossy(ctx.argv.get(i))
                );
                ctx.err(&msg);
                return;
            }
        }
        i += 2;
    }
    ctx.out().ok();
}

/// Records a replica's acknowledgement and serves the `WAIT`s it
/// satisfies.
fn ack(srv: &mut Server, id: u64, offset: i64) {
    let certifying = super::lease::armed(srv);
    let at = if certifying {
        super::lease::ack_time(srv)
    } else {
        0
    };
    {
        let mut f = srv.repl.feed.borrow_mut();
        if let Some(r) = f.replicas.iter_mut().find(|r| r.id == id) {
            let newer = r.ack_log.back().is_none_or(|&(_, o)| offset > o);
            if certifying && offset > r.certified_offset && newer {
                r.ack_log.push_back((at, offset));
                if r.ack_log.len() > ACK_LOG_MAX {
                    r.ack_log.pop_front();
                }
            }
            r.ack_offset = r.ack_offset.max(offset);
            r.ack_ms = srv.now_ms;
            if r.await_ack {
                r.await_ack = false;
                r.wake.notify_one();
            }
        }
    }
    if certifying && !srv.repl.waiters.is_empty() {
        super::lease::request_renewal(srv, at);
    }
    serve_waiters(srv, false);
}

/// `SYNC`: the pre-PSYNC protocol, always a full sync without a header.
fn sync(ctx: &mut Ctx) {
    start_sync(ctx, false);
}

/// `PSYNC <replid> <offset>`.
fn psync(ctx: &mut Ctx) {
    start_sync(ctx, true);
}

fn start_sync(ctx: &mut Ctx, psync: bool) {
    // A replica asking again on an attached link is ignored, as in Redis.
    if ctx.client.kind == Kind::Replica {
        return;
    }
    if ctx.client.multi.is_some() {
        ctx.err("ERR Replica can't be in a transaction");
        return;
    }
    // PSYNC .. FAILOVER from our master: it hands its role to us.
    if psync && ctx.argv.len() > 3 && ctx.argv.get(3).eq_ignore_ascii_case(b"failover") {
        if ctx.argv.get(1) != ctx.srv.master_replid.as_bytes() {
            ctx.err(errors::PSYNC_FAILOVER_REPLID);
            return;
        }
        log_warning!(
            "Failover request received for replid {}.",
            ctx.srv.master_replid
        );
        super::replica::unset_master(ctx.srv);
        log_notice!(
            "MASTER MODE enabled (failover request from 'id={}')",
            ctx.client.id
        );
    }
    if ctx.srv.repl.failover.is_some() {
        ctx.err(errors::SYNC_WHILE_FAILING_OVER);
        return;
    }
    // A sub-replica gets nothing from us until we have our master's data.
    if super::replica::link_down(ctx.srv) {
        ctx.err(errors::SYNC_WITHOUT_MASTER_LINK);
        return;
    }
    let id = ctx.client.id;
    let hs: Handshake = ctx.srv.repl.handshakes.remove(&id).unwrap_or_default();
    let ip = hs
        .ip_address
        .clone()
        .or_else(|| ctx.client.addr.map(|a| a.ip().to_string()))
        .unwrap_or_default();
    let who = format!("{ip}:{}", hs.listening_port);
    log_notice!("Replica {who} asks for synchronization");
    let size = ctx.srv.config.get_int(Directive::ReplBacklogSize).max(1) as usize;
    if psync {
        let replid = String::from_utf8_lossy(ctx.argv.get(1)).into_owned();
        // An offset that is not a number is refused, and the connection
        // stays an ordinary client (Redis 7.0.9 on).
        let Some(off) = resp::parse_i64(ctx.argv.get(2)) else {
            log_warning!("Replica {who} asks for synchronization but with a wrong offset");
            ctx.err(errors::NOT_INTEGER);
            return;
        };
        if try_partial(ctx, &replid, off, &who) {
            ctx.srv.stats.sync_partial_ok += 1;
            attach(ctx, hs, ip, size, off - 1, Some(off), SyncState::Online);
            return;
        }
        let known = replid == ctx.srv.master_replid || replid == ctx.srv.repl.replid2;
        if replid != "?" {
            ctx.srv.stats.sync_partial_err += 1;
        }
        if replid != "?" && !known {
            log_notice!(
                "Partial resynchronization not accepted: Replication ID mismatch (Replica asked for '{replid}', my replication IDs are '{}' and '{}')",
                ctx.srv.master_replid,
                ctx.srv.repl.replid2
            );
        } else {
            log_notice!("Full resync requested by replica {who}");
        }
    }
    // The backlog must exist before the snapshot point so that the stream
    // after it is kept for a later partial resync.
    ctx.srv.repl.feed.borrow_mut().ensure_backlog(size);
    ctx.srv.stats.sync_full += 1;
    // `repl-disable-tcp-nodelay`: a replica that needs a full sync gets
    // fewer, bigger packets from then on (as in Redis, not one that
    // continues partially).
    if ctx.srv.config.get_bool(Directive::ReplDisableTcpNodelay) {
        crate::sockets::set_nodelay(ctx.client.fd, false);
    }
    let diskless = ctx.srv.config.get_bool(Directive::ReplDisklessSync);
    if psync && hs.capa_eof && diskless {
        // Streamed: the snapshot starts now, or after the one under way.
        log_notice!("Replica {who} waits for a snapshot (streamed with an EOF mark)");
        attach(ctx, hs, ip, size, 0, None, SyncState::WaitBgsave);
        fullsync::start_pending(ctx.srv);
        return;
    }
    if !diskless && !hs.rdb_only && !hs.exclude_data && !hs.exclude_functions {
        // Through the RDB file, by a BGSAVE (see `disk_sync`).
        attach(ctx, hs, ip, size, 0, None, SyncState::WaitDiskStart);
        if !psync {
            let id = ctx.client.id;
            let mut f = ctx.srv.repl.feed.borrow_mut();
            if let Some(r) = f.replicas.iter_mut().find(|r| r.id == id) {
                r.fullresync_reply = false;
            }
        }
        super::disk_sync::start_pending(ctx.srv);
        return;
    }
    let offset = ctx.srv.repl.master_repl_offset();
    let target = if diskless { "replicas sockets" } else { "disk" };
    log_notice!("Starting BGSAVE for SYNC with target: {target}");
    let rdb = match snapshot_bytes(ctx.srv, offset, &hs) {
        Ok(b) if !diskless => via_disk(&b),
        Ok(b) => Ok(b),
        Err(e) => Err(e),
    };
    let rdb = match rdb {
        Ok(b) => b,
        Err(e) => {
            log_warning!("BGSAVE for replication failed: {e}");
            let msg = format!("ERR BGSAVE failed, replication can't continue: {e}");
            ctx.err(&msg);
            return;
        }
    };
    if psync {
        let head = format!("+FULLRESYNC {} {offset}\r\n", ctx.srv.master_replid);
        ctx.out().raw(head.as_bytes());
    }
    // The `$<len>` form: the replica stores the payload as it arrives and
    // loads it once `len` bytes are in.
    let out = ctx.out();
    out.raw(format!("${}\r\n", rdb.len()).as_bytes());
    out.raw(&rdb);
    if hs.rdb_only {
        // Nothing follows the snapshot: not a replica of ours (Redis
        // disconnects such a client once the transfer is complete).
        log_notice!("RDB transfer completed, rdb only replica ({who}) should be disconnected asap");
        ctx.client.close_after_reply = true;
        return;
    }
    // The stream after the snapshot starts with an explicit SELECT: the
    // replica's link starts in the database named by `repl-stream-db`.
    ctx.srv.repl.feed.borrow_mut().seldb = None;
    // Its stream starts right after the snapshot's offset, never earlier:
    // the backlog may still hold history older than the snapshot.
    attach(ctx, hs, ip, size, 0, Some(offset + 1), SyncState::Online);
    log_notice!("Synchronization with replica {who} succeeded");
}

/// `repl-diskless-sync no`: the snapshot goes through a file in the
/// working directory (`dir`, where `dbfilename` lives too) before it is
/// sent, as Redis's disk-based sync does; a temporary name so that the
/// operator's `dbfilename` is not replaced by a sync. The file is removed
/// once read back.
fn via_disk(rdb: &[u8]) -> Result<Vec<u8>, String> {
    let path = format!("temp-repl-{}.rdb", std::process::id());
    let result = std::fs::write(&path, rdb)
        .and_then(|()| std::fs::read(&path))
        .map_err(|e| format!("{path}: {e} (is `dir` writable?)"));
    let _ = std::fs::remove_file(&path);
    if result.is_ok() {
        log_notice!("Replication snapshot written to disk ({} bytes)", rdb.len());
    }
    result
}

/// Answers `+CONTINUE` and queues the backlog from `offset` when the
/// replica's history is ours; false when a full sync is needed.
fn try_partial(ctx: &mut Ctx, replid: &str, offset: i64, who: &str) -> bool {
    let srv = &mut *ctx.srv;
    let known = replid == srv.master_replid
        || (replid == srv.repl.replid2 && offset <= srv.repl.second_repl_offset);
    if !known {
        return false;
    }
    let n = {
        let f = srv.repl.feed.borrow();
        match f.backlog.as_ref().filter(|b| b.holds(offset)) {
            Some(b) => (b.offset + 1 - offset) as usize,
            None => {
                log_notice!(
                    "Unable to partial resync with replica {who} for lack of backlog (Replica request was: {offset}). The link was down longer than repl-backlog-size ({} bytes) covers; raise repl-backlog-size for longer outages.",
                    srv.config.get_int(Directive::ReplBacklogSize)
                );
                return false;
            }
        }
    };
    // The bytes themselves go out from the shared buffer, from `offset`
    // on, once the caller attaches the replica there.
    let head = format!("+CONTINUE {}\r\n", srv.master_replid);
    ctx.out().raw(head.as_bytes());
    log_notice!(
        "Partial resynchronization request from {who} accepted. Sending {n} bytes of backlog starting from offset {offset}."
    );
    true
}

/// Turns the calling connection into an attached replica; `pos` is the
/// offset of the first stream byte it is sent (None while it waits for
/// its snapshot to start).
fn attach(
    ctx: &mut Ctx,
    hs: Handshake,
    ip: String,
    size: usize,
    ack_offset: i64,
    pos: Option<i64>,
    sync: SyncState,
) {
    let c: &mut Client = ctx.client;
    c.kind = Kind::Replica;
    let mut f = ctx.srv.repl.feed.borrow_mut();
    f.ensure_backlog(size);
    f.replicas.push(Replica {
        id: c.id,
        ip,
        port: hs.listening_port,
        ack_offset,
        ack_ms: ctx.srv.now_ms,
        pos,
        bulk: Vec::new(),
        sync,
        failed: false,
        await_ack: false,
        wake: c.wake.clone(),
        since_ms: ctx.srv.now_ms,
        soft_since_ms: 0,
        bulk_taken_ms: ctx.srv.now_ms,
        fullresync_reply: true,
        ack_log: Default::default(),
        certified_offset: 0,
    });
}

/// The RDB of the whole dataset as of now, stamped with the replication
/// id and `offset`; the replica's `rdb-filter-only` leaves parts out.
fn snapshot_bytes(srv: &mut Server, offset: i64, hs: &Handshake) -> Result<Vec<u8>, String> {
    // The keyspace walk serves one snapshot at a time.
    if fullsync::walk_busy(srv) {
        return Err("another snapshot is in progress".into());
    }
    let aux = Aux {
        ctime_secs: srv.now_ms / 1000,
        used_mem: crate::alloc::allocated() as u64,
        repl_id: srv.master_replid.clone(),
        repl_offset: offset,
        aof_base: false,
        repl_stream_db: stream_db_for_snapshot(srv),
        functions: if hs.exclude_functions {
            Vec::new()
        } else {
            srv.scripting.functions.payloads()
        },
        in_history: true,
    };
    let compress = srv.config.get_bool(Directive::Rdbcompression);
    let checksum = srv.config.get_bool(Directive::Rdbchecksum);
    let dbs: &mut [keyspace::Db] = if hs.exclude_data {
        &mut []
    } else {
        &mut srv.dbs
    };
    let started = std::time::Instant::now();
    let snap = Snapshot::begin(dbs, &aux, compress, checksum).map_err(|e| e.to_string())?;
    srv.stats.note_fork(started);
    let mut out = Vec::new();
    loop {
        let done = Snapshot::step(&mut srv.dbs, 4096);
        if done {
            if let Err(e) = snap.finish() {
                Snapshot::abort(&mut srv.dbs);
                return Err(e);
            }
        }
        out.append(&mut snap.take_bytes());
        if done {
            return Ok(out);
        }
    }
}

/// The database a replica starts applying our stream in (`repl-stream-db`).
/// A replica passing its master's stream on cannot insert a SELECT into
/// it, so it names the database that stream has selected; a master
/// re-selects explicitly after every snapshot point and says 0.
pub fn stream_db_for_snapshot(srv: &Server) -> usize {
    if srv.repl.feed.borrow().proxy {
        srv.repl.stream_db
    } else {
        0
    }
}

/// Closes every replica's link (Redis's disconnectSlaves): each asks
/// again and learns what changed (a new replication id, a new history).
pub fn disconnect_replicas(srv: &mut Server) {
    for c in srv.clients.values() {
        if let Ok(mut c) = c.try_borrow_mut() {
            if c.kind == Kind::Replica {
                c.killed = true;
                c.wake.notify_one();
            }
        }
    }
}

/// Closes the connections of replicas whose snapshot failed (they retry).
pub fn close_failed(srv: &mut Server) {
    let failed: Vec<u64> = srv
        .repl
        .feed
        .borrow()
        .replicas
        .iter()
        .filter(|r| r.failed)
        .map(|r| r.id)
        .collect();
    for id in failed {
        if let Some(c) = srv.clients.get(&id) {
            if let Ok(mut c) = c.try_borrow_mut() {
                c.killed = true;
                c.wake.notify_one();
            }
        }
    }
}

/// `WAIT numreplicas timeout`: blocks until that many replicas
/// acknowledged the client's last write, or the timeout (ms) passes.
fn wait(ctx: &mut Ctx) {
    if ctx.srv.is_replica() {
        ctx.err(errors::WAIT_ON_REPLICA);
        return;
    }
    let Some(num) = resp::parse_i64(ctx.argv.get(1)) else {
        ctx.err(errors::NOT_INTEGER);
        return;
    };
    let Some(timeout) = resp::parse_i64(ctx.argv.get(2)) else {
        ctx.err(errors::TIMEOUT_NOT_INTEGER);
        return;
    };
    if timeout < 0 {
        ctx.err(errors::TIMEOUT_NEGATIVE);
        return;
    }
    let woff = ctx.client.woff;
    let acked = confirmed(ctx.srv, woff);
    if acked as i64 >= num || !crate::blocking::may_block(ctx) || super::lease::fenced(ctx.srv) {
        ctx.out().int(acked as i64);
        return;
    }
    let deadline = if timeout == 0 {
        0
    } else {
        ctx.now_ms().saturating_add(timeout)
    };
    crate::blocking::block(ctx, crate::blocking::WaitFor::Replicas, 0..0, deadline);
    ctx.srv.repl.waiters.push(Waiter {
        client: ctx.client.id,
        offset: woff,
        numreplicas: num.max(0) as usize,
    });
    if super::lease::armed(ctx.srv) {
        // Acknowledgements already in need a renewal after them.
        let now = super::lease::clock();
        super::lease::request_renewal(ctx.srv, now);
    }
    // Ask for acknowledgements now rather than at the next periodic ACK.
    ctx.srv.repl.feed.borrow_mut().feed(GETACK);
}

/// Replicas that acknowledged `offset`, as `WAIT` reports them. Under a
/// sentinel lease: none while it has lapsed, and otherwise only the
/// acknowledgements a majority of the sentinels certified — renewed the
/// lease after they arrived (see `lease`). Checked at the moment of the
/// reply, on the thread that also takes the acknowledgements and grants.
fn confirmed(srv: &Server, offset: i64) -> usize {
    if !super::lease::armed(srv) {
        return srv.repl.feed.borrow().acked(offset);
    }
    if super::lease::fenced(srv) {
        return 0;
    }
    srv.repl.feed.borrow().certified(offset)
}

/// Whether a blocked request is a `WAIT` (its timeout answers a count).
pub fn is_wait(b: &crate::blocking::Blocked) -> bool {
    b.argv
        .first()
        .is_some_and(|a| a.eq_ignore_ascii_case(b"wait"))
}

/// The reply of a `WAIT` whose time ran out: the replicas that did
/// acknowledge.
pub fn wait_timed_out(srv: &mut Server, c: &mut Client) {
    srv.repl.waiters.retain(|w| w.client != c.id);
    let n = confirmed(srv, c.woff);
    c.out.int(n as i64);
}

/// Unblocks the `WAIT`s whose replicas acknowledged enough (all of them
/// when `all`).
pub(super) fn serve_waiters(srv: &mut Server, all: bool) {
    if srv.repl.waiters.is_empty() {
        return;
    }
    let waiters = std::mem::take(&mut srv.repl.waiters);
    for w in waiters {
        let n = confirmed(srv, w.offset);
        if n < w.numreplicas && !all {
            srv.repl.waiters.push(w);
            continue;
        }
        let Some(rc) = srv.clients.get(&w.client).cloned() else {
            continue;
        };
        // The acknowledging client is a replica, never a waiter.
        let Ok(mut c) = rc.try_borrow_mut() else {
            srv.repl.waiters.push(w);
            continue;
        };
        crate::blocking::unblock(srv, &mut c);
        c.out.int(n as i64);
        c.wake.notify_one();
    }
}

/// Periodic work (from the server cron): PING the replicas every
/// `repl-ping-replica-period` seconds so they can tell a silent master
/// from a dead one, and keep asking for ACKs while clients wait.
pub fn cron(srv: &mut Server) {
    // Replicas that arrived during a BGSAVE get their snapshot after it.
    fullsync::start_pending(srv);
    super::disk_sync::start_pending(srv);
    close_lagging_replicas(srv);
    expire_backlog(srv);
    super::failover::cron(srv);
    super::lease::cron(srv);
    let size = srv.config.get_int(Directive::ReplBacklogSize).max(1) as usize;
    srv.repl.feed.borrow_mut().resize_backlog(size);
    let period = srv.config.get_int(Directive::ReplPingReplicaPeriod).max(1) as u64;
    // Redis's replication cron runs once a second and pings on the runs
    // whose count is a multiple of the period (not "a period after the
    // last ping"): a period raised at run time takes effect at once.
    let second = srv.now_ms / 1000;
    let new_second = second != srv.repl.cron_second;
    if new_second {
        srv.repl.cron_second = second;
        srv.repl.cron_loops += 1;
    }
    let loops = srv.repl.cron_loops;
    if new_second {
        super::disk_sync::keepalive(srv);
    }
    let mut f = srv.repl.feed.borrow_mut();
    // A replica passes its master's pings on; its own would shift the
    // offsets of its replicas away from the master's.
    // Nor during a failover: the replica must catch up with a still
    // offset (as Redis, which skips its pings then).
    if f.replicas.is_empty() || f.proxy || srv.repl.failover.is_some() {
        return;
    }
    if new_second && loops.is_multiple_of(period) {
        f.feed(PING);
    }
    if !srv.repl.waiters.is_empty() {
        f.feed(GETACK);
    }
}

/// `repl-backlog-ttl`: a master left without replicas for that many
/// seconds frees its backlog and starts a new history (new replid, no
/// replid2), since no replica can continue the old one partially any more.
/// A replica keeps its backlog (it may be promoted and serve PSYNCs from
/// it); 0 means never free.
pub fn expire_backlog(srv: &mut Server) {
    let ttl_ms = srv
        .config
        .get_int(Directive::ReplBacklogTtl)
        .saturating_mul(1000);
    let now = srv.now_ms;
    let repl = &mut srv.repl;
    let mut f = repl.feed.borrow_mut();
    if repl.master.is_some() || !f.replicas.is_empty() || f.backlog.is_none() {
        repl.no_replicas_since_ms = now;
        return;
    }
    if repl.no_replicas_since_ms == 0 {
        repl.no_replicas_since_ms = now;
    }
    if ttl_ms <= 0 || now - repl.no_replicas_since_ms < ttl_ms {
        return;
    }
    f.free_backlog();
    drop(f);
    super::change_replication_id(srv);
    log_notice!(
        "Replication backlog freed after {} seconds without connected replicas.",
        ttl_ms / 1000
    );
}

/// Memory replication holds, as INFO's memory section reports it (Redis
/// 7.0's split of the shared buffer).
pub struct ReplMemory {
    /// The whole shared buffer (`mem_total_replication_buffers`).
    pub buffer: usize,
    /// The shared buffer up to `repl-backlog-size`
    /// (`mem_replication_backlog`).
    pub backlog: usize,
    /// The shared buffer beyond that — kept only because replicas still
    /// need it — plus snapshots queued for replicas (left out of
    /// eviction decisions).
    pub replica_queues: usize,
    /// What the replicas still have to be sent: each one's part of the
    /// stream from its position on, plus its queued snapshot (Redis counts
    /// a replica's share of the shared buffer as its output buffer).
    pub replica_pending: usize,
}

pub fn memory(srv: &Server) -> ReplMemory {
    let f = srv.repl.feed.borrow();
    let (buffer, size) = f
        .backlog
        .as_ref()
        .map_or((0, 0), |b| (b.memory(), b.size()));
    let bulk: usize = f.replicas.iter().map(|r| r.bulk.capacity()).sum();
    let end = f.backlog.as_ref().map_or(0, |b| b.offset + 1);
    let stream: i64 = f
        .replicas
        .iter()
        .filter_map(|r| r.pos)
        .map(|pos| (end - pos).max(0))
        .sum();
    ReplMemory {
        buffer,
        backlog: buffer.min(size),
        replica_queues: buffer.saturating_sub(size) + bulk,
        replica_pending: stream as usize + bulk,
    }
}

/// Feeds `args` as a command to the backlog and the replicas only, not
/// the AOF (`DEBUG REPLICATE`: the test suite's way to make a replica's
/// data differ from its master's).
pub fn feed_replicas_only(srv: &mut Server, db: usize, args: &[&[u8]]) {
    let mut cmd = Vec::new();
    resp::encode_command(&mut cmd, args);
    srv.repl.feed.borrow_mut().feed_command(db, &cmd);
}

/// `ROLE`: this server's place in the replication topology.
fn role(ctx: &mut Ctx) {
    let (srv, client) = ctx.parts();
    let out = &mut client.out;
    if let Some(m) = &srv.repl.master {
        use super::replica::LinkState;
        let state = match m.state {
            LinkState::Connect => "connect",
            LinkState::Connecting => "connecting",
            LinkState::Handshake => "handshake",
            LinkState::Transfer => "sync",
            LinkState::Connected => "connected",
        };
        let offset = if m.state == LinkState::Connected {
            srv.repl.master_repl_offset()
        } else {
            -1
        };
        out.array(5);
        out.bulk(b"slave");
        out.bulk(m.host.as_bytes());
        out.int(i64::from(m.port));
        out.bulk(state.as_bytes());
        out.int(offset);
        return;
    }
    let f = srv.repl.feed.borrow();
    out.array(3);
    out.bulk(b"master");
    out.int(f.offset());
    let online: Vec<&Replica> = f
        .replicas
        .iter()
        .filter(|r| r.sync == SyncState::Online)
        .collect();
    out.array(online.len());
    for r in online {
        out.array(3);
        out.bulk(r.ip.as_bytes());
        out.bulk(r.port.to_string().as_bytes());
        out.bulk(r.ack_offset.to_string().as_bytes());
    }
}

/// `min-replicas-to-write`: whether writes must be refused because fewer
/// replicas than required acknowledged within `min-replicas-max-lag`
/// seconds (Redis's "good" replicas).
pub fn too_few_good_replicas(srv: &Server) -> bool {
    // A lapsed sentinel lease refuses writes the same way (see `lease`).
    if super::lease::fenced(srv) {
        return true;
    }
    let (need, max_lag) = (
        srv.repl.min_replicas_to_write,
        srv.repl.min_replicas_max_lag,
    );
    if need == 0 || max_lag == 0 || srv.is_replica() {
        return false;
    }
    let f = srv.repl.feed.borrow();
    let good = f
        .replicas
        .iter()
        .filter(|r| r.sync == SyncState::Online && (srv.now_ms - r.ack_ms) / 1000 <= max_lag)
        .count();
    (good as i64) < need
}

/// The replica class of `client-output-buffer-limit`: hard limit, soft
/// limit (bytes, 0: none) and soft seconds.
fn replica_output_limit(srv: &Server) -> (usize, usize, i64) {
    let v = srv.config.get_str(Directive::ClientOutputBufferLimit);
    let w: Vec<&str> = v.split_whitespace().collect();
    let Some(c) = w
        .chunks(4)
        .find(|c| c.first().is_some_and(|k| *k == "slave" || *k == "replica"))
    else {
        return (0, 0, 0);
    };
    let num = |i: usize| c.get(i).and_then(|h| h.parse::<u64>().ok()).unwrap_or(0);
    (num(1) as usize, num(2) as usize, num(3) as i64)
}

/// Disconnects replicas that stopped acknowledging for `repl-timeout`
/// seconds, or whose unsent output passed the replica class's hard
/// `client-output-buffer-limit`: either would grow the master's memory
/// without bound. They come back with a partial or full resync.
fn close_lagging_replicas(srv: &mut Server) {
    let timeout_ms = srv.config.get_int(Directive::ReplTimeout).max(1) * 1000;
    let (limit, soft, soft_secs) = replica_output_limit(srv);
    let now = srv.now_ms;
    let mut doomed = Vec::new();
    let mut over_limit = 0;
    let mut feed = srv.repl.feed.borrow_mut();
    let f = &mut *feed;
    // As Redis: a replica's hard limit is never below repl-backlog-size
    // (the stream it is owed is the backlog it shares).
    let backlog_size = f.backlog.as_ref().map_or(0, |b| b.size());
    let limit = if limit > 0 {
        limit.max(backlog_size)
    } else {
        0
    };
    let unsent: Vec<usize> = f.replicas.iter().map(|r| f.unsent(r)).collect();
    for (r, unsent) in f.replicas.iter_mut().zip(unsent) {
        let queued = unsent + r.bulk.len();
        // As Redis: over the soft limit for longer than its seconds.
        let soft_over = if soft > 0 && queued > soft {
            if r.soft_since_ms == 0 {
                r.soft_since_ms = now;
            }
            now - r.soft_since_ms > soft_secs * 1000
        } else {
            r.soft_since_ms = 0;
            false
        };
        if r.sync == SyncState::Online && !r.await_ack && srv.now_ms - r.ack_ms > timeout_ms {
            log_warning!(
                "Disconnecting timedout replica (streaming sync): {}:{}",
                r.ip,
                r.port
            );
            doomed.push(r.id);
        } else if r.sync == SyncState::SendBulk
            && !r.bulk.is_empty()
            && now - r.bulk_taken_ms > timeout_ms
        {
            log_warning!(
                "Disconnecting timedout replica (full sync): {}:{}",
                r.ip,
                r.port
            );
            doomed.push(r.id);
        } else if limit > 0 && queued > limit {
            log_warning!(
                "Client id={} addr={}:{} (replica) scheduled to be closed ASAP for overcoming of output buffer limits: {queued} bytes queued, hard limit {limit} (raise the replica class of client-output-buffer-limit, or the replica's bandwidth, for this write rate).",
                r.id, r.ip, r.port
            );
            doomed.push(r.id);
            over_limit += 1;
        } else if soft_over {
            log_warning!(
                "Client id={} addr={}:{} (replica) scheduled to be closed ASAP for overcoming of output buffer limits: {queued} bytes queued, over the soft limit {soft} for more than {soft_secs} seconds (raise the replica class of client-output-buffer-limit, or the replica's bandwidth, for this write rate).",
                r.id, r.ip, r.port
            );
            doomed.push(r.id);
            over_limit += 1;
        }
    }
    drop(feed);
    srv.stats.replica_output_limit_disconnections += over_limit;
    for id in doomed {
        if let Some(c) = srv.clients.get(&id) {
            if let Ok(mut c) = c.try_borrow_mut() {
                c.killed = true;
                c.wake.notify_one();
            }
        }
        // Gone now, as Redis frees it: a transfer it held up goes on
        // without it, and the history it pinned can be trimmed.
        super::client_gone(srv, id);
    }
}

/// The `INFO replication` section of a master, in Redis 7.0's order.
pub fn info(srv: &Server, b: &mut String) {
    let f = srv.repl.feed.borrow();
    match &srv.repl.master {
        Some(m) => super::replica::info(srv, m, b),
        None => b.push_str("role:master\r\n"),
    }
    let _ = write!(b, "connected_slaves:{}\r\n", f.replicas.len());
    for (i, r) in f.replicas.iter().enumerate() {
        let lag = (srv.now_ms - r.ack_ms).max(0) / 1000;
        let _ = write!(
            b,
            "slave{i}:ip={},port={},state={},offset={},lag={lag}\r\n",
            r.ip,
            r.port,
            r.sync.name(),
            r.ack_offset
        );
    }
    let (active, size, first, histlen) = match &f.backlog {
        Some(bl) => (1, bl.size() as i64, bl.first_byte_offset(), bl.histlen()),
        None => (0, srv.config.get_int(Directive::ReplBacklogSize), 0, 0),
    };
    let _ = write!(
        b,
        "master_failover_state:{}\r\n\
         master_replid:{}\r\n\
         master_replid2:{}\r\n\
         master_repl_offset:{}\r\n\
         second_repl_offset:{}\r\n\
         repl_backlog_active:{active}\r\n\
         repl_backlog_size:{size}\r\n\
         repl_backlog_first_byte_offset:{first}\r\n\
         repl_backlog_histlen:{histlen}\r\n",
        super::failover::state_name(srv),
        srv.master_replid,
        srv.repl.replid2,
        f.offset(),
        srv.repl.second_repl_offset,
    );
    // Our extras, after every Redis field: the worst lag among the online
    // replicas in milliseconds since their last ACK and in bytes not yet
    // acknowledged, and how many replicas are in a full sync.
    let online = f.replicas.iter().filter(|r| r.sync == SyncState::Online);
    let lag_ms = online
        .clone()
        .map(|r| (srv.now_ms - r.ack_ms).max(0))
        .max()
        .unwrap_or(0);
    let lag_bytes = online
        .map(|r| (f.offset() - r.ack_offset).max(0))
        .max()
        .unwrap_or(0);
    let syncing = f
        .replicas
        .iter()
        .filter(|r| r.sync != SyncState::Online)
        .count();
    let _ = write!(
        b,
        "replicas_max_lag_ms:{lag_ms}\r\n\
         replicas_max_lag_bytes:{lag_bytes}\r\n\
         replicas_in_full_sync:{syncing}\r\n"
    );
    // On a master, the sentinel lease: off (no Redoubt sentinel ever
    // granted one), held or lapsed, and how many sentinels' grants run.
    if !srv.is_replica() {
        let now = super::lease::clock();
        let _ = write!(
            b,
            "sentinel_lease:{}\r\nsentinel_lease_grants:{}\r\n",
            srv.repl.lease.state(now).name(),
            srv.repl.lease.live_grants(now)
        );
    }
    if let Some(m) = &srv.repl.master {
        super::replica::info_extras(srv, m, b);
    }
}
