//! The failover state machine, from the decision to try to the switch of
//! the master's address:
//!
//! ```text
//! None ─ODOWN─▶ WaitStart ─elected─▶ SelectSlave ─chosen─▶ SendSlaveofNoone
//!   ▲              │ not elected          │ none good            │ link down
//!   │              ▼ in time              ▼                      ▼ past failover-timeout
//!   └────────── (abort) ◀────────────────────────────────────────┘
//!                                                   ─sent─▶ WaitPromotion
//!   WaitPromotion ─replica reports master─▶ ReconfSlaves ─all done or
//!   failover-timeout─▶ UpdateConfig ─next tick─▶ None (master = promoted)
//! ```
//!
//! Each step is a pure function of the state and `now`; a transition is
//! an event (`+failover-state-*`, `-failover-abort-*`), which the shell
//! logs and publishes. Timings and events are Redis Sentinel's; where we
//! choose differently to keep confirmed writes, `select_replica` says so.

use crate::action::{Cmd, Out};
use crate::down::ask_others;
use crate::election::get_leader;
use crate::events::{inst_event, queue_script};
use crate::lease;
use crate::link::Tag;
use crate::monitor::inst;
use crate::state::{
    Addr, Down, Failover, Instance, Master, Reconf, Sentinel, Timing,
    SIMFAILURE_CRASH_AFTER_ELECTION, SIMFAILURE_CRASH_AFTER_PROMOTION,
};
use rand::Rng;
use server::log::Level;

/// A sentinel starting a failover asks for votes after a random delay in
/// this window: sentinels that saw the master fail at the same moment then
/// ask one after the other, and the first one collects the votes instead
/// of each voting for itself (a split vote costs an election timeout).
const VOTE_DESYNC: i64 = 400;

/// Starts a failover of an ODOWN master unless one runs, or one was tried
/// less than twice `failover-timeout` ago (Redis's pacing).
pub(crate) fn start_failover_if_needed(
    st: &mut Sentinel,
    out: &mut Out,
    master: &str,
    now: i64,
) -> bool {
    let mono = st.mono;
    let Some(m) = st.masters.get_mut(master) else {
        return false;
    };
    if !m.inst.o_down() || m.in_failover() {
        return false;
    }
    // Ours: no standing for election while we may not vote (a lease we
    // granted may still run; `lease::may_vote`). A master SDOWN although it
    // answers (rebooted and still loading, or reporting the replica role)
    // had our grants until then; sentinels that saw that together would
    // each turn the others' requests down and then vote for themselves.
    if !lease::may_vote(m, mono) {
        return false;
    }
    if now - m.failover_start_time < m.failover_timeout * 2 {
        if m.failover_delay_logged != m.failover_start_time {
            m.failover_delay_logged = m.failover_start_time;
            let when = m.failover_start_time + m.failover_timeout * 2;
            out.log(
                Level::Warning,
                format!(
                    "Next failover delay: I will not start a failover before {}",
                    ctime(when)
                ),
            );
        }
        return false;
    }
    start_failover(st, out, master, now);
    true
}

/// `Wed Nov 25 16:57:55 2026`, as Redis prints the next failover time.
fn ctime(ms: i64) -> String {
    let t = (ms / 1000) as libc::time_t;
    let mut buf = [0 as libc::c_char; 64];
    // SAFETY: ctime_r writes at most 26 bytes into the 64-byte buffer and
    // NUL-terminates it; `t` is a plain value.
    unsafe {
        let p = libc::ctime_r(&t, buf.as_mut_ptr());
        if p.is_null() {
            return String::new();
        }
        std::ffi::CStr::from_ptr(p)
            .to_string_lossy()
            .trim_end()
            .to_string()
    }
}

