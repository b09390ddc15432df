//! The directive table: every directive Redis 7.0.15 lists in `CONFIG GET
//! *` (plus its hidden debugging ones), with type, limits, enum words,
//! default, alias and mutability.
//!
//! Bounds and words follow what a real 7.0.15 accepts, so the error texts
//! ("argument must be between 0 and 65535 inclusive") come out the same.

/// Directives whose syntax is not a single typed value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Special {
    /// `save <seconds> <changes> ...` (pairs; `""` clears).
    Save,
    /// `bind addr ...`.
    Bind,
    /// `client-output-buffer-limit <class> <hard> <soft> <seconds> ...`.
    ClientOutputBufferLimit,
    /// Three integers between -2000 and 2000.
    OomScoreAdjValues,
    /// Event class flags, normalised as Redis renders them.
    NotifyKeyspaceEvents,
    /// `replicaof <host> <port>` (or `no one`).
    Replicaof,
    /// Percentiles between 0 and 100.
    LatencyPercentiles,
    /// A memory size or a percentage of `maxmemory`.
    MaxmemoryClients,
    /// Several words from a list, each a flag (`shutdown-on-sigterm`).
    FlagsEnum(&'static [&'static str]),
    /// `proc-title-template`: a template with known `{variables}`.
    ProcTitleTemplate,
}

/// How a directive's arguments are parsed and rendered.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    /// `yes` / `no`.
    Bool,
    /// An integer between the bounds, inclusive.
    Int { min: i64, max: i64 },
    /// A memory size (`1gb`, `64mb`, `100`), rendered in bytes.
    Memory { min: i64, max: i64 },
    /// One of the listed words; the first word naming a value renders it.
    Enum(&'static [&'static str]),
    /// Any single string.
    Str,
    /// An octal number (`unixsocketperm`).
    Octal,
    /// Several arguments kept as a list.
    List,
    /// Its own syntax, see [`Special`].
    Special(Special),
}

pub mod flags {
    /// Cannot be changed with `CONFIG SET`.
    pub const IMMUTABLE: u32 = 1;
    /// A secret (`requirepass`, `masterauth`): kept out of logs.
    pub const SENSITIVE: u32 = 2;
    /// Changed at run time only with `enable-protected-configs`.
    pub const PROTECTED: u32 = 4;
    /// Only shown by `CONFIG GET` when named exactly (debugging knobs).
    pub const HIDDEN: u32 = 8;
    /// Refused by `CONFIG SET` (with `-LOADING`) while the dataset loads.
    pub const DENY_LOADING: u32 = 16;
}

#[derive(Debug)]
pub struct Def {
    pub name: &'static str,
    pub alias: Option<&'static str>,
    pub kind: Kind,
    pub default: &'static str,
    pub flags: u32,
}

impl Def {
    pub fn is(&self, flag: u32) -> bool {
        self.flags & flag != 0
    }
}

const fn def(name: &'static str, kind: Kind, default: &'static str, flags: u32) -> Def {
    Def {
        name,
        alias: None,
        kind,
        default,
        flags,
    }
}

const fn b(name: &'static str, default: &'static str, flags: u32) -> Def {
    def(name, Kind::Bool, default, flags)
}

const fn i(name: &'static str, min: i64, max: i64, default: &'static str, flags: u32) -> Def {
    def(name, Kind::Int { min, max }, default, flags)
}

const fn m(name: &'static str, min: i64, max: i64, default: &'static str, flags: u32) -> Def {
    def(name, Kind::Memory { min, max }, default, flags)
}

const fn e(
    name: &'static str,
    words: &'static [&'static str],
    default: &'static str,
    flags: u32,
) -> Def {
    def(name, Kind::Enum(words), default, flags)
}

const fn s(name: &'static str, default: &'static str, flags: u32) -> Def {
    def(name, Kind::Str, default, flags)
}

const fn sp(name: &'static str, which: Special, default: &'static str, flags: u32) -> Def {
    def(name, Kind::Special(which), default, flags)
}

/// Adds the old name Redis still accepts (`slaveof`, `hash-max-ziplist-*`).
const fn al(mut d: Def, alias: &'static str) -> Def {
    d.alias = Some(alias);
    d
}

