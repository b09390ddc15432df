//! LZF compression (Marc Lehmann's liblzf, the `lzf_c.c` Redis embeds),
//! for the RDB writer's strings and the lists' compressed nodes.
//!
//! Why not the `lzf` crate's `compress`: it allocates and zeroes its
//! 64 Ki-slot hash table (512 KB) on every call. For the short strings a
//! snapshot is made of that memset is the whole cost: saving 2,000,000
//! values of 100 bytes spent ~90% of its time in it (1 TB of memset, ~25 s;
//! see bench/README.md). liblzf itself never clears the table (Redis builds
//! it with `INIT_HTAB 0`): a slot may hold anything, because a candidate
//! match is only used after its bytes were compared.
//!
//! Here the table lives on the thread and is reused, and its slots are
//! tagged with the call that wrote them (positions are stored as `base +
//! position + 1`, `base` moving past every input), so a slot from an
//! earlier call reads as empty: the output is the same as with a fresh
//! zeroed table, whatever was compressed before. Decompression stays with
//! the `lzf` crate (it allocates only its output).

use std::cell::RefCell;

const HLOG: u32 = 16;
const HSIZE: usize = 1 << HLOG;
const MAX_OFF: usize = 1 << 13;
const MAX_REF: usize = (1 << 8) + (1 << 3);
const MAX_LIT: usize = 1 << 5;

/// The largest input compressed (positions are tagged in a `u32`).
const MAX_INPUT: usize = (u32::MAX / 4) as usize;

/// A compressor with its hash table.
pub struct Compressor {
    htab: Vec<u32>,
    /// Slots holding a value above `base` were written by the current call.
    base: u32,
}

impl Default for Compressor {
    fn default() -> Self {
        Compressor::new()
    }
}

#[inline]
fn first(p: &[u8], i: usize) -> u32 {
    (u32::from(p[i]) << 8) | u32::from(p[i + 1])
}

#[inline]
fn next(v: u32, p: &[u8], i: usize) -> u32 {
    (v << 8) | u32::from(p[i + 2])
}

#[inline]
fn idx(h: u32) -> usize {
    let h = u64::from(h);
    ((h.wrapping_shr(8).wrapping_sub(h.wrapping_mul(5))) & (HSIZE as u64 - 1)) as usize
}

impl Compressor {
    pub fn new() -> Compressor {
        Compressor {
            htab: vec![0; HSIZE],
            base: 0,
        }
    }

    /// Compresses `data` into `out` (cleared first). Returns false, with
    /// `out` unspecified, when the result would not be shorter than
    /// `data` (or `data` is shorter than 3 bytes), as liblzf returns 0.
    pub fn compress(&mut self, data: &[u8], out: &mut Vec<u8>) -> bool {
        let in_len = data.len();
        out.clear();
        if !(3..=MAX_INPUT).contains(&in_len) {
            return false;
        }
        if u64::from(self.base) + in_len as u64 + 2 >= u64::from(u32::MAX) {
            self.htab.fill(0);
            self.base = 0;
        }
        let base = self.base;
        // Every slot this call writes is above `base`, and below the next
        // call's base.
        self.base += in_len as u32 + 1;
        let tag = |i: usize| base + i as u32 + 1;
        let htab = &mut self.htab[..];

        let out_end = in_len;
        // Slack so that no index below can go past the buffer; the bounds
        // on `op` keep the result within `out_end`.
        out.resize(in_len + 8, 0);
        let mut op: usize = 1; // start run
        let mut lit: usize = 0;
        let mut ip: usize = 0;
        let mut hval = first(data, ip);

        while ip + 2 < in_len {
            hval = next(hval, data, ip);
            let slot = idx(hval);
            let r = htab[slot];
            htab[slot] = tag(ip);
            let candidate = if r > base {
                let rf = (r - base - 1) as usize;
                let off = ip - rf - 1;
                (off < MAX_OFF
                    && ip + 4 < in_len
                    && data[rf] == data[ip]
                    && data[rf + 1] == data[ip + 1]
                    && data[rf + 2] == data[ip + 2])
                    .then_some((rf, off))
            } else {
                None
            };
            if let Some((rf, off)) = candidate {
                let mut len = 2;
                let maxlen = (in_len - ip - len).min(MAX_REF);
                // Stop the literal run (undo it if it is empty).
                out[op - lit - 1] = (lit as u8).wrapping_sub(1);
                op -= usize::from(lit == 0);
                if op + 3 + 1 >= out_end {
                    return false;
                }
                loop {
                    len += 1;
                    if !(len < maxlen && data[rf + len] == data[ip + len]) {
                        break;
                    }
                }
                len -= 2; // now the match's length - 1
                ip += 1;
                if len < 7 {
                    out[op] = ((off >> 8) + (len << 5)) as u8;
                    op += 1;
                } else {
                    out[op] = ((off >> 8) + (7 << 5)) as u8;
                    out[op + 1] = (len - 7) as u8;
                    op += 2;
                }
                out[op] = off as u8;
                op += 2; // start run
                lit = 0;
                ip += len + 1;
                if ip + 2 >= in_len {
                    break;
                }
                // Hash the last two positions of the match (liblzf's
                // VERY_FAST mode, which Redis builds).
                ip -= 2;
                hval = first(data, ip);
                hval = next(hval, data, ip);
                htab[idx(hval)] = tag(ip);
                ip += 1;
                hval = next(hval, data, ip);
                htab[idx(hval)] = tag(ip);
                ip += 1;
            } else {
                if op >= out_end {
                    return false;
                }
                lit += 1;
                out[op] = data[ip];
                op += 1;
                ip += 1;
                if lit == MAX_LIT {
                    out[op - lit - 1] = (lit as u8).wrapping_sub(1);
                    lit = 0;
                    op += 1; // start run
                }
            }
        }
        // At most 3 bytes are left.
        if op + 3 > out_end {
            return false;
        }
        while ip < in_len {
            lit += 1;
            out[op] = data[ip];
            op += 1;
            ip += 1;
            if lit == MAX_LIT {
                out[op - lit - 1] = (lit as u8).wrapping_sub(1);
                lit = 0;
                op += 1;
            }
        }
        out[op - lit - 1] = (lit as u8).wrapping_sub(1);
        op -= usize::from(lit == 0);
        if op >= out_end {
            return false;
        }
        out.truncate(op);
        true
    }
}

