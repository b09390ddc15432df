//! Loading the AOF at start-up (`appendonly yes`: the AOF wins over the
//! RDB, as in Redis) and again for `DEBUG LOADAOF`.
//!
//! Redis 7.0's order, which operators and the test suite observe through
//! the log and the files:
//! 1. The manifest is read (a missing `appenddirname` or manifest is an
//!    empty AOF); a broken one stops start-up with Redis's fatal block.
//! 2. An old single-file AOF (`appendfilename` in `dir`, from before
//!    Redis 7.0) is moved into `appenddirname` and listed as the base
//!    (`file appendonly.aof seq 1 type b`), unless a manifest already
//!    lists other files.
//! 3. Every listed file is checked to exist (with its size) before
//!    anything loads, so a missing file stops start-up with nothing
//!    touched.
//! 4. The base (RDB, RDB preamble plus commands, or commands) and then
//!    the incremental files are replayed. Commands go through the one
//!    dispatch path (`cmd::execute`) as a client marked "loading", as the
//!    replica link feeds its master's stream.
//!
//! A command cut short at the end of the last file is dropped with a
//! warning and the file truncated when `aof-load-truncated yes`; any other
//! damage stops start-up. Each failure is logged where it is found, with
//! Redis's words as the last line (Redis exits right after it, and the
//! test suite reads that line); our own line before it gives the offset
//! and the reason.

use super::manifest::{FileType, Manifest};
use super::parser::{has_rdb_preamble, AofError, CommandReader, Step};
use super::{dir, filename, manifest_name};
use crate::client::{Client, Kind};
use crate::config::Directive;
use crate::persistence::load::{load_rdb, LoadKind, Loading};
use crate::server::Server;
use crate::{log_notice, log_warning};
use std::cell::RefCell;
use std::io::{BufReader, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::Instant;

/// Commands executed between two event-loop turns while loading.
const BATCH: usize = 1024;

/// The AOF could not be loaded; the reason is in the log already.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failed;

/// `strerror` wording of an I/O error (no " (os error N)").
fn strerror(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.rfind(" (os error") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

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
            progress: Default::default(),
        });
    }
}

/// Reads the manifest from `appenddirname` into `srv.aof.manifest`, as
/// Redis does at every start (whether or not the AOF is on: turning it on
/// later continues the numbering) and for `DEBUG LOADAOF`. No directory
/// or no manifest is an empty manifest; a broken one is logged as Redis
/// logs it and is fatal.
pub fn read_manifest(srv: &mut Server) -> Result<(), Failed> {
    srv.aof.manifest = Manifest::default();
    let d = dir(srv);
    if !d.is_dir() {
        return Ok(());
    }
    let mname = manifest_name(srv);
    let mpath = d.join(&mname);
    if !mpath.exists() {
        return Ok(());
    }
    let text = std::fs::read(&mpath).map_err(|e| {
        log_warning!(
            "Fatal error: can't open the AOF manifest file {} for reading: {}",
            mpath.display(),
            strerror(&e)
        );
        Failed
    })?;
    srv.aof.manifest = Manifest::parse(&text).map_err(|e| {
        for line in e.report() {
            log_warning!("{line}");
        }
        Failed
    })?;
    Ok(())
}

/// Moves a single-file AOF from before Redis 7.0 (`appendfilename` in
/// `dir`) into `appenddirname` as the base of a new manifest, as Redis
/// 7.0 upgrades: when the directory does not exist, when the manifest
/// lists nothing, or when it lists only that base (an upgrade interrupted
/// before the move). The manifest is written before the move, so a crash
/// in between is finished by the next start.
fn upgrade_if_needed(srv: &mut Server) -> Result<(), Failed> {
    let name = filename(srv);
    let old = PathBuf::from(&name);
    if !old.is_file() {
        return Ok(());
    }
    let d = dir(srv);
    let m = &srv.aof.manifest;
    let interrupted = m.incrs.is_empty()
        && m.base.as_ref().is_some_and(|b| b.name == name)
        && !d.join(&name).exists();
    let nothing_listed = m.base.is_none() && m.incrs.is_empty();
    if d.is_dir() && !nothing_listed && !interrupted {
        return Ok(());
    }
    if let Err(e) = std::fs::create_dir_all(&d) {
        log_warning!(
            "Can't open or create append-only dir {}: {}",
            d.display(),
            strerror(&e)
        );
        return Err(Failed);
    }
    let m = &mut srv.aof.manifest;
    m.base = Some(super::manifest::AofFile {
        name: name.clone(),
        seq: 1,
        kind: FileType::Base,
    });
    m.base_seq = 1;
    super::persist_manifest(srv).map_err(|_| Failed)?;
    if let Err(e) = std::fs::rename(&old, d.join(&name)) {
        log_warning!(
            "Error trying to move the old AOF file {name} into dir {}: {}",
            d.display(),
            strerror(&e)
        );
        return Err(Failed);
    }
    log_notice!(
        "Successfully migrated an old-style AOF file ({name}) into the AOF directory ({}).",
        d.display()
    );
    Ok(())
}

