//! `CLUSTER NODES` lines and `nodes.conf`, in Redis 7.0's format:
//!
//! ```text
//! <name> <ip>:<port>@<cport>[,<hostname>] <flags> <master|-> <ping-sent>
//!     <pong-recv> <config-epoch> <connected|disconnected> <slot|from-to>...
//! ```
//! with, on our own line, `[slot->-name]` for a slot being migrated and
//! `[slot-<-name]` for one being imported; `nodes.conf` is those lines plus
//! `vars currentEpoch N lastVoteEpoch M`.

use crate::node::{flags, valid_name, Name, Node};
use crate::state::ClusterState;

/// One node's line (no trailing newline).
pub fn node_line(st: &ClusterState, n: &Node) -> String {
    client_node_line(st, n, false)
}

/// One node's line as a client sees it: with `use_pport` (a plain client
/// of a TLS cluster), the node's plain port where it has one, as Redis's
/// `clusterGenNodeDescription`; `nodes.conf` keeps the announced port.
pub fn client_node_line(st: &ClusterState, n: &Node, use_pport: bool) -> String {
    let port = n.client_port(use_pport);
    let mut s = String::with_capacity(128);
    s.push_str(n.name_str());
    s.push(' ');
    s.push_str(&format!("{}:{}@{}", n.ip, port, n.cport));
    if !n.hostname.is_empty() {
        s.push(',');
        s.push_str(&n.hostname);
    }
    s.push(' ');
    s.push_str(&n.flags_text());
    s.push(' ');
    match &n.master {
        Some(m) => s.push_str(std::str::from_utf8(m).unwrap_or("-")),
        None => s.push('-'),
    }
    let epoch = match (n.is_replica(), n.master.and_then(|m| st.node(&m))) {
        (true, Some(m)) => m.config_epoch,
        _ => n.config_epoch,
    };
    let link = if n.link_up || n.is_myself() {
        "connected"
    } else {
        "disconnected"
    };
    s.push_str(&format!(
        " {} {} {} {}",
        n.ping_sent, n.pong_received, epoch, link
    ));
    for (a, b) in n.slots.ranges() {
        if a == b {
            s.push_str(&format!(" {a}"));
        } else {
            s.push_str(&format!(" {a}-{b}"));
        }
    }
    if n.is_myself() {
        // Redis walks the slots once and prints migrating before importing
        // for the same slot; a slot is rarely both.
        let mut open: Vec<(u16, String)> = Vec::new();
        for (slot, to) in &st.migrating {
            open.push((
                *slot,
                format!(" [{}->-{}]", slot, String::from_utf8_lossy(to)),
            ));
        }
        for (slot, from) in &st.importing {
            if !st.migrating.contains_key(slot) {
                open.push((
                    *slot,
                    format!(" [{}-<-{}]", slot, String::from_utf8_lossy(from)),
                ));
            }
        }
        open.sort_by_key(|(s, _)| *s);
        for (_, t) in open {
            s.push_str(&t);
        }
    }
    s
}

/// `CLUSTER NODES`: every node but those in handshake... Redis lists them
/// all, handshake included; each line ends with "\n".
pub fn nodes_text(st: &ClusterState, use_pport: bool) -> String {
    let mut out = String::new();
    for n in &st.nodes {
        out.push_str(&client_node_line(st, n, use_pport));
        out.push('\n');
    }
    out
}

