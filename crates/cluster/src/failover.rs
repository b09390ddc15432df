//! Failover inside the cluster, Redis 7.0's rules (`clusterHandleSlaveFailover`,
//! `clusterSendFailoverAuthIfNeeded`, `clusterFailoverReplaceYourMaster`):
//! once its master is FAIL, a replica waits 500 ms plus up to 500 ms at
//! random plus one second per replica with a larger replication offset
//! (its rank: the best-synced replica goes first), then takes a new
//! `currentEpoch` and asks every master for its vote. A master votes once
//! per epoch, for a replica whose master is FAIL, not twice for the same
//! master within two node timeouts, and only if no slot the replica claims
//! belongs to a node with a newer config epoch. With the votes of a
//! majority of the masters serving slots, the replica takes its master's
//! slots under the election's epoch and announces it.

use crate::msg::Header;
use crate::node::{flags, Name};
use crate::state::ClusterState;
use crate::SLOTS;

/// How long a manual failover may take (Redis's `CLUSTER_MF_TIMEOUT`).
pub const MF_TIMEOUT_MS: u64 = 5000;

/// A replica's election in progress.
#[derive(Debug, Clone, Default)]
pub struct Election {
    /// When the vote request goes out (ms), 0 when no election.
    pub auth_time: u64,
    pub auth_count: usize,
    pub auth_sent: bool,
    pub auth_rank: usize,
    pub auth_epoch: u64,
    /// `cluster-node-timeout`, as last given to [`ClusterState::failover_step`].
    pub node_timeout: u64,
    /// A manual failover (CLUSTER FAILOVER) runs until then (ms).
    pub manual_until: u64,
    /// The election of a manual failover may start: at once with FORCE,
    /// otherwise once we processed the paused master's whole stream.
    pub manual_can_start: bool,
    /// The offset our paused master announced (plain CLUSTER FAILOVER).
    pub manual_master_offset: Option<u64>,
}

/// What a replica's failover step depends on besides the cluster state.
#[derive(Debug, Clone, Copy, Default)]
pub struct Conditions {
    /// `cluster-node-timeout`, ms.
    pub node_timeout: u64,
    /// Our replication offset.
    pub my_offset: u64,
    /// A random 0..500 ms added to the election's delay.
    pub jitter: u64,
    /// `cluster-replica-no-failover`.
    pub no_failover: bool,
    /// How old our copy of the master's data is, ms: since the last byte
    /// from the master while the link is up, else since the link went down.
    pub data_age: u64,
    /// `cluster-replica-validity-factor` (0: any age may fail over).
    pub validity_factor: u64,
    /// `repl-ping-replica-period`, ms.
    pub ping_period: u64,
}

impl Conditions {
    /// Redis's data-age check: a replica cut off from its master for more
    /// than `repl-ping-replica-period` + node timeout × validity factor
    /// (not counting one node timeout, the time it takes to notice the
    /// failure) is too stale to take over, except in a manual failover.
    pub fn data_too_old(&self) -> bool {
        let mut age = self.data_age;
        if age > self.node_timeout {
            age -= self.node_timeout;
        }
        self.validity_factor > 0
            && age > self.ping_period + self.node_timeout.saturating_mul(self.validity_factor)
    }
}

/// What the replica must do now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Nothing,
    /// Broadcast FAILOVER_AUTH_REQUEST (the epoch is taken already);
    /// `force` asks masters to vote although our master is not failed.
    RequestVotes {
        force: bool,
    },
    /// Won: take the master's slots (done) and announce it; stop
    /// replicating.
    Promoted {
        old_master: Name,
    },
}

impl ClusterState {
    /// Our rank among our master's replicas: how many have a larger offset.
    pub fn replica_rank(&self, my_offset: u64) -> usize {
        let me = self.me();
        let Some(m) = me.master else { return 0 };
        self.replicas_of(&m)
            .filter(|r| !r.is_myself() && !r.failed() && r.repl_offset > my_offset)
            .count()
    }

