//! A pull parser for RDB files (versions 1 to 11).
//!
//! [`Reader::next_item`] yields one [`Item`] at a time so a loader can
//! store entries as they arrive and a checker can walk a file without
//! holding it. Every length read from the file is untrusted: buffers grow
//! as bytes actually arrive, never by a declared size alone.

use crate::sanitize::{self, Check, Refusal, Sanitize};
use crate::{ErrorKind, RdbError, RdbValue, CRC64};
use std::io::Read;

/// One element of an RDB file.
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    /// An `AUX` field (`redis-ver`, `repl-id`, `repl-offset`, `aof-base`...).
    Aux {
        key: Vec<u8>,
        value: Vec<u8>,
    },
    SelectDb(u64),
    ResizeDb {
        db_size: u64,
        expires_size: u64,
    },
    Entry {
        key: Vec<u8>,
        value: RdbValue,
        /// Absolute expiry in Unix milliseconds.
        expire_ms: Option<i64>,
        /// LRU idle seconds, when the file carries them.
        idle: Option<u64>,
        /// LFU frequency, when the file carries it.
        freq: Option<u8>,
    },
    /// A key whose collection has no elements (Redis never stores one):
    /// its value was read and is dropped, as Redis 7.0 skips it.
    EmptyKey {
        key: Vec<u8>,
    },
    /// A Redis 7.0 function library (`FUNCTION2`): its source code.
    Function(Vec<u8>),
    /// Module auxiliary data, skipped.
    ModuleAux {
        module_id: u64,
    },
}

// Opcodes.
const OP_FUNCTION2: u8 = 0xF5;
const OP_FUNCTION_PRE_GA: u8 = 0xF6;
const OP_MODULE_AUX: u8 = 0xF7;
const OP_IDLE: u8 = 0xF8;
const OP_FREQ: u8 = 0xF9;
const OP_AUX: u8 = 0xFA;
const OP_RESIZEDB: u8 = 0xFB;
const OP_EXPIRETIME_MS: u8 = 0xFC;
const OP_EXPIRETIME: u8 = 0xFD;
const OP_SELECTDB: u8 = 0xFE;
const OP_EOF: u8 = 0xFF;

pub struct Reader<R: Read> {
    r: R,
    pos: u64,
    digest: crc::Digest<'static, u64, crate::Crc64Impl>,
    pub version: u32,
    done: bool,
    sanitize: Sanitize,
}

/// What a byte-level read failure means here.
fn io_kind(e: std::io::Error) -> ErrorKind {
    if e.kind() == std::io::ErrorKind::UnexpectedEof {
        ErrorKind::Truncated
    } else {
        ErrorKind::Io(e.to_string())
    }
}

fn type_name(t: u8) -> &'static str {
    match t {
        6 | 7 => "module",
        _ => "unknown",
    }
}

impl<R: Read> Reader<R> {
    /// Reads and checks the `REDIS00vv` header.
    pub fn new(r: R) -> Result<Reader<R>, RdbError> {
        let mut rd = Reader {
            r,
            pos: 0,
            digest: CRC64.digest(),
            version: 0,
            done: false,
            sanitize: Sanitize::default(),
        };
        let mut magic = [0u8; 9];
        rd.read_exact(&mut magic)?;
        if &magic[..5] != b"REDIS" {
            return Err(rd.err_at(0, ErrorKind::BadMagic));
        }
        let v = std::str::from_utf8(&magic[5..])
            .ok()
            .and_then(|s| s.parse::<u32>().ok())
            .ok_or_else(|| rd.err_at(5, ErrorKind::BadMagic))?;
        if !(1..=11).contains(&v) {
            return Err(rd.err_at(5, ErrorKind::BadVersion(v)));
        }
        rd.version = v;
        Ok(rd)
    }

    /// A reader over a DUMP payload's body (no header), as version 10.
    pub fn for_payload(r: R) -> Reader<R> {
        Reader {
            r,
            pos: 0,
            digest: CRC64.digest(),
            version: crate::RDB_VERSION,
            done: true,
            sanitize: Sanitize::default(),
        }
    }

    /// Checks values as `s` says (shallowly, with Redis's default limits,
    /// unless set).
    pub fn with_sanitize(mut self, s: Sanitize) -> Reader<R> {
        self.sanitize = s;
        self
    }

