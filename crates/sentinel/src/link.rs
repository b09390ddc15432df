//! Connections from a sentinel to the instances it watches.
//!
//! Each link is a task on the server's event loop owning one socket. The
//! timer queues commands through a [`LinkHandle`] without waiting; replies
//! come back in order, each paired with the [`Tag`] it was sent with, and
//! are handed to the monitor's event function. A link that fails or is
//! dropped simply ends; the timer notices and reconnects, as Redis
//! Sentinel's hiredis links do.
//!
//! Why not a general client crate: the link needs no request/response
//! futures, only ordered tags and a callback into the monitor on the same
//! thread, which is a few dozen lines over `resp`'s frame parser.

use resp::frame::{parse_frame, Frame};
use server::tls::TlsContext;
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

/// What a reply answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tag {
    Ping,
    Info,
    Publish,
    MasterDown,
    /// Replies nobody needs (AUTH, CLIENT SETNAME, the promotion batch).
    Ignore,
}

/// Identifies a link to the monitor: instance id, which link, generation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target {
    pub inst: u64,
    pub pubsub: bool,
    pub gen: u64,
}

#[derive(Debug)]
pub enum Event {
    Connected {
        local_ip: String,
    },
    Reply(Tag, Frame),
    /// A frame on a Pub/Sub link.
    Message(Frame),
    Closed,
}

pub type Sink = fn(Target, Event);

#[derive(Debug)]
pub struct LinkHandle {
    pub gen: u64,
    tx: mpsc::UnboundedSender<Vec<u8>>,
    tags: Rc<RefCell<VecDeque<Tag>>>,
    connected: Rc<Cell<bool>>,
    pub local_ip: Rc<RefCell<String>>,
}

impl LinkHandle {
    /// Commands sent and not answered yet.
    pub fn pending(&self) -> usize {
        self.tags.borrow().len()
    }

    pub fn connected(&self) -> bool {
        self.connected.get()
    }

    /// Queues a command; its reply will arrive tagged with `tag`.
    pub fn send(&self, args: &[&[u8]], tag: Tag) -> bool {
        let mut buf = Vec::with_capacity(64);
        encode(&mut buf, args);
        if self.tx.send(buf).is_err() {
            return false;
        }
        self.tags.borrow_mut().push_back(tag);
        true
    }

    /// Queues several commands as one write; all replies are ignored
    /// except for being counted.
    pub fn send_batch(&self, cmds: &[Vec<Vec<u8>>]) -> bool {
        let mut buf = Vec::with_capacity(256);
        for c in cmds {
            let args: Vec<&[u8]> = c.iter().map(|a| a.as_slice()).collect();
            encode(&mut buf, &args);
        }
        if self.tx.send(buf).is_err() {
            return false;
        }
        let mut t = self.tags.borrow_mut();
        for _ in cmds {
            t.push_back(Tag::Ignore);
        }
        true
    }
}

pub fn encode(buf: &mut Vec<u8>, args: &[&[u8]]) {
    buf.push(b'*');
    buf.extend_from_slice(args.len().to_string().as_bytes());
    buf.extend_from_slice(b"\r\n");
    for a in args {
        buf.push(b'$');
        buf.extend_from_slice(a.len().to_string().as_bytes());
        buf.extend_from_slice(b"\r\n");
        buf.extend_from_slice(a);
        buf.extend_from_slice(b"\r\n");
    }
}

/// Opens a link to `host:port` in the background. Commands may be queued
/// at once; they are written once the connection is up.
/// With `tls` (the sentinel's `tls-replication yes`), the link is TLS.
pub fn open(
    target: Target,
    host: String,
    port: u16,
    tls: Option<Arc<TlsContext>>,
    sink: Sink,
) -> LinkHandle {
    let (tx, rx) = mpsc::unbounded_channel();
    let tags = Rc::new(RefCell::new(VecDeque::new()));
    let connected = Rc::new(Cell::new(false));
    let local_ip = Rc::new(RefCell::new(String::new()));
    let h = LinkHandle {
        gen: target.gen,
        tx,
        tags: tags.clone(),
        connected: connected.clone(),
        local_ip: local_ip.clone(),
    };
    tokio::task::spawn_local(async move {
        run(target, host, port, tls, rx, tags, connected, local_ip, sink).await;
        sink(target, Event::Closed);
    });
    h
}

#[allow(clippy::too_many_arguments)]
async fn run(
    target: Target,
    host: String,
    port: u16,
    tls: Option<Arc<TlsContext>>,
    mut rx: mpsc::UnboundedReceiver<Vec<u8>>,
    tags: Rc<RefCell<VecDeque<Tag>>>,
    connected: Rc<Cell<bool>>,
    local_ip: Rc<RefCell<String>>,
    sink: Sink,
) {
    let connect = server::net::connect_out(&host, port, tls.as_deref());
    let mut stream = match tokio::time::timeout(Duration::from_millis(1000), connect).await {
        Ok(Ok(s)) => s,
        _ => return,
    };
    let ip = stream
        .tcp()
        .local_addr()
        .map(|a| a.ip().to_string())
        .unwrap_or_default();
    *local_ip.borrow_mut() = ip.clone();
    connected.set(true);
    sink(target, Event::Connected { local_ip: ip });
    let mut inbuf: Vec<u8> = Vec::with_capacity(16 * 1024);
    let mut chunk = vec![0u8; 16 * 1024];
    loop {
        tokio::select! {
            out = rx.recv() => {
                let Some(mut bytes) = out else { return };
                // Coalesce whatever else is queued into one write.
                while let Ok(more) = rx.try_recv() {
                    bytes.extend_from_slice(&more);
                }
                if stream.write_all(&bytes).await.is_err() || stream.flush().await.is_err() {
                    return;
                }
            }
            n = stream.read(&mut chunk) => {
                let n = match n {
                    Ok(0) | Err(_) => return,
                    Ok(n) => n,
                };
                inbuf.extend_from_slice(&chunk[..n]);
                let mut pos = 0;
                loop {
                    match parse_frame(&inbuf[pos..]) {
                        Ok(Some((frame, used))) => {
                            pos += used;
                            if target.pubsub {
                                sink(target, Event::Message(frame));
                            } else {
                                let tag = tags.borrow_mut().pop_front().unwrap_or(Tag::Ignore);
                                sink(target, Event::Reply(tag, frame));
                            }
                        }
                        Ok(None) => break,
                        Err(_) => return,
                    }
                }
                inbuf.drain(..pos);
            }
        }
    }
}