/// Enters `WaitStart` in a new epoch; the vote is asked after a random
/// delay (see [`VOTE_DESYNC`]).
pub fn start_failover(st: &mut Sentinel, out: &mut Out, master: &str, now: i64) {
    st.current_epoch += 1;
    let epoch = st.current_epoch;
    let Some(m) = st.masters.get_mut(master) else {
        return;
    };
    m.failover = Failover::WaitStart;
    m.failover_epoch = epoch;
    m.vote_asked = false;
    m.failover_start_time = now + st.rng.gen_range(0..VOTE_DESYNC);
    m.failover_state_change_time = now;
    let id = m.inst.id;
    out.event(Level::Warning, "+new-epoch", &epoch.to_string());
    inst_event(st, out, Level::Warning, "+try-failover", master, id, "");
}

/// Ends a failover attempt with its `-failover-abort-*` event; a master
/// we paused is let go.
fn abort_with(st: &mut Sentinel, out: &mut Out, master: &str, event: &str, now: i64) {
    let Some(mid) = st.masters.get(master).map(|m| m.inst.id) else {
        return;
    };
    if let Some(m) = st.masters.get_mut(master).filter(|m| m.pause_asked != 0) {
        let client = m.command_name("CLIENT").as_bytes().to_vec();
        out.send1(&mut m.inst, &[&client, b"UNPAUSE"], Tag::Ignore);
    }
    inst_event(st, out, Level::Warning, event, master, mid, "");
    abort_failover(st, master, now);
}

fn abort_failover(st: &mut Sentinel, master: &str, now: i64) {
    let Some(m) = st.masters.get_mut(master) else {
        return;
    };
    m.failover = Failover::None;
    m.force_failover = false;
    m.failover_state_change_time = now;
    m.promoted = None;
    m.pause_asked = 0;
    for r in m.replicas.iter_mut() {
        r.promoted = false;
        r.reconf = Reconf::None;
    }
}

/// A transition of the state machine, announced by `ev` about instance
/// `id`.
#[allow(clippy::too_many_arguments)]
fn set_state(
    st: &mut Sentinel,
    out: &mut Out,
    master: &str,
    to: Failover,
    ev: &str,
    id: u64,
    level: Level,
    now: i64,
) {
    if let Some(m) = st.masters.get_mut(master) {
        m.failover = to;
        m.failover_state_change_time = now;
    }
    inst_event(st, out, level, ev, master, id, "");
}

/// Runs the current step of the master's failover, if any.
pub(crate) fn failover_state_machine(st: &mut Sentinel, out: &mut Out, master: &str, now: i64) {
    let Some(m) = st.masters.get(master) else {
        return;
    };
    match m.failover {
        Failover::None | Failover::UpdateConfig => {}
        Failover::WaitStart => wait_start(st, out, master, now),
        Failover::SelectSlave => select_slave(st, out, master, now),
        Failover::SendSlaveofNoone => send_slaveof_noone(st, out, master, now),
        Failover::WaitPromotion => wait_promotion(st, out, master, now),
        Failover::ReconfSlaves => reconf_replicas(st, out, master, now),
    }
}

/// Waiting to be elected: ask for votes once the start delay is over,
/// count them every tick, give up after the election timeout (or
/// `failover-timeout` if shorter). A forced failover needs no votes.
fn wait_start(st: &mut Sentinel, out: &mut Out, master: &str, now: i64) {
    let Some(m) = st.masters.get_mut(master) else {
        return;
    };
    let mid = m.inst.id;
    let epoch = m.failover_epoch;
    let force = m.force_failover;
    let start = m.failover_start_time;
    let timeout = st.timing.election_timeout.min(m.failover_timeout);
    if now < start && !force {
        return;
    }
    if !m.vote_asked {
        m.vote_asked = true;
        ask_others(st, out, master, now, true);
    }
    let leader = get_leader(st, out, master, epoch, now);
    let is_leader = leader.as_deref() == Some(st.myid.as_str());
    if !is_leader && !force {
        if now - start > timeout {
            abort_with(st, out, master, "-failover-abort-not-elected", now);
        }
        return;
    }
    inst_event(st, out, Level::Warning, "+elected-leader", master, mid, "");
    if st.simfailure_flags & SIMFAILURE_CRASH_AFTER_ELECTION != 0 {
        out.crash("Simulated failure: crash after election");
        return;
    }
    set_state(
        st,
        out,
        master,
        Failover::SelectSlave,
        "+failover-state-select-slave",
        mid,
        Level::Warning,
        now,
    );
    if force {
        pause_master(st, out, master, now);
    }
    // Fresh offsets before choosing (see `select_replica`).
    ask_fresh_info(st, out, master, now);
}

