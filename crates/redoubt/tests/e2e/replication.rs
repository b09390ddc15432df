//! Replication as an operator sees it: a real Redis 7.0 replica following
//! a Redoubt master gets the whole dataset, then every write, and ends
//! equal key by key; WAIT counts it; a dropped link resumes with a
//! partial resync.

use crate::harness::{
    dataset, info_field, q, start_replica, text, wait_for, wait_for_link_up, Flavor, ServerHandle,
};
use std::time::Duration;

fn fill(c: &mut redis::Connection) {
    q(c, &["SET", "s", "hello"]);
    q(c, &["SET", "n", "12345"]);
    q(c, &["SET", "ttl", "v", "PXAT", "4102444800000"]);
    q(c, &["SET", "big", &"x".repeat(10_000)]);
    q(c, &["HSET", "h", "f1", "v1", "f2", "2"]);
    let items: Vec<String> = (0..2000).map(|i| format!("item-{i}")).collect();
    let mut rpush = vec!["RPUSH", "l"];
    rpush.extend(items.iter().map(|s| s.as_str()));
    q(c, &rpush);
    q(c, &["SELECT", "2"]);
    q(c, &["SET", "in2", "two"]);
    q(c, &["HSET", "h2", "a", "1"]);
    q(c, &["SELECT", "0"]);
}

/// Waits until the replica processed everything the master produced.
fn wait_in_sync(master: &mut redis::Connection, replica: &mut redis::Connection) {
    wait_for(
        "replica offset to reach master's",
        Duration::from_secs(10),
        || {
            let m = info_field(master, "replication", "master_repl_offset");
            !m.is_empty() && info_field(replica, "replication", "slave_repl_offset") == m
        },
    );
}

fn start_pair() -> (ServerHandle, ServerHandle) {
    let master = ServerHandle::start(Flavor::Redoubt, &[]);
    fill(&mut master.client());
    let replica = start_replica(Flavor::Redis, &master, &[]);
    (master, replica)
}

#[test]
fn real_redis_replica_follows_redoubt_master() {
    let (master, replica) = start_pair();
    let mut m = master.client();
    let mut r = replica.client();
    wait_in_sync(&mut m, &mut r);
    let before = dataset(&mut m);
    assert_eq!(before.len(), 8);
    assert_eq!(dataset(&mut r), before, "full sync");

    // The live stream: every kind of write, in several databases.
    q(&mut m, &["SET", "k", "v", "EX", "1000"]);
    q(&mut m, &["DEL", "s"]);
    q(&mut m, &["EXPIRE", "n", "500"]);
    q(&mut m, &["INCRBYFLOAT", "f", "1.5"]);
    q(&mut m, &["LPUSH", "l", "head"]);
    q(&mut m, &["HSET", "h", "f3", "v3"]);
    q(&mut m, &["SELECT", "3"]);
    q(&mut m, &["SET", "in3", "three"]);
    q(&mut m, &["MULTI"]);
    q(&mut m, &["INCR", "ctr"]);
    q(&mut m, &["SELECT", "1"]);
    q(&mut m, &["RPUSH", "l1", "a", "b"]);
    q(&mut m, &["EXEC"]);
    q(&mut m, &["SELECT", "0"]);
    q(&mut m, &["SET", "short", "x", "PX", "30"]);
    std::thread::sleep(Duration::from_millis(60));
    // Reading the expired key on the master deletes it and propagates DEL.
    assert_eq!(q(&mut m, &["GET", "short"]), redis::Value::Nil);
    assert_eq!(q(&mut m, &["WAIT", "1", "5000"]), redis::Value::Int(1));
    wait_in_sync(&mut m, &mut r);
    let after = dataset(&mut m);
    assert!(after.contains_key(&(1, "l1".to_string())));
    assert!(!after.contains_key(&(0, "short".to_string())));
    assert_eq!(dataset(&mut r), after, "live stream");

    // INFO on the master lists the replica as Redis does.
    let info = text(q(&mut m, &["INFO", "replication"]));
    assert!(info.contains("connected_slaves:1\r\n"), "{info}");
    assert!(info.contains("slave0:ip=127.0.0.1,port="), "{info}");
    assert!(info.contains(",state=online,offset="), "{info}");
    assert!(info.contains("repl_backlog_active:1\r\n"), "{info}");
    // WAIT for more replicas than there are times out with the count.
    assert_eq!(q(&mut m, &["WAIT", "2", "100"]), redis::Value::Int(1));

    // ROLE lists the replica with its acknowledged offset.
    let role = text(q(&mut m, &["ROLE"]));
    let port = replica.addr().port().to_string();
    assert!(role.starts_with("[master,"), "{role}");
    assert!(role.contains(&format!("[127.0.0.1,{port},")), "{role}");

    // min-replicas-to-write refuses writes that too few replicas get.
    q(&mut m, &["CONFIG", "SET", "min-replicas-to-write", "2"]);
    let mut raw = master.raw();
    assert_eq!(
        raw.cmd(&[b"SET", b"x", b"y"]),
        b"-NOREPLICAS Not enough good replicas to write.\r\n"
    );
    q(&mut m, &["CONFIG", "SET", "min-replicas-to-write", "1"]);
    assert_eq!(raw.cmd(&[b"SET", b"x", b"y"]), b"+OK\r\n");
}

#[test]
fn real_redis_replica_resumes_with_partial_resync_after_link_kill() {
    let (master, replica) = start_pair();
    let mut m = master.client();
    let mut r = replica.client();
    wait_in_sync(&mut m, &mut r);
    q(&mut r, &["CLIENT", "KILL", "TYPE", "master"]);
    q(&mut m, &["SET", "during", "outage"]);
    wait_for("partial resync accepted", Duration::from_secs(10), || {
        master
            .log()
            .contains("Partial resynchronization request from")
    });
    wait_in_sync(&mut m, &mut r);
    assert_eq!(
        q(&mut r, &["GET", "during"]),
        redis::Value::BulkString(b"outage".to_vec())
    );
    assert_eq!(dataset(&mut r), dataset(&mut m));
    let log = replica.log();
    assert!(
        log.contains("Successful partial resynchronization with master."),
        "{log}"
    );
}