/// The whole `nodes.conf` (handshake nodes are not saved, as in Redis).
pub fn config_text(st: &ClusterState) -> String {
    let mut out = String::new();
    for n in st.nodes.iter().filter(|n| !n.in_handshake()) {
        out.push_str(&node_line(st, n));
        out.push('\n');
    }
    out.push_str(&format!(
        "vars currentEpoch {} lastVoteEpoch {}\n",
        st.current_epoch, st.last_vote_epoch
    ));
    out
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfError {
    pub line: usize,
    pub reason: String,
}

fn bad(line: usize, reason: &str) -> ConfError {
    ConfError {
        line,
        reason: reason.to_string(),
    }
}

fn parse_name(s: &str, line: usize) -> Result<Name, ConfError> {
    if !valid_name(s.as_bytes()) {
        return Err(bad(line, "invalid node name"));
    }
    let mut n = [0u8; 40];
    n.copy_from_slice(s.as_bytes());
    Ok(n)
}

/// Loads a `nodes.conf` (Redis's `clusterLoadConfig`). Flags `myself`
/// mark our own line; ping/pong times and link states are not restored.
pub fn parse_config(text: &str, now: u64) -> Result<ClusterState, ConfError> {
    let mut st: Option<ClusterState> = None;
    let mut nodes: Vec<Node> = Vec::new();
    let mut myself: Option<Name> = None;
    let mut current_epoch = 0u64;
    let mut last_vote_epoch = 0u64;
    let mut slot_owners: Vec<(usize, Name)> = Vec::new();
    let mut migrating = Vec::new();
    let mut importing = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let ln = i + 1;
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.is_empty() {
            continue;
        }
        if f[0] == "vars" {
            let mut j = 1;
            while j + 1 < f.len() {
                let v: u64 = f[j + 1].parse().map_err(|_| bad(ln, "invalid epoch"))?;
                match f[j] {
                    "currentEpoch" => current_epoch = v,
                    "lastVoteEpoch" => last_vote_epoch = v,
                    _ => {}
                }
                j += 2;
            }
            continue;
        }
        if f.len() < 8 {
            return Err(bad(
                ln,
                "unrecoverable error: corrupted cluster config file",
            ));
        }
        let name = parse_name(f[0], ln)?;
        let mut node = Node::new(name, 0, now);
        // ip:port@cport[,hostname]
        let (addr, hostname) = match f[1].split_once(',') {
            Some((a, h)) => (a, h),
            None => (f[1], ""),
        };
        node.hostname = hostname.to_string();
        let (hostport, cport) = addr.split_once('@').unwrap_or((addr, ""));
        let (ip, port) = hostport
            .rsplit_once(':')
            .ok_or_else(|| bad(ln, "address without port"))?;
        node.ip = ip.to_string();
        node.port = port.parse().map_err(|_| bad(ln, "invalid port"))?;
        node.cport = if cport.is_empty() {
            node.port.wrapping_add(10000)
        } else {
            cport.parse().map_err(|_| bad(ln, "invalid cluster port"))?
        };
        for fl in f[2].split(',') {
            match fl {
                "myself" => {
                    node.flags |= flags::MYSELF;
                    myself = Some(name);
                }
                "master" => node.flags |= flags::MASTER,
                "slave" => node.flags |= flags::SLAVE,
                "fail?" => node.flags |= flags::PFAIL,
                "fail" => {
                    node.flags |= flags::FAIL;
                    node.fail_time = now;
                }
                "handshake" => node.flags |= flags::HANDSHAKE,
                "noaddr" => node.flags |= flags::NOADDR,
                "nofailover" => node.flags |= flags::NOFAILOVER,
                "noflags" => {}
                _ => return Err(bad(ln, "unknown flag in cluster config file")),
            }
        }
        if f[3] != "-" {
            node.master = Some(parse_name(f[3], ln)?);
        }
        node.config_epoch = f[6].parse().map_err(|_| bad(ln, "invalid config epoch"))?;
        for sl in &f[8..] {
            if let Some(inner) = sl.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
                if let Some((slot, to)) = inner.split_once("->-") {
                    let slot: u16 = slot.parse().map_err(|_| bad(ln, "invalid slot"))?;
                    migrating.push((slot, parse_name(to, ln)?));
                } else if let Some((slot, from)) = inner.split_once("-<-") {
                    let slot: u16 = slot.parse().map_err(|_| bad(ln, "invalid slot"))?;
                    importing.push((slot, parse_name(from, ln)?));
                } else {
                    return Err(bad(ln, "invalid open slot"));
                }
                continue;
            }
            let (a, b) = match sl.split_once('-') {
                Some((a, b)) => (a, b),
                None => (*sl, *sl),
            };
            let a: usize = a.parse().map_err(|_| bad(ln, "invalid slot"))?;
            let b: usize = b.parse().map_err(|_| bad(ln, "invalid slot"))?;
            if a > b || b >= crate::SLOTS {
                return Err(bad(ln, "invalid slot range"));
            }
            for s in a..=b {
                slot_owners.push((s, name));
            }
        }
        nodes.push(node);
    }
    let Some(me) = myself else {
        return Err(bad(0, "Myself node not found in cluster config file"));
    };
    let mut state = ClusterState::new(me, now);
    state.nodes = nodes;
    if let Some(n) = state.node_mut(&me) {
        n.link_up = true;
    }
    for (s, owner) in slot_owners {
        state.add_slot(s, &owner);
    }
    state.migrating.extend(migrating);
    state.importing.extend(importing);
    state.current_epoch = current_epoch.max(state.max_epoch());
    state.last_vote_epoch = last_vote_epoch;
    st.get_or_insert(state);
    st.ok_or_else(|| bad(0, "empty"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_round_trips_in_redis_format() {
        let a = [b'a'; 40];
        let b = [b'b'; 40];
        let mut st = ClusterState::new(a, 1);
        st.me_mut().ip = "127.0.0.1".into();
        st.me_mut().port = 7000;
        st.me_mut().cport = 17000;
        st.me_mut().config_epoch = 1;
        let mut nb = Node::new(b, flags::SLAVE, 1);
        nb.ip = "127.0.0.1".into();
        nb.port = 7001;
        nb.cport = 17001;
        nb.hostname = "host-b".into();
        nb.master = Some(a);
        st.nodes.push(nb);
        for s in 0..=5460 {
            st.add_slot(s, &a);
        }
        st.add_slot(6000, &a);
        st.migrating.insert(6000, b);
        st.current_epoch = 3;
        let text = config_text(&st);
        let first = text.lines().next().unwrap();
        assert_eq!(
            first,
            format!(
                "{} 127.0.0.1:7000@17000 myself,master - 0 0 1 connected 0-5460 6000 [6000->-{}]",
                "a".repeat(40),
                "b".repeat(40)
            )
        );
        assert!(text.contains("127.0.0.1:7001@17001,host-b slave aaaa"));
        assert!(text.ends_with("vars currentEpoch 3 lastVoteEpoch 0\n"));
        let back = parse_config(&text, 5).unwrap();
        assert_eq!(config_text(&back), text);
        assert!(parse_config("garbage", 1).is_err());
    }
}
