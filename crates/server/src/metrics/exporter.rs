//! The `redis_*` families: what the Prometheus redis_exporter (Debian's
//! `prometheus-redis-exporter`, 1.45) would report for this server, under
//! its metric names and label sets, so the dashboards and alert rules
//! written for it work against the built-in endpoint with no exporter in
//! between.
//!
//! Only what the exporter derives from `INFO` is covered, and only the
//! fields Redoubt has; the e2e test `metrics_match_redis_exporter` runs the
//! real exporter against the same server and compares names, labels and
//! values. The exporter's own bookkeeping (`redis_exporter_*`, scrape
//! durations), `redis_total_error_replies` (a counter without the
//! `_total` suffix, which promtool's lint refuses; `redis_errors_total`
//! has the same figures by code), the `redis_*_duration_sec` gauges
//! (promtool refuses the abbreviated unit), and what it reads with other commands (`CONFIG GET`,
//! `SLOWLOG`, `LATENCY LATEST`, key scans) are not reproduced.
//!
//! Conventions that follow the exporter, not our own style: the `db`
//! label is `db0` rather than `0`, replicas are `slave_*` labels, some
//! counters (`redis_replica_resyncs_full`) are typed as gauges, and the
//! status fields (`rdb_last_bgsave_status:ok`) become 1 for `ok`, else 0.

use super::{Exposition, Kind};
use std::collections::BTreeMap;

