//! The one small harness every end-to-end test uses: start a real server
//! process (Redoubt or Debian's redis-server) on a free loopback port, talk
//! to it over a real socket, and clean up on drop — kill by pid, remove the
//! data folder, and print the log tail when the test failed.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};

/// Which server binary a [`ServerHandle`] runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    Redoubt,
    Redis,
}

static NEXT_PORT: AtomicU16 = AtomicU16::new(0);

/// A free loopback port from a private range. Never 0 (in Redis that
/// means "no TCP listener"); each candidate is checked by binding it.
pub fn free_port() -> u16 {
    let _ = NEXT_PORT.compare_exchange(
        0,
        21000 + (std::process::id() % 200) as u16 * 50,
        Ordering::SeqCst,
        Ordering::SeqCst,
    );
    loop {
        let p = NEXT_PORT.fetch_add(1, Ordering::SeqCst);
        let p = 21000 + (p - 21000) % 20000;
        if TcpListener::bind(("127.0.0.1", p)).is_ok() {
            return p;
        }
    }
}

/// A fresh temporary directory for one server, removed on drop.
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

pub struct ServerHandle {
    pub flavor: Flavor,
    pub port: u16,
    pub dir: PathBuf,
    child: Option<Child>,
    /// Program and arguments, to start the same server again.
    spawn: (String, Vec<String>),
    sentinel: bool,
}

pub fn redoubt_bin() -> &'static str {
    env!("CARGO_BIN_EXE_redoubt")
}

impl ServerHandle {
    /// Starts a server with `directives` (name, value) on top of test
    /// defaults (loopback only, own folder and log file). Retries on a port
    /// taken between the check and the bind.
    pub fn start(flavor: Flavor, directives: &[(&str, &str)]) -> ServerHandle {
        Self::start_mode(flavor, false, directives, "")
    }

    /// Starts a sentinel (Redoubt's or Debian's redis-sentinel) whose
    /// config file holds `conf` (the `sentinel ...` lines).
    pub fn start_sentinel(flavor: Flavor, conf: &str, directives: &[(&str, &str)]) -> ServerHandle {
        Self::start_mode(flavor, true, directives, conf)
    }

    fn start_mode(
        flavor: Flavor,
        sentinel: bool,
        directives: &[(&str, &str)],
        conf: &str,
    ) -> ServerHandle {
        let mut last_err = String::new();
        for _ in 0..5 {
            let port = free_port();
            let dir = temp_dir(match flavor {
                Flavor::Redoubt => "redoubt",
                Flavor::Redis => "redis",
            });
            let mut args: Vec<String> = Vec::new();
            let program = match (flavor, sentinel) {
                (Flavor::Redoubt, false) => {
                    args.push("server".into());
                    redoubt_bin()
                }
                (Flavor::Redoubt, true) => {
                    args.push("sentinel".into());
                    redoubt_bin()
                }
                (Flavor::Redis, false) => "redis-server",
                (Flavor::Redis, true) => "redis-sentinel",
            };
            if sentinel {
                let file = dir.join("sentinel.conf");
                std::fs::write(&file, conf).expect("write sentinel.conf");
                args.push(file.display().to_string());
            }
            let mut base: Vec<(String, String)> = vec![
                ("port".into(), port.to_string()),
                ("bind".into(), "127.0.0.1".into()),
                ("dir".into(), dir.display().to_string()),
                (
                    "logfile".into(),
                    dir.join("server.log").display().to_string(),
                ),
                ("save".into(), "".into()),
                ("appendonly".into(), "no".into()),
                ("enable-debug-command".into(), "yes".into()),
                // Full syncs start at once (both servers default to 5 s).
                ("repl-diskless-sync-delay".into(), "0".into()),
            ];
            if sentinel {
                // Only what a sentinel accepts on its command line.
                base.retain(|(k, _)| matches!(k.as_str(), "port" | "bind" | "dir" | "logfile"));
            }
            for (k, v) in base
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .chain(directives.iter().copied())
            {
                args.push(format!("--{k}"));
                for part in v.split(' ') {
                    args.push(part.to_string());
                }
            }
            let spawn = (program.to_string(), args);
            let child = match Self::spawn(&spawn) {
                Ok(c) => c,
                Err(e) => panic!("cannot start {flavor:?}: {e} (is redis-server installed?)"),
            };
            let mut h = ServerHandle {
                flavor,
                port,
                dir,
                child: Some(child),
                spawn,
                sentinel,
            };
            match h.wait_ready(Duration::from_secs(10)) {
                Ok(()) => return h,
                Err(e) => last_err = format!("{e}; log tail:\n{}", h.log_tail(20)),
            }
        }
        panic!("{flavor:?} did not start: {last_err}");
    }

