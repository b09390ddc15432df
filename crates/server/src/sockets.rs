//! Socket settings the directives ask for: `socket-mark-id` (the `SO_MARK` of every listening socket, for routing
//! or filtering by firewall mark; needs `CAP_NET_ADMIN`, and like Redis we
//! go on without it when refused) and `bind-source-addr` (the local
//! address of outgoing connections: the replica's link to its master and
//! Sentinel's links, as in Redis 7.0; MIGRATE's connection does not use
//! it there either).
//!
//! Both are process-wide, so they live here rather than being passed to
//! every place that opens a socket. `repl-disable-tcp-nodelay` acts on
//! one replica's socket, by its descriptor.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;
use tokio::net::{TcpSocket, TcpStream};

static SOCKET_MARK: AtomicU32 = AtomicU32::new(0);
static SOURCE_ADDR: Mutex<Option<String>> = Mutex::new(None);

/// Applies the directives (at start-up and after `CONFIG SET`).
pub fn apply(config: &crate::config::Config) {
    use crate::config::Directive;
    let mark = config
        .get_int(Directive::SocketMarkId)
        .clamp(0, i64::from(u32::MAX));
    SOCKET_MARK.store(mark as u32, Ordering::Relaxed);
    let src = config.get_str(Directive::BindSourceAddr);
    if let Ok(mut s) = SOURCE_ADDR.lock() {
        *s = (!src.is_empty()).then_some(src);
    }
}

/// Marks a listening socket with `socket-mark-id` (when not 0); a refusal
/// is ignored, as Redis ignores it.
pub fn mark_listener(sock: &socket2::Socket) {
    let mark = SOCKET_MARK.load(Ordering::Relaxed);
    if mark > 0 {
        let _ = sock.set_mark(mark);
    }
}

/// Turns Nagle's algorithm off (`nodelay`) or on for the TCP socket `fd`
/// (a connection's descriptor as `CLIENT LIST` shows it); not critical if
/// it fails, nor for a descriptor that is not a TCP socket.
pub fn set_nodelay(fd: i32, nodelay: bool) {
    if fd < 0 {
        return;
    }
    let v: libc::c_int = nodelay.into();
    // SAFETY: setsockopt reads `v` for the call; a bad descriptor only
    // makes it fail.
    unsafe {
        libc::setsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_NODELAY,
            (&v as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
}

/// Connects to `host:port` from `bind-source-addr` when one is set. As
/// Redis's "best effort" bind: when no address of the source can be
/// bound, the connection is made from any address.
pub async fn connect(host: &str, port: u16) -> std::io::Result<TcpStream> {
    let source = SOURCE_ADDR.lock().ok().and_then(|s| s.clone());
    if let Some(src) = source {
        if let Some(s) = connect_from(host, port, &src).await {
            return Ok(s);
        }
    }
    TcpStream::connect((host, port)).await
}

async fn connect_from(host: &str, port: u16, src: &str) -> Option<TcpStream> {
    let sources: Vec<SocketAddr> = tokio::net::lookup_host((src, 0)).await.ok()?.collect();
    for dest in tokio::net::lookup_host((host, port)).await.ok()? {
        let sock = match dest {
            SocketAddr::V4(_) => TcpSocket::new_v4(),
            SocketAddr::V6(_) => TcpSocket::new_v6(),
        };
        let Ok(sock) = sock else { continue };
        let _ = sock.set_reuseaddr(true);
        let bound = sources
            .iter()
            .filter(|s| s.is_ipv4() == dest.is_ipv4())
            .any(|s| sock.bind(*s).is_ok());
        if !bound {
            continue;
        }
        if let Ok(s) = sock.connect(dest).await {
            return Some(s);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One test: the settings are process-wide.
    #[test]
    fn listeners_get_the_mark_and_outgoing_connections_the_source() {
        let mut c = crate::config::Config::new();
        c.set("socket-mark-id", &["7".into()]).expect("set");
        apply(&c);
        let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)
            .expect("socket");
        mark_listener(&sock);
        // Setting a mark needs CAP_NET_ADMIN; without it the socket keeps 0.
        // SAFETY: geteuid has no preconditions.
        let expected = if unsafe { libc::geteuid() } == 0 {
            7
        } else {
            0
        };
        assert_eq!(sock.mark().expect("mark"), expected);

        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            let port = listener.local_addr().expect("addr").port();
            c.set("bind-source-addr", &["127.0.0.5".into()])
                .expect("set");
            apply(&c);
            let out = connect("127.0.0.1", port).await.expect("connect");
            let (_, peer) = listener.accept().await.expect("accept");
            assert_eq!(peer.ip().to_string(), "127.0.0.5");
            drop(out);
            // An address we cannot bind: connected anyway, from any address.
            c.set("bind-source-addr", &["192.0.2.1".into()])
                .expect("set");
            apply(&c);
            let _out = connect("127.0.0.1", port).await.expect("connect");
            let (_, peer) = listener.accept().await.expect("accept");
            assert_eq!(peer.ip().to_string(), "127.0.0.1");
        });
        apply(&crate::config::Config::new());
    }

    #[test]
    fn nodelay_is_set_by_descriptor() {
        use std::os::fd::AsRawFd;
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let s = std::net::TcpStream::connect(l.local_addr().expect("addr")).expect("connect");
        s.set_nodelay(true).expect("nodelay");
        set_nodelay(s.as_raw_fd(), false);
        assert!(!s.nodelay().expect("get"));
        set_nodelay(s.as_raw_fd(), true);
        assert!(s.nodelay().expect("get"));
    }
}
