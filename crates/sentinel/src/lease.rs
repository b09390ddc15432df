//! The lease we grant the masters we watch, so that a master cut off
//! from most of the sentinels stops confirming writes before any of them
//! can promote a replica (Redoubt only; Redis Sentinel has no such
//! thing). The master's side, and the format of the grant, are in
//! `server::replication::lease`; the argument is in docs/ARCHITECTURE.md
//! (Sentinel, "Confirmed writes survive").
//!
//! Our side has three rules, all decided here:
//! - **Renew** ([`may_grant`]): every [`renew_period`], with the master's
//!   clock reading from the reply to the previous renewal on the same
//!   link, while the master is up in our eyes and answered us within
//!   `down-after-milliseconds` − L. So by the time we could see it
//!   subjectively down, our last grant has already run out. A master
//!   with clients in `WAIT` asks for a renewal on its hello channel, with
//!   its clock; it gets one at once ([`on_renew_request`]).
//! - **Vote** ([`may_vote`]): no vote for a failover of this master (for
//!   another sentinel or for ourselves) until our last grant ran out, L
//!   after we sent it, on our monotonic clock.
//! - **After a vote** ([`voted`]): no grant for as long as the failover we
//!   voted for may still promote a replica.
//!
//! L is half of `down-after-milliseconds` ([`lease_ms`]); no directive.
//! We grant only while the Redoubt sentinels are a majority of the group
//! ([`redoubt_majority`]); with mostly real redis-sentinels the master is
//! left unfenced, as Redis.
//! A master that refuses the renewal (a real Redis, or an ACL user without
//! `REPLCONF`) is not asked again on that link, and is fenced by nothing.

use crate::action::Out;
use crate::link::Tag;
use crate::state::{Master, Sentinel};
use resp::Frame;

/// Our part of the lease of one master.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct LeaseGrant {
    /// The master's clock as it answered our last renewal, and the
    /// generation of the command link it came on (a reading from an older
    /// connection is not used: the master may have moved).
    pub stamp: Option<(u64, i64)>,
    /// Our monotonic ms when we last sent a grant (a renewal with a
    /// stamp): we do not vote until L after it.
    pub granted_at: Option<i64>,
    /// Our monotonic ms of the last renewal or probe sent.
    pub sent_at: i64,
    /// Wall ms of the master's last answer to a renewal.
    pub last_reply: i64,
    /// The master refused the renewal on this link generation.
    pub unsupported_gen: Option<u64>,
    /// No grant before this (monotonic ms), after a vote.
    pub blocked_until: i64,
    /// The link generation we sent a release on ([`outnumbered`]).
    pub released_gen: Option<u64>,
}

/// L: how long a grant runs (the master takes a tenth off for drift).
pub fn lease_ms(down_after: i64) -> i64 {
    (down_after / 2).max(1)
}

/// How often the lease is renewed: five times per lease, so a master
/// keeps it through a renewal or two lost or late.
pub fn renew_period(down_after: i64) -> i64 {
    (lease_ms(down_after) / 5).max(1)
}

/// Whether a renewal (or the first probe) may go to master `m` now.
/// `now` is the wall clock the rest of the core uses, `mono` our
/// monotonic clock.
pub fn may_grant(m: &Master, now: i64, mono: i64) -> bool {
    may_grant_now(m, now, mono) && mono - m.lease.sent_at >= renew_period(m.inst.down_after)
}

/// [`may_grant`] but for the period: a master that asks for a renewal
/// (to certify acknowledgements a `WAIT` is waiting for) gets one at once.
pub fn may_grant_now(m: &Master, now: i64, mono: i64) -> bool {
    let i = &m.inst;
    if !redoubt_majority(m) {
        return false;
    }
    let gen = i.links.cmd.as_ref().map(|l| l.gen);
    let last_answer = i.links.last_avail_time.max(m.lease.last_reply);
    i.links.cmd_connected()
        && m.lease.unsupported_gen != gen
        && i.role_master
        && !i.s_down()
        && !i.o_down()
        && !m.in_failover()
        && mono >= m.lease.blocked_until
        && now - last_answer < i.down_after - lease_ms(i.down_after)
}

/// Whether the Redoubt sentinels we know of (ourselves included) are a
/// majority of the sentinels watching `m`. Only they grant, and a master
/// holds the lease only on a majority's grants: in a group of mostly real
/// redis-sentinels we grant nothing, so the master is never fenced and
/// behaves as Redis (a peer whose kind is not known yet counts as not
/// ours). The safety does not need every sentinel to be ours: a majority
/// that granted is all Redoubt, and it shares a member with any majority
/// that votes.
pub fn redoubt_majority(m: &Master) -> bool {
    let ours = 1 + m
        .sentinels
        .iter()
        .filter(|s| s.redoubt == Some(true))
        .count();
    ours * 2 > m.sentinels.len() + 1
}

/// Whether the sentinels known *not* to be Redoubt ones are at least half
/// of the group: no majority can ever grant, so a master we armed (alone,
/// before we knew the others) is released.
pub fn outnumbered(m: &Master) -> bool {
    let theirs = m
        .sentinels
        .iter()
        .filter(|s| s.redoubt == Some(false))
        .count();
    let group = m.sentinels.len() + 1;
    theirs * 2 >= group
}

