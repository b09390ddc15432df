//! A streaming RDB version 10 writer.
//!
//! Encodings are chosen for simplicity and universal loadability: strings
//! as integers when they are short canonical integers (as Redis does),
//! otherwise raw or LZF-compressed; sets, hashes and sorted sets in their
//! plain forms (types 2, 4 and 5), which every Redis version converts to
//! its own compact form on load; lists as quicklist-2 with listpack nodes.

use crate::encodings::encode_listpack;
use crate::{RdbStream, RdbValue, CRC64};
use std::io::{self, Write};

/// Largest listpack node written for lists, in bytes (Redis's default
/// `list-max-listpack-size -2` is 8 KB per node).
const LIST_NODE_BYTES: usize = 8 * 1024;

pub struct Writer<W: Write> {
    w: W,
    digest: crc::Digest<'static, u64, crate::Crc64Impl>,
    compress: bool,
    checksum: bool,
    written: u64,
    /// Writing a DUMP payload: records carry their type byte but no key
    /// and no expiry (see [`Writer::for_payload`]).
    payload: bool,
    /// Scratch space for LZF output, reused from string to string.
    lzf_out: Vec<u8>,
}

impl<W: Write> Writer<W> {
    /// Starts a file: writes the `REDIS0010` header.
    pub fn new(w: W, compress: bool, checksum: bool) -> io::Result<Writer<W>> {
        let mut wr = Writer {
            w,
            digest: CRC64.digest(),
            compress,
            checksum,
            written: 0,
            payload: false,
            lzf_out: Vec::new(),
        };
        wr.raw(format!("REDIS{:04}", crate::RDB_VERSION).as_bytes())?;
        Ok(wr)
    }

    /// Starts a DUMP payload (no header): the `put_*` methods then write
    /// only the type byte and the value, ignoring key and expiry, and
    /// [`Writer::finish_payload`] adds Redis's footer.
    pub fn for_payload(w: W, compress: bool) -> Writer<W> {
        Writer {
            w,
            digest: CRC64.digest(),
            compress,
            checksum: true,
            written: 0,
            payload: true,
            lzf_out: Vec::new(),
        }
    }

    /// Starts a run of key/value records with no header and no footer, to
    /// be spliced into a file another `Writer` produces (see
    /// [`Writer::put_raw_records`]).
    pub fn for_records(w: W, compress: bool) -> Writer<W> {
        Writer {
            w,
            digest: CRC64.digest(),
            compress,
            checksum: false,
            written: 0,
            payload: false,
            lzf_out: Vec::new(),
        }
    }

    /// The inner writer, with nothing appended (for [`Writer::for_records`]).
    pub fn into_inner(self) -> W {
        self.w
    }

    /// Appends records produced by a [`Writer::for_records`] writer; they
    /// count in this file's checksum.
    pub fn put_raw_records(&mut self, records: &[u8]) -> io::Result<()> {
        self.raw(records)
    }

    /// Ends a DUMP payload with its footer: the RDB version as two
    /// little-endian bytes, then the CRC64 of everything before the CRC.
    pub fn finish_payload(mut self) -> io::Result<W> {
        self.raw(&(crate::RDB_VERSION as u16).to_le_bytes())?;
        let crc = self.digest.clone().finalize();
        self.w.write_all(&crc.to_le_bytes())?;
        self.written += 8;
        self.w.flush()?;
        Ok(self.w)
    }

    /// Writes any [`RdbValue`] (used by DUMP of decoded values and tests).
    pub fn put_value(
        &mut self,
        key: &[u8],
        value: &RdbValue,
        expire_ms: Option<i64>,
    ) -> io::Result<()> {
        match value {
            RdbValue::String(s) => self.put_string(key, s, expire_ms),
            RdbValue::List(items) => {
                self.put_list(key, items.iter().map(|v| v.as_slice()), expire_ms)
            }
            RdbValue::Set(m) => {
                self.put_set(key, m.len(), m.iter().map(|v| v.as_slice()), expire_ms)
            }
            RdbValue::Hash(p) => self.put_hash(
                key,
                p.len(),
                p.iter().map(|(f, v)| (f.as_slice(), v.as_slice())),
                expire_ms,
            ),
            RdbValue::ZSet(m) => self.put_zset(
                key,
                m.len(),
                m.iter().map(|(k, s)| (k.as_slice(), *s)),
                expire_ms,
            ),
            RdbValue::Stream(st) => self.put_stream(
                key,
                expire_ms,
                st.nodes.len(),
                st.nodes.iter().map(|(k, lp)| (*k, lp.clone())),
                st,
            ),
        }
    }

    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    fn raw(&mut self, b: &[u8]) -> io::Result<()> {
        self.w.write_all(b)?;
        if self.checksum {
            self.digest.update(b);
        }
        self.written += b.len() as u64;
        Ok(())
    }

