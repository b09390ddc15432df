//! `redoubt config master|replica|sentinel [options]`: prints a complete,
//! commented config file for one role of a replicated set-up — the
//! run-book's manual edits (bind, protected mode, passwords, replicaof,
//! buffer sizes, sentinel monitor lines) as one reviewed file. The output
//! is accepted by both Redoubt and Redis 7.0 (a test loads each role into
//! both).
//!
//! Sizes derive from the expected write rate: the backlog must hold every
//! write made during the longest outage a replica should survive with a
//! partial resync, and the replica output buffer every write made while a
//! full sync is in flight — else the master drops the replica and the full
//! sync starts again, forever (the "full-sync loop").

use crate::flags::{parse_secs, parse_size, Flags};
use std::fmt::Write as _;

const USAGE: &str = "Usage: redoubt config master|replica|sentinel [options]
  common:   --port N  --bind 'ADDR ...'  --password P  --dir DIR  --logfile FILE
            --supervised systemd|no
  sizing:   --write-rate BYTES/s (e.g. 5mb)  --max-outage SECS (default 60)
            --full-sync-time SECS (default 60)
  master:   --min-replicas N (default 1)  --min-replicas-max-lag SECS (default 10)
  replica:  --master HOST:PORT  --replica-priority N  --announce-ip IP
  sentinel: --master HOST:PORT  --master-name NAME  --quorum N  --down-after MS
            --failover-timeout MS  --parallel-syncs N  --announce-ip IP
Prints a complete commented config for that role on stdout.";

const VALUED: &[&str] = &[
    "port",
    "bind",
    "password",
    "dir",
    "logfile",
    "supervised",
    "write-rate",
    "max-outage",
    "full-sync-time",
    "min-replicas",
    "min-replicas-max-lag",
    "master",
    "replica-priority",
    "announce-ip",
    "master-name",
    "quorum",
    "down-after",
    "failover-timeout",
    "parallel-syncs",
];

/// Redis's defaults, the floor of every derived size.
const DEFAULT_BACKLOG: u64 = 1 << 20;
const DEFAULT_OBUF_HARD: u64 = 256 << 20;
const DEFAULT_OBUF_SOFT: u64 = 64 << 20;

/// Backlog and replica output-buffer sizes for a write rate (bytes/s).
#[derive(Debug, PartialEq, Eq)]
pub struct Sizing {
    pub backlog: u64,
    pub obuf_hard: u64,
    pub obuf_soft: u64,
    pub obuf_soft_secs: u64,
}

/// Rounds up to whole megabytes, so the file reads `96mb`, not bytes.
fn round_mb(n: u64) -> u64 {
    n.div_ceil(1 << 20).max(1) << 20
}

/// Backlog = rate × outage with 50% headroom; output buffer soft limit =
/// rate × full-sync time (the writes buffered while the snapshot is
/// shipped), hard limit twice that. Never below Redis's defaults.
pub fn sizing(write_rate: u64, max_outage: u64, full_sync: u64) -> Sizing {
    let backlog =
        round_mb(write_rate.saturating_mul(max_outage).saturating_mul(3) / 2).max(DEFAULT_BACKLOG);
    let soft = round_mb(write_rate.saturating_mul(full_sync)).max(DEFAULT_OBUF_SOFT);
    let hard = round_mb(soft.saturating_mul(2)).max(DEFAULT_OBUF_HARD);
    Sizing {
        backlog,
        obuf_hard: hard,
        obuf_soft: soft,
        obuf_soft_secs: full_sync.max(60),
    }
}

fn mb(n: u64) -> String {
    if n.is_multiple_of(1 << 20) {
        format!("{}mb", n >> 20)
    } else {
        n.to_string()
    }
}

/// Quotes a config value when it needs it.
pub fn quote(v: &str) -> String {
    if !v.is_empty()
        && v.bytes()
            .all(|b| b.is_ascii_graphic() && !b"\"'\\".contains(&b))
    {
        return v.to_string();
    }
    format!("\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\""))
}

fn is_loopback_only(bind: &str) -> bool {
    bind.split_whitespace().all(|a| {
        a.trim_start_matches('-').starts_with("127.") || a.trim_start_matches('-') == "::1"
    })
}

pub fn main(args: &[String]) -> i32 {
    let f = match Flags::parse(args, VALUED, &["help"]) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("redoubt config: {e}\n{USAGE}");
            return 2;
        }
    };
    let role = f.positional.first().map(String::as_str);
    if f.has("help") || role.is_none() {
        println!("{USAGE}");
        return if f.has("help") { 0 } else { 2 };
    }
    match generate(role.unwrap_or_default(), &f) {
        Ok(text) => {
            print!("{text}");
            0
        }
        Err(e) => {
            eprintln!("redoubt config: {e}");
            2
        }
    }
}

fn host_port(v: &str) -> Result<(String, u16), String> {
    let (h, p) = v
        .rsplit_once(':')
        .ok_or(format!("`{v}`: expected HOST:PORT"))?;
    let p = p.parse().map_err(|_| format!("`{v}`: bad port"))?;
    Ok((h.trim_matches(['[', ']']).to_string(), p))
}

