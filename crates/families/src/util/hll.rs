//! HyperLogLog as Redis stores it, on a plain byte string.
//!
//! The value of a PFADD key is an ordinary string whose bytes are Redis's
//! own representation, so it replicates, saves and restores unchanged and
//! GET returns what Redis would return:
//!
//! - a 16-byte header: the magic `HYLL`, one encoding byte (0 dense,
//!   1 sparse), three unused zero bytes, then the cached cardinality as a
//!   little-endian u64 whose top bit (bit 7 of the last byte) marks the
//!   cache as stale;
//! - dense: 16384 registers of 6 bits, packed least significant bit first;
//! - sparse: run-length opcodes — `00llllll` (1..64 zero registers),
//!   `01llllll llllllll` (1..16384 zero registers), `1vvvvvll` (1..4
//!   registers of value 1..32).
//!
//! Elements are hashed with MurmurHash64A (seed 0xadc83b19): the low 14
//! bits pick the register, the position of the first set bit in the rest
//! is the register's candidate value. The estimate is Ertl's improved
//! estimator over the register histogram, as Redis 7.0 computes it.
//!
//! Sparse edits keep the exact opcode layout Redis produces (split the run
//! that covers the register into at most five opcodes, then merge equal
//! neighbouring value runs near the edit), since the bytes are visible.

/// Header length.
pub const HDR: usize = 16;
/// Index bits and register count.
const P: u32 = 14;
pub const REGISTERS: usize = 1 << P;
/// Hash bits left once the index is taken.
const Q: u32 = 64 - P;
const BITS: usize = 6;
const REG_MAX: u8 = (1 << BITS) - 1;
/// Total size of a dense HLL.
pub const DENSE_SIZE: usize = HDR + (REGISTERS * BITS).div_ceil(8);

const DENSE: u8 = 0;
const SPARSE: u8 = 1;

const SPARSE_VAL_MAX: u8 = 32;
const SPARSE_VAL_MAX_LEN: usize = 4;
const SPARSE_ZERO_MAX_LEN: usize = 64;

/// The value's bytes do not describe 16384 registers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Corrupt;

// ---------------------------------------------------------------------------
// Header
// ---------------------------------------------------------------------------

/// A new, empty HLL: sparse, one run of 16384 zero registers, cached
/// cardinality 0 (valid).
pub fn new_sparse() -> Vec<u8> {
    let mut v = Vec::with_capacity(HDR + 2);
    v.extend_from_slice(b"HYLL");
    v.extend_from_slice(&[SPARSE, 0, 0, 0]);
    v.extend_from_slice(&[0; 8]);
    push_xzero(&mut v, REGISTERS);
    v
}

/// Whether `b` passes Redis's HLL type check: long enough for a header,
/// the magic, a known encoding, and the exact size when dense.
pub fn looks_valid(b: &[u8]) -> bool {
    b.len() >= HDR
        && &b[..4] == b"HYLL"
        && (b[4] == SPARSE || (b[4] == DENSE && b.len() == DENSE_SIZE))
}

pub fn is_sparse(b: &[u8]) -> bool {
    b[4] == SPARSE
}

/// The cached cardinality, when not marked stale.
pub fn cached_card(b: &[u8]) -> Option<u64> {
    if b[15] & 0x80 != 0 {
        return None;
    }
    let mut le = [0u8; 8];
    le.copy_from_slice(&b[8..16]);
    Some(u64::from_le_bytes(le))
}

pub fn set_cached_card(b: &mut [u8], card: u64) {
    b[8..16].copy_from_slice(&card.to_le_bytes());
}

pub fn invalidate_cache(b: &mut [u8]) {
    b[15] |= 0x80;
}

// ---------------------------------------------------------------------------
// Hashing
// ---------------------------------------------------------------------------