/// INFO fields exported as one unlabelled sample: field, metric, type,
/// help.
const PLAIN: &[(&str, &str, Kind, &str)] = &[
    (
        "uptime_in_seconds",
        "redis_uptime_in_seconds",
        Kind::Gauge,
        "Seconds since start-up",
    ),
    (
        "connected_clients",
        "redis_connected_clients",
        Kind::Gauge,
        "Client connections, replicas excluded",
    ),
    (
        "blocked_clients",
        "redis_blocked_clients",
        Kind::Gauge,
        "Clients waiting in a blocking command",
    ),
    (
        "tracking_clients",
        "redis_tracking_clients",
        Kind::Gauge,
        "Clients with client-side caching tracking on",
    ),
    (
        "used_memory",
        "redis_memory_used_bytes",
        Kind::Gauge,
        "INFO used_memory",
    ),
    (
        "used_memory_rss",
        "redis_memory_used_rss_bytes",
        Kind::Gauge,
        "Resident set size",
    ),
    (
        "used_memory_peak",
        "redis_memory_used_peak_bytes",
        Kind::Gauge,
        "Peak of used_memory",
    ),
    (
        "used_memory_startup",
        "redis_memory_used_startup_bytes",
        Kind::Gauge,
        "used_memory right after start-up",
    ),
    (
        "used_memory_dataset",
        "redis_memory_used_dataset_bytes",
        Kind::Gauge,
        "used_memory less the overhead",
    ),
    (
        "maxmemory",
        "redis_memory_max_bytes",
        Kind::Gauge,
        "maxmemory (0: no limit)",
    ),
    (
        "mem_clients_slaves",
        "redis_mem_clients_slaves",
        Kind::Gauge,
        "Memory held by replica connections",
    ),
    (
        "mem_clients_normal",
        "redis_mem_clients_normal",
        Kind::Gauge,
        "Memory held by client connections",
    ),
    (
        "total_connections_received",
        "redis_connections_received_total",
        Kind::Counter,
        "Connections accepted",
    ),
    (
        "total_commands_processed",
        "redis_commands_processed_total",
        Kind::Counter,
        "Commands executed",
    ),
    (
        "rejected_connections",
        "redis_rejected_connections_total",
        Kind::Counter,
        "Connections refused (maxclients)",
    ),
    (
        "total_net_input_bytes",
        "redis_net_input_bytes_total",
        Kind::Counter,
        "Bytes read from the network",
    ),
    (
        "total_net_output_bytes",
        "redis_net_output_bytes_total",
        Kind::Counter,
        "Bytes written to the network",
    ),
    (
        "expired_keys",
        "redis_expired_keys_total",
        Kind::Counter,
        "Keys removed on expiry",
    ),
    (
        "evicted_keys",
        "redis_evicted_keys_total",
        Kind::Counter,
        "Keys evicted by maxmemory",
    ),
    (
        "keyspace_hits",
        "redis_keyspace_hits_total",
        Kind::Counter,
        "Key lookups that found the key",
    ),
    (
        "keyspace_misses",
        "redis_keyspace_misses_total",
        Kind::Counter,
        "Key lookups that did not",
    ),
    (
        "pubsub_channels",
        "redis_pubsub_channels",
        Kind::Gauge,
        "Channels with subscribers",
    ),
    (
        "pubsub_patterns",
        "redis_pubsub_patterns",
        Kind::Gauge,
        "Patterns with subscribers",
    ),
    (
        "loading",
        "redis_loading_dump_file",
        Kind::Gauge,
        "1 while loading an RDB or AOF file",
    ),
    (
        "rdb_changes_since_last_save",
        "redis_rdb_changes_since_last_save",
        Kind::Gauge,
        "Writes since the last save",
    ),
    (
        "rdb_bgsave_in_progress",
        "redis_rdb_bgsave_in_progress",
        Kind::Gauge,
        "1 while a background save runs",
    ),
    (
        "rdb_last_save_time",
        "redis_rdb_last_save_timestamp_seconds",
        Kind::Gauge,
        "Unix time of the last successful save",
    ),
    (
        "aof_enabled",
        "redis_aof_enabled",
        Kind::Gauge,
        "1 when appendonly is on",
    ),
    (
        "aof_rewrite_in_progress",
        "redis_aof_rewrite_in_progress",
        Kind::Gauge,
        "1 while an AOF rewrite runs",
    ),
    (
        "connected_slaves",
        "redis_connected_slaves",
        Kind::Gauge,
        "Replicas attached",
    ),
    (
        "master_repl_offset",
        "redis_master_repl_offset",
        Kind::Gauge,
        "Replication offset of this server",
    ),
    (
        "second_repl_offset",
        "redis_second_repl_offset",
        Kind::Gauge,
        "Offset up to which master_replid2 is valid",
    ),
    (
        "repl_backlog_active",
        "redis_repl_backlog_is_active",
        Kind::Gauge,
        "1 while a replication backlog exists",
    ),
    (
        "repl_backlog_size",
        "redis_replication_backlog_bytes",
        Kind::Gauge,
        "repl-backlog-size",
    ),
    (
        "repl_backlog_first_byte_offset",
        "redis_repl_backlog_first_byte_offset",
        Kind::Gauge,
        "First offset held by the backlog",
    ),
    (
        "repl_backlog_histlen",
        "redis_repl_backlog_history_bytes",
        Kind::Gauge,
        "Bytes held by the backlog",
    ),
    (
        "sync_full",
        "redis_replica_resyncs_full",
        Kind::Gauge,
        "Full resynchronisations served",
    ),
    (
        "sync_partial_ok",
        "redis_replica_partial_resync_accepted",
        Kind::Gauge,
        "Partial resynchronisations accepted",
    ),
    (
        "sync_partial_err",
        "redis_replica_partial_resync_denied",
        Kind::Gauge,
        "Partial resynchronisations refused",
    ),
    ("process_id", "redis_process_id", Kind::Gauge, "Process id"),
    (
        "clients_in_timeout_table",
        "redis_clients_in_timeout_table",
        Kind::Gauge,
        "Blocked clients with a timeout",
    ),
    (
        "used_memory_overhead",
        "redis_memory_used_overhead_bytes",
        Kind::Gauge,
        "Memory not holding keys and values",
    ),
    (
        "used_memory_lua",
        "redis_memory_used_lua_bytes",
        Kind::Gauge,
        "Memory of the Lua interpreter",
    ),
    (
        "used_memory_scripts",
        "redis_memory_used_scripts_bytes",
        Kind::Gauge,
        "Memory of cached scripts and functions",
    ),
    (
        "number_of_cached_scripts",
        "redis_number_of_cached_scripts",
        Kind::Gauge,
        "Scripts cached by EVAL/SCRIPT LOAD",
    ),
    (
        "mem_fragmentation_ratio",
        "redis_mem_fragmentation_ratio",
        Kind::Gauge,
        "RSS over used_memory",
    ),
    (
        "mem_not_counted_for_evict",
        "redis_mem_not_counted_for_eviction_bytes",
        Kind::Gauge,
        "Memory maxmemory does not count",
    ),
    (
        "lazyfree_pending_objects",
        "redis_lazyfree_pending_objects",
        Kind::Gauge,
        "Objects waiting to be freed in the background",
    ),
    (
        "rdb_last_cow_size",
        "redis_rdb_last_cow_size_bytes",
        Kind::Gauge,
        "Copy-on-write bytes of the last save",
    ),
    (
        "aof_rewrite_scheduled",
        "redis_aof_rewrite_scheduled",
        Kind::Gauge,
        "1 when an AOF rewrite waits for a save to end",
    ),
    (
        "aof_last_cow_size",
        "redis_aof_last_cow_size_bytes",
        Kind::Gauge,
        "Copy-on-write bytes of the last AOF rewrite",
    ),
    (
        "expired_stale_perc",
        "redis_expired_stale_percentage",
        Kind::Gauge,
        "Estimated share of expired keys not yet removed",
    ),
    (
        "slave_expires_tracked_keys",
        "redis_slave_expires_tracked_keys",
        Kind::Gauge,
        "Keys a writable replica expires itself",
    ),
    (
        "used_cpu_sys",
        "redis_cpu_sys_seconds_total",
        Kind::Counter,
        "System CPU time",
    ),
    (
        "used_cpu_user",
        "redis_cpu_user_seconds_total",
        Kind::Counter,
        "User CPU time",
    ),
    (
        "used_cpu_sys_children",
        "redis_cpu_sys_children_seconds_total",
        Kind::Counter,
        "System CPU time of child processes",
    ),
    (
        "used_cpu_user_children",
        "redis_cpu_user_children_seconds_total",
        Kind::Counter,
        "User CPU time of child processes",
    ),
    (
        "used_cpu_sys_main_thread",
        "redis_cpu_sys_main_thread_seconds_total",
        Kind::Counter,
        "System CPU time of the command thread",
    ),
    (
        "used_cpu_user_main_thread",
        "redis_cpu_user_main_thread_seconds_total",
        Kind::Counter,
        "User CPU time of the command thread",
    ),
];

