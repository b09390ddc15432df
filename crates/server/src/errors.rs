//! Every error string a client can see, in one place, so that replies stay
//! byte-identical to Redis 7.0. Each text is the whole reply after `-`.

use command_meta::Argv;

/// A key holds a value of another type than the command works on; the
/// handler replies with [`WRONGTYPE`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WrongType;

pub const NOAUTH: &str = "NOAUTH Authentication required.";
pub const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";
pub const SYNTAX: &str = "ERR syntax error";
pub const NOT_INTEGER: &str = "ERR value is not an integer or out of range";
pub const NOT_FLOAT: &str = "ERR value is not a valid float";
pub const OVERFLOW: &str = "ERR increment or decrement would overflow";
pub const INVALID_DB: &str = "ERR DB index is out of range";
pub const NO_SUCH_KEY: &str = "ERR no such key";
pub const INVALID_EXPIRE: &str = "ERR invalid expire time in '%s' command";
pub const WRONGPASS: &str = "WRONGPASS invalid username-password pair or user is disabled.";
pub const AUTH_NOT_CONFIGURED: &str = "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?";
pub const NOPROTO: &str = "NOPROTO unsupported protocol version";
pub const PROTO_NOT_INTEGER: &str = "ERR Protocol version is not an integer or out of range";
pub const HELLO_NOAUTH: &str = "NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time";
pub const STRING_TOO_LONG: &str = "ERR string exceeds maximum allowed size (proto-max-bulk-len)";
pub const BIT_OFFSET: &str = "ERR bit offset is not an integer or out of range";
pub const BIT_VALUE: &str = "ERR bit is not an integer or out of range";
pub const INCR_NAN: &str = "ERR increment would produce NaN or Infinity";
pub const SAME_OBJECT: &str = "ERR source and destination objects are the same";
pub const OFFSET_OUT_OF_RANGE: &str = "ERR offset is out of range";
pub const TIMEOUT_NEGATIVE: &str = "ERR timeout is negative";
pub const EXPIRE_NX_CONFLICT: &str =
    "ERR NX and XX, GT or LT options at the same time are not compatible";
pub const EXPIRE_GT_LT_CONFLICT: &str = "ERR GT and LT options at the same time are not compatible";
pub const INT_OUT_OF_RANGE: &str =
    "ERR value is out of range, value must between -2147483648 and 2147483647";
pub const INVALID_CURSOR: &str = "ERR invalid cursor";
pub const INVALID_FIRST_DB: &str = "ERR invalid first DB index";
pub const INVALID_SECOND_DB: &str = "ERR invalid second DB index";
pub const LFU_NOT_SELECTED: &str = "ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.";
pub const LFU_SELECTED_NO_IDLE: &str = "ERR An LFU maxmemory policy is selected, idle time not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.";
pub const TIMEOUT_NOT_INTEGER: &str = "ERR timeout is not an integer or out of range";
pub const CLIENT_NAME: &str =
    "ERR Client names cannot contain spaces, newlines or special characters.";
pub const INVALID_CLIENT_ID: &str = "ERR Invalid client ID";
pub const CLIENT_ID_POSITIVE: &str = "ERR client-id should be greater than 0";
pub const NO_SUCH_CLIENT: &str = "ERR No such client";
pub const PAUSE_MODE: &str = "ERR CLIENT PAUSE mode must be WRITE or ALL";
pub const NO_SHUTDOWN_IN_PROGRESS: &str = "ERR No shutdown in progress.";
/// The reply of a `SHUTDOWN` that failed or was aborted.
pub const SHUTDOWN_FAILED: &str = "ERR Errors trying to SHUTDOWN. Check logs.";
pub const SHUTDOWN_DENY_BLOCKING: &str =
    "ERR SHUTDOWN without NOW or ABORT isn't allowed for DENY BLOCKING client";
pub const SLOWLOG_COUNT: &str = "ERR count should be greater than or equal to -1";
pub const DEBUG_NOT_ALLOWED: &str = "ERR DEBUG command not allowed. If the enable-debug-command option is set to \"local\", you can run it from a local connection, otherwise you need to set this option in the configuration file, and then restart the server.";
pub const DECREMENT_OVERFLOW: &str = "ERR decrement would overflow";
pub const BIT_ARG: &str = "ERR The bit argument must be 1 or 0.";
pub const BITOP_NOT_ONE_KEY: &str = "ERR BITOP NOT must be called with a single source key.";
pub const BITFIELD_TYPE: &str =
    "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.";
pub const BITFIELD_OVERFLOW_TYPE: &str = "ERR Invalid OVERFLOW type specified";
pub const BITFIELD_RO_GET_ONLY: &str = "ERR BITFIELD_RO only supports the GET subcommand";
pub const LCS_NOT_STRINGS: &str = "ERR The specified keys must contain string values";
pub const LCS_LEN_AND_IDX: &str =
    "ERR If you want both the length and indexes, please just use IDX.";
pub const LCS_TOO_LONG: &str = "ERR String too long for LCS";
pub const LCS_OVER_LIMIT: &str =
    "ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len";
pub const LCS_ALLOC_FAILED: &str =
    "ERR Insufficient memory, failed allocating transient memory for LCS";