/// Writes of every kind, including an expiry the master turns into DEL.
fn live_writes(m: &mut redis::Connection) {
    q(m, &["SET", "k", "v", "EX", "1000"]);
    q(m, &["DEL", "s"]);
    q(m, &["EXPIRE", "n", "500"]);
    q(m, &["INCRBYFLOAT", "f", "1.5"]);
    q(m, &["LPUSH", "l", "head"]);
    q(m, &["HSET", "h", "f3", "v3"]);
    q(m, &["SELECT", "3"]);
    q(m, &["SET", "in3", "three"]);
    q(m, &["MULTI"]);
    q(m, &["INCR", "ctr"]);
    q(m, &["SELECT", "1"]);
    q(m, &["RPUSH", "l1", "a", "b"]);
    q(m, &["EXEC"]);
    q(m, &["SELECT", "0"]);
    q(m, &["SET", "short", "x", "PX", "30"]);
    std::thread::sleep(Duration::from_millis(60));
    assert_eq!(q(m, &["GET", "short"]), redis::Value::Nil);
}

fn redoubt_replica_follows(master_flavor: Flavor) {
    let directives: &[(&str, &str)] = match master_flavor {
        Flavor::Redis => &[("repl-diskless-sync-delay", "0")],
        Flavor::Redoubt => &[],
    };
    let master = ServerHandle::start(master_flavor, directives);
    let mut m = master.client();
    fill(&mut m);
    let replica = start_replica(Flavor::Redoubt, &master, &[]);
    let mut r = replica.client();
    wait_in_sync(&mut m, &mut r);
    assert_eq!(dataset(&mut r), dataset(&mut m), "full sync");
    live_writes(&mut m);
    assert_eq!(q(&mut m, &["WAIT", "1", "5000"]), redis::Value::Int(1));
    wait_in_sync(&mut m, &mut r);
    let after = dataset(&mut m);
    assert!(!after.contains_key(&(0, "short".to_string())));
    assert_eq!(dataset(&mut r), after, "live stream");

    // Writes from ordinary clients are refused, in Redis's words.
    let mut raw = replica.raw();
    assert_eq!(
        raw.cmd(&[b"SET", b"x", b"y"]),
        b"-READONLY You can't write against a read only replica.\r\n"
    );
    assert_eq!(info_field(&mut r, "replication", "role"), "slave");
    let role = text(q(&mut r, &["ROLE"]));
    let port = master.addr().port();
    let want = format!("[slave,127.0.0.1,{port},connected,");
    assert!(role.starts_with(&want), "{role}");

    // A dropped link continues where it stopped.
    q(&mut r, &["CLIENT", "KILL", "TYPE", "master"]);
    q(&mut m, &["SET", "during", "outage"]);
    wait_for("partial resync", Duration::from_secs(10), || {
        replica
            .log()
            .contains("Successful partial resynchronization with master.")
    });
    wait_in_sync(&mut m, &mut r);
    assert_eq!(dataset(&mut r), dataset(&mut m), "after partial resync");
    let log = replica.log();
    assert_eq!(log.matches("Full resync from master").count(), 1, "{log}");
}

#[test]
fn redoubt_replica_follows_real_redis_master() {
    redoubt_replica_follows(Flavor::Redis);
}

#[test]
fn redoubt_replica_follows_redoubt_master() {
    redoubt_replica_follows(Flavor::Redoubt);
}

#[test]
fn promoted_replica_keeps_old_replid_as_replid2() {
    let master = ServerHandle::start(Flavor::Redoubt, &[]);
    let mut m = master.client();
    fill(&mut m);
    let replica = start_replica(Flavor::Redoubt, &master, &[]);
    let mut r = replica.client();
    wait_in_sync(&mut m, &mut r);
    let old = info_field(&mut m, "replication", "master_replid");
    let offset: i64 = info_field(&mut m, "replication", "master_repl_offset")
        .parse()
        .unwrap();
    assert_eq!(q(&mut r, &["REPLICAOF", "NO", "ONE"]), redis::Value::Okay);
    assert_eq!(info_field(&mut r, "replication", "role"), "master");
    assert_eq!(info_field(&mut r, "replication", "master_replid2"), old);
    assert_eq!(
        info_field(&mut r, "replication", "second_repl_offset"),
        (offset + 1).to_string()
    );
    assert_ne!(info_field(&mut r, "replication", "master_replid"), old);
    assert_eq!(q(&mut r, &["SET", "now", "writable"]), redis::Value::Okay);
}

#[test]
fn chained_replica_follows_through_a_replica_in_the_selected_db() {
    let master = ServerHandle::start(Flavor::Redoubt, &[]);
    let mut m = master.client();
    fill(&mut m);
    let middle = start_replica(Flavor::Redoubt, &master, &[]);
    let mut a = middle.client();
    // The stream has db 3 selected when the end replica syncs from the
    // middle one; later db 3 writes come without a SELECT.
    q(&mut m, &["SELECT", "3"]);
    q(&mut m, &["SET", "x", "1"]);
    wait_in_sync(&mut m, &mut a);
    let end = start_replica(Flavor::Redoubt, &middle, &[]);
    let mut b = end.client();
    q(&mut m, &["SET", "y", "2"]);
    q(&mut m, &["SELECT", "0"]);
    live_writes(&mut m);
    wait_in_sync(&mut m, &mut b);
    assert_eq!(
        info_field(&mut b, "replication", "slave_repl_offset"),
        info_field(&mut m, "replication", "master_repl_offset")
    );
    assert_eq!(dataset(&mut b), dataset(&mut m));
}

#[test]
fn sibling_continues_partially_with_the_promoted_replica() {
    let master = ServerHandle::start(Flavor::Redoubt, &[]);
    let mut m = master.client();
    fill(&mut m);
    let r1 = start_replica(Flavor::Redoubt, &master, &[]);
    let r2 = start_replica(Flavor::Redoubt, &master, &[]);
    let (mut c1, mut c2) = (r1.client(), r2.client());
    live_writes(&mut m);
    wait_in_sync(&mut m, &mut c1);
    wait_in_sync(&mut m, &mut c2);
    drop(master);
    assert_eq!(q(&mut c1, &["REPLICAOF", "NO", "ONE"]), redis::Value::Okay);
    let port = r1.addr().port().to_string();
    assert_eq!(
        q(&mut c2, &["REPLICAOF", "127.0.0.1", &port]),
        redis::Value::Okay
    );
    wait_for("sibling's partial resync", Duration::from_secs(10), || {
        r2.log()
            .contains("Successful partial resynchronization with master.")
    });
    q(&mut c1, &["SET", "after", "promotion"]);
    wait_in_sync(&mut c1, &mut c2);
    assert_eq!(dataset(&mut c2), dataset(&mut c1));
    assert_eq!(
        info_field(&mut c2, "replication", "master_replid"),
        info_field(&mut c1, "replication", "master_replid")
    );
    let log = r2.log();
    assert_eq!(log.matches("Full resync from master").count(), 1, "{log}");
}

