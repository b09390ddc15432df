//! The server state owned by the executor: databases, command table,
//! journal, clients, statistics, and the periodic cron (active expiry,
//! client timeouts).
//!
//! All of it lives on one thread and is reached through `&mut Server`,
//! passed explicitly; there is no global.

use crate::client::Client;
use crate::cmd::CommandTable;
use crate::config::Config;
use crate::config::Directive;
use crate::journal::Journal;
use crate::stats::{InstMetrics, SlowlogEntry, Stats};
use command_meta::{Argv, CommandMeta};
use keyspace::lru::AccessClock;
use keyspace::{Db, ExpireCycle};
use rand::rngs::SmallRng;
use rand::SeedableRng;
use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};
use std::rc::Rc;
use std::time::Instant;

/// Knobs `DEBUG` turns for tests, as Redis keeps them in its server
/// struct; none is a configuration directive.
#[derive(Debug, Clone)]
pub struct DebugSettings {
    /// `DEBUG PAUSE-CRON 1`: the periodic cron does nothing.
    pub pause_cron: bool,
    /// `DEBUG SET-SKIP-CHECKSUM-VALIDATION 1`: RESTORE payloads and RDB
    /// files are taken without checking their CRC64.
    pub skip_checksum_validation: bool,
    /// `DEBUG QUICKLIST-PACKED-THRESHOLD`: list elements at least this
    /// large count as "plain" nodes (their own chunk).
    pub quicklist_packed_threshold: u64,
    /// `DEBUG AOF-FLUSH-SLEEP <us>`: each AOF flush waits this long first.
    pub aof_flush_sleep_us: u64,
}

impl Default for DebugSettings {
    fn default() -> Self {
        DebugSettings {
            pause_cron: false,
            skip_checksum_validation: false,
            quicklist_packed_threshold: 1 << 30,
            aof_flush_sleep_us: 0,
        }
    }
}

