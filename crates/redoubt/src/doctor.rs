//! `redoubt doctor [--password P] [--sentinel HOST:PORT]... HOST:PORT ...`
//! inspects a running replication set-up or cluster (Redoubt or Redis; a
//! cluster node leads to all the nodes it knows) and this host
//! against the known failure modes of the run-book's troubleshooting
//! matrix, and says for each finding what it saw, why it matters and the
//! exact config line to change. Exit code 0 (nothing found), 1 (warnings),
//! 2 (errors); `--json` for machines.
//!
//! It works in three steps: *collect* (connect to every given and
//! discovered server and sentinel, read `INFO`, `CONFIG GET`, sentinel
//! views, local log tails and /proc, and sample the write rate), *check*
//! (pure functions from what was collected to findings — see
//! `doctor_checks.rs`), *report*.

#[path = "doctor_checks.rs"]
mod checks;
#[path = "doctor_cluster.rs"]
mod cluster;

use crate::flags::{parse_secs, parse_size, Flags};
use client::{frame_pairs, frame_string, Client, Frame, Info};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_millis(1500);

/// Directives read from every server.
const CONFIG_NAMES: &[&str] = &[
    "bind",
    "protected-mode",
    "requirepass",
    "masterauth",
    "masteruser",
    "repl-backlog-size",
    "client-output-buffer-limit",
    "min-replicas-to-write",
    "min-replicas-max-lag",
    "tcp-backlog",
    "maxclients",
    "logfile",
    "dir",
    "replica-announce-ip",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Warning,
    Error,
}

/// One problem found.
#[derive(Debug, Clone)]
pub struct Finding {
    pub severity: Severity,
    /// Stable identifier (`auth-mismatch`), for scripts and tests.
    pub check: &'static str,
    /// The node it is about (`host:port`, or `host` for host checks).
    pub node: String,
    pub saw: String,
    pub why: String,
    /// The config line (or command) to change, and where.
    pub fix: String,
}

/// What one server showed.
#[derive(Debug, Clone, Default)]
pub struct ServerView {
    pub addr: String,
    pub host: String,
    pub port: u16,
    pub info: Info,
    pub config: BTreeMap<String, String>,
    /// Runs on this host (loopback or one of this host's addresses), so
    /// its /proc entries and log file can be read.
    pub local: bool,
    /// Recent lines of its log file, when local and readable.
    pub log_tail: Vec<String>,
    /// `Max open files` soft limit of its process (local only).
    pub nofile: Option<u64>,
    /// Bytes per second of replication stream (masters, sampled).
    pub write_rate: Option<f64>,
    /// `CLUSTER NODES`, for a node in cluster mode.
    pub cluster_nodes: Option<String>,
}

impl ServerView {
    pub fn is_master(&self) -> bool {
        self.info.get("role") == Some("master")
    }
    pub fn is_redoubt(&self) -> bool {
        self.info.get("redoubt_version").is_some()
    }
    pub fn conf(&self, k: &str) -> &str {
        self.config.get(k).map(String::as_str).unwrap_or("")
    }
    pub fn software(&self) -> String {
        match self.info.get("redoubt_version") {
            Some(v) => format!(
                "Redoubt {v} (redis_version {})",
                self.info.get("redis_version").unwrap_or("?")
            ),
            None => format!("Redis {}", self.info.get("redis_version").unwrap_or("?")),
        }
    }
}

/// What one sentinel showed for one master name.
#[derive(Debug, Clone, Default)]
pub struct SentinelView {
    pub addr: String,
    pub name: String,
    pub master_addr: Option<String>,
    /// `SENTINEL CKQUORUM` error text, if it failed.
    pub ckquorum_err: Option<String>,
    /// (ip:port, flags) of the replicas and other sentinels it knows.
    pub replicas: Vec<(String, String)>,
    pub sentinels: Vec<(String, String)>,
}

