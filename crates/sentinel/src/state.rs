//! What a sentinel knows: the masters it monitors, their replicas and the
//! other sentinels, with the timers and flags of Redis Sentinel's model.
//!
//! This is plain data, owned by the shell and changed only by the pure
//! core (`monitor`, `down`, `election`, `failover`, `hello`, `info`): no
//! socket, clock or process lives here. A link is represented by what the
//! core knows of it (its generation, whether it is up, how many replies it
//! owes); the shell holds the real connection under the same generation.
//! The randomness the decisions use (vote desynchronisation) is a seeded
//! generator in the state, so a test can fix it.

use rand::rngs::SmallRng;
use rand::SeedableRng;
use std::collections::BTreeMap;

/// Periods and timeouts, in milliseconds. Redis's defaults; `SENTINEL
/// DEBUG` changes them at run time (tests shorten them).
#[derive(Debug, Clone)]
pub struct Timing {
    pub info_period: i64,
    pub ping_period: i64,
    pub ask_period: i64,
    pub publish_period: i64,
    pub default_down_after: i64,
    pub tilt_trigger: i64,
    pub tilt_period: i64,
    pub slave_reconf_timeout: i64,
    pub min_link_reconnect_period: i64,
    pub default_failover_timeout: i64,
    pub election_timeout: i64,
    pub script_max_runtime: i64,
    pub script_retry_delay: i64,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            info_period: 10_000,
            ping_period: 1_000,
            ask_period: 1_000,
            publish_period: 2_000,
            default_down_after: 30_000,
            tilt_trigger: 2_000,
            tilt_period: 30_000,
            slave_reconf_timeout: 10_000,
            min_link_reconnect_period: 15_000,
            default_failover_timeout: 180_000,
            election_timeout: 10_000,
            script_max_runtime: 60_000,
            script_retry_delay: 30_000,
        }
    }
}

/// An instance's address as Redis Sentinel keeps it: the host as it was
/// given (by the config, a command, an INFO reply or a hello; a hostname
/// or an IP) and the IP it resolved to. Links connect to the IP; what is
/// shown and sent to others is one or the other (`announce-hostnames`,
/// see [`Sentinel::announce`]).
#[derive(Debug, Clone)]
pub struct Addr {
    pub host: String,
    /// Empty when the host could not be resolved (kept so only with
    /// `resolve-hostnames yes`; a later connection attempt resolves again).
    pub ip: String,
    pub port: u16,
}

impl Addr {
    /// An address whose host needs no resolving: an IP literal (its IP is
    /// itself), anything else is left unresolved.
    pub fn new(host: &str, port: u16) -> Addr {
        let ip = if is_ip(host) { host } else { "" };
        Addr::resolved(host, ip, port)
    }

    pub fn resolved(host: &str, ip: &str, port: u16) -> Addr {
        Addr {
            host: host.to_string(),
            ip: ip.to_string(),
            port,
        }
    }

    /// Where a link connects: the IP, or the host if it never resolved.
    pub fn connect_host(&self) -> &str {
        if self.ip.is_empty() {
            &self.host
        } else {
            &self.ip
        }
    }
}

/// The same instance: same port, and the same IP or the same host name
/// (Redis's `sentinelAddrOrHostnameEqual`).
impl PartialEq for Addr {
    fn eq(&self, other: &Addr) -> bool {
        self.port == other.port
            && ((!self.ip.is_empty() && self.ip == other.ip)
                || self.host.eq_ignore_ascii_case(&other.host))
    }
}

impl Eq for Addr {}

impl std::fmt::Display for Addr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.host, self.port)
    }
}

/// Whether `host` is an IP address (hostnames need `resolve-hostnames`).
pub fn is_ip(host: &str) -> bool {
    host.parse::<std::net::IpAddr>().is_ok()
}