/// The config text for `role`.
pub fn generate(role: &str, f: &Flags) -> Result<String, String> {
    let mut c = String::new();
    let sentinel = role == "sentinel";
    if !matches!(role, "master" | "replica" | "sentinel") {
        return Err(format!(
            "unknown role `{role}` (master, replica or sentinel)"
        ));
    }
    let port: u16 = f.num("port", if sentinel { 26379 } else { 6379 })?;
    let bind = f.get("bind").unwrap_or("127.0.0.1 -::1").to_string();
    let password = f.get("password");
    let dir = f.get("dir").unwrap_or(if sentinel {
        "/var/lib/redoubt-sentinel"
    } else {
        "/var/lib/redoubt"
    });
    let _ = writeln!(
        c,
        "# Redoubt {role} config, generated by `redoubt config {role}`."
    );
    let _ = writeln!(
        c,
        "# Accepted by Redoubt and by Redis 7.0. Review the lines marked CHECK.\n"
    );
    let _ = writeln!(c, "## Network");
    let _ = writeln!(c, "port {port}");
    let _ = writeln!(
        c,
        "# CHECK: every address replicas, sentinels and clients use to reach this"
    );
    let _ = writeln!(
        c,
        "# {role} must be listed. Loopback only means other hosts are refused;"
    );
    let _ = writeln!(
        c,
        "# `bind * -::*` listens everywhere (then set a password)."
    );
    let _ = writeln!(c, "bind {bind}");
    let _ = writeln!(
        c,
        "# With protected mode on and no password, connections from other hosts get"
    );
    let _ = writeln!(
        c,
        "# -DENIED. It is safe to keep on: it only matters when no password is set."
    );
    let _ = writeln!(c, "protected-mode yes");
    if !is_loopback_only(&bind) && password.is_none() {
        let _ = writeln!(
            c,
            "# CHECK: listening beyond loopback without --password: other hosts will be"
        );
        let _ = writeln!(
            c,
            "# refused by protected mode. Generate again with --password."
        );
    }
    let _ = writeln!(c, "tcp-backlog 511\n");
    let _ = writeln!(c, "## Process");
    let _ = writeln!(c, "daemonize no");
    let supervised = f.get("supervised").unwrap_or("no");
    if !matches!(supervised, "systemd" | "no" | "auto" | "upstart") {
        return Err(format!("--supervised {supervised}: expected systemd or no"));
    }
    let _ = writeln!(
        c,
        "# `systemd` with the Type=notify unit in contrib/systemd: readiness is reported."
    );
    let _ = writeln!(c, "supervised {supervised}");
    let _ = writeln!(c, "dir {}", quote(dir));
    let _ = writeln!(c, "logfile {}", quote(f.get("logfile").unwrap_or("")));
    let _ = writeln!(c, "loglevel notice\n");
    if sentinel {
        sentinel_part(&mut c, f, password)?;
        return Ok(c);
    }
    let _ = writeln!(c, "## Security");
    match password {
        Some(p) => {
            let _ = writeln!(c, "requirepass {}", quote(p));
            let _ = writeln!(
                c,
                "# Every server of the set-up uses the same password, so any of them can"
            );
            let _ = writeln!(c, "# follow any other after a failover.");
            let _ = writeln!(c, "masterauth {}\n", quote(p));
        }
        None => {
            let _ = writeln!(
                c,
                "# No password (generate with --password P to set requirepass and masterauth).\n"
            );
        }
    }
    let rate = f
        .get("write-rate")
        .map(|v| parse_size(v).ok_or(format!("--write-rate `{v}`: not a size")))
        .transpose()?;
    let outage = f
        .get("max-outage")
        .map(|v| parse_secs(v).ok_or(format!("--max-outage `{v}`: not a duration")))
        .transpose()?
        .unwrap_or(60);
    let full = f
        .get("full-sync-time")
        .map(|v| parse_secs(v).ok_or(format!("--full-sync-time `{v}`: not a duration")))
        .transpose()?
        .unwrap_or(60);
    let s = sizing(rate.unwrap_or(0), outage, full);
    let _ = writeln!(c, "## Replication");
    if role == "replica" {
        let m = f
            .get("master")
            .ok_or("a replica needs --master HOST:PORT")?;
        let (h, p) = host_port(m)?;
        let _ = writeln!(
            c,
            "# The master to follow. Sentinel rewrites this line after a failover."
        );
        let _ = writeln!(c, "replicaof {h} {p}");
        let _ = writeln!(c, "replica-read-only yes");
        let _ = writeln!(c, "replica-serve-stale-data yes");
        let _ = writeln!(c, "# Lower wins the promotion; 0 means never promoted.");
        let _ = writeln!(c, "replica-priority {}", f.num("replica-priority", 100u32)?);
        if let Some(ip) = f.get("announce-ip") {
            let _ = writeln!(
                c,
                "# The address the master and sentinels are told to reach this replica at."
            );
            let _ = writeln!(c, "replica-announce-ip {ip}");
        }
    }
    match rate {
        Some(r) => {
            let _ = writeln!(c, "# Sized for {} of writes per second:", human(r));
            let _ = writeln!(
                c,
                "# backlog = rate x {outage}s outage x 1.5, so a replica that was away that long"
            );
            let _ = writeln!(c, "# resumes with a partial resync instead of a full one.");
        }
        None => {
            let _ = writeln!(
                c,
                "# Redis's defaults; pass --write-rate (and --max-outage) to size them."
            );
        }
    }
    let _ = writeln!(c, "repl-backlog-size {}", mb(s.backlog));
    let _ = writeln!(c, "repl-backlog-ttl 3600");
    let _ = writeln!(
        c,
        "# Writes made during a full sync are buffered for the replica; if they pass"
    );
    let _ = writeln!(
        c,
        "# the hard limit (or the soft one for soft-seconds) the replica is dropped"
    );
    let _ = writeln!(
        c,
        "# and the full sync starts over. Soft = rate x {full}s full-sync time."
    );
    let _ = writeln!(
        c,
        "client-output-buffer-limit replica {} {} {}",
        mb(s.obuf_hard),
        mb(s.obuf_soft),
        s.obuf_soft_secs
    );
    let _ = writeln!(c, "repl-diskless-sync yes");
    let _ = writeln!(c, "repl-diskless-sync-delay 5");
    let _ = writeln!(c, "repl-timeout 60");
    let min = f.num("min-replicas", 1u32)?;
    let _ = writeln!(
        c,
        "# Refuse writes when fewer than {min} replica(s) acknowledged within the lag:"
    );
    let _ = writeln!(
        c,
        "# bounds what a Sentinel failover can lose. (Also on replicas: it takes"
    );
    let _ = writeln!(c, "# effect if this one is promoted.)");
    let _ = writeln!(c, "min-replicas-to-write {min}");
    let _ = writeln!(
        c,
        "min-replicas-max-lag {}\n",
        f.num("min-replicas-max-lag", 10u32)?
    );
    let _ = writeln!(c, "## Persistence");
    let _ = writeln!(c, "save 3600 1 300 100 60 10000");
    let _ = writeln!(c, "dbfilename dump.rdb");
    let _ = writeln!(c, "appendonly no");
    Ok(c)
}

