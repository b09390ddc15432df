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

/// Seconds of history behind INFO's `client_recent_max_input_buffer` and
/// `client_recent_max_output_buffer` (Redis's `CLIENTS_PEAK_MEM_USAGE_SLOTS`).
const PEAK_SLOTS: usize = 8;

/// Per second (a ring of [`PEAK_SLOTS`]): the largest query buffer
/// allocation and reply list the cron saw in any client that second.
#[derive(Default)]
pub struct RecentPeaks {
    slots: [(i64, usize, usize); PEAK_SLOTS],
}

impl RecentPeaks {
    fn note(&mut self, now_ms: i64, input: usize, output: usize) {
        let sec = now_ms / 1000;
        let slot = &mut self.slots[sec.rem_euclid(PEAK_SLOTS as i64) as usize];
        if slot.0 != sec {
            *slot = (sec, 0, 0);
        }
        slot.1 = slot.1.max(input);
        slot.2 = slot.2.max(output);
    }

    /// (input, output) peaks of the last [`PEAK_SLOTS`] seconds.
    pub fn recent(&self, now_ms: i64) -> (usize, usize) {
        let sec = now_ms / 1000;
        self.slots
            .iter()
            .filter(|s| sec - s.0 < PEAK_SLOTS as i64)
            .fold((0, 0), |(i, o), s| (i.max(s.1), o.max(s.2)))
    }
}

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
        // Sampled before the resize, as Redis tracks expansive clients
        // before it trims their buffers.
        let (_, _, omem) = crate::client_buffers::output_split(&c);
        srv.client_peaks.note(now, c.querybuf.capacity(), omem);
        crate::client_buffers::cron_resize_querybuf(&mut c, now);
        match crate::client_buffers::cron_resize_reply_buffer(&mut c, srv.reply_buffer, now) {
            1 => srv.stats.reply_buffer_expands += 1,
            -1 => srv.stats.reply_buffer_shrinks += 1,
            _ => {}
        }
        crate::client_memory::update(srv, &mut c);
        crate::net::enforce_output_limit(srv, &mut c);
        if let Some(e) = crate::cluster::blocked_redirection(srv, &c) {
            crate::blocking::unblock_with_error(srv, &mut c, &e);
        }
    }
    crate::client_memory::evict_clients(srv, None);
}