fn announce_and_port(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// The system resolver: the first address `host` resolves to.
pub fn resolve_with_dns(host: &str) -> Option<String> {
    use std::net::ToSocketAddrs;
    (host, 0)
        .to_socket_addrs()
        .ok()?
        .next()
        .map(|a| a.ip().to_string())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Master,
    Replica,
    Sentinel,
}

impl Kind {
    pub fn word(self) -> &'static str {
        match self {
            Kind::Master => "master",
            Kind::Replica => "slave",
            Kind::Sentinel => "sentinel",
        }
    }
}

/// One connection to an instance as the core sees it. It exists from the
/// moment the core asks for it (`Action::Connect`): commands may be queued
/// at once and are written when the connection is up, as with hiredis.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// Tells this connection's events from those of an older one to the
    /// same instance (a closed link can still deliver its last events).
    pub gen: u64,
    /// The connection is established (TCP, and TLS when used).
    pub connected: bool,
    /// When it was established.
    pub since: i64,
    /// Commands sent whose replies have not arrived yet (command link).
    pub pending: usize,
    /// Our address on this connection: what hello messages announce when
    /// `announce-ip` is not set.
    pub local_ip: String,
}

impl Link {
    pub fn new(gen: u64) -> Link {
        Link {
            gen,
            connected: false,
            since: 0,
            pending: 0,
            local_ip: String::new(),
        }
    }
}

/// The two connections a sentinel keeps to an instance.
#[derive(Debug, Default)]
pub struct Links {
    pub cmd: Option<Link>,
    pub pubsub: Option<Link>,
    pub pubsub_last_activity: i64,
    pub last_reconn_time: i64,
    /// When the oldest unanswered PING was sent (0: none pending).
    pub act_ping_time: i64,
    pub last_ping_time: i64,
    pub last_pong_time: i64,
    /// Last time the instance answered a PING properly.
    pub last_avail_time: i64,
}

impl Links {
    /// The command link is established.
    pub fn cmd_connected(&self) -> bool {
        self.cmd.as_ref().is_some_and(|l| l.connected)
    }

    pub fn pending(&self) -> usize {
        self.cmd.as_ref().map(|l| l.pending).unwrap_or(0)
    }
}

/// Whether this sentinel sees an instance down. Subjectively: it has not
/// answered our PINGs properly for `down-after-milliseconds` (or a master
/// reports itself a replica, or reboots for too long). Objectively: at
/// least `quorum` sentinels, us included, see it subjectively down — only
/// masters are ever asked about, so only a master gets there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Down {
    Up,
    Subjectively { since: i64 },
    Objectively { sdown_since: i64, odown_since: i64 },
}

impl Down {
    /// When it was last seen going subjectively down (0: up).
    pub fn sdown_since(self) -> i64 {
        match self {
            Down::Up => 0,
            Down::Subjectively { since } => since,
            Down::Objectively { sdown_since, .. } => sdown_since,
        }
    }

    /// When it became objectively down (0: not objectively down).
    pub fn odown_since(self) -> i64 {
        match self {
            Down::Objectively { odown_since, .. } => odown_since,
            _ => 0,
        }
    }
}

/// Progress of a replica's reconfiguration during a failover.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reconf {
    None,
    Sent(i64),
    InProg,
    Done,
}