/// Writes made while the snapshot is being streamed reach the replica
/// after it, for both kinds of replica.
fn full_sync_under_write_load(replica_flavor: Flavor) {
    let master = ServerHandle::start(Flavor::Redoubt, &[]);
    let mut m = master.client();
    q(&mut m, &["DEBUG", "POPULATE", "60000", "key", "100"]);
    let addr = master.url();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut c = redis::Client::open(addr).unwrap().get_connection().unwrap();
            let mut n = 0u64;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                q(&mut c, &["INCR", "counter"]);
                q(&mut c, &["SET", &format!("w{}", n % 500), &n.to_string()]);
                n += 1;
            }
            n
        })
    };
    let target = master.replicaof();
    let replica = ServerHandle::start(replica_flavor, &[("replicaof", &target)]);
    let mut r = replica.client();
    wait_for("link up under load", Duration::from_secs(30), || {
        info_field(&mut r, "replication", "master_link_status") == "up"
    });
    std::thread::sleep(Duration::from_millis(200));
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let writes = writer.join().unwrap();
    assert!(writes > 0);
    wait_in_sync(&mut m, &mut r);
    assert_eq!(q(&mut r, &["DBSIZE"]), q(&mut m, &["DBSIZE"]));
    assert_eq!(
        q(&mut r, &["GET", "counter"]),
        q(&mut m, &["GET", "counter"])
    );
    assert_eq!(q(&mut r, &["GET", "w7"]), q(&mut m, &["GET", "w7"]));
    assert_eq!(
        q(&mut r, &["GET", "key:59999"]),
        q(&mut m, &["GET", "key:59999"])
    );
}

#[test]
fn real_redis_replica_full_sync_under_write_load() {
    full_sync_under_write_load(Flavor::Redis);
}

#[test]
fn redoubt_replica_full_sync_under_write_load() {
    full_sync_under_write_load(Flavor::Redoubt);
}

/// A Redoubt master with a real Redis replica in sync, then frozen with
/// SIGSTOP, the master's replica output limit set to `limit` and its
/// backlog to `backlog` (as Redis, a replica's hard limit is never below
/// `repl-backlog-size`).
fn stopped_real_replica(
    limit: &str,
    backlog: &str,
) -> (
    ServerHandle,
    redis::Connection,
    ServerHandle,
    redis::Connection,
) {
    let master = ServerHandle::start(Flavor::Redoubt, &[]);
    let mut m = master.client();
    let replica = start_replica(Flavor::Redis, &master, &[]);
    let r = replica.client();
    q(
        &mut m,
        &["CONFIG", "SET", "client-output-buffer-limit", limit],
    );
    q(&mut m, &["CONFIG", "SET", "repl-backlog-size", backlog]);
    replica.signal(libc::SIGSTOP);
    (master, m, replica, r)
}

#[test]
fn stalled_replica_over_output_limit_is_dropped_then_catches_up() {
    let (master, mut m, mut replica, mut r) = stopped_real_replica("replica 1000000 0 0", "10mb");
    let big = "v".repeat(1 << 20);
    for i in 0..40 {
        q(&mut m, &["SET", &format!("big{i}"), &big]);
    }
    wait_for(
        "the output-buffer limit log line",
        Duration::from_secs(10),
        || {
            master
                .log()
                .contains("for overcoming of output buffer limits")
        },
    );
    replica.signal(libc::SIGCONT);
    wait_in_sync(&mut m, &mut r);
    assert_eq!(q(&mut r, &["STRLEN", "big39"]), redis::Value::Int(1 << 20));
    replica.kill();
}

#[test]
fn replica_resumes_with_partial_resync_after_restart() {
    let master = ServerHandle::start(Flavor::Redoubt, &[]);
    let mut m = master.client();
    fill(&mut m);
    let mut first = start_replica(Flavor::Redoubt, &master, &[]);
    let mut r = first.client();
    q(&mut m, &["SELECT", "2"]);
    q(&mut m, &["SET", "before", "restart"]);
    wait_in_sync(&mut m, &mut r);
    assert_eq!(q(&mut r, &["SAVE"]), redis::Value::Okay);
    first.kill();
    // Written while the replica is down, in the stream's selected db.
    q(&mut m, &["SET", "while", "down"]);
    q(&mut m, &["SELECT", "0"]);
    let dir = first.dir.display().to_string();
    let target = master.replicaof();
    let second = ServerHandle::start(Flavor::Redoubt, &[("dir", &dir), ("replicaof", &target)]);
    let mut r = second.client();
    wait_for(
        "partial resync after restart",
        Duration::from_secs(10),
        || {
            second
                .log()
                .contains("Successful partial resynchronization with master.")
        },
    );
    wait_in_sync(&mut m, &mut r);
    assert_eq!(dataset(&mut r), dataset(&mut m));
}

/// `replica-serve-stale-data no`: once the master is gone the replica
/// refuses everything but the `stale` commands, byte for byte as Redis.
fn stale_data_refused(replica_flavor: Flavor) {
    let mut master = ServerHandle::start(Flavor::Redoubt, &[]);
    q(&mut master.client(), &["SET", "k", "v"]);
    let target = master.replicaof();
    let replica = ServerHandle::start(
        replica_flavor,
        &[("replicaof", &target), ("replica-serve-stale-data", "no")],
    );
    wait_for_link_up(&replica);
    let mut r = replica.client();
    let mut raw = replica.raw();
    wait_for("k replicated", Duration::from_secs(10), || {
        raw.cmd(&[b"GET", b"k"]) == b"$1\r\nv\r\n"
    });
    master.kill();
    wait_for("link down", Duration::from_secs(10), || {
        info_field(&mut r, "replication", "master_link_status") == "down"
    });
    let down: &[u8] =
        b"-MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.\r\n";
    assert_eq!(raw.cmd(&[b"GET", b"k"]), down);
    assert_eq!(raw.cmd(&[b"DBSIZE"]), down);
    assert_eq!(raw.cmd(&[b"PING"]), down);
    assert!(raw.cmd(&[b"INFO", b"replication"]).starts_with(b"$"));
    // A transaction: MULTI is allowed, GET is refused, EXEC aborts.
    assert_eq!(raw.cmd(&[b"MULTI"]), b"+OK\r\n");
    assert_eq!(raw.cmd(&[b"GET", b"k"]), down);
    assert_eq!(
        raw.cmd(&[b"EXEC"]),
        b"-EXECABORT Transaction discarded because of previous errors.\r\n"
    );
    // Promotion serves the data again.
    assert_eq!(raw.cmd(&[b"REPLICAOF", b"NO", b"ONE"]), b"+OK\r\n");
    assert_eq!(raw.cmd(&[b"GET", b"k"]), b"$1\r\nv\r\n");
}

