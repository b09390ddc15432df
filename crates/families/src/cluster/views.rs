//! The CLUSTER subcommands that report: INFO, MYID, NODES, SLOTS, SHARDS,
//! LINKS, REPLICAS (SLAVES) and COUNT-FAILURE-REPORTS.

use super::{enabled, lookup_or_err};
use cluster::{flags, ClusterState, Name, Node, SLOTS};
use server::cluster::preferred_endpoint;
use server::cmd::Ctx;
use server::config::Directive;

pub(super) fn info(ctx: &mut Ctx) {
    let Some(c) = enabled(ctx) else { return };
    let st = &c.state;
    let assigned = st.slots_assigned();
    let pfail = st.slots_with_owner_flag(flags::PFAIL);
    let fail = st.slots_with_owner_flag(flags::FAIL);
    let me = st.me();
    let my_epoch = match (me.is_replica(), me.master.and_then(|m| st.node(&m))) {
        (true, Some(m)) => m.config_epoch,
        _ => me.config_epoch,
    };
    let mut s = format!(
        "cluster_state:{}\r\ncluster_slots_assigned:{assigned}\r\ncluster_slots_ok:{}\r\ncluster_slots_pfail:{pfail}\r\ncluster_slots_fail:{fail}\r\ncluster_known_nodes:{}\r\ncluster_size:{}\r\ncluster_current_epoch:{}\r\ncluster_my_epoch:{my_epoch}\r\n",
        if st.ok { "ok" } else { "fail" },
        assigned - pfail - fail,
        st.nodes.len(),
        st.size,
        st.current_epoch,
    );
    const NAMES: [&str; 11] = [
        "ping",
        "pong",
        "meet",
        "fail",
        "publish",
        "auth-req",
        "auth-ack",
        "update",
        "mfstart",
        "module",
        "publishshard",
    ];
    let mut total = 0;
    for (i, n) in st.stats_sent.iter().enumerate() {
        if *n > 0 {
            s.push_str(&format!("cluster_stats_messages_{}_sent:{n}\r\n", NAMES[i]));
            total += n;
        }
    }
    s.push_str(&format!("cluster_stats_messages_sent:{total}\r\n"));
    let mut total = 0;
    for (i, n) in st.stats_received.iter().enumerate() {
        if *n > 0 {
            s.push_str(&format!(
                "cluster_stats_messages_{}_received:{n}\r\n",
                NAMES[i]
            ));
            total += n;
        }
    }
    s.push_str(&format!("cluster_stats_messages_received:{total}\r\n"));
    s.push_str(&format!(
        "total_cluster_links_buffer_limit_exceeded:{}\r\n",
        c.links_buffer_limit_exceeded
    ));
    ctx.out().verbatim(s.as_bytes());
}

pub(super) fn myid(ctx: &mut Ctx) {
    let Some(c) = enabled(ctx) else { return };
    let name = c.state.myself;
    ctx.out().bulk(&name);
}

pub(super) fn nodes(ctx: &mut Ctx) {
    let tls_client = ctx.client.tls;
    let Some(c) = enabled(ctx) else { return };
    let text = cluster::conf::nodes_text(&c.state, c.use_pport(tls_client));
    ctx.out().verbatim(text.as_bytes());
}

/// One node in CLUSTER SLOTS: endpoint, port (`port`: the one the client
/// should use), id, and the other known addresses as a map.
pub(super) fn slots_node(out: &mut resp::Reply, n: &Node, port: u16, kind: &str) {
    out.array(4);
    if kind == "unknown-endpoint" {
        out.null();
    } else {
        out.bulk(preferred_endpoint(n, kind).as_bytes());
    }
    out.int(port as i64);
    out.bulk(&n.name);
    let ip_extra = kind != "ip";
    let host_extra = kind != "hostname" && !n.hostname.is_empty();
    out.map(usize::from(ip_extra) + usize::from(host_extra));
    if ip_extra {
        out.bulk(b"ip");
        out.bulk(n.ip.as_bytes());
    }
    if host_extra {
        out.bulk(b"hostname");
        out.bulk(n.hostname.as_bytes());
    }
}

/// A replica listed with its master's slots: not failed, and it has
/// replicated something (Redis's `isReplicaAvailable`).
pub(super) fn replica_available(st: &ClusterState, n: &Node, my_offset: i64) -> bool {
    if n.failed() {
        return false;
    }
    let off = if n.name == st.myself {
        my_offset
    } else {
        n.repl_offset as i64
    };
    off != 0
}

pub(super) fn slots(ctx: &mut Ctx) {
    if enabled(ctx).is_none() {
        return;
    }
    let kind = ctx
        .srv
        .config
        .get_str(Directive::ClusterPreferredEndpointType);
    let my_offset = server::replication::replica::announced_offset(ctx.srv);
    let tls_client = ctx.client.tls;
    let Some(c) = ctx.srv.cluster.as_deref() else {
        return;
    };
    let st = &c.state;
    let out = &mut ctx.client.out;
    let mark = out.mark();
    let mut count = 0;
    let mut s = 0;
    while s < SLOTS {
        let Some(owner) = st.slots[s] else {
            s += 1;
            continue;
        };
        let start = s;
        while s < SLOTS && st.slots[s] == Some(owner) {
            s += 1;
        }
        let Some(m) = st.node(&owner) else { continue };
        let reps: Vec<&Node> = st
            .replicas_of(&owner)
            .filter(|r| replica_available(st, r, my_offset))
            .collect();
        out.array(3 + reps.len());
        out.int(start as i64);
        out.int(s as i64 - 1);
        slots_node(out, m, c.client_port(m, tls_client), &kind);
        for r in reps {
            slots_node(out, r, c.client_port(r, tls_client), &kind);
        }
        count += 1;
    }
    out.insert_array_len(mark, count);
}

