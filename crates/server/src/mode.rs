//! Modes other than the standalone cache server.
//!
//! Sentinel is "a mode of the server" (DESIGN.md): it reuses the listener,
//! the one dispatch path, Pub/Sub, CLIENT and ACL, with its own command
//! table on top. The sentinel crate sits above this one, so it describes
//! itself with a [`Mode`] — static data plus a start hook — that the
//! binary hands to start-up; the server never names the sentinel crate.

use crate::cmd::Handler;
use crate::server::Server;
use command_meta::CommandMeta;
use std::cell::RefCell;
use std::rc::Rc;

/// A bad mode-owned config line: line number, the line, the reason.
pub type LineError = (usize, String, String);

/// A server mode: which commands it serves and how it starts.
pub struct Mode {
    /// As `INFO` prints it in `redis_mode:` and start-up logs it.
    pub name: &'static str,
    /// The log lines' role mark (`X` for Sentinel).
    pub log_role: u8,
    /// Port used when the configuration names none.
    pub default_port: u16,
    /// Top-level commands of the server's own table that stay served.
    pub served: &'static [&'static str],
    /// Metadata of the mode's own commands (added to the table).
    pub specs: &'static [CommandMeta],
    /// Handlers; they win over the server's handlers of the same name.
    pub handlers: &'static [(&'static str, Handler)],
    /// Checks the mode's own configuration lines (`sentinel ...`) before
    /// start-up goes on; returns the line number and reason of the first
    /// bad one, as a config error is reported.
    pub check_config: fn(&crate::config::Config) -> Result<(), LineError>,
    /// Called once the listeners are open, on the server's event loop.
    pub start: fn(&Rc<RefCell<Server>>),
}

impl std::fmt::Debug for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mode").field("name", &self.name).finish()
    }
}