#[test]
fn redoubt_replica_refuses_stale_reads_when_told() {
    stale_data_refused(Flavor::Redoubt);
}

#[test]
fn real_redis_replica_refuses_stale_reads_when_told() {
    stale_data_refused(Flavor::Redis);
}

#[test]
fn wrong_masterauth_is_reported_and_retried_while_the_master_is_unaffected() {
    let master = ServerHandle::start(Flavor::Redoubt, &[("requirepass", "secret")]);
    let target = master.replicaof();
    let replica = ServerHandle::start(
        Flavor::Redoubt,
        &[("replicaof", &target), ("masterauth", "wrong")],
    );
    wait_for("two AUTH failures", Duration::from_secs(15), || {
        replica.log().matches("Unable to AUTH to MASTER").count() >= 2
    });
    let log = replica.log();
    let line = log
        .lines()
        .find(|l| l.contains("Unable to AUTH to MASTER"))
        .unwrap_or_default();
    assert!(line.contains("masterauth"), "{line}");
    let mut r = replica.client();
    assert_eq!(
        info_field(&mut r, "replication", "master_link_status"),
        "down"
    );
    let mut raw = master.raw();
    assert_eq!(raw.cmd(&[b"AUTH", b"secret"]), b"+OK\r\n");
    assert_eq!(raw.cmd(&[b"SET", b"k", b"v"]), b"+OK\r\n");
    let info = raw.cmd(&[b"INFO", b"replication"]);
    let info = String::from_utf8_lossy(&info);
    assert!(info.contains("connected_slaves:0\r\n"), "{info}");
}

/// A fake master: answers the handshake, sends `payload` as its reply to
/// PSYNC and closes the link. Each connection's arrival time is sent on
/// the returned channel.
fn fake_master(payload: Vec<u8>) -> (u16, std::sync::mpsc::Receiver<std::time::Instant>) {
    fake_master_holding(payload, Duration::ZERO)
}

/// Same, keeping the link open `hold` after the payload.
fn fake_master_holding(
    payload: Vec<u8>,
    hold: Duration,
) -> (u16, std::sync::mpsc::Receiver<std::time::Instant>) {
    use std::io::{Read, Write};
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { return };
            if tx.send(std::time::Instant::now()).is_err() {
                return;
            }
            let mut buf = Vec::new();
            let mut tmp = [0u8; 4096];
            'conn: loop {
                while let Ok(Some((frame, n))) = resp::parse_frame(&buf) {
                    buf.drain(..n);
                    let name = match frame {
                        resp::Frame::Array(a) => match a.first() {
                            Some(resp::Frame::Bulk(b)) => String::from_utf8_lossy(b).to_uppercase(),
                            _ => String::new(),
                        },
                        _ => String::new(),
                    };
                    let reply: &[u8] = match name.as_str() {
                        "PING" => b"+PONG\r\n",
                        "PSYNC" => {
                            let _ = s.write_all(&payload);
                            std::thread::sleep(hold);
                            break 'conn;
                        }
                        _ => b"+OK\r\n",
                    };
                    let _ = s.write_all(reply);
                }
                match s.read(&mut tmp) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => buf.extend_from_slice(&tmp[..n]),
                }
            }
        }
    });
    (port, rx)
}

/// A broken full sync from a fake master: the replica logs, retries with a
/// growing backoff and keeps serving the dataset it had, never a part.
fn broken_full_sync(payload: &[u8], logged: &str) {
    let master = ServerHandle::start(Flavor::Redoubt, &[]);
    let mut m = master.client();
    fill(&mut m);
    let replica = start_replica(Flavor::Redoubt, &master, &[]);
    let mut r = replica.client();
    wait_in_sync(&mut m, &mut r);
    let before = dataset(&mut r);
    let size = text(q(&mut r, &["DBSIZE"]));
    let mut head = format!("+FULLRESYNC {} 0\r\n", "f".repeat(40)).into_bytes();
    head.extend_from_slice(payload);
    let (port, arrivals) = fake_master(head);
    q(&mut r, &["REPLICAOF", "127.0.0.1", &port.to_string()]);
    let mut at = Vec::new();
    for _ in 0..3 {
        at.push(
            arrivals
                .recv_timeout(Duration::from_secs(15))
                .expect("the replica retries"),
        );
        assert_eq!(text(q(&mut r, &["DBSIZE"])), size);
    }
    let first_gap = at[1] - at[0];
    let second_gap = at[2] - at[1];
    assert!(first_gap >= Duration::from_millis(800), "{first_gap:?}");
    assert!(second_gap > first_gap, "{first_gap:?} then {second_gap:?}");
    assert_eq!(
        info_field(&mut r, "replication", "master_link_status"),
        "down"
    );
    assert_eq!(dataset(&mut r), before);
    let log = replica.log();
    assert!(log.contains(logged), "{log}");
    // The real master never noticed.
    assert_eq!(q(&mut m, &["SET", "still", "fine"]), redis::Value::Okay);
}

#[test]
fn truncated_rdb_from_master_keeps_the_old_dataset_and_retries() {
    broken_full_sync(b"$100000\r\nREDIS0009\xfa\x09redis-ver", "connection lost");
}

#[test]
fn garbage_rdb_from_master_keeps_the_old_dataset_and_retries() {
    broken_full_sync(
        b"$24\r\nthis is not an RDB file!",
        "Failed trying to load the MASTER synchronization DB",
    );
}

