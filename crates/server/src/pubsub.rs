//! The Pub/Sub registry: which clients listen on which channels, patterns
//! and shard channels, and the delivery of messages into their output
//! buffers.
//!
//! The server owns one [`PubSub`] (channel → subscriber ids, in
//! subscription order); each client keeps its own side ([`ClientSubs`]) so
//! that `UNSUBSCRIBE` with no argument, `CLIENT LIST`'s `sub=` and the
//! clean-up on disconnect need no scan of the registry.
//!
//! Delivery writes the message straight into the subscriber's reply buffer
//! and wakes its connection task, as MONITOR does. The client running the
//! current command is borrowed by the executor already, so messages for it
//! are collected in [`PubSub::to_current`] and moved into its buffer at
//! the point where the event happened (`Ctx::notify`, `Ctx::modified` and
//! the look-ups flush it; the executor splices any rest before the reply).
//! That is where Redis 7.0 writes them: a RESP3 client subscribed to its
//! own keyspace events sees the event, then `+OK`; a keymiss raised by
//! MGET's second key sits inside MGET's array, after the first element.

use crate::server::Server;
use crate::util::glob;
use resp::Reply;
use std::collections::{HashMap, HashSet};

/// The three kinds of subscription; each has its own verbs on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Channel,
    Pattern,
    Shard,
}

impl Kind {
    pub fn subscribe_verb(self) -> &'static [u8] {
        match self {
            Kind::Channel => b"subscribe",
            Kind::Pattern => b"psubscribe",
            Kind::Shard => b"ssubscribe",
        }
    }

    pub fn unsubscribe_verb(self) -> &'static [u8] {
        match self {
            Kind::Channel => b"unsubscribe",
            Kind::Pattern => b"punsubscribe",
            Kind::Shard => b"sunsubscribe",
        }
    }
}

/// One client's subscriptions.
#[derive(Debug, Default)]
pub struct ClientSubs {
    pub channels: HashSet<Vec<u8>>,
    /// Patterns in subscription order (Redis 7.0 keeps them in a list).
    pub patterns: Vec<Vec<u8>>,
    pub shard: HashSet<Vec<u8>>,
}

impl ClientSubs {
    /// The count Redis reports after (un)subscribing to channels or
    /// patterns: both kinds together, shard channels apart.
    pub fn count(&self) -> usize {
        self.channels.len() + self.patterns.len()
    }

    /// Every subscription; non-zero puts the client in Pub/Sub mode (flag
    /// `P`, and in RESP2 only the subscription commands are allowed).
    pub fn total(&self) -> usize {
        self.count() + self.shard.len()
    }

    pub fn is_subscribed(&self) -> bool {
        self.total() > 0
    }

    fn contains(&self, kind: Kind, name: &[u8]) -> bool {
        match kind {
            Kind::Channel => self.channels.contains(name),
            Kind::Pattern => self.patterns.iter().any(|p| p == name),
            Kind::Shard => self.shard.contains(name),
        }
    }

    /// The count shown in the (un)subscribe confirmation of `kind`.
    pub fn count_for(&self, kind: Kind) -> usize {
        match kind {
            Kind::Shard => self.shard.len(),
            _ => self.count(),
        }
    }
}

/// The server-wide registry.
#[derive(Debug)]
pub struct PubSub {
    channels: HashMap<Vec<u8>, Vec<u64>>,
    patterns: HashMap<Vec<u8>, Vec<u64>>,
    shard: HashMap<Vec<u8>, Vec<u64>>,
    /// Id of the client whose command is running (0 outside commands).
    pub current: u64,
    /// Whether that client was in Pub/Sub mode when its command started.
    pub current_subscribed: bool,
    /// Messages for the running client, spliced in before its reply.
    pub to_current: Reply,
}

impl Default for PubSub {
    fn default() -> Self {
        PubSub {
            channels: HashMap::new(),
            patterns: HashMap::new(),
            shard: HashMap::new(),
            current: 0,
            current_subscribed: false,
            to_current: Reply::with_buf(Vec::new(), false),
        }
    }
}

impl PubSub {
    fn map(&self, kind: Kind) -> &HashMap<Vec<u8>, Vec<u64>> {
        match kind {
            Kind::Channel => &self.channels,
            Kind::Pattern => &self.patterns,
            Kind::Shard => &self.shard,
        }
    }