pub struct Server {
    pub config: Config,
    pub dbs: Vec<Db>,
    pub commands: CommandTable,
    pub journal: Journal,
    pub stats: Stats,
    pub clients: BTreeMap<u64, Rc<RefCell<Client>>>,
    next_client_id: u64,
    /// Cached clock for the command being run (Redis's `server.mstime`).
    pub now_ms: i64,
    pub now_us: i64,
    /// Access stamp given to keys created now: the seconds LRU clock, or
    /// the initial LFU stamp under an LFU policy (see `keyspace::lru`).
    pub lru_clock: u32,
    /// How access stamps are kept, from `maxmemory-policy`.
    pub access_clock: AccessClock,
    /// Changes since the last save.
    pub dirty: u64,
    pub started: Instant,
    pub start_time_ms: i64,
    pub run_id: String,
    pub rng: SmallRng,
    pub slowlog: VecDeque<SlowlogEntry>,
    pub slowlog_next_id: u64,
    /// Enabled keyspace notification classes (`notify-keyspace-events`,
    /// bits of `notify::class`).
    pub notify_keyspace_events: u32,
    /// Encoding thresholds of the collection types (`hash-max-listpack-*`
    /// and friends).
    pub encoding_limits: keyspace::EncodingLimits,
    /// Cached settings read on hot paths.
    pub hz: u32,
    pub proto_max_bulk_len: i64,
    pub client_query_buffer_limit: usize,
    pub maxclients: usize,
    pub timeout_secs: i64,
    pub slowlog_slower_than: i64,
    pub slowlog_max_len: usize,
    pub lazyfree_lazy_expire: bool,
    pub lazyfree_lazy_user_del: bool,
    pub lazyfree_lazy_server_del: bool,
    /// The lazy-free thread and its counters (see `lazyfree`).
    pub lazyfree: crate::lazyfree::LazyFree,
    /// Active expiry on or off (`DEBUG SET-ACTIVE-EXPIRE`).
    pub active_expire_enabled: bool,
    /// Set once a shutdown finished: the process exits, and no command
    /// runs any more.
    pub shutdown_requested: bool,
    /// A shutdown waiting for replicas (see `shutdown`).
    pub shutdown: crate::shutdown::Shutdown,
    /// Woken by `SHUTDOWN` to stop the server.
    pub shutdown_notify: Rc<tokio::sync::Notify>,
    /// Replication id reported by `INFO replication` (random per start).
    pub master_replid: String,
    /// Allocated bytes right after start-up, and the highest seen since.
    pub mem_startup: u64,
    pub mem_peak: u64,
    /// Samples behind `instantaneous_ops_per_sec` and friends.
    pub inst_metrics: InstMetrics,
    /// `CLIENT PAUSE` state; paused connections wait on `pause_notify`.
    pub pause: crate::clients::Pause,
    pub pause_notify: Rc<tokio::sync::Notify>,
    /// Ids of clients in MONITOR mode, fed by `after_command`.
    pub monitors: Vec<u64>,
    /// `LATENCY` events and the cached `latency-monitor-threshold`.
    pub latency: crate::latency::LatencyMonitor,
    pub latency_threshold_ms: i64,
    /// Per-command latency histograms (`INFO latencystats`), kept while
    /// `latency-tracking` is on, and the percentiles INFO reports
    /// (`latency-tracking-info-percentiles`).
    pub latency_hist: crate::latency::LatencyHistograms,
    pub latency_tracking: bool,
    pub latency_percentiles: Vec<f64>,
    /// Pub/Sub channels and patterns with their subscribers.
    pub pubsub: crate::pubsub::PubSub,
    /// Client-side caching tables (`CLIENT TRACKING`).
    pub tracking: crate::tracking::Tracking,
    /// TCP listeners, replaced by `CONFIG SET port/bind`.
    pub listeners: crate::listeners::Listeners,
    /// WATCHed keys and the transactions they guard.
    pub watches: crate::multi::Watches,
    /// RDB saving and loading state.
    pub persist: crate::persistence::PersistState,
    /// A start-up step failed (e.g. a corrupt RDB): exit with status 1.
    pub fatal: bool,
    /// Clients blocked on keys (BLPOP & co.) and keys ready to serve them.
    pub blocking: crate::blocking::Blocking,
    /// `maxmemory` settings, the eviction pool and the background task's
    /// state (see `evict`).
    pub evictor: crate::evict::Evictor,
    /// Replication: backlog, attached replicas, WAITing clients.
    pub repl: crate::replication::ReplState,
    /// Users and the ACL log (see `acl`).
    pub acl: crate::acl::Acl,
    /// The append-only file (see `persistence::aof`).
    pub aof: crate::persistence::aof::AofState,
    /// TLS material for `tls-port` connections and outgoing links (`None`
    /// when no `tls-*` setting asks for TLS); replaced on `CONFIG SET`.
    pub tls: Option<std::sync::Arc<crate::tls::TlsContext>>,
    /// The state of the mode the server runs in (Sentinel's), for that
    /// mode's command handlers; the engine never looks inside.
    pub mode_state: Option<Rc<dyn std::any::Any>>,
    /// Cluster mode's state (`cluster-enabled yes`), see `cluster`.
    pub cluster: Option<Box<crate::cluster::Cluster>>,
    /// `DEBUG`'s test knobs.
    pub debug: DebugSettings,
    /// `client-output-buffer-limit` of the normal and pubsub classes
    /// (the replica class is enforced by `replication::master`).
    pub obuf_limits: crate::net::OutputLimits,
    /// Lua scripts and function libraries (see `scripting`).
    pub scripting: crate::scripting::Scripting,
    /// MIGRATE's cached connections to its targets.
    pub migrate: crate::migrate::MigrateLinks,
    /// What the clients hold, and `maxmemory-clients` (see
    /// `client_memory`).
    pub clients_memory: crate::client_memory::ClientsMemory,
    /// `DEBUG REPLYBUFFER`'s settings for the clients cron.
    pub reply_buffer: crate::client_buffers::ReplyBufferSettings,
    /// Where the clients cron resumes (the id after the last it visited).
    pub clients_cron_cursor: u64,
    /// The biggest query buffer and reply list the clients cron saw, per
    /// second over the last few (INFO `client_recent_max_*`).
    pub client_peaks: crate::clients_cron::RecentPeaks,
}

