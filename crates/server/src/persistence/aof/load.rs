//! Loading the AOF at start-up (`appendonly yes`: the AOF wins over the
//! RDB, as in Redis).
//!
//! The manifest names a base and incremental files; every one of them is
//! checked to exist before anything loads, so a missing file stops
//! start-up with its name and nothing touched. An RDB base (or an RDB
//! preamble) goes through the RDB loader; commands are fed through the
//! one dispatch path (`cmd::execute`) as a client marked "loading", as the
//! replica link feeds its master's stream. A command cut short at the end
//! of the last file is dropped with a warning and the file truncated when
//! `aof-load-truncated yes`; any other damage stops start-up with the
//! file, the offset and the reason, the files untouched.

use super::manifest::{FileType, Manifest};
use super::parser::{has_rdb_preamble, AofError, CommandReader, Step};
use super::{dir, filename, manifest_name};
use crate::client::{Client, Kind};
use crate::config::Directive;
use crate::persistence::load::{load_rdb, Loading};
use crate::server::Server;
use crate::{log_notice, log_warning};
use std::cell::RefCell;
use std::io::{BufReader, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::Instant;

/// Commands executed between two event-loop turns while loading.
const BATCH: usize = 1024;

/// Marks the server as loading when there is an AOF to load, before the
/// listeners open.
pub fn prepare(srv: &mut Server) {
    let m = dir(srv).join(manifest_name(srv));
    if m.exists() || Path::new(&filename(srv)).exists() {
        srv.persist.loading = Some(Loading {
            start_secs: srv.now_ms / 1000,
            total_bytes: 0,
            loaded_bytes: 0,
            started: Instant::now(),
        });
    }
}

/// Loads the AOF, then opens it for appending.
pub async fn load_at_startup(srv: Rc<RefCell<Server>>) -> Result<(), String> {
    let loaded = load_files(&srv).await;
    let mut s = srv.borrow_mut();
    s.persist.loading = None;
    let manifest = loaded?;
    // What was just loaded is on disk already.
    s.dirty = 0;
    super::open_at_startup(&mut s, manifest)?;
    s.aof.ready = true;
    Ok(())
}

fn set_loading(srv: &Rc<RefCell<Server>>, total: u64, loaded: u64, started: Instant) {
    let mut s = srv.borrow_mut();
    let start_secs = s.now_ms / 1000;
    s.persist.loading = Some(Loading {
        start_secs,
        total_bytes: total,
        loaded_bytes: loaded,
        started,
    });
}

/// What there is to load: nothing, an old single-file AOF, or the files
/// a manifest lists (each checked to exist, with its size).
enum Plan {
    Nothing,
    OldStyle {
        path: PathBuf,
        name: String,
        size: u64,
    },
    Manifest {
        dir: PathBuf,
        manifest: Manifest,
        files: Vec<(AofInfo, u64)>,
    },
}

type AofInfo = super::manifest::AofFile;

/// Reads the manifest (or finds an old single-file AOF) and checks that
/// every file is there before anything loads.
fn plan(s: &Server) -> Result<Plan, String> {
    let (d, mname, fname) = (dir(s), manifest_name(s), filename(s));
    let mpath = d.join(&mname);
    if !mpath.exists() {
        // A single-file AOF from before Redis 7.0, in `dir`: loaded as
        // is; a new multi-part AOF starts from the loaded dataset.
        let old = PathBuf::from(&fname);
        if !old.exists() {
            return Ok(Plan::Nothing);
        }
        let size = std::fs::metadata(&old).map(|m| m.len()).unwrap_or(0);
        return Ok(Plan::OldStyle {
            path: old,
            name: fname,
            size,
        });
    }
    let text = std::fs::read_to_string(&mpath)
        .map_err(|e| format!("Fatal error: can't read the AOF manifest file {mname}: {e}"))?;
    let m = Manifest::parse(&text).map_err(|e| {
        log_warning!(
            "*** FATAL AOF MANIFEST FILE ERROR *** in {}",
            mpath.display()
        );
        format!(
            "{e}. Check the manifest (redoubt check-aof {}); nothing was changed.",
            mpath.display()
        )
    })?;
    let mut files = Vec::new();
    for f in m.load_order() {
        let md = std::fs::metadata(d.join(&f.name)).map_err(|e| {
            format!(
                "Unable to obtain the AOF file {} length. stat: {e} (listed in {}; nothing was changed)",
                f.name, mname
            )
        })?;
        files.push((f.clone(), md.len()));
    }
    Ok(Plan::Manifest {
        dir: d,
        manifest: m,
        files,
    })
}

fn log_file_loaded(f: &AofInfo, t0: Instant) {
    let what = if f.kind == FileType::Base {
        "base"
    } else {
        "incr"
    };
    log_notice!(
        "DB loaded from {what} file {}: {:.3} seconds",
        f.name,
        t0.elapsed().as_secs_f64()
    );
}

fn log_all_loaded(started: Instant) {
    log_notice!(
        "DB loaded from append only file: {:.3} seconds",
        started.elapsed().as_secs_f64()
    );
}

/// Reads the manifest and loads every file it lists, between event-loop
/// turns. Returns the manifest (None when there was no multi-part AOF).
async fn load_files(srv: &Rc<RefCell<Server>>) -> Result<Option<Manifest>, String> {
    let (plan, truncate_ok) = {
        let s = srv.borrow();
        (plan(&s)?, s.config.get_bool(Directive::AofLoadTruncated))
    };
    let started = Instant::now();
    match plan {
        Plan::Nothing => Ok(None),
        Plan::OldStyle { path, name, size } => {
            log_notice!("Loading the old-style append only file {name}; a new AOF directory is created from it");
            set_loading(srv, size, 0, started);
            load_one(srv, &path, &name, 0, size, true, truncate_ok).await?;
            log_all_loaded(started);
            Ok(None)
        }
        Plan::Manifest {
            dir,
            manifest,
            files,
        } => {
            let total: u64 = files.iter().map(|(_, n)| n).sum();
            let mut done = 0;
            for (i, (f, size)) in files.iter().enumerate() {
                let last = i + 1 == files.len();
                let t0 = Instant::now();
                set_loading(srv, total, done, started);
                load_one(
                    srv,
                    &dir.join(&f.name),
                    &f.name,
                    done,
                    total,
                    last,
                    truncate_ok,
                )
                .await?;
                done += size;
                log_file_loaded(f, t0);
            }
            log_all_loaded(started);
            Ok(Some(manifest))
        }
    }
}

/// `DEBUG LOADAOF`: empties the dataset and loads the AOF files again, all
/// at once (Redis blocks for the whole load too). Nothing loaded is
/// propagated: the commands come from the AOF itself.
pub fn reload_sync(srv: &mut Server) -> Result<(), String> {
    let truncate_ok = srv.config.get_bool(Directive::AofLoadTruncated);
    let started = Instant::now();
    // What the AOF still buffers goes to disk first, to be loaded too.
    if srv.aof.enabled {
        srv.aof.sync_all();
    }
    for db in &mut srv.dbs {
        db.clear();
    }
    srv.scripting.functions.flush();
    srv.journal.muted = true;
    let loaded = reload_files(srv, truncate_ok, started);
    srv.journal.muted = false;
    srv.dirty = 0;
    loaded
}

fn reload_files(srv: &mut Server, truncate_ok: bool, started: Instant) -> Result<(), String> {
    match plan(srv)? {
        Plan::Nothing => {}
        Plan::OldStyle { path, name, .. } => {
            load_one_sync(srv, &path, &name, true, truncate_ok)?;
            log_all_loaded(started);
        }
        Plan::Manifest { dir, files, .. } => {
            for (i, (f, _)) in files.iter().enumerate() {
                let t0 = Instant::now();
                let last = i + 1 == files.len();
                load_one_sync(srv, &dir.join(&f.name), &f.name, last, truncate_ok)?;
                log_file_loaded(f, t0);
            }
            log_all_loaded(started);
        }
    }
    Ok(())
}

/// The size of `path`, or 0 for an empty file (nothing to load), and
/// whether it starts with an RDB preamble.
fn open_facts(path: &Path, name: &str) -> Result<(u64, bool), String> {
    let size = std::fs::metadata(path)
        .map_err(|e| format!("Unable to obtain the AOF file {name} length. stat: {e}"))?
        .len();
    if size == 0 {
        return Ok((0, false));
    }
    let preamble = has_rdb_preamble(path).map_err(|e| {
        format!("Fatal error: can't open the append log file {name} for reading: {e}")
    })?;
    Ok((size, preamble))
}

fn preamble_err(name: &str, e: String) -> String {
    format!("Error reading the RDB base file {name}, AOF loading aborted: {e}")
}

/// Loads one file: an RDB (preamble) if it starts with one, then
/// commands.
async fn load_one(
    srv: &Rc<RefCell<Server>>,
    path: &Path,
    name: &str,
    done_before: u64,
    total: u64,
    last: bool,
    truncate_ok: bool,
) -> Result<(), String> {
    let (size, preamble) = open_facts(path, name)?;
    if size == 0 {
        return Ok(());
    }
    let mut offset = 0;
    if preamble {
        log_notice!("Reading RDB base file on AOF loading...");
        let started = srv.borrow().persist.loading.as_ref().map(|l| l.started);
        offset = load_rdb(srv, path, size)
            .await
            .map_err(|e| preamble_err(name, e))?;
        set_loading(
            srv,
            total,
            done_before + offset,
            started.unwrap_or_else(Instant::now),
        );
        if offset >= size {
            return Ok(());
        }
        log_notice!("Reading the remaining AOF tail...");
    }
    let mut replay = {
        let s = srv.borrow();
        Replay::open(&s, path, name, offset, last, truncate_ok)?
    };
    loop {
        {
            let mut s = srv.borrow_mut();
            let done = replay.step(&mut s, BATCH);
            if let Some(l) = s.persist.loading.as_mut() {
                l.loaded_bytes = done_before + replay.reader.offset();
            }
            if let Some(outcome) = done {
                return replay.finish(outcome);
            }
        }
        tokio::task::yield_now().await;
    }
}

/// [`load_one`] run to its end without yielding (`DEBUG LOADAOF`).
fn load_one_sync(
    srv: &mut Server,
    path: &Path,
    name: &str,
    last: bool,
    truncate_ok: bool,
) -> Result<(), String> {
    let (size, preamble) = open_facts(path, name)?;
    if size == 0 {
        return Ok(());
    }
    let mut offset = 0;
    if preamble {
        offset = crate::persistence::load::load_path_sync(srv, path)
            .map_err(|e| preamble_err(name, e))?;
        if offset >= size {
            return Ok(());
        }
    }
    let mut replay = Replay::open(srv, path, name, offset, last, truncate_ok)?;
    loop {
        if let Some(outcome) = replay.step(srv, BATCH) {
            return replay.finish(outcome);
        }
    }
}

/// Why a replay stopped before the end of its file.
enum Stop {
    /// The file is damaged at some offset (maybe only a cut-off tail).
    Damaged(AofError),
    /// Loading cannot go on (an unknown command).
    Fatal(String),
}

/// Feeding the commands of one file through the dispatch path, a batch at
/// a time, as a client marked "loading" (kind master: no OOM or
/// min-replicas refusals, nothing propagated).
struct Replay<'p> {
    path: &'p Path,
    name: &'p str,
    reader: CommandReader<BufReader<std::fs::File>>,
    client: Client,
    /// Where a MULTI began that has no EXEC yet: a file ending inside a
    /// transaction is cut back to before it.
    before_multi: Option<u64>,
    last: bool,
    truncate_ok: bool,
}

