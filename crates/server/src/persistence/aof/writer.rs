//! The AOF writer thread: it owns the current incremental file, writes
//! what the executor hands over, and fsyncs as `appendfsync` says —
//! after each batch with `always` (taking every batch already queued
//! into the same fsync: the group commit), once a second with
//! `everysec`, never with `no`. It publishes the offset made durable,
//! which `appendfsync always` replies wait for. Messages are handled in
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
    /// Bytes in the current incremental file.
    pub incr_size: AtomicU64,
    pub policy: AtomicU8,
    /// `no-appendfsync-on-rewrite` while a rewrite or save runs.
    pub skip_fsync: AtomicBool,
    pub write_ok: AtomicBool,
    /// An fsync is due (everysec), for `aof_pending_bio_fsync`.
    pub fsync_pending: AtomicBool,
}

/// The writer thread's handle.
pub struct Writer {
    pub tx: std::sync::mpsc::Sender<Msg>,
    pub shared: Arc<WriterShared>,
    pub thread: Option<std::thread::JoinHandle<()>>,
}

fn fsync(f: &File) -> std::io::Result<()> {
    f.sync_data()
}

pub fn writer_thread(
    rx: std::sync::mpsc::Receiver<Msg>,
    shared: Arc<WriterShared>,
    mut file: File,
) {
    let mut dirty = false;
    let mut last_fsync = Instant::now();
    let fail = |what: &str, e: std::io::Error, shared: &WriterShared| {
        log_warning!("Error {what} the AOF file: {e}");
        shared.write_ok.store(false, Ordering::SeqCst);
        // As Redis: under `always` an acknowledged write must be on disk;
        // when that cannot be promised, stop rather than lie.
        if shared.policy.load(Ordering::SeqCst) == FSYNC_ALWAYS {
            log_warning!("Can't recover from AOF write error when the AOF fsync policy is 'always'. Exiting...");
            std::process::exit(1);
        }
    };
    // A message taken while coalescing, handled next.
    let mut next: Option<Msg> = None;
    loop {
        let policy = shared.policy.load(Ordering::SeqCst);
        let msg = match next.take() {
            Some(m) => Some(m),
            None => {
                let wait = if dirty && policy == FSYNC_EVERYSEC {
                    Duration::from_secs(1).saturating_sub(last_fsync.elapsed())
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
            Some(Msg::Data(bytes, mut upto)) => {
                let mut r = file.write_all(&bytes);
                // Group commit: whatever else is already queued goes out
                // with the same fsync.
                while r.is_ok() {
                    match rx.try_recv() {
                        Ok(Msg::Data(more, to)) => {
                            r = file.write_all(&more);
                            shared
                                .incr_size
                                .fetch_add(more.len() as u64, Ordering::SeqCst);
                            upto = to;
                        }
                        Ok(other) => {
                            next = Some(other);
                            break;
                        }
                        Err(_) => break,
                    }
                }
                match r {
                    Ok(()) => {
                        shared
                            .incr_size
                            .fetch_add(bytes.len() as u64, Ordering::SeqCst);
                        shared.write_ok.store(true, Ordering::SeqCst);
                        dirty = true;
                    }
                    Err(e) => fail("writing to", e, &shared),
                }
                if policy == FSYNC_ALWAYS && !skip {
                    if let Err(e) = fsync(&file) {
                        fail("fsyncing", e, &shared);
                    }
                    dirty = false;
                    last_fsync = Instant::now();
                }
                shared.synced.send_replace(upto);
            }
            Some(Msg::Switch(f, len, job)) => {
                if dirty {
                    let _ = fsync(&file);
                    dirty = false;
                }
                if let Some(job) = job {
                    if let Err(e) = job.run() {
                        log_warning!("Can't persist the AOF manifest file {}: {e}", job.name);
                    }
                }
                file = f;
                shared.incr_size.store(len, Ordering::SeqCst);
            }
            Some(Msg::Sync(ack)) => {
                let _ = fsync(&file);
                dirty = false;
                let _ = ack.send(());
            }
            Some(Msg::Stop(ack)) => {
                let _ = fsync(&file);
                let _ = ack.send(());
                return;
            }
            None => {}
        }
        if dirty && policy == FSYNC_EVERYSEC && last_fsync.elapsed() >= Duration::from_secs(1) {
            shared.fsync_pending.store(true, Ordering::SeqCst);
            if !skip {
                if let Err(e) = fsync(&file) {
                    fail("fsyncing", e, &shared);
                }
                dirty = false;
            }
            last_fsync = Instant::now();
            shared.fsync_pending.store(false, Ordering::SeqCst);
        }
    }
    let _ = fsync(&file);
}