// Client-side caching (CLIENT TRACKING / CACHING).
pub const TRACKING_SINGLE_REDIRECT: &str =
    "ERR A client can only redirect to a single other client";
pub const TRACKING_NO_REDIRECT_TARGET: &str =
    "ERR The client ID you want redirect to does not exist";
pub const TRACKING_PREFIX_NEEDS_BCAST: &str = "ERR PREFIX option requires BCAST mode to be enabled";
pub const TRACKING_BCAST_SWITCH: &str = "ERR You can't switch BCAST mode on/off before disabling \
     tracking for this client, and then re-enabling it with a different mode.";
pub const TRACKING_OPT_WITH_BCAST: &str = "ERR OPTIN and OPTOUT are not compatible with BCAST";
pub const TRACKING_OPTIN_AND_OPTOUT: &str = "ERR You can't specify both OPTIN mode and OPTOUT mode";
pub const TRACKING_OPT_SWITCH: &str = "ERR You can't switch OPTIN/OPTOUT mode before disabling \
     tracking for this client, and then re-enabling it with a different mode.";
pub const CACHING_NOT_TRACKING: &str = "ERR CLIENT CACHING can be called only when the client is \
     in tracking mode with OPTIN or OPTOUT mode enabled";
pub const CACHING_YES_NEEDS_OPTIN: &str =
    "ERR CLIENT CACHING YES is only valid when tracking is enabled in OPTIN mode.";
pub const CACHING_NO_NEEDS_OPTOUT: &str =
    "ERR CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT mode.";
pub const HASH_NOT_INTEGER: &str = "ERR hash value is not an integer";
pub const HASH_NOT_FLOAT: &str = "ERR hash value is not a float";
pub const HASH_INCR_NAN: &str = "ERR value is NaN or Infinity";
pub const VALUE_OUT_OF_RANGE: &str = "ERR value is out of range";
pub const LONG_OUT_OF_RANGE: &str =
    "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807";
pub const MULTI_NESTED: &str = "ERR MULTI calls can not be nested";
pub const EXEC_WITHOUT_MULTI: &str = "ERR EXEC without MULTI";
pub const DISCARD_WITHOUT_MULTI: &str = "ERR DISCARD without MULTI";
pub const WATCH_INSIDE_MULTI: &str = "ERR WATCH inside MULTI is not allowed";
pub const NOT_IN_MULTI: &str = "ERR Command not allowed inside a transaction";
pub const EXECABORT: &str = "EXECABORT Transaction discarded because of previous errors.";

pub const MISCONF: &str = "MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk. Commands that may modify the data set are disabled, because this instance is configured to report errors during writes if RDB snapshotting fails (stop-writes-on-bgsave-error option). Please check the Redis logs for details about the RDB error.";
pub const LOADING: &str = "LOADING Redis is loading the dataset in memory";
pub const BGSAVE_IN_PROGRESS: &str = "ERR Background save already in progress";
pub const COUNT_MUST_BE_POSITIVE: &str = "ERR value is out of range, must be positive";
pub const NUMKEYS_POSITIVE: &str = "ERR numkeys should be greater than 0";
pub const COUNT_POSITIVE: &str = "ERR count should be greater than 0";
pub const LPOS_RANK_ZERO: &str = "ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list";
pub const LPOS_COUNT_NEGATIVE: &str = "ERR COUNT can't be negative";
pub const LPOS_MAXLEN_NEGATIVE: &str = "ERR MAXLEN can't be negative";
pub const INDEX_OUT_OF_RANGE: &str = "ERR index out of range";
pub const TIMEOUT_NOT_FLOAT: &str = "ERR timeout is not a float or out of range";
pub const UNBLOCKED: &str = "UNBLOCKED client unblocked via CLIENT UNBLOCK";
pub const UNBLOCK_REASON: &str = "ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR";
pub const OOM: &str = "OOM command not allowed when used memory > 'maxmemory'.";
pub const MUST_BE_POSITIVE: &str = "ERR value is out of range, must be positive";
pub const SRANDMEMBER_RANGE: &str =
    "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807";
pub const NUMKEYS_TOO_MANY: &str = "ERR Number of keys can't be greater than number of args";
pub const LIMIT_NEGATIVE: &str = "ERR LIMIT can't be negative";
pub const BUSYKEY: &str = "BUSYKEY Target key name already exists.";
pub const INVALID_TTL: &str = "ERR Invalid TTL value, must be >= 0";
pub const INVALID_IDLETIME: &str = "ERR Invalid IDLETIME value, must be >= 0";
pub const INVALID_FREQ: &str = "ERR Invalid FREQ value, must be >= 0 and <= 255";
pub const DUMP_PAYLOAD: &str = "ERR DUMP payload version or checksum are wrong";
pub const BAD_DATA_FORMAT: &str = "ERR Bad data format";
pub const MIGRATE_KEYS_KEY_NOT_EMPTY: &str =
    "ERR When using MIGRATE KEYS option, the key argument must be set to the empty string";
