//! The engine's counters: `INFO stats`/`errorstats` totals, the slow log's
//! entries and the samples behind `instantaneous_*`. The executor updates
//! them as commands run; INFO, metrics and SLOWLOG read them.

use crate::errors;
use std::collections::BTreeMap;
use std::time::Instant;

/// Counters reported by `INFO stats` and `INFO errorstats`.
#[derive(Debug, Default)]
pub struct Stats {
    pub total_connections_received: u64,
    pub total_commands: u64,
    pub rejected_connections: u64,
    pub expired_keys: u64,
    pub expired_stale_perc: f64,
    pub expire_cycle_cpu_ms: u64,
    pub keyspace_hits: u64,
    pub keyspace_misses: u64,
    pub total_error_replies: u64,
    /// Errors answered to our master or to the AOF loader (they should
    /// never happen: see `cmd::error_to_master`).
    pub unexpected_error_replies: u64,
    pub unknown_commands: u64,
    pub net_input_bytes: u64,
    pub net_output_bytes: u64,
    /// Replication traffic, counted apart as Redis 7.0 does: read from
    /// our master (full sync payload and stream), written to replicas.
    pub net_repl_input_bytes: u64,
    pub net_repl_output_bytes: u64,
    pub total_reads_processed: u64,
    pub total_writes_processed: u64,
    pub errors: BTreeMap<String, u64>,
    /// Keys evicted under `maxmemory`.
    pub evicted_keys: u64,
    /// Time spent over `maxmemory` in finished spells (microseconds), and
    /// the start of the current one.
    pub eviction_exceeded_us: u64,
    pub eviction_exceeded_since: Option<Instant>,
    /// Full syncs served, partial resyncs accepted and refused (a PSYNC
    /// naming a history we could not continue).
    pub sync_full: u64,
    pub sync_partial_ok: u64,
    pub sync_partial_err: u64,
    /// Replica links closed for passing the replica class of
    /// `client-output-buffer-limit` (not in Redis 7.0's INFO; served as
    /// a metric).
    pub replica_output_limit_disconnections: u64,
    /// Background jobs started where Redis forks a child (BGSAVE, AOF
    /// rewrite, a full sync's snapshot), and how long the last one took
    /// to start (INFO `total_forks`, `latest_fork_usec`).
    pub total_forks: u64,
    pub latest_fork_usec: u64,
}

impl Stats {
    /// Counts a background job Redis would fork for, started at `since`.
    pub fn note_fork(&mut self, since: Instant) {
        self.total_forks += 1;
        self.latest_fork_usec = since.elapsed().as_micros() as u64;
    }
}

impl Stats {
    /// Counts an error reply under its code, as `INFO errorstats` shows.
    pub fn count_error(&mut self, msg: &str) {
        self.count_error_code(errors::code(msg));
    }

    /// Counts an error reply under `code`.
    pub fn count_error_code(&mut self, code: &str) {
        self.total_error_replies += 1;
        if let Some(n) = self.errors.get_mut(code) {
            *n += 1;
        } else if self.errors.len() < 128 {
            // Redis stops tracking new codes past 128 distinct ones.
            self.errors.insert(code.to_string(), 1);
        }
    }
}

/// One `SLOWLOG` entry.
#[derive(Debug, Clone)]
pub struct SlowlogEntry {
    pub id: u64,
    pub time: i64,
    pub duration_us: u64,
    pub args: Vec<Vec<u8>>,
    pub client_addr: String,
    pub client_name: Vec<u8>,
}

/// Counters sampled for `instantaneous_*`: commands, network input and
/// output bytes, replication input and output bytes.
pub const INST_COUNTERS: usize = 5;

/// Samples for `instantaneous_*` (Redis keeps 16 samples taken every
/// 100 ms and reports their mean).
#[derive(Debug, Default)]
pub struct InstMetrics {
    last_ms: i64,
    last: [u64; INST_COUNTERS],
    samples: [[f64; 16]; INST_COUNTERS],
    idx: usize,
}

impl InstMetrics {
    /// Called from the cron; takes one sample per 100 ms of commands, input
    /// bytes and output bytes.
    pub fn sample(&mut self, now_ms: i64, counters: [u64; INST_COUNTERS]) {
        if self.last_ms == 0 {
            self.last_ms = now_ms;
            self.last = counters;
            return;
        }
        let dt = now_ms - self.last_ms;
        if dt < 100 {
            return;
        }
        for (k, counter) in counters.iter().enumerate() {
            let delta = counter.saturating_sub(self.last[k]) as f64;
            self.samples[k][self.idx] = delta * 1000.0 / dt as f64;
        }
        self.idx = (self.idx + 1) % 16;
        self.last_ms = now_ms;
        self.last = counters;
    }

    pub fn mean(&self, k: usize) -> f64 {
        self.samples[k].iter().sum::<f64>() / 16.0
    }
}
