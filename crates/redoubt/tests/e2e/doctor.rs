//! `redoubt doctor` against deliberately broken set-ups built from real
//! processes (Redoubt, and Debian's redis-server / redis-sentinel): one
//! test per finding, and healthy topologies (Redoubt and real Redis) on
//! which nothing is reported.

use crate::harness::{
    free_port, heavy, redoubt_bin, start_replica, temp_dir, wait_for, Flavor, ServerHandle,
};
use std::process::Command;
use std::time::Duration;
use topology::{Spec, Topology};

/// Host checks that depend on this machine's kernel settings, not on the
/// set-up under test.
const HOST_ONLY: &[&str] = &["overcommit", "transparent-huge-pages"];

struct Report {
    code: i32,
    json: String,
}

impl Report {
    fn checks(&self) -> Vec<String> {
        self.json
            .split("\"check\":\"")
            .skip(1)
            .filter_map(|s| s.split('"').next())
            .map(String::from)
            .collect()
    }
    fn has(&self, check: &str) -> bool {
        self.checks().iter().any(|c| c == check)
    }
    fn assert_has(&self, check: &str) {
        assert!(
            self.has(check),
            "doctor did not report `{check}`:\n{}",
            self.json
        );
    }
    /// The findings about the set-up, leaving out this host's kernel.
    fn setup_checks(&self) -> Vec<String> {
        self.checks()
            .into_iter()
            .filter(|c| !HOST_ONLY.contains(&c.as_str()))
            .collect()
    }
}

fn doctor(args: &[&str]) -> Report {
    let out = Command::new(redoubt_bin())
        .arg("doctor")
        .arg("--json")
        .args(args)
        .output()
        .unwrap();
    let json = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        json.starts_with('{'),
        "no JSON: {json}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Report {
        code: out.status.code().unwrap_or(-1),
        json,
    }
}

fn addr(s: &ServerHandle) -> String {
    s.addr().to_string()
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// A whole topology through the same launcher as `redoubt up`, on free
/// ports in a folder removed with it: Redoubt servers get Redoubt
/// sentinels, redis-server gets redis-sentinel.
fn topology(
    servers: &[&str],
    replicas: u16,
    sentinels: u16,
    quorum: u16,
    extra: &[(&str, &str)],
) -> Topology {
    let mut spec = Spec::new(
        temp_dir("doctor-topology"),
        servers.iter().map(|s| s.to_string()).collect(),
        // Real Redis with real sentinels; Redoubt with Redoubt's.
        if servers[0] == "redis-server" {
            vec!["redis-sentinel".into()]
        } else {
            vec![redoubt_bin().into(), "sentinel".into()]
        },
    );
    spec.replicas = replicas;
    spec.sentinels = sentinels;
    spec.quorum = quorum;
    spec.down_after_ms = 1000;
    spec.extra = extra
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    rt().block_on(Topology::start_on_free_ports(spec, Duration::from_secs(60)))
        .unwrap()
}

fn topo_args(t: &Topology) -> Vec<String> {
    let mut a: Vec<String> = Vec::new();
    for s in t.sentinels() {
        a.push("--sentinel".into());
        a.push(s.addr());
    }
    a.push(format!("127.0.0.1:{}", t.spec.port));
    a.push("--sample-ms".into());
    a.push("300".into());
    a
}

fn run_on(t: &Topology, more: &[&str]) -> Report {
    let mut a = topo_args(t);
    a.extend(more.iter().map(|s| s.to_string()));
    let refs: Vec<&str> = a.iter().map(String::as_str).collect();
    doctor(&refs)
}

fn redoubt_server() -> Vec<&'static str> {
    vec![redoubt_bin(), "server"]
}

#[test]
fn doctor_reports_nothing_on_a_healthy_redoubt_topology() {
    let _heavy = heavy();
    let t = topology(&redoubt_server(), 2, 3, 2, &[]);
    let r = run_on(&t, &[]);
    assert_eq!(r.checks(), Vec::<String>::new(), "{}", r.json);
    assert_eq!(r.code, 0);
    assert!(r.json.contains("Redoubt"), "{}", r.json);
}

