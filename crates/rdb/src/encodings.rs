//! The compact encodings Redis embeds inside RDB strings: ziplist (≤ 6.2),
//! listpack (7.0), intset and zipmap (very old files). Decoders return the
//! elements as byte strings (integers in decimal, as Redis would print
//! them); the listpack encoder is what the writer uses for list nodes.
//!
//! Every read is bounds-checked: a corrupt blob gives an error, never a
//! panic or an out-of-range read.

/// Little helper over a byte slice with bounds-checked reads.
struct Cur<'a> {
    b: &'a [u8],
    p: usize,
    what: &'static str,
}

type R<T> = Result<T, &'static str>;

impl<'a> Cur<'a> {
    fn take(&mut self, n: usize) -> R<&'a [u8]> {
        let end = self.p.checked_add(n).ok_or(self.what)?;
        let s = self.b.get(self.p..end).ok_or(self.what)?;
        self.p = end;
        Ok(s)
    }
    fn u8(&mut self) -> R<u8> {
        Ok(self.take(1)?[0])
    }
    fn le(&mut self, n: usize) -> R<u64> {
        let s = self.take(n)?;
        Ok(s.iter().rev().fold(0u64, |a, &b| (a << 8) | b as u64))
    }
    fn be(&mut self, n: usize) -> R<u64> {
        let s = self.take(n)?;
        Ok(s.iter().fold(0u64, |a, &b| (a << 8) | b as u64))
    }
}

/// Sign-extends the low `bits` bits of `v`.
fn sext(v: u64, bits: u32) -> i64 {
    let shift = 64 - bits;
    ((v << shift) as i64) >> shift
}

fn int_bytes(n: i64) -> Vec<u8> {
    n.to_string().into_bytes()
}

/// Decodes a ziplist (Redis ≤ 6.2 small lists, hashes and sorted sets).
pub fn decode_ziplist(b: &[u8]) -> Result<Vec<Vec<u8>>, &'static str> {
    let mut c = Cur {
        b,
        p: 0,
        what: "ziplist",
    };
    let total = c.le(4)? as usize;
    if total != b.len() {
        return Err("ziplist");
    }
    let _tail = c.le(4)?;
    let _count = c.le(2)?;
    let mut out = Vec::new();
    loop {
        let first = *b.get(c.p).ok_or("ziplist")?;
        if first == 0xFF {
            break;
        }
        // prevlen: 1 byte, or 0xFE followed by 4 bytes.
        if c.u8()? == 0xFE {
            c.take(4)?;
        }
        let enc = c.u8()?;
        let item = match enc >> 6 {
            0 => c.take((enc & 0x3F) as usize)?.to_vec(),
            1 => {
                let lo = c.u8()? as usize;
                c.take((((enc & 0x3F) as usize) << 8) | lo)?.to_vec()
            }
            2 => {
                let n = c.be(4)? as usize;
                c.take(n)?.to_vec()
            }
            _ => match enc {
                0xC0 => int_bytes(sext(c.le(2)?, 16)),
                0xD0 => int_bytes(sext(c.le(4)?, 32)),
                0xE0 => int_bytes(c.le(8)? as i64),
                0xF0 => int_bytes(sext(c.le(3)?, 24)),
                0xFE => int_bytes(sext(c.le(1)?, 8)),
                0xF1..=0xFD => int_bytes((enc & 0x0F) as i64 - 1),
                _ => return Err("ziplist"),
            },
        };
        out.push(item);
    }
    Ok(out)
}

/// Size in bytes of a listpack entry's back-length field for an entry of
/// `len` bytes (encoding + data).
fn backlen_size(len: usize) -> usize {
    match len {
        // Same boundaries as Redis's lpEncodeBacklen (strict upper bounds).
        0..=127 => 1,
        128..=16382 => 2,
        16383..=2097150 => 3,
        2097151..=268435454 => 4,
        _ => 5,
    }
}

