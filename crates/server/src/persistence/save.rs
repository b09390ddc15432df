//! `SAVE`, `BGSAVE`, save points and the shutdown save, with the state
//! `INFO persistence` reports.
//!
//! `BGSAVE` does not fork: the persistence task ([`persistence_task`],
//! spawned at start-up) runs the snapshot walk in slices between commands
//! and a background thread writes the bytes (see `snapshot.rs`).

use super::snapshot::{
    fsync_dir, serializer_thread, Aux, BgSnapshot, Chunk, SerializerJob, Snapshot, CHUNK,
};
use crate::config::Directive;
use crate::server::Server;
use crate::{log_notice, log_warning};
use std::cell::RefCell;
use std::io::Write;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::Notify;

/// Entries serialised per slice of the walk, between two turns of the
/// event loop.
const STEP_ENTRIES: usize = 2000;

/// A `BGSAVE` in progress.
pub struct RunningSave {
    pub started: Instant,
    pub started_secs: i64,
    pub dirty_at_start: u64,
    pub abort: Arc<AtomicBool>,
    /// Keys handed over, bytes taken ahead of the walk, peak memory held
    /// (reported as Redis reports its child's progress and COW).
    pub progress: super::snapshot::SaveProgress,
    /// The pipeline, taken over by the persistence task that drives it.
    pub pipeline: Option<Pipeline>,
}

/// What the persistence task needs to drive a save: the snapshot, the
/// channel to the writer thread and its completion.
pub struct Pipeline {
    pub snap: BgSnapshot,
    /// Batches of copied entries (with their size); `None` marks the end
    /// of the snapshot.
    pub tx: tokio::sync::mpsc::Sender<Chunk>,
    /// Bytes of copies sent and not yet written by the serialiser.
    pub in_flight: Arc<AtomicUsize>,
    pub done: tokio::sync::oneshot::Receiver<Result<u64, String>>,
}

/// Persistence state owned by the server.
pub struct PersistState {
    /// Wakes the persistence task.
    pub notify: Rc<Notify>,
    pub bgsave_scheduled: bool,
    pub bgsave: Option<RunningSave>,
    pub last_save_secs: i64,
    pub last_bgsave_ok: bool,
    pub last_bgsave_time_sec: i64,
    pub last_bgsave_try_secs: i64,
    pub saves: u64,
    pub last_cow_size: u64,
    /// Set while the dataset is loading at start-up.
    pub loading: Option<super::load::Loading>,
    pub load_keys_loaded: u64,
    pub load_keys_expired: u64,
    /// Replication id and offset found in the loaded file's aux fields.
    pub rdb_repl_id: Option<String>,
    pub rdb_repl_offset: Option<i64>,
}

impl PersistState {
    pub fn new(now_secs: i64) -> PersistState {
        PersistState {
            notify: Rc::new(Notify::new()),
            bgsave_scheduled: false,
            bgsave: None,
            last_save_secs: now_secs,
            last_bgsave_ok: true,
            last_bgsave_time_sec: -1,
            last_bgsave_try_secs: 0,
            saves: 0,
            last_cow_size: 0,
            loading: None,
            load_keys_loaded: 0,
            load_keys_expired: 0,
            rdb_repl_id: None,
            rdb_repl_offset: None,
        }
    }
}

/// The configured save points, `(seconds, changes)`.
pub fn save_points(srv: &Server) -> Vec<(i64, u64)> {
    let v = srv.config.get_list(Directive::Save);
    v.chunks(2)
        .filter_map(|c| match c {
            [s, n] => Some((s.parse().ok()?, n.parse().ok()?)),
            _ => None,
        })
        .collect()
}

fn rdb_path(srv: &Server) -> std::path::PathBuf {
    std::path::PathBuf::from(srv.config.get_str(Directive::Dbfilename))
}

