//! The compact encodings Redis embeds inside RDB strings: ziplist (≤ 6.2),
//! listpack (7.0), intset and zipmap (very old files). Decoders return the
//! elements as byte strings (integers in decimal, as Redis would print
//! them); the listpack encoder is what the writer uses for list nodes.
//!
//! Each decoder applies the integrity check Redis 7.0 applies to that
//! encoding when it loads one (`ziplistValidateIntegrity`,
//! `lpValidateIntegrity`, `intsetValidateIntegrity`,
//! `zipmapValidateIntegrity`), so a blob is refused exactly where Redis
//! refuses it. Listpacks and intsets have a shallow form (header only,
//! `sanitize-dump-payload no`) and a deep one; ziplists and zipmaps are
//! always checked deeply, as Redis converts them on load.
//!
//! Every read is bounds-checked: a corrupt blob gives an error, never a
//! panic or an out-of-range read, and nothing is allocated from a length
//! the blob claims beyond the blob's own size.

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
    fn le(&mut self, n: usize) -> R<u64> {
        let s = self.take(n)?;
        Ok(s.iter().rev().fold(0u64, |a, &b| (a << 8) | b as u64))
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

/// Decodes a ziplist (Redis ≤ 6.2 small lists, hashes and sorted sets)
/// with the checks Redis 7.0 always applies to one, since it converts
/// every ziplist it loads: the header's byte count, tail offset and entry
/// count agree with the entries; each entry's encoding is valid, stays
/// inside the blob, and records the previous entry's exact size; the end
/// marker is the last byte.
pub fn decode_ziplist(b: &[u8]) -> Result<Vec<Vec<u8>>, &'static str> {
    const HEADER: usize = 10;
    const BAD: &str = "ziplist";
    let size = b.len();
    if size < HEADER + 1 {
        return Err(BAD);
    }
    let mut c = Cur { b, p: 0, what: BAD };
    let total = c.le(4)? as usize;
    let tail = c.le(4)? as usize;
    let header_count = c.le(2)? as usize;
    let last = size - 1;
    if total != size || b[last] != 0xFF || tail > last {
        return Err(BAD);
    }
    let mut out = Vec::new();
    let mut p = HEADER;
    let mut prev_raw = 0usize;
    let mut prev_start = None;
    while b[p] != 0xFF {
        // The previous entry's length: one byte, or 0xFE and four bytes.
        let prevlen_size = if b[p] < 0xFE { 1 } else { 5 };
        let enc_at = p + prevlen_size;
        if enc_at > last {
            return Err(BAD);
        }
        let mut enc = b[enc_at];
        if enc < 0xC0 {
            enc &= 0xC0;
        }
        let len_size = match enc {
            0x00 | 0xC0 | 0xD0 | 0xE0 | 0xF0..=0xFE => 1,
            0x40 => 2,
            0x80 => 5,
            _ => return Err(BAD),
        };
        if enc_at + len_size > last {
            return Err(BAD);
        }
        let prevlen = if prevlen_size == 1 {
            b[p] as usize
        } else {
            u32::from_le_bytes([b[p + 1], b[p + 2], b[p + 3], b[p + 4]]) as usize
        };
        let e = &b[enc_at..];
        let data_len = match enc {
            0x00 => (e[0] & 0x3F) as usize,
            0x40 => (((e[0] & 0x3F) as usize) << 8) | e[1] as usize,
            0x80 => u32::from_be_bytes([e[1], e[2], e[3], e[4]]) as usize,
            0xFE => 1,
            0xC0 => 2,
            0xF0 => 3,
            0xD0 => 4,
            0xE0 => 8,
            _ => 0, // 4-bit immediate
        };
        let data_at = enc_at + len_size;
        let next = data_at.checked_add(data_len).ok_or(BAD)?;
        if next > last || prevlen > p - HEADER || prevlen != prev_raw {
            return Err(BAD);
        }
        let data = &b[data_at..next];
        let le = |n: usize| {
            data[..n]
                .iter()
                .rev()
                .fold(0u64, |a, &x| (a << 8) | x as u64)
        };
        out.push(match enc {
            0x00 | 0x40 | 0x80 => data.to_vec(),
            0xFE => int_bytes(sext(le(1), 8)),
            0xC0 => int_bytes(sext(le(2), 16)),
            0xF0 => int_bytes(sext(le(3), 24)),
            0xD0 => int_bytes(sext(le(4), 32)),
            0xE0 => int_bytes(le(8) as i64),
            _ => int_bytes((enc & 0x0F) as i64 - 1),
        });
        prev_raw = next - p;
        prev_start = Some(p);
        p = next;
    }
    if p != last
        || prev_start.is_some_and(|s| s != tail)
        || (header_count != 0xFFFF && header_count != out.len())
    {
        return Err(BAD);
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

/// A listpack as a loader sees it: the elements that decode, in order,
/// and what its header says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listpack {
    pub items: Vec<Vec<u8>>,
    /// The element count in the header; 65535 means "count them".
    pub header_count: u16,
    /// Whether every element decoded and the end marker closes the blob.
    /// Only a shallow decode can return a listpack that is not whole.
    pub whole: bool,
}

impl Listpack {
    /// The length Redis's `lpLength` reports: the header's count unless it
    /// is the "unknown" marker.
    pub fn length(&self) -> usize {
        if self.header_count == u16::MAX {
            self.items.len()
        } else {
            self.header_count as usize
        }
    }
}

/// Reads a listpack back-length ending at `end` (exclusive): 7-bit groups
/// read backwards, the high bit set on every byte but the first stored.
fn backlen_at(b: &[u8], end: usize) -> Option<usize> {
    let mut v = 0usize;
    for i in 0..5 {
        let x = *b.get(end.checked_sub(i + 1)?)?;
        v |= ((x & 0x7F) as usize) << (7 * i);
        if x & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

/// One element of a listpack, as stored: an integer or bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LpElem<'a> {
    Int(i64),
    Str(&'a [u8]),
}

impl LpElem<'_> {
    /// The element as Redis prints it (integers in decimal).
    pub fn to_bytes(self) -> Vec<u8> {
        match self {
            LpElem::Int(n) => int_bytes(n),
            LpElem::Str(s) => s.to_vec(),
        }
    }
}

/// One listpack element at `p` (Redis's `lpValidateNext`): its value and
/// where the next one starts, or None when it is invalid or reaches past
/// `last` (the end marker's index).
fn listpack_entry(b: &[u8], p: usize, last: usize) -> Option<(LpElem<'_>, usize)> {
    let enc = b[p];
    // Bytes of the encoding (and length) header, and of the data.
    let (head, data) = if enc & 0x80 == 0 {
        (1, 0)
    } else if enc & 0xC0 == 0x80 {
        (1, (enc & 0x3F) as usize)
    } else if enc & 0xE0 == 0xC0 {
        (1, 1)
    } else if enc & 0xF0 == 0xE0 {
        (2, 0)
    } else {
        match enc {
            0xF0 => (5, 0),
            0xF1 => (1, 2),
            0xF2 => (1, 3),
            0xF3 => (1, 4),
            0xF4 => (1, 8),
            _ => return None,
        }
    };
    if p + head > last {
        return None;
    }
    let h = &b[p..p + head];
    let data = match head {
        2 => (((enc & 0x0F) as usize) << 8) | h[1] as usize,
        5 => u32::from_le_bytes([h[1], h[2], h[3], h[4]]) as usize,
        _ => data,
    };
    let entry_len = head.checked_add(data)?;
    let next = (p + entry_len).checked_add(backlen_size(entry_len))?;
    if next > last || backlen_at(b, next)? != entry_len {
        return None;
    }
    let d = &b[p + head..p + entry_len];
    let le = |n: usize| d[..n].iter().rev().fold(0u64, |a, &x| (a << 8) | x as u64);
    let value = if enc & 0x80 == 0 {
        LpElem::Int((enc & 0x7F) as i64)
    } else if enc & 0xE0 == 0xC0 {
        LpElem::Int(sext((((enc & 0x1F) as u64) << 8) | d[0] as u64, 13))
    } else {
        match enc {
            0xF1 => LpElem::Int(sext(le(2), 16)),
            0xF2 => LpElem::Int(sext(le(3), 24)),
            0xF3 => LpElem::Int(sext(le(4), 32)),
            0xF4 => LpElem::Int(le(8) as i64),
            _ => LpElem::Str(d),
        }
    };
    Some((value, next))
}

/// The header check of every listpack (Redis's shallow
/// `lpValidateIntegrity`): at least a header and an end marker, the byte
/// count equal to the blob's, the end marker last. Returns the header's
/// element count.
fn listpack_header(b: &[u8]) -> Result<u16, &'static str> {
    const BAD: &str = "listpack";
    if b.len() < 7 {
        return Err(BAD);
    }
    let total = u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize;
    if total != b.len() || b[b.len() - 1] != 0xFF {
        return Err(BAD);
    }
    Ok(u16::from_le_bytes([b[4], b[5]]))
}

/// Decodes a listpack (Redis 7.0 small hashes, sorted sets, list nodes)
/// with Redis's `lpValidateIntegrity`. The header is always checked (size
/// at least 7, byte count equal to the blob's, end marker last). `deep`
/// also checks every element and the count, failing on the first bad one;
/// without it the walk stops there and the result is not `whole` — Redis
/// accepts such a blob and only trips over the bad element when it reads
/// it.
pub fn listpack(b: &[u8], deep: bool) -> Result<Listpack, &'static str> {
    const BAD: &str = "listpack";
    let header_count = listpack_header(b)?;
    let last = b.len() - 1;
    let mut items = Vec::new();
    let mut p = 6;
    let mut whole = true;
    while b[p] != 0xFF {
        match listpack_entry(b, p, last) {
            Some((v, next)) => {
                items.push(v.to_bytes());
                p = next;
            }
            None if deep => return Err(BAD),
            None => {
                whole = false;
                break;
            }
        }
    }
    if whole && p != last {
        if deep {
            return Err(BAD);
        }
        whole = false;
    }
    if deep && header_count != u16::MAX && header_count as usize != items.len() {
        return Err(BAD);
    }
    Ok(Listpack {
        items,
        header_count,
        whole,
    })
}

