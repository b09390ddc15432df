//! Cluster mode in the engine (`cluster-enabled yes`): the node's cluster
//! state (the `cluster` crate's pure [`ClusterState`]), its `nodes.conf`,
//! the redirection check `cmd::execute` runs before a handler, the
//! `# Cluster` INFO section, and the bus (`bus.rs`: links to the other
//! nodes on the cluster port, the cron that pings them and detects
//! failures). The CLUSTER commands are the families' `cluster.rs`; they
//! change the state through this module.

pub mod bus;
pub mod config_file;
pub mod replica;

use crate::client::Client;
use crate::config::Directive;
use crate::server::Server;
use crate::{log_notice, log_warning};
use cluster::redirect::{self, Key, Query, Route};
use cluster::{ClusterState, Name, Node};
use command_meta::{flags, Argv, CommandMeta};
use std::collections::HashMap;

/// Everything cluster mode holds; `Server::cluster` is `Some` only with
/// `cluster-enabled yes`.
pub struct Cluster {
    pub state: ClusterState,
    pub file: config_file::NodesFile,
    /// Outgoing bus links, by node name.
    pub links: HashMap<Name, bus::Link>,
    /// Incoming bus connections open now, by link id.
    pub inbound: HashMap<u64, Inbound>,
    /// DEBUG DROP-CLUSTER-PACKET-FILTER: incoming messages of this type
    /// are ignored (-1: none).
    pub drop_packet_filter: i64,
    /// Links closed because their send buffer passed
    /// `cluster-link-sendbuf-limit` (CLUSTER INFO).
    pub links_buffer_limit_exceeded: u64,
    /// What this node announces: with `tls-cluster yes`, `port` is the
    /// TLS port and `pport` the plain one (0 when there is none).
    pub port: u16,
    pub pport: u16,
    pub cport: u16,
    /// `tls-cluster yes`: the bus speaks TLS, and clients on a plain
    /// connection are told the nodes' plain ports (`pport`).
    pub tls: bool,
    pub announce_ip: String,
    pub hostname: String,
    pub node_timeout: u64,
    /// Work the next cron (or the end of the command) does: save
    /// `nodes.conf`, recompute the state.
    pub todo_save: bool,
    pub todo_update_state: bool,
    pub iteration: u64,
    /// The slots our shard (we, or our master) served at the last
    /// `before_sleep`: shard channels of slots that leave it are dropped.
    pub served: cluster::node::SlotBits,
}

/// A connection another node opened to our bus.
pub struct Inbound {
    /// The node, once one of its messages named a sender we know.
    pub node: Option<Name>,
    /// When it was accepted, ms.
    pub created: u64,
    pub queued: bus::SendBuffer,
    /// Ends the link's task (DEBUG CLUSTERLINK KILL).
    pub kill: std::rc::Rc<tokio::sync::Notify>,
}

impl Cluster {
    /// Asks for `nodes.conf` to be saved and the state recomputed soon.
    pub fn changed(&mut self) {
        self.todo_save = true;
        self.todo_update_state = true;
    }

    /// Closes our link to `name` (`to`), its links to us (`from`), or
    /// both (DEBUG CLUSTERLINK KILL); the cron opens a new outgoing one.
    pub fn kill_links(&mut self, name: &Name, to: bool, from: bool) {
        if to && self.links.remove(name).is_some() {
            if let Some(n) = self.state.node_mut(name) {
                n.link_up = false;
            }
        }
        if from {
            self.inbound.retain(|_, l| {
                let theirs = l.node.as_ref() == Some(name);
                if theirs {
                    l.kill.notify_one();
                }
                !theirs
            });
        }
    }

    /// The `host:port` a client is redirected to (`-MOVED 3999 host:port`),
    /// by `cluster-preferred-endpoint-type`; `tls_client` says whether
    /// the client is on a TLS connection.
    pub fn endpoint(&self, n: &Node, kind: &str, tls_client: bool) -> String {
        format!(
            "{}:{}",
            preferred_endpoint(n, kind),
            self.client_port(n, tls_client)
        )
    }

