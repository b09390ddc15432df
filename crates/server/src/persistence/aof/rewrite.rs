//! `BGREWRITEAOF` without fork.
//!
//! At the rewrite's point in time (one executor step) the buffered
//! effects go to the current incremental file and a new incremental file
//! takes everything after: listed in the manifest at once while the AOF
//! is on, or a temporary one (`temp-<appendfilename>.incr`) while the AOF
//! is being turned on. The fork-less snapshot (`save::start_pipeline`, the
//! walk BGSAVE uses) then writes the dataset as of that point to
//! `temp-rewriteaof-bg-<pid>.aof` in the background. When it is complete
//! and durable, as Redis's parent does after its child exits: the next
//! base name is taken (`<appendfilename>.<seq>.base.rdb|aof`), the file
//! renamed into `appenddirname` (and the temporary incremental file to the
//! next incremental name), every incremental file but the one being
//! written becomes history, the manifest is written atomically and the
//! history deleted (unless `aof-disable-auto-gc yes`). Writes go on to
//! the new incremental file the whole time and never wait for the
//! rewrite; a crash at any step leaves a manifest that loads: the old
//! base with every incremental file.
//!
//! A failed rewrite leaves its incremental file listed (the next one opens
//! another, as in Redis); after three failures in a row automatic
//! rewrites are held back (see `aof::cron`).
//!
//! With `aof-use-rdb-preamble no` the base is an AOF (commands): the
//! snapshot is written as RDB first and converted on a background thread.

use super::{dir, filename, manifest, manifest_name, open_incr, ManifestJob, Msg, Rewrite};
use crate::config::Directive;
use crate::persistence::save::{self, Pipeline};
use crate::persistence::snapshot::{fsync_dir, Aux, Snapshot};
use crate::server::Server;
use crate::{log_notice, log_warning};
use std::cell::RefCell;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// Entries per slice of a synchronous base write.
const STEP_ENTRIES: usize = 4096;

/// Commands hold at most this many elements in an AOF base, as Redis's
/// rewrite splits big collections.
const ITEMS_PER_CMD: usize = 64;

/// The aux fields of an AOF base.
fn aux(srv: &Server) -> Aux {
    Aux {
        ctime_secs: srv.now_ms / 1000,
        used_mem: crate::alloc::allocated() as u64,
        repl_id: srv.master_replid.clone(),
        repl_offset: srv.repl.master_repl_offset(),
        aof_base: true,
        repl_stream_db: 0,
        functions: srv.scripting.functions.payloads(),
        in_history: false,
    }
}

/// Where a rewrite writes the new base before it is renamed into
/// `appenddirname`: in `dir`, named after the process that writes it, as
/// Redis names its rewrite child's file.
fn temp_name() -> String {
    format!("temp-rewriteaof-bg-{}.aof", std::process::id())
}

/// Starts a rewrite now. Err (logged) when it cannot start.
///
/// As Redis does at a rewrite's start: what is buffered goes to the
/// current incremental file, and a new one takes what follows — listed
/// in the manifest at once when the AOF is on (so a rewrite that fails
/// leaves it listed, and the old base with every incremental file still
/// loads), or, while the AOF is being turned on, a temporary
/// incremental file that is renamed and listed only when this rewrite
/// succeeds. With the AOF off nothing is recorded.
pub fn start(srv: &mut Server) -> Result<(), String> {
    if srv.aof.rewrite_running() {
        return Err(crate::errors::AOF_REWRITE_IN_PROGRESS.into());
    }
    if crate::replication::fullsync::walk_busy(srv) {
        srv.aof.rewrite_scheduled = true;
        return Ok(());
    }
    let opened = open_next_incr(srv);
    if let Err(e) = opened {
        srv.aof.last_rewrite_ok = false;
        return Err(e);
    }
    srv.aof.rewrites += 1;
    let rdb = srv.config.get_bool(Directive::AofUseRdbPreamble);
    let temp = PathBuf::from(temp_name());
    let target = if rdb {
        temp.clone()
    } else {
        temp.with_extension("rdb")
    };
    let a = aux(srv);
    let (pipeline, abort) = save::start_pipeline(srv, target, a, "aof-rewrite").map_err(|e| {
        log_warning!("Can't rewrite append only file in background: {e}");
        srv.aof.last_rewrite_ok = false;
        e
    })?;
    srv.aof.rewrite = Some(Rewrite {
        started: Instant::now(),
        started_secs: srv.now_ms / 1000,
        abort,
        progress: crate::persistence::snapshot::SaveProgress::starting(&srv.dbs),
        pipeline: Some(pipeline),
        temp,
        rdb,
        installing: None,
    });
    srv.aof.rewrite_scheduled = false;
    log_notice!(
        "Background append only file rewriting started by pid {}",
        std::process::id()
    );
    srv.persist.notify.notify_one();
    Ok(())
}