/// Decodes a listpack, every element checked (see [`listpack`]).
pub fn decode_listpack(b: &[u8]) -> Result<Vec<Vec<u8>>, &'static str> {
    listpack(b, true).map(|lp| lp.items)
}

/// Decodes an intset: integers of 2, 4 or 8 bytes each, after Redis's
/// `intsetValidateIntegrity` (a valid width, a size that matches the
/// count, at least one element; `deep` also requires them strictly
/// increasing, which rules out duplicates).
pub fn intset(b: &[u8], deep: bool) -> Result<Vec<i64>, &'static str> {
    const BAD: &str = "intset";
    let mut c = Cur { b, p: 0, what: BAD };
    let width = c.le(4)? as usize;
    let n = c.le(4)? as usize;
    if !matches!(width, 2 | 4 | 8) || n.checked_mul(width) != Some(b.len() - 8) || n == 0 {
        return Err(BAD);
    }
    let v = (0..n)
        .map(|_| c.le(width).map(|x| sext(x, (width * 8) as u32)))
        .collect::<R<Vec<i64>>>()?;
    if deep && v.windows(2).any(|w| w[1] <= w[0]) {
        return Err(BAD);
    }
    Ok(v)
}

/// Decodes an intset with the deep checks, as strings.
pub fn decode_intset(b: &[u8]) -> Result<Vec<Vec<u8>>, &'static str> {
    intset(b, true).map(|v| v.into_iter().map(int_bytes).collect())
}