/// MurmurHash64A, blocks read little-endian (as Redis does on the
/// little-endian machines it runs on, so the hash is machine-independent
/// here).
pub fn murmur64a(data: &[u8], seed: u64) -> u64 {
    const M: u64 = 0xc6a4_a793_5bd1_e995;
    const R: u32 = 47;
    let mut h = seed ^ (data.len() as u64).wrapping_mul(M);
    let mut blocks = data.chunks_exact(8);
    for block in &mut blocks {
        let mut w = [0u8; 8];
        w.copy_from_slice(block);
        let mut k = u64::from_le_bytes(w).wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h ^= k;
        h = h.wrapping_mul(M);
    }
    let tail = blocks.remainder();
    if !tail.is_empty() {
        for (i, &b) in tail.iter().enumerate() {
            h ^= u64::from(b) << (8 * i);
        }
        h = h.wrapping_mul(M);
    }
    h ^= h >> R;
    h = h.wrapping_mul(M);
    h ^= h >> R;
    h
}

/// The register an element falls in and the value it proposes (1 + the
/// number of trailing zeros of the remaining hash bits, at most Q + 1).
pub fn pattern(ele: &[u8]) -> (usize, u8) {
    let h = murmur64a(ele, 0xadc8_3b19);
    let index = (h & (REGISTERS as u64 - 1)) as usize;
    // A sentinel bit bounds the run of zeros at Q.
    let rest = (h >> P) | (1u64 << Q);
    (index, rest.trailing_zeros() as u8 + 1)
}

// ---------------------------------------------------------------------------
// Dense registers
// ---------------------------------------------------------------------------

/// Register `i` of packed dense registers (`regs` starts after the header).
pub fn dense_get(regs: &[u8], i: usize) -> u8 {
    let bit = i * BITS;
    let (byte, shift) = (bit / 8, bit % 8);
    let lo = u16::from(regs.get(byte).copied().unwrap_or(0));
    let hi = u16::from(regs.get(byte + 1).copied().unwrap_or(0));
    (((lo | (hi << 8)) >> shift) as u8) & REG_MAX
}

fn dense_put(regs: &mut [u8], i: usize, v: u8) {
    let bit = i * BITS;
    let (byte, shift) = (bit / 8, bit % 8);
    let mask = u16::from(REG_MAX) << shift;
    let val = u16::from(v & REG_MAX) << shift;
    regs[byte] = (regs[byte] & !(mask as u8)) | val as u8;
    // The last register ends exactly at the last byte; nothing spills.
    if let Some(b) = regs.get_mut(byte + 1) {
        *b = (*b & !((mask >> 8) as u8)) | (val >> 8) as u8;
    }
}

/// Raises register `i` to `v`; whether it changed.
fn dense_set(regs: &mut [u8], i: usize, v: u8) -> bool {
    if dense_get(regs, i) < v {
        dense_put(regs, i, v);
        true
    } else {
        false
    }
}

// ---------------------------------------------------------------------------
// Sparse opcodes
// ---------------------------------------------------------------------------

/// One decoded sparse opcode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Zero(usize),
    XZero(usize),
    Val(u8, usize),
}

impl Op {
    fn run(self) -> usize {
        match self {
            Op::Zero(n) | Op::XZero(n) | Op::Val(_, n) => n,
        }
    }
    fn width(self) -> usize {
        match self {
            Op::XZero(_) => 2,
            _ => 1,
        }
    }
}

/// Decodes the opcode at `b[at]` (`None` past the end or on a truncated
/// two-byte opcode).
fn op_at(b: &[u8], at: usize) -> Option<Op> {
    let c = *b.get(at)?;
    Some(match c >> 6 {
        0 => Op::Zero(usize::from(c & 0x3f) + 1),
        1 => {
            let lo = *b.get(at + 1)?;
            Op::XZero(((usize::from(c & 0x3f) << 8) | usize::from(lo)) + 1)
        }
        _ => Op::Val(((c >> 2) & 0x1f) + 1, usize::from(c & 3) + 1),
    })
}

fn val_byte(v: u8, len: usize) -> u8 {
    0x80 | ((v - 1) << 2) | (len - 1) as u8
}

fn push_xzero(out: &mut Vec<u8>, len: usize) {
    let n = len - 1;
    out.push(0x40 | (n >> 8) as u8);
    out.push((n & 0xff) as u8);
}

/// A run of `len` zero registers with the shortest opcode.
fn push_zeros(out: &mut Vec<u8>, len: usize) {
    if len > SPARSE_ZERO_MAX_LEN {
        push_xzero(out, len);
    } else {
        out.push((len - 1) as u8);
    }
}

