//! The cluster bus: a TCP listener on the cluster port, one outgoing link
//! per known node (we PING over it and read its PONGs), and the incoming
//! links other nodes opened to us (we answer their PINGs and MEETs with a
//! PONG). Messages are the `cluster` crate's [`Message`]s; what they change
//! is decided by [`ClusterState::receive`](cluster::ClusterState::receive);
//! this file only moves bytes and keeps time, as Redis's `clusterCron`
//! does ten times a second: connect to nodes without a link, ping, mark
//! nodes that stopped answering, save and recompute the state.
//!
//! With `tls-cluster yes` every bus connection is TLS, both ways, with the
//! server's TLS material current when the link opens: the node dialling
//! presents its client certificate (`tls-client-cert-file`, else
//! `tls-cert-file`) and checks the peer's chain against our CAs; the node
//! accepting requires a certificate our CAs signed whatever
//! `tls-auth-clients` says, as Redis accepts bus links.

use crate::server::Server;
use crate::{log_notice, log_verbose, log_warning};
use cluster::msg::{self, Body, Message};
use cluster::state::{Effects, LinkInfo};
use cluster::{flags, Name};
use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

/// An outgoing link; dropping it closes the connection.
pub struct Link {
    pub id: u64,
    pub out: Outbox,
    pub created: u64,
    task: tokio::task::JoinHandle<()>,
}

