//! A network partition, made with network namespaces the test creates and
//! removes: the master and one sentinel on one side, both replicas and two
//! sentinels on the other. The majority elects a new master, the minority
//! cannot, and the cut-off old master, configured with
//! `min-replicas-to-write 1`, refuses writes within `min-replicas-max-lag`.

use crate::harness::{redoubt_bin, temp_dir, try_query, wait_for};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use topology::{Launch, Node};

const NAME: &str = "mymaster";

fn ip(args: &[&str]) -> bool {
    Command::new("ip")
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// Two namespaces joined by a bridge in the root namespace; removed on
/// drop with every process started in them.
struct Net {
    tag: String,
    subnet: String,
    nodes: Vec<Node>,
    dir: std::path::PathBuf,
}

impl Net {
    fn new() -> Option<Net> {
        let n = std::process::id() % 200 + 20;
        let tag = format!("rdt{n}");
        let subnet = format!("10.213.{n}");
        let net = Net {
            tag: tag.clone(),
            subnet: subnet.clone(),
            nodes: Vec::new(),
            dir: temp_dir("partition"),
        };
        net.teardown();
        let br = format!("{tag}br");
        let ok = ip(&["link", "add", &br, "type", "bridge"])
            && ip(&["addr", "add", &format!("{subnet}.1/24"), "dev", &br])
            && ip(&["link", "set", &br, "up"]);
        if !ok {
            return None;
        }
        for (side, host) in [("a", 10), ("b", 20)] {
            let ns = format!("{tag}{side}");
            let (v, peer) = (format!("{tag}v{side}"), format!("{tag}p{side}"));
            let ok = ip(&["netns", "add", &ns])
                && ip(&["link", "add", &v, "type", "veth", "peer", "name", &peer])
                && ip(&["link", "set", &peer, "netns", &ns])
                && ip(&[
                    "-n",
                    &ns,
                    "addr",
                    "add",
                    &format!("{subnet}.{host}/24"),
                    "dev",
                    &peer,
                ])
                && ip(&["-n", &ns, "link", "set", &peer, "up"])
                && ip(&["-n", &ns, "link", "set", "lo", "up"])
                && ip(&["link", "set", &v, "master", &br])
                && ip(&["link", "set", &v, "up"]);
            if !ok {
                return None;
            }
        }
        Some(net)
    }

    fn teardown(&self) {
        for side in ["a", "b"] {
            ip(&["netns", "del", &format!("{}{side}", self.tag)]);
            ip(&["link", "del", &format!("{}v{side}", self.tag)]);
        }
        ip(&["link", "del", &format!("{}br", self.tag)]);
    }

    fn host(&self, side: &str) -> String {
        format!("{}.{}", self.subnet, if side == "a" { 10 } else { 20 })
    }

    /// Starts what `launch` describes inside a side's namespace, through
    /// the launcher, listening on that side's address; returns its port.
    fn start(&mut self, side: &str, role: &str, launch: Launch) -> u16 {
        let node = launch
            .host(&self.host(side))
            .start()
            .unwrap_or_else(|e| panic!("{role} on side {side}: {e}"));
        let port = node.port;
        self.nodes.push(node);
        port
    }

    /// `redoubt ROLE` inside a side's namespace, in a folder of its own.
    fn program(&self, side: &str, role: &str) -> (Vec<String>, std::path::PathBuf) {
        let ns = format!("{}{side}", self.tag);
        let program = ["ip", "netns", "exec", &ns, redoubt_bin(), role]
            .map(String::from)
            .to_vec();
        (
            program,
            self.dir.join(format!("{role}-{}", self.nodes.len())),
        )
    }

    fn server(&mut self, side: &str, extra: &[(&str, &str)]) -> u16 {
        let (program, dir) = self.program(side, "server");
        let launch = Launch::server(program, dir)
            .directives(&[
                ("save", ""),
                ("repl-diskless-sync-delay", "0"),
                // Reached over the bridge, not loopback, and without a password.
                ("protected-mode", "no"),
            ])
            .directives(extra);
        self.start(side, "server", launch)
    }

    fn sentinel(&mut self, side: &str, master: &str, mport: u16) -> u16 {
        let (program, dir) = self.program(side, "sentinel");
        let conf = format!(
            "sentinel monitor {NAME} {master} {mport} 2\n\
             sentinel down-after-milliseconds {NAME} 1000\nsentinel failover-timeout {NAME} 4000\n"
        );
        self.start(side, "sentinel", Launch::sentinel(program, dir, &conf))
    }

    fn cut(&self, side: &str, up: bool) {
        let v = format!("{}v{side}", self.tag);
        assert!(ip(&["link", "set", &v, if up { "up" } else { "down" }]));
    }

    /// Runs redis-cli inside a side's namespace (to reach the cut-off side).
    fn cli(&self, side: &str, host: &str, port: u16, args: &[&str]) -> String {
        let ns = format!("{}{side}", self.tag);
        let out = Command::new("ip")
            .args([
                "netns",
                "exec",
                &ns,
                "redis-cli",
                "-h",
                host,
                "-p",
                &port.to_string(),
            ])
            .args(args)
            .output()
            .expect("redis-cli");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        // The processes go first (each prints its log tail in a failing
        // test), then the namespaces they ran in.
        self.nodes.clear();
        self.teardown();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn query(host: &str, port: u16, args: &[&str]) -> Option<redis::Value> {
    try_query(&format!("redis://{host}:{port}/"), args)
}

fn master_of(host: &str, sentinel: u16) -> Option<String> {
    match query(
        host,
        sentinel,
        &["SENTINEL", "get-master-addr-by-name", NAME],
    )? {
        redis::Value::Array(v) if v.len() == 2 => {
            let h: String = redis::from_redis_value(&v[0]).ok()?;
            let p: String = redis::from_redis_value(&v[1]).ok()?;
            Some(format!("{h}:{p}"))
        }
        _ => None,
    }
}

#[test]
fn partition_majority_elects_minority_cannot_old_master_fenced() {
    // Needs root and iproute2 (CI runs as root and installs iproute2): a
    // machine that cannot make network namespaces fails this test, it
    // never passes without having partitioned anything.
    let mut net = Net::new().expect("cannot create network namespaces (needs root and iproute2)");
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