/// A manual failover of a master that may be alive and taking writes:
/// its writes are paused first (`CLIENT PAUSE failover-timeout WRITE`),
/// and its INFO asked right behind, for the offset every confirmed write
/// lies within; only a replica at that offset is promoted (see
/// [`select_slave`]). Ours: Redis Sentinel promotes while the master
/// still confirms writes through the other replicas.
fn pause_master(st: &mut Sentinel, out: &mut Out, master: &str, now: i64) {
    let Some(m) = st.masters.get_mut(master) else {
        return;
    };
    if !m.inst.links.cmd_connected() {
        return;
    }
    let client = m.command_name("CLIENT").as_bytes().to_vec();
    let info = m.command_name("INFO").as_bytes().to_vec();
    let ms = m.failover_timeout.to_string();
    let cmds = vec![
        Cmd {
            args: vec![
                client,
                b"PAUSE".to_vec(),
                ms.into_bytes(),
                b"WRITE".to_vec(),
            ],
            tag: Tag::Ignore,
        },
        Cmd {
            args: vec![info],
            tag: Tag::Info,
        },
    ];
    if out.send(&mut m.inst, cmds) {
        m.pause_asked = now;
    }
}

/// The smallest offset the replica to promote must have: the paused
/// master's offset for a manual failover (None: its INFO is not in yet,
/// wait), 0 otherwise — or when the master did not answer within a ping
/// period (then it is treated as a dead one).
pub fn required_offset(m: &Master, now: i64, t: &Timing) -> Option<u64> {
    if m.pause_asked == 0 {
        return Some(0);
    }
    if m.inst.info_refresh >= m.pause_asked {
        return Some(
            crate::info::InfoReport::parse(&m.inst.info)
                .master_offset
                .unwrap_or(0),
        );
    }
    if now - m.pause_asked <= t.ping_period {
        None
    } else {
        Some(0)
    }
}

/// Choosing the replica, once the fresh INFO replies are in.
fn select_slave(st: &mut Sentinel, out: &mut Out, master: &str, now: i64) {
    if !fresh_info_ready(st, master, now) {
        return;
    }
    let t = st.timing.clone();
    let Some(m) = st.masters.get_mut(master) else {
        return;
    };
    let Some(need) = required_offset(m, now, &t) else {
        return;
    };
    let chosen = select_replica(m, now, &t);
    let behind = chosen
        .and_then(|id| m.replicas.iter().find(|r| r.id == id))
        .is_some_and(|r| r.slave_repl_offset < need);
    if behind {
        // The replicas are still catching up with the paused master: ask
        // again, until failover-timeout.
        if now - m.failover_state_change_time > m.failover_timeout {
            abort_with(st, out, master, "-failover-abort-no-good-slave", now);
        } else {
            ask_fresh_info(st, out, master, now);
        }
        return;
    }
    let Some(rid) = chosen else {
        abort_with(st, out, master, "-failover-abort-no-good-slave", now);
        return;
    };
    m.promoted = Some(rid);
    if let Some(r) = m.replicas.iter_mut().find(|r| r.id == rid) {
        r.promoted = true;
    }
    inst_event(st, out, Level::Warning, "+selected-slave", master, rid, "");
    set_state(
        st,
        out,
        master,
        Failover::SendSlaveofNoone,
        "+failover-state-send-slaveof-noone",
        rid,
        Level::Notice,
        now,
    );
}

