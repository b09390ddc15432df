//! The directive table: every redis.conf directive Redoubt accepts, with
//! its type, limits and default, in the order `CONFIG GET *` lists them.

/// How a directive's arguments are parsed and rendered.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    /// `yes` / `no`.
    Bool,
    /// An integer between the bounds, inclusive.
    Int { min: i64, max: i64 },
    /// A memory size (`1gb`, `64mb`, `100`), rendered in bytes.
    Memory { min: i64, max: i64 },
    /// One of the listed words.
    Enum(&'static [&'static str]),
    /// Any single string.
    Str,
    /// An octal number (`unixsocketperm`).
    Octal,
    /// Several arguments kept as a list (`bind`, `save`, ...).
    List,
}

pub mod flags {
    /// Cannot be changed with `CONFIG SET`.
    pub const IMMUTABLE: u32 = 1;
    /// Hidden from `CONFIG GET` results that would leak it? No: Redis shows
    /// sensitive values; this only keeps them out of logs.
    pub const SENSITIVE: u32 = 2;
    /// May appear several times in a file; each occurrence adds arguments.
    pub const MULTI: u32 = 4;
}

#[derive(Debug)]
pub struct Def {
    pub name: &'static str,
    pub alias: Option<&'static str>,
    pub kind: Kind,
    pub default: &'static str,
    pub flags: u32,
}

const fn d(name: &'static str, kind: Kind, default: &'static str) -> Def {
    Def {
        name,
        alias: None,
        kind,
        default,
        flags: 0,
    }
}

const fn dx(name: &'static str, kind: Kind, default: &'static str, flags: u32) -> Def {
    Def {
        name,
        alias: None,
        kind,
        default,
        flags,
    }
}

const fn da(name: &'static str, alias: &'static str, kind: Kind, default: &'static str) -> Def {
    Def {
        name,
        alias: Some(alias),
        kind,
        default,
        flags: 0,
    }
}

const INT: Kind = Kind::Int {
    min: i64::MIN,
    max: i64::MAX,
};
const UINT: Kind = Kind::Int {
    min: 0,
    max: i64::MAX,
};
const INT_MAX: i64 = i32::MAX as i64;
const MEM: Kind = Kind::Memory {
    min: 0,
    max: i64::MAX,
};

use flags::*;

pub static DIRECTIVES: &[Def] = &[
    dx("bind", Kind::List, "* -::*", MULTI),
    d("port", Kind::Int { min: 0, max: 65535 }, "6379"),
    d("protected-mode", Kind::Bool, "yes"),
    dx("requirepass", Kind::Str, "", SENSITIVE),
    d(
        "tcp-backlog",
        Kind::Int {
            min: 0,
            max: INT_MAX,
        },
        "511",
    ),
    dx(
        "maxclients",
        Kind::Int {
            min: 1,
            max: INT_MAX,
        },
        "10000",
        0,
    ),
    d(
        "timeout",
        Kind::Int {
            min: 0,
            max: INT_MAX,
        },
        "0",
    ),
    d(
        "tcp-keepalive",
        Kind::Int {
            min: 0,
            max: INT_MAX,
        },
        "300",
    ),
    dx(
        "databases",
        Kind::Int {
            min: 1,
            max: INT_MAX,
        },
        "16",
        IMMUTABLE,
    ),
    d(
        "loglevel",
        Kind::Enum(&["debug", "verbose", "notice", "warning", "nothing"]),
        "notice",
    ),
    dx("logfile", Kind::Str, "", IMMUTABLE),
    dx("daemonize", Kind::Bool, "no", IMMUTABLE),
    d("pidfile", Kind::Str, ""),
    d("dir", Kind::Str, ""),
    d(
        "hz",
        Kind::Int {
            min: 0,
            max: INT_MAX,
        },
        "10",
    ),
    d("dynamic-hz", Kind::Bool, "yes"),
    d(
        "proto-max-bulk-len",
        Kind::Memory {
            min: 1024 * 1024,
            max: i64::MAX,
        },
        "536870912",
    ),
    d(
        "client-query-buffer-limit",
        Kind::Memory {
            min: 1024 * 1024,
            max: i64::MAX,
        },
        "1073741824",
    ),
    d("slowlog-log-slower-than", INT, "10000"),
    d("slowlog-max-len", UINT, "128"),
    d("latency-monitor-threshold", UINT, "0"),
    d("notify-keyspace-events", Kind::Str, ""),
    d("maxmemory", MEM, "0"),
    d(
        "maxmemory-policy",
        Kind::Enum(&[
            "volatile-lru",
            "volatile-lfu",
            "volatile-random",
            "volatile-ttl",
            "allkeys-lru",
            "allkeys-lfu",
            "allkeys-random",
            "noeviction",
        ]),
        "noeviction",
    ),
    da("replicaof", "slaveof", Kind::List, ""),
    d("lazyfree-lazy-expire", Kind::Bool, "no"),
    d("lazyfree-lazy-user-del", Kind::Bool, "no"),
    d("lazyfree-lazy-user-flush", Kind::Bool, "no"),
    d("lazyfree-lazy-server-del", Kind::Bool, "no"),
    d("save", Kind::List, "3600 1 300 100 60 10000"),
    d("appendonly", Kind::Bool, "no"),
    d("dbfilename", Kind::Str, "dump.rdb"),
    d("active-expire-effort", Kind::Int { min: 1, max: 10 }, "1"),
    d(
        "enable-debug-command",
        Kind::Enum(&["no", "yes", "local"]),
        "no",
    ),
];
