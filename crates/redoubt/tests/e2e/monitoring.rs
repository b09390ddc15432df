//! Monitoring that plugs into what operators run: the built-in endpoint's
//! `redis_*` families match what Debian's `prometheus-redis-exporter`
//! reports for the same server, and the shipped alert rules and dashboard
//! pass promtool and refer to metrics the endpoint serves.

use crate::harness::{free_port, wait_for, wait_for_link_up, Flavor, ServerHandle};
use crate::metrics::{http_get, promtool_accepts};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A series: metric name and its labels, sorted.
type Series = (String, BTreeMap<String, String>);

/// Parses the text exposition format into series → value.
fn parse(body: &str) -> BTreeMap<Series, f64> {
    let mut out = BTreeMap::new();
    for line in body.lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').expect("a sample line");
        let (name, labels) = match series.split_once('{') {
            None => (series.to_string(), BTreeMap::new()),
            Some((n, rest)) => (n.to_string(), parse_labels(rest.trim_end_matches('}'))),
        };
        out.insert((name, labels), value.parse::<f64>().expect("a value"));
    }
    out
}

fn parse_labels(s: &str) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    let mut rest = s;
    while let Some((k, after)) = rest.split_once("=\"") {
        let mut v = String::new();
        let mut chars = after.char_indices();
        let mut end = after.len();
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => {
                    if let Some((_, n)) = chars.next() {
                        v.push(if n == 'n' { '\n' } else { n });
                    }
                }
                '"' => {
                    end = i + 1;
                    break;
                }
                c => v.push(c),
            }
        }
        m.insert(k.trim_start_matches(',').to_string(), v);
        rest = &after[end..];
    }
    m
}

/// Debian's redis_exporter scraping one server; killed when dropped.
struct Exporter {
    child: Child,
    port: u16,
}

impl Exporter {
    fn start(redis_port: u16) -> Exporter {
        let port = free_port();
        let child = Command::new("prometheus-redis-exporter")
            .args([
                "-redis.addr",
                &format!("redis://127.0.0.1:{redis_port}"),
                "-web.listen-address",
                &format!("127.0.0.1:{port}"),
                "-redis-only-metrics",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "prometheus-redis-exporter is needed \
                     (tools/install-test-deps.sh installs it): {e}"
                )
            });
        let e = Exporter { child, port };
        wait_for("the exporter to listen", Duration::from_secs(10), || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        e
    }