/// Whether a peer's `INFO server` reply shows a Redoubt sentinel.
pub fn is_redoubt_info(frame: &Frame) -> bool {
    match frame {
        Frame::Bulk(b) | Frame::Verbatim(b) => b
            .windows(b"redoubt_version:".len())
            .any(|w| w == b"redoubt_version:"),
        _ => false,
    }
}

/// Whether our grants to `m` have all run out, so that we may vote for a
/// failover of it (or count our own vote).
pub fn may_vote(m: &Master, mono: i64) -> bool {
    match m.lease.granted_at {
        None => true,
        Some(t) => mono - t >= lease_ms(m.inst.down_after),
    }
}

/// We voted in a failover of `m`: no grant while that failover may still
/// promote a replica — the election (at most the election timeout or
/// `failover-timeout`), then sending the promotion (at most
/// `failover-timeout`) and waiting for it (the same again). Once the
/// address switches, the old master is a replica to us and gets nothing.
pub fn voted(m: &mut Master, mono: i64, election_timeout: i64) {
    let ft = m.failover_timeout;
    let until = mono + election_timeout.min(ft) + 2 * ft;
    m.lease.blocked_until = m.lease.blocked_until.max(until);
}

/// `RUNID,VOTERS,MS,STAMP`, the value of `REPLCONF sentinel-lease`.
pub fn grant_value(myid: &str, voters: usize, lease_ms: i64, stamp: i64) -> String {
    format!("{myid},{voters},{lease_ms},{stamp}")
}

/// Renews the lease of master `master` if due (from the timer).
pub(crate) fn renew(st: &mut Sentinel, out: &mut Out, master: &str, now: i64) {
    let mono = st.mono;
    let Some(m) = st.masters.get(master) else {
        return;
    };
    let gen = m.inst.links.cmd.as_ref().map(|l| l.gen);
    if outnumbered(m)
        && m.lease.granted_at.is_some()
        && m.lease.released_gen != gen
        && m.inst.links.cmd_connected()
    {
        let value = format!("{},0,0,0", st.myid);
        let cmd = m.command_name("REPLCONF").as_bytes().to_vec();
        if let Some(m) = st.masters.get_mut(master) {
            if out.send1(
                &mut m.inst,
                &[&cmd, b"sentinel-lease", value.as_bytes()],
                Tag::Ignore,
            ) {
                m.lease.released_gen = gen;
            }
        }
        return;
    }
    if !may_grant(m, now, mono) {
        return;
    }
    let gen = m.inst.links.cmd.as_ref().map(|l| l.gen);
    let stamp = match m.lease.stamp {
        Some((g, s)) if Some(g) == gen => s,
        _ => 0,
    };
    send_grant(st, out, master, stamp);
}

/// The master asked for a renewal on its hello channel
/// ([`RENEW_REQUEST`] and its clock): granted at once, stamped with that
/// clock, if we may grant at all.
pub(crate) fn on_renew_request(
    st: &mut Sentinel,
    out: &mut Out,
    master: &str,
    clock: i64,
    now: i64,
) {
    let mono = st.mono;
    let Some(m) = st.masters.get_mut(master) else {
        return;
    };
    if clock <= 0 || !may_grant_now(m, now, mono) {
        return;
    }
    let Some(gen) = m.inst.links.cmd.as_ref().map(|l| l.gen) else {
        return;
    };
    // A later reading than the last reply's is the better stamp for the
    // periodic renewals too.
    if m.lease.stamp.is_none_or(|(g, s)| g != gen || s < clock) {
        m.lease.stamp = Some((gen, clock));
    }
    send_grant(st, out, master, clock);
}

/// What a master publishes to ask for a renewal (see
/// `server::replication::lease::RENEW_REQUEST`); the clock follows.
pub const RENEW_REQUEST: &str = "redoubt-lease-renew,";

/// Sends one grant (a probe when `stamp` is 0) on the command link.
fn send_grant(st: &mut Sentinel, out: &mut Out, master: &str, stamp: i64) {
    let mono = st.mono;
    let myid = st.myid.clone();
    let Some(m) = st.masters.get_mut(master) else {
        return;
    };
    let voters = m.sentinels.len() + 1;
    let value = grant_value(&myid, voters, lease_ms(m.inst.down_after), stamp);
    let cmd = m.command_name("REPLCONF").as_bytes().to_vec();
    if out.send1(
        &mut m.inst,
        &[&cmd, b"sentinel-lease", value.as_bytes()],
        Tag::Lease,
    ) {
        m.lease.sent_at = mono;
        if stamp != 0 {
            m.lease.granted_at = Some(mono);
        }
    }
}

/// The master's answer to a renewal: its clock, or an error (it does not
/// know the option: not asked again on this link).
pub(crate) fn on_reply(m: &mut Master, frame: &Frame, now: i64) {
    let gen = m.inst.links.cmd.as_ref().map(|l| l.gen);
    let Some(gen) = gen else { return };
    match frame {
        Frame::Integer(t) if *t > 0 => {
            if m.lease.stamp.is_none_or(|(g, s)| g != gen || s < *t) {
                m.lease.stamp = Some((gen, *t));
            }
            m.lease.last_reply = now;
        }
        _ => m.lease.unsupported_gen = Some(gen),
    }
}
