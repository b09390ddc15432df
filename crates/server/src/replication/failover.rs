//! `FAILOVER`: a coordinated switch of roles with one of our replicas, as
//! Redis 7.0 does it.
//!
//! The master pauses writes, waits (in the cron) until a replica — the one
//! named with `TO host port`, or any — has acknowledged the whole stream,
//! then becomes a replica of it and asks `PSYNC <replid> <offset>
//! FAILOVER`. The replica, seeing its own history, promotes itself and
//! answers `+CONTINUE`; the pause ends. With `TIMEOUT` the wait is bounded:
//! past it the failover is aborted, or with `FORCE` goes ahead anyway.
//! `FAILOVER ABORT` cancels it.

use super::fullsync::SyncState;
use crate::cmd::Ctx;
use crate::server::Server;
use crate::{errors, log_notice};

/// INFO's `master_failover_state`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    WaitingForSync,
    InProgress,
}

impl Phase {
    pub fn name(self) -> &'static str {
        match self {
            Phase::WaitingForSync => "waiting-for-sync",
            Phase::InProgress => "failover-in-progress",
        }
    }
}

/// A failover under way.
#[derive(Debug, Clone)]
pub struct Failover {
    pub phase: Phase,
    pub target: Option<(String, u16)>,
    pub force: bool,
    /// Unix ms the wait ends (0: no timeout).
    pub end_ms: i64,
    /// The write pause we set (to lift only our own).
    pause_until: i64,
}

/// `master_failover_state` for INFO.
pub fn state_name(srv: &Server) -> &'static str {
    srv.repl
        .failover
        .as_ref()
        .map_or("no-failover", |f| f.phase.name())
}

/// `FAILOVER [TO host port [FORCE]] [TIMEOUT ms] | FAILOVER ABORT`.
pub fn failover(ctx: &mut Ctx) {
    if ctx.srv.is_replica() {
        ctx.err(errors::FAILOVER_ON_REPLICA);
        return;
    }
    let (mut target, mut force, mut abort, mut timeout) = (None, false, false, None);
    let mut i = 1;
    while i < ctx.argv.len() {
        let a = ctx.argv.get(i);
        if a.eq_ignore_ascii_case(b"to") && i + 2 < ctx.argv.len() && target.is_none() {
            let host = String::from_utf8_lossy(ctx.argv.get(i + 1)).into_owned();
            let Some(port) = resp::parse_i64(ctx.argv.get(i + 2)) else {
                ctx.err(errors::NOT_INTEGER);
                return;
            };
            target = Some((host, port));
            i += 3;
        } else if a.eq_ignore_ascii_case(b"timeout") && i + 1 < ctx.argv.len() && timeout.is_none()
        {
            let Some(ms) = resp::parse_i64(ctx.argv.get(i + 1)) else {
                ctx.err(errors::NOT_INTEGER);
                return;
            };
            if ms <= 0 {
                ctx.err(errors::FAILOVER_TIMEOUT);
                return;
            }
            timeout = Some(ms);
            i += 2;
        } else if a.eq_ignore_ascii_case(b"force") && !force {
            force = true;
            i += 1;
        } else if a.eq_ignore_ascii_case(b"abort") && !abort {
            abort = true;
            i += 1;
        } else {
            ctx.err(errors::SYNTAX);
            return;
        }
    }
    if abort {
        if force || target.is_some() || timeout.is_some() {
            ctx.err(errors::SYNTAX);
            return;
        }
        if ctx.srv.repl.failover.is_none() {
            ctx.err(errors::NO_FAILOVER);
            return;
        }
        abort_failover(ctx.srv, "Failover manually aborted");
        ctx.out().ok();
        return;
    }
    if ctx.srv.repl.failover.is_some() {
        ctx.err(errors::FAILOVER_IN_PROGRESS);
        return;
    }
    let replicas: Vec<(String, u16, SyncState)> = ctx
        .srv
        .repl
        .feed
        .borrow()
        .replicas
        .iter()
        .map(|r| (r.ip.clone(), r.port, r.sync))
        .collect();
    if replicas.is_empty() {
        ctx.err(errors::FAILOVER_NO_REPLICAS);
        return;
    }
    if force && (timeout.is_none() || target.is_none()) {
        ctx.err(errors::FAILOVER_FORCE);
        return;
    }
    let target = match target {
        Some((host, port)) => {
            let Some(r) = replicas
                .iter()
                .find(|r| r.0.eq_ignore_ascii_case(&host) && i64::from(r.1) == port)
            else {
                ctx.err(errors::FAILOVER_NOT_A_REPLICA);
                return;
            };
            if r.2 != SyncState::Online {
                ctx.err(errors::FAILOVER_NOT_ONLINE);
                return;
            }
            Some((r.0.clone(), r.1))
        }
        None => None,
    };
    match &target {
        Some((h, p)) => log_notice!("FAILOVER requested to {h}:{p}."),
        None => log_notice!("FAILOVER requested to any replica."),
    }
    let now = ctx.srv.now_ms;
    let end_ms = timeout.map_or(0, |t| now.saturating_add(t));
    // Writes wait until the failover ends (the cron lifts the pause).
    let pause_until = i64::MAX;
    ctx.srv.pause.until_ms = pause_until;
    ctx.srv.repl.failover = Some(Failover {
        phase: Phase::WaitingForSync,
        target,
        force,
        end_ms,
        pause_until,
    });
    ctx.out().ok();
}

