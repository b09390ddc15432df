//! The cluster bus over TLS (`tls-cluster yes`): three Redoubt nodes that
//! listen on TLS only (`port 0`) made into a cluster by `redis-cli --tls
//! --cluster create`, and a mixed cluster of Redoubt and real Redis
//! 7.0.15 nodes whose bus, replication and clients all run over TLS, where
//! plain clients are told the plain ports and TLS clients the TLS ones,
//! byte for byte as Redis tells them.

use crate::cluster::{myid, wait_state_ok};
use crate::cluster_ops::assert_no_unexpected_warnings;
use crate::harness::*;
use crate::tls::{cli_tls, client_cert, Pki};
use std::path::PathBuf;
use std::process::{Child, Command};
use std::time::Duration;

/// The TLS directives of every node: the bus and replication over TLS,
/// the test CA's server certificate, clients with certificates.
fn tls_directives(pki: &Pki) -> Vec<(&'static str, String)> {
    vec![
        ("tls-cert-file", pki.cert.clone()),
        ("tls-key-file", pki.key.clone()),
        ("tls-ca-cert-file", pki.ca.clone()),
        ("tls-cluster", "yes".into()),
        ("tls-replication", "yes".into()),
        ("cluster-enabled", "yes".into()),
        ("cluster-node-timeout", "2000".into()),
    ]
}

/// A cluster node listening on TLS only (`port 0`). The harness's
/// launcher probes a plain port, so these are started here, probed with
/// `redis-cli --tls`, killed and their folder removed on drop (after
/// printing the log tail when the test failed).
struct TlsOnlyNode {
    tls_port: u16,
    bus_port: u16,
    dir: PathBuf,
    child: Child,
}

impl TlsOnlyNode {
    fn start(flavor: Flavor, pki: &Pki) -> TlsOnlyNode {
        let dir = temp_dir("tls-cluster");
        let (tls_port, bus_port) = (free_port(), free_port());
        let mut cmd = flavor.program(topology::Kind::Server);
        let program = cmd.remove(0);
        let mut d = tls_directives(pki);
        d.extend([
            ("port", "0".into()),
            // Clients need no certificate; the bus needs one all the same.
            ("tls-auth-clients", "no".into()),
            ("tls-port", tls_port.to_string()),
            ("cluster-port", bus_port.to_string()),
            ("bind", "127.0.0.1".into()),
            ("dir", dir.display().to_string()),
            ("logfile", dir.join("server.log").display().to_string()),
            ("appendonly", "no".into()),
            ("repl-diskless-sync-delay", "0".into()),
        ]);
        for (k, v) in d {
            cmd.push(format!("--{k}"));
            cmd.push(v);
        }
        cmd.extend(["--save".into(), String::new()]);
        let child = Command::new(program)
            .args(&cmd)
            .current_dir(&dir)
            .spawn()
            .expect("start the server");
        let mut n = TlsOnlyNode {
            tls_port,
            bus_port,
            dir,
            child,
        };
        wait_for(
            &format!("{flavor:?} to answer PING on TLS port {tls_port}"),
            Duration::from_secs(10),
            || {
                assert!(
                    n.child.try_wait().ok().flatten().is_none(),
                    "the server exited:\n{}",
                    n.log()
                );
                n.cli(pki, &["PING"]).is_ok_and(|r| r == "PONG")
            },
        );
        n
    }

    fn cli(&self, pki: &Pki, args: &[&str]) -> Result<String, String> {
        cli_tls(self.tls_port, &pki.ca, client_cert(pki), args)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
    }
}