/// The cron's frequency: `hz`, doubled (up to 500) for as long as there
/// are more than 200 clients per tick, under `dynamic-hz` (Redis's rule:
/// with many clients the per-tick work on them stays small). INFO shows it
/// as `hz`, next to `configured_hz`.
pub fn dynamic_hz(configured: i64, dynamic: bool, clients: usize) -> u32 {
    const MAX_CLIENTS_PER_TICK: usize = 200;
    const MAX_HZ: u32 = 500;
    let mut hz = configured.clamp(1, i64::from(MAX_HZ)) as u32;
    if dynamic {
        while clients / hz as usize > MAX_CLIENTS_PER_TICK {
            hz *= 2;
            if hz > MAX_HZ {
                hz = MAX_HZ;
                break;
            }
        }
    }
    hz
}

fn unix_now() -> (i64, i64) {
    let us = crate::util::time::unix_us();
    (us / 1000, us)
}

impl Server {
    /// A server for `config`, serving the engine's commands and those of
    /// `families` (the binary passes `families::FAMILIES`).
    pub fn new(config: Config, families: &[crate::cmd::HandlerTable]) -> Server {
        let (ms, us) = unix_now();
        let mut rng = SmallRng::from_entropy();
        let run_id = crate::util::ids::new_id40(&mut rng);
        let master_replid = crate::util::ids::new_id40(&mut rng);
        let ndb = config.get_int(Directive::Databases).max(1) as usize;
        let commands = CommandTable::build(&config.renames, families, config.mode);
        let mut s = Server {
            dbs: (0..ndb).map(|_| Db::new()).collect(),
            commands,
            journal: Journal::default(),
            stats: Stats::default(),
            clients: BTreeMap::new(),
            next_client_id: 1,
            now_ms: ms,
            now_us: us,
            lru_clock: (ms / 1000) as u32 & 0xFF_FFFF,
            access_clock: AccessClock::Lru,
            dirty: 0,
            started: Instant::now(),
            start_time_ms: ms,
            run_id,
            rng,
            slowlog: VecDeque::new(),
            slowlog_next_id: 0,
            hz: 10,
            proto_max_bulk_len: 512 << 20,
            client_query_buffer_limit: 1 << 30,
            maxclients: 10000,
            timeout_secs: 0,
            slowlog_slower_than: 10000,
            slowlog_max_len: 128,
            lazyfree_lazy_expire: false,
            lazyfree_lazy_user_del: false,
            lazyfree_lazy_server_del: false,
            lazyfree: Default::default(),
            active_expire_enabled: true,
            shutdown_requested: false,
            shutdown: Default::default(),
            notify_keyspace_events: 0,
            encoding_limits: keyspace::EncodingLimits::default(),
            shutdown_notify: Rc::new(tokio::sync::Notify::new()),
            master_replid,
            mem_startup: 0,
            mem_peak: 0,
            inst_metrics: Default::default(),
            pause: Default::default(),
            pause_notify: Rc::new(tokio::sync::Notify::new()),
            monitors: Vec::new(),
            latency: Default::default(),
            latency_threshold_ms: 0,
            latency_hist: Default::default(),
            latency_tracking: true,
            latency_percentiles: Vec::new(),
            pubsub: Default::default(),
            tracking: Default::default(),
            listeners: Default::default(),
            watches: Default::default(),
            persist: crate::persistence::PersistState::new(ms / 1000),
            fatal: false,
            blocking: Default::default(),
            evictor: Default::default(),
            repl: Default::default(),
            acl: Default::default(),
            aof: Default::default(),
            tls: None,
            obuf_limits: Default::default(),
            migrate: Default::default(),
            clients_memory: Default::default(),
            reply_buffer: Default::default(),
            clients_cron_cursor: 0,
            client_peaks: Default::default(),
            mode_state: None,
            cluster: None,
            debug: DebugSettings::default(),
            scripting: crate::scripting::Scripting::new(
                config.get_bool(Directive::LuaEnableDeprecatedApi),
            ),
            config,
        };
        let sink = s.repl.sink();
        s.journal.add_sink(sink);
        let aof_sink = s.aof.sink();
        s.journal.add_sink(aof_sink);
        s.apply_config();
        s.mem_startup = crate::alloc::allocated() as u64;
        s.mem_peak = s.mem_startup;
        s
    }

