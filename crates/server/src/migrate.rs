//! The connections MIGRATE keeps to its targets (Redis's
//! `migrate_cached_sockets`): one per `host:port`, at most 64, each closed
//! once idle for more than 10 seconds, with the database last selected on
//! it so the next MIGRATE to the same database skips its `SELECT`.
//!
//! MIGRATE blocks the whole server while it talks to the target, as in
//! Redis: the keys it moves cannot change between the dump and the delete,
//! and no reply of another client can observe a half-moved set of keys.
//! The sockets belong to a worker thread with its own event loop (an
//! outgoing link is tied to the runtime that opened it, and the executor
//! cannot wait on its own runtime); the executor hands it one exchange at
//! a time and waits for the outcome. Every step is bounded by MIGRATE's
//! timeout, so the wait is too.
//!
//! The exchange follows Redis's `migrateCommand`: optional `AUTH`, a
//! `SELECT` when the link's database differs, the `RESTORE` commands, all
//! written in 64 KiB pieces, then one reply line each. A link that fails
//! before any `RESTORE` was answered is reopened and the exchange tried
//! once more, unless the failure was a timeout.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};

/// Most links kept; a new one past this closes one at random.
const MAX_LINKS: usize = 64;
/// Idle time after which a link is closed.
const IDLE_TTL: Duration = Duration::from_secs(10);
/// Longest reply line read (Redis reads into a 1 KiB buffer).
const MAX_LINE: usize = 1023;
/// Bytes written per timed write.
const WRITE_CHUNK: usize = 64 * 1024;

/// One MIGRATE's conversation with its target.
pub struct Exchange {
    pub host: String,
    pub port: u16,
    pub timeout: Duration,
    /// TLS material when `tls-cluster` is on.
    pub tls: Option<Arc<crate::tls::TlsContext>>,
    /// An encoded `AUTH` command, sent first.
    pub auth: Option<Vec<u8>>,
    /// The target database; `SELECT` is sent when the link is on another.
    pub db: i64,
    /// The encoded `RESTORE` commands.
    pub restores: Vec<u8>,
    /// How many commands `restores` holds.
    pub count: usize,
}

/// Where an exchange broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    Connect,
    Write,
    Read,
}

/// What the target answered: one line per command sent (without its
/// CRLF), the `RESTORE` replies cut short where the link failed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub auth: Option<Vec<u8>>,
    pub select: Option<Vec<u8>>,
    pub restores: Vec<Vec<u8>>,
    pub failure: Option<Failure>,
}

impl Outcome {
    fn failed(f: Failure) -> Outcome {
        Outcome {
            failure: Some(f),
            ..Outcome::default()
        }
    }
}

type Job = (Exchange, std::sync::mpsc::SyncSender<Outcome>);

/// The server's handle on the links (`Server::migrate`).
#[derive(Default)]
pub struct MigrateLinks {
    worker: Option<tokio::sync::mpsc::UnboundedSender<Job>>,
    cached: Arc<AtomicUsize>,
}

impl MigrateLinks {
    /// Links open now (`migrate_cached_sockets` in INFO).
    pub fn cached_sockets(&self) -> usize {
        self.cached.load(Ordering::Relaxed)
    }

    /// Runs `ex` on the worker and waits for its outcome, blocking the
    /// calling thread (the executor) meanwhile.
    pub fn exchange(&mut self, ex: Exchange) -> Outcome {
        let Some(tx) = self.worker() else {
            return Outcome::failed(Failure::Connect);
        };
        let (done_tx, done_rx) = std::sync::mpsc::sync_channel(1);
        if tx.send((ex, done_tx)).is_err() {
            self.worker = None;
            return Outcome::failed(Failure::Connect);
        }
        done_rx
            .recv()
            .unwrap_or_else(|_| Outcome::failed(Failure::Read))
    }

    /// The worker's queue, starting the worker on first use.
    fn worker(&mut self) -> Option<tokio::sync::mpsc::UnboundedSender<Job>> {
        if let Some(tx) = &self.worker {
            return Some(tx.clone());
        }
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let cached = self.cached.clone();
        let spawned = std::thread::Builder::new()
            .name("migrate".into())
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build();
                match rt {
                    Ok(rt) => rt.block_on(worker(rx, cached)),
                    Err(e) => crate::log_warning!("MIGRATE: can't start its event loop: {e}"),
                }
            });
        if let Err(e) = spawned {
            crate::log_warning!("MIGRATE: can't start its thread: {e}");
            return None;
        }
        self.worker = Some(tx.clone());
        Some(tx)
    }
}

/// An open link to a target.
struct Link {
    stream: BufReader<crate::net::OutStream>,
    /// Database selected on it; -1 when unknown.
    db: i64,
    last_use: Instant,
}

/// The worker: serves exchanges one at a time, closes idle links.
async fn worker(mut rx: tokio::sync::mpsc::UnboundedReceiver<Job>, cached: Arc<AtomicUsize>) {
    let mut links: HashMap<String, Link> = HashMap::new();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            job = rx.recv() => {
                let Some((ex, done)) = job else { return };
                let outcome = run(&mut links, ex).await;
                cached.store(links.len(), Ordering::Relaxed);
                let _ = done.send(outcome);
            }
            _ = tick.tick() => {
                links.retain(|_, l| l.last_use.elapsed() <= IDLE_TTL);
                cached.store(links.len(), Ordering::Relaxed);
            }
        }
    }
}