/// Promoting: `REPLICAOF NO ONE` once the chosen replica's link is up; a
/// link still down after `failover-timeout` aborts.
fn send_slaveof_noone(st: &mut Sentinel, out: &mut Out, master: &str, now: i64) {
    let Some(m) = st.masters.get(master) else {
        return;
    };
    let Some(p) = m.promoted_replica() else {
        abort_failover(st, master, now);
        return;
    };
    let pid = p.id;
    if !p.links.cmd_connected() {
        if now - m.failover_state_change_time > m.failover_timeout {
            abort_with(st, out, master, "-failover-abort-slave-timeout", now);
        }
        return;
    }
    if !send_replicaof(st, out, master, pid, None) {
        return;
    }
    // Ask for INFO right behind the batch: the promotion is seen as soon
    // as it happened instead of a second later.
    if let Some(m) = st.masters.get_mut(master) {
        let info = m.command_name("INFO").as_bytes().to_vec();
        if let Some(p) = m.replicas.iter_mut().find(|r| r.id == pid) {
            out.send1(p, &[&info], Tag::Info);
        }
    }
    set_state(
        st,
        out,
        master,
        Failover::WaitPromotion,
        "+failover-state-wait-promotion",
        pid,
        Level::Notice,
        now,
    );
}

/// Waiting for the promoted replica's INFO to report the master role
/// (`info::refresh_info` then calls [`promotion_seen`]); past
/// `failover-timeout`, abort.
fn wait_promotion(st: &mut Sentinel, out: &mut Out, master: &str, now: i64) {
    let Some(m) = st.masters.get_mut(master) else {
        return;
    };
    if now - m.failover_state_change_time > m.failover_timeout {
        abort_with(st, out, master, "-failover-abort-slave-timeout", now);
        return;
    }
    // Keep asking: each INFO reply may show the promotion.
    let info = m.command_name("INFO").as_bytes().to_vec();
    let Some(pid) = m.promoted else { return };
    if let Some(p) = m.replicas.iter_mut().find(|r| r.id == pid) {
        if p.links.cmd.is_some() && p.links.pending() == 0 {
            out.send1(p, &[&info], Tag::Info);
        }
    }
}

/// The promoted replica reports the master role: the failover's point of
/// no return. The new configuration gets the failover's epoch.
pub(crate) fn promotion_seen(st: &mut Sentinel, out: &mut Out, master: &str, id: u64, now: i64) {
    let Some(m) = st.masters.get_mut(master) else {
        return;
    };
    m.config_epoch = m.failover_epoch;
    m.failover = Failover::ReconfSlaves;
    m.failover_state_change_time = now;
    let old = m.inst.addr.clone();
    let new = m
        .promoted_replica()
        .map(|p| p.addr.clone())
        .unwrap_or_else(|| old.clone());
    let script = m.client_reconfig_script.clone();
    let mid = m.inst.id;
    out.save();
    inst_event(st, out, Level::Warning, "+promoted-slave", master, id, "");
    if st.simfailure_flags & SIMFAILURE_CRASH_AFTER_PROMOTION != 0 {
        out.crash("Simulated failure: crash after promotion");
        return;
    }
    inst_event(
        st,
        out,
        Level::Warning,
        "+failover-state-reconf-slaves",
        master,
        mid,
        "",
    );
    if let Some(path) = script {
        reconfig_script(st, path, master, "leader", "start", &old, &new);
    }
    // Tell everyone the new configuration at once rather than in up to
    // a publish period.
    let publish_period = st.timing.publish_period;
    if let Some(m) = st.masters.get_mut(master) {
        for i in std::iter::once(&mut m.inst)
            .chain(m.replicas.iter_mut())
            .chain(m.sentinels.iter_mut())
        {
            i.last_pub_time = now - publish_period - 1;
        }
    }
}

/// Queues the `client-reconfig-script` with Redis's arguments.
pub(crate) fn reconfig_script(
    st: &mut Sentinel,
    path: String,
    master: &str,
    role: &str,
    state: &str,
    from: &Addr,
    to: &Addr,
) {
    queue_script(
        st,
        path,
        vec![
            master.to_string(),
            role.to_string(),
            state.to_string(),
            st.announce(from).to_string(),
            from.port.to_string(),
            st.announce(to).to_string(),
            to.port.to_string(),
        ],
    );
}

