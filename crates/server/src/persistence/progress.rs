//! Progress of long work — loading an RDB or AOF, a full sync's transfer
//! and load at both ends — logged every few seconds with the percentage,
//! the rate and an estimate of the time left, so an operator watching a
//! 20 GB load or a slow sync sees it move. Loading also updates systemd's
//! `STATUS=` (see `sdnotify`). Redis logs nothing between the start and
//! the end of these; the lines are ours.

use std::time::{Duration, Instant};

/// Time between two progress lines.
pub const INTERVAL: Duration = Duration::from_secs(2);

/// When the last line was written, to space them [`INTERVAL`] apart.
#[derive(Debug, Clone)]
pub struct Progress {
    started: Instant,
    last: Instant,
}

impl Default for Progress {
    fn default() -> Self {
        Progress::new()
    }
}

impl Progress {
    pub fn new() -> Progress {
        let now = Instant::now();
        Progress {
            started: now,
            last: now,
        }
    }

    /// The line for `done` of `total` bytes (`total` 0: unknown), when
    /// [`INTERVAL`] has passed since the last one.
    pub fn due(&mut self, what: &str, done: u64, total: u64) -> Option<String> {
        let now = Instant::now();
        if now.duration_since(self.last) < INTERVAL {
            return None;
        }
        self.last = now;
        Some(line(what, done, total, now.duration_since(self.started)))
    }
}

/// `Loading RDB: 41.20% (412.0MB of 1000.0MB) at 205.9MB/s, ETA 3s`;
/// without a known total, only the bytes and the rate.
pub fn line(what: &str, done: u64, total: u64, elapsed: Duration) -> String {
    let secs = elapsed.as_secs_f64().max(0.001);
    let rate = done as f64 / secs;
    let mb = |b: f64| b / (1024.0 * 1024.0);
    if total == 0 {
        return format!("{what}: {:.1}MB at {:.1}MB/s", mb(done as f64), mb(rate));
    }
    let done = done.min(total);
    let perc = done as f64 * 100.0 / total as f64;
    let eta = if rate > 0.0 {
        format!("{}s", ((total - done) as f64 / rate).ceil() as u64)
    } else {
        "unknown".to_string()
    };
    format!(
        "{what}: {perc:.2}% ({:.1}MB of {:.1}MB) at {:.1}MB/s, ETA {eta}",
        mb(done as f64),
        mb(total as f64),
        mb(rate)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_rate_and_eta() {
        let l = line("Loading RDB", 50 << 20, 200 << 20, Duration::from_secs(5));
        assert_eq!(
            l,
            "Loading RDB: 25.00% (50.0MB of 200.0MB) at 10.0MB/s, ETA 15s"
        );
        let l = line("Receiving", 3 << 20, 0, Duration::from_secs(1));
        assert_eq!(l, "Receiving: 3.0MB at 3.0MB/s");
    }

    #[test]
    fn lines_are_spaced() {
        let mut p = Progress::new();
        assert!(p.due("x", 1, 2).is_none());
    }
}
