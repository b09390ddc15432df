//! Failure detection: subjective down (SDOWN) from our own PINGs, and
//! objective down (ODOWN) from the other sentinels' answers to
//! `SENTINEL is-master-down-by-addr`.
//!
//! Rules, as Redis Sentinel's:
//! - An instance is SDOWN once it has gone `down-after-milliseconds`
//!   without a valid PING reply (PONG, LOADING or MASTERDOWN): counted from
//!   the oldest unanswered PING, or from the last valid reply when there is
//!   no established link. A master reporting the replica role for longer
//!   than down-after plus two INFO periods, or rebooted and silent for
//!   longer than `master-reboot-down-after-period`, is SDOWN too.
//! - A master is ODOWN when we see it SDOWN and, with us, at least
//!   `quorum` sentinels said so in an answer younger than five ask periods.
//!
//! We depart in one place: on SDOWN the other sentinels are asked at once
//! rather than at the next ask period, and each answer is acted on as it
//! arrives (see `master_down_reply`).

use crate::action::Out;
use crate::events::inst_event;
use crate::failover;
use crate::link::Tag;
use crate::monitor::inst;
use crate::state::{Down, Sentinel};
use resp::frame::Frame;
use server::log::Level;

pub(crate) fn check_sdown(st: &mut Sentinel, out: &mut Out, master: &str, id: u64, now: i64) {
    let t = st.timing.clone();
    let Some(m) = st.masters.get_mut(master) else {
        return;
    };
    let is_master = m.inst.id == id;
    let reboot_period = m.master_reboot_down_after;
    let Some(i) = m.instance_mut(id) else { return };
    let l = &i.links;
    let elapsed = if l.act_ping_time != 0 {
        now - l.act_ping_time
    } else if !l.cmd_connected() {
        now - l.last_avail_time
    } else {
        0
    };
    // A link that stopped answering is recycled so a half-open socket
    // cannot keep the instance "connected".
    if let Some(c) = l.cmd.as_ref().filter(|c| c.connected) {
        if now - c.since >= t.min_link_reconnect_period
            && l.act_ping_time != 0
            && now - l.act_ping_time > i.down_after / 2
            && now - l.last_pong_time > i.down_after / 2
        {
            out.close_cmd(i);
        }
    }
    let l = &i.links;
    if let Some(p) = l.pubsub.as_ref().filter(|p| p.connected) {
        if now - p.since >= t.min_link_reconnect_period
            && now - l.pubsub_last_activity > t.publish_period * 3
        {
            out.close_pubsub(i);
        }
    }
    let reports_replica_too_long = is_master
        && !i.role_master
        && now - i.role_reported_time > i.down_after + t.info_period * 2;
    // A master that rebooted and is not answering PONG yet (still loading,
    // say) for longer than `master-reboot-down-after-period`.
    let rebooting_too_long =
        is_master && i.master_reboot_since != 0 && now - i.master_reboot_since > reboot_period;
    if elapsed > i.down_after || reports_replica_too_long || rebooting_too_long {
        if !i.s_down() {
            i.down = Down::Subjectively { since: now };
            inst_event(st, out, Level::Warning, "+sdown", master, id, "");
            if is_master {
                // Ask the others right away instead of on the next period.
                ask_others(st, out, master, now, true);
            }
        }
    } else if i.s_down() {
        let was_odown = i.o_down();
        i.down = Down::Up;
        i.script_kill_sent = false;
        inst_event(st, out, Level::Warning, "-sdown", master, id, "");
        // Objective down needs subjective down: it ends with it.
        if was_odown {
            inst_event(st, out, Level::Warning, "-odown", master, id, "");
        }
    }
}

/// Counts the sentinels (us included) that see the master down.
pub fn odown_votes(st: &Sentinel, master: &str) -> u32 {
    let Some(m) = st.masters.get(master) else {
        return 0;
    };
    if !m.inst.s_down() {
        return 0;
    }
    1 + m.sentinels.iter().filter(|s| s.master_down).count() as u32
}