/// Sends the reconfiguration batch Redis Sentinel sends: REPLICAOF inside
/// MULTI with a config rewrite and the clients killed, so clients
/// reconnect and ask where the master is now. `to: None` promotes. Only
/// on an established link; false when nothing was sent.
pub(crate) fn send_replicaof(
    st: &mut Sentinel,
    out: &mut Out,
    master: &str,
    id: u64,
    to: Option<&Addr>,
) -> bool {
    // The address as announced: replicas are pointed at the host name
    // with `announce-hostnames yes`, as Redis does.
    let to = to.map(|a| (st.announce(a).as_bytes().to_vec(), a.port));
    let Some(m) = st.masters.get_mut(master) else {
        return false;
    };
    let name = |c: &str| m.command_name(c).as_bytes().to_vec();
    let (host, port) = match to {
        Some((host, port)) => (host, port.to_string().into_bytes()),
        None => (b"NO".to_vec(), b"ONE".to_vec()),
    };
    let ignore = |args: Vec<Vec<u8>>| Cmd {
        args,
        tag: Tag::Ignore,
    };
    let cmds = vec![
        ignore(vec![name("MULTI")]),
        ignore(vec![name("SLAVEOF"), host, port]),
        ignore(vec![name("CONFIG"), b"REWRITE".to_vec()]),
        ignore(vec![
            name("CLIENT"),
            b"KILL".to_vec(),
            b"TYPE".to_vec(),
            b"normal".to_vec(),
        ]),
        ignore(vec![
            name("CLIENT"),
            b"KILL".to_vec(),
            b"TYPE".to_vec(),
            b"pubsub".to_vec(),
        ]),
        ignore(vec![name("EXEC")]),
    ];
    let Some(i) = m
        .replicas
        .iter_mut()
        .chain(std::iter::once(&mut m.inst))
        .find(|i| i.id == id)
    else {
        return false;
    };
    i.links.cmd_connected() && out.send(i, cmds)
}

/// Asks every connected replica for INFO now, so the choice below sees
/// offsets taken after the master stopped, not up to an INFO period old.
fn ask_fresh_info(st: &mut Sentinel, out: &mut Out, master: &str, now: i64) {
    let Some(m) = st.masters.get_mut(master) else {
        return;
    };
    m.select_started = now;
    let info = m.command_name("INFO").as_bytes().to_vec();
    for r in m.replicas.iter_mut() {
        if r.links.cmd_connected() && out.send1(r, &[&info], Tag::Info) {
            r.fresh_info_asked = now;
        }
    }
}

/// Every replica asked for fresh INFO has answered — or one ping period
/// went by, and the choice is made with what arrived (a replica that did
/// not answer keeps its older INFO, judged by `select_replica`'s age rule).
pub fn fresh_info_ready(st: &Sentinel, master: &str, now: i64) -> bool {
    let Some(m) = st.masters.get(master) else {
        return true;
    };
    if now - m.select_started > st.timing.ping_period {
        return true;
    }
    m.replicas
        .iter()
        .filter(|r| r.fresh_info_asked >= m.select_started && r.links.cmd_connected())
        .all(|r| r.info_refresh >= m.select_started)
}

/// Whether replica `r` may be promoted at `now`.
///
/// Redis's rules: not down, link established and a valid PING reply in
/// the last five ping periods, priority not 0, INFO received
/// and recent — at most five ping periods old while the master is SDOWN
/// (three INFO periods otherwise): a replica whose INFO is older is not a
/// candidate, since its role and offset may have changed since — and its
/// link to the old master not down for much longer than the master has
/// been (ten times down-after plus the master's SDOWN time), or its data
/// is too old. `replica-announced no` only hides a replica from clients
/// (`SENTINEL REPLICAS`); it may still be promoted, as Redis documents
/// (priority 0 is how a replica is kept from promotion).
///
/// Ours on top: it must report itself a replica. An instance reporting
/// the master role (an old master back before it was converted) holds
/// none of the writes made since, and promoting it would discard them.
pub fn eligible(m: &Master, r: &Instance, now: i64, t: &Timing) -> bool {
    let mut max_master_down = 0;
    if m.inst.s_down() {
        max_master_down += now - m.inst.down.sdown_since();
    }
    max_master_down += m.inst.down_after * 10;
    let validity = if m.inst.s_down() {
        t.ping_period * 5
    } else {
        t.info_period * 3
    };
    !r.s_down()
        && !r.o_down()
        && r.links.cmd_connected()
        && now - r.links.last_avail_time <= t.ping_period * 5
        && r.slave_priority != 0
        && !r.role_master
        && r.info_refresh != 0
        && now - r.info_refresh <= validity
        && r.master_link_down_time <= max_master_down
}

