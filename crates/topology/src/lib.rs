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
//! Processes run in their own process group, so a Ctrl-C meant for the
//! launcher does not reach them and the launcher stops them in order
//! (sentinels first, so they do not fail over a master that is merely
//! being stopped; then replicas; then masters). Each child also gets
//! `PR_SET_PDEATHSIG`, so a launcher killed with SIGKILL leaves nothing
//! behind.

mod config;
mod watch;

pub use config::Spec;
pub use watch::{NodeStatus, Views};

use std::fs::OpenOptions;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
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

pub type Result<T> = std::result::Result<T, Error>;

/// What a node is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Server,
    Sentinel,
}

/// One process of the topology.
#[derive(Debug)]
pub struct Node {
    pub kind: Kind,
    pub port: u16,
    /// The node's own folder (config, log, data).
    pub dir: PathBuf,
    pub conf: PathBuf,
    pub log: PathBuf,
    child: Option<Child>,
    /// How it ended, once it has.
    pub exit: Option<ExitStatus>,
}

impl Node {
    /// The node on `port`, in its folder under `root` (see the layout
    /// above); not started.
    fn new(kind: Kind, port: u16, root: &Path) -> Node {
        let (folder, conf, log) = match kind {
            Kind::Server => ("server", "redis.conf", "server.log"),
            Kind::Sentinel => ("sentinel", "sentinel.conf", "sentinel.log"),
        };
        let dir = root.join(format!("{folder}-{port}"));
        Node {
            kind,
            port,
            conf: dir.join(conf),
            log: dir.join(log),
            dir,
            child: None,
            exit: None,
        }
    }

    /// `server-6379` / `sentinel-26379`.
    pub fn name(&self) -> String {
        match self.kind {
            Kind::Server => format!("server-{}", self.port),
            Kind::Sentinel => format!("sentinel-{}", self.port),
        }
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    pub fn running(&self) -> bool {
        self.child.is_some()
    }

    /// The last `n` lines of the node's log (and console output).
    pub fn log_tail(&self, n: usize) -> String {
        let mut text = std::fs::read_to_string(&self.log).unwrap_or_default();
        text.push_str(&std::fs::read_to_string(self.dir.join("console.log")).unwrap_or_default());
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }
}

/// A started topology. Dropping it stops every process it started.
pub struct Topology {
    pub spec: Spec,
    pub nodes: Vec<Node>,
    /// True when the folder held a topology from an earlier run.
    pub resumed: bool,
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
            t.nodes.push(Node::new(Kind::Server, port, &t.spec.dir));
        }
        for port in t.spec.sentinel_ports() {
            t.nodes.push(Node::new(Kind::Sentinel, port, &t.spec.dir));
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

    /// (Re)starts node `i` from its config file.
    pub fn spawn(&mut self, i: usize) -> Result<()> {
        let Some(node) = self.nodes.get_mut(i) else {
            return Err(Error::Invalid(format!("no node {i}")));
        };
        let prog = match node.kind {
            Kind::Server => &self.spec.server_cmd,
            Kind::Sentinel => &self.spec.sentinel_cmd,
        };
        let Some((bin, pre)) = prog.split_first() else {
            return Err(Error::Invalid("empty program".into()));
        };
        let console = OpenOptions::new()
            .create(true)
            .append(true)
            .open(node.dir.join("console.log"))
            .map_err(|e| Error::Io(node.dir.display().to_string(), e))?;
        let console2 = console
            .try_clone()
            .map_err(|e| Error::Io(node.dir.display().to_string(), e))?;
        let mut cmd = Command::new(bin);
        cmd.args(pre)
            .arg(&node.conf)
            .current_dir(&node.dir)
            .stdin(Stdio::null())
            .stdout(console)
            .stderr(console2)
            .process_group(0);
        // SAFETY: prctl is async-signal-safe and touches no memory of the
        // parent; it runs in the child between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                Ok(())
            });
        }
        let child = cmd
            .spawn()
            .map_err(|e| Error::Io(format!("starting {bin}"), e))?;
        node.child = Some(child);
        node.exit = None;
        Ok(())
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
        let mut out = Vec::new();
        for n in &mut self.nodes {
            if let Some(c) = n.child.as_mut() {
                if let Ok(Some(st)) = c.try_wait() {
                    n.child = None;
                    n.exit = Some(st);
                    out.push((n.name(), st));
                }
            }
        }
        out
    }

    /// Sends `sig` to the process on `port` (tests: SIGKILL a master,
    /// SIGSTOP a replica).
    pub fn signal(&self, port: u16, sig: i32) -> bool {
        match self.node(port).and_then(Node::pid) {
            // SAFETY: kill(2) on a pid we spawned and have not reaped.
            Some(pid) => unsafe { libc::kill(pid as i32, sig) == 0 },
            None => false,
        }
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

    /// Waits until every running server answers PING and has loaded its
    /// data (`loading:0`), and every sentinel answers PING.
    pub async fn wait_ready(&mut self, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        let mut pending: Vec<usize> = (0..self.nodes.len())
            .filter(|&i| self.nodes[i].running())
            .collect();
        while !pending.is_empty() {
            self.check_alive(&pending)?;
            let mut still = Vec::new();
            for &i in &pending {
                if !watch::is_ready(&self.nodes[i], self.spec.password.as_deref()).await {
                    still.push(i);
                }
            }
            pending = still;
            if pending.is_empty() {
                break;
            }
            if Instant::now() > deadline {
                let names: Vec<String> = pending.iter().map(|&i| self.nodes[i].name()).collect();
                return Err(Error::Timeout(
                    timeout,
                    format!("{} to be ready", names.join(", ")),
                ));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(())
    }

    fn check_alive(&mut self, which: &[usize]) -> Result<()> {
        self.poll_exits();
        for &i in which {
            let n = &self.nodes[i];
            if let Some(st) = n.exit {
                return Err(Error::Exited(n.name(), st.to_string(), n.log_tail(15)));
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
    }
}

fn stop_group(nodes: &mut [Node], idx: &[usize], grace: Duration) {
    for &i in idx {
        if let Some(c) = nodes[i].child.as_ref() {
            // SAFETY: kill(2) on our own unreaped child.
            unsafe {
                libc::kill(c.id() as i32, libc::SIGTERM);
            }
        }
    }
    let deadline = Instant::now() + grace;
    loop {
        let mut left = false;
        for &i in idx {
            let n = &mut nodes[i];
            if let Some(c) = n.child.as_mut() {
                match c.try_wait() {
                    Ok(Some(st)) => {
                        n.exit = Some(st);
                        n.child = None;
                    }
                    _ => left = true,
                }
            }
        }
        if !left {
            return;
        }
        if Instant::now() > deadline {
            for &i in idx {
                let n = &mut nodes[i];
                if let Some(mut c) = n.child.take() {
                    let _ = c.kill();
                    n.exit = c.wait().ok();
                }
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
