//! The vote: first requester per epoch, never an older epoch; a leader
//! needs a majority of all known sentinels and at least the quorum.

use super::*;
use crate::action::Out;
use crate::election::{get_leader, vote_leader};

fn vote(w: &mut World, epoch: u64, runid: &str) -> ((Option<String>, u64), Vec<Action>) {
    let mut out = Out::new();
    let now = w.now;
    let v = vote_leader(&mut w.st, &mut out, MASTER, epoch, runid, now);
    (v, out.actions)
}

#[test]
fn the_first_requester_in_an_epoch_gets_the_vote() {
    let mut w = World::new(1, 2, 2);
    let b = runid('b');
    let c = runid('c');
    let (v, acts) = vote(&mut w, 5, &b);
    assert_eq!(v, (Some(b.clone()), 5));
    assert_eq!(World::names(&acts), ["+new-epoch", "+vote-for-leader"]);
    assert!(acts.contains(&Action::SaveConfig), "a vote is saved first");
    assert_eq!(w.st.current_epoch, 5);
    // A second requester in the same epoch is told whom we voted for.
    let (v, acts) = vote(&mut w, 5, &c);
    assert_eq!(v, (Some(b.clone()), 5));
    assert!(World::names(&acts).is_empty());
    // And so is the first one asking again.
    assert_eq!(vote(&mut w, 5, &b).0, (Some(b), 5));
}

#[test]
fn no_vote_in_an_epoch_older_than_ours() {
    let mut w = World::new(1, 2, 2);
    w.st.current_epoch = 7;
    let (v, acts) = vote(&mut w, 6, &runid('b'));
    assert_eq!(v, (None, 0));
    assert!(acts.is_empty());
    assert_eq!(w.st.current_epoch, 7);
}

#[test]
fn a_newer_epoch_gets_a_new_vote() {
    let mut w = World::new(1, 2, 2);
    vote(&mut w, 5, &runid('b'));
    let (v, _) = vote(&mut w, 6, &runid('c'));
    assert_eq!(v, (Some(runid('c')), 6));
}

#[test]
fn voting_for_another_sentinel_delays_our_own_failover() {
    let mut w = World::new(1, 2, 2);
    let now = w.now;
    vote(&mut w, 3, &runid('b'));
    let start = w.master().failover_start_time;
    assert!((now..now + 1000).contains(&start), "{start}");
    // Voting for ourselves does not.
    w.master_mut().failover_start_time = 0;
    vote(&mut w, 4, MYID);
    assert_eq!(w.master().failover_start_time, 0);
}

/// Sets the votes the peers reported for `epoch`.
fn peers_voted(w: &mut World, epoch: u64, votes: &[Option<&str>]) {
    let m = w.master_mut();
    for (s, v) in m.sentinels.iter_mut().zip(votes) {
        s.leader = v.map(str::to_string);
        s.leader_epoch = epoch;
    }
}

fn leader(w: &mut World, epoch: u64) -> Option<String> {
    let mut out = Out::new();
    let now = w.now;
    get_leader(&mut w.st, &mut out, MASTER, epoch, now)
}

#[test]
fn a_leader_needs_a_majority_of_all_known_sentinels() {
    // Five sentinels (us and four), quorum 2: three votes are needed.
    let mut w = World::new(1, 4, 2);
    w.st.current_epoch = 1;
    peers_voted(&mut w, 1, &[Some(MYID), None, None, None]);
    assert_eq!(leader(&mut w, 1), None, "two votes of five");
    peers_voted(&mut w, 1, &[Some(MYID), Some(MYID), None, None]);
    assert_eq!(leader(&mut w, 1).as_deref(), Some(MYID), "three of five");
}

#[test]
fn a_leader_needs_at_least_the_quorum() {
    // Three sentinels, quorum 3: a majority (two) is not enough.
    let mut w = World::new(1, 2, 3);
    w.st.current_epoch = 1;
    peers_voted(&mut w, 1, &[Some(MYID), None]);
    assert_eq!(leader(&mut w, 1), None);
    peers_voted(&mut w, 1, &[Some(MYID), Some(MYID)]);
    assert_eq!(leader(&mut w, 1).as_deref(), Some(MYID));
}

#[test]
fn our_vote_goes_to_the_candidate_the_others_lead_with() {
    let mut w = World::new(1, 2, 2);
    w.st.current_epoch = 1;
    let b = runid('b');
    peers_voted(&mut w, 1, &[Some(&b), None]);
    // Not to ourselves: we join the sentinel already ahead.
    assert_eq!(leader(&mut w, 1), Some(b.clone()));
    assert_eq!(w.master().leader, Some(b));
}

#[test]
fn votes_of_another_epoch_do_not_count() {
    let mut w = World::new(1, 2, 2);
    w.st.current_epoch = 2;
    peers_voted(&mut w, 1, &[Some(MYID), Some(MYID)]);
    // Only our own vote for epoch 2: one of three.
    assert_eq!(leader(&mut w, 2), None);
}

#[test]
fn a_split_vote_elects_nobody() {
    let mut w = World::new(1, 3, 2);
    w.st.current_epoch = 1;
    let (b, c) = (runid('b'), runid('c'));
    peers_voted(&mut w, 1, &[Some(&b), Some(&c), Some(MYID)]);
    // Ties go to the smallest run id: we vote for it, which makes two of
    // four — still not a majority.
    assert_eq!(leader(&mut w, 1), None);
    assert_eq!(w.master().leader.as_deref(), Some(MYID));
}
