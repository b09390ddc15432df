//! Cluster mode against real processes: the CLUSTER commands and the
//! redirections of one node compared byte for byte with redis-server
//! 7.0.15, `nodes.conf` across a restart, `redis-cli --cluster create` on
//! three Redoubt nodes with redis-cli -c and redis-py's RedisCluster
//! reading and writing through MOVED, and a mixed cluster of Redoubt and
//! real Redis nodes that agrees on the topology.

use crate::harness::*;
use std::process::Command;
use std::time::Duration;

/// A cluster node. Its bus port is picked free too (`cluster-port`): the
/// default port + 10000 lies in Linux's ephemeral range, where outgoing
/// connections of other tests may hold it.
pub(crate) fn start_node(flavor: Flavor, extra: &[(&str, &str)]) -> ServerHandle {
    let bus = free_port().to_string();
    let mut d = vec![
        ("cluster-enabled", "yes"),
        ("cluster-node-timeout", "2000"),
        ("cluster-port", bus.as_str()),
    ];
    d.extend_from_slice(extra);
    ServerHandle::start(flavor, &d)
}

/// The node's bus port (`cluster-port`).
pub(crate) fn bus_port(s: &ServerHandle) -> String {
    text(q(&mut s.client(), &["CONFIG", "GET", "cluster-port"]))
        .trim_matches(|ch| ch == '[' || ch == ']')
        .split(',')
        .nth(1)
        .unwrap_or_default()
        .to_string()
}

pub(crate) fn myid(s: &ServerHandle) -> String {
    text(q(&mut s.client(), &["CLUSTER", "MYID"]))
}

/// The replies of one node to a script of commands, with the node's id
/// replaced so two nodes compare.
fn run_script(s: &ServerHandle, script: &[&[&str]]) -> Vec<String> {
    let id = myid(s);
    let mut c = s.raw();
    script
        .iter()
        .map(|cmd| {
            let args: Vec<&[u8]> = cmd.iter().map(|a| a.as_bytes()).collect();
            let r = c.cmd(&args);
            String::from_utf8_lossy(&r).replace(&id, "<myid>")
        })
        .collect()
}

#[test]
fn cluster_commands_and_redirections_answer_as_redis_on_one_node() {
    let ours = start_node(Flavor::Redoubt, &[]);
    let theirs = start_node(Flavor::Redis, &[]);
    let script: &[&[&str]] = &[
        &["CLUSTER", "KEYSLOT", "foo"],
        &["CLUSTER", "KEYSLOT", "{user1}.name"],
        &["CLUSTER", "KEYSLOT", "a{}b"],
        &["SET", "foo", "bar"],
        &["GET", "foo"],
        &["CLUSTER", "ADDSLOTSRANGE", "0", "100"],
        &["CLUSTER", "ADDSLOTSRANGE", "100", "200"],
        &["CLUSTER", "ADDSLOTSRANGE", "300", "200"],
        &["CLUSTER", "ADDSLOTSRANGE", "300"],
        &["CLUSTER", "ADDSLOTS", "16384"],
        &["CLUSTER", "ADDSLOTS", "500", "500"],
        &["CLUSTER", "DELSLOTS", "5000"],
        &["CLUSTER", "DELSLOTSRANGE", "0", "100"],
        &["CLUSTER", "ADDSLOTSRANGE", "0", "16383"],
        &["CLUSTER", "COUNTKEYSINSLOT", "12182"],
        &["CLUSTER", "COUNTKEYSINSLOT", "16384"],
        &["CLUSTER", "GETKEYSINSLOT", "1", "-1"],
        &["CLUSTER", "SET-CONFIG-EPOCH", "5"],
        &["CLUSTER", "SET-CONFIG-EPOCH", "6"],
        &["CLUSTER", "BUMPEPOCH"],
        &[
            "CLUSTER",
            "SETSLOT",
            "1",
            "MIGRATING",
            "0123456789012345678901234567890123456789",
        ],
        &["CLUSTER", "SETSLOT", "1", "BOGUS"],
        &[
            "CLUSTER",
            "FORGET",
            "0123456789012345678901234567890123456789",
        ],
        &["CLUSTER", "FLUSHSLOTS"],
        &["CLUSTER", "MEET", "nothere", "7000"],
        &["CLUSTER", "MEET", "127.0.0.1", "x"],
        &["SELECT", "1"],
        &["SELECT", "0"],
        &["MOVE", "foo", "1"],
        &["SWAPDB", "0", "1"],
        &["READONLY"],
        &["READWRITE"],
        &["ASKING"],
        &["CLUSTER", "NOSUCH"],
    ];
    let a = run_script(&ours, script);
    let b = run_script(&theirs, script);
    for (i, cmd) in script.iter().enumerate() {
        assert_eq!(a[i], b[i], "{cmd:?}");
    }
}

