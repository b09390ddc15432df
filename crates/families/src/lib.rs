//! The command families: one file per family of commands (strings, lists,
//! hashes, keys, ...), each declaring at its top the names it serves and
//! their handlers. The binary hands [`FAMILIES`] to the engine at start-up
//! (`server::run`), which pairs them with the generated metadata in
//! `command_meta::specs` to build the one command table; the engine never
//! imports this crate.
//!
//! A handler has three parts: parse the arguments into a typed value, run
//! the keyspace operation (which knows nothing of replies), encode the
//! reply.

pub mod acl;
pub mod admin;
pub mod bitfield;
pub mod bitmaps;
pub mod client;
pub mod cluster;
pub mod command;
pub mod config;
pub mod connection;
pub mod counters;
pub mod debug;
pub mod digest;
pub mod dump;
#[cfg(test)]
mod engine_tests;
pub mod expire;
pub mod functions;
pub mod geo;
pub mod hashes;
pub mod hyperloglog;
pub mod info;
pub mod keys;
pub mod lcs;
pub mod lists;
pub mod lookup;
pub mod memory;
pub mod migrate;
pub mod module;
pub mod persistence;
pub mod pubsub;
pub mod scripting;
pub mod set_algebra;
pub mod sets;
pub mod sort;
pub mod stream_groups;
pub mod stream_info;
pub mod stream_read;
#[cfg(test)]
mod stream_tests;
pub mod streams;
pub mod string_edits;
pub mod strings;
pub mod summaries;
#[cfg(test)]
mod testkit;
pub mod tracking;
pub mod transactions;
pub mod util;
pub mod zblocking;
pub mod zranges;
pub mod zsetops;
pub mod zsets;

use server::cmd::HandlerTable;

/// Every family's handler table, by command name (`parent|sub` for
/// subcommands). The engine adds its own (PSYNC, REPLCONF, WAIT, ...).
pub const FAMILIES: &[HandlerTable] = &[
    acl::COMMANDS,
    client::COMMANDS,
    cluster::COMMANDS,
    command::COMMANDS,
    config::COMMANDS,
    connection::COMMANDS,
    expire::COMMANDS,
    debug::COMMANDS,
    memory::COMMANDS,
    info::COMMANDS,
    keys::COMMANDS,
    admin::COMMANDS,
    strings::COMMANDS,
    string_edits::COMMANDS,
    counters::COMMANDS,
    lcs::COMMANDS,
    bitmaps::COMMANDS,
    bitfield::COMMANDS,
    hashes::COMMANDS,
    transactions::COMMANDS,
    persistence::COMMANDS,
    lists::COMMANDS,
    pubsub::COMMANDS,
    tracking::COMMANDS,
    sets::COMMANDS,
    set_algebra::COMMANDS,
    zsets::COMMANDS,
    zranges::COMMANDS,
    zsetops::COMMANDS,
    zblocking::COMMANDS,
    sort::COMMANDS,
    geo::COMMANDS,
    hyperloglog::COMMANDS,
    dump::COMMANDS,
    migrate::COMMANDS,
    module::COMMANDS,
    scripting::COMMANDS,
    functions::COMMANDS,
    streams::COMMANDS,
    stream_info::COMMANDS,
    stream_groups::COMMANDS,
    stream_read::COMMANDS,
];

#[cfg(test)]
mod tests {
    /// A handler whose name no metadata describes would silently never be
    /// served: every registered name, the engine's included, has a spec.
    #[test]
    fn every_handler_name_has_a_spec() {
        let mut tables = super::FAMILIES.to_vec();
        tables.extend_from_slice(server::cmd::ENGINE_COMMANDS);
        assert_eq!(
            server::cmd::handlers_without_spec(&tables),
            Vec::<&str>::new()
        );
    }

    /// And the check itself notices a misspelt name.
    #[test]
    fn a_misspelt_handler_name_is_reported() {
        fn noop(_: &mut server::cmd::Ctx) {}
        let table: server::cmd::HandlerTable = &[("gte", noop), ("client|lsit", noop)];
        assert_eq!(
            server::cmd::handlers_without_spec(&[table]),
            vec!["gte", "client|lsit"]
        );
    }
}
