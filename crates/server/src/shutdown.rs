//! An orderly shutdown, as Redis 7.0 does it (`SHUTDOWN`, SIGTERM, SIGINT).
//!
//! 1. **Prepare.** A master with replicas that have not acknowledged the
//!    whole stream does not exit at once: it pauses writes, asks the
//!    replicas for an acknowledgement (`REPLCONF GETACK`) and waits up to
//!    `shutdown-timeout` seconds (`INFO`'s `shutdown_in_milliseconds`
//!    counts down), so a planned restart does not lose the last writes.
//!    `NOW` (or `shutdown-timeout 0`) skips the wait. Clients that sent
//!    `SHUTDOWN` stay blocked meanwhile, without a reply.
//! 2. **Finish**, from the cron once every replica caught up or the time
//!    ran out: lagging replicas are logged, a background save or AOF
//!    rewrite is abandoned (an AOF still being written for the first time
//!    prevents the exit, unless `FORCE`), the AOF is flushed and fsynced,
//!    the final snapshot is saved when save points exist or `SAVE` asks
//!    (unless `NOSAVE`; a failure prevents the exit, unless `FORCE`), the
//!    pid file and the unix socket are removed. Then the process exits 0.
//! 3. **Cancel**: a failed finish, or `SHUTDOWN ABORT`, ends the shutdown:
//!    the pause is lifted and every client blocked in `SHUTDOWN` gets
//!    "Errors trying to SHUTDOWN. Check logs.".
//!
//! Signals are only recorded by their handler (`signals`); the cron starts
//! their shutdown with the flags of `shutdown-on-sigint` /
//! `shutdown-on-sigterm`.

use crate::client::Client;
use crate::config::Directive;
use crate::server::Server;
use crate::{log_notice, log_warning};

/// `SHUTDOWN`'s modifiers (and the words of `shutdown-on-sig*`).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Flags {
    /// Save even without save points.
    pub save: bool,
    /// Do not save, even with save points.
    pub nosave: bool,
    /// Do not wait for lagging replicas.
    pub now: bool,
    /// Exit even when the final save or the AOF cannot be completed.
    pub force: bool,
}

impl Flags {
    /// The flags a `shutdown-on-sig*` value names (`default` is none).
    pub fn from_words(words: &str) -> Flags {
        let mut f = Flags::default();
        for w in words.split(' ') {
            match w {
                "save" => f.save = true,
                "nosave" => f.nosave = true,
                "now" => f.now = true,
                "force" => f.force = true,
                _ => {}
            }
        }
        f
    }
}

/// The shutdown under way, if any.
#[derive(Debug, Default)]
pub struct Shutdown {
    flags: Flags,
    /// Unix ms until which we wait for replicas; 0 when no shutdown was
    /// started (Redis's `shutdown_mstime`).
    deadline_ms: i64,
    /// Whether the write pause in place is ours (lifted on cancel).
    paused: bool,
}

/// What [`prepare`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prepared {
    /// Everything is done: the process exits now.
    Exit,
    /// Waiting for replicas (the cron finishes the shutdown).
    Waiting,
    /// A shutdown is already under way; nothing changed.
    AlreadyStarted,
    /// The shutdown failed and was cancelled (logged; the clients blocked
    /// in SHUTDOWN, apart from the caller, were answered).
    Failed,
}

/// Whether a shutdown was started and is waiting for replicas.
pub fn initiated(srv: &Server) -> bool {
    srv.shutdown.deadline_ms != 0
}

/// `shutdown_in_milliseconds` for INFO while waiting for replicas.
pub fn remaining_ms(srv: &Server) -> Option<i64> {
    initiated(srv).then(|| srv.shutdown.deadline_ms - srv.now_ms)
}

