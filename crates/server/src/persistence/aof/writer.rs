//! The AOF writer thread: it owns the current incremental file, writes
//! what the executor hands over, and fsyncs as `appendfsync` says —
//! after each batch with `always` (taking every batch already queued
//! into the same fsync: the group commit), once a second with
//! `everysec`, never with `no`. It publishes the offset written (and
//! fsynced under `always`), which replies wait for. Messages are handled in
//! order, so a file switch (and the manifest that names the new file)
//! happens exactly between the bytes before and after a rewrite's start.

use super::manifest::{self, Manifest};
use crate::log_warning;
use std::fs::File;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// `appendfsync` policies, as stored in [`WriterShared::policy`].
pub const FSYNC_NO: u8 = 0;
pub const FSYNC_EVERYSEC: u8 = 1;
pub const FSYNC_ALWAYS: u8 = 2;

/// Messages to the writer thread, handled in order.
pub enum Msg {
    /// Bytes to append, and the stream offset they end at.
    Data(Vec<u8>, u64),
    /// Continue in another file (holding `len` bytes already), once the
    /// manifest that lists it is durable (written here, off the executor:
    /// nothing reaches the new file before the manifest names it).
    Switch(File, u64, Option<ManifestJob>),
    /// Write and fsync everything, then answer.
    Sync(std::sync::mpsc::Sender<()>),
    /// Answer once every message before this one is handled (ordering
    /// only: no fsync, so writers never wait on the disk for it).
    Barrier(std::sync::mpsc::Sender<()>),
    /// Fsync, answer and stop.
    Stop(std::sync::mpsc::Sender<()>),
}

/// A manifest to write atomically: directory, file name, contents.
pub struct ManifestJob {
    pub dir: PathBuf,
    pub name: String,
    pub manifest: Manifest,
}

impl ManifestJob {
    pub fn run(&self) -> std::io::Result<()> {
        manifest::persist(&self.dir, &self.name, &self.manifest)
    }
}

/// State the writer thread publishes.
pub struct WriterShared {
    /// Stream offset whose bytes are durable as the policy asks (fsynced
    /// with `always`, written otherwise): what replies wait for.
    pub synced: Arc<tokio::sync::watch::Sender<u64>>,
    /// Bytes in the current incremental file, and in the incremental
    /// files before it (since the last rewrite).
    pub incr_size: AtomicU64,
    pub earlier_size: AtomicU64,
    pub policy: AtomicU8,
    /// `no-appendfsync-on-rewrite` while a rewrite or save runs.
    pub skip_fsync: AtomicBool,
    pub write_ok: AtomicBool,
    /// Why the last write failed (`strerror` text), for MISCONF.
    pub last_error: std::sync::Mutex<String>,
    /// An fsync is due (everysec), for `aof_pending_bio_fsync`.
    pub fsync_pending: AtomicBool,
    /// Once-a-second fsyncs put off because the previous one was still
    /// running (a slow disk), for `aof_delayed_fsync`.
    pub delayed_fsync: AtomicU64,
    /// `DEBUG AOF-FLUSH-SLEEP` (µs): slept before each write.
    pub flush_sleep_us: Arc<AtomicU64>,
}

/// The writer thread's handle.
pub struct Writer {
    pub tx: std::sync::mpsc::Sender<Msg>,
    pub shared: Arc<WriterShared>,
    pub thread: Option<std::thread::JoinHandle<()>>,
}

/// The writer thread's own state.
struct Out {
    file: File,
    /// Written since the last fsync.
    dirty: bool,
    last_fsync: Instant,
    /// Bytes not yet written (a batch, or what a failed write left), and
    /// the stream offset they end at.
    pending: Vec<u8>,
    upto: u64,
    /// The last write failed; retried once a second.
    failing: bool,
}

