//! The one small harness every end-to-end test uses: start a real server
//! process (Redoubt or Debian's redis-server) on a free loopback port, talk
//! to it over a real socket, wait for conditions with deadlines, and clean
//! up on drop.
//!
//! Processes are started, watched and stopped by the `topology` crate, the
//! launcher `redoubt up` uses: a free port from a private range (another
//! one when it was taken meanwhile), ready once it answers as itself, and a
//! handle that kills it by pid and removes its folder when dropped, after
//! printing its log tail when the test failed.
//!
//! What the test files share lives here as well: replies as text
//! ([`text`]), INFO fields ([`info_field`]), a whole dataset to compare two
//! servers key by key ([`dataset`]), replicas ([`start_replica`],
//! [`wait_for_link_up`]), and [`on_both!`] to run scenarios against
//! Redoubt and real Redis alike.

use std::borrow::Borrow;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};
use topology::{Kind, Launch, Node};

/// Which implementation a [`ServerHandle`] runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    Redoubt,
    Redis,
}

impl Flavor {
    /// The program (and leading arguments) of this flavor's server or
    /// sentinel: `redoubt server`, `redis-sentinel`, ...
    pub fn program(self, kind: Kind) -> Vec<String> {
        match (self, kind) {
            (Flavor::Redoubt, Kind::Server) => vec![redoubt_bin().into(), "server".into()],
            (Flavor::Redoubt, Kind::Sentinel) => vec![redoubt_bin().into(), "sentinel".into()],
            (Flavor::Redis, Kind::Server) => vec!["redis-server".into()],
            (Flavor::Redis, Kind::Sentinel) => vec!["redis-sentinel".into()],
        }
    }

    /// Names the folders of its processes.
    fn tag(self) -> &'static str {
        match self {
            Flavor::Redoubt => "redoubt",
            Flavor::Redis => "redis",
        }
    }
}

pub fn redoubt_bin() -> &'static str {
    env!("CARGO_BIN_EXE_redoubt")
}

/// A free loopback port from the launcher's private range (never 0: in
/// Redis that means "no TCP listener").
pub fn free_port() -> u16 {
    topology::free_port().expect("a free loopback port")
}

/// The first of `n` consecutive free ports (a topology takes port,
/// port + 1, ...).
pub fn free_ports(n: u16) -> u16 {
    topology::free_ports(n).expect("free consecutive loopback ports")
}

