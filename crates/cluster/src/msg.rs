//! The cluster bus's messages, laid out byte for byte as Redis 7.0's
//! `clusterMsg` (all integers big-endian):
//!
//! ```text
//!    0 "RCmb"   4 totlen u32   8 ver u16 (1)   10 port u16   12 type u16
//!   14 count u16   16 currentEpoch u64   24 configEpoch u64   32 offset u64
//!   40 sender[40]   80 myslots[2048]   2128 slaveof[40]   2168 myip[46]
//! 2214 extensions u16   2216 reserved[30]   2246 pport u16   2248 cport u16
//! 2250 flags u16   2252 state u8   2253 mflags[3]   2256 data
//! ```
//!
//! `data` is, by type: PING/PONG/MEET `count` gossip entries of 104 bytes
//! (name, ping_sent and pong_received in seconds, ip[46], port, cport,
//! flags, pport, 2 unused) followed by `extensions` ping extensions (u32
//! length, u16 type, u16 padding, body padded to 8 bytes; 7.0 knows only
//! type 0, the hostname, NUL-terminated); FAIL the failed node's name;
//! UPDATE a config epoch, a node name and its slot bitmap.

use crate::node::{Name, SlotBits};
use crate::SLOTS;

pub const SIGNATURE: &[u8; 4] = b"RCmb";
pub const VERSION: u16 = 1;
/// Bytes before `data`: the shortest valid message.
pub const HEADER_LEN: usize = 2256;
pub const GOSSIP_LEN: usize = 104;
const IP_LEN: usize = 46;
/// The largest message Redis's `clusterMsg` holds without extras (UPDATE).
pub const UPDATE_LEN: usize = HEADER_LEN + 8 + 40 + SLOTS / 8;
/// No node (`slaveof` of a master).
pub const NULL_NAME: Name = [0; 40];

pub mod types {
    pub const PING: u16 = 0;
    pub const PONG: u16 = 1;
    pub const MEET: u16 = 2;
    pub const FAIL: u16 = 3;
    pub const PUBLISH: u16 = 4;
    pub const FAILOVER_AUTH_REQUEST: u16 = 5;
    pub const FAILOVER_AUTH_ACK: u16 = 6;
    pub const UPDATE: u16 = 7;
    pub const MFSTART: u16 = 8;
    pub const MODULE: u16 = 9;
    pub const PUBLISHSHARD: u16 = 10;
}

/// `mflags[0]` bits.
pub const FLAG0_PAUSED: u8 = 1;
pub const FLAG0_FORCEACK: u8 = 2;
pub const FLAG0_EXT_DATA: u8 = 4;

const EXT_HOSTNAME: u16 = 0;

/// The sender's view carried by every message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub kind: u16,
    pub port: u16,
    pub current_epoch: u64,
    pub config_epoch: u64,
    pub offset: u64,
    pub sender: Name,
    pub myslots: SlotBits,
    /// The sender's master, for a replica.
    pub slaveof: Option<Name>,
    /// The address the sender announces (empty: take it from the socket).
    pub myip: String,
    pub pport: u16,
    pub cport: u16,
    pub flags: u16,
    /// Cluster state in the sender's view (0 ok, 1 fail).
    pub state: u8,
    pub mflags: [u8; 3],
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gossip {
    pub name: Name,
    /// Seconds.
    pub ping_sent: u32,
    pub pong_received: u32,
    pub ip: String,
    pub port: u16,
    pub cport: u16,
    pub flags: u16,
    pub pport: u16,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    /// PING, PONG, MEET.
    Ping {
        gossip: Vec<Gossip>,
        hostname: Option<String>,
    },
    Fail {
        about: Name,
    },
    Update {
        config_epoch: u64,
        name: Name,
        slots: SlotBits,
    },
    /// PUBLISH and PUBLISHSHARD: u32 channel length, u32 message length,
    /// then the channel and the message.
    Publish {
        channel: Vec<u8>,
        message: Vec<u8>,
    },
    /// A type this node does not act on (yet): the header still counts.
    Other,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub header: Header,
    pub body: Body,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeError {
    /// Not "RCmb", a length below the header or above what we accept.
    BadHeader,
    /// A version other than 1: Redis ignores such messages.
    Version(u16),
    /// The length does not match the type's content.
    BadLength,
}

fn put_u16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_be_bytes());
}
fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_be_bytes());
}
fn put_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_be_bytes());
}
fn put_ip(out: &mut Vec<u8>, ip: &str) {
    let mut field = [0u8; IP_LEN];
    let b = ip.as_bytes();
    let n = b.len().min(IP_LEN - 1);
    field[..n].copy_from_slice(&b[..n]);
    out.extend_from_slice(&field);
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}
fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}
fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_be_bytes(a)
}
fn name_at(b: &[u8], at: usize) -> Name {
    let mut n = [0u8; 40];
    n.copy_from_slice(&b[at..at + 40]);
    n
}
fn cstr_at(b: &[u8], at: usize, len: usize) -> String {
    let field = &b[at..at + len];
    let end = field.iter().position(|&c| c == 0).unwrap_or(len);
    String::from_utf8_lossy(&field[..end]).into_owned()
}
fn slots_at(b: &[u8], at: usize) -> SlotBits {
    let mut s = SlotBits::default();
    s.0.copy_from_slice(&b[at..at + SLOTS / 8]);
    s
}