pub(super) fn shards(ctx: &mut Ctx) {
    if enabled(ctx).is_none() {
        return;
    }
    let kind = ctx
        .srv
        .config
        .get_str(Directive::ClusterPreferredEndpointType);
    let my_offset = server::replication::replica::announced_offset(ctx.srv);
    let Some(c) = ctx.srv.cluster.as_deref() else {
        return;
    };
    let st = &c.state;
    let out = &mut ctx.client.out;
    let masters: Vec<&Node> = st.nodes.iter().filter(|n| n.is_master()).collect();
    out.array(masters.len());
    for m in masters {
        out.map(2);
        out.bulk(b"slots");
        let ranges = m.slots.ranges();
        out.array(ranges.len() * 2);
        for (a, b) in ranges {
            out.int(a as i64);
            out.int(b as i64);
        }
        out.bulk(b"nodes");
        let members: Vec<&Node> = std::iter::once(m).chain(st.replicas_of(&m.name)).collect();
        out.array(members.len());
        for n in members {
            let offset = if n.name == st.myself {
                my_offset
            } else {
                n.repl_offset as i64
            };
            // In a TLS cluster a node's announced port is its TLS port
            // and `pport` the plain one (Redis's `addNodeDetailsToShardReply`).
            let (plain, tls_port) = if c.tls {
                (n.pport, n.port)
            } else {
                (n.port, 0)
            };
            let mut fields = 6 + usize::from(plain != 0) + usize::from(tls_port != 0);
            if !n.hostname.is_empty() {
                fields += 1;
            }
            out.map(fields);
            out.bulk(b"id");
            out.bulk(&n.name);
            if plain != 0 {
                out.bulk(b"port");
                out.int(plain as i64);
            }
            if tls_port != 0 {
                out.bulk(b"tls-port");
                out.int(tls_port as i64);
            }
            out.bulk(b"ip");
            out.bulk(n.ip.as_bytes());
            out.bulk(b"endpoint");
            out.bulk(preferred_endpoint(n, &kind).as_bytes());
            if !n.hostname.is_empty() {
                out.bulk(b"hostname");
                out.bulk(n.hostname.as_bytes());
            }
            out.bulk(b"role");
            out.bulk(if n.is_replica() {
                b"replica".as_slice()
            } else {
                b"master"
            });
            out.bulk(b"replication-offset");
            out.int(offset);
            out.bulk(b"health");
            let health: &[u8] = if n.failed() {
                b"fail"
            } else if n.is_replica() && offset == 0 {
                b"loading"
            } else {
                b"online"
            };
            out.bulk(health);
        }
    }
}

/// CLUSTER LINKS: our links to nodes ("to") and theirs to us ("from",
/// once they named themselves), with their send buffers: the bytes queued
/// and not yet taken by the socket, and the most they held lately.
pub(super) fn links(ctx: &mut Ctx) {
    let Some(c) = enabled(ctx) else { return };
    // (direction, node, created, bytes queued, buffer size)
    let mut rows: Vec<(&str, Name, u64, usize, usize)> = Vec::new();
    for (name, l) in &c.links {
        if c.state.node(name).is_some_and(|n| n.link_up) {
            let q = &l.out.queued;
            rows.push(("to", *name, l.created, q.used(), q.allocated()));
        }
    }
    for l in c.inbound.values() {
        if let Some(name) = l.node {
            rows.push((
                "from",
                name,
                l.created,
                l.queued.used(),
                l.queued.allocated(),
            ));
        }
    }
    rows.sort_by_key(|r| (r.1, r.0));
    let out = &mut ctx.client.out;
    out.array(rows.len());
    for (dir, name, created, used, allocated) in rows {
        out.map(6);
        out.bulk(b"direction");
        out.bulk(dir.as_bytes());
        out.bulk(b"node");
        out.bulk(&name);
        out.bulk(b"create-time");
        out.int(created as i64);
        out.bulk(b"events");
        out.bulk(if used > 0 { b"rw" } else { b"r" });
        out.bulk(b"send-buffer-allocated");
        out.int(allocated as i64);
        out.bulk(b"send-buffer-used");
        out.int(used as i64);
    }
}

pub(super) fn replicas(ctx: &mut Ctx) {
    if enabled(ctx).is_none() {
        return;
    }
    let Some(n) = lookup_or_err(ctx, 2) else {
        return;
    };
    let tls_client = ctx.client.tls;
    let Some(c) = ctx.srv.cluster.as_deref() else {
        return;
    };
    if c.state.node(&n).is_some_and(|n| n.is_replica()) {
        return ctx.err("ERR The specified node is not a master");
    }
    let lines: Vec<String> = c
        .state
        .replicas_of(&n)
        .map(|r| cluster::conf::client_node_line(&c.state, r, c.use_pport(tls_client)))
        .collect();
    let out = ctx.out();
    out.array(lines.len());
    for l in lines {
        out.bulk(l.as_bytes());
    }
}

pub(super) fn count_failure_reports(ctx: &mut Ctx) {
    if enabled(ctx).is_none() {
        return;
    }
    let Some(n) = lookup_or_err(ctx, 2) else {
        return;
    };
    let count = ctx
        .srv
        .cluster
        .as_deref()
        .and_then(|c| c.state.node(&n))
        .map_or(0, |n| n.fail_reports.len());
    ctx.out().int(count as i64);
}
