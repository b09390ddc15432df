//! The fork-less snapshot pipeline.
//!
//! ```text
//!  executor thread                                   background thread
//!  ───────────────                                   ─────────────────
//!  Db::snapshot_step / preserve-before-write
//!        │ entries as they were at the start
//!        ▼
//!  RdbSink (rdb::Writer into a shared buffer)  ──chunks──▶  file (or socket)
//! ```
//!
//! The walk runs in slices between commands ([`Snapshot::step`]); a
//! command that is about to change an entry the walk has not reached yet
//! serialises it first (keyspace::Db does that). Serialisation happens on
//! the executor thread, straight from the live value, so no value is ever
//! copied; the background thread only moves bytes. Memory beyond the
//! dataset is the chunks in flight plus what commands serialised early
//! while the destination was slow.

use super::convert::write_entry;
use crate::log_warning;
use keyspace::{Entry, SharedSink, SnapshotSink};
use rdb::Writer;
use std::cell::RefCell;
use std::io::{self, Write};
use std::rc::Rc;

/// Bytes handed to the destination at a time.
pub const CHUNK: usize = 64 * 1024;

/// A `Write` into a buffer shared with the pipeline driver.
#[derive(Clone, Default)]
pub struct SharedBuf(pub Rc<RefCell<Vec<u8>>>);

impl Write for SharedBuf {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        self.0.borrow_mut().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Writes entries handed over by the keyspace walk as RDB records.
pub struct RdbSink {
    w: Option<Writer<SharedBuf>>,
    cur_db: Option<usize>,
    pub keys: u64,
    pub error: Option<String>,
}

impl SnapshotSink for RdbSink {
    fn entry(&mut self, db: usize, key: &[u8], e: &Entry) {
        if self.error.is_some() {
            return;
        }
        let Some(w) = self.w.as_mut() else {
            return;
        };
        let r = (|| {
            if self.cur_db != Some(db) {
                w.select_db(db as u64)?;
                self.cur_db = Some(db);
            }
            write_entry(w, key, e)
        })();
        match r {
            Ok(()) => self.keys += 1,
            Err(e) => self.error = Some(e.to_string()),
        }
    }
}

/// Auxiliary fields written at the start of every snapshot, as Redis 7.0
/// writes them.
pub struct Aux {
    pub ctime_secs: i64,
    pub used_mem: u64,
    pub repl_id: String,
    pub repl_offset: i64,
    pub aof_base: bool,
    /// The database the replication stream has selected at the snapshot
    /// point: a replica starts applying the stream that follows in it.
    pub repl_stream_db: usize,
}

/// A snapshot in progress: the sink shared with the databases, and the
/// buffer it fills.
pub struct Snapshot {
    pub sink: Rc<RefCell<RdbSink>>,
    pub buf: SharedBuf,
}

impl Snapshot {
    /// Starts a snapshot of `dbs`: writes the header and aux fields and
    /// begins every database's walk.
    pub fn begin(
        dbs: &mut [keyspace::Db],
        aux: &Aux,
        compress: bool,
        checksum: bool,
    ) -> io::Result<Snapshot> {
        let buf = SharedBuf::default();
        let mut w = Writer::new(buf.clone(), compress, checksum)?;
        w.aux(b"redis-ver", crate::REDIS_VERSION.as_bytes())?;
        w.aux(b"redis-bits", b"64")?;
        w.aux(b"ctime", aux.ctime_secs.to_string().as_bytes())?;
        w.aux(b"used-mem", aux.used_mem.to_string().as_bytes())?;
        w.aux(b"repl-stream-db", aux.repl_stream_db.to_string().as_bytes())?;
        w.aux(b"repl-id", aux.repl_id.as_bytes())?;
        w.aux(b"repl-offset", aux.repl_offset.to_string().as_bytes())?;
        w.aux(b"aof-base", if aux.aof_base { b"1" } else { b"0" })?;
        let sink = Rc::new(RefCell::new(RdbSink {
            w: Some(w),
            cur_db: None,
            keys: 0,
            error: None,
        }));
        let shared: SharedSink = sink.clone();
        for (i, db) in dbs.iter_mut().enumerate() {
            db.snapshot_begin(i, shared.clone());
        }
        Ok(Snapshot { sink, buf })
    }