    fn map_mut(&mut self, kind: Kind) -> &mut HashMap<Vec<u8>, Vec<u64>> {
        match kind {
            Kind::Channel => &mut self.channels,
            Kind::Pattern => &mut self.patterns,
            Kind::Shard => &mut self.shard,
        }
    }

    /// Number of channels (or patterns, or shard channels) with at least
    /// one subscriber (`INFO stats`, `PUBSUB NUMPAT`).
    pub fn len(&self, kind: Kind) -> usize {
        self.map(kind).len()
    }

    pub fn is_empty(&self) -> bool {
        self.channels.is_empty() && self.patterns.is_empty() && self.shard.is_empty()
    }

    /// Moves pending messages for the running client into its output.
    #[inline]
    pub fn flush_into(&mut self, out: &mut Reply) {
        if !self.to_current.buf.is_empty() {
            out.buf.extend_from_slice(&self.to_current.buf);
            self.to_current.buf.clear();
        }
    }

    /// Subscribers of one channel (exact subscriptions only).
    pub fn subscribers(&self, kind: Kind, name: &[u8]) -> usize {
        self.map(kind).get(name).map_or(0, Vec::len)
    }

    /// Active channels matching `pattern` (all when None).
    pub fn names(&self, kind: Kind, pattern: Option<&[u8]>) -> Vec<&[u8]> {
        self.map(kind)
            .keys()
            .filter(|c| pattern.is_none_or(|p| glob::matches(p, c, false)))
            .map(Vec::as_slice)
            .collect()
    }

    /// Subscribes client `id`; false when it already was.
    pub fn subscribe(&mut self, subs: &mut ClientSubs, id: u64, kind: Kind, name: &[u8]) -> bool {
        if subs.contains(kind, name) {
            return false;
        }
        match kind {
            Kind::Channel => {
                subs.channels.insert(name.to_vec());
            }
            Kind::Pattern => subs.patterns.push(name.to_vec()),
            Kind::Shard => {
                subs.shard.insert(name.to_vec());
            }
        }
        self.map_mut(kind)
            .entry(name.to_vec())
            .or_default()
            .push(id);
        true
    }

    /// Unsubscribes client `id`; false when it was not subscribed.
    pub fn unsubscribe(&mut self, subs: &mut ClientSubs, id: u64, kind: Kind, name: &[u8]) -> bool {
        let was = match kind {
            Kind::Channel => subs.channels.remove(name),
            Kind::Shard => subs.shard.remove(name),
            Kind::Pattern => match subs.patterns.iter().position(|p| p == name) {
                Some(i) => {
                    subs.patterns.remove(i);
                    true
                }
                None => false,
            },
        };
        if !was {
            return false;
        }
        let map = self.map_mut(kind);
        if let Some(ids) = map.get_mut(name) {
            ids.retain(|&x| x != id);
            if ids.is_empty() {
                map.remove(name);
            }
        }
        true
    }

    /// Drops every subscription of a client (disconnect, `RESET`), without
    /// confirmations.
    pub fn forget_client(&mut self, subs: &mut ClientSubs, id: u64) {
        let channels: Vec<Vec<u8>> = subs.channels.iter().cloned().collect();
        for c in channels {
            self.unsubscribe(subs, id, Kind::Channel, &c);
        }
        let shard: Vec<Vec<u8>> = subs.shard.iter().cloned().collect();
        for c in shard {
            self.unsubscribe(subs, id, Kind::Shard, &c);
        }
        for p in std::mem::take(&mut subs.patterns) {
            let map = &mut self.patterns;
            if let Some(ids) = map.get_mut(&p) {
                ids.retain(|&x| x != id);
                if ids.is_empty() {
                    map.remove(&p);
                }
            }
        }
    }
}

/// Writes a `message`/`smessage` (3 elements) or `pmessage` (4) push.
fn write_message(out: &mut Reply, verb: &[u8], pattern: Option<&[u8]>, channel: &[u8], msg: &[u8]) {
    out.push(if pattern.is_some() { 4 } else { 3 });
    out.bulk(verb);
    if let Some(p) = pattern {
        out.bulk(p);
    }
    out.bulk(channel);
    out.bulk(msg);
}

