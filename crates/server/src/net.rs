//! Listeners and connections.
//!
//! Each connection is a task on the executor's single-threaded runtime. Per
//! event-loop turn it reads what the socket has, parses and executes every
//! complete request in the buffer (pipelining), then writes all replies in
//! one go. The server is borrowed only between awaits, so commands run one
//! at a time, in arrival order, without locks.

use crate::client::{Client, ReplyMode};
use crate::cmd::{self, Flow};
use crate::config::Directive;
use crate::server::Server;
use crate::{log_verbose, log_warning};
use command_meta::Argv;
use resp::{parse_request, Limits, Parsed, Request};
use std::cell::RefCell;
use std::future::Future;
use std::net::SocketAddr;
use std::rc::Rc;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The socket addresses of the `bind` list for `port`, in order, each with
/// whether it may fail (a `-` prefix). As Redis: `*` is every IPv4
/// address, `::*` every IPv6 one, an address with a `:` is IPv6, and a
/// host name takes the first address the resolver gives for its family.
/// An address that does not resolve is an error (named in the text).
pub fn bind_addrs(bind: &[String], port: u16) -> Vec<(Result<SocketAddr, String>, bool)> {
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, ToSocketAddrs};
    bind.iter()
        .map(|b| {
            let (optional, a) = match b.strip_prefix('-') {
                Some(rest) => (true, rest),
                None => (false, b.as_str()),
            };
            let ip: Result<IpAddr, String> = match a {
                "*" => Ok(Ipv4Addr::UNSPECIFIED.into()),
                "::*" => Ok(Ipv6Addr::UNSPECIFIED.into()),
                other => other.parse().or_else(|_| {
                    let v6 = other.contains(':');
                    (other, port)
                        .to_socket_addrs()
                        .ok()
                        .and_then(|mut it| it.find(|sa| sa.is_ipv6() == v6))
                        .map(|sa| sa.ip())
                        .ok_or_else(|| format!("{other}:{port}: Name or service not known"))
                }),
            };
            (ip.map(|ip| SocketAddr::new(ip, port)), optional)
        })
        .collect()
}

/// Opens a listening socket with the configured backlog.
pub fn listen(addr: SocketAddr, backlog: i32) -> std::io::Result<TcpListener> {
    let domain = socket2::Domain::for_address(addr);
    let sock = socket2::Socket::new(domain, socket2::Type::STREAM, Some(socket2::Protocol::TCP))?;
    sock.set_reuse_address(true)?;
    if addr.is_ipv6() {
        sock.set_only_v6(true)?;
    }
    sock.set_nonblocking(true)?;
    crate::sockets::mark_listener(&sock);
    sock.bind(&addr.into())?;
    sock.listen(backlog)?;
    TcpListener::from_std(sock.into())
}

/// Socket options every accepted connection gets, and the local address
/// and descriptor `CLIENT LIST` shows (taken before a TLS wrapper hides
/// the socket).
fn prepare_socket(srv: &Rc<RefCell<Server>>, stream: &TcpStream) -> (Option<SocketAddr>, i32) {
    use std::os::fd::AsRawFd;
    let keepalive = srv.borrow().config.get_int(Directive::TcpKeepalive);
    tune_socket(socket2::SockRef::from(stream), keepalive);
    (stream.local_addr().ok(), stream.as_raw_fd())
}

/// No Nagle delay, and `tcp-keepalive` seconds: lets the kernel detect
/// dead peers (Redis sets the idle time and derives the probe interval
/// from it).
fn tune_socket(sock: socket2::SockRef, keepalive: i64) {
    let _ = sock.set_nodelay(true);
    if keepalive > 0 {
        let secs = std::time::Duration::from_secs(keepalive as u64);
        let ka = socket2::TcpKeepalive::new()
            .with_time(secs)
            .with_interval((secs / 3).max(std::time::Duration::from_secs(1)))
            .with_retries(3);
        let _ = sock.set_tcp_keepalive(&ka);
    }
}

/// Takes a connection accepted on a plain TCP listener: the client is
/// registered at once, as Redis's accept handler does (so a script that
/// turns busy before the connection's task first runs still answers it,
/// see `scripting::busy`), then its task serves it. A refused connection
/// (protected mode, `maxclients`) gets the reason and is closed.
pub fn start_connection(srv: &Rc<RefCell<Server>>, mut stream: TcpStream, peer: SocketAddr) {
    let (laddr, fd) = prepare_socket(srv, &stream);
    let registered = register_tcp(&mut srv.borrow_mut(), peer, laddr, fd);
    match registered {
        Ok(client) => {
            tokio::task::spawn_local(serve_client(srv.clone(), stream, client));
        }
        Err(msg) => {
            tokio::task::spawn_local(async move {
                let _ = stream.write_all(msg.as_bytes()).await;
                let _ = stream.flush().await;
            });
        }
    }
}

