//! Random corruptions of DUMP payloads, as Redis's `corrupt-dump-fuzzer`
//! makes them (one or two bytes replaced, with a checksum the server is
//! told not to check): the reader never panics, under either sanitize
//! mode, and whatever it accepts is a value a keyspace can hold — a
//! collection with at least one element and no repeated member or field.

use proptest::prelude::*;
use rdb::encodings::encode_listpack;
use rdb::{dump_value, restore_value, RdbValue, Sanitize};
use std::collections::HashSet;

/// A DUMP payload around a raw value: type byte, body, version 10 and a
/// CRC (not checked by these tests).
fn payload(t: u8, body: &[u8]) -> Vec<u8> {
    let mut p = vec![t];
    p.extend_from_slice(body);
    p.extend_from_slice(&10u16.to_le_bytes());
    let crc = rdb::crc64(&p);
    p.extend_from_slice(&crc.to_le_bytes());
    p
}

/// An RDB string holding `b` (lengths below 2^14 are enough here).
fn rdb_string(b: &[u8]) -> Vec<u8> {
    let mut s = if b.len() < 64 {
        vec![b.len() as u8]
    } else {
        vec![0x40 | (b.len() >> 8) as u8, b.len() as u8]
    };
    s.extend_from_slice(b);
    s
}

fn seeds() -> Vec<Vec<u8>> {
    let strs = |v: &[&str]| v.iter().map(|s| s.as_bytes().to_vec()).collect::<Vec<_>>();
    let mut out = vec![
        dump_value(&RdbValue::String(b"hello world".to_vec())),
        dump_value(&RdbValue::List(strs(&["a", "1", "bb", "-7", "ccc"]))),
        dump_value(&RdbValue::Set(strs(&["x", "y", "12"]))),
        dump_value(&RdbValue::Hash(vec![
            (b"f".to_vec(), b"v".to_vec()),
            (b"g".to_vec(), b"123".to_vec()),
        ])),
        dump_value(&RdbValue::ZSet(vec![
            (b"m".to_vec(), 1.5),
            (b"n".to_vec(), -3.0),
        ])),
    ];
    let items = ["f1", "v1", "f2", "v2", "f3", "v3"];
    let lp = encode_listpack(items.iter().map(|s| s.as_bytes()));
    out.push(payload(16, &rdb_string(&lp)));
    let lp = encode_listpack(["a", "1", "b", "2.5"].iter().map(|s| s.as_bytes()));
    out.push(payload(17, &rdb_string(&lp)));
    let mut ql = vec![2u8, 2];
    ql.extend(rdb_string(&encode_listpack(
        ["x", "y"].iter().map(|s| s.as_bytes()),
    )));
    ql.push(1);
    ql.extend(rdb_string(b"plain node"));
    out.push(payload(18, &ql));
    let mut is = vec![2, 0, 0, 0, 3, 0, 0, 0];
    for n in [-5i16, 7, 300] {
        is.extend_from_slice(&n.to_le_bytes());
    }
    out.push(payload(11, &rdb_string(&is)));
    // A hash ziplist and a zipmap as Redis wrote them.
    out.push(payload(
        13,
        b"\x19\x19\x00\x00\x00\x16\x00\x00\x00\x06\x00\x00\xF1\x02\xF1\x02\xF2\x02\x02\x5F\x31\x04\xF3\x02\xF3\xFF",
    ));
    out.push(payload(
        9,
        &rdb_string(b"\x02\x04key1\x04\x00val1\x04key2\x04\x00val2\xff"),
    ));
    out
}

/// Checks that an accepted value could live in a keyspace.
fn holdable(v: &RdbValue) -> bool {
    fn unique<'a>(keys: impl Iterator<Item = &'a [u8]>) -> bool {
        let mut seen = HashSet::new();
        keys.into_iter().all(|k| seen.insert(k))
    }
    match v {
        // A stream's nodes are checked when the server builds it.
        RdbValue::String(_) | RdbValue::Stream(_) => true,
        RdbValue::List(x) => !x.is_empty(),
        RdbValue::Set(x) => !x.is_empty() && unique(x.iter().map(|m| m.as_slice())),
        RdbValue::Hash(x) => !x.is_empty() && unique(x.iter().map(|(f, _)| f.as_slice())),
        RdbValue::ZSet(x) => !x.is_empty() && unique(x.iter().map(|(m, _)| m.as_slice())),
    }
}

#[test]
fn seeds_are_accepted_under_both_modes() {
    for (i, p) in seeds().iter().enumerate() {
        for deep in [false, true] {
            let s = Sanitize {
                deep,
                ..Sanitize::default()
            };
            let got = restore_value(p, false, s);
            assert!(got.as_ref().is_ok_and(holdable), "seed {i}: {got:?}");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]

    #[test]
    fn corrupted_seeds_never_panic(
        seed in 0usize..64,
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        cut in prop::option::of(any::<prop::sample::Index>()),
        deep in any::<bool>(),
    ) {
        let seeds = seeds();
        let mut p = seeds[seed % seeds.len()].clone();
        for (at, byte) in edits {
            let i = at.index(p.len());
            p[i] = byte;
        }
        if let Some(c) = cut {
            p.truncate(c.index(p.len() + 1));
        }
        let s = Sanitize { deep, ..Sanitize::default() };
        if let Ok(v) = restore_value(&p, true, s) {
            prop_assert!(holdable(&v), "{:?}", v);
        }
    }

    #[test]
    fn random_bytes_never_panic(body in prop::collection::vec(any::<u8>(), 0..200), t in 0u8..24) {
        for deep in [false, true] {
            let s = Sanitize { deep, ..Sanitize::default() };
            if let Ok(v) = restore_value(&payload(t, &body), true, s) {
                prop_assert!(holdable(&v), "{:?}", v);
            }
        }
    }
}
