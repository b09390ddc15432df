//! The Redoubt engine: configuration, networking, command dispatch (the
//! one place where generic checks run), the client registry, the journal
//! and its consumers (replication, AOF), persistence, ACL, Pub/Sub,
//! tracking, blocking, eviction and start-up/shutdown. The command
//! families live in their own crate above this one and are handed to
//! [`run`] at start-up; nothing here names them.
//!
//! DESIGN.md describes how the pieces fit; each module's header says what
//! it owns.

pub mod acl;
pub mod alloc;
pub mod blocking;
pub mod client;
pub mod client_buffers;
pub mod client_memory;
pub mod clients;
pub mod clients_cron;
pub mod cluster;
pub mod cmd;
pub mod config;
pub mod crash;
pub mod errors;
pub mod evict;
pub mod info;
pub mod journal;
pub mod latency;
pub mod lazyfree;
pub mod listeners;
pub mod log;
pub mod metrics;
pub mod migrate;
pub mod mode;
pub mod monitor;
pub mod multi;
pub mod net;
pub mod notify;
pub mod os;
pub mod persistence;
pub mod proctitle;
pub mod pubsub;
pub mod replication;
pub mod scripting;
pub mod sdnotify;
pub mod server;
pub mod shutdown;
pub mod signals;
pub mod sockets;
pub mod startup;
pub mod stats;
pub mod tls;
pub mod tracking;
pub mod util;

/// The Redis version we are compatible with, reported by INFO and HELLO so
/// that clients enable the features they expect.
pub const REDIS_VERSION: &str = "7.0.15";
/// Redoubt's own version.
pub const REDOUBT_VERSION: &str = env!("CARGO_PKG_VERSION");

pub use startup::run;
