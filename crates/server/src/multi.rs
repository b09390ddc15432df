//! Transactions: the per-client MULTI queue and the server-wide WATCH
//! bookkeeping (Redis's `multi.c`).
//!
//! - [`MultiState`] lives in the client between `MULTI` and `EXEC`/
//!   `DISCARD`. Queued commands must outlive the read buffer they were
//!   parsed from, so their arguments are copied into one byte buffer with
//!   ranges, one allocation for the whole transaction rather than one per
//!   argument.
//! - [`Watches`] lives in the server: database + key → the ids of the
//!   clients watching it, and per client its keys and whether one of them
//!   was touched since `WATCH` (Redis's `CLIENT_DIRTY_CAS`). Keeping the
//!   dirty flag here rather than in `Client` means touching a key never
//!   borrows a client through the registry, so a client that modifies a
//!   key it watches itself (which Redis also counts) needs no special case.
//!
//! The hooks: `Server::signal_modified_key` calls [`Server::touch_watched_key`];
//! FLUSHDB/FLUSHALL/SWAPDB call [`Server::touch_all_watched_keys_in_db`]
//! before they change the databases; `EXEC` asks [`Server::watch_broken`].

use crate::client::Client;
use crate::server::Server;
use command_meta::Argv;
use std::collections::HashMap;
use std::rc::Rc;

/// Commands queued by a client in MULTI.
#[derive(Default)]
pub struct Queue {
    /// The arguments of all queued commands, back to back.
    buf: Vec<u8>,
    /// `(start, end)` of every argument in `buf`.
    ranges: Vec<(usize, usize)>,
    /// End index in `ranges` of each command.
    ends: Vec<usize>,
}

impl Queue {
    pub fn push(&mut self, argv: Argv) {
        for a in argv.iter() {
            let s = self.buf.len();
            self.buf.extend_from_slice(a);
            self.ranges.push((s, self.buf.len()));
        }
        self.ends.push(self.ranges.len());
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// The queued commands, in order.
    pub fn iter(&self) -> impl Iterator<Item = Argv<'_>> {
        let mut start = 0;
        self.ends.iter().map(move |&end| {
            let argv = Argv::new(&self.buf, &self.ranges[start..end]);
            start = end;
            argv
        })
    }

    /// Bytes held (`multi-mem` in CLIENT LIST).
    pub fn mem(&self) -> usize {
        self.buf.capacity()
            + self.ranges.capacity() * std::mem::size_of::<(usize, usize)>()
            + self.ends.capacity() * std::mem::size_of::<usize>()
    }
}

/// A client's transaction, from MULTI to EXEC or DISCARD.
#[derive(Default)]
pub struct MultiState {
    pub queue: Queue,
    /// Commands accepted with `+QUEUED` (kept while EXEC runs them, for
    /// `multi=` in CLIENT LIST).
    pub queued: usize,
    /// Bytes held by the queue (`multi-mem`), also kept while EXEC runs.
    pub mem: usize,
    /// Flags of the queued commands, or-ed (an EXEC that will write waits
    /// out `CLIENT PAUSE WRITE`, as in Redis).
    pub cmd_flags: u32,
    /// A command was rejected while queuing (unknown, wrong arity, ...):
    /// EXEC replies EXECABORT (Redis's `CLIENT_DIRTY_EXEC`).
    pub aborted: bool,
    /// A queued command lacks the `stale` flag (Redis's `cmd_inv_flags`
    /// test): EXEC is refused while the master link is down.
    pub has_non_stale: bool,
}

/// A command was refused while `client` was queuing: EXEC will abort.
pub fn flag_transaction(client: &mut Client) {
    if let Some(m) = client.multi.as_mut() {
        m.aborted = true;
    }
}

/// The names that run at once inside MULTI instead of being queued.
pub fn runs_inside_multi(name: &str) -> bool {
    matches!(
        name,
        "exec" | "discard" | "multi" | "watch" | "quit" | "reset"
    )
}

struct WatchedKey {
    db: usize,
    key: Rc<[u8]>,
    /// The key was present but logically expired when WATCH ran: its
    /// deletion by expiry is no change (Redis 7.0 keeps the same flag).
    expired: bool,
}

#[derive(Default)]
struct ClientWatch {
    keys: Vec<WatchedKey>,
    /// A watched key was touched: EXEC must fail.
    dirty: bool,
}

