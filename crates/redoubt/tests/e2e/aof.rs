//! The append-only file as an operator sees it: a directory that Debian's
//! redis-check-aof accepts and real Redis 7.0 loads (and the other way
//! round), no acknowledged write lost to `kill -9` under
//! `appendfsync always`, a rewrite under write load that keeps every
//! write, and damaged files refused with a clear message and left as
//! they were.

use crate::harness::{
    dataset, info_field, q, redoubt_bin, server_to_exit, temp_dir, text, wait_for, warnings_in,
    Flavor, ServerHandle,
};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use topology::{Kind, Launch};

/// A server on `dir` with the AOF on.
fn start_on(flavor: Flavor, dir: &Path, extra: &[(&str, &str)]) -> ServerHandle {
    let d = dir.display().to_string();
    let mut all: Vec<(&str, &str)> = vec![("dir", &d), ("appendonly", "yes")];
    all.extend_from_slice(extra);
    ServerHandle::start(flavor, &all)
}

fn wait_rewrite_done(c: &mut redis::Connection) {
    // One INFO for all three fields: they change together.
    wait_for("the AOF rewrite to finish", Duration::from_secs(60), || {
        let info = text(q(c, &["INFO", "persistence"]));
        [
            "aof_rewrite_in_progress:0",
            "aof_rewrite_scheduled:0",
            "rdb_bgsave_in_progress:0",
        ]
        .iter()
        .all(|f| info.lines().any(|l| l == *f))
    });
}

/// Every type, TTLs, several databases, and commands whose effect is
/// rewritten before propagation.
fn fill(c: &mut redis::Connection, tag: &str) {
    q(c, &["SET", &format!("s{tag}"), "hello"]);
    q(c, &["SET", &format!("n{tag}"), "12345"]);
    q(c, &["INCRBYFLOAT", &format!("f{tag}"), "1.5"]);
    q(c, &["SET", &format!("ttl{tag}"), "v", "EX", "100000"]);
    q(c, &["SET", &format!("big{tag}"), &"x".repeat(5000)]);
    q(c, &["HSET", &format!("h{tag}"), "f1", "v1", "f2", "2"]);
    let items: Vec<String> = (0..300).map(|i| format!("item-{i}")).collect();
    let mut rpush = vec!["RPUSH".to_string(), format!("l{tag}")];
    rpush.extend(items);
    let r: Vec<&str> = rpush.iter().map(|s| s.as_str()).collect();
    q(c, &r);
    q(c, &["LPOP", &format!("l{tag}")]);
    q(c, &["SADD", &format!("iset{tag}"), "1", "2", "-3"]);
    q(c, &["SADD", &format!("sset{tag}"), "a", "b", "c"]);
    q(
        c,
        &[
            "ZADD",
            &format!("z{tag}"),
            "1.5",
            "a",
            "-2",
            "b",
            "inf",
            "c",
        ],
    );
    q(c, &["ZINCRBY", &format!("z{tag}"), "0.25", "a"]);
    q(c, &["PEXPIRE", &format!("h{tag}"), "50000000"]);
    q(c, &["SELECT", "5"]);
    q(c, &["SET", &format!("in5{tag}"), "five"]);
    q(c, &["MULTI"]);
    q(c, &["INCR", &format!("ctr{tag}")]);
    q(c, &["SELECT", "7"]);
    q(c, &["LPUSH", &format!("in7{tag}"), "x"]);
    q(c, &["EXEC"]);
    q(c, &["SELECT", "0"]);
    q(c, &["DEL", &format!("sset{tag}")]);
}

/// Warning lines of a server log, except the start-up notice about
/// running without a config file: a healthy run has none.
fn unexpected_warnings(s: &ServerHandle) -> Vec<String> {
    warnings_in(&s.log_path())
        .into_iter()
        .filter(|l| !l.contains("no config file specified"))
        .collect()
}

/// Runs `redis-check-aof` (Debian's) on a manifest.
fn redis_check_aof(manifest: &Path) -> (bool, String) {
    let out = Command::new("redis-check-aof")
        .arg(manifest)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// Contents of every file in a directory (to prove nothing changed).
fn snapshot_dir(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut m = BTreeMap::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        if e.path().is_file() {
            m.insert(
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            );
        }
    }
    m
}

/// Starts Redoubt on `dir` with the AOF on, expecting start-up to fail;
/// returns the exit code and the output (the log goes to stdout).
fn start_failing(dir: &Path, extra: &[&str]) -> (Option<i32>, String) {
    let mut args = vec!["--appendonly", "yes"];
    args.extend_from_slice(extra);
    server_to_exit(&args, dir)
}

fn aof_dir(dir: &Path) -> PathBuf {
    dir.join("appendonlydir")
}

fn manifest(dir: &Path) -> PathBuf {
    aof_dir(dir).join("appendonly.aof.manifest")
}

/// The name of the file of `kind` (`b` or `i`) the manifest lists last.
fn listed(dir: &Path, kind: &str) -> PathBuf {
    let m = std::fs::read_to_string(manifest(dir)).unwrap();
    let name = m
        .lines()
        .filter(|l| l.ends_with(&format!("type {kind}")))
        .filter_map(|l| l.split(' ').nth(1))
        .next_back()
        .unwrap_or_else(|| panic!("no type {kind} file in {m}"))
        .to_string();
    aof_dir(dir).join(name)
}

#[test]
fn redis_check_aof_accepts_our_aof_dir_and_real_redis_loads_it() {
    for preamble in ["yes", "no"] {
        let keep = temp_dir("aof-ours");
        let mut s = start_on(
            Flavor::Redoubt,
            &keep,
            &[
                ("aof-use-rdb-preamble", preamble),
                ("aof-timestamp-enabled", "yes"),
            ],
        );
        let mut c = s.client();
        fill(&mut c, "a");
        assert_eq!(
            text(q(&mut c, &["BGREWRITEAOF"])),
            "Background append only file rewriting started"
        );
        wait_rewrite_done(&mut c);
        fill(&mut c, "b");
        let want = dataset(&mut c);
        assert!(want.len() > 20, "{want:?}");
        drop(c);
        assert_eq!(
            s.terminate(Duration::from_secs(10))
                .and_then(|st| st.code()),
            Some(0)
        );
        let base = listed(&keep, "b");
        let ext = if preamble == "yes" { "rdb" } else { "aof" };
        assert!(
            base.display()
                .to_string()
                .ends_with(&format!(".base.{ext}")),
            "{base:?}"
        );
        let (ok, report) = redis_check_aof(&manifest(&keep));
        assert!(ok, "redis-check-aof refused our AOF:\n{report}");
        assert!(
            report.contains("All AOF files and manifest are valid"),
            "{report}"
        );
        let r = start_on(Flavor::Redis, &keep, &[]);
        let mut rc = r.client();
        assert_eq!(
            dataset(&mut rc),
            want,
            "real Redis read our AOF (preamble {preamble})"
        );
        drop(rc);
        drop(r);
        // And our own tool agrees.
        let out = Command::new(redoubt_bin())
            .args(["check-aof"])
            .arg(manifest(&keep))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
        let _ = std::fs::remove_dir_all(keep);
    }
}

