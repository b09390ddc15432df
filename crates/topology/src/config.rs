//! What to start ([`Spec`]) and the config files written for it.
//!
//! The files are complete redis.conf / sentinel.conf files that both
//! Redoubt and Redis 7.0 accept, so a topology can mix the two.

use crate::{absolute, Error, Result};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// A local topology to start.
#[derive(Debug, Clone)]
pub struct Spec {
    /// Data folder; every node gets a sub-folder.
    pub dir: PathBuf,
    /// Program (and leading arguments) for servers; the config file is
    /// appended. E.g. `["/usr/bin/redoubt", "server"]` or `["redis-server"]`.
    pub server_cmd: Vec<String>,
    /// Program (and leading arguments) for sentinels, e.g.
    /// `["/usr/bin/redoubt", "sentinel"]` or `["redis-sentinel"]`.
    pub sentinel_cmd: Vec<String>,
    /// The master's port; replicas take the next ones.
    pub port: u16,
    pub replicas: u16,
    pub sentinels: u16,
    /// The first sentinel's port; the others take the next ones.
    pub sentinel_port: u16,
    /// `requirepass` on every server, `masterauth` and `sentinel
    /// auth-pass` to match.
    pub password: Option<String>,
    pub master_name: String,
    pub quorum: u16,
    pub down_after_ms: u64,
    pub failover_timeout_ms: u64,
    /// Extra server directives (name, value), appended to each server's
    /// config on first start.
    pub extra: Vec<(String, String)>,
    /// Remove the folder when the topology is dropped (tests); `redoubt
    /// up` keeps it so that the next run resumes.
    pub temporary: bool,
}

impl Spec {
    /// Defaults of `redoubt up`: 6379 + 2 replicas, 3 sentinels from
    /// 26379, quorum 2, down-after 5 s.
    pub fn new(
        dir: impl Into<PathBuf>,
        server_cmd: Vec<String>,
        sentinel_cmd: Vec<String>,
    ) -> Spec {
        Spec {
            dir: dir.into(),
            server_cmd,
            sentinel_cmd,
            port: 6379,
            replicas: 2,
            sentinels: 3,
            sentinel_port: 26379,
            password: None,
            master_name: "mymaster".into(),
            quorum: 2,
            down_after_ms: 5000,
            failover_timeout_ms: 60000,
            extra: Vec::new(),
            temporary: false,
        }
    }

    pub fn server_ports(&self) -> Vec<u16> {
        (0..=self.replicas)
            .map(|i| self.port.saturating_add(i))
            .collect()
    }

    pub fn sentinel_ports(&self) -> Vec<u16> {
        (0..self.sentinels)
            .map(|i| self.sentinel_port.saturating_add(i))
            .collect()
    }
}

const MANIFEST: &str = "topology.conf";

/// Quotes a config value when it needs it (spaces, quotes, empty).
pub fn quote(v: &str) -> String {
    if !v.is_empty()
        && v.bytes()
            .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\'' && b != b'\\')
    {
        return v.to_string();
    }
    let mut s = String::from("\"");
    for c in v.chars() {
        match c {
            '"' => s.push_str("\\\""),
            '\\' => s.push_str("\\\\"),
            '\n' => s.push_str("\\n"),
            '\r' => s.push_str("\\r"),
            c => s.push(c),
        }
    }
    s.push('"');
    s
}

/// Loads the manifest of an earlier run in `spec.dir` (its ports, name and
/// password win over `spec`), or writes a fresh manifest and configs.
/// Returns the effective spec and whether it resumed.
pub fn prepare(mut spec: Spec) -> Result<(Spec, bool)> {
    spec.dir = absolute(&spec.dir);
    let manifest = spec.dir.join(MANIFEST);
    if let Ok(text) = std::fs::read_to_string(&manifest) {
        apply_manifest(&mut spec, &text)?;
        return Ok((spec, true));
    }
    if spec.sentinels > 0 && (spec.quorum == 0 || spec.quorum > spec.sentinels) {
        return Err(Error::Invalid(format!(
            "quorum {} needs between 1 and {} sentinels",
            spec.quorum, spec.sentinels
        )));
    }
    let io = |p: &Path, e| Error::Io(p.display().to_string(), e);
    std::fs::create_dir_all(&spec.dir).map_err(|e| io(&spec.dir, e))?;
    for (i, port) in spec.server_ports().into_iter().enumerate() {
        let d = spec.dir.join(format!("server-{port}"));
        std::fs::create_dir_all(&d).map_err(|e| io(&d, e))?;
        let text = server_conf(&spec, port, (i > 0).then_some(spec.port), &d);
        std::fs::write(d.join("redis.conf"), text).map_err(|e| io(&d, e))?;
    }
    for port in spec.sentinel_ports() {
        let d = spec.dir.join(format!("sentinel-{port}"));
        std::fs::create_dir_all(&d).map_err(|e| io(&d, e))?;
        std::fs::write(d.join("sentinel.conf"), sentinel_conf(&spec, port, &d))
            .map_err(|e| io(&d, e))?;
    }
    let mut m = String::from(
        "# Written by the topology launcher (`redoubt up`): what this folder holds.\n",
    );
    let _ = writeln!(m, "master-name {}", quote(&spec.master_name));
    let _ = writeln!(m, "port {}\nreplicas {}", spec.port, spec.replicas);
    let _ = writeln!(
        m,
        "sentinel-port {}\nsentinels {}",
        spec.sentinel_port, spec.sentinels
    );
    if let Some(p) = &spec.password {
        let _ = writeln!(m, "password {}", quote(p));
    }
    std::fs::write(&manifest, m).map_err(|e| io(&manifest, e))?;
    Ok((spec, false))
}