pub const MIGRATE_IOERR_CONNECT: &str = "IOERR error or timeout connecting to the client";
pub const MIGRATE_IOERR_WRITE: &str = "IOERR error or timeout writing to target instance";
pub const MIGRATE_IOERR_READ: &str = "IOERR error or timeout reading to target instance";

/// MIGRATE's error when the target refused a command: its error line
/// without the leading '-'.
pub fn migrate_target_error(line: &[u8]) -> String {
    format!(
        "ERR Target instance replied with error: {}",
        String::from_utf8_lossy(line)
    )
}

/// `ERR wrong number of arguments for 'get' command`; subcommands use their
/// full name (`config|get`).
pub fn wrong_arity(full_name: &str) -> String {
    format!("ERR wrong number of arguments for '{full_name}' command")
}

/// `ERR Unsupported option foo` (EXPIRE's NX/XX/GT/LT parser).
pub fn unsupported_option(opt: &[u8]) -> String {
    format!("ERR Unsupported option {}", String::from_utf8_lossy(opt))
}

/// `ERR invalid expire time in 'set' command`.
pub fn invalid_expire(cmd: &str) -> String {
    INVALID_EXPIRE.replace("%s", cmd)
}

/// Redis prints at most 128 bytes of the name and of the arguments, each
/// argument quoted and followed by a space.
pub fn unknown_command(name: &[u8], argv: Argv) -> String {
    let mut args = String::new();
    for a in argv.from(1) {
        if args.len() >= 128 {
            break;
        }
        let room = 128 - args.len();
        args.push('\'');
        args.push_str(&String::from_utf8_lossy(&a[..a.len().min(room)]));
        args.push_str("' ");
    }
    let name = &name[..name.len().min(128)];
    format!(
        "ERR unknown command '{}', with args beginning with: {}",
        String::from_utf8_lossy(name),
        args
    )
}

/// `ERR unknown subcommand 'foo'. Try CONFIG HELP.`
pub fn unknown_subcommand(sub: &[u8], parent: &str) -> String {
    let sub = &sub[..sub.len().min(128)];
    format!(
        "ERR unknown subcommand '{}'. Try {} HELP.",
        String::from_utf8_lossy(sub),
        parent.to_ascii_uppercase()
    )
}

/// `ERR unknown subcommand or wrong number of arguments for 'PAUSE'. Try
/// CLIENT HELP.` — the subcommand as the client typed it.
pub fn subcommand_syntax(sub: &[u8], parent: &str) -> String {
    let sub = &sub[..sub.len().min(128)];
    format!(
        "ERR unknown subcommand or wrong number of arguments for '{}'. Try {} HELP.",
        String::from_utf8_lossy(sub),
        parent.to_ascii_uppercase()
    )
}

/// The error code counted by `INFO errorstats`: the first word of the
/// message.
pub fn code(msg: &str) -> &str {
    msg.split(' ').next().unwrap_or("ERR")
}

/// `EXECABORT Transaction discarded because of: <why>`: EXEC itself was
/// rejected (wrong arity, ...); the reason loses its `ERR ` code.
pub fn exec_abort_because(why: &str) -> String {
    let why = why.strip_prefix("ERR ").unwrap_or(why);
    format!("EXECABORT Transaction discarded because of: {why}")
}
pub const ZADD_XX_NX: &str = "ERR XX and NX options at the same time are not compatible";
pub const ZADD_GT_LT_NX: &str = "ERR GT, LT, and/or NX options at the same time are not compatible";
pub const ZADD_INCR_PAIRS: &str = "ERR INCR option supports a single increment-element pair";
pub const SCORE_NAN: &str = "ERR resulting score is not a number (NaN)";
pub const MIN_MAX_NOT_FLOAT: &str = "ERR min or max is not a float";
pub const MIN_MAX_NOT_LEX: &str = "ERR min or max not valid string range item";
pub const ZRANGE_LIMIT_RANK: &str =
    "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX";
pub const ZRANGE_WITHSCORES_LEX: &str =
    "ERR syntax error, WITHSCORES not supported in combination with BYLEX";
pub const OUT_OF_RANGE: &str = "ERR value is out of range";
pub const WEIGHT_NOT_FLOAT: &str = "ERR weight value is not a float";
pub const RANDMEMBER_COUNT_RANGE: &str =
    "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807";

/// `ERR at least 1 input key is needed for 'zunionstore' command`.
pub fn zsetop_no_keys(cmd: &str) -> String {
    format!("ERR at least 1 input key is needed for '{cmd}' command")
}
pub const GEO_UNIT: &str = "ERR unsupported unit provided. please use M, KM, FT, MI";
pub const GEO_COUNT: &str = "ERR COUNT must be > 0";
pub const GEO_RADIUS_NEGATIVE: &str = "ERR radius cannot be negative";
pub const GEO_BOX_NEGATIVE: &str = "ERR height or width cannot be negative";
pub const GEO_NO_MEMBER: &str = "ERR could not decode requested zset member";
pub const GEO_ANY_NEEDS_COUNT: &str = "ERR the ANY argument requires COUNT argument";
pub const GEOSEARCHSTORE_WITH: &str =
    "ERR GEOSEARCHSTORE is not compatible with WITHDIST, WITHHASH and WITHCOORD options";
