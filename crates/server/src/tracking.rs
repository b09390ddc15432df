//! Client-side caching (`CLIENT TRACKING`): which clients may hold which
//! keys, and the invalidation messages sent when those keys change.
//!
//! Two modes, as in Redis 7.0:
//! - default: after each read-only command of a tracking client, the keys
//!   it named are remembered (key → client ids). When such a key is
//!   modified, each of those clients is told once and the key is forgotten
//!   until read again.
//! - BCAST: the client registers prefixes (the empty prefix by default) and
//!   hears about every modified key under them, whether it read it or not.
//!   Keys are batched per prefix and sent after the command.
//!
//! An invalidation is a RESP3 push `invalidate [keys]` on the client's own
//! connection, or, with `REDIRECT id`, goes to another connection: as a
//! push when that one speaks RESP3, as a Pub/Sub `message` on
//! `__redis__:invalidate` when it speaks RESP2 and is in Pub/Sub mode. A
//! flush invalidates everything with a null instead of the key array.
//!
//! Invalidations meant for the client whose command caused them are held
//! in `pending` and written after its reply, as Redis 7.0 does.

use crate::client::Client;
use crate::server::Server;
use command_meta::CommandMeta;
use resp::Reply;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// The channel RESP2 redirect targets receive invalidations on.
pub const INVALIDATE_CHANNEL: &[u8] = b"__redis__:invalidate";

/// One client's tracking settings (`CLIENT TRACKING` options).
#[derive(Debug, Default, Clone)]
pub struct ClientTracking {
    pub on: bool,
    pub bcast: bool,
    pub optin: bool,
    pub optout: bool,
    pub noloop: bool,
    /// `CLIENT CACHING yes|no` was just called: applies to the next
    /// command only.
    pub caching: bool,
    /// The redirect target disconnected (`R` flag, `broken_redirect`).
    pub broken_redirect: bool,
    /// Client id invalidations go to; 0 for this connection.
    pub redirect: u64,
    /// BCAST prefixes, in byte order as Redis lists them.
    pub prefixes: BTreeSet<Vec<u8>>,
}

impl ClientTracking {
    /// Whether the keys of this client's next read are remembered: default
    /// mode, unless OPTIN/OPTOUT with CLIENT CACHING says otherwise.
    pub fn remembers_reads(&self) -> bool {
        self.on && !self.bcast && !((self.optin && !self.caching) || (self.optout && self.caching))
    }
}

/// Modified keys with the id of the client that changed each first.
type ModifiedKeys = BTreeMap<Vec<u8>, u64>;

/// Keys modified under one BCAST prefix since the last broadcast, and the
/// clients listening on it.
#[derive(Debug, Default)]
struct Prefix {
    clients: BTreeSet<u64>,
    /// Key → id of the client that modified it first (0: none, e.g.
    /// expiry), for NOLOOP.
    keys: ModifiedKeys,
}

/// The server-wide tracking tables.
#[derive(Debug, Default)]
pub struct Tracking {
    /// Default mode: key → clients that may have cached it.
    keys: HashMap<Vec<u8>, BTreeSet<u64>>,
    /// Sum of the client sets' sizes (`tracking_total_items`).
    items: usize,
    prefixes: BTreeMap<Vec<u8>, Prefix>,
    /// Clients with tracking on (`tracking_clients`).
    pub clients: usize,
    /// Invalidations for the running client (None: a flush), sent after
    /// its reply.
    pending: Vec<Option<Vec<u8>>>,
    /// Cron runs in a row that found the table still over
    /// `tracking-table-max-keys` (each tries harder).
    over_limit_runs: usize,
}

impl Tracking {
    /// Whether `Server::tracking_after_command` has anything to do.
    pub fn needs_after_command(&self) -> bool {
        self.clients > 0 || !self.pending.is_empty()
    }

    /// `tracking_total_keys`, `tracking_total_items`,
    /// `tracking_total_prefixes` of INFO stats.
    pub fn totals(&self) -> (usize, usize, usize) {
        (self.keys.len(), self.items, self.prefixes.len())
    }
}

