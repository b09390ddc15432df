//! The append-only file, in Redis 7.0's multi-part layout.
//!
//! ```text
//!  executor thread                                    AOF writer thread
//!  ───────────────                                    ─────────────────
//!  journal ──▶ AofSink: SELECT when the db changes,
//!              #TS annotations, the command, into
//!              AofFeed.buf
//!  flush task (once per event-loop turn) ──Data──▶ write(2) to the incr file
//!                                                   fsync: always → each batch,
//!                                                          everysec → once a second
//!  connections hold replies ◀──watch── offset written (fsynced with always)
//! ```
//!
//! The journal is the AOF's only source ([`AofSink`]). Effects collect in
//! a buffer during an event-loop turn; the flush task hands the whole turn
//! to the writer thread in one message, which writes it with one
//! `write` and, with `appendfsync always`, one `fsync` — a group commit
//! (batches queued meanwhile join the same write and fsync). Connections
//! hold their replies until the writer's published offset passes the
//! stream offset of what they ran (see [`AofState::reply_barrier`]): with
//! `always` a client never hears "OK" for a write a crash could lose;
//! with `everysec`/`no` it never hears it before the bytes reached the
//! kernel, so, as with Redis, a process crash loses nothing and a power
//! loss at most about a second. The executor keeps serving the next
//! batch meanwhile. `everysec` fsyncs once a second on the writer thread,
//! off the executor, as Redis's bio thread does.
//!
//! Files: [`manifest`] (the list of files), [`writer`] (the writer
//! thread), [`parser`] (reading commands back, shared with `check-aof`),
//! [`load`] (start-up), [`rewrite`] (`BGREWRITEAOF` on the fork-less
//! snapshot). This file holds the feed, the state and the switches
//! (start-up, `appendonly` on/off, cron, shutdown, INFO, BGREWRITEAOF).

pub mod load;
pub mod manifest;
pub mod parser;
pub mod rewrite;
pub mod writer;

use crate::cmd::{Ctx, Handler};
use crate::config::Directive;
use crate::journal::JournalSink;
use crate::server::Server;
use crate::{log_notice, log_warning};
use manifest::Manifest;
use std::cell::RefCell;
use std::fs::File;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::Notify;
use writer::{ManifestJob, Msg, Writer, WriterShared, FSYNC_ALWAYS, FSYNC_EVERYSEC, FSYNC_NO};

pub const COMMANDS: &[(&str, Handler)] = &[("bgrewriteaof", bgrewriteaof)];

/// What the journal sink shares with the server: the effects of the
/// current event-loop turn, in AOF form.
pub struct AofFeed {
    /// Effects are recorded (AOF on, or a rewrite turning it on).
    pub on: bool,
    pub buf: Vec<u8>,
    /// The database the AOF last selected (None: emit SELECT next).
    seldb: Option<usize>,
    timestamps: bool,
    last_ts: i64,
    /// Bytes ever recorded: the stream offset replies wait for.
    pub appended: u64,
    /// Wakes the flush task when the buffer gets its first bytes.
    wake: Rc<Notify>,
}

impl AofFeed {
    fn append(&mut self, db: usize, command: &[u8]) {
        if !self.on {
            return;
        }
        let start = self.buf.len();
        // `#TS:<unix secs>` before the first command of each second, as
        // Redis writes with aof-timestamp-enabled.
        if self.timestamps {
            let now = crate::util::time::unix_ms() / 1000;
            if now > self.last_ts {
                self.last_ts = now;
                self.buf
                    .extend_from_slice(format!("#TS:{now}\r\n").as_bytes());
            }
        }
        // The AOF has its own selected database, like a replica stream.
        if self.seldb != Some(db) {
            resp::encode_select(&mut self.buf, db);
            self.seldb = Some(db);
        }
        self.buf.extend_from_slice(command);
        self.appended += (self.buf.len() - start) as u64;
        if start == 0 {
            self.wake.notify_one();
        }
    }
}

/// The journal's handle on the AOF feed.
pub struct AofSink(pub Rc<RefCell<AofFeed>>);

impl JournalSink for AofSink {
    fn append(&mut self, db: usize, command: &[u8]) {
        self.0.borrow_mut().append(db, command);
    }

