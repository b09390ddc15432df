//! Sentinel's Prometheus families: per monitored master, its state and
//! address as this sentinel sees them, failovers, and what it knows of the
//! topology. Written with the server's generic exposition writer
//! (`server::metrics::Exposition`) and served on the server's endpoint
//! (`server::metrics::spawn`, when `metrics-port` is set); the server
//! itself knows nothing of Sentinel's concepts.

use crate::state::Sentinel;
use server::metrics::{Exposition, Kind};

/// What Sentinel knows of one monitored master, for [`sentinel_metrics`].
#[derive(Debug, Clone, Default)]
pub struct SentinelMaster {
    pub name: String,
    /// `ip:port` of the master now.
    pub addr: String,
    /// `ok`, `sdown`, `odown` (or another state word: it becomes a label).
    pub state: String,
    /// Failovers this sentinel has seen complete for this master.
    pub failovers: u64,
    pub replicas: u64,
    /// Other sentinels known for this master.
    pub sentinels: u64,
    pub quorum: u64,
    /// True while a failover is in progress.
    pub failover_in_progress: bool,
}

/// The masters of `st`, as the metrics show them.
pub fn masters(st: &Sentinel) -> Vec<SentinelMaster> {
    st.masters
        .values()
        .map(|m| SentinelMaster {
            name: m.inst.name.clone(),
            addr: m.current_addr().to_string(),
            state: m.status_word().to_string(),
            failovers: m.failovers,
            replicas: m.replicas.len() as u64,
            sentinels: m.sentinels.len() as u64,
            quorum: u64::from(m.quorum),
            failover_in_progress: m.in_failover(),
        })
        .collect()
}

/// The whole exposition for `masters`, as `GET /metrics` returns it.
pub fn render(masters: &[SentinelMaster]) -> String {
    let mut e = Exposition::new();
    sentinel_metrics(&mut e, masters);
    e.finish()
}

/// Adds Sentinel's families for `masters` to `e`.
pub fn sentinel_metrics(e: &mut Exposition, masters: &[SentinelMaster]) {
    let fam = |e: &mut Exposition,
               name: &str,
               kind: Kind,
               help: &str,
               f: &dyn Fn(&SentinelMaster) -> f64| {
        e.family(name, kind, help);
        for m in masters {
            e.sample(&[("master", &m.name)], f(m));
        }
    };
    e.family(
        "redoubt_sentinel_master_status",
        Kind::Gauge,
        "1 for the state and address this sentinel sees for each master",
    );
    for m in masters {
        e.sample(
            &[("master", &m.name), ("addr", &m.addr), ("state", &m.state)],
            1.0,
        );
    }
    fam(
        e,
        "redoubt_sentinel_master_ok",
        Kind::Gauge,
        "1 when the master is neither subjectively nor objectively down",
        &|m| f64::from(u8::from(m.state == "ok")),
    );
    fam(
        e,
        "redoubt_sentinel_failovers_total",
        Kind::Counter,
        "Failovers completed for the master",
        &|m| m.failovers as f64,
    );
    fam(
        e,
        "redoubt_sentinel_failover_in_progress",
        Kind::Gauge,
        "1 while a failover of the master is in progress",
        &|m| f64::from(u8::from(m.failover_in_progress)),
    );
    fam(
        e,
        "redoubt_sentinel_known_replicas",
        Kind::Gauge,
        "Replicas known for the master",
        &|m| m.replicas as f64,
    );
    fam(
        e,
        "redoubt_sentinel_known_sentinels",
        Kind::Gauge,
        "Other sentinels known for the master",
        &|m| m.sentinels as f64,
    );
    fam(
        e,
        "redoubt_sentinel_quorum",
        Kind::Gauge,
        "Configured quorum for the master",
        &|m| m.quorum as f64,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sentinel_families() {
        let t = render(&[SentinelMaster {
            name: "mymaster".into(),
            addr: "127.0.0.1:6379".into(),
            state: "ok".into(),
            failovers: 2,
            ..SentinelMaster::default()
        }]);
        assert!(
            t.contains("redoubt_sentinel_failovers_total{master=\"mymaster\"} 2"),
            "{t}"
        );
        assert!(
            t.contains("redoubt_sentinel_master_ok{master=\"mymaster\"} 1"),
            "{t}"
        );
    }

    /// The exposition byte for byte, as it was when the server wrote it
    /// (dashboards and the promtool check depend on it).
    #[test]
    fn exposition_is_unchanged() {
        let t = render(&[SentinelMaster {
            name: "m".into(),
            addr: "10.0.0.1:6379".into(),
            state: "sdown".into(),
            failovers: 1,
            replicas: 2,
            sentinels: 2,
            quorum: 2,
            failover_in_progress: true,
        }]);
        let want = "\
# HELP redoubt_sentinel_master_status 1 for the state and address this sentinel sees for each master
# TYPE redoubt_sentinel_master_status gauge
redoubt_sentinel_master_status{master=\"m\",addr=\"10.0.0.1:6379\",state=\"sdown\"} 1
# HELP redoubt_sentinel_master_ok 1 when the master is neither subjectively nor objectively down
# TYPE redoubt_sentinel_master_ok gauge
redoubt_sentinel_master_ok{master=\"m\"} 0
# HELP redoubt_sentinel_failovers_total Failovers completed for the master
# TYPE redoubt_sentinel_failovers_total counter
redoubt_sentinel_failovers_total{master=\"m\"} 1
# HELP redoubt_sentinel_failover_in_progress 1 while a failover of the master is in progress
# TYPE redoubt_sentinel_failover_in_progress gauge
redoubt_sentinel_failover_in_progress{master=\"m\"} 1
# HELP redoubt_sentinel_known_replicas Replicas known for the master
# TYPE redoubt_sentinel_known_replicas gauge
redoubt_sentinel_known_replicas{master=\"m\"} 2
# HELP redoubt_sentinel_known_sentinels Other sentinels known for the master
# TYPE redoubt_sentinel_known_sentinels gauge
redoubt_sentinel_known_sentinels{master=\"m\"} 2
# HELP redoubt_sentinel_quorum Configured quorum for the master
# TYPE redoubt_sentinel_quorum gauge
redoubt_sentinel_quorum{master=\"m\"} 2
";
        assert_eq!(t, want);
    }
}
