//! The fork-less snapshot yields exactly the dataset as it was when the
//! snapshot began, whatever commands run between walk steps.

use keyspace::{Db, Entry, SnapshotSink, StrValue, Value, NO_EXPIRE};
use proptest::prelude::*;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

#[derive(Default)]
struct Collect(BTreeMap<(usize, Vec<u8>), (Value, i64)>, usize);

impl SnapshotSink for Collect {
    fn entry(&mut self, db: usize, key: &[u8], e: &Entry, _early: bool) {
        let prev = self
            .0
            .insert((db, key.to_vec()), (e.value.clone(), e.expire));
        assert!(prev.is_none(), "entry written twice");
        self.1 += 1;
    }
}

#[derive(Debug, Clone)]
enum Op {
    Set(u8, u8),
    Del(u8),
    Expire(u8),
    Persist(u8),
    Mutate(u8),
    Step(u8),
    Swap,
    Flush(bool),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (any::<u8>(), any::<u8>()).prop_map(|(k, v)| Op::Set(k % 64, v)),
        any::<u8>().prop_map(|k| Op::Del(k % 64)),
        any::<u8>().prop_map(|k| Op::Expire(k % 64)),
        any::<u8>().prop_map(|k| Op::Persist(k % 64)),
        any::<u8>().prop_map(|k| Op::Mutate(k % 64)),
        any::<u8>().prop_map(|n| Op::Step(n % 8)),
        Just(Op::Swap),
        any::<bool>().prop_map(Op::Flush),
    ]
}

fn val(v: u8) -> Value {
    Value::Str(StrValue::from_bytes(format!("v{v}").as_bytes()))
}

fn state(dbs: &[Db]) -> BTreeMap<(usize, Vec<u8>), (Value, i64)> {
    let mut m = BTreeMap::new();
    for (i, db) in dbs.iter().enumerate() {
        for (k, e) in db.iter() {
            m.insert((i, k.to_vec()), (e.value.clone(), e.expire));
        }
    }
    m
}

proptest! {
    #[test]
    fn snapshot_equals_the_dataset_at_its_start(
        initial in proptest::collection::vec((any::<u8>(), any::<u8>(), any::<bool>()), 0..80),
        ops in proptest::collection::vec((any::<bool>(), op()), 0..200),
    ) {
        let mut dbs = vec![Db::new(), Db::new()];
        for (k, v, second) in &initial {
            dbs[*second as usize].insert(&[k % 64], val(*v), NO_EXPIRE, 0);
        }
        let expected = state(&dbs);
        let sink = Rc::new(RefCell::new(Collect::default()));
        for (i, db) in dbs.iter_mut().enumerate() {
            db.snapshot_begin(i, sink.clone());
        }
        for (second, op) in ops {
            let d = second as usize;
            match op {
                Op::Set(k, v) => { dbs[d].insert(&[k], val(v), NO_EXPIRE, 0); }
                Op::Del(k) => { dbs[d].remove(&[k]); }
                Op::Expire(k) => { dbs[d].set_expire(&[k], 5); }
                Op::Persist(k) => { dbs[d].persist(&[k]); }
                Op::Mutate(k) => {
                    if let Some(e) = dbs[d].get_mut(&[k]) {
                        if let Value::Str(s) = &mut e.value { s.make_raw().push(b'!'); }
                    }
                }
                Op::Step(n) => { dbs[d].snapshot_step(n as usize); }
                Op::Swap => dbs.swap(0, 1),
                Op::Flush(take) => { if take { drop(dbs[d].take_entries()); } else { dbs[d].clear(); } }
            }
        }
        for db in &mut dbs {
            db.snapshot_flush();
        }
        let got = sink.borrow().0.clone();
        prop_assert_eq!(got, expected);
    }
}