impl Server {
    /// Writes something into client `id`'s output buffer and wakes its
    /// connection; for the client running the command, into
    /// `pubsub.to_current` instead. False when the client is gone.
    pub fn push_to(&mut self, id: u64, write: impl FnOnce(&mut Reply)) -> bool {
        if id == self.pubsub.current {
            write(&mut self.pubsub.to_current);
            return true;
        }
        let Some(rc) = self.clients.get(&id).cloned() else {
            return false;
        };
        let borrowed = rc.try_borrow_mut();
        match borrowed {
            Ok(mut c) => {
                // Messages reach a client under CLIENT REPLY OFF too (they
                // are pushes, Redis's CLIENT_PUSHING).
                if !c.killed {
                    write(&mut c.out);
                    c.wake.notify_one();
                    // A subscriber that does not read must not grow our
                    // memory without bound (`client-output-buffer-limit`).
                    crate::net::enforce_output_limit(self, &mut c);
                }
                true
            }
            _ => false,
        }
    }

    /// Publishes `msg` on `channel` to channel and pattern subscribers;
    /// returns the number of deliveries (Redis's PUBLISH reply).
    pub fn publish(&mut self, channel: &[u8], msg: &[u8]) -> usize {
        let mut n = 0;
        if let Some(ids) = self.pubsub.channels.get(channel).cloned() {
            for id in ids {
                if self.push_to(id, |o| write_message(o, b"message", None, channel, msg)) {
                    n += 1;
                }
            }
        }
        if self.pubsub.patterns.is_empty() {
            return n;
        }
        let matching: Vec<(Vec<u8>, Vec<u64>)> = self
            .pubsub
            .patterns
            .iter()
            .filter(|(p, _)| glob::matches(p, channel, false))
            .map(|(p, ids)| (p.clone(), ids.clone()))
            .collect();
        for (p, ids) in matching {
            for id in ids {
                if self.push_to(id, |o| {
                    write_message(o, b"pmessage", Some(&p), channel, msg)
                }) {
                    n += 1;
                }
            }
        }
        n
    }

    /// Cluster mode: the shard channels of `slots`, which our shard no
    /// longer serves, lose their subscribers; each is told with a
    /// `sunsubscribe` push (Redis's `removeChannelsInSlot`).
    pub fn drop_shard_channels_in(&mut self, slots: &HashSet<u16>) {
        let gone: Vec<(Vec<u8>, Vec<u64>)> = self
            .pubsub
            .shard
            .iter()
            .filter(|(ch, _)| slots.contains(&keyspace::key_hash_slot(ch)))
            .map(|(ch, ids)| (ch.clone(), ids.clone()))
            .collect();
        for (channel, ids) in gone {
            self.pubsub.shard.remove(&channel);
            for id in ids {
                let Some(rc) = self.clients.get(&id).cloned() else {
                    continue;
                };
                // The client running a command (a subscriber that sent
                // CLUSTER SETSLOT itself) keeps its list; as in Redis, a
                // channel it no longer gets messages for is harmless.
                let Ok(mut c) = rc.try_borrow_mut() else {
                    continue;
                };
                if c.killed || !c.subs.shard.remove(&channel) {
                    continue;
                }
                let n = c.subs.count_for(Kind::Shard);
                let out = &mut c.out;
                let start = out.buf.len();
                out.push(3);
                out.bulk(Kind::Shard.unsubscribe_verb());
                out.bulk(&channel);
                out.int(n as i64);
                out.mark_push(start);
                c.wake.notify_one();
            }
        }
    }

    /// Publishes on a shard channel (`SPUBLISH`).
    pub fn publish_shard(&mut self, channel: &[u8], msg: &[u8]) -> usize {
        let mut n = 0;
        if let Some(ids) = self.pubsub.shard.get(channel).cloned() {
            for id in ids {
                if self.push_to(id, |o| write_message(o, b"smessage", None, channel, msg)) {
                    n += 1;
                }
            }
        }
        n
    }
}

/// Whether a RESP2 client in Pub/Sub mode may run `name`: only the
/// subscription commands, PING, QUIT and RESET (RESP3 allows everything).
pub fn allowed_in_subscribed_context(name: &str) -> bool {
    matches!(
        name,
        "subscribe"
            | "unsubscribe"
            | "psubscribe"
            | "punsubscribe"
            | "ssubscribe"
            | "sunsubscribe"
            | "ping"
            | "quit"
            | "reset"
    )
}
