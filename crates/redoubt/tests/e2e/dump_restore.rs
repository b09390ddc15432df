//! DUMP / RESTORE interchange with real Redis 7.0: payloads dumped by one
//! server restore into the other with the same contents, encoding and
//! TTL, and broken payloads get the same error bytes from both.

use crate::harness::{Flavor, ServerHandle};

fn q(c: &mut redis::Connection, args: &[&[u8]]) -> redis::Value {
    let mut cmd = redis::cmd(std::str::from_utf8(args[0]).unwrap());
    for a in &args[1..] {
        cmd.arg(*a);
    }
    cmd.query(c)
        .unwrap_or_else(|e| panic!("{:?}: {e}", String::from_utf8_lossy(args[0])))
}

fn qs(c: &mut redis::Connection, args: &[&str]) -> redis::Value {
    let v: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
    q(c, &v)
}

fn pipe_push(c: &mut redis::Connection, cmd: &str, key: &str, items: &[String]) {
    for chunk in items.chunks(500) {
        let mut args = vec![cmd, key];
        args.extend(chunk.iter().map(|s| s.as_str()));
        qs(c, &args);
    }
}

/// Keys of every supported type in their small and large encodings.
fn fill(c: &mut redis::Connection) -> Vec<&'static str> {
    qs(c, &["SET", "int", "12345"]);
    qs(c, &["SET", "neg", "-9000000000"]);
    qs(c, &["SET", "short", "hello"]);
    qs(c, &["SET", "long", &"abc".repeat(5000)]);
    let noisy: String = (0..3000u64)
        .map(|i| char::from(b'!' + ((i * 7919 + i * i * 31) % 90) as u8))
        .collect();
    qs(c, &["SET", "noisy", &noisy]);
    qs(c, &["HSET", "hsmall", "f1", "v1", "f2", "2"]);
    let fields: Vec<String> = (0..600)
        .flat_map(|i| [format!("field:{i}"), format!("value:{i}")])
        .collect();
    pipe_push(c, "HSET", "hbig", &fields);
    qs(c, &["HSET", "hwide", "f", &"w".repeat(200)]);
    qs(c, &["RPUSH", "lsmall", "a", "1", "b", "-2"]);
    let items: Vec<String> = (0..5000).map(|i| format!("item-{i}")).collect();
    pipe_push(c, "RPUSH", "lbig", &items);
    qs(c, &["RPUSH", "lwide", &"z".repeat(20_000), "tail"]);
    vec![
        "int", "neg", "short", "long", "noisy", "hsmall", "hbig", "hwide", "lsmall", "lbig",
        "lwide",
    ]
}

/// What a key holds, in a form comparable across servers.
fn contents(c: &mut redis::Connection, key: &str) -> String {
    let t = qs(c, &["TYPE", key]);
    let enc = qs(c, &["OBJECT", "ENCODING", key]);
    let body = match &t {
        redis::Value::SimpleString(s) if s == "string" => format!("{:?}", qs(c, &["GET", key])),
        redis::Value::SimpleString(s) if s == "hash" => {
            let v: Vec<Vec<u8>> = redis::cmd("HGETALL").arg(key).query(c).unwrap();
            let mut pairs: Vec<(Vec<u8>, Vec<u8>)> =
                v.chunks(2).map(|p| (p[0].clone(), p[1].clone())).collect();
            pairs.sort();
            format!("{pairs:?}")
        }
        _ => format!("{:?}", qs(c, &["LRANGE", key, "0", "-1"])),
    };
    format!("{t:?} {enc:?} {body}")
}

fn dump(c: &mut redis::Connection, key: &str) -> Vec<u8> {
    redis::cmd("DUMP").arg(key).query(c).unwrap()
}

/// Dumps every key from `from`, restores it into `to` (half with a
/// relative TTL, half with ABSTTL), and compares contents and TTLs.
fn interchange(from: Flavor, to: Flavor) {
    let src = ServerHandle::start(from, &[]);
    let dst = ServerHandle::start(to, &[]);
    let mut a = src.client();
    let mut b = dst.client();
    let keys = fill(&mut a);
    let abs = 4_102_444_800_000i64.to_string();
    for (i, key) in keys.iter().enumerate() {
        let payload = dump(&mut a, key);
        let reply = if i % 2 == 0 {
            q(&mut b, &[b"RESTORE", key.as_bytes(), b"100000", &payload])
        } else {
            q(
                &mut b,
                &[
                    b"RESTORE",
                    key.as_bytes(),
                    abs.as_bytes(),
                    &payload,
                    b"ABSTTL",
                ],
            )
        };
        assert_eq!(reply, redis::Value::Okay, "{key}");
        assert_eq!(contents(&mut a, key), contents(&mut b, key), "{key}");
        let pttl: i64 = redis::cmd("PTTL").arg(*key).query(&mut b).unwrap();
        if i % 2 == 0 {
            assert!((90_000..=100_000).contains(&pttl), "{key}: {pttl}");
        } else {
            let at: i64 = redis::cmd("PEXPIRETIME").arg(*key).query(&mut b).unwrap();
            assert_eq!(at.to_string(), abs, "{key}");
        }
        // Our payload restores back into the source under another name.
        let back = dump(&mut b, key);
        let copy = format!("{key}:back");
        assert_eq!(
            q(&mut a, &[b"RESTORE", copy.as_bytes(), b"0", &back]),
            redis::Value::Okay
        );
        assert_eq!(contents(&mut a, key), contents(&mut a, &copy), "{key}");
    }
}

#[test]
fn payloads_from_redis_restore_into_redoubt() {
    interchange(Flavor::Redis, Flavor::Redoubt);
}

#[test]
fn payloads_from_redoubt_restore_into_redis() {
    interchange(Flavor::Redoubt, Flavor::Redis);
}

/// Appends a footer (version 10 and the CRC) to a payload body.
fn with_footer(body: &[u8]) -> Vec<u8> {
    let mut p = body.to_vec();
    p.extend_from_slice(&10u16.to_le_bytes());
    let crc = rdb::crc64(&p);
    p.extend_from_slice(&crc.to_le_bytes());
    p
}

#[test]
fn broken_payloads_get_redis_errors_byte_for_byte() {
    let redis = ServerHandle::start(Flavor::Redis, &[]);
    let ours = ServerHandle::start(Flavor::Redoubt, &[]);
    let mut c = redis.client();
    qs(&mut c, &["RPUSH", "l", "a", "b", "c"]);
    let good = dump(&mut c, "l");
    let mut bad: Vec<Vec<u8>> = Vec::new();
    for i in 0..good.len() {
        let mut p = good.clone();
        p[i] ^= 0x20;
        bad.push(p);
        bad.push(good[..i].to_vec());
    }
    for t in [7u8, 8, 22, 99, 200, 255] {
        bad.push(with_footer(&[t, 0]));
    }
    bad.push(with_footer(&[0x12, 0]));
    bad.push(with_footer(&[0x04, 0]));
    bad.push(with_footer(&[0x00, 0x80]));
    let (mut r, mut o) = (redis.raw(), ours.raw());
    for (i, p) in bad.iter().enumerate() {
        let key = format!("k{i}");
        let args: [&[u8]; 4] = [b"RESTORE", key.as_bytes(), b"0", p];
        let (x, y) = (r.cmd(&args), o.cmd(&args));
        assert_eq!(
            String::from_utf8_lossy(&x),
            String::from_utf8_lossy(&y),
            "payload {p:?}"
        );
    }
}
