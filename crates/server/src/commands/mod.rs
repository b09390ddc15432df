//! Command families, one file each. Every family declares, at its top, the
//! names it serves and their handlers; metadata comes from [`specs`].

pub mod config;
pub mod connection;
pub mod keys;
pub mod server;
pub mod specs;
pub mod strings;

use crate::cmd::Handler;

/// Every handler, by command name (`parent|sub` for subcommands).
pub fn handlers() -> Vec<(&'static str, Handler)> {
    let mut v = Vec::new();
    v.extend_from_slice(config::COMMANDS);
    v.extend_from_slice(connection::COMMANDS);
    v.extend_from_slice(keys::COMMANDS);
    v.extend_from_slice(server::COMMANDS);
    v.extend_from_slice(strings::COMMANDS);
    v
}