const INT_MAX: i64 = i32::MAX as i64;
const INT_MIN: i64 = i32::MIN as i64;
const UINT_MAX: i64 = u32::MAX as i64;
const LMAX: i64 = i64::MAX;
const MB: i64 = 1024 * 1024;

const YES_NO_LOCAL: &[&str] = &["no", "yes", "local"];
const SHUTDOWN_FLAGS: &[&str] = &["default", "save", "nosave", "now", "force"];

use flags::*;
const IMM: u32 = IMMUTABLE;

/// Declares the directive table and, in the same order, the [`Directive`]
/// enum naming each entry: code reads a setting as
/// `config.get_int(Directive::Hz)`, so a misspelt name does not compile
/// and the read is an index, not a hash look-up.
macro_rules! directives {
    ($($id:ident => $def:expr,)*) => {
        /// Every directive of [`DIRECTIVES`], by position.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        #[repr(usize)]
        pub enum Directive {
            $($id,)*
        }

        pub static DIRECTIVES: &[Def] = &[$($def,)*];
    };
}

directives! {
    // Network.
    Bind => sp("bind", Special::Bind, "* -::*", 0),
    BindSourceAddr => s("bind-source-addr", "", 0),
    Port => i("port", 0, 65535, "6379", 0),
    ProtectedMode => b("protected-mode", "yes", 0),
    TcpBacklog => i("tcp-backlog", 0, INT_MAX, "511", IMM),
    Unixsocket => s("unixsocket", "", IMM),
    Unixsocketperm => def("unixsocketperm", Kind::Octal, "0", IMM),
    Timeout => i("timeout", 0, INT_MAX, "0", 0),
    TcpKeepalive => i("tcp-keepalive", 0, INT_MAX, "300", 0),
    SocketMarkId => i("socket-mark-id", 0, UINT_MAX, "0", IMM),
    // TLS.
    TlsPort => i("tls-port", 0, 65535, "0", 0),
    TlsCertFile => s("tls-cert-file", "", 0),
    TlsKeyFile => s("tls-key-file", "", 0),
    TlsKeyFilePass => s("tls-key-file-pass", "", SENSITIVE),
    TlsClientCertFile => s("tls-client-cert-file", "", 0),
    TlsClientKeyFile => s("tls-client-key-file", "", 0),
    TlsClientKeyFilePass => s("tls-client-key-file-pass", "", SENSITIVE),
    TlsDhParamsFile => s("tls-dh-params-file", "", 0),
    TlsCaCertFile => s("tls-ca-cert-file", "", 0),
    TlsCaCertDir => s("tls-ca-cert-dir", "", 0),
    TlsAuthClients => e("tls-auth-clients", &["no", "yes", "optional"], "yes", 0),
    TlsReplication => b("tls-replication", "no", 0),
    TlsCluster => b("tls-cluster", "no", 0),
    TlsProtocols => s("tls-protocols", "", 0),
    TlsCiphers => s("tls-ciphers", "", 0),
    TlsCiphersuites => s("tls-ciphersuites", "", 0),
    TlsPreferServerCiphers => b("tls-prefer-server-ciphers", "no", 0),
    TlsSessionCaching => b("tls-session-caching", "yes", 0),
    TlsSessionCacheSize => i("tls-session-cache-size", 0, INT_MAX, "20480", 0),
    TlsSessionCacheTimeout => i("tls-session-cache-timeout", 0, INT_MAX, "300", 0),
    // General.
    Daemonize => b("daemonize", "no", IMM),
    Supervised => e(
        "supervised",
        &["upstart", "systemd", "auto", "no"],
        "no",
        IMM,
    ),
    Pidfile => s("pidfile", "", IMM),
    Loglevel => e(
        "loglevel",
        &["debug", "verbose", "notice", "warning"],
        "notice",
        0,
    ),
    Logfile => s("logfile", "", IMM),
    SyslogEnabled => b("syslog-enabled", "no", IMM),
    SyslogIdent => s("syslog-ident", "redis", IMM),
    SyslogFacility => e(
        "syslog-facility",
        &[
            "user", "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7",
        ],
        "local0",
        IMM,
    ),
    CrashLogEnabled => b("crash-log-enabled", "yes", 0),
    CrashMemcheckEnabled => b("crash-memcheck-enabled", "yes", 0),
    Databases => i("databases", 1, INT_MAX, "16", IMM),
    AlwaysShowLogo => b("always-show-logo", "no", IMM),
    SetProcTitle => b("set-proc-title", "yes", IMM),
    ProcTitleTemplate => sp(
        "proc-title-template",
        Special::ProcTitleTemplate,
        "{title} {listen-addr} {server-mode}",
        0,
    ),
    EnableProtectedConfigs => e("enable-protected-configs", YES_NO_LOCAL, "no", IMM),
    EnableDebugCommand => e("enable-debug-command", YES_NO_LOCAL, "no", IMM),
    EnableModuleCommand => e("enable-module-command", YES_NO_LOCAL, "no", IMM),
    IgnoreWarnings => s("ignore-warnings", "", 0),
    // Snapshotting.
    Save => sp("save", Special::Save, "3600 1 300 100 60 10000", 0),
    StopWritesOnBgsaveError => b("stop-writes-on-bgsave-error", "yes", 0),
    Rdbcompression => b("rdbcompression", "yes", 0),
    Rdbchecksum => b("rdbchecksum", "yes", IMM),
    SanitizeDumpPayload => e("sanitize-dump-payload", &["no", "yes", "clients"], "no", 0),
    Dbfilename => s("dbfilename", "dump.rdb", PROTECTED),
    RdbDelSyncFiles => b("rdb-del-sync-files", "no", 0),
    Dir => s("dir", "", PROTECTED | DENY_LOADING),
    RdbSaveIncrementalFsync => b("rdb-save-incremental-fsync", "yes", 0),
    RdbKeySaveDelay => i("rdb-key-save-delay", INT_MIN, INT_MAX, "0", HIDDEN),
    KeyLoadDelay => i("key-load-delay", INT_MIN, INT_MAX, "0", HIDDEN),
    LoadingProcessEventsIntervalBytes => i(
        "loading-process-events-interval-bytes",
        1024,
        INT_MAX,
        "2097152",
        HIDDEN
    ),
    // Replication.
    Replicaof => al(sp("replicaof", Special::Replicaof, "", IMM), "slaveof"),
    Masterauth => s("masterauth", "", SENSITIVE),
    Masteruser => s("masteruser", "", SENSITIVE),
    ReplicaServeStaleData => al(
        b("replica-serve-stale-data", "yes", 0),
        "slave-serve-stale-data",
    ),
    ReplicaReadOnly => al(b("replica-read-only", "yes", 0), "slave-read-only"),
    ReplicaIgnoreDiskWriteErrors => b("replica-ignore-disk-write-errors", "no", 0),
    ReplDisklessSync => b("repl-diskless-sync", "yes", 0),
    ReplDisklessSyncDelay => i("repl-diskless-sync-delay", 0, INT_MAX, "5", 0),
    ReplDisklessSyncMaxReplicas => i("repl-diskless-sync-max-replicas", 0, INT_MAX, "0", 0),
    ReplDisklessLoad => e(
        "repl-diskless-load",
        &["disabled", "on-empty-db", "swapdb"],
        "disabled",
        DENY_LOADING,
    ),
    ReplPingReplicaPeriod => al(
        i("repl-ping-replica-period", 1, INT_MAX, "10", 0),
        "repl-ping-slave-period",
    ),
    ReplTimeout => i("repl-timeout", 1, INT_MAX, "60", 0),
    ReplDisableTcpNodelay => b("repl-disable-tcp-nodelay", "no", 0),
    ReplBacklogSize => m("repl-backlog-size", 1, LMAX, "1048576", 0),
    ReplBacklogTtl => i("repl-backlog-ttl", 0, LMAX, "3600", 0),
    ReplicaPriority => al(
        i("replica-priority", 0, INT_MAX, "100", 0),
        "slave-priority",
    ),
    ReplicaAnnounced => b("replica-announced", "yes", 0),
    MinReplicasToWrite => al(
        i("min-replicas-to-write", 0, INT_MAX, "0", 0),
        "min-slaves-to-write",
    ),
    MinReplicasMaxLag => al(
        i("min-replicas-max-lag", 0, INT_MAX, "10", 0),
        "min-slaves-max-lag",
    ),
    ReplicaAnnounceIp => al(s("replica-announce-ip", "", 0), "slave-announce-ip"),
    ReplicaAnnouncePort => al(
        i("replica-announce-port", 0, 65535, "0", 0),
        "slave-announce-port",
    ),
    ReplicaLazyFlush => al(b("replica-lazy-flush", "no", 0), "slave-lazy-flush"),
    ReplicaIgnoreMaxmemory => al(
        b("replica-ignore-maxmemory", "yes", 0),
        "slave-ignore-maxmemory",
    ),
    PropagationErrorBehavior => e(
        "propagation-error-behavior",
        &["ignore", "panic", "panic-on-replicas"],
        "ignore",
        0,
    ),
    // Keys tracking.
    TrackingTableMaxKeys => i("tracking-table-max-keys", 0, LMAX, "1000000", 0),
    // Security.
    AcllogMaxLen => i("acllog-max-len", 0, LMAX, "128", 0),
    Aclfile => s("aclfile", "", IMM),
    Requirepass => s("requirepass", "", SENSITIVE),
    AclPubsubDefault => e(
        "acl-pubsub-default",
        &["allchannels", "resetchannels"],
        "resetchannels",
        0,
    ),
    // Clients and memory.
    Maxclients => i("maxclients", 1, UINT_MAX, "10000", 0),
    Maxmemory => m("maxmemory", 0, LMAX, "0", 0),
    MaxmemoryPolicy => e(
        "maxmemory-policy",
        &[
            "volatile-lru",
            "volatile-lfu",
            "volatile-random",
            "volatile-ttl",
            "allkeys-lru",
            "allkeys-lfu",
            "allkeys-random",
            "noeviction",
        ],
        "noeviction",
        0,
    ),
    MaxmemorySamples => i("maxmemory-samples", 1, INT_MAX, "5", 0),
    MaxmemoryEvictionTenacity => i("maxmemory-eviction-tenacity", 0, 100, "10", 0),
    MaxmemoryClients => sp("maxmemory-clients", Special::MaxmemoryClients, "0", 0),
    // Lazy freeing.
    LazyfreeLazyEviction => b("lazyfree-lazy-eviction", "no", 0),
    LazyfreeLazyExpire => b("lazyfree-lazy-expire", "no", 0),
    LazyfreeLazyServerDel => b("lazyfree-lazy-server-del", "no", 0),
    LazyfreeLazyUserDel => b("lazyfree-lazy-user-del", "no", 0),
    LazyfreeLazyUserFlush => b("lazyfree-lazy-user-flush", "no", 0),
    // Threads and kernel.
    IoThreads => i("io-threads", 1, 128, "1", IMM),
    IoThreadsDoReads => b("io-threads-do-reads", "no", IMM),
    OomScoreAdj => e(
        "oom-score-adj",
        &["no", "yes", "relative", "absolute"],
        "no",
        0,
    ),
    OomScoreAdjValues => sp(
        "oom-score-adj-values",
        Special::OomScoreAdjValues,
        "0 200 800",
        0,
    ),
    DisableThp => b("disable-thp", "yes", IMM),
    ServerCpulist => s("server_cpulist", "", IMM),
    BioCpulist => s("bio_cpulist", "", IMM),
    AofRewriteCpulist => s("aof_rewrite_cpulist", "", IMM),
    BgsaveCpulist => s("bgsave_cpulist", "", IMM),
    JemallocBgThread => b("jemalloc-bg-thread", "yes", 0),
    // Append only file.
    Appendonly => b("appendonly", "no", DENY_LOADING),
    Appendfilename => s("appendfilename", "appendonly.aof", IMM),
    Appenddirname => s("appenddirname", "appendonlydir", IMM),
    Appendfsync => e("appendfsync", &["everysec", "always", "no"], "everysec", 0),
    NoAppendfsyncOnRewrite => b("no-appendfsync-on-rewrite", "no", 0),
    AutoAofRewritePercentage => i("auto-aof-rewrite-percentage", 0, INT_MAX, "100", 0),
    AutoAofRewriteMinSize => m("auto-aof-rewrite-min-size", 0, LMAX, "67108864", 0),
    AofLoadTruncated => b("aof-load-truncated", "yes", 0),
    AofUseRdbPreamble => b("aof-use-rdb-preamble", "yes", 0),
    AofTimestampEnabled => b("aof-timestamp-enabled", "no", 0),
    AofRewriteIncrementalFsync => b("aof-rewrite-incremental-fsync", "yes", 0),
    AofDisableAutoGc => b("aof-disable-auto-gc", "no", 0),
    // Shutdown.
    ShutdownTimeout => i("shutdown-timeout", 0, INT_MAX, "10", 0),
    ShutdownOnSigint => sp(
        "shutdown-on-sigint",
        Special::FlagsEnum(SHUTDOWN_FLAGS),
        "default",
        0,
    ),
    ShutdownOnSigterm => sp(
        "shutdown-on-sigterm",
        Special::FlagsEnum(SHUTDOWN_FLAGS),
        "default",
        0,
    ),
    // Scripting and busy replies.
    BusyReplyThreshold => al(
        i("busy-reply-threshold", 0, LMAX, "5000", 0),
        "lua-time-limit",
    ),
    // Redis 7.0.15: setfenv, getfenv and newproxy are hidden from scripts
    // unless this is set (read when the Lua states are created).
    LuaEnableDeprecatedApi => b("lua-enable-deprecated-api", "no", IMM | HIDDEN),
    // Cluster.
    ClusterEnabled => b("cluster-enabled", "no", IMM),
    ClusterConfigFile => s("cluster-config-file", "nodes.conf", IMM),
    ClusterNodeTimeout => i("cluster-node-timeout", 0, LMAX, "15000", 0),
    ClusterPort => i("cluster-port", 0, 65535, "0", IMM),
    ClusterReplicaValidityFactor => al(
        i("cluster-replica-validity-factor", 0, INT_MAX, "10", 0),
        "cluster-slave-validity-factor",
    ),
    ClusterMigrationBarrier => i("cluster-migration-barrier", 0, INT_MAX, "1", 0),
    ClusterAllowReplicaMigration => b("cluster-allow-replica-migration", "yes", 0),
    ClusterRequireFullCoverage => b("cluster-require-full-coverage", "yes", 0),
    ClusterReplicaNoFailover => al(
        b("cluster-replica-no-failover", "no", 0),
        "cluster-slave-no-failover",
    ),
    ClusterAllowReadsWhenDown => b("cluster-allow-reads-when-down", "no", 0),
    ClusterAllowPubsubshardWhenDown => b("cluster-allow-pubsubshard-when-down", "yes", 0),
    ClusterLinkSendbufLimit => m("cluster-link-sendbuf-limit", 0, LMAX, "0", 0),
    ClusterAnnounceIp => s("cluster-announce-ip", "", 0),
    ClusterAnnounceHostname => s("cluster-announce-hostname", "", 0),
    ClusterAnnouncePort => i("cluster-announce-port", 0, 65535, "0", 0),
    ClusterAnnounceBusPort => i("cluster-announce-bus-port", 0, 65535, "0", 0),
    ClusterAnnounceTlsPort => i("cluster-announce-tls-port", 0, 65535, "0", 0),
    ClusterPreferredEndpointType => e(
        "cluster-preferred-endpoint-type",
        &["ip", "hostname", "unknown-endpoint"],
        "ip",
        0,
    ),
    // Monitoring.
    SlowlogLogSlowerThan => i("slowlog-log-slower-than", -1, LMAX, "10000", 0),
    SlowlogMaxLen => i("slowlog-max-len", 0, LMAX, "128", 0),
    LatencyMonitorThreshold => i("latency-monitor-threshold", 0, LMAX, "0", 0),
    LatencyTracking => b("latency-tracking", "yes", 0),
    LatencyTrackingInfoPercentiles => sp(
        "latency-tracking-info-percentiles",
        Special::LatencyPercentiles,
        "50 99 99.9",
        0,
    ),
    NotifyKeyspaceEvents => sp(
        "notify-keyspace-events",
        Special::NotifyKeyspaceEvents,
        "",
        0,
    ),
    WatchdogPeriod => i("watchdog-period", 0, INT_MAX, "0", HIDDEN),
    // Data type encodings.
    HashMaxListpackEntries => al(
        i("hash-max-listpack-entries", 0, LMAX, "512", 0),
        "hash-max-ziplist-entries",
    ),
    HashMaxListpackValue => al(
        m("hash-max-listpack-value", 0, LMAX, "64", 0),
        "hash-max-ziplist-value",
    ),
    ListMaxListpackSize => al(
        i("list-max-listpack-size", INT_MIN, INT_MAX, "-2", 0),
        "list-max-ziplist-size",
    ),
    ListCompressDepth => i("list-compress-depth", 0, INT_MAX, "0", 0),
    SetMaxIntsetEntries => i("set-max-intset-entries", 0, LMAX, "512", 0),
    ZsetMaxListpackEntries => al(
        i("zset-max-listpack-entries", 0, LMAX, "128", 0),
        "zset-max-ziplist-entries",
    ),
    ZsetMaxListpackValue => al(
        m("zset-max-listpack-value", 0, LMAX, "64", 0),
        "zset-max-ziplist-value",
    ),
    HllSparseMaxBytes => m("hll-sparse-max-bytes", 0, LMAX, "3000", 0),
    StreamNodeMaxBytes => m("stream-node-max-bytes", 0, LMAX, "4096", 0),
    StreamNodeMaxEntries => i("stream-node-max-entries", 0, LMAX, "100", 0),
    // Advanced.
    Activerehashing => b("activerehashing", "yes", 0),
    ClientQueryBufferLimit => m("client-query-buffer-limit", MB, LMAX, "1073741824", 0),
    ProtoMaxBulkLen => m("proto-max-bulk-len", MB, LMAX, "536870912", 0),
    ClientOutputBufferLimit => sp(
        "client-output-buffer-limit",
        Special::ClientOutputBufferLimit,
        "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60",
        0,
    ),
    Hz => i("hz", 0, INT_MAX, "10", 0),
    DynamicHz => b("dynamic-hz", "yes", 0),
    LfuLogFactor => i("lfu-log-factor", 0, INT_MAX, "10", 0),
    LfuDecayTime => i("lfu-decay-time", 0, INT_MAX, "1", 0),
    ActiveExpireEffort => i("active-expire-effort", 1, 10, "1", 0),
    // Active defragmentation.
    Activedefrag => b("activedefrag", "no", 0),
    ActiveDefragIgnoreBytes => m("active-defrag-ignore-bytes", 1, LMAX, "104857600", 0),
    ActiveDefragThresholdLower => i("active-defrag-threshold-lower", 0, 1000, "10", 0),
    ActiveDefragThresholdUpper => i("active-defrag-threshold-upper", 0, 1000, "100", 0),
    ActiveDefragCycleMin => i("active-defrag-cycle-min", 1, 99, "1", 0),
    ActiveDefragCycleMax => i("active-defrag-cycle-max", 1, 99, "25", 0),
    ActiveDefragMaxScanFields => i("active-defrag-max-scan-fields", 1, LMAX, "1000", 0),
    UseExitOnPanic => b("use-exit-on-panic", "no", HIDDEN),
    // Redoubt's own (Redis would reject them), hidden from `CONFIG GET *`
    // so its output stays Redis's: the Prometheus endpoint (0 = off).
    MetricsPort => i("metrics-port", 0, 65535, "0", HIDDEN | IMM),
    MetricsBind => s("metrics-bind", "127.0.0.1", HIDDEN | IMM),
}

/// Whether `name` (or an alias, any case) is a secret whose value logs
/// and MONITOR must not show.
pub fn is_sensitive(name: &str) -> bool {
    DIRECTIVES.iter().any(|d| {
        d.is(flags::SENSITIVE)
            && (d.name.eq_ignore_ascii_case(name)
                || d.alias.is_some_and(|a| a.eq_ignore_ascii_case(name)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_aliases_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for d in DIRECTIVES {
            assert!(seen.insert(d.name), "duplicate {}", d.name);
            if let Some(a) = d.alias {
                assert!(seen.insert(a), "duplicate {a}");
            }
        }
        // 192 names and aliases in `CONFIG GET *` plus 6 hidden ones and
        // Redoubt's 2 (metrics-port, metrics-bind).
        assert_eq!(seen.len(), 200);
    }
}
