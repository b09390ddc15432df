//! RDB files: the format Redis uses for snapshots, full syncs and the AOF
//! preamble. This crate reads every encoding Redis 7.0 (and older versions
//! still in the field) produce and writes version 10 files that Redis 7.0
//! loads. It knows nothing of the server: values cross the boundary as
//! [`RdbValue`], and the caller decides how to store them.
//!
//! - [`reader`]: a pull parser yielding [`Item`]s, with the byte offset of
//!   any error.
//! - [`writer`]: streaming writer with optional LZF compression and CRC64.
//! - [`payload`]: DUMP payloads (one value plus version and CRC64 footer),
//!   as DUMP writes and RESTORE checks them.
//! - [`check`]: the walk behind `redoubt check-rdb`.
//! - [`encodings`]: the compact encodings embedded in RDB strings (ziplist,
//!   listpack, intset, zipmap).
//!
//! The format is the product here (snapshots and replication must be
//! byte-compatible with Redis), so the parser is written by hand; LZF and
//! CRC64 come from crates (`lzf-compress`, ours, and `lzf` for
//! decompression; `crc` with its CRC-64/REDIS preset).

pub mod check;
pub mod encodings;
pub mod payload;
pub mod reader;
mod sanitize;
pub mod writer;

pub use payload::{dump_value, restore_value, verify_payload, PayloadError};
pub use reader::{Item, Reader};
pub use sanitize::Sanitize;
pub use writer::Writer;

/// RDB version written by Redis 7.0.
pub const RDB_VERSION: u32 = 10;

/// The CRC64 variant Redis uses (Jones polynomial, reflected), computed
/// 16 bytes at a time (slice-by-16 tables, 32 KB; Redis's `crcspeed` does
/// 8). The crate's default takes one byte per step: in `perf` of a BGSAVE
/// under a full-speed writer, `Writer::string`, `raw` and `len` (where the
/// checksum is inlined) were 14.6% of the process's samples, a third of
/// the serialiser thread's; with the tables, `string` + `len` +
/// `crc64::update_table` are ~4%. Loading checks the same checksum.
pub(crate) type Crc64Impl = crc::Table<16>;
pub(crate) const CRC64: crc::Crc<u64, Crc64Impl> =
    crc::Crc::<u64, Crc64Impl>::new(&crc::CRC_64_REDIS);

/// A value as stored in an RDB file, independent of its on-disk encoding.
#[derive(Debug, Clone, PartialEq)]
pub enum RdbValue {
    String(Vec<u8>),
    List(Vec<Vec<u8>>),
    Set(Vec<Vec<u8>>),
    /// Members with their scores.
    ZSet(Vec<(Vec<u8>, f64)>),
    /// Field/value pairs.
    Hash(Vec<(Vec<u8>, Vec<u8>)>),
    /// A stream as the file holds it (see [`RdbStream`]).
    Stream(Box<RdbStream>),
}

/// A stream ID: milliseconds and sequence.
pub type RdbStreamId = (u64, u64);

/// A stream as RDB types 15 (`STREAM_LISTPACKS`, Redis 5 and 6), 19
/// (`_2`, Redis 7.0) and 21 (`_3`, Redis 7.2) store it: its nodes as
/// listpacks keyed by their master ID, then its counters and consumer
/// groups. Fields the older types lack are `None`; the loader estimates
/// them as Redis does.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RdbStream {
    /// (master ID as 16 big-endian bytes, listpack) per node, in order.
    pub nodes: Vec<([u8; 16], Vec<u8>)>,
    pub length: u64,
    pub last_id: RdbStreamId,
    /// Types 19 and 21 only.
    pub first_id: Option<RdbStreamId>,
    pub max_deleted_id: RdbStreamId,
    /// Types 19 and 21 only.
    pub entries_added: Option<u64>,
    pub groups: Vec<RdbGroup>,
}

/// A consumer group in an RDB file.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RdbGroup {
    pub name: Vec<u8>,
    pub last_id: RdbStreamId,
    /// Types 19 and 21 only (-1: unknown).
    pub entries_read: Option<i64>,
    /// Pending entries: ID (16 big-endian bytes), delivery time (Unix
    /// ms), delivery count.
    pub pel: Vec<([u8; 16], i64, u64)>,
    pub consumers: Vec<RdbConsumer>,
}

/// A consumer in an RDB file.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RdbConsumer {
    pub name: Vec<u8>,
    pub seen_time: i64,
    /// Type 21 only (Redis 7.2's `active-time`); not kept.
    pub active_time: Option<i64>,
    /// IDs of the pending entries it owns.
    pub pel: Vec<[u8; 16]>,
}

/// Why a file could not be read. `offset` is the byte position where the
/// problem was found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind} at offset {offset}")]
pub struct RdbError {
    pub offset: u64,
    pub kind: ErrorKind,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ErrorKind {
    #[error("not an RDB file (bad magic)")]
    BadMagic,
    #[error("unsupported RDB version {0}")]
    BadVersion(u32),
    #[error("unexpected end of file")]
    Truncated,
    #[error("I/O error: {0}")]
    Io(String),
    #[error("invalid length encoding")]
    BadLength,
    #[error("unknown object type {0}")]
    UnknownType(u8),
    #[error("key '{key}' has type {type_name}, which Redoubt does not support yet")]
    Unsupported {
        key: String,
        type_name: &'static str,
    },
    #[error("LZF decompression failed")]
    BadLzf,
    #[error("corrupt {0} encoding")]
    BadEncoding(&'static str),
    #[error("invalid double value")]
    BadDouble,
    #[error("RDB CRC error: the file says {expected:016x}, its content hashes to {actual:016x}")]
    BadChecksum { expected: u64, actual: u64 },
    #[error("value too large")]
    TooLarge,
    /// A value Redis 7.0 refuses as corrupt (or would crash on), with the
    /// reason Redis logs where it has one ("Hash ziplist integrity check
    /// failed.", "Duplicate set members detected", ...).
    #[error("{0}")]
    Corrupt(String),
    /// A collection with no elements: Redis never stores one, skips it
    /// when loading a file and refuses it in RESTORE.
    #[error("empty key")]
    EmptyKey,
}

/// The CRC64 Redis puts after an RDB file and a DUMP payload.
pub fn crc64(data: &[u8]) -> u64 {
    CRC64.checksum(data)
}
