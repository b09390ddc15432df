//! Free loopback ports for local processes, from a private range.
//!
//! Never port 0: in Redis `port 0` means "no TCP listener", not "pick
//! one". The range lies below Linux's default ephemeral range (32768 and
//! up), so the kernel does not hand our ports to outgoing connections, and
//! each process starts at its own offset in it (from its pid), so test
//! binaries running side by side rarely reach for the same ports. Each
//! candidate is checked by binding it on 127.0.0.1; a port can still be
//! taken between that check and the program's own bind, which is why
//! [`crate::Launch::start`] tries another port on "Address already in use".

use crate::{Error, Result};
use std::net::TcpListener;
use std::sync::atomic::{AtomicU32, Ordering};

const FIRST: u16 = 20000;
const SPAN: u16 = 12000;
/// Candidates handed out so far by this process, plus its starting offset.
static NEXT: AtomicU32 = AtomicU32::new(u32::MAX);

/// Reserves `n` consecutive candidates; returns the first.
fn candidates(n: u16) -> u16 {
    let offset = (std::process::id() % 240) * 50;
    let _ = NEXT.compare_exchange(u32::MAX, offset, Ordering::SeqCst, Ordering::SeqCst);
    let at = NEXT.fetch_add(u32::from(n), Ordering::SeqCst) % u32::from(SPAN);
    FIRST + at as u16
}

/// A free port on 127.0.0.1 from the private range.
pub fn free_port() -> Result<u16> {
    free_ports(1)
}

/// The first of `n` consecutive free ports (a topology takes port,
/// port + 1, ...).
pub fn free_ports(n: u16) -> Result<u16> {
    if n == 0 || n > SPAN {
        return Err(Error::Invalid(format!("cannot reserve {n} ports")));
    }
    for _ in 0..SPAN {
        let first = candidates(n);
        // A run that would wrap past the end of the range is not one run.
        if first + n > FIRST + SPAN {
            continue;
        }
        if (first..first + n).all(|p| TcpListener::bind(("127.0.0.1", p)).is_ok()) {
            return Ok(first);
        }
    }
    Err(Error::Invalid(format!(
        "no {n} free consecutive ports on 127.0.0.1 in {FIRST}..{}",
        FIRST + SPAN
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_free_distinct_and_in_the_range() {
        let a = free_port().unwrap();
        let b = free_ports(3).unwrap();
        assert!((FIRST..FIRST + SPAN).contains(&a), "{a}");
        assert!((FIRST..FIRST + SPAN - 2).contains(&b), "{b}");
        assert!(a < b || a > b + 2, "{a} inside {b}..{}", b + 2);
    }
}
