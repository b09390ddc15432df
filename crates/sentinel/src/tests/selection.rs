//! Which replica is promoted: offset first, then priority, then run id;
//! and which replicas are never candidates.

use super::*;
use crate::failover::{eligible, select_replica};
use crate::state::Down;

/// Three replicas (.2, .3, .4 with offsets 100, 200, 300), their INFO
/// received, the master healthy.
fn world() -> World {
    let mut w = World::new(3, 2, 2);
    w.tick();
    w
}

fn chosen(w: &World) -> Option<String> {
    let id = select_replica(w.master(), w.now, &w.st.timing)?;
    Some(w.inst(id).addr.to_string())
}

/// Sets what the last INFO of the replica at `a` said.
fn report(w: &mut World, a: &str, offset: u64, priority: i64) {
    let id = w.id_of(a);
    let i = w.inst_mut(id);
    i.slave_repl_offset = offset;
    i.slave_priority = priority;
}

#[test]
fn largest_offset_wins_even_against_a_better_priority() {
    let mut w = world();
    report(&mut w, "10.0.0.2:6379", 900, 100);
    report(&mut w, "10.0.0.3:6379", 100, 1);
    // Redis would take .3 (priority first) and lose the writes only .2 has.
    assert_eq!(chosen(&w).as_deref(), Some("10.0.0.2:6379"));
}

#[test]
fn equal_offsets_go_to_the_lower_priority() {
    let mut w = world();
    report(&mut w, "10.0.0.2:6379", 500, 100);
    report(&mut w, "10.0.0.3:6379", 500, 10);
    report(&mut w, "10.0.0.4:6379", 400, 1);
    assert_eq!(chosen(&w).as_deref(), Some("10.0.0.3:6379"));
}

#[test]
fn equal_offset_and_priority_go_to_the_smaller_run_id_then_a_known_one() {
    let mut w = world();
    for a in ["10.0.0.2:6379", "10.0.0.3:6379", "10.0.0.4:6379"] {
        report(&mut w, a, 500, 100);
    }
    // Run ids from INFO: .2 is aaaa..., .3 is bbbb..., .4 is cccc....
    assert_eq!(chosen(&w).as_deref(), Some("10.0.0.2:6379"));
    let id2 = w.id_of("10.0.0.2:6379");
    w.inst_mut(id2).runid = None;
    assert_eq!(chosen(&w).as_deref(), Some("10.0.0.3:6379"));
}

#[test]
fn a_replica_reporting_the_master_role_is_never_chosen() {
    let mut w = world();
    // .4 has the largest offset but now says it is a master: an old
    // master restarted before it was converted, or a replica someone
    // promoted by hand. Its data does not continue the master's history.
    w.nodes.get_mut("10.0.0.4:6379").unwrap().role_master = true;
    w.nodes.get_mut("10.0.0.4:6379").unwrap().offset = 10_000;
    w.run(10_100); // the next INFO
    let id4 = w.id_of("10.0.0.4:6379");
    assert!(w.inst(id4).role_master);
    assert_eq!(chosen(&w).as_deref(), Some("10.0.0.3:6379"));
    // Alone, it is still not chosen: no promotion beats a wrong one.
    for a in ["10.0.0.2:6379", "10.0.0.3:6379"] {
        let id = w.id_of(a);
        w.inst_mut(id).slave_priority = 0;
    }
    assert_eq!(chosen(&w), None);
}