    /// Copies settings read on hot paths into typed fields. Called at start
    /// and after every `CONFIG SET`.
    pub fn apply_config(&mut self) {
        let c = &self.config;
        self.hz = c.get_int(Directive::Hz).clamp(1, 500) as u32;
        self.proto_max_bulk_len = c.get_int(Directive::ProtoMaxBulkLen);
        self.client_query_buffer_limit = c.get_int(Directive::ClientQueryBufferLimit) as usize;
        self.maxclients = c.get_int(Directive::Maxclients) as usize;
        self.timeout_secs = c.get_int(Directive::Timeout);
        self.slowlog_slower_than = c.get_int(Directive::SlowlogLogSlowerThan);
        self.slowlog_max_len = c.get_int(Directive::SlowlogMaxLen) as usize;
        self.lazyfree_lazy_expire = c.get_bool(Directive::LazyfreeLazyExpire);
        let size = |d: Directive| c.get_int(d).max(0) as usize;
        self.encoding_limits = keyspace::EncodingLimits {
            hash_max_listpack_entries: size(Directive::HashMaxListpackEntries),
            hash_max_listpack_value: size(Directive::HashMaxListpackValue),
            set_max_intset_entries: size(Directive::SetMaxIntsetEntries),
            zset_max_listpack_entries: size(Directive::ZsetMaxListpackEntries),
            zset_max_listpack_value: size(Directive::ZsetMaxListpackValue),
            list_max_listpack_size: c.get_int(Directive::ListMaxListpackSize),
            list_compress_depth: c
                .get_int(Directive::ListCompressDepth)
                .clamp(0, i64::from(u32::MAX)) as u32,
            stream_node: keyspace::stream::NodeLimits {
                max_bytes: c.get_int(Directive::StreamNodeMaxBytes).max(0) as u64,
                max_entries: c.get_int(Directive::StreamNodeMaxEntries).max(0) as u64,
            },
        };
        self.access_clock = if c.get_str(Directive::MaxmemoryPolicy).ends_with("-lfu") {
            let u32_of = |d: Directive| c.get_int(d).clamp(0, i64::from(u32::MAX)) as u32;
            AccessClock::Lfu {
                log_factor: u32_of(Directive::LfuLogFactor),
                decay_minutes: u32_of(Directive::LfuDecayTime),
            }
        } else {
            AccessClock::Lru
        };
        self.lru_clock = self.access_clock.new_stamp(self.now_ms);
        self.latency_threshold_ms = c.get_int(Directive::LatencyMonitorThreshold);
        self.latency_tracking = c.get_bool(Directive::LatencyTracking);
        self.latency_percentiles = c
            .get_list(Directive::LatencyTrackingInfoPercentiles)
            .iter()
            .filter_map(|p| p.parse().ok())
            .collect();
        self.lazyfree_lazy_user_del = c.get_bool(Directive::LazyfreeLazyUserDel);
        self.lazyfree_lazy_server_del = c.get_bool(Directive::LazyfreeLazyServerDel);
        // Parsed class bits (see `config::parse`), `n` included.
        self.notify_keyspace_events = c.get_int(Directive::NotifyKeyspaceEvents) as u32;
        if let Some(l) = crate::log::Level::parse(&c.get_str(Directive::Loglevel)) {
            crate::log::set_level(l);
        }
        while self.slowlog.len() > self.slowlog_max_len {
            self.slowlog.pop_back();
        }
        crate::evict::configure(self);
        self.repl.min_replicas_to_write = self.config.get_int(Directive::MinReplicasToWrite);
        self.repl.min_replicas_max_lag = self.config.get_int(Directive::MinReplicasMaxLag);
        // A new `repl-backlog-size` applies at once, as Redis's
        // `resizeReplicationBacklog`: later writes (in the same
        // transaction, say) already trim to it.
        let backlog_size = self.config.get_int(Directive::ReplBacklogSize).max(1) as usize;
        self.repl.feed.borrow_mut().resize_backlog(backlog_size);
        self.acl.pubsub_default_all =
            self.config.get_str(Directive::AclPubsubDefault) == "allchannels";
        let pass = self.config.get_str(Directive::Requirepass);
        self.acl.apply_requirepass(&pass);
        crate::persistence::aof::apply_config(self);
        self.obuf_limits = crate::net::OutputLimits::from_config(&self.config);
        crate::client_memory::configure(self);
        crate::proctitle::apply(self);
        crate::crash::apply(&mut self.config, self.hz);
        crate::sockets::apply(&self.config);
        // A new announced address or node timeout is ours at once (CLUSTER
        // NODES shows it right after CONFIG SET, as in Redis).
        crate::cluster::refresh_config(self);
    }

