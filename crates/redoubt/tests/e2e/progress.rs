//! Long work shows progress: loading a big RDB logs percent, rate and ETA
//! every few seconds and tells systemd (`STATUS=`); a full sync logs the
//! transfer at the master and the transfer and load at the replica.

use crate::harness::{heavy, temp_dir, wait_for, Flavor, ServerHandle};
use std::os::unix::net::UnixDatagram;
use std::time::Duration;
use topology::{Kind, Launch};

/// Progress lines of `log` that start with `what` and carry a rate.
fn progress_lines<'a>(log: &'a str, what: &str) -> Vec<&'a str> {
    log.lines()
        .filter(|l| l.contains(what) && l.contains("MB/s"))
        .collect()
}

#[test]
fn loading_a_2m_key_rdb_logs_progress_and_tells_systemd() {
    let _heavy = heavy();
    // The file: 2 M keys written by Redis 7.0 itself.
    let redis = ServerHandle::start(Flavor::Redis, &[]);
    let mut c = redis.raw();
    assert_eq!(c.cmd(&[b"DEBUG", b"POPULATE", b"2000000"]), b"+OK\r\n");
    assert_eq!(c.cmd(&[b"SAVE"]), b"+OK\r\n");
    let dir = temp_dir("progress");
    std::fs::copy(redis.dir.join("dump.rdb"), dir.join("dump.rdb")).unwrap();
    drop(redis);

    let sock_path = dir.join("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    sock.set_nonblocking(true).unwrap();
    let launch = Launch::server(Flavor::Redoubt.program(Kind::Server), &dir)
        // Loaded as fast as it now is (about a second, keys indexed in
        // one pass at the end), 2 M keys finish before the first line is
        // due (every 2 s): Redis's debug pacing, one 1 us sleep per 20 keys
        // on average, stretches the load to several seconds.
        .directives(&[
            ("save", ""),
            ("supervised", "systemd"),
            ("key-load-delay", "-20"),
        ])
        .env("NOTIFY_SOCKET", &sock_path.display().to_string())
        .ready_timeout(Duration::from_secs(300));
    let s = ServerHandle::launch(Flavor::Redoubt, &launch);
    let log = s.log();
    let lines = progress_lines(&log, "Loading RDB: ");
    assert!(!lines.is_empty(), "no progress lines:\n{log}");
    for l in &lines {
        assert!(l.contains("% (") && l.contains("ETA"), "{l}");
    }
    let mut statuses = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = sock.recv(&mut buf) {
        statuses.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
    assert!(
        statuses.iter().any(|m| m.contains("STATUS=Loading RDB: ")),
        "{statuses:?}"
    );
    assert_eq!(s.raw().cmd(&[b"DBSIZE"]), b":2000000\r\n");
}

#[test]
fn a_full_sync_logs_its_progress_at_both_ends() {
    let _heavy = heavy();
    // Paced so that the transfer and the load take several seconds.
    let m = ServerHandle::start(Flavor::Redoubt, &[("rdb-key-save-delay", "100")]);
    assert_eq!(
        m.raw()
            .cmd(&[b"DEBUG", b"POPULATE", b"50000", b"key", b"100"]),
        b"+OK\r\n"
    );
    let r = ServerHandle::start(
        Flavor::Redoubt,
        &[
            ("replicaof", &format!("127.0.0.1 {}", m.port)),
            ("key-load-delay", "50"),
        ],
    );
    wait_for("the full sync to finish", Duration::from_secs(120), || {
        r.log()
            .contains("MASTER <-> REPLICA sync: Finished with success")
    });
    let mlog = m.log();
    let to = format!("Full sync to replica 127.0.0.1:{}: sent", r.port);
    assert!(!progress_lines(&mlog, &to).is_empty(), "{mlog}");
    let rlog = r.log();
    assert!(
        !progress_lines(&rlog, "MASTER <-> REPLICA sync: receiving the RDB: ").is_empty(),
        "{rlog}"
    );
    assert!(!progress_lines(&rlog, "Loading RDB: ").is_empty(), "{rlog}");
}
