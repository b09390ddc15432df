//! What an INFO reply tells a sentinel, and what it does about it.
//!
//! INFO is how a sentinel learns an instance's run id (a change means a
//! reboot), its role, and for a replica its master, link state, priority
//! and replication offset; from a master, the list of its replicas, which
//! become known. Acting on it, as Redis Sentinel does: the promoted
//! replica reporting the master role completes the promotion; an instance
//! we know as a replica reporting the master role (an old master back) is
//! converted to a replica after a while; a replica following the wrong
//! master is pointed back; during a failover, a replica's progress towards
//! the promoted one is tracked.

use crate::action::Out;
use crate::events::inst_event;
use crate::failover::{promotion_seen, send_replicaof};
use crate::monitor::inst;
use crate::state::{Failover, Kind, Master, Reconf, Sentinel, Timing};
use server::log::Level;

/// The fields of an INFO reply a sentinel uses.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct InfoReport {
    pub runid: Option<String>,
    /// `Some(true)` for `role:master`; `None` when INFO had no role line
    /// (then the reply is ignored).
    pub role_master: Option<bool>,
    /// Replicas a master lists (`slaveN:ip=...,port=...`).
    /// `slaveN:ip=...,port=...`: host (an IP, or the host name a replica
    /// announces) and port.
    pub replicas: Vec<(String, u16)>,
    pub link_down_ms: i64,
    pub master_host: Option<String>,
    pub master_port: Option<u16>,
    pub link_up: Option<bool>,
    pub priority: Option<i64>,
    pub offset: Option<u64>,
    /// A master's `master_repl_offset`.
    pub master_offset: Option<u64>,
    pub announced: Option<bool>,
}

impl InfoReport {
    pub fn parse(text: &str) -> InfoReport {
        let mut r = InfoReport::default();
        for line in text.split("\r\n").flat_map(|l| l.split('\n')) {
            let Some((k, v)) = line.split_once(':') else {
                continue;
            };
            match k {
                "run_id" if v.len() == 40 => r.runid = Some(v.to_string()),
                "role" => r.role_master = Some(v == "master"),
                "master_host" => r.master_host = Some(v.to_string()),
                "master_port" => r.master_port = v.parse::<u16>().ok(),
                "master_link_status" => r.link_up = Some(v == "up"),
                "master_link_down_since_seconds" => {
                    r.link_down_ms = v.parse::<i64>().unwrap_or(0).saturating_mul(1000)
                }
                "slave_priority" | "replica_priority" => r.priority = v.parse::<i64>().ok(),
                "slave_repl_offset" => r.offset = v.parse::<u64>().ok(),
                "master_repl_offset" => r.master_offset = v.parse::<u64>().ok(),
                "replica_announced" => r.announced = Some(v == "1"),
                _ if k.starts_with("slave") && k[5..].bytes().all(|b| b.is_ascii_digit()) => {
                    let mut ip = None;
                    let mut port = None;
                    for kv in v.split(',') {
                        match kv.split_once('=') {
                            Some(("ip", x)) => ip = Some(x.to_string()),
                            Some(("port", x)) => port = x.parse::<u16>().ok(),
                            _ => {}
                        }
                    }
                    if let (Some(ip), Some(port)) = (ip, port) {
                        r.replicas.push((ip, port));
                    }
                }
                _ => {}
            }
        }
        r
    }
}

/// Parses an INFO reply from instance `id` and acts on what it shows:
/// replicas to add, role changes, a promotion, replicas to (re)point.
pub(crate) fn refresh_info(
    st: &mut Sentinel,
    out: &mut Out,
    master: &str,
    id: u64,
    text: &str,
    now: i64,
) {
    let report = InfoReport::parse(text);
    let Some(role_master) = report.role_master else {
        return;
    };
    let Some(m) = st.masters.get_mut(master) else {
        return;
    };
    let is_the_master = m.inst.id == id;
    let failover = m.failover;
    let reboot_period = m.master_reboot_down_after;
    let Some(i) = m.instance_mut(id) else { return };
    let mut rebooted = false;
    if let Some(r) = report.runid {
        if i.runid.as_deref().is_some_and(|old| old != r) {
            rebooted = true;
            if is_the_master && reboot_period > 0 {
                i.master_reboot_since = now;
            }
        }
        i.runid = Some(r);
    }
    i.info = text.to_string();
    i.info_refresh = now;
    i.master_link_down_time = if role_master { 0 } else { report.link_down_ms };
    let role_changed = i.role_master != role_master;
    if role_changed {
        i.role_master = role_master;
        i.role_reported_time = now;
    }
    if !role_master {
        let new_host = report.master_host.unwrap_or_default();
        let new_port = report.master_port.unwrap_or(0);
        if new_host != i.slave_master_host || new_port != i.slave_master_port {
            i.slave_master_host = new_host;
            i.slave_master_port = new_port;
            i.slave_conf_change_time = now;
        }
        i.master_link_up = report.link_up.unwrap_or(false);
        if let Some(p) = report.priority {
            i.slave_priority = p;
        }
        i.slave_repl_offset = report.offset.unwrap_or(0);
        i.replica_announced = report.announced.unwrap_or(true);
    }
    let kind = i.kind;
    if rebooted {
        inst_event(st, out, Level::Notice, "+reboot", master, id, "");
    }
    if role_changed {
        let agrees = (kind == Kind::Master) == role_master;
        let ev = if agrees {
            "+role-change"
        } else {
            "-role-change"
        };
        let extra = format!(
            "new reported role is {}",
            if role_master { "master" } else { "slave" }
        );
        inst_event(st, out, Level::Verbose, ev, master, id, &extra);
    }
    // Replicas the master lists become known.
    if is_the_master && role_master {
        let mut added = false;
        for (host, port) in report.replicas {
            // A host name is resolved under `resolve-hostnames yes` (and
            // kept unresolved if it does not resolve yet); refused
            // otherwise, as Redis does.
            let Some(a) = st.make_addr(&host, port, true) else {
                continue;
            };
            if let Some(rid) = st.add_replica(master, a, now) {
                inst_event(st, out, Level::Notice, "+slave", master, rid, "");
                added = true;
            }
        }
        if added {
            out.save();
        }
    }
    if st.tilt || kind != Kind::Replica {
        return;
    }
    replica_reported(st, out, master, id, failover, now);
}

