//! `sentinel ...` lines: reading them at start-up (with Redis's reasons for
//! bad ones) and writing the state back so a restarted sentinel remembers
//! the topology and the epochs.

use crate::state::{Addr, Sentinel};
use std::io::Write;

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

/// Whether `host` is an IP address (hostnames need `resolve-hostnames`).
pub fn is_ip(host: &str) -> bool {
    host.parse::<std::net::IpAddr>().is_ok()
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
            let resolvable = st.globals.resolve_hostnames
                && std::net::ToSocketAddrs::to_socket_addrs(&(a[2].as_str(), 0)).is_ok();
            if !is_ip(&a[2]) && !resolvable {
                server::log::write(
                    server::log::Level::Warning,
                    &format!("Failed to resolve hostname '{}'", a[2]),
                );
                return Err("Can't resolve instance hostname.");
            }
            let port: i64 = a[3].parse().unwrap_or(0);
            st.add_master(&a[1], &a[2], port, quorum as u32, now)?;
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
            if !(1..=65535).contains(&port) {
                return Err("Wrong hostname or port for replica.");
            }
            st.add_replica(&a[1], Addr::new(&a[2], port as u16), now);
        }
        ("known-sentinel", 4 | 5) => {
            master(st, &a[1])?;
            let port: i64 = a[3].parse().unwrap_or(0);
            if !(1..=65535).contains(&port) {
                return Err("Wrong hostname or port for sentinel.");
            }
            let runid = a.get(4).cloned();
            st.add_sentinel(&a[1], Addr::new(&a[2], port as u16), runid, now);
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

/// The `sentinel` lines describing the current state, in Redis's order.
pub fn state_lines(st: &Sentinel) -> Vec<String> {
    let t = crate::state::Timing::default();
    let mut out = vec![format!("sentinel myid {}", st.myid)];
    let g = &st.globals;
    if !g.deny_scripts_reconfig {
        out.push("sentinel deny-scripts-reconfig no".into());
    }
    if g.resolve_hostnames {
        out.push("sentinel resolve-hostnames yes".into());
    }
    if g.announce_hostnames {
        out.push("sentinel announce-hostnames yes".into());
    }
    for (name, m) in &st.masters {
        // During a failover, once the replica is promoted, its address is
        // the master's for anyone restarting from this file.
        let addr = m.current_addr();
        out.push(format!(
            "sentinel monitor {} {} {} {}",
            q(name),
            addr.host,
            addr.port,
            m.quorum
        ));
        if m.inst.down_after != t.default_down_after {
            out.push(format!(
                "sentinel down-after-milliseconds {} {}",
                q(name),
                m.inst.down_after
            ));
        }
        if m.failover_timeout != t.default_failover_timeout {
            out.push(format!(
                "sentinel failover-timeout {} {}",
                q(name),
                m.failover_timeout
            ));
        }
        if m.parallel_syncs != 1 {
            out.push(format!(
                "sentinel parallel-syncs {} {}",
                q(name),
                m.parallel_syncs
            ));
        }
        if let Some(s) = &m.notification_script {
            out.push(format!("sentinel notification-script {} {}", q(name), q(s)));
        }
        if let Some(s) = &m.client_reconfig_script {
            out.push(format!(
                "sentinel client-reconfig-script {} {}",
                q(name),
                q(s)
            ));
        }
        if let Some(s) = &m.auth_pass {
            out.push(format!("sentinel auth-pass {} {}", q(name), q(s)));
        }
        if let Some(s) = &m.auth_user {
            out.push(format!("sentinel auth-user {} {}", q(name), q(s)));
        }
        if m.master_reboot_down_after != 0 {
            out.push(format!(
                "sentinel master-reboot-down-after-period {} {}",
                q(name),
                m.master_reboot_down_after
            ));
        }
        out.push(format!(
            "sentinel config-epoch {} {}",
            q(name),
            m.config_epoch
        ));
        out.push(format!(
            "sentinel leader-epoch {} {}",
            q(name),
            m.leader_epoch
        ));
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
            out.push(format!(
                "sentinel known-replica {} {} {}",
                q(name),
                a.host,
                a.port
            ));
        }
        for s in &m.sentinels {
            let Some(runid) = &s.runid else { continue };
            out.push(format!(
                "sentinel known-sentinel {} {} {} {}",
                q(name),
                s.addr.host,
                s.addr.port,
                runid
            ));
        }
        for (from, to) in &m.renamed {
            out.push(format!(
                "sentinel rename-command {} {} {}",
                q(name),
                q(from),
                q(to)
            ));
        }
    }
    out.push(format!("sentinel current-epoch {}", st.current_epoch));
    if let Some(ip) = &g.announce_ip {
        out.push(format!("sentinel announce-ip {}", q(ip)));
    }
    if g.announce_port != 0 {
        out.push(format!("sentinel announce-port {}", g.announce_port));
    }
    if let Some(u) = &g.sentinel_user {
        out.push(format!("sentinel sentinel-user {}", q(u)));
    }
    if let Some(p) = &g.sentinel_pass {
        out.push(format!("sentinel sentinel-pass {}", q(p)));
    }
    out
}

/// Rewrites the config file: every other line stays where it is, the old
/// `sentinel` lines are replaced by the current state at the place of the
/// first one. Written to a temporary file, fsync'd and renamed over the
/// old one, then the folder is fsync'd, so a crash leaves either the old
/// or the new file.
pub fn flush(st: &Sentinel) -> std::io::Result<()> {
    let path = &st.config_file;
    let old = std::fs::read_to_string(path).unwrap_or_default();
    let mut lines: Vec<String> = Vec::new();
    let mut at: Option<usize> = None;
    for l in old.lines() {
        let t = l.trim_start();
        let is_sentinel = t
            .get(..9)
            .map(|p| p.eq_ignore_ascii_case("sentinel "))
            .unwrap_or(false);
        if is_sentinel {
            if at.is_none() {
                at = Some(lines.len());
            }
            continue;
        }
        lines.push(l.to_string());
    }
    let state = state_lines(st);
    let at = at.unwrap_or(lines.len());
    lines.splice(at..at, state);
    let mut text = lines.join("\n");
    text.push('\n');
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or_else(|| std::path::Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    // Keep the file's permissions.
    if let Ok(meta) = std::fs::metadata(path) {
        let _ = std::fs::set_permissions(&tmp, meta.permissions());
    }
    if let Err(e) = std::fs::rename(&tmp, path) {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}
