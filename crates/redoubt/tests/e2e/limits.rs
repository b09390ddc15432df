//! Hardening against bad or greedy clients, each case run against
//! Redoubt and real Redis 7.0.15 with the same bytes and compared:
//! bulk and multibulk length limits, the query-buffer limit, oversized
//! inline requests, `maxclients`, and the output-buffer limits of normal
//! and Pub/Sub clients.

use crate::harness::{wait_for, Flavor, Raw, ServerHandle};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

const BOTH: [Flavor; 2] = [Flavor::Redoubt, Flavor::Redis];

/// Sends `bytes` on a fresh connection and returns everything the server
/// wrote before closing (or before 5 s of silence).
fn exchange(h: &ServerHandle, bytes: &[u8]) -> (Vec<u8>, bool) {
    let mut s = TcpStream::connect(h.addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    // A server may close while we still write: that is an answer too.
    let _ = s.write_all(bytes);
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let closed = loop {
        match s.read(&mut buf) {
            Ok(0) => break true,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break true,
            Err(_) => break false,
        }
    };
    (got, closed)
}

fn both(directives: &[(&str, &str)], bytes: &[u8]) -> (Vec<u8>, bool) {
    let mut results = Vec::new();
    for f in BOTH {
        let h = ServerHandle::start(f, directives);
        results.push(exchange(&h, bytes));
    }
    assert_eq!(
        String::from_utf8_lossy(&results[0].0),
        String::from_utf8_lossy(&results[1].0),
        "Redoubt's reply, then Redis's"
    );
    assert_eq!(results[0].1, results[1].1, "closed: Redoubt, then Redis");
    results.remove(0)
}

#[test]
fn bulk_longer_than_proto_max_bulk_len_is_a_protocol_error() {
    let (r, closed) = both(
        &[("proto-max-bulk-len", "1mb")],
        b"*2\r\n$3\r\nGET\r\n$2000000\r\n",
    );
    assert_eq!(r, b"-ERR Protocol error: invalid bulk length\r\n");
    assert!(closed);
}

#[test]
fn absurd_multibulk_lengths_are_protocol_errors() {
    let (r, closed) = both(&[], b"*3000000000\r\n");
    assert_eq!(r, b"-ERR Protocol error: invalid multibulk length\r\n");
    assert!(closed);
    let (r, _) = both(&[], b"*1\r\n$-7\r\n");
    assert_eq!(r, b"-ERR Protocol error: invalid bulk length\r\n");
}

#[test]
fn unauthenticated_clients_may_not_announce_big_requests() {
    let (r, closed) = both(&[("requirepass", "pw")], b"*100\r\n");
    assert_eq!(
        r,
        b"-ERR Protocol error: unauthenticated multibulk length\r\n"
    );
    assert!(closed);
    let (r, _) = both(&[("requirepass", "pw")], b"*2\r\n$4\r\nAUTH\r\n$100000\r\n");
    assert_eq!(r, b"-ERR Protocol error: unauthenticated bulk length\r\n");
}

#[test]
fn inline_request_without_newline_is_bounded() {
    let mut req = vec![b'a'; 70 * 1024];
    req.extend_from_slice(b"xyz");
    let (r, closed) = both(&[], &req);
    assert_eq!(r, b"-ERR Protocol error: too big inline request\r\n");
    assert!(closed);
}

#[test]
fn query_buffer_over_client_query_buffer_limit_closes_the_client() {
    // A 3 MB argument announced, 1.5 MB of it sent: over the 1 MB limit.
    let mut req = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$3000000\r\n".to_vec();
    req.extend(std::iter::repeat_n(b'v', 1_500_000));
    let (r, closed) = both(&[("client-query-buffer-limit", "1mb")], &req);
    assert_eq!(r, b"");
    assert!(closed);
}

#[test]
fn maxclients_refuses_with_redis_error() {
    for f in BOTH {
        let h = ServerHandle::start(f, &[("maxclients", "2")]);
        let mut a = h.raw();
        // The start-up probe's connection may still hold a slot until the
        // server reads its close: wait for `a` to be the only client.
        wait_for("only one client connected", Duration::from_secs(5), || {
            let info = a.cmd(&[b"INFO", b"clients"]);
            String::from_utf8_lossy(&info).contains("connected_clients:1\r\n")
        });
        let mut b = h.raw();
        assert_eq!(a.cmd(&[b"PING"]), b"+PONG\r\n");
        assert_eq!(b.cmd(&[b"PING"]), b"+PONG\r\n", "{f:?}");
        let (r, closed) = exchange(&h, b"PING\r\n");
        assert_eq!(r, b"-ERR max number of clients reached\r\n", "{f:?}");
        assert!(closed);
        let info = String::from_utf8_lossy(&a.cmd(&[b"INFO", b"stats"])).into_owned();
        assert!(info.contains("rejected_connections:1\r\n"), "{f:?}: {info}");
        drop(b);
        wait_for("a free slot again", Duration::from_secs(5), || {
            let mut c = Raw::connect(h.addr());
            c.cmd(&[b"PING"]) == b"+PONG\r\n"
        });
    }
}

/// `PUBSUB NUMSUB ch` count.
fn numsub(c: &mut Raw, ch: &str) -> Vec<u8> {
    c.cmd(&[b"PUBSUB", b"NUMSUB", ch.as_bytes()])
}

#[test]
fn pubsub_subscriber_that_does_not_read_is_dropped_at_the_hard_limit() {
    for f in BOTH {
        let h = ServerHandle::start(f, &[("client-output-buffer-limit", "pubsub 256kb 0 0")]);
        let mut sub = h.raw();
        sub.send_cmd(&[b"SUBSCRIBE", b"ch"]);
        assert!(sub.read_reply().is_some());
        // The subscriber stops reading; 64 kB messages pile up until the
        // kernel buffers are full and its output buffer passes 256 kB.
        let mut publisher = h.raw();
        let msg = vec![b'm'; 64 * 1024];
        let mut dropped = false;
        for _ in 0..2000 {
            publisher.cmd(&[b"PUBLISH", b"ch", &msg]);
            if numsub(&mut publisher, "ch") == b"*2\r\n$2\r\nch\r\n:0\r\n" {
                dropped = true;
                break;
            }
        }
        assert!(dropped, "{f:?}: the slow subscriber was never dropped");
        let log = h.log();
        assert!(
            log.contains("scheduled to be closed ASAP for overcoming of output buffer limits"),
            "{f:?}"
        );
        // A subscriber that keeps up is not affected.
        let mut ok = h.raw();
        ok.send_cmd(&[b"SUBSCRIBE", b"ch"]);
        assert!(ok.read_reply().is_some());
        assert_eq!(publisher.cmd(&[b"PUBLISH", b"ch", &msg]), b":1\r\n");
        assert!(ok.read_reply().is_some());
    }
}

#[test]
fn pubsub_soft_limit_applies_after_its_seconds() {
    for f in BOTH {
        let h = ServerHandle::start(f, &[("client-output-buffer-limit", "pubsub 0 128kb 1")]);
        let mut sub = h.raw();
        sub.send_cmd(&[b"SUBSCRIBE", b"ch"]);
        assert!(sub.read_reply().is_some());
        let mut publisher = h.raw();
        let msg = vec![b'm'; 64 * 1024];
        // Fill past the soft limit, then keep it there for over a second.
        wait_for(
            "the soft limit to close the subscriber",
            Duration::from_secs(20),
            || {
                publisher.cmd(&[b"PUBLISH", b"ch", &msg]);
                std::thread::sleep(Duration::from_millis(20));
                numsub(&mut publisher, "ch") == b"*2\r\n$2\r\nch\r\n:0\r\n"
            },
        );
    }
}

#[test]
fn normal_client_over_its_output_limit_is_closed_without_the_reply() {
    let big = "v".repeat(200 * 1024);
    for f in BOTH {
        let h = ServerHandle::start(f, &[("client-output-buffer-limit", "normal 100kb 0 0")]);
        let mut c = h.raw();
        assert_eq!(c.cmd(&[b"SET", b"big", big.as_bytes()]), b"+OK\r\n");
        assert_eq!(c.cmd(&[b"STRLEN", b"big"]), b":204800\r\n");
        let (r, closed) = exchange(&h, b"*2\r\n$3\r\nGET\r\n$3\r\nbig\r\n");
        assert!(closed, "{f:?}");
        assert!(r.len() < big.len(), "{f:?}: the whole reply was sent");
        // Smaller replies are fine.
        assert_eq!(c.cmd(&[b"GETRANGE", b"big", b"0", b"3"]), b"$4\r\nvvvv\r\n");
    }
}

#[test]
fn monitor_that_does_not_read_is_dropped_at_the_normal_limit() {
    for f in BOTH {
        let h = ServerHandle::start(f, &[("client-output-buffer-limit", "normal 256kb 0 0")]);
        let mut mon = h.raw();
        assert_eq!(mon.cmd(&[b"MONITOR"]), b"+OK\r\n");
        let mut c = h.raw();
        let v = vec![b'v'; 32 * 1024];
        let mut dropped = false;
        for _ in 0..3000 {
            c.cmd(&[b"SET", b"k", &v]);
            let list = c.cmd(&[b"CLIENT", b"LIST"]);
            if !String::from_utf8_lossy(&list).contains("flags=O") {
                dropped = true;
                break;
            }
        }
        assert!(dropped, "{f:?}: the slow MONITOR client was never dropped");
    }
}