/// INFO fields exported in another unit: field, metric, type, divisor,
/// help.
const SCALED: &[(&str, &str, Kind, f64, &str)] = &[(
    "latest_fork_usec",
    "redis_latest_fork_seconds",
    Kind::Gauge,
    1e6,
    "Seconds the last background job took to start (Redis: to fork)",
)];

/// `*_status:ok|err` fields, exported as 1 for `ok`.
const STATUS: &[(&str, &str, &str)] = &[
    (
        "rdb_last_bgsave_status",
        "redis_rdb_last_bgsave_status",
        "1 when the last background save succeeded",
    ),
    (
        "aof_last_bgrewrite_status",
        "redis_aof_last_bgrewrite_status",
        "1 when the last AOF rewrite succeeded",
    ),
    (
        "aof_last_write_status",
        "redis_aof_last_write_status",
        "1 when the last AOF write succeeded",
    ),
];

/// Per-command counters from `cmdstat_*`: sub-field, metric, divisor.
const COMMAND: &[(&str, &str, f64, &str)] = &[
    ("calls", "redis_commands_total", 1.0, "Calls per command"),
    (
        "usec",
        "redis_commands_duration_seconds_total",
        1e6,
        "Time spent per command",
    ),
    (
        "rejected_calls",
        "redis_commands_rejected_calls_total",
        1.0,
        "Calls refused before running, per command",
    ),
    (
        "failed_calls",
        "redis_commands_failed_calls_total",
        1.0,
        "Calls that ran and failed, per command",
    ),
];

fn sub_fields(v: &str) -> BTreeMap<&str, &str> {
    v.split(',').filter_map(|kv| kv.split_once('=')).collect()
}

fn num(v: Option<&str>) -> Option<f64> {
    v?.trim().parse::<f64>().ok()
}