#[test]
fn keys_are_indexed_by_slot_and_redirected_as_redis_once_the_cluster_is_up() {
    // Slots served, the state turns ok (after the 2 s a fresh master
    // waits); then the per-slot index, CROSSSLOT, and a transaction.
    let script: &[&[&str]] = &[&["CLUSTER", "ADDSLOTSRANGE", "0", "16383"]];
    let after: &[&[&str]] = &[
        &["SET", "{t}a", "1"],
        &["SET", "{t}b", "2"],
        &["SET", "{t}c", "3"],
        &["DEL", "{t}b"],
        &["RENAME", "{t}a", "{t}z"],
        &["CLUSTER", "COUNTKEYSINSLOT", "15495"],
        &["CLUSTER", "GETKEYSINSLOT", "15495", "10"],
        &["CLUSTER", "GETKEYSINSLOT", "15495", "1"],
        &["MSET", "a", "1", "b", "2"],
        &["MGET", "{t}z", "{t}c"],
        &["MULTI"],
        &["SET", "a", "1"],
        &["SET", "b", "1"],
        &["EXEC"],
        &["EVAL", "return redis.call('get', KEYS[1])", "1", "{t}z"],
        &["EVAL", "return 1", "2", "a", "b"],
        &["FLUSHALL"],
        &["CLUSTER", "COUNTKEYSINSLOT", "15495"],
        &["CLUSTER", "DELSLOTS", "15495"],
        &["GET", "{t}a"],
    ];
    let mut out = Vec::new();
    for flavor in [Flavor::Redoubt, Flavor::Redis] {
        let s = start_node(flavor, &[]);
        run_script(&s, script);
        let mut c = s.client();
        wait_for("cluster_state:ok", Duration::from_secs(10), || {
            text(q(&mut c, &["CLUSTER", "INFO"])).contains("cluster_state:ok")
        });
        out.push(run_script(&s, after));
    }
    for (i, cmd) in after.iter().enumerate() {
        assert_eq!(out[0][i], out[1][i], "{cmd:?}");
    }
}

#[test]
fn standalone_servers_refuse_cluster_commands_as_redis() {
    let script: &[&[&str]] = &[
        &["CLUSTER", "INFO"],
        &["CLUSTER", "KEYSLOT", "x"],
        &["READONLY"],
        &["ASKING"],
        &["INFO", "cluster"],
    ];
    let a = run_script_plain(&ServerHandle::start(Flavor::Redoubt, &[]), script);
    let b = run_script_plain(&ServerHandle::start(Flavor::Redis, &[]), script);
    assert_eq!(a, b);
}

fn run_script_plain(s: &ServerHandle, script: &[&[&str]]) -> Vec<String> {
    let mut c = s.raw();
    script
        .iter()
        .map(|cmd| {
            let args: Vec<&[u8]> = cmd.iter().map(|a| a.as_bytes()).collect();
            String::from_utf8_lossy(&c.cmd(&args)).into_owned()
        })
        .collect()
}

#[test]
fn nodes_conf_keeps_the_identity_and_slots_across_a_restart_and_is_locked() {
    let mut s = start_node(Flavor::Redoubt, &[]);
    let id = myid(&s);
    let bus = bus_port(&s);
    let mut c = s.raw();
    assert_eq!(
        c.cmd_str(&["CLUSTER", "ADDSLOTSRANGE", "0", "99"]),
        "+OK\r\n"
    );
    assert_eq!(c.cmd_str(&["CLUSTER", "SET-CONFIG-EPOCH", "7"]), "+OK\r\n");
    let conf = std::fs::read_to_string(s.dir.join("nodes.conf")).unwrap();
    assert!(
        conf.starts_with(&format!(
            "{id} :{}@{} myself,master - 0 0 7 connected 0-99\n",
            s.port, bus
        )),
        "{conf}"
    );
    assert!(
        conf.ends_with("vars currentEpoch 7 lastVoteEpoch 0\n"),
        "{conf}"
    );
    // A second server on the same file is refused.
    let (code, out) = server_to_exit(&["--cluster-enabled", "yes"], &s.dir);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("already used by a different Redis Cluster node"),
        "{out}"
    );
    s.kill();
    s.restart();
    assert_eq!(myid(&s), id);
    let nodes = s.raw().cmd_str(&["CLUSTER", "NODES"]);
    assert!(
        nodes.contains(&format!(
            "{id} :{}@{} myself,master - 0 0 7 connected 0-99",
            s.port, bus
        )),
        "{nodes}"
    );
}