    /// Whether a client gets the nodes' plain ports: in a TLS cluster,
    /// when it is on a plain connection (Redis's `use_pport`).
    pub fn use_pport(&self, tls_client: bool) -> bool {
        self.tls && !tls_client
    }

    /// The port a client should use for `n`: its plain port for a plain
    /// client of a TLS cluster, when it has one; else the one it
    /// announced.
    pub fn client_port(&self, n: &Node, tls_client: bool) -> u16 {
        n.client_port(self.use_pport(tls_client))
    }
}

/// A node's address as clients should use it.
pub fn preferred_endpoint<'a>(n: &'a Node, kind: &str) -> &'a str {
    match kind {
        "hostname" if !n.hostname.is_empty() => &n.hostname,
        "hostname" => "?",
        "unknown-endpoint" => "",
        _ => &n.ip,
    }
}

/// Sets cluster mode up at start-up: loads or creates `nodes.conf` (and
/// locks it), and starts keeping the per-slot key index of db 0. Errors
/// are Redis's start-up messages.
pub fn init(srv: &mut Server) -> Result<(), String> {
    let cfg = &srv.config;
    let path = cfg.get_str(Directive::ClusterConfigFile);
    let now = crate::util::time::unix_ms() as u64;
    let (file, mut state) = config_file::NodesFile::open(&path, now)?;
    let a = Announced::from_config(cfg);
    a.apply(state.me_mut());
    log_notice!(
        "Cluster state loaded; my node id is {}",
        state.me().name_str()
    );
    if let Some(db) = srv.dbs.get_mut(0) {
        db.enable_slot_index();
    }
    let mut c = Cluster {
        state,
        file,
        links: HashMap::new(),
        inbound: HashMap::new(),
        drop_packet_filter: -1,
        links_buffer_limit_exceeded: 0,
        port: a.port,
        pport: a.pport,
        cport: a.cport,
        tls: a.tls,
        announce_ip: a.ip,
        hostname: a.hostname,
        node_timeout: a.node_timeout,
        todo_save: true,
        todo_update_state: true,
        iteration: 0,
        served: cluster::node::SlotBits::default(),
    };
    c.file
        .save(&c.state)
        .map_err(|e| format!("Cluster: error writing the cluster config file: {e}"))?;
    c.todo_save = false;
    srv.cluster = Some(Box::new(c));
    Ok(())
}

/// What this node announces to the others, and its node timeout, as the
/// configuration says now (the `cluster-announce-*` directives and
/// `cluster-node-timeout` can change at run time).
struct Announced {
    port: u16,
    pport: u16,
    cport: u16,
    tls: bool,
    ip: String,
    hostname: String,
    node_timeout: u64,
}

impl Announced {
    /// Redis's `deriveAnnouncedPorts`: with `tls-cluster yes` the TLS
    /// port is the node's port (and the default bus port is derived from
    /// it), the plain port travels as `pport`; `cluster-announce-tls-port`
    /// and `cluster-announce-port` override them.
    fn from_config(cfg: &crate::config::Config) -> Announced {
        let tls = cfg.get_bool(Directive::TlsCluster);
        let plain = cfg.get_int(Directive::Port) as u16;
        let listening = listening_port(cfg);
        let announce_port = cfg.get_int(Directive::ClusterAnnouncePort) as u16;
        let announce_tls_port = cfg.get_int(Directive::ClusterAnnounceTlsPort) as u16;
        let announce_bus = cfg.get_int(Directive::ClusterAnnounceBusPort) as u16;
        let (port, pport) = if tls && announce_tls_port != 0 {
            (announce_tls_port, announce_port)
        } else if announce_port != 0 {
            (announce_port, if tls { plain } else { 0 })
        } else {
            (listening, if tls { plain } else { 0 })
        };
        Announced {
            port,
            pport,
            cport: if announce_bus != 0 {
                announce_bus
            } else {
                bus_port_of(cfg)
            },
            tls,
            ip: cfg.get_str(Directive::ClusterAnnounceIp),
            hostname: cfg.get_str(Directive::ClusterAnnounceHostname),
            node_timeout: cfg.get_int(Directive::ClusterNodeTimeout).max(1) as u64,
        }
    }

