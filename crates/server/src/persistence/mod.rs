//! Persistence: RDB snapshots (`SAVE`, `BGSAVE`, save points, shutdown
//! save) and loading at start-up.
//!
//! - [`convert`]: keyspace values to and from the RDB crate's values.
//! - [`snapshot`]: the fork-less snapshot pipeline: the keyspace walk
//!   (keyspace::Db snapshots) feeds an [`snapshot::RdbSink`] on this thread;
//!   a background thread writes the bytes to their destination. The same
//!   pipeline serves a replica's full sync (a socket instead of a file).
//! - [`save`]: SAVE/BGSAVE orchestration, atomic file replacement, save
//!   points, the state `INFO persistence` reports.
//! - [`load`]: loading a file at start-up, in batches between event-loop
//!   turns so clients get `-LOADING` instead of a dead socket.
//! - [`progress`]: progress lines (percent, rate, ETA) for long loads and
//!   transfers.
//! - [`pace`]: the `rdb-key-save-delay` / `key-load-delay` test delays.
//! - [`aof`]: the append-only file (multi-part, Redis 7.0 layout), its
//!   loading and its fork-less rewrite.

pub mod aof;
pub mod autosync;
pub mod convert;
pub mod load;
pub mod pace;
pub mod progress;
pub mod save;
pub mod snapshot;
pub mod stream_rdb;

pub use save::PersistState;