    /// One value as DUMP writes it: the type byte, then the value.
    pub fn payload_value(&mut self) -> Result<RdbValue, RdbError> {
        let t = self.u8()?;
        self.value(t, b"")
    }

    /// The next byte (FUNCTION RESTORE reads its records one by one).
    pub fn next_type_byte(&mut self) -> Result<u8, RdbError> {
        self.u8()
    }

    /// The next string, in any of its encodings.
    pub fn next_string(&mut self) -> Result<Vec<u8>, RdbError> {
        self.string()
    }

    /// Current byte offset in the file.
    pub fn offset(&self) -> u64 {
        self.pos
    }

    fn err(&self, kind: ErrorKind) -> RdbError {
        RdbError {
            offset: self.pos,
            kind,
        }
    }

    fn err_at(&self, offset: u64, kind: ErrorKind) -> RdbError {
        RdbError { offset, kind }
    }

    /// Reads exactly `buf.len()` bytes. On a short file the error's offset
    /// is where the data ended (bytes read so far count), so a truncation
    /// is reported at the truncation point.
    fn read_exact(&mut self, buf: &mut [u8]) -> Result<(), RdbError> {
        let mut filled = 0;
        while filled < buf.len() {
            match self.r.read(&mut buf[filled..]) {
                Ok(0) => {
                    self.pos += filled as u64;
                    return Err(self.err(ErrorKind::Truncated));
                }
                Ok(n) => filled += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.pos += filled as u64;
                    return Err(self.err(io_kind(e)));
                }
            }
        }
        self.digest.update(buf);
        self.pos += buf.len() as u64;
        Ok(())
    }

    fn u8(&mut self) -> Result<u8, RdbError> {
        let mut b = [0u8; 1];
        self.read_exact(&mut b)?;
        Ok(b[0])
    }

    fn bytes(&mut self, n: u64) -> Result<Vec<u8>, RdbError> {
        let mut v = Vec::with_capacity(n.min(1 << 20) as usize);
        let got = (&mut self.r)
            .take(n)
            .read_to_end(&mut v)
            .map_err(|e| self.err(io_kind(e)))?;
        self.digest.update(&v);
        self.pos += got as u64;
        if (got as u64) < n {
            return Err(self.err(ErrorKind::Truncated));
        }
        Ok(v)
    }

    /// Reads a length; `Ok((n, true))` means a special string encoding.
    fn len_enc(&mut self) -> Result<(u64, bool), RdbError> {
        let b = self.u8()?;
        match b >> 6 {
            0 => Ok(((b & 0x3F) as u64, false)),
            1 => Ok(((((b & 0x3F) as u64) << 8) | self.u8()? as u64, false)),
            2 => match b {
                0x80 => {
                    let mut x = [0u8; 4];
                    self.read_exact(&mut x)?;
                    Ok((u32::from_be_bytes(x) as u64, false))
                }
                0x81 => {
                    let mut x = [0u8; 8];
                    self.read_exact(&mut x)?;
                    Ok((u64::from_be_bytes(x), false))
                }
                _ => Err(self.err(ErrorKind::BadLength)),
            },
            _ => Ok(((b & 0x3F) as u64, true)),
        }
    }

    /// Reads a length. As in Redis's `rdbLoadLen`, a byte that announces
    /// a special string encoding reads as its low six bits.
    fn len(&mut self) -> Result<u64, RdbError> {
        Ok(self.len_enc()?.0)
    }

    fn le_int(&mut self, n: usize) -> Result<i64, RdbError> {
        let mut x = [0u8; 8];
        self.read_exact(&mut x[..n])?;
        let v = u64::from_le_bytes(x);
        let shift = 64 - 8 * n as u32;
        Ok(((v << shift) as i64) >> shift)
    }

    fn string(&mut self) -> Result<Vec<u8>, RdbError> {
        match self.len_enc()? {
            (n, false) => self.bytes(n),
            (0, true) => Ok(self.le_int(1)?.to_string().into_bytes()),
            (1, true) => Ok(self.le_int(2)?.to_string().into_bytes()),
            (2, true) => Ok(self.le_int(4)?.to_string().into_bytes()),
            (3, true) => {
                let clen = self.len()?;
                let len = self.len()?;
                // An LZF back-reference (3 bytes) expands to at most 264
                // bytes: a claimed size beyond that ratio is corrupt, and
                // refusing it keeps a hostile file from forcing a huge
                // allocation before any byte is checked.
                if len > 1 << 32 || len > clen.saturating_mul(90).saturating_add(16) {
                    return Err(self.err(ErrorKind::BadLzf));
                }
                let c = self.bytes(clen)?;
                // Redis's decompressor reports the bytes it wrote, which
                // for an empty result is the expected 0.
                if len == 0 {
                    return Ok(Vec::new());
                }
                let out =
                    lzf::decompress(&c, len as usize).map_err(|_| self.err(ErrorKind::BadLzf))?;
                if out.len() as u64 != len {
                    return Err(self.err(ErrorKind::BadLzf));
                }
                Ok(out)
            }
            _ => Err(self.err(ErrorKind::BadLength)),
        }
    }

    /// Old-style double: a length byte then ASCII (253 NaN, 254 +inf,
    /// 255 -inf).
    fn ascii_double(&mut self) -> Result<f64, RdbError> {
        match self.u8()? {
            253 => Ok(f64::NAN),
            254 => Ok(f64::INFINITY),
            255 => Ok(f64::NEG_INFINITY),
            n => {
                // Read as `sscanf("%lg")` reads it: the number at the start.
                let b = self.bytes(n as u64)?;
                sanitize::strtod(&b).ok_or_else(|| self.err(ErrorKind::BadDouble))
            }
        }
    }

    fn binary_double(&mut self) -> Result<f64, RdbError> {
        let mut x = [0u8; 8];
        self.read_exact(&mut x)?;
        Ok(f64::from_le_bytes(x))
    }

    /// Maps what [`sanitize`] refused to an error at `at`.
    fn refusal(&self, at: u64, r: Refusal) -> RdbError {
        self.err_at(
            at,
            match r {
                Refusal::Empty => ErrorKind::EmptyKey,
                Refusal::Corrupt(why) => ErrorKind::Corrupt(why),
            },
        )
    }

    /// Reads a string holding a compact encoding and checks and decodes it
    /// with `f`.
    fn packed<T>(&mut self, f: impl FnOnce(&[u8]) -> Check<T>) -> Result<T, RdbError> {
        let at = self.pos;
        let b = self.string()?;
        f(&b).map_err(|r| self.refusal(at, r))
    }

    /// Applies a check of [`sanitize`] to elements read one by one.
    fn checked<T>(&self, at: u64, r: Check<T>) -> Result<T, RdbError> {
        r.map_err(|r| self.refusal(at, r))
    }

    /// The length of a collection; none is an empty key, and the largest
    /// 64-bit value is Redis's error marker.
    fn count(&mut self) -> Result<u64, RdbError> {
        match self.len()? {
            0 => Err(self.err(ErrorKind::EmptyKey)),
            u64::MAX => Err(self.err(ErrorKind::BadLength)),
            n => Ok(n),
        }
    }

    fn value(&mut self, t: u8, key: &[u8]) -> Result<RdbValue, RdbError> {
        let cap = |n: u64| n.min(1 << 16) as usize;
        let s = self.sanitize;
        let at = self.pos;
        let scored = |p: Vec<(Vec<u8>, Vec<u8>)>| {
            p.into_iter()
                .map(|(m, x)| (m, sanitize::packed_score(&x)))
                .collect()
        };
        Ok(match t {
            0 => RdbValue::String(self.string()?),
            1 | 2 => {
                let n = self.count()?;
                let mut v = Vec::with_capacity(cap(n));
                for _ in 0..n {
                    v.push(self.string()?);
                }
                if t == 1 {
                    RdbValue::List(v)
                } else {
                    RdbValue::Set(self.checked(at, sanitize::plain_set(v))?)
                }
            }
            3 | 5 => {
                let n = self.count()?;
                let mut v = Vec::with_capacity(cap(n));
                for _ in 0..n {
                    let m = self.string()?;
                    let s = if t == 3 {
                        self.ascii_double()?
                    } else {
                        self.binary_double()?
                    };
                    v.push((m, s));
                }
                RdbValue::ZSet(self.checked(at, sanitize::plain_zset(v))?)
            }
            4 => {
                let n = self.count()?;
                let mut v = Vec::with_capacity(cap(n));
                for _ in 0..n {
                    let f = self.string()?;
                    let x = self.string()?;
                    v.push((f, x));
                }
                RdbValue::Hash(self.checked(at, sanitize::plain_hash(v, &s))?)
            }
            9 => RdbValue::Hash(self.packed(sanitize::zipmap_hash)?),
            10 => RdbValue::List(self.packed(sanitize::ziplist_list)?),
            11 => RdbValue::Set(self.packed(|b| sanitize::intset_set(b, &s))?),
            12 => RdbValue::ZSet(scored(self.packed(|b| {
                sanitize::ziplist_pairs(b, "Zset ziplist integrity check failed.")
            })?)),
            13 => {
                RdbValue::Hash(self.packed(|b| {
                    sanitize::ziplist_pairs(b, "Hash ziplist integrity check failed.")
                })?)
            }
            16 => RdbValue::Hash(self.packed(|b| {
                let why = "Hash listpack integrity check failed.";
                sanitize::listpack_pairs(b, &s, s.hash_max_listpack_entries, why)
            })?),
            17 => RdbValue::ZSet(scored(self.packed(|b| {
                let why = "Zset listpack integrity check failed.";
                sanitize::listpack_pairs(b, &s, s.zset_max_listpack_entries, why)
            })?)),
            20 => RdbValue::Set(self.packed(|b| sanitize::listpack_set(b, &s))?),
            14 | 18 => {
                let n = self.count()?;
                let mut v = Vec::new();
                for _ in 0..n {
                    let container = if t == 18 {
                        let c = self.len()?;
                        if c != sanitize::NODE_PLAIN && c != sanitize::NODE_PACKED {
                            let why = "Quicklist integrity check failed.".to_string();
                            return Err(self.err(ErrorKind::Corrupt(why)));
                        }
                        c
                    } else {
                        sanitize::NODE_PACKED
                    };
                    let node_at = self.pos;
                    let blob = self.string()?;
                    let items = sanitize::quicklist_node(blob, container, t == 14, &s);
                    v.extend(self.checked(node_at, items)?);
                }
                if v.is_empty() {
                    return Err(self.err_at(at, ErrorKind::EmptyKey));
                }
                RdbValue::List(v)
            }
            15 | 19 | 21 => RdbValue::Stream(Box::new(self.stream(t)?)),
            6 | 7 => {
                return Err(self.err(ErrorKind::Unsupported {
                    key: String::from_utf8_lossy(key).into_owned(),
                    type_name: type_name(t),
                }))
            }
            other => return Err(self.err(ErrorKind::UnknownType(other))),
        })
    }

    /// A stream ID stored as two lengths.
    fn stream_id(&mut self) -> Result<crate::RdbStreamId, RdbError> {
        Ok((self.len()?, self.len()?))
    }

    /// A stream ID stored raw, as 16 big-endian bytes.
    fn raw_id(&mut self) -> Result<[u8; 16], RdbError> {
        let mut id = [0u8; 16];
        self.read_exact(&mut id)?;
        Ok(id)
    }

    /// A millisecond time, 8 bytes little-endian.
    fn ms_time(&mut self) -> Result<i64, RdbError> {
        let mut x = [0u8; 8];
        self.read_exact(&mut x)?;
        Ok(i64::from_le_bytes(x))
    }

    /// A stream of RDB type `t` (15, 19 or 21); see [`crate::RdbStream`].
    /// The listpacks are checked when the value is built.
    fn stream(&mut self, t: u8) -> Result<crate::RdbStream, RdbError> {
        let cap = |n: u64| n.min(1 << 12) as usize;
        let v2 = t >= 19;
        let mut s = crate::RdbStream::default();
        let nodes = self.len()?;
        s.nodes.reserve(cap(nodes));
        for _ in 0..nodes {
            let at = self.pos;
            let key = self.string()?;
            let key: [u8; 16] = key.try_into().map_err(|_| {
                self.err_at(
                    at,
                    ErrorKind::BadEncoding("stream node key is not the size of a stream ID"),
                )
            })?;
            let lp = self.string()?;
            s.nodes.push((key, lp));
        }
        s.length = self.len()?;
        s.last_id = self.stream_id()?;
        if v2 {
            s.first_id = Some(self.stream_id()?);
            s.max_deleted_id = self.stream_id()?;
            s.entries_added = Some(self.len()?);
        }
        let groups = self.len()?;
        for _ in 0..groups {
            let mut g = crate::RdbGroup {
                name: self.string()?,
                last_id: self.stream_id()?,
                ..Default::default()
            };
            if v2 {
                // Saved as an unsigned length; -1 (unknown) wraps around.
                g.entries_read = Some(self.len()? as i64);
            }
            let pel = self.len()?;
            g.pel.reserve(cap(pel));
            for _ in 0..pel {
                let id = self.raw_id()?;
                let time = self.ms_time()?;
                let count = self.len()?;
                g.pel.push((id, time, count));
            }
            let consumers = self.len()?;
            for _ in 0..consumers {
                let mut c = crate::RdbConsumer {
                    name: self.string()?,
                    seen_time: self.ms_time()?,
                    ..Default::default()
                };
                if t >= 21 {
                    c.active_time = Some(self.ms_time()?);
                }
                let owned = self.len()?;
                c.pel.reserve(cap(owned));
                for _ in 0..owned {
                    c.pel.push(self.raw_id()?);
                }
                g.consumers.push(c);
            }
            s.groups.push(g);
        }
        Ok(s)
    }

    /// Skips a module's serialized data (self-describing opcodes up to EOF).
    fn skip_module_data(&mut self) -> Result<(), RdbError> {
        loop {
            match self.len()? {
                0 => return Ok(()),
                1 | 2 => {
                    self.len()?;
                }
                3 => {
                    let mut x = [0u8; 4];
                    self.read_exact(&mut x)?;
                }
                4 => {
                    self.binary_double()?;
                }
                5 => {
                    self.string()?;
                }
                _ => return Err(self.err(ErrorKind::BadEncoding("module data"))),
            }
        }
    }

    /// The next item, or `None` after the end marker (whose checksum is
    /// verified when the file carries one).
    pub fn next_item(&mut self) -> Result<Option<Item>, RdbError> {
        if self.done {
            return Ok(None);
        }
        let mut expire_ms = None;
        let mut idle = None;
        let mut freq = None;
        loop {
            let op = self.u8()?;
            match op {
                OP_EOF => {
                    self.done = true;
                    if self.version >= 5 {
                        let actual = self.digest.clone().finalize();
                        let mut x = [0u8; 8];
                        self.r
                            .read_exact(&mut x)
                            .map_err(|e| self.err(io_kind(e)))?;
                        let expected = u64::from_le_bytes(x);
                        if expected != 0 && expected != actual {
                            return Err(self.err(ErrorKind::BadChecksum { expected, actual }));
                        }
                        self.pos += 8;
                    }
                    return Ok(None);
                }
                OP_SELECTDB => return Ok(Some(Item::SelectDb(self.len()?))),
                OP_RESIZEDB => {
                    let db_size = self.len()?;
                    let expires_size = self.len()?;
                    return Ok(Some(Item::ResizeDb {
                        db_size,
                        expires_size,
                    }));
                }
                OP_AUX => {
                    let key = self.string()?;
                    let value = self.string()?;
                    return Ok(Some(Item::Aux { key, value }));
                }
                OP_FUNCTION2 => return Ok(Some(Item::Function(self.string()?))),
                OP_FUNCTION_PRE_GA => {
                    return Err(self.err(ErrorKind::BadEncoding(
                        "pre-release function (RDB_OPCODE_FUNCTION)",
                    )))
                }
                OP_MODULE_AUX => {
                    let module_id = self.len()?;
                    let _when_opcode = self.len()?;
                    let _when = self.len()?;
                    self.skip_module_data()?;
                    return Ok(Some(Item::ModuleAux { module_id }));
                }
                OP_EXPIRETIME_MS => {
                    let mut x = [0u8; 8];
                    self.read_exact(&mut x)?;
                    expire_ms = Some(i64::from_le_bytes(x));
                }
                OP_EXPIRETIME => {
                    let mut x = [0u8; 4];
                    self.read_exact(&mut x)?;
                    expire_ms = Some(i64::from(i32::from_le_bytes(x)) * 1000);
                }
                OP_IDLE => idle = Some(self.len()?),
                OP_FREQ => freq = Some(self.u8()?),
                t => {
                    let key = self.string()?;
                    let value = match self.value(t, &key) {
                        Ok(v) => v,
                        Err(RdbError {
                            kind: ErrorKind::EmptyKey,
                            ..
                        }) => return Ok(Some(Item::EmptyKey { key })),
                        Err(e) => return Err(e),
                    };
                    return Ok(Some(Item::Entry {
                        key,
                        value,
                        expire_ms,
                        idle,
                        freq,
                    }));
                }
            }
        }
    }
}
