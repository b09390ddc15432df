//! Full synchronisation streamed from the fork-less snapshot.
//!
//! A replica that announced `capa eof` gets `+FULLRESYNC <replid>
//! <offset>`, then `$EOF:<40 random chars>`, the RDB as the keyspace walk
//! produces it, and the same 40 characters: no length is needed up front,
//! so nothing waits for the whole snapshot and the dataset is never
//! copied. The walk advances in slices between commands (the task below),
//! while commands keep changing the dataset; whatever they propagate from
//! the snapshot point on accumulates in the replica's pending stream and
//! is written after the end mark, exactly as Redis buffers the stream of
//! a replica in `wait_bgsave`/`send_bulk` state.
//!
//! Replicas waiting together share one snapshot; the first waits up to
//! `repl-diskless-sync-delay` seconds for others to join (fewer when
//! `repl-diskless-sync-max-replicas` arrive first).
//!
//! The walk stands for Redis's fork child and the replicas' pending
//! snapshot bytes for its pipe: no more is produced while a replica has
//! more than `MAX_BULK_PENDING` bytes it did not take, so the transfer
//! goes at the pace of the slowest replica, and one that takes nothing for
//! `repl-timeout` is dropped (`master::close_lagging_replicas`) so that
//! the others can finish.
//!
//! The keyspace walk serves one snapshot at a time, so a replica arriving
//! while one is under way waits for the next one (`wait_bgsave`), and
//! BGSAVE is refused meanwhile, as Redis refuses it while its child runs.

use super::master::Replica;
use crate::config::Directive;
use crate::persistence::snapshot::{Aux, Snapshot};
use crate::server::Server;
use crate::{log_notice, log_warning};
use std::cell::RefCell;
use std::rc::Rc;

/// Entries walked per slice before other commands get a turn.
const STEP: usize = 1024;
/// Stream owed to a replica per extra [`STEP`] in a slice (see [`step_for`]).
const OWED_PER_STEP: usize = 4 << 20;
/// Most [`STEP`]s in one slice.
const MAX_STEPS: usize = 32;

/// Entries to walk in one slice, given the most stream bytes a replica of
/// the transfer is owed (buffered since the snapshot point).
///
/// Everything the writers propagate during the transfer waits in the
/// replicas' output buffers until the snapshot has been sent and loaded.
/// With a fixed slice between turns of the clients, the walk's share of
/// the executor does not grow with the write load, so a fast enough
/// writer fills the buffer past `client-output-buffer-limit` before the
/// snapshot ends: measured with `bench/fullsync_load.sh` (2M keys, Redis's
/// default `replica 256mb 64mb 60`, full-speed writer), the master took
/// 51k SET/s during a 69 s sync, the buffer overflowed, the replica was
/// dropped and synced again (Redis's forked child takes half the core, so
/// Redis's writers slowed to 25k SET/s and one sync held). The slice now
/// grows by one STEP per 4 MB owed: the more the stream outruns the
/// snapshot, the more of each turn goes to the snapshot, and the writers
/// slow down as they do with Redis (same bench: one sync of 32 s, 33k
/// SET/s meanwhile, no overflow, replica equal to the master).
fn step_for(owed: usize) -> usize {
    STEP * (1 + owed / OWED_PER_STEP).min(MAX_STEPS)
}
/// Snapshot bytes a replica may have waiting before the walk pauses.
const MAX_BULK_PENDING: usize = 8 << 20;

/// A streamed full sync in progress.
pub struct Transfer {
    snap: Snapshot,
    mark: Vec<u8>,
    /// `rdb-key-save-delay`, as the walk's pace.
    pace: crate::persistence::pace::SavePace,
    /// Unix second it started (INFO's `rdb_current_bgsave_time_sec`).
    pub started_secs: i64,
    /// Replicas receiving this snapshot.
    pub targets: Vec<u64>,
    /// Bytes of snapshot handed to the replicas so far, and the progress
    /// lines logged about them.
    sent: u64,
    progress: crate::persistence::progress::Progress,
}

/// Where a replica stands in its synchronisation (INFO's `state=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncState {
    /// Waiting for the snapshot under way to end before its own starts.
    WaitBgsave,
    /// Receiving its snapshot.
    SendBulk,
    /// Waiting for a `BGSAVE` to start (`repl-diskless-sync no`: see
    /// `disk_sync`).
    WaitDiskStart,
    /// Waiting for the `BGSAVE` under way to write its file.
    WaitDiskEnd,
    Online,
}

impl SyncState {
    /// INFO's name. A streamed snapshot is Redis's `WAIT_BGSAVE_END` with
    /// a socket target (its fork child writes to the replicas while it
    /// runs), which INFO shows as `wait_bgsave` like the wait before it;
    /// Redis's `send_bulk` is only the sending of a finished file.
    pub fn name(self) -> &'static str {
        match self {
            SyncState::WaitBgsave
            | SyncState::SendBulk
            | SyncState::WaitDiskStart
            | SyncState::WaitDiskEnd => "wait_bgsave",
            SyncState::Online => "online",
        }
    }
}

