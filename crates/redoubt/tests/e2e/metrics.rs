//! The Prometheus endpoint (`metrics-port`): served over plain HTTP,
//! covers the replication picture, and passes `promtool check metrics`.

use crate::harness::{
    assert_checker_silent, free_port, redoubt_bin, wait_for, Flavor, ServerHandle,
};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;

pub fn http_get(port: u16, path: &str) -> (String, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let (head, body) = out.split_once("\r\n\r\n").unwrap();
    (head.to_string(), body.to_string())
}

fn value(body: &str, prefix: &str) -> Option<f64> {
    body.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

#[test]
fn metrics_endpoint_shows_replication_and_passes_promtool() {
    let mport = free_port();
    let mp = mport.to_string();
    let m = ServerHandle::start(Flavor::Redoubt, &[("metrics-port", &mp)]);
    let to = format!("127.0.0.1 {}", m.port);
    let r = ServerHandle::start(Flavor::Redoubt, &[("replicaof", &to)]);
    let mut c = m.client();
    for i in 0..10 {
        let _: () = redis::cmd("SET")
            .arg(format!("k{i}"))
            .arg("v")
            .query(&mut c)
            .unwrap();
    }
    let replica = format!("replica=\"127.0.0.1:{}\"", r.port);
    wait_for(
        "the replica in the metrics",
        Duration::from_secs(10),
        || http_get(mport, "/metrics").1.contains(&replica),
    );
    let (head, body) = http_get(mport, "/metrics");
    assert!(head.starts_with("HTTP/1.1 200 OK"), "{head}");
    assert!(head.contains("text/plain; version=0.0.4"), "{head}");
    assert_eq!(value(&body, "redoubt_is_master "), Some(1.0), "{body}");
    assert_eq!(
        value(&body, "redoubt_connected_replicas "),
        Some(1.0),
        "{body}"
    );
    assert_eq!(
        value(&body, "redoubt_keys{db=\"0\"} "),
        Some(10.0),
        "{body}"
    );
    assert_eq!(
        value(&body, "redoubt_command_calls_total{cmd=\"set\"} "),
        Some(10.0),
        "{body}"
    );
    assert_eq!(
        value(&body, "redoubt_sync_full_total "),
        Some(1.0),
        "{body}"
    );
    for family in [
        "redoubt_replica_lag_bytes{",
        "redoubt_replica_lag_seconds{",
        "redoubt_sync_partial_ok_total ",
        "redoubt_sync_partial_err_total ",
        "redoubt_master_repl_offset ",
        "redoubt_connected_clients ",
        "redoubt_memory_used_bytes ",
        "redoubt_evicted_keys_total ",
    ] {
        assert!(body.contains(family), "{family} missing:\n{body}");
    }
    assert!(http_get(mport, "/nope").0.starts_with("HTTP/1.1 404"));
    promtool_accepts(&body);
}

/// `promtool check metrics` (Debian's prometheus package) on the text.
pub fn promtool_accepts(body: &str) {
    let mut p = match Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(p) => p,
        Err(e) => panic!("promtool is needed (apt-get install prometheus): {e}"),
    };
    p.stdin.take().unwrap().write_all(body.as_bytes()).unwrap();
    let out = p.wait_with_output().unwrap();
    assert_checker_silent("promtool", &out, body);
}

#[test]
fn metrics_on_a_replica_show_the_link() {
    let m = ServerHandle::start(Flavor::Redis, &[]);
    let mport = free_port();
    let mp = mport.to_string();
    let to = format!("127.0.0.1 {}", m.port);
    let _r = ServerHandle::start(
        Flavor::Redoubt,
        &[
            ("replicaof", &to),
            ("metrics-port", &mp),
            ("metrics-bind", "127.0.0.1"),
        ],
    );
    wait_for("master_link_up 1", Duration::from_secs(10), || {
        value(&http_get(mport, "/metrics").1, "redoubt_master_link_up ") == Some(1.0)
    });
    let body = http_get(mport, "/metrics").1;
    assert_eq!(value(&body, "redoubt_is_master "), Some(0.0), "{body}");
    promtool_accepts(&body);
}

#[test]
fn top_prints_one_line_per_interval_against_redoubt_and_redis() {
    for flavor in [Flavor::Redoubt, Flavor::Redis] {
        let s = ServerHandle::start(flavor, &[]);
        let _: () = redis::cmd("SET")
            .arg("k")
            .arg("v")
            .query(&mut s.client())
            .unwrap();
        let out = Command::new(redoubt_bin())
            .args([
                "top",
                &format!("127.0.0.1:{}", s.port),
                "--count",
                "2",
                "--interval-ms",
                "200",
            ])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{flavor:?}: {text}");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{flavor:?}: {text}");
        assert!(lines[0].starts_with("ROLE"), "{text}");
        assert!(lines[1].starts_with("master"), "{text}");
    }
}
