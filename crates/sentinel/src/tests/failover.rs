//! The failover state machine step by step: select → promote → wait for
//! the promotion → reconfigure the replicas (parallel-syncs at a time) →
//! update the configuration; its timeouts and the ways it is abandoned.

use super::*;
use crate::action::Out;
use crate::failover::start_failover;
use crate::state::{Failover, SIMFAILURE_CRASH_AFTER_ELECTION};

/// Three replicas (.2, .3, .4: offsets 100, 200, 300), two other
/// sentinels, quorum 2, INFO received from everyone; then the master is
/// killed and the others see it down too.
fn master_dies() -> World {
    let mut w = World::new(3, 2, 2);
    w.run(1_000);
    w.kill(MASTER_ADDR);
    for p in w.peers.values_mut() {
        p.sees_down = true;
    }
    w
}

fn state(w: &World) -> Failover {
    w.master().failover
}

/// Ticks until the failover reaches `s`, at most `ms`.
fn until_state(w: &mut World, s: Failover, ms: i64) {
    assert!(
        w.run_until(ms, |w| state(w) == s),
        "{s:?} not reached; events: {:?}",
        w.all_names()
    );
}

fn until_event(w: &mut World, kind: &str, ms: i64) {
    assert!(
        w.run_until(ms, |w| w.all_names().iter().any(|k| k == kind)),
        "{kind} not emitted; events: {:?}",
        w.all_names()
    );
}

/// The events of a failover, in order, without the ones that repeat.
fn failover_events(w: &World) -> Vec<String> {
    let mut v = w.all_names();
    v.retain(|k| {
        !matches!(
            k.as_str(),
            "+slave" | "+reboot" | "+role-change" | "-role-change"
        )
    });
    v
}

#[test]
fn a_dead_master_is_failed_over_step_by_step() {
    let mut w = master_dies();
    let epoch_before = w.st.current_epoch;
    until_state(&mut w, Failover::WaitStart, 10_000);
    assert_eq!(w.st.current_epoch, epoch_before + 1);
    until_state(&mut w, Failover::SelectSlave, 2_000);
    // Elected: every replica was asked for a fresh INFO at that moment.
    until_state(&mut w, Failover::SendSlaveofNoone, 1_000);
    let promoted = w.master().promoted_replica().unwrap().addr.to_string();
    assert_eq!(promoted, "10.0.0.4:6379", "the largest offset");
    // The promotion is sent with an INFO right behind it, so a replica
    // that obeys at once is seen promoted in the same period.
    until_state(&mut w, Failover::ReconfSlaves, 200);
    // The promotion batch, as Redis Sentinel sends it.
    let batch: Vec<String> = w
        .sends
        .iter()
        .filter(|(a, _)| *a == promoted)
        .map(|(_, args)| args.join(" "))
        .skip_while(|c| c != "MULTI")
        .take(6)
        .collect();
    assert_eq!(
        batch,
        [
            "MULTI",
            "SLAVEOF NO ONE",
            "CONFIG REWRITE",
            "CLIENT KILL TYPE normal",
            "CLIENT KILL TYPE pubsub",
            "EXEC"
        ]
    );
    assert_eq!(w.master().config_epoch, w.master().failover_epoch);
    assert!(w.actions.contains(&Action::SaveConfig));
    // Clients asking now are sent to the promoted replica.
    assert_eq!(w.master().current_addr().to_string(), promoted);
    until_event(&mut w, "+switch-master", 20_000);
    assert_eq!(
        w.payload("+switch-master").as_deref(),
        Some("mymaster 10.0.0.1 6379 10.0.0.4 6379")
    );
    assert_eq!(
        failover_events(&w),
        [
            "+sdown",
            "+odown",
            "+new-epoch",
            "+try-failover",
            "+vote-for-leader",
            "+elected-leader",
            "+failover-state-select-slave",
            "+selected-slave",
            "+failover-state-send-slaveof-noone",
            "+failover-state-wait-promotion",
            "+promoted-slave",
            "+failover-state-reconf-slaves",
            "+slave-reconf-sent",
            "+slave-reconf-inprog",
            "+slave-reconf-done",
            "+slave-reconf-sent",
            "+slave-reconf-inprog",
            "+slave-reconf-done",
            "+failover-end",
            "+switch-master",
        ]
    );
    // The entry now describes the new master; the old one is a replica.
    let m = w.master();
    assert_eq!(m.inst.addr.to_string(), "10.0.0.4:6379");
    assert_eq!(m.failover, Failover::None);
    assert_eq!(m.failovers, 1);
    let mut replicas: Vec<String> = m.replicas.iter().map(|r| r.addr.to_string()).collect();
    replicas.sort();
    assert_eq!(
        replicas,
        ["10.0.0.1:6379", "10.0.0.2:6379", "10.0.0.3:6379"]
    );
    for a in ["10.0.0.2:6379", "10.0.0.3:6379"] {
        assert_eq!(w.nodes[a].master, Some(addr("10.0.0.4:6379")), "{a}");
    }
}

