//! Property tests: any value written by [`Writer`] reads back identical
//! through [`Reader`] (and through a DUMP payload), compressed or not,
//! with or without a checksum. Sets and sorted sets are compared as
//! multisets (their order is not part of their meaning); scores must come
//! back bit for bit, infinities and negative zero included.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use proptest::prelude::*;
use rdb::{Item, RdbValue, Reader, Writer};

/// Byte strings that exercise every string encoding: arbitrary bytes,
/// integer-looking text (canonical or not), and long repetitive text that
/// LZF compresses.
fn bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => proptest::collection::vec(any::<u8>(), 0..40),
        2 => any::<i64>().prop_map(|n| n.to_string().into_bytes()),
        1 => prop_oneof![Just("-0"), Just("007"), Just("+1"), Just(" 1"), Just("")]
            .prop_map(|s| s.as_bytes().to_vec()),
        1 => (proptest::collection::vec(any::<u8>(), 1..8), 3usize..400)
            .prop_map(|(unit, n)| unit.repeat(n)),
    ]
}

fn score() -> impl Strategy<Value = f64> {
    prop_oneof![
        6 => any::<f64>().prop_filter("Redis never stores NaN scores", |f| !f.is_nan()),
        1 => Just(f64::INFINITY),
        1 => Just(f64::NEG_INFINITY),
        1 => Just(-0.0),
        1 => Just(f64::MIN_POSITIVE / 4.0),
    ]
}

/// Keeps the first element of each key: members and fields are unique
/// in a keyspace (and a loader refuses repeats).
fn unique<T>(v: Vec<T>, key: impl Fn(&T) -> &[u8]) -> Vec<T> {
    let mut seen = std::collections::HashSet::new();
    let keep: Vec<bool> = v.iter().map(|x| seen.insert(key(x).to_vec())).collect();
    v.into_iter()
        .zip(keep)
        .filter_map(|(x, k)| k.then_some(x))
        .collect()
}

fn value() -> impl Strategy<Value = RdbValue> {
    let items = || proptest::collection::vec(bytes(), 1..60);
    prop_oneof![
        bytes().prop_map(RdbValue::String),
        items().prop_map(RdbValue::List),
        // Lists long enough to span several quicklist nodes.
        (bytes(), 1usize..3000).prop_map(|(b, n)| RdbValue::List(vec![b; n])),
        items().prop_map(|v| RdbValue::Set(unique(v, |m| m))),
        proptest::collection::vec((bytes(), score()), 1..60)
            .prop_map(|v| RdbValue::ZSet(unique(v, |(m, _)| m))),
        proptest::collection::vec((bytes(), bytes()), 1..60)
            .prop_map(|v| RdbValue::Hash(unique(v, |(f, _)| f))),
    ]
}

/// A value in a form where sets and sorted sets are order-free and scores
/// compare by their bits.
#[derive(Debug, PartialEq)]
enum Canon {
    Ordered(RdbValue),
    Set(Vec<Vec<u8>>),
    ZSet(Vec<(Vec<u8>, u64)>),
}

fn canon(v: &RdbValue) -> Canon {
    match v {
        RdbValue::Set(m) => {
            let mut m = m.clone();
            m.sort();
            Canon::Set(m)
        }
        RdbValue::ZSet(m) => {
            let mut m: Vec<(Vec<u8>, u64)> =
                m.iter().map(|(k, s)| (k.clone(), s.to_bits())).collect();
            m.sort();
            Canon::ZSet(m)
        }
        other => Canon::Ordered(other.clone()),
    }
}

fn write_file(entries: &[(RdbValue, Option<i64>)], compress: bool, checksum: bool) -> Vec<u8> {
    let mut w = Writer::new(Vec::new(), compress, checksum).unwrap();
    w.aux(b"redis-ver", b"7.0.15").unwrap();
    w.select_db(0).unwrap();
    for (i, (v, exp)) in entries.iter().enumerate() {
        w.put_value(format!("key:{i}").as_bytes(), v, *exp).unwrap();
    }
    w.finish().unwrap()
}

fn read_file(bytes: &[u8]) -> Vec<(Vec<u8>, RdbValue, Option<i64>)> {
    let mut r = Reader::new(bytes).unwrap();
    let mut out = Vec::new();
    while let Some(item) = r.next_item().unwrap() {
        if let Item::Entry {
            key,
            value,
            expire_ms,
            ..
        } = item
        {
            out.push((key, value, expire_ms));
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn values_survive_a_file(
        entries in proptest::collection::vec((value(), proptest::option::of(any::<i64>())), 0..8),
        compress in any::<bool>(),
        checksum in any::<bool>(),
    ) {
        let bytes = write_file(&entries, compress, checksum);
        let got = read_file(&bytes);
        prop_assert_eq!(got.len(), entries.len());
        for (i, ((key, v, exp), (want, want_exp))) in got.iter().zip(&entries).enumerate() {
            prop_assert_eq!(key, &format!("key:{i}").into_bytes());
            prop_assert_eq!(exp, want_exp);
            prop_assert_eq!(canon(v), canon(want));
        }
    }

    #[test]
    fn values_survive_a_dump_payload(v in value()) {
        let payload = rdb::dump_value(&v);
        let got = rdb::restore_value(&payload, false, rdb::Sanitize::default()).unwrap();
        prop_assert_eq!(canon(&got), canon(&v));
    }

    #[test]
    fn a_flipped_payload_byte_is_refused(v in value(), at in any::<prop::sample::Index>(), bit in 0u8..8) {
        let mut payload = rdb::dump_value(&v);
        let i = at.index(payload.len());
        payload[i] ^= 1 << bit;
        prop_assert!(rdb::restore_value(&payload, false, rdb::Sanitize::default()).is_err());
    }
}