/// Starts `flavors.len()` nodes, creates a cluster of them with
/// `redis-cli --cluster create` and waits until every node says ok.
pub(crate) fn create_cluster(flavors: &[Flavor], replicas: usize) -> Vec<ServerHandle> {
    let nodes: Vec<ServerHandle> = flavors.iter().map(|f| start_node(*f, &[])).collect();
    let addrs: Vec<String> = nodes
        .iter()
        .map(|n| format!("127.0.0.1:{}", n.port))
        .collect();
    let mut cmd = Command::new("redis-cli");
    cmd.arg("--cluster").arg("create").args(&addrs);
    if replicas > 0 {
        cmd.arg("--cluster-replicas").arg(replicas.to_string());
    }
    let out = cmd.arg("--cluster-yes").output().expect("run redis-cli");
    let report = output_text(&out);
    assert!(out.status.success(), "{report}");
    assert!(report.contains("[OK] All 16384 slots covered."), "{report}");
    wait_state_ok(&nodes.iter().collect::<Vec<_>>());
    nodes
}

/// Waits until each node says `cluster_state:ok`. A master that just
/// joined says fail for its first 2 s (Redis's writable delay) and
/// answers `-CLUSTERDOWN` meanwhile, a migration's `RESTORE-ASKING` too.
pub(crate) fn wait_state_ok(nodes: &[&ServerHandle]) {
    for n in nodes {
        let mut c = n.client();
        wait_for(
            &format!("cluster_state:ok on {}", n.port),
            Duration::from_secs(20),
            || text(q(&mut c, &["CLUSTER", "INFO"])).contains("cluster_state:ok"),
        );
    }
}

/// Every node's view of who serves which slots, as `redis-cli --cluster
/// check` compares them.
pub(crate) fn slot_map(n: &ServerHandle) -> Vec<String> {
    let nodes = n.raw().cmd_str(&["CLUSTER", "NODES"]);
    let mut lines: Vec<String> = nodes
        .lines()
        .filter(|l| l.contains("master"))
        .map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            let slots: Vec<&str> = f
                .iter()
                .skip(8)
                .copied()
                .filter(|s| !s.starts_with('['))
                .collect();
            format!(
                "{} {}",
                f[0].trim_start_matches(|c: char| !c.is_ascii_hexdigit()),
                slots.join(",")
            )
        })
        .collect();
    lines.sort();
    lines
}

pub(crate) fn check_cluster(nodes: &[ServerHandle]) {
    let out = Command::new("redis-cli")
        .args([
            "--cluster",
            "check",
            &format!("127.0.0.1:{}", nodes[0].port),
        ])
        .output()
        .expect("run redis-cli");
    let report = output_text(&out);
    assert!(out.status.success(), "{report}");
    assert!(
        report.contains("[OK] All nodes agree about slots configuration."),
        "{report}"
    );
    // Gossip may still be telling some nodes who is a replica.
    wait_for(
        "every node to agree on the masters and their slots",
        Duration::from_secs(10),
        || {
            let first = slot_map(&nodes[0]);
            nodes[1..].iter().all(|n| slot_map(n) == first)
        },
    );
}

/// Writes and reads keys through a cluster-aware client.
fn redis_py_round_trip(port: u16) {
    let script = format!(
        "from redis.cluster import RedisCluster\n\
         rc = RedisCluster(host='127.0.0.1', port={port})\n\
         for i in range(200): rc.set(f'key:{{i}}', i)\n\
         assert sum(int(rc.get(f'key:{{i}}')) for i in range(200)) == 19900\n\
         rc.mset_nonatomic({{'x{{a}}': 1, 'y': 2}})\n\
         print('ok', len(rc.get_nodes()))\n"
    );
    let out = Command::new("python3")
        .arg("-c")
        .arg(&script)
        .output()
        .expect("python3");
    let report = output_text(&out);
    assert!(out.status.success() && report.starts_with("ok"), "{report}");
}