fn aux(srv: &Server) -> Aux {
    Aux {
        ctime_secs: srv.now_ms / 1000,
        used_mem: crate::alloc::allocated() as u64,
        repl_id: srv.master_replid.clone(),
        // A replica restarted from this file continues its replication
        // history from here (partial resync) instead of a full sync.
        repl_offset: srv.repl.master_repl_offset(),
        aof_base: false,
        repl_stream_db: crate::replication::master::stream_db_for_snapshot(srv),
        functions: srv.scripting.functions.payloads(),
        in_history: srv.is_replica() || srv.repl.feed.borrow().backlog.is_some(),
    }
}

/// Whether writes must be refused because the last background save failed
/// (`stop-writes-on-bgsave-error`), as Redis's MISCONF rule.
pub fn writes_denied(srv: &Server) -> bool {
    !srv.persist.last_bgsave_ok
        && srv.config.get_bool(Directive::StopWritesOnBgsaveError)
        && !save_points(srv).is_empty()
}

/// Starts a background save now: the snapshot's point in time is this
/// call, as a fork would be in Redis; the persistence task then drives
/// the walk between commands. Err when it cannot start.
pub fn start_bgsave(srv: &mut Server) -> Result<(), String> {
    // A replica's snapshot and an AOF rewrite use the keyspace walk too.
    if srv.persist.bgsave.is_some() || srv.repl.transfer.is_some() {
        return Err(crate::errors::BGSAVE_IN_PROGRESS.into());
    }
    if srv.aof.rewrite_running() {
        return Err(crate::errors::BGSAVE_WHILE_AOF_REWRITE.into());
    }
    srv.persist.last_bgsave_try_secs = srv.now_ms / 1000;
    let a = aux(srv);
    let path = rdb_path(srv);
    let (pipeline, abort) = match start_pipeline(srv, path, a, "rdb-serializer") {
        Ok(p) => p,
        Err(e) => {
            log_warning!("Can't save in background: {e}");
            srv.persist.last_bgsave_ok = false;
            return Err(e);
        }
    };
    srv.persist.bgsave = Some(RunningSave {
        started: Instant::now(),
        started_secs: srv.now_ms / 1000,
        dirty_at_start: srv.dirty,
        abort,
        progress: super::snapshot::SaveProgress::starting(&srv.dbs),
        pipeline: Some(pipeline),
    });
    log_notice!("Background saving started by pid {}", std::process::id());
    srv.persist.notify.notify_one();
    Ok(())
}

/// Starts a snapshot of the dataset as it is now, written as an RDB file
/// at `path` by a background thread (`thread` names it): the part BGSAVE
/// and the AOF rewrite share. Returns the pipeline to drive with
/// [`drive_pipeline`] and the flag that abandons it.
pub fn start_pipeline(
    srv: &mut Server,
    path: std::path::PathBuf,
    a: Aux,
    thread: &str,
) -> Result<(Pipeline, Arc<AtomicBool>), String> {
    let started = std::time::Instant::now();
    let compress = srv.config.get_bool(Directive::Rdbcompression);
    let checksum = srv.config.get_bool(Directive::Rdbchecksum);
    let (tx, rx) = tokio::sync::mpsc::channel::<Chunk>(8);
    let in_flight = Arc::new(AtomicUsize::new(0));
    let thread_in_flight = in_flight.clone();
    let (done_tx, done) = tokio::sync::oneshot::channel();
    let abort = Arc::new(AtomicBool::new(false));
    let thread_abort = abort.clone();
    let db_sizes = super::snapshot::db_sizes(&srv.dbs);
    // The thread does what Redis's fork child does, and is pinned as it
    // would be (`aof_rewrite_cpulist` or `bgsave_cpulist`).
    let (kind, incremental_fsync) = if thread.starts_with("aof") {
        (
            crate::os::ThreadKind::AofRewrite,
            srv.config.get_bool(Directive::AofRewriteIncrementalFsync),
        )
    } else {
        (
            crate::os::ThreadKind::Bgsave,
            srv.config.get_bool(Directive::RdbSaveIncrementalFsync),
        )
    };
    std::thread::Builder::new()
        .name(thread.into())
        .spawn(move || {
            crate::os::background_thread_started(kind);
            let job = SerializerJob {
                path,
                aux: a,
                compress,
                checksum,
                in_flight: thread_in_flight,
                abort: thread_abort,
                incremental_fsync,
                db_sizes,
            };
            serializer_thread(job, rx, done_tx)
        })
        .map_err(|e| e.to_string())?;
    let snap = BgSnapshot::begin(&mut srv.dbs, compress, in_flight.clone());
    srv.stats.note_fork(started);
    Ok((
        Pipeline {
            snap,
            tx,
            done,
            in_flight,
        },
        abort,
    ))
}