/// A fresh temporary directory. A [`ServerHandle`] removes its own when
/// dropped; other users remove theirs.
pub fn temp_dir(tag: &str) -> PathBuf {
    static N: AtomicU16 = AtomicU16::new(0);
    let d = std::env::temp_dir().join(format!(
        "redoubt-test-{}-{}-{}",
        tag,
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = std::fs::remove_dir_all(&d);
    let _ = std::fs::create_dir_all(&d);
    d
}

/// Held by the tests that start whole topologies (up to six processes
/// each): one at a time, so together they do not load a small machine
/// enough to upset the timing of other suites' failover tests running in
/// parallel.
pub fn heavy() -> std::sync::MutexGuard<'static, ()> {
    static HEAVY: std::sync::Mutex<()> = std::sync::Mutex::new(());
    HEAVY.lock().unwrap_or_else(|e| e.into_inner())
}

/// What every test server runs with, before the test's own directives:
/// no snapshots or AOF unless asked, DEBUG allowed, and full syncs that
/// start at once (both servers default to a 5 s delay).
const SERVER_DEFAULTS: &[(&str, &str)] = &[
    ("save", ""),
    ("appendonly", "no"),
    ("enable-debug-command", "yes"),
    ("repl-diskless-sync-delay", "0"),
];

/// How long a start or restart may take to be ready.
const READY: Duration = Duration::from_secs(10);

/// A running server or sentinel; dropping it kills the process and removes
/// its folder.
pub struct ServerHandle {
    pub flavor: Flavor,
    pub port: u16,
    /// Its own folder: working directory, logs, data unless `dir` says
    /// otherwise.
    pub dir: PathBuf,
    node: Node,
}

impl ServerHandle {
    /// Starts a server with `directives` (name, value) on top of the test
    /// defaults, listening on 127.0.0.1 only, in a folder of its own.
    pub fn start(flavor: Flavor, directives: &[(&str, &str)]) -> ServerHandle {
        let launch = Launch::server(flavor.program(Kind::Server), temp_dir(flavor.tag()))
            .directives(SERVER_DEFAULTS)
            .directives(directives);
        Self::launch(flavor, &launch)
    }

    /// Starts a sentinel (Redoubt's or Debian's redis-sentinel) whose
    /// config file holds `conf` (the `sentinel ...` lines).
    pub fn start_sentinel(flavor: Flavor, conf: &str, directives: &[(&str, &str)]) -> ServerHandle {
        let launch = Launch::sentinel(flavor.program(Kind::Sentinel), temp_dir(flavor.tag()), conf)
            .directives(directives);
        Self::launch(flavor, &launch)
    }

    /// Starts what `launch` describes (a config file, an environment...);
    /// panics with the reason and the log tail when it does not start.
    pub fn launch(flavor: Flavor, launch: &Launch) -> ServerHandle {
        match launch.start() {
            Ok(node) => ServerHandle {
                flavor,
                port: node.port,
                dir: node.dir.clone(),
                node,
            },
            Err(e) => panic!("{flavor:?} did not start: {e} (is redis-server installed?)"),
        }
    }

    /// Starts the same server again (same port, folder and arguments),
    /// after [`ServerHandle::kill`] or not.
    pub fn restart(&mut self) {
        if let Err(e) = self.node.restart(READY) {
            panic!("restart failed: {e}");
        }
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// The value of a `replicaof` directive naming this server.
    pub fn replicaof(&self) -> String {
        format!("127.0.0.1 {}", self.port)
    }

    pub fn pid(&self) -> Option<u32> {
        self.node.pid()
    }

    pub fn log_path(&self) -> PathBuf {
        self.node.log.clone()
    }

    /// The whole log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.node.log).unwrap_or_default()
    }

    pub fn log_tail(&self, n: usize) -> String {
        self.node.log_tail(n)
    }

    /// A raw connection for byte-exact exchanges.
    pub fn raw(&self) -> Raw {
        Raw::connect(self.addr())
    }

    /// A `redis` crate client.
    pub fn client(&self) -> redis::Connection {
        let c = redis::Client::open(self.url()).expect("client");
        c.get_connection().expect("connect")
    }

    /// Sends `sig` to the process (SIGSTOP a replica, SIGCONT it again).
    pub fn signal(&self, sig: i32) {
        assert!(self.node.signal(sig), "the process is not running");
    }

    /// Sends SIGKILL and waits for the process.
    pub fn kill(&mut self) {
        self.node.kill();
    }

    /// Waits up to `limit` for the process to exit by itself (SHUTDOWN, a
    /// crash); returns how it ended, None if it is still running.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Some(st) = self.node.poll_exit() {
                return Some(st);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        None
    }

    /// Sends SIGTERM and waits up to `limit` for the process to exit
    /// (SIGKILL after that); returns how it ended.
    pub fn terminate(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        self.node.terminate(limit)
    }
}

/// Starts a `flavor` replica of `master` with `extra` directives and waits
/// until its link is up.
pub fn start_replica(
    flavor: Flavor,
    master: &ServerHandle,
    extra: &[(&str, &str)],
) -> ServerHandle {
    let to = master.replicaof();
    let mut d = vec![("replicaof", to.as_str())];
    d.extend_from_slice(extra);
    let replica = ServerHandle::start(flavor, &d);
    wait_for_link_up(&replica);
    replica
}

/// Waits (10 s) until `replica` says `master_link_status:up`.
pub fn wait_for_link_up(replica: &ServerHandle) {
    let mut c = replica.client();
    wait_for(
        &format!("master_link_status:up on the replica on {}", replica.port),
        Duration::from_secs(10),
        || info_field(&mut c, "replication", "master_link_status") == "up",
    );
}