impl Message {
    /// The message's bytes, `totlen` included.
    pub fn encode(&self) -> Vec<u8> {
        let h = &self.header;
        let mut out = Vec::with_capacity(HEADER_LEN + 512);
        out.extend_from_slice(SIGNATURE);
        put_u32(&mut out, 0); // totlen, patched below
        put_u16(&mut out, VERSION);
        put_u16(&mut out, h.port);
        put_u16(&mut out, h.kind);
        let (count, extensions) = match &self.body {
            Body::Ping { gossip, hostname } => (gossip.len() as u16, u16::from(hostname.is_some())),
            _ => (0, 0),
        };
        put_u16(&mut out, count);
        put_u64(&mut out, h.current_epoch);
        put_u64(&mut out, h.config_epoch);
        put_u64(&mut out, h.offset);
        out.extend_from_slice(&h.sender);
        out.extend_from_slice(&h.myslots.0[..]);
        out.extend_from_slice(&h.slaveof.unwrap_or(NULL_NAME));
        put_ip(&mut out, &h.myip);
        put_u16(&mut out, extensions);
        out.extend_from_slice(&[0u8; 30]);
        put_u16(&mut out, h.pport);
        put_u16(&mut out, h.cport);
        put_u16(&mut out, h.flags);
        out.push(h.state);
        let mut mflags = h.mflags;
        if extensions > 0 {
            mflags[0] |= FLAG0_EXT_DATA;
        }
        out.extend_from_slice(&mflags);
        debug_assert_eq!(out.len(), HEADER_LEN);
        match &self.body {
            Body::Ping { gossip, hostname } => {
                for g in gossip {
                    out.extend_from_slice(&g.name);
                    put_u32(&mut out, g.ping_sent);
                    put_u32(&mut out, g.pong_received);
                    put_ip(&mut out, &g.ip);
                    put_u16(&mut out, g.port);
                    put_u16(&mut out, g.cport);
                    put_u16(&mut out, g.flags);
                    put_u16(&mut out, g.pport);
                    put_u16(&mut out, 0);
                }
                if let Some(name) = hostname {
                    // The body is the name and its NUL, padded to 8 bytes.
                    let body = (name.len() + 1).div_ceil(8) * 8;
                    put_u32(&mut out, (8 + body) as u32);
                    put_u16(&mut out, EXT_HOSTNAME);
                    put_u16(&mut out, 0);
                    out.extend_from_slice(name.as_bytes());
                    out.resize(out.len() + body - name.len(), 0);
                }
            }
            Body::Fail { about } => out.extend_from_slice(about),
            Body::Update {
                config_epoch,
                name,
                slots,
            } => {
                put_u64(&mut out, *config_epoch);
                out.extend_from_slice(name);
                out.extend_from_slice(&slots.0[..]);
            }
            Body::Publish { channel, message } => {
                put_u32(&mut out, channel.len() as u32);
                put_u32(&mut out, message.len() as u32);
                out.extend_from_slice(channel);
                out.extend_from_slice(message);
            }
            Body::Other => {}
        }
        let len = out.len() as u32;
        out[4..8].copy_from_slice(&len.to_be_bytes());
        out
    }

