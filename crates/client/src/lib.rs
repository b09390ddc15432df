//! A small async RESP client for Redoubt's own tools: Sentinel watching
//! its instances, `redoubt up` and `redoubt doctor` inspecting a
//! topology, and tests.
//!
//! It is deliberately small: one connection, one request at a time
//! ([`Client::call`]), or send-then-read for Pub/Sub ([`Client::send`] +
//! [`Client::read_frame`]). Replies are parsed by `resp::parse_frame`, so
//! RESP2 and RESP3 (after `HELLO 3`) both work. Server error replies are
//! not Rust errors: `-ERR ...` comes back as `Frame::Error`, and
//! [`Client::call_ok`] turns it into [`Error::Server`] for callers that
//! want `?`. Every network step has a deadline, so a stopped peer (SIGSTOP,
//! a black-holed address) never hangs a tool.
//!
//! [`Info`] parses `INFO` text (`key:value` lines, `# Section` headers and
//! the `a=1,b=2` sub-fields of `slaveN` / `dbN` / `cmdstat_*` lines).

use std::collections::BTreeMap;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub use resp::Frame;

/// What can go wrong talking to a server.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    #[error("connection closed by the server")]
    Closed,
    #[error("protocol error: {0}")]
    Protocol(#[from] resp::FrameError),
    /// An error reply (`-ERR ...`), from [`Client::call_ok`] and the
    /// helpers built on it.
    #[error("{0}")]
    Server(String),
    /// A reply of an unexpected shape.
    #[error("unexpected reply: {0}")]
    Unexpected(String),
}

pub type Result<T> = std::result::Result<T, Error>;

/// Default deadline for each connect, write and read.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// One connection to a Redis-protocol server.
pub struct Client {
    stream: TcpStream,
    buf: Vec<u8>,
    timeout: Duration,
    addr: String,
}

async fn within<T>(
    d: Duration,
    f: impl std::future::Future<Output = std::io::Result<T>>,
) -> Result<T> {
    match tokio::time::timeout(d, f).await {
        Ok(r) => Ok(r?),
        Err(_) => Err(Error::Timeout(d)),
    }
}

/// Encodes a command as a RESP multibulk array.
pub fn encode<A: AsRef<[u8]>>(args: &[A]) -> Vec<u8> {
    let mut out =
        Vec::with_capacity(16 + args.iter().map(|a| a.as_ref().len() + 16).sum::<usize>());
    resp::encode_command(&mut out, args);
    out
}

impl Client {
    /// Connects to `addr` (`host:port`) with [`DEFAULT_TIMEOUT`].
    pub async fn connect(addr: &str) -> Result<Client> {
        Client::connect_timeout(addr, DEFAULT_TIMEOUT).await
    }

    /// Connects with `timeout` as the deadline for this and every later
    /// network step.
    pub async fn connect_timeout(addr: &str, timeout: Duration) -> Result<Client> {
        let stream = within(timeout, TcpStream::connect(addr)).await?;
        let _ = stream.set_nodelay(true);
        Ok(Client {
            stream,
            buf: Vec::with_capacity(4096),
            timeout,
            addr: addr.to_string(),
        })
    }

    /// Connects and, when `password` is given, authenticates with
    /// `AUTH password` (the `default` user, as `requirepass` sets up).
    /// A server with no password configured refuses AUTH; that refusal is
    /// ignored, so one password can be used across a set-up where only
    /// some servers require it.
    pub async fn connect_auth(
        addr: &str,
        password: Option<&str>,
        timeout: Duration,
    ) -> Result<Client> {
        let mut c = Client::connect_timeout(addr, timeout).await?;
        if let Some(p) = password.filter(|p| !p.is_empty()) {
            match c.call_ok(&["AUTH", p]).await {
                Err(Error::Server(e)) if e.contains("without any password configured") => {}
                Err(e) => return Err(e),
                Ok(_) => {}
            }
        }
        Ok(c)
    }

    /// The address this client connected to.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// Changes the per-step deadline.
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    /// Sends one command without reading its reply (Pub/Sub, pipelining).
    pub async fn send<A: AsRef<[u8]>>(&mut self, args: &[A]) -> Result<()> {
        let bytes = encode(args);
        within(self.timeout, self.stream.write_all(&bytes)).await
    }

    /// Reads the next reply or push message.
    pub async fn read_frame(&mut self) -> Result<Frame> {
        self.read_frame_timeout(self.timeout).await
    }