#[test]
fn replicas_are_reconfigured_parallel_syncs_at_a_time() {
    for parallel in [1usize, 2] {
        let mut w = World::new(4, 2, 2);
        w.master_mut().parallel_syncs = parallel as i64;
        w.run(1_000);
        w.kill(MASTER_ADDR);
        for p in w.peers.values_mut() {
            p.sees_down = true;
        }
        until_event(&mut w, "+switch-master", 30_000);
        // Replicas being reconfigured at once, from the events.
        let (mut busy, mut most) = (0i32, 0i32);
        for k in w.all_names() {
            match k.as_str() {
                "+slave-reconf-sent" => busy += 1,
                "+slave-reconf-done" | "-slave-reconf-sent-timeout" => busy -= 1,
                _ => {}
            }
            most = most.max(busy);
        }
        assert_eq!(most, parallel as i32);
        assert_eq!(
            w.all_names()
                .iter()
                .filter(|k| *k == "+slave-reconf-done")
                .count(),
            3
        );
    }
}

/// What `SENTINEL FAILOVER` does: a failover that needs no agreement.
fn sentinel_failover(w: &mut World) {
    let mut out = Out::new();
    let now = w.now;
    start_failover(&mut w.st, &mut out, MASTER, now);
    w.master_mut().force_failover = true;
}

#[test]
fn fresh_offsets_are_asked_for_before_choosing() {
    let mut w = World::new(3, 2, 2);
    w.tick(); // INFO: .2 100, .3 200, .4 300
              // Since then .2 received more than the others, and the next periodic
              // INFO is ten seconds away: the sentinel's offsets are stale.
    w.nodes.get_mut("10.0.0.2:6379").unwrap().offset = 5_000;
    sentinel_failover(&mut w);
    until_state(&mut w, Failover::SendSlaveofNoone, 2_000);
    assert_eq!(
        w.master().promoted_replica().unwrap().addr.to_string(),
        "10.0.0.2:6379"
    );
}

#[test]
fn a_replica_silent_on_fresh_info_is_judged_on_its_last_report() {
    let mut w = World::new(3, 2, 2);
    w.tick();
    w.nodes.get_mut("10.0.0.4:6379").unwrap().answers_info = false;
    w.nodes.get_mut("10.0.0.2:6379").unwrap().offset = 250;
    sentinel_failover(&mut w);
    until_state(&mut w, Failover::SelectSlave, 1_000);
    let selecting = w.now;
    until_state(&mut w, Failover::SendSlaveofNoone, 3_000);
    // The choice waited a ping period for .4, then used its INFO from
    // before (300, still recent enough) against .2's fresh 250.
    assert!(w.now - selecting > w.st.timing.ping_period);
    assert_eq!(
        w.master().promoted_replica().unwrap().addr.to_string(),
        "10.0.0.4:6379"
    );
}