/// The rewrite's point in time: flushes what is buffered and opens the
/// incremental file that takes what follows (see [`start`]).
fn open_next_incr(srv: &mut Server) -> Result<(), String> {
    super::create_dir(srv)?;
    srv.refresh_time();
    // The next effect selects its database again, in whichever file.
    srv.aof.feed.borrow_mut().seldb = None;
    srv.aof.flush();
    let name = filename(srv);
    if srv.aof.enabled {
        let mut m = srv.aof.manifest.clone();
        let n = m.new_incr(&name);
        let (file, len) = open_incr(srv, &n, true)?;
        // Listed before anything is written to it: the writer thread
        // persists the manifest first, in message order.
        let job = ManifestJob {
            dir: dir(srv),
            name: manifest_name(srv),
            manifest: m.clone(),
        };
        if let Some(w) = &srv.aof.writer {
            let _ = w.tx.send(Msg::Switch(file, len, Some(job)));
        }
        srv.aof.manifest = m;
        log_notice!("Creating AOF incr file {n} on background rewrite");
    } else if srv.aof.wait_rewrite {
        let n = super::manifest::temp_incr_name(&name);
        let (file, len) = open_incr(srv, &n, true)?;
        srv.aof.stop_writer();
        srv.aof.earlier_incr_size = 0;
        let p = super::policy(srv);
        srv.aof.start_writer(file, len, p)?;
        srv.aof.feed.borrow_mut().on = true;
        log_notice!("Creating AOF incr file {n} on background rewrite");
    }
    Ok(())
}

/// Abandons a running rewrite; its files are removed. A rewrite already
/// installing its files is waited for instead and recorded as finished
/// (as Redis reaps a child that exited just before its kill): its renames
/// and manifest must not land behind whatever comes next.
pub fn abort(srv: &mut Server) {
    if settle_installing(srv) {
        return;
    }
    let Some(r) = srv.aof.rewrite.take() else {
        return;
    };
    r.abort.store(true, Ordering::SeqCst);
    Snapshot::abort(&mut srv.dbs);
    remove_temp_files(&r.temp);
    srv.aof.last_rewrite_time_sec = r.started.elapsed().as_secs() as i64;
}

/// A rewrite whose snapshot is complete and whose files are being
/// installed is waited for and recorded as finished (true), as when its
/// task gets to it. The executor may not run that task before it needs
/// the outcome: a busy script started right behind the snapshot's end
/// holds it, and SHUTDOWN NOSAVE from that script's busy loop must know
/// whether the first AOF is written.
pub fn settle_installing(srv: &mut Server) -> bool {
    let Some(r) = srv.aof.rewrite.as_mut() else {
        return false;
    };
    let Some(installing) = r.installing.take() else {
        return false;
    };
    let id = r.abort.clone();
    let installed = installing
        .join()
        .unwrap_or_else(|_| Err("the AOF rewrite thread died".into()));
    finish(srv, &id, installed);
    true
}

fn remove_temp_files(temp: &Path) {
    let _ = std::fs::remove_file(temp);
    let _ = std::fs::remove_file(temp.with_extension("rdb"));
}