/// A raw RESP connection: send bytes, read exactly one reply's bytes.
pub struct Raw {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Raw {
    pub fn connect(addr: SocketAddr) -> Raw {
        let stream = TcpStream::connect(addr).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        Raw {
            stream,
            buf: Vec::new(),
        }
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("write");
    }

    /// Encodes and sends one command as a multibulk request.
    pub fn send_cmd(&mut self, args: &[&[u8]]) {
        self.send(&client::encode(args));
    }

    /// As `send_cmd`, for a peer that may already have closed the
    /// connection (the write error is the caller's to judge).
    pub fn try_send_cmd(&mut self, args: &[&[u8]]) -> std::io::Result<()> {
        self.stream.write_all(&client::encode(args))
    }

    /// Reads one complete reply and returns its raw bytes; None on EOF or
    /// timeout.
    pub fn read_reply(&mut self) -> Option<Vec<u8>> {
        loop {
            if let Ok(Some((_, n))) = resp::parse_frame(&self.buf) {
                let out = self.buf[..n].to_vec();
                self.buf.drain(..n);
                return Some(out);
            }
            let mut tmp = [0u8; 65536];
            match self.stream.read(&mut tmp) {
                Ok(0) | Err(_) => return None,
                Ok(n) => self.buf.extend_from_slice(&tmp[..n]),
            }
        }
    }

    /// Sends a command and returns its reply bytes.
    pub fn cmd(&mut self, args: &[&[u8]]) -> Vec<u8> {
        self.send_cmd(args);
        self.read_reply().unwrap_or_default()
    }

    /// [`Raw::cmd`] with text arguments, the reply as (lossy) text.
    pub fn cmd_str(&mut self, args: &[&str]) -> String {
        let a: Vec<&[u8]> = args.iter().map(|s| s.as_bytes()).collect();
        String::from_utf8_lossy(&self.cmd(&a)).into_owned()
    }

    /// `CLIENT ID` of this connection.
    pub fn client_id(&mut self) -> i64 {
        let r = self.cmd_str(&["CLIENT", "ID"]);
        r.trim_start_matches(':').trim().parse().unwrap_or(i64::MIN)
    }

    /// Whether the server closed the connection (EOF within the timeout).
    pub fn is_closed(&mut self) -> bool {
        let _ = self.stream.set_read_timeout(Some(Duration::from_secs(5)));
        let mut tmp = [0u8; 1];
        matches!(self.stream.read(&mut tmp), Ok(0))
    }
}

/// Waits until `cond` holds or panics naming what it waited for.
pub fn wait_for(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if cond() {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("timed out after {limit:?} waiting for {what}");
}

/// Lines of a server log that are warnings (`#`), for tests that scan logs.
pub fn warnings_in(log: &Path) -> Vec<String> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.split(' ').nth(5) == Some("#"))
        .map(str::to_string)
        .collect()
}

/// `blocked_clients` from `INFO clients`.
pub fn blocked_clients(c: &mut Raw) -> usize {
    info_field(c, "clients", "blocked_clients")
        .parse()
        .unwrap_or(usize::MAX)
}

/// Waits until exactly `n` clients are blocked (BLPOP & co.).
pub fn wait_blocked(admin: &mut Raw, n: usize) {
    wait_for(
        &format!("{n} blocked clients"),
        Duration::from_secs(5),
        || blocked_clients(admin) == n,
    );
}

/// Sends `cmd`, a blocking command with a 0.3 s timeout and nothing to
/// serve it, and asserts that it answers a RESP2 null array once the
/// timeout has passed (and not much later).
pub fn assert_times_out_in_0_3_s(c: &mut Raw, cmd: &[&[u8]]) {
    let t = Instant::now();
    assert_eq!(c.cmd(cmd), b"*-1\r\n");
    let took = t.elapsed();
    assert!(
        took >= Duration::from_millis(250),
        "returned after {took:?}"
    );
    assert!(took < Duration::from_secs(3), "returned after {took:?}");
}