thread_local! {
    static COMPRESSOR: RefCell<Option<Compressor>> = const { RefCell::new(None) };
}

/// Compresses `data` into `out` with this thread's compressor (its table
/// is allocated on the first call). See [`Compressor::compress`].
pub fn compress(data: &[u8], out: &mut Vec<u8>) -> bool {
    COMPRESSOR.with(|c| match c.try_borrow_mut() {
        Ok(mut c) => c.get_or_insert_with(Compressor::new).compress(data, out),
        // Re-entered (cannot happen: compress calls nothing): a fresh one.
        Err(_) => Compressor::new().compress(data, out),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn roundtrip(c: &mut Compressor, data: &[u8]) {
        let mut out = Vec::new();
        if c.compress(data, &mut out) {
            assert!(out.len() < data.len());
            let back = lzf::decompress(&out, data.len()).unwrap_or_else(|e| panic!("{e:?}"));
            assert_eq!(back, data);
        }
    }

    #[test]
    fn compresses_repetitive_text_and_round_trips() {
        let mut c = Compressor::new();
        let lorem = "Lorem ipsum dolor sit amet, consetetur sadipscing elitr, sed diam \
                     nonumy eirmod tempor invidunt ut labore et dolore magna aliquyam erat, \
                     sed diam voluptua. Lorem ipsum dolor sit amet, consetetur sadipscing \
                     elitr, sed diam nonumy eirmod tempor invidunt ut labore.";
        let mut out = Vec::new();
        assert!(c.compress(lorem.as_bytes(), &mut out));
        assert!(out.len() < lorem.len() * 3 / 4);
        roundtrip(&mut c, lorem.as_bytes());
        roundtrip(&mut c, &[b'x'; 100]);
        roundtrip(&mut c, &[0u8; 70_000]);
        assert!(!c.compress(b"ab", &mut out));
        assert!(!c.compress(b"abcdefgh", &mut out));
    }

    /// Earlier inputs do not change the output: a reused table behaves as
    /// a fresh one (slots of earlier calls read as empty).
    #[test]
    fn output_does_not_depend_on_earlier_inputs() {
        let a = b"value:0000000000000000000000000000000001xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx".repeat(3);
        let mut fresh = Vec::new();
        assert!(Compressor::new().compress(&a, &mut fresh));
        let mut c = Compressor::new();
        let mut out = Vec::new();
        for i in 0..1000u32 {
            c.compress(
                format!("{i}value:{i}{i}{i}{i}").repeat(5).as_bytes(),
                &mut out,
            );
        }
        assert!(c.compress(&a, &mut out));
        assert_eq!(out, fresh);
    }

    #[test]
    fn the_tags_wrap_around() {
        let mut c = Compressor::new();
        c.base = u32::MAX - 100;
        roundtrip(&mut c, &[b'a'; 1000]);
        assert!(c.base < 2000);
        roundtrip(&mut c, &[b'b'; 1000]);
    }

    proptest! {
        #[test]
        fn round_trips(data in proptest::collection::vec(0u8..4, 0..3000)) {
            let mut c = Compressor::new();
            roundtrip(&mut c, &data);
            roundtrip(&mut c, &data);
        }

        #[test]
        fn never_panics_on_any_bytes(data in proptest::collection::vec(any::<u8>(), 0..600)) {
            let mut c = Compressor::new();
            roundtrip(&mut c, &data);
        }
    }
}