/// A monitored instance: the master itself, one of its replicas, or
/// another sentinel watching it.
#[derive(Debug)]
pub struct Instance {
    pub id: u64,
    pub kind: Kind,
    /// `ip:port` for replicas, the run id for sentinels, the name for masters.
    pub name: String,
    pub addr: Addr,
    pub runid: Option<String>,
    pub links: Links,
    pub down: Down,
    pub down_after: i64,
    pub info_refresh: i64,
    pub info: String,
    /// Role from the last INFO (`true`: master).
    pub role_master: bool,
    pub role_reported_time: i64,
    pub last_pub_time: i64,
    pub script_kill_sent: bool,
    /// A master seen rebooting (run id changed) and not yet answering PONG
    /// (`master-reboot-down-after-period`): since when.
    pub master_reboot_since: i64,
    // Replica fields, from INFO.
    pub master_link_down_time: i64,
    pub master_link_up: bool,
    pub slave_master_host: String,
    pub slave_master_port: u16,
    /// When the replica last reported a different master address.
    pub slave_conf_change_time: i64,
    pub slave_priority: i64,
    pub slave_repl_offset: u64,
    pub replica_announced: bool,
    pub reconf: Reconf,
    pub promoted: bool,
    /// Asked for a fresh INFO before a replica is chosen: when.
    pub fresh_info_asked: i64,
    // Sentinel peer fields.
    pub last_hello_time: i64,
    pub leader: Option<String>,
    pub leader_epoch: u64,
    pub master_down: bool,
    pub last_master_down_reply_time: i64,
    pub asked_at: i64,
    /// A peer sentinel is a Redoubt one (its `INFO server` shows
    /// `redoubt_version`): None until its answer, asked once per link
    /// generation (the one in `redoubt_asked`). Only Redoubt sentinels
    /// grant the lease (`lease`).
    pub redoubt: Option<bool>,
    pub redoubt_asked: Option<u64>,
}

impl Instance {
    pub fn new(id: u64, kind: Kind, name: String, addr: Addr, now: i64, down_after: i64) -> Self {
        Instance {
            id,
            kind,
            name,
            addr,
            runid: None,
            links: Links {
                last_avail_time: now,
                last_pong_time: now,
                ..Default::default()
            },
            down: Down::Up,
            down_after,
            info_refresh: 0,
            info: String::new(),
            role_master: kind == Kind::Master,
            role_reported_time: now,
            last_pub_time: now,
            script_kill_sent: false,
            master_reboot_since: 0,
            master_link_down_time: 0,
            master_link_up: false,
            slave_master_host: String::new(),
            slave_master_port: 0,
            slave_conf_change_time: now,
            slave_priority: 100,
            slave_repl_offset: 0,
            replica_announced: true,
            reconf: Reconf::None,
            promoted: false,
            fresh_info_asked: 0,
            last_hello_time: now,
            leader: None,
            leader_epoch: 0,
            master_down: false,
            last_master_down_reply_time: now,
            asked_at: 0,
            redoubt: None,
            redoubt_asked: None,
        }
    }

    pub fn s_down(&self) -> bool {
        self.down != Down::Up
    }

    pub fn o_down(&self) -> bool {
        matches!(self.down, Down::Objectively { .. })
    }

    /// A link the instance needs is missing, not even being established
    /// (Redis's `disconnected` flag): the command link, and for masters
    /// and replicas the Pub/Sub link too. It lasts from a link's end to
    /// the next attempt, at most once per ping period.
    pub fn disconnected(&self) -> bool {
        self.links.cmd.is_none() || (self.kind != Kind::Sentinel && self.links.pubsub.is_none())
    }

    /// Forgets both connections (the caller emits the matching
    /// `Action::Close`s, see `Out::close_links`); the timer reconnects.
    pub fn forget_links(&mut self) {
        self.links.cmd = None;
        self.links.pubsub = None;
        self.links.act_ping_time = 0;
    }
}

/// The failover state machine, in the order the steps run (the order is
/// used: from `ReconfSlaves` on, the promoted replica is the master).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Failover {
    None,
    WaitStart,
    SelectSlave,
    SendSlaveofNoone,
    WaitPromotion,
    ReconfSlaves,
    UpdateConfig,
}

impl Failover {
    pub fn name(self) -> &'static str {
        match self {
            Failover::None => "none",
            Failover::WaitStart => "wait_start",
            Failover::SelectSlave => "select_slave",
            Failover::SendSlaveofNoone => "send_slaveof_noone",
            Failover::WaitPromotion => "wait_promotion",
            Failover::ReconfSlaves => "reconf_slaves",
            Failover::UpdateConfig => "update_config",
        }
    }
}

/// How this sentinel sees a master, from healthy to being failed over.
/// A failover, once started, runs whatever the master's health does next
/// (and `SENTINEL FAILOVER` starts one on a healthy master), so it wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MasterView {
    Up,
    SubjectivelyDown,
    ObjectivelyDown,
    FailoverInProgress(Failover),
}

