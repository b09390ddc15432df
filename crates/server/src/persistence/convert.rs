//! Keyspace values to and from RDB values.
//!
//! Writing streams straight from the keyspace into the writer (no
//! intermediate copy); reading builds keyspace values with the configured
//! encoding thresholds, so a loaded hash is `listpack` or `hashtable`
//! exactly as if it had been built by commands.

use keyspace::{EncodingLimits, Entry, Hash, List, Set, StrValue, Value, ZSet, NO_EXPIRE};
use rdb::{RdbValue, Writer};
use std::io::{self, Write};

/// Writes one keyspace entry as an RDB key/value record.
pub fn write_entry<W: Write>(w: &mut Writer<W>, key: &[u8], e: &Entry) -> io::Result<()> {
    let exp = (e.expire != NO_EXPIRE).then_some(e.expire);
    match &e.value {
        Value::Str(s) => {
            let mut scratch = [0u8; 24];
            w.put_string(key, s.as_bytes(&mut scratch), exp)
        }
        Value::Hash(h) => w.put_hash(key, h.len(), h.iter(), exp),
        Value::List(l) => w.put_list(key, l.iter(), exp),
        Value::Set(set) => {
            // Intset members exist only as integers: they are formatted
            // for the file (sets stay small or hold byte strings anyway).
            let members: Vec<Vec<u8>> = set.iter().map(|m| m.to_vec()).collect();
            w.put_set(
                key,
                members.len(),
                members.iter().map(|m| m.as_slice()),
                exp,
            )
        }
        Value::ZSet(z) => w.put_zset(key, z.len(), z.iter(false).map(|(s, m)| (m, s)), exp),
        Value::Stream(s) => super::stream_rdb::write_stream(w, key, s, exp),
    }
}

/// The DUMP payload of an entry's value (its expiry is not part of it).
/// Shares [`write_entry`], so every type that saves also dumps.
pub fn dump_payload(e: &Entry) -> io::Result<Vec<u8>> {
    let mut w = Writer::for_payload(Vec::new(), true);
    write_entry(&mut w, b"", e)?;
    w.finish_payload()
}

/// Builds a keyspace value from an RDB value. Err names what cannot be
/// represented.
pub fn to_value(v: RdbValue, limits: &EncodingLimits) -> Result<Value, String> {
    Ok(match v {
        RdbValue::String(s) => Value::Str(StrValue::from_bytes(&s)),
        RdbValue::Hash(pairs) => {
            let mut h = Hash::new();
            for (f, x) in &pairs {
                h.set(f, x, limits);
            }
            Value::Hash(h)
        }
        RdbValue::List(items) => {
            let mut l = List::from_items(items.iter().map(|v| v.as_slice()));
            l.set_compress_depth(limits.list_compress_depth);
            Value::List(Box::new(l))
        }
        RdbValue::Set(members) => {
            let mut set = Set::new();
            for m in &members {
                set.add(m, limits.set_max_intset_entries);
            }
            Value::Set(set)
        }
        RdbValue::ZSet(items) => {
            let mut z = ZSet::new();
            for (m, score) in &items {
                if score.is_nan() {
                    return Err("sorted set score is NaN".into());
                }
                z.insert(m, *score, limits);
            }
            Value::ZSet(z)
        }
        RdbValue::Stream(s) => Value::Stream(Box::new(super::stream_rdb::stream_from_rdb(*s)?)),
    })
}