    /// Only while the AOF records (on, or a rewrite turning it on): with
    /// no replica and no AOF the journal need not encode anything.
    fn target(&self) -> u8 {
        crate::journal::target::AOF
    }

    fn active(&self) -> bool {
        self.0.borrow().on
    }
}

/// A rewrite in progress.
pub struct Rewrite {
    pub started: Instant,
    pub started_secs: i64,
    pub abort: Arc<AtomicBool>,
    pub progress: crate::persistence::snapshot::SaveProgress,
    pub pipeline: Option<super::save::Pipeline>,
    /// Where the new base is written (`temp-rewriteaof-bg-<pid>.aof` in
    /// `dir`), to be renamed into `appenddirname` once complete.
    pub temp: PathBuf,
    /// The base is an RDB (`aof-use-rdb-preamble` when it started).
    pub rdb: bool,
    /// The snapshot is complete and its files are being put in place on
    /// this thread (see [`rewrite::abort`]).
    pub installing: Option<std::thread::JoinHandle<Result<rewrite::Installed, String>>>,
}

/// AOF state owned by the server.
pub struct AofState {
    pub feed: Rc<RefCell<AofFeed>>,
    pub writer: Option<Writer>,
    pub manifest: Manifest,
    /// AOF on (`appendonly yes` and open), as opposed to configured.
    pub enabled: bool,
    /// Start-up is over: `appendonly` changes now switch the AOF.
    pub ready: bool,
    /// Turning on at run time: waiting for the first rewrite.
    pub wait_rewrite: bool,
    pub rewrite: Option<Rewrite>,
    pub rewrite_scheduled: bool,
    pub rewrites: u64,
    pub consecutive_failures: u64,
    pub last_rewrite_ok: bool,
    pub last_rewrite_time_sec: i64,
    pub last_cow_size: u64,
    /// Size of the base file, and of the incremental files before the
    /// current one when the writer starts (it keeps the count from then).
    pub base_size: u64,
    pub earlier_incr_size: u64,
    /// `aof_current_size` after the last rewrite or load: auto rewrite
    /// measures growth from here (`aof_base_size` in INFO).
    pub rewrite_base_size: u64,
    /// `aof-disable-auto-gc` as last applied (turning it off deletes the
    /// history kept meanwhile).
    pub auto_gc_disabled: bool,
    /// The hold on automatic rewrites after repeated failures: its
    /// length in minutes and when it ends (Unix seconds, 0: none).
    pub limit_delay_minutes: i64,
    pub limit_next_time: i64,
    /// `DEBUG AOF-FLUSH-SLEEP`: the writer sleeps this long (µs) before
    /// each write, as Redis sleeps before writing its AOF buffer.
    pub flush_sleep_us: Arc<AtomicU64>,
    /// Receives the durable offset (see [`WriterShared::synced`]).
    synced_rx: tokio::sync::watch::Receiver<u64>,
    synced_tx: Arc<tokio::sync::watch::Sender<u64>>,
}

impl Default for AofState {
    fn default() -> Self {
        let (tx, rx) = tokio::sync::watch::channel(0u64);
        AofState {
            feed: Rc::new(RefCell::new(AofFeed {
                on: false,
                buf: Vec::new(),
                seldb: None,
                timestamps: false,
                last_ts: 0,
                appended: 0,
                wake: Rc::new(Notify::new()),
            })),
            writer: None,
            manifest: Manifest::default(),
            enabled: false,
            ready: false,
            wait_rewrite: false,
            rewrite: None,
            rewrite_scheduled: false,
            rewrites: 0,
            consecutive_failures: 0,
            last_rewrite_ok: true,
            last_rewrite_time_sec: -1,
            last_cow_size: 0,
            base_size: 0,
            earlier_incr_size: 0,
            rewrite_base_size: 0,
            auto_gc_disabled: false,
            limit_delay_minutes: 0,
            limit_next_time: 0,
            flush_sleep_us: Arc::new(AtomicU64::new(0)),
            synced_rx: rx,
            synced_tx: Arc::new(tx),
        }
    }
}

impl AofState {
    /// The journal sink feeding the AOF.
    pub fn sink(&self) -> Box<dyn JournalSink> {
        Box::new(AofSink(self.feed.clone()))
    }

