//! What each connection costs in memory, the per-class totals INFO
//! reports (`mem_clients_normal`), and client eviction under
//! `maxmemory-clients` (Redis 7.0's `evictClients`).
//!
//! A client's memory is what its connection really holds: the reply
//! buffer with whatever output waits behind it, the query buffer, the
//! client itself, a queued transaction, and the per-client share of its
//! subscriptions, watched keys and tracking prefixes (as Redis counts
//! those: an overhead per entry). It is recomputed in O(1) whenever it may
//! have changed — after each command of the client, after each of its
//! connection's turns, when another client writes into its output, and by
//! the clients cron — and the totals move by the difference.
//!
//! Eviction: when the normal and Pub/Sub clients together hold at least
//! the limit (`maxmemory-clients`, in bytes or as a percentage of
//! `maxmemory`, never below 128 KiB), clients are closed, largest first,
//! until they hold less. It runs before each command (so a client whose
//! own request took it over the limit is closed before running it), after
//! each connection turn and after the clients cron, as Redis runs it in
//! `processCommand` and before sleeping. Masters, replicas and clients
//! with `CLIENT NO-EVICT on` count in the total but are never chosen.
//! Redis picks from the largest power-of-two size class in list order;
//! we pick the largest exactly, which that approximates.

use crate::client::{Client, Kind};
use crate::config::Directive;
use crate::server::Server;

/// Redis's client types, as they split the totals.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub enum MemClass {
    #[default]
    Normal = 0,
    Replica = 1,
    Pubsub = 2,
    Master = 3,
}

/// What a client counted for in the totals when last accounted.
#[derive(Debug, Default, Clone, Copy)]
pub struct Accounted {
    pub bytes: usize,
    pub class: MemClass,
    /// Counted in the evictable total (see `ClientsMemory::evictable`).
    pub evictable: bool,
}

/// The totals over all connected clients.
#[derive(Debug, Default)]
pub struct ClientsMemory {
    /// Per `MemClass` (Redis's `stat_clients_type_memory`).
    pub by_class: [usize; 4],
    /// Held by clients eviction may pick.
    pub evictable: usize,
    /// The effective `maxmemory-clients` in bytes (0: no client eviction).
    pub limit: usize,
}

impl ClientsMemory {
    /// Normal and Pub/Sub clients together, what the limit applies to.
    pub fn normal_and_pubsub(&self) -> usize {
        self.by_class[MemClass::Normal as usize] + self.by_class[MemClass::Pubsub as usize]
    }

    /// Whether clients must be evicted now.
    #[inline]
    pub fn over_limit(&self) -> bool {
        self.limit > 0 && self.evictable > 0 && self.normal_and_pubsub() >= self.limit
    }

    /// `mem_clients_normal` of INFO: every client but the replicas.
    pub fn not_replicas(&self) -> usize {
        self.normal_and_pubsub() + self.by_class[MemClass::Master as usize]
    }
}

/// Per Pub/Sub subscription, watched key or tracking prefix: the entry in
/// the client's own set (the names themselves are shared with the
/// server-wide tables, which Redis does not count per client either).
const SUBSCRIPTION_OVERHEAD: usize = 40;
const WATCHED_KEY_OVERHEAD: usize = 56;
const PREFIX_OVERHEAD: usize = 64;

/// The class a client's memory counts under (Redis's `getClientType`: a
/// MONITOR client is a normal one).
pub fn class_of(c: &Client) -> MemClass {
    match c.kind {
        Kind::Master => MemClass::Master,
        Kind::Replica => MemClass::Replica,
        _ if c.subs.is_subscribed() => MemClass::Pubsub,
        _ => MemClass::Normal,
    }
}

/// Bytes `c`'s connection holds now (CLIENT LIST's `tot-mem`, less the
/// arguments of a command being run).
pub fn usage(srv: &Server, c: &Client) -> usize {
    let mut mem = std::mem::size_of::<Client>() + c.out.buf.capacity() + c.querybuf_alloc();
    if let Some(m) = &c.multi {
        mem += m.mem;
    }
    mem += c.subs.total() * SUBSCRIPTION_OVERHEAD;
    mem += c.tracking.prefixes.len() * PREFIX_OVERHEAD;
    if !srv.watches.is_empty() {
        mem += srv.watches.watched_count(c.id) * WATCHED_KEY_OVERHEAD;
    }
    mem
}

/// Recomputes `c`'s memory and moves the totals by the difference.
pub fn update(srv: &mut Server, c: &mut Client) {
    if c.killed {
        return;
    }
    let bytes = usage(srv, c);
    let class = class_of(c);
    let evictable = srv.clients_memory.limit > 0
        && !c.no_evict
        && matches!(class, MemClass::Normal | MemClass::Pubsub);
    forget(srv, c);
    let t = &mut srv.clients_memory;
    t.by_class[class as usize] += bytes;
    if evictable {
        t.evictable += bytes;
    }
    c.mem = Accounted {
        bytes,
        class,
        evictable,
    };
}

/// Takes `c` out of the totals (it is closing).
pub fn forget(srv: &mut Server, c: &mut Client) {
    forget_totals(&mut srv.clients_memory, c);
}

/// `forget` where only the totals can be borrowed.
pub fn forget_totals(t: &mut ClientsMemory, c: &mut Client) {
    let old = std::mem::take(&mut c.mem);
    t.by_class[old.class as usize] = t.by_class[old.class as usize].saturating_sub(old.bytes);
    if old.evictable {
        t.evictable = t.evictable.saturating_sub(old.bytes);
    }
}

