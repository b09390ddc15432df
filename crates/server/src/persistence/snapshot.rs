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

/// Writes the auxiliary fields Redis 7.0 puts at the start of a snapshot.
fn write_aux<W: Write>(w: &mut Writer<W>, aux: &Aux) -> io::Result<()> {
    w.aux(b"redis-ver", crate::REDIS_VERSION.as_bytes())?;
    w.aux(b"redis-bits", b"64")?;
    w.aux(b"ctime", aux.ctime_secs.to_string().as_bytes())?;
    w.aux(b"used-mem", aux.used_mem.to_string().as_bytes())?;
    w.aux(b"repl-stream-db", aux.repl_stream_db.to_string().as_bytes())?;
    w.aux(b"repl-id", aux.repl_id.as_bytes())?;
    w.aux(b"repl-offset", aux.repl_offset.to_string().as_bytes())?;
    w.aux(b"aof-base", if aux.aof_base { b"1" } else { b"0" })?;
    Ok(())
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
        write_aux(&mut w, aux)?;
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

/// Entries handed to the background serialiser: `(db, key, entry)` as the
/// entry was when the snapshot began.
pub type Batch = Vec<(usize, Box<[u8]>, Entry)>;

/// A sink that copies entries out for a background thread to serialise
/// (`BGSAVE`): the executor only clones, the expensive part — encoding,
/// LZF compression, the CRC and the disk — runs on another core. Extra
/// memory is the batches in flight, bounded by the channel, plus entries
/// copied early because a command was about to change them.
#[derive(Default)]
pub struct CloneSink {
    pub batch: Batch,
    /// Approximate bytes held by `batch`.
    pub bytes: usize,
}

impl SnapshotSink for CloneSink {
    fn entry(&mut self, db: usize, key: &[u8], e: &Entry) {
        self.bytes += key.len() + e.value.heap_size() + std::mem::size_of::<Entry>() + 32;
        self.batch.push((db, key.into(), e.clone()));
    }
}

/// A background-serialised snapshot in progress.
pub struct BgSnapshot {
    pub sink: Rc<RefCell<CloneSink>>,
}

impl BgSnapshot {
    /// Starts the walk of every database into a [`CloneSink`].
    pub fn begin(dbs: &mut [keyspace::Db]) -> BgSnapshot {
        let sink = Rc::new(RefCell::new(CloneSink::default()));
        let shared: SharedSink = sink.clone();
        for (i, db) in dbs.iter_mut().enumerate() {
            db.snapshot_begin(i, shared.clone());
        }
        BgSnapshot { sink }
    }

    /// Bytes copied and not yet handed over.
    pub fn pending(&self) -> usize {
        self.sink.borrow().bytes
    }

    /// Takes the copied entries, with their approximate size.
    pub fn take_batch(&self) -> (Batch, usize) {
        let mut s = self.sink.borrow_mut();
        let bytes = std::mem::take(&mut s.bytes);
        (std::mem::take(&mut s.batch), bytes)
    }
}

/// Serialises batches as an RDB file: a temporary file next to `path`,
/// then fsync, rename over `path` and fsync of the directory, so `path` is
/// always either the old or the new complete snapshot. Runs on its own
/// thread; `abort` (or an early end of the batches) discards the file.
pub struct SerializerJob {
    pub path: std::path::PathBuf,
    pub aux: Aux,
    pub compress: bool,
    pub checksum: bool,
    /// Bytes of copies sent and not yet written (shared with the driver).
    pub in_flight: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    pub abort: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

pub fn serializer_thread(
    job: SerializerJob,
    mut batches: tokio::sync::mpsc::Receiver<Option<(Batch, usize)>>,
    done: tokio::sync::oneshot::Sender<Result<u64, String>>,
) {
    let SerializerJob {
        path,
        aux,
        compress,
        checksum,
        in_flight,
        abort,
    } = job;
    let tmp = path.with_file_name(format!("temp-{}.rdb", std::process::id()));
    let result = (|| -> Result<u64, String> {
        let err = |e: io::Error| format!("Write error saving DB on disk: {e}");
        let f = std::fs::File::create(&tmp).map_err(|e| {
            format!(
                "Failed opening the temp RDB file {} (in server root dir {}) for saving: {e}",
                tmp.display(),
                cwd()
            )
        })?;
        let mut w =
            Writer::new(io::BufWriter::with_capacity(CHUNK, f), compress, checksum).map_err(err)?;
        write_aux(&mut w, &aux).map_err(err)?;
        let mut cur_db = None;
        let mut complete = false;
        while let Some(msg) = batches.blocking_recv() {
            let Some((batch, bytes)) = msg else {
                complete = true;
                break;
            };
            for (db, key, e) in &batch {
                if cur_db != Some(*db) {
                    w.select_db(*db as u64).map_err(err)?;
                    cur_db = Some(*db);
                }
                write_entry(&mut w, key, e).map_err(err)?;
            }
            // The copies are freed here, on this thread, not the executor.
            drop(batch);
            in_flight.fetch_sub(bytes, std::sync::atomic::Ordering::SeqCst);
        }
        if !complete || abort.load(std::sync::atomic::Ordering::SeqCst) {
            return Err("aborted".into());
        }
        let n = w.written();
        let f = w
            .finish()
            .map_err(err)?
            .into_inner()
            .map_err(|e| err(e.into_error()))?;
        f.sync_all().map_err(err)?;
        drop(f);
        std::fs::rename(&tmp, &path).map_err(|e| {
            format!(
                "Error moving temp DB file {} on the final destination {} (in server root dir {}): {e}",
                tmp.display(),
                path.display(),
                cwd()
            )
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