/// Everything collected, the input of the checks.
#[derive(Debug, Default)]
pub struct Snapshot {
    pub servers: Vec<ServerView>,
    pub sentinels: Vec<SentinelView>,
    /// Nodes that could not be inspected: (addr, what happened, whether it
    /// was given by the user or discovered).
    pub unreachable: Vec<(String, String, bool)>,
    /// Addresses announced by a node (replica in a master's INFO, replica
    /// or sentinel in a sentinel's tables) that refuse connections:
    /// (addr, who announced it, what).
    pub bad_announces: Vec<(String, String, String)>,
    pub somaxconn: Option<i64>,
    pub overcommit: Option<i64>,
    pub thp: Option<String>,
    pub opts: Options,
}

#[derive(Debug, Clone, Default)]
pub struct Options {
    pub write_rate: Option<f64>,
    pub max_outage: u64,
    pub full_sync_time: u64,
    pub max_lag: i64,
    pub password_given: bool,
}

pub fn main(args: &[String]) -> i32 {
    let f = match crate::cli::parse(crate::cli::doctor(), args) {
        Ok(f) => f,
        Err(code) => return code,
    };
    if f.positional.is_empty() && f.all("sentinel").is_empty() {
        eprintln!("redoubt doctor: name a server or a --sentinel (see redoubt doctor --help)");
        return 2;
    }
    let opts = match options(&f) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("redoubt doctor: {e}");
            return 2;
        }
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("redoubt doctor: {e}");
            return 2;
        }
    };
    let sample = Duration::from_millis(f.num("sample-ms", 1000u64).unwrap_or(1000));
    let snap = rt.block_on(collect(
        &f.positional,
        &f.all("sentinel"),
        f.get("password"),
        f.get("sentinel-password"),
        f.get("master-name"),
        sample,
        opts,
    ));
    let findings = checks::run(&snap);
    if f.has("json") {
        println!("{}", json(&snap, &findings));
    } else {
        print!("{}", text(&snap, &findings));
    }
    exit_code(&findings)
}

fn options(f: &Flags) -> Result<Options, String> {
    let write_rate = match f.get("write-rate") {
        Some(v) => Some(parse_size(v).ok_or(format!("--write-rate `{v}`: not a size"))? as f64),
        None => None,
    };
    let secs = |name: &str, d: u64| match f.get(name) {
        Some(v) => parse_secs(v).ok_or(format!("--{name} `{v}`: not a duration")),
        None => Ok(d),
    };
    let max_lag = match f.get("max-lag") {
        Some(v) => parse_size(v).ok_or(format!("--max-lag `{v}`: not a size"))? as i64,
        None => 1 << 20,
    };
    Ok(Options {
        write_rate,
        max_outage: secs("max-outage", 60)?,
        full_sync_time: secs("full-sync-time", 60)?,
        max_lag,
        password_given: f.get("password").is_some(),
    })
}

pub fn exit_code(findings: &[Finding]) -> i32 {
    match findings.iter().map(|f| f.severity).max() {
        None => 0,
        Some(Severity::Warning) => 1,
        Some(Severity::Error) => 2,
    }
}

fn split_addr(addr: &str) -> Option<(String, u16)> {
    let (h, p) = addr.rsplit_once(':')?;
    Some((h.trim_matches(['[', ']']).to_string(), p.parse().ok()?))
}

/// This host's addresses: loopback, plus what `getifaddrs` lists.
fn local_addrs() -> Vec<std::net::IpAddr> {
    let mut out = Vec::new();
    // SAFETY: getifaddrs fills a list we walk read-only and free once.
    unsafe {
        let mut ifap: *mut libc::ifaddrs = std::ptr::null_mut();
        if libc::getifaddrs(&mut ifap) == 0 {
            let mut p = ifap;
            while !p.is_null() {
                let a = (*p).ifa_addr;
                if !a.is_null() {
                    match (*a).sa_family as i32 {
                        libc::AF_INET => {
                            let sin = &*(a as *const libc::sockaddr_in);
                            out.push(std::net::IpAddr::from(
                                u32::from_be(sin.sin_addr.s_addr).to_be_bytes(),
                            ));
                        }
                        libc::AF_INET6 => {
                            let sin6 = &*(a as *const libc::sockaddr_in6);
                            out.push(std::net::IpAddr::from(sin6.sin6_addr.s6_addr));
                        }
                        _ => {}
                    }
                }
                p = (*p).ifa_next;
            }
            libc::freeifaddrs(ifap);
        }
    }
    out
}