/// Registers the client of a plain TCP connection, or says why it is
/// refused (protected mode: with no password on the default user, only
/// the loopback addresses may connect; `maxclients`).
fn register_tcp(
    srv: &mut Server,
    peer: SocketAddr,
    laddr: Option<SocketAddr>,
    fd: i32,
) -> Result<Rc<RefCell<crate::client::Client>>, String> {
    let protected = srv.config.get_bool(Directive::ProtectedMode)
        && srv.acl.default.borrow().nopass
        && !is_local(peer);
    if protected {
        srv.stats.rejected_connections += 1;
        return Err(crate::errors::PROTECTED_MODE_DENIED.to_string());
    }
    if srv.clients.len() >= srv.maxclients {
        srv.stats.rejected_connections += 1;
        return Err(format!("-{}\r\n", crate::errors::MAX_CLIENTS));
    }
    let client = srv.new_client();
    {
        let mut c = client.borrow_mut();
        c.addr = Some(peer);
        c.laddr = laddr;
        c.fd = fd;
        // Its task has not run yet: a busy script may serve it.
        c.io_idle = true;
    }
    log_verbose!("Accepted {peer}");
    Ok(client)
}

/// Protected mode: with no password on the default user, only the
/// loopback addresses (exactly 127.0.0.1 and ::1, as Redis compares them)
/// may connect; others get the explanation and are closed.
fn refused_by_protected_mode(srv: &Rc<RefCell<Server>>, peer: SocketAddr) -> bool {
    let refused = {
        let s = srv.borrow();
        s.config.get_bool(Directive::ProtectedMode)
            && s.acl.default.borrow().nopass
            && !is_local(peer)
    };
    if refused {
        srv.borrow_mut().stats.rejected_connections += 1;
    }
    refused
}

/// How long a `tls-port` peer may take to complete its handshake before
/// the connection is dropped, so half-open handshakes cannot pile up.
const TLS_HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Serves a connection accepted on a `tls-port` listener: the handshake
/// first (with the TLS material current at accept time), then the same
/// loop as plain connections, monomorphised for the TLS stream.
pub async fn handle_tls_connection(
    srv: Rc<RefCell<Server>>,
    stream: TcpStream,
    peer: SocketAddr,
    acceptor: tokio_rustls::TlsAcceptor,
) {
    let (laddr, fd) = prepare_socket(&srv, &stream);
    match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
        Ok(Ok(mut tls)) => {
            if refused_by_protected_mode(&srv, peer) {
                let _ = tls
                    .write_all(crate::errors::PROTECTED_MODE_DENIED.as_bytes())
                    .await;
                return;
            }
            serve(srv, tls, Some(peer), laddr, fd, true).await
        }
        // Redis logs refused handshakes (no client certificate, unknown
        // CA, plain text on the TLS port) at warning level, as here.
        Ok(Err(e)) => log_warning!("Error accepting a client connection: {e} (addr={peer})"),
        Err(_) => log_verbose!("TLS handshake timed out: addr={peer}"),
    }
}

/// An outgoing link (replica to master, Sentinel to an instance): plain
/// TCP, or TLS over it. The enum keeps the replica link's code single
/// while costing one branch per I/O call on a link that is not the
/// server's request path.
pub enum OutStream {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl OutStream {
    /// The TCP socket under the stream (addresses, socket options).
    pub fn tcp(&self) -> &TcpStream {
        match self {
            OutStream::Plain(s) => s,
            OutStream::Tls(s) => s.get_ref().0,
        }
    }

