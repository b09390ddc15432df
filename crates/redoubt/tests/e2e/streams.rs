//! Streams between Redoubt and real Redis 7.0: RDB files both ways (and
//! both checkers), full syncs and live replication both ways, the AOF and
//! its rewrite, and a consumer-group worker pool that loses a worker.
//!
//! Comparisons are byte for byte on raw replies. `XINFO STREAM FULL`
//! carries delivery and seen times; they travel in RDB files, so a loaded
//! stream must answer exactly as the saved one. Over replication the
//! times are the master's (XCLAIM ... TIME), except `seen-time`, which a
//! replica sets when it applies the command: there the comparison leaves
//! out the clock fields (and, master against replica, the groups' read
//! counters, which a Redis 7.0 replica does not advance on XCLAIM LASTID
//! either: replica against replica they must agree exactly).

use crate::harness::{redoubt_bin, start_replica, temp_dir, wait_for, Flavor, Raw, ServerHandle};
use std::process::Command;
use std::time::Duration;

/// Runs a command that must not fail.
fn ok(c: &mut Raw, args: &[&str]) {
    let r = c.cmd_str(args);
    assert!(!r.starts_with('-'), "{args:?}: {r}");
}

/// Builds streams that exercise every part of the format on the server
/// behind `c`: several nodes, tombstones (XDEL, exact trims), groups with
/// pending entries moved between consumers, a consumer without any, a
/// NOACK reader, an empty stream with a group, a stream whose entries
/// were all deleted, XSETID counters, a TTL.
fn fill(c: &mut Raw) -> Vec<&'static str> {
    let mut cmd = |args: &[&str]| ok(c, args);
    for i in 1..=300 {
        let (id, n) = (format!("{i}-0"), (i * 7).to_string());
        let v = "v".repeat(i % 40);
        cmd(&[
            "XADD",
            "s1",
            &id,
            "name",
            &v,
            "n",
            &n,
            "big",
            "1700000000000",
        ]);
        if i % 50 == 0 {
            cmd(&["XADD", "s1", &format!("{i}-1"), "other", "fields"]);
        }
    }
    cmd(&["XDEL", "s1", "1-0", "150-0", "300-1"]);
    cmd(&["XTRIM", "s1", "MAXLEN", "290"]);
    cmd(&["XGROUP", "CREATE", "s1", "g1", "0"]);
    cmd(&[
        "XREADGROUP",
        "GROUP",
        "g1",
        "alice",
        "COUNT",
        "40",
        "STREAMS",
        "s1",
        ">",
    ]);
    cmd(&[
        "XREADGROUP",
        "GROUP",
        "g1",
        "bob",
        "COUNT",
        "30",
        "STREAMS",
        "s1",
        ">",
    ]);
    cmd(&["XACK", "s1", "g1", "20-0", "21-0", "60-0"]);
    cmd(&[
        "XCLAIM",
        "s1",
        "g1",
        "bob",
        "0",
        "30-0",
        "31-0",
        "RETRYCOUNT",
        "4",
    ]);
    cmd(&["XGROUP", "CREATECONSUMER", "s1", "g1", "idle"]);
    cmd(&["XGROUP", "CREATE", "s1", "g2", "$", "ENTRIESREAD", "303"]);
    cmd(&["XGROUP", "CREATE", "s1", "g3", "0"]);
    cmd(&[
        "XREADGROUP",
        "GROUP",
        "g3",
        "carol",
        "NOACK",
        "COUNT",
        "5",
        "STREAMS",
        "s1",
        ">",
    ]);
    cmd(&["XGROUP", "CREATE", "empty", "g", "$", "MKSTREAM"]);
    cmd(&["XADD", "gone", "5-5", "f", "v"]);
    cmd(&["XDEL", "gone", "5-5"]);
    cmd(&["XADD", "set", "1-0", "f", "v"]);
    cmd(&[
        "XSETID",
        "set",
        "99-0",
        "ENTRIESADDED",
        "50",
        "MAXDELETEDID",
        "40-0",
    ]);
    cmd(&["CONFIG", "SET", "stream-node-max-bytes", "300"]);
    for i in 1..=20 {
        let v = "x".repeat(i * 13);
        cmd(&["XADD", "wide", &format!("{i}-0"), "f", &v]);
    }
    cmd(&["CONFIG", "SET", "stream-node-max-bytes", "4096"]);
    cmd(&["XADD", "ttl", "1-0", "f", "v"]);
    cmd(&["PEXPIREAT", "ttl", "4102444800000"]);
    vec!["s1", "empty", "gone", "set", "wide", "ttl"]
}

