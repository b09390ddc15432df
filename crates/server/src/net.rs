//! Listeners and connections.
//!
//! Each connection is a task on the executor's single-threaded runtime. Per
//! event-loop turn it reads what the socket has, parses and executes every
//! complete request in the buffer (pipelining), then writes all replies in
//! one go. The server is borrowed only between awaits, so commands run one
//! at a time, in arrival order, without locks.

use crate::client::{Client, ReplyMode};
use crate::cmd::{self, Argv, Flow};
use crate::server::Server;
use crate::{log_verbose, log_warning};
use resp::{parse_request, Limits, Parsed, Request};
use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Read-buffer growth step (Redis's PROTO_IOBUF_LEN).
const IOBUF_LEN: usize = 16 * 1024;

/// Resolves `bind` entries to socket addresses. A leading `-` marks an
/// address that may be unavailable (no error if it cannot be bound).
pub fn bind_addrs(bind: &[String], port: u16) -> Vec<(SocketAddr, bool)> {
    bind.iter()
        .filter_map(|b| {
            let (optional, a) = match b.strip_prefix('-') {
                Some(rest) => (true, rest),
                None => (false, b.as_str()),
            };
            let ip: std::net::IpAddr = match a {
                "*" => std::net::Ipv4Addr::UNSPECIFIED.into(),
                "::*" => std::net::Ipv6Addr::UNSPECIFIED.into(),
                other => other.parse().ok()?,
            };
            Some((SocketAddr::new(ip, port), optional))
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
    sock.bind(&addr.into())?;
    sock.listen(backlog)?;
    TcpListener::from_std(sock.into())
}

pub async fn handle_connection(srv: Rc<RefCell<Server>>, mut stream: TcpStream, peer: SocketAddr) {
    let _ = stream.set_nodelay(true);
    // `tcp-keepalive` seconds: lets the kernel detect dead peers (Redis
    // sets the idle time and derives the probe interval from it).
    let keepalive = srv.borrow().config.get_int("tcp-keepalive");
    if keepalive > 0 {
        let secs = std::time::Duration::from_secs(keepalive as u64);
        let ka = socket2::TcpKeepalive::new()
            .with_time(secs)
            .with_interval((secs / 3).max(std::time::Duration::from_secs(1)))
            .with_retries(3);
        let _ = socket2::SockRef::from(&stream).set_tcp_keepalive(&ka);
    }
    // Protected mode: with no password on the default user, only the
    // loopback addresses (exactly 127.0.0.1 and ::1, as Redis compares
    // them) may connect; others get the explanation and are closed.
    let refused = {
        let s = srv.borrow();
        s.config.get_bool("protected-mode") && s.acl.default.borrow().nopass && !is_local(peer)
    };
    if refused {
        srv.borrow_mut().stats.rejected_connections += 1;
        let _ = stream
            .write_all(crate::errors::PROTECTED_MODE_DENIED.as_bytes())
            .await;
        return;
    }
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
        let _ = stream
            .write_all(b"-ERR max number of clients reached\r\n")
            .await;
        return;
    };
    {
        use std::os::fd::AsRawFd;
        let mut cb = client.borrow_mut();
        cb.addr = Some(peer);
        cb.laddr = stream.local_addr().ok();
        cb.fd = stream.as_raw_fd();
    }
    let id = client.borrow().id;
    log_verbose!("Accepted {peer}");
    let wake = client.borrow().wake.clone();
    let mut rbuf: Vec<u8> = Vec::with_capacity(IOBUF_LEN);
    let mut req = Request::default();
    let mut out: Vec<u8> = Vec::with_capacity(IOBUF_LEN);
    // Set after a CLIENT PAUSE ended: parse what is buffered before reading.
    let mut resume = false;
    'conn: loop {
        if rbuf.capacity() - rbuf.len() < IOBUF_LEN / 4 {
            rbuf.reserve(IOBUF_LEN);
        }
        if !resume {
            tokio::select! {
                r = stream.read_buf(&mut rbuf) => match r {
                    Ok(0) | Err(_) => break 'conn,
                    Ok(n) => {
                        let mut s = srv.borrow_mut();
                        s.stats.net_input_bytes += n as u64;
                        s.stats.total_reads_processed += 1;
                    }
                },
                _ = wake.notified() => {}
            }
        }
        resume = false;
        let flow = {
            let mut s = srv.borrow_mut();
            let mut c = client.borrow_mut();
            if c.killed {
                break 'conn;
            }
            let flow = process_buffer(&mut s, &mut c, &mut rbuf, &mut req);
            std::mem::swap(&mut out, &mut c.out.buf);
            if c.kind == crate::client::Kind::Replica {
                s.repl.drain_to(c.id, &mut out);
            }
            s.stats.net_output_bytes += out.len() as u64;
            flow
        };
        if !out.is_empty() {
            if stream.write_all(&out).await.is_err() {
                break 'conn;
            }
            srv.borrow_mut().stats.total_writes_processed += 1;
            out.clear();
            // Give a huge reply's memory back rather than keep it per client.
            if out.capacity() > 1 << 20 {
                out = Vec::with_capacity(IOBUF_LEN);
            }
        }
        if flow == Flow::CloseAfterReply {
            break 'conn;
        }
        // Blocked (BLPOP & co.): run nothing more until another client's
        // command serves us (writing our reply and waking us), the timeout
        // passes, or CLIENT UNBLOCK / KILL. The socket is still read, so a
        // hang-up is noticed; what arrives runs afterwards, in order.
        if client.borrow().blocked.is_some() {
            loop {
                let wait = {
                    let mut s = srv.borrow_mut();
                    let mut c = client.borrow_mut();
                    if c.killed {
                        break 'conn;
                    }
                    s.refresh_time();
                    if c.blocked.is_none() || crate::blocking::time_out(&mut s, &mut c) {
                        break;
                    }
                    crate::blocking::remaining_ms(&c, s.now_ms)
                };
                if rbuf.capacity() - rbuf.len() < IOBUF_LEN / 4 {
                    rbuf.reserve(IOBUF_LEN);
                }
                let timer = tokio::time::sleep(std::time::Duration::from_millis(wait.unwrap_or(0)));
                tokio::select! {
                    r = stream.read_buf(&mut rbuf) => match r {
                        Ok(0) | Err(_) => break 'conn,
                        Ok(n) => {
                            let mut s = srv.borrow_mut();
                            s.stats.net_input_bytes += n as u64;
                            // What waits unparsed is bounded as usual.
                            if rbuf.len() > s.client_query_buffer_limit {
                                log_warning!("Closing blocked client that reached max query buffer length: id={id}");
                                break 'conn;
                            }
                        }
                    },
                    _ = wake.notified() => {}
                    _ = timer, if wait.is_some() => {}
                }
            }
            resume = true;
            continue 'conn;
        }
        // CLIENT PAUSE held a request back: wait for the pause to end (or
        // UNPAUSE, or a kill), then parse the buffer again.
        let pause = {
            let mut c = client.borrow_mut();
            if std::mem::take(&mut c.paused) {
                let s = srv.borrow();
                Some((
                    crate::commands::client::pause_remaining_ms(&s),
                    s.pause_notify.clone(),
                ))
            } else {
                None
            }
        };
        if let Some((ms, unpause)) = pause {
            tokio::select! {
                _ = tokio::time::sleep(std::time::Duration::from_millis(ms)) => {}
                _ = unpause.notified() => {}
                _ = wake.notified() => {}
            }
            resume = true;
        }
    }
    srv.borrow_mut().remove_client(id);
    log_verbose!("Client closed connection id={id} addr={peer}");
}

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
pub fn process_buffer(
    srv: &mut Server,
    client: &mut Client,
    rbuf: &mut Vec<u8>,
    req: &mut Request,
) -> Flow {
    let mut pos = 0;
    let mut flow = Flow::Continue;
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
            Parsed::Incomplete => break,
            Parsed::Error(e) => {
                let msg = format!("ERR {e}");
                srv.stats.count_error(&msg);
                client.out.error(&msg);
                log_verbose!(
                    "Protocol error ({e}) from client: id={} addr={}",
                    client.id,
                    client.addr.map(|a| a.to_string()).unwrap_or_default()
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
                if crate::commands::client::must_wait(srv, client, argv) {
                    client.paused = true;
                    pos = base;
                    break;
                }
                let mark = client.out.buf.len();
                // CLIENT REPLY: OFF drops every reply; SKIP drops the next
                // command's (the SKIP itself has none either).
                let was_skip = client.reply_mode == ReplyMode::Skip;
                let f = cmd::execute(srv, client, argv);
                if was_skip || client.reply_mode == ReplyMode::Off {
                    client.out.buf.truncate(mark);
                }
                client.reply_mode = match client.reply_mode {
                    ReplyMode::SkipNext => ReplyMode::Skip,
                    ReplyMode::Skip if was_skip => ReplyMode::On,
                    m => m,
                };
                // Keys this command (or a whole EXEC) filled serve the
                // clients blocked on them, after the command, as in Redis.
                if srv.blocking.has_ready() {
                    crate::blocking::serve_ready(srv);
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
            client.addr.map(|a| a.to_string()).unwrap_or_default(),
            rbuf.len()
        );
        rbuf.clear();
        return Flow::CloseAfterReply;
    }
    client.qbuf = rbuf.len();
    client.qbuf_free = rbuf.capacity() - rbuf.len();
    flow
}
