//! The lease we grant the master: renewed with the master's own clock,
//! stopped before the master can be seen down, no vote while a grant may
//! run, none granted after a vote; a master that does not know the lease
//! (real Redis) is asked once per link.

use super::*;
use crate::action::Out;
use crate::election::vote_leader;
use crate::lease::{lease_ms, may_grant, may_vote, renew_period};
use crate::state::Failover;

const L: i64 = DOWN_AFTER / 2;

/// The `REPLCONF sentinel-lease` values the master received, split.
fn grants(w: &World) -> Vec<(String, usize, i64, i64)> {
    w.nodes[MASTER_ADDR]
        .grants
        .iter()
        .map(|g| {
            let p: Vec<&str> = g.split(',').collect();
            (
                p[0].to_string(),
                p[1].parse().unwrap(),
                p[2].parse().unwrap(),
                p[3].parse().unwrap(),
            )
        })
        .collect()
}

/// Real grants (a stamp), not probes.
fn real_grants(w: &World) -> usize {
    grants(w).iter().filter(|g| g.3 != 0).count()
}

fn vote(w: &mut World, epoch: u64, who: &str) -> (Option<String>, u64) {
    let mut out = Out::new();
    let now = w.now;
    vote_leader(&mut w.st, &mut out, MASTER, epoch, who, now)
}

/// The master stops answering but its connections stay up (a partition,
/// not a crash: nothing tells us the links are dead).
fn master_goes_silent(w: &mut World) {
    w.nodes.get_mut(MASTER_ADDR).unwrap().alive = false;
}

#[test]
fn lease_is_half_of_down_after_and_renewed_five_times_per_lease() {
    assert_eq!(lease_ms(30_000), 15_000);
    assert_eq!(renew_period(30_000), 3_000);
    assert_eq!(lease_ms(1_000), 500);
    assert_eq!(renew_period(1_000), 100);
    assert_eq!(lease_ms(1), 1);
    assert_eq!(renew_period(1), 1);
}

#[test]
fn renewed_with_the_master_clock_from_the_previous_answer() {
    let mut w = World::new(2, 2, 2);
    w.run(3_000);
    let g = grants(&w);
    // A probe first (stamp 0), then a renewal every period.
    assert!(
        (3_000 / renew_period(DOWN_AFTER) - 1..=3_000 / renew_period(DOWN_AFTER) + 1)
            .contains(&(g.len() as i64)),
        "{g:?}"
    );
    assert_eq!(g[0].3, 0);
    for (k, (who, voters, ms, stamp)) in g.iter().enumerate() {
        assert_eq!(who, MYID);
        assert_eq!(*voters, 3, "two other sentinels and us");
        assert_eq!(*ms, L);
        if k > 0 {
            // A reading of the master's clock, taken before we sent this
            // (the answer to the previous renewal).
            assert!(*stamp >= SERVER_MONO0 && *stamp < w.now - T0 + SERVER_MONO0);
            assert!(*stamp > g[k - 1].3);
        }
    }
    assert!(!may_vote(w.master(), w.st.mono), "a grant is running");
}

#[test]
fn a_silent_master_gets_no_grant_past_down_after_minus_lease() {
    let mut w = World::new(2, 2, 2);
    w.run(2_000);
    // Its last answer: to a PING or to a renewal.
    let last_answer = w
        .master()
        .inst
        .links
        .last_avail_time
        .max(w.master().lease.last_reply);
    master_goes_silent(&mut w);
    let before = w.sent(MASTER_ADDR, "REPLCONF").len();
    w.run(DOWN_AFTER + 1_000);
    assert!(w.master().inst.s_down());
    let granted_at = w.master().lease.granted_at.unwrap();
    // Mono and wall advance together in the test world.
    let granted_wall = granted_at - MONO0 + T0;
    assert!(
        granted_wall < last_answer + DOWN_AFTER - L,
        "last grant {} ms after the last answer",
        granted_wall - last_answer
    );
    assert!(
        w.sent(MASTER_ADDR, "REPLCONF").len() > before,
        "renewals went on for a while"
    );
    // So by the time we see it subjectively down, our grant ran out and
    // we may vote at once: the lease costs the failover no time.
    let sdown_since = w.master().inst.down.sdown_since();
    assert!(
        sdown_since - granted_wall >= L,
        "sdown {} granted {} last answer {}",
        sdown_since - T0,
        granted_wall - T0,
        last_answer - T0
    );
}

#[test]
fn no_vote_while_our_grant_may_run() {
    let mut w = World::new(1, 2, 2);
    w.run(2_000);
    // Another sentinel (with quorum 1, or on the other side of a cut) asks
    // for our vote while we still talk to the master: refused.
    assert_eq!(vote(&mut w, 5, &runid('1')), (None, 0));
    assert_eq!(w.master().leader, None);
    // Nor do we count our own vote.
    assert_eq!(vote(&mut w, 6, MYID), (None, 0));
    // Once the master is silent, grants stop; L after the last one the
    // vote is given.
    master_goes_silent(&mut w);
    assert!(w.run_until(DOWN_AFTER, |w| may_vote(w.master(), w.st.mono)));
    let granted_at = w.master().lease.granted_at.unwrap();
    assert!(w.st.mono - granted_at >= L);
    assert_eq!(vote(&mut w, 7, &runid('1')), (Some(runid('1')), 7));
}

