//! The cluster checks of `redoubt doctor`: what each node's `CLUSTER
//! NODES` says, compared across nodes. The failure modes are the ones
//! `redis-cli --cluster check` looks for, said with what to run:
//! slots no master serves, slots left open by an interrupted migration,
//! nodes whose views of the slot map disagree, nodes flagged as failed,
//! and masters that serve slots without a replica to take over.

use super::checks::finding;
use super::{Finding, ServerView, Severity, Snapshot};
use std::collections::BTreeMap;

const SLOTS: usize = 16384;

/// One line of `CLUSTER NODES`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeLine {
    pub id: String,
    /// `ip:port` (without the bus port and hostname).
    pub addr: String,
    pub flags: Vec<String>,
    /// The master's id, for a replica.
    pub master: Option<String>,
    pub slots: Vec<(u16, u16)>,
    /// Open slots: `[slot->-id]` (migrating) and `[slot-<-id]` (importing).
    pub open: Vec<String>,
}

impl NodeLine {
    pub fn has(&self, flag: &str) -> bool {
        self.flags.iter().any(|f| f == flag)
    }
    pub fn is_master(&self) -> bool {
        self.has("master")
    }
    pub fn failed(&self) -> bool {
        self.has("fail")
    }
}

/// Parses `CLUSTER NODES` text; lines that do not have its eight fields
/// are skipped.
pub fn parse_nodes(text: &str) -> Vec<NodeLine> {
    let mut out = Vec::new();
    for line in text.lines() {
        let w: Vec<&str> = line.split_whitespace().collect();
        if w.len() < 8 {
            continue;
        }
        let addr = w[1].split('@').next().unwrap_or("").to_string();
        let mut n = NodeLine {
            id: w[0].to_string(),
            addr,
            flags: w[2].split(',').map(String::from).collect(),
            master: (w[3] != "-").then(|| w[3].to_string()),
            ..NodeLine::default()
        };
        for s in &w[8..] {
            if s.starts_with('[') {
                n.open
                    .push(s.trim_matches(|c| c == '[' || c == ']').to_string());
                continue;
            }
            let (a, b) = s.split_once('-').unwrap_or((s, s));
            if let (Ok(a), Ok(b)) = (a.parse::<u16>(), b.parse::<u16>()) {
                n.slots.push((a, b));
            }
        }
        out.push(n);
    }
    out
}

/// The nodes a server sees, when it runs in cluster mode.
pub fn view(v: &ServerView) -> Option<Vec<NodeLine>> {
    v.cluster_nodes.as_deref().map(parse_nodes)
}

/// The addresses a cluster node knows (to inspect them too): every node
/// with an address that is not flagged failed.
pub fn known_addrs(text: &str) -> Vec<String> {
    parse_nodes(text)
        .into_iter()
        .filter(|n| !n.failed() && !n.has("noaddr") && !n.has("handshake"))
        .filter(|n| !n.addr.starts_with(':'))
        .map(|n| n.addr)
        .collect()
}

/// Owner of each slot in one node's view (ids), None when unassigned.
fn slot_map(nodes: &[NodeLine]) -> Vec<Option<&str>> {
    let mut map = vec![None; SLOTS];
    for n in nodes.iter().filter(|n| n.is_master()) {
        for &(a, b) in &n.slots {
            for s in a..=b.min(SLOTS as u16 - 1) {
                map[s as usize] = Some(n.id.as_str());
            }
        }
    }
    map
}

/// `0-99,200` from a sorted list of slots.
fn ranges(slots: &[usize]) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < slots.len() {
        let mut j = i;
        while j + 1 < slots.len() && slots[j + 1] == slots[j] + 1 {
            j += 1;
        }
        out.push(if i == j {
            slots[i].to_string()
        } else {
            format!("{}-{}", slots[i], slots[j])
        });
        i = j + 1;
    }
    out.join(",")
}