#[test]
fn backlog_overflow_during_an_outage_gives_exactly_one_full_sync() {
    let master = ServerHandle::start(Flavor::Redoubt, &[("repl-backlog-size", "16384")]);
    let mut m = master.client();
    fill(&mut m);
    let mut first = start_replica(Flavor::Redoubt, &master, &[]);
    let mut r = first.client();
    wait_in_sync(&mut m, &mut r);
    assert_eq!(q(&mut r, &["SAVE"]), redis::Value::Okay);
    first.kill();
    // Far more than the backlog holds.
    let v = "o".repeat(1000);
    for i in 0..100 {
        q(&mut m, &["SET", &format!("outage{i}"), &v]);
    }
    let dir = first.dir.display().to_string();
    let target = master.replicaof();
    let second = ServerHandle::start(Flavor::Redoubt, &[("dir", &dir), ("replicaof", &target)]);
    wait_for_link_up(&second);
    let mut r = second.client();
    wait_in_sync(&mut m, &mut r);
    // Long enough for a loop to show.
    std::thread::sleep(Duration::from_secs(2));
    wait_in_sync(&mut m, &mut r);
    assert_eq!(dataset(&mut r), dataset(&mut m));
    let log = second.log();
    assert_eq!(log.matches("Full resync from master").count(), 1, "{log}");
    let stats = text(q(&mut m, &["INFO", "stats"]));
    assert!(stats.contains("sync_full:2\r\n"), "{stats}");
    assert!(stats.contains("sync_partial_err:1\r\n"), "{stats}");
    assert!(
        master.log().contains("raise repl-backlog-size"),
        "{}",
        master.log()
    );
}

/// The field names of `INFO replication`, in order.
fn info_names(c: &mut redis::Connection) -> Vec<String> {
    text(q(c, &["INFO", "replication"]))
        .lines()
        .filter_map(|l| l.split_once(':').map(|(k, _)| k.to_string()))
        .collect()
}

/// A full sync stuck at 100 of 1000 bytes: the progress fields, in Redis
/// 7.0's order (checked against a real replica), then our extras.
#[test]
fn info_shows_full_sync_progress_in_redis_order() {
    let mut payload = format!("+FULLRESYNC {} 0\r\n$1000\r\n", "f".repeat(40)).into_bytes();
    payload.extend_from_slice(&[b'x'; 100]);
    let mut names = Vec::new();
    for flavor in [Flavor::Redis, Flavor::Redoubt] {
        let (port, _arrivals) = fake_master_holding(payload.clone(), Duration::from_secs(20));
        let target = format!("127.0.0.1 {port}");
        let replica = ServerHandle::start(flavor, &[("replicaof", &target)]);
        let mut r = replica.client();
        wait_for("100 bytes read", Duration::from_secs(10), || {
            info_field(&mut r, "replication", "master_sync_read_bytes") == "100"
        });
        for (field, want) in [
            ("master_sync_in_progress", "1"),
            ("master_sync_total_bytes", "1000"),
            ("master_sync_left_bytes", "900"),
            ("master_sync_perc", "10.00"),
            ("master_link_status", "down"),
        ] {
            assert_eq!(info_field(&mut r, "replication", field), want, "{field}");
        }
        names.push(info_names(&mut r));
        if flavor == Flavor::Redoubt {
            assert_eq!(
                info_field(&mut r, "replication", "master_link_lag_ms"),
                "-1"
            );
            for field in ["master_sync_elapsed_ms", "master_sync_eta_seconds"] {
                assert_ne!(info_field(&mut r, "replication", field), "", "{field}");
            }
        }
    }
    let (redis, ours) = (&names[0], &names[1]);
    assert_eq!(&ours[..redis.len()], &redis[..], "{ours:?}");
    assert_eq!(
        &ours[redis.len()..],
        [
            "replicas_max_lag_ms",
            "replicas_max_lag_bytes",
            "replicas_in_full_sync",
            "master_link_lag_ms",
            "master_sync_elapsed_ms",
            "master_sync_eta_seconds"
        ]
    );
}

/// Two replicas arriving within `repl-diskless-sync-delay` share one
/// snapshot: both wait for it, then both are served by the same walk.
#[test]
fn replicas_arriving_together_share_one_delayed_snapshot() {
    let master = ServerHandle::start(Flavor::Redoubt, &[("repl-diskless-sync-delay", "2")]);
    let mut m = master.client();
    fill(&mut m);
    let target = master.replicaof();
    let a = ServerHandle::start(Flavor::Redoubt, &[("replicaof", &target)]);
    let b = ServerHandle::start(Flavor::Redis, &[("replicaof", &target)]);
    wait_for("both waiting", Duration::from_secs(5), || {
        text(q(&mut m, &["INFO", "replication"]))
            .matches("state=wait_bgsave")
            .count()
            == 2
    });
    for h in [&a, &b] {
        wait_for_link_up(h);
        let mut r = h.client();
        wait_in_sync(&mut m, &mut r);
        assert_eq!(dataset(&mut r), dataset(&mut m));
    }
    let log = master.log();
    assert_eq!(
        log.matches("Starting BGSAVE for SYNC with target: replicas sockets")
            .count(),
        1,
        "{log}"
    );
    let stats = text(q(&mut m, &["INFO", "stats"]));
    assert!(stats.contains("sync_full:2\r\n"), "{stats}");
}

#[test]
fn replica_over_the_soft_output_limit_for_its_seconds_is_dropped() {
    let (master, mut m, mut replica, mut r) = stopped_real_replica("replica 0 1000000 1", "100mb");
    let big = "v".repeat(1 << 20);
    let started = std::time::Instant::now();
    for i in 0..40 {
        q(&mut m, &["SET", &format!("big{i}"), &big]);
    }
    wait_for("the soft-limit log line", Duration::from_secs(10), || {
        master
            .log()
            .contains("over the soft limit 1000000 for more than 1 seconds")
    });
    assert!(started.elapsed() >= Duration::from_secs(1));
    replica.signal(libc::SIGCONT);
    wait_in_sync(&mut m, &mut r);
    assert_eq!(q(&mut r, &["STRLEN", "big39"]), redis::Value::Int(1 << 20));
    replica.kill();
}

