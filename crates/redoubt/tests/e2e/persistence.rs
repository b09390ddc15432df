//! RDB persistence as an operator sees it: SAVE/BGSAVE files that real
//! Redis accepts, restarts that bring the data back, a BGSAVE taken under
//! write load that holds exactly the dataset of its start, and corrupt
//! files refused with the file, the offset and the reason.

use crate::harness::{q, server_to_exit, temp_dir, wait_for, Flavor, ServerHandle};
use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

fn bulk(v: &[u8]) -> redis::Value {
    redis::Value::BulkString(v.to_vec())
}

/// Writes a small dataset of every supported type, TTLs and two dbs.
fn fill(c: &mut redis::Connection) {
    q(c, &["SET", "s", "hello"]);
    q(c, &["SET", "n", "12345"]);
    q(c, &["SET", "ttl", "v", "PXAT", "4102444800000"]);
    q(c, &["SET", "big", &"x".repeat(10_000)]);
    q(c, &["HSET", "h", "f1", "v1", "f2", "2"]);
    let big = "y".repeat(100);
    q(c, &["HSET", "bigh", "f", &big]);
    let items: Vec<String> = (0..3000).map(|i| format!("item-{i}")).collect();
    let mut rpush = vec!["RPUSH", "l"];
    rpush.extend(items.iter().map(|s| s.as_str()));
    q(c, &rpush);
    q(c, &["SADD", "iset", "1", "2", "-3"]);
    q(c, &["SADD", "sset", "a", "b", "c"]);
    q(c, &["ZADD", "z", "1.5", "a", "-2", "b", "inf", "c"]);
    let zargs: Vec<String> = (0..200)
        .flat_map(|i| [i.to_string(), format!("m{i}")])
        .collect();
    let mut zadd = vec!["ZADD", "bigz"];
    zadd.extend(zargs.iter().map(|s| s.as_str()));
    q(c, &zadd);
    q(c, &["SELECT", "5"]);
    q(c, &["SET", "in5", "five"]);
    q(c, &["SELECT", "0"]);
}

fn check(c: &mut redis::Connection) {
    assert_eq!(q(c, &["GET", "s"]), bulk(b"hello"));
    assert_eq!(q(c, &["GET", "n"]), bulk(b"12345"));
    assert_eq!(
        q(c, &["PEXPIRETIME", "ttl"]),
        redis::Value::Int(4102444800000)
    );
    assert_eq!(q(c, &["STRLEN", "big"]), redis::Value::Int(10_000));
    assert_eq!(q(c, &["HGET", "h", "f2"]), bulk(b"2"));
    assert_eq!(q(c, &["HSTRLEN", "bigh", "f"]), redis::Value::Int(100));
    assert_eq!(q(c, &["LLEN", "l"]), redis::Value::Int(3000));
    assert_eq!(q(c, &["LINDEX", "l", "2999"]), bulk(b"item-2999"));
    assert_eq!(q(c, &["OBJECT", "ENCODING", "iset"]), bulk(b"intset"));
    assert_eq!(
        q(c, &["SMISMEMBER", "iset", "-3", "2", "4"]),
        redis::Value::Array(vec![
            redis::Value::Int(1),
            redis::Value::Int(1),
            redis::Value::Int(0)
        ])
    );
    assert_eq!(q(c, &["SCARD", "sset"]), redis::Value::Int(3));
    assert_eq!(q(c, &["ZSCORE", "z", "c"]), bulk(b"inf"));
    assert_eq!(
        q(c, &["ZRANGE", "z", "0", "0"]),
        redis::Value::Array(vec![bulk(b"b")])
    );
    assert_eq!(q(c, &["OBJECT", "ENCODING", "bigz"]), bulk(b"skiplist"));
    assert_eq!(q(c, &["ZRANK", "bigz", "m150"]), redis::Value::Int(150));
    q(c, &["SELECT", "5"]);
    assert_eq!(q(c, &["GET", "in5"]), bulk(b"five"));
    q(c, &["SELECT", "0"]);
}

