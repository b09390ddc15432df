//! The collection types. Each lives in its own module and owns its compact
//! encodings; this file only gathers the encoding thresholds they share.
//!
//! Thresholds come from the server's configuration (`hash-max-listpack-*`
//! and friends) and are passed in on every operation that may convert an
//! encoding, because this crate knows nothing of configuration.

/// Encoding thresholds, with Redis 7.0's defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EncodingLimits {
    pub hash_max_listpack_entries: usize,
    pub hash_max_listpack_value: usize,
    pub set_max_intset_entries: usize,
    pub zset_max_listpack_entries: usize,
    pub zset_max_listpack_value: usize,
    /// `list-max-listpack-size` (negative: size classes; positive: entries).
    pub list_max_listpack_size: i64,
    /// `list-compress-depth`: chunks kept plain at each end of a new list
    /// (0: no compression).
    pub list_compress_depth: u32,
    /// `stream-node-max-bytes` and `stream-node-max-entries`.
    pub stream_node: crate::stream::NodeLimits,
}

impl Default for EncodingLimits {
    fn default() -> Self {
        EncodingLimits {
            hash_max_listpack_entries: 512,
            hash_max_listpack_value: 64,
            set_max_intset_entries: 512,
            zset_max_listpack_entries: 128,
            zset_max_listpack_value: 64,
            list_max_listpack_size: -2,
            list_compress_depth: 0,
            stream_node: crate::stream::NodeLimits::default(),
        }
    }
}