/// Writes the `redis_*` families from the parsed INFO fields (sections
/// server, clients, memory, persistence, stats, replication, cpu,
/// commandstats, errorstats, keyspace). `databases` is the `databases` directive:
/// the exporter lists every database, empty ones with 0 keys.
pub fn write(e: &mut Exposition, info: &BTreeMap<String, String>, databases: usize) {
    let get = |k: &str| info.get(k).map(String::as_str);
    e.single("redis_up", Kind::Gauge, "1: the server answered", 1.0);
    let labels = [
        "maxmemory_policy",
        "os",
        "process_id",
        "redis_build_id",
        "redis_mode",
        "redis_version",
        "role",
        "run_id",
        "tcp_port",
    ];
    let values: Vec<(&str, &str)> = labels.iter().map(|l| (*l, get(l).unwrap_or(""))).collect();
    e.family(
        "redis_instance_info",
        Kind::Gauge,
        "Identity of the server; the value is always 1",
    )
    .sample(&values, 1.0);
    if let (Some(up), Some(now)) = (num(get("uptime_in_seconds")), unix_now()) {
        e.single(
            "redis_start_time_seconds",
            Kind::Gauge,
            "Unix time the server started",
            (now - up).max(0.0),
        );
    }
    for (field, name, kind, help) in PLAIN {
        if let Some(v) = num(get(field)) {
            e.single(name, *kind, help, v);
        }
    }
    for (field, name, kind, divisor, help) in SCALED {
        if let Some(v) = num(get(field)) {
            e.single(name, *kind, help, v / divisor);
        }
    }
    for (field, name, help) in STATUS {
        if let Some(v) = get(field) {
            e.single(name, Kind::Gauge, help, f64::from(u8::from(v == "ok")));
        }
    }
    replication(e, info);
    commands(e, info);
    errors(e, info);
    keyspace(e, info, databases);
}

fn unix_now() -> Option<f64> {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?;
    Some(d.as_secs() as f64)
}

/// A replica's link to its master (labelled with the master's address)
/// and a master's replicas (`slaveN:` lines).
fn replication(e: &mut Exposition, info: &BTreeMap<String, String>) {
    let get = |k: &str| info.get(k).map(String::as_str);
    if get("role") == Some("slave") {
        let host = get("master_host").unwrap_or("");
        let port = get("master_port").unwrap_or("");
        let at = [("master_host", host), ("master_port", port)];
        e.family(
            "redis_master_link_up",
            Kind::Gauge,
            "1 while the link to the master is up",
        )
        .sample(
            &at,
            f64::from(u8::from(get("master_link_status") == Some("up"))),
        );
        if let Some(v) = num(get("master_last_io_seconds_ago")) {
            e.family(
                "redis_master_last_io_seconds_ago",
                Kind::Gauge,
                "Seconds since the master was last heard from",
            )
            .sample(&at, v);
        }
        if let Some(v) = num(get("master_sync_in_progress")) {
            e.family(
                "redis_master_sync_in_progress",
                Kind::Gauge,
                "1 while a full sync from the master is under way",
            )
            .sample(&at, v);
        }
        if let Some(v) = num(get("slave_repl_offset")) {
            e.family(
                "redis_slave_repl_offset",
                Kind::Gauge,
                "Replication offset this replica has applied",
            )
            .sample(&at, v);
        }
        let ro = get("slave_read_only").unwrap_or("");
        e.family(
            "redis_slave_info",
            Kind::Gauge,
            "Replica settings; always 1",
        )
        .sample(&[at[0], at[1], ("read_only", ro)], 1.0);
        if let Some(v) = num(get("slave_priority")) {
            e.single("redis_slave_priority", Kind::Gauge, "replica-priority", v);
        }
    }
    // slave0:ip=..,port=..,state=..,offset=..,lag=..
    let mut replicas: Vec<(usize, BTreeMap<&str, &str>)> = info
        .iter()
        .filter_map(|(k, v)| {
            let n = k.strip_prefix("slave")?.parse::<usize>().ok()?;
            Some((n, sub_fields(v)))
        })
        .collect();
    replicas.sort_by_key(|(n, _)| *n);
    if replicas.is_empty() {
        return;
    }
    let labels = |m: &BTreeMap<&str, &str>| {
        let g = |k: &str| m.get(k).copied().unwrap_or("").to_string();
        [g("ip"), g("port"), g("state")]
    };
    e.family(
        "redis_connected_slave_offset_bytes",
        Kind::Gauge,
        "Per replica, the offset it acknowledged",
    );
    for (_, m) in &replicas {
        let [ip, port, state] = labels(m);
        let v = num(m.get("offset").copied()).unwrap_or(0.0);
        e.sample(
            &[
                ("slave_ip", &ip),
                ("slave_port", &port),
                ("slave_state", &state),
            ],
            v,
        );
    }
    e.family(
        "redis_connected_slave_lag_seconds",
        Kind::Gauge,
        "Per replica, seconds since its last acknowledgement",
    );
    for (_, m) in &replicas {
        let [ip, port, state] = labels(m);
        if let Some(v) = num(m.get("lag").copied()) {
            e.sample(
                &[
                    ("slave_ip", &ip),
                    ("slave_port", &port),
                    ("slave_state", &state),
                ],
                v,
            );
        }
    }
}