impl Drop for TlsOnlyNode {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let log = self.log();
            let tail: Vec<&str> = log.lines().rev().take(30).collect();
            eprintln!(
                "--- TLS node {} log tail ---\n{}",
                self.tls_port,
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Whether a TLSv1.2 handshake without a client certificate succeeds on
/// `port` (with TLSv1.2 the server's refusal comes within the handshake,
/// where `openssl s_client` reports it).
fn handshake_without_certificate(port: u16, ca: &str) -> bool {
    let out = Command::new("openssl")
        .args(["s_client", "-tls1_2", "-CAfile", ca, "-connect"])
        .arg(format!("127.0.0.1:{port}"))
        .stdin(std::process::Stdio::null())
        .output()
        .expect("openssl");
    let text = output_text(&out);
    assert!(text.contains("CONNECTED"), "{text}");
    !text.contains("alert")
}

/// `redis-cli --tls --cluster create` over `addrs`.
fn create_over_tls(pki: &Pki, addrs: &[String], replicas: usize) {
    let mut cmd = Command::new("redis-cli");
    cmd.args(["--tls", "--cacert", &pki.ca])
        .args(["--cert", &pki.client_cert, "--key", &pki.client_key])
        .args(["--cluster", "create"])
        .args(addrs);
    if replicas > 0 {
        cmd.args(["--cluster-replicas", &replicas.to_string()]);
    }
    let out = cmd.arg("--cluster-yes").output().expect("redis-cli");
    let report = output_text(&out);
    assert!(out.status.success(), "{report}");
    assert!(report.contains("[OK] All 16384 slots covered."), "{report}");
}

/// Three Redoubt nodes with no plain port at all: the bus, the clients
/// and `redis-cli --cluster` speak TLS only; the nodes announce their TLS
/// ports, a client following MOVED reaches every slot, and the bus
/// refuses a peer without a certificate even with `tls-auth-clients no`.
#[test]
fn redis_cli_creates_a_tls_only_cluster_of_redoubt_nodes() {
    let _heavy = heavy();
    let t = std::time::Instant::now();
    let pki = Pki::new("tls-cluster");
    let nodes: Vec<TlsOnlyNode> = (0..3)
        .map(|_| TlsOnlyNode::start(Flavor::Redoubt, &pki))
        .collect();
    let addrs: Vec<String> = nodes
        .iter()
        .map(|n| format!("127.0.0.1:{}", n.tls_port))
        .collect();
    create_over_tls(&pki, &addrs, 0);
    for n in &nodes {
        wait_for(
            &format!("cluster_state:ok on {}", n.tls_port),
            Duration::from_secs(20),
            || {
                n.cli(&pki, &["CLUSTER", "INFO"])
                    .is_ok_and(|r| r.contains("cluster_state:ok"))
            },
        );
    }
    // Every node is known by its TLS port and bus port, with links both
    // ways.
    for n in &nodes {
        let view = n.cli(&pki, &["CLUSTER", "NODES"]).unwrap();
        for m in &nodes {
            let a = format!("127.0.0.1:{}@{} ", m.tls_port, m.bus_port);
            assert!(view.contains(&a), "{a} missing:\n{view}");
        }
        wait_for("two links each way", Duration::from_secs(10), || {
            let links = n.cli(&pki, &["CLUSTER", "LINKS"]).unwrap_or_default();
            let count = |dir: &str| links.lines().filter(|l| *l == dir).count();
            count("from") == 2 && count("to") == 2
        });
        // No plain port to report: CLUSTER SHARDS gives the TLS one only.
        let shards = n.cli(&pki, &["CLUSTER", "SHARDS"]).unwrap();
        assert!(shards.contains("tls-port"), "{shards}");
        assert!(!shards.lines().any(|l| l == "port"), "{shards}");
    }
    for i in 0..30 {
        let k = format!("key{i}");
        assert_eq!(nodes[0].cli(&pki, &["-c", "SET", &k, "v"]).unwrap(), "OK");
        assert_eq!(nodes[2].cli(&pki, &["-c", "GET", &k]).unwrap(), "v");
    }
    let check = Command::new("redis-cli")
        .args(["--tls", "--cacert", &pki.ca])
        .args(["--cert", &pki.client_cert, "--key", &pki.client_key])
        .args(["--cluster", "check", &addrs[1]])
        .output()
        .unwrap();
    let report = output_text(&check);
    assert!(check.status.success(), "{report}");
    assert!(
        report.contains("[OK] All nodes agree about slots configuration."),
        "{report}"
    );
    // The bus asks for a client certificate although clients need none,
    // as Redis's does.
    for n in &nodes {
        assert!(handshake_without_certificate(n.tls_port, &pki.ca));
        assert!(!handshake_without_certificate(n.bus_port, &pki.ca));
    }
    // Nothing went wrong on the bus (a refused handshake logs at verbose
    // level, as in Redis).
    for n in &nodes {
        let unexpected: Vec<String> = warnings_in(&n.dir.join("server.log"))
            .into_iter()
            .filter(|l| {
                !l.contains("no config file specified") && !l.contains("configEpoch set to")
            })
            .collect();
        assert!(unexpected.is_empty(), "{unexpected:?}");
    }
    eprintln!("TLS-only cluster: {:?}", t.elapsed());
}

/// A node of the mixed cluster: a plain port (the harness's) beside its
/// TLS port.
struct MixedNode {
    h: ServerHandle,
    tls_port: u16,
}

/// `(id, address)` of every node in a CLUSTER NODES text, sorted.
fn addresses(view: &str) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = view
        .lines()
        .filter_map(|l| {
            let mut f = l.split(' ');
            Some((f.next()?.to_string(), f.next()?.to_string()))
        })
        .collect();
    v.sort();
    v
}

/// Three Redoubt and three real Redis nodes (three masters with a
/// replica each) over a TLS bus and TLS replication. Plain clients are
/// told plain ports (CLUSTER NODES, SLOTS, MOVED) and TLS clients TLS
/// ports, the same on a Redoubt node as on a Redis node; the replicas
/// sync over TLS and clients write through any node.
#[test]
fn a_mixed_cluster_of_redoubt_and_redis_nodes_runs_its_bus_over_tls() {
    let _heavy = heavy();
    let t = std::time::Instant::now();
    let pki = Pki::new("tls-mixed");
    let flavors = [
        Flavor::Redoubt,
        Flavor::Redis,
        Flavor::Redoubt,
        Flavor::Redis,
        Flavor::Redis,
        Flavor::Redoubt,
    ];
    let nodes: Vec<MixedNode> = flavors
        .iter()
        .map(|f| {
            let tls_port = free_port();
            let bus = free_port();
            let mut d = tls_directives(&pki);
            d.push(("tls-port", tls_port.to_string()));
            d.push(("cluster-port", bus.to_string()));
            let d: Vec<(&str, &str)> = d.iter().map(|(k, v)| (*k, v.as_str())).collect();
            MixedNode {
                h: ServerHandle::start(*f, &d),
                tls_port,
            }
        })
        .collect();
    let addrs: Vec<String> = nodes
        .iter()
        .map(|n| format!("127.0.0.1:{}", n.tls_port))
        .collect();
    create_over_tls(&pki, &addrs, 1);
    wait_state_ok(&nodes.iter().map(|n| &n.h).collect::<Vec<_>>());
    for n in &nodes {
        let mut c = n.h.client();
        if info_field(&mut c, "replication", "role") == "slave" {
            wait_for(
                &format!("replica {} in sync over TLS", n.tls_port),
                Duration::from_secs(20),
                || info_field(&mut c, "replication", "master_link_status") == "up",
            );
        }
    }
    let tls_view = |n: &MixedNode, args: &[&str]| {
        cli_tls(n.tls_port, &pki.ca, client_cert(&pki), args).unwrap()
    };
    // Both kinds agree on every address, plain and TLS.
    let (ours, theirs) = (&nodes[0], &nodes[1]);
    wait_for(
        "Redoubt and Redis to show the same addresses",
        Duration::from_secs(20),
        || {
            let plain = addresses(&ours.h.raw().cmd_str(&["CLUSTER", "NODES"]))
                == addresses(&theirs.h.raw().cmd_str(&["CLUSTER", "NODES"]));
            let tls = addresses(&tls_view(ours, &["CLUSTER", "NODES"]))
                == addresses(&tls_view(theirs, &["CLUSTER", "NODES"]));
            plain && tls
        },
    );
    let plain = ours.h.raw().cmd_str(&["CLUSTER", "NODES"]);
    let over_tls = tls_view(ours, &["CLUSTER", "NODES"]);
    for n in &nodes {
        assert!(plain.contains(&format!(":{}@", n.h.port)), "{plain}");
        assert!(
            over_tls.contains(&format!(":{}@", n.tls_port)),
            "{over_tls}"
        );
    }
    // CLUSTER SLOTS byte for byte, on a plain connection and over TLS.
    wait_for(
        "the same CLUSTER SLOTS on Redoubt and Redis",
        Duration::from_secs(20),
        || {
            ours.h.raw().cmd_str(&["CLUSTER", "SLOTS"])
                == theirs.h.raw().cmd_str(&["CLUSTER", "SLOTS"])
                && tls_view(ours, &["CLUSTER", "SLOTS"]) == tls_view(theirs, &["CLUSTER", "SLOTS"])
        },
    );
    // MOVED names the port of the client's kind.
    let slot = 12182; // "foo"
    let owner = nodes
        .iter()
        .find(|n| {
            let r = n.h.raw().cmd_str(&["CLUSTER", "NODES"]);
            r.lines().any(|l| {
                l.contains("myself,master")
                    && l.split(' ').skip(8).any(|r| {
                        r.split_once('-').is_some_and(|(a, b)| {
                            a.parse::<u16>().unwrap() <= slot && slot <= b.parse::<u16>().unwrap()
                        })
                    })
            })
        })
        .unwrap();
    // (the same on every other node, Redoubt or Redis, replica or not).
    let others: Vec<&MixedNode> = nodes.iter().filter(|n| n.h.port != owner.h.port).collect();
    assert_eq!(others.len(), 5);
    for n in others {
        assert_eq!(
            n.h.raw().cmd_str(&["SET", "foo", "x"]),
            format!("-MOVED {slot} 127.0.0.1:{}\r\n", owner.h.port),
            "{:?} {}",
            n.h.flavor,
            myid(&n.h)
        );
        let over_tls = cli_tls(n.tls_port, &pki.ca, client_cert(&pki), &["SET", "foo", "x"]);
        let moved = format!("MOVED {slot} 127.0.0.1:{}", owner.tls_port);
        assert!(format!("{over_tls:?}").contains(&moved), "{over_tls:?}");
    }
    // Clients of both kinds write through any node.
    for (i, n) in nodes.iter().enumerate() {
        let k = format!("k{i}");
        assert_eq!(tls_view(n, &["-c", "SET", &k, "v"]), "OK");
        let out = Command::new("redis-cli")
            .args(["-c", "-p", &n.h.port.to_string(), "GET", &k])
            .output()
            .unwrap();
        assert_eq!(output_text(&out).trim(), "v");
    }
    assert_no_unexpected_warnings(nodes.iter().map(|n| &n.h));
    eprintln!("mixed TLS cluster: {:?}", t.elapsed());
}