/// The error for a prefix overlapping another, or None.
pub fn prefix_collision(existing: &BTreeSet<Vec<u8>>, new: &[Vec<u8>]) -> Option<String> {
    let overlap = |a: &[u8], b: &[u8]| a.starts_with(b) || b.starts_with(a);
    let s = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    for (i, p) in new.iter().enumerate() {
        if let Some(e) = existing.iter().find(|e| overlap(e, p)) {
            return Some(format!(
                "ERR Prefix '{}' overlaps with an existing prefix '{}'. Prefixes for a single \
                 client must not overlap.",
                s(p),
                s(e)
            ));
        }
        if let Some(q) = new[i + 1..].iter().find(|q| overlap(p, q)) {
            return Some(format!(
                "ERR Prefix '{}' overlaps with another provided prefix '{}'. Prefixes for a \
                 single client must not overlap.",
                s(p),
                s(q)
            ));
        }
    }
    None
}

/// Writes the `invalidate` payload: the key array, or a null for a flush.
fn write_keys(out: &mut Reply, keys: Option<&[&[u8]]>) {
    match keys {
        Some(keys) => {
            out.array(keys.len());
            for k in keys {
                out.bulk(k);
            }
        }
        None => out.null(),
    }
}

impl Server {
    /// Turns tracking on for `client` with the parsed options (already
    /// validated). BCAST prefixes add to those already registered.
    pub fn enable_tracking(&mut self, client: &mut Client, opts: ClientTracking) {
        let t = &mut client.tracking;
        if !t.on {
            self.tracking.clients += 1;
        }
        let id = client.id;
        t.on = true;
        t.bcast = opts.bcast;
        t.optin = opts.optin;
        t.optout = opts.optout;
        t.noloop = opts.noloop;
        t.broken_redirect = false;
        t.redirect = opts.redirect;
        if opts.bcast {
            let mut prefixes = opts.prefixes;
            if prefixes.is_empty() {
                prefixes.insert(Vec::new());
            }
            for p in prefixes {
                self.tracking
                    .prefixes
                    .entry(p.clone())
                    .or_default()
                    .clients
                    .insert(id);
                t.prefixes.insert(p);
            }
        }
    }

    /// Turns tracking off (`CLIENT TRACKING off`, `RESET`, disconnect).
    /// Keys remembered for the client stay in the table until modified,
    /// as in Redis: they are skipped then.
    pub fn disable_tracking(&mut self, client: &mut Client) {
        let t = &mut client.tracking;
        if !t.on {
            return;
        }
        for p in std::mem::take(&mut t.prefixes) {
            if let Some(bs) = self.tracking.prefixes.get_mut(&p) {
                bs.clients.remove(&client.id);
                if bs.clients.is_empty() {
                    self.tracking.prefixes.remove(&p);
                }
            }
        }
        *t = ClientTracking::default();
        self.tracking.clients -= 1;
    }

    /// After a read-only command of a default-mode tracking client:
    /// remembers the keys it named (whether they exist or not), unless
    /// OPTIN/OPTOUT with CLIENT CACHING says otherwise.
    pub fn tracking_remember_keys(&mut self, client: &Client, meta: &CommandMeta, argv: &[&[u8]]) {
        if !client.tracking.remembers_reads() {
            return;
        }
        for i in command_meta::keys::key_positions(meta, argv) {
            let Some(key) = argv.get(i) else { continue };
            self.tracking_remember_key(client.id, key);
        }
    }

    /// Remembers that client `id` may have cached `key`.
    pub fn tracking_remember_key(&mut self, id: u64, key: &[u8]) {
        let ids = self.tracking.keys.entry(key.to_vec()).or_default();
        if ids.insert(id) {
            self.tracking.items += 1;
        }
    }

    /// A key changed: queue it for BCAST listeners of matching prefixes
    /// and tell the clients that may have cached it.
    pub fn tracking_invalidate_key(&mut self, key: &[u8]) {
        if self.tracking.clients == 0 && self.tracking.keys.is_empty() {
            return;
        }
        let current = self.pubsub.current;
        for (p, bs) in self.tracking.prefixes.iter_mut() {
            if key.starts_with(p) {
                bs.keys.entry(key.to_vec()).or_insert(current);
            }
        }
        let Some(ids) = self.tracking.keys.remove(key) else {
            return;
        };
        self.tracking.items -= ids.len();
        for id in ids {
            if id == current {
                // The running client: its settings are with the executor;
                // decide after the command.
                self.tracking.pending.push(Some(key.to_vec()));
                continue;
            }
            let Some(t) = self.tracking_settings(id) else {
                continue;
            };
            if !t.on || t.bcast {
                continue;
            }
            self.send_tracking_message(None, id, Some(&[key]));
        }
    }