/// Chooses the replica to promote among the [`eligible`] ones.
///
/// Ordering departs from Redis on purpose: the largest replication offset
/// comes first, priority second (lower first), run id last (smaller
/// first, unknown last). A write confirmed with `WAIT n` (n >= 1) reached
/// at least one replica; all replicas of one master share one history, so
/// the replica with the largest offset holds every write any reachable
/// replica acknowledged. Redis puts priority first and can promote a
/// replica that lacks confirmed writes. Offsets are fresh: INFO was asked
/// of every replica when the election was won (see [`fresh_info_ready`]).
pub fn select_replica(m: &Master, now: i64, t: &Timing) -> Option<u64> {
    let mut cands: Vec<&Instance> = m
        .replicas
        .iter()
        .filter(|r| eligible(m, r, now, t))
        .collect();
    cands.sort_by(|a, b| {
        b.slave_repl_offset
            .cmp(&a.slave_repl_offset)
            .then(a.slave_priority.cmp(&b.slave_priority))
            .then_with(|| match (&a.runid, &b.runid) {
                (Some(x), Some(y)) => x.cmp(y),
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (None, None) => std::cmp::Ordering::Equal,
            })
    });
    cands.first().map(|r| r.id)
}

/// Pointing the other replicas at the promoted one, `parallel-syncs` at
/// a time; a replica that has not started following within
/// `slave-reconf-timeout` is tried again.
fn reconf_replicas(st: &mut Sentinel, out: &mut Out, master: &str, now: i64) {
    let reconf_timeout = st.timing.slave_reconf_timeout;
    let Some(m) = st.masters.get_mut(master) else {
        return;
    };
    let Some(paddr) = m.promoted_replica().map(|p| p.addr.clone()) else {
        return;
    };
    let parallel = m.parallel_syncs.max(1) as usize;
    let mut timed_out = Vec::new();
    for r in m.replicas.iter_mut() {
        if let Reconf::Sent(t) = r.reconf {
            if now - t > reconf_timeout {
                r.reconf = Reconf::None;
                timed_out.push(r.id);
            }
        }
    }
    for id in timed_out {
        inst_event(
            st,
            out,
            Level::Notice,
            "-slave-reconf-sent-timeout",
            master,
            id,
            "",
        );
    }
    let Some(m) = st.masters.get(master) else {
        return;
    };
    let mut in_progress = m
        .replicas
        .iter()
        .filter(|r| matches!(r.reconf, Reconf::Sent(_) | Reconf::InProg))
        .count();
    let todo: Vec<u64> = m
        .replicas
        .iter()
        .filter(|r| !r.promoted && r.reconf == Reconf::None && !r.disconnected())
        .map(|r| r.id)
        .collect();
    for id in todo {
        if in_progress >= parallel {
            break;
        }
        if send_replicaof(st, out, master, id, Some(&paddr)) {
            if let Some(i) = inst(st, master, id) {
                i.reconf = Reconf::Sent(now);
            }
            inst_event(st, out, Level::Notice, "+slave-reconf-sent", master, id, "");
            in_progress += 1;
        }
    }
    detect_end(st, out, master, now);
}