/// `FAILOVER` from `master_flavor` to a `replica_flavor` replica: roles
/// swap, the data and the history carry over (partial resync both ways).
fn failover_between(master_flavor: Flavor, replica_flavor: Flavor) {
    let master = ServerHandle::start(master_flavor, &[]);
    let mut m = master.client();
    fill(&mut m);
    let replica = start_replica(replica_flavor, &master, &[]);
    let mut r = replica.client();
    wait_in_sync(&mut m, &mut r);
    // Equal offsets are not enough for FAILOVER TO: after a disk-less sync
    // a master puts the replica online on its first acknowledgement that
    // arrives once the transfer is reaped (a real Redis master notices the
    // end of its child at the next cron), so wait for what FAILOVER checks.
    wait_for(
        "the master to see its replica online",
        Duration::from_secs(10),
        || info_field(&mut m, "replication", "slave0").contains("state=online"),
    );
    let port = replica.addr().port().to_string();
    let mut raw = master.raw();
    assert_eq!(
        raw.cmd(&[b"FAILOVER", b"TO", b"127.0.0.1", b"1"]),
        b"-ERR FAILOVER target HOST and PORT is not a replica.\r\n"
    );
    assert_eq!(
        raw.cmd(&[b"FAILOVER", b"FORCE"]),
        b"-ERR FAILOVER with force option requires both a timeout and target HOST and IP.\r\n"
    );
    assert_eq!(
        raw.cmd(&[b"FAILOVER", b"ABORT"]),
        b"-ERR No failover in progress.\r\n"
    );
    assert_eq!(
        raw.cmd(&[b"FAILOVER", b"TIMEOUT", b"0"]),
        b"-ERR FAILOVER timeout must be greater than 0\r\n"
    );
    assert_eq!(
        raw.cmd(&[b"FAILOVER", b"ABORT", b"TIMEOUT", b"5"]),
        b"-ERR syntax error\r\n"
    );
    assert_eq!(
        replica.raw().cmd(&[b"FAILOVER"]),
        b"-ERR FAILOVER is not valid when server is a replica.\r\n"
    );
    assert_eq!(
        raw.cmd(&[
            b"FAILOVER",
            b"TO",
            b"127.0.0.1",
            port.as_bytes(),
            b"TIMEOUT",
            b"5000"
        ]),
        b"+OK\r\n"
    );
    wait_for("roles swapped", Duration::from_secs(10), || {
        info_field(&mut r, "replication", "role") == "master"
            && info_field(&mut m, "replication", "role") == "slave"
            && info_field(&mut m, "replication", "master_link_status") == "up"
    });
    assert_eq!(
        info_field(&mut m, "replication", "master_failover_state"),
        "no-failover"
    );
    assert_eq!(info_field(&mut m, "replication", "master_port"), port);
    // The new master takes writes and the old one follows them.
    q(&mut r, &["SET", "after", "failover"]);
    wait_in_sync(&mut r, &mut m);
    assert_eq!(dataset(&mut m), dataset(&mut r));
    assert!(replica
        .log()
        .contains("Failover request received for replid"));
}

#[test]
fn failover_redoubt_master_to_redoubt_replica() {
    failover_between(Flavor::Redoubt, Flavor::Redoubt);
}

#[test]
fn failover_redoubt_master_to_real_redis_replica() {
    failover_between(Flavor::Redoubt, Flavor::Redis);
}

#[test]
fn failover_real_redis_master_to_redoubt_replica() {
    failover_between(Flavor::Redis, Flavor::Redoubt);
}

#[test]
fn failover_that_cannot_sync_times_out_and_writes_resume() {
    let master = ServerHandle::start(Flavor::Redoubt, &[]);
    let mut m = master.client();
    let mut replica = start_replica(Flavor::Redoubt, &master, &[]);
    // A stopped replica never acknowledges the last write.
    replica.signal(libc::SIGSTOP);
    q(&mut m, &["SET", "k", "v"]);
    let mut raw = master.raw();
    assert_eq!(raw.cmd(&[b"FAILOVER", b"TIMEOUT", b"500"]), b"+OK\r\n");
    assert_eq!(
        info_field(&mut m, "replication", "master_failover_state"),
        "waiting-for-sync"
    );
    assert_eq!(
        raw.cmd(&[b"FAILOVER"]),
        b"-ERR FAILOVER already in progress.\r\n"
    );
    // Writes wait out the failover, then go through.
    let started = std::time::Instant::now();
    assert_eq!(raw.cmd(&[b"SET", b"k", b"w"]), b"+OK\r\n");
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(
        info_field(&mut m, "replication", "master_failover_state"),
        "no-failover"
    );
    assert_eq!(info_field(&mut m, "replication", "role"), "master");
    assert!(master
        .log()
        .contains("Replica never caught up before timeout"));
    replica.signal(libc::SIGCONT);
    replica.kill();
}

#[test]
fn real_redis_replica_full_sync_from_disk_based_master() {
    // repl-diskless-sync no: the snapshot is a BGSAVE of the RDB file,
    // sent with the `$<len>` form, which a real replica loads like an RDB
    // file.
    let master = ServerHandle::start(Flavor::Redoubt, &[("repl-diskless-sync", "no")]);
    let mut m = master.client();
    fill(&mut m);
    let replica = start_replica(Flavor::Redis, &master, &[]);
    let mut r = replica.client();
    wait_in_sync(&mut m, &mut r);
    let before = dataset(&mut m);
    assert_eq!(before.len(), 8);
    assert_eq!(dataset(&mut r), before, "full sync from disk");
    // The stream follows the payload directly.
    q(&mut m, &["SET", "after", "sync"]);
    q(&mut m, &["SELECT", "2"]);
    q(&mut m, &["HSET", "h2", "f", "v"]);
    assert_eq!(q(&mut m, &["WAIT", "1", "5000"]), redis::Value::Int(1));
    wait_in_sync(&mut m, &mut r);
    assert_eq!(dataset(&mut r), dataset(&mut m), "live stream");
    let log = master.log();
    assert!(
        log.contains("Starting BGSAVE for SYNC with target: disk"),
        "{log}"
    );
    assert!(
        log.contains("Background saving terminated with success"),
        "{log}"
    );
    // Redis's replica log names the length-prefixed form.
    let rlog = replica.log();
    assert!(rlog.contains("bytes from master to disk"), "{rlog}");
}

#[test]
fn master_without_replicas_frees_its_backlog_after_the_ttl() {
    let master = ServerHandle::start(Flavor::Redoubt, &[("repl-backlog-ttl", "1")]);
    let mut m = master.client();
    fill(&mut m);
    let target = master.replicaof();
    let replica = ServerHandle::start(Flavor::Redis, &[("replicaof", &target)]);
    let mut r = replica.client();
    wait_in_sync(&mut m, &mut r);
    assert_eq!(
        info_field(&mut m, "replication", "repl_backlog_active"),
        "1"
    );
    let id = info_field(&mut m, "replication", "master_replid");
    drop(r);
    drop(replica);
    wait_for("replica gone", Duration::from_secs(10), || {
        info_field(&mut m, "replication", "connected_slaves") == "0"
    });
    let offset = info_field(&mut m, "replication", "master_repl_offset");
    wait_for("backlog freed", Duration::from_secs(10), || {
        info_field(&mut m, "replication", "repl_backlog_active") == "0"
    });
    assert_ne!(info_field(&mut m, "replication", "master_replid"), id);
    assert_eq!(
        info_field(&mut m, "replication", "master_repl_offset"),
        offset
    );
    assert!(master
        .log()
        .contains("Replication backlog freed after 1 seconds without connected replicas."));
}