    fn len(&mut self, n: u64) -> io::Result<()> {
        if n < 64 {
            self.raw(&[n as u8])
        } else if n < 16384 {
            self.raw(&[0x40 | (n >> 8) as u8, (n & 0xFF) as u8])
        } else if n <= u32::MAX as u64 {
            self.raw(&[0x80])?;
            self.raw(&(n as u32).to_be_bytes())
        } else {
            self.raw(&[0x81])?;
            self.raw(&n.to_be_bytes())
        }
    }

    /// Writes a string with the most compact encoding available.
    pub fn string(&mut self, s: &[u8]) -> io::Result<()> {
        if s.len() <= 11 {
            if let Some(n) = canonical_int(s) {
                if let Ok(v) = i8::try_from(n) {
                    return self.raw(&[0xC0, v as u8]);
                }
                if let Ok(v) = i16::try_from(n) {
                    self.raw(&[0xC1])?;
                    return self.raw(&v.to_le_bytes());
                }
                if let Ok(v) = i32::try_from(n) {
                    self.raw(&[0xC2])?;
                    return self.raw(&v.to_le_bytes());
                }
            }
        }
        if self.compress && s.len() > 20 {
            let mut c = std::mem::take(&mut self.lzf_out);
            // Worth it only when it saves more than the two lengths.
            let r = if lzf_compress::compress(s, &mut c) && c.len() + 4 < s.len() {
                self.raw(&[0xC3])
                    .and_then(|()| self.len(c.len() as u64))
                    .and_then(|()| self.len(s.len() as u64))
                    .and_then(|()| self.raw(&c))
                    .map(Some)
            } else {
                Ok(None)
            };
            self.lzf_out = c;
            if let Some(done) = r.transpose() {
                return done;
            }
        }
        self.len(s.len() as u64)?;
        self.raw(s)
    }

    pub fn aux(&mut self, key: &[u8], value: &[u8]) -> io::Result<()> {
        self.raw(&[0xFA])?;
        self.string(key)?;
        self.string(value)
    }

    pub fn select_db(&mut self, db: u64) -> io::Result<()> {
        self.raw(&[0xFE])?;
        self.len(db)
    }

    pub fn resize_db(&mut self, db_size: u64, expires_size: u64) -> io::Result<()> {
        self.raw(&[0xFB])?;
        self.len(db_size)?;
        self.len(expires_size)
    }

    /// A function library (`FUNCTION2`).
    pub fn function(&mut self, code: &[u8]) -> io::Result<()> {
        self.raw(&[0xF5])?;
        self.string(code)
    }

    fn key_header(&mut self, t: u8, key: &[u8], expire_ms: Option<i64>) -> io::Result<()> {
        if self.payload {
            return self.raw(&[t]);
        }
        if let Some(at) = expire_ms {
            self.raw(&[0xFC])?;
            self.raw(&at.to_le_bytes())?;
        }
        self.raw(&[t])?;
        self.string(key)
    }

    pub fn put_string(
        &mut self,
        key: &[u8],
        value: &[u8],
        expire_ms: Option<i64>,
    ) -> io::Result<()> {
        self.key_header(0, key, expire_ms)?;
        self.string(value)
    }

