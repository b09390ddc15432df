//! The cluster family: CLUSTER and its subcommands, READONLY, READWRITE
//! and ASKING. The state they read and change is the engine's
//! (`server::cluster`); a change asks for `nodes.conf` to be saved and the
//! cluster state recomputed, done before the reply is sent, as Redis's
//! `clusterBeforeSleep` does. Without `cluster-enabled yes` they all answer
//! Redis's "cluster support disabled" error.

mod slots;
mod topology;
mod views;

use cluster::{Name, SLOTS};
use server::cluster::Cluster;
use server::cmd::{Ctx, Handler};
use slots::{
    addslots, addslotsrange, countkeysinslot, delslots, delslotsrange, flushslots, getkeysinslot,
    keyslot, setslot,
};
use topology::{bumpepoch, failover, forget, meet, replicate, reset, saveconfig, set_config_epoch};
use views::{count_failure_reports, info, links, myid, nodes, replicas, shards, slots};

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
