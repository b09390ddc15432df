//! The optional Prometheus endpoint (`metrics-port`, off by default;
//! `metrics-bind`, 127.0.0.1 by default): `GET /metrics` answers the
//! text exposition format (version 0.0.4).
//!
//! The HTTP side is a tiny hand-written responder rather than an HTTP
//! crate: it serves one read-only resource to scrapers, each request is a
//! single GET with no body, and the reply closes the connection. What
//! matters — a bounded request size, a read deadline, no panics on
//! garbage — fits in forty lines and keeps hyper's dependency tree out of
//! the server.
//!
//! The server's values come from the same `INFO` renderer clients read
//! (so the two never disagree), plus per-replica lag from the replication
//! feed. A mode with metrics of its own (Sentinel) writes them with
//! [`Exposition`] and serves them with [`spawn`]; its concepts stay in its
//! own crate.
//!
//! Two sets of families: Redoubt's own (`redoubt_*`), and the names
//! redis_exporter gives the same figures (`redis_*`, see [`exporter`]), so
//! dashboards and alert rules written for the exporter work unchanged.

pub mod exporter;

use crate::config::Directive;
use crate::server::Server;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::rc::Rc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Metric type of a family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Gauge,
    Counter,
}

/// A text exposition being written. Families must be declared once with
/// [`Exposition::family`], and all their samples written right after it
/// (the format requires a family's samples to be contiguous).
#[derive(Debug, Default)]
pub struct Exposition {
    buf: String,
    current: String,
}

/// Escapes a label value (backslash, double quote, newline).
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Makes `s` a valid metric-name or label-name fragment.
pub fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

impl Exposition {
    pub fn new() -> Exposition {
        Exposition::default()
    }

    /// Starts a family: `# HELP` and `# TYPE` lines. Counters should end
    /// in `_total`.
    pub fn family(&mut self, name: &str, kind: Kind, help: &str) -> &mut Self {
        let t = match kind {
            Kind::Gauge => "gauge",
            Kind::Counter => "counter",
        };
        let help = help.replace('\\', "\\\\").replace('\n', "\\n");
        let _ = write!(self.buf, "# HELP {name} {help}\n# TYPE {name} {t}\n");
        self.current = name.to_string();
        self
    }

    /// One sample of the current family.
    pub fn sample(&mut self, labels: &[(&str, &str)], value: f64) -> &mut Self {
        self.buf.push_str(&self.current);
        if !labels.is_empty() {
            self.buf.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.buf.push(',');
                }
                let _ = write!(self.buf, "{k}=\"{}\"", escape(v));
            }
            self.buf.push('}');
        }
        if value.is_finite() && value.fract() == 0.0 && value.abs() < 1e15 {
            let _ = writeln!(self.buf, " {}", value as i64);
        } else {
            let _ = writeln!(self.buf, " {value}");
        }
        self
    }

    /// A family with a single unlabelled sample.
    pub fn single(&mut self, name: &str, kind: Kind, help: &str, value: f64) -> &mut Self {
        self.family(name, kind, help).sample(&[], value)
    }

    pub fn finish(self) -> String {
        self.buf
    }
}

fn parse_info(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.trim_end_matches('\r').split_once(':'))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn sub_fields(v: &str) -> BTreeMap<&str, &str> {
    v.split(',').filter_map(|kv| kv.split_once('=')).collect()
}