#[test]
fn redis_cli_creates_a_redoubt_cluster_that_clients_use_through_moved() {
    let _heavy = heavy();
    let nodes = create_cluster(&[Flavor::Redoubt; 3], 0);
    check_cluster(&nodes);
    // redis-cli -c follows MOVED; a plain client sees it.
    let out = Command::new("redis-cli")
        .args(["-c", "-p", &nodes[0].port.to_string(), "SET", "foo", "bar"])
        .output()
        .unwrap();
    assert_eq!(output_text(&out).trim(), "OK");
    let owner = nodes
        .iter()
        .find(|n| n.raw().cmd_str(&["CLUSTER", "COUNTKEYSINSLOT", "12182"]) == ":1\r\n");
    let owner = owner.expect("a node holds foo");
    let other = nodes.iter().find(|n| n.port != owner.port).unwrap();
    assert_eq!(
        other.raw().cmd_str(&["GET", "foo"]),
        format!("-MOVED 12182 127.0.0.1:{}\r\n", owner.port)
    );
    redis_py_round_trip(nodes[1].port);
    // Each node has a link to and from each other node.
    for n in &nodes {
        let mut c = n.client();
        wait_for("two links each way", Duration::from_secs(10), || {
            let t = format!("{:?}", q(&mut c, &["CLUSTER", "LINKS"]));
            t.matches("\"to\"").count() == 2 && t.matches("\"from\"").count() == 2
        });
    }
    let keys: i64 = nodes
        .iter()
        .map(|n| {
            info_field(&mut n.client(), "keyspace", "db0")
                .split(',')
                .next()
                .unwrap_or("")
                .trim_start_matches("keys=")
                .parse::<i64>()
                .unwrap_or(0)
        })
        .sum();
    assert_eq!(keys, 203);
}

#[test]
fn a_mixed_cluster_of_redoubt_and_redis_nodes_agrees_and_serves_clients() {
    let _heavy = heavy();
    let nodes = create_cluster(
        &[
            Flavor::Redoubt,
            Flavor::Redis,
            Flavor::Redoubt,
            Flavor::Redis,
        ],
        0,
    );
    check_cluster(&nodes);
    redis_py_round_trip(nodes[1].port);
    redis_py_round_trip(nodes[0].port);
}

#[test]
fn a_killed_master_is_marked_failed_and_the_cluster_goes_down() {
    let _heavy = heavy();
    let mut nodes = create_cluster(&[Flavor::Redoubt, Flavor::Redis, Flavor::Redoubt], 0);
    let dead_id = myid(&nodes[2]);
    nodes[2].kill();
    for n in &nodes[..2] {
        let mut c = n.client();
        wait_for(
            &format!("{} marked failed on {}", dead_id, n.port),
            Duration::from_secs(20),
            || {
                let t = text(q(&mut c, &["CLUSTER", "NODES"]));
                t.lines()
                    .any(|l| l.starts_with(&dead_id) && l.contains(" master,fail "))
            },
        );
        wait_for("cluster_state:fail", Duration::from_secs(10), || {
            text(q(&mut c, &["CLUSTER", "INFO"])).contains("cluster_state:fail")
        });
        assert_eq!(
            n.raw().cmd_str(&["GET", "foo"]),
            "-CLUSTERDOWN The cluster is down\r\n"
        );
    }
}

/// The node serving `slot` as `node`'s CLUSTER NODES says.
pub(crate) fn owner_port(node: &ServerHandle, slot: u16) -> Option<u16> {
    let nodes = node.raw().cmd_str(&["CLUSTER", "NODES"]);
    nodes.lines().find_map(|l| {
        let f: Vec<&str> = l.split(' ').collect();
        if f.len() < 9 || !f[2].contains("master") {
            return None;
        }
        let serves = f[8..].iter().any(|r| match r.split_once('-') {
            Some((a, b)) => {
                a.parse::<u16>().is_ok_and(|a| a <= slot)
                    && b.parse::<u16>().is_ok_and(|b| slot <= b)
            }
            None => r.parse::<u16>() == Ok(slot),
        });
        let port = f[1]
            .split(['@', ','])
            .next()?
            .rsplit(':')
            .next()?
            .parse()
            .ok()?;
        serves.then_some(port)
    })
}