#[test]
fn redoubt_loads_an_aof_dir_written_by_real_redis() {
    for preamble in ["yes", "no"] {
        let keep = temp_dir("aof-theirs");
        let mut r = start_on(
            Flavor::Redis,
            &keep,
            &[
                ("aof-use-rdb-preamble", preamble),
                ("aof-timestamp-enabled", "yes"),
            ],
        );
        let mut rc = r.client();
        fill(&mut rc, "a");
        q(&mut rc, &["BGREWRITEAOF"]);
        wait_rewrite_done(&mut rc);
        fill(&mut rc, "b");
        let want = dataset(&mut rc);
        drop(rc);
        r.terminate(Duration::from_secs(10));
        let s = start_on(Flavor::Redoubt, &keep, &[]);
        let mut c = s.client();
        assert_eq!(
            dataset(&mut c),
            want,
            "we read real Redis's AOF (preamble {preamble})"
        );
        let log = s.log();
        assert!(log.contains("DB loaded from append only file"), "{log}");
        if preamble == "yes" {
            assert!(
                log.contains("Reading RDB base file on AOF loading..."),
                "{log}"
            );
        }
        // We keep appending to the same incremental file.
        q(&mut c, &["SET", "after", "1"]);
        drop(c);
        drop(s);
        let _ = std::fs::remove_dir_all(keep);
    }
}

/// Writers on their own connections, each counting up its own key and
/// remembering the last value the server acknowledged.
fn write_load(
    addr: std::net::SocketAddr,
    writers: usize,
    stop: Arc<AtomicBool>,
) -> Vec<std::thread::JoinHandle<(String, i64)>> {
    (0..writers)
        .map(|w| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let key = format!("w{w}");
                let mut acked = 0;
                let Ok(client) = redis::Client::open(format!("redis://{addr}/")) else {
                    return (key, acked);
                };
                let Ok(mut c) = client.get_connection() else {
                    return (key, acked);
                };
                while !stop.load(Ordering::SeqCst) {
                    let r: redis::RedisResult<i64> = redis::cmd("INCR").arg(&key).query(&mut c);
                    match r {
                        Ok(v) => acked = v,
                        Err(_) => break,
                    }
                }
                (key, acked)
            })
        })
        .collect()
}

/// Kills the server with SIGKILL while writers run; returns what each
/// writer last saw acknowledged.
fn kill_under_load(s: &mut ServerHandle, writers: usize, run: Duration) -> Vec<(String, i64)> {
    let stop = Arc::new(AtomicBool::new(false));
    let handles = write_load(s.addr(), writers, stop.clone());
    std::thread::sleep(run);
    s.kill();
    stop.store(true, Ordering::SeqCst);
    handles.into_iter().map(|h| h.join().unwrap()).collect()
}

#[test]
fn appendfsync_always_keeps_every_acknowledged_write_across_kill_9() {
    let keep = temp_dir("aof-crash");
    let mut total = 0;
    for round in 0..20 {
        let mut s = start_on(Flavor::Redoubt, &keep, &[("appendfsync", "always")]);
        let acked = kill_under_load(&mut s, 4, Duration::from_millis(300));
        drop(s);
        let s = start_on(Flavor::Redoubt, &keep, &[("appendfsync", "always")]);
        let mut c = s.client();
        for (key, n) in &acked {
            let have: i64 = text(q(&mut c, &["GET", key])).parse().unwrap_or(0);
            total += n;
            assert!(
                have >= *n,
                "round {round}: {key} acknowledged {n}, found {have} after kill -9"
            );
        }
        drop(c);
        drop(s);
    }
    println!("appendfsync always, kill -9 x20: {total} acknowledged increments, none lost");
    assert!(total > 0, "the writers got nothing acknowledged");
    let _ = std::fs::remove_dir_all(keep);
}

#[test]
fn appendfsync_everysec_loss_after_kill_9_is_measured() {
    let keep = temp_dir("aof-everysec");
    let mut lost_total = 0;
    let mut acked_total = 0;
    for _ in 0..3 {
        let mut s = start_on(Flavor::Redoubt, &keep, &[("appendfsync", "everysec")]);
        let acked = kill_under_load(&mut s, 4, Duration::from_millis(500));
        drop(s);
        let s = start_on(Flavor::Redoubt, &keep, &[]);
        let mut c = s.client();
        for (key, n) in &acked {
            let have: i64 = text(q(&mut c, &["GET", key])).parse().unwrap_or(0);
            lost_total += (n - have).max(0);
            acked_total += n;
        }
    }
    // A process kill leaves the page cache intact, and a reply waits until
    // its write reached the kernel: as with Redis, nothing acknowledged is
    // lost (a power loss could cost up to a second, which this cannot show).
    println!("appendfsync everysec, kill -9 x3: {lost_total} of {acked_total} acknowledged increments lost");
    assert_eq!(lost_total, 0);
    assert!(acked_total > 0);
    let _ = std::fs::remove_dir_all(keep);
}