fn is_local(host: &str, locals: &[std::net::IpAddr]) -> bool {
    if host == "localhost" {
        return true;
    }
    match host.parse::<std::net::IpAddr>() {
        Ok(ip) => ip.is_loopback() || locals.contains(&ip),
        Err(_) => false,
    }
}

fn read_i64(path: &str) -> Option<i64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// The soft `Max open files` limit of a local process, if it is really a
/// server (its command line names redis or redoubt).
fn nofile_of(pid: i64) -> Option<u64> {
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let cmd = String::from_utf8_lossy(&cmdline).to_ascii_lowercase();
    if !cmd.contains("redis") && !cmd.contains("redoubt") {
        return None;
    }
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line["Max open files".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

fn log_tail(v: &ServerView) -> Vec<String> {
    let file = v.conf("logfile");
    if file.is_empty() || !v.local {
        return Vec::new();
    }
    let mut path = std::path::PathBuf::from(file);
    if path.is_relative() {
        path = std::path::Path::new(v.conf("dir")).join(path);
    }
    let Ok(text) = std::fs::read(&path) else {
        return Vec::new();
    };
    let text = String::from_utf8_lossy(&text[text.len().saturating_sub(64 * 1024)..]).into_owned();
    let lines: Vec<String> = text.lines().map(String::from).collect();
    lines[lines.len().saturating_sub(300)..].to_vec()
}

async fn inspect_server(
    addr: &str,
    password: Option<&str>,
    locals: &[std::net::IpAddr],
) -> Result<ServerView, String> {
    let (host, port) = split_addr(addr).ok_or(format!("`{addr}` is not HOST:PORT"))?;
    let mut c = Client::connect_auth(addr, password, TIMEOUT)
        .await
        .map_err(|e| e.to_string())?;
    let info = c.info("everything").await.map_err(|e| e.to_string())?;
    let mut config = BTreeMap::new();
    for name in CONFIG_NAMES {
        // One name per call: a renamed or missing directive then only
        // loses itself.
        if let Ok(Some(v)) = c.config_get(name).await {
            config.insert(name.to_string(), v);
        }
    }
    let cluster_nodes = if info.get("cluster_enabled") == Some("1") {
        c.call_str(&["CLUSTER", "NODES"]).await.ok()
    } else {
        None
    };
    let mut v = ServerView {
        addr: addr.to_string(),
        local: is_local(&host, locals),
        host,
        port,
        info,
        config,
        cluster_nodes,
        ..ServerView::default()
    };
    if v.local {
        v.log_tail = log_tail(&v);
        v.nofile = v.info.int("process_id").and_then(nofile_of);
    }
    Ok(v)
}

async fn connectable(addr: &str) -> Result<(), String> {
    Client::connect_timeout(addr, TIMEOUT)
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}

fn pair_list(f: &Frame) -> Vec<BTreeMap<String, String>> {
    match f {
        Frame::Array(v) | Frame::Set(v) => v.iter().filter_map(frame_pairs).collect(),
        _ => Vec::new(),
    }
}

fn addr_of(m: &BTreeMap<String, String>) -> String {
    format!(
        "{}:{}",
        m.get("ip").map(String::as_str).unwrap_or("?"),
        m.get("port").map(String::as_str).unwrap_or("?")
    )
}

async fn inspect_sentinel(
    addr: &str,
    password: Option<&str>,
    only: Option<&str>,
) -> Result<Vec<SentinelView>, String> {
    // Sentinels with `requirepass` need their own password (Redis's
    // `sentinel-pass` is usually not the servers' one).
    let mut c = Client::connect_auth(addr, password, TIMEOUT)
        .await
        .map_err(|e| e.to_string())?;
    let masters = c
        .call_ok(&["SENTINEL", "MASTERS"])
        .await
        .map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for m in pair_list(&masters) {
        let Some(name) = m.get("name").cloned() else {
            continue;
        };
        if only.is_some_and(|o| o != name) {
            continue;
        }
        let mut v = SentinelView {
            addr: addr.to_string(),
            name: name.clone(),
            ..SentinelView::default()
        };
        if let Ok(Frame::Array(a)) = c
            .call_ok(&["SENTINEL", "GET-MASTER-ADDR-BY-NAME", &name])
            .await
        {
            if let [h, p] = &a[..] {
                v.master_addr = Some(format!(
                    "{}:{}",
                    frame_string(h).unwrap_or_default(),
                    frame_string(p).unwrap_or_default()
                ));
            }
        }
        match c.call(&["SENTINEL", "CKQUORUM", &name]).await {
            Ok(Frame::Error(e)) => v.ckquorum_err = Some(String::from_utf8_lossy(&e).into_owned()),
            Err(e) => v.ckquorum_err = Some(e.to_string()),
            Ok(_) => {}
        }
        if let Ok(f) = c.call_ok(&["SENTINEL", "REPLICAS", &name]).await {
            v.replicas = pair_list(&f)
                .iter()
                .map(|r| (addr_of(r), r.get("flags").cloned().unwrap_or_default()))
                .collect();
        }
        if let Ok(f) = c.call_ok(&["SENTINEL", "SENTINELS", &name]).await {
            v.sentinels = pair_list(&f)
                .iter()
                .map(|r| (addr_of(r), r.get("flags").cloned().unwrap_or_default()))
                .collect();
        }
        out.push(v);
    }
    Ok(out)
}

/// Connects to everything given, follows what masters and sentinels
/// announce, and samples the masters' write rate.
pub async fn collect(
    given: &[String],
    sentinels: &[&str],
    password: Option<&str>,
    sentinel_password: Option<&str>,
    master_name: Option<&str>,
    sample: Duration,
    opts: Options,
) -> Snapshot {
    let locals = local_addrs();
    let mut s = Snapshot {
        opts,
        ..Snapshot::default()
    };
    let mut todo: Vec<(String, bool)> = given.iter().map(|a| (a.clone(), true)).collect();
    for sa in sentinels {
        match inspect_sentinel(sa, sentinel_password, master_name).await {
            Ok(views) => {
                for v in &views {
                    if let Some(m) = &v.master_addr {
                        todo.push((m.clone(), false));
                    }
                    for (r, flags) in &v.replicas {
                        // A replica the sentinel already knows is down is
                        // reported by the link checks, not as an address
                        // problem.
                        if !flags.contains("down") {
                            todo.push((r.clone(), false));
                        }
                    }
                    for (o, flags) in &v.sentinels {
                        if !flags.contains("down") {
                            if let Err(e) = connectable(o).await {
                                s.bad_announces
                                    .push((o.clone(), format!("sentinel {sa}"), e));
                            }
                        }
                    }
                }
                s.sentinels.extend(views);
            }
            Err(e) => s.unreachable.push((sa.to_string(), e, true)),
        }
    }
    let mut seen: Vec<String> = Vec::new();
    let mut i = 0;
    while i < todo.len() {
        let (addr, was_given) = todo[i].clone();
        i += 1;
        if seen.contains(&addr) {
            continue;
        }
        seen.push(addr.clone());
        match inspect_server(&addr, password, &locals).await {
            Ok(v) => {
                // The other nodes of its cluster are inspected too.
                for a in v
                    .cluster_nodes
                    .as_deref()
                    .map(cluster::known_addrs)
                    .unwrap_or_default()
                {
                    if !seen.contains(&a) && !todo.iter().any(|(t, _)| *t == a) {
                        todo.push((a, false));
                    }
                }
                if v.is_master() {
                    for r in v.info.replicas() {
                        let ra = format!(
                            "{}:{}",
                            r.get("ip").map(String::as_str).unwrap_or("?"),
                            r.get("port").map(String::as_str).unwrap_or("?")
                        );
                        if seen.contains(&ra) || todo.iter().any(|(a, _)| *a == ra) {
                            continue;
                        }
                        match connectable(&ra).await {
                            Ok(()) => todo.push((ra, false)),
                            Err(e) => {
                                seen.push(ra.clone());
                                s.bad_announces.push((ra, format!("master {addr}"), e));
                            }
                        }
                    }
                }
                s.servers.push(v);
            }
            Err(e) if was_given => s.unreachable.push((addr, e, true)),
            Err(e) => {
                // A replica a sentinel lists but that refuses connections.
                if connectable(&addr).await.is_err() {
                    s.bad_announces.push((addr, "a sentinel".into(), e));
                } else {
                    s.unreachable.push((addr, e, false));
                }
            }
        }
    }
    // The write rate: how fast each master's replication offset moves.
    let before: Vec<(usize, i64)> = s
        .servers
        .iter()
        .enumerate()
        .filter(|(_, v)| v.is_master())
        .filter_map(|(i, v)| Some((i, v.info.int("master_repl_offset")?)))
        .collect();
    if !before.is_empty() && s.opts.write_rate.is_none() && !sample.is_zero() {
        let t0 = std::time::Instant::now();
        tokio::time::sleep(sample).await;
        for (i, off0) in before {
            let addr = s.servers[i].addr.clone();
            if let Ok(mut c) = Client::connect_auth(&addr, password, TIMEOUT).await {
                if let Ok(info) = c.info("replication").await {
                    if let Some(off1) = info.int("master_repl_offset") {
                        s.servers[i].write_rate =
                            Some((off1 - off0).max(0) as f64 / t0.elapsed().as_secs_f64());
                    }
                }
            }
        }
    }
    if s.servers.iter().any(|v| v.local) {
        s.somaxconn = read_i64("/proc/sys/net/core/somaxconn");
        s.overcommit = read_i64("/proc/sys/vm/overcommit_memory");
        s.thp = std::fs::read_to_string("/sys/kernel/mm/transparent_hugepage/enabled").ok();
    }
    s
}

fn sev_word(s: Severity) -> &'static str {
    match s {
        Severity::Warning => "warning",
        Severity::Error => "error",
    }
}

fn text(s: &Snapshot, findings: &[Finding]) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "Checked {} server(s) and {} sentinel view(s).",
        s.servers.len(),
        s.sentinels.len()
    );
    for v in &s.servers {
        let _ = writeln!(
            o,
            "  {:<22} {:<8} {}",
            v.addr,
            if v.is_master() { "master" } else { "replica" },
            v.software()
        );
    }
    let _ = writeln!(o);
    for f in findings {
        let _ = writeln!(
            o,
            "{:<7} [{}] {}",
            sev_word(f.severity).to_uppercase(),
            f.check,
            f.node
        );
        let _ = writeln!(o, "  saw: {}", f.saw);
        let _ = writeln!(o, "  why: {}", f.why);
        let _ = writeln!(o, "  fix: {}", f.fix);
        let _ = writeln!(o);
    }
    let errors = findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .count();
    let _ = writeln!(
        o,
        "{} error(s), {} warning(s).",
        errors,
        findings.len() - errors
    );
    o
}