    pub fn is_tls(&self) -> bool {
        matches!(self, OutStream::Tls(_))
    }
}

impl tokio::io::AsyncRead for OutStream {
    fn poll_read(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        match self.get_mut() {
            OutStream::Plain(s) => std::pin::Pin::new(s).poll_read(cx, buf),
            OutStream::Tls(s) => std::pin::Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl tokio::io::AsyncWrite for OutStream {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        match self.get_mut() {
            OutStream::Plain(s) => std::pin::Pin::new(s).poll_write(cx, buf),
            OutStream::Tls(s) => std::pin::Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        match self.get_mut() {
            OutStream::Plain(s) => std::pin::Pin::new(s).poll_flush(cx),
            OutStream::Tls(s) => std::pin::Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        match self.get_mut() {
            OutStream::Plain(s) => std::pin::Pin::new(s).poll_shutdown(cx),
            OutStream::Tls(s) => std::pin::Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// Opens an outgoing link to `host:port` with TCP_NODELAY, wrapped in TLS
/// when `tls` is given (the peer's chain is checked against the
/// configured CAs, not its host name, as Redis does; our client
/// certificate is presented). The caller bounds the time with its own
/// timeout. Take `tls` from `Server::tls` (current material) or build one
/// with `tls::configure`.
pub async fn connect_out(
    host: &str,
    port: u16,
    tls: Option<&crate::tls::TlsContext>,
) -> std::io::Result<OutStream> {
    // From `bind-source-addr`, when set.
    let stream = crate::sockets::connect(host, port).await?;
    let _ = stream.set_nodelay(true);
    let Some(tls) = tls else {
        return Ok(OutStream::Plain(stream));
    };
    let name = rustls::pki_types::ServerName::try_from(host.to_string())
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    let s = tls.connector.connect(name, stream).await?;
    Ok(OutStream::Tls(Box::new(s)))
}

/// One class of `client-output-buffer-limit`: 0 disables a limit.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ClassLimit {
    pub hard: usize,
    pub soft: usize,
    pub soft_secs: i64,
}

/// The output-buffer limits of normal and Pub/Sub clients (replicas have
/// theirs in `replication::master`, measured on the replication stream).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct OutputLimits {
    pub normal: ClassLimit,
    pub pubsub: ClassLimit,
}

impl OutputLimits {
    pub fn from_config(config: &crate::config::Config) -> OutputLimits {
        let v = config.get_str(Directive::ClientOutputBufferLimit);
        let w: Vec<&str> = v.split_whitespace().collect();
        let class = |name: &str| {
            let Some(c) = w.chunks(4).find(|c| c.first() == Some(&name)) else {
                return ClassLimit::default();
            };
            let num = |i: usize| c.get(i).and_then(|h| h.parse::<u64>().ok()).unwrap_or(0);
            ClassLimit {
                hard: num(1) as usize,
                soft: num(2) as usize,
                soft_secs: num(3) as i64,
            }
        };
        OutputLimits {
            normal: class("normal"),
            pubsub: class("pubsub"),
        }
    }
}

/// Whether `c`'s queued output passed its class's limit: at or over the
/// hard limit, or over the soft one for longer than its seconds (Redis's
/// `checkClientOutputBufferLimits`). Like Redis, the limits compare the
/// reply list (`omem`), not the reply buffer in front of it. Such a
/// client is closed without being sent what is queued, so a slow reader
/// cannot grow the server's memory without bound.
pub fn output_over_limit(
    limits: &OutputLimits,
    c: &mut Client,
    now_ms: i64,
    auth_required: bool,
) -> bool {
    // A client that has not authenticated (where it must) may hold no
    // more than 1 KB of replies: it cannot make the server buffer its
    // NOAUTH errors without reading them (Redis's limit).
    if auth_required && !c.authenticated && c.pending_output() > 1024 {
        return true;
    }
    let class = match c.kind {
        // Measured on the replication stream (`replication::master`); a
        // master link's replies are dropped.
        crate::client::Kind::Replica | crate::client::Kind::Master => return false,
        _ if c.subs.is_subscribed() => limits.pubsub,
        _ => limits.normal,
    };
    let (_, _, used) = crate::client_buffers::output_split(c);
    let hard = class.hard > 0 && used >= class.hard;
    let soft = class.soft > 0 && used >= class.soft;
    if !soft {
        c.obuf_soft_since_ms = 0;
        return hard;
    }
    if c.obuf_soft_since_ms == 0 {
        c.obuf_soft_since_ms = now_ms;
    }
    hard || now_ms - c.obuf_soft_since_ms > class.soft_secs * 1000
}

/// After writing into another client's output (Pub/Sub, MONITOR,
/// tracking; the clients cron): closes it when that passed its class's
/// limit, or else accounts its memory anew. True when it was closed.
pub fn enforce_output_limit(srv: &mut Server, c: &mut Client) -> bool {
    if !c.killed && output_over_limit(&srv.obuf_limits, c, srv.now_ms, srv.auth_required()) {
        close_for_output_limit(srv, c);
        return true;
    }
    crate::client_memory::update(srv, c);
    false
}

/// Logs and schedules the close of a client over its output limit. Its
/// memory leaves the clients' totals at once, so client eviction does not
/// pick another client to pay for output that is being dropped anyway.
pub fn close_for_output_limit(srv: &mut Server, c: &mut Client) {
    let mut info = String::new();
    crate::clients::describe(srv, c, None, &mut info);
    log_warning!(
        "Client {} scheduled to be closed ASAP for overcoming of output buffer limits.",
        info.trim_end()
    );
    c.discard_output();
    crate::clients::close_now(srv, c);
}

/// A replica (after SYNC/PSYNC) sent a command whose reply would go down
/// the replication link, where it would be taken for stream data. As
/// Redis does, the error it got (if any) is logged as CRITICAL, the
/// attempt is logged with the client, and the link is closed; the reply
/// is never sent.
fn reply_on_replica_link(srv: &mut Server, c: &mut Client, mark: usize) {
    let name = c.last_cmd;
    let mut info = String::new();
    crate::clients::describe(srv, c, None, &mut info);
    log_warning!(
        "Replica generated a reply to command '{name}', disconnecting it: {}",
        info.trim_end()
    );
    let reply = c.out.buf.split_off(mark.min(c.out.buf.len()));
    cmd::error_to_master(srv, cmd::ErrorTo::Replica, &reply, name);
    c.discard_output();
    crate::clients::close_now(srv, c);
}

/// Serves a connection accepted on the `unixsocket` listener: always
/// local (protected mode does not apply), shown as Redis shows it
/// (`addr=/unixsocket:0`).
pub async fn handle_unix_connection(srv: Rc<RefCell<Server>>, stream: tokio::net::UnixStream) {
    use std::os::fd::AsRawFd;
    let fd = stream.as_raw_fd();
    serve(srv, stream, None, None, fd, false).await;
}

/// The connection loop, for any stream: monomorphised per stream type, so
/// plain TCP pays nothing for TLS existing. `peer` is None for a Unix
/// socket.
async fn serve<S>(
    srv: Rc<RefCell<Server>>,
    mut stream: S,
    peer: Option<SocketAddr>,
    laddr: Option<SocketAddr>,
    fd: i32,
    tls: bool,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let client = {
        let mut s = srv.borrow_mut();
        if s.clients.len() >= s.maxclients {
            s.stats.rejected_connections += 1;
            None
        } else {
            Some(s.new_client())
        }
    };
    let Some(client) = client else {
        let msg = format!("-{}\r\n", crate::errors::MAX_CLIENTS);
        let _ = stream.write_all(msg.as_bytes()).await;
        let _ = stream.flush().await;
        return;
    };
    {
        let mut cb = client.borrow_mut();
        cb.addr = peer;
        cb.unix_socket = peer.is_none();
        cb.laddr = laddr;
        cb.fd = fd;
        cb.tls = tls;
    }
    match peer {
        Some(p) => log_verbose!("Accepted {p}"),
        None => log_verbose!(
            "Accepted connection to {}",
            srv.borrow().config.get_str(Directive::Unixsocket)
        ),
    }
    serve_client(srv, stream, client).await;
}

/// Accepts the connections waiting on the plain TCP listeners while a
/// script is busy, as Redis's event loop does then: each gets its client
/// registered at once (so the busy script's event loop answers it, with
/// `-BUSY` for most commands) and waits in `Scripting::adopted` for its
/// task, started when the script ends. Protected mode and `maxclients`
/// apply as at any accept. TLS and Unix-socket connections wait in their
/// listen queues until the script ends.
pub fn accept_while_busy(srv: &mut Server) {
    use std::os::fd::FromRawFd;
    for lfd in srv.listeners.plain_fds() {
        loop {
            // SAFETY: a non-blocking accept on our own listening socket;
            // the address buffer is ours and sized for any address.
            let (fd, peer) = unsafe {
                let mut addr: libc::sockaddr_storage = std::mem::zeroed();
                let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
                let fd = libc::accept4(
                    lfd,
                    &mut addr as *mut _ as *mut libc::sockaddr,
                    &mut len,
                    libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                );
                if fd < 0 {
                    break;
                }
                let peer = socket2::SockAddr::new(addr, len).as_socket();
                (fd, peer)
            };
            // SAFETY: `fd` was just accepted and is owned by this stream.
            let mut stream = unsafe { std::net::TcpStream::from_raw_fd(fd) };
            let Some(peer) = peer else { continue };
            tune_socket(
                socket2::SockRef::from(&stream),
                srv.config.get_int(Directive::TcpKeepalive),
            );
            let laddr = stream.local_addr().ok();
            let client = match register_tcp(srv, peer, laddr, fd) {
                Ok(c) => c,
                Err(msg) => {
                    use std::io::Write;
                    let _ = stream.write_all(msg.as_bytes());
                    continue;
                }
            };
            srv.scripting.adopted.push((stream, client));
        }
    }
}

/// Starts the tasks of the connections accepted while a script was busy,
/// each time one ends (see [`accept_while_busy`]).
pub async fn adopt_task(srv: Rc<RefCell<Server>>) {
    let notify = srv.borrow().scripting.adopt_notify.clone();
    loop {
        notify.notified().await;
        let adopted = std::mem::take(&mut srv.borrow_mut().scripting.adopted);
        for (stream, client) in adopted {
            match TcpStream::from_std(stream) {
                Ok(s) => {
                    tokio::task::spawn_local(serve_adopted(srv.clone(), s, client));
                }
                Err(e) => {
                    log_warning!("Accepting client connection: {e}");
                    let id = client.borrow().id;
                    srv.borrow_mut().remove_client(id);
                }
            }
        }
    }
}

/// Serves a plain TCP connection accepted while a script was busy: its
/// client was registered then (so the busy script's event loop could
/// answer it), and its task starts once the script ends.
pub async fn serve_adopted(
    srv: Rc<RefCell<Server>>,
    stream: TcpStream,
    client: Rc<RefCell<crate::client::Client>>,
) {
    serve_client(srv, stream, client).await;
}

/// The connection loop of a registered client.
async fn serve_client<S>(
    srv: Rc<RefCell<Server>>,
    mut stream: S,
    client: Rc<RefCell<crate::client::Client>>,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let id = client.borrow().id;
    let shown = client.borrow().peer_id();
    let wake = client.borrow().wake.clone();
    let unpause = srv.borrow().pause_notify.clone();
    let mut req = Request::default();
    let mut conn = ConnState {
        process: false,
        close_after: None,
        allowance: 0,
        barrier: None,
        flush: false,
    };
    'conn: loop {
        // Run what the query buffer holds, then decide what to wait for.
        let wait = {
            let mut s = srv.borrow_mut();
            let mut c = client.borrow_mut();
            match turn(&mut s, &mut c, &mut req, &mut conn) {
                Some(w) => w,
                None => break 'conn,
            }
        };
        let timer =
            tokio::time::sleep(std::time::Duration::from_millis(wait.timer_ms.unwrap_or(0)));
        let barrier_rx = conn.barrier.as_mut().map(|(rx, need, _)| (rx, *need));
        let barrier = async move {
            match barrier_rx {
                Some((rx, need)) => {
                    let _ = rx.wait_for(|&v| v >= need).await;
                }
                None => std::future::pending().await,
            }
        };
        let (allowance, flush) = (conn.allowance, conn.flush);
        // Waiting: a busy script may serve this connection meanwhile
        // (`scripting::busy`).
        client.borrow_mut().io_idle = true;
        let io = std::future::poll_fn(|cx| {
            poll_io(&mut stream, &client, cx, wait.read, allowance, flush)
        });
        let event = tokio::select! {
            biased;
            _ = wake.notified() => Event::Woken,
            ev = io => ev,
            _ = barrier => Event::BarrierPassed,
            _ = timer, if wait.timer_ms.is_some() => Event::Woken,
            _ = unpause.notified(), if wait.paused => Event::Woken,
        };
        let mut s = srv.borrow_mut();
        let mut c = client.borrow_mut();
        c.io_idle = false;
        match event {
            Event::Woken => conn.process = true,
            Event::BarrierPassed => {
                if let Some((_, _, covered)) = conn.barrier.take() {
                    conn.allowance = covered;
                }
            }
            Event::Read(Ok(0)) | Event::Read(Err(_)) | Event::Wrote(Err(_)) => break 'conn,
            Event::Read(Ok(n)) => {
                s.stats.net_input_bytes += n as u64;
                s.stats.total_reads_processed += 1;
                crate::client_buffers::note_read(&mut c);
                // Reading is interaction (Redis's `lastinteraction`): a
                // client sending a big argument slowly is not idle.
                c.last_interaction_ms = s.now_ms;
                conn.process = true;
                // What waits unparsed behind a blocked or paused client is
                // bounded as usual.
                if (c.blocked.is_some() || c.paused)
                    && c.querybuf.len() > s.client_query_buffer_limit
                {
                    log_warning!(
                        "Closing blocked client that reached max query buffer length: id={id}"
                    );
                    break 'conn;
                }
            }
            Event::Wrote(Ok(n)) => {
                // Replication traffic is counted apart, as Redis 7.0 does.
                if c.kind == crate::client::Kind::Replica {
                    s.stats.net_repl_output_bytes += n as u64;
                } else {
                    s.stats.net_output_bytes += n as u64;
                }
                s.stats.total_writes_processed += 1;
                conn.allowance = conn.allowance.saturating_sub(n);
                if let Some(left) = conn.close_after.as_mut() {
                    *left = left.saturating_sub(n);
                }
                conn.flush = true;
            }
            Event::Flushed(r) => {
                conn.flush = false;
                if r.is_err() {
                    break 'conn;
                }
            }
        }
        if c.pending_output() == 0 {
            let streaming = c.kind == crate::client::Kind::Replica && s.repl.stream_pending(c.id);
            crate::client_buffers::after_output_written(&mut c, streaming);
        }
    }
    srv.borrow_mut().remove_client(id);
    log_verbose!("Client closed connection id={id} addr={shown}");
}

/// What the connection loop carries between turns besides the client.
struct ConnState {
    /// Something may be runnable: bytes arrived, or the client was woken
    /// (served while blocked, a pause ended, output queued by others).
    process: bool,
    /// `Flow::CloseAfterReply`: bytes still to write before closing.
    close_after: Option<usize>,
    /// Output bytes that may be written now (the AOF barrier passed).
    allowance: usize,
    /// With the AOF on, replies wait until what ran before them is
    /// written: the writer's offset to wait for, and how many output
    /// bytes that covers.
    barrier: Option<(tokio::sync::watch::Receiver<u64>, u64, usize)>,
    /// Written since the last flush (a TLS stream may hold records back).
    flush: bool,
}

/// What a turn asks the loop to wait for besides wake-ups and I/O.
struct Wait {
    read: bool,
    /// A blocked command's timeout, or the end of a `CLIENT PAUSE`.
    timer_ms: Option<u64>,
    paused: bool,
}

/// What ended a wait.
enum Event {
    Woken,
    BarrierPassed,
    Read(std::io::Result<usize>),
    Wrote(std::io::Result<usize>),
    Flushed(std::io::Result<()>),
}

/// A request's argument table (ranges) and scratch space are kept across
/// requests up to these sizes.
const KEEP_ARGS: usize = 1024;
const KEEP_SCRATCH: usize = 64 * 1024;

/// One turn of a connection with the server and the client borrowed:
/// runs the requests the query buffer holds (unless the client is
/// blocked or paused), applies `maxmemory-clients`, and works out what to
/// wait for. None when the connection must close.
fn turn(s: &mut Server, c: &mut Client, req: &mut Request, conn: &mut ConnState) -> Option<Wait> {
    if c.killed {
        return None;
    }
    if c.paused && conn.process {
        // Woken (the pause ended, UNPAUSE, or anything else): parse
        // again, which waits anew if the pause still holds.
        crate::clients::end_pause_wait(s, c);
    }
    if c.blocked.is_some() {
        s.refresh_time();
        if crate::blocking::time_out(s, c) {
            conn.process = true;
        }
    }
    if !c.stashed_input.is_empty() {
        // Input a busy script read for us comes before what we read since.
        let stash = std::mem::take(&mut c.stashed_input);
        c.querybuf.splice(0..0, stash);
        conn.process = true;
    }
    if conn.process && conn.close_after.is_none() && c.blocked.is_none() && !c.paused {
        conn.process = false;
        let mut rbuf = c.lend_querybuf();
        let flow = process_buffer(s, c, &mut rbuf, req);
        c.return_querybuf(rbuf);
        if c.killed {
            return None;
        }
        if flow == Flow::CloseAfterReply {
            conn.close_after = Some(c.pending_output());
        }
        // The argument table a request with many arguments grew is given
        // back, as Redis frees a command's argv after it.
        if req.ranges.capacity() > KEEP_ARGS || req.scratch.capacity() > KEEP_SCRATCH {
            *req = Request::default();
        }
    }
    // A connection served during a busy script that must close.
    if c.close_after_reply && conn.close_after.is_none() {
        conn.close_after = Some(c.pending_output());
    }
    // A replica is handed the stream a slice at a time, once what it was
    // handed before is mostly written, so a slow one does not pile it up.
    if c.kind == crate::client::Kind::Replica
        && c.pending_output() < crate::replication::STREAM_SLICE / 2
    {
        s.repl.drain_to(c.id, &mut c.out.buf);
    }
    // Its memory as it stands now; clients over `maxmemory-clients` go
    // (Redis evicts before it sleeps).
    crate::client_memory::update(s, c);
    if crate::client_memory::evict_clients(s, Some(c)) {
        return None;
    }
    let pending = c.pending_output();
    if conn.close_after == Some(0) && !conn.flush {
        return None;
    }
    conn.allowance = conn.allowance.min(pending);
    if pending > 0 && conn.allowance == 0 && conn.barrier.is_none() {
        crate::client_buffers::note_reply_peak(c);
        match s.aof.reply_barrier() {
            None => conn.allowance = pending,
            Some((rx, need)) => conn.barrier = Some((rx, need, pending)),
        }
    }
    let timer_ms = if c.blocked.is_some() {
        crate::blocking::remaining_ms(c, s.now_ms)
    } else if c.paused {
        Some(crate::clients::pause_remaining_ms(s))
    } else {
        None
    };
    Some(Wait {
        read: conn.close_after.is_none(),
        timer_ms,
        paused: c.paused,
    })
}

/// Polls the stream for whatever is due: writing the allowed part of the
/// pending output (straight from the client's buffer, so others may
/// queue more meanwhile), flushing, and reading into the query buffer.
/// The client is borrowed only for the poll, never across an await.
fn poll_io<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    client: &RefCell<Client>,
    cx: &mut std::task::Context<'_>,
    read: bool,
    allowance: usize,
    flush: bool,
) -> std::task::Poll<Event> {
    use std::task::Poll;
    let mut c = client.borrow_mut();
    let n = allowance.min(c.pending_output());
    if n > 0 {
        let from = c.out_sent;
        match std::pin::Pin::new(&mut *stream).poll_write(cx, &c.out.buf[from..from + n]) {
            Poll::Ready(Ok(0)) => {
                return Poll::Ready(Event::Wrote(Err(std::io::ErrorKind::WriteZero.into())))
            }
            Poll::Ready(Ok(w)) => {
                c.out_sent += w;
                crate::client_buffers::compact_output(&mut c);
                return Poll::Ready(Event::Wrote(Ok(w)));
            }
            Poll::Ready(Err(e)) => return Poll::Ready(Event::Wrote(Err(e))),
            Poll::Pending => {}
        }
    } else if flush {
        if let Poll::Ready(r) = std::pin::Pin::new(&mut *stream).poll_flush(cx) {
            return Poll::Ready(Event::Flushed(r));
        }
    }
    if read && c.querybuf.capacity() < crate::client_buffers::IOBUF_LEN {
        // A buffer given back (an idle client, a new one) takes its room
        // only once bytes arrive, as Redis allocates a query buffer when
        // it reads: an idle connection (a stopped replica, say) holds
        // none meanwhile, and what a client holds is what its accounting
        // last saw (`maxmemory` leaves replicas' buffers out).
        let mut tmp = [0u8; crate::client_buffers::IOBUF_LEN];
        let mut rb = tokio::io::ReadBuf::new(&mut tmp);
        return match std::pin::Pin::new(&mut *stream).poll_read(cx, &mut rb) {
            Poll::Ready(Ok(())) => {
                let got = rb.filled();
                if !got.is_empty() {
                    crate::client_buffers::prepare_read(&mut c);
                    c.querybuf.extend_from_slice(got);
                }
                Poll::Ready(Event::Read(Ok(got.len())))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Event::Read(Err(e))),
            Poll::Pending => Poll::Pending,
        };
    }
    if read {
        crate::client_buffers::prepare_read(&mut c);
        let fut = stream.read_buf(&mut c.querybuf);
        let mut fut = std::pin::pin!(fut);
        if let Poll::Ready(r) = fut.as_mut().poll(cx) {
            return Poll::Ready(Event::Read(r));
        }
    }
    Poll::Pending
}

/// How a Unix-socket client's address shows (`CLIENT LIST`, logs): as
/// Redis shows it.
pub const UNIX_ADDR: &str = "/unixsocket:0";

/// Whether a peer counts as local (protected mode, and the `local` value of
/// `enable-debug-command` & co.): Redis compares the address text with
/// "127.0.0.1" and "::1", so 127.0.0.2 is not local.
pub fn is_local(peer: SocketAddr) -> bool {
    match peer.ip() {
        std::net::IpAddr::V4(v4) => v4 == std::net::Ipv4Addr::LOCALHOST,
        std::net::IpAddr::V6(v6) => v6 == std::net::Ipv6Addr::LOCALHOST,
    }
}

/// Parses and executes every complete request in `rbuf`, removing the
/// consumed bytes. Protocol errors reply and ask the caller to close.
/// Afterwards the client's `qbuf`/`argv-mem` say what Redis's would: the
/// complete arguments of a request still arriving count as arguments, the
/// rest as query buffer; a big argument still arriving gets its room.
pub fn process_buffer(
    srv: &mut Server,
    client: &mut Client,
    rbuf: &mut Vec<u8>,
    req: &mut Request,
) -> Flow {
    let mut pos = 0;
    let mut flow = Flow::Continue;
    let mut partial = resp::Partial::default();
    let mut partial_args = 0;
    // While its commands run, the client's query buffer still holds them
    // (CLIENT LIST's `qbuf` counts the running command, as Redis's does).
    client.qbuf = rbuf.len();
    client.qbuf_free = rbuf.capacity() - rbuf.len();
    client.argv_mem = 0;
    while pos < rbuf.len() {
        let limits = Limits {
            max_bulk_len: if client.is_master() {
                i64::MAX
            } else {
                srv.proto_max_bulk_len
            },
            unauthenticated: !client.authenticated,
        };
        match parse_request(&rbuf[pos..], &limits, req) {
            Parsed::Incomplete => {
                partial = req.partial;
                partial_args = req.ranges.iter().map(|(a, b)| b - a).sum();
                break;
            }
            Parsed::Error(e) => {
                let msg = format!("ERR {e}");
                srv.stats.count_error(&msg);
                client.out.error(&msg);
                log_verbose!(
                    "Protocol error ({e}) from client: id={} addr={}",
                    client.id,
                    client.peer_id()
                );
                flow = Flow::CloseAfterReply;
                pos = rbuf.len();
                break;
            }
            Parsed::Complete { consumed } => {
                let base = pos;
                pos += consumed;
                if req.is_empty() {
                    continue;
                }
                let backing = req.backing(&rbuf[base..pos]);
                let argv = Argv::new(backing, &req.ranges);
                if crate::clients::must_wait(srv, client, argv) {
                    crate::clients::start_pause_wait(srv, client);
                    pos = base;
                    break;
                }
                // Redis evicts clients before running a command, so one
                // whose request took it over `maxmemory-clients` does not
                // run it.
                if srv.clients_memory.limit > 0 {
                    crate::client_memory::update(srv, client);
                    if crate::client_memory::evict_clients(srv, Some(client)) {
                        rbuf.clear();
                        return Flow::Continue;
                    }
                }
                let mark = client.out.buf.len();
                // CLIENT REPLY: OFF drops every reply; SKIP drops the next
                // command's (the SKIP itself has none either). Messages
                // (Pub/Sub, tracking) still go out, and a CLIENT REPLY ON
                // run while skipping is answered.
                let was_skip = client.reply_mode == ReplyMode::Skip;
                let silenced = client.reply_mode != ReplyMode::On;
                client.out.track_pushes = silenced;
                let on_replica_link = client.kind == crate::client::Kind::Replica;
                let f = cmd::execute(srv, client, argv);
                // A replica's link carries no replies: a command of its
                // that produced one (anything but REPLCONF ACK) closes it.
                if on_replica_link && client.out.buf.len() > mark {
                    reply_on_replica_link(srv, client, mark);
                    rbuf.clear();
                    return Flow::Continue;
                }
                if client.reply_mode == ReplyMode::Off
                    || (was_skip && client.reply_mode == ReplyMode::Skip)
                {
                    client.out.drop_replies_from(mark);
                } else if silenced {
                    client.out.track_pushes = false;
                    client.out.pushes.clear();
                }
                client.reply_mode = match client.reply_mode {
                    ReplyMode::SkipNext => ReplyMode::Skip,
                    ReplyMode::Skip if was_skip => ReplyMode::On,
                    m => m,
                };
                // Keys this command (or a whole EXEC) filled serve the
                // clients blocked on them, after the command, as in Redis;
                // not while a busy script lets other clients in (the keys
                // it filled are served when it ends).
                if srv.blocking.has_ready() && srv.scripting.running.is_none() {
                    crate::blocking::serve_ready(srv);
                }
                // Over its output limit: closed, and nothing more of its
                // pipeline runs (Redis stops at a CLOSE_ASAP client). Its
                // memory is accounted before its next command (when
                // `maxmemory-clients` is on) and at the end of its turn.
                if output_over_limit(&srv.obuf_limits, client, srv.now_ms, srv.auth_required()) {
                    close_for_output_limit(srv, client);
                    rbuf.clear();
                    return Flow::Continue;
                }
                if f == Flow::CloseAfterReply {
                    flow = f;
                    pos = rbuf.len();
                    break;
                }
                // A client that blocked runs its next requests only once
                // it is served, so its replies stay in order.
                if client.blocked.is_some() {
                    break;
                }
            }
        }
    }
    rbuf.drain(..pos.min(rbuf.len()));
    if flow == Flow::Continue && rbuf.len() > srv.client_query_buffer_limit {
        log_warning!(
            "Closing client that reached max query buffer length: id={} addr={} qbuf={}",
            client.id,
            client.peer_id(),
            rbuf.len()
        );
        rbuf.clear();
        return Flow::CloseAfterReply;
    }
    client.pending_bulk = partial.bulk_len;
    if let Some(len) = partial.bulk_len {
        crate::client_buffers::reserve_big_arg(rbuf, partial.consumed, len);
    }
    client.qbuf = rbuf.len() - partial.consumed.min(rbuf.len());
    client.qbuf_free = rbuf.capacity() - rbuf.len();
    client.argv_mem = partial_args;
    flow
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(spec: &str) -> OutputLimits {
        let mut c = crate::config::Config::new();
        let args: Vec<String> = spec.split(' ').map(str::to_string).collect();
        c.set("client-output-buffer-limit", &args).unwrap();
        OutputLimits::from_config(&c)
    }

    #[test]
    fn classes_come_from_the_directive() {
        let l = limits("normal 10 5 2 pubsub 100 50 60");
        assert_eq!(
            l.normal,
            ClassLimit {
                hard: 10,
                soft: 5,
                soft_secs: 2
            }
        );
        assert_eq!(
            l.pubsub,
            ClassLimit {
                hard: 100,
                soft: 50,
                soft_secs: 60
            }
        );
        // Redis's defaults: no limit for normal clients, 32mb 8mb 60 for Pub/Sub.
        let d = OutputLimits::from_config(&crate::config::Config::new());
        assert_eq!(d.normal, ClassLimit::default());
        assert_eq!(
            d.pubsub,
            ClassLimit {
                hard: 32 << 20,
                soft: 8 << 20,
                soft_secs: 60
            }
        );
    }

    #[test]
    fn hard_at_once_soft_after_its_seconds() {
        // The limits apply to the reply list (`omem`, whole 16 KiB nodes),
        // not to the reply buffer in front of it.
        let l = limits("normal 40000 20000 2");
        let mut c = Client::new(1, 0);
        c.out.buf = vec![0; 16_000];
        assert!(!output_over_limit(&l, &mut c, 1000, false));
        c.out.buf = vec![0; 16_384 + 20_000];
        assert!(!output_over_limit(&l, &mut c, 1000, false));
        assert!(!output_over_limit(&l, &mut c, 3000, false));
        assert!(output_over_limit(&l, &mut c, 3001, false));
        // Back under the soft limit: the clock starts again.
        c.out.buf.truncate(10);
        assert!(!output_over_limit(&l, &mut c, 4000, false));
        c.out.buf = vec![0; 16_384 + 40_000];
        assert!(output_over_limit(&l, &mut c, 4000, false));
        // A replica is measured elsewhere, on its replication stream.
        c.kind = crate::client::Kind::Replica;
        assert!(!output_over_limit(&l, &mut c, 4000, false));
    }
}