#[test]
fn doctor_reports_nothing_on_a_healthy_real_redis_topology_but_this_hosts_kernel() {
    let _heavy = heavy();
    let t = topology(&["redis-server"], 2, 3, 2, &[]);
    let r = run_on(&t, &[]);
    assert_eq!(r.setup_checks(), Vec::<String>::new(), "{}", r.json);
    assert_eq!(
        r.json.matches("\"role\":\"replica\"").count(),
        2,
        "replicas discovered: {}",
        r.json
    );
    // The kernel checks apply to real Redis masters and follow this host.
    let overcommit = std::fs::read_to_string("/proc/sys/vm/overcommit_memory").unwrap_or_default();
    assert_eq!(r.has("overcommit"), overcommit.trim() != "1", "{}", r.json);
    let thp =
        std::fs::read_to_string("/sys/kernel/mm/transparent_hugepage/enabled").unwrap_or_default();
    assert_eq!(
        r.has("transparent-huge-pages"),
        thp.contains("[always]"),
        "{}",
        r.json
    );
}

#[test]
fn doctor_finds_a_node_it_cannot_reach() {
    let _heavy = heavy();
    let r = doctor(&[&format!("127.0.0.1:{}", free_port())]);
    r.assert_has("unreachable");
    assert_eq!(r.code, 2);
}

#[test]
fn doctor_finds_a_master_bound_where_its_replica_cannot_reach_it() {
    let _heavy = heavy();
    let m = ServerHandle::start(Flavor::Redoubt, &[]);
    let to = format!("127.0.0.2 {}", m.port);
    let r = ServerHandle::start(Flavor::Redoubt, &[("replicaof", &to)]);
    wait_for(
        "the replica's failed attempt to reach 127.0.0.2",
        Duration::from_secs(10),
        || r.log().contains("Error condition on socket for SYNC"),
    );
    let rep = doctor(&[&addr(&m), &addr(&r), "--sample-ms", "0"]);
    rep.assert_has("bind");
    rep.assert_has("link-down");
    assert!(
        rep.json.contains("`bind 127.0.0.1 127.0.0.2`"),
        "{}",
        rep.json
    );
    assert_eq!(rep.code, 2);
}

/// The replica connects from 127.0.0.2 (`bind-source-addr`, a real
/// Redis replica), which protected mode treats as another host.
#[test]
fn doctor_finds_protected_mode_refusing_a_replica_on_redis_and_redoubt_masters() {
    let _heavy = heavy();
    for flavor in [Flavor::Redis, Flavor::Redoubt] {
        let m = ServerHandle::start(
            flavor,
            &[("bind", "127.0.0.1 127.0.0.2"), ("protected-mode", "yes")],
        );
        let to = format!("127.0.0.2 {}", m.port);
        let r = ServerHandle::start(
            Flavor::Redis,
            &[
                ("bind", "127.0.0.1 127.0.0.2"),
                ("bind-source-addr", "127.0.0.2"),
                ("replicaof", &to),
            ],
        );
        wait_for(
            "the replica's log to show -DENIED",
            Duration::from_secs(10),
            || r.log().contains("DENIED"),
        );
        let rep = doctor(&[&addr(&m), &addr(&r), "--sample-ms", "0"]);
        rep.assert_has("protected-mode");
        rep.assert_has("link-down");
        assert!(
            rep.json.contains("its log says"),
            "{flavor:?}: {}",
            rep.json
        );
    }
}

#[test]
fn doctor_finds_a_masterauth_that_does_not_match_requirepass() {
    let _heavy = heavy();
    let m = ServerHandle::start(Flavor::Redoubt, &[("requirepass", "right")]);
    let r = ServerHandle::start(
        Flavor::Redoubt,
        &[("replicaof", &m.replicaof()), ("masterauth", "wrong")],
    );
    wait_for(
        "the replica's refused AUTH",
        Duration::from_secs(10),
        || r.log().contains("Unable to AUTH to MASTER"),
    );
    let rep = doctor(&[
        "--password",
        "right",
        &addr(&m),
        &addr(&r),
        "--sample-ms",
        "0",
    ]);
    rep.assert_has("auth-mismatch");
    rep.assert_has("link-down");
    assert!(
        !rep.json.contains("\"right\""),
        "doctor must not print passwords: {}",
        rep.json
    );
}

#[test]
fn doctor_finds_a_replica_far_behind() {
    let _heavy = heavy();
    let m = ServerHandle::start(Flavor::Redoubt, &[]);
    let r = start_replica(Flavor::Redoubt, &m, &[]);
    r.signal(libc::SIGSTOP);
    let big = "x".repeat(3 << 20);
    let _: () = redis::cmd("SET")
        .arg("big")
        .arg(&big)
        .query(&mut m.client())
        .unwrap();
    let rep = doctor(&[&addr(&m), "--sample-ms", "0"]);
    r.signal(libc::SIGCONT);
    rep.assert_has("replica-lag");
}

