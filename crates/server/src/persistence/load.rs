//! Loading an RDB file at start-up.
//!
//! A background thread parses the file into batches of items; the executor
//! inserts each batch between event-loop turns. Meanwhile the listeners
//! are open and commands not flagged `loading` get Redis's `-LOADING`
//! error, as during Redis's own load. A broken file stops the server with
//! the file, the offset and the reason, then a check of the whole file (as
//! Redis runs redis-check-rdb), leaving the file untouched.
//!
//! Values are checked as `sanitize-dump-payload` says (see
//! [`sanitize_policy`]); keys holding an empty collection are skipped with
//! a warning, as Redis 7.0 skips them.

use super::convert::to_value;
use crate::client::Client;
use crate::config::Directive;
use crate::server::Server;
use crate::{log_notice, log_warning};
use rdb::{Item, Reader};
use std::cell::RefCell;
use std::rc::Rc;
use std::time::Instant;

/// Items per batch handed from the parser thread to the executor.
const BATCH: usize = 1000;

/// Progress of a load, for `INFO persistence`.
#[derive(Debug, Clone)]
pub struct Loading {
    pub start_secs: i64,
    pub total_bytes: u64,
    pub loaded_bytes: u64,
    pub started: Instant,
    /// Progress lines in the log (and systemd's status) while it lasts.
    pub progress: super::progress::Progress,
}

impl Loading {
    /// Logs progress every few seconds and tells systemd (`STATUS=`).
    /// `what`: "RDB" or "AOF".
    pub fn report(&mut self, what: &str, notify: bool) {
        let what = format!("Loading {what}");
        if let Some(l) = self
            .progress
            .due(&what, self.loaded_bytes, self.total_bytes)
        {
            log_notice!("{l}");
            if notify {
                crate::sdnotify::notify(&format!("STATUS={l}\n"));
            }
        }
    }
}

/// The executor's end of [`Batches`].
enum Received {
    Async(tokio::sync::mpsc::Receiver<Msg>),
    Blocking(std::sync::mpsc::Receiver<Msg>),
}

impl Received {
    /// The next batch; the blocking form holds the thread meanwhile.
    async fn recv(&mut self) -> Option<Msg> {
        match self {
            Received::Async(rx) => rx.recv().await,
            Received::Blocking(rx) => rx.recv().ok(),
        }
    }
}

enum Msg {
    Items(Vec<Item>, u64),
    /// The end of the RDB, at this offset (an AOF tail may follow).
    Done(u64),
    Failed(String),
}

/// Why a file could not be loaded, with where.
fn describe(path: &std::path::Path, e: &rdb::RdbError) -> String {
    format!(
        "Error loading {} at offset {}: {}",
        path.display(),
        e.offset,
        e.kind
    )
}

/// How values are checked as they load. Redis 7.0's rule: a deep check
/// under `sanitize-dump-payload yes`; under `clients`, a deep check for a
/// RESTORE from an ordinary client only — not while loading a file or a
/// full sync, not for the master's stream, not for a user with
/// `skip-sanitize-payload`; under `no`, the shallow checks Redis always
/// makes. `restore_by` is the client running RESTORE, None when loading.
pub fn sanitize_policy(srv: &Server, restore_by: Option<&Client>) -> rdb::Sanitize {
    let mode = srv.config.get_str(Directive::SanitizeDumpPayload);
    let deep = match (mode.as_str(), restore_by) {
        ("yes", _) => true,
        ("clients", Some(c)) => {
            let skip_user = c
                .acl_user
                .as_ref()
                .is_some_and(|u| matches!(u.borrow().sanitize, crate::acl::user::Sanitize::Skip));
            !c.is_master() && !skip_user
        }
        _ => false,
    };
    let l = &srv.encoding_limits;
    rdb::Sanitize {
        deep,
        hash_max_listpack_entries: l.hash_max_listpack_entries as u64,
        hash_max_listpack_value: l.hash_max_listpack_value as u64,
        zset_max_listpack_entries: l.zset_max_listpack_entries as u64,
        set_max_intset_entries: l.set_max_intset_entries as u64,
    }
}

/// What the parser thread is told: its batches' bounds and the
/// per-key `key-load-delay`.
struct ParseJob {
    path: std::path::PathBuf,
    /// `loading-process-events-interval-bytes`: a batch goes to the
    /// executor at least this often, so clients get their `-LOADING`.
    interval_bytes: u64,
    key_load_delay: i64,
    sanitize: rdb::Sanitize,
}

