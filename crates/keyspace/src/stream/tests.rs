//! Unit tests of the stream log and groups (the command-level behaviour is
//! tested against real Redis by the differential corpus).

use super::*;

fn id(ms: u64, seq: u64) -> StreamId {
    StreamId::new(ms, seq)
}

fn add(s: &mut Stream, ms: u64, seq: u64, pairs: &[(&[u8], &[u8])], limits: NodeLimits) {
    let log = s.log_mut();
    let i = log
        .next_id(IdSpec::Exact(id(ms, seq)), 0)
        .unwrap_or(StreamId::MIN);
    assert_eq!(log.append(i, pairs, limits), Ok(()));
}

fn ids(r: Range) -> Vec<StreamId> {
    r.map(|e| e.id).collect()
}

const F: &[(&[u8], &[u8])] = &[(b"f", b"v")];

#[test]
fn ids_are_generated_as_redis_does() {
    let mut s = Stream::new();
    let log = s.log_mut();
    assert_eq!(log.next_id(IdSpec::Auto, 100), Ok(id(100, 0)));
    assert_eq!(log.append(id(100, 0), F, NodeLimits::default()), Ok(()));
    assert_eq!(log.next_id(IdSpec::Auto, 90), Ok(id(100, 1)));
    assert_eq!(log.next_id(IdSpec::Ms(100), 0), Ok(id(100, 1)));
    assert_eq!(log.next_id(IdSpec::Ms(200), 0), Ok(id(200, 0)));
    assert_eq!(log.next_id(IdSpec::Ms(50), 0), Err(AddError::NotGreater));
    assert_eq!(
        log.next_id(IdSpec::Exact(id(100, 0)), 0),
        Err(AddError::NotGreater)
    );
    log.set_last_id(id(7, u64::MAX));
    assert_eq!(log.next_id(IdSpec::Ms(7), 0), Err(AddError::NotGreater));
}

#[test]
fn nodes_split_on_entries_and_bytes() {
    let limits = NodeLimits {
        max_bytes: 4096,
        max_entries: 3,
    };
    let mut s = Stream::new();
    for i in 1..=7 {
        add(&mut s, i, 0, F, limits);
    }
    assert_eq!(s.log().node_count(), 3);
    assert_eq!(s.len(), 7);
    // Byte limit: Redis starts a new node once lp_bytes + the raw size of
    // the new fields reaches the limit. One entry `f v` makes a 29-byte
    // listpack, each further one adds 11.
    let limits = NodeLimits {
        max_bytes: 42,
        max_entries: 0,
    };
    let mut s = Stream::new();
    for i in 1..=5 {
        add(&mut s, 1, i, F, limits);
    }
    // 29 + 2 < 42 (second fits: 40), 40 + 2 >= 42: new node, ...
    assert_eq!(s.log().node_count(), 3);
}