#[test]
fn no_grant_after_a_vote_while_that_failover_may_promote() {
    let mut w = World::new(1, 2, 2);
    w.run(1_000);
    master_goes_silent(&mut w);
    w.run(DOWN_AFTER);
    assert_eq!(vote(&mut w, 3, &runid('1')).0, Some(runid('1')));
    // The partition heals: the master answers again, yet we grant nothing
    // while the failover we voted for may still promote a replica.
    w.nodes.get_mut(MASTER_ADDR).unwrap().alive = true;
    let id = w.master().inst.id;
    w.link_up(id);
    let real = real_grants(&w);
    let block = w.st.timing.election_timeout.min(FAILOVER_TIMEOUT) + 2 * FAILOVER_TIMEOUT;
    w.run(block - 1_000);
    assert_eq!(real_grants(&w), real, "granted during the block");
    assert!(!may_grant(w.master(), w.now, w.st.mono));
    // After it, the master (still ours: no switch happened) gets its
    // lease back.
    w.run(3_000);
    assert!(real_grants(&w) > real);
}

#[test]
fn a_master_that_refuses_the_lease_is_asked_once_per_link() {
    let mut w = World::new(1, 2, 2);
    w.nodes.get_mut(MASTER_ADDR).unwrap().knows_lease = false;
    w.run(3_000);
    assert_eq!(w.sent(MASTER_ADDR, "REPLCONF").len(), 1);
    assert_eq!(w.master().lease.granted_at, None, "a probe grants nothing");
    assert!(may_vote(w.master(), w.st.mono));
    // A new connection asks again (the master may have been upgraded).
    let id = w.master().inst.id;
    w.link_up(id);
    w.run(1_000);
    assert_eq!(w.sent(MASTER_ADDR, "REPLCONF").len(), 2);
}

#[test]
fn a_new_link_starts_with_a_probe() {
    let mut w = World::new(1, 2, 2);
    w.run(2_000);
    let id = w.master().inst.id;
    let n = grants(&w).len();
    // The master may have restarted or moved: a clock reading from the
    // old connection is not used.
    w.link_up(id);
    w.run(renew_period(DOWN_AFTER) + 100);
    let g = grants(&w);
    assert_eq!(g[n].3, 0, "{g:?}");
}

#[test]
fn no_grant_to_a_master_reporting_the_replica_role_or_in_failover() {
    let mut w = World::new(1, 2, 2);
    w.run(1_000);
    let (now, mono) = (
        w.now + renew_period(DOWN_AFTER),
        w.st.mono + renew_period(DOWN_AFTER),
    );
    assert!(may_grant(w.master(), now, mono));
    w.master_mut().inst.role_master = false;
    assert!(!may_grant(w.master(), now, mono));
    w.master_mut().inst.role_master = true;
    w.master_mut().failover = Failover::WaitStart;
    assert!(!may_grant(w.master(), now, mono));
}

/// The split the lease is for, from one sentinel of the majority: the
/// master's links stay up but it answers nothing; the failover goes ahead
/// as fast as without the lease, and every vote (ours included) comes
/// after our last grant ran out.
#[test]
fn a_partitioned_master_is_failed_over_after_our_grant_ran_out() {
    let mut w = World::new(2, 2, 2);
    w.run(2_000);
    master_goes_silent(&mut w);
    let cut = w.now;
    for p in w.peers.values_mut() {
        p.sees_down = true;
    }
    assert!(w.run_until(DOWN_AFTER + 3_000, |w| w
        .all_names()
        .iter()
        .any(|k| k == "+elected-leader")));
    // Within the usual time: down-after, then the vote delay (< 400 ms)
    // and a tick or two.
    assert!(w.now - cut <= DOWN_AFTER + 700, "{}", w.now - cut);
    let granted_at = w.master().lease.granted_at.unwrap();
    assert!(w.st.mono - granted_at >= L);
    assert!(
        w.run_until(3_000, |w| w.master().failover == Failover::WaitPromotion
            || w.master().failover == Failover::ReconfSlaves)
    );
}

/// A restarted master that answers `-LOADING` is SDOWN only after
/// `master-reboot-down-after-period`, and answered all along, so our
/// grants ran until then. We stand for election once we may vote (L after
/// our last grant), not before: standing earlier, every sentinel that saw
/// the reboot at the same moment turned the others' requests down, then
/// voted for itself (a split vote; Redis's sentinel/12-master-reboot).
#[test]
fn a_rebooted_master_is_failed_over_once_our_grant_ran_out() {
    let mut w = World::new(2, 2, 2);
    w.master_mut().master_reboot_down_after = 1_000;
    w.run(2_000);
    {
        let n = w.nodes.get_mut(MASTER_ADDR).unwrap();
        n.runid = runid('9');
        n.loading = true;
    }
    for p in w.peers.values_mut() {
        p.sees_down = true;
    }
    assert!(w.run_until(20_000, |w| w.master().inst.s_down()));
    assert!(w.run_until(5_000, |w| w
        .all_names()
        .iter()
        .any(|k| k == "+try-failover")));
    let granted_at = w.master().lease.granted_at.unwrap();
    assert!(w.st.mono - granted_at >= L, "{}", w.st.mono - granted_at);
    assert!(w.run_until(3_000, |w| w
        .all_names()
        .iter()
        .any(|k| k == "+elected-leader")));
}

