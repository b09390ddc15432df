//! The server's listeners — TCP (plain and TLS) and the `unixsocket` —
//! and their accept loops. They belong to the server state because
//! `CONFIG SET port`/`bind`/`tls-port` replace them at run time; start-up
//! opens the first ones.

use crate::server::Server;
use crate::{log_notice, log_warning};
use std::cell::RefCell;
use std::rc::{Rc, Weak};
use std::time::Duration;
use tokio::net::TcpListener;

/// The TCP listeners of a running server, replaceable at run time by
/// `CONFIG SET port` / `CONFIG SET bind` as in Redis.
///
/// The server holds the only strong reference to each socket; its accept
/// loop upgrades a weak one for each poll only. Dropping the `Rc` thus
/// closes the socket at once, so the port is free again before the new
/// addresses are bound — the order Redis uses, which lets a `bind` change
/// on the same port succeed.
/// A listening socket could not be opened (already logged, as Redis logs
/// it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BindFailed;

#[derive(Default)]
pub struct Listeners {
    /// False in in-process test kits, which have no sockets: there a port
    /// or bind change only updates the configuration.
    pub active: bool,
    pub backlog: i32,
    open: Vec<Rc<TcpListener>>,
    /// The `tls-port` sockets, on the same `bind` addresses.
    tls_open: Vec<Rc<TcpListener>>,
    /// Sockets bound by a CONFIG SET, waiting for their accept loop, and
    /// whether they serve TLS.
    pending: Vec<(Weak<TcpListener>, bool)>,
    started: Rc<tokio::sync::Notify>,
    /// The `unixsocket` path while its socket is open (removed at exit).
    pub unix_path: Option<std::path::PathBuf>,
}

impl Listeners {
    /// Closes every listening socket now, so connection attempts are
    /// refused before the process exits (Redis closes its listeners
    /// first when it shuts down). Only for an exit that does not return.
    /// The plain TCP listening sockets (a busy script accepts on them).
    pub fn plain_fds(&self) -> Vec<i32> {
        use std::os::fd::AsRawFd;
        self.open.iter().map(|l| l.as_raw_fd()).collect()
    }

    pub fn close_for_exit(&self) {
        use std::os::fd::AsRawFd;
        for l in self.open.iter().chain(&self.tls_open) {
            // SAFETY: the process exits right after; the sockets are
            // never used (or closed) again.
            unsafe { libc::close(l.as_raw_fd()) };
        }
    }

    /// Binds `port` on every `bind` address (a `-` prefix marks one that
    /// may fail). Logs as Redis does; on failure nothing stays open.
    pub fn bind_all(
        bind: &[String],
        port: u16,
        backlog: i32,
    ) -> Result<Vec<Rc<TcpListener>>, BindFailed> {
        let mut out = Vec::new();
        if port == 0 {
            return Ok(out);
        }
        for (addr, optional) in crate::net::bind_addrs(bind, port) {
            let addr = match addr {
                Ok(addr) => addr,
                Err(e) => {
                    log_warning!("Warning: Could not create server TCP listening socket {e}");
                    return Err(BindFailed);
                }
            };
            match crate::net::listen(addr, backlog) {
                Ok(l) => out.push(Rc::new(l)),
                Err(e) if optional => {
                    log_notice!("Could not create server TCP listening socket {addr}: {e} (optional, skipped)");
                }
                Err(e) => {
                    log_warning!(
                        "Warning: Could not create server TCP listening socket {addr}: bind: {e}"
                    );
                    return Err(BindFailed);
                }
            }
        }
        Ok(out)
    }

    /// Closes every TCP listener (at shutdown, so a restart can bind at
    /// once).
    pub fn close_all(&mut self) {
        self.open.clear();
        self.tls_open.clear();
        self.pending.clear();
    }

    /// Takes the sockets bound at start-up and hands them to their accept
    /// loops (started by [`accept_new_listeners`]).
    pub fn open_at_start(
        &mut self,
        open: Vec<Rc<TcpListener>>,
        tls_open: Vec<Rc<TcpListener>>,
        backlog: i32,
    ) {
        self.active = true;
        self.backlog = backlog;
        self.open = open;
        self.tls_open = tls_open;
        self.pending = self
            .open
            .iter()
            .map(|l| (Rc::downgrade(l), false))
            .collect();
        self.pending
            .extend(self.tls_open.iter().map(|l| (Rc::downgrade(l), true)));
        self.started.notify_one();
    }

    /// Closes the current sockets and listens on `port` at `bind`
    /// instead. When that fails, listens at `old` again and returns false.
    pub fn rebind(&mut self, bind: &[String], port: u16, old: (&[String], u16)) -> bool {
        self.rebind_kind(false, bind, port, old)
    }

