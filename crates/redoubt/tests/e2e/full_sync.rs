//! A full sync as the operator watches it, on a Redoubt master and on a
//! real Redis 7.0 one: a replica cut off and re-synced with the same
//! replication id keeps serving its old data while the new one loads
//! (`async_loading`); a replica that stops reading its snapshot is
//! dropped after `repl-timeout` while the others finish theirs, with
//! Redis's log lines.

use crate::harness::{info_field, q, start_replica, text, wait_for, Flavor, Raw, ServerHandle};
use std::time::Duration;

/// The error a command gets, or "" when it succeeds.
fn error_of(c: &mut redis::Connection, args: &[&str]) -> String {
    let mut cmd = redis::cmd(args[0]);
    for a in &args[1..] {
        cmd.arg(*a);
    }
    match cmd.query::<redis::Value>(c) {
        Ok(_) => String::new(),
        Err(e) => e.to_string(),
    }
}

/// The master kills its replica inside a transaction that also shrinks
/// the backlog and overruns it: the replica must come back for a full
/// sync (not a partial one from history the kill released), under the
/// replication id it already has, so it loads asynchronously — the old
/// dataset served, REPLICAOF and DENY_LOADING directives refused with
/// -LOADING — and swaps in the new one at the end.
fn killed_replica_loads_asynchronously(master_flavor: Flavor) {
    let master = ServerHandle::start(master_flavor, &[("repl-diskless-sync", "yes")]);
    let mut m = master.client();
    let replica = start_replica(
        Flavor::Redoubt,
        &master,
        &[
            ("repl-diskless-load", "swapdb"),
            ("replica-read-only", "no"),
        ],
    );
    let mut r = replica.client();
    q(&mut r, &["SET", "mykey", "myvalue"]);
    q(&mut m, &["DEBUG", "POPULATE", "200", "master", "1000"]);
    // 10 ms a key: the next snapshot takes about two seconds.
    q(&mut m, &["CONFIG", "SET", "rdb-key-save-delay", "10000"]);
    q(&mut m, &["MULTI"]);
    q(&mut m, &["CLIENT", "KILL", "TYPE", "replica"]);
    q(&mut m, &["CONFIG", "SET", "repl-backlog-size", "16384"]);
    let big = "A".repeat(16384);
    for i in 0..10 {
        q(&mut m, &["SET", &format!("big{i}"), &big]);
    }
    q(&mut m, &["EXEC"]);
    wait_for(
        "async_loading:1 on the replica",
        Duration::from_secs(10),
        || info_field(&mut r, "persistence", "async_loading") == "1",
    );
    assert_eq!(info_field(&mut r, "persistence", "loading"), "0");
    assert_eq!(text(q(&mut r, &["GET", "mykey"])), "myvalue");
    for cmd in [
        &["CONFIG", "SET", "appendonly", "no"][..],
        &["REPLICAOF", "NO", "ONE"][..],
    ] {
        let e = error_of(&mut r, cmd);
        assert!(e.contains("loading"), "{cmd:?} during async loading: {e}");
    }
    wait_for(
        "the replica to finish its full sync",
        Duration::from_secs(30),
        || {
            info_field(&mut r, "replication", "master_link_status") == "up"
                && info_field(&mut r, "persistence", "async_loading") == "0"
        },
    );
    assert_eq!(q(&mut r, &["GET", "mykey"]), redis::Value::Nil);
    assert_eq!(q(&mut r, &["DBSIZE"]), redis::Value::Int(210));
    assert_eq!(
        replica.log().matches("Full resync from master").count(),
        2,
        "a second full sync, not a partial one"
    );
}

#[test]
fn replica_killed_by_redoubt_master_resyncs_fully_and_loads_asynchronously() {
    killed_replica_loads_asynchronously(Flavor::Redoubt);
}

#[test]
fn replica_killed_by_redis_master_resyncs_fully_and_loads_asynchronously() {
    killed_replica_loads_asynchronously(Flavor::Redis);
}

/// Two replicas share one streamed snapshot; one of them (a raw
/// connection) never reads it. After `repl-timeout` the master drops the
/// stalled one and the transfer goes on for the other, which ends equal
/// to the master — the same log lines on Redoubt as on Redis.
fn stalled_replica_is_dropped_during_the_transfer(master_flavor: Flavor) {
    let master = ServerHandle::start(
        master_flavor,
        &[
            ("repl-diskless-sync", "yes"),
            ("repl-diskless-sync-delay", "5"),
            ("repl-diskless-sync-max-replicas", "2"),
            ("repl-timeout", "2"),
            ("rdbcompression", "no"),
        ],
    );
    let mut m = master.client();
    // 40 MB: more than the socket buffers and the snapshot bytes a master
    // hands a replica ahead of its reading.
    q(&mut m, &["DEBUG", "POPULATE", "4000", "key", "10000"]);
    let mut stalled = Raw::connect(master.addr());
    stalled.cmd_str(&["REPLCONF", "capa", "eof", "capa", "psync2"]);
    stalled.send_cmd(&[b"PSYNC", b"?", b"-1"]);
    // It reads nothing from here on. The real replica's link comes up
    // only once the stalled one is gone.
    let to = master.replicaof();
    let replica = ServerHandle::start(Flavor::Redis, &[("replicaof", to.as_str())]);
    wait_for(
        "the stalled replica to be dropped",
        Duration::from_secs(20),
        || {
            master
                .log()
                .contains("Disconnecting timedout replica (full sync)")
        },
    );
    wait_for("the end of the transfer", Duration::from_secs(20), || {
        master
            .log()
            .contains("Diskless rdb transfer, done reading from pipe, 1 replicas still up")
    });
    let mut r = replica.client();
    wait_for("the replica to load", Duration::from_secs(20), || {
        info_field(&mut r, "replication", "master_link_status") == "up"
    });
    assert_eq!(q(&mut r, &["DBSIZE"]), redis::Value::Int(4000));
    assert_eq!(
        q(&mut r, &["DEBUG", "DIGEST"]),
        q(&mut m, &["DEBUG", "DIGEST"])
    );
}

#[test]
fn stalled_replica_is_dropped_during_a_redoubt_transfer() {
    stalled_replica_is_dropped_during_the_transfer(Flavor::Redoubt);
}

#[test]
fn stalled_replica_is_dropped_during_a_redis_transfer() {
    stalled_replica_is_dropped_during_the_transfer(Flavor::Redis);
}