/// Server-wide WATCH state.
#[derive(Default)]
pub struct Watches {
    /// Per database: key → watching client ids.
    by_key: Vec<HashMap<Rc<[u8]>, Vec<u64>>>,
    by_client: HashMap<u64, ClientWatch>,
}

impl Watches {
    /// Whether any client watches anything (the hot-path early exit).
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.by_client.is_empty()
    }

    /// How many keys `client` watches.
    pub fn watched_count(&self, client: u64) -> usize {
        self.by_client.get(&client).map_or(0, |cw| cw.keys.len())
    }

    /// Whether a key `client` watches was touched.
    pub fn is_dirty(&self, client: u64) -> bool {
        self.by_client.get(&client).is_some_and(|cw| cw.dirty)
    }

    fn watchers(&self, db: usize, key: &[u8]) -> Option<&Vec<u64>> {
        self.by_key.get(db)?.get(key)
    }

    /// Adds `key` of `db` to the keys `client` watches.
    pub fn watch(&mut self, client: u64, db: usize, key: &[u8], expired: bool) {
        let cw = self.by_client.entry(client).or_default();
        if cw.dirty || cw.keys.iter().any(|w| w.db == db && *w.key == *key) {
            return;
        }
        if self.by_key.len() <= db {
            self.by_key.resize_with(db + 1, HashMap::new);
        }
        let map = &mut self.by_key[db];
        let key: Rc<[u8]> = match map.get_key_value(key) {
            Some((k, _)) => k.clone(),
            None => Rc::from(key),
        };
        map.entry(key.clone()).or_default().push(client);
        cw.keys.push(WatchedKey { db, key, expired });
    }

    /// Forgets every key `client` watches, and its dirty flag.
    pub fn unwatch_all(&mut self, client: u64) {
        if let Some(cw) = self.by_client.remove(&client) {
            self.drop_keys(client, &cw.keys);
        }
    }

    fn drop_keys(&mut self, client: u64, keys: &[WatchedKey]) {
        for w in keys {
            let Some(map) = self.by_key.get_mut(w.db) else {
                continue;
            };
            if let Some(ids) = map.get_mut(&*w.key) {
                ids.retain(|&id| id != client);
                if ids.is_empty() {
                    map.remove(&*w.key);
                }
            }
        }
    }

    /// Marks `client`'s transaction as failed. Its keys are dropped at
    /// once, as Redis does: further changes cannot matter.
    fn set_dirty(&mut self, client: u64) {
        let keys = match self.by_client.get_mut(&client) {
            Some(cw) => {
                cw.dirty = true;
                std::mem::take(&mut cw.keys)
            }
            None => return,
        };
        self.drop_keys(client, &keys);
    }

    fn entry_mut(&mut self, client: u64, db: usize, key: &[u8]) -> Option<&mut WatchedKey> {
        self.by_client
            .get_mut(&client)?
            .keys
            .iter_mut()
            .find(|w| w.db == db && *w.key == *key)
    }
}

impl Server {
    /// WATCH bookkeeping for a modified key (part of `signal_modified_key`).
    pub fn touch_watched_key(&mut self, db: usize, key: &[u8]) {
        let Some(ids) = self.watches.watchers(db, key) else {
            return;
        };
        let ids = ids.clone();
        // Present in the dictionary at all, expired or not.
        let present = self.dbs.get(db).is_some_and(|d| d.find(key).is_some());
        for id in ids {
            if let Some(w) = self.watches.entry_mut(id, db, key) {
                if w.expired && !present {
                    // The already-expired key was deleted: logically
                    // nothing changed; from now on it is just absent.
                    w.expired = false;
                    continue;
                }
            }
            self.watches.set_dirty(id);
        }
    }

