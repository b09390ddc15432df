//! A local Redis Cluster: N masters with M replicas each on consecutive
//! loopback ports, every node in `DIR/server-PORT/` with its `redis.conf`,
//! `nodes.conf`, log and data (`redoubt up --cluster`, and tests).
//!
//! The cluster is formed the way `redis-cli --cluster create` forms it,
//! so what users run by hand and what this does are the same steps: the
//! 16384 slots split into equal ranges over the masters (ADDSLOTSRANGE),
//! a distinct config epoch per node (SET-CONFIG-EPOCH), every node met
//! from the first (MEET), and once they all know each other, each replica
//! told its master (REPLICATE); then it waits for `cluster_state:ok`
//! everywhere. A folder that already holds a formed cluster (every node's
//! `nodes.conf` knows the others) is resumed as it is.

use crate::config::quote;
use crate::node::Node;
use crate::{absolute, topology_node, Error, Kind, Result};
use client::{frame_string, Client, Info};
use std::path::PathBuf;
use std::time::{Duration, Instant};

const SLOTS: u32 = 16384;
const LOOK_TIMEOUT: Duration = Duration::from_millis(800);

/// A local cluster to start.
#[derive(Debug, Clone)]
pub struct ClusterSpec {
    pub dir: PathBuf,
    /// Program (and leading arguments) for the nodes; the config file is
    /// appended.
    pub server_cmd: Vec<String>,
    /// The first node's port; the others take the next ones (masters
    /// first, then their replicas).
    pub port: u16,
    pub masters: u16,
    /// Replicas of each master.
    pub replicas: u16,
    /// The first node's bus port (`cluster-port`), the others take the
    /// next ones; None: each node's port + 10000, Redis's default.
    pub bus_port: Option<u16>,
    pub node_timeout_ms: u64,
    /// Extra directives (name, value) for every node's config.
    pub extra: Vec<(String, String)>,
    /// Remove the folder when dropped (tests).
    pub temporary: bool,
}

impl ClusterSpec {
    /// `redoubt up --cluster`'s defaults: 3 masters × 1 replica from port
    /// 7000, node timeout 5 s.
    pub fn new(dir: impl Into<PathBuf>, server_cmd: Vec<String>) -> ClusterSpec {
        ClusterSpec {
            dir: dir.into(),
            server_cmd,
            port: 7000,
            masters: 3,
            replicas: 1,
            bus_port: None,
            node_timeout_ms: 5000,
            extra: Vec::new(),
            temporary: false,
        }
    }

    pub fn ports(&self) -> Vec<u16> {
        let n = self.masters + self.masters * self.replicas;
        (0..n).map(|i| self.port.saturating_add(i)).collect()
    }

    /// The slot ranges of each master, as `redis-cli --cluster create`
    /// splits them: equal shares, the rounding carried over, the last
    /// master taking the rest.
    pub fn slot_ranges(&self) -> Vec<(u32, u32)> {
        let masters = u32::from(self.masters.max(1));
        let per = f64::from(SLOTS) / f64::from(masters);
        let mut cursor = 0.0;
        let mut first = 0;
        let mut out = Vec::new();
        for i in 0..masters {
            let mut last = (cursor + per - 1.0).round() as u32;
            if last > SLOTS - 1 || i == masters - 1 {
                last = SLOTS - 1;
            }
            last = last.max(first);
            out.push((first, last));
            first = last + 1;
            cursor += per;
        }
        out
    }

    /// The bus port of the node on `port`, when not Redis's default.
    fn bus_port_of(&self, port: u16) -> Option<u16> {
        let b = self.bus_port?;
        Some(b.saturating_add(port.saturating_sub(self.port)))
    }

