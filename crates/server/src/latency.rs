//! Latency tracking: the latency monitor behind `LATENCY` (events slower
//! than `latency-monitor-threshold`, per second, as Redis's latency.c) and
//! the per-command histograms behind `INFO latencystats` (Redis 7.0's
//! `latency-tracking`).

use command_meta::CommandMeta;
use std::collections::{BTreeMap, HashMap, VecDeque};

/// Samples kept per event, as Redis's LATENCY_TS_LEN.
const LATENCY_HISTORY_LEN: usize = 160;

/// One latency event's record: samples (second, worst ms in that second)
/// and the all-time maximum.
#[derive(Debug, Default)]
pub struct LatencyEvent {
    pub samples: VecDeque<(i64, u64)>,
    pub max: u64,
}

/// Columns and rows of a `LATENCY GRAPH`, as Redis draws it.
const GRAPH_COLUMNS: usize = 80;
const GRAPH_ROWS: usize = 4;

impl LatencyEvent {
    /// `LATENCY GRAPH event`: a header with the highest and lowest
    /// samples and the all-time high, a rule, and a sparkline of the
    /// samples labelled with how long ago each was taken (`now` in Unix
    /// seconds), in Redis's layout.
    pub fn graph(&self, event: &str, now: i64) -> String {
        let low = self.samples.iter().map(|s| s.1).min().unwrap_or(0);
        let high = self.samples.iter().map(|s| s.1).max().unwrap_or(0);
        let mut out = format!(
            "{event} - high {high} ms, low {low} ms (all time high {} ms)\n{}\n",
            self.max,
            "-".repeat(GRAPH_COLUMNS)
        );
        let samples: Vec<(f64, String)> = self
            .samples
            .iter()
            .map(|&(t, ms)| (ms as f64, ago(now - t)))
            .collect();
        out.push_str(&crate::util::sparkline::render(
            &samples,
            GRAPH_COLUMNS,
            GRAPH_ROWS,
        ));
        out
    }
}

/// `12s`, `5m`, `3h`, `2d`: the largest unit, rounded down.
fn ago(secs: i64) -> String {
    match secs {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m", s / 60),
        s if s < 86400 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86400),
    }
}

/// The latency monitor: events above `latency-monitor-threshold`.
#[derive(Debug, Default)]
pub struct LatencyMonitor {
    pub events: BTreeMap<&'static str, LatencyEvent>,
}

impl LatencyMonitor {
    /// Records `ms` for `event` at Unix second `now`. Samples within the
    /// same second merge, keeping the worst.
    pub fn add(&mut self, event: &'static str, now: i64, ms: u64) {
        let e = self.events.entry(event).or_default();
        e.max = e.max.max(ms);
        if let Some(last) = e.samples.back_mut() {
            if last.0 == now {
                last.1 = last.1.max(ms);
                return;
            }
        }
        e.samples.push_back((now, ms));
        while e.samples.len() > LATENCY_HISTORY_LEN {
            e.samples.pop_front();
        }
    }
}

/// A per-command latency histogram with the bucket layout of the HDR
/// histogram Redis 7.0 uses for `INFO latencystats` (two significant
/// digits: 256 exact values, then 128 sub-buckets per power of two), so
/// the reported percentiles are the same numbers Redis would print.
#[derive(Debug, Default, Clone)]
pub struct Histogram {
    counts: Vec<u64>,
    total: u64,
}

impl Histogram {
    /// Largest recorded value (ns); longer commands are counted here.
    const MAX_NS: u64 = 1 << 40;

    fn index(v: u64) -> usize {
        if v < 256 {
            return v as usize;
        }
        let bucket = 63 - (v | 255).leading_zeros() as usize - 7;
        let sub = (v >> bucket) as usize; // 128..=255
        (bucket + 1) * 128 + (sub - 128)
    }

    /// The highest value counted at `idx` (HDR's highest equivalent).
    fn highest(idx: usize) -> u64 {
        if idx < 256 {
            return idx as u64;
        }
        let bucket = idx / 128 - 1;
        let sub = (idx % 128 + 128) as u64;
        ((sub + 1) << bucket) - 1
    }

    /// Records one duration in nanoseconds.
    pub fn record(&mut self, ns: u64) {
        let i = Self::index(ns.clamp(1, Self::MAX_NS));
        if self.counts.len() <= i {
            self.counts.resize(i + 1, 0);
        }
        self.counts[i] += 1;
        self.total += 1;
    }