#[test]
fn rewrite_under_write_load_keeps_every_write() {
    let keep = temp_dir("aof-rewrite-load");
    let mut s = start_on(Flavor::Redoubt, &keep, &[]);
    let mut c = s.client();
    q(&mut c, &["DEBUG", "POPULATE", "100000", "pop", "20"]);
    let stop = Arc::new(AtomicBool::new(false));
    let probe_stop = stop.clone();
    let addr = s.addr();
    // A probe timing each SET while the rewrite runs.
    let probe = std::thread::spawn(move || {
        let client = redis::Client::open(format!("redis://{addr}/")).unwrap();
        let mut pc = client.get_connection().unwrap();
        let mut worst = Duration::ZERO;
        let mut i = 0u64;
        while !probe_stop.load(Ordering::SeqCst) {
            let t = Instant::now();
            let _: () = redis::cmd("SET")
                .arg(format!("probe:{i}"))
                .arg(i)
                .query(&mut pc)
                .unwrap();
            worst = worst.max(t.elapsed());
            i += 1;
        }
        (worst, i)
    });
    let writers = write_load(s.addr(), 2, stop.clone());
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(
        text(q(&mut c, &["BGREWRITEAOF"])),
        "Background append only file rewriting started"
    );
    wait_rewrite_done(&mut c);
    std::thread::sleep(Duration::from_millis(50));
    stop.store(true, Ordering::SeqCst);
    let acked: Vec<_> = writers.into_iter().map(|h| h.join().unwrap()).collect();
    let (worst, probes) = probe.join().unwrap();
    println!("rewrite of 100000 keys under load: {probes} probe SETs, longest {worst:?}");
    assert_eq!(
        info_field(&mut c, "persistence", "aof_last_bgrewrite_status"),
        "ok"
    );
    assert_eq!(info_field(&mut c, "persistence", "aof_rewrites"), "1");
    // 100000 keys: compared by count, the writers' keys, the probe's last
    // key and a sample of the populated ones (a full dump is too slow).
    let sample = |c: &mut redis::Connection| {
        let mut m = BTreeMap::new();
        m.insert("dbsize".to_string(), text(q(c, &["DBSIZE"])));
        for (k, _) in &acked {
            m.insert(k.clone(), text(q(c, &["GET", k])));
        }
        let last = format!("probe:{}", probes - 1);
        m.insert(last.clone(), text(q(c, &["GET", &last])));
        for i in (0..100_000).step_by(997) {
            let k = format!("pop:{i}");
            m.insert(k.clone(), text(q(c, &["GET", &k])));
        }
        m
    };
    let want = sample(&mut c);
    for (k, n) in &acked {
        assert_eq!(want.get(k), Some(&n.to_string()));
    }
    assert_eq!(unexpected_warnings(&s), Vec::<String>::new());
    drop(c);
    s.terminate(Duration::from_secs(10));
    // Exactly one base and one incremental file remain.
    let files = snapshot_dir(&aof_dir(&keep));
    assert_eq!(files.len(), 3, "{:?}", files.keys());
    let s = start_on(Flavor::Redoubt, &keep, &[]);
    let mut c = s.client();
    assert_eq!(sample(&mut c), want);
    drop(c);
    drop(s);
    let _ = std::fs::remove_dir_all(keep);
}

#[test]
fn bgrewriteaof_replies_match_real_redis() {
    for flavor in [Flavor::Redoubt, Flavor::Redis] {
        let s = ServerHandle::start(flavor, &[]);
        let mut raw = s.raw();
        raw.cmd(&[b"DEBUG", b"POPULATE", b"1000"]);
        // Pipelined, so the first job is still running for the second.
        let mut out = Vec::new();
        raw.send(b"BGREWRITEAOF\r\nBGREWRITEAOF\r\nBGSAVE\r\n");
        for _ in 0..3 {
            out.push(String::from_utf8_lossy(&raw.read_reply().unwrap()).into_owned());
        }
        assert_eq!(
            out,
            vec![
                "+Background append only file rewriting started\r\n",
                "-ERR Background append only file rewriting already in progress\r\n",
                "-ERR Another child process is active (AOF?): can't BGSAVE right now. Use BGSAVE SCHEDULE in order to schedule a BGSAVE whenever possible.\r\n",
            ],
            "{flavor:?}"
        );
        let mut c = s.client();
        wait_rewrite_done(&mut c);
        raw.send(b"BGSAVE\r\nBGREWRITEAOF\r\n");
        let a = raw.read_reply().unwrap();
        let b = raw.read_reply().unwrap();
        assert_eq!(a, b"+Background saving started\r\n", "{flavor:?}");
        assert_eq!(
            b, b"+Background append only file rewriting scheduled\r\n",
            "{flavor:?}"
        );
        wait_rewrite_done(&mut c);
        assert_eq!(
            info_field(&mut c, "persistence", "aof_rewrites"),
            "2",
            "{flavor:?}"
        );
        // BGSAVE SCHEDULE during a rewrite; BGREWRITEAOF inside EXEC.
        raw.send(b"BGREWRITEAOF\r\nBGSAVE SCHEDULE\r\n");
        raw.read_reply().unwrap();
        assert_eq!(
            raw.read_reply().unwrap(),
            b"+Background saving scheduled\r\n",
            "{flavor:?}"
        );
        wait_rewrite_done(&mut c);
        wait_for("the scheduled BGSAVE", Duration::from_secs(20), || {
            info_field(&mut c, "persistence", "rdb_saves") == "2"
                && info_field(&mut c, "persistence", "rdb_bgsave_in_progress") == "0"
        });
        raw.send(b"MULTI\r\nBGREWRITEAOF\r\nEXEC\r\n");
        raw.read_reply().unwrap();
        raw.read_reply().unwrap();
        assert_eq!(
            raw.read_reply().unwrap(),
            b"*1\r\n+Background append only file rewriting scheduled\r\n",
            "{flavor:?}"
        );
        wait_for(
            "the rewrite scheduled by EXEC",
            Duration::from_secs(20),
            || info_field(&mut c, "persistence", "aof_rewrites") == "4",
        );
    }
}

