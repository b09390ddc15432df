//! A network partition, made with network namespaces the test creates and
//! removes: the master and one sentinel on one side, both replicas and two
//! sentinels on the other. The majority elects a new master, the minority
//! cannot, and the cut-off old master, configured with
//! `min-replicas-to-write 1`, refuses writes within `min-replicas-max-lag`.

use crate::harness::wait_for;
use crate::netns::{master_of, query, Net, NAME};
use std::time::{Duration, Instant};

#[test]
fn partition_majority_elects_minority_cannot_old_master_fenced() {
    // Needs root and iproute2 (CI runs as root and installs iproute2): a
    // machine that cannot make network namespaces fails this test, it
    // never passes without having partitioned anything.
    let mut net = Net::new().unwrap_or_else(|e| {
        panic!("cannot create network namespaces (needs root and iproute2): {e}")
    });
    let (a, b) = (net.host("a"), net.host("b"));
    let m = net.server(
        "a",
        &[
            ("min-replicas-to-write", "1"),
            ("min-replicas-max-lag", "2"),
        ],
    );
    let to = format!("{a} {m}");
    let r1 = net.server("b", &[("replicaof", &to)]);
    let r2 = net.server("b", &[("replicaof", &to)]);
    wait_for("replicas in sync", Duration::from_secs(20), || {
        [r1, r2].iter().all(|p| {
            matches!(query(&b, *p, &["INFO", "replication"]), Some(redis::Value::BulkString(t)) if String::from_utf8_lossy(&t).contains("master_link_status:up"))
        })
    });
    let s1 = net.sentinel("a", &a, m);
    let s2 = net.sentinel("b", &a, m);
    let s3 = net.sentinel("b", &a, m);
    let old = format!("{a}:{m}");
    wait_for(
        "sentinels know each other and the replicas",
        Duration::from_secs(40),
        || {
            [(a.as_str(), s1), (b.as_str(), s2), (b.as_str(), s3)]
                .iter()
                .all(|(h, p)| {
                    let Some(v) = query(h, *p, &["SENTINEL", "master", NAME]) else {
                        return false;
                    };
                    let map: std::collections::HashMap<String, String> =
                        redis::from_redis_value(&v).unwrap_or_default();
                    map.get("num-other-sentinels").map(String::as_str) == Some("2")
                        && map.get("num-slaves").map(String::as_str) == Some("2")
                })
        },
    );
    // A write before the cut, confirmed by a replica.
    assert!(query(&a, m, &["SET", "before", "cut"]).is_some());
    let t0 = Instant::now();
    net.cut("a", false);
    // The old master stops taking writes within min-replicas-max-lag.
    let mut fenced_after = None;
    while t0.elapsed() < Duration::from_secs(10) {
        let r = net.cli("a", &a, m, &["SET", "during", "cut"]);
        if r.starts_with("NOREPLICAS") {
            fenced_after = Some(t0.elapsed());
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let fenced_after = fenced_after.expect("the isolated master kept accepting writes");
    eprintln!("old master refused writes {fenced_after:?} after the cut");
    // Redis counts the lag in whole seconds from the last ack (sent every
    // second), so "within the lag" means within lag + 2 s here.
    assert!(
        fenced_after <= Duration::from_millis(2000 + 2000),
        "{fenced_after:?}"
    );
    // The majority side elects a new master among the replicas.
    let mut new = String::new();
    wait_for("majority elects", Duration::from_secs(20), || {
        let x = master_of(&b, s2);
        let y = master_of(&b, s3);
        match (x, y) {
            (Some(x), Some(y)) if x == y && x != old => {
                new = x;
                true
            }
            _ => false,
        }
    });
    eprintln!("majority promoted {new} {:?} after the cut", t0.elapsed());
    let (nh, np) = new.split_once(':').expect("addr");
    let np: u16 = np.parse().expect("port");
    assert_eq!(nh, b);
    assert!(query(nh, np, &["SET", "after", "cut"]).is_some());
    // The minority sentinel cannot fail over on its own.
    std::thread::sleep(Duration::from_secs(3));
    let minority = net.cli("a", &a, s1, &["SENTINEL", "get-master-addr-by-name", NAME]);
    assert_eq!(
        minority.replace('\n', ":"),
        old,
        "the minority sentinel changed the master"
    );
    // Heal: the old master becomes a replica of the new one, and the
    // minority sentinel learns the new configuration.
    net.cut("a", true);
    wait_for(
        "old master rejoins as a replica",
        Duration::from_secs(40),
        || {
            matches!(query(&a, m, &["INFO", "replication"]), Some(redis::Value::BulkString(t))
            if String::from_utf8_lossy(&t).contains(&format!("master_port:{np}"))
                && String::from_utf8_lossy(&t).contains("master_link_status:up"))
        },
    );
    wait_for("minority sentinel updated", Duration::from_secs(20), || {
        master_of(&a, s1).as_deref() == Some(new.as_str())
    });
    let v: Option<String> =
        query(&a, m, &["GET", "before"]).and_then(|v| redis::from_redis_value(&v).ok());
    assert_eq!(v.as_deref(), Some("cut"));
}