/// Drives a rewrite's snapshot (from the persistence task), then installs
/// the new base.
pub async fn drive(srv: &Rc<RefCell<Server>>, p: Pipeline) {
    // The rewrite whose pipeline this is, known by its abort flag: once
    // it is aborted another may start before this task notices, and none
    // of what follows may touch that one.
    let Some(id) = srv.borrow().aof.rewrite.as_ref().map(|r| r.abort.clone()) else {
        return;
    };
    let running = |_: &Server| !id.load(Ordering::SeqCst);
    let peak = |s: &mut Server, pending: u64, (processed, early): (u64, u64)| {
        if let Some(r) = this_rewrite(s, &id) {
            r.progress.update(pending, processed, early);
        }
    };
    let Some(result) = save::drive_pipeline(srv, p, running, peak).await else {
        return;
    };
    // The rest is file work (conversion, renames, manifest, deleting
    // history): done on a thread, so writers never wait for it.
    let plan = {
        let s = srv.borrow();
        let r = s
            .aof
            .rewrite
            .as_ref()
            .filter(|r| Arc::ptr_eq(&r.abort, &id));
        r.map(|r| Installer {
            // The writer thread handles messages in order: once it
            // answers this, it has switched files and written the
            // manifest of the rewrite's start, which must not land after
            // ours.
            barrier: s.aof.writer.as_ref().and_then(|w| {
                let (tx, rx) = std::sync::mpsc::channel();
                w.tx.send(Msg::Barrier(tx)).ok().map(|_| rx)
            }),
            temp: r.temp.clone(),
            rdb: r.rdb,
            timestamp: s
                .config
                .get_bool(Directive::AofTimestampEnabled)
                .then_some(r.started_secs),
            incremental_fsync: s.config.get_bool(Directive::AofRewriteIncrementalFsync),
            dir: dir(&s),
            filename: filename(&s),
            manifest_name: manifest_name(&s),
            manifest: s.aof.manifest.clone(),
            writing: s.aof.enabled || s.aof.wait_rewrite,
            temp_incr: s.aof.wait_rewrite,
            gc: !s.config.get_bool(Directive::AofDisableAutoGc),
        })
    };
    let Some(plan) = plan else {
        return;
    };
    let installed = match result {
        Err(e) => Err(e),
        Ok(()) => {
            let done = Arc::new(tokio::sync::Notify::new());
            let signal = done.clone();
            let spawned = std::thread::Builder::new()
                .name("aof-rewrite-done".into())
                .spawn(move || {
                    crate::os::background_thread_started(crate::os::ThreadKind::AofRewrite);
                    let installed = plan.run();
                    signal.notify_one();
                    installed
                });
            match spawned {
                Ok(handle) => {
                    if let Some(r) = this_rewrite(&mut srv.borrow_mut(), &id) {
                        r.installing = Some(handle);
                    }
                    done.notified().await;
                    // Gone when an abort meanwhile joined the thread and
                    // recorded the outcome.
                    let handle =
                        this_rewrite(&mut srv.borrow_mut(), &id).and_then(|r| r.installing.take());
                    match handle {
                        Some(h) => h
                            .join()
                            .unwrap_or_else(|_| Err("the AOF rewrite thread died".into())),
                        None => return,
                    }
                }
                Err(e) => Err(e.to_string()),
            }
        }
    };
    finish(&mut srv.borrow_mut(), &id, installed);
}

/// The running rewrite, if it is the one known by `id` (its abort flag).
fn this_rewrite<'s>(srv: &'s mut Server, id: &Arc<AtomicBool>) -> Option<&'s mut Rewrite> {
    srv.aof
        .rewrite
        .as_mut()
        .filter(|r| Arc::ptr_eq(&r.abort, id))
}

/// What installing a finished rewrite takes, run off the executor.
struct Installer {
    barrier: Option<std::sync::mpsc::Receiver<()>>,
    /// The new base as written (without the RDB preamble: the RDB
    /// snapshot next to it, to convert first).
    temp: PathBuf,
    rdb: bool,
    /// `#TS:` annotation to start an AOF-format base with.
    timestamp: Option<i64>,
    /// `aof-rewrite-incremental-fsync`, for the conversion.
    incremental_fsync: bool,
    dir: PathBuf,
    filename: String,
    manifest_name: String,
    /// The manifest as of now, with the incremental file opened at the
    /// rewrite's start.
    manifest: super::Manifest,
    /// An incremental file is being written (the AOF is on, or turning
    /// on): it stays.
    writing: bool,
    /// The AOF is turning on: its temporary incremental file becomes the
    /// next numbered one.
    temp_incr: bool,
    gc: bool,
}