    /// Refreshes the cached clock; called before every command.
    #[inline]
    pub fn refresh_time(&mut self) {
        let (ms, us) = unix_now();
        self.now_ms = ms;
        self.now_us = us;
        self.lru_clock = self.access_clock.new_stamp(ms);
    }

    /// Whether clients must authenticate before running commands.
    pub fn auth_required(&self) -> bool {
        self.acl.auth_required()
    }

    /// Whether this server follows a master (replication issue).
    pub fn is_replica(&self) -> bool {
        self.repl.master.is_some()
    }

    /// Registers a new client and returns it.
    pub fn new_client(&mut self) -> Rc<RefCell<Client>> {
        let id = self.next_client_id;
        self.next_client_id += 1;
        let mut c = Client::new(id, self.now_ms);
        c.reply_buf.peak_reset_ms = self.now_ms;
        c.authenticated = !self.auth_required();
        c.acl_user = Some(self.acl.default.clone());
        let c = Rc::new(RefCell::new(c));
        self.clients.insert(id, c.clone());
        self.stats.total_connections_received += 1;
        c
    }

    pub fn remove_client(&mut self, id: u64) {
        if let Some(rc) = self.clients.remove(&id) {
            if let Ok(mut c) = rc.try_borrow_mut() {
                crate::client_memory::forget(self, &mut c);
                // A client killed or gone while blocked leaves its wait queues.
                crate::blocking::unblock(self, &mut c);
                crate::clients::end_pause_wait(self, &mut c);
                self.forget_client_state(&mut c);
            }
        }
        self.monitors.retain(|&m| m != id);
        crate::replication::client_gone(self, id);
        self.watches.unwatch_all(id);
    }

    /// Drops a client's subscriptions and tracking (disconnect, `RESET`).
    pub fn forget_client_state(&mut self, c: &mut Client) {
        let id = c.id;
        self.pubsub.forget_client(&mut c.subs, id);
        self.disable_tracking(c);
    }

    /// Finds `key` in database `db`, applying lazy expiry: a master
    /// deletes an expired key (propagating the deletion); a replica only
    /// hides it and waits for its master's `DEL`, unless the caller is the
    /// master link itself. Returns the entry's position.
    #[inline]
    pub fn find_live(&mut self, db: usize, key: &[u8], from_master: bool) -> Option<usize> {
        let i = self.dbs[db].find(key)?;
        let expired = self.dbs[db]
            .at(i)
            .is_some_and(|e| e.is_expired(self.now_ms));
        // Nothing expires while the dataset loads (Redis's rule): an AOF
        // may give a key a past time and then write to it again.
        if !expired || self.persist.loading.is_some() {
            return Some(i);
        }
        // A replica leaves expiry to its master's DELs: its own clients
        // see the key gone, its master's commands still find it (an INCR
        // sent before the master saw it expire applies to it), as Redis's
        // expireIfNeeded.
        if self.is_replica() {
            return from_master.then_some(i);
        }
        // Paused clients keep the dataset still: the key reads as gone and
        // is deleted after the pause (or by a new master after a failover).
        if self.clients_paused() {
            return None;
        }
        if let Some((_, e)) = self.dbs[db].remove_at(i) {
            self.free_value(e.value, self.lazyfree_lazy_expire);
            self.note_expired(db, key);
        }
        None
    }

