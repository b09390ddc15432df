//! The launcher against Debian's redis-server and redis-sentinel 7.0: a
//! topology comes up, syncs, its sentinels agree, and it stops leaving no
//! process and no folder; a single server starts on a free port, and one
//! that cannot start says why.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;
use topology::{Error, Launch, Spec, Topology};

fn alive(pid: u32) -> bool {
    // SAFETY: signal 0 only checks for existence.
    unsafe { libc::kill(pid as i32, 0) == 0 }
}

fn temp_dir(tag: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("topology-test-{tag}-{}", std::process::id()))
}

#[test]
fn real_redis_topology_comes_up_agrees_and_stops() {
    let dir = temp_dir("up");
    let mut spec = Spec::new(
        &dir,
        vec!["redis-server".into()],
        vec!["redis-sentinel".into()],
    );
    spec.down_after_ms = 1000;
    spec.password = Some("s3cret-pw".into());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut t = rt
        .block_on(Topology::start_on_free_ports(spec, Duration::from_secs(40)))
        .unwrap();
    rt.block_on(async {
        let v = t.status().await;
        assert_eq!(v.master, Some(format!("127.0.0.1:{}", t.spec.port)));
        assert_eq!(v.agreeing, 3);
        assert_eq!(v.nodes.iter().filter(|n| n.role == "replica").count(), 2);
    });
    let pids: Vec<u32> = t.nodes.iter().filter_map(|n| n.pid()).collect();
    assert_eq!(pids.len(), 6);
    t.stop(Duration::from_secs(10));
    for pid in pids {
        assert!(!alive(pid), "pid {pid} still alive");
    }
    assert!(dir.exists(), "stopping keeps the data");
    drop(t);
    assert!(!dir.exists(), "a temporary topology removes its folder");
}

#[test]
fn a_single_server_starts_on_a_free_port_and_goes_with_its_folder() {
    let dir = temp_dir("single");
    let node = Launch::server(vec!["redis-server".into()], &dir)
        .directives(&[("save", ""), ("appendonly", "no")])
        .start()
        .unwrap();
    assert!((20000..32000).contains(&node.port), "{}", node.port);
    let pid = node.pid().unwrap();
    let log = std::fs::read_to_string(&node.log).unwrap();
    assert!(log.contains("Ready to accept connections"), "{log}");
    drop(node);
    assert!(!alive(pid), "dropping kills the process");
    assert!(!dir.exists(), "and removes its folder");
}

#[test]
fn a_server_that_cannot_start_says_why() {
    let err = Launch::server(vec!["redis-server".into()], temp_dir("bad"))
        .directives(&[("no-such-directive", "1")])
        .start()
        .unwrap_err();
    assert!(matches!(err, Error::Exited(..)), "{err}");
    assert!(err.to_string().contains("no-such-directive"), "{err}");
}