    /// One step of a replica's failover, called from the cron.
    pub fn failover_step(&mut self, now: u64, cond: &Conditions) -> Step {
        let Conditions {
            node_timeout,
            my_offset,
            jitter,
            no_failover,
            ..
        } = *cond;
        self.election.node_timeout = node_timeout;
        let master = self
            .me()
            .master
            .and_then(|m| self.node(&m))
            .map(|m| (m.name, m.failed(), m.slots.count()));
        let Some((master, failed, nslots)) = master else {
            return Step::Nothing;
        };
        if self.election.manual_until != 0 && now > self.election.manual_until {
            self.election.manual_until = 0;
            self.election.manual_can_start = false;
            self.election.manual_master_offset = None;
        }
        // Plain CLUSTER FAILOVER: the election waits until we applied all
        // the paused master sent.
        if self.election.manual_until != 0
            && !self.election.manual_can_start
            && self
                .election
                .manual_master_offset
                .is_some_and(|o| my_offset >= o)
        {
            self.election.manual_can_start = true;
        }
        let manual = self.election.manual_until != 0 && self.election.manual_can_start;
        if self.me().is_master() || (!failed && !manual) || (no_failover && !manual) || nslots == 0
        {
            return Step::Nothing;
        }
        if !manual && cond.data_too_old() {
            return Step::Nothing;
        }
        let auth_timeout = (node_timeout * 2).max(2000);
        let retry = auth_timeout * 2;
        // A CLUSTER FAILOVER still pending (even one whose master never
        // answered, when the master has failed meanwhile) skips the
        // election's delay and asks for votes with FORCEACK, as Redis
        // tests its `mf_end` there rather than `mf_can_start`.
        let pending_manual = self.election.manual_until != 0;
        let e = &mut self.election;
        if e.auth_time == 0 || now.saturating_sub(e.auth_time) > retry && now > e.auth_time {
            if pending_manual {
                // A manual failover starts its election at once.
                e.auth_time = now;
                e.auth_count = 0;
                e.auth_sent = false;
                e.auth_rank = 0;
                return Step::Nothing;
            }
            let rank = self.replica_rank(my_offset);
            let e = &mut self.election;
            e.auth_time = now + 500 + jitter + rank as u64 * 1000;
            e.auth_count = 0;
            e.auth_sent = false;
            e.auth_rank = rank;
            return Step::Nothing;
        }
        if now < e.auth_time {
            return Step::Nothing;
        }
        if now - e.auth_time > auth_timeout {
            return Step::Nothing;
        }
        if !e.auth_sent {
            self.current_epoch += 1;
            self.election.auth_epoch = self.current_epoch;
            self.election.auth_sent = true;
            return Step::RequestVotes {
                force: pending_manual,
            };
        }
        let needed = self.size / 2 + 1;
        if self.election.auth_count >= needed {
            self.promote(master);
            return Step::Promoted { old_master: master };
        }
        Step::Nothing
    }

    /// CLUSTER FAILOVER: an election without waiting for the master to
    /// fail (votes are asked with FORCEACK); with `force` at once,
    /// otherwise once the master, paused, told its final offset and we
    /// reached it. Lasts 5 s (Redis's `CLUSTER_MF_TIMEOUT`).
    pub fn start_manual_failover(&mut self, now: u64, force: bool) {
        self.election = Election {
            node_timeout: self.election.node_timeout,
            manual_until: now + MF_TIMEOUT_MS,
            manual_can_start: force,
            ..Election::default()
        };
    }

    /// A master's side of a plain CLUSTER FAILOVER: MFSTART from one of
    /// our replicas pauses our writers (the engine does) and makes our
    /// PINGs carry the PAUSED flag with our offset. Returns whether it
    /// started.
    pub fn manual_failover_requested(&mut self, from: &Name, now: u64) -> bool {
        let ours = self
            .node(from)
            .is_some_and(|n| n.is_replica() && n.master == Some(self.myself));
        if !ours || !self.me().is_master() {
            return false;
        }
        self.mf_paused_until = now + MF_TIMEOUT_MS;
        true
    }

    /// CLUSTER FAILOVER TAKEOVER: no election; a new config epoch taken
    /// alone and the master's slots with it. Returns the old master.
    pub fn takeover(&mut self) -> Option<Name> {
        let old = self.me().master?;
        self.current_epoch += 1;
        self.election.auth_epoch = self.current_epoch;
        self.promote(old);
        Some(old)
    }

    /// Takes over the slots of `old` as a master with the election's epoch.
    fn promote(&mut self, old: Name) {
        let epoch = self.election.auth_epoch;
        let me_name = self.myself;
        {
            let me = self.me_mut();
            me.flags = (me.flags & !flags::SLAVE) | flags::MASTER;
            me.master = None;
            if me.config_epoch < epoch {
                me.config_epoch = epoch;
            }
        }
        for s in 0..SLOTS {
            if self.slots[s] == Some(old) {
                self.del_slot(s);
                self.add_slot(s, &me_name);
            }
        }
        self.election = Election {
            node_timeout: self.election.node_timeout,
            ..Election::default()
        };
    }