    /// Reads the next frame, waiting at most `timeout` (Pub/Sub readers
    /// wait longer than a request does).
    pub async fn read_frame_timeout(&mut self, timeout: Duration) -> Result<Frame> {
        loop {
            if let Some((frame, used)) = resp::parse_frame(&self.buf)? {
                self.buf.drain(..used);
                return Ok(frame);
            }
            let mut chunk = [0u8; 16384];
            let n = within(timeout, self.stream.read(&mut chunk)).await?;
            if n == 0 {
                return Err(Error::Closed);
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// Sends a command and reads its reply; an error reply is returned as
    /// `Ok(Frame::Error(..))`.
    pub async fn call<A: AsRef<[u8]>>(&mut self, args: &[A]) -> Result<Frame> {
        self.send(args).await?;
        self.read_frame().await
    }

    /// Like [`Client::call`], but an error reply becomes [`Error::Server`].
    pub async fn call_ok<A: AsRef<[u8]>>(&mut self, args: &[A]) -> Result<Frame> {
        match self.call(args).await? {
            Frame::Error(e) => Err(Error::Server(String::from_utf8_lossy(&e).into_owned())),
            f => Ok(f),
        }
    }

    /// A command whose reply is a string (simple, bulk or verbatim).
    pub async fn call_str<A: AsRef<[u8]>>(&mut self, args: &[A]) -> Result<String> {
        let f = self.call_ok(args).await?;
        frame_string(&f).ok_or_else(|| Error::Unexpected(format!("{f:?}")))
    }

    /// `INFO [section]`, parsed.
    pub async fn info(&mut self, section: &str) -> Result<Info> {
        let text = if section.is_empty() {
            self.call_str(&["INFO"]).await?
        } else {
            self.call_str(&["INFO", section]).await?
        };
        Ok(Info::parse(&text))
    }

    /// `CONFIG GET name` for one directive; `None` when the server does
    /// not know it.
    pub async fn config_get(&mut self, name: &str) -> Result<Option<String>> {
        let f = self.call_ok(&["CONFIG", "GET", name]).await?;
        Ok(match f {
            Frame::Array(v) => v.get(1).and_then(frame_string),
            Frame::Map(v) => v.first().and_then(|(_, val)| frame_string(val)),
            _ => None,
        })
    }
}

/// The text of a string-like frame (simple, bulk, verbatim without its
/// `txt:` prefix, double, integer).
pub fn frame_string(f: &Frame) -> Option<String> {
    match f {
        Frame::Verbatim(b) => {
            let body = if b.len() >= 4 && b[3] == b':' {
                &b[4..]
            } else {
                &b[..]
            };
            Some(String::from_utf8_lossy(body).into_owned())
        }
        Frame::Integer(i) => Some(i.to_string()),
        other => other
            .as_bytes()
            .map(|b| String::from_utf8_lossy(b).into_owned()),
    }
}

/// A reply of alternating names and values (`SENTINEL master`, RESP2
/// `HELLO`) or a RESP3 map, as a name → text map; `None` for other shapes.
pub fn frame_pairs(f: &Frame) -> Option<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    match f {
        Frame::Array(v) => {
            for pair in v.chunks(2) {
                if let [k, val] = pair {
                    out.insert(frame_string(k)?, frame_string(val).unwrap_or_default());
                }
            }
        }
        Frame::Map(v) => {
            for (k, val) in v {
                out.insert(frame_string(k)?, frame_string(val).unwrap_or_default());
            }
        }
        _ => return None,
    }
    Some(out)
}

/// Parsed `INFO` text: the `field:value` lines of every section.
#[derive(Debug, Clone, Default)]
pub struct Info {
    pub fields: BTreeMap<String, String>,
    /// Field names in the order the server printed them.
    pub order: Vec<String>,
}

impl Info {
    pub fn parse(text: &str) -> Info {
        let mut info = Info::default();
        for line in text.lines() {
            let line = line.trim_end_matches('\r');
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if let Some((k, v)) = line.split_once(':') {
                info.order.push(k.to_string());
                info.fields.insert(k.to_string(), v.to_string());
            }
        }
        info
    }

    pub fn get(&self, field: &str) -> Option<&str> {
        self.fields.get(field).map(String::as_str)
    }

    /// A numeric field (`master_repl_offset`); `None` when absent or not
    /// a number.
    pub fn int(&self, field: &str) -> Option<i64> {
        self.get(field)?.trim().parse().ok()
    }

    /// The `a=1,b=2` sub-fields of a line such as `slave0` or `db0`.
    pub fn sub(&self, field: &str) -> Option<BTreeMap<String, String>> {
        Some(parse_sub_fields(self.get(field)?))
    }

    /// The `slaveN` lines of `INFO replication`, in order.
    pub fn replicas(&self) -> Vec<BTreeMap<String, String>> {
        (0..)
            .map_while(|i| self.sub(&format!("slave{i}")))
            .collect()
    }
}

/// Splits `ip=127.0.0.1,port=6380,state=online` into its fields.
pub fn parse_sub_fields(v: &str) -> BTreeMap<String, String> {
    v.split(',')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_fields_and_sub_fields() {
        let i = Info::parse("# Replication\r\nrole:master\r\nslave0:ip=127.0.0.1,port=6380,state=online,offset=42,lag=0\r\nmaster_repl_offset:42\r\n");
        assert_eq!(i.get("role"), Some("master"));
        assert_eq!(i.int("master_repl_offset"), Some(42));
        let r = i.replicas();
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].get("port").map(String::as_str), Some("6380"));
    }

    #[test]
    fn encode_is_a_multibulk() {
        assert_eq!(encode(&["GET", "k"]), b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n");
    }

    #[test]
    fn pairs_from_array_and_verbatim_strings() {
        let f = Frame::Array(vec![
            Frame::Bulk(b"name".to_vec()),
            Frame::Bulk(b"mymaster".to_vec()),
            Frame::Bulk(b"port".to_vec()),
            Frame::Integer(6379),
        ]);
        let p = frame_pairs(&f).unwrap_or_default();
        assert_eq!(p.get("port").map(String::as_str), Some("6379"));
        assert_eq!(
            frame_string(&Frame::Verbatim(b"txt:hi".to_vec())).as_deref(),
            Some("hi")
        );
    }

    #[tokio::test]
    async fn unreachable_address_is_an_error_not_a_hang() {
        let r = Client::connect_timeout("127.0.0.1:1", Duration::from_millis(500)).await;
        assert!(r.is_err());
    }
}
