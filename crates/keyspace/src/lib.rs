//! The keyspace: Redoubt's databases and the values they hold.
//!
//! This crate is a data-structure library driven by the server's executor.
//! It knows nothing of sockets, RESP or replication: operations return what
//! happened (a value, a deleted key) and the executor decides what to reply
//! and what to propagate.
//!
//! - [`db`]: one database: the key → entry map, the set of keys with a TTL,
//!   lazy expiry checks, the active expiry cycle, `SCAN` and random keys.
//! - [`lru`]: access stamps (LRU clock or LFU counter) behind `OBJECT
//!   IDLETIME` and `OBJECT FREQ`.
//! - [`value`]: the value types and their encodings; [`stream`]: the
//!   stream type (a log of entries and its consumer groups).
//! - [`table`], [`small`]: the compact key table under each database and
//!   the inline small string its keys (and short values) are stored as.

pub mod db;
pub mod hash;
pub mod list;
pub mod lru;
pub mod set;
pub mod slots;
pub mod small;
pub mod stream;
pub mod table;
pub mod types;
pub mod value;
mod varint;
pub mod zset;

pub use db::{Db, Detached, Entry, ExpireCycle, SharedSink, SnapshotSink, NO_EXPIRE};
pub use hash::Hash;
pub use list::List;
pub use set::Set;
pub use slots::{key_hash_slot, SlotIndex};
pub use small::SmallBytes;
pub use stream::Stream;
pub use types::EncodingLimits;
pub use value::{StrValue, Value};
pub use zset::ZSet;
