//! Command metadata, the leaf every layer shares: what a command is
//! ([`CommandMeta`]: arity, flags, ACL categories, key specs), the
//! arguments of one request ([`Argv`]), the metadata of every Redis 7.0
//! command ([`specs::ALL`], generated from a real Redis) and key
//! extraction from key specs ([`keys`]).
//!
//! The engine (dispatch, ACL, client-side tracking, later cluster
//! redirection), the command families and Sentinel all read these facts;
//! keeping them in a crate of their own, with no knowledge of the server,
//! lets the arrows point one way: metadata <- engine <- families <- binary.

pub mod keys;
pub mod specs;

/// Where the first key is found (COMMAND INFO's `begin_search`).
#[derive(Debug, Clone, Copy)]
pub enum BeginSearch {
    Index(i32),
    Keyword {
        keyword: &'static str,
        startfrom: i32,
    },
    Unknown,
}

/// How the keys are found from there (COMMAND INFO's `find_keys`).
#[derive(Debug, Clone, Copy)]
pub enum FindKeys {
    Range {
        lastkey: i32,
        keystep: i32,
        limit: i32,
    },
    Keynum {
        keynumidx: i32,
        firstkey: i32,
        keystep: i32,
    },
    Unknown,
}

#[derive(Debug, Clone, Copy)]
pub struct KeySpec {
    pub notes: &'static str,
    pub flags: &'static [&'static str],
    pub begin: BeginSearch,
    pub find: FindKeys,
}

/// Static description of a command, as Redis reports it.
#[derive(Debug)]
pub struct CommandMeta {
    /// Lower-case name; subcommands are `parent|sub`.
    pub name: &'static str,
    pub arity: i32,
    pub flags: &'static [&'static str],
    pub first_key: i32,
    pub last_key: i32,
    pub step: i32,
    pub acl_categories: &'static [&'static str],
    pub tips: &'static [&'static str],
    pub key_specs: &'static [KeySpec],
    pub group: &'static str,
    pub since: &'static str,
    pub subcommands: &'static [CommandMeta],
}

impl CommandMeta {
    /// The name without the parent (`get` for `config|get`).
    pub fn short_name(&self) -> &'static str {
        match self.name.find('|') {
            Some(i) => &self.name[i + 1..],
            None => self.name,
        }
    }
}

/// Flag bits checked on every call, derived from the metadata's flag names.
pub mod flags {
    pub const WRITE: u32 = 1 << 0;
    pub const READONLY: u32 = 1 << 1;
    pub const DENYOOM: u32 = 1 << 2;
    pub const ADMIN: u32 = 1 << 3;
    pub const NOAUTH: u32 = 1 << 4;
    pub const LOADING: u32 = 1 << 5;
    pub const STALE: u32 = 1 << 6;
    pub const FAST: u32 = 1 << 7;
    pub const NOSCRIPT: u32 = 1 << 8;
    pub const PUBSUB: u32 = 1 << 9;
    pub const NO_MULTI: u32 = 1 << 10;
    pub const SKIP_MONITOR: u32 = 1 << 11;
    pub const SKIP_SLOWLOG: u32 = 1 << 12;
    pub const BLOCKING: u32 = 1 << 13;
    pub const MAY_REPLICATE: u32 = 1 << 14;
    pub const ALLOW_BUSY: u32 = 1 << 15;
    pub const TOUCHES_ARBITRARY_KEYS: u32 = 1 << 16;
    /// Refused with -LOADING while a replica loads its master's snapshot
    /// in the background (`async_loading`): REPLICAOF, FLUSHALL, ...
    pub const NO_ASYNC_LOADING: u32 = 1 << 17;

    /// Flags Redis keeps but hides from `COMMAND INFO` (so the generated
    /// specs cannot carry them), by command name.
    const HIDDEN: &[(&str, u32)] = &[
        // Their lazy-expiry deletions are propagated one by one, never
        // wrapped in MULTI/EXEC.
        ("scan", TOUCHES_ARBITRARY_KEYS),
        ("randomkey", TOUCHES_ARBITRARY_KEYS),
        // Not writes, yet they can add to the replication stream (a
        // converted HyperLogLog, a message, a script's writes): CLIENT
        // PAUSE WRITE holds them back.
        ("pfcount", MAY_REPLICATE),
        ("publish", MAY_REPLICATE),
        ("spublish", MAY_REPLICATE),
        ("eval", MAY_REPLICATE),
        ("evalsha", MAY_REPLICATE),
        ("fcall", MAY_REPLICATE),
    ];

    /// The flag bits of a command: its reported flags and hidden ones.
    pub fn of(meta: &crate::CommandMeta) -> u32 {
        let hidden = HIDDEN
            .iter()
            .filter(|(n, _)| *n == meta.name)
            .fold(0, |acc, (_, f)| acc | f);
        from_names(meta.flags) | hidden
    }

    pub fn from_names(names: &[&str]) -> u32 {
        names.iter().fold(0, |acc, n| {
            acc | match *n {
                "write" => WRITE,
                "readonly" => READONLY,
                "denyoom" => DENYOOM,
                "admin" => ADMIN,
                "no_auth" => NOAUTH,
                "loading" => LOADING,
                "stale" => STALE,
                "fast" => FAST,
                "noscript" => NOSCRIPT,
                "pubsub" => PUBSUB,
                "no_multi" => NO_MULTI,
                "skip_monitor" => SKIP_MONITOR,
                "skip_slowlog" => SKIP_SLOWLOG,
                "blocking" => BLOCKING,
                "may_replicate" => MAY_REPLICATE,
                "allow_busy" => ALLOW_BUSY,
                "touches_arbitrary_keys" => TOUCHES_ARBITRARY_KEYS,
                "no_async_loading" => NO_ASYNC_LOADING,
                _ => 0,
            }
        })
    }
}

/// The arguments of one request, as slices of the buffer they were parsed
/// from. Copying happens only when a handler stores an argument.
#[derive(Clone, Copy)]
pub struct Argv<'a> {
    buf: &'a [u8],
    ranges: &'a [(usize, usize)],
}

impl<'a> Argv<'a> {
    pub fn new(buf: &'a [u8], ranges: &'a [(usize, usize)]) -> Argv<'a> {
        Argv { buf, ranges }
    }

    #[inline]
    pub fn len(&self) -> usize {
        self.ranges.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// Argument `i`; empty when out of range (arity is checked before any
    /// handler runs, so handlers index within bounds).
    #[inline]
    pub fn get(&self, i: usize) -> &'a [u8] {
        match self.ranges.get(i) {
            Some(&(s, e)) => &self.buf[s..e],
            None => &[],
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = &'a [u8]> + 'a {
        let buf = self.buf;
        self.ranges.iter().map(move |&(s, e)| &buf[s..e])
    }

    /// Arguments from `start` on.
    pub fn from(&self, start: usize) -> impl Iterator<Item = &'a [u8]> + 'a {
        let buf = self.buf;
        self.ranges
            .get(start..)
            .unwrap_or(&[])
            .iter()
            .map(move |&(s, e)| &buf[s..e])
    }
}