/// Whether a walk of the keyspace is running (a BGSAVE, a transfer or an
/// AOF rewrite).
pub fn walk_busy(srv: &Server) -> bool {
    srv.persist.bgsave.is_some() || srv.repl.transfer.is_some() || srv.aof.rewrite_running()
}

/// Starts a streamed snapshot for every replica waiting for one; the
/// transfer task then drives it. Does nothing while a walk is running.
pub fn start_pending(srv: &mut Server) {
    if walk_busy(srv) {
        return;
    }
    let waiting: Vec<u64> = srv
        .repl
        .feed
        .borrow()
        .replicas
        .iter()
        .filter(|r| r.sync == SyncState::WaitBgsave)
        .map(|r| r.id)
        .collect();
    if waiting.is_empty() {
        return;
    }
    // repl-diskless-sync-delay: the first one waits a little for others
    // to arrive and share the snapshot, unless enough already did
    // (repl-diskless-sync-max-replicas). The cron checks again.
    let delay_ms = srv.config.get_int(Directive::ReplDisklessSyncDelay) * 1000;
    let max = srv.config.get_int(Directive::ReplDisklessSyncMaxReplicas);
    if delay_ms > 0 && (max == 0 || (waiting.len() as i64) < max) {
        let oldest = srv
            .repl
            .feed
            .borrow()
            .replicas
            .iter()
            .filter(|r| r.sync == SyncState::WaitBgsave)
            .map(|r| r.since_ms)
            .min()
            .unwrap_or(0);
        if srv.now_ms - oldest < delay_ms {
            return;
        }
    }
    let offset = srv.repl.master_repl_offset();
    let aux = Aux {
        ctime_secs: srv.now_ms / 1000,
        used_mem: crate::alloc::allocated() as u64,
        repl_id: srv.master_replid.clone(),
        repl_offset: offset,
        aof_base: false,
        repl_stream_db: super::master::stream_db_for_snapshot(srv),
        functions: srv.scripting.functions.payloads(),
        in_history: true,
    };
    let compress = srv.config.get_bool(Directive::Rdbcompression);
    let checksum = srv.config.get_bool(Directive::Rdbchecksum);
    let started = std::time::Instant::now();
    let snap = match Snapshot::begin(&mut srv.dbs, &aux, compress, checksum) {
        Ok(s) => s,
        Err(e) => {
            log_warning!("BGSAVE for replication failed: {e}");
            return;
        }
    };
    srv.stats.note_fork(started);
    // Redis's `$EOF:` mark is 40 random hex characters too.
    let mark = crate::util::ids::new_id40(&mut srv.rng).into_bytes();
    log_notice!("Starting BGSAVE for SYNC with target: replicas sockets");
    // Redis names its fork child; the walk runs in this process.
    log_notice!(
        "Background RDB transfer started by pid {}",
        std::process::id()
    );
    let head = format!("+FULLRESYNC {} {offset}\r\n$EOF:", srv.master_replid);
    {
        let mut f = srv.repl.feed.borrow_mut();
        let next = f.offset() + 1;
        for r in f.replicas.iter_mut().filter(|r| waiting.contains(&r.id)) {
            // Their stream starts at the snapshot point.
            r.pos = Some(next);
            r.bulk.extend_from_slice(head.as_bytes());
            r.bulk.extend_from_slice(&mark);
            r.bulk.extend_from_slice(b"\r\n");
            r.sync = SyncState::SendBulk;
            r.bulk_taken_ms = srv.now_ms;
            r.wake.notify_one();
        }
        // The stream after the snapshot selects its database explicitly.
        if !f.proxy {
            f.seldb = None;
        }
    }
    let pace = crate::persistence::pace::SavePace::new(
        srv.config
            .get_int(crate::config::Directive::RdbKeySaveDelay),
    );
    let started_secs = srv.now_ms / 1000;
    srv.repl.transfer = Some(Transfer {
        snap,
        mark,
        pace,
        started_secs,
        targets: waiting,
        sent: 0,
        progress: Default::default(),
    });
    srv.repl.transfer_notify.notify_one();
}

/// Abandons the transfer when its last replica went away.
pub fn target_gone(srv: &mut Server, id: u64) {
    let empty = match srv.repl.transfer.as_mut() {
        Some(t) => {
            t.targets.retain(|&x| x != id);
            t.targets.is_empty()
        }
        None => false,
    };
    if empty {
        srv.repl.transfer = None;
        Snapshot::abort(&mut srv.dbs);
        // Redis's line (its fork child is killed; here the walk stops).
        log_warning!("Diskless rdb transfer, last replica dropped, killing fork child.");
        start_pending(srv);
    }
}

/// Stops the transfer under way, if any (FLUSHALL, as Redis kills its RDB
/// child then): its replicas are disconnected and come back for a
/// snapshot of the dataset as it is now.
pub fn abort_transfer(srv: &mut Server, why: &str) {
    if srv.repl.transfer.is_some() {
        log_warning!("Background transfer terminated: {why}");
        finish(srv, Err(why.to_string()));
    }
}