    /// `tracking-table-max-keys` (from the cron): while the default-mode
    /// table holds more keys than allowed, keys are dropped as if they
    /// changed — their clients are told to forget them — with an effort
    /// that grows each run the table stays over the limit, as Redis does.
    pub fn tracking_limit_used_slots(&mut self) {
        let max = self
            .config
            .get_int(crate::config::Directive::TrackingTableMaxKeys);
        if max <= 0 || self.tracking.keys.len() <= max as usize {
            self.tracking.over_limit_runs = 0;
            return;
        }
        let mut effort = 100 * (self.tracking.over_limit_runs + 1);
        while effort > 0 {
            effort -= 1;
            // The table's order is its hashing's: as good as a random walk.
            let Some(key) = self.tracking.keys.keys().next().cloned() else {
                break;
            };
            self.tracking_invalidate_key(&key);
            if self.tracking.keys.len() <= max as usize {
                self.tracking.over_limit_runs = 0;
                return;
            }
        }
        self.tracking.over_limit_runs += 1;
    }

    /// FLUSHALL / FLUSHDB: every tracking client is told to drop all it
    /// cached (a null), and the key table is emptied.
    pub fn tracking_invalidate_all(&mut self) {
        if self.tracking.clients > 0 {
            let current = self.pubsub.current;
            let ids: Vec<u64> = self.clients.keys().copied().collect();
            for id in ids {
                if id == current {
                    continue;
                }
                if self.tracking_settings(id).is_some_and(|t| t.on) {
                    self.send_tracking_message(None, id, None);
                }
            }
            if current != 0 {
                self.tracking.pending.push(None);
            }
        }
        self.tracking.keys.clear();
        self.tracking.items = 0;
    }

    /// After each command: remember what a tracking client read, send the
    /// invalidations its own command caused, and the BCAST batches.
    pub fn tracking_after_command(
        &mut self,
        client: &mut Client,
        meta: &CommandMeta,
        readonly: bool,
        argv: &[&[u8]],
    ) {
        if readonly && client.tracking.on && !client.tracking.bcast {
            self.tracking_remember_keys(client, meta, argv);
        }
        // Inside EXEC the messages wait for the transaction to end: they
        // follow EXEC's reply, and BCAST sends one batch per prefix for
        // the whole transaction, as Redis does.
        if client.in_exec {
            return;
        }
        self.tracking_send_pending(client);
        self.tracking_broadcast(Some(client));
        // CLIENT CACHING applies to the one command after it (any CLIENT
        // subcommand keeps it, as Redis tests the command, not the
        // subcommand).
        if !meta.name.starts_with("client|") {
            client.tracking.caching = false;
        }
    }

    /// Sends `client` the invalidations its own command (or the eviction
    /// before it) caused for keys it tracks.
    pub fn tracking_send_pending(&mut self, client: &mut Client) {
        for key in std::mem::take(&mut self.tracking.pending) {
            let t = &client.tracking;
            if !t.on {
                continue;
            }
            match key {
                Some(k) => {
                    if t.bcast || t.noloop {
                        continue;
                    }
                    let id = client.id;
                    self.send_tracking_message(Some(client), id, Some(&[&k]));
                }
                None => {
                    let id = client.id;
                    self.send_tracking_message(Some(client), id, None);
                }
            }
        }
    }

