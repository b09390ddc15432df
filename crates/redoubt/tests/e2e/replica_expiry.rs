//! Keys with a TTL on a replica: its clients see a key as gone once its
//! deadline passed, but the replica deletes nothing itself and applies
//! what its master decided on a live key — compared with a real Redis
//! replica of the same Redoubt master.

use crate::harness::{info_field, q, start_replica, wait_for, Flavor, ServerHandle};
use std::time::Duration;

/// The master increments a key just before its deadline; the replica,
/// frozen meanwhile, applies the INCR after the deadline by its own clock.
/// The key must then be logically expired (EXISTS 0) yet still held
/// (DEBUG OBJECT finds it): Redis's master client does not expire keys.
fn incr_after_the_deadline_keeps_the_key(replica_flavor: Flavor) {
    let master = ServerHandle::start(Flavor::Redoubt, &[]);
    let mut m = master.client();
    let replica = start_replica(replica_flavor, &master, &[]);
    let mut r = replica.client();
    let in_sync = |m: &mut redis::Connection, r: &mut redis::Connection| {
        wait_for("the replica's offset", Duration::from_secs(10), || {
            let want = info_field(m, "replication", "master_repl_offset");
            info_field(r, "replication", "slave_repl_offset") == want
        });
    };
    q(&mut m, &["DEBUG", "SET-ACTIVE-EXPIRE", "0"]);
    q(&mut m, &["SET", "k", "1", "PX", "1000"]);
    in_sync(&mut m, &mut r);
    replica.signal(libc::SIGSTOP);
    q(&mut m, &["INCR", "k"]);
    std::thread::sleep(Duration::from_millis(1100));
    replica.signal(libc::SIGCONT);
    in_sync(&mut m, &mut r);
    assert_eq!(q(&mut r, &["EXISTS", "k"]), redis::Value::Int(0));
    let object = redis::cmd("DEBUG")
        .arg("OBJECT")
        .arg("k")
        .query::<redis::Value>(&mut r);
    assert!(object.is_ok(), "DEBUG OBJECT k on the replica: {object:?}");
}

#[test]
fn redoubt_replica_applies_incr_to_a_key_past_its_deadline() {
    incr_after_the_deadline_keeps_the_key(Flavor::Redoubt);
}

#[test]
fn real_redis_replica_applies_incr_to_a_key_past_its_deadline() {
    incr_after_the_deadline_keeps_the_key(Flavor::Redis);
}