/// The reconfiguration is over when every replica not down follows the
/// promoted one, or `failover-timeout` passed (then the rest are sent
/// REPLICAOF once more, best effort, without waiting).
fn detect_end(st: &mut Sentinel, out: &mut Out, master: &str, now: i64) {
    let Some(m) = st.masters.get(master) else {
        return;
    };
    let Some(p) = m.promoted_replica() else {
        return;
    };
    if p.s_down() {
        return;
    }
    let timeout = now - m.failover_state_change_time > m.failover_timeout;
    let not_done = m
        .replicas
        .iter()
        .filter(|r| !r.promoted && r.reconf != Reconf::Done && !r.s_down())
        .count();
    if not_done > 0 && !timeout {
        return;
    }
    let mid = m.inst.id;
    let paddr = p.addr.clone();
    if timeout {
        inst_event(
            st,
            out,
            Level::Warning,
            "+failover-end-for-timeout",
            master,
            mid,
            "",
        );
    }
    set_state(
        st,
        out,
        master,
        Failover::UpdateConfig,
        "+failover-end",
        mid,
        Level::Warning,
        now,
    );
    if !timeout {
        return;
    }
    // Best effort for the replicas left behind.
    let left: Vec<u64> = st
        .masters
        .get(master)
        .map(|m| {
            m.replicas
                .iter()
                .filter(|r| !r.promoted && !matches!(r.reconf, Reconf::Done | Reconf::Sent(_)))
                .map(|r| r.id)
                .collect()
        })
        .unwrap_or_default();
    for id in left {
        if send_replicaof(st, out, master, id, Some(&paddr)) {
            inst_event(
                st,
                out,
                Level::Notice,
                "+slave-reconf-sent-be",
                master,
                id,
                "",
            );
            if let Some(i) = inst(st, master, id) {
                i.reconf = Reconf::Sent(now);
            }
        }
    }
}

/// `UpdateConfig`: the master entry now points at the promoted replica.
pub(crate) fn switch_to_promoted(st: &mut Sentinel, out: &mut Out, master: &str, now: i64) {
    let Some(m) = st.masters.get(master) else {
        return;
    };
    let old = m.inst.addr.clone();
    let new = m
        .promoted_replica()
        .map(|p| p.addr.clone())
        .unwrap_or_else(|| old.clone());
    let text = format!(
        "{} {} {} {} {}",
        master,
        st.announce(&old),
        old.port,
        st.announce(&new),
        new.port
    );
    let script = m.notification_script.clone();
    out.event(Level::Warning, "+switch-master", &text);
    if let Some(path) = script {
        queue_script(st, path, vec!["+switch-master".into(), text]);
    }
    reset_master_and_change_address(st, out, master, new, now);
}

/// Points a master entry at a new address: replicas become the old
/// replicas minus the new master plus the old master, and all state
/// about the old instance is dropped.
pub fn reset_master_and_change_address(
    st: &mut Sentinel,
    out: &mut Out,
    master: &str,
    new: Addr,
    now: i64,
) {
    let Some(m) = st.masters.get_mut(master) else {
        return;
    };
    let old = m.inst.addr.clone();
    let mut addrs: Vec<Addr> = m
        .replicas
        .iter()
        .map(|r| r.addr.clone())
        .filter(|a| *a != new)
        .collect();
    if old != new {
        addrs.push(old);
        m.failovers += 1;
    }
    for r in m.replicas.iter_mut() {
        out.close_links(r);
    }
    m.replicas.clear();
    reset_master(m, out, now);
    if m.inst.addr != new {
        // A new master: nothing granted to it yet. (At the same address
        // our grants and the block after a vote stay in force.)
        m.lease = Default::default();
    }
    m.inst.addr = new;
    for a in addrs {
        if let Some(id) = st.add_replica(master, a, now) {
            inst_event(st, out, Level::Notice, "+slave", master, id, "");
        }
    }
    out.save();
}

/// Forgets what was learnt about a master's instance (not its sentinels).
pub fn reset_master(m: &mut Master, out: &mut Out, now: i64) {
    out.close_links(&mut m.inst);
    m.inst.runid = None;
    m.inst.down = Down::Up;
    m.inst.info_refresh = 0;
    m.inst.info.clear();
    m.inst.role_master = true;
    m.inst.role_reported_time = now;
    m.inst.links.act_ping_time = now;
    m.inst.links.last_ping_time = 0;
    m.inst.links.last_avail_time = now;
    m.inst.links.last_pong_time = now;
    m.inst.links.last_reconn_time = 0;
    m.leader = None;
    m.failover = Failover::None;
    m.failover_state_change_time = 0;
    m.failover_start_time = 0;
    m.promoted = None;
    m.force_failover = false;
    m.pause_asked = 0;
}