pub const GEORADIUS_STORE_WITH: &str =
    "ERR STORE option in GEORADIUS is not compatible with WITHDIST, WITHHASH and WITHCOORD options";

/// `ERR invalid longitude,latitude pair 200.000000,10.000000` (C's `%f`).
pub fn geo_invalid_pair(lon: f64, lat: f64) -> String {
    format!("ERR invalid longitude,latitude pair {lon:.6},{lat:.6}")
}

/// `ERR exactly one of FROMMEMBER or FROMLONLAT can be specified for geosearch`
/// (the command name as the client typed it).
pub fn geo_need_from(cmd: &[u8]) -> String {
    format!(
        "ERR exactly one of FROMMEMBER or FROMLONLAT can be specified for {}",
        String::from_utf8_lossy(cmd)
    )
}

/// `ERR exactly one of BYRADIUS and BYBOX can be specified for geosearch`.
pub fn geo_need_by(cmd: &[u8]) -> String {
    format!(
        "ERR exactly one of BYRADIUS and BYBOX can be specified for {}",
        String::from_utf8_lossy(cmd)
    )
}
pub const GEO_NEED_RADIUS: &str = "ERR need numeric radius";
pub const GEO_NEED_WIDTH: &str = "ERR need numeric width";
pub const GEO_NEED_HEIGHT: &str = "ERR need numeric height";

// HyperLogLog (commands/hyperloglog.rs)
pub const HLL_WRONGTYPE: &str = "WRONGTYPE Key is not a valid HyperLogLog string value.";
pub const HLL_INVALID: &str = "INVALIDOBJ Corrupted HLL object detected";
pub const HLL_NO_KEY: &str = "ERR The specified key does not exist";
pub const HLL_NOT_SPARSE: &str = "ERR HLL encoding is not sparse";

/// `ERR Unknown PFDEBUG subcommand 'foo'`
pub fn pfdebug_unknown(sub: &[u8]) -> String {
    format!(
        "ERR Unknown PFDEBUG subcommand '{}'",
        String::from_utf8_lossy(sub)
    )
}
pub const SORT_NOT_DOUBLE: &str = "ERR One or more scores can't be converted into double";

pub const WAIT_ON_REPLICA: &str = "ERR WAIT cannot be used with replica instances. Please also note that since Redis 4.0 if a replica is configured to be writable (which is not the default) writes to replicas are just local and are not propagated.";
pub const READONLY: &str = "READONLY You can't write against a read only replica.";
pub const REPLICAOF_FROM_REPLICA: &str = "ERR Command is not valid when client is a replica.";
pub const INVALID_MASTER_PORT: &str = "ERR Invalid master port";
pub const NOREPLICAS: &str = "NOREPLICAS Not enough good replicas to write.";
/// A replica's link (after SYNC/PSYNC) sent a command that reads or
/// changes keys.
pub const REPLICA_KEYSPACE: &str = "ERR Replica can't interact with the keyspace";
pub const MASTERDOWN: &str =
    "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.";
pub const FAILOVER_ON_REPLICA: &str = "ERR FAILOVER is not valid when server is a replica.";
pub const FAILOVER_TIMEOUT: &str = "ERR FAILOVER timeout must be greater than 0";
pub const NO_FAILOVER: &str = "ERR No failover in progress.";
pub const FAILOVER_IN_PROGRESS: &str = "ERR FAILOVER already in progress.";
pub const FAILOVER_NO_REPLICAS: &str = "ERR FAILOVER requires connected replicas.";
pub const FAILOVER_FORCE: &str =
    "ERR FAILOVER with force option requires both a timeout and target HOST and IP.";
pub const FAILOVER_NOT_A_REPLICA: &str = "ERR FAILOVER target HOST and PORT is not a replica.";
pub const FAILOVER_NOT_ONLINE: &str = "ERR FAILOVER target replica is not online.";
pub const PSYNC_FAILOVER_REPLID: &str = "ERR PSYNC FAILOVER replid must match my replid.";
pub const SYNC_WITHOUT_MASTER_LINK: &str =
    "NOMASTERLINK Can't SYNC while not connected with my master";
pub const SYNC_WHILE_FAILING_OVER: &str = "NOMASTERLINK Can't SYNC while failing over";

