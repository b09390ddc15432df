//! Redis's `clientsCron`: the per-client upkeep the server cron does, a
//! few clients per call so that each is visited about once a second
//! (`max(clients / hz, 5)` per call, resuming where the last call
//! stopped). For each: its query and reply buffers are resized to what it
//! has been using (`client_buffers`), its memory is accounted afresh
//! (`client_memory`), and its output limit is checked — which is how a
//! client over the soft limit is closed once its time is up even when
//! nothing more is written to it. Clients over `maxmemory-clients` are
//! evicted afterwards.

use crate::server::Server;
use std::ops::Bound;

/// At least this many clients per call (Redis's
/// `CLIENTS_CRON_MIN_ITERATIONS`).
const MIN_ITERATIONS: usize = 5;

pub fn clients_cron(srv: &mut Server) {
    let n = srv.clients.len();
    let iterations = (n / srv.hz.max(1) as usize).max(MIN_ITERATIONS.min(n));
    if iterations == 0 {
        return;
    }
    let start = srv.clients_cron_cursor;
    let ids: Vec<u64> = srv
        .clients
        .range((Bound::Excluded(start), Bound::Unbounded))
        .chain(srv.clients.range(..=start))
        .take(iterations)
        .map(|(&id, _)| id)
        .collect();
    let now = srv.now_ms;
    for id in ids {
        srv.clients_cron_cursor = id;
        let Some(rc) = srv.clients.get(&id).cloned() else {
            continue;
        };
        // A client borrowed now is in the middle of its own turn.
        let Ok(mut c) = rc.try_borrow_mut() else {
            continue;
        };
        if c.killed {
            continue;
        }
        crate::client_buffers::cron_resize_querybuf(&mut c, now);
        match crate::client_buffers::cron_resize_reply_buffer(&mut c, srv.reply_buffer, now) {
            1 => srv.stats.reply_buffer_expands += 1,
            -1 => srv.stats.reply_buffer_shrinks += 1,
            _ => {}
        }
        crate::client_memory::update(srv, &mut c);
        crate::net::enforce_output_limit(srv, &mut c);
    }
    crate::client_memory::evict_clients(srv, None);
}