#[test]
fn save_then_restart_brings_every_key_and_ttl_back() {
    let mut s = ServerHandle::start(Flavor::Redoubt, &[]);
    let mut c = s.client();
    fill(&mut c);
    assert_eq!(q(&mut c, &["SAVE"]), redis::Value::Okay);
    let dir = s.dir.clone();
    let keep = temp_dir("keep");
    std::fs::copy(dir.join("dump.rdb"), keep.join("dump.rdb")).unwrap();
    s.kill();
    let d = keep.display().to_string();
    let s2 = ServerHandle::start(Flavor::Redoubt, &[("dir", &d)]);
    let mut c2 = s2.client();
    check(&mut c2);
    let log = s2.log();
    assert!(
        log.contains("Done loading RDB, keys loaded: 12, keys expired: 0."),
        "{log}"
    );
    let _ = std::fs::remove_dir_all(keep);
}

#[test]
fn our_rdb_passes_redis_check_rdb_and_loads_into_real_redis() {
    let s = ServerHandle::start(Flavor::Redoubt, &[("rdbcompression", "yes")]);
    let mut c = s.client();
    fill(&mut c);
    assert_eq!(q(&mut c, &["SAVE"]), redis::Value::Okay);
    let path = s.dir.join("dump.rdb");
    let out = Command::new("redis-check-rdb").arg(&path).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("RDB looks OK!"),
        "{text}"
    );
    let d = s.dir.display().to_string();
    let r = ServerHandle::start(Flavor::Redis, &[("dir", &d)]);
    let mut rc = r.client();
    check(&mut rc);
}

#[test]
fn real_redis_rdb_loads_into_redoubt() {
    let r = ServerHandle::start(Flavor::Redis, &[]);
    let mut rc = r.client();
    fill(&mut rc);
    q(&mut rc, &["DEBUG", "POPULATE", "2000", "pop", "50"]);
    assert_eq!(q(&mut rc, &["SAVE"]), redis::Value::Okay);
    let d = r.dir.display().to_string();
    let s = ServerHandle::start(Flavor::Redoubt, &[("dir", &d)]);
    let mut c = s.client();
    check(&mut c);
    assert_eq!(q(&mut c, &["DBSIZE"]), redis::Value::Int(2011));
    assert_eq!(
        q(&mut c, &["GET", "pop:1999"]),
        q(&mut rc, &["GET", "pop:1999"])
    );
}

/// Reads every string key of db 0 from an RDB file.
fn rdb_strings(path: &std::path::Path) -> BTreeMap<Vec<u8>, Vec<u8>> {
    let f = std::io::BufReader::new(std::fs::File::open(path).unwrap());
    let mut r = rdb::Reader::new(f).unwrap();
    let mut m = BTreeMap::new();
    while let Some(item) = r.next_item().unwrap() {
        if let rdb::Item::Entry {
            key,
            value: rdb::RdbValue::String(v),
            ..
        } = item
        {
            m.insert(key, v);
        }
    }
    m
}