#[test]
fn redoubt_replica_full_sync_from_disk_based_master() {
    let master = ServerHandle::start(Flavor::Redoubt, &[("repl-diskless-sync", "no")]);
    let mut m = master.client();
    fill(&mut m);
    let replica = start_replica(Flavor::Redoubt, &master, &[]);
    let mut r = replica.client();
    wait_in_sync(&mut m, &mut r);
    live_writes(&mut m);
    assert_eq!(q(&mut m, &["WAIT", "1", "5000"]), redis::Value::Int(1));
    wait_in_sync(&mut m, &mut r);
    assert_eq!(dataset(&mut r), dataset(&mut m));
    assert!(master
        .log()
        .contains("Starting BGSAVE for SYNC with target: disk"));
}

/// The stream carries FLUSHALL, FLUSHDB in another database and the DELs
/// of evictions (master under a small `maxmemory`); the replica, which
/// evicts nothing itself, must end equal key by key.
fn flushes_and_evictions_reach(master_flavor: Flavor, replica_flavor: Flavor) {
    // Real Redis counts its 1 MB backlog against maxmemory: give it room.
    let mut directives = vec![("maxmemory-policy", "allkeys-random")];
    match master_flavor {
        Flavor::Redis => {
            directives.push(("maxmemory", "4mb"));
            directives.push(("repl-diskless-sync-delay", "0"));
        }
        Flavor::Redoubt => directives.push(("maxmemory", "2mb")),
    }
    let master = ServerHandle::start(master_flavor, &directives);
    let mut m = master.client();
    fill(&mut m);
    let replica = start_replica(replica_flavor, &master, &[]);
    let mut r = replica.client();
    wait_in_sync(&mut m, &mut r);
    assert_eq!(dataset(&mut r), dataset(&mut m), "full sync");

    q(&mut m, &["FLUSHALL"]);
    q(&mut m, &["SELECT", "1"]);
    q(&mut m, &["SET", "one", "1"]);
    q(&mut m, &["SELECT", "3"]);
    q(&mut m, &["SET", "three", "3"]);
    q(&mut m, &["FLUSHDB"]);
    q(&mut m, &["SELECT", "0"]);
    wait_in_sync(&mut m, &mut r);
    let flushed = dataset(&mut m);
    assert_eq!(flushed.len(), 1, "{flushed:?}");
    assert_eq!(dataset(&mut r), flushed, "after flushes");

    // About 8 MB of values into a 2 or 4 MB budget: many keys get evicted.
    let value = "v".repeat(2000);
    for i in 0..4000 {
        q(&mut m, &["SET", &format!("fill:{i}"), &value]);
    }
    let stats = text(q(&mut m, &["INFO", "stats"]));
    let evicted: u64 = stats
        .lines()
        .find_map(|l| l.strip_prefix("evicted_keys:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    assert!(evicted > 100, "evicted_keys {evicted}");
    // Lift the limit so that reading the dataset back evicts nothing more.
    q(&mut m, &["CONFIG", "SET", "maxmemory", "0"]);
    wait_in_sync(&mut m, &mut r);
    let after = dataset(&mut m);
    assert!(after.len() < 4000, "{}", after.len());
    assert_eq!(dataset(&mut r), after, "after evictions");
}

#[test]
fn real_redis_replica_sees_flushes_and_evictions_of_redoubt_master() {
    flushes_and_evictions_reach(Flavor::Redoubt, Flavor::Redis);
}

#[test]
fn redoubt_replica_sees_flushes_and_evictions_of_real_redis_master() {
    flushes_and_evictions_reach(Flavor::Redis, Flavor::Redoubt);
}

/// `repl-diskless-load disabled` (and `on-empty-db` over a non-empty
/// dataset) loads the full sync through a temp file in `dir`, which is
/// gone afterwards; `swapdb` loads from memory.
fn full_sync_with_diskless_load(mode: &str, preload: bool) {
    let master = ServerHandle::start(Flavor::Redoubt, &[]);
    let mut m = master.client();
    fill(&mut m);
    let replica = ServerHandle::start(Flavor::Redoubt, &[("repl-diskless-load", mode)]);
    let mut r = replica.client();
    if preload {
        q(&mut r, &["SET", "old", "data"]);
    }
    let port = master.addr().port().to_string();
    q(&mut r, &["REPLICAOF", "127.0.0.1", &port]);
    wait_for_link_up(&replica);
    wait_in_sync(&mut m, &mut r);
    assert_eq!(dataset(&mut r), dataset(&mut m), "full sync");
    let log = replica.log();
    assert!(
        log.contains("MASTER <-> REPLICA sync: Loading DB in memory"),
        "{log}"
    );
    assert!(
        log.contains("MASTER <-> REPLICA sync: Finished with success"),
        "{log}"
    );
    let leftovers: Vec<String> = std::fs::read_dir(&replica.dir)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with("temp-"))
                .collect()
        })
        .unwrap_or_default();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn replica_with_diskless_load_disabled_loads_through_a_temp_file() {
    full_sync_with_diskless_load("disabled", false);
}

#[test]
fn replica_with_diskless_load_on_empty_db_over_data_uses_a_file() {
    full_sync_with_diskless_load("on-empty-db", true);
}

#[test]
fn replica_with_diskless_load_swapdb_loads_from_memory() {
    full_sync_with_diskless_load("swapdb", true);
}

/// A replica whose own master is unreachable refuses to feed a
/// sub-replica (it has nothing trustworthy to give), with Redis's reply.
#[test]
fn replica_without_master_link_refuses_sync() {
    let dead = crate::harness::free_port();
    let mut replies = Vec::new();
    for flavor in [Flavor::Redis, Flavor::Redoubt] {
        let port = dead.to_string();
        let server = ServerHandle::start(flavor, &[("replicaof", &format!("127.0.0.1 {port}"))]);
        let mut raw = server.raw();
        replies.push((raw.cmd_str(&["PSYNC", "?", "-1"]), raw.cmd_str(&["SYNC"])));
    }
    assert_eq!(replies[1], replies[0]);
    assert!(replies[0].0.contains("NOMASTERLINK"), "{replies:?}");
}

/// A `SYNC` client (the suite's replication-stream reader, redis-cli
/// --replica) as a raw socket: the snapshot is skipped, then commands
/// are read one by one.
struct SyncStream {
    s: std::net::TcpStream,
    buf: Vec<u8>,
}