/// Decodes a listpack (Redis 7.0 small hashes, sorted sets, list nodes).
pub fn decode_listpack(b: &[u8]) -> Result<Vec<Vec<u8>>, &'static str> {
    let mut c = Cur {
        b,
        p: 0,
        what: "listpack",
    };
    let total = c.le(4)? as usize;
    if total != b.len() {
        return Err("listpack");
    }
    let _count = c.le(2)?;
    let mut out = Vec::new();
    loop {
        let start = c.p;
        let enc = c.u8()?;
        if enc == 0xFF {
            break;
        }
        let item = if enc & 0x80 == 0 {
            int_bytes((enc & 0x7F) as i64)
        } else if enc & 0xC0 == 0x80 {
            c.take((enc & 0x3F) as usize)?.to_vec()
        } else if enc & 0xE0 == 0xC0 {
            let lo = c.u8()? as u64;
            int_bytes(sext((((enc & 0x1F) as u64) << 8) | lo, 13))
        } else if enc & 0xF0 == 0xE0 {
            let lo = c.u8()? as usize;
            c.take((((enc & 0x0F) as usize) << 8) | lo)?.to_vec()
        } else {
            match enc {
                0xF0 => {
                    let n = c.le(4)? as usize;
                    c.take(n)?.to_vec()
                }
                0xF1 => int_bytes(sext(c.le(2)?, 16)),
                0xF2 => int_bytes(sext(c.le(3)?, 24)),
                0xF3 => int_bytes(sext(c.le(4)?, 32)),
                0xF4 => int_bytes(c.le(8)? as i64),
                _ => return Err("listpack"),
            }
        };
        let entry_len = c.p - start;
        c.take(backlen_size(entry_len))?;
        out.push(item);
    }
    Ok(out)
}

/// Decodes an intset: sorted integers of 2, 4 or 8 bytes each.
pub fn decode_intset(b: &[u8]) -> Result<Vec<Vec<u8>>, &'static str> {
    let mut c = Cur {
        b,
        p: 0,
        what: "intset",
    };
    let width = c.le(4)? as usize;
    let n = c.le(4)? as usize;
    if !matches!(width, 2 | 4 | 8) || n.checked_mul(width) != Some(b.len().saturating_sub(8)) {
        return Err("intset");
    }
    (0..n)
        .map(|_| Ok(int_bytes(sext(c.le(width)?, (width * 8) as u32))))
        .collect()
}

/// Decodes a zipmap (hashes written by Redis ≤ 2.4) into field/value
/// pairs flattened.
pub fn decode_zipmap(b: &[u8]) -> Result<Vec<Vec<u8>>, &'static str> {
    let mut c = Cur {
        b,
        p: 0,
        what: "zipmap",
    };
    c.u8()?;
    let mut out = Vec::new();
    let len = |c: &mut Cur| -> R<Option<usize>> {
        match c.u8()? {
            0xFF => Ok(None),
            254 => Ok(Some(c.le(4)? as usize)),
            n => Ok(Some(n as usize)),
        }
    };
    while let Some(flen) = len(&mut c)? {
        out.push(c.take(flen)?.to_vec());
        let vlen = len(&mut c)?.ok_or("zipmap")?;
        let free = c.u8()? as usize;
        out.push(c.take(vlen)?.to_vec());
        c.take(free)?;
    }
    Ok(out)
}

/// Encodes strings as a listpack (string encodings only, which every
/// reader accepts).
pub fn encode_listpack<'a>(items: impl IntoIterator<Item = &'a [u8]>) -> Vec<u8> {
    let mut lp = ListpackBuilder::new();
    for it in items {
        lp.push_raw_str(it);
    }
    lp.finish()
}

/// One element of a listpack, as stored: an integer or bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LpElem<'a> {
    Int(i64),
    Str(&'a [u8]),
}

/// Walks a listpack element by element, checking every length and
/// back-length against the buffer (Redis's deep integrity check), for
/// readers that need integers as integers (stream nodes).
pub struct ListpackIter<'a> {
    c: Cur<'a>,
    done: bool,
}

/// Starts a walk over the listpack `b` after checking its header.
pub fn listpack_iter(b: &[u8]) -> Result<ListpackIter<'_>, &'static str> {
    let mut c = Cur {
        b,
        p: 0,
        what: "listpack",
    };
    let total = c.le(4)? as usize;
    if total != b.len() || b.last() != Some(&0xFF) {
        return Err("listpack");
    }
    c.le(2)?;
    Ok(ListpackIter { c, done: false })
}

