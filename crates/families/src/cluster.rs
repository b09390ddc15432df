//! The cluster family: CLUSTER and its subcommands, READONLY, READWRITE
//! and ASKING. The state they read and change is the engine's
//! (`server::cluster`); a change asks for `nodes.conf` to be saved and the
//! cluster state recomputed, done before the reply is sent, as Redis's
//! `clusterBeforeSleep` does. Without `cluster-enabled yes` they all answer
//! Redis's "cluster support disabled" error.

use cluster::{flags, ClusterState, Name, Node, SLOTS};
use server::cluster::{bus, preferred_endpoint, Cluster};
use server::cmd::{Ctx, Handler};
use server::config::Directive;

pub const COMMANDS: &[(&str, Handler)] = &[
    ("cluster|help", help),
    ("cluster|info", info),
    ("cluster|myid", myid),
    ("cluster|nodes", nodes),
    ("cluster|slots", slots),
    ("cluster|shards", shards),
    ("cluster|keyslot", keyslot),
    ("cluster|countkeysinslot", countkeysinslot),
    ("cluster|getkeysinslot", getkeysinslot),
    ("cluster|addslots", addslots),
    ("cluster|delslots", delslots),
    ("cluster|addslotsrange", addslotsrange),
    ("cluster|delslotsrange", delslotsrange),
    ("cluster|flushslots", flushslots),
    ("cluster|setslot", setslot),
    ("cluster|reset", reset),
    ("cluster|saveconfig", saveconfig),
    ("cluster|set-config-epoch", set_config_epoch),
    ("cluster|bumpepoch", bumpepoch),
    ("cluster|meet", meet),
    ("cluster|forget", forget),
    ("cluster|replicate", replicate),
    ("cluster|failover", failover),
    ("cluster|links", links),
    ("cluster|replicas", replicas),
    ("cluster|slaves", replicas),
    ("cluster|count-failure-reports", count_failure_reports),
    ("readonly", readonly),
    ("readwrite", readwrite),
    ("asking", asking),
];

const DISABLED: &str = "ERR This instance has cluster support disabled";
const BAD_SLOT: &str = "ERR Invalid or out of range slot";

/// The cluster state, or the "disabled" error already sent.
fn enabled<'a>(ctx: &'a mut Ctx) -> Option<&'a mut Cluster> {
    if ctx.srv.cluster.is_none() {
        ctx.err(DISABLED);
        return None;
    }
    ctx.srv.cluster.as_deref_mut()
}

/// Saves and recomputes the state after a change, then replies OK.
fn changed_ok(ctx: &mut Ctx) {
    if let Some(c) = ctx.srv.cluster.as_deref_mut() {
        c.changed();
    }
    server::cluster::before_sleep(ctx.srv);
    ctx.out().ok();
}

fn parse_slot(arg: &[u8]) -> Option<usize> {
    resp::parse_i64(arg)
        .filter(|s| (0..SLOTS as i64).contains(s))
        .map(|s| s as usize)
}

fn name_text(n: &Name) -> String {
    String::from_utf8_lossy(n).into_owned()
}