    /// Values recorded.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// The cumulative distribution `LATENCY HISTOGRAM` reports, as HDR's
    /// logarithmic iterator walks it for Redis (first level 1024 ns,
    /// doubling): at each level, the highest value of the bucket holding
    /// the level in microseconds and the count of values up to it; levels
    /// that add nothing are left out, and the walk ends with the last
    /// value.
    pub fn log_cdf(&self) -> Vec<(u64, u64)> {
        let mut out = Vec::new();
        let (mut level, mut previous) = (1024u64, 0u64);
        while previous < self.total && level <= Self::MAX_NS {
            let top = Self::index(level);
            let cumulative: u64 = self.counts.iter().take(top + 1).sum();
            if cumulative > previous {
                out.push((Self::highest(top) / 1000, cumulative));
            }
            previous = cumulative;
            level *= 2;
        }
        out
    }

    /// The value at percentile `p` (0-100), in nanoseconds.
    pub fn percentile(&self, p: f64) -> u64 {
        let want = ((p / 100.0) * self.total as f64 + 0.5) as u64;
        let want = want.max(1);
        let mut seen = 0;
        for (i, &n) in self.counts.iter().enumerate() {
            seen += n;
            if n > 0 && seen >= want {
                // HDR reports the bucket's lowest value for p0 only.
                return if p == 0.0 {
                    Self::highest(i.saturating_sub(1)) + 1
                } else {
                    Self::highest(i)
                };
            }
        }
        0
    }
}

/// Latency histograms by command, keyed by the address of the command's
/// static metadata: hashing a pointer is cheaper than hashing the name on
/// every call.
#[derive(Debug, Default)]
pub struct LatencyHistograms(HashMap<usize, Histogram, foldhash::fast::RandomState>);

impl LatencyHistograms {
    pub fn key(meta: &'static CommandMeta) -> usize {
        meta as *const CommandMeta as usize
    }

    pub fn record(&mut self, meta: &'static CommandMeta, usec: u64) {
        self.0
            .entry(Self::key(meta))
            .or_default()
            .record(usec.saturating_mul(1000));
    }

    pub fn get(&self, key: &usize) -> Option<&Histogram> {
        self.0.get(key)
    }

    pub fn clear(&mut self) {
        self.0.clear();
    }
}

/// Feeds the latency monitor after a command: `fast-command` for commands
/// flagged fast, `command` for the rest.
pub fn sample_command(srv: &mut crate::server::Server, meta: &'static CommandMeta, usec: u64) {
    // Per-command histogram for INFO latencystats (Redis 7.0's
    // latency-tracking, on by default).
    if srv.latency_tracking {
        srv.latency_hist.record(meta, usec);
    }
    let threshold = srv.latency_threshold_ms;
    if threshold <= 0 {
        return;
    }
    let ms = usec / 1000;
    if (ms as i64) < threshold {
        return;
    }
    let event = if meta.flags.contains(&"fast") {
        "fast-command"
    } else {
        "command"
    };
    let now = srv.now_ms / 1000;
    srv.latency.add(event, now, ms);
}

#[cfg(test)]
mod tests {
    #[test]
    fn latency_samples_merge_within_a_second() {
        let mut m = super::LatencyMonitor::default();
        m.add("command", 100, 10);
        m.add("command", 100, 20);
        m.add("command", 101, 5);
        let e = &m.events["command"];
        assert_eq!(e.samples, vec![(100, 20), (101, 5)]);
        assert_eq!(e.max, 20);
    }

    #[test]
    fn graph_labels_samples_with_their_age() {
        let mut m = super::LatencyMonitor::default();
        m.add("command", 1000, 100);
        m.add("command", 1030, 300);
        let g = m.events["command"].graph("command", 1090);
        let want = format!(
            "command - high 300 ms, low 100 ms (all time high 300 ms)\n{}\n #\n |\n |\n_|\n  \n11\nmm\n",
            "-".repeat(80)
        );
        assert_eq!(g, want);
    }

    #[test]
    fn histogram_reports_hdr_values() {
        let mut h = super::Histogram::default();
        h.record(165_000);
        assert_eq!(h.percentile(50.0), 165_887);
        let mut h = super::Histogram::default();
        for v in 1..=100u64 {
            h.record(v * 1000);
        }
        assert_eq!(h.percentile(50.0), 50_175);
        assert_eq!(h.percentile(99.0), 99_327);
        assert_eq!(h.percentile(100.0), 100_351);
        assert_eq!(h.percentile(0.0), 1_000);
    }
}
