//! `BGREWRITEAOF` without fork.
//!
//! At the rewrite's point in time (one executor step) the buffered
//! effects go to the current incremental file, a new incremental file is
//! opened for everything after, and the manifest lists it; the fork-less
//! snapshot (`save::start_pipeline`, the walk BGSAVE uses) then writes
//! the dataset as of that point as the new base in the background. When
//! the base is complete and durable the manifest switches atomically to
//! "new base + the incremental file opened at the start", and the files
//! it replaced are deleted. Writes go on to the new incremental file the
//! whole time and never wait for the rewrite; a crash at any step leaves
//! a manifest that loads: the old base with every incremental file.
//!
//! With `aof-use-rdb-preamble no` the base is an AOF (commands): the
//! snapshot is written as RDB first and converted on a background thread.

use super::{dir, filename, manifest_name, open_incr, ManifestJob, Msg, Rewrite};
use crate::config::Directive;
use crate::persistence::save::{self, Pipeline};
use crate::persistence::snapshot::{fsync_dir, Aux, Snapshot};
use crate::server::Server;
use crate::{log_notice, log_warning};
use std::cell::RefCell;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::atomic::Ordering;
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
    }
}

fn temp_name() -> String {
    format!("temp-rewriteaof-bg-{}.aof", std::process::id())
}

/// Starts a rewrite now. Err (logged) when it cannot start.
pub fn start(srv: &mut Server) -> Result<(), String> {
    if srv.aof.rewrite_running() {
        return Err(crate::errors::AOF_REWRITE_IN_PROGRESS.into());
    }
    if crate::replication::fullsync::walk_busy(srv) {
        srv.aof.rewrite_scheduled = true;
        return Ok(());
    }
    super::create_dir(srv)?;
    srv.refresh_time();
    let name = filename(srv);
    let d = dir(srv);
    let rdb = srv.config.get_bool(Directive::AofUseRdbPreamble);
    let (base_name, base_seq) = srv.aof.manifest.next_base_name(&name, rdb);
    let temp = d.join(temp_name());
    // The point in time: what is buffered belongs to the files before it.
    srv.aof.flush();
    let incr_name = if srv.aof.enabled || srv.aof.wait_rewrite {
        let n = srv.aof.manifest.new_incr(&name);
        log_notice!("Creating AOF incr file {n} on background rewrite");
        let (file, len) = open_incr(srv, &n, true)?;
        if srv.aof.enabled {
            // Listed before anything is written to it (the writer thread
            // persists the manifest first): if we crash before the base is
            // written, the old base and every incremental file still load.
            let job = ManifestJob {
                dir: d.clone(),
                name: super::manifest_name(srv),
                manifest: srv.aof.manifest.clone(),
            };
            if let Some(w) = &srv.aof.writer {
                let _ = w.tx.send(Msg::Switch(file, len, Some(job)));
            }
        } else {
            // Turning on: the writer starts here; the manifest names the
            // file only once the base exists.
            srv.aof.stop_writer();
            srv.aof.earlier_incr_size = 0;
            let p = super::policy(srv);
            srv.aof.start_writer(file, len, p)?;
            srv.aof.feed.borrow_mut().on = true;
        }
        Some(n)
    } else {
        None
    };
    srv.aof.feed.borrow_mut().seldb = None;
    let a = aux(srv);
    let target = if rdb {
        d.join(&base_name)
    } else {
        temp.with_extension("rdb")
    };
    let (pipeline, abort) = save::start_pipeline(srv, target, a, "aof-rewrite").map_err(|e| {
        log_warning!("Can't rewrite append only file in background: {e}");
        srv.aof.last_rewrite_ok = false;
        e
    })?;
    srv.aof.rewrite = Some(Rewrite {
        started: Instant::now(),
        abort,
        peak_pending: 0,
        pipeline: Some(pipeline),
        temp,
        base_name,
        base_seq,
        incr_name,
    });
    srv.aof.rewrite_scheduled = false;
    log_notice!(
        "Background append only file rewriting started by pid {}",
        std::process::id()
    );
    srv.persist.notify.notify_one();
    Ok(())
}

/// Abandons a running rewrite; its files are removed.
pub fn abort(srv: &mut Server) {
    if let Some(r) = srv.aof.rewrite.take() {
        r.abort.store(true, Ordering::SeqCst);
        Snapshot::abort(&mut srv.dbs);
        let _ = std::fs::remove_file(&r.temp);
        let _ = std::fs::remove_file(r.temp.with_extension("rdb"));
    }
}