/// Deletes the history files the manifest still lists (a rewrite's
/// leftovers), unless `aof-disable-auto-gc yes`, and writes the manifest
/// without them.
pub fn delete_history(srv: &mut Server) {
    if srv.config.get_bool(Directive::AofDisableAutoGc) || srv.aof.manifest.history.is_empty() {
        return;
    }
    let d = dir(srv);
    for h in std::mem::take(&mut srv.aof.manifest.history) {
        log_notice!("Removing the history file {} in the background", h.name);
        let _ = std::fs::remove_file(d.join(&h.name));
    }
    let _ = super::persist_manifest(srv);
}

/// The files of the manifest to replay, each checked to exist, with its
/// size; None when the manifest lists nothing.
struct Plan {
    dir: PathBuf,
    files: Vec<(super::manifest::AofFile, u64)>,
    total: u64,
    /// `appendfilename`: the name of an upgraded single-file AOF.
    old_style: String,
    truncate_ok: bool,
}

impl Plan {
    /// The `i`-th file to replay and how to judge its end.
    fn file(&self, i: usize) -> FileToLoad<'_> {
        let name = &self.files[i].0.name;
        FileToLoad {
            path: self.dir.join(name),
            name,
            old_style: *name == self.old_style,
            last: i + 1 == self.files.len(),
            truncate_ok: self.truncate_ok,
        }
    }
}

fn plan(srv: &Server) -> Result<Option<Plan>, Failed> {
    let d = dir(srv);
    let m = &srv.aof.manifest;
    if m.base.is_none() && m.incrs.is_empty() {
        return Ok(None);
    }
    let mut files = Vec::new();
    for f in m.load_order() {
        let md = std::fs::metadata(d.join(&f.name)).map_err(|e| {
            log_warning!(
                "Unable to obtain the AOF file {} length. stat: {}",
                f.name,
                strerror(&e)
            );
            Failed
        })?;
        files.push((f.clone(), md.len()));
    }
    let total = files.iter().map(|(_, n)| n).sum();
    Ok(Some(Plan {
        dir: d,
        files,
        total,
        old_style: filename(srv),
        truncate_ok: srv.config.get_bool(Directive::AofLoadTruncated),
    }))
}

/// Loads the AOF at start-up, then opens it for appending.
pub async fn load_at_startup(srv: Rc<RefCell<Server>>) -> Result<(), Failed> {
    let loaded = load_files(&srv).await;
    let mut s = srv.borrow_mut();
    s.persist.loading = None;
    let base_size = loaded?;
    // What was just loaded is on disk already.
    s.dirty = 0;
    super::open_at_startup(&mut s, base_size)?;
    delete_history(&mut s);
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
        progress: Default::default(),
    });
}

fn log_file_loaded(f: &super::manifest::AofFile, t0: Instant) {
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

/// Reads the manifest (upgrading an old single-file AOF) and loads every
/// file it lists, between event-loop turns. Returns the base's size.
async fn load_files(srv: &Rc<RefCell<Server>>) -> Result<u64, Failed> {
    let plan = {
        let mut s = srv.borrow_mut();
        read_manifest(&mut s)?;
        upgrade_if_needed(&mut s)?;
        plan(&s)?
    };
    let Some(plan) = plan else {
        return Ok(0);
    };
    let started = Instant::now();
    let mut done = 0;
    for (i, (f, size)) in plan.files.iter().enumerate() {
        let t0 = Instant::now();
        set_loading(srv, plan.total, done, started);
        load_one(srv, &plan.file(i), done, plan.total).await?;
        done += size;
        log_file_loaded(f, t0);
    }
    log_all_loaded(started);
    Ok(base_size(&plan))
}

fn base_size(plan: &Plan) -> u64 {
    plan.files
        .iter()
        .find(|(f, _)| f.kind == FileType::Base)
        .map_or(0, |(_, n)| *n)
}

/// `DEBUG LOADAOF`: empties the dataset and loads the AOF files again, all
/// at once (Redis blocks for the whole load too), after reading the
/// manifest from disk again and deleting its history files. Nothing
/// loaded is propagated: the commands come from the AOF itself.
pub fn reload_sync(srv: &mut Server) -> Result<(), Failed> {
    // What the AOF still buffers goes to disk first, to be loaded too.
    if srv.aof.enabled {
        srv.aof.sync_all();
    }
    for db in &mut srv.dbs {
        db.clear();
    }
    srv.scripting.functions.flush();
    read_manifest(srv)?;
    delete_history(srv);
    upgrade_if_needed(srv)?;
    let Some(plan) = plan(srv)? else {
        return Ok(());
    };
    let started = Instant::now();
    srv.persist.loading = Some(Loading {
        start_secs: srv.now_ms / 1000,
        total_bytes: plan.total,
        loaded_bytes: 0,
        started,
        progress: Default::default(),
    });
    srv.journal.muted = true;
    let mut result = Ok(());
    for (i, (f, _)) in plan.files.iter().enumerate() {
        let t0 = Instant::now();
        result = load_one_sync(srv, &plan.file(i));
        if result.is_err() {
            break;
        }
        log_file_loaded(f, t0);
    }
    srv.journal.muted = false;
    srv.persist.loading = None;
    srv.dirty = 0;
    result?;
    log_all_loaded(started);
    Ok(())
}

/// One file to replay and how to judge its end.
struct FileToLoad<'a> {
    path: PathBuf,
    name: &'a str,
    /// The single-file AOF of before Redis 7.0 (Redis words its log
    /// lines differently for it).
    old_style: bool,
    last: bool,
    truncate_ok: bool,
}