/// A monitored master with everything hanging off it.
#[derive(Debug)]
pub struct Master {
    pub inst: Instance,
    pub quorum: u32,
    pub failover_timeout: i64,
    pub parallel_syncs: i64,
    pub auth_pass: Option<String>,
    pub auth_user: Option<String>,
    pub notification_script: Option<String>,
    pub client_reconfig_script: Option<String>,
    pub master_reboot_down_after: i64,
    /// Commands renamed on the instances (`sentinel rename-command`).
    pub renamed: Vec<(String, String)>,
    pub config_epoch: u64,
    pub leader: Option<String>,
    pub leader_epoch: u64,
    pub failover: Failover,
    pub failover_epoch: u64,
    pub failover_state_change_time: i64,
    pub failover_start_time: i64,
    pub failover_delay_logged: i64,
    pub force_failover: bool,
    /// Our vote request for this failover went out.
    pub vote_asked: bool,
    /// When fresh INFO was asked of the replicas before choosing one.
    pub select_started: i64,
    /// A manual failover paused the master's writes and asked for its
    /// INFO then (0: not paused by us).
    pub pause_asked: i64,
    /// Id of the replica being promoted.
    pub promoted: Option<u64>,
    /// The lease we grant this master (`lease`).
    pub lease: crate::lease::LeaseGrant,
    /// Master address changes this sentinel has applied (its own
    /// failovers and others' it learnt of), for the metrics.
    pub failovers: u64,
    pub replicas: Vec<Instance>,
    pub sentinels: Vec<Instance>,
}

impl Master {
    pub fn in_failover(&self) -> bool {
        self.failover != Failover::None
    }

    pub fn view(&self) -> MasterView {
        if self.in_failover() {
            MasterView::FailoverInProgress(self.failover)
        } else if self.inst.o_down() {
            MasterView::ObjectivelyDown
        } else if self.inst.s_down() {
            MasterView::SubjectivelyDown
        } else {
            MasterView::Up
        }
    }

    /// `ok`, `sdown` or `odown`: the status word of INFO and the metrics.
    pub fn status_word(&self) -> &'static str {
        if self.inst.o_down() {
            "odown"
        } else if self.inst.s_down() {
            "sdown"
        } else {
            "ok"
        }
    }

    /// The address clients should use: the promoted replica's once the
    /// promotion is done, the master's otherwise.
    pub fn current_addr(&self) -> &Addr {
        if self.failover >= Failover::ReconfSlaves {
            if let Some(p) = self.promoted_replica() {
                return &p.addr;
            }
        }
        &self.inst.addr
    }

    pub fn promoted_replica(&self) -> Option<&Instance> {
        let id = self.promoted?;
        self.replicas.iter().find(|r| r.id == id)
    }

    /// The instance with this id: the master, a replica or a sentinel.
    pub fn instance(&self, id: u64) -> Option<&Instance> {
        std::iter::once(&self.inst)
            .chain(self.replicas.iter())
            .chain(self.sentinels.iter())
            .find(|i| i.id == id)
    }

    /// The instance with this id, mutably.
    pub fn instance_mut(&mut self, id: u64) -> Option<&mut Instance> {
        if self.inst.id == id {
            return Some(&mut self.inst);
        }
        self.replicas
            .iter_mut()
            .chain(self.sentinels.iter_mut())
            .find(|i| i.id == id)
    }

    pub fn command_name<'a>(&'a self, cmd: &'a str) -> &'a str {
        self.renamed
            .iter()
            .find(|(from, _)| from.eq_ignore_ascii_case(cmd))
            .map(|(_, to)| to.as_str())
            .unwrap_or(cmd)
    }
}

/// Global sentinel settings (`sentinel announce-ip` and friends).
#[derive(Debug, Clone, Default)]
pub struct Globals {
    pub announce_ip: Option<String>,
    pub announce_port: u16,
    pub resolve_hostnames: bool,
    pub announce_hostnames: bool,
    pub sentinel_user: Option<String>,
    pub sentinel_pass: Option<String>,
    pub deny_scripts_reconfig: bool,
}