    /// Frees a value taken out of the keyspace: on the lazy-free thread
    /// when `lazy` and the value is big, here otherwise (see `lazyfree`).
    #[inline]
    pub fn free_value(&mut self, v: keyspace::Value, lazy: bool) {
        if lazy {
            self.lazyfree.free_value(v);
        }
    }

    /// Frees what the server deleted or overwrote as a side effect of a
    /// command (the old value under a `SET`, `RENAME`'s or a `*STORE`'s
    /// destination), lazily under `lazyfree-lazy-server-del`, as Redis's
    /// `dbDelete`/`dbSetValue`.
    #[inline]
    pub fn free_replaced(&mut self, old: Option<keyspace::Entry>) {
        if let Some(e) = old {
            self.free_value(e.value, self.lazyfree_lazy_server_del);
        }
    }

    /// Look-up for reading: lazy expiry, keyspace hit/miss statistics and
    /// the access time.
    #[inline]
    pub fn lookup_read(
        &mut self,
        db: usize,
        key: &[u8],
        from_master: bool,
    ) -> Option<&mut keyspace::Entry> {
        match self.find_live(db, key, from_master) {
            Some(i) => {
                self.stats.keyspace_hits += 1;
                let e = self.dbs[db].at_mut(i)?;
                e.lru = self.access_clock.touch(e.lru, self.now_ms, &mut self.rng);
                Some(e)
            }
            None => {
                self.stats.keyspace_misses += 1;
                self.notify_keyspace_event(crate::notify::class::KEY_MISS, "keymiss", key, db);
                None
            }
        }
    }

    /// Look-up for writing: lazy expiry and the access time only.
    #[inline]
    pub fn lookup_write(
        &mut self,
        db: usize,
        key: &[u8],
        from_master: bool,
    ) -> Option<&mut keyspace::Entry> {
        let i = self.find_live(db, key, from_master)?;
        let e = self.dbs[db].at_mut(i)?;
        e.lru = self.access_clock.touch(e.lru, self.now_ms, &mut self.rng);
        Some(e)
    }

    /// Counts and propagates the deletion of an expired key, as a `DEL`
    /// (or `UNLINK` with `lazyfree-lazy-expire yes`), so replicas and the
    /// AOF stay in step without their own clocks deciding.
    fn note_expired(&mut self, db: usize, key: &[u8]) {
        self.notify_keyspace_event(crate::notify::class::EXPIRED, "expired", key, db);
        self.signal_modified_key(db, key);
        self.stats.expired_keys += 1;
        let verb: &[u8] = if self.lazyfree_lazy_expire {
            b"UNLINK"
        } else {
            b"DEL"
        };
        self.journal.propagate(db, &[verb, key]);
    }

    /// Whether a `CLIENT PAUSE` (either mode) or a failover's pause holds
    /// now: expiry and eviction then leave the dataset alone.
    pub fn clients_paused(&self) -> bool {
        self.pause.until_ms != 0 && self.now_ms < self.pause.until_ms
    }

    /// Deletes a key found expired and propagates its deletion, as a `DEL`
    /// (or `UNLINK` with `lazyfree-lazy-expire yes`), so replicas and the
    /// AOF stay in step without their own clocks deciding.
    pub fn delete_expired(&mut self, db: usize, key: &[u8]) {
        if let Some(e) = self.dbs[db].remove(key) {
            let t = Instant::now();
            self.free_value(e.value, self.lazyfree_lazy_expire);
            self.note_expired(db, key);
            self.latency_sample("expire-del", t.elapsed().as_millis() as u64);
        }
    }

