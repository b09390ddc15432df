//! The checks of `redoubt doctor`: pure functions from a [`Snapshot`] to
//! findings, one function per failure mode of the run-book's
//! troubleshooting matrix. Each finding names what was seen, why it
//! matters and the exact line to change.

use super::{Finding, ServerView, Severity, Snapshot};
use crate::confgen::sizing;
use std::collections::BTreeMap;

pub fn run(s: &Snapshot) -> Vec<Finding> {
    let mut out = Vec::new();
    unreachable(s, &mut out);
    for r in s.servers.iter().filter(|v| !v.is_master()) {
        let master = master_of(s, r);
        if let Some(m) = master {
            bind_covers(m, r, &mut out);
            protected_mode(m, r, &mut out);
            auth(m, r, &mut out);
        }
        link_down(r, &mut out);
    }
    for m in s.servers.iter().filter(|v| v.is_master()) {
        lag(s, m, &mut out);
        sizes(s, m, &mut out);
        min_replicas(s, m, &mut out);
    }
    versions(s, &mut out);
    sentinels(s, &mut out);
    announces(s, &mut out);
    super::cluster::run(s, &mut out);
    host(s, &mut out);
    out.sort_by_key(|f| std::cmp::Reverse(f.severity));
    out
}

pub(super) fn finding(
    severity: Severity,
    check: &'static str,
    node: &str,
    saw: String,
    why: &str,
    fix: String,
) -> Finding {
    Finding {
        severity,
        check,
        node: node.to_string(),
        saw,
        why: why.to_string(),
        fix,
    }
}

/// The master a replica is configured to follow, among the servers seen:
/// same port, and the same host or both on this machine.
fn master_of<'a>(s: &'a Snapshot, r: &ServerView) -> Option<&'a ServerView> {
    let host = r.info.get("master_host")?;
    let port: u16 = r.info.get("master_port")?.parse().ok()?;
    let same = |m: &&ServerView| m.port == port && m.is_master();
    s.servers
        .iter()
        .filter(same)
        .find(|m| m.host == host)
        .or_else(|| {
            let local = host.starts_with("127.") || host == "::1" || host == "localhost" || r.local;
            s.servers.iter().filter(same).find(|m| m.local && local)
        })
}

fn bind_words(v: &ServerView) -> Vec<String> {
    v.conf("bind")
        .split_whitespace()
        .map(|w| w.trim_start_matches('-').to_string())
        .collect()
}

fn loopback_only(v: &ServerView) -> bool {
    let b = bind_words(v);
    !b.is_empty()
        && b.iter()
            .all(|a| a.starts_with("127.") || a == "::1" || a == "localhost")
}

fn unreachable(s: &Snapshot, out: &mut Vec<Finding>) {
    for (addr, e, given) in &s.unreachable {
        let auth =
            e.contains("NOAUTH") || e.contains("WRONGPASS") || e.contains("invalid password");
        let fix = if auth && !s.opts.password_given {
            "run doctor with --password (the servers' requirepass)".to_string()
        } else if auth {
            "check the --password given to doctor against the server's `requirepass`".to_string()
        } else if *given {
            format!(
                "start the server on {addr}, or check its `bind` and `port` lines and the firewall"
            )
        } else {
            format!("the node announced at {addr} does not answer: restart it, or fix the address it announces")
        };
        out.push(finding(
            Severity::Error,
            "unreachable",
            addr,
            format!("could not inspect {addr}: {e}"),
            "a node that cannot be reached cannot serve, replicate or be promoted, and its other problems cannot be checked",
            fix,
        ));
    }
}

fn bind_covers(m: &ServerView, r: &ServerView, out: &mut Vec<Finding>) {
    let Some(host) = r.info.get("master_host") else {
        return;
    };
    let words = bind_words(m);
    let any = words
        .iter()
        .any(|w| matches!(w.as_str(), "*" | "0.0.0.0" | "::" | "::*"));
    if words.is_empty()
        || any
        || words.iter().any(|w| w == host)
        || (host == "localhost" && words.iter().any(|w| w == "127.0.0.1"))
    {
        return;
    }
    out.push(finding(
        Severity::Error,
        "bind",
        &m.addr,
        format!(
            "replica {} connects to the master at {host}:{}, but the master only listens on `bind {}`",
            r.addr,
            m.port,
            m.conf("bind")
        ),
        "replicas (and sentinels) on other addresses get `Connection refused`: the replica never syncs and cannot take over",
        format!("in the master's config: `bind {} {host}` (or `bind * -::*` with a `requirepass`)", m.conf("bind")),
    ));
}

