//! A replica's steps in the cluster cron (`bus.rs` calls them): the
//! failover election (Redis's `clusterHandleSlaveFailover`), replica
//! migration to an orphaned master, starting replication after a restart
//! from `nodes.conf`, and what a newly promoted master does.

use super::bus::{broadcast, broadcast_pong, count_sent};
use crate::log_notice;
use crate::server::Server;
use cluster::flags;
use cluster::msg::{self, Body, Message};
use std::cell::RefCell;
use std::rc::Rc;

/// A replica's side of failover, once per cron: schedule the election,
/// ask the masters for votes, or take over the master's slots.
pub(super) fn replica_failover(srv: &Rc<RefCell<Server>>, now: u64) {
    use crate::config::Directive;
    use crate::replication::replica::LinkState;
    use cluster::failover::{Conditions, Step};
    use rand::Rng;
    let mut s = srv.borrow_mut();
    let offset = crate::replication::replica::announced_offset(&s) as u64;
    // How stale our data is: Redis measures from the master's last byte
    // while the link is up, else from when it went down (never up: the
    // whole age of the world).
    let data_age = s.repl.master.as_ref().map_or(0, |m| {
        let since = if m.state == LinkState::Connected {
            m.last_io_ms
        } else {
            m.down_since_ms
        };
        (now as i64).saturating_sub(since).max(0) as u64
    });
    let mut cond = Conditions {
        node_timeout: 0,
        my_offset: offset,
        jitter: rand::thread_rng().gen_range(0..500),
        no_failover: s.config.get_bool(Directive::ClusterReplicaNoFailover),
        data_age,
        validity_factor: s
            .config
            .get_int(Directive::ClusterReplicaValidityFactor)
            .max(0) as u64,
        ping_period: s.config.get_int(Directive::ReplPingReplicaPeriod).max(0) as u64 * 1000,
    };
    let Some(c) = s.cluster.as_deref_mut() else {
        return;
    };
    if !c.state.me().is_replica() {
        return;
    }
    cond.node_timeout = c.node_timeout;
    match c.state.failover_step(now, &cond) {
        Step::Nothing => {}
        Step::RequestVotes { force } => {
            log_notice!(
                "Starting a failover election for epoch {}.",
                c.state.election.auth_epoch
            );
            let mut header = c.state.header(
                msg::types::FAILOVER_AUTH_REQUEST,
                c.port,
                c.cport,
                &c.announce_ip,
                offset,
            );
            // A manual failover asks for votes although the master is up.
            if force {
                header.mflags[0] |= msg::FLAG0_FORCEACK;
            }
            count_sent(c, msg::types::FAILOVER_AUTH_REQUEST);
            let b = Message {
                header,
                body: Body::Other,
            }
            .encode();
            broadcast(c, &b, msg::types::FAILOVER_AUTH_REQUEST);
            c.changed();
        }
        Step::Promoted { .. } => {
            log_notice!("Failover election won: I'm the new master.");
            promoted(&mut s);
        }
    }
}

/// A replica that does not replicate yet (restarted from a `nodes.conf`
/// that names its master) starts once its master's address is known, as
/// Redis's cron does.
pub(super) fn start_replication_if_needed(srv: &mut Server) {
    if srv.repl.master.is_some() {
        return;
    }
    let master = srv.cluster.as_deref().and_then(|c| {
        let me = c.state.me();
        let m = c.state.node(&me.master?)?;
        let known = !m.ip.is_empty() && m.port != 0 && !m.has(flags::NOADDR);
        (me.is_replica() && known).then(|| (m.ip.clone(), m.port))
    });
    if let Some((ip, port)) = master {
        crate::replication::replica::set_master(srv, ip, port);
    }
}

/// A replica of a master with many replicas moves to a master left with
/// none (see `cluster::migration`).
pub(super) fn replica_migration(srv: &mut Server, now: u64) {
    use crate::config::Directive;
    let barrier = srv
        .config
        .get_int(Directive::ClusterMigrationBarrier)
        .max(0) as usize;
    let allowed = srv.config.get_bool(Directive::ClusterAllowReplicaMigration);
    let target = srv
        .cluster
        .as_deref_mut()
        .and_then(|c| c.state.replica_migration(now, barrier, allowed));
    if let Some(target) = target {
        log_notice!(
            "Migrating to orphaned master {}",
            String::from_utf8_lossy(&target)
        );
        super::set_my_master(srv, target);
    }
}

/// Becomes a master after an election or a takeover: stop replicating,
/// save, and tell every node at once (Redis's
/// `clusterFailoverReplaceYourMaster`).
pub fn promoted(srv: &mut Server) {
    let Some(c) = srv.cluster.as_deref_mut() else {
        return;
    };
    log_notice!(
        "configEpoch set to {} after successful failover",
        c.state.me().config_epoch
    );
    c.changed();
    crate::replication::replica::unset_master(srv);
    super::before_sleep(srv);
    broadcast_pong(srv);
}