/// `redis-cli --cluster create --cluster-replicas 1` over Redoubt and
/// Redis nodes; then each master is killed in turn (kill -9) after a
/// write confirmed by `WAIT 1`: its replica (a Redoubt one for a Redoubt
/// master, a real Redis one for another) is elected by the other masters,
/// the write is there, and the old master comes back as a replica.
#[test]
fn replicas_take_over_killed_masters_in_a_mixed_cluster_without_losing_confirmed_writes() {
    let _heavy = heavy();
    let flavors = [
        Flavor::Redoubt,
        Flavor::Redoubt,
        Flavor::Redoubt,
        Flavor::Redis,
        Flavor::Redoubt,
        Flavor::Redis,
    ];
    let mut nodes = create_cluster(&flavors, 1);
    check_cluster(&nodes);
    // Every replica is in sync before anything is killed.
    for n in &nodes {
        let mut c = n.client();
        if info_field(&mut c, "replication", "role") == "slave" {
            wait_for(
                &format!("replica {} in sync", n.port),
                Duration::from_secs(20),
                || info_field(&mut c, "replication", "master_link_status") == "up",
            );
        }
    }
    for (round, slot_key) in ["foo", "bar"].iter().enumerate() {
        let slot: u16 = text(q(&mut nodes[0].client(), &["CLUSTER", "KEYSLOT", slot_key]))
            .parse()
            .unwrap();
        let master_port = owner_port(&nodes[0], slot).unwrap();
        let mi = nodes.iter().position(|n| n.port == master_port).unwrap();
        let mut m = nodes[mi].client();
        q(&mut m, &["SET", slot_key, "confirmed"]);
        assert_eq!(text(q(&mut m, &["WAIT", "1", "5000"])), "1");
        let master_id = myid(&nodes[mi]);
        nodes[mi].kill();
        let survivor = nodes
            .iter()
            .position(|n| n.port != master_port && n.pid().is_some())
            .unwrap();
        let mut s = nodes[survivor].client();
        wait_for(
            &format!("round {round}: slot {slot} served by another node"),
            Duration::from_secs(20),
            || {
                owner_port(&nodes[survivor], slot).is_some_and(|p| p != master_port)
                    && text(q(&mut s, &["CLUSTER", "INFO"])).contains("cluster_state:ok")
            },
        );
        let new_port = owner_port(&nodes[survivor], slot).unwrap();
        let ni = nodes.iter().position(|n| n.port == new_port).unwrap();
        assert_eq!(
            text(q(&mut nodes[ni].client(), &["GET", slot_key])),
            "confirmed"
        );
        // The old master returns as a replica of the one that replaced it.
        nodes[mi].restart();
        let new_id = myid(&nodes[ni]);
        let mut back = nodes[mi].client();
        wait_for(
            &format!("round {round}: old master {master_id} follows {new_id}"),
            Duration::from_secs(20),
            || {
                let t = text(q(&mut back, &["CLUSTER", "NODES"]));
                t.lines()
                    .any(|l| l.contains("myself,slave") && l.contains(&new_id))
            },
        );
    }
}

/// Runs `redis-cli --cluster reshard` moving `count` slots from `from` to
/// `to`.
fn reshard(via: &ServerHandle, from: &ServerHandle, to: &ServerHandle, count: usize) {
    let out = Command::new("redis-cli")
        .args(["--cluster", "reshard", &format!("127.0.0.1:{}", via.port)])
        .args(["--cluster-from", &myid(from), "--cluster-to", &myid(to)])
        .args(["--cluster-slots", &count.to_string(), "--cluster-yes"])
        .output()
        .expect("run redis-cli");
    let report = output_text(&out);
    assert!(out.status.success() && !report.contains("ERR"), "{report}");
}

/// Slots move from Redoubt to Redis and from Redis to Redoubt with
/// `redis-cli --cluster reshard` (MIGRATE with RESTORE-ASKING, SETSLOT)
/// while a cluster client keeps writing; no key is lost.
#[test]
fn redis_cli_reshards_both_ways_between_redoubt_and_redis_under_a_writer() {
    let _heavy = heavy();
    let nodes = create_cluster(&[Flavor::Redoubt, Flavor::Redis, Flavor::Redoubt], 0);
    let writer = format!(
        "import time\n\
         from redis.cluster import RedisCluster\n\
         rc = RedisCluster(host='127.0.0.1', port={})\n\
         end = time.time() + 8\n\
         i = 0\n\
         while time.time() < end:\n\
         \x20   rc.set(f'w:{{i}}', i); i += 1\n\
         print(i)\n",
        nodes[0].port
    );
    let writer = std::process::Command::new("python3")
        .arg("-c")
        .arg(&writer)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python3");
    reshard(&nodes[0], &nodes[0], &nodes[1], 200);
    reshard(&nodes[0], &nodes[1], &nodes[2], 400);
    let out = writer.wait_with_output().unwrap();
    let written: i64 = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("{}", output_text(&out)));
    assert!(written > 0);
    check_cluster(&nodes);
    let check = format!(
        "from redis.cluster import RedisCluster\n\
         rc = RedisCluster(host='127.0.0.1', port={})\n\
         missing = [i for i in range({written}) if rc.get(f'w:{{i}}') != str(i).encode()]\n\
         print(missing[:5], len(missing))\n",
        nodes[2].port
    );
    let out = Command::new("python3")
        .arg("-c")
        .arg(&check)
        .output()
        .unwrap();
    assert_eq!(output_text(&out).trim(), "[] 0");
}