/// Hands `bytes` to every target's connection.
fn deliver(replicas: &mut [Replica], targets: &[u64], bytes: &[u8]) {
    for r in replicas.iter_mut().filter(|r| targets.contains(&r.id)) {
        r.bulk.extend_from_slice(bytes);
        r.wake.notify_one();
    }
}

/// Every few seconds of a transfer: how much was sent, how fast, and to
/// whom (the snapshot's size is not known before its walk ends).
fn log_progress(t: &mut Transfer, replicas: &[Replica]) {
    let sent = t.sent;
    let to: Vec<String> = replicas
        .iter()
        .filter(|r| t.targets.contains(&r.id))
        .map(|r| format!("{}:{}", r.ip, r.port))
        .collect();
    let what = format!("Full sync to replica {}: sent", to.join(", "));
    if let Some(l) = t.progress.due(&what, sent, 0) {
        log_notice!("{l}");
    }
}

/// What the transfer task waits for before its next slice.
enum Wait {
    /// The next event-loop turn.
    Turn,
    /// The replicas' connections to drain what they were handed.
    Drain,
    /// `rdb-key-save-delay`'s pace.
    Paced(std::time::Duration),
}

/// The long-lived task that walks the keyspace for transfers, a slice at
/// a time, letting commands run between slices.
pub async fn transfer_task(srv: Rc<RefCell<Server>>) {
    let notify = srv.borrow().repl.transfer_notify.clone();
    loop {
        let backlogged: Option<Wait> = {
            let mut guard = srv.borrow_mut();
            let s = &mut *guard;
            match s.repl.transfer.as_mut() {
                None => None,
                Some(t) => 'step: {
                    // Like Redis's pipe, the snapshot goes at the pace of
                    // its slowest replica: no more is produced while one
                    // has not taken what it was handed (which also bounds
                    // the memory a stuck replica costs).
                    let (most, owed) = {
                        let f = s.repl.feed.borrow();
                        f.replicas
                            .iter()
                            .filter(|r| t.targets.contains(&r.id))
                            .fold((0, 0), |(b, o), r| {
                                (b.max(r.bulk.len()), o.max(f.unsent(r)))
                            })
                    };
                    if most > MAX_BULK_PENDING {
                        break 'step Some(Wait::Drain);
                    }
                    let budget = t.pace.budget(step_for(owed));
                    if budget == 0 {
                        // Paced by rdb-key-save-delay: nothing to walk yet.
                        break 'step Some(Wait::Paced(t.pace.wait()));
                    }
                    let done = Snapshot::step(&mut s.dbs, budget);
                    let mut failed = None;
                    if done {
                        if let Err(e) = t.snap.finish() {
                            failed = Some(e);
                        }
                    }
                    let bytes = t.snap.take_bytes();
                    {
                        let mut f = s.repl.feed.borrow_mut();
                        t.sent += bytes.len() as u64;
                        log_progress(t, &f.replicas);
                        deliver(&mut f.replicas, &t.targets, &bytes);
                    }
                    if let Some(e) = failed {
                        finish(s, Err(e));
                    } else if done {
                        finish(s, Ok(()));
                    }
                    Some(Wait::Turn)
                }
            }
        };
        match backlogged {
            None => notify.notified().await,
            // Slow replicas: their connections signal when they took
            // their bytes (`ReplState::drain_to`); the bound covers a
            // replica that went away meanwhile.
            Some(Wait::Drain) => {
                let _ =
                    tokio::time::timeout(std::time::Duration::from_millis(100), notify.notified())
                        .await;
            }
            Some(Wait::Paced(d)) => tokio::time::sleep(d).await,
            Some(Wait::Turn) => tokio::task::yield_now().await,
        }
    }
}

/// Ends the transfer: the end mark and the buffered stream go out, the
/// replicas are online. On failure they are disconnected and retry.
fn finish(srv: &mut Server, result: Result<(), String>) {
    let Some(t) = srv.repl.transfer.take() else {
        return;
    };
    let mut f = srv.repl.feed.borrow_mut();
    if result.is_ok() {
        // The snapshot is all produced (Redis: its parent read the pipe
        // to the end); the replicas still receiving it.
        let up = f
            .replicas
            .iter()
            .filter(|r| t.targets.contains(&r.id))
            .count();
        log_warning!("Diskless rdb transfer, done reading from pipe, {up} replicas still up.");
    }
    for r in f.replicas.iter_mut().filter(|r| t.targets.contains(&r.id)) {
        match &result {
            Ok(()) => {
                r.bulk.extend_from_slice(&t.mark);
                r.sync = SyncState::Online;
                r.await_ack = true;
                log_notice!("Synchronization with replica {}:{} succeeded", r.ip, r.port);
            }
            Err(e) => {
                log_warning!(
                    "Replication snapshot failed for replica {}:{}: {e}",
                    r.ip,
                    r.port
                );
                r.failed = true;
            }
        }
        r.wake.notify_one();
    }
    drop(f);
    if result.is_err() {
        Snapshot::abort(&mut srv.dbs);
        super::master::close_failed(srv);
    }
    start_pending(srv);
}