/// A renewal request on the master's hello channel (a `WAIT` waiting for
/// its acknowledgements to be certified).
fn request(w: &mut World, from: &str, clock: i64) {
    let id = w.id_of(from);
    let gen = w.inst(id).links.pubsub.as_ref().unwrap().gen;
    let link = crate::action::LinkId {
        inst: id,
        kind: crate::action::LinkKind::PubSub,
        gen,
    };
    let payload = format!("{}{clock}", crate::lease::RENEW_REQUEST);
    w.event(
        link,
        LinkEvent::Message(Frame::Array(vec![
            Frame::Bulk(b"message".to_vec()),
            Frame::Bulk(b"__sentinel__:hello".to_vec()),
            Frame::Bulk(payload.into_bytes()),
        ])),
    );
}

#[test]
fn a_renewal_request_is_granted_at_once_with_its_clock() {
    let mut w = World::new(1, 2, 2);
    w.run(1_000);
    let n = w.sent(MASTER_ADDR, "REPLCONF").len();
    let clock = w.now - T0 + SERVER_MONO0;
    request(&mut w, MASTER_ADDR, clock);
    let sent = w.sent(MASTER_ADDR, "REPLCONF");
    assert_eq!(sent.len(), n + 1, "no tick needed");
    assert_eq!(
        sent[n][2],
        crate::lease::grant_value(MYID, 3, L, clock),
        "stamped with the clock it asked with"
    );
    assert!(!may_vote(w.master(), w.st.mono));
}

#[test]
fn renewal_requests_are_refused_when_we_may_not_grant() {
    let mut w = World::new(1, 2, 2);
    w.run(1_000);
    // From a replica's channel (it passes its master's messages on).
    let n = w.sent(MASTER_ADDR, "REPLCONF").len();
    request(&mut w, "10.0.0.2:6379", 123);
    assert_eq!(w.sent(MASTER_ADDR, "REPLCONF").len(), n);
    // After a vote: nothing, however often the master asks.
    master_goes_silent(&mut w);
    w.run(DOWN_AFTER);
    assert_eq!(vote(&mut w, 3, &runid('1')).0, Some(runid('1')));
    w.nodes.get_mut(MASTER_ADDR).unwrap().alive = true;
    let id = w.master().inst.id;
    w.link_up(id);
    w.run(1_000);
    let n = w.sent(MASTER_ADDR, "REPLCONF").len();
    let clock = w.now - T0 + SERVER_MONO0;
    request(&mut w, MASTER_ADDR, clock);
    assert_eq!(w.sent(MASTER_ADDR, "REPLCONF").len(), n);
}

#[test]
fn peers_are_asked_once_whether_they_are_redoubt_sentinels() {
    let mut w = World::new(1, 2, 2);
    w.run(3_000);
    for a in ["10.0.1.1:26379", "10.0.1.2:26379"] {
        assert_eq!(w.sent(a, "INFO").len(), 1, "{a}");
        let id = w.id_of(a);
        assert_eq!(w.inst(id).redoubt, Some(true));
    }
}

/// Mostly real redis-sentinels: we grant nothing (the master, never
/// armed, behaves as Redis); with our kind a majority again, we do.
#[test]
fn no_grant_unless_redoubt_sentinels_are_a_majority() {
    let mut w = World::new(1, 2, 2);
    for p in w.peers.values_mut() {
        p.redoubt = false;
    }
    w.run(3_000);
    assert!(grants(&w).is_empty(), "{:?}", grants(&w));
    assert!(!crate::lease::redoubt_majority(w.master()));
    // One of the two is ours after all: two of three.
    let id = w.id_of("10.0.1.1:26379");
    w.inst_mut(id).redoubt = Some(true);
    w.run(1_000);
    assert!(real_grants(&w) > 0);
}

/// Alone at first we armed the master; once the others turn out to be
/// real redis-sentinels, we release it (once per link).
#[test]
fn a_master_armed_before_the_group_was_known_is_released() {
    let mut w = World::new(1, 2, 2);
    w.run(2_000);
    assert!(real_grants(&w) > 0);
    for p in w.peers.values_mut() {
        p.redoubt = false;
    }
    for a in ["10.0.1.1:26379", "10.0.1.2:26379"] {
        let id = w.id_of(a);
        w.inst_mut(id).redoubt = Some(false);
    }
    let real = real_grants(&w);
    w.run(2_000);
    assert_eq!(real_grants(&w), real);
    let releases: Vec<Vec<String>> = w
        .sent(MASTER_ADDR, "REPLCONF")
        .into_iter()
        .filter(|c| c[2] == format!("{MYID},0,0,0"))
        .collect();
    assert_eq!(releases.len(), 1, "{releases:?}");
}