fn help(ctx: &mut Ctx) {
    if enabled(ctx).is_none() {
        return;
    }
    const LINES: &[&str] = &[
        "CLUSTER <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "ADDSLOTS <slot> [<slot> ...]",
        "    Take ownership of the given hash slots.",
        "ADDSLOTSRANGE <start slot> <end slot> [<start slot> <end slot> ...]",
        "    Take ownership of the given ranges of hash slots.",
        "BUMPEPOCH",
        "    Take a new config epoch if ours is not the highest.",
        "COUNT-FAILURE-REPORTS <node-id>",
        "    How many masters currently report the node as failing.",
        "COUNTKEYSINSLOT <slot>",
        "    How many keys this node holds in the slot.",
        "DELSLOTS <slot> [<slot> ...]",
        "    Give up the given hash slots.",
        "DELSLOTSRANGE <start slot> <end slot> [<start slot> <end slot> ...]",
        "    Give up the given ranges of hash slots.",
        "FAILOVER [FORCE|TAKEOVER]",
        "    Run by a replica: take over its master (FORCE: without the master's",
        "    agreement; TAKEOVER: without any election).",
        "FLUSHSLOTS",
        "    Give up every slot (the dataset must be empty).",
        "FORGET <node-id>",
        "    Remove a node from this node's table for a minute.",
        "GETKEYSINSLOT <slot> <count>",
        "    Up to <count> key names held in the slot.",
        "INFO",
        "    The cluster's state and counters.",
        "KEYSLOT <key>",
        "    The hash slot of the key.",
        "LINKS",
        "    The bus connections to and from other nodes.",
        "MEET <ip> <port> [<bus-port>]",
        "    Join the node at that address into this cluster.",
        "MYID",
        "    This node's id.",
        "NODES",
        "    Every known node, one line each, in nodes.conf's format.",
        "REPLICATE <node-id>",
        "    Become a replica of the given master.",
        "REPLICAS <node-id>",
        "    The replicas of a master, in NODES format.",
        "RESET [HARD|SOFT]",
        "    Forget every other node and slot (HARD: also the epochs and our id).",
        "SAVECONFIG",
        "    Write nodes.conf now.",
        "SET-CONFIG-EPOCH <epoch>",
        "    Set the config epoch of a node that knows no other.",
        "SETSLOT <slot> (IMPORTING <node-id>|MIGRATING <node-id>|STABLE|NODE <node-id>)",
        "    Open, close or assign a slot during a migration.",
        "SHARDS",
        "    Every shard: its slots and nodes.",
        "SLAVES <node-id>",
        "    Same as REPLICAS.",
        "SLOTS",
        "    The slot ranges with the nodes serving them.",
        "HELP",
        "    This text.",
    ];
    let out = ctx.out();
    out.array(LINES.len());
    for l in LINES {
        out.simple(l.as_bytes());
    }
}

fn info(ctx: &mut Ctx) {
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
    s.push_str("total_cluster_links_buffer_limit_exceeded:0\r\n");
    ctx.out().verbatim(s.as_bytes());
}

fn myid(ctx: &mut Ctx) {
    let Some(c) = enabled(ctx) else { return };
    let name = c.state.myself;
    ctx.out().bulk(&name);
}

fn nodes(ctx: &mut Ctx) {
    let Some(c) = enabled(ctx) else { return };
    let text = cluster::conf::nodes_text(&c.state);
    ctx.out().verbatim(text.as_bytes());
}

