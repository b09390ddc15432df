//! Replica migration (Redis's `clusterHandleSlaveMigration`): a master
//! left without working replicas ("orphaned") gets one from the masters
//! that have the most. Only a replica of one of those masters moves, the
//! one with the smallest node id among their replicas, only while the
//! cluster is ok, only if its master keeps more than
//! `cluster-migration-barrier` working replicas, and only once the target
//! has been orphaned for five seconds, so that the replicas of a master
//! that just failed over have time to announce their new master first.
//! A master counts as a target only if it once had replicas (or took
//! over from a master that had): the `MIGRATE_TO` flag.

use crate::node::{flags, Name, Node};
use crate::state::ClusterState;

/// How long a master must stay orphaned before a replica migrates to it
/// (Redis's `CLUSTER_SLAVE_MIGRATION_DELAY`).
pub const MIGRATION_DELAY_MS: u64 = 5000;

impl ClusterState {
    /// Replicas of `master` that are not FAIL (Redis's
    /// `clusterCountNonFailingSlaves`).
    pub fn working_replicas(&self, master: &Name) -> usize {
        self.replicas_of(master).filter(|r| !r.failed()).count()
    }

    /// One cron step of replica migration: the master we should replicate
    /// from now, if any. `barrier` is `cluster-migration-barrier`;
    /// `allowed` is `cluster-allow-replica-migration`.
    pub fn replica_migration(&mut self, now: u64, barrier: usize, allowed: bool) -> Option<Name> {
        let me = self.me();
        if !me.is_replica() {
            return None;
        }
        let my_master = me.master?;
        // A master with replicas in our table is one replicas may come
        // back to once it has none (Redis sets the flag as each replica
        // attaches).
        let with_replicas: Vec<Name> = self
            .nodes
            .iter()
            .filter(|n| n.is_replica())
            .filter_map(|n| n.master)
            .collect();
        for m in with_replicas {
            if let Some(n) = self.node_mut(&m) {
                n.flags |= flags::MIGRATE_TO;
            }
        }
        // The cron's census (Redis's `clusterCron`): orphaned masters, the
        // most working replicas a master has, and how many ours has.
        let (mut orphaned, mut max_replicas, mut mine) = (0, 0, 0);
        for n in self.nodes.iter().filter(|n| counted(n)) {
            let ok = self.working_replicas(&n.name);
            if ok == 0 && n.slots.count() > 0 && n.has(flags::MIGRATE_TO) {
                orphaned += 1;
            }
            max_replicas = max_replicas.max(ok);
            if n.name == my_master {
                mine = ok;
            }
        }
        // As in Redis, when a master became orphaned is noted only past
        // these checks: the delay counts from when we could first move.
        if orphaned == 0 || max_replicas < 2 || mine != max_replicas || !allowed {
            return None;
        }
        self.migration_target(now, barrier, max_replicas, my_master)
    }

    fn migration_target(
        &mut self,
        now: u64,
        barrier: usize,
        max_replicas: usize,
        my_master: Name,
    ) -> Option<Name> {
        if !self.ok {
            return None;
        }
        // Our master keeps more than the barrier once we leave.
        let staying = self
            .replicas_of(&my_master)
            .filter(|r| !r.failed() && !r.has(flags::PFAIL))
            .count();
        if staying <= barrier {
            return None;
        }
        let mut target: Option<Name> = None;
        let mut candidate = self.myself;
        let names: Vec<Name> = self.nodes.iter().map(|n| n.name).collect();
        for name in names {
            let Some(n) = self.node(&name) else { continue };
            let ok = if n.is_master() {
                self.working_replicas(&name)
            } else {
                0
            };
            let orphan = n.is_master() && !n.failed() && n.has(flags::MIGRATE_TO) && ok == 0;
            let serves = n.slots.count() > 0;
            if ok == max_replicas {
                for r in self.replicas_of(&name) {
                    if r.name < candidate {
                        candidate = r.name;
                    }
                }
            }
            let Some(n) = self.node_mut(&name) else {
                continue;
            };
            if orphan {
                if target.is_none() && serves {
                    target = Some(name);
                }
                if n.orphaned_time == 0 {
                    n.orphaned_time = now;
                }
            } else {
                n.orphaned_time = 0;
            }
        }
        let target = target?;
        let since = self.node(&target).map_or(now, |n| n.orphaned_time);
        (candidate == self.myself && now.saturating_sub(since) > MIGRATION_DELAY_MS)
            .then_some(target)
    }
}

/// The nodes the cron's census looks at: working masters other than us
/// that are not in a handshake and have an address.
fn counted(n: &Node) -> bool {
    !n.has(flags::MYSELF | flags::NOADDR | flags::HANDSHAKE) && n.is_master() && !n.failed()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::Node;

    fn name(c: u8) -> Name {
        [c; 40]
    }

    /// Masters a (slot 0), b (slot 1); a has replicas x and y (we are y
    /// unless said otherwise), b had replica z, which failed.
    fn cluster(me: u8) -> ClusterState {
        let mut st = ClusterState::new(name(me), 1);
        for m in [b'a', b'b'] {
            st.nodes.push(Node::new(name(m), flags::MASTER, 1));
        }
        for (r, m) in [(b'x', b'a'), (b'y', b'a'), (b'z', b'b')] {
            if r == me {
                let n = st.me_mut();
                n.flags = flags::MYSELF | flags::SLAVE;
                n.master = Some(name(m));
            } else {
                let mut n = Node::new(name(r), flags::SLAVE, 1);
                n.master = Some(name(m));
                st.nodes.push(n);
            }
        }
        st.add_slot(0, &name(b'a'));
        st.add_slot(1, &name(b'b'));
        st.ok = true;
        st
    }

    fn fail(st: &mut ClusterState, c: u8) {
        if let Some(n) = st.node_mut(&name(c)) {
            n.flags |= flags::FAIL;
        }
    }

    #[test]
    fn the_smallest_replica_of_the_richest_master_migrates_after_the_delay() {
        let mut st = cluster(b'x');
        assert_eq!(st.replica_migration(1000, 1, true), None);
        fail(&mut st, b'z');
        assert_eq!(
            st.replica_migration(2000, 1, true),
            None,
            "orphaned just now"
        );
        assert_eq!(st.replica_migration(7001, 1, true), Some(name(b'b')));
    }

    #[test]
    fn a_larger_replica_stays() {
        let mut st = cluster(b'y');
        st.replica_migration(1000, 1, true);
        fail(&mut st, b'z');
        st.replica_migration(2000, 1, true);
        assert_eq!(st.replica_migration(9000, 1, true), None);
    }

    #[test]
    fn the_barrier_and_the_switch_hold_replicas_back() {
        let mut st = cluster(b'x');
        st.replica_migration(1000, 1, true);
        fail(&mut st, b'z');
        st.replica_migration(2000, 2, true);
        assert_eq!(st.replica_migration(9000, 2, true), None, "barrier 2");
        assert_eq!(st.replica_migration(9000, 1, false), None, "not allowed");
        // The delay counts from when the barrier first let us go.
        assert_eq!(st.replica_migration(9000, 1, true), None);
        assert_eq!(st.replica_migration(14_001, 1, true), Some(name(b'b')));
    }

    #[test]
    fn a_master_that_never_had_replicas_is_not_a_target() {
        let mut st = cluster(b'x');
        st.nodes.retain(|n| n.name != name(b'z'));
        st.replica_migration(1000, 1, true);
        assert_eq!(st.replica_migration(9000, 1, true), None);
    }
}
