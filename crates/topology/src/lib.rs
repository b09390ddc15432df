//! A local topology of Redis-protocol processes — one master, its
//! replicas and the sentinels watching them — started from generated
//! config files in one data folder, watched, and stopped cleanly.
//!
//! `redoubt up` and the end-to-end tests both go through this launcher, so
//! the tests exercise what users run. The programs are parameters: Redoubt
//! (`redoubt server` / `redoubt sentinel`) by default, Debian's
//! `redis-server` / `redis-sentinel` when a test wants the real thing.
//!
//! Layout of the data folder:
//! ```text
//! DIR/topology.conf            what was started (ports, master name), for resuming
//! DIR/server-6379/redis.conf   one folder per server: config, log, dump.rdb
//! DIR/sentinel-26379/sentinel.conf
//! ```
//! A second start on the same folder reuses every file: the servers' and
//! sentinels' configs were rewritten by the sentinels after any failover
//! (`CONFIG REWRITE`, sentinel config rewrite), so they already describe
//! the current topology.
//!
//! Each process is a [`Node`]: its own process group, stopped in order by
//! the launcher (sentinels first, so they do not fail over a master that
//! is merely being stopped; then the servers), killed if the launcher
//! dies. Tests start single servers through the same [`Node`], on free
//! ports from a private range ([`Launch`], [`free_port`]).

mod cluster;
mod config;
mod node;
mod ports;
mod watch;

pub use cluster::{ClusterNodeStatus, ClusterSpec, LocalCluster};
pub use config::Spec;
pub use node::{Launch, Node};
pub use ports::{free_port, free_ports};
pub use watch::{NodeStatus, Views};

use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}: {1}")]
    Io(String, std::io::Error),
    #[error("timed out after {0:?} waiting for {1}")]
    Timeout(Duration, String),
    #[error("{0} exited ({1}) while starting; last log lines:\n{2}")]
    Exited(String, String, String),
    #[error("port {0} is already in use on 127.0.0.1 (another `redoubt up` or server running?)")]
    PortInUse(u16),
    #[error("{0}")]
    Invalid(String),
}

impl Error {
    /// Whether a port was taken: before the start (our check) or by the
    /// time a process bound it (its log says so).
    pub fn port_taken(&self) -> bool {
        match self {
            Error::PortInUse(_) => true,
            Error::Exited(_, _, tail) => tail.contains(node::PORT_TAKEN),
            _ => false,
        }
    }
}

pub type Result<T> = std::result::Result<T, Error>;

/// What a node is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Server,
    Sentinel,
}

/// The node on `port` of a topology, in its folder under `root` (see the
/// layout above), run as `program CONFIG-FILE`; not started.
fn topology_node(kind: Kind, port: u16, root: &Path, program: &[String]) -> Node {
    let (folder, conf, log) = match kind {
        Kind::Server => ("server", "redis.conf", "server.log"),
        Kind::Sentinel => ("sentinel", "sentinel.conf", "sentinel.log"),
    };
    let dir = root.join(format!("{folder}-{port}"));
    let mut command = program.to_vec();
    command.push(dir.join(conf).display().to_string());
    Node::new(kind, port, dir.clone(), dir.join(log), command)
}

/// Told what a start-up waits for (see [`Topology::on_wait`]).
pub type WaitReporter = Box<dyn FnMut(&str)>;

/// How often an unchanged wait is reported again.
const WAIT_REPEAT: Duration = Duration::from_secs(3);

/// A started topology. Dropping it stops every process it started (and,
/// when [`Spec::temporary`], removes its folder).
pub struct Topology {
    pub spec: Spec,
    pub nodes: Vec<Node>,
    /// True when the folder held a topology from an earlier run.
    pub resumed: bool,
    /// Told what [`Topology::bring_up`] waits for ("replica-6380 to have
    /// master_link_status:up"), when that changes and then every few
    /// seconds while it lasts (`redoubt up` prints it).
    pub on_wait: Option<WaitReporter>,
    last_wait: Option<(String, Instant)>,
}

