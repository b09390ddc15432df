//! Full synchronisation through the RDB file (`repl-diskless-sync no`).
//!
//! As in Redis, a replica that needs a full sync on a master that syncs
//! through disk gets an ordinary `BGSAVE` (the file is `dbfilename`, the
//! save counts in `INFO persistence` and honours `rdb-key-save-delay`):
//! `+FULLRESYNC <replid> <offset>` as soon as the save starts, the file as
//! `$<len>` once it is written, then the stream from the save's point on.
//! Until then the replica is in `wait_bgsave` and receives a newline every
//! second so that its link does not time out.
//!
//! A replica arriving while a save is running for other replicas shares
//! it (its stream starts at the same offset); while any other walk of the
//! keyspace runs it waits for the next save, which the cron starts. When
//! the last replica waiting for a save goes away and no `save` points are
//! configured, the save is stopped, as Redis kills its RDB child then: the
//! file is of no use to anybody, and the next full sync can start at once.

use super::fullsync::{self, SyncState};
use crate::server::Server;
use crate::{log_notice, log_warning};

/// Attaches the replicas waiting for a disk snapshot to the save under
/// way (when it serves replicas already) or to a new one; does nothing
/// while another walk of the keyspace runs (the cron calls again).
pub fn start_pending(srv: &mut Server) {
    // Waiting for a save that was abandoned (FLUSHALL, a shutdown that
    // did not happen): they start again.
    let orphans = in_state(srv, SyncState::WaitDiskEnd);
    if !orphans.is_empty() && srv.persist.bgsave.is_none() {
        log_warning!("SYNC failed. The BGSAVE for it was abandoned");
        fail(srv, &orphans);
    }
    let pending = in_state(srv, SyncState::WaitDiskStart);
    if pending.is_empty() {
        return;
    }
    // A save that other replicas wait for: join it, with their offset.
    let joined = srv.persist.bgsave.is_some().then(|| {
        srv.repl
            .feed
            .borrow()
            .replicas
            .iter()
            .find(|r| r.sync == SyncState::WaitDiskEnd)
            .and_then(|r| r.pos)
    });
    let pos = match joined.flatten() {
        Some(pos) => pos,
        None => {
            if fullsync::walk_busy(srv) {
                return;
            }
            log_notice!("Starting BGSAVE for SYNC with target: disk");
            let pos = srv.repl.master_repl_offset() + 1;
            if let Err(e) = crate::persistence::save::start_bgsave(srv) {
                log_warning!("BGSAVE for replication failed: {e}");
                fail(srv, &pending);
                return;
            }
            // The stream after the snapshot point selects its database
            // explicitly.
            let mut f = srv.repl.feed.borrow_mut();
            if !f.proxy {
                f.seldb = None;
            }
            pos
        }
    };
    let replid = srv.master_replid.clone();
    let now = srv.now_ms;
    let mut f = srv.repl.feed.borrow_mut();
    for r in f.replicas.iter_mut().filter(|r| pending.contains(&r.id)) {
        if joined.flatten().is_some() {
            log_notice!("Waiting for end of BGSAVE for SYNC");
        }
        if r.fullresync_reply {
            let head = format!("+FULLRESYNC {replid} {}\r\n", pos - 1);
            r.bulk.extend_from_slice(head.as_bytes());
        }
        r.pos = Some(pos);
        r.sync = SyncState::WaitDiskEnd;
        r.bulk_taken_ms = now;
        r.wake.notify_one();
    }
}

/// A `BGSAVE` ended (`ok`: its file is written): the replicas waiting for
/// it get the file, or are disconnected (they retry) when it failed. Then
/// those that arrived meanwhile get their own save.
pub fn bgsave_done(srv: &mut Server, ok: bool) {
    let targets = in_state(srv, SyncState::WaitDiskEnd);
    if !targets.is_empty() {
        let path = srv
            .config
            .get_str(crate::config::Directive::Dbfilename)
            .to_string();
        let file = if ok {
            std::fs::read(&path).map_err(|e| format!("{path}: {e}"))
        } else {
            Err("the background save failed".to_string())
        };
        match file {
            Ok(rdb) => {
                let now = srv.now_ms;
                let mut f = srv.repl.feed.borrow_mut();
                for r in f.replicas.iter_mut().filter(|r| targets.contains(&r.id)) {
                    r.bulk
                        .extend_from_slice(format!("${}\r\n", rdb.len()).as_bytes());
                    r.bulk.extend_from_slice(&rdb);
                    r.sync = SyncState::Online;
                    r.ack_ms = now;
                    r.bulk_taken_ms = now;
                    log_notice!("Synchronization with replica {}:{} succeeded", r.ip, r.port);
                    r.wake.notify_one();
                }
            }
            Err(e) => {
                log_warning!("SYNC failed. BGSAVE child returned an error: {e}");
                fail(srv, &targets);
            }
        }
    }
    start_pending(srv);
}

/// Disconnects replicas whose snapshot cannot be had (they retry).
fn fail(srv: &mut Server, ids: &[u64]) {
    for r in srv
        .repl
        .feed
        .borrow_mut()
        .replicas
        .iter_mut()
        .filter(|r| ids.contains(&r.id))
    {
        r.failed = true;
    }
    super::master::close_failed(srv);
}

/// A replica waiting for a save went away: the save stops when nobody
/// else waits for it and no `save` points make the file worth keeping.
pub fn waiter_gone(srv: &mut Server) {
    let others = srv
        .repl
        .feed
        .borrow()
        .replicas
        .iter()
        .any(|r| r.sync == SyncState::WaitDiskEnd);
    if others
        || srv.persist.bgsave.is_none()
        || !crate::persistence::save::save_points(srv).is_empty()
    {
        return;
    }
    crate::persistence::save::kill_bgsave(
        srv,
        "no replica waits for the RDB file any more and no save points are configured",
    );
}

/// Once a second: a newline to each replica waiting for its file, which
/// it ignores, so that its link stays alive meanwhile.
pub fn keepalive(srv: &mut Server) {
    let mut f = srv.repl.feed.borrow_mut();
    for r in f
        .replicas
        .iter_mut()
        .filter(|r| matches!(r.sync, SyncState::WaitDiskStart | SyncState::WaitDiskEnd))
    {
        r.bulk.push(b'\n');
        r.wake.notify_one();
    }
}

/// The replicas in `sync`.
fn in_state(srv: &Server, sync: SyncState) -> Vec<u64> {
    srv.repl
        .feed
        .borrow()
        .replicas
        .iter()
        .filter(|r| r.sync == sync)
        .map(|r| r.id)
        .collect()
}
