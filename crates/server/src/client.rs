//! Per-connection state: what Redis keeps in `client` (selected database,
//! protocol version, authentication, name, flags) plus the reply buffer.
//!
//! A client is owned by its connection task as `Rc<RefCell<Client>>` and
//! registered in the server's client list so that `CLIENT LIST`, `CLIENT
//! KILL` and (later) Pub/Sub and MONITOR can reach it. Rule that keeps the
//! `RefCell`s from clashing: code running a command for client X receives
//! X as `&mut Client` and never borrows X again through the registry.

use resp::Reply;
use std::net::SocketAddr;
use std::rc::Rc;
use tokio::sync::Notify;

/// `CLIENT REPLY` mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyMode {
    On,
    Off,
    /// Skip the reply of the next command only.
    SkipNext,
    /// Skipping the reply of the current command.
    Skip,
}

/// What kind of peer this connection is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Normal,
    /// The link from this replica to its master (commands applied without
    /// replies).
    Master,
    /// A replica attached to this master.
    Replica,
    /// A client that issued MONITOR.
    Monitor,
}

pub struct Client {
    pub id: u64,
    pub addr: Option<SocketAddr>,
    pub laddr: Option<SocketAddr>,
    /// Connected through the `unixsocket` listener (`addr` is None then).
    pub unix_socket: bool,
    pub fd: i32,
    pub name: Option<Vec<u8>>,
    pub db: usize,
    pub authenticated: bool,
    pub user: String,
    pub kind: Kind,
    pub reply_mode: ReplyMode,
    /// Output not yet written to the socket: `out.buf[out_sent..]`. The
    /// connection writes straight from here, so what waits is visible to
    /// `CLIENT LIST`, the output limits and the memory accounting while a
    /// slow reader holds it up (see `net`).
    pub out: Reply,
    /// Bytes at the front of `out.buf` already written.
    pub out_sent: usize,
    /// Redis's reply buffer (`rbs`/`rbp`): the room `out` keeps between
    /// writes, resized by the clients cron from its recent peak.
    pub reply_buf: crate::client_buffers::ReplyBuffer,
    /// Bytes read and not yet consumed by a complete request (Redis's
    /// query buffer). Lent to `net::process_buffer` while commands run.
    pub querybuf: Vec<u8>,
    /// The query buffer's allocation while it is lent out (0 otherwise).
    pub querybuf_lent: usize,
    /// Largest query buffer length since the clients cron last looked,
    /// or the length of the big argument being received.
    pub querybuf_peak: usize,
    /// Length of the bulk argument being received, when its header has
    /// been read and its bytes have not all arrived (Redis's `bulklen`).
    pub pending_bulk: Option<usize>,
    /// What this client's memory counted for in the totals last time
    /// (see `client_memory`).
    pub mem: crate::client_memory::Accounted,
    /// Close once the pending reply is written.
    pub close_after_reply: bool,
    /// Set by `CLIENT KILL` from another client: close now.
    pub killed: bool,
    pub no_evict: bool,
    pub created_ms: i64,
    pub last_interaction_ms: i64,
    /// Name of the last command run (`cmd=` in CLIENT LIST).
    pub last_cmd: &'static str,
    /// `qbuf=` and `qbuf-free=` of CLIENT LIST, as Redis counts them:
    /// the bytes of the query buffer not yet turned into arguments (while
    /// a command runs, the whole buffer, as in Redis), and its free room.
    pub qbuf: usize,
    pub qbuf_free: usize,
    /// Bytes of the arguments of a request whose last ones have not
    /// arrived yet (`argv-mem=` outside a command, Redis's
    /// `argv_len_sum` of a partly read command).
    pub argv_mem: usize,
    /// Set when a request waits for a `CLIENT PAUSE` to end; the
    /// connection loop then waits before parsing further.
    pub paused: bool,
    /// Woken when another task queued output for this client or killed it.
    pub wake: Rc<Notify>,
    /// Pub/Sub subscriptions (see `crate::pubsub`).
    pub subs: crate::pubsub::ClientSubs,
    /// Client-side caching settings (see `crate::tracking`).
    pub tracking: crate::tracking::ClientTracking,
    /// The transaction between MULTI and EXEC/DISCARD (`None` outside).
    pub multi: Option<crate::multi::MultiState>,
    /// Set while EXEC runs the queued commands: blocking commands must not
    /// block then (they answer as if timed out).
    pub in_exec: bool,
    /// Set while a blocking command (BLPOP, ...) waits; see `blocking`.
    pub blocked: Option<crate::blocking::Blocked>,
    /// Set while the client must not block (EXEC running its queue,
    /// scripts): blocking commands then answer as if timed out at once.
    pub deny_blocking: bool,
    /// `master_repl_offset` right after this client's last write (what
    /// `WAIT` waits for).
    pub woff: i64,
    /// The ACL user this connection runs as (`None`: internal clients such
    /// as the master link, which may run anything).
    pub acl_user: Option<crate::acl::UserRef>,
    /// The client that replays the AOF at start-up: runs while the server
    /// is loading.
    pub loading: bool,
    /// Unix ms the output went over the soft `client-output-buffer-limit`
    /// of its class (0: under it); see `net::output_over_limit`.
    pub obuf_soft_since_ms: i64,
    /// The client scripts' `redis.call`s run as (see `scripting`): the
    /// generic checks of `cmd::execute` are the script runtime's.
    pub script: bool,
    /// `SCRIPT DEBUG SYNC`: this client's next EVAL runs under the Lua
    /// debugger (see `scripting::ldb`).
    pub lua_debug: bool,
    /// The connection's task waits for input with no output pending: a
    /// busy script may serve it (see `scripting::busy`).
    pub io_idle: bool,
    /// The connection is TLS: never read or written around its task.
    pub tls: bool,
    /// Input read while a busy script served this client and not yet
    /// parsed (an incomplete request); its task parses it first.
    pub stashed_input: Vec<u8>,
    /// Cluster mode: ASKING was sent (the next command may touch a slot
    /// being imported); cleared after that command outside MULTI.
    pub cluster_asking: bool,
    /// The command being run is ASKING itself (the flag survives it).
    pub cluster_asking_set_now: bool,
    /// Cluster mode: READONLY (reads served by a replica of their slot).
    pub cluster_readonly: bool,
}