impl Topology {
    /// Writes the configs (or reuses those of an earlier run in
    /// `spec.dir`) and starts the servers. Returns once they are spawned;
    /// see [`Topology::bring_up`] for the whole sequence.
    pub fn start(spec: Spec) -> Result<Topology> {
        let (spec, resumed) = config::prepare(spec)?;
        let mut t = Topology {
            nodes: Vec::new(),
            resumed,
            spec,
            on_wait: None,
            last_wait: None,
        };
        for &p in t
            .spec
            .server_ports()
            .iter()
            .chain(t.spec.sentinel_ports().iter())
        {
            if std::net::TcpListener::bind(("127.0.0.1", p)).is_err() {
                return Err(Error::PortInUse(p));
            }
        }
        for port in t.spec.server_ports() {
            let mut n = topology_node(Kind::Server, port, &t.spec.dir, &t.spec.server_cmd);
            n.password = t.spec.password.clone();
            t.nodes.push(n);
        }
        for port in t.spec.sentinel_ports() {
            let n = topology_node(Kind::Sentinel, port, &t.spec.dir, &t.spec.sentinel_cmd);
            t.nodes.push(n);
        }
        for i in 0..t.nodes.len() {
            if t.nodes[i].kind == Kind::Server {
                t.spawn(i)?;
            }
        }
        Ok(t)
    }

    /// Starts the sentinels (after [`Topology::start`] started the
    /// servers). Starting them once replication is in sync lets their
    /// first `INFO` of the master list every replica, instead of waiting
    /// for the next 10-second poll.
    pub fn start_sentinels(&mut self) -> Result<()> {
        for i in 0..self.nodes.len() {
            if self.nodes[i].kind == Kind::Sentinel && !self.nodes[i].running() {
                self.spawn(i)?;
            }
        }
        Ok(())
    }

    /// The whole start-up: servers, ready, in sync, then sentinels, ready
    /// and agreeing. Returns the master's port.
    pub async fn bring_up(&mut self, timeout: Duration) -> Result<u16> {
        let deadline = Instant::now() + timeout;
        let left = || deadline.saturating_duration_since(Instant::now());
        self.wait_ready(left()).await?;
        // On a resumed folder the sentinels' configs hold the current
        // topology, and a master that died before a failover still
        // believes it is one: only the sentinels will turn it into a
        // replica, so they start before the servers can be in sync.
        if self.resumed && self.spec.sentinels > 0 {
            self.start_sentinels()?;
            self.wait_ready(left()).await?;
        }
        let m = self.wait_synced(left()).await?;
        if self.spec.sentinels > 0 {
            self.start_sentinels()?;
            self.wait_ready(left()).await?;
            self.wait_sentinels_agree(m, left()).await?;
        }
        Ok(m)
    }

    /// For tests: `spec` brought up on free ports from the private range
    /// ([`free_ports`]) in a temporary folder. When a port was taken
    /// between the check and a process's own bind, the whole topology
    /// starts again on other ports.
    pub async fn start_on_free_ports(spec: Spec, timeout: Duration) -> Result<Topology> {
        let mut last = None;
        for _ in 0..5 {
            let mut s = spec.clone();
            s.port = free_ports(s.replicas + 1)?;
            s.sentinel_port = free_ports(s.sentinels.max(1))?;
            s.temporary = true;
            // An earlier attempt's files name its ports: start afresh.
            let _ = std::fs::remove_dir_all(&s.dir);
            let attempt = match Topology::start(s) {
                Ok(mut t) => t.bring_up(timeout).await.map(|_| t),
                Err(e) => Err(e),
            };
            match attempt {
                Err(e) if e.port_taken() => last = Some(e),
                other => return other,
            }
        }
        Err(last.unwrap_or_else(|| Error::Invalid("no attempt made".into())))
    }

    /// Starts node `i` (again, once it has stopped) from its config file.
    pub fn spawn(&mut self, i: usize) -> Result<()> {
        match self.nodes.get_mut(i) {
            Some(node) => node.start(),
            None => Err(Error::Invalid(format!("no node {i}"))),
        }
    }

    pub fn servers(&self) -> impl Iterator<Item = &Node> {
        self.nodes.iter().filter(|n| n.kind == Kind::Server)
    }

    pub fn sentinels(&self) -> impl Iterator<Item = &Node> {
        self.nodes.iter().filter(|n| n.kind == Kind::Sentinel)
    }

    /// The node listening on `port`.
    pub fn node(&self, port: u16) -> Option<&Node> {
        self.nodes.iter().find(|n| n.port == port)
    }

    /// Reaps processes that have exited; returns the ones that just did.
    pub fn poll_exits(&mut self) -> Vec<(String, ExitStatus)> {
        self.nodes
            .iter_mut()
            .filter_map(|n| n.poll_exit().map(|st| (n.name(), st)))
            .collect()
    }

    /// Sends `sig` to the process on `port` (tests: SIGKILL a master,
    /// SIGSTOP a replica).
    pub fn signal(&self, port: u16, sig: i32) -> bool {
        self.node(port).is_some_and(|n| n.signal(sig))
    }