/// A finished rewrite: the manifest now on disk and the new base's size.
pub type Installed = (super::Manifest, u64);

impl Installer {
    /// Converts the base if needed, renames it (and the temporary
    /// incremental file) into place, switches the manifest and deletes
    /// the history, logging each step as Redis does.
    fn run(mut self) -> Result<Installed, String> {
        if let Some(b) = self.barrier.take() {
            let _ = b.recv();
        }
        if !self.rdb {
            let src = self.temp.with_extension("rdb");
            let r = rdb_to_aof(&src, &self.temp, self.timestamp, self.incremental_fsync);
            let _ = std::fs::remove_file(&src);
            r?;
        }
        log_notice!("Background AOF rewrite terminated with success");
        let m = &mut self.manifest;
        let base = m.new_base(&self.filename, self.rdb);
        let base_path = self.dir.join(&base);
        let temp = self.temp.display().to_string();
        std::fs::rename(&self.temp, &base_path).map_err(|e| {
            format!(
                "Error trying to rename the temporary AOF base file {temp} into {}: {}",
                base_path.display(),
                super::strerror(&e)
            )
        })?;
        log_notice!("Successfully renamed the temporary AOF base file {temp} into {base}");
        let mut new_incr = None;
        if self.temp_incr {
            let from = super::manifest::temp_incr_name(&self.filename);
            let to = m.new_incr(&self.filename);
            let to_path = self.dir.join(&to);
            if let Err(e) = std::fs::rename(self.dir.join(&from), &to_path) {
                let _ = std::fs::remove_file(&base_path);
                return Err(format!(
                    "Error trying to rename the temporary AOF incr file {} into {}: {}",
                    self.dir.join(&from).display(),
                    to_path.display(),
                    super::strerror(&e)
                ));
            }
            log_notice!("Successfully renamed the temporary AOF incr file {from} into {to}");
            new_incr = Some(to_path);
        }
        m.mark_rewritten_incrs_as_history(self.writing);
        let size = std::fs::metadata(&base_path)
            .map_err(|e| format!("Can't stat the new AOF base {base}: {e}"))?
            .len();
        if let Err(e) = manifest::persist(&self.dir, &self.manifest_name, m) {
            let _ = std::fs::remove_file(&base_path);
            if let Some(p) = new_incr {
                let _ = std::fs::remove_file(p);
            }
            return Err(format!(
                "Can't persist the AOF manifest file {}: {e}",
                self.manifest_name
            ));
        }
        // The old files are history now: gone once the manifest that no
        // longer needs them is durable.
        if self.gc && !m.history.is_empty() {
            for h in std::mem::take(&mut m.history) {
                log_notice!("Removing the history file {} in the background", h.name);
                let _ = std::fs::remove_file(self.dir.join(&h.name));
            }
            if let Err(e) = manifest::persist(&self.dir, &self.manifest_name, m) {
                log_warning!(
                    "Can't persist the AOF manifest file {}: {e}",
                    self.manifest_name
                );
            }
        }
        Ok((self.manifest, size))
    }
}