    /// A list, as quicklist-2 with listpack nodes of at most 8 KB.
    pub fn put_list<'a>(
        &mut self,
        key: &[u8],
        items: impl IntoIterator<Item = &'a [u8]>,
        expire_ms: Option<i64>,
    ) -> io::Result<()> {
        let mut nodes: Vec<Vec<u8>> = Vec::new();
        let mut cur: Vec<&[u8]> = Vec::new();
        let mut cur_bytes = 0;
        for it in items {
            if !cur.is_empty() && cur_bytes + it.len() > LIST_NODE_BYTES {
                nodes.push(encode_listpack(cur.drain(..)));
                cur_bytes = 0;
            }
            cur_bytes += it.len() + 11;
            cur.push(it);
        }
        if !cur.is_empty() {
            nodes.push(encode_listpack(cur.drain(..)));
        }
        self.key_header(18, key, expire_ms)?;
        self.len(nodes.len() as u64)?;
        for n in &nodes {
            self.len(2)?;
            self.string(n)?;
        }
        Ok(())
    }

    pub fn put_set<'a>(
        &mut self,
        key: &[u8],
        len: usize,
        members: impl IntoIterator<Item = &'a [u8]>,
        expire_ms: Option<i64>,
    ) -> io::Result<()> {
        self.key_header(2, key, expire_ms)?;
        self.len(len as u64)?;
        for m in members {
            self.string(m)?;
        }
        Ok(())
    }

    pub fn put_hash<'a>(
        &mut self,
        key: &[u8],
        len: usize,
        pairs: impl IntoIterator<Item = (&'a [u8], &'a [u8])>,
        expire_ms: Option<i64>,
    ) -> io::Result<()> {
        self.key_header(4, key, expire_ms)?;
        self.len(len as u64)?;
        for (f, v) in pairs {
            self.string(f)?;
            self.string(v)?;
        }
        Ok(())
    }

    pub fn put_zset<'a>(
        &mut self,
        key: &[u8],
        len: usize,
        members: impl IntoIterator<Item = (&'a [u8], f64)>,
        expire_ms: Option<i64>,
    ) -> io::Result<()> {
        self.key_header(5, key, expire_ms)?;
        self.len(len as u64)?;
        for (m, s) in members {
            self.string(m)?;
            self.raw(&s.to_le_bytes())?;
        }
        Ok(())
    }

    /// A stream, as Redis 7.0 writes it (type 19, `STREAM_LISTPACKS_2`):
    /// `node_count` nodes from `nodes` (master ID, listpack), then the
    /// counters and groups of `meta` (whose own `nodes` are not used).
    pub fn put_stream(
        &mut self,
        key: &[u8],
        expire_ms: Option<i64>,
        node_count: usize,
        nodes: impl Iterator<Item = ([u8; 16], Vec<u8>)>,
        meta: &RdbStream,
    ) -> io::Result<()> {
        self.key_header(19, key, expire_ms)?;
        self.len(node_count as u64)?;
        for (master, lp) in nodes {
            self.string(&master)?;
            self.string(&lp)?;
        }
        self.len(meta.length)?;
        self.len(meta.last_id.0)?;
        self.len(meta.last_id.1)?;
        let first = meta.first_id.unwrap_or((0, 0));
        self.len(first.0)?;
        self.len(first.1)?;
        self.len(meta.max_deleted_id.0)?;
        self.len(meta.max_deleted_id.1)?;
        self.len(meta.entries_added.unwrap_or(meta.length))?;
        self.len(meta.groups.len() as u64)?;
        for g in &meta.groups {
            self.string(&g.name)?;
            self.len(g.last_id.0)?;
            self.len(g.last_id.1)?;
            // Redis saves the signed counter as an unsigned length.
            self.len(g.entries_read.unwrap_or(-1) as u64)?;
            self.len(g.pel.len() as u64)?;
            for (id, time, count) in &g.pel {
                self.raw(id)?;
                self.raw(&time.to_le_bytes())?;
                self.len(*count)?;
            }
            self.len(g.consumers.len() as u64)?;
            for c in &g.consumers {
                self.string(&c.name)?;
                self.raw(&c.seen_time.to_le_bytes())?;
                self.len(c.pel.len() as u64)?;
                for id in &c.pel {
                    self.raw(id)?;
                }
            }
        }
        Ok(())
    }

    /// Writes the end marker and the checksum (zero when disabled, which
    /// tells readers not to check), and returns the inner writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.raw(&[0xFF])?;
        let crc = if self.checksum {
            self.digest.clone().finalize()
        } else {
            0
        };
        self.w.write_all(&crc.to_le_bytes())?;
        self.written += 8;
        self.w.flush()?;
        Ok(self.w)
    }
}