/// A replica's fresh INFO, applied: act on its role and its master.
fn replica_reported(
    st: &mut Sentinel,
    out: &mut Out,
    master: &str,
    id: u64,
    failover: Failover,
    now: i64,
) {
    let timing = st.timing.clone();
    let Some(m) = st.masters.get(master) else {
        return;
    };
    let sane = master_looks_sane(m, now, &timing);
    let maddr = m.inst.addr.clone();
    let promoted_addr = m.promoted_replica().map(|p| p.addr.clone());
    let failover_timeout = m.failover_timeout;
    let Some(i) = m.replicas.iter().find(|r| r.id == id) else {
        return;
    };
    let promoted = i.promoted;
    let down_ago = now - i.down.sdown_since().max(i.down.odown_since());
    let role_age = now - i.role_reported_time;
    let conf_age = now - i.slave_conf_change_time;
    let follows = st.addr_is(&maddr, &i.slave_master_host) && i.slave_master_port == maddr.port;
    let follows_new = promoted_addr
        .as_ref()
        .is_some_and(|p| st.addr_is(p, &i.slave_master_host) && i.slave_master_port == p.port);
    let link_up = i.master_link_up;
    let reconf = i.reconf;
    if i.role_master {
        if promoted && failover == Failover::WaitPromotion {
            promotion_seen(st, out, master, id, now);
            return;
        }
        // An instance we know as a replica says it is a master (an old
        // master back from the dead): after a while, make it follow.
        let wait = timing.publish_period * 4;
        if !(promoted && failover != Failover::None)
            && sane
            && down_ago >= wait
            && role_age > wait
            && send_replicaof(st, out, master, id, Some(&maddr))
        {
            inst_event(st, out, Level::Notice, "+convert-to-slave", master, id, "");
        }
        return;
    }
    // A replica following the wrong master is pointed back, unless a
    // failover is rearranging things.
    if !follows
        && reconf == Reconf::None
        && failover == Failover::None
        && sane
        && down_ago >= failover_timeout
        && conf_age > failover_timeout
        && send_replicaof(st, out, master, id, Some(&maddr))
    {
        inst_event(st, out, Level::Notice, "+fix-slave-config", master, id, "");
        return;
    }
    // Progress of a replica being moved to the promoted one.
    if promoted_addr.is_none() || !matches!(reconf, Reconf::Sent(_) | Reconf::InProg) {
        return;
    }
    if matches!(reconf, Reconf::Sent(_)) && follows_new {
        if let Some(i) = inst(st, master, id) {
            i.reconf = Reconf::InProg;
        }
        inst_event(
            st,
            out,
            Level::Notice,
            "+slave-reconf-inprog",
            master,
            id,
            "",
        );
    }
    let reconf = inst(st, master, id).map(|i| i.reconf);
    if reconf == Some(Reconf::InProg) && link_up {
        if let Some(i) = inst(st, master, id) {
            i.reconf = Reconf::Done;
        }
        inst_event(st, out, Level::Notice, "+slave-reconf-done", master, id, "");
    }
}

/// Whether the master's own state is trustworthy enough to reconfigure
/// replicas after it: up, reporting the master role, INFO recent.
fn master_looks_sane(m: &Master, now: i64, t: &Timing) -> bool {
    m.inst.role_master
        && !m.inst.s_down()
        && !m.inst.o_down()
        && !m.inst.disconnected()
        && m.inst.info_refresh != 0
        && now - m.inst.info_refresh < t.info_period * 2
}