/// Writes about 200 KB/s to `port` until `stop` is set.
fn writer(
    port: u16,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut c = redis::Client::open(format!("redis://127.0.0.1:{port}/"))
            .unwrap()
            .get_connection()
            .unwrap();
        let v = "v".repeat(2000);
        let mut i = 0u64;
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            let _: redis::RedisResult<()> = redis::cmd("SET")
                .arg(format!("k{}", i % 100))
                .arg(&v)
                .query(&mut c);
            i += 1;
            std::thread::sleep(Duration::from_millis(10));
        }
    })
}

fn doctor_while_writing(m: &ServerHandle) -> Report {
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let w = writer(m.port, stop.clone());
    let rep = doctor(&[&addr(m), "--sample-ms", "1000"]);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let _ = w.join();
    rep
}

#[test]
fn doctor_finds_a_backlog_too_small_for_the_write_rate() {
    let _heavy = heavy();
    let m = ServerHandle::start(Flavor::Redoubt, &[("repl-backlog-size", "16kb")]);
    let _replica = start_replica(Flavor::Redoubt, &m, &[]);
    let rep = doctor_while_writing(&m);
    rep.assert_has("backlog-small");
    assert!(rep.json.contains("`repl-backlog-size "), "{}", rep.json);
}

#[test]
fn doctor_finds_a_replica_output_buffer_too_small_for_a_full_sync() {
    let _heavy = heavy();
    let m = ServerHandle::start(
        Flavor::Redis,
        &[("client-output-buffer-limit", "replica 1mb 512kb 10")],
    );
    let _replica = start_replica(Flavor::Redis, &m, &[]);
    let rep = doctor_while_writing(&m);
    rep.assert_has("output-buffer-low");
    assert!(
        rep.json.contains("`client-output-buffer-limit replica "),
        "{}",
        rep.json
    );
}

#[test]
fn doctor_finds_mixed_server_software() {
    let _heavy = heavy();
    let m = ServerHandle::start(Flavor::Redis, &[]);
    let _replica = start_replica(Flavor::Redoubt, &m, &[]);
    let rep = doctor(&[&addr(&m), "--sample-ms", "0"]);
    rep.assert_has("versions");
    assert!(
        rep.json.contains("Redoubt") && rep.json.contains("Redis 7.0"),
        "{}",
        rep.json
    );
}

#[test]
fn doctor_finds_a_sentinel_managed_master_without_min_replicas() {
    let _heavy = heavy();
    let t = topology(
        &["redis-server"],
        1,
        1,
        1,
        &[("min-replicas-to-write", "0")],
    );
    let r = run_on(&t, &[]);
    r.assert_has("min-replicas");
}

#[test]
fn doctor_finds_a_quorum_the_remaining_sentinels_cannot_reach() {
    let _heavy = heavy();
    let t = topology(&redoubt_server(), 1, 3, 2, &[]);
    let ports: Vec<u16> = t.sentinels().map(|s| s.port).collect();
    t.signal(ports[1], libc::SIGKILL);
    t.signal(ports[2], libc::SIGKILL);
    let s0 = format!("127.0.0.1:{}", ports[0]);
    let mut last = None;
    wait_for(
        "CKQUORUM to fail on the last sentinel",
        Duration::from_secs(20),
        || {
            let r = doctor(&["--sentinel", &s0, "--sample-ms", "0"]);
            let found = r.has("quorum");
            last = Some(r);
            found
        },
    );
    let r = last.unwrap();
    assert_eq!(r.code, 2, "{}", r.json);
}

#[test]
fn doctor_finds_sentinels_naming_different_masters() {
    let _heavy = heavy();
    let a = topology(&redoubt_server(), 0, 1, 1, &[]);
    let b = topology(&redoubt_server(), 0, 1, 1, &[]);
    let sa = a.sentinels().next().unwrap().addr();
    let sb = b.sentinels().next().unwrap().addr();
    let r = doctor(&["--sentinel", &sa, "--sentinel", &sb, "--sample-ms", "0"]);
    r.assert_has("sentinels-disagree");
}

#[test]
fn doctor_finds_a_replica_announcing_an_address_nobody_can_reach() {
    let _heavy = heavy();
    let m = ServerHandle::start(Flavor::Redoubt, &[]);
    let _replica = start_replica(Flavor::Redis, &m, &[("replica-announce-ip", "127.0.0.3")]);
    let rep = doctor(&[&addr(&m), "--sample-ms", "0"]);
    rep.assert_has("announce-unreachable");
    assert!(rep.json.contains("replica-announce-ip"), "{}", rep.json);
}

