//! The wall clock as the server reads it: Unix time in milliseconds and
//! microseconds. One place, so every "now" in logs, INFO fields, MONITOR
//! lines and pauses comes from the same source; and the monotonic clock,
//! for durations that must not jump.

use std::time::{SystemTime, UNIX_EPOCH};

/// Microseconds since the Unix epoch (0 if the clock is before it).
pub fn unix_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

/// Milliseconds since the Unix epoch (0 if the clock is before it).
pub fn unix_ms() -> i64 {
    unix_us() / 1000
}

/// Microseconds of the system's monotonic clock (`CLOCK_MONOTONIC`): never
/// steps with the wall clock, and is one clock for every process on the
/// host, so a reading taken by an earlier run of this server is still a
/// reading of the past. The sentinel lease (`replication::lease`) counts
/// on both.
pub fn monotonic_us() -> i64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_MONOTONIC always
    // exists on Linux, and on failure `ts` stays zero.
    unsafe {
        libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts);
    }
    ts.tv_sec * 1_000_000 + ts.tv_nsec / 1_000
}

/// [`monotonic_us`] in milliseconds.
pub fn monotonic_ms() -> i64 {
    monotonic_us() / 1000
}
