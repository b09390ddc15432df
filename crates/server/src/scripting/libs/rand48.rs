//! Redis's `math.random`/`math.randomseed` generator: rand48 (48-bit
//! linear congruential, the same sequence for a seed on every platform),
//! in place of the C library's `rand()`. As in Redis there is one
//! generator per process, shared by EVAL scripts and functions, seeded
//! with 0 at start-up and by `math.randomseed`.

use std::cell::Cell;

const A: u64 = 0x5_DEEC_E66D;
const C: u64 = 0xB;
const MASK: u64 = (1 << 48) - 1;
/// The largest value `lrand48` returns plus one (Redis's REDIS_LRAND48_MAX).
pub const MAX: u64 = i32::MAX as u64;

thread_local! {
    // Redis starts from the state srand48(0x1234ABCD) gives.
    static STATE: Cell<u64> = const { Cell::new(0x1234_ABCD_330E) };
}

/// The state after `srand48(seed)`.
const fn seeded(seed: i32) -> u64 {
    ((seed as u32 as u64) << 16 | 0x330E) & MASK
}

/// `srand48(seed)`.
pub fn seed(seed: i32) {
    STATE.with(|s| s.set(seeded(seed)));
}

/// `lrand48()`: the next value in `0..2^31`.
pub fn next() -> u64 {
    STATE.with(|s| {
        let st = (s.get().wrapping_mul(A).wrapping_add(C)) & MASK;
        s.set(st);
        st >> 17
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_sequence_of_srand48_zero() {
        super::seed(0);
        // glibc's lrand48() after srand48(0).
        assert_eq!(super::next(), 366850414);
        assert_eq!(super::next(), 1610402240);
    }
}