pub(crate) fn check_odown(st: &mut Sentinel, out: &mut Out, master: &str, now: i64) {
    let votes = odown_votes(st, master);
    let Some(m) = st.masters.get_mut(master) else {
        return;
    };
    let quorum = m.quorum;
    let odown = m.inst.s_down() && votes >= quorum;
    let id = m.inst.id;
    match (odown, m.inst.down) {
        (true, Down::Subjectively { since }) => {
            m.inst.down = Down::Objectively {
                sdown_since: since,
                odown_since: now,
            };
            let extra = format!("#quorum {votes}/{quorum}");
            inst_event(st, out, Level::Warning, "+odown", master, id, &extra);
        }
        (false, Down::Objectively { sdown_since, .. }) => {
            m.inst.down = Down::Subjectively { since: sdown_since };
            inst_event(st, out, Level::Warning, "-odown", master, id, "");
        }
        _ => {}
    }
}

/// Asks the other sentinels whether they see the master down — and, once
/// a failover is ours to try, for their vote. Answers older than five ask
/// periods are forgotten here.
pub(crate) fn ask_others(st: &mut Sentinel, out: &mut Out, master: &str, now: i64, forced: bool) {
    let ask_period = st.timing.ask_period;
    let myid = st.myid.clone();
    let epoch = st.current_epoch.to_string();
    let Some(host) = st
        .masters
        .get(master)
        .map(|m| st.announce(&m.inst.addr).to_string())
    else {
        return;
    };
    let Some(m) = st.masters.get_mut(master) else {
        return;
    };
    let sdown = m.inst.s_down();
    let runid = if m.in_failover() {
        myid
    } else {
        "*".to_string()
    };
    let addr = m.inst.addr.clone();
    let port = addr.port.to_string();
    let cmd = m.command_name("SENTINEL").as_bytes().to_vec();
    for s in m.sentinels.iter_mut() {
        let elapsed = now - s.last_master_down_reply_time;
        if elapsed > ask_period * 5 {
            s.master_down = false;
            s.leader = None;
        }
        if !sdown || !s.links.cmd_connected() {
            continue;
        }
        // One question at a time per peer, at most once per period
        // unless forced.
        if !forced && s.asked_at != 0 && now - s.asked_at < ask_period {
            continue;
        }
        if !forced && elapsed < ask_period {
            continue;
        }
        let args: [&[u8]; 6] = [
            &cmd,
            b"is-master-down-by-addr",
            host.as_bytes(),
            port.as_bytes(),
            epoch.as_bytes(),
            runid.as_bytes(),
        ];
        if out.send1(s, &args, Tag::MasterDown) {
            s.asked_at = now;
        }
    }
}

/// Another sentinel's answer to `is-master-down-by-addr`: whether it sees
/// the master down and, when we asked for it, whom it voted for.
pub(crate) fn master_down_reply(
    st: &mut Sentinel,
    out: &mut Out,
    master: &str,
    id: u64,
    frame: Frame,
    now: i64,
) {
    let Frame::Array(parts) = frame else { return };
    let (Some(Frame::Integer(down)), Some(leader), Some(Frame::Integer(epoch))) =
        (parts.first(), parts.get(1), parts.get(2))
    else {
        return;
    };
    let Some(leader) = leader.as_bytes() else {
        return;
    };
    let leader = String::from_utf8_lossy(leader).into_owned();
    let Some(i) = inst(st, master, id) else {
        return;
    };
    i.last_master_down_reply_time = now;
    i.asked_at = 0;
    i.master_down = *down == 1;
    if leader != "*" {
        if i.leader.as_deref() != Some(leader.as_str()) || i.leader_epoch != *epoch as u64 {
            out.log(
                Level::Warning,
                format!("{} voted for {} {}", i.name, leader, epoch),
            );
        }
        i.leader = Some(leader);
        i.leader_epoch = (*epoch).max(0) as u64;
    }
    // React at once rather than on the next tick: the objective down
    // state and the election can advance now.
    if st
        .masters
        .get(master)
        .map(|m| m.inst.s_down())
        .unwrap_or(false)
    {
        check_odown(st, out, master, now);
        failover::start_failover_if_needed(st, out, master, now);
        failover::failover_state_machine(st, out, master, now);
    }
}
