//! One node of the cluster as this node sees it.

use crate::SLOTS;

/// A node name: 40 lowercase hex characters.
pub type Name = [u8; 40];

/// Node flags, with Redis's bit values (they travel on the bus).
pub mod flags {
    pub const MASTER: u16 = 1;
    pub const SLAVE: u16 = 2;
    pub const PFAIL: u16 = 4;
    pub const FAIL: u16 = 8;
    pub const MYSELF: u16 = 16;
    pub const HANDSHAKE: u16 = 32;
    pub const NOADDR: u16 = 64;
    pub const MEET: u16 = 128;
    pub const MIGRATE_TO: u16 = 256;
    pub const NOFAILOVER: u16 = 512;

    /// Names in `CLUSTER NODES` order.
    pub const NAMES: [(u16, &str); 8] = [
        (MYSELF, "myself"),
        (MASTER, "master"),
        (SLAVE, "slave"),
        (PFAIL, "fail?"),
        (FAIL, "fail"),
        (HANDSHAKE, "handshake"),
        (NOADDR, "noaddr"),
        (NOFAILOVER, "nofailover"),
    ];
}

/// A fresh random node name (160 random bits in hex, as Redis makes them).
pub fn random_name() -> Name {
    use rand::Rng;
    let mut rng = rand::thread_rng();
    let mut name = [0u8; 40];
    for b in name.iter_mut() {
        *b = b"0123456789abcdef"[rng.gen_range(0..16)];
    }
    name
}

/// Whether `s` is a valid node name (Redis's `verifyClusterNodeId`).
pub fn valid_name(s: &[u8]) -> bool {
    s.len() == 40 && s.iter().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// A slot bitmap, in the bus's byte layout (bit `s % 8` of byte `s / 8`).
#[derive(Clone, PartialEq, Eq)]
pub struct SlotBits(pub Box<[u8; SLOTS / 8]>);

impl Default for SlotBits {
    fn default() -> Self {
        SlotBits(Box::new([0; SLOTS / 8]))
    }
}

impl std::fmt::Debug for SlotBits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SlotBits({} slots)", self.count())
    }
}

impl SlotBits {
    pub fn get(&self, slot: usize) -> bool {
        self.0[slot / 8] & (1 << (slot % 8)) != 0
    }
    pub fn set(&mut self, slot: usize) {
        self.0[slot / 8] |= 1 << (slot % 8);
    }
    pub fn clear(&mut self, slot: usize) {
        self.0[slot / 8] &= !(1 << (slot % 8));
    }
    pub fn count(&self) -> usize {
        self.0.iter().map(|b| b.count_ones() as usize).sum()
    }
    /// Adds the slots of `other` to these.
    pub fn union_with(&mut self, other: &SlotBits) {
        for (a, b) in self.0.iter_mut().zip(other.0.iter()) {
            *a |= b;
        }
    }
    /// Whether every slot is set.
    pub fn is_full(&self) -> bool {
        self.0.iter().all(|&b| b == 0xff)
    }
    /// Contiguous ranges of set slots, inclusive.
    pub fn ranges(&self) -> Vec<(u16, u16)> {
        let mut out = Vec::new();
        let mut start: Option<usize> = None;
        for (i, &byte) in self.0.iter().enumerate() {
            // Whole bytes inside a run or a gap change nothing (a save
            // walks every node's bitmap).
            match (byte, start) {
                (0, None) | (0xff, Some(_)) => continue,
                _ => {}
            }
            for bit in 0..8 {
                let s = i * 8 + bit;
                match (byte & (1 << bit) != 0, start) {
                    (true, None) => start = Some(s),
                    (false, Some(st)) => {
                        out.push((st as u16, (s - 1) as u16));
                        start = None;
                    }
                    _ => {}
                }
            }
        }
        if let Some(st) = start {
            out.push((st as u16, (SLOTS - 1) as u16));
        }
        out
    }
}