impl<'a> ListpackIter<'a> {
    fn element(&mut self) -> Result<Option<LpElem<'a>>, &'static str> {
        let c = &mut self.c;
        let start = c.p;
        let enc = c.u8()?;
        if enc == 0xFF {
            if c.p != c.b.len() {
                return Err("listpack");
            }
            return Ok(None);
        }
        let e = if enc & 0x80 == 0 {
            LpElem::Int(i64::from(enc & 0x7F))
        } else if enc & 0xC0 == 0x80 {
            LpElem::Str(c.take((enc & 0x3F) as usize)?)
        } else if enc & 0xE0 == 0xC0 {
            let lo = c.u8()? as u64;
            LpElem::Int(sext((((enc & 0x1F) as u64) << 8) | lo, 13))
        } else if enc & 0xF0 == 0xE0 {
            let lo = c.u8()? as usize;
            LpElem::Str(c.take((((enc & 0x0F) as usize) << 8) | lo)?)
        } else {
            match enc {
                0xF0 => {
                    let n = c.le(4)? as usize;
                    LpElem::Str(c.take(n)?)
                }
                0xF1 => LpElem::Int(sext(c.le(2)?, 16)),
                0xF2 => LpElem::Int(sext(c.le(3)?, 24)),
                0xF3 => LpElem::Int(sext(c.le(4)?, 32)),
                0xF4 => LpElem::Int(c.le(8)? as i64),
                _ => return Err("listpack"),
            }
        };
        let entry_len = c.p - start;
        let back = c.take(backlen_size(entry_len))?;
        let stored = back
            .iter()
            .fold(0usize, |v, &b| (v << 7) | (b & 0x7F) as usize);
        if stored != entry_len {
            return Err("listpack");
        }
        Ok(Some(e))
    }
}

