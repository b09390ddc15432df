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
    let mut b = vec![0u8; 6];
    let mut n: usize = 0;
    for it in items {
        let start = b.len();
        let l = it.len();
        if l < 64 {
            b.push(0x80 | l as u8);
        } else if l < 4096 {
            b.push(0xE0 | (l >> 8) as u8);
            b.push((l & 0xFF) as u8);
        } else {
            b.push(0xF0);
            b.extend_from_slice(&(l as u32).to_le_bytes());
        }
        b.extend_from_slice(it);
        let entry_len = b.len() - start;
        // Back-length: big-endian 7-bit groups, the high bit marking that
        // more bytes follow when read backwards.
        let size = backlen_size(entry_len);
        let mut tmp = [0u8; 5];
        let mut v = entry_len;
        for i in (0..size).rev() {
            tmp[i] = (v & 0x7F) as u8;
            v >>= 7;
        }
        for (i, t) in tmp.iter_mut().enumerate().take(size) {
            if i != 0 {
                *t |= 0x80;
            }
        }
        // Most significant group first, without the flag; walking back from
        // the end, every byte but that one carries the continuation bit.
        b.extend_from_slice(&tmp[..size]);
        n += 1;
    }
    b.push(0xFF);
    let total = b.len() as u32;
    b[0..4].copy_from_slice(&total.to_le_bytes());
    let count: u16 = if n < 65535 { n as u16 } else { 65535 };
    b[4..6].copy_from_slice(&count.to_le_bytes());
    b
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