/// An open slot: the source answers -ASK for a key it no longer has and
/// -TRYAGAIN for a multi-key request it has in part; the target serves the
/// slot only after ASKING, for one command.
#[test]
fn an_open_slot_redirects_with_ask_and_tryagain_as_redis() {
    for (src_flavor, dst_flavor) in [
        (Flavor::Redoubt, Flavor::Redis),
        (Flavor::Redis, Flavor::Redoubt),
    ] {
        let src = start_node(src_flavor, &[]);
        let dst = start_node(dst_flavor, &[]);
        let mut s = src.raw();
        let mut d = dst.raw();
        s.cmd_str(&["CLUSTER", "ADDSLOTSRANGE", "0", "8191"]);
        d.cmd_str(&["CLUSTER", "ADDSLOTSRANGE", "8192", "16383"]);
        s.cmd_str(&[
            "CLUSTER",
            "MEET",
            "127.0.0.1",
            &dst.port.to_string(),
            &bus_port(&dst),
        ]);
        for n in [&src, &dst] {
            let mut c = n.client();
            wait_for("cluster_state:ok", Duration::from_secs(20), || {
                text(q(&mut c, &["CLUSTER", "INFO"])).contains("cluster_state:ok")
                    && text(q(&mut c, &["CLUSTER", "INFO"])).contains("cluster_known_nodes:2")
            });
        }
        // "bar" is slot 5061, on the source.
        s.cmd_str(&["SET", "{bar}1", "x"]);
        let (sid, did) = (myid(&src), myid(&dst));
        assert_eq!(
            d.cmd_str(&["CLUSTER", "SETSLOT", "5061", "IMPORTING", &sid]),
            "+OK\r\n"
        );
        assert_eq!(
            s.cmd_str(&["CLUSTER", "SETSLOT", "5061", "MIGRATING", &did]),
            "+OK\r\n"
        );
        let ask = format!("-ASK 5061 127.0.0.1:{}\r\n", dst.port);
        assert_eq!(s.cmd_str(&["GET", "bar"]), ask, "{src_flavor:?}");
        assert_eq!(s.cmd_str(&["GET", "{bar}1"]), "$1\r\nx\r\n");
        assert_eq!(
            s.cmd_str(&["MGET", "{bar}1", "{bar}2"]),
            "-TRYAGAIN Multiple keys request during rehashing of slot\r\n"
        );
        let moved = format!("-MOVED 5061 127.0.0.1:{}\r\n", src.port);
        assert_eq!(d.cmd_str(&["GET", "bar"]), moved, "{dst_flavor:?}");
        assert_eq!(d.cmd_str(&["ASKING"]), "+OK\r\n");
        assert_eq!(d.cmd_str(&["GET", "bar"]), "$-1\r\n");
        assert_eq!(d.cmd_str(&["GET", "bar"]), moved);
        assert_eq!(d.cmd_str(&["ASKING"]), "+OK\r\n");
        assert_eq!(
            d.cmd_str(&["MGET", "{bar}1", "{bar}2"]),
            "-TRYAGAIN Multiple keys request during rehashing of slot\r\n"
        );
        // Open slots show in CLUSTER NODES on the node that has them.
        let nodes = s.cmd_str(&["CLUSTER", "NODES"]);
        assert!(nodes.contains(&format!("[5061->-{did}]")), "{nodes}");
        let nodes = d.cmd_str(&["CLUSTER", "NODES"]);
        assert!(nodes.contains(&format!("[5061-<-{sid}]")), "{nodes}");
    }
}

/// PUBLISH on any node reaches subscribers on every node (over the bus,
/// Redoubt to Redis and back); SPUBLISH is routed by its channel's slot.
#[test]
fn publish_reaches_subscribers_on_every_node_of_a_mixed_cluster() {
    let _heavy = heavy();
    let nodes = create_cluster(&[Flavor::Redoubt, Flavor::Redis, Flavor::Redoubt], 0);
    let mut subs: Vec<Raw> = nodes
        .iter()
        .map(|n| {
            let mut r = n.raw();
            r.cmd(&[b"SUBSCRIBE", b"news"]);
            r
        })
        .collect();
    for (i, n) in nodes.iter().enumerate() {
        let msg = format!("from-{i}");
        assert_eq!(n.raw().cmd_str(&["PUBLISH", "news", &msg]), ":1\r\n");
        for s in subs.iter_mut() {
            let got = String::from_utf8_lossy(&s.read_reply().unwrap()).into_owned();
            assert_eq!(
                got,
                format!(
                    "*3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n${}\r\n{msg}\r\n",
                    msg.len()
                )
            );
        }
    }
    // "news" hashes to slot 5161: only its owner takes SPUBLISH.
    let owner = owner_port(&nodes[0], 5161).unwrap();
    for n in &nodes {
        let r = n.raw().cmd_str(&["SPUBLISH", "news", "x"]);
        if n.port == owner {
            assert_eq!(r, ":0\r\n");
        } else {
            assert_eq!(r, format!("-MOVED 5161 127.0.0.1:{owner}\r\n"));
        }
    }
}