pub const ACL_USERNAME_SPACES: &str = "ERR Usernames can't contain spaces or null characters";
pub const ACL_DELETE_DEFAULT: &str = "ERR The 'default' user cannot be removed";
pub const ACL_GENPASS_BITS: &str = "ERR ACL GENPASS argument must be the number of bits for the output password, a positive number up to 4096";
pub const ACL_NO_FILE: &str = "ERR This Redis instance is not configured to use an ACL file. You may want to specify users via the ACL SETUSER command and then issue a CONFIG REWRITE (assuming you have a Redis configuration file set) in order to store users in the Redis configuration.";
pub const ACL_SAVE_FAILED: &str = "ERR There was an error trying to save the ACLs. Please check the server logs for more information";
/// Logged when both `user` lines and `aclfile` are configured.
pub const ACL_USERS_AND_FILE: &str = "Configuring Redis with users defined in redis.conf and at the same setting an ACL file path is invalid. This setup is very likely to lead to configuration errors and security holes, please define either an ACL file or declare users directly in your redis.conf, but not both.";
/// Written to a non-loopback connection refused by protected mode, before
/// closing it (the whole explanation, as Redis 7.0 writes it).
pub const PROTECTED_MODE_DENIED: &str = "-DENIED Redis is running in protected mode because protected mode is enabled and no password is set for the default user. In this mode connections are only accepted from the loopback interface. If you want to connect from external computers to Redis you may adopt one of the following solutions: 1) Just disable protected mode sending the command 'CONFIG SET protected-mode no' from the loopback interface by connecting to Redis from the same host the server is running, however MAKE SURE Redis is not publicly accessible from internet if you do so. Use CONFIG REWRITE to make this change permanent. 2) Alternatively you can just disable the protected mode by editing the Redis configuration file, and setting the protected mode option to 'no', and then restarting the server. 3) If you started the server manually just for testing, restart it with the '--protected-mode no' option. 4) Setup a an authentication password for the default user. NOTE: You only need to do one of the above things in order for the server to start accepting connections from the outside.\r\n";
pub const MODULE_NOT_ALLOWED: &str = "ERR MODULE command not allowed. If the enable-module-command option is set to \"local\", you can run it from a local connection, otherwise you need to set this option in the configuration file, and then restart the server.";
pub const MODULE_LOAD_FAILED: &str =
    "ERR Error loading the extension. Please check the server logs.";
pub const MODULE_NO_SUCH: &str = "ERR Error unloading module: no such module with that name";
pub const SORT_BY_DENIED: &str =
    "ERR BY option of SORT denied due to insufficient ACL permissions.";
pub const SORT_GET_DENIED: &str =
    "ERR GET option of SORT denied due to insufficient ACL permissions.";
pub const AOF_REWRITE_IN_PROGRESS: &str =
    "ERR Background append only file rewriting already in progress";
pub const AOF_REWRITE_FAILED: &str = "ERR Can't execute an AOF background rewriting. Please check the server logs for more information.";
pub const BGSAVE_WHILE_AOF_REWRITE: &str = "ERR Another child process is active (AOF?): can't BGSAVE right now. Use BGSAVE SCHEDULE in order to schedule a BGSAVE whenever possible.";
/// Written raw to a connection refused by `maxclients` (not counted in
/// errorstats: no command ran).
pub const MAX_CLIENTS: &str = "ERR max number of clients reached";
/// `CONFIG SET` of a `tls-*` directive whose material does not load (the
/// reason is logged).
pub const TLS_RECONFIGURE: &str = "Unable to update TLS configuration. Check server logs.";
/// `CONFIG SET tls-port` that cannot bind.
pub const TLS_LISTEN: &str = "Unable to listen on this port. Check server logs.";

/// The error a RESP2 client in Pub/Sub mode gets for any command but the
/// subscription commands, PING, QUIT and RESET.
pub fn subscribed_context_error(name: &str) -> String {
    format!(
        "ERR Can't execute '{name}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / \
         RESET are allowed in this context"
    )
}

// Scripting and functions (EVAL*, SCRIPT, FUNCTION, FCALL*).
pub const NOSCRIPT: &str = "NOSCRIPT No matching script. Please use EVAL.";
pub const BUSY_SCRIPT: &str =
    "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.";
pub const BUSY_FUNCTION: &str =
    "BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE.";
pub const NOTBUSY: &str = "NOTBUSY No scripts in execution right now.";
pub const UNKILLABLE_FROM_MASTER: &str = "UNKILLABLE The busy script was sent by a master instance in the context of replication and cannot be killed.";
pub const UNKILLABLE_WROTE: &str = "UNKILLABLE Sorry the script already executed write commands against the dataset. You can either wait the script termination or kill the server in a hard way using the SHUTDOWN NOSAVE command.";
pub const NUMKEYS_GREATER: &str = "ERR Number of keys can't be greater than number of args";
pub const NUMKEYS_NEGATIVE: &str = "ERR Number of keys can't be negative";
pub const SCRIPT_FLUSH_MODE: &str = "ERR SCRIPT FLUSH only support SYNC|ASYNC option";
pub const SCRIPT_DEBUG_MODE: &str = "ERR Use SCRIPT DEBUG YES/SYNC/NO";
/// SCRIPT DEBUG YES: Redis forks the session onto a copy of the data;
/// Redoubt has no fork, and offers the synchronous session only.
pub const SCRIPT_DEBUG_FORKED: &str =
    "ERR SCRIPT DEBUG YES (a forked session) is not supported, use SCRIPT DEBUG SYNC";
pub const SCRIPT_DEBUG_TLS: &str = "ERR SCRIPT DEBUG SYNC is not supported on TLS connections";
pub const SCRIPT_DEBUG_PIPELINE: &str = "ERR SCRIPT DEBUG must be called outside a pipeline";
pub const EVALSHA_DEBUG: &str = "ERR Please use EVAL instead of EVALSHA for debugging";
pub const SCRIPT_NO_CLUSTER: &str = "ERR Can not run script on cluster, 'no-cluster' flag is set.";
pub const SCRIPT_STALE: &str = "MASTERDOWN Link with MASTER is down, replica-serve-stale-data is set to 'no' and 'allow-stale' flag is not set on the script.";
pub const SCRIPT_READONLY_REPLICA: &str =
    "READONLY Can not run script with write flag on readonly replica";