#[test]
fn doctor_finds_tcp_backlog_above_somaxconn() {
    let _heavy = heavy();
    let max: i64 = std::fs::read_to_string("/proc/sys/net/core/somaxconn")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let backlog = (max * 2).to_string();
    let m = ServerHandle::start(Flavor::Redoubt, &[("tcp-backlog", &backlog)]);
    let rep = doctor(&[&addr(&m), "--sample-ms", "0"]);
    rep.assert_has("somaxconn");
}

#[test]
fn doctor_finds_an_open_file_limit_below_maxclients() {
    let _heavy = heavy();
    let m = ServerHandle::start(Flavor::Redoubt, &[("maxclients", "10000")]);
    let lim = libc::rlimit {
        rlim_cur: 256,
        rlim_max: 256,
    };
    // SAFETY: lowers the limits of our own child process.
    let rc = unsafe {
        libc::prlimit(
            m.pid().unwrap() as i32,
            libc::RLIMIT_NOFILE,
            &lim,
            std::ptr::null_mut(),
        )
    };
    assert_eq!(rc, 0);
    let rep = doctor(&[&addr(&m), "--sample-ms", "0"]);
    rep.assert_has("open-files");
    assert!(rep.json.contains("LimitNOFILE=10032"), "{}", rep.json);
}

#[test]
fn doctor_applies_kernel_checks_to_real_redis_masters_only() {
    let _heavy = heavy();
    let redis = ServerHandle::start(Flavor::Redis, &[]);
    let ours = ServerHandle::start(Flavor::Redoubt, &[]);
    let rep = doctor(&[&addr(&ours), "--sample-ms", "0"]);
    assert!(
        !rep.has("overcommit") && !rep.has("transparent-huge-pages"),
        "{}",
        rep.json
    );
    let rep = doctor(&[&addr(&redis), "--sample-ms", "0"]);
    let overcommit = std::fs::read_to_string("/proc/sys/vm/overcommit_memory").unwrap_or_default();
    assert_eq!(
        rep.has("overcommit"),
        overcommit.trim() != "1",
        "{}",
        rep.json
    );
}

#[test]
fn doctor_finds_a_sentinel_announcing_an_address_nobody_can_reach() {
    let _heavy = heavy();
    let t = topology(&redoubt_server(), 1, 2, 1, &[]);
    let ports: Vec<u16> = t.sentinels().map(|s| s.port).collect();
    let mut c = redis::Client::open(format!("redis://127.0.0.1:{}/", ports[1]))
        .unwrap()
        .get_connection()
        .unwrap();
    let _: () = redis::cmd("SENTINEL")
        .arg("CONFIG")
        .arg("SET")
        .arg("announce-ip")
        .arg("127.0.0.3")
        .query(&mut c)
        .unwrap();
    let s0 = format!("127.0.0.1:{}", ports[0]);
    let mut last = None;
    wait_for(
        "the other sentinel's new address in the first one's table",
        Duration::from_secs(20),
        || {
            let r = doctor(&["--sentinel", &s0, "--sample-ms", "0"]);
            let found = r.has("announce-unreachable");
            last = Some(r);
            found
        },
    );
    let r = last.unwrap();
    assert!(
        r.json.contains(&format!("127.0.0.3:{}", ports[1])),
        "{}",
        r.json
    );
    assert!(r.json.contains("sentinel announce-ip"), "{}", r.json);
}

/// A sentinel with `requirepass`: `--sentinel-password` lets doctor read
/// it; without it the sentinel is reported as one it cannot inspect.
#[test]
fn doctor_reads_a_password_protected_sentinel_with_sentinel_password() {
    let _heavy = heavy();
    let master = ServerHandle::start(Flavor::Redoubt, &[]);
    let conf = format!(
        "sentinel monitor mymaster 127.0.0.1 {} 1\nrequirepass sentinel-pw\n",
        master.port
    );
    let sentinel = ServerHandle::start_sentinel(Flavor::Redoubt, &conf, &[]);
    let s = format!("127.0.0.1:{}", sentinel.port);
    let m = addr(&master);
    let without = doctor(&["--sentinel", &s, &m, "--sample-ms", "100"]);
    assert!(
        without.json.contains("NOAUTH") || without.json.contains("uthentication"),
        "the refusal is reported: {}",
        without.json
    );
    let with = doctor(&[
        "--sentinel",
        &s,
        "--sentinel-password",
        "sentinel-pw",
        &m,
        "--sample-ms",
        "100",
    ]);
    assert!(!with.json.contains("NOAUTH"), "{}", with.json);
    // Read through the sentinel: the master is known to be Sentinel-managed.
    with.assert_has("min-replicas");
}