    fn scrape(&self) -> BTreeMap<Series, f64> {
        // The exporter keeps HTTP/1.1 connections open: ask it to close.
        let mut s = std::net::TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        write!(
            s,
            "GET /metrics HTTP/1.0\r\nHost: localhost\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        let body = out.split_once("\r\n\r\n").map_or("", |(_, b)| b);
        assert!(
            body.contains("redis_up 1"),
            "the exporter could not scrape:\n{body}"
        );
        parse(body)
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Metrics whose value changes between two scrapes on its own (time,
/// memory, the scrapes' own traffic), compared by presence only.
fn volatile(name: &str) -> bool {
    name.contains("memory")
        || name.contains("mem_")
        || name.contains("cpu")
        || name.contains("net_")
        || name.contains("uptime")
        || name.contains("start_time")
        || name.contains("lag_seconds")
        || name.contains("last_io")
        || name == "redis_commands_processed_total"
        || name == "redis_connections_received_total"
        || name == "redis_connected_clients"
        || name == "redis_total_error_replies"
        || name == "redis_keyspace_hits_total"
        || name == "redis_keyspace_misses_total"
        || name.starts_with("redis_commands_")
}

/// Compares our `redis_*` samples with the exporter's for one server:
/// every series we serve must be one the exporter serves (same name and
/// labels), with the same value where the value is stable; and the
/// metrics the issue names are all there.
fn compare(ours: &BTreeMap<Series, f64>, theirs: &BTreeMap<Series, f64>, what: &str) {
    let mut problems = Vec::new();
    for ((name, labels), v) in ours {
        if !name.starts_with("redis_") {
            continue;
        }
        // Per-command series: the exporter's own commands (INFO, CONFIG
        // GET, ...) appear as it scrapes; compare the test's commands.
        if name.starts_with("redis_commands_") && name != "redis_commands_processed_total" {
            let cmd = labels.get("cmd").map(String::as_str).unwrap_or("");
            if !matches!(cmd, "set" | "get" | "incr") {
                continue;
            }
        }
        match theirs.get(&(name.clone(), labels.clone())) {
            None => problems.push(format!("{name}{labels:?}: the exporter has no such series")),
            Some(t) if !volatile(name) && (t - v).abs() > 1e-9 => {
                problems.push(format!("{name}{labels:?}: ours {v}, exporter {t}"))
            }
            Some(t) if name.starts_with("redis_commands_total") && t != v => {
                problems.push(format!("{name}{labels:?}: ours {v}, exporter {t}"))
            }
            _ => {}
        }
    }
    let ours_names: BTreeSet<&str> = ours.keys().map(|(n, _)| n.as_str()).collect();
    let theirs_names: BTreeSet<&str> = theirs.keys().map(|(n, _)| n.as_str()).collect();
    // Families of the exporter we do not serve are listed on failure, to
    // say what is left, but only the list is required.
    let missing: Vec<&&str> = theirs_names.difference(&ours_names).collect();
    assert!(
        problems.is_empty(),
        "{what}: {} differences:\n{}\n(exporter families we do not serve: {missing:?})",
        problems.len(),
        problems.join("\n")
    );
}

const REQUIRED_MASTER: &[&str] = &[
    "redis_up",
    "redis_instance_info",
    "redis_connected_clients",
    "redis_blocked_clients",
    "redis_memory_used_bytes",
    "redis_memory_max_bytes",
    "redis_commands_total",
    "redis_commands_duration_seconds_total",
    "redis_keyspace_hits_total",
    "redis_keyspace_misses_total",
    "redis_evicted_keys_total",
    "redis_expired_keys_total",
    "redis_connected_slaves",
    "redis_master_repl_offset",
    "redis_connected_slave_offset_bytes",
    "redis_connected_slave_lag_seconds",
    "redis_rdb_last_save_timestamp_seconds",
    "redis_rdb_last_bgsave_status",
    "redis_aof_last_bgrewrite_status",
    "redis_rejected_connections_total",
    "redis_db_keys",
    "redis_db_keys_expiring",
    "redis_replica_resyncs_full",
];

fn assert_has(m: &BTreeMap<Series, f64>, names: &[&str], what: &str) {
    for n in names {
        assert!(
            m.keys().any(|(k, _)| k == n),
            "{what}: {n} missing from the endpoint"
        );
    }
}

fn value(m: &BTreeMap<Series, f64>, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let l = labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    m.get(&(name.to_string(), l)).copied()
}

#[test]
fn metrics_match_redis_exporter_on_a_master_and_a_replica() {
    let mport = free_port();
    let rport = free_port();
    let m = ServerHandle::start(Flavor::Redoubt, &[("metrics-port", &mport.to_string())]);
    let r = ServerHandle::start(
        Flavor::Redoubt,
        &[
            ("replicaof", &format!("127.0.0.1 {}", m.port)),
            ("metrics-port", &rport.to_string()),
        ],
    );
    wait_for_link_up(&r);
    let mut c = m.client();
    for i in 0..20 {
        let _: () = redis::cmd("SET")
            .arg(format!("k{i}"))
            .arg(i)
            .query(&mut c)
            .unwrap();
    }
    let _: () = redis::cmd("SET")
        .arg("t")
        .arg(1)
        .arg("EX")
        .arg(1000)
        .query(&mut c)
        .unwrap();
    let _: Option<String> = redis::cmd("GET").arg("k1").query(&mut c).unwrap();
    let _: Option<String> = redis::cmd("GET").arg("nope").query(&mut c).unwrap();
    let _: i64 = redis::cmd("INCR").arg("n").query(&mut c).unwrap();
    let _: i64 = redis::cmd("WAIT").arg(1).arg(5000).query(&mut c).unwrap();
    // The replica's acknowledged offset reaches the master's and stays
    // there (nothing else is written) before the two scrapes.
    wait_for(
        "the replica to acknowledge",
        Duration::from_secs(10),
        || {
            let body = parse(&http_get(mport, "/metrics").1);
            let off = value(&body, "redis_master_repl_offset", &[]);
            let slave = body
                .iter()
                .find(|((n, _), _)| n == "redis_connected_slave_offset_bytes")
                .map(|(_, v)| *v);
            off.is_some() && off == slave
        },
    );

    for (port, mp, what) in [(m.port, mport, "master"), (r.port, rport, "replica")] {
        let exporter = Exporter::start(port);
        let theirs = exporter.scrape();
        let body = http_get(mp, "/metrics").1;
        promtool_accepts(&body);
        let ours = parse(&body);
        compare(&ours, &theirs, what);
        if what == "master" {
            assert_has(&ours, REQUIRED_MASTER, what);
            assert_eq!(
                value(&ours, "redis_db_keys", &[("db", "db0")]),
                Some(22.0),
                "{body}"
            );
            assert_eq!(
                value(&ours, "redis_db_keys_expiring", &[("db", "db0")]),
                Some(1.0)
            );
            assert_eq!(value(&ours, "redis_connected_slaves", &[]), Some(1.0));
            assert_eq!(
                value(&ours, "redis_commands_total", &[("cmd", "set")]),
                Some(21.0)
            );
        } else {
            assert_has(
                &ours,
                &["redis_master_link_up", "redis_slave_repl_offset"],
                what,
            );
            let at = [
                ("master_host", "127.0.0.1"),
                ("master_port", &*m.port.to_string()),
            ];
            assert_eq!(
                value(&ours, "redis_master_link_up", &at),
                Some(1.0),
                "{body}"
            );
        }
    }
}

/// The shipped monitoring files, from the repository's root.
fn contrib(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../contrib")
        .join(path)
}

fn promtool(args: &[&str]) -> String {
    let out = Command::new("promtool")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("promtool is needed (apt-get install prometheus): {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "promtool {args:?}:\n{text}");
    text
}

#[test]
fn alert_rules_and_example_config_pass_promtool_and_their_unit_tests() {
    let rules = contrib("prometheus/redoubt-replication.rules.yml");
    let tests = contrib("prometheus/redoubt-replication.rules.test.yml");
    let out = promtool(&["check", "rules", rules.to_str().unwrap()]);
    assert!(out.contains("SUCCESS"), "{out}");
    let out = promtool(&["test", "rules", tests.to_str().unwrap()]);
    assert!(out.contains("SUCCESS"), "{out}");
    // The example configuration that loads them.
    let config = contrib("prometheus/prometheus.yml");
    let out = promtool(&["check", "config", config.to_str().unwrap()]);
    assert!(out.contains("SUCCESS"), "{out}");
}

/// Every metric the rules and the dashboard query is one the endpoint
/// (of a server, or of a sentinel for `redoubt_sentinel_*`) serves, so a
/// renamed metric cannot leave a silent alert or an empty panel.
#[test]
fn rules_and_dashboard_query_metrics_the_endpoints_serve() {
    let mport = free_port();
    let m = ServerHandle::start(Flavor::Redoubt, &[("metrics-port", &mport.to_string())]);
    let _r = ServerHandle::start(
        Flavor::Redoubt,
        &[("replicaof", &format!("127.0.0.1 {}", m.port))],
    );
    // An error reply, so that redis_errors_total has a sample.
    let _ = redis::cmd("NOSUCHCOMMAND").query::<()>(&mut m.client());
    wait_for(
        "the replica in the metrics",
        Duration::from_secs(10),
        || {
            http_get(mport, "/metrics")
                .1
                .contains("slave_state=\"online\"")
        },
    );
    let served = parse(&http_get(mport, "/metrics").1);
    let names: BTreeSet<&str> = served.keys().map(|(n, _)| n.as_str()).collect();
    let rules =
        std::fs::read_to_string(contrib("prometheus/redoubt-replication.rules.yml")).unwrap();
    let dash = std::fs::read_to_string(contrib("grafana/redoubt-replication.json")).unwrap();
    let sentinel_families = sentinel_metric_names();
    let mut unknown = BTreeSet::new();
    for text in [&rules, &dash] {
        for word in text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
            let metric = word.starts_with("redis_") || word.starts_with("redoubt_");
            if !metric
                || word.ends_with('_')
                || names.contains(word)
                || sentinel_families.contains(word)
            {
                continue;
            }
            // Replica-side families are checked on a replica below.
            if !matches!(
                word,
                "redis_master_link_up"
                    | "redis_master_last_io_seconds_ago"
                    | "redis_slave_repl_offset"
                    | "redoubt_master_link_up"
                    | "redoubt_master_last_io_seconds"
            ) {
                unknown.insert(word.to_string());
            }
        }
    }
    // Words of the comments that look like metric names are not.
    unknown.remove("redis_exporter");
    assert!(unknown.is_empty(), "queried but not served: {unknown:?}");
}

/// The Sentinel families (served by a sentinel's `metrics-port`), as
/// the sentinel crate's exposition names them.
fn sentinel_metric_names() -> BTreeSet<String> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../sentinel/src/metrics.rs");
    let text = std::fs::read_to_string(src).unwrap();
    text.split('"')
        .filter(|w| w.starts_with("redoubt_sentinel_"))
        .map(str::to_string)
        .collect()
}