    fn spawn(spawn: &(String, Vec<String>)) -> std::io::Result<Child> {
        Command::new(&spawn.0)
            .args(&spawn.1)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
    }

    /// Starts the same server again (same port, folder and arguments)
    /// after [`ServerHandle::kill`].
    pub fn restart(&mut self) {
        self.kill();
        let child = Self::spawn(&self.spawn).expect("restart");
        self.child = Some(child);
        if let Err(e) = self.wait_ready(Duration::from_secs(10)) {
            panic!("restart failed: {e}; log tail:\n{}", self.log_tail(20));
        }
    }

    fn wait_ready(&mut self, limit: Duration) -> Result<(), String> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Some(c) = self.child.as_mut() {
                if let Ok(Some(status)) = c.try_wait() {
                    return Err(format!("exited early with {status}"));
                }
            }
            // Ready means accepting connections and done loading its data.
            if let Ok(mut s) = TcpStream::connect(self.addr()) {
                let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
                let probe: &[u8] = if self.sentinel {
                    b"PING\r\n"
                } else {
                    b"INFO persistence\r\n"
                };
                if s.write_all(probe).is_ok() {
                    let mut b = [0u8; 4096];
                    if let Ok(n) = s.read(&mut b) {
                        let text = String::from_utf8_lossy(&b[..n]);
                        if text.contains("\nloading:0")
                            || text.starts_with("+PONG")
                            || text.starts_with('-') && !text.starts_with("-LOADING")
                        {
                            return Ok(());
                        }
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err(format!(
            "not accepting connections on port {} within {limit:?}",
            self.port
        ))
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.join("server.log")
    }

    pub fn log_tail(&self, n: usize) -> String {
        let text = std::fs::read_to_string(self.log_path()).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
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

    /// Sends SIGKILL and waits for the process.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Sends SIGTERM and waits up to `limit` for the process to exit.
    pub fn terminate(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let mut c = self.child.take()?;
        // SAFETY: sending a signal to our own child process.
        unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Ok(Some(s)) = c.try_wait() {
                return Some(s);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = c.kill();
        c.wait().ok()
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "--- {:?} on port {} log tail ---\n{}",
                self.flavor,
                self.port,
                self.log_tail(30)
            );
        }
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
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
        let mut out = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            out.extend_from_slice(a);
            out.extend_from_slice(b"\r\n");
        }
        self.send(&out);
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
    let info = c.cmd(&[b"INFO", b"clients"]);
    let text = String::from_utf8_lossy(&info);
    text.lines()
        .find_map(|l| l.strip_prefix("blocked_clients:"))
        .and_then(|v| v.trim().parse().ok())
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

/// Runs one `redis` crate command given as strings; panics with the
/// command on an error reply.
pub fn q(c: &mut redis::Connection, args: &[&str]) -> redis::Value {
    let mut cmd = redis::cmd(args[0]);
    for a in &args[1..] {
        cmd.arg(*a);
    }
    cmd.query(c).unwrap_or_else(|e| panic!("{args:?}: {e}"))
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
    let watchdog = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(20));
        // SAFETY: signalling our own child, which may have exited.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    });
    let out = child.wait_with_output().expect("wait for redoubt");
    drop(watchdog);
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}