fn json_str(s: &str) -> String {
    let mut o = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            '\n' => o.push_str("\\n"),
            '\r' => o.push_str("\\r"),
            '\t' => o.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(o, "\\u{:04x}", c as u32);
            }
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

fn json(s: &Snapshot, findings: &[Finding]) -> String {
    let servers: Vec<String> = s
        .servers
        .iter()
        .map(|v| {
            format!(
                "{{\"addr\":{},\"role\":{},\"software\":{}}}",
                json_str(&v.addr),
                json_str(if v.is_master() { "master" } else { "replica" }),
                json_str(&v.software())
            )
        })
        .collect();
    let items: Vec<String> = findings
        .iter()
        .map(|f| {
            format!(
                "{{\"severity\":{},\"check\":{},\"node\":{},\"saw\":{},\"why\":{},\"fix\":{}}}",
                json_str(sev_word(f.severity)),
                json_str(f.check),
                json_str(&f.node),
                json_str(&f.saw),
                json_str(&f.why),
                json_str(&f.fix)
            )
        })
        .collect();
    let errors = findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .count();
    format!(
        "{{\"servers\":[{}],\"findings\":[{}],\"errors\":{},\"warnings\":{},\"exit_code\":{}}}",
        servers.join(","),
        items.join(","),
        errors,
        findings.len() - errors,
        exit_code(findings)
    )
}