#[test]
fn not_elected_in_time_aborts() {
    let mut w = master_dies();
    // Both others already voted for another sentinel in the epoch we are
    // about to use.
    for p in w.peers.values_mut() {
        p.votes.insert(1, runid('9'));
    }
    until_state(&mut w, Failover::WaitStart, 10_000);
    let tried = w.now;
    until_event(&mut w, "-failover-abort-not-elected", 20_000);
    // The election timeout runs from the start of the vote, which is
    // delayed (up to 400 ms, and up to 1 s more once we voted for
    // another sentinel).
    let timeout = w.st.timing.election_timeout.min(FAILOVER_TIMEOUT);
    assert!(w.now - tried > timeout, "{}", w.now - tried);
    assert!(w.now - tried <= timeout + 1_500, "{}", w.now - tried);
    assert_eq!(state(&w), Failover::None);
    // We voted for ourselves before any answer came (one vote per
    // epoch), the others for the sentinel that asked them first: it
    // leads, two of three, and we are not elected.
    assert_eq!(w.master().leader.as_deref(), Some(MYID));
    assert!(!w.all_names().contains(&"+elected-leader".to_string()));
    // No new attempt before twice failover-timeout from the last start.
    let tries = |w: &World| {
        w.all_names()
            .iter()
            .filter(|k| *k == "+try-failover")
            .count()
    };
    assert_eq!(tries(&w), 1);
    let started = w.master().failover_start_time;
    w.run(2 * FAILOVER_TIMEOUT - (w.now - started) - 200);
    assert_eq!(tries(&w), 1);
    assert!(w.actions.iter().any(|a| matches!(a,
        Action::Log { text, .. } if text.starts_with("Next failover delay"))));
    w.run(1_000);
    assert_eq!(tries(&w), 2);
}

#[test]
fn no_good_replica_aborts() {
    let mut w = World::new(2, 2, 2);
    for n in w.nodes.values_mut() {
        n.priority = 0;
    }
    w.run(1_000);
    w.kill(MASTER_ADDR);
    for p in w.peers.values_mut() {
        p.sees_down = true;
    }
    until_event(&mut w, "-failover-abort-no-good-slave", 20_000);
    assert_eq!(state(&w), Failover::None);
    assert!(w.master().promoted.is_none());
}

/// The step now running gives up `failover-timeout` after it started.
fn aborts_for_slave_timeout(w: &mut World) {
    let since = w.master().failover_state_change_time;
    until_event(w, "-failover-abort-slave-timeout", FAILOVER_TIMEOUT + 1_000);
    assert!(w.now - since > FAILOVER_TIMEOUT);
    assert!(w.now - since <= FAILOVER_TIMEOUT + 100);
}

#[test]
fn a_replica_that_does_not_become_master_aborts_after_failover_timeout() {
    let mut w = master_dies();
    w.nodes.get_mut("10.0.0.4:6379").unwrap().obeys_slaveof = false;
    until_state(&mut w, Failover::WaitPromotion, 20_000);
    aborts_for_slave_timeout(&mut w);
    assert_eq!(state(&w), Failover::None);
    // Everything the failover marked is cleared.
    assert!(w.master().replicas.iter().all(|r| !r.promoted));
    assert_eq!(w.master().inst.addr.to_string(), MASTER_ADDR);
}

#[test]
fn a_chosen_replica_unreachable_aborts_after_failover_timeout() {
    let mut w = master_dies();
    until_state(&mut w, Failover::SendSlaveofNoone, 20_000);
    let chosen = w.master().promoted_replica().unwrap().addr.to_string();
    w.kill(&chosen);
    aborts_for_slave_timeout(&mut w);
    assert!(w.sent(&chosen, "SLAVEOF").is_empty(), "never promoted");
}

#[test]
fn replicas_that_never_follow_end_the_failover_at_failover_timeout() {
    let mut w = master_dies();
    w.nodes.get_mut("10.0.0.2:6379").unwrap().obeys_slaveof = false;
    until_state(&mut w, Failover::ReconfSlaves, 20_000);
    let since = w.now;
    until_event(&mut w, "+switch-master", FAILOVER_TIMEOUT + 1_000);
    assert!(w.now - since > FAILOVER_TIMEOUT);
    let names = w.all_names();
    assert!(names.contains(&"-slave-reconf-sent-timeout".to_string()));
    let end = names.iter().position(|k| k == "+failover-end-for-timeout");
    assert!(end.is_some(), "{names:?}");
}

#[test]
fn sentinel_failover_needs_no_votes() {
    let mut w = World::new(2, 2, 2);
    w.run(1_000);
    sentinel_failover(&mut w);
    w.tick();
    // The master is up: nobody is asked whether it is down, nor to vote.
    assert!(w.sent("10.0.1.1:26379", "SENTINEL").is_empty());
    assert!(w.all_names().contains(&"+elected-leader".to_string()));
    until_event(&mut w, "+switch-master", 20_000);
}

