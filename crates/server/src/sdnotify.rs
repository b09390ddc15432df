//! `supervised systemd`: readiness and state reported to systemd through
//! `$NOTIFY_SOCKET` (the sd_notify protocol: one datagram of
//! `NAME=value` lines on a unix socket), for units with `Type=notify`.
//!
//! As Redis 7.0 does: a master says `READY=1` once its data is loaded; a
//! replica first says it waits for its master and says `READY=1` only
//! when the link is up and synced, so units ordered after it start
//! against a replica that has data; shutdown says `STOPPING=1`.
//!
//! Written by hand instead of with libsystemd: the protocol is one
//! `sendto` on a datagram socket, and a missing or dead socket must never
//! affect the server.

use crate::config::Directive;
use crate::server::Server;
use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

/// Whether to talk to systemd: `supervised systemd`, or `supervised auto`
/// with `$NOTIFY_SOCKET` set (the way Redis resolves `auto`).
pub fn enabled(srv: &Server) -> bool {
    match srv.config.get_str(Directive::Supervised).as_str() {
        "systemd" => true,
        "auto" => std::env::var_os("NOTIFY_SOCKET").is_some(),
        _ => false,
    }
}

/// Sends `msg` (newline-separated `NAME=value` lines) to `$NOTIFY_SOCKET`.
/// Returns false when there is no socket or the send failed.
pub fn notify(msg: &str) -> bool {
    use std::os::unix::net::{SocketAddr, UnixDatagram};
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        return false;
    };
    let path = path.to_string_lossy().into_owned();
    let Ok(sock) = UnixDatagram::unbound() else {
        return false;
    };
    // `@name` is a Linux abstract-namespace socket.
    let addr = match path.strip_prefix('@') {
        Some(name) => {
            use std::os::linux::net::SocketAddrExt;
            SocketAddr::from_abstract_name(name.as_bytes())
        }
        None => SocketAddr::from_pathname(&path),
    };
    match addr {
        Ok(a) => sock.send_to_addr(msg.as_bytes(), &a).is_ok(),
        Err(_) => false,
    }
}

/// Called once the dataset is loaded: a master is ready now; a replica
/// once its link to the master is up.
pub fn after_load(srv: Rc<RefCell<Server>>) {
    if !enabled(&srv.borrow()) {
        return;
    }
    crate::log_notice!("supervised by systemd. Please make sure you set appropriate values for TimeoutStartSec and TimeoutStopSec in your service unit.");
    if srv.borrow().repl.master.is_none() {
        notify("STATUS=Ready to accept connections\nREADY=1\n");
        return;
    }
    notify("STATUS=Ready to accept connections in read-only mode. Waiting for MASTER <-> REPLICA sync\n");
    tokio::task::spawn_local(async move {
        loop {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let s = srv.borrow();
            let up = match &s.repl.master {
                Some(m) => m.state == crate::replication::replica::LinkState::Connected,
                // Promoted before the first sync finished: a master is ready.
                None => true,
            };
            if up {
                notify("READY=1\n");
                return;
            }
        }
    });
}

/// Called once a mode without a dataset (Sentinel) listens: ready now.
pub fn mode_ready(srv: &Server) {
    if enabled(srv) {
        notify("STATUS=Ready to accept connections\nREADY=1\n");
    }
}

/// Called before the dataset is loaded.
pub fn loading(srv: &Server) {
    if enabled(srv) {
        notify("STATUS=Redoubt is loading...\n");
    }
}

/// Called when shutdown starts.
pub fn stopping(srv: &Server) {
    if enabled(srv) {
        notify("STOPPING=1\n");
    }
}
