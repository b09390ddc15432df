//! Running under systemd: `supervised systemd` reports READY=1 / STATUS /
//! STOPPING=1 on $NOTIFY_SOCKET as redis-server 7.0 does, and the unit
//! files in contrib/systemd pass `systemd-analyze verify`.

use crate::harness::{assert_checker_silent, redoubt_bin, temp_dir, Flavor, ServerHandle};
use std::os::unix::net::UnixDatagram;
use std::process::Command;
use std::time::{Duration, Instant};
use topology::{Kind, Launch};

/// Starts a server with `supervised systemd` and a notify socket, returns
/// every message until STOPPING=1 after a SIGTERM sent once READY=1 came.
fn notifications(flavor: Flavor, sentinel: bool, extra: &[(&str, &str)]) -> Vec<String> {
    let dir = temp_dir("sdnotify");
    let sock_path = dir.join("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let launch = if sentinel {
        let conf = "supervised systemd\nsentinel monitor mymaster 127.0.0.1 1 1\n";
        Launch::sentinel(flavor.program(Kind::Sentinel), &dir, conf)
    } else {
        Launch::server(flavor.program(Kind::Server), &dir)
            .directives(&[("save", ""), ("supervised", "systemd")])
    };
    let launch = launch
        .directives(extra)
        .env("NOTIFY_SOCKET", &sock_path.display().to_string());
    // Messages wait in the socket while the launcher waits for readiness.
    let s = ServerHandle::launch(flavor, &launch);
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut termed = false;
    while Instant::now() < deadline {
        if let Ok(n) = sock.recv(&mut buf) {
            got.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
        let all = got.join("");
        if all.contains("STOPPING=1") {
            break;
        }
        if all.contains("READY=1") && !termed {
            s.signal(libc::SIGTERM);
            termed = true;
        }
    }
    got
}

/// READY=1 came, and STOPPING=1 after it.
fn assert_ready_then_stopping(flavor: Flavor, got: &str) {
    let ready = got
        .find("READY=1")
        .unwrap_or_else(|| panic!("{flavor:?}: no READY=1 in {got:?}"));
    let stopping = got
        .find("STOPPING=1")
        .unwrap_or_else(|| panic!("{flavor:?}: no STOPPING=1 in {got:?}"));
    assert!(ready < stopping, "{flavor:?}: {got:?}");
}

#[test]
fn supervised_systemd_master_notifies_ready_then_stopping_like_redis() {
    for flavor in [Flavor::Redis, Flavor::Redoubt] {
        let got = notifications(flavor, false, &[]).join("");
        assert_ready_then_stopping(flavor, &got);
        assert!(
            got.contains("is loading...\nSTATUS=Ready to accept connections\nREADY=1"),
            "{flavor:?}: {got:?}"
        );
    }
}

#[test]
fn supervised_systemd_replica_is_ready_only_once_in_sync() {
    let m = ServerHandle::start(Flavor::Redoubt, &[]);
    for flavor in [Flavor::Redis, Flavor::Redoubt] {
        let got = notifications(flavor, false, &[("replicaof", &m.replicaof())]);
        let waiting = got
            .iter()
            .position(|g| g.contains("Waiting for MASTER <-> REPLICA sync"));
        let ready = got.iter().position(|g| g.contains("READY=1"));
        assert!(
            waiting.is_some() && ready.is_some() && waiting < ready,
            "{flavor:?}: {got:?}"
        );
    }
}

#[test]
fn supervised_systemd_sentinel_notifies_ready_then_stopping_like_redis_sentinel() {
    for flavor in [Flavor::Redis, Flavor::Redoubt] {
        let got = notifications(flavor, true, &[]).join("");
        assert_ready_then_stopping(flavor, &got);
    }
}

#[test]
fn systemd_units_pass_systemd_analyze_verify() {
    if Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("systemd-analyze not installed: skipped");
        return;
    }
    let dir = temp_dir("units");
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../contrib/systemd");
    let mut units = Vec::new();
    for name in ["redoubt-server.service", "redoubt-sentinel.service"] {
        let text = std::fs::read_to_string(format!("{root}/{name}")).unwrap();
        assert!(text.contains("Type=notify"), "{name}");
        // verify checks that ExecStart's program exists: point it at the
        // binary under test.
        let text = text.replace("/usr/local/bin/redoubt", redoubt_bin());
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        units.push(p);
    }
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .args(&units)
        .output()
        .unwrap();
    assert_checker_silent("systemd-analyze verify", &out, "");
    let _ = std::fs::remove_dir_all(&dir);
}
