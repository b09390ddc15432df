//! `redoubt up`: a whole local topology in one command — a master, its
//! replicas and sentinels on loopback, data under one folder — then a
//! live status table until Ctrl-C, which stops everything it started and
//! keeps the data. A second `up` on the same folder resumes it.
//!
//! The processes are started and watched by the `topology` crate, the same
//! launcher the end-to-end tests use. `--cluster` runs a Redis Cluster
//! instead (`up_cluster.rs`).

use crate::flags::Flags;
use std::fmt::Write as _;
use std::io::Write as _;
use std::time::{Duration, Instant};
use topology::{Spec, Topology, Views};

fn spec_from(f: &Flags) -> Result<Spec, String> {
    let exe = std::env::current_exe()
        .map(|p| p.display().to_string())
        .map_err(|e| format!("cannot find this program's path: {e}"))?;
    let words = |v: &str| v.split_whitespace().map(String::from).collect::<Vec<_>>();
    let server_cmd = f
        .get("server-cmd")
        .map(words)
        .unwrap_or_else(|| vec![exe.clone(), "server".into()]);
    let sentinel_cmd = match f.get("sentinel-cmd") {
        Some(v) => words(v),
        None => vec![exe, "sentinel".into()],
    };
    let mut s = Spec::new(
        f.get("dir").unwrap_or("./redoubt-data"),
        server_cmd,
        sentinel_cmd,
    );
    s.port = f.num("port", 6379)?;
    s.replicas = f.num("replicas", 2)?;
    s.sentinels = f.num("sentinels", 3)?;
    s.sentinel_port = f.num("sentinel-port", 26379)?;
    s.password = f.get("password").map(String::from);
    // redis-sentinel re-splits its config lines on spaces, so a password
    // with blanks in `sentinel auth-pass` would not load.
    if s.password
        .as_deref()
        .is_some_and(|p| p.is_empty() || p.contains(char::is_whitespace))
    {
        return Err(
            "--password must be non-empty and without spaces (Sentinel configs cannot hold one)"
                .into(),
        );
    }
    if let Some(n) = f.get("master-name") {
        s.master_name = n.to_string();
    }
    s.quorum = f.num("quorum", 2.min(s.sentinels.max(1)))?;
    s.down_after_ms = f.num("down-after", 5000)?;
    s.failover_timeout_ms = f.num("failover-timeout", 60000)?;
    Ok(s)
}

pub fn main(args: &[String]) -> i32 {
    let f = match crate::cli::parse(crate::cli::up(), args) {
        Ok(f) if f.positional.is_empty() => f,
        Ok(f) => {
            eprintln!(
                "redoubt up: unexpected argument `{}` (see redoubt up --help)",
                f.positional[0]
            );
            return 2;
        }
        Err(code) => return code,
    };
    if f.has("cluster") {
        return crate::up_cluster::main(&f);
    }
    drive(spec_from(&f), &f, run)
}

/// What both forms of `up` share around their own `run`: a bad flag is
/// exit 2, the refresh period comes from `--refresh-ms`, and `run` gets
/// a single-threaded runtime.
pub(crate) fn drive<S, F>(
    spec: Result<S, String>,
    f: &Flags,
    run: impl FnOnce(S, Duration) -> F,
) -> i32
where
    F: std::future::Future<Output = i32>,
{
    let spec = match spec {
        Ok(s) => s,
        Err(e) => {
            eprintln!("redoubt up: {e}");
            return 2;
        }
    };
    let refresh = Duration::from_millis(f.num("refresh-ms", 1000u64).unwrap_or(1000).max(100));
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("redoubt up: {e}");
            return 1;
        }
    };
    rt.block_on(run(spec, refresh))
}

/// SIGINT and SIGTERM, installed before anything starts so that either
/// at any point stops what was started (the children are in their own
/// process groups and do not see the terminal's SIGINT; `up` stops them
/// in order).
pub(crate) struct StopSignals {
    int: tokio::signal::unix::Signal,
    term: tokio::signal::unix::Signal,
}

impl StopSignals {
    pub(crate) fn install() -> Option<StopSignals> {
        use tokio::signal::unix::{signal, SignalKind};
        match (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) {
            (Ok(int), Ok(term)) => Some(StopSignals { int, term }),
            _ => {
                eprintln!("redoubt up: cannot install signal handlers");
                None
            }
        }
    }

    /// The next stop signal, named as start-up failures report it.
    pub(crate) async fn recv(&mut self) -> &'static str {
        tokio::select! {
            _ = self.int.recv() => "interrupted",
            _ = self.term.recv() => "terminated",
        }
    }
}

/// Prints what start-up waits for, with the time since `started`.
pub(crate) fn report_wait(started: Instant, what: &str) {
    println!(
        "  [{:>4.1}s] waiting for {what}",
        started.elapsed().as_secs_f64()
    );
    let _ = std::io::stdout().flush();
}