    /// Records `ms` for latency event `event` when it reaches
    /// `latency-monitor-threshold` (Redis's latencyAddSampleIfNeeded).
    pub fn latency_sample(&mut self, event: &'static str, ms: u64) {
        let threshold = self.latency_threshold_ms;
        if threshold > 0 && ms as i64 >= threshold {
            self.latency.add(event, self.now_ms / 1000, ms);
        }
    }

    /// One run of the active expiry cycle over all databases, within the
    /// time budget for this `hz`. Each deletion is propagated on its own,
    /// as Redis does for expiry outside of a command.
    pub fn active_expire_cycle(&mut self) {
        if !self.active_expire_enabled || self.persist.loading.is_some() {
            return;
        }
        if self.is_replica() {
            // The master's DELs expire its keys here; only keys this
            // replica's own clients wrote with a TTL expire on their own.
            self.refresh_time();
            crate::replication::replica::expire_own_keys(self);
            return;
        }
        self.refresh_time();
        if self.clients_paused() {
            return;
        }
        let cycle = ExpireCycle::default();
        let effort = self
            .config
            .get_int(Directive::ActiveExpireEffort)
            .clamp(1, 10) as usize;
        let per_loop = cycle.keys_per_loop + cycle.keys_per_loop / 4 * (effort - 1);
        let budget = std::time::Duration::from_micros(ExpireCycle::budget_us(self.hz));
        let start = Instant::now();
        let now = self.now_ms;
        let mut total_sampled = 0;
        let mut total_expired = 0;
        for db in 0..self.dbs.len() {
            loop {
                let mut expired_keys: Vec<(Box<[u8]>, keyspace::Value)> = Vec::new();
                let (sampled, expired) =
                    self.dbs[db].expire_sample(now, per_loop, &mut self.rng, |k, e| {
                        expired_keys.push((k.into(), e.value))
                    });
                for (k, v) in expired_keys {
                    let t = Instant::now();
                    self.free_value(v, self.lazyfree_lazy_expire);
                    self.note_expired(db, &k);
                    self.journal.end_command(false);
                    self.latency_sample("expire-del", t.elapsed().as_millis() as u64);
                }
                total_sampled += sampled;
                total_expired += expired;
                if !cycle.repeat(sampled, expired) || start.elapsed() > budget {
                    break;
                }
            }
            if start.elapsed() > budget {
                break;
            }
        }
        if total_sampled > 0 {
            let perc = total_expired as f64 / total_sampled as f64;
            self.stats.expired_stale_perc = perc * 0.05 + self.stats.expired_stale_perc * 0.95;
        }
        let ms = start.elapsed().as_millis() as u64;
        self.stats.expire_cycle_cpu_ms += ms;
        self.latency_sample("expire-cycle", ms);
    }

    /// Called `hz` times per second.
    pub fn cron(&mut self) {
        // Redis re-arms its watchdog in serverCron, which does not run while
        // a dataset loads (the loader only lets clients be served), so a
        // load longer than `watchdog-period` trips it; the suite relies on
        // that to interrupt a replica's diskless load.
        if self.persist.loading.is_none() && !self.repl.async_loading {
            crate::crash::watchdog::beat();
        }
        self.hz = dynamic_hz(
            self.config.get_int(Directive::Hz),
            self.config.get_bool(Directive::DynamicHz),
            self.clients.len(),
        );
        if self.debug.pause_cron {
            return;
        }
        self.refresh_time();
        crate::shutdown::cron(self);
        if self.shutdown_requested {
            return;
        }
        self.active_expire_cycle();
        // BCAST invalidations for keys the cycle expired.
        self.tracking_broadcast(None);
        self.tracking_limit_used_slots();
        // Not while loading: the table was sized for the whole file from
        // its RESIZEDB hint and would be shrunk back before it fills up
        // (Redis does not resize during a load either).
        if self.persist.loading.is_none() {
            for db in &mut self.dbs {
                db.shrink_if_sparse();
            }
        }
        self.close_timed_out_clients();
        crate::clients_cron::clients_cron(self);
        crate::replication::master::cron(self);
        crate::persistence::save::cron(self);
        crate::persistence::aof::cron(self);
        self.refresh_time();
        let s = &self.stats;
        let counters = [
            s.total_commands,
            s.net_input_bytes,
            s.net_output_bytes,
            s.net_repl_input_bytes,
            s.net_repl_output_bytes,
        ];
        self.inst_metrics.sample(self.now_ms, counters);
        let allocated = crate::alloc::allocated() as u64;
        self.mem_peak = self.mem_peak.max(allocated);
        // `used_memory_startup`: what the server holds once listening,
        // before any client connected.
        if self.stats.total_connections_received == 0 {
            self.mem_startup = allocated;
        }
    }