impl Link {
    /// Queues a message for the node.
    pub fn send(&self, bytes: Vec<u8>) {
        self.out.send(bytes);
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The sending side of a link: messages go to the task that writes the
/// socket; `queued` counts the bytes handed over and not yet written, the
/// link's send buffer as `CLUSTER LINKS` and `cluster-link-sendbuf-limit`
/// see it.
#[derive(Clone)]
pub struct Outbox {
    tx: mpsc::UnboundedSender<Vec<u8>>,
    pub queued: SendBuffer,
}

impl Outbox {
    fn new() -> (Outbox, mpsc::UnboundedReceiver<Vec<u8>>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let out = Outbox {
            tx,
            queued: SendBuffer::default(),
        };
        (out, rx)
    }

    pub fn send(&self, bytes: Vec<u8>) {
        self.queued.add(bytes.len());
        let _ = self.tx.send(bytes);
    }
}

/// The bytes queued on a link, and the most it held since the cron last
/// looked (Redis reports its send buffer's allocation, which grows with
/// the backlog and shrinks back once the link is idle).
#[derive(Clone, Default)]
pub struct SendBuffer(Rc<std::cell::Cell<(usize, usize)>>);

impl SendBuffer {
    fn add(&self, n: usize) {
        let (used, peak) = self.0.get();
        let used = used + n;
        self.0.set((used, peak.max(used)));
    }

    fn written(&self, n: usize) {
        let (used, peak) = self.0.get();
        self.0.set((used.saturating_sub(n), peak));
    }

    /// Bytes waiting to be written.
    pub fn used(&self) -> usize {
        self.0.get().0
    }

    /// The buffer's size: the 1 KB a link starts with, or the most it
    /// held lately.
    pub fn allocated(&self) -> usize {
        let (used, peak) = self.0.get();
        used.max(peak).max(1024)
    }

    /// Forgets the peak (the cron's shrink of an idle buffer).
    fn shrink(&self) {
        let (used, _) = self.0.get();
        self.0.set((used, used));
    }
}

/// Writes what the link's owner queues until the channel closes or the
/// socket fails.
async fn write_queued<W: AsyncWriteExt + Unpin>(
    wr: &mut W,
    rx: &mut mpsc::UnboundedReceiver<Vec<u8>>,
    queued: &SendBuffer,
) {
    while let Some(b) = rx.recv().await {
        // The flush pushes out what a TLS stream kept buffered when the
        // socket was full (a no-op on plain TCP).
        if wr.write_all(&b).await.is_err() || wr.flush().await.is_err() {
            return;
        }
        queued.written(b.len());
    }
}

thread_local! {
    static NEXT_LINK_ID: std::cell::Cell<u64> = const { std::cell::Cell::new(1) };
}

fn next_link_id() -> u64 {
    NEXT_LINK_ID.with(|c| {
        let id = c.get();
        c.set(id + 1);
        id
    })
}

fn now_ms() -> u64 {
    crate::util::time::unix_ms().max(0) as u64
}

/// Starts the listeners' accept loops and the cron.
pub fn start(srv: &Rc<RefCell<Server>>, listeners: Vec<Rc<TcpListener>>) {
    for l in listeners {
        tokio::task::spawn_local(accept_loop(srv.clone(), l));
    }
    let cron_srv = srv.clone();
    tokio::task::spawn_local(async move {
        loop {
            tokio::time::sleep(Duration::from_millis(100)).await;
            cron(&cron_srv);
        }
    });
}

async fn accept_loop(srv: Rc<RefCell<Server>>, l: Rc<TcpListener>) {
    loop {
        match l.accept().await {
            Ok((sock, peer)) => {
                let _ = sock.set_nodelay(true);
                let local = sock
                    .local_addr()
                    .map(|a| a.ip().to_string())
                    .unwrap_or_default();
                let info = LinkInfo {
                    node: None,
                    peer_ip: peer.ip().to_string(),
                    local_ip: local,
                };
                tokio::task::spawn_local(accepted(srv.clone(), sock, info));
            }
            Err(e) => {
                log_verbose!("Error accepting cluster node: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// Reads whole messages from `rd` and hands each to `on_msg`; ends on EOF,
/// an error, or a message that is not the bus's.
async fn read_messages<R: AsyncReadExt + Unpin>(rd: &mut R, buf: &mut Vec<u8>) -> Option<Vec<u8>> {
    loop {
        if buf.len() >= 8 {
            let len = Message::announced_len(&buf[..8])?;
            if buf.len() >= len {
                let rest = buf.split_off(len);
                let whole = std::mem::replace(buf, rest);
                return Some(whole);
            }
        }
        let mut chunk = [0u8; 16 * 1024];
        let n = rd.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// How long a node may take to complete its TLS handshake on the bus.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves a connection accepted on the bus: plain, or TLS with
/// `tls-cluster yes` once the handshake (client certificate required)
/// succeeded.
async fn accepted(srv: Rc<RefCell<Server>>, sock: tokio::net::TcpStream, info: LinkInfo) {
    let tls = {
        let s = srv.borrow();
        match s.cluster.as_deref() {
            Some(c) if c.tls => Some(s.tls.as_ref().and_then(|t| t.bus_acceptor.clone())),
            _ => None,
        }
    };
    let Some(acceptor) = tls else {
        return inbound(srv, sock, info).await;
    };
    let Some(acceptor) = acceptor else {
        log_warning!("tls-cluster yes but no TLS material: cluster bus connection dropped");
        return;
    };
    match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(sock)).await {
        Ok(Ok(stream)) => inbound(srv, stream, info).await,
        Ok(Err(e)) => log_verbose!(
            "Error accepting cluster node connection: {e} (addr={})",
            info.peer_ip
        ),
        Err(_) => log_verbose!(
            "Error accepting cluster node connection: TLS handshake timed out (addr={})",
            info.peer_ip
        ),
    }
}

async fn inbound<S>(srv: Rc<RefCell<Server>>, sock: S, info: LinkInfo)
where
    S: AsyncRead + AsyncWrite + Unpin + 'static,
{
    let id = next_link_id();
    let (out, mut rx) = Outbox::new();
    let kill = Rc::new(tokio::sync::Notify::new());
    if let Some(c) = srv.borrow_mut().cluster.as_deref_mut() {
        let link = super::Inbound {
            node: None,
            created: now_ms(),
            queued: out.queued.clone(),
            kill: kill.clone(),
        };
        c.inbound.insert(id, link);
    }
    let (mut rd, mut wr) = tokio::io::split(sock);
    let queued = out.queued.clone();
    let writer =
        tokio::task::spawn_local(async move { write_queued(&mut wr, &mut rx, &queued).await });
    let mut buf = Vec::new();
    loop {
        let got = tokio::select! {
            got = read_messages(&mut rd, &mut buf) => got,
            () = kill.notified() => None,
        };
        let Some(bytes) = got else { break };
        let handled = handle(&mut srv.borrow_mut(), &bytes, &info, &out);
        if let (Some(sender), Some(c)) = (handled.sender, srv.borrow_mut().cluster.as_deref_mut()) {
            if let Some(link) = c.inbound.get_mut(&id) {
                link.node = Some(sender);
            }
        }
        if handled.drop {
            break;
        }
    }
    writer.abort();
    if let Some(c) = srv.borrow_mut().cluster.as_deref_mut() {
        c.inbound.remove(&id);
    }
}

/// Opens an outgoing link to `name` (connection made by its task).
fn connect(srv: &Rc<RefCell<Server>>, name: Name, ip: String, cport: u16, now: u64) -> Link {
    let id = next_link_id();
    let (out, rx) = Outbox::new();
    let queued = out.queued.clone();
    let task = tokio::task::spawn_local(outbound(srv.clone(), id, name, ip, cport, rx, queued));
    Link {
        id,
        out,
        created: now,
        task,
    }
}

async fn outbound(
    srv: Rc<RefCell<Server>>,
    id: u64,
    mut name: Name,
    ip: String,
    cport: u16,
    mut rx: mpsc::UnboundedReceiver<Vec<u8>>,
    queued: SendBuffer,
) {
    let (timeout, tls) = {
        let s = srv.borrow();
        let c = s.cluster.as_deref();
        let tls = c.is_some_and(|c| c.tls).then(|| s.tls.clone()).flatten();
        (c.map_or(15000, |c| c.node_timeout), tls)
    };
    let conn = tokio::time::timeout(
        Duration::from_millis(timeout),
        crate::net::connect_out(&ip, cport, tls.as_deref()),
    )
    .await;
    let sock = match conn {
        Ok(Ok(s)) => s,
        _ => {
            log_verbose!(
                "Connection with Node {} at {ip}:{cport} failed",
                String::from_utf8_lossy(&name)
            );
            close_outbound(&srv, id, &name);
            return;
        }
    };
    let info_local = sock
        .tcp()
        .local_addr()
        .map(|a| a.ip().to_string())
        .unwrap_or_default();
    let (mut rd, mut wr) = tokio::io::split(sock);
    // The first message: MEET to a node met by CLUSTER MEET, else PING.
    let first = {
        let mut s = srv.borrow_mut();
        let offset = crate::replication::replica::announced_offset(&s) as u64;
        s.cluster.as_deref_mut().map(|c| {
            let meet = c.state.node(&name).is_some_and(|n| n.has(flags::MEET));
            let kind = if meet {
                msg::types::MEET
            } else {
                msg::types::PING
            };
            let bytes = build_ping(c, kind, Some(&name), offset);
            if let Some(n) = c.state.node_mut(&name) {
                n.link_up = true;
                n.flags &= !flags::MEET;
                if kind == msg::types::PING && n.ping_sent == 0 {
                    n.ping_sent = now_ms();
                }
            }
            bytes
        })
    };
    let Some(first) = first else {
        return;
    };
    if wr.write_all(&first).await.is_err() || wr.flush().await.is_err() {
        close_outbound(&srv, id, &name);
        return;
    }
    let mut buf = Vec::new();
    loop {
        tokio::select! {
            out = rx.recv() => {
                let Some(b) = out else { break };
                if wr.write_all(&b).await.is_err() || wr.flush().await.is_err() {
                    break;
                }
                queued.written(b.len());
            }
            got = read_messages(&mut rd, &mut buf) => {
                let Some(bytes) = got else { break };
                let info = LinkInfo { node: Some(name), peer_ip: ip.clone(), local_ip: info_local.clone() };
                let outbox = srv.borrow().cluster.as_deref().and_then(|c| c.links.get(&name)).map(|l| l.out.clone());
                let Some(outbox) = outbox else { break };
                let out = handle(&mut srv.borrow_mut(), &bytes, &info, &outbox);
                if let Some(new) = out.renamed_to {
                    name = new;
                }
                if out.drop {
                    break;
                }
            }
        }
    }
    close_outbound(&srv, id, &name);
}

/// Forgets an outgoing link that ended (the cron reconnects).
fn close_outbound(srv: &Rc<RefCell<Server>>, id: u64, name: &Name) {
    let mut s = srv.borrow_mut();
    let Some(c) = s.cluster.as_deref_mut() else {
        return;
    };
    if let Some(n) = c.state.node_mut(name) {
        n.link_up = false;
    }
    if c.links.get(name).is_some_and(|l| l.id == id) {
        // Dropping the link aborts this task at its next await; the task
        // returns right after, so nothing is cut short.
        c.links.remove(name);
    }
}

/// A PING, PONG or MEET from us, counted in the message statistics.
pub fn build_ping(c: &mut super::Cluster, kind: u16, to: Option<&Name>, offset: u64) -> Vec<u8> {
    let header = c
        .state
        .header(kind, c.port, c.cport, &c.announce_ip, offset);
    let m = c.state.ping_message(header, to, &c.hostname);
    count_sent(c, kind);
    m.encode()
}

pub(super) fn count_sent(c: &mut super::Cluster, kind: u16) {
    if let Some(n) = c.state.stats_sent.get_mut(kind as usize) {
        *n += 1;
    }
}

fn build(c: &mut super::Cluster, kind: u16, body: Body, offset: u64) -> Vec<u8> {
    let header = c
        .state
        .header(kind, c.port, c.cport, &c.announce_ip, offset);
    count_sent(c, kind);
    Message { header, body }.encode()
}

/// Sends a message to every node we have a link to.
pub(super) fn broadcast(c: &mut super::Cluster, bytes: &[u8], kind: u16) {
    for l in c.links.values() {
        l.send(bytes.to_vec());
    }
    let n = c.links.len().saturating_sub(1) as u64;
    if let Some(s) = c.state.stats_sent.get_mut(kind as usize) {
        *s += n;
    }
}

/// Sends a PONG to every node (after a change others must learn at once,
/// as Redis's `clusterBroadcastPong`).
pub fn broadcast_pong(srv: &mut Server) {
    let offset = crate::replication::replica::announced_offset(srv) as u64;
    let Some(c) = srv.cluster.as_deref_mut() else {
        return;
    };
    let names: Vec<Name> = c.links.keys().copied().collect();
    for name in names {
        let bytes = build_ping(c, msg::types::PONG, Some(&name), offset);
        if let Some(l) = c.links.get(&name) {
            l.send(bytes);
        }
    }
}

#[derive(Default)]
struct Handled {
    drop: bool,
    renamed_to: Option<Name>,
    /// The sender, when it is a node we know.
    sender: Option<Name>,
}

fn handle(srv: &mut Server, bytes: &[u8], info: &LinkInfo, reply: &Outbox) -> Handled {
    let now = now_ms();
    let offset = crate::replication::replica::announced_offset(srv) as u64;
    let mut out = Handled::default();
    let fx: Effects = {
        let Some(c) = srv.cluster.as_deref_mut() else {
            return Handled {
                drop: true,
                ..Handled::default()
            };
        };
        let m = match Message::decode(bytes) {
            Ok(m) => m,
            Err(msg::DecodeError::Version(_)) => return out,
            Err(e) => {
                log_warning!(
                    "Bad message on the cluster bus from {}: {e:?}",
                    info.peer_ip
                );
                out.drop = true;
                return out;
            }
        };
        // DEBUG DROP-CLUSTER-PACKET-FILTER: the tests' way to cut one
        // kind of message.
        if c.drop_packet_filter == i64::from(m.header.kind) {
            log_warning!("Dropping packet that matches debug drop filter");
            return out;
        }
        let announced = !c.announce_ip.is_empty();
        let fx = c.state.receive(&m, info, now, announced);
        let sender = m.header.sender;
        if c.state.node(&sender).is_some_and(|n| !n.in_handshake()) {
            out.sender = Some(sender);
        }
        if let Some(kind) = fx.reply {
            reply.send(build_ping(c, kind, Some(&sender), offset));
        }
        if let Some(about) = fx.send_update_about {
            if let Some(n) = c.state.node(&about) {
                let body = Body::Update {
                    config_epoch: n.config_epoch,
                    name: n.name,
                    slots: n.slots.clone(),
                };
                reply.send(build(c, msg::types::UPDATE, body, offset));
            }
        }
        for failed in &fx.broadcast_fail {
            log_notice!(
                "Marking node {} as failing (quorum reached).",
                String::from_utf8_lossy(failed)
            );
            let b = build(c, msg::types::FAIL, Body::Fail { about: *failed }, offset);
            broadcast(c, &b, msg::types::FAIL);
        }
        if let Some((old, new)) = fx.renamed {
            if let Some(l) = c.links.remove(&old) {
                c.links.insert(new, l);
            }
            if info.node == Some(old) {
                out.renamed_to = Some(new);
            }
        }
        if fx.vote {
            log_notice!(
                "Failover auth granted to {} for epoch {}",
                String::from_utf8_lossy(&sender),
                c.state.current_epoch
            );
            let b = build(c, msg::types::FAILOVER_AUTH_ACK, Body::Other, offset);
            match c.links.get(&sender) {
                Some(l) => {
                    l.send(b);
                }
                None => {
                    reply.send(b);
                }
            }
        }
        for r in &fx.removed {
            if info.node.as_ref() != Some(r) {
                c.links.remove(r);
            }
        }
        if fx.save {
            c.todo_save = true;
        }
        if fx.update_state || fx.save {
            c.todo_update_state = true;
        }
        out.drop = fx.drop_link;
        fx
    };
    if !fx.dirty_slots.is_empty() {
        super::delete_keys_in_slots(srv, &fx.dirty_slots);
    }
    if fx.manual_failover_start {
        log_notice!("Manual failover requested by replica.");
        super::start_failover_pause(srv);
        // Our offset, now final, goes to the replica at once.
        if let Some(c) = srv.cluster.as_deref_mut() {
            reply.send(build_ping(c, msg::types::PING, None, offset));
        }
    }
    if let Some((shard, channel, message)) = &fx.publish {
        if *shard {
            srv.publish_shard(channel, message);
        } else {
            srv.publish(channel, message);
        }
    }
    if let Some(new_master) = fx.follow {
        super::set_my_master(srv, new_master);
    }
    super::before_sleep_after_message(srv);
    out
}

/// Ten times a second (Redis's `clusterCron`).
fn cron(srv: &Rc<RefCell<Server>>) {
    let now = now_ms();
    let mut to_connect = Vec::new();
    super::refresh_config(&mut srv.borrow_mut());
    {
        let mut s = srv.borrow_mut();
        let offset = crate::replication::replica::announced_offset(&s) as u64;
        let sendbuf_limit = s
            .config
            .get_int(crate::config::Directive::ClusterLinkSendbufLimit)
            .max(0) as usize;
        let Some(c) = s.cluster.as_deref_mut() else {
            return;
        };
        c.iteration += 1;
        free_links_over_limit(c, sendbuf_limit);
        let timeout = c.node_timeout;
        let (pfail, stale) = c.state.detect_timeouts(now, timeout);
        for n in &stale {
            c.links.remove(n);
        }
        for n in &pfail {
            log_notice!("*** NODE {} possibly failing", String::from_utf8_lossy(n));
            c.todo_update_state = true;
        }
        // Nodes without a link get one.
        for n in &c.state.nodes {
            if n.is_myself()
                || n.has(flags::NOADDR)
                || n.ip.is_empty()
                || n.cport == 0
                || c.links.contains_key(&n.name)
            {
                continue;
            }
            to_connect.push((n.name, n.ip.clone(), n.cport));
        }
        // Once a second, ping one of five random nodes: the one whose
        // PONG is oldest.
        let mut to_ping: Vec<Name> = Vec::new();
        if c.iteration % 10 == 0 {
            use rand::seq::SliceRandom;
            let mut cands: Vec<&cluster::Node> = c
                .state
                .nodes
                .iter()
                .filter(|n| {
                    !n.is_myself() && n.link_up && n.ping_sent == 0 && !n.has(flags::HANDSHAKE)
                })
                .collect();
            cands.shuffle(&mut rand::thread_rng());
            if let Some(n) = cands.iter().take(5).min_by_key(|n| n.pong_received) {
                to_ping.push(n.name);
            }
        }
        // Anyone whose PONG is older than half the timeout is pinged now.
        for n in &c.state.nodes {
            if !n.is_myself()
                && n.link_up
                && n.ping_sent == 0
                && now.saturating_sub(n.pong_received) > timeout / 2
                && !to_ping.contains(&n.name)
            {
                to_ping.push(n.name);
            }
        }
        // A link whose PING waits for more than half the timeout is
        // reconnected (the node may have restarted on the same address).
        let stale_links: Vec<Name> = c
            .state
            .nodes
            .iter()
            .filter(|n| {
                n.ping_sent != 0
                    && now.saturating_sub(n.ping_sent) > timeout / 2
                    && c.links
                        .get(&n.name)
                        .is_some_and(|l| now.saturating_sub(l.created) > timeout)
            })
            .map(|n| n.name)
            .collect();
        for n in stale_links {
            c.links.remove(&n);
            if let Some(node) = c.state.node_mut(&n) {
                node.link_up = false;
            }
        }
        for name in to_ping {
            let bytes = build_ping(c, msg::types::PING, Some(&name), offset);
            if let Some(l) = c.links.get(&name) {
                l.send(bytes);
                if let Some(n) = c.state.node_mut(&name) {
                    n.ping_sent = now;
                }
            }
        }
        // PFAIL → FAIL when enough masters agree.
        let suspects: Vec<Name> = c
            .state
            .nodes
            .iter()
            .filter(|n| n.has(flags::PFAIL))
            .map(|n| n.name)
            .collect();
        for n in suspects {
            if c.state.mark_failing_if_needed(&n, now, timeout) {
                log_notice!(
                    "Marking node {} as failing (quorum reached).",
                    String::from_utf8_lossy(&n)
                );
                let b = build(c, msg::types::FAIL, Body::Fail { about: n }, offset);
                broadcast(c, &b, msg::types::FAIL);
                c.changed();
            }
        }
        if !c.state.ok {
            c.todo_update_state = true;
        }
    }
    let mf_over = srv
        .borrow()
        .cluster
        .as_deref()
        .is_some_and(|c| c.state.mf_paused_until != 0 && now > c.state.mf_paused_until);
    if mf_over {
        log_notice!("Manual failover timed out.");
        super::end_failover_pause(&mut srv.borrow_mut());
    }
    super::replica::replica_failover(srv, now);
    super::replica::replica_migration(&mut srv.borrow_mut(), now);
    super::replica::start_replication_if_needed(&mut srv.borrow_mut());
    for (name, ip, cport) in to_connect {
        let link = connect(srv, name, ip, cport, now);
        if let Some(c) = srv.borrow_mut().cluster.as_deref_mut() {
            c.links.insert(name, link);
            // Count the PING as sent from now on, so failure detection
            // runs even when the node cannot be reached at all (Redis
            // does the same when its connect fails).
            if let Some(n) = c.state.node_mut(&name) {
                if n.ping_sent == 0 {
                    n.ping_sent = now;
                }
            }
        }
    }
    super::before_sleep(&mut srv.borrow_mut());
}

/// Closes the links whose send buffer passed `cluster-link-sendbuf-limit`
/// (a node that stopped reading would otherwise make it grow without
/// bound; Redis's `clusterNodeCronFreeLinkOnBufferLimitReached`). The
/// cron opens a new outgoing link; the node reopens its own.
fn free_links_over_limit(c: &mut super::Cluster, limit: usize) {
    let over = |q: &SendBuffer| limit > 0 && q.used() > limit;
    let to: Vec<Name> = c
        .links
        .iter()
        .filter(|(_, l)| over(&l.out.queued))
        .map(|(n, _)| *n)
        .collect();
    let from: Vec<u64> = c
        .inbound
        .iter()
        .filter(|(_, l)| over(&l.queued))
        .map(|(id, _)| *id)
        .collect();
    for name in &to {
        log_warning!(
            "Freeing cluster link(to node {}), used memory: {} (exceeds the limit of {limit})",
            String::from_utf8_lossy(name),
            c.links.get(name).map_or(0, |l| l.out.queued.used())
        );
        c.kill_links(name, true, false);
    }
    for id in &from {
        if let Some(l) = c.inbound.remove(id) {
            log_warning!(
                "Freeing cluster link(from node {}), used memory: {} (exceeds the limit of {limit})",
                l.node.as_ref().map_or(std::borrow::Cow::Borrowed("?"), |n| String::from_utf8_lossy(n)),
                l.queued.used()
            );
            l.kill.notify_one();
        }
    }
    c.links_buffer_limit_exceeded += (to.len() + from.len()) as u64;
    // An empty buffer gives back what it grew to, as Redis's cron shrinks
    // idle send buffers.
    for q in c
        .links
        .values()
        .map(|l| &l.out.queued)
        .chain(c.inbound.values().map(|l| &l.queued))
    {
        if q.used() == 0 {
            q.shrink();
        }
    }
}

/// PUBLISH in cluster mode reaches every node's subscribers; SPUBLISH the
/// nodes of our shard (our master, or us, and its replicas), as Redis's
/// `clusterPropagatePublish` and `clusterPropagatePublishShard`.
pub fn propagate_publish(srv: &mut Server, shard: bool, channel: &[u8], message: &[u8]) {
    let offset = crate::replication::replica::announced_offset(srv) as u64;
    let Some(c) = srv.cluster.as_deref_mut() else {
        return;
    };
    let kind = if shard {
        msg::types::PUBLISHSHARD
    } else {
        msg::types::PUBLISH
    };
    let body = Body::Publish {
        channel: channel.to_vec(),
        message: message.to_vec(),
    };
    let bytes = build(c, kind, body, offset);
    if !shard {
        broadcast(c, &bytes, kind);
        return;
    }
    let me = c.state.me();
    let master = if me.is_master() {
        Some(me.name)
    } else {
        me.master
    };
    let Some(master) = master else { return };
    let members: Vec<Name> = std::iter::once(master)
        .chain(c.state.replicas_of(&master).map(|n| n.name))
        .filter(|n| *n != c.state.myself)
        .collect();
    for n in members {
        if let Some(l) = c.links.get(&n) {
            l.send(bytes.clone());
        }
    }
}

/// Sends a header-only message of type `kind` (MFSTART) to `to`.
pub fn send_to(srv: &mut Server, to: &Name, kind: u16) {
    let offset = crate::replication::replica::announced_offset(srv) as u64;
    let Some(c) = srv.cluster.as_deref_mut() else {
        return;
    };
    let b = build(c, kind, Body::Other, offset);
    if let Some(l) = c.links.get(to) {
        l.send(b);
    }
}