/// Records the outcome of a rewrite (the files are in place already when
/// it succeeded).
fn finish(srv: &mut Server, id: &Arc<AtomicBool>, result: Result<Installed, String>) {
    if this_rewrite(srv, id).is_none() {
        return;
    }
    let Some(run) = srv.aof.rewrite.take() else {
        return;
    };
    srv.aof.last_rewrite_time_sec = run.started.elapsed().as_secs() as i64;
    srv.aof.last_cow_size = run.progress.early_bytes;
    match result {
        Ok((m, size)) => {
            srv.aof.manifest = m;
            srv.aof.base_size = size;
            // The increments before the rewrite are history now.
            srv.aof.earlier_incr_size = 0;
            if let Some(w) = &srv.aof.writer {
                w.shared.earlier_size.store(0, Ordering::SeqCst);
            }
            if std::mem::take(&mut srv.aof.wait_rewrite) {
                srv.aof.enabled = true;
            }
            srv.aof.rewrite_base_size = srv.aof.current_size();
            srv.aof.consecutive_failures = 0;
            srv.aof.last_rewrite_ok = true;
            log_notice!("Background AOF rewrite finished successfully");
        }
        Err(e) => {
            Snapshot::abort(&mut srv.dbs);
            remove_temp_files(&run.temp);
            log_warning!("{e}");
            log_warning!("Background AOF rewrite terminated with error");
            srv.aof.last_rewrite_ok = false;
            srv.aof.consecutive_failures += 1;
        }
    }
    // Turning the AOF on needs a base: what the temporary incremental
    // file holds is dropped, and the next rewrite starts over.
    if srv.aof.wait_rewrite {
        srv.aof.stop_writer();
        {
            let mut f = srv.aof.feed.borrow_mut();
            f.on = false;
            f.buf.clear();
        }
        let n = super::manifest::temp_incr_name(&filename(srv));
        log_notice!("Removing the temp incr aof file {n} in the background");
        let _ = std::fs::remove_file(dir(srv).join(&n));
        srv.aof.rewrite_scheduled = true;
    }
}

