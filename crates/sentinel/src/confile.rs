//! `sentinel ...` lines: reading them at start-up (with Redis's reasons for
//! bad ones) and writing the state back so a restarted sentinel remembers
//! the topology and the epochs.

use crate::state::{is_ip, Sentinel};
use server::config::rewrite::ModeLines;
use server::config::Config;

/// Redis logs a host it could not resolve before refusing the line.
fn warn_unresolved(st: &Sentinel, host: &str) {
    if !is_ip(host) && st.make_addr(host, 1, false).is_none() {
        server::log::write(
            server::log::Level::Warning,
            &format!("Failed to resolve hostname '{host}'"),
        );
    }
}

fn parse_ms(v: &str) -> Result<i64, &'static str> {
    match v.parse::<i64>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err("negative or zero time parameter."),
    }
}

fn parse_bool(v: &str) -> Result<bool, &'static str> {
    match v.to_ascii_lowercase().as_str() {
        "yes" => Ok(true),
        "no" => Ok(false),
        _ => Err("Please specify yes or no for the sentinel option."),
    }
}

fn executable(path: &str) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// Options that do not depend on a monitored master, loaded before the
/// `monitor` lines (Redis's pre-monitor list).
const PRE_MONITOR: &[&str] = &[
    "announce-ip",
    "announce-port",
    "deny-scripts-reconfig",
    "sentinel-user",
    "sentinel-pass",
    "current-epoch",
    "myid",
    "resolve-hostnames",
    "announce-hostnames",
];

/// When a `sentinel` line is applied: 0 global options, 1 `monitor`, 2
/// the rest (per-master settings and the remembered topology).
pub fn load_phase(words: &[String]) -> u8 {
    match words.first() {
        Some(w) if w.eq_ignore_ascii_case("monitor") => 1,
        Some(w) if PRE_MONITOR.iter().any(|p| w.eq_ignore_ascii_case(p)) => 0,
        _ => 2,
    }
}