async fn run(spec: Spec, refresh: Duration) -> i32 {
    let Some(mut stop) = StopSignals::install() else {
        return 1;
    };
    let started = Instant::now();
    let mut t = match Topology::start(spec) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("redoubt up: {e}");
            return 1;
        }
    };
    let s = &t.spec;
    println!(
        "{} topology in {}: servers on ports {:?}, sentinels on {:?}",
        if t.resumed {
            "Resuming the"
        } else {
            "Starting a new"
        },
        s.dir.display(),
        s.server_ports(),
        s.sentinel_ports()
    );
    println!("  servers:   {}", s.server_cmd.join(" "));
    println!("  sentinels: {}", s.sentinel_cmd.join(" "));
    let _ = std::io::stdout().flush();
    // Say what the start-up waits for (a big dataset loading, a full
    // sync, sentinels discovering each other) rather than sit silent.
    t.on_wait = Some(Box::new(move |what: &str| report_wait(started, what)));
    let ready = tokio::select! {
        r = wait_all(&mut t) => r,
        why = stop.recv() => Err(why.to_string()),
    };
    let master = match ready {
        Ok(m) => m,
        Err(e) => {
            eprintln!("redoubt up: {e}");
            eprintln!(
                "Stopping what was started; logs are in {}",
                t.spec.dir.display()
            );
            t.stop(Duration::from_secs(10));
            return 1;
        }
    };
    println!("Ready in {:.1}s.", started.elapsed().as_secs_f64());
    print!("{}", connect_help(&t.spec, master));
    let _ = std::io::stdout().flush();

    let tty = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let mut last_master: Option<String> = Some(format!("127.0.0.1:{master}"));
    let mut last_failover: Option<String> = None;
    let mut tick = tokio::time::interval(refresh);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.recv() => break,
        }
        for (name, st) in t.poll_exits() {
            println!("! {name} exited: {st}");
        }
        let v = t.status().await;
        if let Some(m) = &v.master {
            if last_master.as_ref().is_some_and(|old| old != m)
                && v.agreeing > t.spec.sentinels as usize / 2
            {
                last_failover = Some(format!(
                    "{} {} -> {m}",
                    clock(),
                    last_master.as_deref().unwrap_or("?")
                ));
                println!("! failover: the sentinels now name {m} as master");
            }
            if v.agreeing > t.spec.sentinels as usize / 2 || t.spec.sentinels == 0 {
                last_master = Some(m.clone());
            }
        }
        let table = render(&t, &v, last_failover.as_deref());
        if tty {
            // Redraw in place on a terminal; a pipe or log gets plain reprints.
            print!("\x1b[H\x1b[2J");
        }
        print!("{table}");
        let _ = std::io::stdout().flush();
    }
    println!("Stopping the sentinels, then the servers...");
    let _ = std::io::stdout().flush();
    t.stop(Duration::from_secs(15));
    println!(
        "Stopped. Data kept in {}; run the same command again to resume.",
        t.spec.dir.display()
    );
    0
}

/// Ready = every process answering, replicas in sync with the master,
/// sentinels agreeing on it and knowing each other and the replicas.
async fn wait_all(t: &mut Topology) -> Result<u16, String> {
    t.bring_up(Duration::from_secs(120))
        .await
        .map_err(|e| e.to_string())
}

fn connect_help(s: &Spec, master: u16) -> String {
    let auth = match &s.password {
        Some(p) => format!(" -a {}", shell_quote(p)),
        None => String::new(),
    };
    let mut o = String::new();
    let _ = writeln!(o, "Connect:");
    let _ = writeln!(o, "  master:    redis-cli -p {master}{auth}");
    for p in s.server_ports().into_iter().filter(|&p| p != master) {
        let _ = writeln!(o, "  replica:   redis-cli -p {p}{auth}   (read-only)");
    }
    if s.sentinels > 0 {
        let addrs: Vec<String> = s
            .sentinel_ports()
            .iter()
            .map(|p| format!("127.0.0.1:{p}"))
            .collect();
        let _ = writeln!(
            o,
            "  sentinels: {}  master name: {}",
            addrs.join(", "),
            s.master_name
        );
        let _ = writeln!(
            o,
            "             redis-cli -p {} sentinel get-master-addr-by-name {}",
            s.sentinel_port, s.master_name
        );
    }
    let _ = writeln!(
        o,
        "Data and logs: {}   Ctrl-C stops everything (data is kept).",
        s.dir.display()
    );
    o
}

pub(crate) fn shell_quote(s: &str) -> String {
    if s.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-_.,:/@%+=".contains(&b))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// Wall-clock time of day, UTC, `HH:MM:SS`.
pub(crate) fn clock() -> String {
    let secs = (server::util::time::unix_ms() / 1000) as u64;
    format!(
        "{:02}:{:02}:{:02}",
        secs / 3600 % 24,
        secs / 60 % 60,
        secs % 60
    )
}

fn render(t: &Topology, v: &Views, last_failover: Option<&str>) -> String {
    let mut o = String::new();
    let sentinels = t.spec.sentinels;
    let master = v.master.as_deref().unwrap_or("unknown");
    let _ = write!(o, "\n{} UTC  {} = {master}", clock(), t.spec.master_name);
    if sentinels > 0 {
        let _ = write!(o, " ({}/{sentinels} sentinels agree)", v.agreeing);
    }
    let _ = writeln!(o, "  last failover: {}", last_failover.unwrap_or("none"));
    let _ = writeln!(
        o,
        "{:<16} {:>8}  {:<8} {:>12} {:>10}  LINK",
        "NODE", "PID", "ROLE", "OFFSET", "LAG"
    );
    for n in &v.nodes {
        let dash = || "-".to_string();
        let _ = writeln!(
            o,
            "{:<16} {:>8}  {:<8} {:>12} {:>10}  {}",
            n.name,
            n.pid.map(|p| p.to_string()).unwrap_or_else(dash),
            n.role,
            n.offset.map(|x| x.to_string()).unwrap_or_else(dash),
            n.lag_bytes.map(|x| x.to_string()).unwrap_or_else(dash),
            n.link
        );
    }
    o
}