/// Where the parser thread's batches go.
enum Batches {
    /// To an executor that waits for them without blocking.
    Async(tokio::sync::mpsc::Sender<Msg>),
    /// To an executor blocked on them (see [`Pacing::Blocking`]).
    Blocking(std::sync::mpsc::SyncSender<Msg>),
}

/// How a load shares the event loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pacing {
    /// Other work runs whenever the loader waits for the parser thread.
    Async,
    /// The load holds the event loop and lets other work run only after
    /// each `loading-process-events-interval-bytes` of the file, as
    /// Redis's loader calls `processEventsWhileBlocked`: a small file
    /// loads with no client served meanwhile (no `-LOADING` seen), a large
    /// or slow one (`key-load-delay`) still answers INFO and the bus.
    Blocking,
}

fn parse_thread(job: ParseJob, tx: Batches) {
    let ParseJob {
        path,
        interval_bytes,
        key_load_delay,
        sanitize,
    } = job;
    let send = |m: Msg| match &tx {
        Batches::Async(tx) => tx.blocking_send(m).is_ok(),
        Batches::Blocking(tx) => tx.send(m).is_ok(),
    };
    let file = match std::fs::File::open(&path) {
        Ok(f) => f,
        Err(e) => {
            send(Msg::Failed(format!(
                "Error opening {}: {e}",
                path.display()
            )));
            return;
        }
    };
    let mut r = match Reader::new(std::io::BufReader::with_capacity(1 << 16, file)) {
        Ok(r) => r.with_sanitize(sanitize),
        Err(e) => {
            send(Msg::Failed(describe(&path, &e)));
            return;
        }
    };
    let mut batch = Vec::with_capacity(BATCH);
    let mut sent_at = r.offset();
    loop {
        match r.next_item() {
            Ok(Some(item)) => {
                if matches!(item, Item::Entry { .. }) {
                    super::pace::key_load_delay(key_load_delay);
                }
                batch.push(item);
                let due = batch.len() >= BATCH || r.offset() - sent_at >= interval_bytes;
                if due {
                    sent_at = r.offset();
                    if !send(Msg::Items(std::mem::take(&mut batch), sent_at)) {
                        return;
                    }
                }
            }
            Ok(None) => {
                if !batch.is_empty() && !send(Msg::Items(batch, r.offset())) {
                    return;
                }
                send(Msg::Done(r.offset()));
                return;
            }
            Err(e) => {
                send(Msg::Failed(describe(&path, &e)));
                return;
            }
        }
    }
}

/// Current state of applying items: the database being filled.
#[derive(Default)]
struct Apply {
    db: usize,
    loaded: u64,
    expired: u64,
    /// Keys skipped because their collection was empty.
    empty: u64,
    /// Keys whose time passed while the file sat on disk are left out (a
    /// master loading a snapshot; never an AOF's RDB base, whose commands
    /// assume the keyspace exactly as it was, nor a replica's copy).
    drop_expired: bool,
    /// A master restarting from its own snapshot: the replication history
    /// saved in it goes on, and each key left out as expired is fed to
    /// the replication stream as a deletion (Redis's RDBFLAGS_FEED_REPL).
    feed_repl: bool,
    /// A library already loaded may be replaced (DEBUG RELOAD MERGE,
    /// Redis's RDBFLAGS_ALLOW_DUP); otherwise it fails the load.
    allow_dup: bool,
}

/// How a load treats expired keys and the replication history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadKind {
    /// `DEBUG RELOAD` and the like.
    Reload,
    /// The snapshot this server starts from.
    Startup,
    /// The RDB base of an AOF.
    AofBase,
}

impl Apply {
    fn new(srv: &Server, kind: LoadKind) -> Apply {
        // The role the server has once loaded: a `replicaof` directive
        // makes it a replica before the load, as in Redis.
        let master = !srv.is_replica() && srv.config.get_list(Directive::Replicaof).is_empty();
        Apply {
            drop_expired: master && kind != LoadKind::AofBase,
            feed_repl: master && kind == LoadKind::Startup,
            ..Apply::default()
        }
    }

