//! Master–replica replication, wire-compatible with Redis 7.0 (PSYNC2).
//!
//! - [`backlog`]: the ring buffer of the last stream bytes, by offset.
//! - [`master`]: the master side: the journal sink that turns every
//!   released effect into stream bytes (with `SELECT` when the database
//!   changes), `REPLCONF`, `PSYNC`/`SYNC` (full sync from the fork-less
//!   snapshot, or `+CONTINUE` from the backlog), `WAIT`, the pings, and
//!   `INFO replication`.
//!
//! - [`lease`]: the sentinel lease, which fences a master cut off from
//!   most of its Redoubt sentinels (no writes, no `WAIT` confirmations).
//! - [`replica`]: the replica side: `REPLICAOF`, the link to the master
//!   (handshake, RDB transfer and load, applying the stream, ACKs).
//!
//! The state shared with the journal sink lives in [`master::Feed`]
//! behind an `Rc<RefCell<..>>`: the journal owns its sinks, and the sink
//! must reach the backlog and the replicas' pending stream bytes. It is
//! only borrowed for the span of one call, never across an await.

pub mod backlog;
pub mod disk_sync;
pub mod failover;
pub mod fullsync;
pub mod lease;
pub mod master;
pub mod replica;

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

/// What a connection said during the handshake (`REPLCONF`) before it
/// asked for `PSYNC`.
#[derive(Debug, Default, Clone)]
pub struct Handshake {
    pub listening_port: u16,
    pub ip_address: Option<String>,
    /// The replica understands the disk-less `$EOF:<mark>` transfer.
    pub capa_eof: bool,
    pub capa_psync2: bool,
    /// `REPLCONF rdb-only 1`: the snapshot without the stream after it
    /// (redis-cli --rdb); the connection closes once it is sent.
    pub rdb_only: bool,
    /// `REPLCONF rdb-filter-only <filters>`: the snapshot leaves the keys
    /// out, and the function libraries unless `functions` is named.
    pub exclude_data: bool,
    pub exclude_functions: bool,
}

/// The replication state of this server.
pub struct ReplState {
    pub feed: Rc<RefCell<master::Feed>>,
    /// The previous replication id and the offset up to which it is valid
    /// (after a promotion), so former siblings can continue partially.
    pub replid2: String,
    pub second_repl_offset: i64,
    /// Handshake details of connections that did not PSYNC yet.
    pub handshakes: HashMap<u64, Handshake>,
    /// Clients blocked in `WAIT`.
    pub waiters: Vec<master::Waiter>,
    /// Seconds of replication cron run so far, and the Unix second of the
    /// last one: PINGs go out when the count is a multiple of
    /// `repl-ping-replica-period`, as Redis's `replication_cron_loops`.
    pub cron_loops: u64,
    pub cron_second: i64,
    /// The master we follow (None: we are a master).
    pub master: Option<replica::MasterLink>,
    /// On a replica: the database the master's stream has selected (from
    /// the RDB's `repl-stream-db`, then following its SELECTs).
    pub stream_db: usize,
    /// On a writable replica: keys its own clients gave a TTL. The master
    /// knows nothing of them, so no DEL will come; the replica expires
    /// them itself (Redis's `slaveKeysWithExpire`).
    pub own_expiring_keys: std::collections::HashSet<(usize, Vec<u8>)>,
    /// A disk-less full sync of the same history is under way: the old
    /// data stays served meanwhile (`async_loading` in INFO).
    pub async_loading: bool,
    /// The streamed full sync under way, and the task driving it.
    pub transfer: Option<fullsync::Transfer>,
    pub transfer_notify: Rc<tokio::sync::Notify>,
    /// Cached `min-replicas-to-write` and `min-replicas-max-lag`.
    pub min_replicas_to_write: i64,
    pub min_replicas_max_lag: i64,
    /// Wakes the replica link task when the master changes.
    pub link_notify: Rc<tokio::sync::Notify>,
    /// The `FAILOVER` under way, if any.
    pub failover: Option<failover::Failover>,
    /// Grants from Redoubt sentinels (see [`lease`]).
    pub lease: lease::Lease,
    /// Unix ms since when this master has had no replica (0: not yet
    /// counted); `repl-backlog-ttl` counts from here.
    pub no_replicas_since_ms: i64,
    /// When a replica last logged that it applies its master's writes
    /// despite a disk error (at most every ten seconds).
    pub disk_error_logged_ms: i64,
}

