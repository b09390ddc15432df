//! Looking at a running topology: readiness, replication sync, sentinel
//! agreement, and the one-shot status a live table is drawn from. Each
//! look opens a short-lived connection with a short deadline, so a
//! stopped or hung process shows as down instead of stalling the caller.

use crate::{Kind, Node, Topology};
use client::{frame_pairs, frame_string, Client, Frame, Info};
use std::time::Duration;

const LOOK_TIMEOUT: Duration = Duration::from_millis(800);

async fn connect(node: &Node) -> Option<Client> {
    Client::connect_auth(&node.addr(), node.password.as_deref(), LOOK_TIMEOUT)
        .await
        .ok()
}

/// Ready: answering as itself (the `process_id` it reports is the one we
/// started, not another program's that holds the port) and, for a server,
/// done loading its data. An error reply other than `-LOADING` (`-NOAUTH`
/// from a password we were not given) means it is up and serving, though
/// who it is cannot be read.
pub(crate) async fn is_ready(node: &Node) -> bool {
    let Some(mut c) = connect(node).await else {
        return false;
    };
    // A server's default INFO holds both the server and the persistence
    // sections; a sentinel has no loading to finish.
    let request: &[&str] = match node.kind {
        Kind::Server => &["INFO"],
        Kind::Sentinel => &["INFO", "server"],
    };
    let text = match c.call(request).await {
        Ok(Frame::Error(e)) => return !e.starts_with(b"LOADING"),
        Ok(f) => frame_string(&f).unwrap_or_default(),
        Err(_) => return false,
    };
    let info = Info::parse(&text);
    let ours = match (info.int("process_id"), node.pid()) {
        (Some(theirs), Some(ours)) => theirs == i64::from(ours),
        _ => true,
    };
    ours && (node.kind == Kind::Sentinel || info.get("loading") == Some("0"))
}

pub(crate) async fn synced(t: &Topology, servers: &[usize]) -> Result<u16, String> {
    let mut master = None;
    let mut infos = Vec::new();
    for &i in servers {
        let n = &t.nodes[i];
        let Some(mut c) = connect(n).await else {
            return Err(format!("{} to answer", n.name()));
        };
        let info = c
            .info("replication")
            .await
            .map_err(|e| format!("INFO from {}: {e}", n.name()))?;
        if info.get("role") == Some("master") {
            if master.is_some() {
                return Err("a single master (two servers say role:master)".into());
            }
            master = Some((n.port, info.int("master_repl_offset").unwrap_or(-1)));
        } else {
            infos.push((n.name(), info));
        }
    }
    let Some((mport, moff)) = master else {
        return Err("a master (every running server is a replica)".into());
    };
    for (name, info) in &infos {
        if info.get("master_port").and_then(|p| p.parse().ok()) != Some(mport) {
            return Err(format!("{name} to follow the master on port {mport}"));
        }
        if info.get("master_link_status") != Some("up") {
            return Err(format!("{name} to have master_link_status:up"));
        }
        if info.int("master_repl_offset") != Some(moff) {
            return Err(format!("{name} to reach the master's offset {moff}"));
        }
    }
    Ok(mport)
}

/// `SENTINEL master NAME` as a field map.
async fn sentinel_master(
    c: &mut Client,
    name: &str,
) -> Option<std::collections::BTreeMap<String, String>> {
    let f = c.call_ok(&["SENTINEL", "MASTER", name]).await.ok()?;
    frame_pairs(&f)
}

/// `SENTINEL get-master-addr-by-name NAME` as `host:port`.
async fn master_addr(c: &mut Client, name: &str) -> Option<String> {
    match c
        .call_ok(&["SENTINEL", "GET-MASTER-ADDR-BY-NAME", name])
        .await
        .ok()?
    {
        Frame::Array(v) if v.len() == 2 => {
            Some(format!("{}:{}", frame_string(&v[0])?, frame_string(&v[1])?))
        }
        _ => None,
    }
}