    /// WATCH bookkeeping for FLUSHDB/FLUSHALL (`replaced_with` None) and
    /// SWAPDB (the other database): called before the change, it fails the
    /// transactions watching a key that exists in `emptied` now or will
    /// exist there afterwards. Watching a key absent on both sides is not
    /// broken, as in Redis.
    pub fn touch_all_watched_keys_in_db(&mut self, emptied: usize, replaced_with: Option<usize>) {
        let Some(map) = self.watches.by_key.get(emptied) else {
            return;
        };
        if map.is_empty() {
            return;
        }
        let now = self.now_ms;
        let state = |db: usize, key: &[u8]| -> (bool, bool) {
            let d = &self.dbs[db];
            match d.find(key).and_then(|i| d.at(i)) {
                Some(e) => (true, e.is_expired(now)),
                None => (false, false),
            }
        };
        let mut to_dirty = Vec::new();
        let mut flag_changes = Vec::new();
        for (key, ids) in map {
            let (in_emptied, _) = state(emptied, key);
            let (in_other, other_expired) = match replaced_with {
                Some(o) => state(o, key),
                None => (false, false),
            };
            if !in_emptied && !in_other {
                continue;
            }
            for &id in ids {
                let was_expired = self
                    .watches
                    .by_client
                    .get(&id)
                    .and_then(|cw| cw.keys.iter().find(|w| w.db == emptied && w.key == *key))
                    .is_some_and(|w| w.expired);
                if was_expired {
                    if !in_other {
                        // The expired key goes away: no logical change.
                        flag_changes.push((id, key.clone(), false));
                        continue;
                    }
                    if other_expired {
                        continue;
                    }
                } else if !in_emptied && other_expired {
                    // An absent key replaced by an expired one: still
                    // logically absent.
                    flag_changes.push((id, key.clone(), true));
                    continue;
                }
                to_dirty.push(id);
            }
        }
        for (id, key, expired) in flag_changes {
            if let Some(w) = self.watches.entry_mut(id, emptied, &key) {
                w.expired = expired;
            }
        }
        for id in to_dirty {
            self.watches.set_dirty(id);
        }
    }

    /// Whether EXEC must fail for `client`: a watched key was touched, or
    /// one that was live at WATCH time has expired since (Redis 7.0 checks
    /// this at EXEC even when nothing deleted the key yet).
    pub fn watch_broken(&self, client: u64) -> bool {
        let Some(cw) = self.watches.by_client.get(&client) else {
            return false;
        };
        if cw.dirty {
            return true;
        }
        let now = self.now_ms;
        cw.keys.iter().any(|w| {
            if w.expired {
                return false;
            }
            let Some(d) = self.dbs.get(w.db) else {
                return false;
            };
            d.find(&w.key)
                .and_then(|i| d.at(i))
                .is_some_and(|e| e.is_expired(now))
        })
    }

    /// Queues a command for `client`'s transaction (answered `+QUEUED` by
    /// the caller). A transaction already doomed keeps nothing, as Redis.
    pub fn queue_multi_command(&mut self, client: &mut Client, argv: Argv, cmd_flags: u32) {
        let dirty = self.watches.is_dirty(client.id);
        if let Some(m) = client.multi.as_mut() {
            if m.aborted || dirty {
                return;
            }
            m.queue.push(argv);
            m.queued += 1;
            m.mem = m.queue.mem();
            m.cmd_flags |= cmd_flags;
            m.has_non_stale |= cmd_flags & command_meta::flags::STALE == 0;
        }
    }

    /// Watches `key` in `db` for `client`.
    pub fn watch_key(&mut self, client: u64, db: usize, key: &[u8]) {
        let now = self.now_ms;
        let expired = self.dbs.get(db).is_some_and(|d| {
            d.find(key)
                .and_then(|i| d.at(i))
                .is_some_and(|e| e.is_expired(now))
        });
        self.watches.watch(client, db, key, expired);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_keeps_commands_apart() {
        let buf = b"SETkvGETk".to_vec();
        let r1 = [(0, 3), (3, 4), (4, 5)];
        let r2 = [(5, 8), (8, 9)];
        let mut q = Queue::default();
        q.push(Argv::new(&buf, &r1));
        q.push(Argv::new(&buf, &r2));
        let cmds: Vec<Vec<&[u8]>> = q.iter().map(|a| a.iter().collect()).collect();
        assert_eq!(
            cmds,
            vec![
                vec![&b"SET"[..], &b"k"[..], &b"v"[..]],
                vec![&b"GET"[..], &b"k"[..]]
            ]
        );
        assert_eq!(q.len(), 2);
    }

    #[test]
    fn watches_are_dropped_per_client() {
        let mut w = Watches::default();
        w.watch(1, 0, b"k", false);
        w.watch(2, 0, b"k", false);
        w.watch(1, 0, b"k", false);
        assert_eq!(w.watchers(0, b"k").map(Vec::len), Some(2));
        w.unwatch_all(1);
        assert_eq!(w.watchers(0, b"k").map(Vec::len), Some(1));
        w.set_dirty(2);
        assert!(w.watchers(0, b"k").is_none());
        assert!(w.by_client.get(&2).is_some_and(|c| c.dirty));
        w.unwatch_all(2);
        assert!(w.is_empty());
    }
}