/// Calls `f(value, run)` for every opcode of a sparse body; `Corrupt` when
/// an opcode is truncated. Does not check the register total.
fn for_each_run(b: &[u8], mut f: impl FnMut(u8, usize)) -> Result<(), Corrupt> {
    let mut at = HDR;
    while at < b.len() {
        let op = op_at(b, at).ok_or(Corrupt)?;
        match op {
            Op::Zero(n) | Op::XZero(n) => f(0, n),
            Op::Val(v, n) => f(v, n),
        }
        at += op.width();
    }
    Ok(())
}

/// Sets register `index` to `count` in a sparse HLL when that raises it.
/// Returns `Ok(None)` when the sparse form cannot hold the change (value
/// above 32, or the string would pass `max_bytes`): the caller promotes.
fn sparse_set(
    b: &mut Vec<u8>,
    index: usize,
    count: u8,
    max_bytes: usize,
) -> Result<Option<bool>, Corrupt> {
    if count > SPARSE_VAL_MAX {
        return Ok(None);
    }
    // Find the opcode covering `index`, and the one before it.
    let (mut at, mut first, mut prev) = (HDR, 0usize, None);
    let op = loop {
        let op = op_at(b, at).ok_or(Corrupt)?;
        if index < first + op.run() {
            break op;
        }
        prev = Some(at);
        first += op.run();
        at += op.width();
    };
    let last = first + op.run() - 1;
    let mut seq: Vec<u8> = Vec::with_capacity(5);
    match op {
        Op::Val(v, _) if v >= count => return Ok(Some(false)),
        Op::Val(_, 1) | Op::Zero(1) => {
            // Rewritten in place: same width.
            b[at] = val_byte(count, 1);
        }
        Op::Val(v, _) => {
            if index != first {
                seq.push(val_byte(v, index - first));
            }
            seq.push(val_byte(count, 1));
            if index != last {
                seq.push(val_byte(v, last - index));
            }
        }
        Op::Zero(_) | Op::XZero(_) => {
            if index != first {
                push_zeros(&mut seq, index - first);
            }
            seq.push(val_byte(count, 1));
            if index != last {
                push_zeros(&mut seq, last - index);
            }
        }
    }
    if !seq.is_empty() {
        let old = op.width();
        if seq.len() > old && b.len() + seq.len() - old > max_bytes {
            return Ok(None);
        }
        b.splice(at..at + old, seq);
    }
    merge_neighbours(b, prev.unwrap_or(HDR));
    Ok(Some(true))
}

/// After an edit, joins adjacent value runs of equal value whose total
/// still fits one opcode, looking at up to five opcodes from `at` (the
/// opcode before the edited one), as Redis does.
fn merge_neighbours(b: &mut Vec<u8>, mut at: usize) {
    let mut budget = 5;
    while at < b.len() && budget > 0 {
        budget -= 1;
        let Some(op) = op_at(b, at) else { return };
        if let (Op::Val(v1, n1), Some(Op::Val(v2, n2))) = (op, op_at(b, at + 1)) {
            if v1 == v2 && n1 + n2 <= SPARSE_VAL_MAX_LEN {
                b[at + 1] = val_byte(v1, n1 + n2);
                b.remove(at);
                // Stay here: the merged run may join the next one too.
                continue;
            }
        }
        at += op.width();
    }
}

/// Converts a sparse HLL to dense in place, keeping the header (and its
/// cached cardinality). Returns whether a conversion happened.
pub fn to_dense(b: &mut Vec<u8>) -> Result<bool, Corrupt> {
    if !is_sparse(b) {
        return Ok(false);
    }
    let mut dense = vec![0u8; DENSE_SIZE];
    dense[..HDR].copy_from_slice(&b[..HDR]);
    dense[4] = DENSE;
    let mut idx = 0usize;
    let mut over = false;
    for_each_run(b, |v, n| {
        if idx + n > REGISTERS {
            over = true;
        } else if v != 0 {
            for i in idx..idx + n {
                dense_put(&mut dense[HDR..], i, v);
            }
        }
        idx += n;
    })?;
    if over || idx != REGISTERS {
        return Err(Corrupt);
    }
    *b = dense;
    Ok(true)
}

// ---------------------------------------------------------------------------
// Operations
// ---------------------------------------------------------------------------