/// Starts a shutdown with `flags` (Redis's `prepareForShutdown`).
pub fn prepare(srv: &mut Server, mut flags: Flags) -> Prepared {
    if initiated(srv) {
        return Prepared::AlreadyStarted;
    }
    // Half-loaded data must not overwrite the file it comes from, and a
    // sentinel has no dataset.
    if srv.persist.loading.is_some() || srv.config.mode.is_some() {
        flags.save = false;
        flags.nosave = true;
    }
    srv.shutdown.flags = flags;
    log_warning!("User requested shutdown...");
    crate::sdnotify::stopping(srv);
    let timeout = srv.config.get_int(Directive::ShutdownTimeout);
    if !flags.now && timeout != 0 && !replicas_in_sync(srv) {
        srv.refresh_time();
        srv.shutdown.deadline_ms = srv.now_ms.saturating_add(timeout.saturating_mul(1000));
        let f = &mut *srv.repl.feed.borrow_mut();
        if srv.pause.until_ms == 0 && !f.proxy {
            f.feed(crate::replication::master::GETACK);
        }
        // Writes wait (as under `CLIENT PAUSE WRITE`) so the replicas can
        // catch up with a stream that no longer grows.
        if srv.pause.until_ms != i64::MAX {
            srv.pause.until_ms = i64::MAX;
            srv.shutdown.paused = true;
        }
        log_notice!("Waiting for replicas before shutting down.");
        return Prepared::Waiting;
    }
    if finish(srv) {
        Prepared::Exit
    } else {
        Prepared::Failed
    }
}

/// Whether every replica acknowledged the whole stream.
fn replicas_in_sync(srv: &Server) -> bool {
    let f = srv.repl.feed.borrow();
    let offset = f.offset();
    f.replicas.iter().all(|r| r.ack_offset == offset)
}

/// The last steps (Redis's `finishShutdown`); true when the process may
/// exit, false when the shutdown failed and was cancelled.
fn finish(srv: &mut Server) -> bool {
    let Flags {
        save,
        nosave,
        force,
        ..
    } = srv.shutdown.flags;
    log_lagging_replicas(srv);
    crate::persistence::aof::rewrite::settle_installing(srv);
    // An AOF being written for the first time is the only copy of the
    // dataset on disk to be: exiting now would lose it.
    if srv.aof.wait_rewrite {
        if force {
            log_warning!("Writing initial AOF. Exit anyway.");
        } else {
            log_warning!("Writing initial AOF, can't exit.");
            return failed(srv);
        }
    }
    if srv.aof.rewrite.is_some() {
        log_warning!("There is a child rewriting the AOF. Killing it!");
        crate::persistence::aof::rewrite::abort(srv);
    }
    if srv.aof.writer.is_some() {
        log_notice!("Calling fsync() on the AOF file.");
        srv.aof.sync_all();
    }
    if crate::persistence::save::shutdown_save(srv, save, nosave, force).is_err() {
        return failed(srv);
    }
    // A background save abandoned above leaves its temporary file to its
    // thread, which may not get to remove it before the exit (Redis
    // removes its child's at this point too). A final save renamed its own.
    let _ = std::fs::remove_file(format!("temp-{}.rdb", std::process::id()));
    // A change learned from the bus may still wait for the cluster cron's
    // save (see `cluster::before_sleep_after_message`).
    crate::cluster::before_sleep(srv);
    let pidfile = srv.config.get_str(Directive::Pidfile);
    if !pidfile.is_empty() {
        log_notice!("Removing the pid file.");
        let _ = std::fs::remove_file(&pidfile);
    }
    srv.listeners.close_all();
    if let Some(path) = srv.listeners.unix_path.take() {
        log_notice!("Removing the unix socket file.");
        if let Err(e) = std::fs::remove_file(&path) {
            log_warning!(
                "Error removing the unix socket file: {}",
                crate::config::strerror(&e)
            );
        }
    }
    log_warning!("Redoubt is now ready to exit, bye bye...");
    // No command runs after this point (see `cmd::execute`): what was
    // acknowledged is in the final snapshot or the AOF.
    srv.shutdown_requested = true;
    srv.shutdown_notify.notify_one();
    true
}

fn failed(srv: &mut Server) -> bool {
    log_warning!("Errors trying to shut down the server. Check the logs for more information.");
    cancel(srv);
    false
}