    /// Writes our announced address into our own node.
    fn apply(&self, me: &mut Node) {
        me.port = self.port;
        me.pport = self.pport;
        me.cport = self.cport;
        me.hostname.clone_from(&self.hostname);
        if !self.ip.is_empty() {
            me.ip.clone_from(&self.ip);
        }
    }
}

/// Takes in configuration changes made since the last cron (CONFIG SET of
/// the node timeout or of what we announce); a new address is saved and
/// reaches the other nodes with our next PINGs.
pub fn refresh_config(srv: &mut Server) {
    let a = Announced::from_config(&srv.config);
    let allow_migration = srv.config.get_bool(Directive::ClusterAllowReplicaMigration);
    let no_failover = srv.config.get_bool(Directive::ClusterReplicaNoFailover);
    let Some(c) = srv.cluster.as_deref_mut() else {
        return;
    };
    // cluster-replica-no-failover shows as our NOFAILOVER flag, which our
    // messages carry to the other nodes.
    let flag = if no_failover {
        cluster::flags::NOFAILOVER
    } else {
        0
    };
    let me = c.state.me_mut();
    if me.flags & cluster::flags::NOFAILOVER != flag {
        me.flags = (me.flags & !cluster::flags::NOFAILOVER) | flag;
        c.changed();
    }
    c.node_timeout = a.node_timeout;
    c.state.node_timeout = a.node_timeout;
    c.state.allow_replica_migration = allow_migration;
    c.tls = a.tls;
    if c.port != a.port
        || c.pport != a.pport
        || c.cport != a.cport
        || c.announce_ip != a.ip
        || c.hostname != a.hostname
    {
        a.apply(c.state.me_mut());
        c.port = a.port;
        c.pport = a.pport;
        c.cport = a.cport;
        c.announce_ip = a.ip;
        c.hostname = a.hostname;
        c.changed();
    }
}

/// INFO's `mem_cluster_links`: the bus links' send buffers and the
/// per-link bookkeeping (Redis counts its `clusterLink` structs and their
/// buffers).
pub fn links_memory(srv: &Server) -> usize {
    const PER_LINK: usize = 256;
    srv.cluster.as_deref().map_or(0, |c| {
        let to = c.links.values().map(|l| l.out.queued.allocated());
        let from = c.inbound.values().map(|l| l.queued.allocated());
        to.chain(from).map(|b| b + PER_LINK).sum()
    })
}

/// The port the bus listens on (`cluster-port`, or port + 10000).
pub fn bus_port(srv: &Server) -> u16 {
    bus_port_of(&srv.config)
}

/// The port clients reach the node on: the TLS port with `tls-cluster
/// yes`, else the plain one.
fn listening_port(cfg: &crate::config::Config) -> u16 {
    if cfg.get_bool(Directive::TlsCluster) {
        cfg.get_int(Directive::TlsPort) as u16
    } else {
        cfg.get_int(Directive::Port) as u16
    }
}

/// `cluster-port`, or the listening port + 10000 (the TLS port's with
/// `tls-cluster yes`, as in Redis).
fn bus_port_of(cfg: &crate::config::Config) -> u16 {
    let p = cfg.get_int(Directive::ClusterPort) as u16;
    if p != 0 {
        p
    } else {
        listening_port(cfg).wrapping_add(10000)
    }
}

/// Saves `nodes.conf` and recomputes the state when a change asked for it
/// (Redis's `clusterBeforeSleep`).
pub fn before_sleep(srv: &mut Server) {
    before_sleep_with(srv, false)
}