/// (replica index, master index) pairs as `CLUSTER NODES` on `nodes[0]`
/// shows them.
fn replica_pairs(nodes: &[ServerHandle]) -> Vec<(usize, usize)> {
    let ids: Vec<String> = nodes.iter().map(myid).collect();
    let view = nodes[0].raw().cmd_str(&["CLUSTER", "NODES"]);
    view.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            if !f.get(2)?.contains("slave") {
                return None;
            }
            let r = ids
                .iter()
                .position(|i| i == f[0].trim_start_matches(|c: char| !c.is_ascii_hexdigit()))?;
            let m = ids.iter().position(|i| i == f[3])?;
            Some((r, m))
        })
        .collect()
}

/// READONLY lets a replica serve reads of its master's slots; CLUSTER
/// FAILOVER (plain, FORCE and TAKEOVER) turns a replica into the master
/// while the old master lives, and the old master follows it.
#[test]
fn replicas_serve_reads_after_readonly_and_take_over_on_cluster_failover() {
    let _heavy = heavy();
    let flavors = [
        Flavor::Redoubt,
        Flavor::Redis,
        Flavor::Redoubt,
        Flavor::Redoubt,
        Flavor::Redoubt,
        Flavor::Redis,
    ];
    let nodes = create_cluster(&flavors, 1);
    let mut pairs = Vec::new();
    wait_for("three replicas known", Duration::from_secs(10), || {
        pairs = replica_pairs(&nodes);
        pairs.len() == 3
    });
    for &(r, _) in &pairs {
        let mut c = nodes[r].client();
        wait_for("replica in sync", Duration::from_secs(20), || {
            info_field(&mut c, "replication", "master_link_status") == "up"
        });
    }
    // Reads on a replica: MOVED until READONLY.
    let (r, m) = pairs[0];
    let slot = nodes[m].raw().cmd_str(&["CLUSTER", "NODES"]);
    let range = slot
        .lines()
        .find(|l| l.contains("myself"))
        .unwrap()
        .split(' ')
        .nth(8)
        .unwrap()
        .to_string();
    let first: u16 = range.split('-').next().unwrap().parse().unwrap();
    let mut w = nodes[m].raw();
    // A key of the master's first slot, found by trying names.
    let name = (0..100_000)
        .map(|i| format!("k{i}"))
        .find(|k| text(q(&mut nodes[m].client(), &["CLUSTER", "KEYSLOT", k])) == first.to_string())
        .unwrap();
    assert_eq!(w.cmd_str(&["SET", &name, "v"]), "+OK\r\n");
    assert_eq!(w.cmd_str(&["WAIT", "1", "5000"]), ":1\r\n");
    let mut rr = nodes[r].raw();
    // The replica's slot index holds what it received (a full sync
    // replaced its dataset).
    assert_eq!(
        rr.cmd_str(&["CLUSTER", "COUNTKEYSINSLOT", &first.to_string()]),
        ":1\r\n"
    );
    assert_eq!(
        rr.cmd_str(&["GET", &name]),
        format!("-MOVED {first} 127.0.0.1:{}\r\n", nodes[m].port)
    );
    assert_eq!(rr.cmd_str(&["READONLY"]), "+OK\r\n");
    assert_eq!(rr.cmd_str(&["GET", &name]), "$1\r\nv\r\n");
    assert_eq!(
        rr.cmd_str(&["SET", &name, "w"]),
        format!("-MOVED {first} 127.0.0.1:{}\r\n", nodes[m].port)
    );
    assert_eq!(rr.cmd_str(&["READWRITE"]), "+OK\r\n");
    assert_eq!(
        rr.cmd_str(&["GET", &name]),
        format!("-MOVED {first} 127.0.0.1:{}\r\n", nodes[m].port)
    );
    // A master refuses CLUSTER FAILOVER.
    assert_eq!(
        nodes[m].raw().cmd_str(&["CLUSTER", "FAILOVER", "FORCE"]),
        "-ERR You should send CLUSTER FAILOVER to a replica\r\n"
    );
    for (i, how) in ["", "FORCE", "TAKEOVER"].iter().enumerate() {
        let (r, m) = pairs[i];
        let mut cmd = vec!["CLUSTER", "FAILOVER"];
        if !how.is_empty() {
            cmd.push(how);
        }
        assert_eq!(nodes[r].raw().cmd_str(&cmd), "+OK\r\n", "{how}");
        let rid = myid(&nodes[r]);
        let mut old = nodes[m].client();
        wait_for(
            &format!(
                "{how}: old master {} follows {}",
                nodes[m].port, nodes[r].port
            ),
            Duration::from_secs(20),
            || {
                let t = text(q(&mut old, &["CLUSTER", "NODES"]));
                t.lines()
                    .any(|l| l.contains("myself,slave") && l.contains(&rid))
            },
        );
        assert_eq!(
            info_field(&mut nodes[r].client(), "replication", "role"),
            "master"
        );
    }
    check_cluster(&nodes);
}

