//! The access stamp every entry carries (`Entry::lru`), behind `OBJECT
//! IDLETIME`, `OBJECT FREQ` and (later) eviction.
//!
//! As in Redis, the 24 bits mean one of two things depending on
//! `maxmemory-policy`:
//! - LRU (every non-LFU policy): the LRU clock of the last access, Unix
//!   seconds truncated to 24 bits (wraps every ~194 days). Idle time is the
//!   clock distance, accounting for one wrap.
//! - LFU: the minute of the last decrement in the high 16 bits and a
//!   logarithmic access counter in the low 8. New keys start at
//!   [`LFU_INIT_VAL`] so they are not evicted before they had a chance to be
//!   used; each access increments the counter with a probability that falls
//!   as it grows (`lfu-log-factor`), and it decays by one for each
//!   `lfu-decay-time` minutes without access.
//!
//! Switching policy at run time reinterprets existing stamps, which Redis
//! warns about too ("LRU and LFU data will take some time to adjust").

use rand::Rng;

/// Largest value of the 24-bit LRU clock.
pub const LRU_CLOCK_MAX: u32 = (1 << 24) - 1;

/// The LRU clock for a Unix time in milliseconds.
pub fn clock_at(now_ms: i64) -> u32 {
    (now_ms / 1000) as u32 & LRU_CLOCK_MAX
}

/// Seconds since `lru` at clock `now`, assuming at most one wrap in
/// between (Redis's `estimateObjectIdleTime`).
pub fn idle_secs(lru: u32, now: u32) -> u64 {
    if now >= lru {
        u64::from(now - lru)
    } else {
        u64::from(now) + u64::from(LRU_CLOCK_MAX - lru)
    }
}

/// Counter of a new key under LFU.
pub const LFU_INIT_VAL: u8 = 5;

/// How access stamps are kept, from `maxmemory-policy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccessClock {
    Lru,
    Lfu {
        /// `lfu-log-factor`: higher makes the counter grow more slowly.
        log_factor: u32,
        /// `lfu-decay-time`: minutes per decrement (0: no decay).
        decay_minutes: u32,
    },
}

/// The 16-bit minute clock of the LFU stamp.
fn lfu_minutes(now_ms: i64) -> u32 {
    ((now_ms / 60_000) & 0xFFFF) as u32
}

impl AccessClock {
    /// The stamp of a key created at `now_ms`.
    pub fn new_stamp(&self, now_ms: i64) -> u32 {
        match self {
            AccessClock::Lru => clock_at(now_ms),
            AccessClock::Lfu { .. } => lfu_minutes(now_ms) << 8 | u32::from(LFU_INIT_VAL),
        }
    }

    /// The stamp after an access at `now_ms`.
    pub fn touch<R: Rng>(&self, stamp: u32, now_ms: i64, rng: &mut R) -> u32 {
        match *self {
            AccessClock::Lru => clock_at(now_ms),
            AccessClock::Lfu { log_factor, .. } => {
                let counter = self.lfu_counter(stamp, now_ms);
                let counter = lfu_log_incr(counter, log_factor, rng.gen::<f64>());
                lfu_minutes(now_ms) << 8 | u32::from(counter)
            }
        }
    }

    /// The LFU counter of `stamp` after decay at `now_ms` (what `OBJECT
    /// FREQ` reports); 0 under LRU.
    pub fn lfu_counter(&self, stamp: u32, now_ms: i64) -> u8 {
        let AccessClock::Lfu { decay_minutes, .. } = *self else {
            return 0;
        };
        let counter = (stamp & 0xFF) as u8;
        if decay_minutes == 0 {
            return counter;
        }
        let last = stamp >> 8;
        let now = lfu_minutes(now_ms);
        let elapsed = if now >= last {
            now - last
        } else {
            0xFFFF - last + now
        };
        let periods = elapsed / decay_minutes;
        counter.saturating_sub(u8::try_from(periods).unwrap_or(u8::MAX))
    }
}

/// One probabilistic increment of a logarithmic counter: always below the
/// initial value, then with probability 1 / ((counter - init) * factor + 1).
/// `r` is uniform in [0, 1).
pub fn lfu_log_incr(counter: u8, log_factor: u32, r: f64) -> u8 {
    if counter == u8::MAX {
        return counter;
    }
    let base = f64::from(counter.saturating_sub(LFU_INIT_VAL));
    let p = 1.0 / (base * f64::from(log_factor) + 1.0);
    if r < p {
        counter + 1
    } else {
        counter
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::SmallRng;
    use rand::SeedableRng;

    const LFU: AccessClock = AccessClock::Lfu {
        log_factor: 10,
        decay_minutes: 1,
    };

    #[test]
    fn lfu_counter_starts_at_init_grows_logarithmically_and_decays() {
        let now = 1_000_000_000_000;
        let s = LFU.new_stamp(now);
        assert_eq!(LFU.lfu_counter(s, now), LFU_INIT_VAL);
        // The first access past the initial value always counts.
        let mut rng = SmallRng::seed_from_u64(7);
        let s = LFU.touch(s, now, &mut rng);
        assert_eq!(LFU.lfu_counter(s, now), LFU_INIT_VAL + 1);
        let mut s = s;
        for _ in 0..10_000 {
            s = LFU.touch(s, now, &mut rng);
        }
        let c = LFU.lfu_counter(s, now);
        assert!(c > 10 && c < 60, "counter after 10k hits: {c}");
        // Three idle minutes at one decrement per minute.
        assert_eq!(LFU.lfu_counter(s, now + 3 * 60_000), c - 3);
        assert_eq!(LFU.lfu_counter(s, now + 1_000 * 60_000), 0);
        assert_eq!(lfu_log_incr(255, 10, 0.0), 255);
        assert_eq!(lfu_log_incr(2, 10, 0.99), 3);
    }

    #[test]
    fn lru_stamps_are_the_clock() {
        let mut rng = SmallRng::seed_from_u64(1);
        let now = 1_700_000_000_000;
        assert_eq!(AccessClock::Lru.new_stamp(now), clock_at(now));
        assert_eq!(AccessClock::Lru.touch(3, now, &mut rng), clock_at(now));
    }

    #[test]
    fn idle_time_handles_the_clock_wrap() {
        assert_eq!(idle_secs(100, 130), 30);
        assert_eq!(idle_secs(LRU_CLOCK_MAX - 5, 10), 15);
        assert_eq!(
            clock_at(1_000_000_000_000) as i64,
            1_000_000_000 & 0xFF_FFFF
        );
    }
}