fn protected_mode(m: &ServerView, r: &ServerView, out: &mut Vec<Finding>) {
    if m.conf("protected-mode") != "yes" || !m.conf("requirepass").is_empty() {
        return;
    }
    // Evidence first: the replica's log shows the refusal. Without a
    // readable log, a down link to a master listening beyond loopback.
    let denied = r
        .log_tail
        .iter()
        .rev()
        .take(100)
        .any(|l| l.contains("DENIED"));
    let down = r.info.get("master_link_status") != Some("up");
    if !down || (!denied && loopback_only(m)) {
        return;
    }
    out.push(finding(
        Severity::Error,
        "protected-mode",
        &m.addr,
        format!(
            "the master has `protected-mode yes`, no password and `bind {}`; replica {} is not linked{}",
            m.conf("bind"),
            r.addr,
            if denied { " and its log shows -DENIED" } else { "" }
        ),
        "in protected mode without a password the master answers connections from other addresses with -DENIED, so replicas there never sync",
        "in every server's config: `requirepass <secret>` and `masterauth <secret>` (keep protected-mode yes), or `protected-mode no` on a trusted network".into(),
    ));
}

fn auth(m: &ServerView, r: &ServerView, out: &mut Vec<Finding>) {
    let need = m.conf("requirepass");
    if need.is_empty() || !r.config.contains_key("masterauth") || !r.conf("masteruser").is_empty() {
        return;
    }
    if r.conf("masterauth") == need {
        return;
    }
    let saw = if r.conf("masterauth").is_empty() {
        "the master has a `requirepass` but the replica has no `masterauth`"
    } else {
        "the replica's `masterauth` differs from the master's `requirepass`"
    };
    out.push(finding(
        Severity::Error,
        "auth-mismatch",
        &r.addr,
        format!("{saw} (master {})", m.addr),
        "the replica's handshake is refused (-NOAUTH / -WRONGPASS): it never syncs and serves stale or no data",
        format!("in {}'s config: `masterauth <the master's requirepass>`", r.addr),
    ));
}

/// The last line of a replica's log that explains a failed link, and
/// what it usually means.
fn last_link_error(r: &ServerView) -> Option<(String, &'static str)> {
    const PATTERNS: &[(&str, &str)] = &[
        (
            "DENIED",
            "the master is in protected mode without a password",
        ),
        ("NOAUTH", "the master wants a password: set `masterauth`"),
        (
            "WRONGPASS",
            "`masterauth` does not match the master's password",
        ),
        (
            "invalid password",
            "`masterauth` does not match the master's password",
        ),
        (
            "Connection refused",
            "nothing listens at that address: check the master's `bind` and `port`",
        ),
        (
            "Timeout connecting",
            "the address does not answer: firewall or routing",
        ),
        (
            "No route to host",
            "the address does not answer: firewall or routing",
        ),
        (
            "timed out",
            "the master stopped answering within `repl-timeout`",
        ),
        (
            "Error condition on socket",
            "the connection to the master failed",
        ),
        ("Error reply to PING", "the master refused the handshake"),
        ("MASTER aborted", "the master aborted the replication"),
        ("Unable to connect", "the master could not be reached"),
    ];
    for line in r.log_tail.iter().rev() {
        if let Some((_, meaning)) = PATTERNS.iter().find(|(p, _)| line.contains(p)) {
            let l = line.trim();
            let l = if l.len() > 240 {
                // The last char boundary at or before byte 240.
                let cut = (0..=240)
                    .rev()
                    .find(|&i| l.is_char_boundary(i))
                    .unwrap_or(0);
                format!("{}...", &l[..cut])
            } else {
                l.to_string()
            };
            return Some((l, meaning));
        }
    }
    None
}