fn human(n: u64) -> String {
    if n >= 1 << 20 {
        format!("{:.1} MB", n as f64 / (1u64 << 20) as f64)
    } else {
        format!("{:.1} KB", n as f64 / 1024.0)
    }
}

fn sentinel_part(c: &mut String, f: &Flags, password: Option<&str>) -> Result<(), String> {
    let m = f
        .get("master")
        .ok_or("a sentinel needs --master HOST:PORT")?;
    let (h, p) = host_port(m)?;
    let name = f.get("master-name").unwrap_or("mymaster");
    if name.contains(char::is_whitespace) || name.is_empty() {
        return Err("--master-name must be one word".into());
    }
    let quorum: u32 = f.num("quorum", 2)?;
    let _ = writeln!(c, "## Sentinel");
    if let Some(ip) = f.get("announce-ip") {
        let _ = writeln!(
            c,
            "# The address other sentinels and clients are told to reach this one at."
        );
        let _ = writeln!(c, "sentinel announce-ip {ip}");
    }
    let _ = writeln!(
        c,
        "# QUORUM sentinels must agree the master is down; a majority of all"
    );
    let _ = writeln!(
        c,
        "# sentinels must still be reachable to authorise the failover."
    );
    let _ = writeln!(c, "sentinel monitor {name} {h} {p} {quorum}");
    let _ = writeln!(
        c,
        "sentinel down-after-milliseconds {name} {}",
        f.num("down-after", 5000u64)?
    );
    let _ = writeln!(
        c,
        "sentinel failover-timeout {name} {}",
        f.num("failover-timeout", 60000u64)?
    );
    let _ = writeln!(
        c,
        "# Replicas resynchronised with the new master at a time after a failover."
    );
    let _ = writeln!(
        c,
        "sentinel parallel-syncs {name} {}",
        f.num("parallel-syncs", 1u32)?
    );
    match password {
        Some(pw) if pw.contains(char::is_whitespace) => {
            return Err("Sentinel cannot load a password containing spaces".into());
        }
        Some(pw) => {
            let _ = writeln!(
                c,
                "# The servers' requirepass, to talk to the master and its replicas."
            );
            let _ = writeln!(c, "sentinel auth-pass {name} {pw}");
        }
        None => {}
    }
    let _ = writeln!(
        c,
        "# The sentinel rewrites this file with what it learns (replicas, other"
    );
    let _ = writeln!(c, "# sentinels, epochs): keep it writable.");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_grow_with_the_write_rate_and_never_go_below_defaults() {
        assert_eq!(sizing(0, 60, 60).backlog, DEFAULT_BACKLOG);
        let s = sizing(10 << 20, 60, 60);
        assert_eq!(s.backlog, 900 << 20);
        assert_eq!(s.obuf_soft, 600 << 20);
        assert_eq!(s.obuf_hard, 1200 << 20);
    }
}