/// Drives a rewrite's snapshot (from the persistence task), then installs
/// the new base.
pub async fn drive(srv: &Rc<RefCell<Server>>, p: Pipeline) {
    let running = |s: &Server| {
        s.aof
            .rewrite
            .as_ref()
            .is_some_and(|r| !r.abort.load(Ordering::SeqCst))
    };
    let peak = |s: &mut Server, pending: u64| {
        if let Some(r) = s.aof.rewrite.as_mut() {
            r.peak_pending = r.peak_pending.max(pending);
        }
    };
    let Some(result) = save::drive_pipeline(srv, p, running, peak).await else {
        return;
    };
    // The rest is file work (conversion, manifest, deleting history):
    // done on a thread, so writers never wait for it.
    let plan = {
        let s = srv.borrow();
        s.aof.rewrite.as_ref().map(|r| {
            let d = dir(&s);
            let keep: Vec<String> = r.incr_name.iter().cloned().collect();
            let mut m = s.aof.manifest.clone();
            m.install_base(r.base_name.clone(), r.base_seq, &keep);
            if !s.aof.enabled && !s.aof.wait_rewrite {
                // BGREWRITEAOF with the AOF off: a base and no increments.
                m.incrs.clear();
            }
            // The writer thread handles messages in order: once it answers
            // this, it has switched files and written the manifest of the
            // rewrite's start, which must not land after ours.
            let barrier = s.aof.writer.as_ref().and_then(|w| {
                let (tx, rx) = std::sync::mpsc::channel();
                w.tx.send(Msg::Barrier(tx)).ok().map(|_| rx)
            });
            Installer {
                barrier,
                convert: (!r.base_name.ends_with(".rdb"))
                    .then(|| (r.temp.with_extension("rdb"), r.temp.clone())),
                base: d.join(&r.base_name),
                job: ManifestJob {
                    dir: d,
                    name: manifest_name(&s),
                    manifest: m,
                },
                gc: !s.config.get_bool(Directive::AofDisableAutoGc),
            }
        })
    };
    let Some(plan) = plan else {
        return;
    };
    let installed = match result {
        Err(e) => Err(e),
        Ok(()) => {
            let (tx, rx) = tokio::sync::oneshot::channel();
            let spawned = std::thread::Builder::new()
                .name("aof-rewrite-done".into())
                .spawn(move || {
                    crate::os::background_thread_started(crate::os::ThreadKind::AofRewrite);
                    let _ = tx.send(plan.run());
                });
            match spawned {
                Ok(_) => rx
                    .await
                    .unwrap_or_else(|_| Err("the AOF rewrite thread died".into())),
                Err(e) => Err(e.to_string()),
            }
        }
    };
    finish(&mut srv.borrow_mut(), installed);
}

/// What installing a finished rewrite takes, run off the executor.
struct Installer {
    barrier: Option<std::sync::mpsc::Receiver<()>>,
    /// Without the RDB preamble: the snapshot to convert, and the temp
    /// file the commands go to.
    convert: Option<(PathBuf, PathBuf)>,
    base: PathBuf,
    job: ManifestJob,
    gc: bool,
}

impl Installer {
    /// Converts the base if needed, switches the manifest, deletes the
    /// history. Returns the manifest now on disk and the base's size.
    fn run(mut self) -> Result<(super::Manifest, u64), String> {
        if let Some(b) = self.barrier.take() {
            let _ = b.recv();
        }
        if let Some((src, tmp)) = &self.convert {
            let r = rdb_to_aof(src, tmp, &self.base);
            let _ = std::fs::remove_file(src);
            r?;
        }
        let size = std::fs::metadata(&self.base)
            .map_err(|e| format!("Can't stat the new AOF base {}: {e}", self.base.display()))?
            .len();
        log_notice!("Background AOF rewrite terminated with success");
        if let Err(e) = self.job.run() {
            let _ = std::fs::remove_file(&self.base);
            return Err(format!(
                "Can't persist the AOF manifest file {}: {e}",
                self.job.name
            ));
        }
        // The old files are history now: gone once the manifest that no
        // longer needs them is durable.
        if self.gc {
            let history = std::mem::take(&mut self.job.manifest.history);
            for h in &history {
                log_notice!("Removing the history file {} in the background", h.name);
                let _ = std::fs::remove_file(self.job.dir.join(&h.name));
            }
            if let Err(e) = self.job.run() {
                log_warning!("Can't persist the AOF manifest file {}: {e}", self.job.name);
            }
        }
        Ok((self.job.manifest, size))
    }
}

