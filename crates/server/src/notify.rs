//! Hooks every write command calls, whatever its type:
//!
//! - [`Server::signal_modified_key`]: a key's value changed (Redis's
//!   `signalModifiedKey`): breaks `WATCH`es on it and invalidates
//!   client-side caches that track it.
//! - [`Server::notify_keyspace_event`]: a keyspace notification (Redis's
//!   `notifyKeyspaceEvent`), published when `notify-keyspace-events`
//!   enables its class.
//!
//! Handlers call them through `Ctx::modified` and `Ctx::notify`. The
//! subscribers (WATCH, tracking, Pub/Sub) hang off these two functions, so
//! a command family never needs to know who listens.

use crate::server::Server;

/// Event classes, with Redis's bit values and flag letters.
pub mod class {
    /// `K`: publish on `__keyspace@<db>__:<key>`.
    pub const KEYSPACE: u32 = 1 << 0;
    /// `E`: publish on `__keyevent@<db>__:<event>`.
    pub const KEYEVENT: u32 = 1 << 1;
    /// `g`: generic commands (DEL, EXPIRE, RENAME, ...).
    pub const GENERIC: u32 = 1 << 2;
    /// `$`: string commands.
    pub const STRING: u32 = 1 << 3;
    /// `l`: list commands.
    pub const LIST: u32 = 1 << 4;
    /// `s`: set commands.
    pub const SET: u32 = 1 << 5;
    /// `h`: hash commands.
    pub const HASH: u32 = 1 << 6;
    /// `z`: sorted set commands.
    pub const ZSET: u32 = 1 << 7;
    /// `x`: expired events.
    pub const EXPIRED: u32 = 1 << 8;
    /// `e`: evicted events.
    pub const EVICTED: u32 = 1 << 9;
    /// `t`: stream commands.
    pub const STREAM: u32 = 1 << 10;
    /// `m`: key-miss events.
    pub const KEY_MISS: u32 = 1 << 11;
    /// `d`: module events.
    pub const MODULE: u32 = 1 << 12;
    /// `n`: new-key events.
    pub const NEW: u32 = 1 << 13;
}

/// The classes `A` stands for in Redis 7.0: every type and event class
/// except key-miss (`m`) and new-key (`n`) events.
pub const ALL: u32 = class::GENERIC
    | class::STRING
    | class::LIST
    | class::SET
    | class::HASH
    | class::ZSET
    | class::EXPIRED
    | class::EVICTED
    | class::STREAM
    | class::MODULE;

/// Parses `notify-keyspace-events` flags into class bits; None on an
/// unknown character.
pub fn parse_flags(s: &[u8]) -> Option<u32> {
    let mut bits = 0;
    for &c in s {
        bits |= match c {
            b'A' => ALL,
            b'g' => class::GENERIC,
            b'$' => class::STRING,
            b'l' => class::LIST,
            b's' => class::SET,
            b'h' => class::HASH,
            b'z' => class::ZSET,
            b'x' => class::EXPIRED,
            b'e' => class::EVICTED,
            b'K' => class::KEYSPACE,
            b'E' => class::KEYEVENT,
            b't' => class::STREAM,
            b'm' => class::KEY_MISS,
            b'd' => class::MODULE,
            b'n' => class::NEW,
            _ => return None,
        };
    }
    Some(bits)
}

/// Renders class bits as `CONFIG GET notify-keyspace-events` shows them:
/// `A` when all of it is set (new-key events are then not shown, as in
/// Redis), else the class letters, then `K`, `E`, `m`.
pub fn flags_to_string(bits: u32) -> String {
    let mut s = String::new();
    if bits & ALL == ALL {
        s.push('A');
    } else {
        for (b, c) in [
            (class::GENERIC, 'g'),
            (class::STRING, '$'),
            (class::LIST, 'l'),
            (class::SET, 's'),
            (class::HASH, 'h'),
            (class::ZSET, 'z'),
            (class::EXPIRED, 'x'),
            (class::EVICTED, 'e'),
            (class::STREAM, 't'),
            (class::MODULE, 'd'),
            (class::NEW, 'n'),
        ] {
            if bits & b != 0 {
                s.push(c);
            }
        }
    }
    for (b, c) in [
        (class::KEYSPACE, 'K'),
        (class::KEYEVENT, 'E'),
        (class::KEY_MISS, 'm'),
    ] {
        if bits & b != 0 {
            s.push(c);
        }
    }
    s
}

impl Server {
    /// A key's value was changed by a command (or expired, or evicted).
    pub fn signal_modified_key(&mut self, db: usize, key: &[u8]) {
        if !self.watches.is_empty() {
            self.touch_watched_key(db, key);
        }
        // Clients blocked on the key get a chance to be served.
        self.signal_key_as_ready(db, key);
        // Tracking keys are names only: a client caching `k` from any
        // database hears about `k` changing in any database, as in Redis.
        self.tracking_invalidate_key(key);
    }

    /// Publishes a keyspace notification when its class is enabled:
    /// `__keyspace@<db>__:<key>` carries the event name (with `K`),
    /// `__keyevent@<db>__:<event>` the key name (with `E`).
    pub fn notify_keyspace_event(&mut self, class: u32, event: &str, key: &[u8], db: usize) {
        let flags = self.notify_keyspace_events;
        if flags & class == 0 {
            return;
        }
        if flags & class::KEYSPACE != 0 {
            let mut chan = format!("__keyspace@{db}__:").into_bytes();
            chan.extend_from_slice(key);
            self.publish(&chan, event.as_bytes());
        }
        if flags & class::KEYEVENT != 0 {
            let chan = format!("__keyevent@{db}__:{event}");
            self.publish(chan.as_bytes(), key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_round_trip_as_redis_renders_them() {
        let r = |s: &str| parse_flags(s.as_bytes()).map(flags_to_string);
        assert_eq!(r("KEA").as_deref(), Some("AKE"));
        assert_eq!(r("KEAnm").as_deref(), Some("AKEm"));
        assert_eq!(r("g$lshzxetd").as_deref(), Some("A"));
        assert_eq!(r("Elg$x").as_deref(), Some("g$lxE"));
        assert_eq!(r("").as_deref(), Some(""));
        assert_eq!(r("KEZ"), None);
    }
}
