//! One process, a server or a sentinel: started, watched, stopped. A
//! [`Topology`](crate::Topology) is made of nodes, and so is each single
//! server an end-to-end test starts through [`Launch`].
//!
//! A node runs in its own process group, so a Ctrl-C meant for the
//! launcher does not reach it and the launcher stops its nodes in order;
//! and with `PR_SET_PDEATHSIG`, so a launcher killed with SIGKILL leaves
//! nothing behind (the signal follows the thread that started the node:
//! `redoubt up`'s main thread, a test's own thread). Its standard output and error go to `console.log` in
//! its folder, beside the log file its config names: a program that dies
//! before it opens its log still leaves a trace there.
//!
//! Dropping a node kills it (SIGKILL to its pid). A node dropped while its
//! thread panics, which is a failing test, first prints the tail of its
//! logs; a temporary node then removes its folder.

use crate::config::quote;
use crate::{ports, watch, Error, Kind, Result};
use std::fs::OpenOptions;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// What the logs say when the port was taken between our check and the
/// program's own bind: Redis's `bind: Address already in use` and
/// Redoubt's, which names the same OS error.
pub(crate) const PORT_TAKEN: &str = "Address already in use";

/// One process: what to run, where, and its state once started.
#[derive(Debug)]
pub struct Node {
    pub kind: Kind,
    /// The address it listens on: 127.0.0.1, or the address of a network
    /// namespace in the partition test.
    pub host: String,
    pub port: u16,
    /// Its own folder: working directory, `console.log`, and usually its
    /// config file and log.
    pub dir: PathBuf,
    /// The log file its config names.
    pub log: PathBuf,
    /// The program and all its arguments.
    pub command: Vec<String>,
    /// Variables added to its environment (`NOTIFY_SOCKET`).
    pub env: Vec<(String, String)>,
    /// A server's `requirepass`, so the readiness probe can look inside.
    pub password: Option<String>,
    /// Remove [`Node::dir`] when the node is dropped (tests).
    pub temporary: bool,
    child: Option<Child>,
    /// How it ended, once it has.
    pub exit: Option<ExitStatus>,
}