/// Ends the failover: the write pause we set is lifted.
fn clear(srv: &mut Server) {
    if let Some(f) = srv.repl.failover.take() {
        if srv.pause.until_ms == f.pause_until {
            srv.pause = Default::default();
        }
        srv.pause_notify.notify_waiters();
    }
}

/// Gives up: back to being a master if the switch had begun.
pub fn abort_failover(srv: &mut Server, why: &str) {
    let Some(f) = srv.repl.failover.as_ref() else {
        return;
    };
    match &f.target {
        Some((h, p)) => log_notice!("FAILOVER to {h}:{p} aborted: {why}"),
        None => log_notice!("FAILOVER to any replica aborted: {why}"),
    }
    if f.phase == Phase::InProgress {
        super::replica::unset_master(srv);
    }
    clear(srv);
}

/// The cron step: switch once the target caught up, or give up on time.
pub fn cron(srv: &mut Server) {
    let Some(f) = srv.repl.failover.clone() else {
        return;
    };
    if f.phase != Phase::WaitingForSync {
        return;
    }
    let offset = srv.repl.master_repl_offset();
    let synced = srv
        .repl
        .feed
        .borrow()
        .replicas
        .iter()
        .filter(|r| r.sync == SyncState::Online && r.ack_offset == offset)
        .find(|r| {
            f.target
                .as_ref()
                .is_none_or(|(h, p)| r.ip.eq_ignore_ascii_case(h) && r.port == *p)
        })
        .map(|r| (r.ip.clone(), r.port));
    // The timeout is checked first, as Redis does.
    let timed_out = f.end_ms > 0 && srv.now_ms >= f.end_ms;
    let to = match (timed_out, &f.target, synced) {
        (true, Some(t), _) if f.force && !force_keeps_confirmed_writes(srv, t) => {
            abort_failover(
                srv,
                "Target is behind writes another replica acknowledged (WAIT may have confirmed them); not forcing",
            );
            return;
        }
        (true, Some(t), _) if f.force => {
            log_notice!(
                "FAILOVER to {}:{} time out exceeded, failing over.",
                t.0,
                t.1
            );
            t.clone()
        }
        (true, _, _) => {
            abort_failover(srv, "Replica never caught up before timeout");
            return;
        }
        (false, _, Some(t)) => {
            log_notice!("Failover target {}:{} is synced, failing over.", t.0, t.1);
            t
        }
        (false, _, None) => return,
    };
    if let Some(f) = srv.repl.failover.as_mut() {
        f.phase = Phase::InProgress;
    }
    super::replica::set_master(srv, to.0, to.1);
}

/// `FORCE` past the timeout switches to a target that may not have the
/// whole stream. Ours: only if it acknowledged at least as much as any
/// other replica, so it holds every write `WAIT` can have confirmed
/// (Redis switches anyway, and such writes are dropped when this server
/// resyncs from the target).
fn force_keeps_confirmed_writes(srv: &Server, target: &(String, u16)) -> bool {
    let f = srv.repl.feed.borrow();
    let acks: Vec<(bool, i64)> = f
        .replicas
        .iter()
        .map(|r| {
            let is_target = r.ip.eq_ignore_ascii_case(&target.0) && r.port == target.1;
            (is_target, r.ack_offset)
        })
        .collect();
    target_has_every_ack(&acks)
}

/// Among (is the target, acknowledged offset) of each replica: the target
/// is attached and no replica acknowledged more than it did.
fn target_has_every_ack(acks: &[(bool, i64)]) -> bool {
    let Some(target) = acks.iter().filter(|a| a.0).map(|a| a.1).max() else {
        return false;
    };
    acks.iter().all(|a| a.1 <= target)
}

/// Whether the link being set up must ask for `PSYNC .. FAILOVER`.
pub fn in_progress(srv: &Server) -> bool {
    srv.repl
        .failover
        .as_ref()
        .is_some_and(|f| f.phase == Phase::InProgress)
}

/// The new master answered our `PSYNC .. FAILOVER`.
pub fn switched(srv: &mut Server, accepted: bool) {
    if !in_progress(srv) {
        return;
    }
    if accepted {
        log_notice!("FAILOVER completed: this server is now a replica.");
        clear(srv);
    } else {
        abort_failover(srv, "Failover target rejected psync request");
    }
}

#[cfg(test)]
mod tests {
    use super::target_has_every_ack;

    #[test]
    fn forcing_needs_a_target_that_acknowledged_as_much_as_any_replica() {
        assert!(target_has_every_ack(&[(true, 100)]));
        assert!(target_has_every_ack(&[(true, 100), (false, 100)]));
        assert!(target_has_every_ack(&[(false, 90), (true, 100)]));
        assert!(!target_has_every_ack(&[(true, 90), (false, 100)]));
        // A target that is not attached has acknowledged nothing.
        assert!(!target_has_every_ack(&[(false, 100)]));
        assert!(!target_has_every_ack(&[]));
    }
}
