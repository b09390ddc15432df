//! Command families, one file each. Every family declares, at its top, the
//! names it serves and their handlers; metadata comes from [`specs`].

pub mod acl;
pub mod bitfield;
pub mod bitmaps;
pub mod client;
pub mod command;
pub mod config;
pub mod connection;
pub mod counters;
pub mod debug;
pub mod dump;
pub mod expire;
pub mod geo;
pub mod hashes;
pub mod hyperloglog;
pub mod info;
pub mod keys;
pub mod lcs;
pub mod lists;
pub mod lookup;
pub mod module;
pub mod persistence;
pub mod pubsub;
pub mod server;
pub mod set_algebra;
pub mod sets;
pub mod sort;
pub mod specs;
pub mod string_edits;
pub mod strings;
pub mod summaries;
pub mod tracking;
pub mod transactions;
pub mod zblocking;
pub mod zranges;
pub mod zsetops;
pub mod zsets;

use crate::cmd::Handler;

/// Every handler, by command name (`parent|sub` for subcommands).
pub fn handlers() -> Vec<(&'static str, Handler)> {
    let mut v = Vec::new();
    v.extend_from_slice(acl::COMMANDS);
    v.extend_from_slice(client::COMMANDS);
    v.extend_from_slice(command::COMMANDS);
    v.extend_from_slice(config::COMMANDS);
    v.extend_from_slice(connection::COMMANDS);
    v.extend_from_slice(expire::COMMANDS);
    v.extend_from_slice(debug::COMMANDS);
    v.extend_from_slice(info::COMMANDS);
    v.extend_from_slice(keys::COMMANDS);
    v.extend_from_slice(server::COMMANDS);
    v.extend_from_slice(strings::COMMANDS);
    v.extend_from_slice(string_edits::COMMANDS);
    v.extend_from_slice(counters::COMMANDS);
    v.extend_from_slice(lcs::COMMANDS);
    v.extend_from_slice(bitmaps::COMMANDS);
    v.extend_from_slice(bitfield::COMMANDS);
    v.extend_from_slice(hashes::COMMANDS);
    v.extend_from_slice(transactions::COMMANDS);
    v.extend_from_slice(persistence::COMMANDS);
    v.extend_from_slice(lists::COMMANDS);
    v.extend_from_slice(pubsub::COMMANDS);
    v.extend_from_slice(tracking::COMMANDS);
    v.extend_from_slice(sets::COMMANDS);
    v.extend_from_slice(set_algebra::COMMANDS);
    v.extend_from_slice(zsets::COMMANDS);
    v.extend_from_slice(zranges::COMMANDS);
    v.extend_from_slice(zsetops::COMMANDS);
    v.extend_from_slice(zblocking::COMMANDS);
    v.extend_from_slice(sort::COMMANDS);
    v.extend_from_slice(geo::COMMANDS);
    v.extend_from_slice(hyperloglog::COMMANDS);
    v.extend_from_slice(dump::COMMANDS);
    v.extend_from_slice(module::COMMANDS);
    v.extend_from_slice(crate::replication::master::COMMANDS);
    v.extend_from_slice(crate::replication::replica::COMMANDS);
    v
}