#[test]
fn config_set_appendonly_yes_writes_a_base_first_and_info_reports_it() {
    let keep = temp_dir("aof-config");
    let d = keep.display().to_string();
    let s = ServerHandle::start(Flavor::Redoubt, &[("dir", &d)]);
    let mut c = s.client();
    q(&mut c, &["SET", "before", "1"]);
    assert_eq!(info_field(&mut c, "persistence", "aof_enabled"), "0");
    assert!(!info_field(&mut c, "persistence", "aof_rewrite_in_progress").is_empty());
    assert_eq!(info_field(&mut c, "persistence", "aof_current_size"), "");
    q(&mut c, &["CONFIG", "SET", "appendonly", "yes"]);
    wait_rewrite_done(&mut c);
    assert_eq!(info_field(&mut c, "persistence", "aof_enabled"), "1");
    q(&mut c, &["SET", "after", "2"]);
    // The write reaches the file on the writer thread, just after.
    wait_for(
        "aof_current_size to grow past aof_base_size",
        Duration::from_secs(5),
        || {
            let size: u64 = info_field(&mut c, "persistence", "aof_current_size")
                .parse()
                .unwrap();
            let base: u64 = info_field(&mut c, "persistence", "aof_base_size")
                .parse()
                .unwrap();
            size > base && base > 0
        },
    );
    for f in [
        "aof_pending_rewrite",
        "aof_buffer_length",
        "aof_pending_bio_fsync",
        "aof_delayed_fsync",
        "aof_last_write_status",
        "aof_rewrites_consecutive_failures",
        "module_fork_in_progress",
    ] {
        assert!(!info_field(&mut c, "persistence", f).is_empty(), "{f}");
    }
    // The base holds the data from before; the incremental file the rest.
    let base_file = listed(&keep, "b");
    assert!(std::fs::read(&base_file).unwrap().starts_with(b"REDIS"));
    let incr = std::fs::read_to_string(listed(&keep, "i")).unwrap();
    assert!(incr.contains("after") && !incr.contains("before"), "{incr}");
    q(&mut c, &["CONFIG", "SET", "appendonly", "no"]);
    assert_eq!(info_field(&mut c, "persistence", "aof_enabled"), "0");
    q(&mut c, &["SET", "ignored", "3"]);
    let incr = std::fs::read_to_string(listed(&keep, "i")).unwrap();
    assert!(!incr.contains("ignored"), "{incr}");
    drop(c);
    drop(s);
    let _ = std::fs::remove_dir_all(keep);
}

/// A directory with a good AOF (base + incremental) to damage.
fn good_aof_dir(tag: &str) -> PathBuf {
    let keep = temp_dir(tag);
    let mut s = start_on(Flavor::Redoubt, &keep, &[("appendfsync", "always")]);
    let mut c = s.client();
    fill(&mut c, "a");
    drop(c);
    s.terminate(Duration::from_secs(10));
    keep
}

#[test]
fn truncated_tail_is_dropped_with_aof_load_truncated_yes_and_refused_with_no() {
    let keep = good_aof_dir("aof-trunc");
    let incr = listed(&keep, "i");
    let good = std::fs::read(&incr).unwrap();
    let mut cut = good.clone();
    cut.extend_from_slice(b"*3\r\n$3\r\nSET\r\n$1\r\nq\r\n$5\r\nab");
    std::fs::write(&incr, &cut).unwrap();
    let before = snapshot_dir(&aof_dir(&keep));
    let (code, out) = start_failing(&keep, &["--aof-load-truncated", "no"]);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("Unexpected end of file reading the append only file"),
        "{out}"
    );
    assert!(
        out.contains(&format!("at offset {}", cut.len() - 2)),
        "{out}"
    );
    assert_eq!(snapshot_dir(&aof_dir(&keep)), before, "files changed");
    let s = start_on(Flavor::Redoubt, &keep, &[("aof-load-truncated", "yes")]);
    let log = s.log();
    assert!(
        log.contains(&format!(
            "!!! Truncating the AOF {} at offset {} !!!",
            incr.file_name().unwrap().to_string_lossy(),
            good.len()
        )),
        "{log}"
    );
    let mut c = s.client();
    assert_eq!(text(q(&mut c, &["GET", "sa"])), "hello");
    assert_eq!(text(q(&mut c, &["EXISTS", "q"])), "0");
    drop(c);
    drop(s);
    assert_eq!(&std::fs::read(&incr).unwrap()[..good.len()], &good[..]);
    let _ = std::fs::remove_dir_all(keep);
}

#[test]
fn damaged_aofs_stop_start_up_with_a_clear_message_and_nothing_deleted() {
    let keep = good_aof_dir("aof-bad");
    let incr = listed(&keep, "i");
    let base = listed(&keep, "b");
    let good_incr = std::fs::read(&incr).unwrap();
    let good_manifest = std::fs::read(manifest(&keep)).unwrap();
    // Garbage in the middle of the incremental file.
    let mut bad = good_incr[..20].to_vec();
    bad.extend_from_slice(b"xx\r\n");
    bad.extend_from_slice(&good_incr[20..]);
    std::fs::write(&incr, &bad).unwrap();
    type Damage<'a> = Box<dyn Fn() + 'a>;
    let cases: Vec<(&str, Damage, &str)> = vec![
        (
            "garbage in the middle",
            Box::new(|| {}),
            "Bad file format reading the append only file",
        ),
        (
            "missing base",
            Box::new(|| {
                std::fs::write(&incr, &good_incr).unwrap();
                std::fs::rename(&base, base.with_extension("moved")).unwrap();
            }),
            "Unable to obtain the AOF file",
        ),
        (
            "broken manifest",
            Box::new(|| {
                std::fs::rename(base.with_extension("moved"), &base).unwrap();
                std::fs::write(manifest(&keep), b"file x seq\n").unwrap();
            }),
            "Reading the manifest file, at line 1",
        ),
    ];
    for (what, damage, message) in cases {
        damage();
        let before = snapshot_dir(&aof_dir(&keep));
        let (code, out) = start_failing(&keep, &["--aof-load-truncated", "yes"]);
        assert_eq!(code, Some(1), "{what}: {out}");
        assert!(out.contains(message), "{what}: {out}");
        assert_eq!(
            snapshot_dir(&aof_dir(&keep)),
            before,
            "{what}: files changed"
        );
    }
    // Repaired, it loads again.
    std::fs::write(manifest(&keep), &good_manifest).unwrap();
    let s = start_on(Flavor::Redoubt, &keep, &[]);
    let mut c = s.client();
    assert_eq!(text(q(&mut c, &["GET", "sa"])), "hello");
    drop(c);
    drop(s);
    let _ = std::fs::remove_dir_all(keep);
}

#[test]
fn check_aof_fix_truncates_a_cut_tail_like_redis_check_aof() {
    let keep = good_aof_dir("aof-fix");
    let incr = listed(&keep, "i");
    let good = std::fs::read(&incr).unwrap();
    let mut cut = good.clone();
    cut.extend_from_slice(b"*2\r\n$3\r\nGET\r\n$3\r\nab");
    std::fs::write(&incr, &cut).unwrap();
    let ours = Command::new(redoubt_bin())
        .arg("check-aof")
        .arg(manifest(&keep))
        .output()
        .unwrap();
    let (_, theirs) = redis_check_aof(&manifest(&keep));
    let ours_text = String::from_utf8_lossy(&ours.stdout).into_owned();
    assert_eq!(ours.status.code(), Some(1));
    // The same verdict line as redis-check-aof, offsets included.
    let verdict = |t: &str| {
        t.lines()
            .filter(|l| l.starts_with("AOF analyzed") && l.contains(".incr."))
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        verdict(&ours_text),
        verdict(&theirs),
        "{ours_text}\n---\n{theirs}"
    );
    let mut fix = Command::new(redoubt_bin())
        .args(["check-aof", "--fix"])
        .arg(manifest(&keep))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    fix.stdin.take().unwrap().write_all(b"y\n").unwrap();
    let out = fix.wait_with_output().unwrap();
    let t = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{t}");
    assert!(t.contains("Successfully truncated AOF"), "{t}");
    assert_eq!(std::fs::read(&incr).unwrap(), good);
    let (ok, report) = redis_check_aof(&manifest(&keep));
    assert!(ok, "{report}");
    let _ = std::fs::remove_dir_all(keep);
}