    /// Redis's closing line of a load (a warning when keys were skipped).
    fn log_done(&self) {
        if self.empty > 0 {
            log_warning!(
                "Done loading RDB, keys loaded: {}, keys expired: {}, empty keys skipped: {}.",
                self.loaded,
                self.expired,
                self.empty
            );
        } else {
            log_notice!(
                "Done loading RDB, keys loaded: {}, keys expired: {}.",
                self.loaded,
                self.expired
            );
        }
    }
}

fn apply(srv: &mut Server, st: &mut Apply, item: Item) -> Result<(), String> {
    match item {
        Item::SelectDb(n) => {
            if n as usize >= srv.dbs.len() {
                return Err(format!(
                    "FATAL: Data file was created with a Redis server configured to handle more than {} databases. Exiting",
                    srv.dbs.len()
                ));
            }
            st.db = n as usize;
        }
        Item::Aux { key, value } => {
            let v = String::from_utf8_lossy(&value);
            match key.as_slice() {
                b"redis-ver" => log_notice!("Loading RDB produced by version {v}"),
                b"ctime" => {
                    if let Ok(t) = v.parse::<i64>() {
                        let age = (srv.now_ms / 1000 - t).max(0);
                        log_notice!("RDB age {age} seconds");
                    }
                }
                b"used-mem" => {
                    if let Ok(m) = v.parse::<f64>() {
                        log_notice!(
                            "RDB memory usage when created {:.2} Mb",
                            m / 1024.0 / 1024.0
                        );
                    }
                }
                b"repl-id" => srv.persist.rdb_repl_id = Some(v.into_owned()),
                b"repl-offset" => {
                    srv.persist.rdb_repl_offset = v.parse().ok();
                    if st.feed_repl {
                        crate::replication::master::resume_history_from_snapshot(srv);
                    }
                }
                b"repl-stream-db" => srv.repl.stream_db = v.parse().unwrap_or(0),
                b"aof-base" if v == "1" => log_notice!("RDB is base AOF"),
                _ => {}
            }
        }
        Item::ResizeDb {
            db_size,
            expires_size,
        } => {
            // Sizes the table once, as Redis does with this hint: growing
            // it step by step re-hashed every key loaded so far each time.
            let n = |x: u64| usize::try_from(x).unwrap_or(usize::MAX);
            if let Some(db) = srv.dbs.get_mut(st.db) {
                db.reserve(n(db_size), n(expires_size));
            }
        }
        Item::EmptyKey { key } => {
            // Redis names the first ten.
            if st.empty < 10 {
                log_warning!(
                    "rdbLoadObject skipping empty key: {}",
                    String::from_utf8_lossy(&key)
                );
            }
            st.empty += 1;
        }
        Item::Function(code) => {
            // Libraries arrive before the keys (a replica flushes its own
            // before a full sync).
            if let Err(e) = srv.scripting.functions.load(&code, st.allow_dup, 0) {
                log_warning!("Failed loading library, error: {e}");
                return Err(format!("Failed loading library: {e}"));
            }
        }
        Item::ModuleAux { module_id } => {
            log_warning!(
                "Skipping module auxiliary data (module id {module_id:#x}) in the RDB file."
            );
        }
        Item::Entry {
            key,
            value,
            expire_ms,
            ..
        } => {
            // A master drops keys that expired while the file sat on
            // disk; a replica keeps them until its master says otherwise.
            if let Some(at) = expire_ms {
                if st.drop_expired && at < srv.now_ms {
                    st.expired += 1;
                    if st.feed_repl {
                        let verb: &[u8] = if srv.lazyfree_lazy_expire {
                            b"UNLINK"
                        } else {
                            b"DEL"
                        };
                        srv.journal.propagate(st.db, &[verb, &key]);
                        srv.journal.end_command(false);
                    }
                    return Ok(());
                }
            }
            let v = to_value(value, &srv.encoding_limits)
                .map_err(|e| format!("key '{}': {e}", String::from_utf8_lossy(&key)))?;
            let lru = srv.lru_clock;
            let exp = expire_ms.unwrap_or(keyspace::NO_EXPIRE);
            srv.dbs[st.db].load_push(&key, v, exp, lru);
            st.loaded += 1;
        }
    }
    Ok(())
}

/// Indexes the keys a load appended (`Db::load_push`), whether the load
/// ended well or not: every load path calls it before it returns.
fn settle(srv: &mut Server) {
    for db in srv.dbs.iter_mut() {
        db.settle_load();
    }
}