/// Everything the server tells about `key` that travels in a file:
/// entries, counters, node counts, groups, pending entries with their
/// delivery times and counts, consumers with their seen times.
fn full_state(c: &mut Raw, key: &str) -> String {
    let mut s = String::new();
    for args in [
        &["XINFO", "STREAM", key, "FULL", "COUNT", "0"][..],
        &["XINFO", "STREAM", key],
        &["XINFO", "GROUPS", key],
        &["PEXPIRETIME", key],
    ] {
        s += &c.cmd_str(args);
    }
    s
}

/// What a replica must agree on with its master: entries and counters,
/// and per group its position and pending entries (owner and count),
/// without clock fields; with `counters`, the groups' read counters and
/// lag too, and with `layout` the node counts (a stream rebuilt from an
/// AOF has no tombstones, so its nodes may split elsewhere).
fn synced_state(c: &mut Raw, key: &str, counters: bool, layout: bool) -> String {
    let mut s = c.cmd_str(&["XRANGE", key, "-", "+"]);
    let info = c.cmd_str(&["XINFO", "STREAM", key]);
    let mut lines = info.split("\r\n");
    while let Some(l) = lines.next() {
        if !layout && l.starts_with("radix-tree-") {
            lines.next();
            continue;
        }
        s += l;
        s += "|";
    }
    let groups = c.cmd_str(&["XINFO", "GROUPS", key]);
    let mut lines = groups.split("\r\n").peekable();
    let mut names = Vec::new();
    while let Some(l) = lines.next() {
        if (l == "entries-read" || l == "lag") && !counters {
            lines.next();
            continue;
        }
        if l == "name" {
            if let (Some(_), Some(n)) = (lines.peek().copied(), lines.clone().nth(1)) {
                names.push(n.to_string());
            }
        }
        s += l;
        s += "|";
    }
    for g in names {
        let pel = c.cmd_str(&["XPENDING", key, &g, "-", "+", "1000000"]);
        // Each entry is id, owner, idle, count: drop the idle time.
        // Lines: *4, $n, id, $n, owner, :idle, :count.
        let parts: Vec<&str> = pel.split("\r\n").collect();
        let mut i = 0;
        while i + 6 < parts.len() {
            if parts[i] == "*4" {
                s += &format!("{} {} {};", parts[i + 2], parts[i + 4], parts[i + 6]);
                i += 7;
            } else {
                i += 1;
            }
        }
        let cons = c.cmd_str(&["XINFO", "CONSUMERS", key, &g]);
        let parts: Vec<&str> = cons.split("\r\n").collect();
        for w in parts.windows(6) {
            if w[0] == "name" && w[4] == "pending" {
                s += &format!("{}:{};", w[2], w[5]);
            }
        }
    }
    s
}

/// Asserts two long replies are equal, showing only where they part.
fn assert_same(got: &str, want: &str, what: &str) {
    if got == want {
        return;
    }
    let at = got
        .bytes()
        .zip(want.bytes())
        .position(|(a, b)| a != b)
        .unwrap_or(got.len().min(want.len()));
    let from = at.saturating_sub(120);
    let show = |s: &str| {
        s.get(from..(at + 120).min(s.len()))
            .unwrap_or("")
            .to_string()
    };
    panic!(
        "{what}: differ at byte {at}\n  got:  ...{}\n  want: ...{}",
        show(got),
        show(want)
    );
}

fn checker_accepts(tool: &str, args: &[&str]) -> String {
    let out = Command::new(tool).args(args).output().unwrap();
    let text = crate::harness::output_text(&out);
    assert!(out.status.success(), "{tool} {args:?}: {text}");
    text
}

