//! The operator's path for a cluster: `redoubt up --cluster` forms one
//! that `redis-cli --cluster check` accepts and clients use, shows every
//! node, and stops on Ctrl-C leaving no process behind; `redoubt doctor`
//! walks a whole cluster from one node and names what `redis-cli
//! --cluster check` would complain about (an open slot, an uncovered
//! slot, a master without a replica); the metrics endpoint shows the
//! node's view of the cluster; and `redis-cli --cluster add-node`,
//! `rebalance`, `del-node` and `fix` growing, shrinking and repairing a
//! Redoubt cluster while the `redis` crate's cluster client reads and
//! writes through the MOVED and ASK they cause.

use crate::cluster::{check_cluster, create_cluster, myid, owner_port, start_node, wait_state_ok};
use crate::harness::*;
use crate::metrics::http_get;
use crate::up::Up;
use redis::cluster::{ClusterClient, ClusterConnection};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn pid_of(port: u16) -> i32 {
    info_field(&mut conn(port), "server", "process_id")
        .parse()
        .unwrap()
}

/// A command's reply on the node at `port`, as text.
fn on(port: u16, args: &[&str]) -> String {
    text(q(&mut conn(port), args))
}

fn doctor_json(addr: &str) -> String {
    let out = Command::new(redoubt_bin())
        .args(["doctor", "--json", "--sample-ms", "0", addr])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn up_cluster_forms_a_cluster_redis_cli_checks_and_stops_on_sigint() {
    let _heavy = heavy();
    let port = free_ports(6);
    let bus = free_ports(6);
    let dir = temp_dir("up-cluster");
    let (p, b, d) = (port.to_string(), bus.to_string(), dir.display().to_string());
    let mut up = Up::start(&[
        "--cluster",
        "--port",
        &p,
        "--bus-port",
        &b,
        "--dir",
        &d,
        "--node-timeout",
        "2000",
        "--refresh-ms",
        "250",
    ]);
    up.wait_line("`Ready in`", Duration::from_secs(90), |l| {
        l.starts_with("Ready in")
    });
    let text = up.text();
    assert!(text.contains("3 masters x 1 replica(s)"), "{text}");
    assert!(text.contains("waiting for the nodes to meet"), "{text}");

    let out = Command::new("redis-cli")
        .args(["--cluster", "check", &format!("127.0.0.1:{port}")])
        .output()
        .unwrap();
    let report = output_text(&out);
    assert!(out.status.success(), "{report}");
    assert!(report.contains("[OK] All 16384 slots covered."), "{report}");
    // Each master has its replica.
    assert_eq!(report.matches("1 slaves.").count(), 3, "{report}");

    // A client that follows redirections writes through any node.
    for i in 0..20 {
        let out = Command::new("redis-cli")
            .args(["-c", "-p", &p, "SET", &format!("key{i}"), "v"])
            .output()
            .unwrap();
        assert_eq!(output_text(&out).trim(), "OK");
    }
    // The status table shows six nodes, all ok, and the keys.
    up.wait_line(
        "a status table with every node ok",
        Duration::from_secs(10),
        |l| l.contains("cluster_state ok on 6/6 nodes, 16384/16384 slots"),
    );
    let findings = doctor_json(&format!("127.0.0.1:{port}"));
    assert!(!findings.contains("\"cluster-"), "{findings}");
    for i in 0..6 {
        assert!(
            findings.contains(&format!("127.0.0.1:{}", port + i)),
            "{findings}"
        );
    }

    let pids: Vec<i32> = (0..6).map(|i| pid_of(port + i)).collect();
    let st = up.interrupt();
    assert!(st.success(), "up exited with {st}:\n{}", up.text());
    for pid in pids {
        assert!(!pid_alive(pid), "pid {pid} is still running after SIGINT");
    }

    // The same command resumes the cluster as it was.
    let mut up = Up::start(&[
        "--cluster",
        "--port",
        &p,
        "--bus-port",
        &b,
        "--dir",
        &d,
        "--refresh-ms",
        "250",
    ]);
    up.wait_line("`Ready in` again", Duration::from_secs(90), |l| {
        l.starts_with("Ready in")
    });
    assert!(up.text().contains("Resuming the cluster"), "{}", up.text());
    assert!(!up.text().contains("the nodes to meet"), "{}", up.text());
    let out = Command::new("redis-cli")
        .args(["-c", "-p", &p, "GET", "key7"])
        .output()
        .unwrap();
    assert_eq!(output_text(&out).trim(), "v");
    up.interrupt();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn doctor_names_open_and_uncovered_slots_and_masters_without_replicas() {
    let _heavy = heavy();
    let dir = temp_dir("doctor-cluster");
    let mut spec = topology::ClusterSpec::new(&dir, vec![redoubt_bin().into(), "server".into()]);
    spec.port = free_ports(3);
    spec.bus_port = Some(free_ports(3));
    spec.replicas = 0;
    spec.node_timeout_ms = 2000;
    spec.temporary = true;
    let port = spec.port;
    let mut c = topology::LocalCluster::start(spec).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(c.bring_up(Duration::from_secs(60), &mut |_| {}))
        .unwrap();

    let id1 = on(port + 1, &["CLUSTER", "MYID"]);
    assert_eq!(
        on(port, &["CLUSTER", "SETSLOT", "10", "MIGRATING", &id1]),
        "OK"
    );
    assert_eq!(on(port + 2, &["CLUSTER", "DELSLOTS", "16383"]), "OK");
    let findings = doctor_json(&format!("127.0.0.1:{port}"));
    for check in [
        "cluster-open-slots",
        "cluster-uncovered-slots",
        "cluster-master-without-replica",
    ] {
        assert!(findings.contains(check), "{check} missing: {findings}");
    }
    assert!(findings.contains("16383"), "{findings}");
    assert!(findings.contains("CLUSTER SETSLOT 10 STABLE"), "{findings}");
}

#[test]
fn metrics_show_the_nodes_view_of_the_cluster() {
    let mport = free_port().to_string();
    let bus = free_port().to_string();
    let n = ServerHandle::start(
        Flavor::Redoubt,
        &[
            ("cluster-enabled", "yes"),
            ("cluster-port", &bus),
            ("metrics-port", &mport),
        ],
    );
    let mport: u16 = mport.parse().unwrap();
    let metric = |name: &str| -> Option<f64> {
        let body = http_get(mport, "/metrics").1;
        let line = body.lines().find(|l| l.starts_with(&format!("{name} ")))?;
        line.rsplit(' ').next()?.parse().ok()
    };
    assert_eq!(metric("redoubt_cluster_state_ok"), Some(0.0));
    assert_eq!(metric("redoubt_cluster_known_nodes"), Some(1.0));
    let _ = n.raw().cmd_str(&["CLUSTER", "ADDSLOTSRANGE", "0", "16383"]);
    wait_for(
        "cluster_state ok in the metrics",
        Duration::from_secs(10),
        || metric("redoubt_cluster_state_ok") == Some(1.0),
    );
    for (name, v) in [
        ("redoubt_cluster_slots_assigned", 16384.0),
        ("redoubt_cluster_slots_ok", 16384.0),
        ("redoubt_cluster_my_slots", 16384.0),
        ("redoubt_cluster_size", 1.0),
    ] {
        assert_eq!(metric(name), Some(v), "{name}");
    }
    let body = http_get(mport, "/metrics").1;
    crate::metrics::promtool_accepts(&body);
}

// ---------------------------------------------------------------------
// redis-cli --cluster add-node, rebalance, del-node and fix on Redoubt
// nodes, with the `redis` crate's cluster client reading and writing
// through the MOVED and ASK they cause.
// ---------------------------------------------------------------------

/// Runs `redis-cli --cluster ARGS...`; the report, and whether it
/// succeeded.
fn cli_cluster(args: &[&str]) -> (bool, String) {
    let out = Command::new("redis-cli")
        .arg("--cluster")
        .args(args)
        .output()
        .expect("run redis-cli");
    (out.status.success(), output_text(&out))
}

/// `redis-cli --cluster ARGS...`, which must succeed without an error
/// line.
fn cli_cluster_ok(args: &[&str]) -> String {
    let (ok, report) = cli_cluster(args);
    assert!(ok && !report.contains("[ERR]"), "{args:?}:\n{report}");
    report
}

/// `redis-cli --cluster check` run until it passes (gossip may still be
/// carrying the last change to some node); its report.
fn wait_check_ok(seed: &str) -> String {
    let mut report = String::new();
    wait_for(
        &format!("redis-cli --cluster check {seed} to pass"),
        Duration::from_secs(20),
        || {
            let (ok, r) = cli_cluster(&["check", seed]);
            report = r;
            ok && !report.contains("[ERR]") && !report.contains("[WARNING]")
        },
    );
    report
}

fn addr(n: &ServerHandle) -> String {
    format!("127.0.0.1:{}", n.port)
}

/// A connection of the `redis` crate's cluster client, seeded with `n`.
fn cluster_conn(n: &ServerHandle) -> ClusterConnection {
    let client = ClusterClient::builder(vec![n.url()])
        .retries(32)
        .build()
        .unwrap();
    let c = client.get_connection().unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    c
}

fn cset(c: &mut ClusterConnection, k: &str, v: &str) -> redis::RedisResult<()> {
    redis::cmd("SET").arg(k).arg(v).query(c)
}

fn cget(c: &mut ClusterConnection, k: &str) -> Option<String> {
    redis::cmd("GET").arg(k).query(c).unwrap()
}

/// A cluster client writing `w:<i>` = i and reading each key back,
/// one at a time, until stopped.
struct Writer {
    stop: Arc<AtomicBool>,
    task: std::thread::JoinHandle<(u64, Vec<String>)>,
}

impl Writer {
    fn start(seed: &ServerHandle) -> Writer {
        let stop = Arc::new(AtomicBool::new(false));
        let mut c = cluster_conn(seed);
        let flag = stop.clone();
        let task = std::thread::spawn(move || {
            let mut errors = Vec::new();
            let mut i = 0u64;
            while !flag.load(Ordering::Relaxed) {
                let (k, v) = (format!("w:{i}"), i.to_string());
                match cset(&mut c, &k, &v) {
                    Ok(()) => {
                        let back: redis::RedisResult<Option<String>> =
                            redis::cmd("GET").arg(&k).query(&mut c);
                        if back.as_ref().ok() != Some(&Some(v)) {
                            errors.push(format!("GET {k} after SET: {back:?}"));
                        }
                        i += 1;
                    }
                    Err(e) => errors.push(format!("SET {k}: {e}")),
                }
                // A steady writer, not a load test: the machine is small.
                std::thread::sleep(Duration::from_millis(1));
            }
            (i, errors)
        });
        Writer { stop, task }
    }

    /// Stops it; the number of keys it wrote, after checking that every
    /// write and read-back succeeded.
    fn stop(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        let (n, errors) = self.task.join().unwrap();
        assert!(
            errors.is_empty(),
            "{} errors: {:?}",
            errors.len(),
            &errors[..errors.len().min(5)]
        );
        n
    }
}

/// Every key the writer wrote is readable through the cluster client.
fn assert_written(seed: &ServerHandle, n: u64) {
    let mut c = cluster_conn(seed);
    let missing: Vec<u64> = (0..n)
        .filter(|i| cget(&mut c, &format!("w:{i}")) != Some(i.to_string()))
        .collect();
    assert!(
        missing.is_empty(),
        "{} of {n} keys lost: {:?}",
        missing.len(),
        &missing[..missing.len().min(10)]
    );
}

/// Redoubt's logs hold no warning but those Redis also logs at that
/// level on this path.
pub(crate) fn assert_no_unexpected_warnings<'a>(nodes: impl Iterator<Item = &'a ServerHandle>) {
    const EXPECTED: [&str; 4] = [
        "no config file specified",
        "configEpoch set to",
        "configEpoch updated after importing slot",
        "Diskless rdb transfer, done reading from pipe",
    ];
    for n in nodes.filter(|n| n.flavor == Flavor::Redoubt) {
        let unexpected: Vec<String> = warnings_in(&n.log_path())
            .into_iter()
            .filter(|l| !EXPECTED.iter().any(|e| l.contains(e)))
            .collect();
        assert!(unexpected.is_empty(), "{}: {unexpected:?}", n.port);
    }
}

/// The number of slots a master serves, as `n`'s CLUSTER NODES says.
fn slots_of(n: &ServerHandle, id: &str) -> usize {
    let nodes = n.raw().cmd_str(&["CLUSTER", "NODES"]);
    let Some(line) = nodes.lines().find(|l| l.starts_with(id)) else {
        return 0;
    };
    line.split(' ')
        .skip(8)
        .filter(|r| !r.starts_with('['))
        .map(|r| match r.split_once('-') {
            Some((a, b)) => b.parse::<usize>().unwrap() - a.parse::<usize>().unwrap() + 1,
            None => 1,
        })
        .sum()
}

/// Waits until every node in `nodes` knows (or no longer knows) `id`.
fn wait_known(nodes: &[&ServerHandle], id: &str, known: bool) {
    for n in nodes {
        let mut c = n.client();
        wait_for(
            &format!(
                "{} {} {id}",
                n.port,
                if known { "to know" } else { "to forget" }
            ),
            Duration::from_secs(20),
            || text(q(&mut c, &["CLUSTER", "NODES"])).contains(id) == known,
        );
    }
}

/// The operator grows a cluster and shrinks it back, as the Redis Cluster
/// tutorial does, while a cluster client keeps writing and reading:
/// `add-node` a master and a replica of it, `rebalance
/// --cluster-use-empty-masters` slots onto the new master, `rebalance`
/// them away again (weight 0), `del-node` the emptied master and then the
/// replica. No write is lost, the remaining nodes forget the deleted ones
/// and `--cluster check` is clean at each step.
#[test]
fn add_node_rebalance_and_del_node_under_a_cluster_client() {
    grow_and_shrink([Flavor::Redoubt; 3], Flavor::Redoubt, Flavor::Redoubt);
}

/// The same in a mixed cluster: a real Redis master joins Redoubt and
/// Redis masters, with a Redoubt replica; slots move between both kinds.
#[test]
fn add_node_rebalance_and_del_node_in_a_mixed_cluster() {
    grow_and_shrink(
        [Flavor::Redoubt, Flavor::Redis, Flavor::Redoubt],
        Flavor::Redis,
        Flavor::Redoubt,
    );
}

/// Creates a cluster of `masters`, adds a `new_master` and a
/// `new_replica` of it, rebalances onto and off the new master under a
/// writer, then deletes both new nodes.
fn grow_and_shrink(masters: [Flavor; 3], new_master: Flavor, new_replica: Flavor) {
    let _heavy = heavy();
    let started = Instant::now();
    let nodes = create_cluster(&masters, 0);
    let seed = addr(&nodes[0]);
    let mut c = cluster_conn(&nodes[0]);
    for i in 0..500 {
        cset(&mut c, &format!("pre:{i}"), &i.to_string()).unwrap();
    }

    // A new, empty master.
    let master = start_node(new_master, &[]);
    let report = cli_cluster_ok(&["add-node", &addr(&master), &seed]);
    assert!(
        report.contains("[OK] New node added correctly."),
        "{report}"
    );
    let mid = myid(&master);
    wait_known(&[&nodes[0], &nodes[1], &nodes[2]], &mid, true);
    // And a replica of it.
    let replica = start_node(new_replica, &[]);
    cli_cluster_ok(&[
        "add-node",
        &addr(&replica),
        &seed,
        "--cluster-slave",
        "--cluster-master-id",
        &mid,
    ]);
    let rid = myid(&replica);
    wait_for_link_up(&replica);
    let mut rc = replica.client();
    wait_for(
        "the replica to show as one",
        Duration::from_secs(20),
        || {
            text(q(&mut rc, &["CLUSTER", "NODES"]))
                .lines()
                .any(|l| l.contains("myself,slave") && l.contains(&mid))
        },
    );
    let all = [&nodes[0], &nodes[1], &nodes[2], &master, &replica];
    wait_known(&all, &rid, true);
    wait_state_ok(&all);
    let report = wait_check_ok(&seed);
    assert!(report.contains("[OK] All 16384 slots covered."), "{report}");
    eprintln!("cluster grown in {:?}", started.elapsed());

    // Slots move onto the new master while the writer runs. A small
    // weight keeps the move small (about 160 slots, ~1% of the keys):
    // this is the operator's path, not a migration benchmark.
    let writer = Writer::start(&nodes[1]);
    let t = Instant::now();
    let weight = format!("{mid}=0.03");
    let report = cli_cluster_ok(&[
        "rebalance",
        &seed,
        "--cluster-use-empty-masters",
        "--cluster-weight",
        &weight,
    ]);
    assert!(report.contains("Moving"), "{report}");
    let gained = slots_of(&nodes[0], &mid);
    assert!((140..=180).contains(&gained), "{gained} slots:\n{report}");
    eprintln!(
        "rebalance onto the new master: {gained} slots in {:?}",
        t.elapsed()
    );
    wait_check_ok(&seed);
    check_cluster(&nodes);

    // And away again: weight 0 empties it.
    let t = Instant::now();
    let weight = format!("{mid}=0");
    cli_cluster_ok(&["rebalance", &seed, "--cluster-weight", &weight]);
    eprintln!("rebalance off the new master in {:?}", t.elapsed());
    assert_eq!(slots_of(&nodes[0], &mid), 0);
    let written = writer.stop();
    assert!(written > 0);
    assert_written(&nodes[2], written);
    for i in 0..500 {
        assert_eq!(cget(&mut c, &format!("pre:{i}")), Some(i.to_string()));
    }

    // del-node of the emptied master: its replica is given to another
    // master first, every other node forgets it.
    let report = cli_cluster_ok(&["del-node", &seed, &mid]);
    assert!(report.contains("CLUSTER RESET SOFT"), "{report}");
    wait_known(&[&nodes[0], &nodes[1], &nodes[2], &replica], &mid, false);
    let mut rc = replica.client();
    wait_for(
        "the replica to follow another master",
        Duration::from_secs(20),
        || {
            text(q(&mut rc, &["CLUSTER", "NODES"]))
                .lines()
                .any(|l| l.contains("myself,slave") && !l.contains(&mid))
        },
    );
    let report = wait_check_ok(&seed);
    assert!(report.contains("[OK] All 16384 slots covered."), "{report}");
    assert!(!report.contains(&mid), "{report}");

    // del-node of the replica.
    cli_cluster_ok(&["del-node", &seed, &rid]);
    wait_known(&[&nodes[0], &nodes[1], &nodes[2]], &rid, false);
    let report = wait_check_ok(&seed);
    assert_eq!(report.matches("slots | 0 slaves.").count(), 3, "{report}");
    check_cluster(&nodes);
    // Both deleted nodes were reset: each knows only itself.
    for n in [&master, &replica] {
        let info = n.raw().cmd_str(&["CLUSTER", "INFO"]);
        assert!(info.contains("cluster_known_nodes:1\r\n"), "{info}");
    }
    assert_written(&nodes[0], written);
    assert_no_unexpected_warnings(nodes.iter().chain([&master, &replica]));
    eprintln!("whole test: {:?}", started.elapsed());
}

/// A migration cut short (slot left MIGRATING on its owner and IMPORTING
/// on the target, some keys moved) and slots a node dropped with
/// DELSLOTS: the cluster client still reads and writes the open slot
/// through ASK, `--cluster check` names both problems, and `--cluster
/// fix` repairs them without losing a key.
#[test]
fn fix_closes_an_interrupted_migration_and_covers_dropped_slots() {
    let _heavy = heavy();
    let started = Instant::now();
    let nodes = create_cluster(&[Flavor::Redoubt; 3], 0);
    let seed = addr(&nodes[0]);
    let mut c = cluster_conn(&nodes[0]);
    for i in 0..20 {
        cset(&mut c, &format!("{{t}}{i}"), &i.to_string()).unwrap();
    }
    let slot = text(q(&mut nodes[0].client(), &["CLUSTER", "KEYSLOT", "{t}"]));
    let owner_port_ = owner_port(&nodes[0], slot.parse().unwrap()).unwrap();
    let owner = nodes.iter().find(|n| n.port == owner_port_).unwrap();
    let target = nodes.iter().find(|n| n.port != owner_port_).unwrap();
    let third = nodes
        .iter()
        .find(|n| n.port != owner_port_ && n.port != target.port)
        .unwrap();
    let (oid, tid) = (myid(owner), myid(target));
    let mut t = target.raw();
    let mut o = owner.raw();
    assert_eq!(
        t.cmd_str(&["CLUSTER", "SETSLOT", &slot, "IMPORTING", &oid]),
        "+OK\r\n"
    );
    assert_eq!(
        o.cmd_str(&["CLUSTER", "SETSLOT", &slot, "MIGRATING", &tid]),
        "+OK\r\n"
    );
    let tport = target.port.to_string();
    let mut migrate = vec!["MIGRATE", "127.0.0.1", &tport, "", "0", "5000", "KEYS"];
    let moved: Vec<String> = (0..8).map(|i| format!("{{t}}{i}")).collect();
    migrate.extend(moved.iter().map(String::as_str));
    assert_eq!(o.cmd_str(&migrate), "+OK\r\n");
    // The migration stops here. Clients follow ASK both ways.
    assert_eq!(
        o.cmd_str(&["GET", "{t}1"]),
        format!("-ASK {slot} 127.0.0.1:{}\r\n", target.port)
    );
    for i in 0..20 {
        assert_eq!(cget(&mut c, &format!("{{t}}{i}")), Some(i.to_string()));
    }
    cset(&mut c, "{t}new", "during").unwrap();
    assert_eq!(t.cmd_str(&["ASKING"]), "+OK\r\n");
    assert_eq!(t.cmd_str(&["GET", "{t}new"]), "$6\r\nduring\r\n");

    // Two slots the third node drops.
    let dropped = {
        let nodes_text = third.raw().cmd_str(&["CLUSTER", "NODES"]);
        let line = nodes_text
            .lines()
            .find(|l| l.contains("myself"))
            .unwrap()
            .to_string();
        let last: u16 = line
            .rsplit(' ')
            .next()
            .unwrap()
            .split('-')
            .next_back()
            .unwrap()
            .parse()
            .unwrap();
        [last - 1, last]
    };
    let (d0, d1) = (dropped[0].to_string(), dropped[1].to_string());
    assert_eq!(
        third.raw().cmd_str(&["CLUSTER", "DELSLOTS", &d0, &d1]),
        "+OK\r\n"
    );
    let (ok, report) = cli_cluster(&["check", &seed]);
    assert!(!ok, "{report}");
    assert!(
        report.contains(&format!("has slots in migrating state {slot}")),
        "{report}"
    );
    assert!(
        report.contains(&format!("has slots in importing state {slot}")),
        "{report}"
    );
    assert!(
        report.contains("[ERR] Not all 16384 slots are covered by nodes."),
        "{report}"
    );

    let t0 = Instant::now();
    // redis-cli asks before covering slots even with --cluster-yes.
    let mut fix = Command::new("redis-cli")
        .args(["--cluster", "fix", &seed, "--cluster-yes"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        fix.stdin.take().unwrap().write_all(b"yes\n").unwrap();
    }
    let out = fix.wait_with_output().unwrap();
    // The report starts with the check's complaints, then the repairs.
    let report = output_text(&out);
    assert!(out.status.success(), "{report}");
    assert!(
        report.contains(&format!("Fixing open slot {slot}")),
        "{report}"
    );
    assert!(report.contains(&format!("Covering slot {d0}")), "{report}");
    eprintln!("fix in {:?}", t0.elapsed());
    let report = wait_check_ok(&seed);
    assert!(report.contains("[OK] All 16384 slots covered."), "{report}");
    check_cluster(&nodes);
    for n in &nodes {
        let view = n.raw().cmd_str(&["CLUSTER", "NODES"]);
        assert!(!view.contains('['), "{view}");
    }
    let mut c = cluster_conn(&nodes[2]);
    for i in 0..20 {
        assert_eq!(cget(&mut c, &format!("{{t}}{i}")), Some(i.to_string()));
    }
    assert_eq!(cget(&mut c, "{t}new"), Some("during".into()));
    assert_no_unexpected_warnings(nodes.iter());
    eprintln!("whole test: {:?}", started.elapsed());
}