fn apply_manifest(spec: &mut Spec, text: &str) -> Result<()> {
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (k, v) = line.split_once(' ').unwrap_or((line, ""));
        let v = unquote(v.trim());
        let num = |v: &str| {
            v.parse::<u16>()
                .map_err(|_| Error::Invalid(format!("{MANIFEST}: bad number in `{line}`")))
        };
        match k {
            "master-name" => spec.master_name = v,
            "port" => spec.port = num(&v)?,
            "replicas" => spec.replicas = num(&v)?,
            "sentinel-port" => spec.sentinel_port = num(&v)?,
            "sentinels" => spec.sentinels = num(&v)?,
            "password" => spec.password = Some(v),
            _ => {}
        }
    }
    Ok(())
}

fn unquote(v: &str) -> String {
    let Some(inner) = v.strip_prefix('"').and_then(|s| s.strip_suffix('"')) else {
        return v.to_string();
    };
    let mut out = String::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('n') => out.push('\n'),
                Some('r') => out.push('\r'),
                Some(o) => out.push(o),
                None => {}
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// A server's config: loopback, its own folder, RDB snapshots so a second
/// run resumes with the data, and a master that refuses writes when no
/// replica is connected (`min-replicas-to-write 1`), so a failover loses
/// at most `min-replicas-max-lag` seconds of writes.
fn server_conf(spec: &Spec, port: u16, master: Option<u16>, dir: &Path) -> String {
    let mut c = String::new();
    let _ = writeln!(c, "# Node of a local topology written by `redoubt up`.\n# The sentinels rewrite the replicaof line after a failover (CONFIG REWRITE).");
    let _ = writeln!(c, "port {port}\nbind 127.0.0.1\nprotected-mode yes");
    let _ = writeln!(c, "dir {}", quote(&dir.display().to_string()));
    let _ = writeln!(
        c,
        "logfile {}",
        quote(&dir.join("server.log").display().to_string())
    );
    let _ = writeln!(c, "save 3600 1 300 100 60 10000\ndbfilename dump.rdb");
    let _ = writeln!(
        c,
        "# Replicas start together: no point delaying the full sync."
    );
    let _ = writeln!(c, "repl-diskless-sync yes\nrepl-diskless-sync-delay 0");
    if spec.replicas > 0 {
        let _ = writeln!(c, "min-replicas-to-write 1\nmin-replicas-max-lag 10");
    }
    if let Some(p) = &spec.password {
        let _ = writeln!(c, "requirepass {}\nmasterauth {}", quote(p), quote(p));
    }
    for (k, v) in &spec.extra {
        let _ = writeln!(c, "{k} {}", quote(v));
    }
    if let Some(m) = master {
        let _ = writeln!(c, "replicaof 127.0.0.1 {m}");
    }
    c
}

fn sentinel_conf(spec: &Spec, port: u16, dir: &Path) -> String {
    let n = quote(&spec.master_name);
    let mut c = String::new();
    let _ = writeln!(
        c,
        "# Sentinel of a local topology written by `redoubt up`; the sentinel rewrites this file."
    );
    let _ = writeln!(c, "port {port}\nbind 127.0.0.1");
    let _ = writeln!(c, "dir {}", quote(&dir.display().to_string()));
    let _ = writeln!(
        c,
        "logfile {}",
        quote(&dir.join("sentinel.log").display().to_string())
    );
    let _ = writeln!(
        c,
        "sentinel monitor {n} 127.0.0.1 {} {}",
        spec.port, spec.quorum
    );
    let _ = writeln!(
        c,
        "sentinel down-after-milliseconds {n} {}",
        spec.down_after_ms
    );
    let _ = writeln!(
        c,
        "sentinel failover-timeout {n} {}",
        spec.failover_timeout_ms
    );
    let _ = writeln!(c, "sentinel parallel-syncs {n} 1");
    if let Some(p) = &spec.password {
        let _ = writeln!(c, "sentinel auth-pass {n} {}", quote(p));
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_round_trips() {
        for v in ["plain", "with space", "q\"uote", ""] {
            assert_eq!(unquote(&quote(v)), v);
        }
    }

    #[test]
    fn ports_follow_the_master() {
        let s = Spec::new("/tmp/x", vec![], vec![]);
        assert_eq!(s.server_ports(), vec![6379, 6380, 6381]);
        assert_eq!(s.sentinel_ports(), vec![26379, 26380, 26381]);
    }
}