/// A script waiting to run or running (`notification-script`,
/// `client-reconfig-script`).
#[derive(Debug, Clone)]
pub struct Script {
    pub path: String,
    pub args: Vec<String>,
    pub retries: u32,
    pub start_time: i64,
    pub running: bool,
    pub pid: u32,
}

/// Everything one sentinel knows.
#[derive(Debug)]
pub struct Sentinel {
    pub myid: String,
    pub current_epoch: u64,
    pub masters: BTreeMap<String, Master>,
    pub globals: Globals,
    pub timing: Timing,
    pub tilt: bool,
    pub tilt_start_time: i64,
    pub previous_time: i64,
    pub simfailure_flags: u32,
    pub scripts: Vec<Script>,
    pub next_id: u64,
    pub config_file: std::path::PathBuf,
    /// Our own port, announced in hello messages.
    pub port: u16,
    /// `requirepass`, used between sentinels when `sentinel-pass` is unset.
    pub requirepass: Option<String>,
    /// Source of the random delays that keep sentinels from acting in
    /// lockstep; seeded from the OS, or fixed by a test.
    pub rng: SmallRng,
    /// Resolves a hostname under `resolve-hostnames yes` (the system's
    /// resolver; a test plays DNS with its own).
    pub resolver: fn(&str) -> Option<String>,
    /// Our monotonic clock (ms) at the event being handled, set by the
    /// shell before each call into the core (tests set it by hand). Only
    /// the lease counts with it (`lease`): its rules must not bend when
    /// the wall clock steps.
    pub mono: i64,
}

pub const SIMFAILURE_CRASH_AFTER_ELECTION: u32 = 1;
pub const SIMFAILURE_CRASH_AFTER_PROMOTION: u32 = 2;

impl Sentinel {
    pub fn new(config_file: std::path::PathBuf, port: u16) -> Sentinel {
        Sentinel {
            myid: String::new(),
            current_epoch: 0,
            masters: BTreeMap::new(),
            globals: Globals::default(),
            timing: Timing::default(),
            tilt: false,
            tilt_start_time: 0,
            previous_time: 0,
            simfailure_flags: 0,
            scripts: Vec::new(),
            next_id: 1,
            config_file,
            port,
            requirepass: None,
            rng: SmallRng::from_entropy(),
            resolver: resolve_with_dns,
            mono: 0,
        }
    }

    /// An address for `host`, resolved as Redis's `createSentinelAddr`
    /// does: an IP is taken as it is; a hostname is resolved only with
    /// `resolve-hostnames yes`. `None` when it cannot be resolved, unless
    /// `accept_unresolved` (and `resolve-hostnames yes`): the address is
    /// then kept with no IP and resolved again at the next connection.
    pub fn make_addr(&self, host: &str, port: u16, accept_unresolved: bool) -> Option<Addr> {
        if is_ip(host) {
            return Some(Addr::new(host, port));
        }
        if !self.globals.resolve_hostnames {
            return None;
        }
        match (self.resolver)(host) {
            Some(ip) => Some(Addr::resolved(host, &ip, port)),
            None if accept_unresolved => Some(Addr::resolved(host, "", port)),
            None => None,
        }
    }

    /// Whether `host` names address `a` (Redis's
    /// `sentinelAddrEqualsHostname`): compared by IP once resolved, by name
    /// when it does not resolve.
    pub fn addr_is(&self, a: &Addr, host: &str) -> bool {
        match self.make_addr(host, a.port, false) {
            Some(b) => a.ip.eq_ignore_ascii_case(&b.ip),
            None if self.globals.resolve_hostnames => a.host.eq_ignore_ascii_case(host),
            None => a.ip.eq_ignore_ascii_case(host),
        }
    }