    /// A master's answer to a FAILOVER_AUTH_REQUEST: whether to vote.
    pub fn grant_vote(&mut self, req: &Header, now: u64, node_timeout: u64) -> bool {
        let me = self.me();
        if me.is_replica() || me.slots.count() == 0 {
            return false;
        }
        if req.current_epoch < self.current_epoch || self.last_vote_epoch == self.current_epoch {
            return false;
        }
        let Some(node) = self.node(&req.sender) else {
            return false;
        };
        let Some(master) = node
            .master
            .filter(|_| node.is_replica())
            .and_then(|m| self.node(&m))
        else {
            return false;
        };
        let force = req.mflags[0] & crate::msg::FLAG0_FORCEACK != 0;
        if !master.failed() && !force {
            return false;
        }
        if now.saturating_sub(master.voted_time) < node_timeout * 2 {
            return false;
        }
        let mut owners = self.owners();
        for s in 0..SLOTS {
            if !req.myslots.get(s) {
                continue;
            }
            if owners
                .owner(s)
                .is_some_and(|o| o.config_epoch > req.config_epoch)
            {
                return false;
            }
        }
        let master_name = master.name;
        self.last_vote_epoch = self.current_epoch;
        if let Some(m) = self.node_mut(&master_name) {
            m.voted_time = now;
        }
        true
    }

