//! `redoubt up --cluster`: a local Redis Cluster in one command — by
//! default 3 masters with 1 replica each on ports 7000-7005 — formed the
//! way `redis-cli --cluster create` forms one, then a per-node status
//! table until Ctrl-C, which stops every node and keeps the data. A second
//! run on the same `--dir` resumes the cluster as it was left.
//!
//! The nodes are started and the cluster formed by the `topology` crate's
//! [`LocalCluster`], which the end-to-end tests use too.

use crate::flags::Flags;
use crate::up::{clock, report_wait, shell_quote, StopSignals};
use std::fmt::Write as _;
use std::io::Write as _;
use std::time::{Duration, Instant};
use topology::{ClusterNodeStatus, ClusterSpec, LocalCluster};

fn spec_from(f: &Flags) -> Result<ClusterSpec, String> {
    for unused in [
        "sentinels",
        "sentinel-port",
        "sentinel-cmd",
        "master-name",
        "quorum",
        "down-after",
        "failover-timeout",
        "password",
    ] {
        if f.get(unused).is_some() {
            return Err(format!("--{unused} does not apply to --cluster"));
        }
    }
    let exe = std::env::current_exe()
        .map(|p| p.display().to_string())
        .map_err(|e| format!("cannot find this program's path: {e}"))?;
    let server_cmd = match f.get("server-cmd") {
        Some(v) => v.split_whitespace().map(String::from).collect(),
        None => vec![exe, "server".into()],
    };
    let mut s = ClusterSpec::new(f.get("dir").unwrap_or("./redoubt-cluster"), server_cmd);
    s.port = f.num("port", 7000)?;
    s.masters = f.num("masters", 3)?;
    s.replicas = f.num("replicas", 1)?;
    s.node_timeout_ms = f.num("node-timeout", 5000)?;
    if f.get("bus-port").is_some() {
        s.bus_port = Some(f.num("bus-port", 0)?);
    }
    if s.masters == 0 {
        return Err("--masters must be at least 1".into());
    }
    let last = u32::from(s.port) + s.ports().len() as u32 - 1;
    // The bus listens on port + 10000 unless --bus-port says otherwise.
    if s.bus_port.is_none() && last + 10000 > 65535 {
        return Err(format!(
            "ports {}-{last} leave no room for their cluster bus ports (port + 10000)",
            s.port
        ));
    }
    Ok(s)
}

pub fn main(f: &Flags) -> i32 {
    crate::up::drive(spec_from(f), f, run)
}

async fn run(spec: ClusterSpec, refresh: Duration) -> i32 {
    let Some(mut stop) = StopSignals::install() else {
        return 1;
    };
    let started = Instant::now();
    let mut c = match LocalCluster::start(spec) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("redoubt up: {e}");
            return 1;
        }
    };
    let ports = c.spec.ports();
    println!(
        "{} cluster in {}: {} masters x {} replica(s) on ports {}-{}",
        if c.resumed {
            "Resuming the"
        } else {
            "Starting a new"
        },
        c.spec.dir.display(),
        c.spec.masters,
        c.spec.replicas,
        ports[0],
        ports[ports.len() - 1]
    );
    println!("  servers: {}", c.spec.server_cmd.join(" "));
    let _ = std::io::stdout().flush();
    let mut report = |what: &str| report_wait(started, what);
    let ready = tokio::select! {
        r = c.bring_up(Duration::from_secs(120), &mut report) => r.map_err(|e| e.to_string()),
        why = stop.recv() => Err(why.to_string()),
    };
    if let Err(e) = ready {
        eprintln!("redoubt up: {e}");
        eprintln!(
            "Stopping what was started; logs are in {}",
            c.spec.dir.display()
        );
        c.stop(Duration::from_secs(10));
        return 1;
    }
    println!(
        "Ready in {:.1}s: cluster_state:ok on every node.",
        started.elapsed().as_secs_f64()
    );
    print!("{}", connect_help(&c));
    let _ = std::io::stdout().flush();

    let tty = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let mut tick = tokio::time::interval(refresh);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.recv() => break,
        }
        for (name, st) in c.poll_exits() {
            println!("! {name} exited: {st}");
        }
        let v = c.status().await;
        if tty {
            print!("\x1b[H\x1b[2J");
        }
        print!("{}", render(&v));
        let _ = std::io::stdout().flush();
    }
    println!("Stopping the nodes...");
    let _ = std::io::stdout().flush();
    c.stop(Duration::from_secs(15));
    println!(
        "Stopped. Data kept in {}; run the same command again to resume.",
        c.spec.dir.display()
    );
    0
}

fn connect_help(c: &LocalCluster) -> String {
    let p = c.spec.port;
    let mut o = String::new();
    let _ = writeln!(o, "Connect:");
    let _ = writeln!(
        o,
        "  redis-cli -c -p {p}                     (follows MOVED/ASK redirections)"
    );
    let _ = writeln!(o, "  redis-cli --cluster check 127.0.0.1:{p}");
    let _ = writeln!(
        o,
        "  redoubt doctor 127.0.0.1:{p}             (checks every node it finds)"
    );
    let _ = writeln!(
        o,
        "Data and logs: {}   Ctrl-C stops everything (data is kept).",
        shell_quote(&c.spec.dir.display().to_string())
    );
    o
}

fn render(v: &[ClusterNodeStatus]) -> String {
    let mut o = String::new();
    let ok = v.iter().filter(|n| n.state == "ok").count();
    let slots: u32 = v
        .iter()
        .filter(|n| n.role == "master")
        .map(|n| n.slots)
        .sum();
    let _ = writeln!(
        o,
        "\n{} UTC  cluster_state ok on {ok}/{} nodes, {slots}/16384 slots served by masters",
        clock(),
        v.len()
    );
    let _ = writeln!(
        o,
        "{:<12} {:>8}  {:<8} {:<8} {:>7} {:>6} {:>5}  {:>8}",
        "NODE", "PID", "ROLE", "ID", "MASTER", "SLOTS", "STATE", "KEYS"
    );
    for n in v {
        let dash = || "-".to_string();
        let _ = writeln!(
            o,
            "{:<12} {:>8}  {:<8} {:<8} {:>7} {:>6} {:>5}  {:>8}",
            n.name,
            n.pid.map(|p| p.to_string()).unwrap_or_else(dash),
            n.role,
            if n.id.is_empty() { "-" } else { &n.id },
            n.master_port.map(|p| p.to_string()).unwrap_or_else(dash),
            n.slots,
            n.state,
            n.keys
        );
    }
    o
}