    /// Stops every process: SIGTERM to sentinels, then replicas and
    /// masters (each group waited for up to `grace`), SIGKILL after that.
    /// Data stays in the folder.
    pub fn stop(&mut self, grace: Duration) {
        let order = [Kind::Sentinel, Kind::Server];
        for kind in order {
            let idx: Vec<usize> = (0..self.nodes.len())
                .filter(|&i| self.nodes[i].kind == kind)
                .collect();
            stop_group(&mut self.nodes, &idx, grace);
        }
    }

    /// Waits until every running node is ready: answering as itself and,
    /// for a server, done loading its data (see [`Node::wait_ready`]).
    pub async fn wait_ready(&mut self, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        let mut pending: Vec<usize> = (0..self.nodes.len())
            .filter(|&i| self.nodes[i].running())
            .collect();
        while !pending.is_empty() {
            self.check_alive(&pending)?;
            let mut still = Vec::new();
            for &i in &pending {
                if !watch::is_ready(&self.nodes[i]).await {
                    still.push(i);
                }
            }
            pending = still;
            if pending.is_empty() {
                break;
            }
            let what: Vec<String> = pending.iter().map(|&i| self.nodes[i].readiness()).collect();
            let what = what.join(", ");
            if Instant::now() > deadline {
                return Err(Error::Timeout(timeout, what));
            }
            self.waiting_for(&what);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(())
    }

    /// Tells [`Topology::on_wait`] what is awaited: at once when it
    /// changed, else every [`WAIT_REPEAT`].
    fn waiting_for(&mut self, what: &str) {
        let Some(report) = self.on_wait.as_mut() else {
            return;
        };
        let due = match &self.last_wait {
            Some((w, at)) => w != what || at.elapsed() >= WAIT_REPEAT,
            None => true,
        };
        if due {
            report(what);
            self.last_wait = Some((what.to_string(), Instant::now()));
        }
    }

    fn check_alive(&mut self, which: &[usize]) -> Result<()> {
        self.poll_exits();
        for &i in which {
            let n = &self.nodes[i];
            if n.exit.is_some() {
                return Err(n.exited());
            }
        }
        Ok(())
    }

    /// Waits until exactly one running server is a master, every other
    /// running server is its replica with `master_link_status:up`, and all
    /// share the master's `master_repl_offset`. Returns the master's port.
    pub async fn wait_synced(&mut self, timeout: Duration) -> Result<u16> {
        let deadline = Instant::now() + timeout;
        loop {
            let servers: Vec<usize> = (0..self.nodes.len())
                .filter(|&i| self.nodes[i].kind == Kind::Server && self.nodes[i].running())
                .collect();
            self.check_alive(&servers)?;
            let why = match watch::synced(self, &servers).await {
                Ok(port) => return Ok(port),
                Err(w) => w,
            };
            if Instant::now() > deadline {
                return Err(Error::Timeout(timeout, why));
            }
            self.waiting_for(&why);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until every running sentinel names `master` (a port on
    /// 127.0.0.1) for the master name, knows all the other running
    /// sentinels and all the replicas.
    pub async fn wait_sentinels_agree(&mut self, master: u16, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            let sentinels: Vec<usize> = (0..self.nodes.len())
                .filter(|&i| self.nodes[i].kind == Kind::Sentinel && self.nodes[i].running())
                .collect();
            self.check_alive(&sentinels)?;
            let why = match watch::sentinels_agree(self, &sentinels, master).await {
                Ok(()) => return Ok(()),
                Err(w) => w,
            };
            if Instant::now() > deadline {
                return Err(Error::Timeout(timeout, why));
            }
            self.waiting_for(&why);
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// One look at every node (for a status table).
    pub async fn status(&mut self) -> Views {
        self.poll_exits();
        watch::status(self).await
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        self.stop(Duration::from_secs(10));
        // The nodes go first: in a failing test each prints its log tail.
        self.nodes.clear();
        if self.spec.temporary {
            let _ = std::fs::remove_dir_all(&self.spec.dir);
        }
    }
}

/// Stops one group of nodes together: SIGTERM to all, then waits up to
/// `grace` for them to exit, SIGKILL for the ones still running.
fn stop_group(nodes: &mut [Node], idx: &[usize], grace: Duration) {
    for &i in idx {
        nodes[i].signal(libc::SIGTERM);
    }
    let deadline = Instant::now() + grace;
    loop {
        let mut left = false;
        for &i in idx {
            nodes[i].poll_exit();
            left |= nodes[i].running();
        }
        if !left {
            return;
        }
        if Instant::now() > deadline {
            for &i in idx {
                nodes[i].kill();
            }
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Makes `p` absolute without requiring it to exist.
pub fn absolute(p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir()
            .map(|c| c.join(p))
            .unwrap_or_else(|_| p.to_path_buf())
    }
}
