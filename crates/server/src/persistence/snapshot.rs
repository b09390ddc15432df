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
use keyspace::{Entry, SharedSink, SnapshotSink, NO_EXPIRE};
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
    /// Keys and keys with a TTL of each database when the snapshot began.
    db_sizes: Vec<(u64, u64)>,
    pub keys: u64,
    /// Bytes serialised ahead of the walk because a write came first.
    pub early_bytes: u64,
    pub error: Option<String>,
}

impl SnapshotSink for RdbSink {
    fn entry(&mut self, db: usize, key: &[u8], e: &Entry, early: bool) {
        if self.error.is_some() {
            return;
        }
        let Some(w) = self.w.as_mut() else {
            return;
        };
        let before = w.written();
        let r = (|| {
            if self.cur_db != Some(db) {
                select(w, db, &self.db_sizes)?;
                self.cur_db = Some(db);
            }
            write_entry(w, key, e)
        })();
        match r {
            Ok(()) => {
                self.keys += 1;
                if early {
                    self.early_bytes += w.written() - before;
                }
            }
            Err(e) => self.error = Some(e.to_string()),
        }
    }
}

/// How far a save got: what `INFO persistence` reports while it runs
/// (Redis's fork-child progress fields, measured on our walk).
#[derive(Debug, Default, Clone, Copy)]
pub struct SaveProgress {
    /// Keys when the snapshot began.
    pub total: u64,
    /// Keys handed to the snapshot so far (walked or preserved early).
    pub processed: u64,
    /// Bytes the snapshot had to take ahead of its walk because writes
    /// were about to change them: the work and memory a write load costs
    /// a save, where a forked Redis pays copy-on-write pages.
    pub early_bytes: u64,
    /// Peak of bytes copied or serialised and not yet written.
    pub peak_pending: u64,
}

impl SaveProgress {
    pub fn starting(dbs: &[keyspace::Db]) -> SaveProgress {
        SaveProgress {
            total: dbs.iter().map(|d| d.len() as u64).sum(),
            ..SaveProgress::default()
        }
    }

    /// Takes a reading of the pipeline (see `save::drive_pipeline`).
    pub fn update(&mut self, pending: u64, processed: u64, early_bytes: u64) {
        self.peak_pending = self.peak_pending.max(pending);
        self.processed = processed;
        self.early_bytes = early_bytes;
    }