    pub fn rewrite_running(&self) -> bool {
        self.rewrite.is_some()
    }

    /// Hands a freshly started rewrite's pipeline to the persistence task.
    pub fn take_pipeline(&mut self) -> Option<super::save::Pipeline> {
        self.rewrite.as_mut().and_then(|r| r.pipeline.take())
    }

    /// The writer's offset watch and the offset a reply must wait for,
    /// when effects recorded so far are not yet written (fsynced too
    /// under `always`). A connection holds its output until then — every
    /// reply, not only writers', since a read may show another client's
    /// write. Redis gets the same order by writing the AOF before replies
    /// in each event-loop turn.
    pub fn reply_barrier(&self) -> Option<(tokio::sync::watch::Receiver<u64>, u64)> {
        self.writer.as_ref()?;
        let need = self.feed.borrow().appended;
        if *self.synced_rx.borrow() >= need {
            return None;
        }
        Some((self.synced_rx.clone(), need))
    }

    /// `aof_current_size`.
    pub fn current_size(&self) -> u64 {
        let incrs = self.writer.as_ref().map_or(self.earlier_incr_size, |w| {
            w.shared.earlier_size.load(Ordering::Relaxed)
                + w.shared.incr_size.load(Ordering::Relaxed)
        });
        self.base_size + incrs
    }

    /// Hands the buffered effects to the writer thread.
    pub fn flush(&mut self) {
        let mut f = self.feed.borrow_mut();
        if f.buf.is_empty() {
            return;
        }
        let data = std::mem::take(&mut f.buf);
        let upto = f.appended;
        drop(f);
        if let Some(w) = &self.writer {
            let _ = w.tx.send(Msg::Data(data, upto));
        }
    }

    /// Flushes and waits until everything recorded is written and
    /// fsynced (shutdown, `appendonly no`).
    pub fn sync_all(&mut self) {
        self.flush();
        if let Some(w) = &self.writer {
            let (tx, rx) = std::sync::mpsc::channel();
            if w.tx.send(Msg::Sync(tx)).is_ok() {
                let _ = rx.recv();
            }
        }
    }

    /// Starts the writer thread on `file` (already holding `len` bytes).
    fn start_writer(&mut self, file: File, len: u64, policy: u8) -> Result<(), String> {
        let (tx, rx) = std::sync::mpsc::channel();
        // The durable offset starts at what is recorded now.
        let appended = self.feed.borrow().appended;
        self.synced_tx.send_replace(appended);
        let shared = Arc::new(WriterShared {
            // The server's own watch, so receivers handed out earlier
            // stay valid across writer restarts.
            synced: self.synced_tx.clone(),
            incr_size: AtomicU64::new(len),
            earlier_size: AtomicU64::new(self.earlier_incr_size),
            policy: AtomicU8::new(policy),
            skip_fsync: AtomicBool::new(false),
            write_ok: AtomicBool::new(true),
            last_error: std::sync::Mutex::new(String::new()),
            fsync_pending: AtomicBool::new(false),
            delayed_fsync: AtomicU64::new(0),
            flush_sleep_us: self.flush_sleep_us.clone(),
        });
        let thread_shared = shared.clone();
        let thread = std::thread::Builder::new()
            .name("aof-writer".into())
            .spawn(move || {
                crate::os::background_thread_started(crate::os::ThreadKind::Bio);
                writer::writer_thread(rx, thread_shared, file)
            })
            .map_err(|e| e.to_string())?;
        self.writer = Some(Writer {
            tx,
            shared,
            thread: Some(thread),
        });
        Ok(())
    }

    /// Stops the writer thread after writing and fsyncing everything.
    fn stop_writer(&mut self) {
        self.flush();
        if let Some(mut w) = self.writer.take() {
            let (tx, rx) = std::sync::mpsc::channel();
            if w.tx.send(Msg::Stop(tx)).is_ok() {
                let _ = rx.recv();
            }
            if let Some(t) = w.thread.take() {
                let _ = t.join();
            }
        }
    }
}

/// `appenddirname`, relative to the working directory (`dir`).
pub fn dir(srv: &Server) -> PathBuf {
    PathBuf::from(srv.config.get_str(Directive::Appenddirname))
}