/// Runs one `redis` crate command given as strings; panics with the
/// command on an error reply.
pub fn q(c: &mut redis::Connection, args: &[&str]) -> redis::Value {
    let mut cmd = redis::cmd(args[0]);
    for a in &args[1..] {
        cmd.arg(*a);
    }
    cmd.query(c).unwrap_or_else(|e| panic!("{args:?}: {e}"))
}

/// A connection to `url` with short deadlines (500 ms to connect, 2 s for
/// a reply), or None when nothing answers: for polling processes that may
/// be down, stopped or cut off.
pub fn try_conn_to(url: &str) -> Option<redis::Connection> {
    let c = redis::Client::open(url).ok()?;
    let con = c
        .get_connection_with_timeout(Duration::from_millis(500))
        .ok()?;
    con.set_read_timeout(Some(Duration::from_secs(2))).ok();
    Some(con)
}

/// [`try_conn_to`] the process on `port` of 127.0.0.1.
pub fn try_conn(port: u16) -> Option<redis::Connection> {
    try_conn_to(&format!("redis://127.0.0.1:{port}/"))
}

/// One command on a fresh [`try_conn_to`] connection; None when nothing
/// answers or the reply is an error.
pub fn try_query(url: &str, args: &[&str]) -> Option<redis::Value> {
    let mut con = try_conn_to(url)?;
    let mut cmd = redis::cmd(args[0]);
    for a in &args[1..] {
        cmd.arg(*a);
    }
    cmd.query(&mut con).ok()
}

/// A connection to `port` of 127.0.0.1 that must work (2 s to connect, 5 s
/// for a reply).
pub fn conn(port: u16) -> redis::Connection {
    let c = redis::Client::open(format!("redis://127.0.0.1:{port}/")).expect("client");
    let con = c
        .get_connection_with_timeout(Duration::from_secs(2))
        .expect("connect");
    con.set_read_timeout(Some(Duration::from_secs(5))).ok();
    con
}

/// Whether a process exists (a pid a tool under test started).
pub fn pid_alive(pid: i32) -> bool {
    // SAFETY: signal 0 only checks that the process exists.
    unsafe { libc::kill(pid, 0) == 0 }
}

/// A reply as text: strings as they are, numbers in decimal, nil as
/// `(nil)`, arrays as `[a,b]` (so nested ones keep their shape).
pub fn text(v: impl Borrow<redis::Value>) -> String {
    match v.borrow() {
        redis::Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
        redis::Value::SimpleString(s) => s.clone(),
        redis::Value::Okay => "OK".into(),
        redis::Value::Int(n) => n.to_string(),
        redis::Value::Double(d) => d.to_string(),
        redis::Value::Nil => "(nil)".into(),
        redis::Value::Array(a) => {
            let parts: Vec<String> = a.iter().map(text).collect();
            format!("[{}]", parts.join(","))
        }
        other => format!("{other:?}"),
    }
}

/// Something `INFO` can be asked of: a `redis` crate connection or a raw
/// one.
pub trait InfoSource {
    /// The text of `INFO section`; empty when there is no answer.
    fn info(&mut self, section: &str) -> String;
}

impl InfoSource for redis::Connection {
    fn info(&mut self, section: &str) -> String {
        redis::cmd("INFO")
            .arg(section)
            .query(self)
            .unwrap_or_default()
    }
}

impl InfoSource for Raw {
    fn info(&mut self, section: &str) -> String {
        self.cmd_str(&["INFO", section])
    }
}

/// `field` of `INFO section`, trimmed; empty when the server does not
/// print it or does not answer.
pub fn info_field(c: &mut impl InfoSource, section: &str, field: &str) -> String {
    c.info(section)
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .unwrap_or("")
        .trim()
        .to_string()
}

