//! End-to-end tests: real Redoubt processes (and real redis-server 7.0 for
//! comparison) over real sockets. One test binary made of modules.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod acl;
mod aof;
mod blocking;
mod check_rdb;
mod client_memory;
mod cluster;
mod cluster_ops;
mod cluster_tls;
mod confgen;
mod config;
mod differential;
mod directives;
mod doctor;
mod dump_restore;
mod eviction;
mod full_sync;
// Not every helper is used by every build of the suite.
#[allow(dead_code)]
mod harness;
mod help;
mod introspection;
mod keys;
mod limits;
mod metrics;
mod migrate;
mod monitoring;
mod netns;
mod partition;
mod persistence;
mod progress;
mod pubsub;
mod replica_expiry;
mod replication;
mod scripting;
mod sentinel;
mod server_core;
mod service;
mod split_brain;
mod stream_blocking;
mod streams;
mod tls;
mod transactions;
mod up;
mod zblocking;