impl SyncStream {
    fn attach(server: &ServerHandle) -> SyncStream {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(server.addr()).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(10))).ok();
        s.write_all(b"SYNC\r\n").expect("write");
        let mut buf = Vec::new();
        // `$<len>\r\n<len bytes>` after optional newlines (keep-alives).
        let len = loop {
            let mut tmp = [0u8; 4096];
            let n = s.read(&mut tmp).expect("read the snapshot");
            assert!(n > 0, "closed before the snapshot");
            buf.extend_from_slice(&tmp[..n]);
            while buf.first() == Some(&b'\n') {
                buf.remove(0);
            }
            if let Some(end) = buf.windows(2).position(|w| w == b"\r\n") {
                let head = String::from_utf8_lossy(&buf[1..end]).into_owned();
                buf.drain(..end + 2);
                break head.parse::<usize>().expect("snapshot length");
            }
        };
        while buf.len() < len {
            let mut tmp = [0u8; 65536];
            let n = s.read(&mut tmp).expect("read the snapshot");
            assert!(n > 0, "closed inside the snapshot");
            buf.extend_from_slice(&tmp[..n]);
        }
        buf.drain(..len);
        SyncStream { s, buf }
    }

    /// The next command of the stream other than PING, lower-cased and
    /// space-joined.
    fn next(&mut self) -> String {
        use std::io::Read;
        loop {
            while self.buf.first() == Some(&b'\n') {
                self.buf.remove(0);
            }
            if let Ok(Some((frame, n))) = resp::parse_frame(&self.buf) {
                self.buf.drain(..n);
                let line = match frame {
                    resp::Frame::Array(items) => items
                        .iter()
                        .map(|f| match f {
                            resp::Frame::Bulk(b) => String::from_utf8_lossy(b).to_lowercase(),
                            other => format!("{other:?}"),
                        })
                        .collect::<Vec<_>>()
                        .join(" "),
                    other => format!("{other:?}"),
                };
                if line != "ping" {
                    return line;
                }
                continue;
            }
            let mut tmp = [0u8; 4096];
            let n = self.s.read(&mut tmp).expect("read the stream");
            assert!(n > 0, "the stream closed");
            self.buf.extend_from_slice(&tmp[..n]);
        }
    }
}

/// A second `SYNC` client (the suite's replication-stream reader) gets
/// the writes made after its own snapshot, not the stream from the start
/// of the backlog; PUBLISH is part of the stream.
fn a_sync_client_streams_from_its_snapshot(flavor: Flavor) {
    let s = ServerHandle::start(flavor, &[]);
    let mut c = s.client();
    let mut first = SyncStream::attach(&s);
    q(&mut c, &["SET", "before", "1"]);
    assert_eq!(first.next(), "select 0");
    assert_eq!(first.next(), "set before 1");
    drop(first);
    let mut second = SyncStream::attach(&s);
    q(&mut c, &["SET", "after", "1"]);
    q(&mut c, &["PUBLISH", "ch", "hello"]);
    assert_eq!(second.next(), "select 0");
    assert_eq!(second.next(), "set after 1");
    assert_eq!(second.next(), "publish ch hello");
}

/// A write the master made before a key expired reaches a replica after
/// it expired there: the replica applies it to the key (which its own
/// clients see gone) instead of deleting the key on its own.
fn a_replica_applies_its_masters_write_to_a_key_expired_locally(flavor: Flavor) {
    // Real Redis is the reference here: under a loaded machine its run
    // was seen to miss once (EXISTS answered 1 after the deadline), so it
    // gets three tries to show the behaviour; Redoubt gets one.
    let tries = if flavor == Flavor::Redis { 3 } else { 1 };
    let mut seen = Vec::new();
    for _ in 0..tries {
        let got = write_after_local_expiry(flavor);
        if got == ("0".to_string(), true) {
            return;
        }
        seen.push(got);
    }
    panic!("{flavor:?}: (EXISTS, key still there for the master link) = {seen:?}, want (0, true)");
}

/// One run of the scenario above: what the replica's clients see
/// (EXISTS) and whether the key is still there (DEBUG OBJECT succeeds).
fn write_after_local_expiry(flavor: Flavor) -> (String, bool) {
    let master = ServerHandle::start(flavor, &[]);
    let replica = start_replica(flavor, &master, &[]);
    let mut m = master.client();
    let mut r = replica.client();
    q(&mut m, &["DEBUG", "SET-ACTIVE-EXPIRE", "0"]);
    q(&mut m, &["SET", "k", "1", "PX", "500"]);
    wait_in_sync(&mut m, &mut r);
    replica.signal(libc::SIGSTOP);
    q(&mut m, &["INCR", "k"]);
    std::thread::sleep(Duration::from_millis(700));
    replica.signal(libc::SIGCONT);
    wait_in_sync(&mut m, &mut r);
    let exists = text(q(&mut r, &["EXISTS", "k"]));
    let obj: redis::RedisResult<redis::Value> =
        redis::cmd("DEBUG").arg("OBJECT").arg("k").query(&mut r);
    (exists, obj.is_ok())
}

crate::harness::on_both!(
    a_sync_client_streams_from_its_snapshot,
    a_replica_applies_its_masters_write_to_a_key_expired_locally,
);
/// A disk-based full sync (`repl-diskless-sync no`) taken while the
/// backlog already holds history: the new replica's stream starts right
/// after its snapshot, so writes made before it are not applied twice
/// (an INCR counter and a list ends equal on both replicas, real Redis
/// and Redoubt).
#[test]
fn second_disk_based_full_sync_starts_its_stream_after_its_snapshot() {
    let master = ServerHandle::start(Flavor::Redoubt, &[("repl-diskless-sync", "no")]);
    let mut m = master.client();
    let first = start_replica(Flavor::Redoubt, &master, &[]);
    wait_for_link_up(&first);
    for _ in 0..50 {
        q(&mut m, &["INCR", "counter"]);
        q(&mut m, &["RPUSH", "log", "x"]);
    }
    for flavor in [Flavor::Redoubt, Flavor::Redis] {
        let late = start_replica(flavor, &master, &[]);
        let mut l = late.client();
        wait_for_link_up(&late);
        q(&mut m, &["INCR", "counter"]);
        wait_in_sync(&mut m, &mut l);
        assert_eq!(
            text(q(&mut l, &["GET", "counter"])),
            text(q(&mut m, &["GET", "counter"]))
        );
        assert_eq!(text(q(&mut l, &["LLEN", "log"])), "50");
        assert_eq!(dataset(&mut l), dataset(&mut m), "{flavor:?} replica");
    }
    wait_in_sync(&mut m, &mut first.client());
    assert_eq!(dataset(&mut first.client()), dataset(&mut m));
}