impl FileToLoad<'_> {
    /// The size of the file, or 0 for an empty file (nothing to load),
    /// and whether it starts with an RDB preamble.
    fn open_facts(&self) -> Result<(u64, bool), Failed> {
        let size = std::fs::metadata(&self.path)
            .map_err(|e| {
                log_warning!(
                    "Unable to obtain the AOF file {} length. stat: {}",
                    self.name,
                    strerror(&e)
                );
                Failed
            })?
            .len();
        if size == 0 {
            return Ok((0, false));
        }
        let preamble = has_rdb_preamble(&self.path).map_err(|e| self.open_error(&e))?;
        if preamble {
            if self.old_style {
                log_notice!("Reading RDB preamble from AOF file...");
            } else {
                log_notice!("Reading RDB base file on AOF loading...");
            }
        }
        Ok((size, preamble))
    }

    fn open_error(&self, e: &std::io::Error) -> Failed {
        log_warning!(
            "Fatal error: can't open the append log file {} for reading: {}",
            self.name,
            strerror(e)
        );
        Failed
    }

    fn preamble_error(&self, e: String) -> Failed {
        log_warning!("{e}");
        if self.old_style {
            log_warning!(
                "Error reading the RDB preamble of the AOF file {}, AOF loading aborted",
                self.name
            );
        } else {
            log_warning!(
                "Error reading the RDB base file {}, AOF loading aborted",
                self.name
            );
        }
        Failed
    }

    fn tail_follows(&self) {
        if self.old_style {
            log_notice!("Reading the remaining AOF tail...");
        }
    }
}

/// Loads one file: an RDB (preamble) if it starts with one, then
/// commands.
async fn load_one(
    srv: &Rc<RefCell<Server>>,
    file: &FileToLoad<'_>,
    done_before: u64,
    total: u64,
) -> Result<(), Failed> {
    let (size, preamble) = file.open_facts()?;
    if size == 0 {
        return Ok(());
    }
    let mut offset = 0;
    if preamble {
        let started = srv.borrow().persist.loading.as_ref().map(|l| l.started);
        offset = load_rdb(srv, &file.path, size, LoadKind::AofBase)
            .await
            .map_err(|e| file.preamble_error(e))?;
        set_loading(
            srv,
            total,
            done_before + offset,
            started.unwrap_or_else(Instant::now),
        );
        if offset >= size {
            return Ok(());
        }
        file.tail_follows();
    }
    let mut replay = {
        let s = srv.borrow();
        Replay::open(&s, file, offset)?
    };
    loop {
        {
            let mut s = srv.borrow_mut();
            let done = replay.step(&mut s, BATCH);
            let notify = crate::sdnotify::enabled(&s);
            if let Some(l) = s.persist.loading.as_mut() {
                l.loaded_bytes = done_before + replay.reader.offset();
                l.report("AOF", notify);
            }
            if let Some(outcome) = done {
                return replay.finish(outcome);
            }
        }
        tokio::task::yield_now().await;
    }
}

/// [`load_one`] run to its end without yielding (`DEBUG LOADAOF`).
fn load_one_sync(srv: &mut Server, file: &FileToLoad<'_>) -> Result<(), Failed> {
    let (size, preamble) = file.open_facts()?;
    if size == 0 {
        return Ok(());
    }
    let mut offset = 0;
    if preamble {
        offset = crate::persistence::load::load_path_sync(srv, &file.path, LoadKind::AofBase)
            .map_err(|e| file.preamble_error(e))?;
        if offset >= size {
            return Ok(());
        }
        file.tail_follows();
    }
    let mut replay = Replay::open(srv, file, offset)?;
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
    /// A command no server knows: loading cannot go on.
    UnknownCommand(String),
}