#[test]
fn ranges_walk_both_ways_and_skip_tombstones() {
    let limits = NodeLimits {
        max_bytes: 0,
        max_entries: 2,
    };
    let mut s = Stream::new();
    for i in 1..=6 {
        add(&mut s, i, 0, F, limits);
    }
    let log = s.log();
    assert_eq!(ids(log.range(id(2, 0), id(5, 0), false)).len(), 4);
    assert_eq!(
        ids(log.range(id(2, 1), id(5, 0), true)),
        vec![id(5, 0), id(4, 0), id(3, 0)]
    );
    assert!(ids(log.range(id(9, 0), StreamId::MAX, false)).is_empty());
    assert!(ids(log.range(id(3, 0), id(2, 0), false)).is_empty());
    assert!(s.log_mut().delete(id(3, 0)));
    assert!(!s.log_mut().delete(id(3, 0)));
    assert!(!s.log_mut().delete(id(3, 5)));
    assert_eq!(s.len(), 5);
    let all = ids(s.log().range(StreamId::MIN, StreamId::MAX, false));
    assert_eq!(all, vec![id(1, 0), id(2, 0), id(4, 0), id(5, 0), id(6, 0)]);
    assert_eq!(s.log().all_with_tombstones().count(), 6);
    // Deleting the last live entry of a node removes the node.
    assert!(s.log_mut().delete(id(4, 0)));
    assert_eq!(s.log().node_count(), 2);
    assert_eq!(s.log().last_valid_id(), Some(id(6, 0)));
    let pairs: Vec<_> = s
        .log()
        .range(id(6, 0), id(6, 0), false)
        .flat_map(|e| {
            e.pairs()
                .map(|(f, v)| (f.to_vec(), v.to_vec()))
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(pairs, vec![(b"f".to_vec(), b"v".to_vec())]);
}

#[test]
fn trimming_exact_marks_and_approximate_drops_whole_nodes() {
    let limits = NodeLimits {
        max_bytes: 0,
        max_entries: 10,
    };
    let mut s = Stream::new();
    for i in 1..=100 {
        add(&mut s, i, 0, F, limits);
    }
    // ~ 55: whole nodes while at least 55 stay.
    assert_eq!(s.log_mut().trim(Trim::MaxLen(55), true, 1000), 40);
    assert_eq!(s.len(), 60);
    assert_eq!(s.log().first_id(), id(41, 0));
    // LIMIT stops before a node that would exceed it.
    assert_eq!(s.log_mut().trim(Trim::MaxLen(0), true, 15), 10);
    // Exact: marks entries inside the head node.
    assert_eq!(s.log_mut().trim(Trim::MaxLen(45), false, 0), 5);
    assert_eq!(s.log().first_id(), id(56, 0));
    assert_eq!(s.log().node_count(), 5);
    assert_eq!(s.log_mut().trim(Trim::MinId(id(58, 0)), false, 0), 2);
    assert_eq!(s.log().first_id(), id(58, 0));
    assert_eq!(s.log_mut().trim(Trim::MinId(id(95, 0)), true, 0), 33);
    assert_eq!(s.len(), 10);
    assert_eq!(s.log_mut().trim(Trim::MaxLen(0), false, 0), 10);
    assert_eq!(s.log().first_id(), StreamId::MIN);
    assert_eq!(s.log().node_count(), 0);
}

#[test]
fn read_counters_and_lag_follow_redis() {
    let mut s = Stream::new();
    for i in 1..=5 {
        add(&mut s, i, 0, F, NodeLimits::default());
    }
    assert!(s.create_group(b"g", StreamId::MIN, 0));
    assert!(!s.create_group(b"g", StreamId::MIN, 0));
    let (log, groups) = s.parts_mut();
    let g = groups.get_mut(&b"g"[..]).map(|g| {
        assert!(g.advance(log, id(1, 0)));
        assert!(!g.advance(log, id(1, 0)));
        (g.entries_read, g.lag(log))
    });
    assert_eq!(g, Some((1, Some(4))));
    // A deletion ahead of the group makes the lag unknown.
    assert!(s.log_mut().delete(id(3, 0)));
    s.log_mut().note_deleted(id(3, 0));
    let lag = s.group(b"g").map(|g| g.lag(s.log()));
    assert_eq!(lag, Some(None));
    assert_eq!(s.log().estimate_distance(id(5, 0)), 5);
    assert_eq!(s.log().estimate_distance(id(6, 0)), -1);
    assert_eq!(s.log().estimate_distance(id(0, 5)), -1);
}

#[test]
fn pending_entries_move_between_consumers() {
    let mut g = Group::new(StreamId::MIN, 0);
    let a = g.create_consumer(b"alice", 1).unwrap_or(u32::MAX);
    let b = g.create_consumer(b"bob", 1).unwrap_or(u32::MAX);
    assert_eq!(g.create_consumer(b"bob", 2), None);
    g.deliver(id(1, 0), a, 10);
    g.deliver(id(2, 0), a, 10);
    assert_eq!(g.consumer(a).map(|c| c.pending().len()), Some(2));
    // Delivered again to bob: moves, count reset.
    g.deliver(id(1, 0), b, 20);
    assert_eq!(g.consumer(a).map(|c| c.pending().len()), Some(1));
    assert_eq!(g.owner_name(&g.pel()[&id(1, 0)]), b"bob");
    assert_eq!(
        g.claim(id(2, 0), b, 30, 5).map(|n| n.delivery_count),
        Some(5)
    );
    assert_eq!(g.consumer(b).map(|c| c.pending().len()), Some(2));
    assert!(g.ack(id(1, 0)));
    assert!(!g.ack(id(1, 0)));
    assert_eq!(g.delete_consumer(b"bob"), Some(1));
    assert_eq!(g.pending_count(), 0);
    // The freed slot is reused.
    assert_eq!(g.create_consumer(b"carol", 3), Some(b));
    let names: Vec<&[u8]> = g.consumers().map(|c| &*c.name).collect();
    assert_eq!(names, vec![&b"alice"[..], b"carol"]);
}

#[test]
fn node_keys_give_redis_radix_counts() {
    let mut s = Stream::new();
    assert_eq!(s.log().rax_nodes(), 1);
    add(&mut s, 1, 0, F, NodeLimits::default());
    assert_eq!(s.log().rax_nodes(), 2);
}