#[test]
fn auto_rewrite_starts_when_the_aof_doubles_past_the_min_size() {
    let keep = temp_dir("aof-auto");
    let s = start_on(
        Flavor::Redoubt,
        &keep,
        &[
            ("auto-aof-rewrite-percentage", "100"),
            ("auto-aof-rewrite-min-size", "65536"),
        ],
    );
    let mut c = s.client();
    let value = "v".repeat(1000);
    for i in 0..100 {
        q(&mut c, &["SET", &format!("k{i}"), &value]);
    }
    // Counted when a rewrite starts, as Redis counts it; one that ends
    // with the incremental file already as big as the new base starts
    // another.
    wait_for("an automatic rewrite", Duration::from_secs(10), || {
        info_field(&mut c, "persistence", "aof_rewrites") != "0"
    });
    let log = s.log();
    assert!(
        log.contains("Starting automatic rewriting of AOF on"),
        "{log}"
    );
    assert_eq!(unexpected_warnings(&s), Vec::<String>::new());
    wait_rewrite_done(&mut c);
    let size: u64 = info_field(&mut c, "persistence", "aof_current_size")
        .parse()
        .unwrap();
    assert_eq!(
        info_field(&mut c, "persistence", "aof_base_size"),
        size.to_string()
    );
    drop(c);
    drop(s);
    let _ = std::fs::remove_dir_all(keep);
}

#[test]
fn a_replica_with_appendonly_rewrites_its_aof_after_a_full_sync() {
    let m = ServerHandle::start(Flavor::Redoubt, &[]);
    let mut mc = m.client();
    fill(&mut mc, "m");
    let keep = temp_dir("aof-replica");
    let mut r = start_on(Flavor::Redoubt, &keep, &[]);
    let mut rc = r.client();
    q(&mut rc, &["SET", "stale", "gone after the sync"]);
    q(&mut rc, &["REPLICAOF", "127.0.0.1", &m.port.to_string()]);
    wait_for("the replica to sync", Duration::from_secs(10), || {
        text(q(&mut rc, &["GET", "sm"])) == "hello"
    });
    q(&mut mc, &["SET", "streamed", "1"]);
    wait_for("the stream to arrive", Duration::from_secs(10), || {
        text(q(&mut rc, &["GET", "streamed"])) == "1"
    });
    wait_rewrite_done(&mut rc);
    let want = dataset(&mut mc);
    drop(rc);
    r.terminate(Duration::from_secs(10));
    // Restarted alone, it holds what it had from its master, nothing else.
    let r = start_on(Flavor::Redoubt, &keep, &[]);
    let mut rc = r.client();
    assert_eq!(dataset(&mut rc), want);
    drop(rc);
    drop(r);
    let _ = std::fs::remove_dir_all(keep);
}

#[test]
fn with_appendonly_yes_the_aof_wins_over_the_rdb() {
    for flavor in [Flavor::Redoubt, Flavor::Redis] {
        let keep = temp_dir("aof-wins");
        let d = keep.display().to_string();
        let mut s = ServerHandle::start(flavor, &[("dir", &d)]);
        let mut c = s.client();
        q(&mut c, &["SET", "fromrdb", "1"]);
        q(&mut c, &["SAVE"]);
        drop(c);
        s.kill();
        // No AOF yet: the RDB is not loaded, an empty AOF is created.
        let mut s = start_on(flavor, &keep, &[]);
        let mut c = s.client();
        assert_eq!(text(q(&mut c, &["DBSIZE"])), "0", "{flavor:?}");
        q(&mut c, &["SET", "fromaof", "1"]);
        drop(c);
        s.terminate(Duration::from_secs(10));
        let s = start_on(flavor, &keep, &[]);
        let mut c = s.client();
        assert_eq!(text(q(&mut c, &["KEYS", "*"])), "[fromaof]", "{flavor:?}");
        drop(c);
        drop(s);
        let _ = std::fs::remove_dir_all(keep);
    }
}

#[test]
fn info_persistence_lists_the_same_fields_as_redis() {
    let names = |flavor: Flavor, appendonly: &str| {
        let keep = temp_dir("aof-info");
        let d = keep.display().to_string();
        let s = ServerHandle::start(flavor, &[("dir", &d), ("appendonly", appendonly)]);
        let mut c = s.client();
        let info = text(q(&mut c, &["INFO", "persistence"]));
        drop(c);
        drop(s);
        let _ = std::fs::remove_dir_all(keep);
        info.lines()
            .filter_map(|l| l.split_once(':').map(|(k, _)| k.to_string()))
            .collect::<Vec<_>>()
    };
    for appendonly in ["no", "yes"] {
        assert_eq!(
            names(Flavor::Redoubt, appendonly),
            names(Flavor::Redis, appendonly),
            "appendonly {appendonly}"
        );
    }
}

/// Starts a server in `dir` whose files may not grow past 64 KiB
/// (`ulimit -f`, SIGXFSZ ignored), so AOF writes fail as on a full disk.
fn start_with_small_file_limit(flavor: Flavor, dir: &Path) -> ServerHandle {
    // The shell sets the limit, then becomes the server: `exec` keeps the
    // pid the launcher knows.
    let mut program: Vec<String> = ["sh", "-c", "trap '' XFSZ; ulimit -f 64; exec \"$@\"", "sh"]
        .map(String::from)
        .to_vec();
    program.extend(flavor.program(Kind::Server));
    let launch = Launch::server(program, dir).directives(&[("save", ""), ("appendonly", "yes")]);
    ServerHandle::launch(flavor, &launch)
}