/// Feeding the commands of one file through the dispatch path, a batch at
/// a time, as a client marked "loading" (kind master: no OOM or
/// min-replicas refusals, nothing propagated).
struct Replay<'f, 'n> {
    file: &'f FileToLoad<'n>,
    reader: CommandReader<BufReader<std::fs::File>>,
    client: Client,
    /// Where a MULTI began that has no EXEC yet: a file ending inside a
    /// transaction is cut back to before it.
    before_multi: Option<u64>,
}

impl<'f, 'n> Replay<'f, 'n> {
    fn open(s: &Server, file: &'f FileToLoad<'n>, offset: u64) -> Result<Replay<'f, 'n>, Failed> {
        let mut f = std::fs::File::open(&file.path).map_err(|e| file.open_error(&e))?;
        f.seek(SeekFrom::Start(offset))
            .map_err(|e| file.open_error(&e))?;
        let mut client = Client::new(u64::MAX, s.now_ms);
        client.kind = Kind::Master;
        client.authenticated = true;
        client.loading = true;
        Ok(Replay {
            file,
            reader: CommandReader::new(BufReader::with_capacity(1 << 16, f), offset),
            client,
            before_multi: None,
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
                        log_warning!("AOF {}: unknown command at offset {start}", self.file.name);
                        return Some(Err(Stop::UnknownCommand(
                            String::from_utf8_lossy(cmd).into_owned(),
                        )));
                    }
                    if cmd.eq_ignore_ascii_case(b"multi") {
                        self.before_multi = Some(start);
                    } else if cmd.eq_ignore_ascii_case(b"exec") {
                        self.before_multi = None;
                    }
                    let errors = s.stats.total_error_replies;
                    crate::cmd::execute(s, &mut self.client, argv);
                    // Logged, counted, and fatal under
                    // `propagation-error-behavior panic`.
                    if s.stats.total_error_replies != errors {
                        let name = String::from_utf8_lossy(cmd).to_ascii_lowercase();
                        crate::cmd::error_to_master(
                            s,
                            crate::cmd::ErrorTo::AofLoader,
                            &self.client.out.buf,
                            &name,
                        );
                    }
                    self.client.out.buf.clear();
                }
                Err(e) => return Some(Err(Stop::Damaged(e))),
            }
        }
        None
    }

    /// What the end of the file means: fine, a tail to drop (and truncate)
    /// under `aof-load-truncated yes`, or a broken file. The last line
    /// logged on failure is Redis's.
    fn finish(self, outcome: Result<(), Stop>) -> Result<(), Failed> {
        let file = self.file;
        let name = file.name;
        let err = match outcome {
            Ok(()) => match self.before_multi {
                None => return Ok(()),
                Some(at) => {
                    log_warning!("Revert incomplete MULTI/EXEC transaction in AOF file {name}");
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
            Err(Stop::UnknownCommand(cmd)) => {
                log_warning!("Unknown command '{cmd}' reading the append only file {name}");
                return Err(Failed);
            }
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
            log_warning!("Bad file format reading the append only file {name}: make a backup of your AOF file, then use redoubt check-aof --fix <filename.manifest>");
            return Err(Failed);
        }
        if !file.truncate_ok {
            log_warning!("Unexpected end of file reading the append only file {name}. You can: 1) Make a backup of your AOF file, then use redoubt check-aof --fix <filename.manifest>. 2) Alternatively you can set the 'aof-load-truncated' configuration option to yes and restart the server.");
            return Err(Failed);
        }
        // Redis truncates first and refuses after; we refuse before
        // touching a file that is not the last one.
        if !file.last {
            log_warning!("Fatal error: the truncated file is not the last file");
            return Err(Failed);
        }
        log_warning!("!!! Warning: short read while loading the AOF file {name}!!!");
        log_warning!(
            "!!! Truncating the AOF {name} at offset {} !!!",
            err.valid_up_to
        );
        let truncated = std::fs::OpenOptions::new()
            .write(true)
            .open(&file.path)
            .and_then(|f| {
                f.set_len(err.valid_up_to)?;
                f.sync_all()
            });
        if let Err(e) = truncated {
            log_warning!("Error truncating the AOF file {name}: {}", strerror(&e));
            log_warning!("Unexpected end of file reading the append only file {name}. You can: 1) Make a backup of your AOF file, then use redoubt check-aof --fix <filename.manifest>. 2) Alternatively you can set the 'aof-load-truncated' configuration option to yes and restart the server.");
            return Err(Failed);
        }
        log_warning!("AOF {name} loaded anyway because aof-load-truncated is enabled");
        Ok(())
    }
}