#[test]
fn a_newer_configuration_from_another_sentinel_ends_ours() {
    let mut w = master_dies();
    until_state(&mut w, Failover::WaitStart, 10_000);
    // Another sentinel already promoted .3 in a later epoch.
    let hello = format!("10.0.1.1,26379,{},5,mymaster,10.0.0.3,6379,5", runid('1'));
    let mut out = Out::new();
    let now = w.now;
    crate::hello::process_hello(&mut w.st, &mut out, &hello, now);
    assert_eq!(
        World::names(&out.actions),
        [
            "+new-epoch",
            "+config-update-from",
            "+switch-master",
            "+slave",
            "+slave",
            "+slave"
        ]
    );
    let m = w.master();
    assert_eq!(m.failover, Failover::None);
    assert_eq!(m.inst.addr.to_string(), "10.0.0.3:6379");
    assert_eq!(m.config_epoch, 5);
    assert_eq!(w.st.current_epoch, 5);
    // The forgotten instances' connections are closed.
    assert!(out
        .actions
        .iter()
        .any(|a| matches!(a, Action::Close { .. })));
}

#[test]
fn simulated_crash_after_election_stops_right_there() {
    let mut w = master_dies();
    w.st.simfailure_flags = SIMFAILURE_CRASH_AFTER_ELECTION;
    until_event(&mut w, "+elected-leader", 10_000);
    let at = w
        .actions
        .iter()
        .position(|a| matches!(a, Action::Event { kind, .. } if kind == "+elected-leader"))
        .unwrap();
    assert!(matches!(w.actions.get(at + 1), Some(Action::Crash { .. })));
}

/// `SENTINEL FAILOVER` of a live master: its writes are paused first, and
/// only a replica that reached the paused master's offset is promoted —
/// the others may lack writes `WAIT` confirmed through the one ahead.
#[test]
fn sentinel_failover_pauses_the_master_and_waits_for_its_offset() {
    let mut w = World::new(3, 2, 2);
    w.nodes.get_mut(MASTER_ADDR).unwrap().offset = 1_000;
    w.tick(); // INFO: .2 100, .3 200, .4 300; the master at 1000
    sentinel_failover(&mut w);
    until_state(&mut w, Failover::SelectSlave, 1_000);
    let pause = w.sent(MASTER_ADDR, "CLIENT");
    assert!(
        pause.iter().any(|c| c[1] == "PAUSE" && c[3] == "WRITE"),
        "{pause:?}"
    );
    // Nobody has the master's offset yet: no promotion, however long.
    w.run(2_000);
    assert_eq!(state(&w), Failover::SelectSlave);
    // .2 catches up (past .4): it is the one promoted.
    w.nodes.get_mut("10.0.0.2:6379").unwrap().offset = 1_000;
    until_state(&mut w, Failover::SendSlaveofNoone, 1_000);
    assert_eq!(
        w.master().promoted_replica().unwrap().addr.to_string(),
        "10.0.0.2:6379"
    );
}

#[test]
fn sentinel_failover_gives_up_and_unpauses_when_no_replica_catches_up() {
    let mut w = World::new(2, 2, 2);
    w.nodes.get_mut(MASTER_ADDR).unwrap().offset = 1_000;
    w.tick();
    sentinel_failover(&mut w);
    until_event(
        &mut w,
        "-failover-abort-no-good-slave",
        FAILOVER_TIMEOUT + 2_000,
    );
    let client = w.sent(MASTER_ADDR, "CLIENT");
    assert!(client.iter().any(|c| c[1] == "UNPAUSE"), "{client:?}");
    assert_eq!(w.master().pause_asked, 0);
}

/// A master that does not answer the INFO behind the pause is treated as
/// a dead one: the choice goes ahead on the replicas' offsets.
#[test]
fn sentinel_failover_of_a_silent_master_does_not_wait_for_its_offset() {
    let mut w = World::new(2, 2, 2);
    w.nodes.get_mut(MASTER_ADDR).unwrap().offset = 1_000;
    w.tick();
    w.nodes.get_mut(MASTER_ADDR).unwrap().answers_info = false;
    sentinel_failover(&mut w);
    until_state(&mut w, Failover::SendSlaveofNoone, 3_000);
    assert_eq!(
        w.master().promoted_replica().unwrap().addr.to_string(),
        "10.0.0.3:6379"
    );
}