/// A synchronous save (`SAVE`, shutdown): walks everything now, writing
/// to a temporary file renamed over the target.
pub fn save_sync(srv: &mut Server) -> Result<(), String> {
    if srv.persist.bgsave.is_some() || srv.repl.transfer.is_some() {
        return Err("ERR Background save already in progress".into());
    }
    let path = rdb_path(srv);
    let tmp = path.with_file_name(format!("temp-{}.rdb", std::process::id()));
    let result = (|| -> Result<(), String> {
        let a = aux(srv);
        let compress = srv.config.get_bool(Directive::Rdbcompression);
        let checksum = srv.config.get_bool(Directive::Rdbchecksum);
        let f = std::fs::File::create(&tmp).map_err(|e| {
            format!(
                "Failed opening the temp RDB file {} for saving: {e}",
                tmp.display()
            )
        })?;
        let f = super::autosync::AutoSync::new(
            f,
            srv.config.get_bool(Directive::RdbSaveIncrementalFsync),
        );
        let mut out = std::io::BufWriter::with_capacity(CHUNK, f);
        let snap =
            Snapshot::begin(&mut srv.dbs, &a, compress, checksum).map_err(|e| e.to_string())?;
        // `rdb-key-save-delay` slows a synchronous save key by key, as in
        // Redis (the tests use it to catch a SAVE or the final save of a
        // shutdown in progress); it blocks, as SAVE does.
        let delay = srv.config.get_int(Directive::RdbKeySaveDelay);
        let step = if delay != 0 { 1 } else { STEP_ENTRIES };
        loop {
            let done = Snapshot::step(&mut srv.dbs, step);
            if delay != 0 {
                super::pace::sync_save_delay(delay);
            }
            if done {
                snap.finish()?;
            }
            out.write_all(&snap.take_bytes())
                .map_err(|e| format!("Write error saving DB on disk: {e}"))?;
            if done {
                break;
            }
        }
        let f = out
            .into_inner()
            .map_err(|e| format!("Write error saving DB on disk: {e}"))?
            .into_file();
        f.sync_all()
            .map_err(|e| format!("Write error saving DB on disk: {e}"))?;
        std::fs::rename(&tmp, &path)
            .map_err(|e| format!("Error moving temp DB file on the final destination: {e}"))?;
        fsync_dir(&path);
        Ok(())
    })();
    match result {
        Ok(()) => {
            log_notice!("DB saved on disk");
            srv.dirty = 0;
            srv.persist.last_save_secs = srv.now_ms / 1000;
            srv.persist.saves += 1;
            srv.persist.last_bgsave_ok = true;
            Ok(())
        }
        Err(e) => {
            Snapshot::abort(&mut srv.dbs);
            let _ = std::fs::remove_file(&tmp);
            log_warning!("{e}");
            Err(e)
        }
    }
}