/// Raises register `index` to `count`, promoting a sparse HLL to dense
/// when needed. Whether the register changed.
pub fn set(
    b: &mut Vec<u8>,
    index: usize,
    count: u8,
    sparse_max_bytes: usize,
) -> Result<bool, Corrupt> {
    if is_sparse(b) {
        if let Some(changed) = sparse_set(b, index, count, sparse_max_bytes)? {
            return Ok(changed);
        }
        to_dense(b)?;
    }
    Ok(dense_set(&mut b[HDR..], index, count))
}

/// Adds an element; whether a register changed.
pub fn add(b: &mut Vec<u8>, ele: &[u8], sparse_max_bytes: usize) -> Result<bool, Corrupt> {
    let (index, count) = pattern(ele);
    set(b, index, count, sparse_max_bytes)
}

/// Folds the registers of `b` into `max` (register-wise maximum).
pub fn merge_into(max: &mut [u8], b: &[u8]) -> Result<(), Corrupt> {
    if !is_sparse(b) {
        let regs = &b[HDR..];
        for (i, m) in max.iter_mut().enumerate().take(REGISTERS) {
            *m = (*m).max(dense_get(regs, i));
        }
        return Ok(());
    }
    let mut idx = 0usize;
    let mut over = false;
    for_each_run(b, |v, n| {
        if over || idx + n > REGISTERS {
            over = true;
            return;
        }
        if v != 0 {
            for m in &mut max[idx..idx + n] {
                *m = (*m).max(v);
            }
        }
        idx += n;
    })?;
    if over || idx != REGISTERS {
        return Err(Corrupt);
    }
    Ok(())
}

/// The estimated cardinality of an HLL value (not using its cache).
pub fn count(b: &[u8]) -> Result<u64, Corrupt> {
    let mut histo = [0u32; Q as usize + 2];
    if is_sparse(b) {
        let mut idx = 0usize;
        for_each_run(b, |v, n| {
            if let Some(h) = histo.get_mut(usize::from(v)) {
                *h += n as u32;
            }
            idx += n;
        })?;
        if idx != REGISTERS {
            return Err(Corrupt);
        }
    } else {
        let regs = &b[HDR..];
        for i in 0..REGISTERS {
            if let Some(h) = histo.get_mut(usize::from(dense_get(regs, i))) {
                *h += 1;
            }
        }
    }
    Ok(estimate(&histo))
}

/// The estimated cardinality of one unpacked register per byte.
pub fn count_registers(regs: &[u8]) -> u64 {
    let mut histo = [0u32; Q as usize + 2];
    for &r in regs {
        if let Some(h) = histo.get_mut(usize::from(r)) {
            *h += 1;
        }
    }
    estimate(&histo)
}

/// Ertl's improved raw estimator ("New cardinality estimation algorithms
/// for HyperLogLog sketches", 2017) over the register histogram.
fn estimate(histo: &[u32; Q as usize + 2]) -> u64 {
    let m = REGISTERS as f64;
    let q = Q as usize;
    let mut z = m * tau((m - f64::from(histo[q + 1])) / m);
    for k in (1..=q).rev() {
        z += f64::from(histo[k]);
        z *= 0.5;
    }
    z += m * sigma(f64::from(histo[0]) / m);
    let alpha_inf = 0.5 / std::f64::consts::LN_2;
    (alpha_inf * m * m / z).round() as u64
}

/// σ(x) = x + Σ x^(2^k)·2^(k-1), summed until it stops changing.
fn sigma(mut x: f64) -> f64 {
    if x == 1.0 {
        return f64::INFINITY;
    }
    let (mut y, mut z) = (1.0, x);
    loop {
        x *= x;
        let before = z;
        z += x * y;
        y += y;
        if z == before {
            return z;
        }
    }
}

/// τ(x) = (1 - x - Σ (1 - x^(2^-k))²·2^-k) / 3, summed until stable.
fn tau(mut x: f64) -> f64 {
    if x == 0.0 || x == 1.0 {
        return 0.0;
    }
    let (mut y, mut z) = (1.0, 1.0 - x);
    loop {
        x = x.sqrt();
        let before = z;
        y *= 0.5;
        z -= (1.0 - x).powi(2) * y;
        if z == before {
            return z / 3.0;
        }
    }
}