/// Applies one `sentinel` line (the words after `sentinel`).
pub fn apply_line(st: &mut Sentinel, a: &[String], now: i64) -> Result<(), &'static str> {
    let argc = a.len();
    let Some(cmd) = a.first() else {
        return Err("Unrecognized sentinel configuration statement.");
    };
    let master = |st: &mut Sentinel, name: &str| -> Result<(), &'static str> {
        if st.masters.contains_key(name) {
            Ok(())
        } else {
            Err("No such master with specified name.")
        }
    };
    match (cmd.to_ascii_lowercase().as_str(), argc) {
        ("monitor", 5) => {
            let quorum: i64 = a[4].parse().unwrap_or(0);
            if quorum <= 0 {
                return Err("Quorum must be 1 or greater.");
            }
            let port: i64 = a[3].parse().unwrap_or(0);
            st.add_master(&a[1], &a[2], port, quorum as u32, now)
                .inspect_err(|_| warn_unresolved(st, &a[2]))?;
        }
        ("down-after-milliseconds", 3) => {
            master(st, &a[1])?;
            let ms = parse_ms(&a[2])?;
            if let Some(m) = st.masters.get_mut(&a[1]) {
                m.inst.down_after = ms;
                for i in m.replicas.iter_mut().chain(m.sentinels.iter_mut()) {
                    i.down_after = ms;
                }
            }
        }
        ("failover-timeout", 3) => {
            master(st, &a[1])?;
            let ms = parse_ms(&a[2])?;
            if let Some(m) = st.masters.get_mut(&a[1]) {
                m.failover_timeout = ms;
            }
        }
        ("parallel-syncs", 3) => {
            master(st, &a[1])?;
            if let Some(m) = st.masters.get_mut(&a[1]) {
                m.parallel_syncs = a[2].parse().unwrap_or(0);
            }
        }
        ("notification-script", 3) => {
            master(st, &a[1])?;
            if !executable(&a[2]) {
                return Err("Notification script seems non existing or non executable.");
            }
            if let Some(m) = st.masters.get_mut(&a[1]) {
                m.notification_script = Some(a[2].clone());
            }
        }
        ("client-reconfig-script", 3) => {
            master(st, &a[1])?;
            if !executable(&a[2]) {
                return Err("Client reconfiguration script seems non existing or non executable.");
            }
            if let Some(m) = st.masters.get_mut(&a[1]) {
                m.client_reconfig_script = Some(a[2].clone());
            }
        }
        ("auth-pass", 3) => {
            master(st, &a[1])?;
            if let Some(m) = st.masters.get_mut(&a[1]) {
                m.auth_pass = Some(a[2].clone());
            }
        }
        ("auth-user", 3) => {
            master(st, &a[1])?;
            if let Some(m) = st.masters.get_mut(&a[1]) {
                m.auth_user = Some(a[2].clone());
            }
        }
        ("current-epoch", 2) => {
            let e: u64 = a[1].parse().unwrap_or(0);
            if e > st.current_epoch {
                st.current_epoch = e;
            }
        }
        ("myid", 2) => {
            if a[1].len() != 40 {
                return Err("Malformed Sentinel id in myid option.");
            }
            st.myid = a[1].clone();
        }
        ("config-epoch", 3) => {
            master(st, &a[1])?;
            let e: u64 = a[2].parse().unwrap_or(0);
            if let Some(m) = st.masters.get_mut(&a[1]) {
                m.config_epoch = e;
            }
            // Only in the current epoch or earlier can a config be.
            if e > st.current_epoch {
                st.current_epoch = e;
            }
        }
        ("leader-epoch", 3) => {
            master(st, &a[1])?;
            let e: u64 = a[2].parse().unwrap_or(0);
            if let Some(m) = st.masters.get_mut(&a[1]) {
                m.leader_epoch = e;
            }
        }
        ("known-slave" | "known-replica", 4) => {
            master(st, &a[1])?;
            let port: i64 = a[3].parse().unwrap_or(0);
            let addr = u16::try_from(port)
                .ok()
                .filter(|p| *p != 0)
                .and_then(|p| st.make_addr(&a[2], p, true));
            let Some(addr) = addr else {
                warn_unresolved(st, &a[2]);
                return Err("Wrong hostname or port for replica.");
            };
            st.add_replica(&a[1], addr, now);
        }
        ("known-sentinel", 4 | 5) => {
            master(st, &a[1])?;
            let port: i64 = a[3].parse().unwrap_or(0);
            let addr = u16::try_from(port)
                .ok()
                .filter(|p| *p != 0)
                .and_then(|p| st.make_addr(&a[2], p, true));
            let Some(addr) = addr else {
                warn_unresolved(st, &a[2]);
                return Err("Wrong hostname or port for sentinel.");
            };
            let runid = a.get(4).cloned();
            st.add_sentinel(&a[1], addr, runid, now);
        }
        ("rename-command", 4) => {
            master(st, &a[1])?;
            if let Some(m) = st.masters.get_mut(&a[1]) {
                m.renamed.push((a[2].clone(), a[3].clone()));
            }
        }
        ("announce-ip", 2) => {
            st.globals.announce_ip = Some(a[1].clone()).filter(|s| !s.is_empty());
        }
        ("announce-port", 2) => {
            st.globals.announce_port = a[1].parse().unwrap_or(0);
        }
        ("deny-scripts-reconfig", 2) => {
            st.globals.deny_scripts_reconfig = parse_bool(&a[1])?;
        }
        ("sentinel-user", 2) => {
            st.globals.sentinel_user = Some(a[1].clone()).filter(|s| !s.is_empty());
        }
        ("sentinel-pass", 2) => {
            st.globals.sentinel_pass = Some(a[1].clone()).filter(|s| !s.is_empty());
        }
        ("resolve-hostnames", 2) => {
            st.globals.resolve_hostnames = parse_bool(&a[1])?;
        }
        ("announce-hostnames", 2) => {
            st.globals.announce_hostnames = parse_bool(&a[1])?;
        }
        ("master-reboot-down-after-period", 3) => {
            master(st, &a[1])?;
            let ms: i64 = a[2].parse().unwrap_or(-1);
            if ms < 0 {
                return Err("negative time parameter.");
            }
            if let Some(m) = st.masters.get_mut(&a[1]) {
                m.master_reboot_down_after = ms;
            }
        }
        _ => return Err("Unrecognized sentinel configuration statement."),
    }
    Ok(())
}

/// Quotes a value for a config line only when it needs it, so plain
/// names stay as an operator wrote them.
fn q(s: &str) -> String {
    let plain = !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_graphic() && !matches!(b, b'"' | b'\'' | b'\\'));
    if plain {
        s.to_string()
    } else {
        server::config::parse::repr(s.as_bytes())
    }
}