impl<'p> Replay<'p> {
    fn open(
        s: &Server,
        path: &'p Path,
        name: &'p str,
        offset: u64,
        last: bool,
        truncate_ok: bool,
    ) -> Result<Replay<'p>, String> {
        let open_err = |e: std::io::Error| {
            format!("Fatal error: can't open the append log file {name} for reading: {e}")
        };
        let mut f = std::fs::File::open(path).map_err(open_err)?;
        f.seek(SeekFrom::Start(offset)).map_err(open_err)?;
        let mut client = Client::new(u64::MAX, s.now_ms);
        client.kind = Kind::Master;
        client.authenticated = true;
        client.loading = true;
        Ok(Replay {
            path,
            name,
            reader: CommandReader::new(BufReader::with_capacity(1 << 16, f), offset),
            client,
            before_multi: None,
            last,
            truncate_ok,
        })
    }

    /// Runs up to `n` commands; `Some` once the file ended or broke (an
    /// unknown command is fatal at once, as Redis refuses it).
    fn step(&mut self, s: &mut Server, n: usize) -> Option<Result<(), Stop>> {
        for _ in 0..n {
            let start = self.reader.offset();
            match self.reader.next_step() {
                Ok(Step::Eof) => return Some(Ok(())),
                Ok(Step::Annotation(_)) => {}
                Ok(Step::Command) => {
                    let argv = self.reader.args();
                    let cmd = argv.get(0);
                    if s.commands.lookup(cmd).is_none() {
                        return Some(Err(Stop::Fatal(format!(
                            "Unknown command '{}' reading the append only file {} at offset {start}",
                            String::from_utf8_lossy(cmd),
                            self.name
                        ))));
                    }
                    if cmd.eq_ignore_ascii_case(b"multi") {
                        self.before_multi = Some(start);
                    } else if cmd.eq_ignore_ascii_case(b"exec") {
                        self.before_multi = None;
                    }
                    crate::cmd::execute(s, &mut self.client, argv);
                    let out = &mut self.client.out.buf;
                    if out.first() == Some(&b'-') {
                        let reply = String::from_utf8_lossy(&out[1..]);
                        log_warning!(
                            "== CRITICAL == This server is sending an error to its AOF-loading-client: '{}' after processing the command '{}'",
                            reply.trim_end(),
                            String::from_utf8_lossy(cmd).to_ascii_lowercase()
                        );
                    }
                    out.clear();
                }
                Err(e) => return Some(Err(Stop::Damaged(e))),
            }
        }
        None
    }

    /// What the end of the file means: fine, a tail to drop (and truncate)
    /// under `aof-load-truncated yes`, or a broken file.
    fn finish(self, outcome: Result<(), Stop>) -> Result<(), String> {
        let name = self.name;
        let err = match outcome {
            Ok(()) => match self.before_multi {
                None => return Ok(()),
                Some(at) => {
                    log_notice!("Revert incomplete MULTI/EXEC transaction in AOF file {name}");
                    AofError {
                        truncated: true,
                        valid_up_to: at,
                        at: self.reader.offset(),
                        line: self.reader.line_no(),
                        reason: "MULTI without EXEC at the end of the file".into(),
                        not_a_command: false,
                    }
                }
            },
            Err(Stop::Fatal(why)) => return Err(why),
            Err(Stop::Damaged(mut e)) => {
                if let Some(at) = self.before_multi {
                    e.valid_up_to = at;
                }
                e
            }
        };
        log_warning!(
            "AOF {name}: {} at offset {}; the last whole command ends at offset {}",
            err.reason,
            err.at,
            err.valid_up_to
        );
        if !err.truncated {
            return Err(format!(
                "Bad file format reading the append only file {name}: make a backup of your AOF file, then use redoubt check-aof --fix <filename.manifest>"
            ));
        }
        if !self.truncate_ok {
            return Err(format!(
                "Unexpected end of file reading the append only file {name}. You can: 1) Make a backup of your AOF file, then use redoubt check-aof --fix <filename.manifest>. 2) Alternatively you can set the 'aof-load-truncated' configuration option to yes and restart the server."
            ));
        }
        if !self.last {
            return Err(format!(
                "Fatal error: the truncated file {name} is not the last file"
            ));
        }
        log_warning!("!!! Warning: short read while loading the AOF file {name}!!!");
        log_warning!(
            "!!! Truncating the AOF {name} at offset {} !!!",
            err.valid_up_to
        );
        let truncated = std::fs::OpenOptions::new()
            .write(true)
            .open(self.path)
            .and_then(|f| {
                f.set_len(err.valid_up_to)?;
                f.sync_all()
            });
        if let Err(e) = truncated {
            return Err(format!("Error truncating the AOF file {name}: {e}"));
        }
        log_warning!("AOF {name} loaded anyway because aof-load-truncated is enabled");
        Ok(())
    }
}