/// A replica loading a full sync from disk serves INFO meanwhile with
/// `loading:1`, and announces offset 0 on the bus: its master hides it
/// from CLUSTER SLOTS and shows it `loading` in CLUSTER SHARDS until the
/// load is done (Redis's `cluster/22-replica-in-sync` and
/// `cluster/28-cluster-shards`).
#[test]
fn a_replica_loading_a_full_sync_is_hidden_from_slots_and_shown_loading_in_shards() {
    let _heavy = heavy();
    let nodes = create_cluster(&[Flavor::Redoubt; 3], 0);
    let replica = start_node(Flavor::Redoubt, &[("repl-diskless-load", "disabled")]);
    let master = &nodes[0];
    let master_id = myid(master);
    let replica_id = myid(&replica);
    let mut r = replica.client();
    q(
        &mut r,
        &[
            "CLUSTER",
            "MEET",
            "127.0.0.1",
            &master.port.to_string(),
            &bus_port(master),
        ],
    );
    wait_for(
        "the replica to know the master",
        Duration::from_secs(10),
        || text(q(&mut r, &["CLUSTER", "NODES"])).contains(&master_id),
    );
    assert_eq!(text(q(&mut r, &["CLUSTER", "REPLICATE", &master_id])), "OK");
    wait_for_link_up(&replica);
    let mut m = master.client();
    let port = replica.port.to_string();
    let shard_health = |m: &mut redis::Connection| -> String {
        let shards = text(q(m, &["CLUSTER", "SHARDS"]));
        // The health that follows the replica's id.
        shards
            .split(&replica_id)
            .nth(1)
            .and_then(|rest| rest.split("health,").nth(1))
            .map(|h| {
                h.split(|c: char| !c.is_ascii_alphabetic())
                    .next()
                    .unwrap_or("")
                    .to_string()
            })
            .unwrap_or_default()
    };
    wait_for(
        "the replica listed in CLUSTER SLOTS",
        Duration::from_secs(10),
        || text(q(&mut m, &["CLUSTER", "SLOTS"])).contains(&port),
    );
    assert_eq!(shard_health(&mut m), "online");
    // A dataset that takes seconds to load, and a full sync.
    q(&mut m, &["DEBUG", "POPULATE", "1500", "key", "100"]);
    q(&mut m, &["CONFIG", "SET", "repl-backlog-size", "16384"]);
    q(&mut r, &["CONFIG", "SET", "key-load-delay", "2000"]);
    q(
        &mut r,
        &[
            "CONFIG",
            "SET",
            "loading-process-events-interval-bytes",
            "1024",
        ],
    );
    // A hash tag of one of the master's slots.
    let tag = (0..1000)
        .map(|i| format!("t{i}"))
        .find(|t| {
            let slot: u16 = text(q(&mut m, &["CLUSTER", "KEYSLOT", t])).parse().unwrap();
            owner_port(master, slot) == Some(master.port)
        })
        .unwrap();
    let mut mr = master.raw();
    mr.cmd_str(&["MULTI"]);
    mr.cmd_str(&["CLIENT", "KILL", "TYPE", "replica"]);
    let value = "A".repeat(1024);
    for j in 0..100 {
        mr.cmd_str(&["SET", &format!("{{{tag}}}{j}"), &value]);
    }
    assert!(mr.cmd_str(&["EXEC"]).starts_with("*101\r\n"));
    wait_for(
        "the master to hide the loading replica",
        Duration::from_secs(10),
        || !text(q(&mut m, &["CLUSTER", "SLOTS"])).contains(&port),
    );
    assert_eq!(info_field(&mut r, "persistence", "loading"), "1");
    assert_eq!(shard_health(&mut m), "loading");
    wait_for_link_up(&replica);
    assert_eq!(info_field(&mut r, "persistence", "loading"), "0");
    assert_eq!(text(q(&mut r, &["DBSIZE"])), text(q(&mut m, &["DBSIZE"])));
    wait_for(
        "the replica back in CLUSTER SLOTS",
        Duration::from_secs(10),
        || text(q(&mut m, &["CLUSTER", "SLOTS"])).contains(&port),
    );
    assert_eq!(shard_health(&mut m), "online");
}