    fn close_timed_out_clients(&mut self) {
        if self.timeout_secs <= 0 {
            return;
        }
        let limit = self.timeout_secs * 1000;
        let now = self.now_ms;
        for c in self.clients.values() {
            if let Ok(mut c) = c.try_borrow_mut() {
                // A client waiting in BLPOP & co. is not idle (Redis skips
                // blocked clients here too).
                if c.kind == crate::client::Kind::Normal
                    && c.blocked.is_none()
                    && now - c.last_interaction_ms > limit
                {
                    c.killed = true;
                    c.wake.notify_one();
                    crate::client_memory::forget_totals(&mut self.clients_memory, &mut c);
                }
            }
        }
    }

    /// Records a command in the slow log when it took long enough.
    pub fn slowlog_push(&mut self, client: &Client, argv: Argv, usec: u64) {
        if self.slowlog_slower_than < 0 || (usec as i64) < self.slowlog_slower_than {
            return;
        }
        // Like Redis: at most 32 arguments, each cut at 128 bytes.
        let total = argv.len();
        let shown = total.min(32);
        let mut args = Vec::with_capacity(shown);
        let mask = crate::monitor::redaction_mask(argv);
        for (i, a) in argv.iter().take(shown).enumerate() {
            // Passwords never reach the log.
            let a = match &mask {
                Some(m) if m[i] => crate::monitor::REDACTED,
                _ => a,
            };
            if shown < total && i == shown - 1 {
                args.push(format!("... ({} more arguments)", total - shown + 1).into_bytes());
            } else if a.len() > 128 {
                let mut v = a[..128].to_vec();
                v.extend_from_slice(format!("... ({} more bytes)", a.len() - 128).as_bytes());
                args.push(v);
            } else {
                args.push(a.to_vec());
            }
        }
        let entry = SlowlogEntry {
            id: self.slowlog_next_id,
            time: self.now_ms / 1000,
            duration_us: usec,
            args,
            client_addr: client.peer_id(),
            client_name: client.name.clone().unwrap_or_default(),
        };
        self.slowlog_next_id += 1;
        self.slowlog.push_front(entry);
        while self.slowlog.len() > self.slowlog_max_len {
            self.slowlog.pop_back();
        }
    }

    /// Bookkeeping after each command: the client's last command, the
    /// MONITOR feed and the latency monitor.
    pub fn after_command(
        &mut self,
        client: &mut Client,
        meta: &'static CommandMeta,
        argv: Argv,
        usec: u64,
    ) {
        client.last_cmd = meta.name;
        client.last_interaction_ms = self.now_ms;
        crate::monitor::feed_monitors(self, client, meta, argv);
        crate::latency::sample_command(self, meta, usec);
    }
}

#[cfg(test)]
mod tests {
    use super::dynamic_hz;

    #[test]
    fn hz_doubles_with_the_clients_under_dynamic_hz() {
        assert_eq!(dynamic_hz(10, true, 100), 10);
        assert_eq!(dynamic_hz(10, true, 2009), 10);
        assert_eq!(dynamic_hz(10, true, 2010), 20);
        assert_eq!(dynamic_hz(10, true, 9000), 80);
        assert_eq!(dynamic_hz(10, true, 1_000_000), 500);
        assert_eq!(dynamic_hz(10, false, 9000), 10);
        assert_eq!(dynamic_hz(100, true, 0), 100);
    }
}
