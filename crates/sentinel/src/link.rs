//! Connections from a sentinel to the instances it watches.
//!
//! Each link is a task on the server's event loop owning one socket. The
//! shell queues commands through a [`LinkHandle`] without waiting; replies
//! come back in order, each paired with the [`Tag`] it was sent with, and
//! are handed to the shell's sink with the link's [`LinkId`]. A link that
//! fails or is dropped simply ends (reporting [`LinkEvent::Closed`]); the
//! core notices and reconnects, as Redis Sentinel's hiredis links do.
//!
//! Why not a general client crate: the link needs no request/response
//! futures, only ordered tags and a callback into the shell on the same
//! thread, which is a few dozen lines over `resp`'s frame parser.

use crate::action::{Cmd, LinkId, LinkKind};
use resp::frame::{parse_frame, Frame};
use server::tls::TlsContext;
use std::cell::RefCell;
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
    /// A renewal of the master's lease (`lease`): the master's clock.
    Lease,
    /// `INFO server` of a peer sentinel: is it a Redoubt one (`lease`).
    PeerInfo,
    /// Replies nobody needs (AUTH, CLIENT SETNAME, the promotion batch).
    Ignore,
    /// The SUBSCRIBE of a Pub/Sub link: confirmed by a subscription
    /// message, not paired with a reply.
    Subscribe,
}

/// What a link reports.
#[derive(Debug, Clone, PartialEq)]
pub enum LinkEvent {
    Connected {
        local_ip: String,
    },
    Reply(Tag, Frame),
    /// A frame on a Pub/Sub link.
    Message(Frame),
    Closed,
}

/// Where a link delivers its events (the shell).
pub type Sink = Rc<dyn Fn(LinkId, LinkEvent)>;

#[derive(Debug)]
pub struct LinkHandle {
    pub id: LinkId,
    tx: mpsc::UnboundedSender<Vec<u8>>,
    tags: Rc<RefCell<VecDeque<Tag>>>,
}

impl LinkHandle {
    /// Queues commands as one write; each reply will arrive tagged with
    /// its command's tag. False when the link has ended.
    pub fn send(&self, cmds: &[Cmd]) -> bool {
        let mut buf = Vec::with_capacity(64 * cmds.len());
        for c in cmds {
            let args: Vec<&[u8]> = c.args.iter().map(Vec::as_slice).collect();
            resp::encode_command(&mut buf, &args);
        }
        if self.tx.send(buf).is_err() {
            return false;
        }
        // Replies on a Pub/Sub link arrive as messages, not paired.
        if self.id.kind == LinkKind::Cmd {
            self.tags.borrow_mut().extend(cmds.iter().map(|c| c.tag));
        }
        true
    }
}

/// Opens a link to `host:port` in the background. Commands may be queued
/// at once; they are written once the connection is up.
/// With `tls` (the sentinel's `tls-replication yes`), the link is TLS.
pub fn open(
    id: LinkId,
    host: String,
    port: u16,
    tls: Option<Arc<TlsContext>>,
    sink: Sink,
) -> LinkHandle {
    let (tx, rx) = mpsc::unbounded_channel();
    let tags = Rc::new(RefCell::new(VecDeque::new()));
    let h = LinkHandle {
        id,
        tx,
        tags: tags.clone(),
    };
    tokio::task::spawn_local(async move {
        run(id, host, port, tls, rx, tags, &sink).await;
        sink(id, LinkEvent::Closed);
    });
    h
}

async fn run(
    id: LinkId,
    host: String,
    port: u16,
    tls: Option<Arc<TlsContext>>,
    mut rx: mpsc::UnboundedReceiver<Vec<u8>>,
    tags: Rc<RefCell<VecDeque<Tag>>>,
    sink: &Sink,
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
    sink(id, LinkEvent::Connected { local_ip: ip });
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
                            if id.kind == LinkKind::PubSub {
                                sink(id, LinkEvent::Message(frame));
                            } else {
                                let tag = tags.borrow_mut().pop_front().unwrap_or(Tag::Ignore);
                                sink(id, LinkEvent::Reply(tag, frame));
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