fn link_down(r: &ServerView, out: &mut Vec<Finding>) {
    if r.info.get("master_link_status") != Some("down") {
        return;
    }
    let host = r.info.get("master_host").unwrap_or("?");
    let port = r.info.get("master_port").unwrap_or("?");
    let since = r
        .info
        .int("master_link_down_since_seconds")
        .filter(|&s| s >= 0);
    let mut saw = format!("link to the master {host}:{port} is down");
    if let Some(s) = since {
        saw.push_str(&format!(" for {s} s"));
    }
    let fix = match last_link_error(r) {
        Some((line, meaning)) => {
            saw.push_str(&format!("; its log says: {line}"));
            format!("{meaning}; the replica follows `replicaof {host} {port}` in {}'s config", r.addr)
        }
        None => format!("check that {host}:{port} is the master and reachable from {} (`replicaof {host} {port}`), and read the replica's log", r.addr),
    };
    out.push(finding(
        Severity::Error,
        "link-down",
        &r.addr,
        saw,
        "a replica without a link serves stale data and cannot be promoted safely; the master has one copy less",
        fix,
    ));
}

fn lag(s: &Snapshot, m: &ServerView, out: &mut Vec<Finding>) {
    let Some(moff) = m.info.int("master_repl_offset") else {
        return;
    };
    for r in m.info.replicas() {
        let off: i64 = r.get("offset").and_then(|o| o.parse().ok()).unwrap_or(0);
        let behind = moff - off;
        let secs: i64 = r.get("lag").and_then(|o| o.parse().ok()).unwrap_or(0);
        if behind <= s.opts.max_lag && secs <= 10 {
            continue;
        }
        let addr = format!(
            "{}:{}",
            r.get("ip").map(String::as_str).unwrap_or("?"),
            r.get("port").map(String::as_str).unwrap_or("?")
        );
        out.push(finding(
            Severity::Warning,
            "replica-lag",
            &addr,
            format!("{behind} bytes behind the master {} (last acknowledgement {secs} s ago)", m.addr),
            "what the replica has not received is lost if it is promoted now; a lag that keeps growing ends in a dropped link and a full resync",
            format!(
                "find why {addr} falls behind (CPU, disk, network; `INFO replication` on both sides); if the link is slow, raise `repl-backlog-size` on {} so it can catch up partially",
                m.addr
            ),
        ));
    }
}

/// `client-output-buffer-limit` replica class: (hard, soft, seconds).
fn replica_obuf(m: &ServerView) -> Option<(u64, u64, u64)> {
    let words: Vec<&str> = m
        .conf("client-output-buffer-limit")
        .split_whitespace()
        .collect();
    let i = words
        .iter()
        .position(|w| *w == "slave" || *w == "replica")?;
    let n = |k: usize| words.get(i + k).and_then(|w| crate::flags::parse_size(w));
    Some((n(1)?, n(2)?, n(3)?))
}

fn human(n: f64) -> String {
    if n >= (1u64 << 20) as f64 {
        format!("{:.1} MB", n / (1u64 << 20) as f64)
    } else if n >= 1024.0 {
        format!("{:.1} KB", n / 1024.0)
    } else {
        format!("{n:.0} B")
    }
}

fn sizes(s: &Snapshot, m: &ServerView, out: &mut Vec<Finding>) {
    let Some(rate) = s.opts.write_rate.or(m.write_rate) else {
        return;
    };
    if rate < 1.0 {
        return;
    }
    let outage = s.opts.max_outage;
    let full = s.opts.full_sync_time;
    let want = sizing(rate as u64, outage, full);
    let to_mb = |n: u64| format!("{}mb", n.div_ceil(1 << 20));
    if let Some(backlog) = m
        .conf("repl-backlog-size")
        .parse::<u64>()
        .ok()
        .filter(|_| !m.conf("repl-backlog-size").is_empty())
    {
        if (backlog as f64) < rate * outage as f64 {
            out.push(finding(
                Severity::Warning,
                "backlog-small",
                &m.addr,
                format!(
                    "writes arrive at {}/s; `repl-backlog-size` {} holds {:.0} s of them, less than a {outage} s outage",
                    human(rate),
                    human(backlog as f64),
                    backlog as f64 / rate
                ),
                "a replica that is away longer than the backlog covers (restart, network blip) cannot resume partially and needs a full sync",
                format!("in {}'s config (and every replica's, for after a failover): `repl-backlog-size {}`", m.addr, to_mb(want.backlog)),
            ));
        }
    }
    if let Some((hard, soft, secs)) = replica_obuf(m) {
        let need = rate * full as f64;
        let hard_low = hard > 0 && (hard as f64) < need;
        let soft_low = soft > 0 && (soft as f64) < need && secs < full;
        if hard_low || soft_low {
            out.push(finding(
                Severity::Warning,
                "output-buffer-low",
                &m.addr,
                format!(
                    "writes arrive at {}/s, {} during a {full} s full sync, but `client-output-buffer-limit replica {} {} {secs}`{}",
                    human(rate),
                    human(need),
                    hard,
                    soft,
                    match m.info.int("sync_full") {
                        Some(n) if n > 0 => format!("; {n} full sync(s) so far"),
                        _ => String::new(),
                    }
                ),
                "the master drops a replica whose buffered writes pass the limit during its full sync; the replica reconnects, needs another full sync, and loops forever",
                format!(
                    "in {}'s config: `client-output-buffer-limit replica {} {} {}`",
                    m.addr,
                    to_mb(want.obuf_hard),
                    to_mb(want.obuf_soft),
                    want.obuf_soft_secs
                ),
            ));
        }
    }
}

