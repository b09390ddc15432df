//! The server core as an operator and a client library see it.

use crate::harness::{Flavor, ServerHandle};
use std::time::Duration;

#[test]
fn redis_crate_client_can_set_and_get() {
    let s = ServerHandle::start(Flavor::Redoubt, &[]);
    let mut c = s.client();
    let _: () = redis::cmd("SET")
        .arg("k")
        .arg("v")
        .query(&mut c)
        .expect("set");
    let v: String = redis::cmd("GET").arg("k").query(&mut c).expect("get");
    assert_eq!(v, "v");
    let n: i64 = redis::cmd("DEL")
        .arg("k")
        .arg("nope")
        .query(&mut c)
        .expect("del");
    assert_eq!(n, 1);
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let s = ServerHandle::start(Flavor::Redoubt, &[]);
    let mut raw = s.raw();
    let mut batch = Vec::new();
    for i in 0..1000 {
        batch.extend_from_slice(
            format!(
                "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n${}\r\n{}\r\n",
                i.to_string().len(),
                i
            )
            .as_bytes(),
        );
        batch.extend_from_slice(b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n");
    }
    raw.send(&batch);
    for i in 0..1000 {
        assert_eq!(raw.read_reply().as_deref(), Some(&b"+OK\r\n"[..]));
        let expect = format!("${}\r\n{}\r\n", i.to_string().len(), i);
        assert_eq!(raw.read_reply(), Some(expect.into_bytes()));
    }
}

#[test]
fn protocol_garbage_gets_redis_error_then_close() {
    let redis = ServerHandle::start(Flavor::Redis, &[]);
    let ours = ServerHandle::start(Flavor::Redoubt, &[]);
    let cases: &[&[u8]] = &[
        b"*1\r\n+foo\r\n",
        b"*abc\r\n",
        b"*1\r\n$-5\r\n",
        b"*1\r\n$abc\r\n",
        b"SET k \"unbalanced\r\n",
        b"*3000000000\r\n",
    ];
    for case in cases {
        let mut a = redis.raw();
        let mut b = ours.raw();
        a.send(case);
        b.send(case);
        let ra = a.read_reply();
        let rb = b.read_reply();
        assert_eq!(ra, rb, "reply to {:?}", String::from_utf8_lossy(case));
        assert!(
            b.is_closed(),
            "connection left open after {:?}",
            String::from_utf8_lossy(case)
        );
    }
}

#[test]
fn sigterm_shuts_down_cleanly_and_removes_pidfile() {
    let dir = crate::harness::temp_dir("pid");
    let pidfile = dir.join("redoubt.pid");
    let pf = pidfile.display().to_string();
    let mut s = ServerHandle::start(Flavor::Redoubt, &[("pidfile", &pf)]);
    assert!(pidfile.exists(), "pidfile not written");
    let status = s.terminate(Duration::from_secs(10)).expect("exit status");
    assert!(status.success(), "exit status {status}");
    assert!(!pidfile.exists(), "pidfile not removed");
    let log = s.log();
    assert!(
        log.contains("Received SIGTERM scheduling shutdown"),
        "log: {log}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

/// CONFIG SET bind to an address that cannot be bound answers Redis's
/// error and keeps the old listeners; an empty bind list closes them.
#[test]
fn config_set_bind_failure_keeps_listening_and_empty_bind_closes() {
    let mut outcomes = Vec::new();
    for flavor in [Flavor::Redis, Flavor::Redoubt] {
        let s = ServerHandle::start(flavor, &[]);
        let mut raw = s.raw();
        let bad = raw.cmd_str(&["CONFIG", "SET", "bind", "999.999.999.999"]);
        // Still served on the old address.
        let ping = s.raw().cmd_str(&["PING"]);
        let none = raw.cmd_str(&["CONFIG", "SET", "bind", ""]);
        let refused = std::net::TcpStream::connect(s.addr()).is_err();
        let shown = raw.cmd_str(&["CONFIG", "GET", "bind"]);
        outcomes.push((bad, ping, none, refused, shown));
    }
    assert_eq!(outcomes[1], outcomes[0]);
    assert!(
        outcomes[0].0.contains("Failed to bind"),
        "{:?}",
        outcomes[0]
    );
    assert!(outcomes[0].3, "{:?}", outcomes[0]);
}