/// Checks the save points (called from the cron), as Redis's serverCron:
/// a point fires when enough changes happened in enough time, and after a
/// failed save only once 5 seconds have passed.
pub fn cron(srv: &mut Server) {
    if srv.persist.bgsave.is_some() || srv.persist.loading.is_some() || srv.aof.rewrite_running() {
        return;
    }
    if srv.persist.bgsave_scheduled {
        srv.persist.bgsave_scheduled = false;
        let _ = start_bgsave(srv);
        return;
    }
    let now = srv.now_ms / 1000;
    for (secs, changes) in save_points(srv) {
        if srv.dirty >= changes
            && now - srv.persist.last_save_secs > secs
            && (srv.persist.last_bgsave_ok || now - srv.persist.last_bgsave_try_secs > 5)
        {
            log_notice!("{changes} changes in {secs} seconds. Saving...");
            let _ = start_bgsave(srv);
            return;
        }
    }
}

/// Aborts a running background save (shutdown), discarding its file.
pub fn abort_bgsave(srv: &mut Server) {
    if let Some(run) = srv.persist.bgsave.take() {
        log_warning!("There is a background save in progress. Aborting it!");
        run.abort.store(true, Ordering::SeqCst);
        Snapshot::abort(&mut srv.dbs);
    }
}

/// Stops the running background save because its file is of no use
/// (`why`), as Redis kills its RDB child: not a failed save, so
/// `rdb_last_bgsave_status` stays as it was.
pub fn kill_bgsave(srv: &mut Server, why: &str) {
    if let Some(run) = srv.persist.bgsave.take() {
        log_notice!("Background saving stopped: {why}");
        run.abort.store(true, Ordering::SeqCst);
        Snapshot::abort(&mut srv.dbs);
    }
}

/// The save that precedes an orderly exit (SHUTDOWN, SIGTERM, SIGINT):
/// a running background save is abandoned, then the dataset is saved when
/// asked (`SAVE`) or when save points exist, unless `NOSAVE`. With
/// `force`, a failed save does not prevent the exit.
pub fn shutdown_save(
    srv: &mut Server,
    save: bool,
    nosave: bool,
    force: bool,
) -> Result<(), String> {
    abort_bgsave(srv);
    let wanted = !nosave && (save || !save_points(srv).is_empty());
    if !wanted {
        return Ok(());
    }
    log_notice!("Saving the final RDB snapshot before exiting.");
    match save_sync(srv) {
        Ok(()) => Ok(()),
        Err(_) if force => {
            log_warning!("Error trying to save the DB. Exit anyway.");
            Ok(())
        }
        Err(e) => {
            log_warning!("Error trying to save the DB, can't exit.");
            Err(e)
        }
    }
}

/// The long-lived task that drives background saves.
pub async fn persistence_task(srv: Rc<RefCell<Server>>) {
    let notify = srv.borrow().persist.notify.clone();
    loop {
        let pipeline = srv
            .borrow_mut()
            .persist
            .bgsave
            .as_mut()
            .and_then(|r| r.pipeline.take());
        if let Some(p) = pipeline {
            drive_bgsave(&srv, p).await;
            continue;
        }
        // An AOF rewrite is driven the same way (see `aof::rewrite`).
        let rewrite = srv.borrow_mut().aof.take_pipeline();
        match rewrite {
            Some(p) => super::aof::rewrite::drive(&srv, p).await,
            None => notify.notified().await,
        }
    }
}

/// Entries per batch handed to the serialiser thread.
const BATCH_ENTRIES: usize = 1000;