/// The `sentinel` lines describing the current state, in Redis's order,
/// each with its key (`sentinel monitor`) and whether it is written when
/// the file has no line of that key (an option at its default is not).
pub fn mode_lines(st: &Sentinel) -> ModeLines {
    let t = crate::state::Timing::default();
    let g = &st.globals;
    let mut out = ModeLines {
        directive: "sentinel",
        // A sentinel has no dataset to save, and Redis writes no `save`.
        unwritten: &["save"],
        ..ModeLines::default()
    };
    let mut put = |key: &str, line: String, force: bool| {
        out.lines.push((format!("sentinel {key}"), line, force));
    };
    put("myid", format!("sentinel myid {}", st.myid), true);
    let yes_no = |b: bool| if b { "yes" } else { "no" };
    put(
        "deny-scripts-reconfig",
        format!(
            "sentinel deny-scripts-reconfig {}",
            yes_no(g.deny_scripts_reconfig)
        ),
        !g.deny_scripts_reconfig,
    );
    // Early in the file, so it is in effect when the addresses below are
    // read back.
    put(
        "resolve-hostnames",
        format!("sentinel resolve-hostnames {}", yes_no(g.resolve_hostnames)),
        g.resolve_hostnames,
    );
    put(
        "announce-hostnames",
        format!(
            "sentinel announce-hostnames {}",
            yes_no(g.announce_hostnames)
        ),
        g.announce_hostnames,
    );
    for (name, m) in &st.masters {
        let name = q(name);
        // During a failover, once the replica is promoted, its address is
        // the master's for anyone restarting from this file.
        let addr = m.current_addr();
        put(
            "monitor",
            format!(
                "sentinel monitor {name} {} {} {}",
                st.announce(addr),
                addr.port,
                m.quorum
            ),
            true,
        );
        if m.inst.down_after != t.default_down_after {
            put(
                "down-after-milliseconds",
                format!(
                    "sentinel down-after-milliseconds {name} {}",
                    m.inst.down_after
                ),
                true,
            );
        }
        if m.failover_timeout != t.default_failover_timeout {
            put(
                "failover-timeout",
                format!("sentinel failover-timeout {name} {}", m.failover_timeout),
                true,
            );
        }
        if m.parallel_syncs != 1 {
            put(
                "parallel-syncs",
                format!("sentinel parallel-syncs {name} {}", m.parallel_syncs),
                true,
            );
        }
        if let Some(s) = &m.notification_script {
            put(
                "notification-script",
                format!("sentinel notification-script {name} {}", q(s)),
                true,
            );
        }
        if let Some(s) = &m.client_reconfig_script {
            put(
                "client-reconfig-script",
                format!("sentinel client-reconfig-script {name} {}", q(s)),
                true,
            );
        }
        if let Some(s) = &m.auth_pass {
            put(
                "auth-pass",
                format!("sentinel auth-pass {name} {}", q(s)),
                true,
            );
        }
        if let Some(s) = &m.auth_user {
            put(
                "auth-user",
                format!("sentinel auth-user {name} {}", q(s)),
                true,
            );
        }
        if m.master_reboot_down_after != 0 {
            put(
                "master-reboot-down-after-period",
                format!(
                    "sentinel master-reboot-down-after-period {name} {}",
                    m.master_reboot_down_after
                ),
                true,
            );
        }
        put(
            "config-epoch",
            format!("sentinel config-epoch {name} {}", m.config_epoch),
            true,
        );
        put(
            "leader-epoch",
            format!("sentinel leader-epoch {name} {}", m.leader_epoch),
            true,
        );
        for r in &m.replicas {
            // The promoted replica is the master in the lines above; the
            // old master becomes a known replica.
            let mut a = &r.addr;
            if a == addr {
                a = &m.inst.addr;
            }
            if a == addr {
                continue;
            }
            put(
                "known-replica",
                format!(
                    "sentinel known-replica {name} {} {}",
                    st.announce(a),
                    a.port
                ),
                true,
            );
        }
        for s in &m.sentinels {
            let Some(runid) = &s.runid else { continue };
            put(
                "known-sentinel",
                format!(
                    "sentinel known-sentinel {name} {} {} {runid}",
                    st.announce(&s.addr),
                    s.addr.port
                ),
                true,
            );
        }
        for (from, to) in &m.renamed {
            put(
                "rename-command",
                format!("sentinel rename-command {name} {} {}", q(from), q(to)),
                true,
            );
        }
    }
    put(
        "current-epoch",
        format!("sentinel current-epoch {}", st.current_epoch),
        true,
    );
    // Always quoted, as Redis writes it.
    if let Some(ip) = &g.announce_ip {
        put(
            "announce-ip",
            format!(
                "sentinel announce-ip {}",
                server::config::parse::repr(ip.as_bytes())
            ),
            true,
        );
    }
    if g.announce_port != 0 {
        put(
            "announce-port",
            format!("sentinel announce-port {}", g.announce_port),
            true,
        );
    }
    if let Some(u) = &g.sentinel_user {
        put(
            "sentinel-user",
            format!("sentinel sentinel-user {}", q(u)),
            true,
        );
    }
    if let Some(p) = &g.sentinel_pass {
        put(
            "sentinel-pass",
            format!("sentinel sentinel-pass {}", q(p)),
            true,
        );
    }
    // Old lines of these go when nothing above took their place (a master
    // removed, an option unset). Not `known-slave`: Redis leaves an old
    // line of that spelling as it is.
    out.processed = [
        "announce-ip",
        "announce-port",
        "sentinel-user",
        "sentinel-pass",
        "monitor",
        "down-after-milliseconds",
        "failover-timeout",
        "parallel-syncs",
        "notification-script",
        "client-reconfig-script",
        "auth-pass",
        "auth-user",
        "config-epoch",
        "leader-epoch",
        "known-replica",
        "known-sentinel",
        "rename-command",
        "master-reboot-down-after-period",
    ]
    .iter()
    .map(|k| format!("sentinel {k}"))
    .collect();
    out
}

/// Rewrites the config file as Redis Sentinel does: the whole of it, as
/// `CONFIG REWRITE` would (`cfg` is the server's configuration as it is
/// now, its users included), with the sentinel's state as `sentinel`
/// lines, each in the place of an old line of the same kind. Comments and
/// the order of the file are kept; the file is replaced atomically.
pub fn flush(st: &Sentinel, cfg: &Config) -> std::io::Result<()> {
    let cwd = std::env::current_dir()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    server::config::rewrite::rewrite_mode(cfg, &st.config_file, &cwd, &mode_lines(st))
}