pub(crate) async fn sentinels_agree(
    t: &Topology,
    sentinels: &[usize],
    master: u16,
) -> Result<(), String> {
    let want = format!("127.0.0.1:{master}");
    let replicas = t
        .servers()
        .filter(|n| n.running() && n.port != master)
        .count();
    for &i in sentinels {
        let n = &t.nodes[i];
        let Some(mut c) = connect(n).await else {
            return Err(format!("{} to answer", n.name()));
        };
        let addr = master_addr(&mut c, &t.spec.master_name).await;
        if addr.as_deref() != Some(want.as_str()) {
            return Err(format!(
                "{} to name {want} as master (it says {})",
                n.name(),
                addr.unwrap_or_else(|| "nothing".into())
            ));
        }
        let m = sentinel_master(&mut c, &t.spec.master_name)
            .await
            .unwrap_or_default();
        let num = |k: &str| m.get(k).and_then(|v| v.parse::<usize>().ok()).unwrap_or(0);
        if num("num-other-sentinels") + 1 < sentinels.len() {
            return Err(format!("{} to discover the other sentinels", n.name()));
        }
        if num("num-slaves") < replicas {
            return Err(format!("{} to discover the {replicas} replicas", n.name()));
        }
        // Known is not yet usable: the quorum must be reachable from here.
        if let Err(e) = c
            .call_ok(&["SENTINEL", "CKQUORUM", &t.spec.master_name])
            .await
        {
            return Err(format!("{} to reach the quorum ({e})", n.name()));
        }
    }
    Ok(())
}

/// One node as the status table shows it.
#[derive(Debug, Clone)]
pub struct NodeStatus {
    pub name: String,
    pub kind: Kind,
    pub port: u16,
    pub pid: Option<u32>,
    /// Answering requests.
    pub up: bool,
    /// `master` / `replica` / `sentinel` / `down`.
    pub role: String,
    /// `master_repl_offset` of a server.
    pub offset: Option<i64>,
    /// Bytes behind the current master (replicas).
    pub lag_bytes: Option<i64>,
    /// Replicas: `up`/`down` (master_link_status); master: connected
    /// replicas; sentinel: the master it names and its flags.
    pub link: String,
    /// Sentinels: the address they name for the master.
    pub sentinel_master: Option<String>,
}

/// Everything one status pass saw.
#[derive(Debug, Clone, Default)]
pub struct Views {
    pub nodes: Vec<NodeStatus>,
    /// The master the sentinels name (the most common answer), or the
    /// server saying role:master when there are no sentinels.
    pub master: Option<String>,
    /// How many sentinels name [`Views::master`].
    pub agreeing: usize,
}

pub(crate) async fn status(t: &Topology) -> Views {
    let mut v = Views::default();
    let mut master_offset = None;
    let mut infos = Vec::new();
    for n in &t.nodes {
        let mut s = NodeStatus {
            name: n.name(),
            kind: n.kind,
            port: n.port,
            pid: n.pid(),
            up: false,
            role: "down".into(),
            offset: None,
            lag_bytes: None,
            link: match n.exit {
                Some(st) => format!("exited ({st})"),
                None if n.running() => "not answering".into(),
                None => "stopped".into(),
            },
            sentinel_master: None,
        };
        let mut info = None;
        if let Some(mut c) = connect(n).await {
            match n.kind {
                Kind::Server => {
                    if let Ok(i) = c.info("replication").await {
                        s.up = true;
                        s.offset = i.int("master_repl_offset");
                        if i.get("role") == Some("master") {
                            s.role = "master".into();
                            s.link = format!("{} replicas", i.int("connected_slaves").unwrap_or(0));
                            master_offset = s.offset;
                        } else {
                            s.role = "replica".into();
                            s.link = format!(
                                "{} of {}",
                                i.get("master_link_status").unwrap_or("?"),
                                i.get("master_port").unwrap_or("?")
                            );
                        }
                        info = Some(i);
                    }
                }
                Kind::Sentinel => {
                    if let Some(addr) = master_addr(&mut c, &t.spec.master_name).await {
                        s.up = true;
                        s.role = "sentinel".into();
                        let flags = sentinel_master(&mut c, &t.spec.master_name)
                            .await
                            .and_then(|m| m.get("flags").cloned())
                            .unwrap_or_default();
                        s.link = format!("{addr} {flags}");
                        s.sentinel_master = Some(addr);
                    }
                }
            }
        }
        infos.push(info);
        v.nodes.push(s);
    }
    for (s, info) in v.nodes.iter_mut().zip(&infos) {
        if let (Some(m), Some(o), Some(_)) = (master_offset, s.offset, info) {
            if s.role == "replica" {
                s.lag_bytes = Some((m - o).max(0));
            }
        }
    }
    let mut counts: Vec<(String, usize)> = Vec::new();
    for s in &v.nodes {
        if let Some(a) = &s.sentinel_master {
            match counts.iter_mut().find(|(x, _)| x == a) {
                Some(c) => c.1 += 1,
                None => counts.push((a.clone(), 1)),
            }
        }
    }
    counts.sort_by_key(|c| std::cmp::Reverse(c.1));
    if let Some((a, n)) = counts.into_iter().next() {
        v.master = Some(a);
        v.agreeing = n;
    } else if let Some(m) = v.nodes.iter().find(|s| s.role == "master") {
        v.master = Some(format!("127.0.0.1:{}", m.port));
    }
    v
}