pub const SCRIPT_MISCONF_RDB: &str = "MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk. Writable scripts are blocked. Use 'no-writes' flag for read only scripts.";
pub const SCRIPT_RO_COMMAND: &str =
    "ERR Can not execute a script with write flag using *_ro command.";
pub const SCRIPT_OOM: &str =
    "OOM allow-oom flag is not set on the script, can not run it when used memory > 'maxmemory'";
pub const NOREPLICAS_TEXT: &str = "NOREPLICAS Not enough good replicas to write.";
pub const READONLY_REPLICA_TEXT: &str = "READONLY You can't write against a read only replica.";
pub const MASTERDOWN_TEXT: &str =
    "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.";
// Errors scripts see from redis.call & co. (without a code: `ERR ` is
// added when they become error replies).
pub const LUA_NOT_IN_SCRIPT: &str =
    "redis.call/pcall can only be called inside a script invocation";
pub const LUA_NO_ARGS: &str = "Please specify at least one argument for this redis lib call";
pub const LUA_BAD_ARGS: &str = "Lua redis lib command arguments must be strings or integers";
pub const LUA_WRONG_ARITY: &str = "Wrong number of args calling Redis command from script";
pub const LUA_UNKNOWN_COMMAND: &str = "Unknown Redis command called from script";
pub const LUA_NOSCRIPT_COMMAND: &str = "This Redis command is not allowed from script";
pub const LUA_STALE: &str = "Can not execute the command on a stale replica";
pub const LUA_WRITE_IN_RO: &str = "Write commands are not allowed from read-only scripts.";
/// Raised in a killed script (the error reply adds `ERR `).
pub const LUA_KILLED: &str = "Script killed by user with SCRIPT KILL...";
pub const LUA_WRONG_ARGS: &str = "wrong number of arguments";
pub const LUA_WRONG_ARGS_OR_TYPE: &str = "wrong number or type of arguments";
pub const LUA_LOG_ARGS: &str = "redis.log() requires two arguments or more.";
pub const LUA_LOG_LEVEL_TYPE: &str = "First argument must be a number (log level).";
pub const LUA_LOG_LEVEL: &str = "Invalid debug level.";
pub const LUA_SETRESP_ARGS: &str = "redis.setresp() requires one argument.";
pub const LUA_SETRESP_VERSION: &str = "RESP version must be 2 or 3.";
pub const LUA_SETRESP_OUTSIDE: &str = "redis.setresp can only be called inside a script invocation";
pub const LUA_SET_REPL_ARGS: &str = "redis.set_repl() requires two arguments.";
pub const LUA_SET_REPL_FLAGS: &str =
    "Invalid replication flags. Use REPL_AOF, REPL_REPLICA, REPL_ALL or REPL_NONE.";
pub const LUA_SET_REPL_OUTSIDE: &str =
    "redis.set_repl can only be called inside a script invocation";
pub const LUA_ACL_CHECK_OUTSIDE: &str =
    "redis.acl_check_cmd can only be called inside a script invocation";
pub const LUA_ACL_CHECK_INVALID: &str = "Invalid command passed to redis.acl_check_cmd()";

/// `ERR Error compiling script (new function): user_script:1: ...`.
pub fn script_compile(lua_msg: &str) -> String {
    format!("ERR Error compiling script (new function): {lua_msg}")
}

/// The script-side text of an ACL refusal (`The user executing the
/// script can't run this command or subcommand`).
pub fn script_acl(why: &str) -> String {
    format!("The user executing the script {why}")
}

/// Shebang errors.
pub const SHEBANG_INVALID: &str = "ERR Invalid script shebang";
pub const SHEBANG_ENGINE_INVALID: &str = "ERR Invalid engine in script shebang";
pub fn shebang_unexpected_engine(engine: &str) -> String {
    format!("ERR Unexpected engine in script shebang: {engine}")
}
pub fn shebang_unexpected_flag(flag: &str) -> String {
    format!("ERR Unexpected flag in script shebang: {flag}")
}
pub fn shebang_unknown_option(opt: &str) -> String {
    format!("ERR Unknown lua shebang option: {opt}")
}

// Function libraries (FUNCTION, FCALL, redis.register_function). The
// library engine's texts have no code: FUNCTION's handlers add `ERR `.
pub const FN_BAD_NAME: &str = "Library names can only contain letters, numbers, or underscores(_) and must be at least one character long";
pub const FN_METADATA_MISSING: &str = "Missing library metadata";
pub const FN_METADATA_INVALID: &str = "Invalid library metadata";
pub const FN_NAME_TWICE: &str = "Invalid metadata value, name argument was given multiple times";
pub const FN_NAME_MISSING: &str = "Library name was not given";
pub const FN_NONE_REGISTERED: &str = "No functions registered";
pub const FN_REGISTER_TABLE_ONLY: &str = "calling redis.register_function with a single argument is only applicable to Lua table (representing named arguments).";
pub const FN_REGISTER_KEY_NOT_STRING: &str =
    "named argument key given to redis.register_function is not a string";