fn sentinel_managed(s: &Snapshot, m: &ServerView) -> bool {
    s.sentinels.iter().any(|v| {
        v.master_addr.as_deref().is_some_and(|a| {
            a == m.addr
                || (m.local
                    && a.rsplit_once(':').is_some_and(|(h, p)| {
                        p == m.port.to_string() && (h.starts_with("127.") || h == "::1")
                    }))
        })
    })
}

fn min_replicas(s: &Snapshot, m: &ServerView, out: &mut Vec<Finding>) {
    if !sentinel_managed(s, m)
        || m.conf("min-replicas-to-write").is_empty()
        || m.conf("min-replicas-to-write") != "0"
    {
        return;
    }
    out.push(finding(
        Severity::Warning,
        "min-replicas",
        &m.addr,
        "the master is watched by Sentinel but has `min-replicas-to-write 0`".into(),
        "a master cut off from its replicas keeps accepting writes that are lost when Sentinel promotes a replica on the other side",
        format!("in {}'s config (and every replica's): `min-replicas-to-write 1` and `min-replicas-max-lag 10`", m.addr),
    ));
}

fn versions(s: &Snapshot, out: &mut Vec<Finding>) {
    let mut by: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for v in &s.servers {
        by.entry(v.software()).or_default().push(&v.addr);
    }
    if by.len() < 2 {
        return;
    }
    let saw: Vec<String> = by
        .iter()
        .map(|(sw, a)| format!("{sw} on {}", a.join(", ")))
        .collect();
    out.push(finding(
        Severity::Warning,
        "versions",
        "all",
        format!("the servers run different software: {}", saw.join("; ")),
        "replication between versions works only for what both understand (RDB version, commands, config); a replica promoted after a failover may lack features clients rely on",
        "run the same server and version on every node (upgrade replicas first, then fail over and upgrade the old master)".into(),
    ));
}

fn sentinels(s: &Snapshot, out: &mut Vec<Finding>) {
    for v in &s.sentinels {
        if let Some(e) = &v.ckquorum_err {
            out.push(finding(
                Severity::Error,
                "quorum",
                &v.addr,
                format!("`SENTINEL CKQUORUM {}` answers: {e}", v.name),
                "without enough reachable sentinels no failover can be agreed or authorised: a master failure is an outage",
                format!(
                    "start the stopped sentinels (`SENTINEL SENTINELS {}` lists them), or lower the quorum in every sentinel's config: `sentinel monitor {} <ip> <port> <quorum>`",
                    v.name, v.name
                ),
            ));
        }
    }
    let mut names: Vec<&str> = s.sentinels.iter().map(|v| v.name.as_str()).collect();
    names.sort();
    names.dedup();
    for name in names {
        let views: Vec<_> = s.sentinels.iter().filter(|v| v.name == name).collect();
        let mut addrs: Vec<&str> = views
            .iter()
            .filter_map(|v| v.master_addr.as_deref())
            .collect();
        addrs.sort();
        addrs.dedup();
        if addrs.len() > 1 {
            let saw: Vec<String> = views
                .iter()
                .map(|v| {
                    format!(
                        "{} says {}",
                        v.addr,
                        v.master_addr.as_deref().unwrap_or("nothing")
                    )
                })
                .collect();
            out.push(finding(
                Severity::Error,
                "sentinels-disagree",
                name,
                format!("the sentinels name different masters for `{name}`: {}", saw.join("; ")),
                "clients asking different sentinels write to different masters (split brain), and the sentinels cannot agree on a failover",
                format!("make every sentinel monitor the same master: `sentinel monitor {name} <ip> <port> <quorum>` (then SENTINEL RESET {name})"),
            ));
        }
        for a in addrs {
            if let Some(sv) = s.servers.iter().find(|sv| sv.addr == a) {
                if !sv.is_master() {
                    out.push(finding(
                        Severity::Error,
                        "sentinels-disagree",
                        name,
                        format!("a sentinel names {a} as master of `{name}`, but it is a replica"),
                        "clients sent there by Sentinel get -READONLY errors on writes",
                        format!("SENTINEL RESET {name} on each sentinel, or `sentinel monitor {name}` with the real master"),
                    ));
                }
            }
        }
    }
}

