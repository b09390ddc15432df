//! Tests of engine behaviour that need real commands to drive it
//! (eviction, blocking, INFO, keyspace events, the AOF and replication
//! feeds, metrics). They live here because the engine cannot depend on
//! the families; each file names the engine module it exercises.

mod aof;
mod blocking;
mod evict;
mod info;
mod lazyfree;
mod metrics;
mod notify;
mod replication;
mod shutdown;