pub fn run(s: &Snapshot, out: &mut Vec<Finding>) {
    let views: Vec<(&ServerView, Vec<NodeLine>)> = s
        .servers
        .iter()
        .filter_map(|v| Some((v, view(v)?)))
        .collect();
    let Some((first, first_view)) = views.first() else {
        return;
    };
    // A node that gave up slots (DELSLOTS) may be the only one to know
    // they are unserved: the first view that has holes tells.
    if let Some((v, nodes)) = views.iter().find(|(_, n)| slot_map(n).contains(&None)) {
        uncovered(v, nodes, out);
    }
    for (v, nodes) in &views {
        open_slots(v, nodes, out);
    }
    disagree(&views, out);
    failed_and_orphans(first, first_view, out);
}

fn uncovered(v: &ServerView, nodes: &[NodeLine], out: &mut Vec<Finding>) {
    let map = slot_map(nodes);
    let free: Vec<usize> = (0..SLOTS).filter(|&s| map[s].is_none()).collect();
    if free.is_empty() {
        return;
    }
    out.push(finding(
        Severity::Error,
        "cluster-uncovered-slots",
        &v.addr,
        format!(
            "{} of 16384 slots have no master in {}'s view: {}",
            free.len(),
            v.addr,
            ranges(&free)
        ),
        "with cluster-require-full-coverage yes (the default) the whole cluster refuses commands while a slot is unserved; otherwise the keys of those slots are unreachable",
        format!(
            "assign them: `redis-cli --cluster fix {}` (or CLUSTER ADDSLOTSRANGE on the master that should serve them)",
            v.addr
        ),
    ));
}

fn open_slots(v: &ServerView, nodes: &[NodeLine], out: &mut Vec<Finding>) {
    let Some(me) = nodes.iter().find(|n| n.has("myself")) else {
        return;
    };
    if me.open.is_empty() {
        return;
    }
    let slots: Vec<&str> = me
        .open
        .iter()
        .filter_map(|o| o.split(['-', '<', '>']).next())
        .collect();
    out.push(finding(
        Severity::Warning,
        "cluster-open-slots",
        &v.addr,
        format!(
            "{} has slots open for a migration: {}",
            v.addr,
            me.open.join(" ")
        ),
        "a migration that was interrupted leaves keys of these slots split between two nodes; clients are sent back and forth with ASK until it is finished or rolled back",
        format!(
            "finish or roll it back: `redis-cli --cluster fix {}` (or CLUSTER SETSLOT {} STABLE / NODE <owner> on both nodes)",
            v.addr,
            slots.join(",")
        ),
    ));
}

fn disagree(views: &[(&ServerView, Vec<NodeLine>)], out: &mut Vec<Finding>) {
    // The slot map each node has, as text, and who has it.
    let mut maps: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for (v, nodes) in views {
        let mut owned: Vec<String> = nodes
            .iter()
            .filter(|n| n.is_master() && !n.slots.is_empty())
            .map(|n| {
                let s: Vec<String> = n.slots.iter().map(|(a, b)| format!("{a}-{b}")).collect();
                format!("{}:{}", n.id, s.join(","))
            })
            .collect();
        owned.sort();
        maps.entry(owned.join(" ")).or_default().push(&v.addr);
    }
    if maps.len() < 2 {
        return;
    }
    let groups: Vec<String> = maps
        .values()
        .map(|addrs| format!("[{}]", addrs.join(" ")))
        .collect();
    out.push(finding(
        Severity::Warning,
        "cluster-nodes-disagree",
        &views[0].0.addr,
        format!(
            "the nodes have {} different views of which master serves which slots: {}",
            maps.len(),
            groups.join(" vs ")
        ),
        "right after a failover or resharding this settles within a few node timeouts; if it lasts, clients are redirected in circles and some writes may go to a node that lost the slot",
        "compare CLUSTER NODES on each group; if they still disagree after a minute, `redis-cli --cluster fix HOST:PORT`, or CLUSTER BUMPEPOCH on the node whose claim should win".into(),
    ));
}