#[test]
fn bgsave_under_write_load_holds_exactly_the_dataset_at_its_start() {
    let s = ServerHandle::start(Flavor::Redoubt, &[]);
    let mut c = s.client();
    const N: usize = 50_000;
    q(&mut c, &["DEBUG", "POPULATE", &N.to_string(), "k", "100"]);
    // A writer overwrites and deletes keys and adds new ones while the
    // snapshot runs; the file must not see any of it.
    // BGSAVE and the writes go out in one pipeline: the snapshot's point in
    // time is the BGSAVE itself, as with Redis's fork.
    let mut raw = s.raw();
    let mut batch = b"*1\r\n$6\r\nBGSAVE\r\n".to_vec();
    for i in (0..N).step_by(3) {
        let k = format!("k:{i}");
        batch.extend_from_slice(
            format!(
                "*3\r\n$3\r\nSET\r\n${}\r\n{k}\r\n$7\r\nchanged\r\n",
                k.len()
            )
            .as_bytes(),
        );
        let d = format!("k:{}", i + 1);
        batch.extend_from_slice(format!("*2\r\n$3\r\nDEL\r\n${}\r\n{d}\r\n", d.len()).as_bytes());
        let n = format!("new:{i}");
        batch.extend_from_slice(
            format!("*3\r\n$3\r\nSET\r\n${}\r\n{n}\r\n$1\r\nx\r\n", n.len()).as_bytes(),
        );
    }
    raw.send(&batch);
    assert_eq!(
        raw.read_reply().as_deref(),
        Some(&b"+Background saving started\r\n"[..])
    );
    wait_for("BGSAVE to finish", Duration::from_secs(60), || {
        let info: String = redis::cmd("INFO").arg("persistence").query(&mut c).unwrap();
        info.contains("rdb_saves:1\r\n") && info.contains("rdb_bgsave_in_progress:0")
    });
    let m = rdb_strings(&s.dir.join("dump.rdb"));
    assert_eq!(
        m.len(),
        N,
        "the snapshot must hold exactly the keys of its start"
    );
    for i in 0..N {
        let v = &m[format!("k:{i}").as_bytes()];
        let mut expect = format!("value:{i}").into_bytes();
        expect.resize(100, 0);
        assert_eq!(v, &expect, "k:{i} changed inside the snapshot");
    }
}

/// Every entry of an RDB file (db 0), strings and lists.
fn rdb_entries(path: &std::path::Path) -> BTreeMap<Vec<u8>, rdb::RdbValue> {
    let f = std::io::BufReader::new(std::fs::File::open(path).unwrap());
    let mut r = rdb::Reader::new(f).unwrap();
    let mut m = BTreeMap::new();
    while let Some(item) = r.next_item().unwrap() {
        if let rdb::Item::Entry { key, value, .. } = item {
            assert!(m.insert(key, value).is_none(), "a key written twice");
        }
    }
    m
}

/// A writer that never pauses from the BGSAVE (the first command of its
/// pipeline, so the save's point in time is known exactly) until the save
/// has ended: overwrites, appends, deletes, list pushes and new keys, in
/// pipelined batches. The file must hold the dataset of the save's start,
/// every entry as it was then.
#[test]
fn bgsave_under_a_full_speed_writer_holds_the_dataset_of_its_start() {
    let s = ServerHandle::start(Flavor::Redoubt, &[]);
    let mut c = s.client();
    const N: usize = 100_000;
    const LISTS: usize = 2_000;
    q(&mut c, &["DEBUG", "POPULATE", &N.to_string(), "k", "100"]);
    for i in 0..LISTS {
        q(&mut c, &["RPUSH", &format!("l:{i}"), "a", "b", "c"]);
    }
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let stop = stop.clone();
        let mut raw = s.raw();
        std::thread::spawn(move || {
            let mut rng = 0x9E37_79B9_7F4A_7C15u64;
            let mut rand = |n: usize| {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                (rng % n as u64) as usize
            };
            let mut batches = 0u64;
            let mut first = true;
            while first || !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let mut batch = Vec::new();
                let mut replies = 0;
                if first {
                    batch.extend_from_slice(b"*1\r\n$6\r\nBGSAVE\r\n");
                    replies += 1;
                }
                for j in 0..500 {
                    let k = format!("k:{}", rand(N));
                    let args: Vec<String> = match j % 5 {
                        0 => vec!["SET".into(), k, "changed".into()],
                        1 => vec!["APPEND".into(), k, "+".into()],
                        2 => vec!["DEL".into(), k],
                        3 => vec!["RPUSH".into(), format!("l:{}", rand(LISTS)), "x".into()],
                        _ => vec!["SET".into(), format!("new:{batches}:{j}"), "x".into()],
                    };
                    batch.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
                    for a in &args {
                        batch.extend_from_slice(format!("${}\r\n{a}\r\n", a.len()).as_bytes());
                    }
                    replies += 1;
                }
                raw.send(&batch);
                for r in 0..replies {
                    let reply = raw.read_reply().expect("the writer's connection closed");
                    if first && r == 0 {
                        assert_eq!(reply, b"+Background saving started\r\n");
                    }
                }
                first = false;
                batches += 1;
            }
            batches
        })
    };
    wait_for("BGSAVE to finish", Duration::from_secs(120), || {
        let info: String = redis::cmd("INFO").arg("persistence").query(&mut c).unwrap();
        info.contains("rdb_saves:1\r\n") && info.contains("rdb_bgsave_in_progress:0")
    });
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let batches = writer.join().unwrap();
    assert!(
        batches >= 2,
        "the writer ran through the save ({batches} batches)"
    );
    let cow: u64 = crate::harness::info_field(&mut c, "persistence", "rdb_last_cow_size")
        .parse()
        .unwrap();
    assert!(cow > 0, "writes reached entries ahead of the walk");
    let m = rdb_entries(&s.dir.join("dump.rdb"));
    assert_eq!(m.len(), N + LISTS, "exactly the keys of the save's start");
    for i in 0..N {
        let mut expect = format!("value:{i}").into_bytes();
        expect.resize(100, 0);
        assert_eq!(
            m.get(format!("k:{i}").as_bytes()),
            Some(&rdb::RdbValue::String(expect)),
            "k:{i} as it was at the save's start"
        );
    }
    let abc = rdb::RdbValue::List(vec![b"a".to_vec(), b"b".to_vec(), b"c".to_vec()]);
    for i in 0..LISTS {
        assert_eq!(m.get(format!("l:{i}").as_bytes()), Some(&abc), "l:{i}");
    }
}