    fn config(&self, node: &Node) -> String {
        let mut c = String::new();
        let mut line = |k: &str, v: &str| {
            c.push_str(k);
            c.push(' ');
            c.push_str(&quote(v));
            c.push('\n');
        };
        line("port", &node.port.to_string());
        line("bind", "127.0.0.1");
        line("dir", &node.dir.display().to_string());
        line("logfile", &node.log.display().to_string());
        line("cluster-enabled", "yes");
        line("cluster-config-file", "nodes.conf");
        line("cluster-node-timeout", &self.node_timeout_ms.to_string());
        if let Some(b) = self.bus_port_of(node.port) {
            line("cluster-port", &b.to_string());
        }
        line("appendonly", "yes");
        for (k, v) in &self.extra {
            line(k, v);
        }
        c
    }
}

/// What one node shows, for a status table.
#[derive(Debug, Clone, Default)]
pub struct ClusterNodeStatus {
    pub name: String,
    pub port: u16,
    pub pid: Option<u32>,
    /// `master`, `replica`, or `down`.
    pub role: String,
    /// The first 8 characters of its node id.
    pub id: String,
    /// The port of its master, for a replica.
    pub master_port: Option<u16>,
    pub slots: u32,
    /// `ok` / `fail` (CLUSTER INFO), `-` when it does not answer.
    pub state: String,
    pub known_nodes: u32,
    pub keys: u64,
}

/// A started local cluster. Dropping it stops every node (and removes the
/// folder when [`ClusterSpec::temporary`]).
pub struct LocalCluster {
    pub spec: ClusterSpec,
    pub nodes: Vec<Node>,
    /// True when the folder held a cluster from an earlier run.
    pub resumed: bool,
}

impl LocalCluster {
    /// Writes each node's config (kept from an earlier run in the same
    /// folder) and starts the nodes; see [`LocalCluster::bring_up`].
    pub fn start(mut spec: ClusterSpec) -> Result<LocalCluster> {
        if spec.masters == 0 {
            return Err(Error::Invalid("a cluster needs at least one master".into()));
        }
        std::fs::create_dir_all(&spec.dir)
            .map_err(|e| Error::Io(spec.dir.display().to_string(), e))?;
        spec.dir = absolute(&spec.dir);
        let mut resumed = true;
        let mut nodes = Vec::new();
        for p in spec.ports() {
            if std::net::TcpListener::bind(("127.0.0.1", p)).is_err() {
                return Err(Error::PortInUse(p));
            }
            let node = topology_node(Kind::Server, p, &spec.dir, &spec.server_cmd);
            let conf = node.dir.join("redis.conf");
            resumed &= node.dir.join("nodes.conf").exists();
            if !conf.exists() {
                std::fs::create_dir_all(&node.dir)
                    .map_err(|e| Error::Io(node.dir.display().to_string(), e))?;
                std::fs::write(&conf, spec.config(&node))
                    .map_err(|e| Error::Io(conf.display().to_string(), e))?;
            }
            nodes.push(node);
        }
        let mut c = LocalCluster {
            spec,
            nodes,
            resumed,
        };
        for n in &mut c.nodes {
            n.start()?;
        }
        Ok(c)
    }