/// One warning per replica that has not acknowledged the whole stream,
/// then how many are in sync, as Redis logs them.
fn log_lagging_replicas(srv: &Server) {
    let f = srv.repl.feed.borrow();
    if f.replicas.is_empty() {
        return;
    }
    let offset = f.offset();
    let now_secs = srv.now_ms / 1000;
    let mut lagging = 0;
    for r in &f.replicas {
        if r.ack_offset == offset {
            continue;
        }
        lagging += 1;
        let online = r.sync == crate::replication::fullsync::SyncState::Online;
        let lag = if online {
            now_secs - r.ack_ms / 1000
        } else {
            0
        };
        log_warning!(
            "Lagging replica {}:{} reported offset {} behind master, lag={lag}, state={}.",
            r.ip,
            r.port,
            offset - r.ack_offset,
            r.sync.name()
        );
    }
    let n = f.replicas.len();
    log_notice!(
        "{} of {n} replicas are in sync when shutting down.",
        n - lagging
    );
}

/// Ends the shutdown under way: the pause is lifted and the clients
/// blocked in `SHUTDOWN` get an error (the caller of the command being run,
/// borrowed, is answered by its handler).
fn cancel(srv: &mut Server) {
    srv.shutdown.flags = Flags::default();
    srv.shutdown.deadline_ms = 0;
    crate::signals::clear();
    for rc in srv.clients.values().cloned().collect::<Vec<_>>() {
        let Ok(mut c) = rc.try_borrow_mut() else {
            continue;
        };
        if blocked_in_shutdown(&c) {
            answer_blocked(srv, &mut c);
        }
    }
    if std::mem::take(&mut srv.shutdown.paused) && srv.pause.until_ms == i64::MAX {
        srv.pause = Default::default();
        srv.pause_notify.notify_waiters();
    }
}

/// Whether `c` waits in `SHUTDOWN`.
pub fn blocked_in_shutdown(c: &Client) -> bool {
    c.blocked
        .as_ref()
        .is_some_and(|b| b.on == crate::blocking::WaitFor::Shutdown)
}

/// Unblocks a client waiting in `SHUTDOWN` with Redis's error.
pub fn answer_blocked(srv: &mut Server, c: &mut Client) {
    crate::blocking::unblock(srv, c);
    let msg = crate::errors::SHUTDOWN_FAILED;
    srv.stats.count_error(msg);
    c.out.error(msg);
    c.wake.notify_one();
}

/// `SHUTDOWN ABORT`: cancels a shutdown under way or a signal's pending
/// request. False when there was none.
pub fn abort(srv: &mut Server) -> bool {
    if initiated(srv) {
        cancel(srv);
    } else if crate::signals::requested().is_some() {
        crate::signals::clear();
    } else {
        return false;
    }
    log_notice!("Shutdown manually aborted.");
    true
}

/// From the cron: starts the shutdown a signal asked for, or finishes the
/// one waiting for replicas once they caught up or the time ran out.
pub fn cron(srv: &mut Server) {
    crate::signals::set_loading(srv.persist.loading.is_some());
    step(srv, crate::signals::requested());
}

/// The cron's work, given the signal that asked for a shutdown (if any).
pub fn step(srv: &mut Server, requested: Option<i32>) {
    if !initiated(srv) {
        let Some(sig) = requested else {
            return;
        };
        let flags = crate::signals::directive_for(sig)
            .map(|d| Flags::from_words(&srv.config.get_str(d)))
            .unwrap_or_default();
        let _ = prepare(srv, flags);
    } else if srv.now_ms >= srv.shutdown.deadline_ms || replicas_in_sync(srv) {
        finish(srv);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signal_flags_read_from_the_directive_words() {
        assert_eq!(Flags::from_words("default"), Flags::default());
        let f = Flags::from_words("save now force");
        assert!(f.save && f.now && f.force && !f.nosave);
        assert!(Flags::from_words("nosave").nosave);
    }
}