/// Why one attempt failed, and whether the failure was a timeout.
struct Broke {
    failure: Failure,
    timed_out: bool,
}

fn broke(failure: Failure, e: Option<std::io::Error>) -> Broke {
    Broke {
        failure,
        timed_out: e.is_none() || e.is_some_and(|e| e.kind() == std::io::ErrorKind::TimedOut),
    }
}

async fn run(links: &mut HashMap<String, Link>, ex: Exchange) -> Outcome {
    let name = format!("{}:{}", ex.host, ex.port);
    let mut may_retry = true;
    loop {
        let mut out = Outcome::default();
        let tried = match links.get_mut(&name) {
            Some(link) => attempt(link, &ex, &mut out).await,
            None => match connect(&ex).await {
                Connected::ConnectFails => return Outcome::failed(Failure::Connect),
                Connected::FirstWriteFails(b) => Err(b),
                Connected::Open(stream) => {
                    if links.len() >= MAX_LINKS {
                        if let Some(k) = links.keys().next().cloned() {
                            links.remove(&k);
                        }
                    }
                    let link = links.entry(name.clone()).or_insert(Link {
                        stream: BufReader::new(stream),
                        db: -1,
                        last_use: Instant::now(),
                    });
                    attempt(link, &ex, &mut out).await
                }
            },
        };
        match tried {
            Ok(()) => {
                let refused = out
                    .auth
                    .iter()
                    .chain(&out.select)
                    .chain(&out.restores)
                    .any(|l| l.first() == Some(&b'-'));
                if let Some(link) = links.get_mut(&name) {
                    // After an error the selected database is not trusted.
                    link.db = if refused { -1 } else { ex.db };
                }
                return out;
            }
            Err(b) => {
                links.remove(&name);
                if may_retry && !b.timed_out && out.restores.is_empty() {
                    may_retry = false;
                    continue;
                }
                out.failure = Some(b.failure);
                return out;
            }
        }
    }
}

/// How opening a link went, as Redis's MIGRATE reports it.
enum Connected {
    Open(crate::net::OutStream),
    /// The address does not resolve (or, with TLS, the handshake failed):
    /// only then does Redis's connect fail ("error or timeout connecting").
    ConnectFails,
    /// Refused or unreachable. Redis's non-blocking connect reports
    /// success here and its first write fails, so this is a write failure
    /// (retried unless it timed out).
    FirstWriteFails(Broke),
}

async fn connect(ex: &Exchange) -> Connected {
    if ex.tls.is_none() {
        let lookup = tokio::net::lookup_host((ex.host.as_str(), ex.port));
        let found = match tokio::time::timeout(ex.timeout, lookup).await {
            Ok(Ok(mut addrs)) => addrs.next().is_some(),
            _ => false,
        };
        if !found {
            return Connected::ConnectFails;
        }
    }
    let conn = crate::net::connect_out(&ex.host, ex.port, ex.tls.as_deref());
    match tokio::time::timeout(ex.timeout, conn).await {
        Ok(Ok(stream)) => Connected::Open(stream),
        _ if ex.tls.is_some() => Connected::ConnectFails,
        Ok(Err(e)) => Connected::FirstWriteFails(broke(Failure::Write, Some(e))),
        Err(_) => Connected::FirstWriteFails(broke(Failure::Write, None)),
    }
}

/// One try over an open link, filling `out` with the replies read.
async fn attempt(link: &mut Link, ex: &Exchange, out: &mut Outcome) -> Result<(), Broke> {
    link.last_use = Instant::now();
    let select = link.db != ex.db;
    let mut buf = Vec::with_capacity(ex.restores.len() + 64);
    if let Some(a) = &ex.auth {
        buf.extend_from_slice(a);
    }
    if select {
        let db = ex.db.to_string();
        resp::encode_command(&mut buf, &[&b"SELECT"[..], db.as_bytes()]);
    }
    buf.extend_from_slice(&ex.restores);
    for chunk in buf.chunks(WRITE_CHUNK) {
        let w = link.stream.get_mut().write_all(chunk);
        match tokio::time::timeout(ex.timeout, w).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(broke(Failure::Write, Some(e))),
            Err(_) => return Err(broke(Failure::Write, None)),
        }
    }
    if ex.auth.is_some() {
        out.auth = Some(read_line(link, ex.timeout).await?);
    }
    if select {
        out.select = Some(read_line(link, ex.timeout).await?);
    }
    for _ in 0..ex.count {
        let line = read_line(link, ex.timeout).await?;
        out.restores.push(line);
    }
    Ok(())
}

/// One reply line without its line ending (at most 1023 bytes, as Redis
/// reads it), within `timeout`.
async fn read_line(link: &mut Link, timeout: Duration) -> Result<Vec<u8>, Broke> {
    let read = async {
        let mut line = Vec::new();
        while line.len() < MAX_LINE {
            let c = link.stream.read_u8().await?;
            if c == b'\n' {
                break;
            }
            line.push(c);
        }
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        Ok::<_, std::io::Error>(line)
    };
    match tokio::time::timeout(timeout, read).await {
        Ok(Ok(line)) => Ok(line),
        Ok(Err(e)) => Err(broke(Failure::Read, Some(e))),
        Err(_) => Err(broke(Failure::Read, None)),
    }
}
