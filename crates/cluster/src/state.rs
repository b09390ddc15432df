//! The cluster as this node sees it, and the rules of Redis 7.0's
//! `cluster.c` that change it: slots belong to the master with the highest
//! config epoch claiming them; a node met by address is in `handshake`
//! under a random name until its first PONG tells its real one; gossip
//! introduces the nodes our peers know; a node that does not answer a PING
//! within `cluster-node-timeout` is PFAIL, and FAIL once a majority of the
//! masters serving slots report it. Every function here is a pure step of
//! state, message and time; the engine does the I/O.

use crate::msg::{self, Body, Gossip, Header, Message};
use crate::node::{flags, random_name, Name, Node, SlotBits};
use crate::SLOTS;
use std::collections::BTreeMap;

/// How long a FORGET keeps a node from being re-added by gossip (Redis's
/// `CLUSTER_BLACKLIST_TTL`, seconds).
pub const BLACKLIST_TTL_MS: u64 = 60_000;
/// A master waits this long after start-up before turning its state ok
/// (Redis's `CLUSTER_WRITABLE_DELAY`).
pub const WRITABLE_DELAY_MS: u64 = 2000;
/// Failure reports older than node_timeout × this are ignored.
pub const FAIL_REPORT_VALIDITY_MULT: u64 = 2;

/// Resolves slots to their owners during a walk over many slots. The
/// table holds owners by name, and finding a name is a search of the node
/// list; slots come in long runs with one owner, so remembering the last
/// one turns a walk's 16384 searches into a handful. (Walks run for every
/// change of slots and every message whose sender claims other slots; in
/// a 20-node cluster being resharded, searching per slot was most of each
/// node's time.)
pub struct Owners<'a> {
    st: &'a ClusterState,
    last: Option<(Name, Option<&'a Node>)>,
}

impl<'a> Owners<'a> {
    pub fn owner(&mut self, slot: usize) -> Option<&'a Node> {
        let name = self.st.slots[slot].as_ref()?;
        match self.last {
            Some((n, node)) if n == *name => node,
            _ => {
                let node = self.st.node(name);
                self.last = Some((*name, node));
                node
            }
        }
    }
}

#[derive(Debug, Clone)]
pub struct ClusterState {
    pub myself: Name,
    pub current_epoch: u64,
    pub last_vote_epoch: u64,
    pub nodes: Vec<Node>,
    /// Owner of each slot.
    pub slots: Vec<Option<Name>>,
    pub migrating: BTreeMap<u16, Name>,
    pub importing: BTreeMap<u16, Name>,
    pub ok: bool,
    /// Masters serving at least one slot.
    pub size: usize,
    /// Nodes FORGET removed, with when they may come back (ms).
    pub blacklist: Vec<(Name, u64)>,
    first_state_update: u64,
    /// Set by `update_slots_with`, moved into `Effects::follow`.
    pub(crate) pending_follow: Option<Name>,
    /// As a master in a plain manual failover: our writers are paused and
    /// our PINGs carry PAUSED until then (ms), 0 otherwise.
    pub mf_paused_until: u64,
    /// A replica's election (see `failover.rs`).
    pub election: crate::failover::Election,
    pub stats_sent: [u64; 11],
    pub stats_received: [u64; 11],
    /// `cluster-allow-replica-migration`, as the engine last set it.
    pub allow_replica_migration: bool,
    /// `cluster-node-timeout` (ms), as the engine last set it.
    pub node_timeout: u64,
}

/// What the engine must do after a message was processed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Effects {
    /// Answer on the same link with a message of this type (PONG).
    pub reply: Option<u16>,
    pub save: bool,
    pub update_state: bool,
    /// Close the link the message came on.
    pub drop_link: bool,
    /// A handshake node got its real name: (old, new).
    pub renamed: Option<(Name, Name)>,
    /// Nodes removed (a handshake node duplicating a known one).
    pub removed: Vec<Name>,
    /// Tell the sender about a newer owner of slots it claims (UPDATE
    /// about this node).
    pub send_update_about: Option<Name>,
    /// Nodes this node just marked FAIL: broadcast FAIL for them.
    pub broadcast_fail: Vec<Name>,
    /// Slots this node lost to a newer owner while holding keys in them:
    /// the keys are deleted, as Redis does.
    pub dirty_slots: Vec<u16>,
    /// Our master (or we, as a master) lost its last slots to this node:
    /// follow it as a replica (a failed-over master coming back, or the
    /// other replicas of a master that was replaced).
    pub follow: Option<Name>,
    /// Answer a FAILOVER_AUTH_REQUEST with an ACK (our vote).
    pub vote: bool,
    /// One of our replicas asked for a manual failover: pause writers.
    pub manual_failover_start: bool,
    /// A message published on another node, for our subscribers:
    /// (sharded, channel, message).
    pub publish: Option<(bool, Vec<u8>, Vec<u8>)>,
}