/// The same after a bus message: the state is recomputed at once, but a
/// save that changes no epoch waits for the next cron (at most 100 ms),
/// so a burst of messages costs one write of the file. Redis saves once
/// per turn of its event loop, and its fsync makes the messages of a
/// burst pile up into one turn; a resharding sends every node a PONG per
/// slot, and writing the file for each was most of a 20-node cluster's
/// work. A save that changes an epoch or a vote is never delayed: it must
/// be on disk before anything that depends on it goes out.
pub fn before_sleep_after_message(srv: &mut Server) {
    before_sleep_with(srv, true)
}

fn before_sleep_with(srv: &mut Server, defer_plain_save: bool) {
    let full = srv.config.get_bool(Directive::ClusterRequireFullCoverage);
    let now = srv.now_ms.max(0) as u64;
    let Some(c) = srv.cluster.as_deref_mut() else {
        return;
    };
    // Slots our shard stopped serving take their shard channels along
    // (every change of slots asks for a save).
    if c.todo_save || c.todo_update_state {
        let served = c.state.shard_slots();
        if served != c.served {
            let lost: std::collections::HashSet<u16> = (0..cluster::SLOTS)
                .filter(|&s| c.served.get(s) && !served.get(s))
                .map(|s| s as u16)
                .collect();
            c.served = served;
            if !lost.is_empty() {
                srv.drop_shard_channels_in(&lost);
            }
        }
    }
    let Some(c) = srv.cluster.as_deref_mut() else {
        return;
    };
    if c.todo_update_state {
        c.todo_update_state = false;
        let was = c.state.ok;
        c.state.update_state(now, full, c.node_timeout);
        if was != c.state.ok {
            log_notice!(
                "Cluster state changed: {}",
                if c.state.ok { "ok" } else { "fail" }
            );
        }
    }
    if c.todo_save && (!defer_plain_save || c.file.epochs_changed(&c.state)) {
        c.todo_save = false;
        if let Err(e) = c.file.save(&c.state) {
            log_warning!("Could not save the cluster configuration file: {e}");
        }
    }
}

/// Deletes the keys of slots this node no longer serves (after another
/// master with a newer config epoch claimed them), propagating the
/// deletions as `DEL`.
pub fn delete_keys_in_slots(srv: &mut Server, slots: &[u16]) {
    for &slot in slots {
        let keys: Vec<Vec<u8>> = match srv.dbs.first().and_then(|d| d.slot_index()) {
            Some(ix) => ix.keys_in(slot, usize::MAX).map(|k| k.to_vec()).collect(),
            None => continue,
        };
        for k in keys {
            if let Some(db) = srv.dbs.get_mut(0) {
                db.remove(&k);
            }
            srv.journal.propagate(0, &[b"DEL", &k]);
        }
    }
}

/// Makes this node a replica of `master` (CLUSTER REPLICATE, or our slots
/// went to a node that replaced us): the cluster flags change and
/// replication starts from the master's address (Redis's
/// `clusterSetMaster`).
pub fn set_my_master(srv: &mut Server, master: Name) {
    // A manual failover we were paused for is over.
    if srv
        .cluster
        .as_deref()
        .is_some_and(|c| c.state.mf_paused_until != 0)
    {
        end_failover_pause(srv);
    }
    let Some(c) = srv.cluster.as_deref_mut() else {
        return;
    };
    let Some((ip, port)) = c.state.node(&master).map(|n| (n.ip.clone(), n.port)) else {
        return;
    };
    let was_master = c.state.me().is_master();
    // Already following it: nothing to restart.
    if c.state.me().master == Some(master) && !was_master {
        return;
    }
    {
        let me = c.state.me_mut();
        me.flags = (me.flags & !(cluster::flags::MASTER | cluster::flags::MIGRATE_TO))
            | cluster::flags::SLAVE;
        me.master = Some(master);
    }
    if was_master {
        c.state.migrating.clear();
        c.state.importing.clear();
    }
    c.changed();
    log_notice!(
        "Configuration change detected. Reconfiguring myself as a replica of {}",
        String::from_utf8_lossy(&master)
    );
    crate::replication::replica::set_master(srv, ip, port);
}