/// Decodes a zipmap (hashes written by Redis ≤ 2.4) into field/value
/// pairs flattened, with Redis's `zipmapValidateIntegrity` (always deep:
/// lengths in range and in their shortest form, at least one pair, the
/// header's count right unless it says "count them").
pub fn decode_zipmap(b: &[u8]) -> Result<Vec<Vec<u8>>, &'static str> {
    const BAD: &str = "zipmap";
    const BIGLEN: u8 = 254;
    let size = b.len();
    if size < 2 || b[size - 1] != 0xFF {
        return Err(BAD);
    }
    let last = size - 1;
    // A length at `p`: (bytes of the length, the length), both in range.
    let len_at = |p: usize| -> R<(usize, usize)> {
        if b[p] < BIGLEN {
            return if p < last {
                Ok((1, b[p] as usize))
            } else {
                Err(BAD)
            };
        }
        if p + 5 > last {
            return Err(BAD);
        }
        let l = u32::from_le_bytes([b[p + 1], b[p + 2], b[p + 3], b[p + 4]]) as usize;
        // A length below 254 must use the one-byte form.
        if l < BIGLEN as usize {
            return Err(BAD);
        }
        Ok((5, l))
    };
    let mut out = Vec::new();
    let mut p = 1;
    while b[p] != 0xFF {
        let (s, l) = len_at(p)?;
        let field_at = p + s;
        p = field_at.checked_add(l).filter(|&e| e <= last).ok_or(BAD)?;
        let field = &b[field_at..p];
        let (s, l) = len_at(p)?;
        let free = b[p + s] as usize;
        let value_at = p + s + 1;
        let value_end = value_at.checked_add(l).filter(|&e| e <= last).ok_or(BAD)?;
        p = value_end
            .checked_add(free)
            .filter(|&e| e <= last)
            .ok_or(BAD)?;
        out.push(field.to_vec());
        out.push(b[value_at..value_end].to_vec());
    }
    let count = out.len() / 2;
    if count == 0 || (b[0] != BIGLEN && b[0] as usize != count) {
        return Err(BAD);
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

/// Walks a listpack element by element, checking every length and
/// back-length against the buffer (Redis's deep integrity check), for
/// readers that need integers as integers (stream nodes).
pub struct ListpackIter<'a> {
    b: &'a [u8],
    p: usize,
    done: bool,
}

/// Starts a walk over the listpack `b` after checking its header.
pub fn listpack_iter(b: &[u8]) -> Result<ListpackIter<'_>, &'static str> {
    listpack_header(b)?;
    Ok(ListpackIter {
        b,
        p: 6,
        done: false,
    })
}

impl<'a> ListpackIter<'a> {
    fn element(&mut self) -> Result<Option<LpElem<'a>>, &'static str> {
        let last = self.b.len() - 1;
        if self.b[self.p] == 0xFF {
            // The end marker must close the blob.
            return if self.p == last {
                Ok(None)
            } else {
                Err("listpack")
            };
        }
        let (e, next) = listpack_entry(self.b, self.p, last).ok_or("listpack")?;
        self.p = next;
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