/// Where a message came from.
#[derive(Debug, Clone)]
pub struct LinkInfo {
    /// The node of an outbound link (we connected to it); `None` inbound.
    pub node: Option<Name>,
    /// The peer's address as the socket sees it.
    pub peer_ip: String,
    /// Our address on this socket (to learn our own IP on MEET).
    pub local_ip: String,
}

impl ClusterState {
    pub fn new(myself: Name, now: u64) -> ClusterState {
        let mut me = Node::new(myself, flags::MYSELF | flags::MASTER, now);
        me.link_up = true;
        ClusterState {
            myself,
            current_epoch: 0,
            last_vote_epoch: 0,
            nodes: vec![me],
            slots: vec![None; SLOTS],
            migrating: BTreeMap::new(),
            importing: BTreeMap::new(),
            ok: false,
            size: 0,
            blacklist: Vec::new(),
            first_state_update: 0,
            pending_follow: None,
            election: Default::default(),
            mf_paused_until: 0,
            stats_sent: [0; 11],
            stats_received: [0; 11],
            allow_replica_migration: true,
            node_timeout: 15000,
        }
    }

    // ---------------------------------------------------------------
    // Nodes
    // ---------------------------------------------------------------

    pub fn index_of(&self, name: &Name) -> Option<usize> {
        self.nodes.iter().position(|n| &n.name == name)
    }
    pub fn node(&self, name: &Name) -> Option<&Node> {
        self.nodes.iter().find(|n| &n.name == name)
    }
    pub fn node_mut(&mut self, name: &Name) -> Option<&mut Node> {
        self.nodes.iter_mut().find(|n| &n.name == name)
    }
    /// Looks a node up by a name given as text (CLUSTER SETSLOT, FORGET...).
    pub fn node_by_text(&self, text: &[u8]) -> Option<&Node> {
        if text.len() != 40 {
            return None;
        }
        self.nodes.iter().find(|n| n.name[..] == *text)
    }
    pub fn me(&self) -> &Node {
        // Myself is always in the table: created first, never removed.
        match self.node(&self.myself) {
            Some(n) => n,
            None => &self.nodes[0],
        }
    }
    pub fn me_mut(&mut self) -> &mut Node {
        let name = self.myself;
        let i = self.index_of(&name).unwrap_or(0);
        &mut self.nodes[i]
    }

    /// Replicas of `master`.
    pub fn replicas_of(&self, master: &Name) -> impl Iterator<Item = &Node> {
        let m = *master;
        self.nodes
            .iter()
            .filter(move |n| n.is_replica() && n.master == Some(m))
    }

    /// Removes a node and everything pointing at it (Redis's
    /// `clusterDelNode`).
    pub fn del_node(&mut self, name: &Name) {
        for s in 0..SLOTS {
            if self.slots[s] == Some(*name) {
                self.slots[s] = None;
            }
        }
        self.migrating.retain(|_, n| n != name);
        self.importing.retain(|_, n| n != name);
        for n in &mut self.nodes {
            n.fail_reports.retain(|(r, _)| r != name);
            if n.master == Some(*name) {
                n.master = None;
            }
        }
        self.nodes.retain(|n| &n.name != name);
    }

    /// Starts a handshake with a node known only by address (CLUSTER MEET,
    /// or Redis before 7.0 gossip). Returns false when one is already in
    /// progress with that address, as Redis does.
    pub fn start_handshake(&mut self, ip: &str, port: u16, cport: u16, now: u64) -> bool {
        if self.nodes.iter().any(|n| {
            n.in_handshake() && n.ip.eq_ignore_ascii_case(ip) && n.port == port && n.cport == cport
        }) {
            return false;
        }
        let mut n = Node::new(random_name(), flags::HANDSHAKE | flags::MEET, now);
        n.ip = ip.to_string();
        n.port = port;
        n.cport = cport;
        self.nodes.push(n);
        true
    }