/// A replica asked for a manual failover: writers wait (CLIENT PAUSE
/// WRITE) for up to twice the failover's time, as Redis pauses them.
pub fn start_failover_pause(srv: &mut Server) {
    let until = crate::util::time::unix_ms() + 2 * cluster::failover::MF_TIMEOUT_MS as i64;
    let all = srv.pause.all && srv.pause.until_ms > until;
    srv.pause = crate::clients::Pause {
        until_ms: srv.pause.until_ms.max(until),
        all,
    };
}

/// The manual failover ended (done, or timed out): writers go on.
pub fn end_failover_pause(srv: &mut Server) {
    if let Some(c) = srv.cluster.as_deref_mut() {
        c.state.mf_paused_until = 0;
    }
    srv.pause = crate::clients::Pause::default();
    srv.pause_notify.notify_waiters();
}

/// The `# Cluster` INFO section's body.
pub fn info_fields(srv: &Server) -> &'static str {
    if srv.cluster.is_some() {
        "cluster_enabled:1\r\n"
    } else {
        "cluster_enabled:0\r\n"
    }
}

/// Redis's cluster redirection, run by `cmd::execute` after the ACL check:
/// `Some(error)` when the command must not run here. Commands without
/// keys (and not EXEC) are never redirected; neither is our master's link
/// or the AOF.
pub fn redirection(
    srv: &Server,
    client: &Client,
    meta: &'static CommandMeta,
    cflags: u32,
    argv: Argv,
) -> Option<String> {
    let c = srv.cluster.as_deref()?;
    if client.is_master() || client.loading {
        return None;
    }
    let (route, _) = route(srv, client, meta, cflags, argv)?;
    if route == Route::Here {
        return None;
    }
    let kind = srv.config.get_str(Directive::ClusterPreferredEndpointType);
    Some(redirect::error_text(&c.state, &route, |n| {
        c.endpoint(n, &kind, client.tls)
    }))
}

/// Where the command's keys are served (Redis's `getNodeByQuery`), and
/// the slot of its first key; None without cluster mode, or for a command
/// without keys.
pub fn route(
    srv: &Server,
    client: &Client,
    meta: &'static CommandMeta,
    cflags: u32,
    argv: Argv,
) -> Option<(Route, Option<u16>)> {
    let c = srv.cluster.as_deref()?;
    let is_exec = meta.name == "exec";
    if !is_exec && meta.key_specs.is_empty() {
        return None;
    }
    let mut owned: Vec<(Vec<u8>, u16)> = Vec::new();
    let mut is_write = cflags & flags::WRITE != 0;
    let mut collect = |m: &CommandMeta, a: Argv| {
        let args: Vec<&[u8]> = a.iter().collect();
        // Shard channels (SPUBLISH, SSUBSCRIBE) are `not_key` specs that
        // still route by slot, as Redis's legacy key range takes them.
        let positions: Vec<usize> = if m.key_specs.iter().any(|ks| ks.flags.contains(&"not_key")) {
            command_meta::keys::key_positions(m, &args)
        } else {
            command_meta::keys::keys_with_flags(m, &args)
                .into_iter()
                .map(|(pos, _)| pos)
                .collect()
        };
        for pos in positions {
            let k = args[pos];
            owned.push((k.to_vec(), keyspace::key_hash_slot(k)));
        }
    };
    let mut is_pubsubshard = matches!(meta.name, "ssubscribe" | "sunsubscribe" | "spublish");
    if is_exec {
        let multi = client.multi.as_ref()?;
        is_write |= multi.cmd_flags & flags::WRITE != 0;
        for q in multi.queue.iter() {
            let Some(idx) = srv.commands.lookup(q.get(0)) else {
                continue;
            };
            let mut m = srv.commands.commands[idx].meta;
            if !srv.commands.commands[idx].subcommands.is_empty() && q.len() > 1 {
                if let Some(sub) = srv.commands.lookup_sub(idx, q.get(1)) {
                    m = srv.commands.commands[sub].meta;
                }
            }
            is_pubsubshard |= matches!(m.name, "ssubscribe" | "sunsubscribe" | "spublish");
            collect(m, q);
        }
    } else {
        collect(meta, argv);
    }
    let keys: Vec<Key> = owned
        .iter()
        .map(|(k, s)| Key { name: k, slot: *s })
        .collect();
    let q = Query {
        keys: &keys,
        is_write,
        asking: client.cluster_asking || meta.flags.contains(&"asking"),
        readonly: client.cluster_readonly,
        is_pubsubshard,
        is_migrate: meta.name == "migrate",
        allow_reads_when_down: srv.config.get_bool(Directive::ClusterAllowReadsWhenDown),
        allow_pubsubshard_when_down: srv
            .config
            .get_bool(Directive::ClusterAllowPubsubshardWhenDown),
    };
    let now = srv.now_ms;
    let route = redirect::route(&c.state, &q, |k| {
        srv.dbs
            .first()
            .and_then(|d| d.get(k))
            .is_some_and(|e| !e.is_expired(now))
    });
    Some((route, keys.first().map(|k| k.slot)))
}