pub const FN_REGISTER_NAME_NOT_STRING: &str =
    "function_name argument given to redis.register_function must be a string";
pub const FN_REGISTER_DESC_NOT_STRING: &str =
    "description argument given to redis.register_function must be a string";
pub const FN_REGISTER_CALLBACK_NOT_FUNCTION: &str =
    "callback argument given to redis.register_function must be a function";
pub const FN_REGISTER_FLAGS_NOT_TABLE: &str =
    "flags argument to redis.register_function must be a table representing function flags";
pub const FN_REGISTER_UNKNOWN_FLAG: &str = "unknown flag given";
pub const FN_REGISTER_UNKNOWN_ARGUMENT: &str = "unknown argument given to redis.register_function";
pub const FN_REGISTER_NAME_MISSING: &str =
    "redis.register_function must get a function name argument";
pub const FN_REGISTER_CALLBACK_MISSING: &str =
    "redis.register_function must get a callback argument";
pub const FN_REGISTER_FIRST_NOT_STRING: &str =
    "first argument to redis.register_function must be a string";
pub const FN_REGISTER_SECOND_NOT_FUNCTION: &str =
    "second argument to redis.register_function must be a function";
pub const FN_REGISTER_OUTSIDE_LOAD: &str =
    "redis.register_function can only be called on FUNCTION LOAD command";
pub const FN_REGISTER_ARGS: &str = "wrong number of arguments to redis.register_function";
pub const FN_EXISTS_IN_LIBRARY: &str = "Function already exists in the library";
pub const FN_NOT_FOUND: &str = "ERR Function not found";
pub const FN_BAD_NUMKEYS: &str = "ERR Bad number of keys provided";
pub const FN_CODE_MISSING: &str = "ERR Function code is missing";
pub const FN_LIBRARY_NOT_FOUND: &str = "ERR Library not found";
pub const FN_FLUSH_MODE: &str = "ERR FUNCTION FLUSH only supports SYNC|ASYNC option";
pub const FN_LIST_NAME_MISSING: &str = "ERR library name argument was not given";
pub const FN_RESTORE_POLICY: &str =
    "ERR Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE.";
pub fn fn_engine_not_found(engine: &str) -> String {
    format!("Engine '{engine}' not found")
}
pub fn fn_library_exists(name: &str) -> String {
    format!("Library '{name}' already exists")
}
/// FUNCTION RESTORE's collision (without quotes, as Redis words it).
pub fn fn_restore_library_exists(name: &str) -> String {
    format!("Library {name} already exists")
}
pub fn fn_function_exists(name: &str) -> String {
    format!("Function {name} already exists")
}
pub fn fn_metadata_value(part: &str) -> String {
    format!("Invalid metadata value given: {part}")
}
pub fn fn_compile(msg: &str) -> String {
    format!("Error compiling function: {msg}")
}
pub fn fn_registering(msg: &str) -> String {
    format!("Error registering functions: {msg}")
}
pub fn fn_load_option(opt: &str) -> String {
    format!("ERR Unknown option given: {opt}")
}
pub fn fn_list_argument(arg: &str) -> String {
    format!("ERR Unknown argument {arg}")
}

// Streams (families/src/streams.rs, stream_read.rs, stream_groups.rs,
// stream_info.rs), as `t_stream.c` words them.
pub const STREAM_ID_INVALID: &str = "ERR Invalid stream ID specified as stream command argument";
pub const XADD_ID_ZERO: &str = "ERR The ID specified in XADD must be greater than 0-0";
pub const XADD_ID_NOT_GREATER: &str =
    "ERR The ID specified in XADD is equal or smaller than the target stream top item";
pub const XADD_EXHAUSTED: &str =
    "ERR The stream has exhausted the last possible ID, unable to add more items";
pub const XADD_TOO_LARGE: &str = "ERR Elements are too large to be stored";
pub const XTRIM_MAXLEN_AND_MINID: &str =
    "ERR syntax error, MAXLEN and MINID options at the same time are not compatible";
pub const XTRIM_MAXLEN_NEGATIVE: &str = "ERR The MAXLEN argument must be >= 0.";
pub const XTRIM_LIMIT_NEGATIVE: &str = "ERR The LIMIT argument must be >= 0.";
pub const XTRIM_LIMIT_WITHOUT_STRATEGY: &str =
    "ERR syntax error, LIMIT cannot be used without specifying a trimming strategy";
pub const XTRIM_WITHOUT_STRATEGY: &str =
    "ERR syntax error, XTRIM must be called with a trimming strategy";
pub const XTRIM_LIMIT_WITHOUT_APPROX: &str =
    "ERR syntax error, LIMIT cannot be used without the special ~ option";
pub const STREAM_START_INVALID: &str = "ERR invalid start ID for the interval";
pub const STREAM_END_INVALID: &str = "ERR invalid end ID for the interval";
pub const XREAD_UNBALANCED: &str =
    "ERR Unbalanced XREAD list of streams: for each stream key an ID or '$' must be specified.";
