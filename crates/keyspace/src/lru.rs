//! The access clock behind `OBJECT IDLETIME` (and, later, LRU eviction).
//!
//! As in Redis, each entry records the LRU clock of its last access: Unix
//! seconds truncated to 24 bits, so it wraps every ~194 days. Idle time is
//! the clock distance, accounting for one wrap.

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

#[cfg(test)]
mod tests {
    use super::*;

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