/// Loads `dbfilename` synchronously (`DEBUG RELOAD`).
pub fn load_file(srv: &mut Server) -> Result<(), String> {
    load_file_merging(srv, false)
}

/// As [`load_file`]; with `allow_dup`, libraries in the file replace
/// loaded ones of the same name (DEBUG RELOAD MERGE).
pub fn load_file_merging(srv: &mut Server, allow_dup: bool) -> Result<(), String> {
    let path = std::path::PathBuf::from(srv.config.get_str(Directive::Dbfilename));
    load_path_with(srv, &path, LoadKind::Reload, allow_dup).map(|_| ())
}

/// Loads the RDB at `path` synchronously into the databases; returns the
/// offset where the RDB ended (an AOF tail may follow an RDB preamble).
pub fn load_path_sync(
    srv: &mut Server,
    path: &std::path::Path,
    kind: LoadKind,
) -> Result<u64, String> {
    load_path_with(srv, path, kind, false)
}

fn load_path_with(
    srv: &mut Server,
    path: &std::path::Path,
    kind: LoadKind,
    allow_dup: bool,
) -> Result<u64, String> {
    let file =
        std::fs::File::open(path).map_err(|e| format!("Error opening {}: {e}", path.display()))?;
    let total = file.metadata().map_or(0, |m| m.len());
    let mut r = Reader::new(std::io::BufReader::with_capacity(1 << 16, file))
        .map_err(|e| describe(path, &e))?
        .with_sanitize(sanitize_policy(srv, None));
    let mut st = Apply::new(srv, kind);
    st.allow_dup = allow_dup;
    srv.refresh_time();
    let delay = srv.config.get_int(Directive::KeyLoadDelay);
    let mut progress = SyncProgress::new(total);
    let applied: Result<(), String> = (|| {
        while let Some(item) = r.next_item().map_err(|e| describe(path, &e))? {
            if matches!(item, Item::Entry { .. }) {
                super::pace::key_load_delay(delay);
            }
            apply(srv, &mut st, item)
                .map_err(|e| format!("Error loading {}: {e}", path.display()))?;
            progress.tick(r.offset());
        }
        Ok(())
    })();
    settle(srv);
    applied?;
    srv.persist.load_keys_loaded = st.loaded;
    srv.persist.load_keys_expired = st.expired;
    Ok(r.offset())
}

/// Progress lines for a load that holds the event loop (a replica's full
/// sync, DEBUG RELOAD): the clock is read once per 1024 items.
struct SyncProgress {
    total: u64,
    items: u32,
    progress: super::progress::Progress,
}

impl SyncProgress {
    fn new(total: u64) -> SyncProgress {
        SyncProgress {
            total,
            items: 0,
            progress: Default::default(),
        }
    }

    fn tick(&mut self, offset: u64) {
        self.items = self.items.wrapping_add(1);
        if !self.items.is_multiple_of(1024) {
            return;
        }
        if let Some(l) = self.progress.due("Loading RDB", offset, self.total) {
            log_notice!("{l}");
        }
    }
}

/// An RDB arriving in pieces (a replica's disk-less load): the bytes a
/// connection hands over, read by the parser thread as they come.
struct ChannelReader {
    rx: tokio::sync::mpsc::Receiver<Vec<u8>>,
    chunk: Vec<u8>,
    at: usize,
}