    /// Walks up to `budget` entries across the databases. Returns true
    /// when every database has been written.
    pub fn step(dbs: &mut [keyspace::Db], budget: usize) -> bool {
        let mut done = true;
        let per_db = (budget / dbs.len().max(1)).max(64);
        for db in dbs.iter_mut() {
            if db.snapshot_active() && !db.snapshot_step(per_db) {
                done = false;
            }
        }
        done
    }

    /// Writes the end marker and checksum after the walk completed.
    pub fn finish(&self) -> Result<(), String> {
        let mut s = self.sink.borrow_mut();
        if let Some(e) = s.error.take() {
            return Err(e);
        }
        match s.w.take() {
            Some(w) => w.finish().map(|_| ()).map_err(|e| e.to_string()),
            None => Err("snapshot already finished".into()),
        }
    }

    /// Abandons the walk on every database.
    pub fn abort(dbs: &mut [keyspace::Db]) {
        for db in dbs {
            db.snapshot_abort();
        }
    }

    /// Takes the bytes produced so far.
    pub fn take_bytes(&self) -> Vec<u8> {
        std::mem::take(&mut *self.buf.0.borrow_mut())
    }

    /// Bytes waiting to be handed to the destination.
    pub fn pending(&self) -> usize {
        self.buf.0.borrow().len()
    }
}

/// Writes `chunks` to a temporary file next to `path`, then fsyncs,
/// renames it over `path` and fsyncs the directory, so the file at `path`
/// is always either the old or the new complete snapshot. Runs on a
/// background thread; `abort` discards the temporary file instead.
pub fn file_writer_thread(
    path: std::path::PathBuf,
    mut chunks: tokio::sync::mpsc::Receiver<Vec<u8>>,
    abort: std::sync::Arc<std::sync::atomic::AtomicBool>,
    done: tokio::sync::oneshot::Sender<Result<u64, String>>,
) {
    let tmp = path.with_file_name(format!("temp-{}.rdb", std::process::id()));
    let result = (|| -> Result<u64, String> {
        let f = std::fs::File::create(&tmp).map_err(|e| {
            format!(
                "Failed opening the temp RDB file {} (in server root dir {}) for saving: {e}",
                tmp.display(),
                cwd()
            )
        })?;
        let mut out = io::BufWriter::with_capacity(CHUNK, f);
        let mut n = 0u64;
        while let Some(c) = chunks.blocking_recv() {
            out.write_all(&c)
                .map_err(|e| format!("Write error saving DB on disk: {e}"))?;
            n += c.len() as u64;
        }
        if abort.load(std::sync::atomic::Ordering::SeqCst) {
            return Err("aborted".into());
        }
        let f = out
            .into_inner()
            .map_err(|e| format!("Write error saving DB on disk: {e}"))?;
        f.sync_all()
            .map_err(|e| format!("Write error saving DB on disk: {e}"))?;
        drop(f);
        std::fs::rename(&tmp, &path).map_err(|e| {
            format!("Error moving temp DB file {} on the final destination {} (in server root dir {}): {e}", tmp.display(), path.display(), cwd())
        })?;
        fsync_dir(&path);
        Ok(n)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    let _ = done.send(result);
}

fn cwd() -> String {
    std::env::current_dir()
        .map(|d| d.display().to_string())
        .unwrap_or_default()
}

/// Makes a rename durable: fsync the directory that holds `path`.
pub fn fsync_dir(path: &std::path::Path) {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    match std::fs::File::open(&dir) {
        Ok(d) => {
            if let Err(e) = d.sync_all() {
                log_warning!("Failed to fsync directory {}: {e}", dir.display());
            }
        }
        Err(e) => log_warning!("Failed to open directory {} for fsync: {e}", dir.display()),
    }
}