    /// Sends the keys modified under each BCAST prefix to its listeners;
    /// `client` is the one whose command just ran, if any (the cron calls
    /// this too, for keys the active expiry deleted).
    pub fn tracking_broadcast(&mut self, mut client: Option<&mut Client>) {
        if self.tracking.prefixes.values().all(|p| p.keys.is_empty()) {
            return;
        }
        let mut batches: Vec<(Vec<u64>, ModifiedKeys)> = Vec::new();
        for bs in self.tracking.prefixes.values_mut() {
            if !bs.keys.is_empty() {
                let keys = std::mem::take(&mut bs.keys);
                batches.push((bs.clients.iter().copied().collect(), keys));
            }
        }
        for (ids, keys) in batches {
            for id in ids {
                let noloop = match client.as_deref() {
                    Some(c) if c.id == id => c.tracking.noloop,
                    _ => self.tracking_settings(id).is_some_and(|t| t.noloop),
                };
                let list: Vec<&[u8]> = keys
                    .iter()
                    .filter(|(_, &by)| !(noloop && by == id))
                    .map(|(k, _)| k.as_slice())
                    .collect();
                if list.is_empty() {
                    continue;
                }
                self.send_tracking_message(client.as_deref_mut(), id, Some(&list));
            }
        }
    }

    /// A copy of client `id`'s tracking settings, from the registry.
    fn tracking_settings(&self, id: u64) -> Option<ClientTracking> {
        let c = self.clients.get(&id)?.try_borrow().ok()?;
        Some(c.tracking.clone())
    }

    /// Sends one invalidation to tracking client `id`, following its
    /// redirect. `cur` is the client running the command, which the
    /// registry cannot lend.
    fn send_tracking_message(
        &mut self,
        mut cur: Option<&mut Client>,
        id: u64,
        keys: Option<&[&[u8]]>,
    ) {
        let (redirect, resp3) = match cur.as_deref_mut() {
            Some(c) if c.id == id => (c.tracking.redirect, c.out.resp3),
            _ => match self.clients.get(&id).and_then(|rc| rc.try_borrow().ok()) {
                Some(c) => (c.tracking.redirect, c.out.resp3),
                None => return,
            },
        };
        let mut target = id;
        if redirect != 0 {
            let exists = redirect == self.pubsub.current
                || cur.as_deref().is_some_and(|c| c.id == redirect)
                || self.clients.contains_key(&redirect);
            if !exists {
                // Tell the tracking client its redirect is gone (RESP3
                // only: RESP2 cannot carry the push).
                self.write_to(cur, id, |out, _| {
                    if resp3 {
                        out.push(2);
                        out.bulk(b"tracking-redir-broken");
                        out.int(redirect as i64);
                    }
                });
                self.mark_broken_redirect(id);
                return;
            }
            target = redirect;
        }
        let redirected = target != id;
        self.write_to(cur, target, |out, subscribed| {
            if out.resp3 {
                out.push(2);
                out.bulk(b"invalidate");
            } else if redirected && subscribed {
                out.push(3);
                out.bulk(b"message");
                out.bulk(INVALIDATE_CHANNEL);
            } else {
                // RESP2 without a Pub/Sub redirect cannot receive it.
                return;
            }
            write_keys(out, keys);
        });
    }

    fn mark_broken_redirect(&mut self, id: u64) {
        if let Some(Ok(mut c)) = self.clients.get(&id).map(|rc| rc.try_borrow_mut()) {
            c.tracking.broken_redirect = true;
        }
    }

    /// Writes into the output of client `id` — `cur` when it is the one
    /// running, the pre-reply buffer when it is the running client but
    /// not at hand, else through the registry (waking its connection).
    /// `f` also learns whether the client is in Pub/Sub mode.
    fn write_to(&mut self, cur: Option<&mut Client>, id: u64, f: impl FnOnce(&mut Reply, bool)) {
        if let Some(c) = cur {
            if c.id == id {
                let subscribed = c.subs.is_subscribed();
                return f(&mut c.out, subscribed);
            }
        }
        if id == self.pubsub.current {
            let subscribed = self.pubsub.current_subscribed;
            return f(&mut self.pubsub.to_current, subscribed);
        }
        if let Some(Ok(mut c)) = self.clients.get(&id).map(|rc| rc.try_borrow_mut()) {
            let subscribed = c.subs.is_subscribed();
            f(&mut c.out, subscribed);
            c.wake.notify_one();
            crate::net::enforce_output_limit(self, &mut c);
        }
    }
}