#[test]
fn corrupt_rdb_is_refused_naming_file_offset_and_reason_and_left_untouched() {
    let s = ServerHandle::start(Flavor::Redoubt, &[]);
    let mut c = s.client();
    fill(&mut c);
    q(&mut c, &["SAVE"]);
    let good = std::fs::read(s.dir.join("dump.rdb")).unwrap();
    drop(c);
    drop(s);
    for (name, bytes) in [
        ("truncated", good[..good.len() / 2].to_vec()),
        ("flipped", {
            let mut b = good.clone();
            let i = b.len() - 20;
            b[i] ^= 0x40;
            b
        }),
        ("garbage", b"REDIS0010\xfe\x00\xff\xff\xff".to_vec()),
        ("checksum", {
            let mut b = good.clone();
            let n = b.len();
            b[n - 8..].copy_from_slice(b"foobar00");
            b
        }),
    ] {
        let dir = temp_dir(name);
        let path = dir.join("dump.rdb");
        std::fs::write(&path, &bytes).unwrap();
        let (code, text) = server_to_exit(&[], &dir);
        assert_eq!(code, Some(1), "{name}: {text}");
        assert!(
            text.contains("dump.rdb") && text.contains("offset"),
            "{name}: {text}"
        );
        assert_eq!(
            std::fs::read(&path).unwrap(),
            bytes,
            "{name}: file modified"
        );
        if name == "checksum" {
            // What Redis's own suite looks for in the log.
            assert!(text.contains("CRC error"), "{text}");
        }
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// A save aborted by FLUSHALL leaves no trace on the next one, which
/// succeeds and resets the change counter; while a save runs, INFO shows
/// its progress and what writes made it take ahead of its walk (our
/// counterpart of a fork child's copy-on-write).
#[test]
fn bgsave_progress_and_a_new_save_after_an_aborted_one() {
    let s = ServerHandle::start(Flavor::Redoubt, &[("save", "")]);
    let mut c = s.client();
    let field = |c: &mut redis::Connection, f: &str| -> i64 {
        crate::harness::info_field(c, "persistence", f)
            .parse::<f64>()
            .unwrap_or(-1.0) as i64
    };
    let value = "A".repeat(500);
    for i in 0..2000 {
        q(&mut c, &["SET", &format!("key{i}"), &value]);
    }
    q(&mut c, &["CONFIG", "SET", "rdb-key-save-delay", "1000"]);
    q(&mut c, &["BGSAVE"]);
    assert_eq!(field(&mut c, "current_save_keys_total"), 2000);
    // The walk goes from the end of the table: the first keys written are
    // the last it reaches, so changing them now costs the save a copy.
    for i in 0..16 {
        q(
            &mut c,
            &["SETRANGE", &format!("key{i}"), "0", &"B".repeat(500)],
        );
    }
    wait_for("save progress", Duration::from_secs(10), || {
        field(&mut c, "current_save_keys_processed") > 16 && field(&mut c, "current_fork_perc") > 0
    });
    assert!(field(&mut c, "current_cow_size") >= 16 * 500);
    q(&mut c, &["FLUSHALL"]);
    wait_for("save aborted", Duration::from_secs(5), || {
        field(&mut c, "rdb_bgsave_in_progress") == 0
    });
    q(&mut c, &["SET", "x", "1"]);
    assert!(field(&mut c, "rdb_changes_since_last_save") > 1000);
    q(&mut c, &["CONFIG", "SET", "rdb-key-save-delay", "0"]);
    q(&mut c, &["BGSAVE"]);
    wait_for("second save", Duration::from_secs(5), || {
        field(&mut c, "rdb_bgsave_in_progress") == 0
    });
    assert_eq!(field(&mut c, "rdb_changes_since_last_save"), 0);
    assert_eq!(
        crate::harness::info_field(&mut c, "persistence", "rdb_last_bgsave_status"),
        "ok"
    );
}

#[test]
fn shutdown_saves_when_save_points_exist_and_debug_reload_round_trips() {
    let mut s = ServerHandle::start(Flavor::Redoubt, &[("save", "3600 1")]);
    let mut c = s.client();
    fill(&mut c);
    assert_eq!(q(&mut c, &["DEBUG", "RELOAD"]), redis::Value::Okay);
    check(&mut c);
    q(&mut c, &["SET", "after", "reload"]);
    let status = s.terminate(Duration::from_secs(10)).unwrap();
    assert!(status.success());
    let m = rdb_strings(&s.dir.join("dump.rdb"));
    assert_eq!(
        m.get(&b"after"[..]).map(|v| v.as_slice()),
        Some(&b"reload"[..])
    );
}

/// INFO total_forks counts what Redis forks for (BGSAVE, BGREWRITEAOF, a
/// full sync's snapshot) and not SAVE; latest_fork_usec is set once one
/// started. Same counts on Redis and Redoubt.
#[test]
fn total_forks_counts_background_saves_rewrites_and_full_syncs() {
    let mut counts = Vec::new();
    for flavor in [Flavor::Redis, Flavor::Redoubt] {
        let s = ServerHandle::start(flavor, &[]);
        let mut c = s.client();
        let forks = |c: &mut redis::Connection| -> i64 {
            crate::harness::info_field(c, "stats", "total_forks")
                .parse()
                .unwrap_or(-1)
        };
        let idle = |c: &mut redis::Connection| {
            wait_for("background job to end", Duration::from_secs(10), || {
                crate::harness::info_field(c, "persistence", "rdb_bgsave_in_progress") == "0"
                    && crate::harness::info_field(c, "persistence", "aof_rewrite_in_progress")
                        == "0"
            })
        };
        let mut seen = vec![forks(&mut c)];
        q(&mut c, &["SET", "k", "v"]);
        q(&mut c, &["SAVE"]);
        seen.push(forks(&mut c));
        q(&mut c, &["BGSAVE"]);
        idle(&mut c);
        seen.push(forks(&mut c));
        q(&mut c, &["BGREWRITEAOF"]);
        idle(&mut c);
        seen.push(forks(&mut c));
        let replica = crate::harness::start_replica(Flavor::Redoubt, &s, &[]);
        crate::harness::wait_for_link_up(&replica);
        idle(&mut c);
        seen.push(forks(&mut c));
        let usec: i64 = crate::harness::info_field(&mut c, "stats", "latest_fork_usec")
            .parse()
            .unwrap_or(-1);
        assert!(usec >= 0, "{flavor:?}: latest_fork_usec {usec}");
        counts.push(seen);
    }
    assert_eq!(counts[0], vec![0, 0, 1, 2, 3]);
    assert_eq!(counts[1], counts[0]);
}