impl Client {
    /// The peer as Redis names it in CLIENT LIST, the slow log and logs:
    /// `ip:port`, or `/unixsocket:0` for a Unix-socket client.
    pub fn peer_id(&self) -> String {
        if self.unix_socket {
            return crate::net::UNIX_ADDR.to_string();
        }
        self.addr.map(|a| a.to_string()).unwrap_or_default()
    }

    pub fn new(id: u64, now_ms: i64) -> Client {
        Client {
            id,
            addr: None,
            laddr: None,
            unix_socket: false,
            fd: -1,
            name: None,
            db: 0,
            authenticated: false,
            user: "default".to_string(),
            kind: Kind::Normal,
            reply_mode: ReplyMode::On,
            out: Reply::new(),
            out_sent: 0,
            reply_buf: Default::default(),
            querybuf: Vec::new(),
            querybuf_lent: 0,
            querybuf_peak: 0,
            pending_bulk: None,
            mem: Default::default(),
            close_after_reply: false,
            killed: false,
            no_evict: false,
            created_ms: now_ms,
            last_interaction_ms: now_ms,
            last_cmd: "NULL",
            qbuf: 0,
            qbuf_free: 0,
            argv_mem: 0,
            paused: false,
            wake: Rc::new(Notify::new()),
            subs: Default::default(),
            tracking: Default::default(),
            multi: None,
            in_exec: false,
            blocked: None,
            deny_blocking: false,
            woff: 0,
            acl_user: None,
            loading: false,
            obuf_soft_since_ms: 0,
            script: false,
            lua_debug: false,
            io_idle: false,
            tls: false,
            stashed_input: Vec::new(),
            cluster_asking: false,
            cluster_asking_set_now: false,
            cluster_readonly: false,
        }
    }

    /// Output queued and not yet written.
    #[inline]
    pub fn pending_output(&self) -> usize {
        self.out.buf.len().saturating_sub(self.out_sent)
    }

    /// Drops the queued output (a client closed for its output limit or
    /// evicted is sent nothing more).
    pub fn discard_output(&mut self) {
        self.out.buf.clear();
        self.out_sent = 0;
    }

    /// Takes the query buffer for parsing; its allocation still counts as
    /// this client's until it is given back.
    pub fn lend_querybuf(&mut self) -> Vec<u8> {
        self.querybuf_lent = self.querybuf.capacity();
        std::mem::take(&mut self.querybuf)
    }

    pub fn return_querybuf(&mut self, buf: Vec<u8>) {
        self.querybuf = buf;
        self.querybuf_lent = 0;
    }

    /// Bytes allocated for the query buffer (lent or not).
    pub fn querybuf_alloc(&self) -> usize {
        self.querybuf.capacity() + self.querybuf_lent
    }

    pub fn is_master(&self) -> bool {
        self.kind == Kind::Master
    }

    /// Protocol version negotiated with `HELLO` (2 or 3).
    pub fn resp(&self) -> u8 {
        if self.out.resp3 {
            3
        } else {
            2
        }
    }
}