#[test]
fn stream_rdb_files_load_both_ways_and_pass_both_checkers() {
    let redis = ServerHandle::start(Flavor::Redis, &[]);
    let mut rc = redis.raw();
    let keys = fill(&mut rc);
    assert_eq!(rc.cmd_str(&["SAVE"]), "+OK\r\n");
    let want: Vec<String> = keys.iter().map(|k| full_state(&mut rc, k)).collect();

    // Redis's file into Redoubt.
    let d = redis.dir.display().to_string();
    let ours = ServerHandle::start(Flavor::Redoubt, &[("dir", &d), ("dbfilename", "dump.rdb")]);
    let mut oc = ours.raw();
    for (k, w) in keys.iter().zip(&want) {
        assert_same(
            &full_state(&mut oc, k),
            w,
            &format!("{k} loaded from Redis's RDB"),
        );
    }

    // Our file: both checkers accept it, real Redis loads it.
    let ours2 = ServerHandle::start(Flavor::Redoubt, &[]);
    let mut o2 = ours2.raw();
    fill(&mut o2);
    assert_eq!(o2.cmd_str(&["SAVE"]), "+OK\r\n");
    let path = ours2.dir.join("dump.rdb");
    let p = path.display().to_string();
    let text = checker_accepts("redis-check-rdb", &[&p]);
    assert!(text.contains("RDB looks OK!"), "{text}");
    let text = checker_accepts(redoubt_bin(), &["check-rdb", &p]);
    assert!(text.contains("stream=6"), "{text}");
    let want2: Vec<String> = keys.iter().map(|k| full_state(&mut o2, k)).collect();
    let d2 = ours2.dir.display().to_string();
    let redis2 = ServerHandle::start(Flavor::Redis, &[("dir", &d2)]);
    let mut r2 = redis2.raw();
    for (k, w) in keys.iter().zip(&want2) {
        assert_same(
            &full_state(&mut r2, k),
            w,
            &format!("{k} loaded by Redis from our RDB"),
        );
    }
    // Both servers built the same streams from the same commands, save
    // for clock fields: compare what does not read the clock.
    for k in &keys {
        assert_same(
            &synced_state(&mut rc, k, true, true),
            &synced_state(&mut o2, k, true, true),
            &format!("{k} built by Redis and by us"),
        );
    }
}

/// Live traffic on the master after the full sync: group reads (plain
/// and NOACK), acknowledgements, claims, trims, deletions, group and
/// consumer changes.
fn live_traffic(m: &mut Raw) {
    let mut cmd = |args: &[&str]| ok(m, args);
    for i in 1000..1200 {
        cmd(&["XADD", "s1", &format!("{i}-0"), "k", &i.to_string()]);
        if i % 10 == 0 {
            cmd(&[
                "XREADGROUP",
                "GROUP",
                "g1",
                "dave",
                "COUNT",
                "7",
                "STREAMS",
                "s1",
                ">",
            ]);
            cmd(&[
                "XREADGROUP",
                "GROUP",
                "g3",
                "erin",
                "NOACK",
                "COUNT",
                "3",
                "STREAMS",
                "s1",
                ">",
            ]);
        }
        if i % 25 == 0 {
            cmd(&[
                "XACK",
                "s1",
                "g1",
                &format!("{}-0", i - 500),
                &format!("{}-0", i / 4),
            ]);
            cmd(&["XAUTOCLAIM", "s1", "g1", "frank", "0", "0", "COUNT", "5"]);
        }
    }
    cmd(&["XDEL", "s1", "1100-0", "1101-0"]);
    cmd(&[
        "XCLAIM", "s1", "g1", "gina", "0", "1100-0", "40-0", "LASTID", "5000-0",
    ]);
    cmd(&["XADD", "s1", "MAXLEN", "~", "150", "*", "k", "v"]);
    cmd(&["XTRIM", "s1", "MINID", "~", "1050"]);
    cmd(&["XGROUP", "SETID", "s1", "g2", "1150-0"]);
    cmd(&["XGROUP", "DELCONSUMER", "s1", "g1", "bob"]);
    cmd(&["XGROUP", "DESTROY", "s1", "g3"]);
    cmd(&["XADD", "fresh", "MAXLEN", "=", "2", "*", "a", "b"]);
    cmd(&["XGROUP", "CREATE", "fresh", "g", "0"]);
    cmd(&["XREADGROUP", "GROUP", "g", "h", "STREAMS", "fresh", ">"]);
}

/// A master of `master_flavor` with one Redoubt and one Redis replica:
/// full sync of the filled dataset, then live traffic; at the end both
/// replicas agree with each other exactly and with the master on every
/// stream.
fn replicate_streams(master_flavor: Flavor) {
    let master = ServerHandle::start(master_flavor, &[]);
    let mut m = master.raw();
    let mut keys = fill(&mut m);
    let ours = start_replica(Flavor::Redoubt, &master, &[]);
    let theirs = start_replica(Flavor::Redis, &master, &[]);
    live_traffic(&mut m);
    keys.push("fresh");
    let acked = m.cmd_str(&["WAIT", "2", "10000"]);
    assert_eq!(acked, ":2\r\n");
    let (mut oc, mut rc) = (ours.raw(), theirs.raw());
    wait_for(
        "both replicas to hold what the master holds",
        Duration::from_secs(10),
        || {
            keys.iter().all(|k| {
                let want = synced_state(&mut m, k, false, true);
                synced_state(&mut oc, k, false, true) == want
                    && synced_state(&mut rc, k, false, true) == want
            })
        },
    );
    for k in &keys {
        assert_same(
            &synced_state(&mut oc, k, true, true),
            &synced_state(&mut rc, k, true, true),
            &format!("{k}: the Redoubt replica against the Redis replica"),
        );
    }
}