fn failed_and_orphans(v: &ServerView, nodes: &[NodeLine], out: &mut Vec<Finding>) {
    for n in nodes.iter().filter(|n| n.failed()) {
        out.push(finding(
            Severity::Error,
            "cluster-node-failed",
            &n.addr,
            format!("{} ({}) is flagged fail in {}'s view", n.addr, n.id, v.addr),
            "a failed master's slots are served only once one of its replicas is elected; a failed replica no longer protects its master",
            format!(
                "restart the node at {}; if it is gone for good, `redis-cli --cluster del-node {} {}` (or CLUSTER FORGET on every node)",
                n.addr, v.addr, n.id
            ),
        ));
    }
    for m in nodes
        .iter()
        .filter(|n| n.is_master() && !n.failed() && !n.slots.is_empty())
    {
        let replicas = nodes
            .iter()
            .filter(|r| r.master.as_deref() == Some(m.id.as_str()) && !r.failed())
            .count();
        if replicas > 0 {
            continue;
        }
        out.push(finding(
            Severity::Warning,
            "cluster-master-without-replica",
            &m.addr,
            format!("master {} ({}) serves slots and has no working replica", m.addr, m.id),
            "if it fails, its slots stay unserved until it comes back (and, with full coverage required, the whole cluster stops)",
            format!(
                "add one: `redis-cli --cluster add-node NEW_HOST:PORT {} --cluster-slave --cluster-master-id {}` (replica migration moves a spare replica over by itself when another master has two)",
                m.addr, m.id
            ),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NODES: &str = "\
a1 127.0.0.1:7000@17000 myself,master - 0 0 1 connected 0-5460 [5461->-b2]
b2 127.0.0.1:7001@17001 master - 0 1 2 connected 5461-10922
c3 127.0.0.1:7002@17002 master,fail - 0 1 3 disconnected 10923-16000
d4 127.0.0.1:7003@17003 slave a1 0 1 1 connected
";

    #[test]
    fn cluster_nodes_lines_parse() {
        let n = parse_nodes(NODES);
        assert_eq!(n.len(), 4);
        assert_eq!(n[0].slots, vec![(0, 5460)]);
        assert_eq!(n[0].open, vec!["5461->-b2".to_string()]);
        assert_eq!(n[3].master.as_deref(), Some("a1"));
        assert!(n[2].failed());
        assert_eq!(known_addrs(NODES).len(), 3);
        assert_eq!(ranges(&[1, 2, 3, 7, 9, 10]), "1-3,7,9-10");
    }

    #[test]
    fn a_broken_cluster_gets_each_finding() {
        let v = ServerView {
            addr: "127.0.0.1:7000".into(),
            cluster_nodes: Some(NODES.into()),
            ..ServerView::default()
        };
        let mut other = v.clone();
        other.addr = "127.0.0.1:7001".into();
        other.cluster_nodes = Some(
            NODES
                .replace("5461-10922", "5461-10921")
                .replace("myself,", ""),
        );
        let s = Snapshot {
            servers: vec![v, other],
            ..Snapshot::default()
        };
        let mut out = Vec::new();
        run(&s, &mut out);
        let checks: Vec<&str> = out.iter().map(|f| f.check).collect();
        for want in [
            "cluster-uncovered-slots",
            "cluster-open-slots",
            "cluster-nodes-disagree",
            "cluster-node-failed",
            "cluster-master-without-replica",
        ] {
            assert!(checks.contains(&want), "{want} missing from {checks:?}");
        }
        let orphan = out
            .iter()
            .find(|f| f.check == "cluster-master-without-replica")
            .map(|f| f.node.as_str());
        assert_eq!(orphan, Some("127.0.0.1:7001"));
    }
}