/// The error that ends the wait of a client blocked on keys whose slot
/// moved away or while the cluster is down (checked by the clients cron,
/// as Redis's `clusterRedirectBlockedClientIfNeeded`); None to keep
/// waiting.
pub fn blocked_redirection(srv: &Server, client: &Client) -> Option<String> {
    use crate::blocking::WaitFor;
    let c = srv.cluster.as_deref()?;
    let b = client.blocked.as_ref()?;
    if !matches!(b.on, WaitFor::List | WaitFor::ZSet | WaitFor::Stream) {
        return None;
    }
    let slots: Vec<u16> = b.keys.iter().map(|k| keyspace::key_hash_slot(k)).collect();
    let is_write = b
        .argv
        .first()
        .and_then(|name| srv.commands.lookup(name))
        .is_some_and(|i| srv.commands.commands[i].meta.flags.contains(&"write"));
    let route = redirect::route_blocked(&c.state, &slots, client.cluster_readonly && !is_write);
    if route == Route::Here {
        return None;
    }
    let kind = srv.config.get_str(Directive::ClusterPreferredEndpointType);
    Some(redirect::error_text(&c.state, &route, |n| {
        c.endpoint(n, &kind, client.tls)
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    /// (port, pport, cport) announced under `directives`.
    fn announced(directives: &[(&str, &str)]) -> (u16, u16, u16) {
        let mut c = Config::new();
        for (k, v) in directives {
            c.set(k, &[v.to_string()]).unwrap();
        }
        let a = Announced::from_config(&c);
        (a.port, a.pport, a.cport)
    }

    #[test]
    fn announced_ports_are_derived_as_redis_does() {
        assert_eq!(announced(&[("port", "7000")]), (7000, 0, 17000));
        let tls = [
            ("port", "7000"),
            ("tls-port", "7100"),
            ("tls-cluster", "yes"),
        ];
        // The TLS port is the node's port; the bus port follows it.
        assert_eq!(announced(&tls), (7100, 7000, 17100));
        let mut only_tls = tls.to_vec();
        only_tls.extend([("port", "0"), ("cluster-port", "9000")]);
        assert_eq!(announced(&only_tls), (7100, 0, 9000));
        let mut all = tls.to_vec();
        all.extend([
            ("cluster-announce-tls-port", "8100"),
            ("cluster-announce-port", "8000"),
            ("cluster-announce-bus-port", "8200"),
        ]);
        assert_eq!(announced(&all), (8100, 8000, 8200));
        // Without an announced TLS port, cluster-announce-port replaces
        // the (TLS) port and the plain port stays the listening one.
        let mut plain = tls.to_vec();
        plain.push(("cluster-announce-port", "8000"));
        assert_eq!(announced(&plain), (8000, 7000, 17100));
    }
}