/// The server's metrics, as `GET /metrics` returns them.
pub fn server_metrics(srv: &mut Server) -> String {
    let text = crate::info::render(
        srv,
        &[
            "server",
            "clients",
            "memory",
            "persistence",
            "stats",
            "replication",
            "cpu",
            "commandstats",
            "errorstats",
            "keyspace",
        ],
    );
    let info = parse_info(&text);
    let num = |k: &str| {
        info.get(k)
            .and_then(|v| v.trim().parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    let mut e = Exposition::new();
    let role = info.get("role").map(String::as_str).unwrap_or("master");
    e.family(
        "redoubt_info",
        Kind::Gauge,
        "Server identity; the value is always 1",
    )
    .sample(
        &[
            ("version", crate::REDOUBT_VERSION),
            ("redis_version", crate::REDIS_VERSION),
            ("role", role),
            (
                "run_id",
                info.get("run_id").map(String::as_str).unwrap_or(""),
            ),
        ],
        1.0,
    );
    e.single(
        "redoubt_uptime_seconds",
        Kind::Gauge,
        "Seconds since the server started",
        num("uptime_in_seconds"),
    );
    e.single(
        "redoubt_is_master",
        Kind::Gauge,
        "1 on a master, 0 on a replica",
        f64::from(u8::from(role == "master")),
    );
    e.single(
        "redoubt_master_repl_offset",
        Kind::Gauge,
        "Replication offset of this server (bytes)",
        num("master_repl_offset"),
    );
    e.single(
        "redoubt_connected_replicas",
        Kind::Gauge,
        "Replicas attached to this server",
        num("connected_slaves"),
    );
    e.single(
        "redoubt_master_link_up",
        Kind::Gauge,
        "On a replica, 1 while the link to its master is up",
        f64::from(u8::from(
            info.get("master_link_status").map(String::as_str) == Some("up"),
        )),
    );
    if role != "master" {
        e.single(
            "redoubt_master_last_io_seconds",
            Kind::Gauge,
            "On a replica, seconds since the last interaction with its master",
            num("master_last_io_seconds_ago"),
        );
    }
    // Per replica: bytes not yet acknowledged and ms since the last ACK.
    let now = srv.now_ms;
    let replicas: Vec<(String, String, f64, f64)> = {
        let f = srv.repl.feed.borrow();
        let off = f.offset();
        f.replicas
            .iter()
            .map(|r| {
                (
                    format!("{}:{}", r.ip, r.port),
                    r.sync.name().to_string(),
                    (off - r.ack_offset).max(0) as f64,
                    (now - r.ack_ms).max(0) as f64,
                )
            })
            .collect()
    };
    e.family(
        "redoubt_replica_lag_bytes",
        Kind::Gauge,
        "Per replica, replication bytes not yet acknowledged",
    );
    for (a, s, b, _) in &replicas {
        e.sample(&[("replica", a), ("state", s)], *b);
    }
    // Prometheus wants base units: seconds, with millisecond precision.
    e.family(
        "redoubt_replica_lag_seconds",
        Kind::Gauge,
        "Per replica, time since its last acknowledgement (millisecond precision)",
    );
    for (a, s, _, ms) in &replicas {
        e.sample(&[("replica", a), ("state", s)], *ms / 1000.0);
    }
    e.single(
        "redoubt_sync_full_total",
        Kind::Counter,
        "Full resynchronisations served to replicas",
        num("sync_full"),
    );
    e.single(
        "redoubt_sync_partial_ok_total",
        Kind::Counter,
        "Partial resynchronisations accepted",
        num("sync_partial_ok"),
    );
    e.single(
        "redoubt_sync_partial_err_total",
        Kind::Counter,
        "Partial resynchronisations refused",
        num("sync_partial_err"),
    );
    e.single(
        "redoubt_connected_clients",
        Kind::Gauge,
        "Client connections (replicas excluded)",
        num("connected_clients"),
    );
    e.single(
        "redoubt_blocked_clients",
        Kind::Gauge,
        "Clients blocked on a blocking command",
        num("blocked_clients"),
    );
    e.single(
        "redoubt_memory_used_bytes",
        Kind::Gauge,
        "Memory used by the dataset and server, as INFO used_memory",
        num("used_memory"),
    );
    e.single(
        "redoubt_memory_rss_bytes",
        Kind::Gauge,
        "Resident set size of the process",
        num("used_memory_rss"),
    );
    e.single(
        "redoubt_memory_max_bytes",
        Kind::Gauge,
        "maxmemory (0 = no limit)",
        num("maxmemory"),
    );
    e.single(
        "redoubt_evicted_keys_total",
        Kind::Counter,
        "Keys evicted by maxmemory",
        num("evicted_keys"),
    );
    e.single(
        "redoubt_expired_keys_total",
        Kind::Counter,
        "Keys removed on expiry",
        num("expired_keys"),
    );
    e.single(
        "redoubt_keyspace_hits_total",
        Kind::Counter,
        "Successful key lookups",
        num("keyspace_hits"),
    );
    e.single(
        "redoubt_keyspace_misses_total",
        Kind::Counter,
        "Failed key lookups",
        num("keyspace_misses"),
    );
    e.single(
        "redoubt_commands_processed_total",
        Kind::Counter,
        "Commands processed",
        num("total_commands_processed"),
    );
    e.single(
        "redoubt_connections_received_total",
        Kind::Counter,
        "Connections accepted",
        num("total_connections_received"),
    );
    e.single(
        "redoubt_net_input_bytes_total",
        Kind::Counter,
        "Bytes read from the network",
        num("total_net_input_bytes"),
    );
    e.single(
        "redoubt_net_output_bytes_total",
        Kind::Counter,
        "Bytes written to the network",
        num("total_net_output_bytes"),
    );
    e.single(
        "redoubt_replica_output_limit_disconnections_total",
        Kind::Counter,
        "Replica links closed for passing client-output-buffer-limit replica",
        srv.stats.replica_output_limit_disconnections as f64,
    );
    let cmds: Vec<(String, BTreeMap<&str, &str>)> = info
        .iter()
        .filter_map(|(k, v)| Some((k.strip_prefix("cmdstat_")?.to_string(), sub_fields(v))))
        .collect();
    let field = |m: &BTreeMap<&str, &str>, k: &str| {
        m.get(k).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0)
    };
    e.family(
        "redoubt_command_calls_total",
        Kind::Counter,
        "Calls per command",
    );
    for (c, m) in &cmds {
        e.sample(&[("cmd", c)], field(m, "calls"));
    }
    e.family(
        "redoubt_command_seconds_total",
        Kind::Counter,
        "Time spent per command",
    );
    for (c, m) in &cmds {
        e.sample(&[("cmd", c)], field(m, "usec") / 1e6);
    }
    e.family(
        "redoubt_command_failed_calls_total",
        Kind::Counter,
        "Failed and rejected calls per command",
    );
    for (c, m) in &cmds {
        e.sample(
            &[("cmd", c)],
            field(m, "failed_calls") + field(m, "rejected_calls"),
        );
    }
    let dbs: Vec<(String, BTreeMap<&str, &str>)> = info
        .iter()
        .filter(|(k, _)| {
            k.starts_with("db") && k[2..].bytes().all(|b| b.is_ascii_digit()) && k.len() > 2
        })
        .map(|(k, v)| (k[2..].to_string(), sub_fields(v)))
        .collect();
    e.family("redoubt_keys", Kind::Gauge, "Keys per database");
    for (db, m) in &dbs {
        e.sample(&[("db", db)], field(m, "keys"));
    }
    e.family(
        "redoubt_expiring_keys",
        Kind::Gauge,
        "Keys with a time to live per database",
    );
    for (db, m) in &dbs {
        e.sample(&[("db", db)], field(m, "expires"));
    }
    cluster_metrics(&mut e, srv);
    let databases = srv.config.get_int(Directive::Databases).max(0) as usize;
    exporter::write(&mut e, &info, databases);
    e.finish()
}

/// Cluster mode: this node's view of the cluster, as CLUSTER INFO shows it.
fn cluster_metrics(e: &mut Exposition, srv: &Server) {
    let Some(c) = srv.cluster.as_deref() else {
        return;
    };
    let st = &c.state;
    let pfail = st.slots_with_owner_flag(cluster::flags::PFAIL);
    let fail = st.slots_with_owner_flag(cluster::flags::FAIL);
    let assigned = st.slots_assigned();
    let gauges: [(&str, &str, f64); 8] = [
        (
            "redoubt_cluster_state_ok",
            "Whether this node sees the cluster as ok (cluster_state:ok): 1, or failing: 0",
            f64::from(u8::from(st.ok)),
        ),
        (
            "redoubt_cluster_slots_assigned",
            "Slots with a master, in this node's view",
            assigned as f64,
        ),
        (
            "redoubt_cluster_slots_ok",
            "Slots whose master is not flagged PFAIL or FAIL",
            assigned.saturating_sub(pfail + fail) as f64,
        ),
        (
            "redoubt_cluster_slots_pfail",
            "Slots whose master is flagged PFAIL (possibly failing)",
            pfail as f64,
        ),
        (
            "redoubt_cluster_slots_fail",
            "Slots whose master is flagged FAIL",
            fail as f64,
        ),
        (
            "redoubt_cluster_known_nodes",
            "Nodes this node knows, itself included",
            st.nodes.len() as f64,
        ),
        (
            "redoubt_cluster_size",
            "Masters serving at least one slot",
            st.size as f64,
        ),
        (
            "redoubt_cluster_my_slots",
            "Slots this node serves as a master",
            st.me().slots.count() as f64,
        ),
    ];
    for (name, help, v) in gauges {
        e.single(name, Kind::Gauge, help, v);
    }
    e.single(
        "redoubt_cluster_current_epoch",
        Kind::Gauge,
        "The cluster's current epoch in this node's view",
        st.current_epoch as f64,
    );
}

/// Largest request head accepted from a scraper.
const MAX_REQUEST: usize = 8192;

async fn respond(mut s: TcpStream, render: Rc<dyn Fn() -> String>) {
    let mut req = Vec::with_capacity(512);
    let mut buf = [0u8; 1024];
    let read_head = async {
        while !req.windows(4).any(|w| w == b"\r\n\r\n") && req.len() < MAX_REQUEST {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return false,
                Ok(n) => req.extend_from_slice(&buf[..n]),
            }
        }
        true
    };
    if !matches!(
        tokio::time::timeout(Duration::from_secs(5), read_head).await,
        Ok(true)
    ) {
        return;
    }
    let line = req.split(|&b| b == b'\r').next().unwrap_or(&[]);
    let mut words = line.split(|&b| b == b' ');
    let (method, path) = (words.next().unwrap_or(&[]), words.next().unwrap_or(&[]));
    let path = path.split(|&b| b == b'?').next().unwrap_or(&[]);
    let (status, ctype, body) = match (method, path) {
        (b"GET", b"/metrics") => (
            "200 OK",
            "text/plain; version=0.0.4; charset=utf-8",
            render(),
        ),
        (b"GET", b"/") => (
            "200 OK",
            "text/plain; charset=utf-8",
            "Redoubt metrics: GET /metrics\n".to_string(),
        ),
        (b"GET", _) => (
            "404 Not Found",
            "text/plain; charset=utf-8",
            "not found\n".to_string(),
        ),
        _ => (
            "405 Method Not Allowed",
            "text/plain; charset=utf-8",
            "GET only\n".to_string(),
        ),
    };
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = s.write_all(head.as_bytes()).await;
    let _ = s.write_all(body.as_bytes()).await;
    let _ = s.shutdown().await;
}