    /// What others are told of an address: its host name with
    /// `announce-hostnames yes`, its IP otherwise.
    pub fn announce<'a>(&self, a: &'a Addr) -> &'a str {
        if self.globals.announce_hostnames {
            &a.host
        } else {
            &a.ip
        }
    }

    /// `host:port` as announced, an IPv6 address in brackets: how a
    /// replica is named.
    pub fn announce_and_port(&self, a: &Addr) -> String {
        announce_and_port(self.announce(a), a.port)
    }

    pub fn next_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// A new master entry; `Err` carries Redis's reason.
    pub fn add_master(
        &mut self,
        name: &str,
        host: &str,
        port: i64,
        quorum: u32,
        now: i64,
    ) -> Result<(), &'static str> {
        if self.masters.contains_key(name) {
            return Err("Duplicate master name.");
        }
        if !(1..=65535).contains(&port) {
            return Err("Invalid port number");
        }
        let Some(addr) = self.make_addr(host, port as u16, true) else {
            return Err("Can't resolve instance hostname.");
        };
        let id = self.next_id();
        let inst = Instance::new(
            id,
            Kind::Master,
            name.to_string(),
            addr,
            now,
            self.timing.default_down_after,
        );
        self.masters.insert(
            name.to_string(),
            Master {
                inst,
                quorum,
                failover_timeout: self.timing.default_failover_timeout,
                parallel_syncs: 1,
                auth_pass: None,
                auth_user: None,
                notification_script: None,
                client_reconfig_script: None,
                master_reboot_down_after: 0,
                renamed: Vec::new(),
                config_epoch: 0,
                leader: None,
                leader_epoch: 0,
                failover: Failover::None,
                failover_epoch: 0,
                failover_state_change_time: 0,
                failover_start_time: 0,
                failover_delay_logged: 0,
                force_failover: false,
                vote_asked: false,
                select_started: 0,
                pause_asked: 0,
                promoted: None,
                lease: Default::default(),
                failovers: 0,
                replicas: Vec::new(),
                sentinels: Vec::new(),
            },
        );
        Ok(())
    }

    /// Adds a replica to `master` unless one with that address exists;
    /// returns its id when it was new.
    pub fn add_replica(&mut self, master: &str, addr: Addr, now: i64) -> Option<u64> {
        let id = self.next_id();
        let m = self.masters.get_mut(master)?;
        if m.replicas.iter().any(|r| r.addr == addr) || m.inst.addr == addr {
            return None;
        }
        let down_after = m.inst.down_after;
        let name = if self.globals.announce_hostnames {
            announce_and_port(&addr.host, addr.port)
        } else {
            announce_and_port(&addr.ip, addr.port)
        };
        m.replicas.push(Instance::new(
            id,
            Kind::Replica,
            name,
            addr,
            now,
            down_after,
        ));
        Some(id)
    }

    pub fn add_sentinel(
        &mut self,
        master: &str,
        addr: Addr,
        runid: Option<String>,
        now: i64,
    ) -> Option<u64> {
        let id = self.next_id();
        let m = self.masters.get_mut(master)?;
        let down_after = m.inst.down_after;
        let name = runid.clone().unwrap_or_else(|| addr.to_string());
        let mut s = Instance::new(id, Kind::Sentinel, name, addr, now, down_after);
        s.runid = runid;
        m.sentinels.push(s);
        Some(id)
    }

    /// Finds an instance anywhere by id: (master name, instance).
    pub fn find_mut(&mut self, id: u64) -> Option<(String, &mut Instance)> {
        for (name, m) in self.masters.iter_mut() {
            if let Some(i) = m.instance_mut(id) {
                return Some((name.clone(), i));
            }
        }
        None
    }

    /// The password and user to authenticate with to an instance.
    pub fn credentials(&self, master: &Master, kind: Kind) -> (Option<String>, Option<String>) {
        match kind {
            Kind::Sentinel => {
                let pass = self
                    .globals
                    .sentinel_pass
                    .clone()
                    .or_else(|| self.requirepass.clone());
                (self.globals.sentinel_user.clone(), pass)
            }
            _ => (master.auth_user.clone(), master.auth_pass.clone()),
        }
    }
}