impl<'a> Iterator for ListpackIter<'a> {
    type Item = Result<LpElem<'a>, &'static str>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.element() {
            Ok(Some(e)) => Some(Ok(e)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

/// Redis's `lpStringToInt64`: the canonical decimal text of an i64.
pub fn lp_string_to_i64(s: &[u8]) -> Option<i64> {
    if s.is_empty() || s.len() >= 21 {
        return None;
    }
    let t = std::str::from_utf8(s).ok()?;
    let n: i64 = t.parse().ok()?;
    // Canonical only: no sign but '-', no leading zeros, no "-0".
    let ok = if n == 0 {
        s == b"0"
    } else {
        let digits = t.strip_prefix('-').unwrap_or(t);
        !digits.starts_with('0') && !t.starts_with('+')
    };
    ok.then_some(n)
}

/// Builds a listpack as Redis's `lpAppend`/`lpAppendInteger` do: strings
/// that are canonical integers are stored as integers, in the smallest
/// encoding, so the result has the size Redis's would.
#[derive(Debug, Default)]
pub struct ListpackBuilder {
    b: Vec<u8>,
    n: usize,
}

impl ListpackBuilder {
    pub fn new() -> ListpackBuilder {
        ListpackBuilder {
            b: vec![0u8; 6],
            n: 0,
        }
    }

    fn back_len(&mut self, start: usize) {
        let entry_len = self.b.len() - start;
        let size = backlen_size(entry_len);
        let mut tmp = [0u8; 5];
        let mut v = entry_len;
        for i in (0..size).rev() {
            tmp[i] = (v & 0x7F) as u8;
            v >>= 7;
        }
        for t in tmp.iter_mut().take(size).skip(1) {
            *t |= 0x80;
        }
        self.b.extend_from_slice(&tmp[..size]);
        self.n += 1;
    }

    pub fn push_int(&mut self, v: i64) {
        let start = self.b.len();
        match v {
            0..=127 => self.b.push(v as u8),
            -4096..=4095 => {
                let u = (v as u64) & 0x1FFF;
                self.b.push(0xC0 | (u >> 8) as u8);
                self.b.push((u & 0xFF) as u8);
            }
            -32768..=32767 => {
                self.b.push(0xF1);
                self.b.extend_from_slice(&(v as i16).to_le_bytes());
            }
            -8_388_608..=8_388_607 => {
                self.b.push(0xF2);
                self.b.extend_from_slice(&(v as i32).to_le_bytes()[..3]);
            }
            -2_147_483_648..=2_147_483_647 => {
                self.b.push(0xF3);
                self.b.extend_from_slice(&(v as i32).to_le_bytes());
            }
            _ => {
                self.b.push(0xF4);
                self.b.extend_from_slice(&v.to_le_bytes());
            }
        }
        self.back_len(start);
    }

    pub fn push_str(&mut self, s: &[u8]) {
        match lp_string_to_i64(s) {
            Some(v) => self.push_int(v),
            None => self.push_raw_str(s),
        }
    }

    /// Appends `s` with a string encoding whatever it holds.
    pub fn push_raw_str(&mut self, s: &[u8]) {
        let start = self.b.len();
        let l = s.len();
        if l < 64 {
            self.b.push(0x80 | l as u8);
        } else if l < 4096 {
            self.b.push(0xE0 | (l >> 8) as u8);
            self.b.push((l & 0xFF) as u8);
        } else {
            self.b.push(0xF0);
            self.b.extend_from_slice(&(l as u32).to_le_bytes());
        }
        self.b.extend_from_slice(s);
        self.back_len(start);
    }

    /// The finished listpack (header filled in, end byte appended).
    pub fn finish(mut self) -> Vec<u8> {
        self.b.push(0xFF);
        let total = self.b.len() as u32;
        self.b[0..4].copy_from_slice(&total.to_le_bytes());
        let count: u16 = if self.n < 65535 { self.n as u16 } else { 65535 };
        self.b[4..6].copy_from_slice(&count.to_le_bytes());
        self.b
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listpack_round_trips_strings_of_every_length_class() {
        let items: Vec<Vec<u8>> = vec![
            b"".to_vec(),
            b"a".to_vec(),
            vec![b'x'; 63],
            vec![b'y'; 64],
            vec![b'z'; 4095],
            vec![b'w'; 5000],
        ];
        let lp = encode_listpack(items.iter().map(|v| v.as_slice()));
        assert_eq!(decode_listpack(&lp).unwrap_or_default(), items);
    }

    #[test]
    fn corrupt_blobs_are_errors_not_panics() {
        for blob in [
            &b""[..],
            b"\x01\x00\x00\x00",
            b"\x0b\x00\x00\x00\x01\x00\x85ab\xff",
        ] {
            assert!(decode_listpack(blob).is_err());
            assert!(decode_ziplist(blob).is_err());
            let _ = decode_intset(blob);
            let _ = decode_zipmap(blob);
        }
    }

    #[test]
    fn built_listpacks_walk_back_with_integers_as_integers() {
        let mut b = ListpackBuilder::new();
        let ints = [
            0i64,
            127,
            128,
            -1,
            -4096,
            4095,
            40000,
            -40000,
            1 << 30,
            i64::MIN,
        ];
        for &v in &ints {
            b.push_int(v);
        }
        b.push_str(b"17");
        b.push_str(b"017");
        b.push_str(&[b'q'; 5000]);
        let lp = b.finish();
        let got: Vec<LpElem> = listpack_iter(&lp)
            .and_then(|it| it.collect::<Result<Vec<_>, _>>())
            .unwrap_or_default();
        let mut want: Vec<LpElem> = ints.iter().map(|&v| LpElem::Int(v)).collect();
        want.push(LpElem::Int(17));
        want.push(LpElem::Str(b"017"));
        want.push(LpElem::Str(&[b'q'; 5000]));
        assert_eq!(got, want);
        // The string decoder agrees.
        assert_eq!(decode_listpack(&lp).map(|v| v.len()), Ok(ints.len() + 3));
        // A flipped back-length is caught.
        let mut bad = lp.clone();
        bad[7] ^= 1;
        assert!(listpack_iter(&bad)
            .map(|it| it.collect::<Result<Vec<_>, _>>().is_err())
            .unwrap_or(true));
    }

    #[test]
    fn intset_decodes_signed_widths() {
        let mut b = vec![2, 0, 0, 0, 2, 0, 0, 0];
        b.extend_from_slice(&(-5i16).to_le_bytes());
        b.extend_from_slice(&(300i16).to_le_bytes());
        assert_eq!(
            decode_intset(&b).unwrap_or_default(),
            vec![b"-5".to_vec(), b"300".to_vec()]
        );
    }
}