/// Binds `bind:port` for metrics. Separate from [`serve`] so start-up can
/// fail on a taken port, as it does for the main listener.
pub async fn listen(bind: &str, port: u16) -> std::io::Result<TcpListener> {
    TcpListener::bind((bind, port)).await
}

/// Serves `GET /metrics` from `render` on `listener` until the task is
/// dropped. Runs on the server's LocalSet (the render closure reads
/// single-threaded state). A mode reaches it through [`spawn`].
pub async fn serve(listener: TcpListener, render: Rc<dyn Fn() -> String>) {
    loop {
        match listener.accept().await {
            Ok((s, _)) => {
                tokio::task::spawn_local(respond(s, render.clone()));
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

/// For a mode with its own metrics (Sentinel): when `metrics-port` is
/// set, binds it and serves `render` in a task on the server's loop. A
/// port that cannot be bound is logged (the mode keeps running). Call it
/// from the mode's `start` hook with a closure that builds an
/// [`Exposition`] and returns `finish()`.
pub fn spawn(srv: &Rc<RefCell<Server>>, render: Rc<dyn Fn() -> String>) {
    let (port, bind) = {
        let s = srv.borrow();
        (
            s.config.get_int(Directive::MetricsPort) as u16,
            s.config.get_str(Directive::MetricsBind),
        )
    };
    if port == 0 {
        return;
    }
    tokio::task::spawn_local(async move {
        match listen(&bind, port).await {
            Ok(l) => {
                crate::log_notice!("Serving metrics on http://{bind}:{port}/metrics");
                serve(l, render).await;
            }
            Err(e) => crate::log_warning!("Could not listen for metrics on {bind}:{port}: {e}"),
        }
    });
}

/// Opens the endpoint when `metrics-port` is set. An address that cannot
/// be bound stops start-up, as for the main port.
pub async fn start(srv: &Rc<RefCell<Server>>) -> Result<(), ()> {
    let (port, bind) = {
        let s = srv.borrow();
        (
            s.config.get_int(Directive::MetricsPort) as u16,
            s.config.get_str(Directive::MetricsBind),
        )
    };
    if port == 0 {
        return Ok(());
    }
    match listen(&bind, port).await {
        Ok(l) => {
            crate::log_notice!("Serving metrics on http://{bind}:{port}/metrics");
            tokio::task::spawn_local(serve(l, server_renderer(srv.clone())));
            Ok(())
        }
        Err(e) => {
            crate::log_warning!("Could not listen for metrics on {bind}:{port}: {e}");
            Err(())
        }
    }
}

/// The render closure for a server.
pub fn server_renderer(srv: Rc<RefCell<Server>>) -> Rc<dyn Fn() -> String> {
    Rc::new(move || match srv.try_borrow_mut() {
        Ok(mut s) => server_metrics(&mut s),
        // Never reached on the single-threaded loop (nothing holds the
        // server across an await); answered rather than panicking.
        Err(_) => "# server busy\n".to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_and_labels_are_well_formed() {
        let mut e = Exposition::new();
        e.family("x_total", Kind::Counter, "help")
            .sample(&[("a", "q\"b")], 2.0);
        e.single("y", Kind::Gauge, "h", 0.5);
        assert_eq!(
            e.finish(),
            "# HELP x_total help\n# TYPE x_total counter\nx_total{a=\"q\\\"b\"} 2\n# HELP y h\n# TYPE y gauge\ny 0.5\n"
        );
    }
}
