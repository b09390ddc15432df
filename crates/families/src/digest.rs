//! `DEBUG DIGEST` and `DEBUG DIGEST-VALUE`: a SHA-1 based fingerprint of
//! the dataset and of single values, computed exactly as Redis 7.0
//! computes it, so a master and its replica — Redoubt or real Redis, in
//! any pairing — can be compared by digest (Redis's own test suite does
//! this after every replication scenario).
//!
//! The scheme, as Redis defines it: two primitives on a 20-byte digest,
//! `xor` (xor in the SHA-1 of some bytes: order does not matter) and `mix`
//! (xor in the bytes' SHA-1, then replace the digest by its own SHA-1:
//! order matters). A value mixes its type code, then its elements: lists
//! and strings by `mix` in order; sets and hashes and sorted sets by `xor`
//! of per-element digests (their order is not part of their meaning);
//! scores as `%.17g`. A key with a TTL xors in the marker `!!expire!!`
//! (the deadline itself is not part of it). The dataset digest mixes each
//! non-empty database's number, then xors in every key's digest.

use crate::util::double;
use keyspace::stream::StreamId;
use keyspace::{Entry, Value, NO_EXPIRE};
use sha1::{Digest as _, Sha1};

/// A 20-byte digest.
pub type Digest = [u8; 20];

/// Redis's object type codes (`OBJ_STRING` ...), mixed into each value.
fn type_code(v: &Value) -> u32 {
    match v {
        Value::Str(_) => 0,
        Value::List(_) => 1,
        Value::Set(_) => 2,
        Value::ZSet(_) => 3,
        Value::Hash(_) => 4,
        Value::Stream(_) => 6,
    }
}

fn sha1(bytes: &[u8]) -> Digest {
    Sha1::digest(bytes).into()
}

/// Xors the SHA-1 of `bytes` into `digest`.
fn xor(digest: &mut Digest, bytes: &[u8]) {
    for (d, h) in digest.iter_mut().zip(sha1(bytes)) {
        *d ^= h;
    }
}

/// Xors the SHA-1 of `bytes` into `digest`, then replaces `digest` by its
/// own SHA-1, so the order of mixes counts.
fn mix(digest: &mut Digest, bytes: &[u8]) {
    xor(digest, bytes);
    *digest = sha1(digest);
}

/// Xors a finished 20-byte digest in as data (Redis's `xorDigest` of an
/// element digest).
fn xor_digest(digest: &mut Digest, other: &Digest) {
    xor(digest, other);
}

/// Mixes the digest of one value (with its TTL marker) into `digest`, as
/// `DEBUG DIGEST-VALUE` reports it.
pub fn value_digest(digest: &mut Digest, entry: &Entry) {
    mix(digest, &type_code(&entry.value).to_be_bytes());
    let mut scratch = [0u8; 24];
    match &entry.value {
        Value::Str(s) => mix(digest, s.as_bytes(&mut scratch)),
        Value::List(l) => {
            for item in l.iter() {
                mix(digest, item);
            }
        }
        Value::Set(s) => {
            for m in s.iter() {
                xor(digest, m.as_bytes(&mut scratch));
            }
        }
        Value::ZSet(z) => {
            let mut buf = [0u8; 32];
            for (score, member) in z.iter(false) {
                let mut ele = [0u8; 20];
                mix(&mut ele, member);
                mix(&mut ele, double::fmt(score, &mut buf));
                xor_digest(digest, &ele);
            }
        }
        Value::Hash(h) => {
            for (field, value) in h.iter() {
                let mut ele = [0u8; 20];
                mix(&mut ele, field);
                mix(&mut ele, value);
                xor_digest(digest, &ele);
            }
        }
        Value::Stream(s) => {
            // Entries in order: `<ms>.<seq>`, then each field and value.
            // Groups are not part of it, as in Redis.
            let (mut fb, mut vb) = (itoa::Buffer::new(), itoa::Buffer::new());
            for e in s.log().range(StreamId::MIN, StreamId::MAX, false) {
                mix(digest, format!("{}.{}", e.id.ms, e.id.seq).as_bytes());
                for (f, v) in e.pairs() {
                    mix(digest, f.bytes(&mut fb));
                    mix(digest, v.bytes(&mut vb));
                }
            }
        }
    }
    if entry.expire != NO_EXPIRE {
        xor(digest, b"!!expire!!");
    }
}

/// The digest of every database, as `DEBUG DIGEST` reports it (all
/// zeroes for an empty dataset). Keys are taken as stored, expired or
/// not, as Redis's walk of its dictionaries does.
pub fn dataset_digest(dbs: &[keyspace::Db]) -> Digest {
    let mut fin = [0u8; 20];
    for (i, db) in dbs.iter().enumerate() {
        if db.is_empty() {
            continue;
        }
        mix(&mut fin, &(i as u32).to_be_bytes());
        for (key, entry) in db.iter() {
            let mut d = [0u8; 20];
            mix(&mut d, key);
            value_digest(&mut d, entry);
            xor_digest(&mut fin, &d);
        }
    }
    fin
}

/// Lower-case hex, as DEBUG prints a digest.
pub fn hex(d: &Digest) -> [u8; 40] {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = [0u8; 40];
    for (i, b) in d.iter().enumerate() {
        out[2 * i] = HEX[(b >> 4) as usize];
        out[2 * i + 1] = HEX[(b & 15) as usize];
    }
    out
}