/// One node in CLUSTER SLOTS: endpoint, port, id, and the other known
/// addresses as a map.
fn slots_node(out: &mut resp::Reply, n: &Node, kind: &str) {
    out.array(4);
    if kind == "unknown-endpoint" {
        out.null();
    } else {
        out.bulk(preferred_endpoint(n, kind).as_bytes());
    }
    out.int(n.port as i64);
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
fn replica_available(st: &ClusterState, n: &Node, my_offset: i64) -> bool {
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

fn slots(ctx: &mut Ctx) {
    if enabled(ctx).is_none() {
        return;
    }
    let kind = ctx
        .srv
        .config
        .get_str(Directive::ClusterPreferredEndpointType);
    let my_offset = ctx.srv.repl.master_repl_offset();
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
        slots_node(out, m, &kind);
        for r in reps {
            slots_node(out, r, &kind);
        }
        count += 1;
    }
    out.insert_array_len(mark, count);
}

fn shards(ctx: &mut Ctx) {
    if enabled(ctx).is_none() {
        return;
    }
    let kind = ctx
        .srv
        .config
        .get_str(Directive::ClusterPreferredEndpointType);
    let my_offset = ctx.srv.repl.master_repl_offset();
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
            let mut fields = 6;
            if !n.hostname.is_empty() {
                fields += 1;
            }
            out.map(fields);
            out.bulk(b"id");
            out.bulk(&n.name);
            out.bulk(b"port");
            out.int(n.port as i64);
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

fn keyslot(ctx: &mut Ctx) {
    if enabled(ctx).is_none() {
        return;
    }
    let k = ctx.argv.get(2);
    ctx.out().int(keyspace::key_hash_slot(k) as i64);
}

fn count_in_slot(ctx: &Ctx, slot: u16) -> u32 {
    ctx.srv
        .dbs
        .first()
        .and_then(|d| d.slot_index())
        .map_or(0, |ix| ix.count(slot))
}

fn countkeysinslot(ctx: &mut Ctx) {
    if enabled(ctx).is_none() {
        return;
    }
    let Some(slot) = resp::parse_i64(ctx.argv.get(2)) else {
        return ctx.err(server::errors::NOT_INTEGER);
    };
    if !(0..SLOTS as i64).contains(&slot) {
        return ctx.err("ERR Invalid slot");
    }
    let n = count_in_slot(ctx, slot as u16);
    ctx.out().int(n as i64);
}

fn getkeysinslot(ctx: &mut Ctx) {
    if enabled(ctx).is_none() {
        return;
    }
    let (Some(slot), Some(max)) = (
        resp::parse_i64(ctx.argv.get(2)),
        resp::parse_i64(ctx.argv.get(3)),
    ) else {
        return ctx.err(server::errors::NOT_INTEGER);
    };
    if !(0..SLOTS as i64).contains(&slot) || max < 0 {
        return ctx.err("ERR Invalid slot or number of keys");
    }
    let keys: Vec<Vec<u8>> = ctx
        .srv
        .dbs
        .first()
        .and_then(|d| d.slot_index())
        .map(|ix| {
            ix.keys_in(slot as u16, max as usize)
                .map(|k| k.to_vec())
                .collect()
        })
        .unwrap_or_default();
    let out = ctx.out();
    out.array(keys.len());
    for k in keys {
        out.bulk(&k);
    }
}

/// ADDSLOTS/DELSLOTS and their RANGE forms: every slot is checked before
/// any changes, with Redis's errors.
fn update_slots(ctx: &mut Ctx, ranges: &[(usize, usize)], del: bool) {
    let Some(c) = ctx.srv.cluster.as_deref_mut() else {
        return;
    };
    let mut seen = vec![false; SLOTS];
    let mut problem = None;
    for &(a, b) in ranges {
        problem = (a..=b).find_map(|s| slot_problem(&c.state, &mut seen, s, del));
        if problem.is_some() {
            break;
        }
    }
    if let Some(p) = problem {
        return ctx.err(&p);
    }
    let me = c.state.myself;
    for (s, _) in seen.iter().enumerate().filter(|(_, on)| **on) {
        if del {
            c.state.del_slot(s);
        } else {
            // Owning the slot ends its import.
            c.state.importing.remove(&(s as u16));
            c.state.add_slot(s, &me);
        }
    }
    changed_ok(ctx);
}

/// Why `slot` cannot be added (or deleted), Redis's checks in its order.
fn slot_problem(st: &ClusterState, seen: &mut [bool], slot: usize, del: bool) -> Option<String> {
    let owned = st.slots[slot].is_some();
    if del && !owned {
        return Some(format!("ERR Slot {slot} is already unassigned"));
    }
    if !del && owned {
        return Some(format!("ERR Slot {slot} is already busy"));
    }
    if std::mem::replace(&mut seen[slot], true) {
        return Some(format!("ERR Slot {slot} specified multiple times"));
    }
    None
}

fn addslots_or_del(ctx: &mut Ctx, del: bool) {
    if enabled(ctx).is_none() {
        return;
    }
    let mut ranges = Vec::new();
    for a in ctx.argv.from(2) {
        match parse_slot(a) {
            Some(s) => ranges.push((s, s)),
            None => return ctx.err(BAD_SLOT),
        }
    }
    update_slots(ctx, &ranges, del);
}

fn addslots(ctx: &mut Ctx) {
    addslots_or_del(ctx, false)
}

fn delslots(ctx: &mut Ctx) {
    addslots_or_del(ctx, true)
}

fn range_or_del(ctx: &mut Ctx, del: bool) {
    if enabled(ctx).is_none() {
        return;
    }
    if ctx.argv.len() % 2 == 1 {
        return ctx.err_arity();
    }
    let mut ranges = Vec::new();
    let args: Vec<&[u8]> = ctx.argv.from(2).collect();
    for pair in args.chunks(2) {
        let Some(a) = parse_slot(pair[0]) else {
            return ctx.err(BAD_SLOT);
        };
        let Some(b) = parse_slot(pair[1]) else {
            return ctx.err(BAD_SLOT);
        };
        if a > b {
            return ctx.err(&format!(
                "ERR start slot number {a} is greater than end slot number {b}"
            ));
        }
        ranges.push((a, b));
    }
    update_slots(ctx, &ranges, del);
}

fn addslotsrange(ctx: &mut Ctx) {
    range_or_del(ctx, false)
}

fn delslotsrange(ctx: &mut Ctx) {
    range_or_del(ctx, true)
}

fn flushslots(ctx: &mut Ctx) {
    if enabled(ctx).is_none() {
        return;
    }
    if ctx.srv.dbs.first().is_some_and(|d| !d.is_empty()) {
        return ctx.err("ERR DB must be empty to perform CLUSTER FLUSHSLOTS.");
    }
    if let Some(c) = ctx.srv.cluster.as_deref_mut() {
        let me = c.state.myself;
        for s in 0..SLOTS {
            if c.state.slots[s] == Some(me) {
                c.state.del_slot(s);
            }
        }
    }
    changed_ok(ctx);
}

fn setslot(ctx: &mut Ctx) {
    if enabled(ctx).is_none() {
        return;
    }
    let is_replica = ctx
        .srv
        .cluster
        .as_deref()
        .is_some_and(|c| c.state.me().is_replica());
    if is_replica {
        return ctx.err("ERR Please use SETSLOT only with masters.");
    }
    let Some(slot) = parse_slot(ctx.argv.get(2)) else {
        return ctx.err(BAD_SLOT);
    };
    let action = ctx.argv.get(3).to_ascii_lowercase();
    let argc = ctx.argv.len();
    let target = if argc > 4 {
        ctx.argv.get(4).to_vec()
    } else {
        Vec::new()
    };
    let keys = count_in_slot(ctx, slot as u16);
    let Some(c) = ctx.srv.cluster.as_deref_mut() else {
        return;
    };
    let me = c.state.myself;
    let lookup = |st: &ClusterState| st.node_by_text(&target).map(|n| (n.name, n.is_replica()));
    let shown = String::from_utf8_lossy(&target).into_owned();
    match (action.as_slice(), argc) {
        (b"migrating", 5) => {
            if c.state.slots[slot] != Some(me) {
                return ctx.err(&format!("ERR I'm not the owner of hash slot {slot}"));
            }
            match lookup(&c.state) {
                None => return ctx.err(&format!("ERR I don't know about node {shown}")),
                Some((_, true)) => return ctx.err("ERR Target node is not a master"),
                Some((n, false)) => {
                    c.state.migrating.insert(slot as u16, n);
                }
            }
        }
        (b"importing", 5) => {
            if c.state.slots[slot] == Some(me) {
                return ctx.err(&format!("ERR I'm already the owner of hash slot {slot}"));
            }
            match lookup(&c.state) {
                None => return ctx.err(&format!("ERR I don't know about node {shown}")),
                Some((_, true)) => return ctx.err("ERR Target node is not a master"),
                Some((n, false)) => {
                    c.state.importing.insert(slot as u16, n);
                }
            }
        }
        (b"stable", 4) => {
            c.state.migrating.remove(&(slot as u16));
            c.state.importing.remove(&(slot as u16));
        }
        (b"node", 5) => {
            let n = match lookup(&c.state) {
                None => return ctx.err(&format!("ERR Unknown node {shown}")),
                Some((_, true)) => return ctx.err("ERR Target node is not a master"),
                Some((n, false)) => n,
            };
            if c.state.slots[slot] == Some(me) && n != me && keys != 0 {
                return ctx.err(&format!(
                    "ERR Can't assign hashslot {slot} to a different node while I still hold keys for this hash slot."
                ));
            }
            if keys == 0 {
                c.state.migrating.remove(&(slot as u16));
            }
            c.state.del_slot(slot);
            c.state.add_slot(slot, &n);
            // The import is over: take a new config epoch so the cluster
            // learns this node now owns the slot, and tell everyone.
            if n == me && c.state.importing.remove(&(slot as u16)).is_some() {
                if c.state.bump_epoch() {
                    server::log_warning!("configEpoch updated after importing slot {slot}");
                }
                c.changed();
                server::cluster::before_sleep(ctx.srv);
                bus::broadcast_pong(ctx.srv);
                ctx.out().ok();
                return;
            }
        }
        _ => {
            return ctx.err(
                "ERR Invalid CLUSTER SETSLOT action or number of arguments. Try CLUSTER HELP",
            );
        }
    }
    changed_ok(ctx);
}

fn reset(ctx: &mut Ctx) {
    if enabled(ctx).is_none() {
        return;
    }
    let hard = match ctx.argv.len() {
        2 => false,
        _ => match ctx.argv.get(2).to_ascii_lowercase().as_slice() {
            b"hard" => true,
            b"soft" => false,
            _ => return ctx.err(server::errors::SYNTAX),
        },
    };
    let is_master = ctx
        .srv
        .cluster
        .as_deref()
        .is_some_and(|c| c.state.me().is_master());
    let db_index = ctx.client.db;
    if is_master && ctx.srv.dbs.get(db_index).is_some_and(|d| !d.is_empty()) {
        return ctx.err("ERR CLUSTER RESET can't be called with master nodes containing keys");
    }
    // A replica turns into an empty master first.
    if !is_master {
        if let Some(c) = ctx.srv.cluster.as_deref_mut() {
            let me = c.state.me_mut();
            me.flags = (me.flags & !flags::SLAVE) | flags::MASTER;
            me.master = None;
        }
        server::replication::replica::unset_master(ctx.srv);
        for db in 0..ctx.srv.dbs.len() {
            ctx.srv.touch_all_watched_keys_in_db(db, None);
            ctx.srv.dbs[db].clear();
        }
        ctx.srv.tracking_invalidate_all();
    }
    let Some(c) = ctx.srv.cluster.as_deref_mut() else {
        return;
    };
    c.state.migrating.clear();
    c.state.importing.clear();
    for s in 0..SLOTS {
        c.state.del_slot(s);
    }
    let others: Vec<Name> = c
        .state
        .nodes
        .iter()
        .filter(|n| !n.is_myself())
        .map(|n| n.name)
        .collect();
    for n in others {
        c.state.del_node(&n);
        c.links.remove(&n);
    }
    if hard {
        c.state.current_epoch = 0;
        c.state.last_vote_epoch = 0;
        let new = cluster::node::random_name();
        let me = c.state.me_mut();
        me.config_epoch = 0;
        me.name = new;
        c.state.myself = new;
        server::log_warning!("configEpoch set to 0 via CLUSTER RESET HARD");
        server::log_notice!("Node hard reset, now I'm {}", name_text(&new));
    }
    changed_ok(ctx);
}

fn saveconfig(ctx: &mut Ctx) {
    let Some(c) = enabled(ctx) else { return };
    match c.file.save(&c.state) {
        Ok(()) => ctx.out().ok(),
        Err(e) => ctx.err(&format!("ERR error saving the cluster node config: {e}")),
    }
}

fn set_config_epoch(ctx: &mut Ctx) {
    if enabled(ctx).is_none() {
        return;
    }
    let Some(epoch) = resp::parse_i64(ctx.argv.get(2)) else {
        return ctx.err(server::errors::NOT_INTEGER);
    };
    let Some(c) = ctx.srv.cluster.as_deref_mut() else {
        return;
    };
    if epoch < 0 {
        return ctx.err(&format!("ERR Invalid config epoch specified: {epoch}"));
    }
    if c.state.nodes.len() > 1 {
        return ctx.err("ERR The user can assign a config epoch only when the node does not know any other node.");
    }
    if c.state.me().config_epoch != 0 {
        return ctx.err("ERR Node config epoch is already non-zero");
    }
    c.state.me_mut().config_epoch = epoch as u64;
    c.state.current_epoch = c.state.current_epoch.max(epoch as u64);
    server::log_warning!("configEpoch set to {epoch} via CLUSTER SET-CONFIG-EPOCH");
    changed_ok(ctx);
}

fn bumpepoch(ctx: &mut Ctx) {
    let Some(c) = enabled(ctx) else { return };
    let bumped = c.state.bump_epoch();
    let epoch = c.state.me().config_epoch;
    c.changed();
    server::cluster::before_sleep(ctx.srv);
    let text = format!("{} {epoch}", if bumped { "BUMPED" } else { "STILL" });
    ctx.out().simple(text.as_bytes());
}

fn meet(ctx: &mut Ctx) {
    if enabled(ctx).is_none() {
        return;
    }
    let argc = ctx.argv.len();
    if argc != 4 && argc != 5 {
        return ctx.err_arity();
    }
    let host = String::from_utf8_lossy(ctx.argv.get(2)).into_owned();
    let port_arg = String::from_utf8_lossy(ctx.argv.get(3)).into_owned();
    let Some(port) = resp::parse_i64(ctx.argv.get(3)) else {
        return ctx.err(&format!("ERR Invalid TCP base port specified: {port_arg}"));
    };
    let cport = if argc == 5 {
        match resp::parse_i64(ctx.argv.get(4)) {
            Some(p) => p,
            None => {
                let a = String::from_utf8_lossy(ctx.argv.get(4)).into_owned();
                return ctx.err(&format!("ERR Invalid TCP bus port specified: {a}"));
            }
        }
    } else {
        port + 10000
    };
    // Redis accepts numeric addresses only, and ports in range.
    let ip: Option<std::net::IpAddr> = host.parse().ok();
    let (Some(ip), true, true) = (
        ip,
        (1..=65535).contains(&port),
        (1..=65535).contains(&cport),
    ) else {
        return ctx.err(&format!(
            "ERR Invalid node address specified: {host}:{port_arg}"
        ));
    };
    let now = ctx.srv.now_ms.max(0) as u64;
    if let Some(c) = ctx.srv.cluster.as_deref_mut() {
        c.state
            .start_handshake(&ip.to_string(), port as u16, cport as u16, now);
    }
    ctx.out().ok();
}

fn lookup_or_err(ctx: &mut Ctx, arg: usize) -> Option<Name> {
    let text = ctx.argv.get(arg).to_vec();
    let found = ctx
        .srv
        .cluster
        .as_deref()
        .and_then(|c| c.state.node_by_text(&text))
        .map(|n| n.name);
    if found.is_none() {
        ctx.err(&format!(
            "ERR Unknown node {}",
            String::from_utf8_lossy(&text)
        ));
    }
    found
}

fn forget(ctx: &mut Ctx) {
    if enabled(ctx).is_none() {
        return;
    }
    let Some(n) = lookup_or_err(ctx, 2) else {
        return;
    };
    let now = ctx.srv.now_ms.max(0) as u64;
    let Some(c) = ctx.srv.cluster.as_deref_mut() else {
        return;
    };
    if n == c.state.myself {
        return ctx.err("ERR I tried hard but I can't forget myself...");
    }
    if c.state.me().is_replica() && c.state.me().master == Some(n) {
        return ctx.err("ERR Can't forget my master!");
    }
    c.state.forget(&n, now);
    c.links.remove(&n);
    changed_ok(ctx);
}

fn replicate(ctx: &mut Ctx) {
    if enabled(ctx).is_none() {
        return;
    }
    let Some(n) = lookup_or_err(ctx, 2) else {
        return;
    };
    let db_empty = ctx.srv.dbs.first().is_none_or(|d| d.is_empty());
    let Some(c) = ctx.srv.cluster.as_deref() else {
        return;
    };
    if n == c.state.myself {
        return ctx.err("ERR Can't replicate myself");
    }
    if c.state.node(&n).is_some_and(|n| n.is_replica()) {
        return ctx.err("ERR I can only replicate a master, not a replica.");
    }
    let me = c.state.me();
    if me.is_master() && (me.slots.count() != 0 || !db_empty) {
        return ctx.err("ERR To set a master the node must be empty and without assigned slots.");
    }
    server::cluster::set_my_master(ctx.srv, n);
    changed_ok(ctx);
}

/// CLUSTER FAILOVER [FORCE|TAKEOVER]: plain, the master pauses its
/// writers and the replica takes over once it applied everything; FORCE
/// skips the master's part; TAKEOVER skips the election too.
fn failover(ctx: &mut Ctx) {
    if enabled(ctx).is_none() {
        return;
    }
    let (force, takeover) = match ctx.argv.len() {
        2 => (false, false),
        _ => match ctx.argv.get(2).to_ascii_lowercase().as_slice() {
            b"force" => (true, false),
            b"takeover" => (true, true),
            _ => return ctx.err(server::errors::SYNTAX),
        },
    };
    let now = ctx.srv.now_ms.max(0) as u64;
    let Some(c) = ctx.srv.cluster.as_deref_mut() else {
        return;
    };
    let me = c.state.me();
    if me.is_master() {
        return ctx.err("ERR You should send CLUSTER FAILOVER to a replica");
    }
    let Some(master) = me.master.and_then(|m| c.state.node(&m)) else {
        return ctx.err("ERR I'm a replica but my master is unknown to me");
    };
    if !force && (master.failed() || !master.link_up) {
        return ctx.err("ERR Master is down or failed, please use CLUSTER FAILOVER FORCE");
    }
    let master_name = master.name;
    if takeover {
        server::log_warning!("Taking over the master (user request).");
        c.state.takeover();
        bus::promoted(ctx.srv);
    } else if force {
        server::log_warning!("Forced failover user request accepted.");
        c.state.start_manual_failover(now, true);
    } else {
        server::log_warning!("Manual failover user request accepted.");
        c.state.start_manual_failover(now, false);
        // The master pauses its writers and tells us its final offset.
        bus::send_to(ctx.srv, &master_name, cluster::msg::types::MFSTART);
    }
    ctx.out().ok();
}

/// CLUSTER LINKS: our links to nodes ("to") and theirs to us ("from",
/// once they named themselves). Messages are handed to the socket as they
/// are queued, so the send buffers are reported empty.
fn links(ctx: &mut Ctx) {
    let Some(c) = enabled(ctx) else { return };
    let mut rows: Vec<(&str, Name, u64)> = Vec::new();
    for (name, l) in &c.links {
        if c.state.node(name).is_some_and(|n| n.link_up) {
            rows.push(("to", *name, l.created));
        }
    }
    for (name, created) in c.inbound.values() {
        if let Some(name) = name {
            rows.push(("from", *name, *created));
        }
    }
    rows.sort_by_key(|r| (r.1, r.0));
    let out = &mut ctx.client.out;
    out.array(rows.len());
    for (dir, name, created) in rows {
        out.map(6);
        out.bulk(b"direction");
        out.bulk(dir.as_bytes());
        out.bulk(b"node");
        out.bulk(&name);
        out.bulk(b"create-time");
        out.int(created as i64);
        out.bulk(b"events");
        out.bulk(b"r");
        out.bulk(b"send-buffer-allocated");
        out.int(0);
        out.bulk(b"send-buffer-used");
        out.int(0);
    }
}

fn replicas(ctx: &mut Ctx) {
    if enabled(ctx).is_none() {
        return;
    }
    let Some(n) = lookup_or_err(ctx, 2) else {
        return;
    };
    let Some(c) = ctx.srv.cluster.as_deref() else {
        return;
    };
    if c.state.node(&n).is_some_and(|n| n.is_replica()) {
        return ctx.err("ERR The specified node is not a master");
    }
    let lines: Vec<String> = c
        .state
        .replicas_of(&n)
        .map(|r| cluster::conf::node_line(&c.state, r))
        .collect();
    let out = ctx.out();
    out.array(lines.len());
    for l in lines {
        out.bulk(l.as_bytes());
    }
}

fn count_failure_reports(ctx: &mut Ctx) {
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

fn readonly(ctx: &mut Ctx) {
    if enabled(ctx).is_none() {
        return;
    }
    ctx.client.cluster_readonly = true;
    ctx.out().ok();
}

fn readwrite(ctx: &mut Ctx) {
    if enabled(ctx).is_none() {
        return;
    }
    ctx.client.cluster_readonly = false;
    ctx.out().ok();
}

fn asking(ctx: &mut Ctx) {
    if enabled(ctx).is_none() {
        return;
    }
    ctx.client.cluster_asking = true;
    ctx.client.cluster_asking_set_now = true;
    ctx.out().ok();
}