#[derive(Debug, Clone)]
pub struct Node {
    pub name: Name,
    pub flags: u16,
    pub ip: String,
    pub port: u16,
    pub cport: u16,
    /// Plaintext port when `port` is a TLS port (0 when none).
    pub pport: u16,
    pub hostname: String,
    /// The master's name, for a replica.
    pub master: Option<Name>,
    pub config_epoch: u64,
    /// Milliseconds (Unix) of the PING not yet answered, or 0.
    pub ping_sent: u64,
    pub pong_received: u64,
    /// When the node became FAIL (ms), or 0.
    pub fail_time: u64,
    /// When this node was created (ms), to time out a handshake.
    pub ctime: u64,
    pub slots: SlotBits,
    /// Masters that reported this node as PFAIL or FAIL, with when (ms).
    pub fail_reports: Vec<(Name, u64)>,
    /// Replication offset the node last announced.
    pub repl_offset: u64,
    /// Whether a bus link to it is up (for `connected`/`disconnected`).
    pub link_up: bool,
    /// When we last voted for a replica of this master (ms).
    pub voted_time: u64,
    /// Since when this master has had no working replica (ms), 0 when it
    /// has one (replica migration).
    pub orphaned_time: u64,
}

impl Node {
    pub fn new(name: Name, flags: u16, now: u64) -> Node {
        Node {
            name,
            flags,
            ip: String::new(),
            port: 0,
            cport: 0,
            pport: 0,
            hostname: String::new(),
            master: None,
            config_epoch: 0,
            ping_sent: 0,
            pong_received: 0,
            fail_time: 0,
            ctime: now,
            slots: SlotBits::default(),
            fail_reports: Vec::new(),
            repl_offset: 0,
            link_up: false,
            voted_time: 0,
            orphaned_time: 0,
        }
    }

    pub fn has(&self, f: u16) -> bool {
        self.flags & f != 0
    }
    /// The port a client should be told: with `use_pport` (a plain
    /// client of a TLS cluster) the plain port where the node has one,
    /// else the one it announced (Redis's `use_pport` choice).
    pub fn client_port(&self, use_pport: bool) -> u16 {
        if use_pport && self.pport != 0 {
            self.pport
        } else {
            self.port
        }
    }

    pub fn is_master(&self) -> bool {
        self.has(flags::MASTER)
    }
    pub fn is_replica(&self) -> bool {
        self.has(flags::SLAVE)
    }
    pub fn is_myself(&self) -> bool {
        self.has(flags::MYSELF)
    }
    pub fn failed(&self) -> bool {
        self.has(flags::FAIL)
    }
    pub fn in_handshake(&self) -> bool {
        self.has(flags::HANDSHAKE)
    }

    /// Flags as `CLUSTER NODES` prints them (`myself,master`, `noflags`).
    pub fn flags_text(&self) -> String {
        let names: Vec<&str> = flags::NAMES
            .iter()
            .filter(|(f, _)| self.flags & f != 0)
            .map(|(_, n)| *n)
            .collect();
        if names.is_empty() {
            "noflags".to_string()
        } else {
            names.join(",")
        }
    }

    pub fn name_str(&self) -> &str {
        std::str::from_utf8(&self.name).unwrap_or("")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slot_ranges_and_flags() {
        let mut b = SlotBits::default();
        for s in [0, 1, 2, 5, 16383] {
            b.set(s);
        }
        assert_eq!(b.ranges(), vec![(0, 2), (5, 5), (16383, 16383)]);
        assert_eq!(b.count(), 5);
        let mut n = Node::new(random_name(), flags::MYSELF | flags::MASTER, 0);
        assert!(valid_name(&n.name));
        assert_eq!(n.flags_text(), "myself,master");
        n.flags = 0;
        assert_eq!(n.flags_text(), "noflags");
    }

    #[test]
    fn slot_ranges_across_whole_bytes() {
        let mut b = SlotBits::default();
        for s in (7..=40).chain(64..72).chain(100..=16383) {
            b.set(s);
        }
        assert_eq!(b.ranges(), vec![(7, 40), (64, 71), (100, 16383)]);
        let mut all = SlotBits::default();
        (0..SLOTS).for_each(|s| all.set(s));
        assert_eq!(all.ranges(), vec![(0, 16383)]);
        assert!(SlotBits::default().ranges().is_empty());
    }
}