/// The limit `maxmemory-clients` sets now: bytes, or a percentage of
/// `maxmemory` (none while `maxmemory` is 0), raised to 128 KiB so a bad
/// setting cannot cut every connection off.
pub fn limit_from_config(config: &crate::config::Config) -> usize {
    let v = config.get_str(Directive::MaxmemoryClients);
    let bytes = match v.strip_suffix('%') {
        Some(p) => {
            let pct = p.parse::<u64>().unwrap_or(0);
            let maxmemory = config.get_int(Directive::Maxmemory).max(0) as u64;
            (maxmemory as f64 * pct as f64 / 100.0) as u64
        }
        None => v.parse::<u64>().unwrap_or(0),
    };
    if bytes == 0 {
        0
    } else {
        bytes.max(128 * 1024) as usize
    }
}

/// Applies `maxmemory-clients` (and `maxmemory`, for a percentage): every
/// client's memory is accounted afresh, since which clients may be
/// evicted depends on whether eviction is on. The client running the
/// command is borrowed and accounted after it.
pub fn configure(srv: &mut Server) {
    let limit = limit_from_config(&srv.config);
    if limit == srv.clients_memory.limit {
        return;
    }
    srv.clients_memory.limit = limit;
    let clients: Vec<_> = srv.clients.values().cloned().collect();
    for rc in clients {
        if let Ok(mut c) = rc.try_borrow_mut() {
            update(srv, &mut c);
        }
    }
}

/// Closes clients, largest first, until the normal and Pub/Sub clients
/// hold less than `maxmemory-clients`. `current` is the client whose
/// connection is running (borrowed, so not reachable through the
/// registry). Returns whether `current` was evicted.
pub fn evict_clients(srv: &mut Server, mut current: Option<&mut Client>) -> bool {
    if !srv.clients_memory.over_limit() {
        return false;
    }
    let mut candidates: Vec<(usize, u64)> = Vec::new();
    if let Some(c) = current.as_deref() {
        if c.mem.evictable && !c.killed {
            candidates.push((c.mem.bytes, c.id));
        }
    }
    for (&id, rc) in &srv.clients {
        if let Ok(c) = rc.try_borrow() {
            if c.mem.evictable && !c.killed {
                candidates.push((c.mem.bytes, id));
            }
        }
    }
    candidates.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let mut current_evicted = false;
    for (_, id) in candidates {
        if !srv.clients_memory.over_limit() {
            break;
        }
        match current.as_deref_mut() {
            Some(c) if c.id == id => {
                evict(srv, c);
                current_evicted = true;
            }
            _ => {
                if let Some(rc) = srv.clients.get(&id).cloned() {
                    if let Ok(mut c) = rc.try_borrow_mut() {
                        evict(srv, &mut c);
                    }
                }
            }
        }
    }
    let t = &srv.clients_memory;
    if t.limit > 0 && t.evictable == 0 && t.normal_and_pubsub() >= t.limit {
        crate::log_warning!("Over client maxmemory after evicting all evictable clients");
    }
    current_evicted
}

fn evict(srv: &mut Server, c: &mut Client) {
    let mut info = String::new();
    crate::clients::describe(srv, c, None, &mut info);
    crate::log_notice!("Evicting client: {}", info.trim_end());
    c.discard_output();
    crate::clients::close_now(srv, c);
    srv.stats.evicted_clients += 1;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(pairs: &[(&str, &str)]) -> crate::config::Config {
        let mut c = crate::config::Config::new();
        for (k, v) in pairs {
            c.set(k, &[v.to_string()]).unwrap();
        }
        c
    }

    #[test]
    fn limit_in_bytes_or_percent_of_maxmemory_with_a_floor() {
        assert_eq!(limit_from_config(&config(&[])), 0);
        assert_eq!(
            limit_from_config(&config(&[("maxmemory-clients", "3mb")])),
            3 << 20
        );
        assert_eq!(
            limit_from_config(&config(&[("maxmemory-clients", "1000")])),
            128 * 1024
        );
        let pct = [("maxmemory-clients", "7%")];
        assert_eq!(limit_from_config(&config(&pct)), 0);
        let pct = [("maxmemory", "6mb"), ("maxmemory-clients", "7%")];
        assert_eq!(limit_from_config(&config(&pct)), 6 * 1024 * 1024 * 7 / 100);
    }

    #[test]
    fn a_client_counts_its_buffers_and_classes_split_the_totals() {
        let mut srv = Server::new(crate::config::Config::new(), &[]);
        let rc = srv.new_client();
        let mut c = rc.borrow_mut();
        update(&mut srv, &mut c);
        let base = c.mem.bytes;
        assert!(base >= 16 * 1024, "{base}");
        assert_eq!(srv.clients_memory.by_class[0], base);
        assert_eq!(srv.clients_memory.evictable, 0);
        c.querybuf.reserve_exact(100_000);
        c.subs.channels.insert(b"ch".to_vec());
        update(&mut srv, &mut c);
        assert!(c.mem.bytes >= base + 100_000);
        assert_eq!(c.mem.class, MemClass::Pubsub);
        assert_eq!(srv.clients_memory.by_class, [0, 0, c.mem.bytes, 0]);
        forget(&mut srv, &mut c);
        assert_eq!(srv.clients_memory.by_class, [0; 4]);
    }
}