    pub fn blacklisted(&self, name: &Name, now: u64) -> bool {
        self.blacklist
            .iter()
            .any(|(n, until)| n == name && *until > now)
    }

    /// CLUSTER FORGET: remove it and keep gossip from re-adding it.
    pub fn forget(&mut self, name: &Name, now: u64) {
        self.blacklist.retain(|(_, until)| *until > now);
        self.blacklist.push((*name, now + BLACKLIST_TTL_MS));
        self.del_node(name);
    }

    // ---------------------------------------------------------------
    // Slots
    // ---------------------------------------------------------------

    /// Gives `slot` to `owner` (which must not hold it from another node).
    pub fn add_slot(&mut self, slot: usize, owner: &Name) -> bool {
        if self.slots[slot].is_some() {
            return false;
        }
        let Some(n) = self.node_mut(owner) else {
            return false;
        };
        n.slots.set(slot);
        self.slots[slot] = Some(*owner);
        true
    }

    pub fn del_slot(&mut self, slot: usize) -> bool {
        let Some(owner) = self.slots[slot].take() else {
            return false;
        };
        if let Some(n) = self.node_mut(&owner) {
            n.slots.clear(slot);
        }
        true
    }

    pub fn owner(&self, slot: usize) -> Option<&Node> {
        self.slots[slot].as_ref().and_then(|n| self.node(n))
    }

