//! The wall clock as the server reads it: Unix time in milliseconds and
//! microseconds. One place, so every "now" in logs, INFO fields, MONITOR
//! lines and pauses comes from the same source.

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