/// `appendfilename`: the prefix of every file name and of the manifest.
pub fn filename(srv: &Server) -> String {
    srv.config.get_str(Directive::Appendfilename)
}

pub fn manifest_name(srv: &Server) -> String {
    format!("{}.manifest", filename(srv))
}

fn policy(srv: &Server) -> u8 {
    match srv.config.get_str(Directive::Appendfsync).as_str() {
        "always" => FSYNC_ALWAYS,
        "no" => FSYNC_NO,
        _ => FSYNC_EVERYSEC,
    }
}

/// Writes the manifest atomically; logs and returns the error, as Redis
/// words it.
pub fn persist_manifest(srv: &Server) -> Result<(), String> {
    manifest::persist(&dir(srv), &manifest_name(srv), &srv.aof.manifest).map_err(|e| {
        let msg = format!(
            "Can't persist the AOF manifest file {}: {e}",
            manifest_name(srv)
        );
        log_warning!("{msg}");
        msg
    })
}

/// Opens an incremental file for appending; returns it and its current
/// length. A `fresh` file starts empty: a file of that name left by a run
/// that crashed before listing it holds nothing that belongs here.
fn open_incr(srv: &Server, name: &str, fresh: bool) -> Result<(File, u64), String> {
    let path = dir(srv).join(name);
    let open = || {
        let mut o = std::fs::OpenOptions::new();
        o.create(true);
        if fresh {
            o.write(true).truncate(true);
        } else {
            o.append(true);
        }
        o.open(&path)
    };
    let f = open().map_err(|e| {
        let msg = format!("Can't open the append-only file {name}: {}", strerror(&e));
        log_warning!("{msg}");
        msg
    })?;
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    Ok((f, len))
}

fn create_dir(srv: &Server) -> Result<(), String> {
    let d = dir(srv);
    std::fs::create_dir_all(&d).map_err(|e| {
        let msg = format!(
            "Can't open or create append-only dir {}: {}",
            d.display(),
            strerror(&e)
        );
        log_warning!("{msg}");
        msg
    })
}

