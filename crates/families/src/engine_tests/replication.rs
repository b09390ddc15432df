//! Tests of `server::replication::master` that run real commands (they need the families).

use crate::testkit::Kit;

#[test]
fn stream_starts_with_the_first_replica_and_selects_databases() {
    let mut k = Kit::new();
    k.run(&["SET", "a", "1"]);
    // No replica yet: no backlog, no offset.
    assert_eq!(k.srv.repl.master_repl_offset(), 0);
    k.srv.repl.feed.borrow_mut().ensure_backlog(1 << 20);
    k.run(&["SET", "a", "2"]);
    k.run(&["SET", "b", "3"]);
    k.run(&["SELECT", "1"]);
    k.run(&["SET", "c", "4"]);
    let f = k.srv.repl.feed.borrow();
    let bytes = f
        .backlog
        .as_ref()
        .and_then(|b| b.since(1))
        .unwrap_or_default();
    assert_eq!(
        String::from_utf8_lossy(&bytes),
        "*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n*3\r\n$3\r\nSET\r\n$1\r\na\r\n$1\r\n2\r\n\
         *3\r\n$3\r\nSET\r\n$1\r\nb\r\n$1\r\n3\r\n\
         *2\r\n$6\r\nSELECT\r\n$1\r\n1\r\n*3\r\n$3\r\nSET\r\n$1\r\nc\r\n$1\r\n4\r\n"
    );
    assert_eq!(f.offset(), bytes.len() as i64);
}

#[test]
fn backlog_freed_after_ttl_without_replicas() {
    let mut k = Kit::new();
    assert_eq!(
        k.run(&["CONFIG", "SET", "repl-backlog-ttl", "2"]),
        "+OK\r\n"
    );
    k.srv.repl.feed.borrow_mut().ensure_backlog(1 << 20);
    k.run(&["SET", "a", "1"]);
    let offset = k.srv.repl.master_repl_offset();
    assert!(offset > 0);
    let old_id = k.srv.master_replid.clone();
    let t0 = k.srv.now_ms;
    server::replication::master::expire_backlog(&mut k.srv);
    k.srv.now_ms = t0 + 1_999;
    server::replication::master::expire_backlog(&mut k.srv);
    assert!(k.srv.repl.feed.borrow().backlog.is_some());
    k.srv.now_ms = t0 + 2_000;
    server::replication::master::expire_backlog(&mut k.srv);
    assert!(k.srv.repl.feed.borrow().backlog.is_none());
    // The offset stays; the history gets a new id.
    assert_eq!(k.srv.repl.master_repl_offset(), offset);
    assert_ne!(k.srv.master_replid, old_id);
    let info = k.run(&["INFO", "replication"]);
    assert!(info.contains("repl_backlog_active:0\r\n"), "{info}");
    // 0 never frees.
    k.run(&["CONFIG", "SET", "repl-backlog-ttl", "0"]);
    k.srv.repl.feed.borrow_mut().ensure_backlog(1 << 20);
    k.srv.now_ms += 10_000_000;
    server::replication::master::expire_backlog(&mut k.srv);
    assert!(k.srv.repl.feed.borrow().backlog.is_some());
}

#[test]
fn replconf_options_and_errors() {
    let mut k = Kit::new();
    assert_eq!(k.run(&["REPLCONF", "listening-port", "6380"]), "+OK\r\n");
    assert_eq!(
        k.run(&["REPLCONF", "capa", "eof", "capa", "psync2"]),
        "+OK\r\n"
    );
    assert_eq!(k.run(&["REPLCONF", "capa"]), "-ERR syntax error\r\n");
    assert_eq!(
        k.run(&["REPLCONF", "nope", "1"]),
        "-ERR Unrecognized REPLCONF option: nope\r\n"
    );
    assert_eq!(k.run(&["WAIT", "0", "0"]), ":0\r\n");
    assert_eq!(k.run(&["WAIT", "1", "-1"]), "-ERR timeout is negative\r\n");
}

/// Runs `f`, returning whether it panicked (the panic message is printed
/// by the default hook, which tests keep).
fn panics(f: impl FnOnce()) -> bool {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).is_err()
}

#[test]
fn errors_answered_to_the_master_are_counted_and_follow_propagation_error_behavior() {
    use server::cmd::{error_to_master, ErrorTo};
    let mut k = Kit::new();
    let exec_reply = b"*2\r\n+OK\r\n-ERR value is not an integer or out of range\r\n";
    error_to_master(&mut k.srv, ErrorTo::Master, exec_reply, "exec");
    error_to_master(&mut k.srv, ErrorTo::Master, b":1\r\n", "incr");
    assert_eq!(k.srv.stats.unexpected_error_replies, 1);
    let info = k.run(&["INFO", "stats"]);
    assert!(info.contains("unexpected_error_replies:1\r\n"), "{info}");
    k.run(&[
        "CONFIG",
        "SET",
        "propagation-error-behavior",
        "panic-on-replicas",
    ]);
    assert!(panics(|| error_to_master(
        &mut k.srv,
        ErrorTo::Master,
        b"-ERR x\r\n",
        "incr"
    )));
    // The AOF loader panics only under `panic`.
    assert!(!panics(|| error_to_master(
        &mut k.srv,
        ErrorTo::AofLoader,
        b"-ERR x\r\n",
        "incr"
    )));
    k.run(&["CONFIG", "SET", "propagation-error-behavior", "panic"]);
    assert!(panics(|| error_to_master(
        &mut k.srv,
        ErrorTo::AofLoader,
        b"-ERR x\r\n",
        "incr"
    )));
    // A writable replica accepted its own writes: divergence is expected.
    k.run(&["CONFIG", "SET", "replica-read-only", "no"]);
    assert!(!panics(|| error_to_master(
        &mut k.srv,
        ErrorTo::Master,
        b"-ERR x\r\n",
        "incr"
    )));
}

#[test]
fn a_replica_with_a_failing_disk_stops_unless_told_to_ignore_it() {
    let mut k = Kit::new();
    k.client.kind = server::client::Kind::Master;
    // A failed background save with save points: writes are denied.
    k.srv.persist.last_bgsave_ok = false;
    assert!(server::persistence::save::writes_denied(&k.srv));
    assert!(!panics(|| {
        k.run(&["PING"]);
    }));
    assert!(panics(|| {
        k.run(&["SET", "a", "1"]);
    }));
    k.srv
        .config
        .set("replica-ignore-disk-write-errors", &["yes".into()])
        .expect("set");
    assert_eq!(k.run(&["SET", "a", "1"]), "+OK\r\n");
    k.client.kind = server::client::Kind::Normal;
    assert!(k.run(&["SET", "a", "2"]).starts_with("-MISCONF"));
}