    /// Owner look-ups for a walk over many slots (see [`Owners`]).
    pub fn owners(&self) -> Owners<'_> {
        Owners {
            st: self,
            last: None,
        }
    }

    pub fn slots_assigned(&self) -> usize {
        self.slots.iter().filter(|s| s.is_some()).count()
    }

    /// Slots assigned to nodes in `flag` state (PFAIL or FAIL).
    pub fn slots_with_owner_flag(&self, flag: u16) -> usize {
        let mut owners = self.owners();
        (0..SLOTS)
            .filter(|&s| owners.owner(s).is_some_and(|n| n.has(flag)))
            .count()
    }

    /// Slots of `sender` as a master claims them, applied by epoch: a slot
    /// moves to it when unassigned or owned by a node with a lower config
    /// epoch (Redis's `clusterUpdateSlotsConfigWith`, without the
    /// demotion of a master that lost all its slots, which comes with
    /// failover). Returns whether anything changed, and the slots this
    /// node lost that still hold keys (the caller deletes them).
    pub fn update_slots_with(
        &mut self,
        sender: &Name,
        epoch: u64,
        claimed: &SlotBits,
    ) -> (bool, Vec<u16>) {
        let mut changed = false;
        let mut dirty = Vec::new();
        if *sender == self.myself {
            return (false, dirty);
        }
        let me = self.me();
        let curmaster = if me.is_master() {
            Some(self.myself)
        } else {
            me.master
        };
        let mut moved_from_curmaster = 0;
        let sender_slots = claimed.count();
        // The last owner seen and its epoch: slots come in runs with one
        // owner, and the epochs do not change in this walk.
        let mut last_owner: Option<(Name, Option<u64>)> = None;
        // Only the claimed slots the sender does not hold yet can change;
        // the walk skips the rest a byte at a time.
        let held = self
            .node(sender)
            .map(|n| n.slots.clone())
            .unwrap_or_default();
        let mut new_claims = Vec::new();
        for (i, (&c, &h)) in claimed.0.iter().zip(held.0.iter()).enumerate() {
            let fresh = c & !h;
            new_claims.extend((0..8).filter(|b| fresh & (1 << b) != 0).map(|b| i * 8 + b));
        }
        for s in new_claims {
            if self.importing.contains_key(&(s as u16)) {
                continue;
            }
            let owner_epoch = match (self.slots[s], last_owner) {
                (None, _) => None,
                (Some(o), Some((n, e))) if o == n => e,
                (Some(o), _) => {
                    let e = self.node(&o).map(|n| n.config_epoch);
                    last_owner = Some((o, e));
                    e
                }
            };
            if owner_epoch.is_none_or(|e| e < epoch) {
                if self.slots[s] == Some(self.myself) {
                    dirty.push(s as u16);
                }
                if self.slots[s].is_some() && self.slots[s] == curmaster {
                    moved_from_curmaster += 1;
                }
                self.del_slot(s);
                self.add_slot(s, sender);
                changed = true;
            }
        }
        // Our master (or we) lost every slot to the sender: it replaced
        // us, so we follow it, and keep no keys of the slots (Redis's
        // clusterUpdateSlotsConfigWith).
        // With `cluster-allow-replica-migration no`, only a sender that
        // took exactly our slots (it replaced us) is followed; a master
        // emptied by a resharding stays an empty master.
        let emptied = curmaster
            .and_then(|m| self.node(&m))
            .is_some_and(|m| m.slots.count() == 0);
        let replaced = self.allow_replica_migration || sender_slots == moved_from_curmaster;
        if moved_from_curmaster > 0 && emptied && replaced {
            self.pending_follow = Some(*sender);
            dirty.clear();
        } else if let Some(grand) = self.grandmaster() {
            // Our master became a replica itself: follow its master, so
            // no replica is left replicating from a replica.
            self.pending_follow = Some(grand);
        }
        (changed, dirty)
    }

    /// The slots of our shard: ours as a master, our master's as a
    /// replica.
    pub fn shard_slots(&self) -> SlotBits {
        let me = self.me();
        let owner = if me.is_master() {
            Some(me)
        } else {
            me.master.and_then(|m| self.node(&m))
        };
        owner.map(|n| n.slots.clone()).unwrap_or_default()
    }

    /// Our master's master, when our master is a replica (of a node other
    /// than us: after a TAKEOVER we may briefly be our master's master).
    fn grandmaster(&self) -> Option<Name> {
        let master = self.node(&self.me().master?)?;
        master.master.filter(|g| *g != self.myself)
    }

    // ---------------------------------------------------------------
    // Epochs
    // ---------------------------------------------------------------

    pub fn max_epoch(&self) -> u64 {
        self.nodes
            .iter()
            .map(|n| n.config_epoch)
            .max()
            .unwrap_or(0)
            .max(self.current_epoch)
    }

    /// CLUSTER BUMPEPOCH: a new config epoch without agreement, unless ours
    /// is already the highest. Returns whether it bumped.
    pub fn bump_epoch(&mut self) -> bool {
        let max = self.max_epoch();
        let mine = self.me().config_epoch;
        if mine == 0 || mine != max {
            self.current_epoch += 1;
            let e = self.current_epoch;
            self.me_mut().config_epoch = e;
            true
        } else {
            false
        }
    }

    /// Two masters with one config epoch: the one with the smaller name
    /// takes a new one, the other keeps it (Redis's
    /// `clusterHandleConfigEpochCollision`). Returns whether we changed.
    pub fn handle_epoch_collision(&mut self, sender: &Name) -> bool {
        let Some(s) = self.node(sender) else {
            return false;
        };
        let me = self.me();
        if s.config_epoch != me.config_epoch || !s.is_master() || !me.is_master() {
            return false;
        }
        if s.name <= me.name {
            return false;
        }
        self.current_epoch += 1;
        let e = self.current_epoch;
        self.me_mut().config_epoch = e;
        true
    }

    // ---------------------------------------------------------------
    // Messages out
    // ---------------------------------------------------------------

    /// The header of a message from this node (Redis's
    /// `clusterBuildMessageHdr`): a replica announces its master's slots
    /// and config epoch.
    pub fn header(
        &self,
        kind: u16,
        port: u16,
        cport: u16,
        announce_ip: &str,
        offset: u64,
    ) -> Header {
        let me = self.me();
        let master = me.master.and_then(|m| self.node(&m));
        let (myslots, config_epoch) = match (me.is_replica(), master) {
            (true, Some(m)) => (m.slots.clone(), m.config_epoch),
            _ => (me.slots.clone(), me.config_epoch),
        };
        Header {
            kind,
            port,
            current_epoch: self.current_epoch,
            config_epoch,
            offset,
            sender: self.myself,
            myslots,
            slaveof: if me.is_replica() { me.master } else { None },
            myip: announce_ip.to_string(),
            // Our plain port in a TLS cluster (`port` is then the TLS
            // one), 0 otherwise.
            pport: me.pport,
            cport,
            flags: me.flags,
            state: if self.ok { 0 } else { 1 },
            mflags: [
                if self.mf_paused_until != 0 && me.is_master() {
                    msg::FLAG0_PAUSED
                } else {
                    0
                },
                0,
                0,
            ],
        }
    }

    /// A PING, PONG or MEET with gossip about a few other nodes and all
    /// nodes in PFAIL (Redis's `clusterSendPing` choice: a tenth of the
    /// nodes, at least 3, never the receiver or ourselves).
    pub fn ping_message(&self, header: Header, to: Option<&Name>, hostname: &str) -> Message {
        let others: Vec<&Node> = self
            .nodes
            .iter()
            .filter(|n| !n.is_myself() && Some(&n.name) != to)
            .collect();
        let wanted = (self.nodes.len() / 10)
            .max(3)
            .min(self.nodes.len().saturating_sub(2));
        let mut gossip: Vec<Gossip> = Vec::new();
        let mut candidates: Vec<&Node> = others
            .iter()
            .copied()
            .filter(|n| {
                !n.has(flags::PFAIL)
                    && !n.has(flags::HANDSHAKE | flags::NOADDR)
                    && (n.link_up || n.slots.count() > 0)
            })
            .collect();
        use rand::seq::SliceRandom;
        candidates.shuffle(&mut rand::thread_rng());
        for n in candidates.into_iter().take(wanted) {
            gossip.push(gossip_entry(n));
        }
        for n in others
            .iter()
            .filter(|n| n.has(flags::PFAIL) && !n.has(flags::HANDSHAKE | flags::NOADDR))
        {
            gossip.push(gossip_entry(n));
        }
        Message {
            header,
            body: Body::Ping {
                gossip,
                hostname: (!hostname.is_empty()).then(|| hostname.to_string()),
            },
        }
    }

    // ---------------------------------------------------------------
    // Failure detection and state
    // ---------------------------------------------------------------

    /// Masters needed to agree a node failed.
    pub fn failure_quorum(&self) -> usize {
        self.size / 2 + 1
    }

    /// PFAIL → FAIL when enough masters report it (ourselves included when
    /// a master). `node_timeout` bounds the validity of reports; pass
    /// `u64::MAX` from paths where the caller already pruned them.
    /// Returns whether the node just became FAIL (broadcast it).
    pub fn mark_failing_if_needed(&mut self, name: &Name, now: u64, node_timeout: u64) -> bool {
        let quorum = self.failure_quorum();
        let me_master = self.me().is_master();
        let Some(n) = self.node_mut(name) else {
            return false;
        };
        if !n.has(flags::PFAIL) || n.has(flags::FAIL) {
            return false;
        }
        if node_timeout != u64::MAX {
            let validity = node_timeout.saturating_mul(FAIL_REPORT_VALIDITY_MULT);
            n.fail_reports
                .retain(|(_, t)| now.saturating_sub(*t) <= validity);
        }
        let reports = n.fail_reports.len() + usize::from(me_master);
        if reports < quorum {
            return false;
        }
        n.flags &= !flags::PFAIL;
        n.flags |= flags::FAIL;
        n.fail_time = now;
        true
    }

    /// Recomputes `ok` and `size` (Redis's `clusterUpdateState`): ok when
    /// every slot is served by a non-failed node (with full coverage
    /// required) and we are in the majority partition of masters.
    pub fn update_state(
        &mut self,
        now: u64,
        require_full_coverage: bool,
        node_timeout: u64,
    ) -> bool {
        if self.first_state_update == 0 {
            self.first_state_update = now.max(1);
        }
        if self.me().is_master()
            && !self.ok
            && now.saturating_sub(self.first_state_update) < WRITABLE_DELAY_MS
        {
            return false;
        }
        let mut ok = true;
        if require_full_coverage {
            // Every slot is served by a node not failing: the union of
            // those nodes' bitmaps (kept in step with `slots` by
            // add_slot/del_slot) covers them all.
            let mut covered = SlotBits::default();
            for n in self.nodes.iter().filter(|n| !n.failed()) {
                covered.union_with(&n.slots);
            }
            ok = covered.is_full();
        }
        let masters: Vec<&Node> = self
            .nodes
            .iter()
            .filter(|n| n.is_master() && n.slots.count() > 0)
            .collect();
        self.size = masters.len();
        let reachable = masters
            .iter()
            .filter(|n| !n.has(flags::FAIL | flags::PFAIL))
            .count();
        let quorum = self.size / 2 + 1;
        if reachable < quorum {
            ok = false;
        }
        let _ = node_timeout;
        let changed = ok != self.ok;
        self.ok = ok;
        changed
    }

    /// The cron's failure detection: nodes whose PING went unanswered for
    /// longer than `node_timeout` become PFAIL; handshakes that did not
    /// complete within it are dropped. Returns (nodes now PFAIL, handshake
    /// nodes removed).
    pub fn detect_timeouts(&mut self, now: u64, node_timeout: u64) -> (Vec<Name>, Vec<Name>) {
        let handshake_timeout = node_timeout.max(1000);
        let stale: Vec<Name> = self
            .nodes
            .iter()
            .filter(|n| n.in_handshake() && now.saturating_sub(n.ctime) > handshake_timeout)
            .map(|n| n.name)
            .collect();
        for n in &stale {
            self.del_node(n);
        }
        let mut pfail = Vec::new();
        for n in self.nodes.iter_mut() {
            if n.is_myself() || n.has(flags::NOADDR | flags::HANDSHAKE) {
                continue;
            }
            if n.ping_sent != 0
                && now.saturating_sub(n.ping_sent) > node_timeout
                && !n.has(flags::PFAIL | flags::FAIL)
            {
                n.flags |= flags::PFAIL;
                pfail.push(n.name);
            }
        }
        (pfail, stale)
    }
}

