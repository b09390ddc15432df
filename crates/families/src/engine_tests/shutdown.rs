//! Tests of `server::shutdown`: SHUTDOWN waiting for lagging replicas,
//! ABORT, the signal path and the timeout.

use crate::testkit::Kit;
use server::client::Client;
use server::replication::fullsync::SyncState;
use server::replication::master::Replica;
use std::cell::RefCell;
use std::rc::Rc;

/// A replica that acknowledged nothing yet (a write follows, so there is
/// something to acknowledge). Every test says NOSAVE: the kit's working
/// directory is the test process's.
fn lagging_replica(k: &mut Kit) {
    let now = k.srv.now_ms;
    let mut f = k.srv.repl.feed.borrow_mut();
    f.ensure_backlog(1 << 20);
    f.feed(b"*1\r\n$4\r\nPING\r\n");
    f.replicas.push(Replica {
        id: 99,
        ip: "127.0.0.1".into(),
        port: 7777,
        ack_offset: 0,
        ack_ms: now,
        pos: Some(0),
        bulk: Vec::new(),
        sync: SyncState::Online,
        failed: false,
        await_ack: false,
        wake: Default::default(),
        since_ms: 0,
        soft_since_ms: 0,
        bulk_taken_ms: 0,
        fullresync_reply: true,
        ack_log: Default::default(),
        certified_offset: 0,
    });
}

fn ack_all(k: &mut Kit) {
    let mut f = k.srv.repl.feed.borrow_mut();
    let off = f.offset();
    for r in &mut f.replicas {
        r.ack_offset = off;
    }
}

/// A second connection in the registry, where a cancelled shutdown finds
/// it to answer.
fn registered(k: &mut Kit, id: u64) -> Rc<RefCell<Client>> {
    let c = Rc::new(RefCell::new(k.new_client(id)));
    k.srv.clients.insert(id, c.clone());
    c
}

fn info_field(k: &mut Kit, section: &str, name: &str) -> Option<String> {
    let info = k.run(&["INFO", section]);
    info.split("\r\n")
        .find_map(|l| l.strip_prefix(&format!("{name}:")).map(str::to_string))
}

#[test]
fn a_master_waits_for_lagging_replicas_then_exits() {
    let mut k = Kit::new();
    lagging_replica(&mut k);
    k.run(&["SET", "k", "1"]);
    let other = registered(&mut k, 2);
    assert_eq!(
        k.run_on(&mut other.borrow_mut(), &["SHUTDOWN", "NOSAVE"]),
        ""
    );
    assert!(server::shutdown::initiated(&k.srv));
    assert!(!k.srv.shutdown_requested);
    let left: i64 = info_field(&mut k, "server", "shutdown_in_milliseconds")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    assert!(left > 9_000 && left <= 10_000, "{left}");
    assert_eq!(
        info_field(&mut k, "clients", "blocked_clients").as_deref(),
        Some("1")
    );
    // Writes wait; reads are served.
    let argv_set = ["SET", "k", "2"];
    let mut buf = Vec::new();
    let mut ranges = Vec::new();
    for a in argv_set {
        let s = buf.len();
        buf.extend_from_slice(a.as_bytes());
        ranges.push((s, buf.len()));
    }
    let argv = command_meta::Argv::new(&buf, &ranges);
    assert!(server::clients::must_wait(&mut k.srv, &k.client, argv));
    // A second SHUTDOWN joins the first.
    assert_eq!(k.run(&["SHUTDOWN", "NOSAVE"]), "");
    k.srv.cron();
    assert!(!k.srv.shutdown_requested, "still lagging");
    ack_all(&mut k);
    k.srv.cron();
    assert!(k.srv.shutdown_requested, "finished once in sync");
    assert_eq!(
        k.run(&["GET", "k"]),
        "",
        "nothing runs after the final save"
    );
}

#[test]
fn shutdown_abort_answers_every_blocked_shutdown_and_lifts_the_pause() {
    let mut k = Kit::new();
    lagging_replica(&mut k);
    let a = registered(&mut k, 2);
    let b = registered(&mut k, 3);
    assert_eq!(k.run_on(&mut a.borrow_mut(), &["SHUTDOWN", "NOSAVE"]), "");
    assert_eq!(
        k.run_on(&mut b.borrow_mut(), &["SHUTDOWN", "NOSAVE", "NOW"]),
        ""
    );
    assert_eq!(k.run(&["SHUTDOWN", "ABORT"]), "+OK\r\n");
    for c in [&a, &b] {
        let out = String::from_utf8_lossy(&c.borrow().out.buf).into_owned();
        assert_eq!(out, "-ERR Errors trying to SHUTDOWN. Check logs.\r\n");
        assert!(c.borrow().blocked.is_none());
    }
    assert!(!server::shutdown::initiated(&k.srv));
    assert_eq!(k.srv.pause.until_ms, 0);
    assert_eq!(
        info_field(&mut k, "server", "shutdown_in_milliseconds"),
        None
    );
    assert_eq!(
        k.run(&["SHUTDOWN", "ABORT"]),
        "-ERR No shutdown in progress.\r\n"
    );
}

#[test]
fn now_skips_the_wait_and_the_timeout_ends_it() {
    let mut k = Kit::new();
    lagging_replica(&mut k);
    assert_eq!(k.run(&["SHUTDOWN", "NOW", "NOSAVE"]), "");
    assert!(k.srv.shutdown_requested);

    let mut k = Kit::new();
    lagging_replica(&mut k);
    k.run(&["CONFIG", "SET", "shutdown-timeout", "0"]);
    assert_eq!(k.run(&["SHUTDOWN", "NOSAVE"]), "");
    assert!(k.srv.shutdown_requested, "shutdown-timeout 0: no wait");

    let mut k = Kit::new();
    lagging_replica(&mut k);
    k.run(&["CONFIG", "SET", "shutdown-timeout", "1"]);
    assert_eq!(k.run(&["SHUTDOWN", "NOSAVE"]), "");
    k.srv.cron();
    assert!(!k.srv.shutdown_requested);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    k.srv.cron();
    assert!(k.srv.shutdown_requested, "time ran out: exit anyway");
}

#[test]
fn a_signal_starts_the_shutdown_from_the_cron_with_its_directive_flags() {
    let mut k = Kit::new();
    lagging_replica(&mut k);
    k.run(&["CONFIG", "SET", "shutdown-on-sigterm", "now nosave"]);
    server::shutdown::step(&mut k.srv, None);
    assert!(!server::shutdown::initiated(&k.srv));
    server::shutdown::step(&mut k.srv, Some(libc::SIGTERM));
    assert!(k.srv.shutdown_requested, "NOW: no wait for the replica");

    let mut k = Kit::new();
    lagging_replica(&mut k);
    k.run(&["CONFIG", "SET", "save", ""]);
    server::shutdown::step(&mut k.srv, Some(libc::SIGINT));
    assert!(server::shutdown::initiated(&k.srv), "default: waits");
}