    /// Waits until every node answers, forms the cluster unless it was
    /// formed in an earlier run, and waits for `cluster_state:ok` on
    /// every node. `on_wait` is told each step.
    pub async fn bring_up(
        &mut self,
        timeout: Duration,
        on_wait: &mut dyn FnMut(&str),
    ) -> Result<()> {
        let deadline = Instant::now() + timeout;
        for i in 0..self.nodes.len() {
            on_wait(&self.nodes[i].readiness());
            loop {
                self.nodes[i].poll_exit();
                if !self.nodes[i].running() {
                    return Err(self.nodes[i].exited());
                }
                if crate::watch::is_ready(&self.nodes[i]).await {
                    break;
                }
                past(deadline, timeout, &self.nodes[i].readiness())?;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        if !self.formed().await {
            self.create(deadline, timeout, on_wait).await?;
        }
        on_wait("every node to report cluster_state:ok");
        loop {
            let mut all = true;
            for n in &self.nodes {
                all &= cluster_info(n)
                    .await
                    .is_some_and(|i| i.get("cluster_state") == Some("ok"));
            }
            if all {
                return Ok(());
            }
            past(deadline, timeout, "cluster_state:ok on every node")?;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Whether the first node already knows every node and sees every
    /// slot served (a resumed folder).
    async fn formed(&self) -> bool {
        let Some(info) = cluster_info(&self.nodes[0]).await else {
            return false;
        };
        info.int("cluster_known_nodes") == Some(self.nodes.len() as i64)
            && info.int("cluster_slots_assigned") == Some(i64::from(SLOTS))
    }

    /// `redis-cli --cluster create`'s steps.
    async fn create(
        &mut self,
        deadline: Instant,
        timeout: Duration,
        on_wait: &mut dyn FnMut(&str),
    ) -> Result<()> {
        let masters = usize::from(self.spec.masters);
        on_wait("the masters to take their slots");
        for (i, (first, last)) in self.spec.slot_ranges().into_iter().enumerate() {
            call(
                &self.nodes[i],
                &[
                    "CLUSTER",
                    "ADDSLOTSRANGE",
                    &first.to_string(),
                    &last.to_string(),
                ],
            )
            .await?;
        }
        for (i, n) in self.nodes.iter().enumerate() {
            // Refused by a node that already has an epoch: harmless.
            let _ = call(n, &["CLUSTER", "SET-CONFIG-EPOCH", &(i + 1).to_string()]).await;
        }
        on_wait("the nodes to meet");
        for n in &self.nodes[1..] {
            let port = n.port.to_string();
            let bus = self.spec.bus_port_of(n.port).map(|b| b.to_string());
            let mut meet = vec!["CLUSTER", "MEET", "127.0.0.1", port.as_str()];
            meet.extend(bus.as_deref());
            call(&self.nodes[0], &meet).await?;
        }
        loop {
            let mut all = true;
            for n in &self.nodes {
                all &= cluster_info(n)
                    .await
                    .and_then(|i| i.int("cluster_known_nodes"))
                    == Some(self.nodes.len() as i64);
            }
            if all {
                break;
            }
            past(deadline, timeout, "every node to know every other")?;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        on_wait("the replicas to follow their masters");
        let mut ids = Vec::new();
        for n in &self.nodes[..masters] {
            ids.push(call(n, &["CLUSTER", "MYID"]).await?);
        }
        for (j, r) in self.nodes[masters..].iter().enumerate() {
            call(r, &["CLUSTER", "REPLICATE", &ids[j % masters]]).await?;
        }
        Ok(())
    }

    /// One look at every node (short deadlines: a stopped node shows as
    /// down).
    pub async fn status(&self) -> Vec<ClusterNodeStatus> {
        let mut out = Vec::new();
        for n in &self.nodes {
            let mut s = ClusterNodeStatus {
                name: n.name(),
                port: n.port,
                pid: n.pid(),
                role: "down".into(),
                state: "-".into(),
                ..ClusterNodeStatus::default()
            };
            if let Some(info) = cluster_info(n).await {
                s.state = info.get("cluster_state").unwrap_or("-").to_string();
                s.known_nodes = info.int("cluster_known_nodes").unwrap_or(0) as u32;
            }
            if let Ok(text) = call(n, &["CLUSTER", "NODES"]).await {
                fill_from_nodes(&mut s, &text);
            }
            if let Ok(text) = call(n, &["DBSIZE"]).await {
                s.keys = text.parse().unwrap_or(0);
            }
            out.push(s);
        }
        out
    }

    /// Nodes that exited since the last call, with how.
    pub fn poll_exits(&mut self) -> Vec<(String, std::process::ExitStatus)> {
        let mut out = Vec::new();
        for n in &mut self.nodes {
            if let Some(st) = n.poll_exit() {
                out.push((n.name(), st));
            }
        }
        out
    }

    /// SIGTERM to the replicas, then the masters, SIGKILL after `grace`.
    pub fn stop(&mut self, grace: Duration) {
        for n in self.nodes.iter_mut().rev() {
            n.terminate(grace);
        }
    }
}

impl Drop for LocalCluster {
    fn drop(&mut self) {
        self.stop(Duration::from_secs(5));
        if self.spec.temporary {
            let _ = std::fs::remove_dir_all(&self.spec.dir);
        }
    }
}

/// Role, id, master and slots of the node's `myself` line.
fn fill_from_nodes(s: &mut ClusterNodeStatus, text: &str) {
    let lines: Vec<Vec<&str>> = text
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    let Some(me) = lines
        .iter()
        .find(|w| w.len() >= 8 && w[2].contains("myself"))
    else {
        return;
    };
    s.id = me[0].chars().take(8).collect();
    s.role = if me[2].contains("master") {
        "master"
    } else {
        "replica"
    }
    .into();
    for r in &me[8..] {
        if r.starts_with('[') {
            continue;
        }
        let (a, b) = r.split_once('-').unwrap_or((r, r));
        if let (Ok(a), Ok(b)) = (a.parse::<u32>(), b.parse::<u32>()) {
            s.slots += b.saturating_sub(a) + 1;
        }
    }
    if me[3] != "-" {
        s.master_port = lines
            .iter()
            .find(|w| w.len() >= 8 && w[0] == me[3])
            .and_then(|w| w[1].split('@').next()?.rsplit(':').next()?.parse().ok());
    }
}

fn past(deadline: Instant, timeout: Duration, what: &str) -> Result<()> {
    if Instant::now() > deadline {
        return Err(Error::Timeout(timeout, what.to_string()));
    }
    Ok(())
}

async fn call(n: &Node, args: &[&str]) -> Result<String> {
    let mut c = Client::connect_auth(&n.addr(), n.password.as_deref(), LOOK_TIMEOUT)
        .await
        .map_err(|e| Error::Invalid(format!("{}: {e}", n.name())))?;
    let f = c
        .call(args)
        .await
        .map_err(|e| Error::Invalid(format!("{}: {e}", n.name())))?;
    match f {
        client::Frame::Error(e) => Err(Error::Invalid(format!(
            "{} refused {}: {}",
            n.name(),
            args.join(" "),
            String::from_utf8_lossy(&e)
        ))),
        f => Ok(frame_string(&f).unwrap_or_default()),
    }
}

async fn cluster_info(n: &Node) -> Option<Info> {
    call(n, &["CLUSTER", "INFO"])
        .await
        .ok()
        .map(|t| Info::parse(&t))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_split_as_redis_cli_splits_them() {
        let mut s = ClusterSpec::new("/tmp/x", vec![]);
        assert_eq!(
            s.slot_ranges(),
            vec![(0, 5460), (5461, 10922), (10923, 16383)]
        );
        s.masters = 1;
        assert_eq!(s.slot_ranges(), vec![(0, 16383)]);
        s.masters = 5;
        assert_eq!(s.slot_ranges().len(), 5);
        assert_eq!(s.slot_ranges()[4].1, 16383);
        s.masters = 3;
        s.replicas = 2;
        assert_eq!(s.ports().len(), 9);
    }

    #[test]
    fn the_myself_line_gives_role_slots_and_master() {
        let mut s = ClusterNodeStatus::default();
        fill_from_nodes(
            &mut s,
            "aaaaaaaaaaaa 127.0.0.1:7000@17000 master - 0 0 1 connected 0-5460\n\
             bbbbbbbbbbbb 127.0.0.1:7003@17003 myself,slave aaaaaaaaaaaa 0 0 1 connected\n",
        );
        assert_eq!(
            (s.role.as_str(), s.master_port, s.slots),
            ("replica", Some(7000), 0)
        );
        let mut m = ClusterNodeStatus::default();
        fill_from_nodes(
            &mut m,
            "aaaaaaaaaaaa 127.0.0.1:7000@17000 myself,master - 0 0 1 connected 0-5460 6000\n",
        );
        assert_eq!(
            (m.role.as_str(), m.slots, m.id.as_str()),
            ("master", 5462, "aaaaaaaa")
        );
    }
}
