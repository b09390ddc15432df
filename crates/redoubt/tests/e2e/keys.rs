//! Generic key commands and expiry, as clients observe them over a socket:
//! SCAN's guarantee under concurrent writes, and keys with a TTL vanishing
//! on their own (active expiry) without anyone reading them.

use crate::harness::{wait_for, Flavor, ServerHandle};
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

fn dbsize(c: &mut redis::Connection) -> i64 {
    redis::cmd("DBSIZE").query(c).expect("dbsize")
}

#[test]
fn scan_returns_every_key_present_throughout_while_another_client_writes() {
    let s = ServerHandle::start(Flavor::Redoubt, &[]);
    let mut c = s.client();
    let mut pipe = redis::pipe();
    for i in 0..3000 {
        pipe.cmd("SET").arg(format!("stable:{i}")).arg("v").ignore();
        pipe.cmd("SET").arg(format!("churn:{i}")).arg("v").ignore();
    }
    let _: () = pipe.query(&mut c).expect("load");

    // Another connection deletes churn keys and adds new ones for as long
    // as the scan runs, so entries keep moving inside the keyspace.
    let stop = Arc::new(AtomicBool::new(false));
    let progress = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let writer = {
        let (stop, progress) = (stop.clone(), progress.clone());
        let mut w = s.client();
        std::thread::spawn(move || {
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let mut p = redis::pipe();
                for _ in 0..20 {
                    p.cmd("DEL").arg(format!("churn:{}", i % 3000)).ignore();
                    p.cmd("SET").arg(format!("added:{i}")).arg("v").ignore();
                    i += 1;
                }
                let _: () = p.query(&mut w).expect("churn");
                progress.store(i, Ordering::Relaxed);
            }
            i
        })
    };
    // On a loaded machine the writer thread may start late: the scan
    // begins once it is writing, so the keyspace moves during the scan.
    crate::harness::wait_for(
        "the writer running",
        std::time::Duration::from_secs(20),
        || progress.load(Ordering::Relaxed) > 0,
    );

    let mut seen = HashSet::new();
    let mut cursor = "0".to_string();
    let mut calls = 0;
    loop {
        let (next, keys): (String, Vec<String>) = redis::cmd("SCAN")
            .arg(&cursor)
            .arg("COUNT")
            .arg(25)
            .query(&mut c)
            .expect("scan");
        seen.extend(keys);
        calls += 1;
        cursor = next;
        if cursor == "0" {
            break;
        }
        assert!(calls < 100_000, "SCAN did not terminate");
    }
    stop.store(true, Ordering::Relaxed);
    let writes = writer.join().expect("writer thread");
    assert!(writes > 0, "the writer never ran during the scan");
    assert!(calls > 100, "the scan should take many steps, took {calls}");
    let missed: Vec<String> = (0..3000)
        .map(|i| format!("stable:{i}"))
        .filter(|k| !seen.contains(k))
        .collect();
    assert!(
        missed.is_empty(),
        "SCAN missed {} stable keys, e.g. {:?}",
        missed.len(),
        &missed[..missed.len().min(5)]
    );
}

#[test]
fn scan_cursor_is_a_bulk_string_and_match_filters() {
    let s = ServerHandle::start(Flavor::Redoubt, &[]);
    let mut raw = s.raw();
    assert_eq!(raw.cmd(&[b"SCAN", b"0"]), b"*2\r\n$1\r\n0\r\n*0\r\n");
    for i in 0..50 {
        raw.cmd(&[b"SET", format!("user:{i}").as_bytes(), b"v"]);
        raw.cmd(&[b"SET", format!("item:{i}").as_bytes(), b"v"]);
    }
    let mut c = s.client();
    let mut seen = HashSet::new();
    let mut cursor = "0".to_string();
    loop {
        let (next, keys): (String, Vec<String>) = redis::cmd("SCAN")
            .arg(&cursor)
            .arg("MATCH")
            .arg("user:*")
            .query(&mut c)
            .expect("scan");
        assert!(
            next.parse::<u64>().is_ok(),
            "cursor {next:?} is not a number"
        );
        for k in keys {
            assert!(k.starts_with("user:"), "MATCH let {k} through");
            seen.insert(k);
        }
        cursor = next;
        if cursor == "0" {
            break;
        }
    }
    assert_eq!(seen.len(), 50);
}

#[test]
fn keys_with_short_ttls_disappear_without_being_touched() {
    let s = ServerHandle::start(Flavor::Redoubt, &[("hz", "50")]);
    let mut c = s.client();
    let mut pipe = redis::pipe();
    for i in 0..2000 {
        pipe.cmd("SET")
            .arg(format!("short:{i}"))
            .arg("v")
            .arg("PX")
            .arg(100 + i % 200)
            .ignore();
    }
    for i in 0..100 {
        pipe.cmd("SET")
            .arg(format!("long:{i}"))
            .arg("v")
            .arg("EX")
            .arg(1000)
            .ignore();
    }
    let _: () = pipe.query(&mut c).expect("load");
    assert_eq!(dbsize(&mut c), 2100);
    // DBSIZE reads no key, so only the active expiry cycle can bring the
    // count down.
    wait_for(
        "active expiry to delete all 2000 short-lived keys",
        Duration::from_secs(10),
        || dbsize(&mut c) == 100,
    );
    let ttl: i64 = redis::cmd("TTL").arg("long:7").query(&mut c).expect("ttl");
    assert!(ttl > 900, "long TTL key changed: {ttl}");
}

#[test]
fn persist_cancels_a_pending_expiry() {
    let s = ServerHandle::start(Flavor::Redoubt, &[("hz", "100")]);
    let mut c = s.client();
    for k in ["kept", "witness"] {
        let _: () = redis::cmd("SET")
            .arg(k)
            .arg("v")
            .query(&mut c)
            .expect("set");
        let n: i64 = redis::cmd("PEXPIRE")
            .arg(k)
            .arg(200)
            .query(&mut c)
            .expect("pexpire");
        assert_eq!(n, 1);
    }
    let n: i64 = redis::cmd("PERSIST")
        .arg("kept")
        .query(&mut c)
        .expect("persist");
    assert_eq!(n, 1);
    // The witness had the same TTL: once it is gone, "kept" would be too
    // had PERSIST not worked.
    wait_for("the witness key to expire", Duration::from_secs(10), || {
        dbsize(&mut c) == 1
    });
    let n: i64 = redis::cmd("TTL").arg("kept").query(&mut c).expect("ttl");
    assert_eq!(n, -1);
}