    /// A vote for our election, from a master serving slots.
    pub fn count_vote(&mut self, h: &Header) {
        let voter_serves = self
            .node(&h.sender)
            .is_some_and(|n| n.is_master() && n.slots.count() > 0);
        if voter_serves && h.current_epoch >= self.election.auth_epoch && self.election.auth_sent {
            self.election.auth_count += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::{Node, SlotBits};

    fn name(c: u8) -> Name {
        [c; 40]
    }

    /// Masters a, b and c serving one slot each; we are r, replica of a.
    fn replica_view() -> ClusterState {
        let mut st = ClusterState::new(name(b'r'), 1);
        st.me_mut().flags = flags::MYSELF | flags::SLAVE;
        st.me_mut().master = Some(name(b'a'));
        for (c, e) in [(b'a', 1), (b'b', 2), (b'c', 3)] {
            let mut n = Node::new(name(c), flags::MASTER, 1);
            n.config_epoch = e;
            st.nodes.push(n);
        }
        st.add_slot(0, &name(b'a'));
        st.add_slot(1, &name(b'b'));
        st.add_slot(2, &name(b'c'));
        st.current_epoch = 3;
        st.update_state(1, true, 1000);
        st.update_state(5000, true, 1000);
        st
    }

    /// A replica in sync with offset `my_offset`, node timeout 1 s.
    fn cond(my_offset: u64) -> Conditions {
        Conditions {
            node_timeout: 1000,
            my_offset,
            ..Conditions::default()
        }
    }

    fn header_from(st: &ClusterState, sender: Name, epoch: u64) -> Header {
        let mut h = st.header(crate::msg::types::FAILOVER_AUTH_ACK, 1, 2, "", 0);
        h.sender = sender;
        h.current_epoch = epoch;
        h
    }

    #[test]
    fn a_replica_whose_data_is_too_old_does_not_fail_over() {
        let c = Conditions {
            node_timeout: 3000,
            validity_factor: 2,
            ping_period: 10_000,
            ..Conditions::default()
        };
        // 10 s + 3 s × 2 = 16 s allowed, plus the node timeout.
        let at = |data_age| Conditions { data_age, ..c }.data_too_old();
        assert!(!at(19_000));
        assert!(at(19_001));
        assert!(!Conditions {
            validity_factor: 0,
            data_age: u64::MAX,
            ..c
        }
        .data_too_old());
    }

    #[test]
    fn a_replica_of_a_failed_master_is_elected_and_takes_its_slots() {
        let mut st = replica_view();
        assert_eq!(st.failover_step(10_000, &cond(100)), Step::Nothing);
        st.node_mut(&name(b'a')).unwrap().flags |= flags::FAIL;
        // First call schedules the request 500 ms (+ jitter + rank) ahead.
        assert_eq!(st.failover_step(10_000, &cond(100)), Step::Nothing);
        assert_eq!(st.failover_step(10_400, &cond(100)), Step::Nothing);
        assert_eq!(
            st.failover_step(10_600, &cond(100)),
            Step::RequestVotes { force: false }
        );
        assert_eq!(st.current_epoch, 4);
        for voter in [b'b', b'c'] {
            let h = header_from(&st, name(voter), 4);
            st.count_vote(&h);
        }
        assert_eq!(
            st.failover_step(10_700, &cond(100)),
            Step::Promoted {
                old_master: name(b'a')
            }
        );
        assert!(st.me().is_master());
        assert_eq!(st.me().config_epoch, 4);
        assert_eq!(st.slots[0], Some(name(b'r')));
    }

    #[test]
    fn manual_failover_asks_for_forced_votes_at_once_and_takeover_needs_none() {
        let mut st = replica_view();
        st.start_manual_failover(10_000, true);
        assert_eq!(st.failover_step(10_000, &cond(100)), Step::Nothing);
        assert_eq!(
            st.failover_step(10_100, &cond(100)),
            Step::RequestVotes { force: true }
        );
        let mut st = replica_view();
        assert_eq!(st.takeover(), Some(name(b'a')));
        assert!(st.me().is_master());
        assert_eq!(st.me().config_epoch, 4);
        assert_eq!(st.slots[0], Some(name(b'r')));
    }

    #[test]
    fn plain_manual_failover_waits_for_the_paused_masters_offset() {
        let mut st = replica_view();
        st.start_manual_failover(10_000, false);
        assert_eq!(st.failover_step(10_100, &cond(100)), Step::Nothing);
        assert_eq!(st.failover_step(10_200, &cond(100)), Step::Nothing);
        st.election.manual_master_offset = Some(150);
        assert_eq!(st.failover_step(10_300, &cond(100)), Step::Nothing);
        // Caught up: the election starts.
        assert_eq!(st.failover_step(10_400, &cond(150)), Step::Nothing);
        assert_eq!(
            st.failover_step(10_500, &cond(150)),
            Step::RequestVotes { force: true }
        );
        // The master's side.
        let mut m = ClusterState::new(name(b'a'), 1);
        let mut r = Node::new(name(b'r'), flags::SLAVE, 1);
        r.master = Some(name(b'a'));
        m.nodes.push(r);
        assert!(m.manual_failover_requested(&name(b'r'), 5));
        assert_eq!(m.mf_paused_until, 5005);
        assert!(!m.manual_failover_requested(&name(b'x'), 5));
    }

    #[test]
    fn a_pending_plain_manual_failover_skips_the_delay_once_the_master_fails() {
        // CLUSTER FAILOVER to the replica of a master that never answers
        // (asleep): when the master is marked FAIL within the manual
        // failover's 5 s, the election starts at once and asks FORCEACK,
        // as Redis's does while `mf_end` is set.
        let mut st = replica_view();
        st.start_manual_failover(10_000, false);
        assert_eq!(st.failover_step(10_100, &cond(100)), Step::Nothing);
        st.node_mut(&name(b'a')).unwrap().flags |= flags::FAIL;
        assert_eq!(st.failover_step(13_000, &cond(100)), Step::Nothing);
        assert_eq!(
            st.failover_step(13_100, &cond(100)),
            Step::RequestVotes { force: true }
        );
        // Past the manual failover's end the usual delay applies again.
        let mut st = replica_view();
        st.start_manual_failover(10_000, false);
        st.node_mut(&name(b'a')).unwrap().flags |= flags::FAIL;
        assert_eq!(st.failover_step(15_100, &cond(100)), Step::Nothing);
        assert_eq!(st.failover_step(15_200, &cond(100)), Step::Nothing);
        assert_eq!(
            st.failover_step(15_700, &cond(100)),
            Step::RequestVotes { force: false }
        );
    }

    #[test]
    fn a_better_synced_sibling_goes_first() {
        let mut st = replica_view();
        let mut sib = Node::new(name(b's'), flags::SLAVE, 1);
        sib.master = Some(name(b'a'));
        sib.repl_offset = 500;
        st.nodes.push(sib);
        assert_eq!(st.replica_rank(100), 1);
        assert_eq!(st.replica_rank(900), 0);
    }

    #[test]
    fn masters_vote_once_per_epoch_for_a_failed_masters_replica() {
        let mut st = ClusterState::new(name(b'b'), 1);
        st.add_slot(1, &name(b'b'));
        let mut a = Node::new(name(b'a'), flags::MASTER, 1);
        a.config_epoch = 1;
        st.nodes.push(a);
        st.add_slot(0, &name(b'a'));
        let mut r = Node::new(name(b'r'), flags::SLAVE, 1);
        r.master = Some(name(b'a'));
        st.nodes.push(r);
        st.current_epoch = 4;
        let mut req = st.header(crate::msg::types::FAILOVER_AUTH_REQUEST, 1, 2, "", 0);
        req.sender = name(b'r');
        req.current_epoch = 4;
        req.config_epoch = 1;
        req.myslots = SlotBits::default();
        req.myslots.set(0);
        // Master not failed: no vote.
        assert!(!st.grant_vote(&req, 100_000, 1000));
        st.node_mut(&name(b'a')).unwrap().flags |= flags::FAIL;
        assert!(st.grant_vote(&req, 100_000, 1000));
        // Not twice in one epoch.
        assert!(!st.grant_vote(&req, 100_001, 1000));
    }
}