impl std::io::Read for ChannelReader {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.at == self.chunk.len() {
            match self.rx.blocking_recv() {
                Some(c) => {
                    self.chunk = c;
                    self.at = 0;
                }
                None => return Ok(0),
            }
        }
        let n = out.len().min(self.chunk.len() - self.at);
        out[..n].copy_from_slice(&self.chunk[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// A replica's disk-less load, parsed while it arrives: the connection
/// feeds `bytes` (bounded, so it reads from its master no faster than the
/// payload is parsed, `key-load-delay` included, as Redis parses straight
/// from the socket), and `result` gets the parsed items once the payload
/// ends, for [`load_items`] to apply.
pub struct StreamedLoad {
    pub bytes: tokio::sync::mpsc::Sender<Vec<u8>>,
    pub result: tokio::sync::oneshot::Receiver<Result<Vec<Item>, String>>,
}

/// Starts the parser thread of a streamed load.
pub fn start_streamed(srv: &Server) -> Result<StreamedLoad, String> {
    let (bytes, rx) = tokio::sync::mpsc::channel(4);
    let (done, result) = tokio::sync::oneshot::channel();
    let delay = srv.config.get_int(Directive::KeyLoadDelay);
    let sanitize = sanitize_policy(srv, None);
    std::thread::Builder::new()
        .name("rdb-loader".into())
        .spawn(move || {
            let path = std::path::Path::new("(replication stream)");
            let source = ChannelReader {
                rx,
                chunk: Vec::new(),
                at: 0,
            };
            let parsed = (|| {
                let mut r = Reader::new(source)
                    .map_err(|e| describe(path, &e))?
                    .with_sanitize(sanitize);
                let mut items = Vec::new();
                while let Some(item) = r.next_item().map_err(|e| describe(path, &e))? {
                    if matches!(item, Item::Entry { .. }) {
                        super::pace::key_load_delay(delay);
                    }
                    items.push(item);
                }
                Ok(items)
            })();
            let _ = done.send(parsed);
        })
        .map_err(|e| format!("Can't start the RDB loader: {e}"))?;
    Ok(StreamedLoad { bytes, result })
}

/// Applies the items of a streamed load to the databases, which the
/// caller emptied.
pub fn load_items(srv: &mut Server, items: Vec<Item>) -> Result<(), String> {
    let mut st = Apply::new(srv, LoadKind::Reload);
    srv.refresh_time();
    let applied = items
        .into_iter()
        .try_for_each(|item| apply(srv, &mut st, item));
    settle(srv);
    applied?;
    st.log_done();
    Ok(())
}

/// Marks the server as loading when there is a file to load, before the
/// listeners open, so the first client already sees `-LOADING`.
pub fn prepare(srv: &mut Server) {
    // With appendonly yes the AOF is the dataset (see `aof::load`).
    if srv.config.get_bool(Directive::Appendonly) {
        return super::aof::load::prepare(srv);
    }
    let path = std::path::PathBuf::from(srv.config.get_str(Directive::Dbfilename));
    if let Ok(meta) = std::fs::metadata(&path) {
        srv.persist.loading = Some(Loading {
            start_secs: srv.now_ms / 1000,
            total_bytes: meta.len(),
            loaded_bytes: 0,
            started: Instant::now(),
            progress: Default::default(),
        });
    }
}

/// Why loading at start-up failed: the server stops.
#[derive(Debug)]
pub enum StartupLoadError {
    /// Already logged where it was found, in Redis's words (the AOF
    /// loader): Redis exits right after, so nothing more is said.
    Logged,
    /// What to log before stopping.
    Reason(String),
}

/// Loads the dataset at start-up: the AOF with `appendonly yes`,
/// `dbfilename` otherwise (if it exists). The AOF manifest is read in
/// both cases, as Redis reads it at every start (turning the AOF on later
/// continues its numbering), so a broken one stops start-up either way.
pub async fn load_at_startup(srv: Rc<RefCell<Server>>) -> Result<(), StartupLoadError> {
    // With appendonly yes the AOF wins over the RDB, as in Redis.
    if srv.borrow().config.get_bool(Directive::Appendonly) {
        return super::aof::load::load_at_startup(srv)
            .await
            .map_err(|_| StartupLoadError::Logged);
    }
    super::aof::load::read_manifest(&mut srv.borrow_mut()).map_err(|_| StartupLoadError::Logged)?;
    super::aof::load::delete_history(&mut srv.borrow_mut());
    // From now on `CONFIG SET appendonly` may switch the AOF on.
    srv.borrow_mut().aof.ready = true;
    let path = std::path::PathBuf::from(srv.borrow().config.get_str(Directive::Dbfilename));
    let meta = match std::fs::metadata(&path) {
        Ok(m) => m,
        Err(_) => return Ok(()),
    };
    let started = Instant::now();
    if let Err(e) = load_rdb(&srv, &path, meta.len(), LoadKind::Startup).await {
        // As Redis: the reason, then a check of the whole file saying
        // where it breaks, then the verdict.
        log_warning!("{e}");
        let sanitize = sanitize_policy(&srv.borrow(), None);
        report_check(&path, sanitize);
        log_warning!("Terminating server after rdb file reading failure.");
        return Err(StartupLoadError::Logged);
    }
    log_notice!(
        "DB loaded from disk: {:.3} seconds",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Loads the RDB file at `path` (`total` bytes) into the databases, in
/// batches between event-loop turns, with `INFO` loading progress.
/// Returns the offset where the RDB ended (an AOF tail may follow).
pub async fn load_rdb(
    srv: &Rc<RefCell<Server>>,
    path: &std::path::Path,
    total: u64,
    kind: LoadKind,
) -> Result<u64, String> {
    load_rdb_paced(srv, path, total, kind, Pacing::Async).await
}

/// [`load_rdb`] with the given sharing of the event loop.
pub async fn load_rdb_paced(
    srv: &Rc<RefCell<Server>>,
    path: &std::path::Path,
    total: u64,
    kind: LoadKind,
    pacing: Pacing,
) -> Result<u64, String> {
    let started = Instant::now();
    {
        let mut s = srv.borrow_mut();
        s.refresh_time();
        let start_secs = s.now_ms / 1000;
        s.persist.loading = Some(Loading {
            start_secs,
            total_bytes: total,
            loaded_bytes: 0,
            started,
            progress: Default::default(),
        });
    }
    let (tx, mut rx) = match pacing {
        Pacing::Async => {
            let (tx, rx) = tokio::sync::mpsc::channel(4);
            (Batches::Async(tx), Received::Async(rx))
        }
        Pacing::Blocking => {
            let (tx, rx) = std::sync::mpsc::sync_channel(4);
            (Batches::Blocking(tx), Received::Blocking(rx))
        }
    };
    // `loading-process-events-interval-bytes`: how often the parser
    // hands a batch over and, when blocking, how often others get a turn.
    let interval = srv
        .borrow()
        .config
        .get_int(Directive::LoadingProcessEventsIntervalBytes)
        .max(1024) as u64;
    let job = {
        let s = srv.borrow();
        ParseJob {
            path: path.to_path_buf(),
            interval_bytes: interval,
            key_load_delay: s.config.get_int(Directive::KeyLoadDelay),
            sanitize: sanitize_policy(&s, None),
        }
    };
    if let Err(e) = std::thread::Builder::new()
        .name("rdb-loader".into())
        .spawn(move || parse_thread(job, tx))
    {
        srv.borrow_mut().persist.loading = None;
        return Err(format!("Can't start the RDB loader: {e}"));
    }
    let mut st = Apply::new(&srv.borrow(), kind);
    let mut events_at = 0u64;
    let result = loop {
        let Some(msg) = rx.recv().await else {
            break Err("the RDB loader thread stopped".to_string());
        };
        if let (Received::Blocking(_), Msg::Items(_, offset)) = (&rx, &msg) {
            if offset - events_at >= interval {
                events_at = *offset;
                tokio::task::yield_now().await;
            }
        }
        let mut s = srv.borrow_mut();
        match msg {
            Msg::Items(items, offset) => {
                s.refresh_time();
                let mut failed = None;
                for it in items {
                    if let Err(e) = apply(&mut s, &mut st, it) {
                        failed = Some(e);
                        break;
                    }
                }
                if let Some(e) = failed {
                    break Err(format!("Error loading {}: {e}", path.display()));
                }
                let notify = crate::sdnotify::enabled(&s);
                if let Some(l) = s.persist.loading.as_mut() {
                    l.loaded_bytes = offset;
                    l.report("RDB", notify);
                }
            }
            Msg::Done(end) => break Ok(end),
            Msg::Failed(e) => break Err(e),
        }
    };
    let mut s = srv.borrow_mut();
    settle(&mut s);
    s.persist.loading = None;
    s.persist.load_keys_loaded = st.loaded;
    s.persist.load_keys_expired = st.expired;
    let end = result?;
    st.log_done();
    Ok(end)
}

/// Logs the report of `redoubt check-rdb` on the file at `path`, line by
/// line, as Redis runs redis-check-rdb when a file fails to load.
fn report_check(path: &std::path::Path, sanitize: rdb::Sanitize) {
    let Ok(f) = std::fs::File::open(path) else {
        return;
    };
    let mut out = Vec::new();
    let input = std::io::BufReader::with_capacity(1 << 16, f);
    let name = path.display().to_string();
    let now_ms = crate::util::time::unix_ms();
    if rdb::check::check_with(input, &name, now_ms, &mut out, sanitize).is_ok() {
        for line in String::from_utf8_lossy(&out).lines() {
            log_warning!("{line}");
        }
    }
}
