//! The launcher against Debian's redis-server and redis-sentinel 7.0:
//! comes up, syncs, sentinels agree, and stops leaving no process.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;
use topology::{Spec, Topology};

fn free_base(span: u16) -> u16 {
    // A private range per test process, checked by binding.
    let mut p = 32000 + (std::process::id() % 500) as u16 * 20;
    loop {
        if (0..span).all(|i| std::net::TcpListener::bind(("127.0.0.1", p + i)).is_ok()) {
            return p;
        }
        p += span;
    }
}

#[test]
fn real_redis_topology_comes_up_agrees_and_stops() {
    let dir = std::env::temp_dir().join(format!("topology-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let base = free_base(6);
    let mut spec = Spec::new(
        &dir,
        vec!["redis-server".into()],
        vec!["redis-sentinel".into()],
    );
    spec.port = base;
    spec.sentinel_port = base + 3;
    spec.down_after_ms = 1000;
    spec.password = Some("s3cret-pw".into());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut t = Topology::start(spec).unwrap();
    rt.block_on(async {
        let m = t.bring_up(Duration::from_secs(40)).await.unwrap();
        assert_eq!(m, base);
        let v = t.status().await;
        assert_eq!(v.agreeing, 3);
        assert_eq!(v.nodes.iter().filter(|n| n.role == "replica").count(), 2);
    });
    let pids: Vec<u32> = t.nodes.iter().filter_map(|n| n.pid()).collect();
    assert_eq!(pids.len(), 6);
    t.stop(Duration::from_secs(10));
    for pid in pids {
        // SAFETY: signal 0 only checks for existence.
        assert_ne!(
            unsafe { libc_kill(pid as i32, 0) },
            0,
            "pid {pid} still alive"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
}