fn gossip_entry(n: &Node) -> Gossip {
    Gossip {
        name: n.name,
        ping_sent: (n.ping_sent / 1000) as u32,
        pong_received: (n.pong_received / 1000) as u32,
        ip: n.ip.clone(),
        port: n.port,
        cport: n.cport,
        flags: n.flags,
        pport: n.pport,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(c: u8) -> Name {
        [c; 40]
    }

    fn link(node: Option<Name>) -> LinkInfo {
        LinkInfo {
            node,
            peer_ip: "127.0.0.1".into(),
            local_ip: "127.0.0.1".into(),
        }
    }

    fn peer_msg(kind: u16, sender: Name, epoch: u64, slots: &[usize]) -> Message {
        let mut myslots = SlotBits::default();
        for &s in slots {
            myslots.set(s);
        }
        Message {
            header: Header {
                kind,
                port: 7001,
                current_epoch: epoch,
                config_epoch: epoch,
                offset: 0,
                sender,
                myslots,
                slaveof: None,
                myip: String::new(),
                pport: 0,
                cport: 17001,
                flags: flags::MASTER,
                state: 0,
                mflags: [0; 3],
            },
            body: Body::Ping {
                gossip: vec![],
                hostname: None,
            },
        }
    }

    #[test]
    fn meet_then_pong_completes_the_handshake() {
        let mut a = ClusterState::new(name(b'a'), 1);
        assert!(a.start_handshake("127.0.0.1", 7001, 17001, 1));
        assert!(!a.start_handshake("127.0.0.1", 7001, 17001, 1));
        let hs = a.nodes[1].name;
        let fx = a.receive(
            &peer_msg(msg::types::PONG, name(b'b'), 0, &[]),
            &link(Some(hs)),
            2,
            false,
        );
        assert_eq!(fx.renamed, Some((hs, name(b'b'))));
        let b = a.node(&name(b'b')).unwrap();
        assert!(!b.in_handshake() && b.is_master());

        // The other side: a MEET from an unknown node adds it in handshake
        // and is answered with a PONG.
        let mut c = ClusterState::new(name(b'c'), 1);
        let fx = c.receive(
            &peer_msg(msg::types::MEET, name(b'b'), 0, &[]),
            &link(None),
            2,
            false,
        );
        assert_eq!(fx.reply, Some(msg::types::PONG));
        assert_eq!(c.nodes.len(), 2);
        assert!(c.nodes[1].in_handshake());
        assert_eq!(c.me().ip, "127.0.0.1");
    }

    #[test]
    fn slots_go_to_the_highest_config_epoch() {
        let mut a = ClusterState::new(name(b'a'), 1);
        a.nodes.push(Node::new(name(b'b'), flags::MASTER, 1));
        a.nodes.push(Node::new(name(b'c'), flags::MASTER, 1));
        let fx = a.receive(
            &peer_msg(msg::types::PING, name(b'b'), 1, &[5, 6]),
            &link(None),
            2,
            false,
        );
        assert!(fx.save && fx.update_state);
        assert_eq!(a.slots[5], Some(name(b'b')));
        // A lower epoch does not take it; a higher one does.
        a.receive(
            &peer_msg(msg::types::PING, name(b'c'), 0, &[5]),
            &link(None),
            3,
            false,
        );
        assert_eq!(a.slots[5], Some(name(b'b')));
        let fx = a.receive(
            &peer_msg(msg::types::PING, name(b'c'), 0, &[6]),
            &link(None),
            3,
            false,
        );
        assert_eq!(fx.send_update_about, Some(name(b'b')));
        a.receive(
            &peer_msg(msg::types::PING, name(b'c'), 2, &[5]),
            &link(None),
            4,
            false,
        );
        assert_eq!(a.slots[5], Some(name(b'c')));
        assert_eq!(a.slots[6], Some(name(b'b')));
        // Epoch 0 collided with ours: 'a' (the smaller name) took a new one.
        assert!(a.current_epoch >= 2);
    }

    #[test]
    fn epoch_collision_moves_the_larger_name() {
        let mut b = ClusterState::new(name(b'b'), 1);
        b.me_mut().config_epoch = 1;
        let mut a = Node::new(name(b'a'), flags::MASTER, 1);
        a.config_epoch = 1;
        b.nodes.push(a);
        // The sender has the smaller name: we keep ours.
        assert!(!b.handle_epoch_collision(&name(b'a')));
        assert_eq!(b.me().config_epoch, 1);
        let mut a2 = ClusterState::new(name(b'a'), 1);
        a2.me_mut().config_epoch = 1;
        let mut bn = Node::new(name(b'b'), flags::MASTER, 1);
        bn.config_epoch = 1;
        a2.nodes.push(bn);
        // 'a' < 'b': as in Redis, the smaller name takes a new epoch.
        assert!(a2.handle_epoch_collision(&name(b'b')));
        assert_eq!(a2.me().config_epoch, 1);
    }

    #[test]
    fn state_needs_full_coverage_and_a_majority() {
        let mut a = ClusterState::new(name(b'a'), 1);
        a.update_state(1, true, 15000);
        assert!(!a.ok);
        for s in 0..SLOTS {
            a.add_slot(s, &name(b'a'));
        }
        // Still within the writable delay after start-up.
        assert!(!a.update_state(100, true, 15000));
        assert!(a.update_state(5000, true, 15000));
        assert!(a.ok && a.size == 1);
        a.del_slot(0);
        a.update_state(6000, true, 15000);
        assert!(!a.ok);
        a.update_state(6000, false, 15000);
        assert!(a.ok);
        // A slot served by a failing master is not covered (a majority of
        // the four masters still answers).
        for (c, slot) in [(b'b', 0), (b'c', 1), (b'd', 2)] {
            a.nodes.push(Node::new(name(c), flags::MASTER, 1));
            a.del_slot(slot);
            a.add_slot(slot, &name(c));
        }
        a.update_state(7000, true, 15000);
        assert!(a.ok && a.size == 4);
        if let Some(b) = a.node_mut(&name(b'b')) {
            b.flags |= flags::FAIL;
        }
        a.update_state(7000, true, 15000);
        assert!(!a.ok);
        assert_eq!(a.slots_with_owner_flag(flags::FAIL), 1);
        a.update_state(7000, false, 15000);
        assert!(a.ok);
    }

    #[test]
    fn unanswered_ping_is_pfail_then_fail_by_majority() {
        let mut a = ClusterState::new(name(b'a'), 1);
        let mut b = Node::new(name(b'b'), flags::MASTER, 1);
        b.ping_sent = 1000;
        a.nodes.push(b);
        a.nodes.push(Node::new(name(b'c'), flags::MASTER, 1));
        for (s, n) in [(0, b'a'), (1, b'b'), (2, b'c')] {
            a.add_slot(s, &name(n));
        }
        a.update_state(1, false, 5000);
        a.update_state(10_000, false, 5000);
        assert_eq!(a.size, 3);
        let (pfail, _) = a.detect_timeouts(7000, 5000);
        assert_eq!(pfail, vec![name(b'b')]);
        // Our own view is one report of two needed.
        assert!(!a.mark_failing_if_needed(&name(b'b'), 7000, 5000));
        let mut m = peer_msg(msg::types::PING, name(b'c'), 0, &[2]);
        let mut g = gossip_entry(a.node(&name(b'b')).unwrap());
        g.flags |= flags::PFAIL;
        m.body = Body::Ping {
            gossip: vec![g],
            hostname: None,
        };
        let fx = a.receive(&m, &link(None), 7100, false);
        assert_eq!(fx.broadcast_fail, vec![name(b'b')]);
        assert!(a.node(&name(b'b')).unwrap().failed());
    }
}