#[test]
fn a_redis_master_replicates_streams_to_a_redoubt_replica() {
    replicate_streams(Flavor::Redis);
}

#[test]
fn a_redoubt_master_replicates_streams_to_a_redis_replica() {
    replicate_streams(Flavor::Redoubt);
}

/// Streams and groups through the AOF: commands, a rewrite without the
/// RDB preamble (XADD, XSETID, XGROUP CREATE, XCLAIM as Redis writes
/// them), a restart, `redis-check-aof`, and real Redis loading the files.
#[test]
fn streams_survive_the_aof_its_rewrite_and_load_into_real_redis() {
    let ours = ServerHandle::start(
        Flavor::Redoubt,
        &[("appendonly", "yes"), ("aof-use-rdb-preamble", "no")],
    );
    let mut c = ours.raw();
    let mut keys = fill(&mut c);
    assert!(c.cmd_str(&["BGREWRITEAOF"]).starts_with('+'));
    wait_for("the AOF rewrite to end", Duration::from_secs(20), || {
        crate::harness::info_field(&mut ours.client(), "persistence", "aof_rewrite_in_progress")
            == "0"
    });
    live_traffic(&mut c);
    keys.push("fresh");
    let live: Vec<String> = keys
        .iter()
        .map(|k| synced_state(&mut c, k, false, false))
        .collect();
    let dir = ours.dir.join("appendonlydir");
    let manifest = dir.join("appendonly.aof.manifest");
    let text = checker_accepts("redis-check-aof", &[&manifest.display().to_string()]);
    assert!(text.contains("is valid"), "{text}");
    drop(c);
    let mut ours = ours;
    ours.restart();
    let mut c = ours.raw();
    for (k, w) in keys.iter().zip(&live) {
        assert_same(
            &synced_state(&mut c, k, false, false),
            w,
            &format!("{k} after restart"),
        );
    }
    // Real Redis loads a copy of our AOF folder, and ends exactly where
    // we did replaying it.
    let copy = temp_dir("stream-aof");
    std::fs::create_dir_all(copy.join("appendonlydir")).unwrap();
    for f in std::fs::read_dir(&dir).unwrap() {
        let f = f.unwrap().path();
        std::fs::copy(&f, copy.join("appendonlydir").join(f.file_name().unwrap())).unwrap();
    }
    let d = copy.display().to_string();
    let redis = ServerHandle::start(Flavor::Redis, &[("dir", &d), ("appendonly", "yes")]);
    let mut rc = redis.raw();
    for k in &keys {
        assert_same(
            &synced_state(&mut rc, k, true, true),
            &synced_state(&mut c, k, true, true),
            &format!("{k} loaded from our AOF by Redis and by us"),
        );
    }
    drop(redis);
    let _ = std::fs::remove_dir_all(copy);
}

// ---------------------------------------------------------------------------
// A consumer-group worker pool
// ---------------------------------------------------------------------------

/// IDs and field values of an XREADGROUP / XAUTOCLAIM batch.
fn entries(v: &redis::Value) -> Vec<String> {
    let mut out = Vec::new();
    let redis::Value::Array(items) = v else {
        return out;
    };
    for e in items {
        if let redis::Value::Array(pair) = e {
            if let Some(redis::Value::BulkString(id)) = pair.first() {
                if matches!(pair.get(1), Some(redis::Value::Array(_))) {
                    out.push(String::from_utf8_lossy(id).into_owned());
                }
            }
        }
    }
    out
}