/// Records the outcome of a rewrite (the files are in place already when
/// it succeeded).
fn finish(srv: &mut Server, result: Result<(super::Manifest, u64), String>) {
    let Some(run) = srv.aof.rewrite.take() else {
        return;
    };
    srv.aof.last_rewrite_time_sec = run.started.elapsed().as_secs() as i64;
    srv.aof.last_cow_size = run.peak_pending;
    match result {
        Ok((m, size)) => {
            srv.aof.manifest = m;
            srv.aof.base_size = size;
            // The increments before the rewrite are history now.
            srv.aof.earlier_incr_size = 0;
            if let Some(w) = &srv.aof.writer {
                w.shared.earlier_size.store(0, Ordering::SeqCst);
            }
            if srv.aof.wait_rewrite {
                srv.aof.wait_rewrite = false;
                srv.aof.enabled = true;
            }
            srv.aof.rewrite_base_size = srv.aof.current_size();
            srv.aof.rewrites += 1;
            srv.aof.consecutive_failures = 0;
            srv.aof.last_rewrite_ok = true;
            log_notice!("Background AOF rewrite finished successfully");
        }
        Err(e) => {
            Snapshot::abort(&mut srv.dbs);
            let _ = std::fs::remove_file(&run.temp);
            let _ = std::fs::remove_file(run.temp.with_extension("rdb"));
            log_warning!("Background AOF rewrite terminated with error: {e}");
            srv.aof.last_rewrite_ok = false;
            srv.aof.consecutive_failures += 1;
            // Turning the AOF on needs a base: try again from the cron.
            if srv.aof.wait_rewrite {
                srv.aof.rewrite_scheduled = true;
            }
        }
    }
}

/// Writes the dataset as an AOF base at `path` now (the first base at
/// start-up): RDB format, or commands without the preamble. Returns its
/// size.
pub fn write_base_sync(srv: &mut Server, path: &Path, rdb: bool) -> Result<u64, String> {
    let a = aux(srv);
    let compress = srv.config.get_bool(Directive::Rdbcompression);
    let checksum = srv.config.get_bool(Directive::Rdbchecksum);
    let tmp = path.with_file_name(temp_name());
    let rdb_tmp = tmp.with_extension("rdb");
    let err = |e: std::io::Error| format!("Error writing the AOF base {}: {e}", path.display());
    let result = (|| -> Result<u64, String> {
        let f = std::fs::File::create(&rdb_tmp).map_err(err)?;
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
        let f = out.into_inner().map_err(|e| err(e.into_error()))?;
        f.sync_all().map_err(err)?;
        drop(f);
        if rdb {
            std::fs::rename(&rdb_tmp, path).map_err(err)?;
            fsync_dir(path);
            std::fs::metadata(path).map(|m| m.len()).map_err(err)
        } else {
            rdb_to_aof(&rdb_tmp, &tmp, path)
        }
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
/// without the preamble: `src` → `tmp` → fsync → rename to `dst`.
pub fn rdb_to_aof(src: &Path, tmp: &Path, dst: &Path) -> Result<u64, String> {
    let err = |e: &dyn std::fmt::Display| format!("Error converting the AOF base: {e}");
    let f = std::fs::File::open(src).map_err(|e| err(&e))?;
    let mut r =
        rdb::Reader::new(std::io::BufReader::with_capacity(1 << 16, f)).map_err(|e| err(&e))?;
    let out_f = std::fs::File::create(tmp).map_err(|e| err(&e))?;
    let mut out = std::io::BufWriter::with_capacity(1 << 16, out_f);
    let mut cmd = Vec::with_capacity(4096);
    let result = (|| -> Result<(), String> {
        while let Some(item) = r.next_item().map_err(|e| err(&e))? {
            cmd.clear();
            match item {
                rdb::Item::SelectDb(n) => {
                    put_cmd(&mut cmd, &[b"SELECT", n.to_string().as_bytes()]);
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
    let f = out.into_inner().map_err(|e| err(&e.into_error()))?;
    f.sync_all().map_err(|e| err(&e))?;
    let size = f.metadata().map(|m| m.len()).unwrap_or(0);
    drop(f);
    std::fs::rename(tmp, dst).map_err(|e| err(&e))?;
    fsync_dir(dst);
    Ok(size)
}