#[test]
fn writes_are_refused_with_misconf_while_the_aof_cannot_be_written() {
    for flavor in [Flavor::Redoubt, Flavor::Redis] {
        let keep = temp_dir("aof-full");
        let s = start_with_small_file_limit(flavor, &keep);
        let mut raw = s.raw();
        let big = vec![b'x'; 20_000];
        let mut replies = Vec::new();
        for i in 0..6 {
            let key = format!("k{i}");
            let r = raw.cmd(&[b"SET", key.as_bytes(), &big]);
            replies.push(String::from_utf8_lossy(&r).into_owned());
            // The write reaches the file (and fails) just after the reply.
            std::thread::sleep(Duration::from_millis(200));
        }
        let refused = replies
            .iter()
            .filter(|r| r.starts_with("-MISCONF Errors writing to the AOF file: "))
            .count();
        assert!(refused >= 2, "{flavor:?}: {replies:?}");
        let ping = String::from_utf8_lossy(&raw.cmd(&[b"PING"])).into_owned();
        assert!(
            ping.starts_with("-MISCONF Errors writing to the AOF file: "),
            "{flavor:?}: {ping}"
        );
        // Reads still work.
        assert_eq!(raw.cmd(&[b"STRLEN", b"k0"]), b":20000\r\n", "{flavor:?}");
        let info = String::from_utf8_lossy(&raw.cmd(&[b"INFO", b"persistence"])).into_owned();
        assert!(
            info.contains("aof_last_write_status:err"),
            "{flavor:?}: {info}"
        );
    }
}