fn commands(e: &mut Exposition, info: &BTreeMap<String, String>) {
    let cmds: Vec<(&str, BTreeMap<&str, &str>)> = info
        .iter()
        .filter_map(|(k, v)| Some((k.strip_prefix("cmdstat_")?, sub_fields(v))))
        .collect();
    for (field, name, scale, help) in COMMAND {
        e.family(name, Kind::Counter, help);
        for (c, m) in &cmds {
            let v = num(m.get(field).copied()).unwrap_or(0.0);
            e.sample(&[("cmd", c)], v / scale);
        }
    }
}

/// `errorstat_NOREPLICAS:count=3` → `redis_errors_total{err="NOREPLICAS"} 3`.
fn errors(e: &mut Exposition, info: &BTreeMap<String, String>) {
    e.family(
        "redis_errors_total",
        Kind::Counter,
        "Error replies by error code",
    );
    for (k, v) in info {
        if let Some(code) = k.strip_prefix("errorstat_") {
            let n = num(sub_fields(v).get("count").copied()).unwrap_or(0.0);
            e.sample(&[("err", code)], n);
        }
    }
}

fn keyspace(e: &mut Exposition, info: &BTreeMap<String, String>, databases: usize) {
    let dbs: Vec<BTreeMap<&str, &str>> = (0..databases)
        .map(|i| {
            info.get(&format!("db{i}"))
                .map(|v| sub_fields(v))
                .unwrap_or_default()
        })
        .collect();
    let field = |m: &BTreeMap<&str, &str>, k: &str| num(m.get(k).copied()).unwrap_or(0.0);
    e.family("redis_db_keys", Kind::Gauge, "Keys per database");
    for (i, m) in dbs.iter().enumerate() {
        e.sample(&[("db", &format!("db{i}"))], field(m, "keys"));
    }
    e.family(
        "redis_db_keys_expiring",
        Kind::Gauge,
        "Keys with a time to live per database",
    );
    for (i, m) in dbs.iter().enumerate() {
        e.sample(&[("db", &format!("db{i}"))], field(m, "expires"));
    }
    e.family(
        "redis_db_avg_ttl_seconds",
        Kind::Gauge,
        "Average time to live of the keys that have one, per database",
    );
    for (i, m) in dbs.iter().enumerate() {
        if !m.is_empty() {
            e.sample(&[("db", &format!("db{i}"))], field(m, "avg_ttl") / 1000.0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(lines: &[(&str, &str)]) -> BTreeMap<String, String> {
        lines
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn replicas_databases_and_statuses_use_the_exporters_labels() {
        let i = info(&[
            ("role", "master"),
            (
                "slave0",
                "ip=127.0.0.1,port=7001,state=online,offset=42,lag=1",
            ),
            ("db0", "keys=3,expires=1,avg_ttl=2500"),
            ("rdb_last_bgsave_status", "err"),
            (
                "cmdstat_config|get",
                "calls=2,usec=30,usec_per_call=15.00,rejected_calls=0,failed_calls=0",
            ),
        ]);
        let mut e = Exposition::new();
        write(&mut e, &i, 2);
        let t = e.finish();
        for want in [
            "redis_connected_slave_offset_bytes{slave_ip=\"127.0.0.1\",slave_port=\"7001\",slave_state=\"online\"} 42\n",
            "redis_connected_slave_lag_seconds{slave_ip=\"127.0.0.1\",slave_port=\"7001\",slave_state=\"online\"} 1\n",
            "redis_db_keys{db=\"db0\"} 3\n",
            "redis_db_keys{db=\"db1\"} 0\n",
            "redis_db_avg_ttl_seconds{db=\"db0\"} 2.5\n",
            "redis_rdb_last_bgsave_status 0\n",
            "redis_commands_total{cmd=\"config|get\"} 2\n",
            "redis_commands_duration_seconds_total{cmd=\"config|get\"} 0.00003\n",
        ] {
            assert!(t.contains(want), "missing {want:?} in\n{t}");
        }
        assert!(!t.contains("redis_db_avg_ttl_seconds{db=\"db1\"}"));
        assert!(!t.contains("redis_master_link_up"));
    }
}
