//! The debugging delays Redis's test suite relies on to catch a save or a
//! load in progress: `rdb-key-save-delay` (per key written by a snapshot)
//! and `key-load-delay` (per key loaded), in microseconds.
//!
//! Redis sleeps in its fork child per key; the parent goes on serving.
//! Redoubt has no child: a snapshot's walk runs on the executor between
//! commands, so sleeping there would stop the server. The walk is paced
//! instead — at most one entry per delay, the executor free meanwhile —
//! which makes a save take as long as Redis's child would without
//! blocking anyone. Loading parses on its own thread, which sleeps.
//!
//! A negative value is Redis's "short delay": sleep 1 µs with odds 1/N.

use std::time::{Duration, Instant};

/// The average delay per key, in microseconds, a configured value means.
fn average_us(configured: i64) -> f64 {
    match configured {
        0 => 0.0,
        n if n > 0 => n as f64,
        n => 1.0 / (n.unsigned_abs() as f64),
    }
}

/// Paces a snapshot walk to one entry per `rdb-key-save-delay`.
#[derive(Debug)]
pub struct SavePace {
    per_key_us: f64,
    last: Instant,
    credit: f64,
}

impl SavePace {
    pub fn new(rdb_key_save_delay: i64) -> SavePace {
        SavePace {
            per_key_us: average_us(rdb_key_save_delay),
            last: Instant::now(),
            // The first key waits too: Redis sleeps for every key, so a
            // one-key dataset takes one delay to save.
            credit: 0.0,
        }
    }

    /// How many entries the walk may take now (at most `max`).
    pub fn budget(&mut self, max: usize) -> usize {
        if self.per_key_us == 0.0 {
            return max;
        }
        let now = Instant::now();
        self.credit += now.duration_since(self.last).as_micros() as f64 / self.per_key_us;
        self.last = now;
        let n = (self.credit.floor().max(0.0) as usize).min(max);
        self.credit -= n as f64;
        // Time that passes while nothing may be walked is not saved up
        // beyond one step.
        self.credit = self.credit.min(max as f64);
        n
    }

    /// How long to wait before asking again when the budget was 0.
    pub fn wait(&self) -> Duration {
        Duration::from_micros((self.per_key_us.ceil() as u64).clamp(1, 1000))
    }

    pub fn paced(&self) -> bool {
        self.per_key_us != 0.0
    }
}

/// `rdb-key-save-delay` for one key of a synchronous save (SAVE, the final
/// save of a shutdown), which blocks as Redis's does.
pub fn sync_save_delay(configured: i64) {
    key_load_delay(configured)
}

/// `key-load-delay` for one loaded key, on the loading thread (or the
/// executor for the synchronous loads Redis also runs blocking).
pub fn key_load_delay(configured: i64) {
    match configured {
        0 => {}
        n if n > 0 => std::thread::sleep(Duration::from_micros(n as u64)),
        n => {
            if rand::random::<u64>().is_multiple_of(n.unsigned_abs()) {
                std::thread::sleep(Duration::from_micros(1));
            }
        }
    }
}