impl Node {
    /// A node listening on 127.0.0.1:`port`, run as `command` in `dir`;
    /// not started.
    pub fn new(kind: Kind, port: u16, dir: PathBuf, log: PathBuf, command: Vec<String>) -> Node {
        Node {
            kind,
            host: "127.0.0.1".into(),
            port,
            dir,
            log,
            command,
            env: Vec::new(),
            password: None,
            temporary: false,
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
        format!("{}:{}", self.host, self.port)
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    pub fn running(&self) -> bool {
        self.child.is_some()
    }

    /// Spawns the process; returns without waiting for it to be ready
    /// (see [`Node::wait_ready`]).
    pub fn start(&mut self) -> Result<()> {
        if self.running() {
            return Err(Error::Invalid(format!(
                "{} is already running",
                self.name()
            )));
        }
        let Some((bin, args)) = self.command.split_first() else {
            return Err(Error::Invalid("empty program".into()));
        };
        let io = |e| Error::Io(self.dir.display().to_string(), e);
        std::fs::create_dir_all(&self.dir).map_err(io)?;
        let console = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("console.log"))
            .map_err(io)?;
        let console2 = console.try_clone().map_err(io)?;
        let mut cmd = Command::new(bin);
        cmd.args(args)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .current_dir(&self.dir)
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
        self.child = Some(child);
        self.exit = None;
        Ok(())
    }

    /// Reaps the process if it has exited; returns its status only on the
    /// call that noticed.
    pub fn poll_exit(&mut self) -> Option<ExitStatus> {
        let st = self.child.as_mut()?.try_wait().ok()??;
        self.child = None;
        self.exit = Some(st);
        Some(st)
    }

    /// Sends `sig` to the process (tests: SIGSTOP a replica, SIGKILL a
    /// master). False when it is not running.
    pub fn signal(&self, sig: i32) -> bool {
        match self.pid() {
            // SAFETY: kill(2) on a pid we spawned and have not reaped, so
            // it cannot name another process.
            Some(pid) => unsafe { libc::kill(pid as i32, sig) == 0 },
            None => false,
        }
    }

    /// SIGKILL, and waits for the process to go.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            self.exit = c.wait().ok();
        }
    }

    /// SIGTERM, waits up to `grace` for the process to exit, then SIGKILL.
    /// Returns how it ended.
    pub fn terminate(&mut self, grace: Duration) -> Option<ExitStatus> {
        self.signal(libc::SIGTERM);
        let deadline = Instant::now() + grace;
        while self.running() && Instant::now() < deadline {
            if self.poll_exit().is_none() {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        self.kill();
        self.exit
    }

    /// Waits until the process answers on its address as itself (its
    /// `process_id`, so not another program that holds the port) and, for
    /// a server, has loaded its data. Fails at once, with its log tail,
    /// if it exits.
    pub fn wait_ready(&mut self, timeout: Duration) -> Result<()> {
        // The probe is the async one `Topology` uses; a private runtime
        // lets synchronous callers (tests) share it.
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::Io("a runtime for the readiness probe".into(), e))?;
        let deadline = Instant::now() + timeout;
        loop {
            self.poll_exit();
            if !self.running() {
                return Err(self.exited());
            }
            if rt.block_on(watch::is_ready(self)) {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(Error::Timeout(timeout, self.readiness()));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// What [`Node::wait_ready`] waits for, in words.
    pub(crate) fn readiness(&self) -> String {
        match self.kind {
            Kind::Server => format!(
                "{} to answer on {} and finish loading",
                self.name(),
                self.addr()
            ),
            Kind::Sentinel => format!("{} to answer on {}", self.name(), self.addr()),
        }
    }

    /// Kills the process and starts it again with the same command (same
    /// port, folder and config), then waits until it is ready.
    pub fn restart(&mut self, timeout: Duration) -> Result<()> {
        self.kill();
        self.start()?;
        self.wait_ready(timeout)
    }

    /// The error for a process that exited while it was awaited.
    pub(crate) fn exited(&self) -> Error {
        let how = self
            .exit
            .map(|st| st.to_string())
            .unwrap_or_else(|| "not started".into());
        Error::Exited(self.name(), how, self.log_tail(15))
    }

    /// The log and the console output, in that order (once when the log
    /// is the console: `logfile ""`).
    fn logs(&self) -> String {
        let console = self.dir.join("console.log");
        let mut text = std::fs::read_to_string(&self.log).unwrap_or_default();
        if self.log != console {
            text.push_str(&std::fs::read_to_string(console).unwrap_or_default());
        }
        text
    }

    /// The last `n` lines of the node's log (and console output).
    pub fn log_tail(&self, n: usize) -> String {
        let text = self.logs();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// Whether it failed because its port was taken.
    fn port_taken(&self) -> bool {
        self.logs().contains(PORT_TAKEN)
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "--- {} ({}) log tail ---\n{}",
                self.name(),
                self.command.first().map(String::as_str).unwrap_or("?"),
                self.log_tail(30)
            );
        }
        self.kill();
        if self.temporary {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// How many ports [`Launch::start`] tries before it gives up.
const ATTEMPTS: usize = 5;

/// One server or sentinel to start on a free loopback port, in a folder of
/// its own that goes away with it: how a test starts a single process.
///
/// The launcher owns where the process listens and where its files go
/// (`port`, `bind`, `dir`, `logfile`); everything else is the caller's,
/// as config text and as command-line directives. The program is a
/// parameter: `[redoubt, "server"]`, `["redis-server"]`, or a wrapper
/// such as `ip netns exec NS redoubt server`.
#[derive(Debug, Clone)]
pub struct Launch {
    kind: Kind,
    program: Vec<String>,
    dir: PathBuf,
    conf: Option<String>,
    directives: Vec<(String, String)>,
    env: Vec<(String, String)>,
    host: String,
    ready_timeout: Duration,
}

impl Launch {
    /// A server run as `program` in `dir`, configured on its command line
    /// alone (no config file), as `redis-server --port ...` is.
    pub fn server(program: Vec<String>, dir: impl Into<PathBuf>) -> Launch {
        Launch {
            kind: Kind::Server,
            program,
            dir: dir.into(),
            conf: None,
            directives: Vec::new(),
            env: Vec::new(),
            host: "127.0.0.1".into(),
            ready_timeout: Duration::from_secs(10),
        }
    }

    /// A sentinel run as `program` in `dir` from a config file holding
    /// `conf` (its `sentinel ...` lines); a sentinel needs a file it can
    /// rewrite.
    pub fn sentinel(program: Vec<String>, dir: impl Into<PathBuf>, conf: &str) -> Launch {
        let mut l = Launch::server(program, dir);
        l.kind = Kind::Sentinel;
        l.conf = Some(conf.to_string());
        l
    }

    /// Starts a server from a config file holding `text` rather than from
    /// the command line alone.
    pub fn conf(mut self, text: &str) -> Launch {
        self.conf = Some(text.to_string());
        self
    }

    /// `--name value` directives for its command line, after the config
    /// file. A value with spaces becomes several arguments, as
    /// redis-server reads `--bind 127.0.0.1 -::1` or `--save ""`.
    pub fn directives<K: AsRef<str>, V: AsRef<str>>(mut self, d: &[(K, V)]) -> Launch {
        self.directives.extend(
            d.iter()
                .map(|(k, v)| (k.as_ref().to_string(), v.as_ref().to_string())),
        );
        self
    }

    /// A variable for its environment.
    pub fn env(mut self, name: &str, value: &str) -> Launch {
        self.env.push((name.into(), value.into()));
        self
    }

    /// Listens on `host` instead of 127.0.0.1 (a network namespace's
    /// address); the port is still chosen and checked on loopback.
    pub fn host(mut self, host: &str) -> Launch {
        self.host = host.into();
        self
    }

    /// How long one start may take to be ready (default 10 s).
    pub fn ready_timeout(mut self, timeout: Duration) -> Launch {
        self.ready_timeout = timeout;
        self
    }

    /// Starts it on a free port from the private range and waits until it
    /// is ready. When the port was taken between the check and the
    /// program's own bind, starts again on another port; any other failure
    /// is returned at once, with the log tail. The node is temporary: its
    /// folder goes when it is dropped.
    pub fn start(&self) -> Result<Node> {
        let log = self.dir.join(match self.kind {
            Kind::Server => "server.log",
            Kind::Sentinel => "sentinel.log",
        });
        let mut node = Node::new(self.kind, 0, self.dir.clone(), log, Vec::new());
        node.host = self.host.clone();
        node.env = self.env.clone();
        node.temporary = true;
        let mut last = None;
        for _ in 0..ATTEMPTS {
            node.port = ports::free_port()?;
            node.command = self.command(&node)?;
            node.start()?;
            match node.wait_ready(self.ready_timeout) {
                Ok(()) => return Ok(node),
                Err(e) if node.port_taken() => {
                    node.kill();
                    // The next attempt must not read this one's complaint.
                    let _ = std::fs::remove_file(&node.log);
                    let _ = std::fs::remove_file(node.dir.join("console.log"));
                    last = Some(e);
                }
                // A timeout alone would not say why: add what it logged.
                Err(Error::Timeout(d, what)) => {
                    let tail = node.log_tail(15);
                    return Err(Error::Timeout(
                        d,
                        format!("{what}; last log lines:\n{tail}"),
                    ));
                }
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| Error::Invalid("no attempt made".into())))
    }

    /// The command line for `node`, writing its config file if it has one.
    /// The launcher's lines come after the caller's text, so they win.
    fn command(&self, node: &Node) -> Result<Vec<String>> {
        let own = [
            ("port", node.port.to_string()),
            ("bind", node.host.clone()),
            ("dir", node.dir.display().to_string()),
            ("logfile", node.log.display().to_string()),
        ];
        let mut cmd = self.program.clone();
        match &self.conf {
            Some(text) => {
                let mut file = text.clone();
                if !file.is_empty() && !file.ends_with('\n') {
                    file.push('\n');
                }
                for (k, v) in &own {
                    file.push_str(&format!("{k} {}\n", quote(v)));
                }
                let path = node.dir.join(match self.kind {
                    Kind::Server => "redis.conf",
                    Kind::Sentinel => "sentinel.conf",
                });
                write_file(&path, &file)?;
                cmd.push(path.display().to_string());
            }
            None => push_directives(&mut cmd, own.iter().map(|(k, v)| (*k, v.as_str()))),
        }
        push_directives(
            &mut cmd,
            self.directives
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str())),
        );
        Ok(cmd)
    }
}

fn push_directives<'a>(cmd: &mut Vec<String>, d: impl Iterator<Item = (&'a str, &'a str)>) {
    for (k, v) in d {
        cmd.push(format!("--{k}"));
        cmd.extend(v.split(' ').map(String::from));
    }
}

fn write_file(path: &Path, text: &str) -> Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| Error::Io(parent.display().to_string(), e))?;
    }
    std::fs::write(path, text).map_err(|e| Error::Io(path.display().to_string(), e))
}