pub const XREAD_GROUP_OPTION: &str =
    "ERR The GROUP option is only supported by XREADGROUP. You called XREAD instead.";
pub const XREAD_NOACK_OPTION: &str =
    "ERR The NOACK option is only supported by XREADGROUP. You called XREAD instead.";
pub const XREADGROUP_WITHOUT_GROUP: &str = "ERR Missing GROUP option for XREADGROUP";
pub const XREADGROUP_DOLLAR: &str = "ERR The $ ID is meaningless in the context of XREADGROUP: you want to read the history of this consumer by specifying a proper ID, or use the > ID to get new messages. The $ ID would just return an empty result set.";
pub const XREAD_GREATER_ID: &str = "ERR The > ID can be specified only when calling XREADGROUP using the GROUP <group> <consumer> option.";
pub const XREADGROUP_GROUP_GONE: &str =
    "NOGROUP the consumer group this client was blocked on no longer exists";
pub const XREADGROUP_KEY_GONE: &str = "UNBLOCKED the stream key no longer exists";
pub const XGROUP_ENTRIES_READ: &str = "ERR value for ENTRIESREAD must be positive or -1";
pub const XGROUP_NO_KEY: &str = "ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the MKSTREAM option to create an empty stream automatically.";
pub const BUSYGROUP: &str = "BUSYGROUP Consumer Group name already exists";
pub const XSETID_ENTRIES_ADDED_NEGATIVE: &str = "ERR entries_added must be positive";
pub const XSETID_BELOW_MAX_DELETED: &str =
    "ERR The ID specified in XSETID is smaller than the provided max_deleted_entry_id";
pub const XSETID_BELOW_TOP: &str =
    "ERR The ID specified in XSETID is smaller than the target stream top item";
pub const XSETID_ENTRIES_ADDED_BELOW_LENGTH: &str =
    "ERR The entries_added specified in XSETID is smaller than the target stream length";
pub const XCLAIM_MIN_IDLE: &str = "ERR Invalid min-idle-time argument for XCLAIM";
pub const XCLAIM_IDLE: &str = "ERR Invalid IDLE option argument for XCLAIM";
pub const XCLAIM_TIME: &str = "ERR Invalid TIME option argument for XCLAIM";
pub const XCLAIM_RETRYCOUNT: &str = "ERR Invalid RETRYCOUNT option argument for XCLAIM";
pub const XAUTOCLAIM_MIN_IDLE: &str = "ERR Invalid min-idle-time argument for XAUTOCLAIM";
pub const XAUTOCLAIM_COUNT: &str = "ERR COUNT must be > 0";
pub const XAUTOCLAIM_NO_MEMORY: &str =
    "ERR Insufficient memory, failed allocating transient memory, COUNT too high.";

/// A name inside an error as Redis's `addReplyErrorFormat` prints it: the
/// text up to its first NUL, line breaks turned into spaces.
fn err_name(name: &[u8]) -> String {
    let end = name.iter().position(|&c| c == 0).unwrap_or(name.len());
    String::from_utf8_lossy(&name[..end]).replace(['\r', '\n'], " ")
}

/// `NOGROUP No such key 'k' or consumer group 'g' in XREADGROUP with GROUP option`.
pub fn xreadgroup_no_group(key: &[u8], group: &[u8]) -> String {
    format!(
        "NOGROUP No such key '{}' or consumer group '{}' in XREADGROUP with GROUP option",
        err_name(key),
        err_name(group)
    )
}

/// `NOGROUP No such key 'k' or consumer group 'g'` (XPENDING, XCLAIM,
/// XAUTOCLAIM).
pub fn no_key_or_group(key: &[u8], group: &[u8]) -> String {
    format!(
        "NOGROUP No such key '{}' or consumer group '{}'",
        err_name(key),
        err_name(group)
    )
}

/// `NOGROUP No such consumer group 'g' for key name 'k'` (XGROUP, XINFO).
pub fn no_group_for_key(group: &[u8], key: &[u8]) -> String {
    format!(
        "NOGROUP No such consumer group '{}' for key name '{}'",
        err_name(group),
        err_name(key)
    )
}

/// `ERR Unrecognized XCLAIM option 'foo'`.
pub fn xclaim_unrecognized(opt: &[u8]) -> String {
    format!("ERR Unrecognized XCLAIM option '{}'", err_name(opt))
}

/// `ERR xread command is not allowed with BLOCK option from scripts` (the
/// command name as the client typed it).
pub fn block_in_script(cmd: &[u8]) -> String {
    format!(
        "ERR {} command is not allowed with BLOCK option from scripts",
        err_name(cmd)
    )
}

/// A script's command refused in cluster mode (Redis's
/// `scriptVerifyClusterState`; the script sees them with ERR).
pub const SCRIPT_CLUSTER_DOWN_RO: &str =
    "Script attempted to execute a write command while the cluster is down and readonly";
pub const SCRIPT_CLUSTER_DOWN: &str =
    "Script attempted to execute a command while the cluster is down";
pub const SCRIPT_NON_LOCAL_KEY: &str =
    "Script attempted to access a non local key in a cluster node";
pub const SCRIPT_CROSS_SLOT: &str =
    "Script attempted to access keys that do not hash to the same slot";