    /// As [`Listeners::rebind`], for the `tls-port` sockets.
    pub fn rebind_tls(&mut self, bind: &[String], port: u16, old: (&[String], u16)) -> bool {
        self.rebind_kind(true, bind, port, old)
    }

    fn rebind_kind(
        &mut self,
        tls: bool,
        bind: &[String],
        port: u16,
        old: (&[String], u16),
    ) -> bool {
        let backlog = self.backlog;
        let open = if tls {
            &mut self.tls_open
        } else {
            &mut self.open
        };
        open.clear();
        let result = match Listeners::bind_all(bind, port, backlog) {
            Ok(ls) => {
                *open = ls;
                true
            }
            Err(BindFailed) => {
                *open = Listeners::bind_all(old.0, old.1, backlog).unwrap_or_default();
                false
            }
        };
        // Extended, not replaced: one CONFIG SET may rebind both kinds.
        let new: Vec<_> = open.iter().map(|l| (Rc::downgrade(l), tls)).collect();
        self.pending.extend(new);
        self.started.notify_one();
        result
    }
}

/// Accepts connections while the server still holds the socket. A TLS
/// listener hands each connection the TLS material current at accept
/// time, so a `CONFIG SET tls-cert-file` applies to new connections.
async fn accept_loop(srv: Rc<RefCell<Server>>, listener: Weak<TcpListener>, tls: bool) {
    loop {
        let accepted = std::future::poll_fn(|cx| match listener.upgrade() {
            Some(l) => l.poll_accept(cx).map(Some),
            None => std::task::Poll::Ready(None),
        })
        .await;
        match accepted {
            None => return,
            Some(Ok((stream, peer))) if !tls => {
                crate::net::start_connection(&srv, stream, peer);
            }
            Some(Ok((stream, peer))) => {
                let acceptor = srv.borrow().tls.as_ref().map(|t| t.acceptor.clone());
                // No material (cannot happen while tls-port is set: CONFIG
                // SET refuses a TLS configuration that does not build).
                let Some(acceptor) = acceptor else { continue };
                let srv = srv.clone();
                tokio::task::spawn_local(crate::net::handle_tls_connection(
                    srv, stream, peer, acceptor,
                ));
            }
            Some(Err(e)) => {
                log_warning!("Accepting client connection: {e}");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

/// Starts an accept loop for each socket bound by a `CONFIG SET`.
pub async fn accept_new_listeners(srv: Rc<RefCell<Server>>) {
    let started = srv.borrow().listeners.started.clone();
    loop {
        started.notified().await;
        let pending = std::mem::take(&mut srv.borrow_mut().listeners.pending);
        for (l, tls) in pending {
            tokio::task::spawn_local(accept_loop(srv.clone(), l, tls));
        }
    }
}

/// Opens the `unixsocket` listener as Redis does: a stale file is removed
/// first, the socket gets `unixsocketperm` (when not 0) and the
/// configured backlog. The error is Redis's start-up message.
pub fn open_unix(
    path: &str,
    perm: u32,
    backlog: i32,
) -> Result<std::os::unix::net::UnixListener, String> {
    use std::os::unix::fs::PermissionsExt;
    // sockaddr_un holds 107 bytes of path and the terminating zero.
    if path.len() > 107 {
        return Err(format!(
            "Failed opening Unix socket: unix socket path too long ({}), must be under 108",
            path.len()
        ));
    }
    let _ = std::fs::remove_file(path);
    let sock = socket2::Socket::new(socket2::Domain::UNIX, socket2::Type::STREAM, None)
        .map_err(|e| format!("Failed opening Unix socket: socket: {e}"))?;
    let addr =
        socket2::SockAddr::unix(path).map_err(|e| format!("Failed opening Unix socket: {e}"))?;
    sock.bind(&addr).map_err(|e| {
        format!(
            "Failed opening Unix socket: bind: {}",
            crate::config::strerror(&e)
        )
    })?;
    if perm != 0 {
        let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(perm));
    }
    sock.listen(backlog).map_err(|e| {
        format!(
            "Failed opening Unix socket: listen: {}",
            crate::config::strerror(&e)
        )
    })?;
    sock.set_nonblocking(true)
        .map_err(|e| format!("Failed opening Unix socket: {e}"))?;
    Ok(sock.into())
}

/// Accepts connections on the `unixsocket` listener for as long as the
/// server runs.
pub async fn accept_unix_loop(srv: Rc<RefCell<Server>>, listener: tokio::net::UnixListener) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                tokio::task::spawn_local(crate::net::handle_unix_connection(srv.clone(), stream));
            }
            Err(e) => {
                log_warning!("Accepting client connection: {e}");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}