/// An OS error as `strerror` words it (no " (os error N)").
fn strerror(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.rfind(" (os error") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

impl Out {
    /// Under `always` an acknowledged write must be on disk: when that
    /// cannot be promised, stop rather than lie (as Redis).
    fn fatal_if_always(shared: &WriterShared) {
        if shared.policy.load(Ordering::SeqCst) == FSYNC_ALWAYS {
            log_warning!("Can't recover from AOF write error when the AOF fsync policy is 'always'. Exiting...");
            std::process::exit(1);
        }
    }

    fn fsync(&mut self, shared: &WriterShared) {
        if !fsync_file(&self.file, shared) {
            Out::fatal_if_always(shared);
        }
        self.dirty = false;
        self.last_fsync = Instant::now();
    }

    /// Writes what is pending; fsyncs under `always`; publishes the
    /// durable offset. A failed write is undone (the file must end on a
    /// whole command) and kept for the next attempt.
    fn flush(&mut self, shared: &WriterShared, skip_fsync: bool) {
        if self.pending.is_empty() {
            return;
        }
        // A debugging aid of Redis's: a slow disk, so that tests can see
        // replies wait for their bytes.
        let sleep = shared.flush_sleep_us.load(Ordering::Relaxed);
        if sleep > 0 {
            std::thread::sleep(Duration::from_micros(sleep));
        }
        let before = shared.incr_size.load(Ordering::SeqCst);
        match self.file.write_all(&self.pending) {
            Ok(()) => {
                shared
                    .incr_size
                    .fetch_add(self.pending.len() as u64, Ordering::SeqCst);
                self.pending.clear();
                self.dirty = true;
                if self.failing {
                    self.failing = false;
                    log_warning!("AOF write error looks solved, Redis can write again.");
                }
                shared.write_ok.store(true, Ordering::SeqCst);
                if shared.policy.load(Ordering::SeqCst) == FSYNC_ALWAYS && !skip_fsync {
                    self.fsync(shared);
                }
                shared.synced.send_replace(self.upto);
            }
            Err(e) => {
                // Part of it may have gone out: Redis calls that a short
                // write and reports it as a full disk.
                let written = self
                    .file
                    .metadata()
                    .map_or(0, |m| m.len().saturating_sub(before));
                let why = if written > 0 {
                    if !self.failing {
                        log_warning!(
                            "Short write while writing to the AOF file: (nwritten={written}, expected={})",
                            self.pending.len()
                        );
                    }
                    strerror(&std::io::Error::from_raw_os_error(libc::ENOSPC))
                } else {
                    if !self.failing {
                        log_warning!("Error writing to the AOF file: {}", strerror(&e));
                    }
                    strerror(&e)
                };
                let _ = self.file.set_len(before);
                self.failing = true;
                *shared.last_error.lock().unwrap_or_else(|p| p.into_inner()) = why;
                shared.write_ok.store(false, Ordering::SeqCst);
                Out::fatal_if_always(shared);
                // Under everysec/no Redis answers anyway and refuses the
                // writes that follow (MISCONF); the bytes stay pending
                // and are retried. Waiting replies are released likewise.
                shared.synced.send_replace(self.upto);
            }
        }
    }
}

/// Fsyncs `f`; a failure is logged and recorded for INFO and MISCONF.
/// Returns whether it succeeded.
fn fsync_file(f: &File, shared: &WriterShared) -> bool {
    match f.sync_data() {
        Ok(()) => true,
        Err(e) => {
            log_warning!("Error syncing the AOF file: {}", strerror(&e));
            *shared.last_error.lock().unwrap_or_else(|p| p.into_inner()) = strerror(&e);
            shared.write_ok.store(false, Ordering::SeqCst);
            false
        }
    }
}

/// Background fsyncs: the once-a-second fsync of `everysec` and the final
/// fsync of a file a rewrite leaves run here, so the writer goes on
/// writing (and replies go on flowing) while the disk flushes, as Redis's
/// bio thread does. A fsync still running when the next second comes is
/// not doubled: that second's fsync is skipped.
struct BgFsync {
    tx: std::sync::mpsc::Sender<File>,
    busy: Arc<AtomicBool>,
}

impl BgFsync {
    fn start(shared: Arc<WriterShared>) -> Option<BgFsync> {
        let (tx, rx) = std::sync::mpsc::channel::<File>();
        let busy = Arc::new(AtomicBool::new(false));
        let flag = busy.clone();
        std::thread::Builder::new()
            .name("aof-fsync".into())
            .spawn(move || {
                crate::os::background_thread_started(crate::os::ThreadKind::Bio);
                for f in rx {
                    shared.fsync_pending.store(true, Ordering::SeqCst);
                    fsync_file(&f, &shared);
                    drop(f);
                    shared.fsync_pending.store(false, Ordering::SeqCst);
                    flag.store(false, Ordering::SeqCst);
                }
            })
            .ok()?;
        Some(BgFsync { tx, busy })
    }

    /// Hands `f` over for a fsync; false when one is still running (or
    /// the thread is gone) and `f` was not taken.
    fn submit(&self, f: File, force: bool) -> bool {
        if !force && self.busy.load(Ordering::SeqCst) {
            return false;
        }
        self.busy.store(true, Ordering::SeqCst);
        self.tx.send(f).is_ok()
    }
}

pub fn writer_thread(rx: std::sync::mpsc::Receiver<Msg>, shared: Arc<WriterShared>, file: File) {
    let bg = BgFsync::start(shared.clone());
    let mut out = Out {
        file,
        dirty: false,
        last_fsync: Instant::now(),
        pending: Vec::new(),
        upto: 0,
        failing: false,
    };
    // A message taken while coalescing, handled next.
    let mut next: Option<Msg> = None;
    loop {
        let policy = shared.policy.load(Ordering::SeqCst);
        let msg = match next.take() {
            Some(m) => Some(m),
            None => {
                let wait = if out.failing {
                    Duration::from_secs(1)
                } else if out.dirty && policy == FSYNC_EVERYSEC {
                    Duration::from_secs(1).saturating_sub(out.last_fsync.elapsed())
                } else {
                    Duration::from_secs(3600)
                };
                match rx.recv_timeout(wait) {
                    Ok(m) => Some(m),
                    Err(std::sync::mpsc::RecvTimeoutError::Timeout) => None,
                    Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
                }
            }
        };
        let skip = shared.skip_fsync.load(Ordering::SeqCst);
        match msg {
            Some(Msg::Data(bytes, upto)) => {
                out.pending.extend_from_slice(&bytes);
                out.upto = upto;
                // Group commit: whatever else is already queued goes out
                // with the same write and fsync.
                loop {
                    match rx.try_recv() {
                        Ok(Msg::Data(more, to)) => {
                            out.pending.extend_from_slice(&more);
                            out.upto = to;
                        }
                        Ok(other) => {
                            next = Some(other);
                            break;
                        }
                        Err(_) => break,
                    }
                }
                out.flush(&shared, skip);
            }
            Some(Msg::Switch(f, len, job)) => {
                out.flush(&shared, skip);
                // Nothing is written to the new file before the manifest
                // below names it: this thread writes, in message order.
                let old = std::mem::replace(&mut out.file, f);
                if out.dirty {
                    // The file left behind is fsynced in the background
                    // (under `always` it is clean already).
                    match &bg {
                        Some(bg) if policy != FSYNC_ALWAYS => {
                            if !bg.submit(old, true) {
                                log_warning!("The AOF fsync thread is gone; the previous incremental file was not fsynced");
                            }
                            out.dirty = false;
                            out.last_fsync = Instant::now();
                        }
                        _ => {
                            if !fsync_file(&old, &shared) {
                                Out::fatal_if_always(&shared);
                            }
                            out.dirty = false;
                        }
                    }
                }
                if let Some(job) = job {
                    if let Err(e) = job.run() {
                        log_warning!("Can't persist the AOF manifest file {}: {e}", job.name);
                    }
                }
                let old = shared.incr_size.swap(len, Ordering::SeqCst);
                shared.earlier_size.fetch_add(old, Ordering::SeqCst);
            }
            Some(Msg::Barrier(ack)) => {
                out.flush(&shared, skip);
                let _ = ack.send(());
            }
            Some(Msg::Sync(ack)) => {
                out.flush(&shared, skip);
                out.fsync(&shared);
                let _ = ack.send(());
            }
            Some(Msg::Stop(ack)) => {
                out.flush(&shared, skip);
                out.fsync(&shared);
                let _ = ack.send(());
                return;
            }
            None => out.flush(&shared, skip),
        }
        if out.dirty
            && policy == FSYNC_EVERYSEC
            && out.last_fsync.elapsed() >= Duration::from_secs(1)
        {
            if skip {
                out.last_fsync = Instant::now();
            } else {
                let handed = match (&bg, out.file.try_clone()) {
                    (Some(bg), Ok(dup)) => bg.submit(dup, false),
                    _ => false,
                };
                let busy = bg.as_ref().is_some_and(|b| b.busy.load(Ordering::SeqCst));
                if !handed && busy {
                    shared.delayed_fsync.fetch_add(1, Ordering::Relaxed);
                }
                if handed || busy {
                    // Done (or still running) in the background.
                    out.dirty = false;
                    out.last_fsync = Instant::now();
                } else {
                    shared.fsync_pending.store(true, Ordering::SeqCst);
                    out.fsync(&shared);
                    shared.fsync_pending.store(false, Ordering::SeqCst);
                }
            }
        }
    }
    out.flush(&shared, false);
    out.fsync(&shared);
}
