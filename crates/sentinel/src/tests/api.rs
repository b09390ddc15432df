//! What the SENTINEL commands report, where it is decided from the state
//! alone: CKQUORUM's count of usable sentinels, which replicas REPLICAS
//! lists.

use super::*;
use crate::api::{listed, quorum_state};
use crate::state::Down;

/// CKQUORUM counts every sentinel not seen down, as Redis does: one whose
/// link is being re-established (restarted a moment ago, say) is usable
/// until it has been silent for down-after-milliseconds.
#[test]
fn ckquorum_counts_sentinels_not_down_whatever_their_link() {
    let mut w = World::new(2, 4, 3);
    assert_eq!(quorum_state(w.master()), (5, true, true));
    let p1 = w.id_of("10.0.1.1:26379");
    let p2 = w.id_of("10.0.1.2:26379");
    w.inst_mut(p1).links.cmd = None;
    if let Some(l) = w.inst_mut(p2).links.cmd.as_mut() {
        l.connected = false;
    }
    assert_eq!(quorum_state(w.master()), (5, true, true));
    // Down ones are not usable: 3 left reach the quorum (3) and the
    // majority of 5 (3).
    let now = w.now;
    w.inst_mut(p1).down = Down::Subjectively { since: now };
    w.inst_mut(p2).down = Down::Subjectively { since: now };
    assert_eq!(quorum_state(w.master()), (3, true, true));
    let p3 = w.id_of("10.0.1.3:26379");
    w.inst_mut(p3).down = Down::Subjectively { since: now };
    assert_eq!(quorum_state(w.master()), (2, false, false));
}

#[test]
fn replicas_with_replica_announced_0_are_not_listed() {
    let mut w = World::new(2, 1, 2);
    let r = w.id_of("10.0.0.2:6379");
    assert!(listed(w.inst(r)));
    w.inst_mut(r).replica_announced = false;
    assert!(!listed(w.inst(r)));
    // Sentinels and the master are always listed.
    let p = w.id_of("10.0.1.1:26379");
    assert!(listed(w.inst(p)));
    assert!(listed(&w.master().inst));
}