    /// The length a message announces, once its first 8 bytes are in
    /// (`None` when they are not "RCmb" or the length is out of bounds).
    pub fn announced_len(prefix: &[u8]) -> Option<usize> {
        if prefix.len() < 8 || &prefix[..4] != SIGNATURE {
            return None;
        }
        let len = u32_at(prefix, 4) as usize;
        // Redis's limit for a message is its receive buffer's growth; a
        // PUBLISH may be large, so allow up to 512 MB like a bulk string.
        (HEADER_LEN..=512 << 20).contains(&len).then_some(len)
    }

    /// Parses one whole message (`b.len()` is its `totlen`).
    pub fn decode(b: &[u8]) -> Result<Message, DecodeError> {
        if b.len() < HEADER_LEN || &b[..4] != SIGNATURE || u32_at(b, 4) as usize != b.len() {
            return Err(DecodeError::BadHeader);
        }
        let ver = u16_at(b, 8);
        if ver != VERSION {
            return Err(DecodeError::Version(ver));
        }
        let kind = u16_at(b, 12);
        let count = u16_at(b, 14) as usize;
        let slaveof = name_at(b, 2128);
        let header = Header {
            kind,
            port: u16_at(b, 10),
            current_epoch: u64_at(b, 16),
            config_epoch: u64_at(b, 24),
            offset: u64_at(b, 32),
            sender: name_at(b, 40),
            myslots: slots_at(b, 80),
            slaveof: (slaveof != NULL_NAME).then_some(slaveof),
            myip: cstr_at(b, 2168, IP_LEN),
            pport: u16_at(b, 2246),
            cport: u16_at(b, 2248),
            flags: u16_at(b, 2250),
            state: b[2252],
            mflags: [b[2253], b[2254], b[2255]],
        };
        let extensions = u16_at(b, 2214) as usize;
        let data = &b[HEADER_LEN..];
        let body = match kind {
            types::PING | types::PONG | types::MEET => {
                let glen = count * GOSSIP_LEN;
                if data.len() < glen {
                    return Err(DecodeError::BadLength);
                }
                let gossip = (0..count)
                    .map(|i| {
                        let at = HEADER_LEN + i * GOSSIP_LEN;
                        Gossip {
                            name: name_at(b, at),
                            ping_sent: u32_at(b, at + 40),
                            pong_received: u32_at(b, at + 44),
                            ip: cstr_at(b, at + 48, IP_LEN),
                            port: u16_at(b, at + 94),
                            cport: u16_at(b, at + 96),
                            flags: u16_at(b, at + 98),
                            pport: u16_at(b, at + 100),
                        }
                    })
                    .collect();
                let mut hostname = None;
                let mut at = HEADER_LEN + glen;
                if header.mflags[0] & FLAG0_EXT_DATA != 0 {
                    for _ in 0..extensions {
                        if at + 8 > b.len() {
                            return Err(DecodeError::BadLength);
                        }
                        let len = u32_at(b, at) as usize;
                        let ty = u16_at(b, at + 4);
                        if len < 8 || at + len > b.len() {
                            return Err(DecodeError::BadLength);
                        }
                        if ty == EXT_HOSTNAME {
                            hostname = Some(cstr_at(b, at + 8, len - 8));
                        }
                        at += len;
                    }
                    if at != b.len() {
                        return Err(DecodeError::BadLength);
                    }
                } else if at != b.len() {
                    return Err(DecodeError::BadLength);
                }
                Body::Ping { gossip, hostname }
            }
            types::FAIL => {
                if b.len() != HEADER_LEN + 40 {
                    return Err(DecodeError::BadLength);
                }
                Body::Fail {
                    about: name_at(b, HEADER_LEN),
                }
            }
            types::UPDATE => {
                if b.len() != UPDATE_LEN {
                    return Err(DecodeError::BadLength);
                }
                Body::Update {
                    config_epoch: u64_at(b, HEADER_LEN),
                    name: name_at(b, HEADER_LEN + 8),
                    slots: slots_at(b, HEADER_LEN + 48),
                }
            }
            types::PUBLISH | types::PUBLISHSHARD => {
                if b.len() < HEADER_LEN + 8 {
                    return Err(DecodeError::BadLength);
                }
                let clen = u32_at(b, HEADER_LEN) as usize;
                let mlen = u32_at(b, HEADER_LEN + 4) as usize;
                let start = HEADER_LEN + 8;
                if clen.checked_add(mlen).and_then(|n| n.checked_add(start)) != Some(b.len()) {
                    return Err(DecodeError::BadLength);
                }
                Body::Publish {
                    channel: b[start..start + clen].to_vec(),
                    message: b[start + clen..].to_vec(),
                }
            }
            _ => Body::Other,
        };
        Ok(Message { header, body })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(kind: u16) -> Header {
        let mut myslots = SlotBits::default();
        myslots.set(0);
        myslots.set(16383);
        Header {
            kind,
            port: 7000,
            current_epoch: 5,
            config_epoch: 3,
            offset: 1234,
            sender: [b'a'; 40],
            myslots,
            slaveof: None,
            myip: String::new(),
            pport: 0,
            cport: 17000,
            flags: crate::flags::MASTER,
            state: 0,
            mflags: [0; 3],
        }
    }

    #[test]
    fn ping_round_trips_at_redis_offsets() {
        let m = Message {
            header: header(types::PING),
            body: Body::Ping {
                gossip: vec![Gossip {
                    name: [b'b'; 40],
                    ping_sent: 1,
                    pong_received: 2,
                    ip: "127.0.0.1".into(),
                    port: 7001,
                    cport: 17001,
                    flags: 1,
                    pport: 0,
                }],
                hostname: Some("host-a".into()),
            },
        };
        let b = m.encode();
        assert_eq!(&b[..4], b"RCmb");
        assert_eq!(b.len(), HEADER_LEN + GOSSIP_LEN + 16);
        assert_eq!(u32_at(&b, 4) as usize, b.len());
        assert_eq!(u16_at(&b, 10), 7000);
        assert_eq!(&b[40..80], &[b'a'; 40]);
        assert_eq!(b[80], 1); // slot 0
        assert_eq!(b[2127], 0x80); // slot 16383
        assert_eq!(u16_at(&b, 2214), 1);
        assert_eq!(u16_at(&b, 2248), 17000);
        assert_eq!(b[2253] & FLAG0_EXT_DATA, FLAG0_EXT_DATA);
        assert_eq!(Message::announced_len(&b[..8]), Some(b.len()));
        let back = Message::decode(&b).unwrap();
        let mut want = m.clone();
        want.header.mflags[0] |= FLAG0_EXT_DATA;
        assert_eq!(back, want);
    }

    #[test]
    fn fail_and_update_have_redis_lengths() {
        let f = Message {
            header: header(types::FAIL),
            body: Body::Fail { about: [b'c'; 40] },
        };
        assert_eq!(f.encode().len(), 2296);
        assert_eq!(Message::decode(&f.encode()).unwrap(), f);
        let u = Message {
            header: header(types::UPDATE),
            body: Body::Update {
                config_epoch: 9,
                name: [b'd'; 40],
                slots: SlotBits::default(),
            },
        };
        assert_eq!(u.encode().len(), UPDATE_LEN);
        assert_eq!(Message::decode(&u.encode()).unwrap(), u);
        let p = Message {
            header: header(types::PUBLISH),
            body: Body::Publish {
                channel: b"news".to_vec(),
                message: b"hello".to_vec(),
            },
        };
        assert_eq!(p.encode().len(), HEADER_LEN + 8 + 4 + 5);
        assert_eq!(Message::decode(&p.encode()).unwrap(), p);
        let mut bad = u.encode();
        bad[9] = 2;
        assert_eq!(Message::decode(&bad), Err(DecodeError::Version(2)));
    }
}