/// `strerror` wording of an I/O error (no " (os error N)").
pub(crate) fn strerror(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.rfind(" (os error") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

/// Called once the dataset is loaded at start-up with `appendonly yes`:
/// continues the loaded AOF (its last incremental file, or a new one),
/// or first creates a base from the dataset when the manifest lists
/// nothing, as Redis logs them. `base_size` is the loaded base's size,
/// where automatic rewrites measure growth from (as Redis after a
/// restart).
pub fn open_at_startup(srv: &mut Server, base_size: u64) -> Result<(), load::Failed> {
    create_dir(srv).map_err(|_| load::Failed)?;
    let name = filename(srv);
    let mut m = std::mem::take(&mut srv.aof.manifest);
    let mut dirty_manifest = false;
    if m.base.is_none() && m.incrs.is_empty() {
        let rdb = srv.config.get_bool(Directive::AofUseRdbPreamble);
        let base = m.new_base(&name, rdb);
        let size = rewrite::write_base_sync(srv, &dir(srv).join(&base), rdb).map_err(|e| {
            log_warning!("{e}");
            load::Failed
        })?;
        log_notice!("Creating AOF base file {base} on server start");
        srv.aof.base_size = size;
        dirty_manifest = true;
    } else {
        srv.aof.base_size = m
            .base
            .as_ref()
            .and_then(|b| std::fs::metadata(dir(srv).join(&b.name)).ok())
            .map_or(0, |md| md.len());
    }
    let fresh = m.incrs.is_empty();
    let incr = m.last_or_new_incr(&name);
    dirty_manifest |= fresh;
    srv.aof.earlier_incr_size = m.incrs[..m.incrs.len().saturating_sub(1)]
        .iter()
        .filter_map(|f| std::fs::metadata(dir(srv).join(&f.name)).ok())
        .map(|md| md.len())
        .sum();
    srv.aof.manifest = m;
    let (file, len) = open_incr(srv, &incr, fresh).map_err(|_| load::Failed)?;
    if dirty_manifest {
        persist_manifest(srv).map_err(|_| load::Failed)?;
    }
    if fresh {
        log_notice!("Creating AOF incr file {incr} on server start");
    } else {
        log_notice!("Opening AOF incr file {incr} on server start");
    }
    let p = policy(srv);
    srv.aof.start_writer(file, len, p).map_err(|e| {
        log_warning!("Can't start the AOF writer thread: {e}");
        load::Failed
    })?;
    {
        let mut f = srv.aof.feed.borrow_mut();
        f.on = true;
        f.seldb = None;
    }
    srv.aof.enabled = true;
    srv.aof.rewrite_base_size = if base_size > 0 {
        base_size
    } else {
        srv.aof.current_size()
    };
    Ok(())
}

/// `CONFIG SET appendonly yes` at run time: the AOF starts with a rewrite
/// (its first base is the dataset as it is now), as in Redis. Until that
/// rewrite succeeds, effects collect in a temporary incremental file.
pub fn start_append_only(srv: &mut Server) -> Result<(), String> {
    srv.aof.wait_rewrite = true;
    if crate::replication::fullsync::walk_busy(srv) && !srv.aof.rewrite_running() {
        log_warning!("AOF was enabled but there is already another background operation. An AOF background was scheduled to start when possible.");
        srv.aof.rewrite_scheduled = true;
    } else if srv.journal.has_pending() {
        // Inside EXEC: effects before this point would be both in the
        // base and in the stream that follows it.
        log_warning!("AOF was enabled during a transaction. An AOF background was scheduled to start when possible.");
        srv.aof.rewrite_scheduled = true;
    } else {
        // A rewrite started with the AOF off records nothing meanwhile:
        // it cannot be the AOF's first base.
        if srv.aof.rewrite_running() {
            log_warning!("AOF was enabled but there is already an AOF rewriting in background. Stopping background AOF and starting a rewrite now.");
            kill_rewrite(srv);
        }
        if let Err(e) = rewrite::start(srv) {
            srv.aof.wait_rewrite = false;
            log_warning!("Redis needs to enable the AOF but can't trigger a background AOF rewrite operation. Check the above logs for more info about the error.");
            return Err(e);
        }
    }
    Ok(())
}

/// Abandons a running rewrite, as Redis kills its rewrite child (with
/// the signal that does not count as a failure).
fn kill_rewrite(srv: &mut Server) {
    if srv.aof.rewrite.is_some() {
        log_notice!("Killing running AOF rewrite child: {}", std::process::id());
        rewrite::abort(srv);
    }
}

/// `CONFIG SET appendonly no`: writes and fsyncs what is buffered and
/// closes the file; a running rewrite is abandoned.
pub fn stop_append_only(srv: &mut Server) {
    if srv.aof.writer.is_some() {
        log_notice!("Calling fsync() on the AOF file.");
    }
    srv.aof.stop_writer();
    {
        let mut f = srv.aof.feed.borrow_mut();
        f.on = false;
        f.buf.clear();
        f.seldb = None;
    }
    // Off before the rewrite is stopped: one that was already installing
    // its files finishes without turning the AOF back on.
    srv.aof.enabled = false;
    srv.aof.rewrite_scheduled = false;
    let was_waiting = std::mem::take(&mut srv.aof.wait_rewrite);
    kill_rewrite(srv);
    if was_waiting {
        // Nothing is recording into the temporary incremental file now.
        let _ = std::fs::remove_file(dir(srv).join(manifest::temp_incr_name(&filename(srv))));
    }
}

/// After a replica loaded its master's snapshot, the AOF describes a
/// dataset that is gone: as Redis does, it is closed and started again
/// with a rewrite of the new dataset.
pub fn after_full_sync(srv: &mut Server) {
    if !srv.aof.enabled && !srv.aof.wait_rewrite {
        return;
    }
    stop_append_only(srv);
    let _ = start_append_only(srv);
}

/// Copies the AOF settings into place after start-up and every
/// `CONFIG SET`, switching the AOF on or off when `appendonly` changed.
pub fn apply_config(srv: &mut Server) {
    srv.aof.feed.borrow_mut().timestamps = srv.config.get_bool(Directive::AofTimestampEnabled);
    let p = policy(srv);
    if let Some(w) = &srv.aof.writer {
        w.shared.policy.store(p, Ordering::SeqCst);
    }
    let gc_off = srv.config.get_bool(Directive::AofDisableAutoGc);
    let gc_turned_on = std::mem::replace(&mut srv.aof.auto_gc_disabled, gc_off) && !gc_off;
    if !srv.aof.ready {
        return;
    }
    // History kept while auto gc was off goes as soon as it is back on.
    if gc_turned_on {
        load::delete_history(srv);
    }
    let want = srv.config.get_bool(Directive::Appendonly);
    let have = srv.aof.enabled || srv.aof.wait_rewrite;
    if want && !have {
        let _ = start_append_only(srv);
    } else if !want && have {
        stop_append_only(srv);
    }
}

/// Failed rewrites in a row after which automatic and scheduled rewrites
/// are held back, and the longest hold.
const REWRITE_LIMIT_FAILURES: u64 = 3;
const REWRITE_LIMIT_MAX_MINUTES: i64 = 60;

/// Whether automatic (and scheduled) rewrites are held back after
/// repeated failures, as Redis limits them: each rewrite that failed
/// left an incremental file behind, so after three failures in a row the
/// next attempt waits 1 minute, then 2, 4, ... up to an hour.
/// `BGREWRITEAOF` is never held back.
fn rewrite_limited(srv: &mut Server) -> bool {
    let now = srv.now_ms / 1000;
    let a = &mut srv.aof;
    if a.consecutive_failures < REWRITE_LIMIT_FAILURES {
        a.limit_delay_minutes = 0;
        a.limit_next_time = 0;
        return false;
    }
    if a.limit_next_time != 0 {
        if now < a.limit_next_time {
            return true;
        }
        a.limit_next_time = 0;
        return false;
    }
    a.limit_delay_minutes = match a.limit_delay_minutes {
        0 => 1,
        m => (m * 2).min(REWRITE_LIMIT_MAX_MINUTES),
    };
    a.limit_next_time = now + a.limit_delay_minutes * 60;
    log_warning!(
        "Background AOF rewrite has repeatedly failed and triggered the limit, will retry in {} minutes",
        a.limit_delay_minutes
    );
    true
}

/// Called from the server cron: the scheduled rewrite, the automatic one
/// (`auto-aof-rewrite-percentage` growth over `auto-aof-rewrite-min-size`),
/// and `no-appendfsync-on-rewrite`.
pub fn cron(srv: &mut Server) {
    let busy = crate::replication::fullsync::walk_busy(srv);
    if let Some(w) = &srv.aof.writer {
        let skip = busy && srv.config.get_bool(Directive::NoAppendfsyncOnRewrite);
        w.shared.skip_fsync.store(skip, Ordering::SeqCst);
    }
    if busy || srv.persist.loading.is_some() {
        return;
    }
    if srv.aof.rewrite_scheduled {
        if !rewrite_limited(srv) {
            let _ = rewrite::start(srv);
        }
        return;
    }
    let perc = srv.config.get_int(Directive::AutoAofRewritePercentage);
    let min = srv.config.get_int(Directive::AutoAofRewriteMinSize).max(0) as u64;
    if !srv.aof.enabled || perc <= 0 {
        return;
    }
    let cur = srv.aof.current_size();
    if cur <= min {
        return;
    }
    let base = srv.aof.rewrite_base_size.max(1);
    let growth = (cur * 100 / base) as i64 - 100;
    if growth >= perc && !rewrite_limited(srv) {
        log_notice!("Starting automatic rewriting of AOF on {growth}% growth");
        let _ = rewrite::start(srv);
    }
}

/// At an orderly exit: abandon a running rewrite, write and fsync what is
/// buffered.
pub fn shutdown(srv: &mut Server) {
    if srv.aof.rewrite.is_some() {
        log_warning!("There is a child rewriting the AOF. Killing it!");
        rewrite::abort(srv);
    }
    if srv.aof.writer.is_some() {
        log_notice!("Calling fsync() on the AOF file.");
        srv.aof.stop_writer();
    }
}

/// The MISCONF error that refuses writes while the AOF cannot be written
/// (Redis's rule: data the client believes safe must reach the file).
pub fn write_error(srv: &Server) -> Option<String> {
    let w = srv.aof.writer.as_ref()?;
    if w.shared.write_ok.load(Ordering::Relaxed) {
        return None;
    }
    let why = w
        .shared
        .last_error
        .lock()
        .map(|e| e.clone())
        .unwrap_or_default();
    Some(format!("MISCONF Errors writing to the AOF file: {why}"))
}

/// The task that hands each event-loop turn's effects to the writer.
pub async fn flush_task(srv: Rc<RefCell<Server>>) {
    let wake = srv.borrow().aof.feed.borrow().wake.clone();
    loop {
        wake.notified().await;
        let mut s = srv.borrow_mut();
        let sleep = s.debug.aof_flush_sleep_us;
        s.aof.flush_sleep_us.store(sleep, Ordering::Relaxed);
        s.aof.flush();
    }
}

/// The `aof_*` lines of `INFO persistence`, as Redis 7.0 prints them.
pub fn info(srv: &Server, b: &mut String) {
    use std::fmt::Write as _;
    let a = &srv.aof;
    let on = a.enabled || a.wait_rewrite;
    let (in_progress, current) = match &a.rewrite {
        Some(r) => (1, r.started.elapsed().as_secs() as i64),
        None => (0, -1),
    };
    let write_ok = a
        .writer
        .as_ref()
        .is_none_or(|w| w.shared.write_ok.load(Ordering::Relaxed));
    let _ = write!(
        b,
        "aof_enabled:{}\r\n\
         aof_rewrite_in_progress:{in_progress}\r\n\
         aof_rewrite_scheduled:{}\r\n\
         aof_last_rewrite_time_sec:{}\r\n\
         aof_current_rewrite_time_sec:{current}\r\n\
         aof_last_bgrewrite_status:{}\r\n\
         aof_rewrites:{}\r\n\
         aof_rewrites_consecutive_failures:{}\r\n\
         aof_last_write_status:{}\r\n\
         aof_last_cow_size:{}\r\n\
         module_fork_in_progress:0\r\n\
         module_fork_last_cow_size:0\r\n",
        on as u8,
        a.rewrite_scheduled as u8,
        a.last_rewrite_time_sec,
        if a.last_rewrite_ok { "ok" } else { "err" },
        a.rewrites,
        a.consecutive_failures,
        if write_ok { "ok" } else { "err" },
        a.last_cow_size,
    );
    // Shown whenever `appendonly` is set, loading included, as Redis.
    if srv.config.get_bool(Directive::Appendonly) {
        let pending = a
            .writer
            .as_ref()
            .is_some_and(|w| w.shared.fsync_pending.load(Ordering::Relaxed));
        let delayed = a
            .writer
            .as_ref()
            .map_or(0, |w| w.shared.delayed_fsync.load(Ordering::Relaxed));
        let _ = write!(
            b,
            "aof_current_size:{}\r\n\
             aof_base_size:{}\r\n\
             aof_pending_rewrite:{}\r\n\
             aof_buffer_length:{}\r\n\
             aof_pending_bio_fsync:{}\r\n\
             aof_delayed_fsync:{delayed}\r\n",
            a.current_size(),
            a.rewrite_base_size,
            a.rewrite_scheduled as u8,
            a.feed.borrow().buf.len(),
            pending as u8,
        );
    }
}

/// BGREWRITEAOF
fn bgrewriteaof(ctx: &mut Ctx) {
    if ctx.srv.aof.rewrite_running() {
        return ctx.err(crate::errors::AOF_REWRITE_IN_PROGRESS);
    }
    if crate::replication::fullsync::walk_busy(ctx.srv) || ctx.client.in_exec {
        ctx.srv.aof.rewrite_scheduled = true;
        // Asked for by hand: run as soon as possible, whatever failed
        // before.
        ctx.srv.aof.consecutive_failures = 0;
        return ctx
            .out()
            .simple(b"Background append only file rewriting scheduled");
    }
    match rewrite::start(ctx.srv) {
        Ok(()) => ctx
            .out()
            .simple(b"Background append only file rewriting started"),
        Err(_) => ctx.err(crate::errors::AOF_REWRITE_FAILED),
    }
}