/// The value of `s` when it is the canonical decimal form of an integer
/// (what Redis's `rdbTryIntegerEncoding` accepts).
fn canonical_int(s: &[u8]) -> Option<i64> {
    let t = std::str::from_utf8(s).ok()?;
    let n: i64 = t.parse().ok()?;
    (n.to_string() == t).then_some(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Item, Reader};

    fn read_all(b: &[u8]) -> Vec<Item> {
        let mut r = match Reader::new(b) {
            Ok(r) => r,
            Err(e) => panic!("{e}"),
        };
        let mut v = Vec::new();
        loop {
            match r.next_item() {
                Ok(Some(i)) => v.push(i),
                Ok(None) => break,
                Err(e) => panic!("{e}"),
            }
        }
        v
    }

    #[test]
    fn writes_what_it_reads() {
        let mut w = Writer::new(Vec::new(), true, true).unwrap_or_else(|e| panic!("{e}"));
        let long = vec![b'a'; 100];
        let items: Vec<Vec<u8>> = (0..3000)
            .map(|i| format!("item-{i}").into_bytes())
            .collect();
        (|| -> io::Result<()> {
            w.aux(b"redis-ver", b"7.0.15")?;
            w.select_db(0)?;
            w.resize_db(5, 1)?;
            w.put_string(b"n", b"-12345", None)?;
            w.put_string(b"s", &long, Some(1_700_000_000_000))?;
            w.put_list(b"l", items.iter().map(|v| v.as_slice()), None)?;
            w.put_set(b"set", 2, [&b"a"[..], b"b"], None)?;
            w.put_hash(b"h", 1, [(&b"f"[..], &b"v"[..])], None)?;
            w.put_zset(b"z", 1, [(&b"m"[..], 1.5)], None)
        })()
        .unwrap_or_else(|e| panic!("{e}"));
        let bytes = w.finish().unwrap_or_else(|e| panic!("{e}"));
        let got = read_all(&bytes);
        assert_eq!(got.len(), 9);
        assert_eq!(
            got[3],
            Item::Entry {
                key: b"n".to_vec(),
                value: RdbValue::String(b"-12345".to_vec()),
                expire_ms: None,
                idle: None,
                freq: None
            }
        );
        match &got[4] {
            Item::Entry {
                value: RdbValue::String(v),
                expire_ms,
                ..
            } => {
                assert_eq!(v, &long);
                assert_eq!(*expire_ms, Some(1_700_000_000_000));
            }
            other => panic!("{other:?}"),
        }
        match &got[5] {
            Item::Entry {
                value: RdbValue::List(v),
                ..
            } => assert_eq!(v, &items),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn flipped_byte_fails_the_checksum_or_the_parse() {
        let mut w = Writer::new(Vec::new(), false, true).unwrap_or_else(|e| panic!("{e}"));
        w.put_string(b"key", b"value-value", None)
            .unwrap_or_else(|e| panic!("{e}"));
        let mut bytes = w.finish().unwrap_or_else(|e| panic!("{e}"));
        let i = bytes.len() - 12;
        bytes[i] ^= 0x01;
        let mut r = Reader::new(bytes.as_slice()).unwrap_or_else(|e| panic!("{e}"));
        let mut failed = false;
        loop {
            match r.next_item() {
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(_) => {
                    failed = true;
                    break;
                }
            }
        }
        assert!(failed);
    }

    #[test]
    fn a_truncated_file_is_reported_at_the_truncation_point() {
        let mut w = Writer::new(Vec::new(), true, true).unwrap_or_else(|e| panic!("{e}"));
        (|| -> io::Result<()> {
            w.aux(b"redis-ver", b"7.0.15")?;
            w.select_db(0)?;
            w.put_string(b"k", &[b'x'; 300], Some(1_700_000_000_000))?;
            w.put_hash(b"h", 1, [(&b"f"[..], &b"v"[..])], None)?;
            w.put_zset(b"z", 1, [(&b"m"[..], 2.5)], None)
        })()
        .unwrap_or_else(|e| panic!("{e}"));
        let bytes = w.finish().unwrap_or_else(|e| panic!("{e}"));
        // Up to the checksum, which is reported where it starts.
        for cut in 9..bytes.len() - 8 {
            let mut r = Reader::new(&bytes[..cut]).unwrap_or_else(|e| panic!("{e}"));
            let err = loop {
                match r.next_item() {
                    Ok(Some(_)) => {}
                    Ok(None) => panic!("cut at {cut} read as complete"),
                    Err(e) => break e,
                }
            };
            assert_eq!(err.kind, crate::ErrorKind::Truncated, "cut at {cut}");
            assert_eq!(err.offset, cut as u64, "cut at {cut}");
        }
    }
}