fn announces(s: &Snapshot, out: &mut Vec<Finding>) {
    for (addr, by, e) in &s.bad_announces {
        let sentinel = by.starts_with("sentinel");
        out.push(finding(
            Severity::Error,
            "announce-unreachable",
            addr,
            format!("{by} announces {addr}, which cannot be reached: {e}"),
            "sentinels and clients use announced addresses to reach replicas and sentinels; an unreachable one cannot be monitored, promoted or used",
            if sentinel {
                format!("in that sentinel's config: `sentinel announce-ip <address others reach it at>` (or remove a wrong one); {addr} is what it announces now")
            } else {
                format!("in the replica's config: `replica-announce-ip <address others reach it at>` and `replica-announce-port` (or remove wrong ones); {addr} is what it announces now")
            },
        ));
    }
}

fn host(s: &Snapshot, out: &mut Vec<Finding>) {
    for v in s.servers.iter().filter(|v| v.local) {
        let backlog: i64 = v.conf("tcp-backlog").parse().unwrap_or(0);
        if let Some(max) = s.somaxconn.filter(|&m| m < backlog) {
            out.push(finding(
                Severity::Warning,
                "somaxconn",
                &v.addr,
                format!("`tcp-backlog {backlog}` but /proc/sys/net/core/somaxconn is {max}"),
                "the kernel silently caps the accept queue: bursts of connections (clients reconnecting after a failover) are dropped",
                format!("`sysctl -w net.core.somaxconn={backlog}` and `net.core.somaxconn = {backlog}` in /etc/sysctl.conf (or `tcp-backlog {max}`)"),
            ));
        }
        let maxclients: u64 = v.conf("maxclients").parse().unwrap_or(0);
        if let Some(n) = v.nofile.filter(|&n| n < maxclients + 32) {
            out.push(finding(
                Severity::Warning,
                "open-files",
                &v.addr,
                format!("the process may open {n} files, below `maxclients {maxclients}` + 32"),
                "connections past the limit fail with `Too many open files`, replicas and sentinels included",
                format!(
                    "`LimitNOFILE={}` in the systemd unit (or `ulimit -n {}` before starting), or `maxclients {}`",
                    maxclients + 32,
                    maxclients + 32,
                    n.saturating_sub(32)
                ),
            ));
        }
        // Redis forks for BGSAVE and full syncs; Redoubt does not fork, so
        // these kernel settings only matter to real Redis.
        if v.is_master() && !v.is_redoubt() {
            if let Some(o) = s.overcommit.filter(|&o| o != 1) {
                out.push(finding(
                    Severity::Warning,
                    "overcommit",
                    &v.addr,
                    format!("Redis master, and /proc/sys/vm/overcommit_memory is {o}"),
                    "Redis forks to snapshot and to feed full syncs; without overcommit the fork can fail under memory pressure and replicas never sync",
                    "`sysctl -w vm.overcommit_memory=1` and `vm.overcommit_memory = 1` in /etc/sysctl.conf".into(),
                ));
            }
            if let Some(t) = s.thp.as_deref().filter(|t| t.contains("[always]")) {
                out.push(finding(
                    Severity::Warning,
                    "transparent-huge-pages",
                    &v.addr,
                    format!("Redis master, and transparent huge pages are `{}`", t.trim()),
                    "after a fork every written page is copied as 2 MB: latency spikes and memory blow-up during snapshots and full syncs",
                    "`echo madvise > /sys/kernel/mm/transparent_hugepage/enabled` (at boot, e.g. in a systemd unit)".into(),
                ));
            }
        }
    }
}
