//! Loading an RDB file at start-up.
//!
//! A background thread parses the file into batches of items; the executor
//! inserts each batch between event-loop turns. Meanwhile the listeners
//! are open and commands not flagged `loading` get Redis's `-LOADING`
//! error, as during Redis's own load. A broken file stops the server with
//! the file, the offset and the reason, leaving the file untouched.

use super::convert::to_value;
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

/// What the parser thread is told: its batches' bounds and the
/// per-key `key-load-delay`.
struct ParseJob {
    path: std::path::PathBuf,
    /// `loading-process-events-interval-bytes`: a batch goes to the
    /// executor at least this often, so clients get their `-LOADING`.
    interval_bytes: u64,
    key_load_delay: i64,
}

fn parse_thread(job: ParseJob, tx: tokio::sync::mpsc::Sender<Msg>) {
    let ParseJob {
        path,
        interval_bytes,
        key_load_delay,
    } = job;
    let send = |m: Msg| tx.blocking_send(m).is_ok();
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
        Ok(r) => r,
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
struct Apply {
    db: usize,
    loaded: u64,
    expired: u64,
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
                b"repl-offset" => srv.persist.rdb_repl_offset = v.parse().ok(),
                b"repl-stream-db" => srv.repl.stream_db = v.parse().unwrap_or(0),
                b"aof-base" if v == "1" => log_notice!("RDB is base AOF"),
                _ => {}
            }
        }
        Item::ResizeDb { .. } => {}
        Item::Function(_) => {
            log_warning!(
                "The RDB file holds a function library; functions are not supported yet, skipped."
            );
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
                if !srv.is_replica() && at < srv.now_ms {
                    st.expired += 1;
                    return Ok(());
                }
            }
            // Redis never stores empty collections; a file holding one
            // is loaded without it, with a warning, as Redis 7.0 does.
            let empty = match &value {
                rdb::RdbValue::String(_) => false,
                rdb::RdbValue::List(v) | rdb::RdbValue::Set(v) => v.is_empty(),
                rdb::RdbValue::Hash(v) => v.is_empty(),
                rdb::RdbValue::ZSet(v) => v.is_empty(),
                rdb::RdbValue::Stream(_) => false,
            };
            if empty {
                log_warning!(
                    "rdbLoadObject skipping empty key: {}",
                    String::from_utf8_lossy(&key)
                );
                return Ok(());
            }
            let v = to_value(value, &srv.encoding_limits)
                .map_err(|e| format!("key '{}': {e}", String::from_utf8_lossy(&key)))?;
            let lru = srv.lru_clock;
            let exp = expire_ms.unwrap_or(keyspace::NO_EXPIRE);
            srv.dbs[st.db].insert(&key, v, exp, lru);
            st.loaded += 1;
        }
    }
    Ok(())
}

/// Loads `dbfilename` synchronously (`DEBUG RELOAD`).
pub fn load_file(srv: &mut Server) -> Result<(), String> {
    let path = std::path::PathBuf::from(srv.config.get_str(Directive::Dbfilename));
    load_path_sync(srv, &path).map(|_| ())
}

/// Loads the RDB at `path` synchronously into the databases; returns the
/// offset where the RDB ended (an AOF tail may follow an RDB preamble).
pub fn load_path_sync(srv: &mut Server, path: &std::path::Path) -> Result<u64, String> {
    let file =
        std::fs::File::open(path).map_err(|e| format!("Error opening {}: {e}", path.display()))?;
    let mut r = Reader::new(std::io::BufReader::with_capacity(1 << 16, file))
        .map_err(|e| describe(path, &e))?;
    let mut st = Apply {
        db: 0,
        loaded: 0,
        expired: 0,
    };
    srv.refresh_time();
    let delay = srv.config.get_int(Directive::KeyLoadDelay);
    while let Some(item) = r.next_item().map_err(|e| describe(path, &e))? {
        if matches!(item, Item::Entry { .. }) {
            super::pace::key_load_delay(delay);
        }
        apply(srv, &mut st, item).map_err(|e| format!("Error loading {}: {e}", path.display()))?;
    }
    srv.persist.load_keys_loaded = st.loaded;
    srv.persist.load_keys_expired = st.expired;
    Ok(r.offset())
}

/// Loads an RDB held in memory (a replica's full sync) into the databases,
/// which the caller emptied.
pub fn load_bytes(srv: &mut Server, bytes: &[u8]) -> Result<(), String> {
    let path = std::path::Path::new("(replication stream)");
    let mut r = Reader::new(bytes).map_err(|e| describe(path, &e))?;
    let mut st = Apply {
        db: 0,
        loaded: 0,
        expired: 0,
    };
    srv.refresh_time();
    let delay = srv.config.get_int(Directive::KeyLoadDelay);
    while let Some(item) = r.next_item().map_err(|e| describe(path, &e))? {
        if matches!(item, Item::Entry { .. }) {
            super::pace::key_load_delay(delay);
        }
        apply(srv, &mut st, item)?;
    }
    log_notice!(
        "Done loading RDB, keys loaded: {}, keys expired: {}.",
        st.loaded,
        st.expired
    );
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
    load_rdb(&srv, &path, meta.len())
        .await
        .map_err(StartupLoadError::Reason)?;
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
        });
    }
    let (tx, mut rx) = tokio::sync::mpsc::channel(4);
    let job = {
        let s = srv.borrow();
        ParseJob {
            path: path.to_path_buf(),
            interval_bytes: s
                .config
                .get_int(Directive::LoadingProcessEventsIntervalBytes)
                .max(1024) as u64,
            key_load_delay: s.config.get_int(Directive::KeyLoadDelay),
        }
    };
    if let Err(e) = std::thread::Builder::new()
        .name("rdb-loader".into())
        .spawn(move || parse_thread(job, tx))
    {
        srv.borrow_mut().persist.loading = None;
        return Err(format!("Can't start the RDB loader: {e}"));
    }
    let mut st = Apply {
        db: 0,
        loaded: 0,
        expired: 0,
    };
    let result = loop {
        let Some(msg) = rx.recv().await else {
            break Err("the RDB loader thread stopped".to_string());
        };
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
                if let Some(l) = s.persist.loading.as_mut() {
                    l.loaded_bytes = offset;
                }
            }
            Msg::Done(end) => break Ok(end),
            Msg::Failed(e) => break Err(e),
        }
    };
    let mut s = srv.borrow_mut();
    s.persist.loading = None;
    s.persist.load_keys_loaded = st.loaded;
    s.persist.load_keys_expired = st.expired;
    let end = result?;
    log_notice!(
        "Done loading RDB, keys loaded: {}, keys expired: {}.",
        st.loaded,
        st.expired
    );
    Ok(end)
}
