//! The per-slot key index stays exactly the set of keys of the database,
//! whatever inserts, removals, expiries and flushes run.

use keyspace::{key_hash_slot, Db, StrValue, Value, NO_EXPIRE};
use proptest::prelude::*;
use std::collections::BTreeMap;

#[derive(Debug, Clone)]
enum Op {
    Insert(u8),
    Remove(u8),
    RemoveAt(u8),
    Clear,
    Take,
}

fn key(k: u8) -> Vec<u8> {
    // Few slots, many keys each: hash tags group them.
    format!("{{t{}}}k{}", k % 3, k).into_bytes()
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => any::<u8>().prop_map(Op::Insert),
        4 => any::<u8>().prop_map(Op::Remove),
        2 => any::<u8>().prop_map(Op::RemoveAt),
        1 => Just(Op::Clear),
        1 => Just(Op::Take),
    ]
}

proptest! {
    #[test]
    fn index_matches_the_keys(ops in proptest::collection::vec(op(), 1..200)) {
        let mut db = Db::new();
        db.insert(b"before", Value::Str(StrValue::from_bytes(b"v")), NO_EXPIRE, 0);
        db.enable_slot_index();
        for op in ops {
            match op {
                Op::Insert(k) => {
                    db.insert(&key(k), Value::Str(StrValue::from_bytes(b"v")), NO_EXPIRE, 0);
                }
                Op::Remove(k) => {
                    db.remove(&key(k));
                }
                Op::RemoveAt(i) => {
                    if !db.is_empty() {
                        db.remove_at(i as usize % db.len());
                    }
                }
                Op::Clear => db.clear(),
                Op::Take => {
                    db.take_entries();
                }
            }
        }
        let mut by_slot: BTreeMap<u16, Vec<Vec<u8>>> = BTreeMap::new();
        for (k, _) in db.iter() {
            by_slot.entry(key_hash_slot(k)).or_default().push(k.to_vec());
        }
        let ix = db.slot_index().unwrap();
        for slot in [key_hash_slot(b"t0"), key_hash_slot(b"t1"), key_hash_slot(b"t2"), key_hash_slot(b"before")] {
            let mut want = by_slot.remove(&slot).unwrap_or_default();
            let mut got: Vec<Vec<u8>> = ix.keys_in(slot, usize::MAX).map(|k| k.to_vec()).collect();
            prop_assert_eq!(ix.count(slot) as usize, want.len());
            want.sort();
            got.sort();
            prop_assert_eq!(got, want);
        }
    }
}
