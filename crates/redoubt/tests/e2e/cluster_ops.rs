//! The operator's path for a cluster: `redoubt up --cluster` forms one
//! that `redis-cli --cluster check` accepts and clients use, shows every
//! node, and stops on Ctrl-C leaving no process behind; `redoubt doctor`
//! walks a whole cluster from one node and names what `redis-cli
//! --cluster check` would complain about (an open slot, an uncovered
//! slot, a master without a replica); the metrics endpoint shows the
//! node's view of the cluster.

use crate::harness::*;
use crate::metrics::http_get;
use crate::up::Up;
use std::process::Command;
use std::time::Duration;

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