async fn drive_bgsave(srv: &Rc<RefCell<Server>>, p: Pipeline) {
    // The save whose pipeline this is, known by its abort flag: once it is
    // aborted (FLUSHALL, shutdown) another may start before this task
    // notices, and nothing here may touch that one.
    let Some(id) = srv
        .borrow()
        .persist
        .bgsave
        .as_ref()
        .map(|r| r.abort.clone())
    else {
        return;
    };
    let running = |_: &Server| !id.load(Ordering::SeqCst);
    let peak = |s: &mut Server, pending: u64, (processed, early): (u64, u64)| {
        if let Some(run) = this_save(s, &id) {
            run.progress.update(pending, processed, early);
        }
    };
    let Some(result) = drive_pipeline(srv, p, running, peak).await else {
        return;
    };
    let mut s = srv.borrow_mut();
    if this_save(&mut s, &id).is_none() {
        return;
    }
    let Some(run) = s.persist.bgsave.take() else {
        return;
    };
    s.persist.last_bgsave_time_sec = run.started.elapsed().as_secs() as i64;
    s.persist.last_cow_size = run.progress.early_bytes;
    match result {
        Ok(()) => {
            log_notice!("Background saving terminated with success");
            s.dirty = s.dirty.saturating_sub(run.dirty_at_start);
            s.persist.last_save_secs = run.started_secs;
            s.persist.saves += 1;
            s.persist.last_bgsave_ok = true;
        }
        Err(e) => {
            Snapshot::abort(&mut s.dbs);
            log_warning!("Background saving error: {e}");
            s.persist.last_bgsave_ok = false;
        }
    }
    // Replicas syncing through the file get it now.
    let ok = s.persist.last_bgsave_ok;
    crate::replication::disk_sync::bgsave_done(&mut s, ok);
}

/// The running save if it is the one `id` (its abort flag) names.
fn this_save<'s>(srv: &'s mut Server, id: &Arc<AtomicBool>) -> Option<&'s mut RunningSave> {
    srv.persist
        .bgsave
        .as_mut()
        .filter(|r| Arc::ptr_eq(&r.abort, id))
}

/// Drives a snapshot pipeline to its end: walks the keyspace in slices
/// between commands and hands the copies to the serializer thread.
/// `running` says whether the job is still wanted (None is returned as
/// soon as it is not); `peak` records the extra memory held.
pub async fn drive_pipeline(
    srv: &Rc<RefCell<Server>>,
    p: Pipeline,
    running: impl Fn(&Server) -> bool,
    peak: impl Fn(&mut Server, u64, (u64, u64)),
) -> Option<Result<(), String>> {
    let Pipeline {
        snap,
        tx,
        done,
        in_flight,
    } = p;
    let mut failed: Option<String> = None;
    let mut pace =
        super::pace::SavePace::new(srv.borrow().config.get_int(Directive::RdbKeySaveDelay));
    loop {
        let budget = pace.budget(STEP_ENTRIES);
        if budget == 0 {
            tokio::time::sleep(pace.wait()).await;
            continue;
        }
        let (chunks, finished) = {
            let mut s = srv.borrow_mut();
            // Aborted (shutdown): the serialiser sees the flag.
            if !running(&s) {
                return None;
            }
            let finished = Snapshot::step(&mut s.dbs, budget);
            // Extra memory: copies not yet handed over plus those in flight.
            let pending = (snap.pending() + in_flight.load(Ordering::SeqCst)) as u64;
            peak(&mut s, pending, snap.handed());
            if let Some(e) = snap.error() {
                failed = Some(e);
            }
            let full = snap.ready(BATCH_ENTRIES);
            let mut chunks = Vec::new();
            if full || finished {
                let (records, batch, bytes) = snap.take();
                if let Some(r) = records {
                    chunks.push(Chunk::Records(r));
                }
                if !batch.is_empty() {
                    in_flight.fetch_add(bytes, Ordering::SeqCst);
                    chunks.push(Chunk::Entries(batch, bytes));
                }
            }
            if finished {
                chunks.push(Chunk::End);
            }
            (chunks, finished)
        };
        // Waits while the serialiser is behind: the walk slows down rather
        // than copying the dataset faster than it is written.
        for c in chunks {
            if tx.send(c).await.is_err() {
                failed.get_or_insert_with(|| "the RDB serializer stopped".into());
                break;
            }
        }
        if finished || failed.is_some() {
            break;
        }
        tokio::task::yield_now().await;
    }
    drop(tx);
    let result = match done.await {
        Ok(r) => r,
        Err(_) => Err("the RDB writer thread died".into()),
    };
    Some(match failed {
        Some(e) => Err(e),
        None => result.map(|_| ()),
    })
}