/// The whole dataset, canonically, to compare two servers key by key:
/// (db, key) → type, value (unordered collections sorted) and absolute
/// expiry, over the 16 default databases. Leaves db 0 selected.
pub fn dataset(c: &mut redis::Connection) -> BTreeMap<(usize, String), String> {
    let members = |v: redis::Value| match v {
        redis::Value::Array(a) => a,
        v => vec![v],
    };
    let mut out = BTreeMap::new();
    for db in 0..16 {
        q(c, &["SELECT", &db.to_string()]);
        for k in members(q(c, &["KEYS", "*"])).iter().map(text) {
            let t = text(q(c, &["TYPE", &k]));
            let v = match t.as_str() {
                "string" => text(q(c, &["GET", &k])),
                "list" => text(q(c, &["LRANGE", &k, "0", "-1"])),
                "set" => {
                    let mut m: Vec<String> =
                        members(q(c, &["SMEMBERS", &k])).iter().map(text).collect();
                    m.sort();
                    m.join(",")
                }
                "zset" => text(q(c, &["ZRANGE", &k, "0", "-1", "WITHSCORES"])),
                "stream" => text(q(c, &["XRANGE", &k, "-", "+"])),
                "hash" => {
                    let mut m: Vec<String> = members(q(c, &["HGETALL", &k]))
                        .chunks(2)
                        .map(|p| p.iter().map(text).collect::<Vec<_>>().join("="))
                        .collect();
                    m.sort();
                    m.join(",")
                }
                other => other.to_string(),
            };
            let exp = text(q(c, &["PEXPIRETIME", &k]));
            out.insert((db, k), format!("{t} {v} exp={exp}"));
        }
    }
    q(c, &["SELECT", "0"]);
    out
}

/// Runs each named scenario, a `fn(Flavor)` of the calling module, as a
/// test against Redoubt (`on_redoubt::NAME`) and one against real Redis
/// (`on_redis::NAME`).
macro_rules! on_both {
    ($($name:ident),* $(,)?) => {
        mod on_redoubt {
            $(#[test] fn $name() { super::$name($crate::harness::Flavor::Redoubt) })*
        }
        mod on_redis {
            $(#[test] fn $name() { super::$name($crate::harness::Flavor::Redis) })*
        }
    };
}
pub(crate) use on_both;

/// What a command printed: its standard output, then its standard error.
pub fn output_text(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

/// Asserts that a checker (promtool, systemd-analyze) accepted its input:
/// it succeeded and printed nothing.
pub fn assert_checker_silent(checker: &str, out: &std::process::Output, input: &str) {
    let report = output_text(out);
    assert!(
        out.status.success() && report.trim().is_empty(),
        "{checker}: {report}\n{input}"
    );
}

/// Runs `redoubt ARGS --dir DIR` to its end (a start-up expected to fail),
/// killed after 20 s if it does not; returns the exit code and what it
/// printed on stdout and stderr.
pub fn run_to_exit(args: &[&str], dir: &Path) -> (Option<i32>, String) {
    let child = Command::new(redoubt_bin())
        .args(args)
        .arg("--dir")
        .arg(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start redoubt");
    let pid = child.id() as i32;
    // The watchdog kills only while the child is still ours: once it has
    // been reaped its pid may belong to another process.
    let (reaped, watched) = std::sync::mpsc::channel::<()>();
    let watchdog = std::thread::spawn(move || {
        if let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
            watched.recv_timeout(Duration::from_secs(20))
        {
            // SAFETY: signalling our own child, not yet reaped.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    });
    let out = child.wait_with_output().expect("wait for redoubt");
    drop(reaped);
    let _ = watchdog.join();
    (out.status.code(), output_text(&out))
}

/// [`run_to_exit`] for `redoubt server` on a free loopback port, without
/// snapshots, with `extra` arguments: a start-up expected to be refused.
pub fn server_to_exit(extra: &[&str], dir: &Path) -> (Option<i32>, String) {
    let port = free_port().to_string();
    let mut args = vec![
        "server",
        "--port",
        &port,
        "--bind",
        "127.0.0.1",
        "--save",
        "",
    ];
    args.extend_from_slice(extra);
    run_to_exit(&args, dir)
}
