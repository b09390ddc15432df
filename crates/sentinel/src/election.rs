//! The leader election that authorises one sentinel to fail a master over.
//!
//! A sentinel that wants to fail over bumps its current epoch and asks the
//! others for their vote (`SENTINEL is-master-down-by-addr ... <epoch>
//! <runid>`). Rules, as Redis Sentinel's:
//! - each sentinel votes at most once per epoch, for the first sentinel
//!   that asks in that epoch (itself included), and never in an epoch
//!   older than its own current one;
//! - a sentinel is leader for an epoch when it holds the votes of a
//!   majority of all the sentinels it knows for the master (itself
//!   included) and at least `quorum` of them.
//!
//! Both are what keeps two sentinels from failing over the same master in
//! the same epoch: two majorities of one set intersect, and the sentinel in
//! the intersection voted once.

use crate::action::Out;
use crate::lease;
use crate::state::Sentinel;
use rand::Rng;
use server::log::Level;

/// After voting for another sentinel, our own failover waits up to this
/// much longer (randomly), as in Redis, so we do not compete with it.
const MAX_DESYNC: i64 = 1000;

/// Our vote for the leader of `req_epoch`, asked by `req_runid` (possibly
/// us): the first sentinel to ask in an epoch gets it. Returns the leader
/// and epoch of our latest vote, which is what the requester is told.
pub fn vote_leader(
    st: &mut Sentinel,
    out: &mut Out,
    master: &str,
    req_epoch: u64,
    req_runid: &str,
    now: i64,
) -> (Option<String>, u64) {
    if req_epoch > st.current_epoch {
        st.current_epoch = req_epoch;
        out.save();
        out.event(Level::Warning, "+new-epoch", &req_epoch.to_string());
    }
    let current = st.current_epoch;
    let myid = st.myid.clone();
    let (mono, election_timeout) = (st.mono, st.timing.election_timeout);
    let Some(m) = st.masters.get_mut(master) else {
        return (None, 0);
    };
    // Ours, not Redis's: no vote while a lease we granted this master
    // may still run (it could still confirm writes the promoted replica
    // would lack); the requester asks again every ask period.
    if m.leader_epoch < req_epoch && current <= req_epoch && !lease::may_vote(m, mono) {
        return (m.leader.clone(), m.leader_epoch);
    }
    if m.leader_epoch < req_epoch && current <= req_epoch {
        // And none granted while the failover we vote for may still
        // promote a replica.
        lease::voted(m, mono, election_timeout);
        m.leader = Some(req_runid.to_string());
        m.leader_epoch = current;
        let text = format!("{} {}", req_runid, current);
        // Voting for someone else: do not start our own failover soon.
        if req_runid != myid {
            m.failover_start_time = now + st.rng.gen_range(0..MAX_DESYNC);
        }
        out.save();
        out.event(Level::Warning, "+vote-for-leader", &text);
    }
    (m.leader.clone(), m.leader_epoch)
}

/// The votes cast for `epoch` as the other sentinels reported them:
/// (candidate, count), in the order first seen.
fn tally(st: &Sentinel, master: &str, epoch: u64) -> Vec<(String, usize)> {
    let mut counts: Vec<(String, usize)> = Vec::new();
    let Some(m) = st.masters.get(master) else {
        return counts;
    };
    for s in &m.sentinels {
        if let Some(l) = s.leader.as_ref().filter(|_| s.leader_epoch == epoch) {
            add_vote(&mut counts, l);
        }
    }
    counts
}

fn add_vote(counts: &mut Vec<(String, usize)>, who: &str) {
    match counts.iter_mut().find(|(w, _)| w == who) {
        Some((_, n)) => *n += 1,
        None => counts.push((who.to_string(), 1)),
    }
}

/// The candidate with the most votes; on a tie, the smallest run id (any
/// fixed rule would do: every sentinel counts the same way).
fn best(counts: &[(String, usize)]) -> Option<(String, usize)> {
    counts
        .iter()
        .max_by(|a, b| a.1.cmp(&b.1).then_with(|| b.0.cmp(&a.0)))
        .cloned()
}

/// The leader for `epoch`, if some sentinel has the votes of a majority of
/// all known sentinels and at least the quorum. Our own vote is cast here
/// if we have not voted in this epoch yet: for the sentinel leading the
/// others' votes, or for ourselves when nobody else has any.
pub fn get_leader(
    st: &mut Sentinel,
    out: &mut Out,
    master: &str,
    epoch: u64,
    now: i64,
) -> Option<String> {
    let m = st.masters.get(master)?;
    let voters = m.sentinels.len() + 1;
    let quorum = m.quorum as usize;
    let mut counts = tally(st, master, epoch);
    let candidate = best(&counts)
        .map(|(w, _)| w)
        .unwrap_or_else(|| st.myid.clone());
    let (my_vote, my_epoch) = vote_leader(st, out, master, epoch, &candidate, now);
    if let Some(v) = my_vote.filter(|_| my_epoch == epoch) {
        add_vote(&mut counts, &v);
    }
    let (w, n) = best(&counts)?;
    if n < voters / 2 + 1 || n < quorum {
        return None;
    }
    Some(w)
}