/// Several workers read a job stream through one group with XREADGROUP
/// BLOCK and acknowledge each job; one dies holding unacknowledged jobs,
/// which a reaper takes over with XAUTOCLAIM once idle. Every job is
/// acknowledged exactly once, and none is delivered again after its
/// acknowledgement.
#[test]
fn a_worker_pool_loses_no_job_and_redoes_none_after_ack_when_a_worker_dies() {
    use std::collections::{HashMap, HashSet};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};
    const JOBS: usize = 3000;
    let s = ServerHandle::start(Flavor::Redoubt, &[]);
    let mut admin = s.client();
    let _: () = redis::cmd("XGROUP")
        .arg(&["CREATE", "jobs", "workers", "$", "MKSTREAM"])
        .query(&mut admin)
        .unwrap();
    #[derive(Default)]
    struct Ledger {
        acked: HashSet<String>,
        by: HashMap<String, String>,
        redone_after_ack: Vec<String>,
        held_by_dead: Vec<String>,
    }
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let done = Arc::new(AtomicBool::new(false));
    let process = |ledger: &Mutex<Ledger>, c: &mut redis::Connection, who: &str, ids: &[String]| {
        for id in ids {
            let mut l = ledger.lock().unwrap();
            if l.acked.contains(id) {
                l.redone_after_ack.push(id.clone());
                continue;
            }
            drop(l);
            let n: i64 = redis::cmd("XACK")
                .arg("jobs")
                .arg("workers")
                .arg(id)
                .query(c)
                .unwrap();
            let mut l = ledger.lock().unwrap();
            if n == 1 {
                l.acked.insert(id.clone());
                l.by.insert(id.clone(), who.to_string());
            }
        }
    };
    let mut threads = Vec::new();
    for w in 0..4 {
        let (ledger, done) = (ledger.clone(), done.clone());
        let mut c = s.client();
        threads.push(std::thread::spawn(move || {
            let name = format!("worker-{w}");
            let mut batches = 0;
            while !done.load(Ordering::SeqCst) {
                let v: redis::Value = redis::cmd("XREADGROUP")
                    .arg(&["GROUP", "workers", &name, "COUNT", "20", "BLOCK", "100"])
                    .arg(&["STREAMS", "jobs", ">"])
                    .query(&mut c)
                    .unwrap();
                let ids = match &v {
                    redis::Value::Array(streams) => streams
                        .first()
                        .and_then(|s| match s {
                            redis::Value::Array(kv) => kv.get(1).map(entries),
                            _ => None,
                        })
                        .unwrap_or_default(),
                    _ => Vec::new(),
                };
                if ids.is_empty() {
                    continue;
                }
                batches += 1;
                if w == 0 && batches == 5 {
                    // Dies holding this batch: the connection goes, the
                    // jobs stay pending under its name.
                    ledger.lock().unwrap().held_by_dead = ids;
                    return;
                }
                process(&ledger, &mut c, &name, &ids);
            }
        }));
    }
    {
        // The reaper: jobs idle for 300 ms are taken over.
        let (ledger, done) = (ledger.clone(), done.clone());
        let mut c = s.client();
        threads.push(std::thread::spawn(move || {
            while !done.load(Ordering::SeqCst) {
                let v: redis::Value = redis::cmd("XAUTOCLAIM")
                    .arg(&["jobs", "workers", "reaper", "300", "0-0", "COUNT", "100"])
                    .query(&mut c)
                    .unwrap();
                if let redis::Value::Array(parts) = &v {
                    if let Some(claimed) = parts.get(1) {
                        let ids = entries(claimed);
                        process(&ledger, &mut c, "reaper", &ids);
                    }
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }));
    }
    for i in 0..JOBS {
        let _: String = redis::cmd("XADD")
            .arg(&["jobs", "*", "job", &i.to_string()])
            .query(&mut admin)
            .unwrap();
        if i % 200 == 0 {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    wait_for("every job acknowledged", Duration::from_secs(60), || {
        ledger.lock().unwrap().acked.len() == JOBS
    });
    done.store(true, Ordering::SeqCst);
    for t in threads {
        t.join().unwrap();
    }
    let l = ledger.lock().unwrap();
    assert!(l.redone_after_ack.is_empty(), "{:?}", l.redone_after_ack);
    assert!(!l.held_by_dead.is_empty(), "the dead worker held a batch");
    for id in &l.held_by_dead {
        assert_eq!(l.by.get(id).map(String::as_str), Some("reaper"), "{id}");
    }
    let pending: redis::Value = redis::cmd("XPENDING")
        .arg(&["jobs", "workers"])
        .query(&mut admin)
        .unwrap();
    assert_eq!(
        crate::harness::text(pending),
        "[0,(nil),(nil),(nil)]".to_string()
    );
    let len: i64 = redis::cmd("XLEN").arg("jobs").query(&mut admin).unwrap();
    assert_eq!(len as usize, JOBS);
}