/// The rule for stale INFO: a replica is a candidate only if its last
/// INFO is at most five ping periods old while the master is SDOWN
/// (three INFO periods while it is not, for `SENTINEL FAILOVER`). Within
/// that window its last reported offset is used as it is; the leader
/// asks every replica for a fresh INFO before choosing (see the failover
/// tests), so only a replica that did not answer in time is judged on
/// an older one.
#[test]
fn stale_info_excludes_a_replica() {
    let mut w = world();
    report(&mut w, "10.0.0.4:6379", 900, 100);
    let id4 = w.id_of("10.0.0.4:6379");
    let t = w.st.timing.clone();
    let now = w.now;
    w.master_mut().inst.down = Down::Subjectively { since: now };
    w.inst_mut(id4).info_refresh = now - 5 * t.ping_period;
    assert_eq!(chosen(&w).as_deref(), Some("10.0.0.4:6379"));
    w.inst_mut(id4).info_refresh = now - 5 * t.ping_period - 1;
    assert_eq!(chosen(&w).as_deref(), Some("10.0.0.3:6379"));
    // A master still up (forced failover): three INFO periods.
    w.master_mut().inst.down = Down::Up;
    w.inst_mut(id4).info_refresh = now - 3 * t.info_period;
    assert_eq!(chosen(&w).as_deref(), Some("10.0.0.4:6379"));
    w.inst_mut(id4).info_refresh = now - 3 * t.info_period - 1;
    assert_eq!(chosen(&w).as_deref(), Some("10.0.0.3:6379"));
    // Never heard from: not a candidate.
    w.inst_mut(id4).info_refresh = 0;
    assert_eq!(chosen(&w).as_deref(), Some("10.0.0.3:6379"));
}

#[test]
fn unusable_replicas_are_excluded() {
    type Breaker = fn(&mut Instance, i64);
    let excluded: [(&str, Breaker); 5] = [
        ("disconnected", |i, _| i.links.cmd = None),
        ("link not established yet", |i, _| {
            if let Some(l) = i.links.cmd.as_mut() {
                l.connected = false;
            }
        }),
        ("priority 0", |i, _| i.slave_priority = 0),
        ("subjectively down", |i, now| {
            i.down = Down::Subjectively { since: now }
        }),
        ("no valid PING reply for five periods", |i, now| {
            i.links.last_avail_time = now - 5_001
        }),
    ];
    for (why, break_it) in excluded {
        let mut w = world();
        report(&mut w, "10.0.0.4:6379", 900, 100);
        let id4 = w.id_of("10.0.0.4:6379");
        let now = w.now;
        break_it(w.inst_mut(id4), now);
        assert!(
            !eligible(w.master(), w.inst(id4), now, &w.st.timing),
            "{why}"
        );
        assert_eq!(chosen(&w).as_deref(), Some("10.0.0.3:6379"), "{why}");
    }
}

/// `replica-announced no` hides a replica from `SENTINEL REPLICAS` only:
/// Redis still promotes it (priority 0 is what keeps a replica back).
#[test]
fn an_unannounced_replica_may_still_be_promoted() {
    let mut w = world();
    report(&mut w, "10.0.0.4:6379", 900, 100);
    let id4 = w.id_of("10.0.0.4:6379");
    w.inst_mut(id4).replica_announced = false;
    assert!(!crate::api::listed(w.inst(id4)));
    assert!(eligible(w.master(), w.inst(id4), w.now, &w.st.timing));
    assert_eq!(chosen(&w).as_deref(), Some("10.0.0.4:6379"));
}

#[test]
fn a_replica_cut_off_from_the_master_for_too_long_is_excluded() {
    let mut w = world();
    report(&mut w, "10.0.0.4:6379", 900, 100);
    let id4 = w.id_of("10.0.0.4:6379");
    // Master up: the link may have been down for ten down-after periods.
    w.inst_mut(id4).master_link_down_time = 10 * DOWN_AFTER;
    assert_eq!(chosen(&w).as_deref(), Some("10.0.0.4:6379"));
    w.inst_mut(id4).master_link_down_time = 10 * DOWN_AFTER + 1;
    assert_eq!(chosen(&w).as_deref(), Some("10.0.0.3:6379"));
    // The time the master has been down is allowed on top.
    let now = w.now;
    w.master_mut().inst.down = Down::Subjectively { since: now - 1 };
    assert_eq!(chosen(&w).as_deref(), Some("10.0.0.4:6379"));
}