/// PFDEBUG DECODE: the sparse opcodes as `z:N`, `Z:N`, `v:VALUE,N`
/// separated by spaces.
pub fn decode_sparse(b: &[u8]) -> Result<String, Corrupt> {
    let mut parts = Vec::new();
    let mut at = HDR;
    while at < b.len() {
        let op = op_at(b, at).ok_or(Corrupt)?;
        parts.push(match op {
            Op::Zero(n) => format!("z:{n}"),
            Op::XZero(n) => format!("Z:{n}"),
            Op::Val(v, n) => format!("v:{v},{n}"),
        });
        at += op.width();
    }
    Ok(parts.join(" "))
}

/// All registers of a dense HLL, unpacked.
pub fn dense_registers(b: &[u8]) -> impl Iterator<Item = u8> + '_ {
    (0..REGISTERS).map(move |i| dense_get(&b[HDR..], i))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_hll_is_sparse_and_counts_zero() {
        let h = new_sparse();
        assert_eq!(h, b"HYLL\x01\0\0\0\0\0\0\0\0\0\0\0\x7f\xff");
        assert!(looks_valid(&h));
        assert_eq!(count(&h), Ok(0));
        assert_eq!(decode_sparse(&h).as_deref(), Ok("Z:16384"));
    }

    #[test]
    fn murmur_matches_reference_values() {
        // The empty input hashes to a function of the seed only.
        let m: u64 = 0xc6a4_a793_5bd1_e995;
        let mut h: u64 = 0xadc8_3b19;
        h ^= h >> 47;
        h = h.wrapping_mul(m);
        h ^= h >> 47;
        assert_eq!(murmur64a(b"", 0xadc8_3b19), h);
        let (i, c) = pattern(b"a");
        assert!(i < REGISTERS && (1..=51).contains(&c));
    }

    #[test]
    fn dense_registers_round_trip() {
        let mut regs = vec![0u8; DENSE_SIZE - HDR];
        for i in 0..REGISTERS {
            dense_put(&mut regs, i, (i % 64) as u8);
        }
        for i in 0..REGISTERS {
            assert_eq!(dense_get(&regs, i), (i % 64) as u8);
        }
    }

    #[test]
    fn sparse_splits_and_merges_runs() {
        let mut h = new_sparse();
        assert_eq!(set(&mut h, 100, 3, 3000), Ok(true));
        assert_eq!(decode_sparse(&h).as_deref(), Ok("Z:100 v:3,1 Z:16283"));
        assert_eq!(set(&mut h, 100, 2, 3000), Ok(false));
        assert_eq!(set(&mut h, 101, 3, 3000), Ok(true));
        assert_eq!(decode_sparse(&h).as_deref(), Ok("Z:100 v:3,2 Z:16282"));
        assert_eq!(set(&mut h, 0, 1, 3000), Ok(true));
        assert_eq!(decode_sparse(&h).as_deref(), Ok("v:1,1 Z:99 v:3,2 Z:16282"));
    }

    #[test]
    fn promotion_keeps_registers() {
        let mut h = new_sparse();
        for i in 0..2000 {
            add(&mut h, format!("e{i}").as_bytes(), 3000).ok();
        }
        let mut sparse_max = vec![0u8; REGISTERS];
        let mut s = new_sparse();
        for i in 0..2000 {
            add(&mut s, format!("e{i}").as_bytes(), usize::MAX).ok();
        }
        assert!(is_sparse(&s));
        assert!(!is_sparse(&h));
        merge_into(&mut sparse_max, &s).ok();
        let dense: Vec<u8> = dense_registers(&h).collect();
        assert_eq!(dense, sparse_max);
        assert_eq!(count(&h), count(&s));
        let c = count(&h).unwrap_or(0);
        assert!((1900..2100).contains(&c), "{c}");
    }

    #[test]
    fn corrupt_sparse_is_detected() {
        let mut h = new_sparse();
        h[HDR + 1] = 0; // XZERO of 16128 registers: too few
        assert_eq!(count(&h), Err(Corrupt));
        assert_eq!(to_dense(&mut h), Err(Corrupt));
        let mut max = vec![0u8; REGISTERS];
        assert_eq!(merge_into(&mut max, &h), Err(Corrupt));
    }
}