/// Writes the dataset as an AOF base at `path` now (the first base at
/// start-up): RDB format, or commands without the preamble. Returns its
/// size.
pub fn write_base_sync(srv: &mut Server, path: &Path, rdb: bool) -> Result<u64, String> {
    let a = aux(srv);
    let compress = srv.config.get_bool(Directive::Rdbcompression);
    let checksum = srv.config.get_bool(Directive::Rdbchecksum);
    let timestamp = srv
        .config
        .get_bool(Directive::AofTimestampEnabled)
        .then_some(srv.now_ms / 1000);
    // Redis's name for the synchronous rewrite's file, in `dir`.
    let tmp = PathBuf::from(format!("temp-rewriteaof-{}.aof", std::process::id()));
    let rdb_tmp = tmp.with_extension("rdb");
    let err = |e: std::io::Error| format!("Error writing the AOF base {}: {e}", path.display());
    let incremental = srv.config.get_bool(Directive::AofRewriteIncrementalFsync);
    let result = (|| -> Result<u64, String> {
        let f = std::fs::File::create(&rdb_tmp).map_err(err)?;
        let f = crate::persistence::autosync::AutoSync::new(f, incremental);
        let mut out = std::io::BufWriter::with_capacity(1 << 16, f);
        let snap = Snapshot::begin(&mut srv.dbs, &a, compress, checksum).map_err(err)?;
        loop {
            let done = Snapshot::step(&mut srv.dbs, STEP_ENTRIES);
            if done {
                snap.finish()?;
            }
            out.write_all(&snap.take_bytes()).map_err(err)?;
            if done {
                break;
            }
        }
        let f = out
            .into_inner()
            .map_err(|e| err(e.into_error()))?
            .into_file();
        f.sync_all().map_err(err)?;
        drop(f);
        let size = if rdb {
            std::fs::rename(&rdb_tmp, &tmp).map_err(err)?;
            std::fs::metadata(&tmp).map(|m| m.len()).map_err(err)?
        } else {
            rdb_to_aof(&rdb_tmp, &tmp, timestamp, incremental)?
        };
        std::fs::rename(&tmp, path).map_err(err)?;
        fsync_dir(path);
        Ok(size)
    })();
    let _ = std::fs::remove_file(&rdb_tmp);
    if result.is_err() {
        Snapshot::abort(&mut srv.dbs);
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Appends one command in RESP form.
fn put_cmd(out: &mut Vec<u8>, args: &[&[u8]]) {
    resp::encode_command(out, args);
}

/// Converts an RDB snapshot into an AOF base of commands (SELECT, SET,
/// RPUSH, SADD, ZADD, HMSET, PEXPIREAT), as Redis's rewrite writes them
/// without the preamble, starting with a `#TS:` annotation when
/// `timestamp` is given (`aof-timestamp-enabled`): `src` → `dst`, fsynced
/// (every 4 MB too with `incremental_fsync`). Returns the size written.
pub fn rdb_to_aof(
    src: &Path,
    dst: &Path,
    timestamp: Option<i64>,
    incremental_fsync: bool,
) -> Result<u64, String> {
    let err = |e: &dyn std::fmt::Display| format!("Error converting the AOF base: {e}");
    let f = std::fs::File::open(src).map_err(|e| err(&e))?;
    let mut r =
        rdb::Reader::new(std::io::BufReader::with_capacity(1 << 16, f)).map_err(|e| err(&e))?;
    let out_f = std::fs::File::create(dst).map_err(|e| err(&e))?;
    let out_f = crate::persistence::autosync::AutoSync::new(out_f, incremental_fsync);
    let mut out = std::io::BufWriter::with_capacity(1 << 16, out_f);
    let mut cmd = Vec::with_capacity(4096);
    let result = (|| -> Result<(), String> {
        if let Some(ts) = timestamp {
            out.write_all(format!("#TS:{ts}\r\n").as_bytes())
                .map_err(|e| err(&e))?;
        }
        while let Some(item) = r.next_item().map_err(|e| err(&e))? {
            cmd.clear();
            match item {
                rdb::Item::SelectDb(n) => {
                    put_cmd(&mut cmd, &[b"SELECT", n.to_string().as_bytes()]);
                }
                // Libraries come first, as Redis's rewrite writes them.
                rdb::Item::Function(code) => {
                    put_cmd(&mut cmd, &[b"FUNCTION", b"LOAD", &code]);
                }
                rdb::Item::Entry {
                    key,
                    value,
                    expire_ms,
                    ..
                } => {
                    match value {
                        rdb::RdbValue::String(v) => put_cmd(&mut cmd, &[b"SET", &key, &v]),
                        rdb::RdbValue::List(items) => {
                            for chunk in items.chunks(ITEMS_PER_CMD) {
                                let mut a: Vec<&[u8]> = vec![b"RPUSH", &key];
                                a.extend(chunk.iter().map(|i| i.as_slice()));
                                put_cmd(&mut cmd, &a);
                            }
                        }
                        rdb::RdbValue::Set(items) => {
                            for chunk in items.chunks(ITEMS_PER_CMD) {
                                let mut a: Vec<&[u8]> = vec![b"SADD", &key];
                                a.extend(chunk.iter().map(|i| i.as_slice()));
                                put_cmd(&mut cmd, &a);
                            }
                        }
                        rdb::RdbValue::ZSet(items) => {
                            for chunk in items.chunks(ITEMS_PER_CMD) {
                                let scores: Vec<String> =
                                    chunk.iter().map(|(_, s)| s.to_string()).collect();
                                let mut a: Vec<&[u8]> = vec![b"ZADD", &key];
                                for ((m, _), s) in chunk.iter().zip(&scores) {
                                    a.push(s.as_bytes());
                                    a.push(m);
                                }
                                put_cmd(&mut cmd, &a);
                            }
                        }
                        rdb::RdbValue::Hash(items) => {
                            for chunk in items.chunks(ITEMS_PER_CMD) {
                                let mut a: Vec<&[u8]> = vec![b"HMSET", &key];
                                for (f, v) in chunk {
                                    a.push(f);
                                    a.push(v);
                                }
                                put_cmd(&mut cmd, &a);
                            }
                        }
                        rdb::RdbValue::Stream(s) => {
                            let s = crate::persistence::stream_rdb::stream_from_rdb(*s)?;
                            crate::persistence::stream_rdb::aof_commands(&key, &s, &mut cmd);
                        }
                    }
                    if let Some(at) = expire_ms {
                        put_cmd(&mut cmd, &[b"PEXPIREAT", &key, at.to_string().as_bytes()]);
                    }
                }
                _ => {}
            }
            out.write_all(&cmd).map_err(|e| err(&e))?;
        }
        Ok(())
    })();
    result?;
    let f = out
        .into_inner()
        .map_err(|e| err(&e.into_error()))?
        .into_file();
    f.sync_all().map_err(|e| err(&e))?;
    let size = f.metadata().map(|m| m.len()).unwrap_or(0);
    Ok(size)
}