/// Stream bytes handed to one write, so a replica far behind does not
/// copy the whole history at once.
pub const STREAM_SLICE: usize = 1 << 20;

impl Default for ReplState {
    fn default() -> Self {
        ReplState {
            feed: Rc::new(RefCell::new(master::Feed::default())),
            replid2: "0".repeat(40),
            second_repl_offset: -1,
            handshakes: HashMap::new(),
            waiters: Vec::new(),
            cron_loops: 0,
            cron_second: 0,
            master: None,
            stream_db: 0,
            own_expiring_keys: Default::default(),
            async_loading: false,
            min_replicas_to_write: 0,
            min_replicas_max_lag: 10,
            transfer: None,
            transfer_notify: Rc::new(tokio::sync::Notify::new()),
            link_notify: Rc::new(tokio::sync::Notify::new()),
            failover: None,
            lease: lease::Lease::default(),
            no_replicas_since_ms: 0,
            disk_error_logged_ms: 0,
        }
    }
}

impl ReplState {
    /// The journal sink feeding the backlog and the replicas.
    pub fn sink(&self) -> Box<dyn crate::journal::JournalSink> {
        Box::new(master::FeedSink(self.feed.clone()))
    }

    /// `master_repl_offset`: bytes of stream produced so far.
    pub fn master_repl_offset(&self) -> i64 {
        self.feed.borrow().offset()
    }

    /// Whether replica `id` is being sent the stream and has more of it
    /// to be sent.
    pub fn stream_pending(&self, id: u64) -> bool {
        let f = self.feed.borrow();
        f.replicas.iter().find(|r| r.id == id).is_some_and(|r| {
            r.sync == fullsync::SyncState::Online && !r.await_ack && f.unsent(r) > 0
        })
    }

    /// Appends what replica `id` is to be sent next to `out` (called by
    /// its connection loop before writing): its snapshot, then — once that
    /// is complete — the stream from the shared buffer, a slice at a time.
    pub fn drain_to(&self, id: u64, out: &mut Vec<u8>) {
        let mut feed = self.feed.borrow_mut();
        let f = &mut *feed;
        let Some(r) = f.replicas.iter_mut().find(|r| r.id == id) else {
            return;
        };
        if !r.bulk.is_empty() {
            out.append(&mut r.bulk);
            r.bulk_taken_ms = crate::util::time::unix_ms();
            // A transfer waiting for this replica can go on.
            self.transfer_notify.notify_one();
        }
        if r.sync != fullsync::SyncState::Online || r.await_ack {
            return;
        }
        let (Some(pos), Some(b)) = (r.pos, f.backlog.as_ref()) else {
            return;
        };
        let n = b.copy_from(pos, STREAM_SLICE, out);
        r.pos = Some(pos + n as i64);
        if n > 0 {
            f.trim();
        }
    }
}

/// Forgets connection `id` (gone or killed).
pub fn client_gone(srv: &mut crate::server::Server, id: u64) {
    let repl = &mut srv.repl;
    repl.handshakes.remove(&id);
    repl.waiters.retain(|w| w.client != id);
    let gone = {
        let mut f = repl.feed.borrow_mut();
        match f.replicas.iter().position(|r| r.id == id) {
            Some(pos) => {
                let r = f.replicas.remove(pos);
                crate::log_notice!("Connection with replica {}:{} lost.", r.ip, r.port);
                // What only it still needed can go.
                f.trim();
                Some(r.sync)
            }
            None => None,
        }
    };
    if let Some(sync) = gone {
        fullsync::target_gone(srv, id);
        if sync == fullsync::SyncState::WaitDiskEnd {
            disk_sync::waiter_gone(srv);
        }
    }
}

/// Starts a new replication history: a fresh replication id and no
/// previous one (Redis's `changeReplicationId` + `clearReplicationId2`),
/// as when the backlog is freed or `DEBUG CHANGE-REPL-ID` asks.
pub fn change_replication_id(srv: &mut crate::server::Server) {
    srv.master_replid = crate::util::ids::new_id40(&mut srv.rng);
    srv.repl.replid2 = "0".repeat(40);
    srv.repl.second_repl_offset = -1;
}