    /// `current_fork_perc`: the share of keys handed over.
    pub fn percent(&self) -> f64 {
        if self.total == 0 {
            0.0
        } else {
            (self.processed as f64 * 100.0 / self.total as f64).min(100.0)
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
    /// Function libraries' code, written as `FUNCTION2` records after the
    /// aux fields, as Redis 7.0 writes them.
    pub functions: Vec<Vec<u8>>,
    /// Whether the snapshot is a point in a replication history (Redis's
    /// rdbPopulateSaveInfo): a full sync always is; a master's save only
    /// once it has a backlog (replicas knew its history).
    pub in_history: bool,
}

/// Writes the auxiliary fields Redis 7.0 puts at the start of a snapshot.
fn write_aux<W: Write>(w: &mut Writer<W>, aux: &Aux) -> io::Result<()> {
    w.aux(b"redis-ver", crate::REDIS_VERSION.as_bytes())?;
    w.aux(b"redis-bits", b"64")?;
    w.aux(b"ctime", aux.ctime_secs.to_string().as_bytes())?;
    w.aux(b"used-mem", aux.used_mem.to_string().as_bytes())?;
    // An AOF base carries no replication position (Redis 7.0 writes none
    // there): the AOF is not a point in a replication history.
    if aux.in_history && !aux.aof_base {
        w.aux(b"repl-stream-db", aux.repl_stream_db.to_string().as_bytes())?;
        w.aux(b"repl-id", aux.repl_id.as_bytes())?;
        w.aux(b"repl-offset", aux.repl_offset.to_string().as_bytes())?;
    }
    w.aux(b"aof-base", if aux.aof_base { b"1" } else { b"0" })?;
    for code in &aux.functions {
        w.function(code)?;
    }
    Ok(())
}

/// Keys and keys with a TTL of each database, for the `RESIZEDB` records.
pub fn db_sizes(dbs: &[keyspace::Db]) -> Vec<(u64, u64)> {
    dbs.iter()
        .map(|d| (d.len() as u64, d.volatile_len() as u64))
        .collect()
}

/// `SELECTDB`, then `RESIZEDB` with the database's size at the snapshot's
/// start, as Redis writes them: the loader (a replica in a full sync)
/// sizes its table once instead of growing it step by step, re-hashing
/// every key each time.
fn select<W: Write>(w: &mut Writer<W>, db: usize, sizes: &[(u64, u64)]) -> io::Result<()> {
    w.select_db(db as u64)?;
    match sizes.get(db) {
        Some(&(keys, volatile)) => w.resize_db(keys, volatile),
        None => Ok(()),
    }
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
            db_sizes: db_sizes(dbs),
            keys: 0,
            early_bytes: 0,
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
        // Small budgets (a paced walk) are not rounded up.
        let per_db = (budget / dbs.len().max(1)).max(budget.min(64)).max(1);
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

/// Entries handed to the background serialiser, each as it was when the
/// snapshot began.
///
/// Strings, the bulk of most datasets, are copied flat into one buffer:
/// the executor pays a `memcpy` per entry instead of two allocations (key
/// and value), and the serialiser thread has nothing to free entry by
/// entry. Under a full-speed writer the per-entry allocations and the
/// frees coming back from the other thread were a quarter of the
/// executor's time during a save (`_int_malloc`, `memmove`, `cfree` in
/// `perf`; bench/README.md). Other values are cloned.
#[derive(Default)]
pub struct Batch {
    /// Per string, little-endian: db (u32), expire (i64), key length (u32),
    /// key, value length (u32), value.
    strings: Vec<u8>,
    /// Values of the other types: `(db, key, entry)`.
    values: Vec<(usize, Box<[u8]>, Entry)>,
    entries: usize,
}

impl Batch {
    fn with_capacity(strings: usize) -> Batch {
        Batch {
            strings: Vec::with_capacity(strings),
            ..Batch::default()
        }
    }

    /// Entries it holds.
    pub fn len(&self) -> usize {
        self.entries
    }

    pub fn is_empty(&self) -> bool {
        self.entries == 0
    }

    /// Copies an entry in; returns the bytes it takes (approximately, for
    /// a cloned value).
    fn push(&mut self, db: usize, key: &[u8], e: &Entry) -> usize {
        self.entries += 1;
        let mut scratch = [0u8; 24];
        let flat = match &e.value {
            keyspace::Value::Str(s) => Some(s.as_bytes(&mut scratch)),
            _ => None,
        };
        // Lengths travel as u32: a string of 4 GB or more is cloned.
        if let Some(v) = flat.filter(|v| u32::try_from(v.len().max(key.len())).is_ok()) {
            let b = &mut self.strings;
            let before = b.len();
            b.extend_from_slice(&(db as u32).to_le_bytes());
            b.extend_from_slice(&e.expire.to_le_bytes());
            b.extend_from_slice(&(key.len() as u32).to_le_bytes());
            b.extend_from_slice(key);
            b.extend_from_slice(&(v.len() as u32).to_le_bytes());
            b.extend_from_slice(v);
            return b.len() - before;
        }
        self.values.push((db, key.into(), e.clone()));
        key.len() + e.value.heap_size() + std::mem::size_of::<Entry>() + 32
    }

    /// Writes every entry as an RDB record, selecting databases as needed
    /// (`cur_db` is the one selected last).
    fn write<W: Write>(
        &self,
        w: &mut Writer<W>,
        cur_db: &mut Option<usize>,
        sizes: &[(u64, u64)],
    ) -> io::Result<()> {
        let mut r = FlatReader(&self.strings);
        while !r.0.is_empty() {
            let db = r.u32()? as usize;
            let expire = i64::from_le_bytes(r.array()?);
            let klen = r.u32()? as usize;
            let key = r.take(klen)?;
            let vlen = r.u32()? as usize;
            let value = r.take(vlen)?;
            if *cur_db != Some(db) {
                select(w, db, sizes)?;
                *cur_db = Some(db);
            }
            w.put_string(key, value, (expire != NO_EXPIRE).then_some(expire))?;
        }
        for (db, key, e) in &self.values {
            if *cur_db != Some(*db) {
                select(w, *db, sizes)?;
                *cur_db = Some(*db);
            }
            write_entry(w, key, e)?;
        }
        Ok(())
    }
}

/// Reads the flat string records of a [`Batch`].
struct FlatReader<'a>(&'a [u8]);

impl<'a> FlatReader<'a> {
    fn take(&mut self, n: usize) -> io::Result<&'a [u8]> {
        let (head, tail) = self
            .0
            .split_at_checked(n)
            .ok_or_else(|| io::Error::other("malformed snapshot batch"))?;
        self.0 = tail;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> io::Result<[u8; N]> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    fn u32(&mut self) -> io::Result<u32> {
        self.array().map(u32::from_le_bytes)
    }
}

/// Copies beyond which the sink serialises in place instead (see
/// [`CloneSink`]).
pub const COPY_BUDGET: usize = 16 << 20;

/// A sink that copies entries out for a background thread to serialise
/// (`BGSAVE`): the executor only clones, the expensive part — encoding,
/// LZF compression, the CRC and the disk — runs on another core.
///
/// Extra memory stays bounded: when the copies not yet written reach
/// [`COPY_BUDGET`] (the serialiser is behind, or writes keep touching
/// entries the walk has not reached), further entries are serialised here,
/// on the executor, into RDB records that the serialiser splices in as
/// they are. The file is the same either way; only who pays changes.
pub struct CloneSink {
    pub batch: Batch,
    /// Approximate bytes held by `batch`.
    pub bytes: usize,
    /// Records serialised in place, and the db they last selected.
    records: Option<Writer<Vec<u8>>>,
    records_db: Option<usize>,
    compress: bool,
    in_flight: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    /// Entries handed over, and the approximate bytes of those taken
    /// ahead of the walk (see [`SaveProgress`]).
    pub processed: u64,
    pub early_bytes: u64,
    pub error: Option<String>,
}

impl SnapshotSink for CloneSink {
    fn entry(&mut self, db: usize, key: &[u8], e: &Entry, early: bool) {
        self.processed += 1;
        let held = self.bytes + self.in_flight.load(std::sync::atomic::Ordering::Relaxed);
        if held < COPY_BUDGET {
            let size = self.batch.push(db, key, e);
            self.bytes += size;
            if early {
                self.early_bytes += size as u64;
            }
            return;
        }
        if early {
            let size = key.len() + e.value.heap_size() + std::mem::size_of::<Entry>();
            self.early_bytes += size as u64;
        }
        let compress = self.compress;
        let w = self
            .records
            .get_or_insert_with(|| Writer::for_records(Vec::new(), compress));
        let r = (|| {
            if self.records_db != Some(db) {
                w.select_db(db as u64)?;
                self.records_db = Some(db);
            }
            write_entry(w, key, e)
        })();
        if let Err(err) = r {
            self.error.get_or_insert(err.to_string());
        }
    }
}

/// What the serialiser thread receives.
pub enum Chunk {
    /// Copied entries, with their approximate size.
    Entries(Batch, usize),
    /// Records already serialised (starting with their own SELECTDB).
    Records(Vec<u8>),
    /// The walk is complete.
    End,
}

/// A background-serialised snapshot in progress.
pub struct BgSnapshot {
    pub sink: Rc<RefCell<CloneSink>>,
}

impl BgSnapshot {
    /// Starts the walk of every database into a [`CloneSink`].
    pub fn begin(
        dbs: &mut [keyspace::Db],
        compress: bool,
        in_flight: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    ) -> BgSnapshot {
        let sink = Rc::new(RefCell::new(CloneSink {
            batch: Batch::default(),
            bytes: 0,
            records: None,
            records_db: None,
            compress,
            in_flight,
            processed: 0,
            early_bytes: 0,
            error: None,
        }));
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

    /// Entries handed over so far and the bytes taken ahead of the walk.
    pub fn handed(&self) -> (u64, u64) {
        let s = self.sink.borrow();
        (s.processed, s.early_bytes)
    }

    /// Takes what the sink holds: records serialised in place (if any)
    /// and the copied entries with their approximate size.
    pub fn take(&self) -> (Option<Vec<u8>>, Batch, usize) {
        let mut s = self.sink.borrow_mut();
        let bytes = std::mem::take(&mut s.bytes);
        let records = s.records.take().map(Writer::into_inner);
        s.records_db = None;
        // The next batch will likely need as much room as this one.
        let room = Batch::with_capacity(s.batch.strings.capacity());
        (records, std::mem::replace(&mut s.batch, room), bytes)
    }

    /// Whether enough is held to hand over: a full batch of copies, or a
    /// chunk's worth of records serialised in place.
    pub fn ready(&self, batch_entries: usize) -> bool {
        let s = self.sink.borrow();
        s.batch.len() >= batch_entries
            || s.records
                .as_ref()
                .is_some_and(|w| w.written() as usize >= CHUNK)
    }

    /// An error met while serialising in place.
    pub fn error(&self) -> Option<String> {
        self.sink.borrow_mut().error.take()
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
    /// fsync every 4 MB (`rdb-save-incremental-fsync`, or
    /// `aof-rewrite-incremental-fsync` for an AOF base).
    pub incremental_fsync: bool,
    /// Keys and keys with a TTL of each database at the snapshot's start
    /// (see [`db_sizes`]).
    pub db_sizes: Vec<(u64, u64)>,
}

pub fn serializer_thread(
    job: SerializerJob,
    mut batches: tokio::sync::mpsc::Receiver<Chunk>,
    done: tokio::sync::oneshot::Sender<Result<u64, String>>,
) {
    let SerializerJob {
        path,
        aux,
        compress,
        checksum,
        in_flight,
        abort,
        incremental_fsync,
        db_sizes,
    } = job;
    let tmp = path.with_file_name(format!("temp-{}.rdb", std::process::id()));
    // The temp file this job created: an abandoned job may still be
    // cleaning up when the next one (same name) has started.
    let mut created = None;
    let result = (|| -> Result<u64, String> {
        let err = |e: io::Error| format!("Write error saving DB on disk: {e}");
        // A new file, never the one an abandoned job may still be writing:
        // creating over it would truncate that same file, which the
        // abandoned job then writes into and removes as its own.
        let _ = std::fs::remove_file(&tmp);
        let f = std::fs::File::create(&tmp).map_err(|e| {
            format!(
                "Failed opening the temp RDB file {} (in server root dir {}) for saving: {e}",
                tmp.display(),
                cwd()
            )
        })?;
        created = f.metadata().ok().map(|m| file_id(&m));
        let f = super::autosync::AutoSync::new(f, incremental_fsync);
        let mut w =
            Writer::new(io::BufWriter::with_capacity(CHUNK, f), compress, checksum).map_err(err)?;
        write_aux(&mut w, &aux).map_err(err)?;
        let mut cur_db = None;
        let mut complete = false;
        while let Some(msg) = batches.blocking_recv() {
            match msg {
                Chunk::End => {
                    complete = true;
                    break;
                }
                Chunk::Records(r) => {
                    w.put_raw_records(&r).map_err(err)?;
                    // The records selected their own db.
                    cur_db = None;
                }
                Chunk::Entries(batch, bytes) => {
                    batch.write(&mut w, &mut cur_db, &db_sizes).map_err(err)?;
                    // The copies are freed here, on this thread, not the
                    // executor.
                    drop(batch);
                    in_flight.fetch_sub(bytes, std::sync::atomic::Ordering::SeqCst);
                }
            }
        }
        if !complete || abort.load(std::sync::atomic::Ordering::SeqCst) {
            return Err("aborted".into());
        }
        let n = w.written();
        let f = w
            .finish()
            .map_err(err)?
            .into_inner()
            .map_err(|e| err(e.into_error()))?
            .into_file();
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
        let ours = std::fs::metadata(&tmp).ok().map(|m| file_id(&m));
        if ours.is_some() && ours == created {
            let _ = std::fs::remove_file(&tmp);
        }
    }
    let _ = done.send(result);
}

/// Which file a path names (device and inode).
fn file_id(m: &std::fs::Metadata) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    (m.dev(), m.ino())
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

#[cfg(test)]
mod tests {
    use super::*;
    use keyspace::{Db, StrValue, Value, NO_EXPIRE};
    use std::sync::atomic::{AtomicBool, AtomicUsize};
    use std::sync::Arc;

    /// Entries copied and entries serialised in place (over the copy
    /// budget) end up in one valid file with every key once.
    #[test]
    fn copies_and_in_place_records_make_one_valid_file() {
        let mut dbs = vec![Db::new(), Db::new()];
        for i in 0..3000 {
            let v = Value::Str(StrValue::from_bytes(format!("value-{i}").as_bytes()));
            dbs[i % 2].insert(format!("k{i}").as_bytes(), v, NO_EXPIRE, 0);
        }
        let in_flight = Arc::new(AtomicUsize::new(0));
        let snap = BgSnapshot::begin(&mut dbs, true, in_flight.clone());
        let mut chunks = Vec::new();
        let mut round = 0;
        while !Snapshot::step(&mut dbs, 500) {
            // Every other round, pretend the serialiser is far behind.
            round += 1;
            in_flight.store(
                if round % 2 == 0 { COPY_BUDGET } else { 0 },
                std::sync::atomic::Ordering::SeqCst,
            );
            let (records, batch, bytes) = snap.take();
            if let Some(r) = records {
                chunks.push(Chunk::Records(r));
            }
            chunks.push(Chunk::Entries(batch, bytes));
        }
        let (records, batch, bytes) = snap.take();
        if let Some(r) = records {
            chunks.push(Chunk::Records(r));
        }
        chunks.push(Chunk::Entries(batch, bytes));
        chunks.push(Chunk::End);
        assert!(chunks.iter().any(|c| matches!(c, Chunk::Records(_))));
        in_flight.store(0, std::sync::atomic::Ordering::SeqCst);

        let dir = std::env::temp_dir().join(format!("redoubt-snap-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join("dump.rdb");
        let (tx, rx) = tokio::sync::mpsc::channel(chunks.len() + 1);
        for c in chunks {
            assert!(tx.try_send(c).is_ok());
        }
        drop(tx);
        let (done_tx, mut done_rx) = tokio::sync::oneshot::channel();
        let job = SerializerJob {
            path: path.clone(),
            aux: Aux {
                ctime_secs: 0,
                used_mem: 0,
                repl_id: "0".repeat(40),
                repl_offset: 0,
                aof_base: false,
                repl_stream_db: 0,
                functions: Vec::new(),
                in_history: false,
            },
            compress: true,
            checksum: true,
            in_flight: Arc::new(AtomicUsize::new(0)),
            abort: Arc::new(AtomicBool::new(false)),
            incremental_fsync: true,
            db_sizes: vec![(1500, 0), (1500, 0)],
        };
        serializer_thread(job, rx, done_tx);
        assert!(matches!(done_rx.try_recv(), Ok(Ok(_))));
        let f = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{e}"));
        let mut r = rdb::Reader::new(std::io::BufReader::new(f)).unwrap_or_else(|e| panic!("{e}"));
        let mut db = 0;
        let mut seen = std::collections::BTreeSet::new();
        while let Some(item) = r.next_item().unwrap_or_else(|e| panic!("{e}")) {
            match item {
                rdb::Item::SelectDb(n) => db = n as usize,
                rdb::Item::Entry { key, .. } => {
                    let k = String::from_utf8_lossy(&key).into_owned();
                    let i: usize = k[1..].parse().unwrap_or(usize::MAX);
                    assert_eq!(i % 2, db, "{k} in the wrong db");
                    assert!(seen.insert(k));
                }
                _ => {}
            }
        }
        assert_eq!(seen.len(), 3000);
        let _ = std::fs::remove_dir_all(dir);
    }
}
