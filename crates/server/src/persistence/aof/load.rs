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

/// Reads the manifest and loads every file it lists. Returns the
/// manifest (None when there was no multi-part AOF).
async fn load_files(srv: &Rc<RefCell<Server>>) -> Result<Option<Manifest>, String> {
    let (d, mname, fname, truncate_ok) = {
        let s = srv.borrow();
        (
            dir(&s),
            manifest_name(&s),
            filename(&s),
            s.config.get_bool(Directive::AofLoadTruncated),
        )
    };
    let started = Instant::now();
    let mpath = d.join(&mname);
    if !mpath.exists() {
        // A single-file AOF from before Redis 7.0, in `dir`: loaded as
        // is; a new multi-part AOF starts from the loaded dataset.
        let old = PathBuf::from(&fname);
        if old.exists() {
            log_notice!("Loading the old-style append only file {fname}; a new AOF directory is created from it");
            let size = std::fs::metadata(&old).map(|m| m.len()).unwrap_or(0);
            set_loading(srv, size, 0, started);
            load_one(srv, &old, &fname, 0, size, true, truncate_ok).await?;
            log_notice!(
                "DB loaded from append only file: {:.3} seconds",
                started.elapsed().as_secs_f64()
            );
        }
        return Ok(None);
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
    // Every file must be there before anything loads.
    let mut sizes = Vec::new();
    for f in m.load_order() {
        let md = std::fs::metadata(d.join(&f.name)).map_err(|e| {
            format!(
                "Unable to obtain the AOF file {} length. stat: {e} (listed in {}; nothing was changed)",
                f.name, mname
            )
        })?;
        sizes.push(md.len());
    }
    let total: u64 = sizes.iter().sum();
    let files: Vec<_> = m.load_order().cloned().collect();
    let mut done = 0;
    for (i, (f, size)) in files.iter().zip(&sizes).enumerate() {
        let last = i + 1 == files.len();
        let t0 = Instant::now();
        set_loading(srv, total, done, started);
        load_one(
            srv,
            &d.join(&f.name),
            &f.name,
            done,
            total,
            last,
            truncate_ok,
        )
        .await?;
        done += size;
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
    log_notice!(
        "DB loaded from append only file: {:.3} seconds",
        started.elapsed().as_secs_f64()
    );
    Ok(Some(m))
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
    let size = std::fs::metadata(path)
        .map_err(|e| format!("Unable to obtain the AOF file {name} length. stat: {e}"))?
        .len();
    if size == 0 {
        return Ok(());
    }
    let mut offset = 0;
    let preamble = has_rdb_preamble(path).map_err(|e| {
        format!("Fatal error: can't open the append log file {name} for reading: {e}")
    })?;
    if preamble {
        log_notice!("Reading RDB base file on AOF loading...");
        let started = srv.borrow().persist.loading.as_ref().map(|l| l.started);
        offset = load_rdb(srv, path, size).await.map_err(|e| {
            format!("Error reading the RDB base file {name}, AOF loading aborted: {e}")
        })?;
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
    replay(srv, path, name, offset, done_before, last, truncate_ok).await
}

/// Feeds the commands of `path` from `offset` through the dispatch path.
async fn replay(
    srv: &Rc<RefCell<Server>>,
    path: &Path,
    name: &str,
    offset: u64,
    done_before: u64,
    last: bool,
    truncate_ok: bool,
) -> Result<(), String> {
    let open_err = |e: std::io::Error| {
        format!("Fatal error: can't open the append log file {name} for reading: {e}")
    };
    let mut f = std::fs::File::open(path).map_err(open_err)?;
    f.seek(SeekFrom::Start(offset)).map_err(open_err)?;
    let mut r = CommandReader::new(BufReader::with_capacity(1 << 16, f), offset);
    let mut c = {
        let s = srv.borrow();
        let mut c = Client::new(u64::MAX, s.now_ms);
        c.kind = Kind::Master;
        c.authenticated = true;
        c.loading = true;
        c
    };
    // Where a MULTI began that has no EXEC yet: a file ending inside a
    // transaction is cut back to before it.
    let mut before_multi: Option<u64> = None;
    let outcome: Result<(), AofError> = 'file: loop {
        {
            let mut s = srv.borrow_mut();
            for _ in 0..BATCH {
                let start = r.offset();
                match r.next_step() {
                    Ok(Step::Eof) => break 'file Ok(()),
                    Ok(Step::Annotation(_)) => {}
                    Ok(Step::Command) => {
                        let argv = r.args();
                        let cmd = argv.get(0);
                        if s.commands.lookup(cmd).is_none() {
                            return Err(format!(
                                "Unknown command '{}' reading the append only file {name} at offset {start}",
                                String::from_utf8_lossy(cmd)
                            ));
                        }
                        if cmd.eq_ignore_ascii_case(b"multi") {
                            before_multi = Some(start);
                        } else if cmd.eq_ignore_ascii_case(b"exec") {
                            before_multi = None;
                        }
                        crate::cmd::execute(&mut s, &mut c, argv);
                        if c.out.buf.first() == Some(&b'-') {
                            let reply = String::from_utf8_lossy(&c.out.buf[1..]);
                            log_warning!(
                                "== CRITICAL == This server is sending an error to its AOF-loading-client: '{}' after processing the command '{}'",
                                reply.trim_end(),
                                String::from_utf8_lossy(cmd).to_ascii_lowercase()
                            );
                        }
                        c.out.buf.clear();
                    }
                    Err(e) => break 'file Err(e),
                }
            }
            if let Some(l) = s.persist.loading.as_mut() {
                l.loaded_bytes = done_before + r.offset();
            }
        }
        tokio::task::yield_now().await;
    };
    let err = match outcome {
        Ok(()) => match before_multi {
            None => return Ok(()),
            Some(at) => {
                log_notice!("Revert incomplete MULTI/EXEC transaction in AOF file {name}");
                AofError {
                    truncated: true,
                    valid_up_to: at,
                    at: r.offset(),
                    line: r.line_no(),
                    reason: "MULTI without EXEC at the end of the file".into(),
                    not_a_command: false,
                }
            }
        },
        Err(mut e) => {
            if let Some(at) = before_multi {
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
    if !truncate_ok {
        return Err(format!(
            "Unexpected end of file reading the append only file {name}. You can: 1) Make a backup of your AOF file, then use redoubt check-aof --fix <filename.manifest>. 2) Alternatively you can set the 'aof-load-truncated' configuration option to yes and restart the server."
        ));
    }
    if !last {
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
        .open(path)
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