#[test]
fn check_aof_reports_single_files_like_redis_check_aof() {
    let dir = temp_dir("aof-check");
    let select = "*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n";
    let cases: Vec<(&str, String, bool)> = vec![
        // (name, contents, whole output identical)
        (
            "ok-ts",
            format!("#TS:1\r\n{select}*1\r\n$4\r\nPING\r\n"),
            true,
        ),
        (
            "multi-at-eof",
            format!("#TS:1\r\n{select}*1\r\n$5\r\nMULTI\r\n*2\r\n$3\r\nGET\r\n$1\r\na\r\n"),
            true,
        ),
        ("lone-exec", format!("{select}*1\r\n$4\r\nEXEC\r\n"), true),
        (
            "double-multi",
            format!("{select}*1\r\n$5\r\nMULTI\r\n*1\r\n$5\r\nMULTI\r\n"),
            true,
        ),
        ("cut-in-arg", format!("{select}*1\r\n$4\r\nPI"), true),
        ("garbage", format!("{select}garbage\r\n"), true),
        ("cut-after-argc", format!("{select}*1\r\n"), false),
        ("bad-argc", format!("{select}*x\r\n"), false),
    ];
    for (name, contents, exact) in cases {
        let path = dir.join(format!("{name}.aof"));
        std::fs::write(&path, contents).unwrap();
        let run = |cmd: &mut Command| {
            let out = cmd.current_dir(&dir).output().unwrap();
            (
                out.status.code(),
                String::from_utf8_lossy(&out.stdout).into_owned(),
            )
        };
        let file = format!("{name}.aof");
        let ours = run(Command::new(redoubt_bin()).args(["check-aof", &file]));
        let theirs = run(Command::new("redis-check-aof").arg(&file));
        if exact {
            assert_eq!(ours, theirs, "{name}");
        } else {
            let key = |t: &str| {
                t.lines()
                    .filter(|l| !l.starts_with("0x"))
                    .map(str::to_string)
                    .collect::<Vec<_>>()
            };
            assert_eq!(ours.0, theirs.0, "{name}");
            assert_eq!(key(&ours.1), key(&theirs.1), "{name}");
        }
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn an_unlisted_file_left_by_a_crash_is_not_replayed() {
    let keep = good_aof_dir("aof-leftover");
    // A run that turned the AOF on and crashed before its first base left
    // the next incremental file behind, never listed in the manifest.
    let leftover = aof_dir(&keep).join("appendonly.aof.2.incr.aof");
    std::fs::write(&leftover, b"*3\r\n$3\r\nSET\r\n$4\r\njunk\r\n$1\r\n1\r\n").unwrap();
    let d = keep.display().to_string();
    let mut s = ServerHandle::start(Flavor::Redoubt, &[("dir", &d)]);
    let mut c = s.client();
    q(&mut c, &["SET", "x", "1"]);
    q(&mut c, &["CONFIG", "SET", "appendonly", "yes"]);
    wait_rewrite_done(&mut c);
    q(&mut c, &["SET", "y", "2"]);
    drop(c);
    s.terminate(Duration::from_secs(10));
    let s = start_on(Flavor::Redoubt, &keep, &[]);
    let mut c = s.client();
    assert_eq!(text(q(&mut c, &["EXISTS", "junk"])), "0");
    assert_eq!(text(q(&mut c, &["MGET", "x", "y"])), "[1,2]");
    drop(c);
    drop(s);
    let _ = std::fs::remove_dir_all(keep);
}

/// Starts `flavor` on `dir` with the AOF on, expecting start-up to fail;
/// returns the exit code and the messages it logged (the log prefix
/// `pid:role date level ` cut off, blank lines dropped).
fn start_failing_as(flavor: Flavor, dir: &Path) -> (Option<i32>, Vec<String>) {
    let (code, out) = match flavor {
        Flavor::Redoubt => start_failing(dir, &[]),
        Flavor::Redis => {
            let port = crate::harness::free_port().to_string();
            let out = Command::new("timeout")
                .args(["20", "redis-server", "--port", &port, "--bind", "127.0.0.1"])
                .args(["--save", "", "--appendonly", "yes", "--dir"])
                .arg(dir)
                .output()
                .unwrap();
            (out.status.code(), crate::harness::output_text(&out))
        }
    };
    let messages = out
        .lines()
        .map(|l| match l.find(['#', '*']) {
            // "12:M 07 Dec 2026 08:13:42.913 # message"
            Some(i) if l[..i].contains(':') => l[i + 1..].trim_start().to_string(),
            _ => l.to_string(),
        })
        .filter(|m| !m.trim().is_empty())
        .collect();
    (code, messages)
}

/// The manifest's lines.
fn manifest_lines(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(manifest(dir))
        .unwrap_or_default()
        .lines()
        .map(String::from)
        .collect()
}

/// The file names in `appenddirname`, sorted.
fn aof_files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(aof_dir(dir))
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn broken_manifests_stop_start_up_with_redis_s_lines() {
    // The suite counts lines such as "Invalid AOF manifest file format":
    // each failure logs its fatal block once, in Redis's words.
    let long = format!("file {} seq 1 type b\n", "x".repeat(1100));
    let cases: &[&str] = &[
        "",
        "file appendonly.aof.1.incr.aof seq 1 type i\n\nfile appendonly.aof.3.incr.aof seq 3 type i\n",
        "file appendonly.aof.2.incr.aof seq 2 type i\nfile appendonly.aof.1.incr.aof seq 1 type i\n",
        "file a.1.base.aof seq 1 type b\nfile a.2.base.aof seq 2 type b\n",
        "file appendonly.aof.1.base.aof seq 1 type x\n",
        "filx appendonly.aof.1.base.aof seq 1 type b\n",
        "file appendonly.aof.1.incr.aof type i\n",
        "file appendonly.aof.1.incr.aof seq 1 type i newkey\n",
        "file ../x seq 1 type i\n",
        &long,
    ];
    let fatal = |messages: &[String]| -> Vec<String> {
        let from = messages
            .iter()
            .position(|m| m.contains("FATAL AOF MANIFEST FILE ERROR"))
            .unwrap_or(messages.len());
        messages[from..].to_vec()
    };
    for text in cases {
        let mut seen = Vec::new();
        for flavor in [Flavor::Redis, Flavor::Redoubt] {
            let keep = temp_dir("aof-manifest-bad");
            std::fs::create_dir_all(aof_dir(&keep)).unwrap();
            std::fs::write(manifest(&keep), text).unwrap();
            let (code, messages) = start_failing_as(flavor, &keep);
            assert_eq!(code, Some(1), "{flavor:?} {text:?}: {messages:?}");
            seen.push(fatal(&messages));
            let _ = std::fs::remove_dir_all(keep);
        }
        assert!(!seen[0].is_empty(), "{text:?}");
        assert_eq!(seen[0], seen[1], "{text:?}");
    }
}

#[test]
fn an_old_single_file_aof_is_moved_into_the_aof_dir_as_redis_does() {
    let old =
        b"*3\r\n$3\r\nset\r\n$2\r\nk1\r\n$2\r\nv1\r\n*3\r\n$3\r\nset\r\n$2\r\nk2\r\n$2\r\nv2\r\n";
    let mut seen = Vec::new();
    for flavor in [Flavor::Redis, Flavor::Redoubt] {
        let keep = temp_dir("aof-upgrade");
        std::fs::write(keep.join("appendonly.aof"), old).unwrap();
        let s = start_on(flavor, &keep, &[]);
        let mut c = s.client();
        assert_eq!(
            text(q(&mut c, &["MGET", "k1", "k2"])),
            "[v1,v2]",
            "{flavor:?}"
        );
        let moved = (
            keep.join("appendonly.aof").exists(),
            aof_files(&keep),
            manifest_lines(&keep),
        );
        q(&mut c, &["SET", "k3", "v3"]);
        q(&mut c, &["BGREWRITEAOF"]);
        wait_rewrite_done(&mut c);
        wait_for("the history files to go", Duration::from_secs(10), || {
            aof_files(&keep).len() == 3
        });
        seen.push((moved, manifest_lines(&keep), aof_files(&keep)));
        drop(c);
        drop(s);
        let _ = std::fs::remove_dir_all(keep);
    }
    assert_eq!(seen[0], seen[1]);
    assert_eq!(
        seen[1].0 .2,
        [
            "file appendonly.aof seq 1 type b",
            "file appendonly.aof.1.incr.aof seq 1 type i"
        ]
    );
}

/// Rewrites with the AOF on and off, turning it on and off, keeping
/// history with auto gc off and `DEBUG LOADAOF` in between: the manifest
/// after each step is what Redis writes.
#[test]
fn manifests_follow_redis_through_rewrites_and_switches() {
    let mut seen = Vec::new();
    for flavor in [Flavor::Redis, Flavor::Redoubt] {
        let keep = temp_dir("aof-seq");
        let d = keep.display().to_string();
        let s = ServerHandle::start(flavor, &[("dir", &d), ("auto-aof-rewrite-percentage", "0")]);
        let mut c = s.client();
        let mut steps = Vec::new();
        let mut step = |c: &mut redis::Connection, what: &str, cmds: &[&[&str]]| {
            for cmd in cmds {
                q(c, cmd);
            }
            wait_rewrite_done(c);
            steps.push((what.to_string(), manifest_lines(&keep)));
        };
        q(&mut c, &["SET", "a", "1"]);
        step(
            &mut c,
            "turned on",
            &[&["CONFIG", "SET", "appendonly", "yes"]],
        );
        q(&mut c, &["INCR", "a"]);
        step(&mut c, "rewrite", &[&["BGREWRITEAOF"]]);
        step(
            &mut c,
            "two rewrites keeping history",
            &[
                &["CONFIG", "SET", "aof-disable-auto-gc", "yes"],
                &["BGREWRITEAOF"],
            ],
        );
        step(&mut c, "", &[&["BGREWRITEAOF"]]);
        step(
            &mut c,
            "auto gc back on",
            &[&["CONFIG", "SET", "aof-disable-auto-gc", "no"]],
        );
        step(
            &mut c,
            "reload",
            &[&["DEBUG", "LOADAOF"], &["BGREWRITEAOF"]],
        );
        step(
            &mut c,
            "rewrite with the AOF off",
            &[&["CONFIG", "SET", "appendonly", "no"], &["BGREWRITEAOF"]],
        );
        q(&mut c, &["DEBUG", "LOADAOF"]);
        step(
            &mut c,
            "turned on again",
            &[&["CONFIG", "SET", "appendonly", "yes"]],
        );
        assert_eq!(text(q(&mut c, &["GET", "a"])), "2", "{flavor:?}");
        wait_for("the history files to go", Duration::from_secs(10), || {
            aof_files(&keep).len() == 3
        });
        seen.push((steps, aof_files(&keep)));
        drop(c);
        drop(s);
        let _ = std::fs::remove_dir_all(keep);
    }
    assert_eq!(seen[0], seen[1]);
}

#[test]
fn a_past_expire_in_the_aof_applies_after_loading_as_in_redis() {
    // RPUSH, PEXPIREAT 1000 (long past), RPUSH again: the second push
    // goes to the same key (nothing expires while loading), which is
    // expired once loaded.
    let incr = b"*3\r\n$5\r\nrpush\r\n$4\r\nlist\r\n$3\r\nfoo\r\n\
*3\r\n$9\r\npexpireat\r\n$4\r\nlist\r\n$4\r\n1000\r\n\
*3\r\n$5\r\nrpush\r\n$4\r\nlist\r\n$3\r\nbar\r\n";
    for flavor in [Flavor::Redis, Flavor::Redoubt] {
        let keep = temp_dir("aof-expire");
        std::fs::create_dir_all(aof_dir(&keep)).unwrap();
        std::fs::write(aof_dir(&keep).join("appendonly.aof.1.incr.aof"), incr).unwrap();
        std::fs::write(
            manifest(&keep),
            "file appendonly.aof.1.incr.aof seq 1 type i\n",
        )
        .unwrap();
        let s = start_on(flavor, &keep, &[]);
        let mut c = s.client();
        assert_eq!(text(q(&mut c, &["LLEN", "list"])), "0", "{flavor:?}");
        drop(c);
        drop(s);
        let _ = std::fs::remove_dir_all(keep);
    }
}

/// Makes every rewrite of `s` fail: a directory where the rewrite's
/// temporary base must be renamed to (Redis's test suite kills the
/// rewrite's child process instead; Redoubt has none). Returns it.
fn block_rewrites(s: &ServerHandle, dir: &Path) -> PathBuf {
    let pid = s.pid().expect("server pid");
    let blocker = dir.join(format!("temp-rewriteaof-bg-{pid}.aof"));
    std::fs::create_dir_all(blocker.join("in-the-way")).unwrap();
    blocker
}

#[test]
fn failed_rewrites_keep_their_incr_files_and_then_hold_automatic_rewrites_back() {
    let keep = temp_dir("aof-fail");
    let s = start_on(
        Flavor::Redoubt,
        &keep,
        &[("auto-aof-rewrite-percentage", "0")],
    );
    let mut c = s.client();
    let blocker = block_rewrites(&s, &keep);
    for _ in 0..3 {
        q(&mut c, &["BGREWRITEAOF"]);
        wait_rewrite_done(&mut c);
    }
    assert_eq!(
        info_field(&mut c, "persistence", "aof_last_bgrewrite_status"),
        "err"
    );
    assert_eq!(
        info_field(&mut c, "persistence", "aof_rewrites_consecutive_failures"),
        "3"
    );
    // Each failed rewrite left the incremental file it opened, as Redis's.
    let after_failures = manifest_lines(&keep);
    assert_eq!(
        after_failures,
        [
            "file appendonly.aof.1.base.rdb seq 1 type b",
            "file appendonly.aof.1.incr.aof seq 1 type i",
            "file appendonly.aof.2.incr.aof seq 2 type i",
            "file appendonly.aof.3.incr.aof seq 3 type i",
            "file appendonly.aof.4.incr.aof seq 4 type i",
        ]
    );
    // Growth would start a rewrite now; the limit holds it back.
    q(
        &mut c,
        &["CONFIG", "SET", "auto-aof-rewrite-percentage", "1"],
    );
    q(
        &mut c,
        &["CONFIG", "SET", "auto-aof-rewrite-min-size", "1kb"],
    );
    q(&mut c, &["SET", "x", &"x".repeat(2048)]);
    wait_for("the rewrite limit", Duration::from_secs(10), || {
        s.log()
            .contains("Background AOF rewrite has repeatedly failed and triggered the limit, will retry in 1 minutes")
    });
    assert_eq!(
        info_field(&mut c, "persistence", "aof_rewrite_in_progress"),
        "0"
    );
    assert_eq!(manifest_lines(&keep), after_failures);
    // By hand it runs at once, and replaces every incremental file.
    q(
        &mut c,
        &["CONFIG", "SET", "auto-aof-rewrite-percentage", "0"],
    );
    std::fs::remove_dir_all(&blocker).unwrap();
    q(&mut c, &["BGREWRITEAOF"]);
    wait_rewrite_done(&mut c);
    assert_eq!(
        manifest_lines(&keep),
        [
            "file appendonly.aof.2.base.rdb seq 2 type b",
            "file appendonly.aof.5.incr.aof seq 5 type i",
        ]
    );
    q(&mut c, &["DEBUG", "LOADAOF"]);
    assert_eq!(text(q(&mut c, &["STRLEN", "x"])), "2048");
    drop(c);
    drop(s);
    let _ = std::fs::remove_dir_all(keep);
}

#[test]
fn turning_the_aof_on_collects_writes_in_a_temp_incr_file_until_a_rewrite_succeeds() {
    let keep = temp_dir("aof-temp-incr");
    let d = keep.display().to_string();
    let s = ServerHandle::start(Flavor::Redoubt, &[("dir", &d)]);
    let mut c = s.client();
    q(&mut c, &["SET", "a", "1"]);
    let blocker = block_rewrites(&s, &keep);
    q(&mut c, &["CONFIG", "SET", "appendonly", "yes"]);
    let removed = "Removing the temp incr aof file temp-appendonly.aof.incr in the background";
    wait_for("the first rewrite to fail", Duration::from_secs(10), || {
        s.log().contains(removed)
    });
    // Nothing is listed until a base exists.
    assert!(!manifest(&keep).exists());
    std::fs::remove_dir_all(&blocker).unwrap();
    // The retry is scheduled; by hand it starts at once (unless the
    // scheduled one already did).
    let raw = redis::cmd("BGREWRITEAOF");
    let _: redis::RedisResult<redis::Value> = raw.query(&mut c);
    wait_for("the AOF to be on", Duration::from_secs(30), || {
        info_field(&mut c, "persistence", "aof_enabled") == "1"
            && info_field(&mut c, "persistence", "aof_rewrite_in_progress") == "0"
            && info_field(&mut c, "persistence", "aof_last_bgrewrite_status") == "ok"
    });
    assert!(s.log().contains(
        "Successfully renamed the temporary AOF incr file temp-appendonly.aof.incr into appendonly.aof.1.incr.aof"
    ));
    assert_eq!(
        manifest_lines(&keep),
        [
            "file appendonly.aof.1.base.rdb seq 1 type b",
            "file appendonly.aof.1.incr.aof seq 1 type i",
        ]
    );
    q(&mut c, &["SET", "b", "2"]);
    q(&mut c, &["DEBUG", "LOADAOF"]);
    assert_eq!(text(q(&mut c, &["MGET", "a", "b"])), "[1,2]");
    drop(c);
    drop(s);
    let _ = std::fs::remove_dir_all(keep);
}
